/*
 * gatepass: a signed pass at the gate; see gatepass.h and docs/passes.md.
 *
 * pass_verify() says whether the token is good; this finds its subject in
 * registry.db and turns it into the facts the rules ask about, choosing
 * for a household pass the facts that are safe whoever of the members
 * holds it.  Nothing is kept between calls.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gatepass.h"

#define KEY_SHOWN 47	/* "pass " + 47 + " " + 10 digits = 63 */
#define KEY_CUT 38	/* + "~" + 8 hex digits = 47 */

/* A message, cut to fit if it must (a log line, not data). */
__attribute__((format(printf, 3, 4)))
static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

int gp_is_pass(const char *code, size_t len)
{
	if (code == NULL || len < PASS_PREFIX_LEN)
		return 0;
	for (size_t i = 0; i < PASS_PREFIX_LEN; i++) {
		unsigned char c = (unsigned char)code[i];

		/* ASCII only, whatever the locale */
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		if (c != (unsigned char)PASS_PREFIX[i])
			return 0;
	}
	return 1;
}

const char *gp_code(enum gp_verdict v)
{
	switch (v) {
	case GP_OK:
		return "ok";
	case GP_MALFORMED:
		return "pass_malformed";
	case GP_UNKNOWN_ISSUER:
		return "pass_unknown_issuer";
	case GP_TAMPERED:
		return "pass_tampered";
	case GP_NOT_YET_VALID:
		return "pass_not_yet_valid";
	case GP_EXPIRED:
		return "pass_expired";
	case GP_UNKNOWN_SUBJECT:
		return "pass_unknown_subject";
	case GP_INTERNAL:
		break;
	}
	return "pass_internal_error";
}

static enum gp_verdict verdict_of(enum pass_reason r)
{
	switch (r) {
	case PASS_OK:
		return GP_OK;
	case PASS_MALFORMED:
		return GP_MALFORMED;
	case PASS_UNKNOWN_ISSUER:
		return GP_UNKNOWN_ISSUER;
	case PASS_TAMPERED:
		return GP_TAMPERED;
	case PASS_NOT_YET_VALID:
		return GP_NOT_YET_VALID;
	case PASS_EXPIRED:
		return GP_EXPIRED;
	case PASS_INTERNAL:
		break;
	}
	return GP_INTERNAL;
}

/* FNV-1a, 32 bits: only to tell two cut key ids apart in the ledger. */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static void set_credential(struct gp_result *r)
{
	if (!r->parsed)
		snprintf(r->credential, sizeof(r->credential), "pass malformed");
	else if (strlen(r->key_id) <= KEY_SHOWN)
		snprintf(r->credential, sizeof(r->credential),
			 "pass %.*s %" PRIu32, KEY_SHOWN, r->key_id, r->serial);
	else
		snprintf(r->credential, sizeof(r->credential),
			 "pass %.*s~%08" PRIx32 " %" PRIu32, KEY_CUT, r->key_id,
			 fnv1a(r->key_id), r->serial);
}

static const char *utc(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%" PRId64, t);
	return buf;
}

/* --- a household pass's facts -------------------------------------------- */

/* Most restricted last: the rank a household pass takes the maximum of. */
static const int role_rank[RULES_ROLES] = {
	[RULES_ROLE_STAFF] = 0,
	[RULES_ROLE_RESIDENT] = 1,
	[RULES_ROLE_TENANT] = 2,
	[RULES_ROLE_VISITOR] = 3,
	[RULES_ROLE_COURIER] = 4,
};

struct household {
	size_t n;
	int any_valid, any_not_yet;
	enum rules_role role;
	int all_hosted;
	int64_t host;
	int quarantine, observation, blocked;
};

static void add_member(void *ctx, const struct reg_match *m)
{
	struct household *h = ctx;

	if (h->n == 0 || role_rank[m->role] > role_rank[h->role])
		h->role = m->role;
	h->n++;
	h->any_valid |= m->person == RULES_VALID;
	h->any_not_yet |= m->person == RULES_NOT_YET_VALID;
	if (m->host_hid == 0)
		h->all_hosted = 0;
	else if (h->host == 0)
		h->host = m->host_hid;
	h->quarantine |= m->quarantine;
	h->observation |= m->observation;
	h->blocked |= m->blocked;
}

static int find_household(struct reg_db *db, const char *id, int64_t now_s,
			  struct gp_result *out)
{
	struct household h = { .all_hosted = 1 };
	struct reg_match *m = &out->match;
	int64_t hid;
	int rc;

	rc = reg_db_household(db, id, now_s, &hid, add_member, &h);
	if (rc != 0)
		return rc;
	out->members = h.n;
	if (h.n == 0)
		return -ENODATA;
	memset(m, 0, sizeof(*m));
	m->credential = RULES_CRED_VALID;
	m->hid = hid;
	m->role = h.role;
	m->person = h.any_valid ? RULES_VALID : h.any_not_yet ?
		    RULES_NOT_YET_VALID : RULES_EXPIRED;
	m->host_hid = h.all_hosted ? h.host : 0;
	m->quarantine = h.quarantine;
	m->observation = h.observation;
	m->blocked = h.blocked;
	return 0;
}

