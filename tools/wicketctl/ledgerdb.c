/*
 * ledgerdb: read-only access to the ledger for wicketctl, and the small
 * output helpers its commands share.
 *
 * The ledger is wicketd's SQLite file in WAL mode.  Opening it with
 * SQLITE_OPEN_READONLY lets a reader see every committed event while the
 * daemon writes (WAL readers never block the writer), and after a crash
 * the un-checkpointed WAL is read too, so "what happened yesterday" works
 * whether or not wicketd runs.
 *
 * With no -wal file beside it (wicketd stopped cleanly, everything is in
 * the main file) the file is opened as immutable: a read-only WAL
 * connection would otherwise create the -wal and -shm files, which a
 * member of group wicket may not create in the state directory, and which
 * should not appear just because someone looked.  The one risk, wicketd
 * starting and checkpointing during the read, ends in an error message
 * at worst.  With a -wal (wicketd running, or crashed) a reader that may
 * not write the -shm still reads: SQLite then maps it read-only.
 *
 * The ledger's text was written by the daemon from devices and the
 * registry: trusted, but read defensively.  Every writer here turns
 * invalid UTF-8 into U+FFFD and escapes for its format, so a strange
 * credential cannot break a JSON document, an HTML page, a spreadsheet or
 * a terminal.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "ledgerdb.h"
#include "registry.h"
#include "rules.h"

static int check_schema(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st = NULL;
	int rc, version;

	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		fprintf(stderr, "wicketctl: %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -EIO;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version == 0) {
		fprintf(stderr, "wicketctl: %s: not a wicket ledger (schema "
			"version 0: empty, or another program's database)\n",
			path);
		return -EPROTO;
	}
	/* 4 only widened the kinds (audit): a v3 file, of a wicketd not yet
	 * restarted after an upgrade, reads the same */
	if (version < 3) {
		fprintf(stderr, "wicketctl: %s: ledger schema version %d; this "
			"wicketctl reads versions 3 to %d (start this version's "
			"wicketd once: it migrates the file)\n", path, version,
			LEDGER_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version > LEDGER_SCHEMA_VERSION) {
		fprintf(stderr, "wicketctl: %s: ledger schema version %d is newer "
			"than this wicketctl's (%d); use the wicketctl that came "
			"with the running wicketd\n", path, version,
			LEDGER_SCHEMA_VERSION);
		return -EPROTO;
	}
	/* the columns the commands read, all of them */
	rc = sqlite3_prepare_v2(db, "SELECT seq, time_ms, kind, priority, lane,"
		" direction, credential, person, temperature, decision, reason,"
		" alarm, device, state, message, detail, delivered, rule,"
		" rules_version, person_id, household_id FROM event LIMIT 0",
		-1, &st, NULL);
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "wicketctl: %s: not a wicket ledger of schema "
			"version %d: %s\n", path, version, sqlite3_errmsg(db));
		return -EPROTO;
	}
	return 0;
}

static sqlite3 *open_ro(const char *uri, int *rc)
{
	sqlite3 *db = NULL;

	*rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
			      NULL);
	if (*rc != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* No -wal and no -journal beside the file: no connection has it open
 * (wicketd keeps the -wal while it runs and removes it when it stops),
 * and everything is in the main file. */
static int stopped(const char *path)
{
	static const char *const sfx[] = { "-wal", "-journal" };
	char side[4200];

	for (size_t i = 0; i < 2; i++) {
		snprintf(side, sizeof(side), "%s%s", path, sfx[i]);
		if (access(side, F_OK) == 0 || errno != ENOENT)
			return 0;
	}
	return 1;
}

int ldb_open(const struct ctl_opts *o, sqlite3 **out, char **path_out)
{
	char *dir, *path = NULL, *uri = NULL;
	sqlite3 *db = NULL;
	struct stat sb;
	size_t len;
	int rc;

	*out = NULL;
	if (path_out)
		*path_out = NULL;
	dir = ctl_state_dir(o);
	if (dir == NULL)
		return CTL_FAIL;
	len = strlen(dir) + sizeof("/" LEDGER_FILE);
	path = malloc(len);
	if (path == NULL) {
		fprintf(stderr, "wicketctl: out of memory\n");
		free(dir);
		return CTL_FAIL;
	}
	snprintf(path, len, "%s/%s", dir, LEDGER_FILE);
	free(dir);
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			fprintf(stderr, "wicketctl: %s: no ledger (has wicketd "
				"run with this state_dir?)\n", path);
		else
			fprintf(stderr, "wicketctl: %s: %s\n", path,
				strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		fprintf(stderr, "wicketctl: %s: not a file\n", path);
		goto fail;
	}
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "wicketctl: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	uri = ctl_file_uri(path, stopped(path) ? "?mode=ro&immutable=1" :
		       "?mode=ro");
	if (uri == NULL) {
		fprintf(stderr, "wicketctl: out of memory\n");
		goto fail;
	}
	db = open_ro(uri, &rc);
	if (db == NULL) {
		fprintf(stderr, "wicketctl: %s: %s\n", path, sqlite3_errstr(rc));
		goto fail;
	}
	if (check_schema(db, path) < 0)
		goto fail;
	free(uri);
	*out = db;
	if (path_out)
		*path_out = path;
	else
		free(path);
	return CTL_OK;
fail:
	sqlite3_close(db);
	free(uri);
	free(path);
	return CTL_FAIL;
}

