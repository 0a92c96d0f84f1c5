/* rules_decide: the skeleton's decision, exhaustively over its inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"

struct rule_case {
	int reader, thermal, has_cred, known, has_temp;
	double temp;
	enum decision decision;
	const char *reason;
	int alarm;
};

static const struct rule_case cases[] = {
	{ 1, 1, 1, 1, 1, 36.6, DECISION_ALLOW, "known_credential", 0 },
	{ 1, 1, 1, 1, 1, 37.3, DECISION_DENY, "fever", 1 },	/* at the threshold */
	{ 1, 1, 1, 1, 1, 37.29, DECISION_ALLOW, "known_credential", 0 },
	{ 1, 1, 1, 0, 1, 36.6, DECISION_DENY, "unknown_credential", 0 },
	{ 1, 1, 1, 0, 1, 39.0, DECISION_DENY, "fever", 1 },
	{ 1, 1, 0, 0, 1, 38.0, DECISION_DENY, "fever", 1 },
	{ 1, 1, 0, 0, 1, 36.0, DECISION_DENY, "no_credential", 0 },
	{ 1, 1, 1, 1, 0, 0, DECISION_DENY, "no_temperature", 0 },
	{ 0, 1, 0, 0, 1, 36.5, DECISION_ALLOW, "temperature_ok", 0 },
	{ 0, 1, 0, 0, 1, 37.5, DECISION_DENY, "fever", 1 },
	{ 1, 0, 1, 1, 0, 0, DECISION_ALLOW, "known_credential", 0 },
	{ 1, 0, 1, 0, 0, 0, DECISION_DENY, "unknown_credential", 0 },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rule_case *k = &cases[i];
		struct decide_in in = {
			.needs_credential = k->reader,
			.needs_temperature = k->thermal,
			.has_credential = k->has_cred,
			.credential_known = k->known,
			.has_temperature = k->has_temp,
			.temperature_c = k->temp,
			.fever_threshold = 37.3,
		};
		struct decide_out out;

		rules_decide(&in, &out);
		print_message("case %zu: %s\n", i, k->reason);
		assert_int_equal(out.decision, k->decision);
		assert_string_equal(out.reason, k->reason);
		assert_int_equal(out.alarm, k->alarm);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
