/*
 * switchyard-client's shared types: the options (client/ccfg.c), the one VPN session over
 * /mux (client/sess.c) and its TCP connect across the server's addresses (client/race.c),
 * the local SOCKS5 / HTTP CONNECT connections that each ride one
 * mux flow (client/lconn.c) and the known-hosts pin store (client/known.c). Floor 3: uses
 * core/ and proto/ only, never router/ or terminator/ (DESIGN.md §2). One event loop runs
 * everything; nothing here blocks it.
 *
 * Ownership: the session owns its flow table (flow id -> lconn, a borrowed pointer that
 * the lconn removes when it closes); the listener list owns every lconn; an lconn owns
 * its bufferevent. An lconn is never freed inside a callback that still uses it: closing
 * marks it dead and a zero-delay event frees it.
 */
#ifndef SY_CLIENT_CLIENT_H
#define SY_CLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "core/conf-t.h"
#include "proto/rvpn/rvpn_keys.h"
#include "proto/rvpn/rvpn_vip.h"

struct crace;
struct event_base;
struct lconn;
struct sess;

#define CLIENT_CREDIT        (256 * 1024)  /* rvpn §7.4: initial credit each way per flow */
#define CLIENT_GRANT_MIN     (64 * 1024)   /* WindowUpdates in steps of at least this */
_Static_assert(CLIENT_GRANT_MIN < CLIENT_CREDIT, "lconn_write_cb grants only in steps");
#define CLIENT_TLS13_SUITES  "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
#define CLIENT_SESS_OUT_HIGH (1024 * 1024) /* session output above this: locals stop reading */
#define CLIENT_SESS_OUT_LOW  (256 * 1024)  /* ... and start again below this */
#define CLIENT_LOCAL_IN_MAX  (64 * 1024)   /* bytes read from a local app before sending */
#define CLIENT_WAIT_MS       15000         /* a local connection waits this long for a session */
#define CLIENT_WAIT_MAX      1024          /* local connections waiting at once; more fail */
#define CLIENT_HEAD_MAX      8192          /* HTTP CONNECT request head (431 beyond) */
#define CLIENT_HELLO_MS      10000         /* resolve + connect + TLS + upgrade + handshake */
#define CLIENT_ADDRS_MAX     8             /* the server's resolved addresses tried per attempt */
#define CLIENT_RACE_MAX      4             /* TCP connects to the server in flight at once */
#define CLIENT_RACE_DELAY_MS 250           /* RFC 8305 §5: the next address when none answered */
#define CLIENT_CONNECT_MS    5000          /* the whole connect race (within CLIENT_HELLO_MS) */
#define CLIENT_PING_MIN_MS   3000          /* rvpn §3.4: encrypted Ping every 3-7 s */
#define CLIENT_PING_MAX_MS   7000
#define CLIENT_RX_TIMEOUT_MS 21000         /* rvpn §3.4: no server message this long: dead */
#define CLIENT_BACKOFF_MIN_MS 250          /* reconnect backoff: doubles up to the max */
#define CLIENT_BACKOFF_MAX_MS 30000
#define CLIENT_KICK_MS       1000          /* a new local connection cuts the backoff short
                                            * when the last attempt is older than this */
#define CLIENT_HOST_MAX      255           /* the server's host name */
#define CLIENT_PATH_MAX      512           /* the URL's path */
#define CLIENT_TUN_ROUTES_MAX 32           /* --tun-route entries */
#define CLIENT_TUN_NAME      "sytun0"      /* --tun-name default */
#define CLIENT_TUN_PREFIX    24            /* the tunnel subnet: the lease's /24 (rvpn §7.5
                                            * item 6: the pool is a /24 or smaller) */
#define CLIENT_VIP_MS        5000          /* rvpn §7.5: VirtualIp within 5 s of the Hello */

/* Exit statuses of the process. */
enum {
	CLIENT_EXIT_OK = 0,
	CLIENT_EXIT_FAIL = 1,  /* a file, a listener, a fatal runtime error */
	CLIENT_EXIT_USAGE = 2, /* bad flags or configuration */
	CLIENT_EXIT_PIN = 3    /* the server's identity is not the pinned one */
};

/* The options, from flags and the -c YAML file (flags win). Strings are owned. */
struct ccfg {
	char *server, *identity, *bundle, *cafile, *connect, *known_hosts, *socks, *http;
	char *log_level, *tun_name, *tun_s;
	bool  tun;                          /* --tun: the full tunnel over PATH/tun */
	struct conf_cidr tun_routes[CLIENT_TUN_ROUTES_MAX]; /* IPv4 only */
	size_t ntun_routes;
	/* derived from server */
	char     host[CLIENT_HOST_MAX + 1]; /* without brackets */
	uint16_t port;
	char     path[CLIENT_PATH_MAX + 1]; /* the /mux path, or /tun with --tun */
	char     hostport[CLIENT_HOST_MAX + 9]; /* the known-hosts key host:port */
};

/* Parses argv and -c FILE into c. Returns -1 (message printed: usage exit), 0 run,
 * 1 done (--help printed). */
int ccfg_load(struct ccfg *c, int argc, char **argv);
/* Frees c's strings. */
void ccfg_free(struct ccfg *c);
/* Parses "IP:PORT" or "[IPv6]:PORT" into sa. Returns 0 or -1. */
int ccfg_addr(const char *s, struct sockaddr_storage *sa, socklen_t *len);
/* Parses wss://HOST[:PORT]/PATH into c's host, port, path, hostport. Returns 0 or -1. */
int ccfg_url(struct ccfg *c, char *err, size_t errlen);
/* The --help text. */
extern const char ccfg_help[];

