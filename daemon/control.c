/*
 * control: the UNIX socket wicketctl talks to; see control.h for the
 * protocol and docs/control.md for the commands.
 *
 * Limits that keep a client from hurting the gate: a request line of at
 * most CONTROL_REQUEST_MAX bytes (a longer one is answered "too_long" and
 * the connection closed, since the stream cannot be resynchronised);
 * HALF_SENT_MS to finish a line once begun; IDLE_MS without a request on
 * a connection that does not watch; MAX_CLIENTS at once; OUT_MAX bytes of
 * unsent output, beyond which a watcher is dropped.
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "loop.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59	/* Linux 4.13 */
#endif

#define MAX_CLIENTS 32
#define HALF_SENT_MS 5000
#define IDLE_MS 60000
#define OUT_MAX (256 * 1024)
#define SWEEP_MS 1000
#define MAX_PEER_GROUPS 256

struct client {
	struct control *srv;
	struct client *next;
	int fd;
	struct control_peer peer;
	char in[CONTROL_REQUEST_MAX];
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
	int want_out;		/* EPOLLOUT is on */
	int watching;
	int closing;		/* close once out is sent */
	int shut;		/* out sent and shut; reading to the end */
	int64_t closing_ms;
	int dead;		/* disconnected; freed by reap() */
	int64_t partial_ms;	/* when the unfinished line began, 0 none */
	int64_t active_ms;	/* the last complete request */
};

struct control {
	struct ev_loop *loop;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	ino_t ino;		/* the socket file we made, to remove only it */
	gid_t groups[2];	/* may connect: wicketd's group, control_group */
	size_t n_groups;
	control_fn fn;
	void *arg;
	struct client *clients;
	size_t n_clients, n_watchers;
	int depth;		/* inside a handler: no reap() */
	uint64_t sweep_timer;
};

void control_fail(struct control_reply *reply, const char *code,
		  const char *fmt, ...)
{
	va_list ap;

	reply->error = code;
	va_start(ap, fmt);
	vsnprintf(reply->message, sizeof(reply->message), fmt, ap);
	va_end(ap);
}

int control_args_only(const struct jt_node *req, const char *const *allowed,
		      struct control_reply *reply)
{
	for (const struct jt_node *m = req->kids; m != NULL; m = m->next) {
		int ok = strcmp(m->key, "cmd") == 0 || strcmp(m->key, "id") == 0;

		for (size_t i = 0; !ok && allowed[i] != NULL; i++)
			ok = strcmp(m->key, allowed[i]) == 0;
		if (!ok) {
			control_fail(reply, "bad_request", "%.60s: unknown argument",
				     m->key);
			return 0;
		}
	}
	return 1;
}

const char *control_arg_str(const struct jt_node *req, const char *key,
			    struct control_reply *reply)
{
	const struct jt_node *n = jt_get(req, key);

	if (n == NULL || n->type != JT_STRING) {
		control_fail(reply, "bad_request", "%s: %s", key,
			     n == NULL ? "missing" : "must be a string");
		return NULL;
	}
	return n->s;
}

/* --- connections ------------------------------------------------------- */

/* Disconnect now; the memory goes in reap(), since a handler or a
 * broadcast further up the stack may still hold cl. */
static void client_free(struct client *cl)
{
	struct control *c = cl->srv;

	if (cl->dead)
		return;
	cl->dead = 1;
	if (cl->watching)
		c->n_watchers--;
	c->n_clients--;
	ev_del_fd(c->loop, cl->fd);
	close(cl->fd);
	cl->fd = -1;
}

static void reap(struct control *c)
{
	struct client **pp = &c->clients;

	if (c->depth > 0)
		return;
	while (*pp != NULL) {
		struct client *cl = *pp;

		if (cl->dead) {
			*pp = cl->next;
			free(cl->out);
			free(cl);
		} else {
			pp = &cl->next;
		}
	}
}

/* Write what is buffered.  0, or -1 when the client is gone (freed). */
static int flush_out(struct client *cl)
{
	while (cl->out_len > 0) {
		ssize_t n = send(cl->fd, cl->out, cl->out_len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			client_free(cl);
			return -1;
		}
		memmove(cl->out, cl->out + n, cl->out_len - (size_t)n);
		cl->out_len -= (size_t)n;
	}
	if (cl->out_len == 0 && cl->closing && !cl->shut) {
		/* Half-close and read what the peer still sends until it
		 * closes: closing with unread input would reset the
		 * connection and lose the answer we just sent. */
		shutdown(cl->fd, SHUT_WR);
		cl->shut = 1;
	}
	if ((cl->out_len > 0) != cl->want_out) {
		cl->want_out = cl->out_len > 0;
		ev_mod_fd(cl->srv->loop, cl->fd,
			  EPOLLIN | (cl->want_out ? EPOLLOUT : 0));
	}
	return 0;
}

