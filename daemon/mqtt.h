/*
 * mqtt: one connection to the broker, driven by the event loop through the
 * libmosquitto socket (no library thread).  Topics are relative to
 * wicket/<site>/<gate>/.  The retained `status` topic carries a last will
 * {"state":"offline"}.  Reconnects with doubling back-off and jitter.
 * Publishing never blocks: when the link is down it says so (-ENOTCONN)
 * and the caller keeps the message (the ledger is the outbox).
 */
#ifndef WICKET_MQTT_H
#define WICKET_MQTT_H

#include "config.h"
#include "loop.h"

struct mqtt;

struct mqtt_handlers {
	void (*connected)(void *arg);
	void (*disconnected)(void *arg);
	void (*acked)(void *arg, int mid);	/* PUBACK of a QoS 1 message */
};

int mqtt_new(struct ev_loop *loop, const struct conf *c,
	     const struct mqtt_handlers *h, void *arg, struct mqtt **out);
/* Publish "offline" status, disconnect cleanly and free.  Accepts NULL. */
void mqtt_free(struct mqtt *m);
int mqtt_is_connected(const struct mqtt *m);
/* 0 with *mid set, -ENOTCONN, or -EIO. */
int mqtt_publish(struct mqtt *m, const char *subtopic, const char *payload,
		 int qos, int retain, int *mid);
/* The full topic for a subtopic, for logs and tests. */
const char *mqtt_prefix(const struct mqtt *m);

#endif
