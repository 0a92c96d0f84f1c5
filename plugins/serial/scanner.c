/*
 * serial-scanner: a QR or barcode scanner that sends each code as a line
 * of text on a tty (a USB scanner in "USB COM port" mode on /dev/ttyACM0,
 * an RS-232 scanner on a USB adapter or a UART).
 *
 *   [device scanner1]
 *   plugin = serial-scanner
 *   serial = /dev/serial/by-id/usb-...-if00   # required
 *   baud = 9600                # data_bits 8, parity none, stop_bits 1
 *   max_line_length = 512      # terminator auto, prefix, suffix,
 *   line_timeout_ms = 500      #   docs/serial-scanner.md has them all
 *
 * The bytes go through the line reader (daemon/linereader.c, compiled into
 * this plugin: plugins never link daemon symbols); only a clean line
 * becomes a credential, every other line is a warning that never quotes
 * it (a rejected line may still be somebody's card number) and a count in
 * the device's health: responses = good lines, bad_values = rejected ones.
 *
 * One worker thread per scanner owns the tty.  It sleeps in poll() on the
 * tty and a stop eventfd, for at most the line reader's deadline, the next
 * reopen or one second (the heartbeat the watchdog checks); nothing
 * polls in a loop.  The tty is raw, CLOCAL (a scanner raises no carrier),
 * without flow control, exclusive (TIOCEXCL and flock: a second reader
 * would take half the lines), and its input is flushed on every open so a
 * code scanned while nobody listened does not open the gate later.
 *
 * A tty that goes away (a USB scanner unplugged: read() gives 0 or EIO,
 * poll() POLLHUP) or cannot be opened, at start too, is a device fault,
 * reported once per spell; the tty is reopened every 2 s and the device
 * is OK again when that works.  wicketd keeps running either way.
 *
 * Bytes the driver lost (an overrun, a framing or parity error) are found
 * with TIOCGICOUNT where the driver keeps those counters (8250 UARTs and
 * most USB serial adapters; not USB CDC nor ptys, which lose nothing to
 * overruns): a rise drops the line being read, or the next one.  Framing
 * and parity errors also reach the data as NUL bytes (INPCK without
 * IGNPAR or PARMRK), which the line reader refuses by itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/serial.h>

#include <wicket/plugin.h>

#include "confval.h"
#include "linereader.h"

#define BEAT_MS 1000		/* an idle worker turns at least this often */
#define REOPEN_MS 2000		/* between attempts to open a lost tty */
#define MAX_LINE_DEFAULT 512
#define READ_CHUNK 4096
#define READS_PER_TURN 16	/* then the worker turns (heartbeat, timeouts) */
#define WARN_WINDOW_MS 10000	/* rejected lines: at most WARN_BURST */
#define WARN_BURST 5		/*   warnings per window */

struct speed {
	long baud;
	speed_t code;
};

/* The standard termios rates from 1200 up. */
static const struct speed speeds[] = {
	{ 1200, B1200 },     { 1800, B1800 },     { 2400, B2400 },
	{ 4800, B4800 },     { 9600, B9600 },     { 19200, B19200 },
	{ 38400, B38400 },   { 57600, B57600 },   { 115200, B115200 },
	{ 230400, B230400 }, { 460800, B460800 }, { 500000, B500000 },
	{ 576000, B576000 }, { 921600, B921600 },
};
#define SPEED_LIST "1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600"

struct scanner {
	const struct wk_host_api *host;
	struct wk_instance *inst;
	int long_codes;		/* the host has emit_code (ABI 1.3) */

	/* the configuration */
	char *path;
	long baud;
	speed_t speed;
	int data_bits;		/* 7, 8 */
	char parity;		/* 'N', 'E', 'O' */
	int stop_bits;		/* 1, 2 */
	struct lr_config lrc;

	/* the worker, between start() and stop() */
	pthread_t thread;
	int running;
	int stop_fd;
	_Atomic int64_t beat_ms;

