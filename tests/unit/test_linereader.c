/* linereader: each case is a config, bytes, the events they must give and
 * the counters after.  Every byte case is fed whole, one byte at a time,
 * in fixed and in pseudo-random chunks, and each way must give exactly the
 * expected events.  Events are written "=LINE" for a code and
 * "!what@offset:byte" for an error (byte in hex, "-" for none). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "linereader.h"

struct got {
	char ev[8192];
	size_t used;
};

static const char *code_name(enum lr_code c)
{
	switch (c) {
	case LR_LINE: return "line";
	case LR_TOO_LONG: return "long";
	case LR_BAD_BYTE: return "byte";
	case LR_AFFIX: return "affix";
	case LR_TIMEOUT: return "timeout";
	case LR_OVERRUN: return "overrun";
	}
	return "?";
}

static void collect(const struct lr_event *ev, void *arg)
{
	struct got *g = arg;
	char want[64];
	int n;

	if (ev->code == LR_LINE) {
		/* what is handed out is what the header promises */
		assert_non_null(ev->line);
		assert_int_equal(strlen(ev->line), ev->len);
		assert_true(ev->len >= 1);
		for (size_t i = 0; i < ev->len; i++)
			assert_true(ev->line[i] >= 0x20 && ev->line[i] <= 0x7e);
		n = snprintf(g->ev + g->used, sizeof(g->ev) - g->used, "%s=%s",
			     g->used ? " " : "", ev->line);
	} else {
		/* every message says where, and which byte */
		assert_null(ev->line);
		assert_non_null(ev->msg);
		if (ev->code != LR_TIMEOUT) {
			snprintf(want, sizeof(want), "offset %zu", ev->offset);
			if (strstr(ev->msg, want) == NULL)
				fail_msg("'%s' lacks '%s'", ev->msg, want);
		}
		if (ev->byte >= 0) {
			snprintf(want, sizeof(want), "0x%02x", ev->byte);
			if (strstr(ev->msg, want) == NULL)
				fail_msg("'%s' lacks '%s'", ev->msg, want);
		}
		if (ev->byte >= 0)
			n = snprintf(g->ev + g->used, sizeof(g->ev) - g->used,
				     "%s!%s@%zu:%02x", g->used ? " " : "",
				     code_name(ev->code), ev->offset, ev->byte);
		else
			n = snprintf(g->ev + g->used, sizeof(g->ev) - g->used,
				     "%s!%s@%zu:-", g->used ? " " : "",
				     code_name(ev->code), ev->offset);
	}
	assert_true(n > 0 && (size_t)n < sizeof(g->ev) - g->used);
	g->used += (size_t)n;
}

static void stats_string(const struct lr *r, char *out, size_t len)
{
	const struct lr_stats *s = lr_stats(r);

	snprintf(out, len,
		 "lines=%llu empty=%llu long=%llu byte=%llu affix=%llu timeout=%llu overrun=%llu",
		 (unsigned long long)s->lines, (unsigned long long)s->empty,
		 (unsigned long long)s->too_long,
		 (unsigned long long)s->bad_byte,
		 (unsigned long long)s->affix, (unsigned long long)s->timeout,
		 (unsigned long long)s->overrun);
}

struct feed_case {
	const char *name;
	enum lr_term term;
	size_t max_len;		/* 0: the default */
	const char *prefix, *suffix;
	const char *in;
	size_t len;		/* 0: strlen(in) */
	const char *events;
	const char *stats;	/* only the counters that are not 0 */
};

#define T_AUTO LR_TERM_AUTO
#define T_CR LR_TERM_CR
#define T_LF LR_TERM_LF
#define T_CRLF LR_TERM_CRLF

