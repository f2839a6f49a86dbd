/*
 * The connection state machine (see conn.h). One driver, conn_drive(), advances a
 * connection after every readiness edge or timer; I/O first, then the step, then close.
 * Every path ends in exactly one conn_close(), which frees the connection: nothing may touch
 * a connection after calling it. Untrusted bytes go only to the proto/ parsers.
 *
 *   ACCEPT -> [PROXY]* -> PREREAD -> route -> CONNECT (failover) -> RELAY -> close
 *                             \-> reject: TLS alert, close        * trusted peers only
 */
#include "router/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/bufpool.h"
#include "core/clock.h"
#include "core/confval.h"
#include "core/log.h"
#include "proto/hostname.h"
#include "proto/proxy_v1.h"
#include "proto/proxy_v2.h"
#include "proto/tls_hello.h"
#include "router/accesslog.h"
#include "router/ipcap.h"
#include "router/pp_in.h"
#include "router/relay.h"
#include "router/upstream.h"
#include "router/worker.h"
#include "terminator/terminator.h"

#define CONN_PROXY_OUT_MAX 512  /* v2 header with AUTHORITY (≤253), ALPN, UNIQUE_ID, CRC */
#define CONN_PREREAD_SLACK 2048 /* record headers and early bytes beyond max_hello */
#define CONN_UNIQUE_ID_LEN 16
#define CONN_ALPN_OFFERED_MAX 64 /* bytes of the offered ALPN list kept for the log */

enum conn_state { CS_PROXY, CS_PREREAD, CS_CONNECT, CS_RELAY, CS_TERMINATED };

/* Why a connection ended: logged once at close. */
enum conn_end {
	END_DONE, END_IDLE, END_PREREAD_TIMEOUT, END_PROXY_TIMEOUT, END_PROXY_MISSING,
	END_PROXY_INVALID, END_PROXY_UNSUPPORTED, END_PROXY_CLOSED, END_HELLO_CLOSED,
	END_REJECTED, END_NO_ROUTE, END_BAD_HELLO, END_UPSTREAM_FAILED, END_NO_SERVER,
	END_CLIENT_ERROR, END_UPSTREAM_ERROR, END_SHUTDOWN, END_NO_MEMORY, END_PROXY_ENCODE,
	END_TERMINATED, END_TERMINATED_ERROR, END_PREREAD_PER_IP, END_CONNS_PER_IP, END_COUNT
};
static const char *const conn_end_str[END_COUNT] = {
	[END_DONE] = "done", [END_IDLE] = "idle_timeout",
	[END_PREREAD_TIMEOUT] = "preread_timeout", [END_PROXY_TIMEOUT] = "proxy_timeout",
	[END_PROXY_MISSING] = "proxy_missing", [END_PROXY_INVALID] = "proxy_invalid",
	[END_PROXY_UNSUPPORTED] = "proxy_unsupported", [END_PROXY_CLOSED] = "proxy_closed",
	[END_HELLO_CLOSED] = "hello_closed", [END_REJECTED] = "rejected",
	[END_NO_ROUTE] = "no_route", [END_BAD_HELLO] = "bad_hello",
	[END_UPSTREAM_FAILED] = "upstream_failed", [END_NO_SERVER] = "no_server",
	[END_CLIENT_ERROR] = "client_error", [END_UPSTREAM_ERROR] = "upstream_error",
	[END_SHUTDOWN] = "shutdown",
	[END_NO_MEMORY] = "no_memory", [END_PROXY_ENCODE] = "proxy_encode_failed",
	[END_TERMINATED] = "done", [END_TERMINATED_ERROR] = "error", /* the terminator's word wins */
	[END_PREREAD_PER_IP] = "max_preread_per_ip", [END_CONNS_PER_IP] = "max_connections_per_ip",
};
#define CONN_UNROUTED 0xff /* refused at accept by a limit: no route, counted by the limit */
/* The route result each end counts under. */
static const uint8_t conn_end_result[END_COUNT] = {
	[END_DONE] = SR_CONN_OK, [END_IDLE] = SR_CONN_IDLE_TIMEOUT,
	[END_PREREAD_TIMEOUT] = SR_CONN_ERROR, [END_PROXY_TIMEOUT] = SR_CONN_ERROR,
	[END_PROXY_MISSING] = SR_CONN_REJECTED, [END_PROXY_INVALID] = SR_CONN_REJECTED,
	[END_PROXY_UNSUPPORTED] = SR_CONN_REJECTED, [END_PROXY_CLOSED] = SR_CONN_ERROR,
	[END_HELLO_CLOSED] = SR_CONN_ERROR, [END_REJECTED] = SR_CONN_REJECTED,
	[END_NO_ROUTE] = SR_CONN_REJECTED, [END_BAD_HELLO] = SR_CONN_REJECTED,
	[END_UPSTREAM_FAILED] = SR_CONN_UPSTREAM_FAILED, [END_NO_SERVER] = SR_CONN_UPSTREAM_FAILED,
	[END_CLIENT_ERROR] = SR_CONN_ERROR, [END_UPSTREAM_ERROR] = SR_CONN_ERROR,
	[END_SHUTDOWN] = SR_CONN_SHUTDOWN,
	[END_NO_MEMORY] = SR_CONN_ERROR, [END_PROXY_ENCODE] = SR_CONN_ERROR,
	[END_TERMINATED] = SR_CONN_OK, [END_TERMINATED_ERROR] = SR_CONN_ERROR,
	[END_PREREAD_PER_IP] = CONN_UNROUTED, [END_CONNS_PER_IP] = CONN_UNROUTED,
};

