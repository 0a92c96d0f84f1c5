/*
 * wiegand: frames built here from facility and card numbers (parity
 * computed bit by bit, independently of the decoder), clocked in as edges
 * with reader-like timing (50 us pulses every 2 ms), then spoiled one way
 * per case: a parity bit, a data bit, the length, a glitch, an overlap, a
 * gap inside, a clock going back.  Each case checks the status, the
 * message, the credential (none unless ok) and every counter.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wiegand.h"

#define US 1000LL
#define MS 1000000LL
#define T0 (5 * 1000 * MS)	/* 5 s after boot */

/* A frame as bits, index 0 sent first. */
struct frame {
	unsigned n;
	uint8_t b[128];
};

static void put_bits(struct frame *f, unsigned from, unsigned width,
		     uint32_t v)
{
	for (unsigned i = 0; i < width; i++)
		f->b[from + i] = (v >> (width - 1 - i)) & 1;
}

/* Even parity in front of data[0, half), odd behind data[half, 2 half). */
static void add_parity(struct frame *f)
{
	unsigned half = (f->n - 2) / 2, ones = 0;

	for (unsigned i = 1; i <= half; i++)
		ones += f->b[i];
	f->b[0] = ones % 2;
	ones = 0;
	for (unsigned i = half + 1; i <= 2 * half; i++)
		ones += f->b[i];
	f->b[f->n - 1] = !(ones % 2);
}

static struct frame h10301(uint32_t facility, uint32_t card)
{
	struct frame f = { .n = 26 };

	put_bits(&f, 1, 8, facility);
	put_bits(&f, 9, 16, card);
	add_parity(&f);
	return f;
}

static struct frame w34(uint32_t number)
{
	struct frame f = { .n = 34 };

	put_bits(&f, 1, 32, number);
	add_parity(&f);
	return f;
}

/* A decoder and what came out of it. */
struct run {
	struct wg_decoder dec;
	struct wg_result res[8];
	int n;
};

static void run_init(struct run *r, enum wg_format format)
{
	struct wg_config c;

	memset(r, 0, sizeof(*r));
	wg_config_default(&c);
	c.format = format;
	assert_int_equal(wg_init(&r->dec, &c), 0);
}

static void edge(struct run *r, int line, int kind, int64_t t)
{
	struct wg_result x;
	int rc = wg_edge(&r->dec, line, kind, t, &x);

	assert_true(rc == 0 || rc == 1);
	if (rc == 1) {
		assert_true(r->n < 8);
		r->res[r->n++] = x;
	}
}

/* Clock a frame in from t0: one pulse of width_ns every interval_ns
 * (width 0: falling edges only).  Returns the last pulse's start. */
static int64_t send(struct run *r, const struct frame *f, int64_t t0,
		    int64_t interval, int64_t width)
{
	int64_t t = t0;

	for (unsigned i = 0; i < f->n; i++) {
		t = t0 + (int64_t)i * interval;
		edge(r, f->b[i], WG_FALLING, t);
		if (width > 0)
			edge(r, f->b[i], WG_RISING, t + width);
	}
	return t;
}

/* The timer: nothing before the deadline, the frame at it. */
static void flush(struct run *r)
{
	int64_t d = wg_deadline(&r->dec);
	struct wg_result x;

	assert_true(d > 0);
	assert_int_equal(wg_flush(&r->dec, d - 1, &x), 0);
	assert_int_equal(wg_flush(&r->dec, d, &x), 1);
	assert_true(r->n < 8);
	r->res[r->n++] = x;
	assert_int_equal(wg_deadline(&r->dec), -1);
	assert_int_equal(wg_flush(&r->dec, d + MS, &x), 0);
}

static void check_counts(const struct wg_counters *c, unsigned ok,
			 unsigned parity, unsigned length, unsigned noise,
			 unsigned overflow, unsigned clock)
{
	assert_int_equal(c->ok, ok);
	assert_int_equal(c->parity, parity);
	assert_int_equal(c->length, length);
	assert_int_equal(c->noise, noise);
	assert_int_equal(c->overflow, overflow);
	assert_int_equal(c->clock, clock);
	assert_int_equal(c->frames, ok + parity + length + noise + overflow +
			 clock);
}

