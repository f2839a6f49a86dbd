/*
 * One connection handed over by the router (see terminator.h): the TLS handshake (or none,
 * for a plain-HTTP site route), then an HTTP/1.1 server loop on proto/http1: read a head,
 * answer it from the site, write the response, and go again for keep-alive and pipelined
 * requests. One driver, tconn_drive(), advances the state after every readiness edge or
 * timer; every path ends in exactly one tconn_close(), which frees the connection.
 *
 *   HANDSHAKE -> READ (head; a body is skipped) -> WRITE (head, then memory or file) -+
 *                  ^----------------------- keep-alive ------------------------------+
 *                                                      `-> SHUTDOWN [-> LINGER] -> close
 *
 * SHUTDOWN sends TLS's close_notify; when the client may still be sending (an error answer,
 * a body or pipelined bytes left unread), LINGER half-closes and discards what comes until
 * the client closes or core/linger's deadline, so the kernel never resets the connection
 * over unread bytes before the client has read the answer. A head that does not arrive in
 * time gets no answer, like nginx: the connection is closed.
 *
 * The bytes the router pre-read are served to OpenSSL first by a small read BIO, so the
 * ClientHello is never read from the socket twice. The handshake writes through a plain
 * socket BIO, which lets OpenSSL switch on kTLS; then files leave through SSL_sendfile.
 * Without kTLS, once the handshake is done, writes go through terminator/twbio: the records
 * of one round of SSL_write calls leave in one system call, and the driver flushes what is
 * held before it waits (tconn_drive's end) and before a response counts as sent. Without
 * kTLS a response's head and the first part of its body share one SSL_write (one TLS record
 * for small files). Requests are never read while a response is being written: that is the
 * backpressure. Untrusted bytes go only to proto/http1 and terminator/site.
 */
#include "terminator/term_int.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/bufpool.h"
#include "core/deadline.h"
#include "core/linger.h"
#include "core/stats.h"
#include "proto/hostname.h"
#include "proto/http1.h"
#include "proto/ws.h"
#include "terminator/site.h"
#include "terminator/twbio.h"
#include "terminator/vpn/vsess.h"
#include "terminator/vpn/vtun.h"

#define TCONN_IN_CAP       (HTTP1_HEAD_MAX + 1)     /* one byte past the limit gives 431 */
#define TCONN_RECORD       16384                    /* TLS record payload */
#define TCONN_CHUNK        (4 * TCONN_RECORD)       /* file bytes per read without kTLS */
#define TCONN_OUT_MAX      (TCONN_CHUNK + SITE_HEAD_MAX) /* largest response buffer */
#define TCONN_BODY_MAX     (1024u * 1024)          /* request body we skip; more: 413 */
#define TCONN_KEEPALIVE_MS 75000u                  /* idle between requests, at most */
_Static_assert(TCONN_OUT_MAX <= BUFPOOL_SIZE, "a response buffer comes from core/bufpool");

enum tconn_state { TC_HANDSHAKE, TC_READ, TC_WRITE, TC_SHUTDOWN, TC_LINGER, TC_VPN };

/*
 * What only a connection with a request in hand needs: the parser state and the response.
 * Allocated with the head buffer and freed with it, so an idle keep-alive connection holds
 * neither (about 20 KiB together).
 */
struct tconn_req {
	struct http1_req req;
	struct site_resp resp;
};

/* The one deadline: a handshake or a head (head_ms), idle / write progress (keep-alive), or
 * a lingering close (core/linger). */
enum tconn_tmode { TM_HEAD, TM_IDLE, TM_LINGER };

struct term_conn {
	struct term       *t;
	struct event_base *base;
	struct event       rev, wev, tev;
	int                fd;
	SSL               *ssl;       /* NULL: plain HTTP */
	uint8_t           *pre;       /* pre-read bytes not yet given to OpenSSL (TLS only) */
	size_t             pre_len, pre_off;
	uint8_t            state;
	bool               r_on, w_on;  /* rev / wev added */
	bool               want_r, want_w;
	bool               timed;       /* the head deadline runs for the current request */
	uint8_t            tmode;       /* TM_HEAD or TM_IDLE: which limit the deadline uses */
	uint64_t           t_start;     /* monotonic ms the current deadline counts from */
	uint64_t           t_expiry;    /* monotonic ms tev fires at; 0: not pending */
	uint64_t           linger_at;   /* monotonic ms LINGER began */
	bool               ktls;        /* SSL_sendfile available */
	bool               wbuf_on;     /* writes go through wb (no kTLS, handshake done) */
	struct twbio       wb;          /* the buffering write BIO's state */
	bool               draining;    /* shutdown: no keep-alive after this response */
	struct tconn_req  *rq;          /* the request being read or answered; NULL while idle */
	uint8_t           *in;          /* its head and what follows it: bytes after *rq */
	size_t             in_cap, in_len;
	uint64_t           skip;        /* request body bytes still to drop */
	uint8_t           *out;         /* pending bytes of the response; only while one is sent */
	size_t             out_cap, out_len, out_off;
	int                ffd;         /* file body, -1 when none */
	off_t              foff;
	size_t             fleft;
	uint64_t           bytes_in, bytes_out;
	uint32_t           requests;
	int                last_status;
	uint64_t           idle_ms, head_ms;
	char              *sni;
	term_done_fn      *done;
	void              *arg;
	struct stats_entry *stats;
	unsigned           worker;
	struct sockaddr_storage peer;   /* the real client (after PROXY), for the VPN's log */
	struct vsess      *vs;          /* the VPN session after a 101; NULL otherwise */
	const char        *vpn_end;     /* why the VPN session ended */
};