/* TLS alert descriptions we send (RFC 8446 §6). */
enum { ALERT_HANDSHAKE_FAILURE = 40, ALERT_DECODE_ERROR = 50, ALERT_INTERNAL_ERROR = 80,
	ALERT_UNRECOGNIZED_NAME = 112 };

/* Compact address: a connection keeps two, so no sockaddr_storage. */
struct conn_addr {
	sa_family_t family;
	uint16_t    port;       /* host order */
	uint8_t     ip[16];
};

/* Pre-read state: exists from accept until the pre-read bytes are forwarded. */
struct preread {
	struct tls_hello       hello;
	struct pp_in           pp;     /* PROXY in, trusted peers only */
	uint32_t               cap;    /* bytes buf can hold */
	uint32_t               len;    /* bytes read */
	uint32_t               off;    /* bytes of incoming PROXY header (skipped) */
	uint32_t               fed;    /* bytes given to the hello parser, from off */
	uint32_t               sent;   /* bytes forwarded, from off */
	uint16_t               hlen;   /* outgoing PROXY header length */
	uint16_t               hsent;
	uint8_t                hdr[CONN_PROXY_OUT_MAX];
	uint8_t               *buf;    /* pooled, BUFPOOL_SIZE */
};

struct conn {
	TAILQ_ENTRY(conn)   link;
	struct worker      *w;
	struct gen         *gen;
	struct listener_rt *l;
	struct route_rt    *route;
	struct server_rt   *server;
	struct preread     *pr;
	char               *sni;       /* normalised, for the log; NULL when none */
	struct term_conn   *tc;        /* CS_TERMINATED: the terminator owns cfd */
	const char         *term_end;  /* the terminator's end reason (static string) */
	int                 cfd, ufd;
	struct event        cev, uev, tev;
	struct relay_dir    up, down;  /* up: client -> upstream */
	struct conn_addr    client;    /* after PROXY in */
	struct conn_addr    local;     /* where the client connected (after PROXY in) */
	uint64_t            start_ms, last_ms, tried;
	struct ipcap_hold   ipcap;         /* per-source-IP counts, taken after PROXY in */
	uint8_t             state, end, attempts;
	bool                c_rd, c_wr, u_rd, u_wr;
	bool                preread_counted, counted_active, proxied;
	uint8_t             pp_sent;   /* CONF_PP_*: the PROXY header really sent (for the log) */
	char                alpn[32];      /* first ALPN protocol offered, for PROXY v2; once
	                                      the terminator is done, the one it negotiated */
	bool                alpn_cut;      /* it was longer: never sent in a TLV */
	bool                alpn_negotiated; /* alpn is the terminator's (logged as alpn) */
	char               *alpn_offered;  /* the offered list, for the log; NULL when none */
};

static void conn_drive(struct conn *c);
static void conn_start_upstream(struct conn *c);
static void conn_upstream_cb(evutil_socket_t fd, short what, void *arg);

/* Monotonic milliseconds (core/clock.h): a wall-clock step must not end or stretch a
 * timeout. The argument stays so every call site reads as before. */
static uint64_t
conn_now(struct conn *c)
{
	(void)c;
	return clock_mono_ms();
}

static void
conn_addr_from(struct conn_addr *a, const struct sockaddr_storage *ss)
{
	memset(a, 0, sizeof *a);
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		memcpy(a->ip, &s->sin_addr, 4);
		a->port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		memcpy(a->ip, &s->sin6_addr, 16);
		a->port = ntohs(s->sin6_port);
	}
}

/* The reverse of conn_addr_from. */
static void
conn_addr_to(const struct conn_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->ip, 4);
	} else if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->ip, 16);
	}
}

static void
conn_addr_str(const struct conn_addr *a, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (a->family == AF_INET) {
		inet_ntop(AF_INET, a->ip, ip, sizeof ip);
		snprintf(out, cap, "%s:%u", ip, a->port);
	} else if (a->family == AF_INET6) {
		inet_ntop(AF_INET6, a->ip, ip, sizeof ip);
		snprintf(out, cap, "[%s]:%u", ip, a->port);
	} else {
		snprintf(out, cap, "-");
	}
}

/* Arms the connection's one timer for ms from now. */
static void
conn_timer(struct conn *c, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
	event_add(&c->tev, &tv);
}

/* Leaves pre-read: releases the per-IP slot and the pre-read gauge. */
static void
conn_preread_done(struct conn *c)
{
	ipcap_preread_done(&c->ipcap);
	if (c->preread_counted) {
		stats_add(c->l->stats, c->w->id, SL_PREREAD, -1);
		c->preread_counted = false;
	}
}

