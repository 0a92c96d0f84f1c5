/*
 * ledger: SQLite with a writer thread and group commit.
 *
 * The queue is a ring the loop appends to and the writer consumes from the
 * head; entries stay in the ring until their transaction commits, so a
 * failed commit loses nothing: the writer reports them HELD once, backs off
 * and tries again, and reports them LATE when they finally land.  The ring
 * never moves and the loop only writes past the tail, so the writer reads
 * the head batch without holding the lock during I/O.
 *
 * Settings: journal_mode=WAL with synchronous=FULL, so COMMIT returns only
 * after the WAL is fsynced: a committed passage survives a process crash
 * and a power cut (on storage that honours fsync).  auto_vacuum is
 * INCREMENTAL so that pruning gives pages back to the file system.
 *
 * seq is an AUTOINCREMENT key: it never repeats or goes back, across
 * restarts and after old rows are pruned.  delivered: 0 waiting for the
 * broker, 1 acknowledged, 2 dropped by the outbox bounds.
 *
 * Schema versions are PRAGMA user_version; an older file is migrated at
 * open in one transaction, so a crash or a full disk midway leaves it as
 * it was.  Version 4 (kind 'audit') rebuilds the table, because a CHECK
 * constraint cannot be altered: that takes 3-5 s per million rows (a
 * 150 MB file) on a 2-core PC, and free space of about twice the file's
 * size while it runs (the copy, and the WAL that carries it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fsutil.h"
#include "json.h"
#include "ledger.h"
#include "log.h"
#include "notify.h"

#define BATCH_MAX 1024
#define ALARM_RESERVE 256	/* ring slots only alarm-class events may use */
#define PRUNE_BATCH 1000
#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000
#define BEAT_MS 1000		/* an idle writer turns at least this often */
#define PING_MS 5000		/* a migration tells systemd it is alive... */
#define PING_EXTEND_US 120000000 /* ...and for this much more time: a
				 * checkpoint of the copy on an SD card
				 * runs long without a progress call */

static const char *const kind_names[LK_KINDS] = {
	[LK_PASSAGE] = "passage",
	[LK_ALARM] = "alarm",
	[LK_DEVICE] = "device",
	[LK_REPORT] = "report",
	[LK_OUTBOX] = "outbox",
	[LK_AUDIT] = "audit",
};

struct qent {
	struct ledger_event ev;
	uint64_t tag;
	int held;		/* HELD already reported */
};

struct done_rec {
	uint64_t tag;
	int64_t seq;
	enum ledger_status st;
};

struct report_req {
	char day[16];
	int64_t start, end;
};

struct ledger {
	sqlite3 *wdb, *rdb;
	sqlite3_stmt *ins, *mark;	/* writer */
	sqlite3_stmt *next, *count;	/* reader */
	struct ledger_limits lim;
	ledger_done_fn done_fn;
	void *done_arg;
	int efd;
	pthread_t thread;
	int started;
	_Atomic int64_t beat_ms;	/* the writer's last turn, monotonic */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu */
	struct qent *ring;
	size_t cap, head, len;
	int64_t *marks;
	size_t n_marks, cap_marks;
	int maintain;
	int64_t maintain_now;
	struct report_req reports[4];
	size_t n_reports;
	struct done_rec *done;
	size_t n_done, cap_done;
	int stop;
	struct ledger_stats st;
};

/* The event table of schema 4.  The columns are in the order a v2 file
 * that gained the v3 columns by ALTER TABLE has them, so `SELECT *` reads
 * the same from a new file and a migrated one. */
#define EVENT_TABLE \
	" (seq INTEGER PRIMARY KEY AUTOINCREMENT," \
	" time_ms INTEGER NOT NULL," \
	" kind TEXT NOT NULL CHECK (kind IN" \
	"  ('passage', 'alarm', 'device', 'report', 'outbox', 'audit'))," \
	" priority INTEGER NOT NULL DEFAULT 0," \
	" lane TEXT," \
	" direction TEXT CHECK (direction IS NULL OR direction IN ('in', 'out'))," \
	" credential TEXT," \
	" person TEXT," \
	" temperature REAL," \
	" decision TEXT CHECK (decision IS NULL OR decision IN ('allow', 'deny'))," \
	" reason TEXT," \
	" alarm INTEGER NOT NULL DEFAULT 0," \
	" device TEXT," \
	" state TEXT," \
	" message TEXT," \
	" detail TEXT," \
	" delivered INTEGER NOT NULL DEFAULT 0," \
	" rule TEXT," \
	" rules_version INTEGER," \
	" person_id TEXT," \
	" household_id TEXT);"

#define EVENT_COLUMNS \
	"seq, time_ms, kind, priority, lane, direction, credential, person," \
	" temperature, decision, reason, alarm, device, state, message, detail," \
	" delivered, rule, rules_version, person_id, household_id"

/* The indexes and the view, the same since v3. */
#define EVENT_EXTRAS \
	"CREATE INDEX event_outbox ON event(priority, seq) WHERE delivered = 0;" \
	"CREATE INDEX event_time ON event(time_ms);" \
	"CREATE VIEW passage AS SELECT seq, time_ms, lane, direction, credential," \
	" person, person_id, household_id, temperature, decision, reason, rule," \
	" rules_version, alarm, detail, delivered" \
	" FROM event WHERE kind = 'passage';"

