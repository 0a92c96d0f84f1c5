/*
 * gpio_plugin_test: the gpio plugin (build/plugins/gpio.so) as wicketd
 * sees it, through its descriptor and a host API table of our own, on a
 * GPIO chip driven from outside: relay pulses and holds, the fail state a
 * stop leaves for fail = secure and fail = safe, active-low outputs, the
 * inputs' initial levels, debouncing (a bounce shorter than debounce_ms
 * gives nothing, a settled change one event), an indicator pattern's
 * timeline, instance_provides, a busy line's fault and recovery, and the
 * configuration errors.
 *
 * The chip is driven through a small "driver" with two implementations:
 *
 *   sim     (default) the library's simulated chip, sim:/tmp/.../gpio.sock,
 *           spoken to over its socket protocol (docs/wiring.md).  This
 *           program keeps the chip open itself (gl_chip_open, found in
 *           the plugin's libwicket-gpio.so) so the socket lives across the
 *           instances and every output change is watched with its stamp.
 *   sysfs   the kernel's gpio-sim driver: WICKET_GPIO_CHIP=gpiochipN names
 *           the chip, WICKET_GPIO_SYSFS its sysfs directory
 *           (/sys/devices/platform/gpio-sim.0/gpiochipN); inputs are driven
 *           through sim_gpioK/pull, outputs read from sim_gpioK/value
 *           (sampled every 2 ms, so times are that coarse).  After a
 *           release gpio-sim puts a line back to its pull, so the level a
 *           stop leaves is only checked on the simulator.  This driver is
 *           for the qemu VM of make check-vm and is not run by make check.
 *
 * The plugin is WICKET_GPIO_PLUGIN, or ../plugins/gpio.so next to this
 * program (build/tests/test_gpio_plugin -> build/plugins/gpio.so).
 * Lines: relay 0, green 1, red 2, buzzer 3, door 4, exit_button 5,
 * fire_alarm 6, override 7 (a gpio-sim chip needs 8 lines at least).
 * Timing checks allow 60 ms of lateness (150 ms with the sysfs driver,
 * which runs in a VM without KVM; 300 ms when VALGRIND is set, as
 * tests/run-unit does for make check-valgrind; WICKET_TEST_SLACK_MS sets
 * it).  WICKET_TEST_VERBOSE=1 prints every event and log
 * line.  Exit status 0 when every
 * check passed; each failure is printed with its line.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <wicket/plugin.h>

#define MS 1000000LL
#define L_RELAY 0
#define L_GREEN 1
#define L_RED 2
#define L_BUZZER 3
#define L_DOOR 4
#define L_EXIT 5
#define L_FIRE 6
#define L_OVERRIDE 7
#define LINES 64

static int failures;
static int64_t slack_ms = 60;	/* how late a timed change may be */
static int64_t early_ms = 1;	/* and how early it may seem */

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) { \
			failures++; \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, \
				#cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* --- the host ----------------------------------------------------------- */

struct wk_instance {
	const char *name;
};

struct rec {
	struct wk_event ev;
	struct wk_instance *inst;
	int64_t at_ns;		/* when it was emitted */
};

#define RECS_MAX 4096
#define LOG_MAX 65536

static pthread_mutex_t h_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t h_cv = PTHREAD_COND_INITIALIZER;
static struct rec recs[RECS_MAX];
static size_t n_recs;
static char logbuf[LOG_MAX];	/* every log line, "NAME: text\n" */
static size_t log_len;
static char errbuf[8192];	/* conf errors of the last create */
static size_t err_len;
static int verbose;

static void host_log(struct wk_instance *inst, int level, const char *fmt,
		     ...) WK_PRINTF(3, 4);

static void host_log(struct wk_instance *inst, int level, const char *fmt,
		     ...)
{
	char line[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&h_mu);
	n = snprintf(logbuf + log_len, sizeof(logbuf) - log_len, "%s: %s\n",
		     inst->name, line);
	if (n > 0 && (size_t)n < sizeof(logbuf) - log_len)
		log_len += (size_t)n;
	pthread_mutex_unlock(&h_mu);
	if (verbose)
		fprintf(stderr, "  log <%d> %s: %s\n", level, inst->name, line);
}

static int host_conf_error(struct wk_instance *inst,
			   const struct wk_conf_item *item, const char *fmt,
			   ...) WK_PRINTF(3, 4);

static int host_conf_error(struct wk_instance *inst,
			   const struct wk_conf_item *item, const char *fmt,
			   ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = snprintf(errbuf + err_len, sizeof(errbuf) - err_len,
		     "%s:%d: device %s: %s\n", item ? item->file : "test.conf",
		     item ? item->line : 1, inst->name, msg);
	if (n > 0 && (size_t)n < sizeof(errbuf) - err_len)
		err_len += (size_t)n;
	if (verbose)
		fprintf(stderr, "  conf error: %s", errbuf + err_len - (size_t)n);
	return -EINVAL;
}

static int host_emit(struct wk_instance *inst, const struct wk_event *ev)
{
	pthread_mutex_lock(&h_mu);
	if (n_recs == RECS_MAX) {
		pthread_mutex_unlock(&h_mu);
		return -ENOBUFS;
	}
	recs[n_recs].ev = *ev;
	recs[n_recs].inst = inst;
	recs[n_recs].at_ns = mono_ns();
	n_recs++;
	pthread_cond_broadcast(&h_cv);
	pthread_mutex_unlock(&h_mu);
	if (verbose)
		fprintf(stderr, "  event %s: type %u gate %d input %u/%d/%d %s\n",
			inst->name, ev->type, ev->gate_open, ev->input.role,
			ev->input.active, ev->input.initial, ev->message);
	return 0;
}

static int host_emit_code(struct wk_instance *inst, const struct wk_event *ev,
			  const char *code, size_t len)
{
	(void)inst;
	(void)ev;
	(void)code;
	(void)len;
	return -ENOTSUP;	/* the gpio plugin has no credentials */
}

static const struct wk_host_api host = {
	.abi_major = WICKET_ABI_MAJOR,
	.abi_minor = WICKET_ABI_MINOR,
	.size = sizeof(struct wk_host_api),
	.log = host_log,
	.conf_error = host_conf_error,
	.emit = host_emit,
	.emit_code = host_emit_code,
};

/* What to wait for: type, and for WK_EV_INPUT the role (0 any). */
struct want {
	uint32_t type;
	uint32_t role;
};

/* The next event of inst matching w from *cursor on, within timeout_ms:
 * 0 with *out (and *cursor past it), -1 when none came. */
static int wait_event(struct wk_instance *inst, size_t *cursor,
		      struct want w, int64_t timeout_ms, struct rec *out)
{
	int64_t until = mono_ns() + timeout_ms * MS;
	struct timespec ts;
	int found = -1;

	pthread_mutex_lock(&h_mu);
	for (;;) {
		for (; *cursor < n_recs; (*cursor)++) {
			const struct rec *r = &recs[*cursor];

			if (r->inst != inst || r->ev.type != w.type ||
			    (w.type == WK_EV_INPUT && w.role &&
			     r->ev.input.role != w.role))
				continue;
			*out = *r;
			(*cursor)++;
			found = 0;
			break;
		}
		if (found == 0 || mono_ns() >= until)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * MS;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&h_cv, &h_mu, &ts);
	}
	pthread_mutex_unlock(&h_mu);
	return found;
}

