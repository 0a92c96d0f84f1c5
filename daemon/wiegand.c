/*
 * wiegand: a frame is the run of falling edges (pulse starts) between two
 * silences of at least gap_ns; its bits are the lines the pulses came on.
 * Trouble inside a frame (noise, a 65th bit) is noted once and the frame
 * keeps absorbing pulses until the gap: one bad swipe is one counted
 * error, not a burst of short frames made from its remains.  Only at the
 * close are length and parity looked at, so a credential can come only
 * from a frame that was clean from its first pulse to the gap.
 *
 * Rising edges are optional because some GPIO setups deliver only the
 * edge they were asked for.  Overlap of D0 and D1 is therefore checked
 * when a pulse ends (did the other line fall while this one was low?),
 * never by "the other line has not come back up yet", which would be
 * true forever without rising edges.  Without them the minimum interval
 * between falling edges still catches pulses on both lines at once.
 *
 * Times are int64 ns and never negative once accepted, so differences of
 * accepted times cannot overflow.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wiegand.h"

void wg_config_default(struct wg_config *cfg)
{
	cfg->gap_ns = WG_GAP_NS_DEFAULT;
	cfg->min_interval_ns = WG_MIN_INTERVAL_NS_DEFAULT;
	cfg->min_width_ns = WG_MIN_WIDTH_NS_DEFAULT;
	cfg->format = WG_FORMAT_FACILITY_CARD;
}

static void frame_reset(struct wg_decoder *dec)
{
	dec->pending = 0;
	dec->nbits = 0;
	dec->bits = 0;
	dec->last_fall = -1;
	dec->line_fall[0] = dec->line_fall[1] = -1;
	dec->open_since[0] = dec->open_since[1] = -1;
	dec->open_bit[0] = dec->open_bit[1] = 0;
	dec->err = WG_OK;
	dec->err_msg[0] = '\0';
}

static int config_ok(const struct wg_config *c)
{
	return c->gap_ns > 0 &&
	       c->min_interval_ns >= 0 && c->min_interval_ns < c->gap_ns &&
	       c->min_width_ns >= 0 && c->min_width_ns < c->gap_ns &&
	       (c->format == WG_FORMAT_FACILITY_CARD ||
		c->format == WG_FORMAT_NUMBER);
}

int wg_init(struct wg_decoder *dec, const struct wg_config *cfg)
{
	int rc = 0;

	memset(dec, 0, sizeof(*dec));
	if (cfg && config_ok(cfg))
		dec->cfg = *cfg;
	else {
		wg_config_default(&dec->cfg);
		if (cfg)
			rc = -EINVAL;
	}
	frame_reset(dec);
	return rc;
}

const char *wg_status_name(enum wg_status s)
{
	switch (s) {
	case WG_OK:
		return "ok";
	case WG_ERR_PARITY:
		return "parity";
	case WG_ERR_LENGTH:
		return "length";
	case WG_ERR_NOISE:
		return "noise";
	case WG_ERR_OVERFLOW:
		return "overflow";
	case WG_ERR_CLOCK:
		return "clock";
	}
	return "unknown";
}

int wg_format_parse(const char *s, enum wg_format *out)
{
	if (strcmp(s, "facility:card") == 0)
		*out = WG_FORMAT_FACILITY_CARD;
	else if (strcmp(s, "number") == 0)
		*out = WG_FORMAT_NUMBER;
	else
		return -EINVAL;
	return 0;
}

const char *wg_format_name(enum wg_format f)
{
	return f == WG_FORMAT_NUMBER ? "number" : "facility:card";
}

static void count(struct wg_decoder *dec, enum wg_status s)
{
	struct wg_counters *c = &dec->count;

	c->frames++;
	switch (s) {
	case WG_OK:
		c->ok++;
		break;
	case WG_ERR_PARITY:
		c->parity++;
		break;
	case WG_ERR_LENGTH:
		c->length++;
		break;
	case WG_ERR_NOISE:
		c->noise++;
		break;
	case WG_ERR_OVERFLOW:
		c->overflow++;
		break;
	case WG_ERR_CLOCK:
		c->clock++;
		break;
	}
}

/* Microseconds with one decimal: glitches are often under 1 us. */
static void fmt_us(char *buf, size_t size, int64_t ns)
{
	snprintf(buf, size, "%lld.%lld us", (long long)(ns / 1000),
		 (long long)(ns % 1000 / 100));
}

