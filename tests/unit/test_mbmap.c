/*
 * mbmap: good profiles parse to the documented values and defaults; every
 * bad value, missing key, conflicting pair and unknown key is an error that
 * names the key and points at the right line; several mistakes are all
 * reported; credentials decode, encode and refuse what they should.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mbmap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ITEMS 16
#define MAX_ERRS 16

struct errs {
	int n;
	char msg[MAX_ERRS][256];
	const char *key[MAX_ERRS];	/* of the item it points at, or NULL */
};

static int collect(void *ctx, const struct wk_conf_item *item,
		   const char *fmt, ...) WK_PRINTF(3, 4);

static int collect(void *ctx, const struct wk_conf_item *item,
		   const char *fmt, ...)
{
	struct errs *e = ctx;
	va_list ap;

	if (e->n < MAX_ERRS) {
		va_start(ap, fmt);
		vsnprintf(e->msg[e->n], sizeof(e->msg[0]), fmt, ap);
		va_end(ap);
		e->key[e->n] = item != NULL ? item->key : NULL;
	}
	e->n++;
	return -EINVAL;
}

enum kind { K_LINK, K_THERMAL, K_GATE, K_READER };

struct kv {
	const char *k, *v;
};

/* A conf over a static table, as the host would hand it over. */
struct tconf {
	struct wk_conf conf;
	struct wk_conf_item items[MAX_ITEMS];
	unsigned char used[MAX_ITEMS];
};

static void make_conf(struct tconf *t, const struct kv *kv)
{
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	for (; n < MAX_ITEMS && kv[n].k != NULL; n++) {
		t->items[n].key = kv[n].k;
		t->items[n].value = kv[n].v;
		t->items[n].file = "test.conf";
		t->items[n].line = (int)n + 1;
	}
	t->conf.name = "dev";
	t->conf.file = "test.conf";
	t->conf.n_items = n;
	t->conf.items = t->items;
}

union maps {
	struct mb_link link;
	struct mb_thermal_map thermal;
	struct mb_gate_map gate;
	struct mb_reader_map reader;
};

/* Parse as a plugin would: the kind's map, then unknown keys. */
static int parse(enum kind k, const struct kv *kv, union maps *m,
		 struct errs *e)
{
	struct tconf t;
	int r1, r2;

	make_conf(&t, kv);
	memset(e, 0, sizeof(*e));
	switch (k) {
	case K_LINK:
		r1 = mbmap_parse_link(&t.conf, t.used, &m->link, collect, e);
		break;
	case K_THERMAL:
		r1 = mbmap_parse_thermal(&t.conf, t.used, &m->thermal, collect, e);
		break;
	case K_GATE:
		r1 = mbmap_parse_gate(&t.conf, t.used, &m->gate, collect, e);
		break;
	default:
		r1 = mbmap_parse_reader(&t.conf, t.used, &m->reader, collect, e);
		break;
	}
	r2 = mbmap_check_unused(&t.conf, t.used, collect, e);
	return r1 < 0 || r2 < 0 ? -EINVAL : 0;
}

struct pcase {
	const char *name;
	enum kind kind;
	struct kv kv[MAX_ITEMS];
	const char *want;	/* substring of an error; NULL: no error */
	const char *at;		/* key of the item it points at; NULL: none */
};

#define TH_OK { "temperature_register", "0" }, { "sequence_register", "1" }
#define RD_OK { "sequence_register", "0" }, { "credential_register", "1" }

