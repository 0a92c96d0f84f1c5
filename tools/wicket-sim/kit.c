/*
 * kit: the gate kit's devices that are not Modbus.
 *
 * A kit is a client of a simulated GPIO chip: the chip lives inside
 * wicketd (gpiosim.c, opened by its gpio and wiegand plugins) and is
 * driven through a UNIX socket with one text command per line:
 *
 *   set OFFSET 0|1              drive an input's physical level
 *   frame D0 D1 BITS IV WIDTH   clock a Wiegand frame on two lines
 *   get OFFSET                  -> value OFFSET LEVEL
 *   watch                       -> then "out OFFSET LEVEL T_NS" and
 *                                  "released OFFSET" at any time
 *
 * Every command gets one reply line (ok, err ..., value ...), in order;
 * the kit keeps the commands it sent in a ring so an err names the one
 * that failed.  The socket exists only while wicketd runs, so the kit
 * tries to connect every RETRY_US until it can, and again after losing
 * it; on each connect it asks to watch, reads the outputs' levels once
 * and drives every input to the level the scenario last asked for, so a
 * restarted wicketd finds the door as the scenario left it.
 *
 * The scenario speaks logical levels (door open = active); a kit key
 * `<input>_active_low` says the physical level is low when active, as
 * the gpio plugin's key of the same name reads it.  A press is active for
 * its time, then inactive again (a second press extends the first).
 * Wiegand frames go only while connected; a frame with nobody to take it
 * is reported as dropped.
 *
 * A scanner writes lines to a tty (one end of a socat pty pair, whose
 * other end the serial-scanner plugin reads) in raw mode, with the
 * configured terminator.  It reads and drops anything coming back, so it
 * notices the hangup when socat goes away, and opens the path again
 * every second.
 *
 * All of it is non-blocking and runs in main.c's poll loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "confval.h"
#include "sim.h"

#define RETRY_US 100000		/* kits: connect attempts */
#define REOPEN_US 1000000	/* scanners: a lost tty */

static int64_t earlier(int64_t a, int64_t b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

const char *kit_output_name(enum kit_output o)
{
	switch (o) {
	case KIT_RELAY: return "relay";
	case KIT_GREEN: return "green";
	case KIT_RED: return "red";
	case KIT_BUZZER: return "buzzer";
	}
	return "?";
}

int kit_new(struct sim_kit **out)
{
	struct sim_kit *k = calloc(1, sizeof(*k));

	*out = k;
	if (k == NULL)
		return -ENOMEM;
	for (int i = 0; i < SCN_IN_N; i++) {
		k->in_off[i] = -1;
		k->release_us[i] = -1;
	}
	for (int i = 0; i < KIT_OUT_N; i++)
		k->out_off[i] = -1;
	k->d0 = k->d1 = -1;
	k->wg_interval_us = 2000;
	k->wg_width_us = 50;
	k->fd = -1;
	return 0;
}

int scanner_new(struct sim_scanner **out)
{
	struct sim_scanner *sc = calloc(1, sizeof(*sc));

	*out = sc;
	if (sc == NULL)
		return -ENOMEM;
	sc->fd = -1;
	sc->baud = 9600;
	sc->term = TERM_CR;
	return 0;
}

void kit_free(struct sim_kit *kit)
{
	if (kit == NULL)
		return;
	if (kit->fd >= 0)
		close(kit->fd);
	free(kit->chip);
	free(kit);
}

void scanner_free(struct sim_scanner *sc)
{
	if (sc == NULL)
		return;
	if (sc->fd >= 0)
		close(sc->fd);
	free(sc->path);
	free(sc);
}

/* --- kits: the connection ----------------------------------------------- */

/* The physical level of input in at logical level active. */
static int phys(const struct sim_kit *k, int in, int active)
{
	return k->in_active_low[in] ? !active : active;
}

static void kit_drop(struct sim *sim, struct sim_dev *dev, const char *why)
{
	struct sim_kit *k = dev->kit;

	if (k->fd >= 0) {
		close(k->fd);
		if (!k->connecting)
			sim_out(sim, "disconnect chip=%s device=%s", k->chip,
				dev->name);
		if (why != NULL)
			fprintf(stderr, "wicket-sim: %s: chip %s: %s; "
				"connecting again every %d ms\n", dev->name,
				k->chip, why, RETRY_US / 1000);
	}
	k->fd = -1;
	k->connecting = 0;
	k->in_len = k->out_len = 0;
	k->n_sent = 0;
	k->retry_us = sim_now_us() + RETRY_US;
}

/* Queue one command; -1 (after dropping the connection) when the chip
 * does not read what it is sent. */
static int kit_send(struct sim *sim, struct sim_dev *dev, const char *cmd)
{
	struct sim_kit *k = dev->kit;
	size_t len = strlen(cmd);

	if (k->fd < 0)
		return -1;
	if (len + 1 > sizeof(k->out) - k->out_len ||
	    k->n_sent == KIT_SENT_MAX) {
		kit_drop(sim, dev, "the chip does not answer (too many "
			 "commands waiting)");
		return -1;
	}
	memcpy(k->out + k->out_len, cmd, len);
	k->out[k->out_len + len] = '\n';
	k->out_len += len + 1;
	snprintf(k->sent[(k->sent_head + k->n_sent) % KIT_SENT_MAX],
		 KIT_CMD_MAX, "%s", cmd);
	k->n_sent++;
	if (sim->verbose)
		sim_out(sim, "device=%s send=\"%s\" mono_us=%lld", dev->name,
			cmd, (long long)sim_now_us());
	return 0;
}

static int kit_set(struct sim *sim, struct sim_dev *dev, int off, int level)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "set %d %d", off, level);
	return kit_send(sim, dev, cmd);
}

