/* lane pairing: tables of input sequences and the attempts they close. */
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

static void collect(struct lane *l, const struct attempt *a, void *arg)
{
	struct result *r = arg;

	(void)l;
	assert_true(r->n < MAX_OUT);
	r->a[r->n++] = *a;
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
};

struct pairing_case {
	const char *name;
	int reader, thermal;
	struct step steps[6];
	int n_expect;
	struct expect expect[4];
};

static const struct pairing_case cases[] = {
	{ "card then temperature inside the window", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 't', 1000, NULL, 36.6 } },
	  1, { { "1001", 36.6 } } },
	{ "temperature then card", 1, 1,
	  { { 't', 0, NULL, 36.2 }, { 'c', 400, "1002", 0 } },
	  1, { { "1002", 36.2 } } },
	{ "card alone expires without temperature", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 'x', 4999, NULL, 0 }, { 'x', 5000, NULL, 0 } },
	  1, { { "1001", -1 } } },
	{ "temperature too late is its own attempt", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 't', 6000, NULL, 36.6 }, { 'x', 12000, NULL, 0 } },
	  2, { { "1001", -1 }, { NULL, 36.6 } } },
	{ "two cards in a row are two people", 1, 1,
	  { { 'c', 0, "1001", 0 }, { 'c', 100, "1002", 0 }, { 't', 200, NULL, 36.5 } },
	  2, { { "1001", -1 }, { "1002", 36.5 } } },
	{ "two temperatures in a row", 1, 1,
	  { { 't', 0, NULL, 36.5 }, { 't', 100, NULL, 38.1 }, { 'c', 150, "7", 0 } },
	  2, { { NULL, 36.5 }, { "7", 38.1 } } },
	{ "temperature-only lane decides each reading", 0, 1,
	  { { 't', 0, NULL, 36.5 }, { 't', 10, NULL, 37.9 } },
	  2, { { NULL, 36.5 }, { NULL, 37.9 } } },
	{ "reader-only lane decides each card", 1, 0,
	  { { 'c', 0, "5", 0 } },
	  1, { { "5", -1 } } },
};

static void test_pairing(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pairing_case *k = &cases[i];
		struct result r = { 0 };
		struct lane l;

		lane_init(&l, 0, k->reader, k->thermal, 5000, collect, &r);
		for (int s = 0; s < 6 && k->steps[s].kind; s++) {
			const struct step *st = &k->steps[s];

			if (st->kind == 'c')
				lane_credential(&l, st->at, 1000 + st->at, st->cred);
			else if (st->kind == 't')
				lane_temperature(&l, st->at, 1000 + st->at, st->temp);
			else
				lane_expire(&l, st->at);
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
		}
	}
}

static void test_deadline_and_flush(void **state)
{
	struct result r = { 0 };
	struct lane l;

	(void)state;
	lane_init(&l, 0, 1, 1, 3000, collect, &r);
	assert_int_equal(lane_deadline(&l), -1);
	lane_credential(&l, 100, 100, "42");
	assert_int_equal(lane_deadline(&l), 3100);
	lane_flush(&l);
	assert_int_equal(r.n, 1);
	assert_int_equal(lane_deadline(&l), -1);
	lane_flush(&l);
	assert_int_equal(r.n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairing),
		cmocka_unit_test(test_deadline_and_flush),
	};

	return cmocka_run_group_tests_name("lane", tests, NULL, NULL);
}
