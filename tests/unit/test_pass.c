/*
 * pass: signed QR pass tokens with real Ed25519 keys made here (the test
 * signs with EVP_DigestSign itself, so a pass.c that signed and verified
 * wrongly in the same way would still fail).  Each verdict from a crafted
 * token, the check order when a token has two faults, the validity
 * boundaries, malformed tokens and payloads (every length and character
 * rule, with the position the message names), base32 against RFC 4648's
 * vectors and its strictness, the issuer keys file, the encoder's checks
 * and the sizes the design promises.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "pass.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define FROM 1767225600		/* 2026-01-01T00:00:00Z */
#define UNTIL (FROM + 86400)

static EVP_PKEY *ops_key, *old_key, *stranger_key;
static struct pass_keys *keys;

/* --- helpers ------------------------------------------------------------- */

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	assert_non_null(k);
	return k;
}

/* "ID ed25519 BASE64\n" for k */
static void key_line(char *out, size_t cap, const char *id, EVP_PKEY *k)
{
	unsigned char raw[32];
	char b64[64];
	size_t n = sizeof(raw);

	assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &n), 1);
	assert_int_equal(n, 32);
	EVP_EncodeBlock((unsigned char *)b64, raw, 32);
	snprintf(out, cap, "%s ed25519 %s\n", id, b64);
}

static void sign(EVP_PKEY *k, const void *data, size_t len,
		 unsigned char sig[64])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = 64;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &n, data, len), 1);
	assert_int_equal(n, 64);
	EVP_MD_CTX_free(ctx);
}

/* The standard pass: person p-0042 by ops-2026, FROM..UNTIL. */
static void base_pass(struct pass *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = PASS_PERSON;
	snprintf(p->key_id, sizeof(p->key_id), "ops-2026");
	snprintf(p->subject, sizeof(p->subject), "p-0042");
	p->valid_from = FROM;
	p->valid_until = UNTIL;
	p->serial = 0xdeadbeef;
}

/* Encode p, sign it with k, format it into tok. */
static size_t issue(struct pass *p, EVP_PKEY *k, char *tok, size_t cap)
{
	char err[128];
	size_t len;

	assert_int_equal(pass_encode(p, err, sizeof(err)), 0);
	sign(k, p->msg, p->msg_len, p->sig);
	assert_int_equal(pass_format(p, tok, cap, &len), 0);
	assert_int_equal(strlen(tok), len);
	return len;
}

/* A token of raw payload bytes (any, valid or not), signed with ops. */
static size_t raw_token(const unsigned char *payload, size_t n, char *tok,
			size_t cap)
{
	struct pass p;
	size_t len;

	memset(&p, 0, sizeof(p));
	assert_true(n <= PASS_PAYLOAD_MAX);
	memcpy(p.msg, PASS_PREFIX, PASS_PREFIX_LEN);
	memcpy(p.msg + PASS_PREFIX_LEN, payload, n);
	p.msg_len = PASS_PREFIX_LEN + n;
	sign(ops_key, p.msg, p.msg_len, p.sig);
	assert_int_equal(pass_format(&p, tok, cap, &len), 0);
	return len;
}

