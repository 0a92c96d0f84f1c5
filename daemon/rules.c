/*
 * rules: parse, validate, compile and evaluate the entry rules (the format
 * is in docs/rules.md), and run rule test cases (wicketctl rules test and
 * the unit tests use the same code, so a case passes or fails the same
 * way in both).
 *
 * Validation walks the jsontree of the document once, carrying the JSON
 * path of the node it looks at, and reports every error it finds (up to
 * MAX_ERRORS) with the node's line:column, so one run of `wicketctl rules
 * check` shows an administrator all that is wrong.  A document with any
 * error compiles to nothing: the daemon keeps the rules in force.
 *
 * Compiled, a rule is a bitmask of the conditions it has plus one small
 * value per condition (enum lists as bitmasks, booleans, a temperature
 * range, a time window, quota and passback look-backs), so rules_eval() is
 * a loop of integer tests with no allocation and no string work.
 *
 * Unreachable rules are refused: a rule that an earlier one always beats
 * is almost certainly a mistake in the order.  The check is condition
 * implication (see shadows()), which is sound but not complete: it never
 * flags a reachable rule, and may miss an unreachable one.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "jsontree.h"
#include "rules.h"

#define MAX_ERRORS 100		/* reported; the rest are only counted */
#define MAX_RULES 1000		/* eval is linear; more is a generated mess */
#define ID_MAX 63
#define MESSAGE_MAX 160
#define PATH_LEN 256
#define WHERE_LEN 512
#define PASSBACK_ANY_S (7 * 86400)	/* history kept for passback: true */

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

/* --- names ------------------------------------------------------------- */

static const char *const decision_names[] = { "deny", "allow", "retest" };
static const char *const severity_names[] = { "none", "low", "medium",
					      "high", "critical" };
static const char *const mode_names[] = { "normal", "residents-only",
					  "lockdown", "open" };
static const char *const dir_names[] = { "none", "in", "out" };
static const char *const cred_names[] = { "none", "missing", "unknown",
					  "revoked", "expired",
					  "not_yet_valid", "valid" };
static const char *const role_names[] = { "resident", "tenant", "visitor",
					  "staff", "courier" };
static const char *const validity_names[] = { "valid", "expired",
					      "not_yet_valid" };
static const char *const temp_names[] = { "none", "missing", "fault",
					  "present" };
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu",
					 "fri", "sat" };

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *const rules_reasons[] = {
	"resident", "tenant", "visitor", "staff", "courier",
	"temperature_ok", "emergency_open", "observation_exit",
	"unknown_credential", "revoked_credential", "expired_credential",
	"not_yet_valid_credential", "no_credential",
	"person_expired", "person_not_yet_valid", "no_host", "blocked",
	"quarantine_exit", "fever", "fever_retest", "retest_missing",
	"low_temperature", "no_temperature", "sensor_fault",
	"outside_hours", "residents_only", "lockdown", "quota_exceeded",
	"passback", "not_allowed", "no_rule",
	NULL,
};

static const char *name_of(const char *const *names, int n, int v)
{
	return v >= 0 && v < n ? names[v] : "?";
}

static int index_of(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

const char *rules_decision_name(enum rules_decision d)
{
	return name_of(decision_names, N_OF(decision_names), (int)d);
}

const char *rules_severity_name(enum rules_severity s)
{
	return name_of(severity_names, N_OF(severity_names), (int)s);
}

const char *rules_mode_name(enum rules_mode m)
{
	return name_of(mode_names, N_OF(mode_names), (int)m);
}

int rules_mode_parse(const char *name)
{
	return index_of(mode_names, N_OF(mode_names), name);
}

const char *rules_role_name(enum rules_role r)
{
	return name_of(role_names, N_OF(role_names), (int)r);
}

int rules_role_parse(const char *name)
{
	return index_of(role_names, N_OF(role_names), name);
}

const char *rules_cred_name(enum rules_cred c)
{
	return name_of(cred_names, N_OF(cred_names), (int)c);
}

static const char *catalog_reason(const char *s)
{
	for (int i = 0; rules_reasons[i]; i++)
		if (strcmp(rules_reasons[i], s) == 0)
			return rules_reasons[i];
	return NULL;
}

/* --- the compiled form -------------------------------------------------- */

enum {
	C_MODE = 1u << 0,
	C_DIR = 1u << 1,
	C_CRED = 1u << 2,
	C_ROLE = 1u << 3,
	C_PERSON = 1u << 4,
	C_HOST = 1u << 5,
	C_HOUSEHOLD = 1u << 6,
	C_QUARANTINE = 1u << 7,
	C_OBSERVATION = 1u << 8,
	C_BLOCKED = 1u << 9,
	C_TEMP = 1u << 10,
	C_RETEST = 1u << 11,
	C_TIME = 1u << 12,
	C_QUOTA = 1u << 13,
	C_PASSBACK = 1u << 14,
};

/* the conditions that say something about a person: none of them matches
 * a presentation that has none */
#define C_NEEDS_PERSON (C_ROLE | C_PERSON | C_HOST | C_HOUSEHOLD | \
			C_QUARANTINE | C_OBSERVATION | C_BLOCKED | C_QUOTA | \
			C_PASSBACK)

struct rule {
	/* what rules_eval() reads, first */
	unsigned conds;		/* C_* present */
	uint8_t modes, creds, roles, persons, days;	/* bitmasks */
	uint8_t dir;		/* enum rules_dir */
	uint8_t host, household, quarantine, observation, blocked, retest;
	uint8_t temp;		/* enum rules_temp */
	double t_lo, t_hi;	/* temp OK: t_lo <= t < t_hi */
	int16_t from, to;	/* minutes; from < 0: no window */
	int quota_exits;
	int64_t quota_s;
	int64_t passback_s;	/* 0: any age */
	int *dates, *except;	/* YYYYMMDD, ascending */
	size_t n_dates, n_except;
	enum rules_decision action;
	enum rules_severity alarm;
	const char *reason;	/* from rules_reasons[] */
	/* for messages and the verdict */
	int line, col;		/* of the rule's object */
	int id_line, id_col;
	int bad;		/* had an error (parse only) */
	char id[ID_MAX + 1];
	char message[MESSAGE_MAX + 1];
};

struct rules {
	int64_t version;
	int64_t retest_window_s;
	int64_t history_s;
	size_t n;
	struct rule *v;
};

/* --- evaluation --------------------------------------------------------- */

static int in_mask(unsigned mask, int v)
{
	return (unsigned)v < 8 && ((mask >> v) & 1u);
}

static int date_in(const int *v, size_t n, int date)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] == date)
			return 1;
		if (v[mid] < date)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int in_window(int from, int to, int minute)
{
	if (from < to)
		return minute >= from && minute < to;
	return minute >= from || minute < to;	/* past midnight */
}

static int matches(const struct rule *r, const struct rules_facts *f,
		   enum rules_temp temp)
{
	unsigned c = r->conds;

