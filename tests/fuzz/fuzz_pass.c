/* libFuzzer: signed QR pass tokens (daemon/pass.c).  Each input is used
 * three ways:
 *
 *   1. as a token, as a scanner would hand it over: parsed and verified
 *      against a fixed issuer key ("fuzz");
 *   2. as a payload: "WKP1." and the input signed here with that key and
 *      formatted as a token, so it passes the signature whenever it
 *      parses and reaches the issuer lookup and the time checks;
 *   3. as an issuer keys file.
 *
 * Must never crash, leak or read out of bounds, and:
 *   - a token that parses formats back to exactly the same characters
 *     (strict base32: one spelling per pass);
 *   - a payload signed with the fixed key is never pass_tampered; when it
 *     parses it is pass_unknown_issuer (another key id) or a verdict on
 *     its times, and its fields encode back to the same bytes;
 *   - a refusal always has a message; an accepted pass is in its window.
 *
 * Seeds (tests/fuzz/corpus/pass): tok-* tokens and payload-* payloads
 * (person and household, valid, expired, not yet valid, another issuer,
 * the longest ids) and a keys file, made with Python independently of
 * pass.c: Ed25519PrivateKey.from_private_bytes(SEED).sign(b"WKP1." + P),
 * base64.b32encode without the '=' padding. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "pass.h"

#define NOW 1767225600		/* 2026-01-01T00:00:00Z */
#define SEED "fuzz-pass-key-seed-0123456789abc"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key;
static struct pass_keys *keys;

static void init(void)
{
	unsigned char pub[32];
	char b64[48], text[128], err[256];
	size_t n = sizeof(pub);

	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
					   (const unsigned char *)SEED, 32);
	if (key == NULL || EVP_PKEY_get_raw_public_key(key, pub, &n) != 1)
		abort();
	EVP_EncodeBlock((unsigned char *)b64, pub, 32);
	snprintf(text, sizeof(text), "fuzz ed25519 %s\n", b64);
	if (pass_keys_parse("fuzz", text, strlen(text), &keys, err,
			    sizeof(err)) != 0)
		abort();
}

static void as_token(const uint8_t *data, size_t size)
{
	char msg[256], again[PASS_TOKEN_MAX + 1];
	enum pass_reason r;
	struct pass p;
	size_t n;
	int rc;

	rc = pass_parse((const char *)data, size, &p, msg, sizeof(msg));
	if (rc == 0) {
		if (pass_format(&p, again, sizeof(again), &n) != 0 ||
		    n != size || memcmp(again, data, size) != 0)
			abort();
	} else if (rc != -EINVAL || msg[0] == '\0') {
		abort();
	}
	msg[0] = '\0';
	rc = pass_verify(keys, (const char *)data, size, NOW, &p, &r, msg,
			 sizeof(msg));
	if (rc == 0 && (r != PASS_OK || NOW < p.valid_from ||
			NOW >= p.valid_until))
		abort();
	if (rc != 0 && (r == PASS_OK || msg[0] == '\0'))
		abort();
}

static void as_payload(const uint8_t *data, size_t size)
{
	char tok[PASS_TOKEN_MAX + 1], msg[256];
	EVP_MD_CTX *ctx;
	struct pass p, q;
	enum pass_reason r;
	size_t n = PASS_SIG_LEN, len;
	int rc;

	if (size > PASS_PAYLOAD_MAX)
		size = PASS_PAYLOAD_MAX;
	memset(&p, 0, sizeof(p));
	memcpy(p.msg, PASS_PREFIX, PASS_PREFIX_LEN);
	memcpy(p.msg + PASS_PREFIX_LEN, data, size);
	p.msg_len = PASS_PREFIX_LEN + size;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL ||
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, p.sig, &n, p.msg, p.msg_len) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
	if (pass_format(&p, tok, sizeof(tok), &len) != 0)
		abort();
	rc = pass_verify(keys, tok, len, NOW, &q, &r, msg, sizeof(msg));
	if (r == PASS_TAMPERED || r == PASS_INTERNAL)
		abort();
	if (r == PASS_MALFORMED)
		return;
	/* it parsed: a known issuer gets a verdict on its times */
	if ((r == PASS_UNKNOWN_ISSUER) != (strcmp(q.key_id, "fuzz") != 0))
		abort();
	if (r == PASS_OK && rc != 0)
		abort();
	p = q;
	if (pass_encode(&p, msg, sizeof(msg)) != 0 || p.msg_len != q.msg_len ||
	    memcmp(p.msg, q.msg, q.msg_len) != 0)
		abort();
}

static void as_keys(const uint8_t *data, size_t size)
{
	struct pass_keys *k = NULL;
	char err[256];

	if (pass_keys_parse("keys", (const char *)data, size, &k, err,
			    sizeof(err)) == 0)
		pass_keys_count(k);
	pass_keys_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (key == NULL)
		init();
	as_token(data, size);
	as_payload(data, size);
	as_keys(data, size);
	return 0;
}
