/* registry: parse errors of both formats (message, line and field exact),
 * imports (references, merge and replace, versions, nothing applied on
 * error, stable pid/hid), times, the in-memory lookup at its boundaries,
 * export -> import round trips, the database helpers, and remote lists
 * updates (snapshot, delta, replay, wrong base, every refusal with its
 * JSON path, nothing changed on any).  Real SQLite files in a fresh
 * directory. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "jsontree.h"
#include "registry.h"

static char dir[64];

/* --- helpers ------------------------------------------------------------ */

struct errs {
	char buf[16384];
	size_t len;
	int n;
};

/* As wicketctl prints them: FILE:LINE: FIELD: message */
static void on_error(void *ctx, const char *file, int line, const char *field,
		     const char *msg)
{
	struct errs *e = ctx;
	size_t room = sizeof(e->buf) - e->len;
	int k;

	e->n++;
	if (line > 0)
		k = snprintf(e->buf + e->len, room, "%s:%d: ", file, line);
	else
		k = snprintf(e->buf + e->len, room, "%s: ", file ? file : "-");
	e->len += (size_t)k < room ? (size_t)k : room - 1;
	room = sizeof(e->buf) - e->len;
	k = snprintf(e->buf + e->len, room, "%s%s%s\n", field ? field : "",
		     field ? ": " : "", msg);
	e->len += (size_t)k < room ? (size_t)k : room - 1;
}

static enum reg_format fmt_of(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".csv") == 0 ? REG_CSV : REG_JSON;
}

static int parse(const char *name, const char *text, struct reg_batch **b,
		 struct errs *e)
{
	return reg_batch_parse(text, strlen(text), name, fmt_of(name), b,
			       on_error, e);
}

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static struct reg_db *open_db(const char *name)
{
	char path[128], err[256];
	struct reg_db *db;

	path_of(path, sizeof(path), name);
	if (reg_db_open(path, &db, err, sizeof(err)) != 0)
		fail_msg("reg_db_open: %s", err);
	return db;
}

struct src {
	const char *name, *text;
};

/* Parse every source (each must be clean) and import them together. */
static int import_srcs(struct reg_db *db, int replace, struct errs *e,
		       const struct src *s, size_t n)
{
	struct reg_batch *b[8] = { NULL };
	int rc;

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		struct errs pe = { .len = 0 };

		if (parse(s[i].name, s[i].text, &b[i], &pe) != 0)
			fail_msg("%s: %s", s[i].name, pe.buf);
	}
	rc = reg_import(db, b, n, replace, on_error, e);
	for (size_t i = 0; i < n; i++)
		reg_batch_free(b[i]);
	return rc;
}

static int import1(struct reg_db *db, int replace, struct errs *e,
		   const char *name, const char *text)
{
	struct src s = { name, text };

	return import_srcs(db, replace, e, &s, 1);
}

static void import_ok(struct reg_db *db, int replace, const char *name,
		      const char *text)
{
	struct errs e = { .len = 0 };

	if (import1(db, replace, &e, name, text) != 0)
		fail_msg("import %s: %s", name, e.buf);
}

/* The export as a malloc'd string. */
static char *export_str(struct reg_db *db, enum reg_format fmt,
			const char *table)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(reg_export(db, fmt, table, f), 0);
	fclose(f);
	return buf;
}

static int64_t pid_of(struct reg_db *db, const char *id)
{
	int64_t pid = -1;

	if (reg_db_pid(db, id, &pid) != 0)
		return -1;
	return pid;
}

static int64_t hid_of(struct reg_db *db, const char *id)
{
	int64_t hid = -1;

	if (reg_db_hid(db, id, &hid) != 0)
		return -1;
	return hid;
}

static struct registry *load(const char *name)
{
	char path[128], err[256];
	struct registry *r;

	path_of(path, sizeof(path), name);
	if (reg_load(path, &r, err, sizeof(err)) != 0)
		fail_msg("reg_load: %s", err);
	return r;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/wicket-test-registry-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	/* dates in China Standard Time, without needing tzdata */
	setenv("TZ", "CST-8", 1);
	tzset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- times -------------------------------------------------------------- */

struct time_case {
	const char *text;
	int until;
	int64_t want;		/* when err is NULL */
	const char *err;	/* substring */
};

static const struct time_case time_cases[] = {
	/* local dates (CST-8): the day's first and last second */
	{ "2026-01-01", 0, 1767196800, NULL },
	{ "2026-01-01", 1, 1767283199, NULL },
	{ "2026-12-31T18:00:00+08:00", 0, 1798711200, NULL },
	{ "2026-12-31T18:00+08:00", 1, 1798711200, NULL },
	{ "2026-12-31T10:00:00Z", 0, 1798711200, NULL },
	{ "2026-01-01T10:00-05:30", 0, 1767281400, NULL },
	{ "2024-02-29T00:00:00Z", 0, 1709164800, NULL },
	{ "1970-01-01T00:00:00Z", 0, 0, NULL },
	{ "1970-01-01T08:00+08:00", 0, 0, NULL },
	{ "2106-02-07T06:28:14Z", 1, 4294967294, NULL },
	{ "2106-02-07T06:28:15Z", 1, 0, "out of range" },
	{ "1969-12-31T23:59:59Z", 0, 0, "out of range" },
	{ "1969-12-31", 0, 0, "out of range" },
	{ "2200-01-01", 0, 0, "out of range" },
	{ "2025-02-29", 0, 0, "no such date 2025-02-29" },
	{ "2100-02-29", 0, 0, "no such date" },
	{ "2026-04-31", 0, 0, "no such date" },
	{ "2026-13-01", 0, 0, "no such date" },
	{ "2026-00-10", 0, 0, "no such date" },
	{ "2026-01-00", 0, 0, "no such date" },
	{ "0000-01-01", 0, 0, "no such date" },
	{ "2026-01-01T10:00", 0, 0, "needs its UTC offset" },
	{ "2026-01-01T10:00:00", 0, 0, "needs its UTC offset" },
	{ "2026-01-01T24:00Z", 0, 0, "no such time of day 24:00" },
	{ "2026-01-01T10:60Z", 0, 0, "no such time of day" },
	{ "2026-01-01T10:00:60Z", 0, 0, "no such time of day" },
	{ "2026-01-01T10:00+24:00", 0, 0, "no such UTC offset" },
	{ "2026-01-01 10:00Z", 0, 0, "not a date or time" },
	{ "2026-01-01t10:00Z", 0, 0, "not a date or time" },
	{ "2026-01-01T10:00z", 0, 0, "not a date or time" },
	{ "2026-01-01T10:00+8:00", 0, 0, "not a date or time" },
	{ "2026-01-01T10:00+0800", 0, 0, "not a date or time" },
	{ "2026-01-01T10:00Z ", 0, 0, "not a date or time" },
	{ "2026-1-01", 0, 0, "not a date or time" },
	{ "20260101", 0, 0, "not a date or time" },
	{ "2026-01-01T1", 0, 0, "not a date or time" },
	{ "", 0, 0, "not a date or time" },
	{ "tomorrow", 0, 0, "not a date or time" },
};

static void test_time(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]);
	     i++) {
		const struct time_case *c = &time_cases[i];
		char err[160] = "";
		int64_t t = -1;
		int rc = reg_parse_time(c->text, c->until, &t, err,
					sizeof(err));

		if (c->err == NULL && (rc != 0 || t != c->want))
			fail_msg("'%s': rc %d t %lld (%s), want %lld", c->text,
				 rc, (long long)t, err, (long long)c->want);
		if (c->err && (rc == 0 || strstr(err, c->err) == NULL))
			fail_msg("'%s': rc %d '%s', want '%s'", c->text, rc,
				 err, c->err);
	}
}

/* --- parse errors ---------------------------------------------------------- */

struct parse_case {
	const char *name;	/* the file name: .json or .csv */
	const char *text;
	const char *want;	/* every error; a final '*' matches a prefix */
};

#define ID63 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789a"
#define X121 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define PERSON_FIELDS "id, household, role, valid_from, valid_until, host, " \
	"quarantine_until, observation_until, blocked, name"

