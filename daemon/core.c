/*
 * core: the loop's owner.  Everything here runs on the loop thread; device
 * plugins reach it only through plug_drain().
 *
 * One attempt: the lane pairs inputs -> the facts are gathered (registry,
 * passage history, sensor state, local time, mode) -> rules_eval() -> the
 * ledger commits the passage -> the gate is told to open (only after the
 * commit) -> the outbox publishes it.  The broker is never waited for.
 * A "retest" verdict sends the attempt back to its lane for a second
 * reading.
 *
 * The registry is loaded at start; when an import commits to registry.db
 * (seen by polling its data_version every second) a new copy is loaded on
 * a thread and swapped in between two attempts.
 *
 * Reload (SIGHUP) checks the whole new config, plugins included, before
 * touching anything; an invalid one is logged line by line and the old one
 * stays in force.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "core.h"
#include "door.h"
#include "gatepass.h"
#include "history.h"
#include "json.h"
#include "lane.h"
#include "ledger.h"
#include "log.h"
#include "loop.h"
#include "mqtt.h"
#include "notify.h"
#include "outbox.h"
#include "plugin.h"
#include "privacy.h"
#include "registry.h"
#include "remote.h"
#include "rules.h"

#define MAINTAIN_MS (10 * 60 * 1000)
#define STATUS_MS (60 * 1000)	/* the device counters in the status */
#define SETTLE_MS 2000
#define REG_POLL_MS 1000
#define REG_RETRY_MS 30000
#define PASS_NOTES 32	/* QR passes read and not yet decided, at most */
#define EMERGENCY_PULSE_MS 3000	/* gates that cannot hold: pulsed again */
#define EMERGENCY_REPEAT_MS 1000	/* every second during a fire alarm */

/* A registry load running on its own thread. */
struct reg_loader {
	pthread_t thread;
	int running;
	int efd;		/* written when the thread is done */
	char path[4096];
	struct registry *result;
	int rc;
	char err[512];
};

enum dev_state { DEV_UNKNOWN, DEV_OK, DEV_FAULT };

static const char *const dev_state_names[] = { "unknown", "ok", "fault" };

struct core {
	char *config_path;
	struct ev_loop *loop;
	struct conf *conf;
	struct plugins *pl;
	struct lane *lanes;
	size_t n_lanes;		/* of lanes, which may lag conf during a reload */
	enum dev_state *dev;
	uint64_t lane_timer;
	struct ledger *lg;
	struct mqtt *mq;
	struct outbox ob;
	int sigfd;
	int64_t started_ms;
	uint64_t cmd_id;
	struct privacy privacy;
	int ledger_failing;
	int lost_logged;
	struct pending *pending;	/* passages waiting for their commit */
	size_t n_pending, cap_pending;
	uint64_t next_tag;
	uint64_t maintain_timer, report_timer, status_timer;
	struct rules *rules;
	enum rules_mode mode;
	struct reg_db *regdb;
	struct registry *reg;
	int64_t reg_data_version;	/* -1: the last load failed */
	int64_t reg_retry_at;		/* monotonic, after a failed load */
	uint64_t reg_timer;
	struct reg_loader loader;
	struct history *hist;
	int64_t hist_window_ms;
	struct control *ctl;
	struct remote *remote;	/* NULL: remote administration off */
	int mode_runtime;	/* the mode was set by a command, not the config */
	uint64_t watchdog_timer;
	long watchdog_ms;	/* the ping interval; 0: no watchdog */
	int watchdog_stuck;	/* a worker is stuck: pings withheld */
	/* the gate kit (issue 6), per device of c->conf */
	struct door *doors;	/* the devices that are some lane's door */
	int *door_used;
	int *fire;		/* the device's fire alarm input is active */
	int emergency;		/* some fire alarm input is active */
	uint64_t emergency_timer;	/* pulses gates that cannot hold */
	unsigned emergency_ticks;	/* of that timer, since the alarm began */
	/* QR passes (issue 6): the issuer keys of [passes], and what each
	 * pass read said, until its attempt is decided (lane.h: the attempt
	 * carries the note's ref) */
	struct pass_keys *pass_keys;
	struct pass_note {
		uint64_t ref;
		struct gp_result r;
	} pass_notes[PASS_NOTES];
	uint64_t pass_ref;
};

static void log_conf_error(void *ctx, const char *file, int line,
			   const char *msg)
{
	(void)ctx;
	log_err("%s:%d: %s", file, line, msg);
}

/* --- status and device events -------------------------------------- */

/* One device's entry in the status: its state as the lanes see it, and
 * the plugin's counters when it keeps them. */
static void device_status(struct core *c, size_t i, struct json *o)
{
	struct wk_health h;

	json_begin(o);
	json_str(o, "state", dev_state_names[c->dev[i]]);
	if (c->pl == NULL || plug_health(c->pl, (int)i, &h) < 0)
		return;
	json_int(o, "requests", (int64_t)h.requests);
	json_int(o, "responses", (int64_t)h.responses);
	json_int(o, "timeouts", (int64_t)h.timeouts);
	json_int(o, "crc_errors", (int64_t)h.crc_errors);
	json_int(o, "exceptions", (int64_t)h.exceptions);
	json_int(o, "bad_replies", (int64_t)h.bad_replies);
	json_int(o, "bad_values", (int64_t)h.bad_values);
	json_int(o, "link_errors", (int64_t)h.link_errors);
	json_int(o, "faults", (int64_t)h.faults);
	if (h.state == WK_HEALTH_FAULT)
		json_int(o, "retry_ms", h.retry_ms);
	if (h.last_ok_ms > 0)
		json_time(o, "last_ok", h.last_ok_ms);
	else
		json_null(o, "last_ok");
	if (h.last_reading_ms > 0)
		json_time(o, "last_reading", h.last_reading_ms);
	else
		json_null(o, "last_reading");
	h.last_error[sizeof(h.last_error) - 1] = '\0';
	if (h.last_error[0] != '\0')
		json_str(o, "last_error", h.last_error);
}

/* The gate's status, begun and not ended: what MQTT retains, and with
 * local set what wicketctl status shows (lanes, broker link, uptime, who
 * set the mode). */
static void build_status(struct core *c, struct json *j, int local)
{
	struct json d, l, o;
	struct ledger_stats ls = { 0 };

	json_begin(&d);
	for (size_t i = 0; i < c->conf->n_devices; i++) {
		device_status(c, i, &o);
		json_raw(&d, c->conf->devices[i].name,
			 json_end(&o) ? o.buf : "{}");
	}
	if (c->lg)
		ledger_stats(c->lg, &ls);
	json_begin(&l);
	json_str(&l, "state", c->lg == NULL ? "closed" :
		 ls.failing ? "failing" : "ok");
	json_int(&l, "held", ls.held);
	json_int(&l, "lost", ls.lost);
	json_begin(j);
	json_str(j, "state", "online");
	json_str(j, "version", WICKET_VERSION);
	json_str(j, "site", c->conf->site);
	json_str(j, "gate", c->conf->gate);
	json_time(j, "started", c->started_ms);
	json_str(j, "mode", rules_mode_name(c->mode));
	if (c->rules)
		json_int(j, "rules_version", rules_version(c->rules));
	else
		json_null(j, "rules_version");
	if (c->reg)
		json_int(j, "registry_version", reg_version(c->reg));
	else
		json_null(j, "registry_version");
	json_int(j, "outbox", c->lg ? ledger_count_undelivered(c->lg) : -1);
	json_raw(j, "ledger", json_end(&l) ? l.buf : "{}");
	json_raw(j, "devices", json_end(&d) ? d.buf : "{}");
	json_bool(j, "emergency", c->emergency);
	if (local) {
		struct json ln, b;

		json_int(j, "pid", (int64_t)getpid());
		json_int(j, "uptime_s", (ev_wall_ms() - c->started_ms) / 1000);
		json_str(j, "mode_set_by", c->mode_runtime ? "command" : "config");
		json_begin(&ln);
		for (size_t i = 0; i < c->conf->n_lanes; i++) {
			const struct conf_lane *cl = &c->conf->lanes[i];
			const int devs[3] = { cl->thermal, cl->reader, cl->gate };
			static const char *const keys[3] = { "thermal", "reader",
							     "gate" };

			json_begin(&o);
			json_str(&o, "direction", cl->direction);
			for (int k = 0; k < 3; k++)
				if (devs[k] >= 0)
					json_str(&o, keys[k],
						 c->conf->devices[devs[k]].name);
				else
					json_null(&o, keys[k]);
			json_raw(&ln, cl->name, json_end(&o) ? o.buf : "{}");
		}
		json_raw(j, "lanes", json_end(&ln) ? ln.buf : "{}");
		json_begin(&b);
		json_bool(&b, "enabled", c->conf->mqtt.enabled);
		json_bool(&b, "connected", mqtt_is_connected(c->mq));
		json_str(&b, "host", c->conf->mqtt.host ? c->conf->mqtt.host : "");
		json_int(&b, "port", c->conf->mqtt.port);
		json_raw(j, "broker", json_end(&b) ? b.buf : "{}");
		json_int(j, "watchers", (int64_t)control_watchers(c->ctl));
		json_int(j, "control_clients", (int64_t)control_clients(c->ctl));
		json_bool(j, "watchdog", c->watchdog_ms > 0);
	}
}

static void publish_status(struct core *c)
{
	struct json j;
	const char *payload;

	if (!mqtt_is_connected(c->mq))
		return;
	build_status(c, &j, 0);
	payload = json_end(&j);
	if (payload)
		mqtt_publish(c->mq, "status", payload, 1, 1, NULL);
}

/* An event for `wicketctl watch`: the local view, with credential,
 * temperature and registry ids (the socket is for root and the wicket
 * group only). */
