/*
 * frame: wicket-sim's Modbus wire format, as tables of cases.
 *
 *   - CRC-16/Modbus against published vectors (the CRC catalogue's check
 *     value for "123456789", the serial line specification's example, the
 *     well-known 01 03 00 00 00 0A -> C5 CD), cross-checked with pymodbus's
 *     table-driven implementation when they were written down;
 *   - RTU and TCP parsing: every request fed whole, byte by byte and two
 *     to a buffer; bad CRC, unknown function code, oversize byte count,
 *     junk before a good frame, a partial frame flushed, bad MBAP headers;
 *   - the responder: every function code's reply and each exception, with
 *     the registers before and after;
 *   - frame_written, frame_garble and the reply builders.
 *
 * Like test_scenario.c this includes the module's source directly: the
 * Makefile links unit tests with the daemon's objects, not wicket-sim's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/wicket-sim/frame.c"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- CRC ------------------------------------------------------------- */

struct crc_case {
	const char *what;
	uint8_t data[16];
	size_t len;
	uint8_t lo, hi;		/* on the wire: low byte first */
};

static const struct crc_case crc_cases[] = {
	{ "read 10 holding of unit 1", { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a },
	  6, 0xc5, 0xcd },
	{ "spec example, unit 0x11", { 0x11, 0x03, 0x00, 0x6b, 0x00, 0x03 },
	  6, 0x76, 0x87 },
	{ "write register", { 0x01, 0x06, 0x00, 0x01, 0x00, 0x03 }, 6, 0x98,
	  0x0b },
	{ "check value 123456789", { '1', '2', '3', '4', '5', '6', '7', '8',
				     '9' }, 9, 0x37, 0x4b },
	{ "write multiple", { 0x01, 0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 0x00,
			      0x01, 0x00, 0x02 }, 11, 0x23, 0xae },
	{ "one byte", { 0x01 }, 1, 0x7e, 0x80 },
	{ "nothing", { 0 }, 0, 0xff, 0xff },
};

static void test_crc(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(crc_cases); i++) {
		const struct crc_case *c = &crc_cases[i];
		uint16_t crc = frame_crc16(c->data, c->len);

		if ((crc & 0xff) != c->lo || crc >> 8 != c->hi)
			fail_msg("%s: crc %02x %02x, want %02x %02x", c->what,
				 crc & 0xff, crc >> 8, c->lo, c->hi);
	}
}

/* --- RTU parsing ----------------------------------------------------- */

/* A whole RTU frame of unit and pdu (CRC appended here). */
struct rtu_case {
	const char *what;
	uint8_t unit;
	uint8_t pdu[64];
	size_t pdu_len;
};

static const struct rtu_case rtu_cases[] = {
	{ "fc1", 1, { 1, 0, 0, 0, 8 }, 5 },
	{ "fc2", 2, { 2, 0, 4, 0, 1 }, 5 },
	{ "fc3", 1, { 3, 0, 0, 0, 10 }, 5 },
	{ "fc4", 247, { 4, 0x12, 0x34, 0, 2 }, 5 },
	{ "fc5", 3, { 5, 0, 0, 0xff, 0 }, 5 },
	{ "fc6", 3, { 6, 0, 200, 0, 1 }, 5 },
	{ "fc15", 3, { 15, 0, 0, 0, 10, 2, 0xff, 0x03 }, 8 },
	{ "fc16", 1, { 16, 0, 0, 0, 2, 4, 0, 1, 0, 2 }, 10 },
	{ "fc16 zero bytes", 9, { 16, 0, 0, 0, 0, 0 }, 6 },
	{ "unit 0", 0, { 3, 0, 0, 0, 1 }, 5 },
};

static size_t rtu_frame(const struct rtu_case *c, uint8_t *out)
{
	size_t n = frame_rtu_build(c->unit, c->pdu, c->pdu_len, out);

	assert_int_equal(n, c->pdu_len + 3);
	return n;
}

static void expect_req(const struct frame_req *r, uint8_t unit,
		       const uint8_t *pdu, size_t len, const char *what)
{
	if (r->unit != unit || r->pdu_len != len ||
	    memcmp(r->pdu, pdu, len) != 0)
		fail_msg("%s: got unit %u, %zu PDU bytes; want unit %u, %zu",
			 what, r->unit, r->pdu_len, unit, len);
}