static const struct pcase cases[] = {
	/* link */
	{ "link minimal", K_LINK, { { "host", "10.0.0.5" } }, NULL, NULL },
	{ "link full", K_LINK, { { "host", "10.0.0.5" }, { "port", "1502" },
	  { "unit", "0" }, { "poll_ms", "10" }, { "timeout_ms", "60000" },
	  { "backoff_max_ms", "3600000" } }, NULL, NULL },
	{ "link no host", K_LINK, { { "port", "502" } },
	  "missing key 'host' (Modbus TCP) or 'serial' (Modbus RTU)", NULL },
	{ "link host name", K_LINK, { { "host", "plc.local" } }, NULL, NULL },
	{ "link host space", K_LINK, { { "host", "plc local" } },
	  "host: 'plc local' is not a host name or address", "host" },
	{ "link host empty", K_LINK, { { "host", "" } }, "host:", "host" },
	{ "link port 0", K_LINK, { { "host", "10.0.0.5" }, { "port", "0" } },
	  "port: 0 is out of range, expected 1..65535", "port" },
	{ "link port big", K_LINK, { { "host", "10.0.0.5" }, { "port", "65536" } },
	  "port: 65536 is out of range", "port" },
	{ "link port typo", K_LINK, { { "host", "10.0.0.5" }, { "port", "15o2" } },
	  "port: '15o2' is not an integer", "port" },
	{ "link unit", K_LINK, { { "host", "10.0.0.5" }, { "unit", "256" } },
	  "unit: 256 is out of range, expected 0..255", "unit" },
	{ "link unit 248", K_LINK, { { "host", "10.0.0.5" }, { "unit", "248" } },
	  "unit: 248 is reserved on Modbus TCP, expected 0..247 or 255", "unit" },
	{ "link unit 255", K_LINK, { { "host", "10.0.0.5" }, { "unit", "255" } },
	  NULL, NULL },
	{ "link retries", K_LINK, { { "host", "10.0.0.5" }, { "retries", "6" } },
	  "retries: 6 is out of range, expected 0..5", "retries" },
	{ "link tcp baud", K_LINK, { { "host", "10.0.0.5" }, { "baud", "9600" } },
	  "baud: only for Modbus RTU (serial =)", "baud" },
	{ "link tcp gap", K_LINK, { { "host", "10.0.0.5" }, { "frame_gap_ms", "1001" } },
	  "frame_gap_ms: 1001 is out of range, expected 0..1000", "frame_gap_ms" },
	/* RTU */
	{ "rtu minimal", K_LINK, { { "serial", "/dev/ttyUSB0" } }, NULL, NULL },
	{ "rtu full", K_LINK, { { "serial", "/dev/ttyAMA0" }, { "baud", "19200" },
	  { "parity", "even" }, { "data_bits", "7" }, { "stop_bits", "2" },
	  { "rs485", "on" }, { "unit", "247" }, { "frame_gap_ms", "0" },
	  { "retries", "0" } }, NULL, NULL },
	{ "rtu and tcp", K_LINK, { { "serial", "/dev/ttyUSB0" }, { "host", "10.0.0.5" } },
	  "a device is on a serial line (serial) or on TCP (host), not both", "serial" },
	{ "rtu relative path", K_LINK, { { "serial", "ttyUSB0" } },
	  "serial: 'ttyUSB0' is not a device path", "serial" },
	{ "rtu odd baud", K_LINK, { { "serial", "/dev/ttyS1" }, { "baud", "9601" } },
	  "baud: 9601 is not a serial speed", "baud" },
	{ "rtu parity", K_LINK, { { "serial", "/dev/ttyS1" }, { "parity", "mark" } },
	  "parity: 'mark' is not one of none, even, odd", "parity" },
	{ "rtu data bits", K_LINK, { { "serial", "/dev/ttyS1" }, { "data_bits", "6" } },
	  "data_bits: 6 is out of range, expected 7..8", "data_bits" },
	{ "rtu stop bits", K_LINK, { { "serial", "/dev/ttyS1" }, { "stop_bits", "3" } },
	  "stop_bits: 3 is out of range, expected 1..2", "stop_bits" },
	{ "rtu rs485", K_LINK, { { "serial", "/dev/ttyS1" }, { "rs485", "yes" } },
	  "rs485: 'yes' is not one of auto, on, off", "rs485" },
	{ "rtu unit 0", K_LINK, { { "serial", "/dev/ttyS1" }, { "unit", "0" } },
	  "unit: 0 is out of range, expected 1..247", "unit" },
	{ "rtu port", K_LINK, { { "serial", "/dev/ttyS1" }, { "port", "502" } },
	  "port: only for Modbus TCP (host =)", "port" },
	{ "link poll_ms", K_LINK, { { "host", "10.0.0.5" }, { "poll_ms", "9" } },
	  "poll_ms: 9 is out of range", "poll_ms" },
	{ "link timeout_ms", K_LINK, { { "host", "10.0.0.5" }, { "timeout_ms", "60001" } },
	  "timeout_ms: 60001 is out of range", "timeout_ms" },
	{ "link backoff", K_LINK, { { "host", "10.0.0.5" }, { "backoff_max_ms", "99" } },
	  "backoff_max_ms: 99 is out of range", "backoff_max_ms" },
	{ "link unknown", K_LINK, { { "host", "10.0.0.5" }, { "hots", "x" } },
	  "unknown key 'hots'", "hots" },
	{ "link description", K_LINK, { { "host", "10.0.0.5" },
	  { "description", "anything" } }, NULL, NULL },

	/* thermal */
	{ "thermal minimal", K_THERMAL, { TH_OK }, NULL, NULL },
	{ "thermal ready", K_THERMAL, { { "temperature_register", "0" },
	  { "ready_register", "5" } }, NULL, NULL },
	{ "thermal float input", K_THERMAL, { { "table", "input" },
	  { "temperature_register", "100" }, { "temperature_type", "float32" },
	  { "word_order", "cdab" }, { "sequence_register", "102" },
	  { "description", "x" } }, NULL, NULL },
	{ "thermal type", K_THERMAL, { TH_OK, { "temperature_type", "int12" } },
	  "temperature_type: 'int12' is not one of int16, uint16, int32, uint32, float32",
	  "temperature_type" },
	{ "thermal order", K_THERMAL, { TH_OK, { "word_order", "abdc" } },
	  "word_order: 'abdc' is not one of abcd, cdab, badc, dcba", "word_order" },
	{ "thermal table", K_THERMAL, { TH_OK, { "table", "coil" } },
	  "table: 'coil' is not one of holding, input", "table" },
	{ "thermal scale 0", K_THERMAL, { TH_OK, { "scale", "0" } },
	  "scale: must not be 0", "scale" },
	{ "thermal scale text", K_THERMAL, { TH_OK, { "scale", "0,1" } },
	  "scale: '0,1' is not a number", "scale" },
	{ "thermal offset", K_THERMAL, { TH_OK, { "offset", "nan" } },
	  "offset: 'nan' is not a number", "offset" },
	{ "thermal register big", K_THERMAL, { { "temperature_register", "65536" },
	  { "sequence_register", "1" } },
	  "temperature_register: 65536 is out of range, expected 0..65535",
	  "temperature_register" },
	{ "thermal register negative", K_THERMAL, { { "temperature_register", "-1" },
	  { "sequence_register", "1" } },
	  "temperature_register: -1 is out of range", "temperature_register" },
	{ "thermal register past end", K_THERMAL, { { "temperature_register", "65535" },
	  { "temperature_type", "int32" }, { "sequence_register", "1" } },
	  "temperature_register: 65535 + 2 registers of int32 runs past 65535",
	  "temperature_register" },
	{ "thermal no register", K_THERMAL, { { "sequence_register", "1" } },
	  "missing key 'temperature_register'", NULL },
	{ "thermal no flag", K_THERMAL, { { "temperature_register", "0" } },
	  "missing key 'sequence_register' or 'ready_register'", NULL },
	{ "thermal both flags", K_THERMAL, { TH_OK, { "ready_register", "2" } },
	  "not both", "ready_register" },
	{ "thermal ready on input", K_THERMAL, { { "table", "input" },
	  { "temperature_register", "0" }, { "ready_register", "1" } },
	  "ready_register: needs table = holding", "ready_register" },
	{ "thermal overlap", K_THERMAL, { { "temperature_register", "0" },
	  { "temperature_type", "float32" }, { "sequence_register", "1" } },
	  "sequence_register: 1 overlaps", "sequence_register" },
	{ "thermal sequence bad", K_THERMAL, { { "temperature_register", "0" },
	  { "sequence_register", "one" } },
	  "sequence_register: 'one' is not an integer", "sequence_register" },
	{ "thermal calibration", K_THERMAL, { TH_OK, { "calibration", "10.5" } },
	  "calibration: 10.5 is out of range, expected -10..10", "calibration" },
	{ "thermal plausible order", K_THERMAL, { TH_OK, { "plausible_min", "40" },
	  { "plausible_max", "35" } },
	  "plausible_max: 35 must be above plausible_min 40", "plausible_max" },
	{ "thermal plausible min only", K_THERMAL, { TH_OK,
	  { "plausible_min", "46" } }, "must be above", "plausible_min" },
	{ "thermal plausible text", K_THERMAL, { TH_OK, { "plausible_max", "hot" } },
	  "plausible_max: 'hot' is not a number", "plausible_max" },
	{ "thermal unknown", K_THERMAL, { TH_OK, { "temperature_scale", "0.1" } },
	  "unknown key 'temperature_scale'", "temperature_scale" },
	{ "thermal link key unknown", K_THERMAL, { TH_OK, { "pulse_ms", "5" } },
	  "unknown key 'pulse_ms'", "pulse_ms" },

	/* gate */
	{ "gate coil", K_GATE, { { "open_coil", "0" } }, NULL, NULL },
	{ "gate register", K_GATE, { { "open_register", "7" },
	  { "open_value", "0x5A5A" }, { "pulse_ms", "60000" },
	  { "status_register", "10" }, { "description", "x" } }, NULL, NULL },
	{ "gate none", K_GATE, { { "pulse_ms", "500" } },
	  "missing key 'open_coil' or 'open_register'", NULL },
	{ "gate both", K_GATE, { { "open_coil", "0" }, { "open_register", "1" } },
	  "open_register: set either open_coil or open_register, not both",
	  "open_register" },
	{ "gate value with coil", K_GATE, { { "open_coil", "0" },
	  { "open_value", "2" } }, "open_value: only with open_register",
	  "open_value" },
	{ "gate value 0", K_GATE, { { "open_register", "0" }, { "open_value", "0" } },
	  "open_value: 0 is out of range, expected 1..65535", "open_value" },
	{ "gate coil big", K_GATE, { { "open_coil", "70000" } },
	  "open_coil: 70000 is out of range", "open_coil" },
	{ "gate pulse", K_GATE, { { "open_coil", "0" }, { "pulse_ms", "5" } },
	  "pulse_ms: 5 is out of range, expected 10..60000", "pulse_ms" },
	{ "gate status", K_GATE, { { "open_coil", "0" }, { "status_register", "x" } },
	  "status_register: 'x' is not an integer", "status_register" },
	{ "gate unknown", K_GATE, { { "open_coil", "0" }, { "close_coil", "1" } },
	  "unknown key 'close_coil'", "close_coil" },

	/* reader */
	{ "reader minimal", K_READER, { RD_OK }, NULL, NULL },
	{ "reader uint32", K_READER, { { "table", "input" },
	  { "sequence_register", "9" }, { "credential_register", "10" },
	  { "credential_format", "uint32" }, { "credential_length", "2" } },
	  NULL, NULL },
	{ "reader ascii 31", K_READER, { RD_OK, { "credential_length", "31" } },
	  NULL, NULL },
	{ "reader no sequence", K_READER, { { "credential_register", "1" } },
	  "missing key 'sequence_register'", NULL },
	{ "reader no credential", K_READER, { { "sequence_register", "0" } },
	  "missing key 'credential_register'", NULL },
	{ "reader format", K_READER, { RD_OK, { "credential_format", "hex" } },
	  "credential_format: 'hex' is not one of ascii, uint32",
	  "credential_format" },
	{ "reader length 0", K_READER, { RD_OK, { "credential_length", "0" } },
	  "credential_length: 0 is out of range, expected 1..31",
	  "credential_length" },
	{ "reader length 32", K_READER, { RD_OK, { "credential_length", "32" } },
	  "credential_length: 32 is out of range", "credential_length" },
	{ "reader uint32 length", K_READER, { RD_OK,
	  { "credential_format", "uint32" }, { "credential_length", "4" } },
	  "credential_length: 4 is out of range, expected 2..2",
	  "credential_length" },
	{ "reader overlap", K_READER, { { "sequence_register", "4" },
	  { "credential_register", "1" } },
	  "sequence_register: 4 overlaps the credential registers 1..8",
	  "sequence_register" },
	{ "reader past end", K_READER, { { "sequence_register", "0" },
	  { "credential_register", "65530" } },
	  "credential_register: 65530 + 8 registers runs past 65535",
	  "credential_register" },
	{ "reader table", K_READER, { RD_OK, { "table", "coils" } },
	  "table: 'coils'", "table" },
	{ "reader unknown", K_READER, { RD_OK, { "credential_type", "ascii" } },
	  "unknown key 'credential_type'", "credential_type" },
};

