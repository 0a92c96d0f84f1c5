/*
 * mqtt: libmosquitto inside our epoll loop.
 *
 * One mosquitto handle per connection attempt: when a connection is lost the
 * handle is destroyed with whatever it had queued, and the outbox replays
 * from the ledger after the next CONNACK.  So the library never resends on
 * its own and the ledger is the only queue.  Delays: reconnect_min_ms
 * doubling to reconnect_max_ms, with up to 25% random jitter so that many
 * gates do not come back in step after a broker restart.
 *
 * Left for the ledger/MQTT issue: TLS, credentials, MQTT 5, and resolving
 * host names off the loop thread (mosquitto_connect_async resolves here).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <mosquitto.h>

#include "json.h"
#include "log.h"
#include "mqtt.h"

enum state { IDLE, CONNECTING, CONNECTED };

struct mqtt {
	struct ev_loop *loop;
	struct mqtt_handlers h;
	void *arg;
	char *host;
	int port;
	int keepalive;
	char *client_id;
	long delay_min, delay_max, delay;
	char prefix[128];
	char will[256];

	struct mosquitto *mosq;
	enum state state;
	int fd;			/* registered in the loop, or -1 */
	uint32_t fd_events;
	int lost;		/* on_disconnect ran inside a library call */
	uint64_t retry_timer, misc_timer;
	int64_t connect_started;
};

static void schedule(struct mqtt *m);

static void on_connect(struct mosquitto *mosq, void *arg, int rc)
{
	struct mqtt *m = arg;

	(void)mosq;
	if (rc != 0) {
		log_warn("mqtt: %s:%d refused the connection: %s", m->host,
			 m->port, mosquitto_connack_string(rc));
		m->lost = 1;
		return;
	}
	m->state = CONNECTED;
	m->delay = m->delay_min;
	log_notice("mqtt: connected to %s:%d as %s", m->host, m->port,
		   m->client_id);
	if (m->h.connected)
		m->h.connected(m->arg);
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
	struct mqtt *m = arg;

	(void)mosq;
	(void)rc;
	m->lost = 1;
}

static void on_publish(struct mosquitto *mosq, void *arg, int mid)
{
	struct mqtt *m = arg;

	(void)mosq;
	if (m->h.acked)
		m->h.acked(m->arg, mid);
}

static void drop(struct mqtt *m, const char *why)
{
	int was = m->state;

	if (m->fd >= 0)
		ev_del_fd(m->loop, m->fd);
	m->fd = -1;
	if (m->mosq)
		mosquitto_destroy(m->mosq);
	m->mosq = NULL;
	m->state = IDLE;
	m->lost = 0;
	if (was == CONNECTED) {
		log_warn("mqtt: lost the connection to %s:%d: %s", m->host,
			 m->port, why);
		if (m->h.disconnected)
			m->h.disconnected(m->arg);
	} else {
		log_info("mqtt: cannot connect to %s:%d: %s; retrying in %ld ms",
			 m->host, m->port, why, m->delay);
	}
	schedule(m);
}

static const char *why(int rc)
{
	return rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
}

static void update_events(struct mqtt *m)
{
	uint32_t ev;

	if (m->mosq == NULL || m->fd < 0)
		return;
	ev = EPOLLIN | (mosquitto_want_write(m->mosq) ? EPOLLOUT : 0);
	if (ev != m->fd_events && ev_mod_fd(m->loop, m->fd, ev) == 0)
		m->fd_events = ev;
}

/* After every library call: a lost connection is dropped here, outside
 * the library's callbacks. */
static void after(struct mqtt *m, int rc)
{
	if (rc != MOSQ_ERR_SUCCESS || m->lost) {
		drop(m, rc != MOSQ_ERR_SUCCESS ? why(rc) : "connection closed");
		return;
	}
	update_events(m);
}

static void on_fd(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct mqtt *m = arg;
	int rc = MOSQ_ERR_SUCCESS;

	(void)loop;
	(void)fd;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rc = mosquitto_loop_read(m->mosq, 1);
	if (rc == MOSQ_ERR_SUCCESS && !m->lost && m->mosq &&
	    (events & EPOLLOUT))
		rc = mosquitto_loop_write(m->mosq, 1);
	after(m, rc);
}

static long on_misc(struct ev_loop *loop, void *arg)
{
	struct mqtt *m = arg;

	(void)loop;
	if (m->mosq == NULL)
		return 1000;
	if (m->state == CONNECTING &&
	    ev_mono_ms() - m->connect_started > 10000) {
		drop(m, "no CONNACK within 10 s");
		return 1000;
	}
	after(m, mosquitto_loop_misc(m->mosq));
	return 1000;
}

