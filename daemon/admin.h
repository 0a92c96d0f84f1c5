/*
 * admin: signed administration bundles (issue 7).  An administrator signs
 * a JSON document with an Ed25519 key; the gate receives it wrapped in an
 * envelope (the MQTT payload) and believes nothing in it until the
 * signature checks out against a public key from the gate's admin keys
 * file.  docs/admin.md (step 2) describes the format for operators; the
 * short version:
 *
 *   envelope  {"wicket": 1, "key": ID, "signed": BASE64, "sig": BASE64}
 *   document  {"kind": "rules"|"lists"|"rollback"|"cmd", "site": S,
 *              "gate": G or "*", "issued": T, "expires": T, ...}
 *             rules:    "version": N, "rules": {rules document}
 *             lists:    "version": N, "lists": {"mode": "snapshot",
 *                       "registry": {...}} or {"mode": "delta", "base": N,
 *                       "upsert": {...}, "remove": {"persons": [...],
 *                       "households": [...], "credentials": [...]}}
 *             rollback: "version": N (the rules version rolled back from)
 *             cmd:      "id": NONCE, "cmd": {"name": "open", "lane": L} |
 *                       {"name": "mode", "mode": M} | {"name": "status"}
 *   T = YYYY-MM-DDTHH:MM:SSZ (UTC)
 *
 * Admin keys file: one key per line, "KEY_ID ed25519 BASE64" (the 32 raw
 * bytes of the public key), fields separated by blanks; blank lines and
 * lines starting with '#' are ignored.
 *
 * Pure and synchronous: no MQTT, no SQLite, no clock (the caller passes
 * the time).  admin_verify() checks, in this order, stopping at the first
 * problem:
 *   bad_envelope   over 8 MiB, not JSON, not exactly the four members,
 *                  wicket not 1, bad key id, bad base64, sig not 64 bytes
 *   unknown_key    no key of that id
 *   bad_signature  the signature does not verify over the signed bytes
 *   bad_document   not JSON; a member missing, mistyped or not allowed
 *                  for the kind; a time not in the form; expires not
 *                  after issued or more than 30 days after it; version
 *                  not an integer >= 1 (the document as a whole, before
 *                  anything in it is acted on)
 *   wrong_target   site not this gate's; gate neither this gate nor "*"
 *   not_yet_valid  issued more than 300 s ahead of now
 *   expired        now at or after expires
 *   invalid_rules  rules.version differs from version
 *   invalid_lists  the lists member's shape (mode, registry, base,
 *                  upsert, remove)
 *   bad_command    the cmd member's shape, the id's form
 * What needs the state in force (version greater than the one in force,
 * a command id seen before, the delta's base, the rules and registry
 * contents themselves) is the caller's.
 */
#ifndef WICKET_ADMIN_H
#define WICKET_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "jsontree.h"

#define ADMIN_PAYLOAD_MAX (8u << 20)	/* bytes in one envelope */
#define ADMIN_KEY_ID_MAX 64		/* A-Za-z0-9 . _ - */
#define ADMIN_KEYS_FILE_MAX (1u << 20)	/* bytes in the admin keys file */
#define ADMIN_KEYS_MAX 1024		/* keys in it */
#define ADMIN_SKEW_S 300		/* "issued" may be this far ahead */
#define ADMIN_LIFETIME_MAX_S (30 * 86400)	/* expires - issued */
#define ADMIN_ID_MIN 8			/* command nonce length */
#define ADMIN_ID_MAX 64

/* Refusal codes (admin_verify's *code; the caller's checks use the rest:
 * "replay", "wrong_base", and the contents' "invalid_rules",
 * "invalid_lists").  ADMIN_E_INTERNAL is not a refusal of the bundle: the
 * gate could not check it (out of memory, OpenSSL failing). */
#define ADMIN_E_BAD_ENVELOPE "bad_envelope"
#define ADMIN_E_UNKNOWN_KEY "unknown_key"
#define ADMIN_E_BAD_SIGNATURE "bad_signature"
#define ADMIN_E_BAD_DOCUMENT "bad_document"
#define ADMIN_E_WRONG_TARGET "wrong_target"
#define ADMIN_E_EXPIRED "expired"
#define ADMIN_E_NOT_YET_VALID "not_yet_valid"
#define ADMIN_E_REPLAY "replay"
#define ADMIN_E_INVALID_RULES "invalid_rules"
#define ADMIN_E_INVALID_LISTS "invalid_lists"
#define ADMIN_E_WRONG_BASE "wrong_base"
#define ADMIN_E_BAD_COMMAND "bad_command"
#define ADMIN_E_INTERNAL "internal_error"

/* ---- the admin keys file ---- */

struct admin_keys;

/* Load the admin keys file at path.  0 with *out (possibly holding no
 * keys: then every bundle is refused as unknown_key), or -errno with err
 * = "PATH:LINE: message" (or "PATH: message" for the file as a whole).
 * Keys stay raw bytes here: OpenSSL is not touched until a bundle comes. */
int admin_keys_load(const char *path, struct admin_keys **out, char *err,
		    size_t errlen);
