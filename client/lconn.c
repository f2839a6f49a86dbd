/*
 * The client's local side: the SOCKS5 and HTTP CONNECT listeners and each accepted
 * connection, which rides one mux flow of the session (client/sess.c). A connection reads
 * its request through the pure parsers (proto/socks5.c, proto/http1.rl, proto/authority.c),
 * asks the session for a flow, answers the app with the real outcome (FlowCreated ->
 * SOCKS 00 / HTTP 200, FlowFailed -> the SOCKS code that fits / 502), then relays.
 *
 * States: GREET (SOCKS methods) -> REQ (SOCKS request) | HEAD (HTTP head) -> WAIT (no
 * session yet: bounded in time and number) -> OPENING (CreateFlow sent) -> RELAY ->
 * DRAIN (the answer or the last bytes go out, then close).
 *
 * Credit (rvpn §7.4): we send a flow's bytes only within what the server granted (256 KiB
 * at the start, then its WindowUpdates), and only while the session's output is under its
 * high watermark; an app's unsent bytes wait in its bounded input buffer (libevent stops
 * reading past CLIENT_LOCAL_IN_MAX). We grant the server what the app has actually taken
 * from us (bytes gone from the local output buffer), so a slow app slows the server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "core/deadline.h"
#include "core/log.h"
#include "proto/authority.h"
#include "proto/http1.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/socks5.h"

#define LOCAL_BACKLOG    1024
#define LOCAL_EMFILE_MS  100   /* accept paused this long when out of descriptors */
#define LOCAL_MAX_LISTEN 2

enum lc_state { LC_GREET, LC_REQ, LC_HEAD, LC_WAIT, LC_OPENING, LC_RELAY, LC_DRAIN, LC_DEAD };

static const char *const lc_state_names[] = { "greeting", "request", "head", "waiting",
	"opening", "relay", "drain", "dead" };

struct lconn {
	TAILQ_ENTRY(lconn)  link;      /* all connections */
	TAILQ_ENTRY(lconn)  wlink;     /* waiting for a session (st == LC_WAIT) */
	enum local_kind     kind;
	enum lc_state       st;
	struct bufferevent *bev;       /* owned */
	struct event       *wait;      /* the WAIT deadline */
	uint32_t            flow;      /* 0: none */
	char                host[AUTHORITY_HOST_MAX + 1];
	uint16_t            port;
	char                peer[64];
	int64_t             send_credit; /* bytes the server still lets us send */
	int64_t             grant_left;  /* bytes we still let the server send */
	uint64_t            out_added;   /* bytes put in the local output */
	uint64_t            granted;     /* of those, taken by the app and granted back */
	uint64_t            up, down;
	bool                app_eof;
	const char         *end;
	struct socks5_greet g;
	struct socks5_req   r;
	struct http1_req    h;
};

TAILQ_HEAD(lconn_list, lconn);

static struct {
	struct event_base     *base;
	struct sess           *s;
	struct evconnlistener *ls[LOCAL_MAX_LISTEN];
	enum local_kind        kinds[LOCAL_MAX_LISTEN];
	struct event          *resume;
	size_t                 nls;
	struct lconn_list      all, waiting;
	size_t                 nwaiting;
	bool                   init;
} L;

static void lconn_pump(struct lconn *c);

/* Frees a closed connection, after the callbacks that knew it have returned. */
static void
lconn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	free(arg);
}

/* Closes c now: forgets its flow (telling the server unless told not to), frees its
 * socket; the struct goes at the next loop turn. */
static void
lconn_close(struct lconn *c, const char *end)
{

	if (c->st == LC_DEAD)
		return;
	if (c->flow != 0)
		sess_flow_close(L.s, c->flow, true);
	c->flow = 0;
	if (c->st == LC_WAIT) {
		TAILQ_REMOVE(&L.waiting, c, wlink);
		L.nwaiting--;
	}
	TAILQ_REMOVE(&L.all, c, link);
	log_info("client: %s %s -> %s:%u up=%llu down=%llu end=%s",
	    c->kind == LOCAL_SOCKS5 ? "socks" : "http", c->peer, c->host[0] ? c->host : "-",
	    c->port, (unsigned long long)c->up, (unsigned long long)c->down,
	    c->end != NULL ? c->end : end);
	c->st = LC_DEAD;
	if (c->wait != NULL)
		event_free(c->wait);
	c->wait = NULL;
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (deadline_once(L.base, lconn_free_cb, c, 0) != 0)
		free(c); /* cannot defer: no callback of c can still be on the stack here */
}

