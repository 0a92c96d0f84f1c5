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
 * Connecting blocks (getaddrinfo, the TCP connect), so it does not happen
 * on the loop thread.  The loop builds the handle (options, TLS files,
 * will, credentials) and hands it to a short-lived detached connector
 * thread, which calls mosquitto_connect_bind_v5() with the host name as
 * written (TLS verifies the broker's certificate against it) and hands the
 * handle back through an eventfd registered in the loop.  Until it is back
 * only that thread touches the handle; from then on only the loop thread.
 * At most one connector thread runs per link.  An attempt with no CONNACK
 * within 10 s is abandoned; if its thread is still stuck (a DNS server that
 * does not answer), the handle is destroyed when the thread returns, and
 * the next attempt waits for that.  The hand-over point (struct chan) is
 * reference-counted, so mqtt_free() never joins a thread: a thread that
 * returns to a closed channel destroys its own handle.
 *
 * MQTT 5 uses the _v5 callbacks, so a PUBACK with a reason code >= 0x80
 * (the broker did not accept the message) is reported as refused, not
 * acked.  protocol = auto tries MQTT 5 first; a broker that refuses the
 * protocol version gets MQTT 3.1.1 for the life of this link, that is until
 * the [mqtt] config changes.
 *
 * TLS errors: libmosquitto passes OpenSSL's error queue to its log
 * callback; the first message of an attempt, with the certificate
 * verification result, is what the log says.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "json.h"
#include "log.h"
#include "mqtt.h"

#define CONNECT_TIMEOUT_MS 10000

enum state { IDLE, CONNECTING, CONNECTED };

/* Where a connector thread leaves its finished attempt for the loop. */
#define MQTT_MAX_PACKET ((8u << 20) + (64u << 10))	/* an admin envelope and headers */

struct chan {
	pthread_mutex_t lock;
	int refs;		/* the link, and a running connector thread */
	int closed;		/* the link is gone */
	int efd;		/* eventfd, registered in the loop */
	struct attempt *done;
};

struct attempt {
	struct mqtt *m;		/* read on the loop thread only */
	struct chan *ch;
	struct mosquitto *mosq;
	char *host;
	int port, keepalive;
	int proto;		/* MQTT_PROTOCOL_V5 or MQTT_PROTOCOL_V311 */
	mosquitto_property *props;	/* CONNECT properties, or NULL */
	int on_loop;		/* back from the connector thread */
	int rc, err;		/* of the connect call, and its errno */
	char lib_err[160];	/* libmosquitto's first error message */
	char tls_err[160];	/* OpenSSL's first error */
	char tls_verify[120];	/* the certificate check's result, if it says more */
};

struct mqtt {
	struct ev_loop *loop;
	struct mqtt_handlers h;
	void *arg;
	struct conf_mqtt c;	/* our own copy of [mqtt] */
	int proto;		/* for the next attempt */
	long delay;
	char prefix[128];
	char will[256];

	struct chan *ch;
	struct attempt *att;	/* the current attempt, or NULL */
	int in_thread;		/* a connector thread holds an attempt */
	struct mosquitto *mosq;	/* att->mosq once it is back on the loop */
	enum state state;
	int fd;			/* registered in the loop, or -1 */
	uint32_t fd_events;
	int lost;		/* on_disconnect ran inside a library call */
	int fall_back;		/* the broker refused MQTT 5 */
	char refusal[96];	/* the broker's CONNACK reason */
	char kicked[96];	/* the reason of the broker's DISCONNECT */
	char why[512];		/* what ended the attempt or connection */
	char last_fail[512];	/* the previous failure, to log repeats lower */
	uint8_t refused_seen[16];	/* PUBACK reasons 0x80.. logged */
	uint64_t retry_timer, misc_timer;
	int64_t connect_started;
	char **subs;		/* full topics subscribed at every connect */
	size_t n_subs;
};

static void schedule(struct mqtt *m);

/* --- the hand-over point ----------------------------------------------- */

static void attempt_free(struct attempt *a)
{
	if (a == NULL)
		return;
	if (a->mosq)
		mosquitto_destroy(a->mosq);
	mosquitto_property_free_all(&a->props);
	free(a->host);
	free(a);
}

static void chan_unref(struct chan *ch)
{
	int last;

	pthread_mutex_lock(&ch->lock);
	last = --ch->refs == 0;
	pthread_mutex_unlock(&ch->lock);
	if (!last)
		return;
	close(ch->efd);
	pthread_mutex_destroy(&ch->lock);
	free(ch);
}

static void *connector(void *arg)
{
	struct attempt *a = arg;
	struct chan *ch = a->ch;
	uint64_t one = 1;
	int closed;

	a->rc = mosquitto_connect_bind_v5(a->mosq, a->host, a->port,
					  a->keepalive, NULL, a->props);
	a->err = errno;
	pthread_mutex_lock(&ch->lock);
	closed = ch->closed;
	if (!closed) {
		ch->done = a;
		if (write(ch->efd, &one, sizeof(one)) < 0)
			log_err("mqtt: cannot wake the loop: %s", strerror(errno));
	}
	pthread_mutex_unlock(&ch->lock);
	if (closed)
		attempt_free(a);
	chan_unref(ch);
	return NULL;
}

/* --- reasons ------------------------------------------------------------ */

static const char *rc_text(int rc, int err)
{
	if (rc == MOSQ_ERR_ERRNO)
		return strerror(err);
	if (rc == MOSQ_ERR_EAI)
		return gai_strerror(err);
	return mosquitto_strerror(rc);
}

/* CONNACK and PUBACK reason codes in the words operators search for. */
static const char *reason_text(int proto, int rc)
{
	static const struct {
		int rc;
		const char *text;
	} v3[] = {
		{ 1, "unacceptable protocol version" },
		{ 2, "client identifier rejected" },
		{ 3, "server unavailable" },
		{ 4, "bad user name or password" },
		{ 5, "not authorised" },
	}, v5[] = {
		{ MQTT_RC_UNSPECIFIED, "unspecified error" },
		{ MQTT_RC_MALFORMED_PACKET, "malformed packet" },
		{ MQTT_RC_PROTOCOL_ERROR, "protocol error" },
		{ MQTT_RC_IMPLEMENTATION_SPECIFIC, "implementation specific error" },
		{ MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION, "unsupported protocol version" },
		{ MQTT_RC_CLIENTID_NOT_VALID, "client identifier not valid" },
		{ MQTT_RC_BAD_USERNAME_OR_PASSWORD, "bad user name or password" },
		{ MQTT_RC_NOT_AUTHORIZED, "not authorised" },
		{ MQTT_RC_SERVER_UNAVAILABLE, "server unavailable" },
		{ MQTT_RC_SERVER_BUSY, "server busy" },
		{ MQTT_RC_BANNED, "banned" },
		{ MQTT_RC_SERVER_SHUTTING_DOWN, "server shutting down" },
		{ MQTT_RC_BAD_AUTHENTICATION_METHOD, "bad authentication method" },
		{ MQTT_RC_KEEP_ALIVE_TIMEOUT, "keep alive timeout" },
		{ MQTT_RC_SESSION_TAKEN_OVER, "session taken over (another client with this client_id?)" },
		{ MQTT_RC_ADMINISTRATIVE_ACTION, "administrative action" },
		{ MQTT_RC_TOPIC_NAME_INVALID, "topic name invalid" },
		{ MQTT_RC_PACKET_ID_IN_USE, "packet identifier in use" },
		{ MQTT_RC_PACKET_TOO_LARGE, "packet too large" },
		{ MQTT_RC_QUOTA_EXCEEDED, "quota exceeded" },
		{ MQTT_RC_PAYLOAD_FORMAT_INVALID, "payload format invalid" },
		{ MQTT_RC_RETAIN_NOT_SUPPORTED, "retain not supported" },
		{ MQTT_RC_QOS_NOT_SUPPORTED, "QoS not supported" },
		{ MQTT_RC_USE_ANOTHER_SERVER, "use another server" },
		{ MQTT_RC_SERVER_MOVED, "server moved" },
		{ MQTT_RC_CONNECTION_RATE_EXCEEDED, "connection rate exceeded" },
	};

	if (proto == MQTT_PROTOCOL_V5) {
		for (size_t i = 0; i < sizeof(v5) / sizeof(v5[0]); i++)
			if (v5[i].rc == rc)
				return v5[i].text;
		return mosquitto_reason_string(rc);
	}
	for (size_t i = 0; i < sizeof(v3) / sizeof(v3[0]); i++)
		if (v3[i].rc == rc)
			return v3[i].text;
	return mosquitto_connack_string(rc);
}

/* "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify
 * failed" -> "certificate verify failed", and the certificate check's own
 * result, e.g. "unable to get local issuer certificate".  libmosquitto's
 * host name check only says "unspecified"; it logs its own error, which
 * explain() uses instead.  Runs on whichever thread holds the attempt. */
static void tls_reason(struct attempt *a, struct mosquitto *mosq,
		       const char *msg)
{
	const char *r = strrchr(msg, ':');
	SSL *ssl = mosquitto_ssl_get(mosq);
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	r = r && r[1] ? r + 1 : msg;
	while (*r == ' ')
		r++;
	snprintf(a->tls_err, sizeof(a->tls_err), "%s", r);
	if (v != X509_V_OK && v != X509_V_ERR_UNSPECIFIED)
		snprintf(a->tls_verify, sizeof(a->tls_verify), "%s",
			 X509_verify_cert_error_string(v));
}

/* Fill m->why: what ended the attempt or the connection.  err: errno
 * after the library call that returned rc. */
static void explain(struct mqtt *m, int rc, int err)
{
	struct attempt *a = m->att;
	const char *what = rc != MOSQ_ERR_SUCCESS ? rc_text(rc, err) :
		"connection closed";

	if (m->state == CONNECTED)
		snprintf(m->why, sizeof(m->why), "lost the connection to %s:%d: %s",
			 m->c.host, m->c.port, m->kicked[0] ? m->kicked : what);
	else if (a && a->lib_err[0] && rc == MOSQ_ERR_TLS && m->fd < 0)
		/* in the connect call: loading ca_file, cert_file, key_file */
		snprintf(m->why, sizeof(m->why), "TLS setup for %s:%d failed: %s%s%s",
			 m->c.host, m->c.port, a->lib_err,
			 a->tls_err[0] ? ": " : "", a->tls_err);
	else if (a && a->tls_err[0] && (a->tls_verify[0] || a->lib_err[0]))
		snprintf(m->why, sizeof(m->why), "TLS handshake with %s:%d failed: %s (%s)",
			 m->c.host, m->c.port, a->tls_err,
			 a->tls_verify[0] ? a->tls_verify : a->lib_err);
	else if (a && a->tls_err[0])
		snprintf(m->why, sizeof(m->why), "TLS handshake with %s:%d failed: %s",
			 m->c.host, m->c.port, a->tls_err);
	else if (m->c.tls && rc == MOSQ_ERR_ERRNO && err == EPROTO &&
		 strncmp(m->last_fail, "TLS handshake with ", 19) == 0)
		/* no reason this time: the broker closed the session before
		 * its alert was read.  Most likely the same failure again. */
		snprintf(m->why, sizeof(m->why), "%s", m->last_fail);
	else if (m->c.tls && rc == MOSQ_ERR_ERRNO && err == EPROTO)
		snprintf(m->why, sizeof(m->why),
			 "TLS handshake with %s:%d failed: the broker closed the TLS session (does it want a client certificate?)",
			 m->c.host, m->c.port);
	else if (m->refusal[0])
		snprintf(m->why, sizeof(m->why), "%s:%d refused the connection: %s",
			 m->c.host, m->c.port, m->refusal);
	else
		snprintf(m->why, sizeof(m->why), "cannot connect to %s:%d: %s",
			 m->c.host, m->c.port, what);
}

/* --- library callbacks (loop thread, except on_log) --------------------- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
		       const mosquitto_property *props)
{
	struct attempt *a = obj;
	struct mqtt *m = a->m;
	SSL *ssl;

	(void)props;
	if (!a->on_loop)
		return;
	if (rc != 0) {
		if (m->c.protocol == CONF_MQTT_AUTO &&
		    a->proto == MQTT_PROTOCOL_V5 &&
		    (rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION || rc == 1))
			m->fall_back = 1;
		snprintf(m->refusal, sizeof(m->refusal),
			 a->proto == MQTT_PROTOCOL_V5 ? "%s (reason 0x%02x)" :
			 "%s (code %d)", reason_text(a->proto, rc), rc);
		m->lost = 1;
		return;
	}
	m->state = CONNECTED;
	m->delay = m->c.reconnect_min_ms;
	m->last_fail[0] = '\0';
	memset(m->refused_seen, 0, sizeof(m->refused_seen));
	ssl = m->c.tls ? mosquitto_ssl_get(mosq) : NULL;
	log_notice("mqtt: connected to %s:%d as %s (MQTT %s%s%s%s)", m->c.host,
		   m->c.port, m->c.client_id,
		   a->proto == MQTT_PROTOCOL_V5 ? "5" : "3.1.1",
		   ssl ? ", " : "", ssl ? SSL_get_version(ssl) : "",
		   m->c.clean_session ? "" : (flags & 1) ?
		   ", session resumed" : ", new session");
	for (size_t i = 0; i < m->n_subs; i++) {
		int r = mosquitto_subscribe_v5(mosq, NULL, m->subs[i], 1, 0, NULL);

		if (r != MOSQ_ERR_SUCCESS)
			log_warn("mqtt: cannot subscribe to %s: %s", m->subs[i],
				 mosquitto_strerror(r));
	}
	if (m->h.connected)
		m->h.connected(m->arg);
}

static void on_message(struct mosquitto *mosq, void *obj,
		       const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	struct attempt *a = obj;
	struct mqtt *m = a->m;
	char *resp = NULL;
	void *corr = NULL;
	uint16_t corr_len = 0;

	(void)mosq;
	if (!a->on_loop || m->h.message == NULL)
		return;
	if (props) {
		mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC,
					       &resp, false);
		mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA,
					       &corr, &corr_len, false);
	}
	m->h.message(m->arg, msg->topic, msg->payload,
		     msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0,
		     msg->retain, resp, corr, corr_len);
	free(resp);
	free(corr);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
			  const mosquitto_property *props)
{
	struct attempt *a = obj;

	(void)mosq;
	(void)props;
	if (!a->on_loop)
		return;
	/* rc is a MOSQ_ERR_ code, or the reason of an MQTT 5 DISCONNECT
	 * from the broker (0x80 and up for errors) */
	if (a->proto == MQTT_PROTOCOL_V5 && rc >= 0x80)
		snprintf(a->m->kicked, sizeof(a->m->kicked),
			 "the broker disconnected: %s (reason 0x%02x)",
			 reason_text(MQTT_PROTOCOL_V5, rc), rc);
	a->m->lost = 1;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
		       const mosquitto_property *props)
{
	struct attempt *a = obj;
	struct mqtt *m = a->m;

	(void)mosq;
	(void)props;
	if (!a->on_loop)
		return;
	if (reason >= 0x80 && reason <= 0xff) {
		int bit = reason - 0x80;

		if (!(m->refused_seen[bit / 8] & (1u << (bit % 8)))) {
			m->refused_seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
			log_warn("mqtt: %s:%d refused a message: %s (reason 0x%02x); it stays undelivered (logged once per reason and connection)",
				 m->c.host, m->c.port,
				 reason_text(MQTT_PROTOCOL_V5, reason), reason);
		}
		log_debug("mqtt: message %d refused, reason 0x%02x", mid, reason);
		if (m->h.refused)
			m->h.refused(m->arg, mid, reason);
		return;
	}
	if (m->h.acked)
		m->h.acked(m->arg, mid);
}

