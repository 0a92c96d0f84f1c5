/*
 * admin: parse and verify signed administration bundles, and load the
 * admin keys file (formats in admin.h).
 *
 * Everything in a payload is untrusted until the signature is checked, so
 * the checks go from the outside in and stop at the first problem:
 * envelope (strict JSON, exactly four members, strict base64), key known,
 * Ed25519 signature over the signed bytes exactly as they came (no
 * re-serialisation, so no canonical form to agree on), and only then the
 * signed document: JSON, members, target, times, each kind's shape.  Each
 * refusal has a code (admin.h) and a message that says what and where:
 * "envelope:LINE:COL: $.member: ..." or "document:LINE:COL: $.member:
 * ...", positions in the payload or in the signed document's bytes.
 *
 * Memory is bounded by the payload limit (8 MiB).  jsontree spends about
 * a hundred bytes per value, so a payload of "[0,0,0,...]" would cost
 * hundreds of megabytes before anything says it is not an envelope: a
 * cheap pass counts the envelope's structure characters first and refuses
 * more than an envelope can have.  The signed document is parsed only
 * after its signature checked out, i.e. only what an administrator
 * signed.  Peak: the payload's envelope tree (about its size, for the
 * signed string) plus the decoded document (3/4 of it) plus its tree.
 *
 * Cost of OpenSSL: the public keys stay 32 raw bytes each; no EVP call is
 * made until a bundle with a well-formed envelope and a known key comes.
 * The first such call loads OpenSSL 3's default provider, which stays
 * loaded for the life of the process (about 2 MB of resident memory, as
 * daemon/privacy.c measured); each verification then makes and frees one
 * EVP_PKEY and one EVP_MD_CTX and hashes the signed bytes with SHA-512
 * (pure Ed25519, RFC 8032).  A gate that never receives a bundle never
 * pays.  The OpenSSL error queue is cleared after each verification so no
 * stale error reaches another user of libssl on this thread (mosquitto's
 * TLS).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "admin.h"
#include "fsutil.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

#define ED25519_PUB_LEN 32
#define ED25519_SIG_LEN 64
/* {"wicket":1,"key":K,"signed":S,"sig":G} has 1 brace, 4 colons and 3
 * commas; the margin only changes which message a broken one gets. */
#define ENVELOPE_STRUCT_MAX 32
#define SHOW_LEN 48		/* bytes of untrusted text quoted in a message */

struct admin_key {
	char id[ADMIN_KEY_ID_MAX + 1];
	unsigned char pub[ED25519_PUB_LEN];
	int line;
};

struct admin_keys {
	char *name;		/* the file, for messages */
	struct admin_key *v;
	size_t n, cap;
};

/* ---- small helpers ---- */

/* Untrusted text for a message: printable ASCII kept, anything else '?',
 * cut (with "...") to fit buf. */
static const char *show(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 4 >= size && i + 1 < len) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[o] = '\0';
	return buf;
}

static int id_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* 1 if s (len bytes) is min..max characters of A-Za-z0-9._- */
static int valid_id(const char *s, size_t len, size_t min, size_t max)
{
	if (len < min || len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!id_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Lane names as config.c takes them: 1-32 of A-Za-z0-9_- */
static int valid_lane(const char *s, size_t len)
{
	if (len < 1 || len > 32)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '.' || !id_char((unsigned char)s[i]))
			return 0;
	return 1;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int admin_b64_decode(const char *s, size_t len, unsigned char *out,
		     size_t *outlen, size_t *bad)
{
	size_t i, o = 0;

	*outlen = 0;
	*bad = 0;
	if (len % 4 != 0) {
		*bad = len;
		return -EINVAL;
	}
	for (i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		uint32_t w;

		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)s[i + j];

			/* "xx==" or "xxx=", and only in the last group */
			if (c == '=' && i + 4 == len &&
			    (j == 3 || (j == 2 && s[i + 3] == '='))) {
				v[j] = 0;
				pad++;
				continue;
			}
			v[j] = b64_value(c);
			if (v[j] < 0) {
				*bad = i + (size_t)j;
				return -EINVAL;
			}
		}
		/* the bits the padding drops must be zero, so that each
		 * byte string has exactly one encoding */
		if (pad == 2 && (v[1] & 0x0f) != 0) {
			*bad = i + 1;
			return -EINVAL;
		}
		if (pad == 1 && (v[2] & 0x03) != 0) {
			*bad = i + 2;
			return -EINVAL;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	*outlen = o;
	return 0;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int admin_time_parse(const char *s, int64_t *out)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30,
				       31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, se, dim;
	struct tm tm;
	time_t t;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
	    digits(s, 4, &y) < 0 || digits(s + 5, 2, &mo) < 0 ||
	    digits(s + 8, 2, &d) < 0 || digits(s + 11, 2, &h) < 0 ||
	    digits(s + 14, 2, &mi) < 0 || digits(s + 17, 2, &se) < 0)
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59)
		return -EINVAL;
	dim = mdays[mo - 1];
	if (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		dim = 29;
	if (d < 1 || d > dim)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;	/* 9999 on a 32-bit time_t */
	*out = (int64_t)t;
	return 0;
}

static const char *fmt_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "@%lld", (long long)t);
	return buf;
}