/* --- times ---------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The local day that is `back` days before today: [start, end) and its
 * name. */
static int local_day(int y, int m, int d, int back, char *day, size_t daylen,
		     int64_t *start, int64_t *end)
{
	struct tm tm = { 0 };
	time_t a, b;

	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d - back;
	tm.tm_isdst = -1;
	a = mktime(&tm);
	if (a == (time_t)-1)
		return -ERANGE;
	/* mktime normalised tm: this is the day's real date */
	if (day)
		snprintf(day, daylen, "%04d-%02d-%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday);
	tm.tm_mday += 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	b = mktime(&tm);
	if (b == (time_t)-1)
		return -ERANGE;
	*start = (int64_t)a * 1000;
	*end = (int64_t)b * 1000;
	return 0;
}

static int today_back(int back, char *day, size_t daylen, int64_t *start,
		      int64_t *end)
{
	time_t t = (time_t)(now_ms() / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		return -ERANGE;
	return local_day(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, back,
			 day, daylen, start, end);
}

int ldb_parse_day(const char *s, char *day, size_t daylen, int64_t *start,
		  int64_t *end, char *err, size_t errlen)
{
	int date;

	if (strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
		if (today_back(s[0] == 'y', day, daylen, start, end) == 0)
			return 0;
	} else if (rules_date_parse(s, &date, NULL) == 0) {
		if (local_day(date / 10000, date / 100 % 100, date % 100, 0,
			      day, daylen, start, end) == 0)
			return 0;
		snprintf(err, errlen, "'%s': out of range", s);
		return -EINVAL;
	}
	snprintf(err, errlen, "'%.64s' is not a day (YYYY-MM-DD from 1970, "
		 "today or yesterday)", s);
	return -EINVAL;
}

static int is_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int ldb_parse_time(const char *s, int until, int64_t *ms, char *err,
		   size_t errlen)
{
	static const char forms[] = "YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] "
		"(local, or followed by Z or +HH:MM), today, yesterday or now";
	char buf[40], why[160];
	size_t len = strlen(s), p;
	int64_t t, start, end;
	int local;

	if (strcmp(s, "now") == 0) {
		*ms = now_ms();
		return 0;
	}
	if (strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
		if (today_back(s[0] == 'y', NULL, 0, &start, &end) != 0)
			goto range;
		*ms = until ? end - 1 : start;
		return 0;
	}
	/* the shape first: reg_parse_time's own message names only the
	 * forms an import file takes */
	if (len >= sizeof(buf) || len < 10 || !is_digits(s, 4) ||
	    s[4] != '-' || !is_digits(s + 5, 2) || s[7] != '-' ||
	    !is_digits(s + 8, 2))
		goto bad;
	memcpy(buf, s, len + 1);
	p = 10;
	if (len > 10) {
		if (buf[10] == ' ')
			buf[10] = 'T';	/* "2026-11-23 18:20", as people write */
		if (buf[10] != 'T' || len < 16 || !is_digits(buf + 11, 2) ||
		    buf[13] != ':' || !is_digits(buf + 14, 2))
			goto bad;
		p = 16;
		if (p < len && buf[p] == ':') {
			if (len < 19 || !is_digits(buf + 17, 2))
				goto bad;
			p = 19;
		}
	}
	local = len > 10 && p == len;
	if (local) {
		/* validate it as UTC, then read the same fields as local */
		buf[len] = 'Z';
		buf[len + 1] = '\0';
	} else if (p < len && !(buf[p] == 'Z' && p + 1 == len) &&
		   !((buf[p] == '+' || buf[p] == '-') && len == p + 6 &&
		     is_digits(buf + p + 1, 2) && buf[p + 3] == ':' &&
		     is_digits(buf + p + 4, 2))) {
		goto bad;
	}
	if (reg_parse_time(buf, until, &t, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "'%s': %s", s, why);
		return -EINVAL;
	}
	if (local) {
		time_t u = (time_t)t;
		struct tm tm;

		if (gmtime_r(&u, &tm) == NULL)
			goto range;
		tm.tm_isdst = -1;
		u = mktime(&tm);
		if (u == (time_t)-1)
			goto range;
		t = (int64_t)u;
	}
	/* a date with until is already its last second; every `until`
	 * reaches to the end of its second */
	*ms = t * 1000 + (until ? 999 : 0);
	return 0;
bad:
	snprintf(err, errlen, "'%.64s' is not a time (%s)", s, forms);
	return -EINVAL;
range:
	snprintf(err, errlen, "'%.64s': out of range", s);
	return -EINVAL;
}

static void split_ms(int64_t ms, time_t *sec, int *milli)
{
	int64_t s = ms / 1000, r = ms % 1000;

	if (r < 0) {
		r += 1000;
		s -= 1;
	}
	*sec = (time_t)s;
	*milli = (int)r;
}

void ldb_time_iso(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t;
	int milli, n;
	long off;

	split_ms(ms, &t, &milli);
	if (localtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "?");
		return;
	}
	off = tm.tm_gmtoff;
	n = (int)strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf + n, len - (size_t)n, ".%03d%c%02ld:%02ld", milli,
		 off < 0 ? '-' : '+', labs(off) / 3600, labs(off) / 60 % 60);
}

