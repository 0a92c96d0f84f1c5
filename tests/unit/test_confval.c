/* confval: whole strings only, decimal or 0x hex, ranges enforced. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "confval.h"

static const struct {
	const char *s;
	long min, max;
	int rc;
	long v;
} longs[] = {
	{ "502", 1, 65535, 0, 502 },
	{ "0100", 0, 1000, 0, 100 },	/* not octal */
	{ "0x10", 0, 65535, 0, 16 },
	{ "0X1f", 0, 65535, 0, 31 },
	{ "-5", -10, 10, 0, -5 },
	{ "0x", 0, 10, -EINVAL, 0 },
	{ "", 0, 10, -EINVAL, 0 },
	{ "12abc", 0, 100, -EINVAL, 0 },
	{ " 5", 0, 10, 0, 5 },		/* strtol skips leading blanks; inih trims anyway */
	{ "5 ", 0, 10, -EINVAL, 0 },
	{ "65536", 1, 65535, -ERANGE, 0 },
	{ "99999999999999999999", 0, 10, -ERANGE, 0 },
};

static void test_long(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
		long v = 0;
		int rc = cv_long(longs[i].s, longs[i].min, longs[i].max, &v);

		print_message("'%s'\n", longs[i].s);
		assert_int_equal(rc, longs[i].rc);
		if (rc == 0)
			assert_int_equal(v, longs[i].v);
	}
}

static void test_double_and_bool(void **state)
{
	double d;
	int b;

	(void)state;
	assert_int_equal(cv_double("37.3", 34, 42, &d), 0);
	assert_true(d == 37.3);
	assert_int_equal(cv_double("nan", -1e9, 1e9, &d), -EINVAL);
	assert_int_equal(cv_double("inf", -1e9, 1e9, &d), -ERANGE);
	assert_int_equal(cv_double("45", 34, 42, &d), -ERANGE);
	assert_int_equal(cv_double("3,7", 0, 10, &d), -EINVAL);
	assert_int_equal(cv_bool("Yes", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(cv_bool("off", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(cv_bool("maybe", &b), -EINVAL);
}

static void test_hexdigit(void **state)
{
	static const struct { int c, want; } cases[] = {
		{ '0', 0 }, { '9', 9 }, { 'a', 10 }, { 'f', 15 }, { 'A', 10 },
		{ 'F', 15 }, { 'g', -1 }, { 'G', -1 }, { '/', -1 }, { ':', -1 },
		{ '@', -1 }, { '`', -1 }, { ' ', -1 }, { 0, -1 }, { -56, -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(cv_hexdigit(cases[i].c), cases[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long),
		cmocka_unit_test(test_double_and_bool),
		cmocka_unit_test(test_hexdigit),
	};

	return cmocka_run_group_tests_name("confval", tests, NULL, NULL);
}
