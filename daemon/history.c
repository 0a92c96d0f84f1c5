/*
 * history: two open-addressing hash tables keyed by a positive int64 (pid,
 * hid), grown by doubling at 3/4 load and rebuilt without tombstones when
 * pruned.  A household keeps its newest RULES_MAX_EXITS exits, sorted by
 * time, which is all a quota condition can count; entries may come in any
 * order (the ledger fills in older ones when a rule looks further back).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"

struct hperson {
	int64_t pid;		/* 0: empty slot */
	int64_t time_ms;
	enum rules_dir dir;
};

struct hhouse {
	int64_t hid;
	int64_t exits[RULES_MAX_EXITS];	/* ascending */
	unsigned n;
};

struct history {
	struct hperson *p;
	size_t p_cap, p_len;
	struct hhouse *h;
	size_t h_cap, h_len;
};

static size_t slot(int64_t key, size_t cap)
{
	uint64_t x = (uint64_t)key * 0x9E3779B97F4A7C15ull;

	return (size_t)(x >> 17) & (cap - 1);
}

int hist_new(struct history **out)
{
	struct history *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return -ENOMEM;
	*out = h;
	return 0;
}

void hist_free(struct history *h)
{
	if (h == NULL)
		return;
	free(h->p);
	free(h->h);
	free(h);
}

static struct hperson *person_find(const struct history *h, int64_t pid)
{
	if (h->p_cap == 0)
		return NULL;
	for (size_t i = slot(pid, h->p_cap);; i = (i + 1) & (h->p_cap - 1)) {
		if (h->p[i].pid == pid)
			return &h->p[i];
		if (h->p[i].pid == 0)
			return NULL;
	}
}

static struct hhouse *house_find(const struct history *h, int64_t hid)
{
	if (h->h_cap == 0)
		return NULL;
	for (size_t i = slot(hid, h->h_cap);; i = (i + 1) & (h->h_cap - 1)) {
		if (h->h[i].hid == hid)
			return &h->h[i];
		if (h->h[i].hid == 0)
			return NULL;
	}
}

/* Move the live entries of a table into one of cap slots. */
static int person_rehash(struct history *h, size_t cap)
{
	struct hperson *np = calloc(cap, sizeof(*np));

	if (np == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < h->p_cap; i++) {
		size_t j;

		if (h->p[i].pid == 0)
			continue;
		for (j = slot(h->p[i].pid, cap); np[j].pid; j = (j + 1) & (cap - 1))
			;
		np[j] = h->p[i];
	}
	free(h->p);
	h->p = np;
	h->p_cap = cap;
	return 0;
}

static int house_rehash(struct history *h, size_t cap)
{
	struct hhouse *nh = calloc(cap, sizeof(*nh));

	if (nh == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < h->h_cap; i++) {
		size_t j;

		if (h->h[i].hid == 0)
			continue;
		for (j = slot(h->h[i].hid, cap); nh[j].hid; j = (j + 1) & (cap - 1))
			;
		nh[j] = h->h[i];
	}
	free(h->h);
	h->h = nh;
	h->h_cap = cap;
	return 0;
}

static struct hperson *person_add(struct history *h, int64_t pid)
{
	struct hperson *e = person_find(h, pid);
	size_t i;

	if (e)
		return e;
	if ((h->p_len + 1) * 4 > h->p_cap * 3 &&
	    person_rehash(h, h->p_cap ? h->p_cap * 2 : 64) < 0)
		return NULL;
	for (i = slot(pid, h->p_cap); h->p[i].pid; i = (i + 1) & (h->p_cap - 1))
		;
	h->p[i].pid = pid;
	h->p_len++;
	return &h->p[i];
}

static struct hhouse *house_add(struct history *h, int64_t hid)
{
	struct hhouse *e = house_find(h, hid);
	size_t i;

