/*
 * rules: the entry rules.  A rules document (JSON, see docs/rules.md) is an
 * ordered list of rules; the first whose conditions all hold decides.
 * rules_parse() validates everything (unknown fields, types, values, reason
 * codes, unreachable rules) and reports each error with the JSON path and
 * line:column; a document with any error yields nothing, so the caller
 * keeps the rules in force.
 *
 * rules_eval() is a pure function of the compiled rules and the facts of
 * one attempt: no I/O, no clock, no global state.  The caller (core, or
 * wicketctl rules test) gathers the facts: credential and person state from
 * the registry, temperature from the lane, the household's recent exits and
 * the person's last direction from the passage history, local time, mode.
 */
#ifndef WICKET_RULES_H
#define WICKET_RULES_H

#include <stddef.h>
#include <stdint.h>

#define RULES_MAX_EXITS 64	/* household exits the facts carry at most */

enum rules_decision { RULES_DENY = 0, RULES_ALLOW, RULES_RETEST };
enum rules_severity { RULES_SEV_NONE = 0, RULES_SEV_LOW, RULES_SEV_MEDIUM,
		      RULES_SEV_HIGH, RULES_SEV_CRITICAL };
enum rules_mode { RULES_MODE_NORMAL = 0, RULES_MODE_RESIDENTS_ONLY,
		  RULES_MODE_LOCKDOWN, RULES_MODE_OPEN, RULES_MODES };
enum rules_dir { RULES_DIR_NONE = 0, RULES_DIR_IN, RULES_DIR_OUT };
/* the credential presented.  NONE: the lane has no reader; MISSING: it
 * has one and no credential came within the pairing window */
enum rules_cred { RULES_CRED_NONE = 0, RULES_CRED_MISSING,
		  RULES_CRED_UNKNOWN, RULES_CRED_REVOKED,
		  RULES_CRED_EXPIRED, RULES_CRED_NOT_YET_VALID,
		  RULES_CRED_VALID, RULES_CREDS };
enum rules_role { RULES_ROLE_RESIDENT = 0, RULES_ROLE_TENANT,
		  RULES_ROLE_VISITOR, RULES_ROLE_STAFF, RULES_ROLE_COURIER,
		  RULES_ROLES };
/* the person's own validity window (tenants and visitors expire) */
enum rules_validity { RULES_VALID = 0, RULES_EXPIRED, RULES_NOT_YET_VALID };
/* NONE: the lane has no thermal sensor; MISSING: it has one and no
 * reading came; FAULT: the sensor is in fault; OK: temperature_c holds */
enum rules_temp { RULES_TEMP_NONE = 0, RULES_TEMP_MISSING, RULES_TEMP_FAULT,
		  RULES_TEMP_OK };

struct rules_facts {
	/* local time of the attempt */
	int wday;		/* 0 = Sunday .. 6 = Saturday */
	int minute;		/* minutes since local midnight, 0..1439 */
	int date;		/* local date as YYYYMMDD */
	enum rules_mode mode;
	enum rules_dir direction;	/* IN or OUT */
	enum rules_cred credential;
	/* the person behind the credential: when credential is REVOKED,
	 * EXPIRED, NOT_YET_VALID or VALID */
	int has_person;
	enum rules_role role;
	enum rules_validity person;
	int has_household;	/* belongs to a household */
	int has_host;		/* a visitor's host household is set */
	int quarantine;		/* home quarantine in force now */
	int observation;	/* under observation now */
	int blocked;
	enum rules_temp temperature;
	double temperature_c;
	int retest;		/* this is the second reading of a re-test */
	/* anti-passback: the person's last allowed passage, if any */
	enum rules_dir last_direction;	/* NONE: no passage known */
	int64_t last_age_s;		/* seconds since it */
	/* quota: the household's allowed exits, ages in seconds before now,
	 * ascending, at most RULES_MAX_EXITS */
	size_t n_exits;
	int64_t exit_age_s[RULES_MAX_EXITS];
};

