/*
 * lane: the pairing window.  States: idle, or waiting with a credential or
 * with a temperature.  A second input of the same kind while waiting closes
 * the first attempt on its own (two cards in a row are two people) and
 * starts a new wait, so no reading is ever dropped silently.
 */
#include <stdio.h>
#include <string.h>

#include "lane.h"

void lane_init(struct lane *l, int index, int has_reader, int has_thermal,
	       int64_t window_ms, lane_attempt_fn fn, void *arg)
{
	memset(l, 0, sizeof(*l));
	l->index = index;
	l->has_reader = has_reader;
	l->has_thermal = has_thermal;
	l->window_ms = window_ms;
	l->fn = fn;
	l->arg = arg;
}

static void close_attempt(struct lane *l)
{
	struct attempt a = l->a;

	l->pending = 0;
	memset(&l->a, 0, sizeof(l->a));
	l->fn(l, &a, l->arg);
}

void lane_flush(struct lane *l)
{
	if (l->pending)
		close_attempt(l);
}

void lane_expire(struct lane *l, int64_t mono)
{
	if (l->pending && mono - l->pending_since >= l->window_ms)
		close_attempt(l);
}

int64_t lane_deadline(const struct lane *l)
{
	return l->pending ? l->pending_since + l->window_ms : -1;
}

static int wants_partner(const struct lane *l)
{
	return l->has_reader && l->has_thermal;
}

void lane_credential(struct lane *l, int64_t mono, int64_t wall,
		     const char *credential)
{
	lane_expire(l, mono);
	if (l->pending && l->a.has_credential)
		close_attempt(l);
	l->a.has_credential = 1;
	snprintf(l->a.credential, sizeof(l->a.credential), "%s", credential);
	l->a.time_ms = wall;
	if (!wants_partner(l) || l->a.has_temperature) {
		close_attempt(l);
		return;
	}
	l->pending = 1;
	l->pending_since = mono;
}

void lane_temperature(struct lane *l, int64_t mono, int64_t wall, double t)
{
	lane_expire(l, mono);
	if (l->pending && l->a.has_temperature)
		close_attempt(l);
	l->a.has_temperature = 1;
	l->a.temperature_c = t;
	l->a.time_ms = wall;
	if (!wants_partner(l) || l->a.has_credential) {
		close_attempt(l);
		return;
	}
	l->pending = 1;
	l->pending_since = mono;
}
