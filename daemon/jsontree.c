/*
 * jsontree: a strict RFC 8259 parser that builds a tree of positioned
 * nodes (see jsontree.h for what "strict" refuses).
 *
 * Memory: every node and every decoded string of a document comes from one
 * arena, a chain of blocks that double in size up to ARENA_MAX_BLOCK, so a
 * registry import of a million records costs a few hundred mallocs, not
 * millions, and jt_free() is a walk down the chain.
 *
 * Time: linear.  A string is scanned once to find where it ends and once
 * more to check and decode it into a buffer of that (upper-bound) size,
 * whose unused tail is handed back to the arena.  Lists are appended
 * through a tail pointer.  Duplicate keys are found by a linear scan while
 * an object is small and through a temporary hash table once it grows past
 * DUP_LINEAR members.
 *
 * Errors stop the parse at the first problem and say where it is
 * ("LINE:COL: message", columns in bytes, both from 1): the offending byte,
 * the backslash of a bad escape, the opening quote of an unterminated
 * string.  Recursion is bounded by JT_MAX_DEPTH.
 *
 * The writer (jt_buf_node, jt_write) is the parser's inverse for what the
 * tree keeps: compact, members in order, numbers in as few digits as read
 * back to the same double.  It lives here so that wicketctl (signing a
 * document that embeds a parsed file) and the daemon write JSON values one
 * way.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confval.h"
#include "jsontree.h"

#define ARENA_FIRST_BLOCK 4096
#define ARENA_MAX_BLOCK (1u << 20)
#define DUP_LINEAR 16		/* members checked by linear scan */
#define NUM_STACK 64		/* numbers shorter than this skip malloc */

struct blk {
	struct blk *next;
	size_t cap, used;
};

/* Block data starts here, aligned for any node. */
#define BLK_HDR ((sizeof(struct blk) + 15) & ~(size_t)15)

struct jt_doc {
	struct jt_node *root;
	struct blk *cur;	/* the block being filled, head of the chain */
	size_t next_cap;
};

struct parser {
	const unsigned char *s;
	size_t len, pos;
	size_t line_start;	/* offset of the current line's first byte */
	int line;
	struct jt_doc *doc;
	char *err;
	size_t errlen;
	uint64_t seed;
};

/* Keys of one big object, open addressing, at most half full. */
struct keyset {
	const struct jt_node **tab;
	size_t cap, count;
};

/* ---- arena ---- */

static unsigned char *blk_data(struct blk *b)
{
	return (unsigned char *)b + BLK_HDR;
}

static void *arena_alloc(struct jt_doc *d, size_t size, size_t align)
{
	struct blk *b = d->cur;
	size_t cap;

	if (b != NULL) {
		size_t off = (b->used + align - 1) & ~(align - 1);

		if (off <= b->cap && size <= b->cap - off) {
			b->used = off + size;
			return blk_data(b) + off;
		}
	}
	if (size > SIZE_MAX - BLK_HDR)
		return NULL;
	if (size > d->next_cap / 4) {
		/* A big string gets a block of its own, linked behind the
		 * current one so the current one's free space is kept. */
		b = malloc(BLK_HDR + size);
		if (b == NULL)
			return NULL;
		b->cap = b->used = size;
		if (d->cur != NULL) {
			b->next = d->cur->next;
			d->cur->next = b;
		} else {
			b->next = NULL;
			d->cur = b;
		}
		return blk_data(b);
	}
	cap = d->next_cap;
	if (d->next_cap < ARENA_MAX_BLOCK)
		d->next_cap *= 2;
	b = malloc(BLK_HDR + cap);
	if (b == NULL)
		return NULL;
	b->cap = cap;
	b->used = size;
	b->next = d->cur;
	d->cur = b;
	return blk_data(b);
}

/* Give back the tail of the most recent allocation when it is still the
 * top of the current block (otherwise the bytes just stay unused). */
static void arena_shrink(struct jt_doc *d, void *p, size_t old, size_t keep)
{
	struct blk *b = d->cur;

	if (b != NULL && (unsigned char *)p + old == blk_data(b) + b->used)
		b->used -= old - keep;
}

static struct jt_node *new_node(struct parser *p)
{
	struct jt_node *n = arena_alloc(p->doc, sizeof(*n),
					_Alignof(struct jt_node));

