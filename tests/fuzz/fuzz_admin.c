/* libFuzzer: signed admin bundles (daemon/admin.c).  Each input is used
 * three ways:
 *
 *   1. as the MQTT payload, verified against a fixed key set (the envelope
 *      parser, strict base64, key lookup, signature check);
 *   2. as the signed document: wrapped in an envelope signed here with the
 *      fixed test key, so it passes the signature and reaches the document
 *      parser, the target, time and per-kind checks;
 *   3. as an admin keys file.
 *
 * Must never crash, leak or read out of bounds.  A refusal must carry one
 * of the codes and a message saying where ("envelope..." or "document:");
 * a document signed with a known key must never be refused for its
 * envelope, key or signature; an accepted bundle must be consistent.
 *
 * The key is Ed25519 from the 32-byte seed below, so the seed corpus
 * (tests/fuzz/corpus/admin: documents doc-*, envelopes env-* of each kind,
 * a keys file) is signed with the openssl command line, independently of
 * this code:
 *   printf 302e020100300506032b657004220420 | xxd -r -p > k.der
 *   printf %s "$SEED" >> k.der; openssl pkey -inform DER -in k.der -out k.pem
 *   openssl pkeyutl -sign -inkey k.pem -rawin -in DOC -out SIG
 * and the envelope is {"wicket":1,"key":"fuzz","signed":base64(DOC),
 * "sig":base64(SIG)}.  The gate is site s1, gate g1, and its clock says
 * 2026-01-01T00:00:00Z. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "admin.h"

#define NOW 1767225600
#define SEED "fuzz-admin-key-seed-0123456789ab"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct admin_keys *keys;
static EVP_PKEY *priv;
static const struct admin_target target = { "s1", "g1" };

static void check(int ok)
{
	if (!ok)
		abort();
}

static void init(void)
{
	unsigned char pub[32];
	char text[200], b64[64];
	size_t n = sizeof(pub);

	priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
					    (const unsigned char *)SEED, 32);
	check(priv != NULL);
	check(EVP_PKEY_get_raw_public_key(priv, pub, &n) == 1 && n == 32);
	EVP_EncodeBlock((unsigned char *)b64, pub, 32);
	snprintf(text, sizeof(text),
		 "# the fuzz key\nfuzz ed25519 %s\nother ed25519 "
		 "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n", b64);
	check(admin_keys_parse("fuzz-keys", text, strlen(text), &keys, NULL,
			       0) == 0);
	check(admin_keys_count(keys) == 2);
}

static int is_code(const char *c)
{
	static const char *const codes[] = {
		ADMIN_E_BAD_ENVELOPE, ADMIN_E_UNKNOWN_KEY,
		ADMIN_E_BAD_SIGNATURE, ADMIN_E_BAD_DOCUMENT,
		ADMIN_E_WRONG_TARGET, ADMIN_E_EXPIRED, ADMIN_E_NOT_YET_VALID,
		ADMIN_E_INVALID_RULES, ADMIN_E_INVALID_LISTS,
		ADMIN_E_BAD_COMMAND, NULL
	};

	for (const char *const *p = codes; *p; p++)
		if (c != NULL && strcmp(c, *p) == 0)
			return 1;
	return 0;
}

static void check_bundle(const struct admin_bundle *b)
{
	check(b->doc != NULL && b->root == jt_root(b->doc));
	check(b->text != NULL && b->text_len > 0 &&
	      strlen(b->text) == b->text_len);
	check(b->root->type == JT_OBJECT);
	check(b->expires_s > b->issued_s &&
	      b->expires_s - b->issued_s <= ADMIN_LIFETIME_MAX_S);
	check(b->issued_s <= NOW + ADMIN_SKEW_S && NOW < b->expires_s);
	check(strcmp(b->key, "fuzz") == 0 || strcmp(b->key, "other") == 0);
	switch (b->kind) {
	case ADMIN_RULES:
		check(b->version >= 1 && b->body && b->body->type == JT_OBJECT);
		break;
	case ADMIN_LISTS:
		check(b->version >= 1 && b->body && b->body->type == JT_OBJECT);
		if (b->lists_mode == ADMIN_LISTS_SNAPSHOT)
			check(b->registry && b->registry->type == JT_OBJECT);
		else
			check(b->lists_mode == ADMIN_LISTS_DELTA &&
			      b->base >= 0 && (b->upsert || b->remove));
		break;
	case ADMIN_ROLLBACK:
		check(b->version >= 1 && b->body == NULL);
		break;
	case ADMIN_CMD:
		check(b->body && strlen(b->id) >= ADMIN_ID_MIN);
		check((b->cmd == ADMIN_CMD_OPEN) == (b->lane != NULL));
		check((b->cmd == ADMIN_CMD_MODE) == (b->mode != NULL));
		break;
	default:
		check(0);
	}
}

/* Verify payload; returns the refusal code (NULL: accepted). */
static const char *run(const void *payload, size_t len)
{
	struct admin_bundle *b = NULL;
	const char *code = NULL;
	char msg[512];
	int rc;

	rc = admin_verify(keys, &target, payload, len, NOW, &b, &code, msg,
			  sizeof(msg));
	if (rc == 0) {
		check(b != NULL && code == NULL && msg[0] == '\0');
		check_bundle(b);
		admin_bundle_free(b);
		return NULL;
	}
	check(rc == -EINVAL && b == NULL && is_code(code));
	check(strncmp(msg, "envelope", 8) == 0 ||
	      strncmp(msg, "document:", 9) == 0);
	check(strlen(msg) < sizeof(msg));
	return code;
}