static void watch_event(struct core *c, const struct ledger_event *ev)
{
	struct json j;

	if (control_watchers(c->ctl) == 0)
		return;
	json_begin(&j);
	json_str(&j, "event", ledger_kind_name(ev->kind));
	json_time(&j, "time", ev->time_ms);
	if (ev->kind == LK_DEVICE) {
		json_str(&j, "device", ev->device);
		json_str(&j, "state", ev->state);
		json_str(&j, "message", ev->message);
		goto out;
	}
	if (ev->kind == LK_AUDIT) {
		json_str(&j, "action", ev->reason);
		json_str(&j, "result", ev->state);
		json_str(&j, "message", ev->message);
		goto out;
	}
	json_str(&j, "lane", ev->lane);
	if (ev->kind == LK_ALARM) {
		json_str(&j, "kind", ev->reason);
		json_str(&j, "severity", ev->state);
		json_str(&j, "message", ev->message);
		goto out;
	}
	json_str(&j, "direction", ev->direction);
	if (ev->has_credential)
		json_str(&j, "credential", ev->credential);
	else
		json_null(&j, "credential");
	if (ev->has_temperature)
		json_num(&j, "temperature", ev->temperature_c, 2);
	else
		json_null(&j, "temperature");
	json_str(&j, "decision", ev->decision);
	json_str(&j, "reason", ev->reason);
	json_str(&j, "rule", ev->rule);
	json_bool(&j, "alarm", ev->alarm);
	json_bool(&j, "retest", ev->detail[0] != '\0');
	json_str(&j, "person_id", ev->person_id);
	json_str(&j, "household_id", ev->household_id);
	json_str(&j, "message", ev->message);
out:
	if (json_end(&j))
		control_broadcast(c->ctl, j.buf);
}

static void submit(struct core *c, const struct ledger_event *ev, uint64_t tag)
{
	watch_event(c, ev);
	if (c->lg == NULL) {
		log_err("ledger: not open; %s event NOT recorded",
			ledger_kind_name(ev->kind));
		return;
	}
	if (ledger_submit(c->lg, ev, tag) < 0 && !c->lost_logged) {
		/* once per failing spell; the count is in the status */
		log_err("ledger: the memory queue is full; routine events are being lost");
		c->lost_logged = 1;
	}
}

static void device_event(struct core *c, int dev, const struct wk_event *wev,
			 enum dev_state st)
{
	struct ledger_event ev;

	if (c->dev[dev] == st)
		return;
	c->dev[dev] = st;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_DEVICE;
	ev.time_ms = wev->time_ms;
	snprintf(ev.device, sizeof(ev.device), "%s", c->conf->devices[dev].name);
	snprintf(ev.state, sizeof(ev.state), "%s", dev_state_names[st]);
	snprintf(ev.message, sizeof(ev.message), "%s", wev->message);
	submit(c, &ev, 0);
	publish_status(c);
}

/* --- attempts -------------------------------------------------------- */

/* A passage waiting for its commit before the gate may act on it. */
struct pending {
	uint64_t tag;
	int lane;
	int allow;
	enum rules_severity alarm;
	struct ledger_event ev;	/* for the alarm that follows it */
};

/* An alarm-class event of that kind: published first, never dropped. */
static void alarm_event(struct ledger_event *ev, const char *kind,
			enum rules_severity sev, int64_t time_ms)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = LK_ALARM;
	ev->priority = 1;
	ev->time_ms = time_ms;
	snprintf(ev->reason, sizeof(ev->reason), "%s", kind);
	snprintf(ev->state, sizeof(ev->state), "%s", rules_severity_name(sev));
}

static void raise_alarm(struct core *c, const struct ledger_event *p,
			enum rules_severity sev, int64_t passage_seq)
{
	struct ledger_event ev;
	struct json j;

	alarm_event(&ev, p->reason, sev, p->time_ms);
	snprintf(ev.lane, sizeof(ev.lane), "%s", p->lane);
	snprintf(ev.person, sizeof(ev.person), "%s", p->person);
	snprintf(ev.person_id, sizeof(ev.person_id), "%s", p->person_id);
	snprintf(ev.household_id, sizeof(ev.household_id), "%s",
		 p->household_id);
	snprintf(ev.rule, sizeof(ev.rule), "%s", p->rule);
	ev.rules_version = p->rules_version;
	ev.has_temperature = p->has_temperature;
	ev.temperature_c = p->temperature_c;
	snprintf(ev.message, sizeof(ev.message), "%.100s (lane %s)",
		 p->message, p->lane);
	json_begin(&j);
	if (passage_seq > 0) {
		char id[96];

		snprintf(id, sizeof(id), "%s:%lld", c->conf->gate,
			 (long long)passage_seq);
		json_str(&j, "passage", id);
	} else {
		json_null(&j, "passage");
	}
	snprintf(ev.detail, sizeof(ev.detail), "%s", json_end(&j));
	submit(c, &ev, 0);
}

/* Show a pattern on the lane's lights and buzzer, if it has them. */
static void indicate(struct core *c, int lane, enum wk_indication what)
{
	const struct conf_lane *cl = &c->conf->lanes[lane];
	struct wk_command cmd = {
		.type = WK_CMD_INDICATE,
		.id = ++c->cmd_id,
	};
	int rc;

	if (cl->indicator < 0 || c->pl == NULL)
		return;
	cmd.value = what;
	rc = plug_command(c->pl, cl->indicator, &cmd);
	if (rc < 0)
		log_warn("lane %s: indicator %s: %s", cl->name,
			 c->conf->devices[cl->indicator].name, strerror(-rc));
}

static void open_gate(struct core *c, int lane)
{
	const struct conf_lane *cl = &c->conf->lanes[lane];
	struct wk_command cmd = {
		.type = WK_CMD_OPEN,
		.pulse_ms = cl->pulse_ms,
		.id = ++c->cmd_id,
	};
	int rc;

	if (cl->gate < 0 || c->pl == NULL)
		return;
	/* the door may open now: not forced */
	if (cl->door >= 0 && c->door_used && c->door_used[cl->door])
		door_grant(&c->doors[cl->door], ev_mono_ms());
	rc = plug_command(c->pl, cl->gate, &cmd);
	if (rc < 0)
		log_err("lane %s: cannot open gate %s: %s", cl->name,
			c->conf->devices[cl->gate].name, strerror(-rc));
}

/* The ledger's word on an event: a passage's gate acts now. */
static void on_written(void *arg, uint64_t tag, int64_t seq,
		       enum ledger_status st)
{
	struct core *c = arg;
	struct pending *p = NULL;
	size_t i;

	if (st == LEDGER_HELD && !c->ledger_failing) {
		struct ledger_stats ls;
		struct ledger_event ev;

		c->ledger_failing = 1;
		ledger_stats(c->lg, &ls);
		alarm_event(&ev, "ledger_failing", RULES_SEV_HIGH, ev_wall_ms());
		snprintf(ev.message, sizeof(ev.message),
			 "the ledger cannot write (%.100s); events held in memory",
			 ls.error);
		submit(c, &ev, 0);
		publish_status(c);
	} else if (st != LEDGER_HELD && c->ledger_failing) {
		c->ledger_failing = 0;
		c->lost_logged = 0;
		publish_status(c);
	}
	for (i = 0; tag && i < c->n_pending; i++)
		if (c->pending[i].tag == tag)
			p = &c->pending[i];
	if (p != NULL && st != LEDGER_LATE) {
		/* committed, or held in memory because the disk failed: either
		 * way the person at the gate is not kept waiting */
		if (p->allow)
			open_gate(c, p->lane);
		indicate(c, p->lane, p->alarm != RULES_SEV_NONE ? WK_IND_ALARM :
			 p->allow ? WK_IND_ALLOW : WK_IND_DENY);
		if (p->alarm != RULES_SEV_NONE)
			raise_alarm(c, &p->ev, p->alarm, seq);
		*p = c->pending[--c->n_pending];
	}
	if (seq > 0 && c->mq)
		outbox_kick(&c->ob);
}

static void on_ledger_fd(struct ev_loop *loop, int fd, uint32_t events,
			 void *arg)
{
	struct core *c = arg;

	(void)loop;
	(void)fd;
	(void)events;
	ledger_dispatch(c->lg);
}

/* Local time of an attempt, for time windows. */
static void local_time(int64_t wall_ms, struct rules_facts *f)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	f->wday = tm.tm_wday;
	f->minute = tm.tm_hour * 60 + tm.tm_min;
	f->date = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* What the QR pass behind an attempt said, or NULL when its note was
 * overwritten (more than PASS_NOTES passes read meanwhile). */
static const struct gp_result *pass_note(struct core *c, uint64_t ref)
{
	const struct pass_note *n = &c->pass_notes[ref % PASS_NOTES];

	return ref != 0 && n->ref == ref ? &n->r : NULL;
}

