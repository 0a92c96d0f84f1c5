/* ledger: schema and migration (v1, v2 and v3 files to v4), seq never
 * repeating, group commit through the writer thread, outbox order,
 * retention, outbox bounds, the daily report, audit entries and their
 * MQTT payload, and files that are not ours. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "jsontree.h"
#include "ledger.h"
#include "outbox.h"

static char dir[64];

static struct {
	int n;
	uint64_t tag[4096];
	int64_t seq[4096];
	enum ledger_status st[4096];
} got;

static const struct ledger_limits lim = {
	.retention_days = 90,
	.outbox_max_events = 100,
	.outbox_max_age_days = 30,
	.memory_queue = 1000,
};

static void on_done(void *arg, uint64_t tag, int64_t seq,
		    enum ledger_status st)
{
	(void)arg;
	if (got.n < 4096) {
		got.tag[got.n] = tag;
		got.seq[got.n] = seq;
		got.st[got.n] = st;
	}
	got.n++;
}

/* Run the loop side until `want` completions arrived (5 s at most). */
static void pump(struct ledger *lg, int want)
{
	struct pollfd p = { .fd = ledger_event_fd(lg), .events = POLLIN };

	for (int i = 0; i < 500 && got.n < want; i++) {
		if (poll(&p, 1, 10) > 0)
			ledger_dispatch(lg);
	}
	assert_true(got.n >= want);
}

