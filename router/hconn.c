/*
 * The plain-HTTP connection state machine (see hconn.h). One driver, hconn_drive(), runs
 * after every readiness edge or timer: PROXY step, write our own response, read the client,
 * frame requests (heads by proto/http1, bodies by Content-Length or proto/http1_chunk),
 * flush to the upstream (a PROXY header first on a new upstream connection), frame the
 * upstream's responses (heads by proto/http1_resp, bodies as RFC 9112 §6.3 says) and match
 * each to its request in a bounded FIFO; an Upgrade becomes a raw relay only after a 101.
 * Every path ends in
 * hconn_close(), which gives every resource back (router/edge.c, shared with conn.c) and
 * leaves only the memory, freed deferred: functions that may close return -1 and the steps
 * stop there, but a late read of h is no use-after-free. Untrusted bytes go only to the proto/ parsers; what is forwarded is
 * the client's bytes, byte-exact, except the forwarding fields of each head and of each
 * chunked body's trailer section, which we own; a head that our lines would push over our
 * own parser's limits is refused, never forwarded.
 *
 *   ACCEPT -> [PROXY]* -> head -> route -+-> upstream: CONNECT (failover) -> forward head
 *                          ^             |     + body -> next head (same upstream: reuse;
 *                          |             |     another route: drain the upstream, close)
 *                          +-------------+-> 301 to https / 404 / 4xx (keep-alive, or close
 *                                        |     after a lingering close: core/linger.h)
 *                                        `-> site: the terminator takes the connection
 *   * trusted peers only
 */
#include "router/hconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/bufpool.h"
#include "core/clock.h"
#include "core/confval.h"
#include "core/linger.h"
#include "core/log.h"
#include "core/yield.h"
#include "proto/hostname.h"
#include "proto/http1.h"
#include "proto/http1_chunk.h"
#include "proto/http1_resp.h"
#include "proto/proxy_v1.h"
#include "proto/proxy_v2.h"
#include "proto/http_status.h"
#include "router/accesslog.h"
#include "router/edge.h"
#include "router/pp_in.h"
#include "router/relay.h"
#include "router/worker.h"
#include "terminator/terminator.h"

#define HCONN_ROUNDS     8     /* driver rounds per wake-up before yielding to the loop */
#define HCONN_LOCATION_MAX (HTTP1_URI_MAX + 320) /* "https://", host, ":port", target */
#define HCONN_RESP_MAX   (HCONN_LOCATION_MAX + 1024) /* our own response: head and page */
#define HCONN_FWD_FIELDS 384   /* the forwarding field lines we append (three IPs) + TE */
#define HCONN_FWD_LINES  4     /* of them, the forwarding field lines always appended */
#define HCONN_PROXY_OUT_MAX 512 /* v2 header with AUTHORITY (a name, <= 253 bytes) */
#define HCONN_PIPELINE_MAX 16  /* requests forwarded and not yet answered, per connection */
#define HCONN_LOG_PATH_MAX 1024 /* request-target bytes kept for the request's log line */

enum hconn_state { HS_PROXY, HS_HTTP, HS_TERMINATED };
enum hconn_up { HU_NONE, HU_CONNECTING, HU_UP };
enum hconn_body { HB_NONE, HB_LENGTH, HB_CHUNKED, HB_TUNNEL };
/* Where the upstream's byte stream is: a response head, its body (by how it ends), or the
 * raw relay after a 101. */
enum hconn_rstate { RS_HEAD, RS_LENGTH, RS_CHUNKED, RS_CLOSE, RS_TUNNEL };

/* A request forwarded upstream whose response has not ended: what its log line needs and
 * what framing its response needs. */
struct hconn_pending {
	char     client[64];   /* "ip:port" of its client */
	char     method[HTTP1_METHOD_MAX + 1];
	char    *path;         /* malloc'd, cut at HCONN_LOG_PATH_MAX; NULL when out of memory */
	uint64_t start_ms, bytes_in, bytes_out;
	uint16_t status;       /* the final status relayed; 0 before */
	bool     head;         /* HEAD: the response has no body whatever it says */
	bool     upgrade;      /* asked for Upgrade: only a 101 switches to a relay */
};

struct hconn {
	struct edge         e;         /* first: what both listener kinds share (edge.h); its
	                                  route is the latest request's, its up the one ufd
	                                  belongs to */
	struct relay_dir    down;      /* upstream -> client: framed body runs and the tunnel */
	struct http1_resp   uresp;     /* the upstream's response head being read */
	struct http1_chunk  rchunk;    /* its chunked body */
	uint8_t            *ubuf;      /* pooled: upstream bytes; [0, uready) framed, to the client */
	uint32_t            ulen, uready;
	uint64_t            rbody_left; /* RS_LENGTH: body bytes still to come */
	uint64_t            bytes_down; /* upstream bytes sent from ubuf (down.bytes: the relay's) */
	struct hconn_pending *pend;    /* FIFO of HCONN_PIPELINE_MAX, allocated at the first forward */
	uint8_t             phead, pcount, rstate;
	uint32_t            uanswered; /* responses completed on this upstream connection */
	bool                upgrade_wait; /* an Upgrade request is out: parse nothing until its answer */
	struct pp_in        pp;
	struct http1_req    req;       /* the head being read */
	struct http1_chunk  chunk;     /* the chunked body being framed */
	uint64_t            body_left; /* Content-Length bytes still to pass on */
	uint8_t            *cbuf;      /* pooled: client bytes; [0, fwd) go upstream as they are */
	uint32_t            clen, fwd;
	uint32_t            held;      /* [fwd, fwd + held): framed, held back: the start of a
	                                  trailer field line that may be one we drop */
	uint8_t            *hbuf;      /* pooled: the rewritten head going upstream */
	uint32_t            hlen, hoff;
	char               *resp;      /* our own response going to the client */
	uint32_t            rlen, roff;
	struct sockaddr_storage peer;  /* socket peer, or the PROXY source */
	struct sockaddr_storage client; /* the latest request's client (X-Forwarded-For) */
	struct sockaddr_storage local; /* where the client connected (PROXY destination) */
	struct sockaddr_storage up_client; /* the client the PROXY header sent upstream names */
	char               *host;      /* the latest request's Host, normalised, for the log */
	uint64_t            bytes_in, bytes_own;
	uint32_t            requests;
	uint8_t             state, ustate, body, end_after;
	bool                c_eof, draining, ushut, close_after;
	bool                first, stop_after;
	bool                head_req, has_local, host_is_name;
	bool                trusted;   /* the peer is in trusted_forwarders */
	uint16_t            pp_len;    /* PROXY header bytes at the start of hbuf */
	bool                lingering;  /* our answer is out, the client's rest is discarded */
	uint64_t            linger_at, linger_last; /* when it began, when a byte last came */
};
_Static_assert(offsetof(struct hconn, e) == 0, "edge_reap frees an hconn as its struct edge");

static void hconn_drive(struct hconn *h);
static int hconn_linger_start(struct hconn *h);
static void hconn_upstream_cb(evutil_socket_t fd, short what, void *arg);

/* Returns the client buffer to the pool once it is empty: an idle connection holds none. */
static void
hconn_cbuf_trim(struct hconn *h)
{
	if (h->cbuf != NULL && h->clen == 0) {
		bufpool_put(h->cbuf);
		h->cbuf = NULL;
	}
}

/* Writes the log line of one request (status: what the client got, ustatus: what the
 * upstream said; 0 for none; up: it was for the upstream). */
static void
hconn_log_req(struct hconn *h, const struct hconn_pending *p, int status, int ustatus, bool up)
{
	if (!edge_logged(&h->e, &h->client))
		return;
	struct accesslog_req r = {
		.client = p->client,
		.listener = h->e.l->conf->name,
		.host = h->host,
		.route = h->e.route ? h->e.route->label : NULL,
		.upstream = up && h->e.up ? h->e.up->conf->name : NULL,
		.server = up && h->e.server ? h->e.server->label : NULL,
		.proxy = edge_proxy_sent(&h->e),
		.method = p->method[0] ? p->method : NULL,
		.path = p->path,
		.status = status,
		.upstream_status = ustatus,
		.bytes_in = p->bytes_in,
		.bytes_out = p->bytes_out,
		.duration_ms = clock_mono_ms() - p->start_ms,
	};
	accesslog_write_req(&r);
}

/* Fills a log record from the head in cbuf (method and target when it parsed that far). */
static void
hconn_pend_fill(struct hconn *h, struct hconn_pending *p)
{
	const struct http1_req *r = &h->req;
	memset(p, 0, sizeof *p);
	edge_addr_str(&h->client, p->client, sizeof p->client);
	p->start_ms = clock_mono_ms();
	if (h->cbuf == NULL || r->verdict != HTTP1_DONE)
		return;
	size_t ml = r->method_name.len < HTTP1_METHOD_MAX ? r->method_name.len : HTTP1_METHOD_MAX;
	memcpy(p->method, h->cbuf + r->method_name.off, ml);
	p->method[ml] = '\0';
	/* Not strndup: the buffer holds no NUL, and strndup may look for one past n. */
	size_t pl = r->target.len < HCONN_LOG_PATH_MAX ? r->target.len : HCONN_LOG_PATH_MAX;
	if ((p->path = malloc(pl + 1)) != NULL) {
		memcpy(p->path, h->cbuf + r->target.off, pl);
		p->path[pl] = '\0';
	}
	p->bytes_in = r->head_len;
	p->head = r->method == HTTP1_M_HEAD;
	p->upgrade = r->conn_upgrade;
}