	/* worker only */
	int fd;			/* the tty, -1 while closed */
	struct lr lr;
	int icount_ok;		/* the driver keeps error counters */
	int icount_noted;	/* said once that it does not */
	uint64_t lost_bytes;	/* its overrun + frame + parity count */
	int ever_ok;
	int64_t next_open_ms;
	uint32_t seq;
	int64_t warn_since_ms;
	unsigned warned, unlogged;

	/* the health, under hmu: the loop thread reads it */
	pthread_mutex_t hmu;
	struct wk_health h;
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

/* --- configuration --------------------------------------------------- */

/* The item for key (the last one if the host left duplicates), marking
 * every item of that key used; NULL if absent. */
static const struct wk_conf_item *take(const struct wk_conf *conf,
				       unsigned char *used, const char *key)
{
	const struct wk_conf_item *found = NULL;

	for (size_t i = 0; i < conf->n_items; i++) {
		const struct wk_conf_item *it = &conf->items[i];

		if (it->key != NULL && strcmp(it->key, key) == 0) {
			used[i] = 1;
			found = it;
		}
	}
	return found;
}

/* A configuration error at item (the section when NULL): always -EINVAL,
 * so that `bad |= conf_err(...)` marks it whatever the host returns. */
static int conf_err(struct scanner *s, const struct wk_conf_item *item,
		    const char *fmt, ...) WK_PRINTF(3, 4);

static int conf_err(struct scanner *s, const struct wk_conf_item *item,
		    const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->host->conf_error(s->inst, item, "%s", buf);
	return -EINVAL;
}

static const char *sval(const struct wk_conf_item *it)
{
	return it->value != NULL ? it->value : "";
}

/* An integer key in min..max: 0 (*out set, or left alone when absent) or
 * -EINVAL (reported). */
static int get_long(struct scanner *s, const struct wk_conf *conf,
		    unsigned char *used, const char *key, long min, long max,
		    long *out)
{
	const struct wk_conf_item *it = take(conf, used, key);
	int r;

	if (it == NULL)
		return 0;
	r = cv_long(it->value, min, max, out);
	if (r == -ERANGE)
		return conf_err(s, it, "%s: %s is out of range, expected %ld..%ld",
				key, sval(it), min, max);
	if (r < 0)
		return conf_err(s, it, "%s: '%s' is not an integer, expected %ld..%ld",
				key, sval(it), min, max);
	return 0;
}

/* `prefix` or `suffix`: printable ASCII, LR_AFFIX_MAX bytes at most. */
static int get_affix(struct scanner *s, const struct wk_conf *conf,
		     unsigned char *used, const char *key, char *out,
		     size_t outlen)
{
	const struct wk_conf_item *it = take(conf, used, key);
	const char *v;
	size_t n;

	if (it == NULL)
		return 0;
	v = sval(it);
	n = strlen(v);
	if (n > LR_AFFIX_MAX)
		return conf_err(s, it, "%s: %zu bytes, at most %d", key, n,
				LR_AFFIX_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return conf_err(s, it, "%s: byte 0x%02x at offset %zu is not printable ASCII",
					key, (unsigned char)v[i], i);
	snprintf(out, outlen, "%s", v);
	return 0;
}

/* `baud`: one of speeds[] */
static int get_baud(struct scanner *s, const struct wk_conf *conf,
		    unsigned char *used)
{
	const struct wk_conf_item *it = take(conf, used, "baud");
	size_t n = sizeof(speeds) / sizeof(speeds[0]);
	long v;

	s->baud = 9600;
	s->speed = B9600;
	if (it == NULL)
		return 0;
	if (cv_long(it->value, 1, LONG_MAX, &v) < 0)
		return conf_err(s, it, "baud: '%s' is not a serial speed (" SPEED_LIST ")",
				sval(it));
	for (size_t i = 0; i < n; i++) {
		if (speeds[i].baud == v) {
			s->baud = v;
			s->speed = speeds[i].code;
			return 0;
		}
	}
	return conf_err(s, it, "baud: %ld is not a serial speed (" SPEED_LIST ")",
			v);
}

/* Every key, every error reported: 0 or -EINVAL. */
static int parse_conf(struct scanner *s, const struct wk_conf *conf)
{
	unsigned char *used = calloc(conf->n_items + 1, 1);
	const struct wk_conf_item *it;
	int bad = 0;
	long v;

	if (used == NULL)
		return -ENOMEM;
	/* what the host adds or every device may carry */
	take(conf, used, "fail");
	take(conf, used, "description");

	it = take(conf, used, "serial");
	if (it == NULL) {
		bad |= conf_err(s, NULL, "missing key 'serial' (the scanner's tty, e.g. /dev/ttyACM0)");
	} else if (sval(it)[0] != '/') {
		bad |= conf_err(s, it, "serial: '%s' is not an absolute path (e.g. /dev/ttyACM0)",
				sval(it));
	} else if (strlen(sval(it)) >= PATH_MAX) {
		bad |= conf_err(s, it, "serial: longer than %d bytes",
				PATH_MAX - 1);
	} else {
		s->path = strdup(sval(it));
		if (s->path == NULL) {
			free(used);
			return -ENOMEM;
		}
	}

	bad |= get_baud(s, conf, used);
	v = 8;
	bad |= get_long(s, conf, used, "data_bits", 7, 8, &v);
	s->data_bits = (int)v;
	v = 1;
	bad |= get_long(s, conf, used, "stop_bits", 1, 2, &v);
	s->stop_bits = (int)v;
	s->parity = 'N';
	it = take(conf, used, "parity");
	if (it != NULL) {
		if (strcmp(sval(it), "none") == 0)
			s->parity = 'N';
		else if (strcmp(sval(it), "even") == 0)
			s->parity = 'E';
		else if (strcmp(sval(it), "odd") == 0)
			s->parity = 'O';
		else
			bad |= conf_err(s, it, "parity: '%s' is not one of none, even, odd",
					sval(it));
	}

	lr_config_default(&s->lrc);
	/* a line longer than WK_CODE_MAX could never be handed on */
	v = MAX_LINE_DEFAULT;
	bad |= get_long(s, conf, used, "max_line_length", 1, WK_CODE_MAX, &v);
	s->lrc.max_len = (size_t)v;
	v = LR_TIMEOUT_DEFAULT_MS;
	bad |= get_long(s, conf, used, "line_timeout_ms", 0,
			LR_TIMEOUT_LIMIT_MS, &v);
	s->lrc.timeout_ms = v;
	it = take(conf, used, "terminator");
	if (it != NULL && lr_term_parse(sval(it), &s->lrc.term) < 0)
		bad |= conf_err(s, it, "terminator: '%s' is not one of auto, cr, lf, crlf",
				sval(it));
	bad |= get_affix(s, conf, used, "prefix", s->lrc.prefix,
			 sizeof(s->lrc.prefix));
	bad |= get_affix(s, conf, used, "suffix", s->lrc.suffix,
			 sizeof(s->lrc.suffix));

	for (size_t i = 0; i < conf->n_items; i++)
		if (!used[i])
			bad |= conf_err(s, &conf->items[i], "unknown key '%s'",
					conf->items[i].key ? conf->items[i].key : "");
	free(used);
	return bad ? -EINVAL : 0;
}

/* --- health and events (worker) -------------------------------------- */

static void beat(struct scanner *s)
{
	atomic_store(&s->beat_ms, mono_ms());
}

static void emit_status(struct scanner *s, uint32_t type, const char *msg)
{
	struct wk_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.time_ms = wall_ms();
	snprintf(ev.message, sizeof(ev.message), "%s", msg);
	r = s->host->emit(s->inst, &ev);
	if (r < 0)
		s->host->log(s->inst, WK_LOG_WARNING, "device %s event lost: %s",
			     type == WK_EV_DEVICE_OK ? "ok" : "fault",
			     strerror(-r));
}

/* The tty failed (why); a fault spell starts unless one is running. */
static void fault(struct scanner *s, const char *why)
{
	int first;

	pthread_mutex_lock(&s->hmu);
	s->h.link_errors++;
	first = s->h.state != WK_HEALTH_FAULT;
	if (first) {
		s->h.state = WK_HEALTH_FAULT;
		s->h.retry_ms = REOPEN_MS;
		s->h.faults++;
	}
	snprintf(s->h.last_error, sizeof(s->h.last_error), "%s", why);
	pthread_mutex_unlock(&s->hmu);
	if (!first) {
		s->host->log(s->inst, WK_LOG_DEBUG, "still failing: %s", why);
		return;
	}
	s->host->log(s->inst, WK_LOG_WARNING,
		     "device fault: %s; trying again every %d s", why,
		     REOPEN_MS / 1000);
	emit_status(s, WK_EV_DEVICE_FAULT, why);
}

static void opened(struct scanner *s)
{
	pthread_mutex_lock(&s->hmu);
	s->h.state = WK_HEALTH_OK;
	s->h.retry_ms = 0;
	pthread_mutex_unlock(&s->hmu);
	s->host->log(s->inst, WK_LOG_NOTICE, "%s: %s at %ld %d%c%d",
		     s->ever_ok ? "recovered" : "connected", s->path, s->baud,
		     s->data_bits, s->parity, s->stop_bits);
	emit_status(s, WK_EV_DEVICE_OK, s->ever_ok ? "recovered" : "connected");
	s->ever_ok = 1;
}

/* A say-so about a rejected line, at most WARN_BURST per window. */
static void warn_flush(struct scanner *s, int64_t now)
{
	if (now - s->warn_since_ms < WARN_WINDOW_MS)
		return;
	if (s->unlogged > 0)
		s->host->log(s->inst, WK_LOG_WARNING,
			     "%u more rejected line(s) not logged in the last %d s; the device's bad_values counts them all",
			     s->unlogged, WARN_WINDOW_MS / 1000);
	s->warn_since_ms = now;
	s->warned = 0;
	s->unlogged = 0;
}

static void reject(struct scanner *s, const char *why)
{
	pthread_mutex_lock(&s->hmu);
	s->h.bad_values++;
	snprintf(s->h.last_error, sizeof(s->h.last_error), "%s", why);
	pthread_mutex_unlock(&s->hmu);
	warn_flush(s, mono_ms());
	if (s->warned < WARN_BURST) {
		s->warned++;
		s->host->log(s->inst, WK_LOG_WARNING, "line rejected: %s", why);
	} else {
		s->unlogged++;
	}
}

/* A good line: a credential, in the event itself when it fits. */
static void deliver(struct scanner *s, const char *line, size_t len)
{
	struct wk_event ev;
	char why[WK_MESSAGE_MAX];
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.type = WK_EV_CREDENTIAL;
	ev.seq = ++s->seq;
	ev.time_ms = wall_ms();
	s->host->log(s->inst, WK_LOG_DEBUG, "line %" PRIu32 ": a code of %zu bytes",
		     ev.seq, len);
	if (len < WK_CREDENTIAL_MAX) {
		memcpy(ev.credential, line, len);
		ev.credential[len] = '\0';
		r = s->host->emit(s->inst, &ev);
	} else if (s->long_codes) {
		r = s->host->emit_code(s->inst, &ev, line, len);
	} else {
		snprintf(why, sizeof(why),
			 "a code of %zu bytes: this wicketd takes codes up to %d bytes (longer ones need plugin ABI 1.3); dropped",
			 len, WK_CREDENTIAL_MAX - 1);
		reject(s, why);
		return;
	}
	pthread_mutex_lock(&s->hmu);
	s->h.responses++;
	s->h.last_ok_ms = ev.time_ms;
	if (r == 0)
		s->h.last_reading_ms = ev.time_ms;
	pthread_mutex_unlock(&s->hmu);
	if (r < 0) {
		/* a flood: as rate-limited as rejected lines */
		warn_flush(s, mono_ms());
		if (s->warned < WARN_BURST) {
			s->warned++;
			s->host->log(s->inst, WK_LOG_WARNING,
				     "line %" PRIu32 ": the code was not handed on: %s",
				     ev.seq, strerror(-r));
		} else {
			s->unlogged++;
		}
	}
}

/* The line reader's verdict on one line. */
static void on_line(const struct lr_event *e, void *arg)
{
	struct scanner *s = arg;

	if (e->code == LR_LINE)
		deliver(s, e->line, e->len);
	else
		reject(s, e->msg);
}

/* --- the tty (worker) ------------------------------------------------- */

static void tty_close(struct scanner *s)
{
	if (s->fd < 0)
		return;
	close(s->fd);
	s->fd = -1;
	/* a code cut by the unplug is forgotten: the next open starts clean */
	lr_reset(&s->lr);
}

/* overrun + frame + parity errors so far; 0 or -errno */
static int read_icount(int fd, uint64_t *out)
{
	struct serial_icounter_struct ic;

	memset(&ic, 0, sizeof(ic));
	if (ioctl(fd, TIOCGICOUNT, &ic) < 0)
		return -errno;
	*out = (uint64_t)(unsigned)ic.overrun + (unsigned)ic.buf_overrun +
	       (unsigned)ic.frame + (unsigned)ic.parity;
	return 0;
}

/* Raw mode at the configured speed and framing.  0 or -errno, why set. */
static int tty_setup(struct scanner *s, int fd, char *why, size_t whylen)
{
	struct termios t, got;

	if (tcgetattr(fd, &t) < 0) {
		snprintf(why, whylen, "%s: not a tty (%s)", s->path,
			 strerror(errno));
		return -ENOTTY;
	}
	cfmakeraw(&t);
	t.c_iflag &= ~(unsigned)(IXON | IXOFF | IXANY | IGNPAR | PARMRK |
				 IGNBRK | ISTRIP);
	/* a byte with a framing or parity error arrives as NUL, which the
	 * line reader refuses */
	t.c_iflag |= INPCK;
	t.c_cflag &= ~(unsigned)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	t.c_cflag |= CLOCAL | CREAD | (s->data_bits == 7 ? CS7 : CS8);
	if (s->parity != 'N')
		t.c_cflag |= PARENB | (s->parity == 'O' ? PARODD : 0);
	if (s->stop_bits == 2)
		t.c_cflag |= CSTOPB;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, s->speed) < 0 || cfsetospeed(&t, s->speed) < 0 ||
	    tcsetattr(fd, TCSANOW, &t) < 0) {
		snprintf(why, whylen, "%s: cannot set %ld %d%c%d: %s", s->path,
			 s->baud, s->data_bits, s->parity, s->stop_bits,
			 strerror(errno));
		return -EIO;
	}
	/* tcsetattr succeeds when any part was taken: check the rest */
	if (tcgetattr(fd, &got) == 0 &&
	    (cfgetispeed(&got) != s->speed ||
	     (got.c_cflag & (CSIZE | PARENB | PARODD | CSTOPB)) !=
		     (t.c_cflag & (CSIZE | PARENB | PARODD | CSTOPB))))
		s->host->log(s->inst, WK_LOG_WARNING,
			     "%s: the driver did not take all of %ld %d%c%d; lines may arrive garbled",
			     s->path, s->baud, s->data_bits, s->parity,
			     s->stop_bits);
	return 0;
}

