/*
 * frame: Modbus RTU and TCP requests in, replies out, and the registers
 * they read and write.  No I/O, libc only (see frame.h).
 *
 * RTU has no length field, so a request's length comes from its function
 * code: 8 bytes for 1 to 6, 9 + byte count for 15 and 16.  A frame whose
 * CRC does not match, or whose function code we cannot frame, costs its
 * first byte and the search goes on one byte later: a request that
 * follows junk on the line is found again without any timing.  What
 * timing cannot be avoided (a partial frame that never completes) is the
 * caller's quiet-line timer calling frame_flush.  One spell of dropped
 * bytes counts as one framing error, not one per byte.
 *
 * TCP frames carry their length in the MBAP header; a header with another
 * protocol id or a length outside 2..254 means the two ends no longer
 * agree where frames start, and there is no way back on a stream.
 *
 * The responder checks in the order of the Modbus application protocol
 * specification's state diagrams: function supported (exception 1), then
 * quantity, value and PDU length (3), then address range (2), so a client
 * sees the same exception from the simulator as from a careful device.
 */
#include <errno.h>
#include <string.h>

#include "frame.h"

#define MAX_READ_BITS 2000
#define MAX_READ_REGS 125
#define MAX_WRITE_BITS 1968
#define MAX_WRITE_REGS 123
#define MBAP_LEN_MIN 2		/* unit + function code */
#define MBAP_LEN_MAX (1 + FRAME_PDU_MAX)

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

const char *frame_err_name(enum frame_err e)
{
	switch (e) {
	case FRAME_ERR_NONE: return "none";
	case FRAME_ERR_CRC: return "crc";
	case FRAME_ERR_FUNCTION: return "function";
	case FRAME_ERR_LENGTH: return "length";
	case FRAME_ERR_PARTIAL: return "partial";
	case FRAME_ERR_PROTOCOL: return "protocol";
	case FRAME_ERR_MBAP_LENGTH: return "mbap-length";
	}
	return "?";
}

uint16_t frame_crc16(const uint8_t *p, size_t n)
{
	unsigned crc = 0xffff;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (crc >> 1) ^ 0xa001 : crc >> 1;
	}
	return (uint16_t)crc;
}

void frame_parser_init(struct frame_parser *p, enum frame_proto proto)
{
	memset(p, 0, sizeof(*p));
	p->proto = proto;
}

size_t frame_feed(struct frame_parser *p, const uint8_t *data, size_t n)
{
	size_t room = sizeof(p->buf) - p->len;

	if (n > room)
		n = room;
	if (n > 0)
		memcpy(p->buf + p->len, data, n);
	p->len += n;
	return n;
}

static void drop(struct frame_parser *p, size_t k)
{
	memmove(p->buf, p->buf + k, p->len - k);
	p->len -= k;
}

/* The length of the RTU request at the start of buf: > 0, 0 when more
 * bytes are needed to know, -1 (reason in *why) when it cannot be one. */
static int rtu_len(const uint8_t *buf, size_t len, enum frame_err *why)
{
	size_t n;

	switch (buf[1]) {
	case 1: case 2: case 3: case 4: case 5: case 6:
		return 8;
	case 15: case 16:
		if (len < 7)
			return 0;
		n = 9 + (size_t)buf[6];
		if (n > FRAME_RTU_MAX) {
			*why = FRAME_ERR_LENGTH;
			return -1;
		}
		return (int)n;
	default:
		*why = FRAME_ERR_FUNCTION;
		return -1;
	}
}

static int next_rtu(struct frame_parser *p, struct frame_req *req)
{
	for (;;) {
		enum frame_err why = FRAME_ERR_CRC;
		int n;

		if (p->len < 2)
			return 0;
		n = rtu_len(p->buf, p->len, &why);
		if (n == 0 || (n > 0 && p->len < (size_t)n))
			return 0;
		if (n > 0) {
			size_t plen = (size_t)n - 3;
			unsigned crc = frame_crc16(p->buf, (size_t)n - 2);

			if (p->buf[n - 2] == (crc & 0xff) &&
			    p->buf[n - 1] == crc >> 8) {
				req->tid = 0;
				req->unit = p->buf[0];
				req->pdu_len = plen;
				memcpy(req->pdu, p->buf + 1, plen);
				drop(p, (size_t)n);
				p->resync = 0;
				return 1;
			}
		}
		drop(p, 1);
		if (!p->resync) {
			p->resync = 1;
			p->errors++;
			p->last_err = why;
			return -EBADMSG;
		}
	}
}