/* ---- the admin keys file ---- */

static int keys_fail(char *err, size_t errlen, const char *name, int line,
		     const char *fmt, ...) PRINTF_LIKE(5, 6);

static int keys_fail(char *err, size_t errlen, const char *name, int line,
		     const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (err == NULL || errlen == 0)
		return -EINVAL;
	if (line > 0)
		snprintf(err, errlen, "%s:%d: %s", name, line, text);
	else
		snprintf(err, errlen, "%s: %s", name, text);
	return -EINVAL;
}

static int blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One non-comment line of n bytes: "ID ed25519 BASE64". */
static int keys_line(struct admin_keys *k, const char *s, size_t n, int line,
		     char *err, size_t errlen)
{
	const char *f[4];
	size_t fl[4], nf = 0, i = 0, declen, bad;
	unsigned char raw[64];
	char b1[SHOW_LEN], b2[SHOW_LEN];
	struct admin_key *key;

	while (i < n && nf < 4) {
		while (i < n && blank((unsigned char)s[i]))
			i++;
		if (i == n)
			break;
		f[nf] = s + i;
		while (i < n && !blank((unsigned char)s[i]))
			i++;
		fl[nf] = (size_t)(s + i - f[nf]);
		nf++;
	}
	if (nf == 4)
		return keys_fail(err, errlen, k->name, line,
				 "unexpected '%s' after the public key (a line is 'KEY_ID ed25519 BASE64')",
				 show(f[3], fl[3], b1, sizeof(b1)));
	if (nf < 3)
		return keys_fail(err, errlen, k->name, line,
				 "expected 'KEY_ID ed25519 BASE64', got %zu field%s",
				 nf, nf == 1 ? "" : "s");
	if (!valid_id(f[0], fl[0], 1, ADMIN_KEY_ID_MAX))
		return keys_fail(err, errlen, k->name, line,
				 "key id '%s' is not 1-%d of A-Z a-z 0-9 . _ -",
				 show(f[0], fl[0], b1, sizeof(b1)),
				 ADMIN_KEY_ID_MAX);
	if (fl[1] != 7 || memcmp(f[1], "ed25519", 7) != 0)
		return keys_fail(err, errlen, k->name, line,
				 "key '%s': key type '%s' is not supported (only ed25519)",
				 show(f[0], fl[0], b1, sizeof(b1)),
				 show(f[1], fl[1], b2, sizeof(b2)));
	/* 44 characters for 32 bytes; anything much longer is wrong anyway
	 * and would not fit raw */
	if (fl[2] > 4 * (sizeof(raw) / 3))
		return keys_fail(err, errlen, k->name, line,
				 "key '%s': the public key has %zu characters; an Ed25519 public key is 32 bytes, 44 characters of base64",
				 show(f[0], fl[0], b1, sizeof(b1)), fl[2]);
	if (admin_b64_decode(f[2], fl[2], raw, &declen, &bad) < 0)
		return keys_fail(err, errlen, k->name, line,
				 bad == fl[2] ?
				 "key '%s': the public key is not base64 (its length %zu is not a multiple of 4)" :
				 "key '%s': the public key is not base64 (character %zu)",
				 show(f[0], fl[0], b1, sizeof(b1)),
				 bad == fl[2] ? fl[2] : bad + 1);
	if (declen != ED25519_PUB_LEN)
		return keys_fail(err, errlen, k->name, line,
				 "key '%s': the public key is %zu bytes; an Ed25519 public key is %d",
				 show(f[0], fl[0], b1, sizeof(b1)), declen,
				 ED25519_PUB_LEN);
	for (i = 0; i < k->n; i++)
		if (strlen(k->v[i].id) == fl[0] &&
		    memcmp(k->v[i].id, f[0], fl[0]) == 0)
			return keys_fail(err, errlen, k->name, line,
					 "key id '%s' already defined on line %d",
					 k->v[i].id, k->v[i].line);
	if (k->n == ADMIN_KEYS_MAX)
		return keys_fail(err, errlen, k->name, line,
				 "more than %d keys", ADMIN_KEYS_MAX);
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 8;
		struct admin_key *v = realloc(k->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		k->v = v;
		k->cap = cap;
	}
	key = &k->v[k->n++];
	memcpy(key->id, f[0], fl[0]);
	key->id[fl[0]] = '\0';
	memcpy(key->pub, raw, ED25519_PUB_LEN);
	key->line = line;
	return 0;
}

