/*
 * gpio: the gate kit wired to GPIO lines: a relay for the lock or barrier,
 * green and red lights and a buzzer, and the door contact, exit button,
 * fire alarm and override key switch as inputs.
 *
 *   [device kit1]
 *   plugin = gpio
 *   chip = gpiochip0              # /dev/gpiochip0, or sim:PATH (simulated)
 *   relay = 17                    # a line offset or the kernel's line name
 *   relay_active_low = no
 *   pulse_ms = 3000               # the gate pulse of an open
 *   green = 22
 *   red = 23
 *   buzzer = 24
 *   door = 5                      # inputs: active = door open, pressed,
 *   door_active_low = yes         #   alarm, key turned
 *   door_bias = pull-up           # as-is | disable | pull-up | pull-down
 *   door_debounce_ms = 20
 *   exit_button = 6
 *   fire_alarm = 13
 *   override = 19
 *
 * docs/wiring.md explains every key to installers and how to wire the
 * relay so that a crash leaves the lane in its fail state.
 *
 * The relay's meaning: de-energised (logical 0) is the lane's FAIL STATE,
 * the one it is in whenever wicketd does not drive the line: fail = secure
 * (the default) means energised = gate open, fail = safe means energised =
 * gate closed.  The host adds `fail` from the lane of which this device is
 * the gate.  The gate starts closed; an open pulses it open for pulse_ms
 * (another open during the pulse extends it); a hold keeps it open until
 * released; stop() de-energises the relay (the fail state), switches the
 * lights and buzzer off and releases every line.
 *
 * One worker thread per instance owns the chip and the lines.  It sleeps
 * in epoll_wait on the inputs' event descriptors, an eventfd for commands
 * and stop, and one timerfd armed for the earliest deadline: the end of a
 * pulse, the next step of an indicator pattern, an input's debounce, the
 * next retry of a failed chip, and the heartbeat (at least every second).
 * Nothing is polled: input changes come as the kernel's edge events.
 * Inputs are debounced (debounce.c) and reported as WK_EV_INPUT; each
 * input's level is reported once with initial = 1 when its line is
 * requested (at start and after a recovery).  The indicator patterns are
 * pattern.c's.
 *
 * Health: OK once every line is requested.  When the chip cannot be
 * opened or a line fails, every line is released (outputs driven to
 * their off state first, where the chip still answers), one
 * WK_EV_DEVICE_FAULT is sent, and the worker tries again every 5 s; the
 * pulse, hold and pattern that should be showing are restored on
 * recovery (WK_EV_DEVICE_OK).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <wicket/plugin.h>

#include "confval.h"
#include "debounce.h"
#include "gpioline.h"
#include "gpiosim.h"
#include "pattern.h"

#define PULSE_DEFAULT_MS 3000
#define PULSE_MIN_MS 50
#define PULSE_MAX_MS 600000
#define DEBOUNCE_DEFAULT_MS 20
#define DEBOUNCE_MAX_MS 10000
#define RETRY_MS 5000
#define BEAT_MS 1000
#define BUSY_MAX_MS 3000	/* a chip open and the line requests */
#define CMDQ_LEN 32
#define READ_BATCH 64
#define MS 1000000LL

enum role {
	R_RELAY, R_GREEN, R_RED, R_BUZZER,
	R_DOOR, R_EXIT, R_FIRE, R_OVERRIDE,
	R_N
};

static const struct role_def {
	const char *key;
	int input;
	uint32_t input_role;	/* enum wk_input_role */
	uint32_t provides;
	unsigned pat;		/* PAT_* of an indicator */
} roles[R_N] = {
	[R_RELAY] = { "relay", 0, 0, WK_PROVIDES_GATE | WK_PROVIDES_HOLD, 0 },
	[R_GREEN] = { "green", 0, 0, WK_PROVIDES_INDICATOR, PAT_GREEN },
	[R_RED] = { "red", 0, 0, WK_PROVIDES_INDICATOR, PAT_RED },
	[R_BUZZER] = { "buzzer", 0, 0, WK_PROVIDES_INDICATOR, PAT_BUZZER },
	[R_DOOR] = { "door", 1, WK_INPUT_DOOR, WK_PROVIDES_DOOR, 0 },
	[R_EXIT] = { "exit_button", 1, WK_INPUT_EXIT_BUTTON,
		     WK_PROVIDES_EXIT_BUTTON, 0 },
	[R_FIRE] = { "fire_alarm", 1, WK_INPUT_FIRE_ALARM,
		     WK_PROVIDES_FIRE_ALARM, 0 },
	[R_OVERRIDE] = { "override", 1, WK_INPUT_OVERRIDE,
			 WK_PROVIDES_OVERRIDE, 0 },
};

