/*
 * wicketctl pass issue, pass verify: signed QR passes (issue 6; the
 * token's format in daemon/pass.h, for operators docs/passes.md).
 *
 *   wicketctl pass issue --key FILE --key-id ID (--person ID | --household ID)
 *                        [--from T] [--until T | --days N]
 *                        [--qr terminal|png] [--out FILE] [--json]
 *   wicketctl pass verify --keys FILE [--at T] [--json] TOKEN
 *
 * issue signs with an Ed25519 key made by wicketctl keygen (the same PEM
 * files as sign); the gates need the key's public line in their issuer
 * keys file.  The token is built by daemon/pass.c's encoder, signed here,
 * and then verified here with the key's own public half through the
 * gate's verifier before it is printed, so a pass this prints is one a
 * gate with that key accepts.  --qr draws it: on the terminal with
 * Unicode half blocks (two module rows per line), or as a PNG through
 * libpng.  libqrencode and libpng are wicketctl's alone: wicketd never
 * draws a code, it only reads tokens.
 *
 * verify is the gate's check on the desk: the subject and window, or the
 * reason code a gate would deny it with (exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
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

#include <png.h>
#include <qrencode.h>

#include "admin.h"
#include "ctl.h"
#include "json.h"
#include "pass.h"

#define DAYS_MAX 3660		/* ten years: longer is a mistake */
#define SKEW_S 300		/* default from: now minus this */
#define QUIET 4			/* modules of white around the code */
#define PNG_SCALE 8		/* pixels per module */

static const char pass_usage[] =
	"usage: wicketctl pass issue --key FILE --key-id ID (--person ID | --household ID)\n"
	"                            [--from T] [--until T | --days N]\n"
	"                            [--qr terminal|png] [--out FILE] [--json]\n"
	"       wicketctl pass verify --keys FILE [--at T] [--json] TOKEN\n"
	"\n"
	"issue: sign a pass for a person or household of the registry and print\n"
	"its token (one line).  The key is one made with wicketctl keygen; the\n"
	"gates accept the pass when its public line (\"ID ed25519 BASE64\") is in\n"
	"their issuer keys file.\n"
	"  --key FILE       the issuer's private key (PEM)\n"
	"  --key-id ID      its id in the gates' issuer keys file\n"
	"  --person ID, --household ID\n"
	"                   whom the pass admits (the registry's id)\n"
	"  --from T         valid from T (default: 5 minutes ago, for gate clocks\n"
	"                   that are behind)\n"
	"  --until T        valid until T, exclusive\n"
	"  --days N         valid for N days from --from or now (default 1; 1-3660)\n"
	"  --qr terminal    also draw the QR code on standard output\n"
	"  --qr png         write the QR code as a PNG to --out FILE\n"
	"  --json           print {\"token\":...,\"kind\":...,...} instead\n"
	"  T is YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD (UTC midnight) or now.\n"
	"\n"
	"verify: check TOKEN (\"-\": a line from standard input) as a gate would:\n"
	"print the subject and validity, or the reason code the gate would deny\n"
	"it with (pass_malformed, pass_unknown_issuer, pass_tampered,\n"
	"pass_not_yet_valid, pass_expired) and exit 1.\n"
	"  --keys FILE      the issuer keys file (\"ID ed25519 BASE64\" lines)\n"
	"  --at T           check at T instead of now\n"
	"\n"
	"Exit status: 0 done (verify: valid), 1 failed (verify: refused),\n"
	"2 bad usage.  See wicketctl(1) and docs/passes.md.\n";

/* --- small helpers --------------------------------------------------------- */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("wicketctl pass: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(pass_usage, stderr);
	return CTL_USAGE;
}

static int bad_option(int ch, char **argv)
{
	if (ch == ':')
		return usage_error("%s needs a value", argv[optind - 1]);
	return usage_error("unknown option '%s'", argv[optind - 1]);
}

/* OpenSSL's reason for the last failure, for a message. */
static const char *ssl_reason(char *buf, size_t size)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, size, "unknown error");
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
	return buf;
}