	if (c == 0)
		return 1;
	if ((c & C_NEEDS_PERSON) && !f->has_person)
		return 0;
	if ((c & C_MODE) && !in_mask(r->modes, (int)f->mode))
		return 0;
	if ((c & C_DIR) && (int)f->direction != r->dir)
		return 0;
	if ((c & C_CRED) && !in_mask(r->creds, (int)f->credential))
		return 0;
	if ((c & C_ROLE) && !in_mask(r->roles, (int)f->role))
		return 0;
	if ((c & C_PERSON) && !in_mask(r->persons, (int)f->person))
		return 0;
	if ((c & C_HOST) && !f->has_host != !r->host)
		return 0;
	if ((c & C_HOUSEHOLD) && !f->has_household != !r->household)
		return 0;
	if ((c & C_QUARANTINE) && !f->quarantine != !r->quarantine)
		return 0;
	if ((c & C_OBSERVATION) && !f->observation != !r->observation)
		return 0;
	if ((c & C_BLOCKED) && !f->blocked != !r->blocked)
		return 0;
	if ((c & C_RETEST) && !f->retest != !r->retest)
		return 0;
	if (c & C_TEMP) {
		if ((int)temp != r->temp)
			return 0;
		if (temp == RULES_TEMP_OK &&
		    !(f->temperature_c >= r->t_lo && f->temperature_c < r->t_hi))
			return 0;
	}
	if (c & C_TIME) {
		if (r->n_dates && !date_in(r->dates, r->n_dates, f->date))
			return 0;
		if (r->days && !in_mask(r->days, f->wday))
			return 0;
		if (r->from >= 0 && !in_window(r->from, r->to, f->minute))
			return 0;
		if (r->n_except && date_in(r->except, r->n_except, f->date))
			return 0;
	}
	if (c & C_QUOTA) {
		size_t n = f->n_exits < RULES_MAX_EXITS ? f->n_exits
							 : RULES_MAX_EXITS;
		int used = 0;

		if (!f->has_household)
			return 0;
		for (size_t i = 0; i < n; i++)
			used += f->exit_age_s[i] < r->quota_s;
		if (used < r->quota_exits)
			return 0;
	}
	if (c & C_PASSBACK) {
		if (f->last_direction == RULES_DIR_NONE ||
		    f->last_direction != f->direction)
			return 0;
		if (r->passback_s > 0 && f->last_age_s >= r->passback_s)
			return 0;
	}
	return 1;
}

void rules_eval(const struct rules *r, const struct rules_facts *f,
		struct rules_verdict *out)
{
	enum rules_temp temp = f->temperature;

	/* a reading that is not a number must not slip past the fever
	 * rule (every comparison with NaN is false): it is a fault */
	if (temp == RULES_TEMP_OK && !isfinite(f->temperature_c))
		temp = RULES_TEMP_FAULT;
	for (size_t i = 0; r && i < r->n; i++) {
		const struct rule *x = &r->v[i];

		if (!matches(x, f, temp))
			continue;
		out->decision = x->action;
		out->alarm = x->alarm;
		out->index = (int)i;
		out->rule = x->id;
		out->reason = x->reason;
		out->message = x->message;
		return;
	}
	out->decision = RULES_DENY;
	out->alarm = RULES_SEV_NONE;
	out->index = -1;
	out->rule = "default";
	out->reason = "no_rule";
	out->message = "no rule matched";
}

int64_t rules_version(const struct rules *r)
{
	return r->version;
}

int64_t rules_retest_window_ms(const struct rules *r)
{
	return r->retest_window_s * 1000;
}

int64_t rules_history_s(const struct rules *r)
{
	return r->history_s;
}

size_t rules_count(const struct rules *r)
{
	return r->n;
}

static void rule_clear(struct rule *x)
{
	free(x->dates);
	free(x->except);
	x->dates = x->except = NULL;
}

void rules_free(struct rules *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		rule_clear(&r->v[i]);
	free(r->v);
	free(r);
}

/* --- dates -------------------------------------------------------------- */

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
				      30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Day of the week of a civil date, 0 = Sunday (Sakamoto's method). */
static int weekday(int y, int m, int d)
{
	static const int t[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };

	if (m < 3)
		y--;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

int rules_date_parse(const char *s, int *date, int *wday)
{
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    digits(s, 4, &y) || digits(s + 5, 2, &m) || digits(s + 8, 2, &d))
		return -EINVAL;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
		return -EINVAL;
	if (date)
		*date = y * 10000 + m * 100 + d;
	if (wday)
		*wday = weekday(y, m, d);
	return 0;
}

/* "HH:MM" -> minutes since midnight, or -EINVAL */
static int parse_hhmm(const char *s)
{
	int h, m;

	if (strlen(s) != 5 || s[2] != ':' || digits(s, 2, &h) ||
	    digits(s + 3, 2, &m) || h > 23 || m > 59)
		return -EINVAL;
	return h * 60 + m;
}

/* --- validation: errors, paths ------------------------------------------ */

struct pctx {
	const char *name;
	rules_error_fn err;
	void *ectx;
	int n_errors;
	int nomem;		/* an allocation failed: give up, -ENOMEM */
	int *bad;		/* the current rule's error flag, or NULL */
	char path[PATH_LEN];
	size_t plen;
};

static void fail(struct pctx *x, int line, int col, const char *fmt, ...)
	PRINTF_LIKE(4, 5);

static void fail(struct pctx *x, int line, int col, const char *fmt, ...)
{
	char msg[512], where[WHERE_LEN];
	va_list ap;

	x->n_errors++;
	if (x->bad)
		*x->bad = 1;
	if (x->err == NULL || x->n_errors > MAX_ERRORS + 1)
		return;
	if (x->n_errors == MAX_ERRORS + 1) {
		x->err(x->ectx, x->name, "$",
		       "too many errors; the rest are not shown");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), "%s:%d:%d", x->name, line, col);
	else
		snprintf(where, sizeof(where), "%s", x->name);
	x->err(x->ectx, where, x->path, msg);
}

#define FAIL_AT(x, node, ...) fail((x), (node)->line, (node)->col, __VA_ARGS__)

static void path_add(struct pctx *x, const char *s)
{
	int w = snprintf(x->path + x->plen, sizeof(x->path) - x->plen, "%s", s);

	if (w > 0)
		x->plen += (size_t)w;
	if (x->plen >= sizeof(x->path))
		x->plen = sizeof(x->path) - 1;
}

/* A string for a message: quoted, escaped (it may hold anything JSON
 * allows, newlines included) and cut to a readable length. */
static const char *quote(char *buf, size_t size, const char *s)
{
	size_t o = 0, i, cut = 48;
	size_t end = size - 5;	/* room for "...", the closing quote, NUL */

	if (size < 16) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		size_t n = 1;

		if (i >= cut && (c & 0xc0) != 0x80)
			break;	/* cut at the start of a character */
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
		} else {
			esc[0] = (char)c;
		}
		if (o + n > end)
			break;
		memcpy(buf + o, esc, n);
		o += n;
	}
	if (s[i]) {
		/* bytes of a character cut in two were copied one for one:
		 * take them back */
		while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80) {
			i--;
			o--;
		}
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

#define Q(s) quote((char[80]){ 0 }, 80, (s))

static int plain_key(const char *k)
{
	if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
	      *k == '_'))
		return 0;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return 0;
	return 1;
}

