/*
 * Choosing an upstream server: round_robin, random, source (hash of the client address)
 * and least_conn, skipping servers an active health check holds down and servers a recent
 * connect failure marked (GEN_PASSIVE_DOWN_MS). Lock-free: health and load are atomics,
 * the round-robin cursor is per worker.
 */
#ifndef SY_ROUTER_UPSTREAM_H
#define SY_ROUTER_UPSTREAM_H

#include <stdint.h>
#include <sys/socket.h>

#include "router/gen.h"

/* Servers tried per connection: the bits of the tried mask. The loader refuses upstreams with
 * more servers (CONF_UPSTREAM_SERVERS_MAX), so every server can be picked. */
#define UPSTREAM_TRY_MAX 64
_Static_assert(CONF_UPSTREAM_SERVERS_MAX <= UPSTREAM_TRY_MAX,
    "an upstream may have more servers than the balancer can pick");

struct worker;

/*
 * Next server to try for a connection, never one already in *tried (which it updates).
 * Prefers servers neither health-down nor passively marked; when only marked ones remain it
 * offers those (a passive mark is a guess, a health check a measurement). NULL: none left.
 */
struct server_rt *upstream_pick(struct upstream_rt *u, struct worker *w, sa_family_t family,
    const uint8_t ip[16], uint64_t *tried);

/* Marks a server after a failed connect. */
void upstream_mark_failed(struct server_rt *s);

#endif
