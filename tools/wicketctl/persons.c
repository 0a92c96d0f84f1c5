/*
 * wicketctl persons: the registry (STATE_DIR/registry.db) from the
 * command line: list, add, remove, import, export.
 *
 * An import parses every file first and applies nothing unless all of
 * them are clean; then one reg_import() applies them together, in one
 * transaction, so a household in one file and its persons in another
 * resolve against each other.  wicketd notices the new version by itself
 * (it polls the database) and swaps its in-memory registry.
 *
 * add is an import too: the options become small CSV batches (a person,
 * maybe a household, the credentials) that go through reg_batch_parse()
 * and reg_import(), so a value is checked exactly as in a file and the
 * version is raised the same way.  Unlike an import row, add merges: the
 * person's fields that no option names are read from the registry and
 * written back unchanged.  remove has no import equivalent short of a
 * whole --replace, so it is reg_remove_persons().  list only reads, on a
 * read-only connection.
 *
 * Ownership: wicketd runs as the state directory's owner (user wicket),
 * wicketctl usually as root.  A database, -wal or -shm file that root
 * creates there would lock the daemon out of its own registry, and root
 * following paths in a directory another user controls invites symlink
 * tricks.  So before touching the database, root takes the directory's
 * owner and group for good (as_state_owner): everything it creates then
 * belongs to them.  Input files are read before that, as root.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ctl.h"
#include "json.h"
#include "fsutil.h"
#include "registry.h"

#define FILE_MAX ((size_t)1 << 30)	/* an import file, bytes */
#define OPT_MAX 64		/* values of one repeated option */
#define WIDTH_ROWS 1000		/* table rows the column widths are fit to */
#define SCHEMA_VERSION 1	/* of registry.db, as daemon/registry.c */

static const char *const roles[] = {
	"resident", "tenant", "visitor", "staff", "courier", NULL
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wicketctl persons list [--household ID] [--role ROLE] [--state STATE]\n"
		"       wicketctl persons add ID [--household ID [--unit UNIT]] [OPTION]...\n"
		"       wicketctl persons remove ID...\n"
		"       wicketctl persons import [--replace] [--format json|csv] FILE...\n"
		"       wicketctl persons export [--format json|csv] [--table TABLE]\n"
		"\n"
		"  list     the persons, their states and credentials\n"
		"  add      add a person or change one, with cards and QR passes\n"
		"  remove   remove persons and their credentials\n"
		"  import   read FILEs (households, persons, credentials; JSON or CSV,\n"
		"           by extension or --format; - is standard input) and apply\n"
		"           them together, or nothing when any has an error\n"
		"  export   write the registry to standard output\n"
		"\n"
		"'wicketctl persons COMMAND --help' describes a command; see also\n"
		"docs/registry.md and wicketctl(1).\n");
}

static void usage_list(FILE *f)
{
	fprintf(f,
		"usage: wicketctl persons list [--household ID] [--role ROLE]\n"
		"                              [--state STATE] [--json]\n"
		"\n"
		"One row per person, ordered by id: household, role, validity, a\n"
		"visitor's host, credentials (active, revoked), the states in force\n"
		"now, name.  Times are local; --json prints an array of objects with\n"
		"times in UTC (the import format).\n"
		"\n"
		"  --household ID   persons of that household\n"
		"  --role ROLE      resident, tenant, visitor, staff or courier\n"
		"  --state STATE    in force now: quarantine, observation, blocked or\n"
		"                   expired\n"
		"  --json           machine-readable output\n"
		"\n"
		"Each filter may be given several times: a person matches any of its\n"
		"values, and every filter given.\n");
}

static void usage_add(FILE *f)
{
	fprintf(f,
		"usage: wicketctl persons add ID [--household ID [--unit UNIT]] [--role ROLE]\n"
		"         [--name NAME] [--from TIME] [--until TIME] [--host ID]\n"
		"         [--quarantine-until TIME] [--observation-until TIME]\n"
		"         [--blocked yes|no] [--card VALUE]... [--qr VALUE]...\n"
		"         [--revoke VALUE]... [--json]\n"
		"\n"
		"Adds person ID, or changes it: the options given replace those\n"
		"fields, the others keep their values; an empty value (--until '')\n"
		"clears a field.  Checked like an import (docs/registry.md); the\n"
		"running wicketd uses the change within about a second.\n"
		"\n"
		"  --household ID   the person's household; it must be in the registry,\n"
		"                   or give --unit to add it (or change its unit)\n"
		"  --unit UNIT      the household's address, e.g. \"Building 3, 1204\"\n"
		"  --role ROLE      resident, tenant, visitor, staff or courier; a new\n"
		"                   person: visitor with --host, else resident\n"
		"  --name NAME      display name (kept in the database only)\n"
		"  --from, --until TIME\n"
		"                   the person's validity (a lease, a visit)\n"
		"  --host ID        a visitor's host household\n"
		"  --quarantine-until TIME, --observation-until TIME\n"
		"  --blocked yes|no refuse the person at the gate\n"
		"  --card VALUE     a card number the person holds (again: active)\n"
		"  --qr VALUE       a QR pass the person holds\n"
		"  --revoke VALUE   revoke one of the person's cards or passes\n"
		"\n"
		"TIME is YYYY-MM-DD (local; an until means the day's end) or\n"
		"YYYY-MM-DDTHH:MM[:SS] with Z or +HH:MM.  A new resident or tenant\n"
		"needs --household.  A card that belongs to someone else is refused.\n");
}

static void usage_remove(FILE *f)
{
	fprintf(f,
		"usage: wicketctl persons remove [--json] ID...\n"
		"\n"
		"Removes the persons and their cards and passes, all or none (an\n"
		"unknown ID: nothing removed, exit 1).  A removed card is unknown at\n"
		"the gate within about a second; the ledger keeps the person's id in\n"
		"past passages.  To stop one card and keep the person, use\n"
		"'persons add ID --revoke VALUE'; to keep everything but refuse the\n"
		"person, 'persons add ID --blocked yes'.\n");
}

static void usage_import(FILE *f)
{
	fprintf(f,
		"usage: wicketctl persons import [--replace] [--format json|csv] [--json]\n"
		"                                FILE...\n"
		"\n"
		"Adds and updates the households, persons and credentials the files\n"
		"name (by id; a row sets every field of its entry).  All files are\n"
		"checked first; an error in any of them is printed as\n"
		"FILE:LINE: FIELD: message and nothing is applied (exit 1).\n"
		"\n"
		"  --replace          also remove, from each table the files carry,\n"
		"                     every entry they do not name\n"
		"  --format FORMAT    json or csv for every FILE (default: by the\n"
		"                     extension, .json or .csv)\n"
		"  --json             print the result as JSON\n"
		"\n"
		"A CSV file holds one table, named by its header row: households\n"
		"(id,unit,landlord), persons (id,household,role,...) or credentials\n"
		"(value,kind,person,...).  See docs/registry.md.\n");
}

static void usage_export(FILE *f)
{
	fprintf(f,
		"usage: wicketctl persons export [--format json|csv] [--table TABLE]\n"
		"\n"
		"Writes the registry to standard output in the import format, times\n"
		"in UTC.  JSON (the default, also --json) holds every table, or only\n"
		"--table; CSV holds one table, so it needs --table households,\n"
		"persons or credentials.\n");
}

