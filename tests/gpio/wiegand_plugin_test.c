/*
 * wiegand_plugin_test: the wiegand plugin (build/plugins/wiegand.so) as
 * wicketd sees it, through dlopen and a host API that records what the
 * plugin says, against a GPIO chip driven from outside.
 *
 * Two drivers clock the frames, the same cases for both:
 *
 *   sim     always: the library's simulated chip ("sim:PATH"), through its
 *           socket (`frame D0 D1 BITS INTERVAL WIDTH`, `set OFFSET 0|1`);
 *   sysfs   when WICKET_GPIO_CHIP (gpiochipN) and WICKET_GPIO_SYSFS (the
 *           gpio-sim chip's device directory, with sim_gpioN/pull) are set,
 *           as `make check-vm` does inside its VM: the kernel's gpio-sim
 *           driver, a frame clocked by writing pull-down / pull-up to the
 *           two lines' pull files, paced with clock_nanosleep.
 *
 * Checked for each: a good 26-bit and a good 34-bit frame give their
 * credential (and format = number its number); a parity error, a short
 * frame and noise give no credential but a warning naming the fault and
 * a count in the health (bad_values, last_error), while good frames count
 * as responses; the worker's heartbeat is fresh.  With the sim driver
 * also: the configuration checks (every key, its errors), a line that
 * cannot be had (a fault event, FAULT health, link_errors, and recovery
 * when it frees up), and a stop with a frame half received.
 *
 *   wiegand_plugin_test [PLUGIN]   (default: ../plugins/wiegand.so or
 *                                   ../../plugins/wiegand.so next to the
 *                                   program; libwicket-gpio.so is taken
 *                                   from beside it)
 *
 * WICKET_TEST_VERBOSE=1 prints the plugin's log lines.  Exit 0 when every
 * check passed, 1 otherwise.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <wicket/plugin.h>

#define MAX_REC 256
#define TEXT_MAX 512
#define D0 6
#define D1 7

static int failures, checks, verbose;

#define CHECK(cond, ...) check_((cond), __LINE__, __VA_ARGS__)

static void check_(int ok, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check_(int ok, int line, const char *fmt, ...)
{
	va_list ap;

	checks++;
	if (ok && !verbose)
		return;
	printf("%s (line %d): ", ok ? "ok" : "FAIL", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		failures++;
}

/* Copy src into dst[len], cut if it must be. */
static void scopy(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* --- the recording host ------------------------------------------------ */

struct wk_instance {
	const char *name;
};

struct record {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t n_ev, n_log, n_conf;
	struct wk_event ev[MAX_REC];
	int log_level[MAX_REC];
	char log[MAX_REC][TEXT_MAX];
	char conf[MAX_REC][TEXT_MAX];
};

static struct record rec = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

static void reset(void)
{
	pthread_mutex_lock(&rec.mu);
	rec.n_ev = rec.n_log = rec.n_conf = 0;
	pthread_mutex_unlock(&rec.mu);
}

static void host_log(struct wk_instance *inst, int level, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

static void host_log(struct wk_instance *inst, int level, const char *fmt,
		     ...)
{
	char buf[TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (verbose)
		printf("  log %d %s: %s\n", level, inst->name, buf);
	pthread_mutex_lock(&rec.mu);
	if (rec.n_log < MAX_REC) {
		rec.log_level[rec.n_log] = level;
		snprintf(rec.log[rec.n_log++], TEXT_MAX, "%s", buf);
	}
	pthread_cond_broadcast(&rec.cv);
	pthread_mutex_unlock(&rec.mu);
}

static int host_conf_error(struct wk_instance *inst,
			   const struct wk_conf_item *item, const char *fmt,
			   ...) __attribute__((format(printf, 3, 4)));

static int host_conf_error(struct wk_instance *inst,
			   const struct wk_conf_item *item, const char *fmt,
			   ...)
{
	char buf[TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (verbose)
		printf("  conf_error %s line %d: %s\n", inst->name,
		       item ? item->line : 0, buf);
	pthread_mutex_lock(&rec.mu);
	if (rec.n_conf < MAX_REC) {
		char *c = rec.conf[rec.n_conf++];
		int w = snprintf(c, TEXT_MAX, "test.conf:%d: ",
				 item ? item->line : 0);

		scopy(c + w, TEXT_MAX - (size_t)w, buf);
	}
	pthread_mutex_unlock(&rec.mu);
	return -EINVAL;
}

static int host_emit(struct wk_instance *inst, const struct wk_event *ev)
{
	if (verbose)
		printf("  event %s: type %u cred '%s' msg '%s'\n", inst->name,
		       ev->type, ev->credential, ev->message);
	pthread_mutex_lock(&rec.mu);
	if (rec.n_ev < MAX_REC)
		rec.ev[rec.n_ev++] = *ev;
	pthread_cond_broadcast(&rec.cv);
	pthread_mutex_unlock(&rec.mu);
	return 0;
}

static int host_emit_code(struct wk_instance *inst, const struct wk_event *ev,
			  const char *code, size_t len)
{
	struct wk_event e = *ev;

	if (len == 0 || len >= sizeof(e.credential))
		return -EMSGSIZE;
	memcpy(e.credential, code, len);
	e.credential[len] = '\0';
	return host_emit(inst, &e);
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

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the recorded events of type (or log lines containing text,
 * when type is 0) number at least want, for up to ms.  The count. */
static size_t wait_for(uint32_t type, const char *text, size_t want, int ms)
{
	int64_t end = mono_ms() + ms;
	size_t n;

	pthread_mutex_lock(&rec.mu);
	for (;;) {
		n = 0;
		if (type != 0) {
			for (size_t i = 0; i < rec.n_ev; i++)
				n += rec.ev[i].type == type;
		} else {
			for (size_t i = 0; i < rec.n_log; i++)
				n += strstr(rec.log[i], text) != NULL;
		}
		if (n >= want || mono_ms() >= end)
			break;
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&rec.cv, &rec.mu, &ts);
		}
	}
	pthread_mutex_unlock(&rec.mu);
	return n;
}

/* The credential of the last credential event, "" if none; their count. */
static size_t credentials(char *last, size_t len)
{
	size_t n = 0;

	last[0] = '\0';
	pthread_mutex_lock(&rec.mu);
	for (size_t i = 0; i < rec.n_ev; i++) {
		if (rec.ev[i].type != WK_EV_CREDENTIAL)
			continue;
		n++;
		snprintf(last, len, "%s", rec.ev[i].credential);
	}
	pthread_mutex_unlock(&rec.mu);
	return n;
}

/* The last warning containing text, copied to out: 1 if there is one. */
static int warning_with(const char *text, char *out, size_t len)
{
	int found = 0;

	pthread_mutex_lock(&rec.mu);
	for (size_t i = 0; i < rec.n_log; i++) {
		if (rec.log_level[i] == WK_LOG_WARNING &&
		    strstr(rec.log[i], text) != NULL) {
			snprintf(out, len, "%s", rec.log[i]);
			found = 1;
		}
	}
	pthread_mutex_unlock(&rec.mu);
	return found;
}

static int conf_error_with(const char *text)
{
	int found = 0;

	pthread_mutex_lock(&rec.mu);
	for (size_t i = 0; i < rec.n_conf; i++)
		found |= strstr(rec.conf[i], text) != NULL;
	pthread_mutex_unlock(&rec.mu);
	return found;
}

/* --- the plugin -------------------------------------------------------- */

static const struct wk_plugin *plug;

static int load_plugin(const char *argv0, const char *arg)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], lib[PATH_MAX + 96];
	const char *slash;
	void *h = NULL;

	if (arg != NULL) {
		snprintf(path, sizeof(path), "%s", arg);
	} else {
		slash = strrchr(argv0, '/');
		snprintf(dir, sizeof(dir), "%.*s",
			 slash ? (int)(slash - argv0) : 1,
			 slash ? argv0 : ".");
		/* $(BUILD)/tests/test_wiegand_plugin or
		 * $(BUILD)/tests/gpio/wiegand_plugin_test */
		snprintf(path, sizeof(path), "%s/../plugins/wiegand.so", dir);
		if (access(path, F_OK) != 0)
			snprintf(path, sizeof(path),
				 "%s/../../plugins/wiegand.so", dir);
	}
	/* The line library first, by its path from beside the plugin: the
	 * plugin then finds it by its soname and ld.so never expands the
	 * plugin's $ORIGIN runpath, whose parsing valgrind takes for an
	 * over-read (tests/valgrind.supp, which tests/run-unit does not
	 * use). */
	slash = strrchr(path, '/');
	snprintf(lib, sizeof(lib), "%.*s/libwicket-gpio.so",
		 slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (dlopen(lib, RTLD_NOW) == NULL)
		printf("wiegand_plugin_test: %s\n", dlerror());
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		printf("FAIL: cannot load %s: %s\n", path, dlerror());
		return -1;
	}
	plug = dlsym(h, WICKET_PLUGIN_SYMBOL);
	if (plug == NULL) {
		printf("FAIL: %s has no %s\n", path, WICKET_PLUGIN_SYMBOL);
		return -1;
	}
	return 0;
}

/* A config from "key=value" strings, one item each at lines 2, 3 ... */
struct conf {
	struct wk_conf c;
	struct wk_conf_item items[24];
	char kv[24][2][128];
};

static void make_conf(struct conf *cf, const char *name,
		      const char *const *kv)
{
	size_t n = 0;

	memset(cf, 0, sizeof(*cf));
	for (; kv[n] != NULL && n < 24; n++) {
		const char *eq = strchr(kv[n], '=');

		snprintf(cf->kv[n][0], sizeof(cf->kv[n][0]), "%.*s",
			 (int)(eq - kv[n]), kv[n]);
		snprintf(cf->kv[n][1], sizeof(cf->kv[n][1]), "%s", eq + 1);
		cf->items[n].key = cf->kv[n][0];
		cf->items[n].value = cf->kv[n][1];
		cf->items[n].file = "test.conf";
		cf->items[n].line = (int)n + 2;
	}
	cf->c.name = name;
	cf->c.file = "test.conf";
	cf->c.line = 1;
	cf->c.n_items = n;
	cf->c.items = cf->items;
}

static struct wk_instance inst_main = { "reader1" };
static struct wk_instance inst_other = { "reader2" };

static void *create(struct wk_instance *inst, const char *const *kv)
{
	struct conf cf;
	void *st = NULL;
	int r;

	make_conf(&cf, inst->name, kv);
	r = plug->create(&host, inst, &cf.c, &st);
	CHECK(r == 0, "create %s: %d (%s)", inst->name, r,
	      rec.n_conf ? rec.conf[rec.n_conf - 1] : "");
	return r == 0 ? st : NULL;
}

static void health(void *st, struct wk_health *h)
{
	memset(h, 0, sizeof(*h));
	CHECK(plug->health(st, h) == 0, "health");
}

/* --- the drivers ------------------------------------------------------- */

struct driver {
	const char *name;
	char chip[300];		/* the plugin's chip key */
	/* clock bits (a string of 0/1) on D0/D1: interval, width in us */
	int (*frame)(struct driver *d, const char *bits, unsigned iv_us,
		     unsigned width_us);
	/* pulse both lines at once (noise) */
	int (*both)(struct driver *d);
	int (*prepare)(struct driver *d);	/* after the plugin started */
	void (*done)(struct driver *d);
	/* sim */
	char sock[200];
	int fd;
	/* sysfs */
	const char *sysfs;
};

/* One command and its reply; 0 if the reply is "ok". */
static int sim_cmd(struct driver *d, const char *cmd, char *reply, size_t len)
{
	char buf[512];
	size_t n = 0;
	int l = snprintf(buf, sizeof(buf), "%s\n", cmd);

	if (write(d->fd, buf, (size_t)l) != l)
		return -errno;
	for (;;) {
		ssize_t r = read(d->fd, buf + n, 1);

		if (r <= 0)
			return -EIO;
		if (buf[n] == '\n')
			break;
		if (n + 2 < sizeof(buf))
			n++;
	}
	buf[n] = '\0';
	if (reply != NULL)
		scopy(reply, len, buf);
	return strcmp(buf, "ok") == 0 ? 0 : -EPROTO;
}

static int sim_prepare(struct driver *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	scopy(sa.sun_path, sizeof(sa.sun_path), d->sock);
	d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->fd < 0 || connect(d->fd, (struct sockaddr *)&sa,
				 sizeof(sa)) < 0) {
		printf("FAIL: connect %s: %s\n", d->sock, strerror(errno));
		return -1;
	}
	return 0;
}

