/*
 * Helpers shared by the benchmark programs for issue 4: clocks, a ledger
 * in a fresh directory on real storage, realistic passage events,
 * percentiles, and the "target ... MET / NOT MET" lines that bench/run
 * collects into its summary.
 */
#ifndef WICKET_BENCH_COMMON_H
#define WICKET_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "loop.h"

/* The shipped [ledger] defaults (conf_load, daemon/config.c). */
extern const struct ledger_limits bench_limits;

/* Loop callback for a ledger's eventfd; arg is the struct ledger. */
void bench_on_ledger(struct ev_loop *loop, int fd, uint32_t events, void *arg);
int64_t bench_mono_ns(void);
int64_t bench_wall_ns(void);

/* A new empty directory under $BENCH_DIR, else $TMPDIR, else /var/tmp;
 * says so on stderr when it is on tmpfs (fsync costs nothing there). */
int bench_mkdtemp(char *dir, size_t len, const char *name);
/* rm -r dir; quiet about what is already gone. */
void bench_rmtree(const char *dir);

/* Passage number i, shaped like those core.c writes. */
void bench_passage(struct ledger_event *ev, long i);

/* Sorts v in place; the q-th quantile (0..1) by nearest rank. */
double bench_quantile(double *v, size_t n, double q);

/* "target <name>: <what> <value> <unit> (<op> <limit>): MET" */
int bench_target(const char *name, const char *what, double value,
		 const char *unit, int at_least, double limit);

/* Parse a positive integer option value, or exit with a usage message. */
long bench_arg_long(const char *prog, const char *opt, const char *s,
		    long min, long max);

double bench_median(const double *v, size_t n);

#endif