static void test_rtu_whole_and_bytewise(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(rtu_cases); i++) {
		const struct rtu_case *c = &rtu_cases[i];
		uint8_t f[FRAME_RTU_MAX];
		size_t n = rtu_frame(c, f);
		struct frame_parser p;
		struct frame_req r;

		frame_parser_init(&p, FRAME_RTU);
		assert_int_equal(frame_feed(&p, f, n), n);
		assert_int_equal(frame_next(&p, &r), 1);
		expect_req(&r, c->unit, c->pdu, c->pdu_len, c->what);
		assert_int_equal(frame_next(&p, &r), 0);
		assert_int_equal(p.len, 0);

		frame_parser_init(&p, FRAME_RTU);
		for (size_t k = 0; k < n; k++) {
			int rc;

			assert_int_equal(frame_feed(&p, f + k, 1), 1);
			rc = frame_next(&p, &r);
			if (rc != (k == n - 1 ? 1 : 0))
				fail_msg("%s: byte %zu of %zu: got %d", c->what,
					 k, n, rc);
		}
		expect_req(&r, c->unit, c->pdu, c->pdu_len, c->what);
		assert_int_equal(p.errors, 0);
		assert_false(frame_pending(&p));
	}
}

/* Every pair of requests back to back in one buffer comes out as two. */
static void test_rtu_two_in_one(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(rtu_cases); i++) {
		for (size_t j = 0; j < N(rtu_cases); j++) {
			uint8_t f[2 * FRAME_RTU_MAX];
			size_t n = rtu_frame(&rtu_cases[i], f);
			struct frame_parser p;
			struct frame_req r;

			n += rtu_frame(&rtu_cases[j], f + n);
			frame_parser_init(&p, FRAME_RTU);
			assert_int_equal(frame_feed(&p, f, n), n);
			assert_int_equal(frame_next(&p, &r), 1);
			expect_req(&r, rtu_cases[i].unit, rtu_cases[i].pdu,
				   rtu_cases[i].pdu_len, rtu_cases[i].what);
			assert_int_equal(frame_next(&p, &r), 1);
			expect_req(&r, rtu_cases[j].unit, rtu_cases[j].pdu,
				   rtu_cases[j].pdu_len, rtu_cases[j].what);
			assert_int_equal(frame_next(&p, &r), 0);
		}
	}
}

/* Bad input before a good frame: one framing error of the right kind,
 * then the good frame. */
struct rtu_bad_case {
	const char *what;
	uint8_t junk[16];
	size_t len;
	enum frame_err err;
};

static const struct rtu_bad_case rtu_bad[] = {
	{ "bad crc", { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a, 0xc5, 0xce }, 8,
	  FRAME_ERR_CRC },
	{ "crc bytes swapped", { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a, 0xcd,
				 0xc5 }, 8, FRAME_ERR_CRC },
	{ "unknown function 7", { 0x01, 0x07 }, 2, FRAME_ERR_FUNCTION },
	{ "function 0x2b", { 0x01, 0x2b, 0x0e, 0x01, 0x00 }, 5,
	  FRAME_ERR_FUNCTION },
	{ "exception-like 0x83", { 0x01, 0x83, 0x02 }, 3,
	  FRAME_ERR_FUNCTION },
	{ "fc16 byte count 248", { 0x01, 0x10, 0x00, 0x00, 0x00, 0x7c, 248 },
	  7, FRAME_ERR_LENGTH },
	{ "fc15 byte count 255", { 0x01, 0x0f, 0x00, 0x00, 0x07, 0xf8, 255 },
	  7, FRAME_ERR_LENGTH },
	/* 00 05 ...: a write coil frame to unit 0 that fails its CRC */
	{ "one stray byte", { 0x00 }, 1, FRAME_ERR_CRC },
};

