/*
 * rules: every condition kind and value, every action, the default
 * verdict, every validation error with its exact position and path,
 * unreachable rules, the case runner, and a property test that checks
 * rules_eval() against a reference evaluator written from docs/rules.md on
 * thousands of random valid documents.  The shipped policy has its own
 * test (test_rules_policy.c).
 *
 * The facts of most table rows are written in the "given" language of the
 * case files (parsed by rcase_parse(), itself tested field by field in
 * test_given_fields), which keeps the tables readable.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* --- helpers ------------------------------------------------------------- */

#define KEEP 16

struct errs {
	int n;
	char where[KEEP][160];
	char path[KEEP][300];
	char msg[KEEP][600];
};

static void collect(void *ctx, const char *where, const char *path,
		    const char *msg)
{
	struct errs *e = ctx;

	if (e->n < KEEP) {
		snprintf(e->where[e->n], sizeof(e->where[0]), "%s", where);
		snprintf(e->path[e->n], sizeof(e->path[0]), "%s", path);
		snprintf(e->msg[e->n], sizeof(e->msg[0]), "%s", msg);
	}
	e->n++;
}

static void print_errs(const struct errs *e)
{
	for (int i = 0; i < e->n && i < KEEP; i++)
		fprintf(stderr, "  %s: %s: %s\n", e->where[i], e->path[i],
			e->msg[i]);
}

static struct rules *compile(const char *text)
{
	struct rules *r = NULL;
	struct errs e = { 0 };
	int rc = rules_parse(text, strlen(text), "t.json", &r, collect, &e);

	if (rc != 0) {
		fprintf(stderr, "unexpected errors in: %s\n", text);
		print_errs(&e);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(e.n, 0);
	assert_non_null(r);
	return r;
}

/* facts from the "given" object of a case */
static void given(const char *g, struct rules_facts *f)
{
	char text[2048];
	struct rcase_set *s = NULL;
	struct errs e = { 0 };
	int rc;

	snprintf(text, sizeof(text),
		 "{\"cases\":[{\"name\":\"t\",\"given\":%s,"
		 "\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}", g);
	rc = rcase_parse(text, strlen(text), "g.json", &s, collect, &e);
	if (rc != 0) {
		fprintf(stderr, "bad given: %s\n", g);
		print_errs(&e);
	}
	assert_int_equal(rc, 0);
	memcpy(f, &rcase_get(s, 0)->facts, sizeof(*f));
	rcase_free(s);
}

/* one rule with this "when"; does it match these facts? */
static int one_matches(const char *when, const char *g)
{
	char text[2048];
	struct rules_facts f;
	struct rules_verdict v;
	struct rules *r;

	snprintf(text, sizeof(text),
		 "{\"version\":1,\"rules\":[{\"id\":\"r\",\"when\":%s,"
		 "\"action\":\"allow\",\"reason\":\"resident\","
		 "\"message\":\"m\"}]}", when);
	r = compile(text);
	given(g, &f);
	rules_eval(r, &f, &v);
	rules_free(r);
	assert_true(v.index == 0 || v.index == -1);
	return v.index == 0;
}

/* --- conditions ---------------------------------------------------------- */

struct cond_case {
	const char *when;
	const char *given;
	int match;
};

/* the default facts: normal mode, in, a valid resident with a household,
 * no host, no flags, no thermal sensor, not a re-test, Monday
 * 2026-01-05 12:00, no last passage, no exits */
static const struct cond_case cond_cases[] = {
	/* no conditions */
	{ "{}", "{}", 1 },
	{ "{}", "{\"credential\":\"unknown\",\"temperature\":\"fault\"}", 1 },
	/* mode: every value, lists */
	{ "{\"mode\":\"normal\"}", "{}", 1 },
	{ "{\"mode\":\"normal\"}", "{\"mode\":\"lockdown\"}", 0 },
	{ "{\"mode\":\"residents-only\"}", "{\"mode\":\"residents-only\"}", 1 },
	{ "{\"mode\":\"residents-only\"}", "{\"mode\":\"normal\"}", 0 },
	{ "{\"mode\":\"lockdown\"}", "{\"mode\":\"lockdown\"}", 1 },
	{ "{\"mode\":\"lockdown\"}", "{\"mode\":\"open\"}", 0 },
	{ "{\"mode\":\"open\"}", "{\"mode\":\"open\"}", 1 },
	{ "{\"mode\":\"open\"}", "{\"mode\":\"residents-only\"}", 0 },
	{ "{\"mode\":[\"open\",\"lockdown\"]}", "{\"mode\":\"lockdown\"}", 1 },
	{ "{\"mode\":[\"open\",\"lockdown\"]}", "{\"mode\":\"open\"}", 1 },
	{ "{\"mode\":[\"open\",\"lockdown\"]}", "{\"mode\":\"normal\"}", 0 },
	{ "{\"mode\":[\"normal\"]}", "{}", 1 },
	/* mode holds with no person */
	{ "{\"mode\":\"normal\"}", "{\"credential\":\"unknown\"}", 1 },
	/* direction */
	{ "{\"direction\":\"in\"}", "{\"direction\":\"in\"}", 1 },
	{ "{\"direction\":\"in\"}", "{\"direction\":\"out\"}", 0 },
	{ "{\"direction\":\"out\"}", "{\"direction\":\"out\"}", 1 },
	{ "{\"direction\":\"out\"}", "{\"direction\":\"in\"}", 0 },
	{ "{\"direction\":\"out\"}", "{\"direction\":\"out\",\"credential\":\"none\"}", 1 },
	/* credential: every value, lists */
	{ "{\"credential\":\"none\"}", "{\"credential\":\"none\"}", 1 },
	{ "{\"credential\":\"none\"}", "{\"credential\":\"missing\"}", 0 },
	{ "{\"credential\":\"missing\"}", "{\"credential\":\"missing\"}", 1 },
	{ "{\"credential\":\"missing\"}", "{\"credential\":\"none\"}", 0 },
	{ "{\"credential\":\"unknown\"}", "{\"credential\":\"unknown\"}", 1 },
	{ "{\"credential\":\"unknown\"}", "{}", 0 },
	{ "{\"credential\":\"revoked\"}", "{\"credential\":\"revoked\"}", 1 },
	{ "{\"credential\":\"revoked\"}", "{\"credential\":\"expired\"}", 0 },
	{ "{\"credential\":\"expired\"}", "{\"credential\":\"expired\"}", 1 },
	{ "{\"credential\":\"expired\"}", "{\"credential\":\"not_yet_valid\"}", 0 },
	{ "{\"credential\":\"not_yet_valid\"}", "{\"credential\":\"not_yet_valid\"}", 1 },
	{ "{\"credential\":\"not_yet_valid\"}", "{}", 0 },
	{ "{\"credential\":\"valid\"}", "{}", 1 },
	{ "{\"credential\":\"valid\"}", "{\"credential\":\"revoked\"}", 0 },
	{ "{\"credential\":[\"revoked\",\"expired\"]}", "{\"credential\":\"expired\"}", 1 },
	{ "{\"credential\":[\"revoked\",\"expired\"]}", "{\"credential\":\"revoked\"}", 1 },
	{ "{\"credential\":[\"revoked\",\"expired\"]}", "{\"credential\":\"valid\"}", 0 },
	/* role: every value, lists, only with a person */
	{ "{\"role\":\"resident\"}", "{}", 1 },
	{ "{\"role\":\"resident\"}", "{\"role\":\"tenant\"}", 0 },
	{ "{\"role\":\"tenant\"}", "{\"role\":\"tenant\"}", 1 },
	{ "{\"role\":\"tenant\"}", "{}", 0 },
	{ "{\"role\":\"visitor\"}", "{\"role\":\"visitor\"}", 1 },
	{ "{\"role\":\"visitor\"}", "{\"role\":\"staff\"}", 0 },
	{ "{\"role\":\"staff\"}", "{\"role\":\"staff\"}", 1 },
	{ "{\"role\":\"staff\"}", "{\"role\":\"courier\"}", 0 },
	{ "{\"role\":\"courier\"}", "{\"role\":\"courier\"}", 1 },
	{ "{\"role\":\"courier\"}", "{\"role\":\"visitor\"}", 0 },
	{ "{\"role\":[\"visitor\",\"courier\"]}", "{\"role\":\"courier\"}", 1 },
	{ "{\"role\":[\"visitor\",\"courier\"]}", "{\"role\":\"resident\"}", 0 },
	{ "{\"role\":\"resident\"}", "{\"credential\":\"unknown\"}", 0 },
	{ "{\"role\":\"resident\"}", "{\"credential\":\"none\"}", 0 },
	{ "{\"role\":\"resident\"}", "{\"credential\":\"missing\"}", 0 },
	{ "{\"role\":\"resident\"}", "{\"credential\":\"revoked\"}", 1 },
	{ "{\"role\":\"resident\"}", "{\"credential\":\"expired\"}", 1 },
	{ "{\"role\":\"resident\"}", "{\"credential\":\"not_yet_valid\"}", 1 },
	/* person */
	{ "{\"person\":\"valid\"}", "{}", 1 },
	{ "{\"person\":\"valid\"}", "{\"person\":\"expired\"}", 0 },
	{ "{\"person\":\"expired\"}", "{\"person\":\"expired\"}", 1 },
	{ "{\"person\":\"expired\"}", "{\"person\":\"not_yet_valid\"}", 0 },
	{ "{\"person\":\"not_yet_valid\"}", "{\"person\":\"not_yet_valid\"}", 1 },
	{ "{\"person\":\"not_yet_valid\"}", "{}", 0 },
	{ "{\"person\":[\"expired\",\"not_yet_valid\"]}", "{\"person\":\"expired\"}", 1 },
	{ "{\"person\":[\"expired\",\"not_yet_valid\"]}", "{}", 0 },
	{ "{\"person\":\"valid\"}", "{\"credential\":\"unknown\"}", 0 },
	/* booleans, both values, and none of them without a person */
	{ "{\"host\":true}", "{\"host\":true}", 1 },
	{ "{\"host\":true}", "{\"host\":false}", 0 },
	{ "{\"host\":false}", "{\"host\":false}", 1 },
	{ "{\"host\":false}", "{\"host\":true}", 0 },
	{ "{\"host\":false}", "{\"credential\":\"unknown\",\"host\":false}", 0 },
	{ "{\"host\":true}", "{\"credential\":\"unknown\",\"host\":true}", 0 },
	{ "{\"household\":true}", "{}", 1 },
	{ "{\"household\":true}", "{\"household\":false}", 0 },
	{ "{\"household\":false}", "{\"household\":false}", 1 },
	{ "{\"household\":false}", "{}", 0 },
	{ "{\"household\":false}", "{\"credential\":\"missing\",\"household\":false}", 0 },
	{ "{\"household\":true}", "{\"credential\":\"none\"}", 0 },
	{ "{\"quarantine\":true}", "{\"quarantine\":true}", 1 },
	{ "{\"quarantine\":true}", "{}", 0 },
	{ "{\"quarantine\":false}", "{}", 1 },
	{ "{\"quarantine\":false}", "{\"quarantine\":true}", 0 },
	{ "{\"quarantine\":false}", "{\"credential\":\"unknown\"}", 0 },
	{ "{\"quarantine\":true}", "{\"credential\":\"unknown\",\"quarantine\":true}", 0 },
	{ "{\"observation\":true}", "{\"observation\":true}", 1 },
	{ "{\"observation\":true}", "{}", 0 },
	{ "{\"observation\":false}", "{}", 1 },
	{ "{\"observation\":false}", "{\"observation\":true}", 0 },
	{ "{\"observation\":false}", "{\"credential\":\"none\"}", 0 },
	{ "{\"blocked\":true}", "{\"blocked\":true}", 1 },
	{ "{\"blocked\":true}", "{}", 0 },
	{ "{\"blocked\":false}", "{}", 1 },
	{ "{\"blocked\":false}", "{\"blocked\":true}", 0 },
	{ "{\"blocked\":false}", "{\"credential\":\"unknown\"}", 0 },
	{ "{\"blocked\":true}", "{\"credential\":\"unknown\",\"blocked\":true}", 0 },
	/* retest holds with or without a person */
	{ "{\"retest\":true}", "{\"retest\":true}", 1 },
	{ "{\"retest\":true}", "{}", 0 },
	{ "{\"retest\":false}", "{}", 1 },
	{ "{\"retest\":false}", "{\"retest\":true}", 0 },
	{ "{\"retest\":false}", "{\"credential\":\"none\"}", 1 },
	/* temperature states */
	{ "{\"temperature\":\"none\"}", "{}", 1 },
	{ "{\"temperature\":\"none\"}", "{\"temperature\":36.6}", 0 },
	{ "{\"temperature\":\"missing\"}", "{\"temperature\":\"missing\"}", 1 },
	{ "{\"temperature\":\"missing\"}", "{\"temperature\":\"fault\"}", 0 },
	{ "{\"temperature\":\"fault\"}", "{\"temperature\":\"fault\"}", 1 },
	{ "{\"temperature\":\"fault\"}", "{\"temperature\":\"missing\"}", 0 },
	{ "{\"temperature\":\"present\"}", "{\"temperature\":36.6}", 1 },
	{ "{\"temperature\":\"present\"}", "{\"temperature\":45}", 1 },
	{ "{\"temperature\":\"present\"}", "{\"temperature\":\"none\"}", 0 },
	{ "{\"temperature\":\"present\"}", "{\"temperature\":\"missing\"}", 0 },
	{ "{\"temperature\":\"missing\"}", "{\"credential\":\"none\",\"temperature\":\"missing\"}", 1 },
	/* temperature thresholds and ranges, at their boundaries */
	{ "{\"temperature\":{\"at_or_above\":37.3}}", "{\"temperature\":37.29}", 0 },
	{ "{\"temperature\":{\"at_or_above\":37.3}}", "{\"temperature\":37.3}", 1 },
	{ "{\"temperature\":{\"at_or_above\":37.3}}", "{\"temperature\":37.31}", 1 },
	{ "{\"temperature\":{\"at_or_above\":37.3}}", "{\"temperature\":50}", 1 },
	{ "{\"temperature\":{\"at_or_above\":37.3}}", "{\"temperature\":\"missing\"}", 0 },
	{ "{\"temperature\":{\"at_or_above\":37.3}}", "{\"temperature\":\"fault\"}", 0 },
	{ "{\"temperature\":{\"at_or_above\":37.3}}", "{\"temperature\":\"none\"}", 0 },
	{ "{\"temperature\":{\"below\":34}}", "{\"temperature\":33.99}", 1 },
	{ "{\"temperature\":{\"below\":34}}", "{\"temperature\":34}", 0 },
	{ "{\"temperature\":{\"below\":34}}", "{\"temperature\":0}", 1 },
	{ "{\"temperature\":{\"below\":34}}", "{\"temperature\":\"missing\"}", 0 },
	{ "{\"temperature\":{\"at_or_above\":36,\"below\":37.3}}", "{\"temperature\":35.99}", 0 },
	{ "{\"temperature\":{\"at_or_above\":36,\"below\":37.3}}", "{\"temperature\":36}", 1 },
	{ "{\"temperature\":{\"at_or_above\":36,\"below\":37.3}}", "{\"temperature\":37.29}", 1 },
	{ "{\"temperature\":{\"at_or_above\":36,\"below\":37.3}}", "{\"temperature\":37.3}", 0 },
	{ "{\"temperature\":{\"at_or_above\":20,\"below\":50}}", "{\"temperature\":20}", 1 },
	{ "{\"temperature\":{\"at_or_above\":20,\"below\":50}}", "{\"temperature\":50}", 0 },
	/* time: a window within the day, and at its ends */
	{ "{\"time\":{\"from\":\"09:00\",\"to\":\"17:00\"}}", "{\"time\":\"2026-01-05T08:59\"}", 0 },
	{ "{\"time\":{\"from\":\"09:00\",\"to\":\"17:00\"}}", "{\"time\":\"2026-01-05T09:00\"}", 1 },
	{ "{\"time\":{\"from\":\"09:00\",\"to\":\"17:00\"}}", "{\"time\":\"2026-01-05T16:59\"}", 1 },
	{ "{\"time\":{\"from\":\"09:00\",\"to\":\"17:00\"}}", "{\"time\":\"2026-01-05T17:00\"}", 0 },
	/* past midnight */
	{ "{\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}", "{\"time\":\"2026-01-05T22:59\"}", 0 },
	{ "{\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}", "{\"time\":\"2026-01-05T23:00\"}", 1 },
	{ "{\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}", "{\"time\":\"2026-01-05T23:59\"}", 1 },
	{ "{\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}", "{\"time\":\"2026-01-06T00:00\"}", 1 },
	{ "{\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}", "{\"time\":\"2026-01-06T05:59\"}", 1 },
	{ "{\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}", "{\"time\":\"2026-01-06T06:00\"}", 0 },
	{ "{\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}", "{\"time\":\"2026-01-06T12:00\"}", 0 },
	/* up to midnight, and the whole day but a minute */
	{ "{\"time\":{\"from\":\"22:00\",\"to\":\"00:00\"}}", "{\"time\":\"2026-01-05T21:59\"}", 0 },
	{ "{\"time\":{\"from\":\"22:00\",\"to\":\"00:00\"}}", "{\"time\":\"2026-01-05T22:00\"}", 1 },
	{ "{\"time\":{\"from\":\"22:00\",\"to\":\"00:00\"}}", "{\"time\":\"2026-01-05T23:59\"}", 1 },
	{ "{\"time\":{\"from\":\"22:00\",\"to\":\"00:00\"}}", "{\"time\":\"2026-01-06T00:00\"}", 0 },
	{ "{\"time\":{\"from\":\"00:00\",\"to\":\"23:59\"}}", "{\"time\":\"2026-01-06T00:00\"}", 1 },
	{ "{\"time\":{\"from\":\"00:00\",\"to\":\"23:59\"}}", "{\"time\":\"2026-01-06T23:59\"}", 0 },
	/* days: 2026-01-05 is a Monday, 2026-01-10 a Saturday */
	{ "{\"time\":{\"days\":\"mon\"}}", "{\"time\":\"2026-01-05T12:00\"}", 1 },
	{ "{\"time\":{\"days\":\"mon\"}}", "{\"time\":\"2026-01-06T12:00\"}", 0 },
	{ "{\"time\":{\"days\":[\"sat\",\"sun\"]}}", "{\"time\":\"2026-01-10T12:00\"}", 1 },
	{ "{\"time\":{\"days\":[\"sat\",\"sun\"]}}", "{\"time\":\"2026-01-11T12:00\"}", 1 },
	{ "{\"time\":{\"days\":[\"sat\",\"sun\"]}}", "{\"time\":\"2026-01-09T12:00\"}", 0 },
	{ "{\"time\":{\"days\":[\"tue\",\"wed\",\"thu\"]}}", "{\"time\":\"2026-01-07T12:00\"}", 1 },
	{ "{\"time\":{\"days\":\"fri\"}}", "{\"time\":\"2026-01-09T00:00\"}", 1 },
	/* days and a window: the window's day is the day of the attempt */
	{ "{\"time\":{\"days\":\"fri\",\"from\":\"22:00\",\"to\":\"02:00\"}}", "{\"time\":\"2026-01-09T23:00\"}", 1 },
	{ "{\"time\":{\"days\":\"fri\",\"from\":\"22:00\",\"to\":\"02:00\"}}", "{\"time\":\"2026-01-09T01:00\"}", 1 },
	{ "{\"time\":{\"days\":\"fri\",\"from\":\"22:00\",\"to\":\"02:00\"}}", "{\"time\":\"2026-01-10T01:00\"}", 0 },
	{ "{\"time\":{\"days\":\"fri\",\"from\":\"22:00\",\"to\":\"02:00\"}}", "{\"time\":\"2026-01-09T12:00\"}", 0 },
	/* dates and except_dates */
	{ "{\"time\":{\"dates\":\"2026-01-05\"}}", "{}", 1 },
	{ "{\"time\":{\"dates\":\"2026-01-05\"}}", "{\"time\":\"2026-01-06T12:00\"}", 0 },
	{ "{\"time\":{\"dates\":[\"2026-12-31\",\"2024-02-29\",\"2026-01-01\"]}}", "{\"time\":\"2024-02-29T08:00\"}", 1 },
	{ "{\"time\":{\"dates\":[\"2026-12-31\",\"2024-02-29\",\"2026-01-01\"]}}", "{\"time\":\"2026-12-31T08:00\"}", 1 },
	{ "{\"time\":{\"dates\":[\"2026-12-31\",\"2024-02-29\",\"2026-01-01\"]}}", "{\"time\":\"2026-01-01T08:00\"}", 1 },
	{ "{\"time\":{\"dates\":[\"2026-12-31\",\"2024-02-29\",\"2026-01-01\"]}}", "{\"time\":\"2025-02-28T08:00\"}", 0 },
	{ "{\"time\":{\"except_dates\":[\"2026-01-05\"]}}", "{}", 0 },
	{ "{\"time\":{\"except_dates\":[\"2026-01-05\"]}}", "{\"time\":\"2026-01-06T12:00\"}", 1 },
	{ "{\"time\":{\"days\":\"mon\",\"except_dates\":\"2026-01-05\"}}", "{\"time\":\"2026-01-12T12:00\"}", 1 },
	{ "{\"time\":{\"days\":\"mon\",\"except_dates\":\"2026-01-05\"}}", "{\"time\":\"2026-01-05T12:00\"}", 0 },
	{ "{\"time\":{\"dates\":[\"2026-01-05\",\"2026-01-06\"],\"from\":\"08:00\",\"to\":\"09:00\"}}", "{\"time\":\"2026-01-06T08:30\"}", 1 },
	{ "{\"time\":{\"dates\":[\"2026-01-05\",\"2026-01-06\"],\"from\":\"08:00\",\"to\":\"09:00\"}}", "{\"time\":\"2026-01-06T09:30\"}", 0 },
	{ "{\"time\":{\"days\":\"mon\"}}", "{\"credential\":\"unknown\"}", 1 },
	/* quota: how many exits within the hours, at the boundary */
	{ "{\"quota\":{\"exits\":1,\"hours\":48}}", "{\"exits_hours_ago\":[]}", 0 },
	{ "{\"quota\":{\"exits\":1,\"hours\":48}}", "{\"exits_hours_ago\":[0]}", 1 },
	{ "{\"quota\":{\"exits\":1,\"hours\":48}}", "{\"exits_hours_ago\":[47.99972222222]}", 1 },
	{ "{\"quota\":{\"exits\":1,\"hours\":48}}", "{\"exits_hours_ago\":[48]}", 0 },
	{ "{\"quota\":{\"exits\":1,\"hours\":48}}", "{\"exits_hours_ago\":[49,100]}", 0 },
	{ "{\"quota\":{\"exits\":2,\"hours\":48}}", "{\"exits_hours_ago\":[1]}", 0 },
	{ "{\"quota\":{\"exits\":2,\"hours\":48}}", "{\"exits_hours_ago\":[1,47]}", 1 },
	{ "{\"quota\":{\"exits\":2,\"hours\":48}}", "{\"exits_hours_ago\":[47,1]}", 1 },
	{ "{\"quota\":{\"exits\":2,\"hours\":48}}", "{\"exits_hours_ago\":[1,48]}", 0 },
	{ "{\"quota\":{\"exits\":2,\"hours\":1}}", "{\"exits_hours_ago\":[0.5,0.99972222222]}", 1 },
	{ "{\"quota\":{\"exits\":2,\"hours\":1}}", "{\"exits_hours_ago\":[0.5,1]}", 0 },
	{ "{\"quota\":{\"exits\":1,\"hours\":48}}", "{\"exits_hours_ago\":[1],\"household\":false}", 0 },
	{ "{\"quota\":{\"exits\":1,\"hours\":48}}", "{\"exits_hours_ago\":[1],\"credential\":\"unknown\"}", 0 },
	/* passback: the same direction as last time */
	{ "{\"passback\":true}", "{\"direction\":\"in\",\"last_direction\":\"in\"}", 1 },
	{ "{\"passback\":true}", "{\"direction\":\"out\",\"last_direction\":\"out\"}", 1 },
	{ "{\"passback\":true}", "{\"direction\":\"in\",\"last_direction\":\"out\"}", 0 },
	{ "{\"passback\":true}", "{\"direction\":\"out\",\"last_direction\":\"in\"}", 0 },
	{ "{\"passback\":true}", "{\"direction\":\"in\",\"last_direction\":null}", 0 },
	{ "{\"passback\":true}", "{\"direction\":\"in\"}", 0 },
	{ "{\"passback\":true}", "{\"direction\":\"in\",\"last_direction\":\"in\",\"last_hours_ago\":10000}", 1 },
	{ "{\"passback\":true}", "{\"direction\":\"in\",\"last_direction\":\"in\",\"credential\":\"unknown\"}", 0 },
	{ "{\"passback\":{\"hours\":2}}", "{\"direction\":\"in\",\"last_direction\":\"in\",\"last_hours_ago\":1.99972222222}", 1 },
	{ "{\"passback\":{\"hours\":2}}", "{\"direction\":\"in\",\"last_direction\":\"in\",\"last_hours_ago\":2}", 0 },
	{ "{\"passback\":{\"hours\":2}}", "{\"direction\":\"in\",\"last_direction\":\"out\",\"last_hours_ago\":1}", 0 },
	/* several conditions: all must hold */
	{ "{\"role\":\"visitor\",\"direction\":\"in\",\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}",
	  "{\"role\":\"visitor\",\"direction\":\"in\",\"time\":\"2026-01-05T23:30\"}", 1 },
	{ "{\"role\":\"visitor\",\"direction\":\"in\",\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}",
	  "{\"role\":\"visitor\",\"direction\":\"out\",\"time\":\"2026-01-05T23:30\"}", 0 },
	{ "{\"role\":\"visitor\",\"direction\":\"in\",\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}",
	  "{\"role\":\"resident\",\"direction\":\"in\",\"time\":\"2026-01-05T23:30\"}", 0 },
	{ "{\"temperature\":{\"at_or_above\":37.3},\"retest\":false}", "{\"temperature\":38}", 1 },
	{ "{\"temperature\":{\"at_or_above\":37.3},\"retest\":false}", "{\"temperature\":38,\"retest\":true}", 0 },
	{ "{\"mode\":\"lockdown\",\"direction\":\"out\",\"role\":[\"resident\",\"tenant\"],\"quota\":{\"exits\":1,\"hours\":48}}",
	  "{\"mode\":\"lockdown\",\"direction\":\"out\",\"role\":\"tenant\",\"exits_hours_ago\":[5]}", 1 },
	{ "{\"mode\":\"lockdown\",\"direction\":\"out\",\"role\":[\"resident\",\"tenant\"],\"quota\":{\"exits\":1,\"hours\":48}}",
	  "{\"mode\":\"normal\",\"direction\":\"out\",\"role\":\"tenant\",\"exits_hours_ago\":[5]}", 0 },
};

static void test_conditions(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(cond_cases); i++) {
		const struct cond_case *k = &cond_cases[i];
		int got = one_matches(k->when, k->given);

		if (got != k->match)
			fail_msg("row %zu: when %s given %s: expected %s", i,
				 k->when, k->given,
				 k->match ? "a match" : "no match");
	}
}

