/*
 * remote: remote administration over MQTT (docs/admin.md).  Subscribes to
 * the set, rollback and command topics of this gate and of every gate of
 * its site (wicket/<site>/<gate>/... and wicket/<site>/all/...), verifies
 * each message with admin_verify(), applies what is valid in one step,
 * answers on the retained rules/state and lists/state topics or the
 * command's response topic, and has every update and command audited.
 *
 * The core keeps what it owns (the rules in force, the mode, the lanes,
 * the ledger) and lends it through struct remote_host; remote keeps the
 * admin keys, admin.db (adminstore.h) and its own write handle on
 * registry.db.  Loop thread only.
 */
#ifndef WICKET_REMOTE_H
#define WICKET_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "json.h"
#include "mqtt.h"
#include "rules.h"

struct remote;

/* One audited action, for the ledger and event/audit. */
struct remote_audit {
	const char *action;	/* rules, lists, rollback, cmd */
	const char *result;	/* applied, refused, rolled_back, unchanged, done */
	const char *key;	/* NULL: unknown */
	int64_t version;	/* 0: none */
	const char *error;	/* NULL unless refused */
	const char *message;
	const char *topic;
	const char *cmd;	/* NULL unless a command */
	const char *nonce;	/* NULL unless a command */
	const char *id;		/* the push id (16 hex) */
};

struct remote_host {
	void *arg;
	/* the rules in force: their version */
	int64_t (*rules_version)(void *arg);
	/* put r in force (the remote owns nothing of it afterwards) */
	void (*swap_rules)(void *arg, struct rules *r);
	/* the registry version in force in registry.db */
	int64_t (*registry_version)(void *arg);
	/* open a lane once; 0, or a refusal code with msg */
	int (*open)(void *arg, const char *lane, const char *by,
		    const char **code, char *msg, size_t msglen);
	void (*set_mode)(void *arg, enum rules_mode m, const char *by);
	/* the local status object, begun and not ended */
	void (*status)(void *arg, struct json *j);
	void (*audit)(void *arg, const struct remote_audit *a);
};

/* With [admin] enabled: load the keys, open admin.db.  0 (*out NULL when
 * remote administration is off), or -errno after logging why. */
int remote_new(const struct conf *c, const struct remote_host *h,
	       struct remote **out);
void remote_free(struct remote *r);	/* accepts NULL */
/* At a reload that keeps remote administration on: read the admin keys
 * file of c again (a key removed must stop being trusted).  On failure no
 * key is trusted until the next reload.  0 or -errno. */
int remote_reload_keys(struct remote *r, const struct conf *c);

/* At start and reload: rules stored by an earlier remote update, when
 * they are newer than the rules file's (file, file_version); NULL
 * otherwise, and the file's text is kept as what a first remote update
 * replaces (for its rollback).  The caller owns the result. */
struct rules *remote_stored_rules(struct remote *r, const char *file,
				  int64_t file_version);

/* The link: subscribe on m (at once and at every connect), and publish
 * the state topics when connected.  m may be NULL (no broker). */
void remote_attach(struct remote *r, struct mqtt *m);
void remote_connected(struct remote *r);
/* A message on one of the subscribed topics. */
void remote_message(struct remote *r, const char *topic, const void *payload,
		    size_t len, int retained, const char *response_topic,
		    const void *corr, size_t corr_len);

#endif
