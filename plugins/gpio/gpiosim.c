/*
 * gpiosim: a simulated GPIO chip inside the process, for the tests, the
 * demo and wicket-sim, behind the same gpioline interface as the kernel's
 * chips.  It is named "sim:PATH" in a device's `chip` key.
 *
 * The chip has 64 lines, offsets 0..63, named "0".."63".  It keeps each
 * line's physical level.  An input's level is what a client last set
 * (before any: high when requested with pull-up bias, low otherwise); an
 * output's level is what its consumer drives, and when the output is
 * released the line goes back to what a client last set (low if nothing).
 * A requested input queues one logical edge (active-low applied, stamped
 * CLOCK_MONOTONIC) each time its physical level changes.
 *
 * PATH is a UNIX stream socket: made when the chip is first opened (a
 * stale socket file left by a dead process is replaced; a live one, or a
 * file that is not a socket, is an error), unlinked when the last
 * reference closes.  A server thread accepts any number of clients.  Each
 * speaks text lines ending in \n, one reply line per command, in order;
 * a bad command gets "err WHAT" and the connection stays usable:
 *
 *   set OFFSET 0|1     -> ok         drive an input's physical level (like
 *                                    the pull file of the kernel's
 *                                    gpio-sim); on a requested output:
 *                                    "err OFFSET is an output"
 *   frame D0 D1 BITS [INTERVAL_US [WIDTH_US]]
 *                      -> ok         a Wiegand frame: for bit k of BITS
 *                                    (1..64 of 0/1), line D1 (a 1) or D0
 *                                    (a 0) goes low at t0 + k*INTERVAL_US
 *                                    (default 2000) for WIDTH_US (default
 *                                    50, less than the interval); t0 is
 *                                    now.  All its edges are queued at
 *                                    once with those stamps; both lines
 *                                    must be high before and are after.
 *   get OFFSET         -> value OFFSET LEVEL
 *   info OFFSET        -> info OFFSET unused|input|output LEVEL CONSUMER
 *                                    (CONSUMER "-" when unused)
 *   watch              -> ok         from then on, between replies, this
 *                                    client also gets
 *                                    "out OFFSET LEVEL T_NS" when an
 *                                    output is requested and each time its
 *                                    level changes (T_NS CLOCK_MONOTONIC),
 *                                    and "released OFFSET" when an output
 *                                    is released.
 *
 * LEVEL is always the physical level, 0 or 1.
 *
 * Threads: the chip's state (lines, queues, clients and their output) is
 * under one mutex, taken by the server thread for each batch of socket
 * work and by the plugins' workers for each line call.  Watch lines are
 * appended to the clients' output buffers by whichever thread changed the
 * output and written by the server thread (woken through an eventfd), so
 * a plugin never waits on a slow client; a client that lets more than
 * OUT_MAX bytes pile up is disconnected.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "glbackend.h"
#include "gpiosim.h"

#define SIM_FRAME_GAP_NS (100 * 1000000LL)	/* between two frames */
#define QUEUE_LEN 512		/* events waiting per input line */
#define IN_MAX (GSIM_CMD_MAX + 2)	/* a command line, \r\n included */
#define OUT_MAX (1u << 20)	/* unread output that drops a client */
#define ECHO_MAX 24		/* of a bad token, in an error reply */

/* --- the command parser ---------------------------------------------- */

struct tok {
	const char *s;
	size_t n;
};