static void tty_open(struct scanner *s, int64_t now)
{
	char why[WK_MESSAGE_MAX];
	int fd, r;

	s->next_open_ms = now + REOPEN_MS;
	/* read only: a scanner is never written to */
	fd = open(s->path, O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, sizeof(why), "cannot open %s: %s", s->path,
			 strerror(errno));
		fault(s, why);
		return;
	}
	/* Two readers would each get half the lines.  TIOCEXCL refuses
	 * other opens (but not root's); flock also stops a second wicketd
	 * running as root. */
	if (ioctl(fd, TIOCEXCL) < 0) {
		snprintf(why, sizeof(why), "%s: not a tty (%s)", s->path,
			 strerror(errno));
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(why, sizeof(why), "%s is in use by another program (%s)",
			 s->path, strerror(errno));
		goto fail;
	}
	if (tty_setup(s, fd, why, sizeof(why)) < 0)
		goto fail;
	/* whatever waited in the driver was scanned while nobody listened */
	if (tcflush(fd, TCIFLUSH) < 0) {
		snprintf(why, sizeof(why), "%s: cannot flush input: %s",
			 s->path, strerror(errno));
		goto fail;
	}
	r = read_icount(fd, &s->lost_bytes);
	s->icount_ok = r == 0;
	if (r < 0 && !s->icount_noted) {
		s->host->log(s->inst, WK_LOG_INFO,
			     "%s keeps no error counters (TIOCGICOUNT: %s): overruns cannot be detected; framing and parity errors still reject their line",
			     s->path, strerror(-r));
		s->icount_noted = 1;
	}
	s->fd = fd;
	opened(s);
	return;
