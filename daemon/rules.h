/*
 * rules: decide one passage.  For now the walking skeleton's decision:
 * a fever denies with an alarm, a known credential allows, anything else
 * denies.  The full rule engine replaces rules_decide() and nothing else.
 * Pure: no I/O, no clock, no global state.
 */
#ifndef WICKET_RULES_H
#define WICKET_RULES_H

enum decision { DECISION_DENY = 0, DECISION_ALLOW = 1 };

struct decide_in {
	int needs_credential;	/* the lane has a reader */
	int needs_temperature;	/* the lane has a thermal sensor */
	int has_credential;
	int credential_known;
	int has_temperature;
	double temperature_c;
	double fever_threshold;
};

struct decide_out {
	enum decision decision;
	const char *reason;	/* a static reason code, see docs/mqtt.md */
	int alarm;
};

void rules_decide(const struct decide_in *in, struct decide_out *out);
const char *rules_decision_name(enum decision d);

#endif
