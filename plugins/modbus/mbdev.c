/*
 * mbdev: one worker thread per Modbus TCP device.
 *
 * libmodbus calls block for up to the response timeout, so each device gets
 * a thread of its own and a dead device delays nobody else.  The thread owns
 * the modbus_t and all the kind's poll state; the loop thread only touches
 * the command queue and the stop flag, under the mutex, which the worker
 * never holds across I/O.
 *
 * Schedule (CLOCK_MONOTONIC): queued commands first (a person is waiting at
 * the gate), then the poll when due, then sleep on the condvar until the
 * next poll, a command or stop.  A poll that runs late is not made up for:
 * the next one is due one period after this one started, or at once.
 *
 * Faults: any Modbus error drops the connection (a late reply must never be
 * taken for the answer to the next request) and starts or continues a
 * fault spell; a value the kind refuses starts one too but keeps the link.
 * Only the start of a spell is reported (event + warning); retries then
 * come after poll_ms, 2 * poll_ms, ... up to backoff_max_ms, and the first
 * success ends the spell ("recovered"), or, the first time ever,
 * "connected".
 *
 * Commands that cannot run now (no connection) are dropped, not kept: a
 * gate that opens minutes later for nobody is worse than one that did not
 * open.  Left to do: Modbus RTU (serial) links.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modbus.h>

#include <wicket/plugin.h>

/* Only `wicket_plugin` is the plugin's interface to the daemon; the helper
 * modules linked into each plugin stay internal to it. */
#pragma GCC visibility push(hidden)

#include "mbdev.h"

#define QUEUE_LEN 8

enum state { ST_NEW, ST_OK, ST_FAULT };

struct mbdev {
	const struct wk_host_api *host;
	struct wk_instance *inst;
	struct mb_link link;
	const struct mbdev_kind *kind;
	void *arg;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int running;		/* loop thread only */

	/* under mu */
	int stopping;
	struct wk_command queue[QUEUE_LEN];
	unsigned q_head, q_len;

	/* worker only */
	modbus_t *mb;
	int connected;
	enum state state;
	int ever_ok;		/* "connected" once, then "recovered" */
	int link_broken;	/* the last failure was the link */
	unsigned gap_ms;
	int64_t next_poll;
	char why[WK_MESSAGE_MAX];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait on the condvar until the monotonic time at_ms; d->mu held. */
static void wait_until(struct mbdev *d, int64_t at_ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(at_ms / 1000),
		.tv_nsec = (long)(at_ms % 1000) * 1000000,
	};

	pthread_cond_timedwait(&d->cv, &d->mu, &ts);
}

void mbdev_log(struct mbdev *d, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	d->host->log(d->inst, level, "%s", buf);
}

struct confctx {
	const struct wk_host_api *host;
	struct wk_instance *inst;
};

/* mbmap's error callback, forwarded to host->conf_error */
static int conf_err(void *ctx, const struct wk_conf_item *item,
		    const char *fmt, ...) WK_PRINTF(3, 4);

static int conf_err(void *ctx, const struct wk_conf_item *item,
		    const char *fmt, ...)
{
	struct confctx *cc = ctx;
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return cc->host->conf_error(cc->inst, item, "%s", buf);
}

int mbdev_parse_conf(const struct wk_host_api *host, struct wk_instance *inst,
		     const struct wk_conf *conf, struct mb_link *link,
		     mbdev_map_parser parse_map, void *map)
{
	struct confctx cc = { host, inst };
	unsigned char *used = calloc(conf->n_items + 1, 1);
	int bad = 0;

	if (used == NULL)
		return -ENOMEM;
	bad |= mbmap_parse_link(conf, used, link, conf_err, &cc) < 0;
	bad |= parse_map(conf, used, map, conf_err, &cc) < 0;
	bad |= mbmap_check_unused(conf, used, conf_err, &cc) < 0;
	free(used);
	return bad ? -EINVAL : 0;
}

