/*
 * mbdev: Modbus buses, one owner thread each, and the devices on them.
 *
 * libmodbus calls block for up to the response timeout and a serial line
 * carries one transaction at a time, so each bus (a serial line, or one
 * TCP peer such as a Modbus gateway) gets one worker thread that owns its
 * modbus_t.  A dead device on one bus never delays another bus or the
 * loop; on its own bus it costs one timeout per retry gap, and the gap
 * doubles while it stays dead.
 *
 * The worker's order of work, under the bus mutex (never held across I/O):
 *   1. queued commands (a person is waiting at the gate), oldest first,
 *      then timed commands that are due (a relay's release);
 *   2. the poll of the device whose poll is most overdue;
 *   3. sleep on the condvar until the next poll, a command, or stop.
 * Commands also run between the requests of a poll and between the
 * retries of a request (mbdev_read and friends check the queue first), so
 * a command waits at most for the request in flight: one timeout when its
 * device does not answer.  A device's next poll is due one period after the
 * previous one was due; a device running late gets one poll at once, never
 * a pile of them.
 *
 * Every transaction keeps the bus quiet for frame_gap_ms after the
 * previous one (on RTU, after a timeout: for one more timeout), flushes
 * stale input (a late answer must never be taken for the answer to this
 * request; TCP answers also carry a transaction id), and is retried
 * `retries` times, except when
 * the device answered with an exception or is already in a fault spell.
 * An answer from another slave (a late answer on a shared line) is not the
 * asked device's fault: it is asked again.  Link errors close the bus; on
 * TCP, three requests in a row that time out (each after its retries),
 * with no good answer in between, close it too (a half-open connection
 * never recovers by itself).  Everything else
 * keeps the connection, so one silent unit behind a gateway does not
 * disconnect its neighbours.
 *
 * Devices join a bus in mbdev_start and leave it in mbdev_stop; the first
 * opens it, the last closes it.  Devices created but not started are kept
 * in a pending list: that is the configuration being checked (start-up,
 * `wicketd -t`, or the new side of a reload), against which
 * mbdev_parse_conf checks that devices on one bus agree on its settings.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include <linux/serial.h>
#include <modbus.h>

#include <wicket/plugin.h>

#include "mbdev.h"

#define CMDQ_LEN 16
#define TIMED_LEN 16
#define STRAYS_MAX 2		/* other slaves' answers tolerated per request */
#define TCP_SILENT_RECONNECT 3	/* unanswered requests that close a TCP bus */
#define BYTE_TIMEOUT_MS 100u	/* between two bytes of one answer */
#define BEAT_MS 1000		/* an idle worker turns at least this often */

enum state { ST_NEW, ST_OK, ST_FAULT };

enum fail_class { F_TIMEOUT, F_CRC, F_EXCEPTION, F_BAD, F_STRAY, F_LINK };

struct cmd_slot {
	struct mbdev *dev;
	struct wk_command cmd;
	int64_t due;		/* timed: CLOCK_MONOTONIC ms */
};

struct mbbus {
	struct mbbus *next;	/* g_buses, under g_mu */
	char name[300];		/* mbmap_bus_name */
	struct mb_link link;	/* the bus keys, from its first device */
	unsigned refs;		/* devices started on it, under g_mu */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;

	/* under mu */
	int stopping;
	struct mbdev **devs;
	size_t n_devs, cap_devs;
	struct cmd_slot queue[CMDQ_LEN];
	unsigned q_head, q_len;
	struct cmd_slot timed[TIMED_LEN];
	unsigned n_timed;
	struct mbdev *busy_poll;	/* whose poll is running */
	struct mbdev *busy_cmd;		/* whose command is running */

	/* the watchdog's view (any thread): the worker's last turn, and the
	 * longest timeout_ms of the devices started on it */
	_Atomic int64_t beat_ms;
	_Atomic unsigned max_timeout_ms;

	/* worker only */
	modbus_t *mb;
	int connected;
	unsigned gen;		/* bumped on each connect */
	int in_cmd;		/* running commands: do not nest */
	int64_t quiet_until_us;	/* no frame before this */
	unsigned silent_row;	/* TCP timeouts in a row */
	int rs485_noted;
};

struct mbdev {
	const struct wk_host_api *host;
	struct wk_instance *inst;
	char name[64];		/* for messages about other devices */
	struct mb_link link;
	const struct mbdev_kind *kind;
	void *arg;
	struct mbbus *bus;	/* while started; loop thread */
	struct mbdev *pending_next;	/* g_pending, under g_mu */
	int pending;