/* T: "now", "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ".  0 or -1. */
static int parse_time(const char *s, int64_t now, int64_t *out)
{
	char full[32];

	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (strlen(s) == 10) {
		snprintf(full, sizeof(full), "%sT00:00:00Z", s);
		s = full;
	}
	return admin_time_parse(s, out) == 0 ? 0 : -1;
}

static const char *fmt_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "@%" PRId64, t);
	return buf;
}


/* --- drawing --------------------------------------------------------------- */

/* 1 when the module at (x, y) is dark; the quiet zone (outside) is light. */
static int dark(const QRcode *qr, int x, int y)
{
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return 0;
	return qr->data[y * qr->width + x] & 1;
}

/* Light modules as blocks, dark ones as blanks, two rows per line: right
 * on a dark background.  On a terminal the colours are set (white on
 * black) so that a light theme draws it the same way; into a pipe or a
 * file it stays plain text. */
static void draw_terminal(const QRcode *qr, FILE *out, int colour)
{
	static const char *const cell[4] = {
		"\u2588",	/* both light: full block */
		"\u2580",	/* top light, bottom dark: upper half */
		"\u2584",	/* top dark, bottom light: lower half */
		" ",		/* both dark */
	};

	for (int y = -QUIET; y < qr->width + QUIET; y += 2) {
		if (colour)
			fputs("\033[97;40m", out);
		for (int x = -QUIET; x < qr->width + QUIET; x++)
			fputs(cell[dark(qr, x, y) << 1 | dark(qr, x, y + 1)], out);
		if (colour)
			fputs("\033[0m", out);
		fputc('\n', out);
	}
}

static void png_fail(png_structp png, png_const_charp msg)
{
	fprintf(stderr, "wicketctl pass issue: PNG: %s\n", msg);
	png_longjmp(png, 1);
}

/* The code as a 1-bit greyscale PNG; 0 or -1 after printing why. */
static int write_png(const QRcode *qr, FILE *f, const char *path)
{
	const int size = (qr->width + 2 * QUIET) * PNG_SCALE;
	png_structp png;
	png_infop info;
	png_bytep row;
	volatile int rc = -1;	/* set after the setjmp */

	row = calloc((size_t)(size + 7) / 8, 1);
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_fail, NULL);
	info = png ? png_create_info_struct(png) : NULL;
	if (row == NULL || png == NULL || info == NULL) {
		fprintf(stderr, "wicketctl pass issue: %s: out of memory\n", path);
		goto out;
	}
	/* below, only rc changes (volatile) of what is read after a
	 * longjmp */
	if (setjmp(png_jmpbuf(png)))
		goto out;
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)size, (png_uint_32)size, 1,
		     PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int py = 0; py < size; py++) {
		int y = py / PNG_SCALE - QUIET;

		memset(row, 0, (size_t)(size + 7) / 8);
		for (int px = 0; px < size; px++)
			if (!dark(qr, px / PNG_SCALE - QUIET, y))	/* 1 = white */
				row[px / 8] |= (png_byte)(0x80 >> (px % 8));
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	rc = 0;
out:
	png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
	free(row);
	return rc;
}