/* Answers bytes and closes once they are out (the app's further bytes are ignored). */
static void
lconn_answer_close(struct lconn *c, const void *p, size_t n, const char *end)
{
	if (c->flow != 0)
		sess_flow_close(L.s, c->flow, true);
	c->flow = 0;
	if (c->st == LC_WAIT) {
		TAILQ_REMOVE(&L.waiting, c, wlink);
		L.nwaiting--;
		event_del(c->wait);
	}
	c->end = end;
	c->st = LC_DRAIN;
	bufferevent_disable(c->bev, EV_READ);
	if (n > 0)
		bufferevent_write(c->bev, p, n);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		lconn_close(c, end);
}

/* Tells the app its request failed: a SOCKS reply code or an HTTP status. */
static void
lconn_fail(struct lconn *c, int rep, int status, const char *end)
{
	char resp[160];
	uint8_t sr[SOCKS5_REPLY_LEN];

	if (c->kind == LOCAL_SOCKS5) {
		socks5_reply(sr, (enum socks5_rep)rep);
		lconn_answer_close(c, sr, sizeof sr, end);
		return;
	}
	const char *reason = status == 400 ? "Bad Request" : status == 405 ? "Method Not Allowed" :
	    status == 414 ? "URI Too Long" : status == 431 ? "Request Header Fields Too Large" :
	    status == 501 ? "Not Implemented" : status == 505 ? "HTTP Version Not Supported" :
	    status == 504 ? "Gateway Timeout" : "Bad Gateway";
	int n = snprintf(resp, sizeof resp, "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n", status, reason, status == 405 ? "Allow: CONNECT\r\n" : "");
	lconn_answer_close(c, resp, (size_t)n, end);
}

/* Asks the session for c's flow. */
static void
lconn_open(struct lconn *c)
{
	c->flow = sess_flow_open(L.s, c, c->host, c->port);
	if (c->flow == 0) {
		lconn_fail(c, SOCKS5_REP_GENERAL, 502, "no_flow");
		return;
	}
	c->st = LC_OPENING;
	c->send_credit = CLIENT_CREDIT;
	c->grant_left = CLIENT_CREDIT;
}

/* The WAIT deadline passed without a session. */
static void
lconn_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lconn *c = arg;
	(void)fd;
	(void)what;
	if (c->st == LC_WAIT)
		lconn_fail(c, SOCKS5_REP_GENERAL, 502, "no_session");
}

/* The request is read: open the flow now, or wait (bounded) for a session. */
static void
lconn_want_flow(struct lconn *c)
{
	if (sess_ready(L.s)) {
		lconn_open(c);
		return;
	}
	if (L.nwaiting >= CLIENT_WAIT_MAX) {
		lconn_fail(c, SOCKS5_REP_GENERAL, 502, "too_many_waiting");
		return;
	}
	c->wait = c->wait != NULL ? c->wait : evtimer_new(L.base, lconn_wait_cb, c);
	if (c->wait == NULL) {
		lconn_fail(c, SOCKS5_REP_GENERAL, 502, "no_memory");
		return;
	}
	deadline_add(c->wait, CLIENT_WAIT_MS);
	c->st = LC_WAIT;
	TAILQ_INSERT_TAIL(&L.waiting, c, wlink);
	L.nwaiting++;
	sess_kick(L.s);
}

