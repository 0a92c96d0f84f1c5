/*
 * config: read wicket-sim's INI config, each device's profile and the
 * scenario, and check all of it before anything listens.
 *
 *   [sim]
 *   scenario = demo.scenario        ; relative to this file
 *   profile_dir = ../profiles       ; default WICKET_SYSCONFDIR/wicket/profiles
 *   start = connect                 ; or now
 *   [device thermal1]
 *   kind = thermal                  ; thermal | reader | gate | kit | scanner
 *   profile = generic-ir-thermal    ; <profile_dir>/<name>.conf
 *   listen = 127.0.0.1:1502         ; IPv4 address (or *) and port, or
 *   ; serial = /dev/ttyUSB0         ; a tty (Modbus RTU), shared by unit
 *   ; baud = 9600                   ; serial only, default 9600
 *   unit = 1                        ; TCP 0..255, RTU 1..247
 *   scale = 0.01                    ; any other key overrides the profile's
 *
 * A device's register map is read by mbmap, the code the Modbus plugins
 * use, from the profile with the section's extra keys merged over it, the
 * way wicketd merges a [device] section over its profile.  So the sim
 * accepts and refuses exactly the profiles the daemon does.  Link keys in a
 * profile (host, port, poll_ms ...) describe the daemon's side and are
 * ignored here; `listen` or `serial`, and `unit`, say where the sim
 * answers.  Devices naming the same `serial` path share one line (one fd,
 * one speed), as devices naming the same `listen` address share a socket.
 *
 * The gate kit's other devices have keys of their own and no profile:
 *
 *   [device kit1]
 *   kind = kit
 *   chip = /run/wicket/gpio.sock    ; the simulated chip's socket (sim:PATH
 *                                   ; as in wicketd.conf works too)
 *   door = 4                        ; inputs the kit drives: door,
 *   door_active_low = yes           ; exit_button, fire_alarm, override
 *   d0 = 10                         ; a Wiegand reader's lines
 *   d1 = 11
 *   relay = 0                       ; outputs it reports: relay, green,
 *   relay_active_low = no           ; red, buzzer
 *   [device scanner1]
 *   kind = scanner
 *   serial = /tmp/w/scanner-sim     ; a tty: one end of a socat pty pair
 *   terminator = cr                 ; cr | lf | crlf
 *
 * Every error is printed as "file:line: message" and counted; loading goes
 * on after an error so one run shows them all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "confval.h"
#include "inifile.h"
#include "sim.h"

#ifndef WICKET_SYSCONFDIR
#define WICKET_SYSCONFDIR "/etc"
#endif

struct loader {
	struct sim *sim;
	int errors;
};

/* Context of mbmap's error callback: one device. */
struct dev_ctx {
	struct loader *ld;
	const char *name;
	const char *file;
	int line;
};

static void errat(struct loader *ld, const char *file, int line,
		  const char *fmt, ...) WK_PRINTF(4, 5);

static void errat(struct loader *ld, const char *file, int line,
		  const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ld->errors++;
}

static void on_ini_error(void *ctx, const char *file, int line,
			 const char *msg)
{
	errat(ctx, file, line, "%s", msg);
}

static int on_dev_error(void *ctx, const struct wk_conf_item *item,
			const char *fmt, ...) WK_PRINTF(3, 4);

static int on_dev_error(void *ctx, const struct wk_conf_item *item,
			const char *fmt, ...)
{
	struct dev_ctx *dc = ctx;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errat(dc->ld, item ? item->file : dc->file,
	      item ? item->line : dc->line, "device %s: %s", dc->name, msg);
	return -EINVAL;
}

/* rel as is when absolute, else relative to the directory of base. */
static char *resolve(const char *base, const char *rel)
{
	const char *slash = strrchr(base, '/');
	size_t dirlen = slash ? (size_t)(slash - base) + 1 : 0;
	size_t len = strlen(rel);
	char *p;

	if (rel[0] == '/' || dirlen == 0)
		return strdup(rel);
	p = malloc(dirlen + len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, base, dirlen);
	memcpy(p + dirlen, rel, len + 1);
	return p;
}

/* Names end up in `device=NAME` output and in scenario lines. */
static int good_name(const char *s)
{
	if (*s == '\0' || strcmp(s, "-") == 0 || strcmp(s, "person") == 0)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
		      *s == '.'))
			return 0;
	return 1;
}

