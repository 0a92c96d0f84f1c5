/*
 * config: read wicketd.conf into struct conf.
 *
 *   [wicketd]       site, gate, state_dir, plugin_dir, profile_dir, rules,
 *                   mode, log_level, control_socket, control_group
 *   [mqtt]          enabled, host, port, client_id, keepalive,
 *                   reconnect_min_ms, reconnect_max_ms, tls, ca_file,
 *                   cert_file, key_file, tls_version, username,
 *                   password_file, protocol, clean_session, session_expiry
 *   [ledger]        retention_days, report_time, outbox_max_events,
 *                   outbox_max_age_days, memory_queue
 *   [privacy]       key_file, publish_fields
 *   [device NAME]   plugin, profile, then the plugin's own keys
 *   [lane NAME]     direction, thermal, reader, gate, window_ms, pulse_ms,
 *                   fail, door, exit_button, override, indicator,
 *                   door_held_ms, door_grant_ms
 *   [passes]        issuers
 *
 * Who may pass is in the registry (registry.c) and how in the rules file
 * (rules.c); the config only names the rules file and the gate's mode.
 *
 * Every error is reported with its file and line and checking goes on, so
 * one run of `wicketd -t` lists all of the file's own errors.  The device
 * plugins check their keys only once the file itself is clean.  Relative paths are taken from
 * the config file's directory, so a config and its profiles can travel
 * together.
 */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "admin.h"
#include "config.h"
#include "confval.h"
#include "log.h"
#include "pass.h"

struct ctx {
	struct conf *c;
	conf_error_fn err;
	void *ectx;
	int n_errors;
	char *dir;		/* the config file's directory */
};

static void fail(struct ctx *x, const char *file, int line, const char *fmt,
		 ...) WK_PRINTF(4, 5);

static void fail(struct ctx *x, const char *file, int line, const char *fmt,
		 ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->n_errors++;
	if (x->err)
		x->err(x->ectx, file, line, msg);
}

/* inifile counts its own errors; this only passes them on. */
static void ini_err_counted(void *ctx, const char *file, int line,
			    const char *msg)
{
	struct ctx *x = ctx;

	if (x->err)
		x->err(x->ectx, file, line, msg);
}

#define FAIL_AT(x, it, ...) fail((x), (it)->file, (it)->line, __VA_ARGS__)

/* Names used in MQTT topics and section names: no '/', '+', '#', spaces. */
static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

