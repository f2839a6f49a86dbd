/*
 * Timeouts that never fire early (see deadline.h): the coarse clock's lag is measured at each
 * add and added to the timeout. No state of its own, no system call: CLOCK_MONOTONIC and
 * CLOCK_MONOTONIC_COARSE are vDSO reads, event_base_update_cache_time reads the same.
 */
#include "core/deadline.h"

#include <sys/time.h>
#include <time.h>


/* Nanoseconds on clock id; clock_gettime(2) cannot fail for these ids and a valid pointer. */
static int64_t
deadline_ns(clockid_t id)
{
	struct timespec ts;
	(void)clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* tv lengthened by us microseconds (us >= 0). */
static struct timeval
deadline_plus(const struct timeval *tv, int64_t us)
{
	int64_t t = (int64_t)tv->tv_usec + us;
	struct timeval out = { .tv_sec = tv->tv_sec + (time_t)(t / 1000000),
		.tv_usec = (suseconds_t)(t % 1000000) };
	return out;
}

/* ms as a timeval. */
static struct timeval
deadline_tv(uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
	return tv;
}

/*
 * The timeout to hand to libevent on base for tv from now. The order is what makes it
 * safe: the coarse clock is read first, libevent's cached time after it (so that cache is
 * at least our coarse reading, whichever clock libevent uses), the precise clock last (so
 * it is at least the true "now" of the add). libevent's deadline is cache + result >=
 * coarse + tv + (precise - coarse) = precise + tv.
 */
static struct timeval
deadline_for(struct event_base *base, const struct timeval *tv)
{
	if (tv->tv_sec == 0 && tv->tv_usec == 0)
		return *tv; /* "next iteration" cannot be early */
	int64_t coarse = deadline_ns(CLOCK_MONOTONIC_COARSE);
	(void)event_base_update_cache_time(base); /* -1 only for a NULL base */
	int64_t lag = deadline_ns(CLOCK_MONOTONIC) - coarse;
	return deadline_plus(tv, lag > 0 ? (lag + 999) / 1000 : 0);
}

/* Adds ev with a timeout of at least ms (see deadline.h). */
int
deadline_add(struct event *ev, uint64_t ms)
{
	struct timeval tv = deadline_tv(ms);
	return deadline_add_tv(ev, &tv);
}

/* Adds ev with a timeout of at least tv (see deadline.h). */
int
deadline_add_tv(struct event *ev, const struct timeval *tv)
{
	struct timeval at = deadline_for(event_get_base(ev), tv);
	return event_add(ev, &at);
}

/* A one-shot callback at least ms from now (see deadline.h). */
int
deadline_once(struct event_base *base, event_callback_fn cb, void *arg, uint64_t ms)
{
	struct timeval tv = deadline_tv(ms);
	struct timeval at = deadline_for(base, &tv);
	return event_base_once(base, -1, EV_TIMEOUT, cb, arg, &at);
}