static void tconn_drive(struct term_conn *c);

/* ---- the pre-read BIO: serves the router's bytes first, then reads the socket ---- */

static BIO_METHOD *tconn_bio_method; /* made once by tconn_init_process */

/* BIO read: pre-read bytes first, then read(2); EAGAIN is a retry, not an error. */
static int
tconn_bio_read(BIO *b, char *buf, size_t len, size_t *got)
{
	struct term_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (c->pre_off < c->pre_len) {
		size_t n = c->pre_len - c->pre_off < len ? c->pre_len - c->pre_off : len;
		memcpy(buf, c->pre + c->pre_off, n);
		c->pre_off += n;
		if (c->pre_off == c->pre_len) {
			bufpool_put(c->pre);
			c->pre = NULL;
			c->pre_len = c->pre_off = 0;
		}
		*got = n;
		return 1;
	}
	ssize_t n = read(c->fd, buf, len);
	if (n > 0) {
		c->bytes_in += (uint64_t)n;
		*got = (size_t)n;
		return 1;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	*got = 0;
	return 0;
}

static long
tconn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* Makes the BIO method; once per process, before any worker runs. */
static int
tconn_init_bio(void)
{
	if (tconn_bio_method != NULL)
		return 0;
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sy-preread");
	if (m == NULL || BIO_meth_set_read_ex(m, tconn_bio_read) != 1 ||
	    BIO_meth_set_ctrl(m, tconn_bio_ctrl) != 1) {
		BIO_meth_free(m);
		return -1;
	}
	tconn_bio_method = m;
	return 0;
}

/* ---- I/O: TLS or plain, one result convention ---- */

enum { IO_RESET = -3, IO_AGAIN = -2, IO_ERR = -1, IO_EOF = 0 };

/* Sets want_r/want_w from an OpenSSL error; returns IO_AGAIN, IO_EOF or IO_ERR. */
static int
tconn_ssl_io(struct term_conn *c, int rc)
{
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		c->want_r = true;
		return IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->want_w = true;
		return IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return IO_EOF;
	case SSL_ERROR_SYSCALL: {
		int e = errno;
		ERR_clear_error();
		return e == ECONNRESET ? IO_RESET : IO_ERR;
	}
	default:
		ERR_clear_error();
		return IO_ERR;
	}
}

/* Reads up to cap bytes: > 0 bytes, IO_EOF, IO_AGAIN or IO_ERR. */
static ssize_t
tconn_read(struct term_conn *c, uint8_t *buf, size_t cap)
{
	if (c->ssl != NULL) {
		size_t n;
		int rc = SSL_read_ex(c->ssl, buf, cap, &n);
		return rc == 1 ? (ssize_t)n : tconn_ssl_io(c, rc);
	}
	ssize_t n = read(c->fd, buf, cap);
	if (n > 0) {
		c->bytes_in += (uint64_t)n;
		return n;
	}
	if (n == 0)
		return IO_EOF;
	if (errno == EAGAIN || errno == EINTR) {
		c->want_r = true;
		return IO_AGAIN;
	}
	return errno == ECONNRESET ? IO_RESET : IO_ERR;
}

/* Writes len bytes (TLS: all or nothing, retried with the same bytes): > 0, IO_AGAIN, IO_ERR. */
static ssize_t
tconn_write(struct term_conn *c, const uint8_t *buf, size_t len)
{
	if (c->ssl != NULL) {
		size_t n;
		int rc = SSL_write_ex(c->ssl, buf, len, &n);
		if (rc == 1)
			return (ssize_t)n; /* wire bytes are counted by the write BIO */
		rc = tconn_ssl_io(c, rc);
		return rc == IO_EOF ? IO_ERR : rc;
	}
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0) {
		c->bytes_out += (uint64_t)n;
		return n;
	}
	if (errno == EAGAIN || errno == EINTR) {
		c->want_w = true;
		return IO_AGAIN;
	}
	return IO_ERR;
}

/* Sends file bytes without copying them through user space: kTLS or plain sendfile(2). */
static ssize_t
tconn_sendfile(struct term_conn *c)
{
	size_t n = c->fleft < (1u << 20) ? c->fleft : (1u << 20);
	if (c->ssl != NULL) {
		ossl_ssize_t k = SSL_sendfile(c->ssl, c->ffd, c->foff, n, 0);
		if (k > 0) {
			c->bytes_out += (uint64_t)k;
			return k;
		}
		int rc = tconn_ssl_io(c, (int)k);
		return rc == IO_EOF ? IO_ERR : rc;
	}
	off_t off = c->foff;
	ssize_t k = sendfile(c->fd, c->ffd, &off, n);
	if (k > 0) {
		c->bytes_out += (uint64_t)k;
		return k;
	}
	if (k == -1 && (errno == EAGAIN || errno == EINTR)) {
		c->want_w = true;
		return IO_AGAIN;
	}
	return IO_ERR; /* 0: the file shrank under us */
}

