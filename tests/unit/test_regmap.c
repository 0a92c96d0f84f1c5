/*
 * regmap: every type in every byte order, scale and offset, round trips,
 * values that do not fit and values that are not numbers.  Tables of cases;
 * the expected registers were worked out by hand from the big-endian bytes
 * A B C D of each value.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "regmap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct decode_case {
	enum rm_type type;
	enum rm_order order;
	uint16_t regs[2];
	double scale, offset;
	double want;
};

static const struct decode_case decode_cases[] = {
	/* int16 -200 = 0xFF38; only the byte swap counts */
	{ RM_INT16, RM_ABCD, { 0xFF38 }, 1, 0, -200 },
	{ RM_INT16, RM_CDAB, { 0xFF38 }, 1, 0, -200 },
	{ RM_INT16, RM_BADC, { 0x38FF }, 1, 0, -200 },
	{ RM_INT16, RM_DCBA, { 0x38FF }, 1, 0, -200 },
	/* uint16 65336 = 0xFF38 */
	{ RM_UINT16, RM_ABCD, { 0xFF38 }, 1, 0, 65336 },
	{ RM_UINT16, RM_CDAB, { 0xFF38 }, 1, 0, 65336 },
	{ RM_UINT16, RM_BADC, { 0x38FF }, 1, 0, 65336 },
	{ RM_UINT16, RM_DCBA, { 0x38FF }, 1, 0, 65336 },
	/* int32 -123456789 = 0xF8A432EB */
	{ RM_INT32, RM_ABCD, { 0xF8A4, 0x32EB }, 1, 0, -123456789 },
	{ RM_INT32, RM_CDAB, { 0x32EB, 0xF8A4 }, 1, 0, -123456789 },
	{ RM_INT32, RM_BADC, { 0xA4F8, 0xEB32 }, 1, 0, -123456789 },
	{ RM_INT32, RM_DCBA, { 0xEB32, 0xA4F8 }, 1, 0, -123456789 },
	/* uint32 3000000000 = 0xB2D05E00 */
	{ RM_UINT32, RM_ABCD, { 0xB2D0, 0x5E00 }, 1, 0, 3000000000.0 },
	{ RM_UINT32, RM_CDAB, { 0x5E00, 0xB2D0 }, 1, 0, 3000000000.0 },
	{ RM_UINT32, RM_BADC, { 0xD0B2, 0x005E }, 1, 0, 3000000000.0 },
	{ RM_UINT32, RM_DCBA, { 0x005E, 0xD0B2 }, 1, 0, 3000000000.0 },
	/* float32 1234.5678f = 0x449A522B = 1234.5677490234375 */
	{ RM_FLOAT32, RM_ABCD, { 0x449A, 0x522B }, 1, 0, 1234.5677490234375 },
	{ RM_FLOAT32, RM_CDAB, { 0x522B, 0x449A }, 1, 0, 1234.5677490234375 },
	{ RM_FLOAT32, RM_BADC, { 0x9A44, 0x2B52 }, 1, 0, 1234.5677490234375 },
	{ RM_FLOAT32, RM_DCBA, { 0x2B52, 0x9A44 }, 1, 0, 1234.5677490234375 },
	/* float32 -0.15625 = 0xBE200000 */
	{ RM_FLOAT32, RM_ABCD, { 0xBE20, 0x0000 }, 1, 0, -0.15625 },
	/* scale and offset */
	{ RM_INT16, RM_ABCD, { 365 }, 0.1, 0, 36.5 },
	{ RM_INT16, RM_ABCD, { 0xFFFF }, 0.1, 0, -0.1 },
	{ RM_UINT16, RM_ABCD, { 3100 }, 0.1, -273.15, 36.85 },	/* decikelvin */
	{ RM_UINT16, RM_ABCD, { 7680 }, 0.01, -40, 36.8 },
	{ RM_INT32, RM_CDAB, { 36850, 0 }, 0.001, 0, 36.85 },
	{ RM_UINT32, RM_ABCD, { 0, 98 }, 1, 0.5, 98.5 },
	{ RM_FLOAT32, RM_ABCD, { 0x4213, 0x3333 }, 1, 0, 36.8 },	/* 36.8f */
	{ RM_FLOAT32, RM_ABCD, { 0x42C4, 0x3333 }, 0.5, 0, 49.05 },	/* 98.1f / 2 */
	{ RM_INT16, RM_ABCD, { 10 }, -2, 1, -19 },
};