static int setup(void **state)
{
	char text[512], l1[128], l2[128], err[256];

	(void)state;
	ops_key = new_key();
	old_key = new_key();
	stranger_key = new_key();
	key_line(l1, sizeof(l1), "ops-2026", ops_key);
	key_line(l2, sizeof(l2), "old", old_key);
	snprintf(text, sizeof(text), "# issuers\n\n%s  \t\n%s", l1, l2);
	if (pass_keys_parse("issuers", text, strlen(text), &keys, err,
			    sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pass_keys_free(keys);
	EVP_PKEY_free(ops_key);
	EVP_PKEY_free(old_key);
	EVP_PKEY_free(stranger_key);
	return 0;
}

/* --- tests --------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	static const struct {
		enum pass_kind kind;
		const char *key, *subject;
		int64_t from, until;
		uint32_t serial;
	} cases[] = {
		{ PASS_PERSON, "ops-2026", "p-0042", FROM, UNTIL, 0xdeadbeef },
		{ PASS_HOUSEHOLD, "ops-2026", "h-7", FROM, FROM + 1, 0 },
		{ PASS_PERSON, "old", "\xc3\xa9t\xc3\xa9", 0, PASS_TIME_MAX, 0xffffffff },
		{ PASS_HOUSEHOLD, "old", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
		  PASS_TIME_MAX - 1, PASS_TIME_MAX, 1 },
	};
	char tok[PASS_TOKEN_MAX + 1], msg[256];

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct pass p, q;
		enum pass_reason r;
		size_t len;

		memset(&p, 0, sizeof(p));
		p.kind = cases[i].kind;
		snprintf(p.key_id, sizeof(p.key_id), "%s", cases[i].key);
		snprintf(p.subject, sizeof(p.subject), "%s", cases[i].subject);
		p.valid_from = cases[i].from;
		p.valid_until = cases[i].until;
		p.serial = cases[i].serial;
		len = issue(&p, strcmp(cases[i].key, "old") ? ops_key : old_key,
			    tok, sizeof(tok));
		assert_int_equal(pass_verify(keys, tok, len, cases[i].from, &q,
					     &r, msg, sizeof(msg)), 0);
		assert_int_equal(r, PASS_OK);
		assert_string_equal(msg, "");
		assert_int_equal(q.kind, cases[i].kind);
		assert_string_equal(q.key_id, cases[i].key);
		assert_string_equal(q.subject, cases[i].subject);
		assert_int_equal(q.valid_from, cases[i].from);
		assert_int_equal(q.valid_until, cases[i].until);
		assert_int_equal(q.serial, cases[i].serial);
		assert_int_equal(q.msg_len, p.msg_len);
		assert_memory_equal(q.msg, p.msg, p.msg_len);
		/* every character in the QR alphanumeric set */
		assert_int_equal(strspn(tok, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"),
				 len);
	}
}

/* What a test case does to the standard pass before or after signing. */
enum mutation {
	M_NONE,
	M_SIGN_OTHER,		/* ops-2026's id, old's key */
	M_SIGN_STRANGER,	/* id "nobody", a key nobody knows */
	M_ID_OLD,		/* id "old", signed with old's key */
	M_FLIP_SERIAL,		/* last payload byte flipped after signing */
	M_FLIP_SUBJECT,		/* 'p' of the subject made 'q' */
	M_FLIP_SIG,		/* a signature byte flipped */
	M_STRANGER_FLIP,	/* unknown issuer and a bad signature */
	M_UNTIL_LATER,		/* valid until moved after signing */
	M_SIGN_NO_PREFIX,	/* signature over the payload without WKP1. */
};

static void test_reasons(void **state)
{
	static const struct {
		const char *name;
		enum mutation m;
		int64_t now;
		enum pass_reason want;
		const char *msg;
	} cases[] = {
		{ "valid at from", M_NONE, FROM, PASS_OK, "" },
		{ "valid a second before until", M_NONE, UNTIL - 1, PASS_OK, "" },
		{ "expired at until", M_NONE, UNTIL, PASS_EXPIRED,
		  "valid until 2026-01-02T00:00:00Z, now 2026-01-02T00:00:00Z" },
		{ "expired long after", M_NONE, UNTIL + 365 * 86400, PASS_EXPIRED,
		  "valid until 2026-01-02T00:00:00Z, now 2027-01-02T00:00:00Z" },
		{ "not yet valid a second before", M_NONE, FROM - 1,
		  PASS_NOT_YET_VALID,
		  "valid from 2026-01-01T00:00:00Z, now 2025-12-31T23:59:59Z" },
		{ "not yet valid at 0", M_NONE, 0, PASS_NOT_YET_VALID,
		  "valid from 2026-01-01T00:00:00Z, now 1970-01-01T00:00:00Z" },
		{ "another key of the file under ops's id", M_SIGN_OTHER, FROM,
		  PASS_TAMPERED,
		  "the signature does not match the pass and key 'ops-2026'" },
		{ "a key the gate does not know", M_SIGN_STRANGER, FROM,
		  PASS_UNKNOWN_ISSUER, "no issuer key 'nobody'" },
		{ "the second key of the file", M_ID_OLD, FROM, PASS_OK, "" },
		{ "serial changed", M_FLIP_SERIAL, FROM, PASS_TAMPERED,
		  "the signature does not match the pass and key 'ops-2026'" },
		{ "subject changed", M_FLIP_SUBJECT, FROM, PASS_TAMPERED, NULL },
		{ "signature changed", M_FLIP_SIG, FROM, PASS_TAMPERED, NULL },
		{ "signed without the prefix", M_SIGN_NO_PREFIX, FROM,
		  PASS_TAMPERED, NULL },
		/* the order: issuer before signature before times */
		{ "unknown issuer and bad signature", M_STRANGER_FLIP, FROM,
		  PASS_UNKNOWN_ISSUER, NULL },
		{ "tampered and expired", M_FLIP_SERIAL, UNTIL + 1, PASS_TAMPERED,
		  NULL },
		{ "tampered and not yet valid", M_FLIP_SIG, FROM - 1,
		  PASS_TAMPERED, NULL },
		{ "extended after signing", M_UNTIL_LATER, UNTIL + 10,
		  PASS_TAMPERED, NULL },
		{ "unknown issuer, expired", M_SIGN_STRANGER, UNTIL,
		  PASS_UNKNOWN_ISSUER, NULL },
	};
	char tok[PASS_TOKEN_MAX + 1], msg[256];

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct pass p, q;
		enum pass_reason r = PASS_OK;
		size_t len;
		int rc;
		EVP_PKEY *k = ops_key;

		base_pass(&p);
		switch (cases[i].m) {
		case M_SIGN_OTHER:
			k = old_key;
			break;
		case M_SIGN_STRANGER:
		case M_STRANGER_FLIP:
			snprintf(p.key_id, sizeof(p.key_id), "nobody");
			k = stranger_key;
			break;
		case M_ID_OLD:
			snprintf(p.key_id, sizeof(p.key_id), "old");
			k = old_key;
			break;
		default:
			break;
		}
		issue(&p, k, tok, sizeof(tok));
		switch (cases[i].m) {
		case M_FLIP_SERIAL:
			p.msg[p.msg_len - 1] ^= 0x01;
			break;
		case M_FLIP_SUBJECT:
			/* kind, length, "ops-2026", length, then 'p' */
			assert_int_equal(p.msg[PASS_PREFIX_LEN + 11], 'p');
			p.msg[PASS_PREFIX_LEN + 11] = 'q';
			break;
		case M_FLIP_SIG:
		case M_STRANGER_FLIP:
			p.sig[17] ^= 0x40;
			break;
		case M_UNTIL_LATER:
			p.valid_until += 3600;
			assert_int_equal(pass_encode(&p, NULL, 0), 0);
			break;
		case M_SIGN_NO_PREFIX:
			sign(ops_key, p.msg + PASS_PREFIX_LEN,
			     p.msg_len - PASS_PREFIX_LEN, p.sig);
			break;
		default:
			break;
		}
		assert_int_equal(pass_format(&p, tok, sizeof(tok), &len), 0);
		rc = pass_verify(keys, tok, len, cases[i].now, &q, &r, msg,
				 sizeof(msg));
		if (r != cases[i].want)
			fail_msg("%s: got %s (%s), want %s", cases[i].name,
				 pass_reason_code(r), msg,
				 pass_reason_code(cases[i].want));
		assert_int_equal(rc, cases[i].want == PASS_OK ? 0 : -EINVAL);
		if (cases[i].msg != NULL)
			assert_string_equal(msg, cases[i].msg);
		/* the subject is reported whenever the token parsed */
		assert_string_equal(q.subject,
				    cases[i].m == M_FLIP_SUBJECT ? "q-0042" : "p-0042");
	}
}