struct line_conf {
	int present;
	char line[GL_NAME_MAX];	/* as written; a number without leading 0s */
	int active_low;
	enum gl_bias bias;
	unsigned debounce_ms;
};

enum state { ST_NEW, ST_OK, ST_FAULT };

struct gpio {
	const struct wk_host_api *host;
	struct wk_instance *inst;
	char name[64];
	char chip_spec[GL_SPEC_MAX];
	struct line_conf lc[R_N];
	unsigned pulse_ms;
	int fail_safe;

	/* loop thread <-> worker, under mu */
	pthread_mutex_t mu;
	struct wk_command q[CMDQ_LEN];
	unsigned q_head, q_len;
	int stopping;
	int running;		/* loop thread only */
	pthread_t thread;
	int wake_fd, ep_fd, timer_fd;

	/* the status copy, under hmu */
	pthread_mutex_t hmu;
	struct wk_health pub;
	_Atomic int64_t beat_ms;

	/* worker only */
	struct gl_chip *chip;
	struct gl_line *line[R_N];
	struct debounce db[R_N];
	int out_level[R_N];	/* outputs: the logical level set */
	int up;			/* every line requested */
	int ever_ok;
	enum state state;
	int64_t retry_at;
	int hold;
	int64_t pulse_end;	/* CLOCK_MONOTONIC ns; 0 none */
	int gate_open;		/* as last reported, -1 not yet */
	uint32_t ind;		/* the pattern showing */
	int64_t ind_start;
	struct wk_health h;
	char why[WK_MESSAGE_MAX];
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void glog(struct gpio *g, int level, const char *fmt, ...)
	WK_PRINTF(3, 4);

static void glog(struct gpio *g, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	g->host->log(g->inst, level, "%s", buf);
}

/* --- configuration --------------------------------------------------- */

struct parse {
	const struct wk_host_api *host;
	struct wk_instance *inst;
	const struct wk_conf *conf;
	unsigned char *used;
	int bad;
	int sim;
	const struct wk_conf_item *item[R_N];	/* each role's line key */
};

static int conf_err(struct parse *p, const struct wk_conf_item *it,
		    const char *fmt, ...) WK_PRINTF(3, 4);

static int conf_err(struct parse *p, const struct wk_conf_item *it,
		    const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->bad = 1;
	return p->host->conf_error(p->inst, it, "%s", buf);
}

/* The item of key (the last if the host left duplicates), marking every
 * item of that key used; NULL if absent. */
static const struct wk_conf_item *take(struct parse *p, const char *key)
{
	const struct wk_conf_item *found = NULL;

	for (size_t i = 0; i < p->conf->n_items; i++) {
		const struct wk_conf_item *it = &p->conf->items[i];

		if (it->key != NULL && strcmp(it->key, key) == 0) {
			p->used[i] = 1;
			found = it;
		}
	}
	return found;
}

static const char *sval(const struct wk_conf_item *it)
{
	return it->value != NULL ? it->value : "";
}

static void get_bool(struct parse *p, const char *key, int *out)
{
	const struct wk_conf_item *it = take(p, key);

	if (it != NULL && cv_bool(sval(it), out) < 0)
		conf_err(p, it, "%s: '%s' is not yes or no", key, sval(it));
}

static void get_uint(struct parse *p, const char *key, long min, long max,
		     unsigned *out)
{
	const struct wk_conf_item *it = take(p, key);
	long v;
	int r;

	if (it == NULL)
		return;
	r = cv_long(sval(it), min, max, &v);
	if (r == 0)
		*out = (unsigned)v;
	else if (r == -ERANGE)
		conf_err(p, it, "%s: %s is out of range, expected %ld..%ld",
			 key, sval(it), min, max);
	else
		conf_err(p, it, "%s: '%s' is not an integer, expected %ld..%ld",
			 key, sval(it), min, max);
}

/* chip: gpiochipN, an absolute device path, or sim:PATH. */
static void parse_chip(struct parse *p, struct gpio *g)
{
	const struct wk_conf_item *it = take(p, "chip");
	const char *v;
	size_t n;

	if (it == NULL) {
		conf_err(p, NULL, "missing key 'chip' (gpiochipN, /dev/gpiochipN or sim:PATH)");
		return;
	}
	v = sval(it);
	n = strlen(v);
	if (strncmp(v, "sim:", 4) == 0) {
		p->sim = 1;
		if (n == 4)
			conf_err(p, it, "chip: sim: needs the socket path, as in sim:/run/wicket/gpio.sock");
		else if (n - 4 >= 108)
			conf_err(p, it, "chip: the socket path of %.40s... is longer than 107 bytes",
				 v);
	} else if (!(strncmp(v, "gpiochip", 8) == 0 && n > 8 &&
		     strspn(v + 8, "0123456789") == n - 8) && v[0] != '/') {
		conf_err(p, it, "chip: '%s' is not gpiochipN, /dev/gpiochipN or sim:PATH",
			 v);
	}
	if (n >= sizeof(g->chip_spec))
		conf_err(p, it, "chip: longer than %zu bytes",
			 sizeof(g->chip_spec) - 1);
	else
		snprintf(g->chip_spec, sizeof(g->chip_spec), "%s", v);
}

/* A role's line: an offset or a line name.  Offsets are kept without
 * leading zeros so that "05" and "5" are seen as one line. */
static void parse_line(struct parse *p, enum role r, struct line_conf *lc)
{
	const char *key = roles[r].key;
	const struct wk_conf_item *it = take(p, key);
	const char *v;
	long off;
	size_t n;

	p->item[r] = it;
	if (it == NULL)
		return;
	v = sval(it);
	n = strlen(v);
	if (n > 0 && strspn(v, "0123456789") == n) {
		if (cv_long(v, 0, p->sim ? GSIM_LINES - 1 : 65535, &off) < 0) {
			conf_err(p, it, "%s: line %s is out of range, expected %d..%d",
				 key, v, 0, p->sim ? GSIM_LINES - 1 : 65535);
			return;
		}
		snprintf(lc->line, sizeof(lc->line), "%ld", off);
	} else if (n == 0) {
		conf_err(p, it, "%s: empty; give a line offset or the line's name",
			 key);
		return;
	} else if (p->sim) {
		conf_err(p, it, "%s: '%s': a simulated chip's lines are named by their offsets 0..%d",
			 key, v, GSIM_LINES - 1);
		return;
	} else {
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)v[i] <= 0x20 ||
			    (unsigned char)v[i] >= 0x7f) {
				conf_err(p, it, "%s: '%s' is not a line name (no spaces or control characters)",
					 key, v);
				return;
			}
		if (n >= sizeof(lc->line)) {
			conf_err(p, it, "%s: the line name is longer than %zu bytes",
				 key, sizeof(lc->line) - 1);
			return;
		}
		snprintf(lc->line, sizeof(lc->line), "%s", v);
	}
	lc->present = 1;
}