	/* under bus->mu */
	int detaching;

	/* the status copy, under hmu */
	pthread_mutex_t hmu;
	struct wk_health pub;

	/* worker only */
	enum state state;
	int ever_ok;		/* "connected" once, then "recovered" */
	int link_broken;	/* the last failure was not a refused value */
	enum fail_class last_class;	/* of the last failed request */
	int need_reset;
	unsigned seen_gen;
	unsigned gap_ms;
	int64_t next_poll;
	struct wk_health h;
	char why[WK_MESSAGE_MAX];
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mbbus *g_buses;
static struct mbdev *g_pending;

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
	return mono_us() / 1000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The worker is alive: seen by the watchdog through health(). */
static void beat(struct mbbus *b)
{
	atomic_store(&b->beat_ms, mono_ms());
}

/* Wait on the bus condvar until the monotonic time at_ms, or BEAT_MS at
 * most, so that an idle worker still shows a heartbeat; b->mu held. */
static void wait_until(struct mbbus *b, int64_t at_ms)
{
	int64_t cap = mono_ms() + BEAT_MS;
	struct timespec ts;

	if (at_ms > cap)
		at_ms = cap;
	ts.tv_sec = (time_t)(at_ms / 1000);
	ts.tv_nsec = (long)(at_ms % 1000) * 1000000;
	pthread_cond_timedwait(&b->cv, &b->mu, &ts);
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

/* --- configuration --------------------------------------------------- */

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

static const struct wk_conf_item *find_item(const struct wk_conf *conf,
					    const char *key)
{
	const struct wk_conf_item *found = NULL;

	for (size_t i = 0; i < conf->n_items; i++)
		if (conf->items[i].key && strcmp(conf->items[i].key, key) == 0)
			found = &conf->items[i];
	return found;
}

/* The devices of the configuration being built that share link's bus
 * must agree on its keys. */
static int check_bus(const struct wk_host_api *host, struct wk_instance *inst,
		     const struct wk_conf *conf, const struct mb_link *link)
{
	char mine[300], theirs[300], a[32], b[32];
	const char *key = NULL;
	const struct mbdev *other = NULL;

	mbmap_bus_name(link, mine, sizeof(mine));
	pthread_mutex_lock(&g_mu);
	for (const struct mbdev *d = g_pending; d != NULL; d = d->pending_next) {
		mbmap_bus_name(&d->link, theirs, sizeof(theirs));
		if (strcmp(mine, theirs) != 0)
			continue;
		key = mbmap_link_conflict(link, &d->link);
		if (key != NULL) {
			other = d;
			break;
		}
	}
	if (other != NULL) {
		mbmap_bus_value(link, key, a, sizeof(a));
		mbmap_bus_value(&other->link, key, b, sizeof(b));
		snprintf(theirs, sizeof(theirs), "%s", other->name);
	}
	pthread_mutex_unlock(&g_mu);
	if (other == NULL)
		return 0;
	return host->conf_error(inst, find_item(conf, key),
				"%s: %s, but device %s on the same bus (%s) has %s; devices on one bus share its settings",
				key, a, theirs, mine, b);
}

int mbdev_parse_conf(const struct wk_host_api *host, struct wk_instance *inst,
		     const struct wk_conf *conf, struct mb_link *link,
		     mbdev_map_parser parse_map, void *map)
{
	struct confctx cc = { host, inst };
	unsigned char *used = calloc(conf->n_items + 1, 1);
	int bad = 0, link_bad;

	if (used == NULL)
		return -ENOMEM;
	link_bad = mbmap_parse_link(conf, used, link, conf_err, &cc) < 0;
	bad |= link_bad;
	bad |= parse_map(conf, used, map, conf_err, &cc) < 0;
	bad |= mbmap_check_unused(conf, used, conf_err, &cc) < 0;
	if (!link_bad)
		bad |= check_bus(host, inst, conf, link) < 0;
	free(used);
	return bad ? -EINVAL : 0;
}

/* --- status ---------------------------------------------------------- */

static void publish(struct mbdev *d)
{
	pthread_mutex_lock(&d->hmu);
	d->pub = d->h;
	d->pub.state = d->state == ST_OK ? WK_HEALTH_OK :
		       d->state == ST_FAULT ? WK_HEALTH_FAULT :
					      WK_HEALTH_UNKNOWN;
	d->pub.retry_ms = d->state == ST_FAULT ? d->gap_ms : 0;
	snprintf(d->pub.last_error, sizeof(d->pub.last_error), "%s", d->why);
	pthread_mutex_unlock(&d->hmu);
}

void mbdev_health(struct mbdev *d, struct wk_health *out)
{
	pthread_mutex_lock(&d->hmu);
	*out = d->pub;
	pthread_mutex_unlock(&d->hmu);
	if (d->bus != NULL) {
		/* busy at most: a quiet guard, a connect and a request, each
		 * up to the longest timeout on the bus, and the frame gaps */
		out->heartbeat_ms = atomic_load(&d->bus->beat_ms);
		out->heartbeat_max_ms =
			3 * (int64_t)atomic_load(&d->bus->max_timeout_ms) +
			2 * BEAT_MS;
	}
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
	d->state = ST_OK;
	publish(d);		/* before the event: the status reads it */
	if (!d->ever_ok) {
		char bus[300];

		mbmap_bus_name(&d->link, bus, sizeof(bus));
		mbdev_log(d, WK_LOG_NOTICE, "connected: %s unit %d", bus,
			  d->link.unit);
		emit_status(d, WK_EV_DEVICE_OK, "connected");
		d->ever_ok = 1;
	} else {
		mbdev_log(d, WK_LOG_NOTICE, "recovered (retry gap was %u ms)",
			  prev_gap);
		emit_status(d, WK_EV_DEVICE_OK, "recovered");
	}
}

/* Something failed and d->why says what. */
static void failed(struct mbdev *d)
{
	unsigned cap = d->link.backoff_max_ms > d->link.poll_ms
			       ? d->link.backoff_max_ms
			       : d->link.poll_ms;

	if (d->link_broken)
		d->need_reset = 1;
	if (d->state != ST_FAULT) {
		d->state = ST_FAULT;
		d->gap_ms = d->link.poll_ms;
		d->next_poll = mono_ms() + d->gap_ms;
		d->h.faults++;
		publish(d);	/* before the event: the status reads it */
		mbdev_log(d, WK_LOG_WARNING, "device fault: %s", d->why);
		emit_status(d, WK_EV_DEVICE_FAULT, d->why);
	} else {
		d->gap_ms = d->gap_ms > cap / 2 ? cap : d->gap_ms * 2;
		d->next_poll = mono_ms() + d->gap_ms;
		mbdev_log(d, WK_LOG_DEBUG, "still failing, next try in %u ms: %s",
			  d->gap_ms, d->why);
	}
}

/* --- the bus's I/O (worker) ------------------------------------------- */

static void bus_close(struct mbbus *b)
{
	if (b->connected) {
		modbus_close(b->mb);
		b->connected = 0;
	}
}

/* A port the kernel already runs in RS-485 mode (device tree, udev) keeps
 * its own settings (RTS polarity, delays): libmodbus would replace them. */
static int rs485_already(struct mbbus *b)
{
	struct serial_rs485 conf;

	memset(&conf, 0, sizeof(conf));
	return ioctl(modbus_get_socket(b->mb), TIOCGRS485, &conf) == 0 &&
	       (conf.flags & SER_RS485_ENABLED);
}

/* Open the bus for d's request.  0, or -errno with d->why set. */
static int bus_open(struct mbbus *b, struct mbdev *d)
{
	int e;

	if (b->connected)
		return 0;
	beat(b);
	errno = 0;
	if (modbus_connect(b->mb) < 0) {
		e = errno ? errno : EIO;
		modbus_close(b->mb);
		d->h.link_errors++;
		d->link_broken = 1;
		d->last_class = F_LINK;
		snprintf(d->why, sizeof(d->why), "link: cannot open %.100s: %s",
			 b->name, modbus_strerror(e));
		return -e;
	}
	if (b->link.transport == MB_RTU && b->link.rs485 != MB_RS485_OFF &&
	    !rs485_already(b) &&
	    modbus_rtu_set_serial_mode(b->mb, MODBUS_RTU_RS485) < 0) {
		e = errno ? errno : EIO;
		if (b->link.rs485 == MB_RS485_ON) {
			modbus_close(b->mb);
			d->h.link_errors++;
			d->link_broken = 1;
			d->last_class = F_LINK;
			snprintf(d->why, sizeof(d->why),
				 "link: %.100s has no RS-485 mode (%s) and rs485 = on",
				 b->link.serial, strerror(e));
			return -e;
		}
		if (!b->rs485_noted)
			mbdev_log(d, WK_LOG_INFO,
				  "%s: the driver has no RS-485 mode (%s); the converter must switch direction itself",
				  b->link.serial, strerror(e));
		b->rs485_noted = 1;
	}
	b->connected = 1;
	b->gen++;
	b->silent_row = 0;
	return 0;
}

static void keep_quiet(struct mbbus *b)
{
	int64_t now = mono_us();
	struct timespec ts;

	if (b->quiet_until_us <= now)
		return;
	ts.tv_sec = (time_t)((b->quiet_until_us - now) / 1000000);
	ts.tv_nsec = (long)((b->quiet_until_us - now) % 1000000) * 1000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static enum fail_class classify(int e)
{
	if (e == ETIMEDOUT)
		return F_TIMEOUT;
	if (e == EMBBADCRC)
		return F_CRC;
	if (e >= EMBXILFUN && e <= EMBXGTAR)
		return F_EXCEPTION;
	if (e == EMBBADSLAVE)
		return F_STRAY;
	if (e == EMBBADDATA || e == EMBBADEXC || e == EMBUNKEXC ||
	    e == EMBMDATA)
		return F_BAD;
	return F_LINK;
}

static const char *const class_names[] = {
	[F_TIMEOUT] = "timeout", [F_CRC] = "crc error",
	[F_EXCEPTION] = "exception", [F_BAD] = "bad reply",
	[F_STRAY] = "bad reply", [F_LINK] = "link",
};

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

enum op { OP_READ, OP_WRITE_REG, OP_WRITE_COIL };

struct request {
	enum op op;
	enum mb_table table;
	int addr, n;
	uint16_t *regs;		/* OP_READ */
	uint16_t value;		/* writes */
};

static void describe(char *buf, size_t len, const struct request *rq)
{
	if (rq->op == OP_WRITE_REG)
		snprintf(buf, len, "writing register %d", rq->addr);
	else if (rq->op == OP_WRITE_COIL)
		snprintf(buf, len, "writing coil %d", rq->addr);
	else if (rq->n == 1)
		snprintf(buf, len, "reading %s %d", table_name(rq->table),
			 rq->addr);
	else
		snprintf(buf, len, "reading %ss %d..%d", table_name(rq->table),
			 rq->addr, rq->addr + rq->n - 1);
}

/* One request and its answer on the wire.  0 or a positive errno. */
static int exchange(struct mbbus *b, struct mbdev *d, const struct request *rq)
{
	uint8_t bits[64];
	unsigned byte_ms = d->link.timeout_ms < BYTE_TIMEOUT_MS
				   ? d->link.timeout_ms : BYTE_TIMEOUT_MS;
	int rc, want = rq->op == OP_READ ? rq->n : 1, e;

	keep_quiet(b);
	beat(b);
	if (modbus_set_slave(b->mb, d->link.unit) < 0)
		return errno ? errno : EINVAL;	/* never ask another unit */
	modbus_set_response_timeout(b->mb, d->link.timeout_ms / 1000,
				    (d->link.timeout_ms % 1000) * 1000);
	modbus_set_byte_timeout(b->mb, 0, byte_ms * 1000);
	modbus_flush(b->mb);
	d->h.requests++;
	errno = 0;
	if (rq->op == OP_WRITE_REG)
		rc = modbus_write_register(b->mb, rq->addr, rq->value);
	else if (rq->op == OP_WRITE_COIL)
		rc = modbus_write_bit(b->mb, rq->addr, rq->value ? 1 : 0);
	else if (rq->table == MB_COIL)
		rc = modbus_read_bits(b->mb, rq->addr, rq->n, bits);
	else if (rq->table == MB_INPUT)
		rc = modbus_read_input_registers(b->mb, rq->addr, rq->n,
						 rq->regs);
	else
		rc = modbus_read_registers(b->mb, rq->addr, rq->n, rq->regs);
	e = errno;
	b->quiet_until_us = mono_us() + (int64_t)b->link.frame_gap_ms * 1000;
	if (rc == want) {
		if (rq->op == OP_READ && rq->table == MB_COIL)
			for (int i = 0; i < rq->n; i++)
				rq->regs[i] = bits[i] ? 1 : 0;
		return 0;
	}
	if (rc >= 0)
		return EMBBADDATA;
	return e ? e : EIO;
}

static void run_waiting(struct mbbus *b);

/* Whether d is leaving its bus (then a retry is not worth the wait). */
static int leaving(struct mbdev *d)
{
	int r;

	pthread_mutex_lock(&d->bus->mu);
	r = d->detaching || d->bus->stopping;
	pthread_mutex_unlock(&d->bus->mu);
	return r;
}

/* A request with its retries, counted in d->h.  0 or -errno, d->why set. */
static int transact(struct mbdev *d, const struct request *rq)
{
	struct mbbus *b = d->bus;
	unsigned tries, strays = 0;
	enum fail_class cls = F_LINK;
	char what[80];
	int e = EIO, r;

	for (unsigned i = 0;;) {
		/* commands go ahead of every poll request and every retry,
		 * also of one that was only waiting for the bus to be quiet */
		if (!b->in_cmd) {
			keep_quiet(b);
			run_waiting(b);
		}
		tries = 1 + (d->state == ST_FAULT ? 0 : d->link.retries);
		if (i >= tries || (i > 0 && leaving(d)))
			break;
		r = bus_open(b, d);
		if (r < 0)
			return r;
		e = exchange(b, d, rq);
		if (e == 0) {
			d->h.responses++;
			d->h.last_ok_ms = wall_ms();
			b->silent_row = 0;
			return 0;
		}
		cls = classify(e);
		if (cls == F_STRAY && strays < STRAYS_MAX) {
			strays++;	/* another slave's late answer */
			continue;
		}
		i++;
		switch (cls) {
		case F_TIMEOUT:
			d->h.timeouts++;
			/* an answer that is merely late must land in the
			 * flush before the next request, not in its reply:
			 * RTU frames carry nothing to tell them apart (TCP
			 * ones carry a transaction id) */
			if (b->link.transport == MB_RTU)
				b->quiet_until_us =
					mono_us() +
					(int64_t)d->link.timeout_ms * 1000;
			break;
		case F_CRC:
			d->h.crc_errors++;
			break;
		case F_EXCEPTION:
			d->h.exceptions++;
			i = UINT_MAX;	/* a definite answer: no retry */
			break;
		case F_BAD:
		case F_STRAY:
			d->h.bad_replies++;
			break;
		case F_LINK:
			d->h.link_errors++;
			bus_close(b);
			break;
		}
	}
	/* a TCP peer that answers nobody, several requests in a row, may be
	 * a half-open connection: one silent unit alone is not enough when
	 * its neighbours answer in between */
	if (cls == F_TIMEOUT && b->link.transport == MB_TCP &&
	    ++b->silent_row >= TCP_SILENT_RECONNECT) {
		mbdev_log(d, WK_LOG_INFO, "%s: %u requests in a row unanswered, reconnecting",
			  b->name, b->silent_row);
		bus_close(b);
	}
	describe(what, sizeof(what), rq);
	snprintf(d->why, sizeof(d->why), "%s %s: %s", class_names[cls], what,
		 modbus_strerror(e));
	d->link_broken = 1;
	d->last_class = cls;
	return -e;
}

int mbdev_read(struct mbdev *d, enum mb_table t, int addr, int n,
	       uint16_t *regs)
{
	struct request rq = { OP_READ, t, addr, n, regs, 0 };

	if (n < 1 || n > 64)
		return -EINVAL;
	return transact(d, &rq);
}

int mbdev_write_register(struct mbdev *d, int addr, uint16_t value)
{
	struct request rq = { OP_WRITE_REG, MB_HOLDING, addr, 1, NULL, value };

	return transact(d, &rq);
}

int mbdev_write_coil(struct mbdev *d, int addr, int on)
{
	struct request rq = { OP_WRITE_COIL, MB_COIL, addr, 1, NULL,
			      (uint16_t)(on ? 1 : 0) };

	return transact(d, &rq);
}

int mbdev_reconnect(struct mbdev *d)
{
	/* a device that answered (an exception, a bad reply) gains nothing,
	 * and its neighbours would lose their connection */
	if (d->last_class != F_LINK && d->last_class != F_TIMEOUT)
		return -EAGAIN;
	bus_close(d->bus);
	return bus_open(d->bus, d);
}

int mbdev_reject(struct mbdev *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	d->h.bad_values++;
	d->link_broken = 0;
	return -EBADMSG;
}

const char *mbdev_reason(const struct mbdev *d)
{
	return d->why;
}

int mbdev_after(struct mbdev *d, unsigned ms, const struct wk_command *cmd)
{
	struct mbbus *b = d->bus;
	int r = 0;

	pthread_mutex_lock(&b->mu);
	if (d->detaching) {
		r = -ECANCELED;	/* nothing may outlive the device */
	} else if (b->n_timed == TIMED_LEN) {
		r = -ENOBUFS;
	} else {
		struct cmd_slot *s = &b->timed[b->n_timed++];

		s->dev = d;
		s->cmd = *cmd;
		s->due = mono_ms() + ms;
	}
	pthread_mutex_unlock(&b->mu);
	return r;
}

void mbdev_emit(struct mbdev *d, struct wk_event *ev)
{
	/* a reading proves the device works: say so before the reading */
	if (ev->type != WK_EV_DEVICE_FAULT && ev->type != WK_EV_DEVICE_OK) {
		succeeded(d);
		d->h.last_reading_ms = wall_ms();
	}
	emit_raw(d, ev);
}

/* --- the worker ------------------------------------------------------- */

/* Take the next command to run: queued ones first, then the timed one
 * that has been due longest.  b->mu held.  1 if *out was filled. */
static int take_command(struct mbbus *b, int64_t now, struct cmd_slot *out)
{
	unsigned best = TIMED_LEN;

	if (b->q_len > 0) {
		*out = b->queue[b->q_head];
		b->q_head = (b->q_head + 1) % CMDQ_LEN;
		b->q_len--;
		return 1;
	}
	for (unsigned i = 0; i < b->n_timed; i++)
		if (b->timed[i].due <= now &&
		    (best == TIMED_LEN || b->timed[i].due < b->timed[best].due))
			best = i;
	if (best == TIMED_LEN)
		return 0;
	*out = b->timed[best];
	b->timed[best] = b->timed[--b->n_timed];
	return 1;
}

static void run_command(struct mbbus *b, struct mbdev *d,
			const struct wk_command *cmd)
{
	int r;

	uint64_t answers = d->h.responses;

	b->in_cmd = 1;
	r = bus_open(b, d);
	if (r == 0)
		r = d->kind->command(d, d->arg, cmd);
	b->in_cmd = 0;
	if (r == 0 && d->h.responses == answers) {
		/* nothing went on the wire (a superseded release): proves
		 * nothing about the device */
	} else if (r < 0) {
		mbdev_log(d, WK_LOG_WARNING, "command %" PRIu64 " failed: %s",
			  cmd->id, d->why);
		failed(d);
	} else {
		if (d->state == ST_FAULT) {
			/* the device is back: poll soon, not after the gap */
			int64_t soon = mono_ms() + d->link.poll_ms;

			if (d->next_poll > soon)
				d->next_poll = soon;
		}
		succeeded(d);
	}
	publish(d);
}

/* Run every command waiting now; b->mu held (released around each).
 * Returns how many ran. */
static unsigned run_commands(struct mbbus *b)
{
	struct cmd_slot s;
	unsigned n = 0;

	while (take_command(b, mono_ms(), &s)) {
		b->busy_cmd = s.dev;
		pthread_mutex_unlock(&b->mu);
		run_command(b, s.dev, &s.cmd);
		pthread_mutex_lock(&b->mu);
		b->busy_cmd = NULL;
		pthread_cond_broadcast(&b->cv);
		n++;
	}
	return n;
}

/* The same from the middle of a poll; b->mu not held. */
static void run_waiting(struct mbbus *b)
{
	pthread_mutex_lock(&b->mu);
	run_commands(b);
	pthread_mutex_unlock(&b->mu);
}

static void run_poll(struct mbbus *b, struct mbdev *d)
{
	int64_t due = d->next_poll, now;
	int r;

	r = bus_open(b, d);
	if (r == 0 && (d->seen_gen != b->gen || d->need_reset)) {
		if (d->kind->reset != NULL)
			d->kind->reset(d->arg);
		d->seen_gen = b->gen;
		d->need_reset = 0;
	}
	if (r == 0)
		r = d->kind->poll(d, d->arg);
	if (r < 0) {
		failed(d);
	} else {
		succeeded(d);
		/* keep the phase; a late device gets one poll now, not a
		 * burst to catch up */
		now = mono_ms();
		d->next_poll = due + d->link.poll_ms;
		if (d->next_poll < now)
			d->next_poll = now;
	}
	publish(d);
}

/* The device whose poll is most overdue, or NULL with *next set to the
 * earliest due time (INT64_MAX if none).  b->mu held. */
static struct mbdev *due_poll(struct mbbus *b, int64_t now, int64_t *next)
{
	struct mbdev *best = NULL;

	*next = INT64_MAX;
	for (size_t i = 0; i < b->n_devs; i++) {
		struct mbdev *d = b->devs[i];

		if (d->detaching)
			continue;
		if (d->next_poll <= now &&
		    (best == NULL || d->next_poll < best->next_poll))
			best = d;
		if (d->next_poll < *next)
			*next = d->next_poll;
	}
	for (unsigned i = 0; i < b->n_timed; i++)
		if (b->timed[i].due < *next)
			*next = b->timed[i].due;
	return best;
}

static void *bus_worker(void *p)
{
	struct mbbus *b = p;
	struct mbdev *d;
	int64_t next;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		beat(b);
		if (run_commands(b) > 0)
			continue;
		if (b->stopping)
			break;
		d = due_poll(b, mono_ms(), &next);
		if (d != NULL) {
			b->busy_poll = d;
			pthread_mutex_unlock(&b->mu);
			run_poll(b, d);
			pthread_mutex_lock(&b->mu);
			b->busy_poll = NULL;
			pthread_cond_broadcast(&b->cv);
			continue;
		}
		wait_until(b, next);
	}
	pthread_mutex_unlock(&b->mu);
	bus_close(b);
	return NULL;
}

/* --- buses and devices (loop thread) ---------------------------------- */

static void bus_free(struct mbbus *b)
{
	if (b == NULL)
		return;
	if (b->mb != NULL)
		modbus_free(b->mb);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b->devs);
	free(b);
}

static int cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int r;

