/*
 * wicketctl push: sign an update, send it to gates over the broker and
 * report what each gate did with it.
 *
 *   wicketctl push --site S (--gate G | --all [--expect G1,G2,...])
 *                  --key FILE --key-id ID [--expires D] [--timeout S]
 *                  [--broker HOST[:PORT]] [TLS and login options]
 *                  [--kind rules|lists] [--version N] (FILE | --rollback N)
 *
 * The envelope comes from sign.c (ctl_sign_build): push sends exactly what
 * 'wicketctl sign' would print.  It is published at QoS 1 to
 * wicket/S/(G|all)/(rules/set | lists/set | rules/rollback); each gate
 * answers on its retained wicket/S/G/(rules|lists)/state, whose last.id
 * names the message it answers: the first 16 hex digits of SHA-256 over
 * the payload as published.  Matching on that id, not on the version,
 * tells our push from an older one of the same version; and because the
 * state is retained, a connection lost while waiting costs nothing: after
 * the reconnect the subscription delivers what each gate said meanwhile.
 *
 * Which gates must answer: --gate G: G.  --all: the --expect list, else
 * every gate whose retained wicket/S/G/status says "online" in the first
 * second after subscribing (a gate that is down would only make push wait
 * for --timeout).  A gate that answers without being expected is listed
 * too, and its refusal counts.
 *
 * The broker is --broker, else [mqtt] of the configuration (-c), so on a
 * gate's board push needs no broker options; command-line TLS and login
 * options override the configuration's.  The client id is push's own
 * (wicketctl-push-PID-RANDOM): borrowing the gate's would disconnect the
 * gate.
 *
 * One thread: the callbacks only record what arrived, mosquitto_loop() runs
 * with the time left to the next deadline.  The blocking connect (DNS,
 * TCP, TLS handshake) is cut short by an interval timer whose SIGALRM is
 * installed without SA_RESTART, so an unreachable host costs --timeout
 * rather than the kernel's two minutes of SYN retries.
 *
 * Exit: 0 every expected gate applied the update (applied, unchanged, or
 * for a rollback rolled_back), 1 a gate refused it or did not answer in
 * time, or no gate was online, 2 bad usage, 3 the broker cannot be
 * reached (or refused us).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config.h"
#include "ctl.h"
#include "fsutil.h"
#include "json.h"
#include "jsontree.h"

#define TIMEOUT_DEFAULT_S 30
#define TIMEOUT_MAX_S 3600
#define STATUS_WINDOW_MS 1000	/* to collect the retained statuses */
#define RECONNECT_MS 500
#define KEEPALIVE_S 60
#define NAME_MAX_LEN 32		/* site and gate names (config.c) */
#define TOPIC_MAX 160
#define RESULT_MAX 16
#define ERROR_MAX 32
#define MESSAGE_MAX 512
#define INPUT_MAX ((size_t)8 << 20)	/* a gate's envelope limit */
#define PASSWORD_MAX 65535
#define ID_HEX 16

static const char push_usage[] =
	"usage: wicketctl push --site SITE (--gate GATE | --all [--expect G1,G2,...])\n"
	"                      --key FILE --key-id ID [--expires DURATION]\n"
	"                      [--timeout SECONDS] [--broker HOST[:PORT]]\n"
	"                      [--tls] [--cafile FILE] [--cert FILE --keyfile FILE]\n"
	"                      [--username NAME --password-file FILE]\n"
	"                      [--kind rules|lists] [--version N] [--json]\n"
	"                      (FILE | --rollback VERSION)\n"
	"\n"
	"Sign an update as 'wicketctl sign' does, publish it to the gates and\n"
	"wait for each gate's answer on its state topic.\n"
	"\n"
	"  FILE              a rules file, or a registry update (a registry import\n"
	"                    document, {\"mode\":\"snapshot\",...} or {\"mode\":\"delta\",...});\n"
	"                    which one is told from its members, or by --kind\n"
	"  --rollback N      roll the rules back from version N (the one in force)\n"
	"  --version N       a registry update's version after it (default: the\n"
	"                    document's own \"version\"); for rules, must match\n"
	"  --site SITE       the site; --gate GATE one gate of it, or --all every\n"
	"                    gate of it\n"
	"  --expect LIST     with --all: the gates that must answer (default: those\n"
	"                    whose retained status says online)\n"
	"  --key FILE, --key-id ID, --expires D   as for 'wicketctl sign'\n"
	"  --timeout S       seconds to wait for the answers, and at most for the\n"
	"                    broker to take the connection (default 30)\n"
	"  --broker H[:P]    the broker (default: [mqtt] of the configuration;\n"
	"                    port 1883, or 8883 with TLS)\n"
	"  --tls             TLS with the system's CA certificates\n"
	"  --cafile FILE     TLS, trusting the CA certificates in FILE\n"
	"  --cert FILE, --keyfile FILE   a client certificate and its key\n"
	"  --username NAME, --password-file FILE   login (the file's first line)\n"
	"  --json            print a JSON array instead of the table\n"
	"\n"
	"Prints GATE, VERSION IN FORCE, RESULT (applied, unchanged, rolled_back,\n"
	"refused, no answer) and for a refusal its error code and message.\n"
	"Exit status: 0 every expected gate applied it, 1 a gate refused it or did\n"
	"not answer, or no gate is online, 2 bad usage, 3 the broker cannot be\n"
	"reached.  See wicketctl(1).\n";

struct push_args {
	const char *site, *gate, *expect, *broker, *cafile, *cert, *keyfile;
	const char *username, *password_file, *key, *key_id, *expires;
	const char *timeout_s, *kind, *version, *rollback, *input;
	int all, tls, json;
	long timeout;
	char version_buf[24];	/* a lists document's own version */
	char shown_version[24];	/* for the progress line: "" if unknown */
};

