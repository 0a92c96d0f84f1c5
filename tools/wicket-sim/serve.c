/*
 * serve: the simulator's transports.  Modbus TCP listeners and their
 * clients, Modbus RTU serial lines, bytes in and out of them, replies held
 * back by fault late, and the ports cut by fault disconnect.
 *
 * Everything is non-blocking and driven by main.c's poll loop: bytes that
 * arrive go through a frame parser per connection (frame.h), so a request
 * split over many reads, or many requests in one read, cost nothing and a
 * half-sent request never holds the others up.  A reply goes out at once
 * when the kernel takes it, else waits in the connection's buffer for
 * POLLOUT.  A late reply waits in sim->pending with its due time, which
 * serve_timers gives the loop as a deadline, so one late device never
 * stalls the rest.
 *
 * Serial lines: every device naming the same path shares one fd, and the
 * unit id picks the device.  A request for a unit nobody plays gets no
 * answer (as on a real line, where nobody would answer either).  Framing
 * errors resynchronise byte by byte (frame.c); a partial frame is dropped
 * once the line has been quiet for ten characters, at least 50 ms (pty
 * and USB adapters deliver bytes in bursts, so the 3.5-character rule of
 * the specification would cut frames).  A hangup (socat gone, adapter
 * unplugged) closes the line and it is opened again every second.  The
 * line is 8N1; a pty ignores the speed.  The simulator must be the only
 * answering party on the line: replies of real devices would look like
 * junk to it.
 *
 * Disconnect: on TCP, every client of the listener is closed and new ones
 * are closed as soon as they are accepted; on RTU, the line's bytes are
 * still read (so the other end never blocks) but dropped, and nothing is
 * sent, like a pulled cable; pending late replies die with it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "sim.h"

#define MAX_CLIENTS 64
#define MAX_PENDING 10000
#define REOPEN_US 1000000
#define QUIET_MIN_US 50000

static const struct {
	unsigned baud;
	speed_t speed;
} speeds[] = {
	{ 300, B300 }, { 600, B600 }, { 1200, B1200 }, { 2400, B2400 },
	{ 4800, B4800 }, { 9600, B9600 }, { 19200, B19200 },
	{ 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 },
	{ 230400, B230400 }, { 460800, B460800 }, { 921600, B921600 },
};

static int speed_of(unsigned baud, speed_t *out)
{
	for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++) {
		if (speeds[i].baud == baud) {
			*out = speeds[i].speed;
			return 0;
		}
	}
	return -EINVAL;
}

int serve_baud_ok(unsigned baud)
{
	speed_t s;

	return speed_of(baud, &s) == 0;
}

/* Ten characters of 11 bits at the line's speed, at least QUIET_MIN_US. */
static int64_t quiet_us(const struct sim_line *ln)
{
	int64_t us = 110LL * 1000000 / (ln->baud ? ln->baud : 9600);

	return us > QUIET_MIN_US ? us : QUIET_MIN_US;
}

/* --- bytes out ------------------------------------------------------ */

/* Write what the kernel takes, keep the rest for POLLOUT.  0, or a
 * negative errno when the connection is broken or its buffer is full. */
static int conn_send(struct sim_conn *c, const uint8_t *p, size_t n)
{
	ssize_t w = 0;

	if (c->out_len == 0) {
		w = write(c->fd, p, n);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			w = 0;
		}
	}
	p += w;
	n -= (size_t)w;
	if (n == 0)
		return 0;
	if (n > sizeof(c->out) - c->out_len)
		return -ENOBUFS;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

static int conn_flush(struct sim_conn *c)
{
	ssize_t w;

	if (c->out_len == 0)
		return 0;
	w = write(c->fd, c->out, c->out_len);
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	memmove(c->out, c->out + w, c->out_len - (size_t)w);
	c->out_len -= (size_t)w;
	return 0;
}

/* --- clients -------------------------------------------------------- */

static struct sim_client *find_client(struct sim *sim, uint64_t id)
{
	for (size_t i = 0; i < sim->n_clients; i++)
		if (sim->clients[i]->id == id && !sim->clients[i]->dead)
			return sim->clients[i];
	return NULL;
}

