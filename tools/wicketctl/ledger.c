/*
 * wicketctl ledger query | export: the gate's record (STATE_DIR/ledger.db)
 * by time, person, household, decision, reason, lane and kind of event,
 * as a table for people, JSON for scripts or CSV for spreadsheets.
 *
 * The ledger is read directly and read-only (ledgerdb.c), not through the
 * daemon: a property manager asks about yesterday also after a crash.
 * Every filter becomes a bound parameter of one SELECT; the rows come
 * oldest first, and --limit keeps the newest N of them.
 *
 * JSON and CSV carry every column of the event table, plus the time as
 * local ISO-8601 with its UTC offset next to time_ms.  Number columns are
 * written as numbers when they hold one; text columns always as text.  A
 * CSV text cell that a spreadsheet would run as a formula (starting with
 * = + - @, a tab or a CR) gets a leading apostrophe (ldb_put_csv_text).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ledgerdb.h"

#define LIMIT_MAX 1000000000L

enum col_type { T_INT, T_REAL, T_TEXT };

/* The event table's columns in output order ("time" is added after seq). */
enum {
	C_SEQ, C_TIME_MS, C_KIND, C_LANE, C_DIRECTION, C_CREDENTIAL, C_PERSON,
	C_PERSON_ID, C_HOUSEHOLD_ID, C_TEMPERATURE, C_DECISION, C_REASON,
	C_RULE, C_RULES_VERSION, C_ALARM, C_PRIORITY, C_DEVICE, C_STATE,
	C_MESSAGE, C_DETAIL, C_DELIVERED, N_COLS
};

static const struct {
	const char *name;
	enum col_type type;
} cols[N_COLS] = {
	[C_SEQ] = { "seq", T_INT },
	[C_TIME_MS] = { "time_ms", T_INT },
	[C_KIND] = { "kind", T_TEXT },
	[C_LANE] = { "lane", T_TEXT },
	[C_DIRECTION] = { "direction", T_TEXT },
	[C_CREDENTIAL] = { "credential", T_TEXT },
	[C_PERSON] = { "person", T_TEXT },
	[C_PERSON_ID] = { "person_id", T_TEXT },
	[C_HOUSEHOLD_ID] = { "household_id", T_TEXT },
	[C_TEMPERATURE] = { "temperature", T_REAL },
	[C_DECISION] = { "decision", T_TEXT },
	[C_REASON] = { "reason", T_TEXT },
	[C_RULE] = { "rule", T_TEXT },
	[C_RULES_VERSION] = { "rules_version", T_INT },
	[C_ALARM] = { "alarm", T_INT },
	[C_PRIORITY] = { "priority", T_INT },
	[C_DEVICE] = { "device", T_TEXT },
	[C_STATE] = { "state", T_TEXT },
	[C_MESSAGE] = { "message", T_TEXT },
	[C_DETAIL] = { "detail", T_TEXT },
	[C_DELIVERED] = { "delivered", T_INT },
};

static const char *const kinds[] = {
	"passage", "alarm", "device", "report", "outbox", "audit", "all", NULL
};

struct filter {
	int has_from, has_to;
	int64_t from, to;	/* unix ms, both inclusive */
	const char *from_arg, *to_arg;
	const char *person, *household, *decision, *reason, *lane;
	const char *kind;	/* NULL: all */
	long limit;		/* 0: none */
	const char *output;	/* export: NULL is standard output */
	int json;
};

static void usage_filters(FILE *f)
{
	fprintf(f,
		"  --from T            events at or after T\n"
		"  --to T              events up to and including T (a date: all of it)\n"
		"  --person ID         of this person (the registry's id)\n"
		"  --household ID      of this household (the registry's id)\n"
		"  --decision D        allow or deny\n"
		"  --reason CODE       this reason code (an alarm's: its kind)\n"
		"  --lane NAME         at this lane\n"
		"  --kind K            passage (default), alarm, device, report,\n"
		"                      outbox, audit or all\n"
		"  --limit N           only the newest N events (still oldest first)\n"
		"\n"
		"T: YYYY-MM-DD (a local date), YYYY-MM-DDTHH:MM[:SS] (local time, or\n"
		"with Z or +HH:MM), today, yesterday or now.\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wicketctl ledger query [FILTERS] [--json]\n"
		"       wicketctl ledger export [FILTERS] [--output FILE] [--json]\n"
		"\n"
		"Read the gate's record, STATE_DIR/ledger.db (read-only; wicketd may\n"
		"be running or stopped).  query prints a table, oldest first (--json:\n"
		"an array with every column); export writes CSV with every column.\n"
		"\n");
	usage_filters(f);
}

