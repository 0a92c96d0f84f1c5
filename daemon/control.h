/*
 * control: the local control socket that wicketctl talks to
 * (docs/control.md has the protocol).  A UNIX stream socket, mode 0660,
 * in the runtime directory; every connection's peer is checked with
 * SO_PEERCRED and SO_PEERGROUPS: root, wicketd's own user, or a member of
 * wicketd's group or of control_group may talk, anyone else is told why
 * and disconnected.
 *
 * One request per line, a JSON object with "cmd" and the command's
 * arguments, and an optional "id" echoed in the reply; one reply per
 * line: {"ok":true,"result":{...}} or {"ok":false,"error":CODE,
 * "message":TEXT}.  "watch" turns the connection into a stream of event
 * lines.  Everything runs on the loop thread; sockets are non-blocking,
 * so a slow or malicious client never stalls the gate.
 */
#ifndef WICKET_CONTROL_H
#define WICKET_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#include "json.h"
#include "jsontree.h"

#define CONTROL_REQUEST_MAX 4096	/* bytes in one request line */

struct ev_loop;
struct control;

/* Who is asking, for the log and the ledger. */
struct control_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* A command's answer: fill result (already begun) and return 0, or
 * return control_fail(...). */
struct control_reply {
	struct json result;
	const char *error;	/* NULL: ok */
	char message[256];
};

/* Handles every command but "watch": req is the whole request object. */
typedef void (*control_fn)(void *arg, const struct control_peer *peer,
			   const char *cmd, const struct jt_node *req,
			   struct control_reply *reply);

/* Set reply's error code and message; for the handler. */
void control_fail(struct control_reply *reply, const char *code,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* For handlers: 1 if req has no members but cmd, id and allowed (a
 * NULL-terminated list), else 0 with the reply failed naming the first
 * other one. */
int control_args_only(const struct jt_node *req, const char *const *allowed,
		      struct control_reply *reply);
/* The string argument key, or NULL with the reply failed. */
const char *control_arg_str(const struct jt_node *req, const char *key,
			    struct control_reply *reply);

/* Listen on path (its directory is made if missing, mode 0750).  group:
 * a further group whose members may connect (NULL: none).  A stale socket
 * left by a crash is replaced; a live one (another wicketd) is an error.
 * 0, or -errno with err saying what and where. */
int control_open(struct ev_loop *loop, const char *path, const char *group,
		 control_fn fn, void *arg, struct control **out, char *err,
		 size_t errlen);
/* Disconnect everyone, remove the socket.  Accepts NULL. */
void control_close(struct control *c);

/* Send one event line (a JSON object without newline) to every watching
 * connection; one too slow to keep up is disconnected.  Accepts NULL. */
void control_broadcast(struct control *c, const char *line);
size_t control_watchers(const struct control *c);
/* Connections open now (the asking one included). */
size_t control_clients(const struct control *c);

#endif