static void test_decode_table(void **st)
{
	(void)st;
	for (size_t i = 0; i < N(decode_cases); i++) {
		const struct decode_case *c = &decode_cases[i];
		struct rm_value v = { c->type, c->order, c->scale, c->offset };
		double got = -1;

		if (rm_decode(&v, c->regs, &got) != 0 ||
		    fabs(got - c->want) > 1e-4) {
			print_error("case %zu (%s %s): got %.9g want %.9g\n", i,
				    rm_type_name(c->type),
				    rm_order_name(c->order), got, c->want);
			fail();
		}
	}
}

/* Encoding gives exactly the registers decoding reads. */
static void test_encode_table(void **st)
{
	(void)st;
	for (size_t i = 0; i < N(decode_cases); i++) {
		const struct decode_case *c = &decode_cases[i];
		struct rm_value v = { c->type, c->order, c->scale, c->offset };
		uint16_t regs[2] = { 0xAAAA, 0xAAAA };
		unsigned w = rm_width(c->type);

		if (c->type == RM_FLOAT32 && c->scale != 1)
			continue;	/* 98.1 * 0.5 is not exact */
		assert_int_equal(rm_encode(&v, c->want, regs), 0);
		if (regs[0] != c->regs[0] || (w == 2 && regs[1] != c->regs[1])) {
			print_error("case %zu (%s %s): got %04x %04x\n", i,
				    rm_type_name(c->type),
				    rm_order_name(c->order), regs[0], regs[1]);
			fail();
		}
		if (w == 1)
			assert_int_equal(regs[1], 0xAAAA);	/* untouched */
	}
}

static const double round_trip_values[] = {
	0, 1, -1, 36.6, 37.95, -12.3, 100.25, 250.5,
};

static void test_round_trip(void **st)
{
	static const enum rm_type types[] = { RM_INT16, RM_UINT16, RM_INT32,
					      RM_UINT32, RM_FLOAT32 };
	static const enum rm_order orders[] = { RM_ABCD, RM_CDAB, RM_BADC,
						RM_DCBA };
	static const double scales[][2] = { { 1, 0 }, { 0.1, 0 }, { 0.01, -40 },
					    { 0.5, 10 } };

	(void)st;
	for (size_t t = 0; t < N(types); t++)
	for (size_t o = 0; o < N(orders); o++)
	for (size_t s = 0; s < N(scales); s++)
	for (size_t k = 0; k < N(round_trip_values); k++) {
		struct rm_value v = { types[t], orders[o], scales[s][0],
				      scales[s][1] };
		double x = round_trip_values[k], got;
		uint16_t regs[2] = { 0, 0 };
		int r = rm_encode(&v, x, regs);

		if (r == -ERANGE)	/* negative into unsigned */
			continue;
		assert_int_equal(r, 0);
		assert_int_equal(rm_decode(&v, regs, &got), 0);
		/* integer types round to the nearest step of scale */
		if (fabs(got - x) > (types[t] == RM_FLOAT32
					     ? 1e-4 * (fabs(x) + 1)
					     : fabs(v.scale) / 2 + 1e-9)) {
			print_error("%s %s scale %g offset %g: %g -> %g\n",
				    rm_type_name(types[t]),
				    rm_order_name(orders[o]), v.scale,
				    v.offset, x, got);
			fail();
		}
	}
}

struct range_case {
	enum rm_type type;
	double scale, offset;
	double value;
	int want;	/* 0 or -ERANGE */
	uint16_t reg0;	/* for 0: regs[0] */
};