static int qr_png(const QRcode *qr, const char *path)
{
	FILE *f = fopen(path, "wbe");
	int bad;

	if (f == NULL) {
		fprintf(stderr, "wicketctl pass issue: --out %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	bad = write_png(qr, f, path);
	if (fflush(f) != 0 || ferror(f)) {
		if (!bad)
			fprintf(stderr, "wicketctl pass issue: --out %s: %s\n",
				path, strerror(errno));
		bad = -1;
	}
	if (fclose(f) != 0 && !bad) {
		fprintf(stderr, "wicketctl pass issue: --out %s: %s\n", path,
			strerror(errno));
		bad = -1;
	}
	if (bad)
		unlink(path);
	return bad;
}

/* --- issue ----------------------------------------------------------------- */

struct issue_args {
	const char *key, *key_id, *person, *household;
	const char *from, *until, *days, *qr, *out;
	int json;
};

static int issue_options(int argc, char **argv, struct issue_args *a)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "key-id", required_argument, NULL, 'i' },
		{ "person", required_argument, NULL, 'p' },
		{ "household", required_argument, NULL, 'H' },
		{ "from", required_argument, NULL, 'f' },
		{ "until", required_argument, NULL, 'u' },
		{ "days", required_argument, NULL, 'd' },
		{ "qr", required_argument, NULL, 'q' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': a->key = optarg; break;
		case 'i': a->key_id = optarg; break;
		case 'p': a->person = optarg; break;
		case 'H': a->household = optarg; break;
		case 'f': a->from = optarg; break;
		case 'u': a->until = optarg; break;
		case 'd': a->days = optarg; break;
		case 'q': a->qr = optarg; break;
		case 'o': a->out = optarg; break;
		case 'j': a->json = 1; break;
		case 'h':
			fputs(pass_usage, stdout);
			return 1;
		default:
			return bad_option(ch, argv);
		}
	}
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (a->key == NULL)
		return usage_error("%s is required", "--key");
	if (a->key_id == NULL)
		return usage_error("%s is required", "--key-id");
	if ((a->person == NULL) == (a->household == NULL))
		return usage_error("%s", "give one of --person and --household");
	if (a->until != NULL && a->days != NULL)
		return usage_error("%s", "give --until or --days, not both");
	if (a->qr != NULL && strcmp(a->qr, "terminal") != 0 &&
	    strcmp(a->qr, "png") != 0)
		return usage_error("--qr '%s': terminal or png", a->qr);
	if (a->qr != NULL && strcmp(a->qr, "png") == 0 && a->out == NULL)
		return usage_error("%s", "--qr png needs --out FILE");
	if (a->out != NULL && (a->qr == NULL || strcmp(a->qr, "png") != 0))
		return usage_error("%s", "--out is the PNG's file: give --qr png");
	if (a->json && a->qr != NULL && strcmp(a->qr, "terminal") == 0)
		return usage_error("%s", "--json and --qr terminal do not mix");
	return 0;
}

/* The pass's fields from the options; CTL_OK or CTL_USAGE after saying
 * why. */
static int issue_fields(const struct issue_args *a, struct pass *p)
{
	int64_t now = (int64_t)time(NULL), base;
	char err[160];
	long days = 1;
	char *end;

	memset(p, 0, sizeof(*p));
	p->kind = a->person ? PASS_PERSON : PASS_HOUSEHOLD;
	if (strlen(a->key_id) > PASS_KEY_ID_MAX ||
	    strlen(a->person ? a->person : a->household) > PASS_SUBJECT_MAX) {
		fprintf(stderr, "wicketctl pass issue: %s: longer than %d\n",
			strlen(a->key_id) > PASS_KEY_ID_MAX ? "--key-id" :
			a->person ? "--person" : "--household",
			strlen(a->key_id) > PASS_KEY_ID_MAX ? PASS_KEY_ID_MAX :
			PASS_SUBJECT_MAX);
		return CTL_USAGE;
	}
	snprintf(p->key_id, sizeof(p->key_id), "%s", a->key_id);
	snprintf(p->subject, sizeof(p->subject), "%s",
		 a->person ? a->person : a->household);
	if (a->from != NULL) {
		if (parse_time(a->from, now, &p->valid_from) < 0)
			return usage_error("--from '%s': not YYYY-MM-DDTHH:MM:SSZ, YYYY-MM-DD or now",
					   a->from);
		base = p->valid_from;
	} else {
		p->valid_from = now - SKEW_S;
		base = now;
	}
	if (a->until != NULL) {
		if (parse_time(a->until, now, &p->valid_until) < 0)
			return usage_error("--until '%s': not YYYY-MM-DDTHH:MM:SSZ, YYYY-MM-DD or now",
					   a->until);
	} else {
		if (a->days != NULL) {
			errno = 0;
			days = strtol(a->days, &end, 10);
			if (errno || end == a->days || *end || days < 1 ||
			    days > DAYS_MAX)
				return usage_error("--days '%s': a whole number 1-3660",
						   a->days);
		}
		p->valid_until = base + (int64_t)days * 86400;
	}
	if (p->valid_until <= p->valid_from)
		return usage_error("%s", "the pass would end before it starts (--until after --from)");
	if (RAND_bytes((unsigned char *)&p->serial, sizeof(p->serial)) != 1) {
		fprintf(stderr, "wicketctl pass issue: no random serial: %s\n",
			ssl_reason(err, sizeof(err)));
		return CTL_FAIL;
	}
	if (pass_encode(p, err, sizeof(err)) < 0) {
		fprintf(stderr, "wicketctl pass issue: %s\n", err);
		return CTL_USAGE;
	}
	if (p->valid_until <= now)
		fprintf(stderr, "wicketctl pass issue: warning: the pass has expired already (valid until %s)\n",
			fmt_time(p->valid_until, err, sizeof(err)));
	return CTL_OK;
}

