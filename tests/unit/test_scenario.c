/*
 * scenario: wicket-sim's scenario parser, as tables of good and bad lines,
 * then whole files (time order, `end`, `person` sorting, the per-step check
 * hook, error lines), and the gate kit's actions (door, press, fire,
 * Wiegand frames checked by the daemon's own decoder, scanner lines).
 *
 * The Makefile links unit tests with the daemon's objects only, not with
 * wicket-sim's, so this file includes the parser's source directly; it
 * needs nothing but libc and daemon/confval.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/wicket-sim/scenario.c"
#include "wiegand.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct scn_dev devs[] = {
	{ "thermal1", SIM_THERMAL },
	{ "reader1", SIM_READER },
	{ "gate1", SIM_GATE },
	{ "kit1", SIM_KIT },
	{ "scanner1", SIM_SCANNER },
};

enum { TH = 0, RD = 1, GT = 2, KT = 3, SC = 4, NONE = -1 };

struct good_case {
	const char *line;
	int n;				/* steps expected */
	int64_t at_ms;
	int device;
	enum scn_action action;
	const char *text;
	double temp;
	size_t n_raw;
	uint16_t raw[SCN_RAW_MAX];
	enum scn_fault fault;
	uint16_t state;
};

static const struct good_case good[] = {
	{ "", 0, 0, 0, 0, NULL, 0, 0, { 0 }, 0, 0 },
	{ "   \t ", 0, 0, 0, 0, NULL, 0, 0, { 0 }, 0, 0 },
	{ "# just a comment", 0, 0, 0, 0, NULL, 0, 0, { 0 }, 0, 0 },
	{ "  # indented comment\n", 0, 0, 0, 0, NULL, 0, 0, { 0 }, 0, 0 },
	{ "1.0 reader1 card 1001", 1, 1000, RD, SCN_CARD, "1001", 0, 0,
	  { 0 }, 0, 0 },
	{ "1.0\treader1\tcard\tQR-abc.9 # trailing\r\n", 1, 1000, RD,
	  SCN_CARD, "QR-abc.9", 0, 0, { 0 }, 0, 0 },
	{ "0 reader1 card x", 1, 0, RD, SCN_CARD, "x", 0, 0, { 0 }, 0, 0 },
	{ "1.2 thermal1 temp 36.6", 1, 1200, TH, SCN_TEMP, "36.6", 36.6, 0,
	  { 0 }, 0, 0 },
	{ "1.2346 thermal1 temp -5", 1, 1235, TH, SCN_TEMP, "-5", -5, 0,
	  { 0 }, 0, 0 },
	{ "3 thermal1 raw 32767", 1, 3000, TH, SCN_RAW, "32767", 0, 1,
	  { 32767 }, 0, 0 },
	{ "3 thermal1 raw -1 0x10 65535 0", 1, 3000, TH, SCN_RAW,
	  "-1,0x10,65535,0", 0, 4, { 0xffff, 16, 65535, 0 }, 0, 0 },
	{ "5 thermal1 fault silent", 1, 5000, TH, SCN_FAULT, "silent", 0, 0,
	  { 0 }, SCN_FAULT_SILENT, 0 },
	{ "5 gate1 fault exception", 1, 5000, GT, SCN_FAULT, "exception", 0,
	  0, { 0 }, SCN_FAULT_EXCEPTION, 0 },
	{ "8 reader1 fault none", 1, 8000, RD, SCN_FAULT, "none", 0, 0,
	  { 0 }, SCN_FAULT_NONE, 0 },
	{ "2 gate1 state open", 1, 2000, GT, SCN_STATE, "open", 0, 0, { 0 },
	  0, 1 },
	{ "2 gate1 state closed", 1, 2000, GT, SCN_STATE, "closed", 0, 0,
	  { 0 }, 0, 0 },
	{ "2 gate1 state 7", 1, 2000, GT, SCN_STATE, "7", 0, 0, { 0 }, 0, 7 },
	{ "10 - end", 1, 10000, NONE, SCN_END, "", 0, 0, { 0 }, 0, 0 },
	{ "10.0 - end # bye", 1, 10000, NONE, SCN_END, "", 0, 0, { 0 }, 0, 0 },
	/* person: first step the card, checked here; see test_person */
	{ "4 person reader1 thermal1 1002 38.4", 2, 4000, RD, SCN_CARD,
	  "1002", 0, 0, { 0 }, 0, 0 },
	{ "4 - person reader1 thermal1 1002 38.4", 2, 4000, RD, SCN_CARD,
	  "1002", 0, 0, { 0 }, 0, 0 },
	{ "4 person reader1 thermal1 1002 -", 1, 4000, RD, SCN_CARD, "1002",
	  0, 0, { 0 }, 0, 0 },
	{ "4 person reader1 thermal1 - 36.5", 1, 4000, TH, SCN_TEMP, "36.5",
	  36.5, 0, { 0 }, 0, 0 },
};