/* A token for an error reply: printable, short. */
static void echo(char *buf, size_t len, const struct tok *t)
{
	size_t o = 0;

	for (size_t i = 0; i < t->n && i < ECHO_MAX && o + 1 < len; i++) {
		unsigned char ch = (unsigned char)t->s[i];

		buf[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (t->n > ECHO_MAX)
		for (int i = 0; i < 3 && o + 1 < len; i++)
			buf[o++] = '.';
	if (len > 0)
		buf[o] = '\0';
}

static int tok_is(const struct tok *t, const char *word)
{
	return t->n == strlen(word) && memcmp(t->s, word, t->n) == 0;
}

/* Decimal digits only (no sign, no spaces), max..: 0 or -1. */
static int tok_uint(const struct tok *t, uint32_t min, uint32_t max,
		    uint32_t *out)
{
	uint64_t v = 0;

	if (t->n == 0 || t->n > 10)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		if (t->s[i] < '0' || t->s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(t->s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* 1 if the token is all 0 and 1 */
static int tok_bits(const struct tok *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->s[i] != '0' && t->s[i] != '1')
			return 0;
	return 1;
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_offset(const struct tok *t, unsigned *out, char *err,
			size_t errlen)
{
	char e[ECHO_MAX + 4];
	uint32_t v;

	if (tok_uint(t, 0, GSIM_LINES - 1, &v) == 0) {
		*out = v;
		return 0;
	}
	echo(e, sizeof(e), t);
	return bad(err, errlen, "offset '%s' is not 0..%d", e, GSIM_LINES - 1);
}

#define TOKS_MAX 7

int gsim_parse(const char *line, size_t len, struct gsim_cmd *out,
	       char *err, size_t errlen)
{
	struct tok t[TOKS_MAX];
	size_t n = 0, i = 0;
	char e[ECHO_MAX + 4];
	uint32_t v;

	if (errlen > 0)
		err[0] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > GSIM_CMD_MAX)
		return bad(err, errlen, "line too long (over %d bytes)",
			   GSIM_CMD_MAX);
	if (memchr(line, '\0', len) != NULL)
		return bad(err, errlen, "NUL byte in the line");
	while (i < len) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (n == TOKS_MAX)
			return bad(err, errlen, "too many words");
		t[n].s = line + i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		t[n].n = (size_t)(line + i - t[n].s);
		n++;
	}
	if (n == 0)
		return bad(err, errlen,
			   "empty command (set, frame, get, info, watch)");
	memset(out, 0, sizeof(*out));
	if (tok_is(&t[0], "set")) {
		out->op = GSIM_SET;
		if (n != 3)
			return bad(err, errlen, "usage: set OFFSET 0|1");
		if (parse_offset(&t[1], &out->offset, err, errlen) < 0)
			return -EINVAL;
		if (!tok_is(&t[2], "0") && !tok_is(&t[2], "1")) {
			echo(e, sizeof(e), &t[2]);
			return bad(err, errlen, "level '%s' is not 0 or 1", e);
		}
		out->level = t[2].s[0] == '1';
		return 0;
	}
	if (tok_is(&t[0], "get") || tok_is(&t[0], "info")) {
		out->op = t[0].s[0] == 'g' ? GSIM_GET : GSIM_INFO;
		if (n != 2)
			return bad(err, errlen, "usage: %s OFFSET",
				   out->op == GSIM_GET ? "get" : "info");
		return parse_offset(&t[1], &out->offset, err, errlen);
	}
	if (tok_is(&t[0], "watch")) {
		out->op = GSIM_WATCH;
		if (n != 1)
			return bad(err, errlen, "usage: watch");
		return 0;
	}
	if (tok_is(&t[0], "frame")) {
		out->op = GSIM_FRAME;
		if (n < 4 || n > 6)
			return bad(err, errlen,
				   "usage: frame D0 D1 BITS [INTERVAL_US [WIDTH_US]]");
		if (parse_offset(&t[1], &out->offset, err, errlen) < 0 ||
		    parse_offset(&t[2], &out->offset2, err, errlen) < 0)
			return -EINVAL;
		if (out->offset == out->offset2)
			return bad(err, errlen,
				   "frame: D0 and D1 are the same line");
		if (t[3].n > GSIM_BITS_MAX || !tok_bits(&t[3])) {
			echo(e, sizeof(e), &t[3]);
			return bad(err, errlen,
				   "frame: BITS '%s' is not 1..%d of 0 and 1",
				   e, GSIM_BITS_MAX);
		}
		memcpy(out->bits, t[3].s, t[3].n);
		out->bits[t[3].n] = '\0';
		out->nbits = (unsigned)t[3].n;
		out->interval_us = GSIM_INTERVAL_DEFAULT_US;
		out->width_us = GSIM_WIDTH_DEFAULT_US;
		if (n > 4) {
			if (tok_uint(&t[4], 2, GSIM_INTERVAL_MAX_US, &v) < 0) {
				echo(e, sizeof(e), &t[4]);
				return bad(err, errlen,
					   "frame: INTERVAL_US '%s' is not 2..%u",
					   e, GSIM_INTERVAL_MAX_US);
			}
			out->interval_us = v;
		}
		if (n > 5) {
			if (tok_uint(&t[5], 1, out->interval_us - 1, &v) < 0) {
				echo(e, sizeof(e), &t[5]);
				return bad(err, errlen,
					   "frame: WIDTH_US '%s' is not 1..%u (less than the interval)",
					   e, out->interval_us - 1);
			}
			out->width_us = v;
		} else if (out->width_us >= out->interval_us) {
			return bad(err, errlen,
				   "frame: INTERVAL_US %u leaves no room for the default %u us pulse; give WIDTH_US",
				   out->interval_us, GSIM_WIDTH_DEFAULT_US);
		}
		return 0;
	}
	echo(e, sizeof(e), &t[0]);
	return bad(err, errlen,
		   "unknown command '%s' (set, frame, get, info, watch)", e);
}

int gsim_format(const struct gsim_cmd *c, char *buf, size_t len)
{
	switch (c->op) {
	case GSIM_SET:
		if (c->offset >= GSIM_LINES || (c->level != 0 && c->level != 1))
			return -EINVAL;
		return snprintf(buf, len, "set %u %d", c->offset, c->level);
	case GSIM_GET:
	case GSIM_INFO:
		if (c->offset >= GSIM_LINES)
			return -EINVAL;
		return snprintf(buf, len, "%s %u",
				c->op == GSIM_GET ? "get" : "info", c->offset);
	case GSIM_WATCH:
		return snprintf(buf, len, "watch");
	case GSIM_FRAME:
		if (c->offset >= GSIM_LINES || c->offset2 >= GSIM_LINES ||
		    c->offset == c->offset2 || c->nbits < 1 ||
		    c->nbits > GSIM_BITS_MAX ||
		    strnlen(c->bits, sizeof(c->bits)) != c->nbits ||
		    strspn(c->bits, "01") != c->nbits ||
		    c->interval_us < 2 ||
		    c->interval_us > GSIM_INTERVAL_MAX_US ||
		    c->width_us < 1 || c->width_us >= c->interval_us)
			return -EINVAL;
		return snprintf(buf, len, "frame %u %u %s %u %u", c->offset,
				c->offset2, c->bits, c->interval_us,
				c->width_us);
	}
	return -EINVAL;
}

/* --- the chip --------------------------------------------------------- */

struct sim_chip;

struct sim_req {
	struct sim_chip *chip;
	unsigned offset;
	enum gl_dir dir;
	int active_low;
	char consumer[GL_NAME_MAX];
	int evfd;		/* inputs: readable while q has events */
	struct gl_event q[QUEUE_LEN];
	unsigned head, len;
	uint64_t dropped;
};

struct sim_line {
	int level;		/* physical */
	int pull;		/* what a client set; -1 nothing yet */
	int64_t last_t;		/* the stamp of its latest edge */
	struct sim_req *req;	/* NULL: unused */
};

struct sim_client {
	struct sim_client *next;
	int fd;
	int watch;
	int dead;
	int want_out;		/* EPOLLOUT is armed */
	char in[IN_MAX];
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
};

struct sim_chip {
	pthread_mutex_t mu;
	struct sim_line line[GSIM_LINES];
	struct sim_client *clients;
	int stopping;

	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	int lfd, wfd, efd;	/* listener, wake eventfd, epoll */
	int paused;		/* out of descriptors: not accepting */
	pthread_t thread;
	int threaded;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wake(struct sim_chip *c)
{
	uint64_t one = 1;

	if (c->wfd >= 0 && write(c->wfd, &one, sizeof(one)) < 0) {
		/* the counter is full: the server is awake anyway */
	}
}

/* Append to a client's output; mu held.  Too much unread: drop it. */
static void client_put(struct sim_client *cl, const char *s, size_t n)
{
	char *p;
	size_t cap;

	if (cl->dead)
		return;
	if (cl->out_len + n > OUT_MAX) {
		cl->dead = 1;
		return;
	}
	if (cl->out_len + n > cl->out_cap) {
		cap = cl->out_cap ? cl->out_cap : 1024;
		while (cap < cl->out_len + n)
			cap *= 2;
		p = realloc(cl->out, cap);
		if (p == NULL) {
			cl->dead = 1;
			return;
		}
		cl->out = p;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, s, n);
	cl->out_len += n;
}

/* A watch line to every watching client; mu held. */
static void notify(struct sim_chip *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void notify(struct sim_chip *c, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n, any = 0;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	for (struct sim_client *cl = c->clients; cl != NULL; cl = cl->next)
		if (cl->watch && !cl->dead) {
			client_put(cl, buf, (size_t)n);
			any = 1;
		}
	if (any)
		wake(c);
}

/* A physical edge of a requested input at t; mu held. */
static void queue_edge(struct sim_req *r, int level, int64_t t)
{
	uint64_t one = 1;
	struct gl_event *ev;

	r->chip->line[r->offset].last_t = t;
	if (r->len == QUEUE_LEN) {
		r->dropped++;	/* like the kernel: the newest is lost */
		return;
	}
	ev = &r->q[(r->head + r->len) % QUEUE_LEN];
	ev->edge = (level ^ r->active_low) ? GL_RISE : GL_FALL;
	ev->t_ns = t;
	if (r->len++ == 0 && write(r->evfd, &one, sizeof(one)) < 0) {
		/* cannot fail for a counter this small */
	}
}

/* A client drives the line (set); mu held.  0 or -EPERM (an output). */
static int drive(struct sim_chip *c, unsigned off, int level)
{
	struct sim_line *l = &c->line[off];

	if (l->req != NULL && l->req->dir == GL_OUTPUT)
		return -EPERM;
	l->pull = level;
	if (l->level == level)
		return 0;
	l->level = level;
	/* not before the edges of a frame still running on the line: a
	 * line's stamps never go back */
	if (l->req != NULL) {
		int64_t t = now_ns();

		queue_edge(l->req, level, t > l->last_t ? t : l->last_t);
	}
	return 0;
}

/* mu held */
static int frame(struct sim_chip *c, const struct gsim_cmd *cmd, char *reply,
		 size_t len)
{
	unsigned offs[2] = { cmd->offset, cmd->offset2 };
	int64_t t0 = now_ns();

	for (int i = 0; i < 2; i++) {
		struct sim_line *l = &c->line[offs[i]];

		if (l->req != NULL && l->req->dir == GL_OUTPUT)
			return snprintf(reply, len, "err %u is an output",
					offs[i]);
		if (!l->level)
			return snprintf(reply, len,
					"err %u is low; a frame starts with both lines high",
					offs[i]);
	}
	/* after a frame still running on either line, with a silence that
	 * ends it (a reader's frames are apart by far more than the 25 ms
	 * a decoder waits), so two frames in a row stay two */
	for (int i = 0; i < 2; i++)
		if (c->line[offs[i]].last_t + SIM_FRAME_GAP_NS > t0)
			t0 = c->line[offs[i]].last_t + SIM_FRAME_GAP_NS;
	for (unsigned k = 0; k < cmd->nbits; k++) {
		struct sim_line *l = &c->line[offs[cmd->bits[k] == '1']];
		int64_t t = t0 + (int64_t)k * cmd->interval_us * 1000;

		if (l->req == NULL)
			continue;
		queue_edge(l->req, 0, t);
		queue_edge(l->req, 1, t + (int64_t)cmd->width_us * 1000);
	}
	/* the lines end high, where they were: the pull stays as set */
	return snprintf(reply, len, "ok");
}

/* Run one command line; the reply (without \n) in reply.  mu held. */
static void exec_line(struct sim_chip *c, struct sim_client *cl,
		      const char *line, size_t n, char *reply, size_t len)
{
	struct gsim_cmd cmd;
	char err[160];
	struct sim_line *l;

	if (gsim_parse(line, n, &cmd, err, sizeof(err)) < 0) {
		snprintf(reply, len, "err %s", err);
		return;
	}
	l = &c->line[cmd.offset];
	switch (cmd.op) {
	case GSIM_SET:
		if (drive(c, cmd.offset, cmd.level) < 0)
			snprintf(reply, len, "err %u is an output", cmd.offset);
		else
			snprintf(reply, len, "ok");
		return;
	case GSIM_FRAME:
		frame(c, &cmd, reply, len);
		return;
	case GSIM_GET:
		snprintf(reply, len, "value %u %d", cmd.offset, l->level);
		return;
	case GSIM_INFO:
		snprintf(reply, len, "info %u %s %d %s", cmd.offset,
			 l->req == NULL ? "unused" :
			 l->req->dir == GL_OUTPUT ? "output" : "input",
			 l->level, l->req == NULL ? "-" : l->req->consumer);
		return;
	case GSIM_WATCH:
		if (cl != NULL)
			cl->watch = 1;
		snprintf(reply, len, "ok");
		return;
	}
	snprintf(reply, len, "err internal");
}

static void chip_init_lines(struct sim_chip *c)
{
	for (unsigned i = 0; i < GSIM_LINES; i++) {
		c->line[i].level = 0;
		c->line[i].pull = -1;
		c->line[i].last_t = 0;
		c->line[i].req = NULL;
	}
}

/* --- the server ------------------------------------------------------- */

static void client_input(struct sim_chip *c, struct sim_client *cl)
{
	char reply[256];
	size_t start = 0;

	/* a few reads per wakeup, then the plugin's threads get the chip's
	 * lock again: one client sending without pause must not stall them
	 * (epoll comes back for the rest) */
	for (int turns = 0; turns < 8; turns++) {
		ssize_t got = recv(cl->fd, cl->in + cl->in_len,
				   sizeof(cl->in) - cl->in_len, MSG_DONTWAIT);

		if (got == 0) {
			cl->dead = 1;
			return;
		}
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				cl->dead = 1;
			return;
		}
		cl->in_len += (size_t)got;
		start = 0;
		for (size_t i = 0; i < cl->in_len; i++) {
			int w;

			if (cl->in[i] != '\n')
				continue;
			exec_line(c, cl, cl->in + start, i - start, reply,
				  sizeof(reply));
			w = (int)strlen(reply);
			reply[w] = '\n';
			client_put(cl, reply, (size_t)w + 1);
			start = i + 1;
		}
		memmove(cl->in, cl->in + start, cl->in_len - start);
		cl->in_len -= start;
		if (cl->in_len == sizeof(cl->in)) {
			/* no \n in a full buffer: not a client of this
			 * protocol; answer once and hang up */
			snprintf(reply, sizeof(reply),
				 "err line too long (over %d bytes)\n",
				 GSIM_CMD_MAX);
			client_put(cl, reply, strlen(reply));
			cl->dead = 1;
			return;
		}
	}
}

static void client_flush(struct sim_chip *c, struct sim_client *cl)
{
	struct epoll_event ev;
	int want;

	while (!cl->dead && cl->out_len > 0) {
		ssize_t w = send(cl->fd, cl->out, cl->out_len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				cl->dead = 1;
			break;
		}
		memmove(cl->out, cl->out + w, cl->out_len - (size_t)w);
		cl->out_len -= (size_t)w;
	}
	want = !cl->dead && cl->out_len > 0;
	if (want == cl->want_out)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0);
	ev.data.ptr = cl;
	if (epoll_ctl(c->efd, EPOLL_CTL_MOD, cl->fd, &ev) == 0)
		cl->want_out = want;
	else
		cl->dead = 1;
}

static void client_free(struct sim_client *cl)
{
	close(cl->fd);
	free(cl->out);
	free(cl);
}

static void listener_on(struct sim_chip *c, int on)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = on ? EPOLLIN : 0;
	ev.data.ptr = &c->lfd;
	if (epoll_ctl(c->efd, EPOLL_CTL_MOD, c->lfd, &ev) == 0)
		c->paused = !on;
}

static void accept_clients(struct sim_chip *c)
{
	for (;;) {
		struct epoll_event ev;
		struct sim_client *cl;
		int fd = accept4(c->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/* out of descriptors: the listener would wake epoll
			 * forever; listen again when a client leaves */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				listener_on(c, 0);
			return;	/* EAGAIN, or a client that went away */
		}
		cl = calloc(1, sizeof(*cl));
		if (cl == NULL) {
			close(fd);
			return;
		}
		cl->fd = fd;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = cl;
		if (epoll_ctl(c->efd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			client_free(cl);
			return;
		}
		cl->next = c->clients;
		c->clients = cl;
	}
}

static void *server(void *arg)
{
	struct sim_chip *c = arg;
	struct epoll_event evs[16];

	for (;;) {
		int n = epoll_wait(c->efd, evs, 16, -1);

		if (n < 0 && errno != EINTR)
			n = 0;	/* cannot happen with a good epoll fd */
		pthread_mutex_lock(&c->mu);
		if (c->stopping) {
			/* what the last release said still reaches the
			 * watchers, if they are reading */
			for (struct sim_client *cl = c->clients; cl != NULL;
			     cl = cl->next)
				client_flush(c, cl);
			pthread_mutex_unlock(&c->mu);
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &c->lfd) {
				accept_clients(c);
			} else if (p == &c->wfd) {
				uint64_t v;

				if (read(c->wfd, &v, sizeof(v)) < 0) {
					/* already drained */
				}
			} else {
				struct sim_client *cl = p;

				if (evs[i].events & (EPOLLIN | EPOLLRDHUP |
						     EPOLLHUP | EPOLLERR))
					client_input(c, cl);
			}
		}
		/* replies and watch lines, whoever queued them */
		for (struct sim_client **pp = &c->clients; *pp != NULL;) {
			struct sim_client *cl = *pp;

			client_flush(c, cl);
			if (cl->dead) {
				*pp = cl->next;
				epoll_ctl(c->efd, EPOLL_CTL_DEL, cl->fd, NULL);
				client_free(cl);
				if (c->paused)
					listener_on(c, 1);
			} else {
				pp = &cl->next;
			}
		}
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

/* --- the backend ------------------------------------------------------ */

static void chip_free(struct sim_chip *c)
{
	while (c->clients != NULL) {
		struct sim_client *cl = c->clients;

		c->clients = cl->next;
		client_free(cl);
	}
	if (c->efd >= 0)
		close(c->efd);
	if (c->wfd >= 0)
		close(c->wfd);
	if (c->lfd >= 0)
		close(c->lfd);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Something at path already: a live chip of another process is an
 * error, a stale socket goes, anything else stays and is an error. */
static int clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, r, e;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
			 "sim:%s: the file exists and is not a socket; not replacing it",
			 path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "sim:%s: socket: %s", path, strerror(e));
		return -e;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(fd);
	if (r == 0) {
		snprintf(err, errlen,
			 "sim:%s: another process serves a simulated chip there",
			 path);
		return -EADDRINUSE;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "sim:%s: %s", path, strerror(e));
		return -e;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		e = errno;
		snprintf(err, errlen, "sim:%s: removing the stale socket: %s",
			 path, strerror(e));
		return -e;
	}
	return 0;
}

static int sim_listen(struct sim_chip *c, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct epoll_event ev;
	struct stat st;
	int r, e;

	r = clear_stale(c->path, err, errlen);
	if (r < 0)
		return r;
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->lfd < 0)
		goto fail;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	if (stat(c->path, &st) == 0) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	if (listen(c->lfd, 16) < 0)
		goto fail_bound;
	c->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->efd = epoll_create1(EPOLL_CLOEXEC);
	if (c->wfd < 0 || c->efd < 0)
		goto fail_bound;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &c->lfd;
	if (epoll_ctl(c->efd, EPOLL_CTL_ADD, c->lfd, &ev) < 0)
		goto fail_bound;
	ev.data.ptr = &c->wfd;
	if (epoll_ctl(c->efd, EPOLL_CTL_ADD, c->wfd, &ev) < 0)
		goto fail_bound;
	return 0;
fail_bound:
	e = errno;
	unlink(c->path);
	snprintf(err, errlen, "sim:%s: %s", c->path, strerror(e));
	return -e;
fail:
	e = errno;
	snprintf(err, errlen, "sim:%s: cannot listen there: %s", c->path,
		 strerror(e));
	return -e;
}

static int sim_open(const char *path, void **out, unsigned *n_lines,
		    char *err, size_t errlen)
{
	struct sim_chip *c;
	sigset_t all, old;
	int r;

	if (strlen(path) >= sizeof(c->path)) {
		snprintf(err, errlen,
			 "sim:%.60s...: the socket path is longer than %zu bytes",
			 path, sizeof(c->path) - 1);
		return -ENAMETOOLONG;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "sim:%s: out of memory", path);
		return -ENOMEM;
	}
	c->lfd = c->wfd = c->efd = -1;
	r = pthread_mutex_init(&c->mu, NULL);
	if (r != 0) {
		free(c);
		snprintf(err, errlen, "sim:%s: %s", path, strerror(r));
		return -r;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	chip_init_lines(c);
	r = sim_listen(c, err, errlen);
	if (r < 0) {
		chip_free(c);
		return r;
	}
	/* signals belong to the daemon's loop thread (signalfd) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&c->thread, NULL, server, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		unlink(c->path);
		chip_free(c);
		snprintf(err, errlen, "sim:%s: server thread: %s", path,
			 strerror(r));
		return -r;
	}
	c->threaded = 1;
	*n_lines = GSIM_LINES;
	*out = c;
	return 0;
}

static void sim_close(void *chip)
{
	struct sim_chip *c = chip;
	struct stat st;

	if (c->threaded) {
		pthread_mutex_lock(&c->mu);
		c->stopping = 1;
		pthread_mutex_unlock(&c->mu);
		wake(c);
		pthread_join(c->thread, NULL);
	}
	/* only our own socket: another chip may have replaced it */
	if (c->path[0] != '\0' && lstat(c->path, &st) == 0 &&
	    st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	chip_free(c);
}

static int sim_find(void *chip, const char *name, unsigned *offset,
		    char *err, size_t errlen)
{
	struct sim_chip *c = chip;

	(void)offset;
	(void)c;
	snprintf(err, errlen,
		 "no line named '%.64s': a simulated chip's lines are named 0..%d",
		 name, GSIM_LINES - 1);
	return -ENOENT;
}

/* The consumer as info shows it: one word. */
static void consumer_copy(char *dst, size_t len, const char *src)
{
	size_t i;

	if (src == NULL || src[0] == '\0')
		src = "?";
	for (i = 0; src[i] != '\0' && i + 1 < len; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[i] = ch > 0x20 && ch < 0x7f ? (char)ch : '_';
	}
	dst[i] = '\0';
}

static int sim_request(void *chip, const struct gl_line_config *cfg,
		       void **out, char *err, size_t errlen)
{
	struct sim_chip *c = chip;
	struct sim_line *l;
	struct sim_req *r;
	int e;

	if (cfg->offset >= GSIM_LINES) {
		snprintf(err, errlen, "line %u: the chip's lines are 0..%d",
			 cfg->offset, GSIM_LINES - 1);
		return -ERANGE;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "line %u: out of memory", cfg->offset);
		return -ENOMEM;
	}
	r->chip = c;
	r->offset = cfg->offset;
	r->dir = cfg->dir;
	r->active_low = cfg->active_low != 0;
	r->evfd = -1;
	consumer_copy(r->consumer, sizeof(r->consumer), cfg->consumer);
	if (cfg->dir == GL_INPUT) {
		r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (r->evfd < 0) {
			e = errno;
			free(r);
			snprintf(err, errlen, "line %u: eventfd: %s",
				 cfg->offset, strerror(e));
			return -e;
		}
	}
	pthread_mutex_lock(&c->mu);
	l = &c->line[cfg->offset];
	if (l->req != NULL) {
		snprintf(err, errlen, "line %u is busy: held by %s",
			 cfg->offset, l->req->consumer);
		pthread_mutex_unlock(&c->mu);
		if (r->evfd >= 0)
			close(r->evfd);
		free(r);
		return -EBUSY;
	}
	l->req = r;
	if (cfg->dir == GL_OUTPUT) {
		l->level = (cfg->initial != 0) ^ r->active_low;
		notify(c, "out %u %d %lld\n", cfg->offset, l->level,
		       (long long)now_ns());
	} else {
		l->level = l->pull >= 0 ? l->pull : cfg->bias == GL_BIAS_PULL_UP;
	}
	pthread_mutex_unlock(&c->mu);
	*out = r;
	return 0;
}

static void sim_release(void *line)
{
	struct sim_req *r = line;
	struct sim_chip *c = r->chip;
	struct sim_line *l = &c->line[r->offset];

	pthread_mutex_lock(&c->mu);
	l->req = NULL;
	if (r->dir == GL_OUTPUT) {
		l->level = l->pull >= 0 ? l->pull : 0;
		notify(c, "released %u\n", r->offset);
	}
	pthread_mutex_unlock(&c->mu);
	if (r->evfd >= 0)
		close(r->evfd);
	free(r);
}

static int sim_set(void *line, int value)
{
	struct sim_req *r = line;
	struct sim_chip *c = r->chip;
	struct sim_line *l = &c->line[r->offset];
	int level = (value != 0) ^ r->active_low;

	if (r->dir != GL_OUTPUT)
		return -EPERM;
	pthread_mutex_lock(&c->mu);
	if (l->level != level) {
		l->level = level;
		notify(c, "out %u %d %lld\n", r->offset, level,
		       (long long)now_ns());
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int sim_get(void *line, int *value)
{
	struct sim_req *r = line;
	struct sim_chip *c = r->chip;

	pthread_mutex_lock(&c->mu);
	*value = c->line[r->offset].level ^ r->active_low;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int sim_fd(const void *line)
{
	const struct sim_req *r = line;

	return r->evfd;
}

static int sim_read(void *line, struct gl_event *ev, size_t max)
{
	struct sim_req *r = line;
	struct sim_chip *c = r->chip;
	uint64_t v;
	size_t n = 0;

	if (r->dir != GL_INPUT)
		return -EINVAL;
	pthread_mutex_lock(&c->mu);
	while (n < max && r->len > 0) {
		ev[n++] = r->q[r->head];
		r->head = (r->head + 1) % QUEUE_LEN;
		r->len--;
	}
	if (r->len == 0 && read(r->evfd, &v, sizeof(v)) < 0) {
		/* it was not set: nothing was waiting */
	}
	pthread_mutex_unlock(&c->mu);
	return (int)n;
}

const struct gl_backend gl_backend_sim = {
	.name = "sim",
	.open = sim_open,
	.close = sim_close,
	.find = sim_find,
	.request = sim_request,
	.release = sim_release,
	.set = sim_set,
	.get = sim_get,
	.fd = sim_fd,
	.read = sim_read,
};
