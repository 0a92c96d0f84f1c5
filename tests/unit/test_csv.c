/* csv: records and their lines, quoting, line ends, and every error with
 * its line.  Each case is text and what the reader must make of it: the
 * records as "LINE:f1|f2;LINE:..." and, when it fails, the error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"

struct csv_case {
	const char *name;
	const char *text;
	size_t len;		/* 0: strlen(text) */
	const char *records;	/* the records read before the end/error */
	int err_line;		/* 0: no error */
	int err_field;
	const char *err;	/* substring of the message */
};

static const struct csv_case cases[] = {
	{ "empty", "", 0, "", 0, 0, NULL },
	{ "one field", "a", 0, "1:a", 0, 0, NULL },
	{ "lf", "a,b\nc,d\n", 0, "1:a|b;2:c|d", 0, 0, NULL },
	{ "crlf", "a,b\r\nc,d\r\n", 0, "1:a|b;2:c|d", 0, 0, NULL },
	{ "no final newline", "a,b\nc,d", 0, "1:a|b;2:c|d", 0, 0, NULL },
	{ "empty fields", ",\na,,b,\n", 0, "1:|;2:a||b|", 0, 0, NULL },
	{ "empty lines skipped", "\n\na\r\n\r\nb\n\n", 0, "3:a;5:b", 0, 0,
	  NULL },
	{ "quoted", "\"a,b\",\"\"\n", 0, "1:a,b|", 0, 0, NULL },
	{ "doubled quote", "\"say \"\"hi\"\"\",x", 0, "1:say \"hi\"|x", 0, 0,
	  NULL },
	{ "quoted spans lines", "h\n\"one\ntwo\nthree\",x\nnext\n", 0,
	  "1:h;2:one\ntwo\nthree|x;5:next", 0, 0, NULL },
	{ "quoted crlf kept", "\"a\r\nb\"\r\nc\r\n", 0, "1:a\r\nb;3:c", 0, 0,
	  NULL },
	{ "quoted empty line is a record", "\"\"\nx", 0, "1:;2:x", 0, 0,
	  NULL },
	{ "spaces kept", " a , b \n", 0, "1: a | b ", 0, 0, NULL },
	{ "bom skipped", "\xef\xbb\xbfid,unit\n", 0, "1:id|unit", 0, 0,
	  NULL },
	{ "utf-8", "\xe6\x9d\x8e,\xf0\x9f\x98\x80\n", 0,
	  "1:\xe6\x9d\x8e|\xf0\x9f\x98\x80", 0, 0, NULL },
	{ "quote in unquoted", "a\nb\"c\n", 0, "1:a", 2, 0,
	  "quote inside an unquoted field" },
	{ "text after closing quote", "x,\"a\"b\n", 0, "", 1, 1,
	  "after a closing quote" },
	{ "unterminated quote names its line", "a\nb,\"c\nd\ne\n", 0, "1:a",
	  2, 1, "quoted field not closed (its quote opens on line 2)" },
	{ "bare cr", "a\rb\n", 0, "", 1, -1,
	  "carriage return not followed by a line feed" },
	{ "bare cr on an empty line", "a\n\rb\n", 0, "1:a", 2, -1,
	  "carriage return" },
	{ "nul", "a,b\x00" "c\n", 6, "", 1, 1, "NUL byte" },
	{ "nul in quotes", "\"a\nb\x00\"", 7, "", 2, 0, "NUL byte" },
	{ "invalid utf-8", "ok\nx,\xff\n", 0, "1:ok", 2, 1, "invalid UTF-8" },
	{ "overlong utf-8", "\xc0\xaf", 0, "", 1, 0, "invalid UTF-8" },
	{ "surrogate utf-8", "\xed\xa0\x80", 0, "", 1, 0, "invalid UTF-8" },
	{ "truncated utf-8", "\xe6\x9d", 0, "", 1, 0, "invalid UTF-8" },
	{ "above U+10FFFF", "\xf4\x90\x80\x80", 0, "", 1, 0,
	  "invalid UTF-8" },
	{ "invalid utf-8 in quotes, later line", "\"a\n\nb\xfe\"", 0, "", 3,
	  0, "invalid UTF-8" },
};