#define STR_(x) #x
#define STR(x) STR_(x)

static const char schema_v4[] = "CREATE TABLE event" EVENT_TABLE EVENT_EXTRAS;

/* v3: what decided a passage, and who passed (the registry's ids, kept
 * local; MQTT carries keyed hashes of them).  A v2 file gets the columns
 * here and the view with the rebuild below. */
static const char migrate_v3[] =
	"ALTER TABLE event ADD COLUMN rule TEXT;"
	"ALTER TABLE event ADD COLUMN rules_version INTEGER;"
	"ALTER TABLE event ADD COLUMN person_id TEXT;"
	"ALTER TABLE event ADD COLUMN household_id TEXT;";

/* v4: kind may be 'audit'.  SQLite cannot change a CHECK constraint, so
 * the table is rebuilt: copied with its seq values, the old one dropped
 * (after the view, which a rename would otherwise try to resolve against
 * the missing table), the new one renamed.  Its AUTOINCREMENT counter
 * starts from the copy's max(seq); the old counter may be higher (the
 * newest rows pruned or deleted), so the larger of the two is kept, and
 * the rename carries it over to the name event. */
static const char migrate_v4[] =
	"CREATE TABLE event_new" EVENT_TABLE
	"INSERT INTO event_new (" EVENT_COLUMNS ") SELECT " EVENT_COLUMNS
	" FROM event ORDER BY seq;"
	"INSERT INTO sqlite_sequence (name, seq) SELECT 'event_new', 0"
	" WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'event_new');"
	"UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT max(seq) FROM"
	" sqlite_sequence WHERE name = 'event'), 0)) WHERE name = 'event_new';"
	"DROP VIEW IF EXISTS passage;"
	"DROP TABLE event;"
	"ALTER TABLE event_new RENAME TO event;"
	EVENT_EXTRAS;

/* v1 had one table, passage; its rows and its sequence move to event. */
static const char migrate_v1[] =
	"INSERT INTO event (seq, time_ms, kind, lane, direction, credential,"
	" temperature, decision, reason, alarm, delivered)"
	" SELECT seq, time_ms, 'passage', lane, direction, credential,"
	" temperature, decision, reason, alarm, delivered FROM passage_v1;"
	"INSERT INTO sqlite_sequence (name, seq) SELECT 'event', 0"
	" WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'event');"
	"UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM"
	" sqlite_sequence WHERE name = 'passage_v1'), 0)) WHERE name = 'event';"
	"DROP TABLE passage_v1;";

const char *ledger_kind_name(enum ledger_kind k)
{
	return k < LK_KINDS ? kind_names[k] : "?";
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen,
		const char *path)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* A long migration (a million rows take seconds on a PC, maybe a minute
 * on a board) must not look like a hung start to systemd: while SQLite
 * works, ask for more start-up (or reload) time and keep the watchdog fed.
 * Nothing is sent when not run by systemd. */
static int migrate_alive(void *arg)
{
	int64_t *next = arg, now = mono_ms();

	if (now >= *next) {
		notify_send("EXTEND_TIMEOUT_USEC=" STR(PING_EXTEND_US) "\nWATCHDOG=1");
		*next = now + PING_MS;
	}
	return 0;	/* go on */
}

static int migrate_steps(sqlite3 *db, int version, const char *path,
			 char *err, size_t errlen);

static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int version = 0, rc, secure;
	int64_t t0, next_ping;

	if (pragma_int(db, "PRAGMA user_version", &version) != SQLITE_OK) {
		snprintf(err, errlen,
			 "%s: %s (left as it is; move it away to start a new ledger)",
			 path, sqlite3_errmsg(db));
		return -EIO;
	}
	if (version > LEDGER_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "%s: schema version %d is newer than this wicketd's (%d)",
			 path, version, LEDGER_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version == LEDGER_SCHEMA_VERSION)
		return 0;
	if (version < 0) {
		snprintf(err, errlen, "%s: schema version %d is not a wicket"
			 " ledger's (left as it is)", path, version);
		return -EPROTO;
	}
	if (version > 0)
		log_notice("%s: migrating from schema %d to %d", path, version,
			   LEDGER_SCHEMA_VERSION);
	t0 = mono_ms();
	/* The rebuild's copy holds the same rows as the old table, so zeroing
	 * the old table's pages as they are freed (Debian builds SQLite with
	 * secure_delete on) protects nothing and writes the whole table once
	 * more; the incremental vacuum below cuts them off the file. */
	if (pragma_int(db, "PRAGMA secure_delete", &secure) != SQLITE_OK)
		secure = -1;
	if (secure > 0)
		exec(db, "PRAGMA secure_delete = OFF;", err, errlen, path);
	next_ping = t0 + PING_MS;
	sqlite3_progress_handler(db, 100000, migrate_alive, &next_ping);
	rc = migrate_steps(db, version, path, err, errlen);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	if (secure > 0) {
		char sql[48];

		snprintf(sql, sizeof(sql), "PRAGMA secure_delete = %d;", secure);
		sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	if (rc < 0)
		return rc;
	if (version > 0)
		log_notice("%s: migrated from schema %d to %d in %lld ms", path,
			   version, LEDGER_SCHEMA_VERSION,
			   (long long)(mono_ms() - t0));
	return 0;
}

