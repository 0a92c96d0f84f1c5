/* jsontree: positions, strings, numbers, every error with its position,
 * big documents, depth, jt_get; the writer: exact output and parse ->
 * write -> parse round trips to an equal tree, its errors. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsontree.h"

/* Follow "a/0/b": object keys and array indexes; "" is the node itself. */
static const struct jt_node *walk(const struct jt_node *n, const char *path)
{
	char seg[64];

	while (n != NULL && *path != '\0') {
		size_t k = strcspn(path, "/");

		assert_true(k < sizeof(seg));
		memcpy(seg, path, k);
		seg[k] = '\0';
		path += k;
		if (*path == '/')
			path++;
		if (n->type == JT_OBJECT) {
			n = jt_get(n, seg);
		} else if (n->type == JT_ARRAY) {
			char *end;
			unsigned long idx = strtoul(seg, &end, 10);

			assert_true(*end == '\0');
			for (n = n->kids; n != NULL && idx > 0; idx--)
				n = n->next;
		} else {
			return NULL;
		}
	}
	return n;
}

static struct jt_doc *parse_ok(const char *text, size_t len)
{
	struct jt_doc *d = NULL;
	char err[256] = "";
	int rc = jt_parse(text, len, &d, err, sizeof(err));

	if (rc != 0)
		fail_msg("parse of \"%s\" failed: %s", text, err);
	assert_non_null(d);
	assert_non_null(jt_root(d));
	return d;
}

/* ---- positions ---- */

static const char pos_doc1[] =
	"{\n"
	"  \"id\": \"p1\",\n"
	"  \"tags\": [true, null, -1.5e3],\n"
	"\t\"o\": {}\n"
	"}";

static const struct {
	const char *doc;
	const char *path;
	enum jt_type type;
	int line, col;
	int key_line, key_col;	/* 0: not a member */
} pos_cases[] = {
	{ pos_doc1, "", JT_OBJECT, 1, 1, 0, 0 },
	{ pos_doc1, "id", JT_STRING, 2, 9, 2, 3 },
	{ pos_doc1, "tags", JT_ARRAY, 3, 11, 3, 3 },
	{ pos_doc1, "tags/0", JT_BOOL, 3, 12, 0, 0 },
	{ pos_doc1, "tags/1", JT_NULL, 3, 18, 0, 0 },
	{ pos_doc1, "tags/2", JT_NUMBER, 3, 24, 0, 0 },
	{ pos_doc1, "o", JT_OBJECT, 4, 7, 4, 2 },
	{ "  \n\n   42  \n", "", JT_NUMBER, 3, 4, 0, 0 },
	{ "[\r\n1,\r\n  \"x\"]", "0", JT_NUMBER, 2, 1, 0, 0 },
	{ "[\r\n1,\r\n  \"x\"]", "1", JT_STRING, 3, 3, 0, 0 },
	/* columns count bytes: the e-acute is two */
	{ "[\"\xc3\xa9\", 2]", "1", JT_NUMBER, 1, 8, 0, 0 },
	{ "{\"a\":{\"b\":\n[[],\n {\"c\" :\tfalse}]}}", "a/b/1/c", JT_BOOL,
	  3, 9, 3, 3 },
	{ "{\"a\":{\"b\":\n[[],\n {\"c\" :\tfalse}]}}", "a/b", JT_ARRAY,
	  2, 1, 1, 7 },
	{ "{\"a\":{\"b\":\n[[],\n {\"c\" :\tfalse}]}}", "a", JT_OBJECT,
	  1, 6, 1, 2 },
};

static void test_positions(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pos_cases) / sizeof(pos_cases[0]); i++) {
		struct jt_doc *d = parse_ok(pos_cases[i].doc,
					    strlen(pos_cases[i].doc));
		const struct jt_node *n = walk(jt_root(d), pos_cases[i].path);

		if (n == NULL)
			fail_msg("case %zu: no node at \"%s\"", i,
				 pos_cases[i].path);
		if (n->type != pos_cases[i].type ||
		    n->line != pos_cases[i].line ||
		    n->col != pos_cases[i].col ||
		    n->key_line != pos_cases[i].key_line ||
		    n->key_col != pos_cases[i].key_col)
			fail_msg("case %zu \"%s\": got %s %d:%d key %d:%d", i,
				 pos_cases[i].path, jt_type_name(n->type),
				 n->line, n->col, n->key_line, n->key_col);
		if (pos_cases[i].key_line == 0)
			assert_null(n->key);
		else
			assert_non_null(n->key);
		jt_free(d);
	}
}

/* ---- errors ---- */

#define A10 "aaaaaaaaaa"
#define A40 A10 A10 A10 A10
#define A50 A40 A10