static void check_bad(const struct wg_result *x, enum wg_status want,
		      const char *msg_has)
{
	assert_int_equal(x->status, want);
	assert_string_equal(x->credential, "");
	assert_non_null(strstr(x->msg, msg_has));
}

/* ---- good frames ---- */

static const struct good_case {
	int bits;		/* 26: facility + card; 34: number */
	uint32_t facility, card, number;
	enum wg_format format;
	int64_t interval, width;
	const char *want;
} good_cases[] = {
	{ 26, 123, 45678, 0, WG_FORMAT_FACILITY_CARD, 2 * MS, 50 * US,
	  "123:45678" },
	{ 26, 123, 45678, 0, WG_FORMAT_NUMBER, 2 * MS, 50 * US, "8106606" },
	{ 26, 0, 0, 0, WG_FORMAT_FACILITY_CARD, 2 * MS, 50 * US, "0:0" },
	{ 26, 255, 65535, 0, WG_FORMAT_NUMBER, 2 * MS, 50 * US, "16777215" },
	{ 26, 1, 1, 0, WG_FORMAT_FACILITY_CARD, 2 * MS, 0, "1:1" },
	/* the fastest and slowest a reader may clock (spec: 200 us..20 ms) */
	{ 26, 200, 12345, 0, WG_FORMAT_FACILITY_CARD, 200 * US, 100 * US,
	  "200:12345" },
	{ 26, 200, 12345, 0, WG_FORMAT_FACILITY_CARD, 20 * MS, 20 * US,
	  "200:12345" },
	{ 34, 0, 0, 0xdeadbeef, WG_FORMAT_NUMBER, 2 * MS, 50 * US,
	  "3735928559" },
	{ 34, 0, 0, 0xdeadbeef, WG_FORMAT_FACILITY_CARD, 2 * MS, 50 * US,
	  "57005:48879" },
	{ 34, 0, 0, 0x00010002, WG_FORMAT_FACILITY_CARD, 1 * MS, 0, "1:2" },
	{ 34, 0, 0, 0, WG_FORMAT_NUMBER, 2 * MS, 50 * US, "0" },
	{ 34, 0, 0, 0xffffffff, WG_FORMAT_NUMBER, 2 * MS, 50 * US,
	  "4294967295" },
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]);
	     i++) {
		const struct good_case *c = &good_cases[i];
		struct frame f = c->bits == 26 ? h10301(c->facility, c->card)
					       : w34(c->number);
		uint32_t number = c->bits == 26
			? c->facility << 16 | c->card : c->number;
		struct run r;

		run_init(&r, c->format);
		send(&r, &f, T0, c->interval, c->width);
		assert_int_equal(r.n, 0);
		flush(&r);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.res[0].status, WG_OK);
		assert_string_equal(r.res[0].credential, c->want);
		assert_int_equal(r.res[0].nbits, (unsigned)c->bits);
		assert_int_equal(r.res[0].number, number);
		assert_int_equal(r.res[0].facility, number >> 16);
		assert_int_equal(r.res[0].card, number & 0xffff);
		assert_non_null(strstr(r.res[0].msg, "-bit frame: facility"));
		check_counts(&r.dec.count, 1, 0, 0, 0, 0, 0);
	}
}

/* ---- bad frames: parity, length, overflow ---- */