int admin_keys_parse(const char *name, const char *text, size_t len,
		     struct admin_keys **out, char *err, size_t errlen)
{
	struct admin_keys *k;
	size_t pos = 0;
	int line = 0, rc = 0;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > ADMIN_KEYS_FILE_MAX)
		return keys_fail(err, errlen, name, 0,
				 "larger than %u bytes", ADMIN_KEYS_FILE_MAX);
	k = calloc(1, sizeof(*k));
	if (k == NULL || (k->name = strdup(name)) == NULL) {
		free(k);
		return -ENOMEM;
	}
	while (pos < len && rc == 0) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos, i = 0;

		pos += n + (nl != NULL);
		line++;
		if (memchr(s, '\0', n) != NULL) {
			rc = keys_fail(err, errlen, name, line,
				       "NUL byte in the line");
			break;
		}
		while (i < n && blank((unsigned char)s[i]))
			i++;
		if (i == n || s[i] == '#')
			continue;
		rc = keys_line(k, s, n, line, err, errlen);
	}
	if (rc < 0) {
		if (rc == -ENOMEM && err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", name);
		admin_keys_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int admin_keys_load(const char *path, struct admin_keys **out, char *err,
		    size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	rc = fs_read_file(path, ADMIN_KEYS_FILE_MAX, &text, &len);
	if (rc == -EFBIG)
		return keys_fail(err, errlen, path, 0, "larger than %u bytes",
				 ADMIN_KEYS_FILE_MAX);
	if (rc < 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 strerror(-rc));
		return rc;
	}
	rc = admin_keys_parse(path, text, len, out, err, errlen);
	free(text);
	return rc;
}

void admin_keys_free(struct admin_keys *k)
{
	if (k == NULL)
		return;
	free(k->name);
	free(k->v);
	free(k);
}

size_t admin_keys_count(const struct admin_keys *k)
{
	return k ? k->n : 0;
}

const char *admin_keys_id(const struct admin_keys *k, size_t i)
{
	return k && i < k->n ? k->v[i].id : NULL;
}

static const struct admin_key *keys_find(const struct admin_keys *k,
					 const char *id)
{
	if (k == NULL)
		return NULL;
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->v[i].id, id) == 0)
			return &k->v[i];
	return NULL;
}

/* ---- Ed25519 ---- */

const unsigned char *admin_keys_pub(const struct admin_keys *k,
				    const char *id)
{
	const struct admin_key *key = keys_find(k, id);

	return key ? key->pub : NULL;
}

int admin_ed25519_verify(const unsigned char *pub, const unsigned char *sig,
			 const void *data, size_t len)
{
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx = NULL;
	int rc;

	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
					 ED25519_PUB_LEN);
	if (pk == NULL) {
		rc = -EIO;
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) != 1) {
		rc = -EIO;
		goto out;
	}
	rc = EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, data, len);
	if (rc != 1 && rc != 0)
		rc = -EIO;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return rc;
}

/* ---- verification ---- */

struct vctx {
	const char *where;	/* "envelope" or "document" */
	const char **code;
	char *msg;
	size_t msglen;
};

static int refuse(struct vctx *v, const char *code, const char *fmt, ...)
	PRINTF_LIKE(3, 4);

static int refuse(struct vctx *v, const char *code, const char *fmt, ...)
{
	va_list ap;

	*v->code = code;
	if (v->msg != NULL && v->msglen > 0) {
		va_start(ap, fmt);
		vsnprintf(v->msg, v->msglen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* "WHERE:LINE:COL: PATH: message" */
static int refuse_at(struct vctx *v, const char *code, int line, int col,
		     const char *path, const char *fmt, ...) PRINTF_LIKE(6, 7);

static int refuse_at(struct vctx *v, const char *code, int line, int col,
		     const char *path, const char *fmt, ...)
{
	char text[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return refuse(v, code, "%s:%d:%d: %s: %s", v->where, line, col, path,
		      text);
}

static int internal(struct vctx *v, int rc, const char *what)
{
	*v->code = ADMIN_E_INTERNAL;
	if (v->msg != NULL && v->msglen > 0)
		snprintf(v->msg, v->msglen, "%s: %s", what, strerror(-rc));
	return rc;
}

/* Refuse any member of obj (at path) not in the NULL-terminated list. */
static int only(struct vctx *v, const char *code, const struct jt_node *obj,
		const char *path, const char *const *allowed, const char *why)
{
	for (const struct jt_node *m = obj->kids; m != NULL; m = m->next) {
		const char *const *a;
		char b[SHOW_LEN];

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, m->key) == 0)
				break;
		if (*a == NULL)
			return refuse_at(v, code, m->key_line, m->key_col, path,
					 "unknown member '%s'%s",
					 show(m->key, strlen(m->key), b,
					      sizeof(b)), why);
	}
	return 0;
}

/* The member key of obj (at path), of type want, or a refusal. */
static int member(struct vctx *v, const char *code, const struct jt_node *obj,
		  const char *path, const char *key, enum jt_type want,
		  const struct jt_node **out)
{
	const struct jt_node *m = jt_get(obj, key);
	char mpath[64];

	*out = m;
	if (m == NULL)
		return refuse_at(v, code, obj->line, obj->col, path,
				 "missing member '%s'", key);
	if (m->type != want) {
		snprintf(mpath, sizeof(mpath), "%s.%s", path, key);
		return refuse_at(v, code, m->line, m->col, mpath,
				 "must be %s %s, not %s",
				 want == JT_ARRAY || want == JT_OBJECT ? "an" : "a",
				 jt_type_name(want), jt_type_name(m->type));
	}
	return 0;
}

/* An integer >= min (m at path), or a refusal. */
static int integer(struct vctx *v, const char *code, const struct jt_node *m,
		   const char *path, int64_t min, int64_t *out)
{
	if (m->type != JT_NUMBER || !m->is_int || m->i < min)
		return refuse_at(v, code, m->line, m->col, path,
				 "must be an integer >= %lld", (long long)min);
	*out = m->i;
	return 0;
}

/* The envelope has a handful of values; count its structure characters
 * outside strings before jt_parse builds a node for each value. */
static int envelope_prescan(struct vctx *v, const unsigned char *s,
			    size_t len)
{
	size_t i, n = 0, line_start = 0;
	int in_str = 0, esc = 0, line = 1;

	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c == '\n') {
			line++;
			line_start = i + 1;
		}
		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if ((c == '{' || c == '[' || c == ',' || c == ':') &&
			 ++n > ENVELOPE_STRUCT_MAX)
			return refuse(v, ADMIN_E_BAD_ENVELOPE,
				      "envelope:%d:%zu: $: too many values; an envelope is one object of the members wicket, key, signed and sig",
				      line, i - line_start + 1);
	}
	return 0;
}