static const struct {
	const char *doc;
	size_t len;		/* 0: strlen(doc) */
	const char *err;
} err_cases[] = {
	{ "", 0, "1:1: empty document" },
	{ "  \n \t", 0, "1:1: empty document" },
	{ "{\"a\":1 \"b\":2}", 0, "1:8: expected ',' or '}' after a member" },
	{ "[1 2]", 0, "1:4: expected ',' or ']' after an element" },
	{ "[1,]", 0, "1:4: trailing comma before ']'" },
	{ "{\"a\":1,}", 0, "1:8: trailing comma before '}'" },
	{ "{\"a\" 1}", 0, "1:6: expected ':' after the member name" },
	{ "{a:1}", 0, "1:2: member names must be in double quotes" },
	{ "{,}", 0, "1:2: expected a member name (a string), found ','" },
	{ "{\"a\":}", 0, "1:6: expected a value, found '}'" },
	{ "[,1]", 0, "1:2: expected a value, found ','" },
	{ "\"abc", 0, "1:1: unterminated string" },
	{ "[\"abc\\", 0, "1:2: unterminated string" },
	{ "[\"a\\\"", 0, "1:2: unterminated string" },
	{ "\"a\\qb\"", 0, "1:3: invalid escape \\q" },
	{ "\"\\\x01\"", 0,
	  "1:2: invalid escape (backslash followed by byte 0x01)" },
	{ "\"\\\xc3\xa9\"", 0,
	  "1:2: invalid escape (backslash followed by byte 0xC3)" },
	{ "\"a\tb\"", 0, "1:3: control character in string" },
	{ "[\"ab\ncd\"]", 0, "1:5: control character in string" },
	{ "\"a\0b\"", 5, "1:3: control character in string" },
	{ "\"a\xff" "b\"", 0, "1:3: invalid UTF-8" },
	{ "\"\x80\"", 0, "1:2: invalid UTF-8" },
	{ "\"\xc0\xaf\"", 0, "1:2: invalid UTF-8" }, /* overlong */
	{ "\"\xe0\x80\xaf\"", 0, "1:2: invalid UTF-8" }, /* overlong */
	{ "\"\xed\xa0\x80\"", 0, "1:2: invalid UTF-8" }, /* surrogate */
	{ "\"\xf4\x90\x80\x80\"", 0, "1:2: invalid UTF-8" }, /* > 10FFFF */
	{ "\"\xf5\x80\x80\x80\"", 0, "1:2: invalid UTF-8" },
	{ "\"x\xe2\x82\"", 0, "1:3: invalid UTF-8" }, /* truncated */
	{ "\"x\xe2\x82", 0, "1:3: invalid UTF-8" },
	{ "\"\\ud800\"", 0, "1:2: lone surrogate \\ud800" },
	{ "\"x\\udc00y\"", 0, "1:3: lone surrogate \\udc00" },
	{ "\"\\uD800\\u0041\"", 0, "1:2: lone surrogate \\uD800" },
	{ "\"\\uD800\\uD800\"", 0, "1:2: lone surrogate \\uD800" },
	{ "\"\\uD800\\n\"", 0, "1:2: lone surrogate \\uD800" },
	{ "\"\\u0000\"", 0, "1:2: \\u0000 is not allowed" },
	{ "\"\\u12G4\"", 0,
	  "1:2: invalid \\u escape (expected 4 hex digits)" },
	{ "\"\\u12\"", 0, "1:2: invalid \\u escape (expected 4 hex digits)" },
	{ "{\n  \"id\": 1,\n  \"id\": 2\n}", 0,
	  "3:3: duplicate key \"id\" (first at 2:3)" },
	{ "{\"a\\\"b\":1,\"a\\u0022b\":2}", 0,
	  "1:11: duplicate key \"a\\\"b\" (first at 1:2)" },
	{ "{\"\xc3\xa9\\n\":1,\"\xc3\xa9\\u000a\":2}", 0,
	  "1:11: duplicate key \"\xc3\xa9\\u000a\" (first at 1:2)" },
	{ "{\"" A50 "\":1,\"" A50 "\":2}", 0,
	  "1:57: duplicate key \"" A40 "...\" (first at 1:2)" },
	{ "1e999", 0, "1:1: number out of range" },
	{ "[-1e999]", 0, "1:2: number out of range" },
	{ "01", 0, "1:1: leading zero" },
	{ "-012", 0, "1:2: leading zero" },
	{ "-", 0, "1:2: expected a digit after '-'" },
	{ "[-a]", 0, "1:3: expected a digit after '-'" },
	{ "1.", 0, "1:3: expected a digit after '.'" },
	{ "1.e5", 0, "1:3: expected a digit after '.'" },
	{ "1e", 0, "1:3: expected a digit in the exponent" },
	{ "1e+", 0, "1:4: expected a digit in the exponent" },
	{ "+1", 0, "1:1: numbers may not start with '+'" },
	{ ".5", 0, "1:1: numbers need a digit before '.'" },
	{ "[1] x", 0, "1:5: unexpected data after the value" },
	{ "{}\n{}", 0, "2:1: unexpected data after the value" },
	{ "1 2", 0, "1:3: unexpected data after the value" },
	{ "[1]\0", 4, "1:4: unexpected data after the value" },
	{ "[", 0, "1:2: unterminated array (opened at 1:1)" },
	{ "{\"a\":[1,\n", 0, "2:1: unterminated array (opened at 1:6)" },
	{ "{\"a\":", 0, "1:6: unterminated object (opened at 1:1)" },
	{ "{\"a\"", 0, "1:5: unterminated object (opened at 1:1)" },
	{ "{\"a\":1", 0, "1:7: unterminated object (opened at 1:1)" },
	{ "tru", 0, "1:1: unexpected word \"tru\" (the JSON literals are "
	  "true, false and null)" },
	{ "[nulls]", 0, "1:2: unexpected word \"nulls\" (the JSON literals "
	  "are true, false and null)" },
	{ "NaN", 0, "1:1: unexpected word \"NaN\" (the JSON literals are "
	  "true, false and null)" },
	{ "[1,Infinity]", 0, "1:4: unexpected word \"Infinity\" (the JSON "
	  "literals are true, false and null)" },
	{ "'a'", 0, "1:1: strings must use double quotes" },
	{ "{'a':1}", 0, "1:2: strings must use double quotes" },
	{ "[1, // c\n2]", 0, "1:5: comments are not allowed" },
	{ "/* c */ 1", 0, "1:1: comments are not allowed" },
	{ "[1,\xe2\x80\x9cx\xe2\x80\x9d]", 0, "1:4: expected a value, found "
	  "U+201C (a typographic quote; JSON needs plain \")" },
	{ "[\xc2\xa0" "1]", 0, "1:2: expected a value, found U+00A0" },
	{ "[\xff]", 0, "1:2: expected a value, found byte 0xFF" },
	{ "[\x01]", 0, "1:2: expected a value, found byte 0x01" },
	{ "\xef\xbb\xbf{}", 0, "1:1: byte order mark (U+FEFF) is not allowed" },
	{ "{\n\t\"a\": [1, 2,,]\n}", 0, "2:13: expected a value, found ','" },
	{ "[1,\n  2,\n  {\"k\": \"v\" \"w\"}]", 0,
	  "3:13: expected ',' or '}' after a member" },
};