/* Sign p->msg into p->sig, then check the token with pk's public half
 * through the gate's verifier.  CTL_OK or CTL_FAIL after saying why. */
static int issue_sign(EVP_PKEY *pk, struct pass *p, char *tok, size_t cap,
		      size_t *len)
{
	unsigned char pub[32];
	char b64[48], line[160], why[256];
	size_t n = sizeof(p->sig), pl = sizeof(pub);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct pass_keys *self = NULL;
	struct pass check;
	enum pass_reason r;
	int ok;

	ok = ctx != NULL &&
	     EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	     EVP_DigestSign(ctx, p->sig, &n, p->msg, p->msg_len) == 1 &&
	     n == PASS_SIG_LEN &&
	     EVP_PKEY_get_raw_public_key(pk, pub, &pl) == 1 && pl == sizeof(pub);
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		fprintf(stderr, "wicketctl pass issue: cannot sign: %s\n",
			ssl_reason(why, sizeof(why)));
		return CTL_FAIL;
	}
	EVP_EncodeBlock((unsigned char *)b64, pub, (int)sizeof(pub));
	snprintf(line, sizeof(line), "%s ed25519 %s\n", p->key_id, b64);
	if (pass_format(p, tok, cap, len) != 0 ||
	    pass_keys_parse("the key's public half", line, strlen(line), &self,
			    why, sizeof(why)) != 0 ||
	    pass_verify(self, tok, *len, p->valid_from, &check, &r, why,
			sizeof(why)) != 0) {
		fprintf(stderr, "wicketctl pass issue: the new pass does not verify: %s\n",
			why);
		pass_keys_free(self);
		return CTL_FAIL;
	}
	pass_keys_free(self);
	return CTL_OK;
}

static void print_json(const struct pass *p, const char *tok, int valid,
		       const char *reason, const char *msg)
{
	char t1[32], t2[32];

	fputs("{\"token\":", stdout);
	json_fput_str(stdout, tok);
	if (reason != NULL) {
		printf(",\"valid\":%s,\"reason\":", valid ? "true" : "false");
		json_fput_str(stdout, reason);
		if (msg != NULL && *msg) {
			fputs(",\"message\":", stdout);
			json_fput_str(stdout, msg);
		}
	}
	if (p->key_id[0] != '\0') {
		printf(",\"kind\":\"%s\",\"subject\":", pass_kind_name(p->kind));
		json_fput_str(stdout, p->subject);
		fputs(",\"key\":", stdout);
		json_fput_str(stdout, p->key_id);
		printf(",\"from\":\"%s\",\"until\":\"%s\",\"serial\":%" PRIu32,
		       fmt_time(p->valid_from, t1, sizeof(t1)),
		       fmt_time(p->valid_until, t2, sizeof(t2)), p->serial);
	}
	fputs("}\n", stdout);
}

