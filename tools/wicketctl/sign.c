/*
 * wicketctl keygen, sign: the administrator's half of remote
 * administration (docs of the envelope: the issue 7 design, daemon/admin.h).
 *
 *   wicketctl keygen --key-id ID --out FILE
 *   wicketctl sign --key FILE --key-id ID --site S (--gate G | --all)
 *                  --kind rules|lists|rollback|cmd ... [INPUT]
 *
 * keygen makes an Ed25519 key: the private half as PKCS#8 PEM in FILE
 * (0600), the public half as the line "ID ed25519 BASE64" the gates'
 * admin-keys file takes, in FILE.pub and on standard output.
 *
 * sign builds the signed document (compact JSON: kind, site, gate,
 * version, issued, expires, then the kind's own members), signs its exact
 * bytes with pure Ed25519 and prints the envelope
 * {"wicket":1,"key":ID,"signed":BASE64,"sig":BASE64} on one line.  The
 * gate verifies the bytes it receives, so nothing here has to be
 * canonical; but what is embedded (a rules file, a registry) is checked
 * here first with the same validators the gate uses, so that an
 * administrator learns about a typo from FILE:LINE:COL on the desk rather
 * than from a refusal on a state topic of every gate.
 *
 * Nothing is sent: pushing the envelope to the gates is a separate step
 * (wicketctl push, which builds its envelope with ctl_sign_build, or
 * mosquitto_pub).  Nothing here reads the gate's configuration either, so
 * both commands work on any machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ctl.h"
#include "fsutil.h"
#include "json.h"
#include "jsontree.h"
#include "registry.h"
#include "rules.h"

/* The largest payload a gate accepts (the design's 8 MiB; must equal the
 * daemon's limit in admin.c). */
#define ENVELOPE_MAX ((size_t)8 << 20)
#define KEY_ID_MAX 64
#define NAME_MAX_LEN 32		/* site, gate, lane (config.c's valid_name) */
#define EXPIRES_MAX_S (30 * 86400)
#define EXPIRES_DEFAULT_S 3600
#define NONCE_MIN 8
#define NONCE_MAX 64
#define ED25519_PUB_LEN 32
#define ED25519_SIG_LEN 64

/* --- a growing buffer ------------------------------------------------------ */

/* json.h's writer has a fixed 16 KiB buffer; a rules file or a registry
 * snapshot is far larger.  Out of memory is sticky, checked once at the
 * end, like json.h's overflow. */
struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void buf_add(struct buf *b, const void *s, size_t n)
{
	if (b->oom)
		return;
	if (n + 1 > b->cap - b->len || b->p == NULL) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap - b->len < n + 1) {
			if (cap > SIZE_MAX / 2) {
				b->oom = 1;
				return;
			}
			cap *= 2;
		}
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char t[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	/* only short pieces (numbers, a member name) come here */
	if (n < 0 || (size_t)n >= sizeof(t)) {
		b->oom = 1;
		return;
	}
	buf_add(b, t, (size_t)n);
}

/* JSON through jsontree's writer, the one the daemon uses: a string, and
 * a parsed value written back compactly (members in their order, numbers
 * as they read back, a non-integer keeping its '.0'). */
static void buf_json_str(struct buf *b, const char *s, size_t len)
{
	struct jt_buf j = { 0 };

	jt_buf_str(&j, s, len);
	if (j.err != 0)
		b->oom = 1;
	else
		buf_add(b, j.p, j.len);
	free(j.p);
}

static void buf_json_node(struct buf *b, const struct jt_node *n)
{
	char *s;
	size_t len;

	if (jt_write(n, &s, &len) != 0) {
		b->oom = 1;
		return;
	}
	buf_add(b, s, len);
	free(s);
}

/* Standard base64 with padding and no line breaks (EVP_EncodeBlock).
 * A malloc'd string, or NULL. */
static char *base64(const unsigned char *in, size_t len)
{
	size_t out_len;
	char *out;

	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return NULL;
	out_len = (len + 2) / 3 * 4;
	out = malloc(out_len + 1);
	if (out == NULL)
		return NULL;
	if (EVP_EncodeBlock((unsigned char *)out, in, (int)len) != (int)out_len) {
		free(out);
		return NULL;
	}
	return out;
}

/* OpenSSL's reason for the last failure, for a message. */
static const char *ssl_reason(void)
{
	static char t[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, t, sizeof(t));
	ERR_clear_error();
	return t;
}

/* --- values ---------------------------------------------------------------- */

/* A key id: 1-64 of A-Z a-z 0-9 . _ - (also a nonce's alphabet). */
static int valid_token(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		      *s == '-'))
			return 0;
	return 1;
}

/* Site, gate and lane names, as config.c takes them: 1-32 of
 * A-Z a-z 0-9 _ - (they are parts of MQTT topics). */
static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* "90s", "15m", "2h", "7d": 0 with *out seconds (1 .. 30 days), or -1. */
static int parse_duration(const char *s, int64_t *out)
{
	static const struct { char unit; int64_t s; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end[0] == '\0' || end[1] != '\0')
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (*end != units[i].unit)
			continue;
		if (v < 1 || v > EXPIRES_MAX_S / units[i].s)
			return -1;
		*out = v * units[i].s;
		return 0;
	}
	return -1;
}

