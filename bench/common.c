/*
 * Helpers for the benchmark programs; see common.h.  The ledger directory
 * defaults to /var/tmp rather than /tmp because /tmp is often a tmpfs, and
 * a ledger benchmark on tmpfs measures no fsync at all.
 */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "common.h"

const struct ledger_limits bench_limits = {
	.retention_days = 90,
	.outbox_max_events = 1000000,
	.outbox_max_age_days = 30,
	.memory_queue = 10000,
};

int64_t bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bench_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int bench_mkdtemp(char *dir, size_t len, const char *name)
{
	const char *base = getenv("BENCH_DIR");
	struct statfs sf;

	if (base == NULL || *base == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/var/tmp";
	if ((size_t)snprintf(dir, len, "%s/wicket-bench-%s-XXXXXX", base,
			     name) >= len)
		return -ENAMETOOLONG;
	if (mkdtemp(dir) == NULL) {
		int rc = -errno;

		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return rc;
	}
	if (statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		fprintf(stderr, "warning: %s is on tmpfs: fsync is free there, "
			"the figures do not show storage cost (set BENCH_DIR)\n",
			dir);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 &&
	    errno != ENOENT)
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
	return 0;
}

void bench_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void bench_passage(struct ledger_event *ev, long i)
{
	static const char hex[] = "0123456789abcdef";
	unsigned long h = (unsigned long)i * 2654435761UL;

	memset(ev, 0, sizeof(*ev));
	ev->kind = LK_PASSAGE;
	ev->time_ms = bench_wall_ns() / 1000000;
	snprintf(ev->lane, sizeof(ev->lane), "lane-%ld", i % 4 + 1);
	snprintf(ev->direction, sizeof(ev->direction), "%s",
		 i % 2 ? "out" : "in");
	ev->has_credential = 1;
	snprintf(ev->credential, sizeof(ev->credential), "CARD%08lu",
		 (unsigned long)(i % 5000));
	/* a 32-hex-digit pseudonym, like privacy_ref() makes */
	for (int k = 0; k < 32; k++) {
		ev->person[k] = hex[h & 15];
		h = h * 6364136223846793005UL + 1442695040888963407UL;
		h ^= h >> 29;
	}
	ev->person[32] = '\0';
	ev->has_temperature = 1;
	ev->temperature_c = 36.1 + (double)(i % 9) / 10;
	snprintf(ev->decision, sizeof(ev->decision), "%s",
		 i % 50 ? "allow" : "deny");
	snprintf(ev->reason, sizeof(ev->reason), "%s",
		 i % 50 ? "known" : "unknown_credential");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_quantile(double *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	k = (size_t)ceil(q * (double)n);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

double bench_median(const double *v, size_t n)
{
	double tmp[64];

	if (n == 0 || n > 64)
		return 0;
	memcpy(tmp, v, n * sizeof(*v));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

int bench_target(const char *name, const char *what, double value,
		 const char *unit, int at_least, double limit)
{
	int met = at_least ? value >= limit : value < limit;

	printf("target %s: %s %.1f %s (%s %g): %s\n", name, what, value, unit,
	       at_least ? "at least" : "under", limit, met ? "MET" : "NOT MET");
	return met;
}

long bench_arg_long(const char *prog, const char *opt, const char *s,
		    long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "%s: %s: '%s' is not a number from %ld to %ld\n",
			prog, opt, s, min, max);
		exit(2);
	}
	return v;
}

void bench_on_ledger(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	ledger_dispatch(arg);
}