static void test_rtu_resync(void **state)
{
	static const uint8_t good_pdu[] = { 3, 0, 1, 0, 2 };

	(void)state;
	for (size_t i = 0; i < N(rtu_bad); i++) {
		const struct rtu_bad_case *c = &rtu_bad[i];
		uint8_t f[64];
		struct frame_parser p;
		struct frame_req r;
		size_t n = c->len;
		int rc, errs = 0, reqs = 0;

		memcpy(f, c->junk, n);
		n += frame_rtu_build(5, good_pdu, sizeof(good_pdu), f + n);
		frame_parser_init(&p, FRAME_RTU);
		frame_feed(&p, f, n);
		while ((rc = frame_next(&p, &r)) != 0) {
			if (rc == -EBADMSG) {
				if (errs++ == 0 && p.last_err != c->err)
					fail_msg("%s: error %s, want %s",
						 c->what,
						 frame_err_name(p.last_err),
						 frame_err_name(c->err));
				continue;
			}
			assert_int_equal(rc, 1);
			expect_req(&r, 5, good_pdu, sizeof(good_pdu), c->what);
			reqs++;
		}
		if (errs != 1 || reqs != 1 || p.errors != 1)
			fail_msg("%s: %d errors (%lu counted), %d requests; "
				 "want 1, 1", c->what, errs, p.errors, reqs);
		assert_false(frame_pending(&p));
	}
}

/* A frame cut short stays pending until the quiet-line flush, which counts
 * it once; a flush in a resync spell counts nothing new. */
static void test_rtu_flush(void **state)
{
	static const uint8_t part[] = { 0x01, 0x03, 0x00, 0x00 };
	static const uint8_t junk[] = { 0x01, 0x07, 0x01, 0x10, 0, 0, 0, 9 };
	struct frame_parser p;
	struct frame_req r;

	(void)state;
	frame_parser_init(&p, FRAME_RTU);
	frame_feed(&p, part, sizeof(part));
	assert_int_equal(frame_next(&p, &r), 0);
	assert_true(frame_pending(&p));
	assert_int_equal(frame_flush(&p), 1);
	assert_int_equal(p.errors, 1);
	assert_int_equal(p.last_err, FRAME_ERR_PARTIAL);
	assert_false(frame_pending(&p));
	assert_int_equal(frame_flush(&p), 0);

	/* 01 07: unknown; then 07 01 ... looks like the start of a read
	 * coils request and waits for its eighth byte */
	frame_feed(&p, junk, sizeof(junk));
	assert_int_equal(frame_next(&p, &r), -EBADMSG);
	assert_int_equal(frame_next(&p, &r), 0);
	assert_true(frame_pending(&p));
	assert_int_equal(frame_flush(&p), 0);
	assert_int_equal(p.errors, 2);
	assert_false(frame_pending(&p));
}

/* A buffer full of junk is always decided: feed never stalls. */
static void test_rtu_full_buffer(void **state)
{
	uint8_t junk[3 * FRAME_BUF_MAX];
	struct frame_parser p;
	struct frame_req r;
	size_t off = 0;
	int rounds = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i % 3 == 0 ? 0x10 : 0x7f);
	frame_parser_init(&p, FRAME_RTU);
	while (off < sizeof(junk)) {
		size_t took = frame_feed(&p, junk + off, sizeof(junk) - off);

		assert_true(took > 0);
		off += took;
		while (frame_next(&p, &r) != 0)
			;
		assert_true(++rounds < 100);
	}
	assert_true(p.errors >= 1);
}

/* --- TCP parsing ----------------------------------------------------- */

