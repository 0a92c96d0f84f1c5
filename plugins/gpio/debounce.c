/*
 * debounce: a change of an input counts once its level has held for the
 * debounce time (debounce.h says why and how it is used).
 *
 * The state is the last reported (stable) level and, while the raw level
 * differs from it, the raw level and since when.  Every edge restarts the
 * wait, so a contact that chatters for longer than the debounce time is
 * reported only when it has settled, and once.
 */
#include <stdint.h>

#include "debounce.h"

void db_init(struct debounce *d, int64_t debounce_ns, int level)
{
	d->debounce_ns = debounce_ns > 0 ? debounce_ns : 0;
	d->stable = level != 0;
	d->pending = d->stable;
	d->changing = 0;
	d->since_ns = 0;
	d->last_ns = INT64_MIN;
}

int64_t db_deadline(const struct debounce *d)
{
	if (!d->changing)
		return INT64_MAX;
	if (d->since_ns > INT64_MAX - d->debounce_ns)
		return INT64_MAX;
	return d->since_ns + d->debounce_ns;
}

int db_poll(struct debounce *d, int64_t now_ns, int *out)
{
	if (!d->changing || now_ns < db_deadline(d))
		return 0;
	d->stable = d->pending;
	d->changing = 0;
	*out = d->stable;
	return 1;
}

int db_edge(struct debounce *d, int level, int64_t t_ns, int *out)
{
	int r = 0;

	level = level != 0;
	if (t_ns < d->last_ns)
		t_ns = d->last_ns;
	d->last_ns = t_ns;
	/* the pending level held until this edge: long enough? */
	if (d->changing && t_ns - d->since_ns >= d->debounce_ns) {
		d->stable = d->pending;
		d->changing = 0;
		*out = d->stable;
		r = 1;
	}
	if (level == d->stable) {
		d->changing = 0;	/* it bounced back */
		d->pending = level;
	} else {
		d->pending = level;
		d->changing = 1;
		d->since_ns = t_ns;
	}
	if (d->changing && d->debounce_ns == 0) {
		/* no debounce: the change counts at its edge */
		d->stable = level;
		d->changing = 0;
		*out = level;
		r = 1;
	}
	return r;
}