/* The keys that go with a role's line; without the line they are an
 * error: they would silently do nothing. */
static void parse_line_opts(struct parse *p, enum role r, struct line_conf *lc)
{
	const char *key = roles[r].key;
	const struct wk_conf_item *it;
	char k[64];
	const char *suffix[3] = { "_active_low", "_bias", "_debounce_ms" };

	lc->debounce_ms = DEBOUNCE_DEFAULT_MS;
	lc->bias = GL_BIAS_AS_IS;
	if (!lc->present) {
		for (int i = 0; i < (roles[r].input ? 3 : 1); i++) {
			snprintf(k, sizeof(k), "%s%s", key, suffix[i]);
			it = take(p, k);
			if (it != NULL && p->item[r] == NULL)
				conf_err(p, it, "%s: there is no %s line (%s = LINE)",
					 k, key, key);
		}
		return;
	}
	snprintf(k, sizeof(k), "%s_active_low", key);
	get_bool(p, k, &lc->active_low);
	if (!roles[r].input)
		return;
	snprintf(k, sizeof(k), "%s_bias", key);
	it = take(p, k);
	if (it != NULL && gl_bias_parse(sval(it), &lc->bias) < 0)
		conf_err(p, it, "%s: '%s' is not as-is, disable, pull-up or pull-down",
			 k, sval(it));
	snprintf(k, sizeof(k), "%s_debounce_ms", key);
	get_uint(p, k, 0, DEBOUNCE_MAX_MS, &lc->debounce_ms);
}

