/* adminstore: the remote rules in force and before, the highest version
 * accepted, rollback, command nonces; on a real SQLite file, reopened to
 * show that each change is on disk. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "adminstore.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/wicket-astore-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static struct astore *reopen(struct astore *st)
{
	char err[256];

	astore_close(st);
	assert_int_equal(astore_open(dir, &st, err, sizeof(err)), 0);
	return st;
}

static struct astore_rules doc(int64_t version, const char *text)
{
	struct astore_rules r = { .version = version, .text = (char *)text,
				  .len = strlen(text), .since_ms = version * 1000 };

	snprintf(r.key, sizeof(r.key), "k%lld", (long long)version);
	return r;
}

/* slot holds version and text, or nothing when version is 0 */
static void expect(struct astore *st, int slot, int64_t version, const char *text)
{
	struct astore_rules r;
	int rc = astore_rules(st, slot, &r);

	if (version == 0) {
		assert_int_equal(rc, 0);
		return;
	}
	assert_int_equal(rc, 1);
	assert_int_equal(r.version, version);
	assert_string_equal(r.text, text);
	assert_int_equal(r.len, strlen(text));
	free(r.text);
}

static void test_rules_and_rollback(void **state)
{
	struct astore *st = NULL;
	struct astore_rules a = doc(2, "{\"version\":2}"), b = doc(3, "{\"version\":3}");
	struct astore_rules file = doc(1, "{\"version\":1,\"from\":\"file\"}");

	(void)state;
	st = reopen(st);
	expect(st, 0, 0, NULL);
	expect(st, 1, 0, NULL);
	assert_int_equal(astore_highest(st), 0);
	assert_int_equal(astore_rollback(st, 5), -ENOENT);
	/* the first update keeps the file's rules as the previous */
	assert_int_equal(astore_put_rules(st, &a, &file), 0);
	st = reopen(st);
	expect(st, 0, 2, "{\"version\":2}");
	expect(st, 1, 1, "{\"version\":1,\"from\":\"file\"}");
	assert_int_equal(astore_highest(st), 2);
	/* the next one moves current to previous */
	assert_int_equal(astore_put_rules(st, &b, NULL), 0);
	st = reopen(st);
	expect(st, 0, 3, "{\"version\":3}");
	expect(st, 1, 2, "{\"version\":2}");
	assert_int_equal(astore_highest(st), 3);
	/* rollback: back one step, once; the highest stays */
	assert_int_equal(astore_rollback(st, 77000), 0);
	st = reopen(st);
	expect(st, 0, 2, "{\"version\":2}");
	expect(st, 1, 0, NULL);
	assert_int_equal(astore_highest(st), 3);
	{
		struct astore_rules r;

		assert_int_equal(astore_rules(st, 0, &r), 1);
		assert_int_equal(r.since_ms, 77000);
		assert_string_equal(r.key, "k2");
		free(r.text);
	}
	assert_int_equal(astore_rollback(st, 78000), -ENOENT);
	expect(st, 0, 2, "{\"version\":2}");
	astore_close(st);
}

static void test_nonces(void **state)
{
	struct astore *st = NULL;
	static const struct {
		const char *id;
		int64_t expires, now;
		int want;
	} cases[] = {
		{ "n-00000001", 1000, 100, 0 },	/* new */
		{ "n-00000001", 1000, 200, 1 },	/* seen */
		{ "n-00000002", 1000, 300, 0 },
		{ "n-00000001", 1000, 999, 1 },	/* still remembered */
		{ "n-00000001", 1000, 1000 + 86399, 1 },	/* a day past expiry */
		{ "n-00000001", 90000, 1000 + 86400, 0 },	/* forgotten: new */
		{ "n-00000002", 1000, 1000 + 86401, 0 },
	};

	(void)state;
	st = reopen(st);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(astore_nonce(st, cases[i].id, cases[i].expires,
					      cases[i].now), cases[i].want);
		st = reopen(st);	/* across restarts */
	}
	astore_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rules_and_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonces, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