static void test_tcp_parse(void **state)
{
	uint8_t f[2 * FRAME_TCP_MAX];
	static const uint8_t pdu1[] = { 3, 0, 0, 0, 2 };
	uint8_t pdu2[FRAME_PDU_MAX];
	struct frame_parser p;
	struct frame_req r;
	size_t n1, n2;

	(void)state;
	memset(pdu2, 0x5a, sizeof(pdu2));
	pdu2[0] = 16;
	n1 = frame_tcp_build(0x1234, 7, pdu1, sizeof(pdu1), f);
	assert_int_equal(n1, 12);
	assert_memory_equal(f, ((const uint8_t[]){ 0x12, 0x34, 0, 0, 0, 6, 7,
						   3, 0, 0, 0, 2 }), 12);
	n2 = frame_tcp_build(0xfffe, 255, pdu2, sizeof(pdu2), f + n1);
	assert_int_equal(n2, FRAME_TCP_MAX);

	/* byte by byte: nothing until the last byte of each */
	frame_parser_init(&p, FRAME_TCP);
	for (size_t k = 0; k < n1 + n2; k++) {
		int rc;

		assert_int_equal(frame_feed(&p, f + k, 1), 1);
		rc = frame_next(&p, &r);
		if (k == n1 - 1) {
			assert_int_equal(rc, 1);
			assert_int_equal(r.tid, 0x1234);
			expect_req(&r, 7, pdu1, sizeof(pdu1), "tcp 1");
		} else if (k == n1 + n2 - 1) {
			assert_int_equal(rc, 1);
			assert_int_equal(r.tid, 0xfffe);
			expect_req(&r, 255, pdu2, sizeof(pdu2), "tcp 2");
		} else {
			assert_int_equal(rc, 0);
		}
	}
	/* both in one buffer */
	frame_parser_init(&p, FRAME_TCP);
	assert_int_equal(frame_feed(&p, f, n1 + n2), n1 + n2);
	assert_int_equal(frame_next(&p, &r), 1);
	assert_int_equal(r.tid, 0x1234);
	assert_int_equal(frame_next(&p, &r), 1);
	assert_int_equal(r.pdu_len, FRAME_PDU_MAX);
	assert_int_equal(frame_next(&p, &r), 0);
	assert_int_equal(p.errors, 0);
}

struct mbap_case {
	const char *what;
	uint8_t hdr[7];
	enum frame_err err;
};

static const struct mbap_case mbap_bad[] = {
	{ "protocol 1", { 0, 1, 0, 1, 0, 6, 1 }, FRAME_ERR_PROTOCOL },
	{ "protocol 0x8000", { 0, 1, 0x80, 0, 0, 6, 1 }, FRAME_ERR_PROTOCOL },
	{ "length 0", { 0, 1, 0, 0, 0, 0, 1 }, FRAME_ERR_MBAP_LENGTH },
	{ "length 1", { 0, 1, 0, 0, 0, 1, 1 }, FRAME_ERR_MBAP_LENGTH },
	{ "length 255", { 0, 1, 0, 0, 0, 255, 1 }, FRAME_ERR_MBAP_LENGTH },
	{ "length 0xffff", { 0, 1, 0, 0, 0xff, 0xff, 1 },
	  FRAME_ERR_MBAP_LENGTH },
	{ "length 256", { 0, 1, 0, 0, 1, 0, 1 }, FRAME_ERR_MBAP_LENGTH },
};

static void test_tcp_bad_mbap(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(mbap_bad); i++) {
		const struct mbap_case *c = &mbap_bad[i];
		struct frame_parser p;
		struct frame_req r;
		uint8_t more[8] = { 0 };

		frame_parser_init(&p, FRAME_TCP);
		/* decided once the length field is in, before the unit */
		frame_feed(&p, c->hdr, 5);
		assert_int_equal(frame_next(&p, &r), 0);
		frame_feed(&p, c->hdr + 5, 2);
		if (frame_next(&p, &r) != -EPROTO || p.last_err != c->err)
			fail_msg("%s: not refused as %s", c->what,
				 frame_err_name(c->err));
		frame_feed(&p, more, sizeof(more));
		assert_int_equal(frame_next(&p, &r), -EPROTO);
		assert_int_equal(p.errors, 1);
		assert_int_equal(frame_flush(&p), 0);
	}
}

/* --- responder ------------------------------------------------------- */

static uint8_t coils[10], discrete[10];
static uint16_t holding[10], input[10];
static struct frame_map map = { coils, 10, discrete, 10, holding, 10,
				input, 10 };

static const uint8_t c0[10] = { 1, 0, 1, 1, 0, 0, 0, 0, 1, 1 };
static const uint8_t d0[10] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
static uint16_t h0[10];

static void reset_map(void)
{
	memcpy(coils, c0, sizeof(coils));
	memcpy(discrete, d0, sizeof(discrete));
	for (int i = 0; i < 10; i++) {
		h0[i] = (uint16_t)(0x1000 + i);
		input[i] = (uint16_t)(0x2000 + i);
	}
	memcpy(holding, h0, sizeof(holding));
}

