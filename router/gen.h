/*
 * A generation: the runtime form of one loaded configuration. The main thread builds it
 * (route hash tables, upstream server state, listening sockets, metric entries), then hands
 * it to every worker; connections keep the generation they started on until they close, so
 * a reload never changes an established connection's route. A generation is never modified
 * after it is published, except the atomics marked so (server health and load).
 */
#ifndef SY_ROUTER_GEN_H
#define SY_ROUTER_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/conf-t.h"
#include "core/pad.h"
#include "core/stats.h"

#define GEN_PASSIVE_DOWN_MS 10000 /* a server whose connect failed is skipped this long */

/* One listen address, with one SO_REUSEPORT socket per worker. Shared by generations. */
struct lsock {
	struct conf_addr addr;
	int             *fd;     /* [workers] */
	int              refs;   /* atomic: generations holding it */
};

/* A cache line apart from its neighbours (pad_calloc, aligned): every worker adds to and
 * subtracts from `active` on every upstream connection; servers packed together would make
 * a connection to one server cost a cache miss on the next. */
struct server_rt {
	_Alignas(PAD_LINE) struct conf_addr addr;
	char                label[64];    /* "ip:port" for logs and metrics */
	struct stats_entry *stats;        /* gauge_up mirrors hc_up */
	int                 hc_up;        /* atomic: active health verdict, 1 up */
	uint64_t            down_until;   /* atomic: passive mark, monotonic ms */
	int                 active;       /* atomic: open connections, for least_conn */
	unsigned            hc_ok, hc_fail; /* consecutive results (main thread) */
};

struct upstream_rt {
	const struct conf_upstream *conf;
	struct server_rt           *servers;
	size_t                      nservers;
	struct pad_u32             *rr;  /* [workers]: round-robin cursor, one writer each; a
	                                    cache line each (no false sharing) */
};

struct route_rt {
	const struct conf_route *conf;
	struct upstream_rt      *up;    /* CONF_ACTION_UPSTREAM only */
	struct stats_entry      *stats;
	char                     label[80]; /* first pattern or "default" */
};

/* Open-addressing table from a normalised name to a route. */
struct rtable {
	const char     **keys;
	size_t          *lens;
	struct route_rt **vals;
	size_t           mask;   /* size - 1; size is a power of two, 0 when empty */
};

struct listener_rt {
	const struct conf_listener *conf;
	struct route_rt            *routes;   /* [conf->nroutes] */
	struct route_rt             def;
	struct rtable               exact, wild; /* wild keys are the part after "*." */
	struct stats_entry         *stats;
	struct stats_entry         *hstats;   /* STATS_HTTP: TLS handshakes, HTTP statuses */
	struct lsock              **socks;    /* [conf->nlisten] */
};

struct term;

struct gen {
	uint64_t            id;
	unsigned            workers;
	struct conf        *conf;          /* owned */
	struct listener_rt *listeners;
	size_t              nlisteners;
	struct upstream_rt *upstreams;
	size_t              nupstreams;
	int                 refs;          /* atomic: main's + one per worker using it */
	struct pad_u32     *wconns;        /* [workers]: connections on this generation, one
	                                      writer each, a cache line each (core/pad.h) */
	struct term        *term;          /* the terminator of this configuration (owned; never
	                                      NULL: gen_build fails when it cannot be built) */
};

/*
 * Builds a generation from conf (taking ownership of it), binding the listen addresses not
 * already bound by prev (which may be NULL) and carrying over server health from prev.
 * Returns NULL with a message in err (cap bytes) when a socket cannot be bound.
 */
struct gen *gen_build(struct conf *conf, const struct gen *prev, unsigned workers, uint64_t id,
    char *err, size_t cap);

/* Takes a reference. */
void gen_ref(struct gen *g);

/* Drops a reference; the last one frees the generation and closes sockets no newer
 * generation holds. Safe from any thread. */
void gen_unref(struct gen *g);

/* Finds the route for a normalised name: exact, then one-label wildcard, then NULL. */
struct route_rt *gen_route(struct listener_rt *l, const char *name, size_t len);

/* Monotonic milliseconds, for passive marks and timers. */
uint64_t gen_now_ms(void);

#endif
