/*
 * Unit tests for the HTTP/1.x response-head parser (proto/http1_resp.rl): valid heads (RFC
 * 7230 §2.1 and RFC 6455 §1.3 examples and our own), every error class, every documented
 * choice of the table in http1_resp.h, every limit at N and N+1, the body length of RFC
 * 9112 §6.3 for each kind of request, keep-alive defaults, and a 100 Continue followed by
 * the final response by re-init at head_len. Every vector is fed whole, growing one byte
 * at a time (through a fresh exact-size copy each call, so the buffer moves and ASan sees
 * any read past len) and split at every offset, with identical verdicts and results.
 * Never touches the network or the file system.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "feed_check.h"
#include "feed_http1.h"
#include "proto/http1_resp.h"

static struct http1_resp whole_r, other_r;

/* Runs one vector whole, byte by byte and split at every offset (feed_check.h); returns
 * the whole run's state (static storage). */
static const struct http1_resp *
expect_n(const char *name, const void *text, size_t n, enum http1_resp_verdict want)
{
	feed_expect(feed_http1_resp(), &whole_r, &other_r, name, text, n, (int)want);
	return &whole_r;
}

/* expect_n for a C string. */
static const struct http1_resp *
expect(const char *name, const char *text, enum http1_resp_verdict want)
{
	return expect_n(name, text, strlen(text), want);
}

/* The value of the first field named name (case-insensitive), or a NULL view. */
static struct http1_view
field(const char *s, const struct http1_resp *r, const char *name)
{
	return feed_field(s, r->fields, r->nfields, name);
}

/* The RFC 7230 §2.1 example response: every result and the body after the head. */
static void
test_simple(void)
{
	const char *head = "HTTP/1.1 200 OK\r\nDate: Mon, 27 Jul 2009 12:28:53 GMT\r\n"
	    "Server: Apache\r\nLast-Modified: Wed, 22 Jul 2009 19:15:56 GMT\r\n"
	    "ETag: \"34aa387-d-1568eb00\"\r\nAccept-Ranges: bytes\r\nContent-Length: 51\r\n"
	    "Vary: Accept-Encoding\r\nContent-Type: text/plain\r\n\r\n";
	char s[512];
	const struct http1_resp *r;

	snprintf(s, sizeof s, "%s%s", head, "Hello World! My content includes a trailing CRLF.\r\n");
	r = expect("rfc 7230 example", s, HTTP1_RESP_DONE);
	CHECK(r->head_len == strlen(head));
	CHECK(r->status == 200 && r->version_minor == 1);
	CHECK(feed_view_is(s, r->reason, "OK"));
	CHECK(r->nfields == 8);
	CHECK(feed_view_is(s, r->fields[0].name, "Date"));
	CHECK(feed_view_is(s, r->fields[0].value, "Mon, 27 Jul 2009 12:28:53 GMT"));
	CHECK(feed_view_is(s, field(s, r, "etag"), "\"34aa387-d-1568eb00\""));
	CHECK(r->has_cl && r->content_length == 51 && !r->chunked && !r->te_present);
	CHECK(r->keep_alive && !r->conn_close && !r->has_upgrade);
	CHECK(http1_resp_body(r, false, false) == HTTP1_BODY_LENGTH);
	CHECK(strlen(s) - r->head_len == 51);
}