/* getopt_long's complaint, with the command's name instead of argv[0]. */
static int bad_option(const char *cmd, int ch, char **argv,
		      void (*use)(FILE *))
{
	if (ch == ':')
		fprintf(stderr, "wicketctl: persons %s: %s needs a value\n",
			cmd, argv[optind - 1]);
	else
		fprintf(stderr, "wicketctl: persons %s: unknown option '%s'\n",
			cmd, argv[optind - 1]);
	use(stderr);
	return CTL_USAGE;
}

static void print_error(void *ctx, const char *file, int line,
			const char *field, const char *msg)
{
	(void)ctx;
	if (file && line > 0)
		fprintf(stderr, "%s:%d: ", file, line);
	else if (file)
		fprintf(stderr, "%s: ", file);
	else
		fprintf(stderr, "wicketctl: ");
	if (field && *field)
		fprintf(stderr, "%s: ", field);
	fprintf(stderr, "%s\n", msg);
}

static int parse_format(const char *s, enum reg_format *fmt)
{
	if (strcmp(s, "json") == 0)
		*fmt = REG_JSON;
	else if (strcmp(s, "csv") == 0)
		*fmt = REG_CSV;
	else
		return -1;
	return 0;
}

static int format_of(const char *path, enum reg_format *fmt)
{
	const char *dot = strrchr(path, '.');

	if (dot && strcasecmp(dot, ".json") == 0)
		*fmt = REG_JSON;
	else if (dot && strcasecmp(dot, ".csv") == 0)
		*fmt = REG_CSV;
	else
		return -1;
	return 0;
}

static int one_of(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* --- the state directory --------------------------------------------------- */

struct where {
	char *dir;		/* the state directory */
	char *db;		/* STATE_DIR/registry.db */
	int as_owner;		/* root switched to the directory's owner */
};

static void where_free(struct where *w)
{
	free(w->dir);
	free(w->db);
}

/* Root takes the state directory's owner and group (see the top).  For
 * good: nothing after this needs root, and so nothing can misuse it. */
static int as_state_owner(struct where *w)
{
	struct stat st;
	gid_t gid;

	if (geteuid() != 0 || stat(w->dir, &st) != 0)
		return 0;	/* not root; no directory yet: root makes it */
	if (st.st_uid == 0 && st.st_gid == 0)
		return 0;
	gid = st.st_gid;
	if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    (st.st_uid != 0 &&
	     setresuid(st.st_uid, st.st_uid, st.st_uid) != 0)) {
		fprintf(stderr, "wicketctl: cannot take the owner of %s (uid "
			"%u, gid %u): %s\n", w->dir, (unsigned)st.st_uid,
			(unsigned)gid, strerror(errno));
		return -1;
	}
	w->as_owner = 1;
	return 0;
}

/* The paths; create: make the state directory if missing (an import
 * before wicketd's first start).  Then as_state_owner().  0, or -1 after
 * printing why. */
static int where_open(const struct ctl_opts *o, int create, struct where *w)
{
	size_t len;
	int rc;

	memset(w, 0, sizeof(*w));
	w->dir = ctl_state_dir(o);
	if (w->dir == NULL)
		return -1;
	if (create && (rc = fs_mkdirs(w->dir, 0750)) < 0) {
		fprintf(stderr, "wicketctl: cannot create %s: %s\n", w->dir,
			strerror(-rc));
		return -1;
	}
	len = strlen(w->dir) + sizeof("/" REG_FILE);
	w->db = malloc(len);
	if (w->db == NULL) {
		fprintf(stderr, "wicketctl: out of memory\n");
		return -1;
	}
	snprintf(w->db, len, "%s/%s", w->dir, REG_FILE);
	/* names and card numbers: for the daemon's group, not for all */
	umask(027);
	return as_state_owner(w);
}

/* After a failure to open or write: whose the files must be. */
static void owner_hint(const struct where *w)
{
	struct passwd *pw;

	if (!w->as_owner) {
		if (geteuid() != 0 && access(w->dir, W_OK) != 0)
			fprintf(stderr, "wicketctl: (changing the registry "
				"needs root or the owner of %s)\n", w->dir);
		return;
	}
	pw = getpwuid(geteuid());
	fprintf(stderr, "wicketctl: (run as root, wicketctl works in %s as "
		"its owner%s%s; the files there must belong to it)\n", w->dir,
		pw ? ", " : "", pw ? pw->pw_name : "");
}

/* registry.db must exist for list, export and remove. */
static int need_db(const struct where *w)
{
	if (access(w->db, F_OK) == 0)
		return 0;
	fprintf(stderr, "wicketctl: %s: %s (nothing imported yet, or another "
		"state directory?)\n", w->db, strerror(errno));
	owner_hint(w);
	return -1;
}

static int ro_try(const char *path, const char *query, sqlite3 **db)
{
	char *uri = ctl_file_uri(path, query);
	int rc;

	*db = NULL;
	if (uri == NULL)
		return SQLITE_NOMEM;
	rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
			     NULL);
	free(uri);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(*db, 5000);
		/* a WAL database without a usable -shm fails here */
		rc = sqlite3_exec(*db, "SELECT 1 FROM sqlite_master LIMIT 1",
				  NULL, NULL, NULL);
	}
	return rc;
}

/* A read-only connection.  A member of group wicket may not create the
 * -shm file; with wicketd stopped and no -wal file there is nothing
 * beyond the main file, which is then read as immutable.  *version: the
 * schema version, 0 for a file that has none yet (no tables).  0, or -1
 * after printing why. */