static int gpio_parse(struct parse *p, struct gpio *g)
{
	const struct wk_conf_item *it;
	int any = 0;

	parse_chip(p, g);
	for (int r = 0; r < R_N; r++)
		parse_line(p, (enum role)r, &g->lc[r]);
	for (int r = 0; r < R_N; r++)
		parse_line_opts(p, (enum role)r, &g->lc[r]);

	g->pulse_ms = PULSE_DEFAULT_MS;
	it = take(p, "pulse_ms");
	if (it != NULL && !g->lc[R_RELAY].present && p->item[R_RELAY] == NULL)
		conf_err(p, it, "pulse_ms: there is no relay line (relay = LINE)");
	else if (it != NULL) {
		long v;
		int r = cv_long(sval(it), PULSE_MIN_MS, PULSE_MAX_MS, &v);

		if (r == 0)
			g->pulse_ms = (unsigned)v;
		else
			conf_err(p, it, "pulse_ms: '%s' is not %d..%d", sval(it),
				 PULSE_MIN_MS, PULSE_MAX_MS);
	}

	/* the host's, from the lane whose gate this is */
	it = take(p, "fail");
	if (it != NULL) {
		if (strcmp(sval(it), "safe") == 0)
			g->fail_safe = 1;
		else if (strcmp(sval(it), "secure") != 0)
			conf_err(p, it, "fail: '%s' is not safe or secure",
				 sval(it));
	}

	/* two roles on one line: the one written later is the error */
	for (int a = 0; a < R_N; a++) {
		any |= p->item[a] != NULL;
		for (int b = 0; b < a; b++) {
			int later = p->item[a] > p->item[b] ? a : b;

			if (!g->lc[a].present || !g->lc[b].present ||
			    strcmp(g->lc[a].line, g->lc[b].line) != 0)
				continue;
			conf_err(p, p->item[later],
				 "%s: line %s is also %s's; two roles cannot share a line",
				 roles[later].key, g->lc[a].line,
				 roles[later == a ? b : a].key);
		}
	}
	if (!any)
		conf_err(p, NULL, "no lines: give at least one of relay, green, red, buzzer, door, exit_button, fire_alarm, override");

	for (size_t i = 0; i < p->conf->n_items; i++)
		if (!p->used[i])
			conf_err(p, &p->conf->items[i], "unknown key '%s'",
				 p->conf->items[i].key ? p->conf->items[i].key
						       : "");
	return p->bad ? -EINVAL : 0;
}

/* --- status ----------------------------------------------------------- */

static void publish(struct gpio *g)
{
	pthread_mutex_lock(&g->hmu);
	g->pub = g->h;
	g->pub.state = g->state == ST_OK ? WK_HEALTH_OK :
		       g->state == ST_FAULT ? WK_HEALTH_FAULT :
					      WK_HEALTH_UNKNOWN;
	g->pub.retry_ms = g->state == ST_FAULT ? RETRY_MS : 0;
	snprintf(g->pub.last_error, sizeof(g->pub.last_error), "%s", g->why);
	pthread_mutex_unlock(&g->hmu);
}

static void emit(struct gpio *g, struct wk_event *ev)
{
	int r;

	ev->time_ms = wall_ms();
	r = g->host->emit(g->inst, ev);
	if (r < 0)
		glog(g, WK_LOG_WARNING, "event type %" PRIu32 " lost: %s",
		     ev->type, strerror(-r));
}

static void emit_status(struct gpio *g, uint32_t type, const char *msg)
{
	struct wk_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	snprintf(ev.message, sizeof(ev.message), "%s", msg);
	emit(g, &ev);
}

static void emit_input(struct gpio *g, enum role r, int active, int initial)
{
	struct wk_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = WK_EV_INPUT;
	ev.input.role = roles[r].input_role;
	ev.input.active = active;
	ev.input.initial = initial;
	g->h.last_reading_ms = wall_ms();
	publish(g);
	glog(g, WK_LOG_DEBUG, "%s: %s%s", roles[r].key,
	     active ? "active" : "inactive", initial ? " (initial)" : "");
	emit(g, &ev);
}

static void emit_gate(struct gpio *g, int open)
{
	struct wk_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = WK_EV_GATE_STATE;
	ev.gate_open = open;
	g->gate_open = open;
	emit(g, &ev);
}

/* --- the lines -------------------------------------------------------- */

static int gate_should_open(const struct gpio *g, int64_t now)
{
	return g->hold || now < g->pulse_end;
}

/* The relay's logical level for a gate state: de-energised is the fail
 * state (fail = safe: open, fail = secure: closed). */
static int relay_level(const struct gpio *g, int open)
{
	return g->fail_safe ? !open : open;
}

/* The indicator outputs now, and in *next when they change next (0: no
 * change due). */
static unsigned pattern_now(struct gpio *g, int64_t now, int64_t *next)
{
	int64_t n;
	unsigned mask;

	*next = 0;
	if (g->ind == WK_IND_OFF)
		return 0;
	mask = pat_at(g->ind, (now - g->ind_start) / MS, &n);
	if (n < 0)
		g->ind = WK_IND_OFF;	/* over: all off from now on */
	else
		*next = g->ind_start + n * MS;
	return mask;
}

/* Drive the outputs to their off state and let every line go.  Errors
 * are ignored: this is also how a failed chip is left. */
