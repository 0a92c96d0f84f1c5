/*
 * confval: parse config values strictly.  Shared by the daemon, the plugins
 * and wicket-sim, so "port = 15o2" is the same error everywhere.
 * Each returns 0, -EINVAL (not a value of that kind) or -ERANGE.
 * Whole numbers are decimal, or hexadecimal with a 0x prefix.
 */
#ifndef WICKET_CONFVAL_H
#define WICKET_CONFVAL_H

int cv_long(const char *s, long min, long max, long *out);
int cv_double(const char *s, double min, double max, double *out);
/* yes/no, true/false, on/off, 1/0 */
int cv_bool(const char *s, int *out);
/* One hex digit (either case) to 0..15, or -1. */
int cv_hexdigit(int c);

#endif