static void drop_client(struct sim *sim, struct sim_client *c)
{
	struct sim_listener *l = &sim->listeners[c->listener];

	if (c->dead)
		return;
	close(c->conn.fd);
	c->conn.fd = -1;
	c->dead = 1;
	l->n_clients--;
	sim_out(sim, "disconnect listen=%s peer=%s clients=%u", l->addr,
		c->peer, l->n_clients);
}

/* Free the dropped clients; only between passes over the array. */
static void compact_clients(struct sim *sim)
{
	size_t k = 0;

	for (size_t i = 0; i < sim->n_clients; i++) {
		if (sim->clients[i]->dead)
			free(sim->clients[i]);
		else
			sim->clients[k++] = sim->clients[i];
	}
	sim->n_clients = k;
}

static void accept_client(struct sim *sim, size_t li)
{
	struct sim_listener *l = &sim->listeners[li];
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct sim_client *c;
	char ip[INET_ADDRSTRLEN] = "?", peer[SIM_ADDR_MAX];
	int fd, one = 1;

	fd = accept4(l->fd, (struct sockaddr *)&sa, &salen,
		     SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			fprintf(stderr, "wicket-sim: %s: accept: %s\n",
				l->addr, strerror(errno));
		return;
	}
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	snprintf(peer, sizeof(peer), "%s:%u", ip, (unsigned)ntohs(sa.sin_port));
	if (l->cut) {
		sim_out(sim, "refused listen=%s peer=%s fault=disconnect",
			l->addr, peer);
		close(fd);
		return;
	}
	if (sim->n_clients >= MAX_CLIENTS) {
		fprintf(stderr,
			"wicket-sim: %s: more than %d clients, refused\n",
			l->addr, MAX_CLIENTS);
		close(fd);
		return;
	}
	if (sim->n_clients == sim->cap_clients) {
		size_t ncap = sim->cap_clients ? sim->cap_clients * 2 : 8;
		struct sim_client **p = realloc(sim->clients,
						ncap * sizeof(*p));

		if (p == NULL) {
			fprintf(stderr, "wicket-sim: out of memory\n");
			close(fd);
			return;
		}
		sim->clients = p;
		sim->cap_clients = ncap;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		fprintf(stderr, "wicket-sim: out of memory\n");
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->conn.fd = fd;
	frame_parser_init(&c->conn.in, FRAME_TCP);
	c->id = ++sim->next_client_id;
	c->listener = li;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	sim->clients[sim->n_clients++] = c;
	l->n_clients++;
	sim_out(sim, "connect listen=%s peer=%s clients=%u", l->addr, c->peer,
		l->n_clients);
}

/* --- serial lines --------------------------------------------------- */

/* Forget a partial frame, keep counting framing errors from where the
 * line's count was. */
static void line_restart(struct sim_line *ln)
{
	unsigned long errors = ln->conn.in.errors;

	frame_parser_init(&ln->conn.in, FRAME_RTU);
	ln->conn.in.errors = errors;
}

static void drop_pending_line(struct sim *sim, size_t li)
{
	size_t k = 0;

	for (size_t i = 0; i < sim->n_pending; i++)
		if (sim->pending[i].link != SIM_RTU ||
		    sim->pending[i].port != li)
			sim->pending[k++] = sim->pending[i];
	sim->n_pending = k;
}

static int line_open(struct sim_line *ln)
{
	struct termios tio;
	speed_t speed = B9600;
	int fd, err;

	speed_of(ln->baud, &speed);	/* checked by config.c */
	fd = open(ln->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &tio) < 0)
		goto fail;
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (cfsetispeed(&tio, speed) < 0 || cfsetospeed(&tio, speed) < 0 ||
	    tcsetattr(fd, TCSANOW, &tio) < 0)
		goto fail;
	/* bytes from before we listened were not meant for us */
	tcflush(fd, TCIOFLUSH);
	ln->conn.fd = fd;
	ln->conn.out_len = 0;
	line_restart(ln);
	ln->lost = 0;
	return 0;
fail:
	err = errno;
	close(fd);
	return -err;
}

static void line_lost(struct sim *sim, size_t li, const char *why)
{
	struct sim_line *ln = &sim->lines[li];

	fprintf(stderr, "wicket-sim: %s: %s; opening it again every second\n",
		ln->path, why);
	close(ln->conn.fd);
	ln->conn.fd = -1;
	ln->conn.out_len = 0;
	ln->lost = 1;
	ln->reopen_us = sim_now_us() + REOPEN_US;
	drop_pending_line(sim, li);
}