static struct rules_facts base_facts(void)
{
	struct rules_facts f;

	given("{}", &f);
	return f;
}

/* What the given language cannot say: odd values from a caller. */
static void test_conditions_raw(void **state)
{
	struct rules *r;
	struct rules_facts f;
	struct rules_verdict v;

	(void)state;
	/* a reading that is not a number is a sensor fault, never normal */
	r = compile("{\"version\":1,\"rules\":["
		    "{\"id\":\"fever\",\"when\":{\"temperature\":{\"at_or_above\":37.3}},"
		    "\"action\":\"deny\",\"reason\":\"fever\",\"message\":\"m\"},"
		    "{\"id\":\"ok\",\"when\":{\"temperature\":\"present\"},"
		    "\"action\":\"allow\",\"reason\":\"temperature_ok\",\"message\":\"m\"},"
		    "{\"id\":\"fault\",\"when\":{\"temperature\":\"fault\"},"
		    "\"action\":\"deny\",\"reason\":\"sensor_fault\",\"message\":\"m\"}]}");
	f = base_facts();
	f.temperature = RULES_TEMP_OK;
	f.temperature_c = NAN;
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "fault");
	f.temperature_c = INFINITY;
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "fault");
	f.temperature_c = 36.6;
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "ok");
	f.temperature_c = 37.3;
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "fever");
	/* out-of-range enums from a confused caller match nothing */
	f.temperature = (enum rules_temp)9;
	rules_eval(r, &f, &v);
	assert_int_equal(v.index, -1);
	rules_free(r);

	r = compile("{\"version\":1,\"rules\":["
		    "{\"id\":\"m\",\"when\":{\"mode\":[\"normal\",\"residents-only\",\"lockdown\",\"open\"]},"
		    "\"action\":\"allow\",\"reason\":\"resident\",\"message\":\"m\"},"
		    "{\"id\":\"d\",\"when\":{\"time\":{\"days\":[\"sun\",\"mon\",\"tue\",\"wed\",\"thu\",\"fri\",\"sat\"]}},"
		    "\"action\":\"allow\",\"reason\":\"resident\",\"message\":\"m\"},"
		    "{\"id\":\"q\",\"when\":{\"quota\":{\"exits\":64,\"hours\":1}},"
		    "\"action\":\"deny\",\"reason\":\"quota_exceeded\",\"message\":\"m\"}]}");
	f = base_facts();
	f.mode = (enum rules_mode)-1;
	f.wday = 7;
	rules_eval(r, &f, &v);
	assert_int_equal(v.index, -1);
	/* more exits than the facts can hold are not read past the array */
	f.n_exits = 1000;
	for (size_t i = 0; i < RULES_MAX_EXITS; i++)
		f.exit_age_s[i] = 10;
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "q");
	f.exit_age_s[RULES_MAX_EXITS - 1] = 3600;	/* 63 within the hour */
	rules_eval(r, &f, &v);
	assert_int_equal(v.index, -1);
	/* an exit at exactly the look-back is out, a second less is in */
	f.exit_age_s[RULES_MAX_EXITS - 1] = 3599;
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "q");
	f.wday = 3;
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "d");
	rules_free(r);

	/* passback look-back to the second */
	r = compile("{\"version\":1,\"rules\":[{\"id\":\"p\","
		    "\"when\":{\"passback\":{\"hours\":1}},\"action\":\"deny\","
		    "\"reason\":\"passback\",\"message\":\"m\"}]}");
	f = base_facts();
	f.direction = RULES_DIR_OUT;
	f.last_direction = RULES_DIR_OUT;
	f.last_age_s = 3599;
	rules_eval(r, &f, &v);
	assert_int_equal(v.index, 0);
	f.last_age_s = 3600;
	rules_eval(r, &f, &v);
	assert_int_equal(v.index, -1);
	/* no direction on either side is not "the same direction" */
	f.direction = RULES_DIR_NONE;
	f.last_direction = RULES_DIR_NONE;
	f.last_age_s = 1;
	rules_eval(r, &f, &v);
	assert_int_equal(v.index, -1);
	rules_free(r);
}

