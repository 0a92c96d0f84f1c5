/*
 * registry: households, persons and credentials; see registry.h and
 * docs/registry.md.
 *
 * Three parts share this file because they share the data model:
 *
 * - Import.  reg_batch_parse() turns one JSON or CSV file into rows of one
 *   uniform shape (struct row) through one table of field descriptions per
 *   table, so both formats check values the same way and say the same
 *   thing.  reg_import() then resolves references against the database and
 *   every batch, and applies everything in one BEGIN IMMEDIATE transaction
 *   or nothing.  Rows are upserted by id, so pid and hid survive imports.
 *   A remote lists update (reg_apply_lists) is the same machinery fed
 *   from the signed document's tree rather than from text, so its errors
 *   carry the document's lines and JSON paths; a delta's removals run
 *   after its upserts, inside the same transaction.
 *
 * - The database.  The schema declares the foreign keys (DEFERRABLE
 *   INITIALLY DEFERRED; removing a person removes its credentials by ON
 *   DELETE CASCADE) for any writer, but the import itself runs with them
 *   off: it checks every reference first, to name the file, line and
 *   field, does the cascade itself, and runs PRAGMA foreign_key_check
 *   before COMMIT as the backstop.  SQLite's per-row deferred checks more
 *   than doubled the time of a million-person import.  A household is
 *   removed only by a replace, and only when nothing that stays refers to
 *   it.
 *
 * - Memory.  reg_load() keeps what a decision needs and nothing else: a
 *   person is 8 bytes (pid; hid, role, blocked and an "extras" bit packed
 *   in one word), a credential 8 bytes plus its value in one string arena,
 *   sorted by value for a binary search.  The rare parts (validity windows,
 *   host, quarantine, observation) live in small side arrays sorted by
 *   index.  The big arrays are mapped with mmap, not malloc, so a reload
 *   every few minutes gives the old registry's pages back to the system at
 *   once instead of leaving them to the allocator's thresholds.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "csv.h"
#include "json.h"
#include "jsontree.h"
#include "registry.h"

#define SCHEMA_VERSION 1
#define ERR_MAX 100		/* errors reported per parse or import */
#define TEXT_MAX 120		/* unit, name */
#define FIELD_MAX 160		/* a field's name or JSON path in errors */
#define NO_TIME UINT32_MAX	/* in rows: absent; in memory: unbounded */
#define TIME_MAX ((int64_t)UINT32_MAX - 1)
#define HID_BITS 27
#define LOAD_CACHE_KIB 256	/* page cache of the connections kept open */
#define IMPORT_CACHE_KIB 32768

/* The names, local so that this file does not depend on rules.c. */
static const char *const role_names[RULES_ROLES] = {
	[RULES_ROLE_RESIDENT] = "resident",
	[RULES_ROLE_TENANT] = "tenant",
	[RULES_ROLE_VISITOR] = "visitor",
	[RULES_ROLE_STAFF] = "staff",
	[RULES_ROLE_COURIER] = "courier",
};

enum { KIND_CARD = 0, KIND_QR, KINDS };
static const char *const kind_names[KINDS] = { "card", "qr" };

static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* --- errors ------------------------------------------------------------ */

struct rep {
	reg_error_fn fn;
	void *ctx;
	int n;
};

static int rep_full(const struct rep *r)
{
	return r->n >= ERR_MAX;
}

__attribute__((format(printf, 5, 6)))
static void report(struct rep *r, const char *file, int line,
		   const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (r->n > ERR_MAX)
		return;
	r->n++;
	if (r->fn == NULL)
		return;
	if (r->n > ERR_MAX) {
		r->fn(r->ctx, file, 0, NULL, "too many errors; stopped after "
		      "the first 100");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->fn(r->ctx, file, line, field, msg);
}

/* A value from the input, fit to be quoted in a message: about 40
 * bytes, cut between characters, control characters and quotes
 * replaced. */
static const char *shown(char *buf, size_t len, const char *s, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i < n && o + 4 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= 40 && (c & 0xc0) != 0x80)
			break;

		buf[o++] = c < 0x20 || c == 0x7f || c == '"' ? '?' : (char)c;
	}
	if (i < n && o + 4 < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* --- times --------------------------------------------------------------- */

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
				   30, 31 };

	return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Days from 0001-01-01 to the first of January of y (y >= 1). */
static int64_t days_before_year(int64_t y)
{
	y -= 1;
	return y * 365 + y / 4 - y / 100 + y / 400;
}

static int64_t days_since_epoch(int64_t y, int m, int d)
{
	static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212,
					243, 273, 304, 334 };

	return days_before_year(y) - days_before_year(1970) + before[m - 1] +
	       (m > 2 && is_leap(y)) + d - 1;
}

/* n decimal digits at s, or -1. */
static int num(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static const char time_forms[] =
	"YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS] followed by Z or +HH:MM/-HH:MM";

int reg_parse_time(const char *s, int until, int64_t *out, char *err,
		   size_t errlen)
{
	size_t len = strlen(s), p = 10;
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	int64_t t;

	if (len < 10 || s[4] != '-' || s[7] != '-' ||
	    (y = num(s, 4)) < 0 || (mo = num(s + 5, 2)) < 0 ||
	    (d = num(s + 8, 2)) < 0)
		goto bad_form;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) {
		snprintf(err, errlen, "no such date %.10s", s);
		return -EINVAL;
	}
	if (len == 10) {
		/* a local date: the day's first or last second here */
		struct tm tm = {
			.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			.tm_hour = until ? 23 : 0, .tm_min = until ? 59 : 0,
			.tm_sec = until ? 59 : 0, .tm_isdst = -1,
		};
		time_t lt = mktime(&tm);

		/* via t: with a 32-bit time_t, lt > TIME_MAX is always false */
		t = lt;
		if (lt == (time_t)-1 || t < 0 || t > TIME_MAX)
			goto range;
		*out = t;
		return 0;
	}
	if (s[10] != 'T' || len < 16 || s[13] != ':' ||
	    (h = num(s + 11, 2)) < 0 || (mi = num(s + 14, 2)) < 0)
		goto bad_form;
	p = 16;
	if (p < len && s[p] == ':') {
		if (len < p + 3 || (sec = num(s + p + 1, 2)) < 0)
			goto bad_form;
		p += 3;
	}
	if (p == len) {
		snprintf(err, errlen, "a time of day needs its UTC offset "
			 "(Z, +HH:MM or -HH:MM)");
		return -EINVAL;
	}
	if (s[p] == 'Z' && p + 1 == len) {
		off = 0;
	} else if ((s[p] == '+' || s[p] == '-') && len == p + 6 &&
		   s[p + 3] == ':') {
		int oh = num(s + p + 1, 2), om = num(s + p + 4, 2);

		if (oh < 0 || om < 0)
			goto bad_form;
		if (oh > 23 || om > 59) {
			snprintf(err, errlen, "no such UTC offset %s", s + p);
			return -EINVAL;
		}
		off = (oh * 60 + om) * 60 * (s[p] == '-' ? -1 : 1);
	} else {
		goto bad_form;
	}
	if (h > 23 || mi > 59 || sec > 59) {
		snprintf(err, errlen, "no such time of day %.*s",
			 (int)(p - 11), s + 11);
		return -EINVAL;
	}
	t = days_since_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    off;
	if (t < 0 || t > TIME_MAX)
		goto range;
	*out = t;
	return 0;
bad_form:
	snprintf(err, errlen, "not a date or time (%s)", time_forms);
	return -EINVAL;
range:
	snprintf(err, errlen, "out of range (1970-01-01 to 2106-02-07)");
	return -ERANGE;
}

/* "YYYY-MM-DDTHH:MM:SSZ" */
static void format_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "?");
}

/* --- batches ------------------------------------------------------------- */

enum { TB_HOUSEHOLDS = 0, TB_PERSONS, TB_CREDENTIALS, TB_N };
static const char *const table_names[TB_N] = {
	"households", "persons", "credentials"
};
static const char *const table_nouns[TB_N] = {
	"household", "person", "credential"
};

enum ftype { F_ID, F_VALUE, F_TEXT, F_REF, F_ROLE, F_KIND, F_FROM, F_UNTIL,
	     F_BOOL };
/* where a field goes in struct row */
enum slot { S_ID = 0, S_REF1, S_REF2, S_TEXT, S_FROM, S_UNTIL, S_QUAR,
	    S_OBS, S_ENUM, S_FLAG, S_N };
#define S_STR(s) ((s) <= S_TEXT)
#define S_TIME(s) ((s) >= S_FROM && (s) <= S_OBS)

struct fdesc {
	const char *name;
	enum ftype type;
	enum slot slot;
	int required;
	int ref;		/* F_REF: the table referred to */
};

static const struct fdesc household_fields[] = {
	{ "id", F_ID, S_ID, 1, 0 },
	{ "unit", F_TEXT, S_TEXT, 0, 0 },
	{ "landlord", F_REF, S_REF1, 0, TB_HOUSEHOLDS },
	{ NULL, 0, 0, 0, 0 },
};
static const struct fdesc person_fields[] = {
	{ "id", F_ID, S_ID, 1, 0 },
	{ "household", F_REF, S_REF1, 0, TB_HOUSEHOLDS },
	{ "role", F_ROLE, S_ENUM, 1, 0 },
	{ "valid_from", F_FROM, S_FROM, 0, 0 },
	{ "valid_until", F_UNTIL, S_UNTIL, 0, 0 },
	{ "host", F_REF, S_REF2, 0, TB_HOUSEHOLDS },
	{ "quarantine_until", F_UNTIL, S_QUAR, 0, 0 },
	{ "observation_until", F_UNTIL, S_OBS, 0, 0 },
	{ "blocked", F_BOOL, S_FLAG, 0, 0 },
	{ "name", F_TEXT, S_TEXT, 0, 0 },
	{ NULL, 0, 0, 0, 0 },
};
static const struct fdesc credential_fields[] = {
	{ "value", F_VALUE, S_ID, 1, 0 },
	{ "kind", F_KIND, S_ENUM, 1, 0 },
	{ "person", F_REF, S_REF1, 1, TB_PERSONS },
	{ "valid_from", F_FROM, S_FROM, 0, 0 },
	{ "valid_until", F_UNTIL, S_UNTIL, 0, 0 },
	{ "revoked", F_BOOL, S_FLAG, 0, 0 },
	{ NULL, 0, 0, 0, 0 },
};
static const struct fdesc *const table_fields[TB_N] = {
	household_fields, person_fields, credential_fields
};

/* One row of any table.  Strings point into the batch's arena. */
struct row {
	const char *s[4];	/* S_ID .. S_TEXT; NULL: absent */
	uint32_t t[4];		/* S_FROM .. S_OBS; NO_TIME: absent */
	uint8_t e;		/* role or kind */
	uint8_t flag;		/* blocked or revoked */
	int line;		/* of the row */
	int id_line;
	int ref_line[2];	/* S_REF1, S_REF2 */
};

struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
};

struct reg_batch {
	char *name;		/* NULL: a tree's, errors name no file */
	char *path;		/* a tree's JSON path ("$.lists.upsert"),
				 * which prefixes its fields in errors */
	enum reg_format fmt;
	int has[TB_N];		/* the file carries the table */
	struct row *rows[TB_N];
	size_t n[TB_N], cap[TB_N];
	int64_t version;	/* 0: not given */
	int version_line;
	struct chunk *arena;
};

static const char *arena_dup(struct reg_batch *b, const char *s, size_t n)
{
	struct chunk *c = b->arena;
	char *p;

	if (c == NULL || c->cap - c->used < n + 1) {
		size_t cap = n + 1 > 65536 ? n + 1 : 65536;

		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->next = b->arena;
		c->used = 0;
		c->cap = cap;
		b->arena = c;
	}
	p = c->data + c->used;
	memcpy(p, s, n);
	p[n] = '\0';
	c->used += n + 1;
	return p;
}

void reg_batch_free(struct reg_batch *b)
{
	if (b == NULL)
		return;
	while (b->arena) {
		struct chunk *c = b->arena;

		b->arena = c->next;
		free(c);
	}
	for (int t = 0; t < TB_N; t++)
		free(b->rows[t]);
	free(b->name);
	free(b->path);
	free(b);
}

void reg_batch_counts(const struct reg_batch *b, size_t *households,
		      size_t *persons, size_t *credentials)
{
	if (households)
		*households = b ? b->n[TB_HOUSEHOLDS] : 0;
	if (persons)
		*persons = b ? b->n[TB_PERSONS] : 0;
	if (credentials)
		*credentials = b ? b->n[TB_CREDENTIALS] : 0;
}

static int add_row(struct reg_batch *b, int t, const struct row *r)
{
	if (b->n[t] == b->cap[t]) {
		size_t cap = b->cap[t] ? b->cap[t] * 2 : 64;
		struct row *rows = realloc(b->rows[t], cap * sizeof(*rows));

		if (rows == NULL)
			return -ENOMEM;
		b->rows[t] = rows;
		b->cap[t] = cap;
	}
	b->rows[t][b->n[t]++] = *r;
	return 0;
}

/* --- string map: id -> index, open addressing, sized to the data ------- */

struct smap {
	size_t cap, n;		/* cap: a power of two, or 0 */
	const char **key;
	uint32_t *val;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static void smap_free(struct smap *m)
{
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof(*m));
}

static size_t smap_slot(const struct smap *m, const char *k)
{
	size_t i = (size_t)hash_str(k) & (m->cap - 1);

	while (m->key[i] && strcmp(m->key[i], k) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int smap_grow(struct smap *m)
{
	struct smap g = { 0 };

	g.cap = m->cap ? m->cap * 2 : 64;
	g.key = calloc(g.cap, sizeof(*g.key));
	g.val = calloc(g.cap, sizeof(*g.val));
	if (g.key == NULL || g.val == NULL) {
		smap_free(&g);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (m->key[i]) {
			size_t j = smap_slot(&g, m->key[i]);

			g.key[j] = m->key[i];
			g.val[j] = m->val[i];
		}
	}
	g.n = m->n;
	smap_free(m);
	*m = g;
	return 0;
}

/* 0 added, 1 already there (*prev set), -ENOMEM */
static int smap_put(struct smap *m, const char *k, uint32_t v, uint32_t *prev)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap && smap_grow(m) != 0)
		return -ENOMEM;
	i = smap_slot(m, k);
	if (m->key[i]) {
		*prev = m->val[i];
		return 1;
	}
	m->key[i] = k;
	m->val[i] = v;
	m->n++;
	return 0;
}