/* The same from text in memory; name stands for the path in messages. */
int admin_keys_parse(const char *name, const char *text, size_t len,
		     struct admin_keys **out, char *err, size_t errlen);
void admin_keys_free(struct admin_keys *k);	/* accepts NULL */
size_t admin_keys_count(const struct admin_keys *k);
/* The i-th key's id (file order), or NULL past the end. */
const char *admin_keys_id(const struct admin_keys *k, size_t i);

/* The raw 32-byte public key of that id, or NULL (for other signed
 * things that use the same keys file format: QR passes). */
const unsigned char *admin_keys_pub(const struct admin_keys *k,
				    const char *id);
/* Pure Ed25519 over data with a raw 32-byte public key and a 64-byte
 * signature: 1 good, 0 bad, -ENOMEM / -EIO when OpenSSL could not check
 * (its error queue is cleared).  The first call loads OpenSSL's default
 * provider (about 2 MB resident). */
int admin_ed25519_verify(const unsigned char *pub, const unsigned char *sig,
			 const void *data, size_t len);

/* ---- bundles ---- */

enum admin_kind { ADMIN_RULES, ADMIN_LISTS, ADMIN_ROLLBACK, ADMIN_CMD };
enum admin_lists_mode { ADMIN_LISTS_SNAPSHOT, ADMIN_LISTS_DELTA };
enum admin_cmd { ADMIN_CMD_OPEN, ADMIN_CMD_MODE, ADMIN_CMD_STATUS };

/* This gate. */
struct admin_target {
	const char *site, *gate;
};

/* A verified bundle.  It owns the parsed document; every node pointer
 * points into it and lives until admin_bundle_free(). */
struct admin_bundle {
	enum admin_kind kind;
	char key[ADMIN_KEY_ID_MAX + 1];	/* the key that signed it */
	int64_t version;	/* rules, lists, rollback; 0 for cmd */
	int64_t issued_s, expires_s;	/* Unix time */
	int all_gates;		/* "gate" was "*" */
	/* the signed document: its exact bytes (NUL-terminated; what to
	 * store to keep or re-check it later) and its tree */
	char *text;
	size_t text_len;
	struct jt_doc *doc;
	const struct jt_node *root;	/* its top-level object */
	/* the "rules", "lists" or "cmd" member; NULL for rollback */
	const struct jt_node *body;
	/* lists */
	enum admin_lists_mode lists_mode;
	int64_t base;		/* delta: the version it applies to */
	const struct jt_node *registry;	/* snapshot: the import document */
	const struct jt_node *upsert;	/* delta, NULL if absent */
	const struct jt_node *remove;	/* delta, NULL if absent; its
					 * members are arrays of strings */
	/* cmd */
	enum admin_cmd cmd;
	char id[ADMIN_ID_MAX + 1];	/* the nonce */
	const char *lane;	/* open: the lane's name, 1-32 a-z A-Z 0-9 - _ */
	const char *mode;	/* mode: normal, residents-only, lockdown, open */
};

/* Parse and verify one payload of len bytes for gate t at Unix time
 * now_s, with keys k.  Returns 0 with *out (free it with
 * admin_bundle_free), or:
 *   -EINVAL  refused: *code is one of the ADMIN_E_ refusal codes and msg
 *            says what and where ("envelope:LINE:COL: $.sig: ...",
 *            "document:LINE:COL: $.expires: ...", positions in the
 *            envelope and in the signed document's bytes respectively)
 *   -ENOMEM, -EIO  could not check it: *code is ADMIN_E_INTERNAL
 * The signature is checked before anything in the signed document is
 * read.  The first call that gets as far as a signature check loads
 * OpenSSL's default provider (see admin.c). */
int admin_verify(const struct admin_keys *k, const struct admin_target *t,
		 const void *payload, size_t len, int64_t now_s,
		 struct admin_bundle **out, const char **code, char *msg,
		 size_t msglen);
void admin_bundle_free(struct admin_bundle *b);	/* accepts NULL */
/* 1 if payload is within ADMIN_PAYLOAD_MAX and has no more structure than
 * an envelope can: what admin_verify checks before it builds a tree, for a
 * caller that wants to look into a payload before verifying it. */
int admin_envelope_bounded(const void *payload, size_t len);

const char *admin_kind_name(enum admin_kind kind);	/* "rules", ... */
const char *admin_cmd_name(enum admin_cmd cmd);	/* "open", ... */

/* ---- helpers, public for wicketctl and the tests ---- */

/* "YYYY-MM-DDTHH:MM:SSZ" (exactly; UTC; years 1970-9999, no leap
 * second) to Unix time.  0 or -EINVAL. */
int admin_time_parse(const char *s, int64_t *out);
/* Strict standard base64 (RFC 4648 section 4): length a multiple of 4,
 * padding only at the end, no whitespace, unused bits of the last group
 * zero.  Decodes len chars into out (room for len / 4 * 3 bytes); 0 with
 * *outlen, or -EINVAL with *bad = offset of the first offending
 * character (len for a bad length). */
int admin_b64_decode(const char *s, size_t len, unsigned char *out,
		     size_t *outlen, size_t *bad);

#endif
