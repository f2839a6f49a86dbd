/*
 * Fuzz harness for the HTTP/1.x request-head parser (proto/http1.rl). The input is one
 * connection's first bytes. The parser is run whole, growing one byte per call (each call
 * on a fresh exact-size copy, so the buffer moves and reads past len are caught), in
 * chunks whose sizes come from the input, and split in two at an input-chosen offset; any
 * difference in verdict or in a result view aborts. On DONE the views are checked to lie
 * inside the head and the head to end in CRLF CRLF, and the bytes after it are parsed as
 * a pipelined request. It must never print anything on the happy path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a reason; libFuzzer and the replay driver both see the abort. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_http1: %s\n", why);
	abort();
}

/* Feeds buf growing one byte per call, from a fresh copy each time. */
static void
feed_bytes(struct http1_req *r, const uint8_t *buf, size_t n)
{
	http1_req_init(r);
	for (size_t k = 1; k <= n; k++) {
		uint8_t *copy = malloc(k);
		if (copy == NULL)
			fail("malloc");
		memcpy(copy, buf, k);
		enum http1_verdict v = http1_req_feed(r, copy, k);
		free(copy);
		if (v != HTTP1_MORE)
			break;
	}
}

/* Feeds buf growing by sizes taken from pat in turn (1..mod each). */
static void
feed_pattern(struct http1_req *r, const uint8_t *buf, size_t n, const uint8_t *pat,
    size_t npat, unsigned mod)
{
	size_t len = 0, i = 0;

	http1_req_init(r);
	while (len < n) {
		size_t k = npat > 0 ? 1 + pat[i++ % npat] % mod : n;
		len = k > n - len ? n : len + k;
		if (http1_req_feed(r, buf, len) != HTTP1_MORE)
			break;
	}
}

/* Feeds buf in two calls: cut bytes, then all n. */
static void
feed_split(struct http1_req *r, const uint8_t *buf, size_t n, size_t cut)
{
	http1_req_init(r);
	http1_req_feed(r, buf, cut);
	http1_req_feed(r, buf, n);
}

/* True when two views are equal. */
static int
view_eq(struct http1_view a, struct http1_view b)
{
	return a.off == b.off && a.len == b.len;
}

/* Aborts unless two runs agree on the verdict and, on DONE, on every result. */
static void
compare(const struct http1_req *a, const struct http1_req *b, const char *what)
{
	if (a->verdict != b->verdict)
		fail(what);
	if (a->verdict != HTTP1_DONE)
		return;
	if (a->head_len != b->head_len || a->method != b->method ||
	    !view_eq(a->method_name, b->method_name) || !view_eq(a->target, b->target) ||
	    a->version_minor != b->version_minor || a->nfields != b->nfields ||
	    a->has_host != b->has_host || !view_eq(a->host, b->host) ||
	    a->has_cl != b->has_cl || a->content_length != b->content_length ||
	    a->chunked != b->chunked || a->conn_close != b->conn_close ||
	    a->conn_keep_alive != b->conn_keep_alive || a->conn_upgrade != b->conn_upgrade ||
	    a->upgrade_websocket != b->upgrade_websocket ||
	    a->expect_continue != b->expect_continue || a->keep_alive != b->keep_alive)
		fail(what);
	for (unsigned i = 0; i < a->nfields; i++) {
		if (!view_eq(a->fields[i].name, b->fields[i].name) ||
		    !view_eq(a->fields[i].value, b->fields[i].value))
			fail(what);
	}
}

/* Aborts unless v lies inside the head. */
static void
in_head(const struct http1_req *r, struct http1_view v, const char *what)
{
	if (v.off > r->head_len || v.len > r->head_len - v.off)
		fail(what);
}

/* Aborts unless a DONE result is consistent with the bytes it came from. */
static void
check_done(const struct http1_req *r, const uint8_t *buf, size_t n)
{
	if (r->head_len > n || r->head_len > HTTP1_HEAD_MAX || r->head_len < 4 ||
	    memcmp(buf + r->head_len - 4, "\r\n\r\n", 4) != 0)
		fail("head_len");
	if (r->nfields > HTTP1_HEADERS_MAX || r->target.len == 0 ||
	    r->target.len > HTTP1_URI_MAX || r->method_name.len == 0 ||
	    r->method_name.len > HTTP1_METHOD_MAX || r->version_minor > 1)
		fail("request-line bounds");
	in_head(r, r->method_name, "method view");
	in_head(r, r->target, "target view");
	if (r->has_host)
		in_head(r, r->host, "host view");
	if (r->version_minor == 1 && !r->has_host)
		fail("1.1 without host");
	if (r->chunked && r->has_cl)
		fail("chunked with content-length");
	for (unsigned i = 0; i < r->nfields; i++) {
		struct http1_view nm = r->fields[i].name, v = r->fields[i].value;
		in_head(r, nm, "name view");
		in_head(r, v, "value view");
		if (nm.len == 0 || buf[nm.off + nm.len] != ':')
			fail("name");
		if (v.len > 0 && (buf[v.off] == ' ' || buf[v.off] == '\t' ||
		    buf[v.off + v.len - 1] == ' ' || buf[v.off + v.len - 1] == '\t'))
			fail("value not trimmed");
	}
}

/* One input: every feeding must agree; DONE results must be sane; then the next head. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http1_req whole, other;
	size_t cut = size > 0 ? (size_t)data[0] * 131 % (size + 1) : 0;

	feed_pattern(&whole, data, size, NULL, 0, 1);
	feed_bytes(&other, data, size);
	compare(&whole, &other, "byte-at-a-time differs");
	feed_pattern(&other, data, size, data, size < 8 ? size : 8, 17);
	compare(&whole, &other, "input-pattern chunks differ");
	feed_pattern(&other, data + size / 2, 0, NULL, 0, 1); /* empty feed is harmless */
	feed_pattern(&other, data, size, data + size / 2, size - size / 2 < 4 ?
	    size - size / 2 : 4, 257);
	compare(&whole, &other, "large chunks differ");
	feed_split(&other, data, size, cut);
	compare(&whole, &other, "split differs");

	if (whole.verdict == HTTP1_MORE && size >= HTTP1_HEAD_MAX)
		fail("MORE past the head limit");
	if (whole.verdict == HTTP1_DONE) {
		size_t off = whole.head_len;
		check_done(&whole, data, size);
		/* The pipelined next head, from head_len as the caller would. */
		feed_pattern(&other, data + off, size - off, NULL, 0, 1);
		if (other.verdict == HTTP1_DONE)
			check_done(&other, data + off, size - off);
	}
	return 0;
}