static int smap_get(const struct smap *m, const char *k, uint32_t *v)
{
	size_t i;

	if (m->cap == 0)
		return 0;
	i = smap_slot(m, k);
	if (m->key[i] == NULL)
		return 0;
	*v = m->val[i];
	return 1;
}

/* --- parsing rows ---------------------------------------------------- */

struct parse {
	struct reg_batch *b;
	struct rep *rep;
	struct smap ids[TB_N];	/* id -> row, for duplicates in the file */
	int nomem;
};

/* The field as errors name it: "persons[3].role" in JSON, "role" in CSV,
 * "$.lists.upsert.persons[3].role" in a tree at that path. */
static const char *field_name(char *buf, size_t len,
			      const struct reg_batch *b, int t, size_t index,
			      const char *field)
{
	const char *p = b->path ? b->path : "", *dot = b->path ? "." : "";

	if (b->fmt == REG_CSV)
		snprintf(buf, len, "%s", field ? field : "");
	else if (field)
		snprintf(buf, len, "%s%s%s[%zu].%s", p, dot, table_names[t],
			 index, field);
	else
		snprintf(buf, len, "%s%s%s[%zu]", p, dot, table_names[t],
			 index);
	return buf;
}

/* A member of the document itself: "version", or "$.lists.upsert.version"
 * in a tree. */
static const char *top_field(char *buf, size_t len, const struct reg_batch *b,
			     const char *member)
{
	if (b->path)
		snprintf(buf, len, "%s.%s", b->path, member);
	else
		snprintf(buf, len, "%s", member);
	return buf;
}

/* "id, unit, landlord" */
static const char *field_list(char *buf, size_t len, int t)
{
	size_t o = 0;

	buf[0] = '\0';
	for (const struct fdesc *f = table_fields[t]; f->name; f++)
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s",
				      o ? ", " : "", f->name);
	return buf;
}

static const struct fdesc *find_field(int t, const char *name)
{
	for (const struct fdesc *f = table_fields[t]; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* ids and credential values: 1..63 bytes, no spaces or control
 * characters; a credential value is printable ASCII only */
static int check_id(const char *s, size_t n, int ascii, char *msg,
		    size_t mlen)
{
	if (n == 0) {
		snprintf(msg, mlen, "empty");
		return -1;
	}
	if (n >= REG_ID_MAX) {
		snprintf(msg, mlen, "longer than %d bytes", REG_ID_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || (ascii && c > 0x7f)) {
			snprintf(msg, mlen, ascii ?
				 "only printable ASCII without spaces is "
				 "allowed" :
				 "spaces and control characters are not "
				 "allowed");
			return -1;
		}
	}
	return 0;
}

static int check_text(const char *s, size_t n, char *msg, size_t mlen)
{
	if (n > TEXT_MAX) {
		snprintf(msg, mlen, "longer than %d bytes", TEXT_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			snprintf(msg, mlen, "control characters (such as "
				 "line breaks) are not allowed");
			return -1;
		}
	}
	return 0;
}

static int parse_bool(const char *s, int *v)
{
	static const char *const yes[] = { "true", "yes", "1" };
	static const char *const no[] = { "false", "no", "0" };

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = 0;
			return 0;
		}
	}
	return -1;
}

/* The row being parsed, with the line of each field. */
struct rowctx {
	struct row r;
	int set[S_N];
	int ferr[S_N];		/* the field itself was wrong */
	int line[S_N];
	int bad;		/* an error in this row */
	size_t index;		/* JSON: in the array */
};

static void row_error(struct parse *ps, int t, struct rowctx *rc, int line,
		      const char *field, const char *msg)
{
	char fn[FIELD_MAX];

	rc->bad = 1;
	report(ps->rep, ps->b->name, line,
	       field_name(fn, sizeof(fn), ps->b, t, rc->index, field),
	       "%s", msg);
}

/* One field's value: s (len n, NUL-terminated) is text; for F_BOOL in
 * JSON, bval >= 0 carries the value instead. */
static void set_field(struct parse *ps, int t, struct rowctx *rc,
		      const struct fdesc *f, const char *s, size_t n,
		      int bval, int line)
{
	char msg[256], v[64];
	int64_t tv;
	int i;

	rc->line[f->slot] = line;
	switch (f->type) {
	case F_ID:
	case F_VALUE:
	case F_REF:
		if (check_id(s, n, f->type == F_VALUE, msg, sizeof(msg)) != 0)
			goto bad;
		break;
	case F_TEXT:
		if (check_text(s, n, msg, sizeof(msg)) != 0)
			goto bad;
		break;
	case F_ROLE:
		i = name_index(role_names, RULES_ROLES, s);
		if (i < 0) {
			snprintf(msg, sizeof(msg), "unknown role \"%s\" "
				 "(resident, tenant, visitor, staff or "
				 "courier)", shown(v, sizeof(v), s, n));
			goto bad;
		}
		rc->r.e = (uint8_t)i;
		rc->set[f->slot] = 1;
		return;
	case F_KIND:
		i = name_index(kind_names, KINDS, s);
		if (i < 0) {
			snprintf(msg, sizeof(msg), "unknown kind \"%s\" (card "
				 "or qr)", shown(v, sizeof(v), s, n));
			goto bad;
		}
		rc->r.e = (uint8_t)i;
		rc->set[f->slot] = 1;
		return;
	case F_FROM:
	case F_UNTIL: {
		char terr[160];

		if (strlen(s) != n ||
		    reg_parse_time(s, f->type == F_UNTIL, &tv, terr,
				   sizeof(terr)) != 0) {
			if (strlen(s) != n)
				snprintf(terr, sizeof(terr), "not a date");
			snprintf(msg, sizeof(msg), "\"%s\": %s",
				 shown(v, sizeof(v), s, n), terr);
			goto bad;
		}
		rc->r.t[f->slot - S_FROM] = (uint32_t)tv;
		rc->set[f->slot] = 1;
		return;
	}
	case F_BOOL:
		if (bval < 0 && parse_bool(s, &bval) != 0) {
			snprintf(msg, sizeof(msg), "\"%s\" is not a yes/no "
				 "value (true, false, yes, no, 1 or 0)",
				 shown(v, sizeof(v), s, n));
			goto bad;
		}
		rc->r.flag = (uint8_t)bval;
		rc->set[f->slot] = 1;
		return;
	}
	/* strings */
	rc->r.s[f->slot] = arena_dup(ps->b, s, n);
	if (rc->r.s[f->slot] == NULL) {
		ps->nomem = 1;
		return;
	}
	rc->set[f->slot] = 1;
	return;
bad:
	rc->ferr[f->slot] = 1;
	row_error(ps, t, rc, line, f->name, msg);
}

static void row_begin(struct rowctx *rc, int line, size_t index)
{
	memset(rc, 0, sizeof(*rc));
	for (int i = 0; i < 4; i++)
		rc->r.t[i] = NO_TIME;
	rc->r.line = line;
	rc->index = index;
}

/* The checks that need the whole row, then duplicates, then keep it. */
static void row_end(struct parse *ps, int t, struct rowctx *rc)
{
	struct row *r = &rc->r;
	char msg[256], v[64];

	for (const struct fdesc *f = table_fields[t]; f->name; f++)
		if (f->required && !rc->set[f->slot] && !rc->ferr[f->slot])
			row_error(ps, t, rc, rc->line[f->slot] ?
				  rc->line[f->slot] : r->line, f->name,
				  ps->b->fmt == REG_CSV ?
				  "required, may not be empty" : "missing");
	if (r->t[0] != NO_TIME && r->t[1] != NO_TIME && r->t[0] > r->t[1])
		row_error(ps, t, rc, rc->line[S_UNTIL], "valid_until",
			  "before valid_from");
	if (t == TB_PERSONS && r->s[S_REF2] && rc->set[S_ENUM] &&
	    r->e != RULES_ROLE_VISITOR) {
		snprintf(msg, sizeof(msg), "only a visitor has a host (this "
			 "person is a %s)", role_names[r->e]);
		row_error(ps, t, rc, rc->line[S_REF2], "host", msg);
	}
	if (t == TB_HOUSEHOLDS && r->s[S_ID] && r->s[S_REF1] &&
	    strcmp(r->s[S_ID], r->s[S_REF1]) == 0)
		row_error(ps, t, rc, rc->line[S_REF1], "landlord",
			  "a household cannot be its own landlord");
	r->id_line = rc->line[S_ID];
	r->ref_line[0] = rc->line[S_REF1];
	r->ref_line[1] = rc->line[S_REF2];
	if (r->s[S_ID]) {
		uint32_t prev;
		int dup = smap_put(&ps->ids[t], r->s[S_ID],
				   (uint32_t)ps->b->n[t], &prev);

		if (dup < 0) {
			ps->nomem = 1;
			return;
		}
		if (dup > 0) {
			const struct row *o = &ps->b->rows[t][prev];
			char fn[FIELD_MAX];

			if (ps->b->fmt == REG_JSON)
				snprintf(msg, sizeof(msg), "%s \"%s\" is also "
					 "%s at line %d", table_nouns[t],
					 shown(v, sizeof(v), r->s[S_ID],
					       strlen(r->s[S_ID])),
					 field_name(fn, sizeof(fn), ps->b, t,
						    prev, NULL),
					 o->id_line);
			else
				snprintf(msg, sizeof(msg), "%s \"%s\" is also "
					 "at line %d", table_nouns[t],
					 shown(v, sizeof(v), r->s[S_ID],
					       strlen(r->s[S_ID])),
					 o->id_line);
			row_error(ps, t, rc, r->id_line,
				  t == TB_CREDENTIALS ? "value" : "id", msg);
			return;
		}
	}
	if (rc->bad) {
		/* keep the index the map points at valid */
		if (r->s[S_ID] && add_row(ps->b, t, r) != 0)
			ps->nomem = 1;
		return;
	}
	if (add_row(ps->b, t, r) != 0)
		ps->nomem = 1;
}

/* --- JSON -------------------------------------------------------------- */

static void json_row(struct parse *ps, int t, const struct jt_node *obj,
		     size_t index)
{
	struct rowctx rc;
	char msg[160];

	row_begin(&rc, obj->line, index);
	if (obj->type != JT_OBJECT) {
		snprintf(msg, sizeof(msg), "expected an object, got %s",
			 jt_type_name(obj->type));
		row_error(ps, t, &rc, obj->line, NULL, msg);
		return;
	}
	for (const struct jt_node *m = obj->kids; m && !rep_full(ps->rep) &&
	     !ps->nomem; m = m->next) {
		const struct fdesc *f = find_field(t, m->key);
		char list[200];

		if (f == NULL) {
			snprintf(msg, sizeof(msg), "unknown field; a %s has %s",
				 table_nouns[t], field_list(list, sizeof(list), t));
			row_error(ps, t, &rc, m->key_line, m->key, msg);
			continue;
		}
		if (m->type == JT_NULL) {
			rc.line[f->slot] = m->line;
			continue;
		}
		if (f->type == F_BOOL ? m->type != JT_BOOL :
		    m->type != JT_STRING) {
			snprintf(msg, sizeof(msg), "expected %s, got %s",
				 f->type == F_BOOL ? "true or false" :
				 "a string", jt_type_name(m->type));
			rc.ferr[f->slot] = 1;
			row_error(ps, t, &rc, m->line, f->name, msg);
			continue;
		}
		if (f->type == F_BOOL)
			set_field(ps, t, &rc, f, "", 0, m->b ? 1 : 0, m->line);
		else
			set_field(ps, t, &rc, f, m->s, m->len, -1, m->line);
	}
	if (!ps->nomem)
		row_end(ps, t, &rc);
}

/* A document's members; root is a parsed file's or any tree's. */
static void parse_json_root(struct parse *ps, const struct jt_node *root)
{
	struct reg_batch *b = ps->b;
	char fn[FIELD_MAX];

	if (root->type != JT_OBJECT) {
		report(ps->rep, b->name, root->line, b->path, "expected an "
		       "object with \"households\", \"persons\" and "
		       "\"credentials\", got %s", jt_type_name(root->type));
		return;
	}
	for (const struct jt_node *m = root->kids; m && !rep_full(ps->rep) &&
	     !ps->nomem; m = m->next) {
		int t;

		if (strcmp(m->key, "version") == 0) {
			if (m->type == JT_NULL)
				continue;
			if (m->type != JT_NUMBER || !m->is_int || m->i < 1)
				report(ps->rep, b->name, m->line,
				       top_field(fn, sizeof(fn), b, "version"),
				       "expected a whole number of 1 or more");
			else
				b->version = m->i;
			b->version_line = m->line;
			continue;
		}
		for (t = 0; t < TB_N; t++)
			if (strcmp(m->key, table_names[t]) == 0)
				break;
		if (t == TB_N) {
			report(ps->rep, b->name, m->key_line,
			       top_field(fn, sizeof(fn), b, m->key),
			       "unknown field; the document has version, "
			       "households, persons and credentials");
			continue;
		}
		if (m->type == JT_NULL)
			continue;
		if (m->type != JT_ARRAY) {
			report(ps->rep, b->name, m->line,
			       top_field(fn, sizeof(fn), b, m->key),
			       "expected an array, got %s",
			       jt_type_name(m->type));
			continue;
		}
		b->has[t] = 1;
		size_t i = 0;

		for (const struct jt_node *e = m->kids; e &&
		     !rep_full(ps->rep) && !ps->nomem; e = e->next)
			json_row(ps, t, e, i++);
	}
}