static void load_sim_section(struct loader *ld, const struct ini_section *sec)
{
	struct sim *sim = ld->sim;

	for (size_t i = 0; i < sec->n_items; i++) {
		const struct wk_conf_item *it = &sec->items[i];

		if (strcmp(it->key, "scenario") == 0) {
			if (sim->scenario_file != NULL)
				continue;	/* --scenario wins */
			if (it->value[0] == '\0') {
				errat(ld, it->file, it->line,
				      "scenario: empty path");
				continue;
			}
			sim->scenario_file = resolve(it->file, it->value);
		} else if (strcmp(it->key, "profile_dir") == 0) {
			if (sim->profile_dir != NULL)
				continue;	/* --profile-dir wins */
			if (it->value[0] == '\0') {
				errat(ld, it->file, it->line,
				      "profile_dir: empty path");
				continue;
			}
			sim->profile_dir = resolve(it->file, it->value);
		} else if (strcmp(it->key, "start") == 0) {
			if (strcmp(it->value, "connect") == 0)
				sim->start = SIM_START_CONNECT;
			else if (strcmp(it->value, "now") == 0)
				sim->start = SIM_START_NOW;
			else
				errat(ld, it->file, it->line,
				      "start: '%s' is not one of connect, now",
				      it->value);
		} else {
			errat(ld, it->file, it->line,
			      "unknown key '%s' in [sim] (expected scenario, "
			      "profile_dir, start)", it->key);
		}
	}
}

/* "a.b.c.d:port" or "*:port" into the listener fields. */
static int parse_listen(struct loader *ld, const struct wk_conf_item *it,
			struct sim_listener *l)
{
	const char *colon = strrchr(it->value, ':');
	struct in_addr a;
	size_t hlen;
	long port;
	int rc;

	if (colon == NULL || colon == it->value) {
		errat(ld, it->file, it->line,
		      "listen: '%s' is not ADDRESS:PORT (like 127.0.0.1:1502)",
		      it->value);
		return -EINVAL;
	}
	hlen = (size_t)(colon - it->value);
	if (hlen >= sizeof(l->host)) {
		errat(ld, it->file, it->line, "listen: address too long");
		return -EINVAL;
	}
	if (hlen == 1 && it->value[0] == '*') {
		snprintf(l->host, sizeof(l->host), "0.0.0.0");
	} else {
		memcpy(l->host, it->value, hlen);
		l->host[hlen] = '\0';
		if (inet_pton(AF_INET, l->host, &a) != 1) {
			errat(ld, it->file, it->line,
			      "listen: '%s' is not an IPv4 address (or *)",
			      l->host);
			return -EINVAL;
		}
		/* the canonical text, for messages and for
		 * add_listener's comparisons */
		inet_ntop(AF_INET, &a, l->host, sizeof(l->host));
	}
	rc = cv_long(colon + 1, 0, 65535, &port);
	if (rc < 0 || port == 0) {
		errat(ld, it->file, it->line,
		      "listen: port '%s' is not 1..65535", colon + 1);
		return -EINVAL;
	}
	l->port = (int)port;
	snprintf(l->addr, sizeof(l->addr), "%s:%d", l->host, l->port);
	return 0;
}

/* The index of the serial line at it->value, adding it if new; -1 if the
 * path is empty or the line already runs at another speed. */
static long add_line(struct loader *ld, const char *name,
		     const struct wk_conf_item *it, unsigned baud,
		     const struct wk_conf_item *baud_it, int sec_line)
{
	struct sim *sim = ld->sim;
	struct sim_line *p;
	char *path;

	if (it->value[0] == '\0') {
		errat(ld, it->file, it->line, "device %s: serial: empty path",
		      name);
		return -1;
	}
	for (size_t i = 0; i < sim->n_lines; i++) {
		const struct sim_line *o = &sim->lines[i];

		if (strcmp(o->path, it->value) != 0)
			continue;
		if (o->baud != baud) {
			errat(ld, baud_it ? baud_it->file : it->file,
			      baud_it ? baud_it->line : it->line,
			      "device %s: baud: %u differs from %u of the "
			      "device at line %d on %s; devices on one line "
			      "share its speed", name, baud, o->baud,
			      o->cfg_line, o->path);
			return -1;
		}
		return (long)i;
	}
	path = strdup(it->value);
	p = path ? realloc(sim->lines, (sim->n_lines + 1) * sizeof(*p)) : NULL;
	if (p == NULL) {
		free(path);
		errat(ld, it->file, it->line, "out of memory");
		return -1;
	}
	sim->lines = p;
	memset(&p[sim->n_lines], 0, sizeof(p[0]));
	p[sim->n_lines].path = path;
	p[sim->n_lines].baud = baud;
	p[sim->n_lines].cfg_line = sec_line;
	p[sim->n_lines].conn.fd = -1;
	return (long)sim->n_lines++;
}