/* How many events of inst matching w came after *cursor (moved to the
 * end). */
static int count_events(struct wk_instance *inst, size_t *cursor,
			struct want w)
{
	int n = 0;

	pthread_mutex_lock(&h_mu);
	for (; *cursor < n_recs; (*cursor)++) {
		const struct rec *r = &recs[*cursor];

		if (r->inst == inst && r->ev.type == w.type &&
		    (w.type != WK_EV_INPUT || !w.role ||
		     r->ev.input.role == w.role))
			n++;
	}
	pthread_mutex_unlock(&h_mu);
	return n;
}

static size_t events_now(void)
{
	size_t n;

	pthread_mutex_lock(&h_mu);
	n = n_recs;
	pthread_mutex_unlock(&h_mu);
	return n;
}

static size_t log_mark(void)
{
	size_t n;

	pthread_mutex_lock(&h_mu);
	n = log_len;
	pthread_mutex_unlock(&h_mu);
	return n;
}

/* Did a log line after mark contain s? */
static int logged_since(size_t mark, const char *s)
{
	int r;

	pthread_mutex_lock(&h_mu);
	logbuf[log_len] = '\0';
	r = strstr(logbuf + mark, s) != NULL;
	pthread_mutex_unlock(&h_mu);
	return r;
}

/* --- the plugin ----------------------------------------------------------- */

static const struct wk_plugin *plug;

struct conf_buf {
	struct wk_conf conf;
	struct wk_conf_item items[40];
	char text[40][128];
};

/* "key=value" strings (NULL-terminated) as a section at test.conf line 1,
 * item i at line i + 2. */
static void make_conf(struct conf_buf *cb, const char *name,
		      const char *const *kv)
{
	size_t n = 0;

	memset(cb, 0, sizeof(*cb));
	for (; kv[n] != NULL && n < 40; n++) {
		char *eq;

		snprintf(cb->text[n], sizeof(cb->text[n]), "%s", kv[n]);
		eq = strchr(cb->text[n], '=');
		if (eq == NULL) {
			fprintf(stderr, "bad test item %s\n", kv[n]);
			exit(2);
		}
		*eq = '\0';
		cb->items[n].key = cb->text[n];
		cb->items[n].value = eq + 1;
		cb->items[n].file = "test.conf";
		cb->items[n].line = (int)n + 2;
	}
	cb->conf.name = name;
	cb->conf.file = "test.conf";
	cb->conf.line = 1;
	cb->conf.n_items = n;
	cb->conf.items = cb->items;
}

/* create() with kv; the errors it reported in errbuf. */
static int create(struct wk_instance *inst, const char *const *kv,
		  void **state)
{
	struct conf_buf cb;

	make_conf(&cb, inst->name, kv);
	err_len = 0;
	errbuf[0] = '\0';
	*state = NULL;
	return plug->create(&host, inst, &cb.conf, state);
}

static int command(void *state, uint32_t type, uint32_t pulse_ms,
		   uint32_t value)
{
	static uint64_t id;
	struct wk_command cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.type = type;
	cmd.pulse_ms = pulse_ms;
	cmd.id = ++id;
	cmd.value = value;
	return plug->command(state, &cmd);
}

/* --- the drivers ------------------------------------------------------- */

struct driver {
	const char *name;
	char chip[200];		/* the spec for `chip =` */
	/* an input's physical level */
	int (*set)(struct driver *d, unsigned off, int level);
	/* to level and straight back, as fast as the driver goes */
	int (*bounce)(struct driver *d, unsigned off, int level);
	/* a line's physical level now */
	int (*get)(struct driver *d, unsigned off, int *level);
	/* until output off is at level: 0 with *t_ns when it got there,
	 * -ETIMEDOUT */
	int (*wait_out)(struct driver *d, unsigned off, int level,
			int64_t timeout_ms, int64_t *t_ns);
	/* how many times output off changed since the last call */
	int (*changes)(struct driver *d, unsigned off);
	/* after a stop: the level off was left at before it was
	 * released; -ENOTSUP where the driver cannot tell */
	int (*left_at)(struct driver *d, unsigned off, int64_t timeout_ms,
		       int *level);
	/* "unused", "input" or "output"; -ENOTSUP */
	int (*usage)(struct driver *d, unsigned off, char *buf, size_t len);

	/* sim */
	int fd;
	char in[8192];
	size_t in_len;
	int level[LINES];	/* outputs, as watched */
	int64_t changed[LINES];
	int n_changes[LINES];
	int released[LINES];
	int released_level[LINES];
	/* sysfs */
	char sysfs[PATH_MAX];
};

/* sim: one line from the socket within timeout_ms; the watch lines are
 * taken in on the way.  1 with a reply line, 0 timeout, -1 error. */
static int sim_line(struct driver *d, char *out, size_t len,
		    int64_t timeout_ms)
{
	int64_t until = mono_ns() + timeout_ms * MS;

	for (;;) {
		char *nl = memchr(d->in, '\n', d->in_len);
		struct pollfd pfd = { d->fd, POLLIN, 0 };
		int64_t left;
		ssize_t got;

		if (nl != NULL) {
			size_t n = (size_t)(nl - d->in);
			unsigned off;
			int lv;
			long long t;

			*nl = '\0';
			if (sscanf(d->in, "out %u %d %lld", &off, &lv, &t) == 3 &&
			    off < LINES) {
				if (d->level[off] != lv || d->released[off])
					d->n_changes[off]++;
				d->level[off] = lv;
				d->changed[off] = t;
				d->released[off] = 0;
			} else if (sscanf(d->in, "released %u", &off) == 1 &&
				   off < LINES) {
				d->released[off] = 1;
				d->released_level[off] = d->level[off];
			} else {
				size_t m = n < len - 1 ? n : len - 1;

				memcpy(out, d->in, m);
				out[m] = '\0';
				memmove(d->in, nl + 1, d->in_len - n - 1);
				d->in_len -= n + 1;
				return 1;
			}
			memmove(d->in, nl + 1, d->in_len - n - 1);
			d->in_len -= n + 1;
			continue;
		}
		left = (until - mono_ns()) / MS;
		if (left < 0)
			return 0;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		got = read(d->fd, d->in + d->in_len, sizeof(d->in) - d->in_len);
		if (got <= 0)
			return -1;
		d->in_len += (size_t)got;
	}
}

/* sim: send a command, the reply in reply. */
static int sim_cmd(struct driver *d, const char *cmd, char *reply,
		   size_t len)
{
	char buf[300];
	int n = snprintf(buf, sizeof(buf), "%s\n", cmd);

	if (write(d->fd, buf, (size_t)n) != n)
		return -EIO;
	if (sim_line(d, reply, len, 2000) != 1)
		return -ETIMEDOUT;
	return 0;
}

