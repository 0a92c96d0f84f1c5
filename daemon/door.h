/*
 * door: supervision of one door contact (issue 6).  A door may open only
 * after something granted it: a passage allowed at a lane of that door, the
 * exit button, the override key, an operator's or a remote open.  Opening
 * without a grant is "door forced"; staying open longer than held_ms is
 * "door held", raised once per opening.  While the door is held open on
 * purpose (the fire alarm's emergency open) neither is raised.
 *
 * One grant lets the door open once: it ends when the door opens, or
 * grant_ms after it was given.  The level found at start (or when the
 * contact comes back) is taken as it is: an open door then is not forced,
 * since nobody knows how it got open, but it is timed for door held.
 *
 * Pure: times come in as arguments (CLOCK_MONOTONIC ms), so the unit test
 * runs without a clock.  The core keeps one per device that is some lane's
 * door.
 */
#ifndef WICKET_DOOR_H
#define WICKET_DOOR_H

#include <stdint.h>

enum door_alarm {
	DOOR_QUIET = 0,		/* nothing to report */
	DOOR_FORCED,		/* opened without a grant */
	DOOR_HELD,		/* open longer than held_ms */
	DOOR_CLOSED_AFTER_HELD,	/* closed again after DOOR_HELD */
};

struct door {
	int64_t held_ms, grant_ms;
	int known;		/* the contact has reported its level */
	int open;
	int64_t opened_at;	/* when it opened, or when holding ended */
	int64_t grant_until;	/* a grant runs until then; -1: none */
	int held;		/* DOOR_HELD raised for this opening */
	int holding;		/* held open on purpose: no alarms */
};

void door_init(struct door *d, int64_t held_ms, int64_t grant_ms);
/* Something allowed the door to open now. */
void door_grant(struct door *d, int64_t now);
/* The door is held open on purpose (1) or not any more (0).  An open
 * door is timed afresh from the end of the hold. */
void door_hold(struct door *d, int on, int64_t now);
/* The contact says open (1) or closed (0); initial: the level found at
 * start, not a change.  Returns what to report. */
enum door_alarm door_input(struct door *d, int open, int initial,
			   int64_t now);
/* When door_tick() has work, or -1. */
int64_t door_deadline(const struct door *d);
/* DOOR_HELD once the door has been open held_ms, else DOOR_QUIET. */
enum door_alarm door_tick(struct door *d, int64_t now);
/* "door_forced", "door_held", "door_closed"; "" for DOOR_QUIET. */
const char *door_alarm_name(enum door_alarm a);

#endif