fail:
	close(fd);
	fault(s, why);
}

/* The tty went away: a fault, and reopen later. */
static void tty_lost(struct scanner *s, const char *what, int64_t now)
{
	char why[WK_MESSAGE_MAX];

	snprintf(why, sizeof(why), "%s: %s", s->path, what);
	tty_close(s);
	s->next_open_ms = now + REOPEN_MS;
	fault(s, why);
}

/* Whatever poll() said about the tty. */
static void tty_input(struct scanner *s, short revents)
{
	char buf[READ_CHUNK];
	uint64_t lost;
	ssize_t n;
	int budget = READS_PER_TURN;

	while (revents & POLLIN) {
		if (budget-- == 0)
			return;	/* a flood: let the loop turn; poll says more */
		n = read(s->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			char what[80];

			snprintf(what, sizeof(what), "read: %s", strerror(errno));
			tty_lost(s, what, mono_ms());
			return;
		}
		if (n == 0) {
			tty_lost(s, "hung up (end of file)", mono_ms());
			return;
		}
		/* The counters say that bytes were lost since the last
		 * read, not where: most likely around the start of this
		 * chunk, so the line being read (or the next) is dropped
		 * before it is fed.  A gap past a line end inside this same
		 * chunk goes unnoticed; chunks from a UART are a few bytes. */
		if (s->icount_ok && read_icount(s->fd, &lost) == 0 &&
		    lost != s->lost_bytes) {
			s->lost_bytes = lost;
			lr_overrun(&s->lr, mono_ms());
		}
		lr_feed(&s->lr, buf, (size_t)n, mono_ms());
	}
	if (revents & (POLLHUP | POLLERR | POLLNVAL))
		tty_lost(s, revents & POLLHUP ? "hung up" : "error on the tty",
			 mono_ms());
}