static void test_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		struct jt_doc *d = (struct jt_doc *)1;
		char err[256];
		size_t len = err_cases[i].len ? err_cases[i].len :
			strlen(err_cases[i].doc);
		int rc = jt_parse(err_cases[i].doc, len, &d, err, sizeof(err));

		if (rc != -EINVAL)
			fail_msg("case %zu (%s): rc %d, want -EINVAL", i,
				 err_cases[i].doc, rc);
		assert_null(d);
		if (strcmp(err, err_cases[i].err) != 0)
			fail_msg("case %zu: got \"%s\"\n  want \"%s\"", i, err,
				 err_cases[i].err);
	}
}

/* Duplicate keys in an object big enough for the hash set, at and around
 * the switch-over from the linear scan. */
static void test_duplicates_big(void **state)
{
	static const size_t sizes[] = { 15, 16, 17, 18, 100, 20000 };
	size_t si;

	(void)state;
	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t n = sizes[si], cap = n * 24 + 64, o = 0, i, dup_at;
		char *buf = malloc(cap), want[128], err[256];
		struct jt_doc *d = NULL;

		assert_non_null(buf);
		/* one member per line: "kI": I, line I + 2, key at col 1 */
		o += (size_t)snprintf(buf + o, cap - o, "{\n");
		for (i = 0; i < n; i++)
			o += (size_t)snprintf(buf + o, cap - o,
					      "\"k%zu\": %zu,\n", i, i);
		dup_at = o;
		o += (size_t)snprintf(buf + o, cap - o, "\"x\": 0}");
		d = parse_ok(buf, o);
		assert_int_equal(jt_root(d)->n, n + 1);
		assert_int_equal(jt_get(jt_root(d), "k0")->i, 0);
		assert_int_equal(jt_get(jt_root(d), "x")->line, (int)n + 2);
		jt_free(d);

		/* the same with the last key repeating an early one */
		o = dup_at;
		o += (size_t)snprintf(buf + o, cap - o, "\"k%zu\": 0}", n / 2);
		snprintf(want, sizeof(want),
			 "%zu:1: duplicate key \"k%zu\" (first at %zu:1)",
			 n + 2, n / 2, n / 2 + 2);
		assert_int_equal(jt_parse(buf, o, &d, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, want);
		free(buf);
	}
}

/* ---- strings ---- */