static size_t push_key(struct pctx *x, const char *key)
{
	size_t old = x->plen;

	if (plain_key(key)) {
		path_add(x, ".");
		path_add(x, key);
	} else {
		path_add(x, "[");
		path_add(x, Q(key));
		path_add(x, "]");
	}
	return old;
}

static size_t push_index(struct pctx *x, size_t i)
{
	size_t old = x->plen;
	char b[32];

	snprintf(b, sizeof(b), "[%zu]", i);
	path_add(x, b);
	return old;
}

static void pop(struct pctx *x, size_t old)
{
	x->plen = old;
	x->path[old] = '\0';
}

static const char *tname(const struct jt_node *n)
{
	switch (n->type) {
	case JT_NULL:
		return "null";
	case JT_BOOL:
		return "true/false";
	case JT_NUMBER:
		return "number";
	case JT_STRING:
		return "string";
	case JT_ARRAY:
		return "list";
	case JT_OBJECT:
		return "object";
	}
	return "?";
}

/* For "did you mean" on unknown field names: within two edits, or one
 * name inside the other ("above" for "at_or_above"). */
static int near(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[32], prev, tmp;

	if ((la >= 4 && strstr(b, a)) || (lb >= 4 && strstr(a, b)))
		return 1;
	if (la >= 31 || lb >= 31 || (la > lb ? la - lb : lb - la) > 2)
		return 0;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb] <= 2;
}

static void unknown_field(struct pctx *x, const struct jt_node *m,
			  const char *const *allowed)
{
	size_t old = push_key(x, m->key);
	const char *hint = NULL;

	for (int i = 0; allowed[i]; i++)
		if (near(m->key, allowed[i])) {
			hint = allowed[i];
			break;
		}
	if (hint)
		fail(x, m->key_line, m->key_col,
		     "unknown field %s (did you mean \"%s\"?)", Q(m->key), hint);
	else
		fail(x, m->key_line, m->key_col, "unknown field %s", Q(m->key));
	pop(x, old);
}

static int in_names(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return 1;
	return 0;
}

static void check_fields(struct pctx *x, const struct jt_node *obj,
			 const char *const *allowed)
{
	for (const struct jt_node *m = obj->kids; m; m = m->next)
		if (!in_names(allowed, m->key))
			unknown_field(x, m, allowed);
}

static int want_object(struct pctx *x, const struct jt_node *v)
{
	if (v->type == JT_OBJECT)
		return 1;
	FAIL_AT(x, v, "expected an object, got %s", tname(v));
	return 0;
}

static const struct jt_node *need(struct pctx *x, const struct jt_node *obj,
				  const char *key)
{
	const struct jt_node *v = jt_get(obj, key);

	if (v == NULL)
		FAIL_AT(x, obj, "missing field \"%s\"", key);
	return v;
}

static void choices(char *buf, size_t size, const char *const *names, int n,
		    int from)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = from; i < n && o < size; i++) {
		int w = snprintf(buf + o, size - o, "%s%s", i > from ? ", " : "",
				 names[i]);

		if (w < 0)
			break;
		o += (size_t)w;
	}
}

/* One name of a small set; -1 after reporting. */
static int get_name(struct pctx *x, const struct jt_node *v,
		    const char *const *names, int n, int from, const char *what)
{
	char list[256];
	int k;

	if (v->type != JT_STRING) {
		FAIL_AT(x, v, "expected a string, got %s", tname(v));
		return -1;
	}
	k = index_of(names + from, n - from, v->s);
	if (k >= 0)
		return k + from;
	choices(list, sizeof(list), names, n, from);
	FAIL_AT(x, v, "unknown %s %s (one of: %s)", what, Q(v->s), list);
	return -1;
}

/* A name or a non-empty list of distinct names, as a bitmask. */
static unsigned get_names(struct pctx *x, const struct jt_node *v,
			  const char *const *names, int n, const char *what)
{
	unsigned mask = 0;
	size_t i = 0;

	if (v->type == JT_STRING) {
		int k = get_name(x, v, names, n, 0, what);

		return k < 0 ? 0 : 1u << k;
	}
	if (v->type != JT_ARRAY) {
		FAIL_AT(x, v, "expected a string or a list of strings, got %s",
			tname(v));
		return 0;
	}
	if (v->n == 0)
		FAIL_AT(x, v, "empty list: leave the condition out to match "
			"any %s", what);
	for (const struct jt_node *e = v->kids; e; e = e->next, i++) {
		size_t old = push_index(x, i);
		int k = get_name(x, e, names, n, 0, what);

		if (k >= 0 && (mask & (1u << k)))
			FAIL_AT(x, e, "%s %s is already in the list", what,
				Q(e->s));
		if (k >= 0)
			mask |= 1u << k;
		pop(x, old);
	}
	return mask;
}

static int get_bool(struct pctx *x, const struct jt_node *v, uint8_t *out)
{
	if (v->type != JT_BOOL) {
		FAIL_AT(x, v, "expected true or false, got %s", tname(v));
		return -1;
	}
	*out = (uint8_t)(v->b != 0);
	return 0;
}

static int get_int(struct pctx *x, const struct jt_node *v, int64_t min,
		   int64_t max, int64_t *out)
{
	if (v->type != JT_NUMBER) {
		FAIL_AT(x, v, "expected a whole number, got %s", tname(v));
		return -1;
	}
	if (!v->is_int) {
		FAIL_AT(x, v, "expected a whole number, got %.10g", v->num);
		return -1;
	}
	if (v->i < min || v->i > max) {
		if (max == INT64_MAX)
			FAIL_AT(x, v, "%lld is too small: at least %lld",
				(long long)v->i, (long long)min);
		else
			FAIL_AT(x, v, "%lld is out of range %lld..%lld",
				(long long)v->i, (long long)min,
				(long long)max);
		return -1;
	}
	*out = v->i;
	return 0;
}

static int get_num(struct pctx *x, const struct jt_node *v, double min,
		   double max, double *out)
{
	if (v->type != JT_NUMBER) {
		FAIL_AT(x, v, "expected a number, got %s", tname(v));
		return -1;
	}
	if (!(v->num >= min && v->num <= max)) {
		FAIL_AT(x, v, "%.10g is out of range %.10g..%.10g", v->num,
			min, max);
		return -1;
	}
	*out = v->num;
	return 0;
}