struct resp_case {
	const char *what;
	uint8_t req[16];
	size_t req_len;
	uint8_t rep[16];
	size_t rep_len;
	int ex;			/* what frame_check says */
	enum frame_table table;	/* what it touches */
	unsigned addr, count;
	int write;
	/* one register or bit that must hold this afterwards (-1: none) */
	unsigned check_addr;
	long check_val;
};

#define NOCHK 0, -1

static const struct resp_case resp[] = {
	{ "fc1 all ten", { 1, 0, 0, 0, 10 }, 5, { 1, 2, 0x0d, 0x03 }, 4, 0,
	  FRAME_COILS, 0, 10, 0, NOCHK },
	{ "fc1 one", { 1, 0, 9, 0, 1 }, 5, { 1, 1, 0x01 }, 3, 0, FRAME_COILS,
	  9, 1, 0, NOCHK },
	{ "fc2 nine from 1", { 2, 0, 1, 0, 9 }, 5, { 2, 2, 0x01, 0x01 }, 4, 0,
	  FRAME_DISCRETE, 1, 9, 0, NOCHK },
	{ "fc3 three from 2", { 3, 0, 2, 0, 3 }, 5,
	  { 3, 6, 0x10, 0x02, 0x10, 0x03, 0x10, 0x04 }, 8, 0, FRAME_HOLDING,
	  2, 3, 0, NOCHK },
	{ "fc4 one", { 4, 0, 0, 0, 1 }, 5, { 4, 2, 0x20, 0x00 }, 4, 0,
	  FRAME_INPUT, 0, 1, 0, NOCHK },
	{ "fc5 on", { 5, 0, 4, 0xff, 0 }, 5, { 5, 0, 4, 0xff, 0 }, 5, 0,
	  FRAME_COILS, 4, 1, 1, 4, 1 },
	{ "fc5 off", { 5, 0, 0, 0, 0 }, 5, { 5, 0, 0, 0, 0 }, 5, 0,
	  FRAME_COILS, 0, 1, 1, 0, 0 },
	{ "fc6", { 6, 0, 9, 0xab, 0xcd }, 5, { 6, 0, 9, 0xab, 0xcd }, 5, 0,
	  FRAME_HOLDING, 9, 1, 1, 9, 0xabcd },
	{ "fc15 three from 1", { 15, 0, 1, 0, 3, 1, 0x05 }, 7,
	  { 15, 0, 1, 0, 3 }, 5, 0, FRAME_COILS, 1, 3, 1, 2, 0 },
	{ "fc15 bit 3 set", { 15, 0, 1, 0, 3, 1, 0x05 }, 7,
	  { 15, 0, 1, 0, 3 }, 5, 0, FRAME_COILS, 1, 3, 1, 3, 1 },
	{ "fc16 two", { 16, 0, 0, 0, 2, 4, 0, 1, 0, 2 }, 10,
	  { 16, 0, 0, 0, 2 }, 5, 0, FRAME_HOLDING, 0, 2, 1, 1, 2 },
	/* exception 1: the function */
	{ "fc7", { 7 }, 1, { 0x87, 1 }, 2, 1, 0, 0, 0, 0, NOCHK },
	{ "fc0x2b", { 0x2b, 0x0e, 1, 0 }, 4, { 0xab, 1 }, 2, 1, 0, 0, 0, 0,
	  NOCHK },
	{ "fc22 mask write", { 22, 0, 0, 0, 0, 0, 0 }, 7, { 0x96, 1 }, 2, 1,
	  0, 0, 0, 0, NOCHK },
	{ "fc0", { 0 }, 1, { 0x80, 1 }, 2, 1, 0, 0, 0, 0, NOCHK },
	/* exception 3: quantity, value, length */
	{ "fc3 count 0", { 3, 0, 0, 0, 0 }, 5, { 0x83, 3 }, 2, 3,
	  FRAME_HOLDING, 0, 0, 0, NOCHK },
	{ "fc3 count 126", { 3, 0, 0, 0, 126 }, 5, { 0x83, 3 }, 2, 3,
	  FRAME_HOLDING, 0, 126, 0, NOCHK },
	{ "fc3 short", { 3, 0, 0 }, 3, { 0x83, 3 }, 2, 3, FRAME_HOLDING, 0, 0,
	  0, NOCHK },
	{ "fc3 long", { 3, 0, 0, 0, 1, 0 }, 6, { 0x83, 3 }, 2, 3,
	  FRAME_HOLDING, 0, 1, 0, NOCHK },
	{ "fc1 count 2001", { 1, 0, 0, 0x07, 0xd1 }, 5, { 0x81, 3 }, 2, 3,
	  FRAME_COILS, 0, 2001, 0, NOCHK },
	{ "fc5 value 0x1234", { 5, 0, 0, 0x12, 0x34 }, 5, { 0x85, 3 }, 2, 3,
	  FRAME_COILS, 0, 1, 1, 0, 1 },
	{ "fc6 short", { 6, 0, 0, 0 }, 4, { 0x86, 3 }, 2, 3, FRAME_HOLDING,
	  0, 1, 1, 0, 0x1000 },
	{ "fc15 byte count 2 for 3 bits", { 15, 0, 0, 0, 3, 2, 7, 0 }, 8,
	  { 0x8f, 3 }, 2, 3, FRAME_COILS, 0, 3, 1, 0, 1 },
	{ "fc15 data missing", { 15, 0, 0, 0, 9, 2, 7 }, 7, { 0x8f, 3 }, 2, 3,
	  FRAME_COILS, 0, 9, 1, 0, 1 },
	{ "fc16 count 124", { 16, 0, 0, 0, 124, 248 }, 6, { 0x90, 3 }, 2, 3,
	  FRAME_HOLDING, 0, 124, 1, 0, 0x1000 },
	{ "fc16 count 0", { 16, 0, 0, 0, 0, 0 }, 6, { 0x90, 3 }, 2, 3,
	  FRAME_HOLDING, 0, 0, 1, NOCHK },
	{ "fc16 byte count 3", { 16, 0, 0, 0, 1, 3, 0, 1, 2 }, 9, { 0x90, 3 },
	  2, 3, FRAME_HOLDING, 0, 1, 1, 0, 0x1000 },
	/* exception 2: the address range (after the quantity checks) */
	{ "fc3 9+2", { 3, 0, 9, 0, 2 }, 5, { 0x83, 2 }, 2, 2, FRAME_HOLDING,
	  9, 2, 0, NOCHK },
	{ "fc4 at 10", { 4, 0, 10, 0, 1 }, 5, { 0x84, 2 }, 2, 2, FRAME_INPUT,
	  10, 1, 0, NOCHK },
	{ "fc1 2000 of 10", { 1, 0, 0, 0x07, 0xd0 }, 5, { 0x81, 2 }, 2, 2,
	  FRAME_COILS, 0, 2000, 0, NOCHK },
	{ "fc2 at 0xffff", { 2, 0xff, 0xff, 0, 1 }, 5, { 0x82, 2 }, 2, 2,
	  FRAME_DISCRETE, 0xffff, 1, 0, NOCHK },
	{ "fc5 at 10", { 5, 0, 10, 0xff, 0 }, 5, { 0x85, 2 }, 2, 2,
	  FRAME_COILS, 10, 1, 1, 9, 1 },
	{ "fc6 at 10", { 6, 0, 10, 0, 1 }, 5, { 0x86, 2 }, 2, 2,
	  FRAME_HOLDING, 10, 1, 1, 9, 0x1009 },
	{ "fc15 8+3", { 15, 0, 8, 0, 3, 1, 0 }, 7, { 0x8f, 2 }, 2, 2,
	  FRAME_COILS, 8, 3, 1, 8, 1 },
	{ "fc16 9+2", { 16, 0, 9, 0, 2, 4, 0, 0, 0, 0 }, 10, { 0x90, 2 }, 2,
	  2, FRAME_HOLDING, 9, 2, 1, 9, 0x1009 },
};