/*
 * After the handshake, without kTLS: writes go through the buffering BIO from here on (the
 * socket BIO holds nothing, so the swap loses no byte). Without memory the socket BIO stays.
 */
static void
tconn_wbuf_start(struct term_conn *c)
{
	BIO *old = SSL_get_wbio(c->ssl);
	c->wb.fd = c->fd;
	BIO *b = twbio_new(&c->wb);
	if (b == NULL)
		return;
	c->bytes_out += BIO_number_written(old); /* the handshake's bytes */
	SSL_set0_wbio(c->ssl, b);                /* frees the socket BIO (BIO_NOCLOSE) */
	c->wbuf_on = true;
}

/* Gives the kernel what the write BIO holds: 1 all out, IO_AGAIN (want_w set), IO_ERR. */
static int
tconn_flush(struct term_conn *c)
{
	if (!c->wbuf_on || twbio_pending(&c->wb) == 0)
		return 1;
	int r = twbio_flush(&c->wb);
	if (r == 1)
		return 1;
	if (r == 0) {
		c->want_w = true;
		return IO_AGAIN;
	}
	return IO_ERR;
}

/* Closing: one last try to send what is held (the close_notify), then drop the rest. */
static void
tconn_flush_last(struct term_conn *c)
{
	if (c->wbuf_on) {
		(void)twbio_flush(&c->wb);
		twbio_discard(&c->wb);
	}
}

/* ---- life cycle ---- */

/* Allocates the request state with a head buffer of cap bytes; -1 when out of memory. */
static int
tconn_in_alloc(struct term_conn *c, size_t cap)
{
	c->rq = malloc(sizeof *c->rq + cap);
	if (c->rq == NULL)
		return -1;
	c->in = (uint8_t *)(c->rq + 1);
	c->in_cap = cap;
	c->in_len = 0;
	http1_req_init(&c->rq->req);
	c->rq->resp.fd = -1;
	return 0;
}

/* Frees the request state (the connection is idle or closing). */
static void
tconn_in_free(struct term_conn *c)
{
	free(c->rq);
	c->rq = NULL;
	c->in = NULL;
	c->in_cap = c->in_len = 0;
}

/* Frees everything; no callback. */
static void
tconn_free(struct term_conn *c)
{
	event_del(&c->rev);
	event_del(&c->wev);
	event_del(&c->tev);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	close(c->fd);
	if (c->ffd != -1)
		close(c->ffd);
	bufpool_put(c->pre);
	tconn_in_free(c);
	bufpool_put(c->out);
	twbio_discard(&c->wb);
	free(c->sni);
	vsess_free(c->vs);
	free(c);
}

/* Ends the connection: the done callback with the totals, then free. */
static void
tconn_close(struct term_conn *c, const char *end, bool error)
{
	const char *alpn = NULL;
	char abuf[32];
	if (c->ssl != NULL) {
		const unsigned char *p;
		unsigned int n;
		SSL_get0_alpn_selected(c->ssl, &p, &n);
		if (n > 0 && n < sizeof abuf) {
			memcpy(abuf, p, n);
			abuf[n] = '\0';
			alpn = abuf;
		}
	}
	struct term_result r = {
		.bytes_in = c->bytes_in, .bytes_out = c->bytes_out, .requests = c->requests,
		.last_status = c->last_status, .alpn = alpn, .end = end, .error = error,
	};
	struct term_vpn tv;
	if (c->vs != NULL) {
		vsess_report(c->vs, &tv);
		r.vpn = &tv;
	}
	if (c->ssl != NULL)
		r.bytes_out += c->wbuf_on ? c->wb.sent : BIO_number_written(SSL_get_wbio(c->ssl));
	if (c->done != NULL)
		c->done(c->arg, &r);
	tconn_free(c);
}

/* Monotonic milliseconds (vDSO, no system call). */
static uint64_t
tconn_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The limit of the current deadline mode. */
static uint64_t
tconn_limit(const struct term_conn *c)
{
	if (c->tmode == TM_HEAD)
		return c->head_ms;
	if (c->tmode == TM_LINGER) {
		uint64_t due = linger_due(c->linger_at, c->t_start);
		return due > c->t_start ? due - c->t_start : 0; /* past the total: due now */
	}
	return c->idle_ms < TCONN_KEEPALIVE_MS ? c->idle_ms : TCONN_KEEPALIVE_MS;
}

/* Schedules tev in ms. */
static void
tconn_arm_timer(struct term_conn *c, uint64_t now, uint64_t ms)
{
	deadline_add(&c->tev, ms);
	c->t_expiry = now + ms;
}

/*
 * Starts a deadline of the given mode from now. Lazy: the timer is moved only when it would
 * fire too late; when it fires early, tconn_timer_cb re-arms it for what is left. So a busy
 * keep-alive connection costs no timer operation per request (each one would be a
 * timerfd_settime system call under libevent's precise timers).
 */
static void
tconn_deadline(struct term_conn *c, enum tconn_tmode mode)
{
	uint64_t now = tconn_ms();
	c->tmode = (uint8_t)mode;
	c->t_start = now;
	uint64_t due = now + tconn_limit(c);
	if (c->t_expiry == 0 || due < c->t_expiry)
		tconn_arm_timer(c, now, due - now);
}