static void parse_json(struct parse *ps, const char *text, size_t len)
{
	struct reg_batch *b = ps->b;
	struct jt_doc *doc;
	char err[256];
	int rc;

	rc = jt_parse(text, len, &doc, err, sizeof(err));
	if (rc == -ENOMEM) {
		ps->nomem = 1;
		return;
	}
	if (rc != 0) {
		char *end;
		long line = strtol(err, &end, 10), col = 0;
		const char *msg = err;

		/* "LINE:COL: message" */
		if (end != err && *end == ':') {
			col = strtol(end + 1, &end, 10);
			if (*end == ':')
				msg = end + 1 + (end[1] == ' ');
		}
		if (msg == err || line <= 0 || line > INT_MAX)
			report(ps->rep, b->name, 0, NULL, "%s", err);
		else
			report(ps->rep, b->name, (int)line, NULL,
			       "%s (column %ld)", msg, col);
		return;
	}
	parse_json_root(ps, jt_root(doc));
	jt_free(doc);
}

/* --- CSV --------------------------------------------------------------- */

/* The table a header names: the credential columns win, then the person
 * columns; households have only id, unit, landlord. */
static int csv_table(const struct csv *c)
{
	static const char *const cred[] = { "value", "kind", "person",
					    "revoked" };
	static const char *const person[] = {
		"household", "role", "valid_from", "valid_until", "host",
		"quarantine_until", "observation_until", "blocked", "name"
	};
	int any_id = 0;

	for (size_t i = 0; i < csv_count(c); i++) {
		const char *f = csv_field(c, i, NULL);

		for (size_t k = 0; k < sizeof(cred) / sizeof(cred[0]); k++)
			if (strcmp(f, cred[k]) == 0)
				return TB_CREDENTIALS;
	}
	for (size_t i = 0; i < csv_count(c); i++) {
		const char *f = csv_field(c, i, NULL);

		for (size_t k = 0; k < sizeof(person) / sizeof(person[0]); k++)
			if (strcmp(f, person[k]) == 0)
				return TB_PERSONS;
		any_id |= strcmp(f, "id") == 0 || strcmp(f, "unit") == 0 ||
			  strcmp(f, "landlord") == 0;
	}
	return any_id ? TB_HOUSEHOLDS : -1;
}

static void csv_syntax(struct parse *ps, const struct csv *c,
		       const struct fdesc *const *cols, size_t ncols)
{
	const char *field = NULL;

	if (cols && c->err_field >= 0 && (size_t)c->err_field < ncols &&
	    cols[c->err_field])
		field = cols[c->err_field]->name;
	report(ps->rep, ps->b->name, c->err_line, field, "%s", c->err);
}

static void parse_csv(struct parse *ps, const char *text, size_t len)
{
	const struct fdesc *cols[CSV_FIELDS_MAX];
	struct reg_batch *b = ps->b;
	char v[64], list[200];
	struct csv c;
	size_t ncols;
	int rc, t, bad = 0;

	csv_init(&c, text, len);
	rc = csv_next(&c);
	if (rc == 0) {
		report(ps->rep, b->name, 1, NULL, "empty file: the first row "
		       "names the columns (households: id, unit, landlord; "
		       "persons: id, role, ...; credentials: value, kind, "
		       "person, ...)");
		goto out;
	}
	if (rc < 0) {
		if (rc == -ENOMEM)
			ps->nomem = 1;
		else
			csv_syntax(ps, &c, NULL, 0);
		goto out;
	}
	t = csv_table(&c);
	if (t < 0) {
		report(ps->rep, b->name, csv_line(&c), NULL, "the first row "
		       "must name the columns: households have id, unit, "
		       "landlord; persons id, household, role, ...; "
		       "credentials value, kind, person, ...");
		goto out;
	}
	ncols = csv_count(&c);
	for (size_t i = 0; i < ncols; i++) {
		size_t n;
		const char *name = csv_field(&c, i, &n);

		/* spreadsheets add unnamed columns; values under them are
		 * refused below */
		cols[i] = n ? find_field(t, name) : NULL;
		if (n == 0)
			continue;
		if (cols[i] == NULL) {
			report(ps->rep, b->name, csv_line(&c),
			       shown(v, sizeof(v), name, n), "unknown column; "
			       "a %s file has %s", table_names[t],
			       field_list(list, sizeof(list), t));
			bad = 1;
			continue;
		}
		for (size_t k = 0; k < i; k++) {
			if (cols[k] == cols[i]) {
				report(ps->rep, b->name, csv_line(&c),
				       cols[i]->name, "duplicate column");
				bad = 1;
			}
		}
	}
	for (const struct fdesc *f = table_fields[t]; f->name; f++) {
		size_t i;

		for (i = 0; i < ncols && cols[i] != f; i++)
			;
		if (f->required && i == ncols) {
			report(ps->rep, b->name, csv_line(&c), f->name,
			       "missing column; a %s file needs it",
			       table_names[t]);
			bad = 1;
		}
	}
	if (bad)
		goto out;
	b->has[t] = 1;
	while (!rep_full(ps->rep) && !ps->nomem && (rc = csv_next(&c)) == 1) {
		struct rowctx row;

		row_begin(&row, csv_line(&c), 0);
		if (csv_count(&c) != ncols) {
			report(ps->rep, b->name, csv_line(&c), NULL,
			       "%zu field%s, but the header has %zu",
			       csv_count(&c), csv_count(&c) == 1 ? "" : "s",
			       ncols);
			continue;
		}
		for (size_t i = 0; i < ncols && !ps->nomem; i++) {
			size_t n;
			const char *s = csv_field(&c, i, &n);

			if (cols[i] == NULL) {
				if (n > 0) {
					report(ps->rep, b->name, csv_line(&c),
					       NULL, "a value in column %zu, "
					       "which the header leaves "
					       "unnamed", i + 1);
					row.bad = 1;
				}
				continue;
			}
			if (n == 0) {
				row.line[cols[i]->slot] = csv_line(&c);
				continue;
			}
			set_field(ps, t, &row, cols[i], s, n, -1,
				  csv_line(&c));
		}
		if (!ps->nomem)
			row_end(ps, t, &row);
	}
	if (rc == -ENOMEM)
		ps->nomem = 1;
	else if (rc < 0)
		csv_syntax(ps, &c, cols, ncols);
out:
	csv_fini(&c);
}

static struct reg_batch *batch_new(const char *name, const char *path,
				    enum reg_format fmt)
{
	struct reg_batch *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->fmt = fmt;
	if ((name && (b->name = strdup(name)) == NULL) ||
	    (path && (b->path = strdup(path)) == NULL)) {
		reg_batch_free(b);
		return NULL;
	}
	return b;
}

/* Fill b from text, or (JSON) from the tree root when it is not NULL.
 * Returns the errors reported into rep, or -ENOMEM. */
static int batch_fill(struct reg_batch *b, struct rep *rep, const char *text,
		      size_t len, const struct jt_node *root)
{
	struct parse ps = { 0 };
	int before = rep->n;

	ps.b = b;
	ps.rep = rep;
	if (root)
		parse_json_root(&ps, root);
	else if (b->fmt == REG_CSV)
		parse_csv(&ps, text, len);
	else
		parse_json(&ps, text, len);
	for (int t = 0; t < TB_N; t++)
		smap_free(&ps.ids[t]);
	return ps.nomem ? -ENOMEM : rep->n - before;
}

int reg_batch_parse(const char *text, size_t len, const char *name,
		    enum reg_format fmt, struct reg_batch **out,
		    reg_error_fn err, void *ctx)
{
	struct rep rep = { err, ctx, 0 };
	struct reg_batch *b;
	int rc;

	*out = NULL;
	b = batch_new(name ? name : "-", NULL, fmt);
	if (b == NULL)
		return -ENOMEM;
	rc = batch_fill(b, &rep, text, len, NULL);
	if (rc != 0) {
		reg_batch_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* --- the database ---------------------------------------------------------- */

/* Child columns are indexed so that removing a parent row does not scan. */
static const char schema_sql[] =
	"CREATE TABLE household ("
	" hid INTEGER PRIMARY KEY,"
	" id TEXT UNIQUE NOT NULL,"
	" unit TEXT,"
	" landlord INTEGER REFERENCES household(hid)"
	"  DEFERRABLE INITIALLY DEFERRED);"
	"CREATE TABLE person ("
	" pid INTEGER PRIMARY KEY,"
	" id TEXT UNIQUE NOT NULL,"
	" hid INTEGER REFERENCES household(hid) DEFERRABLE INITIALLY DEFERRED,"
	" role TEXT NOT NULL CHECK (role IN"
	"  ('resident','tenant','visitor','staff','courier')),"
	" valid_from INTEGER,"
	" valid_until INTEGER,"
	" host INTEGER REFERENCES household(hid) DEFERRABLE INITIALLY DEFERRED,"
	" quarantine_until INTEGER,"
	" observation_until INTEGER,"
	" blocked INTEGER NOT NULL DEFAULT 0,"
	" name TEXT);"
	"CREATE TABLE credential ("
	" cid INTEGER PRIMARY KEY,"
	" value TEXT UNIQUE NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('card','qr')),"
	" pid INTEGER NOT NULL REFERENCES person(pid) ON DELETE CASCADE"
	"  DEFERRABLE INITIALLY DEFERRED,"
	" valid_from INTEGER,"
	" valid_until INTEGER,"
	" revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
	"CREATE INDEX household_landlord ON household(landlord);"
	"CREATE INDEX person_hid ON person(hid);"
	"CREATE INDEX person_host ON person(host);"
	"CREATE INDEX credential_pid ON credential(pid);"
	"INSERT INTO meta (key, value) VALUES ('version', 0);"
	"PRAGMA user_version = 1;";

struct reg_db {
	sqlite3 *db;
	char *path;
	int64_t commits;	/* made through this connection */
	sqlite3_stmt *data_version, *version, *person_id, *household_id,
		     *pid, *hid;
	/* prepared on first use: a pass's subject (reg_db_person,
	 * reg_db_household) */
	sqlite3_stmt *subject_person, *subject_household;
};

static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_FULL:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* One integer from sql, or dflt when there is no row. */
static int query_int(sqlite3 *db, const char *sql, int64_t dflt,
		     int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		*out = dflt;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Open, set the connection up, create or check the schema. */
static int open_sqlite(const char *path, int cache_kib, sqlite3 **out,
		       char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int64_t uv = 0;
	char sql[64];
	int rc;

	*out = NULL;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return sql_errno(rc);
	}
	sqlite3_busy_timeout(db, 5000);
	sqlite3_extended_result_codes(db, 1);
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", cache_kib);
	if ((rc = exec(db, "PRAGMA foreign_keys = ON")) != SQLITE_OK ||
	    (rc = exec(db, sql)) != SQLITE_OK ||
	    (rc = query_int(db, "PRAGMA user_version", 0, &uv)) != SQLITE_OK)
		goto fail;
	if (uv > SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %" PRId64 " is newer "
			 "than this wicket's (%d)", path, uv, SCHEMA_VERSION);
		sqlite3_close(db);
		return -EPROTO;
	}
	if ((rc = exec(db, "PRAGMA journal_mode = WAL")) != SQLITE_OK)
		goto fail;
	if (uv == 0) {
		/* another process may be creating it right now */
		if ((rc = exec(db, "BEGIN IMMEDIATE")) != SQLITE_OK)
			goto fail;
		rc = query_int(db, "PRAGMA user_version", 0, &uv);
		if (rc == SQLITE_OK && uv == 0)
			rc = exec(db, schema_sql);
		if (rc == SQLITE_OK)
			rc = exec(db, "COMMIT");
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s: cannot create the registry: "
				 "%s", path, sqlite3_errmsg(db));
			exec(db, "ROLLBACK");
			sqlite3_close(db);
			return sql_errno(rc);
		}
	}
	*out = db;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
	sqlite3_close(db);
	return sql_errno(rc);
}

void reg_db_busy_ms(struct reg_db *db, int ms)
{
	sqlite3_busy_timeout(db->db, ms);
}

void reg_db_close(struct reg_db *db)
{
	if (db == NULL)
		return;
	sqlite3_finalize(db->data_version);
	sqlite3_finalize(db->version);
	sqlite3_finalize(db->person_id);
	sqlite3_finalize(db->household_id);
	sqlite3_finalize(db->pid);
	sqlite3_finalize(db->hid);
	sqlite3_finalize(db->subject_person);
	sqlite3_finalize(db->subject_household);
	sqlite3_close(db->db);
	free(db->path);
	free(db);
}

int reg_db_open(const char *path, struct reg_db **out, char *err,
		size_t errlen)
{
	static const struct {
		size_t off;
		const char *sql;
	} stmts[] = {
		{ offsetof(struct reg_db, data_version), "PRAGMA data_version" },
		{ offsetof(struct reg_db, version),
		  "SELECT value FROM meta WHERE key = 'version'" },
		{ offsetof(struct reg_db, person_id),
		  "SELECT id FROM person WHERE pid = ?1" },
		{ offsetof(struct reg_db, household_id),
		  "SELECT id FROM household WHERE hid = ?1" },
		{ offsetof(struct reg_db, pid),
		  "SELECT pid FROM person WHERE id = ?1" },
		{ offsetof(struct reg_db, hid),
		  "SELECT hid FROM household WHERE id = ?1" },
	};
	struct reg_db *db;
	int rc;

	*out = NULL;
	db = calloc(1, sizeof(*db));
	if (db == NULL || (db->path = strdup(path)) == NULL) {
		free(db);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = open_sqlite(path, LOAD_CACHE_KIB, &db->db, err, errlen);
	if (rc != 0) {
		reg_db_close(db);
		return rc;
	}
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)((char *)db +
						      stmts[i].off);

		rc = sqlite3_prepare_v2(db->db, stmts[i].sql, -1, st, NULL);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path,
				 sqlite3_errmsg(db->db));
			reg_db_close(db);
			return sql_errno(rc);
		}
	}
	*out = db;
	return 0;
}

/* Step a prepared one-row query: its first column, or dflt. */
static int64_t stmt_int(sqlite3_stmt *st, int64_t dflt, int *found)
{
	int64_t v = dflt;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	if (found)
		*found = rc == SQLITE_ROW;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return v;
}