static void
conn_preread_free(struct conn *c)
{
	if (c->pr == NULL)
		return;
	bufpool_put(c->pr->buf);
	free(c->pr);
	c->pr = NULL;
}

/* True when c gets an access-log line: the log is on and log.skip_from has not its client. */
static bool
conn_logged(const struct conn *c)
{
	if (!accesslog_enabled())
		return false;
	if (c->gen->conf->log.nskip_from == 0)
		return true;
	struct sockaddr_storage client;
	conn_addr_to(&c->client, &client);
	return !accesslog_skip(&c->gen->conf->log, &client);
}

/* Ends the connection: one log line, counters, every resource back. Frees c. */
static void
conn_close(struct conn *c, enum conn_end end)
{
	struct worker *w = c->w;
	c->end = (uint8_t)end;
	conn_preread_done(c);
	ipcap_close(&c->ipcap);

	if (conn_logged(c)) {
		char client[64], server[64];
		conn_addr_str(&c->client, client, sizeof client);
		struct accesslog_rec r = {
			.client = client,
			.listener = c->l->conf->name,
			.sni = c->sni,
			/* A passthrough's ALPN is chosen in the encrypted part of the handshake:
			 * only the terminator's is known, the offered list is logged apart. */
			.alpn = c->alpn_negotiated && c->alpn[0] ? c->alpn : NULL,
			.route = c->route ? c->route->label : NULL,
			.upstream = c->route && c->route->up ? c->route->up->conf->name : NULL,
			.server = NULL,
			.proxy = "off",
			.bytes_in = c->up.bytes,
			.bytes_out = c->down.bytes,
			.duration_ms = conn_now(c) - c->start_ms,
			.end = c->term_end != NULL ? c->term_end : conn_end_str[end],
			.alpn_offered = c->alpn_offered,
		};
		if (c->server != NULL) {
			snprintf(server, sizeof server, "%s", c->server->label);
			r.server = server;
			static const char *const pp[] = { "off", "v1", "v2" };
			r.proxy = pp[c->pp_sent]; /* what went out, not what is configured */
		}
		accesslog_write(&r);
	}
	if (conn_end_result[end] != CONN_UNROUTED) {
		struct route_rt *rt = c->route != NULL ? c->route : &c->l->def;
		stats_add(rt->stats, w->id, conn_end_result[end], 1);
		stats_add(rt->stats, w->id, SR_BYTES_IN, (int64_t)c->up.bytes);
		stats_add(rt->stats, w->id, SR_BYTES_OUT, (int64_t)c->down.bytes);
	}
	stats_add(c->l->stats, w->id, SL_ACTIVE, -1);
	if (c->counted_active) {
		__atomic_sub_fetch(&c->server->active, 1, __ATOMIC_RELAXED);
		stats_add(c->server->stats, w->id, SS_ACTIVE, -1);
	}

	event_del(&c->tev);
	event_del(&c->cev);
	if (c->tc != NULL)
		term_abort(c->tc); /* drain: the terminator gives the socket back by closing it */
	if (c->cfd != -1)
		close(c->cfd);
	if (c->ufd != -1) {
		event_del(&c->uev);
		close(c->ufd);
	}
	relay_release(w, &c->up);
	relay_release(w, &c->down);
	conn_preread_free(c);
	free(c->sni);
	free(c->alpn_offered);

	TAILQ_REMOVE(&w->conns, c, link);
	w->nconns--;
	c->gen->wconns[w->id]--;
	if (c->gen != w->gen && c->gen->wconns[w->id] == 0)
		gen_unref(c->gen); /* this worker's last connection on an old generation */
	__atomic_sub_fetch(&worker_conns_total, 1, __ATOMIC_RELAXED);
	free(c);
	worker_conn_closed(w);
}

/* Sends a fatal TLS alert (best effort: one non-blocking write) and closes. */
static void
conn_alert_close(struct conn *c, uint8_t desc, enum conn_end end)
{
	uint8_t rec[7] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, desc };
	ssize_t rc = send(c->cfd, rec, sizeof rec, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)rc;
	conn_close(c, end);
}

/* Counts a hello failure reason for the listener. */
static void
conn_count(struct conn *c, unsigned field)
{
	stats_add(c->l->stats, c->w->id, field, 1);
}

/*
 * Applies the per-source-IP caps to the client (the real one, after PROXY in): a refusal is
 * counted under its limit and logged with it as the end. Returns false when c was closed.
 */
static bool
conn_admit(struct conn *c, const struct sockaddr_storage *client)
{
	switch (ipcap_admit(&c->ipcap, c->l->conf, client)) {
	case IPCAP_OK:
		return true;
	case IPCAP_OVER_CONNECTIONS:
		conn_count(c, SL_REJECT_CONN_PER_IP);
		conn_close(c, END_CONNS_PER_IP);
		return false;
	case IPCAP_OVER_PREREAD:
		break;
	}
	conn_count(c, SL_REJECT_PER_IP);
	conn_close(c, END_PREREAD_PER_IP);
	return false;
}

