/*
 * Fuzz harness for the HTTP/1.x response-head parser (proto/http1_resp.rl). The input is
 * what an upstream answers on one connection. The parser is run whole, growing one byte
 * per call (each call on a fresh exact-size copy, so the buffer moves and reads past len
 * are caught), in chunks whose sizes come from the input, and split in two at an
 * input-chosen offset; any difference in verdict or in a result aborts. On DONE the
 * results are checked against the bytes and against http1_resp_body, and the next
 * response (after the head, plus the body when its length is known) is parsed as the
 * router would. It must never print anything on the happy path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NEXT_MAX 4 /* responses parsed after the first, per input */

/* Stops the run with a reason; libFuzzer and the replay driver both see the abort. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_http1_resp: %s\n", why);
	abort();
}

/* Feeds buf growing one byte per call, from a fresh copy each time. */
static void
feed_bytes(struct http1_resp *r, const uint8_t *buf, size_t n)
{
	http1_resp_init(r);
	for (size_t k = 1; k <= n; k++) {
		uint8_t *copy = malloc(k);
		if (copy == NULL)
			fail("malloc");
		memcpy(copy, buf, k);
		enum http1_resp_verdict v = http1_resp_feed(r, copy, k);
		free(copy);
		if (v != HTTP1_RESP_MORE)
			break;
	}
}

/* Feeds buf growing by sizes taken from pat in turn (1..mod each). */
static void
feed_pattern(struct http1_resp *r, const uint8_t *buf, size_t n, const uint8_t *pat,
    size_t npat, unsigned mod)
{
	size_t len = 0, i = 0;

	http1_resp_init(r);
	while (len < n) {
		size_t k = npat > 0 ? 1 + pat[i++ % npat] % mod : n;
		len = k > n - len ? n : len + k;
		if (http1_resp_feed(r, buf, len) != HTTP1_RESP_MORE)
			break;
	}
}

/* Feeds buf in two calls: cut bytes, then all n. */
static void
feed_split(struct http1_resp *r, const uint8_t *buf, size_t n, size_t cut)
{
	http1_resp_init(r);
	http1_resp_feed(r, buf, cut);
	http1_resp_feed(r, buf, n);
}

/* True when two views are equal. */
static int
view_eq(struct http1_view a, struct http1_view b)
{
	return a.off == b.off && a.len == b.len;
}

/* Aborts unless two runs agree on the verdict and, on DONE, on every result. */
static void
compare(const struct http1_resp *a, const struct http1_resp *b, const char *what)
{
	if (a->verdict != b->verdict)
		fail(what);
	if (a->verdict != HTTP1_RESP_DONE)
		return;
	if (a->head_len != b->head_len || a->status != b->status ||
	    a->version_minor != b->version_minor || !view_eq(a->reason, b->reason) ||
	    a->nfields != b->nfields || a->has_cl != b->has_cl ||
	    a->content_length != b->content_length || a->chunked != b->chunked ||
	    a->te_present != b->te_present || a->conn_close != b->conn_close ||
	    a->conn_keep_alive != b->conn_keep_alive || a->conn_upgrade != b->conn_upgrade ||
	    a->has_upgrade != b->has_upgrade || a->upgrade_websocket != b->upgrade_websocket ||
	    a->keep_alive != b->keep_alive)
		fail(what);
	for (unsigned i = 0; i < a->nfields; i++) {
		if (!view_eq(a->fields[i].name, b->fields[i].name) ||
		    !view_eq(a->fields[i].value, b->fields[i].value))
			fail(what);
	}
}

/* Aborts unless v lies inside the head. */
static void
in_head(const struct http1_resp *r, struct http1_view v, const char *what)
{
	if (v.off > r->head_len || v.len > r->head_len - v.off)
		fail(what);
}

