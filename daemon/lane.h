/*
 * lane: one way through the gate.  Pairs a credential read with the
 * temperature of the same person: whichever comes first waits up to
 * window_ms for the other.  A lane with only a thermal sensor (or only a
 * reader) takes each reading as a whole attempt.  Time comes in as
 * arguments, so the pairing is tested without a clock.
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
	int has_temperature;
	double temperature_c;
};

struct lane;
typedef void (*lane_attempt_fn)(struct lane *lane, const struct attempt *a,
				void *arg);

struct lane {
	int index;
	int has_reader, has_thermal;
	int64_t window_ms;
	lane_attempt_fn fn;
	void *arg;
	/* the input waiting for its partner */
	int pending;		/* 0, or 1 when cred or temp is waiting */
	int64_t pending_since;	/* monotonic */
	struct attempt a;
};

void lane_init(struct lane *l, int index, int has_reader, int has_thermal,
	       int64_t window_ms, lane_attempt_fn fn, void *arg);
void lane_credential(struct lane *l, int64_t mono, int64_t wall,
		     const char *credential);
void lane_temperature(struct lane *l, int64_t mono, int64_t wall, double t);
/* Monotonic time at which lane_expire() has work, or -1. */
int64_t lane_deadline(const struct lane *l);
/* Close an attempt whose partner did not come within the window. */
void lane_expire(struct lane *l, int64_t mono);
/* Close a waiting attempt now (shutdown, reload). */
void lane_flush(struct lane *l);

#endif