static void test_cases(void **st)
{
	(void)st;
	for (size_t i = 0; i < N(cases); i++) {
		const struct pcase *c = &cases[i];
		union maps m;
		struct errs e;
		int r = parse(c->kind, c->kv, &m, &e), found = -1;

		if (c->want == NULL) {
			if (r != 0 || e.n != 0) {
				print_error("%s: unexpected error: %s\n", c->name,
					    e.n ? e.msg[0] : "(none)");
				fail();
			}
			continue;
		}
		for (int k = 0; k < e.n && k < MAX_ERRS; k++) {
			if (strstr(e.msg[k], c->want) != NULL)
				found = k;
		}
		if (r != -EINVAL || found < 0) {
			print_error("%s: rc %d, want error '%s', got %d: %s\n",
				    c->name, r, c->want, e.n,
				    e.n ? e.msg[0] : "(none)");
			fail();
		}
		/* where it points: the offending line, or the section */
		if (c->at == NULL ? e.key[found] != NULL
				  : e.key[found] == NULL ||
					    strcmp(e.key[found], c->at) != 0) {
			print_error("%s: error points at '%s', want '%s'\n",
				    c->name, e.key[found] ? e.key[found] : "(section)",
				    c->at ? c->at : "(section)");
			fail();
		}
	}
}

