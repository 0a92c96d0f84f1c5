/*
 * regmap: turn Modbus registers into numbers and back.
 *
 * A value is one register (int16, uint16) or two (int32, uint32, float32).
 * Byte order names the order in which the bytes A B C D of the big-endian
 * 32-bit value appear on the wire, register by register:
 *   abcd  high word first, each word big-endian (Modbus default)
 *   cdab  low word first ("word swapped")
 *   badc  high word first, bytes swapped in each word
 *   dcba  low word first, bytes swapped
 * For 16-bit types only the byte swap counts (abcd/cdab = AB, badc/dcba = BA).
 * The engineering value is raw * scale + offset.
 * Pure functions: used by the Modbus plugins and by wicket-sim.
 */
#ifndef WICKET_REGMAP_H
#define WICKET_REGMAP_H

#include <stdint.h>

enum rm_type { RM_INT16, RM_UINT16, RM_INT32, RM_UINT32, RM_FLOAT32 };
enum rm_order { RM_ABCD, RM_CDAB, RM_BADC, RM_DCBA };

struct rm_value {
	enum rm_type type;
	enum rm_order order;
	double scale;		/* never 0 */
	double offset;
};

/* "int16" ... "float32"; 0 or -EINVAL */
int rm_parse_type(const char *s, enum rm_type *out);
/* "abcd" ... "dcba"; 0 or -EINVAL */
int rm_parse_order(const char *s, enum rm_order *out);
const char *rm_type_name(enum rm_type t);
const char *rm_order_name(enum rm_order o);
/* Registers the type takes: 1 or 2. */
unsigned rm_width(enum rm_type t);
/* regs[0..width-1] to raw * scale + offset.  -ERANGE for NaN or infinity. */
int rm_decode(const struct rm_value *v, const uint16_t *regs, double *out);
/* The inverse, rounding to the nearest raw value for integer types.
 * -ERANGE when the value does not fit the type. */
int rm_encode(const struct rm_value *v, double value, uint16_t *regs);

#endif
