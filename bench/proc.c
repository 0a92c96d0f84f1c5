/*
 * Child processes for the Modbus benchmarks; see proc.h.  Both programs
 * run the real wicketd, wicket-sim, wicketctl, mosquitto or socat and read
 * what those print, so the waiting is done by polling log files: a child
 * writes its log itself (no pipe for us to drain), and every wait also
 * checks that no child has died, so a crash shows up at once with the end
 * of its log instead of as a timeout.
 *
 * The program's name and the interrupted flag are the only state here:
 * the flag has to be a file-scope sig_atomic_t for the signal handler.
 * A signal cuts every sleep short and every wait gives up on it, so that
 * ^C ends a run at once and the program still stops its children and
 * removes its temporary directory (proc_finish).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "common.h"
#include "proc.h"

static const char *prog = "bench";
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

int proc_interrupted(void)
{
	return interrupted;
}

void proc_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !interrupted)
		;
}

static int abs_path(char *out, const char *path, const char *what)
{
	char buf[PATH_MAX];

	if (realpath(path, buf) == NULL) {
		fprintf(stderr, "%s: %s %s: %s\n", prog, what, path,
			strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(out, PROC_PATHLEN, "%s", buf) >= PROC_PATHLEN) {
		fprintf(stderr, "%s: %s: path too long\n", prog, buf);
		return -1;
	}
	return 0;
}

int proc_join(char *out, const char *dir, const char *name)
{
	if ((size_t)snprintf(out, PROC_PATHLEN, "%s/%s", dir, name) >=
	    PROC_PATHLEN) {
		fprintf(stderr, "%s: %s/%s: path too long\n", prog, dir, name);
		return -1;
	}
	return 0;
}

FILE *proc_create(const char *dir, const char *name)
{
	char path[PROC_PATHLEN];

	if (proc_join(path, dir, name) < 0)
		return NULL;
	return fopen(path, "w");
}

int proc_write(const char *dir, const char *name, const char *fmt, ...)
{
	FILE *f = proc_create(dir, name);
	va_list ap;
	int rc;

	if (f == NULL)
		return -1;
	va_start(ap, fmt);
	rc = vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) != 0 || rc < 0)
		return -1;
	return 0;
}

static int find_paths(struct proc_paths *p)
{
	const char *b = getenv("WICKET_BUILD");
	char build[PROC_PATHLEN];

	if (b == NULL || *b == '\0')
		b = "build";
	if (abs_path(build, b, "build directory (WICKET_BUILD)") < 0 ||
	    proc_join(p->wicketd, build, "wicketd") < 0 ||
	    proc_join(p->ctl, build, "wicketctl") < 0 ||
	    proc_join(p->sim, build, "wicket-sim") < 0 ||
	    proc_join(p->plugins, build, "plugins") < 0)
		return -1;
	if (abs_path(p->profiles, "etc/wicket/profiles", "profiles (run from "
		     "the repository's top directory)") < 0 ||
	    abs_path(p->rules, "etc/wicket/rules.json", "rules") < 0)
		return -1;
	if (access(p->wicketd, X_OK) || access(p->ctl, X_OK) ||
	    access(p->sim, X_OK) || access(p->plugins, R_OK)) {
		fprintf(stderr, "%s: %s needs wicketd, wicketctl, wicket-sim "
			"and plugins/ (run make)\n", prog, build);
		return -1;
	}
	return 0;
}

int proc_setup(const char *name, struct proc_paths *p, char *tmp,
	       size_t len, const char *tmp_name)
{
	struct sigaction sa = { .sa_handler = on_signal };

	prog = name;
	/* bench/run shows the figures as they come */
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (find_paths(p) < 0 || bench_mkdtemp(tmp, len, tmp_name) != 0)
		return -1;
	return 0;
}

int proc_finish(const char *tmp, int fails)
{
	if (getenv("BENCH_KEEP") == NULL)
		bench_rmtree(tmp);
	else
		printf("kept %s\n", tmp);
	if (interrupted)
		fprintf(stderr, "%s: interrupted\n", prog);
	return fails || interrupted ? 1 : 0;
}