static const struct feed_case cases[] = {
	/* terminators */
	{ "auto lf", T_AUTO, 0, "", "", "abc\n", 0, "=abc", "lines=1" },
	{ "auto cr", T_AUTO, 0, "", "", "abc\r", 0, "=abc", "lines=1" },
	{ "auto cr lf is one end", T_AUTO, 0, "", "", "abc\r\ndef\r\n", 0,
	  "=abc =def", "lines=2" },
	{ "auto lf cr is two ends", T_AUTO, 0, "", "", "abc\n\rdef\n\r", 0,
	  "=abc =def", "lines=2 empty=2" },
	{ "auto mixed", T_AUTO, 0, "", "", "a\rb\nc\r\nd\n", 0,
	  "=a =b =c =d", "lines=4" },
	{ "auto empty lines", T_AUTO, 0, "", "", "\n\n\r\n\r\r\nx\n", 0,
	  "=x", "lines=1 empty=5" },
	{ "no terminator, no line", T_AUTO, 0, "", "", "abc", 0, "", "" },
	{ "cr", T_CR, 0, "", "", "abc\rdef\r", 0, "=abc =def", "lines=2" },
	{ "cr: lf is a bad byte", T_CR, 0, "", "", "abc\r\ndef\rok\r", 0,
	  "=abc !byte@0:0a =ok", "lines=2 byte=1" },
	{ "lf", T_LF, 0, "", "", "abc\ndef\n", 0, "=abc =def", "lines=2" },
	{ "lf: cr is a bad byte", T_LF, 0, "", "", "abc\r\ndef\n", 0,
	  "!byte@3:0d =def", "lines=1 byte=1" },
	{ "lf: empty", T_LF, 0, "", "", "\n\nx\n", 0, "=x",
	  "lines=1 empty=2" },
	{ "crlf", T_CRLF, 0, "", "", "abc\r\ndef\r\n", 0, "=abc =def",
	  "lines=2" },
	{ "crlf: lone lf", T_CRLF, 0, "", "", "abc\ndef\r\nok\r\n", 0,
	  "!byte@3:0a =ok", "lines=1 byte=1" },
	{ "crlf: lone cr", T_CRLF, 0, "", "", "ab\rcd\r\nok\r\n", 0,
	  "!byte@2:0d =ok", "lines=1 byte=1" },
	{ "crlf: cr cr lf", T_CRLF, 0, "", "", "ab\r\r\nok\r\n", 0,
	  "!byte@2:0d =ok", "lines=1 byte=1" },
	{ "crlf: lf cr", T_CRLF, 0, "", "", "ab\n\rok\r\n", 0,
	  "!byte@2:0a", "byte=1" },
	{ "crlf: empty", T_CRLF, 0, "", "", "\r\n\r\nx\r\n", 0, "=x",
	  "lines=1 empty=2" },
	{ "crlf: held cr, no line yet", T_CRLF, 0, "", "", "abc\r", 0, "",
	  "" },
	/* bytes */
	{ "printable edges", T_AUTO, 0, "", "", " ~\n!}\n", 0, "= ~ =!}",
	  "lines=2" },
	{ "nul", T_AUTO, 0, "", "", "ab\0cd\nok\n", 9, "!byte@2:00 =ok",
	  "lines=1 byte=1" },
	{ "esc", T_AUTO, 0, "", "", "\x1b[2J\nok\n", 0, "!byte@0:1b =ok",
	  "lines=1 byte=1" },
	{ "del", T_AUTO, 0, "", "", "abc\x7f\nok\n", 0, "!byte@3:7f =ok",
	  "lines=1 byte=1" },
	{ "0xff", T_AUTO, 0, "", "", "a\xff\nok\n", 0, "!byte@1:ff =ok",
	  "lines=1 byte=1" },
	{ "0x80", T_AUTO, 0, "", "", "\x80\nok\n", 0, "!byte@0:80 =ok",
	  "lines=1 byte=1" },
	{ "0x1f", T_AUTO, 0, "", "", "a\x1f\n", 0, "!byte@1:1f", "byte=1" },
	{ "tab", T_AUTO, 0, "", "", "a\tb\n", 0, "!byte@1:09", "byte=1" },
	{ "utf-8 is not accepted", T_AUTO, 0, "", "", "\xc3\xa9\n", 0,
	  "!byte@0:c3", "byte=1" },
	{ "two bad bytes, one error", T_AUTO, 0, "", "",
	  "a\x01" "b\x02" "c\nok\n", 0, "!byte@1:01 =ok", "lines=1 byte=1" },
	{ "bad line then empty line", T_AUTO, 0, "", "", "\x01\n\n", 0,
	  "!byte@0:01", "empty=1 byte=1" },
	/* length */
	{ "exactly max", T_AUTO, 4, "", "", "abcd\n", 0, "=abcd", "lines=1" },
	{ "max + 1", T_AUTO, 4, "", "", "abcde\n", 0, "!long@4:65",
	  "long=1" },
	{ "too long, then a good line", T_AUTO, 4, "", "",
	  "abcdefghijklmnop\nok\n", 0, "!long@4:65 =ok", "lines=1 long=1" },
	{ "too long: one error, not one per byte", T_AUTO, 2, "", "",
	  "abcdefghij\x01klm\n", 0, "!long@2:63", "long=1" },
	{ "length before content", T_AUTO, 4, "", "", "abcd\x01\n", 0,
	  "!long@4:01", "long=1" },
	{ "bad byte before the limit", T_AUTO, 4, "", "", "ab\x01" "defgh\n",
	  0, "!byte@2:01", "byte=1" },
	{ "max 1", T_AUTO, 1, "", "", "a\nbb\nc\n", 0, "=a !long@1:62 =c",
	  "lines=2 long=1" },
	{ "crlf: line of max, cr at the limit", T_CRLF, 3, "", "",
	  "abc\r\nabc\rx\r\n", 0, "=abc !long@3:0d", "lines=1 long=1" },
	/* prefix and suffix */
	{ "prefix stripped", T_AUTO, 0, "]Q1", "", "]Q1abc\n", 0, "=abc",
	  "lines=1" },
	{ "prefix missing", T_AUTO, 0, "]Q1", "", "]C0abc\n]Q1ok\n", 0,
	  "!affix@1:43 =ok", "lines=1 affix=1" },
	{ "prefix only is empty", T_AUTO, 0, "]Q1", "", "]Q1\n", 0, "",
	  "empty=1" },
	{ "shorter than prefix", T_AUTO, 0, "]Q1", "", "]Q\n", 0,
	  "!affix@2:-", "affix=1" },
	{ "suffix stripped", T_AUTO, 0, "", "#", "abc#\n", 0, "=abc",
	  "lines=1" },
	{ "suffix missing", T_AUTO, 0, "", "#", "abc\n", 0, "!affix@2:63",
	  "affix=1" },
	{ "suffix: first byte that differs", T_AUTO, 0, "", "END",
	  "abcEXD\n", 0, "!affix@4:58", "affix=1" },
	{ "prefix and suffix do not overlap", T_AUTO, 0, "ab", "ba",
	  "aba\n", 0, "!affix@3:-", "affix=1" },
	{ "both, exactly max", T_AUTO, 3, "]Q1", "##", "]Q1abc##\n", 0,
	  "=abc", "lines=1" },
	{ "both, max + 1", T_AUTO, 3, "]Q1", "##", "]Q1abcd##\n", 0,
	  "!long@8:23", "long=1" },
	{ "prefix with bad byte", T_AUTO, 0, "]Q1", "", "]Q1a\x7f\n", 0,
	  "!byte@4:7f", "byte=1" },
};

