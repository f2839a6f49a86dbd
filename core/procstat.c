/*
 * process_* metrics from /proc (see procstat.h). Called on the admin listener's loop at each
 * scrape: every read is bounded (PROCSTAT_STAT_MAX bytes of /proc/self/stat, /proc/stat
 * line by line until "btime", once per process life), and the descriptor count walks
 * /proc/self/fd, whose size RLIMIT_NOFILE bounds. Nothing here allocates per scrape beyond
 * what opendir(3) does.
 */
#include "core/procstat.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Reads the next space-separated unsigned decimal field at *p (before end); -1 if none. */
static int
procstat_field(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	while (s < end && *s == ' ')
		s++;
	if (s == end || *s < '0' || *s > '9') {
		/* A negative field (priority, nice) is skipped, not parsed: we never need one. */
		if (s < end && *s == '-') {
			while (s < end && *s != ' ')
				s++;
			*p = s;
			*v = 0;
			return 0;
		}
		return -1;
	}
	uint64_t n = 0;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (s < end && *s != ' ' && *s != '\n')
		return -1;
	*p = s;
	*v = n;
	return 0;
}

/* Fields of proc(5) "/proc/pid/stat", counted from 1; the ones we read. */
#define PS_STATE     3
#define PS_UTIME     14
#define PS_STIME     15
#define PS_STARTTIME 22
#define PS_VSIZE     23
#define PS_RSS       24

/* Parses /proc/PID/stat text; see procstat.h. */
int
procstat_parse_stat(const char *buf, size_t len, long clk_tck, long page_size,
    struct procstat_stat *out)
{
	const char *end = buf + len, *rp = NULL;
	for (const char *s = buf; s < end; s++)
		if (*s == ')')
			rp = s;
	if (rp == NULL || clk_tck <= 0 || page_size <= 0)
		return -1;
	/* After ") " comes the one-letter state (field 3), then numbers. */
	const char *p = rp + 1;
	if (end - p < 3 || p[0] != ' ' || p[2] != ' ')
		return -1;
	p += 2;
	uint64_t f[PS_RSS + 1] = { 0 };
	for (int i = PS_STATE + 1; i <= PS_RSS; i++)
		if (procstat_field(&p, end, &f[i]) == -1)
			return -1;
	out->cpu_seconds = (double)(f[PS_UTIME] + f[PS_STIME]) / (double)clk_tck;
	out->start_ticks_s = (double)f[PS_STARTTIME] / (double)clk_tck;
	out->vsize_bytes = f[PS_VSIZE];
	out->rss_bytes = f[PS_RSS] * (uint64_t)page_size;
	return 0;
}

/* Parses one /proc/stat line for "btime N"; see procstat.h. */
int
procstat_parse_btime(const char *line, uint64_t *btime)
{
	if (strncmp(line, "btime ", 6) != 0)
		return -1;
	const char *p = line + 5;
	size_t n = strlen(p);
	return procstat_field(&p, p + n, btime);
}

/* Boot time in seconds since the epoch, read once (it does not change); 0 when unknown. */
static uint64_t
procstat_btime(void)
{
	static uint64_t btime;
	static int tried;
	if (tried)
		return btime;
	tried = 1;
	FILE *f = fopen("/proc/stat", "re");
	if (f == NULL)
		return 0;
	char line[PROCSTAT_LINE_MAX];
	while (fgets(line, sizeof line, f) != NULL) {
		size_t n = strlen(line);
		if (procstat_parse_btime(line, &btime) == 0)
			break;
		/* A line longer than the buffer ("intr ..."): skip its rest. */
		while (n > 0 && line[n - 1] != '\n' && fgets(line, sizeof line, f) != NULL)
			n = strlen(line);
	}
	fclose(f);
	return btime;
}

/* Counts this process's open descriptors (the directory's own excluded); -1 on failure,
 * e.g. when the process is out of descriptors itself. */
static long
procstat_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	long n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Writes one family header and a sample. */
static void
procstat_metric(FILE *out, const char *name, const char *type, const char *help, int decimals,
    double v)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.*f\n", name, help, name, type, name, decimals, v);
}

/* Renders the process_* families; see procstat.h. */
void
procstat_render(FILE *out)
{
	char buf[PROCSTAT_STAT_MAX];
	struct procstat_stat st;
	ssize_t n = -1;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd != -1) {
		n = read(fd, buf, sizeof buf);
		close(fd);
	}
	if (n > 0 && procstat_parse_stat(buf, (size_t)n, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE),
	    &st) == 0) {
		procstat_metric(out, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.", 2, st.cpu_seconds);
		procstat_metric(out, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.", 0, (double)st.rss_bytes);
		procstat_metric(out, "process_virtual_memory_bytes", "gauge",
		    "Virtual memory size in bytes.", 0, (double)st.vsize_bytes);
		uint64_t bt = procstat_btime();
		if (bt != 0)
			procstat_metric(out, "process_start_time_seconds", "gauge",
			    "Start time of the process since unix epoch in seconds.", 2,
			    (double)bt + st.start_ticks_s);
	}
	long fds = procstat_open_fds();
	if (fds >= 0)
		procstat_metric(out, "process_open_fds", "gauge", "Number of open file descriptors.",
		    0, (double)fds);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		procstat_metric(out, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.", 0, (double)rl.rlim_cur);
}
