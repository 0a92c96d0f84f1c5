/*
 * wicket plugin ABI.
 *
 * A plugin is a shared object that exports one descriptor, `wicket_plugin`
 * (struct wk_plugin).  The daemon dlopen()s it, checks abi_major against its
 * own WICKET_ABI_MAJOR and refuses a mismatch with a message naming both.
 * A minor bump only appends fields or uses reserved slots, so a plugin built
 * for an older minor keeps working.
 *
 * One config section `[device NAME]` is one plugin instance.  Plugins never
 * see SQLite, MQTT or the rules: they report events through the host API
 * table (emit) and take commands (command).  Plugins do not link against
 * daemon symbols; everything they need from the host is in wk_host_api.
 *
 * Threads: create() and destroy() run on the daemon's loop thread.  A plugin
 * may run its own threads between start() and stop(); host->emit() and
 * host->log() may be called from any of them.  command() and health() are
 * called on the loop thread and must not block.
 *
 * ABI history: 1.0 first; 1.1 adds wk_plugin.health (in a former reserved
 * slot, so the struct keeps its size); 1.2 adds wk_health.heartbeat_ms and
 * heartbeat_max_ms (in former reserved slots; the same size on 64-bit
 * hosts) for the systemd watchdog; 1.3 adds the gate kit's inputs and
 * outputs (WK_EV_INPUT, WK_CMD_HOLD, WK_CMD_INDICATE, in unions over
 * reserved slots, so no struct changes size), credentials longer than
 * WK_CREDENTIAL_MAX (wk_host_api.emit_code) and per-instance capabilities
 * (wk_plugin.instance_provides).
 *
 * Keys the host adds to an instance's configuration (ABI 1.3): a device
 * that is a lane's gate gets `fail = safe|secure` from that lane (what the
 * gate must be while wicketd is not driving it: safe = open, secure =
 * closed; wicketd.conf(5)), with the lane key's file and line.  A plugin
 * that does not use it must accept and ignore it.
 */
#ifndef WICKET_PLUGIN_H
#define WICKET_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define WICKET_ABI_MAJOR 1
#define WICKET_ABI_MINOR 3
#define WICKET_PLUGIN_SYMBOL "wicket_plugin"

#ifdef __GNUC__
#define WK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define WK_PRINTF(a, b)
#endif

/* syslog priorities, so the host can hand them to the journal as they are */
enum wk_log_level {
	WK_LOG_ERR = 3,
	WK_LOG_WARNING = 4,
	WK_LOG_NOTICE = 5,
	WK_LOG_INFO = 6,
	WK_LOG_DEBUG = 7,
};

/* One `key = value` of an instance's configuration and where it was written
 * (the device section itself or the profile file it names). */
struct wk_conf_item {
	const char *key;
	const char *value;
	const char *file;
	int line;
};

/* The configuration of one instance: its section, merged over its profile.
 * Keys the host consumes itself (plugin, profile) are not in items. */
struct wk_conf {
	const char *name;	/* NAME of [device NAME] */
	const char *file;	/* where the section starts */
	int line;
	size_t n_items;
	const struct wk_conf_item *items;
};

/* What a device reports.  Every event carries the instance it came from
 * (added by the host) and a wall-clock time in milliseconds. */
enum wk_event_type {
	WK_EV_TEMPERATURE = 1,	/* temperature_c, seq */
	WK_EV_CREDENTIAL = 2,	/* credential, seq */
	WK_EV_DEVICE_FAULT = 3,	/* message: why; sent once per fault spell */
	WK_EV_DEVICE_OK = 4,	/* message: "connected", "recovered" ... */
	WK_EV_GATE_STATE = 5,	/* gate_open */
	WK_EV_INPUT = 6,	/* ABI 1.3: input.role, input.active, input.initial */
};

/* ABI 1.3: what an input of the gate kit is for.  The host decides what
 * an input means for the lanes (wicketd.conf(5), [lane] door = ...). */
