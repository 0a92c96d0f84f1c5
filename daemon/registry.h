/*
 * registry: who may pass.  Households, persons and credentials live in
 * SQLite (state_dir/registry.db, written by imports) and are loaded into a
 * compact read-only in-memory form for the decision (reg_load, then
 * reg_lookup).  Memory holds only what a decision needs; the names (person
 * and household ids) stay in the database and are read by reg_db_names()
 * when a passage is recorded.
 *
 * Imports (JSON or CSV, docs/registry.md) are parsed whole first; a bad
 * row is reported with its line and field and nothing of that file is
 * applied.  A good one is applied in one transaction, merged (upsert by
 * id) or as a full snapshot (replace).  Each import raises the registry's
 * version.  A remote lists update (a signed snapshot or delta, issue 7)
 * goes through the same parser and import, and sets the version it names.
 *
 * pid and hid are the database keys of a person and a household: they stay
 * the same across imports for the same id, so the passage history can be
 * keyed by them.
 */
#ifndef WICKET_REGISTRY_H
#define WICKET_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rules.h"

struct jt_node;

#define REG_FILE "registry.db"
#define REG_ID_MAX 64		/* person and household ids, bytes + NUL */

/* --- in memory -------------------------------------------------------- */

struct registry;

/* What the registry says about one credential at a time. */
struct reg_match {
	enum rules_cred credential;	/* UNKNOWN, REVOKED, EXPIRED,
					 * NOT_YET_VALID or VALID */
	/* when credential != UNKNOWN: */
	int64_t pid;
	enum rules_role role;
	enum rules_validity person;
	int64_t hid;		/* the household, 0: none */
	int64_t host_hid;	/* a visitor's host household, 0: none */
	int quarantine;		/* in force at that time */
	int observation;
	int blocked;
};

/* What the rules may ask about the person behind a lookup: credential,
 * has_person and, when there is a person, role, person, has_household,
 * has_host, quarantine, observation and blocked.  Other facts are left as
 * they are. */
void reg_facts(const struct reg_match *m, struct rules_facts *f);

/* Read the whole registry at path (any thread; its own connection).
 * Returns 0, or -errno with err saying what and where. */
int reg_load(const char *path, struct registry **out, char *err,
	     size_t errlen);
void reg_free(struct registry *r);
/* now_s: unix seconds.  Always fills m; credential is UNKNOWN when the
 * value is not in the registry. */
void reg_lookup(const struct registry *r, const char *credential,
		int64_t now_s, struct reg_match *m);
int64_t reg_version(const struct registry *r);
size_t reg_households(const struct registry *r);
size_t reg_persons(const struct registry *r);
size_t reg_credentials(const struct registry *r);
size_t reg_memory(const struct registry *r);	/* bytes allocated */

/* --- the database ------------------------------------------------------ */

struct reg_db;

/* Open (creating and migrating if needed) the registry database. */
int reg_db_open(const char *path, struct reg_db **out, char *err,
		size_t errlen);
void reg_db_close(struct reg_db *db);
/* How long a write waits for another connection's lock (default 5 s). */
void reg_db_busy_ms(struct reg_db *db, int ms);
/* Changes whenever anyone has committed to the database: another
 * connection (PRAGMA data_version) or this one (an import, a removal or a
 * lists update through db).  Cheap enough to poll every second. */
int64_t reg_db_data_version(struct reg_db *db);
int64_t reg_db_version(struct reg_db *db);	/* the registry's version */
/* The ids of a person and of a household (0: none): 0, or -ENOENT with
 * the buffers set to "". */
int reg_db_names(struct reg_db *db, int64_t pid, char *person, size_t plen,
		 int64_t hid, char *household, size_t hlen);
/* The keys of ids (as recorded in the ledger): 0, or -ENOENT. */
int reg_db_pid(struct reg_db *db, const char *person, int64_t *pid);
int reg_db_hid(struct reg_db *db, const char *household, int64_t *hid);

/* A signed pass's subject (gatepass.h), read from the database by its
 * registry id: the loaded copy keeps no ids (an index of them would cost
 * about 12 MB at a million persons).  Each is one indexed SELECT (one
 * consistent snapshot; 5 us at a million persons) on the connection's
 * thread.  The facts come from the database too, not from the loaded
 * copy by pid: while a reload is pending the two may disagree about
 * whose a pid is (SQLite gives the highest pid out again after its
 * person is removed).
 *
 * reg_db_person: 0 with *m as reg_lookup() fills it for a valid credential
 * of that person at now_s (credential VALID; the person's own validity,
 * quarantine, observation, role, household, host, blocked); -ENOENT when
 * no person has that id; -ERANGE for a row reg_load() would refuse; or
 * -errno from the database (-EBUSY, -EIO, -ENOMEM).  On any error *m is
 * credential UNKNOWN and nothing else.
 *
 * reg_db_household: 0 with *hid, after calling fn (may be NULL) once per
 * member (persons whose household it is; not the visitors it hosts), in
 * pid order, with the member's match as reg_db_person() gives it; a
 * household without members is 0 with no call.  -ENOENT when no household
 * has that id; -ERANGE, -errno as above, with *hid 0 (fn may have been
 * called for some members: discard what it gathered).  fn must not use
 * db. */