static void emit_raw(struct mbdev *d, struct wk_event *ev)
{
	int r;

	ev->time_ms = wall_ms();
	r = d->host->emit(d->inst, ev);
	if (r < 0)
		mbdev_log(d, WK_LOG_WARNING,
			  "event type %" PRIu32 " lost: %s", ev->type,
			  strerror(-r));
}

static void emit_status(struct mbdev *d, uint32_t type, const char *msg)
{
	struct wk_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	snprintf(ev.message, sizeof(ev.message), "%s", msg);
	emit_raw(d, &ev);
}

/* The device answered as it should: end a fault spell, if any. */
static void succeeded(struct mbdev *d)
{
	unsigned prev_gap = d->gap_ms;

	d->gap_ms = d->link.poll_ms;
	if (d->state == ST_OK)
		return;
	if (!d->ever_ok) {
		mbdev_log(d, WK_LOG_NOTICE, "connected to %s:%d unit %d",
			  d->link.host, d->link.port, d->link.unit);
		emit_status(d, WK_EV_DEVICE_OK, "connected");
		d->ever_ok = 1;
	} else {
		mbdev_log(d, WK_LOG_NOTICE, "recovered (retry gap was %u ms)",
			  prev_gap);
		emit_status(d, WK_EV_DEVICE_OK, "recovered");
	}
	d->state = ST_OK;
}

/* Something failed and d->why says what. */
static void failed(struct mbdev *d)
{
	unsigned cap = d->link.backoff_max_ms > d->link.poll_ms
			       ? d->link.backoff_max_ms
			       : d->link.poll_ms;

	if (d->link_broken && d->connected) {
		modbus_close(d->mb);
		d->connected = 0;
	}
	if (d->state != ST_FAULT) {
		d->state = ST_FAULT;
		d->gap_ms = d->link.poll_ms;
		mbdev_log(d, WK_LOG_WARNING, "device fault: %s", d->why);
		emit_status(d, WK_EV_DEVICE_FAULT, d->why);
	} else {
		d->gap_ms = d->gap_ms > cap / 2 ? cap : d->gap_ms * 2;
		mbdev_log(d, WK_LOG_DEBUG, "still failing, next try in %u ms: %s",
			  d->gap_ms, d->why);
	}
	d->next_poll = mono_ms() + d->gap_ms;
}

/* Record a Modbus error (errno from libmodbus) as the current reason. */
static int modbus_failed(struct mbdev *d, const char *what, int e)
{
	const char *kind = "error";

	if (e == ETIMEDOUT)
		kind = "timeout";
	else if (e >= EMBXILFUN && e <= EMBXGTAR)
		kind = "exception";
	snprintf(d->why, sizeof(d->why), "%s %s: %s", kind, what,
		 modbus_strerror(e));
	d->link_broken = 1;
	if (d->connected) {
		modbus_close(d->mb);
		d->connected = 0;
	}
	return e > 0 ? -e : -EIO;
}

static int connect_now(struct mbdev *d)
{
	char what[300];

	if (d->connected)
		return 0;
	if (modbus_connect(d->mb) < 0) {
		int e = errno;

		snprintf(what, sizeof(what), "connecting to %s:%d",
			 d->link.host, d->link.port);
		modbus_close(d->mb);
		return modbus_failed(d, what, e);
	}
	d->connected = 1;
	if (d->kind->reset != NULL)
		d->kind->reset(d->arg);
	return 0;
}

int mbdev_reconnect(struct mbdev *d)
{
	if (d->connected) {
		modbus_close(d->mb);
		d->connected = 0;
	}
	return connect_now(d);
}

static const char *table_name(enum mb_table t)
{
	switch (t) {
	case MB_INPUT:
		return "input register";
	case MB_COIL:
		return "coil";
	default:
		return "register";
	}
}

static void describe(char *buf, size_t len, const char *verb,
		     enum mb_table t, int addr, int n)
{
	if (n == 1)
		snprintf(buf, len, "%s %s %d", verb, table_name(t), addr);
	else
		snprintf(buf, len, "%s %ss %d..%d", verb, table_name(t), addr,
			 addr + n - 1);
}