static void test_good_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(good); i++) {
		const struct good_case *c = &good[i];
		struct scn_step st[2];
		char msg[256] = "";
		int n;

		n = scn_parse_line(c->line, devs, N(devs), st, msg, sizeof(msg));
		if (n != c->n)
			fail_msg("case %zu '%s': got %d (%s), want %d", i,
				 c->line, n, msg, c->n);
		if (n == 0)
			continue;
		assert_int_equal(st[0].at_ms, c->at_ms);
		assert_int_equal(st[0].device, c->device);
		assert_int_equal(st[0].action, c->action);
		assert_string_equal(st[0].text, c->text);
		switch (c->action) {
		case SCN_TEMP:
			assert_true(st[0].temp == c->temp);
			break;
		case SCN_RAW:
			assert_int_equal(st[0].n_raw, c->n_raw);
			assert_memory_equal(st[0].raw, c->raw,
					    c->n_raw * sizeof(c->raw[0]));
			break;
		case SCN_FAULT:
			assert_int_equal(st[0].fault, c->fault);
			break;
		case SCN_STATE:
			assert_int_equal(st[0].state, c->state);
			break;
		default:
			break;
		}
	}
}

struct bad_case {
	const char *line;
	const char *msg;	/* a part of the message */
};

static const struct bad_case bad[] = {
	{ "x reader1 card 1", "bad time 'x'" },
	{ "-1 reader1 card 1", "bad time '-1'" },
	{ "1,5 reader1 card 1", "bad time" },
	{ "nan reader1 card 1", "bad time" },
	{ "inf - end", "bad time" },
	{ "2000000 - end", "bad time" },
	{ "1.0", "expected 'TIME DEVICE ACTION [ARGS]'" },
	{ "1.0 reader1", "expected 'TIME DEVICE ACTION [ARGS]'" },
	{ "1 reader2 card 1", "unknown device 'reader2'" },
	{ "1 thermal1 card 1", "'card' needs a reader device; thermal1 is a "
			       "thermal" },
	{ "1 reader1 card", "'card' takes 1 argument, got 0" },
	{ "1 reader1 card 1 2", "'card' takes 1 argument, got 2" },
	{ "1 reader1 card caf\xc3\xa9", "non-ASCII" },
	{ "1 reader1 card "
	  "0123456789012345678901234567890123456789012345678901234567890123",
	  "longer than 63" },
	{ "1 reader1 temp 36.6", "'temp' needs a thermal device" },
	{ "1 thermal1 temp", "'temp' takes 1 argument, got 0" },
	{ "1 thermal1 temp hot", "bad temperature 'hot'" },
	{ "1 thermal1 temp 36,6", "bad temperature" },
	{ "1 thermal1 temp 1e9", "bad temperature" },
	{ "1 thermal1 raw", "raw takes 1 to 4" },
	{ "1 thermal1 raw 1 2 3 4 5", "raw takes 1 to 4" },
	{ "1 thermal1 raw 65536", "bad register value '65536'" },
	{ "1 thermal1 raw -32769", "bad register value" },
	{ "1 thermal1 raw 1.5", "bad register value" },
	{ "1 gate1 raw 1", "'raw' needs a thermal device" },
	{ "1 thermal1 fault", "'fault' takes a kind (none, silent" },
	{ "1 thermal1 fault broken", "unknown fault 'broken'" },
	{ "1 thermal1 fault Silent", "unknown fault 'Silent'" },
	{ "1 thermal1 fault silent 1", "'fault silent' takes no argument" },
	{ "1 thermal1 fault none now", "'fault none' takes no argument" },
	{ "1 thermal1 fault crc 2", "'fault crc' takes no argument" },
	{ "1 thermal1 fault garbage x", "'fault garbage' takes no argument" },
	{ "1 gate1 fault disconnect 5", "'fault disconnect' takes no argument" },
	{ "1 thermal1 fault exception 0", "bad exception code '0': expected "
					  "1 to 255" },
	{ "1 thermal1 fault exception 256", "bad exception code '256'" },
	{ "1 thermal1 fault exception -1", "bad exception code '-1'" },
	{ "1 thermal1 fault exception four", "bad exception code 'four'" },
	{ "1 thermal1 fault exception 4 5", "takes at most one argument" },
	{ "1 thermal1 fault late", "'fault late' takes one argument: the delay "
				   "in milliseconds (1 to 60000)" },
	{ "1 thermal1 fault late 0", "bad delay '0' for 'fault late': expected "
				     "1 to 60000 milliseconds" },
	{ "1 thermal1 fault late 60001", "bad delay '60001'" },
	{ "1 thermal1 fault late 1.5", "bad delay '1.5'" },
	{ "1 thermal1 fault late 100 200", "'fault late' takes one argument" },
	{ "1 nobody fault none", "unknown device 'nobody'" },
	{ "1 gate1 state ajar", "bad state 'ajar'" },
	{ "1 gate1 state 65536", "bad state" },
	{ "1 thermal1 state open", "'state' needs a gate device" },
	{ "1 gate1 state", "'state' takes 1 argument" },
	{ "1 gate1 dance", "unknown action 'dance'" },
	{ "1 - card 1", "device '-' only goes with 'end' or 'person'" },
	{ "1 - end now", "'end' takes no argument" },
	{ "1 gate1 end", "'end' takes '-' as its device" },
	{ "1 reader1 person thermal1 1 36", "write 'TIME person" },
	{ "1 person reader1 thermal1 - -", "needs a card or a temperature" },
	{ "1 person reader1 thermal1 1001", "'person' takes 4 arguments" },
	{ "1 person thermal1 reader1 1001 36.6",
	  "'person' needs a reader device" },
	{ "1 person reader1 gate1 1001 36.6",
	  "'person' needs a thermal device" },
	{ "1 person reader1 thermal1 1001 warm", "bad temperature 'warm'" },
	{ "1 a b c d e f g h", "too many fields" },
	/* the gate kit */
	{ "1 gate1 door open", "'door' needs a kit device; gate1 is a gate" },
	{ "1 kit1 door ajar", "bad door 'ajar' (expected open or closed)" },
	{ "1 kit1 door", "'door' takes 1 argument, got 0" },
	{ "1 kit1 door open now", "'door' takes 1 argument, got 2" },
	{ "1 kit1 fire yes", "bad fire 'yes' (expected on or off)" },
	{ "1 scanner1 fire on", "'fire' needs a kit device" },
	{ "1 kit1 press", "'press' takes exit_button or override" },
	{ "1 kit1 press door", "cannot press 'door'" },
	{ "1 kit1 press fire_alarm", "cannot press 'fire_alarm'" },
	{ "1 kit1 press exit_button 0", "bad time '0' for 'press': expected "
					"1 to 600000" },
	{ "1 kit1 press override 600001", "bad time '600001'" },
	{ "1 kit1 press override 1.5", "bad time '1.5'" },
	{ "1 kit1 press override 10 20", "'press' takes exit_button" },
	{ "1 reader1 press override", "'press' needs a kit device" },
	{ "1 kit1 wiegand 256:1", "bad facility '256': a 26-bit frame holds "
				  "0 to 255" },
	{ "1 kit1 wiegand -1:1", "bad facility '-1'" },
	{ "1 kit1 wiegand34 65536:1", "bad facility '65536': a 34-bit frame "
				      "holds 0 to 65535" },
	{ "1 kit1 wiegand 1:65536", "bad card number '65536'" },
	{ "1 kit1 wiegand34 1:x", "bad card number 'x'" },
	{ "1 kit1 wiegand 1:", "bad card number ''" },
	{ "1 kit1 wiegand 12345", "bad card '12345' for 'wiegand': expected "
				  "FACILITY:CARD" },
	{ "1 kit1 wiegand :5", "expected FACILITY:CARD" },
	{ "1 kit1 wiegand 1:2:3", "bad card number '2:3'" },
	{ "1 reader1 wiegand 1:2", "'wiegand' needs a kit device" },
	{ "1 kit1 wiegand", "'wiegand' takes 1 argument, got 0" },
	{ "1 kit1 wiegand-bits 0120", "bad bits '0120': only 0 and 1" },
	{ "1 kit1 wiegand-bits "
	  "01010101010101010101010101010101010101010101010101010101010101010",
	  "65 bits; a frame has at most 64" },
	{ "1 kit1 scan 123", "'scan' needs a scanner device; kit1 is a kit" },
	{ "1 scanner1 scan", "'scan' takes 1 argument, got 0" },
	{ "1 scanner1 scan a b", "'scan' takes 1 argument, got 2" },
	{ "1 scanner1 scan ab\\qc", "bad escape at character 3 of 'ab\\qc'" },
	{ "1 scanner1 scan ab\\x4", "bad escape at character 3" },
	{ "1 scanner1 scan ab\\xg0", "bad escape" },
	{ "1 scanner1 scan ab\\", "bad escape at character 3" },
	{ "1 scanner1 scan-raw \\x", "bad escape at character 1" },
	{ "1 kit1 scan-raw 1", "'scan-raw' needs a scanner device" },
	{ "1 kit1 dance", "unknown action 'dance' (expected card, temp, raw, "
			  "state, fault, person, door, press, fire, wiegand, "
			  "wiegand34, wiegand-bits, scan, scan-raw or end)" },
};