/* --- requests ------------------------------------------------------- */

static int unit_seen(uint8_t *bits, int unit)
{
	int seen = bits[unit / 8] & (1u << (unit % 8));

	bits[unit / 8] |= (uint8_t)(1u << (unit % 8));
	return seen != 0;
}

/* Hand a reply to its connection (if that is still there) and tell the
 * device it went out. */
static void send_reply(struct sim *sim, enum sim_link link, size_t port,
		       uint64_t client, size_t dev, long seq,
		       const uint8_t *adu, size_t len)
{
	struct sim_client *c = NULL;
	struct sim_conn *conn;
	int rc;

	if (link == SIM_RTU) {
		struct sim_line *ln = &sim->lines[port];

		if (ln->conn.fd < 0 || ln->cut)
			return;
		conn = &ln->conn;
	} else {
		c = find_client(sim, client);
		if (c == NULL)
			return;	/* gone while the reply was late */
		conn = &c->conn;
	}
	rc = conn_send(conn, adu, len);
	if (rc < 0 && link == SIM_TCP) {
		fprintf(stderr, "wicket-sim: %s: peer %s: reply: %s\n",
			sim->listeners[port].addr, c->peer, strerror(-rc));
		drop_client(sim, c);
		return;
	}
	if (rc == -ENOBUFS) {
		fprintf(stderr, "wicket-sim: %s: nobody reads the line; "
			"reply of %zu bytes dropped\n", sim->lines[port].path,
			len);
		return;
	}
	if (rc < 0) {
		line_lost(sim, port, strerror(-rc));
		return;
	}
	dev_replied(sim, &sim->devs[dev], seq);
}

static void queue_late(struct sim *sim, int64_t due, enum sim_link link,
		       size_t port, uint64_t client, size_t dev, long seq,
		       const uint8_t *adu, size_t len)
{
	struct sim_pending *p;

	if (sim->n_pending >= MAX_PENDING) {
		fprintf(stderr, "wicket-sim: more than %d late replies "
			"waiting; this one dropped\n", MAX_PENDING);
		return;
	}
	if (sim->n_pending == sim->cap_pending) {
		size_t ncap = sim->cap_pending ? sim->cap_pending * 2 : 16;

		p = realloc(sim->pending, ncap * sizeof(*p));
		if (p == NULL) {
			fprintf(stderr, "wicket-sim: out of memory; a late "
				"reply dropped\n");
			return;
		}
		sim->pending = p;
		sim->cap_pending = ncap;
	}
	p = &sim->pending[sim->n_pending++];
	p->due_us = due;
	p->link = link;
	p->port = port;
	p->client = client;
	p->dev = dev;
	p->seq = seq;
	p->len = len;
	memcpy(p->data, adu, len);
}

static void unknown_unit(struct sim *sim, enum sim_link link, size_t port,
			 struct sim_client *c, const struct frame_req *req)
{
	uint8_t pdu[2], adu[FRAME_ADU_MAX];
	size_t len;

	if (link == SIM_RTU) {
		struct sim_line *ln = &sim->lines[port];

		if (!unit_seen(ln->unknown_units, req->unit))
			fprintf(stderr,
				"wicket-sim: %s: request for unit %d, which "
				"no device on this line has; not answering\n",
				ln->path, req->unit);
		return;
	}
	if (!unit_seen(sim->listeners[port].unknown_units, req->unit))
		fprintf(stderr,
			"wicket-sim: %s: request for unit %d, which no device "
			"here has; answering exception 11 (gateway target "
			"failed to respond)\n", sim->listeners[port].addr,
			req->unit);
	frame_exception(req->pdu[0], FRAME_EX_GATEWAY, pdu);
	len = frame_tcp_build(req->tid, req->unit, pdu, 2, adu);
	send_reply(sim, link, port, c->id, 0, -1, adu, len);
}

