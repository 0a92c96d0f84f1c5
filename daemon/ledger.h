/*
 * ledger: the SQLite record of everything the gate did, under
 * state_dir/ledger.db: passages, alarms, device events, daily reports and
 * outbox notices, one table `event`, one sequence.  Rows not yet
 * acknowledged by the broker are the outbox.
 *
 * Writes go through a writer thread: ledger_submit() queues an event and
 * returns at once; the writer commits whatever has queued up in one
 * transaction (group commit, WAL, synchronous=FULL) and hands each event's
 * fate back to the loop thread through the done callback, run by
 * ledger_dispatch() when the eventfd fires.  When the database fails (disk
 * full, I/O error) the events stay queued in memory, bounded, and are
 * written once it works again.
 *
 * Reads (the outbox, status) use a second connection on the loop thread;
 * in WAL mode they never wait for the writer.
 *
 * Audit events (remote administration: every update, rollback and
 * command, applied or refused) are alarm-class: ledger_submit() gives them
 * priority 1 whatever the caller set, so the outbox bounds never drop one
 * and they are published ahead of routine events.  Their columns:
 *   reason         the action: rules, lists, rollback, cmd
 *   state          the result: applied, refused, rolled_back, unchanged, done
 *   rules_version  the bundle's version (0: none, stored as NULL)
 *   message        for people (a refusal's reason, with LINE:COL or path)
 *   detail         JSON {"id","key","topic","error","cmd","nonce","version"},
 *                  members null when not known
 */
#ifndef WICKET_LEDGER_H
#define WICKET_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <wicket/plugin.h>

#define LEDGER_SCHEMA_VERSION 4
#define LEDGER_FILE "ledger.db"
#define LEDGER_DETAIL_MAX 1024	/* bytes of an event's detail JSON, NUL included */

enum ledger_kind {
	LK_PASSAGE = 0,
	LK_ALARM,
	LK_DEVICE,
	LK_REPORT,	/* the daily summary; written by the writer itself */
	LK_OUTBOX,	/* "the outbox dropped N passages"; idem */
	LK_AUDIT,	/* a remote update or command; always priority 1 */
	LK_KINDS
};

/* The fate of a submitted event, as the done callback hears it. */
enum ledger_status {
	LEDGER_COMMITTED = 0,	/* durable, seq set */
	LEDGER_HELD,		/* the database failed: kept in memory, no seq yet */
	LEDGER_LATE,		/* committed after having been HELD, seq set */
};

struct ledger_event {
	int64_t seq;		/* 0 until written */
	int64_t time_ms;
	enum ledger_kind kind;
	int priority;		/* 1: alarm class, published first, never dropped */
	char lane[40];
	char direction[4];
	int has_credential;
	char credential[WK_CREDENTIAL_MAX];
	char person[40];	/* pseudonymous reference, "" if none */
	int has_temperature;
	double temperature_c;
	char decision[8];
	char reason[40];	/* passage reason, alarm kind, audit action */
	int alarm;
	char device[40];
	char state[16];		/* device: ok/fault; alarm: severity;
				 * audit: result */
	char message[WK_MESSAGE_MAX];
	/* JSON: an alarm's passage, a report, an outbox notice, a re-tested
	 * passage's first reading, an audit's ids */
	char detail[LEDGER_DETAIL_MAX];
	/* passages: what decided, and who (registry ids, "" if unknown);
	 * audit: rules_version is the bundle's version */
	char rule[64];
	int64_t rules_version;
	char person_id[64];
	char household_id[64];
};

struct ledger_limits {
	long retention_days;	/* prune events older than this */
	long outbox_max_events;	/* undelivered routine events kept at most */
	long outbox_max_age_days;
	long memory_queue;	/* events held in memory while the db fails */
};

/* Writer statistics for status and logs; read on the loop thread. */
struct ledger_stats {
	int failing;		/* the last commit failed */
	int64_t held;		/* events waiting in memory */
	int64_t lost;		/* refused because the memory queue was full */
	int64_t commits;	/* transactions of events and delivery marks */
	int64_t written;	/* events */
	char error[160];	/* the last database error */
	/* the writer's last turn (CLOCK_MONOTONIC ms): at least every second
	 * when idle; older means a commit has been running that long */
	int64_t heartbeat_ms;
};

struct ledger;

typedef void (*ledger_done_fn)(void *arg, uint64_t tag, int64_t seq,
			       enum ledger_status st);

/* Create state_dir if needed, open or create (or migrate) the ledger and
 * start the writer.  On failure err says what and where; a corrupt file is
 * reported and left as it is. */
int ledger_open(const char *state_dir, const struct ledger_limits *lim,
		ledger_done_fn done, void *arg, struct ledger **out, char *err,
		size_t errlen);
/* Write what is queued (one more try if the db fails; what still fails is
 * logged as lost), stop the writer, close.  Accepts NULL. */
void ledger_close(struct ledger *lg);

/* Loop thread.  Queue an event; done(arg, tag, ...) follows.  Alarm-class
 * events (priority > 0; LK_AUDIT always is) are always taken while the
 * ring has room; a routine one is refused with -ENOBUFS (and counted as
 * lost) when memory_queue events are already held. */
int ledger_submit(struct ledger *lg, const struct ledger_event *ev,
		  uint64_t tag);
/* Loop thread: the eventfd to watch, and the handler that runs the done
 * callbacks when it fires. */
int ledger_event_fd(const struct ledger *lg);
void ledger_dispatch(struct ledger *lg);
void ledger_stats(struct ledger *lg, struct ledger_stats *out);

/* Loop thread; done for these comes with tag 0 and, for a report or an
 * outbox notice written, that event's seq. */
void ledger_mark_delivered(struct ledger *lg, int64_t seq);
/* Prune delivered events older than retention_days, and enforce the
 * outbox bounds (writing an LK_OUTBOX notice if it dropped any). */
void ledger_maintain(struct ledger *lg, int64_t now_ms);
/* Compute and store the summary of the local day [start_ms, end_ms) named
 * day ("2026-11-23") as an LK_REPORT event, unless it exists (with the
 * day's audit results counted in "audit"). */
void ledger_report(struct ledger *lg, const char *day, int64_t start_ms,
		   int64_t end_ms);

/* Loop thread, read connection.  The first undelivered event of that
 * priority with seq > after: 1 found, 0 none, <0 error. */
int ledger_next_undelivered(struct ledger *lg, int priority, int64_t after,
			    struct ledger_event *ev);
int64_t ledger_count_undelivered(struct ledger *lg);
/* Loop thread, read connection: the allowed passages of known persons
 * with from_ms <= time < to_ms, oldest first.  0 or -EIO. */
typedef void (*ledger_history_fn)(void *arg, const char *person_id,
				  const char *household_id,
				  const char *direction, int64_t time_ms);
int ledger_history(struct ledger *lg, int64_t from_ms, int64_t to_ms,
		   ledger_history_fn fn, void *arg);
const char *ledger_kind_name(enum ledger_kind k);

#endif
