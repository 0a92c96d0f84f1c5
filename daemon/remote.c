/*
 * remote: signed updates and commands over MQTT; see remote.h and
 * docs/admin.md.
 *
 * One message, one outcome: verify (admin.c: envelope, key, signature,
 * target, times, shape), then the checks that need the state in force
 * (the version against the highest ever accepted, a delta's base, a
 * command nonce seen before), then the contents (the rules validator, the
 * registry import), then store (one transaction) and swap in.  Whatever
 * happens is published on the family's retained state topic (updates) or
 * answered to the sender (commands), and audited.  Nothing is half
 * applied: rules are parsed completely before they are stored, stored
 * before they are swapped in, and the swap happens between two passages
 * (this runs on the loop thread, where passages are decided).
 */
#define OPENSSL_API_COMPAT 0x10100000L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "admin.h"
#include "adminstore.h"
#include "fsutil.h"
#include "jsontree.h"
#include "log.h"
#include "loop.h"
#include "registry.h"
#include "remote.h"

#define CMD_LIFETIME_MAX_S 3600
#define CMD_FRESH_S 120		/* a command older than this is not run */
#define REG_BUSY_MS 200		/* a lists update waits this for a lock */
#define UNSIGNED_PER_MIN 10	/* refusals before the signature is checked,
				 * audited one by one per minute */
#define CLOCK_SANE_MS 1704067200000LL	/* 2024-01-01: before it, no NTP yet */

/* The latest outcome of one topic family, for its state topic. */
struct outcome {
	int have;
	char id[17];
	char action[12];
	int64_t version;
	char result[16];
	char error[32];
	char message[512];
	char key[ADMIN_KEY_ID_MAX + 1];
	int64_t time_ms;
};

struct remote {
	struct remote_host h;
	struct admin_keys *keys;
	struct astore *st;
	char site[64], gate[64];
	char state_dir[4096];
	struct mqtt *mq;
	char prefix_gate[160], prefix_all[160];
	int64_t rules_since_ms;
	struct outcome rules_last, lists_last;
	/* the rules file, while its rules are in force: the previous version
	 * kept for a rollback when the first remote update replaces them */
	struct astore_rules file;
	struct reg_db *regdb;	/* our own connection, for lists updates */
	int clock_warned;
	/* refusals before the signature is checked: anyone who may publish
	 * can cause them, so they are audited UNSIGNED_PER_MIN a minute, and
	 * the rest summed up */
	int64_t unsigned_since_ms;
	unsigned unsigned_n, unsigned_dropped;
};

int remote_new(const struct conf *c, const struct remote_host *h,
	       struct remote **out)
{
	struct remote *r;
	char err[512];
	int rc;

	*out = NULL;
	if (!c->admin.enabled)
		return 0;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->h = *h;
	snprintf(r->site, sizeof(r->site), "%s", c->site);
	snprintf(r->gate, sizeof(r->gate), "%s", c->gate);
	snprintf(r->state_dir, sizeof(r->state_dir), "%s", c->state_dir);
	snprintf(r->prefix_gate, sizeof(r->prefix_gate), "wicket/%s/%s/",
		 c->site, c->gate);
	snprintf(r->prefix_all, sizeof(r->prefix_all), "wicket/%s/all/",
		 c->site);
	rc = admin_keys_load(c->admin.keys, &r->keys, err, sizeof(err));
	if (rc == 0)
		rc = astore_open(c->state_dir, &r->st, err, sizeof(err));
	if (rc < 0) {
		log_err("admin: %s", err);
		remote_free(r);
		return rc;
	}
	r->rules_since_ms = ev_wall_ms();
	log_notice("admin: remote administration on, %zu key(s) from %s",
		   admin_keys_count(r->keys), c->admin.keys);
	*out = r;
	return 0;
}

void remote_free(struct remote *r)
{
	if (r == NULL)
		return;
	admin_keys_free(r->keys);
	astore_close(r->st);
	reg_db_close(r->regdb);
	free(r->file.text);
	free(r);
}