static const struct bad_case {
	const char *name;
	int bits;		/* 26 or 34: the frame spoiled */
	int flip[2];		/* bits to invert, -1: none */
	unsigned len;		/* cut or padded (with 1, 0, 1, ...) to this */
	enum wg_status want;
	const char *msg_has;
} bad_cases[] = {
	{ "26 even parity bit", 26, { 0, -1 }, 0, WG_ERR_PARITY, "leading" },
	{ "26 odd parity bit", 26, { 25, -1 }, 0, WG_ERR_PARITY, "trailing" },
	{ "26 facility bit", 26, { 3, -1 }, 0, WG_ERR_PARITY, "leading" },
	{ "26 last even-half bit", 26, { 12, -1 }, 0, WG_ERR_PARITY,
	  "leading" },
	{ "26 first odd-half bit", 26, { 13, -1 }, 0, WG_ERR_PARITY,
	  "trailing" },
	{ "26 card bit", 26, { 20, -1 }, 0, WG_ERR_PARITY, "trailing" },
	{ "26 both halves", 26, { 5, 18 }, 0, WG_ERR_PARITY, "both" },
	{ "34 even parity bit", 34, { 0, -1 }, 0, WG_ERR_PARITY, "leading" },
	{ "34 odd parity bit", 34, { 33, -1 }, 0, WG_ERR_PARITY, "trailing" },
	{ "34 last even-half bit", 34, { 16, -1 }, 0, WG_ERR_PARITY,
	  "leading" },
	{ "34 first odd-half bit", 34, { 17, -1 }, 0, WG_ERR_PARITY,
	  "trailing" },
	{ "34 both", 34, { 0, 33 }, 0, WG_ERR_PARITY, "both" },
	{ "25 bits", 26, { -1, -1 }, 25, WG_ERR_LENGTH, "25-bit frame" },
	{ "4 bits", 26, { -1, -1 }, 4, WG_ERR_LENGTH, "4-bit frame" },
	{ "1 bit", 26, { -1, -1 }, 1, WG_ERR_LENGTH, "1-bit frame" },
	{ "33 bits", 34, { -1, -1 }, 33, WG_ERR_LENGTH, "33-bit frame" },
	{ "27 bits", 26, { -1, -1 }, 27, WG_ERR_LENGTH, "27-bit frame" },
	{ "35 bits", 34, { -1, -1 }, 35, WG_ERR_LENGTH, "35-bit frame" },
	{ "64 bits", 34, { -1, -1 }, 64, WG_ERR_LENGTH, "64-bit frame" },
	{ "65 bits", 34, { -1, -1 }, 65, WG_ERR_OVERFLOW, "65-bit frame" },
	{ "120 bits", 26, { -1, -1 }, 120, WG_ERR_OVERFLOW, "120-bit frame" },
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct frame f = c->bits == 26 ? h10301(77, 31337)
					       : w34(0x12345678);
		struct run r;

		print_message("%s\n", c->name);
		for (int k = 0; k < 2; k++)
			if (c->flip[k] >= 0)
				f.b[c->flip[k]] ^= 1;
		for (unsigned k = f.n; k < c->len; k++)
			f.b[k] = k % 2;
		if (c->len)
			f.n = c->len;
		run_init(&r, WG_FORMAT_FACILITY_CARD);
		send(&r, &f, T0, 2 * MS, 50 * US);
		flush(&r);
		assert_int_equal(r.n, 1);
		check_bad(&r.res[0], c->want, c->msg_has);
		assert_int_equal(r.res[0].nbits, f.n);
		check_counts(&r.dec.count, 0, c->want == WG_ERR_PARITY,
			     c->want == WG_ERR_LENGTH, 0,
			     c->want == WG_ERR_OVERFLOW, 0);
	}
}

/* The bits come back as received, the first in the high place. */
static void test_raw_bits(void **state)
{
	struct frame f = h10301(1, 2);
	struct run r;
	uint64_t want = 0;

	(void)state;
	f.b[25] ^= 1;
	for (unsigned i = 0; i < f.n; i++)
		want = want << 1 | f.b[i];
	run_init(&r, WG_FORMAT_FACILITY_CARD);
	send(&r, &f, T0, 2 * MS, 0);
	flush(&r);
	assert_int_equal(r.res[0].status, WG_ERR_PARITY);
	assert_true(r.res[0].bits == want);
	assert_int_equal(r.res[0].number, 0);
}

/* ---- noise: edge scripts around an otherwise good frame ---- */

enum tweak {
	BOTH_AT_ONCE,	/* bit 7 also pulsed on the other line, same time */
	BOTH_NEAR,	/* ... 30 us later */
	GLITCH,		/* bit 7's pulse only 2.5 us wide */
	GLITCH_ZERO,	/* bit 7's rising edge at its falling edge's time */
	BOUNCE,		/* bit 7's line falls again 20 us after */
	OVERLAP,	/* bit 8 starts 150 us after bit 7, which is 300 us
			 * wide, on the other line */
	INSIDE,		/* bit 8 starts and ends inside bit 7's pulse */
};