static int sim_set(struct driver *d, unsigned off, int level)
{
	char cmd[64], reply[200];

	snprintf(cmd, sizeof(cmd), "set %u %d", off, level);
	if (sim_cmd(d, cmd, reply, sizeof(reply)) < 0 ||
	    strcmp(reply, "ok") != 0) {
		fprintf(stderr, "sim: %s: %s\n", cmd, reply);
		return -EIO;
	}
	return 0;
}

static int sim_bounce(struct driver *d, unsigned off, int level)
{
	char buf[64], reply[200];
	int n = snprintf(buf, sizeof(buf), "set %u %d\nset %u %d\n", off,
			 level, off, !level);

	/* one write: the two edges are microseconds apart */
	if (write(d->fd, buf, (size_t)n) != n)
		return -EIO;
	for (int i = 0; i < 2; i++)
		if (sim_line(d, reply, sizeof(reply), 2000) != 1 ||
		    strcmp(reply, "ok") != 0)
			return -EIO;
	return 0;
}

static int sim_get(struct driver *d, unsigned off, int *level)
{
	char cmd[64], reply[200];
	unsigned o;

	snprintf(cmd, sizeof(cmd), "get %u", off);
	if (sim_cmd(d, cmd, reply, sizeof(reply)) < 0 ||
	    sscanf(reply, "value %u %d", &o, level) != 2 || o != off)
		return -EIO;
	return 0;
}

static int sim_wait_out(struct driver *d, unsigned off, int level,
			int64_t timeout_ms, int64_t *t_ns)
{
	int64_t until = mono_ns() + timeout_ms * MS;
	char reply[200];

	for (;;) {
		if (!d->released[off] && d->level[off] == level) {
			*t_ns = d->changed[off];
			return 0;
		}
		if (mono_ns() >= until)
			return -ETIMEDOUT;
		if (sim_line(d, reply, sizeof(reply), 10) == 1)
			fprintf(stderr, "sim: unexpected line: %s\n", reply);
	}
}

static int sim_changes(struct driver *d, unsigned off)
{
	char reply[200];
	int n;

	while (sim_line(d, reply, sizeof(reply), 0) == 1)
		fprintf(stderr, "sim: unexpected line: %s\n", reply);
	n = d->n_changes[off];
	d->n_changes[off] = 0;
	return n;
}

static int sim_left_at(struct driver *d, unsigned off, int64_t timeout_ms,
		       int *level)
{
	int64_t until = mono_ns() + timeout_ms * MS;
	char reply[200];

	while (!d->released[off]) {
		if (mono_ns() >= until)
			return -ETIMEDOUT;
		if (sim_line(d, reply, sizeof(reply), 10) == 1)
			fprintf(stderr, "sim: unexpected line: %s\n", reply);
	}
	*level = d->released_level[off];
	return 0;
}

static int sim_usage(struct driver *d, unsigned off, char *buf, size_t len)
{
	char cmd[64], reply[200], use[32];
	unsigned o;
	int lv;

	snprintf(cmd, sizeof(cmd), "info %u", off);
	if (sim_cmd(d, cmd, reply, sizeof(reply)) < 0 ||
	    sscanf(reply, "info %u %31s %d", &o, use, &lv) != 3 || o != off)
		return -EIO;
	snprintf(buf, len, "%s", use);
	return 0;
}

static void *plug_handle;
static int (*p_chip_open)(const char *, void **, char *, size_t);
static void (*p_chip_close)(void *);
static void *sim_chip;
static char tmpdir[64];