struct broker {
	char *host;
	int port;
	int tls;
	char *ca_file, *cert_file, *key_file;
	char tls_version[8];
	char *username, *password;
};

/* One gate seen or expected. */
struct row {
	char gate[NAME_MAX_LEN + 1];
	int expected;		/* must answer */
	int online;		/* its retained status, before the publish */
	int answered;
	char result[RESULT_MAX];
	int has_version;
	int64_t version;	/* in force, after the update */
	char error[ERROR_MAX];
	char message[MESSAGE_MAX];
};

struct push {
	const char *site;
	const char *family;	/* "rules" or "lists": the state topic */
	char id[ID_HEX + 1];
	char pub_topic[TOPIC_MAX];
	char state_topic[TOPIC_MAX];	/* wicket/S/+/F/state */
	char state_rest[16];		/* F/state */
	char status_topic[TOPIC_MAX];
	const char *payload;
	size_t len;
	int want_status;	/* --all without --expect */
	int frozen;		/* published: the expected set is fixed */
	struct row *rows;
	size_t n_rows, cap;
	int oom;
	/* the connection */
	struct mosquitto *mosq;
	int connected;
	int conn_rc;		/* -1 until the CONNACK */
	int lost;
	int subs_pending;
	int sub_mid[2];
	int sub_refused;
	int pub_mid;		/* -1: not published on this connection */
	int sent;		/* published at least once */
	int trust_retained;	/* see on_message */
	int published;		/* the broker took it (PUBACK) */
	int pub_rc;		/* its MQTT 5 reason code */
};

/* --- small things ---------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int valid_name(const char *s, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("wicketctl push: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n('wicketctl push --help' describes the options)\n", stderr);
	return CTL_USAGE;
}

/* A bounded copy of a JSON string member into out; "" if absent or not a
 * string.  Control characters become '?': the text goes to a terminal. */
static void copy_member(const struct jt_node *obj, const char *key, char *out,
			size_t outlen)
{
	const struct jt_node *n = jt_get(obj, key);
	size_t i;

	out[0] = '\0';
	if (n == NULL || n->type != JT_STRING)
		return;
	for (i = 0; i < n->len && i + 1 < outlen; i++)
		out[i] = (unsigned char)n->s[i] < 0x20 ? '?' : n->s[i];
	out[i] = '\0';
}

/* --- options --------------------------------------------------------------- */