/* Makes the read/write events match what the last I/O asked for. */
static void
tconn_arm(struct term_conn *c)
{
	if (c->want_r != c->r_on) {
		if (c->want_r)
			event_add(&c->rev, NULL);
		else
			event_del(&c->rev);
		c->r_on = c->want_r;
	}
	if (c->want_w != c->w_on) {
		if (c->want_w)
			event_add(&c->wev, NULL);
		else
			event_del(&c->wev);
		c->w_on = c->want_w;
	}
}

/* Counts a response status. */
static void
tconn_count(struct term_conn *c, unsigned field)
{
	if (c->stats != NULL)
		stats_add(c->stats, c->worker, field, 1);
}

/* The loop's cached wall clock, for Date and conditional requests. */
static time_t
tconn_now(struct term_conn *c)
{
	struct timeval tv;
	event_base_gettimeofday_cached(c->base, &tv);
	return tv.tv_sec;
}

/* Starts writing resp: the head, plus as much of the body as fits one record. */
static void
tconn_respond(struct term_conn *c)
{
	struct site_resp *r = &c->rq->resp;
	c->requests++;
	c->last_status = r->status;
	tconn_count(c, stats_http_status_field(r->status));
	/* A pool buffer (no allocation per response), used up to the response's size (capped)
	 * and given back when it is out: an idle keep-alive connection holds no output buffer. */
	size_t need = r->head_len + r->body_len + (r->fd != -1 ? r->len : 0);
	c->out_cap = need < TCONN_OUT_MAX ? need : TCONN_OUT_MAX;
	if (c->out == NULL)
		c->out = bufpool_get();
	if (c->out == NULL) {
		if (r->fd != -1)
			close(r->fd);
		r->fd = -1;
		r->close = true;
		c->out_len = 0; /* nothing can be said without a buffer: just close */
		c->state = TC_SHUTDOWN;
		return;
	}
	/* A client that stops reading gets the keep-alive time to make progress. */
	tconn_deadline(c, TM_IDLE);
	memcpy(c->out, r->head, r->head_len);
	c->out_len = r->head_len;
	c->out_off = 0;
	c->ffd = r->fd;
	c->foff = r->off;
	c->fleft = r->fd != -1 ? r->len : 0;
	if (c->fleft > 0 && (c->fleft <= TCONN_RECORD || (c->ssl != NULL && !c->ktls))) {
		/* The head and the start of the file in one write: one TLS record and one send
		 * for a small file. Larger files continue by sendfile or TCONN_CHUNK reads. */
		size_t room = c->out_cap - c->out_len;
		ssize_t n = pread(c->ffd, c->out + c->out_len, c->fleft < room ? c->fleft : room, c->foff);
		if (n > 0) {
			c->out_len += (size_t)n;
			c->foff += n;
			c->fleft -= (size_t)n;
		} /* on error the file path below reports it */
	}
	if (r->body_len > 0) {
		/* Memory bodies (error pages, 404.html) are small: SITE_PAGE_MAX at most. */
		size_t room = c->out_cap - c->out_len;
		size_t k = r->body_len < room ? r->body_len : room;
		memcpy(c->out + c->out_len, r->body, k);
		c->out_len += k;
		if (k < r->body_len) {
			/* Larger than one buffer: the rest is sent from memory by the file path's
			 * sibling below. Never the case for pages up to SITE_PAGE_MAX minus room. */
			c->rq->resp.body += k;
			c->rq->resp.body_len -= k;
		} else {
			c->rq->resp.body_len = 0;
		}
	}
	c->state = TC_WRITE;
}

/* Refills out from the file (no kTLS) or the memory body; 0 ok, -1 read error. */
static int
tconn_refill(struct term_conn *c)
{
	c->out_len = c->out_off = 0;
	if (c->rq->resp.body_len > 0) {
		size_t k = c->rq->resp.body_len < c->out_cap ? c->rq->resp.body_len : c->out_cap;
		memcpy(c->out, c->rq->resp.body, k);
		c->rq->resp.body += k;
		c->rq->resp.body_len -= k;
		c->out_len = k;
		return 0;
	}
	size_t want = c->fleft < c->out_cap ? c->fleft : c->out_cap;
	ssize_t n = pread(c->ffd, c->out, want, c->foff);
	if (n <= 0)
		return -1;
	c->foff += n;
	c->fleft -= (size_t)n;
	c->out_len = (size_t)n;
	return 0;
}

/* The response went out: close, or get ready for the next request. Returns false on close. */
static bool
tconn_response_done(struct term_conn *c)
{
	if (c->ffd != -1) {
		close(c->ffd);
		c->ffd = -1;
	}
	bufpool_put(c->out);
	c->out = NULL;
	c->out_cap = c->out_len = c->out_off = 0;
	if (c->vs != NULL) {
		/* The 101 is out: the connection is the VPN session's from here on. */
		size_t used = c->rq->req.head_len;
		vsess_preload(c->vs, c->in + used, c->in_len - used);
		tconn_in_free(c);
		event_del(&c->tev);
		c->t_expiry = 0;
		c->state = TC_VPN;
		return true;
	}
	if (c->rq->resp.close) {
		c->state = TC_SHUTDOWN;
		return true;
	}
	/* Drop the head and as much of the body as is buffered; keep pipelined bytes. */
	size_t used = c->rq->req.head_len;
	size_t body = c->in_len - used < c->skip ? c->in_len - used : (size_t)c->skip;
	used += body;
	c->skip -= body;
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	if (c->in_len == 0)
		tconn_in_free(c); /* idle keep-alive connections hold no request state */
	else
		http1_req_init(&c->rq->req);
	c->timed = false;
	c->state = TC_READ;
	if (c->skip > 0)
		tconn_deadline(c, TM_HEAD); /* the rest of the body: as long as a head may take */
	else
		tconn_deadline(c, TM_IDLE); /* a pipelined head gets its own when it is fed */
	return true;
}