/* --- validation: conditions --------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* A date or a non-empty list of distinct dates, sorted into *out. */
static void get_dates(struct pctx *x, const struct jt_node *v, int **out,
		      size_t *n_out)
{
	const struct jt_node *one = v;
	size_t n = 1, i = 0;
	int *d;

	if (v->type == JT_ARRAY) {
		n = v->n;
		one = v->kids;
		if (n == 0) {
			FAIL_AT(x, v, "empty list of dates: leave it out");
			return;
		}
	} else if (v->type != JT_STRING) {
		FAIL_AT(x, v, "expected a date or a list of dates, got %s",
			tname(v));
		return;
	}
	d = calloc(n, sizeof(*d));
	if (d == NULL) {
		x->nomem = 1;
		return;
	}
	for (const struct jt_node *e = one; e && i < n; e = e->next, i++) {
		size_t old = v->type == JT_ARRAY ? push_index(x, i) : x->plen;
		int date = 0;

		if (e->type != JT_STRING)
			FAIL_AT(x, e, "expected a date \"YYYY-MM-DD\", got %s",
				tname(e));
		else if (rules_date_parse(e->s, &date, NULL) < 0)
			FAIL_AT(x, e, "%s is not a date \"YYYY-MM-DD\" "
				"(a real one, from 1970)", Q(e->s));
		else
			for (size_t j = 0; j < i; j++)
				if (d[j] == date) {
					FAIL_AT(x, e, "date %s is already "
						"in the list", Q(e->s));
					break;
				}
		d[i] = date;
		pop(x, old);
	}
	qsort(d, n, sizeof(*d), cmp_int);
	*out = d;
	*n_out = n;
}

static const char *const time_fields[] = { "days", "from", "to", "dates",
					   "except_dates", NULL };

static void get_time(struct pctx *x, const struct jt_node *v, struct rule *r)
{
	const struct jt_node *from = NULL, *to = NULL;

	r->from = r->to = -1;
	if (!want_object(x, v))
		return;
	if (v->n == 0)
		FAIL_AT(x, v, "empty time: give days, from and to, dates or "
			"except_dates");
	for (const struct jt_node *m = v->kids; m; m = m->next) {
		size_t old;

		if (!in_names(time_fields, m->key)) {
			unknown_field(x, m, time_fields);
			continue;
		}
		old = push_key(x, m->key);
		if (strcmp(m->key, "days") == 0) {
			r->days = (uint8_t)get_names(x, m, day_names,
						     N_OF(day_names), "day");
		} else if (strcmp(m->key, "from") == 0 ||
			   strcmp(m->key, "to") == 0) {
			int t = -1;

			if (m->type != JT_STRING)
				FAIL_AT(x, m, "expected a time \"HH:MM\", got %s",
					tname(m));
			else if ((t = parse_hhmm(m->s)) < 0)
				FAIL_AT(x, m, "%s is not a time \"HH:MM\" "
					"(00:00 to 23:59)", Q(m->s));
			if (m->key[0] == 'f') {
				from = m;
				r->from = (int16_t)t;
			} else {
				to = m;
				r->to = (int16_t)t;
			}
		} else if (strcmp(m->key, "dates") == 0) {
			get_dates(x, m, &r->dates, &r->n_dates);
		} else {
			get_dates(x, m, &r->except, &r->n_except);
		}
		pop(x, old);
	}
	if ((from == NULL) != (to == NULL)) {
		FAIL_AT(x, v, "missing field \"%s\" (from and to go together)",
			from ? "to" : "from");
		r->from = r->to = -1;
	} else if (from && r->from >= 0 && r->from == r->to) {
		size_t old = push_key(x, "to");

		FAIL_AT(x, to, "from and to are the same time: the window "
			"would be empty");
		pop(x, old);
	}
	if (r->from < 0 || r->to < 0)
		r->from = r->to = -1;
	for (size_t i = 0; i < r->n_dates; i++)
		if (r->except && date_in(r->except, r->n_except, r->dates[i])) {
			FAIL_AT(x, v, "date %04d-%02d-%02d is in both dates and "
				"except_dates", r->dates[i] / 10000,
				r->dates[i] / 100 % 100, r->dates[i] % 100);
			break;
		}
}

static const char *const temp_fields[] = { "at_or_above", "below", NULL };

static void get_temperature(struct pctx *x, const struct jt_node *v,
			    struct rule *r)
{
	const struct jt_node *lo, *hi;

	r->t_lo = -INFINITY;
	r->t_hi = INFINITY;
	if (v->type == JT_STRING) {
		/* temp_names follows enum rules_temp: "present" is OK, with
		 * the range (-inf, inf) */
		int k = get_name(x, v, temp_names, N_OF(temp_names), 0,
				 "temperature state");

		r->temp = (uint8_t)(k < 0 ? 0 : k);
		return;
	}
	if (v->type != JT_OBJECT) {
		FAIL_AT(x, v, "expected a string (none, missing, fault, "
			"present) or an object (at_or_above, below), got %s",
			tname(v));
		return;
	}
	r->temp = RULES_TEMP_OK;
	check_fields(x, v, temp_fields);
	lo = jt_get(v, "at_or_above");
	hi = jt_get(v, "below");
	if (lo == NULL && hi == NULL) {
		FAIL_AT(x, v, "give at_or_above, below or both");
		return;
	}
	if (lo) {
		size_t old = push_key(x, "at_or_above");

		if (get_num(x, lo, 20, 50, &r->t_lo) < 0)
			lo = NULL;
		pop(x, old);
	}
	if (hi) {
		size_t old = push_key(x, "below");

		if (get_num(x, hi, 20, 50, &r->t_hi) < 0)
			hi = NULL;
		pop(x, old);
	}
	if (lo && hi && !(r->t_lo < r->t_hi))
		FAIL_AT(x, v, "empty range: at_or_above (%.10g) must be less "
			"than below (%.10g)", r->t_lo, r->t_hi);
}

static const char *const quota_fields[] = { "exits", "hours", NULL };

static void get_quota(struct pctx *x, const struct jt_node *v, struct rule *r)
{
	const struct jt_node *e, *h;
	int64_t n = 0, hours = 0;

	if (!want_object(x, v))
		return;
	check_fields(x, v, quota_fields);
	e = need(x, v, "exits");
	h = need(x, v, "hours");
	if (e) {
		size_t old = push_key(x, "exits");

		/* the facts carry at most RULES_MAX_EXITS exits: a bigger
		 * quota could never be reached */
		get_int(x, e, 1, RULES_MAX_EXITS, &n);
		pop(x, old);
	}
	if (h) {
		size_t old = push_key(x, "hours");

		get_int(x, h, 1, 8760, &hours);
		pop(x, old);
	}
	r->quota_exits = (int)n;
	r->quota_s = hours * 3600;
}

static const char *const passback_fields[] = { "hours", NULL };

static void get_passback(struct pctx *x, const struct jt_node *v,
			 struct rule *r)
{
	const struct jt_node *h;
	int64_t hours = 0;

	r->passback_s = 0;
	if (v->type == JT_BOOL) {
		if (!v->b)
			FAIL_AT(x, v, "passback false is not a condition: "
				"leave it out");
		return;
	}
	if (v->type != JT_OBJECT) {
		FAIL_AT(x, v, "expected true or an object {\"hours\": H}, "
			"got %s", tname(v));
		return;
	}
	check_fields(x, v, passback_fields);
	h = need(x, v, "hours");
	if (h) {
		size_t old = push_key(x, "hours");

		get_int(x, h, 1, 8760, &hours);
		pop(x, old);
	}
	r->passback_s = hours * 3600;
}

static const char *const when_fields[] = {
	"mode", "direction", "credential", "role", "person", "host",
	"household", "quarantine", "observation", "blocked", "temperature",
	"retest", "time", "quota", "passback", NULL,
};