int admin_envelope_bounded(const void *payload, size_t len)
{
	const char *code;
	struct vctx v = { "envelope", &code, NULL, 0 };

	return len <= ADMIN_PAYLOAD_MAX &&
	       envelope_prescan(&v, payload, len) == 0;
}

/* A base64 string member of the envelope, decoded into a new buffer. */
static int envelope_b64(struct vctx *v, const struct jt_node *m,
			const char *path, unsigned char **out, size_t *outlen)
{
	size_t bad;
	unsigned char *buf;

	*out = NULL;
	if (m->len == 0)
		return refuse_at(v, ADMIN_E_BAD_ENVELOPE, m->line, m->col, path,
				 "empty");
	buf = malloc(m->len / 4 * 3 + 1);
	if (buf == NULL)
		return internal(v, -ENOMEM, "envelope");
	if (admin_b64_decode(m->s, m->len, buf, outlen, &bad) < 0) {
		unsigned char c = bad < m->len ? (unsigned char)m->s[bad] : 0;

		free(buf);
		if (bad == m->len)
			return refuse_at(v, ADMIN_E_BAD_ENVELOPE, m->line,
					 m->col, path,
					 "not base64: its length %zu is not a multiple of 4 (padding with '=' is required; no line breaks)",
					 m->len);
		return refuse_at(v, ADMIN_E_BAD_ENVELOPE, m->line, m->col,
				 path, "not strict base64: character %zu of the string ('%c') %s",
				 bad + 1, c > 0x20 && c < 0x7f ? c : '?',
				 b64_value(c) >= 0 ?
				 "leaves bits set that the padding drops" :
				 c == '=' ? "is padding before the end" :
				 c == ' ' || c == '\t' || c == '\r' || c == '\n' ?
				 "is whitespace" : "is not in the alphabet");
	}
	buf[*outlen] = '\0';
	*out = buf;
	return 0;
}

struct envelope {
	char key[ADMIN_KEY_ID_MAX + 1];
	int key_line, key_col;
	unsigned char sig[ED25519_SIG_LEN];
	int sig_line, sig_col;
	unsigned char *data;	/* the signed bytes */
	size_t len;
};

static int parse_envelope(struct vctx *v, const void *payload, size_t len,
			  struct envelope *e)
{
	static const char *const members[] = { "wicket", "key", "signed",
					       "sig", NULL };
	const struct jt_node *root, *m;
	struct jt_doc *doc = NULL;
	unsigned char *sig = NULL;
	char err[256], b[SHOW_LEN];
	size_t siglen;
	int rc;