static int next_tcp(struct frame_parser *p, struct frame_req *req)
{
	unsigned mlen;

	if (p->broken)
		return -EPROTO;
	if (p->len < 6)
		return 0;
	mlen = be16(p->buf + 4);
	if (be16(p->buf + 2) != 0 || mlen < MBAP_LEN_MIN ||
	    mlen > MBAP_LEN_MAX) {
		p->broken = 1;
		p->errors++;
		p->last_err = be16(p->buf + 2) != 0 ? FRAME_ERR_PROTOCOL
						    : FRAME_ERR_MBAP_LENGTH;
		return -EPROTO;
	}
	if (p->len < 6 + (size_t)mlen)
		return 0;
	req->tid = (uint16_t)be16(p->buf);
	req->unit = p->buf[6];
	req->pdu_len = mlen - 1;
	memcpy(req->pdu, p->buf + 7, req->pdu_len);
	drop(p, 6 + (size_t)mlen);
	return 1;
}

int frame_next(struct frame_parser *p, struct frame_req *req)
{
	return p->proto == FRAME_RTU ? next_rtu(p, req) : next_tcp(p, req);
}

int frame_flush(struct frame_parser *p)
{
	int counted = 0;

	if (p->proto == FRAME_TCP)
		return 0;
	if (p->len > 0 && !p->resync) {
		p->errors++;
		p->last_err = FRAME_ERR_PARTIAL;
		counted = 1;
	}
	p->len = 0;
	p->resync = 0;
	return counted;
}

int frame_pending(const struct frame_parser *p)
{
	return p->len > 0 || p->resync;
}

size_t frame_rtu_build(uint8_t unit, const uint8_t *pdu, size_t pdu_len,
		       uint8_t *out)
{
	unsigned crc;

	if (pdu_len == 0 || pdu_len > FRAME_PDU_MAX)
		return 0;
	out[0] = unit;
	memcpy(out + 1, pdu, pdu_len);
	crc = frame_crc16(out, 1 + pdu_len);
	out[1 + pdu_len] = (uint8_t)(crc & 0xff);
	out[2 + pdu_len] = (uint8_t)(crc >> 8);
	return pdu_len + 3;
}

size_t frame_tcp_build(uint16_t tid, uint8_t unit, const uint8_t *pdu,
		       size_t pdu_len, uint8_t *out)
{
	if (pdu_len == 0 || pdu_len > FRAME_PDU_MAX)
		return 0;
	put16(out, tid);
	put16(out + 2, 0);
	put16(out + 4, (unsigned)pdu_len + 1);
	out[6] = unit;
	memcpy(out + 7, pdu, pdu_len);
	return pdu_len + 7;
}

static unsigned table_size(const struct frame_map *map, enum frame_table t)
{
	switch (t) {
	case FRAME_COILS: return map->n_coils;
	case FRAME_DISCRETE: return map->n_discrete;
	case FRAME_HOLDING: return map->n_holding;
	case FRAME_INPUT: return map->n_input;
	}
	return 0;
}

int frame_check(const struct frame_map *map, const uint8_t *pdu,
		size_t len, struct frame_access *acc)
{
	unsigned max = 0, n, bc;

	memset(acc, 0, sizeof(*acc));
	if (len < 1)
		return FRAME_EX_FUNCTION;
	switch (pdu[0]) {
	case 1: acc->table = FRAME_COILS; max = MAX_READ_BITS; break;
	case 2: acc->table = FRAME_DISCRETE; max = MAX_READ_BITS; break;
	case 3: acc->table = FRAME_HOLDING; max = MAX_READ_REGS; break;
	case 4: acc->table = FRAME_INPUT; max = MAX_READ_REGS; break;
	case 5: acc->table = FRAME_COILS; acc->write = 1; break;
	case 6: acc->table = FRAME_HOLDING; acc->write = 1; break;
	case 15:
		acc->table = FRAME_COILS;
		acc->write = 1;
		max = MAX_WRITE_BITS;
		break;
	case 16:
		acc->table = FRAME_HOLDING;
		acc->write = 1;
		max = MAX_WRITE_REGS;
		break;
	default:
		return FRAME_EX_FUNCTION;
	}
	if (len >= 3)
		acc->address = be16(pdu + 1);
	n = table_size(map, acc->table);
	switch (pdu[0]) {
	case 5:
	case 6:
		acc->count = 1;
		if (len != 5)
			return FRAME_EX_VALUE;
		if (pdu[0] == 5 && be16(pdu + 3) != 0 &&
		    be16(pdu + 3) != 0xff00)
			return FRAME_EX_VALUE;
		break;
	case 15:
	case 16:
		if (len >= 5)
			acc->count = be16(pdu + 3);
		if (len < 6 || acc->count < 1 || acc->count > max)
			return FRAME_EX_VALUE;
		bc = pdu[0] == 15 ? (acc->count + 7) / 8 : 2 * acc->count;
		if (pdu[5] != bc || len != 6 + (size_t)bc)
			return FRAME_EX_VALUE;
		break;
	default:
		if (len >= 5)
			acc->count = be16(pdu + 3);
		if (len != 5 || acc->count < 1 || acc->count > max)
			return FRAME_EX_VALUE;
		break;
	}
	if (acc->address + acc->count > n)
		return FRAME_EX_ADDRESS;
	return 0;
}