/* PRAGMA data_version stays the same for the connection's own commits;
 * counting those too makes the value change for every commit, so that a
 * poller also sees an update it applied through this handle. */
int64_t reg_db_data_version(struct reg_db *db)
{
	int64_t v = stmt_int(db->data_version, -1, NULL);

	return v < 0 ? v : v + db->commits;
}

int64_t reg_db_version(struct reg_db *db)
{
	return stmt_int(db->version, 0, NULL);
}

static int name_of(sqlite3_stmt *st, int64_t key, char *buf, size_t len)
{
	int rc = -ENOENT;

	if (len > 0)
		buf[0] = '\0';
	if (key == 0)
		return 0;
	sqlite3_bind_int64(st, 1, key);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *s = sqlite3_column_text(st, 0);

		if (s && len > 0)
			snprintf(buf, len, "%s", (const char *)s);
		rc = s ? 0 : -ENOENT;
	}
	sqlite3_reset(st);
	return rc;
}

int reg_db_names(struct reg_db *db, int64_t pid, char *person, size_t plen,
		 int64_t hid, char *household, size_t hlen)
{
	int a = name_of(db->person_id, pid, person, plen);
	int b = name_of(db->household_id, hid, household, hlen);

	return a ? a : b;
}

static int key_of(sqlite3_stmt *st, const char *id, int64_t *key)
{
	int found;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	*key = stmt_int(st, 0, &found);
	return found ? 0 : -ENOENT;
}

int reg_db_pid(struct reg_db *db, const char *person, int64_t *pid)
{
	return key_of(db->pid, person, pid);
}

int reg_db_hid(struct reg_db *db, const char *household, int64_t *hid)
{
	return key_of(db->hid, household, hid);
}

/* --- import -------------------------------------------------------------- */

/* A delta's remove lists: the id nodes of each table, and id -> index. */
struct rmset {
	const struct jt_node **e[TB_N];
	size_t n[TB_N];
	struct smap map[TB_N];
};

struct flat {
	uint32_t b, i;		/* batch, row */
};

struct imp {
	struct reg_db *db;
	struct reg_batch *const *b;
	size_t nb;
	int replace;
	int lists;		/* a remote lists update, not an import */
	const struct rmset *removed;	/* a delta's, or NULL */
	int in_tx;
	struct rep rep;
	int carried[TB_N];
	struct flat *all[TB_N];
	size_t n[TB_N];
	struct smap map[TB_N];	/* id -> index in all */
	sqlite3_stmt *exists[TB_N];
};

static const char *const keep_tables[TB_N] = {
	"keep_household", "keep_person", "keep_credential"
};

static const struct row *flat_row(const struct imp *im, int t, size_t k,
				  const struct reg_batch **bp)
{
	const struct reg_batch *b = im->b[im->all[t][k].b];

	*bp = b;
	return &b->rows[t][im->all[t][k].i];
}

static int sql_error(struct imp *im, int rc)
{
	report(&im->rep, im->db->path, 0, NULL, "%s",
	       sqlite3_errmsg(im->db->db));
	return sql_errno(rc);
}

/* Every row of every batch in one list per table; the same id twice is
 * an error at the second. */
static int collect(struct imp *im)
{
	char fn[FIELD_MAX], v[64];

	for (int t = 0; t < TB_N; t++) {
		size_t total = 0;

		for (size_t j = 0; j < im->nb; j++) {
			im->carried[t] |= im->b[j]->has[t];
			total += im->b[j]->n[t];
		}
		if (total >= UINT32_MAX)
			return -E2BIG;
		im->all[t] = malloc((total ? total : 1) * sizeof(struct flat));
		if (im->all[t] == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < im->nb; j++) {
			const struct reg_batch *b = im->b[j];

			for (size_t i = 0; i < b->n[t]; i++) {
				const struct row *r = &b->rows[t][i];
				const struct reg_batch *ob;
				const struct row *o;
				uint32_t prev;
				int rc;

				rc = smap_put(&im->map[t], r->s[S_ID],
					      (uint32_t)im->n[t], &prev);
				if (rc < 0)
					return rc;
				if (rc == 0) {
					im->all[t][im->n[t]++] =
						(struct flat){ (uint32_t)j,
							       (uint32_t)i };
					continue;
				}
				o = flat_row(im, t, prev, &ob);
				report(&im->rep, b->name, r->id_line,
				       field_name(fn, sizeof(fn), b, t, i,
						  t == TB_CREDENTIALS ?
						  "value" : "id"),
				       "%s \"%s\" is also in %s at line %d",
				       table_nouns[t],
				       shown(v, sizeof(v), r->s[S_ID],
					     strlen(r->s[S_ID])),
				       ob->name ? ob->name : "-", o->id_line);
			}
		}
	}
	return 0;
}

/* Is id of table t there after the import? */
static int resolves(struct imp *im, int t, const char *id, int *rc)
{
	uint32_t k;
	int found;

	*rc = 0;
	if (smap_get(&im->map[t], id, &k))
		return 1;
	if (im->replace && im->carried[t])
		return 0;
	sqlite3_bind_text(im->exists[t], 1, id, -1, SQLITE_STATIC);
	found = sqlite3_step(im->exists[t]);
	sqlite3_reset(im->exists[t]);
	if (found != SQLITE_ROW && found != SQLITE_DONE)
		*rc = found;
	return found == SQLITE_ROW;
}

/* Why a reference does not resolve, in the words of what is applied. */
static void unresolved(struct imp *im, const struct reg_batch *b,
		       const struct row *r, int t, size_t index,
		       const struct fdesc *f, const char *id)
{
	const char *noun = table_nouns[f->ref];
	int line = r->ref_line[f->slot - S_REF1];
	char fn[FIELD_MAX], rn[FIELD_MAX], v[64];
	uint32_t k;

	field_name(fn, sizeof(fn), b, t, index, f->name);
	shown(v, sizeof(v), id, strlen(id));
	if (im->removed && smap_get(&im->removed->map[f->ref], id, &k)) {
		snprintf(rn, sizeof(rn), "$.lists.remove.%s[%" PRIu32 "]",
			 table_names[f->ref], k);
		report(&im->rep, b->name, line, fn, "%s \"%s\" is removed by "
		       "this update (%s)", noun, v, rn);
	} else if (im->lists && im->replace) {
		report(&im->rep, b->name, line, fn, "no %s \"%s\" in the "
		       "snapshot (it replaces the whole registry)", noun, v);
	} else if (im->lists) {
		report(&im->rep, b->name, line, fn, "no %s \"%s\" in the "
		       "registry or the upsert", noun, v);
	} else if (im->replace && im->carried[f->ref]) {
		report(&im->rep, b->name, line, fn, "no %s \"%s\" in the "
		       "import (a replace keeps only the %ss it names)", noun,
		       v, noun);
	} else {
		report(&im->rep, b->name, line, fn, "no %s \"%s\" in the "
		       "registry or the import", noun, v);
	}
}

static int check_refs(struct imp *im)
{
	for (int t = 0; t < TB_N; t++) {
		for (size_t k = 0; k < im->n[t] && !rep_full(&im->rep); k++) {
			const struct reg_batch *b;
			const struct row *r = flat_row(im, t, k, &b);

			for (const struct fdesc *f = table_fields[t]; f->name;
			     f++) {
				const char *id;
				uint32_t x;
				int rc = 0;

				if (f->type != F_REF)
					continue;
				id = r->s[f->slot];
				if (id == NULL)
					continue;
				if ((im->removed == NULL ||
				     !smap_get(&im->removed->map[f->ref], id,
					       &x)) &&
				    resolves(im, f->ref, id, &rc))
					continue;
				if (rc != 0)
					return sql_error(im, rc);
				unresolved(im, b, r, t, im->all[t][k].i, f, id);
			}
		}
	}
	return 0;
}