static void release_all(struct gpio *g)
{
	for (int r = 0; r < R_N; r++) {
		if (g->line[r] == NULL)
			continue;
		if (roles[r].input)
			epoll_ctl(g->ep_fd, EPOLL_CTL_DEL,
				  gl_line_fd(g->line[r]), NULL);
		else
			gl_line_set(g->line[r], 0);
		gl_line_release(g->line[r]);
		g->line[r] = NULL;
	}
	gl_chip_close(g->chip);
	g->chip = NULL;
	g->up = 0;
}

/* Something failed, g->why says what: release, fault, retry later. */
static void failed(struct gpio *g, int64_t now)
{
	release_all(g);
	g->h.link_errors++;
	g->retry_at = now + RETRY_MS * MS;
	if (g->state != ST_FAULT) {
		g->state = ST_FAULT;
		g->h.faults++;
		publish(g);	/* before the event: the status reads it */
		glog(g, WK_LOG_WARNING, "device fault: %s; retrying every %d s",
		     g->why, RETRY_MS / 1000);
		emit_status(g, WK_EV_DEVICE_FAULT, g->why);
	} else {
		publish(g);
		glog(g, WK_LOG_DEBUG, "still failing: %s", g->why);
	}
}

static int bring_up(struct gpio *g, int64_t now)
{
	char err[GL_ERR_MAX], consumer[GL_NAME_MAX + 80];
	unsigned mask, off;
	int64_t next;
	int r;

	r = gl_chip_open(g->chip_spec, &g->chip, err, sizeof(err));
	if (r < 0) {
		snprintf(g->why, sizeof(g->why), "%.150s", err);
		failed(g, now);
		return r;
	}
	mask = pattern_now(g, now, &next);
	for (int i = 0; i < R_N; i++) {
		const struct line_conf *lc = &g->lc[i];
		struct gl_line_config cfg;

		if (!lc->present)
			continue;
		r = gl_chip_find(g->chip, lc->line, &off, err, sizeof(err));
		if (r == 0) {
			memset(&cfg, 0, sizeof(cfg));
			cfg.offset = off;
			cfg.dir = roles[i].input ? GL_INPUT : GL_OUTPUT;
			cfg.active_low = lc->active_low;
			cfg.bias = lc->bias;
			if (i == R_RELAY)
				cfg.initial = relay_level(g, gate_should_open(g, now));
			else if (!roles[i].input)
				cfg.initial = (mask & roles[i].pat) != 0;
			snprintf(consumer, sizeof(consumer), "wicket:%s:%s",
				 g->name, roles[i].key);
			cfg.consumer = consumer;
			r = gl_line_request(g->chip, &cfg, &g->line[i], err,
					    sizeof(err));
		}
		if (r == 0 && roles[i].input) {
			struct epoll_event ev;
			int level;

			memset(&ev, 0, sizeof(ev));
			ev.events = EPOLLIN;
			ev.data.u32 = (uint32_t)i;
			r = epoll_ctl(g->ep_fd, EPOLL_CTL_ADD,
				      gl_line_fd(g->line[i]), &ev) < 0
				    ? -errno : 0;
			if (r < 0)
				snprintf(err, sizeof(err), "epoll: %s",
					 strerror(-r));
			if (r == 0) {
				r = gl_line_get(g->line[i], &level);
				if (r < 0)
					snprintf(err, sizeof(err),
						 "reading it: %s", strerror(-r));
				else
					db_init(&g->db[i],
						(int64_t)lc->debounce_ms * MS,
						level);
			}
		}
		if (r < 0) {
			snprintf(g->why, sizeof(g->why), "%s = %.40s: %.100s",
				 roles[i].key, lc->line, err);
			failed(g, now);
			return r;
		}
		if (!roles[i].input)
			g->out_level[i] = cfg.initial;
	}
	g->up = 1;
	g->state = ST_OK;
	g->h.last_ok_ms = wall_ms();
	g->why[0] = '\0';
	publish(g);
	if (!g->ever_ok) {
		glog(g, WK_LOG_NOTICE, "connected: %s", g->chip_spec);
		emit_status(g, WK_EV_DEVICE_OK, "connected");
		g->ever_ok = 1;
	} else {
		glog(g, WK_LOG_NOTICE, "recovered: %s", g->chip_spec);
		emit_status(g, WK_EV_DEVICE_OK, "recovered");
	}
	if (g->lc[R_RELAY].present)
		emit_gate(g, gate_should_open(g, now));
	for (int i = 0; i < R_N; i++)
		if (roles[i].input && g->lc[i].present)
			emit_input(g, (enum role)i, g->db[i].stable, 1);
	return 0;
}