	if (n != NULL)
		memset(n, 0, sizeof(*n));
	return n;
}

/* ---- positions and errors ---- */

static int col_at(const struct parser *p, size_t at)
{
	return (int)(at - p->line_start + 1);
}

/* Line and column of any offset; errors may point before the current
 * line only in theory, so the slow path just counts from the start. */
static void pos_of(const struct parser *p, size_t at, int *line, int *col)
{
	size_t i, ls = 0;
	int l = 1;

	if (at >= p->line_start) {
		*line = p->line;
		*col = col_at(p, at);
		return;
	}
	for (i = 0; i < at; i++) {
		if (p->s[i] == '\n') {
			l++;
			ls = i + 1;
		}
	}
	*line = l;
	*col = (int)(at - ls + 1);
}

static int fail(struct parser *p, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
	va_list ap;
	int line, col, k;

	if (p->err == NULL || p->errlen == 0)
		return -EINVAL;
	pos_of(p, at, &line, &col);
	k = snprintf(p->err, p->errlen, "%d:%d: ", line, col);
	if (k >= 0 && (size_t)k < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int no_memory(struct parser *p)
{
	fail(p, p->pos, "out of memory");
	return -ENOMEM;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0.
 * Refuses overlong forms, surrogates and code points past U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		need = 1;
	} else if (c < 0xF0) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return need + 1;
}

static uint32_t utf8_decode(const unsigned char *s, size_t k)
{
	static const unsigned char mask[] = { 0, 0x7F, 0x1F, 0x0F, 0x07 };
	uint32_t cp = s[0] & mask[k];
	size_t i;

	for (i = 1; i < k; i++)
		cp = (cp << 6) | (s[i] & 0x3F);
	return cp;
}

/* What sits at offset at, for "found ..." in messages. */
static void describe(const struct parser *p, size_t at, char *buf,
		     size_t cap)
{
	unsigned char c;
	size_t k;

	if (at >= p->len) {
		snprintf(buf, cap, "end of input");
		return;
	}
	c = p->s[at];
	if (c > 0x20 && c < 0x7F) {
		snprintf(buf, cap, "'%c'", c);
		return;
	}
	k = utf8_seq(p->s + at, p->len - at);
	if (c >= 0x80 && k > 0) {
		uint32_t cp = utf8_decode(p->s + at, k);

		/* Text pasted from a word processor is the usual source. */
		if (cp >= 0x2018 && cp <= 0x201F)
			snprintf(buf, cap, "U+%04X (a typographic quote; "
				 "JSON needs plain \")", (unsigned)cp);
		else
			snprintf(buf, cap, "U+%04X", (unsigned)cp);
		return;
	}
	snprintf(buf, cap, "byte 0x%02X", c);
}

/* A key for a message: quoted-string escapes, cut short on a character
 * boundary so an operator still recognises it. */
static void show_key(const char *key, char *buf, size_t cap)
{
	const unsigned char *s = (const unsigned char *)key;
	size_t o = 0, i = 0;

	while (s[i] != '\0' && o + 8 < cap) {
		unsigned char c = s[i];

		if (o >= 40) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			buf[o++] = (char)c;
			i++;
		} else {
			/* keys were validated: whole sequences only */
			size_t k = utf8_seq(s + i, 4);

			if (k == 0)
				k = 1;
			memcpy(buf + o, s + i, k);
			o += k;
			i += k;
		}
	}
	buf[o] = '\0';
}

/* ---- strings ---- */

/* The four hex digits of a \u escape whose backslash is at i, all before
 * end; -1 when they are not there. */
