/*
 * wicketd: the gate daemon.  argv, the -t config check, start-up and
 * shut-down; the rest lives in core.c.  See wicketd(8).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "plugin.h"
#include "rules.h"

#define DEFAULT_CONFIG WICKET_SYSCONFDIR "/wicket/wicketd.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wicketd [-t] [-d] [-c FILE]\n"
		"  -c, --config FILE  configuration (default " DEFAULT_CONFIG ")\n"
		"  -t, --test         check the configuration and exit\n"
		"  -d, --debug        log at debug level, whatever the config says\n"
		"  -h, --help         this help\n"
		"  -V, --version      print the version\n");
}

static void print_conf_error(void *ctx, const char *file, int line,
			     const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

static void print_rules_error(void *ctx, const char *where, const char *path,
			      const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s: %s: %s\n", where, path, msg);
}

/* -t: everything start-up would check, without opening any device. */
static int check_config(const char *path)
{
	struct conf *c;
	struct plugins *pl;
	struct rules *r = NULL;
	int rc = conf_load(path, &c, print_conf_error, NULL);

	if (rc == 0) {
		rc = plug_open(c, &pl, print_conf_error, NULL);
		plug_close(pl);
		if (rc == 0) {
			rc = rules_load(c->rules, &r, print_rules_error, NULL);
			rules_free(r);
		}
		conf_free(c);
	}
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "%s: %s\n", path, strerror(-rc));
		else
			fprintf(stderr, "%s: %d error(s)\n", path, rc);
		return 1;
	}
	printf("configuration OK\n");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = DEFAULT_CONFIG;
	int test = 0, debug = 0, opt, rc;
	struct core *c;
	sigset_t set;

	while ((opt = getopt_long(argc, argv, "c:tdhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("wicketd %s (plugin ABI %d.%d)\n", WICKET_VERSION,
			       WICKET_ABI_MAJOR, WICKET_ABI_MINOR);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "wicketd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (test)
		return check_config(config);

	log_init(WK_LOG_INFO);
	if (debug)
		log_pin_level(WK_LOG_DEBUG);
	/* Block the signals we read through signalfd before any thread
	 * (plugin workers) exists, so they all inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();

	rc = core_new(config, &c);
	if (rc < 0) {
		log_err("not started: %s", strerror(-rc));
		mosquitto_lib_cleanup();
		return 1;
	}
	rc = core_run(c);
	core_free(c);
	mosquitto_lib_cleanup();
	log_notice("stopped");
	return rc < 0 ? 1 : 0;
}