/* Each counter named in want must have its value, the others 0. */
static void check_stats(const char *name, const char *how, struct lr *r,
			const char *want)
{
	static const char *const keys[] = { "lines", "empty", "long", "byte",
					     "affix", "timeout", "overrun" };
	char full[256], k[32], got[256];
	size_t used = 0;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *p;
		unsigned long v = 0;

		snprintf(k, sizeof(k), "%s=", keys[i]);
		p = strstr(want, k);
		if (p != NULL && (p == want || p[-1] == ' '))
			v = strtoul(p + strlen(k), NULL, 10);
		used += (size_t)snprintf(full + used, sizeof(full) - used,
					 "%s%s%lu", i ? " " : "", k, v);
	}
	stats_string(r, got, sizeof(got));
	if (strcmp(got, full) != 0)
		fail_msg("%s (%s): stats '%s', expected '%s'", name, how, got,
			 full);
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* chunk: 0 whole, N fixed chunks of N, negative: random with seed -chunk */
static void run_case(const struct feed_case *t, int chunk)
{
	struct lr_config cfg;
	struct lr r;
	struct got g = { .used = 0 };
	size_t len = t->len ? t->len : strlen(t->in), i = 0;
	uint32_t seed = (uint32_t)(chunk < 0 ? -chunk : 1) * 2654435761u;
	char how[32];

	g.ev[0] = '\0';
	lr_config_default(&cfg);
	cfg.term = t->term;
	if (t->max_len)
		cfg.max_len = t->max_len;
	snprintf(cfg.prefix, sizeof(cfg.prefix), "%s", t->prefix);
	snprintf(cfg.suffix, sizeof(cfg.suffix), "%s", t->suffix);
	assert_int_equal(lr_init(&r, &cfg, collect, &g), 0);
	while (i < len) {
		size_t n = len - i;

		if (chunk > 0 && n > (size_t)chunk)
			n = (size_t)chunk;
		else if (chunk < 0)
			n = 1 + rnd(&seed) % n;
		lr_feed(&r, t->in + i, n, 0);
		i += n;
	}
	snprintf(how, sizeof(how), "chunks %d", chunk);
	if (strcmp(g.ev, t->events) != 0)
		fail_msg("%s (%s): events '%s', expected '%s'", t->name, how,
			 g.ev, t->events);
	check_stats(t->name, how, &r, t->stats);
	assert_int_equal(lr_stats(&r)->bytes, len);
}