static int sim_setup(struct driver *d)
{
	struct sockaddr_un sa;
	char err[256], reply[200];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wicket-gpio-test.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -errno;
	snprintf(d->chip, sizeof(d->chip), "sim:%s/gpio.sock", tmpdir);
	/* the chip stays open for the whole run: one socket, watched from
	 * before the first instance starts */
	*(void **)&p_chip_open = dlsym(plug_handle, "gl_chip_open");
	*(void **)&p_chip_close = dlsym(plug_handle, "gl_chip_close");
	if (p_chip_open == NULL || p_chip_close == NULL) {
		fprintf(stderr, "gl_chip_open not found: %s\n", dlerror());
		return -ENOENT;
	}
	if (p_chip_open(d->chip, &sim_chip, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -EIO;
	}
	d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->chip + 4);
	if (d->fd < 0 || connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (sim_cmd(d, "watch", reply, sizeof(reply)) < 0 ||
	    strcmp(reply, "ok") != 0)
		return -EIO;
	return 0;
}

static void sim_teardown(struct driver *d)
{
	char path[128];

	close(d->fd);
	p_chip_close(sim_chip);
	snprintf(path, sizeof(path), "%s/gpio.sock", tmpdir);
	CHECK(access(path, F_OK) < 0, "the socket outlived its chip");
	rmdir(tmpdir);
}

/* sysfs: gpio-sim's files of line off */
static int sysfs_path(struct driver *d, unsigned off, const char *file,
		      char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/sim_gpio%u/%s", d->sysfs, off, file);

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static int sysfs_set(struct driver *d, unsigned off, int level)
{
	char p[PATH_MAX + 32];
	const char *v = level ? "pull-up" : "pull-down";
	int fd, ok;

	if (sysfs_path(d, off, "pull", p, sizeof(p)) < 0)
		return -ENAMETOOLONG;
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ok = write(fd, v, strlen(v)) == (ssize_t)strlen(v);
	close(fd);
	return ok ? 0 : -EIO;
}

static int sysfs_bounce(struct driver *d, unsigned off, int level)
{
	int r = sysfs_set(d, off, level);

	return r < 0 ? r : sysfs_set(d, off, !level);
}

static int sysfs_get(struct driver *d, unsigned off, int *level)
{
	char p[PATH_MAX + 32], buf[8] = "";
	int fd;
	ssize_t n;

	if (sysfs_path(d, off, "value", p, sizeof(p)) < 0)
		return -ENAMETOOLONG;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 1 || (buf[0] != '0' && buf[0] != '1'))
		return -EIO;
	*level = buf[0] == '1';
	return 0;
}

static int sysfs_wait_out(struct driver *d, unsigned off, int level,
			  int64_t timeout_ms, int64_t *t_ns)
{
	int64_t until = mono_ns() + timeout_ms * MS;
	int lv;

	for (;;) {
		int64_t t = mono_ns();

		if (sysfs_get(d, off, &lv) == 0 && lv == level) {
			*t_ns = t;
			return 0;
		}
		if (t >= until)
			return -ETIMEDOUT;
		sleep_ms(2);
	}
}

static int sysfs_changes(struct driver *d, unsigned off)
{
	(void)d;
	(void)off;
	return -ENOTSUP;
}

static int sysfs_left_at(struct driver *d, unsigned off, int64_t timeout_ms,
			 int *level)
{
	(void)d;
	(void)off;
	(void)timeout_ms;
	(void)level;
	return -ENOTSUP;
}

static int sysfs_usage(struct driver *d, unsigned off, char *buf, size_t len)
{
	(void)d;
	(void)off;
	(void)buf;
	(void)len;
	return -ENOTSUP;
}

static struct driver drv;

static int driver_setup(void)
{
	const char *chip = getenv("WICKET_GPIO_CHIP");
	const char *sysfs = getenv("WICKET_GPIO_SYSFS");

	memset(&drv, 0, sizeof(drv));
	drv.fd = -1;
	if (chip != NULL && chip[0] != '\0') {
		if (sysfs == NULL || sysfs[0] == '\0') {
			fprintf(stderr, "WICKET_GPIO_CHIP needs WICKET_GPIO_SYSFS (the chip's directory in /sys/devices/platform/gpio-sim.*)\n");
			return -EINVAL;
		}
		drv.name = "sysfs";
		snprintf(drv.chip, sizeof(drv.chip), "%s", chip);
		snprintf(drv.sysfs, sizeof(drv.sysfs), "%s", sysfs);
		drv.set = sysfs_set;
		drv.bounce = sysfs_bounce;
		drv.get = sysfs_get;
		drv.wait_out = sysfs_wait_out;
		drv.changes = sysfs_changes;
		drv.left_at = sysfs_left_at;
		drv.usage = sysfs_usage;
		/* the inputs from a known level */
		for (unsigned off = L_DOOR; off <= L_OVERRIDE; off++)
			if (sysfs_set(&drv, off, 0) < 0)
				return -EIO;
		return 0;
	}
	drv.name = "sim";
	drv.set = sim_set;
	drv.bounce = sim_bounce;
	drv.get = sim_get;
	drv.wait_out = sim_wait_out;
	drv.changes = sim_changes;
	drv.left_at = sim_left_at;
	drv.usage = sim_usage;
	return sim_setup(&drv);
}

/* --- the checks --------------------------------------------------------- */

static char chip_kv[256];

static int started(struct wk_instance *inst, void *state, size_t *cursor)
{
	struct rec r;

	CHECK(plug->start(state) == 0, "start");
	if (wait_event(inst, cursor, (struct want){ WK_EV_DEVICE_OK, 0 },
		       3000, &r) < 0) {
		CHECK(0, "%s: no DEVICE_OK after start", inst->name);
		return -1;
	}
	return 0;
}

/* A timed change: at want_ms after t0, no earlier and at most slack_ms
 * later.  The sysfs driver samples, so it may see t0 late and the change
 * seem early by as much: early_ms. */
#define CHECK_AT(t, t0, want_ms, what) \
	CHECK((t) - (t0) >= ((want_ms) - early_ms) * MS && \
	      (t) - (t0) <= ((want_ms) + slack_ms) * MS, \
	      "%s at %lld ms, want %d ms", what, \
	      (long long)(((t) - (t0)) / MS), (int)(want_ms))

static void test_config_errors(void)
{
	static const struct {
		const char *kv[8];
		const char *want;	/* in the errors */
	} bad[] = {
		{ { chip_kv, "relay=0", "colour=red", NULL },
		  "test.conf:4: device kit: unknown key 'colour'" },
		/* a simulated chip's size is known without opening it; a
		 * kernel chip's is checked when its lines are requested */
		{ { "chip=sim:/tmp/x", "door=64", NULL },
		  "test.conf:3: device kit: door: line 64 is out of range, expected 0..63" },
		{ { "chip=sim:/tmp/x", "door=front", NULL },
		  "door: 'front': a simulated chip's lines are named by their offsets" },
		{ { "chip=gpiochip0", "door=front door", NULL },
		  "door: 'front door' is not a line name" },
		{ { chip_kv, "relay=3", "buzzer=03", NULL },
		  "test.conf:4: device kit: buzzer: line 3 is also relay's; two roles cannot share a line" },
		{ { chip_kv, "door=5", "exit_button=5", NULL },
		  "exit_button: line 5 is also door's" },
		{ { "relay=1", NULL }, "test.conf:1: device kit: missing key 'chip'" },
		{ { "chip=gpio7", "relay=1", NULL },
		  "chip: 'gpio7' is not gpiochipN, /dev/gpiochipN or sim:PATH" },
		{ { chip_kv, "fail=secure", NULL }, "no lines" },
		{ { chip_kv, "door=1", "door_bias=up", NULL },
		  "door_bias: 'up' is not as-is, disable, pull-up or pull-down" },
		{ { chip_kv, "door=1", "door_debounce_ms=10001", NULL },
		  "door_debounce_ms: 10001 is out of range, expected 0..10000" },
		{ { chip_kv, "door=1", "door_active_low=maybe", NULL },
		  "door_active_low: 'maybe' is not yes or no" },
		{ { chip_kv, "door=1", "exit_button_bias=pull-up", NULL },
		  "exit_button_bias: there is no exit_button line" },
		{ { chip_kv, "relay=1", "pulse_ms=10", NULL },
		  "pulse_ms: '10' is not 50..600000" },
		{ { chip_kv, "door=1", "pulse_ms=500", NULL },
		  "pulse_ms: there is no relay line" },
		{ { chip_kv, "relay=1", "fail=sometimes", NULL },
		  "fail: 'sometimes' is not safe or secure" },
		{ { chip_kv, "relay=1", "relay_bias=pull-up", NULL },
		  "unknown key 'relay_bias'" },
	};
	struct wk_instance inst = { "kit" };
	void *st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = create(&inst, bad[i].kv, &st);

		CHECK(r == -EINVAL, "case %zu: create gave %d", i, r);
		CHECK(st == NULL, "case %zu: a state after an error", i);
		CHECK(strstr(errbuf, bad[i].want) != NULL,
		      "case %zu: want \"%s\", got:\n%s", i, bad[i].want, errbuf);
		if (r == 0)
			plug->destroy(st);
	}

	/* every error of a section at once */
	{
		const char *kv[] = { "chip=sim:/tmp/x", "door=99", "red=1", "green=1",
				     "bogus=1", NULL };

		CHECK(create(&inst, kv, &st) == -EINVAL, "several errors");
		CHECK(strstr(errbuf, "door: line 99") &&
		      strstr(errbuf, "green: line 1 is also red's") &&
		      strstr(errbuf, "unknown key 'bogus'"),
		      "not every error reported:\n%s", errbuf);
	}
}

