/*
 * The shipped policy (etc/wicket/rules.json) against its shipped cases
 * (etc/wicket/rules-cases.json), through rules_load, rcase_load and
 * rcase_run: the code `wicketctl rules test` runs, so a case that fails
 * there fails here and `make check` catches it.  Also: every rule of the
 * policy is hit by some case, and each rule decides what docs/rules.md
 * says it does.  Paths are relative to the repository root, where the
 * tests run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"

#ifndef POLICY_FILE
#define POLICY_FILE "etc/wicket/rules.json"
#endif
#ifndef CASES_FILE
#define CASES_FILE "etc/wicket/rules-cases.json"
#endif

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void report_error(void *ctx, const char *where, const char *path,
			const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s: %s: %s\n", where, path, msg);
}

/* the policy, rule by rule, in order */
static const struct {
	const char *id;
	enum rules_decision decision;
	const char *reason;
	enum rules_severity alarm;
} policy[] = {
	{ "emergency-open", RULES_ALLOW, "emergency_open", RULES_SEV_MEDIUM },
	{ "fever-retest", RULES_RETEST, "fever_retest", RULES_SEV_NONE },
	{ "fever", RULES_DENY, "fever", RULES_SEV_HIGH },
	{ "retest-missing", RULES_DENY, "retest_missing", RULES_SEV_NONE },
	{ "sensor-fault", RULES_DENY, "sensor_fault", RULES_SEV_NONE },
	{ "no-temperature", RULES_DENY, "no_temperature", RULES_SEV_NONE },
	{ "low-temperature", RULES_DENY, "low_temperature", RULES_SEV_NONE },
	{ "no-credential", RULES_DENY, "no_credential", RULES_SEV_NONE },
	{ "temperature-only", RULES_ALLOW, "temperature_ok", RULES_SEV_NONE },
	{ "unknown-credential", RULES_DENY, "unknown_credential", RULES_SEV_NONE },
	{ "revoked-credential", RULES_DENY, "revoked_credential", RULES_SEV_NONE },
	{ "expired-credential", RULES_DENY, "expired_credential", RULES_SEV_NONE },
	{ "credential-not-yet-valid", RULES_DENY, "not_yet_valid_credential", RULES_SEV_NONE },
	{ "blocked", RULES_DENY, "blocked", RULES_SEV_LOW },
	{ "quarantine-exit", RULES_DENY, "quarantine_exit", RULES_SEV_HIGH },
	{ "observation-exit", RULES_ALLOW, "observation_exit", RULES_SEV_LOW },
	{ "person-expired", RULES_DENY, "person_expired", RULES_SEV_NONE },
	{ "person-not-yet-valid", RULES_DENY, "person_not_yet_valid", RULES_SEV_NONE },
	{ "visitor-no-host", RULES_DENY, "no_host", RULES_SEV_NONE },
	{ "visitor-hours", RULES_DENY, "outside_hours", RULES_SEV_NONE },
	{ "lockdown-quota", RULES_DENY, "quota_exceeded", RULES_SEV_NONE },
	{ "lockdown-visitors", RULES_DENY, "lockdown", RULES_SEV_NONE },
	{ "residents-only", RULES_DENY, "residents_only", RULES_SEV_NONE },
	{ "courier-in", RULES_DENY, "not_allowed", RULES_SEV_NONE },
	{ "resident", RULES_ALLOW, "resident", RULES_SEV_NONE },
	{ "tenant", RULES_ALLOW, "tenant", RULES_SEV_NONE },
	{ "visitor", RULES_ALLOW, "visitor", RULES_SEV_NONE },
	{ "staff", RULES_ALLOW, "staff", RULES_SEV_NONE },
	{ "courier", RULES_ALLOW, "courier", RULES_SEV_NONE },
	{ "not-allowed", RULES_DENY, "not_allowed", RULES_SEV_NONE },
};

static void check_rule(int i, const struct rules_verdict *v)
{
	assert_true(i >= 0 && (size_t)i < N_OF(policy));
	assert_string_equal(v->rule, policy[i].id);
	assert_int_equal(v->decision, policy[i].decision);
	assert_string_equal(v->reason, policy[i].reason);
	assert_int_equal(v->alarm, policy[i].alarm);
	assert_non_null(v->message);
	assert_true(v->message[0] != '\0');
}