/* The index of the listener for l, adding it if new; -1 on a clash. */
static long add_listener(struct loader *ld, const struct wk_conf_item *it,
			 const struct sim_listener *l)
{
	struct sim *sim = ld->sim;
	struct sim_listener *p;

	for (size_t i = 0; i < sim->n_listeners; i++) {
		const struct sim_listener *o = &sim->listeners[i];

		if (o->port != l->port)
			continue;
		if (strcmp(o->host, l->host) == 0)
			return (long)i;
		if (strcmp(o->host, "0.0.0.0") == 0 ||
		    strcmp(l->host, "0.0.0.0") == 0) {
			errat(ld, it->file, it->line,
			      "listen: %s overlaps %s of another device",
			      l->addr, o->addr);
			return -1;
		}
	}
	p = realloc(sim->listeners, (sim->n_listeners + 1) * sizeof(*p));
	if (p == NULL) {
		errat(ld, it->file, it->line, "out of memory");
		return -1;
	}
	sim->listeners = p;
	p[sim->n_listeners] = *l;
	p[sim->n_listeners].fd = -1;
	return (long)sim->n_listeners++;
}

/* Keys of the sim's [device] section that are not register map keys. */
static int own_key(const char *key)
{
	return strcmp(key, "kind") == 0 || strcmp(key, "profile") == 0 ||
	       strcmp(key, "listen") == 0 || strcmp(key, "serial") == 0 ||
	       strcmp(key, "baud") == 0 || strcmp(key, "unit") == 0;
}

