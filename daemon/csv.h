/*
 * csv: a strict RFC 4180 reader for files people edit in spreadsheets
 * (the registry's import).  Fields are separated by commas, records by
 * CRLF or LF; a field may be quoted, "" inside quotes is one quote, and a
 * quoted field may span lines.  Every record is reported with the line it
 * starts on, so that an error in a multi-line record still points at the
 * right row.
 *
 * Strict where a lenient reader would guess: a quote inside an unquoted
 * field, anything but a comma or a line end after a closing quote, a
 * carriage return not followed by a line feed, a NUL byte, invalid UTF-8,
 * a field longer than CSV_FIELD_MAX bytes or a record with more than
 * CSV_FIELDS_MAX fields are errors, and reading stops at the first one.
 *
 * Two conveniences for spreadsheet output: a UTF-8 byte order mark at the
 * very start is skipped, and empty lines (nothing between two line ends,
 * outside quotes) are not records.
 */
#ifndef WICKET_CSV_H
#define WICKET_CSV_H

#include <stddef.h>

#define CSV_FIELD_MAX 1024	/* bytes of one field, after unquoting */
#define CSV_FIELDS_MAX 64	/* fields of one record */

struct csv {
	/* private */
	const char *p, *end;
	int line;		/* of p */
	int started;
	char *buf;		/* the current record's fields, NUL-ended */
	size_t cap, used;
	size_t off[CSV_FIELDS_MAX], len[CSV_FIELDS_MAX];
	size_t n;
	int rec_line;
	/* the last error, when csv_next() returned -EINVAL */
	int err_line;
	int err_field;		/* 0-based field of the record, -1: none */
	char err[128];
};

/* Read len bytes of text (not copied: it must outlive the reader). */
void csv_init(struct csv *c, const char *text, size_t len);
void csv_fini(struct csv *c);

/* The next record: 1 when there is one, 0 at the end of the text,
 * -EINVAL on an error (err, err_line and err_field say what and where;
 * every later call returns -EINVAL too), -ENOMEM. */
int csv_next(struct csv *c);

size_t csv_count(const struct csv *c);	/* fields of the record, >= 1 */
/* Field i of the record, NUL-terminated (len: its length, may be NULL);
 * valid until the next csv_next().  "" when i is out of range. */
const char *csv_field(const struct csv *c, size_t i, size_t *len);
int csv_line(const struct csv *c);	/* where the record starts */

#endif