static void test_bad_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		struct scn_step st[2];
		char msg[256] = "";
		int n;

		n = scn_parse_line(bad[i].line, devs, N(devs), st, msg,
				   sizeof(msg));
		if (n != -EINVAL)
			fail_msg("case %zu '%s': got %d, want -EINVAL", i,
				 bad[i].line, n);
		if (strstr(msg, bad[i].msg) == NULL)
			fail_msg("case %zu '%s': message '%s' lacks '%s'", i,
				 bad[i].line, msg, bad[i].msg);
	}
}

struct fault_case {
	const char *line;
	int device;
	enum scn_fault fault;
	unsigned arg;
	const char *text;	/* for the step=fault value= log */
};

static const struct fault_case faults[] = {
	{ "1 thermal1 fault none", TH, SCN_FAULT_NONE, 0, "none" },
	{ "1 thermal1 fault silent", TH, SCN_FAULT_SILENT, 0, "silent" },
	{ "1 thermal1 fault exception", TH, SCN_FAULT_EXCEPTION, 4,
	  "exception" },
	{ "1 reader1 fault exception 6", RD, SCN_FAULT_EXCEPTION, 6,
	  "exception,6" },
	{ "1 reader1 fault exception 1", RD, SCN_FAULT_EXCEPTION, 1,
	  "exception,1" },
	{ "1 reader1 fault exception 255", RD, SCN_FAULT_EXCEPTION, 255,
	  "exception,255" },
	{ "1 reader1 fault exception 0x0b", RD, SCN_FAULT_EXCEPTION, 11,
	  "exception,0x0b" },
	{ "1 gate1 fault late 1", GT, SCN_FAULT_LATE, 1, "late,1" },
	{ "1 gate1 fault late 800", GT, SCN_FAULT_LATE, 800, "late,800" },
	{ "1 gate1 fault late 60000", GT, SCN_FAULT_LATE, 60000,
	  "late,60000" },
	{ "1 thermal1 fault crc", TH, SCN_FAULT_CRC, 0, "crc" },
	{ "1 thermal1 fault garbage # comment", TH, SCN_FAULT_GARBAGE, 0,
	  "garbage" },
	{ "1\tgate1\tfault\tdisconnect", GT, SCN_FAULT_DISCONNECT, 0,
	  "disconnect" },
};