	r = pthread_condattr_init(&ca);
	if (r != 0)
		return r;
	r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return r;
}

/* A new bus for d's link, its worker running.  g_mu held. */
static int bus_new(struct mbdev *d, struct mbbus **out)
{
	struct mbbus *b = calloc(1, sizeof(*b));
	char port[16];
	sigset_t all, old;
	int r;

	if (b == NULL)
		return -ENOMEM;
	b->link = d->link;
	mbmap_bus_name(&d->link, b->name, sizeof(b->name));
	if (d->link.transport == MB_RTU) {
		b->mb = modbus_new_rtu(d->link.serial, (int)d->link.baud,
				       d->link.parity, d->link.data_bits,
				       d->link.stop_bits);
	} else {
		snprintf(port, sizeof(port), "%d", d->link.port);
		b->mb = modbus_new_tcp_pi(d->link.host, port);
	}
	if (b->mb == NULL) {
		r = errno ? errno : ENOMEM;
		free(b);
		return -r;
	}
	r = cond_init_mono(&b->cv);
	if (r != 0) {
		modbus_free(b->mb);
		free(b);
		return -r;
	}
	r = pthread_mutex_init(&b->mu, NULL);
	if (r != 0) {
		pthread_cond_destroy(&b->cv);
		modbus_free(b->mb);
		free(b);
		return -r;
	}
	/* signals belong to the loop thread (signalfd) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&b->thread, NULL, bus_worker, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		bus_free(b);
		return -r;
	}
	*out = b;
	return 0;
}

static void pending_remove(struct mbdev *d)
{
	struct mbdev **pp;

	if (!d->pending)
		return;
	for (pp = &g_pending; *pp != NULL; pp = &(*pp)->pending_next)
		if (*pp == d) {
			*pp = d->pending_next;
			break;
		}
	d->pending = 0;
}

int mbdev_new(const struct wk_host_api *host, struct wk_instance *inst,
	      const char *name, const struct mb_link *link,
	      const struct mbdev_kind *kind, void *arg, struct mbdev **out)
{
	struct mbdev *d = calloc(1, sizeof(*d));
	int r;

	if (d == NULL)
		return -ENOMEM;
	r = pthread_mutex_init(&d->hmu, NULL);
	if (r != 0) {
		free(d);
		return -r;
	}
	d->host = host;
	d->inst = inst;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->link = *link;
	d->kind = kind;
	d->arg = arg;
	pthread_mutex_lock(&g_mu);
	d->pending_next = g_pending;
	g_pending = d;
	d->pending = 1;
	pthread_mutex_unlock(&g_mu);
	*out = d;
	return 0;
}

int mbdev_start(struct mbdev *d)
{
	char name[300];
	struct mbbus *b;
	const char *key = NULL;
	int r = 0;

	if (d->bus != NULL)
		return 0;
	mbmap_bus_name(&d->link, name, sizeof(name));
	pthread_mutex_lock(&g_mu);
	pending_remove(d);
	for (b = g_buses; b != NULL; b = b->next)
		if (strcmp(b->name, name) == 0)
			break;
	if (b != NULL) {
		key = mbmap_link_conflict(&d->link, &b->link);
		if (key != NULL)
			r = -EINVAL;
	} else {
		r = bus_new(d, &b);
		if (r == 0) {
			b->next = g_buses;
			g_buses = b;
		}
	}
	if (r == 0)
		b->refs++;
	pthread_mutex_unlock(&g_mu);
	if (key != NULL) {
		mbdev_log(d, WK_LOG_ERR, "%s differs from the other devices on %s, which is open",
			  key, name);
		return r;
	}
	if (r < 0) {
		mbdev_log(d, WK_LOG_ERR, "cannot set up %s: %s", name,
			  strerror(-r));
		return r;
	}

	d->state = ST_NEW;
	d->ever_ok = 0;
	d->gap_ms = d->link.poll_ms;
	d->need_reset = 1;
	d->detaching = 0;
	memset(&d->h, 0, sizeof(d->h));
	d->why[0] = '\0';
	publish(d);

	pthread_mutex_lock(&b->mu);
	if (b->n_devs == b->cap_devs) {
		size_t cap = b->cap_devs ? 2 * b->cap_devs : 4;
		struct mbdev **nd = realloc(b->devs, cap * sizeof(*nd));

		if (nd == NULL) {
			pthread_mutex_unlock(&b->mu);
			r = -ENOMEM;
			goto undo;
		}
		b->devs = nd;
		b->cap_devs = cap;
	}
	d->next_poll = mono_ms();
	if (d->link.timeout_ms > atomic_load(&b->max_timeout_ms))
		atomic_store(&b->max_timeout_ms, d->link.timeout_ms);
	d->bus = b;		/* before the worker can see the device */
	b->devs[b->n_devs++] = d;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return 0;
undo:
	d->bus = b;
	mbdev_stop(d);
	return r;
}

