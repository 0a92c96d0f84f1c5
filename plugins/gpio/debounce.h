/*
 * debounce: when a contact's level counts as changed.
 *
 * A door contact, a push button or a relay contact of a fire panel
 * bounces for a few milliseconds when it moves, and a long cable picks up
 * spikes.  The level of an input is taken to have changed only when the
 * new level has held for debounce_ns without another edge; a bounce that
 * returns to the old level before that gives nothing at all.
 *
 * Pure: the caller hands in the raw levels with their times (the kernel's
 * edge stamps, CLOCK_MONOTONIC ns) and the current time; nothing here
 * reads a clock, so the tests are tables of times.  Edges may arrive late
 * and in batches (the worker reads what the line queued): a change that
 * was already stable before the next edge of the batch is still reported,
 * as of that edge.
 */
#ifndef WICKET_DEBOUNCE_H
#define WICKET_DEBOUNCE_H

#include <stdint.h>

struct debounce {
	int64_t debounce_ns;	/* 0: every change counts at once */
	int stable;		/* the level last reported */
	int pending;		/* the raw level, when it differs from stable */
	int changing;		/* pending is waiting to be confirmed */
	int64_t since_ns;	/* when the raw level became pending */
	int64_t last_ns;	/* the latest edge, INT64_MIN before any */
};

/* Start from a known level (read from the line at request). */
void db_init(struct debounce *d, int64_t debounce_ns, int level);
/* The raw level became level at t_ns.  Returns 1 with *out = the new
 * stable level when the change pending before this edge had already held
 * for debounce_ns by t_ns; 0 otherwise.  A t_ns earlier than the previous
 * edge counts as the previous edge's time. */
int db_edge(struct debounce *d, int level, int64_t t_ns, int *out);
/* At now_ns: 1 with *out when the pending change has held long enough. */
int db_poll(struct debounce *d, int64_t now_ns, int *out);
/* When db_poll would confirm the pending change, or INT64_MAX when none
 * is pending. */
int64_t db_deadline(const struct debounce *d);

#endif