int remote_reload_keys(struct remote *r, const struct conf *c)
{
	struct admin_keys *k = NULL;
	char err[512];
	int rc;

	rc = admin_keys_load(c->admin.keys, &k, err, sizeof(err));
	admin_keys_free(r->keys);
	r->keys = k;	/* NULL on failure: every bundle is unknown_key */
	if (rc < 0) {
		log_err("admin: %s; no admin key is trusted until the next reload",
			err);
		return rc;
	}
	log_notice("admin: %zu key(s) from %s", admin_keys_count(k),
		   c->admin.keys);
	return 0;
}

static void log_stored_error(void *ctx, const char *where, const char *path,
			     const char *msg)
{
	(void)ctx;
	log_err("%s: %s: %s", where, path, msg);
}

/* The rules file's text, kept while its rules are in force. */
static void keep_file(struct remote *r, const char *path, int64_t version)
{
	free(r->file.text);
	memset(&r->file, 0, sizeof(r->file));
	if (fs_read_file(path, RULES_FILE_MAX, &r->file.text, &r->file.len) < 0) {
		log_warn("admin: cannot read %s again; the first remote update will have nothing to roll back to",
			 path);
		r->file.text = NULL;
		return;
	}
	r->file.version = version;
	snprintf(r->file.key, sizeof(r->file.key), "file");
	r->file.since_ms = ev_wall_ms();
}

struct rules *remote_stored_rules(struct remote *r, const char *file,
				  int64_t file_version)
{
	struct astore_rules s;
	struct rules *rules = NULL;

	if (r == NULL)
		return NULL;
	if (astore_rules(r->st, 0, &s) <= 0) {
		keep_file(r, file, file_version);
		return NULL;
	}
	if (s.version <= file_version) {
		log_notice("admin: the rules file (version %lld) is not older than the stored remote rules (version %lld); the file is in force",
			   (long long)file_version, (long long)s.version);
		keep_file(r, file, file_version);
	} else if (rules_parse(s.text, s.len, "admin.db rules", &rules,
			       log_stored_error, NULL) != 0) {
		log_err("admin: the stored remote rules version %lld do not load; the rules file is in force",
			(long long)s.version);
		rules = NULL;
		keep_file(r, file, file_version);
	} else {
		log_notice("admin: rules version %lld from a remote update (key %s) are in force, not the file's version %lld",
			   (long long)s.version, s.key, (long long)file_version);
		r->rules_since_ms = s.since_ms;
		free(r->file.text);
		memset(&r->file, 0, sizeof(r->file));
	}
	free(s.text);
	return rules;
}

/* --- state topics ----------------------------------------------------- */

static void outcome_json(const struct outcome *o, struct json *j)
{
	json_begin(j);
	json_str(j, "id", o->id);
	json_str(j, "action", o->action);
	if (o->version > 0)
		json_int(j, "version", o->version);
	else
		json_null(j, "version");
	json_str(j, "result", o->result);
	if (o->error[0]) {
		json_str(j, "error", o->error);
		json_str(j, "message", o->message);
	}
	if (o->key[0])
		json_str(j, "key", o->key);
	else
		json_null(j, "key");
	json_time(j, "time", o->time_ms);
}

static void publish_state(struct remote *r, int lists)
{
	struct json j, o;
	const struct outcome *last = lists ? &r->lists_last : &r->rules_last;

	if (r->mq == NULL || !mqtt_is_connected(r->mq))
		return;
	json_begin(&j);
	if (lists) {
		json_int(&j, "version", r->h.registry_version(r->h.arg));
	} else {
		struct astore_rules prev;
		int have = astore_rules(r->st, 1, &prev) > 0;

		json_int(&j, "version", r->h.rules_version(r->h.arg));
		json_time(&j, "since", r->rules_since_ms);
		if (have)
			json_int(&j, "previous", prev.version);
		else
			json_null(&j, "previous");
		free(prev.text);
	}
	if (last->have) {
		outcome_json(last, &o);
		json_raw(&j, "last", json_end(&o) ? o.buf : "{}");
	}
	if (json_end(&j))
		mqtt_publish(r->mq, lists ? "lists/state" : "rules/state", j.buf,
			     1, 1, NULL);
}