static void test_fault_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(faults); i++) {
		const struct fault_case *c = &faults[i];
		struct scn_step st[2];
		char msg[256] = "";
		int n;

		n = scn_parse_line(c->line, devs, N(devs), st, msg, sizeof(msg));
		if (n != 1)
			fail_msg("case %zu '%s': got %d (%s)", i, c->line, n,
				 msg);
		assert_int_equal(st[0].action, SCN_FAULT);
		assert_int_equal(st[0].at_ms, 1000);
		assert_int_equal(st[0].device, c->device);
		if (st[0].fault != c->fault || st[0].fault_arg != c->arg)
			fail_msg("case %zu '%s': fault %s %u, want %s %u", i,
				 c->line, scn_fault_name(st[0].fault),
				 st[0].fault_arg, scn_fault_name(c->fault),
				 c->arg);
		assert_string_equal(st[0].text, c->text);
		/* the name goes back to what the line said */
		assert_int_equal(strncmp(c->text, scn_fault_name(c->fault),
					 strlen(scn_fault_name(c->fault))), 0);
	}
}

/* A kit or scanner step as parsed. */
struct kit_case {
	const char *line;
	int device;
	enum scn_action action;
	const char *text;
	enum scn_input input;	/* door, press, fire */
	uint16_t state;
	unsigned ms;		/* press */
	unsigned nbits;		/* wiegand* */
	uint64_t bits;
	const char *data;	/* scan, scan-raw */
	size_t data_len;
};