static int set_output(struct gpio *g, enum role r, int level, int64_t now)
{
	int e;

	if (g->line[r] == NULL || g->out_level[r] == level)
		return 0;
	e = gl_line_set(g->line[r], level);
	if (e < 0) {
		snprintf(g->why, sizeof(g->why), "%s = %s: setting it: %s",
			 roles[r].key, g->lc[r].line, strerror(-e));
		failed(g, now);
		return e;
	}
	g->out_level[r] = level;
	return 0;
}

static void read_input(struct gpio *g, enum role r, uint32_t events,
		       int64_t now)
{
	struct gl_event ev[READ_BATCH];
	int n, level;

	do {
		n = gl_line_read(g->line[r], ev, READ_BATCH);
		/* a hang-up with nothing to read would wake epoll forever */
		if (n == 0 && (events & (EPOLLERR | EPOLLHUP)))
			n = -ENODEV;
		events = 0;
		if (n < 0) {
			snprintf(g->why, sizeof(g->why), "%s = %s: reading it: %s",
				 roles[r].key, g->lc[r].line, strerror(-n));
			failed(g, now);
			return;
		}
		for (int i = 0; i < n; i++)
			if (db_edge(&g->db[r], ev[i].edge == GL_RISE,
				    ev[i].t_ns, &level))
				emit_input(g, r, level, 0);
	} while (n == READ_BATCH);
	g->h.last_ok_ms = wall_ms();
}

/* Bring the outputs to what they should show now and report debounced
 * input changes; the earliest deadline this sets in *next (0: none). */
static void tick(struct gpio *g, int64_t now, int64_t *next)
{
	int64_t pn;
	unsigned mask;
	int open, level;

	*next = 0;
	mask = pattern_now(g, now, &pn);
	*next = pn;
	if (g->lc[R_RELAY].present) {
		open = gate_should_open(g, now);
		if (now < g->pulse_end && (*next == 0 || g->pulse_end < *next))
			*next = g->pulse_end;
		if (g->up && open != g->gate_open) {
			if (set_output(g, R_RELAY, relay_level(g, open), now) < 0)
				return;
			emit_gate(g, open);
		}
	}
	for (int r = R_GREEN; r <= R_BUZZER && g->up; r++)
		if (set_output(g, (enum role)r, (mask & roles[r].pat) != 0,
			       now) < 0)
			return;
	for (int r = R_DOOR; r < R_N && g->up; r++) {
		int64_t d;

		if (!g->lc[r].present)
			continue;
		if (db_poll(&g->db[r], now, &level))
			emit_input(g, (enum role)r, level, 0);
		d = db_deadline(&g->db[r]);
		if (d != INT64_MAX && (*next == 0 || d < *next))
			*next = d;
	}
}

static const char *const ind_names[] = {
	[WK_IND_OFF] = "off",
	[WK_IND_ALLOW] = "allow",
	[WK_IND_DENY] = "deny",
	[WK_IND_RETEST] = "retest",
	[WK_IND_ALARM] = "alarm",
};

static void run_command(struct gpio *g, const struct wk_command *cmd,
			int64_t now)
{
	const char *down = g->up ? "" : " (the chip is down: it takes effect on recovery)";
	unsigned pulse;
	int64_t end;

	switch (cmd->type) {
	case WK_CMD_OPEN:
		pulse = cmd->pulse_ms ? cmd->pulse_ms : g->pulse_ms;
		end = now + (int64_t)pulse * MS;
		if (end > g->pulse_end)
			g->pulse_end = end;
		glog(g, WK_LOG_INFO, "open %" PRIu64 ": pulse %u ms%s", cmd->id,
		     pulse, down);
		break;
	case WK_CMD_HOLD:
		/* the core repeats a hold every second during a fire alarm:
		 * only a change is worth a line at info */
		glog(g, g->hold == (cmd->value != 0) ? WK_LOG_DEBUG : WK_LOG_INFO,
		     "hold %" PRIu64 ": %s%s", cmd->id,
		     cmd->value ? "held open" : "released", down);
		g->hold = cmd->value != 0;
		break;
	case WK_CMD_INDICATE:
		g->ind = cmd->value;
		g->ind_start = now;
		glog(g, WK_LOG_DEBUG, "indicate %" PRIu64 ": %s%s", cmd->id,
		     cmd->value < sizeof(ind_names) / sizeof(ind_names[0])
			     ? ind_names[cmd->value] : "?", down);
		break;
	}
	/* a command is carried out at once (or on recovery): requests and
	 * responses both count it, so status does not show it unanswered */
	g->h.requests++;
	if (g->up)
		g->h.responses++;
}

/* --- the worker ------------------------------------------------------- */