/* The value of a header field (the first), or NULL. */
static const uint8_t *
tconn_field(const struct term_conn *c, const char *name, size_t *len)
{
	const struct http1_req *r = &c->rq->req;
	for (unsigned i = 0; i < r->nfields; i++) {
		if (http1_view_ieq(c->in, r->fields[i].name, name)) {
			*len = r->fields[i].value.len;
			return c->in + r->fields[i].value.off;
		}
	}
	return NULL;
}

/*
 * A request for a VPN path. A proper WebSocket upgrade of /ws, /mux or /dns gets the 101
 * and a session; anything else gets exactly what the decoy gives for a file that is not
 * there (404 for GET and HEAD, the site's own answer for other methods), so a prober learns
 * nothing. /tun is served only while tun.enabled (and its device is open): otherwise it
 * looks missing too.
 */
static void
tconn_vpn_request(struct term_conn *c, enum vpn_path p, bool keep, time_t now)
{
	struct http1_req *r = &c->rq->req;
	size_t kl = 0, vl = 0;
	const uint8_t *key = tconn_field(c, "sec-websocket-key", &kl);
	const uint8_t *ver = tconn_field(c, "sec-websocket-version", &vl);
	char accept[WS_ACCEPT_LEN + 1];
	bool served = p == VPN_WS || p == VPN_MUX || p == VPN_DNS ||
	    (p == VPN_TUN && c->t->vpn->cv->tun.enabled && vtun_ready());
	bool upgrade = served && r->method == HTTP1_M_GET && r->version_minor == 1 &&
	    r->conn_upgrade && r->upgrade_websocket && !r->chunked &&
	    (!r->has_cl || r->content_length == 0) && !c->draining &&
	    ver != NULL && vl == 2 && memcmp(ver, "13", 2) == 0 &&
	    key != NULL && ws_accept((const char *)key, kl, accept) == 0;
	if (upgrade && !vpn_session_take(c->t->vpn->cv->max_sessions)) {
		stats_add(c->t->vpn->stats[p], c->worker, SV_HS_LIMIT, 1);
		upgrade = false;
	}
	if (!upgrade) {
		if (r->method == HTTP1_M_GET || r->method == HTTP1_M_HEAD)
			site_error(c->t->site, 404, r->method == HTTP1_M_HEAD, keep, now,
			    &c->rq->resp);
		else
			site_respond(c->t->site, c->in, r, keep, now, &c->rq->resp);
		tconn_respond(c);
		return;
	}
	c->vs = vsess_new(c, c->base, c->t->vpn, p, &c->peer, c->worker);
	if (c->vs == NULL) {
		vpn_session_give();
		site_error(c->t->site, 500, false, false, now, &c->rq->resp);
		tconn_respond(c);
		return;
	}
	struct site_resp *o = &c->rq->resp;
	int n = snprintf(o->head, sizeof o->head, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	    accept);
	o->status = 101;
	o->head_len = (size_t)n;
	o->body = NULL;
	o->body_len = 0;
	o->fd = -1;
	o->close = false;
	tconn_respond(c);
}

/* A complete head: decide the response. */
static void
tconn_request(struct term_conn *c)
{
	struct http1_req *r = &c->rq->req;
	bool head = r->method == HTTP1_M_HEAD;
	bool keep = r->keep_alive;
	time_t now = tconn_now(c);

	c->skip = 0;
	if (r->has_cl) {
		if (r->content_length > TCONN_BODY_MAX) {
			site_error(c->t->site, 413, head, false, now, &c->rq->resp);
			tconn_respond(c);
			return;
		}
		c->skip = r->content_length;
	}
	if (r->chunked || c->draining)
		keep = false; /* a chunked body we do not read, or shutdown: answer, then close */
	if (r->expect_continue && c->skip > 0)
		keep = false; /* the client may never send the body after our final answer
		                 (RFC 9110 §10.1.1): skipping it could eat the next request */
	/* The authority the request names: an absolute-form target's own (RFC 9112 §3.2.2:
	 * then Host is ignored), else Host. */
	const uint8_t *auth = r->has_host ? c->in + r->host.off : NULL;
	size_t alen = r->has_host ? r->host.len : 0;
	const uint8_t *tg = c->in + r->target.off;
	size_t pfx = r->target.len > 8 && memcmp(tg, "https://", 8) == 0 ? 8 :
	    r->target.len > 7 && memcmp(tg, "http://", 7) == 0 ? 7 : 0;
	if (pfx > 0) {
		const uint8_t *slash = memchr(tg + pfx, '/', r->target.len - pfx);
		const uint8_t *q = memchr(tg + pfx, '?', r->target.len - pfx);
		const uint8_t *stop = tg + r->target.len;
		if (slash != NULL && slash < stop)
			stop = slash;
		if (q != NULL && q < stop)
			stop = q;
		auth = tg + pfx;
		alen = (size_t)(stop - auth);
	}
	if (c->ssl != NULL && c->sni != NULL && auth != NULL) {
		char host[HOSTNAME_BUF];
		size_t hl;
		uint16_t port;
		if (hostname_from_host_header(auth, alen, host, &hl, &port) !=
		    HOSTNAME_OK || strcmp(host, c->sni) != 0) {
			/* RFC 9110 §15.5.20: this connection is not for that host. */
			site_error(c->t->site, 421, head, keep, now, &c->rq->resp);
			tconn_respond(c);
			return;
		}
	}
	if (c->t->vpn != NULL) {
		enum vpn_path p = vpn_match(c->t->vpn, c->in + r->target.off, r->target.len);
		if (p != VPN_NONE) {
			tconn_vpn_request(c, p, keep, now);
			return;
		}
	}
	site_respond(c->t->site, c->in, r, keep, now, &c->rq->resp);
	tconn_respond(c);
}

