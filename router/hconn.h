/*
 * One client connection through an http listener (`kind: http`, DESIGN.md §1): PROXY in
 * (trusted peers only), each request head parsed and routed by Host, then forwarded to an
 * upstream with X-Forwarded-For / X-Real-IP / X-Forwarded-Proto / Forwarded rewritten and,
 * when the upstream wants it, a PROXY header first (keep-alive and pipelining on one upstream
 * connection, responses framed and matched to their requests), answered with a 301 to
 * https, or handed to the terminator's site. One access-log line per request and one at
 * close. The struct is private to hconn.c; what it shares with conn.c is router/edge.h.
 */
#ifndef SY_ROUTER_HCONN_H
#define SY_ROUTER_HCONN_H

#include <sys/socket.h>

#include "router/gen.h"

struct worker;

/* Takes ownership of fd, accepted on http listener l of the worker's current generation. */
void hconn_accept(struct worker *w, struct listener_rt *l, int fd,
    const struct sockaddr_storage *peer);

#endif