static int setup(void **state)
{
	(void)state;
	/* the report counts local hours; the expectations are in UTC */
	setenv("TZ", "UTC", 1);
	tzset();
	snprintf(dir, sizeof(dir), "/tmp/wicket-test-ledger-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void sub(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static struct ledger *open_at(const char *d)
{
	struct ledger *lg = NULL;
	char err[256];
	int rc = ledger_open(d, &lim, on_done, NULL, &lg, err, sizeof(err));

	if (rc < 0)
		print_message("ledger_open: %s\n", err);
	assert_int_equal(rc, 0);
	memset(&got, 0, sizeof(got));
	return lg;
}

static struct ledger_event passage(const char *cred, double t, int64_t when)
{
	struct ledger_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_PASSAGE;
	ev.time_ms = when;
	snprintf(ev.lane, sizeof(ev.lane), "main");
	snprintf(ev.direction, sizeof(ev.direction), "in");
	ev.has_credential = cred != NULL;
	snprintf(ev.credential, sizeof(ev.credential), "%s", cred ? cred : "");
	ev.has_temperature = t > 0;
	ev.temperature_c = t;
	snprintf(ev.decision, sizeof(ev.decision), "allow");
	snprintf(ev.reason, sizeof(ev.reason), "known_credential");
	return ev;
}

static int64_t sql_int(const char *db, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void sql_exec(const char *db, const char *sql)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* The first column of the first row as text (quote()d by the caller if
 * types matter); malloc'd, "" if no row. */
static char *sql_text(const char *db, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	char *v;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	else
		v = strdup("");
	assert_non_null(v);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static int64_t now_ms(void)
{
	return (int64_t)time(NULL) * 1000;
}

static void test_schema_and_seq(void **state)
{
	char d[128], db[160];
	struct ledger *lg;
	struct ledger_event ev = passage("1001", 36.6, now_ms()), out;

	(void)state;
	sub(d, sizeof(d), "a/b/state");	/* created with its parents */
	lg = open_at(d);
	assert_int_equal(ledger_submit(lg, &ev, 11), 0);
	ev = passage(NULL, 38.0, now_ms());
	assert_int_equal(ledger_submit(lg, &ev, 12), 0);
	ev = passage("7", -1, now_ms());
	assert_int_equal(ledger_submit(lg, &ev, 13), 0);
	pump(lg, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(got.tag[i], 11 + i);
		assert_int_equal(got.seq[i], 1 + i);
		assert_int_equal(got.st[i], LEDGER_COMMITTED);
	}
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	assert_int_equal(sql_int(db, "PRAGMA user_version"), LEDGER_SCHEMA_VERSION);
	assert_int_equal(sql_int(db, "PRAGMA auto_vacuum"), 2);	/* incremental */
	assert_int_equal(sql_int(db, "SELECT count(*) FROM passage WHERE credential IS NULL"), 1);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM passage WHERE temperature IS NULL"), 1);

	/* outbox order: an alarm overtakes the passages */
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_ALARM;
	ev.priority = 1;
	ev.time_ms = now_ms();
	snprintf(ev.reason, sizeof(ev.reason), "fever");
	assert_int_equal(ledger_submit(lg, &ev, 14), 0);
	pump(lg, 4);
	assert_int_equal(ledger_next_undelivered(lg, 1, 0, &out), 1);
	assert_int_equal(out.seq, 4);
	assert_int_equal(out.kind, LK_ALARM);
	assert_int_equal(ledger_next_undelivered(lg, 0, 0, &out), 1);
	assert_int_equal(out.seq, 1);
	assert_string_equal(out.credential, "1001");
	assert_true(out.has_temperature && out.temperature_c == 36.6);
	assert_int_equal(ledger_count_undelivered(lg), 4);
	/* marks ride along with the next transaction */
	ledger_mark_delivered(lg, 1);
	ev = passage("1002", 36.1, now_ms());
	assert_int_equal(ledger_submit(lg, &ev, 15), 0);
	pump(lg, 5);
	assert_int_equal(ledger_next_undelivered(lg, 0, 0, &out), 1);
	assert_int_equal(out.seq, 2);
	assert_false(out.has_credential);
	assert_int_equal(ledger_next_undelivered(lg, 0, 5, &out), 0);
	assert_int_equal(ledger_count_undelivered(lg), 4);
	ledger_close(lg);

	/* a restart continues the sequence, even after the newest rows are gone */
	sql_exec(db, "DELETE FROM event WHERE seq >= 2");
	lg = open_at(d);
	ev = passage("1003", 36.1, now_ms());
	assert_int_equal(ledger_submit(lg, &ev, 1), 0);
	pump(lg, 1);
	assert_int_equal(got.seq[0], 6);
	ledger_close(lg);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE seq = 6"), 1);
}

static void test_group_commit(void **state)
{
	char d[128];
	struct ledger *lg;
	struct ledger_stats st;

	(void)state;
	sub(d, sizeof(d), "group");
	lg = open_at(d);
	for (int i = 0; i < 900; i++) {
		struct ledger_event ev = passage("1", 36.5, now_ms());

		assert_int_equal(ledger_submit(lg, &ev, (uint64_t)i + 1), 0);
	}
	pump(lg, 900);
	for (int i = 0; i < 900; i++) {
		assert_int_equal(got.tag[i], i + 1);	/* in order */
		assert_int_equal(got.seq[i], i + 1);
	}
	ledger_stats(lg, &st);
	assert_int_equal(st.written, 900);
	/* fewer transactions than events: they were grouped */
	assert_true(st.commits < 900);
	assert_int_equal(st.failing, 0);
	ledger_close(lg);
}

static void test_migrate_v1(void **state)
{
	char d[128], db[160];
	struct ledger *lg;
	struct ledger_event ev;

	(void)state;
	sub(d, sizeof(d), "v1");
	mkdir(d, 0700);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	sql_exec(db,
		"CREATE TABLE passage (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
		" time_ms INTEGER NOT NULL, lane TEXT NOT NULL,"
		" direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),"
		" credential TEXT, temperature REAL,"
		" decision TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),"
		" reason TEXT NOT NULL, alarm INTEGER NOT NULL DEFAULT 0,"
		" delivered INTEGER NOT NULL DEFAULT 0);"
		"CREATE INDEX passage_undelivered ON passage(seq) WHERE delivered = 0;"
		"CREATE INDEX passage_time ON passage(time_ms);"
		"INSERT INTO passage (time_ms, lane, direction, credential, temperature,"
		" decision, reason, delivered) VALUES"
		" (1, 'main', 'in', '1001', 36.5, 'allow', 'known_credential', 1),"
		" (2, 'main', 'in', '7777', 36.6, 'deny', 'unknown_credential', 0),"
		" (3, 'main', 'in', '1002', 36.7, 'allow', 'known_credential', 0);"
		"DELETE FROM passage WHERE seq = 3;"
		"PRAGMA user_version = 1;");
	lg = open_at(d);
	assert_int_equal(sql_int(db, "PRAGMA user_version"), LEDGER_SCHEMA_VERSION);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE kind = 'passage'"), 2);
	assert_int_equal(sql_int(db, "SELECT delivered FROM passage WHERE seq = 2"), 0);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'passage_v1'"), 0);
	/* seq 3 was used in v1: the next one is 4 */
	ev = passage("1003", 36.2, now_ms());
	assert_int_equal(ledger_submit(lg, &ev, 1), 0);
	pump(lg, 1);
	assert_int_equal(got.seq[0], 4);
	ledger_close(lg);
}

/* v2 -> v4: the columns of who and what decided are added; rows stay */
static void test_migrate_v2(void **state)
{
	char d[128], db[160];
	struct ledger *lg;
	struct ledger_event ev;

	(void)state;
	sub(d, sizeof(d), "v2");
	mkdir(d, 0700);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	sql_exec(db,
		"CREATE TABLE event (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
		" time_ms INTEGER NOT NULL, kind TEXT NOT NULL, priority INTEGER"
		" NOT NULL DEFAULT 0, lane TEXT, direction TEXT, credential TEXT,"
		" person TEXT, temperature REAL, decision TEXT, reason TEXT,"
		" alarm INTEGER NOT NULL DEFAULT 0, device TEXT, state TEXT,"
		" message TEXT, detail TEXT, delivered INTEGER NOT NULL DEFAULT 0);"
		"CREATE VIEW passage AS SELECT seq, time_ms, lane, direction,"
		" credential, person, temperature, decision, reason, alarm, delivered"
		" FROM event WHERE kind = 'passage';"
		"INSERT INTO event (time_ms, kind, lane, direction, credential,"
		" decision, reason, delivered) VALUES"
		" (1, 'passage', 'main', 'in', '1001', 'allow', 'known_credential', 1);"
		"PRAGMA user_version = 2;");
	lg = open_at(d);
	assert_int_equal(sql_int(db, "PRAGMA user_version"), LEDGER_SCHEMA_VERSION);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM passage WHERE rule IS NULL"
				     " AND person_id IS NULL AND rules_version IS NULL"), 1);
	ev = passage("1003", 36.2, now_ms());
	snprintf(ev.rule, sizeof(ev.rule), "resident");
	ev.rules_version = 7;
	snprintf(ev.person_id, sizeof(ev.person_id), "p-1003");
	snprintf(ev.household_id, sizeof(ev.household_id), "h1");
	assert_int_equal(ledger_submit(lg, &ev, 1), 0);
	pump(lg, 1);
	assert_int_equal(got.seq[0], 2);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM passage WHERE seq = 2 AND"
				     " rule = 'resident' AND rules_version = 7 AND"
				     " person_id = 'p-1003' AND household_id = 'h1'"), 1);
	ledger_close(lg);
}