static void test_provides(void)
{
	static const struct {
		const char *kv[12];
		uint32_t want;
	} cases[] = {
		{ { chip_kv, "relay=0", NULL },
		  WK_PROVIDES_GATE | WK_PROVIDES_HOLD },
		{ { chip_kv, "door=4", "fire_alarm=6", NULL },
		  WK_PROVIDES_DOOR | WK_PROVIDES_FIRE_ALARM },
		{ { chip_kv, "buzzer=3", NULL }, WK_PROVIDES_INDICATOR },
		{ { chip_kv, "relay=0", "green=1", "red=2", "buzzer=3",
		    "door=4", "exit_button=5", "fire_alarm=6", "override=7",
		    "fail=safe", NULL },
		  WK_PROVIDES_GATE | WK_PROVIDES_HOLD | WK_PROVIDES_INDICATOR |
		  WK_PROVIDES_DOOR | WK_PROVIDES_EXIT_BUTTON |
		  WK_PROVIDES_FIRE_ALARM | WK_PROVIDES_OVERRIDE },
	};
	struct wk_instance inst = { "kit" };
	void *st;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (create(&inst, cases[i].kv, &st) != 0) {
			CHECK(0, "case %zu: create failed:\n%s", i, errbuf);
			continue;
		}
		CHECK(plug->instance_provides(st) == cases[i].want,
		      "case %zu: provides 0x%x, want 0x%x", i,
		      plug->instance_provides(st), cases[i].want);
		CHECK((cases[i].want & ~plug->provides) == 0,
		      "case %zu: more than the plugin's provides", i);
		/* commands for lines it does not have */
		if (!(cases[i].want & WK_PROVIDES_GATE))
			CHECK(command(st, WK_CMD_OPEN, 0, 0) == -ENOTSUP &&
			      command(st, WK_CMD_HOLD, 0, 1) == -ENOTSUP,
			      "case %zu: open without a relay", i);
		if (!(cases[i].want & WK_PROVIDES_INDICATOR))
			CHECK(command(st, WK_CMD_INDICATE, 0, WK_IND_ALLOW) ==
				      -ENOTSUP,
			      "case %zu: indicate without lights", i);
		/* not started yet */
		if (cases[i].want & WK_PROVIDES_GATE)
			CHECK(command(st, WK_CMD_OPEN, 0, 0) == -EAGAIN,
			      "case %zu: open before start", i);
		plug->destroy(st);
	}
}

/* The relay with fail = secure: closed = 0, pulses, extension, hold. */
static void test_relay_secure(void)
{
	const char *kv[] = { chip_kv, "relay=0", "pulse_ms=300", NULL };
	struct wk_instance inst = { "gate" };
	struct wk_health h;
	size_t cur = events_now(), mark;
	struct rec r;
	int64_t t0, t1, t2, t;
	char use[32];
	void *st;
	int lv, n;

	if (create(&inst, kv, &st) != 0) {
		CHECK(0, "create: %s", errbuf);
		return;
	}
	if (started(&inst, st, &cur) < 0)
		goto out;
	CHECK(wait_event(&inst, &cur, (struct want){ WK_EV_GATE_STATE, 0 },
			 1000, &r) == 0 && r.ev.gate_open == 0,
	      "the gate is reported closed at start");
	CHECK(drv.get(&drv, L_RELAY, &lv) == 0 && lv == 0,
	      "relay energised at start (fail = secure)");
	if (drv.usage(&drv, L_RELAY, use, sizeof(use)) == 0)
		CHECK(strcmp(use, "output") == 0, "relay line is %s", use);
	drv.changes(&drv, L_RELAY);

	/* a pulse of the configured length */
	t0 = mono_ns();
	CHECK(command(st, WK_CMD_OPEN, 0, 0) == 0, "open");
	CHECK(drv.wait_out(&drv, L_RELAY, 1, 1000, &t1) == 0, "relay on");
	CHECK(t1 - t0 < slack_ms * MS, "the open took %lld ms",
	      (long long)((t1 - t0) / MS));
	CHECK(wait_event(&inst, &cur, (struct want){ WK_EV_GATE_STATE, 0 },
			 1000, &r) == 0 && r.ev.gate_open == 1, "gate open");
	CHECK(drv.wait_out(&drv, L_RELAY, 0, 2000, &t2) == 0, "relay off");
	CHECK_AT(t2, t1, 300, "the pulse's end");
	CHECK(wait_event(&inst, &cur, (struct want){ WK_EV_GATE_STATE, 0 },
			 1000, &r) == 0 && r.ev.gate_open == 0, "gate closed");
	drv.changes(&drv, L_RELAY);

	/* a second open during a pulse extends it; the command's own
	 * pulse_ms wins over the configured one */
	CHECK(command(st, WK_CMD_OPEN, 400, 0) == 0, "open 400");
	CHECK(drv.wait_out(&drv, L_RELAY, 1, 1000, &t1) == 0, "relay on");
	sleep_ms(200);
	CHECK(command(st, WK_CMD_OPEN, 400, 0) == 0, "open again");
	CHECK(drv.wait_out(&drv, L_RELAY, 0, 2000, &t2) == 0, "relay off");
	CHECK_AT(t2, t1, 600, "the extended pulse's end");
	n = drv.changes(&drv, L_RELAY);
	CHECK(n == 2 || n == -ENOTSUP, "the relay changed %d times, want 2",
	      n);

	/* hold: open until released, a pulse inside changes nothing */
	CHECK(command(st, WK_CMD_HOLD, 0, 1) == 0, "hold");
	CHECK(drv.wait_out(&drv, L_RELAY, 1, 1000, &t1) == 0, "held open");
	drv.changes(&drv, L_RELAY);
	CHECK(command(st, WK_CMD_OPEN, 100, 0) == 0, "open in a hold");
	sleep_ms(500);
	CHECK(drv.get(&drv, L_RELAY, &lv) == 0 && lv == 1, "still held");
	n = drv.changes(&drv, L_RELAY);
	CHECK(n == 0 || n == -ENOTSUP, "the relay moved in a hold: %d", n);
	t = mono_ns();
	CHECK(command(st, WK_CMD_HOLD, 0, 0) == 0, "release the hold");
	CHECK(drv.wait_out(&drv, L_RELAY, 0, 1000, &t2) == 0, "closed");
	CHECK(t2 - t < slack_ms * MS, "the hold's end took %lld ms",
	      (long long)((t2 - t) / MS));
	/* the hold ends inside a pulse: the pulse runs out */
	CHECK(command(st, WK_CMD_HOLD, 0, 1) == 0, "hold");
	CHECK(drv.wait_out(&drv, L_RELAY, 1, 1000, &t1) == 0, "held");
	CHECK(command(st, WK_CMD_OPEN, 400, 0) == 0, "open");
	CHECK(command(st, WK_CMD_HOLD, 0, 0) == 0, "release");
	sleep_ms(200);
	CHECK(drv.get(&drv, L_RELAY, &lv) == 0 && lv == 1, "the pulse runs");
	CHECK(drv.wait_out(&drv, L_RELAY, 0, 2000, &t2) == 0, "then ends");
	CHECK_AT(t2, t1, 400, "the pulse after a hold");

	/* bad commands */
	CHECK(command(st, WK_CMD_OPEN, 600001, 0) == -EINVAL, "pulse too long");
	CHECK(command(st, WK_CMD_HOLD, 0, 2) == -EINVAL, "hold 2");
	CHECK(command(st, 99, 0, 0) == -ENOTSUP, "unknown command");

	CHECK(plug->health(st, &h) == 0, "health");
	CHECK(h.state == WK_HEALTH_OK, "state %u", h.state);
	CHECK(h.requests == 9, "requests %llu", (unsigned long long)h.requests);
	CHECK(h.heartbeat_ms > 0 && mono_ns() / MS - h.heartbeat_ms <= 1500,
	      "heartbeat %lld ms old",
	      (long long)(mono_ns() / MS - h.heartbeat_ms));
	CHECK(h.heartbeat_max_ms >= 1000, "heartbeat_max_ms %lld",
	      (long long)h.heartbeat_max_ms);

	/* stop in the middle of a pulse: de-energised, released */
	CHECK(command(st, WK_CMD_OPEN, 5000, 0) == 0, "open");
	CHECK(drv.wait_out(&drv, L_RELAY, 1, 1000, &t1) == 0, "open");
	mark = log_mark();
	plug->stop(st);
	if (drv.left_at(&drv, L_RELAY, 1000, &lv) != -ENOTSUP)
		CHECK(lv == 0, "fail = secure: relay left at %d", lv);
	CHECK(logged_since(mark, "the gate is left closed (fail = secure)"),
	      "the stop's log line");
	if (drv.usage(&drv, L_RELAY, use, sizeof(use)) == 0)
		CHECK(strcmp(use, "unused") == 0, "relay line %s after stop",
		      use);
out:
	plug->destroy(st);
}

