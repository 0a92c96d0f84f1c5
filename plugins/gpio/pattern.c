/*
 * pattern: the indicator patterns as tables of pulse trains.
 *
 * A train switches one output on for on_ms every on_ms + off_ms, from
 * start_ms until until_ms (a pulse that would run past until_ms is cut
 * there); a steady light is one pulse.  The state at any time and the next
 * change follow from the table by arithmetic, so the plugin never keeps a
 * step counter that could drift: after a late timer it shows what the
 * pattern shows at that time.
 */
#include <stddef.h>
#include <stdint.h>

#include <wicket/plugin.h>

#include "pattern.h"

struct train {
	unsigned out;		/* PAT_* */
	int64_t start_ms, on_ms, off_ms, until_ms;
};

#define TRAINS_MAX 3

struct pattern {
	uint32_t ind;
	size_t n;
	struct train t[TRAINS_MAX];
};

static const struct pattern patterns[] = {
	{ WK_IND_OFF, 0, { { 0, 0, 0, 0, 0 } } },
	{ WK_IND_ALLOW, 2, {
		{ PAT_GREEN, 0, 2000, 0, 2000 },
		{ PAT_BUZZER, 0, 100, 0, 100 },
	} },
	{ WK_IND_DENY, 2, {
		{ PAT_RED, 0, 2000, 0, 2000 },
		{ PAT_BUZZER, 0, 100, 100, 500 },
	} },
	{ WK_IND_RETEST, 2, {
		{ PAT_RED, 0, 250, 250, 3000 },
		{ PAT_BUZZER, 0, 250, 250, 750 },
	} },
	{ WK_IND_ALARM, 2, {
		{ PAT_RED, 0, 150, 150, 10000 },
		{ PAT_BUZZER, 0, 150, 150, 10000 },
	} },
};

static const struct pattern *find(uint32_t ind)
{
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (patterns[i].ind == ind)
			return &patterns[i];
	return NULL;
}

int pat_known(uint32_t ind)
{
	return find(ind) != NULL;
}

/* One train at t: on or off, and its next change after t (-1: none). */
static int train_at(const struct train *tr, int64_t t, int64_t *next)
{
	int64_t period = tr->on_ms + tr->off_ms, k, pulse, end;

	if (t < tr->start_ms) {
		*next = tr->start_ms < tr->until_ms ? tr->start_ms : -1;
		return 0;
	}
	if (t >= tr->until_ms) {
		*next = -1;
		return 0;
	}
	k = (t - tr->start_ms) / period;
	pulse = tr->start_ms + k * period;
	end = pulse + tr->on_ms < tr->until_ms ? pulse + tr->on_ms
					       : tr->until_ms;
	if (t < end) {
		*next = end;
		return 1;
	}
	*next = pulse + period < tr->until_ms ? pulse + period : -1;
	return 0;
}

unsigned pat_at(uint32_t ind, int64_t t_ms, int64_t *next_ms)
{
	const struct pattern *p = find(ind);
	unsigned mask = 0;
	int64_t next = -1, n;

	for (size_t i = 0; p != NULL && i < p->n; i++) {
		if (train_at(&p->t[i], t_ms, &n))
			mask |= p->t[i].out;
		if (n >= 0 && (next < 0 || n < next))
			next = n;
	}
	*next_ms = next;
	return mask;
}

int64_t pat_length(uint32_t ind)
{
	const struct pattern *p = find(ind);
	int64_t len = 0;

	for (size_t i = 0; p != NULL && i < p->n; i++) {
		const struct train *tr = &p->t[i];
		int64_t period = tr->on_ms + tr->off_ms, last, end;

		if (tr->until_ms <= tr->start_ms)
			continue;
		last = tr->start_ms +
		       (tr->until_ms - 1 - tr->start_ms) / period * period;
		end = last + tr->on_ms < tr->until_ms ? last + tr->on_ms
						      : tr->until_ms;
		if (end > len)
			len = end;
	}
	return len;
}
