/*
 * core: the loop's owner.  Everything here runs on the loop thread; device
 * plugins reach it only through plug_drain().
 *
 * One attempt: the lane pairs inputs -> rules_decide() -> the ledger
 * commits the passage -> the gate is told to open (only after the commit)
 * -> the outbox publishes it.  The broker is never waited for.
 *
 * Reload (SIGHUP) checks the whole new config, plugins included, before
 * touching anything; an invalid one is logged line by line and the old one
 * stays in force.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "core.h"
#include "json.h"
#include "lane.h"
#include "ledger.h"
#include "log.h"
#include "loop.h"
#include "mqtt.h"
#include "outbox.h"
#include "plugin.h"
#include "rules.h"

enum dev_state { DEV_UNKNOWN, DEV_OK, DEV_FAULT };

static const char *const dev_state_names[] = { "unknown", "ok", "fault" };

struct core {
	char *config_path;
	struct ev_loop *loop;
	struct conf *conf;
	struct plugins *pl;
	struct lane *lanes;
	enum dev_state *dev;
	uint64_t lane_timer;
	struct ledger *lg;
	struct mqtt *mq;
	struct outbox ob;
	int sigfd;
	int64_t started_ms;
	uint64_t cmd_id;
	int exit_code;
};

static void log_conf_error(void *ctx, const char *file, int line,
			   const char *msg)
{
	(void)ctx;
	log_err("%s:%d: %s", file, line, msg);
}

/* --- status and device events -------------------------------------- */

static void publish_status(struct core *c)
{
	struct json j, d;
	const char *payload;

	if (!mqtt_is_connected(c->mq))
		return;
	json_begin(&d);
	for (size_t i = 0; i < c->conf->n_devices; i++)
		json_str(&d, c->conf->devices[i].name,
			 dev_state_names[c->dev[i]]);
	json_begin(&j);
	json_str(&j, "state", "online");
	json_str(&j, "version", WICKET_VERSION);
	json_str(&j, "site", c->conf->site);
	json_str(&j, "gate", c->conf->gate);
	json_time(&j, "started", c->started_ms);
	json_int(&j, "outbox", c->lg ? ledger_count_undelivered(c->lg) : -1);
	json_raw(&j, "devices", json_end(&d) ? d.buf : "{}");
	payload = json_end(&j);
	if (payload)
		mqtt_publish(c->mq, "status", payload, 1, 1, NULL);
}

static void device_event(struct core *c, int dev, const struct wk_event *ev,
			 enum dev_state st)
{
	struct json j;
	const char *payload;

	if (c->dev[dev] == st)
		return;
	c->dev[dev] = st;
	json_begin(&j);
	json_str(&j, "device", c->conf->devices[dev].name);
	json_str(&j, "state", dev_state_names[st]);
	json_str(&j, "message", ev->message);
	json_time(&j, "time", ev->time_ms);
	payload = json_end(&j);
	if (payload)
		mqtt_publish(c->mq, "event/device", payload, 1, 0, NULL);
	publish_status(c);
}

/* --- attempts -------------------------------------------------------- */

static void publish_alarm(struct core *c, const struct ledger_passage *p)
{
	struct json j;
	char id[96];
	const char *payload;

	snprintf(id, sizeof(id), "%s:%lld", c->conf->gate, (long long)p->seq);
	json_begin(&j);
	json_str(&j, "passage", id);
	json_str(&j, "lane", p->lane);
	json_str(&j, "kind", p->reason);
	json_str(&j, "severity", "high");
	json_time(&j, "time", p->time_ms);
	if (p->has_temperature)
		json_num(&j, "temperature", p->temperature_c, 1);
	payload = json_end(&j);
	if (payload)
		mqtt_publish(c->mq, "event/alarm", payload, 1, 0, NULL);
}

