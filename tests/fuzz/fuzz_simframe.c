/*
 * libFuzzer: wicket-sim's Modbus framing and responder on arbitrary bytes.
 *
 * The first byte picks the transport (bit 0: RTU or TCP) and how the rest
 * is cut into reads (bits 1..7: chunk length, 0 = all at once); a quiet
 * line is flushed after every 7th chunk on RTU.  Every request that comes
 * out is answered against a small register map, and the results are
 * checked, not just survived:
 *   - a request built again into a frame parses back to itself;
 *   - a built RTU frame's CRC checks out (the CRC of frame + CRC is 0);
 *   - a reply is either the function's own or its exception, never
 *     longer than a PDU, and frame_check agrees with frame_respond;
 *   - frame_written only succeeds on a write covering the address.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/wicket-sim/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t coils[20], discrete[20];
static uint16_t holding[130], input[130];

static void roundtrip(enum frame_proto proto, const struct frame_req *req)
{
	uint8_t f[FRAME_ADU_MAX];
	struct frame_parser p;
	struct frame_req back;
	size_t n;

	if (proto == FRAME_RTU) {
		n = frame_rtu_build(req->unit, req->pdu, req->pdu_len, f);
		if (n != req->pdu_len + 3 || frame_crc16(f, n) != 0)
			abort();
	} else {
		n = frame_tcp_build(req->tid, req->unit, req->pdu,
				    req->pdu_len, f);
		if (n != req->pdu_len + 7)
			abort();
	}
	frame_parser_init(&p, proto);
	if (frame_feed(&p, f, n) != n || frame_next(&p, &back) != 1 ||
	    back.unit != req->unit || back.tid != req->tid ||
	    back.pdu_len != req->pdu_len ||
	    memcmp(back.pdu, req->pdu, req->pdu_len) != 0 ||
	    frame_next(&p, &back) != 0 || p.errors != 0)
		abort();
}

static void answer(const struct frame_req *req)
{
	struct frame_map map = { coils, 20, discrete, 20, holding, 130,
				 input, 130 };
	struct frame_access acc;
	uint8_t out[FRAME_PDU_MAX];
	unsigned val;
	size_t n;
	int ex;

	if (req->pdu_len < 1 || req->pdu_len > FRAME_PDU_MAX)
		abort();
	ex = frame_check(&map, req->pdu, req->pdu_len, &acc);
	n = frame_respond(&map, req->pdu, req->pdu_len, out);
	if (n < 2 || n > FRAME_PDU_MAX)
		abort();
	if (ex != 0 && (n != 2 || out[0] != (req->pdu[0] | 0x80) ||
			out[1] != ex))
		abort();
	if (ex == 0 && out[0] != req->pdu[0])
		abort();
	if (frame_written(req->pdu, req->pdu_len, acc.address, &val) == 0 &&
	    ex == 0 && !acc.write)
		abort();
	if (ex == 0 && acc.write &&
	    frame_written(req->pdu, req->pdu_len, acc.address, &val) != 0)
		abort();
	frame_garble(out, n);
	if ((out[0] & 0x7f) == (req->pdu[0] & 0x7f))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_parser p;
	struct frame_req req;
	enum frame_proto proto;
	size_t chunk, off = 0;
	unsigned rounds = 0;

	if (size < 1)
		return 0;
	proto = (data[0] & 1) ? FRAME_TCP : FRAME_RTU;
	chunk = data[0] >> 1;
	data++;
	size--;
	if (chunk == 0)
		chunk = size ? size : 1;
	frame_parser_init(&p, proto);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		while (n > 0) {
			size_t took = frame_feed(&p, data + off, n);
			int rc;

			off += took;
			n -= took;
			while ((rc = frame_next(&p, &req)) != 0) {
				if (rc == -EPROTO) {
					if (proto != FRAME_TCP)
						abort();
					return 0;
				}
				if (rc == -EBADMSG) {
					if (proto != FRAME_RTU || !p.resync)
						abort();
					continue;
				}
				if (rc != 1)
					abort();
				roundtrip(proto, &req);
				answer(&req);
			}
			/* after frame_next says "more", there is room */
			if (n > 0 && took == 0)
				abort();
		}
		if (proto == FRAME_RTU && ++rounds % 7 == 0)
			frame_flush(&p);
	}
	return 0;
}
