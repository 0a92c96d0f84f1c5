/* libFuzzer: the control socket end to end, in process.  A real control
 * server (daemon/control.c) on a real event loop and a UNIX socket; each
 * input is sent by one client connection, then the client half-closes and
 * reads until the server closes.  The handler validates arguments as
 * core.c does (control_args_only, control_arg_str).  Every reply line
 * must be a JSON object with a boolean "ok"; the server must never crash,
 * leak, hang, or keep a connection whose client has gone. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "jsontree.h"
#include "log.h"
#include "loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct control *ctl;
static char path[108];

static void check(int ok)
{
	if (!ok)
		abort();
}

static void handler(void *arg, const struct control_peer *peer,
		    const char *cmd, const struct jt_node *req,
		    struct control_reply *reply)
{
	static const char *const none[] = { NULL };
	static const char *const lane[] = { "lane", NULL };
	const char *v;

	(void)arg;
	(void)peer;
	if (strcmp(cmd, "status") == 0) {
		if (control_args_only(req, none, reply))
			json_str(&reply->result, "state", "online");
	} else if (strcmp(cmd, "open") == 0) {
		if (control_args_only(req, lane, reply) &&
		    (v = control_arg_str(req, "lane", reply)) != NULL) {
			if (strcmp(v, "main") == 0)
				json_str(&reply->result, "lane", v);
			else
				control_fail(reply, "not_found", "no lane '%.60s'", v);
		}
	} else {
		control_fail(reply, "unknown_command", "'%.40s' is not a command",
			     cmd);
	}
}

static long stop_cb(struct ev_loop *l, void *arg)
{
	(void)arg;
	ev_stop(l);
	return EV_STOP_TIMER;
}

/* Run the loop for one round of whatever is ready. */
static void pump(void)
{
	ev_add_timer(loop, 0, stop_cb, NULL);
	ev_run(loop);
}

static void setup(void)
{
	char err[256];

	log_set_level(WK_LOG_ERR - 1);	/* quiet */
	snprintf(path, sizeof(path), "/tmp/wicket-fuzz-control-%ld.sock",
		 (long)getpid());
	check(ev_new(&loop) == 0);
	check(control_open(loop, path, NULL, handler, NULL, &ctl, err,
			   sizeof(err)) == 0);
}

static void check_replies(const char *buf, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		struct jt_doc *doc;
		const struct jt_node *ok;
		char err[128];

		if (buf[i] != '\n')
			continue;
		check(jt_parse(buf + start, i - start, &doc, err, sizeof(err)) == 0);
		ok = jt_get(jt_root(doc), "ok");
		check(ok != NULL && ok->type == JT_BOOL);
		jt_free(doc);
		start = i + 1;
	}
	check(start == len);	/* every reply ends with a newline */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char out[1 << 20];
	size_t sent = 0, got = 0;
	int fd, closed = 0, rounds = 0;

	if (loop == NULL)
		setup();
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	check(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	check(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	while (!closed) {
		ssize_t n;

		check(++rounds < 100000);	/* no hang */
		if (sent < size) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno == EPIPE)
				sent = size;	/* the server closed (too_long) */
			if (sent == size)
				shutdown(fd, SHUT_WR);
		}
		pump();
		for (;;) {
			n = recv(fd, out + got, sizeof(out) - got, 0);
			if (n > 0) {
				got += (size_t)n;
				check(got < sizeof(out));
				continue;
			}
			if (n == 0 || (n < 0 && errno == ECONNRESET))
				closed = 1;
			break;
		}
		if (size == 0 && sent == 0) {
			shutdown(fd, SHUT_WR);
			sent = 1;	/* nothing to send: just close */
		}
	}
	close(fd);
	pump();		/* the server notices, if it has not yet */
	check_replies(out, got);
	check(control_watchers(ctl) == 0);
	return 0;
}
