/*
 * modbus_latency: how long after the reading that completes a passage the
 * world hears of it, end to end through the real programs: wicket-sim
 * plays a thermal sensor, a card reader and a gate relay on Modbus TCP
 * loopback (one free 127.0.0.1 port each), a real mosquitto runs on a free
 * port, and build/wicketd decides one lane (reader + thermal + gate) with
 * N residents imported by wicketctl.  The figures are compared with a
 * typical Node-RED flow on this class of machine.
 *
 * Per person, all on CLOCK_MONOTONIC:
 *   t0  the reply that hands wicketd the last of its two readings (the
 *       temperature, 0.3 s after the card): wicket-sim -v prints
 *       "device=NAME read seq=S mono_us=T" just after writing it;
 *   t1  a libmosquitto subscriber in this process (its own thread)
 *       receives wicket/bench/<gate>/event/passage with that card;
 *   t2  wicket-sim receives the gate's open write ("command=open ...
 *       mono_us=T").
 * Passage events are paired by card, readings by sequence number (person
 * k is seq k+1 on both devices), opens by time: the first open after t0
 * and before the next person's t0.
 *
 * wicketd runs twice: with its state_dir on the disk and on /dev/shm,
 * because the ledger's commit (fsync) comes before both the gate command
 * and the MQTT event.  No pass/fail here: the figures are for a person to
 * read.
 *
 * Persons come one every 500 ms by default: a scenario `person` line
 * shows the card and takes the temperature 0.3 s later, and the lane
 * closes an attempt when a second card arrives before its temperature, so
 * the spacing must stay well above 0.3 s plus a poll period.
 *
 *   modbus_latency [-n persons] [-i spacing_ms]
 *   WICKET_BUILD (default ./build): wicketd, wicketctl, wicket-sim, plugins
 *   BENCH_DIR / TMPDIR (default /var/tmp): where the disk state_dir goes
 *   BENCH_KEEP=1: keep the configs and logs (the path is printed)
 * Run from the top of the repository (profiles and rules are read from
 * etc/wicket).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <mosquitto.h>

#include "common.h"
#include "jsontree.h"
#include "proc.h"

#define CARD_BASE 10000000L	/* 8 digits: the reader profile's length */
#define POLL_MS 100
#define FIRST_S 2.0		/* the first person, after the clock starts */
#define REF_MQTT_MS 1.3		/* Node-RED: median poll -> MQTT publish */
#define REF_COIL_MS 3.2		/* Node-RED: median poll -> coil write */
#define SITE "bench"
#define PATHLEN PROC_PATHLEN

static const char *prog = "modbus_latency";

/* What one person went through; microseconds, 0 when not seen. */
struct person {
	int64_t card_us, temp_us;	/* the read seq= lines */
	int64_t t1_us;			/* the first passage event */
	int64_t t2_us;			/* the open write */
	int allowed;
};

/* The subscriber's side, shared with libmosquitto's thread under mu. */
struct sub {
	pthread_mutex_t mu;
	struct mosquitto *m;
	char topic[128];	/* the run's passage topic; others are foreign */
	struct person *p;
	long n;
	long received, dups, foreign, bad;
	int subscribed;
};

struct result {
	char label[64];		/* "disk (ext2/3/4)" */
	char where[PATHLEN + 64];
	double p[2][4];		/* [t1-t0, t2-t0][p50 p90 p99 max] ms */
	long n[2];
	int ok;
};

static const char *fs_name(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) != 0)
		return "?";
	switch ((unsigned long)sf.f_type) {
	case TMPFS_MAGIC:
		return "tmpfs";
	case EXT4_SUPER_MAGIC:
		return "ext2/3/4";
	case XFS_SUPER_MAGIC:
		return "xfs";
	case BTRFS_SUPER_MAGIC:
		return "btrfs";
	case OVERLAYFS_SUPER_MAGIC:
		return "overlay";
	default:
		return "other";
	}
}

/* ---- the subscriber ---- */

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
	(void)arg;
	if (rc == 0)
		mosquitto_subscribe(m, NULL, "wicket/" SITE "/+/event/passage",
				    1);
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int n,
			 const int *qos)
{
	struct sub *s = arg;

	(void)m;
	(void)mid;
	(void)n;
	(void)qos;
	pthread_mutex_lock(&s->mu);
	s->subscribed = 1;
	pthread_mutex_unlock(&s->mu);
}

