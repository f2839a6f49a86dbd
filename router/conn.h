/*
 * One client connection through a TLS listener (`kind: tls`): PROXY in (when the peer is
 * trusted), ClientHello pre-read, routing, upstream connect with failover, PROXY out, relay,
 * close with one access-log line. The struct is private to conn.c; what it shares with
 * hconn.c (the other listener kind) is router/edge.h, and edge_drain_all / edge_close_all
 * reach its connections.
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

#endif
