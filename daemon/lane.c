/*
 * lane: the pairing window and the re-test wait.  States: idle; pairing
 * (a credential or a temperature waits for its partner); retesting (a
 * decided attempt waits for a second temperature).  A second input of the
 * same kind while pairing closes the first attempt on its own (two cards
 * in a row are two people) and starts a new wait, so no reading is ever
 * dropped silently.  While retesting, the same credential again is the
 * same person and changes nothing; another credential means the person
 * left: the re-test closes as missing and the new card starts afresh.
 */
#include <stdio.h>
#include <string.h>

#include "lane.h"

void lane_init(struct lane *l, int index, int has_reader, int has_thermal,
	       int64_t window_ms, int64_t retest_ms, lane_attempt_fn fn,
	       void *arg)
{
	memset(l, 0, sizeof(*l));
	l->index = index;
	l->has_reader = has_reader;
	l->has_thermal = has_thermal;
	l->window_ms = window_ms;
	l->retest_ms = retest_ms;
	l->fn = fn;
	l->arg = arg;
}

/* Decide l->a; wait for a second reading when asked, if it can come. */
static void close_attempt(struct lane *l, int64_t mono, int may_retest)
{
	struct attempt a = l->a;
	enum lane_verdict v;

	l->state = LANE_IDLE;
	memset(&l->a, 0, sizeof(l->a));
	a.final = !may_retest || a.retest || !l->has_thermal;
	v = l->fn(l, &a, l->arg);
	if (v != LANE_RETEST || a.final)
		return;
	l->a = a;
	l->a.final = 0;
	l->a.retest = 1;
	l->a.first_temperature_c = a.temperature_c;
	l->a.has_temperature = 0;
	l->a.temperature_c = 0;
	l->state = LANE_RETESTING;
	l->since = mono;
}

void lane_flush(struct lane *l, int64_t wall)
{
	if (l->state == LANE_RETESTING)
		l->a.time_ms = wall;
	if (l->state != LANE_IDLE)
		close_attempt(l, 0, 0);
}

int64_t lane_deadline(const struct lane *l)
{
	switch (l->state) {
	case LANE_PAIRING:
		return l->since + l->window_ms;
	case LANE_RETESTING:
		return l->since + l->retest_ms;
	default:
		return -1;
	}
}

void lane_expire(struct lane *l, int64_t mono, int64_t wall)
{
	int64_t d = lane_deadline(l);

	if (d < 0 || mono < d)
		return;
	if (l->state == LANE_RETESTING)
		l->a.time_ms = wall;	/* decided now, as missing */
	close_attempt(l, mono, 1);
}

static int wants_partner(const struct lane *l)
{
	return l->has_reader && l->has_thermal;
}

void lane_credential(struct lane *l, int64_t mono, int64_t wall,
		     const char *credential)
{
	lane_credential_as(l, mono, wall, credential, LANE_CRED_PLAIN, 0);
}

void lane_credential_as(struct lane *l, int64_t mono, int64_t wall,
			const char *credential, int cls, uint64_t ref)
{
	lane_expire(l, mono, wall);
	if (l->state == LANE_RETESTING) {
		if (l->a.has_credential && l->a.credential_class == cls &&
		    strcmp(l->a.credential, credential) == 0)
			return;
		l->a.time_ms = wall;
		close_attempt(l, mono, 0);
	}
	if (l->state == LANE_PAIRING && l->a.has_credential)
		close_attempt(l, mono, 1);
	if (l->state == LANE_RETESTING)	/* the attempt just closed asked */
		close_attempt(l, mono, 0);
	l->a.has_credential = 1;
	snprintf(l->a.credential, sizeof(l->a.credential), "%s", credential);
	l->a.credential_class = cls;
	l->a.credential_ref = ref;
	l->a.time_ms = wall;
	if (!wants_partner(l) || l->a.has_temperature) {
		close_attempt(l, mono, 1);
		return;
	}
	l->state = LANE_PAIRING;
	l->since = mono;
}

void lane_temperature(struct lane *l, int64_t mono, int64_t wall, double t)
{
	lane_expire(l, mono, wall);
	if (l->state == LANE_PAIRING && l->a.has_temperature)
		close_attempt(l, mono, 1);
	if (l->state == LANE_RETESTING) {
		/* the second reading of a re-test (also when the reading
		 * that closed the pairing just now asked for one) */
		l->a.has_temperature = 1;
		l->a.temperature_c = t;
		l->a.time_ms = wall;
		close_attempt(l, mono, 0);
		return;
	}
	l->a.has_temperature = 1;
	l->a.temperature_c = t;
	l->a.time_ms = wall;
	if (!wants_partner(l) || l->a.has_credential) {
		close_attempt(l, mono, 1);
		return;
	}
	l->state = LANE_PAIRING;
	l->since = mono;
}
