/*
 * What every client connection of a listener does the same, whatever its kind (conn.c for
 * `kind: tls`, hconn.c for `kind: http`): accept-time bookkeeping (the counts, the
 * generation's reference, per-IP admission, the one timer: a slot in the worker's timer
 * queue, core/timerq.h), the close (one access-log line,
 * the route's counters, every socket, event and count given back) with the struct freed
 * deferred, the upstream connect with failover, and the address helpers. A kind embeds
 * struct edge as its first member and keeps only what is its own; edge.c never looks into
 * a kind.
 *
 * Lifetime (STYLE rule 11): edge_close releases everything a connection holds except its
 * memory, marks it closed and queues it on the worker's dead list, freed from a deferred
 * event once the current callback stack has unwound. So a callback that closed its
 * connection may still read it (e->closed says so) without a use-after-free; functions that
 * may close still return -1, which is how callers know to stop.
 */
#ifndef SY_ROUTER_EDGE_H
#define SY_ROUTER_EDGE_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "core/timerq.h"
#include "router/gen.h"
#include "router/ipcap.h"
#include "router/pp_in.h"

struct worker;
struct term_conn;

/* Why a connection ended, for both kinds: logged once at close (edge_end_str). */
enum edge_end {
	EDGE_END_DONE, EDGE_END_IDLE, EDGE_END_PREREAD_TIMEOUT, EDGE_END_PROXY_TIMEOUT,
	EDGE_END_PROXY_MISSING, EDGE_END_PROXY_INVALID, EDGE_END_PROXY_UNSUPPORTED,
	EDGE_END_PROXY_CLOSED, EDGE_END_REJECTED, EDGE_END_NO_ROUTE, EDGE_END_UPSTREAM_FAILED,
	EDGE_END_UPSTREAM_TIMEOUT, EDGE_END_NO_SERVER, EDGE_END_CLIENT_ERROR,
	EDGE_END_UPSTREAM_ERROR, EDGE_END_SHUTDOWN, EDGE_END_NO_MEMORY, EDGE_END_PROXY_ENCODE,
	EDGE_END_TERMINATED, EDGE_END_TERMINATED_ERROR, EDGE_END_PREREAD_PER_IP,
	EDGE_END_CONNS_PER_IP,
	/* kind: tls */
	EDGE_END_HELLO_CLOSED, EDGE_END_BAD_HELLO,
	/* kind: http */
	EDGE_END_CLIENT_CLOSED, EDGE_END_BAD_REQUEST, EDGE_END_REDIRECT, EDGE_END_BAD_BODY,
	EDGE_END_ROUTE_CHANGE, EDGE_END_CLIENT_CHANGE, EDGE_END_BAD_RESPONSE,
	EDGE_END_COUNT
};

struct edge;

/* A kind's close: logs what is its own, calls edge_close, then frees its own resources. Must
 * do nothing when e->closed (edge_close_all and a late caller may call it again). */
typedef void edge_close_fn(struct edge *e, enum edge_end end);

/* A kind's timer: the deadline armed by edge_timer passed (never early, never after close).
 * The entry is out of the worker's queue: re-arm with edge_timer to wait on. */
typedef void edge_timer_fn(struct edge *e);

/* What a kind does that edge.c calls back (one static instance per kind). */
struct edge_kind {
	edge_close_fn *close;
	edge_timer_fn *timer;
};