/* Queue one line (a newline is added) and try to send it.  0, or -1 when
 * the client is gone: it could not take the line, or the peer left. */
static int send_line(struct client *cl, const char *line)
{
	size_t len = strlen(line);

	if (cl->dead)
		return -1;
	if (cl->out_len + len + 1 > OUT_MAX) {
		log_warn("control: pid %ld (uid %ld) does not read its output; disconnected",
			 (long)cl->peer.pid, (long)cl->peer.uid);
		client_free(cl);
		return -1;
	}
	if (cl->out_len + len + 1 > cl->out_cap) {
		size_t cap = cl->out_cap ? cl->out_cap : 4096;
		char *n;

		while (cap < cl->out_len + len + 1)
			cap *= 2;
		n = realloc(cl->out, cap);
		if (n == NULL) {
			client_free(cl);
			return -1;
		}
		cl->out = n;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, line, len);
	cl->out[cl->out_len + len] = '\n';
	cl->out_len += len + 1;
	return flush_out(cl);
}

/* An error reply; with close_after, the connection ends once it is sent. */
static int send_error(struct client *cl, const struct jt_node *id,
		      const char *code, const char *message, int close_after)
{
	struct json j;

	json_begin(&j);
	json_bool(&j, "ok", 0);
	if (id && id->type == JT_STRING)
		json_str(&j, "id", id->s);
	else if (id && id->type == JT_NUMBER && id->is_int)
		json_int(&j, "id", id->i);
	json_str(&j, "error", code);
	json_str(&j, "message", message);
	if (close_after && !cl->closing) {
		cl->closing = 1;
		cl->closing_ms = ev_mono_ms();
	}
	return send_line(cl, json_end(&j) ? j.buf :
			 "{\"ok\":false,\"error\":\"failed\"}");
}

/* One complete request line. */
static int handle_line(struct client *cl, const char *line, size_t len)
{
	struct control *c = cl->srv;
	struct control_reply *reply;
	struct jt_doc *doc = NULL;
	const struct jt_node *root, *cmd, *id = NULL;
	char err[256], msg[300];
	struct json j;
	int rc;

	cl->active_ms = ev_mono_ms();
	if (jt_parse(line, len, &doc, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "the request is not JSON: %s", err);
		return send_error(cl, NULL, "bad_request", msg, 0);
	}
	root = jt_root(doc);
	if (root->type == JT_OBJECT)
		id = jt_get(root, "id");
	if (id && !(id->type == JT_STRING ||
		    (id->type == JT_NUMBER && id->is_int))) {
		rc = send_error(cl, NULL, "bad_request",
				"id: must be a string or a whole number", 0);
		jt_free(doc);
		return rc;
	}
	cmd = jt_get(root, "cmd");
	if (root->type != JT_OBJECT || cmd == NULL || cmd->type != JT_STRING) {
		rc = send_error(cl, id, "bad_request",
				"a request is an object with a string \"cmd\"", 0);
		jt_free(doc);
		return rc;
	}
	reply = calloc(1, sizeof(*reply));
	if (reply == NULL) {
		rc = send_error(cl, id, "failed", "out of memory", 0);
		jt_free(doc);
		return rc;
	}
	json_begin(&reply->result);
	c->depth++;
	if (strcmp(cmd->s, "watch") == 0) {
		if (root->n != (id ? 2u : 1u))
			control_fail(reply, "bad_request", "watch takes no arguments");
		else if (!cl->watching) {
			cl->watching = 1;
			c->n_watchers++;
		}
		if (reply->error == NULL)
			json_bool(&reply->result, "watching", 1);
	} else {
		c->fn(c->arg, &cl->peer, cmd->s, root, reply);
	}
	c->depth--;
	if (reply->error != NULL) {
		rc = send_error(cl, id, reply->error, reply->message, 0);
	} else {
		const char *res = json_end(&reply->result);

		json_begin(&j);
		json_bool(&j, "ok", 1);
		if (id && id->type == JT_STRING)
			json_str(&j, "id", id->s);
		else if (id)
			json_int(&j, "id", id->i);
		json_raw(&j, "result", res ? res : "{}");
		if (res == NULL || json_end(&j) == NULL)
			rc = send_error(cl, id, "failed", "the answer is too large", 0);
		else
			rc = send_line(cl, j.buf);
	}
	free(reply);
	jt_free(doc);
	return rc;
}