/* Just connected: watch, read the outputs, drive the inputs. */
static void kit_hello(struct sim *sim, struct sim_dev *dev)
{
	struct sim_kit *k = dev->kit;
	char cmd[64];

	k->connecting = 0;
	k->ever = 1;
	sim_out(sim, "connect chip=%s device=%s", k->chip, dev->name);
	if (kit_send(sim, dev, "watch") < 0)
		return;
	for (int i = 0; i < KIT_OUT_N; i++) {
		if (k->out_off[i] < 0)
			continue;
		snprintf(cmd, sizeof(cmd), "info %d", k->out_off[i]);
		if (kit_send(sim, dev, cmd) < 0)
			return;
	}
	for (int i = 0; i < SCN_IN_N; i++)
		if (k->in_off[i] >= 0 &&
		    kit_set(sim, dev, k->in_off[i],
			    phys(k, i, k->level[i])) < 0)
			return;
	/* Wiegand lines idle high */
	if (k->d0 >= 0 && (kit_set(sim, dev, k->d0, 1) < 0 ||
			   kit_set(sim, dev, k->d1, 1) < 0))
		return;
}

static void kit_connect(struct sim *sim, struct sim_dev *dev)
{
	struct sim_kit *k = dev->kit;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	k->retry_us = sim_now_us() + RETRY_US;
	/* config.c checked that the path fits */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", k->chip);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "wicket-sim: %s: socket: %s\n", dev->name,
			strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINPROGRESS || errno == EAGAIN) {
			/* a busy listener: wait for POLLOUT */
			k->fd = fd;
			k->connecting = 1;
			return;
		}
		/* not there yet (ENOENT), or a stale file (ECONNREFUSED):
		 * wicketd has not opened the chip */
		close(fd);
		return;
	}
	k->fd = fd;
	kit_hello(sim, dev);
}

static int out_index(const struct sim_kit *k, long off)
{
	for (int i = 0; i < KIT_OUT_N; i++)
		if (k->out_off[i] == off)
			return i;
	return -1;
}

/* "out OFFSET LEVEL T_NS", or "info OFFSET output LEVEL ..." (initial,
 * t_ns -1). */