static void on_attempt(struct lane *l, const struct attempt *a, void *arg)
{
	struct core *c = arg;
	const struct conf_lane *cl = &c->conf->lanes[l->index];
	struct decide_in in = {
		.needs_credential = cl->reader >= 0,
		.needs_temperature = cl->thermal >= 0,
		.has_credential = a->has_credential,
		.credential_known = a->has_credential &&
			conf_known_label(c->conf, a->credential) != NULL,
		.has_temperature = a->has_temperature,
		.temperature_c = a->temperature_c,
		.fever_threshold = cl->fever_threshold,
	};
	struct decide_out out;
	struct ledger_passage p = { 0 };
	char temp[16] = "-";

	rules_decide(&in, &out);
	p.time_ms = a->time_ms;
	snprintf(p.lane, sizeof(p.lane), "%s", cl->name);
	snprintf(p.direction, sizeof(p.direction), "%s", cl->direction);
	p.has_credential = a->has_credential;
	snprintf(p.credential, sizeof(p.credential), "%s", a->credential);
	p.has_temperature = a->has_temperature;
	p.temperature_c = a->temperature_c;
	snprintf(p.decision, sizeof(p.decision), "%s",
		 rules_decision_name(out.decision));
	snprintf(p.reason, sizeof(p.reason), "%s", out.reason);
	p.alarm = out.alarm;

	/* Commit first, then open.  If the commit fails the gate still acts on
	 * the decision (people must not be stuck) and the failure is logged;
	 * the bounded memory queue and its alarm come with the ledger issue. */
	if (c->lg == NULL || ledger_add_passage(c->lg, &p) < 0)
		log_err("ledger: passage NOT recorded (lane %s, %s): %s",
			cl->name, p.decision,
			c->lg ? ledger_errmsg(c->lg) : "no ledger");
	if (a->has_temperature)
		snprintf(temp, sizeof(temp), "%.1f", a->temperature_c);
	log_msg(out.alarm ? WK_LOG_WARNING : WK_LOG_NOTICE,
		"passage %s:%lld lane=%s %s credential=%s temperature=%s -> %s (%s)%s",
		c->conf->gate, (long long)p.seq, cl->name, cl->direction,
		a->has_credential ? a->credential : "-", temp, p.decision,
		p.reason, out.alarm ? " ALARM" : "");
	if (out.decision == DECISION_ALLOW && cl->gate >= 0) {
		struct wk_command cmd = {
			.type = WK_CMD_OPEN,
			.pulse_ms = cl->pulse_ms,
			.id = ++c->cmd_id,
		};
		int rc = plug_command(c->pl, cl->gate, &cmd);

		if (rc < 0)
			log_err("lane %s: cannot open gate %s: %s", cl->name,
				c->conf->devices[cl->gate].name, strerror(-rc));
	}
	outbox_kick(&c->ob);
	if (out.alarm)
		publish_alarm(c, &p);
}

static long on_lane_timer(struct ev_loop *loop, void *arg);

static void arm_lanes(struct core *c)
{
	int64_t next = -1;

	ev_del_timer(c->loop, c->lane_timer);
	c->lane_timer = 0;
	for (size_t i = 0; i < c->conf->n_lanes; i++) {
		int64_t d = lane_deadline(&c->lanes[i]);

		if (d >= 0 && (next < 0 || d < next))
			next = d;
	}
	if (next >= 0)
		c->lane_timer = ev_add_timer(c->loop, (long)(next - ev_mono_ms()),
					     on_lane_timer, c);
}

static long on_lane_timer(struct ev_loop *loop, void *arg)
{
	struct core *c = arg;
	int64_t now = ev_mono_ms();

	(void)loop;
	c->lane_timer = 0;
	for (size_t i = 0; i < c->conf->n_lanes; i++)
		lane_expire(&c->lanes[i], now);
	arm_lanes(c);
	return EV_STOP_TIMER;
}

static void on_device_event(void *arg, int dev, const struct wk_event *ev)
{
	struct core *c = arg;
	int64_t mono = ev_mono_ms();

	switch (ev->type) {
	case WK_EV_TEMPERATURE: {
		/* 0.01 C is finer than any body-temperature sensor; rounding
		 * here keeps 384 * 0.1 from being stored as 38.400000000000006 */
		double t = round(ev->temperature_c * 100.0) / 100.0;

		log_debug("device %s: temperature %.2f", c->conf->devices[dev].name,
			  t);
		for (size_t i = 0; i < c->conf->n_lanes; i++)
			if (c->conf->lanes[i].thermal == dev)
				lane_temperature(&c->lanes[i], mono, ev->time_ms, t);
		break;
	}
	case WK_EV_CREDENTIAL:
		log_debug("device %s: credential %s", c->conf->devices[dev].name,
			  ev->credential);
		for (size_t i = 0; i < c->conf->n_lanes; i++)
			if (c->conf->lanes[i].reader == dev)
				lane_credential(&c->lanes[i], mono, ev->time_ms,
						ev->credential);
		break;
	case WK_EV_DEVICE_FAULT:
		device_event(c, dev, ev, DEV_FAULT);
		break;
	case WK_EV_DEVICE_OK:
		device_event(c, dev, ev, DEV_OK);
		break;
	case WK_EV_GATE_STATE:
		log_info("device %s: gate %s", c->conf->devices[dev].name,
			 ev->gate_open ? "open" : "closed");
		break;
	default:
		log_warn("device %s: unknown event type %u",
			 c->conf->devices[dev].name, ev->type);
	}
	arm_lanes(c);
}