static void sim_done(struct driver *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static int sim_frame(struct driver *d, const char *bits, unsigned iv,
		     unsigned width)
{
	char cmd[200], reply[200];
	int r;

	snprintf(cmd, sizeof(cmd), "frame %d %d %s %u %u", D0, D1, bits, iv,
		 width);
	r = sim_cmd(d, cmd, reply, sizeof(reply));
	CHECK(r == 0, "sim: '%s': %s", cmd, reply);
	return r;
}

static int sim_both(struct driver *d)
{
	char reply[200];
	int r = 0;

	r |= sim_cmd(d, "set 6 0", reply, sizeof(reply));
	r |= sim_cmd(d, "set 7 0", reply, sizeof(reply));
	r |= sim_cmd(d, "set 6 1", reply, sizeof(reply));
	r |= sim_cmd(d, "set 7 1", reply, sizeof(reply));
	CHECK(r == 0, "sim: set both lines low and high: %s", reply);
	return r;
}

static int sysfs_pull(struct driver *d, int line, int up)
{
	char path[512];
	const char *v = up ? "pull-up" : "pull-down";
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/sim_gpio%d/pull", d->sysfs, line);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, v, strlen(v)) != (ssize_t)strlen(v))
		r = -errno;
	close(fd);
	return r;
}

static void sleep_until(struct timespec *t, long ns)
{
	t->tv_nsec += ns;
	while (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) ==
	       EINTR)
		;
}

