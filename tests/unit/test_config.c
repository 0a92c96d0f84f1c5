/* config parsing: good files parse; each bad one gives FILE:LINE errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char dir[64];

struct errors {
	int n;
	char text[16][600];
};

static void collect(void *ctx, const char *file, int line, const char *msg)
{
	struct errors *e = ctx;
	const char *base = strrchr(file, '/');

	if (e->n < 16)
		snprintf(e->text[e->n], sizeof(e->text[0]), "%s:%d: %s",
			 base ? base + 1 : file, line, msg);
	e->n++;
}

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(const char *name, const char *text, struct conf **c,
		struct errors *e)
{
	char path[128];

	memset(e, 0, sizeof(*e));
	if (text)
		write_file(name, text);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return conf_load(path, c, collect, e);
}

static int has_error(const struct errors *e, const char *text)
{
	for (int i = 0; i < e->n && i < 16; i++)
		if (strstr(e->text[i], text))
			return 1;
	return 0;
}

#define GOOD_HEAD \
	"[wicketd]\nsite = s1\ngate = g1\nstate_dir = state\n" \
	"profile_dir = profiles\n\n[mqtt]\nhost = 127.0.0.1\nport = 1884 # note\n"

#define GOOD_DEVICES \
	"[device t1]\nplugin = modbus-thermal\nprofile = therm\nhost = 10.0.0.1\n" \
	"[device r1]\nplugin = modbus-reader\nhost = 10.0.0.2\n" \
	"[lane main]\nthermal = t1\nreader = r1\nwindow_ms = 3000\n" \
	"pulse_ms = 500\n# two lines kept so that the line numbers below stay\n\n"

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/wicket-test-config-XXXXXX");
	assert_non_null(mkdtemp(dir));
	{
		char p[128];

		snprintf(p, sizeof(p), "%s/profiles", dir);
		assert_int_equal(mkdir(p, 0700), 0);
	}
	write_file("profiles/therm.conf",
		   "description = test\ntemperature_register = 4\nscale = 0.1\n"
		   "host = overridden\n");
	write_file("pw-crlf", "pass word\r\nsecond line\n");
	write_file("pw-empty", "\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_good(void **state)
{
	struct conf *c;
	struct errors e;
	const struct conf_device *t;
	int found_host = 0, found_reg = 0;

	(void)state;
	assert_int_equal(load("good.conf", GOOD_HEAD GOOD_DEVICES, &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_string_equal(c->site, "s1");
	assert_string_equal(c->mqtt.client_id, "wicket-s1-g1");
	assert_int_equal(c->mqtt.port, 1884);	/* "# note" is a comment */
	assert_int_equal(c->n_devices, 2);
	assert_int_equal(c->n_lanes, 1);
	assert_int_equal(c->lanes[0].thermal, 0);
	assert_int_equal(c->lanes[0].reader, 1);
	assert_int_equal(c->lanes[0].gate, -1);
	assert_int_equal(c->lanes[0].window_ms, 3000);
	assert_int_equal(c->lanes[0].pulse_ms, 500);
	assert_string_equal(c->lanes[0].direction, "in");
	/* the shipped rules and the normal mode by default */
	assert_string_equal(c->rules, WICKET_SYSCONFDIR "/wicket/rules.json");
	assert_int_equal(c->mode, RULES_MODE_NORMAL);
	/* relative paths are taken from the config file's directory */
	assert_non_null(strstr(c->state_dir, dir));
	/* the device section overrides its profile, and keeps file:line */
	t = &c->devices[0];
	for (size_t i = 0; i < t->wk.n_items; i++) {
		const struct wk_conf_item *it = &t->wk.items[i];

		if (strcmp(it->key, "host") == 0) {
			assert_string_equal(it->value, "10.0.0.1");
			assert_int_equal(it->line, 13);
			found_host = 1;
		}
		if (strcmp(it->key, "temperature_register") == 0) {
			assert_non_null(strstr(it->file, "therm.conf"));
			assert_int_equal(it->line, 2);
			found_reg = 1;
		}
		assert_string_not_equal(it->key, "plugin");
		assert_string_not_equal(it->key, "profile");
	}
	assert_true(found_host && found_reg);
	/* [ledger] and [privacy] defaults */
	assert_int_equal(c->ledger.retention_days, 90);
	assert_int_equal(c->ledger.report_minute, 6 * 60);
	assert_int_equal(c->ledger.memory_queue, 10000);
	assert_null(c->privacy.key_file);
	assert_false(c->privacy.publish_credential);
	assert_false(c->privacy.publish_temperature);
	conf_free(c);
	/* and set */
	assert_int_equal(load("ledger.conf", GOOD_HEAD GOOD_DEVICES
			      "[ledger]\nreport_time = 23:45\nretention_days = 30\n"
			      "outbox_max_age_days = 7\n[privacy]\nkey_file = k.key\n"
			      "publish_fields = temperature\n", &c, &e), 0);
	assert_int_equal(c->ledger.report_minute, 23 * 60 + 45);
	assert_int_equal(c->ledger.retention_days, 30);
	assert_int_equal(c->ledger.outbox_max_age_days, 7);
	assert_non_null(strstr(c->privacy.key_file, dir));
	assert_false(c->privacy.publish_credential);
	assert_true(c->privacy.publish_temperature);
	conf_free(c);
}