	v->where = "envelope";
	if (len > ADMIN_PAYLOAD_MAX)
		return refuse(v, ADMIN_E_BAD_ENVELOPE,
			      "envelope: %zu bytes, more than the %u allowed",
			      len, ADMIN_PAYLOAD_MAX);
	rc = envelope_prescan(v, payload, len);
	if (rc < 0)
		return rc;
	rc = jt_parse(payload, len, &doc, err, sizeof(err));
	if (rc == -EINVAL)
		return refuse(v, ADMIN_E_BAD_ENVELOPE, "envelope:%s (not JSON)",
			      err);
	if (rc < 0)
		return internal(v, rc, "envelope");
	root = jt_root(doc);
	if (root->type != JT_OBJECT) {
		rc = refuse_at(v, ADMIN_E_BAD_ENVELOPE, root->line, root->col,
			       "$", "must be an object, not %s",
			       jt_type_name(root->type));
		goto out;
	}
	if ((rc = only(v, ADMIN_E_BAD_ENVELOPE, root, "$", members, "")) < 0 ||
	    (rc = member(v, ADMIN_E_BAD_ENVELOPE, root, "$", "wicket",
			 JT_NUMBER, &m)) < 0)
		goto out;
	if (!m->is_int) {
		rc = refuse_at(v, ADMIN_E_BAD_ENVELOPE, m->line, m->col,
			       "$.wicket", "must be the integer 1");
		goto out;
	}
	if (m->i != 1) {
		rc = refuse_at(v, ADMIN_E_BAD_ENVELOPE, m->line, m->col,
			       "$.wicket",
			       "envelope format %lld is not supported (this gate knows 1)",
			       (long long)m->i);
		goto out;
	}
	if ((rc = member(v, ADMIN_E_BAD_ENVELOPE, root, "$", "key", JT_STRING,
			 &m)) < 0)
		goto out;
	if (!valid_id(m->s, m->len, 1, ADMIN_KEY_ID_MAX)) {
		rc = refuse_at(v, ADMIN_E_BAD_ENVELOPE, m->line, m->col,
			       "$.key", "'%s' is not 1-%d of A-Z a-z 0-9 . _ -",
			       show(m->s, m->len, b, sizeof(b)),
			       ADMIN_KEY_ID_MAX);
		goto out;
	}
	memcpy(e->key, m->s, m->len + 1);
	e->key_line = m->line;
	e->key_col = m->col;
	if ((rc = member(v, ADMIN_E_BAD_ENVELOPE, root, "$", "signed",
			 JT_STRING, &m)) < 0 ||
	    (rc = envelope_b64(v, m, "$.signed", &e->data, &e->len)) < 0 ||
	    (rc = member(v, ADMIN_E_BAD_ENVELOPE, root, "$", "sig", JT_STRING,
			 &m)) < 0 ||
	    (rc = envelope_b64(v, m, "$.sig", &sig, &siglen)) < 0)
		goto out;
	if (siglen != ED25519_SIG_LEN) {
		rc = refuse_at(v, ADMIN_E_BAD_ENVELOPE, m->line, m->col, "$.sig",
			       "the signature is %zu bytes; an Ed25519 signature is %d",
			       siglen, ED25519_SIG_LEN);
		goto out;
	}
	memcpy(e->sig, sig, ED25519_SIG_LEN);
	e->sig_line = m->line;
	e->sig_col = m->col;
out:
	free(sig);
	jt_free(doc);
	if (rc < 0) {
		free(e->data);
		e->data = NULL;
	}
	return rc;
}

/* The common members: kind, site, gate, issued, expires; and which others
 * the kind allows. */
static int document_common(struct vctx *v, struct admin_bundle *b,
			   const struct jt_node **site,
			   const struct jt_node **gate)
{
	static const char *const rules_m[] = { "kind", "site", "gate",
		"issued", "expires", "version", "rules", NULL };
	static const char *const lists_m[] = { "kind", "site", "gate",
		"issued", "expires", "version", "lists", NULL };
	static const char *const rollback_m[] = { "kind", "site", "gate",
		"issued", "expires", "version", NULL };
	static const char *const cmd_m[] = { "kind", "site", "gate",
		"issued", "expires", "cmd", "id", NULL };
	static const char *const *const allowed[] = {
		[ADMIN_RULES] = rules_m, [ADMIN_LISTS] = lists_m,
		[ADMIN_ROLLBACK] = rollback_m, [ADMIN_CMD] = cmd_m,
	};
	const struct jt_node *root = b->root, *m, *issued, *expires;
	char why[64], b1[SHOW_LEN], t1[32], t2[32];
	int rc, k;

	if (root->type != JT_OBJECT)
		return refuse_at(v, ADMIN_E_BAD_DOCUMENT, root->line, root->col,
				 "$", "must be an object, not %s",
				 jt_type_name(root->type));
	if ((rc = member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "kind", JT_STRING,
			 &m)) < 0)
		return rc;
	for (k = ADMIN_RULES; k <= ADMIN_CMD; k++)
		if (strcmp(m->s, admin_kind_name((enum admin_kind)k)) == 0)
			break;
	if (k > ADMIN_CMD)
		return refuse_at(v, ADMIN_E_BAD_DOCUMENT, m->line, m->col,
				 "$.kind",
				 "'%s' is not one of rules, lists, rollback, cmd",
				 show(m->s, m->len, b1, sizeof(b1)));
	b->kind = (enum admin_kind)k;
	snprintf(why, sizeof(why), " in a %s bundle", m->s);
	if ((rc = only(v, ADMIN_E_BAD_DOCUMENT, root, "$", allowed[k],
		       why)) < 0 ||
	    (rc = member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "site", JT_STRING,
			 site)) < 0 ||
	    (rc = member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "gate", JT_STRING,
			 gate)) < 0 ||
	    (rc = member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "issued",
			 JT_STRING, &issued)) < 0 ||
	    (rc = member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "expires",
			 JT_STRING, &expires)) < 0)
		return rc;
	if (admin_time_parse(issued->s, &b->issued_s) < 0)
		return refuse_at(v, ADMIN_E_BAD_DOCUMENT, issued->line,
				 issued->col, "$.issued",
				 "'%s' is not a UTC time like 2026-01-31T12:00:00Z",
				 show(issued->s, issued->len, b1, sizeof(b1)));
	if (admin_time_parse(expires->s, &b->expires_s) < 0)
		return refuse_at(v, ADMIN_E_BAD_DOCUMENT, expires->line,
				 expires->col, "$.expires",
				 "'%s' is not a UTC time like 2026-01-31T12:00:00Z",
				 show(expires->s, expires->len, b1, sizeof(b1)));
	if (b->expires_s <= b->issued_s)
		return refuse_at(v, ADMIN_E_BAD_DOCUMENT, expires->line,
				 expires->col, "$.expires",
				 "%s is not after issued %s",
				 fmt_time(b->expires_s, t1, sizeof(t1)),
				 fmt_time(b->issued_s, t2, sizeof(t2)));
	if (b->expires_s - b->issued_s > ADMIN_LIFETIME_MAX_S)
		return refuse_at(v, ADMIN_E_BAD_DOCUMENT, expires->line,
				 expires->col, "$.expires",
				 "%s is more than %d days after issued %s",
				 fmt_time(b->expires_s, t1, sizeof(t1)),
				 ADMIN_LIFETIME_MAX_S / 86400,
				 fmt_time(b->issued_s, t2, sizeof(t2)));
	return 0;
}

