/* libFuzzer: the rules parser and the rule-case parser on arbitrary bytes.
 * Must never crash, leak or read out of bounds; when a document parses,
 * evaluating it on a few fixed facts must give a verdict that names a real
 * rule (or the default), and the error count must match what the callback
 * saw. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(void *ctx, const char *where, const char *path,
		  const char *msg)
{
	int *n = ctx;

	if (where == NULL || path == NULL || msg == NULL || path[0] != '$')
		abort();
	(*n)++;
}

static void check_verdict(const struct rules *r, const struct rules_facts *f)
{
	struct rules_verdict v;

	rules_eval(r, f, &v);
	if (v.rule == NULL || v.reason == NULL || v.message == NULL)
		abort();
	if (v.index < -1 || v.index >= (int)rules_count(r))
		abort();
	if (v.index == -1 && strcmp(v.rule, "default") != 0)
		abort();
	if ((int)v.decision < 0 || (int)v.decision > RULES_RETEST ||
	    (int)v.alarm < 0 || (int)v.alarm > RULES_SEV_CRITICAL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct rules *r = NULL;
	struct rcase_set *cs = NULL;
	int n = 0, rc;

	rc = rules_parse(text, size, "fuzz", &r, count, &n);
	if (rc > 0 && (rc != n && !(rc > 100 && n == 101)))
		abort();
	if (rc == 0) {
		struct rules_facts f;

		memset(&f, 0, sizeof(f));
		f.date = 20260105;
		f.wday = 1;
		f.minute = 720;
		f.direction = RULES_DIR_IN;
		check_verdict(r, &f);
		f.credential = RULES_CRED_VALID;
		f.has_person = 1;
		f.has_household = 1;
		f.temperature = RULES_TEMP_OK;
		f.temperature_c = 37.3;
		f.n_exits = 2;
		f.exit_age_s[0] = 3600;
		f.exit_age_s[1] = 172800;
		f.last_direction = RULES_DIR_IN;
		f.last_age_s = 60;
		check_verdict(r, &f);
		f.mode = RULES_MODE_LOCKDOWN;
		f.direction = RULES_DIR_OUT;
		f.role = RULES_ROLE_VISITOR;
		f.retest = 1;
		f.minute = 1439;
		f.wday = 6;
		check_verdict(r, &f);
		if (rules_retest_window_ms(r) < 5000 ||
		    rules_history_s(r) < 0 || rules_count(r) == 0)
			abort();
		/* the same document as cases for itself is almost always
		 * invalid, which exercises the case parser's errors */
	}
	n = 0;
	rc = rcase_parse(text, size, "fuzz", &cs, count, &n);
	if (rc == 0 && r != NULL) {
		for (size_t i = 0; i < rcase_count(cs); i++) {
			struct rules_verdict v;

			rcase_run(r, rcase_get(cs, i), &v);
		}
	}
	rcase_free(cs);
	rules_free(r);
	return 0;
}