static void handle_request(struct sim *sim, enum sim_link link, size_t port,
			   struct sim_client *c, const struct frame_req *req,
			   int64_t t_us)
{
	struct sim_dev *dev = dev_find(sim, link, port, req->unit);
	uint8_t adu[FRAME_ADU_MAX];
	struct sim_reply r;
	size_t len, di;

	if (dev == NULL) {
		unknown_unit(sim, link, port, c, req);
		return;
	}
	di = (size_t)(dev - sim->devs);
	if (link == SIM_RTU && !dev->contacted) {
		dev->contacted = 1;
		sim_out(sim, "connect serial=%s device=%s unit=%d",
			sim->lines[port].path, dev->name, dev->unit);
	}
	dev_request(sim, dev, req, t_us, &r);
	if (!r.answer)
		return;
	if (link == SIM_RTU) {
		len = frame_rtu_build(req->unit, r.pdu, r.pdu_len, adu);
		if (r.bad_check && len >= 2) {
			adu[len - 2] ^= 0xff;
			adu[len - 1] ^= 0xff;
		}
	} else {
		/* far from the client's recent ids, so never mistaken for
		 * the answer to another request */
		uint16_t tid = r.bad_check ? (uint16_t)(req->tid ^ 0x8000)
					   : req->tid;

		len = frame_tcp_build(tid, req->unit, r.pdu, r.pdu_len, adu);
	}
	if (len == 0)
		return;
	if (r.delay_ms > 0)
		queue_late(sim, t_us + (int64_t)r.delay_ms * 1000, link, port,
			   c ? c->id : 0, di, r.seq, adu, len);
	else
		send_reply(sim, link, port, c ? c->id : 0, di, r.seq, adu,
			   len);
}

static void framing_error(struct sim *sim, struct sim_line *ln, int64_t t)
{
	const struct frame_parser *p = &ln->conn.in;

	if (sim->verbose)
		sim_out(sim, "framing-error serial=%s reason=%s errors=%lu "
			"mono_us=%lld", ln->path, frame_err_name(p->last_err),
			p->errors, (long long)t);
	if (!ln->reported_framing) {
		ln->reported_framing = 1;
		fprintf(stderr, "wicket-sim: %s: framing error (%s): bytes "
			"dropped up to the next good frame; -v shows every "
			"one\n", ln->path, frame_err_name(p->last_err));
	}
}

/* Parse buf and answer what it completes.  -1 if the client must go. */
static int take_bytes(struct sim *sim, enum sim_link link, size_t port,
		      struct sim_client *c, struct sim_conn *conn,
		      const uint8_t *buf, size_t n, int64_t t_us)
{
	size_t off = 0;

	do {
		off += frame_feed(&conn->in, buf + off, n - off);
		for (;;) {
			struct frame_req req;
			int rc = frame_next(&conn->in, &req);

			if (rc == 0)
				break;
			if (rc == -EBADMSG) {
				framing_error(sim, &sim->lines[port], t_us);
				continue;
			}
			if (rc < 0) {
				fprintf(stderr,
					"wicket-sim: %s: peer %s: bad MBAP "
					"header (%s); closing the "
					"connection\n",
					sim->listeners[port].addr, c->peer,
					conn->in.last_err == FRAME_ERR_PROTOCOL
					? "protocol id is not 0"
					: "length outside 2..254");
				return -1;
			}
			handle_request(sim, link, port, c, &req, t_us);
			if (c != NULL && c->dead)
				return -1;
			if (link == SIM_RTU && sim->lines[port].conn.fd < 0)
				return -1;
		}
	} while (off < n);
	return 0;
}

static void client_read(struct sim *sim, struct sim_client *c)
{
	uint8_t buf[1024];
	ssize_t n = read(c->conn.fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* a reset is just a client going away without goodbye */
		if (n < 0 && errno != ECONNRESET)
			fprintf(stderr, "wicket-sim: %s: peer %s: %s\n",
				sim->listeners[c->listener].addr, c->peer,
				strerror(errno));
		drop_client(sim, c);
		return;
	}
	if (take_bytes(sim, SIM_TCP, c->listener, c, &c->conn, buf,
		       (size_t)n, sim_now_us()) < 0)
		drop_client(sim, c);
}