/* Everything the rules may ask about this attempt. */
static void gather_facts(struct core *c, const struct conf_lane *cl,
			 const struct attempt *a, struct rules_facts *f,
			 struct reg_match *m)
{
	memset(f, 0, sizeof(*f));
	memset(m, 0, sizeof(*m));
	local_time(a->time_ms, f);
	f->mode = c->mode;
	f->direction = strcmp(cl->direction, "out") == 0 ? RULES_DIR_OUT :
			RULES_DIR_IN;
	if (!a->has_credential) {
		f->credential = cl->reader >= 0 ? RULES_CRED_MISSING :
						  RULES_CRED_NONE;
	} else if (a->credential_class == LANE_CRED_PASS) {
		const struct gp_result *r = pass_note(c, a->credential_ref);

		if (r) {
			*m = r->match;
			reg_facts(m, f);
		} else {
			f->credential = RULES_CRED_UNKNOWN;
		}
	} else if (c->reg == NULL || a->credential_class == LANE_CRED_OPAQUE) {
		f->credential = RULES_CRED_UNKNOWN;
	} else {
		reg_lookup(c->reg, a->credential, a->time_ms / 1000, m);
		reg_facts(m, f);
	}
	if (f->has_person && c->hist)
		hist_facts(c->hist, m->pid, m->hid, a->time_ms, f);
	if (cl->thermal < 0)
		f->temperature = RULES_TEMP_NONE;
	else if (a->has_temperature)
		f->temperature = RULES_TEMP_OK;
	else if (c->dev[cl->thermal] == DEV_FAULT)
		f->temperature = RULES_TEMP_FAULT;
	else
		f->temperature = RULES_TEMP_MISSING;
	f->temperature_c = a->temperature_c;
	f->retest = a->retest;
}

/* A passage of that lane, in the next free pending slot (not yet
 * counted: commit_passage() does).  NULL when out of memory. */
static struct pending *new_pending(struct core *c, int lane, int allow,
				   int64_t time_ms)
{
	const struct conf_lane *cl = &c->conf->lanes[lane];
	struct pending *p;

	if (c->n_pending == c->cap_pending) {
		size_t cap = c->cap_pending ? c->cap_pending * 2 : 16;
		struct pending *np = realloc(c->pending, cap * sizeof(*np));

		if (np == NULL) {
			log_err("lane %s: out of memory; attempt dropped", cl->name);
			return NULL;
		}
		c->pending = np;
		c->cap_pending = cap;
	}
	p = &c->pending[c->n_pending];
	memset(p, 0, sizeof(*p));
	p->tag = ++c->next_tag;
	p->lane = lane;
	p->allow = allow;
	p->ev.kind = LK_PASSAGE;
	p->ev.time_ms = time_ms;
	snprintf(p->ev.lane, sizeof(p->ev.lane), "%s", cl->name);
	snprintf(p->ev.direction, sizeof(p->ev.direction), "%s", cl->direction);
	p->ev.rules_version = c->rules ? rules_version(c->rules) : 0;
	return p;
}

/* Commit first, then open: the gate acts in on_written(). */
static void commit_passage(struct core *c, struct pending *p)
{
	struct ledger_event *ev = &p->ev;

	watch_event(c, ev);
	if (c->lg == NULL || ledger_submit(c->lg, ev, p->tag) < 0) {
		if (!c->lost_logged)
			log_err("ledger: passage NOT recorded (lane %s, %s); the memory queue is full",
				ev->lane, ev->decision);
		c->lost_logged = 1;
		if (p->allow)
			open_gate(c, p->lane);
		return;
	}
	c->n_pending++;
}

static enum lane_verdict on_attempt(struct lane *l, const struct attempt *a,
				    void *arg)
{
	struct core *c = arg;
	const struct conf_lane *cl = &c->conf->lanes[l->index];
	struct rules_facts f;
	struct reg_match m;
	struct rules_verdict v;
	struct pending *p;
	struct ledger_event *ev;
	char temp[16] = "-";

	gather_facts(c, cl, a, &f, &m);
	rules_eval(c->rules, &f, &v);
	if (a->has_credential && a->credential_class == LANE_CRED_PASS) {
		const struct gp_result *r = pass_note(c, a->credential_ref);

		/* a refused pass is denied with its own reason code */
		if (r)
			gp_refine(r, &v);
	}
	if (a->has_temperature)
		snprintf(temp, sizeof(temp), "%.1f", a->temperature_c);
	if (v.decision == RULES_RETEST) {
		if (!a->final) {
			log_info("passage lane=%s %s credential=%s temperature=%s -> retest (%s) rule=%s",
				 cl->name, cl->direction,
				 a->has_credential ? a->credential : "-", temp,
				 v.reason, v.rule);
			indicate(c, l->index, WK_IND_RETEST);
			return LANE_RETEST;
		}
		/* no second re-test, none without a sensor, none while
		 * stopping or reloading */
		log_warn("lane %s: rule %s asks for a re-test that cannot happen now; denied",
			 cl->name, v.rule);
		v.decision = RULES_DENY;
	}
	p = new_pending(c, l->index, v.decision == RULES_ALLOW, a->time_ms);
	if (p == NULL)
		return LANE_DONE;
	p->alarm = v.alarm;
	ev = &p->ev;
	ev->has_credential = a->has_credential;
	if (a->has_credential)
		snprintf(ev->credential, sizeof(ev->credential), "%s",
			 a->credential);
	if ((f.has_person || m.hid > 0) && c->regdb &&
	    reg_db_names(c->regdb, m.pid, ev->person_id, sizeof(ev->person_id),
			 m.hid, ev->household_id, sizeof(ev->household_id)) < 0)
		log_warn("lane %s: person %lld is no longer in registry.db; recorded without a name",
			 cl->name, (long long)m.pid);
	if (ev->person_id[0])
		privacy_ref(&c->privacy, ev->person_id, ev->person);
	ev->has_temperature = a->has_temperature;
	ev->temperature_c = a->temperature_c;
	snprintf(ev->decision, sizeof(ev->decision), "%s",
		 rules_decision_name(v.decision));
	snprintf(ev->reason, sizeof(ev->reason), "%s", v.reason);
	snprintf(ev->rule, sizeof(ev->rule), "%s", v.rule);
	snprintf(ev->message, sizeof(ev->message), "%s", v.message);
	ev->alarm = v.alarm != RULES_SEV_NONE;
	if (a->retest) {
		struct json j;

		json_begin(&j);
		json_num(&j, "first_temperature", a->first_temperature_c, 2);
		snprintf(ev->detail, sizeof(ev->detail), "%s", json_end(&j));
	}
	if (p->allow && c->hist)
		hist_record(c->hist, m.pid, m.hid, f.direction, a->time_ms);

	log_msg(ev->alarm ? WK_LOG_WARNING : WK_LOG_INFO,
		"passage lane=%s %s credential=%s temperature=%s -> %s (%s) rule=%s%s%s",
		cl->name, cl->direction,
		a->has_credential ? a->credential : "-", temp, ev->decision,
		ev->reason, ev->rule, a->retest ? " re-test" : "",
		ev->alarm ? " ALARM" : "");
	commit_passage(c, p);
	return LANE_DONE;
}

static long on_lane_timer(struct ev_loop *loop, void *arg);
static void door_tick_all(struct core *c, int64_t now);

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
	for (size_t i = 0; c->door_used && i < c->conf->n_devices; i++) {
		int64_t d = c->door_used[i] ? door_deadline(&c->doors[i]) : -1;

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
		lane_expire(&c->lanes[i], now, ev_wall_ms());
	door_tick_all(c, now);
	arm_lanes(c);
	return EV_STOP_TIMER;
}

/* --- the gate kit: door contacts, buttons, the fire alarm ------------ */

static int manual_open(struct core *c, int lane, const char *reason,
		       const char *message);

static const char *input_name(uint32_t role)
{
	switch (role) {
	case WK_INPUT_DOOR:
		return "door";
	case WK_INPUT_EXIT_BUTTON:
		return "exit_button";
	case WK_INPUT_FIRE_ALARM:
		return "fire_alarm";
	case WK_INPUT_OVERRIDE:
		return "override";
	}
	return "unknown";
}

/* An alarm of the gate kit: ledger, event/alarm, watchers, the log, and
 * the alarm pattern on the lane's lights.  lane -1: the whole gate. */
static void kit_alarm(struct core *c, int lane, const char *kind,
		      enum rules_severity sev, const char *fmt, ...)
	WK_PRINTF(5, 6);

static void kit_alarm(struct core *c, int lane, const char *kind,
		      enum rules_severity sev, const char *fmt, ...)
{
	struct ledger_event ev;
	va_list ap;

	alarm_event(&ev, kind, sev, ev_wall_ms());
	if (lane >= 0)
		snprintf(ev.lane, sizeof(ev.lane), "%s",
			 c->conf->lanes[lane].name);
	va_start(ap, fmt);
	vsnprintf(ev.message, sizeof(ev.message), fmt, ap);
	va_end(ap);
	log_msg(sev >= RULES_SEV_MEDIUM ? WK_LOG_WARNING : WK_LOG_NOTICE,
		"alarm %s lane=%s: %s", kind, lane >= 0 ? ev.lane : "-",
		ev.message);
	submit(c, &ev, 0);
	if (lane >= 0 && sev >= RULES_SEV_MEDIUM)
		indicate(c, lane, WK_IND_ALARM);
}

/* The first lane whose door is that device: alarms name it. */
static int door_lane(struct core *c, int dev)
{
	for (size_t i = 0; i < c->conf->n_lanes; i++)
		if (c->conf->lanes[i].door == dev)
			return (int)i;
	return -1;
}

static void door_report(struct core *c, int dev, enum door_alarm a)
{
	const char *name = c->conf->devices[dev].name;
	int lane = door_lane(c, dev);

	switch (a) {
	case DOOR_FORCED:
		kit_alarm(c, lane, "door_forced", RULES_SEV_HIGH,
			  "door opened without a granted passage (door contact of %s)",
			  name);
		break;
	case DOOR_HELD:
		kit_alarm(c, lane, "door_held", RULES_SEV_MEDIUM,
			  "door held open longer than %lld s (door contact of %s)",
			  (long long)c->doors[dev].held_ms / 1000, name);
		break;
	case DOOR_CLOSED_AFTER_HELD:
		kit_alarm(c, lane, "door_closed", RULES_SEV_LOW,
			  "door closed again after being held open (door contact of %s)",
			  name);
		break;
	case DOOR_QUIET:
		break;
	}
}

