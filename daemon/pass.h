/*
 * pass: signed QR passes (issue 6).  An issuer (an office, a manager)
 * signs a short token that names a person or a household of the registry
 * and a validity window; the gate reads it from a QR code and verifies it
 * offline against the issuer public keys it was given.  docs/passes.md is
 * the operator's description; the short version:
 *
 *   token    "WKP1." BASE32(payload) "." BASE32(signature)
 *   BASE32   RFC 4648 alphabet A-Z 2-7, no padding, upper case only,
 *            unused bits of the last character zero (one spelling per
 *            byte string)
 *   payload  (integers big-endian)
 *            u8  kind        1 person, 2 household
 *            u8  key id length, 1..64, then the key id (A-Za-z0-9._-)
 *            u8  subject length, 1..63, then the person's or household's
 *                registry id (bytes 0x21..0x7e and 0x80..0xff, as the
 *                registry takes ids)
 *            u40 valid from, Unix seconds
 *            u40 valid until, Unix seconds, after valid from
 *            u32 serial (random: two passes for the same subject differ)
 *            nothing after it
 *   signature  Ed25519 (pure, RFC 8032), 64 bytes, over "WKP1." followed
 *            by the payload's bytes (so the version is signed too)
 *
 * A pass is valid at time t when valid_from <= t < valid_until.  With a
 * key id of 8 characters and a subject id of 8, a token is 162 characters,
 * all in the QR alphanumeric set: a version 7 QR code at error correction
 * level M (45 x 45 modules), one version smaller than the same pass in
 * base64url, which needs byte mode (docs/passes.md: why base32).
 *
 * Issuer keys are the same "ID ed25519 BASE64" lines as the admin keys
 * file (admin.h; wicketctl keygen prints one), read by admin.c's parser.
 *
 * pass_verify() checks, in this order, stopping at the first problem:
 *   pass_malformed       not a pass: length, prefix, dots, base32, the
 *                        payload's lengths, characters, kind, times, bytes
 *                        left over
 *   pass_unknown_issuer  no issuer key of the pass's key id
 *   pass_tampered        the signature does not verify with that key
 *   pass_not_yet_valid   now before valid from
 *   pass_expired         now at or after valid until
 * The codes are lowercase with underscores so that they can be rules
 * reason codes as they are.  Pure and synchronous: no clock (the caller
 * passes the time), no I/O but pass_keys_load().
 */
#ifndef WICKET_PASS_H
#define WICKET_PASS_H

#include <stddef.h>
#include <stdint.h>

#define PASS_PREFIX "WKP1."
#define PASS_PREFIX_LEN 5
#define PASS_KEY_ID_MAX 64	/* the admin keys file's limit */
#define PASS_SUBJECT_MAX 63	/* registry ids: 1..63 bytes */
#define PASS_SIG_LEN 64
/* kind, two lengths, the shortest ids, two times, serial */
#define PASS_PAYLOAD_MIN (1 + 1 + 1 + 1 + 1 + 5 + 5 + 4)
#define PASS_PAYLOAD_MAX (1 + 1 + PASS_KEY_ID_MAX + 1 + PASS_SUBJECT_MAX + 5 + 5 + 4)
#define PASS_B32_LEN(n) (((n) * 8 + 4) / 5)	/* characters for n bytes */
#define PASS_TOKEN_MIN (PASS_PREFIX_LEN + PASS_B32_LEN(PASS_PAYLOAD_MIN) + 1 + \
			PASS_B32_LEN(PASS_SIG_LEN))
#define PASS_TOKEN_MAX (PASS_PREFIX_LEN + PASS_B32_LEN(PASS_PAYLOAD_MAX) + 1 + \
			PASS_B32_LEN(PASS_SIG_LEN))	/* 340 */
#define PASS_TIME_MAX ((INT64_C(1) << 40) - 1)	/* year 36812 */

enum pass_kind { PASS_PERSON = 1, PASS_HOUSEHOLD = 2 };

/* pass_verify's verdict.  PASS_INTERNAL is not a verdict on the pass: the
 * gate could not check it (out of memory, OpenSSL failing); deny it all
 * the same. */
enum pass_reason {
	PASS_OK,
	PASS_MALFORMED,
	PASS_UNKNOWN_ISSUER,
	PASS_TAMPERED,
	PASS_NOT_YET_VALID,
	PASS_EXPIRED,
	PASS_INTERNAL,
};

