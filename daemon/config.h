/*
 * config: wicketd.conf, an INI file read with inifile.  conf_load() checks
 * everything that does not need a plugin (sections, keys, values, references
 * between sections, device profiles) and reports each error as
 * "file:line: message"; plugins check their own device keys later
 * (plug_open).  docs/configuration.md lists every key.
 */
#ifndef WICKET_CONFIG_H
#define WICKET_CONFIG_H

#include <stddef.h>

#include "inifile.h"
#include "rules.h"

#define CONF_CONTROL_SOCKET "/run/wicket/control.sock"
#define CONF_SOCKET_MAX 108	/* sizeof(sun_path) */

struct conf_device {
	char *name;
	char *plugin;
	const struct wk_conf_item *plugin_item;	/* for errors */
	struct wk_conf wk;	/* section merged over its profile */
	struct wk_conf_item *items;	/* wk.items; pointers into the docs */
};

struct conf_lane {
	char *name;
	const char *file;
	int line;
	char *direction;	/* "in" or "out" */
	int thermal, reader, gate;	/* index into devices, -1 if none */
	const struct wk_conf_item *thermal_item, *reader_item, *gate_item;
	long window_ms;
	unsigned pulse_ms;	/* 0: the gate's own */
	/* the gate kit (issue 6): devices whose door contact, exit button,
	 * override key and lights/buzzer serve this lane, -1 if none */
	int door, exit_button, override, indicator;
	const struct wk_conf_item *door_item, *exit_button_item,
		*override_item, *indicator_item, *fail_item;
	int fail_safe;		/* fail = safe: the gate open while wicketd
				 * is not driving it; else secure: closed */
	long door_held_ms;	/* door open longer: door_held */
	long door_grant_ms;	/* a granted opening may start this late */
};

enum conf_mqtt_protocol {
	CONF_MQTT_AUTO,		/* MQTT 5, falling back to 3.1.1 */
	CONF_MQTT_V5,
	CONF_MQTT_V311,
};

struct conf_mqtt {
	int enabled;
	char *host;
	int port;
	char *client_id;
	int keepalive;
	long reconnect_min_ms;
	long reconnect_max_ms;
	/* TLS: on with tls = yes, or when ca_file is set and tls is not */
	int tls;
	char *ca_file;		/* NULL with tls on: the system's CA store */
	char *cert_file;	/* client certificate and its key: both or */
	char *key_file;		/* neither */
	char tls_version[8];	/* the minimum: "tlsv1.2" or "tlsv1.3" */
	char *username;		/* NULL: none */
	char *password;		/* first line of password_file; never logged */
	enum conf_mqtt_protocol protocol;
	int clean_session;
	long session_expiry;	/* seconds; MQTT 5 with clean_session = no */
};

struct conf_ledger {
	long retention_days;
	long outbox_max_events;
	long outbox_max_age_days;
	long memory_queue;
	int report_minute;	/* minutes after local midnight */
};

/* [admin]: signed remote updates over MQTT (docs/admin.md); off without
 * the section */
struct conf_admin {
	int enabled;
	char *keys;		/* the admin keys file */
};

/* [passes]: signed QR passes (docs/passes.md) */
struct conf_passes {
	char *issuers;		/* the issuer keys file, NULL: no passes */
};

struct conf_privacy {
	char *key_file;		/* NULL: state_dir/privacy.key, made if missing */
	int publish_credential;
	int publish_temperature;
};

struct conf {
	char *file;
	char *site;
	char *gate;
	char *state_dir;
	char *plugin_dir;
	char *profile_dir;
	char *rules;		/* the rules file */
	enum rules_mode mode;	/* the gate's mode at start */
	char *control_socket;	/* NULL: none */
	char *control_group;	/* NULL: only root and wicketd's own group */
	int log_level;
	struct conf_mqtt mqtt;
	struct conf_ledger ledger;
	struct conf_privacy privacy;
	struct conf_admin admin;
	struct conf_passes passes;
	size_t n_devices;
	struct conf_device *devices;
	size_t n_lanes;
	struct conf_lane *lanes;
	/* the parsed files, which items point into */
	size_t n_docs;
	struct ini_doc **docs;
};

typedef void (*conf_error_fn)(void *ctx, const char *file, int line,
			      const char *msg);

/* Returns 0 with *out set, or the number of errors (> 0) after reporting
 * each, or -errno; *out is NULL unless 0 is returned. */
int conf_load(const char *path, struct conf **out, conf_error_fn err,
	      void *ctx);
void conf_free(struct conf *c);

int conf_find_device(const struct conf *c, const char *name);

#endif
