/*
 * gatepass: signed passes at the gate against a real registry.db built
 * through the import API in a fresh directory, with Ed25519 keys made
 * here by OpenSSL (the test signs with EVP_DigestSign itself).  One table
 * of tokens: every verdict, person and household passes, subjects not in
 * the registry, a household without members, a person whose own validity
 * ended, quarantined, blocked, mixed and lapsed households, the facts each
 * gives and the credential string.  Then: the database's person facts
 * against reg_lookup() of the same person's card at times around every
 * window; gp_is_pass; gp_refine; and the shipped policy deciding on the
 * facts of a few passes.
 */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
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
#include <sqlite3.h>

#include "gatepass.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define NOW 1767268800		/* 2026-01-01T12:00:00Z */
#define FROM (NOW - 3600)
#define UNTIL (NOW + 86400)	/* 2026-01-02T12:00:00Z */
#define SERIAL 3735928559u	/* 0xdeadbeef */
#define POLICY_FILE "etc/wicket/rules.json"
#define LONG_ID "issuer-with-a-key-id-of-sixty-four-characters.0123456789abcdefgh"

static char dir[64];
static EVP_PKEY *ops_key, *long_key, *stranger_key;
static struct pass_keys *keys;
static struct reg_db *db;

/* Households and persons at NOW (2026-01-01T12:00Z):
 *   h-home   p-res, p-res2: residents
 *   h-quar   p-q (quarantine until 2026-02-01), p-nq
 *   h-obs    p-o (observation until 2026-02-01), p-blk (blocked)
 *   h-mixed  p-ten (tenant, expired 2025-12-01), p-stf (staff)
 *   h-lapsed p-gone (tenant, expired 2025-06-30)
 *   h-future p-new (tenant from 2026-06-01), p-gone2 (expired)
 *   h-vis    v-a (visitor hosted by h-home), c-1 (courier)
 *   h-vis2   v-c (hosted by h-home), v-d (hosted by h-quar)
 *   h-empty  nobody
 *   v-solo   a visitor of h-home in no household
 * Every person holds the card "c-" + id. */
static const char registry_json[] =
	"{\"households\": ["
	" {\"id\": \"h-home\"}, {\"id\": \"h-quar\"}, {\"id\": \"h-obs\"},"
	" {\"id\": \"h-mixed\", \"landlord\": \"h-home\"},"
	" {\"id\": \"h-lapsed\"}, {\"id\": \"h-future\"}, {\"id\": \"h-vis\"},"
	" {\"id\": \"h-vis2\"}, {\"id\": \"h-empty\"}],"
	"\"persons\": ["
	" {\"id\": \"p-res\", \"household\": \"h-home\", \"role\": \"resident\"},"
	" {\"id\": \"p-res2\", \"household\": \"h-home\", \"role\": \"resident\"},"
	" {\"id\": \"p-q\", \"household\": \"h-quar\", \"role\": \"resident\","
	"  \"quarantine_until\": \"2026-02-01T00:00:00Z\"},"
	" {\"id\": \"p-nq\", \"household\": \"h-quar\", \"role\": \"resident\"},"
	" {\"id\": \"p-o\", \"household\": \"h-obs\", \"role\": \"resident\","
	"  \"observation_until\": \"2026-02-01T00:00:00Z\"},"
	" {\"id\": \"p-blk\", \"household\": \"h-obs\", \"role\": \"resident\","
	"  \"blocked\": true},"
	" {\"id\": \"p-ten\", \"household\": \"h-mixed\", \"role\": \"tenant\","
	"  \"valid_from\": \"2025-01-01T00:00:00Z\","
	"  \"valid_until\": \"2025-12-01T00:00:00Z\"},"
	" {\"id\": \"p-stf\", \"household\": \"h-mixed\", \"role\": \"staff\"},"
	" {\"id\": \"p-gone\", \"household\": \"h-lapsed\", \"role\": \"tenant\","
	"  \"valid_until\": \"2025-06-30T00:00:00Z\"},"
	" {\"id\": \"p-new\", \"household\": \"h-future\", \"role\": \"tenant\","
	"  \"valid_from\": \"2026-06-01T00:00:00Z\"},"
	" {\"id\": \"p-gone2\", \"household\": \"h-future\", \"role\": \"tenant\","
	"  \"valid_until\": \"2025-06-30T00:00:00Z\"},"
	" {\"id\": \"v-a\", \"household\": \"h-vis\", \"role\": \"visitor\","
	"  \"host\": \"h-home\"},"
	" {\"id\": \"c-1\", \"household\": \"h-vis\", \"role\": \"courier\"},"
	" {\"id\": \"v-c\", \"household\": \"h-vis2\", \"role\": \"visitor\","
	"  \"host\": \"h-home\"},"
	" {\"id\": \"v-d\", \"household\": \"h-vis2\", \"role\": \"visitor\","
	"  \"host\": \"h-quar\"},"
	" {\"id\": \"v-solo\", \"role\": \"visitor\", \"host\": \"h-home\","
	"  \"valid_until\": \"2026-03-01T00:00:00Z\"}],"
	"\"credentials\": ["
	" {\"value\": \"c-p-res\", \"kind\": \"card\", \"person\": \"p-res\"},"
	" {\"value\": \"c-p-res2\", \"kind\": \"card\", \"person\": \"p-res2\"},"
	" {\"value\": \"c-p-q\", \"kind\": \"card\", \"person\": \"p-q\"},"
	" {\"value\": \"c-p-nq\", \"kind\": \"card\", \"person\": \"p-nq\"},"
	" {\"value\": \"c-p-o\", \"kind\": \"card\", \"person\": \"p-o\"},"
	" {\"value\": \"c-p-blk\", \"kind\": \"card\", \"person\": \"p-blk\"},"
	" {\"value\": \"c-p-ten\", \"kind\": \"card\", \"person\": \"p-ten\"},"
	" {\"value\": \"c-p-stf\", \"kind\": \"card\", \"person\": \"p-stf\"},"
	" {\"value\": \"c-p-gone\", \"kind\": \"card\", \"person\": \"p-gone\"},"
	" {\"value\": \"c-p-new\", \"kind\": \"card\", \"person\": \"p-new\"},"
	" {\"value\": \"c-p-gone2\", \"kind\": \"card\", \"person\": \"p-gone2\"},"
	" {\"value\": \"c-v-a\", \"kind\": \"card\", \"person\": \"v-a\"},"
	" {\"value\": \"c-c-1\", \"kind\": \"card\", \"person\": \"c-1\"},"
	" {\"value\": \"c-v-c\", \"kind\": \"card\", \"person\": \"v-c\"},"
	" {\"value\": \"c-v-d\", \"kind\": \"card\", \"person\": \"v-d\"},"
	" {\"value\": \"c-v-solo\", \"kind\": \"qr\", \"person\": \"v-solo\"}]}";

