/*
 * fsutil: the two file-system chores several parts share: making the
 * state directory (ledger, registry, wicketctl before wicketd's first
 * start) and reading a whole bounded file (rules, test cases, imports).
 */
#ifndef WICKET_FSUTIL_H
#define WICKET_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p dir with that mode for the directories it makes.  0 or -errno. */
int fs_mkdirs(const char *dir, mode_t mode);
/* Read the whole file (path "-": standard input) of at most max bytes into
 * a malloc'd, NUL-terminated buffer.  0, or -errno (-EFBIG: larger than
 * max); *text is NULL on failure. */
int fs_read_file(const char *path, size_t max, char **text, size_t *len);

#endif
