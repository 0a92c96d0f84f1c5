/*
 * libFuzzer: the simulated GPIO chip's command lines (plugins/gpio/
 * gpiosim.c, included here so its static parts can be reached).
 *
 * Byte 0 picks how the test chip's lines are requested (which are inputs
 * with active-low, whether the output on line 2 is active-low, whether
 * events are read after every command or left to pile up); the rest is
 * text, split at \n into command lines, as a client would send them.
 * Checked for each line:
 *   - gsim_parse never fails without a printable, one-line message, and
 *     what it accepts gsim_format writes back as a line that parses to the
 *     same command;
 *   - run on the chip, the reply is one printable line: ok, value, info
 *     or err;
 *   - the events an input queues, read back, toggle the line's level one
 *     by one from its level at request (nothing lost or doubled, unless
 *     the queue overflowed), with stamps that never go back; when all are
 *     read, the level they lead to is the chip's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/gpio/gpiosim.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TEST_LINES 4		/* 0, 1, 3 inputs (if chosen), 2 an output */

struct model {
	void *req;
	int input;
	int active_low;
	int level;		/* physical, as the events say */
	int64_t last_t;
};

static struct sim_chip chip;
static struct model m[TEST_LINES];

static void check_text(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= 256)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			abort();
}

static void check_parse(const char *line, size_t len)
{
	struct gsim_cmd a, b;
	char err[160], buf[512];
	int n;

	memset(err, 'x', sizeof(err));
	if (gsim_parse(line, len, &a, err, sizeof(err)) < 0) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		check_text(err);
		return;
	}
	n = gsim_format(&a, buf, sizeof(buf));
	if (n < 0 || (size_t)n >= sizeof(buf))
		abort();
	if (gsim_parse(buf, (size_t)n, &b, err, sizeof(err)) < 0)
		abort();
	if (a.op != b.op || a.offset != b.offset || a.offset2 != b.offset2 ||
	    a.level != b.level || a.nbits != b.nbits ||
	    strcmp(a.bits, b.bits) != 0 || a.interval_us != b.interval_us ||
	    a.width_us != b.width_us)
		abort();
	if (a.op == GSIM_FRAME && (a.width_us >= a.interval_us ||
				   a.nbits < 1 || a.nbits > GSIM_BITS_MAX))
		abort();
}

/* Read an input's events and hold them against its model. */
static void drain(unsigned off)
{
	struct sim_req *r = m[off].req;
	struct gl_event ev[7];
	int n;

	do {
		n = sim_read(r, ev, 7);
		if (n < 0 || n > 7)
			abort();
		for (int i = 0; i < n; i++) {
			int phys = (ev[i].edge == GL_RISE) ^ r->active_low;

			if (ev[i].edge != GL_RISE && ev[i].edge != GL_FALL)
				abort();
			if (!r->dropped && phys == m[off].level)
				abort();	/* no toggle */
			if (ev[i].t_ns < m[off].last_t)
				abort();	/* back in time */
			m[off].level = phys;
			m[off].last_t = ev[i].t_ns;
		}
	} while (n == 7);
	if (r->len != 0)
		abort();
	if (!r->dropped && m[off].level != chip.line[off].level)
		abort();
}

static void setup(uint8_t cfg)
{
	static int ready;
	char err[GL_ERR_MAX];

	if (!ready) {
		/* a chip without socket, server or clients */
		pthread_mutex_init(&chip.mu, NULL);
		chip.lfd = chip.wfd = chip.efd = -1;
		ready = 1;
	}
	for (unsigned i = 0; i < TEST_LINES; i++)
		if (m[i].req != NULL)
			sim_release(m[i].req);
	memset(m, 0, sizeof(m));
	chip_init_lines(&chip);
	for (unsigned i = 0; i < TEST_LINES; i++) {
		struct gl_line_config lc;

		memset(&lc, 0, sizeof(lc));
		lc.offset = i;
		lc.consumer = i == 1 ? "wicket:a b\tc:door" : "wicket:kit:x";
		if (i == 2) {
			lc.dir = GL_OUTPUT;
			lc.active_low = cfg >> 3 & 1;
			lc.initial = cfg >> 4 & 1;
		} else if (cfg >> i & 1 || i == 0) {
			lc.dir = GL_INPUT;
			lc.active_low = cfg >> 5 & 1;
			lc.bias = i == 0 ? GL_BIAS_PULL_UP : GL_BIAS_AS_IS;
		} else {
			continue;
		}
		if (sim_request(&chip, &lc, &m[i].req, err, sizeof(err)) < 0)
			abort();
		m[i].input = lc.dir == GL_INPUT;
		m[i].level = chip.line[i].level;
	}
	/* requesting a held line is busy */
	{
		struct gl_line_config lc = { .offset = 2, .dir = GL_INPUT };
		void *x;

		if (sim_request(&chip, &lc, &x, err, sizeof(err)) != -EBUSY)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char reply[256];
	size_t start = 1;
	int drain_each;

	if (size < 1)
		return 0;
	setup(data[0]);
	drain_each = !(data[0] & 0x40);
	for (size_t i = 1; i <= size; i++) {
		const char *line = (const char *)data + start;
		size_t len;

		if (i < size && data[i] != '\n')
			continue;
		len = i - start;
		start = i + 1;
		check_parse(line, len);
		memset(reply, 'x', sizeof(reply));
		pthread_mutex_lock(&chip.mu);
		exec_line(&chip, NULL, line, len, reply, sizeof(reply));
		pthread_mutex_unlock(&chip.mu);
		if (memchr(reply, '\0', sizeof(reply)) == NULL)
			abort();
		check_text(reply);
		if (strcmp(reply, "ok") != 0 && strncmp(reply, "value ", 6) &&
		    strncmp(reply, "info ", 5) && strncmp(reply, "err ", 4))
			abort();
		if (drain_each)
			for (unsigned o = 0; o < TEST_LINES; o++)
				if (m[o].input)
					drain(o);
		/* an output cannot be driven by a client */
		if (chip.line[2].req == NULL)
			abort();
	}
	for (unsigned o = 0; o < TEST_LINES; o++)
		if (m[o].input)
			drain(o);
	return 0;
}
