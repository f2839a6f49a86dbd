/*
 * The one logging module: leveled lines to stderr (or a file later), level checked before
 * any formatting so disabled levels cost a branch. libevent's own messages are routed here.
 * It must never log secrets; callers pass only public values.
 */
#ifndef SY_CORE_LOG_H
#define SY_CORE_LOG_H

#include <stdbool.h>

/* Not LOG_INFO etc.: those names belong to <syslog.h>. */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

extern enum log_level log_threshold;

/* Sets the most verbose level that is written. */
void log_set_level(enum log_level level);

/* Parses "error|warn|info|debug"; returns false on anything else. */
bool log_level_parse(const char *s, enum log_level *out);

/* Writes one line "time level message" to stderr; use the macros below. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends libevent's internal warnings and errors through log_write. */
void log_route_libevent(void);

#define log_at(lvl, ...) \
	do { \
		if ((lvl) <= log_threshold) \
			log_write((lvl), __VA_ARGS__); \
	} while (0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
