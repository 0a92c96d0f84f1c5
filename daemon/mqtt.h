/*
 * mqtt: one connection to the broker, driven by the event loop through the
 * libmosquitto socket (no library thread).  Topics are relative to
 * wicket/<site>/<gate>/.  The retained `status` topic carries a last will
 * {"state":"offline"}.  Reconnects with doubling back-off and jitter.
 * TLS, user name and password, MQTT 5 with a fall-back to 3.1.1, and
 * persistent sessions come from [mqtt]; host names are resolved off the
 * loop thread.
 * Publishing never blocks: when the link is down it says so (-ENOTCONN)
 * and the caller keeps the message (the ledger is the outbox).
 */
#ifndef WICKET_MQTT_H
#define WICKET_MQTT_H

#include "config.h"
#include "loop.h"

struct mqtt;

/* Called on the loop thread.  For a QoS 1 message exactly one of acked
 * and refused is called, once, if the broker answers before the link is
 * lost; neither if the link is lost first (the message stays the
 * caller's to send again). */
struct mqtt_handlers {
	void (*connected)(void *arg);
	void (*disconnected)(void *arg);
	/* PUBACK of a QoS 1 message (with MQTT 5, a reason code below 0x80);
	 * also called once a QoS 0 message has been written */
	void (*acked)(void *arg, int mid);
	/* MQTT 5 only: the broker answered the QoS 1 message mid with the
	 * reason code reason (>= 0x80, e.g. 0x87 not authorised, 0x97 quota
	 * exceeded): it was NOT accepted and must not be taken as delivered.
	 * wicketd logs each reason once per connection.  May be NULL. */
	void (*refused)(void *arg, int mid, int reason);
	/* A message on a subscribed topic (the full topic).  With MQTT 5,
	 * response_topic and corr are the request's Response Topic and
	 * Correlation Data properties (NULL and 0 when absent).  May be
	 * NULL. */
	void (*message)(void *arg, const char *topic, const void *payload,
			size_t len, int retained, const char *response_topic,
			const void *corr, size_t corr_len);
};

int mqtt_new(struct ev_loop *loop, const struct conf *c,
	     const struct mqtt_handlers *h, void *arg, struct mqtt **out);
/* Publish "offline" status, disconnect cleanly and free.  Accepts NULL.
 * Never waits for a connection attempt in progress (a slow DNS lookup):
 * that attempt's thread cleans up after itself. */
void mqtt_free(struct mqtt *m);
int mqtt_is_connected(const struct mqtt *m);
/* 0 with *mid set, -ENOTCONN, or -EIO. */
int mqtt_publish(struct mqtt *m, const char *subtopic, const char *payload,
		 int qos, int retain, int *mid);
/* Subscribe (QoS 1) to a full topic now if connected, and at every
 * connect.  0 or -ENOMEM. */
int mqtt_subscribe(struct mqtt *m, const char *topic);
/* Publish to a full topic (a response topic) at QoS 1, not retained, with
 * the correlation data when the link is MQTT 5.  0, -ENOTCONN, -EIO. */
int mqtt_reply(struct mqtt *m, const char *topic, const char *payload,
	       const void *corr, size_t corr_len);
/* The full topic for a subtopic, for logs and tests. */
const char *mqtt_prefix(const struct mqtt *m);
/* The protocol of the connection, "5" or "3.1.1"; NULL when not
 * connected. */
const char *mqtt_protocol(const struct mqtt *m);

/* Non-zero if a and b differ in any [mqtt] key (the password's content
 * included), i.e. the link must be made anew to apply b.  A new link also
 * forgets a fall-back from MQTT 5 to 3.1.1. */
int mqtt_conf_changed(const struct conf_mqtt *a, const struct conf_mqtt *b);

#endif
