/*
 * wicketctl: global options, then one subcommand.  Each subcommand lives
 * in its own file (rules.c, persons.c) and prints its own --help.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wicketctl [-c FILE] [--state-dir DIR] [--socket PATH] [--json]\n"
		"                 COMMAND ...\n"
		"\n"
		"the running daemon (through its control socket):\n"
		"  status                    lanes, mode, devices, broker, outbox, versions\n"
		"  watch                     live passages and alarms, one line each\n"
		"  open LANE                 open a lane's gate once (recorded)\n"
		"  mode MODE                 normal, residents-only, lockdown or open\n"
		"\n"
		"the state directory (also with the daemon stopped):\n"
		"  persons list|add|remove|import|export\n"
		"                            households, persons and credentials\n"
		"  ledger query [FILTERS]    passages and alarms by time, person, decision\n"
		"  ledger export [FILTERS]   the same as CSV\n"
		"  report DAY [--html FILE]  the day's summary; --html: a page with charts\n"
		"\n"
		"files:\n"
		"  rules check FILE          validate a rules file\n"
		"  rules test FILE CASES     run test cases against a rules file\n"
		"  keygen --key-id ID --out FILE  an Ed25519 key to sign updates with\n"
		"  sign --key FILE --kind KIND ... an update or command signed for gates\n"
		"  pass issue --key FILE --key-id ID --person ID ... [--qr terminal|png]\n"
		"                            a signed QR pass for a person or household\n"
		"  pass verify --keys FILE TOKEN  check a pass as a gate would\n"
		"\n"
		"the gates of a site (through the broker):\n"
		"  push --site S (--gate G | --all) --key FILE ... FILE\n"
		"                            sign an update, send it, a table of answers\n"
		"\n"
		"  -c FILE          wicketd's configuration (default %s)\n"
		"  --state-dir DIR  the state directory, instead of the config's\n"
		"  --socket PATH    the control socket, instead of the config's\n"
		"  --json           machine-readable output\n"
		"\n"
		"'wicketctl COMMAND --help' describes a command.  See wicketctl(1).\n"
		"Exit status: 0 done, 1 failed or found a problem, 2 bad usage,\n"
		"3 the daemon (push: the broker) cannot be reached.\n",
		CTL_DEFAULT_CONFIG);
}

static void print_conf_error(void *ctx, const char *file, int line,
			     const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

/* "file:" URI of a path, with the characters a URI gives meaning to
 * percent-encoded. */
char *ctl_file_uri(const char *path, const char *query)
{
	size_t len = strlen(path), cap = 3 * len + strlen(query) + 8, n;
	char *u = malloc(cap);

	if (u == NULL)
		return NULL;
	n = (size_t)snprintf(u, cap, "file:");
	for (const char *p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '%' || c == '?' || c == '#' || c < 0x21 || c >= 0x7f)
			n += (size_t)snprintf(u + n, cap - n, "%%%02X", c);
		else
			u[n++] = (char)c;
	}
	snprintf(u + n, cap - n, "%s", query);
	return u;
}

const char *ctl_config_path(const struct ctl_opts *o)
{
	return o->config ? o->config : CTL_DEFAULT_CONFIG;
}

char *ctl_state_dir(const struct ctl_opts *o)
{
	struct conf *c;
	char *dir;
	int rc;

	if (o->state_dir) {
		dir = strdup(o->state_dir);
		if (dir == NULL)
			fprintf(stderr, "wicketctl: out of memory\n");
		return dir;
	}
	rc = conf_load(ctl_config_path(o), &c,
		       print_conf_error, NULL);
	if (rc != 0) {
		fprintf(stderr, "wicketctl: cannot read %s%s%s (or give --state-dir)\n",
			ctl_config_path(o),
			rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
		return NULL;
	}
	dir = strdup(c->state_dir);
	conf_free(c);
	if (dir == NULL)
		fprintf(stderr, "wicketctl: out of memory\n");
	return dir;
}

static const struct {
	const char *name;
	int (*run)(const struct ctl_opts *o, int argc, char **argv);
} commands[] = {
	{ "status", ctl_status },
	{ "watch", ctl_watch },
	{ "open", ctl_open },
	{ "mode", ctl_mode },
	{ "persons", ctl_persons },
	{ "ledger", ctl_ledger },
	{ "report", ctl_report },
	{ "rules", ctl_rules },
	{ "keygen", ctl_keygen },
	{ "sign", ctl_sign },
	{ "push", ctl_push },
	{ "pass", ctl_pass },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_opts o = { 0 };
	int ch;

	/* "+": stop at the command; its options are its own */
	while ((ch = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config = optarg;
			break;
		case 's':
			o.state_dir = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'S':
			o.socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		case 'V':
			printf("wicketctl %s\n", WICKET_VERSION);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0;	/* the subcommand parses its own options */
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			return commands[i].run(&o, argc, argv);
	fprintf(stderr, "wicketctl: unknown command '%s'\n", argv[0]);
	usage(stderr);
	return CTL_USAGE;
}