static void door_tick_all(struct core *c, int64_t now)
{
	for (size_t i = 0; c->door_used && i < c->conf->n_devices; i++)
		if (c->door_used[i])
			door_report(c, (int)i, door_tick(&c->doors[i], now));
}

/* Tell every lane's gate, once per gate: hold it open (on), or let it
 * close.  A gate that cannot hold is pulsed open instead while on. */
static void command_gates(struct core *c, int on, int quiet)
{
	for (size_t i = 0; c->pl && i < c->conf->n_lanes; i++) {
		int g = c->conf->lanes[i].gate;
		struct wk_command cmd = { .id = ++c->cmd_id };
		int dup = 0, hold;

		if (g < 0)
			continue;
		for (size_t j = 0; j < i; j++)
			dup |= c->conf->lanes[j].gate == g;
		hold = (plug_provides(c->pl, g) & WK_PROVIDES_HOLD) != 0;
		if (dup || (!hold && !on))
			continue;
		if (hold) {
			cmd.type = WK_CMD_HOLD;
			cmd.value = (uint32_t)on;
		} else {
			cmd.type = WK_CMD_OPEN;
			cmd.pulse_ms = EMERGENCY_PULSE_MS;
		}
		if (plug_command(c->pl, g, &cmd) < 0 && !quiet)
			log_err("gate %s: cannot %s", c->conf->devices[g].name,
				on ? "hold it open" : "release it");
	}
}

static long on_emergency_timer(struct ev_loop *loop, void *arg)
{
	struct core *c = arg;

	(void)loop;
	command_gates(c, 1, 1);
	/* the alarm pattern runs 10 s: keep it going while the alarm lasts */
	if (++c->emergency_ticks % (10000 / EMERGENCY_REPEAT_MS) == 0)
		for (size_t i = 0; i < c->conf->n_lanes; i++)
			indicate(c, (int)i, WK_IND_ALARM);
	return EMERGENCY_REPEAT_MS;
}

/* Hold every lane's gate open (fire alarm) or let it close.  While the
 * alarm lasts the hold is sent again every second: a gate whose plugin
 * was busy, in a fault or restarted gets it, and a gate that cannot hold
 * (a Modbus pulse relay) is pulsed again. */
static void hold_gates(struct core *c, int on)
{
	command_gates(c, on, 0);
	ev_del_timer(c->loop, c->emergency_timer);
	c->emergency_timer = 0;
	c->emergency_ticks = 0;
	if (on)
		c->emergency_timer = ev_add_timer(c->loop, EMERGENCY_REPEAT_MS,
						  on_emergency_timer, c);
}

/* Door alarms off while the gates are held open on purpose (on), or
 * back on. */
static void hold_doors(struct core *c, int on, int64_t now)
{
	for (size_t i = 0; c->door_used && i < c->conf->n_devices; i++)
		if (c->door_used[i])
			door_hold(&c->doors[i], on, now);
}

/* Some fire alarm input is active (on) or none is any more. */
static void set_emergency(struct core *c, int on, int dev)
{
	const char *name = c->conf->devices[dev].name;
	int64_t now = ev_mono_ms();

	if (on == c->emergency)
		return;
	c->emergency = on;
	if (on)
		kit_alarm(c, -1, "fire_alarm", RULES_SEV_CRITICAL,
			  "fire alarm (input of %s): every lane held open",
			  name);
	else
		kit_alarm(c, -1, "fire_alarm_cleared", RULES_SEV_LOW,
			  "fire alarm cleared (input of %s): lanes back to normal",
			  name);
	hold_gates(c, on);
	hold_doors(c, on, now);
	for (size_t i = 0; i < c->conf->n_lanes; i++)
		indicate(c, (int)i, on ? WK_IND_ALARM : WK_IND_OFF);
	publish_status(c);
}

static void on_input(struct core *c, int dev, const struct wk_event *ev)
{
	const char *name = c->conf->devices[dev].name;
	int active = ev->input.active != 0;
	int initial = ev->input.initial != 0;

	log_info("device %s: %s %s%s", name, input_name(ev->input.role),
		 active ? "active" : "inactive", initial ? " (at start)" : "");
	switch (ev->input.role) {
	case WK_INPUT_DOOR:
		if (c->door_used && c->door_used[dev])
			door_report(c, dev, door_input(&c->doors[dev], active,
						       initial, ev_mono_ms()));
		break;
	case WK_INPUT_EXIT_BUTTON:
	case WK_INPUT_OVERRIDE: {
		int exit = ev->input.role == WK_INPUT_EXIT_BUTTON;

		if (!active || initial)
			break;
		for (size_t i = 0; i < c->conf->n_lanes; i++) {
			const struct conf_lane *cl = &c->conf->lanes[i];
			char msg[128];

			if ((exit ? cl->exit_button : cl->override) != dev)
				continue;
			snprintf(msg, sizeof(msg), "%s of %s",
				 exit ? "exit button" : "override key turned",
				 name);
			if (!exit)
				log_warn("lane %s: override key of %s turned: opening once",
					 cl->name, name);
			manual_open(c, (int)i, exit ? "exit_button" :
				    "override_key", msg);
		}
		break;
	}
	case WK_INPUT_FIRE_ALARM: {
		int any = 0;

		c->fire[dev] = active;
		for (size_t i = 0; i < c->conf->n_devices; i++)
			any |= c->fire[i];
		set_emergency(c, any, dev);
		break;
	}
	default:
		log_warn("device %s: input of unknown role %u", name,
			 ev->input.role);
	}
}

/* A reload stops the old devices and starts the new ones: a fire alarm
 * in force then is carried over by device name, without a new alarm, and
 * the new gates are held open at once; the new instance's first report
 * of its fire input (initial) then says whether it still holds.  A fire
 * device gone from the new configuration ends the emergency. */
static char **kit_fire_names(struct core *c, size_t *n)
{
	char **names;

	*n = 0;
	if (c->fire == NULL || !c->emergency || c->conf->n_devices == 0)
		return NULL;
	names = calloc(c->conf->n_devices, sizeof(*names));
	for (size_t i = 0; names && i < c->conf->n_devices; i++)
		if (c->fire[i] && (names[*n] = strdup(c->conf->devices[i].name)))
			(*n)++;
	return names;
}

static void kit_carry_fire(struct core *c, char **names, size_t n)
{
	size_t kept = 0;

	for (size_t k = 0; k < n; k++) {
		int d = conf_find_device(c->conf, names[k]);

		if (d >= 0 && c->pl && c->fire &&
		    (plug_provides(c->pl, d) & WK_PROVIDES_FIRE_ALARM)) {
			c->fire[d] = 1;
			kept++;
		}
		free(names[k]);
	}
	free(names);
	if (n == 0)
		return;
	if (kept == 0) {
		kit_alarm(c, -1, "fire_alarm_cleared", RULES_SEV_LOW,
			  "fire alarm input no longer configured: lanes back to normal");
		publish_status(c);
		return;
	}
	log_warn("reload during a fire alarm: every lane stays held open");
	c->emergency = 1;
	hold_gates(c, 1);
	hold_doors(c, 1, ev_mono_ms());
	publish_status(c);
}

/* The kit's state for c->conf: a door supervisor per door device. */
static int kit_new(struct core *c)
{
	size_t n = c->conf->n_devices ? c->conf->n_devices : 1;

	c->doors = calloc(n, sizeof(*c->doors));
	c->door_used = calloc(n, sizeof(*c->door_used));
	c->fire = calloc(n, sizeof(*c->fire));
	if (c->doors == NULL || c->door_used == NULL || c->fire == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->conf->n_lanes; i++) {
		const struct conf_lane *cl = &c->conf->lanes[i];

		if (cl->door < 0)
			continue;
		if (!c->door_used[cl->door])
			door_init(&c->doors[cl->door], cl->door_held_ms,
				  cl->door_grant_ms);
		c->door_used[cl->door] = 1;
	}
	return 0;
}

static void kit_free(struct core *c)
{
	if (c->loop)
		ev_del_timer(c->loop, c->emergency_timer);
	c->emergency_timer = 0;
	free(c->doors);
	free(c->door_used);
	free(c->fire);
	c->doors = NULL;
	c->door_used = NULL;
	c->fire = NULL;
}

/* A credential the core names itself: too long to be a card number or
 * a code the registry could hold (a QR pass comes with issue 6's passes).
 * Its content is never logged or recorded. */
static void long_code(struct core *c, int dev, const struct wk_event *ev,
		      size_t len)
{
	char name[WK_CREDENTIAL_MAX];
	int64_t mono = ev_mono_ms();

	snprintf(name, sizeof(name), "(code of %zu bytes)", len);
	log_info("device %s: a code of %zu bytes, not a credential of the registry",
		 c->conf->devices[dev].name, len);
	for (size_t i = 0; i < c->conf->n_lanes; i++)
		if (c->conf->lanes[i].reader == dev)
			lane_credential_as(&c->lanes[i], mono, ev->time_ms, name,
					   LANE_CRED_OPAQUE, 0);
}

/* A QR pass: checked now, against the issuer keys and the registry as
 * they are; the lane carries its note until the attempt is decided.  The
 * token and the subject's id are never logged. */
static void gate_pass(struct core *c, int dev, const struct wk_event *ev,
		      const char *code, size_t len)
{
	struct pass_note *n;
	uint64_t ref = ++c->pass_ref;
	int64_t mono = ev_mono_ms();

	n = &c->pass_notes[ref % PASS_NOTES];
	n->ref = ref;
	gp_check(c->pass_keys, code, len, ev->time_ms / 1000, c->regdb, &n->r);
	log_info("device %s: %s: %s (%s)", c->conf->devices[dev].name,
		 n->r.credential, gp_code(n->r.verdict), n->r.message);
	for (size_t i = 0; i < c->conf->n_lanes; i++)
		if (c->conf->lanes[i].reader == dev)
			lane_credential_as(&c->lanes[i], mono, ev->time_ms,
					   n->r.credential, LANE_CRED_PASS, ref);
}

