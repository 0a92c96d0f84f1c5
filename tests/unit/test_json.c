/* json: escaping, numbers, nesting by raw, sticky overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static void test_escapes(void **state)
{
	struct json j;

	(void)state;
	json_begin(&j);
	json_str(&j, "a", "q\"b\\n\nt\tx\x01y\x7f");
	json_int(&j, "n", -42);
	json_num(&j, "t", 36.65, 1);
	json_bool(&j, "b", 1);
	json_null(&j, "z");
	json_raw(&j, "o", "{\"k\":1}");
	assert_string_equal(json_end(&j),
		"{\"a\":\"q\\\"b\\\\n\\nt\\u0009x\\u0001y\\u007f\",\"n\":-42,"
		"\"t\":36.6,\"b\":true,\"z\":null,\"o\":{\"k\":1}}");
}

static void test_time(void **state)
{
	struct json j;

	(void)state;
	json_begin(&j);
	json_time(&j, "t", 1763922501123LL);
	assert_string_equal(json_end(&j), "{\"t\":\"2025-11-23T18:28:21.123Z\"}");
}

static void test_overflow(void **state)
{
	static char big[sizeof(((struct json *)0)->buf) + 100];
	struct json j;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	json_begin(&j);
	json_str(&j, "a", big);
	json_int(&j, "n", 1);	/* stays overflowed */
	assert_null(json_end(&j));
	assert_true(j.len < sizeof(j.buf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