/* The ALPN list the client offered, comma-separated, for the log: printable ASCII only
 * (anything else, and a comma inside a name, becomes '?'), cut with "..." when long. */
static void
conn_alpn_offered(struct conn *c, const struct tls_hello *h)
{
	char list[CONN_ALPN_OFFERED_MAX];
	size_t off = 0, nlen, n = 0;
	const uint8_t *name;
	bool cut = false;
	while (!cut && tls_hello_alpn_next(h, &off, &name, &nlen)) {
		for (size_t i = n > 0 ? 0 : 1; i <= nlen; i++) { /* i == 0: the comma */
			if (n + 1 >= sizeof list) {
				cut = true;
				break;
			}
			uint8_t b = i == 0 ? ',' : name[i - 1];
			list[n++] = i == 0 || (b >= 0x21 && b < 0x7f && b != ',') ? (char)b : '?';
		}
	}
	if (cut) { /* n is sizeof list - 1 */
		memcpy(list + sizeof list - 4, "...", 3);
		n = sizeof list - 1;
	}
	list[n] = '\0';
	if (n > 0)
		c->alpn_offered = strdup(list); /* NULL on failure: the log says "-" */
}

/* The terminator closed a handed-over connection: log it and free the record. */
static void
conn_term_done(void *arg, const struct term_result *r)
{
	struct conn *c = arg;
	c->tc = NULL;
	c->up.bytes = r->bytes_in;
	c->down.bytes = r->bytes_out;
	c->term_end = r->end;
	/* What the terminator negotiated, or nothing: never the first one offered. */
	snprintf(c->alpn, sizeof c->alpn, "%s", r->alpn != NULL ? r->alpn : "");
	c->alpn_cut = false;
	c->alpn_negotiated = true;
	conn_close(c, r->error ? END_TERMINATED_ERROR : END_TERMINATED);
}

/*
 * Hands the connection to the in-process terminator: the socket, the pre-read bytes after
 * any PROXY header (the whole ClientHello, which OpenSSL reads from memory), the client
 * address after PROXY in, and the SNI. This record stays, without buffers, for the drain,
 * the connection count and the one access-log line.
 */
static void
conn_terminate(struct conn *c)
{
	struct preread *p = c->pr;
	struct sockaddr_storage peer;
	conn_addr_to(&c->client, &peer);
	struct term_handoff h = {
		.fd = c->cfd,
		.pre = p->buf + p->off,
		.pre_len = p->len - p->off,
		.peer = &peer,
		.sni = c->sni,
		.tls = true,
		.idle_timeout_ms = c->l->conf->idle_timeout_ms,
		.head_timeout_ms = c->l->conf->preread_timeout_ms,
		.worker = c->w->id,
		.stats = c->l->hstats,
		.done = conn_term_done,
		.arg = c,
	};
	event_del(&c->cev);
	event_del(&c->tev);
	c->cfd = -1; /* the terminator's now, even if it refuses */
	c->state = CS_TERMINATED;
	c->tc = term_accept(c->gen->term, c->w->base, &h);
	conn_preread_free(c); /* copied by term_accept */
	if (c->tc == NULL)
		conn_close(c, END_NO_MEMORY);
}

/* Applies a route: to an upstream, or a refusal. */
static void
conn_take_route(struct conn *c, struct route_rt *r, uint8_t reject_alert, enum conn_end reject_end)
{
	c->route = r;
	conn_preread_done(c);
	switch (r->conf->action) {
	case CONF_ACTION_UPSTREAM:
		conn_start_upstream(c);
		return;
	case CONF_ACTION_TERMINATE:
		conn_terminate(c);
		return;
	default:
		conn_alert_close(c, reject_alert, reject_end);
		return;
	}
}

/* A hello that names no route: the default route if configured, else a refusal. */
static void
conn_fallback(struct conn *c, unsigned reason_field, uint8_t alert, enum conn_end end)
{
	conn_count(c, reason_field);
	if (c->l->conf->has_default) {
		conn_take_route(c, &c->l->def, ALERT_HANDSHAKE_FAILURE, END_REJECTED);
		return;
	}
	if (alert == 0) {
		c->route = &c->l->def;
		conn_close(c, end);
		return;
	}
	c->route = &c->l->def;
	conn_alert_close(c, alert, end);
}