static void on_device_event(void *arg, int dev, const struct wk_event *ev,
			    const char *code, size_t code_len)
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
		if (code != NULL ? gp_is_pass(code, code_len) :
		    gp_is_pass(ev->credential, strlen(ev->credential))) {
			if (code != NULL)
				gate_pass(c, dev, ev, code, code_len);
			else
				gate_pass(c, dev, ev, ev->credential,
					  strlen(ev->credential));
			break;
		}
		if (code != NULL) {
			long_code(c, dev, ev, code_len);
			break;
		}
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
	case WK_EV_INPUT:
		on_input(c, dev, ev);
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
	remote_connected(c->remote);
	outbox_connected(&c->ob);
}

static void on_message(void *arg, const char *topic, const void *payload,
		       size_t len, int retained, const char *response_topic,
		       const void *corr, size_t corr_len)
{
	struct core *c = arg;

	if (c->remote)
		remote_message(c->remote, topic, payload, len, retained,
			       response_topic, corr, corr_len);
}

static void on_disconnected(void *arg)
{
	outbox_disconnected(&((struct core *)arg)->ob);
}

static void on_acked(void *arg, int mid)
{
	outbox_acked(&((struct core *)arg)->ob, mid);
}

static void on_refused(void *arg, int mid, int reason)
{
	(void)reason;	/* mqtt.c logged it */
	outbox_refused(&((struct core *)arg)->ob, mid);
}

static const struct mqtt_handlers mqtt_handlers = {
	.connected = on_connected,
	.disconnected = on_disconnected,
	.acked = on_acked,
	.refused = on_refused,
	.message = on_message,
};

/* --- rules, registry and history --------------------------------------- */

static void log_rules_error(void *ctx, const char *where, const char *path,
			    const char *msg)
{
	(void)ctx;
	log_err("%s: %s: %s", where, path, msg);
}

/* 0, the number of errors (logged), or -errno */
static int load_rules(const struct conf *cf, struct rules **out)
{
	int rc = rules_load(cf->rules, out, log_rules_error, NULL);

	if (rc > 0)
		log_err("%s: %d error(s) in the rules", cf->rules, rc);
	else if (rc < 0)
		log_err("%s: %s", cf->rules, strerror(-rc));
	return rc;
}

struct hist_fill {
	struct core *c;
	size_t n, unknown;
};

static void hist_fill_one(void *arg, const char *person_id,
			  const char *household_id, const char *direction,
			  int64_t time_ms)
{
	struct hist_fill *hf = arg;
	int64_t pid = 0, hid = 0;

	/* no person: a household's pass */
	if (person_id[0] && reg_db_pid(hf->c->regdb, person_id, &pid) < 0) {
		hf->unknown++;	/* removed from the registry since */
		return;
	}
	if (household_id[0] && reg_db_hid(hf->c->regdb, household_id, &hid) < 0)
		hid = 0;
	hist_record(hf->c->hist, pid, hid,
		    strcmp(direction, "out") == 0 ? RULES_DIR_OUT : RULES_DIR_IN,
		    time_ms);
	hf->n++;
}

/* Read the allowed passages of [now - to_s, now - from_s) from the ledger
 * into the history: at start, and when new rules look further back. */
static void fill_history(struct core *c, int64_t from_s, int64_t to_s)
{
	struct hist_fill hf = { .c = c };
	int64_t now = ev_wall_ms();

	if (c->lg == NULL || c->regdb == NULL || c->hist == NULL || to_s <= from_s)
		return;
	ledger_history(c->lg, now - to_s * 1000, now - from_s * 1000,
		       hist_fill_one, &hf);
	log_info("history: %zu passage(s) of the last %lld h read from the ledger%s",
		 hf.n, (long long)(to_s / 3600),
		 hf.unknown ? " (some of persons no longer registered)" : "");
}

static void registry_path(const struct conf *cf, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", cf->state_dir, REG_FILE);
}

static void log_registry(const struct registry *r, const char *how)
{
	log_notice("registry version %lld %s: %zu household(s), %zu person(s), %zu credential(s), %zu KiB",
		   (long long)reg_version(r), how, reg_households(r),
		   reg_persons(r), reg_credentials(r), reg_memory(r) / 1024);
}

static void *loader_main(void *arg)
{
	struct reg_loader *ld = arg;
	uint64_t one = 1;

	ld->rc = reg_load(ld->path, &ld->result, ld->err, sizeof(ld->err));
	if (write(ld->efd, &one, sizeof(one)) < 0)
		ld->rc = ld->rc ? ld->rc : -errno;	/* the join still runs */
	return NULL;
}

/* The loader's thread is done: swap in what it read. */
static void on_loader_fd(struct ev_loop *loop, int fd, uint32_t events,
			 void *arg)
{
	struct core *c = arg;
	struct reg_loader *ld = &c->loader;
	uint64_t n;

	(void)loop;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 || !ld->running)
		return;
	pthread_join(ld->thread, NULL);
	ld->running = 0;
	if (ld->rc < 0) {
		log_err("registry: %s; keeping version %lld in force, trying again in %d s",
			ld->err, c->reg ? (long long)reg_version(c->reg) : -1LL,
			REG_RETRY_MS / 1000);
		c->reg_data_version = -1;
		c->reg_retry_at = ev_mono_ms() + REG_RETRY_MS;
		return;
	}
	reg_free(c->reg);
	c->reg = ld->result;
	ld->result = NULL;
	log_registry(c->reg, "loaded");
	publish_status(c);
}

static void loader_wait(struct core *c)
{
	if (!c->loader.running)
		return;
	pthread_join(c->loader.thread, NULL);
	c->loader.running = 0;
	reg_free(c->loader.result);
	c->loader.result = NULL;
}

/* Poll registry.db: a commit by an import starts a load on a thread. */
static long on_reg_timer(struct ev_loop *loop, void *arg)
{
	struct core *c = arg;
	int64_t dv;
	int rc;

	(void)loop;
	if (c->regdb == NULL || c->loader.running)
		return REG_POLL_MS;
	if (c->reg_data_version == -1 && ev_mono_ms() < c->reg_retry_at)
		return REG_POLL_MS;
	dv = reg_db_data_version(c->regdb);
	if (dv == c->reg_data_version)
		return REG_POLL_MS;
	c->reg_data_version = dv;
	registry_path(c->conf, c->loader.path, sizeof(c->loader.path));
	c->loader.result = NULL;
	rc = pthread_create(&c->loader.thread, NULL, loader_main, &c->loader);
	if (rc != 0)
		log_err("registry: cannot start a loader thread: %s", strerror(rc));
	else
		c->loader.running = 1;
	return REG_POLL_MS;
}

/* Open registry.db, load it, and fill the history: start, and reload
 * with another state_dir.  The database is created empty if missing. */
static int open_registry(struct core *c)
{
	char path[4096], err[512];
	int rc;

	registry_path(c->conf, path, sizeof(path));
	rc = reg_db_open(path, &c->regdb, err, sizeof(err));
	if (rc == 0) {
		c->reg_data_version = reg_db_data_version(c->regdb);
		rc = reg_load(path, &c->reg, err, sizeof(err));
	}
	if (rc < 0) {
		log_err("registry: %s", err);
		return rc;
	}
	log_registry(c->reg, "loaded");
	hist_free(c->hist);
	c->hist = NULL;
	rc = hist_new(&c->hist);
	if (rc < 0)
		return rc;
	c->hist_window_ms = rules_history_s(c->rules) * 1000;
	fill_history(c, 0, rules_history_s(c->rules));
	return 0;
}

static void close_registry(struct core *c)
{
	loader_wait(c);
	reg_free(c->reg);
	c->reg = NULL;
	reg_db_close(c->regdb);
	c->regdb = NULL;
	hist_free(c->hist);
	c->hist = NULL;
}

/* New rules in force: the history keeps what they look back on. */
static void swap_rules(struct core *c, struct rules *r)
{
	int64_t old_s = c->rules ? rules_history_s(c->rules) : 0;
	int64_t new_s = rules_history_s(r);

	rules_free(c->rules);
	c->rules = r;
	/* (during a reload c->lanes are still the old config's) */
	for (size_t i = 0; c->lanes && i < c->n_lanes; i++)
		c->lanes[i].retest_ms = rules_retest_window_ms(r);
	c->hist_window_ms = new_s * 1000;
	if (new_s > old_s)
		fill_history(c, old_s, new_s);
	log_notice("rules version %lld in force: %zu rule(s)",
		   (long long)rules_version(r), rules_count(r));
}

/* --- the control socket (wicketctl) ------------------------------------ */

/* Open a lane's gate once without a credential, recorded as a passage
 * with that reason; the gate acts after the commit, like any passage. */
static int manual_open(struct core *c, int lane, const char *reason,
		       const char *message)
{
	struct pending *p;

	if (c->conf->lanes[lane].gate < 0)
		return -ENODEV;
	p = new_pending(c, lane, 1, ev_wall_ms());
	if (p == NULL)
		return -ENOMEM;
	snprintf(p->ev.decision, sizeof(p->ev.decision), "allow");
	snprintf(p->ev.reason, sizeof(p->ev.reason), "%s", reason);
	snprintf(p->ev.message, sizeof(p->ev.message), "%s", message);
	log_notice("passage lane=%s %s -> allow (%s): %s", p->ev.lane,
		   p->ev.direction, reason, message);
	commit_passage(c, p);
	return 0;
}