static void arm(struct gpio *g, int64_t at)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (at < 1)
		at = 1;		/* 0 would disarm it */
	its.it_value.tv_sec = (time_t)(at / 1000000000);
	its.it_value.tv_nsec = (long)(at % 1000000000);
	timerfd_settime(g->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void shut_down(struct gpio *g)
{
	const char *left;

	if (!g->lc[R_RELAY].present)
		left = "";
	else if (g->fail_safe)
		left = "; relay de-energised: the gate is left open (fail = safe)";
	else
		left = "; relay de-energised: the gate is left closed (fail = secure)";
	if (g->up) {
		/* release_all drives every output to 0: the relay to its
		 * fail state, the lights and buzzer off */
		release_all(g);
		glog(g, WK_LOG_NOTICE, "stopped: lines released%s", left);
	} else {
		release_all(g);
		glog(g, WK_LOG_NOTICE, "stopped while the chip was down (%s): no line was driven%s",
		     g->why, left);
	}
}

static void *worker(void *arg)
{
	struct gpio *g = arg;
	struct epoll_event evs[R_N + 2];
	struct wk_command cmd;
	int64_t now, next, beat;
	uint64_t v;
	int n, have;

	for (;;) {
		now = mono_ns();
		atomic_store(&g->beat_ms, now / MS);
		if (!g->up && now >= g->retry_at)
			bring_up(g, now);
		for (;;) {
			pthread_mutex_lock(&g->mu);
			if (g->stopping) {
				pthread_mutex_unlock(&g->mu);
				shut_down(g);
				return NULL;
			}
			have = g->q_len > 0;
			if (have) {
				cmd = g->q[g->q_head];
				g->q_head = (g->q_head + 1) % CMDQ_LEN;
				g->q_len--;
			}
			pthread_mutex_unlock(&g->mu);
			if (!have)
				break;
			run_command(g, &cmd, now);
			publish(g);
		}
		tick(g, now, &next);
		beat = now + BEAT_MS * MS;
		if (!g->up && g->retry_at < beat)
			beat = g->retry_at;
		if (next == 0 || next > beat)
			next = beat;
		arm(g, next);

		n = epoll_wait(g->ep_fd, evs, R_N + 2, -1);
		now = mono_ns();
		for (int i = 0; i < n; i++) {
			uint32_t id = evs[i].data.u32;

			if (id == R_N) {
				if (read(g->wake_fd, &v, sizeof(v)) < 0) {
					/* drained already */
				}
			} else if (id == R_N + 1) {
				if (read(g->timer_fd, &v, sizeof(v)) < 0) {
					/* not expired: re-armed meanwhile */
				}
			} else if (id < R_N && g->line[id] != NULL) {
				read_input(g, (enum role)id, evs[i].events, now);
			}
		}
	}
}

/* --- the plugin ------------------------------------------------------- */

static int gpio_create(const struct wk_host_api *host,
		       struct wk_instance *inst, const struct wk_conf *conf,
		       void **state)
{
	struct parse p;
	struct gpio *g;
	int r;

	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	memset(&p, 0, sizeof(p));
	p.host = host;
	p.inst = inst;
	p.conf = conf;
	p.used = calloc(conf->n_items + 1, 1);
	if (p.used == NULL) {
		free(g);
		return -ENOMEM;
	}
	r = gpio_parse(&p, g);
	for (int i = R_DOOR; i < R_N && r == 0; i++)
		if (g->lc[i].present && host->abi_minor < 3)
			r = conf_err(&p, p.item[i],
				     "%s: inputs need wicketd with plugin ABI 1.3 or later (this one has %u.%u)",
				     roles[i].key, host->abi_major,
				     host->abi_minor);
	free(p.used);
	if (r < 0) {
		free(g);
		return r;
	}
	g->host = host;
	g->inst = inst;
	snprintf(g->name, sizeof(g->name), "%s", conf->name ? conf->name : "gpio");
	g->wake_fd = g->ep_fd = g->timer_fd = -1;
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&g->hmu, NULL) != 0) {
		pthread_mutex_destroy(&g->mu);
		free(g);
		return -ENOMEM;
	}
	*state = g;
	return 0;
}

static void close_fds(struct gpio *g)
{
	if (g->wake_fd >= 0)
		close(g->wake_fd);
	if (g->timer_fd >= 0)
		close(g->timer_fd);
	if (g->ep_fd >= 0)
		close(g->ep_fd);
	g->wake_fd = g->ep_fd = g->timer_fd = -1;
}