struct edge {
	TAILQ_ENTRY(edge)   link;      /* the worker's live list; after close, its dead list */
	const struct edge_kind *kind;  /* the kind's close and timer */
	struct worker      *w;
	struct gen         *gen;       /* the generation it started on (counted in wconns) */
	struct listener_rt *l;
	struct route_rt    *route;     /* NULL before routing */
	struct upstream_rt *up;        /* the upstream of ufd (or of the last one); NULL: none */
	struct server_rt   *server;    /* the server of the last connect attempt; NULL: none */
	struct term_conn   *tc;        /* handed to the terminator, which owns cfd; NULL: not */
	int                 cfd, ufd;  /* -1: none */
	struct event        cev, uev;  /* client, upstream */
	uint64_t            start_ms, last_ms; /* monotonic: accept, last progress */
	uint64_t            tried;     /* servers tried (upstream_pick) */
	struct ipcap_hold   ipcap;     /* per-source-IP counts, taken after PROXY in */
	struct timerq_entry tent;      /* the one timer: a slot in the worker's queue (w->tq)
	                                  instead of a 128-byte libevent event of its own */
	uint8_t             end;       /* enum edge_end, once closed */
	uint8_t             attempts;  /* connect attempts for the current upstream connection */
	uint8_t             pp_sent;   /* CONF_PP_*: the PROXY header really sent (for the log) */
	bool                c_rd, c_wr, u_rd, u_wr; /* edge-triggered readiness not yet used up */
	/* One bit each: with the bytes above they fill the struct's last 8 bytes (issue 12:
	 * every byte here is in every idle connection). */
	bool                preread_counted : 1; /* in the listener's pre-read gauge */
	bool                counted_active : 1;  /* in the server's active count (least_conn) */
	bool                last_timeout : 1;    /* the last connect attempt timed out */
	bool                fast_open : 1;       /* the kind sends its head with the SYN when the
	                                            upstream asks for fast_open (conn.c only) */
	bool                closed : 1; /* edge_close ran: only the memory is left */
};

/* What a kind adds to the access-log line and the route's counters at close. */
struct edge_log {
	const char *sni;          /* kind tls: the SNI; kind http: the Host; NULL: none */
	const char *alpn;         /* negotiated (by the terminator); NULL: none or unknown */
	const char *alpn_offered; /* the client's list; NULL: none */
	uint64_t    bytes_in;     /* client -> upstream (or terminator) */
	uint64_t    bytes_out;    /* -> client */
	/* Set only by the terminator's done callback, which closes at once (so they are not
	 * kept in every connection): */
	const char *term_end;     /* its end reason (static string); NULL: end's own */
	const struct term_vpn *vpn; /* its VPN session; NULL: none */
};

/* What edge_up_connect did. */
enum edge_dial {
	EDGE_DIAL_PENDING,   /* a connect is in progress on ufd; uev and the timer are armed */
	EDGE_DIAL_NONE_LEFT, /* no server left to try: edge_up_failure says why */
	EDGE_DIAL_NO_SOCKET  /* no socket could be made (descriptors or memory) */
};

/* The end reasons as logged (stable lowercase ids). */
extern const char *const edge_end_str[EDGE_END_COUNT];

/* ---- life cycle ---- */

/*
 * Allocates a kind's struct of size bytes (struct edge first, zeroed) for fd, accepted on
 * listener l of w's current generation: counts it (accepted, active, pre-read, the
 * generation's connections), links it into the worker, reserves its slot in the worker's
 * timer queue (not armed) and sets up its client event (cb, added) with the struct as its
 * argument. On failure closes fd, gives back the process-wide count taken at accept and
 * returns NULL.
 */
struct edge *edge_new(size_t size, struct worker *w, struct listener_rt *l, int fd,
    const struct edge_kind *kind, event_callback_fn cb);

/* Refuses an accepted fd the connection could not be set up for (out of memory). */
void edge_refuse(int fd);

/*
 * The first step after edge_new: 1 when the peer must send a PROXY header first (a trusted
 * proxy_protocol_from peer; the PROXY timer is armed), 0 when the peer is admitted as the
 * client (the pre-read timer is armed), -1 when a per-IP cap refused it (e was closed).
 */
int edge_start(struct edge *e, const struct sockaddr_storage *peer);

/* Applies the per-source-IP caps to client (the real one, after PROXY in): false when one
 * refused it, counted under its limit and closed with it as the end. */
bool edge_admit(struct edge *e, const struct sockaddr_storage *client);

/* A PROXY step verdict that refuses the connection (MISSING, INVALID, UNSUPPORTED): counts
 * it for the listener and returns the end to close with. */
enum edge_end edge_proxy_refused(struct edge *e, enum pp_in_rc rc);

/* The PROXY header is in: re-arms the timer for what is left of preread_timeout. */
void edge_preread_timer(struct edge *e);

