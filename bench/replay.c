/*
 * replay: a backlog of undelivered passages sent to a local broker by the
 * daemon's own outbox, mqtt and loop code.  Issue 4 asks for at least
 * 10,000 events/s for a 100,000-event backlog, with the subscriber
 * receiving every one.
 *
 * The backlog is written first through ledger_submit (not timed), then the
 * ledger is closed and opened again, as after a restart.  Then a loop as in
 * wicketd: the ledger's eventfd runs ledger_dispatch, mqtt_new connects with
 * handlers that call outbox_connected / outbox_disconnected / outbox_acked,
 * and a timer ends the run once every event is acknowledged and its
 * delivered mark committed (ledger_count_undelivered() == 0).
 *
 * bench/run starts the broker and the subscriber (mosquitto_sub -F '%U %t
 * %p', QoS 1) before this program and passes its output file with -s; this
 * program then waits for the subscriber to finish and counts the distinct
 * event ids it printed and the time of its last message.
 *
 *   replay -p port [-n events] [-s subscriber_output] [-t limit_s]
 *          [-R run] [-I]
 *
 * -I prints an "info" line instead of the target's verdict, for runs
 * against a broker set up to show something other than the issue's figure.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "ledger.h"
#include "log.h"
#include "loop.h"
#include "mqtt.h"
#include "outbox.h"
#include "privacy.h"

#define TARGET_PER_S 10000.0
#define GATE "g1"
#define SUB_STALL_NS (5 * 1000000000LL)

struct bench {
	struct ev_loop *loop;
	struct ledger *lg;
	struct outbox ob;
	long n;
	long done;		/* done callbacks while filling */
	long connects, disconnects;
	int64_t t_first, w_first;	/* mono and wall ns at the first CONNACK */
	int64_t t_last_ack;
	int64_t t_marked;
	double inflight_sum;	/* window occupancy before each PUBACK */
	long acks;
	int64_t deadline;
	int timed_out;
	int64_t cpu_loop, cpu_proc;	/* ns of CPU at the first CONNACK */
};

static const char *prog = "replay";

static int64_t cpu_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_done(void *arg, uint64_t tag, int64_t seq,
		    enum ledger_status st)
{
	struct bench *b = arg;

	(void)seq;
	if (tag != 0 && st == LEDGER_COMMITTED)
		b->done++;
}

static void on_connected(void *arg)
{
	struct bench *b = arg;

	if (b->connects++ == 0) {
		b->t_first = bench_mono_ns();
		b->w_first = bench_wall_ns();
		b->cpu_loop = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
		b->cpu_proc = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	}
	outbox_connected(&b->ob);
}

static void on_disconnected(void *arg)
{
	struct bench *b = arg;

	b->disconnects++;
	outbox_disconnected(&b->ob);
}

static void on_acked(void *arg, int mid)
{
	struct bench *b = arg;

	b->inflight_sum += b->ob.n_inflight;
	b->acks++;
	outbox_acked(&b->ob, mid);
	b->t_last_ack = bench_mono_ns();
}

static long on_check(struct ev_loop *loop, void *arg)
{
	struct bench *b = arg;
	int64_t now = bench_mono_ns();

	if (now > b->deadline) {
		b->timed_out = 1;
		ev_stop(loop);
		return EV_STOP_TIMER;
	}
	/* the count scans the outbox index: only once all are acknowledged */
	if (b->ob.delivered >= (uint64_t)b->n &&
	    ledger_count_undelivered(b->lg) == 0) {
		b->t_marked = now;
		b->cpu_loop = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - b->cpu_loop;
		b->cpu_proc = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - b->cpu_proc;
		ev_stop(loop);
		return EV_STOP_TIMER;
	}
	return 5;
}

