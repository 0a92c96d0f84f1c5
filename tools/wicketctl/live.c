/*
 * wicketctl status, watch, open, mode: the commands that talk to the
 * running wicketd through its control socket (daemon/control.c,
 * docs/control.md).  One request line, one reply line; watch then reads
 * event lines until interrupted.
 *
 * The socket is --socket, or control_socket of the config.  A daemon that
 * cannot be reached (no socket, no permission, no answer) is exit 3, so a
 * script can tell "wicketd is down" from "wicketd said no" (exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "json.h"
#include "jsontree.h"

#define REPLY_TIMEOUT_MS 10000
#define LINE_MAX_BYTES (1024 * 1024)

struct conn {
	int fd;
	char path[CONF_SOCKET_MAX];
	char *buf;		/* what was read and not yet returned */
	size_t len, cap;
};

static void print_conf_error(void *ctx, const char *file, int line,
			     const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

/* The socket path: --socket, or the config's control_socket. */
static int socket_path(const struct ctl_opts *o, char *out, size_t len)
{
	const char *cf = ctl_config_path(o);
	struct conf *c;
	int rc;

	if (o->socket) {
		if (strlen(o->socket) >= len) {
			fprintf(stderr, "wicketctl: --socket: the path is too long\n");
			return CTL_USAGE;
		}
		snprintf(out, len, "%s", o->socket);
		return CTL_OK;
	}
	rc = conf_load(cf, &c, print_conf_error, NULL);
	if (rc != 0) {
		fprintf(stderr, "wicketctl: cannot read %s%s%s (or give --socket)\n",
			cf, rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
		return CTL_UNREACHABLE;
	}
	if (c->control_socket == NULL) {
		fprintf(stderr, "wicketctl: %s has control_socket = none: wicketd has no control socket\n",
			cf);
		conf_free(c);
		return CTL_UNREACHABLE;
	}
	snprintf(out, len, "%s", c->control_socket);
	conf_free(c);
	return CTL_OK;
}

static int conn_open(const struct ctl_opts *o, struct conn *cn)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	memset(cn, 0, sizeof(*cn));
	cn->fd = -1;
	rc = socket_path(o, cn->path, sizeof(cn->path));
	if (rc != CTL_OK)
		return rc;
	cn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cn->fd < 0) {
		fprintf(stderr, "wicketctl: socket: %s\n", strerror(errno));
		return CTL_FAIL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cn->path);
	if (connect(cn->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return CTL_OK;
	if (errno == ENOENT)
		fprintf(stderr, "wicketctl: %s: no such socket: is wicketd running?\n",
			cn->path);
	else if (errno == ECONNREFUSED)
		fprintf(stderr, "wicketctl: %s: nobody listens: wicketd is not running\n",
			cn->path);
	else if (errno == EACCES || errno == EPERM)
		fprintf(stderr, "wicketctl: %s: permission denied: run as root or as a member of wicketd's group\n",
			cn->path);
	else
		fprintf(stderr, "wicketctl: %s: %s\n", cn->path, strerror(errno));
	close(cn->fd);
	cn->fd = -1;
	return CTL_UNREACHABLE;
}

static void conn_close(struct conn *cn)
{
	if (cn->fd >= 0)
		close(cn->fd);
	free(cn->buf);
}

static int send_all(struct conn *cn, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(cn->fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The next line (NUL-terminated, without its newline) into *line, valid
 * until the next call.  1 a line, 0 the daemon closed, -1 error or
 * timeout (timeout_ms < 0: wait for ever). */
static int read_line(struct conn *cn, int timeout_ms, char **line)
{
	static char *out;
	static size_t out_cap;

	for (;;) {
		char *nl = cn->len ? memchr(cn->buf, '\n', cn->len) : NULL;
		struct pollfd p = { .fd = cn->fd, .events = POLLIN };
		ssize_t n;
		int r;

		if (nl != NULL) {
			size_t l = (size_t)(nl - cn->buf);

			if (l + 1 > out_cap) {
				char *b = realloc(out, l + 1);

				if (b == NULL)
					return -1;
				out = b;
				out_cap = l + 1;
			}
			memcpy(out, cn->buf, l);
			out[l] = '\0';
			memmove(cn->buf, nl + 1, cn->len - l - 1);
			cn->len -= l + 1;
			*line = out;
			return 1;
		}
		if (cn->len == cn->cap) {
			size_t cap = cn->cap ? cn->cap * 2 : 65536;
			char *b;

			if (cap > LINE_MAX_BYTES)
				return -1;
			b = realloc(cn->buf, cap);
			if (b == NULL)
				return -1;
			cn->buf = b;
			cn->cap = cap;
		}
		r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			return -1;
		if (r <= 0)
			return -1;
		n = recv(cn->fd, cn->buf + cn->len, cn->cap - cn->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		cn->len += (size_t)n;
	}
}

/* Send one request and parse the reply.  CTL_OK with *doc and *result
 * (the reply's "result"), or an exit code after printing why. */
static int request(struct conn *cn, const char *req, struct jt_doc **doc,
		   const struct jt_node **result)
{
	const struct jt_node *root, *ok, *err, *msg;
	char *line, e[256];
	int r;

	*doc = NULL;
	if (send_all(cn, req, strlen(req)) < 0 || send_all(cn, "\n", 1) < 0) {
		fprintf(stderr, "wicketctl: %s: cannot send: %s\n", cn->path,
			strerror(errno));
		return CTL_UNREACHABLE;
	}
	r = read_line(cn, REPLY_TIMEOUT_MS, &line);
	if (r <= 0) {
		fprintf(stderr, "wicketctl: %s: %s\n", cn->path,
			r == 0 ? "wicketd closed the connection without an answer"
			       : "no answer from wicketd");
		return CTL_UNREACHABLE;
	}
	if (jt_parse(line, strlen(line), doc, e, sizeof(e)) < 0 ||
	    (root = jt_root(*doc))->type != JT_OBJECT ||
	    (ok = jt_get(root, "ok")) == NULL || ok->type != JT_BOOL) {
		fprintf(stderr, "wicketctl: %s: not a wicketd answer\n", cn->path);
		jt_free(*doc);
		*doc = NULL;
		return CTL_FAIL;
	}
	if (!ok->b) {
		err = jt_get(root, "error");
		msg = jt_get(root, "message");
		fprintf(stderr, "wicketctl: wicketd: %s (%s)\n",
			msg && msg->type == JT_STRING ? msg->s : "refused",
			err && err->type == JT_STRING ? err->s : "?");
		r = err && err->type == JT_STRING &&
		    (strcmp(err->s, "forbidden") == 0 || strcmp(err->s, "busy") == 0)
			    ? CTL_UNREACHABLE : CTL_FAIL;
		jt_free(*doc);
		*doc = NULL;
		return r;
	}
	*result = jt_get(root, "result");
	if (*result == NULL || (*result)->type != JT_OBJECT) {
		fprintf(stderr, "wicketctl: %s: an answer without a result\n",
			cn->path);
		jt_free(*doc);
		*doc = NULL;
		return CTL_FAIL;
	}
	return CTL_OK;
}

/* Options common to the live commands: --help, --json, and the ones a
 * command adds ("count" for watch).  Returns -1 to go on, or an exit code. */
static int options(const char *name, const char *usage, int argc, char **argv,
		   int *json, long *count)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		char *end;

		switch (ch) {
		case 'h':
			fputs(usage, stdout);
			return CTL_OK;
		case 'j':
			*json = 1;
			break;
		case 'n':
			if (count == NULL) {
				fprintf(stderr, "wicketctl %s: unknown option --count\n", name);
				return CTL_USAGE;
			}
			errno = 0;
			*count = strtol(optarg, &end, 10);
			if (errno || *end || *count < 1) {
				fprintf(stderr, "wicketctl %s: --count: '%s' is not a positive whole number\n",
					name, optarg);
				return CTL_USAGE;
			}
			break;
		default:
			fputs(usage, stderr);
			return CTL_USAGE;
		}
	}
	return -1;
}

static const char *str_of(const struct jt_node *obj, const char *key)
{
	const struct jt_node *n = jt_get(obj, key);

	return n && n->type == JT_STRING ? n->s : NULL;
}

static long long int_of(const struct jt_node *obj, const char *key)
{
	const struct jt_node *n = jt_get(obj, key);

	return n && n->type == JT_NUMBER ? (long long)n->num : -1;
}

/* "2026-11-23T18:20:01.123Z" as local "2026-11-23 19:20:01". */
static void local_time(const char *iso, char *out, size_t len)
{
	struct tm tm = { 0 };
	time_t t;
	char *end;

	if (iso == NULL) {
		snprintf(out, len, "-");
		return;
	}
	end = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL) {
		snprintf(out, len, "%s", iso);
		return;
	}
	t = timegm(&tm);
	localtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* A parsed JSON value written back as JSON (for --json), one line. */
static void print_json(FILE *f, const struct jt_node *n)
{
	char *text;
	size_t len;

	if (jt_write(n, &text, &len) < 0) {
		fputs("null", f);
		return;
	}
	fwrite(text, 1, len, f);
	free(text);
}

/* --- status ------------------------------------------------------------ */

static const char status_usage[] =
	"usage: wicketctl status [--json]\n"
	"\n"
	"The running wicketd: its lanes and mode, each device's health, the\n"
	"broker link, the outbox, the rules and registry versions, uptime.\n"
	"Exit 0 when everything is well, 1 when something needs a look (a\n"
	"device in fault, the broker not connected, the ledger failing, a fire\n"
	"alarm holding every lane open), 3 when wicketd cannot be reached.\n";

/* Something needs a look: a device in fault, the broker not connected
 * (when enabled), the ledger not ok. */
static int status_degraded(const struct jt_node *r)
{
	const struct jt_node *broker = jt_get(r, "broker"), *ledger = jt_get(r, "ledger");
	const struct jt_node *devs = jt_get(r, "devices"), *n;
	const char *st;

	if (broker && (n = jt_get(broker, "enabled")) && n->type == JT_BOOL && n->b &&
	    ((n = jt_get(broker, "connected")) == NULL || n->type != JT_BOOL || !n->b))
		return 1;
	st = ledger ? str_of(ledger, "state") : NULL;
	if (st == NULL || strcmp(st, "ok") != 0)
		return 1;
	if ((n = jt_get(r, "emergency")) && n->type == JT_BOOL && n->b)
		return 1;
	for (const struct jt_node *d = devs ? devs->kids : NULL; d; d = d->next)
		if ((st = str_of(d, "state")) == NULL || strcmp(st, "fault") == 0)
			return 1;
	return 0;
}

static void print_status(const struct jt_node *r)
{
	const struct jt_node *lanes = jt_get(r, "lanes"), *devs = jt_get(r, "devices");
	const struct jt_node *broker = jt_get(r, "broker"), *ledger = jt_get(r, "ledger");
	const struct jt_node *rv = jt_get(r, "rules_version"), *gv = jt_get(r, "registry_version");
	const char *lstate = ledger ? str_of(ledger, "state") : NULL;
	long long up = int_of(r, "uptime_s");
	const struct jt_node *bc = broker ? jt_get(broker, "connected") : NULL;
	const struct jt_node *be = broker ? jt_get(broker, "enabled") : NULL;
	const struct jt_node *n;
	char upt[48];

	if (up >= 86400)
		snprintf(upt, sizeof(upt), "%lld d %lld h", up / 86400, up / 3600 % 24);
	else if (up >= 3600)
		snprintf(upt, sizeof(upt), "%lld h %02lld min", up / 3600, up / 60 % 60);
	else if (up >= 60)
		snprintf(upt, sizeof(upt), "%lld min %02lld s", up / 60, up % 60);
	else
		snprintf(upt, sizeof(upt), "%lld s", up);
	printf("wicketd %s, site %s, gate %s: up %s (pid %lld)\n",
	       str_of(r, "version") ? str_of(r, "version") : "?",
	       str_of(r, "site") ? str_of(r, "site") : "?",
	       str_of(r, "gate") ? str_of(r, "gate") : "?", upt, int_of(r, "pid"));
	printf("mode:     %s (set by %s)\n", str_of(r, "mode") ? str_of(r, "mode") : "?",
	       str_of(r, "mode_set_by") ? str_of(r, "mode_set_by") : "?");
	if ((n = jt_get(r, "emergency")) && n->type == JT_BOOL && n->b)
		printf("EMERGENCY: a fire alarm input is active; every lane is held open\n");
	printf("rules:    version %lld%s   registry: version %lld%s\n",
	       rv && rv->type == JT_NUMBER ? (long long)rv->num : 0LL,
	       rv && rv->type == JT_NUMBER ? "" : " (none)",
	       gv && gv->type == JT_NUMBER ? (long long)gv->num : 0LL,
	       gv && gv->type == JT_NUMBER ? "" : " (none)");
	if (be && be->type == JT_BOOL && !be->b) {
		printf("broker:   disabled\n");
	} else {
		int up_b = bc && bc->type == JT_BOOL && bc->b;

		printf("broker:   %s:%lld %s\n",
		       broker && str_of(broker, "host") ? str_of(broker, "host") : "?",
		       broker ? int_of(broker, "port") : -1,
		       up_b ? "connected" : "NOT CONNECTED");
	}
	printf("outbox:   %lld event(s) not yet acknowledged by the broker\n",
	       int_of(r, "outbox"));
	printf("ledger:   %s", lstate ? lstate : "?");
	if (ledger && int_of(ledger, "held") > 0)
		printf(", %lld event(s) held in memory", int_of(ledger, "held"));
	if (ledger && int_of(ledger, "lost") > 0)
		printf(", %lld LOST", int_of(ledger, "lost"));
	printf("\n");
	printf("\n%-16s %-4s %-16s %-16s %-16s\n", "LANE", "DIR", "THERMAL", "READER",
	       "GATE");
	for (const struct jt_node *l = lanes ? lanes->kids : NULL; l; l = l->next)
		printf("%-16s %-4s %-16s %-16s %-16s\n", l->key,
		       str_of(l, "direction") ? str_of(l, "direction") : "?",
		       str_of(l, "thermal") ? str_of(l, "thermal") : "-",
		       str_of(l, "reader") ? str_of(l, "reader") : "-",
		       str_of(l, "gate") ? str_of(l, "gate") : "-");
	printf("\n%-16s %-7s %9s %9s %8s %7s  %-19s  %s\n", "DEVICE", "STATE",
	       "REQUESTS", "ANSWERED", "TIMEOUTS", "ERRORS", "LAST OK", "LAST ERROR");
	for (const struct jt_node *d = devs ? devs->kids : NULL; d; d = d->next) {
		const char *st = str_of(d, "state");
		char last_ok[32];
		long long errors = 0;
		static const char *const kinds[] = { "crc_errors", "exceptions",
			"bad_replies", "bad_values", "link_errors" };

		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (int_of(d, kinds[k]) > 0)
				errors += int_of(d, kinds[k]);
		local_time(str_of(d, "last_ok"), last_ok, sizeof(last_ok));
		printf("%-16s %-7s %9lld %9lld %8lld %7lld  %-19s  %s\n", d->key,
		       st ? st : "?", int_of(d, "requests"), int_of(d, "responses"),
		       int_of(d, "timeouts"), errors, last_ok,
		       str_of(d, "last_error") ? str_of(d, "last_error") : "");
	}
}

int ctl_status(const struct ctl_opts *o, int argc, char **argv)
{
	const struct jt_node *r;
	struct jt_doc *doc;
	struct conn cn;
	int json = o->json, rc, degraded = 0;

	rc = options("status", status_usage, argc, argv, &json, NULL);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		fputs(status_usage, stderr);
		return CTL_USAGE;
	}
	rc = conn_open(o, &cn);
	if (rc == CTL_OK)
		rc = request(&cn, "{\"cmd\":\"status\"}", &doc, &r);
	if (rc == CTL_OK) {
		degraded = status_degraded(r);
		if (json) {
			print_json(stdout, r);
			putchar('\n');
		} else {
			print_status(r);
		}
		jt_free(doc);
		rc = degraded ? CTL_FAIL : CTL_OK;
	}
	conn_close(&cn);
	return rc;
}

/* --- watch ------------------------------------------------------------- */

static const char watch_usage[] =
	"usage: wicketctl watch [--json] [--count N]\n"
	"\n"
	"Prints every passage, alarm, device fault or recovery and mode change\n"
	"of the running wicketd as it happens, one line each, until interrupted\n"
	"(or after N events).  --json prints wicketd's event objects, one per\n"
	"line.  Exit 0 when interrupted or done, 3 when wicketd goes away.\n";

static volatile sig_atomic_t stop_watch;

static void on_sigint(int sig)
{
	(void)sig;
	stop_watch = 1;
}

static void print_event(const struct jt_node *e)
{
	const char *kind = str_of(e, "event");
	char when[32], hm[32];
	const struct jt_node *t;

	local_time(str_of(e, "time"), when, sizeof(when));
	snprintf(hm, sizeof(hm), "%s", strlen(when) > 11 ? when + 11 : when);
	if (kind == NULL) {
		return;
	} else if (strcmp(kind, "passage") == 0) {
		char temp[16] = "-";
		const char *rule = str_of(e, "rule");

		t = jt_get(e, "temperature");
		if (t && t->type == JT_NUMBER)
			snprintf(temp, sizeof(temp), "%.1f", t->num);
		printf("%-8s  %-12s %-4s %-12s %-6s  %-6s  %s%s%s%s\n", hm,
		       str_of(e, "lane") ? str_of(e, "lane") : "?",
		       str_of(e, "direction") ? str_of(e, "direction") : "?",
		       str_of(e, "credential") ? str_of(e, "credential") : "-",
		       temp, str_of(e, "decision") ? str_of(e, "decision") : "?",
		       str_of(e, "reason") ? str_of(e, "reason") : "?",
		       rule && rule[0] ? " (" : "", rule && rule[0] ? rule : "",
		       rule && rule[0] ? ")" : "");
	} else if (strcmp(kind, "alarm") == 0) {
		printf("%-8s  ALARM %s [%s]: %s\n", hm,
		       str_of(e, "kind") ? str_of(e, "kind") : "?",
		       str_of(e, "severity") ? str_of(e, "severity") : "?",
		       str_of(e, "message") ? str_of(e, "message") : "");
	} else if (strcmp(kind, "device") == 0) {
		printf("%-8s  device %s %s: %s\n", hm,
		       str_of(e, "device") ? str_of(e, "device") : "?",
		       str_of(e, "state") ? str_of(e, "state") : "?",
		       str_of(e, "message") ? str_of(e, "message") : "");
	} else if (strcmp(kind, "audit") == 0) {
		printf("%-8s  admin %s %s: %s\n", hm,
		       str_of(e, "action") ? str_of(e, "action") : "?",
		       str_of(e, "result") ? str_of(e, "result") : "?",
		       str_of(e, "message") ? str_of(e, "message") : "");
	} else if (strcmp(kind, "mode") == 0) {
		printf("%-8s  mode %s (was %s), set by %s\n", hm,
		       str_of(e, "mode") ? str_of(e, "mode") : "?",
		       str_of(e, "was") ? str_of(e, "was") : "?",
		       str_of(e, "by") ? str_of(e, "by") : "?");
	} else {
		printf("%-8s  %s\n", hm, kind);
	}
}

int ctl_watch(const struct ctl_opts *o, int argc, char **argv)
{
	const struct jt_node *r;
	struct jt_doc *doc;
	struct sigaction sa;
	struct conn cn;
	long count = 0, seen = 0;
	int json = o->json, rc;

	rc = options("watch", watch_usage, argc, argv, &json, &count);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		fputs(watch_usage, stderr);
		return CTL_USAGE;
	}
	rc = conn_open(o, &cn);
	if (rc == CTL_OK)
		rc = request(&cn, "{\"cmd\":\"watch\"}", &doc, &r);
	if (rc != CTL_OK) {
		conn_close(&cn);
		return rc;
	}
	jt_free(doc);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;	/* no SA_RESTART: poll() returns */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!json)
		printf("%-8s  %-12s %-4s %-12s %-6s  %-6s  %s\n", "time", "lane", "dir",
		       "credential", "temp", "result", "reason (rule)");
	fflush(stdout);
	while (!stop_watch && (count == 0 || seen < count)) {
		char *line, e[128];
		int n = read_line(&cn, -1, &line);

		if (n <= 0) {
			if (!stop_watch) {
				fprintf(stderr, "wicketctl: wicketd closed the connection\n");
				rc = CTL_UNREACHABLE;
			}
			break;
		}
		seen++;
		if (json) {
			puts(line);
		} else if (jt_parse(line, strlen(line), &doc, e, sizeof(e)) == 0) {
			print_event(jt_root(doc));
			jt_free(doc);
		}
		fflush(stdout);
	}
	conn_close(&cn);
	return rc;
}