static int open_ro(const struct where *w, sqlite3 **out, int *version)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char wal[4200];
	int rc;

	*out = NULL;
	rc = ro_try(w->db, "?mode=ro", &db);
	snprintf(wal, sizeof(wal), "%s-wal", w->db);
	if (((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY) &&
	    access(wal, F_OK) != 0) {
		sqlite3_close(db);
		rc = ro_try(w->db, "?mode=ro&immutable=1", &db);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st,
					NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "wicketctl: %s: %s\n", w->db,
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		owner_hint(w);
		sqlite3_close(db);
		return -1;
	}
	if (*version > SCHEMA_VERSION) {
		fprintf(stderr, "wicketctl: %s: schema version %d is newer than "
			"this wicketctl's (%d); use the wicketctl that came with "
			"the running wicketd\n", w->db, *version, SCHEMA_VERSION);
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

static int db_open_rw(const struct where *w, struct reg_db **db)
{
	char err[512];

	if (reg_db_open(w->db, db, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "wicketctl: %s\n", err);
	owner_hint(w);
	return -1;
}

/* --- times ------------------------------------------------------------------ */

/* "2026-12-31T15:59:59Z", as an export writes it. */
static void utc_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "?");
}

/* Local, for people: the date alone where the import's date form would
 * give that second (a from at 00:00:00, an until at 23:59:59). */
static void local_time(char *buf, size_t len, int64_t t, int until)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL) {
		snprintf(buf, len, "?");
		return;
	}
	if (until ? tm.tm_hour == 23 && tm.tm_min == 59 && tm.tm_sec == 59 :
	    tm.tm_hour == 0 && tm.tm_min == 0 && tm.tm_sec == 0)
		snprintf(buf, len, "%04d-%02d-%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday);
	else if (tm.tm_sec == 0)
		snprintf(buf, len, "%04d-%02d-%02d %02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min);
	else
		snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* --- list ------------------------------------------------------------------- */

enum { ST_QUARANTINE = 1, ST_OBSERVATION = 2, ST_BLOCKED = 4,
       ST_EXPIRED = 8 };
static const char *const state_names[] = {
	"quarantine", "observation", "blocked", "expired", NULL
};

/* What the list query returns, in this order. */
enum { L_ID, L_HOUSEHOLD, L_ROLE, L_FROM, L_UNTIL, L_HOST, L_QUAR, L_OBS,
       L_BLOCKED, L_NAME, L_TOTAL, L_REVOKED, L_ACTIVE };

static const char list_sql[] =
	"SELECT p.id, h.id, p.role, p.valid_from, p.valid_until, o.id,"
	" p.quarantine_until, p.observation_until, p.blocked, p.name,"
	" (SELECT count(*) FROM credential c WHERE c.pid = p.pid),"
	" (SELECT count(*) FROM credential c WHERE c.pid = p.pid"
	"  AND c.revoked),"
	" (SELECT count(*) FROM credential c WHERE c.pid = p.pid"
	"  AND NOT c.revoked AND coalesce(c.valid_from <= ?1, 1)"
	"  AND coalesce(c.valid_until >= ?1, 1))"
	" FROM person p LEFT JOIN household h ON h.hid = p.hid"
	" LEFT JOIN household o ON o.hid = p.host WHERE 1";

struct list_filter {
	const char *household[OPT_MAX], *role[OPT_MAX];
	size_t nh, nr;
	int states;		/* ST_*: any of them */
	int json;
};

/* "p.role IN (?2,?3)": the values bound from *param on. */
static size_t sql_in(char *sql, size_t len, size_t o, const char *col,
		     size_t n, int *param)
{
	if (n == 0)
		return o;
	o += (size_t)snprintf(sql + o, o < len ? len - o : 0, " AND %s IN (",
			      col);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(sql + o, o < len ? len - o : 0, "%s?%d",
				      i ? "," : "", (*param)++);
	o += (size_t)snprintf(sql + o, o < len ? len - o : 0, ")");
	return o;
}

static int list_prepare(sqlite3 *db, const struct list_filter *f,
			int64_t now, sqlite3_stmt **st)
{
	static const char *const state_sql[] = {
		"p.quarantine_until >= ?1", "p.observation_until >= ?1",
		"p.blocked", "p.valid_until < ?1",
	};
	char sql[8192];
	size_t o;
	int param = 2, rc, first = 1;

	o = (size_t)snprintf(sql, sizeof(sql), "%s", list_sql);
	o = sql_in(sql, sizeof(sql), o, "h.id", f->nh, &param);
	o = sql_in(sql, sizeof(sql), o, "p.role", f->nr, &param);
	for (int i = 0; i < 4; i++) {
		if (!(f->states & (1 << i)))
			continue;
		o += (size_t)snprintf(sql + o, o < sizeof(sql) ?
				      sizeof(sql) - o : 0, "%s%s",
				      first ? " AND (" : " OR ", state_sql[i]);
		first = 0;
	}
	if (!first)
		o += (size_t)snprintf(sql + o, o < sizeof(sql) ?
				      sizeof(sql) - o : 0, ")");
	o += (size_t)snprintf(sql + o, o < sizeof(sql) ? sizeof(sql) - o : 0,
			      " ORDER BY p.id");
	if (o >= sizeof(sql))
		return SQLITE_TOOBIG;
	rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(*st, 1, now);
	param = 2;
	for (size_t i = 0; i < f->nh; i++)
		sqlite3_bind_text(*st, param++, f->household[i], -1,
				  SQLITE_STATIC);
	for (size_t i = 0; i < f->nr; i++)
		sqlite3_bind_text(*st, param++, f->role[i], -1,
				  SQLITE_STATIC);
	return SQLITE_OK;
}

static const char *col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s ? (const char *)s : NULL;
}

static int col_null(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL;
}

/* The states in force at now, as bits; quarantine and observation in
 * force up to and including their last second, as in the registry. */
static int row_states(sqlite3_stmt *st, int64_t now, int *not_yet)
{
	int s = 0;

	if (!col_null(st, L_QUAR) && sqlite3_column_int64(st, L_QUAR) >= now)
		s |= ST_QUARANTINE;
	if (!col_null(st, L_OBS) && sqlite3_column_int64(st, L_OBS) >= now)
		s |= ST_OBSERVATION;
	if (sqlite3_column_int(st, L_BLOCKED))
		s |= ST_BLOCKED;
	if (!col_null(st, L_UNTIL) && sqlite3_column_int64(st, L_UNTIL) < now)
		s |= ST_EXPIRED;
	*not_yet = !col_null(st, L_FROM) &&
		   sqlite3_column_int64(st, L_FROM) > now;
	return s;
}


static void json_time_col(FILE *out, sqlite3_stmt *st, int col)
{
	char tb[32];

	if (col_null(st, col)) {
		fputs("null", out);
		return;
	}
	utc_time(tb, sizeof(tb), sqlite3_column_int64(st, col));
	fprintf(out, "\"%s\"", tb);
}

static void list_json_row(FILE *out, sqlite3_stmt *st, int64_t now,
			  int first)
{
	int not_yet, s = row_states(st, now, &not_yet), n = 0;
	int64_t total = (int64_t)sqlite3_column_int64(st, L_TOTAL);

	fputs(first ? "[\n  {\"id\": " : ",\n  {\"id\": ", out);
	json_fput_str(out, col_text(st, L_ID));
	fputs(", \"household\": ", out);
	json_fput_str(out, col_text(st, L_HOUSEHOLD));
	fputs(", \"role\": ", out);
	json_fput_str(out, col_text(st, L_ROLE));
	fputs(", \"name\": ", out);
	json_fput_str(out, col_text(st, L_NAME));
	fputs(", \"valid_from\": ", out);
	json_time_col(out, st, L_FROM);
	fputs(", \"valid_until\": ", out);
	json_time_col(out, st, L_UNTIL);
	fputs(", \"host\": ", out);
	json_fput_str(out, col_text(st, L_HOST));
	fputs(", \"quarantine_until\": ", out);
	json_time_col(out, st, L_QUAR);
	fputs(", \"observation_until\": ", out);
	json_time_col(out, st, L_OBS);
	fprintf(out, ", \"blocked\": %s, \"states\": [",
		sqlite3_column_int(st, L_BLOCKED) ? "true" : "false");
	for (int i = 0; state_names[i]; i++)
		if (s & (1 << i))
			fprintf(out, "%s\"%s\"", n++ ? ", " : "",
				state_names[i]);
	if (not_yet)
		fprintf(out, "%s\"not_yet_valid\"", n ? ", " : "");
	fprintf(out, "], \"credentials\": {\"total\": %" PRId64 ", \"active\": "
		"%" PRId64 ", \"revoked\": %" PRId64 "}}", total,
		(int64_t)sqlite3_column_int64(st, L_ACTIVE),
		(int64_t)sqlite3_column_int64(st, L_REVOKED));
}

/* The table: every cell text, the widths fit to the first rows. */
enum { TC_ID, TC_HOUSEHOLD, TC_ROLE, TC_FROM, TC_UNTIL, TC_HOST, TC_ACTIVE,
       TC_REVOKED, TC_STATE, TC_NAME, TC_N };
static const char *const tc_head[TC_N] = {
	"ID", "HOUSEHOLD", "ROLE", "VALID FROM", "VALID UNTIL", "HOST",
	"ACTIVE", "REVOKED", "STATE", "NAME"
};

struct trow {
	char *cell[TC_N];
};

static void trow_free(struct trow *r)
{
	for (int i = 0; i < TC_N; i++)
		free(r->cell[i]);
}

static int trow_fill(struct trow *r, sqlite3_stmt *st, int64_t now)
{
	char buf[TC_N][256], tb[32];
	int not_yet, s = row_states(st, now, &not_yet);
	size_t o = 0;

	snprintf(buf[TC_ID], 256, "%s", col_text(st, L_ID));
	snprintf(buf[TC_HOUSEHOLD], 256, "%s", col_null(st, L_HOUSEHOLD) ?
		 "-" : col_text(st, L_HOUSEHOLD));
	snprintf(buf[TC_ROLE], 256, "%s", col_text(st, L_ROLE));
	if (col_null(st, L_FROM))
		snprintf(buf[TC_FROM], 256, "-");
	else
		local_time(buf[TC_FROM], 256, sqlite3_column_int64(st, L_FROM),
			   0);
	if (col_null(st, L_UNTIL))
		snprintf(buf[TC_UNTIL], 256, "-");
	else
		local_time(buf[TC_UNTIL], 256,
			   sqlite3_column_int64(st, L_UNTIL), 1);
	snprintf(buf[TC_HOST], 256, "%s", col_null(st, L_HOST) ? "-" :
		 col_text(st, L_HOST));
	snprintf(buf[TC_ACTIVE], 256, "%" PRId64,
		 (int64_t)sqlite3_column_int64(st, L_ACTIVE));
	snprintf(buf[TC_REVOKED], 256, "%" PRId64,
		 (int64_t)sqlite3_column_int64(st, L_REVOKED));
	buf[TC_STATE][0] = '\0';
	if (s & ST_QUARANTINE) {
		local_time(tb, sizeof(tb), sqlite3_column_int64(st, L_QUAR),
			   1);
		o += (size_t)snprintf(buf[TC_STATE] + o, 256 - o,
				      "quarantine until %s", tb);
	}
	if (s & ST_OBSERVATION && o < 256) {
		local_time(tb, sizeof(tb), sqlite3_column_int64(st, L_OBS), 1);
		o += (size_t)snprintf(buf[TC_STATE] + o, 256 - o,
				      "%sobservation until %s", o ? ", " : "",
				      tb);
	}
	if (s & ST_BLOCKED && o < 256)
		o += (size_t)snprintf(buf[TC_STATE] + o, 256 - o, "%sblocked",
				      o ? ", " : "");
	if (s & ST_EXPIRED && o < 256)
		o += (size_t)snprintf(buf[TC_STATE] + o, 256 - o, "%sexpired",
				      o ? ", " : "");
	if (not_yet && o < 256)
		o += (size_t)snprintf(buf[TC_STATE] + o, 256 - o,
				      "%snot yet valid", o ? ", " : "");
	if (o == 0)
		snprintf(buf[TC_STATE], 256, "-");
	/* last: free text, wide characters; nothing after it to align */
	snprintf(buf[TC_NAME], 256, "%s", col_null(st, L_NAME) ? "" :
		 col_text(st, L_NAME));
	for (int i = 0; i < TC_N; i++) {
		r->cell[i] = strdup(buf[i]);
		if (r->cell[i] == NULL)
			return -ENOMEM;
	}
	return 0;
}

static void trow_print(FILE *out, char *const *cell, const int *w)
{
	for (int i = 0; i < TC_NAME; i++) {
		/* numbers to the right; no blanks at the end of a line */
		if (i == TC_ACTIVE || i == TC_REVOKED)
			fprintf(out, "%*s  ", w[i], cell[i]);
		else if (i < TC_NAME - 1 || *cell[TC_NAME])
			fprintf(out, "%-*s  ", w[i], cell[i]);
		else
			fputs(cell[i], out);
	}
	fprintf(out, "%s\n", cell[TC_NAME]);
}

static int list_table(sqlite3_stmt *st, int64_t now, FILE *out)
{
	struct trow *rows = calloc(WIDTH_ROWS, sizeof(*rows));
	int w[TC_N], rc = SQLITE_OK;
	size_t n = 0;

	if (rows == NULL)
		return SQLITE_NOMEM;
	for (int i = 0; i < TC_N; i++)
		w[i] = (int)strlen(tc_head[i]);
	/* the first rows set the widths; longer ones later stick out */
	while (n < WIDTH_ROWS && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (trow_fill(&rows[n], st, now) != 0) {
			rc = SQLITE_NOMEM;
			n++;
			goto out;
		}
		for (int i = 0; i < TC_N; i++)
			if ((int)strlen(rows[n].cell[i]) > w[i])
				w[i] = (int)strlen(rows[n].cell[i]);
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto out;
	if (n == 0) {
		fprintf(out, "no persons\n");
		goto out;
	}
	trow_print(out, (char *const *)tc_head, w);
	for (size_t i = 0; i < n; i++)
		trow_print(out, rows[i].cell, w);
	while (rc == SQLITE_ROW && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct trow r = { { NULL } };

		if (trow_fill(&r, st, now) != 0) {
			trow_free(&r);
			rc = SQLITE_NOMEM;
			goto out;
		}
		trow_print(out, r.cell, w);
		trow_free(&r);
	}
out:
	for (size_t i = 0; i < n; i++)
		trow_free(&rows[i]);
	free(rows);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static int list_json(sqlite3_stmt *st, int64_t now, FILE *out)
{
	int rc, first = 1;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		list_json_row(out, st, now, first);
		first = 0;
	}
	fputs(first ? "[]\n" : "\n]\n", out);
	return rc;
}

static int add_value(const char **list, size_t *n, const char *opt,
		     const char *v)
{
	if (*n == OPT_MAX) {
		fprintf(stderr, "wicketctl: %s: at most %d values\n", opt,
			OPT_MAX);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

static int cmd_list(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "household", required_argument, NULL, 'H' },
		{ "role", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct list_filter f = { .json = o->json };
	struct where w;
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int ch, rc, version, ret = CTL_FAIL, i;
	int64_t now = (int64_t)time(NULL);

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			if (add_value(f.household, &f.nh, "--household",
				      optarg) != 0)
				return CTL_USAGE;
			break;
		case 'r':
			if (one_of(roles, optarg) < 0) {
				fprintf(stderr, "wicketctl: --role: '%s' is not "
					"resident, tenant, visitor, staff or "
					"courier\n", optarg);
				return CTL_USAGE;
			}
			if (add_value(f.role, &f.nr, "--role", optarg) != 0)
				return CTL_USAGE;
			break;
		case 's':
			i = one_of(state_names, optarg);
			if (i < 0) {
				fprintf(stderr, "wicketctl: --state: '%s' is not "
					"quarantine, observation, blocked or "
					"expired\n", optarg);
				return CTL_USAGE;
			}
			f.states |= 1 << i;
			break;
		case 'j':
			f.json = 1;
			break;
		case 'h':
			usage_list(stdout);
			return CTL_OK;
		default:
			return bad_option("list", ch, argv, usage_list);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wicketctl: persons list: unexpected '%s'\n",
			argv[optind]);
		usage_list(stderr);
		return CTL_USAGE;
	}
	if (where_open(o, 0, &w) != 0 || need_db(&w) != 0 ||
	    open_ro(&w, &db, &version) != 0)
		goto out;
	if (version == 0) {
		/* created, not yet given its tables: an empty registry */
		fputs(f.json ? "[]\n" : "no persons\n", stdout);
		ret = CTL_OK;
		goto out;
	}
	rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = list_prepare(db, &f, now, &st);
	if (rc == SQLITE_OK)
		rc = f.json ? list_json(st, now, stdout) :
		     list_table(st, now, stdout);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "wicketctl: %s: %s\n", w.db,
			rc == SQLITE_NOMEM ? "out of memory" :
			sqlite3_errmsg(db));
		goto out;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "wicketctl: standard output: %s\n",
			strerror(errno));
		goto out;
	}
	ret = CTL_OK;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	where_free(&w);
	return ret;
}