/* The first noise in a frame is the one reported; noise outranks an
 * overflow (a burst of noise is the likelier cause of 65 bits). */
__attribute__((format(printf, 2, 3)))
static void noise(struct wg_decoder *dec, const char *fmt, ...)
{
	va_list ap;

	if (dec->err == WG_ERR_NOISE)
		return;
	dec->err = WG_ERR_NOISE;
	va_start(ap, fmt);
	vsnprintf(dec->err_msg, sizeof(dec->err_msg), fmt, ap);
	va_end(ap);
}

static int popcount(uint64_t v)
{
	int n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

/* 26 or 34 bits: a leading even parity bit over the first half of the
 * data, a trailing odd parity bit over the second half.  Sets the number
 * fields and returns 0, or returns which parity failed (1 leading,
 * 2 trailing, 3 both). */
static int check_parity(struct wg_result *r)
{
	unsigned n = r->nbits, half = (n - 2) / 2;
	uint64_t hmask = (1ULL << (half + 1)) - 1;
	int bad = 0;

	if (popcount((r->bits >> (half + 1)) & hmask) % 2 != 0)
		bad |= 1;
	if (popcount(r->bits & hmask) % 2 != 1)
		bad |= 2;
	if (bad)
		return bad;
	r->number = (uint32_t)((r->bits >> 1) & ((1ULL << (n - 2)) - 1));
	r->facility = r->number >> 16;
	r->card = r->number & 0xffff;
	return 0;
}

static void finish(struct wg_decoder *dec, struct wg_result *r)
{
	static const char *const which[] = {
		"", "leading (even) parity bit wrong",
		"trailing (odd) parity bit wrong", "both parity bits wrong",
	};
	unsigned n = dec->nbits;
	int bad;

	memset(r, 0, sizeof(*r));
	r->nbits = n;
	r->bits = dec->bits;
	if (dec->err == WG_ERR_NOISE) {
		r->status = WG_ERR_NOISE;
		snprintf(r->msg, sizeof(r->msg), "%s (%u-bit frame dropped)",
			 dec->err_msg, n);
	} else if (dec->err == WG_ERR_OVERFLOW) {
		r->status = WG_ERR_OVERFLOW;
		snprintf(r->msg, sizeof(r->msg),
			 "%u-bit frame: more than %d bits", n, WG_MAX_BITS);
	} else if (n != 26 && n != 34) {
		r->status = WG_ERR_LENGTH;
		snprintf(r->msg, sizeof(r->msg),
			 "%u-bit frame 0x%0*llx: only 26 and 34 bits are read",
			 n, (int)(n + 3) / 4, (unsigned long long)r->bits);
	} else if ((bad = check_parity(r)) != 0) {
		r->status = WG_ERR_PARITY;
		snprintf(r->msg, sizeof(r->msg), "%u-bit frame 0x%0*llx: %s",
			 n, (int)(n + 3) / 4, (unsigned long long)r->bits,
			 which[bad]);
	} else {
		r->status = WG_OK;
		if (dec->cfg.format == WG_FORMAT_NUMBER)
			snprintf(r->credential, sizeof(r->credential), "%lu",
				 (unsigned long)r->number);
		else
			snprintf(r->credential, sizeof(r->credential),
				 "%lu:%lu", (unsigned long)r->facility,
				 (unsigned long)r->card);
		snprintf(r->msg, sizeof(r->msg),
			 "%u-bit frame: facility %lu, card %lu, number %lu", n,
			 (unsigned long)r->facility, (unsigned long)r->card,
			 (unsigned long)r->number);
	}
	count(dec, r->status);
	frame_reset(dec);
}

/* A time going backwards cannot be placed in the frame; dropping the
 * frame is the only answer that never lets a mangled one through.  The
 * refused time becomes the new reference, so a clock that really stepped
 * back costs one frame, not every edge until it catches up. */
static int refuse(struct wg_decoder *dec, int64_t t, struct wg_result *r)
{
	char dropped[40] = "";

	memset(r, 0, sizeof(*r));
	r->status = WG_ERR_CLOCK;
	if (dec->pending) {
		r->nbits = dec->nbits;
		r->bits = dec->bits;
		snprintf(dropped, sizeof(dropped), "; %u-bit frame dropped",
			 dec->nbits);
	}
	if (t < 0)
		snprintf(r->msg, sizeof(r->msg),
			 "edge at negative time %lld ns refused%s",
			 (long long)t, dropped);
	else
		snprintf(r->msg, sizeof(r->msg),
			 "edge %lld ns before the previous one refused%s",
			 (long long)(dec->last_t - t), dropped);
	count(dec, WG_ERR_CLOCK);
	frame_reset(dec);
	if (t >= 0) {
		dec->have_t = 1;
		dec->last_t = t;
	}
	return 1;
}

static void falling(struct wg_decoder *dec, int line, int64_t t)
{
	int other = !line;

	if (!dec->pending) {
		dec->pending = 1;
	} else if (t - dec->last_fall < dec->cfg.min_interval_ns) {
		char d[32], m[32];

		fmt_us(d, sizeof(d), t - dec->last_fall);
		fmt_us(m, sizeof(m), dec->cfg.min_interval_ns);
		if (dec->line_fall[other] == dec->last_fall)
			noise(dec, "pulses on D0 and D1 at once (%s apart), "
			      "bit %u", d, dec->nbits);
		else
			noise(dec, "pulses on D%d %s apart (minimum %s), "
			      "bit %u", line, d, m, dec->nbits);
	}
	if (dec->nbits < WG_MAX_BITS)
		dec->bits = dec->bits << 1 | (uint64_t)line;
	else if (dec->err == WG_OK)
		dec->err = WG_ERR_OVERFLOW;
	dec->open_since[line] = t;
	dec->open_bit[line] = dec->nbits;
	if (dec->nbits < ~0U)
		dec->nbits++;
	dec->last_fall = t;
	dec->line_fall[line] = t;
}

static void rising(struct wg_decoder *dec, int line, int64_t t)
{
	int64_t since = dec->open_since[line];
	int other = !line;

	if (since < 0 || !dec->pending)
		return;		/* no pulse of ours: the line was low at start */
	dec->open_since[line] = -1;
	if (t - since < dec->cfg.min_width_ns) {
		char w[32], m[32];

		fmt_us(w, sizeof(w), t - since);
		fmt_us(m, sizeof(m), dec->cfg.min_width_ns);
		noise(dec, "pulse on D%d %s wide (minimum %s), bit %u", line,
		      w, m, dec->open_bit[line]);
	} else if (dec->line_fall[other] >= since) {
		noise(dec, "pulses on D0 and D1 overlap, bit %u",
		      dec->open_bit[line]);
	}
}

int wg_edge(struct wg_decoder *dec, int line, int edge, int64_t t_ns,
	    struct wg_result *out)
{
	struct wg_result scratch;
	int closed = 0;

	if ((line != WG_D0 && line != WG_D1) ||
	    (edge != WG_FALLING && edge != WG_RISING))
		return -EINVAL;
	if (!out)
		out = &scratch;
	if (t_ns < 0 || (dec->have_t && t_ns < dec->last_t))
		return refuse(dec, t_ns, out);
	dec->have_t = 1;
	dec->last_t = t_ns;
	if (dec->pending && t_ns - dec->last_fall >= dec->cfg.gap_ns) {
		finish(dec, out);
		closed = 1;
	}
	if (edge == WG_FALLING)
		falling(dec, line, t_ns);
	else
		rising(dec, line, t_ns);	/* after a close: a stray */
	return closed;
}

int wg_flush(struct wg_decoder *dec, int64_t now_ns, struct wg_result *out)
{
	struct wg_result scratch;

	if (!dec->pending || now_ns < dec->last_fall ||
	    now_ns - dec->last_fall < dec->cfg.gap_ns)
		return 0;
	finish(dec, out ? out : &scratch);
	return 1;
}

int64_t wg_deadline(const struct wg_decoder *dec)
{
	if (!dec->pending)
		return -1;
	if (dec->last_fall > INT64_MAX - dec->cfg.gap_ns)
		return INT64_MAX;
	return dec->last_fall + dec->cfg.gap_ns;
}