/* The schema a v3 wicketd made: v2's table, the v3 columns added by
 * ALTER TABLE, the v3 view.  Kept here as that code wrote it. */
static const char schema_v3[] =
	"PRAGMA auto_vacuum = INCREMENTAL;"
	"CREATE TABLE event ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time_ms INTEGER NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN"
	"  ('passage', 'alarm', 'device', 'report', 'outbox')),"
	" priority INTEGER NOT NULL DEFAULT 0,"
	" lane TEXT,"
	" direction TEXT CHECK (direction IS NULL OR direction IN ('in', 'out')),"
	" credential TEXT,"
	" person TEXT,"
	" temperature REAL,"
	" decision TEXT CHECK (decision IS NULL OR decision IN ('allow', 'deny')),"
	" reason TEXT,"
	" alarm INTEGER NOT NULL DEFAULT 0,"
	" device TEXT,"
	" state TEXT,"
	" message TEXT,"
	" detail TEXT,"
	" delivered INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX event_outbox ON event(priority, seq) WHERE delivered = 0;"
	"CREATE INDEX event_time ON event(time_ms);"
	"CREATE VIEW passage AS SELECT seq, time_ms, lane, direction, credential,"
	" person, temperature, decision, reason, alarm, delivered"
	" FROM event WHERE kind = 'passage';"
	"ALTER TABLE event ADD COLUMN rule TEXT;"
	"ALTER TABLE event ADD COLUMN rules_version INTEGER;"
	"ALTER TABLE event ADD COLUMN person_id TEXT;"
	"ALTER TABLE event ADD COLUMN household_id TEXT;"
	"DROP VIEW passage;"
	"CREATE VIEW passage AS SELECT seq, time_ms, lane, direction, credential,"
	" person, person_id, household_id, temperature, decision, reason, rule,"
	" rules_version, alarm, detail, delivered"
	" FROM event WHERE kind = 'passage';"
	"PRAGMA user_version = 3;"
	"PRAGMA journal_mode = WAL;";

/* Every column of every row, types included, in seq order. */
#define ALL_ROWS \
	"SELECT group_concat(r, char(10)) FROM (SELECT quote(seq) || ',' ||" \
	" quote(time_ms) || ',' || quote(kind) || ',' || quote(priority) || ','" \
	" || quote(lane) || ',' || quote(direction) || ',' || quote(credential)" \
	" || ',' || quote(person) || ',' || quote(temperature) || ',' ||" \
	" quote(decision) || ',' || quote(reason) || ',' || quote(alarm) || ','" \
	" || quote(device) || ',' || quote(state) || ',' || quote(message) ||" \
	" ',' || quote(detail) || ',' || quote(delivered) || ',' || quote(rule)" \
	" || ',' || quote(rules_version) || ',' || quote(person_id) || ',' ||" \
	" quote(household_id) AS r FROM event ORDER BY seq)"
#define EXTRAS_SQL \
	"SELECT group_concat(type || ' ' || name || ' ' || tbl_name || ': ' ||" \
	" sql, char(10)) FROM (SELECT * FROM sqlite_master WHERE name IN" \
	" ('event_outbox', 'event_time', 'passage') ORDER BY name)"

/* v3 -> v4: the table is rebuilt for the new CHECK; every row, every seq,
 * the indexes, the view and the sequence survive, and 'audit' is taken. */