static int sysfs_frame(struct driver *d, const char *bits, unsigned iv,
		       unsigned width)
{
	struct timespec t;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &t);
	for (size_t i = 0; bits[i] != '\0' && r == 0; i++) {
		struct timespec start = t;
		int line = bits[i] == '1' ? D1 : D0;

		r = sysfs_pull(d, line, 0);
		if (r == 0) {
			sleep_until(&t, (long)width * 1000);
			r = sysfs_pull(d, line, 1);
		}
		t = start;
		sleep_until(&t, (long)iv * 1000);
	}
	CHECK(r == 0, "sysfs: clocking %s: %s", bits, strerror(-r));
	return r;
}

static int sysfs_both(struct driver *d)
{
	int r = sysfs_pull(d, D0, 0);

	if (r == 0)
		r = sysfs_pull(d, D1, 0);
	usleep(100);
	if (r == 0)
		r = sysfs_pull(d, D0, 1);
	if (r == 0)
		r = sysfs_pull(d, D1, 1);
	CHECK(r == 0, "sysfs: both lines low and high: %s", strerror(-r));
	return r;
}

static int sysfs_prepare(struct driver *d)
{
	/* idle high, whatever the plugin's bias made of them */
	int r = sysfs_pull(d, D0, 1);

	if (r == 0)
		r = sysfs_pull(d, D1, 1);
	CHECK(r == 0, "sysfs: D0 and D1 pulled up: %s", strerror(-r));
	return r;
}