struct rules_verdict {
	enum rules_decision decision;
	enum rules_severity alarm;	/* NONE: no alarm */
	int index;		/* of the rule that matched, -1: none matched */
	const char *rule;	/* its id, or "default" */
	const char *reason;	/* its reason code, or "no_rule" */
	const char *message;	/* its human message */
};

struct rules;

/* where: "FILE:LINE:COL" (or "FILE" when there is no position), path: the
 * JSON path ("$.rules[2].when.role", "$" for the document) */
typedef void (*rules_error_fn)(void *ctx, const char *where, const char *path,
			       const char *msg);

/* Parse and validate.  name is used in where ("rules.json").  Returns 0
 * with *out set, the number of errors (> 0) after reporting each, or
 * -ENOMEM. */
int rules_parse(const char *text, size_t len, const char *name,
		struct rules **out, rules_error_fn err, void *ctx);
/* The same from a file; a file that cannot be read is one error. */
int rules_load(const char *path, struct rules **out, rules_error_fn err,
	       void *ctx);
void rules_free(struct rules *r);

void rules_eval(const struct rules *r, const struct rules_facts *f,
		struct rules_verdict *out);

int64_t rules_version(const struct rules *r);	/* the document's "version" */
int64_t rules_retest_window_ms(const struct rules *r);
/* The longest look-back any quota or passback condition needs, in seconds
 * (0: none), so that the history keeps just enough. */
int64_t rules_history_s(const struct rules *r);
size_t rules_count(const struct rules *r);

const char *rules_decision_name(enum rules_decision d);	/* "allow" ... */
const char *rules_severity_name(enum rules_severity s);	/* "high" ... */
const char *rules_mode_name(enum rules_mode m);	/* "residents-only" ... */
/* -1 when the name is unknown */
int rules_mode_parse(const char *name);
const char *rules_role_name(enum rules_role r);
int rules_role_parse(const char *name);
const char *rules_cred_name(enum rules_cred c);	/* "not_yet_valid" ... */
/* The reason codes rules may use (docs/rules.md lists them), NULL-ended. */
extern const char *const rules_reasons[];

/* --- additions (issue 3): files, dates, test cases ------------------------ */

#define RULES_FILE_MAX (1 << 20)	/* rules and case files, bytes */

/* "YYYY-MM-DD", a real calendar date from 1970: 0 with *date = YYYYMMDD
 * and *wday (0 = Sunday), either may be NULL; or -EINVAL. */
int rules_date_parse(const char *s, int *date, int *wday);

/* Test cases for a rules document (docs/rules.md, "Testing rules"): the
 * facts of one attempt in readable form and the verdict expected.
 * wicketctl rules test and the unit tests run them through these, so a
 * case passes or fails the same way in both. */
struct rcase {
	char *name;
	int line, col;		/* of the case's object */
	struct rules_facts facts;
	enum rules_decision decision;
	char rule[64];		/* the rule id expected, or "default" */
	const char *reason;	/* NULL: not checked */
	int alarm;		/* enum rules_severity, -1: not checked */
};

struct rcase_set;

/* Like rules_parse()/rules_load(), for a cases file. */
int rcase_parse(const char *text, size_t len, const char *name,
		struct rcase_set **out, rules_error_fn err, void *ctx);
int rcase_load(const char *path, struct rcase_set **out, rules_error_fn err,
	       void *ctx);
void rcase_free(struct rcase_set *s);
size_t rcase_count(const struct rcase_set *s);
const struct rcase *rcase_get(const struct rcase_set *s, size_t i);

/* What rcase_run() found different from the expectation. */
#define RCASE_DECISION 1
#define RCASE_RULE 2
#define RCASE_REASON 4
#define RCASE_ALARM 8
/* Evaluate one case: fills got, returns 0 when it matched every
 * expectation, else the RCASE_* bits of what did not. */
int rcase_run(const struct rules *r, const struct rcase *c,
	      struct rules_verdict *got);

#endif