static const struct parse_case parse_cases[] = {
	/* JSON: the document */
	{ "r.json", "{\"persons\": [\n{\"id\": \"a\",}\n]}", "r.json:2: *" },
	{ "r.json", "[1]", "r.json:1: expected an object with \"households\", "
	  "\"persons\" and \"credentials\", got array\n" },
	{ "r.json", "{\n\"people\": []\n}", "r.json:2: people: unknown field; "
	  "the document has version, households, persons and credentials\n" },
	{ "r.json", "{\"persons\": {}}",
	  "r.json:1: persons: expected an array, got object\n" },
	{ "r.json", "{\"version\": 0}",
	  "r.json:1: version: expected a whole number of 1 or more\n" },
	{ "r.json", "{\n\"version\": \"7\"}",
	  "r.json:2: version: expected a whole number of 1 or more\n" },
	{ "r.json", "{\"version\": 1.5}",
	  "r.json:1: version: expected a whole number of 1 or more\n" },
	/* JSON: rows */
	{ "r.json", "{\"households\": [\n\"h1\"\n]}",
	  "r.json:2: households[0]: expected an object, got string\n" },
	{ "r.json", "{\"households\": [{\"id\": \"h1\",\n \"flat\": \"x\"}]}",
	  "r.json:2: households[0].flat: unknown field; a household has id, "
	  "unit, landlord\n" },
	{ "r.json", "{\"persons\": [{\"id\": 5, \"role\": \"staff\"}]}",
	  "r.json:1: persons[0].id: expected a string, got number\n" },
	{ "r.json", "{\"persons\": [{\"id\": \"p\", \"role\": \"staff\",\n"
	  "\"blocked\": \"yes\"}]}",
	  "r.json:2: persons[0].blocked: expected true or false, got string\n" },
	{ "r.json", "{\"persons\": [{\"id\": \"p\", \"role\": \"staff\"},\n"
	  "{\"id\": \"q\"}\n]}", "r.json:2: persons[1].role: missing\n" },
	{ "r.json", "{\"credentials\": [{\"value\": \"1\", \"kind\": \"card\","
	  "\n \"person\": null}]}",
	  "r.json:2: credentials[0].person: missing\n" },
	{ "r.json", "{\"households\": [{\"id\": \"\"}]}",
	  "r.json:1: households[0].id: empty\n" },
	{ "r.json", "{\"households\": [{\"id\": \"" ID63 "\"}, {\"id\": \""
	  ID63 "z\"}]}",
	  "r.json:1: households[1].id: longer than 63 bytes\n" },
	{ "r.json", "{\"households\": [{\"id\": \"b 1\"}, {\"id\": \"b\\t2\"}]}",
	  "r.json:1: households[0].id: spaces and control characters are not "
	  "allowed\nr.json:1: households[1].id: spaces and control "
	  "characters are not allowed\n" },
	{ "r.json", "{\"households\": [{\"id\": \"\xe6\x9d\x8e\", \"unit\": \""
	  X121 "\"}]}",
	  "r.json:1: households[0].unit: longer than 120 bytes\n" },
	{ "r.json", "{\"persons\": [{\"id\": \"p\", \"role\": \"staff\", "
	  "\"name\": \"a\\nb\"}]}",
	  "r.json:1: persons[0].name: control characters (such as line "
	  "breaks) are not allowed\n" },
	{ "r.json", "{\"persons\": [{\"id\": \"p\", \"role\": \"landlord\"}]}",
	  "r.json:1: persons[0].role: unknown role \"landlord\" (resident, "
	  "tenant, visitor, staff or courier)\n" },
	{ "r.json", "{\"credentials\": [{\"value\": \"1\", \"kind\": \"badge\","
	  " \"person\": \"p\"}]}",
	  "r.json:1: credentials[0].kind: unknown kind \"badge\" (card or "
	  "qr)\n" },
	{ "r.json", "{\"credentials\": [{\"value\": \"10\xc3\xa9\", \"kind\": "
	  "\"qr\", \"person\": \"p\"}]}",
	  "r.json:1: credentials[0].value: only printable ASCII without "
	  "spaces is allowed\n" },
	{ "r.json", "{\"persons\": [{\"id\": \"p\", \"role\": \"tenant\",\n"
	  "\"valid_until\": \"2026-02-29\"}]}",
	  "r.json:2: persons[0].valid_until: \"2026-02-29\": no such date "
	  "2026-02-29\n" },
	{ "r.json", "{\"persons\": [{\"id\": \"p\", \"role\": \"tenant\",\n"
	  "\"valid_from\": \"2026-05-01\",\n"
	  "\"valid_until\": \"2026-04-30\"}]}",
	  "r.json:3: persons[0].valid_until: before valid_from\n" },
	{ "r.json", "{\"persons\": [{\"id\": \"p\", \"role\": \"resident\",\n"
	  "\"host\": \"h1\"}]}",
	  "r.json:2: persons[0].host: only a visitor has a host (this person "
	  "is a resident)\n" },
	{ "r.json", "{\"households\": [{\"id\": \"h1\",\n\"landlord\": "
	  "\"h1\"}]}",
	  "r.json:2: households[0].landlord: a household cannot be its own "
	  "landlord\n" },
	{ "r.json", "{\"persons\": [\n{\"id\": \"p1\", \"role\": \"staff\"},\n"
	  "{\"id\": \"p2\", \"role\": \"staff\"},\n"
	  "{\"id\": \"p1\", \"role\": \"staff\"}]}",
	  "r.json:4: persons[2].id: person \"p1\" is also persons[0] at line "
	  "2\n" },
	{ "r.json", "{\"credentials\": [\n"
	  "{\"value\": \"1001\", \"kind\": \"card\", \"person\": \"a\"},\n"
	  "{\"value\": \"1001\", \"kind\": \"qr\", \"person\": \"b\"}]}",
	  "r.json:3: credentials[1].value: credential \"1001\" is also "
	  "credentials[0] at line 2\n" },
	/* several errors in one file, each reported */
	{ "r.json", "{\"persons\": [\n"
	  "{\"id\": \"p1\", \"role\": \"boss\", \"blocked\": 1},\n"
	  "{\"role\": \"staff\", \"x\": null}]}",
	  "r.json:2: persons[0].role: unknown role \"boss\" (resident, tenant,"
	  " visitor, staff or courier)\n"
	  "r.json:2: persons[0].blocked: expected true or false, got number\n"
	  "r.json:3: persons[1].x: unknown field; a person has "
	  PERSON_FIELDS "\n"
	  "r.json:3: persons[1].id: missing\n" },
	/* CSV: the header */
	{ "r.csv", "", "r.csv:1: empty file: the first row names the columns*" },
	{ "r.csv", "\n\n", "r.csv:1: empty file*" },
	{ "r.csv", "a,b\n", "r.csv:1: the first row must name the columns*" },
	{ "r.csv", "id,role,flat\n", "r.csv:1: flat: unknown column; a persons"
	  " file has " PERSON_FIELDS "\n" },
	{ "r.csv", "value,kind,person,kind\n",
	  "r.csv:1: kind: duplicate column\n" },
	{ "r.csv", "id,household\n",
	  "r.csv:1: role: missing column; a persons file needs it\n" },
	{ "r.csv", "revoked\n",
	  "r.csv:1: value: missing column; a credentials file needs it\n"
	  "r.csv:1: kind: missing column; a credentials file needs it\n"
	  "r.csv:1: person: missing column; a credentials file needs it\n" },
	{ "r.csv", "unit\n",
	  "r.csv:1: id: missing column; a households file needs it\n" },
	/* CSV: rows */
	{ "r.csv", "id,unit\nh1\nh2,a,b\n",
	  "r.csv:2: 1 field, but the header has 2\n"
	  "r.csv:3: 3 fields, but the header has 2\n" },
	{ "r.csv", "id,role\np1,\n",
	  "r.csv:2: role: required, may not be empty\n" },
	{ "r.csv", "id,role,blocked\np1,staff,maybe\n",
	  "r.csv:2: blocked: \"maybe\" is not a yes/no value (true, false, "
	  "yes, no, 1 or 0)\n" },
	{ "r.csv", "id,unit\nh1,\"Bldg 1\nh2,x\n",
	  "r.csv:2: unit: quoted field not closed (its quote opens on line "
	  "2)\n" },
	{ "r.csv", "id,unit\nh1,\"a\"b\n",
	  "r.csv:2: unit: unexpected character after a closing quote*" },
	{ "r.csv", "id,unit\nh1,\xff\n", "r.csv:2: unit: invalid UTF-8\n" },
	{ "r.csv", "id,role,name\np0,staff,\"two\nlines\"\np1,staff,\"x\"\"\"\n"
	  "p2,staff,\"a\nb\"\n",
	  "r.csv:2: name: control characters (such as line breaks) are not "
	  "allowed\n"
	  "r.csv:5: name: control characters (such as line breaks) are not "
	  "allowed\n" },
	{ "r.csv", "id,unit\nh1,a\nh2,b\nh1,c\n",
	  "r.csv:4: id: household \"h1\" is also at line 2\n" },
	{ "r.csv", "unit,id,landlord\n\"Building 1,\n\"\"East\"\"\",h1,h1\n",
	  "r.csv:2: unit: control characters (such as line breaks) are not "
	  "allowed\n"
	  "r.csv:2: landlord: a household cannot be its own landlord\n" },
	{ "r.csv", "value,kind,person,valid_from,valid_until\r\n"
	  "1001,card,p1,2026-01-01T08:00,\r\n",
	  "r.csv:2: valid_from: \"2026-01-01T08:00\": a time of day needs its"
	  " UTC offset (Z, +HH:MM or -HH:MM)\n" },
	{ "r.csv", "id,,unit,\nh1,,a,\nh2,x,b,\n",
	  "r.csv:3: a value in column 2, which the header leaves unnamed\n" },
	{ "r.csv", "id,role,host\np1,staff,h1\n",
	  "r.csv:2: host: only a visitor has a host (this person is a "
	  "staff)\n" },
};