/* A version: a whole number 1 .. INT64_MAX, digits only. */
static int parse_version(const char *s, int64_t *out)
{
	long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 1)
		return -1;
	*out = v;
	return 0;
}

/* The design's time form: "YYYY-MM-DDTHH:MM:SSZ", UTC, whole seconds. */
static int format_time(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

/* getopt_long's complaint, naming the command and the option. */
static int bad_option(const char *cmd, int ch, char **argv, const char *use)
{
	if (ch == ':')
		fprintf(stderr, "wicketctl %s: %s needs a value\n", cmd,
			argv[optind - 1]);
	else
		fprintf(stderr, "wicketctl %s: unknown option '%s'\n", cmd,
			argv[optind - 1]);
	fputs(use, stderr);
	return CTL_USAGE;
}

/* --- keygen ---------------------------------------------------------------- */

static const char keygen_usage[] =
	"usage: wicketctl keygen --key-id ID --out FILE [--json]\n"
	"\n"
	"Make an Ed25519 key for signing remote updates and commands (wicketctl\n"
	"sign).  The private key goes to FILE (PKCS#8 PEM, mode 0600); the line\n"
	"\"ID ed25519 BASE64\" goes to FILE.pub and to standard output: add it to\n"
	"the admin-keys file of every gate that is to accept the key.  Neither\n"
	"file is overwritten if it exists.\n"
	"\n"
	"The private key is NOT encrypted: it lives on the administrator's\n"
	"machine, never on a gate, and sign reads it without a prompt so that\n"
	"scripts can sign.  Protect the file: whoever can read it can change the\n"
	"rules and registry of every gate that lists the key.  Keep it on an\n"
	"encrypted disk or removable medium; to keep it encrypted instead,\n"
	"  openssl pkcs8 -topk8 -v2 aes-256-cbc -in FILE -out FILE.enc\n"
	"and sign asks for the passphrase on the terminal.  A leaked key is\n"
	"withdrawn by removing its line from the gates' admin-keys files.\n"
	"\n"
	"  --key-id ID  the key's name in admin-keys and in every envelope it\n"
	"               signs: 1-64 of A-Z a-z 0-9 . _ -, e.g. ops-2026\n"
	"  --out FILE   the private key file to create\n"
	"  --json       print {\"key\":ID,\"algorithm\":\"ed25519\",\"public\":BASE64}\n"
	"\n"
	"Exit status: 0 done, 1 FILE or FILE.pub exists or cannot be written,\n"
	"2 bad usage.  See wicketctl(1).\n";

/* Create path exclusively; -1 after printing why. */
static int create_excl(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		      mode);

	if (fd < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "wicketctl keygen: %s exists; not overwriting it\n",
				path);
		else
			fprintf(stderr, "wicketctl keygen: %s: %s\n", path,
				strerror(errno));
	}
	return fd;
}

/* fclose with its error, and fsync first: a key that vanishes with a power
 * cut after "done" would be a nasty surprise. */
static int close_synced(FILE *f, const char *path, const char *cmd)
{
	int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
	int e = errno;

	if (fclose(f) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	if (bad)
		fprintf(stderr, "wicketctl %s: %s: %s\n", cmd, path, strerror(e));
	return bad ? -1 : 0;
}

int ctl_keygen(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-id", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key_id = NULL, *out = NULL;
	unsigned char pub[ED25519_PUB_LEN];
	size_t pub_len = sizeof(pub);
	char *pub_path = NULL, *pub64 = NULL;
	int json = o->json, ch, fd, bad, ret = CTL_FAIL;
	int made_key = 0, made_pub = 0;
	FILE *kf = NULL, *pf = NULL;
	EVP_PKEY *pk = NULL;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			key_id = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(keygen_usage, stdout);
			return CTL_OK;
		default:
			return bad_option("keygen", ch, argv, keygen_usage);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "wicketctl keygen: unexpected argument '%s'\n",
			argv[optind]);
		fputs(keygen_usage, stderr);
		return CTL_USAGE;
	}
	if (key_id == NULL || out == NULL) {
		fprintf(stderr, "wicketctl keygen: %s is required\n",
			key_id == NULL ? "--key-id" : "--out");
		fputs(keygen_usage, stderr);
		return CTL_USAGE;
	}
	if (!valid_token(key_id, 1, KEY_ID_MAX)) {
		fprintf(stderr, "wicketctl keygen: --key-id: '%s' must be 1-64 of A-Z a-z 0-9 . _ -\n",
			key_id);
		return CTL_USAGE;
	}
	if (*out == '\0') {
		fprintf(stderr, "wicketctl keygen: --out: an empty file name\n");
		return CTL_USAGE;
	}
	if (asprintf(&pub_path, "%s.pub", out) < 0) {
		pub_path = NULL;
		fprintf(stderr, "wicketctl keygen: out of memory\n");
		goto out;
	}

	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL ||
	    EVP_PKEY_get_raw_public_key(pk, pub, &pub_len) != 1 ||
	    pub_len != sizeof(pub)) {
		fprintf(stderr, "wicketctl keygen: cannot make an Ed25519 key: %s\n",
			ssl_reason());
		goto out;
	}
	pub64 = base64(pub, pub_len);
	if (pub64 == NULL) {
		fprintf(stderr, "wicketctl keygen: out of memory\n");
		goto out;
	}

	/* both files claimed before either is written, so that a refusal
	 * leaves nothing behind */
	fd = create_excl(out, 0600);
	if (fd < 0)
		goto out;
	made_key = 1;
	/* 0600 whatever the umask left */
	if (fchmod(fd, 0600) != 0 || (kf = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "wicketctl keygen: %s: %s\n", out, strerror(errno));
		close(fd);
		goto out;
	}
	fd = create_excl(pub_path, 0644);
	if (fd < 0)
		goto out;
	made_pub = 1;
	pf = fdopen(fd, "w");
	if (pf == NULL) {
		fprintf(stderr, "wicketctl keygen: %s: %s\n", pub_path,
			strerror(errno));
		close(fd);
		goto out;
	}
	/* PKCS#8, unencrypted (see the usage text for why) */
	if (PEM_write_PrivateKey(kf, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		fprintf(stderr, "wicketctl keygen: %s: cannot write the key: %s\n",
			out, ssl_reason());
		goto out;
	}
	bad = close_synced(kf, out, "keygen");
	kf = NULL;
	if (bad)
		goto out;
	fprintf(pf, "%s ed25519 %s\n", key_id, pub64);
	bad = close_synced(pf, pub_path, "keygen");
	pf = NULL;
	if (bad)
		goto out;
	made_key = made_pub = 0;	/* keep them */
	if (json)
		printf("{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"public\":\"%s\"}\n",
		       key_id, pub64);
	else
		printf("%s ed25519 %s\n", key_id, pub64);
	ret = CTL_OK;
out:
	if (kf)
		fclose(kf);
	if (pf)
		fclose(pf);
	if (made_key)
		unlink(out);
	if (made_pub)
		unlink(pub_path);
	free(pub64);
	free(pub_path);
	EVP_PKEY_free(pk);
	return ret;
}