static void signed_as_document(const uint8_t *data, size_t size)
{
	static const char head[] = "{\"wicket\":1,\"key\":\"fuzz\",\"signed\":\"";
	unsigned char sig[64];
	size_t siglen = sizeof(sig), cap = sizeof(head) + 4 * (size / 3 + 1) +
		200, n;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *env = malloc(cap);
	const char *code;

	check(ctx != NULL && env != NULL);
	check(EVP_DigestSignInit(ctx, NULL, NULL, NULL, priv) == 1);
	check(EVP_DigestSign(ctx, sig, &siglen, data, size) == 1);
	EVP_MD_CTX_free(ctx);
	memcpy(env, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	n += (size_t)EVP_EncodeBlock((unsigned char *)env + n, data, (int)size);
	memcpy(env + n, "\",\"sig\":\"", 9);
	n += 9;
	n += (size_t)EVP_EncodeBlock((unsigned char *)env + n, sig, 64);
	memcpy(env + n, "\"}", 2);
	n += 2;
	check(n < cap);
	code = run(env, n);
	if (size == 0)	/* "signed" empty */
		check(code != NULL && strcmp(code, ADMIN_E_BAD_ENVELOPE) == 0);
	else
		check(code == NULL ||
		      (strcmp(code, ADMIN_E_BAD_ENVELOPE) != 0 &&
		       strcmp(code, ADMIN_E_UNKNOWN_KEY) != 0 &&
		       strcmp(code, ADMIN_E_BAD_SIGNATURE) != 0));
	free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_keys *k = NULL;
	char err[256];

	if (keys == NULL)
		init();
	run(data, size);
	if (size <= ADMIN_PAYLOAD_MAX / 2)
		signed_as_document(data, size);
	if (admin_keys_parse("fuzz", (const char *)data, size, &k, err,
			     sizeof(err)) == 0) {
		check(admin_keys_count(k) <= ADMIN_KEYS_MAX);
		for (size_t i = 0; i < admin_keys_count(k); i++)
			check(admin_keys_id(k, i) != NULL &&
			      *admin_keys_id(k, i) != '\0');
		admin_keys_free(k);
	} else {
		check(k == NULL && strncmp(err, "fuzz:", 5) == 0);
	}
	return 0;
}