static void on_plugin_fd(struct ev_loop *loop, int fd, uint32_t events,
			 void *arg)
{
	struct core *c = arg;

	(void)loop;
	(void)fd;
	(void)events;
	plug_drain(c->pl, on_device_event, c);
}

/* --- MQTT ------------------------------------------------------------- */

static void on_connected(void *arg)
{
	struct core *c = arg;

	publish_status(c);
	outbox_connected(&c->ob);
}

static void on_disconnected(void *arg)
{
	outbox_disconnected(&((struct core *)arg)->ob);
}

static void on_acked(void *arg, int mid)
{
	outbox_acked(&((struct core *)arg)->ob, mid);
}

static const struct mqtt_handlers mqtt_handlers = {
	.connected = on_connected,
	.disconnected = on_disconnected,
	.acked = on_acked,
};

/* --- configuration in force -------------------------------------------- */

/* Build lanes and device states for c->conf and start its plugins. */
static int apply(struct core *c)
{
	int rc;

	free(c->lanes);
	free(c->dev);
	c->lanes = calloc(c->conf->n_lanes, sizeof(*c->lanes));
	c->dev = calloc(c->conf->n_devices ? c->conf->n_devices : 1,
			sizeof(*c->dev));
	if (c->lanes == NULL || c->dev == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->conf->n_lanes; i++) {
		const struct conf_lane *l = &c->conf->lanes[i];

		lane_init(&c->lanes[i], (int)i, l->reader >= 0, l->thermal >= 0,
			  l->window_ms, on_attempt, c);
	}
	log_set_level(c->conf->log_level);
	rc = ev_add_fd(c->loop, plug_event_fd(c->pl), EPOLLIN, on_plugin_fd, c);
	if (rc == 0)
		rc = plug_start(c->pl);
	return rc;
}

static int open_outputs(struct core *c)
{
	char err[512];
	int rc;

	rc = ledger_open(c->conf->state_dir, &c->lg, err, sizeof(err));
	if (rc < 0) {
		log_err("ledger: %s", err);
		return rc;
	}
	if (c->conf->mqtt.enabled) {
		rc = mqtt_new(c->loop, c->conf, &mqtt_handlers, c, &c->mq);
		if (rc < 0)
			return rc;
	}
	outbox_init(&c->ob, c->lg, c->mq, c->conf->site, c->conf->gate);
	return 0;
}

static int same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int mqtt_changed(const struct conf *a, const struct conf *b)
{
	return a->mqtt.enabled != b->mqtt.enabled ||
	       !same_str(a->mqtt.host, b->mqtt.host) ||
	       a->mqtt.port != b->mqtt.port ||
	       !same_str(a->mqtt.client_id, b->mqtt.client_id) ||
	       a->mqtt.keepalive != b->mqtt.keepalive ||
	       a->mqtt.reconnect_min_ms != b->mqtt.reconnect_min_ms ||
	       a->mqtt.reconnect_max_ms != b->mqtt.reconnect_max_ms ||
	       strcmp(a->site, b->site) != 0 || strcmp(a->gate, b->gate) != 0;
}