static int gpio_start(void *state)
{
	struct gpio *g = state;
	struct epoll_event ev;
	sigset_t all, old;
	int r;

	if (g->running)
		return -EALREADY;
	g->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	g->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	g->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (g->wake_fd < 0 || g->timer_fd < 0 || g->ep_fd < 0)
		goto fail;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = R_N;
	if (epoll_ctl(g->ep_fd, EPOLL_CTL_ADD, g->wake_fd, &ev) < 0)
		goto fail;
	ev.data.u32 = R_N + 1;
	if (epoll_ctl(g->ep_fd, EPOLL_CTL_ADD, g->timer_fd, &ev) < 0)
		goto fail;

	g->stopping = 0;
	g->q_head = g->q_len = 0;
	g->up = 0;
	g->ever_ok = 0;
	g->state = ST_NEW;
	g->retry_at = 0;
	g->hold = 0;
	g->pulse_end = 0;
	g->gate_open = -1;
	g->ind = WK_IND_OFF;
	memset(&g->h, 0, sizeof(g->h));
	g->why[0] = '\0';
	publish(g);
	atomic_store(&g->beat_ms, mono_ns() / MS);

	/* signals belong to the loop thread (signalfd) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&g->thread, NULL, worker, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		close_fds(g);
		return -r;
	}
	g->running = 1;
	return 0;
fail:
	r = errno ? errno : EMFILE;
	close_fds(g);
	return -r;
}

static int gpio_command(void *state, const struct wk_command *cmd)
{
	struct gpio *g = state;
	uint64_t one = 1;
	int r = 0;

	switch (cmd->type) {
	case WK_CMD_OPEN:
		if (!g->lc[R_RELAY].present)
			return -ENOTSUP;
		if (cmd->pulse_ms > PULSE_MAX_MS)
			return -EINVAL;
		break;
	case WK_CMD_HOLD:
		if (!g->lc[R_RELAY].present)
			return -ENOTSUP;
		if (cmd->value > 1)
			return -EINVAL;
		break;
	case WK_CMD_INDICATE:
		if (!g->lc[R_GREEN].present && !g->lc[R_RED].present &&
		    !g->lc[R_BUZZER].present)
			return -ENOTSUP;
		if (!pat_known(cmd->value))
			return -EINVAL;
		break;
	default:
		return -ENOTSUP;
	}
	if (!g->running)
		return -EAGAIN;
	pthread_mutex_lock(&g->mu);
	if (g->q_len == CMDQ_LEN) {
		r = -ENOBUFS;
	} else {
		g->q[(g->q_head + g->q_len) % CMDQ_LEN] = *cmd;
		g->q_len++;
	}
	pthread_mutex_unlock(&g->mu);
	if (r == 0 && write(g->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is full: the worker is awake anyway */
	}
	return r;
}

static void gpio_stop(void *state)
{
	struct gpio *g = state;
	uint64_t one = 1;

	if (g == NULL || !g->running)
		return;
	pthread_mutex_lock(&g->mu);
	g->stopping = 1;
	pthread_mutex_unlock(&g->mu);
	if (write(g->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is full: the worker is awake anyway */
	}
	pthread_join(g->thread, NULL);
	g->running = 0;
	close_fds(g);
}

static void gpio_destroy(void *state)
{
	struct gpio *g = state;

	if (g == NULL)
		return;
	gpio_stop(g);
	pthread_mutex_destroy(&g->hmu);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

static int gpio_health(void *state, struct wk_health *out)
{
	struct gpio *g = state;

	pthread_mutex_lock(&g->hmu);
	*out = g->pub;
	pthread_mutex_unlock(&g->hmu);
	if (g->running) {
		out->heartbeat_ms = atomic_load(&g->beat_ms);
		out->heartbeat_max_ms = BUSY_MAX_MS;
	}
	return 0;
}

static uint32_t gpio_instance_provides(void *state)
{
	struct gpio *g = state;
	uint32_t p = 0;

	for (int r = 0; r < R_N; r++)
		if (g->lc[r].present)
			p |= roles[r].provides;
	return p;
}

__attribute__((visibility("default")))
const struct wk_plugin wicket_plugin = {
	.abi_major = WICKET_ABI_MAJOR,
	.abi_minor = WICKET_ABI_MINOR,
	.size = sizeof(struct wk_plugin),
	.name = "gpio",
	.version = WICKET_VERSION,
	.description = "gate kit on GPIO lines: relay, lights, buzzer, door contact, exit button, fire alarm, override key",
	.provides = WK_PROVIDES_GATE | WK_PROVIDES_HOLD |
		    WK_PROVIDES_INDICATOR | WK_PROVIDES_DOOR |
		    WK_PROVIDES_EXIT_BUTTON | WK_PROVIDES_FIRE_ALARM |
		    WK_PROVIDES_OVERRIDE,
	.create = gpio_create,
	.start = gpio_start,
	.command = gpio_command,
	.stop = gpio_stop,
	.destroy = gpio_destroy,
	.health = gpio_health,
	.instance_provides = gpio_instance_provides,
};