static const struct {
	const char *doc;
	const char *want;
	size_t len;
} str_cases[] = {
	{ "\"\"", "", 0 },
	{ "\"plain text\"", "plain text", 10 },
	{ "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "a\"b\\c/d\b\f\n\r\t", 12 },
	{ "\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6 },
	{ "\"\\u0001\\u001f\"", "\x01\x1f", 2 },
	{ "\"\\ud83d\\ude00!\"", "\xf0\x9f\x98\x80!", 5 },
	{ "\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80", 4 },
	{ "\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4 },
	{ "\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80", 4 },
	{ "\"\xe0\xa0\x80\xc2\x80\x7f\"", "\xe0\xa0\x80\xc2\x80\x7f", 6 },
	{ "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"", "\xef\xbf\xbf\xf4\x8f\xbf\xbf",
	  7 },
	{ "\"\\\\u0041\"", "\\u0041", 6 },
};

static void test_strings(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(str_cases) / sizeof(str_cases[0]); i++) {
		struct jt_doc *d = parse_ok(str_cases[i].doc,
					    strlen(str_cases[i].doc));
		const struct jt_node *n = jt_root(d);

		assert_int_equal(n->type, JT_STRING);
		if (n->len != str_cases[i].len ||
		    memcmp(n->s, str_cases[i].want, n->len + 1) != 0)
			fail_msg("case %zu: got %zu bytes \"%s\"", i, n->len,
				 n->s);
		jt_free(d);
	}
}

/* Keys are decoded like strings. */
static void test_keys(void **state)
{
	static const char doc[] = "{\"\\u00e9t\\u00e9\": 1, \"\": 2, "
				  "\"a\\nb\": 3}";
	struct jt_doc *d = parse_ok(doc, strlen(doc));
	const struct jt_node *r = jt_root(d);

	(void)state;
	assert_int_equal(jt_get(r, "\xc3\xa9t\xc3\xa9")->i, 1);
	assert_int_equal(jt_get(r, "")->i, 2);
	assert_int_equal(jt_get(r, "a\nb")->i, 3);
	jt_free(d);
}

/* ---- numbers ---- */

static const struct {
	const char *doc;
	int is_int;
	int64_t i;
	double num;
} num_cases[] = {
	{ "0", 1, 0, 0.0 },
	{ "-0", 1, 0, -0.0 },
	{ "7", 1, 7, 7.0 },
	{ "-123", 1, -123, -123.0 },
	{ "9223372036854775807", 1, INT64_MAX, 9223372036854775807.0 },
	{ "-9223372036854775808", 1, INT64_MIN, -9223372036854775808.0 },
	{ "9223372036854775808", 0, 0, 9223372036854775808.0 },
	{ "-9223372036854775809", 0, 0, -9223372036854775809.0 },
	{ "18446744073709551615", 0, 0, 18446744073709551615.0 },
	{ "18446744073709551616", 0, 0, 18446744073709551616.0 },
	{ "123456789012345678901234567890", 0, 0,
	  123456789012345678901234567890.0 },
	{ "1.0", 0, 0, 1.0 },
	{ "0.5", 0, 0, 0.5 },
	{ "-0.0", 0, 0, -0.0 },
	{ "1e2", 0, 0, 100.0 },
	{ "1E+2", 0, 0, 100.0 },
	{ "25e-2", 0, 0, 0.25 },
	{ "-1.5e3", 0, 0, -1500.0 },
	{ "36.6", 0, 0, 36.6 },
	{ "1e-999", 0, 0, 0.0 },
	{ "1.7976931348623157e308", 0, 0, 1.7976931348623157e308 },
	{ "4.9e-324", 0, 0, 4.9e-324 },
};

static void test_numbers(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
		struct jt_doc *d = parse_ok(num_cases[i].doc,
					    strlen(num_cases[i].doc));
		const struct jt_node *n = jt_root(d);

		assert_int_equal(n->type, JT_NUMBER);
		if (n->is_int != num_cases[i].is_int ||
		    (n->is_int && n->i != num_cases[i].i) ||
		    n->num != num_cases[i].num ||
		    signbit(n->num) != signbit(num_cases[i].num))
			fail_msg("case %zu (%s): is_int %d i %lld num %.17g",
				 i, num_cases[i].doc, n->is_int,
				 (long long)n->i, n->num);
		jt_free(d);
	}
}

/* Numbers longer than the on-stack copy for strtod. */
static void test_long_numbers(void **state)
{
	char buf[200];
	struct jt_doc *d;

	(void)state;
	memset(buf, '0', sizeof(buf));
	memcpy(buf, "0.", 2);
	memcpy(buf + 2 + 125, "12", 2);		/* 125 zeros, then 12 */
	d = parse_ok(buf, 129);
	assert_false(jt_root(d)->is_int);
	assert_true(jt_root(d)->num == 1.2e-126);
	jt_free(d);

	buf[0] = '1';				/* 1 and 74 zeros */
	memset(buf + 1, '0', 74);
	d = parse_ok(buf, 75);
	assert_false(jt_root(d)->is_int);
	assert_true(jt_root(d)->num == 1e74);
	jt_free(d);

	memset(buf, '9', 150);			/* rounds to 1e150 */
	d = parse_ok(buf, 150);
	assert_true(jt_root(d)->num == 1e150);
	jt_free(d);
}