/* --- actions and verdicts ----------------------------------------------- */

struct action_case {
	const char *action, *alarm;	/* alarm NULL: none given */
	const char *reason;
	enum rules_decision decision;
	enum rules_severity severity;
};

static const struct action_case action_cases[] = {
	{ "allow", NULL, "resident", RULES_ALLOW, RULES_SEV_NONE },
	{ "deny", NULL, "not_allowed", RULES_DENY, RULES_SEV_NONE },
	{ "retest", NULL, "fever_retest", RULES_RETEST, RULES_SEV_NONE },
	{ "allow", "low", "observation_exit", RULES_ALLOW, RULES_SEV_LOW },
	{ "allow", "medium", "emergency_open", RULES_ALLOW, RULES_SEV_MEDIUM },
	{ "deny", "high", "fever", RULES_DENY, RULES_SEV_HIGH },
	{ "deny", "critical", "quarantine_exit", RULES_DENY, RULES_SEV_CRITICAL },
	{ "retest", "low", "fever_retest", RULES_RETEST, RULES_SEV_LOW },
	{ "retest", "critical", "fever_retest", RULES_RETEST, RULES_SEV_CRITICAL },
	{ "deny", "low", "blocked", RULES_DENY, RULES_SEV_LOW },
	{ "allow", "high", "staff", RULES_ALLOW, RULES_SEV_HIGH },
};

static void test_actions(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(action_cases); i++) {
		const struct action_case *k = &action_cases[i];
		char text[1024], alarm[64] = "";
		struct rules_facts f = base_facts();
		struct rules_verdict v;
		struct rules *r;

		if (k->alarm)
			snprintf(alarm, sizeof(alarm), "\"alarm\":\"%s\",",
				 k->alarm);
		/* a rule that does not match first, then the one tested */
		snprintf(text, sizeof(text),
			 "{\"version\":7,\"rules\":["
			 "{\"id\":\"not-me\",\"when\":{\"mode\":\"open\"},"
			 "\"action\":\"allow\",\"reason\":\"emergency_open\","
			 "\"message\":\"open\"},"
			 "{\"id\":\"rule-%zu\",\"action\":\"%s\",%s"
			 "\"reason\":\"%s\",\"message\":\"message %zu \\u00e9\"}]}",
			 i, k->action, alarm, k->reason, i);
		r = compile(text);
		rules_eval(r, &f, &v);
		assert_int_equal(v.decision, k->decision);
		assert_int_equal(v.alarm, k->severity);
		assert_int_equal(v.index, 1);
		snprintf(text, sizeof(text), "rule-%zu", i);
		assert_string_equal(v.rule, text);
		assert_string_equal(v.reason, k->reason);
		snprintf(text, sizeof(text), "message %zu \xc3\xa9", i);
		assert_string_equal(v.message, text);
		assert_string_equal(rules_decision_name(v.decision), k->action);
		assert_int_equal(rules_version(r), 7);
		assert_int_equal(rules_count(r), 2);
		rules_free(r);
	}
}

static void test_first_match_and_default(void **state)
{
	struct rules *r;
	struct rules_facts f = base_facts();
	struct rules_verdict v;

	(void)state;
	r = compile("{\"version\":1,\"rules\":["
		    "{\"id\":\"a\",\"when\":{\"direction\":\"out\"},\"action\":\"deny\","
		    "\"reason\":\"not_allowed\",\"message\":\"a\"},"
		    "{\"id\":\"b\",\"when\":{\"role\":\"resident\"},\"action\":\"allow\","
		    "\"reason\":\"resident\",\"message\":\"b\"},"
		    "{\"id\":\"c\",\"when\":{\"mode\":\"normal\"},\"action\":\"retest\","
		    "\"reason\":\"fever_retest\",\"message\":\"c\"}]}");
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "b");	/* b and c match: b first */
	f.direction = RULES_DIR_OUT;
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "a");
	f.direction = RULES_DIR_IN;
	f.role = RULES_ROLE_STAFF;
	rules_eval(r, &f, &v);
	assert_string_equal(v.rule, "c");
	assert_int_equal(v.index, 2);
	/* none matches: the default verdict */
	f.mode = RULES_MODE_LOCKDOWN;
	memset(&v, 0x5a, sizeof(v));
	rules_eval(r, &f, &v);
	assert_int_equal(v.decision, RULES_DENY);
	assert_int_equal(v.alarm, RULES_SEV_NONE);
	assert_int_equal(v.index, -1);
	assert_string_equal(v.rule, "default");
	assert_string_equal(v.reason, "no_rule");
	assert_string_equal(v.message, "no rule matched");
	rules_free(r);
	/* no rules at all (a caller before the first load) */
	rules_eval(NULL, &f, &v);
	assert_int_equal(v.index, -1);
	assert_string_equal(v.rule, "default");
}

static void test_document_values(void **state)
{
	static const struct {
		const char *when;
		int64_t history_s;
	} hist[] = {
		{ "{}", 0 },
		{ "{\"quota\":{\"exits\":1,\"hours\":48}}", 48 * 3600 },
		{ "{\"passback\":{\"hours\":200}}", 200 * 3600 },
		{ "{\"passback\":true}", 7 * 86400 },
		{ "{\"quota\":{\"exits\":3,\"hours\":8760}}", 8760 * 3600 },
	};
	struct rules *r;
	char text[1024];

	(void)state;
	for (size_t i = 0; i < N_OF(hist); i++) {
		snprintf(text, sizeof(text),
			 "{\"version\":1,\"rules\":[{\"id\":\"r\",\"when\":%s,"
			 "\"action\":\"deny\",\"reason\":\"passback\","
			 "\"message\":\"m\"}]}", hist[i].when);
		r = compile(text);
		assert_int_equal(rules_history_s(r), hist[i].history_s);
		rules_free(r);
	}
	/* the longest of several */
	r = compile("{\"version\":1,\"retest_window_s\":5,\"rules\":["
		    "{\"id\":\"a\",\"when\":{\"quota\":{\"exits\":1,\"hours\":48}},"
		    "\"action\":\"deny\",\"reason\":\"quota_exceeded\",\"message\":\"m\"},"
		    "{\"id\":\"b\",\"when\":{\"passback\":{\"hours\":72}},"
		    "\"action\":\"deny\",\"reason\":\"passback\",\"message\":\"m\"},"
		    "{\"id\":\"c\",\"when\":{\"quota\":{\"exits\":2,\"hours\":24}},"
		    "\"action\":\"deny\",\"reason\":\"quota_exceeded\",\"message\":\"m\"}]}");
	assert_int_equal(rules_history_s(r), 72 * 3600);
	assert_int_equal(rules_retest_window_ms(r), 5000);
	assert_int_equal(rules_version(r), 1);
	assert_int_equal(rules_count(r), 3);
	rules_free(r);
	r = compile("{\"version\":9007199254740993,\"description\":\"d\","
		    "\"rules\":[{\"id\":\"a\",\"action\":\"deny\","
		    "\"reason\":\"no_rule\",\"message\":\"m\"}]}");
	assert_int_equal(rules_retest_window_ms(r), 30000);
	assert_true(rules_version(r) == 9007199254740993LL);
	rules_free(r);
	r = compile("{\"version\":1,\"retest_window_s\":600,\"rules\":[{\"id\":\"a\","
		    "\"description\":\"x\",\"action\":\"deny\",\"reason\":\"no_rule\","
		    "\"message\":\"m\"}]}");
	assert_int_equal(rules_retest_window_ms(r), 600000);
	rules_free(r);
}

/* --- validation errors -------------------------------------------------- */

/* The document with its marker (`) removed; *line and *col: where the
 * marker was, i.e. the position of the node right after it. */