/* The subject into out->match: 0, -ENOENT (not in the registry),
 * -ENODATA (a household without members), or -ENODEV / a database error. */
static int find_subject(struct reg_db *db, const struct pass *p,
			int64_t now_s, struct gp_result *out)
{
	int rc;

	if (db == NULL)
		rc = -ENODEV;
	else if (p->kind == PASS_HOUSEHOLD)
		rc = find_household(db, p->subject, now_s, out);
	else
		rc = reg_db_person(db, p->subject, now_s, &out->match);
	if (rc != 0) {
		memset(&out->match, 0, sizeof(out->match));
		out->match.credential = RULES_CRED_UNKNOWN;
	}
	return rc;
}

/* Why the subject was not found, for the message. */
static const char *subject_problem(const struct pass *p, int rc)
{
	switch (rc) {
	case -ENOENT:
		return p->kind == PASS_HOUSEHOLD ?
		       "the household is not in the registry" :
		       "the person is not in the registry";
	case -ENODATA:
		return "the household has no members in the registry";
	case -ENODEV:
		return "no registry database to look it up in";
	case -ERANGE:
		return "registry.db holds a row out of range";
	case -EBUSY:
		return "registry.db is locked";
	case -ENOMEM:
		return "out of memory";
	default:
		return "registry.db cannot be read";
	}
}

/* --- the check ----------------------------------------------------------- */

int gp_check(const struct pass_keys *keys, const char *code, size_t len,
	     int64_t now_s, struct reg_db *db, struct gp_result *out)
{
	struct pass p;
	enum pass_reason why;
	char msg[GP_MESSAGE_MAX], t[32];
	const char *kind;
	int rc;

	memset(out, 0, sizeof(*out));
	out->match.credential = RULES_CRED_UNKNOWN;
	memset(&p, 0, sizeof(p));
	msg[0] = '\0';
	if (code == NULL)
		len = 0;
	rc = pass_verify(keys, code ? code : "", len, now_s, &p, &why, msg,
			 sizeof(msg));
	out->verdict = verdict_of(why);
	/* pass_verify checks the format, then the issuer, the signature and
	 * the window: past the format every member of p is the token's */
	out->parsed = why != PASS_MALFORMED;
	out->verified = why == PASS_OK || why == PASS_NOT_YET_VALID ||
			why == PASS_EXPIRED;
	if (out->parsed) {
		out->kind = p.kind;
		snprintf(out->key_id, sizeof(out->key_id), "%s", p.key_id);
		out->serial = p.serial;
		out->valid_from = p.valid_from;
		out->valid_until = p.valid_until;
	}
	set_credential(out);
	kind = pass_kind_name(p.kind);
	if (!out->verified) {
		if (why == PASS_MALFORMED)
			say(out->message, sizeof(out->message),
			    "not a valid pass: %s", msg);
		else
			say(out->message, sizeof(out->message),
			    "%s pass: %s", kind, msg);
		return why == PASS_INTERNAL ? (rc < 0 ? rc : -EIO) : -EACCES;
	}

	rc = find_subject(db, &p, now_s, out);
	if (why != PASS_OK) {
		/* refused for its window: the subject only says whose it was */
		if (rc == 0)
			out->match.credential = why == PASS_EXPIRED ?
				RULES_CRED_EXPIRED : RULES_CRED_NOT_YET_VALID;
		say(out->message, sizeof(out->message), "%s pass: %s%s%s",
		    kind, msg, rc ? "; " : "",
		    rc ? subject_problem(&p, rc) : "");
		return -EACCES;
	}
	if (rc == -ENOENT || rc == -ENODATA) {
		out->verdict = GP_UNKNOWN_SUBJECT;
		say(out->message, sizeof(out->message), "%s pass: %s",
		    kind, subject_problem(&p, rc));
		return -EACCES;
	}
	if (rc != 0) {
		out->verdict = GP_INTERNAL;
		say(out->message, sizeof(out->message),
		    "%s pass: cannot look up its subject: %s", kind,
		    subject_problem(&p, rc));
		return rc;
	}
	if (p.kind == PASS_HOUSEHOLD)
		say(out->message, sizeof(out->message),
		    "household pass, %zu member%s, valid until %s",
		    out->members, out->members == 1 ? "" : "s",
		    utc(p.valid_until, t, sizeof(t)));
	else
		say(out->message, sizeof(out->message),
		    "person pass, valid until %s",
		    utc(p.valid_until, t, sizeof(t)));
	return 0;
}

void gp_refine(const struct gp_result *r, struct rules_verdict *v)
{
	static const char *const generic[] = {
		"unknown_credential", "revoked_credential",
		"expired_credential", "not_yet_valid_credential",
	};

	if (r->verdict == GP_OK || v->decision != RULES_DENY ||
	    v->reason == NULL)
		return;
	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
		if (strcmp(v->reason, generic[i]) == 0) {
			v->reason = gp_code(r->verdict);
			return;
		}
}
