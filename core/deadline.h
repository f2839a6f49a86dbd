/*
 * Timeouts that never fire early (deadline.c): every timeout armed on a libevent loop in
 * core/, router/, terminator/ and client/ goes through here (scripts/check-timeouts fails the
 * build on a raw one), so that "at least as long as configured" holds without libevent's
 * EVENT_BASE_FLAG_PRECISE_TIMER.
 *
 * Why: with that flag libevent 2.1's epoll backend re-arms a timerfd before every epoll_wait
 * (one timerfd_settime per wake-up: 8 of 42 system calls per passthrough connection, 2 of
 * 8 per keep-alive request, tests/bench/RESULTS.md). Without it libevent keeps time with
 * CLOCK_MONOTONIC_COARSE, which lags the true time by up to one tick (clock_getres: 4 ms at
 * HZ=250), and its "now" is the coarse time read when the loop woke; a deadline counted
 * from there can pass up to a tick before the configured time has. So each add first makes
 * libevent re-read its cached time, then lengthens the timeout by exactly how far the
 * coarse clock was behind the precise one at that instant: the deadline is never before
 * "now + timeout" on CLOCK_MONOTONIC, and it fires at most about a tick late.
 * What it must never do: shorten a timeout, or make a system call (both clocks and
 * libevent's cache refresh are vDSO reads).
 */
#ifndef SY_CORE_DEADLINE_H
#define SY_CORE_DEADLINE_H

#include <stdint.h>

#include <event2/event.h>

struct timeval;

/* Adds ev (pending or not, with or without an fd) with a timeout no shorter than ms from now;
 * event_add's result. */
int deadline_add(struct event *ev, uint64_t ms);

/* As deadline_add, with the timeout as a timeval (a zero one means "at the next loop
 * iteration" and is passed on as is). */
int deadline_add_tv(struct event *ev, const struct timeval *tv);

/* event_base_once(base, -1, EV_TIMEOUT, cb, arg, ...) no sooner than ms from now. */
int deadline_once(struct event_base *base, event_callback_fn cb, void *arg, uint64_t ms);

/* No wrapper for bufferevent_set_timeouts: libevent re-arms those itself at each read and
 * write from the time it cached when the loop woke, which can be any amount behind the true
 * time by then (a busy iteration, a descheduled thread), so no padding makes them "at least".
 * A bufferevent user arms its own timer through deadline_add (router/admin.c). */

#endif