/* Link keys of a profile: the daemon's business. */
static int link_key(const char *key)
{
	static const char *const keys[] = {
		"host", "port", "serial", "baud", "parity", "data_bits",
		"stop_bits", "rs485", "unit", "poll_ms", "timeout_ms",
		"retries", "backoff_max_ms", "frame_gap_ms",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return 1;
	return 0;
}

static struct ini_doc *load_profile(struct loader *ld,
				    const struct wk_conf_item *it)
{
	struct ini_doc *doc = NULL;
	char *path;
	size_t len;
	int n = 0;

	if (strchr(it->value, '/') != NULL || it->value[0] == '\0' ||
	    it->value[0] == '.') {
		errat(ld, it->file, it->line,
		      "profile: '%s' is not a profile name (a file name in "
		      "%s, without .conf)", it->value, ld->sim->profile_dir);
		return NULL;
	}
	len = strlen(ld->sim->profile_dir) + strlen(it->value) + 8;
	path = malloc(len);
	if (path == NULL) {
		errat(ld, it->file, it->line, "out of memory");
		return NULL;
	}
	snprintf(path, len, "%s/%s.conf", ld->sim->profile_dir, it->value);
	if (ini_load(path, &doc, on_ini_error, ld, &n) < 0) {
		errat(ld, it->file, it->line, "profile '%s' not loaded",
		      it->value);
		free(path);
		return NULL;
	}
	free(path);
	for (size_t i = 0; i < doc->n_sections; i++) {
		if (doc->sections[i].name[0] != '\0')
			errat(ld, doc->sections[i].file,
			      doc->sections[i].line,
			      "a profile has no sections, only key = value "
			      "lines");
	}
	return doc;
}

/* The profile's items with the section's map keys over them. */
static struct wk_conf_item *merge(const struct ini_doc *prof,
				  const struct ini_section *sec, size_t *n)
{
	const struct ini_section *top = prof ? ini_find(prof, "") : NULL;
	size_t max = sec->n_items + (top ? top->n_items : 0), k = 0;
	struct wk_conf_item *items = calloc(max ? max : 1, sizeof(*items));

	if (items == NULL)
		return NULL;
	for (size_t i = 0; top && i < top->n_items; i++)
		if (ini_get(sec, top->items[i].key) == NULL ||
		    own_key(top->items[i].key))
			items[k++] = top->items[i];
	for (size_t i = 0; i < sec->n_items; i++)
		if (!own_key(sec->items[i].key))
			items[k++] = sec->items[i];
	*n = k;
	return items;
}

/* --- kits and scanners ------------------------------------------------ */

#define KIT_LINES 64		/* the simulated chip's offsets 0..63 */

/* One line key of a kit: where its offset and active_low go. */
struct kit_key {
	const char *name;
	int *off;
	int *active_low;	/* NULL: d0 and d1 have none */
	const struct wk_conf_item *it, *al_it;
};

static int add_dev(struct loader *ld, const struct ini_section *sec,
		   struct sim_dev *dev, const char *name)
{
	struct sim *sim = ld->sim;
	struct sim_dev *p;

	dev->name = strdup(name);
	p = dev->name ? realloc(sim->devs, (sim->n_devs + 1) * sizeof(*p))
		      : NULL;
	if (p == NULL) {
		errat(ld, sec->file, sec->line, "out of memory");
		return -1;
	}
	sim->devs = p;
	p[sim->n_devs++] = *dev;
	return 0;
}

static void load_kit(struct loader *ld, const struct ini_section *sec,
		     const char *name)
{
	struct sim_dev dev = { .file = sec->file, .line = sec->line,
			       .kind = SIM_KIT, .unit = -1 };
	struct sim_kit *k;
	struct kit_key keys[SCN_IN_N + KIT_OUT_N + 2];
	const struct wk_conf_item *chip = NULL, *iv = NULL, *wd = NULL;
	size_t nk = 0;
	int before = ld->errors, n_lines = 0;
	long v;

	if (kit_new(&k) < 0) {
		errat(ld, sec->file, sec->line, "out of memory");
		return;
	}
	dev.kit = k;
	memset(keys, 0, sizeof(keys));
	for (int i = 0; i < SCN_IN_N; i++)
		keys[nk++] = (struct kit_key){ scn_input_name(i),
					       &k->in_off[i],
					       &k->in_active_low[i], NULL,
					       NULL };
	keys[nk++] = (struct kit_key){ "d0", &k->d0, NULL, NULL, NULL };
	keys[nk++] = (struct kit_key){ "d1", &k->d1, NULL, NULL, NULL };
	for (int i = 0; i < KIT_OUT_N; i++)
		keys[nk++] = (struct kit_key){ kit_output_name(i),
					       &k->out_off[i],
					       &k->out_active_low[i], NULL,
					       NULL };

	for (size_t i = 0; i < sec->n_items; i++) {
		const struct wk_conf_item *it = &sec->items[i];
		size_t klen = 0;
		int done = 0;

		if (strcmp(it->key, "kind") == 0)
			continue;
		if (strcmp(it->key, "chip") == 0) {
			chip = it;
			continue;
		}
		if (strcmp(it->key, "wiegand_interval_us") == 0) {
			iv = it;
			if (cv_long(it->value, 10, 1000000, &v) < 0)
				errat(ld, it->file, it->line,
				      "device %s: wiegand_interval_us: '%s' "
				      "is not 10..1000000", name, it->value);
			else
				k->wg_interval_us = (unsigned)v;
			continue;
		}
		if (strcmp(it->key, "wiegand_width_us") == 0) {
			wd = it;
			if (cv_long(it->value, 1, 100000, &v) < 0)
				errat(ld, it->file, it->line,
				      "device %s: wiegand_width_us: '%s' is "
				      "not 1..100000", name, it->value);
			else
				k->wg_width_us = (unsigned)v;
			continue;
		}
		for (size_t j = 0; j < nk && !done; j++) {
			klen = strlen(keys[j].name);
			if (strcmp(it->key, keys[j].name) == 0) {
				done = 1;
				keys[j].it = it;
				if (cv_long(it->value, 0, KIT_LINES - 1, &v) < 0)
					errat(ld, it->file, it->line,
					      "device %s: %s: '%s' is not a "
					      "line offset 0..%d", name,
					      it->key, it->value,
					      KIT_LINES - 1);
				else
					*keys[j].off = (int)v;
			} else if (keys[j].active_low != NULL &&
				   strncmp(it->key, keys[j].name, klen) == 0 &&
				   strcmp(it->key + klen, "_active_low") == 0) {
				done = 1;
				keys[j].al_it = it;
				if (cv_bool(it->value, keys[j].active_low) < 0)
					errat(ld, it->file, it->line,
					      "device %s: %s: '%s' is not yes "
					      "or no", name, it->key,
					      it->value);
			}
		}
		if (!done)
			errat(ld, it->file, it->line,
			      "device %s: unknown key '%s' for a kit "
			      "(expected chip, door, exit_button, fire_alarm, "
			      "override, d0, d1, relay, green, red, buzzer, "
			      "<line>_active_low, wiegand_interval_us, "
			      "wiegand_width_us)", name, it->key);
	}

	if (chip == NULL) {
		errat(ld, sec->file, sec->line,
		      "device %s: missing key 'chip' (the socket of the "
		      "simulated GPIO chip, the PATH of wicketd's "
		      "chip = sim:PATH)", name);
	} else {
		const char *path = chip->value;

		if (strncmp(path, "sim:", 4) == 0)
			path += 4;
		if (path[0] == '\0')
			errat(ld, chip->file, chip->line,
			      "device %s: chip: empty path", name);
		else if (strlen(path) >= sizeof(((struct sockaddr_un *)0)
						->sun_path))
			errat(ld, chip->file, chip->line,
			      "device %s: chip: path longer than %zu "
			      "characters (a UNIX socket's limit)", name,
			      sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		else if ((k->chip = strdup(path)) == NULL)
			errat(ld, chip->file, chip->line, "out of memory");
	}
	for (size_t j = 0; j < nk; j++) {
		if (keys[j].it != NULL)
			n_lines++;
		if (keys[j].al_it != NULL && keys[j].it == NULL)
			errat(ld, keys[j].al_it->file, keys[j].al_it->line,
			      "device %s: %s without %s", name,
			      keys[j].al_it->key, keys[j].name);
		for (size_t i = 0; i < j; i++)
			if (keys[i].it != NULL && keys[j].it != NULL &&
			    *keys[i].off >= 0 && *keys[i].off == *keys[j].off)
				errat(ld, keys[j].it->file, keys[j].it->line,
				      "device %s: %s: line %d is %s's too "
				      "(line %d); each needs a line of its "
				      "own", name, keys[j].name, *keys[j].off,
				      keys[i].name, keys[i].it->line);
	}
	if (n_lines == 0 && ld->errors == before)
		errat(ld, sec->file, sec->line,
		      "device %s: a kit needs at least one line (door, "
		      "exit_button, fire_alarm, override, d0 and d1, relay, "
		      "green, red, buzzer)", name);
	if ((k->d0 >= 0) != (k->d1 >= 0) && ld->errors == before)
		errat(ld, sec->file, sec->line,
		      "device %s: a Wiegand reader needs both d0 and d1",
		      name);
	if ((iv != NULL || wd != NULL) && k->d0 < 0 && ld->errors == before)
		errat(ld, (iv ? iv : wd)->file, (iv ? iv : wd)->line,
		      "device %s: %s without d0 and d1", name,
		      (iv ? iv : wd)->key);
	if (k->wg_width_us >= k->wg_interval_us && ld->errors == before)
		errat(ld, (wd ? wd : iv)->file, (wd ? wd : iv)->line,
		      "device %s: wiegand_width_us %u is not below "
		      "wiegand_interval_us %u", name, k->wg_width_us,
		      k->wg_interval_us);
	if (ld->errors > before || add_dev(ld, sec, &dev, name) < 0) {
		kit_free(k);
		free(dev.name);
	}
}

static void load_scanner(struct loader *ld, const struct ini_section *sec,
			 const char *name)
{
	struct sim_dev dev = { .file = sec->file, .line = sec->line,
			       .kind = SIM_SCANNER, .unit = -1 };
	struct sim_scanner *sc;
	const struct wk_conf_item *serial = NULL;
	int before = ld->errors;
	long v;

	if (scanner_new(&sc) < 0) {
		errat(ld, sec->file, sec->line, "out of memory");
		return;
	}
	dev.scanner = sc;
	for (size_t i = 0; i < sec->n_items; i++) {
		const struct wk_conf_item *it = &sec->items[i];

		if (strcmp(it->key, "kind") == 0)
			continue;
		if (strcmp(it->key, "serial") == 0) {
			serial = it;
		} else if (strcmp(it->key, "terminator") == 0) {
			if (strcmp(it->value, "cr") == 0)
				sc->term = TERM_CR;
			else if (strcmp(it->value, "lf") == 0)
				sc->term = TERM_LF;
			else if (strcmp(it->value, "crlf") == 0)
				sc->term = TERM_CRLF;
			else
				errat(ld, it->file, it->line,
				      "device %s: terminator: '%s' is not one "
				      "of cr, lf, crlf", name, it->value);
		} else if (strcmp(it->key, "baud") == 0) {
			if (cv_long(it->value, 1, 4000000, &v) < 0 ||
			    !serve_baud_ok((unsigned)v) || v < 1200)
				errat(ld, it->file, it->line,
				      "device %s: baud: '%s' is not a serial "
				      "speed (1200, 2400, 4800, 9600, 19200, "
				      "38400, 57600, 115200, ... 921600)",
				      name, it->value);
			else
				sc->baud = (unsigned)v;
		} else {
			errat(ld, it->file, it->line,
			      "device %s: unknown key '%s' for a scanner "
			      "(expected serial, terminator, baud)", name,
			      it->key);
		}
	}
	if (serial == NULL)
		errat(ld, sec->file, sec->line,
		      "device %s: missing key 'serial' (the tty to write the "
		      "scanner's lines to)", name);
	else if (serial->value[0] == '\0')
		errat(ld, serial->file, serial->line,
		      "device %s: serial: empty path", name);
	else if ((sc->path = strdup(serial->value)) == NULL)
		errat(ld, serial->file, serial->line, "out of memory");
	for (size_t i = 0; sc->path && i < ld->sim->n_devs; i++) {
		const struct sim_dev *o = &ld->sim->devs[i];

		if (o->kind == SIM_SCANNER &&
		    strcmp(o->scanner->path, sc->path) == 0)
			errat(ld, serial->file, serial->line,
			      "device %s: serial: %s is scanner %s's too "
			      "(line %d)", name, sc->path, o->name, o->line);
	}
	if (ld->errors > before || add_dev(ld, sec, &dev, name) < 0) {
		scanner_free(sc);
		free(dev.name);
	}
}

static void load_device(struct loader *ld, const struct ini_section *sec,
			const char *name)
{
	struct sim *sim = ld->sim;
	struct sim_dev dev = { .file = sec->file, .line = sec->line };
	struct dev_ctx dc = { ld, name, sec->file, sec->line };
	const struct wk_conf_item *kind, *prof, *listen, *serial, *baud, *unit;
	struct sim_listener l = { .fd = -1 };
	struct ini_doc *pdoc = NULL;
	struct wk_conf conf = { .name = name, .file = sec->file,
				.line = sec->line };
	struct wk_conf_item *items = NULL;
	unsigned char *used = NULL;
	struct sim_dev *p;
	int before = ld->errors, rc = 0;
	long li = -1, v, baud_v = 9600;
	const char *where;

	if (!good_name(name)) {
		errat(ld, sec->file, sec->line,
		      "bad device name '%s' (letters, digits, _ . -; not "
		      "'-' or 'person')", name);
		return;
	}
	for (size_t i = 0; i < sim->n_devs; i++) {
		if (strcmp(sim->devs[i].name, name) == 0) {
			errat(ld, sec->file, sec->line,
			      "device %s already defined at line %d", name,
			      sim->devs[i].line);
			return;
		}
	}
	kind = ini_get(sec, "kind");
	if (kind != NULL && strcmp(kind->value, "kit") == 0) {
		load_kit(ld, sec, name);
		return;
	}
	if (kind != NULL && strcmp(kind->value, "scanner") == 0) {
		load_scanner(ld, sec, name);
		return;
	}
	if (kind == NULL)
		errat(ld, sec->file, sec->line,
		      "device %s: missing key 'kind' (thermal, reader, gate, "
		      "kit, scanner)", name);
	else if (strcmp(kind->value, "thermal") == 0)
		dev.kind = SIM_THERMAL;
	else if (strcmp(kind->value, "reader") == 0)
		dev.kind = SIM_READER;
	else if (strcmp(kind->value, "gate") == 0)
		dev.kind = SIM_GATE;
	else
		errat(ld, kind->file, kind->line,
		      "device %s: kind: '%s' is not one of thermal, reader, "
		      "gate, kit, scanner", name, kind->value);

	listen = ini_get(sec, "listen");
	serial = ini_get(sec, "serial");
	baud = ini_get(sec, "baud");
	if (baud != NULL && serial == NULL)
		errat(ld, baud->file, baud->line,
		      "device %s: baud goes with serial, not with listen",
		      name);
	if (baud != NULL && serial != NULL) {
		if (cv_long(baud->value, 1, 4000000, &baud_v) < 0 ||
		    !serve_baud_ok((unsigned)baud_v))
			errat(ld, baud->file, baud->line,
			      "device %s: baud: '%s' is not a serial speed "
			      "(1200, 2400, 4800, 9600, 19200, 38400, 57600, "
			      "115200, ...)", name, baud->value);
	}
	if (listen != NULL && serial != NULL) {
		errat(ld, serial->file, serial->line,
		      "device %s: 'serial' and 'listen' (line %d) exclude "
		      "each other: a device is on a serial line or on a TCP "
		      "address", name, listen->line);
	} else if (listen == NULL && serial == NULL) {
		errat(ld, sec->file, sec->line,
		      "device %s: missing key 'listen' (ADDRESS:PORT) or "
		      "'serial' (a tty path)", name);
	} else if (listen != NULL) {
		dev.link = SIM_TCP;
		if (parse_listen(ld, listen, &l) == 0)
			li = add_listener(ld, listen, &l);
	} else {
		dev.link = SIM_RTU;
		if (ld->errors == before)
			li = add_line(ld, name, serial, (unsigned)baud_v,
				      baud, sec->line);
	}

	dev.unit = 1;
	unit = ini_get(sec, "unit");
	if (unit != NULL) {
		long lo = dev.link == SIM_RTU ? 1 : 0;
		long hi = dev.link == SIM_RTU ? 247 : 255;

		if (cv_long(unit->value, lo, hi, &v) < 0)
			errat(ld, unit->file, unit->line,
			      "device %s: unit: '%s' is not %ld..%ld%s", name,
			      unit->value, lo, hi,
			      dev.link == SIM_RTU ? " (Modbus RTU)" : "");
		else
			dev.unit = (int)v;
	}
	for (size_t i = 0; li >= 0 && i < sim->n_devs; i++) {
		if (!sim_is_modbus(&sim->devs[i]) ||
		    sim->devs[i].link != dev.link ||
		    sim->devs[i].port != (size_t)li ||
		    sim->devs[i].unit != dev.unit)
			continue;
		where = dev.link == SIM_RTU ? sim->lines[li].path
					    : sim->listeners[li].addr;
		errat(ld, unit ? unit->file : sec->file,
		      unit ? unit->line : sec->line,
		      "device %s: unit %d on %s is already device %s",
		      name, dev.unit, where, sim->devs[i].name);
	}

	prof = ini_get(sec, "profile");
	if (prof != NULL && (pdoc = load_profile(ld, prof)) == NULL)
		goto out;
	if (kind == NULL || ld->errors > before)
		goto out;

	items = merge(pdoc, sec, &conf.n_items);
	used = calloc(conf.n_items ? conf.n_items : 1, 1);
	if (items == NULL || used == NULL) {
		errat(ld, sec->file, sec->line, "out of memory");
		goto out;
	}
	conf.items = items;
	for (size_t i = 0; i < conf.n_items; i++)
		if (pdoc != NULL && items[i].file == pdoc->file &&
		    link_key(items[i].key))
			used[i] = 1;
	switch (dev.kind) {
	case SIM_THERMAL:
		rc = mbmap_parse_thermal(&conf, used, &dev.m.th, on_dev_error,
					 &dc);
		break;
	case SIM_READER:
		rc = mbmap_parse_reader(&conf, used, &dev.m.rd, on_dev_error,
					&dc);
		break;
	case SIM_GATE:
		rc = mbmap_parse_gate(&conf, used, &dev.m.gate, on_dev_error,
				      &dc);
		break;
	case SIM_KIT:
	case SIM_SCANNER:
		break;		/* load_kit, load_scanner */
	}
	if (mbmap_check_unused(&conf, used, on_dev_error, &dc) < 0 || rc < 0)
		goto out;
	if (ld->errors > before)
		goto out;

	dev.port = (size_t)li;
	dev.name = strdup(name);
	if (dev.name == NULL || dev_init(&dev) < 0) {
		errat(ld, sec->file, sec->line, "out of memory");
		free(dev.name);
		goto out;
	}
	p = realloc(sim->devs, (sim->n_devs + 1) * sizeof(*p));
	if (p == NULL) {
		errat(ld, sec->file, sec->line, "out of memory");
		dev_free(&dev);
		free(dev.name);
		goto out;
	}
	sim->devs = p;
	p[sim->n_devs++] = dev;
out:
	free(used);
	free(items);
	ini_free(pdoc);
}

static void on_scn_error(void *ctx, const char *file, int line,
			 const char *msg)
{
	errat(ctx, file, line, "%s", msg);
}

static int check_step(void *ctx, const struct scn_step *st, char *msg,
		      size_t msglen)
{
	struct loader *ld = ctx;
	const struct sim_dev *dev;
	char why[200];

	if (st->device < 0)
		return 0;
	dev = &ld->sim->devs[st->device];
	if (dev_check_step(dev, st, why, sizeof(why)) == 0)
		return 0;
	snprintf(msg, msglen, "device %s: %s", dev->name, why);
	return -EINVAL;
}

static void load_scenario(struct loader *ld)
{
	struct sim *sim = ld->sim;
	struct scn_env env = { .check = check_step, .err = on_scn_error,
			       .ctx = ld };
	struct scn_dev *sd;
	int n = 0;

	sd = calloc(sim->n_devs ? sim->n_devs : 1, sizeof(*sd));
	if (sd == NULL) {
		errat(ld, sim->scenario_file, 0, "out of memory");
		return;
	}
	for (size_t i = 0; i < sim->n_devs; i++) {
		sd[i].name = sim->devs[i].name;
		sd[i].kind = sim->devs[i].kind;
	}
	env.devs = sd;
	env.n_devs = sim->n_devs;
	if (scn_load(sim->scenario_file, &env, &sim->scn, &n) < 0 && n == 0)
		errat(ld, sim->scenario_file, 0, "out of memory");
	free(sd);
}

int simconf_load(struct sim *sim, const char *path)
{
	struct loader ld = { .sim = sim };
	struct ini_doc *doc = NULL;
	const struct ini_section *simsec;
	int n = 0;

	sim->config_file = strdup(path);
	if (sim->config_file == NULL)
		return -ENOMEM;
	if (ini_load(path, &doc, on_ini_error, &ld, &n) < 0)
		return -EINVAL;
	simsec = ini_find(doc, "sim");
	if (simsec != NULL)
		load_sim_section(&ld, simsec);
	if (sim->profile_dir == NULL)
		sim->profile_dir = strdup(WICKET_SYSCONFDIR "/wicket/profiles");
	if (sim->profile_dir == NULL) {
		ini_free(doc);
		return -ENOMEM;
	}
	for (size_t i = 0; i < doc->n_sections; i++) {
		const struct ini_section *sec = &doc->sections[i];
		const char *name = sec->name;

		if (strcmp(name, "sim") == 0)
			continue;
		if (name[0] == '\0') {
			for (size_t k = 0; k < sec->n_items; k++)
				errat(&ld, sec->items[k].file,
				      sec->items[k].line,
				      "key '%s' outside a section",
				      sec->items[k].key);
			continue;
		}
		if (strncmp(name, "device", 6) != 0 ||
		    (name[6] != ' ' && name[6] != '\t')) {
			errat(&ld, sec->file, sec->line,
			      "unknown section [%s] (expected [sim] or "
			      "[device NAME])", name);
			continue;
		}
		name += 6;
		while (*name == ' ' || *name == '\t')
			name++;
		load_device(&ld, sec, name);
	}
	for (size_t i = 0; i < sim->n_devs; i++) {
		const struct sim_dev *d = &sim->devs[i];

		if (d->kind != SIM_SCANNER)
			continue;
		for (size_t k = 0; k < sim->n_lines; k++)
			if (strcmp(sim->lines[k].path, d->scanner->path) == 0)
				errat(&ld, d->file, d->line,
				      "device %s: serial: %s is a Modbus line "
				      "(device at line %d) too", d->name,
				      d->scanner->path,
				      sim->lines[k].cfg_line);
	}
	if (sim->n_devs == 0 && ld.errors == 0)
		errat(&ld, path, doc->n_lines,
		      "no [device NAME] section: nothing to simulate");
	ini_free(doc);
	if (ld.errors == 0 && sim->scenario_file != NULL)
		load_scenario(&ld);
	return ld.errors ? -EINVAL : 0;
}

void simconf_free(struct sim *sim)
{
	serve_close(sim);
	for (size_t i = 0; i < sim->n_devs; i++) {
		dev_free(&sim->devs[i]);
		free(sim->devs[i].name);
	}
	free(sim->devs);
	sim->devs = NULL;
	sim->n_devs = 0;
	free(sim->listeners);
	sim->listeners = NULL;
	sim->n_listeners = 0;
	for (size_t i = 0; i < sim->n_lines; i++)
		free(sim->lines[i].path);
	free(sim->lines);
	sim->lines = NULL;
	sim->n_lines = 0;
	scn_free(sim->scn);
	sim->scn = NULL;
	free(sim->config_file);
	free(sim->scenario_file);
	free(sim->profile_dir);
	sim->config_file = sim->scenario_file = sim->profile_dir = NULL;
}