static void test_parse_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		const struct parse_case *c = &parse_cases[i];
		struct errs e = { .len = 0 };
		struct reg_batch *b = (struct reg_batch *)&e;
		size_t wl = strlen(c->want);
		int rc = parse(c->name, c->text, &b, &e);
		int ok;

		if (c->want[wl - 1] == '*')
			ok = strncmp(e.buf, c->want, wl - 1) == 0;
		else
			ok = strcmp(e.buf, c->want) == 0;
		if (!ok || rc != e.n || rc < 1 || b != NULL)
			fail_msg("case %zu (%s): rc %d, errors:\n%s\nwant:\n%s",
				 i, c->text, rc, e.buf, c->want);
	}
}

/* Files that are fine, and what they hold. */
static void test_parse_ok(void **state)
{
	static const struct {
		const char *name, *text;
		size_t h, p, c;
	} ok[] = {
		{ "a.json", "{}", 0, 0, 0 },
		{ "a.json", "{\"version\": 3, \"households\": null, "
		  "\"persons\": []}", 0, 0, 0 },
		{ "a.json", "{\"households\": [{\"id\": \"" ID63 "\", "
		  "\"unit\": null, \"landlord\": null}],"
		  " \"persons\": [{\"id\": \"v\", \"role\": \"visitor\", "
		  "\"host\": \"x\", \"valid_from\": \"2026-01-01\", "
		  "\"valid_until\": \"2026-01-01\", \"blocked\": false}],"
		  " \"credentials\": [{\"value\": \"~!\", \"kind\": \"qr\", "
		  "\"person\": \"v\", \"revoked\": true}]}", 1, 1, 1 },
		{ "a.csv", "\xef\xbb\xbfrole,id,blocked\r\nstaff,p1,TRUE\r\n"
		  "courier,p2,No\r\n\r\nresident,p3,1\r\n", 0, 3, 0 },
		{ "a.csv", "id\nh1\nh2\n", 2, 0, 0 },
		{ "a.csv", "id,,unit,,\nh1,,a,,\nh2,,,,\n", 2, 0, 0 },
		{ "a.csv", "person,value,kind\n", 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct errs e = { .len = 0 };
		struct reg_batch *b = NULL;
		size_t h, p, c;

		if (parse(ok[i].name, ok[i].text, &b, &e) != 0)
			fail_msg("case %zu: %s", i, e.buf);
		reg_batch_counts(b, &h, &p, &c);
		assert_int_equal(h, ok[i].h);
		assert_int_equal(p, ok[i].p);
		assert_int_equal(c, ok[i].c);
		reg_batch_free(b);
	}
	reg_batch_free(NULL);
}

/* --- imports ----------------------------------------------------------- */

static const char base_json[] =
	"{\"households\": [{\"id\": \"h1\", \"unit\": \"Building 1\"},"
	"  {\"id\": \"h2\"}],\n"
	" \"persons\": [{\"id\": \"p1\", \"household\": \"h1\", "
	"\"role\": \"resident\"},\n"
	"  {\"id\": \"p2\", \"role\": \"visitor\", \"host\": \"h2\"}],\n"
	" \"credentials\": [{\"value\": \"1001\", \"kind\": \"card\", "
	"\"person\": \"p1\"},\n"
	"  {\"value\": \"1002\", \"kind\": \"card\", \"person\": \"p2\"}]}\n";

static void test_import_references(void **state)
{
	static const char bad[] =
		"{\"households\": [{\"id\": \"h3\", \"landlord\": \"hY\"}],\n"
		" \"persons\": [\n"
		"  {\"id\": \"p3\", \"household\": \"hX\", \"role\": "
		"\"resident\"},\n"
		"  {\"id\": \"p4\", \"role\": \"visitor\",\n"
		"   \"host\": \"hZ\"}],\n"
		" \"credentials\": [{\"value\": \"2001\", \"kind\": \"qr\", "
		"\"person\": \"pX\"}]}\n";
	static const char want[] =
		"b.json:1: households[0].landlord: no household \"hY\" in the "
		"registry or the import\n"
		"b.json:3: persons[0].household: no household \"hX\" in the "
		"registry or the import\n"
		"b.json:5: persons[1].host: no household \"hZ\" in the "
		"registry or the import\n"
		"b.json:6: credentials[0].person: no person \"pX\" in the "
		"registry or the import\n";
	struct reg_db *db = open_db("refs.db");
	struct errs e = { .len = 0 };
	char *before, *after;
	int64_t dv;

	(void)state;
	import_ok(db, 0, "a.json", base_json);
	before = export_str(db, REG_JSON, NULL);
	dv = reg_db_data_version(db);
	assert_int_equal(import1(db, 0, &e, "b.json", bad), 4);
	assert_string_equal(e.buf, want);
	/* nothing applied, not even the version */
	after = export_str(db, REG_JSON, NULL);
	assert_string_equal(before, after);
	assert_int_equal(reg_db_version(db), 1);
	assert_int_equal(reg_db_data_version(db), dv);
	free(after);

	/* the same in CSV: the line of the row, the column's name */
	memset(&e, 0, sizeof(e));
	assert_int_equal(import1(db, 0, &e, "c.csv",
				 "id,household,role\np5,h1,resident\n"
				 "p6,nowhere,tenant\n"), 1);
	assert_string_equal(e.buf, "c.csv:3: household: no household "
			    "\"nowhere\" in the registry or the import\n");

	/* references resolve across the files of one import, and a
	 * landlord may come after its tenant */
	{
		static const struct src s[] = {
			{ "p.csv", "id,household,role\np7,h9,tenant\n" },
			{ "h.json", "{\"households\": [{\"id\": \"h9\", "
			  "\"landlord\": \"h10\"}, {\"id\": \"h10\"}]}" },
			{ "c.csv", "value,kind,person\n3001,card,p7\n" },
		};

		memset(&e, 0, sizeof(e));
		if (import_srcs(db, 0, &e, s, 3) != 0)
			fail_msg("%s", e.buf);
		assert_true(pid_of(db, "p7") > 0);
		assert_int_equal(reg_db_version(db), 2);
	}
	after = export_str(db, REG_JSON, "households");
	assert_non_null(strstr(after, "{\"id\": \"h9\", \"landlord\": "
			       "\"h10\"}"));
	free(after);

	/* the same id in two files of one import */
	{
		static const struct src s[] = {
			{ "a.json", "{\"persons\": [{\"id\": \"p9\", "
			  "\"role\": \"staff\"}]}" },
			{ "b.csv", "id,role\np8,staff\np9,courier\n" },
		};

		memset(&e, 0, sizeof(e));
		assert_int_equal(import_srcs(db, 0, &e, s, 2), 1);
		assert_string_equal(e.buf, "b.csv:3: id: person \"p9\" is "
				    "also in a.json at line 1\n");
	}
	free(before);
	reg_db_close(db);
}

static void test_merge_replace(void **state)
{
	struct reg_db *db = open_db("replace.db");
	struct errs e = { .len = 0 };
	int64_t p1, p2, h1, h2;
	struct registry *r;
	char *x;

	(void)state;
	import_ok(db, 0, "a.json", base_json);
	p1 = pid_of(db, "p1");
	p2 = pid_of(db, "p2");
	h1 = hid_of(db, "h1");
	h2 = hid_of(db, "h2");
	assert_true(p1 > 0 && p2 > 0 && p1 != p2 && h1 > 0 && h2 > 0);

	/* merge: p1 updated (a field left out is cleared), p3 added */
	import_ok(db, 0, "m.csv", "id,role\np1,staff\np3,courier\n");
	assert_int_equal(pid_of(db, "p1"), p1);
	assert_int_equal(pid_of(db, "p2"), p2);
	x = export_str(db, REG_CSV, "persons");
	assert_non_null(strstr(x, "\r\np1,,staff,"));
	assert_non_null(strstr(x, "\r\np3,,courier,"));
	free(x);

	/* a replace of households that keeps a visitor whose host goes */
	assert_int_equal(import1(db, 1, &e, "h.csv", "id\nh1\n"), 1);
	assert_string_equal(e.buf, "h.csv: household \"h2\" is not in the "
			    "import, so the replace would remove it, but person "
			    "\"p2\" (not in the import) still refers to it as "
			    "host; import the persons too, or keep the "
			    "household\n");
	assert_int_equal(hid_of(db, "h2"), h2);

	/* a replace names only what it keeps: a reference to the rest
	 * does not resolve */
	memset(&e, 0, sizeof(e));
	{
		static const struct src s[] = {
			{ "h.csv", "id\nh1\n" },
			{ "p.csv", "id,role,host\np2,visitor,h2\n" },
		};

		assert_int_equal(import_srcs(db, 1, &e, s, 2), 1);
		assert_string_equal(e.buf, "p.csv:2: host: no household \"h2\" "
				    "in the import (a replace keeps only the "
				    "households it names)\n");
	}

	/* replace of the persons: p2 and p3 go, and p2's credential */
	import_ok(db, 1, "p.json", "{\"persons\": [{\"id\": \"p1\", "
		  "\"household\": \"h1\", \"role\": \"resident\"}]}");
	assert_int_equal(pid_of(db, "p1"), p1);
	assert_int_equal(pid_of(db, "p2"), -1);
	assert_int_equal(pid_of(db, "p3"), -1);
	assert_int_equal(hid_of(db, "h2"), h2);	/* not carried: kept */
	r = load("replace.db");
	assert_int_equal(reg_persons(r), 1);
	assert_int_equal(reg_credentials(r), 1);
	assert_int_equal(reg_households(r), 2);
	reg_free(r);

	/* now h2 can go */
	import_ok(db, 1, "h.csv", "id,unit\nh1,Building 1\n");
	assert_int_equal(hid_of(db, "h2"), -1);
	assert_int_equal(hid_of(db, "h1"), h1);

	/* a replace with an empty table empties it (credentials only) */
	import_ok(db, 1, "c.csv", "value,kind,person\n");
	r = load("replace.db");
	assert_int_equal(reg_credentials(r), 0);
	assert_int_equal(reg_persons(r), 1);
	assert_int_equal(reg_version(r), 5);
	reg_free(r);

	/* a person removed and added again is a new person */
	import_ok(db, 1, "p.csv", "id,role\np9,staff\n");
	import_ok(db, 0, "p.csv", "id,role\np1,staff\n");
	assert_true(pid_of(db, "p1") > 0);
	assert_int_not_equal(pid_of(db, "p1"), p1);
	reg_db_close(db);
}

static void test_versions(void **state)
{
	struct reg_db *db = open_db("version.db");
	struct errs e = { .len = 0 };
	struct reg_batch *b[2];

	(void)state;
	assert_int_equal(reg_db_version(db), 0);
	import_ok(db, 0, "a.json", "{}");
	assert_int_equal(reg_db_version(db), 1);
	import_ok(db, 0, "a.json", "{\"version\": 10}");
	assert_int_equal(reg_db_version(db), 10);
	assert_int_equal(import1(db, 0, &e, "a.json",
				 "{\"persons\": [{\"id\": \"p\", \"role\": "
				 "\"staff\"}],\n\"version\": 10}"), 1);
	assert_string_equal(e.buf, "a.json:2: version: 10 is not above the "
			    "registry's version 10 (leave \"version\" out to "
			    "take the next one)\n");
	assert_int_equal(pid_of(db, "p"), -1);
	import_ok(db, 0, "a.csv", "id\nh\n");
	assert_int_equal(reg_db_version(db), 11);
	/* two files with versions: the higher one */
	assert_int_equal(parse("a.json", "{\"version\": 20}", &b[0], &e), 0);
	assert_int_equal(parse("b.json", "{\"version\": 15}", &b[1], &e), 0);
	assert_int_equal(reg_import(db, b, 2, 0, on_error, &e), 0);
	assert_int_equal(reg_db_version(db), 20);
	reg_batch_free(b[0]);
	reg_batch_free(b[1]);
	reg_db_close(db);
}

/* --- in memory ------------------------------------------------------------ */

/* 1000000000 is 2001-09-09T01:46:40Z, 1000000100 two minutes later */
static const char lookup_json[] =
	"{\"households\": [{\"id\": \"h1\"}, {\"id\": \"h2\"}],\n"
	" \"persons\": [\n"
	"  {\"id\": \"pa\", \"household\": \"h1\", \"role\": \"resident\"},\n"
	"  {\"id\": \"pt\", \"household\": \"h2\", \"role\": \"tenant\","
	"   \"valid_from\": \"2001-09-09T01:46:40Z\","
	"   \"valid_until\": \"2001-09-09T09:48:20+08:00\"},\n"
	"  {\"id\": \"pq\", \"household\": \"h1\", \"role\": \"resident\","
	"   \"quarantine_until\": \"2001-09-09T01:46:40Z\","
	"   \"observation_until\": \"2001-09-09T01:48:20Z\"},\n"
	"  {\"id\": \"pv\", \"role\": \"visitor\", \"host\": \"h2\"},\n"
	"  {\"id\": \"pb\", \"role\": \"courier\", \"blocked\": true},\n"
	"  {\"id\": \"ps\", \"role\": \"staff\"}],\n"
	" \"credentials\": [\n"
	"  {\"value\": \"A\", \"kind\": \"card\", \"person\": \"pa\"},\n"
	"  {\"value\": \"R\", \"kind\": \"card\", \"person\": \"pa\","
	"   \"revoked\": true, \"valid_from\": \"2030-01-01\"},\n"
	"  {\"value\": \"W\", \"kind\": \"qr\", \"person\": \"ps\","
	"   \"valid_from\": \"2001-09-09T01:46:40Z\","
	"   \"valid_until\": \"2001-09-09T01:48:20Z\"},\n"
	"  {\"value\": \"T\", \"kind\": \"card\", \"person\": \"pt\"},\n"
	"  {\"value\": \"Q\", \"kind\": \"card\", \"person\": \"pq\"},\n"
	"  {\"value\": \"V\", \"kind\": \"qr\", \"person\": \"pv\"},\n"
	"  {\"value\": \"B\", \"kind\": \"card\", \"person\": \"pb\"},\n"
	"  {\"value\": \"AA\", \"kind\": \"card\", \"person\": \"ps\","
	"   \"valid_until\": \"2001-09-09T01:46:40Z\"}]}\n";

struct lookup_case {
	const char *cred;
	int64_t now;
	enum rules_cred want;
	enum rules_validity person;
	int quarantine, observation;
};

#define T0 1000000000
static const struct lookup_case lookup_cases[] = {
	{ "A", T0, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "A", 0, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "A", 5000000000LL, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "R", T0, RULES_CRED_REVOKED, RULES_VALID, 0, 0 },
	{ "R", 2000000000, RULES_CRED_REVOKED, RULES_VALID, 0, 0 },
	{ "W", T0 - 1, RULES_CRED_NOT_YET_VALID, RULES_VALID, 0, 0 },
	{ "W", T0, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "W", T0 + 100, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "W", T0 + 101, RULES_CRED_EXPIRED, RULES_VALID, 0, 0 },
	{ "AA", T0, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "AA", T0 + 1, RULES_CRED_EXPIRED, RULES_VALID, 0, 0 },
	{ "T", T0 - 1, RULES_CRED_VALID, RULES_NOT_YET_VALID, 0, 0 },
	{ "T", T0, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "T", T0 + 100, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "T", T0 + 101, RULES_CRED_VALID, RULES_EXPIRED, 0, 0 },
	{ "Q", T0 - 1000, RULES_CRED_VALID, RULES_VALID, 1, 1 },
	{ "Q", T0, RULES_CRED_VALID, RULES_VALID, 1, 1 },
	{ "Q", T0 + 1, RULES_CRED_VALID, RULES_VALID, 0, 1 },
	{ "Q", T0 + 100, RULES_CRED_VALID, RULES_VALID, 0, 1 },
	{ "Q", T0 + 101, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "V", T0, RULES_CRED_VALID, RULES_VALID, 0, 0 },
	{ "B", T0, RULES_CRED_VALID, RULES_VALID, 0, 0 },
};

static void test_lookup(void **state)
{
	struct reg_db *db = open_db("lookup.db");
	struct reg_match m;
	struct registry *r;

	(void)state;
	import_ok(db, 0, "l.json", lookup_json);
	r = load("lookup.db");
	assert_int_equal(reg_households(r), 2);
	assert_int_equal(reg_persons(r), 6);
	assert_int_equal(reg_credentials(r), 8);
	assert_int_equal(reg_version(r), 1);
	assert_true(reg_memory(r) > 0);
	for (size_t i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]);
	     i++) {
		const struct lookup_case *c = &lookup_cases[i];

		reg_lookup(r, c->cred, c->now, &m);
		if (m.credential != c->want || m.person != c->person ||
		    m.quarantine != c->quarantine ||
		    m.observation != c->observation)
			fail_msg("case %zu (%s at %lld): credential %d person %d "
				 "quarantine %d observation %d", i, c->cred,
				 (long long)c->now, m.credential, m.person,
				 m.quarantine, m.observation);
	}
	/* who: keys, role, household, host, blocked */
	reg_lookup(r, "A", T0, &m);
	assert_int_equal(m.pid, pid_of(db, "pa"));
	assert_int_equal(m.role, RULES_ROLE_RESIDENT);
	assert_int_equal(m.hid, hid_of(db, "h1"));
	assert_int_equal(m.host_hid, 0);
	assert_int_equal(m.blocked, 0);
	reg_lookup(r, "R", T0, &m);
	assert_int_equal(m.pid, pid_of(db, "pa"));
	reg_lookup(r, "T", T0, &m);
	assert_int_equal(m.role, RULES_ROLE_TENANT);
	assert_int_equal(m.hid, hid_of(db, "h2"));
	reg_lookup(r, "V", T0, &m);
	assert_int_equal(m.role, RULES_ROLE_VISITOR);
	assert_int_equal(m.hid, 0);
	assert_int_equal(m.host_hid, hid_of(db, "h2"));
	assert_int_equal(m.pid, pid_of(db, "pv"));
	reg_lookup(r, "B", T0, &m);
	assert_int_equal(m.role, RULES_ROLE_COURIER);
	assert_int_equal(m.blocked, 1);
	reg_lookup(r, "W", T0, &m);
	assert_int_equal(m.role, RULES_ROLE_STAFF);
	/* unknown: everything else zero */
	for (const char *const *u = (const char *const[]){ "", "a", "AAA",
		     "0", "Z", "Q ", NULL }; *u; u++) {
		reg_lookup(r, *u, T0, &m);
		assert_int_equal(m.credential, RULES_CRED_UNKNOWN);
		assert_int_equal(m.pid, 0);
		assert_int_equal(m.hid, 0);
	}
	reg_lookup(r, NULL, T0, &m);
	assert_int_equal(m.credential, RULES_CRED_UNKNOWN);
	reg_lookup(NULL, "A", T0, &m);
	assert_int_equal(m.credential, RULES_CRED_UNKNOWN);
	reg_free(r);
	reg_free(NULL);
	reg_db_close(db);
}