static long map_value(enum frame_table t, unsigned a)
{
	switch (t) {
	case FRAME_COILS: return coils[a];
	case FRAME_DISCRETE: return discrete[a];
	case FRAME_HOLDING: return holding[a];
	case FRAME_INPUT: return input[a];
	}
	return -1;
}

static void test_respond(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(resp); i++) {
		const struct resp_case *c = &resp[i];
		struct frame_access acc;
		uint8_t out[FRAME_PDU_MAX];
		size_t n;
		int ex;

		reset_map();
		ex = frame_check(&map, c->req, c->req_len, &acc);
		if (ex != c->ex)
			fail_msg("%s: check says %d, want %d", c->what, ex,
				 c->ex);
		if (ex != FRAME_EX_FUNCTION &&
		    (acc.table != c->table || acc.address != c->addr ||
		     acc.count != c->count || acc.write != c->write))
			fail_msg("%s: access %d %u+%u w%d, want %d %u+%u w%d",
				 c->what, acc.table, acc.address, acc.count,
				 acc.write, c->table, c->addr, c->count,
				 c->write);
		/* frame_check alone changes nothing */
		assert_memory_equal(coils, c0, sizeof(coils));
		assert_memory_equal(holding, h0, sizeof(holding));
		n = frame_respond(&map, c->req, c->req_len, out);
		if (n != c->rep_len || memcmp(out, c->rep, n) != 0) {
			char got[3 * FRAME_PDU_MAX + 1] = "";

			for (size_t k = 0; k < n && k < 16; k++)
				snprintf(got + 3 * k, 4, "%02x ", out[k]);
			fail_msg("%s: reply %s(%zu bytes)", c->what, got, n);
		}
		if (c->check_val >= 0 &&
		    map_value(c->table, c->check_addr) != c->check_val)
			fail_msg("%s: after it, %u holds %ld, want %ld",
				 c->what, c->check_addr,
				 map_value(c->table, c->check_addr),
				 c->check_val);
	}
}

