/*
 * admin: signed bundles end to end with real Ed25519 keys made here with
 * OpenSSL (independently of admin.c: the test signs with EVP_DigestSign
 * and encodes with EVP_EncodeBlock).  A valid bundle of each kind and what
 * it yields; every refusal code from a crafted case with the message's
 * position and path; the order of the checks; the payload and envelope
 * bounds; the strict base64 and time parsers as tables; the admin keys
 * file's errors with PATH:LINE.
 *
 * Documents in the tables are written with ' for ", which doc() turns
 * back (one byte for one, so positions stay what they look like).
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

#include "admin.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define NOW 1767225600		/* 2026-01-01T00:00:00Z */
#define HOUR "2026-01-01T01:00:00Z"

/* the common members of a document for site s1, gate g1, valid at NOW */
#define HEAD(kind) "{'kind':'" kind "','site':'s1','gate':'g1'," \
	"'issued':'2026-01-01T00:00:00Z','expires':'" HOUR "'"
#define RULES_DOC HEAD("rules") ",'version':3,'rules':{'version':3,'rules':[]}}"
#define DEFAULT_ENV "{'wicket':1,'key':'ops-2026','signed':'@S','sig':'@G'}"

static EVP_PKEY *ops_key, *other_key;
static struct admin_keys *keys;
static const struct admin_target target = { "s1", "g1" };

/* --- helpers ------------------------------------------------------------- */

static char *b64(const unsigned char *p, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);

	assert_non_null(s);
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	assert_non_null(k);
	return k;
}

static char *pub_b64(EVP_PKEY *k)
{
	unsigned char raw[32];
	size_t n = sizeof(raw);

	assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &n), 1);
	assert_int_equal(n, 32);
	return b64(raw, n);
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