/* Leaves pre-read (the first head or hello is in, or the end): gauge and per-IP slot. */
void edge_preread_done(struct edge *e);

/* Arms (or moves) the connection's one timer for no sooner than ms from now: the kind's
 * timer runs then, at most about a tick late (core/timerq.h). */
void edge_timer(struct edge *e, uint64_t ms);

/* Disarms the connection's timer (handed to the terminator, which keeps its own). */
void edge_timer_stop(struct edge *e);

/* Counts a listener field (SL_*) for this connection's worker. */
void edge_count(struct edge *e, unsigned field);

/* Records readiness from a socket event (client: cfd, else ufd). True when the peer's FIN
 * is queued (EV_CLOSED): the caller's relay reads to EOF. */
bool edge_ready(struct edge *e, short what, bool client);

/* The access log's name of the PROXY header really sent upstream: "off", "v1", "v2". */
const char *edge_proxy_sent(const struct edge *e);

/* True when the connection gets an access-log line: the log is on and log.skip_from has
 * not client (as logged: after PROXY in). */
bool edge_logged(const struct edge *e, const struct sockaddr_storage *client);

/*
 * Ends the connection: one access-log line (client, x), the route's counters, every socket,
 * event, count and the generation's reference given back; then marks it closed and queues
 * its memory for the deferred free. Nothing of the kind's own is touched. Does nothing when
 * already closed.
 */
void edge_close(struct edge *e, enum edge_end end, const struct sockaddr_storage *client,
    const struct edge_log *x);

/* ---- the worker's connections ---- */

/* Sets up w's dead list, its deferred-free event and its timer queue (after w->base
 * exists); -1 on failure. */
int edge_worker_init(struct worker *w);

/* Frees what edge_worker_init made (after edge_close_all and edge_reap). */
void edge_worker_fini(struct worker *w);

/* Shutdown has begun: connections handed to the terminator end at their next idle moment. */
void edge_drain_all(struct worker *w);

/* Closes every connection of the worker (drain deadline passed, loop ending). */
void edge_close_all(struct worker *w);

/* Frees the memory of every closed connection now (the loop has ended). */
void edge_reap(struct worker *w);

/* ---- the upstream connect with failover ---- */

/*
 * Connects to the next server of e->up the balancer offers for the client (fam, ip: what
 * balance: source hashes), never one already tried, after dropping any previous upstream
 * socket. A server whose connect fails at once is marked and the next one tried. PENDING:
 * uev (cb, with e as argument) and the connect timer are armed.
 */
enum edge_dial edge_up_connect(struct edge *e, sa_family_t fam, const uint8_t ip[16],
    event_callback_fn cb);

/* The pending connect's first readiness: 0 when it succeeded (the server counts it
 * active), -1 when it failed (the server is marked: call edge_up_connect for the next). */
int edge_up_connected(struct edge *e);

/* The pending connect failed with errno err (seen early, e.g. by a Fast Open write): the
 * server is marked as by edge_up_connected (call edge_up_connect for the next). */
void edge_up_failed(struct edge *e, int err);

/* The connect timer fired during a connect: the server is marked (call edge_up_connect
 * for the next). */
void edge_up_timed_out(struct edge *e);

/* Why no server is left: NO_SERVER (none could be tried), UPSTREAM_TIMEOUT (the last
 * attempt timed out) or UPSTREAM_FAILED. The kind maps it (an alert, a 502 or a 504). */
enum edge_end edge_up_failure(const struct edge *e);

/* Closes the upstream socket, if any, and gives back its active count. */
void edge_up_drop(struct edge *e);

/* ---- addresses ---- */

/* The IP of an address as text, without the port; "-" for other families. */
void edge_ip_str(const struct sockaddr_storage *ss, char *out, size_t cap);

/* "ip:port" / "[v6]:port" for the access log; "-" for other families. */
void edge_addr_str(const struct sockaddr_storage *ss, char *out, size_t cap);

/* The family and the 16 address bytes the balancer hashes (IPv4 in the first four). */
sa_family_t edge_ip_bytes(const struct sockaddr_storage *ss, uint8_t ip[16]);

#endif