static void set_mode(struct core *c, enum rules_mode m, const char *by)
{
	struct json j;
	enum rules_mode was = c->mode;

	c->mode = m;
	c->mode_runtime = 1;
	log_notice("mode %s (was %s), set by %s", rules_mode_name(m),
		   rules_mode_name(was), by);
	publish_status(c);
	json_begin(&j);
	json_str(&j, "event", "mode");
	json_time(&j, "time", ev_wall_ms());
	json_str(&j, "mode", rules_mode_name(m));
	json_str(&j, "was", rules_mode_name(was));
	json_str(&j, "by", by);
	if (json_end(&j))
		control_broadcast(c->ctl, j.buf);
}

static void on_control(void *arg, const struct control_peer *peer,
		       const char *cmd, const struct jt_node *req,
		       struct control_reply *reply)
{
	static const char *const none[] = { NULL };
	static const char *const lane_arg[] = { "lane", NULL };
	static const char *const mode_arg[] = { "mode", NULL };
	struct core *c = arg;
	struct json *r = &reply->result;
	char by[96];

	snprintf(by, sizeof(by), "wicketctl (uid %ld, pid %ld)",
		 (long)peer->uid, (long)peer->pid);
	if (strcmp(cmd, "status") == 0) {
		if (control_args_only(req, none, reply))
			build_status(c, r, 1);	/* the socket ends it */
	} else if (strcmp(cmd, "open") == 0) {
		const char *name;
		int lane = -1, rc;

		if (!control_args_only(req, lane_arg, reply) ||
		    (name = control_arg_str(req, "lane", reply)) == NULL)
			return;
		for (size_t i = 0; i < c->conf->n_lanes; i++)
			if (strcmp(c->conf->lanes[i].name, name) == 0)
				lane = (int)i;
		if (lane < 0) {
			control_fail(reply, "not_found", "no lane '%.60s'", name);
			return;
		}
		rc = manual_open(c, lane, "operator_open", by);
		if (rc == -ENODEV) {
			control_fail(reply, "no_gate", "lane %s has no gate to open",
				     name);
			return;
		}
		if (rc < 0) {
			control_fail(reply, "failed", "%s", strerror(-rc));
			return;
		}
		json_str(r, "lane", name);
		json_str(r, "gate",
			 c->conf->devices[c->conf->lanes[lane].gate].name);
	} else if (strcmp(cmd, "mode") == 0) {
		const char *name;
		enum rules_mode was = c->mode;
		int m;

		if (!control_args_only(req, mode_arg, reply) ||
		    (name = control_arg_str(req, "mode", reply)) == NULL)
			return;
		m = rules_mode_parse(name);
		if (m < 0) {
			control_fail(reply, "bad_request",
				     "mode: '%.40s' is not one of normal, residents-only, lockdown, open",
				     name);
			return;
		}
		set_mode(c, (enum rules_mode)m, by);
		json_str(r, "mode", rules_mode_name(c->mode));
		json_str(r, "was", rules_mode_name(was));
	} else {
		control_fail(reply, "unknown_command",
			     "'%.40s' is not a command (status, watch, open, mode)",
			     cmd);
	}
}

static int open_control(struct core *c)
{
	char err[512];
	int rc;

	if (c->conf->control_socket == NULL)
		return 0;
	rc = control_open(c->loop, c->conf->control_socket,
			  c->conf->control_group, on_control, c, &c->ctl, err,
			  sizeof(err));
	if (rc < 0)
		log_err("%s", err);
	return rc;
}

static int str_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* --- the systemd watchdog ---------------------------------------------- */

#define LEDGER_STALE_MS 20000	/* a commit longer than this is a hang */

/* Whether every worker thread turned recently enough; names the first
 * one that did not. */
static int workers_alive(struct core *c, char *who, size_t len)
{
	int64_t now = ev_mono_ms();

	if (c->lg) {
		struct ledger_stats ls;

		ledger_stats(c->lg, &ls);
		if (ls.heartbeat_ms > 0 && now - ls.heartbeat_ms > LEDGER_STALE_MS) {
			snprintf(who, len, "the ledger writer (no turn for %lld ms)",
				 (long long)(now - ls.heartbeat_ms));
			return 0;
		}
	}
	for (size_t i = 0; c->pl && i < c->conf->n_devices; i++) {
		struct wk_health h;

		if (plug_health(c->pl, (int)i, &h) < 0 || h.heartbeat_ms <= 0)
			continue;
		if (now - h.heartbeat_ms > h.heartbeat_max_ms) {
			snprintf(who, len, "device %s's worker (no turn for %lld ms, %lld allowed)",
				 c->conf->devices[i].name,
				 (long long)(now - h.heartbeat_ms),
				 (long long)h.heartbeat_max_ms);
			return 0;
		}
	}
	return 1;
}

static long on_watchdog(struct ev_loop *loop, void *arg)
{
	struct core *c = arg;
	char who[200];

	(void)loop;
	if (workers_alive(c, who, sizeof(who))) {
		if (c->watchdog_stuck)
			log_notice("watchdog: every worker is turning again");
		c->watchdog_stuck = 0;
		notify_send("WATCHDOG=1");
	} else if (!c->watchdog_stuck) {
		/* systemd restarts us when WatchdogSec passes without a ping */
		log_err("watchdog: %s; no longer telling systemd that wicketd is alive",
			who);
		c->watchdog_stuck = 1;
	}
	return c->watchdog_ms;
}

/* Ping at half of WATCHDOG_USEC when systemd asks for it (WatchdogSec=). */
static void start_watchdog(struct core *c)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	long long us;

	if (usec == NULL)
		return;
	if (pid != NULL && strtoll(pid, &end, 10) != (long long)getpid())
		return;		/* meant for another process */
	errno = 0;
	us = strtoll(usec, &end, 10);
	if (errno || *end != '\0' || us <= 0) {
		log_warn("watchdog: WATCHDOG_USEC='%s' is not a number of microseconds; no watchdog",
			 usec);
		return;
	}
	c->watchdog_ms = (long)(us / 2000);
	if (c->watchdog_ms < 50)
		c->watchdog_ms = 50;
	c->watchdog_timer = ev_add_timer(c->loop, c->watchdog_ms, on_watchdog, c);
	log_info("watchdog: pinging systemd every %ld ms while every worker turns",
		 c->watchdog_ms);
}

/* --- remote administration (remote.c) --------------------------------- */

static int64_t host_rules_version(void *arg)
{
	struct core *c = arg;

	return c->rules ? rules_version(c->rules) : 0;
}

static void host_swap_rules(void *arg, struct rules *r)
{
	swap_rules(arg, r);
	publish_status(arg);
}

static int64_t host_registry_version(void *arg)
{
	struct core *c = arg;

	return c->regdb ? reg_db_version(c->regdb) : 0;
}

static int host_open(void *arg, const char *lane, const char *by,
		     const char **code, char *msg, size_t msglen)
{
	struct core *c = arg;
	int rc;

	for (size_t i = 0; i < c->conf->n_lanes; i++) {
		if (strcmp(c->conf->lanes[i].name, lane) != 0)
			continue;
		rc = manual_open(c, (int)i, "remote_open", by);
		if (rc == -ENODEV) {
			*code = "bad_command";
			snprintf(msg, msglen, "lane %s has no gate to open", lane);
		} else if (rc < 0) {
			*code = "internal_error";
			snprintf(msg, msglen, "%s", strerror(-rc));
		}
		return rc;
	}
	*code = "bad_command";
	snprintf(msg, msglen, "no lane '%.60s'", lane);
	return -ENOENT;
}

static void host_set_mode(void *arg, enum rules_mode m, const char *by)
{
	set_mode(arg, m, by);
}

static void host_status(void *arg, struct json *j)
{
	build_status(arg, j, 0);
}

/* Every update and command, applied or refused: in the log (remote.c),
 * in the ledger, to watchers and on event/audit. */
static void host_audit(void *arg, const struct remote_audit *a)
{
	struct core *c = arg;
	struct ledger_event ev;
	struct json d;

	memset(&ev, 0, sizeof(ev));
	ev.kind = LK_AUDIT;
	ev.priority = 1;
	ev.time_ms = ev_wall_ms();
	snprintf(ev.reason, sizeof(ev.reason), "%s", a->action);
	snprintf(ev.state, sizeof(ev.state), "%s", a->result);
	snprintf(ev.message, sizeof(ev.message), "%s", a->message ? a->message : "");
	ev.rules_version = a->version;
	json_begin(&d);
	json_str(&d, "id", a->id);
	if (a->key)
		json_str(&d, "key", a->key);
	else
		json_null(&d, "key");
	if (a->version > 0)
		json_int(&d, "version", a->version);
	else
		json_null(&d, "version");
	if (a->error)
		json_str(&d, "error", a->error);
	else
		json_null(&d, "error");
	json_str(&d, "topic", a->topic);
	if (a->cmd)
		json_str(&d, "cmd", a->cmd);
	else
		json_null(&d, "cmd");
	if (a->nonce)
		json_str(&d, "nonce", a->nonce);
	else
		json_null(&d, "nonce");
	if (json_end(&d) && d.len < sizeof(ev.detail))
		memcpy(ev.detail, d.buf, d.len + 1);
	else
		snprintf(ev.detail, sizeof(ev.detail), "{}");
	submit(c, &ev, 0);
}

static const struct remote_host remote_host = {
	.rules_version = host_rules_version,
	.swap_rules = host_swap_rules,
	.registry_version = host_registry_version,
	.open = host_open,
	.set_mode = host_set_mode,
	.status = host_status,
	.audit = host_audit,
};

