/*
 * adminstore: what remote administration must remember across restarts,
 * in state_dir/admin.db (SQLite, synchronous=FULL): the rules in force
 * that came over MQTT and the ones before them (for rollback), the highest
 * rules version ever accepted (so a replayed older bundle is refused even
 * after a rollback), and the command nonces seen until they expire.
 *
 * Every change is one transaction: an update is stored whole or not at
 * all.  Loop thread only; the writes are rare (an administrator's update)
 * and small, so they run synchronously.
 */
#ifndef WICKET_ADMINSTORE_H
#define WICKET_ADMINSTORE_H

#include <stddef.h>
#include <stdint.h>

#define ADMINSTORE_FILE "admin.db"

struct astore;

/* A stored rules document: its version, its text, the key that signed
 * it, when it came into force (wall ms), the id of the push. */
struct astore_rules {
	int64_t version;
	char *text;		/* malloc'd, NUL-terminated */
	size_t len;
	char key[65];
	int64_t since_ms;
};

int astore_open(const char *state_dir, struct astore **out, char *err,
		size_t errlen);
void astore_close(struct astore *st);	/* accepts NULL */

/* slot 0: current, 1: previous.  1 found (free r->text), 0 none, <0 error. */
int astore_rules(struct astore *st, int slot, struct astore_rules *r);
/* The highest rules version ever accepted, 0 if none. */
int64_t astore_highest(struct astore *st);
/* previous := prev, or the current when prev is NULL; current := r;
 * highest := max(highest, version).  0 or -EIO. */
int astore_put_rules(struct astore *st, const struct astore_rules *r,
		     const struct astore_rules *prev);
/* current := previous (since now_ms), previous := none.  0, -ENOENT when
 * there is no previous, -EIO. */
int astore_rollback(struct astore *st, int64_t now_ms);
/* Remember a command nonce until expires_s.  1 if it was seen already
 * (a replay), 0 if new (now remembered), <0 error.  Expired ones go. */
int astore_nonce(struct astore *st, const char *id, int64_t expires_s,
		 int64_t now_s);

#endif