/* The kind's own members, present and of the right type. */
static int document_members(struct vctx *v, struct admin_bundle *b)
{
	const struct jt_node *root = b->root, *m;
	int rc;

	if (b->kind != ADMIN_CMD) {
		if ((rc = member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "version",
				 JT_NUMBER, &m)) < 0 ||
		    (rc = integer(v, ADMIN_E_BAD_DOCUMENT, m, "$.version", 1,
				  &b->version)) < 0)
			return rc;
	}
	switch (b->kind) {
	case ADMIN_RULES:
		return member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "rules",
			      JT_OBJECT, &b->body);
	case ADMIN_LISTS:
		return member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "lists",
			      JT_OBJECT, &b->body);
	case ADMIN_CMD:
		if ((rc = member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "cmd",
				 JT_OBJECT, &b->body)) < 0 ||
		    (rc = member(v, ADMIN_E_BAD_DOCUMENT, root, "$", "id",
				 JT_STRING, &m)) < 0)
			return rc;
		return 0;
	default:
		return 0;
	}
}

static int check_target(struct vctx *v, struct admin_bundle *b,
			const struct admin_target *t,
			const struct jt_node *site,
			const struct jt_node *gate)
{
	char b1[SHOW_LEN], b2[SHOW_LEN];

	if (strcmp(site->s, t->site) != 0)
		return refuse_at(v, ADMIN_E_WRONG_TARGET, site->line, site->col,
				 "$.site",
				 "for site '%s'; this gate is in site '%s'",
				 show(site->s, site->len, b1, sizeof(b1)),
				 show(t->site, strlen(t->site), b2, sizeof(b2)));
	if (strcmp(gate->s, "*") == 0) {
		b->all_gates = 1;
		return 0;
	}
	if (strcmp(gate->s, t->gate) != 0)
		return refuse_at(v, ADMIN_E_WRONG_TARGET, gate->line, gate->col,
				 "$.gate", "for gate '%s'; this gate is '%s'",
				 show(gate->s, gate->len, b1, sizeof(b1)),
				 show(t->gate, strlen(t->gate), b2, sizeof(b2)));
	return 0;
}

static int check_times(struct vctx *v, const struct admin_bundle *b,
		       int64_t now)
{
	const struct jt_node *issued = jt_get(b->root, "issued"),
		*expires = jt_get(b->root, "expires");
	char t1[32], t2[32];

	if (now < b->issued_s - ADMIN_SKEW_S)
		return refuse_at(v, ADMIN_E_NOT_YET_VALID, issued->line,
				 issued->col, "$.issued",
				 "%s is %lld s ahead of this gate's clock (%s); at most %d s are allowed",
				 fmt_time(b->issued_s, t1, sizeof(t1)),
				 (long long)(b->issued_s - now),
				 fmt_time(now, t2, sizeof(t2)), ADMIN_SKEW_S);
	if (now >= b->expires_s)
		return refuse_at(v, ADMIN_E_EXPIRED, expires->line, expires->col,
				 "$.expires",
				 "expired at %s; this gate's clock says %s",
				 fmt_time(b->expires_s, t1, sizeof(t1)),
				 fmt_time(now, t2, sizeof(t2)));
	return 0;
}

static int check_rules(struct vctx *v, const struct admin_bundle *b)
{
	const struct jt_node *rv = jt_get(b->body, "version");

	/* the rest of the rules document is the rules validator's */
	if (rv != NULL && rv->type == JT_NUMBER && rv->is_int &&
	    rv->i != b->version)
		return refuse_at(v, ADMIN_E_INVALID_RULES, rv->line, rv->col,
				 "$.rules.version",
				 "%lld differs from the bundle's version %lld",
				 (long long)rv->i, (long long)b->version);
	return 0;
}

static int check_remove(struct vctx *v, const struct jt_node *rm)
{
	static const char *const members[] = { "persons", "households",
					       "credentials", NULL };
	char path[64];
	size_t i;
	int rc;

	if ((rc = only(v, ADMIN_E_INVALID_LISTS, rm, "$.lists.remove",
		       members, "")) < 0)
		return rc;
	for (const struct jt_node *m = rm->kids; m != NULL; m = m->next) {
		snprintf(path, sizeof(path), "$.lists.remove.%s", m->key);
		if (m->type != JT_ARRAY)
			return refuse_at(v, ADMIN_E_INVALID_LISTS, m->line,
					 m->col, path,
					 "must be an array of strings, not %s",
					 jt_type_name(m->type));
		i = 0;
		for (const struct jt_node *e = m->kids; e != NULL;
		     e = e->next, i++) {
			char epath[96];

			if (e->type == JT_STRING)
				continue;
			snprintf(epath, sizeof(epath), "%s[%zu]", path, i);
			return refuse_at(v, ADMIN_E_INVALID_LISTS, e->line,
					 e->col, epath,
					 "must be a string, not %s",
					 jt_type_name(e->type));
		}
	}
	return 0;
}

