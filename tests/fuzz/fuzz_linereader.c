/* libFuzzer: the serial scanner's line reader on arbitrary bytes.
 *
 * Input: byte 0 picks the config (terminator, max_len, prefix, suffix),
 * bytes 1..4 seed the chunking, the rest is what the scanner sent.
 * Checked: the events are the same fed whole, byte by byte and in random
 * chunks, and the same as a reference model written the simple way
 * (split the whole input into lines, then judge each line); every line
 * handed out is printable and within max_len; the counters match the
 * events.  A second run with time passing, ticks and overruns from the
 * seed checks the same promises where no model is kept. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linereader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Events as records: code, offset, byte, len, then len bytes of line. */
struct rec {
	unsigned char *p;
	size_t used, cap;
	size_t max_len;
	uint64_t count[LR_OVERRUN + 1];
};

static void put(struct rec *r, const void *v, size_t n)
{
	if (r->used + n > r->cap)
		abort();	/* cap is computed to fit: a bug if not */
	memcpy(r->p + r->used, v, n);
	r->used += n;
}

static void record(const struct lr_event *ev, void *arg)
{
	struct rec *r = arg;
	unsigned char code = (unsigned char)ev->code;
	int64_t v[3] = { (int64_t)ev->offset, ev->byte, (int64_t)ev->len };

	if (ev->code > LR_OVERRUN)
		abort();
	r->count[ev->code]++;
	if (ev->code == LR_LINE) {
		if (ev->line == NULL || ev->len < 1 || ev->len > r->max_len ||
		    strlen(ev->line) != ev->len)
			abort();
		for (size_t i = 0; i < ev->len; i++)
			if (ev->line[i] < 0x20 || ev->line[i] > 0x7e)
				abort();
	} else if (ev->line != NULL || ev->msg == NULL || ev->msg[0] == '\0') {
		abort();
	}
	put(r, &code, 1);
	put(r, v, sizeof(v));
	if (ev->code == LR_LINE)
		put(r, ev->line, ev->len);
}

static int rec_init(struct rec *r, size_t size, size_t max_len)
{
	memset(r, 0, sizeof(*r));
	/* at most one event per byte plus one, lines no longer than input */
	r->cap = (size + 2) * (1 + 3 * sizeof(int64_t)) + size;
	r->p = malloc(r->cap);
	r->max_len = max_len;
	return r->p == NULL ? -1 : 0;
}

