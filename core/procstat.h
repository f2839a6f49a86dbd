/*
 * The standard process_* metrics of the Prometheus exposition (CPU time, resident and
 * virtual memory, descriptors open and allowed, start time), read from /proc at scrape time.
 * The parsers are pure functions over a buffer so that unit tests feed them odd inputs (a
 * command name holding ") (", a truncated line); the reader never blocks on anything but
 * procfs and reads a bounded number of bytes per file.
 */
#ifndef SY_CORE_PROCSTAT_H
#define SY_CORE_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROCSTAT_STAT_MAX  1024 /* bytes of /proc/self/stat read: the line is ~300 bytes */
#define PROCSTAT_LINE_MAX  256  /* bytes of one /proc/stat line looked at for "btime" */

/* What /proc/self/stat says, already in seconds and bytes. */
struct procstat_stat {
	double   cpu_seconds;   /* utime + stime */
	double   start_ticks_s; /* starttime: seconds after boot */
	uint64_t vsize_bytes;
	uint64_t rss_bytes;
};

/*
 * Parses the text of /proc/PID/stat (len bytes, need not be NUL-terminated). The command
 * name may hold any byte, ')' included, so fields are counted from the LAST ')'. Returns 0,
 * or -1 when a field is missing or not a number. clk_tck and page_size must be > 0.
 */
int procstat_parse_stat(const char *buf, size_t len, long clk_tck, long page_size,
    struct procstat_stat *out);

/* Parses one /proc/stat line: 0 and *btime when it is "btime N", -1 otherwise. */
int procstat_parse_btime(const char *line, uint64_t *btime);

/* Writes the process_* families for this process; a value /proc cannot give is left out. */
void procstat_render(FILE *out);

#endif