static const char *const person_ids[] = {
	"p-res", "p-res2", "p-q", "p-nq", "p-o", "p-blk", "p-ten", "p-stf",
	"p-gone", "p-new", "p-gone2", "v-a", "c-1", "v-c", "v-d", "v-solo",
};

/* --- helpers ------------------------------------------------------------- */

static void on_reg_error(void *ctx, const char *file, int line,
			 const char *field, const char *msg)
{
	(void)ctx;
	print_error("%s:%d: %s: %s\n", file ? file : "-", line,
		    field ? field : "", msg);
}

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static struct reg_db *open_db(const char *name)
{
	char path[128], err[256];
	struct reg_db *d;

	path_of(path, sizeof(path), name);
	if (reg_db_open(path, &d, err, sizeof(err)) != 0)
		fail_msg("reg_db_open: %s", err);
	return d;
}

static void import_json(struct reg_db *d, const char *text)
{
	struct reg_batch *b;

	if (reg_batch_parse(text, strlen(text), "registry.json", REG_JSON, &b,
			    on_reg_error, NULL) != 0)
		fail_msg("registry.json does not parse");
	if (reg_import(d, &b, 1, 0, on_reg_error, NULL) != 0)
		fail_msg("registry.json does not import");
	reg_batch_free(b);
}

static int64_t pid_of(const char *id)
{
	int64_t pid = 0;

	if (id != NULL)
		assert_int_equal(reg_db_pid(db, id, &pid), 0);
	return pid;
}

static int64_t hid_of(const char *id)
{
	int64_t hid = 0;

	if (id != NULL)
		assert_int_equal(reg_db_hid(db, id, &hid), 0);
	return hid;
}

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	assert_non_null(k);
	return k;
}

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

/* How a case's token is made. */
enum how {
	H_GOOD,			/* issued by ops-2026 */
	H_LONG_ID,		/* issued by the key with the 64-character id */
	H_STRANGER,		/* id "nobody", a key the gate does not know */
	H_WRONG_KEY,		/* id ops-2026, signed by another key */
	H_FLIP_SERIAL,		/* the serial changed after signing */
	H_GARBAGE,		/* "WKP1." and not a pass */
	H_LOWER,		/* a good token in lower case */
	H_NO_DB,		/* good, checked without a registry */
	H_BROKEN_DB,		/* good, checked against a broken registry */
	H_NO_KEYS,		/* good, checked without issuer keys */
};