static const struct range_case range_cases[] = {
	{ RM_INT16, 1, 0, 32767, 0, 0x7FFF },
	{ RM_INT16, 1, 0, 32768, -ERANGE, 0 },
	{ RM_INT16, 1, 0, -32768, 0, 0x8000 },
	{ RM_INT16, 1, 0, -32769, -ERANGE, 0 },
	{ RM_INT16, 1, 0, 32767.4, 0, 0x7FFF },	/* rounds down, fits */
	{ RM_INT16, 1, 0, 32767.6, -ERANGE, 0 },	/* rounds to 32768 */
	{ RM_INT16, 0.1, 0, 3276.7, 0, 0x7FFF },
	{ RM_INT16, 0.1, 0, 3276.8, -ERANGE, 0 },
	{ RM_INT16, 0.1, 0, 36.56, 0, 366 },	/* nearest, not truncated */
	{ RM_INT16, 0.1, 0, 36.54, 0, 365 },
	{ RM_UINT16, 1, 0, 65535, 0, 0xFFFF },
	{ RM_UINT16, 1, 0, 65536, -ERANGE, 0 },
	{ RM_UINT16, 1, 0, -1, -ERANGE, 0 },
	{ RM_UINT16, 1, 0, -0.4, 0, 0 },
	{ RM_UINT16, 0.1, -273.15, -300, -ERANGE, 0 },
	{ RM_INT32, 1, 0, 2147483647.0, 0, 0x7FFF },
	{ RM_INT32, 1, 0, 2147483648.0, -ERANGE, 0 },
	{ RM_INT32, 1, 0, -2147483648.0, 0, 0x8000 },
	{ RM_INT32, 1, 0, -2147483649.0, -ERANGE, 0 },
	{ RM_UINT32, 1, 0, 4294967295.0, 0, 0xFFFF },
	{ RM_UINT32, 1, 0, 4294967296.0, -ERANGE, 0 },
	{ RM_UINT32, 1, 0, -1, -ERANGE, 0 },
	{ RM_FLOAT32, 1, 0, 1e38, 0, 0x7E96 },
	{ RM_FLOAT32, 1, 0, 1e39, -ERANGE, 0 },
	{ RM_FLOAT32, 1, 0, -1e39, -ERANGE, 0 },
	{ RM_FLOAT32, 1e-30, 0, 1e10, -ERANGE, 0 },	/* 1e40 raw */
	{ RM_FLOAT32, 1, 0, NAN, -ERANGE, 0 },
	{ RM_FLOAT32, 1, 0, INFINITY, -ERANGE, 0 },
	{ RM_INT16, 1, 0, NAN, -ERANGE, 0 },
	{ RM_UINT32, 1, 0, -INFINITY, -ERANGE, 0 },
};

static void test_encode_range(void **st)
{
	(void)st;
	for (size_t i = 0; i < N(range_cases); i++) {
		const struct range_case *c = &range_cases[i];
		struct rm_value v = { c->type, RM_ABCD, c->scale, c->offset };
		uint16_t regs[2] = { 0, 0 };
		int r = rm_encode(&v, c->value, regs);

		if (r != c->want || (r == 0 && regs[0] != c->reg0)) {
			print_error("case %zu (%s %g): rc %d reg0 %04x\n", i,
				    rm_type_name(c->type), c->value, r,
				    regs[0]);
			fail();
		}
	}
}

struct nan_case {
	enum rm_order order;
	uint16_t regs[2];
};

static const struct nan_case nan_cases[] = {
	{ RM_ABCD, { 0x7FC0, 0x0000 } },	/* quiet NaN */
	{ RM_CDAB, { 0x0000, 0x7FC0 } },
	{ RM_BADC, { 0xC07F, 0x0000 } },
	{ RM_DCBA, { 0x0000, 0xC07F } },
	{ RM_ABCD, { 0x7F80, 0x0001 } },	/* signalling NaN */
	{ RM_ABCD, { 0xFFFF, 0xFFFF } },	/* all ones: a NaN */
	{ RM_ABCD, { 0x7F80, 0x0000 } },	/* +inf */
	{ RM_ABCD, { 0xFF80, 0x0000 } },	/* -inf */
	{ RM_DCBA, { 0x0000, 0x807F } },	/* +inf, reversed */
};