static void line_read(struct sim *sim, size_t li)
{
	struct sim_line *ln = &sim->lines[li];
	uint8_t buf[1024];
	ssize_t n = read(ln->conn.fd, buf, sizeof(buf));
	int64_t t = sim_now_us();

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0) {
		line_lost(sim, li, "hung up (the other end closed)");
		return;
	}
	if (n < 0) {
		line_lost(sim, li, strerror(errno));
		return;
	}
	if (ln->cut)
		return;		/* a pulled cable: bytes go nowhere */
	ln->last_rx_us = t;
	take_bytes(sim, SIM_RTU, li, NULL, &ln->conn, buf, (size_t)n, t);
}

/* --- the loop's interface ------------------------------------------- */

int serve_open(struct sim *sim)
{
	for (size_t i = 0; i < sim->n_listeners; i++) {
		struct sim_listener *l = &sim->listeners[i];
		struct sockaddr_in sa = { .sin_family = AF_INET };
		int one = 1, fd;

		sa.sin_port = htons((uint16_t)l->port);
		inet_pton(AF_INET, l->host, &sa.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    0);
		if (fd < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			       sizeof(one)) < 0 ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(fd, 16) < 0) {
			fprintf(stderr, "wicket-sim: cannot listen on %s: %s\n",
				l->addr, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		l->fd = fd;
	}
	for (size_t i = 0; i < sim->n_lines; i++) {
		struct sim_line *ln = &sim->lines[i];
		int rc = line_open(ln);

		if (rc < 0) {
			fprintf(stderr,
				"wicket-sim: cannot open serial line %s: %s\n",
				ln->path, strerror(-rc));
			return -1;
		}
	}
	return kit_open(sim);
}

void serve_close(struct sim *sim)
{
	for (size_t i = 0; i < sim->n_clients; i++) {
		if (sim->clients[i]->conn.fd >= 0)
			close(sim->clients[i]->conn.fd);
		free(sim->clients[i]);
	}
	free(sim->clients);
	sim->clients = NULL;
	sim->n_clients = sim->cap_clients = 0;
	for (size_t i = 0; i < sim->n_listeners; i++) {
		if (sim->listeners[i].fd >= 0)
			close(sim->listeners[i].fd);
		sim->listeners[i].fd = -1;
		sim->listeners[i].n_clients = 0;
	}
	for (size_t i = 0; i < sim->n_lines; i++) {
		if (sim->lines[i].conn.fd >= 0)
			close(sim->lines[i].conn.fd);
		sim->lines[i].conn.fd = -1;
	}
	free(sim->pending);
	sim->pending = NULL;
	sim->n_pending = sim->cap_pending = 0;
	kit_close(sim);
}

int serve_all_connected(const struct sim *sim)
{
	for (size_t i = 0; i < sim->n_devs; i++) {
		const struct sim_dev *d = &sim->devs[i];

		if (!sim_is_modbus(d)) {
			if (!kit_connected(d))
				return 0;
			continue;
		}
		if (d->link == SIM_RTU ? !d->contacted
				       : sim->listeners[d->port].n_clients == 0)
			return 0;
	}
	return 1;
}

static int port_cut(const struct sim *sim, enum sim_link link, size_t port)
{
	for (size_t i = 0; i < sim->n_devs; i++)
		if (sim_is_modbus(&sim->devs[i]) &&
		    sim->devs[i].link == link && sim->devs[i].port == port &&
		    sim->devs[i].fault == SCN_FAULT_DISCONNECT)
			return 1;
	return 0;
}

void serve_apply_faults(struct sim *sim)
{
	for (size_t i = 0; i < sim->n_listeners; i++) {
		struct sim_listener *l = &sim->listeners[i];
		int cut = port_cut(sim, SIM_TCP, i);

		if (cut && !l->cut)
			for (size_t k = 0; k < sim->n_clients; k++)
				if (sim->clients[k]->listener == i)
					drop_client(sim, sim->clients[k]);
		l->cut = cut;
	}
	compact_clients(sim);
	for (size_t i = 0; i < sim->n_lines; i++) {
		struct sim_line *ln = &sim->lines[i];
		int cut = port_cut(sim, SIM_RTU, i);

		if (cut == ln->cut)
			continue;
		/* Going dead, what was on its way is lost; coming back,
		 * so is what arrived while dead. */
		if (ln->conn.fd >= 0)
			tcflush(ln->conn.fd, cut ? TCIOFLUSH : TCIFLUSH);
		line_restart(ln);
		if (cut) {
			ln->conn.out_len = 0;
			drop_pending_line(sim, i);
		}
		ln->cut = cut;
	}
}

size_t serve_n_fds(const struct sim *sim)
{
	return sim->n_listeners + sim->n_lines + sim->n_clients;
}

size_t serve_fill(struct sim *sim, struct pollfd *pfd)
{
	size_t n = 0;

	for (size_t i = 0; i < sim->n_listeners; i++)
		pfd[n++] = (struct pollfd){ sim->listeners[i].fd, POLLIN, 0 };
	for (size_t i = 0; i < sim->n_lines; i++) {
		const struct sim_conn *c = &sim->lines[i].conn;

		pfd[n++] = (struct pollfd){
			c->fd, (short)(POLLIN | (c->out_len ? POLLOUT : 0)), 0
		};
	}
	for (size_t i = 0; i < sim->n_clients; i++) {
		const struct sim_conn *c = &sim->clients[i]->conn;

		pfd[n++] = (struct pollfd){
			c->fd, (short)(POLLIN | (c->out_len ? POLLOUT : 0)), 0
		};
	}
	return n;
}

void serve_events(struct sim *sim, const struct pollfd *pfd, size_t n)
{
	size_t nl = sim->n_listeners, nr = sim->n_lines;
	size_t nc = n - nl - nr;

	/* Clients first: accepting may grow the array (not move them). */
	for (size_t i = 0; i < nc; i++) {
		struct sim_client *c = sim->clients[i];
		short re = pfd[nl + nr + i].revents;

		if (c->dead || re == 0)
			continue;
		if ((re & POLLOUT) && conn_flush(&c->conn) < 0) {
			drop_client(sim, c);
			continue;
		}
		if (re & (POLLIN | POLLHUP | POLLERR))
			client_read(sim, c);
	}
	for (size_t i = 0; i < nr; i++) {
		short re = pfd[nl + i].revents;
		int rc;

		if (re == 0 || sim->lines[i].conn.fd < 0)
			continue;
		if (re & POLLOUT) {
			rc = conn_flush(&sim->lines[i].conn);
			if (rc < 0) {
				line_lost(sim, i, strerror(-rc));
				continue;
			}
		}
		if (re & (POLLIN | POLLHUP | POLLERR))
			line_read(sim, i);
	}
	for (size_t i = 0; i < nl; i++)
		if (pfd[i].revents & POLLIN)
			accept_client(sim, i);
	compact_clients(sim);
}

static int64_t earlier(int64_t a, int64_t b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

int64_t serve_timers(struct sim *sim)
{
	int64_t now = sim_now_us(), next = -1;

	/* Late replies, earliest first. */
	for (;;) {
		struct sim_pending p;
		size_t best = 0;

		if (sim->n_pending == 0)
			break;
		for (size_t i = 1; i < sim->n_pending; i++)
			if (sim->pending[i].due_us <
			    sim->pending[best].due_us)
				best = i;
		if (sim->pending[best].due_us > now) {
			next = sim->pending[best].due_us;
			break;
		}
		p = sim->pending[best];
		memmove(&sim->pending[best], &sim->pending[best + 1],
			(sim->n_pending - best - 1) * sizeof(p));
		sim->n_pending--;
		send_reply(sim, p.link, p.port, p.client, p.dev, p.seq,
			   p.data, p.len);
	}
	for (size_t i = 0; i < sim->n_lines; i++) {
		struct sim_line *ln = &sim->lines[i];

		if (ln->lost) {
			if (now >= ln->reopen_us) {
				if (line_open(ln) == 0) {
					fprintf(stderr, "wicket-sim: %s: open "
						"again\n", ln->path);
					continue;
				}
				ln->reopen_us = now + REOPEN_US;
			}
			next = earlier(next, ln->reopen_us);
			continue;
		}
		if (ln->conn.fd < 0 || ln->cut || !frame_pending(&ln->conn.in))
			continue;
		if (now >= ln->last_rx_us + quiet_us(ln)) {
			if (frame_flush(&ln->conn.in))
				framing_error(sim, ln, now);
		} else {
			next = earlier(next, ln->last_rx_us + quiet_us(ln));
		}
	}
	compact_clients(sim);
	return next;
}
