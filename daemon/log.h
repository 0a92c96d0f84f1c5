/*
 * log: levelled messages to stderr, or to the journal (with the priority
 * as a field) when systemd connected our stderr to it.  Thread-safe.
 */
#ifndef WICKET_LOG_H
#define WICKET_LOG_H

#include <stdarg.h>

#include <wicket/plugin.h>

void log_init(int level);
void log_set_level(int level);
/* From the command line: later log_set_level() calls (config) are ignored. */
void log_pin_level(int level);
int log_get_level(void);
/* "err", "warning", "notice", "info", "debug"; 0 or -EINVAL */
int log_parse_level(const char *s, int *out);
void log_msg(int level, const char *fmt, ...) WK_PRINTF(2, 3);
void log_vmsg(int level, const char *fmt, va_list ap) WK_PRINTF(2, 0);

#define log_err(...) log_msg(WK_LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(WK_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(WK_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(WK_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(WK_LOG_DEBUG, __VA_ARGS__)

#endif