/* --- sign: the input documents --------------------------------------------- */

static void on_rules_error(void *ctx, const char *where, const char *path,
			   const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s: %s: %s\n", where, path, msg);
}

static void on_reg_error(void *ctx, const char *file, int line,
			 const char *field, const char *msg)
{
	(void)ctx;
	if (line > 0)
		fprintf(stderr, "%s:%d: ", file, line);
	else
		fprintf(stderr, "%s: ", file);
	if (field && *field)
		fprintf(stderr, "%s: ", field);
	fprintf(stderr, "%s\n", msg);
}

/* One error in an input document, FILE:LINE:COL: PATH: message. */
static void doc_error(const char *file, const struct jt_node *n,
		      const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void doc_error(const char *file, const struct jt_node *n,
		      const char *path, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d:%d: %s: ", file, n->line, n->col, path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Byte offset of a node's first character from its line and column (both
 * count from 1, columns in bytes, lines end at '\n' as in jsontree). */
static size_t offset_of(const char *text, size_t len, const struct jt_node *n)
{
	size_t off = 0;

	for (int line = 1; line < n->line && off < len; off++)
		if (text[off] == '\n')
			line++;
	return off + (size_t)n->col - 1;
}

/* Check an embedded registry (lists' registry or upsert) with the import
 * parser the gate runs, reporting positions in the file: everything of
 * text but the object is blanked (newlines kept), so line numbers stay
 * those of the file.  0 clean, > 0 errors (reported), < 0 out of memory. */
static int check_registry_at(const char *file, const char *text, size_t len,
			     const struct jt_node *obj)
{
	size_t start = offset_of(text, len, obj), end;
	struct reg_batch *b = NULL;
	int depth = 0, in_str = 0, rc;
	char *blank;

	/* the end of the object: the text is valid JSON, so counting
	 * brackets outside strings is enough */
	for (end = start; end < len; end++) {
		char c = text[end];

		if (in_str) {
			if (c == '\\')
				end++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if ((c == '}' || c == ']') && --depth == 0) {
			end++;
			break;
		}
	}
	blank = malloc(len + 1);
	if (blank == NULL) {
		fprintf(stderr, "wicketctl sign: out of memory\n");
		return -ENOMEM;
	}
	for (size_t i = 0; i < len; i++)
		blank[i] = (i >= start && i < end) || text[i] == '\n' ? text[i] : ' ';
	blank[len] = '\0';
	rc = reg_batch_parse(blank, len, file, REG_JSON, &b, on_reg_error, NULL);
	if (rc < 0)
		fprintf(stderr, "wicketctl sign: out of memory\n");
	reg_batch_free(b);
	free(blank);
	return rc;
}

/* remove: {"persons": [ids], "households": [ids], "credentials": [values]},
 * each optional.  Returns the number of errors. */
static int check_remove(const char *file, const struct jt_node *rm)
{
	static const char *const tables[] = { "persons", "households",
					      "credentials" };
	int errors = 0;

	if (rm->type != JT_OBJECT) {
		doc_error(file, rm, "$.remove", "expected an object, got %s",
			  jt_type_name(rm->type));
		return 1;
	}
	for (const struct jt_node *m = rm->kids; m; m = m->next) {
		size_t t, i = 0;

		for (t = 0; t < 3; t++)
			if (strcmp(m->key, tables[t]) == 0)
				break;
		if (t == 3) {
			fprintf(stderr, "%s:%d:%d: $.remove.%s: unknown field; remove has persons, households and credentials\n",
				file, m->key_line, m->key_col, m->key);
			errors++;
			continue;
		}
		if (m->type != JT_ARRAY) {
			fprintf(stderr, "%s:%d:%d: $.remove.%s: expected an array, got %s\n",
				file, m->line, m->col, m->key,
				jt_type_name(m->type));
			errors++;
			continue;
		}
		for (const struct jt_node *e = m->kids; e; e = e->next, i++) {
			char path[64];

			snprintf(path, sizeof(path), "$.remove.%s[%zu]", m->key, i);
			if (e->type != JT_STRING || e->len == 0 ||
			    e->len >= REG_ID_MAX) {
				doc_error(file, e, path,
					  "expected an id or credential value of 1-%d bytes",
					  REG_ID_MAX - 1);
				errors++;
			}
		}
	}
	return errors;
}

/* An import document may set the registry's version itself; one that
 * says otherwise than --version would leave the gate's registry at a
 * version the bundle did not name.  0, or -1 after saying so. */
static int check_import_version(const char *file, const struct jt_node *reg,
				int64_t version)
{
	const struct jt_node *v = jt_get(reg, "version");

	if (v == NULL || v->type != JT_NUMBER || !v->is_int || v->i == version)
		return 0;	/* absent, null, or the import parser's to refuse */
	fprintf(stderr, "wicketctl sign: --version %" PRId64 " does not match the registry's own version %" PRId64 " (%s:%d:%d)\n",
		version, v->i, file, v->line, v->col);
	return -1;
}

/* The lists input: {"mode":"snapshot","registry":{...}}, {"mode":"delta",
 * "base":N,"upsert":{...},"remove":{...}}, or a plain registry import
 * document (a snapshot).  Writes the "lists" object into b.  Returns
 * CTL_OK, CTL_FAIL after reporting the errors, or CTL_USAGE (--version
 * not after the base, or not the import's own version). */
static int lists_body(const char *file, const char *text, size_t len,
		      const struct jt_node *root, int64_t version,
		      struct buf *b)
{
	const struct jt_node *mode, *m;
	int errors = 0, usage = 0, rc, delta;

	if (root->type != JT_OBJECT) {
		doc_error(file, root, "$", "expected an object, got %s",
			  jt_type_name(root->type));
		return CTL_FAIL;
	}
	mode = jt_get(root, "mode");
	if (mode == NULL) {
		/* a registry import document: a snapshot */
		struct reg_batch *batch = NULL;

		rc = reg_batch_parse(text, len, file, REG_JSON, &batch,
				     on_reg_error, NULL);
		reg_batch_free(batch);
		if (rc < 0)
			fprintf(stderr, "wicketctl sign: out of memory\n");
		if (rc != 0)
			return CTL_FAIL;
		if (check_import_version(file, root, version) != 0)
			return CTL_USAGE;
		buf_puts(b, "{\"mode\":\"snapshot\",\"registry\":");
		buf_json_node(b, root);
		buf_puts(b, "}");
		return CTL_OK;
	}
	if (mode->type != JT_STRING ||
	    (strcmp(mode->s, "snapshot") != 0 && strcmp(mode->s, "delta") != 0)) {
		doc_error(file, mode, "$.mode", "expected \"snapshot\" or \"delta\"");
		return CTL_FAIL;
	}
	delta = mode->s[0] == 'd';
	for (m = root->kids; m; m = m->next) {
		int known = strcmp(m->key, "mode") == 0 ||
			    (!delta && strcmp(m->key, "registry") == 0) ||
			    (delta && (strcmp(m->key, "base") == 0 ||
				       strcmp(m->key, "upsert") == 0 ||
				       strcmp(m->key, "remove") == 0));

		if (!known) {
			fprintf(stderr, "%s:%d:%d: $.%s: unknown field; %s\n",
				file, m->key_line, m->key_col, m->key,
				delta ? "a delta has mode, base, upsert and remove"
				      : "a snapshot has mode and registry");
			errors++;
		}
	}
	if (!delta) {
		m = jt_get(root, "registry");
		if (m == NULL) {
			doc_error(file, root, "$", "missing member \"registry\"");
			errors++;
		} else if (m->type != JT_OBJECT) {
			doc_error(file, m, "$.registry", "expected an object, got %s",
				  jt_type_name(m->type));
			errors++;
		} else if ((rc = check_registry_at(file, text, len, m)) != 0) {
			errors += rc > 0 ? rc : 1;
		} else if (check_import_version(file, m, version) != 0) {
			usage = 1;
		}
		goto out;
	}
	m = jt_get(root, "base");
	if (m == NULL) {
		doc_error(file, root, "$", "missing member \"base\" (the registry version the delta applies to)");
		errors++;
	} else if (m->type != JT_NUMBER || !m->is_int || m->i < 0) {
		doc_error(file, m, "$.base", "expected a whole number of 0 or more");
		errors++;
	} else if (version <= m->i) {
		fprintf(stderr, "wicketctl sign: --version %" PRId64 " must be greater than the delta's base %" PRId64 " (%s:%d:%d)\n",
			version, m->i, file, m->line, m->col);
		return CTL_USAGE;
	}
	/* at least one of upsert and remove, as the gates require */
	if (jt_get(root, "upsert") == NULL && jt_get(root, "remove") == NULL) {
		doc_error(file, root, "$", "a delta needs \"upsert\" (an import document), \"remove\", or both");
		errors++;
	}
	m = jt_get(root, "upsert");
	if (m == NULL) {
		/* nothing to add or change */
	} else if (m->type != JT_OBJECT) {
		doc_error(file, m, "$.upsert", "expected an object, got %s",
			  jt_type_name(m->type));
		errors++;
	} else if ((rc = check_registry_at(file, text, len, m)) != 0) {
		errors += rc > 0 ? rc : 1;
	} else if (check_import_version(file, m, version) != 0) {
		usage = 1;
	}
	m = jt_get(root, "remove");
	if (m == NULL) {
		/* nothing to remove */
	} else {
		errors += check_remove(file, m);
	}
out:
	if (errors)
		return CTL_FAIL;
	if (usage)
		return CTL_USAGE;
	buf_json_node(b, root);
	return CTL_OK;
}

/* --- sign ------------------------------------------------------------------ */

static const char sign_usage[] =
	"usage: wicketctl sign --key FILE --key-id ID --site SITE (--gate GATE | --all)\n"
	"                      --kind KIND [--version N] [--expires DURATION]\n"
	"                      [--out FILE] [KIND'S OPTIONS] [INPUT]\n"
	"\n"
	"  --kind rules     INPUT is a rules file; it is validated as by 'rules\n"
	"                   check' and not signed if invalid.  The version is\n"
	"                   the file's own (--version, if given, must match).\n"
	"  --kind lists     INPUT is {\"mode\":\"snapshot\",\"registry\":{...}},\n"
	"                   {\"mode\":\"delta\",\"base\":N,\"upsert\":{...},\"remove\":{...}}\n"
	"                   or a plain registry import file (a snapshot); the\n"
	"                   registry parts are checked as by 'persons import'.\n"
	"                   --version N (required): the registry version after.\n"
	"  --kind rollback  --version N (required): the rules version in force,\n"
	"                   to roll back from.  No INPUT.\n"
	"  --kind cmd       --cmd open --lane LANE | --cmd mode --mode MODE |\n"
	"                   --cmd status; --id NONCE (8-64 of A-Z a-z 0-9 . _ -,\n"
	"                   default random).  No INPUT.\n"
	"\n"
	"  --key FILE        the private key (wicketctl keygen)\n"
	"  --key-id ID       its id, as in the gates' admin-keys files\n"
	"  --site SITE       the target site\n"
	"  --gate GATE       one gate of the site, or\n"
	"  --all             every gate of the site\n"
	"  --expires D       valid for D from now: 90s, 15m, 2h, 7d (default 1h,\n"
	"                    at most 30d)\n"
	"  --out FILE        write the envelope to FILE instead of standard output\n"
	"\n"
	"Prints the envelope {\"wicket\":1,\"key\":ID,\"signed\":BASE64,\"sig\":BASE64}\n"
	"on one line.  INPUT '-' is standard input.  A gate accepts an envelope of\n"
	"at most 8 MiB; a larger registry goes with 'persons import' on the board.\n"
	"\n"
	"Exit status: 0 signed, 1 a key or INPUT that cannot be read or is\n"
	"invalid, 2 bad usage.  See wicketctl(1).\n";

enum kind { K_RULES, K_LISTS, K_ROLLBACK, K_CMD };
static const char *const kind_names[] = { "rules", "lists", "rollback", "cmd" };

struct sign_args {
	const char *key, *key_id, *site, *gate, *kind_s, *version_s;
	const char *expires_s, *id, *cmd, *lane, *mode, *out, *input;
	int all;
	enum kind kind;
	int64_t version;	/* 0: not given */
	int64_t expires;
	char nonce[NONCE_MAX + 1];
};

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("wicketctl sign: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CTL_USAGE;
}

/* Option values and their combinations; CTL_OK or CTL_USAGE (printed). */
static int check_args(struct sign_args *a)
{
	static const struct { const char *opt; size_t off; } required[] = {
		{ "--key", offsetof(struct sign_args, key) },
		{ "--key-id", offsetof(struct sign_args, key_id) },
		{ "--site", offsetof(struct sign_args, site) },
		{ "--kind", offsetof(struct sign_args, kind_s) },
	};
	size_t k;

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (*(const char *const *)((const char *)a + required[i].off) == NULL)
			return usage_error("%s is required", required[i].opt);
	for (k = 0; k < 4; k++)
		if (strcmp(a->kind_s, kind_names[k]) == 0)
			break;
	if (k == 4)
		return usage_error("--kind: '%s' is not rules, lists, rollback or cmd",
				   a->kind_s);
	a->kind = (enum kind)k;
	if (*a->key == '\0')
		return usage_error("--key: an empty file name");
	if (!valid_token(a->key_id, 1, KEY_ID_MAX))
		return usage_error("--key-id: '%s' must be 1-64 of A-Z a-z 0-9 . _ -",
				   a->key_id);
	if (!valid_name(a->site))
		return usage_error("--site: '%s' must be 1-32 of A-Z a-z 0-9 _ -",
				   a->site);
	if (a->gate && a->all)
		return usage_error("--gate and --all: give one of them");
	if (a->gate == NULL && !a->all)
		return usage_error("--gate GATE or --all is required");
	if (a->gate && !valid_name(a->gate))
		return usage_error("--gate: '%s' must be 1-32 of A-Z a-z 0-9 _ -%s",
				   a->gate, strcmp(a->gate, "*") == 0 ?
				   " (for every gate: --all)" : "");
	if (a->version_s && parse_version(a->version_s, &a->version) != 0)
		return usage_error("--version: '%s' is not a whole number of 1 or more",
				   a->version_s);
	a->expires = EXPIRES_DEFAULT_S;
	if (a->expires_s && parse_duration(a->expires_s, &a->expires) != 0)
		return usage_error("--expires: '%s' is not a duration of 1s to 30d (90s, 15m, 2h, 7d)",
				   a->expires_s);
	if (a->out && *a->out == '\0')
		return usage_error("--out: an empty file name");

	/* what each kind takes */
	if (a->kind != K_CMD) {
		const char *extra = a->cmd ? "--cmd" : a->lane ? "--lane" :
				    a->mode ? "--mode" : a->id ? "--id" : NULL;

		if (extra)
			return usage_error("%s is only for --kind cmd", extra);
	}
	switch (a->kind) {
	case K_RULES:
	case K_LISTS:
		if (a->input == NULL)
			return usage_error("--kind %s needs an INPUT file",
					   a->kind_s);
		if (a->kind == K_LISTS && a->version_s == NULL)
			return usage_error("--kind lists needs --version (the registry version after the update)");
		return CTL_OK;
	case K_ROLLBACK:
		if (a->input)
			return usage_error("--kind rollback takes no INPUT ('%s')",
					   a->input);
		if (a->version_s == NULL)
			return usage_error("--kind rollback needs --version (the rules version in force, rolled back from)");
		return CTL_OK;
	case K_CMD:
		break;
	}
	if (a->input)
		return usage_error("--kind cmd takes no INPUT ('%s')", a->input);
	if (a->version_s)
		return usage_error("--version is not for --kind cmd");
	if (a->cmd == NULL)
		return usage_error("--kind cmd needs --cmd open, mode or status");
	if (strcmp(a->cmd, "open") == 0) {
		if (a->lane == NULL)
			return usage_error("--cmd open needs --lane LANE");
		if (!valid_name(a->lane))
			return usage_error("--lane: '%s' must be 1-32 of A-Z a-z 0-9 _ -",
					   a->lane);
		if (a->mode)
			return usage_error("--mode is only for --cmd mode");
	} else if (strcmp(a->cmd, "mode") == 0) {
		if (a->mode == NULL)
			return usage_error("--cmd mode needs --mode MODE");
		if (rules_mode_parse(a->mode) < 0)
			return usage_error("--mode: '%s' is not normal, residents-only, lockdown or open",
					   a->mode);
		if (a->lane)
			return usage_error("--lane is only for --cmd open");
	} else if (strcmp(a->cmd, "status") == 0) {
		if (a->lane || a->mode)
			return usage_error("%s is not for --cmd status",
					   a->lane ? "--lane" : "--mode");
	} else {
		return usage_error("--cmd: '%s' is not open, mode or status",
				   a->cmd);
	}
	if (a->id && !valid_token(a->id, NONCE_MIN, NONCE_MAX))
		return usage_error("--id: '%s' must be 8-64 of A-Z a-z 0-9 . _ -",
				   a->id);
	return CTL_OK;
}

static int parse_sign_args(int argc, char **argv, struct sign_args *a)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "key-id", required_argument, NULL, 'i' },
		{ "site", required_argument, NULL, 's' },
		{ "gate", required_argument, NULL, 'g' },
		{ "all", no_argument, NULL, 'a' },
		{ "kind", required_argument, NULL, 'K' },
		{ "version", required_argument, NULL, 'v' },
		{ "expires", required_argument, NULL, 'e' },
		{ "id", required_argument, NULL, 'I' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "lane", required_argument, NULL, 'l' },
		{ "mode", required_argument, NULL, 'm' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, idx;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
		const char **slot = NULL;

		switch (ch) {
		case 'k':
			slot = &a->key;
			break;
		case 'i':
			slot = &a->key_id;
			break;
		case 's':
			slot = &a->site;
			break;
		case 'g':
			slot = &a->gate;
			break;
		case 'K':
			slot = &a->kind_s;
			break;
		case 'v':
			slot = &a->version_s;
			break;
		case 'e':
			slot = &a->expires_s;
			break;
		case 'I':
			slot = &a->id;
			break;
		case 'c':
			slot = &a->cmd;
			break;
		case 'l':
			slot = &a->lane;
			break;
		case 'm':
			slot = &a->mode;
			break;
		case 'o':
			slot = &a->out;
			break;
		case 'a':
			a->all = 1;
			break;
		case 'j':
			break;	/* the output is JSON anyway */
		case 'h':
			fputs(sign_usage, stdout);
			return CTL_OK;
		default:
			return bad_option("sign", ch, argv, sign_usage);
		}
		/* a value given twice is a mistake in a script, not an
		 * override: refuse rather than sign the wrong thing */
		if (slot && *slot)
			return usage_error("--%s given twice", opts[idx].name);
		if (slot)
			*slot = optarg;
	}
	if (argc - optind > 1)
		return usage_error("one INPUT at most (got '%s' and '%s')",
				   argv[optind], argv[optind + 1]);
	if (optind < argc)
		a->input = argv[optind];
	return -1;
}

