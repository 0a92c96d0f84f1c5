/*
 * lane: one way through the gate.  Pairs a credential read with the
 * temperature of the same person: whichever comes first waits up to
 * window_ms for the other.  A lane with only a thermal sensor (or only a
 * reader) takes each reading as a whole attempt.
 *
 * Fever re-test: when the decision of an attempt is "retest", the lane
 * keeps that attempt and waits up to retest_ms for a second temperature,
 * which makes a new attempt (retest set, the first reading kept); if none
 * comes, the attempt is closed again with no temperature.  Time comes in as
 * arguments, so the lane is tested without a clock.
 */
#ifndef WICKET_LANE_H
#define WICKET_LANE_H

#include <stdint.h>

#include <wicket/plugin.h>

/* One person's attempt, ready for a decision. */
struct attempt {
	int64_t time_ms;	/* wall clock of the last input */
	int has_credential;
	char credential[WK_CREDENTIAL_MAX];
	/* what credential is: LANE_CRED_PLAIN, the text a reader sent; else
	 * the core's own name for a code it checked itself (a QR pass, a
	 * code too long to be a card), with credential_ref its note of it */
	int credential_class;
	uint64_t credential_ref;
	int has_temperature;
	double temperature_c;
	int retest;		/* the second reading of a re-test (or its
				 * absence: has_temperature 0) */
	double first_temperature_c;	/* with retest: the first reading */
	int final;		/* no re-test can follow (shutdown, reload,
				 * no thermal sensor): decide for good */
};

struct lane;
/* Decide an attempt; return LANE_RETEST to ask for a second reading. */
enum lane_verdict { LANE_DONE = 0, LANE_RETEST };
typedef enum lane_verdict (*lane_attempt_fn)(struct lane *lane,
					     const struct attempt *a,
					     void *arg);

enum lane_state { LANE_IDLE = 0, LANE_PAIRING, LANE_RETESTING };

struct lane {
	int index;
	int has_reader, has_thermal;
	int64_t window_ms;
	int64_t retest_ms;
	lane_attempt_fn fn;
	void *arg;
	enum lane_state state;
	int64_t since;		/* monotonic, when the wait began */
	struct attempt a;	/* the input(s) waiting */
};

void lane_init(struct lane *l, int index, int has_reader, int has_thermal,
	       int64_t window_ms, int64_t retest_ms, lane_attempt_fn fn,
	       void *arg);
enum { LANE_CRED_PLAIN = 0, LANE_CRED_PASS, LANE_CRED_OPAQUE };
void lane_credential(struct lane *l, int64_t mono, int64_t wall,
		     const char *credential);
/* The same with its class and the caller's reference (see attempt). */
void lane_credential_as(struct lane *l, int64_t mono, int64_t wall,
			const char *credential, int cls, uint64_t ref);
void lane_temperature(struct lane *l, int64_t mono, int64_t wall, double t);
/* Monotonic time at which lane_expire() has work, or -1. */
int64_t lane_deadline(const struct lane *l);
/* Close a wait whose time is up. */
void lane_expire(struct lane *l, int64_t mono, int64_t wall);
/* Close a waiting attempt now (shutdown, reload): a pairing is decided as
 * it is, a re-test as missing its second reading.  No new wait starts. */
void lane_flush(struct lane *l, int64_t wall);

#endif