static void kit_output(struct sim *sim, struct sim_dev *dev, long off,
		       long level, long long t_ns)
{
	const struct sim_kit *k = dev->kit;
	int o = out_index(k, off);

	if (o < 0) {
		if (sim->verbose)
			sim_out(sim, "device=%s line=%ld level=%ld mono_us=%lld",
				dev->name, off, level,
				t_ns >= 0 ? t_ns / 1000 : (long long)sim_now_us());
		return;
	}
	sim_out(sim, "device=%s output=%s level=%ld active=%d%s mono_us=%lld",
		dev->name, kit_output_name(o), level,
		k->out_active_low[o] ? !level : level != 0,
		t_ns < 0 ? " initial=1" : "",
		t_ns >= 0 ? t_ns / 1000 : (long long)sim_now_us());
}

/* The oldest command awaiting a reply, which this reply answers. */
static const char *kit_answered(struct sim_kit *k)
{
	const char *cmd;

	if (k->n_sent == 0)
		return NULL;
	cmd = k->sent[k->sent_head];
	k->sent_head = (k->sent_head + 1) % KIT_SENT_MAX;
	k->n_sent--;
	return cmd;
}

static void kit_line(struct sim *sim, struct sim_dev *dev, char *line)
{
	struct sim_kit *k = dev->kit;
	char orig[200], *f[5];
	int n = 0;
	long off, level;
	long long t;
	const char *cmd;

	snprintf(orig, sizeof(orig), "%s", line);
	for (char *p = line; n < 5 && *p;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		f[n++] = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = '\0';
	}
	/* lines of the watch, at any time */
	if (n == 4 && strcmp(f[0], "out") == 0 &&
	    cv_long(f[1], 0, 1023, &off) == 0 &&
	    cv_long(f[2], 0, 1, &level) == 0) {
		char *end;

		errno = 0;
		t = strtoll(f[3], &end, 10);
		if (errno == 0 && *end == '\0' && t >= 0) {
			kit_output(sim, dev, off, level, t);
			return;
		}
	}
	if (n == 2 && strcmp(f[0], "released") == 0 &&
	    cv_long(f[1], 0, 1023, &off) == 0) {
		int o = out_index(k, off);

		if (o >= 0)
			sim_out(sim, "device=%s output=%s released=1 "
				"mono_us=%lld", dev->name, kit_output_name(o),
				(long long)sim_now_us());
		else if (sim->verbose)
			sim_out(sim, "device=%s line=%ld released=1 "
				"mono_us=%lld", dev->name, off,
				(long long)sim_now_us());
		return;
	}
	/* a reply to the oldest command */
	cmd = kit_answered(k);
	if (n == 1 && strcmp(f[0], "ok") == 0)
		return;
	/* the outputs' levels at connect; one not requested yet is
	 * reported by the watch when it is */
	if (n == 5 && strcmp(f[0], "info") == 0 &&
	    cv_long(f[1], 0, 1023, &off) == 0 &&
	    cv_long(f[3], 0, 1, &level) == 0) {
		if (strcmp(f[2], "output") == 0)
			kit_output(sim, dev, off, level, -1);
		return;
	}
	/* err, or a line this kit does not know: say it, carry on */
	fprintf(stderr, "wicket-sim: %s: chip %s: '%s': %s%s\n", dev->name,
		k->chip, cmd ? cmd : "(nothing sent)",
		n > 0 && strcmp(f[0], "err") == 0 ? "" : "unexpected reply: ",
		orig);
}

static void kit_read(struct sim *sim, struct sim_dev *dev)
{
	struct sim_kit *k = dev->kit;
	ssize_t r;
	size_t start = 0;

	r = read(k->fd, k->in + k->in_len, sizeof(k->in) - k->in_len);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		kit_drop(sim, dev, r == 0 ? NULL : strerror(errno));
		return;
	}
	k->in_len += (size_t)r;
	for (size_t i = 0; i < k->in_len; i++) {
		if (k->in[i] != '\n')
			continue;
		k->in[i] = '\0';
		if (i > start && k->in[i - 1] == '\r')
			k->in[i - 1] = '\0';
		kit_line(sim, dev, k->in + start);
		if (k->fd < 0)
			return;
		start = i + 1;
	}
	memmove(k->in, k->in + start, k->in_len - start);
	k->in_len -= start;
	if (k->in_len == sizeof(k->in))
		kit_drop(sim, dev, "a reply line longer than the buffer");
}