static void test_migrate_v3(void **state)
{
	char d[128], db[160];
	char *rows, *extras, *after;
	struct ledger *lg;
	struct ledger_event ev;

	(void)state;
	sub(d, sizeof(d), "v3");
	mkdir(d, 0700);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	sql_exec(db, schema_v3);
	sql_exec(db,
		"INSERT INTO event (time_ms, kind, priority, lane, direction,"
		" credential, person, temperature, decision, reason, alarm, rule,"
		" rules_version, person_id, household_id, delivered) VALUES"
		" (1000, 'passage', 0, 'main-in', 'in', '1001', 'ab12', 36.6,"
		"  'allow', 'resident', 0, 'resident', 5, 'p1', 'h1', 1),"
		" (2000, 'passage', 0, 'main-out', 'out', NULL, NULL, NULL,"
		"  'deny', 'quarantine_exit', 1, 'quarantine', 5, 'p2', NULL, 0),"
		" (3000, 'passage', 0, 'main-in', 'in', 'gone', NULL, 36.1,"
		"  'allow', 'visitor', 0, NULL, NULL, NULL, NULL, 2);"
		"INSERT INTO event (time_ms, kind, priority, lane, reason, state,"
		" person, rule, message, detail) VALUES (2000, 'alarm', 1,"
		" 'main-out', 'quarantine_exit', 'high', NULL, 'quarantine',"
		" 'Quarantine: stay home', '{\"passage\":\"g:2\"}');"
		"INSERT INTO event (time_ms, kind, device, state, message) VALUES"
		" (4000, 'device', 'thermal1', 'fault', 'timeout'),"
		" (5000, 'device', 'thermal1', 'ok', 'recovered');"
		"INSERT INTO event (time_ms, kind, priority, reason, detail) VALUES"
		" (6000, 'report', 1, '2026-11-22', '{\"day\":\"2026-11-22\"}'),"
		" (7000, 'outbox', 1, NULL, '{\"dropped\":1,\"first_seq\":3,\"last_seq\":3}');"
		/* a text where a number belongs: kept as it is, not converted */
		"INSERT INTO event (time_ms, kind, temperature, direction, decision,"
		" reason) VALUES (8000, 'passage', 'warm', 'in', 'deny', 'fever');"
		/* holes, and the newest seq gone: the counter is above max(seq) */
		"INSERT INTO event (seq, time_ms, kind) VALUES (500, 9000, 'device');"
		"DELETE FROM event WHERE seq IN (3, 500);");
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event"), 8);
	assert_int_equal(sql_int(db, "SELECT seq FROM sqlite_sequence WHERE name = 'event'"), 500);
	rows = sql_text(db, ALL_ROWS);
	extras = sql_text(db, EXTRAS_SQL);
	assert_non_null(strstr(extras, "view passage passage: CREATE VIEW"));

	lg = open_at(d);
	assert_int_equal(sql_int(db, "PRAGMA user_version"), 4);
	after = sql_text(db, ALL_ROWS);
	assert_string_equal(after, rows);
	free(after);
	after = sql_text(db, EXTRAS_SQL);
	assert_string_equal(after, extras);	/* indexes and view exactly */
	free(after);
	/* the table allows audit, and still only the kinds it knows */
	after = sql_text(db, "SELECT sql FROM sqlite_master WHERE name = 'event'");
	assert_non_null(strstr(after, "'outbox', 'audit'"));
	assert_non_null(strstr(after, "AUTOINCREMENT"));
	free(after);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'event_new'"), 0);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_sequence"), 1);
	assert_int_equal(sql_int(db, "SELECT seq FROM sqlite_sequence WHERE name = 'event'"), 500);
	after = sql_text(db, "PRAGMA integrity_check");
	assert_string_equal(after, "ok");
	free(after);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM passage"), 3);
	/* the outbox reads the old rows as before */
	{
		struct ledger_event out;

		assert_int_equal(ledger_next_undelivered(lg, 1, 0, &out), 1);
		assert_int_equal(out.kind, LK_ALARM);
		assert_string_equal(out.detail, "{\"passage\":\"g:2\"}");
		assert_int_equal(ledger_next_undelivered(lg, 0, 0, &out), 1);
		assert_int_equal(out.seq, 2);
		assert_int_equal(out.rules_version, 5);
		assert_string_equal(out.person_id, "p2");
	}
	/* AUTOINCREMENT goes on above the old counter, for any kind */
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_AUDIT;
	ev.time_ms = now_ms();
	snprintf(ev.reason, sizeof(ev.reason), "rules");
	snprintf(ev.state, sizeof(ev.state), "applied");
	assert_int_equal(ledger_submit(lg, &ev, 1), 0);
	ev = passage("1002", 36.4, now_ms());
	assert_int_equal(ledger_submit(lg, &ev, 2), 0);
	pump(lg, 2);
	assert_int_equal(got.seq[0], 501);
	assert_int_equal(got.seq[1], 502);
	assert_int_equal(got.st[0], LEDGER_COMMITTED);
	ledger_close(lg);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE seq = 501 AND kind = 'audit'"), 1);
	/* opened again: nothing more to do, the rows stay */
	lg = open_at(d);
	ledger_close(lg);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event"), 10);
	free(rows);
	free(extras);
}

/* A migration that fails midway leaves the file exactly as it was: here a
 * v3 file (from a hand-made schema without the CHECKs) with a row the v4
 * table refuses. */
static void test_migrate_v3_fails_whole(void **state)
{
	char d[128], db[160], err[512];
	char *rows;
	struct ledger *lg = NULL;

	(void)state;
	sub(d, sizeof(d), "v3bad");
	mkdir(d, 0700);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	sql_exec(db,
		"CREATE TABLE event (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
		" time_ms INTEGER NOT NULL, kind TEXT NOT NULL, priority INTEGER"
		" NOT NULL DEFAULT 0, lane TEXT, direction TEXT, credential TEXT,"
		" person TEXT, temperature REAL, decision TEXT, reason TEXT,"
		" alarm INTEGER NOT NULL DEFAULT 0, device TEXT, state TEXT,"
		" message TEXT, detail TEXT, delivered INTEGER NOT NULL DEFAULT 0,"
		" rule TEXT, rules_version INTEGER, person_id TEXT, household_id TEXT);"
		"CREATE VIEW passage AS SELECT seq FROM event WHERE kind = 'passage';"
		"INSERT INTO event (time_ms, kind) VALUES (1, 'passage'), (2, 'bogus');"
		"PRAGMA user_version = 3;");
	rows = sql_text(db, ALL_ROWS);
	assert_int_equal(ledger_open(d, &lim, on_done, NULL, &lg, err, sizeof(err)), -EIO);
	assert_null(lg);
	assert_non_null(strstr(err, LEDGER_FILE ": CHECK constraint failed"));
	assert_non_null(strstr(err, "(migrating from schema 3 to 4; left as it is)"));
	assert_int_equal(sql_int(db, "PRAGMA user_version"), 3);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('event_new', 'event_outbox')"), 0);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'passage'"), 1);
	{
		char *after = sql_text(db, ALL_ROWS);

		assert_string_equal(after, rows);
		free(after);
	}
	free(rows);
}