	if (e)
		return e;
	if ((h->h_len + 1) * 4 > h->h_cap * 3 &&
	    house_rehash(h, h->h_cap ? h->h_cap * 2 : 16) < 0)
		return NULL;
	for (i = slot(hid, h->h_cap); h->h[i].hid; i = (i + 1) & (h->h_cap - 1))
		;
	h->h[i].hid = hid;
	h->h_len++;
	return &h->h[i];
}

void hist_record(struct history *h, int64_t pid, int64_t hid,
		 enum rules_dir dir, int64_t time_ms)
{
	struct hperson *p;
	struct hhouse *hh;

	if ((pid <= 0 && hid <= 0) ||
	    (dir != RULES_DIR_IN && dir != RULES_DIR_OUT))
		return;
	/* out of memory: the passage is still decided and recorded; only
	 * its history is missing, which favours the person.  No person (a
	 * household's QR pass): only the household's exit counts. */
	p = pid > 0 ? person_add(h, pid) : NULL;
	if (p && time_ms >= p->time_ms) {
		p->time_ms = time_ms;
		p->dir = dir;
	}
	if (hid <= 0 || dir != RULES_DIR_OUT)
		return;
	hh = house_add(h, hid);
	if (hh == NULL)
		return;
	if (hh->n == RULES_MAX_EXITS) {
		if (time_ms <= hh->exits[0])
			return;		/* older than all it keeps */
		memmove(hh->exits, hh->exits + 1, --hh->n * sizeof(hh->exits[0]));
	}
	{
		unsigned k = hh->n;

		while (k > 0 && hh->exits[k - 1] > time_ms) {
			hh->exits[k] = hh->exits[k - 1];
			k--;
		}
		hh->exits[k] = time_ms;
		hh->n++;
	}
}

void hist_facts(const struct history *h, int64_t pid, int64_t hid,
		int64_t now_ms, struct rules_facts *f)
{
	const struct hperson *p = pid > 0 ? person_find(h, pid) : NULL;
	const struct hhouse *hh = hid > 0 ? house_find(h, hid) : NULL;

	f->last_direction = RULES_DIR_NONE;
	f->last_age_s = 0;
	f->n_exits = 0;
	if (p) {
		f->last_direction = p->dir;
		f->last_age_s = now_ms > p->time_ms ? (now_ms - p->time_ms) / 1000 : 0;
	}
	if (hh == NULL)
		return;
	/* newest first gives ascending ages */
	for (unsigned k = hh->n; k-- > 0;) {
		int64_t t = hh->exits[k];

		f->exit_age_s[f->n_exits++] = now_ms > t ? (now_ms - t) / 1000 : 0;
	}
}

void hist_prune(struct history *h, int64_t before_ms)
{
	size_t live = 0;

	for (size_t i = 0; i < h->p_cap; i++) {
		if (h->p[i].pid && h->p[i].time_ms < before_ms)
			memset(&h->p[i], 0, sizeof(h->p[i]));
		live += h->p[i].pid != 0;
	}
	h->p_len = live;
	/* no holes in the probe chains; out of memory here only loses
	 * entries (which favours the persons), never memory safety */
	if (h->p_cap && person_rehash(h, h->p_cap) < 0) {
		memset(h->p, 0, h->p_cap * sizeof(*h->p));
		h->p_len = 0;
	}
	live = 0;
	for (size_t i = 0; i < h->h_cap; i++) {
		struct hhouse *hh = &h->h[i];

		if (hh->hid == 0)
			continue;
		{
			unsigned k = 0;

			while (k < hh->n && hh->exits[k] < before_ms)
				k++;
			memmove(hh->exits, hh->exits + k,
				(hh->n - k) * sizeof(hh->exits[0]));
			hh->n -= k;
		}
		if (hh->n == 0)
			memset(hh, 0, sizeof(*hh));
		live += hh->hid != 0;
	}
	h->h_len = live;
	if (h->h_cap && house_rehash(h, h->h_cap) < 0) {
		memset(h->h, 0, h->h_cap * sizeof(*h->h));
		h->h_len = 0;
	}
}

size_t hist_persons(const struct history *h)
{
	return h->p_len;
}

size_t hist_households(const struct history *h)
{
	return h->h_len;
}
