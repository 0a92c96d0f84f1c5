/* libFuzzer: jsontree on arbitrary bytes.  Must never crash, leak or read
 * past len; on success the tree must be well formed (counts match the
 * sibling lists, keys exactly on object members, strings NUL-terminated
 * valid UTF-8 without NULs, positions strictly increasing in document
 * order, depth within JT_MAX_DEPTH); on failure the message must start
 * with "LINE:COL: ". */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsontree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct walk {
	int line, col;		/* the last position seen */
	size_t lines;		/* newlines in the input + 1 */
};

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], k, j;
		uint32_t cp;

		check(c != 0);
		if (c < 0x80) {
			i++;
			continue;
		}
		k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
		check(c >= 0xC2 && c <= 0xF4 && i + k <= len);
		cp = c & (0x7F >> k);
		for (j = 1; j < k; j++) {
			check((s[i + j] & 0xC0) == 0x80);
			cp = (cp << 6) | (s[i + j] & 0x3F);
		}
		check(cp >= (k == 2 ? 0x80u : k == 3 ? 0x800u : 0x10000u));
		check(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF));
		i += k;
	}
	check(s[len] == '\0');
}

/* Position p must come strictly after the last one seen. */
static void advance(struct walk *w, int line, int col)
{
	check(line >= 1 && col >= 1 && (size_t)line <= w->lines);
	check(line > w->line || (line == w->line && col > w->col));
	w->line = line;
	w->col = col;
}

static void walk_node(struct walk *w, const struct jt_node *n, int depth,
		      int in_object)
{
	const struct jt_node *k;
	size_t count = 0;

	check(depth <= JT_MAX_DEPTH + 1);
	if (in_object) {
		check(n->key != NULL);
		check_utf8((const unsigned char *)n->key, strlen(n->key));
		advance(w, n->key_line, n->key_col);
	} else {
		check(n->key == NULL && n->key_line == 0 && n->key_col == 0);
	}
	advance(w, n->line, n->col);
	switch (n->type) {
	case JT_NULL:
		break;
	case JT_BOOL:
		check(n->b == 0 || n->b == 1);
		break;
	case JT_NUMBER:
		check(n->num == n->num);	/* not NaN */
		check(n->num - n->num == 0);	/* not infinite */
		if (n->is_int)
			check((double)n->i == n->num);
		break;
	case JT_STRING:
		check(n->s != NULL && strlen(n->s) == n->len);
		check_utf8((const unsigned char *)n->s, n->len);
		break;
	case JT_ARRAY:
	case JT_OBJECT:
		check(depth + 1 <= JT_MAX_DEPTH);
		check((n->n == 0) == (n->kids == NULL));
		for (k = n->kids; k != NULL; k = k->next) {
			walk_node(w, k, depth + 1, n->type == JT_OBJECT);
			count++;
		}
		check(count == n->n);
		/* no duplicate keys, and jt_get finds every member (kept
		 * to small objects: it is linear per call) */
		if (n->type == JT_OBJECT && n->n <= 64)
			for (k = n->kids; k != NULL; k = k->next)
				check(jt_get(n, k->key) == k);
		if (n->type == JT_ARRAY && n->kids != NULL)
			check(jt_get(n, "") == NULL);
		break;
	default:
		check(0);
	}
}

static void check_err(const char *err)
{
	const char *p = err;

	check(*p >= '1' && *p <= '9');
	while (*p >= '0' && *p <= '9')
		p++;
	check(*p++ == ':');
	check(*p >= '1' && *p <= '9');
	while (*p >= '0' && *p <= '9')
		p++;
	check(p[0] == ':' && p[1] == ' ' && p[2] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jt_doc *d = NULL;
	char err[256], small[6];
	int rc;

	rc = jt_parse((const char *)data, size, &d, err, sizeof(err));
	if (rc == 0) {
		struct walk w = { 0, 0, 1 };
		size_t i;

		for (i = 0; i < size; i++)
			if (data[i] == '\n')
				w.lines++;
		check(jt_root(d) != NULL);
		walk_node(&w, jt_root(d), 0, 0);
		jt_free(d);
		return 0;
	}
	check(rc == -EINVAL && d == NULL);
	check_err(err);
	/* the same answer with a tiny buffer, and with none */
	check(jt_parse((const char *)data, size, &d, small, sizeof(small)) ==
	      rc);
	check(strlen(small) < sizeof(small) && memcmp(small, err,
						      strlen(small)) == 0);
	check(jt_parse((const char *)data, size, &d, NULL, 0) == rc);
	return 0;
}