static void unmark(const char *in, char *out, size_t size, int *line, int *col)
{
	int l = 1, c = 1;
	size_t o = 0;

	*line = *col = 0;
	for (; *in && o + 1 < size; in++) {
		if (*in == '`') {
			*line = l;
			*col = c;
			continue;
		}
		out[o++] = *in;
		if (*in == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	out[o] = '\0';
}

struct error_case {
	const char *doc;	/* ` marks the position reported */
	const char *path;
	const char *msg;	/* NULL: not compared (jsontree's words) */
};

#define R1(x) "{\"version\":1,\"rules\":[" x "]}"
#define RULE(when) "{\"id\":\"r\",\"when\":" when ",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"

static const struct error_case error_cases[] = {
	/* the document */
	{ "{\"version\":1,\n  \"rules\": `]}", "$", NULL },
	{ "`[1]", "$", "expected an object, got list" },
	{ "`\"rules\"", "$", "expected an object, got string" },
	{ "{\"version\":1,`\"extra\":1,\"rules\":[" RULE("{}") "]}", "$.extra",
	  "unknown field \"extra\"" },
	{ "{\"version\":1,`\"rule\":[],\"rules\":[" RULE("{}") "]}", "$.rule",
	  "unknown field \"rule\" (did you mean \"rules\"?)" },
	{ "`{\"rules\":[" RULE("{}") "]}", "$", "missing field \"version\"" },
	{ "`{\"version\":1}", "$", "missing field \"rules\"" },
	{ "{\"version\":`1.5,\"rules\":[" RULE("{}") "]}", "$.version",
	  "expected a whole number, got 1.5" },
	{ "{\"version\":`0,\"rules\":[" RULE("{}") "]}", "$.version",
	  "0 is too small: at least 1" },
	{ "{\"version\":`\"3\",\"rules\":[" RULE("{}") "]}", "$.version",
	  "expected a whole number, got string" },
	{ "{\"version\":1,\"description\":`7,\"rules\":[" RULE("{}") "]}",
	  "$.description", "expected a string, got number" },
	{ "{\"version\":1,\"retest_window_s\":`4,\"rules\":[" RULE("{}") "]}",
	  "$.retest_window_s", "4 is out of range 5..600" },
	{ "{\"version\":1,\"retest_window_s\":`601,\"rules\":[" RULE("{}") "]}",
	  "$.retest_window_s", "601 is out of range 5..600" },
	{ "{\"version\":1,\"retest_window_s\":`true,\"rules\":[" RULE("{}") "]}",
	  "$.retest_window_s", "expected a whole number, got true/false" },
	{ "{\"version\":1,\"rules\":`{}}", "$.rules",
	  "expected a list of rules, got object" },
	{ "{\"version\":1,\"rules\":`[]}", "$.rules",
	  "no rules: give at least one" },
	/* a rule */
	{ R1("`null"), "$.rules[0]", "expected an object, got null" },
	{ R1("{\"id\":\"r\",`\"when \":{},\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0][\"when \"]", "unknown field \"when \" (did you mean \"when\"?)" },
	{ R1("{\"id\":\"r\",`\"priority\":1,\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].priority", "unknown field \"priority\"" },
	{ R1("`{\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0]", "missing field \"id\"" },
	{ R1("`{\"id\":\"r\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0]", "missing field \"action\"" },
	{ R1("`{\"id\":\"r\",\"action\":\"deny\",\"message\":\"m\"}"),
	  "$.rules[0]", "missing field \"reason\"" },
	{ R1("`{\"id\":\"r\",\"action\":\"deny\",\"reason\":\"no_rule\"}"),
	  "$.rules[0]", "missing field \"message\"" },
	{ R1("{\"id\":`5,\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].id", "expected a string, got number" },
	{ R1("{\"id\":`\"\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].id", "rule id \"\" must be 1 to 63 characters" },
	{ R1("{\"id\":`\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl\","
	     "\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].id",
	  "rule id \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv...\" must be 1 to 63 characters" },
	{ R1("{\"id\":`\"fever rule\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].id", "rule id \"fever rule\" may only use A-Z a-z 0-9 _ . -" },
	{ R1("{\"id\":`\"a\\nb\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].id", "rule id \"a\\u000ab\" may only use A-Z a-z 0-9 _ . -" },
	{ R1("{\"id\":`\"default\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].id",
	  "rule id \"default\" is reserved: it names the verdict when no rule matches" },
	{ R1("{\"id\":\"a\",\"when\":{\"mode\":\"open\"},\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"},"
	     "{\"id\":`\"a\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[1].id", "duplicate rule id \"a\" (first at $.rules[0])" },
	{ R1("{\"id\":\"r\",\"action\":`\"permit\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].action", "unknown action \"permit\" (one of: deny, allow, retest)" },
	{ R1("{\"id\":\"r\",\"action\":`[\"deny\"],\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].action", "expected a string, got list" },
	{ R1("{\"id\":\"r\",\"action\":\"deny\",\"alarm\":`\"none\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].alarm", "alarm \"none\": leave alarm out for no alarm" },
	{ R1("{\"id\":\"r\",\"action\":\"deny\",\"alarm\":`\"severe\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].alarm", "unknown alarm \"severe\" (one of: low, medium, high, critical)" },
	{ R1("{\"id\":\"r\",\"action\":\"deny\",\"alarm\":`3,\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].alarm", "expected a string, got number" },
	{ R1("{\"id\":\"r\",\"action\":\"deny\",\"reason\":`\"fevr\",\"message\":\"m\"}"),
	  "$.rules[0].reason", "unknown reason code \"fevr\" (docs/rules.md lists them)" },
	{ R1("{\"id\":\"r\",\"action\":\"deny\",\"reason\":`null,\"message\":\"m\"}"),
	  "$.rules[0].reason", "expected a string, got null" },
	{ R1("{\"id\":\"r\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":`\"\"}"),
	  "$.rules[0].message", "message is 0 bytes: it must be 1 to 160" },
	{ R1("{\"id\":\"r\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":`"
	     "\"0123456789012345678901234567890123456789012345678901234567890123456789"
	     "0123456789012345678901234567890123456789012345678901234567890123456789"
	     "012345678901234567890\"}"),
	  "$.rules[0].message", "message is 161 bytes: it must be 1 to 160" },
	{ R1("{\"id\":\"r\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":`\"a\\tb\"}"),
	  "$.rules[0].message",
	  "message has a control character (newline, tab...): keep it to one line" },
	{ R1("{\"id\":\"r\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":`{}}"),
	  "$.rules[0].message", "expected a string, got object" },
	{ R1("{\"id\":\"r\",\"description\":`[],\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}"),
	  "$.rules[0].description", "expected a string, got list" },
	/* when */
	{ R1(RULE("`[]")), "$.rules[0].when", "expected an object, got list" },
	{ R1(RULE("{`\"rol\":\"visitor\"}")), "$.rules[0].when.rol",
	  "unknown field \"rol\" (did you mean \"role\"?)" },
	{ R1(RULE("{`\"weather\":\"rain\"}")), "$.rules[0].when.weather",
	  "unknown field \"weather\"" },
	{ R1(RULE("{\"mode\":`1}")), "$.rules[0].when.mode",
	  "expected a string or a list of strings, got number" },
	{ R1(RULE("{\"mode\":`\"closed\"}")), "$.rules[0].when.mode",
	  "unknown mode \"closed\" (one of: normal, residents-only, lockdown, open)" },
	{ R1(RULE("{\"mode\":`[]}")), "$.rules[0].when.mode",
	  "empty list: leave the condition out to match any mode" },
	{ R1(RULE("{\"mode\":[\"open\",`\"open\"]}")), "$.rules[0].when.mode[1]",
	  "mode \"open\" is already in the list" },
	{ R1(RULE("{\"mode\":[\"open\",`true]}")), "$.rules[0].when.mode[1]",
	  "expected a string, got true/false" },
	{ R1(RULE("{\"direction\":`[\"in\"]}")), "$.rules[0].when.direction",
	  "expected a string, got list" },
	{ R1(RULE("{\"direction\":`\"up\"}")), "$.rules[0].when.direction",
	  "unknown direction \"up\" (one of: in, out)" },
	{ R1(RULE("{\"direction\":`\"none\"}")), "$.rules[0].when.direction",
	  "unknown direction \"none\" (one of: in, out)" },
	{ R1(RULE("{\"credential\":`\"stolen\"}")), "$.rules[0].when.credential",
	  "unknown credential state \"stolen\" (one of: none, missing, unknown, revoked, expired, not_yet_valid, valid)" },
	{ R1(RULE("{\"credential\":[\"valid\",`\"stolen\"]}")), "$.rules[0].when.credential[1]",
	  "unknown credential state \"stolen\" (one of: none, missing, unknown, revoked, expired, not_yet_valid, valid)" },
	{ R1(RULE("{\"role\":[\"visitor\",`\"landlord\"]}")), "$.rules[0].when.role[1]",
	  "unknown role \"landlord\" (one of: resident, tenant, visitor, staff, courier)" },
	{ R1(RULE("{\"role\":`{\"is\":\"visitor\"}}")), "$.rules[0].when.role",
	  "expected a string or a list of strings, got object" },
	{ R1(RULE("{\"person\":`\"dead\"}")), "$.rules[0].when.person",
	  "unknown person state \"dead\" (one of: valid, expired, not_yet_valid)" },
	{ R1(RULE("{\"host\":`\"yes\"}")), "$.rules[0].when.host",
	  "expected true or false, got string" },
	{ R1(RULE("{\"household\":`1}")), "$.rules[0].when.household",
	  "expected true or false, got number" },
	{ R1(RULE("{\"quarantine\":`null}")), "$.rules[0].when.quarantine",
	  "expected true or false, got null" },
	{ R1(RULE("{\"observation\":`[true]}")), "$.rules[0].when.observation",
	  "expected true or false, got list" },
	{ R1(RULE("{\"blocked\":`\"true\"}")), "$.rules[0].when.blocked",
	  "expected true or false, got string" },
	{ R1(RULE("{\"retest\":`0}")), "$.rules[0].when.retest",
	  "expected true or false, got number" },
	/* temperature */
	{ R1(RULE("{\"temperature\":`\"hot\"}")), "$.rules[0].when.temperature",
	  "unknown temperature state \"hot\" (one of: none, missing, fault, present)" },
	{ R1(RULE("{\"temperature\":`37.3}")), "$.rules[0].when.temperature",
	  "expected a string (none, missing, fault, present) or an object (at_or_above, below), got number" },
	{ R1(RULE("{\"temperature\":`{}}")), "$.rules[0].when.temperature",
	  "give at_or_above, below or both" },
	{ R1(RULE("{\"temperature\":{`\"above\":37.3,\"below\":37}}")), "$.rules[0].when.temperature.above",
	  "unknown field \"above\" (did you mean \"at_or_above\"?)" },
	{ R1(RULE("{\"temperature\":{\"at_or_above\":`19.9}}")), "$.rules[0].when.temperature.at_or_above",
	  "19.9 is out of range 20..50" },
	{ R1(RULE("{\"temperature\":{\"below\":`50.1}}")), "$.rules[0].when.temperature.below",
	  "50.1 is out of range 20..50" },
	{ R1(RULE("{\"temperature\":{\"below\":`\"35\"}}")), "$.rules[0].when.temperature.below",
	  "expected a number, got string" },
	{ R1(RULE("{\"temperature\":`{\"at_or_above\":37.3,\"below\":37.3}}")), "$.rules[0].when.temperature",
	  "empty range: at_or_above (37.3) must be less than below (37.3)" },
	{ R1(RULE("{\"temperature\":`{\"at_or_above\":38,\"below\":36}}")), "$.rules[0].when.temperature",
	  "empty range: at_or_above (38) must be less than below (36)" },
	/* time */
	{ R1(RULE("{\"time\":`\"night\"}")), "$.rules[0].when.time",
	  "expected an object, got string" },
	{ R1(RULE("{\"time\":`{}}")), "$.rules[0].when.time",
	  "empty time: give days, from and to, dates or except_dates" },
	{ R1(RULE("{\"time\":{`\"day\":\"mon\"}}")), "$.rules[0].when.time.day",
	  "unknown field \"day\" (did you mean \"days\"?)" },
	{ R1(RULE("{\"time\":{\"days\":`\"monday\"}}")), "$.rules[0].when.time.days",
	  "unknown day \"monday\" (one of: sun, mon, tue, wed, thu, fri, sat)" },
	{ R1(RULE("{\"time\":{\"days\":`[]}}")), "$.rules[0].when.time.days",
	  "empty list: leave the condition out to match any day" },
	{ R1(RULE("{\"time\":{\"days\":[\"mon\",\"tue\",`\"mon\"]}}")), "$.rules[0].when.time.days[2]",
	  "day \"mon\" is already in the list" },
	{ R1(RULE("{\"time\":`{\"from\":\"06:00\"}}")), "$.rules[0].when.time",
	  "missing field \"to\" (from and to go together)" },
	{ R1(RULE("{\"time\":`{\"to\":\"06:00\"}}")), "$.rules[0].when.time",
	  "missing field \"from\" (from and to go together)" },
	{ R1(RULE("{\"time\":{\"from\":`\"6:00\",\"to\":\"07:00\"}}")), "$.rules[0].when.time.from",
	  "\"6:00\" is not a time \"HH:MM\" (00:00 to 23:59)" },
	{ R1(RULE("{\"time\":{\"from\":\"06:00\",\"to\":`\"24:00\"}}")), "$.rules[0].when.time.to",
	  "\"24:00\" is not a time \"HH:MM\" (00:00 to 23:59)" },
	{ R1(RULE("{\"time\":{\"from\":\"06:00\",\"to\":`\"06:60\"}}")), "$.rules[0].when.time.to",
	  "\"06:60\" is not a time \"HH:MM\" (00:00 to 23:59)" },
	{ R1(RULE("{\"time\":{\"from\":`600,\"to\":\"07:00\"}}")), "$.rules[0].when.time.from",
	  "expected a time \"HH:MM\", got number" },
	{ R1(RULE("{\"time\":{\"from\":\"06:00\",\"to\":`\"06:00\"}}")), "$.rules[0].when.time.to",
	  "from and to are the same time: the window would be empty" },
	{ R1(RULE("{\"time\":{\"dates\":[\"2026-01-01\",`\"2026-13-01\"]}}")), "$.rules[0].when.time.dates[1]",
	  "\"2026-13-01\" is not a date \"YYYY-MM-DD\" (a real one, from 1970)" },
	{ R1(RULE("{\"time\":{\"dates\":`\"2025-02-29\"}}")), "$.rules[0].when.time.dates",
	  "\"2025-02-29\" is not a date \"YYYY-MM-DD\" (a real one, from 1970)" },
	{ R1(RULE("{\"time\":{\"dates\":[`20260101]}}")), "$.rules[0].when.time.dates[0]",
	  "expected a date \"YYYY-MM-DD\", got number" },
	{ R1(RULE("{\"time\":{\"dates\":`20260101}}")), "$.rules[0].when.time.dates",
	  "expected a date or a list of dates, got number" },
	{ R1(RULE("{\"time\":{\"dates\":`[]}}")), "$.rules[0].when.time.dates",
	  "empty list of dates: leave it out" },
	{ R1(RULE("{\"time\":{\"except_dates\":[\"2026-01-01\",`\"2026-01-01\"]}}")), "$.rules[0].when.time.except_dates[1]",
	  "date \"2026-01-01\" is already in the list" },
	{ R1(RULE("{\"time\":{\"except_dates\":[`\"2026-1-1\"]}}")), "$.rules[0].when.time.except_dates[0]",
	  "\"2026-1-1\" is not a date \"YYYY-MM-DD\" (a real one, from 1970)" },
	{ R1(RULE("{\"time\":`{\"dates\":[\"2026-01-01\",\"2026-01-02\"],\"except_dates\":\"2026-01-02\"}}")),
	  "$.rules[0].when.time", "date 2026-01-02 is in both dates and except_dates" },
	/* quota */
	{ R1(RULE("{\"quota\":`5}")), "$.rules[0].when.quota", "expected an object, got number" },
	{ R1(RULE("{\"quota\":`{\"hours\":48}}")), "$.rules[0].when.quota", "missing field \"exits\"" },
	{ R1(RULE("{\"quota\":`{\"exits\":1}}")), "$.rules[0].when.quota", "missing field \"hours\"" },
	{ R1(RULE("{\"quota\":{\"exits\":`0,\"hours\":48}}")), "$.rules[0].when.quota.exits",
	  "0 is out of range 1..64" },
	{ R1(RULE("{\"quota\":{\"exits\":`65,\"hours\":48}}")), "$.rules[0].when.quota.exits",
	  "65 is out of range 1..64" },
	{ R1(RULE("{\"quota\":{\"exits\":1,\"hours\":`0}}")), "$.rules[0].when.quota.hours",
	  "0 is out of range 1..8760" },
	{ R1(RULE("{\"quota\":{\"exits\":1,\"hours\":`8761}}")), "$.rules[0].when.quota.hours",
	  "8761 is out of range 1..8760" },
	{ R1(RULE("{\"quota\":{\"exits\":1,\"hours\":`1.5}}")), "$.rules[0].when.quota.hours",
	  "expected a whole number, got 1.5" },
	{ R1(RULE("{\"quota\":{\"exits\":1,\"hours\":48,`\"days\":2}}")), "$.rules[0].when.quota.days",
	  "unknown field \"days\"" },
	/* passback */
	{ R1(RULE("{\"passback\":`false}")), "$.rules[0].when.passback",
	  "passback false is not a condition: leave it out" },
	{ R1(RULE("{\"passback\":`\"yes\"}")), "$.rules[0].when.passback",
	  "expected true or an object {\"hours\": H}, got string" },
	{ R1(RULE("{\"passback\":`{}}")), "$.rules[0].when.passback", "missing field \"hours\"" },
	{ R1(RULE("{\"passback\":{\"hours\":`0}}")), "$.rules[0].when.passback.hours",
	  "0 is out of range 1..8760" },
	{ R1(RULE("{\"passback\":{\"hours\":2,`\"minutes\":3}}")), "$.rules[0].when.passback.minutes",
	  "unknown field \"minutes\"" },
	/* unreachable */
	{ R1("{\"id\":\"all\",\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"},\n"
	     "`{\"id\":\"b\",\"when\":{\"mode\":\"open\"},\"action\":\"allow\",\"reason\":\"emergency_open\",\"message\":\"m\"}"),
	  "$.rules[1]",
	  "unreachable: rule \"all\" at $.rules[0] (line 1) matches everything this rule matches" },
	/* a key with characters a path cannot show bare */
	{ R1(RULE("{`\"a\\\"b\":1}")), "$.rules[0].when[\"a\\\"b\"]", "unknown field \"a\\\"b\"" },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(error_cases); i++) {
		const struct error_case *k = &error_cases[i];
		char text[4096], where[64];
		struct rules *r = (struct rules *)&r;	/* must be reset */
		struct errs e = { 0 };
		int line, col, rc;

		unmark(k->doc, text, sizeof(text), &line, &col);
		assert_true(line > 0);
		snprintf(where, sizeof(where), "t.json:%d:%d", line, col);
		rc = rules_parse(text, strlen(text), "t.json", &r, collect, &e);
		if (rc != 1 || e.n != 1 || strcmp(e.where[0], where) != 0 ||
		    strcmp(e.path[0], k->path) != 0 ||
		    (k->msg && strcmp(e.msg[0], k->msg) != 0)) {
			fprintf(stderr, "row %zu: %s\nexpected %s: %s: %s\ngot %d:\n",
				i, text, where, k->path, k->msg ? k->msg : "*",
				rc);
			print_errs(&e);
			fail();
		}
		assert_null(r);
	}
}

/* Several errors in one document: all reported, each where it is. */
static void test_errors_all(void **state)
{
	static const char doc[] =
		"{\n"
		"  \"version\": 0,\n"
		"  \"rules\": [\n"
		"    { \"id\": \"a\", \"when\": { \"role\": \"landlord\" },\n"
		"      \"action\": \"allow\", \"reason\": \"fevr\", \"message\": \"m\" },\n"
		"    { \"id\": \"a\", \"action\": \"deny\", \"reason\": \"no_rule\" }\n"
		"  ]\n"
		"}\n";
	static const char *const want[][3] = {
		{ "x.json:2:14", "$.version", "0 is too small: at least 1" },
		{ "x.json:4:36", "$.rules[0].when.role",
		  "unknown role \"landlord\" (one of: resident, tenant, visitor, staff, courier)" },
		{ "x.json:5:36", "$.rules[0].reason",
		  "unknown reason code \"fevr\" (docs/rules.md lists them)" },
		{ "x.json:6:5", "$.rules[1]", "missing field \"message\"" },
		{ "x.json:6:13", "$.rules[1].id",
		  "duplicate rule id \"a\" (first at $.rules[0])" },
	};
	struct rules *r = NULL;
	struct errs e = { 0 };
	int rc;

	(void)state;
	rc = rules_parse(doc, strlen(doc), "x.json", &r, collect, &e);
	if (rc != (int)N_OF(want))
		print_errs(&e);
	assert_int_equal(rc, N_OF(want));
	assert_int_equal(e.n, N_OF(want));
	for (size_t i = 0; i < N_OF(want); i++) {
		assert_string_equal(e.where[i], want[i][0]);
		assert_string_equal(e.path[i], want[i][1]);
		assert_string_equal(e.msg[i], want[i][2]);
	}
	assert_null(r);
	/* no callback: still counted */
	rc = rules_parse(doc, strlen(doc), "x.json", &r, NULL, NULL);
	assert_int_equal(rc, N_OF(want));
	assert_null(r);
}

/* Past 100 errors, one line says so and the rest are only counted. */
static void test_error_cap(void **state)
{
	char *doc = malloc(20000);
	size_t o = 0;
	struct rules *r = NULL;
	struct errs e = { 0 };
	int rc;

	(void)state;
	assert_non_null(doc);
	o += (size_t)snprintf(doc + o, 20000 - o, "{\"version\":1,\"rules\":[" RULE("{}") "]");
	for (int i = 0; i < 150; i++)
		o += (size_t)snprintf(doc + o, 20000 - o, ",\"x%d\":1", i);
	snprintf(doc + o, 20000 - o, "}");
	rc = rules_parse(doc, strlen(doc), "big.json", &r, collect, &e);
	assert_int_equal(rc, 150);
	assert_int_equal(e.n, 101);
	assert_string_equal(e.path[0], "$.x0");
	free(doc);
	/* too many rules */
	doc = malloc(1001 * 80 + 100);
	assert_non_null(doc);
	o = (size_t)snprintf(doc, 100, "{\"version\":1,\"rules\":[");
	for (int i = 0; i < 1001; i++)
		o += (size_t)snprintf(doc + o, 80, "%s{\"id\":\"r%d\",\"action\":\"deny\","
				      "\"reason\":\"no_rule\",\"message\":\"m\"}",
				      i ? "," : "", i);
	snprintf(doc + o, 10, "]}");
	memset(&e, 0, sizeof(e));
	rc = rules_parse(doc, strlen(doc), "big.json", &r, collect, &e);
	assert_int_equal(rc, 1);
	assert_string_equal(e.msg[0], "1001 rules: at most 1000");
	free(doc);
}

/* Strings quoted into messages and paths are escaped, cut at a character
 * (never inside one) and bounded, whatever they hold. */
static void test_quoting(void **state)
{
	char doc[1024], want[512];
	size_t o, w;
	struct rules *r = NULL;
	struct errs e = { 0 };

	(void)state;
	/* 29 quotes (2 bytes each once escaped), x, then 10 two-byte
	 * characters: the room runs out inside the 8th */
	o = (size_t)snprintf(doc, sizeof(doc), "%s", "{\"version\":1,\"rules\":[{\"id\":\"r\","
			     "\"when\":{\"role\":\"");
	w = (size_t)snprintf(want, sizeof(want), "unknown role \"");
	for (int i = 0; i < 29; i++) {
		o += (size_t)snprintf(doc + o, sizeof(doc) - o, "\\\"");
		w += (size_t)snprintf(want + w, sizeof(want) - w, "\\\"");
	}
	o += (size_t)snprintf(doc + o, sizeof(doc) - o, "x");
	w += (size_t)snprintf(want + w, sizeof(want) - w, "x");
	for (int i = 0; i < 10; i++)
		o += (size_t)snprintf(doc + o, sizeof(doc) - o, "\\u00e9");
	for (int i = 0; i < 7; i++)
		w += (size_t)snprintf(want + w, sizeof(want) - w, "\xc3\xa9");
	snprintf(doc + o, sizeof(doc) - o, "\"},\"action\":\"deny\",\"reason\":"
		 "\"no_rule\",\"message\":\"m\"}]}");
	snprintf(want + w, sizeof(want) - w, "...\" (one of: resident, tenant, "
		 "visitor, staff, courier)");
	assert_int_equal(rules_parse(doc, strlen(doc), "q", &r, collect, &e), 1);
	assert_string_equal(e.msg[0], want);
	/* a key of control characters: escaped in the path and message */
	memset(&e, 0, sizeof(e));
	o = (size_t)snprintf(doc, sizeof(doc), "{\"version\":1,\"");
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(doc + o, sizeof(doc) - o, "\\u007f");
	snprintf(doc + o, sizeof(doc) - o, "\":1,\"rules\":[" RULE("{}") "]}");
	assert_int_equal(rules_parse(doc, strlen(doc), "q", &r, collect, &e), 1);
	w = (size_t)snprintf(want, sizeof(want), "$[\"");
	for (int i = 0; i < 12; i++)
		w += (size_t)snprintf(want + w, sizeof(want) - w, "\\u007f");
	snprintf(want + w, sizeof(want) - w, "...\"]");
	assert_string_equal(e.path[0], want);
	assert_true(strlen(e.msg[0]) < 120);
	/* the fuzzer's find, kept */
	memset(&e, 0, sizeof(e));
	snprintf(doc, sizeof(doc), "{\"%s\":1}",
		 "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f"
		 "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f");
	assert_int_equal(rules_parse(doc, strlen(doc), "q", &r, collect, &e), 3);
}

/* --- unreachable -------------------------------------------------------- */

struct reach_case {
	const char *a, *b;	/* the when of an earlier and a later rule */
	int flagged;
};

static const struct reach_case reach_cases[] = {
	/* a shadows b */
	{ "{}", "{\"mode\":\"open\"}", 1 },
	{ "{}", "{}", 1 },
	{ "{\"role\":[\"visitor\",\"courier\"]}", "{\"role\":\"visitor\"}", 1 },
	{ "{\"role\":\"visitor\"}", "{\"role\":\"visitor\",\"direction\":\"in\"}", 1 },
	{ "{\"role\":\"visitor\"}", "{\"role\":[\"visitor\"]}", 1 },
	{ "{\"mode\":[\"normal\",\"lockdown\"]}", "{\"mode\":\"normal\",\"role\":\"staff\"}", 1 },
	{ "{\"credential\":[\"unknown\",\"revoked\"]}", "{\"credential\":\"revoked\",\"blocked\":true}", 1 },
	{ "{\"person\":[\"expired\",\"not_yet_valid\"]}", "{\"person\":\"expired\"}", 1 },
	{ "{\"temperature\":{\"at_or_above\":37.3}}", "{\"temperature\":{\"at_or_above\":38}}", 1 },
	{ "{\"temperature\":{\"at_or_above\":37.3}}", "{\"temperature\":{\"at_or_above\":37.3}}", 1 },
	{ "{\"temperature\":{\"at_or_above\":37}}", "{\"temperature\":{\"at_or_above\":37.5,\"below\":38}}", 1 },
	{ "{\"temperature\":{\"below\":36}}", "{\"temperature\":{\"at_or_above\":30,\"below\":35}}", 1 },
	{ "{\"temperature\":{\"at_or_above\":30,\"below\":40}}", "{\"temperature\":{\"at_or_above\":30,\"below\":40}}", 1 },
	{ "{\"temperature\":\"present\"}", "{\"temperature\":{\"below\":34}}", 1 },
	{ "{\"temperature\":\"missing\"}", "{\"temperature\":\"missing\",\"retest\":true}", 1 },
	{ "{\"host\":false}", "{\"host\":false,\"role\":\"visitor\"}", 1 },
	{ "{\"retest\":true}", "{\"retest\":true,\"temperature\":\"missing\"}", 1 },
	{ "{\"time\":{\"from\":\"23:00\",\"to\":\"06:00\",\"days\":[\"mon\",\"tue\"]}}",
	  "{\"time\":{\"days\":[\"tue\",\"mon\"],\"to\":\"06:00\",\"from\":\"23:00\"},\"role\":\"visitor\"}", 1 },
	{ "{\"time\":{\"dates\":[\"2026-01-01\",\"2026-02-01\"]}}",
	  "{\"time\":{\"dates\":[\"2026-02-01\",\"2026-01-01\"]},\"mode\":\"open\"}", 1 },
	{ "{\"quota\":{\"exits\":1,\"hours\":48}}", "{\"quota\":{\"exits\":1,\"hours\":48},\"mode\":\"lockdown\"}", 1 },
	{ "{\"passback\":true}", "{\"passback\":true,\"direction\":\"out\"}", 1 },
	{ "{\"passback\":{\"hours\":5}}", "{\"passback\":{\"hours\":5}}", 1 },
	/* a does not shadow b */
	{ "{\"role\":\"visitor\",\"host\":false}", "{\"role\":\"visitor\"}", 0 },
	{ "{\"role\":\"visitor\"}", "{\"role\":[\"visitor\",\"courier\"]}", 0 },
	{ "{\"direction\":\"in\"}", "{\"direction\":\"out\"}", 0 },
	{ "{\"temperature\":{\"at_or_above\":38}}", "{\"temperature\":{\"at_or_above\":37.3}}", 0 },
	{ "{\"temperature\":{\"below\":35}}", "{\"temperature\":{\"below\":36}}", 0 },
	{ "{\"temperature\":{\"at_or_above\":37}}", "{\"temperature\":\"present\"}", 0 },
	{ "{\"temperature\":{\"at_or_above\":37,\"below\":38}}", "{\"temperature\":{\"at_or_above\":37}}", 0 },
	{ "{\"temperature\":\"missing\"}", "{\"temperature\":\"fault\"}", 0 },
	{ "{\"temperature\":\"present\"}", "{\"temperature\":\"missing\"}", 0 },
	{ "{\"retest\":true}", "{\"retest\":false}", 0 },
	{ "{\"host\":true}", "{\"host\":false}", 0 },
	{ "{\"blocked\":true}", "{\"quarantine\":true}", 0 },
	/* not clever: these are shadowed in fact, and not flagged */
	{ "{\"time\":{\"from\":\"23:00\",\"to\":\"06:00\"}}", "{\"time\":{\"from\":\"00:00\",\"to\":\"05:00\"}}", 0 },
	{ "{\"time\":{\"days\":[\"mon\",\"tue\"]}}", "{\"time\":{\"days\":\"mon\"}}", 0 },
	{ "{\"quota\":{\"exits\":1,\"hours\":48}}", "{\"quota\":{\"exits\":2,\"hours\":48}}", 0 },
	{ "{\"passback\":true}", "{\"passback\":{\"hours\":1}}", 0 },
	{ "{\"credential\":[\"none\",\"missing\",\"unknown\",\"revoked\",\"expired\",\"not_yet_valid\",\"valid\"]}",
	  "{\"mode\":\"open\"}", 0 },
	/* order matters: the narrower rule first is fine */
	{ "{\"role\":\"visitor\",\"direction\":\"in\"}", "{\"role\":\"visitor\"}", 0 },
	{ "{\"temperature\":{\"at_or_above\":37.3},\"retest\":false}", "{\"temperature\":{\"at_or_above\":37.3}}", 0 },
};

static void test_unreachable(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(reach_cases); i++) {
		const struct reach_case *k = &reach_cases[i];
		char text[2048];
		struct rules *r = NULL;
		struct errs e = { 0 };
		int rc, at = -1;

		/* an unrelated rule between the two, which a may shadow too:
		 * only what is said about b counts here */
		snprintf(text, sizeof(text),
			 "{\"version\":1,\"rules\":[\n"
			 "{\"id\":\"a\",\"when\":%s,\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"},\n"
			 "{\"id\":\"mid\",\"when\":{\"blocked\":true,\"mode\":\"open\"},\"action\":\"deny\",\"reason\":\"blocked\",\"message\":\"m\"},\n"
			 "{\"id\":\"b\",\"when\":%s,\"action\":\"allow\",\"reason\":\"resident\",\"message\":\"m\"}]}",
			 k->a, k->b);
		rc = rules_parse(text, strlen(text), "u.json", &r, collect, &e);
		for (int j = 0; j < e.n; j++) {
			if (strcmp(e.path[j], "$.rules[2]") == 0)
				at = j;
			else if (strcmp(e.path[j], "$.rules[1]") != 0)
				at = -2;	/* something else is wrong */
		}
		if (k->flagged ? at < 0 : at != -1) {
			fprintf(stderr, "row %zu: %s\n", i, text);
			print_errs(&e);
			fail();
		}
		if (k->flagged) {
			assert_string_equal(e.where[at], "u.json:4:1");
			assert_string_equal(e.msg[at],
				"unreachable: rule \"a\" at $.rules[0] (line 2) "
				"matches everything this rule matches");
			assert_null(r);
		}
		if (rc == 0)
			rules_free(r);
	}
}

/* A rule with errors of its own neither shadows nor is shadowed: its
 * conditions are incomplete, so any verdict would be noise. */
static void test_unreachable_with_errors(void **state)
{
	static const char doc[] =
		"{\"version\":1,\"rules\":["
		"{\"id\":\"a\",\"when\":{\"weather\":1},\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"},"
		"{\"id\":\"b\",\"when\":{\"mode\":\"open\"},\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"},"
		"{\"id\":\"c\",\"when\":{\"mode\":\"open\",\"role\":\"lord\"},\"action\":\"deny\",\"reason\":\"no_rule\",\"message\":\"m\"}]}";
	struct rules *r = NULL;
	struct errs e = { 0 };

	(void)state;
	assert_int_equal(rules_parse(doc, strlen(doc), "e.json", &r, collect,
				     &e), 2);
	assert_string_equal(e.path[0], "$.rules[0].when.weather");
	assert_string_equal(e.path[1], "$.rules[2].when.role");
}

/* --- names, dates, files ------------------------------------------------ */

static void test_names(void **state)
{
	static const char *const modes[] = { "normal", "residents-only",
					     "lockdown", "open" };
	static const char *const roles[] = { "resident", "tenant", "visitor",
					     "staff", "courier" };
	static const char *const creds[] = { "none", "missing", "unknown",
					     "revoked", "expired",
					     "not_yet_valid", "valid" };
	static const char *const sevs[] = { "none", "low", "medium", "high",
					    "critical" };
	static const char *const reasons[] = {
		"resident", "tenant", "visitor", "staff", "courier",
		"temperature_ok", "emergency_open", "observation_exit",
		"unknown_credential", "revoked_credential",
		"expired_credential", "not_yet_valid_credential",
		"no_credential", "person_expired", "person_not_yet_valid",
		"no_host", "blocked", "quarantine_exit", "fever",
		"fever_retest", "retest_missing", "low_temperature",
		"no_temperature", "sensor_fault", "outside_hours",
		"residents_only", "lockdown", "quota_exceeded", "passback",
		"not_allowed", "no_rule",
	};
	size_t n;

	(void)state;
	assert_int_equal(N_OF(modes), RULES_MODES);
	for (int i = 0; i < RULES_MODES; i++) {
		assert_string_equal(rules_mode_name((enum rules_mode)i), modes[i]);
		assert_int_equal(rules_mode_parse(modes[i]), i);
	}
	assert_int_equal(rules_mode_parse("closed"), -1);
	assert_int_equal(rules_mode_parse(""), -1);
	assert_string_equal(rules_mode_name(RULES_MODES), "?");
	assert_int_equal(N_OF(roles), RULES_ROLES);
	for (int i = 0; i < RULES_ROLES; i++) {
		assert_string_equal(rules_role_name((enum rules_role)i), roles[i]);
		assert_int_equal(rules_role_parse(roles[i]), i);
	}
	assert_int_equal(rules_role_parse("landlord"), -1);
	assert_string_equal(rules_role_name((enum rules_role)-1), "?");
	assert_int_equal(N_OF(creds), RULES_CREDS);
	for (int i = 0; i < RULES_CREDS; i++)
		assert_string_equal(rules_cred_name((enum rules_cred)i), creds[i]);
	assert_string_equal(rules_cred_name(RULES_CREDS), "?");
	for (int i = 0; i < 5; i++)
		assert_string_equal(rules_severity_name((enum rules_severity)i),
				    sevs[i]);
	assert_string_equal(rules_severity_name((enum rules_severity)5), "?");
	assert_string_equal(rules_decision_name(RULES_ALLOW), "allow");
	assert_string_equal(rules_decision_name(RULES_DENY), "deny");
	assert_string_equal(rules_decision_name(RULES_RETEST), "retest");
	assert_string_equal(rules_decision_name((enum rules_decision)3), "?");
	for (n = 0; rules_reasons[n]; n++) {
		assert_true(n < N_OF(reasons));
		assert_string_equal(rules_reasons[n], reasons[n]);
	}
	assert_int_equal(n, N_OF(reasons));
}

static void test_dates(void **state)
{
	static const struct {
		const char *s;
		int rc, date, wday;
	} cases[] = {
		{ "2026-01-05", 0, 20260105, 1 },
		{ "2026-01-10", 0, 20260110, 6 },
		{ "2026-01-11", 0, 20260111, 0 },
		{ "2026-11-23", 0, 20261123, 1 },
		{ "1970-01-01", 0, 19700101, 4 },
		{ "2000-01-01", 0, 20000101, 6 },
		{ "2000-02-29", 0, 20000229, 2 },
		{ "2024-02-29", 0, 20240229, 4 },
		{ "2024-12-31", 0, 20241231, 2 },
		{ "2100-03-01", 0, 21000301, 1 },
		{ "9999-12-31", 0, 99991231, 5 },
		{ "2100-02-29", -EINVAL, 0, 0 },
		{ "2025-02-29", -EINVAL, 0, 0 },
		{ "2026-04-31", -EINVAL, 0, 0 },
		{ "2026-00-10", -EINVAL, 0, 0 },
		{ "2026-01-00", -EINVAL, 0, 0 },
		{ "2026-01-32", -EINVAL, 0, 0 },
		{ "1969-12-31", -EINVAL, 0, 0 },
		{ "2026-1-05", -EINVAL, 0, 0 },
		{ "2026-01-05T", -EINVAL, 0, 0 },
		{ "2026/01/05", -EINVAL, 0, 0 },
		{ "2026-0a-05", -EINVAL, 0, 0 },
		{ "+026-01-05", -EINVAL, 0, 0 },
		{ "", -EINVAL, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		int date = -1, wday = -1;

		assert_int_equal(rules_date_parse(cases[i].s, &date, &wday),
				 cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(date, cases[i].date);
			assert_int_equal(wday, cases[i].wday);
		}
	}
	assert_int_equal(rules_date_parse("2026-01-05", NULL, NULL), 0);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_load(void **state)
{
	char path[64];
	struct rules *r = NULL;
	struct errs e = { 0 };
	char *big;
	int rc;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/test-rules-%d.json", (int)getpid());
	write_file(path, R1(RULE("{}")), strlen(R1(RULE("{}"))));
	rc = rules_load(path, &r, collect, &e);
	assert_int_equal(rc, 0);
	assert_int_equal(rules_count(r), 1);
	rules_free(r);
	/* errors say the file's name */
	write_file(path, "{\"version\":1,\n\"rules\":3}", 24);
	rc = rules_load(path, &r, collect, &e);
	assert_int_equal(rc, 1);
	assert_null(r);
	assert_true(strncmp(e.where[0], path, strlen(path)) == 0);
	assert_string_equal(e.where[0] + strlen(path), ":2:9");
	/* 1 MiB is the limit */
	big = malloc(RULES_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', RULES_FILE_MAX + 1);
	memcpy(big, R1(RULE("{}")), strlen(R1(RULE("{}"))));
	write_file(path, big, RULES_FILE_MAX);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rules_load(path, &r, collect, &e), 0);
	rules_free(r);
	write_file(path, big, RULES_FILE_MAX + 1);
	assert_int_equal(rules_load(path, &r, collect, &e), 1);
	assert_null(r);
	assert_string_equal(e.where[0], path);
	assert_string_equal(e.path[0], "$");
	assert_string_equal(e.msg[0], "larger than 1048576 bytes");
	free(big);
	unlink(path);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rules_load(path, &r, collect, &e), 1);
	assert_string_equal(e.msg[0], "cannot read: No such file or directory");
	/* a NUL byte inside is not JSON */
	memset(&e, 0, sizeof(e));
	assert_int_equal(rules_parse("{\"version\":1}\0", 14, "n", &r, collect, &e), 1);
	assert_null(r);
}

/* --- the case runner ---------------------------------------------------- */

static void test_given_fields(void **state)
{
	struct rules_facts f, w;

	(void)state;
	/* the defaults */
	given("{}", &f);
	memset(&w, 0, sizeof(w));
	w.wday = 1;
	w.minute = 720;
	w.date = 20260105;
	w.mode = RULES_MODE_NORMAL;
	w.direction = RULES_DIR_IN;
	w.credential = RULES_CRED_VALID;
	w.has_person = 1;
	w.role = RULES_ROLE_RESIDENT;
	w.person = RULES_VALID;
	w.has_household = 1;
	w.temperature = RULES_TEMP_NONE;
	w.last_direction = RULES_DIR_NONE;
	w.last_age_s = 3600;
	assert_memory_equal(&f, &w, sizeof(f));
	/* everything given */
	given("{\"mode\":\"lockdown\",\"direction\":\"out\",\"credential\":\"expired\","
	      "\"role\":\"visitor\",\"person\":\"not_yet_valid\",\"household\":false,"
	      "\"host\":true,\"quarantine\":true,\"observation\":true,\"blocked\":true,"
	      "\"temperature\":37.25,\"retest\":true,\"time\":\"2024-02-29T23:59\","
	      "\"last_direction\":\"out\",\"last_hours_ago\":2.5,"
	      "\"exits_hours_ago\":[30,0.5,12]}", &f);
	assert_int_equal(f.mode, RULES_MODE_LOCKDOWN);
	assert_int_equal(f.direction, RULES_DIR_OUT);
	assert_int_equal(f.credential, RULES_CRED_EXPIRED);
	assert_int_equal(f.has_person, 1);
	assert_int_equal(f.role, RULES_ROLE_VISITOR);
	assert_int_equal(f.person, RULES_NOT_YET_VALID);
	assert_int_equal(f.has_household, 0);
	assert_int_equal(f.has_host, 1);
	assert_int_equal(f.quarantine, 1);
	assert_int_equal(f.observation, 1);
	assert_int_equal(f.blocked, 1);
	assert_int_equal(f.temperature, RULES_TEMP_OK);
	assert_true(f.temperature_c == 37.25);
	assert_int_equal(f.retest, 1);
	assert_int_equal(f.date, 20240229);
	assert_int_equal(f.wday, 4);
	assert_int_equal(f.minute, 23 * 60 + 59);
	assert_int_equal(f.last_direction, RULES_DIR_OUT);
	assert_int_equal(f.last_age_s, 9000);
	assert_int_equal(f.n_exits, 3);
	assert_int_equal(f.exit_age_s[0], 1800);	/* sorted */
	assert_int_equal(f.exit_age_s[1], 12 * 3600);
	assert_int_equal(f.exit_age_s[2], 30 * 3600);
	/* has_person from the credential */
	static const struct {
		const char *cred;
		int person;
	} hp[] = {
		{ "none", 0 }, { "missing", 0 }, { "unknown", 0 },
		{ "revoked", 1 }, { "expired", 1 }, { "not_yet_valid", 1 },
		{ "valid", 1 },
	};
	for (size_t i = 0; i < N_OF(hp); i++) {
		char g[128];

		snprintf(g, sizeof(g), "{\"credential\":\"%s\"}", hp[i].cred);
		given(g, &f);
		assert_int_equal(f.has_person, hp[i].person);
		assert_string_equal(rules_cred_name(f.credential), hp[i].cred);
	}
	given("{\"temperature\":\"missing\",\"last_direction\":null}", &f);
	assert_int_equal(f.temperature, RULES_TEMP_MISSING);
	assert_int_equal(f.last_direction, RULES_DIR_NONE);
	given("{\"temperature\":\"fault\",\"last_direction\":\"in\"}", &f);
	assert_int_equal(f.temperature, RULES_TEMP_FAULT);
	assert_int_equal(f.last_direction, RULES_DIR_IN);
	given("{\"temperature\":\"none\",\"time\":\"2026-01-11T00:00\"}", &f);
	assert_int_equal(f.temperature, RULES_TEMP_NONE);
	assert_int_equal(f.wday, 0);
	assert_int_equal(f.minute, 0);
}

static const struct error_case case_errors[] = {
	{ "`[]", "$", "expected an object, got list" },
	{ "`{}", "$", "missing field \"cases\"" },
	{ "{\"cases\":`[]}", "$.cases", "no cases: give at least one" },
	{ "{\"cases\":`{}}", "$.cases", "expected a list of cases, got object" },
	{ "{`\"case\":[],\"cases\":[{\"name\":\"n\",\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}", "$.case", "unknown field \"case\" (did you mean \"cases\"?)" },
	{ "{\"cases\":[`{\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}", "$.cases[0]",
	  "missing field \"name\"" },
	{ "{\"cases\":[`{\"name\":\"n\"}]}", "$.cases[0]", "missing field \"expect\"" },
	{ "{\"cases\":[{\"name\":`\"\",\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}",
	  "$.cases[0].name", "empty name" },
	{ "{\"cases\":[{\"name\":\"n\",`\"expected\":{},\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}", "$.cases[0].expected",
	  "unknown field \"expected\" (did you mean \"expect\"?)" },
	{ "{\"cases\":[{\"name\":\"n\",\"expect\":`{\"rule\":\"x\"}}]}", "$.cases[0].expect",
	  "missing field \"decision\"" },
	{ "{\"cases\":[{\"name\":\"n\",\"expect\":`{\"decision\":\"deny\"}}]}", "$.cases[0].expect",
	  "missing field \"rule\"" },
	{ "{\"cases\":[{\"name\":\"n\",\"expect\":{\"decision\":`\"ok\",\"rule\":\"x\"}}]}",
	  "$.cases[0].expect.decision", "unknown decision \"ok\" (one of: deny, allow, retest)" },
	{ "{\"cases\":[{\"name\":\"n\",\"expect\":{\"decision\":\"deny\",\"rule\":\"x\",\"reason\":`\"x\"}}]}",
	  "$.cases[0].expect.reason", "unknown reason code \"x\" (docs/rules.md lists them)" },
	{ "{\"cases\":[{\"name\":\"n\",\"expect\":{\"decision\":\"deny\",\"rule\":\"x\",\"alarm\":`\"loud\"}}]}",
	  "$.cases[0].expect.alarm", "unknown alarm \"loud\" (one of: none, low, medium, high, critical)" },
	{ "{\"cases\":[{\"name\":\"n\",\"given\":{`\"temprature\":1},\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}",
	  "$.cases[0].given.temprature", "unknown field \"temprature\" (did you mean \"temperature\"?)" },
	{ "{\"cases\":[{\"name\":\"n\",\"given\":{\"time\":`\"2026-01-05 10:00\"},\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}",
	  "$.cases[0].given.time",
	  "\"2026-01-05 10:00\" is not a time \"YYYY-MM-DDTHH:MM\" (a real date from 1970, 00:00 to 23:59)" },
	{ "{\"cases\":[{\"name\":\"n\",\"given\":{\"temperature\":`\"present\"},\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}",
	  "$.cases[0].given.temperature", "unknown temperature \"present\" (one of: none, missing, fault)" },
	{ "{\"cases\":[{\"name\":\"n\",\"given\":{\"temperature\":`101},\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}",
	  "$.cases[0].given.temperature", "101 is out of range 0..100" },
	{ "{\"cases\":[{\"name\":\"n\",\"given\":{\"exits_hours_ago\":[1,`-1]},\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}",
	  "$.cases[0].given.exits_hours_ago[1]", "-1 is out of range 0..1000000" },
	{ "{\"cases\":[{\"name\":\"n\",\"given\":{\"last_direction\":`\"none\"},\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}",
	  "$.cases[0].given.last_direction", "unknown direction \"none\" (one of: in, out)" },
	{ "{\"cases\":[{\"name\":\"n\",\"given\":{\"host\":`1},\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}",
	  "$.cases[0].given.host", "expected true or false, got number" },
	{ "{\"cases\":[{\"name\":\"n\",\"given\":`[],\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}",
	  "$.cases[0].given", "expected an object, got list" },
};

static void test_case_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(case_errors); i++) {
		const struct error_case *k = &case_errors[i];
		char text[4096], where[64];
		struct rcase_set *s = (struct rcase_set *)&s;
		struct errs e = { 0 };
		int line, col, rc;

		unmark(k->doc, text, sizeof(text), &line, &col);
		snprintf(where, sizeof(where), "c.json:%d:%d", line, col);
		rc = rcase_parse(text, strlen(text), "c.json", &s, collect, &e);
		if (rc != 1 || e.n != 1 || strcmp(e.where[0], where) != 0 ||
		    strcmp(e.path[0], k->path) != 0 ||
		    strcmp(e.msg[0], k->msg) != 0) {
			fprintf(stderr, "row %zu: %s\nexpected %s: %s: %s\ngot %d:\n",
				i, text, where, k->path, k->msg, rc);
			print_errs(&e);
			fail();
		}
		assert_null(s);
	}
	/* too many exits */
	{
		char text[2048];
		size_t o;
		struct rcase_set *s = NULL;
		struct errs e = { 0 };

		o = (size_t)snprintf(text, sizeof(text),
				     "{\"cases\":[{\"name\":\"n\",\"given\":"
				     "{\"exits_hours_ago\":[0");
		for (int i = 1; i <= RULES_MAX_EXITS; i++)
			o += (size_t)snprintf(text + o, sizeof(text) - o, ",%d", i);
		snprintf(text + o, sizeof(text) - o,
			 "]},\"expect\":{\"decision\":\"deny\",\"rule\":\"x\"}}]}");
		assert_int_equal(rcase_parse(text, strlen(text), "c", &s,
					     collect, &e), 1);
		assert_string_equal(e.msg[0], "65 exits: at most 64");
	}
}

static void test_case_run(void **state)
{
	static const char cases[] =
		"{\"cases\":["
		"{\"name\":\"ok\",\"given\":{\"temperature\":38},"
		" \"expect\":{\"decision\":\"deny\",\"rule\":\"fever\",\"reason\":\"fever\",\"alarm\":\"high\"}},"
		"{\"name\":\"decision\",\"given\":{\"temperature\":38},"
		" \"expect\":{\"decision\":\"allow\",\"rule\":\"fever\"}},"
		"{\"name\":\"rule\",\"given\":{\"temperature\":38},"
		" \"expect\":{\"decision\":\"deny\",\"rule\":\"other\"}},"
		"{\"name\":\"reason\",\"given\":{\"temperature\":38},"
		" \"expect\":{\"decision\":\"deny\",\"rule\":\"fever\",\"reason\":\"no_rule\"}},"
		"{\"name\":\"alarm\",\"given\":{\"temperature\":38},"
		" \"expect\":{\"decision\":\"deny\",\"rule\":\"fever\",\"alarm\":\"none\"}},"
		"{\"name\":\"default\",\"given\":{},"
		" \"expect\":{\"decision\":\"deny\",\"rule\":\"default\",\"reason\":\"no_rule\",\"alarm\":\"none\"}},"
		"{\"name\":\"all wrong\",\"given\":{},"
		" \"expect\":{\"decision\":\"retest\",\"rule\":\"fever\",\"reason\":\"fever\",\"alarm\":\"low\"}}"
		"]}";
	static const int want[] = {
		0, RCASE_DECISION, RCASE_RULE, RCASE_REASON, RCASE_ALARM, 0,
		RCASE_DECISION | RCASE_RULE | RCASE_REASON | RCASE_ALARM,
	};
	struct rules *r;
	struct rcase_set *s = NULL;
	struct rules_verdict v;
	struct errs e = { 0 };

	(void)state;
	r = compile(R1("{\"id\":\"fever\",\"when\":{\"temperature\":{\"at_or_above\":37.3}},"
		       "\"action\":\"deny\",\"alarm\":\"high\",\"reason\":\"fever\",\"message\":\"m\"}"));
	assert_int_equal(rcase_parse(cases, strlen(cases), "c", &s, collect, &e), 0);
	assert_int_equal(rcase_count(s), N_OF(want));
	for (size_t i = 0; i < N_OF(want); i++)
		assert_int_equal(rcase_run(r, rcase_get(s, i), &v), want[i]);
	assert_string_equal(rcase_get(s, 6)->name, "all wrong");
	assert_int_equal(rcase_get(s, 1)->line, 1);
	assert_null(rcase_get(s, N_OF(want)));
	assert_null(rcase_get(NULL, 0));
	assert_int_equal(rcase_count(NULL), 0);
	rcase_free(s);
	rcase_free(NULL);
	rules_free(r);
	rules_free(NULL);
}

/* --- property test: random valid documents against a reference --------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static int pick(int n)
{
	return (int)(rnd() % (uint64_t)n);
}

/* one generated rule, in plain form for the reference evaluator */
struct gen {
	unsigned has;		/* G_* */
	unsigned modes, creds, roles, persons, days;
	int dir, host, household, quarantine, observation, blocked, retest;
	int temp;		/* 0..2 none/missing/fault, 3 present, 4 range */
	int has_lo, has_hi;
	double lo, hi;
	int from, to;		/* -1: none */
	int dates[4], n_dates, except[4], n_except;
	int q_exits, q_hours, pb_hours;	/* pb_hours 0: true */
	int action, alarm, reason;
	char id[16];
	char message[64];
};

enum {
	G_MODE = 1 << 0, G_DIR = 1 << 1, G_CRED = 1 << 2, G_ROLE = 1 << 3,
	G_PERSON = 1 << 4, G_HOST = 1 << 5, G_HOUSEHOLD = 1 << 6,
	G_QUARANTINE = 1 << 7, G_OBSERVATION = 1 << 8, G_BLOCKED = 1 << 9,
	G_TEMP = 1 << 10, G_RETEST = 1 << 11, G_TIME = 1 << 12,
	G_QUOTA = 1 << 13, G_PASSBACK = 1 << 14, G_ALL = (1 << 15) - 1,
};

static const double temps[] = { 20, 33.9, 34, 35.5, 36, 36.6, 37, 37.29,
				37.3, 37.5, 38, 39.99, 42, 50 };
static const int date_pool[] = { 20260105, 20260106, 20260110, 20240229,
				 20261231, 20270101 };
static const int minute_pool[] = { 0, 1, 359, 360, 720, 1019, 1020, 1379,
				   1380, 1439 };
static const char *const messages[] = {
	"Welcome", "quote \\\" and backslash \\\\", "\\u4f60\\u597d",
	"caf\\u00e9 \xc3\xa9t\xc3\xa9", "Couriers leave parcels at the gate",
};
static const char *const messages_plain[] = {
	"Welcome", "quote \" and backslash \\", "\xe4\xbd\xa0\xe5\xa5\xbd",
	"caf\xc3\xa9 \xc3\xa9t\xc3\xa9", "Couriers leave parcels at the gate",
};

static unsigned nonempty_mask(int n)
{
	unsigned m;

	do
		m = (unsigned)rnd() & ((1u << n) - 1);
	while (m == 0);
	return m;
}

static void gen_rule(struct gen *g, int i)
{
	int n_reasons = 0;

	memset(g, 0, sizeof(*g));
	while (rules_reasons[n_reasons])
		n_reasons++;
	snprintf(g->id, sizeof(g->id), "r%d", i);
	/* mostly one to three conditions, sometimes none or many */
	if (pick(20) == 0)
		g->has = 0;
	else if (pick(10) == 0)
		g->has = (unsigned)rnd() & G_ALL;
	else
		for (int k = 1 + pick(3); k > 0; k--)
			g->has |= 1u << pick(15);
	g->modes = nonempty_mask(4);
	g->creds = nonempty_mask(7);
	g->roles = nonempty_mask(5);
	g->persons = nonempty_mask(3);
	g->days = nonempty_mask(7);
	g->dir = 1 + pick(2);
	g->host = pick(2);
	g->household = pick(2);
	g->quarantine = pick(2);
	g->observation = pick(2);
	g->blocked = pick(2);
	g->retest = pick(2);
	g->temp = pick(5);
	if (g->temp == 4) {
		int a = pick((int)N_OF(temps) - 1);
		int b = a + 1 + pick((int)N_OF(temps) - 1 - a);

		g->has_lo = pick(3) != 0;
		g->has_hi = !g->has_lo || pick(2);
		g->lo = temps[a];
		g->hi = temps[b];
	}
	/* time: some of days, window, dates, except_dates; at least one */
	{
		unsigned t;

		do
			t = (unsigned)pick(16);
		while (t == 0);
		if (!(t & 1))
			g->days = 0;
		g->from = g->to = -1;
		if (t & 2) {
			g->from = minute_pool[pick((int)N_OF(minute_pool))];
			do
				g->to = minute_pool[pick((int)N_OF(minute_pool))];
			while (g->to == g->from);
		}
		/* dates and except_dates from disjoint halves of the pool */
		if (t & 4) {
			unsigned m = nonempty_mask(3);

			for (int k = 0; k < 3; k++)
				if (m & (1u << k))
					g->dates[g->n_dates++] = date_pool[k];
		}
		if (t & 8) {
			unsigned m = nonempty_mask(3);

			for (int k = 0; k < 3; k++)
				if (m & (1u << k))
					g->except[g->n_except++] = date_pool[3 + k];
		}
	}
	g->q_exits = 1 + pick(4);
	g->q_hours = 1 + pick(72);
	g->pb_hours = pick(3) ? 0 : 1 + pick(48);
	g->action = pick(3);
	g->alarm = pick(5);
	g->reason = pick(n_reasons);
	g->message[0] = (char)pick((int)N_OF(messages));	/* index */
}

static int ref_in(unsigned mask, int v)
{
	return v >= 0 && v < 32 && (mask >> v) & 1;
}

static int ref_date_in(const int *d, int n, int date)
{
	for (int i = 0; i < n; i++)
		if (d[i] == date)
			return 1;
	return 0;
}

/* docs/rules.md, condition by condition */
static int ref_match(const struct gen *g, const struct rules_facts *f)
{
	unsigned h = g->has;

	if ((h & G_MODE) && !ref_in(g->modes, (int)f->mode))
		return 0;
	if ((h & G_DIR) && (int)f->direction != g->dir)
		return 0;
	if ((h & G_CRED) && !ref_in(g->creds, (int)f->credential))
		return 0;
	if ((h & G_ROLE) && !(f->has_person && ref_in(g->roles, (int)f->role)))
		return 0;
	if ((h & G_PERSON) && !(f->has_person && ref_in(g->persons, (int)f->person)))
		return 0;
	if ((h & G_HOST) && !(f->has_person && !!f->has_host == g->host))
		return 0;
	if ((h & G_HOUSEHOLD) && !(f->has_person && !!f->has_household == g->household))
		return 0;
	if ((h & G_QUARANTINE) && !(f->has_person && !!f->quarantine == g->quarantine))
		return 0;
	if ((h & G_OBSERVATION) && !(f->has_person && !!f->observation == g->observation))
		return 0;
	if ((h & G_BLOCKED) && !(f->has_person && !!f->blocked == g->blocked))
		return 0;
	if ((h & G_RETEST) && !!f->retest != g->retest)
		return 0;
	if (h & G_TEMP) {
		if (g->temp < 3 && (int)f->temperature != g->temp)
			return 0;
		if (g->temp >= 3 && f->temperature != RULES_TEMP_OK)
			return 0;
		if (g->temp == 4 && g->has_lo && !(f->temperature_c >= g->lo))
			return 0;
		if (g->temp == 4 && g->has_hi && !(f->temperature_c < g->hi))
			return 0;
	}
	if (h & G_TIME) {
		if (g->n_dates && !ref_date_in(g->dates, g->n_dates, f->date))
			return 0;
		if (g->days && !ref_in(g->days, f->wday))
			return 0;
		if (g->from >= 0) {
			int in = g->from < g->to
				 ? f->minute >= g->from && f->minute < g->to
				 : f->minute >= g->from || f->minute < g->to;

			if (!in)
				return 0;
		}
		if (ref_date_in(g->except, g->n_except, f->date))
			return 0;
	}
	if (h & G_QUOTA) {
		int used = 0;

		if (!f->has_person || !f->has_household)
			return 0;
		for (size_t i = 0; i < f->n_exits; i++)
			used += f->exit_age_s[i] < (int64_t)g->q_hours * 3600;
		if (used < g->q_exits)
			return 0;
	}
	if (h & G_PASSBACK) {
		if (!f->has_person || f->last_direction == RULES_DIR_NONE ||
		    f->last_direction != f->direction)
			return 0;
		if (g->pb_hours && f->last_age_s >= (int64_t)g->pb_hours * 3600)
			return 0;
	}
	return 1;
}

struct buf {
	char *s;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (size_t)n;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	b->len += (size_t)n;
}

static void put_names(struct buf *b, unsigned mask, const char *const *names,
		      int n)
{
	int count = 0, one = pick(2);

	for (int i = 0; i < n; i++)
		count += (mask >> i) & 1;
	if (count == 1 && one) {
		for (int i = 0; i < n; i++)
			if (mask & (1u << i))
				put(b, "\"%s\"", names[i]);
		return;
	}
	/* a list, in a random order */
	int order[8], k = 0;

	for (int i = 0; i < n; i++)
		if (mask & (1u << i))
			order[k++] = i;
	for (int i = k - 1; i > 0; i--) {
		int j = pick(i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	put(b, "[");
	for (int i = 0; i < k; i++)
		put(b, "%s \"%s\"", i ? "," : "", names[order[i]]);
	put(b, " ]");
}

static void put_dates(struct buf *b, const int *d, int n)
{
	if (n == 1 && pick(2)) {
		put(b, "\"%04d-%02d-%02d\"", d[0] / 10000, d[0] / 100 % 100,
		    d[0] % 100);
		return;
	}
	put(b, "[");
	for (int i = n - 1; i >= 0; i--)
		put(b, "%s\"%04d-%02d-%02d\"", i == n - 1 ? "" : ",",
		    d[i] / 10000, d[i] / 100 % 100, d[i] % 100);
	put(b, "]");
}

static const char *const p_modes[] = { "normal", "residents-only",
				       "lockdown", "open" };
static const char *const p_creds[] = { "none", "missing", "unknown",
				       "revoked", "expired", "not_yet_valid",
				       "valid" };
static const char *const p_roles[] = { "resident", "tenant", "visitor",
				       "staff", "courier" };
static const char *const p_persons[] = { "valid", "expired",
					 "not_yet_valid" };
static const char *const p_days[] = { "sun", "mon", "tue", "wed", "thu",
				      "fri", "sat" };
static const char *const p_temps[] = { "none", "missing", "fault",
				       "present" };
static const char *const p_actions[] = { "deny", "allow", "retest" };
static const char *const p_alarms[] = { NULL, "low", "medium", "high",
					"critical" };

static void put_doc(struct buf *b, const struct gen *g, int n)
{
	b->len = 0;
	put(b, "{ \"version\": %d,\n  \"retest_window_s\": %d,\n  \"rules\": [\n",
	    1 + pick(1000), 5 + pick(596));
	for (int i = 0; i < n; i++) {
		const struct gen *r = &g[i];
		int first = 1;

		put(b, "%s    {\"id\": \"%s\", ", i ? ",\n" : "", r->id);
		if (r->has || pick(2)) {
			put(b, "\"when\": {");
#define KEY(k) do { put(b, "%s\"" k "\": ", first ? "" : ", "); first = 0; } while (0)
			if (r->has & G_MODE) {
				KEY("mode");
				put_names(b, r->modes, p_modes, 4);
			}
			if (r->has & G_DIR) {
				KEY("direction");
				put(b, "\"%s\"", r->dir == 1 ? "in" : "out");
			}
			if (r->has & G_CRED) {
				KEY("credential");
				put_names(b, r->creds, p_creds, 7);
			}
			if (r->has & G_ROLE) {
				KEY("role");
				put_names(b, r->roles, p_roles, 5);
			}
			if (r->has & G_PERSON) {
				KEY("person");
				put_names(b, r->persons, p_persons, 3);
			}
			if (r->has & G_HOST) {
				KEY("host");
				put(b, r->host ? "true" : "false");
			}
			if (r->has & G_HOUSEHOLD) {
				KEY("household");
				put(b, r->household ? "true" : "false");
			}
			if (r->has & G_QUARANTINE) {
				KEY("quarantine");
				put(b, r->quarantine ? "true" : "false");
			}
			if (r->has & G_OBSERVATION) {
				KEY("observation");
				put(b, r->observation ? "true" : "false");
			}
			if (r->has & G_BLOCKED) {
				KEY("blocked");
				put(b, r->blocked ? "true" : "false");
			}
			if (r->has & G_RETEST) {
				KEY("retest");
				put(b, r->retest ? "true" : "false");
			}
			if (r->has & G_TEMP) {
				KEY("temperature");
				if (r->temp < 4)
					put(b, "\"%s\"", p_temps[r->temp]);
				else if (r->has_lo && r->has_hi)
					put(b, "{\"below\": %.2f, \"at_or_above\": %.2f}",
					    r->hi, r->lo);
				else if (r->has_lo)
					put(b, "{\"at_or_above\": %.2f}", r->lo);
				else
					put(b, "{\"below\": %.2f}", r->hi);
			}
			if (r->has & G_TIME) {
				int tf = 1;

				KEY("time");
				put(b, "{");
				if (r->days) {
					put(b, "\"days\": ");
					put_names(b, r->days, p_days, 7);
					tf = 0;
				}
				if (r->from >= 0) {
					put(b, "%s\"from\": \"%02d:%02d\", \"to\": \"%02d:%02d\"",
					    tf ? "" : ", ", r->from / 60, r->from % 60,
					    r->to / 60, r->to % 60);
					tf = 0;
				}
				if (r->n_dates) {
					put(b, "%s\"dates\": ", tf ? "" : ", ");
					put_dates(b, r->dates, r->n_dates);
					tf = 0;
				}
				if (r->n_except) {
					put(b, "%s\"except_dates\": ", tf ? "" : ", ");
					put_dates(b, r->except, r->n_except);
				}
				put(b, "}");
			}
			if (r->has & G_QUOTA) {
				KEY("quota");
				put(b, "{\"hours\": %d, \"exits\": %d}", r->q_hours,
				    r->q_exits);
			}
			if (r->has & G_PASSBACK) {
				KEY("passback");
				if (r->pb_hours)
					put(b, "{\"hours\": %d}", r->pb_hours);
				else
					put(b, "true");
			}
#undef KEY
			put(b, "}, ");
		}
		put(b, "\"action\": \"%s\", ", p_actions[r->action]);
		if (r->alarm)
			put(b, "\"alarm\": \"%s\", ", p_alarms[r->alarm]);
		put(b, "\"reason\": \"%s\", \"message\": \"%s\"}",
		    rules_reasons[r->reason], messages[(int)r->message[0]]);
	}
	put(b, "\n  ]\n}\n");
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int rand_in(unsigned mask)
{
	int k[32], n = 0;

	for (int i = 0; i < 32; i++)
		if (mask & (1u << i))
			k[n++] = i;
	return k[pick(n)];
}

/* Change f so that g's conditions hold, where they can (a rule may ask
 * for household false and a quota: then it matches nothing). */
static void fit_facts(struct rules_facts *f, const struct gen *g)
{
	unsigned h = g->has;

	if (h & (G_ROLE | G_PERSON | G_HOST | G_HOUSEHOLD | G_QUARANTINE |
		 G_OBSERVATION | G_BLOCKED | G_QUOTA | G_PASSBACK))
		f->has_person = 1;
	if (h & G_MODE)
		f->mode = (enum rules_mode)rand_in(g->modes);
	if (h & G_DIR)
		f->direction = (enum rules_dir)g->dir;
	if (h & G_CRED)
		f->credential = (enum rules_cred)rand_in(g->creds);
	if (h & G_ROLE)
		f->role = (enum rules_role)rand_in(g->roles);
	if (h & G_PERSON)
		f->person = (enum rules_validity)rand_in(g->persons);
	if (h & G_HOST)
		f->has_host = g->host;
	if (h & G_QUARANTINE)
		f->quarantine = g->quarantine;
	if (h & G_OBSERVATION)
		f->observation = g->observation;
	if (h & G_BLOCKED)
		f->blocked = g->blocked;
	if (h & G_RETEST)
		f->retest = g->retest;
	if (h & G_TEMP) {
		if (g->temp < 3) {
			f->temperature = (enum rules_temp)g->temp;
		} else {
			double lo = g->temp == 4 && g->has_lo ? g->lo : 20;
			double hi = g->temp == 4 && g->has_hi ? g->hi : 50;

			f->temperature = RULES_TEMP_OK;
			f->temperature_c = pick(4) == 0 ? lo
				: lo + (hi - lo) * (double)pick(1000) / 1000;
		}
	}
	if (h & G_TIME) {
		if (g->n_dates)
			f->date = g->dates[pick(g->n_dates)];
		else
			while (ref_date_in(g->except, g->n_except, f->date))
				f->date = date_pool[pick((int)N_OF(date_pool))];
		if (g->days)
			f->wday = rand_in(g->days);
		if (g->from >= 0) {
			int len = g->from < g->to ? g->to - g->from
						  : 1440 - g->from + g->to;
			int k = pick(3) == 0 ? (pick(2) ? 0 : len - 1) : pick(len);

			f->minute = (g->from + k) % 1440;
		}
	}
	if (h & G_QUOTA) {
		int64_t span = (int64_t)g->q_hours * 3600;

		f->has_household = 1;
		f->n_exits = (size_t)g->q_exits + (size_t)pick(3);
		for (size_t i = 0; i < f->n_exits; i++)
			f->exit_age_s[i] = i < (size_t)g->q_exits
				? (pick(4) == 0 ? span - 1 : (int64_t)(rnd() % (uint64_t)span))
				: (int64_t)pick(400000);
		qsort(f->exit_age_s, f->n_exits, sizeof(int64_t), cmp64);
	}
	if (h & G_HOUSEHOLD)
		f->has_household = g->household;
	if (h & G_PASSBACK) {
		f->last_direction = f->direction;
		f->last_age_s = g->pb_hours
			? (int64_t)(rnd() % ((uint64_t)g->pb_hours * 3600))
			: (int64_t)(rnd() % 10000000);
	}
}

/* random facts, half the time fitted to one of the rules */
static void random_facts(struct rules_facts *f, const struct gen *g, int n)
{
	const struct gen *r = &g[pick(n)];

	memset(f, 0, sizeof(*f));
	f->mode = (enum rules_mode)pick(4);
	f->direction = (enum rules_dir)(1 + pick(2));
	f->credential = (enum rules_cred)pick(7);
	/* usually consistent with the credential, sometimes not: eval
	 * must follow has_person either way */
	f->has_person = pick(8) ? f->credential >= RULES_CRED_REVOKED : pick(2);
	f->role = (enum rules_role)pick(5);
	f->person = (enum rules_validity)pick(3);
	f->has_household = pick(2);
	f->has_host = pick(2);
	f->quarantine = pick(2);
	f->observation = pick(2);
	f->blocked = pick(2);
	f->retest = pick(2);
	f->temperature = (enum rules_temp)pick(4);
	f->temperature_c = pick(2) ? temps[pick((int)N_OF(temps))]
				   : 20 + (double)pick(3001) / 100;
	f->date = date_pool[pick((int)N_OF(date_pool))];
	f->wday = pick(7);
	f->minute = pick(2) ? minute_pool[pick((int)N_OF(minute_pool))]
			    : pick(1440);
	f->last_direction = (enum rules_dir)pick(3);
	/* ages around a random rule's look-backs */
	{
		int64_t pb = (int64_t)(r->pb_hours ? r->pb_hours : 1 + pick(48)) * 3600;
		int64_t q = (int64_t)r->q_hours * 3600;

		f->last_age_s = pb + pick(3) - 1;
		f->n_exits = (size_t)pick(7);
		for (size_t i = 0; i < f->n_exits; i++)
			f->exit_age_s[i] = pick(2) ? q + pick(3) - 2 : pick(200000);
		qsort(f->exit_age_s, f->n_exits, sizeof(int64_t), cmp64);
	}
	if (pick(2))
		fit_facts(f, r);
}

struct reach_errs {
	int n, bad;
	int b[64], a[64];	/* $.rules[b] shadowed by $.rules[a] */
};

static void collect_reach(void *ctx, const char *where, const char *path,
			  const char *msg)
{
	struct reach_errs *e = ctx;
	int b, a;

	(void)where;
	if (sscanf(path, "$.rules[%d]", &b) != 1 ||
	    strncmp(msg, "unreachable: rule \"", 19) != 0 ||
	    strstr(msg, " at $.rules[") == NULL ||
	    sscanf(strstr(msg, " at $.rules[") + 12, "%d", &a) != 1 ||
	    e->n >= 64) {
		fprintf(stderr, "unexpected error: %s: %s: %s\n", where, path, msg);
		e->bad = 1;
		return;
	}
	e->b[e->n] = b;
	e->a[e->n] = a;
	e->n++;
}

static void test_property(void **state)
{
	struct buf b = { .s = malloc(4096), .cap = 4096 };
	struct gen g[24];
	uint64_t seed = 0x5eed5eedULL;
	const char *env = getenv("WICKET_TEST_SEED");
	long docs = 0, evals = 0, shadowed = 0, matched = 0, defaults = 0;
	long samples = 0;

	(void)state;
	assert_non_null(b.s);
	if (env)
		seed = strtoull(env, NULL, 0);
	rng_state = seed;
	for (int iter = 0; iter < 2000; iter++) {
		int n = 1 + pick(pick(4) ? 12 : 24);
		struct reach_errs re = { 0 };
		struct rules *r = NULL;
		int rc;

		for (int i = 0; i < n; i++)
			gen_rule(&g[i], i);
		put_doc(&b, g, n);
		rc = rules_parse(b.s, b.len, "p.json", &r, collect_reach, &re);
		if (re.bad || rc < 0)
			fail_msg("seed %#llx iteration %d: %s",
				 (unsigned long long)seed, iter, b.s);
		if (rc > 0) {
			/* each flagged rule: whatever it matches, the earlier
			 * one matches too (sampled) */
			assert_int_equal(rc, re.n);
			for (int k = 0; k < re.n; k++) {
				assert_true(re.a[k] < re.b[k]);
				for (int t = 0; t < 300; t++) {
					struct rules_facts f;

					random_facts(&f, &g[re.b[k]], 1);
					fit_facts(&f, &g[re.b[k]]);
					if (!ref_match(&g[re.b[k]], &f))
						continue;	/* matches nothing */
					samples++;
					if (!ref_match(&g[re.a[k]], &f))
						fail_msg("seed %#llx iteration %d: rule %d "
							 "is not shadowed by %d: %s",
							 (unsigned long long)seed, iter,
							 re.b[k], re.a[k], b.s);
				}
			}
			/* without them the document is clean */
			int m = 0;

			for (int i = 0; i < n; i++) {
				int drop = 0;

				for (int k = 0; k < re.n; k++)
					drop |= re.b[k] == i;
				if (!drop)
					g[m++] = g[i];
			}
			shadowed += n - m;
			n = m;
			put_doc(&b, g, n);
			memset(&re, 0, sizeof(re));
			rc = rules_parse(b.s, b.len, "p.json", &r, collect_reach, &re);
			if (rc != 0)
				fail_msg("seed %#llx iteration %d: still %d errors: %s",
					 (unsigned long long)seed, iter, rc, b.s);
		}
		docs++;
		assert_int_equal(rules_count(r), n);
		for (int t = 0; t < 200; t++) {
			struct rules_facts f;
			struct rules_verdict v;
			int want = -1;

			random_facts(&f, g, n);
			for (int i = 0; i < n && want < 0; i++)
				if (ref_match(&g[i], &f))
					want = i;
			rules_eval(r, &f, &v);
			evals++;
			assert_non_null(v.rule);
			assert_non_null(v.reason);
			assert_non_null(v.message);
			if (v.index != want)
				fail_msg("seed %#llx iteration %d case %d: got rule %d, "
					 "reference %d: %s", (unsigned long long)seed,
					 iter, t, v.index, want, b.s);
			if (want < 0) {
				defaults++;
				assert_string_equal(v.rule, "default");
				assert_string_equal(v.reason, "no_rule");
				assert_int_equal(v.decision, RULES_DENY);
				assert_int_equal(v.alarm, RULES_SEV_NONE);
				continue;
			}
			matched++;
			assert_string_equal(v.rule, g[want].id);
			assert_string_equal(v.reason, rules_reasons[g[want].reason]);
			assert_string_equal(v.message,
					    messages_plain[(int)g[want].message[0]]);
			assert_int_equal(v.decision, g[want].action);
			assert_int_equal(v.alarm, g[want].alarm);
		}
		rules_free(r);
	}
	/* the generator must exercise both sides */
	assert_true(matched > evals / 10);
	assert_true(defaults > evals / 10);
	assert_true(shadowed > 0);
	assert_true(samples > shadowed * 100);
	free(b.s);
	(void)docs;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_conditions_raw),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_first_match_and_default),
		cmocka_unit_test(test_document_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_errors_all),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_unreachable_with_errors),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_given_fields),
		cmocka_unit_test(test_case_errors),
		cmocka_unit_test(test_case_run),
		cmocka_unit_test(test_property),
	};

	return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
