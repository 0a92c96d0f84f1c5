/*
 * linereader: turns the bytes a QR or barcode scanner sends on a tty into
 * codes, one per line, and rejects everything that is not a clean line.
 * Pure: no I/O, no clock of its own, no allocation; the serial scanner
 * plugin feeds it what read() returned and calls lr_tick() from the loop.
 *
 * A line ends with the configured terminator (auto: CR, LF or CR LF, where
 * the LF right after a CR belongs to that CR; cr, lf or crlf: only that).
 * A configured prefix and suffix (an AIM symbology identifier such as "]Q1",
 * a fixed string) are stripped; what is left must be 1..max_len bytes of
 * printable ASCII (0x20..0x7e), and only such a line is ever handed out.
 * Bytes arrive in any chunks: the events depend on the bytes and on the
 * times they were fed, never on how they were split.
 *
 * Each bad line is one error, reported as soon as it is known, and the
 * rest of it is dropped up to its terminator; the next line is read
 * normally.  A line that has been silent for timeout_ms without its
 * terminator (a scanner unplugged mid-code) is dropped by lr_tick().
 * An empty line is counted, not an error.  Messages name the byte offset
 * in the line and the byte, never the content: a rejected line may still
 * be somebody's credential.
 */
#ifndef WICKET_LINEREADER_H
#define WICKET_LINEREADER_H

#include <stddef.h>
#include <stdint.h>

#define LR_MAX_LEN_DEFAULT 256
#define LR_MAX_LEN_LIMIT 4096	/* largest max_len */
#define LR_AFFIX_MAX 16		/* bytes of prefix, of suffix */
#define LR_TIMEOUT_DEFAULT_MS 500
#define LR_TIMEOUT_LIMIT_MS 60000

enum lr_term {
	LR_TERM_AUTO,		/* CR, LF or CR LF */
	LR_TERM_CR,		/* only CR; an LF is a bad byte */
	LR_TERM_LF,		/* only LF; a CR is a bad byte */
	LR_TERM_CRLF,		/* only CR LF; a lone CR or LF is a bad byte */
};

struct lr_config {
	size_t max_len;		/* 1..LR_MAX_LEN_LIMIT, after stripping */
	enum lr_term term;
	char prefix[LR_AFFIX_MAX + 1];	/* printable ASCII, "" for none */
	char suffix[LR_AFFIX_MAX + 1];
	int64_t timeout_ms;	/* 0: partial lines never expire */
};

enum lr_code {
	LR_LINE,		/* a code */
	LR_TOO_LONG,		/* more than max_len (+ prefix + suffix) bytes */
	LR_BAD_BYTE,		/* a byte outside 0x20..0x7e, or a lone CR/LF */
	LR_AFFIX,		/* the prefix or suffix is not there */
	LR_TIMEOUT,		/* no terminator within timeout_ms */
	LR_OVERRUN,		/* lr_overrun(): the driver lost bytes */
};

struct lr_event {
	enum lr_code code;
	/* LR_LINE: the code, stripped and NUL-terminated, valid during the
	 * callback only; NULL for errors */
	const char *line;
	size_t len;		/* LR_LINE: of line; errors: bytes read so far */
	/* errors: where in the line as received (prefix included, from 0),
	 * and the byte found there, -1 when there is none */
	size_t offset;
	int byte;
	const char *msg;	/* errors: what and where, for the log */
};

struct lr_stats {
	uint64_t bytes;		/* fed */
	uint64_t lines;		/* handed out */
	uint64_t empty;		/* ignored: nothing (left) between terminators */
	uint64_t too_long, bad_byte, affix, timeout, overrun;	/* errors */
};

struct lr;
typedef void (*lr_fn)(const struct lr_event *ev, void *arg);

struct lr {
	/* private */
	struct lr_config cfg;
	size_t plen, slen, raw_max;
	lr_fn fn;
	void *arg;
	size_t len;		/* of the line being read, dropped bytes too */
	int dropping;		/* its error is reported; drop to the end */
	int cr_held;		/* crlf: a CR waits for its LF */
	int after_cr;		/* auto: an LF now is part of the last CR */
	int64_t last_ms;	/* when the line being read last grew */
	struct lr_stats stats;
	char msg[160];
	char buf[LR_MAX_LEN_LIMIT + 2 * LR_AFFIX_MAX + 1];
};

/* max_len 256, auto, no prefix or suffix, timeout 500 ms. */
void lr_config_default(struct lr_config *c);

/* 0, or -EINVAL with a message naming the key (max_line_length, prefix,
 * suffix, line_timeout_ms, terminator) in err. */
int lr_config_check(const struct lr_config *c, char *err, size_t errlen);

/* "auto", "cr", "lf", "crlf" <-> enum lr_term; parse: 0 or -EINVAL. */
int lr_term_parse(const char *s, enum lr_term *t);
const char *lr_term_name(enum lr_term t);

/* Checks cfg (-EINVAL when lr_config_check() fails) and starts with no
 * partial line and zero counters.  fn is called from lr_feed(), lr_tick()
 * and lr_overrun(), once per code and once per bad line. */
int lr_init(struct lr *r, const struct lr_config *cfg, lr_fn fn, void *arg);

/* The bytes read at now_ms (a monotonic clock). */
void lr_feed(struct lr *r, const void *buf, size_t len, int64_t now_ms);

/* Drops a partial line silent since timeout_ms or longer: one LR_TIMEOUT,
 * unless its error was already reported. */
void lr_tick(struct lr *r, int64_t now_ms);

/* When lr_tick() has something to do: -1 when nothing is pending. */
int64_t lr_deadline(const struct lr *r);

/* The driver reports lost bytes (an overrun, a framing error): the line
 * being read, or the next one when none is, may be missing a piece, so it
 * is dropped up to its terminator with one LR_OVERRUN (none when the line
 * already had its error).  A truncated code could be somebody else's. */
void lr_overrun(struct lr *r, int64_t now_ms);

/* Forget a partial line without an event (the tty was reopened). */
void lr_reset(struct lr *r);

const struct lr_stats *lr_stats(const struct lr *r);

#endif
