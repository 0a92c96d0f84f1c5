/*
 * door: door forced / door held, as a state machine over the contact's
 * level, the grants and the emergency hold.  See door.h.
 */
#include <string.h>

#include "door.h"

void door_init(struct door *d, int64_t held_ms, int64_t grant_ms)
{
	memset(d, 0, sizeof(*d));
	d->held_ms = held_ms;
	d->grant_ms = grant_ms;
	d->grant_until = -1;
}

void door_grant(struct door *d, int64_t now)
{
	d->grant_until = now + d->grant_ms;
}

void door_hold(struct door *d, int on, int64_t now)
{
	if (d->holding && !on && d->open) {
		/* held open on purpose until now: time it from here */
		d->opened_at = now;
		d->held = 0;
	}
	d->holding = on;
}

enum door_alarm door_input(struct door *d, int open, int initial,
			   int64_t now)
{
	int was_known = d->known;
	int was_held = d->held;

	d->known = 1;
	if (was_known && !initial && open == d->open)
		return DOOR_QUIET;	/* no change: nothing happened */
	d->open = open;
	if (!open) {
		d->held = 0;
		return was_held && !initial ? DOOR_CLOSED_AFTER_HELD :
					      DOOR_QUIET;
	}
	d->opened_at = now;
	d->held = 0;
	if (initial)
		return DOOR_QUIET;	/* how it got open nobody knows */
	if (d->grant_until >= 0 && now <= d->grant_until) {
		d->grant_until = -1;	/* one grant, one opening */
		return DOOR_QUIET;
	}
	d->grant_until = -1;
	return d->holding ? DOOR_QUIET : DOOR_FORCED;
}

int64_t door_deadline(const struct door *d)
{
	if (!d->known || !d->open || d->held || d->holding)
		return -1;
	return d->opened_at + d->held_ms;
}

enum door_alarm door_tick(struct door *d, int64_t now)
{
	int64_t t = door_deadline(d);

	if (t < 0 || now < t)
		return DOOR_QUIET;
	d->held = 1;
	return DOOR_HELD;
}

const char *door_alarm_name(enum door_alarm a)
{
	switch (a) {
	case DOOR_FORCED:
		return "door_forced";
	case DOOR_HELD:
		return "door_held";
	case DOOR_CLOSED_AFTER_HELD:
		return "door_closed";
	case DOOR_QUIET:
		break;
	}
	return "";
}
