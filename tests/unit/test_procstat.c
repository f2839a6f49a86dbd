/*
 * Unit test of core/procstat: /proc/PID/stat lines with an ordinary command name, one that
 * holds ") (" and spaces (fields are counted from the last ')'), negative priority and nice,
 * and broken lines (truncated before rss, a letter in a number, no ')'); "btime" lines of
 * /proc/stat; and the rendered process_* families of this very process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/procstat.h"

/* A stat line with utime 250, stime 150, starttime 1000, vsize 8192000, rss 300 pages. */
static const char *
line_for(const char *comm, char *buf, size_t cap)
{
	snprintf(buf, cap, "4242 (%s) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 150 0 0 -2 -5 1 0 "
	    "1000 8192000 300 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n", comm);
	return buf;
}

int
main(void)
{
	char buf[1024];
	struct procstat_stat st;
	const char *comms[] = { "switchyard", "a) (b c) d", ")", "" };
	for (size_t i = 0; i < sizeof comms / sizeof comms[0]; i++) {
		memset(&st, 0, sizeof st);
		line_for(comms[i], buf, sizeof buf);
		CHECKF(procstat_parse_stat(buf, strlen(buf), 100, 4096, &st) == 0, "comm '%s'", comms[i]);
		CHECKF(st.cpu_seconds > 3.999 && st.cpu_seconds < 4.001, "cpu %f", st.cpu_seconds);
		CHECKF(st.start_ticks_s > 9.999 && st.start_ticks_s < 10.001, "start %f", st.start_ticks_s);
		CHECK(st.vsize_bytes == 8192000);
		CHECK(st.rss_bytes == 300 * 4096);
	}
	/* Not NUL-terminated: the length is what counts. */
	line_for("x", buf, sizeof buf);
	CHECK(procstat_parse_stat(buf, strlen(buf) - 1, 100, 4096, &st) == 0);
	/* Truncated right before rss (field 24), and inside the state field. */
	const char *rss = strstr(buf, " 300 ");
	CHECK(rss != NULL && procstat_parse_stat(buf, (size_t)(rss - buf), 100, 4096, &st) == -1);
	CHECK(procstat_parse_stat(buf, strlen("4242 (x) "), 100, 4096, &st) == -1);
	/* A letter inside a number; no ')' at all; a bad tick rate. */
	char bad[1024];
	snprintf(bad, sizeof bad, "%s", buf);
	bad[strstr(bad, " 250 ") - bad + 2] = 'x';
	CHECK(procstat_parse_stat(bad, strlen(bad), 100, 4096, &st) == -1);
	CHECK(procstat_parse_stat("4242 x S 1 2 3", 14, 100, 4096, &st) == -1);
	CHECK(procstat_parse_stat(buf, strlen(buf), 0, 4096, &st) == -1);

	uint64_t bt = 0;
	CHECK(procstat_parse_btime("btime 1700000000\n", &bt) == 0 && bt == 1700000000);
	CHECK(procstat_parse_btime("btime 1700000000", &bt) == 0 && bt == 1700000000);
	CHECK(procstat_parse_btime("btimex 1\n", &bt) == -1);
	CHECK(procstat_parse_btime("cpu 1 2 3\n", &bt) == -1);
	CHECK(procstat_parse_btime("btime \n", &bt) == -1);

	/* This process, rendered: every family once, with sane values. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CHECK(f != NULL);
	procstat_render(f);
	fclose(f);
	const char *names[] = { "process_cpu_seconds_total", "process_resident_memory_bytes",
		"process_virtual_memory_bytes", "process_start_time_seconds", "process_open_fds",
		"process_max_fds" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char want[128];
		snprintf(want, sizeof want, "\n%s ", names[i]);
		const char *at = strstr(text, want);
		CHECKF(at != NULL, "no sample of %s in:\n%s", names[i], text);
		/* CPU time may still round to 0.00 this early; the others are never 0. */
		if (at != NULL)
			CHECKF(strtod(at + strlen(want), NULL) > (i == 0 ? -1 : 0), "%s too small", names[i]);
	}
	const char *fds = strstr(text, "\nprocess_open_fds ");
	/* stdin, stdout, stderr and the memstream's nothing: at least 3. */
	CHECK(fds != NULL && atol(fds + 18) >= 3);
	free(text);
	return check_summary();
}