static const struct noise_case {
	const char *name;
	enum tweak tweak;
	int64_t width;		/* of the ordinary pulses; 0: no rising */
	const char *msg_has;
	int interval_off;	/* min_interval_ns 0 */
} noise_cases[] = {
	{ "at once", BOTH_AT_ONCE, 50 * US, "D0 and D1 at once (0.0 us", 0 },
	{ "at once, falling only", BOTH_AT_ONCE, 0, "at once", 0 },
	{ "30 us apart", BOTH_NEAR, 50 * US, "at once (30.0 us apart)", 0 },
	{ "30 us apart, falling only", BOTH_NEAR, 0, "bit 8", 0 },
	{ "2.5 us glitch", GLITCH, 50 * US, "2.5 us wide (minimum 10.0 us)",
	  0 },
	{ "0 us glitch", GLITCH_ZERO, 50 * US, "0.0 us wide", 0 },
	{ "bounce", BOUNCE, 50 * US, "20.0 us apart (minimum 100.0 us)", 0 },
	{ "bounce, falling only", BOUNCE, 0, "apart (minimum", 0 },
	{ "overlap", OVERLAP, 50 * US, "overlap, bit 7", 0 },
	{ "pulse inside a pulse", INSIDE, 50 * US, "overlap, bit 7", 0 },
	/* the overlap check alone still sees pulses at the same instant */
	{ "at once, interval check off", BOTH_AT_ONCE, 50 * US,
	  "overlap, bit 7", 1 },
};

static void test_noise(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(noise_cases) / sizeof(noise_cases[0]);
	     i++) {
		const struct noise_case *c = &noise_cases[i];
		struct frame f = h10301(101, 2000);
		struct run r;

		print_message("%s\n", c->name);
		/* bits 7 and 8 differ, as OVERLAP needs */
		assert_int_not_equal(f.b[7], f.b[8]);
		run_init(&r, WG_FORMAT_FACILITY_CARD);
		if (c->interval_off)
			r.dec.cfg.min_interval_ns = 0;
		for (unsigned k = 0; k < f.n; k++) {
			int64_t t = T0 + (int64_t)k * 2 * MS;
			int64_t w = c->width;
			int line = f.b[k];

			if (k == 7 && c->tweak == GLITCH)
				w = 2500;
			if (k == 7 && c->tweak == GLITCH_ZERO)
				w = 0;
			if (k == 7 && (c->tweak == OVERLAP ||
				       c->tweak == INSIDE)) {
				/* bit 8 falls inside bit 7's pulse */
				int64_t end8 = c->tweak == INSIDE ? 200 : 350;

				edge(&r, line, WG_FALLING, t);
				edge(&r, f.b[8], WG_FALLING, t + 150 * US);
				if (c->tweak == INSIDE)
					edge(&r, f.b[8], WG_RISING,
					     t + end8 * US);
				edge(&r, line, WG_RISING, t + 300 * US);
				if (c->tweak == OVERLAP)
					edge(&r, f.b[8], WG_RISING,
					     t + end8 * US);
				k++;
				continue;
			}
			edge(&r, line, WG_FALLING, t);
			if (k == 7 && c->tweak == BOTH_AT_ONCE)
				edge(&r, !line, WG_FALLING, t);
			if (k == 7 && c->tweak == BOTH_NEAR)
				edge(&r, !line, WG_FALLING, t + 30 * US);
			if (k == 7 && c->tweak == BOUNCE)
				edge(&r, line, WG_FALLING, t + 20 * US);
			if (w > 0 || (k == 7 && c->tweak == GLITCH_ZERO))
				edge(&r, line, WG_RISING, t + w);
		}
		assert_int_equal(r.n, 0);
		flush(&r);
		assert_int_equal(r.n, 1);
		check_bad(&r.res[0], WG_ERR_NOISE, c->msg_has);
		assert_non_null(strstr(r.res[0].msg, "-bit frame dropped"));
		/* one bad swipe, one count */
		check_counts(&r.dec.count, 0, 0, 0, 1, 0, 0);
	}
}

/* Noise after the 64th bit still makes the frame noise: noise outranks
 * an overflow (it is the likelier cause of the extra bits). */
static void test_noise_beats_overflow(void **state)
{
	struct run r;
	int64_t t = T0;

	(void)state;
	run_init(&r, WG_FORMAT_FACILITY_CARD);
	for (unsigned k = 0; k < 70; k++, t += 2 * MS) {
		edge(&r, k % 2, WG_FALLING, t);
		edge(&r, k % 2, WG_RISING, t + (k == 68 ? 3 * US : 50 * US));
	}
	flush(&r);
	assert_int_equal(r.n, 1);
	check_bad(&r.res[0], WG_ERR_NOISE, "bit 68 (70-bit frame dropped)");
	check_counts(&r.dec.count, 0, 0, 0, 1, 0, 0);
}