static char *path_from(struct ctx *x, const char *p)
{
	char *out;

	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", x->dir, p) < 0)
		return NULL;
	return out;
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

static void get_long(struct ctx *x, const struct wk_conf_item *it, long min,
		     long max, long *out)
{
	int rc = cv_long(it->value, min, max, out);

	if (rc == -EINVAL)
		FAIL_AT(x, it, "%s: '%s' is not a whole number", it->key,
			it->value);
	else if (rc < 0)
		FAIL_AT(x, it, "%s: %s is out of range %ld..%ld", it->key,
			it->value, min, max);
}

static void unknown_key(struct ctx *x, const struct ini_section *s,
			const struct wk_conf_item *it)
{
	FAIL_AT(x, it, "unknown key '%s' in [%s]", it->key, s->name);
}

static void parse_wicketd(struct ctx *x, const struct ini_section *s)
{
	struct conf *c = x->c;

	for (size_t i = 0; i < s->n_items; i++) {
		const struct wk_conf_item *it = &s->items[i];

		if (strcmp(it->key, "site") == 0 || strcmp(it->key, "gate") == 0) {
			if (!valid_name(it->value))
				FAIL_AT(x, it,
					"%s: '%s' must be 1-32 of a-z A-Z 0-9 - _ (it is part of MQTT topics)",
					it->key, it->value);
			else if (it->key[0] == 'g' && strcmp(it->value, "all") == 0)
				FAIL_AT(x, it,
					"gate: 'all' is reserved: wicket/SITE/all/ topics address every gate of a site");
			set_str(it->key[0] == 's' ? &c->site : &c->gate,
				it->value);
		} else if (strcmp(it->key, "state_dir") == 0) {
			free(c->state_dir);
			c->state_dir = path_from(x, it->value);
		} else if (strcmp(it->key, "plugin_dir") == 0) {
			free(c->plugin_dir);
			c->plugin_dir = path_from(x, it->value);
		} else if (strcmp(it->key, "profile_dir") == 0) {
			free(c->profile_dir);
			c->profile_dir = path_from(x, it->value);
		} else if (strcmp(it->key, "rules") == 0) {
			free(c->rules);
			c->rules = path_from(x, it->value);
		} else if (strcmp(it->key, "mode") == 0) {
			int m = rules_mode_parse(it->value);

			if (m < 0)
				FAIL_AT(x, it,
					"mode: '%s' is not one of normal, residents-only, lockdown, open",
					it->value);
			else
				c->mode = (enum rules_mode)m;
		} else if (strcmp(it->key, "control_socket") == 0) {
			free(c->control_socket);
			c->control_socket = NULL;
			if (strcmp(it->value, "none") == 0)
				continue;
			c->control_socket = path_from(x, it->value);
			if (c->control_socket &&
			    strlen(c->control_socket) >= CONF_SOCKET_MAX)
				FAIL_AT(x, it,
					"control_socket: the path is longer than %d bytes, the most a UNIX socket takes",
					CONF_SOCKET_MAX - 1);
		} else if (strcmp(it->key, "control_group") == 0) {
			if (getgrnam(it->value) == NULL)
				FAIL_AT(x, it, "control_group: no group '%s' on this system",
					it->value);
			else
				set_str(&c->control_group, it->value);
		} else if (strcmp(it->key, "log_level") == 0) {
			if (log_parse_level(it->value, &c->log_level) < 0)
				FAIL_AT(x, it,
					"log_level: '%s' is not one of err, warning, notice, info, debug",
					it->value);
		} else {
			unknown_key(x, s, it);
		}
	}
	if (c->site == NULL)
		fail(x, s->file, s->line, "[wicketd]: missing key 'site'");
	if (c->gate == NULL)
		fail(x, s->file, s->line, "[wicketd]: missing key 'gate'");
}

/* Free a string that held a secret. */
static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* A file named in [mqtt]: checked now, so that a typo is an error at its
 * line and not a failed connection later.  NULL after reporting. */
static char *mqtt_file(struct ctx *x, const struct wk_conf_item *it)
{
	struct stat st;
	char *p;

	if (it->value[0] == '\0') {
		FAIL_AT(x, it, "%s: empty", it->key);
		return NULL;
	}
	p = path_from(x, it->value);
	if (p == NULL)
		return NULL;
	if (access(p, R_OK) < 0 || stat(p, &st) < 0) {
		FAIL_AT(x, it, "%s: cannot read %s: %s", it->key, p,
			strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		FAIL_AT(x, it, "%s: %s is not a file", it->key, p);
	} else {
		return p;
	}
	free(p);
	return NULL;
}

/* The password is the first line of the file, without its line end.  The
 * file is read unbuffered so that no stdio buffer keeps a copy. */
static void read_password(struct ctx *x, const struct wk_conf_item *it,
			  char **out)
{
	char *path = mqtt_file(x, it), *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int e;

	if (path == NULL)
		return;
	f = fopen(path, "re");
	if (f == NULL) {
		FAIL_AT(x, it, "password_file: cannot read %s: %s", path,
			strerror(errno));
		free(path);
		return;
	}
	setvbuf(f, NULL, _IONBF, 0);
	errno = 0;
	n = getline(&line, &cap, f);
	e = errno;
	fclose(f);
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (n < 0 && e != 0)
		FAIL_AT(x, it, "password_file: cannot read %s: %s", path,
			strerror(e));
	else if (n <= 0)
		FAIL_AT(x, it, "password_file: %s is empty (the password is its first line)",
			path);
	else if (n > 65535)
		FAIL_AT(x, it, "password_file: the password in %s is longer than 65535 bytes",
			path);
	else {
		free_secret(*out);
		*out = strdup(line);
	}
	if (line) {
		explicit_bzero(line, cap);
		free(line);
	}
	free(path);
}

static void parse_mqtt(struct ctx *x, const struct ini_section *s)
{
	struct conf_mqtt *m = &x->c->mqtt;
	const struct wk_conf_item *port = NULL, *cert = NULL, *key = NULL,
		*pw = NULL, *expiry = NULL;
	long v;

	for (size_t i = 0; i < s->n_items; i++) {
		const struct wk_conf_item *it = &s->items[i];

		if (strcmp(it->key, "enabled") == 0) {
			if (cv_bool(it->value, &m->enabled) < 0)
				FAIL_AT(x, it, "enabled: '%s' is not yes or no",
					it->value);
		} else if (strcmp(it->key, "host") == 0) {
			if (it->value[0] == '\0')
				FAIL_AT(x, it, "host: empty");
			set_str(&m->host, it->value);
		} else if (strcmp(it->key, "port") == 0) {
			port = it;
			v = m->port;
			get_long(x, it, 1, 65535, &v);
			m->port = (int)v;
		} else if (strcmp(it->key, "client_id") == 0) {
			if (it->value[0] == '\0' || strlen(it->value) > 64)
				FAIL_AT(x, it, "client_id: must be 1-64 characters");
			set_str(&m->client_id, it->value);
		} else if (strcmp(it->key, "keepalive") == 0) {
			v = m->keepalive;
			get_long(x, it, 5, 3600, &v);
			m->keepalive = (int)v;
		} else if (strcmp(it->key, "reconnect_min_ms") == 0) {
			get_long(x, it, 100, 600000, &m->reconnect_min_ms);
		} else if (strcmp(it->key, "reconnect_max_ms") == 0) {
			get_long(x, it, 100, 3600000, &m->reconnect_max_ms);
		} else if (strcmp(it->key, "tls") == 0) {
			if (cv_bool(it->value, &m->tls) < 0)
				FAIL_AT(x, it, "tls: '%s' is not yes or no",
					it->value);
		} else if (strcmp(it->key, "ca_file") == 0) {
			free(m->ca_file);
			m->ca_file = mqtt_file(x, it);
		} else if (strcmp(it->key, "cert_file") == 0) {
			cert = it;
			free(m->cert_file);
			m->cert_file = mqtt_file(x, it);
		} else if (strcmp(it->key, "key_file") == 0) {
			key = it;
			free(m->key_file);
			m->key_file = mqtt_file(x, it);
		} else if (strcmp(it->key, "tls_version") == 0) {
			if (strcmp(it->value, "tlsv1.2") != 0 &&
			    strcmp(it->value, "tlsv1.3") != 0)
				FAIL_AT(x, it, "tls_version: '%s' is not tlsv1.2 or tlsv1.3",
					it->value);
			else
				snprintf(m->tls_version, sizeof(m->tls_version),
					 "%s", it->value);
		} else if (strcmp(it->key, "username") == 0) {
			if (it->value[0] == '\0')
				FAIL_AT(x, it, "username: empty");
			set_str(&m->username, it->value);
		} else if (strcmp(it->key, "password_file") == 0) {
			pw = it;
			read_password(x, it, &m->password);
		} else if (strcmp(it->key, "protocol") == 0) {
			if (strcmp(it->value, "auto") == 0)
				m->protocol = CONF_MQTT_AUTO;
			else if (strcmp(it->value, "5") == 0)
				m->protocol = CONF_MQTT_V5;
			else if (strcmp(it->value, "3.1.1") == 0)
				m->protocol = CONF_MQTT_V311;
			else
				FAIL_AT(x, it, "protocol: '%s' is not auto, 5 or 3.1.1",
					it->value);
		} else if (strcmp(it->key, "clean_session") == 0) {
			if (cv_bool(it->value, &m->clean_session) < 0)
				FAIL_AT(x, it, "clean_session: '%s' is not yes or no",
					it->value);
		} else if (strcmp(it->key, "session_expiry") == 0) {
			expiry = it;
			get_long(x, it, 1, 2147483647, &m->session_expiry);
		} else {
			unknown_key(x, s, it);
		}
	}
	if (m->enabled && m->host == NULL)
		fail(x, s->file, s->line, "[mqtt]: missing key 'host'");
	if (m->reconnect_max_ms < m->reconnect_min_ms)
		fail(x, s->file, s->line,
		     "[mqtt]: reconnect_max_ms (%ld) is less than reconnect_min_ms (%ld)",
		     m->reconnect_max_ms, m->reconnect_min_ms);
	if (cert && !key)
		FAIL_AT(x, cert, "cert_file: needs key_file too (the client certificate's private key)");
	if (key && !cert)
		FAIL_AT(x, key, "key_file: needs cert_file too (the client certificate)");
	if (pw && m->username == NULL)
		FAIL_AT(x, pw, "password_file: needs username too");
	if (expiry && m->clean_session)
		FAIL_AT(x, expiry, "session_expiry: only with clean_session = no");
	if (m->tls < 0)
		m->tls = m->ca_file != NULL || m->cert_file != NULL;
	if (m->tls && port == NULL)
		m->port = 8883;
}

static void parse_ledger(struct ctx *x, const struct ini_section *s)
{
	struct conf_ledger *l = &x->c->ledger;

	for (size_t i = 0; i < s->n_items; i++) {
		const struct wk_conf_item *it = &s->items[i];
		int h, m, n = 0;

		if (strcmp(it->key, "retention_days") == 0) {
			get_long(x, it, 1, 3650, &l->retention_days);
		} else if (strcmp(it->key, "outbox_max_events") == 0) {
			get_long(x, it, 100, 100000000, &l->outbox_max_events);
		} else if (strcmp(it->key, "outbox_max_age_days") == 0) {
			get_long(x, it, 1, 3650, &l->outbox_max_age_days);
		} else if (strcmp(it->key, "memory_queue") == 0) {
			get_long(x, it, 100, 1000000, &l->memory_queue);
		} else if (strcmp(it->key, "report_time") == 0) {
			if (sscanf(it->value, "%2d:%2d%n", &h, &m, &n) != 2 ||
			    it->value[n] != '\0' || h < 0 || h > 23 || m < 0 ||
			    m > 59)
				FAIL_AT(x, it, "report_time: '%s' is not HH:MM (00:00..23:59)",
					it->value);
			else
				l->report_minute = h * 60 + m;
		} else {
			unknown_key(x, s, it);
		}
	}
	if (l->outbox_max_age_days > l->retention_days)
		fail(x, s->file, s->line,
		     "[ledger]: outbox_max_age_days (%ld) is longer than retention_days (%ld)",
		     l->outbox_max_age_days, l->retention_days);
}

/* [admin]: remote administration over MQTT; the keys file is checked
 * now, so a bad line is a config error at its own line. */
static void parse_admin(struct ctx *x, const struct ini_section *s)
{
	struct conf_admin *a = &x->c->admin;
	const struct wk_conf_item *keys_item = NULL;

	a->enabled = 1;
	for (size_t i = 0; i < s->n_items; i++) {
		const struct wk_conf_item *it = &s->items[i];

		if (strcmp(it->key, "keys") == 0) {
			free(a->keys);
			a->keys = path_from(x, it->value);
			keys_item = it;
		} else if (strcmp(it->key, "enabled") == 0) {
			if (cv_bool(it->value, &a->enabled) < 0)
				FAIL_AT(x, it, "enabled: '%s' is not yes or no",
					it->value);
		} else {
			unknown_key(x, s, it);
		}
	}
	if (a->keys == NULL)
		a->keys = strdup(WICKET_SYSCONFDIR "/wicket/admin-keys");
	if (a->enabled && a->keys) {
		struct admin_keys *k;
		char err[512];

		if (admin_keys_load(a->keys, &k, err, sizeof(err)) < 0) {
			if (keys_item)
				FAIL_AT(x, keys_item, "keys: %s", err);
			else
				fail(x, s->file, s->line, "[admin]: %s", err);
		} else {
			if (admin_keys_count(k) == 0)
				fail(x, s->file, s->line,
				     "[admin]: %s holds no key: every update would be refused",
				     a->keys);
			admin_keys_free(k);
		}
	}
}

static void parse_privacy(struct ctx *x, const struct ini_section *s)
{
	struct conf_privacy *p = &x->c->privacy;

	for (size_t i = 0; i < s->n_items; i++) {
		const struct wk_conf_item *it = &s->items[i];

		if (strcmp(it->key, "key_file") == 0) {
			free(p->key_file);
			p->key_file = path_from(x, it->value);
		} else if (strcmp(it->key, "publish_fields") == 0) {
			const char *v = it->value;

			/* a list: words separated by commas or blanks */
			while (*v) {
				size_t n;

				v += strspn(v, ", \t");
				n = strcspn(v, ", \t");
				if (n == 0)
					break;
				if (n == 10 && strncmp(v, "credential", n) == 0)
					p->publish_credential = 1;
				else if (n == 11 && strncmp(v, "temperature", n) == 0)
					p->publish_temperature = 1;
				else if (!(n == 4 && strncmp(v, "none", n) == 0))
					FAIL_AT(x, it,
						"publish_fields: '%.*s' is not one of credential, temperature, none",
						(int)n, v);
				v += n;
			}
		} else {
			unknown_key(x, s, it);
		}
	}
}

static int add_item(struct conf_device *d, const struct wk_conf_item *it)
{
	struct wk_conf_item *n;

	/* a key of the section overrides the same key of the profile */
	for (size_t i = 0; i < d->wk.n_items; i++) {
		if (strcmp(d->items[i].key, it->key) == 0) {
			d->items[i] = *it;
			return 0;
		}
	}
	n = realloc(d->items, (d->wk.n_items + 1) * sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	d->items = n;
	d->items[d->wk.n_items++] = *it;
	d->wk.items = d->items;
	return 0;
}

static int keep_doc(struct conf *c, struct ini_doc *doc)
{
	struct ini_doc **n = realloc(c->docs, (c->n_docs + 1) * sizeof(*n));

	if (n == NULL) {
		ini_free(doc);
		return -ENOMEM;
	}
	c->docs = n;
	c->docs[c->n_docs++] = doc;
	return 0;
}

static void load_profile(struct ctx *x, struct conf_device *d,
			 const struct wk_conf_item *it)
{
	struct ini_doc *doc;
	char *path;
	int n = 0, rc;

	for (const char *p = it->value; *p; p++)
		if (*p == '/') {
			FAIL_AT(x, it, "profile: '%s' is a name, not a path (profiles live in profile_dir)",
				it->value);
			return;
		}
	if (it->value[0] == '\0' || it->value[0] == '.') {
		FAIL_AT(x, it, "profile: '%s' is not a profile name", it->value);
		return;
	}
	if (asprintf(&path, "%s/%s.conf", x->c->profile_dir, it->value) < 0)
		return;
	if (access(path, R_OK) < 0) {
		FAIL_AT(x, it, "profile '%s': cannot read %s: %s", it->value,
			path, strerror(errno));
		free(path);
		return;
	}
	rc = ini_load(path, &doc, ini_err_counted, x, &n);
	free(path);
	x->n_errors += n;
	if (rc < 0)
		return;
	if (keep_doc(x->c, doc) < 0)
		return;
	for (size_t i = 0; i < doc->n_sections; i++) {
		const struct ini_section *s = &doc->sections[i];

		if (s->name[0] != '\0' && strcmp(s->name, "profile") != 0) {
			fail(x, s->file, s->line,
			     "profile: unexpected section [%s] (a profile is plain key = value lines)",
			     s->name);
			continue;
		}
		for (size_t j = 0; j < s->n_items; j++) {
			if (strcmp(s->items[j].key, "fail") == 0)
				FAIL_AT(x, &s->items[j],
					"fail: a lane's matter, not a profile's (fail = safe or secure in [lane])");
			else
				add_item(d, &s->items[j]);
		}
	}
}

static void parse_device(struct ctx *x, const struct ini_section *s,
			 const char *name)
{
	struct conf *c = x->c;
	struct conf_device *d;
	const struct wk_conf_item *prof = ini_get(s, "profile");

	d = realloc(c->devices, (c->n_devices + 1) * sizeof(*d));
	if (d == NULL)
		return;
	c->devices = d;
	d = &c->devices[c->n_devices++];
	memset(d, 0, sizeof(*d));
	d->name = strdup(name);
	d->wk.name = d->name;
	d->wk.file = s->file;
	d->wk.line = s->line;
	if (prof)
		load_profile(x, d, prof);
	for (size_t i = 0; i < s->n_items; i++) {
		const struct wk_conf_item *it = &s->items[i];

		if (strcmp(it->key, "fail") == 0) {
			FAIL_AT(x, it,
				"fail: say it in the [lane] whose gate this device is (fail = safe or secure)");
		} else if (strcmp(it->key, "plugin") == 0) {
			d->plugin_item = it;
			if (!valid_name(it->value))
				FAIL_AT(x, it, "plugin: '%s' is not a plugin name",
					it->value);
			set_str(&d->plugin, it->value);
		} else if (strcmp(it->key, "profile") != 0) {
			add_item(d, it);
		}
	}
	if (d->plugin == NULL)
		fail(x, s->file, s->line, "[device %s]: missing key 'plugin'",
		     name);
}

static void lane_ref(struct ctx *x, const struct wk_conf_item *it, int *idx)
{
	*idx = conf_find_device(x->c, it->value);
	if (*idx < 0)
		FAIL_AT(x, it, "%s: no section [device %s]", it->key, it->value);
}

static void parse_lane(struct ctx *x, const struct ini_section *s,
		       const char *name)
{
	struct conf *c = x->c;
	struct conf_lane *l;
	long v;

	l = realloc(c->lanes, (c->n_lanes + 1) * sizeof(*l));
	if (l == NULL)
		return;
	c->lanes = l;
	l = &c->lanes[c->n_lanes++];
	memset(l, 0, sizeof(*l));
	l->name = strdup(name);
	l->file = s->file;
	l->line = s->line;
	l->thermal = l->reader = l->gate = -1;
	l->door = l->exit_button = l->override = l->indicator = -1;
	l->window_ms = 5000;
	l->door_held_ms = 30000;
	l->door_grant_ms = 10000;
	set_str(&l->direction, "in");
	for (size_t i = 0; i < s->n_items; i++) {
		const struct wk_conf_item *it = &s->items[i];

		if (strcmp(it->key, "direction") == 0) {
			if (strcmp(it->value, "in") != 0 &&
			    strcmp(it->value, "out") != 0)
				FAIL_AT(x, it, "direction: '%s' is not in or out",
					it->value);
			set_str(&l->direction, it->value);
		} else if (strcmp(it->key, "thermal") == 0) {
			l->thermal_item = it;
			lane_ref(x, it, &l->thermal);
		} else if (strcmp(it->key, "reader") == 0) {
			l->reader_item = it;
			lane_ref(x, it, &l->reader);
		} else if (strcmp(it->key, "gate") == 0) {
			l->gate_item = it;
			lane_ref(x, it, &l->gate);
		} else if (strcmp(it->key, "window_ms") == 0) {
			get_long(x, it, 100, 60000, &l->window_ms);
		} else if (strcmp(it->key, "fever_threshold") == 0) {
			FAIL_AT(x, it,
				"fever_threshold: the fever threshold is a condition of the rules file now (see 'rules' in [wicketd] and docs/rules.md)");
		} else if (strcmp(it->key, "pulse_ms") == 0) {
			v = 0;
			get_long(x, it, 10, 60000, &v);
			l->pulse_ms = (unsigned)v;
		} else if (strcmp(it->key, "fail") == 0) {
			if (strcmp(it->value, "safe") != 0 &&
			    strcmp(it->value, "secure") != 0)
				FAIL_AT(x, it,
					"fail: '%s' is not safe (the gate open while wicketd is not running) or secure (closed)",
					it->value);
			l->fail_safe = strcmp(it->value, "safe") == 0;
			l->fail_item = it;
		} else if (strcmp(it->key, "door") == 0) {
			l->door_item = it;
			lane_ref(x, it, &l->door);
		} else if (strcmp(it->key, "exit_button") == 0) {
			l->exit_button_item = it;
			lane_ref(x, it, &l->exit_button);
		} else if (strcmp(it->key, "override") == 0) {
			l->override_item = it;
			lane_ref(x, it, &l->override);
		} else if (strcmp(it->key, "indicator") == 0) {
			l->indicator_item = it;
			lane_ref(x, it, &l->indicator);
		} else if (strcmp(it->key, "door_held_ms") == 0) {
			get_long(x, it, 1000, 3600000, &l->door_held_ms);
		} else if (strcmp(it->key, "door_grant_ms") == 0) {
			get_long(x, it, 100, 600000, &l->door_grant_ms);
		} else {
			unknown_key(x, s, it);
		}
	}
	if (l->thermal_item == NULL && l->reader_item == NULL &&
	    l->exit_button_item == NULL && l->override_item == NULL)
		fail(x, s->file, s->line,
		     "[lane %s]: needs a thermal sensor, a reader, an exit button or an override key",
		     name);
	if (l->exit_button_item && l->gate_item == NULL)
		FAIL_AT(x, l->exit_button_item,
			"exit_button: lane %s has no gate for it to open", name);
	if (l->override_item && l->gate_item == NULL)
		FAIL_AT(x, l->override_item,
			"override: lane %s has no gate for it to open", name);
	if (l->fail_item && l->gate_item == NULL)
		FAIL_AT(x, l->fail_item,
			"fail: lane %s has no gate to leave %s", name,
			l->fail_safe ? "open" : "closed");
}

/* Lanes that share a gate must agree on its fail state; the gate device
 * gets the lanes' `fail` as an item of its own (plugin.h, ABI 1.3). */
static void lane_fail_to_gates(struct ctx *x)
{
	struct conf *c = x->c;

	for (size_t i = 0; i < c->n_lanes; i++) {
		const struct conf_lane *l = &c->lanes[i];

		if (l->gate < 0)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct conf_lane *o = &c->lanes[j];

			if (o->gate == l->gate && o->fail_safe != l->fail_safe)
				fail(x, l->fail_item ? l->fail_item->file : l->file,
				     l->fail_item ? l->fail_item->line : l->line,
				     "fail: lanes %s and %s share gate %s but not its fail state (%s, %s)",
				     o->name, l->name, c->devices[l->gate].name,
				     o->fail_safe ? "safe" : "secure",
				     l->fail_safe ? "safe" : "secure");
		}
		if (l->fail_item)
			add_item(&c->devices[l->gate], l->fail_item);
	}
}

static void parse_passes(struct ctx *x, const struct ini_section *s)
{
	struct conf_passes *p = &x->c->passes;

	for (size_t i = 0; i < s->n_items; i++) {
		const struct wk_conf_item *it = &s->items[i];
		struct pass_keys *k;
		char err[512];

		if (strcmp(it->key, "issuers") != 0) {
			unknown_key(x, s, it);
			continue;
		}
		free(p->issuers);
		p->issuers = path_from(x, it->value);
		if (p->issuers == NULL)
			continue;
		if (pass_keys_load(p->issuers, &k, err, sizeof(err)) < 0) {
			FAIL_AT(x, it, "issuers: %s", err);
			continue;
		}
		if (pass_keys_count(k) == 0)
			FAIL_AT(x, it,
				"issuers: %s holds no key: every pass would be refused",
				p->issuers);
		pass_keys_free(k);
	}
}

/* "device NAME" -> NAME if the word matches, else NULL */
static const char *named(const char *section, const char *kind)
{
	size_t n = strlen(kind);

	if (strncmp(section, kind, n) != 0 || section[n] != ' ')
		return NULL;
	section += n;
	while (*section == ' ')
		section++;
	return section;
}

static int set_defaults(struct ctx *x, const char *path)
{
	struct conf *c = x->c;
	char *copy = strdup(path);

	if (copy == NULL)
		return -ENOMEM;
	x->dir = strdup(dirname(copy));
	free(copy);
	c->file = strdup(path);
	c->state_dir = strdup(WICKET_STATEDIR);
	c->plugin_dir = strdup(WICKET_PLUGINDIR);
	c->profile_dir = strdup(WICKET_SYSCONFDIR "/wicket/profiles");
	c->rules = strdup(WICKET_SYSCONFDIR "/wicket/rules.json");
	c->control_socket = strdup(CONF_CONTROL_SOCKET);
	c->mode = RULES_MODE_NORMAL;
	c->log_level = WK_LOG_INFO;
	c->mqtt.enabled = 1;
	c->mqtt.port = 1883;
	c->mqtt.keepalive = 30;
	c->mqtt.reconnect_min_ms = 500;
	c->mqtt.reconnect_max_ms = 30000;
	c->mqtt.tls = -1;	/* not given: on if ca_file or cert_file is */
	snprintf(c->mqtt.tls_version, sizeof(c->mqtt.tls_version), "tlsv1.2");
	c->mqtt.protocol = CONF_MQTT_AUTO;
	c->mqtt.clean_session = 1;
	c->mqtt.session_expiry = 86400;
	c->ledger.retention_days = 90;
	c->ledger.outbox_max_events = 1000000;
	c->ledger.outbox_max_age_days = 30;
	c->ledger.memory_queue = 10000;
	c->ledger.report_minute = 6 * 60;
	if (x->dir == NULL || c->file == NULL || c->state_dir == NULL ||
	    c->plugin_dir == NULL || c->profile_dir == NULL || c->rules == NULL ||
	    c->control_socket == NULL)
		return -ENOMEM;
	return 0;
}

int conf_load(const char *path, struct conf **out, conf_error_fn err,
	      void *ctx)
{
	struct ctx x = { .err = err, .ectx = ctx };
	struct ini_doc *doc;
	const struct ini_section *s;
	int rc, n_ini = 0;

	*out = NULL;
	x.c = calloc(1, sizeof(*x.c));
	if (x.c == NULL)
		return -ENOMEM;
	rc = set_defaults(&x, path);
	if (rc < 0)
		goto out;
	rc = ini_load(path, &doc, ini_err_counted, &x, &n_ini);
	if (rc < 0) {
		/* ini_load reported it: "FILE:0: cannot open: ..." */
		goto out;
	}
	x.n_errors += n_ini;
	rc = keep_doc(x.c, doc);
	if (rc < 0)
		goto out;

	/* [wicketd] first: profile_dir and friends are needed below */
	s = ini_find(doc, "wicketd");
	if (s)
		parse_wicketd(&x, s);
	else
		fail(&x, path, doc->n_lines ? doc->n_lines : 1,
		     "missing section [wicketd] (site and gate are required)");
	s = ini_find(doc, "mqtt");
	if (s)
		parse_mqtt(&x, s);
	else
		fail(&x, path, doc->n_lines ? doc->n_lines : 1,
		     "missing section [mqtt] (write 'enabled = no' in it to run without a broker)");
	for (size_t i = 0; i < doc->n_sections; i++) {
		const char *name;

		s = &doc->sections[i];
		if ((name = named(s->name, "device")) != NULL) {
			if (!valid_name(name))
				fail(&x, s->file, s->line,
				     "[%s]: bad device name (1-32 of a-z A-Z 0-9 - _)",
				     s->name);
			parse_device(&x, s, name);
		}
	}
	for (size_t i = 0; i < doc->n_sections; i++) {
		const char *name;

		s = &doc->sections[i];
		if ((name = named(s->name, "lane")) != NULL) {
			if (!valid_name(name))
				fail(&x, s->file, s->line,
				     "[%s]: bad lane name (1-32 of a-z A-Z 0-9 - _)",
				     s->name);
			parse_lane(&x, s, name);
		} else if (strcmp(s->name, "credentials") == 0) {
			fail(&x, s->file, s->line,
			     "[credentials]: credentials are kept in the registry now; import them with 'wicketctl persons import' (docs/registry.md)");
		} else if (strcmp(s->name, "ledger") == 0) {
			parse_ledger(&x, s);
		} else if (strcmp(s->name, "privacy") == 0) {
			parse_privacy(&x, s);
		} else if (strcmp(s->name, "admin") == 0) {
			parse_admin(&x, s);
		} else if (strcmp(s->name, "passes") == 0) {
			parse_passes(&x, s);
		} else if (strcmp(s->name, "wicketd") != 0 &&
			   strcmp(s->name, "mqtt") != 0 &&
			   named(s->name, "device") == NULL) {
			if (s->name[0] == '\0')
				fail(&x, s->file, s->line,
				     "key outside any section");
			else
				fail(&x, s->file, s->line,
				     "unknown section [%s]", s->name);
		}
	}
	if (x.c->n_lanes == 0)
		fail(&x, path, doc->n_lines ? doc->n_lines : 1,
		     "missing section [lane NAME] (a gate needs at least one lane)");
	lane_fail_to_gates(&x);
	if (x.c->mqtt.client_id == NULL && x.c->site && x.c->gate) {
		if (asprintf(&x.c->mqtt.client_id, "wicket-%s-%s", x.c->site,
			     x.c->gate) < 0)
			x.c->mqtt.client_id = NULL;
	}
	rc = x.n_errors;
out:
	free(x.dir);
	if (rc != 0) {
		conf_free(x.c);
		return rc;
	}
	*out = x.c;
	return 0;
}

void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_devices; i++) {
		free(c->devices[i].name);
		free(c->devices[i].plugin);
		free(c->devices[i].items);
	}
	free(c->devices);
	for (size_t i = 0; i < c->n_lanes; i++) {
		free(c->lanes[i].name);
		free(c->lanes[i].direction);
	}
	free(c->lanes);
	for (size_t i = 0; i < c->n_docs; i++)
		ini_free(c->docs[i]);
	free(c->docs);
	free(c->privacy.key_file);
	free(c->mqtt.host);
	free(c->mqtt.client_id);
	free(c->mqtt.ca_file);
	free(c->mqtt.cert_file);
	free(c->mqtt.key_file);
	free(c->mqtt.username);
	free_secret(c->mqtt.password);
	free(c->site);
	free(c->gate);
	free(c->state_dir);
	free(c->plugin_dir);
	free(c->profile_dir);
	free(c->rules);
	free(c->control_socket);
	free(c->control_group);
	free(c->admin.keys);
	free(c->passes.issuers);
	free(c->file);
	free(c);
}

int conf_find_device(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_devices; i++)
		if (strcmp(c->devices[i].name, name) == 0)
			return (int)i;
	return -1;
}