/* Line defaults, the RTU frame gap from the line speed, and which bus key
 * two devices on one line disagree on. */
static void test_rtu_link(void **st)
{
	static const struct {
		const char *baud, *parity;
		unsigned gap;
	} gaps[] = {
		{ "1200", "none", 30 },	/* 3.5 * 10 bits / 1200 = 29.2 ms */
		{ "9600", "none", 4 },	/* 3.65 ms */
		{ "9600", "even", 5 },	/* 11 bits: 4.01 ms */
		{ "19200", "none", 2 },	/* 1.82 ms */
		{ "115200", "even", 2 },	/* fixed 1.75 ms above 19200 */
	};
	struct kv kv[4] = { { "serial", "/dev/ttyUSB0" } };
	union maps m, other;
	struct errs e;
	char buf[32];

	(void)st;
	kv[1].k = NULL;
	assert_int_equal(parse(K_LINK, kv, &m, &e), 0);
	assert_int_equal(m.link.transport, MB_RTU);
	assert_string_equal(m.link.serial, "/dev/ttyUSB0");
	assert_int_equal(m.link.baud, 9600);
	assert_int_equal(m.link.parity, 'N');
	assert_int_equal(m.link.data_bits, 8);
	assert_int_equal(m.link.stop_bits, 1);
	assert_int_equal(m.link.rs485, MB_RS485_AUTO);
	assert_int_equal(m.link.unit, 1);
	mbmap_bus_name(&m.link, buf, sizeof(buf));
	assert_string_equal(buf, "rtu /dev/ttyUSB0");

	for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
		kv[1] = (struct kv){ "baud", gaps[i].baud };
		kv[2] = (struct kv){ "parity", gaps[i].parity };
		kv[3] = (struct kv){ NULL, NULL };
		assert_int_equal(parse(K_LINK, kv, &m, &e), 0);
		if (m.link.frame_gap_ms != gaps[i].gap) {
			print_error("%s baud %s: gap %u ms, want %u\n",
				    gaps[i].parity, gaps[i].baud,
				    m.link.frame_gap_ms, gaps[i].gap);
			fail();
		}
	}

	/* 9600 8N1 against 19200 8N1: baud, not the gap that follows */
	kv[1] = (struct kv){ "baud", "9600" };
	kv[2] = (struct kv){ NULL, NULL };
	assert_int_equal(parse(K_LINK, kv, &m, &e), 0);
	kv[1] = (struct kv){ "baud", "19200" };
	assert_int_equal(parse(K_LINK, kv, &other, &e), 0);
	assert_string_equal(mbmap_link_conflict(&m.link, &other.link), "baud");
	mbmap_bus_value(&other.link, "baud", buf, sizeof(buf));
	assert_string_equal(buf, "19200");
	assert_null(mbmap_link_conflict(&m.link, &m.link));
	kv[1] = (struct kv){ "parity", "odd" };
	assert_int_equal(parse(K_LINK, kv, &other, &e), 0);
	assert_string_equal(mbmap_link_conflict(&m.link, &other.link), "parity");
	mbmap_bus_value(&other.link, "parity", buf, sizeof(buf));
	assert_string_equal(buf, "odd");
	kv[1] = (struct kv){ "frame_gap_ms", "10" };
	assert_int_equal(parse(K_LINK, kv, &other, &e), 0);
	assert_string_equal(mbmap_link_conflict(&m.link, &other.link),
			     "frame_gap_ms");
}