/* Drops the oldest pending request (its response ended). */
static void
hconn_pend_pop(struct hconn *h)
{
	free(h->pend[h->phead].path);
	h->pend[h->phead].path = NULL;
	h->phead = (uint8_t)((h->phead + 1) % HCONN_PIPELINE_MAX);
	h->pcount--;
}

/* Ends the connection: the lines of the requests it still owes, then one log line (with the
 * terminator's result r, or NULL) and every resource back (edge_close), then what is the
 * kind's own. The memory is freed deferred; h->e.closed says it is over. */
static void
hconn_close_term(struct hconn *h, enum edge_end end, const struct term_result *r)
{
	if (h->e.closed)
		return;
	edge_preread_done(&h->e);
	while (h->pcount > 0) {
		/* Forwarded, never (fully) answered: the log says so (status "-" when nothing). */
		struct hconn_pending *p = &h->pend[h->phead];
		hconn_log_req(h, p, p->status, p->status, true);
		hconn_pend_pop(h);
	}
	struct edge_log x = {
		.sni = h->host,
		.bytes_in = h->bytes_in,
		.bytes_out = h->down.bytes + h->bytes_down + h->bytes_own,
		.term_end = r != NULL ? r->end : NULL,
		.vpn = r != NULL ? r->vpn : NULL, /* logged before r goes away */
	};
	edge_close(&h->e, end, &h->client, &x);
	relay_release(h->e.w, &h->down);
	bufpool_put(h->cbuf);
	bufpool_put(h->hbuf);
	bufpool_put(h->ubuf);
	h->cbuf = h->hbuf = h->ubuf = NULL;
	h->clen = h->fwd = h->held = h->hlen = h->hoff = h->ulen = h->uready = 0;
	free(h->pend);
	h->pend = NULL;
	free(h->resp);
	h->resp = NULL;
	free(h->host);
	h->host = NULL;
}

/* hconn_close_term without a terminator's result: every close but the terminator's. */
static void
hconn_close(struct hconn *h, enum edge_end end)
{
	hconn_close_term(h, end, NULL);
}

/* hconn_close as the edge's close (edge_admit, edge_close_all). */
static void
hconn_close_edge(struct edge *e, enum edge_end end)
{
	hconn_close((struct hconn *)e, end);
}

/*
 * Queues our own response: the status line and page of an ordinary nginx, from the table
 * the terminator's site uses too (proto/http_status: :80 and :443 answer alike), with
 * Server: nginx and Content-Length. close: the stream may be out of sync (or the client
 * asked), so the connection ends once it is written (after a lingering close), with end as
 * the reason. location: for 301.
 */
static void
hconn_respond(struct hconn *h, int status, const char *location, size_t loclen, bool head_only,
    bool close, enum edge_end end)
{
	const struct http_status *si = http_status_get(status);
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);

	free(h->resp);
	h->resp = malloc(HCONN_RESP_MAX);
	h->roff = h->rlen = 0;
	h->close_after = true;
	h->end_after = (uint8_t)end;
	if (h->resp == NULL)
		return; /* the driver closes: nothing to write */
	int n = snprintf(h->resp, HCONN_RESP_MAX,
	    "HTTP/1.1 %s\r\nServer: " HTTP_STATUS_SERVER "\r\nDate: %s\r\n"
	    "Content-Type: text/html\r\nContent-Length: %zu\r\n%s%.*s%sConnection: %s\r\n\r\n"
	    "%.*s",
	    si->line, date, si->page_len, location ? "Location: " : "",
	    location ? (int)loclen : 0, location ? location : "", location ? "\r\n" : "",
	    close ? "close" : "keep-alive", head_only ? 0 : (int)si->page_len,
	    si->page != NULL ? si->page : "");
	if (n < 0 || n >= HCONN_RESP_MAX) {
		free(h->resp);
		h->resp = NULL;
		return;
	}
	h->rlen = (uint32_t)n;
	h->close_after = close;
	stats_add(h->e.l->hstats, h->e.w->id, stats_http_status_field(si->wire), 1);
	/* Its log line: the forwarded request it answers (502/504), or the head just read. */
	if (h->pcount > 0) {
		struct hconn_pending *p = &h->pend[h->phead];
		p->bytes_out += (uint64_t)n;
		hconn_log_req(h, p, si->wire, 0, true);
		hconn_pend_pop(h);
	} else {
		struct hconn_pending p;
		hconn_pend_fill(h, &p);
		p.bytes_out = (uint64_t)n;
		hconn_log_req(h, &p, si->wire, 0, false);
		free(p.path);
	}
}

/* Writes our own response; 1 on progress, 0 when blocked or none, -1 when h was closed. */
static int
hconn_write_resp(struct hconn *h)
{
	int progress = 0;
	if (h->resp == NULL) {
		if (h->close_after) {
			hconn_close(h, (enum edge_end)h->end_after);
			return -1;
		}
		return 0;
	}
	while (h->roff < h->rlen && h->e.c_wr) {
		ssize_t n = send(h->e.cfd, h->resp + h->roff, h->rlen - h->roff, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN) {
				h->e.c_wr = false;
				break;
			}
			if (errno == EINTR)
				continue;
			hconn_close(h, EDGE_END_CLIENT_ERROR);
			return -1;
		}
		h->roff += (uint32_t)n;
		h->bytes_own += (uint64_t)n;
		h->e.last_ms = clock_mono_ms();
		progress = 1;
	}
	if (h->roff < h->rlen)
		return progress;
	free(h->resp);
	h->resp = NULL;
	if (h->close_after) {
		if (hconn_linger_start(h) == 0)
			return 1;
		hconn_close(h, (enum edge_end)h->end_after);
		return -1;
	}
	return 1;
}

/*
 * Our answer that ends the connection is out: unless the client already closed, half-close
 * and discard what it still sends (core/linger.h), so that no reset over unread bytes makes
 * its stack drop the answer. Returns 0 when lingering, -1 when the caller closes at once.
 */
static int
hconn_linger_start(struct hconn *h)
{
	if (h->c_eof || linger_start(h->e.cfd) == -1)
		return -1;
	edge_preread_done(&h->e);
	edge_up_drop(&h->e);
	h->ustate = HU_NONE;
	if (h->cbuf != NULL) {
		bufpool_put(h->cbuf); /* nothing read from here on is a request */
		h->cbuf = NULL;
		h->clen = h->fwd = h->held = 0;
	}
	h->lingering = true;
	h->linger_at = h->linger_last = clock_mono_ms();
	edge_timer(&h->e, linger_due(h->linger_at, h->linger_last) - h->linger_at);
	return 0;
}

/* LINGER: discards a bounded amount of what the client sends; its end closes. */
static void
hconn_linger(struct hconn *h)
{
	uint64_t before = h->bytes_in;
	enum linger_rc rc = linger_drain(h->e.cfd, &h->bytes_in);
	if (rc == LINGER_DONE) {
		hconn_close(h, (enum edge_end)h->end_after);
		return;
	}
	if (h->bytes_in != before)
		h->linger_last = clock_mono_ms(); /* the timer reads it when it fires */
	if (rc == LINGER_YIELD)
		yield_event(&h->e.cev, 0); /* more is waiting: after the next poll, others first */
}

/*
 * The client address of a request from a trusted forwarder: the rightmost entry of its
 * X-Forwarded-For field lines that parses as an IP ("a.b.c.d", "v6", "[v6]", with an
 * optional ":port" after IPv4 or "]"); false when none does.
 */
static bool
hconn_xff_client(const struct http1_req *r, const uint8_t *buf, struct sockaddr_storage *out)
{
	bool found = false;
	for (unsigned i = 0; i < r->nfields; i++) {
		if (!http1_view_ieq(buf, r->fields[i].name, "x-forwarded-for"))
			continue;
		const uint8_t *v = buf + r->fields[i].value.off;
		size_t len = r->fields[i].value.len, s = 0;
		while (s <= len) {
			size_t e = s;
			while (e < len && v[e] != ',')
				e++;
			size_t a = s, b = e;
			while (a < b && (v[a] == ' ' || v[a] == '\t'))
				a++;
			while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
				b--;
			char tok[INET6_ADDRSTRLEN + 8];
			if (b - a > 0 && b - a < sizeof tok) {
				memcpy(tok, v + a, b - a);
				tok[b - a] = '\0';
				char *ip = tok;
				if (ip[0] == '[') {
					char *close = strchr(ip, ']');
					if (close != NULL && (close[1] == '\0' || close[1] == ':')) {
						*close = '\0';
						ip++;
					}
				} else if (strchr(ip, '.') != NULL && strchr(ip, ':') != NULL) {
					*strchr(ip, ':') = '\0'; /* a.b.c.d:port */
				}
				struct sockaddr_storage ss;
				memset(&ss, 0, sizeof ss);
				struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
				if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
					s4->sin_family = AF_INET;
					*out = ss;
					found = true;
				} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
					s6->sin6_family = AF_INET6;
					*out = ss;
					found = true;
				}
			}
			s = e + 1;
		}
	}
	return found;
}

