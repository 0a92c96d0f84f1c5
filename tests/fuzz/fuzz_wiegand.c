/*
 * libFuzzer: the Wiegand decoder on arbitrary edge sequences.
 *
 * Byte 0 is the config (0: the defaults): bits 0-1 the gap, 2-3 the
 * minimum interval, 4-5 the minimum width, 6 the format, 7 the start time
 * (0, or 4.3 s before the end of int64).  Then 3 bytes per step: byte 0
 * bit 0 the line, bit 1 the edge kind, bits 2-4 what to do, bytes 1-2 a
 * 16-bit value v:
 *   0..4  an edge v x {1 ns, 100 ns, 10 us, 1 ms, 0} later
 *   5     an edge v us earlier (may go negative)
 *   6     wg_flush() v x 10 us later (the time does not move)
 *   7     a call with a bad line or edge kind: -EINVAL, nothing changes
 *
 * A small model of the frame, kept here from the spec in wiegand.h and
 * docs/wiegand.md, says when a result must come and what it must be.  The
 * bits, parity, numbers and credential of a good frame are worked out
 * again from the model's list of lines, bit by bit; a credential must
 * come exactly from a clean 26- or 34-bit frame with both parities right.
 * The counters must equal the results seen, one by one.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wiegand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 2048

struct model {
	int pending;
	unsigned n;		/* falling edges in the frame */
	uint8_t line[MAXF];
	int dirty;		/* noise seen */
	int64_t last_fall, lf[2], open[2];
	int have_t;
	int64_t last_t;
	struct wg_counters tally;
};

static void model_reset(struct model *m)
{
	m->pending = 0;
	m->n = 0;
	m->dirty = 0;
	m->last_fall = -1;
	m->lf[0] = m->lf[1] = -1;
	m->open[0] = m->open[1] = -1;
}

static void tally(struct model *m, enum wg_status s)
{
	m->tally.frames++;
	switch (s) {
	case WG_OK: m->tally.ok++; break;
	case WG_ERR_PARITY: m->tally.parity++; break;
	case WG_ERR_LENGTH: m->tally.length++; break;
	case WG_ERR_NOISE: m->tally.noise++; break;
	case WG_ERR_OVERFLOW: m->tally.overflow++; break;
	case WG_ERR_CLOCK: m->tally.clock++; break;
	default: abort();
	}
}

/* The frame the model holds against the result the decoder gave. */
static void judge(struct model *m, const struct wg_config *cfg,
		  const struct wg_result *r)
{
	unsigned n = m->n, half, ones;
	int even_ok, odd_ok;
	uint64_t bits = 0;
	uint32_t number = 0;
	char want[WG_CREDENTIAL_MAX];

	if (r->nbits != n || memchr(r->msg, '\0', sizeof(r->msg)) == NULL ||
	    r->msg[0] == '\0' ||
	    memchr(r->credential, '\0', sizeof(r->credential)) == NULL)
		abort();
	for (unsigned i = 0; i < n && i < 64; i++)
		bits = bits << 1 | m->line[i];
	if (r->bits != bits)
		abort();
	/* noise anywhere wins, then overflow, then length, then parity */
	if ((r->status == WG_ERR_NOISE) != (m->dirty != 0) ||
	    (r->status == WG_ERR_OVERFLOW) != (!m->dirty && n > 64) ||
	    (r->status == WG_ERR_LENGTH) !=
	    (!m->dirty && n <= 64 && n != 26 && n != 34) ||
	    r->status == WG_ERR_CLOCK)
		abort();
	if (r->status != WG_OK) {
		if (r->credential[0] != '\0')
			abort();
		if (r->status == WG_ERR_PARITY && (m->dirty ||
						   (n != 26 && n != 34)))
			abort();
		if (r->status != WG_ERR_PARITY)
			return;
	}
	if (m->dirty || (n != 26 && n != 34))
		abort();	/* a credential from a bad frame */
	half = (n - 2) / 2;
	ones = 0;
	for (unsigned i = 0; i <= half; i++)
		ones += m->line[i];
	even_ok = ones % 2 == 0;
	ones = 0;
	for (unsigned i = half + 1; i < n; i++)
		ones += m->line[i];
	odd_ok = ones % 2 == 1;
	if ((r->status == WG_OK) != (even_ok && odd_ok))
		abort();
	if (r->status != WG_OK)
		return;
	for (unsigned i = 1; i < n - 1; i++)
		number = number << 1 | m->line[i];
	if (r->number != number || r->facility != number >> 16 ||
	    r->card != (number & 0xffff))
		abort();
	if (cfg->format == WG_FORMAT_NUMBER)
		snprintf(want, sizeof(want), "%lu", (unsigned long)number);
	else
		snprintf(want, sizeof(want), "%lu:%lu",
			 (unsigned long)(number >> 16),
			 (unsigned long)(number & 0xffff));
	if (strcmp(want, r->credential) != 0)
		abort();
}