static int pass_issue(const struct ctl_opts *o, int argc, char **argv)
{
	struct issue_args a = { .json = o->json };
	char tok[PASS_TOKEN_MAX + 1];
	QRcode *qr = NULL;
	EVP_PKEY *pk;
	struct pass p;
	size_t len;
	int rc;

	rc = issue_options(argc, argv, &a);
	if (rc != 0)
		return rc == 1 ? CTL_OK : rc;
	rc = issue_fields(&a, &p);
	if (rc != CTL_OK)
		return rc;
	pk = ctl_load_key("pass issue", a.key);
	if (pk == NULL)
		return CTL_FAIL;
	rc = issue_sign(pk, &p, tok, sizeof(tok), &len);
	EVP_PKEY_free(pk);
	if (rc != CTL_OK)
		return rc;
	if (a.qr != NULL) {
		/* the hint is only a fallback: libqrencode picks the
		 * alphanumeric mode for a token by itself */
		qr = QRcode_encodeString(tok, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
		if (qr == NULL) {
			fprintf(stderr, "wicketctl pass issue: no QR code: %s\n",
				strerror(errno));
			return CTL_FAIL;
		}
		if (strcmp(a.qr, "png") == 0 && qr_png(qr, a.out) < 0) {
			QRcode_free(qr);
			return CTL_FAIL;
		}
	}
	if (a.json)
		print_json(&p, tok, 1, NULL, NULL);
	else
		printf("%s\n", tok);
	if (qr != NULL && strcmp(a.qr, "terminal") == 0)
		draw_terminal(qr, stdout, isatty(STDOUT_FILENO));
	QRcode_free(qr);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "wicketctl pass issue: standard output: %s\n",
			strerror(errno));
		return CTL_FAIL;
	}
	return CTL_OK;
}

/* --- verify ---------------------------------------------------------------- */

static int pass_verify_cmd(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keys", required_argument, NULL, 'k' },
		{ "at", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keys_path = NULL, *at = NULL, *token;
	char line[PASS_TOKEN_MAX + 3], msg[256], t1[32], t2[32];
	int64_t now = (int64_t)time(NULL);
	struct pass_keys *keys = NULL;
	int json = o->json, ch, rc;
	enum pass_reason r;
	struct pass p;
	size_t len;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': keys_path = optarg; break;
		case 'a': at = optarg; break;
		case 'j': json = 1; break;
		case 'h':
			fputs(pass_usage, stdout);
			return CTL_OK;
		default:
			return bad_option(ch, argv);
		}
	}
	if (keys_path == NULL)
		return usage_error("%s is required", "--keys");
	if (optind + 1 != argc)
		return usage_error("%s", optind == argc ? "a TOKEN is required" :
				   "one TOKEN only");
	if (at != NULL && parse_time(at, now, &now) < 0)
		return usage_error("--at '%s': not YYYY-MM-DDTHH:MM:SSZ, YYYY-MM-DD or now",
				   at);
	token = argv[optind];
	if (strcmp(token, "-") == 0) {
		if (fgets(line, sizeof(line), stdin) == NULL) {
			fprintf(stderr, "wicketctl pass verify: no token on standard input\n");
			return CTL_FAIL;
		}
		line[strcspn(line, "\r\n")] = '\0';
		token = line;
	}
	rc = pass_keys_load(keys_path, &keys, msg, sizeof(msg));
	if (rc < 0) {
		fprintf(stderr, "wicketctl pass verify: %s\n", msg);
		return CTL_FAIL;
	}
	len = strlen(token);
	rc = pass_verify(keys, token, len, now, &p, &r, msg, sizeof(msg));
	pass_keys_free(keys);
	if (json) {
		print_json(&p, token, rc == 0, pass_reason_code(r), msg);
	} else if (rc == 0) {
		printf("valid: %s %s, issuer %s, serial %" PRIu32 ", from %s until %s\n",
		       pass_kind_name(p.kind), p.subject, p.key_id, p.serial,
		       fmt_time(p.valid_from, t1, sizeof(t1)),
		       fmt_time(p.valid_until, t2, sizeof(t2)));
	} else {
		printf("%s: %s\n", pass_reason_code(r), msg);
	}
	return rc == 0 ? CTL_OK : CTL_FAIL;
}

int ctl_pass(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc < 2) {
		fputs(pass_usage, stderr);
		return CTL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(pass_usage, stdout);
		return CTL_OK;
	}
	if (strcmp(argv[1], "issue") == 0)
		return pass_issue(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return pass_verify_cmd(o, argc - 1, argv + 1);
	return usage_error("unknown subcommand '%s' (issue or verify)", argv[1]);
}
