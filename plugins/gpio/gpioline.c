/*
 * gpioline: the shared part of the GPIO line library (gpioline.h): the
 * process-wide table of open chips and the dispatch to the backend of
 * each (gpiod1.c for the kernel, gpiosim.c for the simulator).
 *
 * A chip is opened once per process and shared by reference count: the
 * gpio and wiegand plugins of one gate kit use lines of the same chip, a
 * simulated chip must be one chip (one socket) for every instance naming
 * it, and the kernel hands each line to one request only, so two opens of
 * one chip in one process gain nothing.  A requested line holds a
 * reference on its chip too, so the order in which an instance releases
 * lines and closes its chip does not matter.
 *
 * Locking: g_mu guards the table and the reference counts; each chip's mu
 * serialises its chip-level calls (find, request, release), which touch
 * the backend's per-chip state (libgpiod 1.6 keeps its line objects in
 * the chip and is not thread-safe).  A line's own calls (set, get, read)
 * go straight to the backend: one thread uses a line at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glbackend.h"
#include "gpioline.h"

#define SIM_PREFIX "sim:"

struct gl_chip {
	struct gl_chip *next;	/* g_chips */
	char spec[GL_SPEC_MAX];	/* canonical: /dev/gpiochipN or sim:PATH */
	unsigned refs;		/* under g_mu */
	const struct gl_backend *be;
	void *impl;
	unsigned n_lines;
	pthread_mutex_t mu;
};

struct gl_line {
	struct gl_chip *chip;
	const struct gl_backend *be;
	void *impl;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gl_chip *g_chips;

/* "gpiochip3" -> "/dev/gpiochip3"; an absolute path and sim:PATH stay. */
static int canonical(const char *spec, char *out, size_t outlen,
		     const struct gl_backend **be, char *err, size_t errlen)
{
	size_t n = strlen(spec);
	int w;

	if (strncmp(spec, SIM_PREFIX, strlen(SIM_PREFIX)) == 0) {
		if (spec[strlen(SIM_PREFIX)] == '\0') {
			snprintf(err, errlen, "%s: no socket path after sim:",
				 spec);
			return -EINVAL;
		}
		*be = &gl_backend_sim;
		w = snprintf(out, outlen, "%s", spec);
	} else if (strncmp(spec, "gpiochip", 8) == 0 && n > 8 &&
		   strspn(spec + 8, "0123456789") == n - 8) {
		*be = &gl_backend_gpiod1;
		w = snprintf(out, outlen, "/dev/%s", spec);
	} else if (spec[0] == '/') {
		*be = &gl_backend_gpiod1;
		w = snprintf(out, outlen, "%s", spec);
	} else {
		snprintf(err, errlen,
			 "'%.100s' is not a GPIO chip: expected gpiochipN, /dev/gpiochipN or sim:PATH",
			 spec);
		return -EINVAL;
	}
	if (w < 0 || (size_t)w >= outlen) {
		snprintf(err, errlen, "%.40s...: the chip name is too long",
			 spec);
		return -ENAMETOOLONG;
	}
	return 0;
}

int gl_chip_open(const char *spec, struct gl_chip **out, char *err,
		 size_t errlen)
{
	const struct gl_backend *be;
	char canon[GL_SPEC_MAX];
	struct gl_chip *c;
	int r;

	if (errlen > 0)
		err[0] = '\0';
	r = canonical(spec, canon, sizeof(canon), &be, err, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&g_mu);
	for (c = g_chips; c != NULL; c = c->next)
		if (strcmp(c->spec, canon) == 0)
			break;
	if (c != NULL) {
		c->refs++;
		pthread_mutex_unlock(&g_mu);
		*out = c;
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		pthread_mutex_unlock(&g_mu);
		snprintf(err, errlen, "%s: out of memory", canon);
		return -ENOMEM;
	}
	snprintf(c->spec, sizeof(c->spec), "%s", canon);
	c->be = be;
	c->refs = 1;
	r = pthread_mutex_init(&c->mu, NULL);
	if (r != 0) {
		pthread_mutex_unlock(&g_mu);
		free(c);
		snprintf(err, errlen, "%s: %s", canon, strerror(r));
		return -r;
	}
	/* opened under g_mu: a second instance naming the chip meanwhile
	 * must find it, not open it twice (a socket cannot be bound twice) */
	r = be->open(be == &gl_backend_sim ? canon + strlen(SIM_PREFIX) : canon,
		     &c->impl, &c->n_lines, err, errlen);
	if (r < 0) {
		pthread_mutex_unlock(&g_mu);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return r;
	}
	c->next = g_chips;
	g_chips = c;
	pthread_mutex_unlock(&g_mu);
	*out = c;
	return 0;
}

void gl_chip_close(struct gl_chip *chip)
{
	struct gl_chip **pp;

	if (chip == NULL)
		return;
	pthread_mutex_lock(&g_mu);
	if (--chip->refs > 0) {
		pthread_mutex_unlock(&g_mu);
		return;
	}
	for (pp = &g_chips; *pp != NULL; pp = &(*pp)->next)
		if (*pp == chip) {
			*pp = chip->next;
			break;
		}
	/* closed under g_mu: reopening the same spec right away must wait
	 * until the old socket is gone */
	chip->be->close(chip->impl);
	pthread_mutex_unlock(&g_mu);
	pthread_mutex_destroy(&chip->mu);
	free(chip);
}

unsigned gl_chip_lines(const struct gl_chip *chip)
{
	return chip->n_lines;
}

/* "0", "17": a plain decimal offset, without sign or leading zeros. */
static int parse_offset(const char *s, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 9)
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int gl_chip_find(struct gl_chip *chip, const char *name, unsigned *offset,
		 char *err, size_t errlen)
{
	unsigned long v;
	int r;

	if (errlen > 0)
		err[0] = '\0';
	if (parse_offset(name, &v) == 0) {
		if (v >= chip->n_lines) {
			snprintf(err, errlen, "line %lu: the chip's lines are 0..%u",
				 v, chip->n_lines ? chip->n_lines - 1 : 0);
			return -ERANGE;
		}
		*offset = (unsigned)v;
		return 0;
	}
	pthread_mutex_lock(&chip->mu);
	r = chip->be->find(chip->impl, name, offset, err, errlen);
	pthread_mutex_unlock(&chip->mu);
	return r;
}

int gl_line_request(struct gl_chip *chip, const struct gl_line_config *cfg,
		    struct gl_line **out, char *err, size_t errlen)
{
	struct gl_line *l;
	int r;

