/*
 * The child processes of the Modbus benchmarks (modbus_latency,
 * modbus_load), which run the real wicketctl, wicket-sim, wicketd,
 * mosquitto and socat: finding the built programs, a temporary directory
 * for their configs and logs, free loopback ports, starting a program
 * with its output in a log, waiting for a line in that log while watching
 * that nothing died, stopping it, and reading its CPU time and memory
 * from /proc.  Messages go to stderr as "<prog>: ...", prog being the name
 * given to proc_setup.
 */
#ifndef WICKET_BENCH_PROC_H
#define WICKET_BENCH_PROC_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* The size of every path buffer handed to proc_join and proc_paths. */
#define PROC_PATHLEN 1024

/* Absolute paths of what the benchmarks run and read: wicketd, wicketctl,
 * wicket-sim and plugins/ in $WICKET_BUILD (default build), the profiles
 * and rules in etc/wicket (so run from the repository's top). */
struct proc_paths {
	char wicketd[PROC_PATHLEN], ctl[PROC_PATHLEN], sim[PROC_PATHLEN];
	char plugins[PROC_PATHLEN], profiles[PROC_PATHLEN],
	     rules[PROC_PATHLEN];
};

/* A started program; pid is -1 when it is not running.  Initialise with
 * { .pid = -1 } so that proc_stop on one never started does nothing. */
struct proc_child {
	const char *name;
	pid_t pid;
	int term_ok;	/* dying of (or exiting 128 +) SIGTERM is clean */
	char log[PROC_PATHLEN];
};

/* What a benchmark's main does first: names the program in messages,
 * makes stdout line-buffered, lets SIGINT and SIGTERM only set the flag
 * proc_interrupted reads (SIGPIPE ignored), finds the programs (see
 * struct proc_paths) and makes tmp (len bytes) a new directory for the configs
 * and logs (bench_mkdtemp).  -1, said, when it cannot. */
int proc_setup(const char *prog, struct proc_paths *p, char *tmp,
	       size_t len, const char *tmp_name);
/* And last: removes tmp unless $BENCH_KEEP is set (then prints where it
 * is), says when a signal cut the run short; the exit status. */
int proc_finish(const char *tmp, int fails);
int proc_interrupted(void);
/* Sleeps ms, cut short only by SIGINT or SIGTERM. */
void proc_sleep_ms(long ms);

/* out (PROC_PATHLEN bytes) = dir/name; -1 (said) when too long. */
int proc_join(char *out, const char *dir, const char *name);
/* dir/name, new or emptied, open for writing; NULL (errno set, nothing
 * said: the caller names the run that cannot be set up) when it cannot. */
FILE *proc_create(const char *dir, const char *name);
/* The same, written with fmt and closed; 0 or -1 (nothing said). */
int proc_write(const char *dir, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* n (at most 8) distinct free TCP ports on 127.0.0.1. */
int proc_free_ports(int *ports, int n);
/* 1 when something accepts connections on 127.0.0.1:port. */
int proc_port_open(int port);

/* Starts argv (PATH searched) with stdout and stderr to log, stdin from
 * /dev/null, default signal handling; 0 or a negative errno. */
int proc_start(struct proc_child *c, const char *name, const char *log,
	       char *const argv[]);
/* 0 while c runs; -1, with why and the end of its log, once it has
 * exited. */
int proc_check(struct proc_child *c);
/* proc_check on each; -1 at the first that has exited. */
int proc_check_all(struct proc_child *const *kids, int n);
/* SIGTERM, up to 10 s, then SIGKILL; -1 (said) unless it exited 0 (or
 * died of SIGTERM with term_ok).  Nothing to do when it is not running. */
int proc_stop(struct proc_child *c);
/* Waits until a line of path contains text, while every kid runs; who
 * names the writer in the message on a timeout. */
int proc_wait_line(struct proc_child *const *kids, int nkids,
		   const char *path, const char *text, const char *who,
		   int timeout_ms);
/* One lane's programs, from dir's registry.json, sim.conf and
 * wicketd.conf (logs wicketctl.log, sim.log and wicketd.log beside them):
 * wicketctl imports the registry into state, then wicket-sim -v starts
 * and says " ready ", then wicketd starts and says " started: ", all the
 * while every kid (sim and d among them) must run.  -1, said, when one
 * fails; what was started is left for proc_stop. */
int proc_start_wicket(const struct proc_paths *p, const char *dir,
		      const char *state, struct proc_child *sim,
		      struct proc_child *d, struct proc_child *const *kids,
		      int nkids);
/* Sleeps ms while every kid runs; -1 when one exits or on a signal. */
int proc_watch(struct proc_child *const *kids, int n, long ms);

/* The number after key (e.g. " seq=") in line. */
int proc_field_ll(const char *line, const char *key, long long *v);
/* How many lines of path contain text (0 when it cannot be read). */
int proc_count_lines(const char *path, const char *text);

/* utime + stime of pid in clock ticks, or -1. */
long long proc_cpu_ticks(pid_t pid);
/* A "Key:" line of /proc/PID/status as a number (kB for Vm*), or -1. */
long proc_status(pid_t pid, const char *key);

#endif