static void usage_query(FILE *f)
{
	fprintf(f,
		"usage: wicketctl ledger query [FILTERS] [--json]\n"
		"\n"
		"Prints the matching events as a table in local time, oldest first;\n"
		"--json: an array of objects with every column of the ledger, the\n"
		"time as local ISO-8601 with its offset and as time_ms.\n"
		"\n");
	usage_filters(f);
}

static void usage_export(FILE *f)
{
	fprintf(f,
		"usage: wicketctl ledger export [FILTERS] [--output FILE] [--json]\n"
		"\n"
		"Writes the matching events as CSV (RFC 4180, a header row, every\n"
		"column, oldest first) to standard output or FILE; --json: the\n"
		"array of ledger query --json instead.  A text cell starting with\n"
		"= + - @, a tab or a carriage return gets a leading ' so that a\n"
		"spreadsheet does not run it as a formula.\n"
		"\n"
		"  --output FILE       write FILE instead of standard output\n");
	usage_filters(f);
}

static int bad_value(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "wicketctl: %s: '%.100s' %s\n", opt, val, why);
	return CTL_USAGE;
}

/* ids, codes and names: printable, no blanks, at most 64 bytes */
static int plain(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

static int parse_args(int argc, char **argv, int export, struct filter *fl,
		      void (*help)(FILE *))
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "person", required_argument, NULL, 'p' },
		{ "household", required_argument, NULL, 'H' },
		{ "decision", required_argument, NULL, 'd' },
		{ "reason", required_argument, NULL, 'r' },
		{ "lane", required_argument, NULL, 'l' },
		{ "kind", required_argument, NULL, 'k' },
		{ "limit", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256], *end;
	int ch, i;

	fl->kind = "passage";
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
		case 't':
			if (ldb_parse_time(optarg, ch == 't',
					   ch == 'f' ? &fl->from : &fl->to, err,
					   sizeof(err)) != 0) {
				fprintf(stderr, "wicketctl: %s: %s\n",
					ch == 'f' ? "--from" : "--to", err);
				return CTL_USAGE;
			}
			if (ch == 'f') {
				fl->has_from = 1;
				fl->from_arg = optarg;
			} else {
				fl->has_to = 1;
				fl->to_arg = optarg;
			}
			break;
		case 'p':
			if (!plain(optarg))
				return bad_value("--person", optarg,
						 "is not a person id");
			fl->person = optarg;
			break;
		case 'H':
			if (!plain(optarg))
				return bad_value("--household", optarg,
						 "is not a household id");
			fl->household = optarg;
			break;
		case 'd':
			if (strcmp(optarg, "allow") != 0 &&
			    strcmp(optarg, "deny") != 0)
				return bad_value("--decision", optarg,
						 "is not allow or deny");
			fl->decision = optarg;
			break;
		case 'r':
			if (!plain(optarg))
				return bad_value("--reason", optarg,
						 "is not a reason code");
			fl->reason = optarg;
			break;
		case 'l':
			if (!plain(optarg))
				return bad_value("--lane", optarg,
						 "is not a lane name");
			fl->lane = optarg;
			break;
		case 'k':
			for (i = 0; kinds[i]; i++)
				if (strcmp(optarg, kinds[i]) == 0)
					break;
			if (kinds[i] == NULL)
				return bad_value("--kind", optarg, "is not passage, "
						 "alarm, device, report, outbox, audit or all");
			fl->kind = strcmp(optarg, "all") == 0 ? NULL : kinds[i];
			break;
		case 'n':
			errno = 0;
			fl->limit = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || fl->limit < 1 ||
			    fl->limit > LIMIT_MAX)
				return bad_value("--limit", optarg,
						 "is not a number from 1 to 1000000000");
			break;
		case 'o':
			if (!export) {
				fprintf(stderr, "wicketctl: ledger query: --output "
					"is for ledger export\n");
				return CTL_USAGE;
			}
			if (*optarg == '\0')
				return bad_value("--output", optarg,
						 "is not a file name");
			fl->output = optarg;
			break;
		case 'j':
			fl->json = 1;
			break;
		case 'h':
			help(stdout);
			return -1;
		default:
			help(stderr);
			return CTL_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wicketctl: ledger %s: unexpected argument '%s'\n",
			argv[0], argv[optind]);
		help(stderr);
		return CTL_USAGE;
	}
	if (fl->has_from && fl->has_to && fl->from > fl->to) {
		fprintf(stderr, "wicketctl: --from %s is after --to %s\n",
			fl->from_arg, fl->to_arg);
		return CTL_USAGE;
	}
	return CTL_OK;
}