/* Many credentials with shared prefixes, windows on some: every lookup
 * agrees with a plain scan of the data it came from. */
static void test_lookup_many(void **state)
{
	enum { N = 3000 };
	struct reg_db *db = open_db("many.db");
	static char persons[N * 80], creds[N * 2 * 80];
	static struct {
		char value[24];
		int revoked;
		int64_t from, until;	/* -1: none */
		int person;
	} c[N * 2];
	struct reg_match m;
	struct registry *r;
	size_t pl = 0, cl = 0, nc = 0;
	struct src s[2];
	struct errs e = { .len = 0 };
	unsigned seed = 12345;

	(void)state;
	pl += (size_t)snprintf(persons + pl, sizeof(persons) - pl,
			       "id,role,valid_until\n");
	cl += (size_t)snprintf(creds + cl, sizeof(creds) - cl,
			       "value,kind,person,valid_from,valid_until,"
			       "revoked\n");
	for (int i = 0; i < N; i++) {
		pl += (size_t)snprintf(persons + pl, sizeof(persons) - pl,
				       "p%07d,%s,%s\n", i,
				       i % 7 ? "resident" : "tenant",
				       i % 7 ? "" : "2001-09-09T01:46:40Z");
		for (int k = 0; k < 1 + (i % 3 == 0); k++) {
			char f[32] = "", u[32] = "";

			seed = seed * 1103515245 + 12345;
			/* 10 digits sharing long prefixes, some shorter */
			snprintf(c[nc].value, sizeof(c[nc].value), "%s%u",
				 i % 5 ? "40000" : "4", seed % 100000);
			c[nc].revoked = seed % 11 == 0;
			c[nc].from = seed % 13 == 0 ? T0 : -1;
			c[nc].until = seed % 17 == 0 ? T0 + 10 : -1;
			c[nc].person = i;
			if (c[nc].from >= 0)
				snprintf(f, sizeof(f), "2001-09-09T01:46:40Z");
			if (c[nc].until >= 0)
				snprintf(u, sizeof(u), "2001-09-09T01:46:50Z");
			/* drop duplicate values */
			int dup = 0;

			for (size_t j = 0; j < nc && !dup; j++)
				dup = strcmp(c[j].value, c[nc].value) == 0;
			if (dup)
				continue;
			cl += (size_t)snprintf(creds + cl, sizeof(creds) - cl,
					       "%s,card,p%07d,%s,%s,%s\n",
					       c[nc].value, i, f, u,
					       c[nc].revoked ? "yes" : "");
			nc++;
		}
	}
	s[0] = (struct src){ "p.csv", persons };
	s[1] = (struct src){ "c.csv", creds };
	if (import_srcs(db, 0, &e, s, 2) != 0)
		fail_msg("%s", e.buf);
	r = load("many.db");
	assert_int_equal(reg_credentials(r), nc);
	for (int64_t now = T0 - 1; now <= T0 + 11; now += 6) {
		for (size_t i = 0; i < nc; i++) {
			enum rules_cred want = RULES_CRED_VALID;
			char id[16];

			if (c[i].revoked)
				want = RULES_CRED_REVOKED;
			else if (c[i].from >= 0 && now < c[i].from)
				want = RULES_CRED_NOT_YET_VALID;
			else if (c[i].until >= 0 && now > c[i].until)
				want = RULES_CRED_EXPIRED;
			reg_lookup(r, c[i].value, now, &m);
			snprintf(id, sizeof(id), "p%07d", c[i].person);
			if (m.credential != want || m.pid != pid_of(db, id) ||
			    m.person != (c[i].person % 7 == 0 && now > T0 ?
					  RULES_EXPIRED : RULES_VALID))
				fail_msg("%s at %lld: %d (want %d), pid %lld",
					 c[i].value, (long long)now,
					 m.credential, want, (long long)m.pid);
		}
	}
	/* values next to known ones are unknown */
	reg_lookup(r, "40000", T0, &m);
	assert_int_equal(m.credential, RULES_CRED_UNKNOWN);
	reg_lookup(r, "4000099999999", T0, &m);
	assert_int_equal(m.credential, RULES_CRED_UNKNOWN);
	reg_free(r);
	reg_db_close(db);
}