/* One pass.  pass_parse() fills every member from a token; pass_encode()
 * fills msg from the others to sign it. */
struct pass {
	enum pass_kind kind;
	char key_id[PASS_KEY_ID_MAX + 1];
	char subject[PASS_SUBJECT_MAX + 1];	/* the registry id */
	int64_t valid_from, valid_until;	/* Unix seconds */
	uint32_t serial;
	/* what the signature covers: PASS_PREFIX then the payload */
	unsigned char msg[PASS_PREFIX_LEN + PASS_PAYLOAD_MAX];
	size_t msg_len;
	unsigned char sig[PASS_SIG_LEN];
};

/* ---- issuer keys ---- */

struct pass_keys;

/* The issuer keys file at path, in the admin keys file's format (admin.h:
 * "KEY_ID ed25519 BASE64" lines, '#' comments).  0 with *out (possibly
 * with no keys: every pass is then pass_unknown_issuer), or -errno with
 * err = "PATH:LINE: message" or "PATH: message".  No OpenSSL call is made
 * here: the keys stay 32 raw bytes until a pass is verified. */
int pass_keys_load(const char *path, struct pass_keys **out, char *err,
		   size_t errlen);
/* The same from text in memory; name stands for the path in messages. */
int pass_keys_parse(const char *name, const char *text, size_t len,
		    struct pass_keys **out, char *err, size_t errlen);
void pass_keys_free(struct pass_keys *k);	/* accepts NULL */
size_t pass_keys_count(const struct pass_keys *k);

/* ---- tokens ---- */

/* Parse a token of len bytes (no NUL needed; a trailing newline is not
 * part of a token) strictly, without checking the signature.  0 with *p,
 * or -EINVAL with err saying what and where ("character 12: ...",
 * "payload byte 3: ...").  err may be NULL. */
int pass_parse(const char *token, size_t len, struct pass *p, char *err,
	       size_t errlen);

/* Parse and verify a token at Unix time now_s.  Returns 0 with *reason
 * PASS_OK and *p the verified pass; -EINVAL with *reason the refusal and
 * msg saying why; -ENOMEM or -EIO with *reason PASS_INTERNAL.  On a
 * refusal *p holds what could be parsed, unverified: for a log line,
 * never for a decision.  The first call that reaches the signature check
 * loads OpenSSL's default provider (about 2 MB resident, once per
 * process).  keys may be NULL (no keys).  msg may be NULL. */
int pass_verify(const struct pass_keys *keys, const char *token, size_t len,
		int64_t now_s, struct pass *p, enum pass_reason *reason,
		char *msg, size_t msglen);

/* "pass_malformed", ...; "ok" for PASS_OK, "pass_internal_error" for
 * PASS_INTERNAL. */
const char *pass_reason_code(enum pass_reason r);
/* "person", "household" */
const char *pass_kind_name(enum pass_kind k);

/* ---- issuing (wicketctl pass issue, the tests) ---- */

/* Check kind, key_id, subject, the times and fill p->msg and p->msg_len
 * from them.  0, or -EINVAL with err naming the member. */
int pass_encode(struct pass *p, char *err, size_t errlen);

/* The token of p->msg (prefix and payload) and p->sig, NUL-terminated, in
 * out (cap bytes; PASS_TOKEN_MAX + 1 is always enough).  0 with *len
 * (may be NULL), -EINVAL when p->msg does not start with the prefix,
 * -ENOSPC.  The payload is encoded as it is, valid or not (the fuzz target
 * signs arbitrary payloads). */
int pass_format(const struct pass *p, char *out, size_t cap, size_t *len);

/* Base32 as in tokens.  pass_b32_encode writes PASS_B32_LEN(n) characters
 * and a NUL (cap must hold them; -ENOSPC otherwise).  pass_b32_decode
 * decodes len characters into out (cap bytes): 0 with *outlen, or -EINVAL
 * with *bad = the offset of the first offending character (len for an
 * impossible length), -ENOSPC. */
int pass_b32_encode(const unsigned char *in, size_t n, char *out, size_t cap);
int pass_b32_decode(const char *s, size_t len, unsigned char *out, size_t cap,
		    size_t *outlen, size_t *bad);

#endif
