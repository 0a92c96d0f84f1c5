/*
 * linereader: the serial scanner's line reader (see linereader.h for what
 * it accepts).  One byte at a time through a small state machine, so that
 * any split of the input gives the same events: the only state carried
 * between bytes is the line so far, whether it is being dropped, and the
 * half-seen terminator (a CR that may be followed by an LF).
 *
 * Bytes of a line go to buf only while the line can still be good; once
 * an error is reported the line's length is still counted (the timeout
 * and the messages need it) but its bytes are not kept.  The buffer holds
 * max_len plus the prefix and suffix, so the length check on the raw line
 * is exact: a raw line that fits and carries both affixes leaves at most
 * max_len bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "linereader.h"

void lr_config_default(struct lr_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_len = LR_MAX_LEN_DEFAULT;
	c->term = LR_TERM_AUTO;
	c->timeout_ms = LR_TIMEOUT_DEFAULT_MS;
}

static int printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int check_affix(const char *key, const char *s, char *err,
		       size_t errlen)
{
	size_t n = strnlen(s, LR_AFFIX_MAX + 1);

	if (n > LR_AFFIX_MAX) {
		snprintf(err, errlen, "%s: longer than %d bytes", key,
			 LR_AFFIX_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!printable((unsigned char)s[i])) {
			snprintf(err, errlen,
				 "%s: byte 0x%02x at offset %zu is not printable ASCII",
				 key, (unsigned char)s[i], i);
			return -EINVAL;
		}
	}
	return 0;
}

int lr_config_check(const struct lr_config *c, char *err, size_t errlen)
{
	if (c->max_len < 1 || c->max_len > LR_MAX_LEN_LIMIT) {
		snprintf(err, errlen, "max_line_length: %zu is out of range 1..%d",
			 c->max_len, LR_MAX_LEN_LIMIT);
		return -EINVAL;
	}
	if (lr_term_name(c->term) == NULL) {
		snprintf(err, errlen, "terminator: unknown value %d",
			 (int)c->term);
		return -EINVAL;
	}
	if (c->timeout_ms < 0 || c->timeout_ms > LR_TIMEOUT_LIMIT_MS) {
		snprintf(err, errlen,
			 "line_timeout_ms: %" PRId64 " is out of range 0..%d",
			 c->timeout_ms, LR_TIMEOUT_LIMIT_MS);
		return -EINVAL;
	}
	if (check_affix("prefix", c->prefix, err, errlen) < 0 ||
	    check_affix("suffix", c->suffix, err, errlen) < 0)
		return -EINVAL;
	return 0;
}

static const char *const term_names[] = {
	[LR_TERM_AUTO] = "auto",
	[LR_TERM_CR] = "cr",
	[LR_TERM_LF] = "lf",
	[LR_TERM_CRLF] = "crlf",
};

int lr_term_parse(const char *s, enum lr_term *t)
{
	for (size_t i = 0; i < sizeof(term_names) / sizeof(term_names[0]);
	     i++) {
		if (strcmp(s, term_names[i]) == 0) {
			*t = (enum lr_term)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *lr_term_name(enum lr_term t)
{
	if ((unsigned)t >= sizeof(term_names) / sizeof(term_names[0]))
		return NULL;
	return term_names[t];
}

int lr_init(struct lr *r, const struct lr_config *cfg, lr_fn fn, void *arg)
{
	char err[128];

	if (lr_config_check(cfg, err, sizeof(err)) < 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	r->plen = strlen(cfg->prefix);
	r->slen = strlen(cfg->suffix);
	r->raw_max = cfg->max_len + r->plen + r->slen;
	r->fn = fn;
	r->arg = arg;
	return 0;
}

/* The line is over, whatever became of it. */
static void line_done(struct lr *r)
{
	r->len = 0;
	r->dropping = 0;
	r->cr_held = 0;
}

/* Report an error about the line being read and drop the rest of it. */
static void line_error(struct lr *r, enum lr_code code, size_t offset,
		       int byte, uint64_t *counter)
{
	struct lr_event ev = {
		.code = code,
		.len = r->len,
		.offset = offset,
		.byte = byte,
		.msg = r->msg,
	};

	(*counter)++;
	r->dropping = 1;
	r->fn(&ev, r->arg);
}

static const char *byte_hint(struct lr *r, unsigned char c)
{
	if (c == '\r' || c == '\n')
		return r->cfg.term == LR_TERM_AUTO ?
			"" : " (a line end: is this scanner's terminator set right?)";
	if (c == 0)
		return " (NUL)";
	if (c == 0x1b)
		return " (ESC)";
	if (c == 0x7f)
		return " (DEL)";
	if (c >= 0x80)
		return " (not ASCII)";
	return " (control)";
}

/* A byte of the line (not a terminator). */
static void line_byte(struct lr *r, unsigned char c, int64_t now_ms)
{
	size_t off = r->len;

	r->last_ms = now_ms;
	if (r->len < SIZE_MAX)
		r->len++;
	if (r->dropping)
		return;
	/* Length before content: a byte that does not fit is the error,
	 * whatever it is. */
	if (off >= r->raw_max) {
		if (r->plen + r->slen)
			snprintf(r->msg, sizeof(r->msg),
				 "line longer than %zu bytes (max_line_length %zu + prefix + suffix): byte 0x%02x at offset %zu; dropped up to its terminator",
				 r->raw_max, r->cfg.max_len, c, off);
		else
			snprintf(r->msg, sizeof(r->msg),
				 "line longer than max_line_length %zu: byte 0x%02x at offset %zu; dropped up to its terminator",
				 r->cfg.max_len, c, off);
		line_error(r, LR_TOO_LONG, off, c, &r->stats.too_long);
		return;
	}
	if (!printable(c)) {
		snprintf(r->msg, sizeof(r->msg),
			 "non-printable byte 0x%02x%s at offset %zu; line dropped",
			 c, byte_hint(r, c), off);
		line_error(r, LR_BAD_BYTE, off, c, &r->stats.bad_byte);
		return;
	}
	r->buf[off] = (char)c;
}