/* Also called on the connector thread: touches the attempt only. */
static void on_log(struct mosquitto *mosq, void *obj, int level,
		   const char *str)
{
	struct attempt *a = obj;

	if (!(level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)))
		return;
	log_debug("mqtt: libmosquitto: %s", str);
	if (!(level & MOSQ_LOG_ERR))
		return;
	if (strncmp(str, "OpenSSL Error", 13) == 0) {
		if (a->tls_err[0] == '\0')
			tls_reason(a, mosq, str);
	} else if (a->lib_err[0] == '\0') {
		size_t n;

		if (strncmp(str, "Error: ", 7) == 0)
			str += 7;
		snprintf(a->lib_err, sizeof(a->lib_err), "%s", str);
		n = strlen(a->lib_err);
		if (n > 0 && a->lib_err[n - 1] == '.')
			a->lib_err[n - 1] = '\0';
	}
}

/* An encrypted key_file would make OpenSSL ask on the terminal. */
static int no_key_password(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return 0;
}

/* --- the connection on the loop ---------------------------------------- */

static void drop(struct mqtt *m)
{
	int was = m->state;

	if (m->fd >= 0)
		ev_del_fd(m->loop, m->fd);
	m->fd = -1;
	if (!m->in_thread)
		attempt_free(m->att);
	m->att = NULL;	/* else its thread has it: freed when it returns */
	m->mosq = NULL;
	m->state = IDLE;
	m->lost = 0;
	m->refusal[0] = '\0';
	m->kicked[0] = '\0';
	if (was == CONNECTED) {
		log_warn("mqtt: %s", m->why);
		if (m->h.disconnected)
			m->h.disconnected(m->arg);
	} else if (m->fall_back) {
		m->fall_back = 0;
		m->proto = MQTT_PROTOCOL_V311;
		m->delay = m->c.reconnect_min_ms;
		log_notice("mqtt: %s; falling back to MQTT 3.1.1 for this broker",
			   m->why);
	} else {
		/* a new failure is a warning; the same one again is routine */
		int same = strcmp(m->why, m->last_fail) == 0;

		log_msg(same ? WK_LOG_INFO : WK_LOG_WARNING,
			"mqtt: %s; retrying in %ld ms", m->why, m->delay);
		snprintf(m->last_fail, sizeof(m->last_fail), "%s", m->why);
	}
	schedule(m);
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
	int err = errno;

	if (rc != MOSQ_ERR_SUCCESS || m->lost) {
		explain(m, rc, err);
		drop(m);
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

/* An attempt came back from its connector thread. */
static void on_chan(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct mqtt *m = arg;
	struct attempt *a;
	uint64_t n;

	(void)loop;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_err("mqtt: reading the connector's eventfd: %s",
			strerror(errno));
	pthread_mutex_lock(&m->ch->lock);
	a = m->ch->done;
	m->ch->done = NULL;
	pthread_mutex_unlock(&m->ch->lock);
	if (a == NULL)
		return;
	m->in_thread = 0;
	a->on_loop = 1;
	if (a != m->att) {	/* abandoned after 10 s */
		attempt_free(a);
		return;
	}
	m->mosq = a->mosq;
	if (a->rc != MOSQ_ERR_SUCCESS) {
		explain(m, a->rc, a->err);
		drop(m);
		return;
	}
	m->fd = mosquitto_socket(m->mosq);
	m->fd_events = EPOLLIN | EPOLLOUT;
	if (m->fd < 0 || ev_add_fd(m->loop, m->fd, m->fd_events, on_fd, m) < 0) {
		m->fd = -1;
		snprintf(m->why, sizeof(m->why), "cannot connect to %s:%d: no socket",
			 m->c.host, m->c.port);
		drop(m);
	}
}

static long on_misc(struct ev_loop *loop, void *arg)
{
	struct mqtt *m = arg;

	(void)loop;
	if (m->state == CONNECTING &&
	    ev_mono_ms() - m->connect_started > CONNECT_TIMEOUT_MS) {
		if (m->mosq == NULL)
			snprintf(m->why, sizeof(m->why),
				 "cannot connect to %s:%d: no connection within %d s (resolving the name or connecting took too long)",
				 m->c.host, m->c.port, CONNECT_TIMEOUT_MS / 1000);
		else
			snprintf(m->why, sizeof(m->why),
				 "cannot connect to %s:%d: no CONNACK within %d s",
				 m->c.host, m->c.port, CONNECT_TIMEOUT_MS / 1000);
		drop(m);
		return 1000;
	}
	if (m->mosq)
		after(m, mosquitto_loop_misc(m->mosq));
	return 1000;
}

/* Build the attempt's handle on the loop thread: nothing here blocks. */
static int attempt_new(struct mqtt *m, struct attempt **out)
{
	const struct conf_mqtt *c = &m->c;
	struct attempt *a = calloc(1, sizeof(*a));
	char topic[160];
	int rc;

	*out = NULL;
	if (a == NULL)
		return MOSQ_ERR_NOMEM;
	a->m = m;
	a->ch = m->ch;
	a->port = c->port;
	a->keepalive = c->keepalive;
	a->proto = m->proto;
	a->host = strdup(c->host);
	a->mosq = mosquitto_new(c->client_id, c->clean_session, a);
	if (a->host == NULL || a->mosq == NULL) {
		attempt_free(a);
		return MOSQ_ERR_NOMEM;
	}
	mosquitto_int_option(a->mosq, MOSQ_OPT_PROTOCOL_VERSION, a->proto);
	mosquitto_connect_v5_callback_set(a->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(a->mosq, on_disconnect);
	mosquitto_publish_v5_callback_set(a->mosq, on_publish);
	mosquitto_message_v5_callback_set(a->mosq, on_message);
	mosquitto_log_callback_set(a->mosq, on_log);
	snprintf(topic, sizeof(topic), "%sstatus", m->prefix);
	rc = mosquitto_will_set(a->mosq, topic, (int)strlen(m->will), m->will,
				1, true);
	if (rc == MOSQ_ERR_SUCCESS && c->username)
		rc = mosquitto_username_pw_set(a->mosq, c->username,
					       c->password);
	if (rc == MOSQ_ERR_SUCCESS && c->tls) {
		if (c->ca_file == NULL)
			mosquitto_int_option(a->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		/* checks that the files can be opened; loads them at connect */
		/* libmosquitto 2.0.11 refuses a NULL cafile even with
		 * TLS_USE_OS_CERTS: name the system's CA directory then */
		rc = mosquitto_tls_set(a->mosq, c->ca_file,
				       c->ca_file ? NULL : "/etc/ssl/certs",
				       c->cert_file, c->key_file, no_key_password);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_opts_set(a->mosq, 1, c->tls_version,
						    NULL);
		if (rc == MOSQ_ERR_INVAL)
			snprintf(a->lib_err, sizeof(a->lib_err),
				 "cannot open ca_file, cert_file or key_file");
	}
	/* the largest admin message and then some: the broker does not send
	 * more (a 3.1.1 broker needs message_size_limit for that) */
	if (rc == MOSQ_ERR_SUCCESS && a->proto == MQTT_PROTOCOL_V5)
		rc = mosquitto_property_add_int32(&a->props,
						  MQTT_PROP_MAXIMUM_PACKET_SIZE,
						  MQTT_MAX_PACKET);
	if (rc == MOSQ_ERR_SUCCESS && a->proto == MQTT_PROTOCOL_V5 &&
	    !c->clean_session)
		rc = mosquitto_property_add_int32(&a->props,
						  MQTT_PROP_SESSION_EXPIRY_INTERVAL,
						  (uint32_t)c->session_expiry);
	*out = a;
	return rc;
}

static long on_retry(struct ev_loop *loop, void *arg)
{
	struct mqtt *m = arg;
	struct attempt *a;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	(void)loop;
	m->retry_timer = 0;
	if (m->in_thread) {
		log_info("mqtt: the previous attempt to reach %s:%d has not returned yet (a slow DNS server?); waiting",
			 m->c.host, m->c.port);
		schedule(m);
		return EV_STOP_TIMER;
	}
	m->state = CONNECTING;
	m->connect_started = ev_mono_ms();
	rc = attempt_new(m, &a);
	m->att = a;
	if (rc != MOSQ_ERR_SUCCESS) {
		if (a && a->lib_err[0])
			snprintf(m->why, sizeof(m->why), "TLS setup for %s:%d failed: %s",
				 m->c.host, m->c.port, a->lib_err);
		else
			snprintf(m->why, sizeof(m->why), "cannot connect to %s:%d: %s",
				 m->c.host, m->c.port, mosquitto_strerror(rc));
		drop(m);
		return EV_STOP_TIMER;
	}
	pthread_mutex_lock(&m->ch->lock);
	m->ch->refs++;
	pthread_mutex_unlock(&m->ch->lock);
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &attr, connector, a);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		pthread_mutex_lock(&m->ch->lock);
		m->ch->refs--;
		pthread_mutex_unlock(&m->ch->lock);
		snprintf(m->why, sizeof(m->why),
			 "cannot connect to %s:%d: no connector thread: %s",
			 m->c.host, m->c.port, strerror(rc));
		drop(m);
		return EV_STOP_TIMER;
	}
	m->in_thread = 1;
	return EV_STOP_TIMER;
}

static void schedule(struct mqtt *m)
{
	long d = m->delay;

	d += (long)(random() % (d / 4 + 1));
	m->retry_timer = ev_add_timer(m->loop, d, on_retry, m);
	m->delay = m->delay * 2 > m->c.reconnect_max_ms ?
		m->c.reconnect_max_ms : m->delay * 2;
}

/* --- configuration copies ---------------------------------------------- */

static void free_copy(struct conf_mqtt *c)
{
	free(c->host);
	free(c->client_id);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->username);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
}

static int dup_str(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && *dst == NULL ? -ENOMEM : 0;
}

/* The link outlives the conf it was made from (a reload that leaves [mqtt]
 * alone frees the old conf), so it keeps its own copy. */
static int copy_conf(struct conf_mqtt *dst, const struct conf_mqtt *src)
{
	int rc = 0;

	*dst = *src;
	rc |= dup_str(&dst->host, src->host);
	rc |= dup_str(&dst->client_id, src->client_id);
	rc |= dup_str(&dst->ca_file, src->ca_file);
	rc |= dup_str(&dst->cert_file, src->cert_file);
	rc |= dup_str(&dst->key_file, src->key_file);
	rc |= dup_str(&dst->username, src->username);
	rc |= dup_str(&dst->password, src->password);
	return rc ? -ENOMEM : 0;
}

static int same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int mqtt_conf_changed(const struct conf_mqtt *a, const struct conf_mqtt *b)
{
	return a->enabled != b->enabled || !same_str(a->host, b->host) ||
	       a->port != b->port || !same_str(a->client_id, b->client_id) ||
	       a->keepalive != b->keepalive ||
	       a->reconnect_min_ms != b->reconnect_min_ms ||
	       a->reconnect_max_ms != b->reconnect_max_ms ||
	       a->tls != b->tls || !same_str(a->ca_file, b->ca_file) ||
	       !same_str(a->cert_file, b->cert_file) ||
	       !same_str(a->key_file, b->key_file) ||
	       strcmp(a->tls_version, b->tls_version) != 0 ||
	       !same_str(a->username, b->username) ||
	       !same_str(a->password, b->password) ||
	       a->protocol != b->protocol ||
	       a->clean_session != b->clean_session ||
	       a->session_expiry != b->session_expiry;
}

/* --- the API ------------------------------------------------------------ */

int mqtt_new(struct ev_loop *loop, const struct conf *c,
	     const struct mqtt_handlers *h, void *arg, struct mqtt **out)
{
	struct mqtt *m = calloc(1, sizeof(*m));
	struct chan *ch;
	struct json j;
	int rc;

	if (m == NULL)
		return -ENOMEM;
	m->loop = loop;
	m->h = *h;
	m->arg = arg;
	m->fd = -1;
	rc = copy_conf(&m->c, &c->mqtt);
	m->proto = c->mqtt.protocol == CONF_MQTT_V311 ? MQTT_PROTOCOL_V311 :
		   MQTT_PROTOCOL_V5;
	m->delay = c->mqtt.reconnect_min_ms;
	snprintf(m->prefix, sizeof(m->prefix), "wicket/%s/%s/", c->site,
		 c->gate);
	json_begin(&j);
	json_str(&j, "state", "offline");
	json_str(&j, "site", c->site);
	json_str(&j, "gate", c->gate);
	snprintf(m->will, sizeof(m->will), "%s", json_end(&j));
	ch = calloc(1, sizeof(*ch));
	if (rc < 0 || ch == NULL) {
		free(ch);
		mqtt_free(m);
		return -ENOMEM;
	}
	ch->refs = 1;
	ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rc = ch->efd < 0 ? -errno : 0;
	if (rc == 0)
		rc = -pthread_mutex_init(&ch->lock, NULL);
	if (rc < 0) {
		if (ch->efd >= 0)
			close(ch->efd);
		free(ch);
		mqtt_free(m);
		return rc;
	}
	m->ch = ch;
	rc = ev_add_fd(loop, ch->efd, EPOLLIN, on_chan, m);
	if (rc < 0) {
		mqtt_free(m);
		return rc;
	}
	m->retry_timer = ev_add_timer(loop, 0, on_retry, m);
	m->misc_timer = ev_add_timer(loop, 1000, on_misc, m);
	*out = m;
	return 0;
}

void mqtt_free(struct mqtt *m)
{
	struct attempt *done = NULL;

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
	if (!m->in_thread)
		attempt_free(m->att);
	if (m->ch) {
		ev_del_fd(m->loop, m->ch->efd);
		pthread_mutex_lock(&m->ch->lock);
		m->ch->closed = 1;	/* a running thread frees its own */
		done = m->ch->done;
		m->ch->done = NULL;
		pthread_mutex_unlock(&m->ch->lock);
		attempt_free(done);
		chan_unref(m->ch);
	}
	free_copy(&m->c);
	for (size_t i = 0; i < m->n_subs; i++)
		free(m->subs[i]);
	free(m->subs);
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

const char *mqtt_protocol(const struct mqtt *m)
{
	if (!mqtt_is_connected(m))
		return NULL;
	return m->att->proto == MQTT_PROTOCOL_V5 ? "5" : "3.1.1";
}

int mqtt_subscribe(struct mqtt *m, const char *topic)
{
	char **n = realloc(m->subs, (m->n_subs + 1) * sizeof(*n));

	if (n == NULL)
		return -ENOMEM;
	m->subs = n;
	m->subs[m->n_subs] = strdup(topic);
	if (m->subs[m->n_subs] == NULL)
		return -ENOMEM;
	m->n_subs++;
	if (mqtt_is_connected(m)) {
		int r = mosquitto_subscribe_v5(m->mosq, NULL, topic, 1, 0, NULL);

		if (r != MOSQ_ERR_SUCCESS)
			log_warn("mqtt: cannot subscribe to %s: %s", topic,
				 mosquitto_strerror(r));
		update_events(m);
	}
	return 0;
}

int mqtt_reply(struct mqtt *m, const char *topic, const char *payload,
	       const void *corr, size_t corr_len)
{
	mosquitto_property *props = NULL;
	int rc, mid;

	if (!mqtt_is_connected(m))
		return -ENOTCONN;
	if (corr_len > 0 && m->att->proto == MQTT_PROTOCOL_V5 &&
	    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA,
					  corr, (uint16_t)corr_len) != MOSQ_ERR_SUCCESS)
		return -ENOMEM;
	rc = mosquitto_publish_v5(m->mosq, &mid, topic, (int)strlen(payload),
				  payload, 1, false, props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warn("mqtt: reply to %s: %s", topic, rc_text(rc, errno));
		return rc == MOSQ_ERR_NO_CONN ? -ENOTCONN : -EIO;
	}
	update_events(m);
	return 0;
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
		log_warn("mqtt: publish to %s: %s", topic,
			 rc_text(rc, errno));
		return rc == MOSQ_ERR_NO_CONN ? -ENOTCONN : -EIO;
	}
	update_events(m);
	return 0;
}