static void sysfs_done(struct driver *d)
{
	(void)d;
}

/* --- the cases --------------------------------------------------------- */

/* Bits of a good frame by the book (docs/wiegand.md). */
static void frame_bits(unsigned nbits, unsigned long fac, unsigned long card,
		       char *out)
{
	unsigned half = (nbits - 2) / 2, fb = nbits == 26 ? 8 : 16;
	int a = 0, b = 0;

	for (unsigned i = 0; i < fb; i++)
		out[1 + i] = (fac >> (fb - 1 - i)) & 1 ? '1' : '0';
	for (unsigned i = 0; i < 16; i++)
		out[1 + fb + i] = (card >> (15 - i)) & 1 ? '1' : '0';
	for (unsigned i = 1; i <= half; i++)
		a += out[i] == '1';
	for (unsigned i = half + 1; i <= 2 * half; i++)
		b += out[i] == '1';
	out[0] = a % 2 ? '1' : '0';
	out[nbits - 1] = b % 2 ? '0' : '1';
	out[nbits] = '\0';
}

/* The timing a driver clocks with, and the decoder's gap for it: the
 * sysfs driver is slow (a VM without KVM), so it gets room. */
struct pace {
	unsigned iv_us, width_us;
	const char *gap_ms;
	int wait_ms;
};

