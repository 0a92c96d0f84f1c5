/*
 * registry: how the in-memory registry scales.  Issue 3 asks, with
 * 1,000,000 persons and 1,000,000 credentials, for a load under 2 s, a
 * decision (lookup + rules) p99 under 50 us, and a wicketd RSS under 64 MB
 * (with 10,000 persons, under 8 MB), so the registry itself must stay
 * well under about 45 MB at a million.
 *
 * For each size: a child process builds registry.db the way an operator
 * would (CSV text through reg_batch_parse and one reg_import), so that the
 * parent's RSS is not polluted by the import; then the parent measures
 * reg_load, reg_memory and its own VmRSS before and after, and times
 * reg_lookup over random credentials (90 % known, 10 % unknown), alone
 * and followed by rules_eval on facts built from the match when
 * etc/wicket/rules.json loads.
 *
 * The data: a household per 3 persons; 5 % tenants (in rented-room
 * households with a landlord household, with a validity window), 5 %
 * visitors (a host household and an expiry, half of them past), 2 % under
 * quarantine, 1 % under observation, a few staff and couriers, 0.5 %
 * blocked; one 10-digit card per person, 1 % revoked.
 *
 * With -w WICKETD (bench/run gives build/wicketd), the real daemon is then
 * started on the same state directory (one lane with a reader whose port
 * is closed, MQTT off) and its VmRSS and VmHWM are read from /proc once
 * it has started and settled: that is the RSS target.
 *
 *   registry [-n persons] [-l lookups] [-r rules.json]
 *            [-w wicketd -p plugin_dir -P profile_dir]
 *   (default: 10000 then 1000000 persons, 200000 lookups)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "registry.h"
#include "rules.h"

#define TARGET_LOAD_S 2.0
#define TARGET_DECISION_P99_US 50.0
#define TARGET_MEMORY_MB 45.0
#define TARGET_WICKETD_RSS_1M_MB 64.0
#define TARGET_WICKETD_RSS_10K_MB 8.0

/* -w: measure the real daemon too */
static const char *wicketd, *plugin_dir = "build/plugins",
		  *profile_dir = "etc/wicket/profiles";
#define CARD_SPACE 9000000000ULL	/* 10-digit numbers */
#define CARD_STEP 1000003ULL		/* prime, coprime with CARD_SPACE */

static const char *prog = "registry";

/* Card number i: distinct for every i < CARD_SPACE.  Persons have
 * i < n; i >= n gives numbers nobody holds. */
static void card(char *buf, size_t len, uint64_t i)
{
	snprintf(buf, len, "%010" PRIu64,
		 (uint64_t)(1000000000ULL + i * CARD_STEP % CARD_SPACE));
}

static void unit_id(char *buf, size_t len, long h)
{
	snprintf(buf, len, "b%03ld-%04ld", h / 400 + 1, h % 400 + 1);
}

/* xorshift: 90 % cards someone holds (k < n), 10 % nobody's */
static uint64_t next_card(unsigned long long *seed, uint64_t n)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 7;
	*seed ^= *seed << 17;
	return *seed % 10 ? *seed / 16 % n : n + *seed / 16 % n;
}

/* A "VmRSS" or "VmHWM" (peak) line of /proc/self/status, in kB. */
static long status_kb(const char *what)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(what);
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, what, n) == 0 && line[n] == ':' &&
		    sscanf(line + n + 1, "%ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void on_error(void *ctx, const char *file, int line, const char *field,
		     const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s:%d: %s: %s\n", file, line, field ? field : "",
		msg);
}