/* The migration proper: one transaction, then giving space back. */
static int migrate_steps(sqlite3 *db, int version, const char *path,
			 char *err, size_t errlen)
{
	int rc;

	if (version == 0 && exec(db, "PRAGMA auto_vacuum = INCREMENTAL;", err,
				 errlen, path) < 0)
		return -EIO;
	rc = exec(db, "BEGIN IMMEDIATE;", err, errlen, path);
	if (rc == 0 && version == 1)
		rc = exec(db, "ALTER TABLE passage RENAME TO passage_v1;"
			  "UPDATE sqlite_sequence SET name = 'passage_v1'"
			  " WHERE name = 'passage';"
			  "DROP INDEX IF EXISTS passage_undelivered;"
			  "DROP INDEX IF EXISTS passage_time;",
			  err, errlen, path);
	if (rc == 0 && version <= 1)
		rc = exec(db, schema_v4, err, errlen, path);
	if (rc == 0 && version == 1)
		rc = exec(db, migrate_v1, err, errlen, path);
	if (rc == 0 && version == 2)
		rc = exec(db, migrate_v3, err, errlen, path);
	if (rc == 0 && (version == 2 || version == 3))
		rc = exec(db, migrate_v4, err, errlen, path);
	if (rc == 0)
		rc = exec(db, "PRAGMA user_version = " STR(LEDGER_SCHEMA_VERSION)
			  "; COMMIT;", err, errlen, path);
	if (rc < 0) {
		sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
		if (version > 0) {
			/* say which step failed; the file is as it was */
			char why[512];

			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "%s (migrating from schema %d to %d;"
				 " left as it is)", why, version,
				 LEDGER_SCHEMA_VERSION);
		}
		return rc;
	}
	if (version == 1) {
		/* auto_vacuum only changes with a VACUUM */
		exec(db, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM;", err,
		     errlen, path);
	} else if (version > 1) {
		/* the old table's pages go back to the file system, and the
		 * WAL that carried the copy back to nothing */
		exec(db, "PRAGMA incremental_vacuum;"
		     " PRAGMA wal_checkpoint(TRUNCATE);", err, errlen, path);
	}
	return 0;
}

static sqlite3 *open_db(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX, NULL);

	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	sqlite3_extended_result_codes(db, 1);
	return db;
}

/* --- writer thread -------------------------------------------------------- */

static void post_done(struct ledger *lg, uint64_t tag, int64_t seq,
		      enum ledger_status st)
{
	if (lg->n_done == lg->cap_done) {
		size_t cap = lg->cap_done ? lg->cap_done * 2 : 256;
		struct done_rec *d = realloc(lg->done, cap * sizeof(*d));

		if (d == NULL)
			return;	/* the loop misses one callback; the row is safe */
		lg->done = d;
		lg->cap_done = cap;
	}
	lg->done[lg->n_done++] = (struct done_rec){ tag, seq, st };
}

/* lg->mu held.  Without memory the mark is lost: the event is sent again
 * after a restart, which at-least-once delivery allows. */
static void add_mark(struct ledger *lg, int64_t seq)
{
	if (lg->n_marks == lg->cap_marks) {
		size_t cap = lg->cap_marks ? lg->cap_marks * 2 : 64;
		int64_t *m = realloc(lg->marks, cap * sizeof(*m));

		if (m == NULL)
			return;
		lg->marks = m;
		lg->cap_marks = cap;
	}
	lg->marks[lg->n_marks++] = seq;
}

