/*
 * outbox: store-and-forward over the ledger.  Two cursors, one per
 * priority, keep an event from being sent twice on one connection while
 * its PUBACK is pending, and let a new alarm overtake a backlog of
 * passages.  The window keeps a broker from being flooded after days
 * offline.  Payloads carry the pseudonymous person and household
 * references; the credential and the temperature only where [privacy]
 * asks for them.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "outbox.h"

void outbox_init(struct outbox *ob, struct ledger *lg, struct mqtt *mq,
		 const char *site, const char *gate, const struct privacy *pv)
{
	memset(ob, 0, sizeof(*ob));
	ob->lg = lg;
	ob->mq = mq;
	ob->site = site;
	ob->gate = gate;
	ob->pv = pv;
}

const char *outbox_topic(const struct ledger_event *ev)
{
	switch (ev->kind) {
	case LK_PASSAGE:
		return "event/passage";
	case LK_ALARM:
		return "event/alarm";
	case LK_DEVICE:
		return "event/device";
	case LK_REPORT:
		return "report/daily";
	case LK_OUTBOX:
		return "event/outbox";
	default:
		return "event/unknown";
	}
}

static void id(char *out, size_t len, const char *gate, int64_t seq)
{
	snprintf(out, len, "%s:%lld", gate, (long long)seq);
}

/* {"id":..., "site":..., "gate":..., then the members of detail} */
static const char *merge(struct json *j, const char *detail)
{
	const char *head;

	if (detail[0] != '{' || detail[1] == '}' || detail[1] == '\0')
		return json_end(j);
	head = json_end(j);
	if (head == NULL || j->len + strlen(detail) + 1 > sizeof(j->buf))
		return NULL;
	/* replace our closing brace with a comma and append detail's body */
	j->buf[j->len - 1] = ',';
	memcpy(j->buf + j->len, detail + 1, strlen(detail + 1) + 1);
	j->len += strlen(detail + 1);
	return j->buf;
}

const char *outbox_json(const struct ledger_event *ev, const char *site,
			const char *gate, const struct privacy *pv,
			struct json *j)
{
	char eid[96];

	id(eid, sizeof(eid), gate, ev->seq);
	json_begin(j);
	json_str(j, "id", eid);
	json_str(j, "site", site);
	json_str(j, "gate", gate);
	json_time(j, "time", ev->time_ms);
	switch (ev->kind) {
	case LK_PASSAGE:
		json_str(j, "lane", ev->lane);
		json_str(j, "direction", ev->direction);
		if (ev->person[0])
			json_str(j, "person", ev->person);
		else
			json_null(j, "person");
		if (ev->household_id[0] && pv) {
			char ref[PRIVACY_REF_LEN + 1];

			privacy_household_ref(pv, ev->household_id, ref);
			json_str(j, "household", ref);
		} else {
			json_null(j, "household");
		}
		json_str(j, "decision", ev->decision);
		json_str(j, "reason", ev->reason);
		if (ev->rule[0])
			json_str(j, "rule", ev->rule);
		else
			json_null(j, "rule");
		if (ev->rules_version > 0)
			json_int(j, "rules_version", ev->rules_version);
		else
			json_null(j, "rules_version");
		if (ev->message[0])
			json_str(j, "message", ev->message);
		json_bool(j, "alarm", ev->alarm);
		if (pv && pv->publish_credential) {
			if (ev->has_credential)
				json_str(j, "credential", ev->credential);
			else
				json_null(j, "credential");
		}
		/* a passage's detail is its re-test: the first reading */
		json_bool(j, "retest", ev->detail[0] != '\0');
		if (pv && pv->publish_temperature) {
			if (ev->has_temperature)
				json_num(j, "temperature", ev->temperature_c, 1);
			else
				json_null(j, "temperature");
			return merge(j, ev->detail);
		}
		return json_end(j);
	case LK_ALARM:
		json_str(j, "kind", ev->reason);
		json_str(j, "severity", ev->state);
		if (ev->lane[0])
			json_str(j, "lane", ev->lane);
		if (ev->person[0])
			json_str(j, "person", ev->person);
		if (ev->rule[0])
			json_str(j, "rule", ev->rule);
		json_str(j, "message", ev->message);
		if (pv && pv->publish_temperature && ev->has_temperature)
			json_num(j, "temperature", ev->temperature_c, 1);
		return merge(j, ev->detail);
	case LK_DEVICE:
		json_str(j, "device", ev->device);
		json_str(j, "state", ev->state);
		json_str(j, "message", ev->message);
		return json_end(j);
	case LK_REPORT:
	case LK_OUTBOX:
	default:
		return merge(j, ev->detail);
	}
}

static int publish_next(struct outbox *ob)
{
	struct ledger_event ev;
	struct json j;
	const char *payload;
	int rc = 0, mid, prio;

	for (prio = 1; prio >= 0; prio--) {
		rc = ledger_next_undelivered(ob->lg, prio, ob->cursor[prio], &ev);
		if (rc != 0)
			break;
	}
	if (rc < 0)
		log_err("outbox: reading the ledger failed");
	if (rc <= 0)
		return 0;
	payload = outbox_json(&ev, ob->site, ob->gate, ob->pv, &j);
	if (payload == NULL) {
		log_err("outbox: event %lld does not fit a message; skipped",
			(long long)ev.seq);
		ob->cursor[prio] = ev.seq;
		return 1;
	}
	if (mqtt_publish(ob->mq, outbox_topic(&ev), payload, 1,
			 ev.kind == LK_REPORT, &mid) < 0)
		return 0;
	ob->cursor[prio] = ev.seq;
	ob->inflight[ob->n_inflight].mid = mid;
	ob->inflight[ob->n_inflight].seq = ev.seq;
	ob->n_inflight++;
	return 1;
}

void outbox_kick(struct outbox *ob)
{
	if (ob->lg == NULL || !mqtt_is_connected(ob->mq))
		return;
	while (ob->n_inflight < OUTBOX_WINDOW && publish_next(ob))
		;
}

void outbox_connected(struct outbox *ob)
{
	ob->n_inflight = 0;
	ob->cursor[0] = ob->cursor[1] = 0;
	outbox_kick(ob);
}

void outbox_disconnected(struct outbox *ob)
{
	ob->n_inflight = 0;
	ob->cursor[0] = ob->cursor[1] = 0;
}

static void settle(struct outbox *ob, int mid, int delivered)
{
	for (int i = 0; i < ob->n_inflight; i++) {
		if (ob->inflight[i].mid != mid)
			continue;
		if (delivered) {
			ledger_mark_delivered(ob->lg, ob->inflight[i].seq);
			ob->delivered++;
		}
		ob->inflight[i] = ob->inflight[--ob->n_inflight];
		outbox_kick(ob);
		return;
	}
}

void outbox_acked(struct outbox *ob, int mid)
{
	settle(ob, mid, 1);
}

void outbox_refused(struct outbox *ob, int mid)
{
	settle(ob, mid, 0);
}