static void test_cases(void **state)
{
	static const int chunks[] = { 0, 1, 2, 3, 7, -1, -2, -3, -4, -5, -6,
				      -7, -8, -9, -10, -11, -12 };

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
			run_case(&cases[k], chunks[c]);
}

/* Scripts for time and lost bytes: f feed, t tick, o overrun, r reset,
 * d: lr_deadline() must be at. */
struct step {
	char op;
	int64_t at;
	const char *data;
};

struct script_case {
	const char *name;
	enum lr_term term;
	int64_t timeout_ms;
	struct step steps[8];
	const char *events;
	const char *stats;
};

static const struct script_case scripts[] = {
	{ "timeout of a partial line", T_AUTO, 500,
	  { { 'f', 0, "abc" }, { 'd', 500, NULL }, { 't', 499, NULL },
	    { 't', 500, NULL }, { 'd', -1, NULL }, { 'f', 600, "ok\n" } },
	  "!timeout@3:- =ok", "lines=1 timeout=1" },
	{ "the clock runs from the last byte", T_AUTO, 500,
	  { { 'f', 0, "ab" }, { 'f', 400, "c" }, { 'd', 900, NULL },
	    { 't', 899, NULL }, { 'f', 899, "\n" } },
	  "=abc", "lines=1" },
	{ "timeout 0: never", T_AUTO, 0,
	  { { 'f', 0, "abc" }, { 'd', -1, NULL }, { 't', 1000000000, NULL },
	    { 'f', 1000000000, "\n" } },
	  "=abc", "lines=1" },
	{ "nothing pending, nothing to time out", T_AUTO, 500,
	  { { 'd', -1, NULL }, { 't', 100000, NULL }, { 'f', 0, "abc\r" },
	    { 'd', -1, NULL }, { 't', 100000, NULL }, { 'f', 100001, "\n" } },
	  "=abc", "lines=1" },
	{ "a dropped line times out silently", T_AUTO, 500,
	  { { 'f', 0, "a\x01" "b" }, { 't', 500, NULL }, { 'd', -1, NULL },
	    { 'f', 600, "ok\n" } },
	  "!byte@1:01 =ok", "lines=1 byte=1" },
	{ "crlf: a held cr times out", T_CRLF, 500,
	  { { 'f', 0, "abc\r" }, { 'd', 500, NULL }, { 't', 500, NULL },
	    { 'f', 600, "ok\r\n" } },
	  "!timeout@3:- =ok", "lines=1 timeout=1" },
	{ "overrun mid-line", T_AUTO, 500,
	  { { 'f', 0, "ab" }, { 'o', 1, NULL }, { 'f', 2, "cd\nok\n" } },
	  "!overrun@2:- =ok", "lines=1 overrun=1" },
	{ "overrun between lines drops the next", T_AUTO, 500,
	  { { 'f', 0, "x\n" }, { 'o', 1, NULL }, { 'd', 501, NULL },
	    { 'f', 2, "abc\nok\n" } },
	  "=x !overrun@0:- =ok", "lines=2 overrun=1" },
	{ "overrun after a bad byte: one error", T_AUTO, 500,
	  { { 'f', 0, "a\x01" }, { 'o', 1, NULL }, { 'f', 2, "b\nok\n" } },
	  "!byte@1:01 =ok", "lines=1 byte=1" },
	{ "overrun, then the line times out", T_AUTO, 500,
	  { { 'o', 0, NULL }, { 't', 500, NULL }, { 'f', 600, "ok\n" } },
	  "!overrun@0:- =ok", "lines=1 overrun=1" },
	{ "crlf: overrun with a held cr", T_CRLF, 500,
	  { { 'f', 0, "ab\r" }, { 'o', 1, NULL }, { 'f', 2, "\nok\r\n" } },
	  "!overrun@2:- =ok", "lines=1 overrun=1" },
	{ "reset forgets the partial line", T_AUTO, 500,
	  { { 'f', 0, "abc" }, { 'r', 0, NULL }, { 'd', -1, NULL },
	    { 'f', 1, "def\n" } },
	  "=def", "lines=1" },
	{ "reset forgets a cr that waits for its lf", T_AUTO, 500,
	  { { 'f', 0, "abc\r" }, { 'r', 0, NULL }, { 'f', 1, "\nok\n" } },
	  "=abc =ok", "lines=2 empty=1" },
};