typedef void (*reg_member_fn)(void *ctx, const struct reg_match *m);
int reg_db_person(struct reg_db *db, const char *id, int64_t now_s,
		  struct reg_match *m);
int reg_db_household(struct reg_db *db, const char *id, int64_t now_s,
		     int64_t *hid, reg_member_fn fn, void *ctx);

/* --- import and export ---------------------------------------------------- */

enum reg_format { REG_JSON = 0, REG_CSV };

/* file (NULL: none, as for a lists update's document), line (0: none),
 * field (NULL: none) */
typedef void (*reg_error_fn)(void *ctx, const char *file, int line,
			     const char *field, const char *msg);

struct reg_batch;

/* Parse one file's text.  name is used in errors.  Returns 0 with *out
 * set, the number of errors (> 0), or -ENOMEM. */
int reg_batch_parse(const char *text, size_t len, const char *name,
		    enum reg_format fmt, struct reg_batch **out,
		    reg_error_fn err, void *ctx);
void reg_batch_free(struct reg_batch *b);
/* The rows of each table a parsed batch holds (NULL: not wanted). */
void reg_batch_counts(const struct reg_batch *b, size_t *households,
		      size_t *persons, size_t *credentials);
/* Apply batches in one transaction: references (a person's household or
 * host, a credential's person, a household's landlord) must resolve in
 * the database or in the batches; replace removes whatever the batches do
 * not name in the tables they carry.  Returns 0, the number of errors
 * (> 0, nothing applied), or -errno (err reported too). */
int reg_import(struct reg_db *db, struct reg_batch *const *b, size_t n,
	       int replace, reg_error_fn err, void *ctx);
/* Remove persons (by id, each once) and their credentials, in one
 * transaction that raises the version like an import.  Returns 0 (*credentials: how many
 * went with them), the number of errors (> 0: ids not in the registry,
 * each reported; nothing removed), or -errno (reported too). */
int reg_remove_persons(struct reg_db *db, const char *const *ids, size_t n,
		       size_t *credentials, reg_error_fn err, void *ctx);
/* Apply a remote lists update: lists is the "lists" member of a verified
 * signed document (admin.h), version the document's "version".
 *
 *   {"mode": "snapshot", "registry": {import document}}
 *       the whole registry: like 'persons import --replace' of all three
 *       tables (a table the document leaves out is emptied);
 *   {"mode": "delta", "base": N, "upsert": {import document},
 *    "remove": {"persons": [ids], "households": [ids],
 *               "credentials": [values]}}
 *       against version N: upsert merges like an import; then the listed
 *       credentials, persons (with their credentials) and households go.
 *       Every id removed must be in the registry and named once; an entry
 *       may not be both upserted and removed; an upserted row may not
 *       refer to a removed entry; a household removed may not stay in use
 *       (a person's household or host, a household's landlord) after the
 *       update: remove or move those in the same delta.
 *
 * An import document's own "version", if there, must equal version.  All
 * or nothing, in one transaction that also checks, in this order:
 *   version > the version in force    else -EALREADY (answer "replay")
 *   the shape of lists                else > 0       ("invalid_lists")
 *   a delta's base == version in force else -ESTALE  ("wrong_base")
 *   the content                       else > 0       ("invalid_lists")
 * Returns 0 (the registry's version is now exactly version), the number
 * of errors (> 0), -EALREADY, -ESTALE, or another -errno (the database:
 * -EBUSY, -EIO, -ENOSPC, -ENOMEM, ...).  Every outcome but 0 is reported
 * through err too, -EALREADY and -ESTALE with one message each.  Errors in
 * the document come with file NULL, line = the line in the signed
 * document (0: none) and field = its JSON path, e.g.
 * "$.lists.upsert.persons[3].role", "$.lists.remove.households[0]",
 * "$.lists.base", "$.version"; database errors with file = the database's
 * path, line 0 and field NULL.  *in_force (may be NULL): the version in
 * force when the call returns (0 if it could not be read). */
int reg_apply_lists(struct reg_db *db, const struct jt_node *lists,
		    int64_t version, reg_error_fn err, void *ctx,
		    int64_t *in_force);
/* Write the registry: JSON (one document) or CSV (table: "households",
 * "persons" or "credentials"; NULL with JSON: all). 0 or -errno. */
int reg_export(struct reg_db *db, enum reg_format fmt, const char *table,
	       FILE *out);

/* A time as the import formats write it: "YYYY-MM-DD" (a local date:
 * its first second, or with until its last second, 23:59:59) or
 * "YYYY-MM-DDTHH:MM[:SS]" followed by "Z" or "+HH:MM"/"-HH:MM".  Unix
 * seconds from 1970 to 2106 (they fit 32 bits).  Returns 0, or -EINVAL /
 * -ERANGE with err saying why. */
int reg_parse_time(const char *s, int until, int64_t *out, char *err,
		   size_t errlen);

#endif