/* --- open, mode -------------------------------------------------------- */

static const char open_usage[] =
	"usage: wicketctl open LANE [--json]\n"
	"\n"
	"Opens LANE's gate once, as a passage without a credential that the\n"
	"ledger records with reason operator_open and your uid.  Exit 1 when\n"
	"there is no such lane or it has no gate.\n";

static const char mode_usage[] =
	"usage: wicketctl mode MODE [--json]\n"
	"\n"
	"Sets the gate's mode: normal, residents-only, lockdown or open (the\n"
	"rules decide what each allows).  It stays until the next command, a\n"
	"restart, or a reload whose configuration changes its own mode.\n";

/* One command with one string argument: {"cmd":CMD,KEY:VALUE}. */
static int one_arg(const struct ctl_opts *o, int argc, char **argv,
		   const char *cmd, const char *key, const char *usage)
{
	const struct jt_node *r;
	struct jt_doc *doc;
	struct conn cn;
	struct json req;
	int json = o->json, rc;

	rc = options(cmd, usage, argc, argv, &json, NULL);
	if (rc >= 0)
		return rc;
	if (optind + 1 != argc) {
		fputs(usage, stderr);
		return CTL_USAGE;
	}
	json_begin(&req);
	json_str(&req, "cmd", cmd);
	json_str(&req, key, argv[optind]);
	if (json_end(&req) == NULL || strlen(req.buf) >= 4000) {
		fprintf(stderr, "wicketctl %s: the argument is too long\n", cmd);
		return CTL_USAGE;
	}
	rc = conn_open(o, &cn);
	if (rc == CTL_OK)
		rc = request(&cn, req.buf, &doc, &r);
	if (rc == CTL_OK) {
		if (json) {
			print_json(stdout, r);
			putchar('\n');
		} else if (strcmp(cmd, "open") == 0) {
			printf("lane %s: gate %s opens once (ledger: operator_open)\n",
			       str_of(r, "lane") ? str_of(r, "lane") : "?",
			       str_of(r, "gate") ? str_of(r, "gate") : "?");
		} else {
			printf("mode %s (was %s)\n",
			       str_of(r, "mode") ? str_of(r, "mode") : "?",
			       str_of(r, "was") ? str_of(r, "was") : "?");
		}
		jt_free(doc);
	}
	conn_close(&cn);
	return rc;
}

int ctl_open(const struct ctl_opts *o, int argc, char **argv)
{
	return one_arg(o, argc, argv, "open", "lane", open_usage);
}

int ctl_mode(const struct ctl_opts *o, int argc, char **argv)
{
	return one_arg(o, argc, argv, "mode", "mode", mode_usage);
}
