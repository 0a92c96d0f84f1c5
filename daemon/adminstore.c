/*
 * adminstore: remote administration's memory in state_dir/admin.db; see
 * adminstore.h.  Two rows of `rules` at most (slot 0 current, 1
 * previous), one of `meta`, and the nonces of commands not yet expired.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "adminstore.h"
#include "fsutil.h"
#include "log.h"

struct astore {
	sqlite3 *db;
};

static const char schema[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = FULL;"
	"CREATE TABLE IF NOT EXISTS rules ("
	" slot INTEGER PRIMARY KEY CHECK (slot IN (0, 1)),"
	" version INTEGER NOT NULL, text TEXT NOT NULL, key TEXT NOT NULL,"
	" since_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta ("
	" one INTEGER PRIMARY KEY CHECK (one = 1), highest INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES (1, 0);"
	"CREATE TABLE IF NOT EXISTS nonce ("
	" id TEXT PRIMARY KEY, expires_s INTEGER NOT NULL);";

int astore_open(const char *state_dir, struct astore **out, char *err,
		size_t errlen)
{
	struct astore *st;
	char path[4096], *msg = NULL;
	int rc;

	*out = NULL;
	rc = fs_mkdirs(state_dir, 0750);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", state_dir, strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/%s", state_dir, ADMINSTORE_FILE);
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(st->db, 2000) != SQLITE_OK ||
	    sqlite3_exec(st->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		astore_close(st);
		return -EIO;
	}
	*out = st;
	return 0;
}

void astore_close(struct astore *st)
{
	if (st == NULL)
		return;
	sqlite3_close(st->db);
	free(st);
}

int astore_rules(struct astore *st, int slot, struct astore_rules *r)
{
	sqlite3_stmt *q;
	int rc;

	memset(r, 0, sizeof(*r));
	if (sqlite3_prepare_v2(st->db, "SELECT version, text, key, since_ms"
			       " FROM rules WHERE slot = ?1", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(q, 1, slot);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(q, 1);
		const unsigned char *k = sqlite3_column_text(q, 2);
		int n = sqlite3_column_bytes(q, 1);

		r->version = sqlite3_column_int64(q, 0);
		r->since_ms = sqlite3_column_int64(q, 3);
		snprintf(r->key, sizeof(r->key), "%s", k ? (const char *)k : "");
		r->text = malloc((size_t)n + 1);
		if (r->text == NULL) {
			sqlite3_finalize(q);
			return -ENOMEM;
		}
		memcpy(r->text, t ? (const char *)t : "", (size_t)n);
		r->text[n] = '\0';
		r->len = (size_t)n;
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : -EIO;
	}
	sqlite3_finalize(q);
	return rc;
}

int64_t astore_highest(struct astore *st)
{
	sqlite3_stmt *q;
	int64_t v = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT highest FROM meta", -1, &q,
			       NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* Run statements without binds; log what failed. */
static int exec(struct astore *st, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("admin.db: %s", msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static int insert_rules(struct astore *st, int slot, const struct astore_rules *r)
{
	sqlite3_stmt *q;
	int ok;

	if (sqlite3_prepare_v2(st->db, "INSERT INTO rules VALUES (?5, ?1, ?2, ?3, ?4)",
			       -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(q, 1, r->version);
	sqlite3_bind_text(q, 2, r->text, (int)r->len, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, r->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, r->since_ms);
	sqlite3_bind_int(q, 5, slot);
	ok = sqlite3_step(q) == SQLITE_DONE;
	sqlite3_finalize(q);
	return ok;
}

int astore_put_rules(struct astore *st, const struct astore_rules *r,
		     const struct astore_rules *prev)
{
	sqlite3_stmt *q = NULL;
	int ok;

	if (exec(st, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	if (prev)
		ok = exec(st, "DELETE FROM rules") == 0 && insert_rules(st, 1, prev);
	else
		ok = exec(st, "DELETE FROM rules WHERE slot = 1;"
			      "UPDATE rules SET slot = 1 WHERE slot = 0") == 0;
	ok = ok && insert_rules(st, 0, r);
	if (ok)
		ok = sqlite3_prepare_v2(st->db, "UPDATE meta SET highest ="
					" max(highest, ?1)", -1, &q, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(q, 1, r->version);
		ok = sqlite3_step(q) == SQLITE_DONE;
	}
	sqlite3_finalize(q);
	if (!ok || exec(st, "COMMIT") < 0) {
		log_err("admin.db: cannot store rules version %lld: %s",
			(long long)r->version, sqlite3_errmsg(st->db));
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	return 0;
}

int astore_rollback(struct astore *st, int64_t now_ms)
{
	sqlite3_stmt *q = NULL;
	int ok, have;

	if (exec(st, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	ok = sqlite3_prepare_v2(st->db, "SELECT count(*) FROM rules WHERE slot = 1",
				-1, &q, NULL) == SQLITE_OK &&
	     sqlite3_step(q) == SQLITE_ROW;
	have = ok && sqlite3_column_int(q, 0) == 1;
	sqlite3_finalize(q);
	q = NULL;
	if (ok && !have) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return -ENOENT;
	}
	ok = ok && exec(st, "DELETE FROM rules WHERE slot = 0;"
			    "UPDATE rules SET slot = 0 WHERE slot = 1") == 0 &&
	     sqlite3_prepare_v2(st->db, "UPDATE rules SET since_ms = ?1"
				" WHERE slot = 0", -1, &q, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(q, 1, now_ms);
		ok = sqlite3_step(q) == SQLITE_DONE;
	}
	sqlite3_finalize(q);
	if (!ok || exec(st, "COMMIT") < 0) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	return 0;
}

int astore_nonce(struct astore *st, const char *id, int64_t expires_s,
		 int64_t now_s)
{
	sqlite3_stmt *q = NULL;
	int rc;

	/* a day past expiry: a clock stepped back must not make a command
	 * whose nonce was forgotten valid again */
	if (sqlite3_prepare_v2(st->db, "DELETE FROM nonce WHERE expires_s + 86400 <= ?1",
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, now_s);
		sqlite3_step(q);
	}
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO nonce VALUES (?1, ?2)",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, expires_s);
	rc = sqlite3_step(q) == SQLITE_DONE ? (sqlite3_changes(st->db) == 0) : -EIO;
	sqlite3_finalize(q);
	return rc;
}