static void test_no_keys(void **state)
{
	struct pass p, q;
	struct pass_keys *none;
	char tok[PASS_TOKEN_MAX + 1], err[128];
	enum pass_reason r;
	size_t len;

	(void)state;
	base_pass(&p);
	len = issue(&p, ops_key, tok, sizeof(tok));
	assert_int_equal(pass_verify(NULL, tok, len, FROM, &q, &r, NULL, 0),
			 -EINVAL);
	assert_int_equal(r, PASS_UNKNOWN_ISSUER);
	assert_int_equal(pass_keys_parse("empty", "# none\n", 7, &none, err,
					 sizeof(err)), 0);
	assert_int_equal(pass_keys_count(none), 0);
	assert_int_equal(pass_verify(none, tok, len, FROM, &q, &r, err,
				     sizeof(err)), -EINVAL);
	assert_int_equal(r, PASS_UNKNOWN_ISSUER);
	assert_string_equal(err, "no issuer key 'ops-2026'");
	pass_keys_free(none);
	pass_keys_free(NULL);
}

/* Token text faults.  @ in a case stands for a valid token; "@-N" cuts
 * its last N characters, "@+S" appends S, "@[I]=C" puts C at I. */
static void test_malformed_text(void **state)
{
	static const struct {
		const char *name, *tok;
		const char *err;
	} cases[] = {
		{ "empty", "", "does not start with 'WKP1.' (starts '')" },
		{ "prefix only", "WKP1.", "5 characters; a pass has 140 to 340" },
		{ "another version", "WKP2.@5", "does not start with 'WKP1.' (starts 'WKP2." },
		{ "lower case prefix", "wkp1.@5", "does not start with 'WKP1.'" },
		{ "a URL", "https://example.org/pass", "does not start with 'WKP1.'" },
		{ "cut by one", "@-1", "the signature has 102 characters; an Ed25519 signature is 103" },
		{ "cut to the payload", "@-104", "55 characters; a pass has 140 to 340" },
		{ "no second dot", "@[56]=A", "no '.' between payload and signature" },
		{ "newline kept", "@+\n", "the signature has 104 characters; an Ed25519 signature is 103" },
		{ "extra dot at the end", "@+.", "character 160: a third '.'" },
		{ "extra dot inside", "@[70]=.", "character 70: a third '.'" },
		{ "dot in the payload", "@[20]=.", "character 56: a third '.'" },
		{ "digit 1 in the payload", "@[7]=1", "character 7: not base32 (A-Z 2-7, upper case, no padding)" },
		{ "digit 8 in the signature", "@[100]=8", "character 100: not base32" },
		{ "lower case letter", "@[9]=a", "character 9: not base32" },
		{ "padding", "@[159]==", "character 159: not base32" },
		{ "space", "@[30]= ", "character 30: not base32" },
		{ "NUL", "@[31]=\x01", "character 31: not base32" },
		{ "bits left in the signature", "@[159]=B",
		  "character 159: the unused bits of the signature's last character are not zero" },
		{ "oversize", "WKP1.@5@5@5", "characters; a pass has 140 to 340" },
	};
	char good[PASS_TOKEN_MAX + 1], t[1024], err[256];
	struct pass p;
	size_t glen;

	(void)state;
	base_pass(&p);
	glen = issue(&p, ops_key, good, sizeof(good));
	/* the layout the positions above assume */
	assert_int_equal(glen, 159);
	assert_int_equal(good[55], '.');
	for (size_t i = 0; i < N_OF(cases); i++) {
		const char *s = cases[i].tok;
		size_t n = 0;
		struct pass q;
		enum pass_reason r;

		if (s[0] == '@' && s[1] == '-') {
			n = glen - strtoul(s + 2, NULL, 10);
			memcpy(t, good, n);
		} else if (s[0] == '@' && s[1] == '+') {
			n = glen + strlen(s + 2);
			memcpy(t, good, glen);
			memcpy(t + glen, s + 2, strlen(s + 2));
		} else if (s[0] == '@' && s[1] == '[') {
			size_t at = strtoul(s + 2, NULL, 10);
			const char *c = strchr(s, '=') + 1;

			n = glen;
			memcpy(t, good, glen);
			t[at - 1] = *c;	/* positions are 1-based */
		} else {
			/* "@5" is the token without its prefix */
			for (const char *c = s; *c; c++) {
				if (c[0] == '@' && c[1] == '5') {
					memcpy(t + n, good + 5, glen - 5);
					n += glen - 5;
					c++;
				} else {
					t[n++] = *c;
				}
			}
		}
		assert_int_equal(pass_parse(t, n, &q, err, sizeof(err)), -EINVAL);
		if (strstr(err, cases[i].err) == NULL)
			fail_msg("%s: '%s' not in '%s'", cases[i].name,
				 cases[i].err, err);
		assert_int_equal(pass_verify(keys, t, n, FROM, &q, &r, NULL, 0),
				 -EINVAL);
		assert_int_equal(r, PASS_MALFORMED);
	}
}

