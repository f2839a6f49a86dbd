/*
 * The fair yield of a callback that used up its budget with work left (yield.c): run it
 * again, but only after the loop has polled, so that sockets that became ready meanwhile
 * get their turn first.
 *
 * Why not event_active alone: libevent runs an event activated from inside a callback in
 * the same pass over the active queue, before it polls again. A bulk relay that
 * re-activated itself after RELAY_BUDGET calls therefore ran on, pass after pass of its
 * own, until its peer blocked it; every other connection of the worker waited for that,
 * however little it had to do (with 1 MiB pipes, megabytes later). event_base_loopcontinue
 * ends the pass after the current callback: what was already active stays queued in order,
 * with the yielding event last, and the loop polls (without blocking, since events are
 * active) and appends what became ready. So a socket that became ready while others yield
 * waits for at most one more turn of each of them, not until they block. Cost: one
 * epoll_wait per yield, none when nothing yields.
 */
#ifndef SY_CORE_YIELD_H
#define SY_CORE_YIELD_H

#include <event2/event.h>

/* Activates ev (with res as its result flags) to run after the loop's next poll. */
void yield_event(struct event *ev, short res);

#endif