/* The hello parsed: pick the route by SNI. */
static void
conn_routed(struct conn *c)
{
	struct tls_hello *h = &c->pr->hello;
	size_t off = 0, nlen;
	const uint8_t *name;
	if (h->has_alpn && tls_hello_alpn_next(h, &off, &name, &nlen)) {
		size_t k = nlen < sizeof c->alpn - 1 ? nlen : sizeof c->alpn - 1;
		c->alpn_cut = k < nlen;
		for (size_t i = 0; i < k; i++)
			c->alpn[i] = name[i] >= 0x21 && name[i] < 0x7f ? (char)name[i] : '?';
		c->alpn[k] = '\0';
		if (accesslog_enabled())
			conn_alpn_offered(c, h);
	}
	if (!h->has_sni) {
		conn_fallback(c, SL_HELLO_NO_SNI, ALERT_UNRECOGNIZED_NAME, END_NO_ROUTE);
		return;
	}
	char norm[HOSTNAME_BUF];
	size_t n;
	if (h->sni_len > TLS_HELLO_SNI_MAX ||
	    hostname_normalize(h->sni, h->sni_len, norm, &n) != HOSTNAME_OK) {
		conn_fallback(c, SL_HELLO_BAD_SNI, ALERT_UNRECOGNIZED_NAME, END_NO_ROUTE);
		return;
	}
	c->sni = strndup(norm, n);
	struct route_rt *r = gen_route(c->l, norm, n);
	if (r == NULL) {
		conn_fallback(c, SL_HELLO_NO_ROUTE, ALERT_UNRECOGNIZED_NAME, END_NO_ROUTE);
		return;
	}
	conn_take_route(c, r, ALERT_HANDSHAKE_FAILURE, END_REJECTED);
}

/*
 * Feeds new bytes to the hello parser and acts on its verdict. Returns 1 while the hello
 * is incomplete (c still pre-reading), 0 when c moved on or was closed: do not touch it.
 */
static int
conn_hello_step(struct conn *c)
{
	struct preread *p = c->pr;
	uint32_t start = p->off + p->fed;
	if (p->len == start)
		return 1;
	enum tls_hello_verdict v = tls_hello_feed(&p->hello, p->buf + start, p->len - start);
	p->fed = p->len - p->off;
	switch (v) {
	case TLS_HELLO_MORE:
		if (p->len < p->cap)
			return 1;
		/* The buffer is full and the hello is not: more records than any client sends. */
		conn_fallback(c, SL_HELLO_TOO_LARGE, ALERT_DECODE_ERROR, END_BAD_HELLO);
		return 0;
	case TLS_HELLO_DONE:
		conn_routed(c);
		return 0;
	case TLS_HELLO_ERR_NOT_TLS:
		conn_fallback(c, SL_HELLO_NOT_TLS, 0, END_BAD_HELLO);
		return 0;
	case TLS_HELLO_ERR_SSLV2:
		conn_fallback(c, SL_HELLO_SSLV2, 0, END_BAD_HELLO);
		return 0;
	case TLS_HELLO_ERR_TOO_LARGE:
		conn_fallback(c, SL_HELLO_TOO_LARGE, ALERT_DECODE_ERROR, END_BAD_HELLO);
		return 0;
	default:
		conn_fallback(c, SL_HELLO_MALFORMED, ALERT_DECODE_ERROR, END_BAD_HELLO);
		return 0;
	}
}

/* Pre-read of a PROXY header from a trusted peer (router/pp_in.c); on DONE moves on to
 * the hello with the client address it carries. Returns like conn_hello_step. */
static int
conn_proxy_step(struct conn *c)
{
	struct preread *p = c->pr;
	struct sockaddr_storage src, dst;
	size_t hlen = 0;
	switch (pp_in_step(&p->pp, p->buf, p->len, &hlen, &src, &dst, &c->proxied)) {
	case PP_IN_MORE:
		return 1;
	case PP_IN_MISSING:
		conn_count(c, SL_PROXY_MISSING);
		conn_close(c, END_PROXY_MISSING);
		return 0;
	case PP_IN_INVALID:
		conn_count(c, SL_PROXY_INVALID);
		conn_close(c, END_PROXY_INVALID);
		return 0;
	case PP_IN_UNSUPPORTED:
		conn_count(c, SL_PROXY_UNSUPPORTED);
		conn_close(c, END_PROXY_UNSUPPORTED);
		return 0;
	case PP_IN_DONE:
		break;
	}
	p->off = (uint32_t)hlen;
	if (c->proxied) {
		conn_addr_from(&c->client, &src);
		conn_addr_from(&c->local, &dst);
		/* Now the real client is known: it is the one the per-IP caps apply to. */
		if (!conn_admit(c, &src))
			return 0;
	}
	c->state = CS_PREREAD;
	uint64_t spent = conn_now(c) - c->start_ms;
	uint64_t left = c->l->conf->preread_timeout_ms > spent ? c->l->conf->preread_timeout_ms - spent : 1;
	conn_timer(c, left);
	return conn_hello_step(c);
}

/*
 * Reads what the client has sent during pre-read, running the PROXY or hello step after
 * each read, and reads on (to EAGAIN: events are edge-triggered) only while the step needs
 * more. A FIN before a complete header is judged after the bytes that came with it.
 */
