/*
 * pass: parse, verify and build signed QR pass tokens (format in pass.h,
 * for operators in docs/passes.md).
 *
 * A token comes from a scanner, i.e. from anyone holding a printed code,
 * so the parser trusts nothing: the length is bounded before anything is
 * decoded, base32 is strict (one spelling per byte string, so a token and
 * its bytes correspond one to one), every length inside the payload is
 * bounded and checked against what is left, and no byte may follow the
 * serial.  The whole parse works in the caller's struct pass: no
 * allocation per token.
 *
 * Issuer keys: the file has the admin keys file's format, so admin.c's
 * parser checks it and gives its messages (one set of rules for both
 * files).  admin.h does not hand out the raw public key, so after a file
 * parsed cleanly the base64 field of each key line is decoded once more
 * here (admin_b64_decode) into a table beside the admin_keys; with an
 * accessor in admin.h (admin_keys_pub) that scan would go.
 *
 * Cost of OpenSSL, as in admin.c: nothing until a well-formed pass of a
 * known issuer comes; then one EVP_PKEY and one EVP_MD_CTX per
 * verification, and the first one loads OpenSSL 3's default provider for
 * the life of the process (about 2 MB resident).  A pass is verified per
 * scan, a few per second at most, so keys are not cached as EVP_PKEYs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "admin.h"
#include "pass.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

#define ED25519_PUB_LEN 32
#define SHOW_LEN 40		/* bytes of untrusted text quoted in a message */

struct pass_keys {
	struct admin_keys *ak;
};

/* ---- small helpers ---- */

static int say(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);

static int say(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || size == 0)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Untrusted bytes for a message: printable ASCII kept, others '?'. */
static const char *show(const unsigned char *s, size_t len, char *buf,
			size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < size; i++) {
		if (o + 4 >= size && i + 1 < len) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	}
	buf[o] = '\0';
	return buf;
}

static int key_id_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* As the registry takes ids: no space, control character or DEL. */
static int subject_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

/* Times as the issuer tool and the messages print them. */
static const char *fmt_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "@%" PRId64, t);
	return buf;
}

/* ---- base32 ---- */

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static int b32_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int pass_b32_encode(const unsigned char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0, need = PASS_B32_LEN(n);
	uint32_t acc = 0;
	int bits = 0;

	if (cap < need + 1)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return 0;
}

int pass_b32_decode(const char *s, size_t len, unsigned char *out, size_t cap,
		    size_t *outlen, size_t *bad)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	*outlen = 0;
	*bad = 0;
	/* 1, 3 or 6 characters after the last full group of 8 would leave
	 * a whole character of padding bits: no encoder writes that */
	switch (len % 8) {
	case 1: case 3: case 6:
		*bad = len;
		return -EINVAL;
	}
	if (len / 8 * 5 + (len % 8) * 5 / 8 > cap)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++) {
		int v = b32_value((unsigned char)s[i]);

		if (v < 0) {
			*bad = i;
			return -EINVAL;
		}
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	if (acc != 0) {		/* unused bits of the last character */
		*bad = len - 1;
		return -EINVAL;
	}
	*outlen = o;
	return 0;
}

