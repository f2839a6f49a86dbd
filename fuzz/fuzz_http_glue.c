/*
 * Fuzz harness for the glue that decides HTTP framing at run time: router/hconn.c (the
 * `kind: http` connection: heads, Content-Length and chunked bodies, pipelining, Upgrade,
 * the rewrite of the forwarding fields) and the terminator's request loop
 * (terminator/tconn.c behind a `site: true` route). The parsers have their own harnesses;
 * this one checks that the code around them never lets a body become a request.
 *
 * One worker runs on this thread (router/solo.h), set up once per process on the first
 * input with two listeners: "web" routes everything to an upstream that is a listening
 * socket of this harness, "site" hands everything to the terminator's decoy site (a
 * temporary directory). Each input is one client connection over a socketpair:
 *
 *   byte 0   bit 0: mode (0: web -> upstream, 1: site -> terminator)
 *            bit 1: the peer is IPv6 (2001:db8::7) rather than 192.0.2.7
 *            bits 2-3: how the upstream answers (200 empty, 200 with a length body,
 *                      200 chunked, 100 then 204)
 *            bit 4: the upstream answers 101 to a request with Connection: upgrade
 *   byte 1   write size (0: all at once; never more than GLUE_WRITES_MAX writes)
 *   rest     the client's byte stream, written with loop turns between the pieces, then
 *            the client half-closes and everything runs until the connection ends
 *
 * The client stream and what the upstream received are framed by a REFERENCE framing
 * (proto/http1 heads, then proto/http1_chunk or Content-Length bodies: one request is a
 * head and its body). Web mode asserts, request by request, that the upstream received the
 * client's requests in order and nothing else: the same leading empty lines and
 * request-line (method and target byte-exact, absolute-form stays absolute-form), the same
 * field lines in the same order byte-exact, minus the forwarding fields the client may not
 * set (any case, '-' or '_': X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, Forwarded,
 * X-Forwarded-Host, X-Client-IP, True-Client-IP) and any Transfer-Encoding line, plus
 * exactly one "Transfer-Encoding: chunked" when the client's body is chunked, ending with
 * exactly our four forwarding lines; every forwarded head is one the upstream's framing
 * (proto/http1, our own limits) takes, so a client head that our lines would push over
 * HTTP1_HEADERS_MAX or HTTP1_HEAD_MAX must never go upstream; the body byte-exact as the
 * UPSTREAM's framing of the forwarded head delimits it, except that the trailer field lines
 * of a chunked body named like the forwarding fields above are removed: none ever reaches
 * the upstream, not even the start of one; after a 101 the rest is the client's stream,
 * raw. So the upstream never counts more complete requests than the client sent. Both
 * modes assert that the client never receives more final responses than it sent requests
 * (an invalid head counts: it is answered). Legitimately different, and not compared:
 * nothing else.
 *
 * Every wait is bounded in rounds and time; a connection that does not end soon after the
 * client's half-close (nothing it sent can still become a request: a server that waits
 * for a timer there holds the upstream for nothing), or once both of its peers closed,
 * aborts. It prints nothing on the happy path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/bufpool.h"
#include "proto/http1.h"
#include "proto/http1_chunk.h"
#include "proto/http1_resp.h"
#include "router/solo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define GLUE_INPUT_MAX   16384  /* client stream bytes; longer inputs are cut */
#define GLUE_WRITES_MAX  64     /* client writes per input (bounds the time per input) */
#define GLUE_REQS_MAX    1024   /* requests framed per stream: more than GLUE_INPUT_MAX holds */
#define GLUE_UP_MAX      (256 * 1024) /* upstream bytes kept (our lines add ~100 a request) */
#define GLUE_RX_MAX      (256 * 1024) /* bytes the client receives that are kept */
#define GLUE_OUT_MAX     8192   /* the upstream's unsent answers */
#define GLUE_SETTLE      64     /* loop rounds after a write */
#define GLUE_END_MS      3000   /* after both peers closed, the connection must be gone */
#define GLUE_LIVE_INPUTS 8      /* a replay of this many inputs must reach both peers */
#define GLUE_FWD_LINES   4      /* the forwarding field lines hconn appends */
/* The shortest head ("A * HTTP/1.0" CRLF CRLF) is 16 bytes: every request of an input fits. */
_Static_assert(GLUE_REQS_MAX * 16 >= GLUE_INPUT_MAX, "GLUE_REQS_MAX frames every request");