/* SOCKS5: the greeting, then the request. Returns false when c stopped parsing. */
static bool
lconn_socks(struct lconn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);

	if (c->st == LC_GREET) {
		size_t look = len < SOCKS5_GREET_MAX ? len : SOCKS5_GREET_MAX;
		enum socks5_verdict v = socks5_greet_feed(&c->g, evbuffer_pullup(in, (ssize_t)look), look);
		if (v == SOCKS5_MORE)
			return false;
		if (v == SOCKS5_ERR_VERSION) {
			lconn_close(c, "socks_version");
			return false;
		}
		if (v != SOCKS5_DONE || !c->g.no_auth) {
			static const uint8_t nope[2] = { SOCKS5_VERSION, SOCKS5_METHOD_NOPE };
			lconn_answer_close(c, nope, sizeof nope, "socks_no_method");
			return false;
		}
		static const uint8_t none[2] = { SOCKS5_VERSION, SOCKS5_METHOD_NONE };
		bufferevent_write(c->bev, none, sizeof none);
		evbuffer_drain(in, c->g.len);
		c->st = LC_REQ;
		len = evbuffer_get_length(in);
	}
	size_t look = len < SOCKS5_REQ_MAX ? len : SOCKS5_REQ_MAX;
	const uint8_t *b = evbuffer_pullup(in, (ssize_t)look);
	enum socks5_verdict v = socks5_req_feed(&c->r, b, look);
	if (v == SOCKS5_MORE)
		return false;
	if (v != SOCKS5_DONE) {
		int rep = socks5_verdict_rep(v);
		if (rep < 0)
			lconn_close(c, "socks_version");
		else
			lconn_fail(c, rep, 0, socks5_verdict_str(v));
		return false;
	}
	if (c->r.atyp == SOCKS5_ATYP_IPV4) {
		inet_ntop(AF_INET, c->r.addr, c->host, sizeof c->host);
	} else if (c->r.atyp == SOCKS5_ATYP_IPV6) {
		c->host[0] = '[';
		inet_ntop(AF_INET6, c->r.addr, c->host + 1, sizeof c->host - 2);
		size_t hl = strlen(c->host);
		c->host[hl] = ']';
		c->host[hl + 1] = '\0';
	} else {
		memcpy(c->host, b + c->r.host_off, c->r.host_len);
		c->host[c->r.host_len] = '\0';
	}
	c->port = c->r.port;
	evbuffer_drain(in, c->r.len);
	lconn_want_flow(c);
	return true;
}

/* HTTP CONNECT: the request head. */
static void
lconn_http(struct lconn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);
	size_t look = len < CLIENT_HEAD_MAX ? len : CLIENT_HEAD_MAX;
	const uint8_t *b = evbuffer_pullup(in, (ssize_t)look);
	enum http1_verdict v = http1_req_feed(&c->h, b, look);
	struct authority a;

	if (v == HTTP1_MORE) {
		if (look >= CLIENT_HEAD_MAX)
			lconn_fail(c, 0, 431, "head_too_large");
		return;
	}
	if (v != HTTP1_DONE) {
		lconn_fail(c, 0, http1_verdict_status(v), http1_verdict_str(v));
		return;
	}
	if (c->h.method != HTTP1_M_CONNECT) {
		lconn_fail(c, 0, 405, "not_connect");
		return;
	}
	if (authority_parse(b + c->h.target.off, c->h.target.len, &a) != 0) {
		lconn_fail(c, 0, 400, "bad_authority");
		return;
	}
	memcpy(c->host, b + c->h.target.off + a.host_off, a.host_len);
	c->host[a.host_len] = '\0';
	c->port = a.port;
	evbuffer_drain(in, c->h.head_len);
	lconn_want_flow(c);
}

/* Sends what the app wrote, within the server's credit and the session's watermark;
 * after the app's EOF and its last byte, closes the flow and the connection. */
static void
lconn_pump(struct lconn *c)
{
	uint8_t buf[RVPN_MUX_MAX_DATA];
	struct evbuffer *in;

	if (c->st != LC_RELAY)
		return;
	in = bufferevent_get_input(c->bev);
	while (c->send_credit > 0 && sess_writable(L.s)) {
		size_t n = evbuffer_get_length(in);
		if (n == 0)
			break;
		if (n > RVPN_MUX_SEND_DATA)
			n = RVPN_MUX_SEND_DATA; /* a message of exactly 8 KiB: no padding block wasted */
		if ((int64_t)n > c->send_credit)
			n = (size_t)c->send_credit;
		int got = evbuffer_remove(in, buf, n);
		if (got <= 0)
			break;
		sess_flow_data(L.s, c->flow, buf, (size_t)got);
		c->send_credit -= got;
		c->up += (uint64_t)got;
	}
	if (c->app_eof && evbuffer_get_length(in) == 0)
		lconn_close(c, "app_closed");
}