void ldb_time_local(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t;
	int milli;

	split_ms(ms, &t, &milli);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "?");
}

void ldb_fmt_num(double v, char *buf, size_t len)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* --- text out ------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s (1 to 4) with its code
 * point, or 0 when the bytes there are not one (overlong forms,
 * surrogates and values past U+10FFFF included). */
static size_t utf8_next(const unsigned char *s, unsigned *cp)
{
	unsigned c = s[0], v;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the NUL */
		v = (v << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

#define REPLACEMENT "\xef\xbf\xbd"	/* U+FFFD */

void ldb_put_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		unsigned cp;
		size_t n = utf8_next(p, &cp);

		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\r')
			fputs("\\r", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else if (cp < 0x20 || cp == 0x7f)
			fprintf(f, "\\u%04x", cp);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

void ldb_put_html(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned cp;
		size_t n = utf8_next(p, &cp);

		if (n == 0) {
			fputs(REPLACEMENT, f);
			p++;
			continue;
		}
		if (cp == '&')
			fputs("&amp;", f);
		else if (cp == '<')
			fputs("&lt;", f);
		else if (cp == '>')
			fputs("&gt;", f);
		else if (cp == '"')
			fputs("&quot;", f);
		else if (cp == '\'')
			fputs("&#39;", f);
		else if ((cp < 0x20 && cp != '\t' && cp != '\n' &&
			  cp != '\r') || cp == 0x7f || cp == 0xfffe ||
			 cp == 0xffff)
			/* what XML forbids even as a reference, so the page
			 * stays well-formed */
			fputs(REPLACEMENT, f);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
}

void ldb_put_csv_text(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		fputc('"', f);
	if (strchr("=+-@\t\r", s[0]) && s[0] != '\0')
		fputc('\'', f);
	while (*p) {
		unsigned cp;
		size_t n = utf8_next(p, &cp);

		if (n == 0) {
			fputs(REPLACEMENT, f);
			p++;
			continue;
		}
		if (cp == '"')
			fputc('"', f);
		fwrite(p, 1, n, f);
		p += n;
	}
	if (quote)
		fputc('"', f);
}

size_t ldb_put_term(FILE *f, const char *s, size_t width)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t cols = 0;

	while (*p && (width == 0 || cols < width)) {
		unsigned cp;
		size_t n = utf8_next(p, &cp);

		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			fputc('?', f);
			p += n ? n : 1;
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
		cols++;
	}
	return cols;
}

size_t ldb_term_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t cols = 0;

	while (*p) {
		unsigned cp;
		size_t n = utf8_next(p, &cp);

		p += n ? n : 1;
		cols++;
	}
	return cols;
}