/* All sockets stay bound until every port is known, so the kernel cannot
 * hand out one twice. */
int proc_free_ports(int *ports, int n)
{
	int fds[8], rc = 0, i;

	for (i = 0; i < n && i < 8; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t len = sizeof(a);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &len) < 0) {
			rc = -errno;
			perror("free port");
			if (fds[i] >= 0)
				close(fds[i]);
			break;
		}
		ports[i] = ntohs(a.sin_port);
	}
	while (i-- > 0)
		close(fds[i]);
	return rc;
}

int proc_port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void tail_log(const char *path, int lines)
{
	char *text = NULL, *s;
	size_t cap = 0;
	ssize_t len;
	FILE *f = fopen(path, "r");
	int k = 0;

	if (f == NULL)
		return;
	len = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (len > 0) {
		for (s = text + len; s > text && k <= lines; s--)
			if (s[-1] == '\n')
				k++;
		fprintf(stderr, "---- last lines of %s ----\n%s", path,
			s == text ? s : s + 1);
	}
	free(text);
}

int proc_start(struct proc_child *c, const char *name, const char *log,
	       char *const argv[])
{
	c->name = name;
	c->pid = -1;
	if ((size_t)snprintf(c->log, sizeof(c->log), "%s", log) >=
	    sizeof(c->log))
		return -ENAMETOOLONG;
	/* or the child's copy of our buffers is written twice */
	fflush(stdout);
	fflush(stderr);
	c->pid = fork();
	if (c->pid < 0) {
		int rc = -errno;

		fprintf(stderr, "%s: fork for %s: %s\n", prog, name,
			strerror(errno));
		return rc;
	}
	if (c->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int in = open("/dev/null", O_RDONLY);
		sigset_t none;

		if (fd < 0 || in < 0)
			_exit(126);
		dup2(in, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(in);
		close(fd);
		/* ignored dispositions would survive the exec */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return 0;
}

int proc_check(struct proc_child *c)
{
	int st;

	if (c->pid <= 0)
		return 0;
	if (waitpid(c->pid, &st, WNOHANG) != c->pid)
		return 0;
	c->pid = -1;
	if (WIFEXITED(st))
		fprintf(stderr, "%s: %s exited with status %d\n", prog, c->name,
			WEXITSTATUS(st));
	else
		fprintf(stderr, "%s: %s was killed by signal %d\n", prog,
			c->name, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	tail_log(c->log, 20);
	return -1;
}

int proc_check_all(struct proc_child *const *kids, int n)
{
	for (int i = 0; i < n; i++)
		if (proc_check(kids[i]) < 0)
			return -1;
	return 0;
}

int proc_stop(struct proc_child *c)
{
	int st = 0, rc = 0;

	if (c->pid <= 0)
		return 0;
	kill(c->pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(c->pid, &st, WNOHANG) == c->pid)
			goto done;
		proc_sleep_ms(10);
	}
	fprintf(stderr, "%s: %s did not stop in 10 s; killed\n", prog,
		c->name);
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &st, 0);
	rc = -1;
done:
	c->pid = -1;
	if (c->term_ok && ((WIFEXITED(st) &&
			    WEXITSTATUS(st) == 128 + SIGTERM) ||
			   (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)))
		return rc;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "%s: %s ended badly after SIGTERM (%s %d)\n",
			prog, c->name, WIFEXITED(st) ? "status" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		tail_log(c->log, 20);
		rc = -1;
	}
	return rc;
}

int proc_wait_line(struct proc_child *const *kids, int nkids,
		   const char *path, const char *text, const char *who,
		   int timeout_ms)
{
	int64_t end = bench_mono_ns() + (int64_t)timeout_ms * 1000000;

	while (proc_count_lines(path, text) == 0) {
		if (proc_check_all(kids, nkids) < 0 || interrupted)
			return -1;
		if (bench_mono_ns() > end) {
			fprintf(stderr, "%s: %s did not print \"%s\" in %d s\n",
				prog, who, text, timeout_ms / 1000);
			tail_log(path, 20);
			return -1;
		}
		proc_sleep_ms(20);
	}
	return 0;
}

