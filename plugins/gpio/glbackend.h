/*
 * glbackend: what a GPIO backend gives gpioline.c (private to the
 * library; the plugins use gpioline.h).
 *
 * gpioline.c keeps the table of open chips (one per spec, reference
 * counted), serialises the chip-level calls (find, request, release) of
 * one chip under the chip's mutex, and turns "N" into offset N; a backend
 * only talks to its chip.  Errors are -errno, with err saying what: an
 * open's names the chip, a line's names the line only ("line 4 is busy:
 * held by wicket:kit1:door"), since the caller knows its chip and the
 * message must fit a device fault event.
 */
#ifndef WICKET_GLBACKEND_H
#define WICKET_GLBACKEND_H

#include <stddef.h>

#include "gpioline.h"

struct gl_backend {
	const char *name;
	/* path: the spec without "sim:" for the simulator; a device path
	 * for the kernel.  *n_lines: how many lines the chip has. */
	int (*open)(const char *path, void **chip, unsigned *n_lines,
		    char *err, size_t errlen);
	void (*close)(void *chip);
	/* A line by its name (not "N": gpioline.c handles those). */
	int (*find)(void *chip, const char *name, unsigned *offset,
		    char *err, size_t errlen);
	int (*request)(void *chip, const struct gl_line_config *cfg,
		       void **line, char *err, size_t errlen);
	void (*release)(void *line);
	int (*set)(void *line, int value);
	int (*get)(void *line, int *value);
	int (*fd)(const void *line);
	int (*read)(void *line, struct gl_event *ev, size_t max);
};

/* Not exported from libwicket-gpio.so: the plugins go through gl_*. */
#define GL_HIDDEN __attribute__((visibility("hidden")))
extern const struct gl_backend gl_backend_gpiod1 GL_HIDDEN;	/* gpiod1.c */
extern const struct gl_backend gl_backend_sim GL_HIDDEN;	/* gpiosim.c */

#endif
