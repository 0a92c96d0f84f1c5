/*
 * wiegand: a Wiegand card reader on two GPIO lines.
 *
 *   [device door-reader]
 *   plugin = wiegand
 *   chip = gpiochip0            # or /dev/gpiochip0, or sim:PATH
 *   d0 = 17                     # an offset or a line name of the chip
 *   d1 = 27
 *   active_low = yes            # a pulse pulls the line low (default)
 *   bias = pull-up              # as-is | disable | pull-up | pull-down;
 *                               #   default pull-up (pull-down with
 *                               #   active_low = no: the idle level)
 *   format = facility:card      # or number
 *   gap_ms = 25                 # silence that ends a frame
 *   min_interval_us = 100       # pulse starts closer are noise
 *   min_width_us = 10           # narrower pulses are noise
 *
 * The edges come from the GPIO line library (gpioline.h) with their
 * CLOCK_MONOTONIC stamps and go to the pure decoder in daemon/wiegand.c,
 * compiled into this plugin.  A good frame is a WK_EV_CREDENTIAL; a bad
 * or partial one is a warning with the decoder's message and a count
 * (health: responses = good frames, bad_values = the others), never a
 * credential.
 *
 * D0 and D1 are two lines, each with its own queue of events, and the
 * decoder needs the edges of both in time order.  Reading one line and
 * then the other can pick up an edge of the second that happened before
 * the last one taken from the first; so the edges are held in a buffer,
 * sorted, and handed on only once they are HOLD_NS old, by which time
 * both queues have them.  The simulated chip stamps a Wiegand frame's
 * edges ahead of time; they wait in the buffer until their time comes,
 * as they would have on a wire.
 *
 * One worker thread per instance: epoll over the two line fds, a timerfd
 * for the next due edge or frame end (wg_deadline) and an eventfd for
 * stop; no polling.  The lines are requested there; if the chip or a line
 * cannot be had, or goes away, the instance is in a fault spell: one
 * WK_EV_DEVICE_FAULT, a new try every RETRY_MS, WK_EV_DEVICE_OK when back.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "gpioline.h"
#include "wiegand.h"

#ifndef WICKET_VERSION
#define WICKET_VERSION "unknown"
#endif

#define RETRY_MS 5000
#define BEAT_MS 1000		/* the idle worker turns at least this often */
#define HOLD_NS 3000000LL	/* edges wait this long for their peers */
#define EDGE_MAX 512		/* edges waiting in the buffer */
#define READ_MAX 64		/* edges taken from a line per read */

enum wgp_state { ST_DOWN, ST_UP };

struct edge {
	int64_t t;
	int line;		/* WG_D0, WG_D1 */
	int kind;		/* WG_FALLING (pulse start), WG_RISING */
};

struct wgp {
	const struct wk_host_api *host;
	struct wk_instance *inst;
	char name[64];
	/* configuration */
	char chip_spec[GL_SPEC_MAX];
	char line_name[2][GL_NAME_MAX];
	int active_low;
	enum gl_bias bias;
	struct wg_config wcfg;

	/* the worker's */
	pthread_t thread;
	int running;
	int stop_fd, ep_fd, timer_fd;
	struct gl_chip *chip;
	struct gl_line *line[2];
	enum wgp_state state;
	int ever_up, in_fault;
	int64_t retry_at_ms;
	struct wg_decoder dec;
	size_t n_edges;
	struct edge edges[EDGE_MAX];
	int overrun_logged;
	uint32_t seq;
	char why[WK_MESSAGE_MAX];