/* The RFC 6455 §1.3 server handshake, and an upgrade answered with an ordinary 200. */
static void
test_upgrade(void)
{
	const char *s = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	    "\x81\x05hello";
	const char *s2 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno";
	const char *s3 = "HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c, WebSocket\r\n"
	    "connection: keep-alive,upgrade\r\n\r\n";
	const struct http1_resp *r;

	r = expect("101 websocket", s, HTTP1_RESP_DONE);
	CHECK(r->status == 101 && feed_view_is(s, r->reason, "Switching Protocols"));
	CHECK(r->has_upgrade && r->upgrade_websocket && r->conn_upgrade);
	CHECK(feed_view_is(s, field(s, r, "sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	CHECK(http1_resp_body(r, false, false) == HTTP1_BODY_NONE);
	CHECK(strcmp(s + r->head_len, "\x81\x05hello") == 0);
	r = expect("200 to an upgrade", s2, HTTP1_RESP_DONE);
	CHECK(r->status == 200 && !r->has_upgrade && !r->conn_upgrade);
	CHECK(http1_resp_body(r, false, false) == HTTP1_BODY_LENGTH && r->content_length == 2);
	r = expect("101 lists", s3, HTTP1_RESP_DONE);
	CHECK(r->has_upgrade && r->upgrade_websocket && r->conn_upgrade && r->conn_keep_alive);
}

/* Status codes: 3DIGIT from 100 to 999, the reason optional, its SP optional. */
static void
test_status_line(void)
{
	static const struct {
		const char *s;
		unsigned    status;
		unsigned    minor;
		const char *reason;
	} ok[] = {
		{ "HTTP/1.1 100 Continue\r\n\r\n", 100, 1, "Continue" },
		{ "HTTP/1.1 404 Not Found\r\n\r\n", 404, 1, "Not Found" },
		{ "HTTP/1.0 200 OK\r\n\r\n", 200, 0, "OK" },
		{ "HTTP/1.1 599 x\r\n\r\n", 599, 1, "x" },
		{ "HTTP/1.1 600 Library Error\r\n\r\n", 600, 1, "Library Error" },
		{ "HTTP/1.1 999 \r\n\r\n", 999, 1, "" },
		{ "HTTP/1.1 200\r\n\r\n", 200, 1, "" },               /* SP missing */
		{ "HTTP/1.1 200 \r\n\r\n", 200, 1, "" },              /* RFC form, empty */
		{ "HTTP/1.1 200  OK \t\r\n\r\n", 200, 1, " OK \t" },  /* kept as sent */
		{ "HTTP/1.1 200 \t\r\n\r\n", 200, 1, "\t" },
		{ "HTTP/1.1 200 Tr\xc3\xa8s bien\r\n\r\n", 200, 1, "Tr\xc3\xa8s bien" },
		{ "HTTP/1.1 200 a:b \"c\" (d)\r\n\r\n", 200, 1, "a:b \"c\" (d)" },
		{ "HTTP/1.2 200 OK\r\n\r\n", 200, 1, "OK" },
		{ "HTTP/1.9 200 OK\r\n\r\n", 200, 1, "OK" },
	};
	static const char *bad[] = {
		"HTTP/1.1 099 Low\r\n\r\n", "HTTP/1.1 000\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 2a0 OK\r\n\r\n", "HTTP/1.1 200x\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n", "HTTP/1.1\t200 OK\r\n\r\n", "HTTP/1.1 200\tOK\r\n\r\n",
		"HTTP/1.1\r\n\r\n", "HTTP/1.1 \r\n\r\n", "HTTP/1.1 OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n", "HTTP/1.10 200 OK\r\n\r\n", "HTTP/11.1 200 OK\r\n\r\n",
		"HTTP/1 200 OK\r\n\r\n", "HTTP/1.x 200 OK\r\n\r\n", "HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/0.9 200 OK\r\n\r\n", "HTTP/9.9 200 OK\r\n\r\n", "HTTP/2 200\r\n\r\n",
		"ICY 200 OK\r\n\r\n", " HTTP/1.1 200 OK\r\n\r\n", "<html>\r\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n", "HTTP/1.1 200 O\x7fK\r\n\r\n",
		"\x16\x03\x03\x00\x02\x02\x28", /* a TLS alert from a TLS upstream */
	};
	const struct http1_resp *r;

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		r = expect(ok[i].s, ok[i].s, HTTP1_RESP_DONE);
		CHECKF(r->status == ok[i].status, "%s: status %u", ok[i].s, r->status);
		CHECKF(r->version_minor == ok[i].minor, "%s", ok[i].s);
		CHECKF(feed_view_is(ok[i].s, r->reason, ok[i].reason), "%s", ok[i].s);
		CHECKF(r->head_len == strlen(ok[i].s) && r->nfields == 0, "%s", ok[i].s);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect(bad[i], bad[i], HTTP1_RESP_ERR_BAD);
	/* a NUL in the reason (not expressible in the table) */
	static const char nul[] = "HTTP/1.1 200 O\0K\r\n\r\n";
	expect_n("nul in reason", nul, sizeof nul - 1, HTTP1_RESP_ERR_BAD);
	/* the status is valid before the head ends */
	r = expect("status only", "HTTP/1.1 302 Found\r\nLocation: /x", HTTP1_RESP_MORE);
	CHECK(r->status == 302 && r->version_minor == 1);
}

/* Connection lists and the keep-alive defaults of 1.0 and 1.1. */
static void
test_connection(void)
{
	static const struct {
		const char *s;
		bool        close, ka, keep_alive;
	} v[] = {
		{ "HTTP/1.1 200 OK\r\n\r\n", false, false, true },
		{ "HTTP/1.1 200 OK\r\nConnection: CLOSE\r\n\r\n", true, false, false },
		{ "HTTP/1.1 200 OK\r\nConnection: foo ,, \t\r\nconnection: bar,Close\r\n\r\n",
		  true, false, false },
		{ "HTTP/1.0 200 OK\r\n\r\n", false, false, false },
		{ "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", false, true, true },
		{ "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n", true, true, false },
		{ "HTTP/1.1 200 OK\r\nConnection: closed, keep-alives\r\n\r\n", false, false, true },
	};

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		const struct http1_resp *r = expect(v[i].s, v[i].s, HTTP1_RESP_DONE);
		CHECKF(r->conn_close == v[i].close && r->conn_keep_alive == v[i].ka &&
		    r->keep_alive == v[i].keep_alive, "%s", v[i].s);
	}
}

/* Field values: OWS trimmed both sides, inner spaces kept, empty values, obs-text. */
static void
test_values(void)
{
	const char *s = "HTTP/1.1 200 OK\r\nServer:\t nginx \t \r\nX-Empty:\r\n"
	    "X-Sp:   \r\nX-In: a  b\tc\r\nX-Obs: caf\xc3\xa9\r\nSet-Cookie: a=b; Path=/\r\n"
	    "set-cookie: c=\"d,e\"\r\n\r\n";
	const struct http1_resp *r = expect("values", s, HTTP1_RESP_DONE);

	CHECK(r->nfields == 7);
	CHECK(feed_view_is(s, field(s, r, "server"), "nginx"));
	CHECK(feed_view_is(s, field(s, r, "x-empty"), ""));
	CHECK(feed_view_is(s, field(s, r, "x-sp"), ""));
	CHECK(feed_view_is(s, field(s, r, "x-in"), "a  b\tc"));
	CHECK(feed_view_is(s, field(s, r, "x-obs"), "caf\xc3\xa9"));
	CHECK(feed_view_is(s, r->fields[5].value, "a=b; Path=/"));
	CHECK(feed_view_is(s, r->fields[6].value, "c=\"d,e\""));
}

/* Content-Length and Transfer-Encoding that are accepted, and what they frame. */
static void
test_framing(void)
{
	const struct http1_resp *r;

	r = expect("cl repeated equal", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
	    "content-length: 0007\r\n\r\n", HTTP1_RESP_DONE);
	CHECK(r->has_cl && r->content_length == 7);
	r = expect("cl 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP1_RESP_DONE);
	CHECK(r->has_cl && r->content_length == 0);
	CHECK(http1_resp_body(r, false, false) == HTTP1_BODY_LENGTH);
	r = expect("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n0\r\n\r\n", HTTP1_RESP_DONE);
	CHECK(r->chunked && r->te_present && !r->has_cl);
	CHECK(http1_resp_body(r, false, false) == HTTP1_BODY_CHUNKED);
	r = expect("chunked case", "HTTP/1.1 200 OK\r\ntransfer-encoding:  CHUNKED \r\n\r\n",
	    HTTP1_RESP_DONE);
	CHECK(r->chunked);
	r = expect("gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    HTTP1_RESP_DONE);
	CHECK(r->chunked && http1_resp_body(r, false, false) == HTTP1_BODY_CHUNKED);
	r = expect("gzip then chunked fields", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", HTTP1_RESP_DONE);
	CHECK(r->chunked);
	r = expect("chunked, gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	    HTTP1_RESP_DONE);
	CHECK(!r->chunked && r->te_present);
	CHECK(http1_resp_body(r, false, false) == HTTP1_BODY_CLOSE);
	r = expect("gzip only", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	    HTTP1_RESP_DONE);
	CHECK(!r->chunked && r->te_present);
	CHECK(http1_resp_body(r, false, false) == HTTP1_BODY_CLOSE);
	r = expect("chunked;x=1", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
	    HTTP1_RESP_DONE);
	CHECK(!r->chunked && http1_resp_body(r, false, false) == HTTP1_BODY_CLOSE);
	r = expect("no length", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>",
	    HTTP1_RESP_DONE);
	CHECK(!r->has_cl && !r->te_present);
	CHECK(http1_resp_body(r, false, false) == HTTP1_BODY_CLOSE);
	r = expect("1.0 with cl", "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc",
	    HTTP1_RESP_DONE);
	CHECK(http1_resp_body(r, false, false) == HTTP1_BODY_LENGTH);
}

/* http1_resp_body for every status class and request kind (RFC 9112 §6.3). */
static void
test_body(void)
{
	static const struct {
		unsigned             status;
		const char          *fields;
		bool                 head, connect;
		enum http1_resp_body want;
	} v[] = {
		/* point 1: 1xx, 204, 304, HEAD never have a body, whatever the fields */
		{ 100, "", false, false, HTTP1_BODY_NONE },
		{ 101, "Upgrade: websocket\r\nConnection: upgrade\r\n", false, false,
		  HTTP1_BODY_NONE },
		{ 103, "Link: </a.css>; rel=preload\r\n", false, false, HTTP1_BODY_NONE },
		{ 199, "Content-Length: 5\r\n", false, false, HTTP1_BODY_NONE },
		{ 204, "", false, false, HTTP1_BODY_NONE },
		{ 204, "Content-Length: 0\r\n", false, false, HTTP1_BODY_NONE },
		{ 204, "Transfer-Encoding: chunked\r\n", false, false, HTTP1_BODY_NONE },
		{ 304, "Content-Length: 1234\r\n", false, false, HTTP1_BODY_NONE },
		{ 304, "", false, false, HTTP1_BODY_NONE },
		{ 200, "Content-Length: 1234\r\n", true, false, HTTP1_BODY_NONE },
		{ 200, "Transfer-Encoding: chunked\r\n", true, false, HTTP1_BODY_NONE },
		{ 200, "", true, false, HTTP1_BODY_NONE },
		{ 404, "", true, false, HTTP1_BODY_NONE },
		/* point 2: 2xx to CONNECT is a tunnel; other answers to it are messages */
		{ 200, "", false, true, HTTP1_BODY_NONE },
		{ 200, "Content-Length: 5\r\n", false, true, HTTP1_BODY_NONE },
		{ 299, "", false, true, HTTP1_BODY_NONE },
		{ 300, "Content-Length: 5\r\n", false, true, HTTP1_BODY_LENGTH },
		{ 407, "Content-Length: 5\r\n", false, true, HTTP1_BODY_LENGTH },
		{ 502, "", false, true, HTTP1_BODY_CLOSE },
		{ 100, "", false, true, HTTP1_BODY_NONE },
		/* points 4, 6, 8 */
		{ 200, "Transfer-Encoding: chunked\r\n", false, false, HTTP1_BODY_CHUNKED },
		{ 205, "Transfer-Encoding: chunked\r\n", false, false, HTTP1_BODY_CHUNKED },
		{ 500, "Transfer-Encoding: br\r\n", false, false, HTTP1_BODY_CLOSE },
		{ 200, "Content-Length: 10\r\n", false, false, HTTP1_BODY_LENGTH },
		{ 303, "Content-Length: 0\r\n", false, false, HTTP1_BODY_LENGTH },
		{ 200, "", false, false, HTTP1_BODY_CLOSE },
		{ 600, "Content-Length: 1\r\n", false, false, HTTP1_BODY_LENGTH },
		{ 999, "", false, false, HTTP1_BODY_CLOSE },
	};
	char s[256];

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		snprintf(s, sizeof s, "HTTP/1.1 %u X\r\n%s\r\n", v[i].status, v[i].fields);
		const struct http1_resp *r = expect(s, s, HTTP1_RESP_DONE);
		enum http1_resp_body b = http1_resp_body(r, v[i].head, v[i].connect);
		CHECKF(b == v[i].want, "%s (head %d connect %d): %s, want %s", s, v[i].head,
		    v[i].connect, http1_resp_body_str(b), http1_resp_body_str(v[i].want));
	}
	CHECK(strcmp(http1_resp_body_str(HTTP1_BODY_NONE), "none") == 0);
	CHECK(strcmp(http1_resp_body_str(HTTP1_BODY_LENGTH), "length") == 0);
	CHECK(strcmp(http1_resp_body_str(HTTP1_BODY_CHUNKED), "chunked") == 0);
	CHECK(strcmp(http1_resp_body_str(HTTP1_BODY_CLOSE), "close") == 0);
}

/* Every ERR_BAD for line ends, field syntax and framing, and the verdict ids. */
static void
test_errors(void)
{
	static const char *v[] = {
		/* line ends */
		"HTTP/1.1 200 OK\nServer: a\n\n",
		"HTTP/1.1 200 OK\r\nServer: a\n\r\n",
		"HTTP/1.1 200 OK\r\nServer: a\r\n\n",
		"HTTP/1.1 200 OK\r\nServer: a\rb\r\n\r\n",
		"HTTP/1.1 200 OK\rX\r\n\r\n",
		"HTTP/1.1 200\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\r\n",
		"\r\nHTTP/1.1 200 OK\r\n\r\n",
		"\nHTTP/1.1 200 OK\r\n\r\n",
		/* obs-fold, whitespace around the name */
		"HTTP/1.1 200 OK\r\nX: b\r\n c\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: b\r\n\tc\r\n\r\n",
		"HTTP/1.1 200 OK\r\n Server: a\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding\t: chunked\r\n\r\n",
		/* token characters, empty names, bytes not allowed in values */
		"HTTP/1.1 200 OK\r\nSer(ver: a\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: a\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX\xc3\xa9: b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: \x1b[31m\r\n\r\n",
		/* Content-Length */
		"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n",
		/* Transfer-Encoding */
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: , chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,,chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: \t \r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n"
		"Content-Length: 5\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		expect(v[i], v[i], HTTP1_RESP_ERR_BAD);
	static const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
	expect_n("nul in value", nul, sizeof nul - 1, HTTP1_RESP_ERR_BAD);

	/* incomplete heads */
	expect("empty", "", HTTP1_RESP_MORE);
	expect("version", "HTTP/1.", HTTP1_RESP_MORE);
	expect("status-line", "HTTP/1.1 200 OK\r\n", HTTP1_RESP_MORE);
	expect("last CR", "HTTP/1.1 200 OK\r\nServer: a\r\n\r", HTTP1_RESP_MORE);

	CHECK(strcmp(http1_resp_verdict_str(HTTP1_RESP_DONE), "done") == 0);
	CHECK(strcmp(http1_resp_verdict_str(HTTP1_RESP_MORE), "more") == 0);
	CHECK(strcmp(http1_resp_verdict_str(HTTP1_RESP_ERR_BAD), "bad") == 0);
	CHECK(strcmp(http1_resp_verdict_str(HTTP1_RESP_ERR_TOO_LARGE), "too_large") == 0);
	CHECK(strcmp(http1_resp_verdict_str(HTTP1_RESP_VERDICT_COUNT), "invalid") == 0);
}

/* Builds "HTTP/1.1 200 OK\r\n" + nfields fields + a pad field + "\r\n" into out. */
static size_t
build(char *out, size_t cap, unsigned nfields, size_t pad)
{
	size_t n = (size_t)snprintf(out, cap, "HTTP/1.1 200 OK\r\n");

	for (unsigned i = 0; i < nfields; i++)
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
	static char s[HTTP1_RESP_HEAD_MAX + 4096];
	const struct http1_resp *r;
	size_t n, base;

	/* field count */
	n = build(s, sizeof s, HTTP1_RESP_HEADERS_MAX, 0);
	r = expect_n("fields at max", s, n, HTTP1_RESP_DONE);
	CHECK(r->nfields == HTTP1_RESP_HEADERS_MAX);
	n = build(s, sizeof s, HTTP1_RESP_HEADERS_MAX + 1, 0);
	expect_n("fields over max", s, n, HTTP1_RESP_ERR_TOO_LARGE);
	/* decided at the first byte of the extra field line, before the head ends */
	n = build(s, sizeof s, HTTP1_RESP_HEADERS_MAX, 0) - 2;
	build(s, sizeof s, HTTP1_RESP_HEADERS_MAX + 1, 0);
	expect_n("fields over max, unfinished", s, n + 1, HTTP1_RESP_ERR_TOO_LARGE);
	expect_n("fields at max, unfinished", s, n, HTTP1_RESP_MORE);

	/* whole head: pad one field so the head is exactly N, then N + 1 bytes */
	base = build(s, sizeof s, 0, 1) - 1;
	n = build(s, sizeof s, 0, HTTP1_RESP_HEAD_MAX - base);
	CHECK(n == HTTP1_RESP_HEAD_MAX);
	r = expect_n("head at max", s, n, HTTP1_RESP_DONE);
	CHECK(r->head_len == HTTP1_RESP_HEAD_MAX && r->nfields == 1);
	n = build(s, sizeof s, 0, HTTP1_RESP_HEAD_MAX - base + 1);
	CHECK(n == HTTP1_RESP_HEAD_MAX + 1);
	expect_n("head over max", s, n, HTTP1_RESP_ERR_TOO_LARGE);
	/* an unfinished head: MORE one byte short of the limit, TOO_LARGE at it */
	expect_n("head unfinished below max", s, HTTP1_RESP_HEAD_MAX - 1, HTTP1_RESP_MORE);
	expect_n("head unfinished at max", s, HTTP1_RESP_HEAD_MAX, HTTP1_RESP_ERR_TOO_LARGE);
	/* a huge status-line alone hits the same limit */
	n = (size_t)snprintf(s, sizeof s, "HTTP/1.1 200 ");
	memset(s + n, 'r', sizeof s - n);
	expect_n("reason over max", s, HTTP1_RESP_HEAD_MAX + 10, HTTP1_RESP_ERR_TOO_LARGE);

	/* Content-Length digits */
	n = (size_t)snprintf(s, sizeof s, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 9999999999999999999\r\n\r\n");
	r = expect_n("content-length 19 digits", s, n, HTTP1_RESP_DONE);
	CHECK(r->content_length == 9999999999999999999ull);
	n = (size_t)snprintf(s, sizeof s, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 00000000000000000001\r\n\r\n");
	expect_n("content-length 20 digits", s, n, HTTP1_RESP_ERR_BAD);
}

/* 1xx then the final response, and a pipelined response, by re-init; sticky verdicts. */
static void
test_sequence(void)
{
	const char *a = "HTTP/1.1 100 Continue\r\n\r\n";
	const char *b = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
	const char *c = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
	const char *d = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
	char s[512];
	struct http1_resp r;
	size_t n, off;

	n = (size_t)snprintf(s, sizeof s, "%s%s%sabc%sHTTP/1.1 2", a, b, c, d);
	expect_n("sequence", s, n, HTTP1_RESP_DONE);

	http1_resp_init(&r);
	CHECK(http1_resp_feed(&r, (const uint8_t *)s, n) == HTTP1_RESP_DONE);
	CHECK(r.head_len == strlen(a) && r.status == 100);
	CHECK(http1_resp_body(&r, false, false) == HTTP1_BODY_NONE);
	/* sticky: more bytes change nothing */
	CHECK(http1_resp_feed(&r, (const uint8_t *)s, n) == HTTP1_RESP_DONE);
	CHECK(r.head_len == strlen(a));
	off = r.head_len;

	http1_resp_init(&r);
	CHECK(http1_resp_feed(&r, (const uint8_t *)s + off, n - off) == HTTP1_RESP_DONE);
	CHECK(r.head_len == strlen(b) && r.status == 103 && r.nfields == 1);
	CHECK(http1_resp_body(&r, false, false) == HTTP1_BODY_NONE);
	off += r.head_len;

	http1_resp_init(&r);
	CHECK(http1_resp_feed(&r, (const uint8_t *)s + off, n - off) == HTTP1_RESP_DONE);
	CHECK(r.head_len == strlen(c) && r.status == 200);
	CHECK(http1_resp_body(&r, false, false) == HTTP1_BODY_LENGTH && r.content_length == 3);
	off += r.head_len + r.content_length;

	http1_resp_init(&r);
	CHECK(http1_resp_feed(&r, (const uint8_t *)s + off, n - off) == HTTP1_RESP_DONE);
	CHECK(r.head_len == strlen(d) && r.status == 204 && !r.keep_alive);
	off += r.head_len;

	http1_resp_init(&r);
	CHECK(http1_resp_feed(&r, (const uint8_t *)s + off, n - off) == HTTP1_RESP_MORE);
	CHECK(r.pos == n - off);

	/* an error is sticky too, and consumes nothing more */
	http1_resp_init(&r);
	CHECK(http1_resp_feed(&r, (const uint8_t *)"HTTP/2.0 200\r\n", 14) ==
	    HTTP1_RESP_ERR_BAD);
	CHECK(http1_resp_feed(&r, (const uint8_t *)c, strlen(c)) == HTTP1_RESP_ERR_BAD);
	/* feeding the same or a shorter length again is a no-op */
	http1_resp_init(&r);
	CHECK(http1_resp_feed(&r, (const uint8_t *)c, 5) == HTTP1_RESP_MORE);
	CHECK(http1_resp_feed(&r, (const uint8_t *)c, 5) == HTTP1_RESP_MORE);
	CHECK(http1_resp_feed(&r, (const uint8_t *)c, 3) == HTTP1_RESP_MORE);
	CHECK(http1_resp_feed(&r, (const uint8_t *)c, strlen(c)) == HTTP1_RESP_DONE);
	CHECK(r.head_len == strlen(c));
}

/* Runs every group; exits non-zero if any check failed. */
int
main(void)
{
	test_simple();
	test_upgrade();
	test_status_line();
	test_connection();
	test_values();
	test_framing();
	test_body();
	test_errors();
	test_limits();
	test_sequence();
	return check_summary();
}
