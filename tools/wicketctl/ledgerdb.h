/*
 * ledgerdb: what `wicketctl ledger` and `wicketctl report` share: opening
 * STATE_DIR/ledger.db read-only (so they work with wicketd running or
 * stopped, and never change the file), times as operators type and read
 * them (local unless they say otherwise), and writing untrusted text
 * safely into JSON, CSV, HTML and a terminal.
 */
#ifndef WICKET_CTL_LEDGERDB_H
#define WICKET_CTL_LEDGERDB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "ctl.h"

/* Open STATE_DIR/ledger.db read-only and check its schema version
 * (LEDGER_SCHEMA_VERSION, the one daemon/ledger.c writes).
 * Returns CTL_OK with *db set (and *path, malloc'd, when path is not
 * NULL), or CTL_FAIL after printing why. */
int ldb_open(const struct ctl_opts *o, sqlite3 **db, char **path);

/* A time as an operator gives it: YYYY-MM-DD (a local date: its first
 * millisecond, or with until its last), YYYY-MM-DDTHH:MM[:SS] (local, or
 * followed by Z or +HH:MM/-HH:MM; with until, the end of that second),
 * "today", "yesterday" (their first or last millisecond) or "now".
 * Unix milliseconds.  0, or -EINVAL with err saying why. */
int ldb_parse_time(const char *s, int until, int64_t *ms, char *err,
		   size_t errlen);
/* A report's day: YYYY-MM-DD, "today" or "yesterday": the local day
 * [start, end) in milliseconds (23, 24 or 25 hours long) and its name,
 * YYYY-MM-DD.  0, or -EINVAL with err saying why. */
int ldb_parse_day(const char *s, char *day, size_t daylen, int64_t *start,
		  int64_t *end, char *err, size_t errlen);

/* Local time of unix milliseconds: "2026-11-23T18:20:01.123+08:00" */
void ldb_time_iso(int64_t ms, char *buf, size_t len);
/* Local time for tables: "2026-11-23 18:20:01" */
void ldb_time_local(int64_t ms, char *buf, size_t len);

/* A double with the fewest digits that read back the same ("36.6"). */
void ldb_fmt_num(double v, char *buf, size_t len);

/* Text from the ledger written out.  Invalid UTF-8 becomes U+FFFD in all
 * of them, so the output is always valid UTF-8. */
void ldb_put_json_str(FILE *f, const char *s);	/* with the quotes */
void ldb_put_html(FILE *f, const char *s);	/* & < > " ' escaped */
/* One CSV cell (RFC 4180): quoted when it holds a comma, quote, CR or
 * LF; a cell starting with = + - @ TAB or CR gets a leading ' so that a
 * spreadsheet shows it as text instead of running it as a formula. */
void ldb_put_csv_text(FILE *f, const char *s);
/* For a terminal table: control characters become '?'.  Writes at most
 * width display columns when width > 0, else all; returns the columns
 * written (one per code point, which is right for the ids, codes and
 * numbers the table shows). */
size_t ldb_put_term(FILE *f, const char *s, size_t width);
/* Display columns of s as ldb_put_term counts them. */
size_t ldb_term_width(const char *s);

#endif