static const struct kit_case kit_good[] = {
	{ "1 kit1 door open", KT, SCN_DOOR, "open", SCN_IN_DOOR, 1, 0, 0, 0,
	  NULL, 0 },
	{ "1 kit1 door closed # shut", KT, SCN_DOOR, "closed", SCN_IN_DOOR, 0,
	  0, 0, 0, NULL, 0 },
	{ "1 kit1 fire on", KT, SCN_FIRE, "on", SCN_IN_FIRE_ALARM, 1, 0, 0, 0,
	  NULL, 0 },
	{ "1 kit1 fire off", KT, SCN_FIRE, "off", SCN_IN_FIRE_ALARM, 0, 0, 0,
	  0, NULL, 0 },
	{ "1 kit1 press exit_button", KT, SCN_PRESS, "exit_button,200",
	  SCN_IN_EXIT_BUTTON, 1, 200, 0, 0, NULL, 0 },
	{ "1 kit1 press override 1500", KT, SCN_PRESS, "override,1500",
	  SCN_IN_OVERRIDE, 1, 1500, 0, 0, NULL, 0 },
	{ "1 kit1 press override 1", KT, SCN_PRESS, "override,1",
	  SCN_IN_OVERRIDE, 1, 1, 0, 0, NULL, 0 },
	{ "1 kit1 press exit_button 600000", KT, SCN_PRESS,
	  "exit_button,600000", SCN_IN_EXIT_BUTTON, 1, 600000, 0, 0, NULL,
	  0 },
	/* 0 parity 0x00 0x0000 parity: the even bit 0, the odd bit 1 */
	{ "1 kit1 wiegand 0:0", KT, SCN_WIEGAND, "0:0", 0, 0, 0, 26, 0x1,
	  NULL, 0 },
	{ "1 kit1 wiegand-bits 0101", KT, SCN_WIEGAND_BITS, "0101", 0, 0, 0,
	  4, 0x5, NULL, 0 },
	{ "1 kit1 wiegand-bits 1", KT, SCN_WIEGAND_BITS, "1", 0, 0, 0, 1, 1,
	  NULL, 0 },
	{ "1 kit1 wiegand-bits "
	  "1000000000000000000000000000000000000000000000000000000000000001",
	  KT, SCN_WIEGAND_BITS,
	  "1000000000000000000000000000000000000000000000000000000000000001",
	  0, 0, 0, 64, 0x8000000000000001ULL, NULL, 0 },
	{ "1 scanner1 scan 1001", SC, SCN_SCAN, "1001", 0, 0, 0, 0, 0, "1001",
	  4 },
	{ "1 scanner1 scan WKP1.ABC-_~", SC, SCN_SCAN, "WKP1.ABC-_~", 0, 0, 0,
	  0, 0, "WKP1.ABC-_~", 11 },
	{ "1 scanner1 scan a\\x20b\\\\c\\x00d\\xFf", SC, SCN_SCAN,
	  "a\\x20b\\\\c\\x00d\\xFf", 0, 0, 0, 0, 0, "a b\\c\0d\xff", 8 },
	{ "1 scanner1 scan-raw 12\\x0d", SC, SCN_SCAN_RAW, "12\\x0d", 0, 0, 0,
	  0, 0, "12\r", 3 },
	{ "1 scanner1 scan \\x23not-a-comment", SC, SCN_SCAN,
	  "\\x23not-a-comment", 0, 0, 0, 0, 0, "#not-a-comment", 14 },
};

static void test_kit_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(kit_good); i++) {
		const struct kit_case *c = &kit_good[i];
		struct scn_step st[2];
		char msg[256] = "";
		int n;

		n = scn_parse_line(c->line, devs, N(devs), st, msg, sizeof(msg));
		if (n != 1)
			fail_msg("case %zu '%s': got %d (%s)", i, c->line, n,
				 msg);
		assert_int_equal(st[0].at_ms, 1000);
		assert_int_equal(st[0].device, c->device);
		if (st[0].action != c->action)
			fail_msg("case %zu '%s': action %s, want %s", i,
				 c->line, scn_action_name(st[0].action),
				 scn_action_name(c->action));
		assert_string_equal(st[0].text, c->text);
		switch (c->action) {
		case SCN_DOOR:
		case SCN_FIRE:
		case SCN_PRESS:
			assert_int_equal(st[0].input, c->input);
			assert_int_equal(st[0].state, c->state);
			assert_int_equal(st[0].ms, c->ms);
			break;
		case SCN_WIEGAND:
		case SCN_WIEGAND34:
		case SCN_WIEGAND_BITS:
			assert_int_equal(st[0].nbits, c->nbits);
			if (st[0].bits != c->bits)
				fail_msg("case %zu '%s': bits %#llx, want "
					 "%#llx", i, c->line,
					 (unsigned long long)st[0].bits,
					 (unsigned long long)c->bits);
			break;
		default:
			assert_int_equal(st[0].data_len, c->data_len);
			assert_memory_equal(st[0].data, c->data, c->data_len);
			break;
		}
	}
}

/* The bits of a frame by the book (docs/wiegand.md), as a string: parity
 * counted over the characters, not over a number. */