int mbdev_read(struct mbdev *d, enum mb_table t, int addr, int n,
	       uint16_t *regs)
{
	uint8_t bits[64];
	char what[80];
	int r;

	if (n < 1 || n > 64)
		return -EINVAL;
	if (!d->connected) {
		r = connect_now(d);
		if (r < 0)
			return r;
	}
	if (t == MB_COIL)
		r = modbus_read_bits(d->mb, addr, n, bits);
	else if (t == MB_INPUT)
		r = modbus_read_input_registers(d->mb, addr, n, regs);
	else
		r = modbus_read_registers(d->mb, addr, n, regs);
	if (r != n) {
		int e = r < 0 ? errno : EMBBADDATA;

		describe(what, sizeof(what), "reading", t, addr, n);
		return modbus_failed(d, what, e);
	}
	if (t == MB_COIL) {
		for (int i = 0; i < n; i++)
			regs[i] = bits[i] ? 1 : 0;
	}
	return 0;
}

int mbdev_write_register(struct mbdev *d, int addr, uint16_t value)
{
	char what[80];
	int r;

	if (!d->connected) {
		r = connect_now(d);
		if (r < 0)
			return r;
	}
	if (modbus_write_register(d->mb, addr, value) != 1) {
		int e = errno;

		snprintf(what, sizeof(what), "writing register %d", addr);
		return modbus_failed(d, what, e);
	}
	return 0;
}

int mbdev_write_coil(struct mbdev *d, int addr, int on)
{
	char what[80];
	int r;

	if (!d->connected) {
		r = connect_now(d);
		if (r < 0)
			return r;
	}
	if (modbus_write_bit(d->mb, addr, on ? 1 : 0) != 1) {
		int e = errno;

		snprintf(what, sizeof(what), "writing coil %d", addr);
		return modbus_failed(d, what, e);
	}
	return 0;
}

int mbdev_reject(struct mbdev *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	d->link_broken = 0;
	return -EBADMSG;
}

const char *mbdev_reason(const struct mbdev *d)
{
	return d->why;
}

int mbdev_wait(struct mbdev *d, unsigned ms)
{
	int64_t until = mono_ms() + ms;
	int r;

	pthread_mutex_lock(&d->mu);
	while (!d->stopping && mono_ms() < until)
		wait_until(d, until);
	r = d->stopping ? -ECANCELED : 0;
	pthread_mutex_unlock(&d->mu);
	return r;
}

void mbdev_emit(struct mbdev *d, struct wk_event *ev)
{
	/* a reading proves the device works: say so before the reading */
	if (ev->type != WK_EV_DEVICE_FAULT && ev->type != WK_EV_DEVICE_OK)
		succeeded(d);
	emit_raw(d, ev);
}

static void run_command(struct mbdev *d, const struct wk_command *cmd)
{
	int r;

	r = connect_now(d);
	if (r < 0) {
		mbdev_log(d, WK_LOG_WARNING, "command %" PRIu64 " dropped: %s",
			  cmd->id, d->why);
		failed(d);
		return;
	}
	r = d->kind->command(d, d->arg, cmd);
	if (r < 0) {
		mbdev_log(d, WK_LOG_WARNING, "command %" PRIu64 " failed: %s",
			  cmd->id, d->why);
		failed(d);
		return;
	}
	if (d->state == ST_FAULT) {
		/* the device is back: poll soon instead of after the gap */
		int64_t soon = mono_ms() + d->link.poll_ms;

		if (d->next_poll > soon)
			d->next_poll = soon;
	}
	succeeded(d);
}

static void run_poll(struct mbdev *d)
{
	int64_t started = mono_ms();

	if (connect_now(d) < 0 || d->kind->poll(d, d->arg) < 0) {
		failed(d);
		return;
	}
	succeeded(d);
	d->next_poll = started + d->link.poll_ms;
}

