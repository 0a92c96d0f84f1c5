/* lane pairing and re-test: tables of input sequences and the attempts
 * they close.  The stand-in decision asks for a re-test when a first
 * reading is 38.0 or more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lane.h"

#define MAX_OUT 8

struct result {
	int n;
	struct attempt a[MAX_OUT];
};

static enum lane_verdict collect(struct lane *l, const struct attempt *a,
				 void *arg)
{
	struct result *r = arg;

	(void)l;
	assert_true(r->n < MAX_OUT);
	r->a[r->n++] = *a;
	return a->has_temperature && a->temperature_c >= 38.0 && !a->retest ?
	       LANE_RETEST : LANE_DONE;
}

/* step: 'c' credential, 't' temperature, 'x' expire check; at ms */
struct step {
	char kind;
	int64_t at;
	const char *cred;
	double temp;
};

struct expect {
	const char *cred;	/* NULL: none */
	double temp;		/* < 0: none */
	double first;		/* > 0: a re-test of that first reading */
};

struct pairing_case {
	const char *name;
	int reader, thermal;
	struct step steps[8];
	int n_expect;
	struct expect expect[4];
};

static const struct pairing_case cases[] = {
	{ "card then temperature inside the window", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 't', 1000, NULL, 36.6 } },
	  1, { { "1001", 36.6, 0 } } },
	{ "temperature then card", 1, 1,
	  { { 't', 0, NULL, 36.2 }, { 'c', 400, "1002", 0 } },
	  1, { { "1002", 36.2, 0 } } },
	{ "card alone expires without temperature", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 'x', 4999, NULL, 0 }, { 'x', 5000, NULL, 0 } },
	  1, { { "1001", -1, 0 } } },
	{ "temperature too late is its own attempt", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 't', 6000, NULL, 36.6 }, { 'x', 12000, NULL, 0 } },
	  2, { { "1001", -1, 0 }, { NULL, 36.6, 0 } } },
	{ "two cards in a row are two people", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 'c', 100, "1002", 0 }, { 't', 200, NULL, 36.5 } },
	  2, { { "1001", -1, 0 }, { "1002", 36.5, 0 } } },
	{ "two temperatures in a row", 1, 1,
	  { { 't', 0, NULL, 36.5 }, { 't', 100, NULL, 38.1 }, { 'c', 150, "7", 0 } },
	  2, { { NULL, 36.5, 0 }, { "7", 38.1, 0 } } },
	{ "temperature-only lane decides each reading", 0, 1,
	  { { 't', 0, NULL, 36.5 }, { 't', 10, NULL, 37.9 } },
	  2, { { NULL, 36.5, 0 }, { NULL, 37.9, 0 } } },
	{ "reader-only lane decides each card", 1, 0,
	  { { 'c', 0, "5", 0 } },
	  1, { { "5", -1, 0 } } },
	{ "fever, then a normal second reading", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 't', 100, NULL, 38.2 }, { 't', 9000, NULL, 36.9 } },
	  2, { { "1001", 38.2, 0 }, { "1001", 36.9, 38.2 } } },
	{ "fever, second reading still high", 1, 1,
	  { { 't', 0, NULL, 38.5 }, { 'c', 10, "1001", 0 }, { 't', 500, NULL, 38.4 } },
	  2, { { "1001", 38.5, 0 }, { "1001", 38.4, 38.5 } } },
	{ "fever, no second reading within retest_ms", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 't', 100, NULL, 38.2 }, { 'x', 10099, NULL, 0 },
	    { 'x', 10100, NULL, 0 } },
	  2, { { "1001", 38.2, 0 }, { "1001", -1, 38.2 } } },
	{ "the same card again while re-testing changes nothing", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 't', 100, NULL, 38.2 }, { 'c', 200, "1001", 0 },
	    { 't', 300, NULL, 36.8 } },
	  2, { { "1001", 38.2, 0 }, { "1001", 36.8, 38.2 } } },
	{ "another card ends the re-test as missing", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 't', 100, NULL, 38.2 }, { 'c', 200, "1002", 0 },
	    { 't', 300, NULL, 36.8 } },
	  3, { { "1001", 38.2, 0 }, { "1001", -1, 38.2 }, { "1002", 36.8, 0 } } },
	{ "temperature-only lane re-tests too", 0, 1,
	  { { 't', 0, NULL, 38.0 }, { 't', 50, NULL, 38.1 }, { 't', 60, NULL, 36.5 } },
	  3, { { NULL, 38.0, 0 }, { NULL, 38.1, 38.0 }, { NULL, 36.5, 0 } } },
	{ "a reader-only lane never waits for a reading", 1, 0,
	  { { 'c', 0, "5", 0 }, { 'x', 20000, NULL, 0 } },
	  1, { { "5", -1, 0 } } },
};