static void test_scripts(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(scripts) / sizeof(scripts[0]); k++) {
		const struct script_case *t = &scripts[k];
		struct lr_config cfg;
		struct lr r;
		struct got g = { .used = 0 };

		g.ev[0] = '\0';
		lr_config_default(&cfg);
		cfg.term = t->term;
		cfg.timeout_ms = t->timeout_ms;
		assert_int_equal(lr_init(&r, &cfg, collect, &g), 0);
		for (size_t i = 0; i < 8 && t->steps[i].op; i++) {
			const struct step *s = &t->steps[i];

			switch (s->op) {
			case 'f':
				lr_feed(&r, s->data, strlen(s->data), s->at);
				break;
			case 't':
				lr_tick(&r, s->at);
				break;
			case 'o':
				lr_overrun(&r, s->at);
				break;
			case 'r':
				lr_reset(&r);
				break;
			case 'd':
				if (lr_deadline(&r) != s->at)
					fail_msg("%s: step %zu: deadline %lld, expected %lld",
						 t->name, i,
						 (long long)lr_deadline(&r),
						 (long long)s->at);
				break;
			}
		}
		if (strcmp(g.ev, t->events) != 0)
			fail_msg("%s: events '%s', expected '%s'", t->name,
				 g.ev, t->events);
		check_stats(t->name, "script", &r, t->stats);
	}
}

/* The largest max_len, at and over the boundary, with big chunks. */
static void test_max_limit(void **state)
{
	size_t n = LR_MAX_LEN_LIMIT + 1;
	char *in = malloc(2 * n + 8);
	struct lr_config cfg;
	struct lr r;
	struct got g = { .used = 0 };
	char want[64];

	(void)state;
	assert_non_null(in);
	memset(in, 'x', LR_MAX_LEN_LIMIT);
	in[LR_MAX_LEN_LIMIT] = '\n';
	memset(in + n, 'y', n);
	in[2 * n] = '\n';
	lr_config_default(&cfg);
	cfg.max_len = LR_MAX_LEN_LIMIT;
	assert_int_equal(lr_init(&r, &cfg, collect, &g), 0);
	lr_feed(&r, in, 2 * n + 1, 0);
	/* a line of 4096 'x', then the error at offset 4096 */
	assert_int_equal(lr_stats(&r)->lines, 1);
	assert_int_equal(lr_stats(&r)->too_long, 1);
	assert_int_equal(g.used, 1 + LR_MAX_LEN_LIMIT + 1 + strlen("!long@4096:79"));
	snprintf(want, sizeof(want), " !long@%d:79", LR_MAX_LEN_LIMIT);
	assert_string_equal(g.ev + 1 + LR_MAX_LEN_LIMIT, want);
	assert_int_equal(g.ev[LR_MAX_LEN_LIMIT], 'x');
	free(in);
}

static void test_config(void **state)
{
	static const struct {
		size_t max_len;
		int term;
		const char *prefix, *suffix;
		int64_t timeout;
		const char *err;	/* NULL: valid */
	} t[] = {
		{ 1, 0, "", "", 0, NULL },
		{ LR_MAX_LEN_LIMIT, 3, "]Q1", "#", LR_TIMEOUT_LIMIT_MS, NULL },
		{ 0, 0, "", "", 500, "max_line_length: 0 is out of range 1..4096" },
		{ LR_MAX_LEN_LIMIT + 1, 0, "", "", 500, "max_line_length: 4097" },
		{ 256, 4, "", "", 500, "terminator: unknown value 4" },
		{ 256, -1, "", "", 500, "terminator" },
		{ 256, 0, "", "", -1, "line_timeout_ms: -1 is out of range" },
		{ 256, 0, "", "", LR_TIMEOUT_LIMIT_MS + 1, "line_timeout_ms" },
		{ 256, 0, "]Q\t", "", 500,
		  "prefix: byte 0x09 at offset 2 is not printable ASCII" },
		{ 256, 0, "", "\x7f", 500, "suffix: byte 0x7f at offset 0" },
		{ 256, 0, "", "0123456789abcdef", 500, NULL },
	};
	struct lr_config c;
	struct lr r;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc;

		lr_config_default(&c);
		c.max_len = t[i].max_len;
		c.term = (enum lr_term)t[i].term;
		snprintf(c.prefix, sizeof(c.prefix), "%s", t[i].prefix);
		snprintf(c.suffix, sizeof(c.suffix), "%s", t[i].suffix);
		c.timeout_ms = t[i].timeout;
		err[0] = '\0';
		rc = lr_config_check(&c, err, sizeof(err));
		if (t[i].err == NULL) {
			if (rc != 0)
				fail_msg("case %zu: rc %d '%s'", i, rc, err);
			assert_int_equal(lr_init(&r, &c, collect, NULL), 0);
		} else {
			if (rc != -EINVAL || strstr(err, t[i].err) == NULL)
				fail_msg("case %zu: rc %d '%s', expected '%s'", i,
					 rc, err, t[i].err);
			assert_int_equal(lr_init(&r, &c, collect, NULL), -EINVAL);
		}
	}
	/* 17 bytes do not fit the array: only an unterminated one can say so */
	lr_config_default(&c);
	memset(c.prefix, 'p', sizeof(c.prefix));
	assert_int_equal(lr_config_check(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "prefix: longer than 16 bytes"));
}