/* --- export and import --------------------------------------------------- */

static const char rich_json[] =
	"{\"households\": [\n"
	"  {\"id\": \"b3-1201\", \"unit\": \"Building 3, \\\"1201\\\" \\\\ "
	"east\"},\n"
	"  {\"id\": \"b3-1204\", \"unit\": \"\xe4\xb8\x89\xe6\xa0\x8b 1204\","
	" \"landlord\": \"b3-1201\"},\n"
	"  {\"id\": \"b4-1\"}],\n"
	" \"persons\": [\n"
	"  {\"id\": \"p1\", \"household\": \"b3-1204\", \"role\": \"tenant\","
	"   \"valid_from\": \"2026-01-01\","
	"   \"valid_until\": \"2026-12-31T18:00:00+08:00\","
	"   \"quarantine_until\": \"2026-11-30\", \"name\": \"Li, \\\"Na\\\"\"},\n"
	"  {\"id\": \"p2\", \"role\": \"visitor\", \"host\": \"b4-1\","
	"   \"valid_until\": \"2026-03-01T12:00Z\", \"blocked\": true},\n"
	"  {\"id\": \"p3\", \"household\": \"b3-1201\", \"role\": \"resident\","
	"   \"observation_until\": \"2026-02-14\"},\n"
	"  {\"id\": \"p4\", \"role\": \"courier\"}],\n"
	" \"credentials\": [\n"
	"  {\"value\": \"1001\", \"kind\": \"card\", \"person\": \"p1\"},\n"
	"  {\"value\": \"QR:abc=\", \"kind\": \"qr\", \"person\": \"p2\","
	"   \"valid_from\": \"2026-02-01T08:00+08:00\", \"revoked\": true},\n"
	"  {\"value\": \"1003\", \"kind\": \"card\", \"person\": \"p4\","
	"   \"valid_until\": \"2027-01-01\"}]}\n";

