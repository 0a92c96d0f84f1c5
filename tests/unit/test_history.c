/* history: passback and quota facts from recorded passages, pruning, and
 * growth past the first table size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "history.h"

#define H (3600 * 1000LL)

static void test_passback_facts(void **state)
{
	struct history *h;
	struct rules_facts f;

	(void)state;
	assert_int_equal(hist_new(&h), 0);
	memset(&f, 0, sizeof(f));
	hist_facts(h, 7, 0, 10 * H, &f);
	assert_int_equal(f.last_direction, RULES_DIR_NONE);
	hist_record(h, 7, 3, RULES_DIR_IN, 1 * H);
	hist_record(h, 7, 3, RULES_DIR_OUT, 2 * H);
	hist_record(h, 7, 3, RULES_DIR_IN, 1 * H + 5);	/* late: older */
	hist_facts(h, 7, 3, 5 * H, &f);
	assert_int_equal(f.last_direction, RULES_DIR_OUT);
	assert_int_equal(f.last_age_s, 3 * 3600);
	hist_record(h, 0, 0, RULES_DIR_OUT, 3 * H);	/* nobody: ignored */
	hist_facts(h, 0, 0, 5 * H, &f);
	assert_int_equal(f.last_direction, RULES_DIR_NONE);
	assert_int_equal(f.n_exits, 0);
	/* a household's pass: no person, the household's exit counts */
	hist_record(h, 0, 3, RULES_DIR_OUT, 3 * H);
	hist_facts(h, 0, 3, 5 * H, &f);
	assert_int_equal(f.last_direction, RULES_DIR_NONE);
	assert_int_equal(f.n_exits, 2);
	assert_int_equal(f.exit_age_s[0], 2 * 3600);
	hist_free(h);
}

static void test_quota_facts(void **state)
{
	struct history *h;
	struct rules_facts f;

	(void)state;
	assert_int_equal(hist_new(&h), 0);
	/* two persons of household 3 go out; entries out of order */
	hist_record(h, 1, 3, RULES_DIR_OUT, 30 * H);
	hist_record(h, 2, 3, RULES_DIR_OUT, 10 * H);
	hist_record(h, 2, 3, RULES_DIR_IN, 11 * H);	/* not an exit */
	hist_record(h, 1, 4, RULES_DIR_OUT, 20 * H);	/* another household */
	hist_facts(h, 9, 3, 40 * H, &f);
	assert_int_equal(f.n_exits, 2);
	assert_int_equal(f.exit_age_s[0], 10 * 3600);	/* ascending ages */
	assert_int_equal(f.exit_age_s[1], 30 * 3600);
	hist_prune(h, 15 * H);
	hist_facts(h, 9, 3, 40 * H, &f);
	assert_int_equal(f.n_exits, 1);
	assert_int_equal(f.exit_age_s[0], 10 * 3600);
	hist_facts(h, 2, 0, 40 * H, &f);	/* person 2's last was 11 h: gone */
	assert_int_equal(f.last_direction, RULES_DIR_NONE);
	hist_facts(h, 1, 0, 40 * H, &f);
	assert_int_equal(f.last_direction, RULES_DIR_OUT);
	hist_free(h);
}

static void test_exit_cap_and_growth(void **state)
{
	struct history *h;
	struct rules_facts f;

	(void)state;
	assert_int_equal(hist_new(&h), 0);
	for (int i = 0; i < RULES_MAX_EXITS + 10; i++)
		hist_record(h, 1, 5, RULES_DIR_OUT, (int64_t)(i + 1) * 1000);
	hist_facts(h, 1, 5, 1000 * 1000, &f);
	assert_int_equal(f.n_exits, RULES_MAX_EXITS);
	/* the newest are kept */
	assert_int_equal(f.exit_age_s[0], 1000 - (RULES_MAX_EXITS + 10));
	for (int64_t p = 1; p <= 5000; p++)
		hist_record(h, 100 + p, 100 + p, RULES_DIR_OUT, p * 1000);
	assert_int_equal(hist_persons(h), 5001);
	assert_int_equal(hist_households(h), 5001);
	for (int64_t p = 1; p <= 5000; p += 499) {
		hist_facts(h, 100 + p, 100 + p, 6000 * 1000, &f);
		assert_int_equal(f.last_direction, RULES_DIR_OUT);
		assert_int_equal(f.last_age_s, 6000 - p);
		assert_int_equal(f.n_exits, 1);
	}
	hist_prune(h, 2500 * 1000);
	assert_int_equal(hist_persons(h), 2501);
	assert_int_equal(hist_households(h), 2501);
	hist_facts(h, 4100, 4100, 6000 * 1000, &f);
	assert_int_equal(f.n_exits, 1);
	hist_facts(h, 1100, 1100, 6000 * 1000, &f);
	assert_int_equal(f.n_exits, 0);
	assert_int_equal(f.last_direction, RULES_DIR_NONE);
	hist_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passback_facts),
		cmocka_unit_test(test_quota_facts),
		cmocka_unit_test(test_exit_cap_and_growth),
	};

	return cmocka_run_group_tests_name("history", tests, NULL, NULL);
}
