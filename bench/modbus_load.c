/*
 * modbus_load: what polling costs wicketd.  Three devices (a thermal
 * sensor, a card reader, a gate relay; wicket-sim plays them with the
 * profiles generic-ir-thermal, modbus-card-reader and modbus-gate-relay),
 * each polled every 100 ms by one lane's wicketd, nobody passing, MQTT
 * off: the figures are the cost of the buses alone.  Two transports, one
 * row each:
 *   tcp  one Modbus TCP port per device on 127.0.0.1 (three buses);
 *   rtu  one Modbus RTU line (a socat pty pair) with units 1, 2, 3 (one
 *        bus, one owner thread, polls taking turns).
 *
 * Measured, starting 3 s after wicketd's "started" line so that start-up
 * is left out: its CPU time (utime + stime from /proc/PID/stat) over the
 * window as a percentage of one core; its VmRSS and VmHWM from
 * /proc/PID/status at the end; and from wicket-sim -v's request lines
 * (function 3, mono_us when the request had arrived) the polls each
 * device received in the window, their mean period and the largest gap.
 * No pass/fail here: the figures are for a person to read.  /proc's CPU
 * times count in clock ticks (usually 10 ms), so a window of a minute
 * resolves about 0.02 % of a core.
 *
 *   modbus_load [-s seconds]      (default 60)
 *   WICKET_BUILD (default ./build): wicketd, wicketctl, wicket-sim, plugins
 *   BENCH_DIR / TMPDIR (default /var/tmp): where state and logs go
 *   BENCH_KEEP=1: keep the configs and logs (the path is printed)
 * Run from the top of the repository (profiles and rules are read from
 * etc/wicket); socat must be on PATH for the RTU row.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "proc.h"

#define POLL_MS 100
#define SETTLE_S 3
#define NDEV 3
#define PATHLEN PROC_PATHLEN

static const char *prog = "modbus_load";

static const char *const dev_name[NDEV] = { "thermal1", "reader1", "gate1" };

struct result {
	const char *label;
	int ok;
	double cpu_pct, window_s;
	long rss_kb, hwm_kb, threads;
	long polls[NDEV];
	double mean_ms[NDEV], max_gap_ms[NDEV];
	long other_requests;	/* not function 3: there should be none */
	int log_warnings;
};

static int write_confs(const struct proc_paths *P, const char *tmp, int rtu,
		       const int *ports, const char *line_sim,
		       const char *line_d, const char *state)
{
	static const char *const kind[NDEV] = { "thermal", "reader", "gate" };
	static const char *const plugin[NDEV] = { "modbus-thermal",
		"modbus-reader", "modbus-gate" };
	static const char *const profile[NDEV] = { "generic-ir-thermal",
		"modbus-card-reader", "modbus-gate-relay" };
	FILE *f;

	if ((f = proc_create(tmp, "registry.json")) == NULL)
		return -1;
	fputs("{\"households\": [{\"id\": \"h1\", \"unit\": \"Building 1, "
	      "101\"}], \"persons\": [{\"id\": \"p1\", \"household\": \"h1\", "
	      "\"role\": \"resident\"}], \"credentials\": [{\"value\": "
	      "\"10000001\", \"kind\": \"card\", \"person\": \"p1\"}]}\n", f);
	if (fclose(f) != 0)
		return -1;

	if ((f = proc_create(tmp, "sim.conf")) == NULL)
		return -1;
	/* no scenario: the devices just serve */
	fprintf(f, "[sim]\nprofile_dir = %s\nstart = now\n", P->profiles);
	for (int i = 0; i < NDEV; i++) {
		fprintf(f, "\n[device %s]\nkind = %s\nprofile = %s\n",
			dev_name[i], kind[i], profile[i]);
		if (rtu)
			fprintf(f, "serial = %s\nunit = %d\n", line_sim, i + 1);
		else
			fprintf(f, "listen = 127.0.0.1:%d\nunit = 1\n",
				ports[i]);
	}
	if (fclose(f) != 0)
		return -1;

	if ((f = proc_create(tmp, "wicketd.conf")) == NULL)
		return -1;
	fprintf(f, "[wicketd]\nsite = bench\ngate = load\nstate_dir = %s\n"
		"plugin_dir = %s\nprofile_dir = %s\nrules = %s\n"
		"log_level = info\ncontrol_socket = none\n\n[mqtt]\nenabled = no\n", state, P->plugins,
		P->profiles, P->rules);
	for (int i = 0; i < NDEV; i++) {
		fprintf(f, "\n[device %s]\nplugin = %s\nprofile = %s\n",
			dev_name[i], plugin[i], profile[i]);
		if (rtu)
			fprintf(f, "serial = %s\nunit = %d\n", line_d, i + 1);
		else
			fprintf(f, "host = 127.0.0.1\nport = %d\n", ports[i]);
		fprintf(f, "poll_ms = %d\ntimeout_ms = 300\n", POLL_MS);
	}
	fputs("\n[lane main]\ndirection = in\nthermal = thermal1\n"
	      "reader = reader1\ngate = gate1\n", f);
	return fclose(f) != 0 ? -1 : 0;
}