static long hex4(const struct parser *p, size_t i, size_t end)
{
	long v = 0;
	size_t j;

	if (i + 6 > end)
		return -1;
	for (j = i + 2; j < i + 6; j++) {
		int h = cv_hexdigit(p->s[j]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t utf8_put(unsigned char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

static int bad_surrogate(struct parser *p, size_t i)
{
	return fail(p, i, "lone surrogate %.6s", (const char *)p->s + i);
}

/* Decode one \ escape at i (before end) into o; advances *ip, *op. */
static int unescape(struct parser *p, size_t *ip, size_t end,
		    unsigned char *o, size_t *op)
{
	size_t i = *ip;
	unsigned char e = p->s[i + 1];
	long cp, lo;

	switch (e) {
	case '"': case '\\': case '/':
		o[(*op)++] = e;
		break;
	case 'b':
		o[(*op)++] = '\b';
		break;
	case 'f':
		o[(*op)++] = '\f';
		break;
	case 'n':
		o[(*op)++] = '\n';
		break;
	case 'r':
		o[(*op)++] = '\r';
		break;
	case 't':
		o[(*op)++] = '\t';
		break;
	case 'u':
		cp = hex4(p, i, end);
		if (cp < 0)
			return fail(p, i, "invalid \\u escape (expected 4 hex "
				    "digits)");
		if (cp == 0)
			return fail(p, i, "\\u0000 is not allowed");
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return bad_surrogate(p, i);
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (i + 12 > end || p->s[i + 6] != '\\' ||
			    p->s[i + 7] != 'u')
				return bad_surrogate(p, i);
			lo = hex4(p, i + 6, end);
			if (lo < 0xDC00 || lo > 0xDFFF)
				return bad_surrogate(p, i);
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			i += 6;
		}
		*op += utf8_put(o + *op, (uint32_t)cp);
		i += 4;
		break;
	default:
		if (e > 0x20 && e < 0x7F)
			return fail(p, i, "invalid escape \\%c", e);
		return fail(p, i, "invalid escape (backslash followed by "
			    "byte 0x%02X)", e);
	}
	*ip = i + 2;
	return 0;
}

/* The string whose opening quote is at p->pos: decoded, NUL-terminated,
 * in the arena. */
static int parse_string(struct parser *p, const char **out, size_t *outlen)
{
	const unsigned char *s = p->s;
	size_t open = p->pos, end = open + 1, i, o = 0, span;
	unsigned char *buf;
	int rc;

	/* Pass 1: find where the string stops (closing quote, a control
	 * character, or the end of input) to size the buffer. */
	while (end < p->len) {
		unsigned char c = s[end];

		if (c == '"' || c < 0x20)
			break;
		if (c == '\\') {
			if (end + 1 >= p->len) {
				end = p->len;
				break;
			}
			end += 2;
			continue;
		}
		end++;
	}

	/* Pass 2: check and decode, so errors come out in text order. */
	span = end - (open + 1);
	buf = arena_alloc(p->doc, span + 1, 1);
	if (buf == NULL)
		return no_memory(p);
	i = open + 1;
	while (i < end) {
		unsigned char c = s[i];

		if (c == '\\') {
			if (i + 1 >= end)
				break;	/* backslash at end of input */
			rc = unescape(p, &i, end, buf, &o);
			if (rc < 0)
				return rc;
		} else if (c < 0x80) {
			buf[o++] = c;
			i++;
		} else {
			size_t k = utf8_seq(s + i, end - i);

			if (k == 0)
				return fail(p, i, "invalid UTF-8");
			memcpy(buf + o, s + i, k);
			o += k;
			i += k;
		}
	}
	if (end >= p->len)
		return fail(p, open, "unterminated string");
	if (s[end] != '"')
		return fail(p, end, "control character in string");
	buf[o] = '\0';
	arena_shrink(p->doc, buf, span + 1, o + 1);
	*out = (const char *)buf;
	*outlen = o;
	p->pos = end + 1;
	return 0;
}

/* ---- numbers and literals ---- */

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       is_digit(c) || c == '_';
}

static int parse_number(struct parser *p, struct jt_node *n)
{
	const unsigned char *s = p->s;
	size_t start = p->pos, i = start, len;
	uint64_t u = 0;
	int neg = 0, wide = 0, frac = 0;

	n->type = JT_NUMBER;
	if (s[i] == '-') {
		neg = 1;
		i++;
	}
	if (i >= p->len || !is_digit(s[i]))
		return fail(p, i, "expected a digit after '-'");
	if (s[i] == '0') {
		i++;
		if (i < p->len && is_digit(s[i]))
			return fail(p, i - 1, "leading zero");
	} else {
		while (i < p->len && is_digit(s[i])) {
			unsigned d = s[i] - '0';

			if (u > (UINT64_MAX - d) / 10)
				wide = 1;
			else
				u = u * 10 + d;
			i++;
		}
	}
	if (i < p->len && s[i] == '.') {
		frac = 1;
		i++;
		if (i >= p->len || !is_digit(s[i]))
			return fail(p, i, "expected a digit after '.'");
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		frac = 1;
		i++;
		if (i < p->len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->len || !is_digit(s[i]))
			return fail(p, i, "expected a digit in the exponent");
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	p->pos = i;
	len = i - start;

	if (!frac && !wide && (neg ? u <= (uint64_t)INT64_MAX + 1 :
			       u <= (uint64_t)INT64_MAX)) {
		n->is_int = 1;
		if (neg)
			n->i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
				-(int64_t)u;
		else
			n->i = (int64_t)u;
		/* int64 -> double rounds to nearest, as strtod would */
		n->num = neg && u == 0 ? -0.0 : (double)n->i;
		return 0;
	}

	/* strtod needs a terminated copy; the text is already known to be a
	 * plain decimal number, so strtod's extras (hex, inf) cannot occur. */
	{
		char small[NUM_STACK], *buf = small;

		if (len >= sizeof(small)) {
			buf = malloc(len + 1);
			if (buf == NULL)
				return no_memory(p);
		}
		memcpy(buf, s + start, len);
		buf[len] = '\0';
		n->num = strtod(buf, NULL);
		if (buf != small)
			free(buf);
	}
	if (isinf(n->num))
		return fail(p, start, "number out of range");
	return 0;
}

static int parse_word(struct parser *p, struct jt_node *n)
{
	size_t start = p->pos, i = start;
	size_t len;

	while (i < p->len && is_word(p->s[i]))
		i++;
	len = i - start;
	if (len == 4 && memcmp(p->s + start, "true", 4) == 0) {
		n->type = JT_BOOL;
		n->b = 1;
	} else if (len == 5 && memcmp(p->s + start, "false", 5) == 0) {
		n->type = JT_BOOL;
	} else if (len == 4 && memcmp(p->s + start, "null", 4) == 0) {
		n->type = JT_NULL;
	} else {
		return fail(p, start, "unexpected word \"%.*s%s\" (the JSON "
			    "literals are true, false and null)",
			    (int)(len > 32 ? 32 : len),
			    (const char *)p->s + start, len > 32 ? "..." : "");
	}
	p->pos = i;
	return 0;
}

/* ---- structure ---- */

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		unsigned char c = p->s[p->pos];

		if (c == '\n') {
			p->line++;
			p->line_start = p->pos + 1;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			break;
		}
		p->pos++;
	}
}

static int parse_value(struct parser *p, struct jt_node *n, int depth);

static int bad_value(struct parser *p)
{
	unsigned char c = p->s[p->pos];
	char what[80];

	switch (c) {
	case '\'':
		return fail(p, p->pos, "strings must use double quotes");
	case '/':
		return fail(p, p->pos, "comments are not allowed");
	case '+':
		return fail(p, p->pos, "numbers may not start with '+'");
	case '.':
		return fail(p, p->pos, "numbers need a digit before '.'");
	default:
		break;
	}
	describe(p, p->pos, what, sizeof(what));
	return fail(p, p->pos, "expected a value, found %s", what);
}

static int unterminated(struct parser *p, const struct jt_node *n)
{
	return fail(p, p->len, "unterminated %s (opened at %d:%d)",
		    n->type == JT_ARRAY ? "array" : "object", n->line, n->col);
}

/* Step past the opening bracket of a container at depth. */
static int enter(struct parser *p, int depth)
{
	if (depth > JT_MAX_DEPTH)
		return fail(p, p->pos, "nesting deeper than %d", JT_MAX_DEPTH);
	p->pos++;
	skip_ws(p);
	return 0;
}

static int parse_array(struct parser *p, struct jt_node *arr, int depth)
{
	struct jt_node *tail = NULL, *e;
	int rc;

	arr->type = JT_ARRAY;
	rc = enter(p, depth);
	if (rc < 0)
		return rc;
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (p->pos >= p->len)
			return unterminated(p, arr);
		if (p->s[p->pos] == ']')
			return fail(p, p->pos, "trailing comma before ']'");
		e = new_node(p);
		if (e == NULL)
			return no_memory(p);
		rc = parse_value(p, e, depth);
		if (rc < 0)
			return rc;
		if (tail == NULL)
			arr->kids = e;
		else
			tail->next = e;
		tail = e;
		arr->n++;
		skip_ws(p);
		if (p->pos >= p->len)
			return unterminated(p, arr);
		if (p->s[p->pos] == ']') {
			p->pos++;
			return 0;
		}
		if (p->s[p->pos] != ',')
			return fail(p, p->pos,
				    "expected ',' or ']' after an element");
		p->pos++;
		skip_ws(p);
	}
}