static void test_decode_nan(void **st)
{
	(void)st;
	for (size_t i = 0; i < N(nan_cases); i++) {
		struct rm_value v = { RM_FLOAT32, nan_cases[i].order, 1, 0 };
		double got = 12345;

		assert_int_equal(rm_decode(&v, nan_cases[i].regs, &got),
				 -ERANGE);
		assert_true(got == 12345);	/* untouched */
	}
}

/* A finite float that scale pushes past a double is not a number either. */
static void test_decode_overflow(void **st)
{
	struct rm_value v = { RM_FLOAT32, RM_ABCD, 1e300, 0 };
	uint16_t regs[2] = { 0x7F7F, 0xFFFF };	/* FLT_MAX */
	double got;

	(void)st;
	assert_int_equal(rm_decode(&v, regs, &got), -ERANGE);
}

static void test_invalid_value(void **st)
{
	struct rm_value v = { RM_INT16, RM_ABCD, 0, 0 };
	uint16_t regs[2] = { 1, 2 };
	double got;

	(void)st;
	assert_int_equal(rm_decode(&v, regs, &got), -EINVAL);
	assert_int_equal(rm_encode(&v, 1, regs), -EINVAL);
}

struct name_case {
	const char *s;
	int is_type;
	int want;	/* enum value, or -1 for -EINVAL */
};

static const struct name_case name_cases[] = {
	{ "int16", 1, RM_INT16 },     { "uint16", 1, RM_UINT16 },
	{ "int32", 1, RM_INT32 },     { "uint32", 1, RM_UINT32 },
	{ "float32", 1, RM_FLOAT32 }, { "int12", 1, -1 },
	{ "INT16", 1, -1 },           { "", 1, -1 },
	{ "float", 1, -1 },           { "int16 ", 1, -1 },
	{ "abcd", 0, RM_ABCD },       { "cdab", 0, RM_CDAB },
	{ "badc", 0, RM_BADC },       { "dcba", 0, RM_DCBA },
	{ "abdc", 0, -1 },            { "ABCD", 0, -1 },
	{ "", 0, -1 },                { "big", 0, -1 },
};

static void test_names(void **st)
{
	(void)st;
	for (size_t i = 0; i < N(name_cases); i++) {
		const struct name_case *c = &name_cases[i];
		int r;

		if (c->is_type) {
			enum rm_type t = RM_FLOAT32;

			r = rm_parse_type(c->s, &t);
			assert_int_equal(r, c->want < 0 ? -EINVAL : 0);
			if (r == 0) {
				assert_int_equal(t, c->want);
				assert_string_equal(rm_type_name(t), c->s);
			}
		} else {
			enum rm_order o = RM_DCBA;

			r = rm_parse_order(c->s, &o);
			assert_int_equal(r, c->want < 0 ? -EINVAL : 0);
			if (r == 0) {
				assert_int_equal(o, c->want);
				assert_string_equal(rm_order_name(o), c->s);
			}
		}
	}
	assert_int_equal(rm_parse_type(NULL, &(enum rm_type){ 0 }), -EINVAL);
	assert_int_equal(rm_width(RM_INT16), 1);
	assert_int_equal(rm_width(RM_UINT16), 1);
	assert_int_equal(rm_width(RM_INT32), 2);
	assert_int_equal(rm_width(RM_UINT32), 2);
	assert_int_equal(rm_width(RM_FLOAT32), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_encode_table),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_range),
		cmocka_unit_test(test_decode_nan),
		cmocka_unit_test(test_decode_overflow),
		cmocka_unit_test(test_invalid_value),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
