/*
 * rules: the skeleton's decision, kept behind one function so that the rule
 * engine can replace it.  Order matters: a fever is reported as a fever
 * (with its alarm) whatever the credential says.
 */
#include "rules.h"

void rules_decide(const struct decide_in *in, struct decide_out *out)
{
	out->decision = DECISION_DENY;
	out->alarm = 0;
	if (in->has_temperature && in->temperature_c >= in->fever_threshold) {
		out->reason = "fever";
		out->alarm = 1;
	} else if (in->needs_temperature && !in->has_temperature) {
		out->reason = "no_temperature";
	} else if (in->needs_credential && !in->has_credential) {
		out->reason = "no_credential";
	} else if (in->needs_credential && !in->credential_known) {
		out->reason = "unknown_credential";
	} else if (in->needs_credential) {
		out->decision = DECISION_ALLOW;
		out->reason = "known_credential";
	} else {
		out->decision = DECISION_ALLOW;
		out->reason = "temperature_ok";
	}
}

const char *rules_decision_name(enum decision d)
{
	return d == DECISION_ALLOW ? "allow" : "deny";
}
