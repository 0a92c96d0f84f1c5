/*
 * ledger: the SQLite record of every passage, under state_dir/ledger.db.
 * WAL mode, synchronous=FULL: a passage whose commit returned survives a
 * crash and a power cut.  The schema is versioned with PRAGMA user_version.
 * The rows not yet acknowledged by the broker are the outbox.
 */
#ifndef WICKET_LEDGER_H
#define WICKET_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <wicket/plugin.h>

#define LEDGER_SCHEMA_VERSION 1
#define LEDGER_FILE "ledger.db"

struct ledger;

struct ledger_passage {
	int64_t seq;		/* set by ledger_add_passage */
	int64_t time_ms;
	char lane[40];
	char direction[4];
	int has_credential;
	char credential[WK_CREDENTIAL_MAX];
	int has_temperature;
	double temperature_c;
	char decision[8];
	char reason[40];
	int alarm;
};

/* Create state_dir if needed and open or create the ledger.  On failure
 * err says what and where. */
int ledger_open(const char *state_dir, struct ledger **out, char *err,
		size_t errlen);
void ledger_close(struct ledger *lg);

int ledger_add_passage(struct ledger *lg, struct ledger_passage *p);
int ledger_mark_delivered(struct ledger *lg, int64_t seq);
/* The first undelivered passage with seq > after: 1 found, 0 none, <0. */
int ledger_next_undelivered(struct ledger *lg, int64_t after,
			    struct ledger_passage *p);
int64_t ledger_count_undelivered(struct ledger *lg);
const char *ledger_errmsg(struct ledger *lg);

#endif
