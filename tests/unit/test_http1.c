/*
 * Unit tests for the HTTP/1.x request-head parser (proto/http1.rl): valid heads (RFC 9112
 * and RFC 6455 examples and our own), every error class with its status, every limit at
 * N and N+1, the documented choices (bare LF, HTTP/1.2, leading CRLF, repeated
 * Content-Length), keep-alive defaults, pipelining by re-init at head_len. Every vector is
 * fed whole, growing one byte at a time (through a fresh exact-size copy each call, so the
 * buffer moves and ASan sees any read past len) and split at every offset, with identical
 * verdicts and results. Never touches the network or the file system.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "feed_check.h"
#include "feed_http1.h"
#include "proto/http1.h"

static struct http1_req whole_r, other_r;

/* Runs one vector whole, byte by byte and split at every offset (feed_check.h); returns
 * the whole run's state (static storage). */
static const struct http1_req *
expect_n(const char *name, const void *text, size_t n, enum http1_verdict want)
{
	feed_expect(feed_http1_req(), &whole_r, &other_r, name, text, n, (int)want);
	return &whole_r;
}

/* expect_n for a C string. */
static const struct http1_req *
expect(const char *name, const char *text, enum http1_verdict want)
{
	return expect_n(name, text, strlen(text), want);
}

/* The value of the first field named name (case-insensitive), or a NULL view. */
static struct http1_view
field(const char *s, const struct http1_req *r, const char *name)
{
	return feed_field(s, r->fields, r->nfields, name);
}

/* A simple GET: every result view and the 1.1 keep-alive default. */
static void
test_simple_get(void)
{
	const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
	    "User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
	const struct http1_req *r = expect("simple get", s, HTTP1_DONE);

	CHECK(r->head_len == strlen(s));
	CHECK(r->method == HTTP1_M_GET);
	CHECK(feed_view_is(s, r->method_name, "GET"));
	CHECK(feed_view_is(s, r->target, "/index.html?q=1"));
	CHECK(r->version_minor == 1);
	CHECK(r->nfields == 3);
	CHECK(feed_view_is(s, r->fields[1].name, "User-Agent"));
	CHECK(feed_view_is(s, r->fields[1].value, "curl/8.5.0"));
	CHECK(r->has_host && feed_view_is(s, r->host, "example.com"));
	CHECK(!r->has_cl && !r->chunked);
	CHECK(r->keep_alive && !r->conn_close);
	CHECK(!r->upgrade_websocket && !r->expect_continue);
	CHECK(http1_verdict_status(r->verdict) == 0);
}

/* HTTP/1.0: no Host needed, keep-alive only when asked for. */
static void
test_http10(void)
{
	const char *s1 = "GET / HTTP/1.0\r\n\r\n";
	const char *s2 = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
	const char *s3 = "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n";
	const struct http1_req *r;

	r = expect("1.0 bare", s1, HTTP1_DONE);
	CHECK(r->version_minor == 0 && !r->has_host && !r->keep_alive);
	r = expect("1.0 keep-alive", s2, HTTP1_DONE);
	CHECK(r->conn_keep_alive && r->keep_alive);
	r = expect("1.0 keep-alive close", s3, HTTP1_DONE);
	CHECK(r->conn_keep_alive && r->conn_close && !r->keep_alive);
}

/* Connection lists, case-insensitive, spread over several field lines. */
static void
test_connection(void)
{
	const char *s1 = "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n";
	const char *s2 = "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo ,, \t\r\n"
	    "connection: bar,Close\r\n\r\n";
	const struct http1_req *r;

	r = expect("1.1 close", s1, HTTP1_DONE);
	CHECK(r->conn_close && !r->keep_alive);
	r = expect("1.1 close in list", s2, HTTP1_DONE);
	CHECK(r->conn_close && !r->keep_alive && r->nfields == 3);
}