int frame_written(const uint8_t *pdu, size_t len, unsigned address,
		  unsigned *val)
{
	unsigned a, n, i;

	if (len < 5)
		return -EINVAL;
	a = be16(pdu + 1);
	switch (pdu[0]) {
	case 5:
	case 6:
		if (address != a)
			return -EINVAL;
		*val = be16(pdu + 3);
		if (pdu[0] == 5)
			*val = *val ? 1 : 0;
		return 0;
	case 15:
	case 16:
		n = be16(pdu + 3);
		if (address < a || address >= a + n)
			return -EINVAL;
		i = address - a;
		if (pdu[0] == 15) {
			if (len <= 6 + (size_t)(i / 8))
				return -EINVAL;
			*val = (pdu[6 + i / 8] >> (i % 8)) & 1u;
		} else {
			if (len < 8 + 2 * (size_t)i)
				return -EINVAL;
			*val = be16(pdu + 6 + 2 * i);
		}
		return 0;
	default:
		return -EINVAL;
	}
}

size_t frame_exception(uint8_t fc, uint8_t code, uint8_t *out)
{
	out[0] = (uint8_t)(fc | 0x80);
	out[1] = code;
	return 2;
}

/* Bits packed eight to a byte, the first in the low bit. */
static size_t pack_bits(const uint8_t *bits, unsigned n, uint8_t *out)
{
	size_t nb = (n + 7) / 8;

	memset(out, 0, nb);
	for (unsigned i = 0; i < n; i++)
		if (bits[i])
			out[i / 8] |= (uint8_t)(1u << (i % 8));
	return nb;
}

size_t frame_respond(struct frame_map *map, const uint8_t *pdu, size_t len,
		     uint8_t *out)
{
	struct frame_access acc;
	const uint16_t *regs;
	uint8_t *bits;
	int ex;

	ex = frame_check(map, pdu, len, &acc);
	if (ex != 0)
		return frame_exception(len ? pdu[0] : 0, (uint8_t)ex, out);
	out[0] = pdu[0];
	switch (pdu[0]) {
	case 1:
	case 2:
		bits = pdu[0] == 1 ? map->coils : map->discrete;
		out[1] = (uint8_t)pack_bits(bits + acc.address, acc.count,
					    out + 2);
		return 2 + (size_t)out[1];
	case 3:
	case 4:
		regs = pdu[0] == 3 ? map->holding : map->input;
		out[1] = (uint8_t)(2 * acc.count);
		for (unsigned i = 0; i < acc.count; i++)
			put16(out + 2 + 2 * i, regs[acc.address + i]);
		return 2 + (size_t)out[1];
	case 5:
		map->coils[acc.address] = be16(pdu + 3) ? 1 : 0;
		memcpy(out, pdu, 5);
		return 5;
	case 6:
		map->holding[acc.address] = (uint16_t)be16(pdu + 3);
		memcpy(out, pdu, 5);
		return 5;
	case 15:
		for (unsigned i = 0; i < acc.count; i++)
			map->coils[acc.address + i] =
				(pdu[6 + i / 8] >> (i % 8)) & 1u;
		memcpy(out, pdu, 5);
		return 5;
	case 16:
		for (unsigned i = 0; i < acc.count; i++)
			map->holding[acc.address + i] =
				(uint16_t)be16(pdu + 6 + 2 * i);
		memcpy(out, pdu, 5);
		return 5;
	}
	/* frame_check accepted only the functions above */
	return frame_exception(pdu[0], FRAME_EX_FUNCTION, out);
}

void frame_garble(uint8_t *pdu, size_t len)
{
	uint8_t ex, fc;

	if (len < 1)
		return;
	ex = pdu[0] & 0x80;
	fc = pdu[0] & 0x7f;
	switch (fc) {
	case 1: fc = 2; break;
	case 2: fc = 1; break;
	case 3: fc = 4; break;
	case 4: fc = 3; break;
	case 5: fc = 6; break;
	case 6: fc = 5; break;
	case 15: fc = 16; break;
	case 16: fc = 15; break;
	default: fc ^= 0x40; break;
	}
	pdu[0] = (uint8_t)(ex | fc);
}