/* in the order of when_fields */
static const unsigned when_bits[] = {
	C_MODE, C_DIR, C_CRED, C_ROLE, C_PERSON, C_HOST, C_HOUSEHOLD,
	C_QUARANTINE, C_OBSERVATION, C_BLOCKED, C_TEMP, C_RETEST, C_TIME,
	C_QUOTA, C_PASSBACK,
};

static void get_when(struct pctx *x, const struct jt_node *v, struct rule *r)
{
	if (!want_object(x, v))
		return;
	for (const struct jt_node *m = v->kids; m; m = m->next) {
		int k = index_of(when_fields, N_OF(when_fields) - 1, m->key);
		size_t old;

		if (k < 0) {
			unknown_field(x, m, when_fields);
			continue;
		}
		r->conds |= when_bits[k];
		old = push_key(x, m->key);
		switch (when_bits[k]) {
		case C_MODE:
			r->modes = (uint8_t)get_names(x, m, mode_names,
						      N_OF(mode_names), "mode");
			break;
		case C_DIR: {
			int d = get_name(x, m, dir_names, N_OF(dir_names), 1,
					 "direction");

			r->dir = (uint8_t)(d < 0 ? 0 : d);
			break;
		}
		case C_CRED:
			r->creds = (uint8_t)get_names(x, m, cred_names,
						      N_OF(cred_names),
						      "credential state");
			break;
		case C_ROLE:
			r->roles = (uint8_t)get_names(x, m, role_names,
						      N_OF(role_names), "role");
			break;
		case C_PERSON:
			r->persons = (uint8_t)get_names(x, m, validity_names,
							N_OF(validity_names),
							"person state");
			break;
		case C_HOST:
			get_bool(x, m, &r->host);
			break;
		case C_HOUSEHOLD:
			get_bool(x, m, &r->household);
			break;
		case C_QUARANTINE:
			get_bool(x, m, &r->quarantine);
			break;
		case C_OBSERVATION:
			get_bool(x, m, &r->observation);
			break;
		case C_BLOCKED:
			get_bool(x, m, &r->blocked);
			break;
		case C_RETEST:
			get_bool(x, m, &r->retest);
			break;
		case C_TEMP:
			get_temperature(x, m, r);
			break;
		case C_TIME:
			get_time(x, m, r);
			break;
		case C_QUOTA:
			get_quota(x, m, r);
			break;
		case C_PASSBACK:
			get_passback(x, m, r);
			break;
		}
		pop(x, old);
	}
}

/* --- validation: rules and the document --------------------------------- */

static int valid_id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static void get_id(struct pctx *x, const struct jt_node *v, struct rule *r)
{
	size_t i;

	if (v->type != JT_STRING) {
		FAIL_AT(x, v, "expected a string, got %s", tname(v));
		return;
	}
	if (v->len == 0 || v->len > ID_MAX) {
		FAIL_AT(x, v, "rule id %s must be 1 to %d characters", Q(v->s),
			ID_MAX);
		return;
	}
	for (i = 0; i < v->len; i++)
		if (!valid_id_char(v->s[i])) {
			FAIL_AT(x, v, "rule id %s may only use A-Z a-z 0-9 _ . -",
				Q(v->s));
			return;
		}
	if (strcmp(v->s, "default") == 0) {
		FAIL_AT(x, v, "rule id \"default\" is reserved: it names the "
			"verdict when no rule matches");
		return;
	}
	memcpy(r->id, v->s, v->len + 1);
}

static void get_message(struct pctx *x, const struct jt_node *v,
			struct rule *r)
{
	if (v->type != JT_STRING) {
		FAIL_AT(x, v, "expected a string, got %s", tname(v));
		return;
	}
	if (v->len == 0 || v->len > MESSAGE_MAX) {
		FAIL_AT(x, v, "message is %zu bytes: it must be 1 to %d", v->len,
			MESSAGE_MAX);
		return;
	}
	for (size_t i = 0; i < v->len; i++)
		if ((unsigned char)v->s[i] < 0x20 || v->s[i] == 0x7f) {
			FAIL_AT(x, v, "message has a control character "
				"(newline, tab...): keep it to one line");
			return;
		}
	memcpy(r->message, v->s, v->len + 1);
}

static const char *const rule_fields[] = { "id", "description", "when",
					   "action", "alarm", "reason",
					   "message", NULL };

static void get_rule(struct pctx *x, const struct jt_node *v, struct rule *r)
{
	const struct jt_node *m;
	int k;

	r->line = v->line;
	r->col = v->col;
	r->from = r->to = -1;
	if (!want_object(x, v))
		return;
	check_fields(x, v, rule_fields);
	if ((m = need(x, v, "id")) != NULL) {
		size_t old = push_key(x, "id");

		r->id_line = m->line;
		r->id_col = m->col;
		get_id(x, m, r);
		pop(x, old);
	}
	if ((m = jt_get(v, "description")) != NULL && m->type != JT_STRING) {
		size_t old = push_key(x, "description");

		FAIL_AT(x, m, "expected a string, got %s", tname(m));
		pop(x, old);
	}
	if ((m = jt_get(v, "when")) != NULL) {
		size_t old = push_key(x, "when");

		get_when(x, m, r);
		pop(x, old);
	}
	if ((m = need(x, v, "action")) != NULL) {
		size_t old = push_key(x, "action");

		k = get_name(x, m, decision_names, N_OF(decision_names), 0,
			     "action");
		r->action = k < 0 ? RULES_DENY : (enum rules_decision)k;
		pop(x, old);
	}
	if ((m = jt_get(v, "alarm")) != NULL) {
		size_t old = push_key(x, "alarm");

		if (m->type == JT_STRING && strcmp(m->s, "none") == 0)
			FAIL_AT(x, m, "alarm \"none\": leave alarm out for no "
				"alarm");
		else if ((k = get_name(x, m, severity_names,
				       N_OF(severity_names), 1, "alarm")) > 0)
			r->alarm = (enum rules_severity)k;
		pop(x, old);
	}
	if ((m = need(x, v, "reason")) != NULL) {
		size_t old = push_key(x, "reason");

		if (m->type != JT_STRING)
			FAIL_AT(x, m, "expected a string, got %s", tname(m));
		else if ((r->reason = catalog_reason(m->s)) == NULL)
			FAIL_AT(x, m, "unknown reason code %s (docs/rules.md "
				"lists them)", Q(m->s));
		pop(x, old);
	}
	if ((m = need(x, v, "message")) != NULL) {
		size_t old = push_key(x, "message");

		get_message(x, m, r);
		pop(x, old);
	}
}

static int subset(unsigned a, unsigned b)
{
	return (a & ~b) == 0;
}