/* ---- shapes ---- */

static void test_literals_and_empty(void **state)
{
	static const char doc[] = "[true,false,null,[],{},[[]],\"\"]";
	struct jt_doc *d = parse_ok(doc, strlen(doc));
	const struct jt_node *r = jt_root(d);

	(void)state;
	assert_int_equal(r->type, JT_ARRAY);
	assert_int_equal(r->n, 7);
	assert_int_equal(walk(r, "0")->type, JT_BOOL);
	assert_int_equal(walk(r, "0")->b, 1);
	assert_int_equal(walk(r, "1")->type, JT_BOOL);
	assert_int_equal(walk(r, "1")->b, 0);
	assert_int_equal(walk(r, "2")->type, JT_NULL);
	assert_int_equal(walk(r, "3")->type, JT_ARRAY);
	assert_int_equal(walk(r, "3")->n, 0);
	assert_null(walk(r, "3")->kids);
	assert_int_equal(walk(r, "4")->type, JT_OBJECT);
	assert_int_equal(walk(r, "4")->n, 0);
	assert_null(walk(r, "4")->kids);
	assert_int_equal(walk(r, "5")->n, 1);
	assert_int_equal(walk(r, "5/0")->n, 0);
	assert_string_equal(walk(r, "6")->s, "");
	assert_null(walk(r, "6")->next);
	jt_free(d);

	d = parse_ok(" { } ", 5);
	assert_int_equal(jt_root(d)->type, JT_OBJECT);
	assert_int_equal(jt_root(d)->n, 0);
	jt_free(d);
	d = parse_ok("[ ]", 3);
	assert_int_equal(jt_root(d)->n, 0);
	jt_free(d);
}

/* 100k elements, eight to a line: count, order, last position. */
static void test_big_array(void **state)
{
	const size_t n = 100000;
	size_t cap = n * 12 + 16, o = 0, i, count = 0;
	char *buf = malloc(cap);
	struct jt_doc *d;
	const struct jt_node *e, *last = NULL;

	(void)state;
	assert_non_null(buf);
	buf[o++] = '[';
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%zu%s", i,
				      i + 1 == n ? "]" :
				      i % 8 == 7 ? ",\n" : ",");
	d = parse_ok(buf, o);
	assert_int_equal(jt_root(d)->n, n);
	for (e = jt_root(d)->kids; e != NULL; e = e->next) {
		assert_int_equal(e->type, JT_NUMBER);
		assert_int_equal(e->i, (int64_t)count);
		count++;
		last = e;
	}
	assert_int_equal(count, n);
	/* the last line holds 99992..99999 */
	assert_int_equal(last->line, (int)(n / 8));
	assert_int_equal(last->col, 7 * 6 + 1);
	jt_free(d);
	free(buf);
}

/* Many long strings: the arena grows and gives big strings their own
 * blocks without losing anything. */
static void test_big_strings(void **state)
{
	static const size_t lens[] = { 0, 1, 1000, 5000, 300000, 3, 2000000 };
	size_t cap = 4000000, o = 0, i, j;
	char *buf = malloc(cap);
	struct jt_doc *d;
	const struct jt_node *e;

	(void)state;
	assert_non_null(buf);
	buf[o++] = '[';
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		buf[o++] = '"';
		for (j = 0; j < lens[i]; j++)
			buf[o++] = (char)('a' + (i + j) % 26);
		buf[o++] = '"';
		buf[o++] = ',';
	}
	buf[o - 1] = ']';
	d = parse_ok(buf, o);
	for (i = 0, e = jt_root(d)->kids; e != NULL; i++, e = e->next) {
		assert_int_equal(e->len, lens[i]);
		assert_int_equal(strlen(e->s), lens[i]);
		for (j = 0; j < lens[i]; j++)
			assert_int_equal(e->s[j], 'a' + (i + j) % 26);
	}
	assert_int_equal(i, sizeof(lens) / sizeof(lens[0]));
	jt_free(d);
	free(buf);
}