static void reload(struct core *c)
{
	struct conf *nc;
	struct plugins *npl;
	int rc, reopen_ledger, reopen_mqtt;

	sd_notify(0, "RELOADING=1");
	log_notice("reloading %s", c->config_path);
	rc = conf_load(c->config_path, &nc, log_conf_error, NULL);
	if (rc == 0) {
		rc = plug_open(nc, &npl, log_conf_error, NULL);
		if (rc != 0)
			conf_free(nc);
	}
	if (rc != 0) {
		log_err("reload failed (%s); keeping the configuration in force",
			rc > 0 ? "see the errors above" : strerror(-rc));
		sd_notify(0, "READY=1");
		return;
	}
	/* close what the old config had started, then swap */
	for (size_t i = 0; i < c->conf->n_lanes; i++)
		lane_flush(&c->lanes[i]);
	ev_del_fd(c->loop, plug_event_fd(c->pl));
	plug_stop(c->pl);
	plug_drain(c->pl, on_device_event, c);
	for (size_t i = 0; i < c->conf->n_lanes; i++)
		lane_flush(&c->lanes[i]);
	ev_del_timer(c->loop, c->lane_timer);
	c->lane_timer = 0;
	plug_close(c->pl);
	c->pl = npl;
	reopen_ledger = strcmp(c->conf->state_dir, nc->state_dir) != 0;
	reopen_mqtt = mqtt_changed(c->conf, nc);
	if (reopen_mqtt) {
		mqtt_free(c->mq);
		c->mq = NULL;
	}
	if (reopen_ledger) {
		ledger_close(c->lg);
		c->lg = NULL;
	}
	conf_free(c->conf);
	c->conf = nc;
	if (reopen_ledger) {
		char err[512];

		if (ledger_open(nc->state_dir, &c->lg, err, sizeof(err)) < 0)
			log_err("ledger: %s (passages are decided but NOT recorded)",
				err);
	}
	if (reopen_mqtt && nc->mqtt.enabled &&
	    mqtt_new(c->loop, nc, &mqtt_handlers, c, &c->mq) < 0)
		log_err("mqtt: cannot start");
	if (reopen_ledger || reopen_mqtt)
		outbox_init(&c->ob, c->lg, c->mq, nc->site, nc->gate);
	else {
		/* the same names (mqtt_changed compares them), new storage */
		c->ob.site = nc->site;
		c->ob.gate = nc->gate;
	}
	if (apply(c) < 0)
		log_err("reload: starting the devices failed");
	log_notice("configuration reloaded");
	publish_status(c);
	if (reopen_ledger && !reopen_mqtt)
		outbox_connected(&c->ob);
	sd_notify(0, "READY=1");
}

static void on_signal(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct core *c = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(c);
		} else {
			log_notice("signal %u: stopping", si.ssi_signo);
			ev_stop(loop);
		}
	}
}

int core_new(const char *config_path, struct core **out)
{
	struct core *c = calloc(1, sizeof(*c));
	sigset_t set;
	int rc;

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->sigfd = -1;
	c->started_ms = ev_wall_ms();
	c->config_path = strdup(config_path);
	rc = ev_new(&c->loop);
	if (rc < 0 || c->config_path == NULL)
		goto fail;
	rc = conf_load(config_path, &c->conf, log_conf_error, NULL);
	if (rc != 0)
		goto fail_conf;
	log_set_level(c->conf->log_level);
	rc = plug_open(c->conf, &c->pl, log_conf_error, NULL);
	if (rc != 0)
		goto fail_conf;
	/* signals are blocked by main() before any thread exists */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	c->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c->sigfd < 0 ||
	    ev_add_fd(c->loop, c->sigfd, EPOLLIN, on_signal, c) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = open_outputs(c);
	if (rc < 0)
		goto fail;
	rc = apply(c);
	if (rc < 0)
		goto fail;
	log_notice("wicketd %s started: site %s, gate %s, %zu lane(s), %zu device(s)",
		   WICKET_VERSION, c->conf->site, c->conf->gate,
		   c->conf->n_lanes, c->conf->n_devices);
	*out = c;
	return 0;
fail_conf:
	if (rc > 0) {
		log_err("%s: %d error(s) in the configuration", config_path, rc);
		rc = -EINVAL;
	}
fail:
	core_free(c);
	return rc < 0 ? rc : -EINVAL;
}

int core_run(struct core *c)
{
	int rc;

	sd_notify(0, "READY=1");
	rc = ev_run(c->loop);
	sd_notify(0, "STOPPING=1");
	/* attempts waiting for a partner are decided and recorded */
	if (c->conf)
		for (size_t i = 0; i < c->conf->n_lanes; i++)
			lane_flush(&c->lanes[i]);
	return rc;
}

void core_free(struct core *c)
{
	if (c == NULL)
		return;
	plug_close(c->pl);
	mqtt_free(c->mq);
	ledger_close(c->lg);
	if (c->loop && c->lane_timer)
		ev_del_timer(c->loop, c->lane_timer);
	if (c->sigfd >= 0)
		close(c->sigfd);
	ev_free(c->loop);
	conf_free(c->conf);
	free(c->lanes);
	free(c->dev);
	free(c->config_path);
	free(c);
}