/* A good frame: its credential comes, once. */
static void good_frame(struct driver *d, const struct pace *p, unsigned nbits,
		       unsigned long fac, unsigned long card, const char *want)
{
	char bits[70], got[WK_CREDENTIAL_MAX];
	size_t before = credentials(got, sizeof(got)), n;

	frame_bits(nbits, fac, card, bits);
	if (d->frame(d, bits, p->iv_us, p->width_us) < 0)
		return;
	n = wait_for(WK_EV_CREDENTIAL, NULL, before + 1, p->wait_ms);
	CHECK(n == before + 1, "%s: %u-bit %lu:%lu gives a credential "
	      "(%zu credential events, want %zu)", d->name, nbits, fac, card,
	      n, before + 1);
	credentials(got, sizeof(got));
	CHECK(strcmp(got, want) == 0, "%s: %u-bit %lu:%lu: credential '%s', "
	      "want '%s'", d->name, nbits, fac, card, got, want);
}

/* A bad frame: a warning with text, no credential. */
static void bad_frame(struct driver *d, const struct pace *p,
		      const char *what, const char *bits, unsigned width,
		      const char *text)
{
	char got[WK_CREDENTIAL_MAX], line[TEXT_MAX];
	size_t before = credentials(got, sizeof(got));
	size_t warned = wait_for(0, text, 0, 0);

	if (bits != NULL) {
		if (d->frame(d, bits, p->iv_us, width) < 0)
			return;
	} else if (d->both(d) < 0) {
		return;
	}
	CHECK(wait_for(0, text, warned + 1, p->wait_ms) == warned + 1,
	      "%s: %s: a log line with '%s'", d->name, what, text);
	CHECK(warning_with(text, line, sizeof(line)),
	      "%s: %s: it is a warning: '%s'", d->name, what, line);
	/* nothing more may come of it */
	usleep(100 * 1000);
	CHECK(credentials(got, sizeof(got)) == before,
	      "%s: %s: no credential", d->name, what);
}