/* fail = safe, active low: energised (closed) is physical 0. */
static void test_relay_safe(void)
{
	const char *kv[] = { chip_kv, "relay=0", "relay_active_low=yes",
			     "fail=safe", "pulse_ms=200", NULL };
	struct wk_instance inst = { "safe" };
	size_t cur = events_now(), mark;
	struct rec r;
	int64_t t1, t2;
	void *st;
	int lv;

	if (create(&inst, kv, &st) != 0) {
		CHECK(0, "create: %s", errbuf);
		return;
	}
	if (started(&inst, st, &cur) < 0)
		goto out;
	CHECK(wait_event(&inst, &cur, (struct want){ WK_EV_GATE_STATE, 0 },
			 1000, &r) == 0 && r.ev.gate_open == 0,
	      "closed at start");
	/* closed = energised = logical 1 = physical 0 (active low) */
	CHECK(drv.get(&drv, L_RELAY, &lv) == 0 && lv == 0,
	      "fail = safe, active low: closed is physical %d", lv);
	CHECK(command(st, WK_CMD_OPEN, 0, 0) == 0, "open");
	CHECK(drv.wait_out(&drv, L_RELAY, 1, 1000, &t1) == 0,
	      "open = de-energised = physical 1");
	CHECK(wait_event(&inst, &cur, (struct want){ WK_EV_GATE_STATE, 0 },
			 1000, &r) == 0 && r.ev.gate_open == 1, "gate open");
	CHECK(drv.wait_out(&drv, L_RELAY, 0, 1000, &t2) == 0, "closed again");
	CHECK_AT(t2, t1, 200, "the pulse's end");
	mark = log_mark();
	plug->stop(st);
	if (drv.left_at(&drv, L_RELAY, 1000, &lv) != -ENOTSUP)
		CHECK(lv == 1, "fail = safe: relay left at physical %d, want 1 (de-energised, active low)",
		      lv);
	CHECK(logged_since(mark, "the gate is left open (fail = safe)"),
	      "the stop's log line");
out:
	plug->destroy(st);
}

static int input_event(struct wk_instance *inst, size_t *cur, uint32_t role,
		       int64_t timeout_ms, struct rec *r)
{
	return wait_event(inst, cur, (struct want){ WK_EV_INPUT, role },
			  timeout_ms, r);
}

static void test_inputs(void)
{
	const char *kv[] = { chip_kv, "door=4", "door_debounce_ms=100",
			     "exit_button=5", "exit_button_active_low=yes",
			     "exit_button_bias=pull-up",
			     "exit_button_debounce_ms=100",
			     "fire_alarm=6", "fire_alarm_debounce_ms=0",
			     "override=7", NULL };
	struct wk_instance inst = { "inputs" };
	size_t cur = events_now(), c2;
	struct want any_input = { WK_EV_INPUT, 0 };
	struct rec r;
	int64_t t;
	void *st;

	/* the door is open before wicketd starts */
	CHECK(drv.set(&drv, L_DOOR, 1) == 0, "set door");
	CHECK(drv.set(&drv, L_FIRE, 0) == 0, "set fire");
	CHECK(drv.set(&drv, L_OVERRIDE, 0) == 0, "set override");
	if (create(&inst, kv, &st) != 0) {
		CHECK(0, "create: %s", errbuf);
		return;
	}
	if (started(&inst, st, &cur) < 0)
		goto out;
	/* initial levels, once each */
	CHECK(input_event(&inst, &cur, WK_INPUT_DOOR, 1000, &r) == 0 &&
	      r.ev.input.active == 1 && r.ev.input.initial == 1,
	      "door initially open");
	c2 = cur;
	CHECK(input_event(&inst, &cur, WK_INPUT_EXIT_BUTTON, 1000, &r) == 0 &&
	      r.ev.input.active == 0 && r.ev.input.initial == 1,
	      "exit button initially released (pull-up, active low)");
	cur = c2;
	CHECK(input_event(&inst, &cur, WK_INPUT_FIRE_ALARM, 1000, &r) == 0 &&
	      r.ev.input.active == 0 && r.ev.input.initial == 1,
	      "no fire alarm");
	cur = c2;
	CHECK(input_event(&inst, &cur, WK_INPUT_OVERRIDE, 1000, &r) == 0 &&
	      r.ev.input.active == 0 && r.ev.input.initial == 1,
	      "override off");
	sleep_ms(150);
	CHECK(count_events(&inst, &cur, any_input) == 0,
	      "one initial event per input");

	/* a bounce shorter than debounce_ms: nothing */
	CHECK(drv.bounce(&drv, L_DOOR, 0) == 0, "bounce");
	CHECK(input_event(&inst, &cur, 0, 400, &r) < 0,
	      "a bounce was reported: role %u active %d", r.ev.input.role,
	      r.ev.input.active);

	/* a settled change: one event, after the debounce time */
	t = mono_ns();
	CHECK(drv.set(&drv, L_DOOR, 0) == 0, "close the door");
	CHECK(input_event(&inst, &cur, WK_INPUT_DOOR, 2000, &r) == 0 &&
	      r.ev.input.active == 0 && r.ev.input.initial == 0,
	      "door closed");
	CHECK(r.at_ns - t >= 95 * MS && r.at_ns - t <= (100 + slack_ms) * MS,
	      "the door's change came after %lld ms, want 100",
	      (long long)((r.at_ns - t) / MS));
	sleep_ms(200);
	CHECK(count_events(&inst, &cur, any_input) == 0, "one event only");

	/* chatter that ends on the other level: one event */
	for (int i = 0; i < 5; i++)
		CHECK(drv.set(&drv, L_DOOR, i % 2 == 0) == 0, "chatter");
	CHECK(input_event(&inst, &cur, WK_INPUT_DOOR, 2000, &r) == 0 &&
	      r.ev.input.active == 1, "door open after chatter");
	sleep_ms(250);
	CHECK(count_events(&inst, &cur, any_input) == 0,
	      "chatter gave more than one event");

	/* active low with pull-up: pulling the line low presses it */
	CHECK(drv.set(&drv, L_EXIT, 0) == 0, "press");
	CHECK(input_event(&inst, &cur, WK_INPUT_EXIT_BUTTON, 2000, &r) == 0 &&
	      r.ev.input.active == 1, "exit button pressed");
	CHECK(drv.set(&drv, L_EXIT, 1) == 0, "release");
	CHECK(input_event(&inst, &cur, WK_INPUT_EXIT_BUTTON, 2000, &r) == 0 &&
	      r.ev.input.active == 0, "exit button released");

	/* no debounce: at once */
	t = mono_ns();
	CHECK(drv.set(&drv, L_FIRE, 1) == 0, "fire");
	CHECK(input_event(&inst, &cur, WK_INPUT_FIRE_ALARM, 2000, &r) == 0 &&
	      r.ev.input.active == 1, "fire alarm");
	CHECK(r.at_ns - t <= slack_ms * MS, "the fire alarm took %lld ms",
	      (long long)((r.at_ns - t) / MS));
	CHECK(drv.set(&drv, L_FIRE, 0) == 0, "fire over");
	CHECK(input_event(&inst, &cur, WK_INPUT_FIRE_ALARM, 2000, &r) == 0 &&
	      r.ev.input.active == 0, "fire alarm cleared");

	/* the default debounce (20 ms) */
	CHECK(drv.set(&drv, L_OVERRIDE, 1) == 0, "key");
	CHECK(input_event(&inst, &cur, WK_INPUT_OVERRIDE, 2000, &r) == 0 &&
	      r.ev.input.active == 1, "override key turned");
	CHECK(drv.set(&drv, L_OVERRIDE, 0) == 0, "key back");
	CHECK(input_event(&inst, &cur, WK_INPUT_OVERRIDE, 2000, &r) == 0 &&
	      r.ev.input.active == 0, "override key back");
	plug->stop(st);
out:
	plug->destroy(st);
}