/*
 * A read in READ state ended (n: IO_EOF, IO_RESET or IO_ERR): closes c. Between requests, a
 * close or a reset is how clients leave (browsers reset idle keep-alive connections);
 * inside a head it is an error.
 */
static void
tconn_read_end(struct term_conn *c, ssize_t n)
{
	if (c->in_len == 0 && (n == IO_EOF || n == IO_RESET))
		tconn_close(c, "done", false);
	else
		tconn_close(c, n == IO_EOF ? "client_closed" : "client_error", true);
}

/* READ: parse what is buffered, skip body bytes, read more. Returns false when c is gone. */
static bool
tconn_step_read(struct term_conn *c)
{
	for (;;) {
		if (c->skip > 0) {
			uint8_t scratch[4096];
			ssize_t n = tconn_read(c, scratch, c->skip < sizeof scratch ? c->skip : sizeof scratch);
			if (n == IO_AGAIN)
				return true;
			if (n <= 0) {
				tconn_close(c, n == IO_EOF ? "client_closed" : "client_error", n != IO_EOF);
				return false;
			}
			c->skip -= (uint64_t)n;
			if (c->skip == 0 && c->in_len == 0) {
				tconn_deadline(c, TM_IDLE);
			}
			continue;
		}
		if (c->in_len > 0) {
			enum http1_verdict v = http1_req_feed(&c->rq->req, c->in, c->in_len);
			if (v == HTTP1_DONE) {
				tconn_request(c);
				return true;
			}
			if (v != HTTP1_MORE) {
				site_error(c->t->site, http1_verdict_status(v),
				    false, false, tconn_now(c), &c->rq->resp);
				tconn_respond(c);
				return true;
			}
			if (!c->timed) {
				/* Slow heads: the whole head must arrive within head_ms of its first byte. */
				c->timed = true;
				tconn_deadline(c, TM_HEAD);
			}
		}
		if (c->in == NULL) {
			/* Idle: read into the worker's scratch, keep a buffer only when bytes come. */
			static _Thread_local uint8_t scratch[TCONN_IN_CAP];
			ssize_t n = tconn_read(c, scratch, sizeof scratch);
			if (n == IO_AGAIN)
				return true;
			if (n <= 0) {
				tconn_read_end(c, n);
				return false;
			}
			if (tconn_in_alloc(c, TCONN_IN_CAP) == -1) {
				tconn_close(c, "no_memory", true);
				return false;
			}
			memcpy(c->in, scratch, (size_t)n);
			c->in_len = (size_t)n;
			continue;
		}
		if (c->in_len == c->in_cap) {
			/* Cannot happen (the parser refuses a head past HTTP1_HEAD_MAX first), but a
			 * full buffer must never turn into a zero-length read loop. */
			site_error(c->t->site, 431, false, false, tconn_now(c), &c->rq->resp);
			tconn_respond(c);
			return true;
		}
		ssize_t n = tconn_read(c, c->in + c->in_len, c->in_cap - c->in_len);
		if (n == IO_AGAIN)
			return true;
		if (n <= 0) {
			tconn_read_end(c, n);
			return false;
		}
		c->in_len += (size_t)n;
	}
}

/* WRITE: flush out, then more body. Returns false when c is gone. */
static bool
tconn_step_write(struct term_conn *c)
{
	bool progress = false;
	for (;;) {
		if (c->out_off < c->out_len) {
			ssize_t n = tconn_write(c, c->out + c->out_off, c->out_len - c->out_off);
			if (n == IO_AGAIN) {
				if (progress)
					tconn_deadline(c, TM_IDLE);
				return true;
			}
			if (n < 0) {
				tconn_close(c, "client_error", true);
				return false;
			}
			c->out_off += (size_t)n;
			progress = true;
			continue;
		}
		if (c->rq->resp.body_len == 0 && c->fleft == 0) {
			/* Sent means in the kernel: what the write BIO holds goes first. */
			int f = tconn_flush(c);
			if (f == IO_AGAIN) {
				if (progress)
					tconn_deadline(c, TM_IDLE);
				return true;
			}
			if (f == IO_ERR) {
				tconn_close(c, "client_error", true);
				return false;
			}
			return tconn_response_done(c);
		}
		if (c->fleft > 0 && c->rq->resp.body_len == 0 && (c->ssl == NULL || c->ktls)) {
			ssize_t n = tconn_sendfile(c);
			if (n == IO_AGAIN) {
				if (progress)
					tconn_deadline(c, TM_IDLE);
				return true;
			}
			if (n < 0) {
				tconn_close(c, "client_error", true);
				return false;
			}
			c->foff += n;
			c->fleft -= (size_t)n;
			progress = true;
			continue;
		}
		if (tconn_refill(c) == -1) {
			tconn_close(c, "file_error", true);
			return false;
		}
	}
}