void remote_attach(struct remote *r, struct mqtt *m)
{
	static const char *const subs[] = { "rules/set", "rules/rollback",
					    "lists/set", "cmd/+" };
	char topic[256];

	if (r == NULL)
		return;
	r->mq = m;
	if (m == NULL)
		return;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(topic, sizeof(topic), "%s%s", r->prefix_gate, subs[i]);
		mqtt_subscribe(m, topic);
		snprintf(topic, sizeof(topic), "%s%s", r->prefix_all, subs[i]);
		mqtt_subscribe(m, topic);
	}
}

void remote_connected(struct remote *r)
{
	if (r == NULL)
		return;
	publish_state(r, 0);
	publish_state(r, 1);
}

/* --- one message -------------------------------------------------------- */

/* The push id: the first 16 hex of SHA-256 over the whole payload (what
 * the sender published; a copy with other bytes is another push).  key:
 * the key id the envelope names, if it is one (for the audit of a
 * refusal), else "". */
static void push_id(const void *payload, size_t len, char out[17],
		    char key[ADMIN_KEY_ID_MAX + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	struct jt_doc *doc;
	const struct jt_node *k;
	char err[64];

	key[0] = '\0';
	if (admin_envelope_bounded(payload, len) &&
	    jt_parse(payload, len, &doc, err, sizeof(err)) == 0) {
		k = jt_get(jt_root(doc), "key");
		if (k && k->type == JT_STRING && k->len >= 1 &&
		    k->len <= ADMIN_KEY_ID_MAX &&
		    strspn(k->s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == k->len)
			memcpy(key, k->s, k->len + 1);
		jt_free(doc);
	}
	SHA256(payload, len, md);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct msg {
	const char *topic;
	const char *action;	/* from the topic */
	enum admin_kind kind;
	const char *cmd;	/* cmd/<name> */
	char id[17];
	const char *key;
	int64_t version;
	const char *nonce;
	int retained;
	const char *response_topic;
	const void *corr;
	size_t corr_len;
};

static void finish(struct remote *r, const struct msg *m, const char *result,
		   const char *error, const char *message)
{
	struct remote_audit a = {
		.action = m->action, .result = result, .key = m->key,
		.version = m->version, .error = error, .message = message,
		.topic = m->topic, .cmd = m->cmd, .nonce = m->nonce,
		.id = m->id,
	};
	struct outcome *o;

	if (error)
		log_warn("admin: %s from %s refused (%s): %s", m->action,
			 m->topic, error, message);
	else
		log_notice("admin: %s %s: %s", m->action, result, message);
	r->h.audit(r->h.arg, &a);
	if (m->kind == ADMIN_CMD)
		return;
	o = m->kind == ADMIN_LISTS ? &r->lists_last : &r->rules_last;
	memset(o, 0, sizeof(*o));
	o->have = 1;
	snprintf(o->id, sizeof(o->id), "%s", m->id);
	snprintf(o->action, sizeof(o->action), "%s", m->action);
	o->version = m->version;
	snprintf(o->result, sizeof(o->result), "%s", result);
	snprintf(o->error, sizeof(o->error), "%s", error ? error : "");
	snprintf(o->message, sizeof(o->message), "%s", message ? message : "");
	snprintf(o->key, sizeof(o->key), "%s", m->key ? m->key : "");
	o->time_ms = ev_wall_ms();
	publish_state(r, m->kind == ADMIN_LISTS);
}

/* The rules validator's errors, gathered into one message. */
struct errbuf {
	char text[512];
	size_t len;
	int n;
};

static void gather_rules_error(void *ctx, const char *where, const char *path,
			       const char *msg)
{
	struct errbuf *e = ctx;
	int w;

	(void)where;
	if (e->n++ > 0 && e->len < sizeof(e->text) - 1)
		e->text[e->len++] = ';', e->text[e->len] = '\0';
	if (e->len >= sizeof(e->text) - 1)
		return;
	/* the validator's "$" is the document's "$.rules" */
	w = snprintf(e->text + e->len, sizeof(e->text) - e->len, "%s$.rules%s: %s",
		     e->n > 1 ? " " : "", path[0] == '$' ? path + 1 : path, msg);
	if (w > 0)
		e->len += (size_t)w < sizeof(e->text) - e->len ?
			  (size_t)w : sizeof(e->text) - e->len - 1;
}

static void apply_rules(struct remote *r, struct msg *m,
			const struct admin_bundle *b)
{
	struct astore_rules cur, put;
	struct errbuf e = { .len = 0 };
	struct rules *rules = NULL;
	char msg[600];
	char *text = NULL;
	size_t len = 0;
	int64_t in_force = r->h.rules_version(r->h.arg);
	int64_t highest = astore_highest(r->st);
	int have_cur, rc;

	if (jt_write(b->body, &text, &len) < 0) {
		finish(r, m, "refused", ADMIN_E_INTERNAL, "out of memory");
		return;
	}
	have_cur = astore_rules(r->st, 0, &cur) > 0;
	if (b->version == in_force && have_cur && cur.version == in_force &&
	    cur.len == len && memcmp(cur.text, text, len) == 0) {
		snprintf(msg, sizeof(msg), "rules version %lld are in force already",
			 (long long)b->version);
		finish(r, m, "unchanged", NULL, msg);
		goto out;
	}
	if (b->version <= in_force || b->version <= highest) {
		snprintf(msg, sizeof(msg),
			 "version %lld is not newer than the version in force (%lld) or the highest accepted (%lld)",
			 (long long)b->version, (long long)in_force,
			 (long long)highest);
		finish(r, m, "refused", ADMIN_E_REPLAY, msg);
		goto out;
	}
	rc = rules_parse(text, len, "rules", &rules, gather_rules_error, &e);
	if (rc != 0) {
		snprintf(msg, sizeof(msg), "%d error(s): %s", rc > 0 ? rc : 1,
			 e.text[0] ? e.text : strerror(-rc));
		finish(r, m, "refused", ADMIN_E_INVALID_RULES, msg);
		goto out;
	}
	if (rules_version(rules) != b->version) {
		snprintf(msg, sizeof(msg),
			 "$.rules.version: %lld, but the bundle's version is %lld",
			 (long long)rules_version(rules), (long long)b->version);
		rules_free(rules);
		finish(r, m, "refused", ADMIN_E_INVALID_RULES, msg);
		goto out;
	}
	memset(&put, 0, sizeof(put));
	put.version = b->version;
	put.text = text;
	put.len = len;
	snprintf(put.key, sizeof(put.key), "%s", b->key);
	put.since_ms = ev_wall_ms();
	/* the first update over the file's rules keeps those for rollback */
	if (astore_put_rules(r->st, &put, r->file.text &&
			     r->file.version == in_force ? &r->file : NULL) < 0) {
		rules_free(rules);
		finish(r, m, "refused", ADMIN_E_INTERNAL,
			 "cannot store the rules (admin.db); nothing changed");
		goto out;
	}
	r->h.swap_rules(r->h.arg, rules);	/* between two passages */
	r->rules_since_ms = put.since_ms;
	free(r->file.text);
	memset(&r->file, 0, sizeof(r->file));
	snprintf(msg, sizeof(msg), "rules version %lld in force (was %lld)",
		 (long long)b->version, (long long)in_force);
	finish(r, m, "applied", NULL, msg);
out:
	if (have_cur)
		free(cur.text);
	free(text);
}

static void rollback(struct remote *r, struct msg *m,
		     const struct admin_bundle *b)
{
	struct astore_rules prev;
	struct rules *rules = NULL;
	char msg[300];
	int64_t in_force = r->h.rules_version(r->h.arg);

	if (b->version != in_force) {
		snprintf(msg, sizeof(msg),
			 "the rollback is from version %lld, the version in force is %lld",
			 (long long)b->version, (long long)in_force);
		finish(r, m, "refused", ADMIN_E_REPLAY, msg);
		return;
	}
	{
		struct astore_rules cur;
		int have = astore_rules(r->st, 0, &cur) > 0;

		free(cur.text);
		/* rules from the file are in force (newer than what admin.db
		 * holds): what admin.db keeps as previous is older than them,
		 * and the file would win again at the next start */
		if (r->file.text != NULL || !have || cur.version != in_force) {
			finish(r, m, "refused", ADMIN_E_REPLAY,
			       "the rules in force come from the rules file, not from a remote update: nothing to roll back to");
			return;
		}
	}
	if (astore_rules(r->st, 1, &prev) <= 0) {
		finish(r, m, "refused", ADMIN_E_REPLAY,
		       "no previous rules are kept to roll back to");
		return;
	}
	if (rules_parse(prev.text, prev.len, "admin.db rules", &rules,
			log_stored_error, NULL) != 0) {
		free(prev.text);
		finish(r, m, "refused", ADMIN_E_INTERNAL,
		       "the previous rules do not load any more");
		return;
	}
	if (astore_rollback(r->st, ev_wall_ms()) < 0) {
		rules_free(rules);
		free(prev.text);
		finish(r, m, "refused", ADMIN_E_INTERNAL,
		       "cannot store the rollback (admin.db); nothing changed");
		return;
	}
	r->h.swap_rules(r->h.arg, rules);
	r->rules_since_ms = ev_wall_ms();
	snprintf(msg, sizeof(msg), "rolled back from version %lld to %lld",
		 (long long)in_force, (long long)prev.version);
	free(prev.text);
	finish(r, m, "rolled_back", NULL, msg);
}

static void reply(struct remote *r, const struct msg *m, const char *payload)
{
	char topic[256];

	if (r->mq == NULL)
		return;
	if (m->response_topic && m->response_topic[0]) {
		mqtt_reply(r->mq, m->response_topic, payload, m->corr, m->corr_len);
		return;
	}
	snprintf(topic, sizeof(topic), "%scmd/reply", r->prefix_gate);
	mqtt_reply(r->mq, topic, payload, NULL, 0);
}

static void command_refused(struct remote *r, struct msg *m, const char *code,
			    const char *message)
{
	struct json j;

	json_begin(&j);
	if (m->nonce)
		json_str(&j, "id", m->nonce);
	else
		json_null(&j, "id");
	json_str(&j, "cmd", m->cmd ? m->cmd : "?");
	json_bool(&j, "ok", 0);
	json_str(&j, "error", code);
	json_str(&j, "message", message);
	if (json_end(&j))
		reply(r, m, j.buf);
	finish(r, m, "refused", code, message);
}

static void command(struct remote *r, struct msg *m,
		    const struct admin_bundle *b)
{
	struct json j, res;
	char by[200], msg[300];
	const char *code = NULL;
	int rc;

	m->nonce = b->id;
	if (m->retained) {
		/* a retained command would run again at every connect */
		command_refused(r, m, ADMIN_E_BAD_COMMAND,
				"a retained command; publish commands without the retain flag");
		return;
	}
	if (ev_wall_ms() / 1000 - b->issued_s > CMD_FRESH_S) {
		/* a command acts now: one queued for a gate that was offline
		 * must not open a lane long after the sender gave up */
		snprintf(msg, sizeof(msg),
			 "issued %lld s ago; a command must arrive within %d s",
			 (long long)(ev_wall_ms() / 1000 - b->issued_s), CMD_FRESH_S);
		command_refused(r, m, ADMIN_E_EXPIRED, msg);
		return;
	}
	if (b->expires_s - b->issued_s > CMD_LIFETIME_MAX_S) {
		/* nonces are kept until expiry: a short life keeps them few */
		snprintf(msg, sizeof(msg), "a command may live %d s at most, this one %lld s",
			 CMD_LIFETIME_MAX_S, (long long)(b->expires_s - b->issued_s));
		command_refused(r, m, ADMIN_E_BAD_COMMAND, msg);
		return;
	}
	if (strcmp(admin_cmd_name(b->cmd), m->cmd) != 0) {
		snprintf(msg, sizeof(msg), "a %s command on the cmd/%s topic",
			 admin_cmd_name(b->cmd), m->cmd);
		command_refused(r, m, ADMIN_E_BAD_COMMAND, msg);
		return;
	}
	rc = astore_nonce(r->st, b->id, b->expires_s, ev_wall_ms() / 1000);
	if (rc != 0) {
		command_refused(r, m, rc > 0 ? ADMIN_E_REPLAY : ADMIN_E_INTERNAL,
				rc > 0 ? "this command id was seen before" :
				"cannot remember the command id (admin.db)");
		return;
	}
	snprintf(by, sizeof(by), "remote command (key %s, id %s)", b->key, b->id);
	json_begin(&res);
	if (b->cmd == ADMIN_CMD_OPEN) {
		if (r->h.open(r->h.arg, b->lane, by, &code, msg, sizeof(msg)) < 0) {
			command_refused(r, m, code ? code : ADMIN_E_BAD_COMMAND, msg);
			return;
		}
		json_str(&res, "lane", b->lane);
		snprintf(msg, sizeof(msg), "lane %s opened once", b->lane);
	} else if (b->cmd == ADMIN_CMD_MODE) {
		int mode = rules_mode_parse(b->mode);

		if (mode < 0) {
			command_refused(r, m, ADMIN_E_BAD_COMMAND, "unknown mode");
			return;
		}
		r->h.set_mode(r->h.arg, (enum rules_mode)mode, by);
		json_str(&res, "mode", b->mode);
		snprintf(msg, sizeof(msg), "mode %s", b->mode);
	} else {
		r->h.status(r->h.arg, &res);
		snprintf(msg, sizeof(msg), "status sent");
	}
	json_begin(&j);
	json_str(&j, "id", b->id);
	json_str(&j, "cmd", m->cmd);
	json_bool(&j, "ok", 1);
	json_raw(&j, "result", json_end(&res) ? res.buf : "{}");
	if (json_end(&res) == NULL || json_end(&j) == NULL) {
		command_refused(r, m, ADMIN_E_INTERNAL,
				"the answer does not fit in a reply");
		return;
	}
	reply(r, m, j.buf);
	finish(r, m, "done", NULL, msg);
}

/* The registry's errors, gathered into one message: "PATH: message". */
static void gather_reg_error(void *ctx, const char *file, int line,
			     const char *field, const char *msg)
{
	struct errbuf *e = ctx;
	int w;

	(void)line;
	if (e->len >= sizeof(e->text) - 1)
		return;
	w = snprintf(e->text + e->len, sizeof(e->text) - e->len, "%s%s%s%s",
		     e->n++ > 0 ? "; " : "", field ? field : file ? file : "",
		     field || file ? ": " : "", msg);
	if (w > 0)
		e->len += (size_t)w < sizeof(e->text) - e->len ?
			  (size_t)w : sizeof(e->text) - e->len - 1;
}

/* A registry snapshot or delta, applied in one transaction with its own
 * connection; wicketd's registry poll sees the commit and loads the new
 * copy between two passages, as after an import.  It runs on the loop
 * thread: a snapshot near the 8 MiB limit (50,000 persons) takes about
 * half a second here. */
static void apply_lists(struct remote *r, struct msg *m,
			const struct admin_bundle *b)
{
	struct errbuf e = { .len = 0 };
	char path[4200], msg[700];
	int64_t in_force = 0;
	int rc;

	if (r->regdb == NULL) {
		snprintf(path, sizeof(path), "%s/%s", r->state_dir, REG_FILE);
		if (reg_db_open(path, &r->regdb, msg, sizeof(msg)) < 0) {
			r->regdb = NULL;
			finish(r, m, "refused", ADMIN_E_INTERNAL, msg);
			return;
		}
		/* the loop waits at most this for an import holding the lock */
		reg_db_busy_ms(r->regdb, REG_BUSY_MS);
	}
	rc = reg_apply_lists(r->regdb, b->body, b->version, gather_reg_error,
			     &e, &in_force);
	if (rc == 0) {
		snprintf(msg, sizeof(msg), "registry version %lld in force",
			 (long long)b->version);
		finish(r, m, "applied", NULL, msg);
	} else if (rc == -EALREADY && b->version == in_force &&
		   r->lists_last.have && strcmp(r->lists_last.id, m->id) == 0 &&
		   (strcmp(r->lists_last.result, "applied") == 0 ||
		    strcmp(r->lists_last.result, "unchanged") == 0)) {
		snprintf(msg, sizeof(msg), "registry version %lld is in force already",
			 (long long)b->version);
		finish(r, m, "unchanged", NULL, msg);
	} else if (rc == -EALREADY) {
		snprintf(msg, sizeof(msg),
			 "version %lld is not newer than the registry version in force (%lld)",
			 (long long)b->version, (long long)in_force);
		finish(r, m, "refused", ADMIN_E_REPLAY, msg);
	} else if (rc == -ESTALE) {
		snprintf(msg, sizeof(msg),
			 "the delta is against version %lld, the version in force is %lld",
			 (long long)b->base, (long long)in_force);
		finish(r, m, "refused", ADMIN_E_WRONG_BASE, msg);
	} else if (rc > 0) {
		snprintf(msg, sizeof(msg), "%d error(s): %s", rc, e.text);
		finish(r, m, "refused", ADMIN_E_INVALID_LISTS, msg);
	} else if (rc == -EBUSY) {
		finish(r, m, "refused", ADMIN_E_INTERNAL,
		       "registry.db is busy (an import is running); push again");
	} else {
		snprintf(msg, sizeof(msg), "the registry could not be written: %s",
			 e.text[0] ? e.text : strerror(-rc));
		finish(r, m, "refused", ADMIN_E_INTERNAL, msg);
	}
}

/* Whether to audit (and answer) this refusal.  Refusals that come before
 * a good signature are rate-limited; when a new minute starts, what was
 * dropped in the last one is audited as one summary. */
static int unsigned_allowed(struct remote *r, const struct msg *m,
			    const char *code)
{
	int64_t now = ev_wall_ms();

	if (strcmp(code, ADMIN_E_BAD_ENVELOPE) != 0 &&
	    strcmp(code, ADMIN_E_UNKNOWN_KEY) != 0 &&
	    strcmp(code, ADMIN_E_BAD_SIGNATURE) != 0)
		return 1;
	if (now - r->unsigned_since_ms >= 60000) {
		if (r->unsigned_dropped > 0) {
			struct msg sum = *m;
			char text[200];

			sum.key = NULL;
			sum.cmd = NULL;
			sum.kind = ADMIN_CMD;	/* no state topic for the summary */
			sum.action = "unsigned";
			snprintf(text, sizeof(text),
				 "%u more unverified message(s) refused in the minute before, not audited one by one",
				 r->unsigned_dropped);
			finish(r, &sum, "refused", "flood", text);
		}
		r->unsigned_since_ms = now;
		r->unsigned_n = 0;
		r->unsigned_dropped = 0;
	}
	if (r->unsigned_n < UNSIGNED_PER_MIN) {
		r->unsigned_n++;
		return 1;
	}
	r->unsigned_dropped++;
	return 0;
}

void remote_message(struct remote *r, const char *topic, const void *payload,
		    size_t len, int retained, const char *response_topic,
		    const void *corr, size_t corr_len)
{
	struct admin_target t = { .site = r->site, .gate = r->gate };
	struct admin_bundle *b = NULL;
	struct msg m = { .topic = topic, .response_topic = response_topic,
			 .corr = corr, .corr_len = corr_len };
	const char *suffix, *code = NULL;
	char msg[600], claimed[ADMIN_KEY_ID_MAX + 1];

	m.retained = retained;
	if (strncmp(topic, r->prefix_gate, strlen(r->prefix_gate)) == 0)
		suffix = topic + strlen(r->prefix_gate);
	else if (strncmp(topic, r->prefix_all, strlen(r->prefix_all)) == 0)
		suffix = topic + strlen(r->prefix_all);
	else
		return;
	if (strcmp(suffix, "rules/set") == 0) {
		m.action = "rules";
		m.kind = ADMIN_RULES;
	} else if (strcmp(suffix, "rules/rollback") == 0) {
		m.action = "rollback";
		m.kind = ADMIN_ROLLBACK;
	} else if (strcmp(suffix, "lists/set") == 0) {
		m.action = "lists";
		m.kind = ADMIN_LISTS;
	} else if (strncmp(suffix, "cmd/", 4) == 0 &&
		   (strcmp(suffix + 4, "open") == 0 ||
		    strcmp(suffix + 4, "mode") == 0 ||
		    strcmp(suffix + 4, "status") == 0)) {
		m.action = "cmd";
		m.kind = ADMIN_CMD;
		m.cmd = suffix + 4;
	} else {
		return;		/* cmd/reply and the like: not ours */
	}
	if (ev_wall_ms() < CLOCK_SANE_MS && !r->clock_warned) {
		/* a board without a battery-backed clock, before NTP */
		log_warn("admin: the clock says %lld s after 1970; every signed message will be refused as not yet valid until the time is set (NTP)",
			 (long long)(ev_wall_ms() / 1000));
		r->clock_warned = 1;
	}
	push_id(payload, len, m.id, claimed);
	m.key = claimed[0] ? claimed : NULL;	/* what it claims, until verified */
	if (admin_verify(r->keys, &t, payload, len, ev_wall_ms() / 1000, &b,
			 &code, msg, sizeof(msg)) != 0) {
		if (!unsigned_allowed(r, &m, code))
			return;
		/* the response topic is not signed: an unverified message
		 * gets its answer on this gate's own cmd/reply only */
		m.response_topic = NULL;
		m.corr = NULL;
		m.corr_len = 0;
		if (m.kind == ADMIN_CMD)
			command_refused(r, &m, code, msg);
		else
			finish(r, &m, "refused", code, msg);
		return;
	}
	m.key = b->key;
	m.version = b->kind == ADMIN_CMD ? 0 : b->version;
	if (b->kind != m.kind) {
		snprintf(msg, sizeof(msg), "a %s bundle on %s",
			 admin_kind_name(b->kind), topic);
		if (m.kind == ADMIN_CMD)
			command_refused(r, &m, ADMIN_E_BAD_DOCUMENT, msg);
		else
			finish(r, &m, "refused", ADMIN_E_BAD_DOCUMENT, msg);
	} else if (b->kind == ADMIN_RULES) {
		apply_rules(r, &m, b);
	} else if (b->kind == ADMIN_ROLLBACK) {
		rollback(r, &m, b);
	} else if (b->kind == ADMIN_LISTS) {
		apply_lists(r, &m, b);
	} else {
		command(r, &m, b);
	}
	admin_bundle_free(b);
}