/* --- add ------------------------------------------------------------------- */

/* The person's fields as CSV columns, and the option that sets each. */
enum { PF_HOUSEHOLD, PF_ROLE, PF_FROM, PF_UNTIL, PF_HOST, PF_QUAR, PF_OBS,
       PF_BLOCKED, PF_NAME, PF_N };
static const struct {
	const char *column, *option;
} pf[PF_N] = {
	[PF_HOUSEHOLD] = { "household", "--household" },
	[PF_ROLE] = { "role", "--role" },
	[PF_FROM] = { "valid_from", "--from" },
	[PF_UNTIL] = { "valid_until", "--until" },
	[PF_HOST] = { "host", "--host" },
	[PF_QUAR] = { "quarantine_until", "--quarantine-until" },
	[PF_OBS] = { "observation_until", "--observation-until" },
	[PF_BLOCKED] = { "blocked", "--blocked" },
	[PF_NAME] = { "name", "--name" },
};

enum { CK_CARD, CK_QR, CK_REVOKE };
static const char *const ck_option[] = { "--card", "--qr", "--revoke" };

struct cred {
	const char *value;
	int how;		/* CK_* */
	/* in the registry already: */
	int exists;
	char *owner, *kind, *from, *until;
};

struct add {
	const char *id;
	const char *given[PF_N];	/* by an option; "" clears */
	char *old[PF_N];		/* in the registry (NULL: not set) */
	const char *val[PF_N];		/* what the row gets */
	int exists;			/* the person */
	const char *unit;		/* --unit */
	int household_exists;
	char *landlord;			/* of that household */
	struct cred cred[3 * OPT_MAX];
	size_t ncred;
	int64_t version;		/* when read */
	int errors;			/* reported by add_error */
};