/* ' to " */
static char *doc(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

/* Growable string. */
struct buf {
	char *s;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* sig's base64 with character i replaced by rep */
static void put_sig_with(struct buf *b, const char *sig, size_t i,
			 const char *rep)
{
	put(b, sig, i);
	puts_(b, rep);
	puts_(b, sig + i + 1);
}

/*
 * The envelope from template env (' for ") around the signed bytes
 * (len of them), signed by signer; flip: one bit of the signed bytes is
 * flipped after signing.  Placeholders:
 *   @S signed     @X signed with '*' first     @G sig
 *   @P sig without its "=="    @L base64 of the first 63 signature bytes
 *   @M base64 of the signature and a zero byte (65 bytes)
 *   @T sig whose last data character leaves bits set under the padding
 *   @W sig with a space, @N with a JSON "\n", @E with '=', @U with '-'
 *      in place of character 10
 */
static char *envelope_of(const char *env, const void *signed_bytes,
			 size_t len, EVP_PKEY *signer, int flip)
{
	unsigned char sig[64], sig65[65], *bytes = malloc(len + 1);
	char *sb, *gb, *lb, *mb, *e = doc(env);
	struct buf b = { 0 };

	put(&b, "", 0);
	assert_non_null(bytes);
	memcpy(bytes, signed_bytes, len);
	sign(signer, bytes, len, sig);
	if (flip)
		bytes[len / 2] ^= 0x04;
	sb = b64(bytes, len);
	gb = b64(sig, 64);
	lb = b64(sig, 63);
	memcpy(sig65, sig, 64);
	sig65[64] = 0;
	mb = b64(sig65, 65);
	assert_int_equal(strlen(gb), 88);
	assert_string_equal(gb + 86, "==");
	for (const char *p = e; *p; p++) {
		if (p[0] != '@' || p[1] == '\0') {
			put(&b, p, 1);
			continue;
		}
		switch (*++p) {
		case 'S':
			puts_(&b, sb);
			break;
		case 'X':
			put_sig_with(&b, sb, 0, "*");
			break;
		case 'G':
			puts_(&b, gb);
			break;
		case 'P':
			put(&b, gb, 86);
			break;
		case 'L':
			puts_(&b, lb);
			break;
		case 'M':
			puts_(&b, mb);
			break;
		case 'T': {
			/* 64 bytes: the last group is "v0v1==" and v1's low
			 * 4 bits are padding */
			static const char alpha[] =
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
			const char *at = strchr(alpha, gb[85]);
			char c[2] = { 0, 0 };

			assert_non_null(at);
			assert_int_equal((at - alpha) & 0x0f, 0);
			c[0] = alpha[(at - alpha) | 1];
			put_sig_with(&b, gb, 85, c);
			break;
		}
		case 'W':
			put_sig_with(&b, gb, 10, " ");
			break;
		case 'N':
			put_sig_with(&b, gb, 10, "\\n");
			break;
		case 'E':
			put_sig_with(&b, gb, 10, "=");
			break;
		case 'U':
			put_sig_with(&b, gb, 10, "-");
			break;
		default:
			fail_msg("bad placeholder @%c", *p);
		}
	}
	free(bytes);
	free(sb);
	free(gb);
	free(lb);
	free(mb);
	free(e);
	return b.s;
}

static char *envelope(const char *env, const char *document, EVP_PKEY *k,
		      int flip)
{
	char *d = doc(document), *e;

	e = envelope_of(env ? env : DEFAULT_ENV, d, strlen(d), k, flip);
	free(d);
	return e;
}

static int verify(const char *payload, size_t len, int64_t now,
		  struct admin_bundle **b, const char **code, char *msg,
		  size_t msglen)
{
	return admin_verify(keys, &target, payload, len, now, b, code, msg,
			    msglen);
}

/* --- set-up -------------------------------------------------------------- */

static int setup(void **state)
{
	char text[512], err[256], *p1, *p2;
	int rc;

	(void)state;
	ops_key = new_key();
	other_key = new_key();
	p1 = pub_b64(ops_key);
	p2 = pub_b64(other_key);
	snprintf(text, sizeof(text),
		 "# test keys\n\nops-2026 ed25519 %s\nbackup.2 ed25519 %s\n",
		 p1, p2);
	free(p1);
	free(p2);
	rc = admin_keys_parse("test-keys", text, strlen(text), &keys, err,
			      sizeof(err));
	if (rc != 0)
		fail_msg("keys: %s", err);
	assert_int_equal(admin_keys_count(keys), 2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	admin_keys_free(keys);
	EVP_PKEY_free(ops_key);
	EVP_PKEY_free(other_key);
	return 0;
}

/* --- valid bundles ------------------------------------------------------- */

struct valid_case {
	const char *name;
	const char *doc;
	int64_t now;
	int other;		/* signed by backup.2 */
	enum admin_kind kind;
	int64_t version;
	int all_gates;
	enum jt_type body;	/* JT_NULL: no body */
	int lists_mode;		/* -1: not lists */
	int64_t base;
	int upsert, remove;
	int cmd;		/* -1: not cmd */
	const char *arg;	/* lane or mode */
	const char *id;
};

static const struct valid_case valid_cases[] = {
	{ "rules", RULES_DOC, NOW, 0, ADMIN_RULES, 3, 0, JT_OBJECT, -1, 0, 0,
	  0, -1, NULL, NULL },
	{ "rules, all gates, by the second key",
	  "{'kind':'rules','site':'s1','gate':'*','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'" HOUR "','version':9,'rules':{'rules':[]}}",
	  NOW, 1, ADMIN_RULES, 9, 1, JT_OBJECT, -1, 0, 0, 0, -1, NULL, NULL },
	{ "rules whose own version is not an integer (the validator's)",
	  HEAD("rules") ",'version':3,'rules':{'version':'x'}}",
	  NOW, 0, ADMIN_RULES, 3, 0, JT_OBJECT, -1, 0, 0, 0, -1, NULL, NULL },
	{ "members in any order, whitespace",
	  "{\n  'rules': {},\n  'version': 1,\n  'expires': '" HOUR "',\n"
	  "  'issued': '2026-01-01T00:00:00Z', 'gate': 'g1', 'site': 's1',\n"
	  "  'kind': 'rules'\n}\n",
	  NOW, 0, ADMIN_RULES, 1, 0, JT_OBJECT, -1, 0, 0, 0, -1, NULL, NULL },
	{ "lists snapshot",
	  HEAD("lists") ",'version':12,'lists':{'mode':'snapshot','registry':{'persons':[]}}}",
	  NOW, 0, ADMIN_LISTS, 12, 0, JT_OBJECT, ADMIN_LISTS_SNAPSHOT, 0, 0, 0,
	  -1, NULL, NULL },
	{ "lists delta, upsert and remove",
	  HEAD("lists") ",'version':13,'lists':{'mode':'delta','base':12,"
	  "'upsert':{'persons':[]},'remove':{'persons':['p1','p2'],"
	  "'households':[],'credentials':['04AB']}}}",
	  NOW, 0, ADMIN_LISTS, 13, 0, JT_OBJECT, ADMIN_LISTS_DELTA, 12, 1, 1,
	  -1, NULL, NULL },
	{ "lists delta, remove only, base 0",
	  HEAD("lists") ",'version':1,'lists':{'mode':'delta','base':0,'remove':{}}}",
	  NOW, 0, ADMIN_LISTS, 1, 0, JT_OBJECT, ADMIN_LISTS_DELTA, 0, 0, 1,
	  -1, NULL, NULL },
	{ "lists delta, upsert only",
	  HEAD("lists") ",'version':5,'lists':{'upsert':{},'base':4,'mode':'delta'}}",
	  NOW, 0, ADMIN_LISTS, 5, 0, JT_OBJECT, ADMIN_LISTS_DELTA, 4, 1, 0,
	  -1, NULL, NULL },
	{ "rollback", HEAD("rollback") ",'version':7}",
	  NOW, 0, ADMIN_ROLLBACK, 7, 0, JT_NULL, -1, 0, 0, 0, -1, NULL, NULL },
	{ "cmd open",
	  HEAD("cmd") ",'id':'a1b2c3d4','cmd':{'name':'open','lane':'north_1'}}",
	  NOW, 0, ADMIN_CMD, 0, 0, JT_OBJECT, -1, 0, 0, 0, ADMIN_CMD_OPEN,
	  "north_1", "a1b2c3d4" },
	{ "cmd mode",
	  HEAD("cmd") ",'id':'0123456789012345678901234567890123456789012345678901234567890123',"
	  "'cmd':{'mode':'residents-only','name':'mode'}}",
	  NOW, 0, ADMIN_CMD, 0, 0, JT_OBJECT, -1, 0, 0, 0, ADMIN_CMD_MODE,
	  "residents-only",
	  "0123456789012345678901234567890123456789012345678901234567890123" },
	{ "cmd status, all gates",
	  "{'kind':'cmd','site':'s1','gate':'*','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'" HOUR "','id':'x.y-z_123','cmd':{'name':'status'}}",
	  NOW, 0, ADMIN_CMD, 0, 1, JT_OBJECT, -1, 0, 0, 0, ADMIN_CMD_STATUS,
	  NULL, "x.y-z_123" },
	{ "issued exactly 300 s ahead", RULES_DOC, NOW - 300, 0, ADMIN_RULES,
	  3, 0, JT_OBJECT, -1, 0, 0, 0, -1, NULL, NULL },
	{ "one second before expiry", RULES_DOC, NOW + 3599, 0, ADMIN_RULES,
	  3, 0, JT_OBJECT, -1, 0, 0, 0, -1, NULL, NULL },
	{ "30 days exactly",
	  "{'kind':'rollback','site':'s1','gate':'g1','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'2026-01-31T00:00:00Z','version':2}",
	  NOW + 29 * 86400, 0, ADMIN_ROLLBACK, 2, 0, JT_NULL, -1, 0, 0, 0, -1,
	  NULL, NULL },
};

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		char *env = envelope(c->other ?
				     "{'wicket':1,'key':'backup.2','signed':'@S','sig':'@G'}" :
				     NULL, c->doc, c->other ? other_key : ops_key, 0);
		struct admin_bundle *b = NULL;
		const char *code = "unset";
		char msg[512];
		int rc;

		rc = verify(env, strlen(env), c->now, &b, &code, msg,
			    sizeof(msg));
		if (rc != 0)
			fail_msg("valid case '%s': %d %s: %s", c->name, rc,
				 code, msg);
		assert_null(code);
		assert_string_equal(msg, "");
		assert_non_null(b);
		if (b->kind != c->kind || b->version != c->version ||
		    b->all_gates != c->all_gates)
			fail_msg("case '%s': kind %d version %lld all %d", c->name,
				 b->kind, (long long)b->version, b->all_gates);
		assert_string_equal(b->key, c->other ? "backup.2" : "ops-2026");
		assert_int_equal(b->issued_s, NOW);	/* in every document */
		assert_true(b->expires_s > b->issued_s);
		assert_non_null(b->doc);
		assert_ptr_equal(b->root, jt_root(b->doc));
		assert_true(b->text_len > 0 && strlen(b->text) == b->text_len);
		if (c->body == JT_NULL)
			assert_null(b->body);
		else if (b->body == NULL || b->body->type != c->body)
			fail_msg("case '%s': body", c->name);
		if (c->lists_mode >= 0) {
			assert_int_equal(b->lists_mode, c->lists_mode);
			assert_int_equal(b->base, c->base);
			assert_int_equal(b->upsert != NULL, c->upsert);
			assert_int_equal(b->remove != NULL, c->remove);
			if (c->lists_mode == ADMIN_LISTS_SNAPSHOT) {
				assert_non_null(b->registry);
				assert_int_equal(b->registry->type, JT_OBJECT);
			} else {
				assert_null(b->registry);
			}
		}
		if (c->cmd >= 0) {
			assert_int_equal(b->cmd, c->cmd);
			assert_string_equal(b->id, c->id);
			if (c->cmd == ADMIN_CMD_OPEN)
				assert_string_equal(b->lane, c->arg);
			else
				assert_null(b->lane);
			if (c->cmd == ADMIN_CMD_MODE)
				assert_string_equal(b->mode, c->arg);
			else
				assert_null(b->mode);
		} else {
			assert_string_equal(b->id, "");
		}
		admin_bundle_free(b);
		free(env);
	}
}

/* The times and exact fields of one bundle. */
static void test_valid_fields(void **state)
{
	char *env = envelope(NULL,
			     "{'kind':'rules','site':'s1','gate':'g1',"
			     "'issued':'2026-01-01T00:00:00Z',"
			     "'expires':'2026-01-02T00:00:00Z','version':3,"
			     "'rules':{'version':3}}", ops_key, 0);
	struct admin_bundle *b = NULL;
	const char *code;
	char msg[256];

	(void)state;
	assert_int_equal(verify(env, strlen(env), NOW, &b, &code, msg,
				sizeof(msg)), 0);
	assert_int_equal(b->issued_s, NOW);
	assert_int_equal(b->expires_s, NOW + 86400);
	assert_int_equal(b->text_len, 139);
	assert_int_equal(strncmp(b->text, "{\"kind\":\"rules\",", 16), 0);
	assert_ptr_equal(b->body, jt_get(b->root, "rules"));
	assert_int_equal(jt_get(b->body, "version")->i, 3);
	assert_string_equal(admin_kind_name(b->kind), "rules");
	assert_string_equal(admin_kind_name(ADMIN_LISTS), "lists");
	assert_string_equal(admin_kind_name(ADMIN_ROLLBACK), "rollback");
	assert_string_equal(admin_kind_name(ADMIN_CMD), "cmd");
	assert_string_equal(admin_cmd_name(ADMIN_CMD_OPEN), "open");
	assert_string_equal(admin_cmd_name(ADMIN_CMD_MODE), "mode");
	assert_string_equal(admin_cmd_name(ADMIN_CMD_STATUS), "status");
	admin_bundle_free(b);
	admin_bundle_free(NULL);
	free(env);
}

/* --- refusals ------------------------------------------------------------ */

struct refusal {
	const char *name;
	const char *env;	/* envelope template; NULL: DEFAULT_ENV */
	const char *doc;	/* the signed document; NULL: RULES_DOC */
	int other;		/* signed by the other key */
	int flip;		/* a bit of the signed bytes flipped */
	int64_t now;		/* 0: NOW */
	const char *code;
	const char *msg;	/* what the message must contain */
};

#define ENV(members) "{'wicket':1,'key':'ops-2026','signed':'@S'," members "}"

static const struct refusal refusals[] = {
	/* envelope */
	{ "not JSON", "{'wicket':1,", NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "envelope:1:13: " },
	{ "not JSON, second line", "{'wicket':1,\n 'key' 'x'}", NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE, "envelope:2:8: " },
	{ "empty payload", "", NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "envelope:1:1: " },
	{ "trailing garbage", DEFAULT_ENV "x", NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE, "envelope:1:" },
	{ "an array", "['@S','@G']", NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "envelope:1:1: $: must be an object, not array" },
	{ "extra member", ENV("'sig':'@G','note':'hi'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE, "$: unknown member 'note'" },
	{ "missing sig", ENV("'x':1"), NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "$: unknown member 'x'" },
	{ "missing sig only", "{'wicket':1,'key':'ops-2026','signed':'@S'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "envelope:1:1: $: missing member 'sig'" },
	{ "missing wicket", "{'key':'ops-2026','signed':'@S','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE, "missing member 'wicket'" },
	{ "wicket 2", "{'wicket':2,'key':'ops-2026','signed':'@S','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "envelope:1:11: $.wicket: envelope format 2 is not supported" },
	{ "wicket 1.0", "{'wicket':1.0,'key':'ops-2026','signed':'@S','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE, "envelope:1:11: $.wicket: must be the integer 1" },
	{ "wicket as a string",
	  "{'wicket':'1','key':'ops-2026','signed':'@S','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "envelope:1:11: $.wicket: must be a number, not string" },
	{ "key with a space",
	  "{'wicket':1,'key':'ops 2026','signed':'@S','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "envelope:1:19: $.key: 'ops 2026' is not 1-64" },
	{ "key empty", "{'wicket':1,'key':'','signed':'@S','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE, "$.key: '' is not 1-64" },
	{ "key of 65",
	  "{'wicket':1,'key':'k1234567890123456789012345678901234567890123456789012345678901234',"
	  "'signed':'@S','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE, "$.key: 'k12345" },
	{ "key a number", "{'wicket':1,'key':7,'signed':'@S','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "$.key: must be a string, not number" },
	{ "signed empty", "{'wicket':1,'key':'ops-2026','signed':'','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "envelope:1:39: $.signed: empty" },
	{ "signed not base64",
	  "{'wicket':1,'key':'ops-2026','signed':'@X','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "envelope:1:39: $.signed: not strict base64: character 1 of the string ('*') is not in the alphabet" },
	{ "signed an object",
	  "{'wicket':1,'key':'ops-2026','signed':{},'sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
	  "$.signed: must be a string, not object" },
	{ "sig without padding", ENV("'sig':'@P'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE,
	  "$.sig: not base64: its length 86 is not a multiple of 4" },
	{ "sig with bits under the padding", ENV("'sig':'@T'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE,
	  "$.sig: not strict base64: character 86 of the string" },
	{ "sig with a space", ENV("'sig':'@W'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE,
	  "$.sig: not strict base64: character 11 of the string ('?') is whitespace" },
	{ "sig with a line break", ENV("'sig':'@N'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE, "character 11 of the string ('?') is whitespace" },
	{ "sig with '=' inside", ENV("'sig':'@E'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE, "character 11 of the string ('=') is padding before the end" },
	{ "sig in the URL alphabet", ENV("'sig':'@U'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE, "character 11 of the string ('-') is not in the alphabet" },
	{ "sig of 63 bytes", ENV("'sig':'@L'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE,
	  "$.sig: the signature is 63 bytes; an Ed25519 signature is 64" },
	{ "sig of 65 bytes", ENV("'sig':'@M'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE,
	  "$.sig: the signature is 65 bytes; an Ed25519 signature is 64" },
	{ "sig of 3 bytes", ENV("'sig':'AAAA'"), NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE, "the signature is 3 bytes" },
	{ "too many values", "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
	  "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]", NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE, "envelope:1:65: $: too many values" },
	/* the envelope is checked before the key is looked up */
	{ "unknown key and bad sig",
	  "{'wicket':1,'key':'nobody','signed':'@S','sig':'@P'}", NULL, 0, 0, 0,
	  ADMIN_E_BAD_ENVELOPE, "$.sig: not base64" },

	/* key */
	{ "unknown key", "{'wicket':1,'key':'nobody','signed':'@S','sig':'@G'}",
	  NULL, 0, 0, 0, ADMIN_E_UNKNOWN_KEY,
	  "envelope:1:19: $.key: no admin key 'nobody' in test-keys" },
	{ "key ids are case-sensitive",
	  "{'wicket':1,'key':'OPS-2026','signed':'@S','sig':'@G'}", NULL, 0, 0,
	  0, ADMIN_E_UNKNOWN_KEY, "no admin key 'OPS-2026'" },

	/* signature */
	{ "signed by another key", NULL, NULL, 1, 0, 0, ADMIN_E_BAD_SIGNATURE,
	  "envelope:1:248: $.sig: the signature does not verify with key 'ops-2026' over the 150 signed bytes" },
	{ "a bit flipped in signed", NULL, NULL, 0, 1, 0,
	  ADMIN_E_BAD_SIGNATURE, "does not verify with key 'ops-2026'" },
	{ "the other key's name, this key's signature",
	  "{'wicket':1,'key':'backup.2','signed':'@S','sig':'@G'}", NULL, 0, 0,
	  0, ADMIN_E_BAD_SIGNATURE, "with key 'backup.2'" },
	/* nothing in the signed part is believed before the signature */
	{ "bad signature over garbage", NULL, "not json, wrong site", 1, 0, 0,
	  ADMIN_E_BAD_SIGNATURE, "does not verify" },
	{ "bad signature over a wrong target", NULL,
	  "{'kind':'rules','site':'elsewhere'}", 0, 1, 0, ADMIN_E_BAD_SIGNATURE,
	  "does not verify" },

	/* document */
	{ "document not JSON", NULL, "{'kind':'rules',\n  'site': }", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "document:2:11: " },
	{ "document not JSON (trailing comma)", NULL,
	  HEAD("rules") ",'version':3,'rules':{},}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "document:1:129: trailing comma" },
	{ "document an array", NULL, "[1]", 0, 0, 0, ADMIN_E_BAD_DOCUMENT,
	  "document:1:1: $: must be an object, not array" },
	{ "document kind missing", NULL, "{'site':'s1'}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "document:1:1: $: missing member 'kind'" },
	{ "document kind a number", NULL, "{'kind':1}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "document:1:9: $.kind: must be a string, not number" },
	{ "document kind unknown", NULL, "{'kind':'reboot'}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT,
	  "document:1:9: $.kind: 'reboot' is not one of rules, lists, rollback, cmd" },
	{ "document unknown member", NULL,
	  HEAD("rules") ",'version':3,'rules':{},'comment':'x'}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT,
	  "document:1:129: $: unknown member 'comment' in a rules bundle" },
	{ "document member of another kind", NULL,
	  HEAD("rollback") ",'version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "$: unknown member 'rules' in a rollback bundle" },
	{ "document id in a rules bundle", NULL,
	  HEAD("rules") ",'version':3,'rules':{},'id':'abcdefgh'}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "unknown member 'id' in a rules bundle" },
	{ "document version in a cmd bundle", NULL,
	  HEAD("cmd") ",'version':3,'id':'abcdefgh','cmd':{'name':'status'}}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT,
	  "unknown member 'version' in a cmd bundle" },
	{ "document site missing", NULL,
	  "{'kind':'rules','gate':'g1','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'" HOUR "','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "document:1:1: $: missing member 'site'" },
	{ "document site a number", NULL,
	  "{'kind':'rules','site':5,'gate':'g1'}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "document:1:24: $.site: must be a string, not number" },
	{ "document gate missing", NULL, "{'kind':'rules','site':'s1'}", 0, 0,
	  0, ADMIN_E_BAD_DOCUMENT, "$: missing member 'gate'" },
	{ "document gate null", NULL,
	  "{'kind':'rules','site':'s1','gate':null}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "$.gate: must be a string, not null" },
	{ "document issued missing", NULL,
	  "{'kind':'rules','site':'s1','gate':'g1','expires':'" HOUR "'}", 0,
	  0, 0, ADMIN_E_BAD_DOCUMENT, "$: missing member 'issued'" },
	{ "document expires missing", NULL,
	  "{'kind':'rules','site':'s1','gate':'g1','issued':'" HOUR "'}", 0,
	  0, 0, ADMIN_E_BAD_DOCUMENT, "$: missing member 'expires'" },
	{ "document issued a number", NULL,
	  "{'kind':'rules','site':'s1','gate':'g1','issued':1767225600,"
	  "'expires':'" HOUR "'}", 0, 0, 0, ADMIN_E_BAD_DOCUMENT,
	  "$.issued: must be a string, not number" },
	{ "document issued with an offset", NULL,
	  "{'kind':'rules','site':'s1','gate':'g1','issued':'2026-01-01T00:00:00+00:00',"
	  "'expires':'" HOUR "','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT,
	  "document:1:50: $.issued: '2026-01-01T00:00:00+00:00' is not a UTC time like 2026-01-31T12:00:00Z" },
	{ "document expires on 30 February", NULL,
	  "{'kind':'rules','site':'s1','gate':'g1','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'2026-02-30T00:00:00Z','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT,
	  "document:1:83: $.expires: '2026-02-30T00:00:00Z' is not a UTC time" },
	{ "document expires before issued", NULL,
	  "{'kind':'rules','site':'s1','gate':'g1','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'2025-12-31T23:59:59Z','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT,
	  "document:1:83: $.expires: 2025-12-31T23:59:59Z is not after issued 2026-01-01T00:00:00Z" },
	{ "document expires when issued", NULL,
	  "{'kind':'rules','site':'s1','gate':'g1','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'2026-01-01T00:00:00Z','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "is not after issued" },
	{ "document valid for over 30 days", NULL,
	  "{'kind':'rules','site':'s1','gate':'g1','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'2026-01-31T00:00:01Z','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT,
	  "$.expires: 2026-01-31T00:00:01Z is more than 30 days after issued" },
	{ "document rules version missing", NULL, HEAD("rules") ",'rules':{}}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT, "document:1:1: $: missing member 'version'" },
	{ "document version a string", NULL,
	  HEAD("rules") ",'version':'3','rules':{}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT,
	  "document:1:116: $.version: must be a number, not string" },
	{ "document version 0", NULL, HEAD("lists") ",'version':0,'lists':{}}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT,
	  "document:1:116: $.version: must be an integer >= 1" },
	{ "document version -1", NULL, HEAD("rollback") ",'version':-1}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT, "$.version: must be an integer >= 1" },
	{ "document version 1.5", NULL, HEAD("rollback") ",'version':1.5}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT, "$.version: must be an integer >= 1" },
	{ "document version too big", NULL,
	  HEAD("rollback") ",'version':9223372036854775808}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT, "$.version: must be an integer >= 1" },
	{ "document rollback version missing", NULL, HEAD("rollback") "}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT, "$: missing member 'version'" },
	{ "document rules missing", NULL, HEAD("rules") ",'version':3}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT, "$: missing member 'rules'" },
	{ "document rules an array", NULL,
	  HEAD("rules") ",'version':3,'rules':[]}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "$.rules: must be an object, not array" },
	{ "document lists missing", NULL, HEAD("lists") ",'version':3}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT, "$: missing member 'lists'" },
	{ "document cmd missing", NULL, HEAD("cmd") ",'id':'abcdefgh'}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT, "$: missing member 'cmd'" },
	{ "document cmd a string", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':'open'}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "$.cmd: must be an object, not string" },
	{ "document id missing", NULL, HEAD("cmd") ",'cmd':{'name':'status'}}",
	  0, 0, 0, ADMIN_E_BAD_DOCUMENT, "$: missing member 'id'" },
	{ "document id a number", NULL,
	  HEAD("cmd") ",'id':12345678,'cmd':{'name':'status'}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "$.id: must be a string, not number" },
	/* a malformed document is refused before its target is looked at */
	{ "document for another site with a bad time", NULL,
	  "{'kind':'rules','site':'s2','gate':'g1','issued':'yesterday',"
	  "'expires':'" HOUR "','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_BAD_DOCUMENT, "$.issued: 'yesterday'" },

	/* target */
	{ "wrong site", NULL,
	  "{'kind':'rules','site':'s2','gate':'g1','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'" HOUR "','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_WRONG_TARGET,
	  "document:1:24: $.site: for site 's2'; this gate is in site 's1'" },
	{ "wrong gate", NULL,
	  "{'kind':'rules','site':'s1','gate':'g2','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'" HOUR "','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_WRONG_TARGET,
	  "document:1:36: $.gate: for gate 'g2'; this gate is 'g1'" },
	{ "gate names are case-sensitive", NULL,
	  "{'kind':'rules','site':'s1','gate':'G1','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'" HOUR "','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_WRONG_TARGET, "for gate 'G1'" },
	{ "all gates of another site", NULL,
	  "{'kind':'rules','site':'s2','gate':'*','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'" HOUR "','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_WRONG_TARGET, "$.site: for site 's2'" },
	{ "gate '**'", NULL,
	  "{'kind':'rules','site':'s1','gate':'**','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'" HOUR "','version':3,'rules':{}}", 0, 0, 0,
	  ADMIN_E_WRONG_TARGET, "for gate '**'" },
	{ "control characters are not shown", NULL,
	  "{'kind':'rules','site':'s\\n\\u001b[2J','gate':'g1',"
	  "'issued':'2026-01-01T00:00:00Z','expires':'" HOUR "','version':3,'rules':{}}",
	  0, 0, 0, ADMIN_E_WRONG_TARGET, "for site 's??[2J'" },
	/* the target is checked before the time */
	{ "wrong gate and expired", NULL,
	  "{'kind':'rules','site':'s1','gate':'g2','issued':'2026-01-01T00:00:00Z',"
	  "'expires':'" HOUR "','version':3,'rules':{}}", 0, 0, NOW + 7200,
	  ADMIN_E_WRONG_TARGET, "for gate 'g2'" },

	/* time */
	{ "expired at the second", NULL, NULL, 0, 0, NOW + 3600,
	  ADMIN_E_EXPIRED,
	  "document:1:83: $.expires: expired at 2026-01-01T01:00:00Z; this gate's clock says 2026-01-01T01:00:00Z" },
	{ "expired long ago", NULL, NULL, 0, 0, NOW + 86400 * 365,
	  ADMIN_E_EXPIRED, "this gate's clock says 2027-01-01T00:00:00Z" },
	{ "issued 301 s ahead", NULL, NULL, 0, 0, NOW - 301,
	  ADMIN_E_NOT_YET_VALID,
	  "document:1:50: $.issued: 2026-01-01T00:00:00Z is 301 s ahead of this gate's clock (2025-12-31T23:54:59Z); at most 300 s are allowed" },
	{ "issued a day ahead", NULL, NULL, 0, 0, NOW - 86400,
	  ADMIN_E_NOT_YET_VALID, "is 86400 s ahead" },
	/* time before content */
	{ "expired, bad rules version", NULL,
	  HEAD("rules") ",'version':3,'rules':{'version':4}}", 0, 0,
	  NOW + 3600, ADMIN_E_EXPIRED, "$.expires: expired" },

	/* rules */
	{ "rules version differs", NULL,
	  HEAD("rules") ",'version':3,'rules':{'version':4}}", 0, 0, 0,
	  ADMIN_E_INVALID_RULES,
	  "document:1:137: $.rules.version: 4 differs from the bundle's version 3" },

	/* lists */
	{ "lists mode missing", NULL,
	  HEAD("lists") ",'version':3,'lists':{'registry':{}}}", 0, 0, 0,
	  ADMIN_E_INVALID_LISTS,
	  "document:1:126: $.lists: missing member 'mode'" },
	{ "lists mode unknown", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'full','registry':{}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS,
	  "document:1:134: $.lists.mode: 'full' is not snapshot or delta" },
	{ "lists mode a number", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':1}}", 0, 0, 0,
	  ADMIN_E_INVALID_LISTS, "$.lists.mode: must be a string, not number" },
	{ "snapshot without registry", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'snapshot'}}", 0, 0, 0,
	  ADMIN_E_INVALID_LISTS, "$.lists: missing member 'registry'" },
	{ "snapshot registry an array", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'snapshot','registry':[]}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS,
	  "$.lists.registry: must be an object, not array" },
	{ "snapshot with a base", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'snapshot','base':2,'registry':{}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS,
	  "document:1:145: $.lists: unknown member 'base' in a snapshot" },
	{ "delta without base", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','upsert':{}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS, "$.lists: missing member 'base'" },
	{ "delta base -1", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':-1,'upsert':{}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS,
	  "document:1:149: $.lists.base: must be an integer >= 0" },
	{ "delta base a string", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':'2','upsert':{}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS, "$.lists.base: must be a number, not string" },
	{ "delta base 2.5", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':2.5,'upsert':{}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS, "$.lists.base: must be an integer >= 0" },
	{ "delta with nothing", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':2}}", 0, 0,
	  0, ADMIN_E_INVALID_LISTS,
	  "document:1:126: $.lists: a delta needs 'upsert', 'remove' or both" },
	{ "delta with a registry", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':2,'registry':{}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS, "unknown member 'registry' in a delta" },
	{ "delta upsert an array", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':2,'upsert':[]}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS, "$.lists.upsert: must be an object, not array" },
	{ "delta remove an array", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':2,'remove':['p1']}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS, "$.lists.remove: must be an object, not array" },
	{ "delta remove persons a string", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':2,'remove':{'persons':'p1'}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS,
	  "$.lists.remove.persons: must be an array of strings, not string" },
	{ "delta remove a number among credentials", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':2,"
	  "'remove':{'persons':[],'credentials':['a','b',3]}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS,
	  "document:1:197: $.lists.remove.credentials[2]: must be a string, not number" },
	{ "delta remove unknown list", NULL,
	  HEAD("lists") ",'version':3,'lists':{'mode':'delta','base':2,'remove':{'cards':[]}}}",
	  0, 0, 0, ADMIN_E_INVALID_LISTS, "$.lists.remove: unknown member 'cards'" },

	/* cmd */
	{ "cmd id of 7", NULL, HEAD("cmd") ",'id':'abcdefg','cmd':{'name':'status'}}",
	  0, 0, 0, ADMIN_E_BAD_COMMAND,
	  "document:1:109: $.id: 'abcdefg' is not 8-64 of A-Z a-z 0-9 . _ -" },
	{ "cmd id of 65", NULL, HEAD("cmd") ",'id':'"
	  "01234567890123456789012345678901234567890123456789012345678901234"
	  "','cmd':{'name':'status'}}", 0, 0, 0, ADMIN_E_BAD_COMMAND,
	  "$.id: '0123456789" },
	{ "cmd id with a slash", NULL,
	  HEAD("cmd") ",'id':'abcd/efgh','cmd':{'name':'status'}}", 0, 0, 0,
	  ADMIN_E_BAD_COMMAND, "$.id: 'abcd/efgh' is not" },
	{ "cmd name missing", NULL, HEAD("cmd") ",'id':'abcdefgh','cmd':{}}",
	  0, 0, 0, ADMIN_E_BAD_COMMAND, "document:1:126: $.cmd: missing member 'name'" },
	{ "cmd name unknown", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'reboot'}}", 0, 0, 0,
	  ADMIN_E_BAD_COMMAND,
	  "document:1:134: $.cmd.name: 'reboot' is not one of open, mode, status" },
	{ "cmd name a number", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':1}}", 0, 0, 0,
	  ADMIN_E_BAD_COMMAND, "$.cmd.name: must be a string, not number" },
	{ "cmd open without lane", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'open'}}", 0, 0, 0,
	  ADMIN_E_BAD_COMMAND, "$.cmd: missing member 'lane'" },
	{ "cmd open lane a number", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'open','lane':1}}", 0, 0,
	  0, ADMIN_E_BAD_COMMAND, "$.cmd.lane: must be a string, not number" },
	{ "cmd open lane with a dot", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'open','lane':'a.b'}}",
	  0, 0, 0, ADMIN_E_BAD_COMMAND,
	  "$.cmd.lane: 'a.b' is not a lane name (1-32 of a-z A-Z 0-9 - _)" },
	{ "cmd open lane empty", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'open','lane':''}}", 0,
	  0, 0, ADMIN_E_BAD_COMMAND, "$.cmd.lane: '' is not a lane name" },
	{ "cmd open with a mode", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'open','lane':'l1','mode':'open'}}",
	  0, 0, 0, ADMIN_E_BAD_COMMAND, "$.cmd: unknown member 'mode' for open" },
	{ "cmd mode without mode", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'mode'}}", 0, 0, 0,
	  ADMIN_E_BAD_COMMAND, "$.cmd: missing member 'mode'" },
	{ "cmd mode unknown", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'mode','mode':'party'}}",
	  0, 0, 0, ADMIN_E_BAD_COMMAND,
	  "$.cmd.mode: 'party' is not one of normal, residents-only, lockdown, open" },
	{ "cmd mode with a lane", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'mode','mode':'open','lane':'l1'}}",
	  0, 0, 0, ADMIN_E_BAD_COMMAND, "unknown member 'lane' for mode" },
	{ "cmd status with a lane", NULL,
	  HEAD("cmd") ",'id':'abcdefgh','cmd':{'name':'status','lane':'l1'}}",
	  0, 0, 0, ADMIN_E_BAD_COMMAND, "unknown member 'lane' for status" },
};

static void check_refusal(const struct refusal *c, const char *payload,
			  size_t len)
{
	struct admin_bundle *b = (void *)1;
	const char *code = NULL;
	char msg[512];
	int rc;

	rc = verify(payload, len, c->now ? c->now : NOW, &b, &code, msg,
		    sizeof(msg));
	if (rc != -EINVAL)
		fail_msg("case '%s': rc %d, code %s: %s", c->name, rc,
			 code ? code : "(none)", msg);
	assert_null(b);
	if (code == NULL || strcmp(code, c->code) != 0)
		fail_msg("case '%s': code %s, expected %s: %s", c->name,
			 code ? code : "(none)", c->code, msg);
	if (strstr(msg, c->msg) == NULL)
		fail_msg("case '%s': message\n  %s\nlacks\n  %s", c->name, msg,
			 c->msg);
	if (strncmp(msg, "envelope", 8) != 0 && strncmp(msg, "document:", 9) != 0)
		fail_msg("case '%s': message does not say where: %s", c->name,
			 msg);
}

static void test_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(refusals); i++) {
		const struct refusal *c = &refusals[i];
		char *env = envelope(c->env, c->doc ? c->doc : RULES_DOC,
				     c->other ? other_key : ops_key, c->flip);

		check_refusal(c, env, strlen(env));
		free(env);
	}
}

/* No keys at all: every bundle is from an unknown key. */
static void test_no_keys(void **state)
{
	char *env = envelope(NULL, RULES_DOC, ops_key, 0);
	struct admin_keys *none = NULL;
	struct admin_bundle *b;
	const char *code;
	char msg[256], err[64];

	(void)state;
	assert_int_equal(admin_verify(NULL, &target, env, strlen(env), NOW, &b,
				      &code, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(code, ADMIN_E_UNKNOWN_KEY);
	assert_non_null(strstr(msg, "no admin key 'ops-2026' in the admin keys"));
	assert_int_equal(admin_keys_parse("empty", "# none\n", 7, &none, err,
					  sizeof(err)), 0);
	assert_int_equal(admin_keys_count(none), 0);
	assert_int_equal(admin_verify(none, &target, env, strlen(env), NOW, &b,
				      &code, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(code, ADMIN_E_UNKNOWN_KEY);
	assert_non_null(strstr(msg, "no admin key 'ops-2026' in empty"));
	admin_keys_free(none);
	free(env);
}

/* Messages are cut to the buffer, or not written at all. */
static void test_small_message(void **state)
{
	char *env = envelope(NULL, RULES_DOC, ops_key, 0);
	struct admin_bundle *b;
	const char *code;
	char msg[9];

	(void)state;
	memset(msg, 'x', sizeof(msg));
	assert_int_equal(admin_verify(keys, &target, env, strlen(env),
				      NOW + 4000, &b, &code, msg, sizeof(msg)),
			 -EINVAL);
	assert_string_equal(code, ADMIN_E_EXPIRED);
	assert_string_equal(msg, "document");
	assert_int_equal(admin_verify(keys, &target, env, strlen(env),
				      NOW + 4000, &b, &code, NULL, 0), -EINVAL);
	assert_string_equal(code, ADMIN_E_EXPIRED);
	free(env);
}

/* The payload bound, and a document just under it. */
static void test_sizes(void **state)
{
	static const struct refusal too_big = {
		"payload over 8 MiB", NULL, NULL, 0, 0, 0, ADMIN_E_BAD_ENVELOPE,
		"envelope: 8388609 bytes, more than the 8388608 allowed"
	};
	size_t n = 6 * 1024 * 1024 - 200;
	struct buf d = { 0 };
	char *big, *env;
	struct admin_bundle *b;
	const char *code;
	char msg[256];
	int rc;

	(void)state;
	/* a valid envelope followed by spaces: refused on its size alone */
	env = envelope(NULL, RULES_DOC, ops_key, 0);
	big = malloc(ADMIN_PAYLOAD_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', ADMIN_PAYLOAD_MAX + 1);
	memcpy(big, env, strlen(env));
	check_refusal(&too_big, big, ADMIN_PAYLOAD_MAX + 1);
	/* the same at exactly the limit is fine */
	rc = verify(big, ADMIN_PAYLOAD_MAX, NOW, &b, &code, msg, sizeof(msg));
	if (rc != 0)
		fail_msg("at the limit: %s: %s", code, msg);
	admin_bundle_free(b);
	free(big);
	free(env);

	/* a rules bundle of about 6 MiB */
	puts_(&d, "{\"kind\":\"rules\",\"site\":\"s1\",\"gate\":\"g1\","
		  "\"issued\":\"2026-01-01T00:00:00Z\",\"expires\":\"" HOUR "\","
		  "\"version\":3,\"rules\":{\"version\":3,\"pad\":\"");
	while (d.len < n)
		put(&d, "abcdefghijklmnopqrstuvwxyz0123456789", 36);
	puts_(&d, "\"}}");
	env = envelope_of(DEFAULT_ENV, d.s, d.len, ops_key, 0);
	assert_true(strlen(env) <= ADMIN_PAYLOAD_MAX);
	rc = verify(env, strlen(env), NOW, &b, &code, msg, sizeof(msg));
	if (rc != 0)
		fail_msg("6 MiB: %s: %s", code, msg);
	assert_int_equal(b->text_len, d.len);
	assert_memory_equal(b->text, d.s, d.len);
	assert_true(jt_get(b->body, "pad")->len > n - 200);
	admin_bundle_free(b);
	free(env);
	free(d.s);
}

/* Bytes that are not UTF-8 or contain NUL, in the envelope and in the
 * signed document. */
static void test_binary(void **state)
{
	static const char env_nul[] = "{\"wicket\":1,\0\"key\":\"x\"}";
	static const struct refusal nul_env = {
		"NUL in the envelope", NULL, NULL, 0, 0, 0,
		ADMIN_E_BAD_ENVELOPE, "envelope:1:13: "
	};
	static const struct refusal nul_doc = {
		"NUL in the document", NULL, NULL, 0, 0, 0,
		ADMIN_E_BAD_DOCUMENT, "document:1:9: expected a value, found byte 0x00"
	};
	static const char doc_nul[] = "{\"kind\":\0\"rules\"}";
	char *env;

	(void)state;
	check_refusal(&nul_env, env_nul, sizeof(env_nul) - 1);
	env = envelope_of(DEFAULT_ENV, doc_nul, sizeof(doc_nul) - 1, ops_key,
			  0);
	check_refusal(&nul_doc, env, strlen(env));
	free(env);
}

/* --- base64 and time ----------------------------------------------------- */

struct b64_case {
	const char *in;
	int ok;
	const char *out;	/* ok */
	size_t bad;		/* !ok */
};

static const struct b64_case b64_cases[] = {
	{ "", 1, "", 0 },
	{ "Zg==", 1, "f", 0 },
	{ "Zm8=", 1, "fo", 0 },
	{ "Zm9v", 1, "foo", 0 },
	{ "Zm9vYg==", 1, "foob", 0 },
	{ "Zm9vYmFy", 1, "foobar", 0 },
	{ "+/+/", 1, "\xfb\xff\xbf", 0 },
	{ "Zg=", 0, NULL, 3 },		/* length */
	{ "Zg", 0, NULL, 2 },
	{ "Zm9vY", 0, NULL, 5 },
	{ "Zm9v\n", 0, NULL, 5 },
	{ "Zh==", 0, NULL, 1 },		/* bits under the padding */
	{ "Zm9=", 0, NULL, 2 },
	{ "Zg==Zg==", 0, NULL, 2 },	/* padding inside */
	{ "Z===", 0, NULL, 1 },
	{ "====", 0, NULL, 0 },
	{ "Zg=a", 0, NULL, 2 },
	{ "Zm9v====", 0, NULL, 4 },
	{ "Zm 9", 0, NULL, 2 },		/* whitespace */
	{ "Zm9\t", 0, NULL, 3 },
	{ "Zm-_", 0, NULL, 2 },		/* the URL alphabet */
	{ "Zm9v\xc3\xa9Zm", 0, NULL, 4 },
};

static void test_b64(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(b64_cases); i++) {
		const struct b64_case *c = &b64_cases[i];
		unsigned char out[16];
		size_t n = 99, bad = 99;
		int rc = admin_b64_decode(c->in, strlen(c->in), out, &n, &bad);

		if (c->ok) {
			if (rc != 0)
				fail_msg("'%s': refused at %zu", c->in, bad);
			assert_int_equal(n, strlen(c->out));
			assert_memory_equal(out, c->out, n);
		} else {
			if (rc != -EINVAL)
				fail_msg("'%s': accepted", c->in);
			if (bad != c->bad)
				fail_msg("'%s': bad at %zu, expected %zu", c->in,
					 bad, c->bad);
		}
	}
}

/* Every byte string of 0..5 bytes decodes back from OpenSSL's encoding. */
static void test_b64_round_trip(void **state)
{
	unsigned char in[5], out[8];

	(void)state;
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)round % 6, n, bad;
		char *s;

		for (size_t i = 0; i < len; i++)
			in[i] = (unsigned char)(round * 37 + i * 101);
		s = b64(in, len);
		assert_int_equal(admin_b64_decode(s, strlen(s), out, &n, &bad),
				 0);
		assert_int_equal(n, len);
		assert_memory_equal(out, in, len);
		free(s);
	}
}

struct time_case {
	const char *in;
	int ok;
	int64_t t;
};

static const struct time_case time_cases[] = {
	{ "1970-01-01T00:00:00Z", 1, 0 },
	{ "2026-01-01T00:00:00Z", 1, 1767225600 },
	{ "2000-02-29T12:34:56Z", 1, 951827696 },
	{ "2024-02-29T23:59:59Z", 1, 1709251199 },
	{ "9999-12-31T23:59:59Z", 1, 253402300799 },
	{ "2001-02-29T00:00:00Z", 0, 0 },
	{ "1900-02-29T00:00:00Z", 0, 0 },
	{ "2100-02-29T00:00:00Z", 0, 0 },
	{ "1969-12-31T23:59:59Z", 0, 0 },
	{ "1969-06-01T00:00:00Z", 0, 0 },
	{ "0000-01-01T00:00:00Z", 0, 0 },
	{ "2026-13-01T00:00:00Z", 0, 0 },
	{ "2026-00-01T00:00:00Z", 0, 0 },
	{ "2026-01-00T00:00:00Z", 0, 0 },
	{ "2026-01-32T00:00:00Z", 0, 0 },
	{ "2026-04-31T00:00:00Z", 0, 0 },
	{ "2026-01-01T24:00:00Z", 0, 0 },
	{ "2026-01-01T23:60:00Z", 0, 0 },
	{ "2026-01-01T23:59:60Z", 0, 0 },
	{ "2026-01-01T00:00:00", 0, 0 },
	{ "2026-01-01T00:00:00z", 0, 0 },
	{ "2026-01-01t00:00:00Z", 0, 0 },
	{ "2026-01-01 00:00:00Z", 0, 0 },
	{ "2026-01-01T00:00:00.000Z", 0, 0 },
	{ "2026-01-01T00:00:00ZZ", 0, 0 },
	{ " 2026-01-01T00:00:00Z", 0, 0 },
	{ "2026-1-01T00:00:00Z", 0, 0 },
	{ "+026-01-01T00:00:00Z", 0, 0 },
	{ "2026-01-01T0a:00:00Z", 0, 0 },
	{ "2026/01/01T00:00:00Z", 0, 0 },
	{ "", 0, 0 },
};

static void test_time(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(time_cases); i++) {
		const struct time_case *c = &time_cases[i];
		int64_t t = -5;
		int rc = admin_time_parse(c->in, &t);

		if (c->ok && (rc != 0 || t != c->t))
			fail_msg("'%s': rc %d t %lld", c->in, rc, (long long)t);
		if (!c->ok && (rc != -EINVAL || t != -5))
			fail_msg("'%s': accepted", c->in);
	}
}

/* --- the keys file ------------------------------------------------------- */

struct keys_case {
	const char *name;
	const char *text;	/* @1, @2: the two test public keys */
	int ok;
	size_t count;
	const char *err;	/* after "PATH:" */
};

static const struct keys_case keys_cases[] = {
	{ "two keys, comments, blanks, tabs, CRLF",
	  "# admin keys\n\n   \nops-2026 ed25519 @1\r\n\t# old\n"
	  "  backup.2\ted25519   @2  \n", 1, 2, NULL },
	{ "no final newline", "a ed25519 @1", 1, 1, NULL },
	{ "empty", "", 1, 0, NULL },
	{ "only comments", "#\n# x\n", 1, 0, NULL },
	{ "two fields", "# x\nops ed25519\n", 0, 0,
	  "2: expected 'KEY_ID ed25519 BASE64', got 2 fields" },
	{ "one field", "ops\n", 0, 0, "1: expected 'KEY_ID ed25519 BASE64', got 1 field" },
	{ "four fields", "ops ed25519 @1 extra\n", 0, 0,
	  "1: unexpected 'extra' after the public key" },
	{ "a comment after the key", "ops ed25519 @1 # mine\n", 0, 0,
	  "1: unexpected '#' after the public key" },
	{ "bad id", "\n\nops!1 ed25519 @1\n", 0, 0,
	  "3: key id 'ops!1' is not 1-64 of A-Z a-z 0-9 . _ -" },
	{ "id of 65",
	  "k1234567890123456789012345678901234567890123456789012345678901234 ed25519 @1\n",
	  0, 0, "1: key id 'k12345" },
	{ "unsupported type", "ops rsa @1\n", 0, 0,
	  "1: key 'ops': key type 'rsa' is not supported (only ed25519)" },
	{ "type in capitals", "ops Ed25519 @1\n", 0, 0,
	  "1: key 'ops': key type 'Ed25519' is not supported" },
	{ "bad base64", "ops ed25519 !AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	  0, 0, "1: key 'ops': the public key is not base64 (character 1)" },
	{ "base64 without padding",
	  "ops ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", 0, 0,
	  "1: key 'ops': the public key is not base64 (its length 43 is not a multiple of 4)" },
	{ "base64 with bits under the padding",
	  "ops ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n", 0, 0,
	  "1: key 'ops': the public key is not base64 (character 43)" },
	{ "31 bytes", "ops ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
	  0, 0, "1: key 'ops': the public key is 31 bytes; an Ed25519 public key is 32" },
	{ "33 bytes", "ops ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	  0, 0, "1: key 'ops': the public key is 33 bytes" },
	{ "far too long",
	  "ops ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	  0, 0, "1: key 'ops': the public key has 88 characters" },
	{ "duplicate id", "ops ed25519 @1\n# again\nops ed25519 @2\n", 0, 0,
	  "3: key id 'ops' already defined on line 1" },
	{ "same key under two ids", "a ed25519 @1\nb ed25519 @1\n", 1, 2, NULL },
};

/* text with @1/@2 replaced; len: the template's length (NULs kept) */
static char *keys_text(const char *t, size_t len, size_t *outlen)
{
	char *p1 = pub_b64(ops_key), *p2 = pub_b64(other_key);
	struct buf b = { 0 };

	put(&b, "", 0);
	for (size_t i = 0; i < len; i++) {
		if (t[i] == '@' && i + 1 < len && (t[i + 1] == '1' || t[i + 1] == '2')) {
			puts_(&b, t[i + 1] == '1' ? p1 : p2);
			i++;
		} else {
			put(&b, t + i, 1);
		}
	}
	free(p1);
	free(p2);
	*outlen = b.len;
	return b.s;
}

static void test_keys_file(void **state)
{
	char err[512], want[600];

	(void)state;
	for (size_t i = 0; i < N_OF(keys_cases); i++) {
		const struct keys_case *c = &keys_cases[i];
		char path[] = "/tmp/test-admin-keys-XXXXXX";
		size_t len;
		char *text = keys_text(c->text, strlen(c->text), &len);
		struct admin_keys *k = (void *)1;
		FILE *f;
		int fd = mkstemp(path), rc;

		assert_true(fd >= 0);
		f = fdopen(fd, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(text, 1, len, f), len);
		fclose(f);
		err[0] = '\0';
		rc = admin_keys_load(path, &k, err, sizeof(err));
		unlink(path);
		free(text);
		if (c->ok) {
			if (rc != 0)
				fail_msg("case '%s': %s", c->name, err);
			assert_int_equal(admin_keys_count(k), c->count);
			admin_keys_free(k);
			continue;
		}
		if (rc != -EINVAL)
			fail_msg("case '%s': rc %d", c->name, rc);
		assert_null(k);
		snprintf(want, sizeof(want), "%s:%s", path, c->err);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("case '%s':\n  %s\nexpected\n  PATH:%s", c->name,
				 err, c->err);
	}
}

/* The loaded keys are the right ones, in file order. */
static void test_keys_content(void **state)
{
	size_t len;
	char *text = keys_text("x ed25519 @2\ny.z ed25519 @1\n", 28, &len);
	struct admin_keys *k;
	char err[256], *env;
	struct admin_bundle *b;
	const char *code;

	(void)state;
	assert_int_equal(admin_keys_parse("mem", text, len, &k, err,
					  sizeof(err)), 0);
	assert_int_equal(admin_keys_count(k), 2);
	assert_string_equal(admin_keys_id(k, 0), "x");
	assert_string_equal(admin_keys_id(k, 1), "y.z");
	assert_null(admin_keys_id(k, 2));
	/* y.z is ops_key: it verifies a bundle by ops_key, x does not */
	env = envelope("{'wicket':1,'key':'y.z','signed':'@S','sig':'@G'}",
		       RULES_DOC, ops_key, 0);
	assert_int_equal(admin_verify(k, &target, env, strlen(env), NOW, &b,
				      &code, err, sizeof(err)), 0);
	admin_bundle_free(b);
	free(env);
	env = envelope("{'wicket':1,'key':'x','signed':'@S','sig':'@G'}",
		       RULES_DOC, ops_key, 0);
	assert_int_equal(admin_verify(k, &target, env, strlen(env), NOW, &b,
				      &code, err, sizeof(err)), -EINVAL);
	assert_string_equal(code, ADMIN_E_BAD_SIGNATURE);
	free(env);
	admin_keys_free(k);
	admin_keys_free(NULL);
	assert_int_equal(admin_keys_count(NULL), 0);
	free(text);
}

static void test_keys_errors(void **state)
{
	struct admin_keys *k = (void *)1;
	char err[512], path[] = "/tmp/test-admin-big-XXXXXX";
	int fd;

	(void)state;
	assert_int_equal(admin_keys_load("/nonexistent/admin-keys", &k, err,
					 sizeof(err)), -ENOENT);
	assert_null(k);
	assert_string_equal(err,
			    "/nonexistent/admin-keys: cannot read: No such file or directory");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, ADMIN_KEYS_FILE_MAX + 1), 0);
	close(fd);
	k = (void *)1;
	assert_int_equal(admin_keys_load(path, &k, err, sizeof(err)), -EINVAL);
	unlink(path);
	assert_null(k);
	assert_non_null(strstr(err, ": larger than 1048576 bytes"));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	/* and from memory, with the name for the path */
	k = (void *)1;
	assert_int_equal(admin_keys_parse("here", "x", 1, &k, err,
					  sizeof(err)), -EINVAL);
	assert_null(k);
	assert_string_equal(err,
			    "here:1: expected 'KEY_ID ed25519 BASE64', got 1 field");
	/* a NUL byte */
	{
		static const char nul[] = "a ed25519 @1\nb\0 ed25519 @2\n";
		size_t len;
		char *text = keys_text(nul, sizeof(nul) - 1, &len);

		k = (void *)1;
		assert_int_equal(admin_keys_parse("nul", text, len, &k, err,
						  sizeof(err)), -EINVAL);
		assert_null(k);
		assert_string_equal(err, "nul:2: NUL byte in the line");
		free(text);
	}
	/* more than ADMIN_KEYS_MAX keys */
	{
		struct buf b = { 0 };
		char *p = pub_b64(ops_key), line[128];

		put(&b, "", 0);
		for (int i = 0; i <= ADMIN_KEYS_MAX; i++) {
			snprintf(line, sizeof(line), "k%d ed25519 %s\n", i, p);
			puts_(&b, line);
		}
		assert_int_equal(admin_keys_parse("many", b.s, b.len, &k, err,
						  sizeof(err)), -EINVAL);
		assert_string_equal(err, "many:1025: more than 1024 keys");
		free(b.s);
		free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_valid_fields),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_no_keys),
		cmocka_unit_test(test_small_message),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_keys_file),
		cmocka_unit_test(test_keys_content),
		cmocka_unit_test(test_keys_errors),
	};

	return cmocka_run_group_tests_name("admin", tests, setup, teardown);
}