static uint64_t key_hash(const struct parser *p, const char *k)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ p->seed;

	while (*k != '\0') {
		h ^= (unsigned char)*k++;
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

/* Put m in the set unless a member with its key is there already; that
 * one is returned instead.  *oom set when the table cannot grow. */
static const struct jt_node *keyset_add(const struct parser *p,
					 struct keyset *ks,
					 const struct jt_node *m, int *oom)
{
	size_t i;

	if ((ks->count + 1) * 2 > ks->cap) {
		size_t ncap = ks->cap ? ks->cap * 2 : 64, j;
		const struct jt_node **nt = calloc(ncap, sizeof(*nt));

		if (nt == NULL) {
			*oom = 1;
			return NULL;
		}
		for (j = 0; j < ks->cap; j++) {
			if (ks->tab[j] == NULL)
				continue;
			i = key_hash(p, ks->tab[j]->key) & (ncap - 1);
			while (nt[i] != NULL)
				i = (i + 1) & (ncap - 1);
			nt[i] = ks->tab[j];
		}
		free(ks->tab);
		ks->tab = nt;
		ks->cap = ncap;
	}
	i = key_hash(p, m->key) & (ks->cap - 1);
	while (ks->tab[i] != NULL) {
		if (strcmp(ks->tab[i]->key, m->key) == 0)
			return ks->tab[i];
		i = (i + 1) & (ks->cap - 1);
	}
	ks->tab[i] = m;
	ks->count++;
	return NULL;
}

/* The earlier member of obj with m's key, or NULL.  Small objects are
 * scanned; from DUP_LINEAR members on, a hash set keeps it linear. */
static int find_dup(struct parser *p, const struct jt_node *obj,
		    struct keyset *ks, const struct jt_node *m,
		    const struct jt_node **dup)
{
	const struct jt_node *k;
	int oom = 0;

	*dup = NULL;
	if (obj->n < DUP_LINEAR) {
		for (k = obj->kids; k != NULL; k = k->next) {
			if (strcmp(k->key, m->key) == 0) {
				*dup = k;
				break;
			}
		}
		return 0;
	}
	if (ks->cap == 0) {
		for (k = obj->kids; k != NULL; k = k->next) {
			keyset_add(p, ks, k, &oom);
			if (oom)
				return no_memory(p);
		}
	}
	*dup = keyset_add(p, ks, m, &oom);
	return oom ? no_memory(p) : 0;
}

static int parse_members(struct parser *p, struct jt_node *obj, int depth,
			 struct keyset *ks)
{
	struct jt_node *tail = NULL, *m;
	const struct jt_node *dup;
	size_t klen, kpos;
	char what[80];
	int rc;

	for (;;) {
		if (p->pos >= p->len)
			return unterminated(p, obj);
		if (p->s[p->pos] != '"') {
			unsigned char c = p->s[p->pos];

			if (c == '}' && tail != NULL)
				return fail(p, p->pos,
					    "trailing comma before '}'");
			if (c == '\'')
				return fail(p, p->pos, "strings must use "
					    "double quotes");
			if (c == '/')
				return fail(p, p->pos,
					    "comments are not allowed");
			if (is_word(c))
				return fail(p, p->pos, "member names must be "
					    "in double quotes");
			describe(p, p->pos, what, sizeof(what));
			return fail(p, p->pos, "expected a member name (a "
				    "string), found %s", what);
		}
		m = new_node(p);
		if (m == NULL)
			return no_memory(p);
		kpos = p->pos;
		m->key_line = p->line;
		m->key_col = col_at(p, kpos);
		rc = parse_string(p, &m->key, &klen);
		if (rc < 0)
			return rc;
		rc = find_dup(p, obj, ks, m, &dup);
		if (rc < 0)
			return rc;
		if (dup != NULL) {
			show_key(m->key, what, sizeof(what));
			return fail(p, kpos,
				    "duplicate key \"%s\" (first at %d:%d)",
				    what, dup->key_line, dup->key_col);
		}
		skip_ws(p);
		if (p->pos >= p->len)
			return unterminated(p, obj);
		if (p->s[p->pos] != ':')
			return fail(p, p->pos,
				    "expected ':' after the member name");
		p->pos++;
		skip_ws(p);
		if (p->pos >= p->len)
			return unterminated(p, obj);
		rc = parse_value(p, m, depth);
		if (rc < 0)
			return rc;
		if (tail == NULL)
			obj->kids = m;
		else
			tail->next = m;
		tail = m;
		obj->n++;
		skip_ws(p);
		if (p->pos >= p->len)
			return unterminated(p, obj);
		if (p->s[p->pos] == '}') {
			p->pos++;
			return 0;
		}
		if (p->s[p->pos] != ',')
			return fail(p, p->pos,
				    "expected ',' or '}' after a member");
		p->pos++;
		skip_ws(p);
	}
}

static int parse_object(struct parser *p, struct jt_node *obj, int depth)
{
	struct keyset ks = { NULL, 0, 0 };
	int rc;

	obj->type = JT_OBJECT;
	rc = enter(p, depth);
	if (rc < 0)
		return rc;
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		return 0;
	}
	rc = parse_members(p, obj, depth, &ks);
	free(ks.tab);
	return rc;
}

