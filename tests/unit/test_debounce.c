/*
 * debounce: each case is a debounce time, a starting level and a list of
 * steps, raw edges (level at t) and polls (at t), each with the report it
 * must give (none, or the new stable level) and the deadline it must
 * leave.  Times are in microseconds here, nanoseconds for the module.
 * The cases cover a clean change, bounces shorter than the debounce time,
 * chatter that settles, edges read late in one batch, no debounce at all,
 * repeated edges, a clock that goes back and edges stamped ahead of now.
 *
 * The Makefile links unit tests with the daemon's objects only; the module
 * is the gpio plugin's, so this file includes its source.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../plugins/gpio/debounce.c"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NONE (-1)		/* no report; no deadline */
#define STEPS_MAX 12

struct step {
	char op;		/* 'e' edge, 'p' poll */
	int level;		/* e */
	int64_t t_us;
	int want;		/* the report: NONE, 0 or 1 */
	int64_t deadline_us;	/* after the step: NONE or the time */
};

struct dcase {
	const char *name;
	int64_t debounce_us;
	int initial;
	size_t n;
	struct step s[STEPS_MAX];
};

static const struct dcase cases[] = {
	{ "a clean change is reported after the debounce time", 20000, 0, 4, {
		{ 'e', 1, 1000, NONE, 21000 },
		{ 'p', 0, 20999, NONE, 21000 },
		{ 'p', 0, 21000, 1, NONE },
		{ 'p', 0, 90000, NONE, NONE },
	} },
	{ "a bounce shorter than the debounce time gives nothing", 20000, 0, 4, {
		{ 'e', 1, 0, NONE, 20000 },
		{ 'e', 0, 5000, NONE, NONE },
		{ 'p', 0, 20000, NONE, NONE },
		{ 'p', 0, 500000, NONE, NONE },
	} },
	{ "a bounce of 1 us under the debounce time gives nothing", 20000, 1, 3, {
		{ 'e', 0, 100, NONE, 20100 },
		{ 'e', 1, 20099, NONE, NONE },
		{ 'p', 0, 40000, NONE, NONE },
	} },
	{ "chatter counts from its last edge", 20000, 0, 7, {
		{ 'e', 1, 0, NONE, 20000 },
		{ 'e', 0, 2000, NONE, NONE },
		{ 'e', 1, 4000, NONE, 24000 },
		{ 'e', 0, 6000, NONE, NONE },
		{ 'e', 1, 8000, NONE, 28000 },
		{ 'p', 0, 27999, NONE, 28000 },
		{ 'p', 0, 28000, 1, NONE },
	} },
	{ "edges read late in one batch: the first change counts at the second edge", 20000, 0, 4, {
		{ 'e', 1, 0, NONE, 20000 },
		{ 'e', 0, 30000, 1, 50000 },
		{ 'p', 0, 49000, NONE, 50000 },
		{ 'p', 0, 50000, 0, NONE },
	} },
	{ "a change held exactly the debounce time before the next edge counts", 20000, 0, 2, {
		{ 'e', 1, 0, NONE, 20000 },
		{ 'e', 0, 20000, 1, 40000 },
	} },
	{ "a poll long after the edge reports once", 20000, 1, 3, {
		{ 'e', 0, 0, NONE, 20000 },
		{ 'p', 0, 3000000, 0, NONE },
		{ 'p', 0, 3000001, NONE, NONE },
	} },
	{ "no debounce: every change counts at its edge", 0, 0, 5, {
		{ 'e', 1, 0, 1, NONE },
		{ 'e', 0, 0, 0, NONE },
		{ 'e', 0, 10, NONE, NONE },
		{ 'e', 1, 20, 1, NONE },
		{ 'p', 0, 30, NONE, NONE },
	} },
	{ "a repeated edge restarts the wait", 20000, 0, 3, {
		{ 'e', 1, 0, NONE, 20000 },
		{ 'e', 1, 10000, NONE, 30000 },
		{ 'p', 0, 29999, NONE, 30000 },
	} },
	{ "an edge to the stable level is nothing", 20000, 1, 2, {
		{ 'e', 1, 0, NONE, NONE },
		{ 'p', 0, 100000, NONE, NONE },
	} },
	{ "a clock going back counts as the previous edge's time", 20000, 0, 4, {
		{ 'e', 1, 10000, NONE, 30000 },
		{ 'e', 0, 5000, NONE, NONE },
		{ 'e', 1, 6000, NONE, 30000 },
		{ 'p', 0, 30000, 1, NONE },
	} },
	{ "edges stamped ahead of now wait for their own time", 20000, 0, 3, {
		{ 'e', 1, 100000, NONE, 120000 },
		{ 'p', 0, 50000, NONE, 120000 },
		{ 'p', 0, 120000, 1, NONE },
	} },
	{ "the longest debounce, 10 s", 10000000, 0, 3, {
		{ 'e', 1, 0, NONE, 10000000 },
		{ 'p', 0, 9999999, NONE, 10000000 },
		{ 'p', 0, 10000000, 1, NONE },
	} },
	{ "a change and back, both held: two reports", 20000, 0, 4, {
		{ 'e', 1, 0, NONE, 20000 },
		{ 'p', 0, 25000, 1, NONE },
		{ 'e', 0, 26000, NONE, 46000 },
		{ 'p', 0, 46000, 0, NONE },
	} },
};

static void run_case(const struct dcase *c)
{
	struct debounce d;

	db_init(&d, c->debounce_us * 1000, c->initial);
	assert_int_equal(db_deadline(&d), INT64_MAX);
	for (size_t i = 0; i < c->n; i++) {
		const struct step *s = &c->s[i];
		int out = -7, r;
		int64_t dl;

		if (s->op == 'e')
			r = db_edge(&d, s->level, s->t_us * 1000, &out);
		else
			r = db_poll(&d, s->t_us * 1000, &out);
		if (r != (s->want != NONE) ||
		    (r && out != s->want) || (!r && out != -7))
			fail_msg("%s: step %zu: got %d/%d, want %d", c->name, i,
				 r, out, s->want);
		dl = db_deadline(&d);
		if (dl != (s->deadline_us == NONE ? INT64_MAX
						  : s->deadline_us * 1000))
			fail_msg("%s: step %zu: deadline %lld ns, want %lld us",
				 c->name, i, (long long)dl,
				 (long long)s->deadline_us);
	}
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		run_case(&cases[i]);
}

/* The stable level is what the plugin reports as initial. */
static void test_init(void **state)
{
	struct debounce d;

	(void)state;
	db_init(&d, 20000000, 5);
	assert_int_equal(d.stable, 1);
	db_init(&d, -3, 0);
	assert_int_equal(d.stable, 0);
	assert_int_equal(d.debounce_ns, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_init),
	};

	return cmocka_run_group_tests_name("debounce", tests, NULL, NULL);
}