static void wake_loop(struct ledger *lg)
{
	uint64_t one = 1;

	if (write(lg->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("ledger: waking the loop: %s", strerror(errno));
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int insert(struct ledger *lg, struct ledger_event *ev)
{
	sqlite3_stmt *st = lg->ins;
	int rc;

	sqlite3_bind_int64(st, 1, ev->time_ms);
	sqlite3_bind_text(st, 2, ledger_kind_name(ev->kind), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, ev->priority);
	bind_text(st, 4, ev->lane);
	bind_text(st, 5, ev->direction);
	bind_text(st, 6, ev->has_credential ? ev->credential : NULL);
	bind_text(st, 7, ev->person);
	if (ev->has_temperature)
		sqlite3_bind_double(st, 8, ev->temperature_c);
	else
		sqlite3_bind_null(st, 8);
	bind_text(st, 9, ev->decision);
	bind_text(st, 10, ev->reason);
	sqlite3_bind_int(st, 11, ev->alarm);
	bind_text(st, 12, ev->device);
	bind_text(st, 13, ev->state);
	bind_text(st, 14, ev->message);
	bind_text(st, 15, ev->detail);
	bind_text(st, 16, ev->rule);
	if (ev->rules_version > 0)
		sqlite3_bind_int64(st, 17, ev->rules_version);
	else
		sqlite3_bind_null(st, 17);
	bind_text(st, 18, ev->person_id);
	bind_text(st, 19, ev->household_id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	ev->seq = sqlite3_last_insert_rowid(lg->wdb);
	return 0;
}

/* One transaction: n events from the head of the ring, and the marks. */
static int write_batch(struct ledger *lg, size_t n, const int64_t *marks,
		       size_t n_marks)
{
	if (sqlite3_exec(lg->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -EIO;
	for (size_t i = 0; i < n; i++)
		if (insert(lg, &lg->ring[(lg->head + i) % lg->cap].ev) < 0)
			goto fail;
	for (size_t i = 0; i < n_marks; i++) {
		sqlite3_bind_int64(lg->mark, 1, marks[i]);
		if (sqlite3_step(lg->mark) != SQLITE_DONE) {
			sqlite3_reset(lg->mark);
			goto fail;
		}
		sqlite3_reset(lg->mark);
	}
	if (sqlite3_exec(lg->wdb, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
fail:
	snprintf(lg->st.error, sizeof(lg->st.error), "%s",
		 sqlite3_errmsg(lg->wdb));
	sqlite3_exec(lg->wdb, "ROLLBACK", NULL, NULL, NULL);
	return -EIO;
}

/* An event the writer makes itself (report, outbox notice), committed at
 * once.  Returns its seq, or 0. */
static int64_t write_own(struct ledger *lg, struct ledger_event *ev)
{
	if (sqlite3_exec(lg->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return 0;
	if (insert(lg, ev) < 0 ||
	    sqlite3_exec(lg->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(lg->wdb, "ROLLBACK", NULL, NULL, NULL);
		return 0;
	}
	return ev->seq;
}

static int64_t query_int(sqlite3 *db, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Run sql (binding ?1 = a) in its own short transaction, and with repeat
 * again until it changes no row: a LIMITed statement so that the loop's
 * readers and the next batch never wait long.  Returns the rows changed. */
static int64_t run_sql(struct ledger *lg, const char *sql, int64_t a,
		       int repeat)
{
	sqlite3_stmt *st;
	int64_t total = 0;
	int n;

	if (sqlite3_prepare_v2(lg->wdb, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	do {
		sqlite3_bind_int64(st, 1, a);
		n = 0;
		if (sqlite3_exec(lg->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			break;
		if (sqlite3_step(st) == SQLITE_DONE)
			n = sqlite3_changes(lg->wdb);
		sqlite3_reset(st);
		if (sqlite3_exec(lg->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			sqlite3_exec(lg->wdb, "ROLLBACK", NULL, NULL, NULL);
			break;
		}
		total += n;
	} while (repeat && n > 0);
	sqlite3_finalize(st);
	return total;
}

static void maintain(struct ledger *lg, int64_t now)
{
	int64_t pruned, over, dropped = 0, first, last;
	struct ledger_event ev;
	struct json j;

	/* retention: whatever the broker has (or the outbox gave up on) */
	pruned = run_sql(lg,
		"DELETE FROM event WHERE seq IN (SELECT seq FROM event"
		" WHERE time_ms < ?1 AND delivered != 0 LIMIT 1000)",
		now - lg->lim.retention_days * 86400000LL, 1);
	if (pruned > 0) {
		sqlite3_exec(lg->wdb, "PRAGMA incremental_vacuum", NULL, NULL,
			     NULL);
		log_info("ledger: pruned %lld events older than %ld days",
			 (long long)pruned, lg->lim.retention_days);
	}
	/* outbox bounds: routine events only, oldest first */
	first = query_int(lg->wdb, "SELECT min(seq) FROM event"
			  " WHERE delivered = 0 AND priority = 0", 0, 0);
	dropped += run_sql(lg,
		"UPDATE event SET delivered = 2 WHERE seq IN (SELECT seq FROM"
		" event WHERE delivered = 0 AND priority = 0 AND time_ms < ?1"
		" LIMIT 1000)",
		now - lg->lim.outbox_max_age_days * 86400000LL, 1);
	over = query_int(lg->wdb, "SELECT count(*) FROM event"
			 " WHERE delivered = 0 AND priority = 0", 0, 0) -
	       lg->lim.outbox_max_events;
	while (over > 0) {
		int64_t n = run_sql(lg,
			"UPDATE event SET delivered = 2 WHERE seq IN (SELECT seq"
			" FROM event WHERE delivered = 0 AND priority = 0"
			" ORDER BY seq LIMIT ?1)", over < 1000 ? over : 1000, 0);

		if (n <= 0)
			break;
		dropped += n;
		over -= n;
	}
	if (dropped <= 0)
		return;
	last = query_int(lg->wdb, "SELECT max(seq) FROM event WHERE delivered = 2"
			 " AND priority = 0 AND seq >= ?1", first, 0);
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_OUTBOX;
	ev.priority = 1;
	ev.time_ms = now;
	json_begin(&j);
	json_int(&j, "dropped", dropped);
	json_int(&j, "first_seq", first);
	json_int(&j, "last_seq", last);
	snprintf(ev.detail, sizeof(ev.detail), "%s", json_end(&j));
	log_warn("ledger: the outbox dropped %lld routine events (seq %lld..%lld)",
		 (long long)dropped, (long long)first, (long long)last);
	ev.seq = write_own(lg, &ev);
	if (ev.seq > 0) {
		pthread_mutex_lock(&lg->mu);
		post_done(lg, 0, ev.seq, LEDGER_COMMITTED);
		pthread_mutex_unlock(&lg->mu);
	}
}

static void report(struct ledger *lg, const struct report_req *r)
{
	static const char *const hours_sql =
		/* the local hour of each passage, so a day with a clock
		 * change still has its hours right */
		"SELECT CAST(strftime('%H', time_ms / 1000, 'unixepoch',"
		" 'localtime') AS INTEGER), direction, count(*) FROM event"
		" WHERE kind = 'passage' AND decision = 'allow'"
		" AND time_ms >= ?1 AND time_ms < ?2 GROUP BY 1, 2";
	static const char *const denied_sql =
		"SELECT reason, count(*) FROM event WHERE kind = 'passage'"
		" AND decision = 'deny' AND time_ms >= ?1 AND time_ms < ?2"
		" GROUP BY 1 ORDER BY 1";
	static const char *const audit_sql =
		"SELECT state, count(*) FROM event WHERE kind = 'audit'"
		" AND (state IS NULL OR state NOT IN ('applied', 'refused'))"
		" AND time_ms >= ?1 AND time_ms < ?2 GROUP BY 1 ORDER BY 1";
	int64_t in[25] = { 0 }, out[25] = { 0 };
	struct ledger_event ev;
	struct json j, h, d, a;
	sqlite3_stmt *st;
	int exists;

	/* one report per day: the day is in `reason` */
	if (sqlite3_prepare_v2(lg->wdb, "SELECT 1 FROM event WHERE kind ="
			       " 'report' AND reason = ?1", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, r->day, -1, SQLITE_STATIC);
	exists = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (exists)
		return;
	if (sqlite3_prepare_v2(lg->wdb, hours_sql, -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, r->start);
	sqlite3_bind_int64(st, 2, r->end);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t hr = sqlite3_column_int64(st, 0);
		const unsigned char *dir = sqlite3_column_text(st, 1);

		if (hr < 0 || hr > 24 || dir == NULL)
			continue;
		if (strcmp((const char *)dir, "in") == 0)
			in[hr] += sqlite3_column_int64(st, 2);
		else
			out[hr] += sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	json_begin(&h);
	for (int i = 0; i < 24; i++) {
		char k[8], v[48];

		snprintf(k, sizeof(k), "%02d", i);
		if (in[i] == 0 && out[i] == 0)
			continue;	/* quiet hours are left out */
		snprintf(v, sizeof(v), "[%lld,%lld]", (long long)in[i],
			 (long long)out[i]);
		json_raw(&h, k, v);
	}
	json_begin(&d);
	if (sqlite3_prepare_v2(lg->wdb, denied_sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, r->start);
		sqlite3_bind_int64(st, 2, r->end);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *reason = sqlite3_column_text(st, 0);

			json_int(&d, reason ? (const char *)reason : "?",
				 sqlite3_column_int64(st, 1));
		}
		sqlite3_finalize(st);
	}
	json_begin(&j);
	json_str(&j, "day", r->day);
	json_raw(&j, "passages_per_hour", json_end(&h) ? h.buf : "{}");
	json_raw(&j, "denied", json_end(&d) ? d.buf : "{}");
	json_int(&j, "allowed", query_int(lg->wdb,
		"SELECT count(*) FROM event WHERE kind = 'passage' AND"
		" decision = 'allow' AND time_ms >= ?1 AND time_ms < ?2",
		r->start, r->end));
	json_int(&j, "fever_alarms", query_int(lg->wdb,
		"SELECT count(*) FROM event WHERE kind = 'alarm' AND"
		" reason = 'fever' AND time_ms >= ?1 AND time_ms < ?2",
		r->start, r->end));
	json_int(&j, "quarantine_exits_refused", query_int(lg->wdb,
		"SELECT count(*) FROM event WHERE kind = 'passage' AND"
		" direction = 'out' AND decision = 'deny' AND reason = 'quarantine_exit'"
		" AND time_ms >= ?1 AND time_ms < ?2", r->start, r->end));
	json_int(&j, "device_faults", query_int(lg->wdb,
		"SELECT count(*) FROM event WHERE kind = 'device' AND"
		" state = 'fault' AND time_ms >= ?1 AND time_ms < ?2",
		r->start, r->end));
	/* remote administration: applied and refused always, the rarer
	 * results (rolled_back, unchanged, done) when there were any */
	json_begin(&a);
	json_int(&a, "applied", query_int(lg->wdb,
		"SELECT count(*) FROM event WHERE kind = 'audit' AND"
		" state = 'applied' AND time_ms >= ?1 AND time_ms < ?2",
		r->start, r->end));
	json_int(&a, "refused", query_int(lg->wdb,
		"SELECT count(*) FROM event WHERE kind = 'audit' AND"
		" state = 'refused' AND time_ms >= ?1 AND time_ms < ?2",
		r->start, r->end));
	if (sqlite3_prepare_v2(lg->wdb, audit_sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, r->start);
		sqlite3_bind_int64(st, 2, r->end);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *res = sqlite3_column_text(st, 0);

			json_int(&a, res ? (const char *)res : "?",
				 sqlite3_column_int64(st, 1));
		}
		sqlite3_finalize(st);
	}
	json_raw(&j, "audit", json_end(&a) ? a.buf : "{}");
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_REPORT;
	ev.priority = 1;
	ev.time_ms = r->end;
	snprintf(ev.reason, sizeof(ev.reason), "%s", r->day);
	if (json_end(&j) == NULL || j.len >= sizeof(ev.detail)) {
		log_err("ledger: the report for %s does not fit", r->day);
		return;
	}
	memcpy(ev.detail, j.buf, j.len + 1);
	ev.seq = write_own(lg, &ev);
	if (ev.seq > 0) {
		log_notice("ledger: daily report for %s stored", r->day);
		pthread_mutex_lock(&lg->mu);
		post_done(lg, 0, ev.seq, LEDGER_COMMITTED);
		pthread_mutex_unlock(&lg->mu);
	}
}

static int has_work(const struct ledger *lg)
{
	return lg->len > 0 || lg->n_marks > 0 || lg->maintain ||
	       lg->n_reports > 0;
}

static void *writer(void *arg)
{
	struct ledger *lg = arg;
	int64_t retry_at = 0, gap = RETRY_MIN_MS;
	int64_t *marks = NULL;
	size_t cap_marks = 0;

	pthread_mutex_lock(&lg->mu);
	for (;;) {
		size_t n, n_marks;
		int rc, do_maintain;
		int64_t now_arg;
		struct report_req reqs[4];
		size_t n_reqs;

		atomic_store(&lg->beat_ms, mono_ms());
		while (!lg->stop && (!has_work(lg) ||
				     (lg->st.failing && mono_ms() < retry_at))) {
			/* at least every BEAT_MS, for the watchdog */
			int64_t now = mono_ms(), at = now + BEAT_MS;
			struct timespec ts;

			if (lg->st.failing && retry_at < at)
				at = retry_at > now ? retry_at : now;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			at -= now;
			ts.tv_sec += at / 1000;
			ts.tv_nsec += (at % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&lg->cv, &lg->mu, &ts);
			atomic_store(&lg->beat_ms, mono_ms());
		}
		if (lg->stop && !has_work(lg))
			break;
		n = lg->len < BATCH_MAX ? lg->len : BATCH_MAX;
		/* take the marks: swap buffers with the loop's side */
		{
			int64_t *t = lg->marks;
			size_t tcap = lg->cap_marks;

			n_marks = lg->n_marks;
			lg->marks = marks;
			lg->cap_marks = cap_marks;
			lg->n_marks = 0;
			marks = t;
			cap_marks = tcap;
		}
		do_maintain = lg->maintain;
		now_arg = lg->maintain_now;
		lg->maintain = 0;
		n_reqs = lg->n_reports;
		memcpy(reqs, lg->reports, n_reqs * sizeof(reqs[0]));
		lg->n_reports = 0;
		pthread_mutex_unlock(&lg->mu);

		rc = n || n_marks ? write_batch(lg, n, marks, n_marks) : 0;

		pthread_mutex_lock(&lg->mu);
		if (rc == 0) {
			for (size_t i = 0; i < n; i++) {
				struct qent *q = &lg->ring[lg->head];

				post_done(lg, q->tag, q->ev.seq,
					  q->held ? LEDGER_LATE : LEDGER_COMMITTED);
				lg->head = (lg->head + 1) % lg->cap;
			}
			lg->len -= n;
			lg->st.written += (int64_t)n;
			if (n || n_marks)
				lg->st.commits++;
			if (lg->st.failing)
				log_notice("ledger: writing again; %zu held events written",
					   n);
			lg->st.failing = 0;
			gap = RETRY_MIN_MS;
		} else {
			/* keep everything; say HELD once per event */
			for (size_t i = 0; i < lg->len; i++) {
				struct qent *q = &lg->ring[(lg->head + i) % lg->cap];

				if (!q->held) {
					q->held = 1;
					post_done(lg, q->tag, 0, LEDGER_HELD);
				}
			}
			if (!lg->st.failing)
				log_err("ledger: commit failed: %s; holding events in memory",
					lg->st.error);
			lg->st.failing = 1;
			retry_at = mono_ms() + gap;
			gap = gap * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : gap * 2;
			/* give the marks back (their order does not matter) */
			for (size_t i = 0; i < n_marks; i++)
				add_mark(lg, marks[i]);
			if (lg->stop)
				break;	/* that was the last try */
		}
		lg->st.held = (int64_t)lg->len;
		if (lg->n_done)
			wake_loop(lg);
		if (rc == 0 && (do_maintain || n_reqs)) {
			pthread_mutex_unlock(&lg->mu);
			if (do_maintain)
				maintain(lg, now_arg);
			for (size_t i = 0; i < n_reqs; i++)
				report(lg, &reqs[i]);
			pthread_mutex_lock(&lg->mu);
			if (lg->n_done)
				wake_loop(lg);
		} else if (rc != 0 && (do_maintain || n_reqs)) {
			lg->maintain |= do_maintain;
			for (size_t i = 0; i < n_reqs && lg->n_reports < 4; i++)
				lg->reports[lg->n_reports++] = reqs[i];
		}
	}
	if (lg->len > 0)
		log_err("ledger: stopping with %zu events not written: %s",
			lg->len, lg->st.error);
	pthread_mutex_unlock(&lg->mu);
	free(marks);
	return NULL;
}

/* --- loop side ------------------------------------------------------------- */

int ledger_open(const char *state_dir, const struct ledger_limits *lim,
		ledger_done_fn done, void *arg, struct ledger **out, char *err,
		size_t errlen)
{
	struct ledger *lg;
	char path[4096];
	int rc;

	*out = NULL;
	rc = fs_mkdirs(state_dir, 0750);
	if (rc < 0) {
		snprintf(err, errlen, "state_dir %s: %s", state_dir,
			 strerror(-rc));
		return rc;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir,
			     LEDGER_FILE) >= sizeof(path)) {
		snprintf(err, errlen, "state_dir %s: path too long", state_dir);
		return -ENAMETOOLONG;
	}
	lg = calloc(1, sizeof(*lg));
	if (lg == NULL)
		return -ENOMEM;
	lg->lim = *lim;
	lg->done_fn = done;
	lg->done_arg = arg;
	lg->cap = (size_t)lim->memory_queue + ALARM_RESERVE;
	lg->ring = calloc(lg->cap, sizeof(*lg->ring));
	lg->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&lg->mu, NULL);
	{
		/* the retry deadline is on CLOCK_MONOTONIC: so must the wait be */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&lg->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (lg->ring == NULL || lg->efd < 0) {
		snprintf(err, errlen, "ledger: out of memory");
		ledger_close(lg);
		return -ENOMEM;
	}
	lg->wdb = open_db(path, err, errlen);
	if (lg->wdb == NULL) {
		ledger_close(lg);
		return -EIO;
	}
	rc = migrate(lg->wdb, path, err, errlen);
	if (rc == 0)
		rc = exec(lg->wdb, "PRAGMA journal_mode = WAL;"
			  " PRAGMA synchronous = FULL;", err, errlen, path);
	if (rc == 0 && (lg->rdb = open_db(path, err, errlen)) == NULL)
		rc = -EIO;
	if (rc == 0 && (
	    sqlite3_prepare_v2(lg->wdb,
		"INSERT INTO event (time_ms, kind, priority, lane, direction,"
		" credential, person, temperature, decision, reason, alarm,"
		" device, state, message, detail, rule, rules_version, person_id,"
		" household_id)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		-1,
		&lg->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(lg->wdb,
		"UPDATE event SET delivered = 1 WHERE seq = ?", -1, &lg->mark,
		NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(lg->rdb,
		"SELECT seq, time_ms, kind, priority, lane, direction,"
		" credential, person, temperature, decision, reason, alarm,"
		" device, state, message, detail, rule, rules_version, person_id,"
		" household_id FROM event"
		" WHERE delivered = 0 AND priority = ? AND seq > ?"
		" ORDER BY seq LIMIT 1", -1, &lg->next, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(lg->rdb,
		"SELECT count(*) FROM event WHERE delivered = 0", -1,
		&lg->count, NULL) != SQLITE_OK)) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(lg->wdb));
		rc = -EIO;
	}
	if (rc == 0) {
		atomic_store(&lg->beat_ms, mono_ms());
		rc = -pthread_create(&lg->thread, NULL, writer, lg);
		lg->started = rc == 0;
		if (rc < 0)
			snprintf(err, errlen, "ledger: writer thread: %s",
				 strerror(-rc));
	}
	if (rc < 0) {
		ledger_close(lg);
		return rc;
	}
	*out = lg;
	return 0;
}

void ledger_close(struct ledger *lg)
{
	if (lg == NULL)
		return;
	if (lg->started) {
		pthread_mutex_lock(&lg->mu);
		lg->stop = 1;
		pthread_cond_signal(&lg->cv);
		pthread_mutex_unlock(&lg->mu);
		pthread_join(lg->thread, NULL);
		/* hand the loop what the writer finished on its way out */
		ledger_dispatch(lg);
	}
	sqlite3_finalize(lg->ins);
	sqlite3_finalize(lg->mark);
	sqlite3_finalize(lg->next);
	sqlite3_finalize(lg->count);
	sqlite3_close(lg->rdb);
	sqlite3_close(lg->wdb);
	if (lg->efd >= 0)
		close(lg->efd);
	pthread_cond_destroy(&lg->cv);
	pthread_mutex_destroy(&lg->mu);
	free(lg->ring);
	free(lg->marks);
	free(lg->done);
	free(lg);
}

int ledger_submit(struct ledger *lg, const struct ledger_event *ev,
		  uint64_t tag)
{
	struct qent *q;
	size_t limit;
	int prio;

	/* an audit entry is alarm-class whatever the caller said: the outbox
	 * bounds must never drop the record of a remote change */
	prio = ev->kind == LK_AUDIT ? 1 : ev->priority;
	pthread_mutex_lock(&lg->mu);
	limit = prio > 0 ? lg->cap : (size_t)lg->lim.memory_queue;
	if (lg->len >= limit) {
		lg->st.lost++;
		pthread_mutex_unlock(&lg->mu);
		return -ENOBUFS;
	}
	q = &lg->ring[(lg->head + lg->len) % lg->cap];
	q->ev = *ev;
	q->ev.seq = 0;
	q->ev.priority = prio;
	q->tag = tag;
	q->held = 0;
	lg->len++;
	lg->st.held = (int64_t)lg->len;
	if (lg->st.failing) {
		/* the writer is waiting out its back-off: say HELD now, so the
		 * gate does not wait for the next retry to act */
		q->held = 1;
		post_done(lg, tag, 0, LEDGER_HELD);
		wake_loop(lg);
	} else {
		pthread_cond_signal(&lg->cv);
	}
	pthread_mutex_unlock(&lg->mu);
	return 0;
}

int ledger_event_fd(const struct ledger *lg)
{
	return lg->efd;
}

void ledger_dispatch(struct ledger *lg)
{
	struct done_rec *d;
	size_t n;
	uint64_t v;

	if (read(lg->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("ledger: %s", strerror(errno));
	pthread_mutex_lock(&lg->mu);
	d = lg->done;
	n = lg->n_done;
	lg->done = NULL;
	lg->n_done = lg->cap_done = 0;
	pthread_mutex_unlock(&lg->mu);
	for (size_t i = 0; i < n; i++)
		lg->done_fn(lg->done_arg, d[i].tag, d[i].seq, d[i].st);
	free(d);
}

void ledger_stats(struct ledger *lg, struct ledger_stats *out)
{
	pthread_mutex_lock(&lg->mu);
	*out = lg->st;
	pthread_mutex_unlock(&lg->mu);
	out->heartbeat_ms = atomic_load(&lg->beat_ms);
}

void ledger_mark_delivered(struct ledger *lg, int64_t seq)
{
	pthread_mutex_lock(&lg->mu);
	add_mark(lg, seq);
	pthread_cond_signal(&lg->cv);
	pthread_mutex_unlock(&lg->mu);
}

void ledger_maintain(struct ledger *lg, int64_t now_ms)
{
	pthread_mutex_lock(&lg->mu);
	lg->maintain = 1;
	lg->maintain_now = now_ms;
	pthread_cond_signal(&lg->cv);
	pthread_mutex_unlock(&lg->mu);
}

void ledger_report(struct ledger *lg, const char *day, int64_t start_ms,
		   int64_t end_ms)
{
	pthread_mutex_lock(&lg->mu);
	if (lg->n_reports < 4) {
		struct report_req *r = &lg->reports[lg->n_reports++];

		snprintf(r->day, sizeof(r->day), "%s", day);
		r->start = start_ms;
		r->end = end_ms;
		pthread_cond_signal(&lg->cv);
	}
	pthread_mutex_unlock(&lg->mu);
}

static void col_text(sqlite3_stmt *st, int col, char *dst, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

int ledger_next_undelivered(struct ledger *lg, int priority, int64_t after,
			    struct ledger_event *ev)
{
	sqlite3_stmt *st = lg->next;
	char kind[16];
	int rc;

	sqlite3_bind_int(st, 1, priority);
	sqlite3_bind_int64(st, 2, after);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(ev, 0, sizeof(*ev));
		ev->seq = sqlite3_column_int64(st, 0);
		ev->time_ms = sqlite3_column_int64(st, 1);
		col_text(st, 2, kind, sizeof(kind));
		for (int k = 0; k < LK_KINDS; k++)
			if (strcmp(kind, kind_names[k]) == 0)
				ev->kind = (enum ledger_kind)k;
		ev->priority = sqlite3_column_int(st, 3);
		col_text(st, 4, ev->lane, sizeof(ev->lane));
		col_text(st, 5, ev->direction, sizeof(ev->direction));
		ev->has_credential = sqlite3_column_type(st, 6) != SQLITE_NULL;
		col_text(st, 6, ev->credential, sizeof(ev->credential));
		col_text(st, 7, ev->person, sizeof(ev->person));
		ev->has_temperature = sqlite3_column_type(st, 8) != SQLITE_NULL;
		ev->temperature_c = sqlite3_column_double(st, 8);
		col_text(st, 9, ev->decision, sizeof(ev->decision));
		col_text(st, 10, ev->reason, sizeof(ev->reason));
		ev->alarm = sqlite3_column_int(st, 11);
		col_text(st, 12, ev->device, sizeof(ev->device));
		col_text(st, 13, ev->state, sizeof(ev->state));
		col_text(st, 14, ev->message, sizeof(ev->message));
		col_text(st, 15, ev->detail, sizeof(ev->detail));
		col_text(st, 16, ev->rule, sizeof(ev->rule));
		ev->rules_version = sqlite3_column_int64(st, 17);
		col_text(st, 18, ev->person_id, sizeof(ev->person_id));
		col_text(st, 19, ev->household_id, sizeof(ev->household_id));
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : -EIO;
	}
	sqlite3_reset(st);
	return rc;
}

int64_t ledger_count_undelivered(struct ledger *lg)
{
	int64_t n = -1;

	if (sqlite3_step(lg->count) == SQLITE_ROW)
		n = sqlite3_column_int64(lg->count, 0);
	sqlite3_reset(lg->count);
	return n;
}

int ledger_history(struct ledger *lg, int64_t from_ms, int64_t to_ms,
		   ledger_history_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(lg->rdb,
		"SELECT person_id, household_id, direction, time_ms FROM event"
		" WHERE kind = 'passage' AND decision = 'allow'"
		" AND (person_id IS NOT NULL OR household_id IS NOT NULL)"
		" AND time_ms >= ?1 AND time_ms < ?2"
		" ORDER BY time_ms", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		log_err("ledger: reading the passage history: %s",
			sqlite3_errmsg(lg->rdb));
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *p = sqlite3_column_text(st, 0);
		const unsigned char *h = sqlite3_column_text(st, 1);
		const unsigned char *d = sqlite3_column_text(st, 2);

		fn(arg, p ? (const char *)p : "", h ? (const char *)h : "",
		   d ? (const char *)d : "", sqlite3_column_int64(st, 3));
	}
	if (rc != SQLITE_DONE)
		log_err("ledger: reading the passage history: %s",
			sqlite3_errmsg(lg->rdb));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}