static void record_string(struct csv *c, char *out, size_t len)
{
	size_t used = strlen(out);

	used += (size_t)snprintf(out + used, len - used, "%s%d:",
				 used ? ";" : "", csv_line(c));
	for (size_t i = 0; i < csv_count(c) && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s",
					 i ? "|" : "", csv_field(c, i, NULL));
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct csv_case *t = &cases[k];
		char got[512] = "";
		struct csv c;
		int rc;

		csv_init(&c, t->text, t->len ? t->len : strlen(t->text));
		while ((rc = csv_next(&c)) == 1)
			record_string(&c, got, sizeof(got));
		if (strcmp(got, t->records) != 0)
			fail_msg("%s: records '%s', expected '%s'", t->name, got,
				 t->records);
		if (t->err_line == 0) {
			if (rc != 0)
				fail_msg("%s: rc %d (%d: %s)", t->name, rc,
					 c.err_line, c.err);
		} else {
			if (rc != -EINVAL || c.err_line != t->err_line ||
			    c.err_field != t->err_field ||
			    strstr(c.err, t->err) == NULL)
				fail_msg("%s: rc %d, error line %d field %d '%s'",
					 t->name, rc, c.err_line, c.err_field,
					 c.err);
			/* it stays failed */
			assert_int_equal(csv_next(&c), -EINVAL);
		}
		csv_fini(&c);
	}
}

static void test_field_length(void **state)
{
	char *text = malloc(3 * CSV_FIELD_MAX);
	size_t len;
	struct csv c;

	(void)state;
	assert_non_null(text);
	/* exactly the maximum is fine, quoted or not */
	memset(text, 'x', CSV_FIELD_MAX);
	len = CSV_FIELD_MAX;
	text[len++] = '\n';
	text[len++] = '"';
	memset(text + len, 'y', CSV_FIELD_MAX);
	len += CSV_FIELD_MAX;
	text[len++] = '"';
	text[len++] = '\n';
	csv_init(&c, text, len);
	assert_int_equal(csv_next(&c), 1);
	assert_int_equal(strlen(csv_field(&c, 0, NULL)), CSV_FIELD_MAX);
	assert_int_equal(csv_next(&c), 1);
	assert_int_equal(csv_line(&c), 2);
	assert_int_equal(strlen(csv_field(&c, 0, NULL)), CSV_FIELD_MAX);
	assert_int_equal(csv_next(&c), 0);
	csv_fini(&c);

	/* one more byte is an error on its line */
	text[0] = 'a';
	text[1] = '\n';
	memset(text + 2, 'x', CSV_FIELD_MAX + 1);
	csv_init(&c, text, 2 + CSV_FIELD_MAX + 1);
	assert_int_equal(csv_next(&c), 1);
	assert_int_equal(csv_next(&c), -EINVAL);
	assert_int_equal(c.err_line, 2);
	assert_non_null(strstr(c.err, "longer than 1024 bytes"));
	csv_fini(&c);
	free(text);
}

static void test_field_count(void **state)
{
	char text[4 * CSV_FIELDS_MAX];
	size_t len = 0;
	struct csv c;

	(void)state;
	for (int i = 0; i < CSV_FIELDS_MAX; i++)
		text[len++] = i ? ',' : 'a';
	text[len++] = '\n';
	csv_init(&c, text, len);
	assert_int_equal(csv_next(&c), 1);
	assert_int_equal(csv_count(&c), CSV_FIELDS_MAX);
	csv_fini(&c);
	text[len - 1] = ',';
	text[len++] = '\n';
	csv_init(&c, text, len);
	assert_int_equal(csv_next(&c), -EINVAL);
	assert_non_null(strstr(c.err, "more than 64 fields"));
	csv_fini(&c);
}

static void test_field_access(void **state)
{
	struct csv c;
	size_t len = 99;

	(void)state;
	csv_init(&c, "ab,\"c\"\"d\"", 9);
	assert_int_equal(csv_next(&c), 1);
	assert_int_equal(csv_count(&c), 2);
	assert_string_equal(csv_field(&c, 1, &len), "c\"d");
	assert_int_equal(len, 3);
	assert_string_equal(csv_field(&c, 2, &len), "");
	assert_int_equal(len, 0);
	assert_int_equal(csv_next(&c), 0);
	assert_int_equal(csv_next(&c), 0);
	csv_fini(&c);
	csv_fini(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_field_length),
		cmocka_unit_test(test_field_count),
		cmocka_unit_test(test_field_access),
	};

	return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