static void book_frame(unsigned nbits, unsigned long fac, unsigned long card,
		       char *out)
{
	unsigned half = (nbits - 2) / 2, fbits = nbits == 26 ? 8 : 16;
	int ones_first = 0, ones_second = 0;

	for (unsigned i = 0; i < fbits; i++)
		out[1 + i] = (fac >> (fbits - 1 - i)) & 1 ? '1' : '0';
	for (unsigned i = 0; i < 16; i++)
		out[1 + fbits + i] = (card >> (15 - i)) & 1 ? '1' : '0';
	for (unsigned i = 1; i <= half; i++)
		ones_first += out[i] == '1';
	for (unsigned i = half + 1; i <= 2 * half; i++)
		ones_second += out[i] == '1';
	out[0] = ones_first % 2 ? '1' : '0';
	out[nbits - 1] = ones_second % 2 ? '0' : '1';
	out[nbits] = '\0';
}

/* Clock the frame through the daemon's decoder: its credential. */
static void decode(const struct scn_step *st, char *cred, size_t len)
{
	struct wg_decoder dec;
	struct wg_result r;
	int64_t t = 1000000;

	assert_int_equal(wg_init(&dec, NULL), 0);
	for (unsigned i = 0; i < st->nbits; i++, t += 2000000) {
		int line = (int)(st->bits >> (st->nbits - 1 - i) & 1);

		assert_int_equal(wg_edge(&dec, line, WG_FALLING, t, NULL), 0);
		assert_int_equal(wg_edge(&dec, line, WG_RISING, t + 50000,
					 NULL), 0);
	}
	assert_int_equal(wg_flush(&dec, t + 100000000, &r), 1);
	if (r.status != WG_OK)
		fail_msg("%s %s: %s", scn_action_name(st->action), st->text,
			 r.msg);
	snprintf(cred, len, "%s", r.credential);
}

static void test_wiegand_frames(void **state)
{
	static const struct {
		unsigned nbits;
		unsigned long fac, card;
	} cases[] = {
		{ 26, 0, 0 }, { 26, 123, 45678 }, { 26, 255, 65535 },
		{ 26, 1, 1 }, { 26, 128, 32768 }, { 26, 7, 4095 },
		{ 34, 0, 0 }, { 34, 57005, 48879 }, { 34, 65535, 65535 },
		{ 34, 255, 1 }, { 34, 256, 0 }, { 34, 1, 65534 },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		char line[80], want[70], got[70], cred[32];
		struct scn_step st[2];
		char msg[256] = "";

		snprintf(line, sizeof(line), "2.5 kit1 wiegand%s %lu:%lu",
			 cases[i].nbits == 34 ? "34" : "", cases[i].fac,
			 cases[i].card);
		if (scn_parse_line(line, devs, N(devs), st, msg,
				   sizeof(msg)) != 1)
			fail_msg("'%s': %s", line, msg);
		assert_int_equal(st[0].action, cases[i].nbits == 34
				 ? SCN_WIEGAND34 : SCN_WIEGAND);
		assert_int_equal(st[0].nbits, cases[i].nbits);
		book_frame(cases[i].nbits, cases[i].fac, cases[i].card, want);
		for (unsigned k = 0; k < st[0].nbits; k++)
			got[k] = st[0].bits >> (st[0].nbits - 1 - k) & 1
				 ? '1' : '0';
		got[st[0].nbits] = '\0';
		if (strcmp(got, want) != 0)
			fail_msg("'%s': bits %s, want %s", line, got, want);
		decode(&st[0], cred, sizeof(cred));
		snprintf(want, sizeof(want), "%lu:%lu", cases[i].fac,
			 cases[i].card);
		assert_string_equal(cred, want);
		/* one bit flipped anywhere spoils the frame */
		for (unsigned k = 0; k < st[0].nbits; k++) {
			struct wg_decoder dec;
			struct wg_result r;
			uint64_t flip = st[0].bits ^ (1ULL << k);
			int64_t t = 1000000;

			wg_init(&dec, NULL);
			for (unsigned b = 0; b < st[0].nbits; b++, t += 2000000)
				wg_edge(&dec,
					(int)(flip >> (st[0].nbits - 1 - b) & 1),
					WG_FALLING, t, NULL);
			assert_int_equal(wg_flush(&dec, t + 100000000, &r), 1);
			assert_int_equal(r.status, WG_ERR_PARITY);
		}
	}
}

/* A scanner line as long as a step holds, and one byte more; the log
 * text of a long one is cut. */