static size_t make_token(enum how how, enum pass_kind kind,
			 const char *subject, char *tok, size_t cap)
{
	struct pass p;
	EVP_PKEY *k = ops_key;
	char err[128];
	size_t len;

	if (how == H_GARBAGE) {
		snprintf(tok, cap, "WKP1.NOTAPASS.AAAA");
		return strlen(tok);
	}
	memset(&p, 0, sizeof(p));
	p.kind = kind;
	snprintf(p.key_id, sizeof(p.key_id), "ops-2026");
	snprintf(p.subject, sizeof(p.subject), "%s", subject);
	p.valid_from = FROM;
	p.valid_until = UNTIL;
	p.serial = SERIAL;
	if (how == H_LONG_ID) {
		snprintf(p.key_id, sizeof(p.key_id), "%s", LONG_ID);
		k = long_key;
	} else if (how == H_STRANGER) {
		snprintf(p.key_id, sizeof(p.key_id), "nobody");
		k = stranger_key;
	} else if (how == H_WRONG_KEY) {
		k = stranger_key;
	}
	if (pass_encode(&p, err, sizeof(err)) != 0)
		fail_msg("pass_encode: %s", err);
	sign(k, p.msg, p.msg_len, p.sig);
	if (how == H_FLIP_SERIAL)
		p.msg[p.msg_len - 1] ^= 0x01;
	assert_int_equal(pass_format(&p, tok, cap, &len), 0);
	if (how == H_LOWER)
		for (size_t i = 0; i < len; i++)
			tok[i] = (char)tolower((unsigned char)tok[i]);
	return len;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	char text[1024], l1[160], l2[160], err[256];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_gatepass.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	ops_key = new_key();
	long_key = new_key();
	stranger_key = new_key();
	key_line(l1, sizeof(l1), "ops-2026", ops_key);
	key_line(l2, sizeof(l2), LONG_ID, long_key);
	snprintf(text, sizeof(text), "# pass issuers\n%s%s", l1, l2);
	if (pass_keys_parse("issuers", text, strlen(text), &keys, err,
			    sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	db = open_db("registry.db");
	import_json(db, registry_json);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	reg_db_close(db);
	pass_keys_free(keys);
	EVP_PKEY_free(ops_key);
	EVP_PKEY_free(long_key);
	EVP_PKEY_free(stranger_key);
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A registry whose person table is gone: every lookup fails. */
static struct reg_db *broken_db(void)
{
	static int n;
	char name[32], path[128];
	struct reg_db *d;
	sqlite3 *raw;

	snprintf(name, sizeof(name), "broken%d.db", n++);
	d = open_db(name);
	import_json(d, "{\"persons\": [{\"id\": \"p-res\", \"role\": \"staff\"}]}");
	path_of(path, sizeof(path), name);
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "DROP TABLE credential;"
				      " DROP TABLE person", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(raw);
	return d;
}

/* --- gp_check ------------------------------------------------------------ */

#define NONE (-1)

static void test_check(void **state)
{
	static const struct {
		const char *name;
		enum how how;
		enum pass_kind kind;
		const char *subject;
		int64_t now;
		enum gp_verdict verdict;
		int rc;
		/* the facts */
		enum rules_cred cred;
		const char *pid, *hid, *host;	/* registry ids, NULL: 0 */
		int role;			/* NONE: not checked */
		enum rules_validity person;
		int quarantine, observation, blocked;
		size_t members;
		const char *credential;
	} cases[] = {
		/* good person passes: the person's own facts */
		{ "resident", H_GOOD, PASS_PERSON, "p-res", NOW, GP_OK, 0,
		  RULES_CRED_VALID, "p-res", "h-home", NULL,
		  RULES_ROLE_RESIDENT, RULES_VALID, 0, 0, 0, 0,
		  "pass ops-2026 3735928559" },
		{ "at the pass's first second", H_GOOD, PASS_PERSON, "p-res",
		  FROM, GP_OK, 0, RULES_CRED_VALID, "p-res", "h-home", NULL,
		  RULES_ROLE_RESIDENT, RULES_VALID, 0, 0, 0, 0, NULL },
		{ "tenant whose own validity ended", H_GOOD, PASS_PERSON,
		  "p-ten", NOW, GP_OK, 0, RULES_CRED_VALID, "p-ten", "h-mixed",
		  NULL, RULES_ROLE_TENANT, RULES_EXPIRED, 0, 0, 0, 0, NULL },
		{ "tenant not yet valid", H_GOOD, PASS_PERSON, "p-new", NOW,
		  GP_OK, 0, RULES_CRED_VALID, "p-new", "h-future", NULL,
		  RULES_ROLE_TENANT, RULES_NOT_YET_VALID, 0, 0, 0, 0, NULL },
		{ "quarantined person", H_GOOD, PASS_PERSON, "p-q", NOW, GP_OK,
		  0, RULES_CRED_VALID, "p-q", "h-quar", NULL,
		  RULES_ROLE_RESIDENT, RULES_VALID, 1, 0, 0, 0, NULL },
		{ "their household's other member", H_GOOD, PASS_PERSON, "p-nq",
		  NOW, GP_OK, 0, RULES_CRED_VALID, "p-nq", "h-quar", NULL,
		  RULES_ROLE_RESIDENT, RULES_VALID, 0, 0, 0, 0, NULL },
		{ "blocked person", H_GOOD, PASS_PERSON, "p-blk", NOW, GP_OK, 0,
		  RULES_CRED_VALID, "p-blk", "h-obs", NULL,
		  RULES_ROLE_RESIDENT, RULES_VALID, 0, 0, 1, 0, NULL },
		{ "visitor with a host, no household", H_GOOD, PASS_PERSON,
		  "v-solo", NOW, GP_OK, 0, RULES_CRED_VALID, "v-solo", NULL,
		  "h-home", RULES_ROLE_VISITOR, RULES_VALID, 0, 0, 0, 0, NULL },
		{ "person not in the registry", H_GOOD, PASS_PERSON, "p-nobody",
		  NOW, GP_UNKNOWN_SUBJECT, -EACCES, RULES_CRED_UNKNOWN, NULL,
		  NULL, NULL, NONE, 0, 0, 0, 0, 0, "pass ops-2026 3735928559" },
		{ "a household's id in a person pass", H_GOOD, PASS_PERSON,
		  "h-home", NOW, GP_UNKNOWN_SUBJECT, -EACCES,
		  RULES_CRED_UNKNOWN, NULL, NULL, NULL, NONE, 0, 0, 0, 0, 0,
		  NULL },
		/* good household passes */
		{ "household of two residents", H_GOOD, PASS_HOUSEHOLD,
		  "h-home", NOW, GP_OK, 0, RULES_CRED_VALID, NULL, "h-home",
		  NULL, RULES_ROLE_RESIDENT, RULES_VALID, 0, 0, 0, 2, NULL },
		{ "quarantined household", H_GOOD, PASS_HOUSEHOLD, "h-quar",
		  NOW, GP_OK, 0, RULES_CRED_VALID, NULL, "h-quar", NULL,
		  RULES_ROLE_RESIDENT, RULES_VALID, 1, 0, 0, 2, NULL },
		{ "observed and blocked members", H_GOOD, PASS_HOUSEHOLD,
		  "h-obs", NOW, GP_OK, 0, RULES_CRED_VALID, NULL, "h-obs", NULL,
		  RULES_ROLE_RESIDENT, RULES_VALID, 0, 1, 1, 2, NULL },
		{ "lapsed tenant and staff", H_GOOD, PASS_HOUSEHOLD, "h-mixed",
		  NOW, GP_OK, 0, RULES_CRED_VALID, NULL, "h-mixed", NULL,
		  RULES_ROLE_TENANT, RULES_VALID, 0, 0, 0, 2, NULL },
		{ "only a lapsed member", H_GOOD, PASS_HOUSEHOLD, "h-lapsed",
		  NOW, GP_OK, 0, RULES_CRED_VALID, NULL, "h-lapsed", NULL,
		  RULES_ROLE_TENANT, RULES_EXPIRED, 0, 0, 0, 1, NULL },
		{ "a future and a lapsed member", H_GOOD, PASS_HOUSEHOLD,
		  "h-future", NOW, GP_OK, 0, RULES_CRED_VALID, NULL, "h-future",
		  NULL, RULES_ROLE_TENANT, RULES_NOT_YET_VALID, 0, 0, 0, 2,
		  NULL },
		{ "visitor and courier", H_GOOD, PASS_HOUSEHOLD, "h-vis", NOW,
		  GP_OK, 0, RULES_CRED_VALID, NULL, "h-vis", NULL,
		  RULES_ROLE_COURIER, RULES_VALID, 0, 0, 0, 2, NULL },
		{ "visitors, all hosted", H_GOOD, PASS_HOUSEHOLD, "h-vis2", NOW,
		  GP_OK, 0, RULES_CRED_VALID, NULL, "h-vis2", "h-home",
		  RULES_ROLE_VISITOR, RULES_VALID, 0, 0, 0, 2, NULL },
		{ "household without members", H_GOOD, PASS_HOUSEHOLD,
		  "h-empty", NOW, GP_UNKNOWN_SUBJECT, -EACCES,
		  RULES_CRED_UNKNOWN, NULL, NULL, NULL, NONE, 0, 0, 0, 0, 0,
		  NULL },
		{ "household not in the registry", H_GOOD, PASS_HOUSEHOLD,
		  "h-nobody", NOW, GP_UNKNOWN_SUBJECT, -EACCES,
		  RULES_CRED_UNKNOWN, NULL, NULL, NULL, NONE, 0, 0, 0, 0, 0,
		  NULL },
		{ "a person's id in a household pass", H_GOOD, PASS_HOUSEHOLD,
		  "p-res", NOW, GP_UNKNOWN_SUBJECT, -EACCES,
		  RULES_CRED_UNKNOWN, NULL, NULL, NULL, NONE, 0, 0, 0, 0, 0,
		  NULL },
		/* refused for the window: whose it was */
		{ "expired at until", H_GOOD, PASS_PERSON, "p-res", UNTIL,
		  GP_EXPIRED, -EACCES, RULES_CRED_EXPIRED, "p-res", "h-home",
		  NULL, RULES_ROLE_RESIDENT, RULES_VALID, 0, 0, 0, 0,
		  "pass ops-2026 3735928559" },
		{ "not yet valid", H_GOOD, PASS_PERSON, "p-res", FROM - 1,
		  GP_NOT_YET_VALID, -EACCES, RULES_CRED_NOT_YET_VALID, "p-res",
		  "h-home", NULL, RULES_ROLE_RESIDENT, RULES_VALID, 0, 0, 0, 0,
		  NULL },
		{ "expired household pass", H_GOOD, PASS_HOUSEHOLD, "h-quar",
		  UNTIL + 60, GP_EXPIRED, -EACCES, RULES_CRED_EXPIRED, NULL,
		  "h-quar", NULL, RULES_ROLE_RESIDENT, RULES_VALID, 1, 0, 0, 2,
		  NULL },
		{ "expired, subject unknown", H_GOOD, PASS_PERSON, "p-nobody",
		  UNTIL, GP_EXPIRED, -EACCES, RULES_CRED_UNKNOWN, NULL, NULL,
		  NULL, NONE, 0, 0, 0, 0, 0, NULL },
		{ "expired, no registry", H_NO_DB, PASS_PERSON, "p-res", UNTIL,
		  GP_EXPIRED, -EACCES, RULES_CRED_UNKNOWN, NULL, NULL, NULL,
		  NONE, 0, 0, 0, 0, 0, NULL },
		/* refused: nothing about the subject */
		{ "not a pass", H_GARBAGE, PASS_PERSON, "p-res", NOW,
		  GP_MALFORMED, -EACCES, RULES_CRED_UNKNOWN, NULL, NULL, NULL,
		  NONE, 0, 0, 0, 0, 0, "pass malformed" },
		{ "a good token in lower case", H_LOWER, PASS_PERSON, "p-res",
		  NOW, GP_MALFORMED, -EACCES, RULES_CRED_UNKNOWN, NULL, NULL,
		  NULL, NONE, 0, 0, 0, 0, 0, "pass malformed" },
		{ "unknown issuer", H_STRANGER, PASS_PERSON, "p-res", NOW,
		  GP_UNKNOWN_ISSUER, -EACCES, RULES_CRED_UNKNOWN, NULL, NULL,
		  NULL, NONE, 0, 0, 0, 0, 0, "pass nobody 3735928559" },
		{ "no issuer keys", H_NO_KEYS, PASS_PERSON, "p-res", NOW,
		  GP_UNKNOWN_ISSUER, -EACCES, RULES_CRED_UNKNOWN, NULL, NULL,
		  NULL, NONE, 0, 0, 0, 0, 0, NULL },
		{ "signed by another key", H_WRONG_KEY, PASS_PERSON, "p-res",
		  NOW, GP_TAMPERED, -EACCES, RULES_CRED_UNKNOWN, NULL, NULL,
		  NULL, NONE, 0, 0, 0, 0, 0, "pass ops-2026 3735928559" },
		{ "serial changed", H_FLIP_SERIAL, PASS_PERSON, "p-res", NOW,
		  GP_TAMPERED, -EACCES, RULES_CRED_UNKNOWN, NULL, NULL, NULL,
		  NONE, 0, 0, 0, 0, 0, "pass ops-2026 3735928558" },
		{ "tampered and expired", H_FLIP_SERIAL, PASS_HOUSEHOLD,
		  "h-home", UNTIL + 1, GP_TAMPERED, -EACCES, RULES_CRED_UNKNOWN,
		  NULL, NULL, NULL, NONE, 0, 0, 0, 0, 0, NULL },
		/* the gate could not check */
		{ "no registry", H_NO_DB, PASS_PERSON, "p-res", NOW,
		  GP_INTERNAL, -ENODEV, RULES_CRED_UNKNOWN, NULL, NULL, NULL,
		  NONE, 0, 0, 0, 0, 0, "pass ops-2026 3735928559" },
		{ "broken registry, person", H_BROKEN_DB, PASS_PERSON, "p-res",
		  NOW, GP_INTERNAL, -EIO, RULES_CRED_UNKNOWN, NULL, NULL, NULL,
		  NONE, 0, 0, 0, 0, 0, NULL },
		{ "broken registry, household", H_BROKEN_DB, PASS_HOUSEHOLD,
		  "h-home", NOW, GP_INTERNAL, -EIO, RULES_CRED_UNKNOWN, NULL,
		  NULL, NULL, NONE, 0, 0, 0, 0, 0, NULL },
		/* the credential string of a long key id */
		{ "64-character key id", H_LONG_ID, PASS_PERSON, "p-res", NOW,
		  GP_OK, 0, RULES_CRED_VALID, "p-res", "h-home", NULL,
		  RULES_ROLE_RESIDENT, RULES_VALID, 0, 0, 0, 0, NULL },
	};
	char tok[PASS_TOKEN_MAX + 1];

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct gp_result r;
		struct reg_db *d = db, *broken = NULL;
		const struct pass_keys *k = keys;
		size_t len;
		int rc;

		len = make_token(cases[i].how, cases[i].kind, cases[i].subject,
				 tok, sizeof(tok));
		if (cases[i].how == H_NO_DB)
			d = NULL;
		if (cases[i].how == H_BROKEN_DB)
			d = broken = broken_db();
		if (cases[i].how == H_NO_KEYS)
			k = NULL;
		assert_true(gp_is_pass(tok, len));
		rc = gp_check(k, tok, len, cases[i].now, d, &r);
		reg_db_close(broken);
		if (r.verdict != cases[i].verdict || rc != cases[i].rc)
			fail_msg("%s: got %s (%d: %s), want %s (%d)",
				 cases[i].name, gp_code(r.verdict), rc,
				 r.message, gp_code(cases[i].verdict),
				 cases[i].rc);
		if (r.match.credential != cases[i].cred)
			fail_msg("%s: credential %s, want %s (%s)",
				 cases[i].name,
				 rules_cred_name(r.match.credential),
				 rules_cred_name(cases[i].cred), r.message);
		assert_int_equal(r.match.pid, pid_of(cases[i].pid));
		assert_int_equal(r.match.hid, hid_of(cases[i].hid));
		assert_int_equal(r.match.host_hid, hid_of(cases[i].host));
		if (cases[i].role != NONE) {
			if ((int)r.match.role != cases[i].role)
				fail_msg("%s: role %s, want %s", cases[i].name,
					 rules_role_name(r.match.role),
					 rules_role_name((enum rules_role)
							 cases[i].role));
			assert_int_equal(r.match.person, cases[i].person);
		}
		assert_int_equal(r.match.quarantine, cases[i].quarantine);
		assert_int_equal(r.match.observation, cases[i].observation);
		assert_int_equal(r.match.blocked, cases[i].blocked);
		assert_int_equal(r.members, cases[i].members);
		/* parsed and verified as pass_verify found them */
		assert_int_equal(r.parsed, cases[i].verdict != GP_MALFORMED);
		assert_int_equal(r.verified,
				 cases[i].verdict == GP_OK ||
				 cases[i].verdict == GP_EXPIRED ||
				 cases[i].verdict == GP_NOT_YET_VALID ||
				 cases[i].verdict == GP_UNKNOWN_SUBJECT ||
				 (cases[i].verdict == GP_INTERNAL));
		if (r.parsed)
			assert_int_equal(r.kind, cases[i].kind);
		/* the credential: as expected, fits the ledger, has a space
		 * (no registry value has one), never the token */
		if (cases[i].credential != NULL)
			assert_string_equal(r.credential, cases[i].credential);
		assert_true(strlen(r.credential) < GP_CREDENTIAL_MAX);
		assert_non_null(strchr(r.credential, ' '));
		assert_null(strstr(r.credential, "WKP1"));
		/* the message: says something, no token, no subject id */
		assert_true(r.message[0] != '\0');
		assert_null(strstr(r.message, tok + PASS_PREFIX_LEN));
		assert_null(strstr(r.message, cases[i].subject));
		/* reg_facts works on it as on a card's match */
		{
			struct rules_facts f;

			memset(&f, 0, sizeof(f));
			reg_facts(&r.match, &f);
			assert_int_equal(f.credential, cases[i].cred);
			assert_int_equal(f.has_person,
					 cases[i].cred != RULES_CRED_UNKNOWN);
			if (f.has_person) {
				assert_int_equal(f.has_household,
						 cases[i].hid != NULL);
				assert_int_equal(f.has_host,
						 cases[i].host != NULL);
				assert_int_equal(f.quarantine,
						 cases[i].quarantine);
			}
		}
	}
}

/* The messages operators read, for a few verdicts. */
static void test_messages(void **state)
{
	static const struct {
		enum how how;
		enum pass_kind kind;
		const char *subject;
		int64_t now;
		const char *message;
	} cases[] = {
		{ H_GOOD, PASS_PERSON, "p-res", NOW,
		  "person pass, valid until 2026-01-02T12:00:00Z" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-home", NOW,
		  "household pass, 2 members, valid until 2026-01-02T12:00:00Z" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-lapsed", NOW,
		  "household pass, 1 member, valid until 2026-01-02T12:00:00Z" },
		{ H_GOOD, PASS_PERSON, "p-nobody", NOW,
		  "person pass: the person is not in the registry" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-nobody", NOW,
		  "household pass: the household is not in the registry" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-empty", NOW,
		  "household pass: the household has no members in the registry" },
		{ H_GOOD, PASS_PERSON, "p-res", UNTIL,
		  "person pass: valid until 2026-01-02T12:00:00Z, now 2026-01-02T12:00:00Z" },
		{ H_GOOD, PASS_PERSON, "p-nobody", UNTIL,
		  "person pass: valid until 2026-01-02T12:00:00Z, now 2026-01-02T12:00:00Z; the person is not in the registry" },
		{ H_STRANGER, PASS_PERSON, "p-res", NOW,
		  "person pass: no issuer key 'nobody'" },
		{ H_WRONG_KEY, PASS_HOUSEHOLD, "h-home", NOW,
		  "household pass: the signature does not match the pass and key 'ops-2026'" },
		{ H_NO_DB, PASS_HOUSEHOLD, "h-home", NOW,
		  "household pass: cannot look up its subject: no registry database to look it up in" },
		{ H_LOWER, PASS_PERSON, "p-res", NOW,
		  "not a valid pass: does not start with 'WKP1.' (starts 'wkp1.aee')" },
	};
	char tok[PASS_TOKEN_MAX + 1];

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct gp_result r;
		size_t len = make_token(cases[i].how, cases[i].kind,
					cases[i].subject, tok, sizeof(tok));

		gp_check(keys, tok, len, cases[i].now,
			 cases[i].how == H_NO_DB ? NULL : db, &r);
		assert_string_equal(r.message, cases[i].message);
	}
}

/* The long key id: cut, marked, told apart by its hash, 63 bytes. */
static void test_long_key_credential(void **state)
{
	char tok[PASS_TOKEN_MAX + 1];
	struct gp_result r;
	size_t len;

	(void)state;
	len = make_token(H_LONG_ID, PASS_PERSON, "p-res", tok, sizeof(tok));
	assert_int_equal(gp_check(keys, tok, len, NOW, db, &r), 0);
	assert_string_equal(r.key_id, LONG_ID);
	assert_int_equal(strlen(LONG_ID), PASS_KEY_ID_MAX);
	/* "pass ", the first 38 characters of the id, "~", 8 hex digits */
	assert_memory_equal(r.credential, "pass " LONG_ID, 5 + 38);
	assert_int_equal(r.credential[43], '~');
	assert_int_equal(strlen(r.credential), 5 + 38 + 1 + 8 + 1 + 10);
	assert_string_equal(r.credential + 44 + 8, " 3735928559");
	assert_int_equal(strspn(r.credential + 44, "0123456789abcdef"), 8);
}

static void test_null_code(void **state)
{
	struct gp_result r;

	(void)state;
	assert_false(gp_is_pass(NULL, 0));
	assert_int_equal(gp_check(keys, NULL, 0, NOW, db, &r), -EACCES);
	assert_int_equal(r.verdict, GP_MALFORMED);
	assert_string_equal(r.credential, "pass malformed");
	assert_int_equal(r.match.credential, RULES_CRED_UNKNOWN);
}

/* --- the database's person facts are reg_lookup()'s ------------------------ */

static void assert_match_equal(const char *what, const struct reg_match *a,
			       const struct reg_match *b)
{
	if (a->credential != b->credential || a->pid != b->pid ||
	    a->role != b->role || a->person != b->person || a->hid != b->hid ||
	    a->host_hid != b->host_hid || a->quarantine != b->quarantine ||
	    a->observation != b->observation || a->blocked != b->blocked)
		fail_msg("%s: database and memory differ", what);
}

static void test_same_as_card(void **state)
{
	/* around every window of the registry, and far off */
	static const int64_t times[] = {
		0, 1735689599, 1735689600,		/* 2025-01-01 */
		1751241600, 1751241601,			/* 2025-06-30 */
		1764547200, 1764547201,			/* 2025-12-01 */
		NOW, 1769904000, 1769904001,		/* 2026-02-01 */
		1772323200, 1772323201,			/* 2026-03-01 */
		1780271999, 1780272000,			/* 2026-06-01 */
		4294967294, 4294967295, INT64_C(1) << 40,
	};
	char path[128], err[256];
	struct registry *reg;

	(void)state;
	path_of(path, sizeof(path), "registry.db");
	if (reg_load(path, &reg, err, sizeof(err)) != 0)
		fail_msg("reg_load: %s", err);
	for (size_t i = 0; i < N_OF(person_ids); i++)
		for (size_t t = 0; t < N_OF(times); t++) {
			struct reg_match a, b;
			char card[80], what[128];

			snprintf(card, sizeof(card), "c-%s", person_ids[i]);
			snprintf(what, sizeof(what), "%s at %lld",
				 person_ids[i], (long long)times[t]);
			reg_lookup(reg, card, times[t], &a);
			assert_int_equal(a.credential, RULES_CRED_VALID);
			assert_int_equal(reg_db_person(db, person_ids[i],
						       times[t], &b), 0);
			assert_match_equal(what, &a, &b);
		}
	reg_free(reg);
}

struct members {
	size_t n;
	int64_t pid[8];
};

static void collect(void *ctx, const struct reg_match *m)
{
	struct members *ms = ctx;

	assert_true(ms->n < N_OF(ms->pid));
	assert_int_equal(m->credential, RULES_CRED_VALID);
	ms->pid[ms->n++] = m->pid;
}

static void test_db_lookups(void **state)
{
	struct reg_match m;
	struct members ms = { 0 };
	int64_t hid = -1;

	(void)state;
	assert_int_equal(reg_db_person(db, "p-nobody", NOW, &m), -ENOENT);
	assert_int_equal(m.credential, RULES_CRED_UNKNOWN);
	assert_int_equal(m.pid, 0);
	assert_int_equal(reg_db_person(db, "", NOW, &m), -ENOENT);
	/* ids are bytes: no case folding, no prefix match */
	assert_int_equal(reg_db_person(db, "P-RES", NOW, &m), -ENOENT);
	assert_int_equal(reg_db_person(db, "p-re", NOW, &m), -ENOENT);

	assert_int_equal(reg_db_household(db, "h-home", NOW, &hid, collect,
					  &ms), 0);
	assert_int_equal(hid, hid_of("h-home"));
	assert_int_equal(ms.n, 2);
	assert_int_equal(ms.pid[0], pid_of("p-res"));
	assert_int_equal(ms.pid[1], pid_of("p-res2"));
	/* the visitors it hosts are not members */
	ms.n = 0;
	assert_int_equal(reg_db_household(db, "h-empty", NOW, &hid, collect,
					  &ms), 0);
	assert_int_equal(hid, hid_of("h-empty"));
	assert_int_equal(ms.n, 0);
	assert_int_equal(reg_db_household(db, "h-nobody", NOW, &hid, collect,
					  &ms), -ENOENT);
	assert_int_equal(hid, 0);
	assert_int_equal(reg_db_household(db, "h-vis", NOW, &hid, NULL, NULL),
			 0);
	assert_int_equal(hid, hid_of("h-vis"));
}

/* A change to registry.db shows at once, whatever copy is loaded. */
static void test_db_changes(void **state)
{
	char tok[PASS_TOKEN_MAX + 1];
	struct gp_result r;
	struct reg_db *d = open_db("changes.db");
	size_t len;
	const char *const ids[] = { "p-x" };

	(void)state;
	import_json(d, "{\"households\": [{\"id\": \"h-x\"}],"
		    " \"persons\": [{\"id\": \"p-x\", \"household\": \"h-x\","
		    " \"role\": \"resident\"}]}");
	len = make_token(H_GOOD, PASS_HOUSEHOLD, "h-x", tok, sizeof(tok));
	assert_int_equal(gp_check(keys, tok, len, NOW, d, &r), 0);
	assert_int_equal(r.match.quarantine, 0);
	import_json(d, "{\"persons\": [{\"id\": \"p-x\", \"household\": \"h-x\","
		    " \"role\": \"resident\", \"quarantine_until\":"
		    " \"2026-01-10T00:00:00Z\"}]}");
	assert_int_equal(gp_check(keys, tok, len, NOW, d, &r), 0);
	assert_int_equal(r.match.quarantine, 1);
	assert_int_equal(reg_remove_persons(d, ids, 1, NULL, on_reg_error,
					    NULL), 0);
	assert_int_equal(gp_check(keys, tok, len, NOW, d, &r), -EACCES);
	assert_int_equal(r.verdict, GP_UNKNOWN_SUBJECT);
	reg_db_close(d);
}

/* --- gp_is_pass, gp_code, gp_refine ---------------------------------------- */

static void test_is_pass(void **state)
{
	static const struct {
		const char *code;
		int yes;
	} cases[] = {
		{ "WKP1.", 1 }, { "WKP1.AEEG64", 1 }, { "wkp1.aeeg", 1 },
		{ "Wkp1.x", 1 }, { "WKP1", 0 }, { "WKP1:x", 0 },
		{ "WKP2.x", 0 }, { "XWKP1.x", 0 }, { " WKP1.x", 0 },
		{ "1001", 0 }, { "", 0 }, { "pass ops 1", 0 },
		{ "WKP\xb1.x", 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++)
		if (gp_is_pass(cases[i].code, strlen(cases[i].code)) !=
		    cases[i].yes)
			fail_msg("gp_is_pass(\"%s\") != %d", cases[i].code,
				 cases[i].yes);
	/* the length counts, not a NUL */
	assert_false(gp_is_pass("WKP1.", 4));
	assert_true(gp_is_pass("WKP1.\0x", 7));
}

static void test_codes(void **state)
{
	static const char *const codes[] = {
		"ok", "pass_malformed", "pass_unknown_issuer", "pass_tampered",
		"pass_not_yet_valid", "pass_expired", "pass_internal_error",
		"pass_unknown_subject",
	};

	(void)state;
	for (int v = GP_OK; v <= GP_UNKNOWN_SUBJECT; v++)
		assert_string_equal(gp_code((enum gp_verdict)v), codes[v]);
	assert_string_equal(gp_code((enum gp_verdict)99),
			    "pass_internal_error");
	/* pass_verify's own codes are the same words */
	for (int r = PASS_OK; r <= PASS_INTERNAL; r++)
		assert_string_equal(pass_reason_code((enum pass_reason)r),
				    codes[r]);
}

static void test_refine(void **state)
{
	static const struct {
		enum gp_verdict verdict;
		enum rules_decision decision;
		const char *reason, *want;
	} cases[] = {
		{ GP_EXPIRED, RULES_DENY, "expired_credential", "pass_expired" },
		{ GP_NOT_YET_VALID, RULES_DENY, "not_yet_valid_credential",
		  "pass_not_yet_valid" },
		{ GP_TAMPERED, RULES_DENY, "unknown_credential", "pass_tampered" },
		{ GP_MALFORMED, RULES_DENY, "unknown_credential", "pass_malformed" },
		{ GP_UNKNOWN_ISSUER, RULES_DENY, "unknown_credential",
		  "pass_unknown_issuer" },
		{ GP_UNKNOWN_SUBJECT, RULES_DENY, "unknown_credential",
		  "pass_unknown_subject" },
		{ GP_INTERNAL, RULES_DENY, "unknown_credential",
		  "pass_internal_error" },
		{ GP_EXPIRED, RULES_DENY, "revoked_credential", "pass_expired" },
		/* the rules' own verdicts stand */
		{ GP_EXPIRED, RULES_ALLOW, "emergency_open", "emergency_open" },
		{ GP_TAMPERED, RULES_ALLOW, "unknown_credential",
		  "unknown_credential" },
		{ GP_TAMPERED, RULES_DENY, "fever", "fever" },
		{ GP_TAMPERED, RULES_RETEST, "fever_retest", "fever_retest" },
		{ GP_TAMPERED, RULES_DENY, "no_rule", "no_rule" },
		{ GP_OK, RULES_DENY, "person_expired", "person_expired" },
		{ GP_OK, RULES_DENY, "unknown_credential", "unknown_credential" },
		{ GP_OK, RULES_ALLOW, "resident", "resident" },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct gp_result r;
		struct rules_verdict v;

		memset(&r, 0, sizeof(r));
		memset(&v, 0, sizeof(v));
		r.verdict = cases[i].verdict;
		v.decision = cases[i].decision;
		v.reason = cases[i].reason;
		gp_refine(&r, &v);
		assert_string_equal(v.reason, cases[i].want);
	}
}

/* --- the shipped policy on the facts of passes ------------------------------ */

static void on_rules_error(void *ctx, const char *where, const char *path,
			   const char *msg)
{
	(void)ctx;
	print_error("%s: %s: %s\n", where, path, msg);
}

static void test_policy(void **state)
{
	static const struct {
		enum how how;
		enum pass_kind kind;
		const char *subject;
		int64_t now;
		enum rules_mode mode;
		enum rules_dir dir;
		enum rules_decision decision;
		const char *reason;
	} cases[] = {
		{ H_GOOD, PASS_PERSON, "p-res", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_ALLOW, "resident" },
		{ H_GOOD, PASS_PERSON, "p-ten", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "person_expired" },
		{ H_GOOD, PASS_PERSON, "p-blk", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "blocked" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-home", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_OUT, RULES_ALLOW, "resident" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-quar", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_OUT, RULES_DENY, "quarantine_exit" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-quar", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_ALLOW, "resident" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-obs", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_OUT, RULES_DENY, "blocked" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-lapsed", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "person_expired" },
		{ H_GOOD, PASS_HOUSEHOLD, "h-vis", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "not_allowed" },
		{ H_GOOD, PASS_PERSON, "p-res", UNTIL, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "pass_expired" },
		{ H_GOOD, PASS_PERSON, "p-res", FROM - 1, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "pass_not_yet_valid" },
		{ H_WRONG_KEY, PASS_PERSON, "p-res", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "pass_tampered" },
		{ H_STRANGER, PASS_PERSON, "p-res", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "pass_unknown_issuer" },
		{ H_GARBAGE, PASS_PERSON, "p-res", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "pass_malformed" },
		{ H_GOOD, PASS_PERSON, "p-nobody", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "pass_unknown_subject" },
		{ H_NO_DB, PASS_PERSON, "p-res", NOW, RULES_MODE_NORMAL,
		  RULES_DIR_IN, RULES_DENY, "pass_internal_error" },
		/* fire: everyone out, whatever the pass */
		{ H_WRONG_KEY, PASS_PERSON, "p-res", NOW, RULES_MODE_OPEN,
		  RULES_DIR_OUT, RULES_ALLOW, "emergency_open" },
	};
	char tok[PASS_TOKEN_MAX + 1];
	struct rules *rules;

	(void)state;
	if (rules_load(POLICY_FILE, &rules, on_rules_error, NULL) != 0)
		fail_msg("%s does not load", POLICY_FILE);
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct gp_result r;
		struct rules_facts f;
		struct rules_verdict v;
		size_t len = make_token(cases[i].how, cases[i].kind,
					cases[i].subject, tok, sizeof(tok));

		gp_check(keys, tok, len, cases[i].now,
			 cases[i].how == H_NO_DB ? NULL : db, &r);
		/* as gather_facts() does for a card: a Monday noon, a lane
		 * without a thermal sensor */
		memset(&f, 0, sizeof(f));
		f.wday = 1;
		f.minute = 12 * 60;
		f.date = 20260105;
		f.mode = cases[i].mode;
		f.direction = cases[i].dir;
		f.temperature = RULES_TEMP_NONE;
		reg_facts(&r.match, &f);
		rules_eval(rules, &f, &v);
		gp_refine(&r, &v);
		if (v.decision != cases[i].decision ||
		    strcmp(v.reason, cases[i].reason) != 0)
			fail_msg("case %zu (%s %s): got %s/%s rule %s, want %s/%s",
				 i, pass_kind_name(cases[i].kind),
				 cases[i].subject,
				 rules_decision_name(v.decision), v.reason,
				 v.rule, rules_decision_name(cases[i].decision),
				 cases[i].reason);
	}
	rules_free(rules);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_long_key_credential),
		cmocka_unit_test(test_null_code),
		cmocka_unit_test(test_same_as_card),
		cmocka_unit_test(test_db_lookups),
		cmocka_unit_test(test_db_changes),
		cmocka_unit_test(test_is_pass),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_refine),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