/*
 * True when a field name is s (lowercase, '-' separated) ignoring ASCII case, with '-' and
 * '_' equal: CGI/WSGI stacks fold both spellings into one variable (HTTP_X_FORWARDED_FOR).
 */
static bool
hconn_name_is(const uint8_t *buf, struct http1_view name, const char *s)
{
	size_t n = strlen(s);
	if (name.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = buf[name.off + i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		if (c == '_')
			c = '-';
		if (c != (uint8_t)s[i])
			return false;
	}
	return true;
}

/* The forwarding fields we own: removed from every request, ours appended. */
static const char *const hconn_owned_fields[] = {
	"x-forwarded-for", "x-real-ip", "x-forwarded-proto", "forwarded",
};
/* Fields that name the client or the host for some backends: removed unless the peer is a
 * trusted forwarder (which may set them). */
static const char *const hconn_spoofable_fields[] = {
	"x-forwarded-host", "x-client-ip", "true-client-ip",
};

/* True for the field lines never passed on as the client sent them. trusted: the peer is
 * in trusted_forwarders. te: Transfer-Encoding is normalised (see hconn_te_normal). */
static bool
hconn_fwd_field(const uint8_t *buf, struct http1_view name, bool trusted, bool te)
{
	for (size_t i = 0; i < sizeof hconn_owned_fields / sizeof hconn_owned_fields[0]; i++)
		if (hconn_name_is(buf, name, hconn_owned_fields[i]))
			return true;
	for (size_t i = 0; !trusted && i < sizeof hconn_spoofable_fields /
	    sizeof hconn_spoofable_fields[0]; i++)
		if (hconn_name_is(buf, name, hconn_spoofable_fields[i]))
			return true;
	return te && http1_view_ieq(buf, name, "transfer-encoding");
}

/*
 * True when the Transfer-Encoding of a chunked request must be rewritten: anything but one
 * field line whose value is exactly "chunked". The parser accepts only chunked, once, but
 * allows empty list elements ("chunked," or ", chunked") and several field lines; an upstream
 * that reads those differently would frame the body differently, so it gets the plain form.
 */
static bool
hconn_te_normal(const struct http1_req *r, const uint8_t *buf)
{
	unsigned lines = 0;
	bool plain = false;
	if (!r->chunked)
		return false;
	for (unsigned i = 0; i < r->nfields; i++) {
		if (!http1_view_ieq(buf, r->fields[i].name, "transfer-encoding"))
			continue;
		lines++;
		plain = http1_view_ieq(buf, r->fields[i].value, "chunked");
	}
	return lines != 1 || !plain;
}

/* The head as it goes upstream: the client's field lines we drop, ours, and its size. */
struct hconn_fwd {
	bool     te;        /* Transfer-Encoding is rewritten (hconn_te_normal) */
	unsigned fields;    /* field lines forwarded: the client's kept ones and ours */
	uint32_t bytes;     /* the whole forwarded head, final CRLF included */
	int      ours_len;  /* bytes of ours, the final CRLF included */
	char     ours[HCONN_FWD_FIELDS];
};

/* The end of field line i of the head in buf: past its LF (the parser took CRLF only). */
static uint32_t
hconn_line_end(const struct http1_req *r, const uint8_t *buf, unsigned i)
{
	uint32_t end = r->fields[i].name.off;
	while (end < r->head_len && buf[end] != '\n')
		end++;
	return end + 1;
}

/*
 * Plans the head of the request in cbuf as it goes upstream: the client's field lines minus
 * those never passed on, plus ours (Transfer-Encoding when normalised, the four forwarding
 * fields) before the final CRLF. False when ours cannot be written (never: they are bounded).
 */
static bool
hconn_fwd_plan(struct hconn *h, struct hconn_fwd *f)
{
	const struct http1_req *r = &h->req;
	const uint8_t *in = h->cbuf;
	unsigned dropped = 0;
	uint32_t dropped_bytes = 0;
	f->te = hconn_te_normal(r, in);
	for (unsigned i = 0; i < r->nfields; i++) {
		if (!hconn_fwd_field(in, r->fields[i].name, h->trusted, f->te))
			continue;
		dropped++;
		dropped_bytes += hconn_line_end(r, in, i) - r->fields[i].name.off;
	}
	char ip[INET6_ADDRSTRLEN];
	edge_ip_str(&h->client, ip, sizeof ip);
	bool v6 = h->client.ss_family == AF_INET6;
	/* RFC 7239 §4, §6: an IPv6 node is "[v6]", quoted because of the ':'. */
	f->ours_len = snprintf(f->ours, sizeof f->ours,
	    "%sX-Forwarded-For: %s\r\nX-Real-IP: %s\r\nX-Forwarded-Proto: http\r\n"
	    "Forwarded: for=%s%s%s;proto=http\r\n\r\n", f->te ? "Transfer-Encoding: chunked\r\n" : "",
	    ip, ip, v6 ? "\"[" : "", ip, v6 ? "]\"" : "");
	if (f->ours_len < 0 || (size_t)f->ours_len >= sizeof f->ours)
		return false;
	f->fields = r->nfields - dropped + (f->te ? 1u : 0u) + HCONN_FWD_LINES;
	f->bytes = r->head_len - 2 - dropped_bytes + (uint32_t)f->ours_len;
	return true;
}

/*
 * True when the planned head is one our own parser would take (proto/http1.h): an edge
 * proxy never sends a head over HTTP1_HEADERS_MAX field lines or HTTP1_HEAD_MAX bytes,
 * which many upstreams refuse too, only because of the lines it added itself.
 */
static bool
hconn_fwd_fits(const struct hconn_fwd *f)
{
	return f->fields <= HTTP1_HEADERS_MAX && f->bytes <= HTTP1_HEAD_MAX;
}

/*
 * Writes the head at cbuf[0, head_len) to hbuf as planned: without the forwarding field
 * lines the client sent and with ours appended before the final CRLF. Everything else is
 * byte-exact.
 */
static bool
hconn_rewrite_head(struct hconn *h, const struct hconn_fwd *f)
{
	const struct http1_req *r = &h->req;
	const uint8_t *in = h->cbuf;
	if (h->hbuf == NULL && (h->hbuf = bufpool_get()) == NULL)
		return false;
	uint8_t *out = h->hbuf;
	uint32_t o = 0, from = 0;
	for (unsigned i = 0; i < r->nfields; i++) {
		if (!hconn_fwd_field(in, r->fields[i].name, h->trusted, f->te))
			continue;
		uint32_t start = r->fields[i].name.off;
		memcpy(out + o, in + from, start - from);
		o += start - from;
		from = hconn_line_end(r, in, i);
	}
	/* The rest up to, not including, the empty line's CRLF; then ours. */
	memcpy(out + o, in + from, r->head_len - 2 - from);
	o += r->head_len - 2 - from;
	memcpy(out + o, f->ours, (size_t)f->ours_len);
	h->hlen = o + (uint32_t)f->ours_len;
	h->hoff = 0;
	return true;
}

/* Drops the head just handled from the client buffer and readies the parser for the next. */
static void
hconn_consume_head(struct hconn *h)
{
	uint32_t n = h->req.head_len;
	memmove(h->cbuf, h->cbuf + n, h->clen - n);
	h->clen -= n;
	http1_req_init(&h->req);
}

/* Connects to the next server the balancer offers; when none is left answers 502/504.
 * Returns 0 (h lives on) always: the answer is written by the driver. */
static int
hconn_connect(struct hconn *h)
{
	uint8_t ip[16];
	sa_family_t fam = edge_ip_bytes(&h->client, ip);
	switch (edge_up_connect(&h->e, fam, ip, hconn_upstream_cb)) {
	case EDGE_DIAL_PENDING:
		h->ustate = HU_CONNECTING;
		return 0;
	case EDGE_DIAL_NO_SOCKET:
		h->ustate = HU_NONE;
		h->hlen = h->hoff = 0;
		hconn_respond(h, 502, NULL, 0, false, true, EDGE_END_NO_MEMORY);
		return 0;
	case EDGE_DIAL_NONE_LEFT:
		break;
	}
	h->ustate = HU_NONE;
	h->hlen = h->hoff = 0;
	enum edge_end end = edge_up_failure(&h->e);
	hconn_respond(h, end == EDGE_END_UPSTREAM_TIMEOUT ? 504 : 502, NULL, 0, h->head_req, true,
	    end);
	return 0;
}

/* The 16 address bytes and the port of ss for a PROXY header; an IPv4 address is written
 * IPv4-mapped when v6 is asked for (a client from X-Forwarded-For may be of the other family
 * than the listener's socket: it is still named, never replaced by UNKNOWN). */
static void
hconn_proxy_ip(const struct sockaddr_storage *ss, bool v6, uint8_t out[16], uint16_t *port)
{
	memset(out, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		if (v6) {
			out[10] = out[11] = 0xff;
			memcpy(out + 12, &s4->sin_addr, 4);
		} else {
			memcpy(out, &s4->sin_addr, 4);
		}
		*port = ntohs(s4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		memcpy(out, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
	}
}

/*
 * Puts the PROXY header the upstream wants (proxy_protocol: v1 | v2) before the head in
 * hbuf: the source is this request's client (after PROXY in / trusted X-Forwarded-For), the
 * destination where the client connected. v2 carries AUTHORITY = the Host name (never an IP
 * literal); no ALPN (plain HTTP has none). The header goes once per upstream connection, so
 * its client is kept in up_client: a later request from another client is not sent on it.
 * Returns false when no header can be built; then nothing may go upstream.
 */
static bool
hconn_proxy_out(struct hconn *h)
{
	enum conf_proxy_protocol pp = h->e.up->conf->proxy_protocol;
	h->pp_len = 0;
	if (pp == CONF_PP_OFF)
		return true;
	if (!h->has_local) {
		socklen_t llen = sizeof h->local;
		if (getsockname(h->e.cfd, (struct sockaddr *)&h->local, &llen) == -1)
			return false;
		h->has_local = true;
	}
	sa_family_t cf = h->client.ss_family, lf = h->local.ss_family;
	if ((cf != AF_INET && cf != AF_INET6) || (lf != AF_INET && lf != AF_INET6))
		return false;
	bool v6 = cf == AF_INET6 || lf == AF_INET6;
	struct proxy_addr a;
	memset(&a, 0, sizeof a);
	a.family = v6 ? PROXY_FAM_INET6 : PROXY_FAM_INET;
	a.transport = PROXY_TRANS_STREAM;
	hconn_proxy_ip(&h->client, v6, a.src, &a.sport);
	hconn_proxy_ip(&h->local, v6, a.dst, &a.dport);
	uint8_t hdr[HCONN_PROXY_OUT_MAX];
	int len;
	if (pp == CONF_PP_V1) {
		len = proxy_v1_encode((char *)hdr, sizeof hdr, &a);
	} else {
		struct proxy_v2_tlvs t = {
			.authority = h->host_is_name ? (const uint8_t *)h->host : NULL,
			.authority_len = h->host_is_name ? strlen(h->host) : 0,
		};
		len = proxy_v2_encode(hdr, sizeof hdr, &a, &t);
	}
	if (len <= 0 || h->hbuf == NULL || (size_t)len > BUFPOOL_SIZE - h->hlen)
		return false;
	memmove(h->hbuf + len, h->hbuf, h->hlen);
	memcpy(h->hbuf, hdr, (size_t)len);
	h->hlen += (uint32_t)len;
	h->pp_len = (uint16_t)len;
	h->up_client = h->client;
	return true;
}

/* True when two client addresses are the same (family, IP and port). */
static bool
hconn_same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	uint8_t ia[16], ib[16];
	uint16_t pa, pb;
	if (a->ss_family != b->ss_family)
		return false;
	hconn_proxy_ip(a, false, ia, &pa);
	hconn_proxy_ip(b, false, ib, &pb);
	return memcmp(ia, ib, 16) == 0 && pa == pb;
}

/* The upstream socket is connected (or failed): check, count, or fail over; then the
 * PROXY header. */
static void
hconn_connected(struct hconn *h)
{
	if (edge_up_connected(&h->e) == -1) {
		hconn_connect(h);
		return;
	}
	h->ustate = HU_UP;
	h->uanswered = 0;
	h->e.last_ms = clock_mono_ms();
	edge_timer(&h->e, h->e.l->conf->idle_timeout_ms);
	if (!hconn_proxy_out(h)) {
		/* Never without the header: the upstream would take us for the client. */
		log_warn("listener %s route %s: upstream %s: cannot build the PROXY header",
		    h->e.l->conf->name, h->e.route->label, h->e.up->conf->name);
		edge_up_drop(&h->e);
		h->ustate = HU_NONE;
		h->hlen = h->hoff = 0;
		hconn_respond(h, 502, NULL, 0, h->head_req, true, EDGE_END_PROXY_ENCODE);
	}
}

/* Stops taking requests: the upstream finishes what it has, then the connection closes. */
static void
hconn_drain(struct hconn *h, enum edge_end why)
{
	h->draining = true;
	h->end_after = (uint8_t)why;
}

/*
 * The Location of a redirect: https://host[:port]path. The path is the origin-form
 * target as sent (query included); an absolute-form target gives its path; anything else
 * (asterisk-form) gives "/". Returns the length written to out (cap bytes), 0 if too long.
 */
static size_t
hconn_location(struct hconn *h, const char *host, char *out, size_t cap)
{
	const uint8_t *t = h->cbuf + h->req.target.off;
	size_t tlen = h->req.target.len, p = 0;
	if (tlen == 0 || t[0] != '/') {
		/* Absolute-form: scheme "://" authority path; the path starts at the next '/'. */
		size_t k = 0;
		while (k + 2 < tlen && !(t[k] == ':' && t[k + 1] == '/' && t[k + 2] == '/'))
			k++;
		p = tlen;
		if (k + 2 < tlen)
			for (p = k + 3; p < tlen && t[p] != '/'; p++)
				;
	}
	char port[8] = "";
	if (h->e.l->conf->https_port != 0 && h->e.l->conf->https_port != 443)
		snprintf(port, sizeof port, ":%u", h->e.l->conf->https_port);
	int n = snprintf(out, cap, "https://%s%s%.*s", host, port, p < tlen ? (int)(tlen - p) : 1,
	    p < tlen ? (const char *)t + p : "/");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/*
 * A raw IP-literal Host (which names no route) for the log and a redirect: the value
 * without its port, when it holds only address characters; else NULL.
 */
static char *
hconn_host_literal(const uint8_t *v, size_t len)
{
	size_t e = 0;
	if (len > 0 && v[0] == '[') {
		while (e < len && v[e] != ']')
			e++;
		if (e == len)
			return NULL;
		e++;
	} else {
		while (e < len && v[e] != ':')
			e++;
	}
	for (size_t i = 0; i < e; i++)
		if (strchr("0123456789abcdefABCDEF.:[]", v[i]) == NULL || v[i] == '\0')
			return NULL;
	if (e == 0)
		return NULL;
	/* Not strndup: v is the client buffer, which holds no NUL to stop at. */
	char *s = malloc(e + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, v, e);
	s[e] = '\0';
	return s;
}

/*
 * An absolute-form target (RFC 9112 §3.2.2, "http://authority/path"): a server must use its
 * authority rather than Host, and the upstream behind us may do just that, so the request is
 * routed by Host only when both name the same host and port (hn, name and port are Host's,
 * from hostname_from_host_header). True for origin-form and asterisk-form targets and for an
 * authority that agrees; false (400) for any other scheme than http/https, userinfo, an
 * authority that is not a valid host, or one that differs from Host.
 */
static bool
hconn_target_agrees(struct hconn *h, enum hostname_verdict hn, const char *name, size_t nlen,
    uint16_t port)
{
	const uint8_t *t = h->cbuf + h->req.target.off;
	size_t tlen = h->req.target.len, k = 0, a, e;
	if (tlen == 0 || t[0] == '/' || (tlen == 1 && t[0] == '*'))
		return true;
	while (k + 2 < tlen && !(t[k] == ':' && t[k + 1] == '/' && t[k + 2] == '/'))
		k++;
	if (k + 2 >= tlen)
		return false;
	struct http1_view scheme = { .off = h->req.target.off, .len = (uint32_t)k };
	bool https = http1_view_ieq(h->cbuf, scheme, "https");
	if (!https && !http1_view_ieq(h->cbuf, scheme, "http"))
		return false;
	a = k + 3;
	for (e = a; e < tlen && t[e] != '/' && t[e] != '?' && t[e] != '#'; e++)
		if (t[e] == '@')
			return false; /* userinfo: RFC 9110 §4.2.4, never in http(s) URIs */
	char aname[HOSTNAME_BUF];
	size_t alen = 0;
	uint16_t aport = 0;
	enum hostname_verdict av = hostname_from_host_header(t + a, e - a, aname, &alen, &aport);
	if (av != hn)
		return false;
	if (av == HOSTNAME_ERR_IP_LITERAL) {
		/* No route names a literal: the two must be the same text. */
		const uint8_t *hv = h->cbuf + h->req.host.off;
		if (h->req.host.len != e - a)
			return false;
		for (size_t i = 0; i < e - a; i++)
			if ((hv[i] | 0x20) != (t[a + i] | 0x20))
				return false;
		return true;
	}
	if (av != HOSTNAME_OK || alen != nlen || memcmp(aname, name, nlen) != 0)
		return false;
	uint16_t def = https ? 443 : 80;
	return (aport != 0 ? aport : def) == (port != 0 ? port : def);
}

/* The terminator closed a handed-over connection: log it and free the record. */
static void
hconn_term_done(void *arg, const struct term_result *r)
{
	struct hconn *h = arg;
	h->e.tc = NULL;
	h->bytes_in += r->bytes_in; /* it counts the handed-over bytes again: see terminate */
	h->bytes_own += r->bytes_out;
	hconn_close_term(h, r->error ? EDGE_END_TERMINATED_ERROR : EDGE_END_TERMINATED, r);
}

/*
 * Hands the connection to the terminator's site (plain HTTP): the socket, every byte read
 * from the start of the current request head (pipelined ones included), the client address
 * decided for this request and the Host. This record stays, without buffers, for the drain,
 * the connection count and the one access-log line. Returns 0, or -1 when h was closed.
 */
static int
hconn_terminate(struct hconn *h)
{
	struct term_handoff th = {
		.fd = h->e.cfd,
		.pre = h->cbuf,
		.pre_len = h->clen,
		.peer = &h->client,
		.sni = h->host,
		.tls = false,
		.idle_timeout_ms = h->e.l->conf->idle_timeout_ms,
		.head_timeout_ms = h->e.l->conf->preread_timeout_ms,
		.worker = h->e.w->id,
		.stats = h->e.l->hstats,
		.done = hconn_term_done,
		.arg = h,
	};
	event_del(&h->e.cev);
	edge_timer_stop(&h->e);
	h->e.cfd = -1; /* the terminator's now, even if it refuses */
	h->state = HS_TERMINATED;
	h->bytes_in -= h->clen; /* the terminator reports them in its bytes_in */
	h->e.tc = term_accept(h->e.gen->term, h->e.w->base, &th);
	if (h->cbuf != NULL) {
		bufpool_put(h->cbuf); /* copied by term_accept */
		h->cbuf = NULL;
		h->clen = 0;
	}
	if (h->e.tc == NULL) {
		hconn_close(h, EDGE_END_NO_MEMORY);
		return -1;
	}
	return 0;
}

/*
 * Refuses the head at cbuf[0] with status (our own answer, then the connection ends), or,
 * when earlier requests are still being answered on an upstream connection, takes nothing
 * more: their answers go out, then the connection ends. Returns 0 (h lives on).
 */
static int
hconn_refuse(struct hconn *h, int status, bool head_only)
{
	if (h->ustate != HU_NONE) {
		hconn_drain(h, EDGE_END_BAD_REQUEST);
		return 0;
	}
	hconn_respond(h, status, NULL, 0, head_only, true, EDGE_END_BAD_REQUEST);
	return 0;
}

/*
 * A complete head (or a verdict against it) at cbuf[0]: route it and act. Returns 0 when
 * h lives on, -1 when it was closed.
 */
static int
hconn_request(struct hconn *h, enum http1_verdict v)
{
	struct http1_req *r = &h->req;
	bool head_only = v == HTTP1_DONE && r->method == HTTP1_M_HEAD;

	if (h->first) {
		h->first = false;
		edge_preread_done(&h->e);
		edge_timer(&h->e, h->e.l->conf->idle_timeout_ms);
	}
	h->requests++;
	h->head_req = head_only;
	h->e.last_ms = clock_mono_ms();

	if (v != HTTP1_DONE || r->method == HTTP1_M_CONNECT || !r->has_host) {
		/* A HEAD (an HTTP/1.0 one without Host) gets no page: the client reads none. */
		return hconn_refuse(h, v != HTTP1_DONE ? http1_verdict_status(v) : 400, head_only);
	}

	/* Host: a name routes; an IP literal names no route (the default takes it). */
	char name[HOSTNAME_BUF];
	size_t nlen = 0;
	uint16_t port;
	const uint8_t *hv = h->cbuf + r->host.off;
	enum hostname_verdict hn = hostname_from_host_header(hv, r->host.len, name, &nlen, &port);
	free(h->host);
	h->host = NULL;
	h->host_is_name = hn == HOSTNAME_OK;
	if (hn == HOSTNAME_OK) {
		h->host = strndup(name, nlen);
	} else if (hn == HOSTNAME_ERR_IP_LITERAL) {
		h->host = hconn_host_literal(hv, r->host.len);
	}
	if (h->host == NULL || !hconn_target_agrees(h, hn, name, nlen, port))
		return hconn_refuse(h, 400, head_only);
	struct route_rt *rt = hn == HOSTNAME_OK ? gen_route(h->e.l, name, nlen) : NULL;
	if (rt == NULL && h->e.l->conf->has_default)
		rt = &h->e.l->def;

	/* The client: the peer, or what a trusted forwarder says in X-Forwarded-For. */
	h->client = h->peer;
	h->trusted = h->e.l->conf->ntrusted_forwarders > 0 &&
	    confval_cidrs_match(h->e.l->conf->trusted_forwarders, h->e.l->conf->ntrusted_forwarders,
	    (const struct sockaddr *)&h->peer);
	if (h->trusted)
		hconn_xff_client(r, h->cbuf, &h->client);

	bool has_body = r->chunked || (r->has_cl && r->content_length > 0);
	bool keep = r->keep_alive && !has_body;
	enum conf_action act = rt != NULL ? rt->conf->action : CONF_ACTION_REJECT;

	/* A head that would go upstream over our own parser's limits once our lines are in is
	 * refused as one over the limits (431, sent as nginx's 400 "Request Header Or Cookie
	 * Too Large"): the client's field lines minus the ones we drop plus ours must fit. */
	struct hconn_fwd fwd = { .te = false };
	if (act == CONF_ACTION_UPSTREAM && (!hconn_fwd_plan(h, &fwd) || !hconn_fwd_fits(&fwd))) {
		log_debug("listener %s: a head of %u field lines and %u bytes as forwarded: over "
		    "the limits", h->e.l->conf->name, fwd.fields, (unsigned)fwd.bytes);
		return hconn_refuse(h, http1_verdict_status(HTTP1_ERR_HEADERS_TOO_LARGE), head_only);
	}

	if (act == CONF_ACTION_UPSTREAM && h->ustate != HU_NONE && rt->up != h->e.up) {
		log_debug("listener %s: request for route %s on a connection to upstream %s: "
		    "closing after its responses", h->e.l->conf->name, rt->label, h->e.up->conf->name);
		hconn_drain(h, EDGE_END_ROUTE_CHANGE);
		return 0;
	}
	if (act == CONF_ACTION_UPSTREAM && h->ustate != HU_NONE &&
	    h->e.up->conf->proxy_protocol != CONF_PP_OFF &&
	    !hconn_same_client(&h->client, &h->up_client)) {
		/* The PROXY header already sent names another client: never attribute this
		 * request to it. */
		log_debug("listener %s: request from another client on a connection to upstream "
		    "%s with PROXY: closing after its responses", h->e.l->conf->name,
		    h->e.up->conf->name);
		hconn_drain(h, EDGE_END_CLIENT_CHANGE);
		return 0;
	}
	if (act != CONF_ACTION_UPSTREAM && h->ustate != HU_NONE) {
		log_debug("listener %s: request for a non-upstream route on a connection to "
		    "upstream %s: closing after its responses", h->e.l->conf->name, h->e.up->conf->name);
		hconn_drain(h, EDGE_END_ROUTE_CHANGE);
		return 0;
	}
	h->e.route = rt;

	switch (act) {
	case CONF_ACTION_UPSTREAM:
		if (!hconn_rewrite_head(h, &fwd)) {
			hconn_respond(h, 502, NULL, 0, head_only, true, EDGE_END_NO_MEMORY);
			return 0;
		}
		if (h->pend == NULL &&
		    (h->pend = calloc(HCONN_PIPELINE_MAX, sizeof *h->pend)) == NULL) {
			hconn_respond(h, 502, NULL, 0, head_only, true, EDGE_END_NO_MEMORY);
			return 0;
		}
		struct hconn_pending *p =
		    &h->pend[(h->phead + h->pcount) % HCONN_PIPELINE_MAX];
		hconn_pend_fill(h, p);
		h->pcount++;
		/* An Upgrade switches to a relay only once the upstream answers 101: until then
		 * nothing after this request is parsed, after any other answer it is a request. */
		h->upgrade_wait = r->conn_upgrade;
		if (r->chunked) {
			h->body = HB_CHUNKED;
			http1_chunk_init_fields(&h->chunk); /* its trailer lines: hconn_chunked */
			h->held = 0;
		} else if (r->has_cl && r->content_length > 0) {
			h->body = HB_LENGTH;
			h->body_left = r->content_length;
		} else {
			h->body = HB_NONE;
		}
		if (!r->keep_alive)
			h->stop_after = true; /* the client said close: nothing after this request */
		hconn_consume_head(h);
		if (h->ustate == HU_NONE) {
			h->e.up = rt->up;
			h->e.attempts = 0;
			h->e.tried = 0;
			return hconn_connect(h);
		}
		return 0;
	case CONF_ACTION_REDIRECT_HTTPS: {
		char loc[HCONN_LOCATION_MAX];
		size_t llen = hconn_location(h, h->host, loc, sizeof loc);
		if (llen == 0) {
			hconn_respond(h, 414, NULL, 0, head_only, true, EDGE_END_BAD_REQUEST);
			return 0;
		}
		hconn_respond(h, 301, loc, llen, head_only, !keep, EDGE_END_REDIRECT);
		break;
	}
	case CONF_ACTION_SITE:
		return hconn_terminate(h);
	default:
		hconn_respond(h, 404, NULL, 0, head_only, !keep, EDGE_END_NO_ROUTE);
		break;
	}
	if (keep)
		hconn_consume_head(h);
	return 0;
}

/*
 * Frames the next client bytes of a chunked body, after those held back. Every byte goes
 * upstream as sent, except the trailer field lines we own (RFC 9112 §7.1.2): an upstream
 * that merges trailer fields into the head (RFC 9110 §6.5.1 allows it for some) would
 * believe them. So a trailer field line is held back until it ends, then removed from cbuf
 * when its name is one hconn_fwd_field drops from a head of this peer, or marked to go.
 * Returns the framing verdict (FIELD: call again).
 */
static enum http1_chunk_verdict
hconn_chunked(struct hconn *h)
{
	uint32_t at = h->fwd + h->held;
	size_t used;
	enum http1_chunk_verdict cv = http1_chunk_feed(&h->chunk, h->cbuf + at, h->clen - at, &used);
	at += (uint32_t)used;
	if (cv != HTTP1_CHUNK_FIELD) {
		/* An unfinished trailer line (none on DONE) waits for its end, or never goes. */
		h->held = h->chunk.line_len;
		h->fwd = at - h->held;
		return cv;
	}
	uint32_t start = at - h->chunk.field_len;
	struct http1_view name = { .off = start, .len = h->chunk.name_len };
	if (hconn_fwd_field(h->cbuf, name, h->trusted, false)) {
		memmove(h->cbuf + start, h->cbuf + at, h->clen - at);
		h->clen -= h->chunk.field_len;
		at = start;
	}
	h->fwd = at;
	h->held = 0;
	return cv;
}

/*
 * Frames what the client sent: bodies are passed on as they are (marked in [0, fwd)),
 * heads are parsed once everything before them is out. Returns 1 on progress, 0 when
 * nothing could be done, -1 when h was closed.
 */
static int
hconn_process(struct hconn *h)
{
	int progress = 0;
	while (h->resp == NULL && !h->draining && !h->close_after) {
		uint32_t avail = h->clen - h->fwd - h->held;
		if (h->body != HB_NONE) {
			if (avail == 0)
				break;
			struct hconn_pending *tail = h->pcount > 0 ? &h->pend[(h->phead + h->pcount - 1) %
			    HCONN_PIPELINE_MAX] : NULL;
			uint32_t fwd0 = h->fwd;
			if (h->body == HB_TUNNEL) {
				h->fwd = h->clen;
			} else if (h->body == HB_LENGTH) {
				uint32_t n = h->body_left < avail ? (uint32_t)h->body_left : avail;
				h->fwd += n;
				h->body_left -= n;
				if (h->body_left == 0)
					h->body = HB_NONE;
			} else {
				enum http1_chunk_verdict cv = hconn_chunked(h);
				if (cv == HTTP1_CHUNK_DONE) {
					h->body = HB_NONE;
				} else if (cv != HTTP1_CHUNK_MORE && cv != HTTP1_CHUNK_FIELD) {
					/* Out of sync: the upstream gets what was framed, then the end. */
					log_debug("listener %s: chunked body: %s", h->e.l->conf->name,
					    http1_chunk_verdict_str(cv));
					hconn_drain(h, EDGE_END_BAD_BODY);
					break;
				}
			}
			if (tail != NULL && h->body != HB_TUNNEL)
				tail->bytes_in += h->fwd - fwd0;
			progress = 1;
			continue;
		}
		/* A new head: only once everything before it has gone upstream, no Upgrade waits
		 * for its answer, and the FIFO of unanswered requests has room (backpressure:
		 * nothing more is read from the client once its buffer is full). */
		if (h->fwd != 0 || h->hlen != 0 || h->ustate == HU_CONNECTING)
			break;
		if (h->stop_after) {
			/* The client said close: the upstream's answers are relayed, then the end. */
			hconn_drain(h, EDGE_END_DONE);
			break;
		}
		if (h->clen == 0 || h->upgrade_wait || h->pcount == HCONN_PIPELINE_MAX)
			break;
		enum http1_verdict v = http1_req_feed(&h->req, h->cbuf, h->clen);
		if (v == HTTP1_MORE)
			break;
		if (hconn_request(h, v) == -1)
			return -1;
		if (h->state == HS_TERMINATED)
			return -1; /* the terminator drives it now; touch nothing but the record */
		progress = 1;
	}
	/* The client finished sending and nothing it sent can make progress: wind down. An
	 * Upgrade's answer is waited for only once its body is out (the upstream answers after
	 * the body, which will never come now). */
	if (h->c_eof && !progress && !h->draining && h->resp == NULL && !h->close_after &&
	    h->fwd == 0 && h->hlen == 0 && (!h->upgrade_wait || h->body != HB_NONE) &&
	    h->pcount < HCONN_PIPELINE_MAX) {
		hconn_drain(h, (h->clen == 0 && h->body == HB_NONE) || h->body == HB_TUNNEL ?
		    EDGE_END_DONE : EDGE_END_CLIENT_CLOSED);
		progress = 1;
	}
	if (h->draining && h->ustate == HU_NONE && h->resp == NULL) {
		hconn_close(h, (enum edge_end)h->end_after);
		return -1;
	}
	return progress;
}

/* Reads what the client sent, to EAGAIN or a full buffer. 1 on progress, -1 when closed. */
static int
hconn_read_client(struct hconn *h)
{
	int progress = 0;
	if (h->c_eof || h->draining || h->close_after || !h->e.c_rd)
		return 0;
	if (h->cbuf == NULL && (h->cbuf = bufpool_get()) == NULL) {
		hconn_close(h, EDGE_END_NO_MEMORY);
		return -1;
	}
	while (h->e.c_rd && h->clen < BUFPOOL_SIZE) {
		ssize_t n = recv(h->e.cfd, h->cbuf + h->clen, BUFPOOL_SIZE - h->clen, 0);
		if (n == -1) {
			if (errno == EAGAIN) {
				h->e.c_rd = false;
				break;
			}
			if (errno == EINTR)
				continue;
			hconn_close(h, h->state == HS_PROXY ? EDGE_END_PROXY_CLOSED : EDGE_END_CLIENT_ERROR);
			return -1;
		}
		if (n == 0) {
			h->c_eof = true;
			progress = 1;
			break;
		}
		h->clen += (uint32_t)n;
		h->bytes_in += (uint64_t)n;
		h->e.last_ms = clock_mono_ms();
		progress = 1;
	}
	hconn_cbuf_trim(h);
	return progress;
}

/* The PROXY step over the bytes so far; on DONE the header is dropped from the buffer.
 * Returns -1 when h was closed, 0 otherwise. */
static int
hconn_proxy_step(struct hconn *h)
{
	size_t hdr = 0;
	struct sockaddr_storage src, dst;
	bool proxied = false;
	enum pp_in_rc rc = h->clen == 0 ? PP_IN_MORE :
	    pp_in_step(&h->pp, h->cbuf, h->clen, &hdr, &src, &dst, &proxied);
	if (rc == PP_IN_MORE) {
		if (!h->c_eof)
			return 0;
		edge_count(&h->e, SL_PROXY_CLOSED);
		hconn_close(h, EDGE_END_PROXY_CLOSED);
		return -1;
	}
	if (rc != PP_IN_DONE) {
		hconn_close(h, edge_proxy_refused(&h->e, rc));
		return -1;
	}
	memmove(h->cbuf, h->cbuf + hdr, h->clen - hdr);
	h->clen -= (uint32_t)hdr;
	h->bytes_in -= hdr; /* the header is the hop's, not the client's */
	if (proxied) {
		h->peer = h->client = src;
		h->local = dst;
		h->has_local = true;
		/* Now the real client is known: it is the one the per-IP caps apply to. */
		if (!edge_admit(&h->e, &h->peer))
			return -1;
	}
	h->state = HS_HTTP;
	edge_preread_timer(&h->e);
	hconn_cbuf_trim(h);
	return 0;
}

/* Sends the rewritten head, then the body bytes marked for the upstream, in one sendmsg;
 * half-closes the upstream once a drain has nothing left. 1 on progress, -1 when closed. */
static int
hconn_flush_up(struct hconn *h)
{
	int progress = 0;
	if (h->ustate != HU_UP)
		return 0;
	while ((h->hoff < h->hlen || h->fwd > 0) && h->e.u_wr) {
		struct iovec iov[2];
		int n = 0;
		if (h->hoff < h->hlen) {
			iov[n].iov_base = h->hbuf + h->hoff;
			iov[n++].iov_len = h->hlen - h->hoff;
		}
		if (h->fwd > 0) {
			iov[n].iov_base = h->cbuf;
			iov[n++].iov_len = h->fwd;
		}
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t sent = sendmsg(h->e.ufd, &mh, MSG_NOSIGNAL);
		if (sent == -1) {
			if (errno == EAGAIN) {
				h->e.u_wr = false;
				break;
			}
			if (errno == EINTR)
				continue;
			hconn_close(h, EDGE_END_UPSTREAM_ERROR);
			return -1;
		}
		size_t left = (size_t)sent;
		if (h->hoff < h->hlen) {
			size_t k = h->hlen - h->hoff < left ? h->hlen - h->hoff : left;
			h->hoff += (uint32_t)k;
			left -= k;
		}
		if (left > 0) {
			memmove(h->cbuf, h->cbuf + left, h->clen - left);
			h->clen -= (uint32_t)left;
			h->fwd -= (uint32_t)left;
		}
		h->e.last_ms = clock_mono_ms();
		progress = 1;
	}
	if (h->pp_len > 0 && h->hoff >= h->pp_len) {
		h->e.pp_sent = (uint8_t)h->e.up->conf->proxy_protocol; /* the log says what went out */
		h->pp_len = 0;
	}
	if (h->hlen > 0 && h->hoff == h->hlen) {
		bufpool_put(h->hbuf);
		h->hbuf = NULL;
		h->hlen = h->hoff = 0;
	}
	hconn_cbuf_trim(h);
	if (h->draining && !h->ushut && h->hlen == 0 && h->fwd == 0) {
		shutdown(h->e.ufd, SHUT_WR); /* it finishes the responses it owes, then closes */
		h->ushut = true;
		progress = 1;
	}
	return progress;
}

/* The response to the oldest pending request has ended: its log line; the next head. */
static void
hconn_resp_done(struct hconn *h)
{
	struct hconn_pending *p = &h->pend[h->phead];
	hconn_log_req(h, p, p->status, p->status, true);
	hconn_pend_pop(h);
	h->uanswered++;
	h->rstate = RS_HEAD;
	http1_resp_init(&h->uresp);
}

/*
 * The upstream broke the framing (a malformed or unasked-for head, a 101 nobody asked for,
 * a bad chunked body) or closed in the middle of a response. The upstream connection is
 * useless: when nothing of the final response went to the client it gets a 502, else the
 * connection ends. Returns 0 when h lives on (the 502 is queued), -1 when it was closed.
 */
static int
hconn_bad_response(struct hconn *h, const char *why, enum edge_end end)
{
	log_debug("listener %s upstream %s server %s: %s", h->e.l->conf->name, h->e.up->conf->name,
	    h->e.server->label, why);
	if (h->rstate != RS_HEAD || h->pcount == 0 || h->down.blen > 0 || h->down.inpipe > 0) {
		hconn_close(h, end);
		return -1;
	}
	edge_up_drop(&h->e);
	h->ustate = HU_NONE;
	h->hlen = h->hoff = 0;
	h->ulen = h->uready = 0;
	hconn_respond(h, 502, NULL, 0, h->pend[h->phead].head, true, end);
	return 0;
}

/*
 * A complete response head at ubuf[0, head_len): match it to the oldest pending request
 * and decide how its body ends (RFC 9112 §6.3). 1xx other than 101 are passed on and the
 * real response follows; a 101 to an Upgrade request turns the connection into a relay.
 * Returns 0, or -1 when h was closed.
 */
static int
hconn_resp_head(struct hconn *h)
{
	const struct http1_resp *r = &h->uresp;
	if (h->pcount == 0)
		return hconn_bad_response(h, "a response no request asked for", EDGE_END_BAD_RESPONSE);
	struct hconn_pending *p = &h->pend[h->phead];
	if (r->status == 101 && !p->upgrade)
		return hconn_bad_response(h, "101 to a request without Upgrade", EDGE_END_BAD_RESPONSE);
	h->uready = r->head_len;
	p->bytes_out += r->head_len;
	if (r->status < 200 && r->status != 101) {
		http1_resp_init(&h->uresp); /* interim: the final response follows */
		return 0;
	}
	p->status = r->status;
	stats_add(h->e.l->hstats, h->e.w->id, stats_http_status_field(r->status), 1);
	if (r->status == 101) {
		h->upgrade_wait = false;
		h->body = HB_TUNNEL; /* the client's bytes go upstream raw from here on */
		hconn_log_req(h, p, p->status, p->status, true);
		hconn_pend_pop(h);
		h->rstate = RS_TUNNEL;
		return 0;
	}
	if (p->upgrade)
		h->upgrade_wait = false; /* refused: what follows is parsed as a request again */
	enum http1_resp_body b = http1_resp_body(r, p->head, false);
	if ((!r->keep_alive || b == HTTP1_BODY_CLOSE) && !h->draining)
		hconn_drain(h, EDGE_END_DONE); /* the upstream closes after this one: take no more */
	switch (b) {
	case HTTP1_BODY_NONE:
		hconn_resp_done(h);
		break;
	case HTTP1_BODY_LENGTH:
		h->rbody_left = r->content_length;
		h->rstate = RS_LENGTH;
		if (h->rbody_left == 0)
			hconn_resp_done(h);
		break;
	case HTTP1_BODY_CHUNKED:
		http1_chunk_init(&h->rchunk);
		h->rstate = RS_CHUNKED;
		break;
	case HTTP1_BODY_CLOSE:
		h->rstate = RS_CLOSE;
		break;
	}
	return 0;
}

/* The upstream closed and everything it sent is framed and out. -1: h was closed, or 0
 * when a 502 is queued. */
static int
hconn_up_eof(struct hconn *h)
{
	enum edge_end done = h->draining ? (enum edge_end)h->end_after : EDGE_END_DONE;
	if (h->rstate == RS_CLOSE && h->pcount > 0)
		hconn_resp_done(h); /* a body delimited by the close */
	if (h->rstate == RS_CLOSE || h->rstate == RS_TUNNEL ||
	    (h->rstate == RS_HEAD && h->pcount == 0 && h->ulen == 0)) {
		hconn_close(h, done);
		return -1;
	}
	if (h->rstate == RS_HEAD && h->ulen > 0)
		return hconn_bad_response(h, "closed inside a response head", EDGE_END_BAD_RESPONSE);
	if (h->rstate == RS_HEAD && h->uanswered > 0 && h->pend[h->phead].bytes_out == 0) {
		/* A reused connection closed by the upstream as a request went out (its keep-alive
		 * ran out): close without an answer, as it did, so the client retries. */
		hconn_close(h, EDGE_END_UPSTREAM_ERROR);
		return -1;
	}
	return hconn_bad_response(h, h->rstate == RS_HEAD ? "closed before answering" :
	    "closed inside a response body", EDGE_END_UPSTREAM_ERROR);
}

/* Body bytes of the current response that may go socket to socket (splice for bulk). */
static uint64_t
hconn_run(const struct hconn *h)
{
	switch (h->rstate) {
	case RS_LENGTH:
		return h->rbody_left;
	case RS_CHUNKED:
		return http1_chunk_data_left(&h->rchunk);
	case RS_CLOSE:
	case RS_TUNNEL:
		return UINT64_MAX;
	default:
		return 0;
	}
}

/*
 * Frames and relays the upstream's responses to the client, in order: heads are read into
 * ubuf and parsed (proto/http1_resp), bodies counted (Content-Length), framed
 * (proto/http1_chunk) or relayed to the close; body runs with nothing buffered go through
 * the relay (splice for bulk), byte-exact. Returns 1 on progress, 0 when blocked, -1 when
 * h was closed.
 */
static int
hconn_down(struct hconn *h)
{
	int progress = 0;
	if (h->ustate != HU_UP)
		return 0;
	for (int round = 0; round < RELAY_BUDGET; round++) {
		struct hconn_pending *p = h->pcount > 0 ? &h->pend[h->phead] : NULL;
		/* 1. What is framed goes first. */
		if (h->uready > 0) {
			if (!h->e.c_wr)
				return progress;
			ssize_t n = send(h->e.cfd, h->ubuf, h->uready, MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EAGAIN) {
					h->e.c_wr = false;
					return progress;
				}
				if (errno == EINTR)
					continue;
				hconn_close(h, EDGE_END_CLIENT_ERROR);
				return -1;
			}
			memmove(h->ubuf, h->ubuf + n, h->ulen - (uint32_t)n);
			h->ulen -= (uint32_t)n;
			h->uready -= (uint32_t)n;
			h->bytes_down += (uint64_t)n;
			h->e.last_ms = clock_mono_ms();
			progress = 1;
			continue;
		}
		bool busy = h->down.blen > 0 || h->down.inpipe > 0;
		if (!busy && h->ulen == 0 && h->pcount == 0 && h->rstate == RS_HEAD && h->draining &&
		    h->hlen == 0 && h->fwd == 0) {
			/* Every response owed is out and nothing more will be asked. */
			hconn_close(h, (enum edge_end)h->end_after);
			return -1;
		}
		/* 2. A body run with nothing buffered: socket to socket, never past its end. */
		uint64_t run = h->ulen == 0 ? hconn_run(h) : 0;
		if (h->ulen == 0 && (busy || run > 0)) {
			uint64_t before = h->down.bytes;
			enum relay_rc rc = relay_pump(h->e.w, &h->down, h->e.ufd, &h->e.u_rd, h->e.cfd, &h->e.c_wr,
			    true, run);
			uint64_t moved = h->down.bytes - before;
			if (moved > 0) {
				if (p != NULL)
					p->bytes_out += moved;
				if (h->rstate == RS_LENGTH)
					h->rbody_left -= moved;
				else if (h->rstate == RS_CHUNKED)
					http1_chunk_skip(&h->rchunk, moved);
				h->e.last_ms = clock_mono_ms();
				progress = 1;
			}
			switch (rc) {
			case RELAY_ERR_SRC:
				hconn_close(h, EDGE_END_UPSTREAM_ERROR);
				return -1;
			case RELAY_ERR_DST:
				hconn_close(h, EDGE_END_CLIENT_ERROR);
				return -1;
			case RELAY_DONE:
				return hconn_up_eof(h) == -1 ? -1 : 1;
			case RELAY_AGAIN:
				return 1;
			case RELAY_WAIT:
				return progress;
			case RELAY_LIMIT:
				if (h->rstate == RS_LENGTH && h->rbody_left == 0)
					hconn_resp_done(h);
				continue;
			}
		}
		/* 3. Frame what ubuf holds. */
		if (h->ulen > 0) {
			size_t used;
			uint32_t n;
			switch (h->rstate) {
			case RS_HEAD: {
				if (h->pcount == 0)
					return hconn_bad_response(h, "bytes no request asked for",
					    EDGE_END_BAD_RESPONSE) == -1 ? -1 : 1;
				enum http1_resp_verdict v = http1_resp_feed(&h->uresp, h->ubuf, h->ulen);
				if (v == HTTP1_RESP_DONE) {
					if (hconn_resp_head(h) == -1)
						return -1;
					progress = 1;
					continue;
				}
				if (v != HTTP1_RESP_MORE)
					return hconn_bad_response(h, http1_resp_verdict_str(v),
					    EDGE_END_BAD_RESPONSE) == -1 ? -1 : 1;
				break; /* read on */
			}
			case RS_LENGTH:
				n = h->rbody_left < h->ulen ? (uint32_t)h->rbody_left : h->ulen;
				h->uready = n;
				h->rbody_left -= n;
				p->bytes_out += n;
				if (h->rbody_left == 0)
					hconn_resp_done(h);
				continue;
			case RS_CHUNKED: {
				enum http1_chunk_verdict cv = http1_chunk_feed(&h->rchunk, h->ubuf, h->ulen,
				    &used);
				if (cv != HTTP1_CHUNK_DONE && cv != HTTP1_CHUNK_MORE) {
					log_debug("listener %s: chunked response body: %s",
					    h->e.l->conf->name, http1_chunk_verdict_str(cv));
					hconn_close(h, EDGE_END_BAD_RESPONSE);
					return -1;
				}
				h->uready = (uint32_t)used;
				p->bytes_out += used;
				if (cv == HTTP1_CHUNK_DONE)
					hconn_resp_done(h);
				continue;
			}
			default:
				h->uready = h->ulen;
				if (p != NULL)
					p->bytes_out += h->ulen;
				continue;
			}
		}
		/* 4. Read: a head (or chunk lines) into ubuf. */
		if (!h->e.u_rd)
			return progress;
		if (h->ubuf == NULL && (h->ubuf = bufpool_get()) == NULL) {
			hconn_close(h, EDGE_END_NO_MEMORY);
			return -1;
		}
		if (h->ulen == BUFPOOL_SIZE)
			return hconn_bad_response(h, "response head too large", EDGE_END_BAD_RESPONSE) == -1 ?
			    -1 : 1; /* unreachable: the parser stops at HTTP1_RESP_HEAD_MAX */
		ssize_t n = recv(h->e.ufd, h->ubuf + h->ulen, BUFPOOL_SIZE - h->ulen, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				hconn_close(h, EDGE_END_UPSTREAM_ERROR);
				return -1;
			}
			h->e.u_rd = false;
			if (h->ulen == 0) {
				bufpool_put(h->ubuf); /* an idle connection holds no buffer */
				h->ubuf = NULL;
			}
			return progress;
		}
		if (n == 0)
			return hconn_up_eof(h) == -1 ? -1 : 1;
		h->ulen += (uint32_t)n;
		h->e.last_ms = clock_mono_ms();
		progress = 1;
	}
	return 1;
}

/* The one driver: I/O and steps in order, repeated while something moves. */
static void
hconn_drive(struct hconn *h)
{
	if (h->e.closed)
		return; /* closed by an earlier step of this callback: only the memory is left */
	for (int round = 0; round < HCONN_ROUNDS; round++) {
		int progress = 0, rc;
		if (h->lingering) {
			hconn_linger(h); /* nothing else runs once our closing answer is out */
			return;
		}
		if (h->state == HS_PROXY) {
			if ((rc = hconn_read_client(h)) == -1)
				return;
			if (rc == 0)
				return;
			if (hconn_proxy_step(h) == -1)
				return;
			if (h->state == HS_PROXY)
				return;
		}
		if (h->ustate == HU_CONNECTING) {
			if (!h->e.u_wr && !h->e.u_rd)
				return;
			hconn_connected(h);
		}
		if ((rc = hconn_write_resp(h)) == -1)
			return;
		if (h->lingering)
			continue;
		progress |= rc;
		if ((rc = hconn_read_client(h)) == -1)
			return;
		progress |= rc;
		if ((rc = hconn_process(h)) == -1)
			return;
		progress |= rc;
		if (h->ustate == HU_CONNECTING)
			return; /* the connect edge drives the rest */
		if ((rc = hconn_write_resp(h)) == -1)
			return;
		if (h->lingering)
			continue;
		progress |= rc;
		if ((rc = hconn_flush_up(h)) == -1)
			return;
		progress |= rc;
		if ((rc = hconn_down(h)) == -1)
			return;
		progress |= rc;
		if (!progress)
			return;
	}
	yield_event(&h->e.cev, 0); /* others first: after the next poll, then go on */
}

/* Timer: PROXY and first-head deadlines, connect timeout (fail over), idle timeout. */
static void
hconn_timer(struct edge *e)
{
	struct hconn *h = (struct hconn *)e;
	if (h->lingering) {
		uint64_t now = clock_mono_ms(), due = linger_due(h->linger_at, h->linger_last);
		if (now < due)
			edge_timer(&h->e, due - now); /* bytes came since it was armed */
		else
			hconn_close(h, (enum edge_end)h->end_after);
		return;
	}
	if (h->state == HS_PROXY) {
		edge_count(&h->e, SL_PROXY_TIMEOUT);
		hconn_close(h, EDGE_END_PROXY_TIMEOUT);
		return;
	}
	if (h->ustate == HU_CONNECTING) {
		edge_up_timed_out(&h->e);
		hconn_connect(h);
		hconn_drive(h);
		return;
	}
	uint64_t now = clock_mono_ms();
	uint64_t limit = h->first ? h->e.l->conf->preread_timeout_ms : h->e.l->conf->idle_timeout_ms;
	uint64_t since = h->first ? h->e.start_ms : h->e.last_ms;
	if (now - since < limit) {
		edge_timer(&h->e, limit - (now - since));
		return;
	}
	/* A head that did not finish in time, like silence, is closed without an answer: nginx
	 * sends no 408 either, and the decoy must not differ from it. */
	hconn_close(h, h->first ? EDGE_END_PREREAD_TIMEOUT : EDGE_END_IDLE);
}

/* Readiness on the client socket. */
static void
hconn_client_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *h = arg;
	(void)fd;
	edge_ready(&h->e, what, true);
	hconn_drive(h);
}

/* Readiness on the upstream socket. */
static void
hconn_upstream_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *h = arg;
	(void)fd;
	if (edge_ready(&h->e, what, false))
		h->down.src_hup = true;
	hconn_drive(h);
}

void
hconn_accept(struct worker *w, struct listener_rt *l, int fd, const struct sockaddr_storage *peer)
{
	static const struct edge_kind kind = { .close = hconn_close_edge, .timer = hconn_timer };
	struct hconn *h = (struct hconn *)edge_new(sizeof *h, w, l, fd, &kind, hconn_client_cb);
	if (h == NULL)
		return;
	h->first = true;
	h->peer = h->client = *peer;
	pp_in_init(&h->pp);
	http1_req_init(&h->req);
	relay_init(&h->down);
	http1_resp_init(&h->uresp);

	int rc = edge_start(&h->e, peer);
	if (rc == -1)
		return;
	h->state = rc == 1 ? HS_PROXY : HS_HTTP;
	/* Listening sockets may defer accept until data arrives, so try to read at once. */
	h->e.c_rd = true;
	hconn_drive(h);
}