static void test_depth(void **state)
{
	char buf[2 * (JT_MAX_DEPTH + 1) + 1], err[128];
	struct jt_doc *d = NULL;
	const struct jt_node *n;
	int i, depth;

	(void)state;
	/* exactly JT_MAX_DEPTH arrays */
	for (i = 0; i < JT_MAX_DEPTH; i++) {
		buf[i] = '[';
		buf[2 * JT_MAX_DEPTH - 1 - i] = ']';
	}
	d = parse_ok(buf, 2 * JT_MAX_DEPTH);
	for (depth = 0, n = jt_root(d); n != NULL; n = n->kids)
		depth++;
	assert_int_equal(depth, JT_MAX_DEPTH);
	jt_free(d);

	/* one more, objects and arrays mixed */
	for (i = 0; i <= JT_MAX_DEPTH; i++)
		buf[i] = '[';
	buf[10] = '{';
	assert_int_equal(jt_parse(buf, JT_MAX_DEPTH + 1, &d, err, sizeof(err)),
			 -EINVAL);
	/* '{' must be followed by a key: the error is there first */
	assert_string_equal(err, "1:12: expected a member name (a string), "
			    "found '['");
	for (i = 0; i <= JT_MAX_DEPTH; i++)
		buf[i] = '[';
	assert_int_equal(jt_parse(buf, JT_MAX_DEPTH + 1, &d, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "1:65: nesting deeper than 64");
	snprintf(buf, sizeof(buf), "%s", "[{\"a\":[{\"b\":");
	memset(buf + 12, '[', 70);
	assert_int_equal(jt_parse(buf, 82, &d, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "1:73: nesting deeper than 64");
}

static void test_get(void **state)
{
	static const char doc[] = "{\"a\":1,\"b\":[2],\"ab\":\"x\",\"A\":null}";
	struct jt_doc *d = parse_ok(doc, strlen(doc));
	const struct jt_node *r = jt_root(d);

	(void)state;
	assert_int_equal(jt_get(r, "a")->i, 1);
	assert_int_equal(jt_get(r, "b")->type, JT_ARRAY);
	assert_string_equal(jt_get(r, "ab")->s, "x");
	assert_int_equal(jt_get(r, "A")->type, JT_NULL);
	assert_string_equal(jt_get(r, "A")->key, "A");
	assert_null(jt_get(r, "c"));
	assert_null(jt_get(r, ""));
	assert_null(jt_get(r, "a "));
	assert_null(jt_get(jt_get(r, "b"), "0"));	/* not an object */
	assert_null(jt_get(NULL, "a"));
	assert_null(jt_get(r, NULL));
	jt_free(d);
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(jt_type_name(JT_NULL), "null");
	assert_string_equal(jt_type_name(JT_BOOL), "boolean");
	assert_string_equal(jt_type_name(JT_NUMBER), "number");
	assert_string_equal(jt_type_name(JT_STRING), "string");
	assert_string_equal(jt_type_name(JT_ARRAY), "array");
	assert_string_equal(jt_type_name(JT_OBJECT), "object");
}

/* The text need not be NUL-terminated; len is the limit.  err may be
 * short or absent. */
static void test_bounds(void **state)
{
	static const char text[] = "[1,2]garbage";
	struct jt_doc *d;
	char err[8];

	(void)state;
	d = parse_ok(text, 5);
	assert_int_equal(jt_root(d)->n, 2);
	jt_free(d);
	d = parse_ok("\"abc\"def", 5);
	assert_string_equal(jt_root(d)->s, "abc");
	jt_free(d);

	assert_int_equal(jt_parse("[1,2", 4, &d, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "1:5: un");	/* truncated, terminated */
	assert_int_equal(jt_parse("[1,2", 4, &d, NULL, 0), -EINVAL);
	assert_null(d);
	assert_int_equal(jt_parse(NULL, 0, &d, err, sizeof(err)), -EINVAL);
	jt_root(NULL);
	jt_free(NULL);
}

/* ---- writing ---- */

/* Equal as the writer sees them: type, key, value, members in order;
 * positions aside.  What differs goes to why. */
static int tree_equal(const struct jt_node *a, const struct jt_node *b,
		      char *why, size_t len)
{
	const struct jt_node *x, *y;
	size_t i = 0;

	if (a->type != b->type) {
		snprintf(why, len, "type %s vs %s", jt_type_name(a->type),
			 jt_type_name(b->type));
		return 0;
	}
	if ((a->key == NULL) != (b->key == NULL) ||
	    (a->key != NULL && strcmp(a->key, b->key) != 0)) {
		snprintf(why, len, "key \"%s\" vs \"%s\"",
			 a->key ? a->key : "(none)", b->key ? b->key : "(none)");
		return 0;
	}
	switch (a->type) {
	case JT_NULL:
		return 1;
	case JT_BOOL:
		if (a->b != b->b)
			snprintf(why, len, "boolean");
		return a->b == b->b;
	case JT_NUMBER:
		/* "-0" is the integer 0: the sign of its double is not kept */
		if (a->is_int != b->is_int || (a->is_int && a->i != b->i) ||
		    a->num != b->num ||
		    (!a->is_int && signbit(a->num) != signbit(b->num))) {
			snprintf(why, len, "number %.17g vs %.17g", a->num,
				 b->num);
			return 0;
		}
		return 1;
	case JT_STRING:
		if (a->len != b->len || memcmp(a->s, b->s, a->len + 1) != 0) {
			snprintf(why, len, "string \"%s\" vs \"%s\"", a->s,
				 b->s);
			return 0;
		}
		return 1;
	default:
		break;
	}
	if (a->n != b->n) {
		snprintf(why, len, "%zu vs %zu elements", a->n, b->n);
		return 0;
	}
	for (x = a->kids, y = b->kids; x != NULL && y != NULL;
	     x = x->next, y = y->next, i++) {
		if (!tree_equal(x, y, why, len)) {
			size_t k = strlen(why);

			snprintf(why + k, len - k, " (at element %zu)", i);
			return 0;
		}
	}
	return x == NULL && y == NULL;
}

static char *write_ok(const struct jt_node *n, size_t *len)
{
	char *out = NULL;
	int rc = jt_write(n, &out, len);

	if (rc != 0)
		fail_msg("jt_write: %d", rc);
	assert_non_null(out);
	assert_int_equal(strlen(out), *len);
	return out;
}

static const struct {
	const char *doc;
	const char *want;
} write_cases[] = {
	{ "{\"a\":1,\"b\":[true,false,null],\"c\":{},\"d\":[]}",
	  "{\"a\":1,\"b\":[true,false,null],\"c\":{},\"d\":[]}" },
	/* whitespace goes, member order stays */
	{ " { \"z\" : 1 ,\n\t\"a\" : [ ] , \"m\":\"x\" }\r\n",
	  "{\"z\":1,\"a\":[],\"m\":\"x\"}" },
	{ "\"\"", "\"\"" },
	{ "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
	  "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\"" },
	/* other control characters as \u00xx; DEL and above as they are */
	{ "\"\\u0001\\u001f\\u001F\\u007f x\"",
	  "\"\\u0001\\u001f\\u001f\x7f x\"" },
	{ "\"\\u00e9\\u20AC\\ud83d\\ude00\\uDBFF\\uDFFF\"",
	  "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"" },
	{ "\"\xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\"",
	  "\"\xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\"" },
	{ "{\"a\\nb\":1,\"\\u00e9\":2,\"\":3,\"q\\\"\":4}",
	  "{\"a\\nb\":1,\"\xc3\xa9\":2,\"\":3,\"q\\\"\":4}" },
	{ "[0,-0,7,-123,9223372036854775807,-9223372036854775808]",
	  "[0,0,7,-123,9223372036854775807,-9223372036854775808]" },
	{ "[1.0,0.5,-0.0,1e2,1E+2,25e-2,-1.5e3,36.6,0.1,38.00]",
	  "[1.0,0.5,-0.0,100.0,100.0,0.25,-1500.0,36.6,0.1,38.0]" },
	/* past int64, huge, tiny, denormal, underflow, 16 and 17 digits */
	{ "[9223372036854775808,-9223372036854775809,"
	  "123456789012345678901234567890]",
	  "[9.223372036854776e+18,-9.223372036854776e+18,"
	  "1.2345678901234568e+29]" },
	{ "[1.7976931348623157e308,2.2250738585072014e-308,4.9e-324,"
	  "1e-999,1e300,1e21,1e15,123456789012345.6]",
	  "[1.7976931348623157e+308,2.2250738585072014e-308,"
	  "4.94065645841247e-324,0.0,1e+300,1e+21,1e+15,"
	  "123456789012345.6]" },
	{ "[0.30000000000000004,0.1e1,3.141592653589793,-2.5e-5]",
	  "[0.30000000000000004,1.0,3.141592653589793,-2.5e-05]" },
	{ "[[[]],{\"a\":{\"b\":[{\"c\":null}]}},[1,[2,[3,{}]]]]",
	  "[[[]],{\"a\":{\"b\":[{\"c\":null}]}},[1,[2,[3,{}]]]]" },
	{ "{\"version\":7,\"persons\":[{\"id\":\"p1\",\"name\":"
	  "\"Chen \\\"Hao\\\"\",\"blocked\":false}],\"credentials\":[]}",
	  "{\"version\":7,\"persons\":[{\"id\":\"p1\",\"name\":"
	  "\"Chen \\\"Hao\\\"\",\"blocked\":false}],\"credentials\":[]}" },
	{ "true", "true" },
	{ "-42", "-42" },
};

/* Exact output, the round trip to an equal tree, and writing the re-read
 * tree gives the same bytes. */
static void test_write_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(write_cases) / sizeof(write_cases[0]);
	     i++) {
		struct jt_doc *d = parse_ok(write_cases[i].doc,
					    strlen(write_cases[i].doc));
		struct jt_doc *d2;
		char *out, *out2, why[512] = "";
		size_t len, len2;

		out = write_ok(jt_root(d), &len);
		if (strcmp(out, write_cases[i].want) != 0)
			fail_msg("case %zu: wrote %s\n              want %s", i,
				 out, write_cases[i].want);
		d2 = parse_ok(out, len);
		if (!tree_equal(jt_root(d), jt_root(d2), why, sizeof(why)))
			fail_msg("case %zu: read back differs: %s", i, why);
		out2 = write_ok(jt_root(d2), &len2);
		assert_int_equal(len2, len);
		assert_memory_equal(out2, out, len);
		free(out);
		free(out2);
		jt_free(d);
		jt_free(d2);
	}
}

/* A member alone, and several values into one buffer. */
static void test_write_parts(void **state)
{
	static const char doc[] = "{\"lists\": {\"mode\": \"snapshot\", "
				  "\"registry\": {\"persons\": [ {\"id\": "
				  "\"p1\"} ]}}, \"n\": 2.50}";
	struct jt_doc *d = parse_ok(doc, strlen(doc));
	const struct jt_node *r = jt_root(d);
	struct jt_buf b = { 0 };
	char *out;
	size_t len;

	(void)state;
	out = write_ok(jt_get(jt_get(r, "lists"), "registry"), &len);
	assert_string_equal(out, "{\"persons\":[{\"id\":\"p1\"}]}");
	free(out);
	out = write_ok(jt_get(r, "n"), &len);
	assert_string_equal(out, "2.5");
	free(out);

	jt_buf_str(&b, "k\"\x01", 3);
	jt_buf_node(&b, jt_get(r, "n"));
	jt_buf_str(&b, "", 0);
	assert_int_equal(b.err, 0);
	assert_string_equal(b.p, "\"k\\\"\\u0001\"2.5\"\"");
	assert_int_equal(b.len, strlen(b.p));
	free(b.p);
	jt_free(d);
}

/* Growth far past the first allocation; every element read back. */
static void test_write_big(void **state)
{
	enum { N = 50000 };
	size_t cap = (size_t)N * 48 + 16, o = 0, len;
	char *text = malloc(cap), *out, why[512] = "";
	struct jt_doc *d, *d2;

	(void)state;
	assert_non_null(text);
	text[o++] = '[';
	for (int i = 0; i < N; i++)
		o += (size_t)snprintf(text + o, cap - o,
				      "%s{\"v\":\"c%d\\n\",\"x\":%d.25}",
				      i ? "," : "", i, i);
	text[o++] = ']';
	d = parse_ok(text, o);
	out = write_ok(jt_root(d), &len);
	/* already compact: the same text */
	assert_int_equal(len, o);
	assert_memory_equal(out, text, o);
	d2 = parse_ok(out, len);
	if (!tree_equal(jt_root(d), jt_root(d2), why, sizeof(why)))
		fail_msg("read back differs: %s", why);
	free(out);
	free(text);
	jt_free(d);
	jt_free(d2);
}

/* What the parser would refuse, the writer refuses too: a tree built by
 * hand may hold it. */
static void test_write_errors(void **state)
{
	struct jt_node nodes[JT_MAX_DEPTH + 1];
	struct jt_node num = { .type = JT_NUMBER };
	struct jt_buf b = { 0 };
	char *out = (char *)"x";
	size_t len = 9;

	(void)state;
	num.num = NAN;
	assert_int_equal(jt_write(&num, &out, &len), -EINVAL);
	assert_null(out);
	assert_int_equal(len, 0);
	num.num = -INFINITY;
	assert_int_equal(jt_write(&num, &out, &len), -EINVAL);
	num.type = (enum jt_type)99;
	assert_int_equal(jt_write(&num, &out, &len), -EINVAL);
	assert_int_equal(jt_write(NULL, &out, &len), -EINVAL);

	/* JT_MAX_DEPTH nested arrays are written, one more is not */
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i <= JT_MAX_DEPTH; i++) {
		nodes[i].type = JT_ARRAY;
		if (i < JT_MAX_DEPTH) {
			nodes[i].kids = &nodes[i + 1];
			nodes[i].n = 1;
		}
	}
	assert_int_equal(jt_write(&nodes[1], &out, &len), 0);
	assert_int_equal(len, 2 * JT_MAX_DEPTH);
	free(out);
	assert_int_equal(jt_write(&nodes[0], &out, &len), -E2BIG);
	assert_null(out);

	/* the first error sticks; later appends do nothing */
	num.type = JT_NUMBER;
	num.num = NAN;
	jt_buf_str(&b, "a", 1);
	jt_buf_node(&b, &num);
	jt_buf_str(&b, "b", 1);
	assert_int_equal(b.err, -EINVAL);
	assert_string_equal(b.p, "\"a\"");
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_duplicates_big),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_long_numbers),
		cmocka_unit_test(test_literals_and_empty),
		cmocka_unit_test(test_big_array),
		cmocka_unit_test(test_big_strings),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_write_round_trip),
		cmocka_unit_test(test_write_parts),
		cmocka_unit_test(test_write_big),
		cmocka_unit_test(test_write_errors),
	};

	return cmocka_run_group_tests_name("jsontree", tests, NULL, NULL);
}