/* The whole process's set-up, made on the first input. */
struct glue_proc {
	bool              ready;
	struct solo       s;
	int               up_listen;   /* the upstream's listening socket */
	char              root[64];    /* the decoy site's directory */
	char              index[96];   /* its index.html */
	unsigned long     inputs;      /* inputs run */
	unsigned long     forwarded;   /* requests the upstream answered, all inputs */
	unsigned long     site_answered; /* final responses from the site, all inputs */
};

static struct glue_proc P;
static bool glue_libfuzzer; /* set by LLVMFuzzerInitialize: not a replay */

/* One request as the reference framing sees it: views of req are relative to off. */
struct ref_msg {
	struct http1_req req;
	uint32_t         off, head_len, body_len;
	bool             complete;    /* the body ended (an invalid chunked one never does) */
};

/* A framed stream: n heads (ncomplete with their whole body); err: it stopped at a head
 * the parser refuses (which the server answers). */
struct ref_frame {
	struct ref_msg m[GLUE_REQS_MAX];
	unsigned       n, ncomplete;
	bool           err;
};

/* The current input's connection. */
struct glue_conn {
	int      cfd;                 /* our end of the client socketpair */
	int      ufd;                 /* the accepted upstream connection, -1 before */
	unsigned naccepted;
	bool     up_eof, c_eof;
	uint8_t  answer;              /* bits 2-3 of byte 0 */
	bool     up101;
	uint8_t *up;                  /* what the upstream received */
	size_t   uplen;
	uint8_t  out[GLUE_OUT_MAX];   /* the upstream's answers not yet sent */
	size_t   outlen;
	unsigned nanswered;           /* requests the upstream answered */
	uint32_t answered_end;        /* upstream bytes up to the last request answered */
	bool     up_refused;          /* a forwarded head our framing refuses: never answered */
	int      tunnel_at;           /* the request answered 101, or -1 */
	uint8_t *rx;                  /* what the client received */
	size_t   rxlen;
};

static struct ref_frame glue_cf; /* large: static, one input at a time */
static uint8_t glue_body[GLUE_INPUT_MAX]; /* a client's body as it must go upstream */

/* Stops the run with a reason; libFuzzer and the replay driver both see the abort. */
static void
fail(const char *why, unsigned idx)
{
	fprintf(stderr, "fuzz_http_glue: request %u: %s\n", idx, why);
	abort();
}

