/*
 * csv: the RFC 4180 reader; see csv.h for what it accepts and refuses.
 *
 * One pass over the text, no copy of it: a record's fields are unquoted
 * into one growing buffer (at most CSV_FIELDS_MAX * (CSV_FIELD_MAX + 1)
 * bytes, so a hostile file cannot make it grow without bound).  UTF-8 is
 * checked as the bytes go by, so an error names the exact line even inside
 * a multi-line quoted field.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

void csv_init(struct csv *c, const char *text, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->p = text;
	c->end = text + len;
	c->line = 1;
	c->err_field = -1;
}

void csv_fini(struct csv *c)
{
	if (c == NULL)
		return;
	free(c->buf);
	c->buf = NULL;
	c->cap = 0;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct csv *c, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->err_line = line;
	c->err_field = (int)c->n;
	c->n = 0;
	return -EINVAL;
}

/* Length of the valid UTF-8 sequence at p (first byte >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char b = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		if (b == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (b == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		if (b == 0xf0)
			lo = 0x90;	/* overlong */
		else if (b == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static int append(struct csv *c, const char *s, size_t n)
{
	size_t need = c->used + n + 1;

	if (c->len[c->n] + n > CSV_FIELD_MAX)
		return fail(c, c->line, "field longer than %d bytes",
			    CSV_FIELD_MAX);
	if (need > c->cap) {
		size_t cap = c->cap ? c->cap : 256;
		char *b;

		while (cap < need)
			cap *= 2;
		b = realloc(c->buf, cap);
		if (b == NULL)
			return -ENOMEM;
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->used, s, n);
	c->used += n;
	c->len[c->n] += n;
	return 0;
}

/* One byte of field data at c->p (not a delimiter): checks it and copies
 * it with the rest of its UTF-8 sequence. */
static int take(struct csv *c)
{
	unsigned char b = (unsigned char)*c->p;
	size_t n = 1;
	int rc;

	if (b == '\0')
		return fail(c, c->line, "NUL byte");
	if (b >= 0x80) {
		n = utf8_seq((const unsigned char *)c->p,
			     (const unsigned char *)c->end);
		if (n == 0)
			return fail(c, c->line, "invalid UTF-8");
	}
	rc = append(c, c->p, n);
	if (rc == 0)
		c->p += n;
	return rc;
}

static int end_field(struct csv *c)
{
	int rc = append(c, "", 0);

	if (rc != 0)
		return rc;
	c->buf[c->used++] = '\0';
	c->n++;
	return 0;
}

/* At a line end (LF or CRLF) or the end of the text? Consumes it. */
static int line_end(struct csv *c, int *rc)
{
	*rc = 0;
	if (c->p == c->end)
		return 1;
	if (*c->p == '\n') {
		c->p++;
		c->line++;
		return 1;
	}
	if (*c->p == '\r') {
		if (c->p + 1 < c->end && c->p[1] == '\n') {
			c->p += 2;
			c->line++;
			return 1;
		}
		*rc = fail(c, c->line,
			   "carriage return not followed by a line feed");
		c->err_field = -1;
		return 1;
	}
	return 0;
}

static int quoted(struct csv *c)
{
	int open_line = c->line;
	int rc;

	c->p++;
	for (;;) {
		if (c->p == c->end)
			return fail(c, open_line, "quoted field not closed "
				    "(its quote opens on line %d)", open_line);
		if (*c->p == '"') {
			if (c->p + 1 < c->end && c->p[1] == '"') {
				rc = append(c, "\"", 1);
				c->p += 2;
			} else {
				c->p++;
				return 0;
			}
		} else if (*c->p == '\n') {
			rc = append(c, "\n", 1);
			c->p++;
			c->line++;
		} else {
			rc = take(c);
		}
		if (rc != 0)
			return rc;
	}
}

static int unquoted(struct csv *c)
{
	int rc;

	while (c->p < c->end && *c->p != ',' && *c->p != '\n' &&
	       *c->p != '\r') {
		if (*c->p == '"')
			return fail(c, c->line, "quote inside an unquoted field "
				    "(quote the whole field and double the "
				    "quotes inside it)");
		rc = take(c);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int skip_empty_lines(struct csv *c)
{
	int rc;

	while (c->p < c->end && (*c->p == '\n' || *c->p == '\r')) {
		line_end(c, &rc);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int csv_next(struct csv *c)
{
	int rc;

	if (c->err_line > 0)
		return -EINVAL;
	if (!c->started) {
		c->started = 1;
		if (c->end - c->p >= 3 && memcmp(c->p, "\xef\xbb\xbf", 3) == 0)
			c->p += 3;
	}
	c->n = 0;
	c->used = 0;
	rc = skip_empty_lines(c);
	if (rc != 0)
		return rc;
	if (c->p == c->end)
		return 0;
	c->rec_line = c->line;
	for (;;) {
		if (c->n == CSV_FIELDS_MAX) {
			rc = fail(c, c->line, "more than %d fields",
				  CSV_FIELDS_MAX);
			c->err_field = -1;
			return rc;
		}
		c->off[c->n] = c->used;
		c->len[c->n] = 0;
		if (c->p < c->end && *c->p == '"') {
			rc = quoted(c);
			if (rc == 0 && c->p < c->end && *c->p != ',' &&
			    *c->p != '\n' && *c->p != '\r')
				rc = fail(c, c->line, "unexpected character "
					  "after a closing quote (a quote "
					  "inside a quoted field is written "
					  "\"\")");
		} else {
			rc = unquoted(c);
		}
		if (rc == 0)
			rc = end_field(c);
		if (rc != 0)
			return rc;
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (line_end(c, &rc)) {
			if (rc != 0)
				return rc;
			return 1;
		}
	}
}

size_t csv_count(const struct csv *c)
{
	return c->n;
}

const char *csv_field(const struct csv *c, size_t i, size_t *len)
{
	if (i >= c->n) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = c->len[i];
	return c->buf + c->off[i];
}

int csv_line(const struct csv *c)
{
	return c->rec_line;
}