static int check_lists(struct vctx *v, struct admin_bundle *b)
{
	static const char *const snapshot_m[] = { "mode", "registry", NULL };
	static const char *const delta_m[] = { "mode", "base", "upsert",
					       "remove", NULL };
	const struct jt_node *l = b->body, *m;
	char b1[SHOW_LEN];
	int rc;

	if ((rc = member(v, ADMIN_E_INVALID_LISTS, l, "$.lists", "mode",
			 JT_STRING, &m)) < 0)
		return rc;
	if (strcmp(m->s, "snapshot") == 0) {
		b->lists_mode = ADMIN_LISTS_SNAPSHOT;
		if ((rc = only(v, ADMIN_E_INVALID_LISTS, l, "$.lists",
			       snapshot_m, " in a snapshot")) < 0)
			return rc;
		return member(v, ADMIN_E_INVALID_LISTS, l, "$.lists",
			      "registry", JT_OBJECT, &b->registry);
	}
	if (strcmp(m->s, "delta") != 0)
		return refuse_at(v, ADMIN_E_INVALID_LISTS, m->line, m->col,
				 "$.lists.mode",
				 "'%s' is not snapshot or delta",
				 show(m->s, m->len, b1, sizeof(b1)));
	b->lists_mode = ADMIN_LISTS_DELTA;
	if ((rc = only(v, ADMIN_E_INVALID_LISTS, l, "$.lists", delta_m,
		       " in a delta")) < 0 ||
	    (rc = member(v, ADMIN_E_INVALID_LISTS, l, "$.lists", "base",
			 JT_NUMBER, &m)) < 0 ||
	    (rc = integer(v, ADMIN_E_INVALID_LISTS, m, "$.lists.base", 0,
			  &b->base)) < 0)
		return rc;
	b->upsert = jt_get(l, "upsert");
	b->remove = jt_get(l, "remove");
	if (b->upsert == NULL && b->remove == NULL)
		return refuse_at(v, ADMIN_E_INVALID_LISTS, l->line, l->col,
				 "$.lists",
				 "a delta needs 'upsert', 'remove' or both");
	if (b->upsert != NULL && b->upsert->type != JT_OBJECT)
		return refuse_at(v, ADMIN_E_INVALID_LISTS, b->upsert->line,
				 b->upsert->col, "$.lists.upsert",
				 "must be an object, not %s",
				 jt_type_name(b->upsert->type));
	if (b->remove != NULL && b->remove->type != JT_OBJECT)
		return refuse_at(v, ADMIN_E_INVALID_LISTS, b->remove->line,
				 b->remove->col, "$.lists.remove",
				 "must be an object, not %s",
				 jt_type_name(b->remove->type));
	return b->remove != NULL ? check_remove(v, b->remove) : 0;
}

static int check_cmd(struct vctx *v, struct admin_bundle *b)
{
	static const char *const open_m[] = { "name", "lane", NULL };
	static const char *const mode_m[] = { "name", "mode", NULL };
	static const char *const status_m[] = { "name", NULL };
	static const char *const modes[] = { "normal", "residents-only",
					     "lockdown", "open", NULL };
	const struct jt_node *c = b->body, *id = jt_get(b->root, "id"), *m;
	char b1[SHOW_LEN];
	int rc;

	if (!valid_id(id->s, id->len, ADMIN_ID_MIN, ADMIN_ID_MAX))
		return refuse_at(v, ADMIN_E_BAD_COMMAND, id->line, id->col,
				 "$.id", "'%s' is not %d-%d of A-Z a-z 0-9 . _ -",
				 show(id->s, id->len, b1, sizeof(b1)),
				 ADMIN_ID_MIN, ADMIN_ID_MAX);
	memcpy(b->id, id->s, id->len + 1);
	if ((rc = member(v, ADMIN_E_BAD_COMMAND, c, "$.cmd", "name", JT_STRING,
			 &m)) < 0)
		return rc;
	if (strcmp(m->s, "open") == 0) {
		b->cmd = ADMIN_CMD_OPEN;
		if ((rc = only(v, ADMIN_E_BAD_COMMAND, c, "$.cmd", open_m,
			       " for open")) < 0 ||
		    (rc = member(v, ADMIN_E_BAD_COMMAND, c, "$.cmd", "lane",
				 JT_STRING, &m)) < 0)
			return rc;
		if (!valid_lane(m->s, m->len))
			return refuse_at(v, ADMIN_E_BAD_COMMAND, m->line, m->col,
					 "$.cmd.lane",
					 "'%s' is not a lane name (1-32 of a-z A-Z 0-9 - _)",
					 show(m->s, m->len, b1, sizeof(b1)));
		b->lane = m->s;
		return 0;
	}
	if (strcmp(m->s, "mode") == 0) {
		const char *const *p;

		b->cmd = ADMIN_CMD_MODE;
		if ((rc = only(v, ADMIN_E_BAD_COMMAND, c, "$.cmd", mode_m,
			       " for mode")) < 0 ||
		    (rc = member(v, ADMIN_E_BAD_COMMAND, c, "$.cmd", "mode",
				 JT_STRING, &m)) < 0)
			return rc;
		for (p = modes; *p != NULL; p++)
			if (strcmp(*p, m->s) == 0)
				break;
		if (*p == NULL)
			return refuse_at(v, ADMIN_E_BAD_COMMAND, m->line, m->col,
					 "$.cmd.mode",
					 "'%s' is not one of normal, residents-only, lockdown, open",
					 show(m->s, m->len, b1, sizeof(b1)));
		b->mode = m->s;
		return 0;
	}
	if (strcmp(m->s, "status") == 0) {
		b->cmd = ADMIN_CMD_STATUS;
		return only(v, ADMIN_E_BAD_COMMAND, c, "$.cmd", status_m,
			    " for status");
	}
	return refuse_at(v, ADMIN_E_BAD_COMMAND, m->line, m->col, "$.cmd.name",
			 "'%s' is not one of open, mode, status",
			 show(m->s, m->len, b1, sizeof(b1)));
}

