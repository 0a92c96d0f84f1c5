/*
 * frame: the Modbus wire format as wicket-sim serves it, for both
 * transports, with no I/O and nothing but libc, so that it can be unit
 * tested byte by byte and fuzzed.
 *
 *   parser     bytes in (any split), whole requests out: RTU frames told
 *              apart by function code and CRC-16, TCP frames by the MBAP
 *              header.  RTU resynchronises after a framing error by
 *              dropping one byte at a time; TCP cannot, so a bad MBAP
 *              header leaves the parser stuck and the caller closes.
 *   replies    frame_rtu_build (unit, PDU, CRC) and frame_tcp_build (MBAP,
 *              PDU)
 *   responder  frame_check / frame_respond: function codes 1, 2, 3, 4, 5,
 *              6, 15 and 16 against a register map, with exceptions 1
 *              (illegal function), 2 (illegal data address) and 3
 *              (illegal data value), checked in that order as the Modbus
 *              application protocol specification says.
 */
#ifndef WICKET_SIM_FRAME_H
#define WICKET_SIM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_PDU_MAX 253	/* function code + data */
#define FRAME_RTU_MAX 256	/* unit + PDU + CRC */
#define FRAME_TCP_MAX 260	/* MBAP (7, unit included) + PDU */
#define FRAME_ADU_MAX FRAME_TCP_MAX
/* Room for two whole frames, so a full buffer always holds a decision. */
#define FRAME_BUF_MAX 520

#define FRAME_EX_FUNCTION 1	/* illegal function */
#define FRAME_EX_ADDRESS 2	/* illegal data address */
#define FRAME_EX_VALUE 3	/* illegal data value */
#define FRAME_EX_DEVICE 4	/* server device failure */
#define FRAME_EX_GATEWAY 11	/* gateway target device failed to respond */

enum frame_proto { FRAME_RTU, FRAME_TCP };

/* Why bytes were thrown away. */
enum frame_err {
	FRAME_ERR_NONE,
	FRAME_ERR_CRC,		/* RTU: the CRC does not match */
	FRAME_ERR_FUNCTION,	/* RTU: a function code we cannot frame */
	FRAME_ERR_LENGTH,	/* RTU: a byte count past the 256-byte ADU */
	FRAME_ERR_PARTIAL,	/* RTU: the line went quiet mid-frame */
	FRAME_ERR_PROTOCOL,	/* TCP: MBAP protocol id is not 0 */
	FRAME_ERR_MBAP_LENGTH,	/* TCP: MBAP length outside 2..254 */
};

struct frame_parser {
	enum frame_proto proto;
	size_t len;
	unsigned long errors;	/* framing errors counted so far */
	enum frame_err last_err;
	int resync;		/* RTU: dropping bytes since an error */
	int broken;		/* TCP: a bad header; no more frames */
	uint8_t buf[FRAME_BUF_MAX];
};

/* One request as it came in. */
struct frame_req {
	uint16_t tid;		/* TCP transaction id (0 on RTU) */
	uint8_t unit;
	size_t pdu_len;		/* 1..FRAME_PDU_MAX */
	uint8_t pdu[FRAME_PDU_MAX];
};

void frame_parser_init(struct frame_parser *p, enum frame_proto proto);
/* Append up to n bytes; returns how many were taken (fewer when the
 * buffer is full: take the requests out with frame_next, then feed the
 * rest). */
size_t frame_feed(struct frame_parser *p, const uint8_t *data, size_t n);
/* The next whole request into *req: 1.  0 when more bytes are needed.
 * -EBADMSG (RTU) when a framing error starts (counted once per spell of
 * dropped bytes, the reason in last_err): call again.  -EPROTO (TCP)
 * when the MBAP header is bad: the stream cannot be resynchronised, every
 * later call says the same. */
int frame_next(struct frame_parser *p, struct frame_req *req);
/* The line has been quiet: drop a partial frame.  Returns 1 if that was a
 * new framing error (FRAME_ERR_PARTIAL), else 0. */
int frame_flush(struct frame_parser *p);
/* Whether the parser holds bytes or is in a resync spell (for the
 * caller's quiet-line timer). */
int frame_pending(const struct frame_parser *p);
const char *frame_err_name(enum frame_err e);

/* CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF); on the wire the low
 * byte goes first. */
uint16_t frame_crc16(const uint8_t *p, size_t n);
/* The RTU frame of a reply into out (FRAME_RTU_MAX bytes); returns its
 * length, or 0 if pdu_len is 0 or too long. */
size_t frame_rtu_build(uint8_t unit, const uint8_t *pdu, size_t pdu_len,
		       uint8_t *out);
/* The TCP frame (MBAP + PDU) into out (FRAME_TCP_MAX bytes). */
size_t frame_tcp_build(uint16_t tid, uint8_t unit, const uint8_t *pdu,
		       size_t pdu_len, uint8_t *out);

/* A device's registers, each table from address 0.  Bits are one byte
 * each (0 or 1).  A table with n == 0 may have a NULL pointer. */
struct frame_map {
	uint8_t *coils;
	unsigned n_coils;
	uint8_t *discrete;
	unsigned n_discrete;
	uint16_t *holding;
	unsigned n_holding;
	uint16_t *input;
	unsigned n_input;
};

enum frame_table { FRAME_COILS, FRAME_DISCRETE, FRAME_HOLDING, FRAME_INPUT };

/* What a request touches, as far as its PDU says. */
struct frame_access {
	enum frame_table table;
	unsigned address;
	unsigned count;		/* 1 for functions 5 and 6 */
	int write;
};

/* 0 if map would carry out pdu, else the exception code it would get.
 * *acc is filled as far as the PDU can be read (zeros otherwise), so a
 * log line can show even a refused request. */
int frame_check(const struct frame_map *map, const uint8_t *pdu,
		size_t len, struct frame_access *acc);
/* The value the write request pdu (one frame_check accepted) puts at
 * address, which it covers: a bit as 0 or 1, a register as is.  -EINVAL
 * if pdu is not such a write. */
int frame_written(const uint8_t *pdu, size_t len, unsigned address,
		  unsigned *val);
/* Carry out pdu on map and build the reply PDU (normal or exception) in
 * out (FRAME_PDU_MAX bytes); returns its length. */
size_t frame_respond(struct frame_map *map, const uint8_t *pdu, size_t len,
		     uint8_t *out);
/* An exception reply PDU for function fc into out (2 bytes). */
size_t frame_exception(uint8_t fc, uint8_t code, uint8_t *out);
/* Turn a reply PDU into one that answers some other request: the function
 * code swapped with its sibling of the same reply shape (1<->2, 3<->4,
 * 5<->6, 15<->16; any other gets bit 6 flipped), the exception bit kept.
 * Still well framed, just not an answer to what was asked. */
void frame_garble(uint8_t *pdu, size_t len);

#endif
