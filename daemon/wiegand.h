/*
 * wiegand: decode Wiegand card-reader frames from edge timestamps.
 *
 * A reader pulls D0 low for a 0 bit and D1 low for a 1 bit, each pulse
 * 20-100 us long, pulses 0.2-20 ms apart; a frame ends with silence.  The
 * caller (the GPIO plugin, a test, a fuzzer) hands in every edge it sees
 * with its CLOCK_MONOTONIC time in ns; the decoder owns no clock, no
 * thread and no I/O.  Falling edges (pulse starts) carry the bits; rising
 * edges (pulse ends) are optional and, when they come, let the decoder
 * check pulse widths and overlap.
 *
 * A frame closes when the first falling edge after the gap arrives, or
 * when wg_flush() is called at or after wg_deadline().  Each call returns
 * at most one result, and every result is counted in exactly one of the
 * counters.  Accepted: 26-bit H10301 and 34-bit frames with both parity
 * bits right.  Everything else is an error with a message for the log and
 * no credential.  See docs/wiegand.md.
 */
#ifndef WICKET_WIEGAND_H
#define WICKET_WIEGAND_H

#include <stdint.h>

#define WG_GAP_NS_DEFAULT		25000000LL	/* 25 ms */
#define WG_MIN_INTERVAL_NS_DEFAULT	100000LL	/* 100 us */
#define WG_MIN_WIDTH_NS_DEFAULT		10000LL		/* 10 us */
#define WG_MAX_BITS	64	/* more is an overflow */
#define WG_CREDENTIAL_MAX 24	/* "65535:65535", "4294967295" */
#define WG_MSG_MAX	128

enum wg_line { WG_D0 = 0, WG_D1 = 1 };
enum wg_edge { WG_FALLING = 0, WG_RISING = 1 };

/* How a good frame is written as a credential.
 *   FACILITY_CARD: "facility:card", both plain decimal (26-bit: 8-bit
 *                  facility, 16-bit card; 34-bit: 16 + 16), e.g. "123:45678"
 *   NUMBER:        the bits between the parity bits as one decimal number
 *                  (26-bit: 24 bits, 34-bit: 32 bits), e.g. "8106606" */
enum wg_format { WG_FORMAT_FACILITY_CARD = 0, WG_FORMAT_NUMBER = 1 };

enum wg_status {
	WG_OK = 0,
	WG_ERR_PARITY,		/* 26 or 34 bits, a parity bit wrong */
	WG_ERR_LENGTH,		/* 1..64 bits, but not 26 or 34 */
	WG_ERR_NOISE,		/* pulses at once, too close, too short */
	WG_ERR_OVERFLOW,	/* more than WG_MAX_BITS bits */
	WG_ERR_CLOCK,		/* an edge's time went backwards: refused */
};

struct wg_config {
	int64_t gap_ns;		/* silence that ends a frame; > 0 */
	int64_t min_interval_ns; /* falling edges closer are noise; 0 = off */
	int64_t min_width_ns;	/* narrower pulses are noise (needs rising
				 * edges); 0 = off */
	enum wg_format format;
};

/* One per result; frames = ok + all the errors. */
struct wg_counters {
	uint64_t frames;
	uint64_t ok;
	uint64_t parity;
	uint64_t length;
	uint64_t noise;
	uint64_t overflow;
	uint64_t clock;
};

struct wg_result {
	enum wg_status status;
	unsigned nbits;		/* falling edges in the frame (saturates) */
	uint64_t bits;		/* the first min(nbits, 64) bits, the first
				 * received the most significant */
	/* with WG_OK only: */
	uint32_t facility, card; /* 26-bit: 8 + 16 bits; 34-bit: 16 + 16 */
	uint32_t number;	/* the bits between the parity bits */
	char credential[WG_CREDENTIAL_MAX];	/* "" unless WG_OK */
	char msg[WG_MSG_MAX];	/* what was received or what was wrong */
};

/* All fields are the decoder's; read cfg and count, change nothing. */
struct wg_decoder {
	struct wg_config cfg;
	struct wg_counters count;
	int pending;		/* a frame is being received */
	unsigned nbits;
	uint64_t bits;
	int64_t last_fall;	/* latest falling edge of the frame */
	int64_t line_fall[2];	/* latest falling edge per line, or -1 */
	int64_t open_since[2];	/* a pulse's falling edge until its rising
				 * edge, or -1 */
	unsigned open_bit[2];	/* and which bit that pulse is */
	int have_t;
	int64_t last_t;		/* latest accepted edge, any kind */
	enum wg_status err;	/* noise (the first kept), else overflow */
	char err_msg[WG_MSG_MAX - 32];	/* room for what finish() adds */
};

/* The defaults above, format FACILITY_CARD. */
void wg_config_default(struct wg_config *cfg);
/* Start empty with cfg (NULL: the defaults), counters zero.  -EINVAL when
 * gap_ns <= 0, a minimum < 0 or >= gap_ns, or the format is unknown; the
 * decoder is left with the defaults then. */
int wg_init(struct wg_decoder *dec, const struct wg_config *cfg);
/* An edge on line (WG_D0/WG_D1) at t_ns.  Returns 1 when a result is in
 * *out (a frame closed by this edge's gap, or the edge refused as
 * WG_ERR_CLOCK: a negative time or one before the previous edge, which
 * also drops the pending frame), 0 when not, -EINVAL for a bad line or
 * edge kind (nothing changes).  out may be NULL: counted, not returned. */
int wg_edge(struct wg_decoder *dec, int line, int edge, int64_t t_ns,
	    struct wg_result *out);
/* Close the pending frame when now_ns is at or past wg_deadline():
 * 1 with a result in *out, else 0. */
int wg_flush(struct wg_decoder *dec, int64_t now_ns, struct wg_result *out);
/* When wg_flush() has work (CLOCK_MONOTONIC ns), or -1: nothing pending. */
int64_t wg_deadline(const struct wg_decoder *dec);
/* "ok", "parity", "length", "noise", "overflow", "clock": for counters
 * in the status and for log lines. */
const char *wg_status_name(enum wg_status s);
/* "facility:card" or "number" (the config values) to a format: 0 or
 * -EINVAL. */
int wg_format_parse(const char *s, enum wg_format *out);
const char *wg_format_name(enum wg_format f);

#endif