/* A value starts at p->pos (not whitespace, not the end of input). */
static int parse_value(struct parser *p, struct jt_node *n, int depth)
{
	unsigned char c = p->s[p->pos];

	n->line = p->line;
	n->col = col_at(p, p->pos);
	switch (c) {
	case '{':
		return parse_object(p, n, depth + 1);
	case '[':
		return parse_array(p, n, depth + 1);
	case '"':
		n->type = JT_STRING;
		return parse_string(p, &n->s, &n->len);
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return parse_number(p, n);
	default:
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			return parse_word(p, n);
		return bad_value(p);
	}
}

/* ---- public ---- */

void jt_free(struct jt_doc *d)
{
	struct blk *b, *next;

	if (d == NULL)
		return;
	for (b = d->cur; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(d);
}

int jt_parse(const char *text, size_t len, struct jt_doc **out, char *err,
	     size_t errlen)
{
	struct parser p;
	struct jt_doc *d;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(&p, 0, sizeof(p));
	p.s = (const unsigned char *)(text != NULL ? text : "");
	p.len = text != NULL ? len : 0;
	p.line = 1;
	p.err = err;
	p.errlen = errlen;
	/* Columns and lines are ints. */
	if (p.len > INT_MAX - 1)
		return fail(&p, 0, "document larger than 2 GiB");
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return no_memory(&p);
	d->next_cap = ARENA_FIRST_BLOCK;
	p.doc = d;
	/* A per-document hash seed (the address, which ASLR varies), so a
	 * set of colliding keys is harder to prepare in advance. */
	p.seed = (uint64_t)(uintptr_t)d * 0x9E3779B97F4A7C15ULL;

	if (p.len >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0) {
		rc = fail(&p, 0, "byte order mark (U+FEFF) is not allowed");
		goto out;
	}
	skip_ws(&p);
	if (p.pos >= p.len) {
		rc = fail(&p, 0, "empty document");
		goto out;
	}
	d->root = new_node(&p);
	if (d->root == NULL) {
		rc = no_memory(&p);
		goto out;
	}
	rc = parse_value(&p, d->root, 0);
	if (rc < 0)
		goto out;
	skip_ws(&p);
	if (p.pos < p.len) {
		rc = fail(&p, p.pos, "unexpected data after the value");
		goto out;
	}
	*out = d;
	return 0;
out:
	jt_free(d);
	return rc;
}

const struct jt_node *jt_root(const struct jt_doc *d)
{
	return d != NULL ? d->root : NULL;
}

const struct jt_node *jt_get(const struct jt_node *obj, const char *key)
{
	const struct jt_node *m;

	if (obj == NULL || key == NULL || obj->type != JT_OBJECT)
		return NULL;
	for (m = obj->kids; m != NULL; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

const char *jt_type_name(enum jt_type t)
{
	switch (t) {
	case JT_NULL:
		return "null";
	case JT_BOOL:
		return "boolean";
	case JT_NUMBER:
		return "number";
	case JT_STRING:
		return "string";
	case JT_ARRAY:
		return "array";
	case JT_OBJECT:
		return "object";
	}
	return "unknown";
}

/* ---- writing ---- */

static void buf_fail(struct jt_buf *b, int err)
{
	if (b->err == 0)
		b->err = err;
}

static void buf_add(struct jt_buf *b, const void *s, size_t n)
{
	if (b->err != 0)
		return;
	if (b->p == NULL || n >= b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (n >= cap - b->len) {
			if (cap > SIZE_MAX / 2) {
				buf_fail(b, -ENOMEM);
				return;
			}
			cap *= 2;
		}
		np = realloc(b->p, cap);
		if (np == NULL) {
			buf_fail(b, -ENOMEM);
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void jt_buf_str(struct jt_buf *b, const char *s, size_t len)
{
	size_t i = 0;

	buf_add(b, "\"", 1);
	while (i < len) {
		size_t run = i;
		unsigned char c;
		char esc[8];

		/* the plain stretch in one copy */
		while (run < len && (unsigned char)s[run] >= 0x20 &&
		       s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			buf_add(b, s + i, run - i);
			i = run;
			continue;
		}
		c = (unsigned char)s[i++];
		switch (c) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		case '\b':
			buf_add(b, "\\b", 2);
			break;
		case '\f':
			buf_add(b, "\\f", 2);
			break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			buf_add(b, esc, 6);
			break;
		}
	}
	buf_add(b, "\"", 1);
}

static void buf_num(struct jt_buf *b, const struct jt_node *n)
{
	char t[40];
	int k = 0;

	if (n->is_int) {
		k = snprintf(t, sizeof(t), "%" PRId64, n->i);
		buf_add(b, t, (size_t)k);
		return;
	}
	if (!isfinite(n->num)) {
		buf_fail(b, -EINVAL);
		return;
	}
	/* %.17g always reads back; most values need fewer digits */
	for (int prec = 15; prec <= 17; prec++) {
		k = snprintf(t, sizeof(t), "%.*g", prec, n->num);
		if (strtod(t, NULL) == n->num)
			break;
	}
	buf_add(b, t, (size_t)k);
	if (strpbrk(t, ".e") == NULL)
		buf_add(b, ".0", 2);
}

/* level: containers around n */
static void buf_node(struct jt_buf *b, const struct jt_node *n, int level)
{
	switch (n->type) {
	case JT_NULL:
		buf_add(b, "null", 4);
		return;
	case JT_BOOL:
		if (n->b)
			buf_add(b, "true", 4);
		else
			buf_add(b, "false", 5);
		return;
	case JT_NUMBER:
		buf_num(b, n);
		return;
	case JT_STRING:
		jt_buf_str(b, n->s != NULL ? n->s : "", n->s != NULL ? n->len : 0);
		return;
	case JT_ARRAY:
	case JT_OBJECT:
		break;
	default:
		buf_fail(b, -EINVAL);
		return;
	}
	if (level >= JT_MAX_DEPTH) {
		buf_fail(b, -E2BIG);
		return;
	}
	buf_add(b, n->type == JT_ARRAY ? "[" : "{", 1);
	for (const struct jt_node *k = n->kids; k != NULL && b->err == 0;
	     k = k->next) {
		if (k != n->kids)
			buf_add(b, ",", 1);
		if (n->type == JT_OBJECT) {
			const char *key = k->key != NULL ? k->key : "";

			jt_buf_str(b, key, strlen(key));
			buf_add(b, ":", 1);
		}
		buf_node(b, k, level + 1);
	}
	buf_add(b, n->type == JT_ARRAY ? "]" : "}", 1);
}

void jt_buf_node(struct jt_buf *b, const struct jt_node *n)
{
	if (n == NULL)
		buf_fail(b, -EINVAL);
	else
		buf_node(b, n, 0);
}

int jt_write(const struct jt_node *n, char **out, size_t *len)
{
	struct jt_buf b = { 0 };

	*out = NULL;
	*len = 0;
	jt_buf_node(&b, n);
	if (b.err != 0) {
		free(b.p);
		return b.err;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
