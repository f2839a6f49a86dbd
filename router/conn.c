/*
 * The connection state machine (see conn.h). One driver, conn_drive(), advances a
 * connection after every readiness edge or timer; I/O first, then the step, then close.
 * Every path ends in conn_close(), which gives every resource back (router/edge.c) and leaves
 * only the memory, freed deferred: the steps still stop after it (the code that may close
 * says so), but a late read of c is no use-after-free. What both listener kinds do the same
 * (accept, close, log, counters, upstream connect with failover) lives in router/edge.c.
 * Untrusted bytes go only to the proto/ parsers.
 *
 *   ACCEPT -> [PROXY]* -> PREREAD -> route -> CONNECT (failover) -> RELAY -> close
 *                             \-> reject: TLS alert, close        * trusted peers only
 */
#include "router/conn.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/bufpool.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/yield.h"
#include "proto/hostname.h"
#include "proto/proxy_v1.h"
#include "proto/proxy_v2.h"
#include "proto/tls_hello.h"
#include "router/accesslog.h"
#include "router/edge.h"
#include "router/pp_in.h"
#include "router/relay.h"
#include "router/worker.h"
#include "terminator/terminator.h"

#define CONN_PROXY_OUT_MAX 512  /* v2 header with AUTHORITY (≤253), ALPN, UNIQUE_ID, CRC */
#define CONN_PREREAD_SLACK 2048 /* record headers and early bytes beyond max_hello */
#define CONN_UNIQUE_ID_LEN 16
#define CONN_ALPN_OFFERED_MAX 64 /* bytes of the offered ALPN list kept for the log */

enum conn_state { CS_PROXY, CS_PREREAD, CS_CONNECT, CS_RELAY, CS_TERMINATED };

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
	bool                   hbuilt; /* hdr holds this attempt's header (built before the
	                                  connect ends when the head rides in the SYN) */
	bool                   proxied; /* a PROXY header gave client and local */
	bool                   alpn_cut; /* alpn was longer: never sent in a TLV */
	char                   alpn[32]; /* first ALPN protocol offered, for PROXY v2 */
	char                   sni[HOSTNAME_BUF]; /* normalised; "": none */
	char                   alpn_offered[CONN_ALPN_OFFERED_MAX]; /* for the log; "": none */
	struct conn_addr       local;  /* where the client connected (after PROXY in), for
	                                  PROXY out; set only when a header is built */
	uint8_t                hdr[CONN_PROXY_OUT_MAX];
	uint8_t               *buf;    /* pooled, BUFPOOL_SIZE */
};

/*
 * An idle relayed connection is this struct, its slot in the worker's timer queue and
 * libevent's entries for its two sockets, and nothing else (issue 12: RSS per idle
 * connection; the names chunk only when it is logged), so what only the steps before the
 * relay need lives in struct preread, freed when the head is out, and the rest is ordered
 * to leave no padding.
 */
struct conn {
	struct edge         e;         /* first: what both listener kinds share (edge.h) */
	struct preread     *pr;
	char               *names;     /* after pre-read, and only when the connection is
	                                  logged: "sni\0alpn_offered\0" in one chunk ("": none);
	                                  during pre-read they are in pr; NULL: none kept */
	struct relay_dir    up, down;  /* up: client -> upstream */
	struct conn_addr    client;    /* after PROXY in */
	uint8_t             state;
};
_Static_assert(offsetof(struct conn, e) == 0, "edge_reap frees a conn as its struct edge");
/* The idle-RSS guard: malloc hands out size + 8 rounded up to 16 (at least 32), so 512 is
 * a 528-byte chunk. It was 752 (768), then 656 (672), then 536 (544) once the per-connection
 * timer event became a 4-byte slot position in the worker's timer queue (core/timerq.h),
 * then 512 with the SNI and offered ALPN in pr (kept after pre-read only for the log) and
 * relay_dir's limit an argument. Of the 512, 256 are libevent's two socket events. Grow it
 * only knowing what an idle connection costs (tests/bench/RESULTS.md). */
