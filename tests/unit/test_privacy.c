/* privacy: the key file (hex, raw, too short, made on first start) and the
 * person reference against HMAC-SHA-256 vectors computed elsewhere
 * (Python's hmac module). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "privacy.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/wicket-test-privacy-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void put(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_hex_key_vector(void **state)
{
	struct privacy p = { 0 };
	char path[128], err[256], ref[PRIVACY_REF_LEN + 1];

	(void)state;
	put("hex.key", "000102030405060708090a0b0c0d0e0f"
		       "101112131415161718191a1b1c1d1e1f\n", path, sizeof(path));
	assert_int_equal(privacy_load_key(&p, path, 0, err, sizeof(err)), 0);
	assert_int_equal(p.key_len, 32);
	privacy_ref(&p, "1001", ref);
	assert_string_equal(ref, "00e956c1b55b72b3452042ca26296a7c");
	/* households have their own domain: another hash for the same id */
	privacy_household_ref(&p, "h1", ref);
	assert_string_equal(ref, "b48779e6c60641145a6b6b08aff4566b");
	privacy_household_ref(&p, "1001", ref);
	assert_string_not_equal(ref, "00e956c1b55b72b3452042ca26296a7c");
}

/* a key of a whole SHA-256 block, the longest there is */
static void test_block_key_vector(void **state)
{
	struct privacy p = { 0 };
	char path[128], err[256], ref[PRIVACY_REF_LEN + 1], hex[130];

	(void)state;
	for (int i = 0; i < 64; i++)
		snprintf(hex + 2 * i, 3, "%02x", i);
	put("block.key", hex, path, sizeof(path));
	assert_int_equal(privacy_load_key(&p, path, 0, err, sizeof(err)), 0);
	assert_int_equal(p.key_len, 64);
	privacy_ref(&p, "p-9", ref);
	assert_string_equal(ref, "6fbd462d5e7427e2887cd4094e93f029");
}

static void test_raw_key_vector(void **state)
{
	struct privacy p = { 0 };
	char path[128], err[256], ref[PRIVACY_REF_LEN + 1];

	(void)state;
	put("raw.key", "raw-key-material-0123", path, sizeof(path));
	assert_int_equal(privacy_load_key(&p, path, 0, err, sizeof(err)), 0);
	privacy_ref(&p, "7777", ref);
	assert_string_equal(ref, "763d213f7d8ef2d723032d2bc3341f75");
}

static void test_short_and_missing(void **state)
{
	struct privacy p = { 0 };
	char path[128], err[256];

	(void)state;
	put("short.key", "0011223344\n", path, sizeof(path));
	assert_int_equal(privacy_load_key(&p, path, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at least 16 are needed"));
	snprintf(path, sizeof(path), "%s/none.key", dir);
	assert_int_equal(privacy_load_key(&p, path, 0, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
}

static void test_made_on_first_start(void **state)
{
	struct privacy p = { 0 }, q = { 0 };
	char path[128], err[256], a[PRIVACY_REF_LEN + 1], b[PRIVACY_REF_LEN + 1];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/made.key", dir);
	assert_int_equal(privacy_load_key(&p, path, 1, err, sizeof(err)), 0);
	assert_int_equal(p.key_len, 32);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 65);	/* 64 hex digits and a newline */
	/* read again: the same key, so the same references */
	assert_int_equal(privacy_load_key(&q, path, 1, err, sizeof(err)), 0);
	privacy_ref(&p, "1001", a);
	privacy_ref(&q, "1001", b);
	assert_string_equal(a, b);
	privacy_ref(&q, "1002", b);
	assert_string_not_equal(a, b);
	snprintf(path, sizeof(path), "%s/made.key.tmp", dir);
	assert_int_equal(stat(path, &st), -1);	/* renamed into place */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_key_vector),
		cmocka_unit_test(test_raw_key_vector),
		cmocka_unit_test(test_block_key_vector),
		cmocka_unit_test(test_short_and_missing),
		cmocka_unit_test(test_made_on_first_start),
	};

	return cmocka_run_group_tests_name("privacy", tests, setup, teardown);
}