static void add_free(struct add *a)
{
	for (int i = 0; i < PF_N; i++)
		free(a->old[i]);
	free(a->landlord);
	for (size_t i = 0; i < a->ncred; i++) {
		free(a->cred[i].owner);
		free(a->cred[i].kind);
		free(a->cred[i].from);
		free(a->cred[i].until);
	}
}

/* A column's text, times as the import writes them; NULL when NULL. */
static int dup_col(sqlite3_stmt *st, int col, int is_time, char **out)
{
	char tb[32];
	const char *s;

	*out = NULL;
	if (col_null(st, col))
		return 0;
	if (is_time) {
		utc_time(tb, sizeof(tb), sqlite3_column_int64(st, col));
		s = tb;
	} else {
		s = col_text(st, col);
	}
	*out = strdup(s ? s : "");
	return *out ? 0 : -ENOMEM;
}

/* What the registry holds now about the person, the household and the
 * credentials the options name. */
static int add_read(sqlite3 *db, struct add *a)
{
	static const char person_sql[] =
		"SELECT h.id, p.role, p.valid_from, p.valid_until, o.id,"
		" p.quarantine_until, p.observation_until,"
		" CASE WHEN p.blocked THEN 'yes' ELSE 'no' END, p.name"
		" FROM person p LEFT JOIN household h ON h.hid = p.hid"
		" LEFT JOIN household o ON o.hid = p.host WHERE p.id = ?1";
	static const char household_sql[] =
		"SELECT l.id FROM household h"
		" LEFT JOIN household l ON l.hid = h.landlord WHERE h.id = ?1";
	static const char cred_sql[] =
		"SELECT p.id, c.kind, c.valid_from, c.valid_until"
		" FROM credential c JOIN person p ON p.pid = c.pid"
		" WHERE c.value = ?1";
	static const int is_time[PF_N] = {
		[PF_FROM] = 1, [PF_UNTIL] = 1, [PF_QUAR] = 1, [PF_OBS] = 1,
	};
	sqlite3_stmt *st = NULL;
	const char *hh;
	int rc;

	/* one snapshot: the version read is the version of what is read */
	rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE "
					"key = 'version'", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		a->version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return rc;
	rc = sqlite3_prepare_v2(db, person_sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		a->exists = 1;
		for (int i = 0; i < PF_N; i++)
			if (dup_col(st, i, is_time[i], &a->old[i]) != 0)
				rc = SQLITE_NOMEM;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return rc;
	hh = a->given[PF_HOUSEHOLD];
	if (hh && *hh) {
		rc = sqlite3_prepare_v2(db, household_sql, -1, &st, NULL);
		if (rc != SQLITE_OK)
			return rc;
		sqlite3_bind_text(st, 1, hh, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			a->household_exists = 1;
			if (dup_col(st, 0, 0, &a->landlord) != 0)
				rc = SQLITE_NOMEM;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return rc;
	}
	rc = sqlite3_prepare_v2(db, cred_sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	for (size_t i = 0; i < a->ncred && rc == SQLITE_OK; i++) {
		struct cred *c = &a->cred[i];

		sqlite3_bind_text(st, 1, c->value, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			c->exists = 1;
			if (dup_col(st, 0, 0, &c->owner) != 0 ||
			    dup_col(st, 1, 0, &c->kind) != 0 ||
			    dup_col(st, 2, 1, &c->from) != 0 ||
			    dup_col(st, 3, 1, &c->until) != 0)
				rc = SQLITE_NOMEM;
		}
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* One CSV field, always quoted (the parser undoubles quotes). */
static int csv_put(FILE *f, const char *s, int last)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
	fputs(last ? "\n" : ",", f);
	return ferror(f) ? -EIO : 0;
}

/* Batch names, so that add_error knows which batch complains. */
#define B_HOUSEHOLD "household"
#define B_PERSON "person"
#define B_CREDENTIALS "credentials"

/* reg_batch_parse / reg_import report in terms of the CSV we wrote:
 * say it in terms of the options instead. */
static void add_error(void *ctx, const char *file, int line,
		      const char *field, const char *msg)
{
	struct add *a = ctx;

	a->errors++;
	if (file && strcmp(file, B_PERSON) == 0 && field) {
		if (strcmp(field, "id") == 0) {
			fprintf(stderr, "wicketctl: ID '%s': %s\n", a->id, msg);
			return;
		}
		for (int i = 0; i < PF_N; i++) {
			if (strcmp(field, pf[i].column) != 0)
				continue;
			if (a->given[i])
				fprintf(stderr, "wicketctl: %s: %s\n",
					pf[i].option, msg);
			else
				fprintf(stderr, "wicketctl: %s (kept from "
					"the registry): %s; give %s too\n",
					field, msg, pf[i].option);
			return;
		}
	}
	if (file && strcmp(file, B_HOUSEHOLD) == 0 && field) {
		fprintf(stderr, "wicketctl: %s: %s\n", strcmp(field, "unit") ?
			"--household" : "--unit", msg);
		return;
	}
	if (file && strcmp(file, B_CREDENTIALS) == 0 && line >= 2 &&
	    (size_t)(line - 2) < a->ncred) {
		const struct cred *c = &a->cred[line - 2];

		fprintf(stderr, "wicketctl: %s %s: %s%s%s\n",
			ck_option[c->how], c->value, field ? field : "",
			field ? ": " : "", msg);
		return;
	}
	print_error(NULL, file, line, field, msg);
}

/* Parse one CSV batch we wrote; errors to add_error. */
static int add_parse(struct add *a, const char *name, char *text,
		     size_t len, struct reg_batch **b)
{
	int rc = reg_batch_parse(text, len, name, REG_CSV, b, add_error, a);

	if (rc < 0) {
		fprintf(stderr, "wicketctl: %s\n", strerror(-rc));
		a->errors++;
	}
	return rc;
}

/* The batches: [household,] person, [credentials].  Returns how many,
 * or -1 after reporting (a->errors counts what the parser found). */
static int add_batches(struct add *a, struct reg_batch **b)
{
	char *text = NULL;
	size_t len = 0;
	int n = 0;
	FILE *f;

	if (a->given[PF_HOUSEHOLD] && *a->given[PF_HOUSEHOLD] && a->unit) {
		f = open_memstream(&text, &len);
		if (f == NULL)
			return -1;
		fputs("id,unit,landlord\n", f);
		csv_put(f, a->given[PF_HOUSEHOLD], 0);
		csv_put(f, a->unit, 0);
		csv_put(f, a->landlord, 1);
		if (fclose(f) != 0 || add_parse(a, B_HOUSEHOLD, text, len,
						&b[n]) != 0)
			goto fail;
		n++;
		free(text);
		text = NULL;
	}
	f = open_memstream(&text, &len);
	if (f == NULL)
		goto fail;
	fputs("id", f);
	for (int i = 0; i < PF_N; i++)
		fprintf(f, ",%s", pf[i].column);
	fputc('\n', f);
	csv_put(f, a->id, 0);
	for (int i = 0; i < PF_N; i++)
		csv_put(f, a->val[i], i == PF_N - 1);
	if (fclose(f) != 0 || add_parse(a, B_PERSON, text, len, &b[n]) != 0)
		goto fail;
	n++;
	free(text);
	text = NULL;
	if (a->ncred == 0)
		return n;
	f = open_memstream(&text, &len);
	if (f == NULL)
		goto fail;
	fputs("value,kind,person,valid_from,valid_until,revoked\n", f);
	for (size_t i = 0; i < a->ncred; i++) {
		const struct cred *c = &a->cred[i];

		/* an existing card keeps its own validity; --card makes it
		 * active again */
		csv_put(f, c->value, 0);
		csv_put(f, c->how == CK_REVOKE ? (c->kind ? c->kind : "card") :
			c->how == CK_QR ? "qr" : "card", 0);
		csv_put(f, a->id, 0);
		csv_put(f, c->from, 0);
		csv_put(f, c->until, 0);
		csv_put(f, c->how == CK_REVOKE ? "yes" : "no", 1);
	}
	if (fclose(f) != 0 || add_parse(a, B_CREDENTIALS, text, len,
					&b[n]) != 0)
		goto fail;
	n++;
	free(text);
	return n;
fail:
	free(text);
	if (a->errors == 0)
		fprintf(stderr, "wicketctl: out of memory\n");
	for (int i = 0; i < n; i++)
		reg_batch_free(b[i]);
	return -1;
}

/* What the registry holds that the options conflict with: exit 1. */
static int add_conflicts(struct add *a)
{
	const char *hh = a->given[PF_HOUSEHOLD];
	int bad = 0;

	if (hh && *hh && !a->household_exists && a->unit == NULL) {
		fprintf(stderr, "wicketctl: --household: no household \"%s\" in "
			"the registry; give --unit \"ADDRESS\" to add it, or "
			"import the households first\n", hh);
		bad++;
	}
	for (size_t i = 0; i < a->ncred; i++) {
		const struct cred *c = &a->cred[i];

		if (c->exists && strcmp(c->owner, a->id) != 0) {
			fprintf(stderr, "wicketctl: %s %s: belongs to person "
				"\"%s\"; a credential has one holder (to move "
				"it, import it with its new person)\n",
				ck_option[c->how], c->value, c->owner);
			bad++;
		} else if (c->how == CK_REVOKE && !c->exists) {
			fprintf(stderr, "wicketctl: --revoke %s: person \"%s\" "
				"holds no such card or pass\n", c->value,
				a->id);
			bad++;
		}
	}
	return bad;
}

static int add_cred(struct add *a, int how, const char *v)
{
	for (size_t i = 0; i < a->ncred; i++) {
		if (strcmp(a->cred[i].value, v) == 0) {
			fprintf(stderr, "wicketctl: %s %s: also given as %s\n",
				ck_option[how], v, ck_option[a->cred[i].how]);
			return -1;
		}
	}
	if (a->ncred == sizeof(a->cred) / sizeof(a->cred[0])) {
		fprintf(stderr, "wicketctl: %s: at most %zu cards and passes "
			"at once\n", ck_option[how],
			sizeof(a->cred) / sizeof(a->cred[0]));
		return -1;
	}
	a->cred[a->ncred++] = (struct cred){ .value = v, .how = how };
	return 0;
}

static int parse_yesno(const char *s)
{
	static const char *const yes[] = { "yes", "true", "1", NULL };
	static const char *const no[] = { "no", "false", "0", NULL };

	for (int i = 0; yes[i]; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int cmd_add(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "household", required_argument, NULL, 0x100 + PF_HOUSEHOLD },
		{ "role", required_argument, NULL, 0x100 + PF_ROLE },
		{ "from", required_argument, NULL, 0x100 + PF_FROM },
		{ "until", required_argument, NULL, 0x100 + PF_UNTIL },
		{ "host", required_argument, NULL, 0x100 + PF_HOST },
		{ "quarantine-until", required_argument, NULL,
		  0x100 + PF_QUAR },
		{ "observation-until", required_argument, NULL,
		  0x100 + PF_OBS },
		{ "blocked", required_argument, NULL, 0x100 + PF_BLOCKED },
		{ "name", required_argument, NULL, 0x100 + PF_NAME },
		{ "unit", required_argument, NULL, 'u' },
		{ "card", required_argument, NULL, 0x200 + CK_CARD },
		{ "qr", required_argument, NULL, 0x200 + CK_QR },
		{ "revoke", required_argument, NULL, 0x200 + CK_REVOKE },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct add *a = calloc(1, sizeof(*a));
	struct reg_batch *b[3] = { NULL };
	struct reg_db *rdb = NULL;
	struct where w = { 0 };
	sqlite3 *db = NULL;
	int ch, json = o->json, ret = CTL_FAIL, nb = 0, version, rc;
	int household_new = 0;

	if (a == NULL) {
		fprintf(stderr, "wicketctl: out of memory\n");
		return CTL_FAIL;
	}
	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (ch >= 0x100 && ch < 0x100 + PF_N) {
			int i = ch - 0x100;

			if (a->given[i]) {
				fprintf(stderr, "wicketctl: %s given twice\n",
					pf[i].option);
				ret = CTL_USAGE;
				goto out;
			}
			a->given[i] = optarg;
			continue;
		}
		switch (ch) {
		case 0x200 + CK_CARD:
		case 0x200 + CK_QR:
		case 0x200 + CK_REVOKE:
			if (add_cred(a, ch - 0x200, optarg) != 0) {
				ret = CTL_USAGE;
				goto out;
			}
			break;
		case 'u':
			a->unit = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage_add(stdout);
			ret = CTL_OK;
			goto out;
		default:
			ret = bad_option("add", ch, argv, usage_add);
			goto out;
		}
	}
	ret = CTL_USAGE;
	if (optind >= argc) {
		fprintf(stderr, "wicketctl: persons add: no ID given\n");
		usage_add(stderr);
		goto out;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "wicketctl: persons add: one ID at a time "
			"('%s' is one too many)\n", argv[optind + 1]);
		goto out;
	}
	a->id = argv[optind];
	/* the checks the registry's parser cannot make from a row */
	if (a->given[PF_ROLE] && one_of(roles, a->given[PF_ROLE]) < 0) {
		fprintf(stderr, "wicketctl: --role: '%s' is not resident, "
			"tenant, visitor, staff or courier\n",
			a->given[PF_ROLE]);
		goto out;
	}
	if (a->given[PF_BLOCKED] && parse_yesno(a->given[PF_BLOCKED]) < 0) {
		fprintf(stderr, "wicketctl: --blocked: '%s' is not yes or no\n",
			a->given[PF_BLOCKED]);
		goto out;
	}
	if (a->unit && (a->given[PF_HOUSEHOLD] == NULL ||
			*a->given[PF_HOUSEHOLD] == '\0')) {
		fprintf(stderr, "wicketctl: --unit: needs --household (it "
			"is that household's address)\n");
		goto out;
	}
	ret = CTL_FAIL;
	if (where_open(o, 0, &w) != 0)
		goto out;
	if (access(w.db, F_OK) == 0) {
		if (open_ro(&w, &db, &version) != 0)
			goto out;
		rc = version ? add_read(db, a) : SQLITE_OK;
		if (rc != SQLITE_OK) {
			fprintf(stderr, "wicketctl: %s: %s\n", w.db,
				rc == SQLITE_NOMEM ? "out of memory" :
				sqlite3_errmsg(db));
			goto out;
		}
		sqlite3_close(db);
		db = NULL;
	}
	/* merge: given over the registry's; a new person's role follows
	 * from --host */
	for (int i = 0; i < PF_N; i++)
		a->val[i] = a->given[i] ? a->given[i] : a->old[i];
	if (a->val[PF_ROLE] == NULL)
		a->val[PF_ROLE] = a->val[PF_HOST] && *a->val[PF_HOST] ?
				  "visitor" : "resident";
	if (!a->exists && (a->val[PF_HOUSEHOLD] == NULL ||
			   *a->val[PF_HOUSEHOLD] == '\0') &&
	    (strcmp(a->val[PF_ROLE], "resident") == 0 ||
	     strcmp(a->val[PF_ROLE], "tenant") == 0)) {
		fprintf(stderr, "wicketctl: --household: a new %s needs one "
			"(or give --role visitor, staff or courier)\n",
			a->val[PF_ROLE]);
		ret = CTL_USAGE;
		goto out;
	}
	nb = add_batches(a, b);
	if (nb < 0) {
		/* a value the parser refused: bad usage */
		ret = a->errors ? CTL_USAGE : CTL_FAIL;
		nb = 0;
		goto out;
	}
	if (add_conflicts(a) > 0)
		goto out;
	household_new = a->unit && !a->household_exists;
	if (access(w.dir, F_OK) != 0 && (rc = fs_mkdirs(w.dir, 0750)) < 0) {
		fprintf(stderr, "wicketctl: cannot create %s: %s\n", w.dir,
			strerror(-rc));
		goto out;
	}
	if (db_open_rw(&w, &rdb) != 0)
		goto out;
	if (reg_db_version(rdb) != a->version) {
		/* what was merged may be stale */
		fprintf(stderr, "wicketctl: the registry changed while "
			"wicketctl read it (version %" PRId64 ", now %" PRId64
			"); nothing changed, run the command again\n",
			a->version, reg_db_version(rdb));
		goto out;
	}
	rc = reg_import(rdb, b, (size_t)nb, 0, add_error, a);
	if (rc != 0) {
		if (rc < 0)
			owner_hint(&w);
		fprintf(stderr, "wicketctl: nothing changed\n");
		goto out;
	}
	if (json) {
		printf("{\"person\":");
		json_fput_str(stdout, a->id);
		printf(",\"added\":%s,\"household\":", a->exists ? "false" :
		       "true");
		json_fput_str(stdout, a->val[PF_HOUSEHOLD] &&
			 *a->val[PF_HOUSEHOLD] ? a->val[PF_HOUSEHOLD] : NULL);
		printf(",\"household_added\":%s,\"credentials\":%zu,"
		       "\"version\":%" PRId64 "}\n",
		       household_new ? "true" : "false", a->ncred,
		       reg_db_version(rdb));
	} else {
		if (household_new)
			printf("added household %s (%s)\n",
			       a->given[PF_HOUSEHOLD], a->unit);
		printf("%s person %s", a->exists ? "updated" : "added", a->id);
		if (a->ncred)
			printf(" (%zu card%s or pass%s)", a->ncred,
			       a->ncred == 1 ? "" : "s",
			       a->ncred == 1 ? "" : "es");
		printf("; registry version %" PRId64 "\n",
		       reg_db_version(rdb));
	}
	ret = CTL_OK;
out:
	sqlite3_close(db);
	reg_db_close(rdb);
	for (int i = 0; i < nb; i++)
		reg_batch_free(b[i]);
	add_free(a);
	free(a);
	where_free(&w);
	return ret;
}

/* --- remove ---------------------------------------------------------------- */

static int cmd_remove(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char **ids = NULL;
	struct reg_db *db = NULL;
	struct where w = { 0 };
	size_t n = 0, ncred = 0;
	int ch, json = o->json, ret = CTL_FAIL, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'h':
			usage_remove(stdout);
			return CTL_OK;
		default:
			return bad_option("remove", ch, argv, usage_remove);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "wicketctl: persons remove: no ID given\n");
		usage_remove(stderr);
		return CTL_USAGE;
	}
	ids = calloc((size_t)(argc - optind), sizeof(*ids));
	if (ids == NULL) {
		fprintf(stderr, "wicketctl: out of memory\n");
		return CTL_FAIL;
	}
	/* each once: the registry would find a second one gone */
	for (int i = optind; i < argc; i++) {
		size_t k;

		for (k = 0; k < n && strcmp(ids[k], argv[i]) != 0; k++)
			;
		if (k == n)
			ids[n++] = argv[i];
	}
	if (where_open(o, 0, &w) != 0 || need_db(&w) != 0 ||
	    db_open_rw(&w, &db) != 0)
		goto out;
	rc = reg_remove_persons(db, ids, n, &ncred, print_error, NULL);
	if (rc != 0) {
		if (rc < 0)
			owner_hint(&w);
		fprintf(stderr, "wicketctl: nothing removed\n");
		goto out;
	}
	if (json) {
		printf("{\"removed\":[");
		for (size_t i = 0; i < n; i++) {
			if (i)
				putchar(',');
			json_fput_str(stdout, ids[i]);
		}
		printf("],\"credentials\":%zu,\"version\":%" PRId64 "}\n",
		       ncred, reg_db_version(db));
	} else {
		if (n == 1)
			printf("removed person %s", ids[0]);
		else
			printf("removed %zu persons", n);
		printf(" and %zu card%s or pass%s; registry version %" PRId64
		       "\n", ncred, ncred == 1 ? "" : "s",
		       ncred == 1 ? "" : "es", reg_db_version(db));
	}
	ret = CTL_OK;
out:
	reg_db_close(db);
	free(ids);
	where_free(&w);
	return ret;
}

/* --- import and export ----------------------------------------------------- */

static int cmd_import(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replace", no_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct reg_batch **batches = NULL;
	enum reg_format forced = REG_JSON;
	int have_format = 0, replace = 0, ch, nfiles, errors = 0;
	int ret = CTL_FAIL, json = o->json;
	size_t nh = 0, np = 0, nc = 0;
	struct reg_db *db = NULL;
	struct where w = { 0 };

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			replace = 1;
			break;
		case 'f':
			if (parse_format(optarg, &forced) != 0) {
				fprintf(stderr, "wicketctl: --format: '%s' is "
					"not json or csv\n", optarg);
				return CTL_USAGE;
			}
			have_format = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage_import(stdout);
			return CTL_OK;
		default:
			return bad_option("import", ch, argv, usage_import);
		}
	}
	nfiles = argc - optind;
	if (nfiles < 1) {
		fprintf(stderr, "wicketctl: persons import: no FILE given\n");
		usage_import(stderr);
		return CTL_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		enum reg_format fmt = forced;

		if (!have_format && format_of(argv[i], &fmt) != 0) {
			fprintf(stderr, "wicketctl: %s: cannot tell the format "
				"from the name (.json or .csv); give --format\n",
				argv[i]);
			return CTL_USAGE;
		}
	}
	batches = calloc((size_t)nfiles, sizeof(*batches));
	if (batches == NULL) {
		fprintf(stderr, "wicketctl: out of memory\n");
		return CTL_FAIL;
	}
	/* read as the caller (root reads what root may), before
	 * where_open() gives root up */
	for (int i = 0; i < nfiles; i++) {
		const char *file = argv[optind + i];
		enum reg_format fmt = forced;
		size_t len = 0;
		char *text = NULL;
		int rc;

		if (!have_format)
			format_of(file, &fmt);
		rc = fs_read_file(file, FILE_MAX, &text, &len);
		if (rc != 0) {
			fprintf(stderr, "%s: %s\n", file, strerror(-rc));
			errors++;
			continue;
		}
		rc = reg_batch_parse(text, len, file, fmt, &batches[i],
				     print_error, NULL);
		free(text);
		if (rc < 0) {
			fprintf(stderr, "%s: %s\n", file, strerror(-rc));
			errors++;
		} else {
			errors += rc;
		}
	}
	if (errors > 0) {
		fprintf(stderr, "wicketctl: %d error%s; nothing imported\n",
			errors, errors == 1 ? "" : "s");
		goto out;
	}
	if (where_open(o, 1, &w) != 0 || db_open_rw(&w, &db) != 0)
		goto out;
	errors = reg_import(db, batches, (size_t)nfiles, replace, print_error,
			    NULL);
	if (errors != 0) {
		if (errors > 0) {
			fprintf(stderr, "wicketctl: %d error%s; nothing "
				"imported\n", errors, errors == 1 ? "" : "s");
		} else {
			fprintf(stderr, "wicketctl: %s: import failed (%s); "
				"nothing imported\n", w.db, strerror(-errors));
			owner_hint(&w);
		}
		goto out;
	}
	for (int i = 0; i < nfiles; i++) {
		size_t h, p, c;

		reg_batch_counts(batches[i], &h, &p, &c);
		nh += h;
		np += p;
		nc += c;
	}
	if (json)
		printf("{\"households\":%zu,\"persons\":%zu,\"credentials\":%zu,"
		       "\"version\":%" PRId64 "}\n", nh, np, nc,
		       reg_db_version(db));
	else
		printf("imported: %zu household%s, %zu person%s, %zu "
		       "credential%s; registry version %" PRId64 "\n",
		       nh, nh == 1 ? "" : "s", np, np == 1 ? "" : "s", nc,
		       nc == 1 ? "" : "s", reg_db_version(db));
	ret = CTL_OK;
