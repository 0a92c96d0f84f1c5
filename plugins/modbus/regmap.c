/*
 * regmap: Modbus registers to engineering values and back.
 *
 * Devices disagree on how a 32-bit value is laid over two 16-bit registers,
 * so the byte order is a setting, not a guess.  One table says, for each
 * order, at which wire position (0..3, register by register, high byte
 * first) each byte A B C D of the big-endian value sits; decoding and
 * encoding both read it, so they cannot drift apart.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "regmap.h"

static const char *const type_names[] = {
	[RM_INT16] = "int16",
	[RM_UINT16] = "uint16",
	[RM_INT32] = "int32",
	[RM_UINT32] = "uint32",
	[RM_FLOAT32] = "float32",
};

static const char *const order_names[] = {
	[RM_ABCD] = "abcd",
	[RM_CDAB] = "cdab",
	[RM_BADC] = "badc",
	[RM_DCBA] = "dcba",
};

/* wire_pos[order][k]: wire position of byte k (A = 0 ... D = 3) */
static const unsigned char wire_pos[4][4] = {
	[RM_ABCD] = { 0, 1, 2, 3 },
	[RM_CDAB] = { 2, 3, 0, 1 },
	[RM_BADC] = { 1, 0, 3, 2 },
	[RM_DCBA] = { 3, 2, 1, 0 },
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))
#define N_ORDERS (sizeof(order_names) / sizeof(order_names[0]))

int rm_parse_type(const char *s, enum rm_type *out)
{
	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < N_TYPES; i++) {
		if (strcmp(s, type_names[i]) == 0) {
			*out = (enum rm_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

int rm_parse_order(const char *s, enum rm_order *out)
{
	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < N_ORDERS; i++) {
		if (strcmp(s, order_names[i]) == 0) {
			*out = (enum rm_order)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *rm_type_name(enum rm_type t)
{
	return (unsigned)t < N_TYPES ? type_names[t] : "?";
}

const char *rm_order_name(enum rm_order o)
{
	return (unsigned)o < N_ORDERS ? order_names[o] : "?";
}

unsigned rm_width(enum rm_type t)
{
	return (t == RM_INT16 || t == RM_UINT16) ? 1 : 2;
}

static int valid(const struct rm_value *v)
{
	return (unsigned)v->type < N_TYPES && (unsigned)v->order < N_ORDERS &&
	       v->scale != 0 && isfinite(v->scale) && isfinite(v->offset);
}

/* 16-bit types: only the byte swap of the order counts */
static int swaps_bytes(enum rm_order o)
{
	return o == RM_BADC || o == RM_DCBA;
}

static uint16_t swap16(uint16_t x)
{
	return (uint16_t)((x << 8) | (x >> 8));
}

static uint32_t regs_to_u32(enum rm_order o, const uint16_t *regs)
{
	unsigned char wire[4] = {
		(unsigned char)(regs[0] >> 8), (unsigned char)regs[0],
		(unsigned char)(regs[1] >> 8), (unsigned char)regs[1],
	};
	uint32_t x = 0;

	for (int k = 0; k < 4; k++)
		x = (x << 8) | wire[wire_pos[o][k]];
	return x;
}

static void u32_to_regs(enum rm_order o, uint32_t x, uint16_t *regs)
{
	unsigned char wire[4];

	for (int k = 0; k < 4; k++)
		wire[wire_pos[o][k]] = (unsigned char)(x >> (24 - 8 * k));
	regs[0] = (uint16_t)((wire[0] << 8) | wire[1]);
	regs[1] = (uint16_t)((wire[2] << 8) | wire[3]);
}

int rm_decode(const struct rm_value *v, const uint16_t *regs, double *out)
{
	double raw;
	uint16_t w;
	uint32_t x;
	float f;

	if (!valid(v))
		return -EINVAL;
	switch (v->type) {
	case RM_INT16:
	case RM_UINT16:
		w = swaps_bytes(v->order) ? swap16(regs[0]) : regs[0];
		raw = v->type == RM_INT16 ? (double)(int16_t)w : (double)w;
		break;
	case RM_INT32:
		x = regs_to_u32(v->order, regs);
		raw = (double)(int32_t)x;
		break;
	case RM_UINT32:
		raw = (double)regs_to_u32(v->order, regs);
		break;
	case RM_FLOAT32:
		x = regs_to_u32(v->order, regs);
		memcpy(&f, &x, sizeof(f));
		raw = (double)f;
		break;
	default:
		return -EINVAL;
	}
	raw = raw * v->scale + v->offset;
	if (!isfinite(raw))
		return -ERANGE;
	*out = raw;
	return 0;
}

int rm_encode(const struct rm_value *v, double value, uint16_t *regs)
{
	double raw, lo, hi;
	uint32_t x;
	float f;

	if (!valid(v))
		return -EINVAL;
	raw = (value - v->offset) / v->scale;
	if (!isfinite(raw))
		return -ERANGE;
	if (v->type == RM_FLOAT32) {
		if (fabs(raw) > FLT_MAX)
			return -ERANGE;
		f = (float)raw;
		if (!isfinite(f))
			return -ERANGE;
		memcpy(&x, &f, sizeof(x));
		u32_to_regs(v->order, x, regs);
		return 0;
	}
	switch (v->type) {
	case RM_INT16:
		lo = INT16_MIN;
		hi = INT16_MAX;
		break;
	case RM_UINT16:
		lo = 0;
		hi = UINT16_MAX;
		break;
	case RM_INT32:
		lo = INT32_MIN;
		hi = INT32_MAX;
		break;
	default:
		lo = 0;
		hi = UINT32_MAX;
		break;
	}
	raw = round(raw);
	if (raw < lo || raw > hi)
		return -ERANGE;
	if (rm_width(v->type) == 1) {
		uint16_t w = v->type == RM_INT16 ? (uint16_t)(int16_t)raw
						 : (uint16_t)raw;

		regs[0] = swaps_bytes(v->order) ? swap16(w) : w;
		return 0;
	}
	x = v->type == RM_INT32 ? (uint32_t)(int32_t)raw : (uint32_t)raw;
	u32_to_regs(v->order, x, regs);
	return 0;
}