static void run_frames(struct driver *d)
{
	const struct pace sim_pace = { 2000, 50, "25", 2000 };
	const struct pace vm_pace = { 20000, 2000, "400", 10000 };
	const struct pace *p = d->sysfs ? &vm_pace : &sim_pace;
	const char *kv[] = {
		"chip=", "d0=6", "d1=7", "gap_ms=", "fail=secure", NULL,
	};
	char chip_kv[320], gap_kv[32], bits[70];
	struct wk_health h;
	void *st;

	snprintf(chip_kv, sizeof(chip_kv), "chip=%s", d->chip);
	snprintf(gap_kv, sizeof(gap_kv), "gap_ms=%s", p->gap_ms);
	kv[0] = chip_kv;
	kv[3] = gap_kv;
	reset();
	st = create(&inst_main, kv);
	if (st == NULL)
		return;
	CHECK(plug->instance_provides(st) == WK_PROVIDES_CREDENTIAL,
	      "%s: provides a credential", d->name);
	CHECK(plug->start(st) == 0, "%s: start", d->name);
	CHECK(wait_for(WK_EV_DEVICE_OK, NULL, 1, 5000) == 1,
	      "%s: DEVICE_OK once the lines are requested", d->name);
	health(st, &h);
	CHECK(h.state == WK_HEALTH_OK, "%s: health OK (%u)", d->name, h.state);
	if (d->prepare(d) < 0)
		goto out;

	good_frame(d, p, 26, 123, 45678, "123:45678");
	good_frame(d, p, 34, 57005, 48879, "57005:48879");
	good_frame(d, p, 26, 0, 0, "0:0");

	frame_bits(26, 123, 45678, bits);
	bits[5] = bits[5] == '1' ? '0' : '1';
	bad_frame(d, p, "parity error", bits, p->width_us, "(parity)");
	bad_frame(d, p, "short frame", "01101", p->width_us, "(length)");
	frame_bits(26, 1, 2, bits);
	bits[25] = '\0';
	bad_frame(d, p, "25 of 26 bits", bits, p->width_us,
		  "25-bit frame");
	bad_frame(d, p, "pulses on both lines", NULL, 0, "(noise)");
	if (d->sysfs == NULL) {
		/* pulses narrower than min_width_us (10) */
		bad_frame(d, p, "2 us pulses", "0101", 2, "wide (minimum");
		/* pulses closer than min_interval_us (100): 60 us apart */
		if (sim_frame(d, "0011", 60, 20) == 0)
			CHECK(wait_for(0, "apart (minimum", 1, p->wait_ms) ==
			      1, "%s: pulses 60 us apart are noise", d->name);
	}
	/* and the reader still reads */
	good_frame(d, p, 26, 255, 65535, "255:65535");

	health(st, &h);
	CHECK(h.responses == 4, "%s: health responses %llu, want 4 good "
	      "frames", d->name, (unsigned long long)h.responses);
	CHECK(h.bad_values == (d->sysfs ? 4u : 6u),
	      "%s: health bad_values %llu, want %u", d->name,
	      (unsigned long long)h.bad_values, d->sysfs ? 4u : 6u);
	CHECK(h.last_error[0] != '\0', "%s: last_error '%s'", d->name,
	      h.last_error);
	CHECK(h.heartbeat_ms > 0 && mono_ms() - h.heartbeat_ms <= 1500,
	      "%s: heartbeat %lld ms old", d->name,
	      (long long)(mono_ms() - h.heartbeat_ms));
	CHECK(h.heartbeat_max_ms > 0, "%s: heartbeat_max_ms %lld", d->name,
	      (long long)h.heartbeat_max_ms);
	CHECK(h.state == WK_HEALTH_OK && h.faults == 0,
	      "%s: still OK, no fault spell", d->name);
	/* every credential event well formed */
	pthread_mutex_lock(&rec.mu);
	for (size_t i = 0; i < rec.n_ev; i++)
		if (rec.ev[i].type == WK_EV_CREDENTIAL)
			CHECK(rec.ev[i].time_ms > 0 && rec.ev[i].seq > 0,
			      "%s: credential event %zu has a time and seq",
			      d->name, i);
	pthread_mutex_unlock(&rec.mu);
out:
	d->done(d);
	plug->stop(st);
	plug->destroy(st);
}

/* format = number, and a frame cut short by stop(). */
static void run_number(struct driver *d)
{
	char chip_kv[320], got[WK_CREDENTIAL_MAX], bits[70];
	const char *kv[] = { NULL, "d0=6", "d1=7", "format=number",
			     "active_low=yes", "bias=pull-up", NULL };
	void *st;

	snprintf(chip_kv, sizeof(chip_kv), "chip=%s", d->chip);
	kv[0] = chip_kv;
	reset();
	st = create(&inst_main, kv);
	if (st == NULL)
		return;
	plug->start(st);
	wait_for(WK_EV_DEVICE_OK, NULL, 1, 5000);
	if (d->prepare(d) == 0) {
		frame_bits(26, 123, 45678, bits);
		sim_frame(d, bits, 2000, 50);
		wait_for(WK_EV_CREDENTIAL, NULL, 1, 2000);
		credentials(got, sizeof(got));
		CHECK(strcmp(got, "8106606") == 0,
		      "format=number: '%s', want 8106606", got);
		/* half a frame, then stop: no credential, no hang */
		sim_frame(d, "0101010101", 2000, 50);
		usleep(8000);
	}
	d->done(d);
	plug->stop(st);
	plug->destroy(st);
	CHECK(credentials(got, sizeof(got)) == 1,
	      "stop with a frame half received: no credential");
}

/* A line that cannot be had: one fault event, FAULT health, then the
 * recovery when it is free. */