static int same_dates(const int *a, size_t na, const int *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

/* Does a match every presentation that b matches?  For each condition a
 * has, b must have it too and b's must imply a's; a condition a lacks
 * does not narrow a.  Sound, not complete: time, quota and passback only
 * count when equal. */
static int shadows(const struct rule *a, const struct rule *b)
{
	unsigned c = a->conds;

	if (!subset(c, b->conds))
		return 0;
	if ((c & C_MODE) && !subset(b->modes, a->modes))
		return 0;
	if ((c & C_DIR) && a->dir != b->dir)
		return 0;
	if ((c & C_CRED) && !subset(b->creds, a->creds))
		return 0;
	if ((c & C_ROLE) && !subset(b->roles, a->roles))
		return 0;
	if ((c & C_PERSON) && !subset(b->persons, a->persons))
		return 0;
	if ((c & C_HOST) && a->host != b->host)
		return 0;
	if ((c & C_HOUSEHOLD) && a->household != b->household)
		return 0;
	if ((c & C_QUARANTINE) && a->quarantine != b->quarantine)
		return 0;
	if ((c & C_OBSERVATION) && a->observation != b->observation)
		return 0;
	if ((c & C_BLOCKED) && a->blocked != b->blocked)
		return 0;
	if ((c & C_RETEST) && a->retest != b->retest)
		return 0;
	/* "present" is the range (-inf, inf), so it covers any range */
	if ((c & C_TEMP) && (a->temp != b->temp ||
			     (a->temp == RULES_TEMP_OK &&
			      !(a->t_lo <= b->t_lo && b->t_hi <= a->t_hi))))
		return 0;
	if ((c & C_TIME) && (a->days != b->days || a->from != b->from ||
			     a->to != b->to ||
			     !same_dates(a->dates, a->n_dates, b->dates,
					 b->n_dates) ||
			     !same_dates(a->except, a->n_except, b->except,
					 b->n_except)))
		return 0;
	if ((c & C_QUOTA) && (a->quota_exits != b->quota_exits ||
			      a->quota_s != b->quota_s))
		return 0;
	if ((c & C_PASSBACK) && a->passback_s != b->passback_s)
		return 0;
	return 1;
}

/* Duplicate ids, then unreachable rules.  Rules with errors of their own
 * take no part in the reachability check: their conditions are partial. */
static void check_order(struct pctx *x, const struct rule *v, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		size_t old = push_index(x, j);

		for (size_t i = 0; v[j].id[0] && i < j; i++) {
			size_t o2;
			char first[32];

			if (strcmp(v[i].id, v[j].id) != 0)
				continue;
			snprintf(first, sizeof(first), "$.rules[%zu]", i);
			o2 = push_key(x, "id");
			fail(x, v[j].id_line, v[j].id_col,
			     "duplicate rule id %s (first at %s)", Q(v[j].id),
			     first);
			pop(x, o2);
			break;
		}
		for (size_t i = 0; !v[j].bad && i < j; i++) {
			if (v[i].bad || !shadows(&v[i], &v[j]))
				continue;
			fail(x, v[j].line, v[j].col,
			     "unreachable: rule %s at $.rules[%zu] (line %d) "
			     "matches everything this rule matches",
			     Q(v[i].id), i, v[i].line);
			break;
		}
		pop(x, old);
	}
}

/* jsontree says "LINE:COL: message" */
static void syntax_error(struct pctx *x, const char *e)
{
	const char *msg = e;
	char *end, *end2;
	long line, col = 0;

	line = strtol(e, &end, 10);
	if (end != e && *end == ':') {
		col = strtol(end + 1, &end2, 10);
		if (end2 != end + 1 && *end2 == ':') {
			msg = end2 + 1;
			while (*msg == ' ')
				msg++;
		} else {
			line = col = 0;
		}
	} else {
		line = 0;
	}
	if (line < 0 || line > 1000000000 || col < 0 || col > 1000000000)
		line = col = 0;
	fail(x, (int)line, (int)col, "%s", msg);
}

static void pctx_init(struct pctx *x, const char *name, rules_error_fn err,
		      void *ctx)
{
	memset(x, 0, sizeof(*x));
	x->name = name ? name : "-";
	x->err = err;
	x->ectx = ctx;
	path_add(x, "$");
}

/* Parse text into a tree, reporting a syntax error as the one error.
 * Returns the root, or NULL with x->n_errors or x->nomem set. */
static const struct jt_node *tree(struct pctx *x, const char *text,
				  size_t len, struct jt_doc **doc)
{
	char e[256];
	int rc = jt_parse(text, len, doc, e, sizeof(e));

	if (rc == -ENOMEM) {
		x->nomem = 1;
		return NULL;
	}
	if (rc < 0) {
		syntax_error(x, e);
		return NULL;
	}
	return jt_root(*doc);
}

static const char *const doc_fields[] = { "version", "description",
					  "retest_window_s", "rules", NULL };

static void get_document(struct pctx *x, const struct jt_node *root,
			 struct rules *r)
{
	const struct jt_node *m;

	r->retest_window_s = 30;
	if (!want_object(x, root))
		return;
	check_fields(x, root, doc_fields);
	if ((m = need(x, root, "version")) != NULL) {
		size_t old = push_key(x, "version");

		get_int(x, m, 1, INT64_MAX, &r->version);
		pop(x, old);
	}
	if ((m = jt_get(root, "description")) != NULL &&
	    m->type != JT_STRING) {
		size_t old = push_key(x, "description");

		FAIL_AT(x, m, "expected a string, got %s", tname(m));
		pop(x, old);
	}
	if ((m = jt_get(root, "retest_window_s")) != NULL) {
		size_t old = push_key(x, "retest_window_s");

		get_int(x, m, 5, 600, &r->retest_window_s);
		pop(x, old);
	}
	if ((m = need(x, root, "rules")) != NULL) {
		size_t old = push_key(x, "rules");
		size_t i = 0;

		if (m->type != JT_ARRAY) {
			FAIL_AT(x, m, "expected a list of rules, got %s",
				tname(m));
		} else if (m->n == 0) {
			FAIL_AT(x, m, "no rules: give at least one");
		} else if (m->n > MAX_RULES) {
			FAIL_AT(x, m, "%zu rules: at most %d", m->n, MAX_RULES);
		} else if ((r->v = calloc(m->n, sizeof(*r->v))) == NULL) {
			x->nomem = 1;
		} else {
			for (const struct jt_node *e = m->kids; e && !x->nomem;
			     e = e->next, i++) {
				size_t o2 = push_index(x, i);

				r->n = i + 1;
				x->bad = &r->v[i].bad;
				get_rule(x, e, &r->v[i]);
				x->bad = NULL;
				pop(x, o2);
			}
			check_order(x, r->v, r->n);
		}
		pop(x, old);
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct rule *v = &r->v[i];

		if ((v->conds & C_QUOTA) && v->quota_s > r->history_s)
			r->history_s = v->quota_s;
		if (v->conds & C_PASSBACK) {
			int64_t s = v->passback_s ? v->passback_s
						  : PASSBACK_ANY_S;

			if (s > r->history_s)
				r->history_s = s;
		}
	}
}

int rules_parse(const char *text, size_t len, const char *name,
		struct rules **out, rules_error_fn err, void *ctx)
{
	const struct jt_node *root;
	struct jt_doc *doc = NULL;
	struct rules *r = NULL;
	struct pctx x;

	*out = NULL;
	pctx_init(&x, name, err, ctx);
	root = tree(&x, text, len, &doc);
	if (root != NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			x.nomem = 1;
		else
			get_document(&x, root, r);
	}
	jt_free(doc);
	if (x.nomem || x.n_errors) {
		rules_free(r);
		return x.nomem ? -ENOMEM : x.n_errors;
	}
	*out = r;
	return 0;
}