/* Offset of the first byte of s[0..n) that differs from want[0..n). */
static size_t mismatch(const char *s, const char *want, size_t n)
{
	size_t i = 0;

	while (i < n && s[i] == want[i])
		i++;
	return i;
}

/* A terminator: hand out the line if it is one. */
static void line_end(struct lr *r)
{
	size_t len = r->len, i;
	struct lr_event ev = { .code = LR_LINE, .byte = -1 };

	if (r->dropping) {
		line_done(r);
		return;
	}
	if (len == 0) {
		r->stats.empty++;
		line_done(r);
		return;
	}
	if (len < r->plen + r->slen) {
		snprintf(r->msg, sizeof(r->msg),
			 "line too short for its prefix and suffix (%zu bytes): it ends at offset %zu; dropped",
			 r->plen + r->slen, len);
		line_error(r, LR_AFFIX, len, -1, &r->stats.affix);
		line_done(r);
		return;
	}
	i = mismatch(r->buf, r->cfg.prefix, r->plen);
	if (i < r->plen) {
		snprintf(r->msg, sizeof(r->msg),
			 "line does not start with prefix \"%s\": byte 0x%02x at offset %zu; dropped",
			 r->cfg.prefix, (unsigned char)r->buf[i], i);
		line_error(r, LR_AFFIX, i, (unsigned char)r->buf[i],
			   &r->stats.affix);
		line_done(r);
		return;
	}
	i = len - r->slen;
	i += mismatch(r->buf + i, r->cfg.suffix, r->slen);
	if (i < len) {
		snprintf(r->msg, sizeof(r->msg),
			 "line does not end with suffix \"%s\": byte 0x%02x at offset %zu; dropped",
			 r->cfg.suffix, (unsigned char)r->buf[i], i);
		line_error(r, LR_AFFIX, i, (unsigned char)r->buf[i],
			   &r->stats.affix);
		line_done(r);
		return;
	}
	ev.len = len - r->plen - r->slen;
	line_done(r);
	if (ev.len == 0) {
		r->stats.empty++;
		return;
	}
	/* raw_max + 1 bytes of buf: room for the NUL even at full length */
	r->buf[r->plen + ev.len] = '\0';
	ev.line = r->buf + r->plen;
	r->stats.lines++;
	r->fn(&ev, r->arg);
}

static void put(struct lr *r, unsigned char c, int64_t now_ms)
{
	switch (r->cfg.term) {
	case LR_TERM_AUTO:
		if (r->after_cr) {
			r->after_cr = 0;
			if (c == '\n')
				return;
		}
		if (c == '\r' || c == '\n') {
			r->after_cr = c == '\r';
			line_end(r);
			return;
		}
		break;
	case LR_TERM_CR:
		if (c == '\r') {
			line_end(r);
			return;
		}
		break;
	case LR_TERM_LF:
		if (c == '\n') {
			line_end(r);
			return;
		}
		break;
	case LR_TERM_CRLF:
		if (r->cr_held) {
			r->cr_held = 0;
			if (c == '\n') {
				line_end(r);
				return;
			}
			/* a lone CR: a byte of the line (a bad one) */
			line_byte(r, '\r', now_ms);
		}
		if (c == '\r') {
			r->cr_held = 1;
			r->last_ms = now_ms;
			return;
		}
		break;
	}
	line_byte(r, c, now_ms);
}

void lr_feed(struct lr *r, const void *buf, size_t len, int64_t now_ms)
{
	const unsigned char *p = buf;

	r->stats.bytes += len;
	for (size_t i = 0; i < len; i++)
		put(r, p[i], now_ms);
}

static int pending(const struct lr *r)
{
	return r->len > 0 || r->cr_held || r->dropping;
}

int64_t lr_deadline(const struct lr *r)
{
	if (!pending(r) || r->cfg.timeout_ms == 0)
		return -1;
	return r->last_ms + r->cfg.timeout_ms;
}

void lr_tick(struct lr *r, int64_t now_ms)
{
	int64_t d = lr_deadline(r);

	if (d < 0 || now_ms < d)
		return;
	if (!r->dropping) {
		snprintf(r->msg, sizeof(r->msg),
			 "partial line of %zu bytes%s with no terminator for %" PRId64 " ms; dropped",
			 r->len, r->cr_held ? " and a CR" : "",
			 now_ms - r->last_ms);
		line_error(r, LR_TIMEOUT, r->len, -1, &r->stats.timeout);
	}
	line_done(r);
}

void lr_overrun(struct lr *r, int64_t now_ms)
{
	if (r->dropping)
		return;
	/* A CR held in crlf mode stays held: if its LF comes next, the
	 * damaged line ends there and the next one is read normally. */
	r->last_ms = now_ms;
	snprintf(r->msg, sizeof(r->msg),
		 "the serial driver lost bytes at offset %zu of the line; dropped up to its terminator",
		 r->len);
	line_error(r, LR_OVERRUN, r->len, -1, &r->stats.overrun);
}

void lr_reset(struct lr *r)
{
	line_done(r);
	r->after_cr = 0;
}

const struct lr_stats *lr_stats(const struct lr *r)
{
	return &r->stats;
}