	/* health, shared with the loop thread */
	pthread_mutex_t hmu;
	struct wk_health h;
	_Atomic int64_t beat_ms;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	return mono_ns() / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wlog(struct wgp *w, int level, const char *fmt, ...)
	WK_PRINTF(3, 4);

static void wlog(struct wgp *w, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	w->host->log(w->inst, level, "%s", buf);
}

/* --- configuration --------------------------------------------------- */

/* One parse: the items and which of them a key has taken. */
struct parse {
	struct wgp *w;
	const struct wk_conf *conf;
	unsigned char *used;
	int bad;
};

static int perr(struct parse *p, const struct wk_conf_item *it,
		const char *fmt, ...) WK_PRINTF(3, 4);

static int perr(struct parse *p, const struct wk_conf_item *it,
		const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->bad = 1;
	return p->w->host->conf_error(p->w->inst, it, "%s", buf);
}

/* The item of key (the last if there are several), all of them marked
 * used; NULL when absent. */
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

/* A whole number key in min..max into *out (left alone when absent). */
static const struct wk_conf_item *get_long(struct parse *p, const char *key,
					   long min, long max, long *out)
{
	const struct wk_conf_item *it = take(p, key);
	int r;

	if (it == NULL)
		return NULL;
	r = cv_long(sval(it), min, max, out);
	if (r == -ERANGE)
		perr(p, it, "%s: %s is out of range, expected %ld..%ld", key,
		     sval(it), min, max);
	else if (r < 0)
		perr(p, it, "%s: '%s' is not a whole number, expected %ld..%ld",
		     key, sval(it), min, max);
	return it;
}

/* A text key that must be there and fit size. */
static const struct wk_conf_item *get_text(struct parse *p, const char *key,
					   char *out, size_t size,
					   const char *what)
{
	const struct wk_conf_item *it = take(p, key);

	if (it == NULL) {
		perr(p, NULL, "missing key '%s' (%s)", key, what);
		return NULL;
	}
	if (sval(it)[0] == '\0') {
		perr(p, it, "%s: empty; expected %s", key, what);
		return NULL;
	}
	if (strlen(sval(it)) >= size) {
		perr(p, it, "%s: longer than %zu characters", key, size - 1);
		return NULL;
	}
	snprintf(out, size, "%s", sval(it));
	return it;
}

static void parse_conf(struct parse *p)
{
	struct wgp *w = p->w;
	const struct wk_conf_item *it, *d[2], *gap_it, *iv_it, *wd_it;
	long gap_ms = WG_GAP_NS_DEFAULT / 1000000;
	long iv_us = WG_MIN_INTERVAL_NS_DEFAULT / 1000;
	long wd_us = WG_MIN_WIDTH_NS_DEFAULT / 1000;

	if ((it = get_text(p, "chip", w->chip_spec, sizeof(w->chip_spec),
			   "gpiochipN, /dev/gpiochipN or sim:PATH")) != NULL &&
	    strcmp(w->chip_spec, "sim:") == 0)
		perr(p, it, "chip: 'sim:' needs the path of its socket "
		     "(sim:PATH)");
	d[0] = get_text(p, "d0", w->line_name[0], sizeof(w->line_name[0]),
			"the line of D0: an offset or a line name");
	d[1] = get_text(p, "d1", w->line_name[1], sizeof(w->line_name[1]),
			"the line of D1: an offset or a line name");
	if (d[0] != NULL && d[1] != NULL &&
	    strcmp(w->line_name[0], w->line_name[1]) == 0)
		perr(p, d[1], "d1: line '%s' is d0's too (line %d); D0 and "
		     "D1 need a line each", w->line_name[1], d[0]->line);

	w->active_low = 1;
	if ((it = take(p, "active_low")) != NULL &&
	    cv_bool(sval(it), &w->active_low) < 0)
		perr(p, it, "active_low: '%s' is not yes or no", sval(it));
	/* A reader's lines idle at the level a pulse leaves them at: high
	 * for the usual active-low reader, low for an active-high one. */
	w->bias = w->active_low ? GL_BIAS_PULL_UP : GL_BIAS_PULL_DOWN;
	if ((it = take(p, "bias")) != NULL &&
	    gl_bias_parse(sval(it), &w->bias) < 0)
		perr(p, it, "bias: '%s' is not one of as-is, disable, "
		     "pull-up, pull-down", sval(it));

	wg_config_default(&w->wcfg);
	if ((it = take(p, "format")) != NULL &&
	    wg_format_parse(sval(it), &w->wcfg.format) < 0)
		perr(p, it, "format: '%s' is not facility:card or number",
		     sval(it));
	gap_it = get_long(p, "gap_ms", 1, 1000, &gap_ms);
	iv_it = get_long(p, "min_interval_us", 0, 100000, &iv_us);
	wd_it = get_long(p, "min_width_us", 0, 100000, &wd_us);
	w->wcfg.gap_ns = (int64_t)gap_ms * 1000000;
	w->wcfg.min_interval_ns = (int64_t)iv_us * 1000;
	w->wcfg.min_width_ns = (int64_t)wd_us * 1000;
	if (!p->bad && w->wcfg.min_interval_ns >= w->wcfg.gap_ns)
		perr(p, iv_it, "min_interval_us: %ld us is not below the frame "
		     "gap (gap_ms %ld%s)", iv_us, gap_ms,
		     gap_it ? "" : ", the default");
	if (!p->bad && w->wcfg.min_width_ns >= w->wcfg.gap_ns)
		perr(p, wd_it, "min_width_us: %ld us is not below the frame "
		     "gap (gap_ms %ld%s)", wd_us, gap_ms,
		     gap_it ? "" : ", the default");

	/* the lane's fail mode is for gates; a reader has nothing to do
	 * with it */
	take(p, "fail");
	for (size_t i = 0; i < p->conf->n_items; i++)
		if (!p->used[i])
			perr(p, &p->conf->items[i],
			     "unknown key '%s' (a wiegand device has chip, d0, "
			     "d1, active_low, bias, format, gap_ms, "
			     "min_interval_us, min_width_us)",
			     p->conf->items[i].key ? p->conf->items[i].key
						   : "");
}

/* --- health ------------------------------------------------------------ */

static void beat(struct wgp *w)
{
	atomic_store(&w->beat_ms, mono_ms());
}

static void emit_status(struct wgp *w, uint32_t type, const char *msg)
{
	struct wk_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.time_ms = wall_ms();
	snprintf(ev.message, sizeof(ev.message), "%s", msg);
	r = w->host->emit(w->inst, &ev);
	if (r < 0)
		wlog(w, WK_LOG_WARNING, "status event lost: %s", strerror(-r));
}

/* --- the lines (worker) ----------------------------------------------- */

static void lines_close(struct wgp *w)
{
	for (int i = 0; i < 2; i++) {
		if (w->line[i] != NULL) {
			epoll_ctl(w->ep_fd, EPOLL_CTL_DEL,
				  gl_line_fd(w->line[i]), NULL);
			gl_line_release(w->line[i]);
			w->line[i] = NULL;
		}
	}
	gl_chip_close(w->chip);
	w->chip = NULL;
	w->state = ST_DOWN;
}

/* w->why: what went wrong, cut to fit an event's message. */
static void set_why(struct wgp *w, const char *fmt, ...) WK_PRINTF(2, 3);

static void set_why(struct wgp *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
}

/* Open the chip and request both lines; 0, or -errno with w->why. */
static int lines_open(struct wgp *w)
{
	static const char *const key[2] = { "d0", "d1" };
	char err[GL_ERR_MAX], consumer[GL_NAME_MAX + 80];
	int r;

	r = gl_chip_open(w->chip_spec, &w->chip, err, sizeof(err));
	if (r < 0) {
		set_why(w, "chip: %s", err);
		return r;
	}
	for (int i = 0; i < 2; i++) {
		struct gl_line_config lc;
		struct epoll_event ee;
		unsigned off;
		int level;

		r = gl_chip_find(w->chip, w->line_name[i], &off, err,
				 sizeof(err));
		if (r < 0) {
			set_why(w, "%s: %s", key[i], err);
			goto fail;
		}
		snprintf(consumer, sizeof(consumer), "wicket:%s:%s", w->name,
			 key[i]);
		memset(&lc, 0, sizeof(lc));
		lc.offset = off;
		lc.dir = GL_INPUT;
		lc.active_low = w->active_low;
		lc.bias = w->bias;
		lc.consumer = consumer;
		r = gl_line_request(w->chip, &lc, &w->line[i], err,
				    sizeof(err));
		if (r < 0) {
			set_why(w, "%s (line %u): %s", key[i], off, err);
			goto fail;
		}
		memset(&ee, 0, sizeof(ee));
		ee.events = EPOLLIN;
		ee.data.u32 = (uint32_t)i;
		if (epoll_ctl(w->ep_fd, EPOLL_CTL_ADD, gl_line_fd(w->line[i]),
			      &ee) < 0) {
			r = -errno;
			set_why(w, "%s: epoll: %s", key[i], strerror(-r));
			gl_line_release(w->line[i]);
			w->line[i] = NULL;
			goto fail;
		}
		/* a line held active at start is a wiring or power fault
		 * worth saying; the decoder only ever sees edges */
		if (gl_line_get(w->line[i], &level) == 0 && level == 1)
			wlog(w, WK_LOG_WARNING, "%s (line %u) is active at "
			     "start: is the reader powered and wired, and "
			     "active_low right?", key[i], off);
	}
	w->state = ST_UP;
	return 0;
fail:
	lines_close(w);
	return r;
}

static void set_fault(struct wgp *w)
{
	w->retry_at_ms = mono_ms() + RETRY_MS;
	pthread_mutex_lock(&w->hmu);
	w->h.link_errors++;
	if (!w->in_fault)
		w->h.faults++;
	w->h.state = WK_HEALTH_FAULT;
	w->h.retry_ms = RETRY_MS;
	snprintf(w->h.last_error, sizeof(w->h.last_error), "%s", w->why);
	pthread_mutex_unlock(&w->hmu);
	if (w->in_fault) {
		wlog(w, WK_LOG_DEBUG, "still failing, next try in %d ms: %s",
		     RETRY_MS, w->why);
		return;
	}
	w->in_fault = 1;
	wlog(w, WK_LOG_WARNING, "device fault: %s (trying again every %d s)",
	     w->why, RETRY_MS / 1000);
	emit_status(w, WK_EV_DEVICE_FAULT, w->why);
}

static void set_up(struct wgp *w)
{
	int was_fault = w->in_fault;

	pthread_mutex_lock(&w->hmu);
	w->h.state = WK_HEALTH_OK;
	w->h.retry_ms = 0;
	w->h.last_ok_ms = wall_ms();
	pthread_mutex_unlock(&w->hmu);
	w->in_fault = 0;
	if (!w->ever_up) {
		w->ever_up = 1;
		wlog(w, WK_LOG_NOTICE, "connected: %s, d0 %s, d1 %s%s",
		     w->chip_spec, w->line_name[0], w->line_name[1],
		     w->active_low ? "" : ", active high");
		emit_status(w, WK_EV_DEVICE_OK, "connected");
	} else if (was_fault) {
		wlog(w, WK_LOG_NOTICE, "recovered");
		emit_status(w, WK_EV_DEVICE_OK, "recovered");
	}
}

/* The lines are gone (-ENODEV ...): drop what was half received. */
static void lost(struct wgp *w, int line, int err)
{
	set_why(w, "d%d: %s", line, strerror(-err));
	lines_close(w);
	w->n_edges = 0;
	wg_init(&w->dec, &w->wcfg);
	set_fault(w);
}

/* --- frames ------------------------------------------------------------ */

static void on_result(struct wgp *w, const struct wg_result *r)
{
	struct wk_event ev;
	int rc;

	if (r->status != WG_OK) {
		pthread_mutex_lock(&w->hmu);
		w->h.bad_values++;
		snprintf(w->h.last_error, sizeof(w->h.last_error), "%s",
			 r->msg);
		pthread_mutex_unlock(&w->hmu);
		wlog(w, WK_LOG_WARNING, "bad frame (%s): %s",
		     wg_status_name(r->status), r->msg);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = WK_EV_CREDENTIAL;
	ev.seq = ++w->seq;
	ev.time_ms = wall_ms();
	snprintf(ev.credential, sizeof(ev.credential), "%s", r->credential);
	pthread_mutex_lock(&w->hmu);
	w->h.responses++;
	w->h.last_ok_ms = ev.time_ms;
	w->h.last_reading_ms = ev.time_ms;
	pthread_mutex_unlock(&w->hmu);
	wlog(w, WK_LOG_DEBUG, "%s", r->msg);
	rc = w->host->emit(w->inst, &ev);
	if (rc < 0)
		wlog(w, WK_LOG_WARNING, "credential lost: %s", strerror(-rc));
}

/* Put e in the buffer, which stays sorted by time (ties: arrival). */
static void buffer_add(struct wgp *w, const struct edge *e)
{
	size_t i = w->n_edges;

	while (i > 0 && w->edges[i - 1].t > e->t) {
		w->edges[i] = w->edges[i - 1];
		i--;
	}
	w->edges[i] = *e;
	w->n_edges++;
}

/* Hand the decoder the first n buffered edges. */
static void feed(struct wgp *w, size_t n)
{
	struct wg_result r;

	for (size_t i = 0; i < n; i++)
		if (wg_edge(&w->dec, w->edges[i].line, w->edges[i].kind,
			    w->edges[i].t, &r) == 1)
			on_result(w, &r);
	memmove(w->edges, w->edges + n, (w->n_edges - n) * sizeof(w->edges[0]));
	w->n_edges -= n;
}

/* Take every waiting edge of both lines into the buffer.  -errno (after
 * lost()) when a line is gone. */
static int drain(struct wgp *w)
{
	struct gl_event ev[READ_MAX];

	for (int i = 0; i < 2; i++) {
		int n;

		do {
			n = gl_line_read(w->line[i], ev, READ_MAX);
			if (n < 0) {
				if (n == -EAGAIN || n == -EINTR)
					break;
				lost(w, i, n);
				return n;
			}
			for (int k = 0; k < n; k++) {
				struct edge e = {
					.t = ev[k].t_ns,
					.line = i,
					/* a pulse starts when the line
					 * turns active */
					.kind = ev[k].edge == GL_RISE
						? WG_FALLING : WG_RISING,
				};

				if (w->n_edges == EDGE_MAX) {
					/* flooded: the oldest go on unheld */
					if (!w->overrun_logged)
						wlog(w, WK_LOG_WARNING,
						     "more than %d edges "
						     "waiting: noise on the "
						     "lines?", EDGE_MAX);
					w->overrun_logged = 1;
					feed(w, EDGE_MAX / 2);
				}
				buffer_add(w, &e);
			}
		} while (n == READ_MAX);
	}
	return 0;
}

/* Feed what is old enough and close a frame whose gap has passed; returns
 * the CLOCK_MONOTONIC ns of the next thing to do, or -1. */
static int64_t process(struct wgp *w)
{
	int64_t horizon = mono_ns() - HOLD_NS, next = -1, dl;
	struct wg_result r;
	size_t n = 0;

	while (n < w->n_edges && w->edges[n].t <= horizon)
		n++;
	if (n > 0)
		feed(w, n);
	dl = wg_deadline(&w->dec);
	/* the frame may end only where every earlier edge is in */
	if (dl >= 0 && dl <= horizon && wg_flush(&w->dec, horizon, &r) == 1) {
		on_result(w, &r);
		dl = -1;
	}
	if (w->n_edges > 0)
		next = w->edges[0].t + HOLD_NS;
	if (dl >= 0) {
		dl += HOLD_NS;
		if (next < 0 || dl < next)
			next = dl;
	}
	if (w->n_edges == 0)
		w->overrun_logged = 0;
	return next;
}

static void arm(struct wgp *w, int64_t at_ns)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (at_ns >= 0) {
		if (at_ns <= 0)
			at_ns = 1;
		its.it_value.tv_sec = (time_t)(at_ns / 1000000000);
		its.it_value.tv_nsec = (long)(at_ns % 1000000000);
	}
	timerfd_settime(w->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void *worker(void *arg)
{
	struct wgp *w = arg;
	int stop = 0;

	while (!stop) {
		struct epoll_event evs[4];
		int64_t next = -1, now;
		int n, timeout = BEAT_MS;

		beat(w);
		if (w->state == ST_DOWN) {
			now = mono_ms();
			if (now >= w->retry_at_ms) {
				if (lines_open(w) == 0)
					set_up(w);
				else
					set_fault(w);
			}
			if (w->state == ST_DOWN) {
				int64_t left = w->retry_at_ms - mono_ms();

				if (left < timeout)
					timeout = left < 0 ? 0 : (int)left;
			}
		}
		if (w->state == ST_UP)
			next = process(w);
		arm(w, next);
		n = epoll_wait(w->ep_fd, evs, 4, timeout);
		if (n < 0 && errno != EINTR) {
			wlog(w, WK_LOG_ERR, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t v;

			if (evs[i].data.u32 == 2) {
				stop = 1;
			} else if (evs[i].data.u32 == 3) {
				if (read(w->timer_fd, &v, sizeof(v)) < 0)
					v = 0;	/* EAGAIN: raced a re-arm */
			} else if (w->state == ST_UP) {
				/* either line: read both, for the order */
				if (drain(w) < 0)
					break;
			}
		}
	}
	return NULL;
}

/* --- the plugin's entry points ------------------------------------------ */

static void close_fds(struct wgp *w)
{
	int *fds[] = { &w->stop_fd, &w->timer_fd, &w->ep_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static void wgp_free(struct wgp *w)
{
	if (w == NULL)
		return;
	close_fds(w);
	pthread_mutex_destroy(&w->hmu);
	free(w);
}

static int wgp_create(const struct wk_host_api *host, struct wk_instance *inst,
		      const struct wk_conf *conf, void **state)
{
	struct parse p = { .conf = conf };
	struct wgp *w;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->host = host;
	w->inst = inst;
	w->stop_fd = w->ep_fd = w->timer_fd = -1;
	pthread_mutex_init(&w->hmu, NULL);
	snprintf(w->name, sizeof(w->name), "%s", conf->name ? conf->name : "");
	p.w = w;
	p.used = calloc(conf->n_items + 1, 1);
	if (p.used == NULL) {
		wgp_free(w);
		return -ENOMEM;
	}
	parse_conf(&p);
	free(p.used);
	if (p.bad) {
		wgp_free(w);
		return -EINVAL;
	}
	*state = w;
	return 0;
}

static int wgp_start(void *state)
{
	struct wgp *w = state;
	struct epoll_event ee;
	int r;

	if (w->running)
		return -EALREADY;
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_CLOEXEC | TFD_NONBLOCK);
	w->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->stop_fd < 0 || w->timer_fd < 0 || w->ep_fd < 0) {
		r = -errno;
		goto fail;
	}
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN;
	ee.data.u32 = 2;
	if (epoll_ctl(w->ep_fd, EPOLL_CTL_ADD, w->stop_fd, &ee) < 0) {
		r = -errno;
		goto fail;
	}
	ee.data.u32 = 3;
	if (epoll_ctl(w->ep_fd, EPOLL_CTL_ADD, w->timer_fd, &ee) < 0) {
		r = -errno;
		goto fail;
	}
	wg_init(&w->dec, &w->wcfg);	/* checked by create */
	w->n_edges = 0;
	w->state = ST_DOWN;
	w->in_fault = 0;
	w->retry_at_ms = 0;
	pthread_mutex_lock(&w->hmu);
	memset(&w->h, 0, sizeof(w->h));
	pthread_mutex_unlock(&w->hmu);
	beat(w);
	r = pthread_create(&w->thread, NULL, worker, w);
	if (r != 0) {
		r = -r;
		goto fail;
	}
	w->running = 1;
	return 0;
fail:
	wlog(w, WK_LOG_ERR, "cannot start: %s", strerror(-r));
	close_fds(w);
	return r;
}

static int wgp_command(void *state, const struct wk_command *cmd)
{
	(void)state;
	(void)cmd;
	return -ENOTSUP;
}

static void wgp_stop(void *state)
{
	struct wgp *w = state;
	uint64_t one = 1;

	if (!w->running)
		return;
	if (write(w->stop_fd, &one, sizeof(one)) < 0)
		wlog(w, WK_LOG_ERR, "cannot wake the worker: %s",
		     strerror(errno));
	pthread_join(w->thread, NULL);
	w->running = 0;
	if (w->dec.pending || w->n_edges > 0)
		wlog(w, WK_LOG_INFO, "stopped with a frame half received");
	lines_close(w);
	close_fds(w);
}

static void wgp_destroy(void *state)
{
	struct wgp *w = state;

	if (w != NULL && w->running)
		wgp_stop(w);
	wgp_free(w);
}

static int wgp_health(void *state, struct wk_health *out)
{
	struct wgp *w = state;

	pthread_mutex_lock(&w->hmu);
	*out = w->h;
	pthread_mutex_unlock(&w->hmu);
	if (w->running) {
		out->heartbeat_ms = atomic_load(&w->beat_ms);
		/* the worker's longest turn: opening a chip and two lines */
		out->heartbeat_max_ms = 5000;
	}
	return 0;
}

static uint32_t wgp_instance_provides(void *state)
{
	(void)state;
	return WK_PROVIDES_CREDENTIAL;
}

__attribute__((visibility("default")))
const struct wk_plugin wicket_plugin = {
	.abi_major = WICKET_ABI_MAJOR,
	.abi_minor = WICKET_ABI_MINOR,
	.size = sizeof(struct wk_plugin),
	.name = "wiegand",
	.version = WICKET_VERSION,
	.description = "Wiegand card reader on two GPIO lines",
	.provides = WK_PROVIDES_CREDENTIAL,
	.create = wgp_create,
	.start = wgp_start,
	.command = wgp_command,
	.stop = wgp_stop,
	.destroy = wgp_destroy,
	.health = wgp_health,
	.instance_provides = wgp_instance_provides,
};