/* Audit entries: stored with their columns, always alarm-class (the
 * caller's priority does not matter), read back by the outbox first. */
static void test_audit(void **state)
{
	static const char detail[] =
		"{\"id\":\"3f2a9c1e0b7d4a55\",\"key\":\"ops-2026\","
		"\"topic\":\"wicket/s1/all/rules/set\",\"error\":\"invalid_rules\","
		"\"cmd\":null,\"nonce\":null,\"version\":6}";
	char d[128], db[160];
	struct ledger *lg;
	struct ledger_event ev, out;

	(void)state;
	assert_string_equal(ledger_kind_name(LK_AUDIT), "audit");
	sub(d, sizeof(d), "audit");
	lg = open_at(d);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	ev = passage("1001", 36.6, now_ms());
	assert_int_equal(ledger_submit(lg, &ev, 1), 0);
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_AUDIT;
	ev.priority = 0;	/* ledger_submit makes it 1 */
	ev.time_ms = 1763959267000LL;
	snprintf(ev.reason, sizeof(ev.reason), "rules");
	snprintf(ev.state, sizeof(ev.state), "refused");
	ev.rules_version = 6;
	snprintf(ev.message, sizeof(ev.message), "$.rules[3].when.mode: unknown mode \"x\"");
	snprintf(ev.detail, sizeof(ev.detail), "%s", detail);
	assert_int_equal(ledger_submit(lg, &ev, 2), 0);
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_AUDIT;
	ev.time_ms = 1763959268000LL;
	snprintf(ev.reason, sizeof(ev.reason), "cmd");
	snprintf(ev.state, sizeof(ev.state), "done");
	snprintf(ev.detail, sizeof(ev.detail), "{\"cmd\":\"open\",\"nonce\":\"n-0001\"}");
	assert_int_equal(ledger_submit(lg, &ev, 3), 0);
	pump(lg, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(got.seq[i], i + 1);
		assert_int_equal(got.st[i], LEDGER_COMMITTED);
	}
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE kind = 'audit' AND priority = 1"), 2);
	assert_int_equal(sql_int(db, "SELECT rules_version FROM event WHERE seq = 2"), 6);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE seq = 3 AND rules_version IS NULL"), 1);
	assert_int_equal(sql_int(db, "SELECT json_extract(detail, '$.version') FROM event WHERE seq = 2"), 6);
	/* priority 1 first, the passage after */
	assert_int_equal(ledger_next_undelivered(lg, 1, 0, &out), 1);
	assert_int_equal(out.seq, 2);
	assert_int_equal(out.kind, LK_AUDIT);
	assert_int_equal(out.priority, 1);
	assert_int_equal(out.time_ms, 1763959267000LL);
	assert_string_equal(out.reason, "rules");
	assert_string_equal(out.state, "refused");
	assert_int_equal(out.rules_version, 6);
	assert_string_equal(out.message, "$.rules[3].when.mode: unknown mode \"x\"");
	assert_string_equal(out.detail, detail);
	{
		struct json j;
		const char *p = outbox_json(&out, "s1", "g1", NULL, &j);

		assert_string_equal(outbox_topic(&out), "event/audit");
		assert_non_null(p);
		assert_string_equal(p,
			"{\"id\":\"g1:2\",\"site\":\"s1\",\"gate\":\"g1\","
			"\"time\":\"2025-11-24T04:41:07.000Z\",\"action\":\"rules\","
			"\"result\":\"refused\",\"key\":\"ops-2026\",\"version\":6,"
			"\"error\":\"invalid_rules\","
			"\"message\":\"$.rules[3].when.mode: unknown mode \\\"x\\\"\","
			"\"push\":\"3f2a9c1e0b7d4a55\",\"nonce\":null,"
			"\"topic\":\"wicket/s1/all/rules/set\",\"cmd\":null}");
	}
	assert_int_equal(ledger_next_undelivered(lg, 1, 2, &out), 1);
	assert_int_equal(out.seq, 3);
	assert_string_equal(out.detail, "{\"cmd\":\"open\",\"nonce\":\"n-0001\"}");
	assert_int_equal(ledger_next_undelivered(lg, 1, 3, &out), 0);
	assert_int_equal(ledger_next_undelivered(lg, 0, 0, &out), 1);
	assert_int_equal(out.seq, 1);
	ledger_close(lg);
}

/* The event/audit payload from the columns and the detail JSON, whatever
 * shape the detail is in: exact text, and valid JSON every time. */