struct bad_case {
	const char *text;
	const char *error;	/* expected substring, with file:line */
};

static const struct bad_case bad[] = {
	{ "[wicketd]\nsite = s1\ngate = g1\nsitee = x\n[mqtt]\nhost = h\n" GOOD_DEVICES,
	  "bad.conf:4: unknown key 'sitee' in [wicketd]" },
	{ GOOD_HEAD "keepalive = 3o\n" GOOD_DEVICES,
	  "bad.conf:10: keepalive: '3o' is not a whole number" },
	{ GOOD_HEAD "keepalive = 99999\n" GOOD_DEVICES,
	  "bad.conf:10: keepalive: 99999 is out of range 5..3600" },
	{ "[mqtt]\nhost = h\n" GOOD_DEVICES,
	  "missing section [wicketd]" },
	{ GOOD_HEAD, "missing section [lane NAME]" },
	{ GOOD_HEAD "[lane x]\nthermal = nosuch\n",
	  "bad.conf:11: thermal: no section [device nosuch]" },
	{ GOOD_HEAD "[device d]\nhost = x\n[lane x]\nthermal = d\n",
	  "bad.conf:10: [device d]: missing key 'plugin'" },
	{ GOOD_HEAD "[device d]\nplugin = p\nprofile = nosuch\n[lane x]\nthermal = d\n",
	  "bad.conf:12: profile 'nosuch': cannot read" },
	{ GOOD_HEAD "[device d]\nplugin = p\nprofile = ../x\n[lane x]\nthermal = d\n",
	  "bad.conf:12: profile: '../x' is a name, not a path" },
	{ GOOD_HEAD "port = 2\n" GOOD_DEVICES,
	  "bad.conf:10: duplicate key 'port' in [mqtt] (first at line 9)" },
	{ GOOD_HEAD "just words\n" GOOD_DEVICES,
	  "bad.conf:10: expected 'key = value' or '[section]'" },
	{ GOOD_HEAD "[lane x\n" GOOD_DEVICES,
	  "bad.conf:10: section header without ']'" },
	{ GOOD_HEAD "[bogus]\na = b\n" GOOD_DEVICES,
	  "bad.conf:10: unknown section [bogus]" },
	{ "[wicketd]\nsite = a/b\ngate = g\n[mqtt]\nhost = h\n" GOOD_DEVICES,
	  "bad.conf:2: site: 'a/b' must be 1-32 of" },
	{ GOOD_HEAD "[lane x]\ndirection = sideways\nthermal = t1\n" GOOD_DEVICES,
	  "bad.conf:11: direction: 'sideways' is not in or out" },
	{ GOOD_HEAD GOOD_DEVICES "[lane y]\nreader = r1\nfever_threshold = 37.5\n",
	  "bad.conf:26: fever_threshold: the fever threshold is a condition of the rules file now" },
	{ "[wicketd]\nsite = s\ngate = g\nmode = curfew\n[mqtt]\nhost = h\n" GOOD_DEVICES,
	  "bad.conf:4: mode: 'curfew' is not one of normal, residents-only, lockdown, open" },
	{ "[wicketd]\nsite = s\ngate = g\nlog_level = loud\n[mqtt]\nhost = h\n" GOOD_DEVICES,
	  "bad.conf:4: log_level: 'loud' is not one of" },
	{ GOOD_HEAD GOOD_DEVICES "[ledger]\nreport_time = 25:00\n",
	  "bad.conf:25: report_time: '25:00' is not HH:MM (00:00..23:59)" },
	{ GOOD_HEAD GOOD_DEVICES "[ledger]\nreport_time = 6:00am\n",
	  "bad.conf:25: report_time: '6:00am' is not HH:MM" },
	{ GOOD_HEAD GOOD_DEVICES "[ledger]\nretention_days = 0\n",
	  "bad.conf:25: retention_days: 0 is out of range 1..3650" },
	{ GOOD_HEAD GOOD_DEVICES "[ledger]\nmemory_queue = lots\n",
	  "bad.conf:25: memory_queue: 'lots' is not a whole number" },
	{ GOOD_HEAD GOOD_DEVICES "[ledger]\nretention_days = 10\noutbox_max_age_days = 20\n",
	  "bad.conf:24: [ledger]: outbox_max_age_days (20) is longer than retention_days (10)" },
	{ GOOD_HEAD GOOD_DEVICES "[ledger]\nkeep = forever\n",
	  "bad.conf:25: unknown key 'keep' in [ledger]" },
	{ GOOD_HEAD GOOD_DEVICES "[privacy]\npublish_fields = credential, name\n",
	  "bad.conf:25: publish_fields: 'name' is not one of credential, temperature, none" },
	{ GOOD_HEAD GOOD_DEVICES "[privacy]\nsalt = x\n",
	  "bad.conf:25: unknown key 'salt' in [privacy]" },
	{ GOOD_HEAD GOOD_DEVICES "[credentials]\n1002 = x\n1003 = y\n",
	  "bad.conf:24: [credentials]: credentials are kept in the registry now; import them with 'wicketctl persons import'" },
	{ GOOD_HEAD "tls_version = sslv3\n" GOOD_DEVICES,
	  "bad.conf:10: tls_version: 'sslv3' is not tlsv1.2 or tlsv1.3" },
	{ GOOD_HEAD "protocol = 3.1\n" GOOD_DEVICES,
	  "bad.conf:10: protocol: '3.1' is not auto, 5 or 3.1.1" },
	{ GOOD_HEAD "ca_file = nosuch.crt\n" GOOD_DEVICES,
	  "bad.conf:10: ca_file: cannot read " },
	{ GOOD_HEAD "ca_file = profiles\n" GOOD_DEVICES,
	  "bad.conf:10: ca_file: " },
	{ GOOD_HEAD "cert_file = pw-crlf\n" GOOD_DEVICES,
	  "bad.conf:10: cert_file: needs key_file too" },
	{ GOOD_HEAD "password_file = pw-crlf\n" GOOD_DEVICES,
	  "bad.conf:10: password_file: needs username too" },
	{ GOOD_HEAD "username = u\npassword_file = pw-empty\n" GOOD_DEVICES,
	  "bad.conf:11: password_file: " },
	{ GOOD_HEAD "session_expiry = 60\n" GOOD_DEVICES,
	  "bad.conf:10: session_expiry: only with clean_session = no" },
	/* the gate kit (issue 6) */
	{ GOOD_HEAD GOOD_DEVICES "[lane y]\nreader = r1\nfail = maybe\n",
	  "bad.conf:26: fail: 'maybe' is not safe" },
	{ GOOD_HEAD GOOD_DEVICES "[lane y]\nreader = r1\nfail = safe\n",
	  "bad.conf:26: fail: lane y has no gate to leave open" },
	{ GOOD_HEAD GOOD_DEVICES "[lane y]\nexit_button = r1\n",
	  "bad.conf:25: exit_button: lane y has no gate for it to open" },
	{ GOOD_HEAD GOOD_DEVICES "[lane y]\nreader = r1\noverride = r1\n",
	  "bad.conf:26: override: lane y has no gate for it to open" },
	{ GOOD_HEAD GOOD_DEVICES "[lane y]\nreader = r1\ndoor = nosuch\n",
	  "bad.conf:26: door: no section [device nosuch]" },
	{ GOOD_HEAD GOOD_DEVICES "[lane y]\nreader = r1\ndoor_held_ms = 5\n",
	  "bad.conf:26: door_held_ms: 5 is out of range 1000..3600000" },
	{ GOOD_HEAD "[device d]\nplugin = p\nfail = safe\n[lane x]\nthermal = d\n",
	  "bad.conf:12: fail: say it in the [lane] whose gate this device is" },
	{ GOOD_HEAD GOOD_DEVICES "[device g]\nplugin = p\n[lane a]\nreader = r1\n"
	  "gate = g\nfail = safe\n[lane b]\nreader = r1\ngate = g\n",
	  "bad.conf:30: fail: lanes a and b share gate g but not its fail state (safe, secure)" },
	{ GOOD_HEAD GOOD_DEVICES "[passes]\nissuers = nosuch.keys\n",
	  "bad.conf:25: issuers: " },
	{ GOOD_HEAD GOOD_DEVICES "[passes]\nkeys = x\n",
	  "bad.conf:25: unknown key 'keys' in [passes]" },
};