enum wk_input_role {
	WK_INPUT_DOOR = 1,	/* door contact: active = the door is open */
	WK_INPUT_EXIT_BUTTON = 2,	/* request to exit: active = pressed */
	WK_INPUT_FIRE_ALARM = 3,	/* fire panel: active = alarm */
	WK_INPUT_OVERRIDE = 4,	/* guard's key switch: active = turned */
};

#define WK_CREDENTIAL_MAX 64
#define WK_MESSAGE_MAX 160

struct wk_event {
	uint32_t type;		/* enum wk_event_type */
	uint32_t seq;		/* the device's own sequence, if it has one */
	int64_t time_ms;	/* CLOCK_REALTIME, milliseconds */
	double temperature_c;
	int gate_open;
	char credential[WK_CREDENTIAL_MAX];
	char message[WK_MESSAGE_MAX];
	union {
		void *reserved[4];
		/* WK_EV_INPUT (ABI 1.3): a debounced change of an input, in
		 * logical terms (active_low already applied).  initial: the
		 * level found at start (or after the line came back), not a
		 * change; sent once per input so the host knows where it
		 * stands. */
		struct {
			uint32_t role;	/* enum wk_input_role */
			int32_t active;	/* 1 active, 0 inactive */
			int32_t initial;
		} input;
	};
};

enum wk_command_type {
	WK_CMD_OPEN = 1,	/* open the gate once: pulse_ms, 0 = configured */
	/* ABI 1.3: hold the gate open (value 1) until told value 0, which
	 * closes it (or lets a running pulse end).  The fire alarm's
	 * emergency open and a clean stop of a fail-safe lane use it. */
	WK_CMD_HOLD = 2,
	/* ABI 1.3: show a pattern on the lights and buzzer: value is an
	 * enum wk_indication; a new one replaces the one running. */
	WK_CMD_INDICATE = 3,
};

/* ABI 1.3: light and buzzer patterns (docs/wiring.md describes each). */
enum wk_indication {
	WK_IND_OFF = 0,		/* everything off */
	WK_IND_ALLOW = 1,	/* passage allowed */
	WK_IND_DENY = 2,	/* passage denied */
	WK_IND_RETEST = 3,	/* measure the temperature again */
	WK_IND_ALARM = 4,	/* an alarm: fever, door forced, fire ... */
};

struct wk_command {
	uint32_t type;		/* enum wk_command_type */
	uint32_t pulse_ms;
	uint64_t id;		/* the host's, echoed in logs */
	union {
		void *reserved[4];
		uint32_t value;	/* WK_CMD_HOLD, WK_CMD_INDICATE (ABI 1.3) */
	};
};

/* A device's health as the plugin sees it (ABI 1.1): counters since
 * start(), for the retained status and wicketctl.  Counts that do not apply
 * to a device stay 0. */
enum wk_health_state {
	WK_HEALTH_UNKNOWN = 0,	/* not heard from yet */
	WK_HEALTH_OK = 1,
	WK_HEALTH_FAULT = 2,	/* in a fault spell; retry_ms says when next */
};

struct wk_health {
	uint32_t state;		/* enum wk_health_state */
	uint32_t retry_ms;	/* the current retry gap while in a fault */
	uint64_t requests;	/* requests sent */
	uint64_t responses;	/* good answers */
	uint64_t timeouts;	/* no answer in time */
	uint64_t crc_errors;	/* answers that failed their checksum */
	uint64_t exceptions;	/* the device answered with an error code */
	uint64_t bad_replies;	/* answers that do not answer the request */
	uint64_t bad_values;	/* well-formed answers the plugin refused */
	uint64_t link_errors;	/* cannot connect / open, connection lost */
	uint64_t faults;	/* fault spells started */
	int64_t last_ok_ms;	/* CLOCK_REALTIME of the last good answer, 0 never */
	int64_t last_reading_ms;	/* of the last reading or state reported */
	char last_error[WK_MESSAGE_MAX];	/* "" if none yet */
	/* ABI 1.2: the plugin's worker thread, if it has one.  heartbeat_ms
	 * is the CLOCK_MONOTONIC time (ms) of the worker's last turn, 0 when
	 * there is no worker; the worker turns at least every second when
	 * idle.  heartbeat_max_ms: how old the heartbeat may grow while the
	 * worker is legitimately busy (one request with its timeouts).  An
	 * older heartbeat means the worker is stuck, and wicketd stops
	 * feeding the systemd watchdog. */
	int64_t heartbeat_ms;
	int64_t heartbeat_max_ms;
	void *reserved[2];
};

