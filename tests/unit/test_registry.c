/* registry: parse errors of both formats (message, line and field exact),
 * imports (references, merge and replace, versions, nothing applied on
 * error, stable pid/hid), times, the in-memory lookup at its boundaries,
 * export -> import round trips, and the database helpers.  Real SQLite
 * files in a fresh directory. */
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
	};

	return cmocka_run_group_tests_name("registry", tests, setup, teardown);
}