/* The known-hosts file (rvpn §4.3): {"host:port": "ik:1:..."}. */
#define KNOWN_MAX_FILE  (256 * 1024) /* bytes of the file we read */
#define KNOWN_MAX_HOSTS 1024         /* entries kept */
/* Looks host_port up in path: 1 and the pin (NUL-terminated, up to cap) when found, 0 when
 * not (or no file yet), -1 with err when the file is unreadable or not such JSON. */
int known_lookup(const char *path, const char *host_port, char *pin, size_t cap, char *err,
    size_t errlen);
/* Adds host_port -> pin to path (atomically, mode 0600), keeping the other entries.
 * Returns 0 or -1 with err. */
int known_add(const char *path, const char *host_port, const char *pin, char *err,
    size_t errlen);

/* The session (one at a time, reconnecting). */
struct sess *sess_new(struct event_base *base, const struct ccfg *cfg,
    const struct rvpn_identity *id, const struct rvpn_bundle *bundle);
void sess_free(struct sess *s);
/* True when the session is a full tunnel (--tun). */
bool sess_is_tun(const struct sess *s);
/* Sends one IP packet (flow 1, its own message; n <= RVPN_MUX_MAX_DATA) on a READY /tun
 * session. */
void sess_tun_packet(struct sess *s, const uint8_t *p, size_t n);
/* True when flows can be opened now. */
bool sess_ready(const struct sess *s);
/* A local connection wants a session: connect now unless one is up or was just tried. */
void sess_kick(struct sess *s);
/* True while the session's output is below its high watermark. */
bool sess_writable(const struct sess *s);
/* Opens a flow for c to host:port (CreateFlow). Returns the flow id, or 0 on failure. */
uint32_t sess_flow_open(struct sess *s, struct lconn *c, const char *host, uint16_t port);
/* Sends n (<= RVPN_MUX_MAX_DATA) bytes of flow id. */
void sess_flow_data(struct sess *s, uint32_t id, const uint8_t *p, size_t n);
/* Grants the server n more bytes on flow id. */
void sess_flow_grant(struct sess *s, uint32_t id, uint32_t n);
/* Forgets flow id; sends CloseFlow when tell is true. */
void sess_flow_close(struct sess *s, uint32_t id, bool tell);
/* The process exit status the session asks for (a pin refused), or -1. */
int sess_fatal(const struct sess *s);

/* The connect race to the server (client/race.c): the n addresses (only the first
 * CLIENT_ADDRS_MAX are used; skipped says how many more the resolver gave) in dial_order's
 * order, staggered by CLIENT_RACE_DELAY_MS, at most CLIENT_RACE_MAX in flight, within
 * CLIENT_CONNECT_MS. done runs once, from the loop, after the race has freed itself: fd is
 * the first connected socket (non-blocking; the callee owns it), or -1 and why lists every
 * address tried with its error (label, e.g. "host:port", names the target there).
 * NULL when out of memory. */
struct crace *crace_new(struct event_base *base, const char *label,
    const struct sockaddr_storage *addrs, unsigned n, unsigned skipped,
    void (*done)(void *arg, int fd, const char *why), void *arg);
/* Abandons a running race: every attempt closed, done never called. */
void crace_free(struct crace *r);

/* Local side: called by the session. */
void lconn_on_created(struct lconn *c);
void lconn_on_failed(struct lconn *c, const uint8_t *err, size_t len);
void lconn_on_data(struct lconn *c, const uint8_t *p, size_t n);
void lconn_on_window(struct lconn *c, uint32_t n);
void lconn_on_closed(struct lconn *c);
/* The session dropped: every flow is gone (its lconn closes or fails). */
void lconn_on_session_lost(struct lconn *c);
/* The session is ready: waiting connections open their flows. */
void local_on_ready(void);
/* The session's output went below its low watermark: locals read again. */
void local_on_writable(void);

/* The local TUN device of --tun (client/ctun.c). */
#define CTUN_BATCH 64 /* packets read from the device per wake-up */
/* Checks what --tun needs (CAP_NET_ADMIN, /dev/net/tun) at start. 0, or -1 (printed). */
int ctun_init(struct event_base *base, struct sess *s, const struct ccfg *cfg);
/* The session's VirtualIp: makes (or keeps) the device with that lease and MTU, adds the
 * routes, starts reading. 0, or -1 (the session then drops and retries). */
int ctun_on_vip(const struct rvpn_vip *v);
/* One IP packet from the server: written to the device (dropped when it is full). */
void ctun_on_packet(const uint8_t *p, size_t n);
/* The session dropped: the device stays (the lease is sticky), unread until the next. */
void ctun_on_session_lost(void);
/* The session's output drained: the device is read again. */
void ctun_on_writable(void);
/* Closes the device (it disappears with its routes). */
void ctun_shutdown(void);

/* Local listeners. */
enum local_kind { LOCAL_SOCKS5, LOCAL_HTTP };
/* Starts listening on addr for kind. Returns 0 or -1 (message printed). */
int local_listen(struct event_base *base, struct sess *s, enum local_kind kind, const char *addr);
/* Closes listeners and every local connection. */
void local_shutdown(void);

#endif