/* [admin] in force: remote.c with its keys and store; the rules it stored
 * take over from an older rules file. */
static int open_remote(struct core *c)
{
	struct remote_host h = remote_host;
	struct rules *stored;
	int rc;

	h.arg = c;
	rc = remote_new(c->conf, &h, &c->remote);
	if (rc < 0 || c->remote == NULL)
		return rc;
	stored = remote_stored_rules(c->remote, c->conf->rules,
				     c->rules ? rules_version(c->rules) : 0);
	if (stored) {
		rules_free(c->rules);
		c->rules = stored;
	}
	return 0;
}

/* --- configuration in force -------------------------------------------- */

/* The issuer keys of [passes] (none without it: every pass is refused as
 * pass_unknown_issuer).  On an error the keys in force stay. */
static void load_pass_keys(struct core *c, const struct conf *cf)
{
	struct pass_keys *k = NULL;
	char err[512];

	if (cf->passes.issuers &&
	    pass_keys_load(cf->passes.issuers, &k, err, sizeof(err)) < 0) {
		log_err("passes: %s; the issuer keys in force stay", err);
		return;
	}
	pass_keys_free(c->pass_keys);
	c->pass_keys = k;
	if (k)
		log_info("passes: %zu issuer key(s) from %s", pass_keys_count(k),
			 cf->passes.issuers);
}

/* Build lanes and device states for c->conf and start its plugins. */
static int apply(struct core *c)
{
	int rc;

	free(c->lanes);
	free(c->dev);
	kit_free(c);
	c->emergency = 0;
	if (kit_new(c) < 0)
		return -ENOMEM;
	c->lanes = calloc(c->conf->n_lanes, sizeof(*c->lanes));
	c->n_lanes = c->lanes ? c->conf->n_lanes : 0;
	c->dev = calloc(c->conf->n_devices ? c->conf->n_devices : 1,
			sizeof(*c->dev));
	if (c->lanes == NULL || c->dev == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->conf->n_lanes; i++) {
		const struct conf_lane *l = &c->conf->lanes[i];

		lane_init(&c->lanes[i], (int)i, l->reader >= 0, l->thermal >= 0,
			  l->window_ms, rules_retest_window_ms(c->rules),
			  on_attempt, c);
	}
	log_set_level(c->conf->log_level);
	rc = ev_add_fd(c->loop, plug_event_fd(c->pl), EPOLLIN, on_plugin_fd, c);
	if (rc == 0)
		rc = plug_start(c->pl);
	return rc;
}

static struct ledger_limits limits(const struct conf *cf)
{
	struct ledger_limits lim = {
		.retention_days = cf->ledger.retention_days,
		.outbox_max_events = cf->ledger.outbox_max_events,
		.outbox_max_age_days = cf->ledger.outbox_max_age_days,
		.memory_queue = cf->ledger.memory_queue,
	};

	return lim;
}

static int open_ledger(struct core *c)
{
	struct ledger_limits lim = limits(c->conf);
	char err[512];
	int rc;

	rc = ledger_open(c->conf->state_dir, &lim, on_written, c, &c->lg, err,
			 sizeof(err));
	if (rc < 0) {
		log_err("ledger: %s", err);
		return rc;
	}
	rc = ev_add_fd(c->loop, ledger_event_fd(c->lg), EPOLLIN, on_ledger_fd, c);
	if (rc < 0) {
		ledger_close(c->lg);
		c->lg = NULL;
	}
	return rc;
}

static void close_ledger(struct core *c)
{
	if (c->lg == NULL)
		return;
	ev_del_fd(c->loop, ledger_event_fd(c->lg));
	ledger_close(c->lg);
	/* what the writer finished while closing */
	c->lg = NULL;
}

static int load_privacy(const struct conf *cf, struct privacy *out)
{
	char path[4096], err[512];
	int rc;

	memset(out, 0, sizeof(*out));
	out->publish_credential = cf->privacy.publish_credential;
	out->publish_temperature = cf->privacy.publish_temperature;
	if (cf->privacy.key_file)
		snprintf(path, sizeof(path), "%s", cf->privacy.key_file);
	else
		snprintf(path, sizeof(path), "%s/privacy.key", cf->state_dir);
	rc = privacy_load_key(out, path, cf->privacy.key_file == NULL, err,
			      sizeof(err));
	if (rc < 0)
		log_err("%s", err);
	return rc;
}

/* The local day before the one containing now: "YYYY-MM-DD", its bounds. */
static void yesterday(int64_t now_ms, char *day, size_t len, int64_t *start,
		      int64_t *end)
{
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	*end = (int64_t)mktime(&tm) * 1000;
	tm.tm_mday -= 1;
	tm.tm_isdst = -1;
	*start = (int64_t)mktime(&tm) * 1000;
	snprintf(day, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday);
}