static void test_scan_long(void **state)
{
	static char line[SCN_DATA_MAX + 64];
	struct scn_step st[2];
	char msg[256] = "";
	size_t pre = strlen("1 scanner1 scan ");

	(void)state;
	memcpy(line, "1 scanner1 scan ", pre);
	memset(line + pre, 'Q', SCN_DATA_MAX);
	line[pre + SCN_DATA_MAX] = '\0';
	assert_int_equal(scn_parse_line(line, devs, N(devs), st, msg,
					sizeof(msg)), 1);
	assert_int_equal(st[0].data_len, SCN_DATA_MAX);
	assert_int_equal(strlen(st[0].text), SCN_TEXT_MAX - 1);
	assert_string_equal(st[0].text + SCN_TEXT_MAX - 4, "...");
	line[pre + SCN_DATA_MAX] = 'Q';
	line[pre + SCN_DATA_MAX + 1] = '\0';
	assert_int_equal(scn_parse_line(line, devs, N(devs), st, msg,
					sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "longer than 2048 bytes"));
	/* escapes count as the byte they make */
	memcpy(line + pre, "\\x41", 4);
	line[pre + SCN_DATA_MAX + 1] = line[pre + SCN_DATA_MAX + 2] = 'Q';
	line[pre + SCN_DATA_MAX + 3] = '\0';
	assert_int_equal(scn_parse_line(line, devs, N(devs), st, msg,
					sizeof(msg)), 1);
	assert_int_equal(st[0].data_len, SCN_DATA_MAX);
	assert_int_equal(st[0].data[0], 'A');
}

static void test_long_line(void **state)
{
	char line[LINE_MAX_LEN + 100];
	struct scn_step st[2];
	char msg[256];

	(void)state;
	memset(line, ' ', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "1 - end", 7);
	assert_int_equal(scn_parse_line(line, devs, N(devs), st, msg,
					sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "longer than"));
}

/* Errors collected from a whole-file read. */
struct errs {
	int n;
	int lines[16];
	char msgs[16][256];
};

static void collect(void *ctx, const char *file, int line, const char *msg)
{
	struct errs *e = ctx;

	assert_string_equal(file, "test.scenario");
	if (e->n < 16) {
		e->lines[e->n] = line;
		snprintf(e->msgs[e->n], sizeof(e->msgs[0]), "%s", msg);
	}
	e->n++;
}

static int read_text(const char *text, struct scenario **out,
		     struct errs *e, scn_check_fn check)
{
	struct scn_env env = { devs, N(devs), check, collect, e };
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int n = 0, rc;

	assert_non_null(f);
	memset(e, 0, sizeof(*e));
	rc = scn_read(f, "test.scenario", &env, out, &n);
	fclose(f);
	assert_int_equal(n, e->n);
	return rc;
}

static void test_file_good(void **state)
{
	static const char text[] =
		"# demo\n"
		"\n"
		"1.0 reader1 card 1001\n"
		"1.0 thermal1 temp 36.6\n"
		"2.5 gate1 state open\n"
		"4 - end\n";
	struct scenario *scn;
	struct errs e;

	(void)state;
	assert_int_equal(read_text(text, &scn, &e, NULL), 0);
	assert_int_equal(e.n, 0);
	assert_int_equal(scn->n_steps, 4);
	assert_int_equal(scn->steps[0].line, 3);
	assert_int_equal(scn->steps[1].line, 4);
	assert_int_equal(scn->steps[2].action, SCN_STATE);
	assert_int_equal(scn->steps[3].action, SCN_END);
	assert_int_equal(scn->steps[3].at_ms, 4000);
	assert_int_equal(scn->steps[3].line, 6);
	scn_free(scn);
}

/* A person's temperature 0.3 s after the card may fall after the next
 * line's step; the steps come out sorted, ties in file order. */
static void test_person(void **state)
{
	static const char text[] =
		"1.0 person reader1 thermal1 1001 36.6\n"
		"1.1 gate1 state open\n"
		"1.3 thermal1 fault silent\n"
		"2 - end\n";
	struct scenario *scn;
	struct errs e;

	(void)state;
	assert_int_equal(read_text(text, &scn, &e, NULL), 0);
	assert_int_equal(scn->n_steps, 5);
	assert_int_equal(scn->steps[0].action, SCN_CARD);
	assert_int_equal(scn->steps[0].device, RD);
	assert_int_equal(scn->steps[0].at_ms, 1000);
	assert_int_equal(scn->steps[1].action, SCN_STATE);
	assert_int_equal(scn->steps[2].action, SCN_TEMP);
	assert_int_equal(scn->steps[2].device, TH);
	assert_int_equal(scn->steps[2].at_ms, 1300);
	assert_int_equal(scn->steps[2].line, 1);
	assert_true(scn->steps[2].temp == 36.6);
	assert_int_equal(scn->steps[3].action, SCN_FAULT);
	assert_int_equal(scn->steps[3].at_ms, 1300);
	assert_int_equal(scn->steps[4].action, SCN_END);
	scn_free(scn);
}