/* The Ed25519 private key at path (wicketctl keygen); NULL after printing
 * why, as "wicketctl CMD: --key PATH: ...". */
EVP_PKEY *ctl_load_key(const char *cmd, const char *path)
{
	struct stat st;
	EVP_PKEY *pk;
	FILE *f;

	f = fopen(path, "re");
	if (f == NULL) {
		fprintf(stderr, "wicketctl %s: --key %s: %s\n", cmd, path,
			strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		fprintf(stderr, "wicketctl %s: warning: %s can be read by others (mode %04o); chmod 600 it\n",
			cmd, path, (unsigned)(st.st_mode & 07777));
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pk == NULL) {
		fprintf(stderr, "wicketctl %s: --key %s: not a PEM private key (%s)\n",
			cmd, path, ssl_reason());
		return NULL;
	}
	if (!EVP_PKEY_is_a(pk, "ED25519")) {
		fprintf(stderr, "wicketctl %s: --key %s: a %s key, not Ed25519 (make one with wicketctl keygen)\n",
			cmd, path, EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "?");
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

/* The signed document's bytes into doc.  CTL_OK, or an exit code after
 * printing why. */
static int build_document(struct sign_args *a, struct buf *doc)
{
	char issued[32], expires[32], *text = NULL;
	struct jt_doc *jd = NULL;
	struct rules *r = NULL;
	struct buf body = { 0 };
	int64_t now = (int64_t)time(NULL);
	struct json j;
	const char *flat;
	size_t len = 0;
	int rc = CTL_FAIL;

	if (a->kind == K_RULES || a->kind == K_LISTS) {
		char err[256];

		rc = fs_read_file(a->input, a->kind == K_RULES ? RULES_FILE_MAX
							       : ENVELOPE_MAX,
				  &text, &len);
		if (rc == -EFBIG) {
			fprintf(stderr, "wicketctl sign: %s: larger than %s%s\n",
				a->input, a->kind == K_RULES ? "a rules file may be (1 MiB)"
							     : "a gate accepts (8 MiB)",
				a->kind == K_LISTS ? "; import it on the board with 'wicketctl persons import'" : "");
			rc = CTL_FAIL;
			goto out;
		}
		if (rc < 0) {
			fprintf(stderr, "wicketctl sign: %s: %s\n", a->input,
				strerror(-rc));
			rc = CTL_FAIL;
			goto out;
		}
		rc = CTL_FAIL;
		if (a->kind == K_RULES) {
			int n = rules_parse(text, len, a->input, &r,
					    on_rules_error, NULL);

			if (n != 0) {
				if (n < 0)
					fprintf(stderr, "wicketctl sign: out of memory\n");
				else
					fprintf(stderr, "wicketctl sign: %s is not valid (%d error%s); not signed\n",
						a->input, n, n == 1 ? "" : "s");
				goto out;
			}
			if (a->version && a->version != rules_version(r)) {
				fprintf(stderr, "wicketctl sign: --version %" PRId64 " does not match the version of %s (%" PRId64 ")\n",
					a->version, a->input, rules_version(r));
				rc = CTL_USAGE;
				goto out;
			}
			a->version = rules_version(r);
		}
		if (jt_parse(text, len, &jd, err, sizeof(err)) != 0) {
			/* the rules validator would have said it; lists land
			 * here for a syntax error */
			fprintf(stderr, "%s:%s\n", a->input, err);
			goto out;
		}
		if (a->kind == K_RULES) {
			buf_json_node(&body, jt_root(jd));
		} else {
			rc = lists_body(a->input, text, len, jt_root(jd),
					a->version, &body);
			if (rc != CTL_OK) {
				if (rc == CTL_FAIL)
					fprintf(stderr, "wicketctl sign: %s is not valid; not signed\n",
						a->input);
				goto out;
			}
			rc = CTL_FAIL;
		}
	} else if (a->kind == K_CMD) {
		struct json c;

		if (a->id == NULL) {
			unsigned char rnd[16];

			if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
				fprintf(stderr, "wicketctl sign: no random numbers for --id: %s\n",
					ssl_reason());
				goto out;
			}
			for (size_t i = 0; i < sizeof(rnd); i++)
				snprintf(a->nonce + 2 * i, 3, "%02x", rnd[i]);
			a->id = a->nonce;
		}
		json_begin(&c);
		json_str(&c, "name", a->cmd);
		if (a->lane)
			json_str(&c, "lane", a->lane);
		if (a->mode)
			json_str(&c, "mode", a->mode);
		buf_puts(&body, json_end(&c));
	}

	if (format_time(now, issued, sizeof(issued)) != 0 ||
	    format_time(now + a->expires, expires, sizeof(expires)) != 0) {
		fprintf(stderr, "wicketctl sign: the clock is out of range\n");
		goto out;
	}
	/* the flat members through json.h, the body (which may be MBs)
	 * appended after them */
	json_begin(&j);
	json_str(&j, "kind", kind_names[a->kind]);
	json_str(&j, "site", a->site);
	json_str(&j, "gate", a->all ? "*" : a->gate);
	if (a->kind != K_CMD)
		json_int(&j, "version", a->version);
	json_str(&j, "issued", issued);
	json_str(&j, "expires", expires);
	if (a->kind == K_CMD)
		json_str(&j, "id", a->id);
	flat = json_end(&j);
	if (flat == NULL || strlen(flat) < 2) {
		fprintf(stderr, "wicketctl sign: the document does not fit\n");
		goto out;
	}
	buf_add(doc, flat, strlen(flat) - 1);	/* without its '}' */
	if (a->kind != K_ROLLBACK) {
		buf_printf(doc, ",\"%s\":", kind_names[a->kind]);
		if (body.p != NULL)
			buf_add(doc, body.p, body.len);
	}
	buf_add(doc, "}", 1);
	if (doc->oom || body.oom) {
		fprintf(stderr, "wicketctl sign: out of memory\n");
		goto out;
	}
	rc = CTL_OK;
out:
	free(body.p);
	free(text);
	jt_free(jd);
	rules_free(r);
	return rc;
}

/* Sign doc and write the envelope into env.  CTL_OK or CTL_FAIL. */
static int build_envelope(const struct sign_args *a, EVP_PKEY *pk,
			  const struct buf *doc, struct buf *env)
{
	unsigned char sig[ED25519_SIG_LEN];
	size_t sig_len = sizeof(sig);
	char *doc64 = NULL, *sig64 = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = CTL_FAIL;

	/* pure Ed25519 (RFC 8032): no digest, the message in one go */
	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)doc->p,
			   doc->len) != 1 ||
	    sig_len != sizeof(sig)) {
		fprintf(stderr, "wicketctl sign: cannot sign: %s\n", ssl_reason());
		goto out;
	}
	doc64 = base64((const unsigned char *)doc->p, doc->len);
	sig64 = base64(sig, sig_len);
	if (doc64 == NULL || sig64 == NULL) {
		fprintf(stderr, "wicketctl sign: out of memory\n");
		goto out;
	}
	buf_puts(env, "{\"wicket\":1,\"key\":");
	buf_json_str(env, a->key_id, strlen(a->key_id));
	buf_puts(env, ",\"signed\":\"");
	buf_puts(env, doc64);
	buf_puts(env, "\",\"sig\":\"");
	buf_puts(env, sig64);
	buf_puts(env, "\"}");
	if (env->oom) {
		fprintf(stderr, "wicketctl sign: out of memory\n");
		goto out;
	}
	if (env->len > ENVELOPE_MAX) {
		fprintf(stderr, "wicketctl sign: the envelope would be %zu bytes, over the %zu a gate accepts (8 MiB)%s\n",
			env->len, ENVELOPE_MAX,
			a->kind == K_LISTS ? "; import a registry this large on the board with 'wicketctl persons import', or send a delta" : "");
		goto out;
	}
	rc = CTL_OK;