static void check_counts(const struct rec *r, const struct lr *lr)
{
	const struct lr_stats *s = lr_stats(lr);

	if (s->lines != r->count[LR_LINE] ||
	    s->too_long != r->count[LR_TOO_LONG] ||
	    s->bad_byte != r->count[LR_BAD_BYTE] ||
	    s->affix != r->count[LR_AFFIX] ||
	    s->timeout != r->count[LR_TIMEOUT] ||
	    s->overrun != r->count[LR_OVERRUN])
		abort();
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* ---- the reference model: whole input at once, no time ---- */

struct model {
	const struct lr_config *cfg;
	size_t plen, slen, raw_max;
	struct rec *out;
	uint64_t empty;
};

static void emit(struct model *m, enum lr_code code, size_t offset,
		 int byte, size_t len, const uint8_t *line)
{
	struct lr_event ev = {
		.code = code, .offset = offset, .byte = byte, .len = len,
		.msg = "model",
	};
	char buf[LR_MAX_LEN_LIMIT + 1];

	if (code == LR_LINE) {
		memcpy(buf, line, len);
		buf[len] = '\0';
		ev.line = buf;
		ev.msg = NULL;
		ev.byte = -1;
		ev.offset = 0;
	}
	record(&ev, m->out);
}

/* One line as received, s[0..n), ended by a terminator or not. */
static void judge(struct model *m, const uint8_t *s, size_t n, int ended)
{
	size_t bad = 0, lim = n < m->raw_max ? n : m->raw_max;
	size_t len = n;		/* an error event's len: bytes so far */

	while (bad < lim && s[bad] >= 0x20 && s[bad] <= 0x7e)
		bad++;
	if (bad < lim) {
		emit(m, LR_BAD_BYTE, bad, s[bad], bad + 1, NULL);
		return;
	}
	if (n > m->raw_max) {
		emit(m, LR_TOO_LONG, m->raw_max, s[m->raw_max], m->raw_max + 1,
		     NULL);
		return;
	}
	if (!ended)
		return;
	if (n == 0) {
		m->empty++;
		return;
	}
	if (n < m->plen + m->slen) {
		emit(m, LR_AFFIX, n, -1, len, NULL);
		return;
	}
	for (size_t i = 0; i < m->plen; i++) {
		if (s[i] != (uint8_t)m->cfg->prefix[i]) {
			emit(m, LR_AFFIX, i, s[i], len, NULL);
			return;
		}
	}
	for (size_t i = n - m->slen; i < n; i++) {
		if (s[i] != (uint8_t)m->cfg->suffix[i - (n - m->slen)]) {
			emit(m, LR_AFFIX, i, s[i], len, NULL);
			return;
		}
	}
	if (n == m->plen + m->slen) {
		m->empty++;
		return;
	}
	emit(m, LR_LINE, 0, -1, n - m->plen - m->slen, s + m->plen);
}

static void model_run(struct model *m, const uint8_t *d, size_t n)
{
	size_t start = 0, i = 0;

	while (i < n) {
		uint8_t c = d[i];
		size_t next;

		switch (m->cfg->term) {
		case LR_TERM_AUTO:
			if (c != '\r' && c != '\n') {
				i++;
				continue;
			}
			next = i + 1;
			if (c == '\r' && next < n && d[next] == '\n')
				next++;
			break;
		case LR_TERM_CR:
		case LR_TERM_LF:
			if (c != (m->cfg->term == LR_TERM_CR ? '\r' : '\n')) {
				i++;
				continue;
			}
			next = i + 1;
			break;
		default:	/* crlf */
			if (c != '\r' || i + 1 >= n || d[i + 1] != '\n') {
				i++;
				continue;
			}
			next = i + 2;
			break;
		}
		judge(m, d + start, i - start, 1);
		start = i = next;
	}
	/* the unended rest; in crlf a CR at the very end waits for its LF */
	if (m->cfg->term == LR_TERM_CRLF && n > start && d[n - 1] == '\r')
		n--;
	judge(m, d + start, n - start, 0);
}

static const size_t max_lens[8] = { 1, 2, 3, 5, 8, 16, 256, LR_MAX_LEN_LIMIT };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lr_config cfg;
	struct lr *lr;
	struct rec whole, bytes, chunks, ref, timed;
	struct model m;
	uint32_t seed0, seed;
	const uint8_t *d;
	size_t n, i;
	int64_t now;

	if (size < 5)
		return 0;
	lr_config_default(&cfg);
	cfg.term = (enum lr_term)(data[0] & 3);
	cfg.max_len = max_lens[(data[0] >> 2) & 7];
	if (data[0] & 0x20)
		snprintf(cfg.prefix, sizeof(cfg.prefix), "]Q");
	if (data[0] & 0x40)
		snprintf(cfg.suffix, sizeof(cfg.suffix), "!");
	seed0 = (uint32_t)data[1] | (uint32_t)data[2] << 8 |
		(uint32_t)data[3] << 16 | (uint32_t)data[4] << 24;
	seed0 |= 1;		/* xorshift must not start at 0 */
	d = data + 5;
	n = size - 5;

	lr = malloc(sizeof(*lr));
	if (lr == NULL)
		return 0;
	if (rec_init(&whole, n, cfg.max_len) || rec_init(&bytes, n, cfg.max_len) ||
	    rec_init(&chunks, n, cfg.max_len) || rec_init(&ref, n, cfg.max_len) ||
	    rec_init(&timed, n, cfg.max_len))
		abort();

	if (lr_init(lr, &cfg, record, &whole) != 0)
		abort();
	lr_feed(lr, d, n, 0);
	check_counts(&whole, lr);
	if (lr_stats(lr)->bytes != n)
		abort();

	if (lr_init(lr, &cfg, record, &bytes) != 0)
		abort();
	for (i = 0; i < n; i++)
		lr_feed(lr, d + i, 1, 0);
	check_counts(&bytes, lr);

	if (lr_init(lr, &cfg, record, &chunks) != 0)
		abort();
	seed = seed0;
	for (i = 0; i < n;) {
		size_t k = 1 + rnd(&seed) % (n - i);

		if ((rnd(&seed) & 1) && k > 4)	/* small chunks find more */
			k = 1 + k % 4;
		lr_feed(lr, d + i, k, 0);
		i += k;
	}
	check_counts(&chunks, lr);
	{
		uint64_t empty = lr_stats(lr)->empty;

		memset(&m, 0, sizeof(m));
		m.cfg = &cfg;
		m.plen = strlen(cfg.prefix);
		m.slen = strlen(cfg.suffix);
		m.raw_max = cfg.max_len + m.plen + m.slen;
		m.out = &ref;
		model_run(&m, d, n);
		if (m.empty != empty)
			abort();
	}
	if (whole.used != bytes.used || whole.used != chunks.used ||
	    whole.used != ref.used ||
	    memcmp(whole.p, bytes.p, whole.used) != 0 ||
	    memcmp(whole.p, chunks.p, whole.used) != 0 ||
	    memcmp(whole.p, ref.p, whole.used) != 0)
		abort();

	/* Time passes between chunks, with ticks and lost bytes. */
	if (lr_init(lr, &cfg, record, &timed) != 0)
		abort();
	seed = seed0 ^ 0x9e3779b9u;
	now = 0;
	for (i = 0; i < n;) {
		size_t k = 1 + rnd(&seed) % (n - i < 8 ? n - i : 8);
		uint32_t x = rnd(&seed);
		int64_t dl;

		lr_feed(lr, d + i, k, now);
		i += k;
		now += x % 700;
		if ((x >> 12) % 16 == 0)
			lr_overrun(lr, now);
		dl = lr_deadline(lr);
		if (dl >= 0 && dl < now - 700)
			abort();	/* a deadline was missed by more than a step */
		lr_tick(lr, now);
		dl = lr_deadline(lr);
		if (dl >= 0 && dl <= now)
			abort();	/* tick left an expired line behind */
	}
	lr_tick(lr, now + LR_TIMEOUT_LIMIT_MS);
	if (lr_deadline(lr) != -1)
		abort();
	check_counts(&timed, lr);

	free(whole.p);
	free(bytes.p);
	free(chunks.p);
	free(ref.p);
	free(timed.p);
	free(lr);
	return 0;
}