static void read_client(struct client *cl, int fd, uint32_t events);

static void on_client(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct client *cl = arg;
	struct control *c = cl->srv;

	(void)loop;
	read_client(cl, fd, events);
	reap(c);
}

static void read_client(struct client *cl, int fd, uint32_t events)
{
	ssize_t n;

	if ((events & EPOLLOUT) && flush_out(cl) < 0)
		return;
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		size_t start = 0;

		if (cl->closing) {
			/* nothing more is read from a client being closed */
			char sink[512];

			n = recv(fd, sink, sizeof(sink), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				client_free(cl);
			return;
		}
		n = recv(fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			if (cl->in_len > 0)
				log_info("control: pid %ld left in the middle of a request",
					 (long)cl->peer.pid);
			client_free(cl);
			return;
		}
		cl->in_len += (size_t)n;
		for (size_t i = 0; i < cl->in_len; i++) {
			size_t len;

			if (cl->in[i] != '\n')
				continue;
			len = i - start;
			if (len > 0 && cl->in[start + len - 1] == '\r')
				len--;
			if (len > 0 && (handle_line(cl, cl->in + start, len) < 0 ||
					cl->dead))
				return;	/* gone */
			start = i + 1;
			if (cl->closing)
				break;
		}
		memmove(cl->in, cl->in + start, cl->in_len - start);
		cl->in_len -= start;
		cl->partial_ms = cl->in_len > 0 ? (cl->partial_ms ? cl->partial_ms :
						    ev_mono_ms()) : 0;
		if (cl->in_len == sizeof(cl->in)) {
			char msg[96];

			snprintf(msg, sizeof(msg),
				 "a request line is at most %d bytes", CONTROL_REQUEST_MAX);
			cl->in_len = 0;
			send_error(cl, NULL, "too_long", msg, 1);
			return;
		}
	}
}

/* Whether the peer may talk to us: root, our user, or in one of our
 * groups (its primary group or a supplementary one). */
static int allowed(const struct control *c, int fd, const struct ucred *cr)
{
	gid_t g[MAX_PEER_GROUPS];
	socklen_t len = sizeof(g);

	if (cr->uid == 0 || cr->uid == geteuid())
		return 1;
	for (size_t i = 0; i < c->n_groups; i++)
		if (cr->gid == c->groups[i])
			return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0)
		return 0;	/* cannot tell: no */
	for (size_t k = 0; k < len / sizeof(gid_t); k++)
		for (size_t i = 0; i < c->n_groups; i++)
			if (g[k] == c->groups[i])
				return 1;
	return 0;
}