/* The polls (function 3) each device received between w0 and w1 (us). */
static int read_polls(const char *path, int64_t w0, int64_t w1,
		      struct result *r)
{
	int64_t first[NDEV] = { 0 }, last[NDEV] = { 0 }, gap[NDEV] = { 0 };
	FILE *f = fopen(path, "r");
	char *line = NULL, key[64];
	size_t cap = 0;
	long long fn, us;

	if (f == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		if (proc_field_ll(line, " function=", &fn) < 0 ||
		    proc_field_ll(line, " mono_us=", &us) < 0 || us < w0 ||
		    us > w1)
			continue;
		for (int i = 0; i < NDEV; i++) {
			snprintf(key, sizeof(key), " device=%s unit=",
				 dev_name[i]);
			if (strstr(line, key) == NULL)
				continue;
			if (fn != 3) {
				r->other_requests++;
				break;
			}
			if (r->polls[i]++ == 0)
				first[i] = us;
			else if (us - last[i] > gap[i])
				gap[i] = us - last[i];
			last[i] = us;
			break;
		}
	}
	free(line);
	fclose(f);
	for (int i = 0; i < NDEV; i++) {
		r->mean_ms[i] = r->polls[i] > 1 ?
			(double)(last[i] - first[i]) / 1e3 /
			(double)(r->polls[i] - 1) : 0;
		r->max_gap_ms[i] = (double)gap[i] / 1e3;
	}
	return 0;
}

static int run_one(const struct proc_paths *P, const char *tmp, int rtu,
		   long seconds, struct result *r)
{
	char state[PATHLEN], sim_log[PATHLEN], d_log[PATHLEN],
	     socat_log[PATHLEN], line_sim[PATHLEN] = "", line_d[PATHLEN] = "";
	struct proc_child socat = { .pid = -1 }, sim = { .pid = -1 },
		     d = { .pid = -1 };
	struct proc_child *kids[3] = { &sim, &d, &socat };
	int nk = rtu ? 3 : 2, ports[NDEV] = { 0 }, rc = -1;
	long long c0, c1;
	int64_t t0, t1;

	r->label = rtu ? "rtu (1 line, units 1-3)" : "tcp (3 ports)";
	printf("\n-- %s\n", r->label);
	if (proc_join(state, tmp, "state") < 0 || mkdir(state, 0700) < 0 ||
	    proc_join(sim_log, tmp, "sim.log") < 0 ||
	    proc_join(d_log, tmp, "wicketd.log") < 0 ||
	    proc_join(socat_log, tmp, "socat.log") < 0 ||
	    proc_join(line_sim, tmp, "line-sim") < 0 ||
	    proc_join(line_d, tmp, "line-wicketd") < 0 ||
	    (!rtu && proc_free_ports(ports, NDEV) < 0) ||
	    write_confs(P, tmp, rtu, ports, line_sim, line_d, state) < 0) {
		fprintf(stderr, "%s: cannot set up the run in %s\n", prog, tmp);
		goto out;
	}
	if (rtu) {
		char a[PATHLEN + 32], b[PATHLEN + 32];
		char *argv[] = { "socat", "-d", "-d", a, b, NULL };
		int i;

		snprintf(a, sizeof(a), "pty,raw,echo=0,link=%s", line_sim);
		snprintf(b, sizeof(b), "pty,raw,echo=0,link=%s", line_d);
		if (proc_start(&socat, "socat", socat_log, argv) < 0)
			goto out;
		socat.term_ok = 1;	/* socat exits 143 on SIGTERM */
		/* the links appear a moment after socat starts */
		for (i = 0; i < 250; i++) {
			if (access(line_sim, F_OK) == 0 &&
			    access(line_d, F_OK) == 0)
				break;
			if (proc_check(&socat) < 0 || proc_interrupted())
				goto out;
			proc_sleep_ms(20);
		}
		if (i == 250) {
			fprintf(stderr, "%s: socat's pty links did not appear "
				"in 5 s\n", prog);
			goto out;
		}
	}
	if (proc_start_wicket(P, tmp, state, &sim, &d, kids, nk) < 0 ||
	    proc_watch(kids, nk, SETTLE_S * 1000L) < 0)
		goto out;
	t0 = bench_mono_ns();
	c0 = proc_cpu_ticks(d.pid);
	if (proc_watch(kids, nk, seconds * 1000) < 0)
		goto out;
	t1 = bench_mono_ns();
	c1 = proc_cpu_ticks(d.pid);
	r->rss_kb = proc_status(d.pid, "VmRSS");
	r->hwm_kb = proc_status(d.pid, "VmHWM");
	r->threads = proc_status(d.pid, "Threads");
	if (c0 < 0 || c1 < 0 || r->rss_kb < 0) {
		fprintf(stderr, "%s: cannot read /proc/%ld\n", prog,
			(long)d.pid);
		goto out;
	}
	r->window_s = (double)(t1 - t0) / 1e9;
	r->cpu_pct = (double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK) /
		     r->window_s * 100;
	r->log_warnings = proc_count_lines(d_log, " wicketd err: ") +
			  proc_count_lines(d_log, " wicketd warning: ");
	if (proc_stop(&d) < 0 || proc_stop(&sim) < 0 ||
	    proc_stop(&socat) < 0)
		goto out;
	if (read_polls(sim_log, t0 / 1000, t1 / 1000, r) < 0)
		goto out;
	printf("  wicketd CPU %.2f %% of one core over %.1f s (%lld ticks), "
	       "VmRSS %.2f MB, VmHWM %.2f MB, %ld threads\n", r->cpu_pct,
	       r->window_s, c1 - c0, (double)r->rss_kb / 1e3,
	       (double)r->hwm_kb / 1e3, r->threads);
	for (int i = 0; i < NDEV; i++)
		printf("  %-8s %5ld polls, mean period %.2f ms, max gap %.2f "
		       "ms\n", dev_name[i], r->polls[i], r->mean_ms[i],
		       r->max_gap_ms[i]);
	if (r->other_requests)
		printf("  requests other than function 3 in the window: %ld\n",
		       r->other_requests);
	if (r->log_warnings)
		printf("  wicketd logged %d warnings or errors (%s)\n",
		       r->log_warnings, d_log);
	r->ok = 1;
	rc = 0;
out:
	proc_stop(&d);
	proc_stop(&sim);
	proc_stop(&socat);
	return rc;
}

