/*
 * mbmap: the register maps of the three Modbus device kinds (thermal sensor,
 * gate controller, credential reader) and the link settings of a Modbus TCP
 * device, parsed from a wk_conf (a [device] section merged over its profile
 * file).  Shared by the Modbus plugins and wicket-sim, so both read the same
 * profile files the same way.  docs/devices.md documents every key.
 *
 * Each parser reads only its own keys, sets used[i] = 1 for each item i it
 * consumed, reports every bad value through err and returns -EINVAL if there
 * was any (0 otherwise).  The caller reports the items nobody used as
 * unknown keys (mbmap_check_unused).
 */
#ifndef WICKET_MBMAP_H
#define WICKET_MBMAP_H

#include <stdint.h>

#include <wicket/plugin.h>

#include "regmap.h"

enum mb_table { MB_HOLDING, MB_INPUT, MB_COIL };

typedef int (*mb_err_fn)(void *ctx, const struct wk_conf_item *item,
			 const char *fmt, ...) WK_PRINTF(3, 4);

/* Modbus TCP link: host, port, unit, poll_ms, timeout_ms, backoff_max_ms */
struct mb_link {
	char host[256];
	int port;		/* default 502 */
	int unit;		/* slave id, default 1 */
	unsigned poll_ms;	/* default 200 */
	unsigned timeout_ms;	/* response timeout, default 500 */
	unsigned backoff_max_ms;	/* cap of the doubling retry gap, 10000 */
};

/* Thermal sensor: the temperature value and how a new reading is flagged. */
struct mb_thermal_map {
	enum mb_table table;	/* holding or input, key `table` */
	int temperature_register;
	struct rm_value temperature;	/* temperature_type, word_order, scale, offset */
	int sequence_register;	/* -1 if none; changes on each new reading */
	int ready_register;	/* -1 if none; nonzero = new reading; we write 0 */
	double calibration;	/* added to every reading, default 0 */
	double plausible_min;	/* default 30.0; below: a fault, no reading */
	double plausible_max;	/* default 45.0 */
};

/* Gate controller: an open coil, or a register written with open_value. */
struct mb_gate_map {
	enum mb_table open_table;	/* MB_COIL (open_coil) or MB_HOLDING (open_register) */
	int open_address;
	uint16_t open_value;	/* for open_register, default 1 */
	unsigned pulse_ms;	/* write open, wait, write 0; default 500 */
	int status_register;	/* -1 if none; nonzero = open (holding) */
};

enum mb_cred_format { MB_CRED_ASCII, MB_CRED_UINT32 };

/* Card / QR reader: a sequence counter and the last credential read. */
struct mb_reader_map {
	enum mb_table table;	/* holding or input */
	int sequence_register;	/* uint16, changes on each read */
	int credential_register;
	int credential_length;	/* registers: ascii 1..31 (2 chars each), uint32: 2 */
	enum mb_cred_format credential_format;	/* ascii (NUL padded) or uint32 (abcd) */
};

int mbmap_parse_link(const struct wk_conf *conf, unsigned char *used,
		     struct mb_link *out, mb_err_fn err, void *ctx);
int mbmap_parse_thermal(const struct wk_conf *conf, unsigned char *used,
			struct mb_thermal_map *out, mb_err_fn err, void *ctx);
int mbmap_parse_gate(const struct wk_conf *conf, unsigned char *used,
		     struct mb_gate_map *out, mb_err_fn err, void *ctx);
int mbmap_parse_reader(const struct wk_conf *conf, unsigned char *used,
		       struct mb_reader_map *out, mb_err_fn err, void *ctx);
/* Report each item with used[i] == 0 as "unknown key"; -EINVAL if any. */
int mbmap_check_unused(const struct wk_conf *conf, const unsigned char *used,
		       mb_err_fn err, void *ctx);

/* Credential registers to text: ascii stops at the first NUL, uint32 is
 * printed in decimal.  -EINVAL for non-printable bytes or an empty value. */
int mbmap_decode_credential(const struct mb_reader_map *m,
			    const uint16_t *regs, char *out, size_t outlen);
/* The inverse, for wicket-sim.  -ERANGE if it does not fit. */
int mbmap_encode_credential(const struct mb_reader_map *m, const char *cred,
			    uint16_t *regs);

#endif