static long on_retry(struct ev_loop *loop, void *arg)
{
	struct mqtt *m = arg;
	int rc;

	(void)loop;
	m->retry_timer = 0;
	m->mosq = mosquitto_new(m->client_id, true, m);
	if (m->mosq == NULL) {
		drop(m, strerror(errno));
		return EV_STOP_TIMER;
	}
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     MQTT_PROTOCOL_V311);
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_callback_set(m->mosq, on_publish);
	{
		char topic[160];

		snprintf(topic, sizeof(topic), "%sstatus", m->prefix);
		mosquitto_will_set(m->mosq, topic, (int)strlen(m->will),
				   m->will, 1, true);
	}
	m->state = CONNECTING;
	m->connect_started = ev_mono_ms();
	rc = mosquitto_connect_async(m->mosq, m->host, m->port, m->keepalive);
	if (rc != MOSQ_ERR_SUCCESS) {
		drop(m, why(rc));
		return EV_STOP_TIMER;
	}
	m->fd = mosquitto_socket(m->mosq);
	m->fd_events = EPOLLIN | EPOLLOUT;
	if (m->fd < 0 || ev_add_fd(m->loop, m->fd, m->fd_events, on_fd, m) < 0) {
		m->fd = -1;
		drop(m, "no socket");
		return EV_STOP_TIMER;
	}
	return EV_STOP_TIMER;
}

static void schedule(struct mqtt *m)
{
	long d = m->delay;

	d += (long)(random() % (d / 4 + 1));
	m->retry_timer = ev_add_timer(m->loop, d, on_retry, m);
	m->delay = m->delay * 2 > m->delay_max ? m->delay_max : m->delay * 2;
}

int mqtt_new(struct ev_loop *loop, const struct conf *c,
	     const struct mqtt_handlers *h, void *arg, struct mqtt **out)
{
	struct mqtt *m = calloc(1, sizeof(*m));
	struct json j;

	if (m == NULL)
		return -ENOMEM;
	m->loop = loop;
	m->h = *h;
	m->arg = arg;
	m->host = strdup(c->mqtt.host);
	m->client_id = strdup(c->mqtt.client_id);
	m->port = c->mqtt.port;
	m->keepalive = c->mqtt.keepalive;
	m->delay_min = m->delay = c->mqtt.reconnect_min_ms;
	m->delay_max = c->mqtt.reconnect_max_ms;
	m->fd = -1;
	snprintf(m->prefix, sizeof(m->prefix), "wicket/%s/%s/", c->site,
		 c->gate);
	json_begin(&j);
	json_str(&j, "state", "offline");
	json_str(&j, "site", c->site);
	json_str(&j, "gate", c->gate);
	snprintf(m->will, sizeof(m->will), "%s", json_end(&j));
	if (m->host == NULL || m->client_id == NULL) {
		mqtt_free(m);
		return -ENOMEM;
	}
	m->retry_timer = ev_add_timer(loop, 0, on_retry, m);
	m->misc_timer = ev_add_timer(loop, 1000, on_misc, m);
	*out = m;
	return 0;
}

void mqtt_free(struct mqtt *m)
{
	if (m == NULL)
		return;
	ev_del_timer(m->loop, m->retry_timer);
	ev_del_timer(m->loop, m->misc_timer);
	if (m->mosq && m->state == CONNECTED) {
		char topic[160];

		/* a clean disconnect suppresses the will: say it ourselves */
		snprintf(topic, sizeof(topic), "%sstatus", m->prefix);
		mosquitto_publish(m->mosq, NULL, topic, (int)strlen(m->will),
				  m->will, 0, true);
		mosquitto_disconnect(m->mosq);
		for (int i = 0; i < 10 && mosquitto_want_write(m->mosq); i++)
			if (mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
				break;
	}
	if (m->fd >= 0)
		ev_del_fd(m->loop, m->fd);
	if (m->mosq)
		mosquitto_destroy(m->mosq);
	free(m->host);
	free(m->client_id);
	free(m);
}

int mqtt_is_connected(const struct mqtt *m)
{
	return m && m->state == CONNECTED;
}

const char *mqtt_prefix(const struct mqtt *m)
{
	return m->prefix;
}

int mqtt_publish(struct mqtt *m, const char *subtopic, const char *payload,
		 int qos, int retain, int *mid)
{
	char topic[256];
	int rc, dummy;

	if (!mqtt_is_connected(m))
		return -ENOTCONN;
	snprintf(topic, sizeof(topic), "%s%s", m->prefix, subtopic);
	rc = mosquitto_publish(m->mosq, mid ? mid : &dummy, topic,
			       (int)strlen(payload), payload, qos, retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warn("mqtt: publish to %s: %s", topic, why(rc));
		return rc == MOSQ_ERR_NO_CONN ? -ENOTCONN : -EIO;
	}
	update_events(m);
	return 0;
}
