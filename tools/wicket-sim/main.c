/*
 * wicket-sim: simulated Modbus TCP devices of a gate kit (thermal sensor,
 * card/QR reader, gate controller) playing a scenario, for the demo, the
 * integration tests and installers rehearsing a gate.
 *
 * One thread: a ppoll() loop over the listening sockets and their clients
 * whose timeout is the next scenario step.  libmodbus does the protocol
 * (modbus_receive / modbus_reply on each client's socket, one context per
 * listening address); a request is read only when poll says it has begun
 * to arrive, so a silent client never blocks the others.  A client that
 * stalls half-way through a request can hold the loop for libmodbus's byte
 * timeout (0.5 s); a simulator can live with that.
 *
 * SIGTERM and SIGINT are blocked except inside ppoll(), so a signal is never
 * lost between the flag check and the wait.
 *
 * Output: one line per event on stdout, "wicket-sim: t=SECONDS key=value
 * ...", line-buffered (see docs/wicket-sim.md); errors on stderr.
 * Exit: 0 at `end` or on a signal, 1 on a runtime failure, 2 on a bad
 * command line, config or scenario.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#ifndef WICKET_VERSION
#define WICKET_VERSION "unknown"
#endif

#define MAX_CLIENTS 64

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* Whether every device's socket has a client. */
static int all_connected(const struct sim *sim)
{
	for (size_t i = 0; i < sim->n_devs; i++)
		if (sim->listeners[sim->devs[i].listener].n_clients == 0)
			return 0;
	return 1;
}

static int listen_all(struct sim *sim)
{
	for (size_t i = 0; i < sim->n_listeners; i++) {
		struct sim_listener *l = &sim->listeners[i];

		l->ctx = modbus_new_tcp(l->host, l->port);
		if (l->ctx == NULL) {
			fprintf(stderr, "wicket-sim: cannot listen on %s: %s\n",
				l->addr, modbus_strerror(errno));
			return -1;
		}
		l->fd = modbus_tcp_listen(l->ctx, 16);
		if (l->fd < 0) {
			fprintf(stderr, "wicket-sim: cannot listen on %s: %s\n",
				l->addr, modbus_strerror(errno));
			return -1;
		}
		fcntl(l->fd, F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

static void accept_client(struct sim *sim, size_t li)
{
	struct sim_listener *l = &sim->listeners[li];
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct sim_client *c;
	char ip[INET_ADDRSTRLEN] = "?";
	int fd, one = 1;

	fd = accept4(l->fd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			fprintf(stderr, "wicket-sim: %s: accept: %s\n",
				l->addr, strerror(errno));
		return;
	}
	if (sim->n_clients >= MAX_CLIENTS) {
		fprintf(stderr,
			"wicket-sim: %s: more than %d clients, refused\n",
			l->addr, MAX_CLIENTS);
		close(fd);
		return;
	}
	if (sim->n_clients == sim->cap_clients) {
		size_t ncap = sim->cap_clients ? sim->cap_clients * 2 : 8;

		c = realloc(sim->clients, ncap * sizeof(*c));
		if (c == NULL) {
			fprintf(stderr, "wicket-sim: out of memory\n");
			close(fd);
			return;
		}
		sim->clients = c;
		sim->cap_clients = ncap;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = &sim->clients[sim->n_clients++];
	c->fd = fd;
	c->listener = li;
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	snprintf(c->peer, sizeof(c->peer), "%s:%u", ip,
		 (unsigned)ntohs(sa.sin_port));
	l->n_clients++;
	sim_out(sim, "connect listen=%s peer=%s clients=%u", l->addr, c->peer,
		l->n_clients);
}

static void drop_client(struct sim *sim, struct sim_client *c)
{
	struct sim_listener *l = &sim->listeners[c->listener];

	close(c->fd);
	c->fd = -1;
	l->n_clients--;
	sim_out(sim, "disconnect listen=%s peer=%s clients=%u", l->addr,
		c->peer, l->n_clients);
}

static void serve_client(struct sim *sim, struct sim_client *c)
{
	struct sim_listener *l = &sim->listeners[c->listener];
	uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
	int len;

	modbus_set_socket(l->ctx, c->fd);
	len = modbus_receive(l->ctx, req);
	if (len < 0) {
		/* libmodbus says ECONNRESET for an orderly close too */
		if (errno != ECONNRESET)
			fprintf(stderr, "wicket-sim: %s: peer %s: %s\n",
				l->addr, c->peer, modbus_strerror(errno));
		drop_client(sim, c);
		return;
	}
	if (len > 0 && dev_request(sim, c->listener, req, len) < 0) {
		fprintf(stderr, "wicket-sim: %s: peer %s: reply: %s\n",
			l->addr, c->peer, modbus_strerror(errno));
		drop_client(sim, c);
	}
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
		size_t n = 0, nl = sim->n_listeners, nc = sim->n_clients, k;

		if (stop_signal)
			break;
		if (run_steps(sim))
			break;
		if (sim->clock_ms >= 0 && sim->scn != NULL &&
		    sim->next_step < sim->scn->n_steps) {
			int64_t wait = sim->clock_ms +
				       sim->scn->steps[sim->next_step].at_ms -
				       now_ms();

			if (wait < 0)
				wait = 0;
			ts.tv_sec = (time_t)(wait / 1000);
			ts.tv_nsec = (long)(wait % 1000) * 1000000;
			tsp = &ts;
		}
		if (nl + nc > cap) {
			struct pollfd *p = realloc(pfd, (nl + nc) * sizeof(*p));

			if (p == NULL) {
				fprintf(stderr, "wicket-sim: out of memory\n");
				rc = -1;
				break;
			}
			pfd = p;
			cap = nl + nc;
		}
		for (size_t i = 0; i < nl; i++)
			pfd[n++] = (struct pollfd){ sim->listeners[i].fd,
						    POLLIN, 0 };
		for (size_t i = 0; i < nc; i++)
			pfd[n++] = (struct pollfd){ sim->clients[i].fd,
						    POLLIN, 0 };
		if (ppoll(pfd, n, tsp, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "wicket-sim: poll: %s\n",
				strerror(errno));
			rc = -1;
			break;
		}
		/* Clients first: accepting may move the client array. */
		for (size_t i = 0; i < nc; i++)
			if (pfd[nl + i].revents && sim->clients[i].fd >= 0)
				serve_client(sim, &sim->clients[i]);
		for (size_t i = 0; i < nl; i++)
			if (pfd[i].revents & POLLIN)
				accept_client(sim, i);
		for (size_t i = k = 0; i < sim->n_clients; i++)
			if (sim->clients[i].fd >= 0)
				sim->clients[k++] = sim->clients[i];
		sim->n_clients = k;
		if (sim->clock_ms < 0 && sim->start == SIM_START_CONNECT &&
		    all_connected(sim))
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

	if (listen_all(&sim) < 0) {
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
