/*
 * outbox: the ledger events not yet acknowledged by the broker, published
 * at QoS 1 with a bounded window in flight: alarm-class events (alarms,
 * reports, outbox notices, audit entries) first, then the rest, each in
 * seq order.  An event is marked delivered only on its PUBACK; after a
 * reconnect or a restart everything not marked is sent again (at least
 * once; ids are stable, consumers de-duplicate by id).
 */
#ifndef WICKET_OUTBOX_H
#define WICKET_OUTBOX_H

#include <stdint.h>

#include "json.h"
#include "ledger.h"
#include "mqtt.h"
#include "privacy.h"

#define OUTBOX_WINDOW 64

struct outbox {
	struct ledger *lg;
	struct mqtt *mq;
	const char *site, *gate;
	const struct privacy *pv;
	struct {
		int mid;
		int64_t seq;
	} inflight[OUTBOX_WINDOW];
	int n_inflight;
	int64_t cursor[2];	/* per priority: highest seq sent this connection */
	uint64_t delivered;
};

void outbox_init(struct outbox *ob, struct ledger *lg, struct mqtt *mq,
		 const char *site, const char *gate, const struct privacy *pv);
/* Publish what fits in the window.  Call after an event was written. */
void outbox_kick(struct outbox *ob);
void outbox_connected(struct outbox *ob);
void outbox_disconnected(struct outbox *ob);
/* A PUBACK; mids that are not ours are ignored. */
void outbox_acked(struct outbox *ob, int mid);
/* The broker refused mid (MQTT 5 reason >= 0x80): not delivered.  It
 * leaves the window and is sent again after the next reconnect. */
void outbox_refused(struct outbox *ob, int mid);
/* The topic (below wicket/<site>/<gate>/) and payload of a ledger event.
 * LK_AUDIT: event/audit, {"id","site","gate","time","action","result",
 * "key","version","error","message","topic","cmd"} from the columns and
 * the detail JSON (a detail that does not parse leaves its members null). */
const char *outbox_topic(const struct ledger_event *ev);
const char *outbox_json(const struct ledger_event *ev, const char *site,
			const char *gate, const struct privacy *pv,
			struct json *j);

#endif