static void group_names(const struct control *c, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n_groups && off < len; i++) {
		struct group *gr = getgrgid(c->groups[i]);
		int n;

		if (gr != NULL)
			n = snprintf(buf + off, len - off, "%s%s", i ? " or " : "",
				     gr->gr_name);
		else
			n = snprintf(buf + off, len - off, "%s%ld", i ? " or " : "",
				     (long)c->groups[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static void on_listen(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct control *c = arg;

	(void)events;
	for (;;) {
		struct ucred cr;
		socklen_t len = sizeof(cr);
		struct client *cl;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("control: accept: %s", strerror(errno));
			return;
		}
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
			close(cfd);
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		if (cl == NULL) {
			close(cfd);
			continue;
		}
		cl->srv = c;
		cl->fd = cfd;
		cl->peer.pid = cr.pid;
		cl->peer.uid = cr.uid;
		cl->peer.gid = cr.gid;
		cl->active_ms = ev_mono_ms();
		if (ev_add_fd(loop, cfd, EPOLLIN, on_client, cl) < 0) {
			close(cfd);
			free(cl);
			continue;
		}
		cl->next = c->clients;
		c->clients = cl;
		c->n_clients++;
		if (!allowed(c, cfd, &cr)) {
			char groups[128], msg[256];

			group_names(c, groups, sizeof(groups));
			snprintf(msg, sizeof(msg),
				 "uid %ld is not root, wicketd's user, or in group %s",
				 (long)cr.uid, groups);
			log_notice("control: refused pid %ld: %s", (long)cr.pid, msg);
			send_error(cl, NULL, "forbidden", msg, 1);
		} else if (c->n_clients > MAX_CLIENTS) {
			log_warn("control: %d connections already; refused pid %ld",
				 MAX_CLIENTS, (long)cr.pid);
			send_error(cl, NULL, "busy", "too many connections; try again", 1);
		}
		reap(c);
	}
}

/* Half-sent requests and idle connections are closed. */
static long on_sweep(struct ev_loop *loop, void *arg)
{
	struct control *c = arg;
	int64_t now = ev_mono_ms();
	struct client *cl, *next;

	(void)loop;
	for (cl = c->clients; cl != NULL; cl = next) {
		next = cl->next;
		if (cl->dead)
			continue;
		if (cl->closing) {
			if (now - cl->closing_ms > HALF_SENT_MS)
				client_free(cl);
			continue;
		}
		if (cl->partial_ms && now - cl->partial_ms > HALF_SENT_MS) {
			log_info("control: pid %ld did not finish its request in %d s; disconnected",
				 (long)cl->peer.pid, HALF_SENT_MS / 1000);
			cl->in_len = 0;
			send_error(cl, NULL, "timeout",
				   "the request line was not finished in time", 1);
		} else if (!cl->watching && now - cl->active_ms > IDLE_MS) {
			client_free(cl);
		}
	}
	reap(c);
	return SWEEP_MS;
}

/* --- the socket -------------------------------------------------------- */

/* A socket file at path: remove it if nobody listens (a crash left it);
 * 0, or -errno with err set. */
static int clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control_socket %s: exists and is not a socket",
			 path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen,
			 "control_socket %s: another wicketd is listening on it",
			 path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "control_socket %s: cannot remove the old socket: %s",
			 path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* The socket's directory, made if it is missing (one level). */
static int make_dir(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		int e = errno;

		snprintf(err, errlen, "control_socket: cannot make %s: %s", dir,
			 strerror(e));
		return -e;
	}
	return 0;
}

int control_open(struct ev_loop *loop, const char *path, const char *group,
		 control_fn fn, void *arg, struct control **out, char *err,
		 size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *c;
	struct stat st;
	mode_t old;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control_socket %.64s...: path too long (at most %zu bytes)",
			 path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->loop = loop;
	c->fn = fn;
	c->arg = arg;
	c->fd = -1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->groups[c->n_groups++] = getegid();
	if (group != NULL) {
		struct group *gr = getgrnam(group);

		if (gr == NULL) {
			snprintf(err, errlen, "control_group: no group '%s'", group);
			free(c);
			return -ENOENT;
		}
		if (gr->gr_gid != c->groups[0])
			c->groups[c->n_groups++] = gr->gr_gid;
	}
	rc = make_dir(path, err, errlen);
	if (rc == 0)
		rc = clear_stale(path, err, errlen);
	if (rc < 0)
		goto fail;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control_socket: socket: %s", strerror(-rc));
		goto fail;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* born 0660: never a moment with wider access */
	old = umask(0117);
	rc = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(c->fd, 64) < 0 || stat(path, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control_socket %s: %s", path, strerror(-rc));
		goto fail;
	}
	c->ino = st.st_ino;
	if (c->n_groups > 1 && chown(path, (uid_t)-1, c->groups[1]) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control_socket %s: cannot give it to group %s: %s",
			 path, group, strerror(-rc));
		unlink(path);
		goto fail;
	}
	rc = ev_add_fd(loop, c->fd, EPOLLIN, on_listen, c);
	if (rc < 0) {
		snprintf(err, errlen, "control_socket: %s", strerror(-rc));
		unlink(path);
		goto fail;
	}
	c->sweep_timer = ev_add_timer(loop, SWEEP_MS, on_sweep, c);
	*out = c;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return rc;
}

void control_close(struct control *c)
{
	struct stat st;

	if (c == NULL)
		return;
	for (struct client *cl = c->clients; cl != NULL; cl = cl->next)
		client_free(cl);
	c->depth = 0;
	reap(c);
	ev_del_timer(c->loop, c->sweep_timer);
	ev_del_fd(c->loop, c->fd);
	close(c->fd);
	/* only our own socket: a newer wicketd may have taken the path */
	if (stat(c->path, &st) == 0 && st.st_ino == c->ino)
		unlink(c->path);
	free(c);
}

void control_broadcast(struct control *c, const char *line)
{
	struct client *cl, *next;

	if (c == NULL || c->n_watchers == 0)
		return;
	for (cl = c->clients; cl != NULL; cl = next) {
		next = cl->next;
		if (cl->watching && !cl->closing && !cl->dead)
			send_line(cl, line);	/* may disconnect cl */
	}
	reap(c);
}

size_t control_watchers(const struct control *c)
{
	return c ? c->n_watchers : 0;
}

size_t control_clients(const struct control *c)
{
	return c ? c->n_clients : 0;
}