static void test_audit_payload(void **state)
{
#define HEAD "{\"id\":\"g1:42\",\"site\":\"s1\",\"gate\":\"g1\"," \
	"\"time\":\"2025-11-24T04:41:07.000Z\","
	static const struct {
		const char *reason, *state, *message, *detail;
		int64_t version;
		const char *want;	/* after HEAD */
	} cases[] = {
		/* a command with its arguments as an object */
		{ "cmd", "done", "", "{\"id\":\"0011223344556677\",\"key\":\"ops\","
		  "\"topic\":\"wicket/s1/g1/cmd/open\",\"error\":null,"
		  "\"cmd\":{\"name\":\"open\",\"lane\":\"main-in\",\"n\":[1,2.5,true,null]},"
		  "\"nonce\":\"n-12345678\",\"version\":null}", 0,
		  "\"action\":\"cmd\",\"result\":\"done\",\"key\":\"ops\",\"version\":null,"
		  "\"error\":null,\"message\":null,\"push\":\"0011223344556677\","
		  "\"nonce\":\"n-12345678\",\"topic\":\"wicket/s1/g1/cmd/open\","
		  "\"cmd\":{\"name\":\"open\",\"lane\":\"main-in\",\"n\":[1,2.5,true,null]}}" },
		/* the command as a name */
		{ "cmd", "refused", "command id seen before", "{\"key\":\"ops\","
		  "\"error\":\"replay\",\"cmd\":\"mode\"}", 0,
		  "\"action\":\"cmd\",\"result\":\"refused\",\"key\":\"ops\",\"version\":null,"
		  "\"error\":\"replay\",\"message\":\"command id seen before\",\"push\":null,\"nonce\":null,\"topic\":null,"
		  "\"cmd\":\"mode\"}" },
		/* no column version: the detail's */
		{ "lists", "applied", "registry version 12", "{\"version\":12}", 0,
		  "\"action\":\"lists\",\"result\":\"applied\",\"key\":null,\"version\":12,"
		  "\"error\":null,\"message\":\"registry version 12\",\"push\":null,\"nonce\":null,\"topic\":null,\"cmd\":null}" },
		/* the column wins over the detail */
		{ "rollback", "rolled_back", "", "{\"version\":3}", 4,
		  "\"action\":\"rollback\",\"result\":\"rolled_back\",\"key\":null,\"version\":4,"
		  "\"error\":null,\"message\":null,\"push\":null,\"nonce\":null,\"topic\":null,\"cmd\":null}" },
		/* a detail that does not parse: the columns still go out */
		{ "rules", "refused", "bad", "{\"key\":\"ops\",", 7,
		  "\"action\":\"rules\",\"result\":\"refused\",\"key\":null,\"version\":7,"
		  "\"error\":null,\"message\":\"bad\",\"push\":null,\"nonce\":null,\"topic\":null,\"cmd\":null}" },
		/* not an object */
		{ "rules", "unchanged", "", "[\"key\"]", 7,
		  "\"action\":\"rules\",\"result\":\"unchanged\",\"key\":null,\"version\":7,"
		  "\"error\":null,\"message\":null,\"push\":null,\"nonce\":null,\"topic\":null,\"cmd\":null}" },
		/* no detail at all, no action known */
		{ "", "refused", "not JSON at 1:1", "", 0,
		  "\"action\":null,\"result\":\"refused\",\"key\":null,\"version\":null,"
		  "\"error\":null,\"message\":\"not JSON at 1:1\",\"push\":null,\"nonce\":null,\"topic\":null,\"cmd\":null}" },
		/* escapes: decoded by the parser, written again */
		{ "rules", "refused", "tab\\there \"q\"\n",
		  "{\"key\":\"k\\u00e9\\\"\\\\\",\"error\":\"bad_document\","
		  "\"cmd\":{\"a\\nb\":\"\\u0001\"},\"version\":\"7\"}", 0,
		  "\"action\":\"rules\",\"result\":\"refused\",\"key\":\"k\xc3\xa9\\\"\\\\\","
		  "\"version\":null,\"error\":\"bad_document\","
		  "\"message\":\"tab\\\\there \\\"q\\\"\\n\",\"push\":null,\"nonce\":null,\"topic\":null,"
		  "\"cmd\":{\"a\\nb\":\"\\u0001\"}}" },
		/* numbers that are not int64, other scalars */
		{ "cmd", "done", "", "{\"cmd\":12345678901234567890,\"error\":false,"
		  "\"topic\":-0.25}", 0,
		  "\"action\":\"cmd\",\"result\":\"done\",\"key\":null,\"version\":null,"
		  "\"error\":false,\"message\":null,\"push\":null,\"nonce\":null,\"topic\":-0.25,"
		  "\"cmd\":1.2345678901234567e+19}" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ledger_event ev;
		struct json j;
		struct jt_doc *doc = NULL;
		char want[2048], err[128];
		const char *p;

		memset(&ev, 0, sizeof(ev));
		ev.kind = LK_AUDIT;
		ev.priority = 1;
		ev.seq = 42;
		ev.time_ms = 1763959267000LL;
		snprintf(ev.reason, sizeof(ev.reason), "%s", cases[i].reason);
		snprintf(ev.state, sizeof(ev.state), "%s", cases[i].state);
		snprintf(ev.message, sizeof(ev.message), "%s", cases[i].message);
		snprintf(ev.detail, sizeof(ev.detail), "%s", cases[i].detail);
		ev.rules_version = cases[i].version;
		p = outbox_json(&ev, "s1", "g1", NULL, &j);
		assert_non_null(p);
		snprintf(want, sizeof(want), HEAD "%s", cases[i].want);
		if (strcmp(p, want) != 0)
			print_message("case %zu:\n got  %s\n want %s\n", i, p, want);
		assert_string_equal(p, want);
		if (jt_parse(p, strlen(p), &doc, err, sizeof(err)) < 0)
			print_message("case %zu: %s\n", i, err);
		assert_non_null(doc);
		jt_free(doc);
	}
#undef HEAD
}

/* A detail as large as the column allows, all of it in cmd. */
static void test_audit_payload_large(void **state)
{
	struct ledger_event ev;
	struct json j;
	const char *p;
	size_t n;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_AUDIT;
	ev.seq = 1;
	n = (size_t)snprintf(ev.detail, sizeof(ev.detail), "{\"cmd\":\"");
	while (n < sizeof(ev.detail) - 3)
		ev.detail[n++] = 'x';
	memcpy(ev.detail + n, "\"}", 3);
	assert_int_equal(strlen(ev.detail), sizeof(ev.detail) - 1);
	p = outbox_json(&ev, "s", "g", NULL, &j);
	assert_non_null(p);
	assert_non_null(strstr(p, "\"cmd\":\"xxxx"));
	assert_int_equal(strlen(strstr(p, "\"cmd\":\"")), 7 + sizeof(ev.detail) - 11 + 2);
}

static void test_retention_and_bounds(void **state)
{
	char d[128], db[160];
	struct ledger *lg;
	struct ledger_event ev;
	int64_t now = now_ms(), old = now - 100LL * 86400000;
	int n = 0;

	(void)state;
	sub(d, sizeof(d), "bounds");
	lg = open_at(d);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	/* 10 old delivered rows (pruned), 5 old undelivered (dropped by age,
	 * then kept until retention), 150 new routine (50 over the bound),
	 * 3 alarms (never dropped) */
	for (int i = 0; i < 15; i++) {
		ev = passage("1", 36.5, old);
		assert_int_equal(ledger_submit(lg, &ev, (uint64_t)++n), 0);
	}
	for (int i = 0; i < 150; i++) {
		ev = passage("2", 36.5, now);
		assert_int_equal(ledger_submit(lg, &ev, (uint64_t)++n), 0);
	}
	for (int i = 0; i < 3; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = LK_ALARM;
		ev.priority = 1;
		ev.time_ms = old;
		snprintf(ev.reason, sizeof(ev.reason), "fever");
		assert_int_equal(ledger_submit(lg, &ev, (uint64_t)++n), 0);
	}
	/* 2 old audit entries, submitted as routine: never dropped either */
	for (int i = 0; i < 2; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = LK_AUDIT;
		ev.time_ms = old;
		snprintf(ev.reason, sizeof(ev.reason), "rules");
		snprintf(ev.state, sizeof(ev.state), "applied");
		assert_int_equal(ledger_submit(lg, &ev, (uint64_t)++n), 0);
	}
	pump(lg, n);
	for (int64_t s = 1; s <= 10; s++)
		ledger_mark_delivered(lg, s);
	ev = passage("3", 36.5, now);
	assert_int_equal(ledger_submit(lg, &ev, (uint64_t)++n), 0);
	pump(lg, n);
	ledger_maintain(lg, now);
	pump(lg, n + 1);	/* the outbox notice */
	ledger_close(lg);
	/* old delivered: gone */
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE seq <= 10"), 0);
	/* old undelivered: dropped by age, kept (not yet past retention twice) */
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE seq BETWEEN 11 AND 15 AND delivered = 2"), 5);
	/* 151 new routine events, bound 100: the oldest 51 dropped */
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE priority = 0 AND delivered = 0"), 100);
	assert_int_equal(sql_int(db, "SELECT min(seq) FROM event WHERE priority = 0 AND delivered = 0"), 16 + 51 + 0);
	/* alarms are never dropped, even old ones */
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE kind = 'alarm' AND delivered = 0"), 3);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE kind = 'audit' AND delivered = 0"), 2);
	/* and the notice says how many */
	assert_int_equal(sql_int(db, "SELECT json_extract(detail, '$.dropped') FROM event WHERE kind = 'outbox'"), 56);
	assert_int_equal(sql_int(db, "SELECT priority FROM event WHERE kind = 'outbox'"), 1);
}