static void test_defaults(void **st)
{
	static const struct kv link[] = { { "host", "192.168.1.20" }, { NULL, NULL } };
	static const struct kv th[] = { TH_OK, { NULL, NULL } };
	static const struct kv gate[] = { { "open_coil", "3" }, { NULL, NULL } };
	static const struct kv rd[] = { RD_OK, { NULL, NULL } };
	union maps m;
	struct errs e;

	(void)st;
	assert_int_equal(parse(K_LINK, link, &m, &e), 0);
	assert_string_equal(m.link.host, "192.168.1.20");
	assert_int_equal(m.link.port, 502);
	assert_int_equal(m.link.unit, 1);
	assert_int_equal(m.link.poll_ms, 200);
	assert_int_equal(m.link.timeout_ms, 500);
	assert_int_equal(m.link.backoff_max_ms, 10000);
	assert_int_equal(m.link.transport, MB_TCP);
	assert_int_equal(m.link.retries, 1);
	assert_int_equal(m.link.frame_gap_ms, 0);

	assert_int_equal(parse(K_THERMAL, th, &m, &e), 0);
	assert_int_equal(m.thermal.table, MB_HOLDING);
	assert_int_equal(m.thermal.temperature_register, 0);
	assert_int_equal(m.thermal.temperature.type, RM_INT16);
	assert_int_equal(m.thermal.temperature.order, RM_ABCD);
	assert_true(m.thermal.temperature.scale == 1);
	assert_true(m.thermal.temperature.offset == 0);
	assert_int_equal(m.thermal.sequence_register, 1);
	assert_int_equal(m.thermal.ready_register, -1);
	assert_true(m.thermal.calibration == 0);
	assert_true(m.thermal.plausible_min == 30.0);
	assert_true(m.thermal.plausible_max == 45.0);

	assert_int_equal(parse(K_GATE, gate, &m, &e), 0);
	assert_int_equal(m.gate.open_table, MB_COIL);
	assert_int_equal(m.gate.open_address, 3);
	assert_int_equal(m.gate.open_value, 1);
	assert_int_equal(m.gate.pulse_ms, 500);
	assert_int_equal(m.gate.status_register, -1);

	assert_int_equal(parse(K_READER, rd, &m, &e), 0);
	assert_int_equal(m.reader.table, MB_HOLDING);
	assert_int_equal(m.reader.sequence_register, 0);
	assert_int_equal(m.reader.credential_register, 1);
	assert_int_equal(m.reader.credential_format, MB_CRED_ASCII);
	assert_int_equal(m.reader.credential_length, 8);
}

