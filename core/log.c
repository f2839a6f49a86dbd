/*
 * Leveled logging to stderr with an ISO-8601 UTC timestamp. One write(2) per line so lines
 * from several workers do not interleave. Must never block the event loop for long: a
 * line is formatted into a fixed buffer and truncated, never allocated.
 */
#include "core/log.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048 /* longer lines are cut and end in "..." */

enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const log_names[] = { "error", "warn", "info", "debug" };

/* Sets the most verbose level that is written. */
void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

/* Parses a level name as used in the configuration. */
bool
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

/* Formats "YYYY-MM-DDTHH:MM:SS.mmmZ level message\n" and writes it in one call. */
void
log_write(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	struct timeval tv;
	struct tm tm;
	size_t n;
	va_list ap;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	int w = snprintf(line + n, sizeof line - n, ".%03ldZ %s ", (long)(tv.tv_usec / 1000),
	    log_names[level]);
	if (w > 0)
		n += (size_t)w;
	va_start(ap, fmt);
	w = vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	if (w < 0)
		w = 0;
	if ((size_t)w >= sizeof line - n) {
		n = sizeof line - 5;
		memcpy(line + n, "...", 3);
		n += 3;
	} else {
		n += (size_t)w;
	}
	line[n++] = '\n';
	/* Best effort: a failed log write has nowhere better to be reported. */
	ssize_t rc = write(STDERR_FILENO, line, n);
	(void)rc;
}

/* libevent severity -> our level. */
static void
log_libevent_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_ERR:
		log_error("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warn("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_debug("libevent: %s", msg);
		break;
	}
}

/* Routes libevent's messages through log_write. */
void
log_route_libevent(void)
{
	event_set_log_callback(log_libevent_cb);
}
