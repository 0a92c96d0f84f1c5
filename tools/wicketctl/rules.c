/*
 * wicketctl rules: check a rules file, or run test cases against one.
 *
 *   wicketctl rules check FILE
 *   wicketctl rules test RULES CASES
 *
 * Both read files only; nothing here talks to a running wicketd, so an
 * administrator can check and test a policy anywhere before pushing it to
 * the gates.  The cases are parsed and run by rcase_*() in daemon/rules.c,
 * the same code the unit tests use on the shipped policy, so "passes here"
 * and "passes in make check" mean the same thing.
 *
 * Errors are printed as FILE:LINE:COL: PATH: message, one per line, so that
 * editors can jump to them.  With --json, check prints one object and test
 * an array of results on standard output.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "rules.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wicketctl [--json] rules check FILE\n"
		"       wicketctl [--json] rules test RULES CASES\n"
		"\n"
		"  check  validate a rules file; print \"FILE: OK (version V, N rules)\"\n"
		"         or every error as FILE:LINE:COL: PATH: message\n"
		"  test   run the test cases of CASES against the rules of RULES;\n"
		"         print a table of results (--json: an array)\n"
		"\n"
		"Exit status: 0 valid / every case passed, 1 an invalid file or a\n"
		"failed case, 2 bad usage.  See wicketctl(1) and docs/rules.md.\n");
}

/* A JSON string: quotes, backslashes and control characters escaped,
 * UTF-8 passed through (the parser only lets valid UTF-8 in). */
static void put_json_str(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

/* --- errors -------------------------------------------------------------- */

struct errlist {
	int json;
	size_t n;
	char **v;		/* "where\0path\0message" each, for --json */
};

static void on_error(void *ctx, const char *where, const char *path,
		     const char *msg)
{
	struct errlist *e = ctx;
	size_t lw = strlen(where) + 1, lp = strlen(path) + 1;
	size_t lm = strlen(msg) + 1;
	char **nv, *s;

	if (!e->json) {
		fprintf(stderr, "%s: %s: %s\n", where, path, msg);
		return;
	}
	nv = realloc(e->v, (e->n + 1) * sizeof(*nv));
	s = malloc(lw + lp + lm);
	if (nv == NULL || s == NULL) {
		if (nv)
			e->v = nv;
		free(s);
		fprintf(stderr, "%s: %s: %s\n", where, path, msg);
		return;
	}
	e->v = nv;
	memcpy(s, where, lw);
	memcpy(s + lw, path, lp);
	memcpy(s + lw + lp, msg, lm);
	e->v[e->n++] = s;
}

static void errlist_free(struct errlist *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
}

static void put_errors(FILE *f, const struct errlist *e)
{
	fputc('[', f);
	for (size_t i = 0; i < e->n; i++) {
		const char *w = e->v[i], *p = w + strlen(w) + 1;
		const char *m = p + strlen(p) + 1;

		fputs(i ? ",{\"where\":" : "{\"where\":", f);
		put_json_str(f, w);
		fputs(",\"path\":", f);
		put_json_str(f, p);
		fputs(",\"message\":", f);
		put_json_str(f, m);
		fputc('}', f);
	}
	fputc(']', f);
}

/* Parse the sub-command's own options (--help, --json); returns the index
 * of the first operand, or -1 after printing usage (*rc set). */
static int sub_options(int argc, char **argv, int *json, int *rc)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			*rc = CTL_OK;
			return -1;
		case 'j':
			*json = 1;
			break;
		default:
			usage(stderr);
			*rc = CTL_USAGE;
			return -1;
		}
	}
	return optind;
}

static void load_failed(const char *path, int rc)
{
	if (rc < 0)
		fprintf(stderr, "wicketctl: %s: %s\n", path, strerror(-rc));
}

/* --- check --------------------------------------------------------------- */

static int cmd_check(int json, int argc, char **argv)
{
	struct errlist e = { .json = json };
	struct rules *r = NULL;
	const char *path;
	int rc, first;

	first = sub_options(argc, argv, &json, &rc);
	if (first < 0)
		return rc;
	e.json = json;
	if (argc - first != 1) {
		usage(stderr);
		return CTL_USAGE;
	}
	path = argv[first];
	rc = rules_load(path, &r, on_error, &e);
	if (json) {
		fputs("{\"file\":", stdout);
		put_json_str(stdout, path);
		if (rc == 0)
			printf(",\"ok\":true,\"version\":%lld,\"rules\":%zu,"
			       "\"errors\":[]}\n",
			       (long long)rules_version(r), rules_count(r));
		else {
			fputs(",\"ok\":false,\"errors\":", stdout);
			put_errors(stdout, &e);
			fputs("}\n", stdout);
		}
	} else if (rc == 0) {
		printf("%s: OK (version %lld, %zu rule%s)\n", path,
		       (long long)rules_version(r), rules_count(r),
		       rules_count(r) == 1 ? "" : "s");
	}
	load_failed(path, rc);
	errlist_free(&e);
	rules_free(r);
	return rc == 0 ? CTL_OK : CTL_FAIL;
}

/* --- test ---------------------------------------------------------------- */

/* Display width of UTF-8 text, counting code points. */
static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Print s padded to w columns, cut (at a character) when longer; control
 * characters shown as '?' so that a name cannot break the table. */
static void cell(const char *s, size_t w)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c & 0xc0) != 0x80 && n++ == w)
			break;
		putchar(c < 0x20 || c == 0x7f ? '?' : c);
	}
	for (; n < w; n++)
		putchar(' ');
}