static void test_round_trip(void **state)
{
	struct reg_db *a = open_db("rt-a.db"), *b = open_db("rt-b.db");
	struct reg_db *c = open_db("rt-c.db");
	char *ja, *jb, *jc, *csv[3];
	static const char *const tables[3] = { "households", "persons",
					       "credentials" };
	struct src s[3];
	struct errs e = { .len = 0 };

	(void)state;
	import_ok(a, 0, "rich.json", rich_json);
	ja = export_str(a, REG_JSON, NULL);
	/* times come out in UTC; a local date's end is 23:59:59 local */
	assert_non_null(strstr(ja, "\"valid_from\": \"2025-12-31T16:00:00Z\""));
	assert_non_null(strstr(ja, "\"quarantine_until\": "
			       "\"2026-11-30T15:59:59Z\""));
	assert_non_null(strstr(ja, "\"name\": \"Li, \\\"Na\\\"\""));
	/* JSON -> JSON */
	import_ok(b, 0, "export.json", ja);
	jb = export_str(b, REG_JSON, NULL);
	assert_string_equal(ja, jb);
	/* CSV, one file per table -> JSON */
	for (int t = 0; t < 3; t++) {
		csv[t] = export_str(a, REG_CSV, tables[t]);
		s[t] = (struct src){ t == 0 ? "h.csv" : t == 1 ? "p.csv" :
				     "c.csv", csv[t] };
	}
	assert_non_null(strstr(csv[1], "\"Li, \"\"Na\"\"\""));
	if (import_srcs(c, 0, &e, s, 3) != 0)
		fail_msg("%s", e.buf);
	jc = export_str(c, REG_JSON, NULL);
	assert_string_equal(ja, jc);
	/* one table of the JSON */
	free(jc);
	jc = export_str(a, REG_JSON, "persons");
	assert_null(strstr(jc, "credentials"));
	assert_non_null(strstr(jc, "\"persons\": ["));
	/* CSV needs a table, and the table must exist */
	assert_int_equal(reg_export(a, REG_CSV, NULL, stdout), -EINVAL);
	assert_int_equal(reg_export(a, REG_JSON, "people", stdout), -EINVAL);
	for (int t = 0; t < 3; t++)
		free(csv[t]);
	free(ja);
	free(jb);
	free(jc);
	reg_db_close(a);
	reg_db_close(b);
	reg_db_close(c);
}

/* --- the database ------------------------------------------------------- */

static void test_db(void **state)
{
	struct reg_db *db = open_db("names.db"), *other = open_db("names.db");
	char person[REG_ID_MAX], household[REG_ID_MAX], path[128], err[256];
	int64_t pid, hid, dv;
	struct registry *r;
	sqlite3 *raw;

	(void)state;
	import_ok(db, 0, "a.json", base_json);
	pid = pid_of(db, "p1");
	hid = hid_of(db, "h1");
	assert_int_equal(reg_db_names(db, pid, person, sizeof(person), hid,
				      household, sizeof(household)), 0);
	assert_string_equal(person, "p1");
	assert_string_equal(household, "h1");
	assert_int_equal(reg_db_names(db, 0, person, sizeof(person), 0,
				      household, sizeof(household)), 0);
	assert_string_equal(person, "");
	assert_string_equal(household, "");
	assert_int_equal(reg_db_names(db, 9999, person, sizeof(person), hid,
				      household, sizeof(household)), -ENOENT);
	assert_string_equal(person, "");
	assert_int_equal(reg_db_names(db, pid, person, sizeof(person), 9999,
				      household, sizeof(household)), -ENOENT);
	assert_string_equal(household, "");
	assert_int_equal(reg_db_pid(db, "nobody", &pid), -ENOENT);
	assert_int_equal(reg_db_hid(db, "nowhere", &hid), -ENOENT);

	/* another connection's commit changes data_version */
	dv = reg_db_data_version(db);
	assert_int_equal(reg_db_data_version(db), dv);
	import_ok(other, 0, "b.csv", "id\nh5\n");
	assert_int_not_equal(reg_db_data_version(db), dv);
	assert_int_equal(reg_db_version(db), 2);
	reg_db_close(other);
	reg_db_close(db);
	reg_db_close(NULL);

	/* a missing file is a new empty registry; a missing directory is
	 * an error */
	r = load("fresh.db");
	assert_int_equal(reg_persons(r), 0);
	assert_int_equal(reg_credentials(r), 0);
	assert_int_equal(reg_version(r), 0);
	reg_lookup(r, "1001", 0, &(struct reg_match){ 0 });
	reg_free(r);
	path_of(path, sizeof(path), "no/such/dir.db");
	assert_true(reg_load(path, &r, err, sizeof(err)) < 0);
	assert_null(r);
	assert_non_null(strstr(err, "no/such/dir.db"));

	/* a newer schema is refused */
	path_of(path, sizeof(path), "future.db");
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 2", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	assert_int_equal(reg_db_open(path, &db, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "schema version 2 is newer"));
}

/* --- remote lists updates ----------------------------------------------------- */

/* version 5: h3 is a room h1 lets; v1 is h2's visitor */
static const char lists_base[] =
	"{'version': 5,"
	" 'households': [{'id': 'h1'}, {'id': 'h2'},"
	"  {'id': 'h3', 'landlord': 'h1'}],"
	" 'persons': [{'id': 'p1', 'household': 'h1', 'role': 'resident'},"
	"  {'id': 'p2', 'household': 'h1', 'role': 'resident'},"
	"  {'id': 't1', 'household': 'h3', 'role': 'tenant'},"
	"  {'id': 'v1', 'role': 'visitor', 'host': 'h2'},"
	"  {'id': 's1', 'role': 'staff'}],"
	" 'credentials': [{'value': 'A', 'kind': 'card', 'person': 'p1'},"
	"  {'value': 'B', 'kind': 'card', 'person': 'p1'},"
	"  {'value': 'C', 'kind': 'card', 'person': 'p2'},"
	"  {'value': 'T', 'kind': 'card', 'person': 't1'},"
	"  {'value': 'V', 'kind': 'qr', 'person': 'v1'},"
	"  {'value': 'S', 'kind': 'card', 'person': 's1', 'revoked': true}]}";

static const char lists_base_summary[] =
	"h1 h2 h3<h1 | p1:resident@h1 p2:resident@h1 s1:staff t1:tenant@h3 "
	"v1:visitor^h2 | A:card>p1 B:card>p1 C:card>p2 S:card>s1! T:card>t1 "
	"V:qr>v1";