static void table(const struct result *r, int nr)
{
	printf("\n%-26s %7s %8s %8s", "", "", "", "");
	for (int i = 0; i < NDEV; i++)
		printf("   %-21s", dev_name[i]);
	printf("\n%-26s %7s %8s %8s", "transport", "CPU %", "VmRSS MB",
	       "VmHWM MB");
	for (int i = 0; i < NDEV; i++)
		printf("   %5s   %-13s", "polls", "mean/max ms");
	printf("\n");
	for (int k = 0; k < nr; k++) {
		if (!r[k].ok)
			continue;
		printf("%-26s %7.2f %8.2f %8.2f", r[k].label, r[k].cpu_pct,
		       (double)r[k].rss_kb / 1e3, (double)r[k].hwm_kb / 1e3);
		for (int i = 0; i < NDEV; i++)
			printf("   %5ld %7.1f/%-7.1f", r[k].polls[i],
			       r[k].mean_ms[i], r[k].max_gap_ms[i]);
		printf("\n");
	}
	printf("CPU: wicketd's utime + stime over the window / the window, "
	       "100 = one core; polls: requests wicket-sim received in the "
	       "window, with the mean period and the largest gap between "
	       "two\n");
}

static void usage(void)
{
	fprintf(stderr, "usage: %s [-s seconds]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct result res[2] = { 0 };
	char tmp[PATHLEN];
	long seconds = 60;
	struct proc_paths P;
	int opt, fails = 0;

	while ((opt = getopt(argc, argv, "s:")) != -1) {
		if (opt != 's')
			usage();
		seconds = bench_arg_long(prog, "-s", optarg, 1, 86400);
	}
	if (optind != argc)
		usage();
	if (proc_setup(prog, &P, tmp, sizeof(tmp), "modbus-load") < 0)
		return 1;
	printf("modbus_load: wicketd polling 3 devices (thermal1, reader1, "
	       "gate1) with poll_ms = %d, timeout_ms = 300, nobody passing, "
	       "MQTT off, log_level = info; measured for %ld s from %d s "
	       "after \"started\"; %ld CPUs\n", POLL_MS, seconds, SETTLE_S,
	       sysconf(_SC_NPROCESSORS_ONLN));
	for (int k = 0; k < 2 && !proc_interrupted(); k++) {
		char dir[PATHLEN];

		if (proc_join(dir, tmp, k ? "rtu" : "tcp") < 0 ||
		    mkdir(dir, 0700) < 0 ||
		    run_one(&P, dir, k, seconds, &res[k]) < 0) {
			fprintf(stderr, "%s: the %s run failed\n", prog,
				k ? "rtu" : "tcp");
			fails++;
		}
	}
	table(res, 2);
	return proc_finish(tmp, fails);
}
