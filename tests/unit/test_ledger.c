/* ledger: schema version, seq never repeating, outbox order, bad files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
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

static int64_t add(struct ledger *lg, const char *cred, double t)
{
	struct ledger_passage p = { .time_ms = 1700000000000, .alarm = 0 };

	snprintf(p.lane, sizeof(p.lane), "main");
	snprintf(p.direction, sizeof(p.direction), "in");
	p.has_credential = cred != NULL;
	snprintf(p.credential, sizeof(p.credential), "%s", cred ? cred : "");
	p.has_temperature = t > 0;
	p.temperature_c = t;
	snprintf(p.decision, sizeof(p.decision), "allow");
	snprintf(p.reason, sizeof(p.reason), "known_credential");
	assert_int_equal(ledger_add_passage(lg, &p), 0);
	return p.seq;
}

static int sql_int(const char *db, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void test_schema_and_seq(void **state)
{
	char d[128], db[160], err[256];
	struct ledger *lg;
	struct ledger_passage p;

	(void)state;
	sub(d, sizeof(d), "a/b/state");	/* created with its parents */
	assert_int_equal(ledger_open(d, &lg, err, sizeof(err)), 0);
	assert_int_equal(add(lg, "1001", 36.6), 1);
	assert_int_equal(add(lg, NULL, 38.0), 2);
	assert_int_equal(add(lg, "7", -1), 3);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	assert_int_equal(sql_int(db, "PRAGMA user_version"), LEDGER_SCHEMA_VERSION);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM passage WHERE credential IS NULL"), 1);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM passage WHERE temperature IS NULL"), 1);

	/* outbox order and delivery marks */
	assert_int_equal(ledger_count_undelivered(lg), 3);
	assert_int_equal(ledger_next_undelivered(lg, 0, &p), 1);
	assert_int_equal(p.seq, 1);
	assert_string_equal(p.credential, "1001");
	assert_true(p.has_temperature && p.temperature_c == 36.6);
	assert_int_equal(ledger_mark_delivered(lg, 1), 0);
	assert_int_equal(ledger_next_undelivered(lg, 0, &p), 1);
	assert_int_equal(p.seq, 2);
	assert_false(p.has_credential);
	assert_int_equal(ledger_next_undelivered(lg, 3, &p), 0);
	assert_int_equal(ledger_count_undelivered(lg), 2);
	ledger_close(lg);

	/* a restart continues the sequence, even after the newest rows are gone */
	{
		sqlite3 *h;

		assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
		assert_int_equal(sqlite3_exec(h, "DELETE FROM passage WHERE seq >= 2",
					      NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(h);
	}
	assert_int_equal(ledger_open(d, &lg, err, sizeof(err)), 0);
	assert_int_equal(add(lg, "1002", 36.1), 4);
	ledger_close(lg);
}

static void test_journal_mode(void **state)
{
	char d[128], db[160], err[256];
	struct ledger *lg;
	sqlite3 *h;
	sqlite3_stmt *st;

	(void)state;
	sub(d, sizeof(d), "wal");
	assert_int_equal(ledger_open(d, &lg, err, sizeof(err)), 0);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(h);
	ledger_close(lg);
}

static void test_newer_schema_refused(void **state)
{
	char d[128], db[160], err[256];
	struct ledger *lg;
	sqlite3 *h;

	(void)state;
	sub(d, sizeof(d), "newer");
	mkdir(d, 0700);
	snprintf(db, sizeof(db), "%s/%s", d, LEDGER_FILE);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(h);
	assert_int_equal(ledger_open(d, &lg, err, sizeof(err)), -EPROTO);
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
	assert_true(ledger_open(d, &lg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "not a database"));
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_size, 512 * 23);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_and_seq),
		cmocka_unit_test(test_journal_mode),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_corrupt_file_kept),
	};

	return cmocka_run_group_tests_name("ledger", tests, setup, teardown);
}
