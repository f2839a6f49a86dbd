/*
 * The one clock for durations and timeouts: monotonic milliseconds. Wall-clock time
 * (gettimeofday, CLOCK_REALTIME, libevent's event_base_gettimeofday_cached, which adds the
 * wall offset to its monotonic cache) jumps when the clock is stepped (NTP, an operator,
 * a VM resume), and a subtraction of two wall times then closes or stretches every timer.
 * Timestamps that people read (log lines, Date headers) stay wall clock; nothing that is
 * subtracted may use it. CLOCK_MONOTONIC is read through the vDSO: no system call.
 */
#ifndef SY_CORE_CLOCK_H
#define SY_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic milliseconds since an arbitrary start; never goes back, never jumps. */
static inline uint64_t
clock_mono_ms(void)
{
	struct timespec ts;
	/* Cannot fail for CLOCK_MONOTONIC with a valid pointer (clock_gettime(2)). */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
