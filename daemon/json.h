/*
 * json: write one flat JSON object into a fixed buffer.  Enough for MQTT
 * payloads; nesting by json_raw() of an object written with another
 * struct json.  Overflow is sticky and json_end() then returns NULL.
 */
#ifndef WICKET_JSON_H
#define WICKET_JSON_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

struct json {
	char buf[16384];
	size_t len;
	int n;
	int overflow;
};

void json_begin(struct json *j);
void json_str(struct json *j, const char *key, const char *v);
void json_int(struct json *j, const char *key, int64_t v);
/* v with that many decimals */
void json_num(struct json *j, const char *key, double v, int decimals);
void json_bool(struct json *j, const char *key, int v);
void json_null(struct json *j, const char *key);
/* v is already JSON */
void json_raw(struct json *j, const char *key, const char *v);
/* The text, or NULL if it did not fit. */
const char *json_end(struct json *j);
/* "2026-11-23T18:20:01.123Z" */
void json_time(struct json *j, const char *key, int64_t wall_ms);

/* s as a JSON string on out, or null when s is NULL (for writers that
 * stream to a file rather than fill a struct json). */
void json_fput_str(FILE *out, const char *s);

#endif