/* Aborts unless http1_resp_body agrees with RFC 9112 §6.3 for all four request kinds. */
static void
check_body(const struct http1_resp *r)
{
	for (int k = 0; k < 4; k++) {
		bool head = k & 1, connect = k & 2;
		enum http1_resp_body b = http1_resp_body(r, head, connect);
		bool none = r->status < 200 || r->status == 204 || r->status == 304 || head ||
		    (connect && r->status < 300);

		if (none != (b == HTTP1_BODY_NONE))
			fail("body none");
		if (none)
			continue;
		if ((b == HTTP1_BODY_CHUNKED) != r->chunked)
			fail("body chunked");
		if ((b == HTTP1_BODY_LENGTH) != (r->has_cl && !r->te_present))
			fail("body length");
		if (strcmp(http1_resp_body_str(b), "invalid") == 0)
			fail("body str");
	}
}

/* Aborts unless a DONE result is consistent with the bytes it came from. */
static void
check_done(const struct http1_resp *r, const uint8_t *buf, size_t n)
{
	if (r->head_len > n || r->head_len > HTTP1_RESP_HEAD_MAX || r->head_len < 16 ||
	    memcmp(buf + r->head_len - 4, "\r\n\r\n", 4) != 0 ||
	    memcmp(buf, "HTTP/1.", 7) != 0)
		fail("head_len");
	if (r->nfields > HTTP1_RESP_HEADERS_MAX || r->version_minor > 1 ||
	    r->status < 100 || r->status > 999 || r->status != (buf[9] - '0') * 100 +
	    (buf[10] - '0') * 10 + (buf[11] - '0'))
		fail("status-line");
	in_head(r, r->reason, "reason view");
	for (uint32_t i = 0; i < r->reason.len; i++) {
		uint8_t c = buf[r->reason.off + i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			fail("reason byte");
	}
	if (buf[r->reason.off + r->reason.len] != '\r')
		fail("reason end");
	if (r->has_cl && r->te_present)
		fail("content-length with transfer-encoding");
	if (r->chunked && !r->te_present)
		fail("chunked without transfer-encoding");
	if (r->te_present && r->version_minor == 0)
		fail("transfer-encoding in 1.0");
	if (r->keep_alive && r->conn_close)
		fail("keep-alive with close");
	for (unsigned i = 0; i < r->nfields; i++) {
		struct http1_view nm = r->fields[i].name, v = r->fields[i].value;
		in_head(r, nm, "name view");
		in_head(r, v, "value view");
		if (nm.len == 0 || buf[nm.off + nm.len] != ':')
			fail("name");
		if (v.len > 0 && (buf[v.off] == ' ' || buf[v.off] == '\t' ||
		    buf[v.off + v.len - 1] == ' ' || buf[v.off + v.len - 1] == '\t'))
			fail("value not trimmed");
		for (uint32_t j = 0; j < v.len; j++) {
			uint8_t c = buf[v.off + j];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				fail("value byte");
		}
	}
	check_body(r);
}

/* One input: every feeding must agree; DONE results must be sane; then the next heads. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http1_resp whole, other;
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

	if (whole.verdict == HTTP1_RESP_MORE && size >= HTTP1_RESP_HEAD_MAX)
		fail("MORE past the head limit");
	if (whole.verdict != HTTP1_RESP_DONE)
		return 0;
	check_done(&whole, data, size);

	/* The next responses, from where the router would look for them (a plain GET). */
	size_t off = 0;
	const struct http1_resp *r = &whole;
	for (int i = 0; i < FUZZ_NEXT_MAX; i++) {
		enum http1_resp_body b = http1_resp_body(r, false, false);
		off += r->head_len;
		if (b == HTTP1_BODY_LENGTH) {
			if (r->content_length > size - off)
				break;
			off += (size_t)r->content_length;
		} else if (b != HTTP1_BODY_NONE || r->status == 101) {
			break;
		}
		feed_pattern(&other, data + off, size - off, NULL, 0, 1);
		if (other.verdict != HTTP1_RESP_DONE)
			break;
		check_done(&other, data + off, size - off);
		r = &other;
	}
	return 0;
}