/* Write the backlog; 0 or -1. */
static int fill(struct bench *b, const char *dir)
{
	struct pollfd p;
	struct ledger_event ev;
	char err[512];
	int64_t t0 = bench_mono_ns();

	if (ledger_open(dir, &bench_limits, on_done, b, &b->lg, err,
			sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return -1;
	}
	p = (struct pollfd){ .fd = ledger_event_fd(b->lg), .events = POLLIN };
	for (long i = 0; i < b->n; i++) {
		bench_passage(&ev, i);
		while (ledger_submit(b->lg, &ev, (uint64_t)i + 1) == -ENOBUFS)
			if (poll(&p, 1, 1000) > 0)
				ledger_dispatch(b->lg);
	}
	while (b->done < b->n && poll(&p, 1, 10000) > 0)
		ledger_dispatch(b->lg);
	ledger_close(b->lg);
	b->lg = NULL;
	if (b->done < b->n) {
		fprintf(stderr, "%s: only %ld of %ld backlog events committed\n",
			prog, b->done, b->n);
		return -1;
	}
	if (ledger_open(dir, &bench_limits, on_done, b, &b->lg, err,
			sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return -1;
	}
	printf("backlog: %" PRId64 " undelivered passages written and the ledger "
	       "reopened (%.1f s, not timed)\n",
	       ledger_count_undelivered(b->lg),
	       (double)(bench_mono_ns() - t0) / 1e9);
	fflush(stdout);
	return 0;
}

/* Read the subscriber's output ("<unix time> <topic> <payload>" a line)
 * once it has `want` lines or stops growing.  Counts distinct ids of this
 * gate with seq 1..n; *last is the wall ns of the last message. */
static int read_subscriber(const char *path, long want, long n, long *lines,
			   long *distinct, long *foreign, int64_t *last)
{
	unsigned char *seen = calloc((size_t)n + 1, 1);
	int64_t stall = bench_mono_ns() + SUB_STALL_NS;
	long prev = -1;
	char buf[4096];
	FILE *f;

	if (seen == NULL)
		return -1;
	for (;;) {
		long count = 0;

		f = fopen(path, "r");
		if (f != NULL) {
			while (fgets(buf, sizeof(buf), f))
				count += strchr(buf, '\n') != NULL;
			fclose(f);
		}
		if (count >= want || bench_mono_ns() > stall)
			break;
		if (count != prev)
			stall = bench_mono_ns() + SUB_STALL_NS;
		prev = count;
		usleep(200000);
	}
	*lines = *distinct = *foreign = 0;
	*last = 0;
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		free(seen);
		return -1;
	}
	while (fgets(buf, sizeof(buf), f)) {
		char *end, *idp;
		long long sec, nsec;
		long seq;

		if (strchr(buf, '\n') == NULL)
			continue;	/* a line cut short, or longer than buf */
		(*lines)++;
		/* %U: seconds.nanoseconds */
		errno = 0;
		sec = strtoll(buf, &end, 10);
		nsec = *end == '.' ? strtoll(end + 1, &end, 10) : 0;
		if (errno == 0 && sec * 1000000000LL + nsec > *last)
			*last = sec * 1000000000LL + nsec;
		idp = strstr(buf, "\"id\":\"" GATE ":");
		seq = idp ? strtol(idp + strlen("\"id\":\"" GATE ":"), &end, 10) : 0;
		if (seq < 1 || seq > n || *end != '"') {
			(*foreign)++;
			continue;
		}
		if (!seen[seq]) {
			seen[seq] = 1;
			(*distinct)++;
		}
	}
	fclose(f);
	free(seen);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: %s -p port [-n events] [-s subscriber_output] "
		"[-t limit_s] [-R run] [-I]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct mqtt_handlers handlers = {
		.connected = on_connected,
		.disconnected = on_disconnected,
		.acked = on_acked,
	};
	struct bench b = { .n = 100000 };
	struct privacy pv = { .key_len = 32 };	/* publish_fields none */
	struct conf c = { .site = "bench", .gate = GATE };
	struct mqtt *mq = NULL;
	const char *sub = NULL;
	long port = 0, limit_s = 300, run = 1;
	int info = 0;
	char dir[512], label[64];
	int opt, rc = 1;
	double secs;

	while ((opt = getopt(argc, argv, "p:n:s:t:R:I")) != -1) {
		switch (opt) {
		case 'p':
			port = bench_arg_long(prog, "-p", optarg, 1, 65535);
			break;
		case 'n':
			b.n = bench_arg_long(prog, "-n", optarg, 1, 100000000);
			break;
		case 's':
			sub = optarg;
			break;
		case 't':
			limit_s = bench_arg_long(prog, "-t", optarg, 1, 86400);
			break;
		case 'R':
			run = bench_arg_long(prog, "-R", optarg, 1, 1000);
			break;
		case 'I':
			info = 1;
			break;
		default:
			usage();
		}
	}
	if (port == 0 || optind != argc)
		usage();
	log_init(WK_LOG_WARNING);
	c.mqtt = (struct conf_mqtt){
		.enabled = 1, .host = "127.0.0.1", .port = (int)port,
		.client_id = "wicket-bench-replay", .keepalive = 30,
		.reconnect_min_ms = 100, .reconnect_max_ms = 1000,
	};
	printf("replay run %ld: %ld passages to 127.0.0.1:%ld, QoS 1, "
	       "OUTBOX_WINDOW %d\n", run, b.n, port, OUTBOX_WINDOW);
	if (bench_mkdtemp(dir, sizeof(dir), "replay") < 0)
		return 1;
	if (fill(&b, dir) < 0 || ev_new(&b.loop) < 0)
		goto out;
	if (ev_add_fd(b.loop, ledger_event_fd(b.lg), EPOLLIN, bench_on_ledger, b.lg) < 0 ||
	    mqtt_new(b.loop, &c, &handlers, &b, &mq) < 0) {
		fprintf(stderr, "%s: cannot set up the loop\n", prog);
		goto out;
	}
	outbox_init(&b.ob, b.lg, mq, c.site, c.gate, &pv);
	b.deadline = bench_mono_ns() + limit_s * 1000000000LL;
	if (ev_add_timer(b.loop, 5, on_check, &b) == 0)
		goto out;
	ev_run(b.loop);
	if (b.timed_out || b.connects == 0) {
		fprintf(stderr, "%s: gave up after %ld s: %" PRIu64 " of %ld "
			"acknowledged, %ld connections\n", prog, limit_s,
			b.ob.delivered, b.n, b.connects);
		goto out;
	}
	secs = (double)(b.t_last_ack - b.t_first) / 1e9;
	printf("  first CONNACK -> last PUBACK: %.3f s, %.0f events/s "
	       "(%ld connection%s, %" PRIu64 " PUBACKs)\n", secs,
	       (double)b.n / secs, b.connects, b.connects == 1 ? "" : "s",
	       b.ob.delivered);
	secs = (double)(b.t_marked - b.t_first) / 1e9;
	printf("  first CONNACK -> every delivered mark committed: %.3f s, "
	       "%.0f events/s\n", secs, (double)b.n / secs);
	printf("  window: %.1f of %d in flight on average at each PUBACK\n",
	       b.acks ? b.inflight_sum / (double)b.acks : 0.0, OUTBOX_WINDOW);
	printf("  CPU meanwhile: loop thread %.2f s, ledger writer %.2f s "
	       "(of %.2f s)\n", (double)b.cpu_loop / 1e9,
	       (double)(b.cpu_proc - b.cpu_loop) / 1e9, secs);
	fflush(stdout);
	rc = 0;
	if (sub != NULL) {
		long lines, distinct, foreign;
		int64_t last;
		int all;

		if (read_subscriber(sub, b.n, b.n, &lines, &distinct, &foreign,
				    &last) < 0) {
			rc = 1;
			goto out;
		}
		secs = (double)(last - b.w_first) / 1e9;
		all = distinct == b.n;
		printf("  subscriber: %ld messages, %ld distinct ids of %ld "
		       "(%s), %ld other; last message %.3f s after the first "
		       "CONNACK: %.0f events/s\n", lines, distinct, b.n,
		       all ? "all" : "MISSING SOME", foreign, secs,
		       last > 0 && secs > 0 ? (double)distinct / secs : 0.0);
		snprintf(label, sizeof(label), "replay (run %ld)", run);
		if (info)
			printf("info %s: the subscriber got %ld of %ld "
			       "(%ld missing) at %.0f events/s\n", label,
			       distinct, b.n, b.n - distinct,
			       secs > 0 ? (double)distinct / secs : 0.0);
		else
			printf("target %s: subscriber events/s %.1f events/s "
			       "(at least %g, all %ld received: %s): %s\n",
			       label, secs > 0 ? (double)distinct / secs : 0.0,
			       TARGET_PER_S, b.n, all ? "yes" : "no",
			       all && secs > 0 &&
			       (double)distinct / secs >= TARGET_PER_S ?
			       "MET" : "NOT MET");
	} else {
		snprintf(label, sizeof(label), "replay-puback (run %ld)", run);
		bench_target(label, "events/s to the last PUBACK",
			     (double)b.n / ((double)(b.t_last_ack - b.t_first) / 1e9),
			     "events/s", 1, TARGET_PER_S);
	}
out:
	mqtt_free(mq);
	if (b.lg && b.loop)
		ev_del_fd(b.loop, ledger_event_fd(b.lg));
	ledger_close(b.lg);
	ev_free(b.loop);
	bench_rmtree(dir);
	return rc;
}