static void
conn_preread_read(struct conn *c)
{
	struct preread *p = c->pr;
	bool eof = false;
	/* One step after every read: once the header or hello is complete, stop reading and
	 * leave the rest (c_rd stays set) to the relay or the terminator, which read anyway. A
	 * terminated connection so saves the recv that would only have said EAGAIN. */
	while (c->c_rd && p->len < p->cap) {
		ssize_t n = recv(c->cfd, p->buf + p->len, p->cap - p->len, 0);
		if (n == -1) {
			if (errno == EAGAIN) {
				c->c_rd = false;
				break;
			}
			if (errno == EINTR)
				continue;
			conn_count(c, c->state == CS_PROXY ? SL_PROXY_CLOSED : SL_HELLO_CLOSED);
			conn_close(c, c->state == CS_PROXY ? END_PROXY_CLOSED : END_HELLO_CLOSED);
			return;
		}
		if (n == 0) {
			/* c_rd stays set: the relay, if we get that far, reads the FIN again. */
			eof = true;
			break;
		}
		p->len += (uint32_t)n;
		int waiting = c->state == CS_PROXY ? conn_proxy_step(c) : conn_hello_step(c);
		if (!waiting)
			return;
	}
	if (eof) {
		conn_count(c, c->state == CS_PROXY ? SL_PROXY_CLOSED : SL_HELLO_CLOSED);
		conn_close(c, c->state == CS_PROXY ? END_PROXY_CLOSED : END_HELLO_CLOSED);
	}
}

/* Process-random prefix for UNIQUE_ID TLVs, drawn once at start. */
static uint8_t conn_uid_prefix[8];

void
conn_init_process(void)
{
	randombytes_buf(conn_uid_prefix, sizeof conn_uid_prefix);
}

/* A connection id unique over the process life and across processes: the random prefix,
 * the worker and a per-worker counter. No system call per connection. */
static void
conn_unique_id(struct conn *c, uint8_t out[CONN_UNIQUE_ID_LEN])
{
	static __thread uint64_t counter;
	uint64_t n = ++counter;
	memcpy(out, conn_uid_prefix, 8);
	out[8] = (uint8_t)(c->w->id >> 8);
	out[9] = (uint8_t)c->w->id;
	for (int i = 0; i < 6; i++)
		out[10 + i] = (uint8_t)(n >> (8 * (5 - i)));
}

/* Builds the outgoing PROXY header into pr->hdr; false when it cannot be encoded (then
 * nothing may go upstream: a header is never left out). */
static bool
conn_proxy_out(struct conn *c)
{
	struct preread *p = c->pr;
	enum conf_proxy_protocol pp = c->route->up->conf->proxy_protocol;
	p->hlen = 0;
	if (pp == CONF_PP_OFF)
		return true;
	if (!c->proxied) {
		/* Where the client connected: only a PROXY header needs it, so ask only now. */
		struct sockaddr_storage local;
		socklen_t llen = sizeof local;
		if (getsockname(c->cfd, (struct sockaddr *)&local, &llen) == 0)
			conn_addr_from(&c->local, &local);
	}
	struct proxy_addr a;
	memset(&a, 0, sizeof a);
	a.family = c->client.family == AF_INET ? PROXY_FAM_INET : PROXY_FAM_INET6;
	a.transport = PROXY_TRANS_STREAM;
	size_t n = c->client.family == AF_INET ? 4 : 16;
	if (c->local.family != c->client.family) {
		/* Mixed families (v4 client on a v6 socket without mapping): say UNKNOWN/LOCAL. */
		a.family = PROXY_FAM_UNSPEC;
	} else {
		memcpy(a.src, c->client.ip, n);
		memcpy(a.dst, c->local.ip, n);
		a.sport = c->client.port;
		a.dport = c->local.port;
	}
	int len;
	if (pp == CONF_PP_V1) {
		len = proxy_v1_encode((char *)p->hdr, sizeof p->hdr, &a);
	} else {
		uint8_t uid[CONN_UNIQUE_ID_LEN];
		conn_unique_id(c, uid);
		struct proxy_v2_tlvs t = {
			.authority = (const uint8_t *)c->sni,
			.authority_len = c->sni ? strlen(c->sni) : 0,
			.alpn = c->alpn[0] && !c->alpn_cut ? (const uint8_t *)c->alpn : NULL,
			.alpn_len = strlen(c->alpn),
			.unique_id = uid,
			.unique_id_len = sizeof uid,
			.crc32c = false,
		};
		len = proxy_v2_encode(p->hdr, sizeof p->hdr, &a, &t);
	}
	if (len <= 0)
		return false;
	p->hlen = (uint16_t)len;
	return true;
}

/* Sends the head of the upstream stream: PROXY header and pre-read bytes, in one writev. */
static enum relay_rc
conn_flush_head(struct conn *c)
{
	struct preread *p = c->pr;
	while (p->hsent < p->hlen || p->off + p->sent < p->len) {
		if (!c->u_wr)
			return RELAY_WAIT;
		struct iovec iov[2];
		int n = 0;
		if (p->hsent < p->hlen) {
			iov[n].iov_base = p->hdr + p->hsent;
			iov[n++].iov_len = (size_t)(p->hlen - p->hsent);
		}
		if (p->off + p->sent < p->len) {
			iov[n].iov_base = p->buf + p->off + p->sent;
			iov[n++].iov_len = p->len - p->off - p->sent;
		}
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(c->ufd, &mh, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EAGAIN) {
				c->u_wr = false;
				return RELAY_WAIT;
			}
			if (errno == EINTR)
				continue;
			return RELAY_ERR_DST;
		}
		size_t left = (size_t)w;
		size_t h = (size_t)(p->hlen - p->hsent);
		if (left >= h) {
			if (p->hlen > 0)
				c->pp_sent = (uint8_t)c->route->up->conf->proxy_protocol;
			p->hsent = p->hlen;
			left -= h;
		} else {
			p->hsent += (uint16_t)left;
			left = 0;
		}
		p->sent += (uint32_t)left;
	}
	c->up.bytes += p->len - p->off;
	conn_preread_free(c); /* the head is out: the connection holds no buffer from here on */
	return RELAY_DONE;
}

