/* libFuzzer: the registry's import parsers and the CSV reader on arbitrary
 * bytes.  The first byte selects what the rest is:
 *
 *   0  a JSON import file      1  a CSV import file
 *   2  raw CSV (csv_next)      3  a time (reg_parse_time)
 *
 * plus 4: import a clean file into a fresh in-memory database (merge or,
 * with 8, replace).  Must never crash, leak or read out of bounds; the
 * error count must match the errors reported; a file that imports must
 * export to JSON that parses and imports again to the same export. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void count_error(void *ctx, const char *file, int line,
			const char *field, const char *msg)
{
	int *n = ctx;

	(void)field;
	check(file != NULL && line >= 0 && msg != NULL && *msg != '\0');
	(*n)++;
}

static char *export_json(struct reg_db *db, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	check(f != NULL);
	check(reg_export(db, REG_JSON, NULL, f) == 0);
	fclose(f);
	return buf;
}

/* import b into a fresh database; when it imports, export, re-import
 * the export elsewhere and compare */
static void round_trip(struct reg_batch *b, int replace)
{
	struct reg_db *db1 = NULL, *db2 = NULL;
	struct reg_batch *again = NULL;
	char err[256], *x1, *x2;
	size_t l1, l2;
	int n = 0, rc;

	check(reg_db_open(":memory:", &db1, err, sizeof(err)) == 0);
	rc = reg_import(db1, &b, 1, replace, count_error, &n);
	check(rc >= 0 && rc == n);
	if (rc > 0) {
		reg_db_close(db1);
		return;
	}
	x1 = export_json(db1, &l1);
	n = 0;
	rc = reg_batch_parse(x1, l1, "export.json", REG_JSON, &again,
			     count_error, &n);
	check(rc == 0 && n == 0);
	check(reg_db_open(":memory:", &db2, err, sizeof(err)) == 0);
	check(reg_import(db2, &again, 1, 0, count_error, &n) == 0);
	x2 = export_json(db2, &l2);
	check(l1 == l2 && memcmp(x1, x2, l1) == 0);
	free(x1);
	free(x2);
	reg_batch_free(again);
	reg_db_close(db1);
	reg_db_close(db2);
}

static void raw_csv(const char *text, size_t len)
{
	struct csv c;
	int last = 0, rc;

	csv_init(&c, text, len);
	while ((rc = csv_next(&c)) == 1) {
		check(csv_line(&c) > last);
		last = csv_line(&c);
		check(csv_count(&c) >= 1 && csv_count(&c) <= CSV_FIELDS_MAX);
		for (size_t i = 0; i < csv_count(&c); i++) {
			size_t n;
			const char *f = csv_field(&c, i, &n);

			check(n <= CSV_FIELD_MAX && strlen(f) == n);
		}
	}
	check(rc == 0 || (rc == -EINVAL && c.err_line >= last &&
			  c.err[0] != '\0'));
	csv_fini(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	struct reg_batch *b = NULL;
	int sel, n = 0, rc;

	if (size == 0)
		return 0;
	sel = data[0] & 3;
	if (sel == 2) {
		raw_csv(text, len);
		return 0;
	}
	if (sel == 3) {
		char buf[64], err[160];
		int64_t t;

		if (len >= sizeof(buf))
			return 0;
		memcpy(buf, text, len);
		buf[len] = '\0';
		if (reg_parse_time(buf, data[0] & 4, &t, err, sizeof(err)) == 0)
			check(t >= 0 && t < UINT32_MAX);
		else
			check(err[0] != '\0');
		return 0;
	}
	rc = reg_batch_parse(text, len, "fuzz", sel ? REG_CSV : REG_JSON, &b,
			     count_error, &n);
	check(rc != -ENOMEM);
	/* every error reported (the 101st says "too many" and ends it) */
	check(rc >= 0 && rc <= 101 && rc == n && (rc == 0) == (b != NULL));
	if (rc == 0 && (data[0] & 4))
		round_trip(b, (data[0] & 8) != 0);
	reg_batch_free(b);
	return 0;
}