static void on_message(struct mosquitto *m, void *arg,
		       const struct mosquitto_message *msg)
{
	int64_t t1 = bench_mono_ns() / 1000;
	struct sub *s = arg;
	const struct jt_node *cred, *dec = NULL;
	struct jt_doc *doc = NULL;
	char err[128], *end;
	long card = -1;

	(void)m;
	if (jt_parse(msg->payload, (size_t)msg->payloadlen, &doc, err,
		     sizeof(err)) == 0) {
		cred = jt_get(jt_root(doc), "credential");
		dec = jt_get(jt_root(doc), "decision");
		if (cred && cred->type == JT_STRING) {
			errno = 0;
			card = strtol(cred->s, &end, 10);
			if (errno || *end || end == cred->s)
				card = -1;
		}
	}
	pthread_mutex_lock(&s->mu);
	if (strcmp(msg->topic, s->topic) != 0 || s->p == NULL) {
		s->foreign++;
	} else if (card < CARD_BASE || card - CARD_BASE >= s->n) {
		s->bad++;
	} else if (s->p[card - CARD_BASE].t1_us) {
		s->dups++;	/* at least once: keep the first */
	} else {
		struct person *p = &s->p[card - CARD_BASE];

		p->t1_us = t1;
		p->allowed = dec && dec->type == JT_STRING &&
			     strcmp(dec->s, "allow") == 0;
		s->received++;
	}
	pthread_mutex_unlock(&s->mu);
	jt_free(doc);
}