_Static_assert(sizeof(struct conn) <= 512, "struct conn grew: see the idle RSS goal");

static void conn_drive(struct conn *c);
static void conn_start_upstream(struct conn *c);
static void conn_upstream_cb(evutil_socket_t fd, short what, void *arg);

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

/* The normalised SNI (NULL: none), from pr during pre-read, from names after. */
static const char *
conn_sni(const struct conn *c)
{
	const char *s = c->pr != NULL ? c->pr->sni : c->names;
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The offered ALPN list as logged (NULL: none), from pr or from names. */
static const char *
conn_alpn_offered(const struct conn *c)
{
	const char *s = c->pr != NULL ? c->pr->alpn_offered : NULL;
	if (c->pr == NULL && c->names != NULL)
		s = c->names + strlen(c->names) + 1;
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/*
 * Pre-read is over (the head is out, or the terminator has the connection): frees pr and
 * its buffer. The SNI and the offered ALPN list are kept, in one chunk, only when the
 * connection will be logged (issue 12: an idle connection holds no string otherwise). As
 * with the offered list before, the access log's state when the relay starts decides: a
 * reload that turns the log on later logs them as "-".
 */
static void
conn_preread_free(struct conn *c)
{
	struct preread *p = c->pr;
	if (p == NULL)
		return;
	if ((p->sni[0] != '\0' || p->alpn_offered[0] != '\0') && !c->e.closed) {
		struct sockaddr_storage client;
		conn_addr_to(&c->client, &client);
		if (edge_logged(&c->e, &client)) {
			size_t a = strlen(p->sni), b = strlen(p->alpn_offered);
			c->names = malloc(a + b + 2); /* NULL on failure: the log says "-" */
			if (c->names != NULL) {
				memcpy(c->names, p->sni, a + 1);
				memcpy(c->names + a + 1, p->alpn_offered, b + 1);
			}
		}
	}
	bufpool_put(p->buf);
	free(p);
	c->pr = NULL;
}

/* Ends the connection: one log line (with the terminator's result r, or NULL) and every
 * resource back (edge_close), then what is the kind's own. The memory is freed deferred;
 * c->e.closed says it is over. */
static void
conn_close_term(struct conn *c, enum edge_end end, const struct term_result *r)
{
	if (c->e.closed)
		return;
	struct sockaddr_storage client;
	conn_addr_to(&c->client, &client);
	char alpn[32]; /* the negotiated one as logged: cut at 31 bytes */
	snprintf(alpn, sizeof alpn, "%s", r != NULL && r->alpn != NULL ? r->alpn : "");
	struct edge_log x = {
		.sni = conn_sni(c),
		/* A passthrough's ALPN is chosen in the encrypted part of the handshake: only
		 * the terminator's is known, the offered list is logged apart. */
		.alpn = alpn[0] ? alpn : NULL,
		.alpn_offered = conn_alpn_offered(c),
		.bytes_in = c->up.bytes,
		.bytes_out = c->down.bytes,
		.term_end = r != NULL ? r->end : NULL,
		.vpn = r != NULL ? r->vpn : NULL, /* logged before r goes away */
	};
	edge_close(&c->e, end, &client, &x);
	relay_release(c->e.w, &c->up);
	relay_release(c->e.w, &c->down);
	conn_preread_free(c); /* closed: keeps nothing */
	free(c->names);
	c->names = NULL;
}

/* conn_close_term without a terminator's result: every close but the terminator's. */
static void
conn_close(struct conn *c, enum edge_end end)
{
	conn_close_term(c, end, NULL);
}

/* conn_close as the edge's close (edge_admit, edge_close_all). */
static void
conn_close_edge(struct edge *e, enum edge_end end)
{
	conn_close((struct conn *)e, end);
}

static void conn_timer(struct edge *e);

/* What edge.c calls back. */
static const struct edge_kind conn_kind = { .close = conn_close_edge, .timer = conn_timer };

/* Sends a fatal TLS alert (best effort: one non-blocking write) and closes. */
static void
conn_alert_close(struct conn *c, uint8_t desc, enum edge_end end)
{
	uint8_t rec[7] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, desc };
	ssize_t rc = send(c->e.cfd, rec, sizeof rec, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)rc;
	conn_close(c, end);
}

/* The ALPN list the client offered, comma-separated, for the log: printable ASCII only
 * (anything else, and a comma inside a name, becomes '?'), cut with "..." when long. */
static void
conn_alpn_offered_keep(struct conn *c, const struct tls_hello *h)
{
	char *list = c->pr->alpn_offered;
	size_t off = 0, nlen, n = 0;
	const uint8_t *name;
	bool cut = false;
	while (!cut && tls_hello_alpn_next(h, &off, &name, &nlen)) {
		for (size_t i = n > 0 ? 0 : 1; i <= nlen; i++) { /* i == 0: the comma */
			if (n + 1 >= CONN_ALPN_OFFERED_MAX) {
				cut = true;
				break;
			}
			uint8_t b = i == 0 ? ',' : name[i - 1];
			list[n++] = i == 0 || (b >= 0x21 && b < 0x7f && b != ',') ? (char)b : '?';
		}
	}
	if (cut) { /* n is CONN_ALPN_OFFERED_MAX - 1 */
		memcpy(list + CONN_ALPN_OFFERED_MAX - 4, "...", 3);
		n = CONN_ALPN_OFFERED_MAX - 1;
	}
	list[n] = '\0';
}

/* The terminator closed a handed-over connection: log it and free the record. */
static void
conn_term_done(void *arg, const struct term_result *r)
{
	struct conn *c = arg;
	c->e.tc = NULL;
	c->up.bytes = r->bytes_in;
	c->down.bytes = r->bytes_out;
	/* Logs what the terminator negotiated, or nothing: never the first one offered. */
	conn_close_term(c, r->error ? EDGE_END_TERMINATED_ERROR : EDGE_END_TERMINATED, r);
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
		.fd = c->e.cfd,
		.pre = p->buf + p->off,
		.pre_len = p->len - p->off,
		.peer = &peer,
		.sni = conn_sni(c),
		.tls = true,
		.idle_timeout_ms = c->e.l->conf->idle_timeout_ms,
		.head_timeout_ms = c->e.l->conf->preread_timeout_ms,
		.worker = c->e.w->id,
		.stats = c->e.l->hstats,
		.done = conn_term_done,
		.arg = c,
	};
	event_del(&c->e.cev);
	edge_timer_stop(&c->e);
	c->e.cfd = -1; /* the terminator's now, even if it refuses */
	c->state = CS_TERMINATED;
	c->e.tc = term_accept(c->e.gen->term, c->e.w->base, &h);
	conn_preread_free(c); /* copied by term_accept */
	if (c->e.tc == NULL)
		conn_close(c, EDGE_END_NO_MEMORY);
}