/* With the checks off, the same glitchy frame is read: the checks above
 * are what stopped it. */
static void test_checks_off(void **state)
{
	struct frame f = h10301(101, 2000);
	struct wg_config c;
	struct run r;

	(void)state;
	memset(&r, 0, sizeof(r));
	wg_config_default(&c);
	c.min_width_ns = 0;
	c.min_interval_ns = 0;
	assert_int_equal(wg_init(&r.dec, &c), 0);
	for (unsigned k = 0; k < f.n; k++) {
		int64_t t = T0 + (int64_t)k * 300 * US;

		edge(&r, f.b[k], WG_FALLING, t);
		edge(&r, f.b[k], WG_RISING, t + (k == 7 ? 1 : 50 * US));
	}
	flush(&r);
	assert_int_equal(r.res[0].status, WG_OK);
	assert_string_equal(r.res[0].credential, "101:2000");
}

/* Rising edges without a pulse of their own (a line low when the reader
 * woke, an edge reported twice) are ignored, inside a frame too. */
static void test_stray_rising(void **state)
{
	struct frame f = h10301(33, 4444);
	struct run r;

	(void)state;
	run_init(&r, WG_FORMAT_FACILITY_CARD);
	edge(&r, WG_D1, WG_RISING, T0 - MS);
	for (unsigned k = 0; k < f.n; k++) {
		int64_t t = T0 + (int64_t)k * 2 * MS;

		edge(&r, f.b[k], WG_FALLING, t);
		edge(&r, f.b[k], WG_RISING, t + 50 * US);
		edge(&r, f.b[k], WG_RISING, t + 60 * US);
		edge(&r, !f.b[k], WG_RISING, t + 70 * US);
	}
	flush(&r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.res[0].status, WG_OK);
	assert_string_equal(r.res[0].credential, "33:4444");
}

/* ---- gaps ---- */

/* A pause of 30 ms after bit 12: two 13-bit frames, neither read. */
static void test_split(void **state)
{
	struct frame f = h10301(10, 20);
	struct run r;

	(void)state;
	run_init(&r, WG_FORMAT_FACILITY_CARD);
	for (unsigned k = 0; k < f.n; k++) {
		int64_t t = T0 + (int64_t)k * 2 * MS + (k >= 13 ? 30 * MS : 0);

		edge(&r, f.b[k], WG_FALLING, t);
		assert_int_equal(r.n, k >= 13 ? 1 : 0);
		edge(&r, f.b[k], WG_RISING, t + 50 * US);
	}
	flush(&r);
	assert_int_equal(r.n, 2);
	check_bad(&r.res[0], WG_ERR_LENGTH, "13-bit frame");
	check_bad(&r.res[1], WG_ERR_LENGTH, "13-bit frame");
	check_counts(&r.dec.count, 0, 0, 2, 0, 0, 0);
}

/* Two swipes a gap apart are two reads; 1 ns less and they are one
 * 52-bit frame.  The first closes on the second's first pulse. */
static void test_back_to_back(void **state)
{
	static const struct {
		int64_t pause;	/* from the last pulse to the next frame */
		int ok;
	} cases[] = {
		{ WG_GAP_NS_DEFAULT, 1 },
		{ WG_GAP_NS_DEFAULT + 1, 1 },
		{ WG_GAP_NS_DEFAULT - 1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct frame a = h10301(1, 1000), b = w34(99999);
		struct run r;
		int64_t last;

		run_init(&r, WG_FORMAT_FACILITY_CARD);
		last = send(&r, &a, T0, 2 * MS, 50 * US);
		send(&r, &b, last + cases[i].pause, 2 * MS, 50 * US);
		flush(&r);
		if (cases[i].ok) {
			assert_int_equal(r.n, 2);
			assert_string_equal(r.res[0].credential, "1:1000");
			assert_string_equal(r.res[1].credential, "1:34463");
			check_counts(&r.dec.count, 2, 0, 0, 0, 0, 0);
		} else {
			assert_int_equal(r.n, 1);
			check_bad(&r.res[0], WG_ERR_LENGTH, "60-bit frame");
			check_counts(&r.dec.count, 0, 0, 1, 0, 0, 0);
		}
	}
}

/* The timer is late: a rising edge past the gap closes the frame too,
 * and is then a stray (no pulse of its own). */
static void test_rising_after_gap(void **state)
{
	struct frame f = h10301(5, 6);
	struct run r;
	int64_t last;

	(void)state;
	run_init(&r, WG_FORMAT_NUMBER);
	last = send(&r, &f, T0, 2 * MS, 0);
	edge(&r, f.b[25], WG_RISING, last + WG_GAP_NS_DEFAULT);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.res[0].credential, "327686");
	assert_int_equal(wg_deadline(&r.dec), -1);
	/* strays start nothing */
	edge(&r, WG_D0, WG_RISING, last + 2 * WG_GAP_NS_DEFAULT);
	assert_int_equal(wg_deadline(&r.dec), -1);
	check_counts(&r.dec.count, 1, 0, 0, 0, 0, 0);
}