static void *worker(void *arg)
{
	struct scanner *s = arg;
	struct pollfd pfd[2];

	for (;;) {
		int64_t now = mono_ms(), wait = BEAT_MS, d;
		int n;

		beat(s);
		warn_flush(s, now);
		if (s->fd < 0 && now >= s->next_open_ms)
			tty_open(s, now);
		d = lr_deadline(&s->lr);
		if (d >= 0 && d - now < wait)
			wait = d - now;
		if (s->fd < 0 && s->next_open_ms - now < wait)
			wait = s->next_open_ms - now;
		if (wait < 0)
			wait = 0;
		pfd[0].fd = s->stop_fd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = s->fd;	/* -1 while closed: poll skips it */
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		n = poll(pfd, 2, (int)wait);
		if (n < 0 && errno != EINTR) {
			s->host->log(s->inst, WK_LOG_ERR, "poll: %s",
				     strerror(errno));
			break;
		}
		if (pfd[0].revents != 0)
			break;
		if (s->fd >= 0 && pfd[1].revents != 0)
			tty_input(s, pfd[1].revents);
		lr_tick(&s->lr, mono_ms());
	}
	tty_close(s);
	return NULL;
}

/* --- the plugin ------------------------------------------------------- */

static int scanner_create(const struct wk_host_api *host,
			  struct wk_instance *inst, const struct wk_conf *conf,
			  void **state)
{
	struct scanner *s = calloc(1, sizeof(*s));
	char err[128];
	int r;

	if (s == NULL)
		return -ENOMEM;
	s->host = host;
	s->inst = inst;
	s->fd = -1;
	s->stop_fd = -1;
	r = parse_conf(s, conf);
	if (r == 0 && lr_config_check(&s->lrc, err, sizeof(err)) < 0)
		r = conf_err(s, NULL, "%s", err);
	if (r < 0) {
		free(s->path);
		free(s);
		return r;
	}
	r = pthread_mutex_init(&s->hmu, NULL);
	if (r != 0) {
		free(s->path);
		free(s);
		return -r;
	}
	s->long_codes =
		host->abi_minor >= 3 &&
		host->size >= offsetof(struct wk_host_api, emit_code) +
				      sizeof(void *) &&
		host->emit_code != NULL;
	if (!s->long_codes && s->lrc.max_len >= WK_CREDENTIAL_MAX)
		host->log(inst, WK_LOG_WARNING,
			  "max_line_length %zu: this wicketd (plugin ABI %u.%u) takes codes up to %d bytes; longer lines will be rejected",
			  s->lrc.max_len, host->abi_major, host->abi_minor,
			  WK_CREDENTIAL_MAX - 1);
	*state = s;
	return 0;
}