/* DENY's timeline on the red light and the buzzer, then a pattern
 * replaced by another one. */
static void test_indicator(void)
{
	const char *kv[] = { chip_kv, "green=1", "red=2", "buzzer=3", NULL };
	static const struct {
		unsigned line;
		int level;
		int at_ms;
	} deny[] = {
		{ L_BUZZER, 0, 100 }, { L_BUZZER, 1, 200 }, { L_BUZZER, 0, 300 },
		{ L_BUZZER, 1, 400 }, { L_BUZZER, 0, 500 }, { L_RED, 0, 2000 },
	};
	struct wk_instance inst = { "lights" };
	size_t cur = events_now();
	int64_t t0, tr, t;
	void *st;
	int lv, n;

	if (create(&inst, kv, &st) != 0) {
		CHECK(0, "create: %s", errbuf);
		return;
	}
	if (started(&inst, st, &cur) < 0)
		goto out;
	for (unsigned l = L_GREEN; l <= L_BUZZER; l++)
		CHECK(drv.get(&drv, l, &lv) == 0 && lv == 0,
		      "line %u on at start", l);
	CHECK(command(st, WK_CMD_INDICATE, 0, WK_IND_DENY) == 0, "deny");
	CHECK(drv.wait_out(&drv, L_BUZZER, 1, 1000, &t0) == 0, "beep");
	CHECK(drv.wait_out(&drv, L_RED, 1, 1000, &tr) == 0, "red");
	CHECK(tr - t0 < 5 * MS && t0 - tr < 5 * MS, "red and buzzer apart");
	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "line %u to %d", deny[i].line,
			 deny[i].level);
		if (drv.wait_out(&drv, deny[i].line, deny[i].level, 3000, &t) < 0) {
			CHECK(0, "%s: never", what);
			break;
		}
		CHECK_AT(t, t0, deny[i].at_ms, what);
	}
	CHECK(drv.get(&drv, L_GREEN, &lv) == 0 && lv == 0, "green stayed off");
	n = drv.changes(&drv, L_GREEN);
	CHECK(n == 0 || n == -ENOTSUP, "green moved %d times", n);

	/* ALARM replaced by ALLOW: red off at once, green on */
	CHECK(command(st, WK_CMD_INDICATE, 0, WK_IND_ALARM) == 0, "alarm");
	CHECK(drv.wait_out(&drv, L_RED, 1, 1000, &t) == 0, "alarm red");
	sleep_ms(60);
	t0 = mono_ns();
	CHECK(command(st, WK_CMD_INDICATE, 0, WK_IND_ALLOW) == 0, "allow");
	CHECK(drv.wait_out(&drv, L_GREEN, 1, 1000, &t) == 0, "green");
	CHECK(t - t0 < slack_ms * MS, "the new pattern took %lld ms",
	      (long long)((t - t0) / MS));
	CHECK(drv.wait_out(&drv, L_RED, 0, 1000, &t) == 0, "red off");
	/* OFF: everything off at once */
	CHECK(command(st, WK_CMD_INDICATE, 0, WK_IND_OFF) == 0, "off");
	CHECK(drv.wait_out(&drv, L_GREEN, 0, 1000, &t) == 0, "green off");
	CHECK(drv.wait_out(&drv, L_BUZZER, 0, 1000, &t) == 0, "buzzer off");
	CHECK(command(st, WK_CMD_INDICATE, 0, 17) == -EINVAL, "indicate 17");
	plug->stop(st);
out:
	plug->destroy(st);
}

/* A line another instance holds: a fault, retried every 5 s, then the
 * recovery with the inputs' levels again. */