static int fill_keep(struct imp *im, int t)
{
	char sql[160];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE %s (id TEXT PRIMARY "
		 "KEY) WITHOUT ROWID", keep_tables[t]);
	if ((rc = exec(im->db->db, sql)) != SQLITE_OK)
		return rc;
	snprintf(sql, sizeof(sql), "INSERT INTO temp.%s VALUES (?1)",
		 keep_tables[t]);
	if ((rc = sqlite3_prepare_v2(im->db->db, sql, -1, &st, NULL)) !=
	    SQLITE_OK)
		return rc;
	for (size_t k = 0; k < im->n[t] && rc == SQLITE_OK; k++) {
		const struct reg_batch *b;
		const struct row *r = flat_row(im, t, k, &b);

		sqlite3_bind_text(st, 1, r->s[S_ID], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* A replace of the households that keeps the persons: a person that stays
 * must not lose its household or host. */
static int check_orphans(struct imp *im)
{
	static const char sql[] =
		"SELECT p.id, h.id, 'household' FROM person p"
		" JOIN household h ON h.hid = p.hid"
		" WHERE h.id NOT IN (SELECT id FROM temp.keep_household)"
		" UNION ALL "
		"SELECT p.id, h.id, 'host' FROM person p"
		" JOIN household h ON h.hid = p.host"
		" WHERE h.id NOT IN (SELECT id FROM temp.keep_household)"
		" LIMIT 101";
	const char *file = NULL;
	sqlite3_stmt *st;
	int rc;

	for (size_t j = 0; j < im->nb && file == NULL; j++)
		if (im->b[j]->has[TB_HOUSEHOLDS])
			file = im->b[j]->name;
	if ((rc = sqlite3_prepare_v2(im->db->db, sql, -1, &st, NULL)) !=
	    SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char v1[64], v2[64];
		const char *p = (const char *)sqlite3_column_text(st, 0);
		const char *h = (const char *)sqlite3_column_text(st, 1);
		const char *as = (const char *)sqlite3_column_text(st, 2);

		report(&im->rep, file, 0, NULL, "household \"%s\" is not in the "
		       "import, so the replace would remove it, but person "
		       "\"%s\" (not in the import) still refers to it as %s; "
		       "import the persons too, or keep the household",
		       shown(v1, sizeof(v1), h, strlen(h)),
		       shown(v2, sizeof(v2), p, strlen(p)),
		       strcmp(as, "host") == 0 ? "host" : "its household");
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_time(sqlite3_stmt *st, int i, uint32_t t)
{
	if (t == NO_TIME)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, t);
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int upsert(struct imp *im)
{
	static const char *const sql[] = {
		"INSERT INTO household (id, unit, landlord) VALUES (?1, ?2,"
		" (SELECT hid FROM household WHERE id = ?3))"
		" ON CONFLICT (id) DO UPDATE SET unit = excluded.unit,"
		" landlord = excluded.landlord",
		"INSERT INTO person (id, hid, role, valid_from, valid_until,"
		" host, quarantine_until, observation_until, blocked, name)"
		" VALUES (?1, (SELECT hid FROM household WHERE id = ?2), ?3,"
		" ?4, ?5, (SELECT hid FROM household WHERE id = ?6), ?7, ?8,"
		" ?9, ?10)"
		" ON CONFLICT (id) DO UPDATE SET hid = excluded.hid,"
		" role = excluded.role, valid_from = excluded.valid_from,"
		" valid_until = excluded.valid_until, host = excluded.host,"
		" quarantine_until = excluded.quarantine_until,"
		" observation_until = excluded.observation_until,"
		" blocked = excluded.blocked, name = excluded.name",
		"INSERT INTO credential (value, kind, pid, valid_from,"
		" valid_until, revoked)"
		" VALUES (?1, ?2, (SELECT pid FROM person WHERE id = ?3), ?4,"
		" ?5, ?6)"
		" ON CONFLICT (value) DO UPDATE SET kind = excluded.kind,"
		" pid = excluded.pid, valid_from = excluded.valid_from,"
		" valid_until = excluded.valid_until,"
		" revoked = excluded.revoked",
		/* a landlord later in the import than its tenant */
		("UPDATE household SET landlord ="
		 " (SELECT hid FROM household WHERE id = ?2) WHERE id = ?1"),
	};
	sqlite3_stmt *st[4] = { NULL };
	int rc = SQLITE_OK;

	for (int i = 0; i < 4 && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v2(im->db->db, sql[i], -1, &st[i], NULL);
	for (int t = 0; t < TB_N && rc == SQLITE_OK; t++) {
		for (size_t k = 0; k < im->n[t] && rc == SQLITE_OK; k++) {
			const struct reg_batch *b;
			const struct row *r = flat_row(im, t, k, &b);
			sqlite3_stmt *s = st[t];

			bind_text(s, 1, r->s[S_ID]);
			switch (t) {
			case TB_HOUSEHOLDS:
				bind_text(s, 2, r->s[S_TEXT]);
				bind_text(s, 3, r->s[S_REF1]);
				break;
			case TB_PERSONS:
				bind_text(s, 2, r->s[S_REF1]);
				bind_text(s, 3, role_names[r->e]);
				bind_time(s, 4, r->t[0]);
				bind_time(s, 5, r->t[1]);
				bind_text(s, 6, r->s[S_REF2]);
				bind_time(s, 7, r->t[2]);
				bind_time(s, 8, r->t[3]);
				sqlite3_bind_int(s, 9, r->flag);
				bind_text(s, 10, r->s[S_TEXT]);
				break;
			default:
				bind_text(s, 2, kind_names[r->e]);
				bind_text(s, 3, r->s[S_REF1]);
				bind_time(s, 4, r->t[0]);
				bind_time(s, 5, r->t[1]);
				sqlite3_bind_int(s, 6, r->flag);
				break;
			}
			rc = step_done(s);
		}
		if (t != TB_HOUSEHOLDS)
			continue;
		for (size_t k = 0; k < im->n[t] && rc == SQLITE_OK; k++) {
			const struct reg_batch *b;
			const struct row *r = flat_row(im, t, k, &b);

			if (r->s[S_REF1] == NULL)
				continue;
			bind_text(st[3], 1, r->s[S_ID]);
			bind_text(st[3], 2, r->s[S_REF1]);
			rc = step_done(st[3]);
		}
	}
	for (int i = 0; i < 4; i++)
		sqlite3_finalize(st[i]);
	return rc;
}

/* The replace: what the carried tables do not name goes; credentials
 * first, so that nothing refers to a person or household removed.  The
 * import runs with foreign keys off, so the cascade from persons to their
 * credentials is done here. */
static int remove_unnamed(struct imp *im)
{
	static const char *const sql[TB_N] = {
		"DELETE FROM household WHERE id NOT IN"
		" (SELECT id FROM temp.keep_household)",
		"DELETE FROM person WHERE id NOT IN"
		" (SELECT id FROM temp.keep_person);"
		"DELETE FROM credential WHERE pid NOT IN"
		" (SELECT pid FROM person)",
		"DELETE FROM credential WHERE value NOT IN"
		" (SELECT id FROM temp.keep_credential)",
	};
	int rc = SQLITE_OK;

	for (int t = TB_N - 1; t >= 0 && rc == SQLITE_OK; t--)
		if (im->carried[t])
			rc = exec(im->db->db, sql[t]);
	return rc;
}

/* The backstop for the checks above: references that would break. */
static int broken_references(struct imp *im)
{
	int64_t n = 0;
	int rc = query_int(im->db->db, "SELECT count(*) FROM "
			   "pragma_foreign_key_check", 0, &n);

	if (rc == SQLITE_OK && n > 0)
		report(&im->rep, im->db->path, 0, NULL, "the %s would "
		       "leave %" PRId64 " broken reference%s (a wicket bug; "
		       "nothing applied)", im->lists ? "update" : "import", n,
		       n == 1 ? "" : "s");
	return rc;
}

/* The new version: the highest a batch gives, each above the current
 * one; else the current one plus one. */
static int new_version(struct imp *im, int64_t cur, int64_t *out)
{
	int64_t v = 0;

	for (size_t j = 0; j < im->nb; j++) {
		const struct reg_batch *b = im->b[j];

		if (b->version == 0)
			continue;
		if (b->version <= cur)
			report(&im->rep, b->name, b->version_line, "version",
			       "%" PRId64 " is not above the registry's "
			       "version %" PRId64 " (leave \"version\" out to "
			       "take the next one)", b->version, cur);
		else if (b->version > v)
			v = b->version;
	}
	if (v == 0) {
		if (cur == INT64_MAX)
			return -EOVERFLOW;
		v = cur + 1;
	}
	*out = v;
	return 0;
}

static int current_version(sqlite3 *db, int64_t *v)
{
	return query_int(db, "SELECT value FROM meta WHERE key = 'version'", 0,
			 v);
}

static int set_version(sqlite3 *db, int64_t v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES "
				    "('version', ?1) ON CONFLICT (key) DO "
				    "UPDATE SET value = excluded.value", -1,
				    &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, v);
	rc = step_done(st);
	sqlite3_finalize(st);
	return rc;
}

/*
 * An import, and a remote lists update, in steps:
 *   imp_begin    the write transaction (foreign keys off: see the top)
 *   imp_prepare  the batches' rows in one list per table
 *   imp_check    references, and what a replace would orphan
 *   imp_write    upsert, and remove what a replace does not name
 *   imp_commit   the version, the backstop, COMMIT
 *   imp_end      ROLLBACK unless committed; free
 * Each returns 0 or -errno (reported); problems with the data are counted
 * in im->rep.n and the caller stops at the first step that leaves any.
 */
static int imp_begin(struct imp *im)
{
	char sql[80];
	int rc;

	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d",
		 IMPORT_CACHE_KIB);
	exec(im->db->db, sql);
	/* Checked by hand before and after instead: per row, SQLite's
	 * deferred checks more than double the time of a large import.
	 * (A no-op inside a transaction, so before BEGIN.) */
	exec(im->db->db, "PRAGMA foreign_keys = OFF");
	rc = exec(im->db->db, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return sql_error(im, rc);
	im->in_tx = 1;
	return 0;
}

static int imp_prepare(struct imp *im)
{
	static const char *const exists_sql[TB_N] = {
		"SELECT 1 FROM household WHERE id = ?1",
		"SELECT 1 FROM person WHERE id = ?1",
		"SELECT 1 FROM credential WHERE value = ?1",
	};
	int rc = collect(im);

	if (rc < 0) {
		report(&im->rep, NULL, 0, NULL, "%s", strerror(-rc));
		return rc;
	}
	for (int t = 0; t < TB_N; t++) {
		rc = sqlite3_prepare_v2(im->db->db, exists_sql[t], -1,
					&im->exists[t], NULL);
		if (rc != SQLITE_OK)
			return sql_error(im, rc);
	}
	return 0;
}

static int imp_check(struct imp *im)
{
	int rc = check_refs(im);

	if (rc < 0 || !im->replace || im->rep.n > 0)
		return rc;
	for (int t = 0; t < TB_N && rc == SQLITE_OK; t++)
		if (im->carried[t])
			rc = fill_keep(im, t);
	if (rc == SQLITE_OK && im->carried[TB_HOUSEHOLDS] &&
	    !im->carried[TB_PERSONS])
		rc = check_orphans(im);
	return rc == SQLITE_OK ? 0 : sql_error(im, rc);
}

static int imp_write(struct imp *im)
{
	char sql[80];
	int rc = upsert(im);

	if (rc == SQLITE_OK && im->replace)
		rc = remove_unnamed(im);
	for (int t = 0; t < TB_N && rc == SQLITE_OK; t++) {
		if (im->replace && im->carried[t]) {
			snprintf(sql, sizeof(sql), "DROP TABLE temp.%s",
				 keep_tables[t]);
			rc = exec(im->db->db, sql);
		}
	}
	return rc == SQLITE_OK ? 0 : sql_error(im, rc);
}

/* 0 committed, the number of problems (> 0, the backstop), or -errno. */
static int imp_commit(struct imp *im, int64_t version)
{
	int rc = set_version(im->db->db, version);

	if (rc == SQLITE_OK)
		rc = broken_references(im);
	if (rc == SQLITE_OK && im->rep.n > 0)
		return im->rep.n;
	if (rc == SQLITE_OK)
		rc = exec(im->db->db, "COMMIT");
	if (rc != SQLITE_OK)
		return sql_error(im, rc);
	im->in_tx = 0;
	im->db->commits++;
	return 0;
}

static void imp_end(struct imp *im)
{
	char sql[80];

	if (im->in_tx)
		exec(im->db->db, "ROLLBACK");
	im->in_tx = 0;
	exec(im->db->db, "PRAGMA foreign_keys = ON");
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", LOAD_CACHE_KIB);
	exec(im->db->db, sql);
	for (int t = 0; t < TB_N; t++) {
		sqlite3_finalize(im->exists[t]);
		im->exists[t] = NULL;
		smap_free(&im->map[t]);
		free(im->all[t]);
		im->all[t] = NULL;
	}
}

int reg_import(struct reg_db *db, struct reg_batch *const *b, size_t n,
	       int replace, reg_error_fn err, void *ctx)
{
	struct imp im = { 0 };
	int64_t cur = 0, next = 0;
	int rc;

	im.db = db;
	im.b = b;
	im.nb = n;
	im.replace = replace;
	im.rep = (struct rep){ err, ctx, 0 };
	if ((rc = imp_prepare(&im)) < 0 || (rc = imp_begin(&im)) < 0)
		goto out;
	if ((rc = current_version(db->db, &cur)) != SQLITE_OK) {
		rc = sql_error(&im, rc);
		goto out;
	}
	if ((rc = new_version(&im, cur, &next)) < 0) {
		report(&im.rep, db->path, 0, "version", "the version cannot "
		       "be raised any further");
		goto out;
	}
	if ((rc = imp_check(&im)) < 0)
		goto out;
	if (im.rep.n > 0) {
		rc = im.rep.n;
		goto out;
	}
	if ((rc = imp_write(&im)) == 0)
		rc = imp_commit(&im, next);
out:
	imp_end(&im);
	return rc;
}

/* --- removal --------------------------------------------------------------- */

/* Like an import: all or nothing, in one transaction that raises the
 * version.  The credentials go with their person (by hand, as in the
 * import, rather than by the schema's cascade), so a removed card is
 * unknown from wicketd's next reload on.  The caller names each id once:
 * a second one would find its person gone and count as unknown. */
int reg_remove_persons(struct reg_db *db, const char *const *ids, size_t n,
		       size_t *credentials, reg_error_fn err, void *ctx)
{
	struct rep rep = { err, ctx, 0 };
	sqlite3_stmt *find = NULL, *del_c = NULL, *del_p = NULL, *ver = NULL;
	size_t ncred = 0;
	int64_t cur = 0;
	int rc, in_tx = 0;
	char v[64];

	if (credentials)
		*credentials = 0;
	rc = exec(db->db, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		goto sql_fail;
	in_tx = 1;
	if ((rc = sqlite3_prepare_v2(db->db, "SELECT pid FROM person WHERE "
				     "id = ?1", -1, &find, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db->db, "DELETE FROM credential WHERE "
				     "pid = ?1", -1, &del_c, NULL)) !=
	    SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db->db, "DELETE FROM person WHERE "
				     "pid = ?1", -1, &del_p, NULL)) !=
	    SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db->db, "UPDATE meta SET value = ?1 "
				     "WHERE key = 'version'", -1, &ver,
				     NULL)) != SQLITE_OK)
		goto sql_fail;
	for (size_t i = 0; i < n; i++) {
		int64_t pid;

		sqlite3_bind_text(find, 1, ids[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(find);
		pid = rc == SQLITE_ROW ? sqlite3_column_int64(find, 0) : 0;
		sqlite3_reset(find);
		if (rc == SQLITE_DONE) {
			report(&rep, NULL, 0, NULL, "no person \"%s\" in the "
			       "registry", shown(v, sizeof(v), ids[i],
						 strlen(ids[i])));
			continue;
		}
		if (rc != SQLITE_ROW)
			goto sql_fail;
		sqlite3_bind_int64(del_c, 1, pid);
		if ((rc = step_done(del_c)) != SQLITE_OK)
			goto sql_fail;
		ncred += (size_t)sqlite3_changes(db->db);
		sqlite3_bind_int64(del_p, 1, pid);
		if ((rc = step_done(del_p)) != SQLITE_OK)
			goto sql_fail;
	}
	if (rep.n > 0) {
		rc = rep.n;
		goto out;
	}
	if ((rc = query_int(db->db, "SELECT value FROM meta WHERE key = "
			    "'version'", 0, &cur)) != SQLITE_OK)
		goto sql_fail;
	if (cur == INT64_MAX) {
		report(&rep, db->path, 0, "version", "the version cannot be "
		       "raised any further");
		rc = -EOVERFLOW;
		goto out;
	}
	sqlite3_bind_int64(ver, 1, cur + 1);
	if ((rc = step_done(ver)) != SQLITE_OK ||
	    (rc = exec(db->db, "COMMIT")) != SQLITE_OK)
		goto sql_fail;
	in_tx = 0;
	db->commits++;
	if (credentials)
		*credentials = ncred;
	rc = 0;
	goto out;
sql_fail:
	report(&rep, db->path, 0, NULL, "%s", sqlite3_errmsg(db->db));
	rc = sql_errno(rc);
out:
	if (in_tx)
		exec(db->db, "ROLLBACK");
	sqlite3_finalize(find);
	sqlite3_finalize(del_c);
	sqlite3_finalize(del_p);
	sqlite3_finalize(ver);
	return rc;
}

/* --- remote lists updates ---------------------------------------------------- */

/* Errors about the document name no file: the line is the signed
 * document's and the field its JSON path. */
#define DOC NULL

static void rmset_free(struct rmset *rm)
{
	for (int t = 0; t < TB_N; t++) {
		free(rm->e[t]);
		smap_free(&rm->map[t]);
	}
}

/* The members of lists: mode, and registry (a snapshot) or base, upsert
 * and remove (a delta).  admin_verify() has checked the same already; this
 * is the module's own guard.  Returns the errors reported. */
static int lists_shape(struct rep *rep, const struct jt_node *lists,
		       int *delta, const struct jt_node **base,
		       const struct jt_node **body,
		       const struct jt_node **remove)
{
	const struct jt_node *mode;
	char path[FIELD_MAX];
	int before = rep->n;

	if (lists == NULL || lists->type != JT_OBJECT) {
		report(rep, DOC, lists ? lists->line : 0, "$.lists",
		       "expected an object, got %s",
		       lists ? jt_type_name(lists->type) : "nothing");
		return rep->n - before;
	}
	mode = jt_get(lists, "mode");
	if (mode == NULL) {
		report(rep, DOC, lists->line, "$.lists.mode", "missing "
		       "(\"snapshot\" or \"delta\")");
		return rep->n - before;
	}
	if (mode->type != JT_STRING || (strcmp(mode->s, "snapshot") != 0 &&
					strcmp(mode->s, "delta") != 0)) {
		report(rep, DOC, mode->line, "$.lists.mode", "expected "
		       "\"snapshot\" or \"delta\"");
		return rep->n - before;
	}
	*delta = mode->s[0] == 'd';
	for (const struct jt_node *m = lists->kids; m; m = m->next) {
		if (strcmp(m->key, "mode") == 0 ||
		    (!*delta && strcmp(m->key, "registry") == 0) ||
		    (*delta && (strcmp(m->key, "base") == 0 ||
				strcmp(m->key, "upsert") == 0 ||
				strcmp(m->key, "remove") == 0)))
			continue;
		snprintf(path, sizeof(path), "$.lists.%s", m->key);
		report(rep, DOC, m->key_line, path, "unknown field; %s",
		       *delta ? "a delta has mode, base, upsert and remove" :
		       "a snapshot has mode and registry");
	}
	if (!*delta) {
		*body = jt_get(lists, "registry");
		if (*body == NULL)
			report(rep, DOC, lists->line, "$.lists.registry",
			       "missing (the whole registry, as an import "
			       "document)");
		else if ((*body)->type != JT_OBJECT)
			report(rep, DOC, (*body)->line, "$.lists.registry",
			       "expected an object, got %s",
			       jt_type_name((*body)->type));
		return rep->n - before;
	}
	*base = jt_get(lists, "base");
	if (*base == NULL)
		report(rep, DOC, lists->line, "$.lists.base", "missing (the "
		       "registry version the delta applies to)");
	else if ((*base)->type != JT_NUMBER || !(*base)->is_int ||
		 (*base)->i < 0)
		report(rep, DOC, (*base)->line, "$.lists.base", "expected a "
		       "whole number of 0 or more");
	*body = jt_get(lists, "upsert");
	*remove = jt_get(lists, "remove");
	if (*body == NULL && *remove == NULL)
		report(rep, DOC, lists->line, "$.lists", "a delta needs "
		       "\"upsert\", \"remove\" or both");
	if (*body && (*body)->type != JT_OBJECT)
		report(rep, DOC, (*body)->line, "$.lists.upsert", "expected "
		       "an object, got %s", jt_type_name((*body)->type));
	if (*remove && (*remove)->type != JT_OBJECT)
		report(rep, DOC, (*remove)->line, "$.lists.remove", "expected "
		       "an object, got %s", jt_type_name((*remove)->type));
	return rep->n - before;
}

/* remove: {"persons": [ids], "households": [ids], "credentials":
 * [values]}, each optional; every entry a valid id, named once.  Returns
 * the errors reported, or -ENOMEM. */
static int parse_remove(struct rep *rep, const struct jt_node *remove,
			struct rmset *rm)
{
	int before = rep->n;

	for (const struct jt_node *m = remove->kids; m; m = m->next) {
		char path[FIELD_MAX], msg[160], v[64];
		size_t i = 0;
		int t;

		for (t = 0; t < TB_N; t++)
			if (strcmp(m->key, table_names[t]) == 0)
				break;
		snprintf(path, sizeof(path), "$.lists.remove.%s", m->key);
		if (t == TB_N) {
			report(rep, DOC, m->key_line, path, "unknown field; "
			       "remove has persons, households and "
			       "credentials");
			continue;
		}
		if (m->type != JT_ARRAY) {
			report(rep, DOC, m->line, path, "expected an array of "
			       "%s, got %s", t == TB_CREDENTIALS ?
			       "credential values" : "ids",
			       jt_type_name(m->type));
			continue;
		}
		rm->e[t] = calloc(m->n ? m->n : 1, sizeof(*rm->e[t]));
		if (rm->e[t] == NULL)
			return -ENOMEM;
		for (const struct jt_node *e = m->kids; e; e = e->next, i++) {
			uint32_t prev;
			int rc;

			snprintf(path, sizeof(path), "$.lists.remove.%s[%zu]",
				 m->key, i);
			if (e->type != JT_STRING) {
				report(rep, DOC, e->line, path, "expected a "
				       "string, got %s",
				       jt_type_name(e->type));
				continue;
			}
			if (check_id(e->s, e->len, t == TB_CREDENTIALS, msg,
				     sizeof(msg)) != 0) {
				report(rep, DOC, e->line, path, "\"%s\": %s",
				       shown(v, sizeof(v), e->s, e->len), msg);
				continue;
			}
			rc = smap_put(&rm->map[t], e->s, (uint32_t)rm->n[t],
				      &prev);
			if (rc < 0)
				return rc;
			if (rc > 0) {
				report(rep, DOC, e->line, path, "%s \"%s\" is "
				       "also $.lists.remove.%s[%zu]",
				       table_nouns[t],
				       shown(v, sizeof(v), e->s, e->len),
				       m->key, (size_t)prev);
				continue;
			}
			rm->e[t][rm->n[t]++] = e;
		}
	}
	return rep->n - before;
}

/* An entry both upserted and removed: which one was meant? */
static void check_both(struct rep *rep, const struct reg_batch *b,
		       const struct rmset *rm)
{
	char fn[FIELD_MAX], rn[FIELD_MAX], v[64];

	for (int t = 0; t < TB_N; t++) {
		for (size_t i = 0; i < b->n[t]; i++) {
			const char *id = b->rows[t][i].s[S_ID];
			uint32_t k;

			if (!smap_get(&rm->map[t], id, &k))
				continue;
			snprintf(rn, sizeof(rn), "$.lists.remove.%s[%" PRIu32
				 "]", table_names[t], k);
			report(rep, DOC, rm->e[t][k]->line, rn, "%s \"%s\" is "
			       "also upserted (%s); an update either "
			       "upserts or removes an entry", table_nouns[t],
			       shown(v, sizeof(v), id, strlen(id)),
			       field_name(fn, sizeof(fn), b, t, i, NULL));
		}
	}
}

/* The key (first column) of the row for id, if found: an SQLite code. */
static int find_key(sqlite3_stmt *st, const char *id, int64_t *key,
		    int *found)
{
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	*key = *found ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Who still refers to a household removed (hid), for its error. */
static int household_users(struct imp *im, sqlite3_stmt *users, int64_t hid,
			   const struct jt_node *e, uint32_t k)
{
	char path[FIELD_MAX], v1[64], v2[64], more[48] = "";
	const char *as = NULL;
	char who[64];
	int64_t n = 0;
	int rc;

	sqlite3_bind_int64(users, 1, hid);
	while ((rc = sqlite3_step(users)) == SQLITE_ROW) {
		if (n++ > 0)
			continue;
		as = strcmp((const char *)sqlite3_column_text(users, 0),
			    "landlord") == 0 ? "landlord" :
		     strcmp((const char *)sqlite3_column_text(users, 0),
			    "host") == 0 ? "host" : "household";
		shown(who, sizeof(who),
		      (const char *)sqlite3_column_text(users, 1),
		      (size_t)sqlite3_column_bytes(users, 1));
	}
	sqlite3_reset(users);
	if (rc != SQLITE_DONE)
		return rc;
	if (n == 0)
		return SQLITE_OK;
	if (n > 1)
		snprintf(more, sizeof(more), " (and %" PRId64 " more)", n - 1);
	snprintf(path, sizeof(path), "$.lists.remove.households[%" PRIu32 "]",
		 k);
	shown(v1, sizeof(v1), e->s, e->len);
	snprintf(v2, sizeof(v2), "%s", who);
	if (strcmp(as, "landlord") == 0)
		report(&im->rep, DOC, e->line, path, "household \"%s\" is "
		       "still the landlord of household \"%s\"%s; remove "
		       "that too, or give it another landlord in upsert", v1,
		       v2, more);
	else
		report(&im->rep, DOC, e->line, path, "household \"%s\" is "
		       "still %s of person \"%s\"%s; remove the person too, "
		       "or move it in upsert", v1, strcmp(as, "host") == 0 ?
		       "the host" : "the household", v2, more);
	return SQLITE_OK;
}

/* A delta's removals, after its upserts: credentials, persons with their
 * credentials (by hand: foreign keys are off), households nothing refers
 * to any more.  Nothing is inserted after the households go, so a hid
 * cannot be reused for something else within the update.  Returns 0 or
 * -errno; unknown ids and households in use are counted in im->rep. */
static int remove_listed(struct imp *im, const struct rmset *rm)
{
	static const char *const sql[] = {
		"DELETE FROM credential WHERE value = ?1",
		"SELECT pid FROM person WHERE id = ?1",
		"DELETE FROM credential WHERE pid = ?1",
		"DELETE FROM person WHERE pid = ?1",
		"SELECT hid FROM household WHERE id = ?1",
		"DELETE FROM household WHERE hid = ?1",
		"SELECT 'household', id FROM person WHERE hid = ?1"
		" UNION ALL SELECT 'host', id FROM person WHERE host = ?1"
		" UNION ALL SELECT 'landlord', id FROM household"
		" WHERE landlord = ?1",
	};
	enum { DEL_CRED, FIND_P, DEL_PCRED, DEL_P, FIND_H, DEL_H, USERS, NST };
	sqlite3_stmt *st[NST] = { NULL };
	sqlite3 *db = im->db->db;
	int64_t *hids = NULL;
	char path[FIELD_MAX], v[64];
	int rc = SQLITE_OK;

	for (int i = 0; i < NST && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v2(db, sql[i], -1, &st[i], NULL);
	if (rc == SQLITE_OK && rm->n[TB_HOUSEHOLDS] > 0) {
		hids = calloc(rm->n[TB_HOUSEHOLDS], sizeof(*hids));
		if (hids == NULL)
			rc = SQLITE_NOMEM;
	}
	for (int t = TB_CREDENTIALS; t >= 0 && rc == SQLITE_OK; t--) {
		for (size_t k = 0; k < rm->n[t] && rc == SQLITE_OK; k++) {
			const struct jt_node *e = rm->e[t][k];
			int64_t key = 0;
			int found;

			if (t == TB_CREDENTIALS) {
				sqlite3_bind_text(st[DEL_CRED], 1, e->s, -1,
						  SQLITE_STATIC);
				rc = step_done(st[DEL_CRED]);
				found = sqlite3_changes(db) > 0;
			} else {
				rc = find_key(st[t == TB_PERSONS ? FIND_P :
						 FIND_H], e->s, &key, &found);
			}
			if (rc != SQLITE_OK)
				break;
			if (!found) {
				snprintf(path, sizeof(path),
					 "$.lists.remove.%s[%zu]",
					 table_names[t], k);
				report(&im->rep, DOC, e->line, path, "no %s "
				       "\"%s\" in the registry",
				       table_nouns[t],
				       shown(v, sizeof(v), e->s, e->len));
				continue;
			}
			if (t == TB_PERSONS) {
				sqlite3_bind_int64(st[DEL_PCRED], 1, key);
				rc = step_done(st[DEL_PCRED]);
				sqlite3_bind_int64(st[DEL_P], 1, key);
				if (rc == SQLITE_OK)
					rc = step_done(st[DEL_P]);
			} else if (t == TB_HOUSEHOLDS) {
				hids[k] = key;
				sqlite3_bind_int64(st[DEL_H], 1, key);
				rc = step_done(st[DEL_H]);
			}
		}
	}
	/* all listed households gone: whatever still refers to one stays */
	for (size_t k = 0; k < rm->n[TB_HOUSEHOLDS] && rc == SQLITE_OK &&
	     !rep_full(&im->rep); k++)
		if (hids[k] != 0)
			rc = household_users(im, st[USERS], hids[k],
					     rm->e[TB_HOUSEHOLDS][k],
					     (uint32_t)k);
	free(hids);
	for (int i = 0; i < NST; i++)
		sqlite3_finalize(st[i]);
	return rc == SQLITE_OK ? 0 : sql_error(im, rc);
}

int reg_apply_lists(struct reg_db *db, const struct jt_node *lists,
		    int64_t version, reg_error_fn err, void *ctx,
		    int64_t *in_force)
{
	const struct jt_node *base = NULL, *body = NULL, *remove = NULL;
	struct reg_batch *b = NULL;
	struct rmset rm = { 0 };
	struct imp im = { 0 };
	int64_t cur = 0;
	int rc, delta = 0;

	im.db = db;
	im.lists = 1;
	im.rep = (struct rep){ err, ctx, 0 };
	if (in_force)
		*in_force = 0;
	/* the checks against the version in force, and the writes, in one
	 * transaction: a concurrent import cannot slip between them */
	if ((rc = imp_begin(&im)) < 0)
		goto out;
	if ((rc = current_version(db->db, &cur)) != SQLITE_OK) {
		rc = sql_error(&im, rc);
		goto out;
	}
	if (in_force)
		*in_force = cur;
	if (version <= cur) {
		report(&im.rep, DOC, 0, "$.version", "%" PRId64 " is not "
		       "above the registry's version %" PRId64, version, cur);
		rc = -EALREADY;
		goto out;
	}
	if ((rc = lists_shape(&im.rep, lists, &delta, &base, &body,
			      &remove)) != 0)
		goto out;
	if (delta && base->i != cur) {
		report(&im.rep, DOC, base->line, "$.lists.base", "the delta "
		       "applies to registry version %" PRId64 ", but version "
		       "%" PRId64 " is in force", base->i, cur);
		rc = -ESTALE;
		goto out;
	}
	if (body) {
		const char *path = delta ? "$.lists.upsert" : "$.lists.registry";
		char fn[FIELD_MAX];

		b = batch_new(DOC, path, REG_JSON);
		if (b == NULL) {
			rc = -ENOMEM;
			goto nomem;
		}
		if ((rc = batch_fill(b, &im.rep, NULL, 0, body)) < 0)
			goto nomem;
		if (b->version != 0 && b->version != version)
			report(&im.rep, DOC, b->version_line,
			       top_field(fn, sizeof(fn), b, "version"),
			       "%" PRId64 " differs from the update's version "
			       "%" PRId64 " (leave it out)", b->version,
			       version);
		/* a snapshot is every table, whether it lists it or not */
		for (int t = 0; t < TB_N && !delta; t++)
			b->has[t] = 1;
	}
	if (remove && (rc = parse_remove(&im.rep, remove, &rm)) < 0)
		goto nomem;
	if (b && delta && im.rep.n == 0)
		check_both(&im.rep, b, &rm);
	if (im.rep.n > 0) {
		rc = im.rep.n;
		goto out;
	}
	im.b = b ? &b : NULL;
	im.nb = b ? 1 : 0;
	im.replace = !delta;
	im.removed = delta ? &rm : NULL;
	if ((rc = imp_prepare(&im)) < 0 || (rc = imp_check(&im)) < 0)
		goto out;
	if (im.rep.n == 0 && (rc = imp_write(&im)) == 0 && delta)
		rc = remove_listed(&im, &rm);
	if (rc < 0)
		goto out;
	if (im.rep.n > 0) {
		rc = im.rep.n;
		goto out;
	}
	rc = imp_commit(&im, version);
	if (rc == 0 && in_force)
		*in_force = version;
	goto out;
nomem:
	report(&im.rep, DOC, 0, NULL, "out of memory");
out:
	imp_end(&im);
	rmset_free(&rm);
	reg_batch_free(b);
	return rc;
}

#undef DOC

/* --- export ---------------------------------------------------------------- */

static const char *const export_sql[TB_N] = {
	"SELECT h.id, h.unit, l.id FROM household h"
	" LEFT JOIN household l ON l.hid = h.landlord ORDER BY h.hid",
	"SELECT p.id, h.id, p.role, p.valid_from, p.valid_until, o.id,"
	" p.quarantine_until, p.observation_until, p.blocked, p.name"
	" FROM person p LEFT JOIN household h ON h.hid = p.hid"
	" LEFT JOIN household o ON o.hid = p.host ORDER BY p.pid",
	"SELECT c.value, c.kind, p.id, c.valid_from, c.valid_until, c.revoked"
	" FROM credential c JOIN person p ON p.pid = c.pid ORDER BY c.cid",
};


static void csv_string(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static int export_table(sqlite3 *db, int t, enum reg_format fmt, FILE *out)
{
	sqlite3_stmt *st;
	int rc, first = 1;

	rc = sqlite3_prepare_v2(db, export_sql[t], -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_errno(rc);
	if (fmt == REG_JSON) {
		fprintf(out, "  \"%s\": [", table_names[t]);
	} else {
		for (const struct fdesc *f = table_fields[t]; f->name; f++)
			fprintf(out, "%s%s", f == table_fields[t] ? "" : ",",
				f->name);
		fputs("\r\n", out);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int col = 0, firstf = 1;

		if (fmt == REG_JSON)
			fprintf(out, "%s\n    {", first ? "" : ",");
		first = 0;
		for (const struct fdesc *f = table_fields[t]; f->name;
		     f++, col++) {
			int null = sqlite3_column_type(st, col) == SQLITE_NULL;
			char tb[32];

			if (fmt == REG_JSON) {
				if (null || (f->type == F_BOOL &&
					     sqlite3_column_int(st, col) == 0))
					continue;
				fprintf(out, "%s\"%s\": ", firstf ? "" : ", ",
					f->name);
				firstf = 0;
			} else if (col > 0) {
				fputc(',', out);
			}
			if (null)
				continue;
			if (f->type == F_BOOL) {
				fputs(sqlite3_column_int(st, col) ? "true" :
				      "false", out);
				continue;
			}
			if (f->type == F_FROM || f->type == F_UNTIL) {
				format_time(tb, sizeof(tb),
					    sqlite3_column_int64(st, col));
				if (fmt == REG_JSON)
					fprintf(out, "\"%s\"", tb);
				else
					fputs(tb, out);
				continue;
			}
			if (fmt == REG_JSON)
				json_fput_str(out, (const char *)
					    sqlite3_column_text(st, col));
			else
				csv_string(out, (const char *)
					   sqlite3_column_text(st, col));
		}
		fputs(fmt == REG_JSON ? "}" : "\r\n", out);
	}
	sqlite3_finalize(st);
	if (fmt == REG_JSON)
		fputs(first ? "]" : "\n  ]", out);
	return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

int reg_export(struct reg_db *db, enum reg_format fmt, const char *table,
	       FILE *out)
{
	int t = -1, rc = 0;

	if (table) {
		for (t = 0; t < TB_N; t++)
			if (strcmp(table, table_names[t]) == 0)
				break;
		if (t == TB_N)
			return -EINVAL;
	}
	if (fmt == REG_CSV && t < 0)
		return -EINVAL;
	if (exec(db->db, "BEGIN") != SQLITE_OK)
		return sql_errno(sqlite3_errcode(db->db));
	if (fmt == REG_JSON)
		fprintf(out, "{\n  \"version\": %" PRId64,
			reg_db_version(db));
	for (int k = 0; k < TB_N && rc == 0; k++) {
		if (t >= 0 && k != t)
			continue;
		if (fmt == REG_JSON)
			fputs(",\n", out);
		rc = export_table(db->db, k, fmt, out);
	}
	if (fmt == REG_JSON)
		fputs("\n}\n", out);
	exec(db->db, "COMMIT");
	if (rc == 0 && (fflush(out) != 0 || ferror(out)))
		rc = -EIO;
	return rc;
}

/* --- in memory ------------------------------------------------------------- */

/* person: hid, role, blocked and "has extras" packed in one word */
#define P_HID_MASK ((1u << HID_BITS) - 1)
#define P_ROLE_SHIFT HID_BITS
#define P_BLOCKED (1u << 30)
#define P_EXTRA (1u << 31)
/* credential: the person's index, revoked and "has a window" */
#define C_PERSON_MASK ((1u << 30) - 1)
#define C_REVOKED (1u << 30)
#define C_WINDOW (1u << 31)

struct mperson {
	uint32_t pid;
	uint32_t bits;
};

struct mextra {
	uint32_t idx;		/* the person's index */
	uint32_t from, until;	/* 0 / UINT32_MAX: unbounded */
	uint32_t host;		/* hid, 0: none */
	uint32_t quarantine, observation;	/* until; 0: none */
};

struct mcred {
	uint32_t off;		/* of the value in the arena */
	uint32_t bits;
};

struct mwindow {
	uint32_t idx;		/* the credential's index (while loading:
				 * its value's offset) */
	uint32_t from, until;
};

/* find_idx() reads idx at the start of each entry */
_Static_assert(offsetof(struct mextra, idx) == 0, "idx first");
_Static_assert(offsetof(struct mwindow, idx) == 0, "idx first");

/* A growable array of bytes in its own mapping. */
struct vec {
	void *p;
	size_t len, cap;
};

struct registry {
	int64_t version;
	size_t households;
	struct vec persons, extras, creds, windows, values;
};

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

static int vec_reserve(struct vec *v, size_t more)
{
	size_t need = v->len + more, cap;
	void *p;

	if (need <= v->cap)
		return 0;
	cap = v->cap ? v->cap : page_round(1);
	while (cap < need)
		cap *= 2;
	if (v->p == NULL)
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else
		p = mremap(v->p, v->cap, cap, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -ENOMEM;
	v->p = p;
	v->cap = cap;
	return 0;
}

static int vec_push(struct vec *v, const void *x, size_t n)
{
	if (vec_reserve(v, n) != 0)
		return -ENOMEM;
	memcpy((char *)v->p + v->len, x, n);
	v->len += n;
	return 0;
}

static void vec_free(struct vec *v)
{
	if (v->p)
		munmap(v->p, v->cap);
	memset(v, 0, sizeof(*v));
}

/*
 * Give back what the data does not use.  munmap of the tail rather than a
 * shrinking mremap: qemu-user 7.2 (Debian 12), which runs the armhf unit
 * tests, unmaps the wrong pages on an in-place shrink for 32-bit guests and
 * destroys the next mapping.
 */
static void vec_fit(struct vec *v)
{
	size_t cap = page_round(v->len);

	if (v->p == NULL || cap >= v->cap)
		return;
	if (cap == 0) {
		vec_free(v);
		return;
	}
	if (munmap((char *)v->p + cap, v->cap - cap) == 0)
		v->cap = cap;
}

void reg_free(struct registry *r)
{
	if (r == NULL)
		return;
	vec_free(&r->persons);
	vec_free(&r->extras);
	vec_free(&r->creds);
	vec_free(&r->windows);
	vec_free(&r->values);
	free(r);
}

static uint32_t clamp_u32(sqlite3_stmt *st, int col, uint32_t null)
{
	int64_t v;

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return null;
	v = sqlite3_column_int64(st, col);
	return v < 0 ? 0 : v > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int role_of(const unsigned char *s)
{
	return s ? name_index(role_names, RULES_ROLES, (const char *)s) : -1;
}

static int load_persons(sqlite3 *db, struct registry *r, size_t n,
			char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT pid, hid, role, valid_from, valid_until, host,"
		" quarantine_until, observation_until, blocked"
		" FROM person ORDER BY pid";
	sqlite3_stmt *st;
	int rc;

	if (vec_reserve(&r->persons, n * sizeof(struct mperson)) != 0)
		return -ENOMEM;
	if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK)
		return sql_errno(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t pid = sqlite3_column_int64(st, 0);
		int64_t hid = sqlite3_column_int64(st, 1);
		int role = role_of(sqlite3_column_text(st, 2));
		struct mextra x = {
			.idx = (uint32_t)(r->persons.len /
					  sizeof(struct mperson)),
			.from = clamp_u32(st, 3, 0),
			.until = clamp_u32(st, 4, UINT32_MAX),
			.host = (uint32_t)sqlite3_column_int64(st, 5),
			.quarantine = clamp_u32(st, 6, 0),
			.observation = clamp_u32(st, 7, 0),
		};
		struct mperson p;

		if (pid <= 0 || pid > UINT32_MAX || hid < 0 ||
		    hid > P_HID_MASK || sqlite3_column_int64(st, 5) < 0 ||
		    sqlite3_column_int64(st, 5) > UINT32_MAX || role < 0 ||
		    x.idx > C_PERSON_MASK) {
			snprintf(err, errlen, "person %" PRId64 ": key, "
				 "household or role out of range", pid);
			sqlite3_finalize(st);
			return -ERANGE;
		}
		p.pid = (uint32_t)pid;
		p.bits = (uint32_t)hid | (uint32_t)role << P_ROLE_SHIFT;
		if (sqlite3_column_int(st, 8))
			p.bits |= P_BLOCKED;
		if (x.from || x.until != UINT32_MAX || x.host ||
		    x.quarantine || x.observation) {
			p.bits |= P_EXTRA;
			if (vec_push(&r->extras, &x, sizeof(x)) != 0)
				rc = SQLITE_NOMEM;
		}
		if (rc != SQLITE_NOMEM &&
		    vec_push(&r->persons, &p, sizeof(p)) != 0)
			rc = SQLITE_NOMEM;
		if (rc == SQLITE_NOMEM)
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "reading persons: %s",
			 sqlite3_errstr(rc));
		return sql_errno(rc);
	}
	return 0;
}

/* The index of the person with that pid: persons are sorted by pid. */
static int64_t person_index(const struct registry *r, uint32_t pid)
{
	const struct mperson *p = r->persons.p;
	size_t lo = 0, hi = r->persons.len / sizeof(*p);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->persons.len / sizeof(*p) && p[lo].pid == pid ?
	       (int64_t)lo : -1;
}

/* A credential while loading: its sort key and, in off and bits, the
 * entry it becomes (struct mcred is the last 8 bytes). */
struct skey {
	uint64_t prefix;	/* the value's first 8 bytes, big-endian */
	uint32_t off;
	uint32_t bits;
};

static uint64_t prefix_of(const char *s)
{
	uint64_t k = 0;
	int i;

	for (i = 0; i < 8 && s[i]; i++)
		k = k << 8 | (unsigned char)s[i];
	return i == 0 ? 0 : k << (8 * (8 - i));
}

/* Most comparisons end at the prefix; v is the value arena. */
static int key_less(const struct skey *a, const struct skey *b,
		    const char *v)
{
	if (a->prefix != b->prefix)
		return a->prefix < b->prefix;
	return strcmp(v + a->off, v + b->off) < 0;
}

static void key_swap(struct skey *a, struct skey *b)
{
	struct skey t = *a;

	*a = *b;
	*b = t;
}

static void sift_down(struct skey *k, size_t i, size_t n, const char *v)
{
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			return;
		if (c + 1 < n && key_less(&k[c], &k[c + 1], v))
			c++;
		if (!key_less(&k[i], &k[c], v))
			return;
		key_swap(&k[i], &k[c]);
		i = c;
	}
}

static void heap_sort(struct skey *k, size_t n, const char *v)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(k, i, n, v);
	while (n > 1) {
		key_swap(&k[0], &k[--n]);
		sift_down(k, 0, n, v);
	}
}

/* In place (a reload must not need a second copy of the keys): quicksort
 * on the middle element, heapsort when it degenerates, insertion sort for
 * short runs.  Values are unique, so no two keys are equal. */
static void sort_keys(struct skey *k, size_t n, const char *v, int depth)
{
	while (n > 16) {
		struct skey p = k[n / 2];
		size_t i = 0, j = n - 1;

		if (depth-- <= 0) {
			heap_sort(k, n, v);
			return;
		}
		for (;;) {
			while (key_less(&k[i], &p, v))
				i++;
			while (key_less(&p, &k[j], v))
				j--;
			if (i >= j)
				break;
			key_swap(&k[i], &k[j]);
			i++;
			j--;
		}
		/* [0, j] and [j + 1, n): recurse into the smaller */
		if (j + 1 < n - (j + 1)) {
			sort_keys(k, j + 1, v, depth);
			k += j + 1;
			n -= j + 1;
		} else {
			sort_keys(k + j + 1, n - (j + 1), v, depth);
			n = j + 1;
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct skey x = k[i];
		size_t j = i;

		for (; j > 0 && key_less(&x, &k[j - 1], v); j--)
			k[j] = k[j - 1];
		k[j] = x;
	}
}

/* Credentials come in load order into the key array, sorted by value in
 * place, then compacted in place into the credential array.  pid ->
 * person index through a direct table while reading, when the pids are
 * dense enough (they are: SQLite hands out max + 1), else by binary
 * search.  Windows are read in load order, keyed by the value's offset
 * (which grows with it), and re-keyed by the sorted index. */
static int load_credentials(sqlite3 *db, struct registry *r, size_t n,
			    char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT value, pid, valid_from, valid_until, revoked"
		" FROM credential ORDER BY cid";
	struct vec win = { 0 }, keys = { 0 }, map = { 0 };
	size_t np = r->persons.len / sizeof(struct mperson), nc, nw, nwo = 0;
	const struct mperson *persons = r->persons.p;
	uint32_t max_pid = np ? persons[np - 1].pid : 0;
	uint32_t *direct = NULL;
	sqlite3_stmt *st = NULL;
	const struct mwindow *ws;
	struct skey *ks;
	int rc = -ENOMEM, depth = 0;

	if (np > 0 && max_pid / 4 <= np + 1024) {
		if (vec_reserve(&map, ((size_t)max_pid + 1) *
				sizeof(uint32_t)) != 0)
			goto out;
		direct = map.p;	/* zero-filled: 0 is "none", else index + 1 */
		for (size_t i = 0; i < np; i++)
			direct[persons[i].pid] = (uint32_t)i + 1;
	}
	if (vec_reserve(&keys, n * sizeof(struct skey)) != 0 ||
	    vec_reserve(&r->values, n * 12) != 0)
		goto out;
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = sql_errno(rc);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		int64_t pid = sqlite3_column_int64(st, 1);
		struct mwindow w = {
			.idx = (uint32_t)r->values.len,
			.from = clamp_u32(st, 2, 0),
			.until = clamp_u32(st, 3, UINT32_MAX),
		};
		struct skey k;
		int64_t pi = -1;

		if (pid > 0 && pid <= max_pid)
			pi = direct ? (int64_t)direct[pid] - 1 :
			     person_index(r, (uint32_t)pid);
		if (v == NULL || pi < 0 || keys.len / sizeof(k) >= UINT32_MAX ||
		    r->values.len + strlen(v) + 1 > UINT32_MAX) {
			snprintf(err, errlen, "credential \"%.40s\": no person "
				 "%" PRId64 ", or too many credentials",
				 v ? v : "", pid);
			rc = -ERANGE;
			goto out;
		}
		k.prefix = prefix_of(v);
		k.off = (uint32_t)r->values.len;
		k.bits = (uint32_t)pi;
		if (sqlite3_column_int(st, 4))
			k.bits |= C_REVOKED;
		if (w.from || w.until != UINT32_MAX) {
			k.bits |= C_WINDOW;
			if (vec_push(&win, &w, sizeof(w)) != 0)
				break;
		}
		if (vec_push(&r->values, v, strlen(v) + 1) != 0 ||
		    vec_push(&keys, &k, sizeof(k)) != 0)
			break;
	}
	if (rc != SQLITE_DONE) {
		rc = rc == SQLITE_ROW ? -ENOMEM : sql_errno(rc);
		if (rc != -ENOMEM)
			snprintf(err, errlen, "reading credentials: %s",
				 sqlite3_errmsg(db));
		goto out;
	}
	vec_free(&map);
	nc = keys.len / sizeof(struct skey);
	nw = win.len / sizeof(struct mwindow);
	for (size_t m = nc; m > 1; m /= 2)
		depth += 2;
	ks = keys.p;
	sort_keys(ks, nc, r->values.p, depth);
	rc = -ENOMEM;
	if (vec_reserve(&r->windows, nw * sizeof(struct mwindow)) != 0)
		goto out;
	ws = win.p;
	for (size_t i = 0; i < nc; i++) {
		struct skey k = ks[i];
		struct mcred c = { k.off, k.bits };

		/* entry i ends before key i starts (8 i + 8 <= 16 i, i > 0) */
		memcpy((char *)keys.p + i * sizeof(c), &c, sizeof(c));
		if (!(c.bits & C_WINDOW))
			continue;
		size_t lo = 0, hi = nw;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (ws[mid].idx < c.off)
				lo = mid + 1;
			else
				hi = mid;
		}
		((struct mwindow *)r->windows.p)[nwo] = ws[lo];
		((struct mwindow *)r->windows.p)[nwo++].idx = (uint32_t)i;
	}
	r->windows.len = nwo * sizeof(struct mwindow);
	/* the key array is the credential array now */
	keys.len = nc * sizeof(struct mcred);
	r->creds = keys;
	memset(&keys, 0, sizeof(keys));
	rc = 0;
out:
	sqlite3_finalize(st);
	vec_free(&win);
	vec_free(&keys);
	vec_free(&map);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory loading credentials");
	return rc;
}

int reg_load(const char *path, struct registry **out, char *err,
	     size_t errlen)
{
	int64_t np = 0, nc = 0, nh = 0;
	struct registry *r;
	sqlite3 *db;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = open_sqlite(path, LOAD_CACHE_KIB, &db, err, errlen);
	if (rc != 0) {
		free(r);
		return rc;
	}
	/* one read transaction: one consistent snapshot */
	rc = exec(db, "BEGIN");
	if (rc == SQLITE_OK)
		rc = query_int(db, "SELECT value FROM meta WHERE key = "
			       "'version'", 0, &r->version);
	if (rc == SQLITE_OK)
		rc = query_int(db, "SELECT count(*) FROM household", 0, &nh);
	if (rc == SQLITE_OK)
		rc = query_int(db, "SELECT count(*) FROM person", 0, &np);
	if (rc == SQLITE_OK)
		rc = query_int(db, "SELECT count(*) FROM credential", 0, &nc);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		rc = sql_errno(rc);
		goto out;
	}
	r->households = (size_t)nh;
	rc = load_persons(db, r, (size_t)np, err, errlen);
	if (rc == 0)
		rc = load_credentials(db, r, (size_t)nc, err, errlen);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
out:
	exec(db, "COMMIT");
	sqlite3_close(db);
	if (rc != 0) {
		reg_free(r);
		return rc;
	}
	vec_fit(&r->persons);
	vec_fit(&r->extras);
	vec_fit(&r->creds);
	vec_fit(&r->windows);
	vec_fit(&r->values);
	*out = r;
	return 0;
}

/* The entry of a side array (struct mextra, struct mwindow: sorted by
 * their first field, idx) for idx, or NULL. */
static const void *find_idx(const struct vec *v, size_t size, uint32_t idx)
{
	const unsigned char *p = v->p;
	size_t lo = 0, hi = v->len / size;
	uint32_t at;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		memcpy(&at, p + mid * size, sizeof(at));
		if (at < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == v->len / size)
		return NULL;
	memcpy(&at, p + lo * size, sizeof(at));
	return at == idx ? p + lo * size : NULL;
}

static const struct mextra *find_extra(const struct registry *r,
				       uint32_t idx)
{
	return find_idx(&r->extras, sizeof(struct mextra), idx);
}

static const struct mwindow *find_window(const struct registry *r,
					 uint32_t idx)
{
	return find_idx(&r->windows, sizeof(struct mwindow), idx);
}

void reg_facts(const struct reg_match *m, struct rules_facts *f)
{
	f->credential = m->credential;
	f->has_person = m->credential != RULES_CRED_UNKNOWN;
	if (!f->has_person)
		return;
	f->role = m->role;
	f->person = m->person;
	f->has_household = m->hid != 0;
	f->has_host = m->host_hid != 0;
	f->quarantine = m->quarantine;
	f->observation = m->observation;
	f->blocked = m->blocked;
}

/* 0 valid, 1 expired, 2 not yet valid; 0 / UINT32_MAX: unbounded */
static int window_state(int64_t now, uint32_t from, uint32_t until)
{
	if (now < (int64_t)from)
		return 2;
	if (until != UINT32_MAX && now > (int64_t)until)
		return 1;
	return 0;
}

void reg_lookup(const struct registry *r, const char *credential,
		int64_t now_s, struct reg_match *m)
{
	const struct mcred *cs;
	const struct mcred *c = NULL;
	const struct mperson *p;
	const char *values;
	uint32_t from = 0, until = UINT32_MAX;
	size_t lo = 0, hi;

	memset(m, 0, sizeof(*m));
	m->credential = RULES_CRED_UNKNOWN;
	if (r == NULL || credential == NULL)
		return;
	cs = r->creds.p;
	values = r->values.p;
	hi = r->creds.len / sizeof(*cs);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(values + cs[mid].off, credential);

		if (d == 0) {
			c = &cs[mid];
			break;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (c == NULL)
		return;
	if (c->bits & C_WINDOW) {
		const struct mwindow *w = find_window(r, (uint32_t)(c - cs));

		if (w) {
			from = w->from;
			until = w->until;
		}
	}
	if (c->bits & C_REVOKED)
		m->credential = RULES_CRED_REVOKED;
	else
		switch (window_state(now_s, from, until)) {
		case 2:
			m->credential = RULES_CRED_NOT_YET_VALID;
			break;
		case 1:
			m->credential = RULES_CRED_EXPIRED;
			break;
		default:
			m->credential = RULES_CRED_VALID;
			break;
		}
	p = (const struct mperson *)r->persons.p + (c->bits & C_PERSON_MASK);
	m->pid = p->pid;
	m->role = (enum rules_role)(p->bits >> P_ROLE_SHIFT & 7);
	m->hid = p->bits & P_HID_MASK;
	m->blocked = !!(p->bits & P_BLOCKED);
	m->person = RULES_VALID;
	if (p->bits & P_EXTRA) {
		const struct mextra *x = find_extra(r, (uint32_t)(c->bits &
							 C_PERSON_MASK));

		if (x) {
			switch (window_state(now_s, x->from, x->until)) {
			case 2:
				m->person = RULES_NOT_YET_VALID;
				break;
			case 1:
				m->person = RULES_EXPIRED;
				break;
			}
			m->host_hid = x->host;
			m->quarantine = x->quarantine &&
					now_s <= (int64_t)x->quarantine;
			m->observation = x->observation &&
					 now_s <= (int64_t)x->observation;
		}
	}
}

int64_t reg_version(const struct registry *r)
{
	return r ? r->version : 0;
}

size_t reg_households(const struct registry *r)
{
	return r ? r->households : 0;
}

size_t reg_persons(const struct registry *r)
{
	return r ? r->persons.len / sizeof(struct mperson) : 0;
}

size_t reg_credentials(const struct registry *r)
{
	return r ? r->creds.len / sizeof(struct mcred) : 0;
}

size_t reg_memory(const struct registry *r)
{
	if (r == NULL)
		return 0;
	return sizeof(*r) + r->persons.cap + r->extras.cap + r->creds.cap +
	       r->windows.cap + r->values.cap;
}

/* --- a pass's subject, from the database ------------------------------------ */

/*
 * A signed pass names its person or household by registry id, which the
 * in-memory form does not keep (a hash of every id would add about 12 MB
 * at a million persons).  These read the subject straight from registry.db
 * through the connection the core already holds, one indexed statement
 * each (so one consistent snapshot), and turn the person's columns into a
 * reg_match with the clamping and windows reg_load() and reg_lookup() use,
 * so a person's facts are the same through a pass as through a card.
 * Mixing an id -> pid answer from the database with facts from the loaded
 * copy would not be safe while a reload is pending: SQLite hands the
 * highest pid out again after that person is removed.
 */

#define SUBJECT_COLS "pid, hid, role, valid_from, valid_until, host," \
		     " quarantine_until, observation_until, blocked"

/* Columns SUBJECT_COLS from col on, as reg_lookup() reads them for a valid
 * credential of that person.  -ERANGE where reg_load() would refuse the
 * whole registry. */
static int subject_match(sqlite3_stmt *st, int col, int64_t now_s,
			 struct reg_match *m)
{
	int64_t pid = sqlite3_column_int64(st, col);
	int64_t hid = sqlite3_column_int64(st, col + 1);
	int role = role_of(sqlite3_column_text(st, col + 2));
	uint32_t from = clamp_u32(st, col + 3, 0);
	uint32_t until = clamp_u32(st, col + 4, UINT32_MAX);
	int64_t host = sqlite3_column_int64(st, col + 5);
	uint32_t quarantine = clamp_u32(st, col + 6, 0);
	uint32_t observation = clamp_u32(st, col + 7, 0);

	memset(m, 0, sizeof(*m));
	m->credential = RULES_CRED_UNKNOWN;
	if (pid <= 0 || pid > UINT32_MAX || hid < 0 || hid > P_HID_MASK ||
	    host < 0 || host > UINT32_MAX || role < 0)
		return -ERANGE;
	m->credential = RULES_CRED_VALID;
	m->pid = pid;
	m->role = (enum rules_role)role;
	m->hid = hid;
	m->host_hid = host;
	m->blocked = sqlite3_column_int(st, col + 8) != 0;
	switch (window_state(now_s, from, until)) {
	case 2:
		m->person = RULES_NOT_YET_VALID;
		break;
	case 1:
		m->person = RULES_EXPIRED;
		break;
	default:
		m->person = RULES_VALID;
		break;
	}
	m->quarantine = quarantine && now_s <= (int64_t)quarantine;
	m->observation = observation && now_s <= (int64_t)observation;
	return 0;
}

static int prepare_once(struct reg_db *db, sqlite3_stmt **st,
			const char *sql)
{
	int rc;

	if (*st != NULL)
		return 0;
	rc = sqlite3_prepare_v2(db->db, sql, -1, st, NULL);
	return rc == SQLITE_OK ? 0 : sql_errno(rc);
}

int reg_db_person(struct reg_db *db, const char *id, int64_t now_s,
		  struct reg_match *m)
{
	sqlite3_stmt *st;
	int rc;

	memset(m, 0, sizeof(*m));
	m->credential = RULES_CRED_UNKNOWN;
	rc = prepare_once(db, &db->subject_person, "SELECT " SUBJECT_COLS
			  " FROM person WHERE id = ?1");
	if (rc != 0)
		return rc;
	st = db->subject_person;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = subject_match(st, 0, now_s, m);
	else
		rc = rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int reg_db_household(struct reg_db *db, const char *id, int64_t now_s,
		     int64_t *hid, reg_member_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int rc, found = 0;

	*hid = 0;
	rc = prepare_once(db, &db->subject_household,
			  "SELECT h.hid, p.pid, p.hid, p.role, p.valid_from,"
			  " p.valid_until, p.host, p.quarantine_until,"
			  " p.observation_until, p.blocked"
			  " FROM household h LEFT JOIN person p ON p.hid = h.hid"
			  " WHERE h.id = ?1 ORDER BY p.pid");
	if (rc != 0)
		return rc;
	st = db->subject_household;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct reg_match m;

		if (!found) {
			found = 1;
			*hid = sqlite3_column_int64(st, 0);
		}
		/* the LEFT JOIN's one row for a household without members */
		if (sqlite3_column_type(st, 1) == SQLITE_NULL)
			continue;
		if (subject_match(st, 1, now_s, &m) != 0) {
			rc = -ERANGE;
			break;
		}
		if (fn)
			fn(ctx, &m);
	}
	if (rc == SQLITE_DONE)
		rc = found ? 0 : -ENOENT;
	else if (rc != -ERANGE)
		rc = sql_errno(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != 0)
		*hid = 0;
	return rc;
}
