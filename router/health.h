/*
 * Active TCP health checks (upstream health_check: interval, timeout, rise, fall), run on
 * the main thread's loop so workers only read the verdict (an atomic per server). A server
 * starts up; `fall` failed connects in a row take it down, `rise` successes bring it back.
 */
#ifndef SY_ROUTER_HEALTH_H
#define SY_ROUTER_HEALTH_H

#include "router/gen.h"

struct event_base;

/* Starts checks for every server of g's upstreams that have health_check. */
void health_start(struct event_base *base, struct gen *g);

/* Stops and frees every check started for the generation running now. */
void health_stop(void);

#endif
