/*
 * ledger: SQLite, one connection, prepared statements kept for the life of
 * the ledger.  seq is an AUTOINCREMENT key, so it never repeats or goes
 * back, across restarts and after old rows are pruned.
 *
 * Left for the ledger issue: commits happen on the calling (loop) thread;
 * a writer thread with group commit, retention and the daily summary come
 * later.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "ledger.h"

struct ledger {
	sqlite3 *db;
	sqlite3_stmt *add, *mark, *next, *count;
};

static const char schema_v1[] =
	"CREATE TABLE passage ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time_ms INTEGER NOT NULL,"
	" lane TEXT NOT NULL,"
	" direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),"
	" credential TEXT,"
	" temperature REAL,"
	" decision TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),"
	" reason TEXT NOT NULL,"
	" alarm INTEGER NOT NULL DEFAULT 0,"
	" delivered INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX passage_undelivered ON passage(seq) WHERE delivered = 0;"
	"CREATE INDEX passage_time ON passage(time_ms);"
	"PRAGMA user_version = 1;";

static int mkdirs(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0750) < 0 && errno != EEXIST)
			return -errno;
		path[i] = dir[i];
	}
	return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int version = 0;
	char *msg = NULL;
	int rc = pragma_int(db, "PRAGMA user_version", &version);

	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s (not deleted; move it away to start a new ledger)",
			 path, sqlite3_errmsg(db));
		return -EIO;
	}
	if (version > LEDGER_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "%s: schema version %d is newer than this wicketd's (%d)",
			 path, version, LEDGER_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version == LEDGER_SCHEMA_VERSION)
		return 0;
	/* version 0: a new file */
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, schema_v1, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT;", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: creating the schema: %s", path,
			 msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
		return -EIO;
	}
	return 0;
}

int ledger_open(const char *state_dir, struct ledger **out, char *err,
		size_t errlen)
{
	struct ledger *lg;
	char path[4096], *msg = NULL;
	int rc;

	*out = NULL;
	rc = mkdirs(state_dir);
	if (rc < 0) {
		snprintf(err, errlen, "state_dir %s: %s", state_dir,
			 strerror(-rc));
		return rc;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir,
			     LEDGER_FILE) >= sizeof(path)) {
		snprintf(err, errlen, "state_dir %s: path too long", state_dir);
		return -ENAMETOOLONG;
	}
	lg = calloc(1, sizeof(*lg));
	if (lg == NULL)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &lg->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 lg->db ? sqlite3_errmsg(lg->db) : sqlite3_errstr(rc));
		ledger_close(lg);
		return -EIO;
	}
	sqlite3_busy_timeout(lg->db, 5000);
	sqlite3_extended_result_codes(lg->db, 1);
	rc = migrate(lg->db, path, err, errlen);
	if (rc < 0) {
		ledger_close(lg);
		return rc;
	}
	rc = sqlite3_exec(lg->db,
			  "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
			  NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(lg->db,
			"INSERT INTO passage (time_ms, lane, direction, credential,"
			" temperature, decision, reason, alarm)"
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?)", -1, &lg->add, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(lg->db,
			"UPDATE passage SET delivered = 1 WHERE seq = ?", -1,
			&lg->mark, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(lg->db,
			"SELECT seq, time_ms, lane, direction, credential,"
			" temperature, decision, reason, alarm FROM passage"
			" WHERE delivered = 0 AND seq > ? ORDER BY seq LIMIT 1",
			-1, &lg->next, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(lg->db,
			"SELECT count(*) FROM passage WHERE delivered = 0", -1,
			&lg->count, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 msg ? msg : sqlite3_errmsg(lg->db));
		sqlite3_free(msg);
		ledger_close(lg);
		return -EIO;
	}
	*out = lg;
	return 0;
}

void ledger_close(struct ledger *lg)
{
	if (lg == NULL)
		return;
	sqlite3_finalize(lg->add);
	sqlite3_finalize(lg->mark);
	sqlite3_finalize(lg->next);
	sqlite3_finalize(lg->count);
	sqlite3_close(lg->db);
	free(lg);
}

const char *ledger_errmsg(struct ledger *lg)
{
	return sqlite3_errmsg(lg->db);
}

int ledger_add_passage(struct ledger *lg, struct ledger_passage *p)
{
	sqlite3_stmt *st = lg->add;
	int rc;

	sqlite3_bind_int64(st, 1, p->time_ms);
	sqlite3_bind_text(st, 2, p->lane, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->direction, -1, SQLITE_STATIC);
	if (p->has_credential)
		sqlite3_bind_text(st, 4, p->credential, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	if (p->has_temperature)
		sqlite3_bind_double(st, 5, p->temperature_c);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_text(st, 6, p->decision, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, p->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, p->alarm);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	p->seq = sqlite3_last_insert_rowid(lg->db);
	return 0;
}

int ledger_mark_delivered(struct ledger *lg, int64_t seq)
{
	int rc;

	sqlite3_bind_int64(lg->mark, 1, seq);
	rc = sqlite3_step(lg->mark);
	sqlite3_reset(lg->mark);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static void col_text(sqlite3_stmt *st, int col, char *dst, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

int ledger_next_undelivered(struct ledger *lg, int64_t after,
			    struct ledger_passage *p)
{
	sqlite3_stmt *st = lg->next;
	int rc;

	sqlite3_bind_int64(st, 1, after);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(p, 0, sizeof(*p));
		p->seq = sqlite3_column_int64(st, 0);
		p->time_ms = sqlite3_column_int64(st, 1);
		col_text(st, 2, p->lane, sizeof(p->lane));
		col_text(st, 3, p->direction, sizeof(p->direction));
		p->has_credential = sqlite3_column_type(st, 4) != SQLITE_NULL;
		col_text(st, 4, p->credential, sizeof(p->credential));
		p->has_temperature = sqlite3_column_type(st, 5) != SQLITE_NULL;
		p->temperature_c = sqlite3_column_double(st, 5);
		col_text(st, 6, p->decision, sizeof(p->decision));
		col_text(st, 7, p->reason, sizeof(p->reason));
		p->alarm = sqlite3_column_int(st, 8);
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : -EIO;
	}
	sqlite3_reset(st);
	return rc;
}

int64_t ledger_count_undelivered(struct ledger *lg)
{
	int64_t n = -1;

	if (sqlite3_step(lg->count) == SQLITE_ROW)
		n = sqlite3_column_int64(lg->count, 0);
	sqlite3_reset(lg->count);
	return n;
}