/* Payload faults, signed with a known key (so only the format can refuse
 * them: format comes before the signature).  Bytes as hex, "K" for the
 * 8 bytes "ops-2026", "S" for "p-0042", "T" for the two times. */
static void test_malformed_payload(void **state)
{
	static const struct {
		const char *name, *hex, *err;
	} cases[] = {
		{ "the good one", "01 08K 06S T deadbeef", NULL },
		{ "kind 0", "00 08K 06S T deadbeef",
		  "payload byte 1: kind 0 is neither 1 (person) nor 2 (household)" },
		{ "kind 3", "03 08K 06S T deadbeef", "kind 3" },
		{ "key id length 0", "01 00K 06S T deadbeef",
		  "payload byte 2: key id length 0 is not 1-64" },
		{ "key id longer than said", "01 07K 06S T deadbeef",
		  "payload byte 10: subject id length 54" },
		{ "key id length past the end", "01 7fK 06S T deadbeef",
		  "payload byte 2: key id length 127" },
		{ "key id with a space", "01 04 6f707320 06S T deadbeef",
		  "payload byte 6: key id 'ops ' is not A-Z a-z 0-9 . _ -" },
		{ "key id with a NUL", "01 04 6f700073 06S T deadbeef",
		  "payload byte 5: key id 'op?s'" },
		{ "subject length 0", "01 08K 00S T deadbeef",
		  "payload byte 11: subject id length 0 is not 1-63" },
		{ "subject length 64", "01 08K 40 "
		  "41414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141"
		  " T deadbeef", "subject id length 64 is not 1-63" },
		{ "subject past the end", "01 08K 14S T deadbeef",
		  "payload byte 11: subject id length 20" },
		{ "subject with a space", "01 08K 03 612062 T deadbeef",
		  "payload byte 13: a space or control character in the subject id" },
		{ "subject with DEL", "01 08K 01 7f T deadbeef",
		  "payload byte 12: a space" },
		{ "one byte too many", "01 08K 06S T deadbeef 00",
		  "payload byte 18: 15 bytes after the subject id; the times and serial are 14" },
		{ "one byte short", "01 08K 06S T deadbe",
		  "payload byte 11: subject id length 6 is not 1-63 or runs past the payload" },
		{ "until equals from", "01 08K 06S 006955b900 006955b900 deadbeef",
		  "payload byte 23: valid until (1767225600) is not after valid from (1767225600)" },
		{ "until before from", "01 08K 06S 006955b900 0000000001 deadbeef",
		  "valid until (1) is not after valid from" },
		{ "too short for a pass", "01 01 41 01 42 0000000000 0000000001 0000",
		  "137 characters; a pass has 140 to 340" },
		{ "the shortest", "01 01 41 01 42 0000000000 0000000001 00000000",
		  NULL },
	};
	char tok[PASS_TOKEN_MAX + 1], err[256];

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		unsigned char b[PASS_PAYLOAD_MAX];
		size_t n = 0, len;
		struct pass q;
		enum pass_reason r;
		int rc;

		for (const char *c = cases[i].hex; *c; c++) {
			if (*c == ' ')
				continue;
			if (*c == 'K' || *c == 'S') {
				const char *s = *c == 'K' ? "ops-2026" : "p-0042";

				memcpy(b + n, s, strlen(s));
				n += strlen(s);
				continue;
			}
			if (*c == 'T') {
				static const unsigned char t[] = {
					0x00, 0x69, 0x55, 0xb9, 0x00,
					0x00, 0x69, 0x57, 0x0a, 0x80,
				};

				memcpy(b + n, t, sizeof(t));
				n += sizeof(t);
				continue;
			}
			assert_true(sscanf(c, "%2hhx", &b[n]) == 1);
			n++;
			c++;
		}
		len = raw_token(b, n, tok, sizeof(tok));
		rc = pass_verify(keys, tok, len, FROM, &q, &r, err, sizeof(err));
		if (cases[i].err == NULL) {
			/* well formed: the good one verifies; the shortest
			 * names an issuer the gate does not have */
			if (pass_parse(tok, len, &q, err, sizeof(err)) != 0)
				fail_msg("%s: refused: %s", cases[i].name, err);
			assert_int_equal(r, q.key_id[0] == 'A' ?
					 PASS_UNKNOWN_ISSUER : PASS_OK);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(r, PASS_MALFORMED);
		if (strstr(err, cases[i].err) == NULL)
			fail_msg("%s: '%s' not in '%s'", cases[i].name,
				 cases[i].err, err);
	}
}

