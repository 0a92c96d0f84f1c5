/*
 * log: one line per message on stderr.  Under systemd (JOURNAL_STREAM set)
 * each line starts with its syslog priority, "<3>", which the journal
 * takes as the message's priority (and adds its own timestamp); otherwise
 * with a timestamp and the level, so the demo and the tests can read them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static atomic_int log_level = WK_LOG_INFO;
static int log_journal;
static atomic_int log_pinned;

static const char *const level_names[] = {
	[WK_LOG_ERR] = "err",
	[WK_LOG_WARNING] = "warning",
	[WK_LOG_NOTICE] = "notice",
	[WK_LOG_INFO] = "info",
	[WK_LOG_DEBUG] = "debug",
};

void log_init(int level)
{
	log_level = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(int level)
{
	if (!log_pinned)
		log_level = level;
}

void log_pin_level(int level)
{
	log_level = level;
	log_pinned = 1;
}

int log_get_level(void)
{
	return log_level;
}

int log_parse_level(const char *s, int *out)
{
	for (int i = WK_LOG_ERR; i <= WK_LOG_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	char msg[1024];
	struct timespec ts;
	struct tm tm;

	if (level > log_level)
		return;
	if (level < WK_LOG_ERR)
		level = WK_LOG_ERR;
	if (level > WK_LOG_DEBUG)
		level = WK_LOG_DEBUG;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", level, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld wicketd %s: %s\n", tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level],
		msg);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