/* Monotonic milliseconds. */
static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A free port on 127.0.0.1 (bound, read, released: the loader refuses port 0). */
static uint16_t
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&a, sizeof a) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) == -1)
		fail("no free port", 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Removes the decoy site at exit and, in replay runs of a corpus (not of one file), checks
 * that the inputs reached both the upstream and the site: a harness whose traffic goes
 * nowhere asserts nothing. */
static void
glue_atexit(void)
{
	if (!P.ready)
		return;
	solo_stop(&P.s);
	bufpool_drain();
	close(P.up_listen);
	unlink(P.index);
	rmdir(P.root);
	if (!glue_libfuzzer && P.inputs >= GLUE_LIVE_INPUTS &&
	    (P.forwarded == 0 || P.site_answered == 0)) {
		fprintf(stderr, "fuzz_http_glue: %lu inputs forwarded %lu requests and got %lu "
		    "answers from the site: the set-up is broken\n", P.inputs, P.forwarded,
		    P.site_answered);
		_exit(1);
	}
}

/* The process's set-up: the worker, its two listeners, the upstream socket, the site. */
static void
glue_setup(void)
{
	char err[256];
	if (solo_init_process(err, sizeof err) == -1) {
		fprintf(stderr, "fuzz_http_glue: %s\n", err);
		abort();
	}
	snprintf(P.root, sizeof P.root, "/tmp/sy-glue-XXXXXX");
	if (mkdtemp(P.root) == NULL)
		fail("mkdtemp", 0);
	snprintf(P.index, sizeof P.index, "%s/index.html", P.root);
	FILE *f = fopen(P.index, "w");
	if (f == NULL || fputs("glue\n", f) == EOF || fclose(f) == EOF)
		fail("cannot write the site", 0);

	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	P.up_listen = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (P.up_listen == -1 || bind(P.up_listen, (struct sockaddr *)&a, sizeof a) == -1 ||
	    listen(P.up_listen, 16) == -1 ||
	    getsockname(P.up_listen, (struct sockaddr *)&a, &len) == -1)
		fail("cannot listen for the upstream", 0);
	char yaml[1024];
	int n = snprintf(yaml, sizeof yaml,
	    "log: {level: error, access: off}\n"
	    "listeners:\n"
	    "  - name: web\n"
	    "    listen: [\"127.0.0.1:%u\"]\n"
	    "    kind: http\n"
	    "    routes:\n"
	    "      - default: {upstream: app}\n"
	    "  - name: site\n"
	    "    listen: [\"127.0.0.1:%u\"]\n"
	    "    kind: http\n"
	    "    routes:\n"
	    "      - default: {site: true}\n"
	    "upstreams:\n"
	    "  app: {servers: [\"127.0.0.1:%u\"]}\n"
	    "terminator:\n"
	    "  site: {root: \"%s\"}\n", free_port(), free_port(), ntohs(a.sin_port), P.root);
	if (n < 0 || (size_t)n >= sizeof yaml)
		fail("configuration too long", 0);
	if (solo_start(&P.s, yaml, (size_t)n, err, sizeof err) == -1) {
		fprintf(stderr, "fuzz_http_glue: solo_start: %s\n", err);
		abort();
	}
	P.ready = true;
	atexit(glue_atexit);
}

/*
 * Frames the request at buf[off, len) as a client's: its head by proto/http1, its body by
 * Content-Length or proto/http1_chunk. Returns 1 when the head is complete (m filled;
 * m->complete says whether the body is), 0 when the head is not, -1 when the parser
 * refuses it.
 */
static int
ref_one(const uint8_t *buf, size_t len, uint32_t off, struct ref_msg *m)
{
	memset(m, 0, sizeof *m);
	http1_req_init(&m->req);
	enum http1_verdict v = http1_req_feed(&m->req, buf + off, len - off);
	if (v == HTTP1_MORE)
		return 0;
	if (v != HTTP1_DONE)
		return -1;
	m->off = off;
	m->head_len = m->req.head_len;
	size_t at = off + m->head_len, avail = len - at;
	if (m->req.chunked) {
		struct http1_chunk ch;
		size_t used = 0;
		http1_chunk_init(&ch);
		enum http1_chunk_verdict cv = http1_chunk_feed(&ch, buf + at, avail, &used);
		m->body_len = (uint32_t)used;
		m->complete = cv == HTTP1_CHUNK_DONE;
	} else if (m->req.has_cl) {
		uint64_t cl = m->req.content_length;
		m->body_len = (uint32_t)(cl < avail ? cl : avail);
		m->complete = cl <= avail;
	} else {
		m->complete = true;
	}
	return 1;
}

/* Frames buf[0, len) as a client's request stream, request after request, until a head or
 * a body is incomplete or invalid. */
static void
ref_frame(const uint8_t *buf, size_t len, struct ref_frame *fr)
{
	uint32_t off = 0;
	fr->n = fr->ncomplete = 0;
	fr->err = false;
	while (off < len && fr->n < GLUE_REQS_MAX) {
		struct ref_msg *m = &fr->m[fr->n];
		int rc = ref_one(buf, len, off, m);
		if (rc == 0)
			break;
		if (rc == -1) {
			fr->err = true;
			break;
		}
		fr->n++;
		off = m->off + m->head_len + m->body_len;
		if (!m->complete)
			break;
		fr->ncomplete++;
	}
}

/* ---- the comparison of a forwarded head with the client's ---- */

/* True when a field name is s (lowercase) ignoring ASCII case, '_' taken as '-'. */
static bool
name_is(const uint8_t *b, struct http1_view v, const char *s)
{
	size_t n = strlen(s);
	if (v.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = b[v.off + i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		if (c == '_')
			c = '-';
		if (c != (uint8_t)s[i])
			return false;
	}
	return true;
}

/* The fields a client may not set (issue 8, item 3), whatever their spelling. */
static bool
is_forwarding(const uint8_t *b, struct http1_view v)
{
	static const char *const names[] = {
		"x-forwarded-for", "x-real-ip", "x-forwarded-proto", "forwarded",
		"x-forwarded-host", "x-client-ip", "true-client-ip",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (name_is(b, v, names[i]))
			return true;
	return false;
}

/* The field line i of a parsed head (b is the head's start): [start, end) without CRLF. */
static void
field_line(const uint8_t *b, const struct http1_req *r, unsigned i, uint32_t *start,
    uint32_t *end)
{
	uint32_t e = r->fields[i].value.off + r->fields[i].value.len;
	if (r->fields[i].value.len == 0)
		e = r->fields[i].name.off + r->fields[i].name.len;
	while (e + 1 < r->head_len && !(b[e] == '\r' && b[e + 1] == '\n'))
		e++;
	*start = r->fields[i].name.off;
	*end = e;
}

/* Compares the field line i of head a with line j of head b, byte for byte. */
static bool
line_eq(const uint8_t *a, const struct http1_req *ra, unsigned i, const uint8_t *b,
    const struct http1_req *rb, unsigned j)
{
	uint32_t as, ae, bs, be;
	field_line(a, ra, i, &as, &ae);
	field_line(b, rb, j, &bs, &be);
	return ae - as == be - bs && memcmp(a + as, b + bs, ae - as) == 0;
}

/* Where the request-line part ends (leading empty lines and the request-line, CRLF in). */
static uint32_t
reqline_end(const struct http1_req *r)
{
	return r->nfields > 0 ? r->fields[0].name.off : r->head_len - 2;
}

/*
 * Asserts that the forwarded head u (upstream bytes ub) is the client's head c (bytes cb)
 * as hconn must rewrite it for the peer named ip. idx names the request in messages.
 */
static void
cmp_head(const uint8_t *cb, const struct http1_req *c, const uint8_t *ub,
    const struct http1_req *u, const char *ip, bool v6, unsigned idx)
{
	uint32_t cl = reqline_end(c), ul = reqline_end(u);
	if (cl != ul || memcmp(cb, ub, cl) != 0)
		fail("the request-line forwarded differs from the client's", idx);
	if (u->nfields < GLUE_FWD_LINES)
		fail("the forwarded head lacks our forwarding fields", idx);
	unsigned own = u->nfields - GLUE_FWD_LINES;
	char want[GLUE_FWD_LINES][128];
	snprintf(want[0], sizeof want[0], "X-Forwarded-For: %s", ip);
	snprintf(want[1], sizeof want[1], "X-Real-IP: %s", ip);
	snprintf(want[2], sizeof want[2], "X-Forwarded-Proto: http");
	snprintf(want[3], sizeof want[3], "Forwarded: for=%s%s%s;proto=http", v6 ? "\"[" : "", ip,
	    v6 ? "]\"" : "");
	for (unsigned k = 0; k < GLUE_FWD_LINES; k++) {
		uint32_t s, e;
		field_line(ub, u, own + k, &s, &e);
		if (e - s != strlen(want[k]) || memcmp(ub + s, want[k], e - s) != 0)
			fail("the forwarded head does not end with our forwarding fields", idx);
	}
	/* The client's other lines, in order and byte-exact; Transfer-Encoding apart. */
	unsigned j = 0, te = 0;
	for (unsigned i = 0; i < own; i++) {
		if (is_forwarding(ub, u->fields[i].name))
			fail("a client's forwarding field went upstream", idx);
		if (name_is(ub, u->fields[i].name, "transfer-encoding")) {
			te++;
			if (!name_is(ub, u->fields[i].value, "chunked"))
				fail("a Transfer-Encoding other than 'chunked' went upstream", idx);
			continue;
		}
		while (j < c->nfields && (is_forwarding(cb, c->fields[j].name) ||
		    name_is(cb, c->fields[j].name, "transfer-encoding")))
			j++;
		if (j == c->nfields || !line_eq(cb, c, j, ub, u, i))
			fail("a forwarded field line differs from the client's", idx);
		j++;
	}
	while (j < c->nfields && (is_forwarding(cb, c->fields[j].name) ||
	    name_is(cb, c->fields[j].name, "transfer-encoding")))
		j++;
	if (j != c->nfields)
		fail("a client's field line did not go upstream", idx);
	if (te != (c->chunked ? 1u : 0u) || u->chunked != c->chunked)
		fail("the forwarded head's Transfer-Encoding is not the one 'chunked'", idx);
	if (u->has_cl != c->has_cl || (c->has_cl && u->content_length != c->content_length))
		fail("the forwarded head's Content-Length differs", idx);
}

/*
 * Copies the client's chunked body b[0, n) (as the reference framing delimits it) to out
 * without the trailer field lines named like a forwarding field; returns the length.
 */
static size_t
strip_trailers(const uint8_t *b, size_t n, uint8_t *out)
{
	struct http1_chunk ch;
	size_t pos = 0, from = 0, o = 0, used;
	http1_chunk_init_fields(&ch);
	while (http1_chunk_feed(&ch, b + pos, n - pos, &used) == HTTP1_CHUNK_FIELD) {
		pos += used;
		uint32_t start = (uint32_t)(pos - ch.field_len);
		struct http1_view name = { .off = start, .len = ch.name_len };
		if (!is_forwarding(b, name))
			continue;
		memcpy(out + o, b + from, start - from);
		o += start - from;
		from = pos;
	}
	memcpy(out + o, b + from, n - from);
	return o + n - from;
}

/*
 * Frames a chunked body the upstream received, b[0, n), and asserts that none of its
 * trailer field lines is named like a forwarding field, and that no trailer line went
 * upstream before its end (it could be one: hconn holds it back until it knows). Returns
 * the verdict; *used: the body's bytes.
 */
static enum http1_chunk_verdict
up_chunked(const uint8_t *b, size_t n, size_t *used, unsigned idx)
{
	struct http1_chunk ch;
	size_t pos = 0, k;
	enum http1_chunk_verdict cv;
	http1_chunk_init_fields(&ch);
	while ((cv = http1_chunk_feed(&ch, b + pos, n - pos, &k)) == HTTP1_CHUNK_FIELD) {
		pos += k;
		struct http1_view name = { .off = (uint32_t)(pos - ch.field_len), .len = ch.name_len };
		if (is_forwarding(b, name))
			fail("a forwarding field went upstream in a trailer", idx);
	}
	*used = pos + k;
	if (cv == HTTP1_CHUNK_MORE && ch.line_len > 0)
		fail("the start of a trailer line went upstream before its end", idx);
	return cv;
}

/* The peer's address as hconn writes it. */
static const char *
peer_ip(bool v6)
{
	return v6 ? "2001:db8::7" : "192.0.2.7";
}

/*
 * Web mode: walks what the upstream received, request by request, against the client's
 * stream (see the file comment). Returns the complete requests the upstream received.
 */
static unsigned
check_upstream(const uint8_t *cs, size_t clen, const struct glue_conn *g, bool v6)
{
	const struct ref_frame *cf = &glue_cf;
	const uint8_t *ub = g->up;
	size_t pos = 0;
	unsigned i = 0, complete = 0;
	while (pos < g->uplen) {
		if (g->tunnel_at >= 0 && i == (unsigned)g->tunnel_at + 1) {
			/* After the 101: the client's bytes after that request, raw. */
			const struct ref_msg *t = &cf->m[g->tunnel_at];
			size_t from = t->off + t->head_len + t->body_len;
			if (g->uplen - pos > clen - from || memcmp(ub + pos, cs + from, g->uplen - pos) != 0)
				fail("after 101 the upstream got other bytes than the client's", i);
			return complete;
		}
		if (i >= cf->n)
			fail("the upstream got bytes after the client's last request head", i);
		const struct ref_msg *c = &cf->m[i];
		static struct http1_req ureq;
		struct http1_req *u = &ureq;
		http1_req_init(u);
		enum http1_verdict v = http1_req_feed(u, ub + pos, g->uplen - pos);
		if (v == HTTP1_MORE)
			return complete; /* the last head is still on its way */
		if (v != HTTP1_DONE)
			fail("the upstream's framing refuses a forwarded head", i);
		cmp_head(cs + c->off, &c->req, ub + pos, u, peer_ip(v6), v6, i);
		/* The body as the upstream frames it, against the client's bytes. */
		size_t at = pos + u->head_len, avail = g->uplen - at, blen;
		const uint8_t *want = cs + c->off + c->head_len;
		size_t wantlen = c->body_len;
		bool done;
		if (u->chunked) {
			enum http1_chunk_verdict cv = up_chunked(ub + at, avail, &blen, i);
			if (cv != HTTP1_CHUNK_DONE && cv != HTTP1_CHUNK_MORE)
				fail("the upstream's framing refuses a forwarded chunked body", i);
			done = cv == HTTP1_CHUNK_DONE;
			wantlen = strip_trailers(want, c->body_len, glue_body);
			want = glue_body;
		} else if (u->has_cl) {
			blen = u->content_length < avail ? (size_t)u->content_length : avail;
			done = u->content_length <= avail;
		} else {
			blen = 0;
			done = true;
		}
		if (blen > wantlen || memcmp(ub + at, want, blen) != 0)
			fail("a forwarded body differs from the client's (without its forwarding trailer "
			    "lines)", i);
		if (done && !c->complete)
			fail("the upstream sees a body end where the client's has not", i);
		if (!done) {
			if (at + blen != g->uplen)
				fail("bytes after an unfinished body", i);
			return complete;
		}
		complete++;
		pos = at + blen;
		i++;
	}
	return complete;
}

/*
 * Both modes: counts the final responses at the start of what the client received (1xx
 * other than 101 are interim; a 101 ends the count: a tunnel follows). Request j's method
 * tells whether response j has a body.
 */
static unsigned
count_responses(const uint8_t *rx, size_t len)
{
	size_t pos = 0;
	unsigned n = 0;
	while (pos < len) {
		static struct http1_resp r;
		http1_resp_init(&r);
		enum http1_resp_verdict v = http1_resp_feed(&r, rx + pos, len - pos);
		if (v == HTTP1_RESP_MORE)
			break;
		if (v != HTTP1_RESP_DONE)
			fail("the client got bytes that are not a response", n);
		pos += r.head_len;
		if (r.status < 200 && r.status != 101)
			continue;
		n++;
		if (r.status == 101)
			break;
		bool head = n - 1 < glue_cf.n && glue_cf.m[n - 1].req.method == HTTP1_M_HEAD;
		switch (http1_resp_body(&r, head, false)) {
		case HTTP1_BODY_NONE:
			break;
		case HTTP1_BODY_LENGTH:
			if (r.content_length > len - pos)
				return n;
			pos += (size_t)r.content_length;
			break;
		case HTTP1_BODY_CHUNKED: {
			struct http1_chunk ch;
			size_t used;
			http1_chunk_init(&ch);
			if (http1_chunk_feed(&ch, rx + pos, len - pos, &used) != HTTP1_CHUNK_DONE)
				return n;
			pos += used;
			break;
		}
		case HTTP1_BODY_CLOSE:
			return n;
		}
	}
	return n;
}

/* ---- the peers: the upstream and the client, served between loop rounds ---- */

/* Queues the upstream's answer to request m (HEAD: no body; Upgrade: 101 when asked). */
static void
up_answer(struct glue_conn *g, const struct http1_req *m)
{
	static const char *const answers[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	};
	const char *a = answers[g->answer];
	size_t n = strlen(a);
	if (g->up101 && m->conn_upgrade) {
		a = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n";
		n = strlen(a);
		g->tunnel_at = (int)g->nanswered;
	} else if (m->method == HTTP1_M_HEAD) {
		n = (size_t)(strstr(a, "\r\n\r\n") + 4 - a); /* the head only */
	}
	if (n > sizeof g->out - g->outlen)
		fail("the upstream's answers pile up", g->nanswered);
	memcpy(g->out + g->outlen, a, n);
	g->outlen += n;
	g->nanswered++;
}

/* Accepts, reads and answers on the upstream side; true when anything moved. */
static bool
up_service(struct glue_conn *g)
{
	bool moved = false;
	for (;;) {
		int fd = accept4(P.up_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			break;
		moved = true;
		if (g->ufd != -1)
			fail("a second upstream connection for one client connection", g->nanswered);
		g->ufd = fd;
		g->naccepted++;
	}
	if (g->ufd == -1)
		return moved;
	while (!g->up_eof && g->uplen < GLUE_UP_MAX) {
		ssize_t n = recv(g->ufd, g->up + g->uplen, GLUE_UP_MAX - g->uplen, 0);
		if (n == 0) {
			g->up_eof = moved = true;
			break;
		}
		if (n == -1)
			break;
		g->uplen += (size_t)n;
		moved = true;
	}
	if (moved && g->tunnel_at < 0) {
		/* Answer every request complete by the upstream's framing not yet answered. */
		static struct ref_msg m;
		int rc = 0;
		while (g->tunnel_at < 0 && g->answered_end < g->uplen &&
		    (rc = ref_one(g->up, g->uplen, g->answered_end, &m)) == 1 && m.complete) {
			up_answer(g, &m.req);
			g->answered_end = m.off + m.head_len + m.body_len;
		}
		if (rc == -1)
			g->up_refused = true;
	}
	while (g->outlen > 0) {
		ssize_t n = send(g->ufd, g->out, g->outlen, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		memmove(g->out, g->out + n, g->outlen - (size_t)n);
		g->outlen -= (size_t)n;
		moved = true;
	}
	return moved;
}

/* Reads what the client received; true when anything moved. */
static bool
client_read(struct glue_conn *g)
{
	bool moved = false;
	while (!g->c_eof) {
		uint8_t scratch[4096];
		uint8_t *dst = g->rxlen < GLUE_RX_MAX ? g->rx + g->rxlen : scratch;
		size_t cap = g->rxlen < GLUE_RX_MAX ? GLUE_RX_MAX - g->rxlen : sizeof scratch;
		ssize_t n = recv(g->cfd, dst, cap, MSG_DONTWAIT);
		if (n == 0)
			g->c_eof = true;
		if (n <= 0)
			break;
		if (dst != scratch)
			g->rxlen += (size_t)n;
		moved = true;
	}
	return moved;
}

/* Runs the loop and both peers until nothing moves for two rounds (or rounds run out);
 * wait_us: how long an idle round may wait for an event. */
static void
settle(struct glue_conn *g, int rounds, long wait_us)
{
	int idle = 0;
	for (int i = 0; i < rounds && idle < 2; i++) {
		solo_run(&P.s, false);
		bool moved = up_service(g);
		moved |= client_read(g);
		if (moved) {
			idle = 0;
			continue;
		}
		idle++;
		if (wait_us > 0) {
			struct timeval tv = { 0, wait_us };
			event_base_loopexit(P.s.w.base, &tv);
			solo_run(&P.s, true);
		}
	}
}

/* The worker has no connection left (open or waiting to be freed). */
static bool
glue_idle(void)
{
	return P.s.w.nconns == 0 && TAILQ_EMPTY(&P.s.w.dead);
}

/* Called by libFuzzer only (never by the replay driver): marks a fuzzing run. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	glue_libfuzzer = true;
	return 0;
}

/* One client connection: flags, write size, the stream (see the file comment). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	if (!P.ready)
		glue_setup();
	P.inputs++;
	bool site = data[0] & 1, v6 = data[0] & 2;
	const uint8_t *cs = data + 2;
	size_t clen = size - 2 < GLUE_INPUT_MAX ? size - 2 : GLUE_INPUT_MAX;
	size_t step = data[1] == 0 ? clen : data[1];
	if (step * GLUE_WRITES_MAX < clen)
		step = (clen + GLUE_WRITES_MAX - 1) / GLUE_WRITES_MAX;

	static struct glue_conn g;
	memset(&g, 0, sizeof g);
	g.ufd = -1;
	g.tunnel_at = -1;
	g.answer = (uint8_t)((data[0] >> 2) & 3);
	g.up101 = data[0] & 16;
	g.up = malloc(GLUE_UP_MAX);
	g.rx = malloc(GLUE_RX_MAX);
	if (g.up == NULL || g.rx == NULL)
		fail("out of memory", 0);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fail("socketpair", 0);
	g.cfd = sv[1];
	struct sockaddr_storage peer;
	memset(&peer, 0, sizeof peer);
	if (v6) {
		struct sockaddr_in6 *p6 = (struct sockaddr_in6 *)&peer;
		p6->sin6_family = AF_INET6;
		p6->sin6_port = htons(40000);
		inet_pton(AF_INET6, peer_ip(true), &p6->sin6_addr);
	} else {
		struct sockaddr_in *p4 = (struct sockaddr_in *)&peer;
		p4->sin_family = AF_INET;
		p4->sin_port = htons(40000);
		inet_pton(AF_INET, peer_ip(false), &p4->sin_addr);
	}
	if (!solo_accept(&P.s, site ? "site" : "web", sv[0], &peer))
		fail("the listener refused the connection", 0);

	/* The client's stream, piece by piece; what does not fit waits for the loop. */
	size_t off = 0;
	for (int tries = 0; off < clen && tries < GLUE_WRITES_MAX * 8; tries++) {
		size_t n = clen - off < step ? clen - off : step;
		ssize_t k = send(g.cfd, cs + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0)
			off += (size_t)k;
		else if (k == -1 && errno != EAGAIN)
			break; /* the server closed: the rest is never read */
		settle(&g, GLUE_SETTLE, 0);
	}
	/* The client is done: everything runs out, the upstream closes when its peer did. */
	shutdown(g.cfd, SHUT_WR);
	uint64_t t0 = now_ms();
	while (!g.c_eof && now_ms() - t0 < GLUE_END_MS) {
		settle(&g, GLUE_SETTLE, 1000);
		if (g.up_eof && g.outlen == 0 && g.ufd != -1) {
			close(g.ufd);
			g.ufd = -1;
		}
	}

	/* Once the client half-closed, nothing it sent can still become a request: the
	 * connection ends at once (not at a timeout), unless the upstream owes an answer to
	 * a head this harness could not frame. */
	if (!g.c_eof && !g.up_refused)
		fail("the connection did not end after the client's half-close", 0);
	ref_frame(cs, off, &glue_cf);
	unsigned owed = glue_cf.n + (glue_cf.err ? 1 : 0);
	unsigned got = count_responses(g.rx, g.rxlen);
	if (got > owed)
		fail("the client got more responses than it sent requests", got);
	if (site)
		P.site_answered += got;
	if (!site) {
		unsigned up = check_upstream(cs, off, &g, v6);
		if (up > glue_cf.ncomplete)
			fail("the upstream got more requests than the client sent", up);
		P.forwarded += g.nanswered;
	} else if (g.naccepted > 0) {
		fail("the site route opened an upstream connection", 0);
	}

	if (getenv("GLUE_TRACE") != NULL)
		fprintf(stderr, "fuzz_http_glue: %s: client %u heads (%u complete%s), upstream "
		    "answered %u, client got %u responses\n", site ? "site" : "web", glue_cf.n,
		    glue_cf.ncomplete, glue_cf.err ? ", then a refused head" : "", g.nanswered, got);

	/* Both peers close; the connection must end and be freed within the bound. */
	close(g.cfd);
	if (g.ufd != -1)
		close(g.ufd);
	t0 = now_ms();
	while (!glue_idle() && now_ms() - t0 < GLUE_END_MS) {
		struct timeval tv = { 0, 1000 };
		event_base_loopexit(P.s.w.base, &tv);
		solo_run(&P.s, true);
	}
	if (!glue_idle())
		fail("the connection outlived both of its peers", 0);
	/* An upstream connection nobody accepted would be the next input's. */
	int late = accept4(P.up_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (late != -1) {
		close(late);
		fail("an upstream connection came after the client connection ended", 0);
	}
	free(g.up);
	free(g.rx);
	return 0;
}