/* ---- time going backwards or wrapping ---- */

static void test_clock(void **state)
{
	struct frame f = h10301(42, 4242);
	struct wg_result x;
	struct run r;
	int64_t last;

	(void)state;
	/* back by 1 ms at bit 10: refused at once, the 10 bits dropped;
	 * bits 11.. are a 15-bit frame of their own */
	run_init(&r, WG_FORMAT_FACILITY_CARD);
	for (unsigned k = 0; k < f.n; k++) {
		int64_t t = T0 + (int64_t)k * 2 * MS - (k >= 10 ? 3 * MS : 0);

		edge(&r, f.b[k], WG_FALLING, t);
		assert_int_equal(r.n, k >= 10 ? 1 : 0);
	}
	check_bad(&r.res[0], WG_ERR_CLOCK, "1000000 ns before the previous");
	assert_non_null(strstr(r.res[0].msg, "10-bit frame dropped"));
	assert_int_equal(r.res[0].nbits, 10);
	flush(&r);
	check_bad(&r.res[1], WG_ERR_LENGTH, "15-bit frame");
	check_counts(&r.dec.count, 0, 0, 1, 0, 0, 1);

	/* a timestamp that wrapped negative; nothing pending */
	run_init(&r, WG_FORMAT_FACILITY_CARD);
	assert_int_equal(wg_edge(&r.dec, WG_D1, WG_FALLING, -5, &x), 1);
	check_bad(&x, WG_ERR_CLOCK, "negative time -5 ns");
	assert_int_equal(wg_deadline(&r.dec), -1);
	/* a rising edge going back counts too, and drops the frame */
	edge(&r, WG_D0, WG_FALLING, T0);
	edge(&r, WG_D0, WG_RISING, T0 - 1);
	assert_int_equal(r.n, 1);
	check_bad(&r.res[0], WG_ERR_CLOCK, "1-bit frame dropped");
	assert_int_equal(wg_deadline(&r.dec), -1);
	/* and after that the decoder reads again from the new time */
	send(&r, &f, T0 - 1, 2 * MS, 50 * US);
	flush(&r);
	assert_int_equal(r.res[1].status, WG_OK);
	assert_string_equal(r.res[1].credential, "42:4242");
	check_counts(&r.dec.count, 1, 0, 0, 0, 0, 2);

	/* near the end of int64: no overflow in the gap or the deadline */
	run_init(&r, WG_FORMAT_FACILITY_CARD);
	last = send(&r, &f, INT64_MAX - 100 * MS, 2 * MS, 50 * US);
	assert_true(wg_deadline(&r.dec) == last + WG_GAP_NS_DEFAULT);
	flush(&r);
	assert_string_equal(r.res[0].credential, "42:4242");
	last = send(&r, &f, INT64_MAX - 60 * MS, 2 * MS, 0);
	assert_true(wg_deadline(&r.dec) == INT64_MAX);
	assert_int_equal(wg_flush(&r.dec, INT64_MAX, &x), 0);
	/* the next edge after the gap would be past int64: never */
	assert_true(INT64_MAX - last < WG_GAP_NS_DEFAULT);
}

/* ---- the API around it ---- */

