/*
 * gpioline: the GPIO lines the gate kit plugins (gpio, wiegand) use,
 * behind one interface with two backends:
 *
 *   gpiod1.c   the kernel's GPIO character device through libgpiod 1.6
 *              (Debian 12).  Every libgpiod call of the project is in that
 *              one file, so a libgpiod 2.x backend is one more file.
 *   gpiosim.c  a simulated chip inside the process, for the tests, the
 *              demo and wicket-sim.  Its lines are driven and watched from
 *              outside through a UNIX socket (the protocol is described in
 *              gpiosim.c and docs/wiring.md, "Simulated GPIO").
 *
 * A chip is named by its spec: "gpiochip0", "/dev/gpiochip0" (the kernel
 * device) or "sim:PATH" (a simulated chip whose control socket is PATH).
 * Both backends open the same chip once per process and share it between
 * the instances that name it (reference counted); lines are requested one
 * by one.
 *
 * Values are logical: 1 is "active", and a line configured active_low is
 * active when its electrical level is low.  Edges are logical too: GL_RISE
 * is inactive -> active.  Times are CLOCK_MONOTONIC nanoseconds; the
 * kernel stamps them when the edge happens (libgpiod 1.6 on Linux >= 5.7),
 * the simulated chip when the edge is driven (or as the driver gives them,
 * for a Wiegand frame).
 *
 * Threads: a chip and its lines may be used from any one thread at a time;
 * the plugins use them from their own worker thread only.  The library's
 * shared chip table is locked inside.
 */
#ifndef WICKET_GPIOLINE_H
#define WICKET_GPIOLINE_H

#include <stddef.h>
#include <stdint.h>

#define GL_SPEC_MAX 256
#define GL_NAME_MAX 64
#define GL_ERR_MAX 256

enum gl_dir { GL_INPUT = 0, GL_OUTPUT = 1 };

enum gl_bias {
	GL_BIAS_AS_IS = 0,	/* leave whatever the board has */
	GL_BIAS_DISABLE,
	GL_BIAS_PULL_UP,
	GL_BIAS_PULL_DOWN,
};

enum gl_edge { GL_RISE = 1, GL_FALL = 2 };

struct gl_chip;
struct gl_line;

struct gl_line_config {
	unsigned offset;
	enum gl_dir dir;
	int active_low;
	enum gl_bias bias;	/* inputs */
	int initial;		/* outputs: the logical value at request */
	const char *consumer;	/* shown by gpioinfo: "wicket:DEVICE:ROLE" */
};

struct gl_event {
	enum gl_edge edge;
	int64_t t_ns;		/* CLOCK_MONOTONIC */
};

/* Open (or share) the chip of spec.  0 with *out, or -errno with err
 * saying what ("/dev/gpiochip7: No such file or directory"). */
int gl_chip_open(const char *spec, struct gl_chip **out, char *err,
		 size_t errlen);
/* Drop one reference; the last closes the chip.  Accepts NULL. */
void gl_chip_close(struct gl_chip *chip);
/* Number of lines of the chip. */
unsigned gl_chip_lines(const struct gl_chip *chip);
/* A line by name (the kernel's line name, or "N" for offset N): 0 with
 * *offset, or -ENOENT / -ERANGE with err. */
int gl_chip_find(struct gl_chip *chip, const char *name, unsigned *offset,
		 char *err, size_t errlen);

/* Request one line.  An input is requested for both edges, so its events
 * come through gl_line_fd().  0 with *out, or -errno with err (-EBUSY:
 * another consumer holds the line). */
int gl_line_request(struct gl_chip *chip, const struct gl_line_config *cfg,
		    struct gl_line **out, char *err, size_t errlen);
/* Release the line: an output stops being driven (what it then does is
 * the board's matter: docs/wiring.md).  Accepts NULL. */
void gl_line_release(struct gl_line *line);
int gl_line_set(struct gl_line *line, int value);	/* 0 or -errno */
int gl_line_get(struct gl_line *line, int *value);	/* 0 or -errno */
/* Inputs: readable (EPOLLIN) while events are waiting. */
int gl_line_fd(const struct gl_line *line);
/* Up to max waiting events, oldest first, without blocking: the count
 * (0: none waiting), or -errno (the line or chip is gone: -ENODEV). */
int gl_line_read(struct gl_line *line, struct gl_event *ev, size_t max);

/* "as-is", "disable", "pull-up", "pull-down": 0 or -EINVAL. */
int gl_bias_parse(const char *s, enum gl_bias *out);
const char *gl_bias_name(enum gl_bias b);

#endif