/* Bytes from the app. */
static void
lconn_read_cb(struct bufferevent *bev, void *arg)
{
	struct lconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	switch (c->st) {
	case LC_GREET:
	case LC_REQ:
		lconn_socks(c, in);
		break;
	case LC_HEAD:
		lconn_http(c, in);
		break;
	case LC_RELAY:
		lconn_pump(c);
		break;
	default:
		break; /* kept (bounded) until the flow is open */
	}
}

/* The app took bytes: grant them back to the server; a draining connection closes. */
static void
lconn_write_cb(struct bufferevent *bev, void *arg)
{
	struct lconn *c = arg;
	size_t left = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->st == LC_DRAIN) {
		if (left == 0)
			lconn_close(c, "done");
		return;
	}
	if (c->st != LC_RELAY || c->flow == 0)
		return;
	uint64_t pending = c->out_added - left - c->granted;
	/* In steps of CLIENT_GRANT_MIN only, even when the app has taken everything: each
	 * WindowUpdate is a record the server reads and a wake-up it pays for, and a step of a
	 * quarter of the window cut the server's CPU per GB by about a tenth against 32 KiB
	 * steps (tests/bench/RESULTS.md, issue 10 round 4). No stall can come of waiting: the
	 * ungranted bytes are fewer than CLIENT_GRANT_MIN, so the server keeps at least
	 * CLIENT_CREDIT - CLIENT_GRANT_MIN of credit, and what it sends with it completes the
	 * next step; a flow that ends needs no grant. */
	if (pending >= CLIENT_GRANT_MIN) {
		sess_flow_grant(L.s, c->flow, (uint32_t)pending);
		c->granted += pending;
		c->grant_left += (int64_t)pending;
	}
}

/* EOF or error from the app. */
static void
lconn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lconn *c = arg;
	(void)bev;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && c->st == LC_RELAY) {
		c->app_eof = true;
		lconn_pump(c);
		return;
	}
	lconn_close(c, what & BEV_EVENT_ERROR ? "app_error" : "app_closed");
}

void
lconn_on_created(struct lconn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	uint8_t sr[SOCKS5_REPLY_LEN];

	if (c->st != LC_OPENING)
		return;
	if (c->kind == LOCAL_SOCKS5) {
		socks5_reply(sr, SOCKS5_REP_OK);
		bufferevent_write(c->bev, sr, sizeof sr);
	} else {
		bufferevent_write(c->bev, ok, sizeof ok - 1);
	}
	c->st = LC_RELAY;
	lconn_pump(c);
}

void
lconn_on_failed(struct lconn *c, const uint8_t *err, size_t len)
{
	c->flow = 0; /* the session forgot it */
	log_info("client: flow to %s:%u failed: %.*s", c->host, c->port, (int)(len > 200 ? 200 : len),
	    (const char *)err);
	if (c->st == LC_OPENING)
		lconn_fail(c, socks5_rep_for_error(err, len), 502, "flow_failed");
	else
		lconn_answer_close(c, NULL, 0, "flow_failed");
}

void
lconn_on_data(struct lconn *c, const uint8_t *p, size_t n)
{
	if (c->st != LC_RELAY && c->st != LC_OPENING)
		return;
	if ((int64_t)n > c->grant_left) {
		log_warn("client: flow %u: the server sent %zu bytes with %lld of credit; closing it",
		    c->flow, n, (long long)c->grant_left);
		lconn_close(c, "credit_violation");
		return;
	}
	c->grant_left -= (int64_t)n;
	c->out_added += n;
	c->down += n;
	bufferevent_write(c->bev, p, n);
}

void
lconn_on_window(struct lconn *c, uint32_t n)
{
	c->send_credit += n;
	lconn_pump(c);
}

void
lconn_on_closed(struct lconn *c)
{
	c->flow = 0;
	lconn_answer_close(c, NULL, 0, "server_closed");
}

void
lconn_on_session_lost(struct lconn *c)
{
	c->flow = 0;
	if (c->st == LC_OPENING)
		lconn_fail(c, SOCKS5_REP_GENERAL, 502, "session_lost");
	else
		lconn_answer_close(c, NULL, 0, "session_lost");
}

