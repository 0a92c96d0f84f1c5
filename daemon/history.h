/*
 * history: what the quota and anti-passback rules need to know about the
 * past, in memory on the loop thread: each person's last allowed passage
 * and each household's recent allowed exits.  Keyed by the registry's pid
 * and hid.  Filled as passages are decided, and at start from the ledger
 * (hist_load), so that a quota survives a restart.  Kept for window_s.
 */
#ifndef WICKET_HISTORY_H
#define WICKET_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

struct history;

int hist_new(struct history **out);
void hist_free(struct history *h);
/* An allowed passage.  pid 0: no person (a household pass: only the
 * household's exit counts); hid 0: none; both 0: ignored. */
void hist_record(struct history *h, int64_t pid, int64_t hid,
		 enum rules_dir dir, int64_t time_ms);
/* Fill the passback and quota facts (last_direction, last_age_s,
 * n_exits, exit_age_s) for that person and household at now_ms. */
void hist_facts(const struct history *h, int64_t pid, int64_t hid,
		int64_t now_ms, struct rules_facts *f);
/* Forget what is older than before_ms. */
void hist_prune(struct history *h, int64_t before_ms);
size_t hist_persons(const struct history *h);
size_t hist_households(const struct history *h);

#endif