out:
	EVP_MD_CTX_free(md);
	free(doc64);
	free(sig64);
	return rc;
}

static int write_out(const char *path, const struct buf *env)
{
	FILE *f = stdout;
	int bad;

	if (path) {
		f = fopen(path, "we");
		if (f == NULL) {
			fprintf(stderr, "wicketctl sign: --out %s: %s\n", path,
				strerror(errno));
			return CTL_FAIL;
		}
	}
	bad = fwrite(env->p, 1, env->len, f) != env->len || putc('\n', f) == EOF;
	bad |= fflush(f) != 0;
	if (path)
		bad |= fclose(f) != 0;
	if (bad) {
		fprintf(stderr, "wicketctl sign: %s: %s\n",
			path ? path : "standard output", strerror(errno));
		if (path)
			unlink(path);
		return CTL_FAIL;
	}
	return CTL_OK;
}

/* Checked arguments to an envelope in env.  CTL_OK, or an exit code
 * after printing why. */
static int sign_envelope(struct sign_args *a, struct buf *env)
{
	struct buf doc = { 0 };
	EVP_PKEY *pk;
	int rc;

	/* the key first: no point validating a registry we cannot sign */
	pk = ctl_load_key("sign", a->key);
	if (pk == NULL)
		return CTL_FAIL;
	rc = build_document(a, &doc);
	if (rc == CTL_OK)
		rc = build_envelope(a, pk, &doc, env);
	EVP_PKEY_free(pk);
	free(doc.p);
	return rc;
}