	if (errlen > 0)
		err[0] = '\0';
	if (cfg->offset >= chip->n_lines) {
		snprintf(err, errlen, "line %u: the chip's lines are 0..%u",
			 cfg->offset, chip->n_lines ? chip->n_lines - 1 : 0);
		return -ERANGE;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, errlen, "line %u: out of memory", cfg->offset);
		return -ENOMEM;
	}
	pthread_mutex_lock(&chip->mu);
	r = chip->be->request(chip->impl, cfg, &l->impl, err, errlen);
	pthread_mutex_unlock(&chip->mu);
	if (r < 0) {
		free(l);
		return r;
	}
	pthread_mutex_lock(&g_mu);
	chip->refs++;
	pthread_mutex_unlock(&g_mu);
	l->chip = chip;
	l->be = chip->be;
	*out = l;
	return 0;
}

void gl_line_release(struct gl_line *line)
{
	if (line == NULL)
		return;
	pthread_mutex_lock(&line->chip->mu);
	line->be->release(line->impl);
	pthread_mutex_unlock(&line->chip->mu);
	gl_chip_close(line->chip);
	free(line);
}

int gl_line_set(struct gl_line *line, int value)
{
	return line->be->set(line->impl, value != 0);
}

int gl_line_get(struct gl_line *line, int *value)
{
	return line->be->get(line->impl, value);
}

int gl_line_fd(const struct gl_line *line)
{
	return line->be->fd(line->impl);
}

int gl_line_read(struct gl_line *line, struct gl_event *ev, size_t max)
{
	if (max == 0)
		return 0;
	return line->be->read(line->impl, ev, max);
}

static const char *const bias_names[] = {
	[GL_BIAS_AS_IS] = "as-is",
	[GL_BIAS_DISABLE] = "disable",
	[GL_BIAS_PULL_UP] = "pull-up",
	[GL_BIAS_PULL_DOWN] = "pull-down",
};

int gl_bias_parse(const char *s, enum gl_bias *out)
{
	for (size_t i = 0; i < sizeof(bias_names) / sizeof(bias_names[0]); i++)
		if (strcmp(s, bias_names[i]) == 0) {
			*out = (enum gl_bias)i;
			return 0;
		}
	return -EINVAL;
}

const char *gl_bias_name(enum gl_bias b)
{
	if ((unsigned)b >= sizeof(bias_names) / sizeof(bias_names[0]))
		return "?";
	return bias_names[b];
}