out:
	reg_db_close(db);
	for (int i = 0; i < nfiles; i++)
		reg_batch_free(batches[i]);
	free(batches);
	where_free(&w);
	return ret;
}

static int cmd_export(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "table", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum reg_format fmt = REG_JSON;
	const char *table = NULL;
	struct reg_db *db = NULL;
	struct where w = { 0 };
	int ch, rc, ret = CTL_FAIL;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (parse_format(optarg, &fmt) != 0) {
				fprintf(stderr, "wicketctl: --format: '%s' is "
					"not json or csv\n", optarg);
				return CTL_USAGE;
			}
			break;
		case 'j':
			fmt = REG_JSON;
			break;
		case 't':
			if (strcmp(optarg, "households") != 0 &&
			    strcmp(optarg, "persons") != 0 &&
			    strcmp(optarg, "credentials") != 0) {
				fprintf(stderr, "wicketctl: --table: '%s' is "
					"not households, persons or "
					"credentials\n", optarg);
				return CTL_USAGE;
			}
			table = optarg;
			break;
		case 'h':
			usage_export(stdout);
			return CTL_OK;
		default:
			return bad_option("export", ch, argv, usage_export);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wicketctl: persons export: unexpected '%s'\n",
			argv[optind]);
		usage_export(stderr);
		return CTL_USAGE;
	}
	if (fmt == REG_CSV && table == NULL) {
		fprintf(stderr, "wicketctl: persons export: CSV holds one "
			"table; give --table households, persons or "
			"credentials\n");
		return CTL_USAGE;
	}
	if (where_open(o, 0, &w) != 0 || need_db(&w) != 0 ||
	    db_open_rw(&w, &db) != 0)
		goto out;
	rc = reg_export(db, fmt, table, stdout);
	if (rc != 0) {
		fprintf(stderr, "wicketctl: %s: export failed: %s\n", w.db,
			strerror(-rc));
		goto out;
	}
	ret = CTL_OK;
out:
	reg_db_close(db);
	where_free(&w);
	return ret;
}

int ctl_persons(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct ctl_opts *o, int argc, char **argv);
	} cmds[] = {
		{ "list", cmd_list },
		{ "add", cmd_add },
		{ "remove", cmd_remove },
		{ "import", cmd_import },
		{ "export", cmd_export },
	};
	struct ctl_opts oj = *o;

	/* "persons --json list" as well as "persons list --json" */
	if (argc >= 2 && strcmp(argv[1], "--json") == 0) {
		oj.json = 1;
		argc--;
		argv++;
	}
	if (argc < 2) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].run(&oj, argc - 1, argv + 1);
	fprintf(stderr, "wicketctl: persons: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CTL_USAGE;
}