static void kit_flush(struct sim *sim, struct sim_dev *dev)
{
	struct sim_kit *k = dev->kit;
	ssize_t w;

	if (k->out_len == 0)
		return;
	w = write(k->fd, k->out, k->out_len);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			kit_drop(sim, dev, strerror(errno));
		return;
	}
	memmove(k->out, k->out + w, k->out_len - (size_t)w);
	k->out_len -= (size_t)w;
}

/* --- scanners ----------------------------------------------------------- */

static const struct {
	unsigned baud;
	speed_t speed;
} speeds[] = {
	{ 1200, B1200 }, { 2400, B2400 }, { 4800, B4800 }, { 9600, B9600 },
	{ 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 },
	{ 115200, B115200 }, { 230400, B230400 }, { 460800, B460800 },
	{ 921600, B921600 },
};

static int scanner_open(struct sim_scanner *sc)
{
	struct termios tio;
	speed_t speed = B9600;
	int fd, err;

	for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++)
		if (speeds[i].baud == sc->baud)
			speed = speeds[i].speed;
	fd = open(sc->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &tio) < 0)
		goto fail;
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
	if (cfsetispeed(&tio, speed) < 0 || cfsetospeed(&tio, speed) < 0 ||
	    tcsetattr(fd, TCSANOW, &tio) < 0)
		goto fail;
	sc->fd = fd;
	sc->out_len = 0;
	sc->lost = 0;
	return 0;
fail:
	err = errno;
	close(fd);
	return -err;
}

static void scanner_lost(struct sim_dev *dev, const char *why)
{
	struct sim_scanner *sc = dev->scanner;

	fprintf(stderr, "wicket-sim: %s: %s: %s; opening it again every "
		"second\n", dev->name, sc->path, why);
	close(sc->fd);
	sc->fd = -1;
	sc->out_len = 0;
	sc->lost = 1;
	sc->reopen_us = sim_now_us() + REOPEN_US;
}

static void scanner_flush(struct sim_dev *dev)
{
	struct sim_scanner *sc = dev->scanner;
	ssize_t w;

	if (sc->out_len == 0 || sc->fd < 0)
		return;
	w = write(sc->fd, sc->out, sc->out_len);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			scanner_lost(dev, strerror(errno));
		return;
	}
	memmove(sc->out, sc->out + w, sc->out_len - (size_t)w);
	sc->out_len -= (size_t)w;
}

static void scanner_read(struct sim_dev *dev)
{
	struct sim_scanner *sc = dev->scanner;
	uint8_t buf[256];
	ssize_t r = read(sc->fd, buf, sizeof(buf));

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r == 0)
		scanner_lost(dev, "hung up (the other end closed)");
	else if (r < 0)
		scanner_lost(dev, strerror(errno));
}

static void scanner_write(struct sim *sim, struct sim_dev *dev,
			  const struct scn_step *st)
{
	static const char *const term[] = { "\r", "\n", "\r\n" };
	struct sim_scanner *sc = dev->scanner;
	const char *t = st->action == SCN_SCAN ? term[sc->term] : "";
	size_t tlen = strlen(t);

	if (sc->fd < 0) {
		sim_out(sim, "device=%s dropped=%s reason=not-open",
			dev->name, scn_action_name(st->action));
		return;
	}
	if (st->data_len + tlen > sizeof(sc->out) - sc->out_len) {
		fprintf(stderr, "wicket-sim: %s: %s: nobody reads the line; "
			"%zu bytes dropped\n", dev->name, sc->path,
			st->data_len + tlen);
		sim_out(sim, "device=%s dropped=%s reason=not-read", dev->name,
			scn_action_name(st->action));
		return;
	}
	memcpy(sc->out + sc->out_len, st->data, st->data_len);
	memcpy(sc->out + sc->out_len + st->data_len, t, tlen);
	sc->out_len += st->data_len + tlen;
	if (sim->verbose)
		sim_out(sim, "device=%s wrote=%zu mono_us=%lld", dev->name,
			st->data_len + tlen, (long long)sim_now_us());
	scanner_flush(dev);
}

/* --- the loop's interface ----------------------------------------------- */