int ctl_sign_build(const struct sign_req *r, char **envelope, size_t *len)
{
	struct sign_args a = {
		.key = r->key, .key_id = r->key_id, .site = r->site,
		.gate = r->gate, .all = r->all, .kind_s = r->kind,
		.version_s = r->version, .expires_s = r->expires,
		.input = r->input, .cmd = r->cmd, .lane = r->lane,
		.mode = r->mode, .id = r->id,
	};
	struct buf env = { 0 };
	int rc;

	*envelope = NULL;
	*len = 0;
	rc = check_args(&a);
	if (rc == CTL_OK)
		rc = sign_envelope(&a, &env);
	if (rc != CTL_OK) {
		free(env.p);
		return rc;
	}
	*envelope = env.p;
	*len = env.len;
	return CTL_OK;
}

int ctl_sign(const struct ctl_opts *o, int argc, char **argv)
{
	struct sign_args a = { 0 };
	struct buf env = { 0 };
	int rc;

	(void)o;
	rc = parse_sign_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	rc = check_args(&a);
	if (rc != CTL_OK) {
		fprintf(stderr, "('wicketctl sign --help' describes the options)\n");
		return rc;
	}
	rc = sign_envelope(&a, &env);
	if (rc == CTL_OK)
		rc = write_out(a.out, &env);
	free(env.p);
	return rc;
}