/* The three CSV files of a registry of n persons. */
static int generate(long n, char **text, size_t *len)
{
	long nh = (n + 2) / 3;
	FILE *f[3];

	for (int t = 0; t < 3; t++) {
		f[t] = open_memstream(&text[t], &len[t]);
		if (f[t] == NULL)
			return -errno;
	}
	fputs("id,unit,landlord\n", f[0]);
	for (long h = 0; h < nh; h++) {
		char id[32], ll[32] = "";

		unit_id(id, sizeof(id), h);
		/* every 20th household is a rented room of the one before */
		if (h % 20 == 1)
			unit_id(ll, sizeof(ll), h - 1);
		fprintf(f[0], "%s,\"Building %ld, %ld\",%s\n", id, h / 400 + 1,
			h % 400 + 1, ll);
	}
	fputs("id,household,role,valid_from,valid_until,host,quarantine_until,"
	      "observation_until,blocked,name\n", f[1]);
	fputs("value,kind,person,valid_from,valid_until,revoked\n", f[2]);
	for (long i = 0; i < n; i++) {
		long k = i % 100;
		char hh[32], host[32] = "", c[16];
		const char *role = "resident", *from = "", *until = "";
		const char *quar = "", *obs = "";

		unit_id(hh, sizeof(hh), i / 3);
		if (k < 5) {
			role = "tenant";
			unit_id(hh, sizeof(hh), (i / 3) / 20 * 20 + 1);
			from = "2025-01-01";
			until = "2027-12-31";
		} else if (k < 10) {
			role = "visitor";
			unit_id(host, sizeof(host), (i * 7) % nh);
			hh[0] = '\0';
			from = "2025-01-01";
			until = k < 8 ? "2025-06-30T18:00:00+08:00" :
				"2030-06-30T18:00:00+08:00";
		} else if (k == 10) {
			role = i % 200 < 100 ? "staff" : "courier";
			hh[0] = '\0';
		} else if (k < 13) {
			quar = "2030-12-31";
		} else if (k == 13) {
			obs = "2030-12-31";
		}
		fprintf(f[1], "p%07ld,%s,%s,%s,%s,%s,%s,%s,%s,\n", i, hh, role,
			from, until, host, quar, obs, i % 200 == 57 ? "yes" : "");
		card(c, sizeof(c), (uint64_t)i);
		fprintf(f[2], "%s,%s,p%07ld,,%s,%s\n", c,
			k >= 5 && k < 10 ? "qr" : "card", i,
			k >= 5 && k < 10 ? until : "",
			i % 100 == 42 ? "yes" : "");
	}
	for (int t = 0; t < 3; t++)
		if (fclose(f[t]) != 0)
			return -EIO;
	return 0;
}

/* The child: build dir/registry.db through the import path. */
static int create(const char *path, long n)
{
	static const char *const names[3] = { "households.csv", "persons.csv",
					       "credentials.csv" };
	struct reg_batch *b[3] = { NULL };
	char *text[3] = { NULL }, err[512];
	size_t len[3];
	struct reg_db *db;
	int64_t t0, t1, t2, t3;
	int rc;

	t0 = bench_mono_ns();
	if ((rc = generate(n, text, len)) != 0) {
		fprintf(stderr, "%s: generate: %s\n", prog, strerror(-rc));
		return 1;
	}
	t1 = bench_mono_ns();
	for (int t = 0; t < 3; t++) {
		rc = reg_batch_parse(text[t], len[t], names[t], REG_CSV, &b[t],
				     on_error, NULL);
		if (rc != 0) {
			fprintf(stderr, "%s: %s: %d errors\n", prog, names[t],
				rc);
			return 1;
		}
		free(text[t]);
	}
	t2 = bench_mono_ns();
	if (reg_db_open(path, &db, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	rc = reg_import(db, b, 3, 0, on_error, NULL);
	t3 = bench_mono_ns();
	reg_db_close(db);
	for (int t = 0; t < 3; t++)
		reg_batch_free(b[t]);
	if (rc != 0) {
		fprintf(stderr, "%s: import failed (%d)\n", prog, rc);
		return 1;
	}
	printf("csv generate: %.2f s (%.1f MB of CSV)\n", (double)(t1 - t0) / 1e9,
	       (double)(len[0] + len[1] + len[2]) / 1e6);
	printf("csv parse (reg_batch_parse): %.2f s\n", (double)(t2 - t1) / 1e9);
	printf("import (reg_import, one transaction): %.2f s\n",
	       (double)(t3 - t2) / 1e9);
	return 0;
}

struct lat {
	double *v;
	size_t n;
};

static void report_lat(const char *what, struct lat *l)
{
	double max = 0;

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] > max)
			max = l->v[i];
	printf("%s p50: %.2f us\n", what, bench_quantile(l->v, l->n, 0.50));
	printf("%s p99: %.2f us\n", what, bench_quantile(l->v, l->n, 0.99));
	printf("%s max: %.2f us\n", what, max);
}