/* The shipped profiles' values, as written in etc/wicket/profiles. */
static void test_profile_values(void **st)
{
	static const struct kv th[] = {
		{ "description", "Generic IR thermometer" },
		{ "table", "holding" }, { "temperature_register", "0" },
		{ "temperature_type", "int16" }, { "word_order", "abcd" },
		{ "scale", "0.1" }, { "offset", "0" },
		{ "sequence_register", "1" }, { "calibration", "0" },
		{ "plausible_min", "30.0" }, { "plausible_max", "45.0" },
		{ "host", "127.0.0.1" }, { "port", "1502" }, { NULL, NULL } };
	static const struct kv gate[] = {
		{ "description", "relay" }, { "open_register", "4" },
		{ "open_value", "2" }, { "pulse_ms", "800" },
		{ "status_register", "10" }, { NULL, NULL } };
	static const struct kv rd[] = {
		{ "description", "reader" }, { "table", "input" },
		{ "sequence_register", "0" }, { "credential_register", "1" },
		{ "credential_format", "uint32" }, { NULL, NULL } };
	struct tconf t;
	struct mb_link link;
	struct mb_thermal_map tm;
	union maps m;
	struct errs e;

	(void)st;
	/* link and map over one conf, as the plugins do */
	make_conf(&t, th);
	memset(&e, 0, sizeof(e));
	assert_int_equal(mbmap_parse_link(&t.conf, t.used, &link, collect, &e), 0);
	assert_int_equal(mbmap_parse_thermal(&t.conf, t.used, &tm, collect, &e), 0);
	assert_int_equal(mbmap_check_unused(&t.conf, t.used, collect, &e), 0);
	assert_int_equal(e.n, 0);
	assert_int_equal(link.port, 1502);
	assert_true(tm.temperature.scale == 0.1);

	assert_int_equal(parse(K_GATE, gate, &m, &e), 0);
	assert_int_equal(m.gate.open_table, MB_HOLDING);
	assert_int_equal(m.gate.open_address, 4);
	assert_int_equal(m.gate.open_value, 2);
	assert_int_equal(m.gate.pulse_ms, 800);
	assert_int_equal(m.gate.status_register, 10);

	assert_int_equal(parse(K_READER, rd, &m, &e), 0);
	assert_int_equal(m.reader.table, MB_INPUT);
	assert_int_equal(m.reader.credential_format, MB_CRED_UINT32);
	assert_int_equal(m.reader.credential_length, 2);
}

