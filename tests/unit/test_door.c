/* door supervision: tables of contact levels, grants, holds and clock
 * ticks, and what each step must report.  held_ms 1000, grant_ms 500. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "door.h"

/* op: 'i' initial level, 'o' open, 'c' close, 'g' grant, 'h' hold on,
 * 'r' hold off (release), 't' tick; want: what the step reports */
struct step {
	char op;
	int64_t at;
	enum door_alarm want;
};

struct scenario {
	const char *name;
	struct step steps[12];
	int64_t deadline_after;	/* door_deadline() after the last step */
};

static const struct scenario scenarios[] = {
	{ "granted opening is quiet",
	  { { 'i', 0, DOOR_QUIET }, { 'g', 100, DOOR_QUIET },
	    { 'o', 400, DOOR_QUIET }, { 'c', 900, DOOR_QUIET } }, -1 },
	{ "opening without a grant is forced",
	  { { 'i', 0, DOOR_QUIET }, { 'o', 50, DOOR_FORCED } }, 1050 },
	{ "a grant that ran out does not cover",
	  { { 'i', 0, DOOR_QUIET }, { 'g', 100, DOOR_QUIET },
	    { 'o', 601, DOOR_FORCED } }, 1601 },
	{ "a grant at its last millisecond covers",
	  { { 'i', 0, DOOR_QUIET }, { 'g', 100, DOOR_QUIET },
	    { 'o', 600, DOOR_QUIET } }, 1600 },
	{ "one grant, one opening",
	  { { 'i', 0, DOOR_QUIET }, { 'g', 0, DOOR_QUIET },
	    { 'o', 10, DOOR_QUIET }, { 'c', 100, DOOR_QUIET },
	    { 'o', 200, DOOR_FORCED } }, 1200 },
	{ "held open: raised once, then closed",
	  { { 'i', 0, DOOR_QUIET }, { 'g', 0, DOOR_QUIET },
	    { 'o', 10, DOOR_QUIET }, { 't', 1009, DOOR_QUIET },
	    { 't', 1010, DOOR_HELD }, { 't', 5000, DOOR_QUIET },
	    { 'c', 6000, DOOR_CLOSED_AFTER_HELD } }, -1 },
	{ "forced and then held",
	  { { 'i', 0, DOOR_QUIET }, { 'o', 0, DOOR_FORCED },
	    { 't', 1000, DOOR_HELD } }, -1 },
	{ "open at start: not forced, but timed",
	  { { 'i', 0, DOOR_QUIET }, { 'o', 0, DOOR_QUIET } }, 1000 },
	{ "closed at start, then opened",
	  { { 'i', 0, DOOR_QUIET }, { 'c', 10, DOOR_QUIET },
	    { 'o', 20, DOOR_FORCED } }, 1020 },
	{ "a repeated level is no change",
	  { { 'i', 0, DOOR_QUIET }, { 'c', 10, DOOR_QUIET },
	    { 'c', 20, DOOR_QUIET } }, -1 },
	{ "emergency hold: no forced, no held",
	  { { 'i', 0, DOOR_QUIET }, { 'h', 0, DOOR_QUIET },
	    { 'o', 10, DOOR_QUIET }, { 't', 5000, DOOR_QUIET } }, -1 },
	{ "after the hold an open door is timed afresh",
	  { { 'i', 0, DOOR_QUIET }, { 'h', 0, DOOR_QUIET },
	    { 'o', 10, DOOR_QUIET }, { 'r', 5000, DOOR_QUIET },
	    { 't', 5999, DOOR_QUIET }, { 't', 6000, DOOR_HELD } }, -1 },
	{ "after the hold the door is supervised again",
	  { { 'i', 0, DOOR_QUIET }, { 'h', 0, DOOR_QUIET },
	    { 'r', 100, DOOR_QUIET }, { 'o', 200, DOOR_FORCED } }, 1200 },
	{ "nothing known: no deadline",
	  { { 'g', 0, DOOR_QUIET } }, -1 },
};

static void run(const struct scenario *s)
{
	struct door d;
	enum door_alarm got;

	door_init(&d, 1000, 500);
	for (size_t i = 0; i < sizeof(s->steps) / sizeof(s->steps[0]); i++) {
		const struct step *st = &s->steps[i];

		got = DOOR_QUIET;
		switch (st->op) {
		case 0:
			goto done;
		case 'i':
			/* the initial level: closed, except where the table
			 * opens next at the same time */
			got = door_input(&d, 0, 1, st->at);
			if (i + 1 < 12 && s->steps[i + 1].op == 'o' &&
			    s->steps[i + 1].at == st->at &&
			    s->steps[i + 1].want == DOOR_QUIET) {
				got = door_input(&d, 1, 1, st->at);
				i++;
			}
			break;
		case 'o':
			got = door_input(&d, 1, 0, st->at);
			break;
		case 'c':
			got = door_input(&d, 0, 0, st->at);
			break;
		case 'g':
			door_grant(&d, st->at);
			break;
		case 'h':
			door_hold(&d, 1, st->at);
			break;
		case 'r':
			door_hold(&d, 0, st->at);
			break;
		case 't':
			got = door_tick(&d, st->at);
			break;
		default:
			fail_msg("bad op %c", st->op);
		}
		if (got != st->want)
			fail_msg("%s: step %zu (%c at %lld): got %s, want %s",
				 s->name, i, st->op, (long long)st->at,
				 door_alarm_name(got), door_alarm_name(st->want));
	}
done:
	if (door_deadline(&d) != s->deadline_after)
		fail_msg("%s: deadline %lld, want %lld", s->name,
			 (long long)door_deadline(&d),
			 (long long)s->deadline_after);
}

static void test_scenarios(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run(&scenarios[i]);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(door_alarm_name(DOOR_FORCED), "door_forced");
	assert_string_equal(door_alarm_name(DOOR_HELD), "door_held");
	assert_string_equal(door_alarm_name(DOOR_CLOSED_AFTER_HELD),
			    "door_closed");
	assert_string_equal(door_alarm_name(DOOR_QUIET), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