/* A file that cannot be read: one error, or -ENOMEM. */
static int read_or_fail(struct pctx *x, const char *path, char **text,
			size_t *len)
{
	int rc = fs_read_file(path, RULES_FILE_MAX, text, len);

	if (rc == -ENOMEM)
		return rc;
	if (rc == -EFBIG)
		fail(x, 0, 0, "larger than %d bytes", RULES_FILE_MAX);
	else if (rc < 0)
		fail(x, 0, 0, "cannot read: %s", strerror(-rc));
	return rc < 0 ? x->n_errors : 0;
}

int rules_load(const char *path, struct rules **out, rules_error_fn err,
	       void *ctx)
{
	struct pctx x;
	size_t len;
	char *text;
	int rc;

	*out = NULL;
	pctx_init(&x, path, err, ctx);
	rc = read_or_fail(&x, path, &text, &len);
	if (rc != 0)
		return rc;
	rc = rules_parse(text, len, path, out, err, ctx);
	free(text);
	return rc;
}

/* --- test cases ---------------------------------------------------------- */

struct rcase_set {
	size_t n;
	struct rcase *v;
};

size_t rcase_count(const struct rcase_set *s)
{
	return s ? s->n : 0;
}

const struct rcase *rcase_get(const struct rcase_set *s, size_t i)
{
	return s && i < s->n ? &s->v[i] : NULL;
}

void rcase_free(struct rcase_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	free(s);
}