static int sub_start(struct sub *s, int port)
{
	char id[64];
	int rc;

	snprintf(id, sizeof(id), "wicket-bench-latency-%ld", (long)getpid());
	s->m = mosquitto_new(id, true, s);
	if (s->m == NULL) {
		fprintf(stderr, "%s: mosquitto_new: %s\n", prog,
			strerror(errno));
		return -1;
	}
	mosquitto_connect_callback_set(s->m, on_connect);
	mosquitto_subscribe_callback_set(s->m, on_subscribe);
	mosquitto_message_callback_set(s->m, on_message);
	rc = mosquitto_connect(s->m, "127.0.0.1", port, 30);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_loop_start(s->m);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "%s: subscriber: %s\n", prog,
			mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

static long sub_received(struct sub *s)
{
	long n;

	pthread_mutex_lock(&s->mu);
	n = s->received;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void sub_stop(struct sub *s)
{
	if (s->m == NULL)
		return;
	mosquitto_disconnect(s->m);
	mosquitto_loop_stop(s->m, false);
	mosquitto_destroy(s->m);
	s->m = NULL;
}

/* ---- one run ---- */

static int write_inputs(const struct proc_paths *P, const char *tmp,
			const char *gate, const char *state, const int *ports,
			int broker_port, long n, long spacing_ms)
{
	FILE *f;

	if ((f = proc_create(tmp, "registry.json")) == NULL)
		return -1;
	fputs("{\"households\": [{\"id\": \"h1\", \"unit\": \"Building 1, "
	      "101\"}],\n \"persons\": [", f);
	for (long i = 0; i < n; i++)
		fprintf(f, "%s\n  {\"id\": \"p-%ld\", \"household\": \"h1\", "
			"\"role\": \"resident\"}", i ? "," : "", CARD_BASE + i);
	fputs("],\n \"credentials\": [", f);
	for (long i = 0; i < n; i++)
		fprintf(f, "%s\n  {\"value\": \"%ld\", \"kind\": \"card\", "
			"\"person\": \"p-%ld\"}", i ? "," : "", CARD_BASE + i,
			CARD_BASE + i);
	fputs("]}\n", f);
	if (fclose(f) != 0)
		return -1;

	if ((f = proc_create(tmp, "persons.scenario")) == NULL)
		return -1;
	fputs("# seconds person reader thermal card temperature\n", f);
	for (long i = 0; i < n; i++)
		fprintf(f, "%.3f person reader1 thermal1 %ld %.1f\n",
			FIRST_S + (double)(i * spacing_ms) / 1000, CARD_BASE + i,
			36.2 + (double)(i % 7) / 10);
	if (fclose(f) != 0)
		return -1;

	if (proc_write(tmp, "sim.conf",
		       "[sim]\nscenario = %s/persons.scenario\n"
		       "profile_dir = %s\nstart = connect\n\n"
		       "[device thermal1]\nkind = thermal\n"
		       "profile = generic-ir-thermal\nlisten = 127.0.0.1:%d\n\n"
		       "[device reader1]\nkind = reader\n"
		       "profile = modbus-card-reader\nlisten = 127.0.0.1:%d\n\n"
		       "[device gate1]\nkind = gate\n"
		       "profile = modbus-gate-relay\nlisten = 127.0.0.1:%d\n",
		       tmp, P->profiles, ports[0], ports[1], ports[2]) < 0)
		return -1;

	if ((f = proc_create(tmp, "wicketd.conf")) == NULL)
		return -1;
	fprintf(f, "[wicketd]\nsite = " SITE "\ngate = %s\nstate_dir = %s\n"
		"plugin_dir = %s\nprofile_dir = %s\nrules = %s\n"
		"log_level = info\ncontrol_socket = none\n\n"
		"[mqtt]\nhost = 127.0.0.1\nport = %d\n\n", gate, state,
		P->plugins, P->profiles, P->rules, broker_port);
	fprintf(f, "[device thermal1]\nplugin = modbus-thermal\n"
		"profile = generic-ir-thermal\nhost = 127.0.0.1\nport = %d\n"
		"poll_ms = %d\ntimeout_ms = 300\n\n"
		"[device reader1]\nplugin = modbus-reader\n"
		"profile = modbus-card-reader\nhost = 127.0.0.1\nport = %d\n"
		"poll_ms = %d\ntimeout_ms = 300\n\n"
		"[device gate1]\nplugin = modbus-gate\n"
		"profile = modbus-gate-relay\nhost = 127.0.0.1\nport = %d\n"
		"poll_ms = %d\ntimeout_ms = 300\npulse_ms = 100\n\n",
		ports[0], POLL_MS, ports[1], POLL_MS, ports[2], POLL_MS);
	fputs("[lane main]\ndirection = in\nthermal = thermal1\n"
	      "reader = reader1\ngate = gate1\nwindow_ms = 2000\n\n"
	      "[privacy]\npublish_fields = credential, temperature\n", f);
	return fclose(f) != 0 ? -1 : 0;
}

/* The sim's -v output: readings by sequence number, opens in order. */
static int read_sim_log(const char *path, struct person *p, long n,
			int64_t **opens, long *n_opens)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, nalloc = 0;
	long long seq, us;

	*opens = NULL;
	*n_opens = 0;
	if (f == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		int thermal = strstr(line, " device=thermal1 read ") != NULL;
		int reader = strstr(line, " device=reader1 read ") != NULL;

		if ((thermal || reader) &&
		    proc_field_ll(line, " seq=", &seq) == 0 &&
		    proc_field_ll(line, " mono_us=", &us) == 0 && seq >= 1 &&
		    seq <= n) {
			int64_t *t = thermal ? &p[seq - 1].temp_us :
					       &p[seq - 1].card_us;

			if (*t == 0)
				*t = us;
		} else if (strstr(line, " device=gate1 command=open ") &&
			   proc_field_ll(line, " mono_us=", &us) == 0) {
			if ((size_t)*n_opens == nalloc) {
				size_t k = nalloc ? 2 * nalloc : 256;
				int64_t *o = realloc(*opens, k * sizeof(*o));

				if (o == NULL) {
					fprintf(stderr, "%s: out of memory\n",
						prog);
					break;
				}
				*opens = o;
				nalloc = k;
			}
			(*opens)[(*n_opens)++] = us;
		}
	}
	free(line);
	fclose(f);
	return 0;
}

static void report(struct result *r, int k, const char *what, double *v,
		   long n)
{
	r->n[k] = n;
	r->p[k][0] = bench_quantile(v, (size_t)n, 0.50);
	r->p[k][1] = bench_quantile(v, (size_t)n, 0.90);
	r->p[k][2] = bench_quantile(v, (size_t)n, 0.99);
	r->p[k][3] = bench_quantile(v, (size_t)n, 1.0);
	if (n == 0)
		printf("  %s: no samples\n", what);
	else
		printf("  %s: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max "
		       "%.2f ms (%ld persons)\n", what, r->p[k][0],
		       r->p[k][1], r->p[k][2], r->p[k][3], n);
}

/* Pair, print and keep the figures of one run. */
static void analyse(struct person *p, long n, const int64_t *opens,
		    long n_opens, const struct sub *s, struct result *r)
{
	double *d1 = calloc((size_t)n, sizeof(double));
	double *d2 = calloc((size_t)n, sizeof(double));
	long n1 = 0, n2 = 0, no_read = 0, no_event = 0, no_open = 0;
	long card_last = 0, denied = 0, stray = 0, j = 0, listed = 0;
	char missing[512] = "";
	size_t ml = 0;

	if (d1 == NULL || d2 == NULL)
		goto out;
	for (long k = 0; k < n; k++) {
		struct person *q = &p[k];
		int64_t t0, next = INT64_MAX;
		int bad = 0;

		if (q->card_us == 0 || q->temp_us == 0) {
			no_read++;
			bad = 1;
			t0 = 0;
		} else {
			t0 = q->card_us > q->temp_us ? q->card_us : q->temp_us;
			card_last += q->card_us > q->temp_us;
		}
		for (long m = k + 1; m < n; m++)
			if (p[m].card_us && p[m].temp_us) {
				next = p[m].card_us > p[m].temp_us ?
					       p[m].card_us : p[m].temp_us;
				break;
			}
		if (t0 && q->t1_us)
			d1[n1++] = (double)(q->t1_us - t0) / 1e3;
		else if (!q->t1_us) {
			no_event++;
			bad = 1;
		}
		if (q->t1_us && !q->allowed)
			denied++;
		/* opens before this reading belong to nobody here */
		while (t0 && j < n_opens && opens[j] < t0) {
			stray++;
			j++;
		}
		if (t0 && j < n_opens && opens[j] < next) {
			q->t2_us = opens[j++];
			d2[n2++] = (double)(q->t2_us - t0) / 1e3;
		} else {
			no_open++;
			bad = 1;
		}
		if (bad && listed++ < 10 && ml < sizeof(missing))
			ml += (size_t)snprintf(missing + ml,
					       sizeof(missing) - ml, " %ld%s%s%s",
					       CARD_BASE + k,
					       !q->card_us || !q->temp_us ?
						       "(reading)" : "",
					       !q->t1_us ? "(event)" : "",
					       !q->t2_us ? "(open)" : "");
	}
	stray += n_opens - j;
	printf("  persons %ld: both readings seen %ld, passage events %ld "
	       "(duplicates %ld, not allowed %ld), gate opens %ld\n", n,
	       n - no_read, s->received, s->dups, denied, n_opens);
	report(r, 0, "reading -> MQTT passage event (t1 - t0)", d1, n1);
	report(r, 1, "reading -> gate open write    (t2 - t0)", d2, n2);
	if (card_last)
		printf("  %ld persons' card was read after the temperature "
		       "(t0 is then the card's reply)\n", card_last);
	if (no_read || no_event || no_open || stray || s->bad || s->foreign)
		printf("  MISSING: reading %ld, passage event %ld, gate open "
		       "%ld; opens not paired %ld; events with an unknown "
		       "card %ld, on another topic %ld;%s%s\n", no_read,
		       no_event, no_open, stray, s->bad, s->foreign,
		       listed ? " cards:" : "", missing);
	else
		printf("  missing: none (every person has a reading, a "
		       "passage event and a gate open)\n");
	r->ok = 1;
out:
	free(d1);
	free(d2);
}

static int run_one(const struct proc_paths *P, struct sub *s,
		   struct proc_child *broker, int broker_port, const char *label,
		   const char *state, const char *tmp, long n, long spacing_ms,
		   struct result *r)
{
	char sim_log[PATHLEN], d_log[PATHLEN];
	struct proc_child sim = { .pid = -1 }, d = { .pid = -1 };
	struct sub snap = { .received = 0 };
	struct proc_child *kids[3] = { broker, &sim, &d };
	struct person *p = calloc((size_t)n, sizeof(*p));
	int64_t *opens = NULL, end;
	long n_opens = 0;
	int ports[3], rc = -1, werr;

	snprintf(r->label, sizeof(r->label), "%s (%s)", label,
		 fs_name(state));
	snprintf(r->where, sizeof(r->where), "%s (%s)", state,
		 fs_name(state));
	printf("\n-- state_dir %s: %s\n", label, r->where);
	if (p == NULL || proc_free_ports(ports, 3) < 0 ||
	    write_inputs(P, tmp, label, state, ports, broker_port, n,
			 spacing_ms) < 0 ||
	    proc_join(sim_log, tmp, "sim.log") < 0 ||
	    proc_join(d_log, tmp, "wicketd.log") < 0) {
		fprintf(stderr, "%s: cannot set up the run in %s\n", prog, tmp);
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	snprintf(s->topic, sizeof(s->topic), "wicket/" SITE "/%s/event/passage",
		 label);
	s->p = p;
	s->n = n;
	s->received = s->dups = s->foreign = s->bad = 0;
	pthread_mutex_unlock(&s->mu);
	if (proc_start_wicket(P, tmp, state, &sim, &d, kids, 3) < 0 ||
	    proc_wait_line(kids, 3, sim_log, " start steps=", "wicket-sim",
			   10000) < 0)
		goto out;
	/* every person, then a margin for the slowest */
	end = bench_mono_ns() + (int64_t)((FIRST_S + 10) * 1e9) +
	      (int64_t)n * spacing_ms * 1000000;
	while (sub_received(s) < n && bench_mono_ns() < end) {
		if (proc_check_all(kids, 3) < 0 || proc_interrupted())
			goto out;
		proc_sleep_ms(50);
	}
	proc_sleep_ms(POLL_MS * 3);	/* the last gate command */
	if (proc_check_all(kids, 3) < 0)
		goto out;
	werr = proc_count_lines(d_log, " wicketd err: ") +
	       proc_count_lines(d_log, " wicketd warning: ");
	if (proc_stop(&d) < 0 || proc_stop(&sim) < 0)
		goto out;
	pthread_mutex_lock(&s->mu);
	s->p = NULL;	/* the subscriber thread no longer writes p */
	snap.received = s->received;
	snap.dups = s->dups;
	snap.foreign = s->foreign;
	snap.bad = s->bad;
	pthread_mutex_unlock(&s->mu);
	if (read_sim_log(sim_log, p, n, &opens, &n_opens) < 0)
		goto out;
	analyse(p, n, opens, n_opens, &snap, r);
	if (werr)
		printf("  wicketd logged %d warnings or errors (%s)\n", werr,
		       d_log);
	rc = 0;
out:
	proc_stop(&d);
	proc_stop(&sim);
	pthread_mutex_lock(&s->mu);
	s->p = NULL;
	pthread_mutex_unlock(&s->mu);
	free(opens);
	free(p);
	return rc;
}

static void table(const struct result *r, int nr)
{
	static const double ref[2] = { REF_MQTT_MS, REF_COIL_MS };

	printf("\n%-30s %-37s %s\n", "", "reading -> MQTT event (ms)",
	       "reading -> gate open write (ms)");
	printf("%-30s %6s %6s %6s %6s %6s   %6s %6s %6s %6s %6s\n",
	       "state_dir", "p50", "p90", "p99", "max", "ratio", "p50",
	       "p90", "p99", "max", "ratio");
	for (int i = 0; i < nr; i++) {
		if (!r[i].ok)
			continue;
		printf("%-30s", r[i].label);
		for (int k = 0; k < 2; k++) {
			printf(" %6.2f %6.2f %6.2f %6.2f", r[i].p[k][0],
			       r[i].p[k][1], r[i].p[k][2], r[i].p[k][3]);
			if (r[i].n[k] && r[i].p[k][0] > 0)
				printf(" %6.2f%s", ref[k] / r[i].p[k][0],
				       k ? "" : "  ");
			else
				printf(" %6s%s", "-", k ? "" : "  ");
		}
		printf("\n");
	}
	printf("ratio = reference / our p50, the reference being the median "
	       "of a typical Node-RED flow on this class of machine: %.1f ms "
	       "poll -> MQTT, %.1f ms poll -> coil write (above 1: faster "
	       "than the reference)\n", REF_MQTT_MS, REF_COIL_MS);
}

static void usage(void)
{
	fprintf(stderr, "usage: %s [-n persons] [-i spacing_ms]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	long n = 200, spacing_ms = 500;
	struct proc_paths P;
	char tmp[PATHLEN], shm[PATHLEN] = "", conf[PATHLEN],
	     blog[PATHLEN];
	struct proc_child broker = { .pid = -1 };
	struct sub s = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct result res[2] = { 0 };
	int opt, bport, fails = 0, lib_major, lib_minor, lib_rev;
	FILE *f;

	while ((opt = getopt(argc, argv, "n:i:")) != -1) {
		switch (opt) {
		case 'n':
			n = bench_arg_long(prog, "-n", optarg, 1, 60000);
			break;
		case 'i':
			spacing_ms = bench_arg_long(prog, "-i", optarg, 400,
						    10000);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (proc_setup(prog, &P, tmp, sizeof(tmp), "modbus-latency") < 0)
		return 1;
	mosquitto_lib_init();
	mosquitto_lib_version(&lib_major, &lib_minor, &lib_rev);
	printf("modbus_latency: %ld persons, one every %ld ms (scenario "
	       "`person` lines: card, then the temperature 0.3 s later); all "
	       "residents, so every passage is allowed\n", n, spacing_ms);
	printf("Modbus TCP loopback, wicket-sim playing thermal1, reader1, "
	       "gate1; poll_ms = %d on all three (a realistic value: t0 is "
	       "the reply that carries the reading, so the poll period adds "
	       "nothing to t1 - t0; a gate command waits only for the poll "
	       "in flight); wicketd log_level = info; mosquitto on loopback, "
	       "subscriber libmosquitto %d.%d.%d at QoS 1 in this process\n",
	       POLL_MS, lib_major, lib_minor, lib_rev);
	printf("t0: wicket-sim wrote the reply with the last reading; t1: "
	       "the subscriber got the passage event; t2: wicket-sim got the "
	       "gate's open write (CLOCK_MONOTONIC)\n");

	if (proc_free_ports(&bport, 1) < 0 ||
	    proc_join(conf, tmp, "mosquitto.conf") < 0 ||
	    proc_join(blog, tmp, "mosquitto.log") < 0 ||
	    (f = fopen(conf, "w")) == NULL)
		goto fail;
	fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\n"
		"persistence false\nlog_dest stderr\nlog_type error\n"
		"log_type warning\n", bport);
	if (fclose(f) != 0)
		goto fail;
	{
		char mosq[] = "mosquitto", *bargv[] = { mosq, "-c", conf, NULL };
		int64_t end = bench_mono_ns() + 10000000000LL;

		if (proc_start(&broker, "mosquitto", blog, bargv) < 0)
			goto fail;
		while (!proc_port_open(bport)) {
			if (proc_check(&broker) < 0 || proc_interrupted() ||
			    bench_mono_ns() > end) {
				fprintf(stderr, "%s: mosquitto did not start "
					"on port %d\n", prog, bport);
				goto fail;
			}
			proc_sleep_ms(20);
		}
	}
	if (sub_start(&s, bport) < 0)
		goto fail;
	for (int i = 0; i < 500; i++) {
		int ok;

		pthread_mutex_lock(&s.mu);
		ok = s.subscribed;
		pthread_mutex_unlock(&s.mu);
		if (ok)
			break;
		if (i == 499 || proc_check(&broker) < 0) {
			fprintf(stderr, "%s: the subscriber did not subscribe\n",
				prog);
			goto fail;
		}
		proc_sleep_ms(20);
	}

	/* disk first, then tmpfs; each run in its own directory */
	for (int run = 0; run < 2 && !proc_interrupted(); run++) {
		char rtmp[PATHLEN], state[PATHLEN];
		/* also the gate's name, so each run has its own topic */
		const char *label = run ? "shm" : "disk";

		if (proc_join(rtmp, tmp, label) < 0 || mkdir(rtmp, 0700) < 0)
			goto fail;
		if (run == 0) {
			if (proc_join(state, rtmp, "state") < 0 ||
			    mkdir(state, 0700) < 0)
				goto fail;
		} else {
			snprintf(shm, sizeof(shm),
				 "/dev/shm/wicket-bench-latency-XXXXXX");
			if (mkdtemp(shm) == NULL) {
				fprintf(stderr, "%s: %s: %s\n", prog, shm,
					strerror(errno));
				shm[0] = '\0';
				goto fail;
			}
			snprintf(state, sizeof(state), "%s", shm);
		}
		if (run_one(&P, &s, &broker, bport, label, state, rtmp, n,
			    spacing_ms, &res[run]) < 0) {
			fprintf(stderr, "%s: the %s run failed\n", prog, label);
			fails++;
		}
	}
	table(res, 2);
	goto done;
fail:
	fails++;
done:
	sub_stop(&s);
	if (proc_stop(&broker) < 0)
		fails++;
	mosquitto_lib_cleanup();
	if (shm[0])
		bench_rmtree(shm);
	return proc_finish(tmp, fails);
}
