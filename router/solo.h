/*
 * One worker on the calling thread, built from a YAML string: the process set-up main does
 * once, a generation (routes, upstreams, the terminator, bound listen sockets) and a worker
 * without its thread, signals, admin listener or health checks. For unit tests and fuzz
 * harnesses that drive the real connection code over their own sockets (a socketpair as the
 * client, a listening socket of theirs as the upstream). Never used by the daemon.
 *
 *   solo_init_process(err, cap)            once per process
 *   solo_start(&s, yaml, len, err, cap)    then, per configuration:
 *   solo_accept(&s, "edge-http", fd, &peer)   hand over client sockets
 *   solo_run(&s, false) ...                run the loop (non-blocking rounds)
 *   solo_stop(&s)                          close, free, unbind
 */
#ifndef SY_ROUTER_SOLO_H
#define SY_ROUTER_SOLO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "router/worker.h"

struct solo {
	struct gen    *gen;    /* the caller's reference (as main holds one) */
	struct worker  w;      /* id 0 of 1 */
};

/* What main does once before any generation: libsodium, the terminator's process state,
 * the metrics registry for one worker, the per-IP hash key and the connection-id prefix.
 * 0, or -1 with a message in err (cap bytes). */
int solo_init_process(char *err, size_t cap);

/* Loads yaml (len bytes, named "solo.yaml" in messages), builds its generation and a worker
 * on it. Listen addresses are bound as the daemon binds them (pick free ports). 0, or -1
 * with the loader's or the builder's message in err. */
int solo_start(struct solo *s, const char *yaml, size_t len, char *err, size_t cap);

/* Hands fd (connected; made non-blocking here) to the listener named listener as if it had
 * been accepted from peer. False when no such listener exists or the connection was refused
 * (fd closed either way). */
bool solo_accept(struct solo *s, const char *listener, int fd,
    const struct sockaddr_storage *peer);

/* Runs one round of the worker's loop: block waits for at least one event, else only what
 * is ready now runs (timers included when due). */
void solo_run(struct solo *s, bool block);

/* Closes every connection, frees the worker and drops the generation (sockets unbound). */
void solo_stop(struct solo *s);

#endif
