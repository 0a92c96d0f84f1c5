/*
 * gpiosim: the simulated GPIO chip's control protocol, as data.
 *
 * The chip itself is a gpioline backend (gpiosim.c); this header gives the
 * parser of its command lines, a pure function, so that it can be fuzzed
 * and unit-tested on its own, and the formatter that writes a command back
 * (tests, the fuzzer's round trip).  The protocol is described in
 * gpiosim.c and in docs/wiring.md, "Simulated GPIO".
 */
#ifndef WICKET_GPIOSIM_H
#define WICKET_GPIOSIM_H

#include <stddef.h>
#include <stdint.h>

#define GSIM_LINES 64		/* offsets 0..63, named "0".."63" */
#define GSIM_BITS_MAX 64	/* bits of one frame */
#define GSIM_CMD_MAX 256	/* the longest command line, without \n */
#define GSIM_INTERVAL_MAX_US 1000000u
#define GSIM_INTERVAL_DEFAULT_US 2000u
#define GSIM_WIDTH_DEFAULT_US 50u

enum gsim_op {
	GSIM_SET = 1,		/* set OFFSET 0|1 */
	GSIM_FRAME,		/* frame D0 D1 BITS [INTERVAL_US [WIDTH_US]] */
	GSIM_GET,		/* get OFFSET */
	GSIM_INFO,		/* info OFFSET */
	GSIM_WATCH,		/* watch */
};

struct gsim_cmd {
	enum gsim_op op;
	unsigned offset;	/* set, get, info; frame: D0 */
	unsigned offset2;	/* frame: D1 */
	int level;		/* set */
	unsigned nbits;		/* frame */
	char bits[GSIM_BITS_MAX + 1];	/* frame: '0' / '1', NUL-terminated */
	uint32_t interval_us;	/* frame */
	uint32_t width_us;	/* frame */
};

/* Parse one command line (line[0..len), without its \n; a trailing \r is
 * allowed).  0 with *out, or -EINVAL with err the reply's text after
 * "err " (printable ASCII, no newline). */
int gsim_parse(const char *line, size_t len, struct gsim_cmd *out,
	       char *err, size_t errlen);
/* The command as a line, without \n: the length written (as snprintf), or
 * -EINVAL for a command that gsim_parse would not give. */
int gsim_format(const struct gsim_cmd *cmd, char *buf, size_t len);

#endif