static void *worker(void *p)
{
	struct mbdev *d = p;
	struct wk_command cmd;

	d->next_poll = mono_ms();
	pthread_mutex_lock(&d->mu);
	while (!d->stopping) {
		if (d->q_len > 0) {
			cmd = d->queue[d->q_head];
			d->q_head = (d->q_head + 1) % QUEUE_LEN;
			d->q_len--;
			pthread_mutex_unlock(&d->mu);
			run_command(d, &cmd);
			pthread_mutex_lock(&d->mu);
			continue;
		}
		if (mono_ms() >= d->next_poll) {
			pthread_mutex_unlock(&d->mu);
			run_poll(d);
			pthread_mutex_lock(&d->mu);
			continue;
		}
		wait_until(d, d->next_poll);
	}
	while (d->q_len > 0) {
		cmd = d->queue[d->q_head];
		d->q_head = (d->q_head + 1) % QUEUE_LEN;
		d->q_len--;
		mbdev_log(d, WK_LOG_WARNING,
			  "command %" PRIu64 " dropped: stopping", cmd.id);
	}
	pthread_mutex_unlock(&d->mu);
	if (d->connected) {
		modbus_close(d->mb);
		d->connected = 0;
	}
	return NULL;
}

int mbdev_new(const struct wk_host_api *host, struct wk_instance *inst,
	      const struct mb_link *link, const struct mbdev_kind *kind,
	      void *arg, struct mbdev **out)
{
	struct mbdev *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	int r;

	if (d == NULL)
		return -ENOMEM;
	d->host = host;
	d->inst = inst;
	d->link = *link;
	d->kind = kind;
	d->arg = arg;
	r = pthread_condattr_init(&ca);
	if (r != 0)
		goto fail;
	r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (r != 0)
		goto fail;
	r = pthread_mutex_init(&d->mu, NULL);
	if (r != 0) {
		pthread_cond_destroy(&d->cv);
		goto fail;
	}
	*out = d;
	return 0;
fail:
	free(d);
	return -r;
}

int mbdev_start(struct mbdev *d)
{
	sigset_t all, old;
	int r;

	if (d->running)
		return 0;
	d->mb = modbus_new_tcp(d->link.host, d->link.port);
	if (d->mb == NULL)
		return -(errno ? errno : ENOMEM);
	if (modbus_set_slave(d->mb, d->link.unit) < 0 ||
	    modbus_set_response_timeout(d->mb, d->link.timeout_ms / 1000,
					(d->link.timeout_ms % 1000) * 1000) < 0) {
		r = errno ? errno : EINVAL;
		modbus_free(d->mb);
		d->mb = NULL;
		return -r;
	}
	d->connected = 0;
	d->state = ST_NEW;
	d->ever_ok = 0;
	d->gap_ms = d->link.poll_ms;
	d->stopping = 0;
	d->q_head = d->q_len = 0;

	/* signals belong to the loop thread (signalfd) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&d->thread, NULL, worker, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		modbus_free(d->mb);
		d->mb = NULL;
		return -r;
	}
	d->running = 1;
	return 0;
}

void mbdev_stop(struct mbdev *d)
{
	if (d == NULL || !d->running)
		return;
	pthread_mutex_lock(&d->mu);
	d->stopping = 1;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	d->running = 0;
	modbus_free(d->mb);
	d->mb = NULL;
}

int mbdev_submit(struct mbdev *d, const struct wk_command *cmd)
{
	int r = 0;

	pthread_mutex_lock(&d->mu);
	if (!d->running || d->stopping) {
		r = -EAGAIN;
	} else if (d->q_len == QUEUE_LEN) {
		r = -ENOBUFS;
	} else {
		d->queue[(d->q_head + d->q_len) % QUEUE_LEN] = *cmd;
		d->q_len++;
		pthread_cond_broadcast(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
	return r;
}

void mbdev_free(struct mbdev *d)
{
	if (d == NULL)
		return;
	mbdev_stop(d);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

#pragma GCC visibility pop
