/*
 * inifile: libinih underneath, with the bookkeeping inih leaves out.
 *
 * inih (as Debian builds it) does not pass line numbers to the handler, does
 * not call it for a section without keys, and reports only the first syntax
 * error.  So the reader callback we hand to ini_parse_stream() sees every raw
 * line first: it counts lines, opens sections (empty ones too), and reports
 * over-long and malformed lines itself, handing inih a blank line instead so
 * nothing is reported twice.  inih still splits, trims and strips comments
 * (';' or '#' at the start of a line, or after whitespace in a value).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "inifile.h"

struct reader {
	FILE *f;
	struct ini_doc *doc;
	ini_error_fn err;
	void *ctx;
	int *n_errors;
	int line;
	int oom;
};

static void report(struct reader *r, int line, const char *fmt, ...)
	WK_PRINTF(3, 4);

static void report(struct reader *r, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(*r->n_errors)++;
	if (r->err)
		r->err(r->ctx, r->doc->file, line, msg);
}

static struct ini_section *add_section(struct reader *r, const char *name,
				       size_t len)
{
	struct ini_doc *d = r->doc;
	struct ini_section *s;

	for (size_t i = 0; i < d->n_sections; i++) {
		if (strlen(d->sections[i].name) == len &&
		    memcmp(d->sections[i].name, name, len) == 0)
			report(r, r->line,
			       "duplicate section [%.*s] (first at line %d)",
			       (int)len, name, d->sections[i].line);
	}
	s = realloc(d->sections, (d->n_sections + 1) * sizeof(*s));
	if (s == NULL) {
		r->oom = 1;
		return NULL;
	}
	d->sections = s;
	s = &d->sections[d->n_sections];
	memset(s, 0, sizeof(*s));
	s->name = strndup(name, len);
	s->file = d->file;
	s->line = r->line;
	if (s->name == NULL) {
		r->oom = 1;
		return NULL;
	}
	d->n_sections++;
	return s;
}

/* Classify one raw line; returns 0 if inih may see it, -1 to blank it. */
static int check_line(struct reader *r, const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '\n' || *p == '\r' || *p == ';' || *p == '#')
		return 0;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		const char *name = p + 1;
		size_t len;

		if (end == NULL) {
			report(r, r->line, "section header without ']'");
			return -1;
		}
		while (*name == ' ' || *name == '\t')
			name++;
		len = (size_t)(end - name);
		while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
			len--;
		if (len == 0) {
			report(r, r->line, "empty section name");
			return -1;
		}
		add_section(r, name, len);
		return 0;
	}
	if (strpbrk(p, "=:") == NULL) {
		report(r, r->line, "expected 'key = value' or '[section]'");
		return -1;
	}
	if (*p == '=' || *p == ':') {
		report(r, r->line, "missing key before '%c'", *p);
		return -1;
	}
	return 0;
}

static char *read_line(char *str, int num, void *stream)
{
	struct reader *r = stream;
	size_t len;

	if (fgets(str, num, r->f) == NULL)
		return NULL;
	r->line++;
	len = strlen(str);
	if (len > 0 && str[len - 1] != '\n' && !feof(r->f)) {
		int c;

		report(r, r->line, "line longer than %d characters", num - 3);
		while ((c = fgetc(r->f)) != EOF && c != '\n')
			;
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	if (memchr(str, '\0', len) != NULL || strlen(str) != len) {
		report(r, r->line, "NUL byte in line");
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	if (check_line(r, str) < 0)
		snprintf(str, (size_t)num, "\n");
	return str;
}

static int on_item(void *user, const char *section, const char *key,
		   const char *value)
{
	struct reader *r = user;
	struct ini_doc *d = r->doc;
	struct ini_section *s;
	struct wk_conf_item *it;

	if (d->n_sections == 0 && add_section(r, "", 0) == NULL)
		return 1;
	s = &d->sections[d->n_sections - 1];
	if (strcmp(s->name, section) != 0) {
		report(r, r->line, "internal: key outside its section");
		return 1;
	}
	for (size_t i = 0; i < s->n_items; i++) {
		if (strcmp(s->items[i].key, key) == 0) {
			report(r, r->line,
			       "duplicate key '%s' in [%s] (first at line %d)",
			       key, s->name, s->items[i].line);
			return 1;
		}
	}
	it = realloc(s->items, (s->n_items + 1) * sizeof(*it));
	if (it == NULL) {
		r->oom = 1;
		return 1;
	}
	s->items = it;
	it = &s->items[s->n_items];
	it->key = strdup(key);
	it->value = strdup(value ? value : "");
	it->file = d->file;
	it->line = r->line;
	if (it->key == NULL || it->value == NULL) {
		free((char *)it->key);
		free((char *)it->value);
		r->oom = 1;
		return 1;
	}
	s->n_items++;
	return 1;
}

int ini_load(const char *path, struct ini_doc **out, ini_error_fn err,
	     void *ctx, int *n_errors)
{
	struct reader r = { .err = err, .ctx = ctx, .n_errors = n_errors };
	struct ini_doc *d;
	int rc;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->file = strdup(path)) == NULL) {
		free(d);
		return -ENOMEM;
	}
	r.doc = d;
	r.f = fopen(path, "r");
	if (r.f == NULL) {
		rc = -errno;
		report(&r, 0, "cannot open: %s", strerror(-rc));
		ini_free(d);
		return rc;
	}
	ini_allow_multiline = false;
	/* "key = value   # note" and "; note": both after whitespace */
	ini_inline_comment_prefixes = (char *)";#";
	rc = ini_parse_stream(read_line, &r, on_item, &r);
	if (ferror(r.f)) {
		rc = -EIO;
		report(&r, r.line, "read error");
	} else {
		rc = 0;
	}
	fclose(r.f);
	if (r.oom)
		rc = -ENOMEM;
	if (rc < 0) {
		ini_free(d);
		return rc;
	}
	d->n_lines = r.line;
	*out = d;
	return 0;
}

void ini_free(struct ini_doc *doc)
{
	if (doc == NULL)
		return;
	for (size_t i = 0; i < doc->n_sections; i++) {
		struct ini_section *s = &doc->sections[i];

		for (size_t j = 0; j < s->n_items; j++) {
			free((char *)s->items[j].key);
			free((char *)s->items[j].value);
		}
		free(s->items);
		free(s->name);
	}
	free(doc->sections);
	free(doc->file);
	free(doc);
}

const struct ini_section *ini_find(const struct ini_doc *doc, const char *name)
{
	for (size_t i = 0; i < doc->n_sections; i++)
		if (strcmp(doc->sections[i].name, name) == 0)
			return &doc->sections[i];
	return NULL;
}

const struct wk_conf_item *ini_get(const struct ini_section *sec,
				   const char *key)
{
	for (size_t i = 0; i < sec->n_items; i++)
		if (strcmp(sec->items[i].key, key) == 0)
			return &sec->items[i];
	return NULL;
}