static void test_pairing(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pairing_case *k = &cases[i];
		struct result r = { 0 };
		struct lane l;

		lane_init(&l, 0, k->reader, k->thermal, 5000, 10000, collect, &r);
		for (int s = 0; s < 8 && k->steps[s].kind; s++) {
			const struct step *st = &k->steps[s];

			if (st->kind == 'c')
				lane_credential(&l, st->at, 1000 + st->at, st->cred);
			else if (st->kind == 't')
				lane_temperature(&l, st->at, 1000 + st->at, st->temp);
			else
				lane_expire(&l, st->at, 1000 + st->at);
		}
		print_message("case: %s\n", k->name);
		assert_int_equal(r.n, k->n_expect);
		for (int e = 0; e < k->n_expect; e++) {
			assert_int_equal(r.a[e].has_credential, k->expect[e].cred != NULL);
			if (k->expect[e].cred)
				assert_string_equal(r.a[e].credential, k->expect[e].cred);
			assert_int_equal(r.a[e].has_temperature, k->expect[e].temp >= 0);
			if (k->expect[e].temp >= 0)
				assert_true(r.a[e].temperature_c == k->expect[e].temp);
			assert_int_equal(r.a[e].retest, k->expect[e].first > 0);
			if (k->expect[e].first > 0)
				assert_true(r.a[e].first_temperature_c ==
					    k->expect[e].first);
		}
	}
}

static void test_deadline_and_flush(void **state)
{
	struct result r = { 0 };
	struct lane l;

	(void)state;
	lane_init(&l, 0, 1, 1, 3000, 20000, collect, &r);
	assert_int_equal(lane_deadline(&l), -1);
	lane_credential(&l, 100, 100, "42");
	assert_int_equal(lane_deadline(&l), 3100);
	lane_flush(&l, 200);
	assert_int_equal(r.n, 1);
	assert_int_equal(lane_deadline(&l), -1);
	lane_flush(&l, 300);
	assert_int_equal(r.n, 1);
	/* a re-test waits retest_ms; a flush closes it as missing, with no
	 * new wait */
	lane_credential(&l, 1000, 1000, "43");
	lane_temperature(&l, 1100, 1100, 38.3);
	assert_int_equal(r.n, 2);
	assert_int_equal(lane_deadline(&l), 21100);
	lane_flush(&l, 1500);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.a[2].retest, 1);
	assert_int_equal(r.a[2].has_temperature, 0);
	assert_true(r.a[2].time_ms == 1500);
	assert_int_equal(r.a[2].final, 1);
	assert_int_equal(lane_deadline(&l), -1);
	/* a fever waiting for its card, flushed: decided for good (final),
	 * even though the decision asks for a re-test */
	lane_temperature(&l, 2000, 2000, 38.6);
	assert_int_equal(r.n, 3);
	lane_flush(&l, 2100);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.a[3].final, 1);
	assert_int_equal(r.a[3].retest, 0);
	assert_int_equal(lane_deadline(&l), -1);
	/* the same while pairing normally: the first decision is not final */
	lane_credential(&l, 3000, 3000, "44");
	lane_temperature(&l, 3100, 3100, 38.6);
	assert_int_equal(r.a[4].final, 0);
	assert_true(lane_deadline(&l) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairing),
		cmocka_unit_test(test_deadline_and_flush),
	};

	return cmocka_run_group_tests_name("lane", tests, NULL, NULL);
}