/* A lane's fail state reaches its gate device as the item `fail`, with
 * the lane's line; the kit's keys are read. */
static void test_gate_kit(void **state)
{
	struct conf *c;
	struct errors e;
	const struct conf_device *g;
	const struct conf_lane *l;
	int found = 0;

	(void)state;
	assert_int_equal(load("kit.conf", GOOD_HEAD GOOD_DEVICES
			      "[device g]\nplugin = p\n[lane a]\nreader = r1\n"
			      "gate = g\nfail = safe\ndoor = g\nexit_button = g\n"
			      "override = g\nindicator = g\ndoor_held_ms = 5000\n"
			      "door_grant_ms = 2000\n", &c, &e), 0);
	l = &c->lanes[1];
	g = &c->devices[2];
	assert_int_equal(l->fail_safe, 1);
	assert_int_equal(l->door, 2);
	assert_int_equal(l->exit_button, 2);
	assert_int_equal(l->override, 2);
	assert_int_equal(l->indicator, 2);
	assert_int_equal(l->door_held_ms, 5000);
	assert_int_equal(l->door_grant_ms, 2000);
	assert_int_equal(c->lanes[0].fail_safe, 0);
	assert_int_equal(c->lanes[0].door, -1);
	assert_int_equal(c->lanes[0].door_held_ms, 30000);
	for (size_t i = 0; i < g->wk.n_items; i++)
		if (strcmp(g->wk.items[i].key, "fail") == 0) {
			assert_string_equal(g->wk.items[i].value, "safe");
			assert_int_equal(g->wk.items[i].line, 29);
			found = 1;
		}
	assert_true(found);
	conf_free(c);
}

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct conf *c = (struct conf *)1;
		struct errors e;
		int rc = load("bad.conf", bad[i].text, &c, &e);

		print_message("case %zu: %s\n", i, bad[i].error);
		for (int k = 0; k < e.n && k < 16; k++)
			print_message("   got %s\n", e.text[k]);
		assert_true(rc > 0);
		assert_null(c);
		assert_int_equal(rc, e.n);
		assert_true(has_error(&e, bad[i].error));
	}
}