/* One pass reports every mistake, not just the first. */
static void test_all_errors(void **st)
{
	static const struct kv th[] = {
		{ "temperature_type", "int12" }, { "word_order", "xyzw" },
		{ "scale", "0" }, { "calibration", "20" }, { "colour", "red" },
		{ NULL, NULL } };
	static const char *const want[] = {
		"temperature_type:", "word_order:", "scale:", "calibration:",
		"missing key 'temperature_register'",
		"missing key 'sequence_register' or 'ready_register'",
		"unknown key 'colour'",
	};
	union maps m;
	struct errs e;

	(void)st;
	assert_int_equal(parse(K_THERMAL, th, &m, &e), -EINVAL);
	assert_int_equal(e.n, (int)N(want));
	for (size_t i = 0; i < N(want); i++) {
		int found = 0;

		for (int k = 0; k < e.n; k++)
			found |= strstr(e.msg[k], want[i]) != NULL;
		if (!found) {
			print_error("no error '%s'\n", want[i]);
			fail();
		}
	}
}

struct cred_case {
	enum mb_cred_format fmt;
	int len;
	uint16_t regs[8];
	const char *text;	/* decoded text, or NULL */
	int rc;
};

static const struct cred_case cred_cases[] = {
	{ MB_CRED_ASCII, 8, { 0x4341, 0x5244, 0x2D30, 0x3034, 0x3200 },
	  "CARD-0042", 0 },
	{ MB_CRED_ASCII, 8, { 0x4142, 0x4344, 0x4546, 0x4748, 0x494A, 0x4B4C,
	  0x4D4E, 0x4F50 }, "ABCDEFGHIJKLMNOP", 0 },	/* full, no NUL */
	{ MB_CRED_ASCII, 4, { 0x4142, 0x0000, 0x4344, 0x0000 }, "AB", 0 },
	{ MB_CRED_ASCII, 2, { 0x4100, 0x4242 }, "A", 0 },	/* NUL in low byte */
	{ MB_CRED_ASCII, 1, { 0x7E20 }, "~ ", 0 },
	{ MB_CRED_ASCII, 8, { 0 }, NULL, -EINVAL },	/* empty: no card */
	{ MB_CRED_ASCII, 2, { 0x4101, 0x4200 }, NULL, -EINVAL },	/* control */
	{ MB_CRED_ASCII, 2, { 0x41FF, 0x0000 }, NULL, -EINVAL },	/* not ascii */
	{ MB_CRED_ASCII, 2, { 0x417F, 0x0000 }, NULL, -EINVAL },	/* DEL */
	{ MB_CRED_ASCII, 2, { 0x1F41, 0x0000 }, NULL, -EINVAL },
	{ MB_CRED_UINT32, 2, { 0x1234, 0x5678 }, "305419896", 0 },
	{ MB_CRED_UINT32, 2, { 0xFFFF, 0xFFFF }, "4294967295", 0 },
	{ MB_CRED_UINT32, 2, { 0x0000, 0x0001 }, "1", 0 },
	{ MB_CRED_UINT32, 2, { 0x0000, 0x0000 }, NULL, -EINVAL },
};