/* Today's report_time, local, as a time_t. */
static time_t report_time_today(const struct conf *cf, time_t now)
{
	struct tm tm;

	localtime_r(&now, &tm);
	tm.tm_hour = cf->ledger.report_minute / 60;
	tm.tm_min = cf->ledger.report_minute % 60;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

/* Milliseconds until the next report_time, local. */
static long until_report(const struct conf *cf, int64_t now_ms)
{
	time_t t = (time_t)(now_ms / 1000), at = report_time_today(cf, t);

	if (at <= t) {
		struct tm tm;

		localtime_r(&at, &tm);
		tm.tm_mday += 1;
		tm.tm_isdst = -1;
		at = mktime(&tm);
	}
	return (long)(at - t) * 1000;
}

static void request_report(struct core *c)
{
	char day[40];
	int64_t start, end;

	if (c->lg == NULL)
		return;
	yesterday(ev_wall_ms(), day, sizeof(day), &start, &end);
	ledger_report(c->lg, day, start, end);
}

static long on_report_timer(struct ev_loop *loop, void *arg)
{
	struct core *c = arg;

	(void)loop;
	request_report(c);
	return until_report(c->conf, ev_wall_ms()) + 1000;
}

static long on_status_timer(struct ev_loop *loop, void *arg)
{
	(void)loop;
	publish_status(arg);
	return STATUS_MS;
}

static long on_maintain_timer(struct ev_loop *loop, void *arg)
{
	struct core *c = arg;

	(void)loop;
	if (c->lg)
		ledger_maintain(c->lg, ev_wall_ms());
	if (c->hist)
		hist_prune(c->hist, ev_wall_ms() - c->hist_window_ms);
	return MAINTAIN_MS;
}

static int open_outputs(struct core *c)
{
	int rc;

	rc = open_ledger(c);
	if (rc < 0)
		return rc;
	rc = load_privacy(c->conf, &c->privacy);
	if (rc < 0)
		return rc;
	if (c->conf->mqtt.enabled) {
		rc = mqtt_new(c->loop, c->conf, &mqtt_handlers, c, &c->mq);
		if (rc < 0)
			return rc;
		remote_attach(c->remote, c->mq);
	}
	outbox_init(&c->ob, c->lg, c->mq, c->conf->site, c->conf->gate,
		    &c->privacy);
	/* prune and bound soon after start, then every MAINTAIN_MS; the
	 * report of yesterday at start if it is missing, then daily */
	c->maintain_timer = ev_add_timer(c->loop, 5000, on_maintain_timer, c);
	c->status_timer = ev_add_timer(c->loop, STATUS_MS, on_status_timer, c);
	c->report_timer = ev_add_timer(c->loop,
				       until_report(c->conf, ev_wall_ms()) + 1000,
				       on_report_timer, c);
	/* made at start if today's report_time has passed (the ledger
	 * skips a day that has its report already) */
	if (report_time_today(c->conf, (time_t)(ev_wall_ms() / 1000)) <=
	    (time_t)(ev_wall_ms() / 1000))
		request_report(c);
	return 0;
}

/* site and gate are in every topic, the will and the client id */
static int mqtt_changed(const struct conf *a, const struct conf *b)
{
	return mqtt_conf_changed(&a->mqtt, &b->mqtt) ||
	       strcmp(a->site, b->site) != 0 || strcmp(a->gate, b->gate) != 0;
}

/* Run the ledger's completions until no passage waits for its commit, for
 * at most ms.  A commit normally takes a few ms, and a failing disk answers
 * HELD at once; what still waits after that (a hung disk) loses its gate
 * command, with a warning. */
static void settle_pending(struct core *c, int ms)
{
	int64_t end = ev_mono_ms() + ms;

	while (c->lg && c->n_pending > 0 && ev_mono_ms() < end) {
		struct pollfd p = { .fd = ledger_event_fd(c->lg), .events = POLLIN };

		if (poll(&p, 1, (int)(end - ev_mono_ms())) > 0)
			ledger_dispatch(c->lg);
	}
	if (c->n_pending > 0)
		log_warn("reload: %zu passage(s) still not committed; their gate commands are dropped",
			 c->n_pending);
	c->n_pending = 0;
}

static void reload(struct core *c)
{
	struct conf *nc;
	struct plugins *npl;
	struct rules *nr = NULL;
	char **fire_names;
	size_t n_fire;
	int rc, reopen_ledger, reopen_mqtt, reopen_registry, reopen_control;
	int reopen_remote;
	enum rules_mode conf_mode;

	notify_send("RELOADING=1");
	log_notice("reloading %s", c->config_path);
	rc = conf_load(c->config_path, &nc, log_conf_error, NULL);
	if (rc == 0) {
		rc = plug_open(nc, &npl, log_conf_error, NULL);
		if (rc != 0)
			conf_free(nc);
	}
	if (rc == 0) {
		rc = load_rules(nc, &nr);
		if (rc != 0) {
			plug_close(npl);
			conf_free(nc);
		}
	}
	if (rc != 0) {
		log_err("reload failed (%s); keeping the configuration and the rules in force",
			rc > 0 ? "see the errors above" : strerror(-rc));
		notify_send("READY=1");
		return;
	}
	/* Close what the old config had started, then swap.  The passages
	 * already decided get their commit, and their gate command, while the
	 * old devices still run: a pending passage names a lane and a device
	 * of the old config.  What the drain adds after the stop is read in
	 * the last poll before it; an allow among them (a single-device lane)
	 * finds its gate stopped, and the failed command is logged. */
	for (size_t i = 0; i < c->conf->n_lanes; i++)
		lane_flush(&c->lanes[i], ev_wall_ms());
	settle_pending(c, SETTLE_MS);
	ev_del_fd(c->loop, plug_event_fd(c->pl));
	plug_stop(c->pl);
	plug_drain(c->pl, on_device_event, c);
	for (size_t i = 0; i < c->conf->n_lanes; i++)
		lane_flush(&c->lanes[i], ev_wall_ms());
	settle_pending(c, SETTLE_MS);
	ev_del_timer(c->loop, c->lane_timer);
	c->lane_timer = 0;
	plug_close(c->pl);
	c->pl = npl;
	reopen_ledger = strcmp(c->conf->state_dir, nc->state_dir) != 0 ||
			memcmp(&c->conf->ledger, &nc->ledger, sizeof(nc->ledger)) != 0;
	reopen_registry = strcmp(c->conf->state_dir, nc->state_dir) != 0;
	reopen_mqtt = mqtt_changed(c->conf, nc);
	reopen_remote = reopen_mqtt || reopen_registry ||
			c->conf->admin.enabled != nc->admin.enabled ||
			str_differ(c->conf->admin.keys, nc->admin.keys);
	/* new subscriptions come with a new link */
	reopen_mqtt = reopen_mqtt || reopen_remote;
	reopen_control = str_differ(c->conf->control_socket, nc->control_socket) ||
			 str_differ(c->conf->control_group, nc->control_group);
	conf_mode = c->conf->mode;
	fire_names = kit_fire_names(c, &n_fire);
	if (reopen_control) {
		control_close(c->ctl);
		c->ctl = NULL;
	}
	if (reopen_registry)
		close_registry(c);
	if (reopen_mqtt) {
		mqtt_free(c->mq);
		c->mq = NULL;
	}
	if (reopen_ledger)
		close_ledger(c);	/* runs what is still pending */
	{
		struct privacy np;

		if (load_privacy(nc, &np) == 0)
			c->privacy = np;
		else
			log_err("reload: keeping the privacy key in force");
	}
	conf_free(c->conf);
	c->conf = nc;
	load_pass_keys(c, nc);
	if (reopen_ledger && open_ledger(c) < 0)
		log_err("ledger: cannot open; passages are decided but NOT recorded");
	if (reopen_remote) {
		struct remote_host h = remote_host;
		struct remote *nrem = NULL;

		h.arg = c;
		if (remote_new(nc, &h, &nrem) < 0) {
			/* keep the one in force, so its stored rules stay */
			log_err("reload: the new [admin] cannot be applied; remote administration keeps its settings");
		} else {
			remote_free(c->remote);
			c->remote = nrem;
		}
	} else if (c->remote) {
		/* the same keys file, maybe with a key removed */
		remote_reload_keys(c->remote, nc);
	}
	if (c->remote) {
		/* rules a remote update stored stay over an older file */
		struct rules *stored = remote_stored_rules(c->remote, nc->rules,
							   rules_version(nr));

		if (stored) {
			rules_free(nr);
			nr = stored;
		}
	}
	/* the passages in flight were decided by the old rules above */
	swap_rules(c, nr);
	/* a mode set by a command stays until the config's own mode changes */
	if (c->mode_runtime && nc->mode == conf_mode) {
		if (c->mode != nc->mode)
			log_notice("mode %s kept: it was set by a command, and the configuration's mode is unchanged",
				   rules_mode_name(c->mode));
	} else {
		if (c->mode != nc->mode)
			log_notice("mode %s (was %s)", rules_mode_name(nc->mode),
				   rules_mode_name(c->mode));
		c->mode = nc->mode;
		c->mode_runtime = 0;
	}
	if (reopen_control && open_control(c) < 0)
		log_err("reload: no control socket; wicketctl cannot reach wicketd");
	if (reopen_registry && open_registry(c) < 0)
		log_err("registry: cannot open; every credential is unknown");
	if (reopen_mqtt && nc->mqtt.enabled &&
	    mqtt_new(c->loop, nc, &mqtt_handlers, c, &c->mq) < 0)
		log_err("mqtt: cannot start");
	if (reopen_mqtt)
		remote_attach(c->remote, c->mq);
	if (reopen_ledger || reopen_mqtt)
		outbox_init(&c->ob, c->lg, c->mq, nc->site, nc->gate,
			    &c->privacy);
	else {
		/* the same names (mqtt_changed compares them), new storage */
		c->ob.site = nc->site;
		c->ob.gate = nc->gate;
	}
	if (apply(c) < 0)
		log_err("reload: starting the devices failed");
	kit_carry_fire(c, fire_names, n_fire);
	log_notice("configuration reloaded");
	publish_status(c);
	if (reopen_ledger && !reopen_mqtt)
		outbox_connected(&c->ob);
	notify_send("READY=1");
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
	c->loader.efd = -1;
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
	c->mode = c->conf->mode;
	load_pass_keys(c, c->conf);
	rc = load_rules(c->conf, &c->rules);
	if (rc != 0) {
		rc = rc < 0 ? rc : -EINVAL;
		goto fail;
	}
	log_notice("rules version %lld from %s: %zu rule(s)",
		   (long long)rules_version(c->rules), c->conf->rules,
		   rules_count(c->rules));
	rc = open_remote(c);
	if (rc < 0)
		goto fail;
	rc = open_outputs(c);
	if (rc < 0)
		goto fail;
	rc = open_registry(c);
	if (rc < 0)
		goto fail;
	c->loader.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->loader.efd < 0 ||
	    ev_add_fd(c->loop, c->loader.efd, EPOLLIN, on_loader_fd, c) < 0) {
		rc = -errno;
		goto fail;
	}
	c->reg_timer = ev_add_timer(c->loop, REG_POLL_MS, on_reg_timer, c);
	rc = apply(c);
	if (rc < 0)
		goto fail;
	rc = open_control(c);
	if (rc < 0)
		goto fail;
	start_watchdog(c);
	log_notice("wicketd %s started: site %s, gate %s, mode %s, %zu lane(s), %zu device(s)",
		   WICKET_VERSION, c->conf->site, c->conf->gate,
		   rules_mode_name(c->mode), c->conf->n_lanes, c->conf->n_devices);
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

/* A clean stop: each lane's gate as its `fail` says.  A gpio relay goes
 * to its fail state in the plugin's stop() (de-energised, docs/wiring.md);
 * a gate that can hold is held open for fail = safe. */
static void leave_fail_state(struct core *c)
{
	struct wk_command cmd = { .type = WK_CMD_HOLD, .value = 1 };

	if (c->conf == NULL || c->pl == NULL)
		return;
	for (size_t i = 0; i < c->conf->n_lanes; i++) {
		const struct conf_lane *cl = &c->conf->lanes[i];

		if (cl->gate < 0)
			continue;
		if (cl->fail_safe &&
		    (plug_provides(c->pl, cl->gate) & WK_PROVIDES_HOLD)) {
			cmd.id = ++c->cmd_id;
			plug_command(c->pl, cl->gate, &cmd);
		}
		log_notice("lane %s: stopping with the gate %s (fail = %s)",
			   cl->name, cl->fail_safe ? "open" : "closed",
			   cl->fail_safe ? "safe" : "secure");
		if (c->emergency && !cl->fail_safe)
			log_warn("lane %s: stopping during a fire alarm: its gate closes (fail = secure; a fire exit needs fail = safe)",
				 cl->name);
	}
}

int core_run(struct core *c)
{
	int rc;

	notify_send("READY=1");
	rc = ev_run(c->loop);
	notify_send("STOPPING=1");
	/* attempts waiting for a partner are decided and recorded */
	if (c->conf)
		for (size_t i = 0; i < c->conf->n_lanes; i++)
			lane_flush(&c->lanes[i], ev_wall_ms());
	leave_fail_state(c);
	return rc;
}

void core_free(struct core *c)
{
	if (c == NULL)
		return;
	/* the ledger first: its last completions may still open a gate */
	if (c->loop)
		close_ledger(c);
	close_registry(c);
	rules_free(c->rules);
	c->rules = NULL;
	plug_close(c->pl);
	c->pl = NULL;
	mqtt_free(c->mq);
	c->mq = NULL;
	remote_free(c->remote);
	c->remote = NULL;
	control_close(c->ctl);
	c->ctl = NULL;
	if (c->loop) {
		ev_del_timer(c->loop, c->watchdog_timer);
		ev_del_timer(c->loop, c->lane_timer);
		ev_del_timer(c->loop, c->maintain_timer);
		ev_del_timer(c->loop, c->status_timer);
		ev_del_timer(c->loop, c->report_timer);
		ev_del_timer(c->loop, c->reg_timer);
		if (c->loader.efd >= 0)
			ev_del_fd(c->loop, c->loader.efd);
	}
	kit_free(c);
	if (c->loader.efd >= 0)
		close(c->loader.efd);
	if (c->sigfd >= 0)
		close(c->sigfd);
	ev_free(c->loop);
	conf_free(c->conf);
	free(c->lanes);
	free(c->dev);
	pass_keys_free(c->pass_keys);
	free(c->pending);
	free(c->config_path);
	free(c);
}