/*
 * SHUTDOWN: whether the client may still be sending after our last answer (an error, a body
 * we did not read, a chunked body, bytes after the head); then half-closes and lingers.
 * Returns false when there is nothing to wait for (close at once).
 */
static bool
tconn_linger_start(struct term_conn *c)
{
	bool unread = c->skip > 0 || (c->rq != NULL && (c->rq->req.chunked ||
	    c->in_len > c->rq->req.head_len));
	if (c->last_status < 400 && !unread)
		return false;
	if (linger_start(c->fd) == -1)
		return false; /* not connected any more: nothing will come */
	tconn_in_free(c); /* nothing read from here on is a request */
	c->skip = 0;
	c->state = TC_LINGER;
	c->linger_at = tconn_ms();
	tconn_deadline(c, TM_LINGER);
	return true;
}

/* LINGER: discards what the client still sends, a bounded amount per wake-up. Returns false
 * when c is gone (the client closed). */
static bool
tconn_step_linger(struct term_conn *c)
{
	uint64_t before = c->bytes_in;
	enum linger_rc rc = linger_drain(c->fd, &c->bytes_in);
	if (rc == LINGER_DONE) {
		tconn_close(c, c->last_status >= 400 ? "http_error" : "done", c->last_status >= 400);
		return false;
	}
	if (c->bytes_in != before)
		tconn_deadline(c, TM_LINGER); /* quiet time counts from the last byte */
	c->want_r = true; /* level-triggered: after LINGER_YIELD it fires again next turn */
	return true;
}

/* The driver: runs steps until one has to wait, then arms the events it waits for. */
static void
tconn_drive(struct term_conn *c)
{
	for (;;) {
		c->want_r = c->want_w = false;
		switch (c->state) {
		case TC_HANDSHAKE: {
			int rc = SSL_do_handshake(c->ssl);
			if (rc == 1) {
				tconn_count(c, SSL_session_reused(c->ssl) ? ST_RESUMED : ST_HANDSHAKES);
				c->ktls = BIO_get_ktls_send(SSL_get_wbio(c->ssl)) != 0;
				if (!c->ktls)
					tconn_wbuf_start(c);
				c->state = TC_READ;
				tconn_deadline(c, TM_HEAD);
				c->timed = true; /* the first head has head_ms from the handshake's end */
				continue;
			}
			if (tconn_ssl_io(c, rc) == IO_AGAIN)
				break;
			tconn_count(c, ST_HANDSHAKE_FAILURES);
			tconn_close(c, "tls_handshake_failed", true);
			return;
		}
		case TC_READ:
			if (!tconn_step_read(c))
				return;
			if (c->state == TC_READ)
				break;
			continue;
		case TC_WRITE:
			if (!tconn_step_write(c))
				return;
			if (c->state == TC_WRITE)
				break;
			continue;
		case TC_SHUTDOWN:
			if (c->ssl != NULL)
				(void)SSL_shutdown(c->ssl); /* close_notify, best effort; no wait */
			ERR_clear_error();
			tconn_flush_last(c);
			if (tconn_linger_start(c))
				continue;
			tconn_close(c, c->last_status >= 400 ? "http_error" : "done",
			    c->last_status >= 400);
			return;
		case TC_LINGER:
			if (!tconn_step_linger(c))
				return;
			break;
		case TC_VPN:
			if (vsess_step(c->vs))
				break;
			c->vpn_end = vsess_end_reason(c->vs);
			if (c->ssl != NULL)
				(void)SSL_shutdown(c->ssl);
			ERR_clear_error();
			tconn_flush_last(c);
			tconn_close(c, c->vpn_end, false);
			return;
		}
		break;
	}
	/* Nothing waits while bytes sit in the write BIO. */
	if (tconn_flush(c) == IO_ERR) {
		tconn_close(c, "client_error", true);
		return;
	}
	tconn_arm(c);
}

static void
tconn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tconn_drive(arg);
}

/* Timer: handshake or head too slow, keep-alive idle, or the end of a lingering close. */
static void
tconn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct term_conn *c = arg;
	c->t_expiry = 0;
	if (c->draining && c->state == TC_READ && c->in_len == 0 && c->skip == 0) {
		tconn_close(c, "shutdown", false);
		return;
	}
	uint64_t now = tconn_ms(), due = c->t_start + tconn_limit(c);
	if (now < due) {
		tconn_arm_timer(c, now, due - now); /* the deadline moved on since it was set */
		return;
	}
	switch (c->state) {
	case TC_LINGER:
		/* The client neither closed nor went quiet in time: close over what is left. */
		tconn_close(c, c->last_status >= 400 ? "http_error" : "done", c->last_status >= 400);
		return;
	case TC_HANDSHAKE:
		tconn_count(c, ST_HANDSHAKE_FAILURES);
		tconn_close(c, "handshake_timeout", true);
		return;
	case TC_VPN:
		return; /* the session keeps its own deadlines */
	case TC_READ:
		if (c->in_len == 0 && c->skip == 0) {
			tconn_close(c, c->requests ? "keepalive_timeout" : "head_timeout",
			    c->requests == 0);
			return;
		}
		if (c->skip > 0) {
			tconn_close(c, "body_timeout", true);
			return;
		}
		/* A head started but did not finish in time (slowloris): closed without an
		 * answer, as nginx does (it sends no 408 either). */
		tconn_close(c, "head_timeout", true);
		return;
	default:
		tconn_close(c, "write_timeout", true);
		return;
	}
}