/* --- the query ------------------------------------------------------------ */

static sqlite3_stmt *prepare(sqlite3 *db, const char *path,
			     const struct filter *fl)
{
	char sql[2048], where[512];
	size_t n = 0;
	sqlite3_stmt *st = NULL;

	where[0] = '\0';
#define COND(test, text) \
	do { \
		if (test) \
			n += (size_t)snprintf(where + n, sizeof(where) - n, \
					      " AND %s", text); \
	} while (0)
	COND(fl->has_from, "time_ms >= :from");
	COND(fl->has_to, "time_ms <= :to");
	COND(fl->person, "person_id = :person");
	COND(fl->household, "household_id = :household");
	COND(fl->decision, "decision = :decision");
	COND(fl->reason, "reason = :reason");
	COND(fl->lane, "lane = :lane");
	COND(fl->kind, "kind = :kind");
#undef COND
	n = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
	for (int i = 0; i < N_COLS; i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s",
				      i ? ", " : "", cols[i].name);
	if (fl->limit)
		/* the newest N, shown oldest first like the rest */
		snprintf(sql + n, sizeof(sql) - n, " FROM (SELECT * FROM event"
			 " WHERE 1%s ORDER BY time_ms DESC, seq DESC LIMIT"
			 " :limit) ORDER BY time_ms, seq", where);
	else
		snprintf(sql + n, sizeof(sql) - n, " FROM event WHERE 1%s"
			 " ORDER BY time_ms, seq", where);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "wicketctl: %s: %s\n", path, sqlite3_errmsg(db));
		return NULL;
	}
#define BIND_TEXT(name, v) \
	do { \
		int ix = sqlite3_bind_parameter_index(st, name); \
		if (ix > 0) \
			sqlite3_bind_text(st, ix, v, -1, SQLITE_STATIC); \
	} while (0)
	BIND_TEXT(":person", fl->person);
	BIND_TEXT(":household", fl->household);
	BIND_TEXT(":decision", fl->decision);
	BIND_TEXT(":reason", fl->reason);
	BIND_TEXT(":lane", fl->lane);
	BIND_TEXT(":kind", fl->kind);
#undef BIND_TEXT
	if (fl->has_from)
		sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":from"),
				   fl->from);
	if (fl->has_to)
		sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":to"),
				   fl->to);
	if (fl->limit)
		sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":limit"),
				   fl->limit);
	return st;
}

