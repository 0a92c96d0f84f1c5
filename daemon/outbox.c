/*
 * outbox: store-and-forward over the ledger.  Two cursors, one per
 * priority, keep an event from being sent twice on one connection while
 * its PUBACK is pending, and let a new alarm overtake a backlog of
 * passages.  The window keeps a broker from being flooded after days
 * offline.  Payloads carry the pseudonymous person and household
 * references; the credential and the temperature only where [privacy]
 * asks for them.
 *
 * An audit entry's payload is built from its columns and the members of
 * its detail JSON, read back with jsontree.  The detail is ours, but a
 * record of a remote change must reach the broker even if it were damaged:
 * a detail that does not parse leaves those members null, it does not
 * stop the event.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jsontree.h"
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
	case LK_AUDIT:
		return "event/audit";
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

/* A bounded text buffer for re-serialising a parsed JSON value. */
struct sbuf {
	char *p;
	size_t cap, len;
	int overflow;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len)
		b->overflow = 1;
	else
		b->len += (size_t)n;
}

static void sb_string(struct sbuf *b, const char *s)
{
	sb_printf(b, "\"");
	for (; *s && !b->overflow; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			sb_printf(b, "\\%c", c);
		else if (c == '\n')
			sb_printf(b, "\\n");
		else if (c < 0x20 || c == 0x7f)
			sb_printf(b, "\\u%04x", c);
		else
			sb_printf(b, "%c", c);
	}
	sb_printf(b, "\"");
}

/* Depth is bounded by the parser's JT_MAX_DEPTH. */
static void sb_node(struct sbuf *b, const struct jt_node *n)
{
	const struct jt_node *k;

	switch (n->type) {
	case JT_NULL:
		sb_printf(b, "null");
		break;
	case JT_BOOL:
		sb_printf(b, n->b ? "true" : "false");
		break;
	case JT_NUMBER:
		if (n->is_int)
			sb_printf(b, "%lld", (long long)n->i);
		else if (isfinite(n->num))
			sb_printf(b, "%.17g", n->num);
		else
			sb_printf(b, "null");	/* 1e999: JSON has no infinity */
		break;
	case JT_STRING:
		sb_string(b, n->s);
		break;
	case JT_ARRAY:
	case JT_OBJECT:
		sb_printf(b, n->type == JT_ARRAY ? "[" : "{");
		for (k = n->kids; k != NULL; k = k->next) {
			if (k != n->kids)
				sb_printf(b, ",");
			if (n->type == JT_OBJECT) {
				sb_string(b, k->key);
				sb_printf(b, ":");
			}
			sb_node(b, k);
		}
		sb_printf(b, n->type == JT_ARRAY ? "]" : "}");
		break;
	}
}

/* name: the member of the audit detail, or null if absent or unreadable */
static void audit_member(struct json *j, const char *name,
			 const struct jt_node *detail)
{
	const struct jt_node *n = jt_get(detail, name);
	char text[2 * LEDGER_DETAIL_MAX];	/* escapes may grow it */
	struct sbuf b = { text, sizeof(text), 0, 0 };

	if (n == NULL || n->type == JT_NULL) {
		json_null(j, name);
		return;
	}
	if (n->type == JT_STRING) {
		json_str(j, name, n->s);
		return;
	}
	sb_node(&b, n);
	if (b.overflow)
		json_null(j, name);
	else
		json_raw(j, name, text);
}

static void str_or_null(struct json *j, const char *name, const char *v)
{
	if (v[0])
		json_str(j, name, v);
	else
		json_null(j, name);
}

static const char *audit_json(const struct ledger_event *ev, struct json *j)
{
	struct jt_doc *doc = NULL;
	const struct jt_node *root = NULL, *v;
	char err[128];

	if (ev->detail[0]) {
		if (jt_parse(ev->detail, strlen(ev->detail), &doc, err,
			     sizeof(err)) < 0)
			log_warn("outbox: audit event %lld: detail is not JSON"
				 " (%s); published without it",
				 (long long)ev->seq, err);
		else if ((root = jt_root(doc))->type != JT_OBJECT)
			log_warn("outbox: audit event %lld: detail is a JSON %s,"
				 " not an object; published without it",
				 (long long)ev->seq, jt_type_name(root->type));
	}
	str_or_null(j, "action", ev->reason);
	str_or_null(j, "result", ev->state);
	audit_member(j, "key", root);
	/* the column first: it is what the daily report and queries see */
	v = jt_get(root, "version");
	if (ev->rules_version > 0)
		json_int(j, "version", ev->rules_version);
	else if (v != NULL && v->type == JT_NUMBER && v->is_int)
		json_int(j, "version", v->i);
	else
		json_null(j, "version");
	audit_member(j, "error", root);
	str_or_null(j, "message", ev->message);
	/* the push id (detail "id"; "id" here is the event's own) and a
	 * command's nonce: what the sender matches its message with */
	v = jt_get(root, "id");
	if (v != NULL && v->type == JT_STRING)
		json_str(j, "push", v->s);
	else
		json_null(j, "push");
	audit_member(j, "nonce", root);
	audit_member(j, "topic", root);
	audit_member(j, "cmd", root);
	jt_free(doc);
	return json_end(j);
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
	case LK_AUDIT:
		return audit_json(ev, j);
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