static void test_config(void **state)
{
	static const struct {
		int64_t gap, interval, width;
		int format, rc;
	} cases[] = {
		{ 25 * MS, 100 * US, 10 * US, 0, 0 },
		{ 1, 0, 0, 1, 0 },
		{ 0, 0, 0, 0, -EINVAL },
		{ -1, 0, 0, 0, -EINVAL },
		{ 25 * MS, -1, 0, 0, -EINVAL },
		{ 25 * MS, 0, -1, 0, -EINVAL },
		{ 25 * MS, 25 * MS, 0, 0, -EINVAL },
		{ 25 * MS, 0, 25 * MS, 0, -EINVAL },
		{ 25 * MS, 0, 0, 2, -EINVAL },
		{ 25 * MS, 0, 0, -1, -EINVAL },
	};
	struct wg_decoder dec;
	struct wg_config c;
	enum wg_format fmt = WG_FORMAT_NUMBER;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c.gap_ns = cases[i].gap;
		c.min_interval_ns = cases[i].interval;
		c.min_width_ns = cases[i].width;
		c.format = (enum wg_format)cases[i].format;
		assert_int_equal(wg_init(&dec, &c), cases[i].rc);
		if (cases[i].rc == 0)
			assert_true(dec.cfg.gap_ns == cases[i].gap);
		else
			assert_true(dec.cfg.gap_ns == WG_GAP_NS_DEFAULT);
	}
	assert_int_equal(wg_init(&dec, NULL), 0);
	assert_true(dec.cfg.gap_ns == WG_GAP_NS_DEFAULT);
	assert_int_equal(dec.cfg.format, WG_FORMAT_FACILITY_CARD);

	/* bad arguments change nothing */
	assert_int_equal(wg_edge(&dec, 2, WG_FALLING, T0, NULL), -EINVAL);
	assert_int_equal(wg_edge(&dec, -1, WG_FALLING, T0, NULL), -EINVAL);
	assert_int_equal(wg_edge(&dec, WG_D0, 2, T0, NULL), -EINVAL);
	assert_int_equal(wg_deadline(&dec), -1);
	assert_int_equal(dec.count.frames, 0);

	assert_int_equal(wg_format_parse("facility:card", &fmt), 0);
	assert_int_equal(fmt, WG_FORMAT_FACILITY_CARD);
	assert_int_equal(wg_format_parse("number", &fmt), 0);
	assert_int_equal(fmt, WG_FORMAT_NUMBER);
	assert_int_equal(wg_format_parse("Number", &fmt), -EINVAL);
	assert_int_equal(wg_format_parse("", &fmt), -EINVAL);
	assert_string_equal(wg_format_name(WG_FORMAT_NUMBER), "number");
	assert_string_equal(wg_format_name(WG_FORMAT_FACILITY_CARD),
			    "facility:card");
	assert_string_equal(wg_status_name(WG_OK), "ok");
	assert_string_equal(wg_status_name(WG_ERR_PARITY), "parity");
	assert_string_equal(wg_status_name(WG_ERR_LENGTH), "length");
	assert_string_equal(wg_status_name(WG_ERR_NOISE), "noise");
	assert_string_equal(wg_status_name(WG_ERR_OVERFLOW), "overflow");
	assert_string_equal(wg_status_name(WG_ERR_CLOCK), "clock");
}

/* Without an out parameter the result is still counted. */
static void test_null_out(void **state)
{
	struct frame f = h10301(9, 9);
	struct wg_decoder dec;
	int64_t t = T0;

	(void)state;
	wg_init(&dec, NULL);
	for (int round = 0; round < 2; round++, t += WG_GAP_NS_DEFAULT)
		for (unsigned k = 0; k < f.n; k++, t += 2 * MS)
			assert_int_equal(wg_edge(&dec, f.b[k], WG_FALLING, t,
						 NULL), round == 1 && k == 0);
	assert_int_equal(wg_flush(&dec, t, NULL), 1);
	assert_int_equal(wg_edge(&dec, WG_D0, WG_FALLING, 0, NULL), 1);
	check_counts(&dec.count, 2, 0, 0, 0, 0, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_raw_bits),
		cmocka_unit_test(test_noise),
		cmocka_unit_test(test_noise_beats_overflow),
		cmocka_unit_test(test_checks_off),
		cmocka_unit_test(test_stray_rising),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_back_to_back),
		cmocka_unit_test(test_rising_after_gap),
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_null_out),
	};

	return cmocka_run_group_tests_name("wiegand", tests, NULL, NULL);
}