int admin_verify(const struct admin_keys *k, const struct admin_target *t,
		 const void *payload, size_t len, int64_t now_s,
		 struct admin_bundle **out, const char **code, char *msg,
		 size_t msglen)
{
	struct vctx v = { "envelope", code, msg, msglen };
	struct envelope e;
	const struct admin_key *key;
	const struct jt_node *site, *gate;
	struct admin_bundle *b = NULL;
	char err[256], b1[SHOW_LEN];
	int rc;

	*out = NULL;
	*code = NULL;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	memset(&e, 0, sizeof(e));
	if ((rc = parse_envelope(&v, payload, len, &e)) < 0)
		return rc;
	key = keys_find(k, e.key);
	if (key == NULL) {
		rc = refuse_at(&v, ADMIN_E_UNKNOWN_KEY, e.key_line, e.key_col,
			       "$.key", "no admin key '%s' in %s",
			       show(e.key, strlen(e.key), b1, sizeof(b1)),
			       k != NULL ? k->name : "the admin keys");
		goto out;
	}
	rc = admin_ed25519_verify(key->pub, e.sig, e.data, e.len);
	if (rc < 0) {
		rc = internal(&v, rc, "signature check");
		goto out;
	}
	if (rc == 0) {
		rc = refuse_at(&v, ADMIN_E_BAD_SIGNATURE, e.sig_line, e.sig_col,
			       "$.sig",
			       "the signature does not verify with key '%s' over the %zu signed bytes",
			       e.key, e.len);
		goto out;
	}

	/* from here on an administrator's key vouches for the bytes */
	v.where = "document";
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		rc = internal(&v, -ENOMEM, "document");
		goto out;
	}
	memcpy(b->key, e.key, sizeof(b->key));
	b->text = (char *)e.data;
	b->text_len = e.len;
	e.data = NULL;
	rc = jt_parse(b->text, b->text_len, &b->doc, err, sizeof(err));
	if (rc == -EINVAL) {
		rc = refuse(&v, ADMIN_E_BAD_DOCUMENT, "document:%s (not JSON)",
			    err);
		goto out;
	}
	if (rc < 0) {
		rc = internal(&v, rc, "document");
		goto out;
	}
	b->root = jt_root(b->doc);
	if ((rc = document_common(&v, b, &site, &gate)) < 0 ||
	    (rc = document_members(&v, b)) < 0 ||
	    (rc = check_target(&v, b, t, site, gate)) < 0 ||
	    (rc = check_times(&v, b, now_s)) < 0)
		goto out;
	switch (b->kind) {
	case ADMIN_RULES:
		rc = check_rules(&v, b);
		break;
	case ADMIN_LISTS:
		rc = check_lists(&v, b);
		break;
	case ADMIN_CMD:
		rc = check_cmd(&v, b);
		break;
	default:
		rc = 0;
	}
out:
	free(e.data);
	if (rc < 0) {
		admin_bundle_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

void admin_bundle_free(struct admin_bundle *b)
{
	if (b == NULL)
		return;
	jt_free(b->doc);
	free(b->text);
	free(b);
}

const char *admin_kind_name(enum admin_kind kind)
{
	switch (kind) {
	case ADMIN_RULES:
		return "rules";
	case ADMIN_LISTS:
		return "lists";
	case ADMIN_ROLLBACK:
		return "rollback";
	case ADMIN_CMD:
		return "cmd";
	}
	return "?";
}

const char *admin_cmd_name(enum admin_cmd cmd)
{
	switch (cmd) {
	case ADMIN_CMD_OPEN:
		return "open";
	case ADMIN_CMD_MODE:
		return "mode";
	case ADMIN_CMD_STATUS:
		return "status";
	}
	return "?";
}
