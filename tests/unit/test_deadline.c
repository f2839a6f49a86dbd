/*
 * core/deadline.c: a timeout armed through it never fires before the time asked for has
 * passed on CLOCK_MONOTONIC, counted from just before the call, on a loop with libevent's
 * default (coarse) clock, as the workers run since they dropped EVENT_BASE_FLAG_PRECISE_TIMER.
 * A thread writes to a pipe every 150 us so that the loop wakes up often for other reasons:
 * that is when a deadline counted from the coarse clock (which lags by up to a tick) is seen
 * as passed early. With plain adds in place of deadline_* (a copy built aside), 20 to 90 of
 * each 150 fired early here (by up to 3 ms); none may. Each timer is armed from the previous one's
 * callback after a little work, as the router does, and the first before the loop runs.
 */
#include "check.h"

#include "core/deadline.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS      150  /* timers per kind */
#define LATE_MAX_NS 1000000000 /* a timer that is a second late is broken, not slow */

static struct event_base *base;
static int noise_fd[2];
static atomic_int noise_stop;

static int64_t t0, early, late_max, fired;
static uint64_t want_ms;
static int round_no;
static struct event *ev;

/* CLOCK_MONOTONIC in ns. */
static int64_t
now_ns(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Records how the timer armed at t0 for want_ms fired. */
static void
record(void)
{
	int64_t late = now_ns() - t0 - (int64_t)want_ms * 1000000;
	fired++;
	if (late < 0)
		early++;
	if (late > late_max)
		late_max = late;
}

/* Some work between the wake-up and the next add, so libevent's cached time is older. */
static void
busy(void)
{
	static volatile unsigned sink;
	for (unsigned i = 0; i < (unsigned)(round_no * 997 % 50000); i++)
		sink = sink + i;
}

/* Wakes the loop every 150 us until told to stop. */
static void *
noise_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&noise_stop)) {
		if (write(noise_fd[1], "x", 1) == -1)
			break;
		usleep(150);
	}
	return NULL;
}

/* Drains the noise pipe. */
static void
noise_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];
	(void)what;
	(void)arg;
	if (read(fd, buf, sizeof buf) == -1)
		return;
}

/* deadline_add chain: record, then arm the next one. */
static void
add_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	record();
	if (++round_no == ROUNDS) {
		event_base_loopbreak(base);
		return;
	}
	busy();
	want_ms = 1 + (uint64_t)round_no % 8;
	t0 = now_ns();
	CHECK(deadline_add(ev, want_ms) == 0);
}

/* deadline_once chain. */
static void
once_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	record();
	if (++round_no == ROUNDS) {
		event_base_loopbreak(base);
		return;
	}
	busy();
	want_ms = 1 + (uint64_t)round_no % 8;
	t0 = now_ns();
	CHECK(deadline_once(base, once_cb, NULL, want_ms) == 0);
}

/* Runs the loop for one chain and checks its record. */
static void
run(const char *what)
{
	CHECK(event_base_dispatch(base) == 0);
	CHECKF(fired == ROUNDS, "%s: %lld of %d fired", what, (long long)fired, ROUNDS);
	CHECKF(early == 0, "%s: %lld of %d timers fired early", what, (long long)early, ROUNDS);
	CHECKF(late_max < LATE_MAX_NS, "%s: one fired %lld ns late", what, (long long)late_max);
	printf("%s: %lld fired, %lld early, latest %.3f ms late\n", what, (long long)fired,
	    (long long)early, (double)late_max / 1e6);
	fired = early = late_max = 0;
	round_no = 0;
}

int
main(void)
{
	pthread_t th;
	base = event_base_new();
	CHECK(base != NULL);
	CHECK(pipe(noise_fd) == 0);
	struct event *nev = event_new(base, noise_fd[0], EV_READ | EV_PERSIST, noise_cb, NULL);
	CHECK(nev != NULL && event_add(nev, NULL) == 0);
	CHECK(pthread_create(&th, NULL, noise_main, NULL) == 0);

	ev = evtimer_new(base, add_cb, NULL);
	want_ms = 4;
	t0 = now_ns();
	CHECK(deadline_add(ev, want_ms) == 0); /* before the loop runs: no cached time */
	run("deadline_add");

	want_ms = 4;
	t0 = now_ns();
	CHECK(deadline_once(base, once_cb, NULL, want_ms) == 0);
	run("deadline_once");

	/* A zero timeout is "at the next iteration" and stays so. */
	struct timeval zero = { 0, 0 };
	want_ms = 0;
	round_no = ROUNDS - 1;
	t0 = now_ns();
	CHECK(deadline_add_tv(ev, &zero) == 0);
	CHECK(event_base_dispatch(base) == 0);
	CHECK(fired == 1 && early == 0 && late_max < 100000000);
	fired = early = late_max = 0;
	round_no = 0;


	atomic_store(&noise_stop, 1);
	CHECK(pthread_join(th, NULL) == 0);
	event_free(ev);
	event_free(nev);
	event_base_free(base);
	close(noise_fd[0]);
	close(noise_fd[1]);
	return check_summary();
}