/* The largest reads fit a PDU: 125 registers, 2000 bits. */
static void test_respond_max(void **state)
{
	static uint8_t bits[2000];
	static uint16_t regs[125];
	struct frame_map big = { bits, 2000, NULL, 0, regs, 125, NULL, 0 };
	static const uint8_t r3[] = { 3, 0, 0, 0, 125 };
	static const uint8_t r1[] = { 1, 0, 0, 0x07, 0xd0 };
	static const uint8_t r2[] = { 2, 0, 0, 0, 1 };
	uint8_t out[FRAME_PDU_MAX];

	(void)state;
	for (int i = 0; i < 125; i++)
		regs[i] = (uint16_t)(i * 257);
	bits[1999] = 1;
	assert_int_equal(frame_respond(&big, r3, sizeof(r3), out), 252);
	assert_int_equal(out[1], 250);
	assert_int_equal(out[2 + 2 * 124], (124 * 257) >> 8);
	assert_int_equal(frame_respond(&big, r1, sizeof(r1), out), 252);
	assert_int_equal(out[1], 250);
	assert_int_equal(out[251], 0x80);
	/* a table of no entries (NULL) refuses every address */
	assert_int_equal(frame_respond(&big, r2, sizeof(r2), out), 2);
	assert_int_equal(out[0], 0x82);
	assert_int_equal(out[1], 2);
}

struct written_case {
	const char *what;
	uint8_t req[16];
	size_t len;
	unsigned addr;
	int rc;
	unsigned val;
};

static const struct written_case written[] = {
	{ "fc5 on", { 5, 0, 3, 0xff, 0 }, 5, 3, 0, 1 },
	{ "fc5 off", { 5, 0, 3, 0, 0 }, 5, 3, 0, 0 },
	{ "fc5 elsewhere", { 5, 0, 3, 0xff, 0 }, 5, 4, -EINVAL, 0 },
	{ "fc6", { 6, 0, 200, 0, 2 }, 5, 200, 0, 2 },
	{ "fc15 bit 9 of 10", { 15, 0, 0, 0, 10, 2, 0, 0x02 }, 8, 9, 0, 1 },
	{ "fc15 bit 8 of 10", { 15, 0, 0, 0, 10, 2, 0xff, 0x02 }, 8, 8, 0, 0 },
	{ "fc15 past the count", { 15, 0, 0, 0, 10, 2, 0, 0x02 }, 8, 10,
	  -EINVAL, 0 },
	{ "fc15 before it", { 15, 0, 5, 0, 1, 1, 1 }, 7, 4, -EINVAL, 0 },
	{ "fc15 data missing", { 15, 0, 0, 0, 10, 2, 0 }, 7, 9, -EINVAL, 0 },
	{ "fc16 second", { 16, 0, 10, 0, 2, 4, 0, 0, 0x12, 0x34 }, 10, 11, 0,
	  0x1234 },
	{ "fc16 data missing", { 16, 0, 10, 0, 2, 4, 0, 0, 0x12 }, 9, 11,
	  -EINVAL, 0 },
	{ "fc3 is no write", { 3, 0, 0, 0, 1 }, 5, 0, -EINVAL, 0 },
	{ "short", { 5, 0, 0, 0xff }, 4, 0, -EINVAL, 0 },
};