/* Relays both directions; closes when both are done or one fails. */
static void
conn_relay(struct conn *c)
{
	enum relay_rc up = RELAY_WAIT, down;
	/* Until the head (PROXY header + pre-read bytes) is out, nothing else goes upstream. */
	bool head_out = c->pr == NULL;
	if (!head_out) {
		enum relay_rc h = conn_flush_head(c);
		if (h == RELAY_ERR_DST) {
			conn_close(c, END_UPSTREAM_ERROR);
			return;
		}
		head_out = h == RELAY_DONE;
	}
	if (head_out) {
		up = relay_pump(c->w, &c->up, c->cfd, &c->c_rd, c->ufd, &c->u_wr, c->down.shut);
		if (up == RELAY_ERR_SRC || up == RELAY_ERR_DST) {
			conn_close(c, up == RELAY_ERR_SRC ? END_CLIENT_ERROR : END_UPSTREAM_ERROR);
			return;
		}
	}
	down = relay_pump(c->w, &c->down, c->ufd, &c->u_rd, c->cfd, &c->c_wr, c->up.shut);
	if (down == RELAY_ERR_SRC || down == RELAY_ERR_DST) {
		conn_close(c, down == RELAY_ERR_SRC ? END_UPSTREAM_ERROR : END_CLIENT_ERROR);
		return;
	}
	if (c->up.shut && c->down.shut) {
		conn_close(c, END_DONE);
		return;
	}
	c->last_ms = conn_now(c);
	if (up == RELAY_AGAIN || down == RELAY_AGAIN)
		event_active(&c->cev, 0, 0); /* yield to other connections, then go on */
}

/* The upstream socket is connected (or failed): check, count, start relaying. */
static void
conn_connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		log_debug("upstream %s server %s: connect: %s", c->route->up->conf->name,
		    c->server->label, strerror(err));
		stats_add(c->server->stats, c->w->id, SS_CONNECT_FAILURES, 1);
		upstream_mark_failed(c->server);
		conn_start_upstream(c);
		return;
	}
	stats_add(c->server->stats, c->w->id, SS_CONNECTS, 1);
	stats_add(c->server->stats, c->w->id, SS_ACTIVE, 1);
	__atomic_add_fetch(&c->server->active, 1, __ATOMIC_RELAXED);
	c->counted_active = true;
	c->state = CS_RELAY;
	if (!conn_proxy_out(c)) {
		log_warn("listener %s route %s: upstream %s: cannot build the PROXY header",
		    c->l->conf->name, c->route->label, c->route->up->conf->name);
		conn_close(c, END_PROXY_ENCODE);
		return;
	}
	c->last_ms = conn_now(c);
	conn_timer(c, c->l->conf->idle_timeout_ms);
	conn_relay(c);
}

/* Connects to the next server the balancer offers; closes when none is left. */
static void
conn_start_upstream(struct conn *c)
{
	struct upstream_rt *u = c->route->up;
	if (c->ufd != -1) {
		event_del(&c->uev);
		close(c->ufd);
		c->ufd = -1;
		c->u_rd = c->u_wr = false;
	}
	for (;;) {
		struct server_rt *s = upstream_pick(u, c->w, c->client.family, c->client.ip, &c->tried);
		if (s == NULL) {
			if (c->attempts == 0) {
				conn_alert_close(c, ALERT_INTERNAL_ERROR, END_NO_SERVER);
			} else {
				log_warn("listener %s route %s: every server of upstream %s failed",
				    c->l->conf->name, c->route->label, u->conf->name);
				conn_alert_close(c, ALERT_INTERNAL_ERROR, END_UPSTREAM_FAILED);
			}
			return;
		}
		c->attempts++;
		c->server = s;
		int fd = socket(s->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			conn_close(c, END_NO_MEMORY);
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, (const struct sockaddr *)&s->addr.ss, s->addr.len) == -1 &&
		    errno != EINPROGRESS) {
			log_debug("upstream %s server %s: connect: %s", u->conf->name, s->label,
			    strerror(errno));
			close(fd);
			stats_add(s->stats, c->w->id, SS_CONNECT_FAILURES, 1);
			upstream_mark_failed(s);
			continue;
		}
		c->ufd = fd;
		c->state = CS_CONNECT;
		event_assign(&c->uev, c->w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
		    conn_upstream_cb, c);
		event_add(&c->uev, NULL);
		conn_timer(c, u->conf->connect_timeout_ms);
		return;
	}
}

