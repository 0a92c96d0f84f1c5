/*
 * outbox: the ledger rows not yet acknowledged by the broker, published in
 * seq order at QoS 1 with a bounded window in flight.  A row is marked
 * delivered only on its PUBACK; after a reconnect or a restart everything
 * not marked is sent again (at least once, ids are stable).
 */
#ifndef WICKET_OUTBOX_H
#define WICKET_OUTBOX_H

#include <stdint.h>

#include "json.h"
#include "ledger.h"
#include "mqtt.h"

#define OUTBOX_WINDOW 32

struct outbox {
	struct ledger *lg;
	struct mqtt *mq;
	const char *site, *gate;
	struct {
		int mid;
		int64_t seq;
	} inflight[OUTBOX_WINDOW];
	int n_inflight;
	int64_t cursor;		/* highest seq handed to mqtt this connection */
	uint64_t delivered;
};

void outbox_init(struct outbox *ob, struct ledger *lg, struct mqtt *mq,
		 const char *site, const char *gate);
/* Publish what fits in the window.  Call after adding a passage. */
void outbox_kick(struct outbox *ob);
void outbox_connected(struct outbox *ob);
void outbox_disconnected(struct outbox *ob);
/* A PUBACK; mids that are not ours are ignored. */
void outbox_acked(struct outbox *ob, int mid);
/* The event/passage payload of a ledger row. */
const char *outbox_passage_json(const struct ledger_passage *p,
				const char *site, const char *gate,
				struct json *j);

#endif