static void test_written(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(written); i++) {
		const struct written_case *c = &written[i];
		unsigned val = 0xdead;
		int rc = frame_written(c->req, c->len, c->addr, &val);

		if (rc != c->rc || (rc == 0 && val != c->val))
			fail_msg("%s: rc %d val %u, want %d %u", c->what, rc,
				 val, c->rc, c->val);
	}
}

static void test_garble(void **state)
{
	static const uint8_t from[] = { 1, 2, 3, 4, 5, 6, 15, 16, 0x83, 0x90,
					0x2b, 0xab };
	static const uint8_t to[] = { 2, 1, 4, 3, 6, 5, 16, 15, 0x84, 0x8f,
				      0x6b, 0xeb };

	(void)state;
	for (size_t i = 0; i < N(from); i++) {
		uint8_t pdu[3] = { from[i], 2, 0 };

		frame_garble(pdu, sizeof(pdu));
		if (pdu[0] != to[i] || pdu[1] != 2)
			fail_msg("0x%02x garbled to 0x%02x, want 0x%02x",
				 from[i], pdu[0], to[i]);
	}
	frame_garble(NULL, 0);
}

static void test_build(void **state)
{
	static const uint8_t pdu[] = { 3, 0, 0, 0, 10 };
	static const uint8_t want_rtu[] = { 1, 3, 0, 0, 0, 10, 0xc5, 0xcd };
	static const uint8_t exc[] = { 0x83, 2 };
	uint8_t big[FRAME_PDU_MAX + 1] = { 3 };
	uint8_t out[FRAME_ADU_MAX];

	(void)state;
	assert_int_equal(frame_rtu_build(1, pdu, sizeof(pdu), out), 8);
	assert_memory_equal(out, want_rtu, 8);
	assert_int_equal(frame_tcp_build(1, 1, exc, 2, out), 9);
	assert_memory_equal(out, ((const uint8_t[]){ 0, 1, 0, 0, 0, 3, 1,
						     0x83, 2 }), 9);
	assert_int_equal(frame_rtu_build(1, big, 0, out), 0);
	assert_int_equal(frame_rtu_build(1, big, sizeof(big), out), 0);
	assert_int_equal(frame_tcp_build(1, 1, big, sizeof(big), out), 0);
	assert_int_equal(frame_rtu_build(1, big, FRAME_PDU_MAX, out),
			 FRAME_RTU_MAX);
	assert_int_equal(frame_tcp_build(1, 1, big, FRAME_PDU_MAX, out),
			 FRAME_TCP_MAX);
	assert_int_equal(frame_exception(3, 4, out), 2);
	assert_int_equal(out[0], 0x83);
	assert_int_equal(out[1], 4);
	/* a built RTU reply checks out with the parser's own CRC test */
	assert_int_equal(frame_crc16(want_rtu, 8), 0);
	assert_string_equal(frame_err_name(FRAME_ERR_CRC), "crc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc),
		cmocka_unit_test(test_rtu_whole_and_bytewise),
		cmocka_unit_test(test_rtu_two_in_one),
		cmocka_unit_test(test_rtu_resync),
		cmocka_unit_test(test_rtu_flush),
		cmocka_unit_test(test_rtu_full_buffer),
		cmocka_unit_test(test_tcp_parse),
		cmocka_unit_test(test_tcp_bad_mbap),
		cmocka_unit_test(test_respond),
		cmocka_unit_test(test_respond_max),
		cmocka_unit_test(test_written),
		cmocka_unit_test(test_garble),
		cmocka_unit_test(test_build),
	};

	return cmocka_run_group_tests_name("simframe", tests, NULL, NULL);
}