/* Timer: pre-read deadlines, connect timeout (fail over), idle timeout. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	switch (c->state) {
	case CS_PROXY:
		conn_count(c, SL_PROXY_TIMEOUT);
		conn_close(c, END_PROXY_TIMEOUT);
		return;
	case CS_PREREAD:
		conn_count(c, SL_HELLO_TIMEOUT);
		conn_close(c, END_PREREAD_TIMEOUT);
		return;
	case CS_CONNECT:
		log_debug("upstream %s server %s: connect timed out", c->route->up->conf->name,
		    c->server->label);
		stats_add(c->server->stats, c->w->id, SS_CONNECT_TIMEOUTS, 1);
		upstream_mark_failed(c->server);
		conn_start_upstream(c);
		return;
	case CS_TERMINATED:
		return;
	case CS_RELAY: {
		uint64_t idle = c->l->conf->idle_timeout_ms, now = conn_now(c);
		if (now - c->last_ms >= idle) {
			conn_close(c, END_IDLE);
			return;
		}
		conn_timer(c, idle - (now - c->last_ms));
		return;
	}
	}
}

/* Readiness on the client socket. */
static void
conn_client_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	if (what & EV_READ)
		c->c_rd = true;
	if (what & EV_WRITE)
		c->c_wr = true;
	if (what & EV_CLOSED) {
		c->c_rd = true;
		c->up.src_hup = true;
	}
	conn_drive(c);
}

/* Readiness on the upstream socket. */
static void
conn_upstream_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	if (what & EV_READ)
		c->u_rd = true;
	if (what & EV_WRITE)
		c->u_wr = true;
	if (what & EV_CLOSED) {
		c->u_rd = true;
		c->down.src_hup = true;
	}
	conn_drive(c);
}

/* The one driver: runs the step the state calls for. */
static void
conn_drive(struct conn *c)
{
	switch (c->state) {
	case CS_PROXY:
	case CS_PREREAD:
		if (c->c_rd)
			conn_preread_read(c);
		return;
	case CS_CONNECT:
		if (c->u_wr || c->u_rd)
			conn_connected(c);
		return;
	case CS_RELAY:
		conn_relay(c);
		return;
	case CS_TERMINATED:
		return; /* no events of ours are left */
	}
}

void
conn_accept(struct worker *w, struct listener_rt *l, int fd, const struct sockaddr_storage *peer)
{
	const struct conf_listener *cl = l->conf;
	struct conn *c = calloc(1, sizeof *c);
	struct preread *p = calloc(1, sizeof *p);
	uint8_t *buf = bufpool_get();
	if (c == NULL || p == NULL || buf == NULL) {
		free(c);
		free(p);
		if (buf != NULL)
			bufpool_put(buf);
		close(fd);
		__atomic_sub_fetch(&worker_conns_total, 1, __ATOMIC_RELAXED);
		return;
	}
	c->w = w;
	c->gen = w->gen;
	c->l = l;
	c->cfd = fd;
	c->ufd = -1;
	c->pr = p;
	p->buf = buf;
	p->cap = cl->max_hello + CONN_PREREAD_SLACK;
	if (p->cap > BUFPOOL_SIZE)
		p->cap = BUFPOOL_SIZE;
	tls_hello_init(&p->hello, cl->max_hello);
	pp_in_init(&p->pp);
	relay_init(&c->up);
	relay_init(&c->down);
	conn_addr_from(&c->client, peer);
	c->start_ms = c->last_ms = conn_now(c);

	TAILQ_INSERT_TAIL(&w->conns, c, link);
	w->nconns++;
	c->gen->wconns[w->id]++;
	stats_add(l->stats, w->id, SL_ACCEPTED, 1);
	stats_add(l->stats, w->id, SL_ACTIVE, 1);
	stats_add(l->stats, w->id, SL_PREREAD, 1);
	c->preread_counted = true;

	event_assign(&c->cev, w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST, conn_client_cb, c);
	event_assign(&c->tev, w->base, -1, 0, conn_timer_cb, c);
	event_add(&c->cev, NULL);

	if (cl->nproxy_from > 0 &&
	    confval_cidrs_match(cl->proxy_from, cl->nproxy_from, (const struct sockaddr *)peer)) {
		c->state = CS_PROXY;
		conn_timer(c, cl->proxy_protocol_timeout_ms);
	} else {
		if (!conn_admit(c, peer))
			return;
		c->state = CS_PREREAD;
		conn_timer(c, cl->preread_timeout_ms);
	}
	/* Listening sockets defer accept until data arrives, so try to read at once. */
	c->c_rd = true;
	conn_drive(c);
}

void
conn_drain_all(struct worker *w)
{
	struct conn *c;
	TAILQ_FOREACH(c, &w->conns, link)
		if (c->state == CS_TERMINATED && c->tc != NULL)
			term_drain(c->tc);
}

void
conn_close_all(struct worker *w)
{
	struct conn *c;
	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		conn_close(c, END_SHUTDOWN);
}