#define NAME_W_MAX 40

static void print_table(const struct rcase_set *cs, const char *cases_path,
			const struct rules_verdict *got, const int *bad)
{
	size_t n = rcase_count(cs), wn = 9, we = 8, wg = 3, wr = 6;
	char buf[160];

	for (size_t i = 0; i < n; i++) {
		const struct rcase *c = rcase_get(cs, i);
		size_t w = width(c->name);

		if (w > wn)
			wn = w > NAME_W_MAX ? NAME_W_MAX : w;
		w = strlen(rules_decision_name(c->decision)) + 1 +
		    strlen(c->rule);
		if (w > we)
			we = w;
		w = strlen(rules_decision_name(got[i].decision)) + 1 +
		    strlen(got[i].rule);
		if (w > wg)
			wg = w;
		if (strlen(got[i].reason) > wr)
			wr = strlen(got[i].reason);
	}
	printf("%4s  ", "#");
	cell("case name", wn);
	printf("  ");
	cell("expected", we);
	printf("  ");
	cell("got", wg);
	printf("  ");
	cell("reason", wr);
	printf("  result\n");
	for (size_t i = 0; i < n; i++) {
		const struct rcase *c = rcase_get(cs, i);

		printf("%4zu  ", i + 1);
		cell(c->name, wn);
		printf("  ");
		snprintf(buf, sizeof(buf), "%s/%s",
			 rules_decision_name(c->decision), c->rule);
		cell(buf, we);
		printf("  ");
		snprintf(buf, sizeof(buf), "%s/%s",
			 rules_decision_name(got[i].decision), got[i].rule);
		cell(buf, wg);
		printf("  ");
		cell(got[i].reason, wr);
		printf("  %s\n", bad[i] ? "FAIL" : "ok");
		if (!bad[i])
			continue;
		printf("%6s%s:%d:%d\n", "", cases_path, c->line, c->col);
		if (bad[i] & RCASE_REASON)
			printf("%6sreason: expected %s, got %s\n", "",
			       c->reason, got[i].reason);
		if (bad[i] & RCASE_ALARM)
			printf("%6salarm: expected %s, got %s\n", "",
			       rules_severity_name((enum rules_severity)c->alarm),
			       rules_severity_name(got[i].alarm));
	}
}

static void print_json(const struct rcase_set *cs,
		       const struct rules_verdict *got, const int *bad)
{
	size_t n = rcase_count(cs);

	putchar('[');
	for (size_t i = 0; i < n; i++) {
		const struct rcase *c = rcase_get(cs, i);

		printf("%s\n{\"case\":%zu,\"name\":", i ? "," : "", i + 1);
		put_json_str(stdout, c->name);
		printf(",\"line\":%d,\"expect\":{\"decision\":\"%s\",\"rule\":",
		       c->line, rules_decision_name(c->decision));
		put_json_str(stdout, c->rule);
		if (c->reason)
			printf(",\"reason\":\"%s\"", c->reason);
		if (c->alarm >= 0)
			printf(",\"alarm\":\"%s\"",
			       rules_severity_name((enum rules_severity)c->alarm));
		printf("},\"got\":{\"decision\":\"%s\",\"rule\":",
		       rules_decision_name(got[i].decision));
		put_json_str(stdout, got[i].rule);
		printf(",\"reason\":\"%s\",\"alarm\":\"%s\",\"message\":",
		       got[i].reason, rules_severity_name(got[i].alarm));
		put_json_str(stdout, got[i].message);
		printf("},\"ok\":%s}", bad[i] ? "false" : "true");
	}
	printf("\n]\n");
}

static int cmd_test(int json, int argc, char **argv)
{
	struct errlist e = { 0 };
	struct rcase_set *cs = NULL;
	struct rules_verdict *got = NULL;
	struct rules *r = NULL;
	size_t n, failed = 0;
	int *bad = NULL;
	int rc, rc2, first;

	first = sub_options(argc, argv, &json, &rc);
	if (first < 0)
		return rc;
	if (argc - first != 2) {
		usage(stderr);
		return CTL_USAGE;
	}
	/* both files are checked, so that one run shows all their errors */
	rc = rules_load(argv[first], &r, on_error, &e);
	load_failed(argv[first], rc);
	rc2 = rcase_load(argv[first + 1], &cs, on_error, &e);
	load_failed(argv[first + 1], rc2);
	if (rc != 0 || rc2 != 0)
		goto out;
	n = rcase_count(cs);
	got = calloc(n, sizeof(*got));
	bad = calloc(n, sizeof(*bad));
	if (got == NULL || bad == NULL) {
		fprintf(stderr, "wicketctl: out of memory\n");
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		bad[i] = rcase_run(r, rcase_get(cs, i), &got[i]);
		failed += bad[i] != 0;
	}
	if (json) {
		print_json(cs, got, bad);
	} else {
		print_table(cs, argv[first + 1], got, bad);
		printf("%zu case%s: %zu passed, %zu failed\n", n,
		       n == 1 ? "" : "s", n - failed, failed);
	}
out:
	free(got);
	free(bad);
	rcase_free(cs);
	rules_free(r);
	return rc == 0 && rc2 == 0 && failed == 0 ? CTL_OK : CTL_FAIL;
}

int ctl_rules(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(o->json, argc - 1, argv + 1);
	if (strcmp(argv[1], "test") == 0)
		return cmd_test(o->json, argc - 1, argv + 1);
	fprintf(stderr, "wicketctl rules: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CTL_USAGE;
}