static void test_report(void **state)
{
	char d[128], db[160];
	struct ledger *lg;
	struct ledger_event ev;
	int64_t day0 = 1763856000000LL;	/* some midnight, as UTC */
	int n = 0;

	(void)state;
	sub(d, sizeof(d), "report");
	lg = open_at(d);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	/* 08:10 in, 08:20 in, 17:30 out allowed; one unknown, one fever */
	ev = passage("1", 36.5, day0 + 8 * 3600000 + 600000);
	ledger_submit(lg, &ev, (uint64_t)++n);
	ev = passage("2", 36.5, day0 + 8 * 3600000 + 1200000);
	ledger_submit(lg, &ev, (uint64_t)++n);
	ev = passage("1", 36.5, day0 + 17 * 3600000 + 1800000);
	snprintf(ev.direction, sizeof(ev.direction), "out");
	ledger_submit(lg, &ev, (uint64_t)++n);
	ev = passage("9", 36.5, day0 + 9 * 3600000);
	snprintf(ev.decision, sizeof(ev.decision), "deny");
	snprintf(ev.reason, sizeof(ev.reason), "unknown_credential");
	ledger_submit(lg, &ev, (uint64_t)++n);
	ev = passage("2", 38.5, day0 + 10 * 3600000);
	snprintf(ev.decision, sizeof(ev.decision), "deny");
	snprintf(ev.reason, sizeof(ev.reason), "fever");
	ledger_submit(lg, &ev, (uint64_t)++n);
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_ALARM;
	ev.priority = 1;
	ev.time_ms = day0 + 10 * 3600000;
	snprintf(ev.reason, sizeof(ev.reason), "fever");
	ledger_submit(lg, &ev, (uint64_t)++n);
	/* remote administration: 2 applied, 1 refused, 1 rolled back */
	{
		static const char *const results[] = {
			"applied", "refused", "applied", "rolled_back",
		};

		for (int i = 0; i < 4; i++) {
			memset(&ev, 0, sizeof(ev));
			ev.kind = LK_AUDIT;
			ev.time_ms = day0 + 11 * 3600000 + i;
			snprintf(ev.reason, sizeof(ev.reason), "rules");
			snprintf(ev.state, sizeof(ev.state), "%s", results[i]);
			ledger_submit(lg, &ev, (uint64_t)++n);
		}
	}
	/* the next day: not counted */
	ev = passage("1", 36.5, day0 + 86400000 + 1000);
	ledger_submit(lg, &ev, (uint64_t)++n);
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_AUDIT;
	ev.time_ms = day0 + 86400000;
	snprintf(ev.state, sizeof(ev.state), "refused");
	ledger_submit(lg, &ev, (uint64_t)++n);
	pump(lg, n);
	ledger_report(lg, "2025-11-23", day0, day0 + 86400000);
	pump(lg, n + 1);
	ledger_report(lg, "2025-11-23", day0, day0 + 86400000);	/* once only */
	ledger_close(lg);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM event WHERE kind = 'report'"), 1);
	assert_int_equal(sql_int(db, "SELECT json_extract(detail, '$.allowed') FROM event WHERE kind = 'report'"), 3);
	assert_int_equal(sql_int(db, "SELECT json_extract(detail, '$.passages_per_hour.08[0]') FROM event WHERE kind = 'report'"), 2);
	assert_int_equal(sql_int(db, "SELECT json_extract(detail, '$.passages_per_hour.17[1]') FROM event WHERE kind = 'report'"), 1);
	assert_int_equal(sql_int(db, "SELECT json_extract(detail, '$.denied.unknown_credential') FROM event WHERE kind = 'report'"), 1);
	assert_int_equal(sql_int(db, "SELECT json_extract(detail, '$.denied.fever') FROM event WHERE kind = 'report'"), 1);
	assert_int_equal(sql_int(db, "SELECT json_extract(detail, '$.fever_alarms') FROM event WHERE kind = 'report'"), 1);
	assert_int_equal(sql_int(db, "SELECT priority FROM event WHERE kind = 'report'"), 1);
	{
		char *audit = sql_text(db, "SELECT json_extract(detail, '$.audit')"
				       " FROM event WHERE kind = 'report'");

		assert_string_equal(audit, "{\"applied\":2,\"refused\":1,\"rolled_back\":1}");
		free(audit);
	}
}

