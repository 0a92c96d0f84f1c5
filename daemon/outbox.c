/*
 * outbox: store-and-forward over the ledger.  The window keeps a slow
 * broker from being flooded after days offline; the cursor keeps a row from
 * being sent twice on one connection while its PUBACK is pending.
 *
 * Left for the ledger issue: alarms first, size and age bounds with
 * counted drops.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "outbox.h"

void outbox_init(struct outbox *ob, struct ledger *lg, struct mqtt *mq,
		 const char *site, const char *gate)
{
	memset(ob, 0, sizeof(*ob));
	ob->lg = lg;
	ob->mq = mq;
	ob->site = site;
	ob->gate = gate;
}

const char *outbox_passage_json(const struct ledger_passage *p,
				const char *site, const char *gate,
				struct json *j)
{
	char id[96];

	snprintf(id, sizeof(id), "%s:%lld", gate, (long long)p->seq);
	json_begin(j);
	json_str(j, "id", id);
	json_str(j, "site", site);
	json_str(j, "gate", gate);
	json_str(j, "lane", p->lane);
	json_str(j, "direction", p->direction);
	json_time(j, "time", p->time_ms);
	if (p->has_credential)
		json_str(j, "credential", p->credential);
	else
		json_null(j, "credential");
	if (p->has_temperature)
		json_num(j, "temperature", p->temperature_c, 1);
	else
		json_null(j, "temperature");
	json_str(j, "decision", p->decision);
	json_str(j, "reason", p->reason);
	json_bool(j, "alarm", p->alarm);
	return json_end(j);
}

void outbox_kick(struct outbox *ob)
{
	struct ledger_passage p;
	struct json j;

	if (ob->lg == NULL || !mqtt_is_connected(ob->mq))
		return;
	while (ob->n_inflight < OUTBOX_WINDOW) {
		const char *payload;
		int rc = ledger_next_undelivered(ob->lg, ob->cursor, &p), mid;

		if (rc < 0) {
			log_err("outbox: reading the ledger: %s",
				ledger_errmsg(ob->lg));
			return;
		}
		if (rc == 0)
			return;
		payload = outbox_passage_json(&p, ob->site, ob->gate, &j);
		if (payload == NULL) {
			log_err("outbox: passage %lld does not fit a message",
				(long long)p.seq);
			ob->cursor = p.seq;
			continue;
		}
		if (mqtt_publish(ob->mq, "event/passage", payload, 1, 0, &mid) < 0)
			return;
		ob->cursor = p.seq;
		ob->inflight[ob->n_inflight].mid = mid;
		ob->inflight[ob->n_inflight].seq = p.seq;
		ob->n_inflight++;
	}
}

void outbox_connected(struct outbox *ob)
{
	ob->n_inflight = 0;
	ob->cursor = 0;
	outbox_kick(ob);
}

void outbox_disconnected(struct outbox *ob)
{
	ob->n_inflight = 0;
	ob->cursor = 0;
}

void outbox_acked(struct outbox *ob, int mid)
{
	for (int i = 0; i < ob->n_inflight; i++) {
		if (ob->inflight[i].mid != mid)
			continue;
		if (ledger_mark_delivered(ob->lg, ob->inflight[i].seq) < 0)
			log_err("outbox: marking %lld delivered: %s",
				(long long)ob->inflight[i].seq,
				ledger_errmsg(ob->lg));
		else
			ob->delivered++;
		ob->inflight[i] = ob->inflight[--ob->n_inflight];
		outbox_kick(ob);
		return;
	}
}