static void test_term_names(void **state)
{
	static const char *const names[] = { "auto", "cr", "lf", "crlf" };
	enum lr_term t;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(lr_term_parse(names[i], &t), 0);
		assert_int_equal(t, i);
		assert_string_equal(lr_term_name(t), names[i]);
	}
	assert_int_equal(lr_term_parse("CRLF", &t), -EINVAL);
	assert_int_equal(lr_term_parse("", &t), -EINVAL);
	assert_int_equal(lr_term_parse("cr lf", &t), -EINVAL);
	assert_null(lr_term_name((enum lr_term)4));
}

static void last_message(const struct lr_event *ev, void *arg)
{
	char *last = arg;

	if (ev->code != LR_LINE)
		snprintf(last, 200, "%s", ev->msg);
}

/* The messages an operator reads, in full for each kind. */
static void test_messages(void **state)
{
	static const struct {
		const char *prefix, *suffix;
		size_t max_len;
		enum lr_term term;
		const char *in;
		const char *msg;
	} t[] = {
		{ "", "", 4, T_AUTO, "abcde\n",
		  "line longer than max_line_length 4: byte 0x65 at offset 4; dropped up to its terminator" },
		{ "]Q1", "", 4, T_AUTO, "]Q1abcde\n",
		  "line longer than 7 bytes (max_line_length 4 + prefix + suffix): byte 0x65 at offset 7; dropped up to its terminator" },
		{ "", "", 4, T_AUTO, "a\x1b\n",
		  "non-printable byte 0x1b (ESC) at offset 1; line dropped" },
		{ "", "", 4, T_AUTO, "\xe2\n",
		  "non-printable byte 0xe2 (not ASCII) at offset 0; line dropped" },
		{ "", "", 4, T_LF, "ab\r\n",
		  "non-printable byte 0x0d (a line end: is this scanner's terminator set right?) at offset 2; line dropped" },
		{ "]Q1", "", 9, T_AUTO, "]C0abc\n",
		  "line does not start with prefix \"]Q1\": byte 0x43 at offset 1; dropped" },
		{ "", "!", 9, T_AUTO, "abc\n",
		  "line does not end with suffix \"!\": byte 0x63 at offset 2; dropped" },
		{ "]Q1", "!", 9, T_AUTO, "]Q\n",
		  "line too short for its prefix and suffix (4 bytes): it ends at offset 2; dropped" },
	};
	struct lr_config c;
	struct lr r;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char last[200] = "";

		lr_config_default(&c);
		c.max_len = t[i].max_len;
		c.term = t[i].term;
		snprintf(c.prefix, sizeof(c.prefix), "%s", t[i].prefix);
		snprintf(c.suffix, sizeof(c.suffix), "%s", t[i].suffix);
		assert_int_equal(lr_init(&r, &c, last_message, last), 0);
		lr_feed(&r, t[i].in, strlen(t[i].in), 0);
		assert_string_equal(last, t[i].msg);
	}
	/* the timeout says how long, and a held CR */
	{
		char last[200] = "";

		lr_config_default(&c);
		c.term = T_CRLF;
		assert_int_equal(lr_init(&r, &c, last_message, last), 0);
		lr_feed(&r, "abc\r", 4, 1000);
		lr_tick(&r, 1700);
		assert_string_equal(last,
				    "partial line of 3 bytes and a CR with no terminator for 700 ms; dropped");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_max_limit),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_term_names),
		cmocka_unit_test(test_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