static void test_busy_line(void)
{
	const char *kv_a[] = { chip_kv, "door=4", NULL };
	const char *kv_b[] = { chip_kv, "relay=0", "door=4", NULL };
	struct wk_instance ia = { "holder" }, ib = { "late" };
	size_t ca = events_now(), cb = events_now();
	struct wk_health h;
	struct rec r;
	int64_t t;
	void *a, *b;
	int lv;

	CHECK(drv.set(&drv, L_DOOR, 1) == 0, "door open");
	if (create(&ia, kv_a, &a) != 0 || create(&ib, kv_b, &b) != 0) {
		CHECK(0, "create: %s", errbuf);
		return;
	}
	if (started(&ia, a, &ca) < 0)
		goto out;
	CHECK(plug->start(b) == 0, "start");
	CHECK(wait_event(&ib, &cb, (struct want){ WK_EV_DEVICE_FAULT, 0 },
			 3000, &r) == 0, "no fault for a busy line");
	CHECK(strstr(r.ev.message, "door = 4") && strstr(r.ev.message, "busy"),
	      "fault message: %s", r.ev.message);
	CHECK(plug->health(b, &h) == 0 && h.state == WK_HEALTH_FAULT &&
	      h.faults == 1 && h.link_errors >= 1 && h.retry_ms == 5000 &&
	      strstr(h.last_error, "busy"),
	      "health in a fault: state %u faults %llu link_errors %llu %s",
	      h.state, (unsigned long long)h.faults,
	      (unsigned long long)h.link_errors, h.last_error);
	/* its relay was let go with the rest */
	CHECK(drv.get(&drv, L_RELAY, &lv) == 0 && lv == 0, "relay released");
	/* commands are taken in a fault and apply on recovery */
	CHECK(command(b, WK_CMD_HOLD, 0, 1) == 0, "hold in a fault");
	plug->stop(a);
	t = mono_ns();
	CHECK(wait_event(&ib, &cb, (struct want){ WK_EV_DEVICE_OK, 0 }, 7000,
			 &r) == 0, "no recovery");
	CHECK(r.at_ns - t <= (5000 + slack_ms) * MS, "recovered after %lld ms",
	      (long long)((r.at_ns - t) / MS));
	CHECK(wait_event(&ib, &cb, (struct want){ WK_EV_GATE_STATE, 0 },
			 1000, &r) == 0 && r.ev.gate_open == 1,
	      "the hold applies on recovery");
	CHECK(input_event(&ib, &cb, WK_INPUT_DOOR, 1000, &r) == 0 &&
	      r.ev.input.initial == 1 && r.ev.input.active == 1,
	      "the door's level after recovery");
	CHECK(drv.get(&drv, L_RELAY, &lv) == 0 && lv == 1, "relay held open");
	CHECK(plug->health(b, &h) == 0 && h.state == WK_HEALTH_OK &&
	      h.faults == 1, "health after recovery");
	plug->stop(b);
	CHECK(drv.set(&drv, L_DOOR, 0) == 0, "door closed");
out:
	plug->destroy(b);
	plug->destroy(a);
}

/* sim only: a chip whose socket cannot be made yet (its directory is
 * missing) is a fault until it can. */
static void test_sim_retry(void)
{
	char dir[128], kvchip[200];
	const char *kv[] = { kvchip, "green=1", NULL };
	struct wk_instance inst = { "later" };
	size_t cur = events_now();
	struct rec r;
	void *st;

	snprintf(dir, sizeof(dir), "%s/later", tmpdir);
	snprintf(kvchip, sizeof(kvchip), "chip=sim:%s/gpio.sock", dir);
	if (create(&inst, kv, &st) != 0) {
		CHECK(0, "create: %s", errbuf);
		return;
	}
	CHECK(plug->start(st) == 0, "start");
	CHECK(wait_event(&inst, &cur, (struct want){ WK_EV_DEVICE_FAULT, 0 },
			 3000, &r) == 0 &&
	      strstr(r.ev.message, "No such file or directory"),
	      "fault: %s", r.ev.message);
	CHECK(mkdir(dir, 0700) == 0, "mkdir");
	CHECK(wait_event(&inst, &cur, (struct want){ WK_EV_DEVICE_OK, 0 },
			 7000, &r) == 0, "the chip came up");
	plug->stop(st);
	plug->destroy(st);
	CHECK(rmdir(dir) == 0, "the socket was left in %s", dir);
}

static int load_plugin(const char *argv0)
{
	char path[PATH_MAX], self[PATH_MAX], lib[PATH_MAX + 32];
	const char *env = getenv("WICKET_GPIO_PLUGIN");
	void *h;
	ssize_t n;
	char *slash;

	(void)argv0;
	if (env != NULL && env[0] != '\0') {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return -1;
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash == NULL)
			return -1;
		*slash = '\0';
		snprintf(path, sizeof(path), "%.4000s/../plugins/gpio.so", self);
	}
	/* The line library first, by its path, from beside the plugin: the
	 * plugin then finds it loaded by its soname, and ld.so does not read
	 * the plugin's $ORIGIN runpath, whose parsing valgrind takes for an
	 * over-read (tests/valgrind.supp; tests/run-unit does not use it). */
	slash = strrchr(path, '/');
	snprintf(lib, sizeof(lib), "%.*s/libwicket-gpio.so",
		 slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (dlopen(lib, RTLD_NOW) == NULL)
		fprintf(stderr, "gpio_plugin_test: %s\n", dlerror());
	h = dlopen(path, RTLD_NOW);
	if (h == NULL) {
		fprintf(stderr, "gpio_plugin_test: %s\n", dlerror());
		return -1;
	}
	plug_handle = h;
	plug = dlsym(h, WICKET_PLUGIN_SYMBOL);
	if (plug == NULL || plug->abi_major != WICKET_ABI_MAJOR ||
	    plug->instance_provides == NULL ||
	    strcmp(plug->name, "gpio") != 0) {
		fprintf(stderr, "gpio_plugin_test: %s is not the gpio plugin\n",
			path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
		int sim_only;
	} tests[] = {
		{ "config errors", test_config_errors, 0 },
		{ "instance_provides", test_provides, 0 },
		{ "relay, fail = secure", test_relay_secure, 0 },
		{ "relay, fail = safe, active low", test_relay_safe, 0 },
		{ "inputs and debounce", test_inputs, 0 },
		{ "indicator patterns", test_indicator, 0 },
		{ "busy line: fault and recovery", test_busy_line, 0 },
		{ "sim chip made late: retry", test_sim_retry, 1 },
	};
	int failed_tests = 0;

	(void)argc;
	verbose = getenv("WICKET_TEST_VERBOSE") != NULL;
	if (getenv("VALGRIND") != NULL && getenv("VALGRIND")[0] != '\0')
		slack_ms = 300;
	if (getenv("WICKET_TEST_SLACK_MS") != NULL)
		slack_ms = strtol(getenv("WICKET_TEST_SLACK_MS"), NULL, 10);
	if (load_plugin(argv[0]) < 0)
		return 2;
	if (driver_setup() < 0) {
		fprintf(stderr, "gpio_plugin_test: the %s driver cannot start\n",
			drv.name ? drv.name : "?");
		return 2;
	}
	/* the kernel's chip runs in a VM without KVM: slower to answer */
	if (strcmp(drv.name, "sysfs") == 0 && getenv("VALGRIND") == NULL &&
	    getenv("WICKET_TEST_SLACK_MS") == NULL)
		slack_ms = 150;
	if (strcmp(drv.name, "sysfs") == 0)
		early_ms = 20;
	snprintf(chip_kv, sizeof(chip_kv), "chip=%s", drv.chip);
	printf("gpio plugin test: %s driver, chip %s\n", drv.name, drv.chip);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int before = failures;

		if (tests[i].sim_only && strcmp(drv.name, "sim") != 0) {
			printf("  skip  %s (simulator only)\n", tests[i].name);
			continue;
		}
		tests[i].fn();
		printf("  %s  %s\n", failures == before ? "ok  " : "FAIL",
		       tests[i].name);
		if (failures != before)
			failed_tests++;
	}
	if (strcmp(drv.name, "sim") == 0)
		sim_teardown(&drv);
	printf("gpio plugin test: %d of %zu failed\n", failed_tests,
	       sizeof(tests) / sizeof(tests[0]));
	return failures ? 1 : 0;
}