int kit_open(struct sim *sim)
{
	for (size_t i = 0; i < sim->n_devs; i++) {
		struct sim_dev *d = &sim->devs[i];
		int rc;

		if (d->kind != SIM_SCANNER)
			continue;
		rc = scanner_open(d->scanner);
		if (rc < 0) {
			fprintf(stderr, "wicket-sim: %s: cannot open %s: %s\n",
				d->name, d->scanner->path, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

void kit_close(struct sim *sim)
{
	for (size_t i = 0; i < sim->n_devs; i++) {
		struct sim_dev *d = &sim->devs[i];

		if (d->kind == SIM_KIT && d->kit->fd >= 0) {
			close(d->kit->fd);
			d->kit->fd = -1;
		} else if (d->kind == SIM_SCANNER && d->scanner->fd >= 0) {
			close(d->scanner->fd);
			d->scanner->fd = -1;
		}
	}
}

int kit_connected(const struct sim_dev *dev)
{
	if (dev->kind == SIM_KIT)
		return dev->kit->fd >= 0 && !dev->kit->connecting;
	return dev->scanner->fd >= 0;
}

int kit_check_step(const struct sim_dev *dev, const struct scn_step *st,
		   char *msg, size_t msglen)
{
	const struct sim_kit *k = dev->kit;

	switch (st->action) {
	case SCN_DOOR:
	case SCN_PRESS:
	case SCN_FIRE:
		if (k->in_off[st->input] < 0) {
			snprintf(msg, msglen, "'%s' needs the kit's '%s' line",
				 scn_action_name(st->action),
				 scn_input_name(st->input));
			return -EINVAL;
		}
		break;
	case SCN_WIEGAND:
	case SCN_WIEGAND34:
	case SCN_WIEGAND_BITS:
		if (k->d0 < 0) {
			snprintf(msg, msglen,
				 "'%s' needs the kit's 'd0' and 'd1' lines",
				 scn_action_name(st->action));
			return -EINVAL;
		}
		break;
	case SCN_FAULT:
		snprintf(msg, msglen, "faults are for the Modbus devices "
			 "(thermal, reader, gate), not a %s",
			 scn_kind_name(dev->kind));
		return -EINVAL;
	default:
		break;
	}
	return 0;
}

/* Drive input in to a logical level, if it changes. */
static void kit_level(struct sim *sim, struct sim_dev *dev, int in,
		      int active)
{
	struct sim_kit *k = dev->kit;

	if (k->level[in] == active)
		return;
	k->level[in] = active;
	if (k->fd >= 0 && !k->connecting)
		kit_set(sim, dev, k->in_off[in], phys(k, in, active));
}

static void kit_frame(struct sim *sim, struct sim_dev *dev,
		      const struct scn_step *st)
{
	struct sim_kit *k = dev->kit;
	char cmd[KIT_CMD_MAX];
	int len;

	if (k->fd < 0 || k->connecting) {
		sim_out(sim, "device=%s dropped=%s reason=not-connected",
			dev->name, scn_action_name(st->action));
		return;
	}
	len = snprintf(cmd, sizeof(cmd), "frame %d %d ", k->d0, k->d1);
	for (unsigned i = 0; i < st->nbits; i++)
		cmd[len++] = st->bits >> (st->nbits - 1 - i) & 1 ? '1' : '0';
	snprintf(cmd + len, sizeof(cmd) - (size_t)len, " %u %u",
		 k->wg_interval_us, k->wg_width_us);
	kit_send(sim, dev, cmd);
}

void kit_apply(struct sim *sim, struct sim_dev *dev,
	       const struct scn_step *st)
{
	struct sim_kit *k = dev->kit;

	switch (st->action) {
	case SCN_DOOR:
	case SCN_FIRE:
		kit_level(sim, dev, st->input, st->state);
		break;
	case SCN_PRESS:
		k->release_us[st->input] = sim_now_us() +
					   (int64_t)st->ms * 1000;
		kit_level(sim, dev, st->input, 1);
		break;
	case SCN_WIEGAND:
	case SCN_WIEGAND34:
	case SCN_WIEGAND_BITS:
		kit_frame(sim, dev, st);
		break;
	case SCN_SCAN:
	case SCN_SCAN_RAW:
		scanner_write(sim, dev, st);
		break;
	default:
		break;
	}
	if (dev->kind == SIM_KIT && k->fd >= 0 && !k->connecting)
		kit_flush(sim, dev);
}

size_t kit_n_fds(const struct sim *sim)
{
	size_t n = 0;

	for (size_t i = 0; i < sim->n_devs; i++)
		if (!sim_is_modbus(&sim->devs[i]))
			n++;
	return n;
}

size_t kit_fill(struct sim *sim, struct pollfd *pfd)
{
	size_t n = 0;

	for (size_t i = 0; i < sim->n_devs; i++) {
		const struct sim_dev *d = &sim->devs[i];

		if (d->kind == SIM_KIT) {
			const struct sim_kit *k = d->kit;
			short ev = POLLIN;

			if (k->connecting || k->out_len > 0)
				ev |= POLLOUT;
			pfd[n++] = (struct pollfd){ k->fd, ev, 0 };
		} else if (d->kind == SIM_SCANNER) {
			const struct sim_scanner *sc = d->scanner;

			pfd[n++] = (struct pollfd){
				sc->fd,
				(short)(POLLIN | (sc->out_len ? POLLOUT : 0)), 0
			};
		}
	}
	return n;
}

void kit_events(struct sim *sim, const struct pollfd *pfd, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < sim->n_devs && k < n; i++) {
		struct sim_dev *d = &sim->devs[i];
		short re;

		if (sim_is_modbus(d))
			continue;
		re = pfd[k++].revents;
		if (re == 0)
			continue;
		if (d->kind == SIM_SCANNER) {
			if (d->scanner->fd < 0)
				continue;
			if (re & POLLOUT)
				scanner_flush(d);
			if (d->scanner->fd >= 0 &&
			    (re & (POLLIN | POLLHUP | POLLERR)))
				scanner_read(d);
			continue;
		}
		if (d->kit->fd < 0)
			continue;
		if (d->kit->connecting) {
			int err = 0;
			socklen_t len = sizeof(err);

			if (getsockopt(d->kit->fd, SOL_SOCKET, SO_ERROR, &err,
				       &len) < 0 || err != 0) {
				kit_drop(sim, d, NULL);
				continue;
			}
			kit_hello(sim, d);
		}
		if (d->kit->fd >= 0 && (re & POLLOUT))
			kit_flush(sim, d);
		if (d->kit->fd >= 0 && (re & (POLLIN | POLLHUP | POLLERR)))
			kit_read(sim, d);
		if (d->kit->fd >= 0)
			kit_flush(sim, d);
	}
}

int64_t kit_timers(struct sim *sim)
{
	int64_t now = sim_now_us(), next = -1;

	for (size_t i = 0; i < sim->n_devs; i++) {
		struct sim_dev *d = &sim->devs[i];

		if (d->kind == SIM_SCANNER) {
			struct sim_scanner *sc = d->scanner;

			if (!sc->lost)
				continue;
			if (now >= sc->reopen_us) {
				if (scanner_open(sc) == 0) {
					fprintf(stderr, "wicket-sim: %s: %s: "
						"open again\n", d->name,
						sc->path);
					continue;
				}
				sc->reopen_us = now + REOPEN_US;
			}
			next = earlier(next, sc->reopen_us);
			continue;
		}
		if (d->kind != SIM_KIT)
			continue;
		for (int in = 0; in < SCN_IN_N; in++) {
			int64_t at = d->kit->release_us[in];

			if (at < 0)
				continue;
			if (now >= at) {
				d->kit->release_us[in] = -1;
				kit_level(sim, d, in, 0);
			} else {
				next = earlier(next, at);
			}
		}
		if (d->kit->fd < 0) {
			if (now >= d->kit->retry_us)
				kit_connect(sim, d);
			if (d->kit->fd < 0)
				next = earlier(next, d->kit->retry_us);
		}
		if (d->kit->fd >= 0 && !d->kit->connecting)
			kit_flush(sim, d);
	}
	return next;
}
