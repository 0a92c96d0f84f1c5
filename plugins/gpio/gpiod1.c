/*
 * gpiod1: the kernel's GPIO character device through libgpiod 1.6, the
 * version Debian 12 ships.  Every libgpiod call of wicket is in this file:
 * libgpiod 2.x changed the whole API (line requests, settings objects), so
 * supporting it is one more backend file beside this one, chosen at build
 * time, with gpioline.c and the plugins unchanged.
 *
 * Inputs are requested for both edges (the line's event file descriptor
 * is what the plugins wait on) with the bias and active-low flags; the
 * kernel applies active-low to edges too, so a GL_RISE is always
 * "inactive -> active".  Events carry the kernel's CLOCK_MONOTONIC stamp,
 * taken in the interrupt handler (Linux >= 5.7; older kernels stamp them
 * with CLOCK_REALTIME, which debouncing survives but Wiegand timing may
 * not).  The event descriptor is made non-blocking so that reading never
 * waits: libgpiod 1.6 would block on an empty queue.
 *
 * Outputs are requested with their initial value, so the line never shows
 * anything else in between (a relay must not click at start).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gpiod.h>

#include "glbackend.h"

#define READ_BATCH 16

struct d1_chip {
	struct gpiod_chip *chip;
	char path[GL_SPEC_MAX];
};

struct d1_line {
	struct gpiod_line *line;
	int input;
};

static int d1_open(const char *path, void **out, unsigned *n_lines,
		   char *err, size_t errlen)
{
	struct d1_chip *c = calloc(1, sizeof(*c));
	int e;

	if (c == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	errno = 0;
	c->chip = gpiod_chip_open(path);
	if (c->chip == NULL) {
		e = errno ? errno : ENODEV;
		snprintf(err, errlen, "%s: %s%s", path, strerror(e),
			 e == ENOTTY || e == EINVAL ? " (not a GPIO chip?)" :
			 e == EACCES ? " (is wicketd in group gpio?)" : "");
		free(c);
		return -e;
	}
	*n_lines = gpiod_chip_num_lines(c->chip);
	*out = c;
	return 0;
}

static void d1_close(void *chip)
{
	struct d1_chip *c = chip;

	gpiod_chip_close(c->chip);
	free(c);
}

static int d1_find(void *chip, const char *name, unsigned *offset,
		   char *err, size_t errlen)
{
	struct d1_chip *c = chip;
	struct gpiod_line *l;
	int e;

	errno = 0;
	l = gpiod_chip_find_line(c->chip, name);
	if (l == NULL) {
		e = errno ? errno : ENOENT;
		if (e == ENOENT)
			snprintf(err, errlen,
				 "no line named '%.64s' (gpioinfo %s lists the names)",
				 name, c->path);
		else
			snprintf(err, errlen, "looking for line '%.64s': %s",
				 name, strerror(e));
		return -e;
	}
	*offset = gpiod_line_offset(l);
	return 0;
}

static int bias_flags(enum gl_bias b)
{
	switch (b) {
	case GL_BIAS_DISABLE:
		return GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
	case GL_BIAS_PULL_UP:
		return GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
	case GL_BIAS_PULL_DOWN:
		return GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
	case GL_BIAS_AS_IS:
	default:
		return 0;
	}
}

static int d1_request(void *chip, const struct gl_line_config *cfg,
		      void **out, char *err, size_t errlen)
{
	struct d1_chip *c = chip;
	struct gpiod_line_request_config rc;
	struct d1_line *dl;
	struct gpiod_line *l;
	int e, fd, fl;

	errno = 0;
	l = gpiod_chip_get_line(c->chip, cfg->offset);
	if (l == NULL) {
		e = errno ? errno : EINVAL;
		snprintf(err, errlen, "line %u: %s", cfg->offset, strerror(e));
		return -e;
	}
	memset(&rc, 0, sizeof(rc));
	rc.consumer = cfg->consumer ? cfg->consumer : "wicket";
	rc.request_type = cfg->dir == GL_OUTPUT
				  ? GPIOD_LINE_REQUEST_DIRECTION_OUTPUT
				  : GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES;
	rc.flags = cfg->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
	if (cfg->dir == GL_INPUT)
		rc.flags |= bias_flags(cfg->bias);
	errno = 0;
	if (gpiod_line_request(l, &rc, cfg->initial != 0) < 0) {
		e = errno ? errno : EIO;
		if (e == EBUSY) {
			const char *who = NULL;

			if (gpiod_line_update(l) == 0)
				who = gpiod_line_consumer(l);
			snprintf(err, errlen, "line %u is busy: held by %.64s",
				 cfg->offset, who && who[0] ? who : "an unnamed consumer");
		} else {
			snprintf(err, errlen, "line %u: cannot request it as %s: %s",
				 cfg->offset,
				 cfg->dir == GL_OUTPUT ? "an output" : "an input",
				 strerror(e));
		}
		return -e;
	}
	if (cfg->dir == GL_INPUT) {
		fd = gpiod_line_event_get_fd(l);
		fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			e = errno ? errno : EBADF;
			gpiod_line_release(l);
			snprintf(err, errlen, "line %u: its event descriptor: %s",
				 cfg->offset, strerror(e));
			return -e;
		}
	}
	dl = calloc(1, sizeof(*dl));
	if (dl == NULL) {
		gpiod_line_release(l);
		snprintf(err, errlen, "line %u: out of memory", cfg->offset);
		return -ENOMEM;
	}
	dl->line = l;
	dl->input = cfg->dir == GL_INPUT;
	*out = dl;
	return 0;
}

static void d1_release(void *line)
{
	struct d1_line *dl = line;

	gpiod_line_release(dl->line);
	free(dl);
}

static int d1_set(void *line, int value)
{
	struct d1_line *dl = line;

	errno = 0;
	if (gpiod_line_set_value(dl->line, value) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

static int d1_get(void *line, int *value)
{
	struct d1_line *dl = line;
	int v;

	errno = 0;
	v = gpiod_line_get_value(dl->line);
	if (v < 0)
		return errno ? -errno : -EIO;
	*value = v != 0;
	return 0;
}

static int d1_fd(const void *line)
{
	const struct d1_line *dl = line;

	if (!dl->input)
		return -1;
	return gpiod_line_event_get_fd(dl->line);
}

static int d1_read(void *line, struct gl_event *ev, size_t max)
{
	struct d1_line *dl = line;
	struct gpiod_line_event buf[READ_BATCH];
	size_t got = 0;
	int n;

	if (!dl->input)
		return -EINVAL;
	while (got < max) {
		unsigned want = max - got < READ_BATCH ? (unsigned)(max - got)
						       : READ_BATCH;

		errno = 0;
		n = gpiod_line_event_read_multiple(dl->line, buf, want);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (got > 0)
				break;	/* the error comes again next time */
			return errno ? -errno : -EIO;
		}
		if (n == 0) {
			/* end of file: the chip went away */
			if (got > 0)
				break;
			return -ENODEV;
		}
		for (int i = 0; i < n; i++) {
			ev[got].edge = buf[i].event_type ==
						       GPIOD_LINE_EVENT_RISING_EDGE
					       ? GL_RISE : GL_FALL;
			ev[got].t_ns = (int64_t)buf[i].ts.tv_sec * 1000000000 +
				       buf[i].ts.tv_nsec;
			got++;
		}
		if ((unsigned)n < want)
			break;
	}
	return (int)got;
}

const struct gl_backend gl_backend_gpiod1 = {
	.name = "gpiod1",
	.open = d1_open,
	.close = d1_close,
	.find = d1_find,
	.request = d1_request,
	.release = d1_release,
	.set = d1_set,
	.get = d1_get,
	.fd = d1_fd,
	.read = d1_read,
};