static void test_policy(void **state)
{
	struct rules *r = NULL;
	struct rcase_set *cs = NULL;
	int hits[N_OF(policy)] = { 0 };
	size_t failed = 0;

	(void)state;
	assert_int_equal(rules_load(POLICY_FILE, &r, report_error, NULL), 0);
	assert_int_equal(rules_version(r), 1);
	assert_int_equal(rules_count(r), N_OF(policy));
	assert_int_equal(rules_retest_window_ms(r), 30000);
	assert_int_equal(rules_history_s(r), 48 * 3600);
	assert_int_equal(rcase_load(CASES_FILE, &cs, report_error, NULL), 0);
	assert_true(rcase_count(cs) >= N_OF(policy));
	for (size_t i = 0; i < rcase_count(cs); i++) {
		const struct rcase *c = rcase_get(cs, i);
		struct rules_verdict v;
		int bad = rcase_run(r, c, &v);

		if (bad) {
			fprintf(stderr, "%s:%d:%d: case \"%s\": expected %s/%s, "
				"got %s/%s (%s, alarm %s)\n", CASES_FILE,
				c->line, c->col, c->name,
				rules_decision_name(c->decision), c->rule,
				rules_decision_name(v.decision), v.rule,
				v.reason, rules_severity_name(v.alarm));
			failed++;
		}
		/* no case may end in the default verdict */
		assert_true(v.index >= 0);
		check_rule(v.index, &v);
		hits[v.index]++;
	}
	assert_int_equal(failed, 0);
	/* every rule is hit, but the last: the roles before it cover every
	 * person, so only a role this version does not know reaches it */
	for (size_t i = 0; i + 1 < N_OF(policy); i++)
		if (hits[i] == 0)
			fail_msg("rule %zu \"%s\" has no case in %s", i,
				 policy[i].id, CASES_FILE);
	{
		struct rules_facts f = rcase_get(cs, 0)->facts;
		struct rules_verdict v;

		f.mode = RULES_MODE_NORMAL;
		f.temperature = RULES_TEMP_OK;
		f.temperature_c = 36.5;
		f.credential = RULES_CRED_VALID;
		f.has_person = 1;
		f.role = RULES_ROLES;
		rules_eval(r, &f, &v);
		check_rule((int)N_OF(policy) - 1, &v);
	}
	rcase_free(cs);
	rules_free(r);
}

/* Every combination of the enumerated facts decides by some rule, never
 * by the default, and a confirmed fever is never allowed outside the
 * emergency mode. */
static void test_policy_exhaustive(void **state)
{
	static const double temps[] = { 30, 33.99, 34, 36.6, 37.29, 37.3, 40 };
	struct rules *r = NULL;
	struct rules_facts f;
	struct rules_verdict v;
	long n = 0;

	(void)state;
	assert_int_equal(rules_load(POLICY_FILE, &r, report_error, NULL), 0);
	memset(&f, 0, sizeof(f));
	f.date = 20260105;
	f.wday = 1;
	for (int mode = 0; mode < RULES_MODES; mode++)
	for (int dir = RULES_DIR_IN; dir <= RULES_DIR_OUT; dir++)
	for (int cred = 0; cred < RULES_CREDS; cred++)
	for (int role = 0; role < RULES_ROLES; role++)
	for (int person = 0; person < 3; person++)
	for (int flags = 0; flags < 64; flags++)
	for (int temp = 0; temp < 3 + (int)N_OF(temps); temp++)
	for (int retest = 0; retest < 2; retest++)
	for (int minute = 0; minute < 1440; minute += 359) {
		f.mode = (enum rules_mode)mode;
		f.direction = (enum rules_dir)dir;
		f.credential = (enum rules_cred)cred;
		f.has_person = cred >= RULES_CRED_REVOKED;
		f.role = (enum rules_role)role;
		f.person = (enum rules_validity)person;
		f.has_household = flags & 1;
		f.has_host = !!(flags & 2);
		f.quarantine = !!(flags & 4);
		f.observation = !!(flags & 8);
		f.blocked = !!(flags & 16);
		f.n_exits = (flags & 32) ? 1 : 0;
		f.exit_age_s[0] = 3600;
		f.temperature = temp < 3 ? (enum rules_temp)temp : RULES_TEMP_OK;
		f.temperature_c = temp < 3 ? 0 : temps[temp - 3];
		f.retest = retest;
		f.minute = minute;
		rules_eval(r, &f, &v);
		n++;
		assert_true(v.index >= 0);
		if (mode != RULES_MODE_OPEN && f.temperature == RULES_TEMP_OK &&
		    f.temperature_c >= 37.3)
			assert_int_not_equal(v.decision, RULES_ALLOW);
		if (mode != RULES_MODE_OPEN && f.has_person && f.quarantine &&
		    dir == RULES_DIR_OUT)
			assert_int_not_equal(v.decision, RULES_ALLOW);
		if (mode != RULES_MODE_OPEN && cred != RULES_CRED_VALID &&
		    cred != RULES_CRED_NONE)
			assert_int_not_equal(v.decision, RULES_ALLOW);
	}
	assert_true(n > 1000000);
	rules_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_policy_exhaustive),
	};

	return cmocka_run_group_tests_name("rules_policy", tests, NULL, NULL);
}