static void run_fault(struct driver *d)
{
	char chip_kv[320];
	const char *kv_a[] = { NULL, "d0=6", "d1=7", NULL };
	const char *kv_b[] = { NULL, "d0=7", "d1=8", NULL };
	struct wk_health h;
	void *a, *b;

	snprintf(chip_kv, sizeof(chip_kv), "chip=%s", d->chip);
	kv_a[0] = kv_b[0] = chip_kv;
	reset();
	a = create(&inst_main, kv_a);
	b = create(&inst_other, kv_b);
	if (a == NULL || b == NULL)
		goto out;
	plug->start(a);
	CHECK(wait_for(WK_EV_DEVICE_OK, NULL, 1, 5000) == 1, "first reader up");
	plug->start(b);
	CHECK(wait_for(WK_EV_DEVICE_FAULT, NULL, 1, 5000) == 1,
	      "second reader: a fault event for its busy line");
	health(b, &h);
	CHECK(h.state == WK_HEALTH_FAULT && h.faults == 1 &&
	      h.link_errors >= 1 && h.retry_ms > 0,
	      "second reader: FAULT health (state %u, faults %llu, "
	      "link_errors %llu, retry %u ms)", h.state,
	      (unsigned long long)h.faults,
	      (unsigned long long)h.link_errors, h.retry_ms);
	CHECK(strstr(h.last_error, "d0") != NULL,
	      "second reader: last_error names d0: '%s'", h.last_error);
	/* the first lets go; the second takes the line at its next try */
	plug->stop(a);
	CHECK(wait_for(WK_EV_DEVICE_OK, NULL, 2, 8000) == 2,
	      "second reader recovers within the retry time");
	pthread_mutex_lock(&rec.mu);
	CHECK(rec.n_ev > 0 && rec.ev[rec.n_ev - 1].type == WK_EV_DEVICE_OK &&
	      strcmp(rec.ev[rec.n_ev - 1].message, "connected") == 0,
	      "second reader: DEVICE_OK 'connected' (its first time up)");
	pthread_mutex_unlock(&rec.mu);
	CHECK(wait_for(WK_EV_DEVICE_FAULT, NULL, 2, 0) == 1,
	      "one fault event for the whole spell");
	health(b, &h);
	CHECK(h.state == WK_HEALTH_OK, "second reader: health OK again");
	plug->stop(b);
out:
	plug->destroy(a);
	plug->destroy(b);
}

struct conf_case {
	const char *kv[8];
	const char *error;	/* a part of an error; NULL: accepted */
};