static int scanner_start(void *state)
{
	struct scanner *s = state;
	sigset_t all, old;
	int r;

	if (s->running)
		return 0;
	r = lr_init(&s->lr, &s->lrc, on_line, s);
	if (r < 0)
		return r;
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0)
		return -errno;
	s->fd = -1;
	s->ever_ok = 0;
	s->next_open_ms = 0;
	s->warn_since_ms = mono_ms();
	s->warned = s->unlogged = 0;
	pthread_mutex_lock(&s->hmu);
	memset(&s->h, 0, sizeof(s->h));
	pthread_mutex_unlock(&s->hmu);
	beat(s);
	/* signals belong to the loop thread (signalfd) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->thread, NULL, worker, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		close(s->stop_fd);
		s->stop_fd = -1;
		return -r;
	}
	s->running = 1;
	return 0;
}

static int scanner_command(void *state, const struct wk_command *cmd)
{
	(void)state;
	(void)cmd;
	return -ENOTSUP;
}

static void scanner_stop(void *state)
{
	struct scanner *s = state;
	uint64_t one = 1;

	if (s == NULL || !s->running)
		return;
	while (write(s->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(s->thread, NULL);
	close(s->stop_fd);
	s->stop_fd = -1;
	s->running = 0;
}

static int scanner_health(void *state, struct wk_health *out)
{
	struct scanner *s = state;

	pthread_mutex_lock(&s->hmu);
	*out = s->h;
	pthread_mutex_unlock(&s->hmu);
	if (s->running) {
		out->heartbeat_ms = atomic_load(&s->beat_ms);
		/* the worker never waits on the line: open, tcsetattr and
		 * close of a tty we never write to return at once */
		out->heartbeat_max_ms = 3 * BEAT_MS;
	}
	return 0;
}

static void scanner_destroy(void *state)
{
	struct scanner *s = state;

	if (s == NULL)
		return;
	scanner_stop(s);
	pthread_mutex_destroy(&s->hmu);
	free(s->path);
	free(s);
}

__attribute__((visibility("default")))
const struct wk_plugin wicket_plugin = {
	.abi_major = WICKET_ABI_MAJOR,
	.abi_minor = WICKET_ABI_MINOR,
	.size = sizeof(struct wk_plugin),
	.name = "serial-scanner",
	.version = WICKET_VERSION,
	.description = "QR / barcode scanner sending lines on a tty",
	.provides = WK_PROVIDES_CREDENTIAL,
	.create = scanner_create,
	.start = scanner_start,
	.command = scanner_command,
	.stop = scanner_stop,
	.destroy = scanner_destroy,
	.health = scanner_health,
};