static void facts_of(const struct reg_match *m, const struct tm *tm,
		     long i, struct rules_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->wday = tm->tm_wday;
	f->minute = tm->tm_hour * 60 + tm->tm_min;
	f->date = (tm->tm_year + 1900) * 10000 + (tm->tm_mon + 1) * 100 +
		  tm->tm_mday;
	f->mode = RULES_MODE_NORMAL;
	f->direction = i % 2 ? RULES_DIR_IN : RULES_DIR_OUT;
	reg_facts(m, f);
	f->temperature = RULES_TEMP_OK;
	f->temperature_c = 36.2 + (double)(i % 8) / 10;
	f->last_direction = RULES_DIR_NONE;
}

static void on_rules_error(void *ctx, const char *where, const char *path,
			   const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s: %s: %s\n", where, path, msg);
}

static long proc_kb(pid_t pid, const char *what)
{
	char path[64], line[256];
	long v = -1;
	size_t n = strlen(what);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, what, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static int file_has(const char *path, const char *text)
{
	char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

/* Start wicketd on dir (registry.db in it), wait for "started", let it
 * settle, read its memory, stop it. */
static int measure_wicketd(const char *dir, long n, const char *rules_path)
{
	char conf[400], log[400], cwd[2048], rules_abs[2600], plug_abs[2600],
	     prof_abs[2600];
	int64_t t0, t1 = 0;
	long rss, hwm;
	pid_t pid;
	FILE *f;
	int status;

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return 1;
	snprintf(rules_abs, sizeof(rules_abs), "%s%s%s", rules_path[0] == '/' ?
		 "" : cwd, rules_path[0] == '/' ? "" : "/", rules_path);
	snprintf(plug_abs, sizeof(plug_abs), "%s%s%s", plugin_dir[0] == '/' ?
		 "" : cwd, plugin_dir[0] == '/' ? "" : "/", plugin_dir);
	snprintf(prof_abs, sizeof(prof_abs), "%s%s%s", profile_dir[0] == '/' ?
		 "" : cwd, profile_dir[0] == '/' ? "" : "/", profile_dir);
	snprintf(conf, sizeof(conf), "%s/wicketd.conf", dir);
	snprintf(log, sizeof(log), "%s/wicketd.log", dir);
	f = fopen(conf, "w");
	if (f == NULL)
		return 1;
	fprintf(f, "[wicketd]\nsite = bench\ngate = g1\nstate_dir = %s\n"
		"plugin_dir = %s\nprofile_dir = %s\nrules = %s\n"
		"log_level = notice\ncontrol_socket = none\n\n[mqtt]\nenabled = no\n\n"
		"[device reader1]\nplugin = modbus-reader\n"
		"profile = modbus-card-reader\nhost = 127.0.0.1\nport = 9\n\n"
		"[lane main]\nreader = reader1\n", dir, plug_abs, prof_abs,
		rules_abs);
	fclose(f);
	fflush(stdout);
	t0 = bench_mono_ns();
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execl(wicketd, wicketd, "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 600; i++) {
		if (file_has(log, " started: ")) {
			t1 = bench_mono_ns();
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "%s: wicketd exited; its log is %s\n",
				prog, log);
			return 1;
		}
		usleep(50000);
	}
	if (t1 == 0) {
		fprintf(stderr, "%s: wicketd did not start in 30 s\n", prog);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return 1;
	}
	sleep(3);	/* device threads up, the first connection attempts */
	rss = proc_kb(pid, "VmRSS");
	hwm = proc_kb(pid, "VmHWM");
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	printf("wicketd start to \"started\" (registry load included): %.2f s\n",
	       (double)(t1 - t0) / 1e9);
	printf("wicketd VmRSS after start: %.2f MB (VmHWM %.2f MB)\n",
	       (double)rss / 1e3, (double)hwm / 1e3);
	if (n >= 1000000)
		bench_target("wicketd-rss-1M", "wicketd VmRSS", (double)rss / 1e3,
			     "MB", 0, TARGET_WICKETD_RSS_1M_MB);
	else if (n == 10000)
		bench_target("wicketd-rss-10k", "wicketd VmRSS",
			     (double)rss / 1e3, "MB", 0,
			     TARGET_WICKETD_RSS_10K_MB);
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int run(long n, long lookups, const char *rules_path)
{
	char dir[256], path[300], err[512];
	struct lat l = { 0 }, d = { 0 };
	struct registry *r = NULL;
	struct rules *rules = NULL;
	long rss0, rss1, rss2;
	int64_t t0, t1;
	struct stat st;
	int status, rc = 1;
	unsigned long long seed = 88172645463325252ULL;
	long counts[RULES_CREDS] = { 0 };
	time_t now = time(NULL);
	struct tm tm;
	pid_t pid;

	localtime_r(&now, &tm);
	printf("\n-- %ld persons, %ld credentials\n", n, n);
	if (bench_mkdtemp(dir, sizeof(dir), "registry") != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir, REG_FILE);
	fflush(stdout);
	t0 = bench_mono_ns();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		goto out;
	}
	if (pid == 0) {
		int x = create(path, n);

		fflush(stdout);
		_exit(x);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: building the registry failed\n", prog);
		goto out;
	}
	t1 = bench_mono_ns();
	printf("create registry.db (all of the above): %.2f s\n",
	       (double)(t1 - t0) / 1e9);
	if (stat(path, &st) == 0)
		printf("registry.db size: %.1f MB\n", (double)st.st_size / 1e6);

	/* what the measurement needs is resident before the load */
	l.v = malloc((size_t)lookups * sizeof(double));
	d.v = malloc((size_t)lookups * sizeof(double));
	if (l.v == NULL || d.v == NULL)
		goto out;
	memset(l.v, 0xff, (size_t)lookups * sizeof(double));
	memset(d.v, 0xff, (size_t)lookups * sizeof(double));
	if (rules_path && rules_load(rules_path, &rules, on_rules_error,
				     NULL) != 0) {
		printf("lookup + rules_eval: skipped (%s does not load)\n",
		       rules_path);
		rules = NULL;
	}
	rss0 = status_kb("VmRSS");
	t0 = bench_mono_ns();
	if (reg_load(path, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: reg_load: %s\n", prog, err);
		goto out;
	}
	t1 = bench_mono_ns();
	rss1 = status_kb("VmRSS");
	printf("load (reg_load): %.3f s\n", (double)(t1 - t0) / 1e9);
	printf("loaded: %zu households, %zu persons, %zu credentials, "
	       "version %" PRId64 "\n", reg_households(r), reg_persons(r),
	       reg_credentials(r), reg_version(r));
	printf("reg_memory: %.2f MB\n", (double)reg_memory(r) / 1e6);
	printf("process rss before load: %.2f MB\n", (double)rss0 / 1e3);
	printf("process rss after load: %.2f MB\n", (double)rss1 / 1e3);
	printf("process rss growth: %.2f MB\n", (double)(rss1 - rss0) / 1e3);
	printf("process peak rss (VmHWM) after load: %.2f MB\n",
	       (double)status_kb("VmHWM") / 1e3);
	if (reg_persons(r) != (size_t)n || reg_credentials(r) != (size_t)n) {
		fprintf(stderr, "%s: loaded the wrong counts\n", prog);
		goto out;
	}
	if (n >= 1000000) {
		bench_target("registry-load-1M", "reg_load",
				    (double)(t1 - t0) / 1e9, "s", 0,
				    TARGET_LOAD_S);
		bench_target("registry-memory-1M", "reg_memory",
				    (double)reg_memory(r) / 1e6, "MB", 0,
				    TARGET_MEMORY_MB);
	}

	/* two passes with different credentials, so that the decision pass
	 * does not find the lookup pass's cache lines warm */
	for (int pass = 0; pass < (rules ? 2 : 1); pass++) {
		for (long i = 0; i < lookups; i++) {
			struct rules_facts f;
			struct rules_verdict v;
			struct reg_match m;
			char c[16];
			uint64_t k;
			int64_t a, b;

			/* 90 % held by someone, 10 % by nobody */
			k = next_card(&seed, (uint64_t)n);
			card(c, sizeof(c), k);
			a = bench_mono_ns();
			reg_lookup(r, c, (int64_t)now, &m);
			if (pass == 1) {
				facts_of(&m, &tm, i, &f);
				rules_eval(rules, &f, &v);
			}
			b = bench_mono_ns();
			if (pass == 0) {
				l.v[l.n++] = (double)(b - a) / 1e3;
				counts[m.credential]++;
			} else {
				d.v[d.n++] = (double)(b - a) / 1e3;
			}
			if ((k < (uint64_t)n) !=
			    (m.credential != RULES_CRED_UNKNOWN)) {
				fprintf(stderr, "%s: lookup of %s is wrong\n",
					prog, c);
				goto out;
			}
		}
	}
	reg_free(r);
	r = NULL;
	rss2 = status_kb("VmRSS");
	printf("lookups: %ld (valid %ld, unknown %ld, revoked %ld, expired "
	       "%ld)\n", lookups, counts[RULES_CRED_VALID],
	       counts[RULES_CRED_UNKNOWN], counts[RULES_CRED_REVOKED],
	       counts[RULES_CRED_EXPIRED]);
	report_lat("reg_lookup", &l);
	if (rules) {
		report_lat("reg_lookup + facts + rules_eval", &d);
		if (n >= 1000000)
			bench_target("registry-decision-p99-1M",
				     "lookup + rules p99",
				     bench_quantile(d.v, d.n, 0.99), "us", 0,
				     TARGET_DECISION_P99_US);
	} else if (n >= 1000000) {
		bench_target("registry-lookup-p99-1M",
			     "lookup p99 (rules skipped)",
			     bench_quantile(l.v, l.n, 0.99), "us", 0,
			     TARGET_DECISION_P99_US);
	}
	printf("process rss after reg_free: %.2f MB\n", (double)rss2 / 1e3);
	rc = 0;
	if (wicketd && measure_wicketd(dir, n, rules_path) != 0) {
		fprintf(stderr, "%s: measuring wicketd failed\n", prog);
		rc = 1;
	}
out:
	reg_free(r);
	rules_free(rules);
	free(l.v);
	free(d.v);
	bench_rmtree(dir);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: %s [-n persons] [-l lookups] [-r rules.json] "
		"[-w wicketd [-p plugin_dir] [-P profile_dir]]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	long sizes[2] = { 10000, 1000000 }, lookups = 200000;
	const char *rules_path = "etc/wicket/rules.json";
	int nsizes = 2, opt, fails = 0;

	while ((opt = getopt(argc, argv, "n:l:r:w:p:P:")) != -1) {
		switch (opt) {
		case 'n':
			sizes[0] = bench_arg_long(prog, "-n", optarg, 1,
						  100000000);
			nsizes = 1;
			break;
		case 'l':
			lookups = bench_arg_long(prog, "-l", optarg, 1,
						 100000000);
			break;
		case 'r':
			rules_path = optarg;
			break;
		case 'w':
			wicketd = optarg;
			break;
		case 'p':
			plugin_dir = optarg;
			break;
		case 'P':
			profile_dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("registry: reg_load and reg_lookup at scale; times are "
	       "CLOCK_MONOTONIC around each call (about 0.02 us of it is the "
	       "clock)\n");
	for (int i = 0; i < nsizes; i++)
		fails += run(sizes[i], lookups, rules_path) != 0;
	return fails ? 1 : 0;
}
