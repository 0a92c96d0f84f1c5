/*
 * wicket-sim: simulated devices of a gate kit, playing a scenario, for the
 * demo, the integration tests and installers rehearsing a gate: Modbus
 * devices (thermal sensor, card/QR reader, gate controller) on Modbus TCP
 * or RTU, the lines of a simulated GPIO chip in wicketd (door contact,
 * buttons, fire alarm, Wiegand reader; relay, lights and buzzer watched)
 * and serial scanners writing lines to a tty.
 *
 * One thread: a ppoll() loop over the listening sockets, their clients,
 * the serial lines, the kits' chip sockets and the scanners' ttys, whose
 * timeout is the earliest of the next scenario step, serve.c's timers
 * (late replies, quiet lines, lost lines) and kit.c's (presses ending,
 * connect attempts, lost ttys).  serve.c moves the bytes, frame.c frames and answers them,
 * device.c decides what each device says; nothing blocks, so a client
 * that stalls half-way through a request holds up nobody.
 *
 * SIGTERM and SIGINT are blocked except inside ppoll(), so a signal is never
 * lost between the flag check and the wait.
 *
 * Output: one line per event on stdout, "wicket-sim: t=SECONDS key=value
 * ...", line-buffered (see docs/wicket-sim.md); errors on stderr.
 * Exit: 0 at `end` or on a signal, 1 on a runtime failure, 2 on a bad
 * command line, config or scenario.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#ifndef WICKET_VERSION
#define WICKET_VERSION "unknown"
#endif

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int64_t now_ms(void)
{
	return sim_now_us() / 1000;
}

int64_t sim_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sim_out(struct sim *sim, const char *fmt, ...)
{
	int64_t t = sim->clock_ms < 0 ? 0 : now_ms() - sim->clock_ms;
	va_list ap;

	printf("wicket-sim: t=%lld.%03lld ", (long long)(t / 1000),
	       (long long)(t % 1000));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wicket-sim -c FILE [--scenario FILE] "
		"[--profile-dir DIR] [-n] [-v]\n"
		"  -c, --config FILE       the sim config (INI)\n"
		"  -s, --scenario FILE     play FILE instead of [sim] scenario\n"
		"  -p, --profile-dir DIR   device profiles (default "
		"[sim] profile_dir,\n"
		"                          then " WICKET_SYSCONFDIR
		"/wicket/profiles)\n"
		"  -n, --check             check config and scenario, then exit\n"
		"  -v, --verbose           also log every request a device gets\n"
		"  -h, --help              this text\n"
		"  -V, --version           the version\n");
}

static void start_clock(struct sim *sim)
{
	sim->clock_ms = now_ms();
	sim_out(sim, "start steps=%zu", sim->scn ? sim->scn->n_steps : 0);
}

/* Run the steps that are due; 1 when `end` came. */
static int run_steps(struct sim *sim)
{
	const struct scenario *scn = sim->scn;
	int64_t t;

	if (scn == NULL || sim->clock_ms < 0)
		return 0;
	t = now_ms() - sim->clock_ms;
	while (sim->next_step < scn->n_steps &&
	       scn->steps[sim->next_step].at_ms <= t) {
		const struct scn_step *st = &scn->steps[sim->next_step++];

		if (st->action == SCN_END)
			return 1;
		dev_apply(sim, &sim->devs[st->device], st);
	}
	return 0;
}

static int loop(struct sim *sim, const sigset_t *waitmask)
{
	struct pollfd *pfd = NULL;
	size_t cap = 0;
	int rc = 0;

	for (;;) {
		struct timespec ts, *tsp = NULL;
		int64_t deadline, kt, now;
		size_t n, ns;

		if (stop_signal)
			break;
		if (run_steps(sim))
			break;
		serve_apply_faults(sim);
		deadline = serve_timers(sim);
		kt = kit_timers(sim);
		if (kt >= 0 && (deadline < 0 || kt < deadline))
			deadline = kt;
		if (sim->clock_ms >= 0 && sim->scn != NULL &&
		    sim->next_step < sim->scn->n_steps) {
			int64_t step = (sim->clock_ms +
					sim->scn->steps[sim->next_step].at_ms) *
				       1000;

			if (deadline < 0 || step < deadline)
				deadline = step;
		}
		if (deadline >= 0) {
			now = sim_now_us();
			if (deadline < now)
				deadline = now;
			ts.tv_sec = (time_t)((deadline - now) / 1000000);
			ts.tv_nsec = (long)((deadline - now) % 1000000) * 1000;
			tsp = &ts;
		}
		n = serve_n_fds(sim) + kit_n_fds(sim);
		if (n > cap) {
			struct pollfd *p = realloc(pfd, n * sizeof(*p));

			if (p == NULL) {
				fprintf(stderr, "wicket-sim: out of memory\n");
				rc = -1;
				break;
			}
			pfd = p;
			cap = n;
		}
		ns = serve_fill(sim, pfd);
		n = ns + kit_fill(sim, pfd + ns);
		if (ppoll(pfd, n, tsp, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "wicket-sim: poll: %s\n",
				strerror(errno));
			rc = -1;
			break;
		}
		serve_events(sim, pfd, ns);
		kit_events(sim, pfd + ns, n - ns);
		if (sim->clock_ms < 0 && sim->start == SIM_START_CONNECT &&
		    serve_all_connected(sim))
			start_clock(sim);
	}
	free(pfd);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "scenario", required_argument, NULL, 's' },
		{ "profile-dir", required_argument, NULL, 'p' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim sim = { .clock_ms = -1, .start = SIM_START_CONNECT };
	const char *config = NULL;
	struct sigaction sa;
	sigset_t block, waitmask;
	int opt, check = 0, scenario_opt = 0, profile_opt = 0, rc;

	while ((opt = getopt_long(argc, argv, "c:s:p:nvhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 's':
			scenario_opt = 1;
			free(sim.scenario_file);
			sim.scenario_file = strdup(optarg);
			break;
		case 'p':
			profile_opt = 1;
			free(sim.profile_dir);
			sim.profile_dir = strdup(optarg);
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			sim.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("wicket-sim " WICKET_VERSION "\n");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || config == NULL) {
		usage(stderr);
		return 2;
	}
	if ((sim.scenario_file == NULL && scenario_opt) ||
	    (sim.profile_dir == NULL && profile_opt)) {
		fprintf(stderr, "wicket-sim: out of memory\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (simconf_load(&sim, config) < 0) {
		simconf_free(&sim);
		return 2;
	}
	if (check) {
		printf("configuration OK\n");
		simconf_free(&sim);
		return 0;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	if (serve_open(&sim) < 0) {
		simconf_free(&sim);
		return 1;
	}
	if (sim.start == SIM_START_NOW)
		sim.clock_ms = now_ms();
	sim_out(&sim, "ready devices=%zu", sim.n_devs);
	if (sim.start == SIM_START_NOW)
		sim_out(&sim, "start steps=%zu",
			sim.scn ? sim.scn->n_steps : 0);
	rc = loop(&sim, &waitmask);
	if (rc == 0)
		sim_out(&sim, "end opens=%lu closes=%lu", sim.opens,
			sim.closes);
	simconf_free(&sim);
	return rc < 0 ? 1 : 0;
}