static void test_every_error_reported(void **state)
{
	struct conf *c;
	struct errors e;

	(void)state;
	assert_true(load("many.conf",
			 "[wicketd]\nsite = s\ngate = g\nfoo = 1\nprofile_dir = profiles\n[mqtt]\nhost = h\n"
			 "port = x\nbar = 2\n" GOOD_DEVICES, &c, &e) > 0);
	for (int k = 0; k < e.n && k < 16; k++)
		print_message("   got %s\n", e.text[k]);
	assert_int_equal(e.n, 3);
	assert_true(has_error(&e, "many.conf:4: unknown key 'foo'"));
	assert_true(has_error(&e, "many.conf:8: port: 'x' is not a whole number"));
	assert_true(has_error(&e, "many.conf:9: unknown key 'bar'"));
}

static void test_missing_file(void **state)
{
	struct conf *c;
	struct errors e;

	(void)state;
	assert_int_equal(load("nosuch.conf", NULL, &c, &e), -ENOENT);
	assert_null(c);
	assert_true(has_error(&e, "nosuch.conf:0: cannot open: No such file"));
}

static void test_mqtt_keys(void **state)
{
	struct conf *c;
	struct errors e;

	(void)state;
	/* defaults: no TLS, MQTT 5 with fall-back, clean session */
	assert_int_equal(load("m1.conf", GOOD_HEAD GOOD_DEVICES, &c, &e), 0);
	assert_int_equal(c->mqtt.tls, 0);
	assert_int_equal(c->mqtt.protocol, CONF_MQTT_AUTO);
	assert_int_equal(c->mqtt.clean_session, 1);
	assert_string_equal(c->mqtt.tls_version, "tlsv1.2");
	assert_null(c->mqtt.username);
	assert_null(c->mqtt.password);
	conf_free(c);
	/* a CA file turns TLS on, and the default port with it; relative
	 * paths are taken from the config's directory; the password is the
	 * first line without its line end */
	assert_int_equal(load("m2.conf",
			      "[wicketd]\nsite = s1\ngate = g1\nprofile_dir = profiles\n"
			      "[mqtt]\nhost = h\nca_file = profiles/therm.conf\n"
			      "username = u\npassword_file = pw-crlf\nprotocol = 3.1.1\n"
			      "clean_session = no\ntls_version = tlsv1.3\n" GOOD_DEVICES,
			      &c, &e), 0);
	assert_int_equal(c->mqtt.tls, 1);
	assert_int_equal(c->mqtt.port, 8883);
	assert_non_null(strstr(c->mqtt.ca_file, dir));
	assert_string_equal(c->mqtt.password, "pass word");
	assert_string_equal(c->mqtt.username, "u");
	assert_int_equal(c->mqtt.protocol, CONF_MQTT_V311);
	assert_int_equal(c->mqtt.clean_session, 0);
	assert_int_equal(c->mqtt.session_expiry, 86400);
	assert_string_equal(c->mqtt.tls_version, "tlsv1.3");
	conf_free(c);
	/* tls = no wins; a port given stays */
	assert_int_equal(load("m3.conf", GOOD_HEAD "ca_file = profiles/therm.conf\n"
			      "tls = no\n" GOOD_DEVICES, &c, &e), 0);
	assert_int_equal(c->mqtt.tls, 0);
	assert_int_equal(c->mqtt.port, 1884);
	conf_free(c);
}

static void test_long_line(void **state)
{
	char text[2048];
	struct conf *c;
	struct errors e;

	(void)state;
	snprintf(text, sizeof(text), GOOD_HEAD "client_id = %0900d\n" GOOD_DEVICES, 7);
	assert_true(load("long.conf", text, &c, &e) > 0);
	assert_true(has_error(&e, "long.conf:10: line longer than"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gate_kit),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_mqtt_keys),
	};

	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