static void test_b32(void **state)
{
	/* RFC 4648 section 10, without the padding */
	static const struct {
		const char *raw, *b32;
	} vec[] = {
		{ "", "" }, { "f", "MY" }, { "fo", "MZXQ" }, { "foo", "MZXW6" },
		{ "foob", "MZXW6YQ" }, { "fooba", "MZXW6YTB" },
		{ "foobar", "MZXW6YTBOI" },
	};
	static const struct {
		const char *s;
		size_t bad;
	} refused[] = {
		{ "M", 1 }, { "MZX", 3 }, { "MZXW6Y", 6 }, { "MZXW6YTBO", 9 },
		{ "MZ", 1 }, { "MZXR", 3 }, { "MZXW7", 4 }, { "MZXW6YR", 6 },
		{ "MZXW6YTBOJ", 9 },
		{ "my", 0 }, { "MY==", 2 }, { "M1", 1 }, { "M8", 1 },
		{ "MZXW6YT ", 7 }, { "0Y", 0 },
	};
	unsigned char out[16];
	char enc[32];
	size_t n, bad;

	(void)state;
	for (size_t i = 0; i < N_OF(vec); i++) {
		size_t rl = strlen(vec[i].raw);

		assert_int_equal(pass_b32_encode((const unsigned char *)vec[i].raw,
						 rl, enc, sizeof(enc)), 0);
		assert_string_equal(enc, vec[i].b32);
		assert_int_equal(PASS_B32_LEN(rl), strlen(vec[i].b32));
		assert_int_equal(pass_b32_decode(vec[i].b32, strlen(vec[i].b32),
						 out, sizeof(out), &n, &bad), 0);
		assert_int_equal(n, rl);
		assert_memory_equal(out, vec[i].raw, rl);
	}
	for (size_t i = 0; i < N_OF(refused); i++) {
		int rc = pass_b32_decode(refused[i].s, strlen(refused[i].s),
					 out, sizeof(out), &n, &bad);

		if (rc != -EINVAL || bad != refused[i].bad)
			fail_msg("'%s': rc %d bad %zu, want -EINVAL at %zu",
				 refused[i].s, rc, bad, refused[i].bad);
	}
	/* room */
	assert_int_equal(pass_b32_encode((const unsigned char *)"foo", 3, enc, 5),
			 -ENOSPC);
	assert_int_equal(pass_b32_encode((const unsigned char *)"foo", 3, enc, 6), 0);
	assert_int_equal(pass_b32_decode("MZXW6", 5, out, 2, &n, &bad), -ENOSPC);
	assert_int_equal(pass_b32_decode("MZXW6", 5, out, 3, &n, &bad), 0);
	/* every byte value both ways */
	for (int v = 0; v < 256; v++) {
		unsigned char in[3] = { (unsigned char)v, (unsigned char)~v,
					(unsigned char)(v * 7) };

		for (size_t l = 1; l <= 3; l++) {
			assert_int_equal(pass_b32_encode(in, l, enc, sizeof(enc)), 0);
			assert_int_equal(pass_b32_decode(enc, strlen(enc), out,
							 sizeof(out), &n, &bad), 0);
			assert_int_equal(n, l);
			assert_memory_equal(out, in, l);
		}
	}
}