/* A day without remote administration still says so. */
static void test_report_no_audit(void **state)
{
	char d[128], db[160];
	struct ledger *lg;
	char *audit;

	(void)state;
	sub(d, sizeof(d), "report0");
	lg = open_at(d);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	ledger_report(lg, "2025-11-23", 1763856000000LL, 1763942400000LL);
	pump(lg, 1);
	ledger_close(lg);
	audit = sql_text(db, "SELECT json_extract(detail, '$.audit') FROM event WHERE kind = 'report'");
	assert_string_equal(audit, "{\"applied\":0,\"refused\":0}");
	free(audit);
}

static void test_newer_schema_refused(void **state)
{
	char d[128], db[160], err[256];
	struct ledger *lg;
	static const struct {
		const char *sql, *words;
	} cases[] = {
		{ "PRAGMA user_version = 5", "schema version 5 is newer than this wicketd's (4)" },
		{ "PRAGMA user_version = 99", "schema version 99 is newer" },
		{ "PRAGMA user_version = -1", "schema version -1 is not a wicket ledger's" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[32];

		snprintf(name, sizeof(name), "newer%zu", i);
		sub(d, sizeof(d), name);
		mkdir(d, 0700);
		snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
		sql_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
		sql_exec(db, cases[i].sql);
		lg = NULL;
		assert_int_equal(ledger_open(d, &lim, on_done, NULL, &lg, err, sizeof(err)), -EPROTO);
		assert_null(lg);
		if (strstr(err, cases[i].words) == NULL)
			print_message("case %zu: %s\n", i, err);
		assert_non_null(strstr(err, cases[i].words));
		/* untouched */
		assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master"), 1);
	}
}

static void test_corrupt_file_kept(void **state)
{
	char d[128], db[160], err[256];
	struct ledger *lg;
	struct stat st;
	FILE *f;

	(void)state;
	sub(d, sizeof(d), "corrupt");
	mkdir(d, 0700);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	f = fopen(db, "w");
	assert_non_null(f);
	for (int i = 0; i < 512; i++)
		fputs("this is not a database ", f);
	fclose(f);
	assert_true(ledger_open(d, &lim, on_done, NULL, &lg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "not a database"));
	assert_non_null(strstr(err, "left as it is"));
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_size, 512 * 23);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_and_seq),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_migrate_v1),
		cmocka_unit_test(test_migrate_v2),
		cmocka_unit_test(test_migrate_v3),
		cmocka_unit_test(test_migrate_v3_fails_whole),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_audit_payload),
		cmocka_unit_test(test_audit_payload_large),
		cmocka_unit_test(test_retention_and_bounds),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_report_no_audit),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_corrupt_file_kept),
	};

	return cmocka_run_group_tests_name("ledger", tests, setup, teardown);
}