void
local_on_ready(void)
{
	while (!TAILQ_EMPTY(&L.waiting)) {
		struct lconn *c = TAILQ_FIRST(&L.waiting);
		TAILQ_REMOVE(&L.waiting, c, wlink);
		L.nwaiting--;
		event_del(c->wait);
		c->st = LC_HEAD; /* no longer waiting; lconn_open sets the real state */
		lconn_open(c);
	}
}

void
local_on_writable(void)
{
	struct lconn *c, *next;

	for (c = TAILQ_FIRST(&L.all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->st == LC_RELAY)
			lconn_pump(c);
		if (!sess_writable(L.s))
			break;
	}
}

/* Accepting resumes after an EMFILE pause. */
static void
local_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	for (size_t i = 0; i < L.nls; i++)
		evconnlistener_enable(L.ls[i]);
}

/* accept(2) failed: out of descriptors pauses accepting briefly instead of spinning. */
static void
local_error_cb(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();
	(void)l;
	(void)arg;
	log_warn("client: accept: %s", evutil_socket_error_to_string(e));
	for (size_t i = 0; i < L.nls; i++)
		evconnlistener_disable(L.ls[i]);
	deadline_add(L.resume, LOCAL_EMFILE_MS);
}

/* A new local connection. */
static void
local_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	enum local_kind kind = (enum local_kind)(intptr_t)arg;
	struct lconn *c = calloc(1, sizeof *c);
	char ip[INET6_ADDRSTRLEN] = "?";
	(void)l;
	(void)salen;

	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->bev = bufferevent_socket_new(L.base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
		snprintf(c->peer, sizeof c->peer, "%s:%u", ip,
		    ntohs(((struct sockaddr_in *)sa)->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
		snprintf(c->peer, sizeof c->peer, "[%s]:%u", ip,
		    ntohs(((struct sockaddr_in6 *)sa)->sin6_port));
	}
	c->kind = kind;
	c->st = kind == LOCAL_SOCKS5 ? LC_GREET : LC_HEAD;
	socks5_greet_init(&c->g);
	socks5_req_init(&c->r);
	http1_req_init(&c->h);
	TAILQ_INSERT_TAIL(&L.all, c, link);
	bufferevent_setcb(c->bev, lconn_read_cb, lconn_write_cb, lconn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CLIENT_LOCAL_IN_MAX);
	bufferevent_setwatermark(c->bev, EV_WRITE, CLIENT_CREDIT, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_debug("client: %s connection from %s (%s)", kind == LOCAL_SOCKS5 ? "socks" : "http",
	    c->peer, lc_state_names[c->st]);
}

int
local_listen(struct event_base *base, struct sess *s, enum local_kind kind, const char *addr)
{
	struct sockaddr_storage sa;
	socklen_t len;

	if (!L.init) {
		TAILQ_INIT(&L.all);
		TAILQ_INIT(&L.waiting);
		L.base = base;
		L.s = s;
		L.resume = evtimer_new(base, local_resume_cb, NULL);
		L.init = true;
	}
	if (L.nls >= LOCAL_MAX_LISTEN || ccfg_addr(addr, &sa, &len) != 0) {
		fprintf(stderr, "switchyard-client: %s: not an ADDR:PORT to listen on\n", addr);
		return -1;
	}
	struct evconnlistener *l = evconnlistener_new_bind(base, local_accept_cb,
	    (void *)(intptr_t)kind, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	    LEV_OPT_CLOSE_ON_EXEC, LOCAL_BACKLOG, (struct sockaddr *)&sa, (int)len);
	if (l == NULL) {
		fprintf(stderr, "switchyard-client: cannot listen on %s: %s\n", addr, strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(l, local_error_cb);
	L.kinds[L.nls] = kind;
	L.ls[L.nls++] = l;
	log_info("client: %s proxy on %s", kind == LOCAL_SOCKS5 ? "SOCKS5" : "HTTP CONNECT", addr);
	return 0;
}

void
local_shutdown(void)
{
	if (!L.init)
		return;
	for (size_t i = 0; i < L.nls; i++)
		evconnlistener_free(L.ls[i]);
	L.nls = 0;
	while (!TAILQ_EMPTY(&L.all))
		lconn_close(TAILQ_FIRST(&L.all), "shutdown");
	if (L.resume != NULL)
		event_free(L.resume);
	L.resume = NULL;
}
