/*
 * inifile: read an INI file (libinih) into sections of items that remember
 * their file and line, so every later check can say "file:line: message".
 * Used by the daemon's config, by device profiles and by wicket-sim.
 */
#ifndef WICKET_INIFILE_H
#define WICKET_INIFILE_H

#include <stddef.h>

#include <wicket/plugin.h>

struct ini_section {
	char *name;		/* "" for keys before the first [section] */
	char *file;
	int line;
	size_t n_items;
	struct wk_conf_item *items;	/* key, value, file, line owned here */
};

struct ini_doc {
	char *file;
	int n_lines;
	size_t n_sections;
	struct ini_section *sections;
};

/* Called for each error as it is found; file and line say where. */
typedef void (*ini_error_fn)(void *ctx, const char *file, int line,
			     const char *msg);

/* Read path.  Syntax errors, over-long lines and duplicate keys in one
 * section are reported through err (which may be NULL) and counted in
 * *n_errors; the document holds every well-formed item either way.
 * Returns 0, or -errno when the file cannot be read (also reported). */
int ini_load(const char *path, struct ini_doc **out, ini_error_fn err,
	     void *ctx, int *n_errors);
void ini_free(struct ini_doc *doc);

/* The first section of that name, or NULL. */
const struct ini_section *ini_find(const struct ini_doc *doc,
				   const char *name);
/* The item with that key in sec, or NULL. */
const struct wk_conf_item *ini_get(const struct ini_section *sec,
				   const char *key);

#endif