/* JSON written with ' for " (no value here holds a quote). */
static char *dq(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

/* The registry in one line, every table sorted by id:
 * "h3<landlord | p:role@household^host | value:kind>person!revoked". */
static char *summary(const char *name)
{
	static const char *const sql[] = {
		"SELECT h.id, coalesce('<' || l.id, '') FROM household h"
		" LEFT JOIN household l ON l.hid = h.landlord ORDER BY h.id",
		"SELECT p.id, ':' || p.role || coalesce('@' || h.id, '') ||"
		" coalesce('^' || o.id, '') FROM person p"
		" LEFT JOIN household h ON h.hid = p.hid"
		" LEFT JOIN household o ON o.hid = p.host ORDER BY p.id",
		"SELECT c.value, ':' || c.kind || '>' || p.id ||"
		" CASE WHEN c.revoked THEN '!' ELSE '' END FROM credential c"
		" JOIN person p ON p.pid = c.pid ORDER BY c.value",
	};
	char path[128], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	sqlite3 *raw;

	assert_non_null(f);
	path_of(path, sizeof(path), name);
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	for (size_t t = 0; t < 3; t++) {
		sqlite3_stmt *st;
		int first = 1;

		assert_int_equal(sqlite3_prepare_v2(raw, sql[t], -1, &st, NULL),
				 SQLITE_OK);
		if (t > 0)
			fputs(" |", f);
		while (sqlite3_step(st) == SQLITE_ROW) {
			fprintf(f, "%s%s%s", first && t == 0 ? "" : " ",
				sqlite3_column_text(st, 0),
				sqlite3_column_text(st, 1));
			first = 0;
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(raw);
	fclose(f);
	return buf;
}

/* As a gate would show them: [FILE:]LINE: FIELD: message.  Errors in
 * the document name no file. */
static void on_lists_error(void *ctx, const char *file, int line,
			   const char *field, const char *msg)
{
	struct errs *e = ctx;
	size_t room = sizeof(e->buf) - e->len;
	int k = snprintf(e->buf + e->len, room, "%s%s%d: %s%s%s\n",
			 file ? file : "", file ? ":" : "", line,
			 field ? field : "", field ? ": " : "", msg);

	e->n++;
	e->len += (size_t)k < room ? (size_t)k : room - 1;
}

/* Apply the "lists" member of doc (a signed document's JSON with ' for
 * "), at the document's "version". */
static int apply_doc(struct reg_db *db, const char *doc, struct errs *e,
		     int64_t *in_force)
{
	char *text = dq(doc), err[256];
	struct jt_doc *d;
	const struct jt_node *v;
	int rc;

	if (jt_parse(text, strlen(text), &d, err, sizeof(err)) != 0)
		fail_msg("test document: %s: %s", err, text);
	v = jt_get(jt_root(d), "version");
	assert_non_null(v);
	rc = reg_apply_lists(db, jt_get(jt_root(d), "lists"), v->i,
			     on_lists_error, e, in_force);
	jt_free(d);
	free(text);
	return rc;
}

struct lists_case {
	const char *doc;
	int want;		/* 0, -EALREADY, -ESTALE or errors */
	const char *errors;	/* all of them, exactly */
	const char *after;	/* the summary; NULL: as before */
};

static const struct lists_case lists_cases[] = {
	/* snapshots: the whole registry, kept ids keep their keys */
	{ "{'version': 6, 'lists': {'mode': 'snapshot', 'registry': {"
	  "'households': [{'id': 'h1'}, {'id': 'h9', 'landlord': 'h1'}],"
	  "'persons': [{'id': 'p1', 'household': 'h9', 'role': 'tenant'},"
	  "{'id': 'n1', 'role': 'courier'}],"
	  "'credentials': [{'value': 'A', 'kind': 'qr', 'person': 'p1'},"
	  "{'value': 'N', 'kind': 'card', 'person': 'n1'}]}}}",
	  0, "", "h1 h9<h1 | n1:courier p1:tenant@h9 | A:qr>p1 N:card>n1" },
	/* a table left out is emptied; the document's own version agrees */
	{ "{'version': 9, 'lists': {'mode': 'snapshot', 'registry': {"
	  "'version': 9, 'persons': [{'id': 'x', 'role': 'staff'}]}}}",
	  0, "", " | x:staff |" },
	{ "{'version': 6, 'lists': {'mode': 'snapshot', 'registry': {}}}",
	  0, "", " | |" },
	{ "{'version': 6, 'lists': {'mode': 'snapshot', 'registry': {"
	  "'persons': [{'id': 'p1', 'household': 'h1', 'role': 'resident'}],"
	  "'credentials': [{'value': 'A', 'kind': 'card', 'person': 'p9'}]"
	  "}}}",
	  2, "1: $.lists.registry.persons[0].household: no household \"h1\" "
	  "in the snapshot (it replaces the whole registry)\n"
	  "1: $.lists.registry.credentials[0].person: no person \"p9\" in the "
	  "snapshot (it replaces the whole registry)\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'snapshot', 'registry': {"
	  "'version': 7}}}",
	  1, "1: $.lists.registry.version: 7 differs from the update's "
	  "version 6 (leave it out)\n", NULL },
	/* invalid rows, with the lines of the signed document */
	{ "{'version': 6,\n 'lists': {'mode': 'snapshot', 'registry': {\n"
	  "  'persons': [{'id': 'p1', 'role': 'staff'},\n"
	  "   {'id': 'p2', 'role': 'landlord', 'quarantine_untill': 1},\n"
	  "   {'id': 'p1', 'role': 'staff'}],\n"
	  "  'credentials': [{'value': 'A B', 'person': 'p1'}]}}}",
	  5, "4: $.lists.registry.persons[1].role: unknown role \"landlord\" "
	  "(resident, tenant, visitor, staff or courier)\n"
	  "4: $.lists.registry.persons[1].quarantine_untill: unknown field; a "
	  "person has id, household, role, valid_from, valid_until, host, "
	  "quarantine_until, observation_until, blocked, name\n"
	  "5: $.lists.registry.persons[2].id: person \"p1\" is also "
	  "$.lists.registry.persons[0] at line 3\n"
	  "6: $.lists.registry.credentials[0].value: only printable ASCII "
	  "without spaces is allowed\n"
	  "6: $.lists.registry.credentials[0].kind: missing\n", NULL },

	/* deltas: upsert merges, then remove */
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'upsert': {'persons': [{'id': 'p3', 'household': 'h2',"
	  "'role': 'resident'}, {'id': 's1', 'role': 'staff'}],"
	  "'credentials': [{'value': 'D', 'kind': 'card', 'person': 'p3'}]},"
	  "'remove': {'persons': ['p2'], 'credentials': ['B']}}}",
	  0, "", "h1 h2 h3<h1 | p1:resident@h1 p3:resident@h2 s1:staff "
	  "t1:tenant@h3 v1:visitor^h2 | A:card>p1 D:card>p3 S:card>s1! "
	  "T:card>t1 V:qr>v1" },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'remove': {'credentials': ['V', 'S']}}}",
	  0, "", "h1 h2 h3<h1 | p1:resident@h1 p2:resident@h1 s1:staff "
	  "t1:tenant@h3 v1:visitor^h2 | A:card>p1 B:card>p1 C:card>p2 "
	  "T:card>t1" },
	{ "{'version': 70, 'lists': {'mode': 'delta', 'base': 5,"
	  "'upsert': {'credentials': [{'value': 'S', 'kind': 'card',"
	  "'person': 's1'}]}}}",
	  0, "", "h1 h2 h3<h1 | p1:resident@h1 p2:resident@h1 s1:staff "
	  "t1:tenant@h3 v1:visitor^h2 | A:card>p1 B:card>p1 C:card>p2 "
	  "S:card>s1 T:card>t1 V:qr>v1" },
	/* a household goes with whatever used it, or after it moved */
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'remove': {'households': ['h1', 'h3'],"
	  "'persons': ['p1', 'p2', 't1']}}}",
	  0, "", "h2 | s1:staff v1:visitor^h2 | S:card>s1! V:qr>v1" },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'upsert': {'persons': [{'id': 'v1', 'role': 'visitor',"
	  "'host': 'h1'}]}, 'remove': {'households': ['h2']}}}",
	  0, "", "h1 h3<h1 | p1:resident@h1 p2:resident@h1 s1:staff "
	  "t1:tenant@h3 v1:visitor^h1 | A:card>p1 B:card>p1 C:card>p2 "
	  "S:card>s1! T:card>t1 V:qr>v1" },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'remove': {'households': ['h2', 'h1']}}}",
	  2, "1: $.lists.remove.households[0]: household \"h2\" is still the "
	  "host of person \"v1\"; remove the person too, or move it in "
	  "upsert\n"
	  "1: $.lists.remove.households[1]: household \"h1\" is still the "
	  "household of person \"p1\" (and 2 more); remove the person too, "
	  "or move it in upsert\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'remove': {'households': ['h1'], 'persons': ['p1', 'p2']}}}",
	  1, "1: $.lists.remove.households[0]: household \"h1\" is still the "
	  "landlord of household \"h3\"; remove that too, or give it "
	  "another landlord in upsert\n", NULL },
	/* what is removed cannot be referred to, upserted or unknown */
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'upsert': {'credentials': [{'value': 'E', 'kind': 'card',"
	  "'person': 'p2'}], 'persons': [{'id': 'p4', 'role': 'resident',"
	  "'household': 'h2'}]},"
	  "'remove': {'persons': ['p2'], 'households': ['h2']}}}",
	  2, "1: $.lists.upsert.persons[0].household: household \"h2\" is "
	  "removed by this update ($.lists.remove.households[0])\n"
	  "1: $.lists.upsert.credentials[0].person: person \"p2\" is removed "
	  "by this update ($.lists.remove.persons[0])\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'upsert': {'persons': [{'id': 's1', 'role': 'staff'}]},"
	  "'remove': {'persons': ['p1', 's1']}}}",
	  1, "1: $.lists.remove.persons[1]: person \"s1\" is also upserted "
	  "($.lists.upsert.persons[0]); an update either upserts or removes "
	  "an entry\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'upsert': {'persons': [{'id': 'p5', 'role': 'resident',"
	  "'household': 'hX'}]},"
	  "'remove': {'persons': ['p1', 'zz'], 'credentials': ['ZZ', 'C'],"
	  "'households': ['hY']}}}",
	  1, "1: $.lists.upsert.persons[0].household: no household \"hX\" in "
	  "the registry or the upsert\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'remove': {'persons': ['p1', 'zz'], 'credentials': ['ZZ', 'C'],"
	  "'households': ['hY']}}}",
	  3, "1: $.lists.remove.credentials[0]: no credential \"ZZ\" in the "
	  "registry\n"
	  "1: $.lists.remove.persons[1]: no person \"zz\" in the registry\n"
	  "1: $.lists.remove.households[0]: no household \"hY\" in the "
	  "registry\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'remove': {'persons': ['p1', 'p2', 'p1', 'a b', 7, ''],"
	  "'cards': ['A'], 'credentials': 'A'}}}",
	  6, "1: $.lists.remove.persons[2]: person \"p1\" is also "
	  "$.lists.remove.persons[0]\n"
	  "1: $.lists.remove.persons[3]: \"a b\": spaces and control "
	  "characters are not allowed\n"
	  "1: $.lists.remove.persons[4]: expected a string, got number\n"
	  "1: $.lists.remove.persons[5]: \"\": empty\n"
	  "1: $.lists.remove.cards: unknown field; remove has persons, "
	  "households and credentials\n"
	  "1: $.lists.remove.credentials: expected an array of credential "
	  "values, got string\n", NULL },

	/* versions and bases: checked first, in this order */
	{ "{'version': 5, 'lists': {'mode': 'delta', 'base': 5,"
	  "'remove': {'persons': ['p1']}}}",
	  -EALREADY, "0: $.version: 5 is not above the registry's version "
	  "5\n", NULL },
	{ "{'version': 3, 'lists': {'mode': 'bogus'}}",
	  -EALREADY, "0: $.version: 3 is not above the registry's version "
	  "5\n", NULL },
	{ "{'version': 7, 'lists': {'mode': 'delta', 'base': 4,"
	  "'remove': {'persons': ['nobody']}}}",
	  -ESTALE, "1: $.lists.base: the delta applies to registry version 4, "
	  "but version 5 is in force\n", NULL },
	{ "{'version': 7, 'lists': {'mode': 'delta', 'base': 6,"
	  "'remove': {'persons': ['p1']}}}",
	  -ESTALE, "1: $.lists.base: the delta applies to registry version 6, "
	  "but version 5 is in force\n", NULL },
	{ "{'version': 7, 'lists': {'mode': 'delta', 'base': 6.0}}",
	  2, "1: $.lists.base: expected a whole number of 0 or more\n"
	  "1: $.lists: a delta needs \"upsert\", \"remove\" or both\n", NULL },

	/* the shape of lists */
	{ "{'version': 6, 'lists': {'mode': 'full'}}",
	  1, "1: $.lists.mode: expected \"snapshot\" or \"delta\"\n", NULL },
	{ "{'version': 6, 'lists': {'registry': {}}}",
	  1, "1: $.lists.mode: missing (\"snapshot\" or \"delta\")\n", NULL },
	{ "{'version': 6, 'lists': []}",
	  1, "1: $.lists: expected an object, got array\n", NULL },
	{ "{'version': 6}",
	  1, "0: $.lists: expected an object, got nothing\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'snapshot', 'base': 5,"
	  "'registry': []}}",
	  2, "1: $.lists.base: unknown field; a snapshot has mode and "
	  "registry\n"
	  "1: $.lists.registry: expected an object, got array\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'snapshot'}}",
	  1, "1: $.lists.registry: missing (the whole registry, as an "
	  "import document)\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'registry': {},"
	  "'upsert': [], 'remove': null}}",
	  4, "1: $.lists.registry: unknown field; a delta has mode, base, "
	  "upsert and remove\n"
	  "1: $.lists.base: missing (the registry version the delta applies "
	  "to)\n"
	  "1: $.lists.upsert: expected an object, got array\n"
	  "1: $.lists.remove: expected an object, got null\n", NULL },
	{ "{'version': 6, 'lists': {'mode': 'delta', 'base': 5,"
	  "'upsert': {'persons': {}, 'cards': []}}}",
	  2, "1: $.lists.upsert.persons: expected an array, got object\n"
	  "1: $.lists.upsert.cards: unknown field; the document has version, "
	  "households, persons and credentials\n", NULL },
};

/* Each case on a fresh registry at version 5: the result, every error,
 * and what the registry holds after (nothing changed on any error). */
static void test_lists_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lists_cases) / sizeof(lists_cases[0]);
	     i++) {
		const struct lists_case *c = &lists_cases[i];
		struct errs e = { .len = 0 };
		char name[32], *base = dq(lists_base), *got;
		int64_t in_force = -1, v;
		struct reg_db *db;
		int rc;

		snprintf(name, sizeof(name), "lists-%zu.db", i);
		db = open_db(name);
		import_ok(db, 0, "base.json", base);
		free(base);
		rc = apply_doc(db, c->doc, &e, &in_force);
		if (rc != c->want || strcmp(e.buf, c->errors) != 0)
			fail_msg("case %zu: rc %d (want %d), errors:\n%s"
				 "want:\n%s", i, rc, c->want, e.buf,
				 c->errors);
		v = reg_db_version(db);
		if (rc == 0) {
			struct jt_doc *d;
			char *t = dq(c->doc), err[64];

			assert_int_equal(jt_parse(t, strlen(t), &d, err,
						  sizeof(err)), 0);
			assert_int_equal(v, jt_get(jt_root(d), "version")->i);
			jt_free(d);
			free(t);
		} else {
			assert_int_equal(v, 5);
		}
		assert_int_equal(in_force, v);
		got = summary(name);
		if (strcmp(got, c->after ? c->after : lists_base_summary) != 0)
			fail_msg("case %zu: the registry holds\n%s\nwant\n%s",
				 i, got, c->after ? c->after :
				 lists_base_summary);
		free(got);
		reg_db_close(db);
	}
}

