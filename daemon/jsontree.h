/*
 * jsontree: parse a JSON text (RFC 8259, strict) into a read-only tree
 * whose every node knows its line and column, so that the rules, registry
 * and (later) admin-update validators can say exactly where a value is
 * wrong.  One allocation arena per document; jt_free() releases it all.
 *
 * Strict: no comments, no trailing commas, no NaN/Infinity, no leading
 * zeros, no control characters in strings, valid UTF-8 only, \u escapes
 * decoded (surrogate pairs joined, lone surrogates refused), "\u0000"
 * refused (strings are NUL-terminated), duplicate object keys refused,
 * nesting deeper than JT_MAX_DEPTH refused, nothing after the value but
 * whitespace.
 *
 * The writer turns a (sub)tree back into compact JSON that this parser
 * reads back to an equal tree: for embedding a parsed document in another
 * (wicketctl sign) or handing part of one to a text-based parser.
 */
#ifndef WICKET_JSONTREE_H
#define WICKET_JSONTREE_H

#include <stddef.h>
#include <stdint.h>

#define JT_MAX_DEPTH 64

enum jt_type { JT_NULL, JT_BOOL, JT_NUMBER, JT_STRING, JT_ARRAY, JT_OBJECT };

struct jt_node {
	enum jt_type type;
	int line, col;		/* 1-based, of the value's first character */
	const char *key;	/* member name inside an object, else NULL */
	int key_line, key_col;	/* of the member name's opening quote */
	struct jt_node *next;	/* next element or member, NULL at the end */
	/* JT_BOOL */
	int b;
	/* JT_NUMBER: num always; is_int and i when the text has no fraction
	 * or exponent and fits in int64_t */
	double num;
	int is_int;
	int64_t i;
	/* JT_STRING: NUL-terminated UTF-8, len bytes */
	const char *s;
	size_t len;
	/* JT_ARRAY, JT_OBJECT: the first element or member, and how many */
	struct jt_node *kids;
	size_t n;
};

struct jt_doc;

/* Parse len bytes of text.  Returns 0 with *out set, or -EINVAL with
 * err = "LINE:COL: message" (e.g. "3:17: expected ',' or '}'"), or
 * -ENOMEM.  Columns count bytes from 1. */
int jt_parse(const char *text, size_t len, struct jt_doc **out, char *err,
	     size_t errlen);
const struct jt_node *jt_root(const struct jt_doc *d);
void jt_free(struct jt_doc *d);

/* The member of an object with that key, or NULL (also when obj is not an
 * object). */
const struct jt_node *jt_get(const struct jt_node *obj, const char *key);
const char *jt_type_name(enum jt_type t);	/* "string", "object", ... */

/* --- writing ----------------------------------------------------------------
 *
 * Compact JSON (no whitespace), members in their order.  Strings: '"', '\\'
 * and control characters escaped (\n \r \t \b \f, others \u00xx), all
 * else, UTF-8 included, as is.  Numbers: is_int ones as the integer i;
 * others as the shortest of %.15g, %.16g and %.17g that reads back as the
 * same double, with ".0" added when that has neither '.' nor 'e' (so 38.0
 * stays a non-integer for a validator that tells them apart).  key, s and
 * len are what is written, positions are ignored.
 */

/* An output buffer that grows as needed.  Start it zeroed; p is
 * NUL-terminated (or NULL while empty) and is the caller's to free.  The
 * first failure sticks in err (-ENOMEM; -EINVAL for a number that is not
 * finite or an unknown type; -E2BIG for containers nested deeper than
 * JT_MAX_DEPTH, which the parser would refuse) and later appends do
 * nothing: check it once at the end. */
struct jt_buf {
	char *p;
	size_t len, cap;
	int err;
};

/* Append the value n (with everything under it). */
void jt_buf_node(struct jt_buf *b, const struct jt_node *n);
/* Append len bytes of s as a JSON string (s must be valid UTF-8). */
void jt_buf_str(struct jt_buf *b, const char *s, size_t len);

/* n as a malloc'd NUL-terminated string of *len bytes: 0, or the
 * jt_buf error with *out NULL. */
int jt_write(const struct jt_node *n, char **out, size_t *len);

#endif