/* The RFC 6455 §1.2 opening handshake. */
static void
test_websocket(void)
{
	const char *s = "GET /api/v1/ws HTTP/1.1\r\nHost: server.example.com\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	const char *s2 = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, WebSocket\r\n"
	    "Connection: keep-alive, upgrade\r\n\r\n";
	const struct http1_req *r;

	r = expect("websocket", s, HTTP1_DONE);
	CHECK(r->upgrade_websocket && r->conn_upgrade && r->keep_alive);
	CHECK(feed_view_is(s, field(s, r, "sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ=="));
	CHECK(feed_view_is(s, field(s, r, "sec-websocket-protocol"), "chat, superchat"));
	r = expect("websocket list", s2, HTTP1_DONE);
	CHECK(r->upgrade_websocket && r->conn_upgrade && r->conn_keep_alive);
}

/* Content-Length, Expect, and that the body is left alone. */
static void
test_body_framing(void)
{
	const char *head = "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n"
	    "Expect: 100-Continue\r\n\r\n";
	char s[256];
	const char *s2 = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n"
	    "content-length: 0007\r\n\r\n";
	const char *s3 = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
	const char *s4 = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n"
	    "transfer-encoding: , CHUNKED ,\r\n\r\n";
	const char *s5 = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
	const struct http1_req *r;

	snprintf(s, sizeof s, "%s%s", head, "0123456789\r\n\r\nGET");
	r = expect("post with body", s, HTTP1_DONE);
	CHECK(r->head_len == strlen(head));
	CHECK(r->method == HTTP1_M_POST && r->has_cl && r->content_length == 42);
	CHECK(r->expect_continue && !r->chunked);
	r = expect("repeated equal content-length", s2, HTTP1_DONE);
	CHECK(r->has_cl && r->content_length == 7 && r->method == HTTP1_M_PUT);
	r = expect("chunked", s3, HTTP1_DONE);
	CHECK(r->chunked && !r->has_cl);
	r = expect("chunked with empty list elements", s4, HTTP1_DONE);
	CHECK(r->chunked);
	r = expect("content-length 0", s5, HTTP1_DONE);
	CHECK(r->has_cl && r->content_length == 0);
}

/* Field values: OWS trimmed both sides, inner spaces kept, empty values, obs-text. */
static void
test_values(void)
{
	const char *s = "GET / HTTP/1.1\r\nHost:\t example.com \t \r\nX-Empty:\r\n"
	    "X-Sp:   \r\nX-In: a  b\tc\r\nX-Obs: caf\xc3\xa9\r\nX-Odd: \"q\\,\";x=(1)\r\n\r\n";
	const struct http1_req *r = expect("values", s, HTTP1_DONE);

	CHECK(r->nfields == 6);
	CHECK(feed_view_is(s, r->host, "example.com"));
	CHECK(feed_view_is(s, field(s, r, "x-empty"), ""));
	CHECK(feed_view_is(s, field(s, r, "x-sp"), ""));
	CHECK(feed_view_is(s, field(s, r, "x-in"), "a  b\tc"));
	CHECK(feed_view_is(s, field(s, r, "x-obs"), "caf\xc3\xa9"));
	CHECK(feed_view_is(s, field(s, r, "x-odd"), "\"q\\,\";x=(1)"));
}

/* Methods, request-target forms, versions and the documented leniencies. */
static void
test_request_line(void)
{
	static const struct {
		const char        *s;
		enum http1_method  m;
		const char        *target;
		unsigned           minor;
	} v[] = {
		{ "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_M_OPTIONS, "*", 1 },
		{ "CONNECT vpn.example.com:443 HTTP/1.1\r\nHost: vpn.example.com:443\r\n\r\n",
		  HTTP1_M_CONNECT, "vpn.example.com:443", 1 },
		{ "GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\n"
		  "Host: www.example.org\r\n\r\n", HTTP1_M_GET,
		  "http://www.example.org/pub/WWW/TheProject.html", 1 },
		{ "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_M_HEAD, "/", 1 },
		{ "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_M_DELETE, "/x", 1 },
		{ "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_M_TRACE, "/", 1 },
		{ "PATCH /p HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_M_PATCH, "/p", 1 },
		{ "PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_M_OTHER, "/d", 1 },
		{ "get / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_M_OTHER, "/", 1 },
		{ "GETS / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_M_OTHER, "/", 1 },
		{ "GET / HTTP/1.2\r\nHost: a\r\n\r\n", HTTP1_M_GET, "/", 1 },
		{ "GET / HTTP/1.9\r\n\r\n", HTTP1_M_GET, "/", 1 }, /* 1.x -> 1.1: Host needed */
		{ "\r\n\r\nGET /lead HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_M_GET, "/lead", 1 },
		{ "GET /%7Euser/a;b?c=d&e#f HTTP/1.0\r\n\r\n", HTTP1_M_GET, "/%7Euser/a;b?c=d&e#f", 0 },
	};

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		enum http1_verdict want = i == 11 ? HTTP1_ERR_BAD_REQUEST : HTTP1_DONE;
		const struct http1_req *r = expect(v[i].s, v[i].s, want);
		if (want != HTTP1_DONE)
			continue;
		CHECKF(r->method == v[i].m, "%s", v[i].s);
		CHECKF(feed_view_is(v[i].s, r->target, v[i].target), "%s", v[i].s);
		CHECKF(r->version_minor == v[i].minor, "%s", v[i].s);
		CHECK(r->head_len == strlen(v[i].s));
	}
}

/* Host values: the RFC 9110 §7.2 syntax, empty allowed, exactly one. */
static void
test_host(void)
{
	static const char *ok[] = {
		"a", "example.com:8080", "[::1]", "[2001:db8::1]:443", "192.0.2.1:80",
		"", "ex%41mple.com", "under_score.example", "example.com:",
	};
	static const char *bad[] = {
		"a b", "exa/mple", "[::1", "[]", "[::1]x", "a:80x", "ex%4", "ex%zz.com",
		"a@b", "\"a\"", "a:80:90",
	};
	char s[256];

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", ok[i]);
		const struct http1_req *r = expect(s, s, HTTP1_DONE);
		CHECKF(r->has_host && feed_view_is(s, r->host, ok[i]), "%s", ok[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
		expect(s, s, HTTP1_ERR_BAD_REQUEST);
	}
	expect("no host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", HTTP1_ERR_BAD_REQUEST);
	expect("two hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
	    HTTP1_ERR_BAD_REQUEST);
	expect("two hosts 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n",
	    HTTP1_ERR_BAD_REQUEST);
}

/* Every 400 syntax and framing case, and the statuses of every error class. */
static void
test_errors(void)
{
	static const struct {
		const char        *s;
		enum http1_verdict v;
	} v[] = {
		/* line ends */
		{ "GET / HTTP/1.1\nHost: a\n\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost: a\r\n\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		/* obs-fold, whitespace around the name */
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\n Host: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		/* token characters, empty names, bytes not allowed in values */
		{ "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "G\xc3\xa9T / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		/* request-line shape */
		{ " / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET /\r\n\r\n", HTTP1_ERR_BAD_REQUEST }, /* HTTP/0.9 simple request */
		{ "GET / http/1.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.10\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/11.1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/1.x\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "GET / HTTP/2x\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", HTTP1_ERR_BAD_REQUEST }, /* TLS */
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP1_ERR_VERSION }, /* h2 preface */
		/* versions */
		{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", HTTP1_ERR_VERSION },
		{ "GET / HTTP/0.9\r\n\r\n", HTTP1_ERR_VERSION },
		{ "GET / HTTP/9.9\r\n\r\n", HTTP1_ERR_VERSION },
		{ "GET / HTTP/3.0", HTTP1_ERR_VERSION },
		/* Content-Length */
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		  HTTP1_ERR_BAD_REQUEST },
		/* Transfer-Encoding */
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		  "Content-Length: 5\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
		  HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		  HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
		  HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n",
		  HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
		  HTTP1_ERR_BAD_REQUEST },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		  HTTP1_ERR_NOT_IMPLEMENTED },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_NOT_IMPLEMENTED },
		/* incomplete heads */
		{ "", HTTP1_MORE },
		{ "\r\n", HTTP1_MORE },
		{ "GET", HTTP1_MORE },
		{ "GET / HTTP/1.1\r\nHost: a\r\n", HTTP1_MORE },
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r", HTTP1_MORE },
	};

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		expect(v[i].s, v[i].s, v[i].v);

	CHECK(http1_verdict_status(HTTP1_ERR_BAD_REQUEST) == 400);
	CHECK(http1_verdict_status(HTTP1_ERR_URI_TOO_LONG) == 414);
	CHECK(http1_verdict_status(HTTP1_ERR_HEADERS_TOO_LARGE) == 431);
	CHECK(http1_verdict_status(HTTP1_ERR_NOT_IMPLEMENTED) == 501);
	CHECK(http1_verdict_status(HTTP1_ERR_VERSION) == 505);
	CHECK(http1_verdict_status(HTTP1_DONE) == 0 && http1_verdict_status(HTTP1_MORE) == 0);
	for (int i = 0; i < HTTP1_VERDICT_COUNT; i++)
		CHECK(strcmp(http1_verdict_str((enum http1_verdict)i), "invalid") != 0);
	CHECK(strcmp(http1_verdict_str(HTTP1_VERDICT_COUNT), "invalid") == 0);
}

/* A NUL byte in a value and in the target (not expressible in the C-string table). */
static void
test_nul(void)
{
	static const char v[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
	static const char t[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";

	expect_n("nul in value", v, sizeof v - 1, HTTP1_ERR_BAD_REQUEST);
	expect_n("nul in target", t, sizeof t - 1, HTTP1_ERR_BAD_REQUEST);
}

/* Builds "<method> <target> HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n" into out. */
static size_t
build(char *out, size_t cap, size_t method_len, size_t target_len, unsigned nfields,
    size_t pad)
{
	size_t n = 0;

	for (size_t i = 0; i < method_len; i++)
		out[n++] = 'M';
	out[n++] = ' ';
	out[n++] = '/';
	for (size_t i = 1; i < target_len; i++)
		out[n++] = 'a';
	n += (size_t)snprintf(out + n, cap - n, " HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 1; i < nfields; i++)
		n += (size_t)snprintf(out + n, cap - n, "X-%u: v\r\n", i);
	if (pad > 0) {
		n += (size_t)snprintf(out + n, cap - n, "P: ");
		for (size_t i = 0; i < pad; i++)
			out[n++] = 'p';
		out[n++] = '\r';
		out[n++] = '\n';
	}
	out[n++] = '\r';
	out[n++] = '\n';
	if (n >= cap)
		abort();
	return n;
}

/* Every limit at N and N+1. */
static void
test_limits(void)
{
	static char s[HTTP1_HEAD_MAX + 4096];
	const struct http1_req *r;
	size_t n, base;

	/* request-target */
	n = build(s, sizeof s, 3, HTTP1_URI_MAX, 1, 0);
	r = expect_n("uri at max", s, n, HTTP1_DONE);
	CHECK(r->target.len == HTTP1_URI_MAX);
	n = build(s, sizeof s, 3, HTTP1_URI_MAX + 1, 1, 0);
	r = expect_n("uri over max", s, n, HTTP1_ERR_URI_TOO_LONG);
	CHECK(http1_verdict_status(r->verdict) == 414);
	/* the 414 is decided inside the target: before its end arrives */
	r = expect_n("uri over max, unfinished", s, 4 + HTTP1_URI_MAX + 1,
	    HTTP1_ERR_URI_TOO_LONG);

	/* method */
	n = build(s, sizeof s, HTTP1_METHOD_MAX, 1, 1, 0);
	r = expect_n("method at max", s, n, HTTP1_DONE);
	CHECK(r->method == HTTP1_M_OTHER && r->method_name.len == HTTP1_METHOD_MAX);
	n = build(s, sizeof s, HTTP1_METHOD_MAX + 1, 1, 1, 0);
	r = expect_n("method over max", s, n, HTTP1_ERR_NOT_IMPLEMENTED);
	CHECK(http1_verdict_status(r->verdict) == 501);

	/* field count (Host is the first) */
	n = build(s, sizeof s, 3, 1, HTTP1_HEADERS_MAX, 0);
	r = expect_n("fields at max", s, n, HTTP1_DONE);
	CHECK(r->nfields == HTTP1_HEADERS_MAX);
	n = build(s, sizeof s, 3, 1, HTTP1_HEADERS_MAX + 1, 0);
	r = expect_n("fields over max", s, n, HTTP1_ERR_HEADERS_TOO_LARGE);
	CHECK(http1_verdict_status(r->verdict) == 431);

	/* whole head: pad one field so the head is exactly N, then N + 1 bytes */
	base = build(s, sizeof s, 3, 1, 1, 1) - 1;
	n = build(s, sizeof s, 3, 1, 1, HTTP1_HEAD_MAX - base);
	CHECK(n == HTTP1_HEAD_MAX);
	r = expect_n("head at max", s, n, HTTP1_DONE);
	CHECK(r->head_len == HTTP1_HEAD_MAX);
	n = build(s, sizeof s, 3, 1, 1, HTTP1_HEAD_MAX - base + 1);
	CHECK(n == HTTP1_HEAD_MAX + 1);
	expect_n("head over max", s, n, HTTP1_ERR_HEADERS_TOO_LARGE);
	/* an unfinished head: MORE one byte short of the limit, 431 at it */
	expect_n("head unfinished below max", s, HTTP1_HEAD_MAX - 1, HTTP1_MORE);
	expect_n("head unfinished at max", s, HTTP1_HEAD_MAX, HTTP1_ERR_HEADERS_TOO_LARGE);

	/* Content-Length digits */
	n = (size_t)snprintf(s, sizeof s, "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 9999999999999999999\r\n\r\n");
	r = expect_n("content-length 19 digits", s, n, HTTP1_DONE);
	CHECK(r->content_length == 9999999999999999999ull);
	n = (size_t)snprintf(s, sizeof s, "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 00000000000000000001\r\n\r\n");
	expect_n("content-length 20 digits", s, n, HTTP1_ERR_BAD_REQUEST);
}

/* Pipelined heads in one buffer: DONE, re-init, feed from head_len; verdicts are sticky. */
static void
test_pipeline(void)
{
	const char *a = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *b = "GET /two HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
	char s[256];
	struct http1_req r;
	size_t n, off;

	n = (size_t)snprintf(s, sizeof s, "%s%sGET /thr", a, b);
	expect_n("pipeline", s, n, HTTP1_DONE);

	http1_req_init(&r);
	CHECK(http1_req_feed(&r, (const uint8_t *)s, n) == HTTP1_DONE);
	CHECK(r.head_len == strlen(a) && feed_view_is(s, r.target, "/one") && r.keep_alive);
	/* sticky: more bytes change nothing */
	CHECK(http1_req_feed(&r, (const uint8_t *)s, n) == HTTP1_DONE);
	CHECK(r.head_len == strlen(a));
	off = r.head_len;

	http1_req_init(&r);
	CHECK(http1_req_feed(&r, (const uint8_t *)s + off, n - off) == HTTP1_DONE);
	CHECK(r.head_len == strlen(b) && feed_view_is(s + off, r.target, "/two"));
	CHECK(feed_view_is(s + off, r.host, "b") && !r.keep_alive);
	off += r.head_len;

	http1_req_init(&r);
	CHECK(http1_req_feed(&r, (const uint8_t *)s + off, n - off) == HTTP1_MORE);
	CHECK(r.pos == n - off);

	/* an error is sticky too, and consumes nothing more */
	http1_req_init(&r);
	CHECK(http1_req_feed(&r, (const uint8_t *)"GET / HTTP/2.0\r\n", 16) ==
	    HTTP1_ERR_VERSION);
	CHECK(http1_req_feed(&r, (const uint8_t *)a, strlen(a)) == HTTP1_ERR_VERSION);
	/* feeding the same length again is a no-op */
	http1_req_init(&r);
	CHECK(http1_req_feed(&r, (const uint8_t *)a, 5) == HTTP1_MORE);
	CHECK(http1_req_feed(&r, (const uint8_t *)a, 5) == HTTP1_MORE);
	CHECK(http1_req_feed(&r, (const uint8_t *)a, 3) == HTTP1_MORE);
	CHECK(http1_req_feed(&r, (const uint8_t *)a, strlen(a)) == HTTP1_DONE);
}

/* Runs every group; exits non-zero if any check failed. */
int
main(void)
{
	test_simple_get();
	test_http10();
	test_connection();
	test_websocket();
	test_body_framing();
	test_values();
	test_request_line();
	test_host();
	test_errors();
	test_nul();
	test_limits();
	test_pipeline();
	return check_summary();
}