static void test_file_bad(void **state)
{
	static const char text[] =
		"1.0 reader1 card 1001\n"	/* 1 */
		"0.5 reader1 card 1002\n"	/* 2: goes back */
		"1.0 thermal1 temp warm\n"	/* 3 */
		"3.0 person reader1 thermal1 1 36.6\n"	/* 4: temp after end */
		"3.0 - end\n"			/* 5 */
		"4.0 gate1 state open\n";	/* 6: after end */
	struct scenario *scn = (void *)1;
	struct errs e;

	(void)state;
	assert_int_equal(read_text(text, &scn, &e, NULL), -EINVAL);
	assert_null(scn);
	assert_int_equal(e.n, 4);
	assert_int_equal(e.lines[0], 2);
	assert_non_null(strstr(e.msgs[0], "before 1.000 of line 1"));
	assert_int_equal(e.lines[1], 3);
	assert_non_null(strstr(e.msgs[1], "bad temperature"));
	assert_int_equal(e.lines[2], 6);
	assert_non_null(strstr(e.msgs[2], "step after 'end' (line 5)"));
	assert_int_equal(e.lines[3], 4);
	assert_non_null(strstr(e.msgs[3], "after 'end' at 3.000"));
}

static void test_nul_byte(void **state)
{
	static const char text[] = "1 - e\0nd\n";
	struct scn_env env = { devs, N(devs), NULL, collect, NULL };
	struct scenario *scn;
	struct errs e;
	FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
	int n = 0;

	(void)state;
	memset(&e, 0, sizeof(e));
	env.ctx = &e;
	assert_int_equal(scn_read(f, "test.scenario", &env, &scn, &n),
			 -EINVAL);
	fclose(f);
	assert_int_equal(n, 1);
	assert_non_null(strstr(e.msgs[0], "NUL byte"));
}

static int refuse_hot(void *ctx, const struct scn_step *st, char *msg,
		      size_t msglen)
{
	(void)ctx;
	if (st->action == SCN_TEMP && st->temp > 40) {
		snprintf(msg, msglen, "too hot for this profile");
		return -EINVAL;
	}
	return 0;
}

/* The check hook sees every step, person halves included, and its refusals
 * are reported at the step's line. */
static void test_check_hook(void **state)
{
	static const char text[] =
		"1 thermal1 temp 36\n"
		"2 person reader1 thermal1 1001 41\n"
		"3 thermal1 temp 50\n";
	struct scenario *scn;
	struct errs e;

	(void)state;
	assert_int_equal(read_text(text, &scn, &e, refuse_hot), -EINVAL);
	assert_int_equal(e.n, 2);
	assert_int_equal(e.lines[0], 2);
	assert_int_equal(e.lines[1], 3);
	assert_string_equal(e.msgs[0], "too hot for this profile");
}

static void test_no_end(void **state)
{
	struct scenario *scn;
	struct errs e;

	(void)state;
	assert_int_equal(read_text("# nothing\n", &scn, &e, NULL), 0);
	assert_int_equal(scn->n_steps, 0);
	scn_free(scn);
	scn_free(NULL);
}

/* A kit's press in a file: sorted with the rest, as written. */
static void test_kit_file(void **state)
{
	static const char text[] =
		"0.5 kit1 door open\n"
		"1.0 kit1 press exit_button 300\n"
		"1.0 scanner1 scan WKP1.X\n"
		"2 kit1 wiegand34 57005:48879\n"
		"3 - end\n";
	struct scenario *scn;
	struct errs e;

	(void)state;
	assert_int_equal(read_text(text, &scn, &e, NULL), 0);
	assert_int_equal(scn->n_steps, 5);
	assert_int_equal(scn->steps[0].action, SCN_DOOR);
	assert_int_equal(scn->steps[1].action, SCN_PRESS);
	assert_int_equal(scn->steps[1].ms, 300);
	assert_int_equal(scn->steps[2].action, SCN_SCAN);
	assert_int_equal(scn->steps[2].line, 3);
	assert_int_equal(scn->steps[3].nbits, 34);
	scn_free(scn);
}

static void test_missing_file(void **state)
{
	struct scn_env env = { devs, N(devs), NULL, NULL, NULL };
	struct scenario *scn;
	int n = 0;

	(void)state;
	assert_int_equal(scn_load("/nonexistent/x.scenario", &env, &scn, &n),
			 -ENOENT);
	assert_int_equal(n, 1);
	assert_null(scn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_lines),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_fault_lines),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_kit_lines),
		cmocka_unit_test(test_wiegand_frames),
		cmocka_unit_test(test_scan_long),
		cmocka_unit_test(test_kit_file),
		cmocka_unit_test(test_file_good),
		cmocka_unit_test(test_person),
		cmocka_unit_test(test_file_bad),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_check_hook),
		cmocka_unit_test(test_no_end),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests_name("scenario", tests, NULL, NULL);
}