static void test_credential_decode(void **st)
{
	(void)st;
	for (size_t i = 0; i < N(cred_cases); i++) {
		const struct cred_case *c = &cred_cases[i];
		struct mb_reader_map m = { .credential_format = c->fmt,
					   .credential_length = c->len };
		char out[WK_CREDENTIAL_MAX];
		uint16_t regs[8];
		int r = mbmap_decode_credential(&m, c->regs, out, sizeof(out));

		if (r != c->rc || (c->text != NULL && strcmp(out, c->text))) {
			print_error("case %zu: rc %d '%s'\n", i, r, out);
			fail();
		}
		if (c->text == NULL)
			continue;
		/* and back: the same registers, up to what follows a NUL */
		memset(regs, 0xEE, sizeof(regs));
		assert_int_equal(mbmap_encode_credential(&m, c->text, regs), 0);
		r = mbmap_decode_credential(&m, regs, out, sizeof(out));
		assert_int_equal(r, 0);
		assert_string_equal(out, c->text);
		if (i == 0)
			assert_memory_equal(regs, c->regs, 8 * sizeof(uint16_t));
	}
}

static void test_credential_decode_small_buffer(void **st)
{
	struct mb_reader_map m = { .credential_format = MB_CRED_ASCII,
				   .credential_length = 2 };
	uint16_t regs[2] = { 0x4142, 0x4344 };
	char out[5];

	(void)st;
	assert_int_equal(mbmap_decode_credential(&m, regs, out, 4), -ERANGE);
	assert_string_equal(out, "");
	assert_int_equal(mbmap_decode_credential(&m, regs, out, 5), 0);
	assert_string_equal(out, "ABCD");
}

struct enc_case {
	enum mb_cred_format fmt;
	int len;
	const char *text;
	int rc;
};

static const struct enc_case enc_cases[] = {
	{ MB_CRED_ASCII, 8, "0123456789ABCDEF", 0 },
	{ MB_CRED_ASCII, 8, "0123456789ABCDEFG", -ERANGE },	/* 17 > 16 */
	{ MB_CRED_ASCII, 1, "AB", 0 },
	{ MB_CRED_ASCII, 1, "ABC", -ERANGE },
	{ MB_CRED_ASCII, 8, "", -EINVAL },
	{ MB_CRED_ASCII, 8, "tab\there", -EINVAL },
	{ MB_CRED_ASCII, 8, "caf\xc3\xa9", -EINVAL },
	{ MB_CRED_UINT32, 2, "4294967295", 0 },
	{ MB_CRED_UINT32, 2, "4294967296", -ERANGE },
	{ MB_CRED_UINT32, 2, "99999999999999999999999", -ERANGE },
	{ MB_CRED_UINT32, 2, "0", -EINVAL },
	{ MB_CRED_UINT32, 2, "", -EINVAL },
	{ MB_CRED_UINT32, 2, "12a", -EINVAL },
	{ MB_CRED_UINT32, 2, "-1", -EINVAL },
	{ MB_CRED_UINT32, 2, "0x10", -EINVAL },
};

static void test_credential_encode(void **st)
{
	(void)st;
	for (size_t i = 0; i < N(enc_cases); i++) {
		const struct enc_case *c = &enc_cases[i];
		struct mb_reader_map m = { .credential_format = c->fmt,
					   .credential_length = c->len };
		uint16_t regs[8];
		int r = mbmap_encode_credential(&m, c->text, regs);

		if (r != c->rc) {
			print_error("case %zu '%s': rc %d want %d\n", i,
				    c->text, r, c->rc);
			fail();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_rtu_link),
		cmocka_unit_test(test_profile_values),
		cmocka_unit_test(test_all_errors),
		cmocka_unit_test(test_credential_decode),
		cmocka_unit_test(test_credential_decode_small_buffer),
		cmocka_unit_test(test_credential_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