/* Applies a route: to an upstream, or a refusal. */
static void
conn_take_route(struct conn *c, struct route_rt *r, uint8_t reject_alert, enum edge_end reject_end)
{
	c->e.route = r;
	edge_preread_done(&c->e);
	switch (r->conf->action) {
	case CONF_ACTION_UPSTREAM:
		c->e.up = r->up;
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
conn_fallback(struct conn *c, unsigned reason_field, uint8_t alert, enum edge_end end)
{
	edge_count(&c->e, reason_field);
	if (c->e.l->conf->has_default) {
		conn_take_route(c, &c->e.l->def, ALERT_HANDSHAKE_FAILURE, EDGE_END_REJECTED);
		return;
	}
	if (alert == 0) {
		c->e.route = &c->e.l->def;
		conn_close(c, end);
		return;
	}
	c->e.route = &c->e.l->def;
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
		struct preread *p = c->pr;
		size_t k = nlen < sizeof p->alpn - 1 ? nlen : sizeof p->alpn - 1;
		p->alpn_cut = k < nlen;
		for (size_t i = 0; i < k; i++)
			p->alpn[i] = name[i] >= 0x21 && name[i] < 0x7f ? (char)name[i] : '?';
		p->alpn[k] = '\0';
		if (accesslog_enabled())
			conn_alpn_offered_keep(c, h);
	}
	if (!h->has_sni) {
		conn_fallback(c, SL_HELLO_NO_SNI, ALERT_UNRECOGNIZED_NAME, EDGE_END_NO_ROUTE);
		return;
	}
	char norm[HOSTNAME_BUF];
	size_t n;
	if (h->sni_len > TLS_HELLO_SNI_MAX ||
	    hostname_normalize(h->sni, h->sni_len, norm, &n) != HOSTNAME_OK) {
		conn_fallback(c, SL_HELLO_BAD_SNI, ALERT_UNRECOGNIZED_NAME, EDGE_END_NO_ROUTE);
		return;
	}
	memcpy(c->pr->sni, norm, n);
	c->pr->sni[n] = '\0';
	struct route_rt *r = gen_route(c->e.l, norm, n);
	if (r == NULL) {
		conn_fallback(c, SL_HELLO_NO_ROUTE, ALERT_UNRECOGNIZED_NAME, EDGE_END_NO_ROUTE);
		return;
	}
	conn_take_route(c, r, ALERT_HANDSHAKE_FAILURE, EDGE_END_REJECTED);
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
		conn_fallback(c, SL_HELLO_TOO_LARGE, ALERT_DECODE_ERROR, EDGE_END_BAD_HELLO);
		return 0;
	case TLS_HELLO_DONE:
		conn_routed(c);
		return 0;
	case TLS_HELLO_ERR_NOT_TLS:
		conn_fallback(c, SL_HELLO_NOT_TLS, 0, EDGE_END_BAD_HELLO);
		return 0;
	case TLS_HELLO_ERR_SSLV2:
		conn_fallback(c, SL_HELLO_SSLV2, 0, EDGE_END_BAD_HELLO);
		return 0;
	case TLS_HELLO_ERR_TOO_LARGE:
		conn_fallback(c, SL_HELLO_TOO_LARGE, ALERT_DECODE_ERROR, EDGE_END_BAD_HELLO);
		return 0;
	default:
		conn_fallback(c, SL_HELLO_MALFORMED, ALERT_DECODE_ERROR, EDGE_END_BAD_HELLO);
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
	enum pp_in_rc rc = pp_in_step(&p->pp, p->buf, p->len, &hlen, &src, &dst, &p->proxied);
	if (rc == PP_IN_MORE)
		return 1;
	if (rc != PP_IN_DONE) {
		conn_close(c, edge_proxy_refused(&c->e, rc));
		return 0;
	}
	p->off = (uint32_t)hlen;
	if (p->proxied) {
		conn_addr_from(&c->client, &src);
		conn_addr_from(&p->local, &dst);
		/* Now the real client is known: it is the one the per-IP caps apply to. */
		if (!edge_admit(&c->e, &src))
			return 0;
	}
	c->state = CS_PREREAD;
	edge_preread_timer(&c->e);
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
	while (c->e.c_rd && p->len < p->cap) {
		ssize_t n = recv(c->e.cfd, p->buf + p->len, p->cap - p->len, 0);
		if (n == -1) {
			if (errno == EAGAIN) {
				c->e.c_rd = false;
				break;
			}
			if (errno == EINTR)
				continue;
			edge_count(&c->e, c->state == CS_PROXY ? SL_PROXY_CLOSED : SL_HELLO_CLOSED);
			conn_close(c, c->state == CS_PROXY ? EDGE_END_PROXY_CLOSED : EDGE_END_HELLO_CLOSED);
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
		edge_count(&c->e, c->state == CS_PROXY ? SL_PROXY_CLOSED : SL_HELLO_CLOSED);
		conn_close(c, c->state == CS_PROXY ? EDGE_END_PROXY_CLOSED : EDGE_END_HELLO_CLOSED);
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
	out[8] = (uint8_t)(c->e.w->id >> 8);
	out[9] = (uint8_t)c->e.w->id;
	for (int i = 0; i < 6; i++)
		out[10 + i] = (uint8_t)(n >> (8 * (5 - i)));
}

/* Builds the outgoing PROXY header into pr->hdr; false when it cannot be encoded (then
 * nothing may go upstream: a header is never left out). */
static bool
conn_proxy_out(struct conn *c)
{
	struct preread *p = c->pr;
	enum conf_proxy_protocol pp = c->e.route->up->conf->proxy_protocol;
	p->hlen = 0;
	if (pp == CONF_PP_OFF)
		return true;
	if (!p->proxied) {
		/* Where the client connected: only a PROXY header needs it, so ask only now. */
		struct sockaddr_storage local;
		socklen_t llen = sizeof local;
		if (getsockname(c->e.cfd, (struct sockaddr *)&local, &llen) == 0)
			conn_addr_from(&p->local, &local);
	}
	p->hbuilt = true;
	struct proxy_addr a;
	memset(&a, 0, sizeof a);
	a.family = c->client.family == AF_INET ? PROXY_FAM_INET : PROXY_FAM_INET6;
	a.transport = PROXY_TRANS_STREAM;
	size_t n = c->client.family == AF_INET ? 4 : 16;
	if (p->local.family != c->client.family) {
		/* Mixed families (v4 client on a v6 socket without mapping): say UNKNOWN/LOCAL. */
		a.family = PROXY_FAM_UNSPEC;
	} else {
		memcpy(a.src, c->client.ip, n);
		memcpy(a.dst, p->local.ip, n);
		a.sport = c->client.port;
		a.dport = p->local.port;
	}
	int len;
	if (pp == CONF_PP_V1) {
		len = proxy_v1_encode((char *)p->hdr, sizeof p->hdr, &a);
	} else {
		uint8_t uid[CONN_UNIQUE_ID_LEN];
		conn_unique_id(c, uid);
		struct proxy_v2_tlvs t = {
			.authority = p->sni[0] != '\0' ? (const uint8_t *)p->sni : NULL,
			.authority_len = strlen(p->sni),
			.alpn = p->alpn[0] && !p->alpn_cut ? (const uint8_t *)p->alpn : NULL,
			.alpn_len = strlen(p->alpn),
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

/* One sendmsg of what is left of the head (PROXY header, pre-read bytes): what it returned. */
static ssize_t
conn_head_send(struct conn *c)
{
	struct preread *p = c->pr;
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
	return sendmsg(c->e.ufd, &mh, MSG_NOSIGNAL);
}

/* Accounts w bytes of the head as sent: the header first, then the pre-read bytes. */
static void
conn_head_advance(struct conn *c, size_t w)
{
	struct preread *p = c->pr;
	size_t left = w;
	size_t h = (size_t)(p->hlen - p->hsent);
	if (left >= h) {
		if (p->hlen > 0)
			c->e.pp_sent = (uint8_t)c->e.route->up->conf->proxy_protocol;
		p->hsent = p->hlen;
		left -= h;
	} else {
		p->hsent += (uint16_t)left;
		left = 0;
	}
	p->sent += (uint32_t)left;
}

/* Sends the head of the upstream stream: PROXY header and pre-read bytes, in one writev. */
static enum relay_rc
conn_flush_head(struct conn *c)
{
	struct preread *p = c->pr;
	while (p->hsent < p->hlen || p->off + p->sent < p->len) {
		if (!c->e.u_wr)
			return RELAY_WAIT;
		ssize_t w = conn_head_send(c);
		if (w == -1) {
			/* EINPROGRESS: a Fast Open socket whose SYN went out without data; the
			 * head goes once the handshake is done, at the next writability. */
			if (errno == EAGAIN || errno == EINPROGRESS) {
				c->e.u_wr = false;
				return RELAY_WAIT;
			}
			if (errno == EINTR)
				continue;
			return RELAY_ERR_DST;
		}
		conn_head_advance(c, (size_t)w);
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
			conn_close(c, EDGE_END_UPSTREAM_ERROR);
			return;
		}
		head_out = h == RELAY_DONE;
	}
	if (head_out) {
		up = relay_pump(c->e.w, &c->up, c->e.cfd, &c->e.c_rd, c->e.ufd, &c->e.u_wr, c->down.shut,
		    UINT64_MAX);
		if (up == RELAY_ERR_SRC || up == RELAY_ERR_DST) {
			conn_close(c, up == RELAY_ERR_SRC ? EDGE_END_CLIENT_ERROR : EDGE_END_UPSTREAM_ERROR);
			return;
		}
	}
	down = relay_pump(c->e.w, &c->down, c->e.ufd, &c->e.u_rd, c->e.cfd, &c->e.c_wr, c->up.shut,
	    UINT64_MAX);
	if (down == RELAY_ERR_SRC || down == RELAY_ERR_DST) {
		conn_close(c, down == RELAY_ERR_SRC ? EDGE_END_UPSTREAM_ERROR : EDGE_END_CLIENT_ERROR);
		return;
	}
	if (c->up.shut && c->down.shut) {
		conn_close(c, EDGE_END_DONE);
		return;
	}
	c->e.last_ms = clock_mono_ms();
	if (up == RELAY_AGAIN || down == RELAY_AGAIN)
		yield_event(&c->e.cev, 0); /* others first: after the next poll, then go on */
}

/* The upstream socket is connected (or failed): check, count, start relaying. */
static void
conn_connected(struct conn *c)
{
	if (edge_up_connected(&c->e) == -1) {
		conn_start_upstream(c);
		return;
	}
	c->state = CS_RELAY;
	if (!c->pr->hbuilt && !conn_proxy_out(c)) {
		log_warn("listener %s route %s: upstream %s: cannot build the PROXY header",
		    c->e.l->conf->name, c->e.route->label, c->e.up->conf->name);
		conn_close(c, EDGE_END_PROXY_ENCODE);
		return;
	}
	c->e.last_ms = clock_mono_ms();
	edge_timer(&c->e, c->e.l->conf->idle_timeout_ms);
	conn_relay(c);
}

/*
 * Fast Open (upstreams.NAME.fast_open): the head goes out with the connect's first write,
 * before the connect is known to succeed, so it rides in the SYN when the kernel has the
 * server's cookie. Nothing is counted as sent until the connect succeeds (conn_connected):
 * a failed attempt starts the head again on the next server.
 */
static void
conn_fast_open(struct conn *c)
{
	if (!conn_proxy_out(c)) {
		log_warn("listener %s route %s: upstream %s: cannot build the PROXY header",
		    c->e.l->conf->name, c->e.route->label, c->e.up->conf->name);
		conn_close(c, EDGE_END_PROXY_ENCODE);
		return;
	}
	ssize_t w = conn_head_send(c);
	if (w >= 0) {
		conn_head_advance(c, (size_t)w);
		return;
	}
	/* EINPROGRESS: no cookie yet, a plain SYN went out (with a cookie request) and the
	 * head follows the handshake; EAGAIN/EINTR: the same, later. */
	if (errno == EINPROGRESS || errno == EAGAIN || errno == EINTR)
		return;
	edge_up_failed(&c->e, errno);
	conn_start_upstream(c);
}

/* Connects to the next server the balancer offers; closes when none is left (a TLS alert:
 * the client sees the handshake fail, as with a refusing server). */
static void
conn_start_upstream(struct conn *c)
{
	/* A new attempt sends the whole head again, with a header of its own. */
	c->pr->hbuilt = false;
	c->pr->hsent = 0;
	c->pr->sent = 0;
	c->e.pp_sent = 0;
	switch (edge_up_connect(&c->e, c->client.family, c->client.ip, conn_upstream_cb)) {
	case EDGE_DIAL_PENDING:
		c->state = CS_CONNECT;
		if (c->e.fast_open && c->e.up->conf->fast_open)
			conn_fast_open(c);
		return;
	case EDGE_DIAL_NO_SOCKET:
		conn_close(c, EDGE_END_NO_MEMORY);
		return;
	case EDGE_DIAL_NONE_LEFT:
		break;
	}
	enum edge_end end = edge_up_failure(&c->e);
	/* A relay has no status to tell a timeout from a refusal: both are upstream_failed. */
	conn_alert_close(c, ALERT_INTERNAL_ERROR,
	    end == EDGE_END_NO_SERVER ? EDGE_END_NO_SERVER : EDGE_END_UPSTREAM_FAILED);
}

/* Timer: pre-read deadlines, connect timeout (fail over), idle timeout. */
static void
conn_timer(struct edge *e)
{
	struct conn *c = (struct conn *)e;
	switch (c->state) {
	case CS_PROXY:
		edge_count(&c->e, SL_PROXY_TIMEOUT);
		conn_close(c, EDGE_END_PROXY_TIMEOUT);
		return;
	case CS_PREREAD:
		edge_count(&c->e, SL_HELLO_TIMEOUT);
		conn_close(c, EDGE_END_PREREAD_TIMEOUT);
		return;
	case CS_CONNECT:
		edge_up_timed_out(&c->e);
		conn_start_upstream(c);
		return;
	case CS_TERMINATED:
		return;
	case CS_RELAY: {
		uint64_t idle = c->e.l->conf->idle_timeout_ms, now = clock_mono_ms();
		if (now - c->e.last_ms >= idle) {
			conn_close(c, EDGE_END_IDLE);
			return;
		}
		edge_timer(&c->e, idle - (now - c->e.last_ms));
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
	if (edge_ready(&c->e, what, true))
		c->up.src_hup = true;
	conn_drive(c);
}

/* Readiness on the upstream socket. */
static void
conn_upstream_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	if (edge_ready(&c->e, what, false))
		c->down.src_hup = true;
	conn_drive(c);
}

/* The one driver: runs the step the state calls for. */
static void
conn_drive(struct conn *c)
{
	if (c->e.closed)
		return; /* closed by an earlier step of this callback: only the memory is left */
	switch (c->state) {
	case CS_PROXY:
	case CS_PREREAD:
		if (c->e.c_rd)
			conn_preread_read(c);
		return;
	case CS_CONNECT:
		if (c->e.u_wr || c->e.u_rd)
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
	struct preread *p = calloc(1, sizeof *p);
	uint8_t *buf = bufpool_get();
	if (p == NULL || buf == NULL) {
		free(p);
		bufpool_put(buf);
		edge_refuse(fd);
		return;
	}
	struct conn *c = (struct conn *)edge_new(sizeof *c, w, l, fd, &conn_kind, conn_client_cb);
	if (c == NULL) {
		free(p);
		bufpool_put(buf);
		return;
	}
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
	c->e.fast_open = true; /* the head can go with the SYN (conn_fast_open) */

	int rc = edge_start(&c->e, peer);
	if (rc == -1)
		return;
	c->state = rc == 1 ? CS_PROXY : CS_PREREAD;
	/* Listening sockets defer accept until data arrives, so try to read at once. */
	c->e.c_rd = true;
	conn_drive(c);
}
