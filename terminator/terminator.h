/*
 * The terminator's one door (DESIGN.md §2): the only header router/ includes from
 * terminator/. The router accepts a connection, pre-reads the ClientHello (or, on an http
 * listener, the first request head), decides the route, and hands the socket over here with
 * the bytes it has already read, so the terminator never reads the hello from the network a
 * second time and no loopback hop exists. Everything behind this header (OpenSSL, the HTTP
 * server, the decoy site) runs on the worker's own event loop; nothing here takes a lock.
 */
#ifndef SY_TERMINATOR_TERMINATOR_H
#define SY_TERMINATOR_TERMINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/conf-t.h"

struct event_base;
struct stats_entry;

/* One configuration's terminator: TLS contexts by certificate name and the site. Built by
 * the main thread per generation, immutable afterwards, shared by every worker. */
struct term;

/* One handed-over connection, owned by the terminator until it closes. */
struct term_conn;

/* A VPN session's part of its connection's access-log line (never a key, never payload). */
struct term_vpn {
	const char *path;        /* "ws", "mux", "dns" or "tun" */
	const char *key;         /* the client's name from vpn.clients; NULL: none (refused
	                            before the allow-list, or unnamed, or open: true) */
	uint32_t    flows;       /* flows opened (on /dns: queries) */
	uint64_t    bytes_in;    /* payload client -> targets */
	uint64_t    bytes_out;   /* payload targets -> client */
	uint64_t    duration_ms; /* from the 101 to the end */
	const char *lease;       /* /tun: the client's address (dotted); NULL: none */
};

/* What the router learns when a handed-over connection closes (for its access-log line). */
struct term_result {
	uint64_t    bytes_in;      /* bytes read from the client, the handed-over ones included */
	uint64_t    bytes_out;     /* bytes written to the client */
	uint32_t    requests;      /* HTTP requests answered */
	int         last_status;   /* status of the last response, 0 when none */
	const char *alpn;          /* negotiated ALPN protocol, NULL when none */
	const char *end;           /* why it ended: a stable lowercase id */
	bool        error;         /* ended by an error (TLS, protocol, timeout) */
	const struct term_vpn *vpn; /* the VPN session the connection carried; NULL: none.
	                               Valid only during the done callback. */
};

/* Called once when a handed-over connection closes (on the worker's thread). */
typedef void term_done_fn(void *arg, const struct term_result *r);

struct term_handoff {
	int                            fd;       /* ownership passes on, even when refused */
	const uint8_t                 *pre;      /* bytes already read from fd (after any PROXY
	                                            header): copied, the caller keeps its buffer */
	size_t                         pre_len;
	const struct sockaddr_storage *peer;     /* the real client, after PROXY in */
	const char                    *sni;      /* normalised SNI, NULL when none */
	bool                           tls;      /* false: plain HTTP from an http listener */
	uint64_t                       idle_timeout_ms; /* between requests (keep-alive) */
	uint64_t                       head_timeout_ms; /* to receive a request head, else closed */
	unsigned                       worker;   /* the calling worker's stats slot */
	struct stats_entry            *stats;    /* the listener's STATS_HTTP entry */
	term_done_fn                  *done;     /* not called when term_accept fails */
	void                          *arg;
};

/*
 * Builds the terminator for conf (main thread): loads and checks every certificate (or,
 * when none is configured but a route terminates, makes an ephemeral self-signed one and
 * logs so), sets up TLS versions, ALPN and session tickets, opens the site root. Returns
 * NULL with a message in err (cap bytes) on failure.
 */
struct term *term_build(const struct conf *conf, char *err, size_t cap);

/* Frees what term_build made; no connection may still use it. */
void term_free(struct term *t);

/*
 * For `switchyard -t`: term_build then checks everything but writes no state (the VPN replay
 * cache stays in memory; vpn.state_dir is only checked to be a directory). Call before
 * term_build.
 */
void term_check_only(void);

/*
 * Takes over a connection on the calling worker's loop. On success the terminator owns fd
 * and calls h->done exactly once when the connection ends; on failure (out of memory) it
 * has closed fd, does not call done, and returns NULL.
 */
struct term_conn *term_accept(struct term *t, struct event_base *base,
    const struct term_handoff *h);

/*
 * Shutdown has begun: the connection ends at its next idle moment. An idle keep-alive
 * connection closes soon (from the loop, never inside this call); a busy one answers its
 * current request with "Connection: close". done is called as usual.
 */
void term_drain(struct term_conn *tc);

/* Ends a connection now (drain deadline, shutdown) without calling its done callback. */
void term_abort(struct term_conn *tc);

/* Process-wide set-up and tear-down (ticket key secret, OpenSSL): once each, main thread. */
int term_init_process(char *err, size_t cap);
void term_fini_process(void);

/* A worker thread ends, after its connections are gone: what the terminator keeps per
 * worker (the VPN's shared resolver) is freed. */
void term_worker_exit(void);

#endif