static int has_commands(const struct mbbus *b, const struct mbdev *d)
{
	for (unsigned i = 0; i < b->q_len; i++)
		if (b->queue[(b->q_head + i) % CMDQ_LEN].dev == d)
			return 1;
	for (unsigned i = 0; i < b->n_timed; i++)
		if (b->timed[i].dev == d)
			return 1;
	return 0;
}

void mbdev_stop(struct mbdev *d)
{
	struct mbbus *b, **pp;
	int last;

	if (d == NULL || d->bus == NULL)
		return;
	b = d->bus;
	pthread_mutex_lock(&b->mu);
	d->detaching = 1;
	for (unsigned i = 0; i < b->n_timed; i++)
		if (b->timed[i].dev == d)
			b->timed[i].due = 0;
	pthread_cond_broadcast(&b->cv);
	while (b->busy_poll == d || b->busy_cmd == d || has_commands(b, d))
		pthread_cond_wait(&b->cv, &b->mu);
	for (size_t i = 0; i < b->n_devs; i++)
		if (b->devs[i] == d) {
			b->devs[i] = b->devs[--b->n_devs];
			break;
		}
	pthread_mutex_unlock(&b->mu);

	pthread_mutex_lock(&g_mu);
	last = --b->refs == 0;
	if (last)
		for (pp = &g_buses; *pp != NULL; pp = &(*pp)->next)
			if (*pp == b) {
				*pp = b->next;
				break;
			}
	pthread_mutex_unlock(&g_mu);
	if (last) {
		pthread_mutex_lock(&b->mu);
		b->stopping = 1;
		pthread_cond_broadcast(&b->cv);
		pthread_mutex_unlock(&b->mu);
		pthread_join(b->thread, NULL);
		bus_free(b);
	}
	d->bus = NULL;
}

int mbdev_submit(struct mbdev *d, const struct wk_command *cmd)
{
	struct mbbus *b = d->bus;
	int64_t t = mono_us();
	int r = 0;

	if (b == NULL)
		return -EAGAIN;
	pthread_mutex_lock(&b->mu);
	if (d->detaching) {
		r = -EAGAIN;
	} else if (b->q_len == CMDQ_LEN) {
		r = -ENOBUFS;
	} else {
		struct cmd_slot *s =
			&b->queue[(b->q_head + b->q_len) % CMDQ_LEN];

		s->dev = d;
		s->cmd = *cmd;
		s->due = 0;
		b->q_len++;
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	/* the time, for tests that check the command beats the polls */
	if (r == 0)
		mbdev_log(d, WK_LOG_DEBUG, "command %" PRIu64 " queued on %s, mono_us=%lld",
			  cmd->id, b->name, (long long)t);
	return r;
}

void mbdev_free(struct mbdev *d)
{
	if (d == NULL)
		return;
	mbdev_stop(d);
	pthread_mutex_lock(&g_mu);
	pending_remove(d);
	pthread_mutex_unlock(&g_mu);
	pthread_mutex_destroy(&d->hmu);
	free(d);
}
