/*
 * One client connection through a TLS or HTTP listener: PROXY in (when the peer is
 * trusted), ClientHello pre-read, routing, upstream connect with failover, PROXY out, relay,
 * close with one access-log line. The struct is private to conn.c.
 */
#ifndef SY_ROUTER_CONN_H
#define SY_ROUTER_CONN_H

#include <sys/socket.h>

#include "router/gen.h"

struct worker;

/* Takes ownership of fd, accepted on listener l of the worker's current generation. */
void conn_accept(struct worker *w, struct listener_rt *l, int fd, const struct sockaddr_storage *peer);

/* Draws the process-wide random values connections use; once, at start. */
void conn_init_process(void);

/* Shutdown has begun: terminated connections close at their next idle moment. */
void conn_drain_all(struct worker *w);

/* Closes every connection of the worker (drain deadline passed). */
void conn_close_all(struct worker *w);

#endif
