/*
 * A test shim (LD_PRELOAD), built by tests/integration/clock.sh, never linked into
 * switchyard: it steps the process's wall clock, as NTP or an operator would, without
 * touching the machine's clock. SY_CLOCKJUMP_AFTER_MS after the first wall-clock read (timed
 * on the real monotonic clock), every gettimeofday(2), time(2) and clock_gettime(2) of a
 * CLOCK_REALTIME* clock returns SY_CLOCKJUMP_S seconds more (negative: back). The monotonic
 * clocks are left alone: a program that measures durations with them must not notice.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t jump_after_ms = -1; /* -1: not read yet */
static int64_t jump_s;
static int64_t first_ms = -1;

/* Real monotonic milliseconds, by system call so no wrapper of ours is involved. */
static int64_t
real_mono_ms(void)
{
	struct timespec ts;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == -1)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds to add to a wall-clock read now: 0 before the jump, SY_CLOCKJUMP_S after. */
static int64_t
offset_s(void)
{
	if (jump_after_ms == -1) {
		const char *a = getenv("SY_CLOCKJUMP_AFTER_MS"), *s = getenv("SY_CLOCKJUMP_S");
		jump_after_ms = a != NULL ? atoll(a) : 0;
		jump_s = s != NULL ? atoll(s) : 0;
	}
	int64_t now = real_mono_ms();
	if (first_ms == -1)
		first_ms = now;
	return now - first_ms >= jump_after_ms ? jump_s : 0;
}

/* The wall clock, stepped. */
int
clock_gettime(clockid_t id, struct timespec *ts)
{
	if (syscall(SYS_clock_gettime, id, ts) == -1)
		return -1;
	if (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)
		ts->tv_sec += (time_t)offset_s();
	return 0;
}

/* The wall clock, stepped. */
int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;
	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
	return 0;
}

/* The wall clock, stepped. */
time_t
time(time_t *t)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return (time_t)-1;
	if (t != NULL)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
