/*
 * json: a bounded writer; strings are escaped per RFC 8259 (quote,
 * backslash and control characters), other bytes pass through.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "json.h"

static void put(struct json *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct json *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(j->buf) - j->len) {
		j->overflow = 1;
		return;
	}
	j->len += (size_t)n;
}

static void put_char(struct json *j, char c)
{
	if (j->overflow || j->len + 1 >= sizeof(j->buf)) {
		j->overflow = 1;
		return;
	}
	j->buf[j->len++] = c;
	j->buf[j->len] = '\0';
}

static void put_string(struct json *j, const char *s)
{
	put_char(j, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			put_char(j, '\\');
			put_char(j, (char)c);
		} else if (c == '\n') {
			put(j, "\\n");
		} else if (c < 0x20 || c == 0x7f) {
			put(j, "\\u%04x", c);
		} else {
			put_char(j, (char)c);
		}
	}
	put_char(j, '"');
}

static void key(struct json *j, const char *k)
{
	if (j->n++)
		put(j, ",");
	put_string(j, k);
	put(j, ":");
}

void json_begin(struct json *j)
{
	j->len = 0;
	j->n = 0;
	j->overflow = 0;
	j->buf[0] = '\0';
	put(j, "{");
}

void json_str(struct json *j, const char *k, const char *v)
{
	key(j, k);
	put_string(j, v);
}

void json_int(struct json *j, const char *k, int64_t v)
{
	key(j, k);
	put(j, "%lld", (long long)v);
}

void json_num(struct json *j, const char *k, double v, int decimals)
{
	key(j, k);
	put(j, "%.*f", decimals, v);
}

void json_bool(struct json *j, const char *k, int v)
{
	key(j, k);
	put(j, v ? "true" : "false");
}

void json_null(struct json *j, const char *k)
{
	key(j, k);
	put(j, "null");
}

void json_raw(struct json *j, const char *k, const char *v)
{
	key(j, k);
	put(j, "%s", v);
}

void json_time(struct json *j, const char *k, int64_t wall_ms)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	char s[64];

	gmtime_r(&t, &tm);
	snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
	json_str(j, k, s);
}

const char *json_end(struct json *j)
{
	put(j, "}");
	return j->overflow ? NULL : j->buf;
}

void json_fput_str(FILE *out, const char *s)
{
	if (s == NULL) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}
