/*
 * The access log (DESIGN.md §6): one line per connection at close (and, on `kind: http`,
 * one per request when its response ends), text or JSON, written
 * with one write(2) so lines from several workers never interleave. SIGUSR1 reopens a file
 * target by dup2 onto the same descriptor, so workers never see a closed fd.
 */
#ifndef SY_ROUTER_ACCESSLOG_H
#define SY_ROUTER_ACCESSLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/conf-t.h"
#include "terminator/terminator.h"

#define ACCESSLOG_LINE_MAX 2048

struct accesslog_rec {
	const char *client;      /* "ip:port" after PROXY in */
	const char *listener;
	const char *sni;         /* NULL: none */
	const char *alpn;        /* negotiated by the terminator; NULL: none or not known */
	const char *route;       /* route label, or NULL before routing */
	const char *upstream;    /* upstream name, or NULL */
	const char *server;      /* "ip:port", or NULL */
	const char *proxy;       /* "off", "v1", "v2" */
	uint64_t    bytes_in;    /* client -> upstream */
	uint64_t    bytes_out;   /* upstream -> client */
	uint64_t    duration_ms;
	const char *end;         /* end reason */
	const char *alpn_offered; /* the client's ALPN list, comma-separated; NULL: none */
	const struct term_vpn *vpn; /* the VPN session of the connection; NULL: none */
};

/*
 * One request of a `kind: http` connection: a line of its own, written when the response
 * ends (or the connection ends without one), besides the connection's line at close.
 */
struct accesslog_req {
	const char *client;      /* "ip:port" of this request's client (after trusted XFF) */
	const char *listener;
	const char *host;        /* the Host, normalised; NULL: none */
	const char *route;       /* NULL before routing */
	const char *upstream;    /* NULL: answered by switchyard itself */
	const char *server;
	const char *proxy;       /* the PROXY header sent on the upstream connection */
	const char *method;      /* as sent; NULL: the head did not parse */
	const char *path;        /* the request-target as sent (cut); NULL: none */
	int         status;      /* what the client got; 0: nothing */
	int         upstream_status; /* what the upstream answered; 0: it did not */
	uint64_t    bytes_in;    /* request head and body bytes from the client */
	uint64_t    bytes_out;   /* response bytes to the client */
	uint64_t    duration_ms; /* from the complete head to the end of the response */
};

/* Opens (or switches to) the configured target; false with errno on failure. A target that
 * names the file already open keeps it (SIGUSR1 reopens); a file no longer named is closed. */
bool accesslog_open(const struct conf_log *c);

/* Reopens a file target (SIGUSR1); false with errno on failure (the old fd stays). */
bool accesslog_reopen(void);

/* True when lines are written at all. */
bool accesslog_enabled(void);

/* True when connections from client (as logged: after PROXY in) stay out of the log. */
bool accesslog_skip(const struct conf_log *c, const struct sockaddr_storage *client);

/* Writes one record. */
void accesslog_write(const struct accesslog_rec *r);

/* Writes one request line (kind: http). */
void accesslog_write_req(const struct accesslog_req *r);

#endif
