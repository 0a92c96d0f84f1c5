/*
 * pattern: each indication's whole timeline, written out by hand from the
 * table in pattern.h and docs/wiring.md ("t:outputs" at every change, G
 * green, R red, B buzzer, - all off), is compared with the one the module
 * gives when followed from 0 through its next_ms; then every millisecond
 * of every pattern is checked against that timeline (the outputs, and
 * next_ms being the first later change), so pat_at agrees with itself at
 * any time a late timer may ask.  Points in the middle, unknown
 * indications and the lengths are a table of their own.
 *
 * The module is the gpio plugin's; this file includes its source.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../plugins/gpio/pattern.c"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void mask_str(unsigned m, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", m & PAT_GREEN ? "G" : "",
		 m & PAT_RED ? "R" : "", m & PAT_BUZZER ? "B" : "",
		 m == 0 ? "-" : "");
}

/* Follow the pattern through next_ms from 0. */
static void timeline(uint32_t ind, char *buf, size_t len)
{
	int64_t t = 0, next;
	size_t used = 0;
	char m[8];

	buf[0] = '\0';
	for (int guard = 0; guard < 1000; guard++) {
		unsigned mask = pat_at(ind, t, &next);

		mask_str(mask, m, sizeof(m));
		used += (size_t)snprintf(buf + used, len - used, "%s%lld:%s",
					 used ? " " : "", (long long)t, m);
		assert_true(used < len);
		if (next < 0)
			return;
		assert_true(next > t);
		t = next;
	}
	fail_msg("indication %u: no end", ind);
}

struct tl_case {
	uint32_t ind;
	const char *want;
};

static const struct tl_case tl_cases[] = {
	{ WK_IND_OFF, "0:-" },
	{ WK_IND_ALLOW, "0:GB 100:G 2000:-" },
	{ WK_IND_DENY, "0:RB 100:R 200:RB 300:R 400:RB 500:R 2000:-" },
	{ WK_IND_RETEST, "0:RB 250:- 500:RB 750:- 1000:R 1250:- 1500:R "
			 "1750:- 2000:R 2250:- 2500:R 2750:-" },
};

static void test_timelines(void **state)
{
	char got[4096];

	(void)state;
	for (size_t i = 0; i < N(tl_cases); i++) {
		timeline(tl_cases[i].ind, got, sizeof(got));
		if (strcmp(got, tl_cases[i].want) != 0)
			fail_msg("indication %u:\n got  %s\n want %s",
				 tl_cases[i].ind, got, tl_cases[i].want);
	}
}

/* ALARM: 34 blinks of red and buzzer, 150 on / 150 off, the last one cut
 * at 10 s; written out by a loop, it is too long for the table. */
static void test_alarm(void **state)
{
	char got[4096], want[4096];
	size_t used = 0;

	(void)state;
	for (int k = 0; k < 34; k++)
		used += (size_t)snprintf(want + used, sizeof(want) - used,
					 "%d:RB %d:- ", k * 300,
					 k == 33 ? 10000 : k * 300 + 150);
	want[used - 1] = '\0';
	timeline(WK_IND_ALARM, got, sizeof(got));
	assert_string_equal(got, want);
}

/* Every ms of every pattern against its own timeline. */
static void test_every_ms(void **state)
{
	static const uint32_t inds[] = { WK_IND_OFF, WK_IND_ALLOW, WK_IND_DENY,
					 WK_IND_RETEST, WK_IND_ALARM };
	static unsigned at[11000];
	static int64_t change[11000];	/* the first change after t */
	int64_t next;

	(void)state;
	for (size_t i = 0; i < N(inds); i++) {
		for (int t = 0; t < 11000; t++)
			at[t] = pat_at(inds[i], t, &next);
		change[10999] = -1;
		for (int t = 10998; t >= 0; t--)
			change[t] = at[t + 1] != at[t] ? t + 1 : change[t + 1];
		for (int t = 0; t < 11000; t++) {
			int64_t want_next = change[t];

			pat_at(inds[i], t, &next);
			if (next != want_next)
				fail_msg("indication %u at %d ms: next %lld, want %lld",
					 inds[i], t, (long long)next,
					 (long long)want_next);
		}
		assert_int_equal(at[10999], 0);
	}
}

struct pt_case {
	uint32_t ind;
	int64_t t;
	unsigned mask;
	int64_t next;
};

static const struct pt_case pt_cases[] = {
	{ WK_IND_ALLOW, 50, PAT_GREEN | PAT_BUZZER, 100 },
	{ WK_IND_ALLOW, 1999, PAT_GREEN, 2000 },
	{ WK_IND_ALLOW, 2000, 0, -1 },
	{ WK_IND_ALLOW, 99999, 0, -1 },
	{ WK_IND_DENY, 250, PAT_RED | PAT_BUZZER, 300 },
	{ WK_IND_DENY, 350, PAT_RED, 400 },
	{ WK_IND_DENY, 450, PAT_RED | PAT_BUZZER, 500 },
	{ WK_IND_RETEST, 600, PAT_RED | PAT_BUZZER, 750 },
	{ WK_IND_RETEST, 1100, PAT_RED, 1250 },
	{ WK_IND_RETEST, 2800, 0, -1 },
	{ WK_IND_ALARM, 9950, PAT_RED | PAT_BUZZER, 10000 },
	{ WK_IND_ALARM, 5000, 0, 5100 },
	{ WK_IND_OFF, 0, 0, -1 },
	{ 99, 0, 0, -1 },		/* unknown: off */
	{ 0xffffffffu, 500, 0, -1 },
};

static void test_points(void **state)
{
	int64_t next;

	(void)state;
	for (size_t i = 0; i < N(pt_cases); i++) {
		unsigned m = pat_at(pt_cases[i].ind, pt_cases[i].t, &next);

		if (m != pt_cases[i].mask || next != pt_cases[i].next)
			fail_msg("indication %u at %lld: %u/%lld, want %u/%lld",
				 pt_cases[i].ind, (long long)pt_cases[i].t, m,
				 (long long)next, pt_cases[i].mask,
				 (long long)pt_cases[i].next);
	}
}

static void test_known_and_length(void **state)
{
	(void)state;
	for (uint32_t i = WK_IND_OFF; i <= WK_IND_ALARM; i++)
		assert_true(pat_known(i));
	assert_false(pat_known(WK_IND_ALARM + 1));
	assert_false(pat_known(0xffffffffu));
	assert_int_equal(pat_length(WK_IND_OFF), 0);
	assert_int_equal(pat_length(WK_IND_ALLOW), 2000);
	assert_int_equal(pat_length(WK_IND_DENY), 2000);
	assert_int_equal(pat_length(WK_IND_RETEST), 2750);
	assert_int_equal(pat_length(WK_IND_ALARM), 10000);
	assert_int_equal(pat_length(42), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timelines),
		cmocka_unit_test(test_alarm),
		cmocka_unit_test(test_every_ms),
		cmocka_unit_test(test_points),
		cmocka_unit_test(test_known_and_length),
	};

	return cmocka_run_group_tests_name("pattern", tests, NULL, NULL);
}