/* proc_start, then wait until c says text in its log. */
static int start_wait(struct proc_child *c, const char *name,
		      const char *log, char *const argv[],
		      struct proc_child *const *kids, int nkids,
		      const char *text, int timeout_ms)
{
	if (proc_start(c, name, log, argv) < 0 ||
	    proc_wait_line(kids, nkids, log, text, name, timeout_ms) < 0)
		return -1;
	return 0;
}

/* Runs argv to the end, its output to log; 0 if it exited 0. */
static int run(char *const argv[], const char *name, const char *log)
{
	struct proc_child c = { .pid = -1 };
	int st;

	if (proc_start(&c, name, log, argv) < 0)
		return -1;
	if (waitpid(c.pid, &st, 0) != c.pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "%s: %s failed\n", prog, name);
		tail_log(log, 20);
		return -1;
	}
	return 0;
}

int proc_start_wicket(const struct proc_paths *p, const char *dir,
		      const char *state, struct proc_child *sim,
		      struct proc_child *d, struct proc_child *const *kids,
		      int nkids)
{
	char reg[PROC_PATHLEN], sim_conf[PROC_PATHLEN], d_conf[PROC_PATHLEN],
	     ctl_log[PROC_PATHLEN], sim_log[PROC_PATHLEN],
	     d_log[PROC_PATHLEN];
	char *ctl_argv[] = { (char *)p->ctl, "--state-dir", (char *)state,
			     "persons", "import", reg, NULL };
	char *sim_argv[] = { (char *)p->sim, "-v", "-c", sim_conf, NULL };
	char *d_argv[] = { (char *)p->wicketd, "-c", d_conf, NULL };

	if (proc_join(reg, dir, "registry.json") < 0 ||
	    proc_join(sim_conf, dir, "sim.conf") < 0 ||
	    proc_join(d_conf, dir, "wicketd.conf") < 0 ||
	    proc_join(ctl_log, dir, "wicketctl.log") < 0 ||
	    proc_join(sim_log, dir, "sim.log") < 0 ||
	    proc_join(d_log, dir, "wicketd.log") < 0)
		return -1;
	if (run(ctl_argv, "wicketctl persons import", ctl_log) < 0 ||
	    start_wait(sim, "wicket-sim", sim_log, sim_argv, kids, nkids,
		       " ready ", 10000) < 0 ||
	    start_wait(d, "wicketd", d_log, d_argv, kids, nkids,
		       " started: ", 30000) < 0)
		return -1;
	return 0;
}

int proc_watch(struct proc_child *const *kids, int n, long ms)
{
	int64_t end = bench_mono_ns() + (int64_t)ms * 1000000;

	for (;;) {
		int64_t left = (end - bench_mono_ns()) / 1000000;

		if (proc_check_all(kids, n) < 0 || interrupted)
			return -1;
		if (left <= 0)
			return 0;
		proc_sleep_ms(left < 200 ? left : 200);
	}
}

int proc_field_ll(const char *line, const char *key, long long *v)
{
	const char *s = strstr(line, key);
	char *end;

	if (s == NULL)
		return -1;
	s += strlen(key);
	errno = 0;
	*v = strtoll(s, &end, 10);
	if (errno || end == s)
		return -1;
	return 0;
}

int proc_count_lines(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int k = 0;

	if (f == NULL)
		return 0;
	while (getline(&line, &cap, f) > 0)
		k += strstr(line, text) != NULL;
	free(line);
	fclose(f);
	return k;
}

long long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *s;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the name may hold anything, even ") ": the last ')' ends it; then
	 * fields 3 (state) to 13, and utime, stime are 14 and 15 */
	s = strrchr(buf, ')');
	if (s == NULL || sscanf(s + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

long proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':' &&
		    sscanf(line + n + 1, "%ld", &v) == 1)
			break;
	fclose(f);
	return v;
}