/* ---- the VPN session's side of the connection (term_int.h) ---- */

/* Reads for the session. */
ssize_t
tconn_vpn_read(struct term_conn *c, uint8_t *buf, size_t cap)
{
	return tconn_read(c, buf, cap);
}

/* Writes for the session. */
ssize_t
tconn_vpn_write(struct term_conn *c, const uint8_t *buf, size_t len)
{
	return tconn_write(c, buf, len);
}

/* Pushes what the write BIO holds for the session (term_int.h). */
int
tconn_vpn_flush(struct term_conn *c)
{
	int r = tconn_flush(c);
	return r == 1 ? 1 : r == IO_AGAIN ? TCONN_IO_AGAIN : TCONN_IO_ERR;
}

/* Runs the driver from the loop soon. */
void
tconn_vpn_kick(struct term_conn *c)
{
	event_active(&c->rev, EV_READ, 1);
}

/* Takes over a connection (see terminator.h). */
struct term_conn *
term_accept(struct term *t, struct event_base *base, const struct term_handoff *h)
{
	struct term_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		goto fail;
	c->t = t;
	c->base = base;
	c->fd = h->fd;
	c->ffd = -1;
	c->idle_ms = h->idle_timeout_ms;
	c->head_ms = h->head_timeout_ms;
	c->done = h->done;
	c->arg = h->arg;
	c->stats = h->stats;
	c->worker = h->worker;
	c->bytes_in = h->pre_len;
	if (h->peer != NULL)
		c->peer = *h->peer;
	/* The head the router read (pipelined requests may follow it). */
	if (!h->tls && h->pre_len > 0 &&
	    tconn_in_alloc(c, h->pre_len > TCONN_IN_CAP ? h->pre_len : TCONN_IN_CAP) == -1)
		goto fail_c;
	if (h->sni != NULL && (c->sni = strdup(h->sni)) == NULL)
		goto fail_c;
	event_assign(&c->rev, base, c->fd, EV_READ | EV_PERSIST, tconn_io_cb, c);
	event_assign(&c->wev, base, c->fd, EV_WRITE | EV_PERSIST, tconn_io_cb, c);
	evtimer_assign(&c->tev, base, tconn_timer_cb, c);

	if (h->tls) {
		SSL_CTX *ctx = term_ctx_for(t, h->sni);
		if (ctx == NULL || (c->ssl = SSL_new(ctx)) == NULL)
			goto fail_c;
		if (h->pre_len > 0) {
			/* The router's bytes come from its pool buffer: they fit one of ours. */
			if (h->pre_len > BUFPOOL_SIZE || (c->pre = bufpool_get()) == NULL)
				goto fail_c;
			memcpy(c->pre, h->pre, h->pre_len);
			c->pre_len = h->pre_len;
		}
		BIO *rb = BIO_new(tconn_bio_method);
		BIO *wb = BIO_new_socket(c->fd, BIO_NOCLOSE);
		if (rb == NULL || wb == NULL) {
			BIO_free(rb);
			BIO_free(wb);
			goto fail_c;
		}
		BIO_set_data(rb, c);
		BIO_set_init(rb, 1);
		SSL_set0_rbio(c->ssl, rb);
		SSL_set0_wbio(c->ssl, wb);
		SSL_set_accept_state(c->ssl);
		c->state = TC_HANDSHAKE;
		tconn_deadline(c, TM_HEAD);
	} else {
		if (h->pre_len > 0)
			memcpy(c->in, h->pre, h->pre_len);
		c->in_len = h->pre_len;
		c->state = TC_READ;
		if (c->in_len == 0)
			tconn_deadline(c, TM_HEAD);
	}
	/* The first step runs from the loop, never inside this call: the caller may store the
	 * returned pointer, and done must not run before term_accept has returned. */
	event_active(&c->rev, EV_READ, 1);
	c->r_on = false; /* an activation only: the event is not added */
	return c;
fail_c:
	c->done = NULL;
	tconn_free(c);
	ERR_clear_error();
	return NULL;
fail:
	close(h->fd);
	return NULL;
}

/* Shutdown: close when idle (see terminator.h). */
void
term_drain(struct term_conn *tc)
{
	tc->draining = true;
	if (tc->state == TC_READ && tc->in_len == 0 && tc->skip == 0) {
		event_del(&tc->tev);
		tc->t_expiry = 0;
		event_active(&tc->tev, EV_TIMEOUT, 1); /* the timer callback closes it */
	}
}

/* Ends a connection without its callback (drain). */
void
term_abort(struct term_conn *tc)
{
	tconn_free(tc);
}

/* The BIO method, made before any worker thread runs. */
int
tconn_init_process(void)
{
	return tconn_init_bio() == -1 || twbio_init_process() == -1 ? -1 : 0;
}