static int parse_args(int argc, char **argv, struct push_args *a)
{
	/* the options with a value: val is the index into slots[] */
	const char **slots[] = {
		&a->site, &a->gate, &a->expect, &a->broker, &a->cafile,
		&a->cert, &a->keyfile, &a->username, &a->password_file,
		&a->key, &a->key_id, &a->expires, &a->timeout_s, &a->kind,
		&a->version, &a->rollback,
	};
	static const struct option opts[] = {
		{ "site", required_argument, NULL, 0 },
		{ "gate", required_argument, NULL, 1 },
		{ "expect", required_argument, NULL, 2 },
		{ "broker", required_argument, NULL, 3 },
		{ "cafile", required_argument, NULL, 4 },
		{ "cert", required_argument, NULL, 5 },
		{ "keyfile", required_argument, NULL, 6 },
		{ "username", required_argument, NULL, 7 },
		{ "password-file", required_argument, NULL, 8 },
		{ "key", required_argument, NULL, 9 },
		{ "key-id", required_argument, NULL, 10 },
		{ "expires", required_argument, NULL, 11 },
		{ "timeout", required_argument, NULL, 12 },
		{ "kind", required_argument, NULL, 13 },
		{ "version", required_argument, NULL, 14 },
		{ "rollback", required_argument, NULL, 15 },
		{ "all", no_argument, NULL, 'a' },
		{ "tls", no_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, idx;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
		if (ch >= 0 && (size_t)ch < sizeof(slots) / sizeof(slots[0])) {
			/* as sign: a value given twice is a mistake, not an
			 * override */
			if (*slots[ch])
				return usage_error("--%s given twice",
						   opts[idx].name);
			*slots[ch] = optarg;
			continue;
		}
		switch (ch) {
		case 'a':
			a->all = 1;
			break;
		case 'T':
			a->tls = 1;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'h':
			fputs(push_usage, stdout);
			return CTL_OK;
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return usage_error("one FILE at most (got '%s' and '%s')",
				   argv[optind], argv[optind + 1]);
	if (optind < argc)
		a->input = argv[optind];
	return -1;
}

/* What sign does not check itself. */
static int check_args(struct push_args *a)
{
	char *end;

	if (a->site == NULL)
		return usage_error("--site is required");
	if (a->gate && a->all)
		return usage_error("--gate and --all: give one of them");
	if (a->gate == NULL && !a->all)
		return usage_error("--gate GATE or --all is required");
	if (a->gate && strcmp(a->gate, "all") == 0)
		return usage_error("--gate: no gate is named 'all' (for every gate: --all)");
	if (a->expect && !a->all)
		return usage_error("--expect is only for --all");
	if (a->rollback && a->input)
		return usage_error("--rollback takes no FILE ('%s')", a->input);
	if (a->rollback && (a->kind || a->version))
		return usage_error("--rollback VERSION is the whole update; %s is not for it",
				   a->kind ? "--kind" : "--version");
	if (a->rollback == NULL && a->input == NULL)
		return usage_error("a FILE to push (rules or lists), or --rollback VERSION");
	if (a->kind && strcmp(a->kind, "rules") != 0 &&
	    strcmp(a->kind, "lists") != 0)
		return usage_error("--kind: '%s' is not rules or lists%s", a->kind,
				   strcmp(a->kind, "rollback") == 0 ? " (use --rollback VERSION)" : "");
	if (a->input && strcmp(a->input, "-") == 0 && a->kind == NULL)
		return usage_error("FILE '-' (standard input) needs --kind rules or --kind lists");
	a->timeout = TIMEOUT_DEFAULT_S;
	if (a->timeout_s) {
		errno = 0;
		a->timeout = strtol(a->timeout_s, &end, 10);
		if (errno || end == a->timeout_s || *end || a->timeout < 1 ||
		    a->timeout > TIMEOUT_MAX_S)
			return usage_error("--timeout: '%s' is not a whole number of seconds from 1 to %d",
					   a->timeout_s, TIMEOUT_MAX_S);
	}
	if ((a->cert == NULL) != (a->keyfile == NULL))
		return usage_error("--cert and --keyfile go together");
	return CTL_OK;
}

/* The gates named by --gate or --expect, as expected rows. */
static int add_row(struct push *p, const char *gate, size_t len,
		   struct row **out);

static int expect_list(struct push *p, const struct push_args *a)
{
	const char *s = a->gate ? a->gate : a->expect;
	struct row *r;

	if (s == NULL)
		return CTL_OK;
	for (;;) {
		size_t n = strcspn(s, ",");

		if (!valid_name(s, n) || (n == 3 && strncmp(s, "all", 3) == 0))
			return usage_error("%s: '%.*s' is not a gate name (1-32 of A-Z a-z 0-9 _ -)",
					   a->gate ? "--gate" : "--expect", (int)n, s);
		if (add_row(p, s, n, &r) != 0) {
			fprintf(stderr, "wicketctl push: out of memory\n");
			return CTL_FAIL;
		}
		r->expected = 1;
		if (s[n] == '\0')
			return CTL_OK;
		s += n + 1;
	}
}

/* --- the document ---------------------------------------------------------- */

/* A lists document's own version: the import's "version" (plain or in a
 * snapshot's registry, a delta's upsert).  0 if it has none. */
static int64_t lists_version(const struct jt_node *root)
{
	const struct jt_node *mode = jt_get(root, "mode"), *v, *in = root;

	if (mode && mode->type == JT_STRING)
		in = jt_get(root, strcmp(mode->s, "delta") == 0 ? "upsert"
							       : "registry");
	v = jt_get(in, "version");
	return v && v->type == JT_NUMBER && v->is_int && v->i > 0 ? v->i : 0;
}

/* Tell rules from lists by the members, and find a lists document's
 * version when --version is not given.  Errors in the file itself are
 * sign's to report (with its validators), except that it must be JSON
 * for us to look inside. */
static int classify(struct push_args *a)
{
	static const char *const lists_keys[] = { "households", "persons",
						  "credentials", "mode" };
	struct jt_doc *d = NULL;
	const struct jt_node *root;
	char *text = NULL, err[256];
	size_t len;
	int rc, is_rules, is_lists = 0;
	int64_t v;

	if (a->rollback || strcmp(a->input, "-") == 0) {
		if (a->kind && strcmp(a->kind, "lists") == 0 && a->version == NULL)
			return usage_error("--kind lists from standard input needs --version");
		return CTL_OK;
	}
	rc = fs_read_file(a->input, INPUT_MAX, &text, &len);
	if (rc == -EFBIG) {
		fprintf(stderr, "wicketctl push: %s: larger than a gate accepts (8 MiB)\n",
			a->input);
		return CTL_FAIL;
	}
	if (rc < 0) {
		fprintf(stderr, "wicketctl push: %s: %s\n", a->input, strerror(-rc));
		return CTL_FAIL;
	}
	rc = jt_parse(text, len, &d, err, sizeof(err));
	free(text);
	if (rc == -ENOMEM) {
		fprintf(stderr, "wicketctl push: out of memory\n");
		return CTL_FAIL;
	}
	if (rc != 0) {
		fprintf(stderr, "%s:%s\n", a->input, err);
		return CTL_FAIL;
	}
	root = jt_root(d);
	if (root->type != JT_OBJECT) {
		fprintf(stderr, "%s:%d:%d: $: expected an object (a rules file or a registry update), got %s\n",
			a->input, root->line, root->col, jt_type_name(root->type));
		jt_free(d);
		return CTL_FAIL;
	}
	is_rules = jt_get(root, "rules") != NULL;
	for (size_t i = 0; i < sizeof(lists_keys) / sizeof(lists_keys[0]); i++)
		is_lists |= jt_get(root, lists_keys[i]) != NULL;
	v = lists_version(root);
	if (is_rules && !is_lists) {
		const struct jt_node *rv = jt_get(root, "version");

		/* only for the progress line: sign checks it */
		if (rv && rv->type == JT_NUMBER && rv->is_int)
			snprintf(a->shown_version, sizeof(a->shown_version),
				 "%" PRId64, rv->i);
	}
	jt_free(d);
	if (a->kind == NULL) {
		if (is_rules == is_lists)
			return usage_error("%s: cannot tell a rules file (\"rules\") from a registry update (\"households\", \"persons\", \"credentials\" or \"mode\"); give --kind rules or --kind lists",
					   a->input);
		a->kind = is_rules ? "rules" : "lists";
	}
	if (strcmp(a->kind, "lists") == 0 && a->version == NULL) {
		if (v == 0)
			return usage_error("%s has no \"version\": give --version N (the registry version after the update)",
					   a->input);
		snprintf(a->version_buf, sizeof(a->version_buf), "%" PRId64, v);
		a->version = a->version_buf;
	}
	return CTL_OK;
}

/* The id a gate puts in last.id: SHA-256 over the exact payload
 * published, its first 16 hex digits. */
static int push_id(const char *env, size_t len, char *id)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_Digest(env, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len * 2 < ID_HEX)
		return -EINVAL;
	for (int i = 0; i < ID_HEX / 2; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* --- the broker ------------------------------------------------------------ */

static void broker_free(struct broker *b)
{
	free(b->host);
	free(b->ca_file);
	free(b->cert_file);
	free(b->key_file);
	free(b->username);
	if (b->password)
		explicit_bzero(b->password, strlen(b->password));
	free(b->password);
}

static int set_str(char **slot, const char *v)
{
	char *s;

	if (v == NULL)
		return 0;
	s = strdup(v);
	if (s == NULL)
		return -ENOMEM;
	free(*slot);
	*slot = s;
	return 0;
}

static void print_conf_error(void *ctx, const char *file, int line,
			     const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

/* HOST, HOST:PORT, [V6], [V6]:PORT; a bare IPv6 address is all host. */
static int parse_broker(const char *s, struct broker *b)
{
	const char *host = s, *port = NULL;
	size_t hlen = strlen(s);
	const char *colon = strchr(s, ':');
	char *end;
	long v;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close == s + 1 ||
		    (close[1] != '\0' && close[1] != ':'))
			return -1;
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
	} else if (colon && strchr(colon + 1, ':') == NULL) {
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hlen == 0)
		return -1;
	b->host = strndup(host, hlen);
	if (b->host == NULL)
		return -ENOMEM;
	if (port) {
		errno = 0;
		v = strtol(port, &end, 10);
		if (errno || end == port || *end || v < 1 || v > 65535)
			return -1;
		b->port = (int)v;
	}
	return 0;
}

/* The first line of a password file. */
static int read_password(const char *path, char **out)
{
	char *text = NULL;
	size_t len;
	int rc = fs_read_file(path, PASSWORD_MAX + 2, &text, &len);

	if (rc < 0) {
		fprintf(stderr, "wicketctl push: --password-file %s: %s\n", path,
			rc == -EFBIG ? "the password is longer than 65535 bytes"
				     : strerror(-rc));
		return CTL_FAIL;
	}
	text[strcspn(text, "\r\n")] = '\0';
	if (text[0] == '\0') {
		fprintf(stderr, "wicketctl push: --password-file %s: empty (the password is its first line)\n",
			path);
		free(text);
		return CTL_FAIL;
	}
	free(*out);
	*out = text;
	return CTL_OK;
}

/* --broker and the options, else the configuration's [mqtt] with the
 * options over it. */
static int broker_settings(const struct ctl_opts *o, const struct push_args *a,
			   struct broker *b)
{
	int rc;

	snprintf(b->tls_version, sizeof(b->tls_version), "tlsv1.2");
	if (a->broker) {
		rc = parse_broker(a->broker, b);
		if (rc == -ENOMEM)
			goto oom;
		if (rc != 0)
			return usage_error("--broker: '%s' is not HOST, HOST:PORT or [IPV6]:PORT (port 1-65535)",
					   a->broker);
	} else {
		const char *cf = ctl_config_path(o);
		struct conf *c;

		rc = conf_load(cf, &c, print_conf_error, NULL);
		if (rc != 0) {
			fprintf(stderr, "wicketctl push: cannot read %s%s%s; give --broker HOST[:PORT]\n",
				cf, rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
			return CTL_USAGE;
		}
		if (!c->mqtt.enabled || c->mqtt.host == NULL) {
			fprintf(stderr, "wicketctl push: %s has no broker ([mqtt] is off); give --broker HOST[:PORT]\n",
				cf);
			conf_free(c);
			return CTL_USAGE;
		}
		b->port = c->mqtt.port;
		b->tls = c->mqtt.tls > 0;
		snprintf(b->tls_version, sizeof(b->tls_version), "%s",
			 c->mqtt.tls_version);
		rc = set_str(&b->host, c->mqtt.host) |
		     set_str(&b->ca_file, c->mqtt.ca_file) |
		     set_str(&b->cert_file, c->mqtt.cert_file) |
		     set_str(&b->key_file, c->mqtt.key_file) |
		     set_str(&b->username, c->mqtt.username) |
		     set_str(&b->password, c->mqtt.password);
		conf_free(c);
		if (rc != 0)
			goto oom;
	}
	if (set_str(&b->ca_file, a->cafile) || set_str(&b->cert_file, a->cert) ||
	    set_str(&b->key_file, a->keyfile) ||
	    set_str(&b->username, a->username))
		goto oom;
	if (a->tls || a->cafile || a->cert)
		b->tls = 1;
	if (a->password_file) {
		if (b->username == NULL)
			return usage_error("--password-file needs --username");
		if (read_password(a->password_file, &b->password) != CTL_OK)
			return CTL_FAIL;
	}
	if (b->port == 0)
		b->port = b->tls ? 8883 : 1883;
	return CTL_OK;
oom:
	fprintf(stderr, "wicketctl push: out of memory\n");
	return CTL_FAIL;
}

/* --- the gates ------------------------------------------------------------- */

static int add_row(struct push *p, const char *gate, size_t len,
		   struct row **out)
{
	struct row *r;

	for (size_t i = 0; i < p->n_rows; i++)
		if (strlen(p->rows[i].gate) == len &&
		    memcmp(p->rows[i].gate, gate, len) == 0) {
			*out = &p->rows[i];
			return 0;
		}
	if (p->n_rows == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;

		r = realloc(p->rows, cap * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		p->rows = r;
		p->cap = cap;
	}
	r = &p->rows[p->n_rows++];
	memset(r, 0, sizeof(*r));
	memcpy(r->gate, gate, len);
	*out = r;
	return 0;
}

/* "wicket/SITE/GATE/rest": the gate (pointer and length), or NULL if the
 * topic is not of our site or not that rest. */
static const char *topic_gate(const struct push *p, const char *topic,
			      const char *rest, size_t *len)
{
	size_t sl = strlen(p->site);
	const char *g;

	if (strncmp(topic, "wicket/", 7) != 0 ||
	    strncmp(topic + 7, p->site, sl) != 0 || topic[7 + sl] != '/')
		return NULL;
	g = topic + 8 + sl;
	*len = strcspn(g, "/");
	if (g[*len] != '/' || strcmp(g + *len + 1, rest) != 0 ||
	    !valid_name(g, *len))
		return NULL;
	return g;
}

static void on_status(struct push *p, const char *gate, size_t glen,
		      const struct jt_node *root)
{
	const struct jt_node *st = jt_get(root, "state");
	struct row *r;

	if (p->frozen)
		return;
	if (add_row(p, gate, glen, &r) != 0) {
		p->oom = 1;
		return;
	}
	r->online = st && st->type == JT_STRING && strcmp(st->s, "online") == 0;
}

static void on_state(struct push *p, const char *gate, size_t glen,
		     const struct jt_node *root)
{
	const struct jt_node *last = jt_get(root, "last"), *id, *v;
	struct row *r;

	id = jt_get(last, "id");
	if (id == NULL || id->type != JT_STRING || strcmp(id->s, p->id) != 0)
		return;		/* an older push's answer */
	if (add_row(p, gate, glen, &r) != 0) {
		p->oom = 1;
		return;
	}
	r->answered = 1;
	copy_member(last, "result", r->result, sizeof(r->result));
	if (r->result[0] == '\0')
		snprintf(r->result, sizeof(r->result), "?");
	copy_member(last, "error", r->error, sizeof(r->error));
	copy_member(last, "message", r->message, sizeof(r->message));
	v = jt_get(root, "version");
	r->has_version = v && v->type == JT_NUMBER && v->is_int;
	r->version = r->has_version ? v->i : 0;
}

static int success(const struct row *r)
{
	return r->answered && (strcmp(r->result, "applied") == 0 ||
			       strcmp(r->result, "unchanged") == 0 ||
			       strcmp(r->result, "rolled_back") == 0);
}

static int all_answered(const struct push *p)
{
	for (size_t i = 0; i < p->n_rows; i++)
		if (p->rows[i].expected && !p->rows[i].answered)
			return 0;
	return 1;
}

/* --- MQTT callbacks: record only --------------------------------------------- */

static void on_message(struct mosquitto *m, void *arg,
		       const struct mosquitto_message *msg)
{
	struct push *p = arg;
	struct jt_doc *d = NULL;
	const char *gate;
	char err[64];
	size_t glen;
	int state;

	(void)m;
	gate = topic_gate(p, msg->topic, p->state_rest, &glen);
	state = gate != NULL;
	if (!state)
		gate = topic_gate(p, msg->topic, "status", &glen);
	if (gate == NULL || msg->payloadlen <= 0)
		return;
	/* A retained answer that comes with the first subscription is
	 * older than our publish; its id can still be ours when the very
	 * same envelope was pushed before (the same document signed in the
	 * same second: Ed25519 is deterministic), and the gate may answer
	 * otherwise this time (a key added since).  Only a resubscription
	 * after a lost connection, once sent, needs the retained state. */
	if (state && msg->retain && !p->trust_retained)
		return;
	if (jt_parse(msg->payload, (size_t)msg->payloadlen, &d, err,
		     sizeof(err)) != 0)
		return;		/* not ours to judge: ignore it */
	if (state)
		on_state(p, gate, glen, jt_root(d));
	else
		on_status(p, gate, glen, jt_root(d));
	jt_free(d);
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int n,
			 const int *granted)
{
	struct push *p = arg;

	(void)m;
	for (int i = 0; i < 2; i++)
		if (mid == p->sub_mid[i]) {
			p->sub_mid[i] = -1;
			p->subs_pending--;
			if (n < 1 || granted[0] >= 0x80)
				p->sub_refused = 1;
		}
}

static void subscribe_all(struct push *p)
{
	p->subs_pending = 0;
	p->sub_mid[0] = p->sub_mid[1] = -1;
	p->trust_retained = p->sent;
	if (mosquitto_subscribe(p->mosq, &p->sub_mid[0], p->state_topic, 1) ==
	    MOSQ_ERR_SUCCESS)
		p->subs_pending++;
	else
		p->sub_refused = 1;
	if (p->want_status && !p->frozen) {
		if (mosquitto_subscribe(p->mosq, &p->sub_mid[1], p->status_topic,
					1) == MOSQ_ERR_SUCCESS)
			p->subs_pending++;
		else
			p->sub_refused = 1;
	}
}

static void on_connect(struct mosquitto *m, void *arg, int rc, int flags,
		       const mosquitto_property *props)
{
	struct push *p = arg;

	(void)m;
	(void)flags;
	(void)props;
	p->conn_rc = rc;
	if (rc != 0)
		return;
	p->connected = 1;
	p->lost = 0;
	/* a reconnect: the retained states come again with the subscription */
	subscribe_all(p);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc,
			  const mosquitto_property *props)
{
	struct push *p = arg;

	(void)m;
	(void)rc;
	(void)props;
	p->connected = 0;
	p->lost = 1;
	if (!p->published)
		p->pub_mid = -1;	/* publish again after the reconnect */
}

static void on_publish(struct mosquitto *m, void *arg, int mid, int reason,
		       const mosquitto_property *props)
{
	struct push *p = arg;

	(void)m;
	(void)props;
	if (mid == p->pub_mid && !p->published) {
		p->published = 1;
		p->pub_rc = reason;
	}
}

/* --- connecting ------------------------------------------------------------ */

static void on_alarm(int sig)
{
	(void)sig;	/* only to interrupt connect() and friends */
}

/* mosquitto_connect, but given up when ms have passed: SIGALRM every
 * 50 ms after that breaks each blocking call (each address tried). */
static int connect_within(struct push *p, const struct broker *b, int64_t ms)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval it = { { 0, 50000 }, { 0, 0 } }, off = { 0 };
	int rc;

	if (ms < 1)
		ms = 1;
	it.it_value.tv_sec = (time_t)(ms / 1000);
	it.it_value.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: that is the point */
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &it, NULL);
	rc = mosquitto_connect(p->mosq, b->host, b->port, KEEPALIVE_S);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	return rc;
}

static int no_key_password(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return 0;	/* an encrypted client key is not supported: no prompt */
}

/* A new client for protocol proto with the broker's options. */
static int client_new(struct push *p, const struct broker *b, int proto)
{
	unsigned char rnd[4] = { 0 };
	char id[64];
	int rc;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		rnd[0] = (unsigned char)now_ms();
	snprintf(id, sizeof(id), "wicketctl-push-%ld-%02x%02x%02x%02x",
		 (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
	p->mosq = mosquitto_new(id, true, p);
	if (p->mosq == NULL)
		return MOSQ_ERR_NOMEM;
	mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, proto);
	mosquitto_connect_v5_callback_set(p->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(p->mosq, on_disconnect);
	mosquitto_publish_v5_callback_set(p->mosq, on_publish);
	mosquitto_subscribe_callback_set(p->mosq, on_subscribe);
	mosquitto_message_callback_set(p->mosq, on_message);
	rc = MOSQ_ERR_SUCCESS;
	if (b->username)
		rc = mosquitto_username_pw_set(p->mosq, b->username,
					       b->password);
	if (rc == MOSQ_ERR_SUCCESS && b->tls) {
		/* libmosquitto 2.0's tls_set refuses a NULL cafile even with
		 * the system's CAs on, which alone switch TLS on */
		if (b->ca_file == NULL && b->cert_file) {
			fprintf(stderr, "wicketctl push: a client certificate needs --cafile (the CA of the broker) too\n");
			return MOSQ_ERR_INVAL;
		} else if (b->ca_file == NULL) {
			rc = mosquitto_int_option(p->mosq,
						  MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		} else {
			rc = mosquitto_tls_set(p->mosq, b->ca_file, NULL,
					       b->cert_file, b->key_file,
					       no_key_password);
			if (rc == MOSQ_ERR_INVAL)
				fprintf(stderr, "wicketctl push: cannot open %s%s%s%s%s\n",
					b->ca_file, b->cert_file ? ", " : "",
					b->cert_file ? b->cert_file : "",
					b->key_file ? " or " : "",
					b->key_file ? b->key_file : "");
		}
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_opts_set(p->mosq, 1, b->tls_version,
						    NULL);
	}
	return rc;
}

/* One turn of the loop, at most until deadline (and 100 ms). */
static void turn(struct push *p, int64_t deadline)
{
	int64_t left = deadline - now_ms();

	if (left > 100)
		left = 100;
	if (left < 1)
		left = 1;
	if (mosquitto_loop(p->mosq, (int)left, 1) != MOSQ_ERR_SUCCESS &&
	    !p->lost) {
		p->connected = 0;
		p->lost = 1;
		if (!p->published)
			p->pub_mid = -1;
	}
}

/* Run the loop until done(p) or the deadline; 0 or -ETIMEDOUT.  A lost
 * connection is not retried here (reconnect() does that). */
static int run_until(struct push *p, int64_t deadline,
		     int (*done)(const struct push *p))
{
	while (!done(p)) {
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		if (p->lost)
			return -ECONNRESET;
		turn(p, deadline);
	}
	return 0;
}

static int got_connack(const struct push *p)
{
	return p->conn_rc >= 0 || p->lost;
}

static int got_subacks(const struct push *p)
{
	return p->subs_pending == 0;
}

static const char *conn_reason(int proto, int rc)
{
	return proto == MQTT_PROTOCOL_V5 ? mosquitto_reason_string(rc)
					 : mosquitto_connack_string(rc);
}

/* Connect and subscribe, MQTT 5 first and 3.1.1 if the broker does not
 * speak 5.  CTL_OK, or CTL_UNREACHABLE / CTL_FAIL after printing why. */
static int connect_first(struct push *p, const struct broker *b,
			 int64_t deadline)
{
	static const int protos[] = { MQTT_PROTOCOL_V5, MQTT_PROTOCOL_V311 };
	int rc;

	for (size_t i = 0; i < 2; i++) {
		p->conn_rc = -1;
		p->lost = 0;
		rc = client_new(p, b, protos[i]);
		if (rc == MOSQ_ERR_NOMEM) {
			fprintf(stderr, "wicketctl push: out of memory\n");
			return CTL_FAIL;
		}
		if (rc != MOSQ_ERR_SUCCESS) {
			if (rc != MOSQ_ERR_INVAL)
				fprintf(stderr, "wicketctl push: %s\n",
					mosquitto_strerror(rc));
			return CTL_FAIL;
		}
		errno = 0;
		rc = connect_within(p, b, deadline - now_ms());
		if (rc != MOSQ_ERR_SUCCESS) {
			int e = errno;

			fprintf(stderr, "wicketctl push: cannot connect to the broker %s:%d: %s\n",
				b->host, b->port,
				rc == MOSQ_ERR_ERRNO && e == EINTR ? "no answer in time" :
				rc == MOSQ_ERR_ERRNO ? strerror(e) :
				mosquitto_strerror(rc));
			return CTL_UNREACHABLE;
		}
		if (run_until(p, deadline, got_connack) == -ETIMEDOUT) {
			fprintf(stderr, "wicketctl push: the broker %s:%d did not answer the connection in time\n",
				b->host, b->port);
			return CTL_UNREACHABLE;
		}
		if (protos[i] == MQTT_PROTOCOL_V5 &&
		    (p->conn_rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION ||
		     p->conn_rc == CONNACK_REFUSED_PROTOCOL_VERSION)) {
			mosquitto_destroy(p->mosq);
			p->mosq = NULL;
			continue;	/* an MQTT 3.1.1 broker */
		}
		if (p->conn_rc != 0) {
			fprintf(stderr, "wicketctl push: the broker %s:%d refused the connection: %s\n",
				b->host, b->port,
				p->conn_rc > 0 ? conn_reason(protos[i], p->conn_rc)
					       : "the connection was closed");
			return CTL_UNREACHABLE;
		}
		if (run_until(p, deadline, got_subacks) != 0) {
			fprintf(stderr, "wicketctl push: the broker %s:%d did not confirm the subscriptions\n",
				b->host, b->port);
			return CTL_UNREACHABLE;
		}
		if (p->sub_refused) {
			fprintf(stderr, "wicketctl push: the broker refused the subscription to %s%s%s (not allowed for this login?)\n",
				p->state_topic, p->want_status ? " or " : "",
				p->want_status ? p->status_topic : "");
			return CTL_FAIL;
		}
		return CTL_OK;
	}
	fprintf(stderr, "wicketctl push: the broker %s:%d speaks neither MQTT 5 nor 3.1.1\n",
		b->host, b->port);
	return CTL_UNREACHABLE;
}

/* After a lost connection: connect again (not before last + RECONNECT_MS). */
static void reconnect(struct push *p, const struct broker *b, int64_t deadline,
		      int64_t *last)
{
	int64_t now = now_ms();

	if (now - *last < RECONNECT_MS) {
		usleep(20000);
		return;
	}
	*last = now;
	p->conn_rc = -1;
	if (connect_within(p, b, deadline - now) != MOSQ_ERR_SUCCESS)
		return;
	p->lost = 0;	/* connected on TCP; on_connect subscribes */
}

/* --- output ---------------------------------------------------------------- */

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->gate, ((const struct row *)b)->gate);
}

static int shown(const struct row *r)
{
	return r->expected || r->answered;
}

static void print_table(const struct push *p)
{
	int gw = 4, rw = 6;

	for (size_t i = 0; i < p->n_rows; i++) {
		const struct row *r = &p->rows[i];
		int n = (int)strlen(r->gate);

		if (!shown(r))
			continue;
		if (n > gw)
			gw = n;
		n = r->answered ? (int)strlen(r->result) : 9;
		if (n > rw)
			rw = n;
	}
	printf("%-*s  VERSION IN FORCE  %s\n", gw, "GATE", "RESULT");
	for (size_t i = 0; i < p->n_rows; i++) {
		const struct row *r = &p->rows[i];
		char v[24] = "-";

		if (!shown(r))
			continue;
		if (r->has_version)
			snprintf(v, sizeof(v), "%" PRId64, r->version);
		if (r->error[0] || r->message[0])
			printf("%-*s  %-16s  %-*s  (%s%s%s)\n", gw, r->gate, v, rw,
			       r->answered ? r->result : "no answer",
			       r->error, r->error[0] && r->message[0] ? ": " : "",
			       r->message);
		else
			printf("%-*s  %-16s  %s\n", gw, r->gate, v,
			       r->answered ? r->result : "no answer");
	}
}

static void print_json(const struct push *p)
{
	int first = 1;

	putchar('[');
	for (size_t i = 0; i < p->n_rows; i++) {
		const struct row *r = &p->rows[i];
		struct json j;
		const char *s;

		if (!shown(r))
			continue;
		json_begin(&j);
		json_str(&j, "gate", r->gate);
		json_str(&j, "result", r->answered ? r->result : "no_answer");
		if (r->has_version)
			json_int(&j, "version", r->version);
		else
			json_null(&j, "version");
		if (r->error[0])
			json_str(&j, "error", r->error);
		else
			json_null(&j, "error");
		if (r->message[0])
			json_str(&j, "message", r->message);
		else
			json_null(&j, "message");
		s = json_end(&j);
		printf("%s%s", first ? "" : ",", s ? s : "{}");
		first = 0;
	}
	puts("]");
}

/* --- push ------------------------------------------------------------------ */

static int published_and_answered(const struct push *p)
{
	return p->published && all_answered(p);
}

/* Publish, then wait for the answers until the deadline, reconnecting if
 * the connection is lost. */
static int publish_and_wait(struct push *p, const struct broker *b,
			    int64_t deadline)
{
	int64_t last_try = 0;
	int rc;

	while (!published_and_answered(p) && now_ms() < deadline) {
		if (p->lost) {
			reconnect(p, b, deadline, &last_try);
			continue;
		}
		if (p->connected && p->subs_pending == 0 && p->pub_mid < 0 &&
		    !p->published) {
			rc = mosquitto_publish(p->mosq, &p->pub_mid, p->pub_topic,
					       (int)p->len, p->payload, 1, false);
			if (rc == MOSQ_ERR_OVERSIZE_PACKET) {
				fprintf(stderr, "wicketctl push: the broker takes no message of %zu bytes (its maximum packet size is smaller)\n",
					p->len);
				return CTL_FAIL;
			}
			if (rc == MOSQ_ERR_SUCCESS)
				p->sent = 1;
			else
				p->pub_mid = -1;	/* lost: after the reconnect */
		}
		turn(p, deadline);
		if (p->oom) {
			fprintf(stderr, "wicketctl push: out of memory\n");
			return CTL_FAIL;
		}
		if (p->published && p->pub_rc >= 0x80) {
			fprintf(stderr, "wicketctl push: the broker refused the update on %s: %s\n",
				p->pub_topic, mosquitto_reason_string(p->pub_rc));
			return CTL_FAIL;
		}
		if (p->published &&
		    p->pub_rc == MQTT_RC_NO_MATCHING_SUBSCRIBERS) {
			/* MQTT 5: nobody, not even an offline persistent
			 * session, will get it; no use waiting */
			fprintf(stderr, "wicketctl push: the broker says no gate is subscribed to %s\n",
				p->pub_topic);
			break;
		}
	}
	if (!p->published)
		fprintf(stderr, "wicketctl push: the broker did not confirm the update within the timeout; it may not have reached the gates\n");
	return CTL_OK;
}

static void disconnect(struct push *p)
{
	if (p->mosq == NULL)
		return;
	if (p->connected) {
		int64_t end = now_ms() + 500;

		mosquitto_disconnect(p->mosq);
		while (mosquitto_want_write(p->mosq) && now_ms() < end)
			if (mosquitto_loop_write(p->mosq, 1) != MOSQ_ERR_SUCCESS)
				break;
	}
	mosquitto_destroy(p->mosq);
	p->mosq = NULL;
}

static int report(const struct push *p, int json)
{
	size_t expected = 0, ok = 0, refused = 0, silent = 0;

	for (size_t i = 0; i < p->n_rows; i++) {
		const struct row *r = &p->rows[i];

		if (!shown(r))
			continue;
		expected += r->expected;
		if (success(r))
			ok++;
		else if (r->answered)
			refused++;
		else
			silent++;
	}
	if (json)
		print_json(p);
	else
		print_table(p);
	if (refused || silent)
		fprintf(stderr, "wicketctl push: %zu gate%s applied it, %zu refused it, %zu did not answer\n",
			ok, ok == 1 ? "" : "s", refused, silent);
	return refused || silent || expected == 0 ? CTL_FAIL : CTL_OK;
}

int ctl_push(const struct ctl_opts *o, int argc, char **argv)
{
	struct push_args a = { 0 };
	struct broker b = { 0 };
	struct push p = { 0 };
	struct sign_req req = { 0 };
	char *env = NULL;
	size_t env_len = 0, n_expected = 0;
	int64_t deadline;
	int rc, lib = 0;

	rc = parse_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	a.json |= o->json;
	rc = check_args(&a);
	if (rc != CTL_OK)
		return rc;
	if (!valid_name(a.site, strlen(a.site)))
		return usage_error("--site: '%s' must be 1-32 of A-Z a-z 0-9 _ -",
				   a.site);
	p.site = a.site;
	p.pub_mid = -1;
	rc = expect_list(&p, &a);
	if (rc != CTL_OK)
		goto out;
	rc = classify(&a);
	if (rc != CTL_OK)
		goto out;
	rc = broker_settings(o, &a, &b);
	if (rc != CTL_OK)
		goto out;

	/* sign first: an invalid file never reaches the broker */
	req.key = a.key;
	req.key_id = a.key_id;
	req.site = a.site;
	req.gate = a.gate;
	req.all = a.all;
	req.kind = a.rollback ? "rollback" : a.kind;
	req.version = a.rollback ? a.rollback : a.version;
	req.expires = a.expires;
	req.input = a.input;
	rc = ctl_sign_build(&req, &env, &env_len);
	if (rc != CTL_OK)
		goto out;
	if (push_id(env, env_len, p.id) != 0) {
		fprintf(stderr, "wicketctl push: the envelope has no readable \"sig\"\n");
		rc = CTL_FAIL;
		goto out;
	}
	p.payload = env;
	p.len = env_len;
	p.family = a.rollback || strcmp(a.kind, "rules") == 0 ? "rules" : "lists";
	p.want_status = a.all && a.expect == NULL;
	snprintf(p.pub_topic, sizeof(p.pub_topic), "wicket/%s/%s/%s/%s", a.site,
		 a.all ? "all" : a.gate, p.family, a.rollback ? "rollback" : "set");
	snprintf(p.state_topic, sizeof(p.state_topic), "wicket/%s/+/%s/state",
		 a.site, p.family);
	snprintf(p.state_rest, sizeof(p.state_rest), "%s/state", p.family);
	snprintf(p.status_topic, sizeof(p.status_topic), "wicket/%s/+/status",
		 a.site);

	/* a broken connection must not kill us on a write */
	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();
	lib = 1;
	rc = connect_first(&p, &b, now_ms() + a.timeout * 1000);
	if (rc != CTL_OK)
		goto out;
	if (p.want_status) {
		int64_t end = now_ms() + STATUS_WINDOW_MS;

		while (now_ms() < end && !p.lost)
			turn(&p, end);
		for (size_t i = 0; i < p.n_rows; i++)
			p.rows[i].expected = p.rows[i].online;
	}
	p.frozen = 1;
	for (size_t i = 0; i < p.n_rows; i++)
		n_expected += p.rows[i].expected;
	if (n_expected == 0) {
		fprintf(stderr, "wicketctl push: no gate of site %s says it is online (retained %s); nothing sent (name the gates with --expect)\n",
			a.site, p.status_topic);
		rc = CTL_FAIL;
		goto out;
	}
	if (req.version)
		snprintf(a.shown_version, sizeof(a.shown_version), "%s",
			 req.version);
	fprintf(stderr, "wicketctl push: %s%s%s (id %s) to %s; waiting up to %ld s for %zu gate%s\n",
		a.rollback ? "rollback from rules" : req.kind,
		a.shown_version[0] ? " version " : "", a.shown_version,
		p.id, p.pub_topic, a.timeout, n_expected,
		n_expected == 1 ? "" : "s");
	deadline = now_ms() + a.timeout * 1000;
	rc = publish_and_wait(&p, &b, deadline);
	if (rc != CTL_OK)
		goto out;
	qsort(p.rows, p.n_rows, sizeof(*p.rows), row_cmp);
	rc = report(&p, a.json);
out:
	disconnect(&p);
	if (lib)
		mosquitto_lib_cleanup();
	free(p.rows);
	free(env);
	broker_free(&b);
	return rc;
}