static void run_conf(void)
{
	static const struct conf_case cases[] = {
		{ { "chip=gpiochip0", "d0=17", "d1=27", NULL }, NULL },
		{ { "chip=/dev/gpiochip0", "d0=WG_D0", "d1=WG_D1",
		    "fail=safe", "active_low=no", "bias=as-is",
		    "format=number", NULL }, NULL },
		{ { "chip=sim:/tmp/x", "d0=1", "d1=2", "gap_ms=1000",
		    "min_interval_us=0", "min_width_us=0", NULL }, NULL },
		{ { "d0=1", "d1=2", NULL }, "missing key 'chip'" },
		{ { "chip=", "d0=1", "d1=2", NULL }, "test.conf:2: chip: empty" },
		{ { "chip=sim:", "d0=1", "d1=2", NULL },
		  "'sim:' needs the path" },
		{ { "chip=gpiochip0", "d1=2", NULL }, "missing key 'd0'" },
		{ { "chip=gpiochip0", "d0=1", NULL }, "missing key 'd1'" },
		{ { "chip=gpiochip0", "d0=5", "d1=5", NULL },
		  "test.conf:4: d1: line '5' is d0's too (line 3)" },
		{ { "chip=gpiochip0", "d0=1", "d1=2", "active_low=maybe",
		    NULL }, "active_low: 'maybe' is not yes or no" },
		{ { "chip=gpiochip0", "d0=1", "d1=2", "bias=up", NULL },
		  "bias: 'up' is not one of" },
		{ { "chip=gpiochip0", "d0=1", "d1=2", "format=hex", NULL },
		  "format: 'hex' is not facility:card or number" },
		{ { "chip=gpiochip0", "d0=1", "d1=2", "gap_ms=0", NULL },
		  "gap_ms: 0 is out of range, expected 1..1000" },
		{ { "chip=gpiochip0", "d0=1", "d1=2", "gap_ms=fast", NULL },
		  "gap_ms: 'fast' is not a whole number" },
		{ { "chip=gpiochip0", "d0=1", "d1=2", "min_width_us=100001",
		    NULL }, "min_width_us: 100001 is out of range" },
		{ { "chip=gpiochip0", "d0=1", "d1=2", "gap_ms=1",
		    "min_interval_us=1000", NULL },
		  "min_interval_us: 1000 us is not below the frame gap" },
		{ { "chip=gpiochip0", "d0=1", "d1=2", "gap_ms=2",
		    "min_width_us=5000", NULL },
		  "min_width_us: 5000 us is not below the frame gap" },
		{ { "chip=gpiochip0", "d0=1", "d1=2", "relay=3", NULL },
		  "test.conf:5: unknown key 'relay'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct conf_case *c = &cases[i];
		struct conf cf;
		void *st = NULL;
		int r;

		reset();
		make_conf(&cf, "reader1", c->kv);
		r = plug->create(&host, &inst_main, &cf.c, &st);
		if (c->error == NULL) {
			CHECK(r == 0 && st != NULL, "conf case %zu accepted "
			      "(%d %s)", i, r, rec.n_conf ? rec.conf[0] : "");
			CHECK(plug->instance_provides(st) ==
			      WK_PROVIDES_CREDENTIAL,
			      "conf case %zu: provides a credential", i);
			plug->destroy(st);
		} else {
			CHECK(r == -EINVAL, "conf case %zu refused (%d)", i,
			      r);
			CHECK(conf_error_with(c->error),
			      "conf case %zu: an error with '%s' (%s)", i,
			      c->error, rec.n_conf ? rec.conf[0] : "none");
		}
	}
	reset();
	plug->destroy(NULL);
	CHECK(strcmp(plug->name, "wiegand") == 0 &&
	      plug->abi_major == WICKET_ABI_MAJOR &&
	      plug->provides == WK_PROVIDES_CREDENTIAL &&
	      plug->command != NULL,
	      "descriptor: name, ABI, provides");
	{
		struct wk_command cmd = { .type = WK_CMD_OPEN };

		CHECK(plug->command(NULL, &cmd) == -ENOTSUP,
		      "commands are not supported");
	}
}

int main(int argc, char **argv)
{
	const char *chip = getenv("WICKET_GPIO_CHIP");
	const char *sysfs = getenv("WICKET_GPIO_SYSFS");
	struct driver sim = {
		.name = "sim", .frame = sim_frame, .both = sim_both,
		.prepare = sim_prepare, .done = sim_done, .fd = -1,
	};
	struct driver kern = {
		.name = "sysfs", .frame = sysfs_frame, .both = sysfs_both,
		.prepare = sysfs_prepare, .done = sysfs_done, .fd = -1,
	};

	verbose = getenv("WICKET_TEST_VERBOSE") != NULL &&
		  strcmp(getenv("WICKET_TEST_VERBOSE"), "0") != 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (load_plugin(argv[0], argc > 1 ? argv[1] : NULL) < 0)
		return 1;
	run_conf();

	snprintf(sim.sock, sizeof(sim.sock), "/tmp/wicket-wgtest-%d.sock",
		 (int)getpid());
	snprintf(sim.chip, sizeof(sim.chip), "sim:%s", sim.sock);
	run_frames(&sim);
	run_number(&sim);
	run_fault(&sim);
	CHECK(access(sim.sock, F_OK) != 0,
	      "the simulated chip's socket is gone after the last close");

	if (chip != NULL && sysfs != NULL) {
		snprintf(kern.chip, sizeof(kern.chip), "%s", chip);
		kern.sysfs = sysfs;
		run_frames(&kern);
	} else {
		printf("wiegand_plugin_test: WICKET_GPIO_CHIP and "
		       "WICKET_GPIO_SYSFS not set: the kernel gpio-sim cases "
		       "were not run (make check-vm runs them)\n");
	}
	printf("wiegand_plugin_test: %d checks, %d failed\n", checks,
	       failures);
	return failures ? 1 : 0;
}
