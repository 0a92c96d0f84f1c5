/*
 * mbmap: the register maps of the three Modbus device kinds (thermal sensor,
 * gate controller, credential reader) and the link settings of a Modbus TCP
 * or RTU device, parsed from a wk_conf (a [device] section merged over its profile
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

#include <stddef.h>
#include <stdint.h>

#include <wicket/plugin.h>

#include "regmap.h"

enum mb_table { MB_HOLDING, MB_INPUT, MB_COIL };

typedef int (*mb_err_fn)(void *ctx, const struct wk_conf_item *item,
			 const char *fmt, ...) WK_PRINTF(3, 4);

enum mb_transport { MB_TCP, MB_RTU };
enum mb_rs485 { MB_RS485_AUTO, MB_RS485_ON, MB_RS485_OFF };

/* How to reach one device.  The bus is one serial line (the same `serial`)
 * or one TCP peer (the same host:port); the keys marked "bus" must agree
 * between every device on one bus (mbmap_link_conflict). */
struct mb_link {
	enum mb_transport transport;	/* host = TCP, serial = RTU */
	char host[256];		/* TCP: name or address */
	int port;		/* TCP: default 502 */
	char serial[256];	/* RTU: the tty */
	unsigned baud;		/* RTU bus: default 9600 */
	char parity;		/* RTU bus: 'N' (default), 'E', 'O' */
	int data_bits;		/* RTU bus: 7 or 8 (default) */
	int stop_bits;		/* RTU bus: 1 (default) or 2 */
	enum mb_rs485 rs485;	/* RTU bus: default auto */
	unsigned frame_gap_ms;	/* bus: silence between frames */
	int unit;		/* slave id: RTU 1..247, TCP 0..255; default 1 */
	unsigned poll_ms;	/* default 200 */
	unsigned timeout_ms;	/* response timeout, default 500 */
	unsigned retries;	/* extra tries of a failed request, default 1 */
	unsigned backoff_max_ms;	/* cap of the doubling retry gap, 10000 */
};

/* The bus key: "tcp HOST:PORT" or "rtu PATH". */
void mbmap_bus_name(const struct mb_link *l, char *out, size_t len);
/* The first bus key on which a and b (on the same bus) disagree, or NULL. */
const char *mbmap_link_conflict(const struct mb_link *a,
				const struct mb_link *b);
/* A bus key's value as text, for messages ("9600", "even", ...). */
void mbmap_bus_value(const struct mb_link *l, const char *key, char *out,
		     size_t len);

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