static void check_state(const struct wg_decoder *dec, const struct model *m)
{
	const struct wg_counters *c = &dec->count, *t = &m->tally;
	int64_t d = wg_deadline(dec), want = -1;

	if (memcmp(c, t, sizeof(*c)) != 0 ||
	    c->frames != c->ok + c->parity + c->length + c->noise +
			 c->overflow + c->clock)
		abort();
	if (m->pending)
		want = m->last_fall > INT64_MAX - dec->cfg.gap_ns
			? INT64_MAX : m->last_fall + dec->cfg.gap_ns;
	if (d != want)
		abort();
}

static void do_edge(struct wg_decoder *dec, struct model *m, int line,
		    int kind, int64_t t)
{
	struct wg_result r;
	int rc = wg_edge(dec, line, kind, t, &r);

	if (t < 0 || (m->have_t && t < m->last_t)) {
		if (rc != 1 || r.status != WG_ERR_CLOCK ||
		    r.credential[0] != '\0' ||
		    r.nbits != (m->pending ? m->n : 0))
			abort();
		tally(m, WG_ERR_CLOCK);
		model_reset(m);
		if (t >= 0) {
			m->have_t = 1;
			m->last_t = t;
		}
		return;
	}
	m->have_t = 1;
	m->last_t = t;
	if (m->pending && t - m->last_fall >= dec->cfg.gap_ns) {
		if (rc != 1)
			abort();
		judge(m, &dec->cfg, &r);
		tally(m, r.status);
		model_reset(m);
	} else if (rc != 0) {
		abort();
	}
	if (kind == WG_FALLING) {
		if (m->pending && t - m->last_fall < dec->cfg.min_interval_ns)
			m->dirty = 1;
		m->pending = 1;
		if (m->n < MAXF)
			m->line[m->n++] = (uint8_t)line;
		else
			abort();	/* cannot happen with -max_len 4096 */
		m->last_fall = t;
		m->lf[line] = t;
		m->open[line] = t;
	} else if (m->pending && m->open[line] >= 0) {
		if (t - m->open[line] < dec->cfg.min_width_ns ||
		    m->lf[!line] >= m->open[line])
			m->dirty = 1;
		m->open[line] = -1;
	}
}

static void do_flush(struct wg_decoder *dec, struct model *m, int64_t now)
{
	struct wg_result r;
	int rc = wg_flush(dec, now, &r);

	if (m->pending && now >= m->last_fall &&
	    now - m->last_fall >= dec->cfg.gap_ns) {
		if (rc != 1)
			abort();
		judge(m, &dec->cfg, &r);
		tally(m, r.status);
		model_reset(m);
	} else if (rc != 0) {
		abort();
	}
}

static int64_t add_sat(int64_t t, int64_t d)
{
	return t > INT64_MAX - d ? INT64_MAX : t + d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t gaps[] = { 25000000, 1000000, 100000, 5000000 };
	static const int64_t intervals[] = { 100000, 0, 1000, 200000 };
	static const int64_t widths[] = { 10000, 0, 1000, 50000 };
	static const int64_t scale[] = { 1, 100, 10000, 1000000, 0 };
	static struct model m;
	struct wg_decoder dec;
	struct wg_config cfg;
	int64_t t;

	if (size < 1)
		return 0;
	cfg.gap_ns = gaps[data[0] & 3];
	cfg.min_interval_ns = intervals[data[0] >> 2 & 3];
	cfg.min_width_ns = widths[data[0] >> 4 & 3];
	cfg.format = data[0] & 0x40 ? WG_FORMAT_NUMBER
				    : WG_FORMAT_FACILITY_CARD;
	t = data[0] & 0x80 ? INT64_MAX - (1LL << 32) : 0;
	/* a minimum as long as the gap could never be met */
	if ((wg_init(&dec, &cfg) == 0) != (cfg.min_interval_ns < cfg.gap_ns &&
					   cfg.min_width_ns < cfg.gap_ns))
		abort();
	if (dec.cfg.gap_ns != cfg.gap_ns)
		return 0;
	memset(&m, 0, sizeof(m));
	model_reset(&m);
	check_state(&dec, &m);
	for (size_t i = 1; i + 3 <= size; i += 3) {
		int line = data[i] & 1, kind = data[i] >> 1 & 1;
		int op = data[i] >> 2 & 7;
		int64_t v = data[i + 1] | data[i + 2] << 8;

		switch (op) {
		case 5:
			t -= v * 1000;
			do_edge(&dec, &m, line, kind, t);
			break;
		case 6:
			do_flush(&dec, &m, add_sat(t, v * 10000));
			break;
		case 7: {
			struct wg_decoder before;

			memcpy(&before, &dec, sizeof(dec));
			if (wg_edge(&dec, line ? 2 + (int)v : line,
				    line ? kind : 2 + (int)v, t, NULL)
			    != -EINVAL || memcmp(&before, &dec, sizeof(dec)))
				abort();
			break;
		}
		default:
			t = add_sat(t, v * scale[op]);
			do_edge(&dec, &m, line, kind, t);
			break;
		}
		check_state(&dec, &m);
	}
	/* the timer would come: whatever is pending closes */
	if (m.pending) {
		do_flush(&dec, &m, add_sat(m.last_fall, cfg.gap_ns));
		if (m.pending && m.last_fall <= INT64_MAX - cfg.gap_ns)
			abort();
		check_state(&dec, &m);
	}
	return 0;
}