/* Opaque: the host's record of one plugin instance. */
struct wk_instance;

struct wk_host_api {
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t size;		/* sizeof(struct wk_host_api) of the host */
	void (*log)(struct wk_instance *inst, int level, const char *fmt, ...)
		WK_PRINTF(3, 4);
	/* Report a configuration error as "file:line: device NAME: message",
	 * at the item's line, or at the section's line when item is NULL.
	 * Returns -EINVAL so that callers can `return host->conf_error(...)`. */
	int (*conf_error)(struct wk_instance *inst,
			  const struct wk_conf_item *item, const char *fmt, ...)
		WK_PRINTF(3, 4);
	/* Hand an event to the core: thread-safe, copies *ev, never blocks on
	 * the loop.  Returns 0, or -ENOBUFS when the core's queue is full. */
	int (*emit)(struct wk_instance *inst, const struct wk_event *ev);
	/* ABI 1.3, check size before use: a WK_EV_CREDENTIAL whose credential
	 * is code[0..len) (1..WK_CODE_MAX bytes, no NUL needed; a signed QR
	 * pass is up to 340), ev->credential is ignored.  Thread-safe like
	 * emit.  0, -EMSGSIZE when len is 0 or over WK_CODE_MAX, -ENOBUFS,
	 * -ENOMEM. */
	int (*emit_code)(struct wk_instance *inst, const struct wk_event *ev,
			 const char *code, size_t len);
	void *reserved[7];
};

#define WK_CODE_MAX 1024

/* What a plugin provides, so the core can check a lane's wiring. */
#define WK_PROVIDES_TEMPERATURE 0x1u
#define WK_PROVIDES_CREDENTIAL 0x2u
#define WK_PROVIDES_GATE 0x4u
/* ABI 1.3 */
#define WK_PROVIDES_DOOR 0x8u		/* WK_EV_INPUT, role door */
#define WK_PROVIDES_EXIT_BUTTON 0x10u
#define WK_PROVIDES_FIRE_ALARM 0x20u
#define WK_PROVIDES_OVERRIDE 0x40u
#define WK_PROVIDES_INDICATOR 0x80u	/* WK_CMD_INDICATE */
#define WK_PROVIDES_HOLD 0x100u		/* WK_CMD_HOLD */

struct wk_plugin {
	uint16_t abi_major;	/* WICKET_ABI_MAJOR the plugin was built for */
	uint16_t abi_minor;
	uint32_t size;		/* sizeof(struct wk_plugin) */
	const char *name;
	const char *version;
	const char *description;
	uint32_t provides;	/* WK_PROVIDES_* */
	/* Check conf and build an instance in *state.  Reports every error it
	 * finds through host->conf_error and returns -EINVAL if there was any.
	 * Starts no thread and opens no device: `wicketd -t` calls it too. */
	int (*create)(const struct wk_host_api *host, struct wk_instance *inst,
		      const struct wk_conf *conf, void **state);
	/* Start talking to the device (threads, connections). */
	int (*start)(void *state);
	/* Queue a command; never blocks.  -ENOTSUP if the device has no such
	 * command. */
	int (*command)(void *state, const struct wk_command *cmd);
	/* Stop threads; after it returns the plugin calls no host function. */
	void (*stop)(void *state);
	/* Free the instance; accepts NULL. */
	void (*destroy)(void *state);
	/* ABI 1.1, may be NULL: fill *out (the host zeroed it).  0, or
	 * -ENOTSUP when the instance keeps no health. */
	int (*health)(void *state, struct wk_health *out);
	/* ABI 1.3, may be NULL: what this instance, as configured, provides
	 * (a subset of provides: a gpio device with no door line has no
	 * WK_PROVIDES_DOOR).  Called after create(), on the loop thread.
	 * NULL: everything in provides. */
	uint32_t (*instance_provides)(void *state);
	void *reserved[6];
};

#endif
