/* ledger: schema and migration, seq never repeating, group commit through
 * the writer thread, outbox order, retention, outbox bounds, the daily
 * report, and files that are not ours. */
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

#include "ledger.h"

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
	assert_int_equal(sql_int(db, "PRAGMA user_version"), 3);
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

/* v2 -> v3: the columns of who and what decided are added; rows stay */
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
	assert_int_equal(sql_int(db, "PRAGMA user_version"), 3);
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
	/* the next day: not counted */
	ev = passage("1", 36.5, day0 + 86400000 + 1000);
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
}

static void test_newer_schema_refused(void **state)
{
	char d[128], db[160], err[256];
	struct ledger *lg;

	(void)state;
	sub(d, sizeof(d), "newer");
	mkdir(d, 0700);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	sql_exec(db, "PRAGMA user_version = 99");
	assert_int_equal(ledger_open(d, &lim, on_done, NULL, &lg, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "schema version 99 is newer"));
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
		cmocka_unit_test(test_retention_and_bounds),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_corrupt_file_kept),
	};

	return cmocka_run_group_tests_name("ledger", tests, setup, teardown);
}