/* Updates one after another as a gate receives them; keys kept; what
 * wicketd reads (reg_load, reg_lookup, the version, data_version) sees
 * each change. */
static void test_lists_effects(void **state)
{
	struct reg_db *db = open_db("effects.db");
	struct reg_db *poller = open_db("effects.db");
	char *base = dq(lists_base);
	struct errs e = { .len = 0 };
	int64_t p1, h1, in_force = 0, dv_db, dv_poll;
	struct reg_match m;
	struct registry *r;

	(void)state;
	import_ok(db, 0, "base.json", base);
	free(base);
	p1 = pid_of(db, "p1");
	h1 = hid_of(db, "h1");
	r = load("effects.db");
	reg_lookup(r, "C", 0, &m);
	assert_int_equal(m.credential, RULES_CRED_VALID);
	reg_free(r);
	dv_db = reg_db_data_version(db);
	dv_poll = reg_db_data_version(poller);

	/* a delta: p2 and its card go, p1 loses one card */
	assert_int_equal(apply_doc(db, "{'version': 8, 'lists': {'mode': "
				   "'delta', 'base': 5, 'remove': {'persons': "
				   "['p2'], 'credentials': ['B']}}}", &e,
				   &in_force), 0);
	assert_string_equal(e.buf, "");
	assert_int_equal(in_force, 8);
	assert_int_equal(reg_db_version(db), 8);
	assert_int_equal(reg_db_version(poller), 8);
	/* both handles see a commit: the other's and their own */
	assert_int_not_equal(reg_db_data_version(db), dv_db);
	assert_int_not_equal(reg_db_data_version(poller), dv_poll);
	dv_db = reg_db_data_version(db);
	assert_int_equal(reg_db_data_version(db), dv_db);
	r = load("effects.db");
	assert_int_equal(reg_version(r), 8);
	assert_int_equal(reg_persons(r), 4);
	assert_int_equal(reg_credentials(r), 4);
	reg_lookup(r, "C", 0, &m);
	assert_int_equal(m.credential, RULES_CRED_UNKNOWN);
	reg_lookup(r, "B", 0, &m);
	assert_int_equal(m.credential, RULES_CRED_UNKNOWN);
	reg_lookup(r, "A", 0, &m);
	assert_int_equal(m.credential, RULES_CRED_VALID);
	assert_int_equal(m.pid, p1);
	reg_free(r);
	assert_int_equal(pid_of(db, "p2"), -1);

	/* the same again: a replay; then a delta on the old base */
	memset(&e, 0, sizeof(e));
	assert_int_equal(apply_doc(db, "{'version': 8, 'lists': {'mode': "
				   "'delta', 'base': 5, 'remove': {'persons': "
				   "['p2'], 'credentials': ['B']}}}", &e,
				   &in_force), -EALREADY);
	assert_int_equal(in_force, 8);
	assert_int_equal(apply_doc(db, "{'version': 9, 'lists': {'mode': "
				   "'delta', 'base': 5, 'remove': {"
				   "'persons': ['p1']}}}", &e, &in_force),
			 -ESTALE);
	assert_int_equal(in_force, 8);
	assert_int_equal(e.n, 2);
	assert_int_equal(reg_db_data_version(db), dv_db);

	/* a snapshot: p1 and h1 stay the same keys, the rest goes */
	assert_int_equal(apply_doc(db, "{'version': 12, 'lists': {'mode': "
				   "'snapshot', 'registry': {'households': "
				   "[{'id': 'h1'}], 'persons': [{'id': 'p1', "
				   "'household': 'h1', 'role': 'resident'}], "
				   "'credentials': [{'value': 'Z', 'kind': "
				   "'card', 'person': 'p1'}]}}}", &e,
				   &in_force), 0);
	assert_int_equal(in_force, 12);
	assert_int_equal(pid_of(db, "p1"), p1);
	assert_int_equal(hid_of(db, "h1"), h1);
	r = load("effects.db");
	assert_int_equal(reg_version(r), 12);
	assert_int_equal(reg_households(r), 1);
	assert_int_equal(reg_persons(r), 1);
	assert_int_equal(reg_credentials(r), 1);
	reg_lookup(r, "A", 0, &m);
	assert_int_equal(m.credential, RULES_CRED_UNKNOWN);
	reg_lookup(r, "Z", 0, &m);
	assert_int_equal(m.credential, RULES_CRED_VALID);
	assert_int_equal(m.pid, p1);
	assert_int_equal(m.hid, h1);
	reg_free(r);
	assert_int_not_equal(reg_db_data_version(db), dv_db);

	/* an ordinary import after an update takes the next version */
	import_ok(poller, 0, "x.csv", "id\nhx\n");
	assert_int_equal(reg_db_version(db), 13);
	reg_db_close(poller);
	reg_db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_import_references),
		cmocka_unit_test(test_merge_replace),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_lookup_many),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_db),
		cmocka_unit_test(test_lists_cases),
		cmocka_unit_test(test_lists_effects),
	};

	return cmocka_run_group_tests_name("registry", tests, setup, teardown);
}