static void test_keys(void **state)
{
	static const struct {
		const char *text, *err;
	} bad[] = {
		{ "k1 ed25519\n", "f:1: expected 'KEY_ID ed25519 BASE64', got 2 fields" },
		{ "\n# c\nk1 rsa AAAA\n", "f:3: key 'k1': key type 'rsa' is not supported" },
		{ "k1 ed25519 AAAA\n", "f:1: key 'k1': the public key is 3 bytes" },
		{ "k/1 ed25519 AAAA\n", "f:1: key id 'k/1' is not 1-64" },
	};
	char l1[128], l2[128], text[512], err[256], tok[PASS_TOKEN_MAX + 1];
	char path[] = "/tmp/test_pass_keys_XXXXXX";
	struct pass_keys *k;
	struct pass p, q;
	enum pass_reason r;
	size_t len;
	int fd;

	(void)state;
	for (size_t i = 0; i < N_OF(bad); i++) {
		assert_int_equal(pass_keys_parse("f", bad[i].text,
						 strlen(bad[i].text), &k, err,
						 sizeof(err)), -EINVAL);
		assert_null(k);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("'%s' not in '%s'", bad[i].err, err);
	}
	/* a duplicate id is the admin parser's refusal too */
	key_line(l1, sizeof(l1), "a", ops_key);
	snprintf(text, sizeof(text), "%s%s", l1, l1);
	assert_int_equal(pass_keys_parse("f", text, strlen(text), &k, err,
					 sizeof(err)), -EINVAL);
	assert_string_equal(err, "f:2: key id 'a' already defined on line 1");

	/* from a file, and each id finds its own key: three keys, the
	 * pass signed with the last */
	key_line(l1, sizeof(l1), "a", ops_key);
	key_line(l2, sizeof(l2), "c", old_key);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	snprintf(text, sizeof(text), "%s\t# comment line next\n#x\nb ed25519 "
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n%s", l1, l2);
	/* the key line "a ..." keeps its newline, the comment is a line */
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(pass_keys_load(path, &k, err, sizeof(err)), 0);
	assert_int_equal(pass_keys_count(k), 3);
	base_pass(&p);
	snprintf(p.key_id, sizeof(p.key_id), "c");
	len = issue(&p, old_key, tok, sizeof(tok));
	assert_int_equal(pass_verify(k, tok, len, FROM, &q, &r, err, sizeof(err)), 0);
	snprintf(p.key_id, sizeof(p.key_id), "a");
	len = issue(&p, ops_key, tok, sizeof(tok));
	assert_int_equal(pass_verify(k, tok, len, FROM, &q, &r, err, sizeof(err)), 0);
	snprintf(p.key_id, sizeof(p.key_id), "b");
	len = issue(&p, ops_key, tok, sizeof(tok));
	assert_int_equal(pass_verify(k, tok, len, FROM, &q, &r, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(r, PASS_TAMPERED);
	pass_keys_free(k);
	unlink(path);
	assert_int_equal(pass_keys_load(path, &k, err, sizeof(err)), -ENOENT);
	assert_null(k);
	assert_non_null(strstr(err, "test_pass_keys_"));
	assert_non_null(strstr(err, ": cannot read: No such file or directory"));
}

static void test_encode_checks(void **state)
{
	static const struct {
		const char *name;
		int kind;
		const char *key, *subject;
		int64_t from, until;
		const char *err;
	} cases[] = {
		{ "kind 0", 0, "k", "s", 0, 1, "kind: neither person nor household" },
		{ "kind 3", 3, "k", "s", 0, 1, "kind" },
		{ "empty key id", 1, "", "s", 0, 1, "key id: not 1-64 characters" },
		{ "key id with a slash", 1, "a/b", "s", 0, 1, "key id 'a/b': not A-Z" },
		{ "empty subject", 1, "k", "", 0, 1, "subject id: not 1-63 bytes" },
		{ "subject with a space", 1, "k", "a b", 0, 1,
		  "subject id: a space or control character at byte 2" },
		{ "subject with a tab", 1, "k", "\t", 0, 1, "at byte 1" },
		{ "negative from", 1, "k", "s", -1, 1, "times" },
		{ "until past 40 bits", 1, "k", "s", 0, PASS_TIME_MAX + 1, "times" },
		{ "until equals from", 1, "k", "s", 5, 5,
		  "valid until is not after valid from" },
		{ "until before from", 1, "k", "s", 5, 4, "not after" },
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct pass p;

		memset(&p, 0, sizeof(p));
		p.kind = (enum pass_kind)cases[i].kind;
		snprintf(p.key_id, sizeof(p.key_id), "%s", cases[i].key);
		snprintf(p.subject, sizeof(p.subject), "%s", cases[i].subject);
		p.valid_from = cases[i].from;
		p.valid_until = cases[i].until;
		assert_int_equal(pass_encode(&p, err, sizeof(err)), -EINVAL);
		if (strstr(err, cases[i].err) == NULL)
			fail_msg("%s: '%s' not in '%s'", cases[i].name,
				 cases[i].err, err);
	}
	/* an unterminated 64-character subject is refused, not overrun */
	{
		struct pass p;

		base_pass(&p);
		memset(p.subject, 'x', sizeof(p.subject));
		assert_int_equal(pass_encode(&p, err, sizeof(err)), -EINVAL);
	}
}

static void test_sizes(void **state)
{
	char tok[PASS_TOKEN_MAX + 1], small[100];
	struct pass p;
	size_t len;

	(void)state;
	assert_int_equal(PASS_TOKEN_MAX, 340);
	assert_int_equal(PASS_TOKEN_MIN, 140);
	/* the design's example: 8-character key id and subject */
	base_pass(&p);
	snprintf(p.subject, sizeof(p.subject), "p-000042");
	len = issue(&p, ops_key, tok, sizeof(tok));
	assert_int_equal(len, 162);
	/* the longest */
	memset(p.key_id, 'k', PASS_KEY_ID_MAX);
	p.key_id[PASS_KEY_ID_MAX] = '\0';
	memset(p.subject, 's', PASS_SUBJECT_MAX);
	p.subject[PASS_SUBJECT_MAX] = '\0';
	len = issue(&p, ops_key, tok, sizeof(tok));
	assert_int_equal(len, PASS_TOKEN_MAX);
	/* and it parses (its issuer unknown) */
	{
		struct pass q;
		enum pass_reason r;

		assert_int_equal(pass_verify(keys, tok, len, FROM, &q, &r, NULL, 0),
				 -EINVAL);
		assert_int_equal(r, PASS_UNKNOWN_ISSUER);
		assert_string_equal(q.subject, p.subject);
	}
	assert_int_equal(pass_format(&p, tok, PASS_TOKEN_MAX, &len), -ENOSPC);
	assert_int_equal(pass_format(&p, small, sizeof(small), &len), -ENOSPC);
	p.msg[0] = 'X';
	assert_int_equal(pass_format(&p, tok, sizeof(tok), &len), -EINVAL);
}

static void test_names(void **state)
{
	static const struct {
		enum pass_reason r;
		const char *code;
	} codes[] = {
		{ PASS_OK, "ok" },
		{ PASS_MALFORMED, "pass_malformed" },
		{ PASS_UNKNOWN_ISSUER, "pass_unknown_issuer" },
		{ PASS_TAMPERED, "pass_tampered" },
		{ PASS_NOT_YET_VALID, "pass_not_yet_valid" },
		{ PASS_EXPIRED, "pass_expired" },
		{ PASS_INTERNAL, "pass_internal_error" },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(codes); i++)
		assert_string_equal(pass_reason_code(codes[i].r), codes[i].code);
	assert_string_equal(pass_kind_name(PASS_PERSON), "person");
	assert_string_equal(pass_kind_name(PASS_HOUSEHOLD), "household");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_no_keys),
		cmocka_unit_test(test_malformed_text),
		cmocka_unit_test(test_malformed_payload),
		cmocka_unit_test(test_b32),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_encode_checks),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("pass", tests, setup, teardown);
}