static int64_t hours_to_s(double h)
{
	return (int64_t)(h * 3600.0 + 0.5);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

#define MAX_HOURS 1000000.0

/* "YYYY-MM-DDTHH:MM", local wall time with no zone */
static void given_time(struct pctx *x, const struct jt_node *v,
		       struct rules_facts *f)
{
	char day[11];
	int minute;

	if (v->type != JT_STRING) {
		FAIL_AT(x, v, "expected a time \"YYYY-MM-DDTHH:MM\", got %s",
			tname(v));
		return;
	}
	if (v->len == 16 && v->s[10] == 'T') {
		memcpy(day, v->s, 10);
		day[10] = '\0';
		minute = parse_hhmm(v->s + 11);
		if (minute >= 0 &&
		    rules_date_parse(day, &f->date, &f->wday) == 0) {
			f->minute = minute;
			return;
		}
	}
	FAIL_AT(x, v, "%s is not a time \"YYYY-MM-DDTHH:MM\" (a real date "
		"from 1970, 00:00 to 23:59)", Q(v->s));
}

static void given_exits(struct pctx *x, const struct jt_node *v,
			struct rules_facts *f)
{
	size_t i = 0;

	if (v->type != JT_ARRAY) {
		FAIL_AT(x, v, "expected a list of numbers (hours), got %s",
			tname(v));
		return;
	}
	if (v->n > RULES_MAX_EXITS) {
		FAIL_AT(x, v, "%zu exits: at most %d", v->n, RULES_MAX_EXITS);
		return;
	}
	for (const struct jt_node *e = v->kids; e; e = e->next, i++) {
		size_t old = push_index(x, i);
		double h;

		if (get_num(x, e, 0, MAX_HOURS, &h) == 0)
			f->exit_age_s[f->n_exits++] = hours_to_s(h);
		pop(x, old);
	}
	qsort(f->exit_age_s, f->n_exits, sizeof(f->exit_age_s[0]), cmp_i64);
}

static void given_temperature(struct pctx *x, const struct jt_node *v,
			      struct rules_facts *f)
{
	int k;

	if (v->type == JT_NUMBER) {
		if (get_num(x, v, 0, 100, &f->temperature_c) == 0)
			f->temperature = RULES_TEMP_OK;
		return;
	}
	if (v->type != JT_STRING) {
		FAIL_AT(x, v, "expected a number or \"none\", \"missing\", "
			"\"fault\", got %s", tname(v));
		return;
	}
	/* "present" has no reading: the case gives the number instead */
	k = get_name(x, v, temp_names, RULES_TEMP_OK, 0, "temperature");
	if (k >= 0)
		f->temperature = (enum rules_temp)k;
}

static const char *const given_fields[] = {
	"mode", "direction", "credential", "role", "person", "household",
	"host", "quarantine", "observation", "blocked", "temperature",
	"retest", "time", "last_direction", "last_hours_ago",
	"exits_hours_ago", NULL,
};

static void given_flag(struct pctx *x, const struct jt_node *m, int *out)
{
	uint8_t b;

	if (get_bool(x, m, &b) == 0)
		*out = b;
}

static void get_given(struct pctx *x, const struct jt_node *v,
		      struct rules_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->mode = RULES_MODE_NORMAL;
	f->direction = RULES_DIR_IN;
	f->credential = RULES_CRED_VALID;
	f->role = RULES_ROLE_RESIDENT;
	f->person = RULES_VALID;
	f->has_household = 1;
	f->temperature = RULES_TEMP_NONE;
	f->date = 20260105;	/* a Monday */
	f->wday = 1;
	f->minute = 12 * 60;
	f->last_direction = RULES_DIR_NONE;
	f->last_age_s = 3600;
	if (v != NULL && want_object(x, v)) {
		for (const struct jt_node *m = v->kids; m; m = m->next) {
			const char *k = m->key;
			size_t old;
			int n;

			if (!in_names(given_fields, k)) {
				unknown_field(x, m, given_fields);
				continue;
			}
			old = push_key(x, k);
			if (strcmp(k, "mode") == 0) {
				n = get_name(x, m, mode_names, N_OF(mode_names),
					     0, "mode");
				if (n >= 0)
					f->mode = (enum rules_mode)n;
			} else if (strcmp(k, "direction") == 0) {
				n = get_name(x, m, dir_names, N_OF(dir_names),
					     1, "direction");
				if (n >= 0)
					f->direction = (enum rules_dir)n;
			} else if (strcmp(k, "credential") == 0) {
				n = get_name(x, m, cred_names, N_OF(cred_names),
					     0, "credential state");
				if (n >= 0)
					f->credential = (enum rules_cred)n;
			} else if (strcmp(k, "role") == 0) {
				n = get_name(x, m, role_names, N_OF(role_names),
					     0, "role");
				if (n >= 0)
					f->role = (enum rules_role)n;
			} else if (strcmp(k, "person") == 0) {
				n = get_name(x, m, validity_names,
					     N_OF(validity_names), 0,
					     "person state");
				if (n >= 0)
					f->person = (enum rules_validity)n;
			} else if (strcmp(k, "household") == 0) {
				given_flag(x, m, &f->has_household);
			} else if (strcmp(k, "host") == 0) {
				given_flag(x, m, &f->has_host);
			} else if (strcmp(k, "quarantine") == 0) {
				given_flag(x, m, &f->quarantine);
			} else if (strcmp(k, "observation") == 0) {
				given_flag(x, m, &f->observation);
			} else if (strcmp(k, "blocked") == 0) {
				given_flag(x, m, &f->blocked);
			} else if (strcmp(k, "retest") == 0) {
				given_flag(x, m, &f->retest);
			} else if (strcmp(k, "temperature") == 0) {
				given_temperature(x, m, f);
			} else if (strcmp(k, "time") == 0) {
				given_time(x, m, f);
			} else if (strcmp(k, "last_direction") == 0) {
				if (m->type == JT_NULL)
					f->last_direction = RULES_DIR_NONE;
				else if ((n = get_name(x, m, dir_names,
						       N_OF(dir_names), 1,
						       "direction")) >= 0)
					f->last_direction = (enum rules_dir)n;
			} else if (strcmp(k, "last_hours_ago") == 0) {
				double h;

				if (get_num(x, m, 0, MAX_HOURS, &h) == 0)
					f->last_age_s = hours_to_s(h);
			} else {
				given_exits(x, m, f);
			}
			pop(x, old);
		}
	}
	f->has_person = f->credential == RULES_CRED_REVOKED ||
			f->credential == RULES_CRED_EXPIRED ||
			f->credential == RULES_CRED_NOT_YET_VALID ||
			f->credential == RULES_CRED_VALID;
}

static const char *const expect_fields[] = { "decision", "rule", "reason",
					     "alarm", NULL };

static void get_expect(struct pctx *x, const struct jt_node *v,
		       struct rcase *c)
{
	const struct jt_node *m;
	int k;

	c->alarm = -1;
	if (!want_object(x, v))
		return;
	check_fields(x, v, expect_fields);
	if ((m = need(x, v, "decision")) != NULL) {
		size_t old = push_key(x, "decision");

		k = get_name(x, m, decision_names, N_OF(decision_names), 0,
			     "decision");
		if (k >= 0)
			c->decision = (enum rules_decision)k;
		pop(x, old);
	}
	if ((m = need(x, v, "rule")) != NULL) {
		size_t old = push_key(x, "rule");

		if (m->type != JT_STRING)
			FAIL_AT(x, m, "expected a string, got %s", tname(m));
		else if (m->len == 0 || m->len > ID_MAX)
			FAIL_AT(x, m, "rule id %s must be 1 to %d characters",
				Q(m->s), ID_MAX);
		else
			memcpy(c->rule, m->s, m->len + 1);
		pop(x, old);
	}
	if ((m = jt_get(v, "reason")) != NULL) {
		size_t old = push_key(x, "reason");

		if (m->type != JT_STRING)
			FAIL_AT(x, m, "expected a string, got %s", tname(m));
		else if ((c->reason = catalog_reason(m->s)) == NULL)
			FAIL_AT(x, m, "unknown reason code %s (docs/rules.md "
				"lists them)", Q(m->s));
		pop(x, old);
	}
	if ((m = jt_get(v, "alarm")) != NULL) {
		size_t old = push_key(x, "alarm");

		c->alarm = get_name(x, m, severity_names, N_OF(severity_names),
				    0, "alarm");
		pop(x, old);
	}
}

static const char *const case_fields[] = { "name", "description", "given",
					   "expect", NULL };

static void get_case(struct pctx *x, const struct jt_node *v, struct rcase *c)
{
	const struct jt_node *m;

	c->line = v->line;
	c->col = v->col;
	c->alarm = -1;
	if (!want_object(x, v))
		return;
	check_fields(x, v, case_fields);
	if ((m = need(x, v, "name")) != NULL) {
		size_t old = push_key(x, "name");

		if (m->type != JT_STRING)
			FAIL_AT(x, m, "expected a string, got %s", tname(m));
		else if (m->len == 0)
			FAIL_AT(x, m, "empty name");
		else if ((c->name = strdup(m->s)) == NULL)
			x->nomem = 1;
		pop(x, old);
	}
	if ((m = jt_get(v, "description")) != NULL && m->type != JT_STRING) {
		size_t old = push_key(x, "description");

		FAIL_AT(x, m, "expected a string, got %s", tname(m));
		pop(x, old);
	}
	m = jt_get(v, "given");
	if (m != NULL) {
		size_t old = push_key(x, "given");

		get_given(x, m, &c->facts);
		pop(x, old);
	} else {
		get_given(x, NULL, &c->facts);
	}
	if ((m = need(x, v, "expect")) != NULL) {
		size_t old = push_key(x, "expect");

		get_expect(x, m, c);
		pop(x, old);
	}
}

static const char *const cases_fields[] = { "description", "cases", NULL };

int rcase_parse(const char *text, size_t len, const char *name,
		struct rcase_set **out, rules_error_fn err, void *ctx)
{
	const struct jt_node *root, *m;
	struct jt_doc *doc = NULL;
	struct rcase_set *s = NULL;
	struct pctx x;

	*out = NULL;
	pctx_init(&x, name, err, ctx);
	root = tree(&x, text, len, &doc);
	if (root == NULL || !want_object(&x, root))
		goto done;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		x.nomem = 1;
		goto done;
	}
	check_fields(&x, root, cases_fields);
	if ((m = jt_get(root, "description")) != NULL && m->type != JT_STRING) {
		size_t old = push_key(&x, "description");

		FAIL_AT(&x, m, "expected a string, got %s", tname(m));
		pop(&x, old);
	}
	if ((m = need(&x, root, "cases")) != NULL) {
		size_t old = push_key(&x, "cases"), i = 0;

		if (m->type != JT_ARRAY)
			FAIL_AT(&x, m, "expected a list of cases, got %s",
				tname(m));
		else if (m->n == 0)
			FAIL_AT(&x, m, "no cases: give at least one");
		else if ((s->v = calloc(m->n, sizeof(*s->v))) == NULL)
			x.nomem = 1;
		else
			for (const struct jt_node *e = m->kids; e && !x.nomem;
			     e = e->next, i++) {
				size_t o2 = push_index(&x, i);

				s->n = i + 1;
				get_case(&x, e, &s->v[i]);
				pop(&x, o2);
			}
		pop(&x, old);
	}
done:
	jt_free(doc);
	if (x.nomem || x.n_errors) {
		rcase_free(s);
		return x.nomem ? -ENOMEM : x.n_errors;
	}
	*out = s;
	return 0;
}

int rcase_load(const char *path, struct rcase_set **out, rules_error_fn err,
	       void *ctx)
{
	struct pctx x;
	size_t len;
	char *text;
	int rc;

	*out = NULL;
	pctx_init(&x, path, err, ctx);
	rc = read_or_fail(&x, path, &text, &len);
	if (rc != 0)
		return rc;
	rc = rcase_parse(text, len, path, out, err, ctx);
	free(text);
	return rc;
}

int rcase_run(const struct rules *r, const struct rcase *c,
	      struct rules_verdict *got)
{
	int bad = 0;

	rules_eval(r, &c->facts, got);
	if (got->decision != c->decision)
		bad |= RCASE_DECISION;
	if (strcmp(got->rule, c->rule) != 0)
		bad |= RCASE_RULE;
	if (c->reason && strcmp(got->reason, c->reason) != 0)
		bad |= RCASE_REASON;
	if (c->alarm >= 0 && (int)got->alarm != c->alarm)
		bad |= RCASE_ALARM;
	return bad;
}