int pass_keys_parse(const char *name, const char *text, size_t len,
		    struct pass_keys **out, char *err, size_t errlen)
{
	struct pass_keys *k;
	int rc;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	rc = admin_keys_parse(name, text, len, &k->ak, err, errlen);
	if (rc < 0) {
		pass_keys_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int pass_keys_load(const char *path, struct pass_keys **out, char *err,
		   size_t errlen)
{
	struct pass_keys *k;
	int rc;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	rc = admin_keys_load(path, &k->ak, err, errlen);
	if (rc < 0) {
		pass_keys_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

void pass_keys_free(struct pass_keys *k)
{
	if (k == NULL)
		return;
	admin_keys_free(k->ak);
	free(k);
}

size_t pass_keys_count(const struct pass_keys *k)
{
	return k ? admin_keys_count(k->ak) : 0;
}

static const unsigned char *keys_find(const struct pass_keys *k,
				      const char *id)
{
	return k ? admin_keys_pub(k->ak, id) : NULL;
}

/* ---- parsing ---- */

static uint64_t get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* The payload's fields (b: n bytes) into p. */
static int parse_payload(const unsigned char *b, size_t n, struct pass *p,
			 char *err, size_t errlen)
{
	char show_buf[SHOW_LEN];
	size_t at = 0, l;

	/* n >= PASS_PAYLOAD_MIN: the fixed fields and both length bytes
	 * are there; each id is checked against what is left */
	if (b[0] != PASS_PERSON && b[0] != PASS_HOUSEHOLD)
		return say(err, errlen,
			   "payload byte 1: kind %u is neither 1 (person) nor 2 (household)",
			   b[0]);
	p->kind = (enum pass_kind)b[0];
	at = 1;
	l = b[at];
	if (l < 1 || l > PASS_KEY_ID_MAX || l > n - at - 1 - (PASS_PAYLOAD_MIN - 3))
		return say(err, errlen,
			   "payload byte %zu: key id length %zu is not 1-%d or runs past the payload",
			   at + 1, l, PASS_KEY_ID_MAX);
	at++;
	for (size_t i = 0; i < l; i++)
		if (!key_id_char(b[at + i]))
			return say(err, errlen,
				   "payload byte %zu: key id '%s' is not A-Z a-z 0-9 . _ -",
				   at + i + 1, show(b + at, l, show_buf, sizeof(show_buf)));
	memcpy(p->key_id, b + at, l);
	p->key_id[l] = '\0';
	at += l;
	l = b[at];
	/* what must follow the subject: two times and the serial */
	if (l < 1 || l > PASS_SUBJECT_MAX || l > n - at - 1 - 14)
		return say(err, errlen,
			   "payload byte %zu: subject id length %zu is not 1-%d or runs past the payload",
			   at + 1, l, PASS_SUBJECT_MAX);
	at++;
	for (size_t i = 0; i < l; i++)
		if (!subject_char(b[at + i]))
			return say(err, errlen,
				   "payload byte %zu: a space or control character in the subject id",
				   at + i + 1);
	memcpy(p->subject, b + at, l);
	p->subject[l] = '\0';
	at += l;
	if (n - at != 14)
		return say(err, errlen,
			   "payload byte %zu: %zu bytes after the subject id; the times and serial are 14",
			   at + 1, n - at);
	p->valid_from = (int64_t)get_be(b + at, 5);
	p->valid_until = (int64_t)get_be(b + at + 5, 5);
	p->serial = (uint32_t)get_be(b + at + 10, 4);
	if (p->valid_until <= p->valid_from)
		return say(err, errlen,
			   "payload byte %zu: valid until (%" PRId64 ") is not after valid from (%" PRId64 ")",
			   at + 6, p->valid_until, p->valid_from);
	return 0;
}

/* pass_b32_decode's refusal of part (len characters at offset off in the
 * token) as a message with the token's character position. */
static int b32_error(const char *s, size_t len, size_t bad, size_t off,
		     const char *part, char *err, size_t errlen)
{
	if (bad == len)
		return say(err, errlen,
			   "the %s's length %zu is not one base32 makes", part, len);
	if (b32_value((unsigned char)s[bad]) >= 0)	/* the last one */
		return say(err, errlen,
			   "character %zu: the unused bits of the %s's last character are not zero",
			   off + bad + 1, part);
	return say(err, errlen,
		   "character %zu: not base32 (A-Z 2-7, upper case, no padding)",
		   off + bad + 1);
}

int pass_parse(const char *token, size_t len, struct pass *p, char *err,
	       size_t errlen)
{
	const unsigned char *t = (const unsigned char *)token;
	const char *dot;
	size_t plen, slen, n, bad;
	int rc;

	memset(p, 0, sizeof(*p));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len < PASS_PREFIX_LEN || memcmp(token, PASS_PREFIX, PASS_PREFIX_LEN) != 0) {
		char b[SHOW_LEN];

		return say(err, errlen, "does not start with '%s' (starts '%s')",
			   PASS_PREFIX, show(t, len < 8 ? len : 8, b, sizeof(b)));
	}
	if (len < PASS_TOKEN_MIN || len > PASS_TOKEN_MAX)
		return say(err, errlen,
			   "%zu characters; a pass has %d to %d", len,
			   PASS_TOKEN_MIN, PASS_TOKEN_MAX);
	dot = memchr(token + PASS_PREFIX_LEN, '.', len - PASS_PREFIX_LEN);
	if (dot == NULL)
		return say(err, errlen, "no '.' between payload and signature");
	plen = (size_t)(dot - token) - PASS_PREFIX_LEN;
	slen = len - PASS_PREFIX_LEN - plen - 1;
	if (memchr(dot + 1, '.', slen) != NULL)
		return say(err, errlen, "character %zu: a third '.'",
			   (size_t)((const char *)memchr(dot + 1, '.', slen) - token) + 1);
	if (slen != PASS_B32_LEN(PASS_SIG_LEN))
		return say(err, errlen,
			   "the signature has %zu characters; an Ed25519 signature is %d",
			   slen, PASS_B32_LEN(PASS_SIG_LEN));
	memcpy(p->msg, PASS_PREFIX, PASS_PREFIX_LEN);
	rc = pass_b32_decode(token + PASS_PREFIX_LEN, plen,
			     p->msg + PASS_PREFIX_LEN,
			     sizeof(p->msg) - PASS_PREFIX_LEN, &n, &bad);
	if (rc == -ENOSPC || (rc == 0 && (n < PASS_PAYLOAD_MIN || n > PASS_PAYLOAD_MAX)))
		return say(err, errlen, "the payload has %zu characters; it has %d to %d",
			   plen, PASS_B32_LEN(PASS_PAYLOAD_MIN),
			   PASS_B32_LEN(PASS_PAYLOAD_MAX));
	if (rc < 0)
		return b32_error(token + PASS_PREFIX_LEN, plen, bad,
				 PASS_PREFIX_LEN, "payload", err, errlen);
	p->msg_len = PASS_PREFIX_LEN + n;
	rc = pass_b32_decode(dot + 1, slen, p->sig, sizeof(p->sig), &n, &bad);
	if (rc < 0)
		return b32_error(dot + 1, slen, bad, (size_t)(dot + 1 - token),
				 "signature", err, errlen);
	return parse_payload(p->msg + PASS_PREFIX_LEN, p->msg_len - PASS_PREFIX_LEN,
			     p, err, errlen);
}

/* ---- verifying ---- */

int pass_verify(const struct pass_keys *keys, const char *token, size_t len,
		int64_t now_s, struct pass *p, enum pass_reason *reason,
		char *msg, size_t msglen)
{
	const unsigned char *pub;
	char t1[32], t2[32];
	int rc;

	*reason = PASS_MALFORMED;
	if (pass_parse(token, len, p, msg, msglen) < 0)
		return -EINVAL;
	pub = keys_find(keys, p->key_id);
	if (pub == NULL) {
		*reason = PASS_UNKNOWN_ISSUER;
		return say(msg, msglen, "no issuer key '%s'", p->key_id);
	}
	rc = admin_ed25519_verify(pub, p->sig, p->msg, p->msg_len);
	if (rc < 0) {
		*reason = PASS_INTERNAL;
		say(msg, msglen, "cannot check the signature: %s",
		    rc == -ENOMEM ? "out of memory" : "OpenSSL failed");
		return rc;
	}
	if (rc == 0) {
		*reason = PASS_TAMPERED;
		return say(msg, msglen,
			   "the signature does not match the pass and key '%s'",
			   p->key_id);
	}
	if (now_s < p->valid_from) {
		*reason = PASS_NOT_YET_VALID;
		return say(msg, msglen, "valid from %s, now %s",
			   fmt_time(p->valid_from, t1, sizeof(t1)),
			   fmt_time(now_s, t2, sizeof(t2)));
	}
	if (now_s >= p->valid_until) {
		*reason = PASS_EXPIRED;
		return say(msg, msglen, "valid until %s, now %s",
			   fmt_time(p->valid_until, t1, sizeof(t1)),
			   fmt_time(now_s, t2, sizeof(t2)));
	}
	*reason = PASS_OK;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	return 0;
}

const char *pass_reason_code(enum pass_reason r)
{
	switch (r) {
	case PASS_OK:
		return "ok";
	case PASS_MALFORMED:
		return "pass_malformed";
	case PASS_UNKNOWN_ISSUER:
		return "pass_unknown_issuer";
	case PASS_TAMPERED:
		return "pass_tampered";
	case PASS_NOT_YET_VALID:
		return "pass_not_yet_valid";
	case PASS_EXPIRED:
		return "pass_expired";
	case PASS_INTERNAL:
		break;
	}
	return "pass_internal_error";
}

const char *pass_kind_name(enum pass_kind k)
{
	return k == PASS_HOUSEHOLD ? "household" : "person";
}

/* ---- issuing ---- */

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

int pass_encode(struct pass *p, char *err, size_t errlen)
{
	size_t kl = strnlen(p->key_id, sizeof(p->key_id));
	size_t sl = strnlen(p->subject, sizeof(p->subject));
	unsigned char *b = p->msg;
	size_t at;

	if (p->kind != PASS_PERSON && p->kind != PASS_HOUSEHOLD)
		return say(err, errlen, "kind: neither person nor household");
	if (kl < 1 || kl > PASS_KEY_ID_MAX)
		return say(err, errlen, "key id: not 1-%d characters", PASS_KEY_ID_MAX);
	for (size_t i = 0; i < kl; i++)
		if (!key_id_char((unsigned char)p->key_id[i]))
			return say(err, errlen, "key id '%s': not A-Z a-z 0-9 . _ -",
				   p->key_id);
	if (sl < 1 || sl > PASS_SUBJECT_MAX)
		return say(err, errlen, "subject id: not 1-%d bytes", PASS_SUBJECT_MAX);
	for (size_t i = 0; i < sl; i++)
		if (!subject_char((unsigned char)p->subject[i]))
			return say(err, errlen,
				   "subject id: a space or control character at byte %zu",
				   i + 1);
	if (p->valid_from < 0 || p->valid_from > PASS_TIME_MAX ||
	    p->valid_until < 0 || p->valid_until > PASS_TIME_MAX)
		return say(err, errlen, "times: not within 1970 .. year 36812");
	if (p->valid_until <= p->valid_from)
		return say(err, errlen, "valid until is not after valid from");
	memcpy(b, PASS_PREFIX, PASS_PREFIX_LEN);
	at = PASS_PREFIX_LEN;
	b[at++] = (unsigned char)p->kind;
	b[at++] = (unsigned char)kl;
	memcpy(b + at, p->key_id, kl);
	at += kl;
	b[at++] = (unsigned char)sl;
	memcpy(b + at, p->subject, sl);
	at += sl;
	put_be(b + at, (uint64_t)p->valid_from, 5);
	put_be(b + at + 5, (uint64_t)p->valid_until, 5);
	put_be(b + at + 10, p->serial, 4);
	p->msg_len = at + 14;
	return 0;
}

int pass_format(const struct pass *p, char *out, size_t cap, size_t *len)
{
	size_t pl, at;

	if (p->msg_len < PASS_PREFIX_LEN || p->msg_len > sizeof(p->msg) ||
	    memcmp(p->msg, PASS_PREFIX, PASS_PREFIX_LEN) != 0)
		return -EINVAL;
	pl = p->msg_len - PASS_PREFIX_LEN;
	at = PASS_PREFIX_LEN + PASS_B32_LEN(pl) + 1 + PASS_B32_LEN(PASS_SIG_LEN);
	if (cap < at + 1)
		return -ENOSPC;
	memcpy(out, PASS_PREFIX, PASS_PREFIX_LEN);
	at = PASS_PREFIX_LEN;
	pass_b32_encode(p->msg + PASS_PREFIX_LEN, pl, out + at, cap - at);
	at += PASS_B32_LEN(pl);
	out[at++] = '.';
	pass_b32_encode(p->sig, PASS_SIG_LEN, out + at, cap - at);
	at += PASS_B32_LEN(PASS_SIG_LEN);
	if (len != NULL)
		*len = at;
	return 0;
}