static const char *text_of(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

/* The row's time, when time_ms holds a number. */
static int row_time(sqlite3_stmt *st, int64_t *ms)
{
	int t = sqlite3_column_type(st, C_TIME_MS);
	double d;

	if (t == SQLITE_INTEGER) {
		*ms = sqlite3_column_int64(st, C_TIME_MS);
		return 1;
	}
	if (t == SQLITE_FLOAT) {
		d = sqlite3_column_double(st, C_TIME_MS);
		if (isfinite(d) && fabs(d) < 9e15) {
			*ms = (int64_t)d;
			return 1;
		}
	}
	return 0;
}

/* A number column as written: "" for NULL or not a finite number. */
static int number_of(sqlite3_stmt *st, int i, char *buf, size_t len)
{
	int t = sqlite3_column_type(st, i);

	if (t == SQLITE_INTEGER) {
		snprintf(buf, len, "%lld", (long long)sqlite3_column_int64(st, i));
		return 1;
	}
	if (t == SQLITE_FLOAT && isfinite(sqlite3_column_double(st, i))) {
		ldb_fmt_num(sqlite3_column_double(st, i), buf, len);
		return 1;
	}
	return 0;
}

/* --- JSON and CSV --------------------------------------------------------- */

static void json_row(FILE *f, sqlite3_stmt *st)
{
	char buf[64];
	int64_t ms;

	for (int i = 0; i < N_COLS; i++) {
		int t = sqlite3_column_type(st, i);

		fprintf(f, "%s\"%s\":", i ? "," : "{", cols[i].name);
		if (t == SQLITE_NULL)
			fputs("null", f);
		else if (cols[i].type != T_TEXT && number_of(st, i, buf, sizeof(buf)))
			fputs(buf, f);
		else if (cols[i].type != T_TEXT && t == SQLITE_FLOAT)
			fputs("null", f);	/* infinite: JSON has no such number */
		else
			ldb_put_json_str(f, text_of(st, i));
		if (i == C_SEQ) {
			fputs(",\"time\":", f);
			if (row_time(st, &ms)) {
				ldb_time_iso(ms, buf, sizeof(buf));
				ldb_put_json_str(f, buf);
			} else {
				fputs("null", f);
			}
		}
	}
	fputc('}', f);
}

static void csv_header(FILE *f)
{
	for (int i = 0; i < N_COLS; i++) {
		fprintf(f, "%s%s", i ? "," : "", cols[i].name);
		if (i == C_SEQ)
			fputs(",time", f);
	}
	fputs("\r\n", f);
}

static void csv_row(FILE *f, sqlite3_stmt *st)
{
	char buf[64];
	int64_t ms;

	for (int i = 0; i < N_COLS; i++) {
		int t = sqlite3_column_type(st, i);

		if (i)
			fputc(',', f);
		/* NULL, and an infinite number, stay empty */
		if (cols[i].type != T_TEXT && number_of(st, i, buf, sizeof(buf)))
			fputs(buf, f);
		else if (t == SQLITE_TEXT || t == SQLITE_BLOB ||
			 (t != SQLITE_NULL && cols[i].type == T_TEXT))
			ldb_put_csv_text(f, text_of(st, i));
		if (i == C_SEQ) {
			fputc(',', f);
			if (row_time(st, &ms)) {
				ldb_time_iso(ms, buf, sizeof(buf));
				fputs(buf, f);
			}
		}
	}
	fputs("\r\n", f);
}

/* --- the table ------------------------------------------------------------ */

enum { T_TIME, T_KIND, T_LANE, T_DIR, T_CRED, T_PERSON, T_TEMP, T_DECISION,
       T_REASON, T_RULE, T_NOTE, T_COLS };

static const char *const heads[T_COLS] = {
	"TIME", "KIND", "LANE", "DIR", "CREDENTIAL", "PERSON", "TEMP",
	"DECISION", "REASON", "RULE", "NOTE"
};

struct table {
	char **cell;		/* rows * T_COLS */
	size_t rows, cap;
};

static char *dup_or_dash(const char *s)
{
	return strdup(s && *s ? s : "-");
}

/* What the passage columns do not say about an alarm, a device event, a
 * report, an audit entry or an outbox notice. */
static char *note_of(sqlite3_stmt *st)
{
	const char *kind = text_of(st, C_KIND);
	char buf[1200];

	if (strcmp(kind, "passage") == 0)
		return strdup("");
	if (strcmp(kind, "alarm") == 0)
		snprintf(buf, sizeof(buf), "%s: %s", text_of(st, C_STATE),
			 text_of(st, C_MESSAGE));
	else if (strcmp(kind, "device") == 0)
		snprintf(buf, sizeof(buf), "%s %s: %s", text_of(st, C_DEVICE),
			 text_of(st, C_STATE), text_of(st, C_MESSAGE));
	else if (strcmp(kind, "report") == 0)
		snprintf(buf, sizeof(buf), "daily report of %s",
			 text_of(st, C_REASON));
	else if (strcmp(kind, "audit") == 0)
		snprintf(buf, sizeof(buf), "admin %s %s: %s", text_of(st, C_REASON),
			 text_of(st, C_STATE), text_of(st, C_MESSAGE));
	else
		snprintf(buf, sizeof(buf), "%s", text_of(st, C_DETAIL));
	return strdup(buf);
}

static int table_add(struct table *t, sqlite3_stmt *st)
{
	char buf[64], **c;
	int64_t ms;

	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;

		c = realloc(t->cell, cap * T_COLS * sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		t->cell = c;
		t->cap = cap;
	}
	c = t->cell + t->rows * T_COLS;
	if (row_time(st, &ms))
		ldb_time_local(ms, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "?");
	c[T_TIME] = strdup(buf);
	c[T_KIND] = dup_or_dash(text_of(st, C_KIND));
	c[T_LANE] = dup_or_dash(text_of(st, C_LANE));
	c[T_DIR] = dup_or_dash(text_of(st, C_DIRECTION));
	c[T_CRED] = dup_or_dash(text_of(st, C_CREDENTIAL));
	c[T_PERSON] = dup_or_dash(text_of(st, C_PERSON_ID));
	if (!number_of(st, C_TEMPERATURE, buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "%s",
			 sqlite3_column_type(st, C_TEMPERATURE) == SQLITE_NULL ?
			 "-" : "?");
	c[T_TEMP] = strdup(buf);
	c[T_DECISION] = dup_or_dash(text_of(st, C_DECISION));
	c[T_REASON] = dup_or_dash(text_of(st, C_REASON));
	c[T_RULE] = dup_or_dash(text_of(st, C_RULE));
	c[T_NOTE] = note_of(st);
	t->rows++;
	for (int i = 0; i < T_COLS; i++)
		if (c[i] == NULL)
			return -ENOMEM;
	return 0;
}

static void table_print(FILE *f, const struct table *t, int all_kinds)
{
	size_t w[T_COLS];
	int show[T_COLS], last = 0;

	for (int i = 0; i < T_COLS; i++) {
		show[i] = all_kinds || (i != T_KIND && i != T_NOTE);
		w[i] = ldb_term_width(heads[i]);
		for (size_t r = 0; r < t->rows; r++) {
			size_t x = ldb_term_width(t->cell[r * T_COLS + i]);

			if (x > w[i])
				w[i] = x;
		}
		if (show[i])
			last = i;
	}
	for (size_t r = 0; r <= t->rows; r++) {
		char **row = r ? t->cell + (r - 1) * T_COLS : NULL;
		int end = last;

		/* no blanks after the last cell (a passage has no note) */
		while (row && end > 0 && (!show[end] || *row[end] == '\0'))
			end--;
		for (int i = 0; i <= end; i++) {
			const char *s = row ? row[i] : heads[i];
			size_t x;

			if (!show[i])
				continue;
			x = ldb_put_term(f, s, 0);
			if (i == end)
				break;
			for (; x < w[i] + 2; x++)
				fputc(' ', f);
		}
		fputc('\n', f);
	}
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->rows * T_COLS; i++)
		free(t->cell[i]);
	free(t->cell);
}

/* --- the commands --------------------------------------------------------- */

static int run(const struct ctl_opts *o, struct filter *fl, int export)
{
	struct table t = { 0 };
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	char *path = NULL;
	FILE *f = stdout;
	size_t n = 0;
	int rc, ret = CTL_FAIL;

	if (ldb_open(o, &db, &path) != CTL_OK)
		return CTL_FAIL;
	st = prepare(db, path, fl);
	if (st == NULL)
		goto out;
	if (export && fl->output) {
		f = fopen(fl->output, "w");
		if (f == NULL) {
			fprintf(stderr, "wicketctl: %s: %s\n", fl->output,
				strerror(errno));
			f = stdout;
			goto out;
		}
	}
	if (fl->json)
		fputc('[', f);
	else if (export)
		csv_header(f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fl->json) {
			fputs(n ? ",\n" : "\n", f);
			json_row(f, st);
		} else if (export) {
			csv_row(f, st);
		} else if (table_add(&t, st) < 0) {
			fprintf(stderr, "wicketctl: out of memory\n");
			goto out;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "wicketctl: %s: %s\n", path, sqlite3_errmsg(db));
		goto out;
	}
	if (fl->json)
		fputs(n ? "\n]\n" : "]\n", f);
	else if (!export && n == 0)
		fputs("no events\n", f);
	else if (!export)
		table_print(f, &t, fl->kind == NULL || strcmp(fl->kind, "passage"));
	ret = CTL_OK;
out:
	if (f != stdout) {
		if (fclose(f) != 0 && ret == CTL_OK) {
			fprintf(stderr, "wicketctl: %s: %s\n", fl->output,
				strerror(errno));
			ret = CTL_FAIL;
		}
	} else if (fflush(f) != 0 || ferror(f)) {
		if (ret == CTL_OK)
			fprintf(stderr, "wicketctl: writing the output: %s\n",
				strerror(errno));
		ret = CTL_FAIL;
	}
	table_free(&t);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return ret;
}

int ctl_ledger(const struct ctl_opts *o, int argc, char **argv)
{
	struct filter fl = { 0 };
	int export, rc;

	if (argc < 2) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	if (strcmp(argv[1], "query") == 0) {
		export = 0;
	} else if (strcmp(argv[1], "export") == 0) {
		export = 1;
	} else {
		fprintf(stderr, "wicketctl: ledger: unknown command '%s' "
			"(query or export)\n", argv[1]);
		usage(stderr);
		return CTL_USAGE;
	}
	fl.json = o->json;
	rc = parse_args(argc - 1, argv + 1, export, &fl,
			export ? usage_export : usage_query);
	if (rc < 0)
		return CTL_OK;	/* --help */
	if (rc != CTL_OK)
		return rc;
	return run(o, &fl, export);
}
