/*
 * Fuzz harness for the HTTP/1.x response-head parser (proto/http1_resp.rl). The input is
 * what an upstream answers on one connection. The parser is run whole, growing one byte
 * per call (each call on a fresh exact-size copy, so the buffer moves and reads past len
 * are caught), in chunks whose sizes come from the input, and split in two at an
 * input-chosen offset; any difference in verdict or in a result aborts. On DONE the
 * results are checked against the bytes and against http1_resp_body, and the next
 * response (after the head, plus the body when its length is known) is parsed as the
 * router would. The feedings and the comparison are tests/unit/feed_http1.h, shared
 * with the unit tests. It must never print anything on the happy path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_http1.h"
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

/* Aborts unless v lies inside the head. */
static void
in_head(const struct http1_resp *r, struct http1_view v, const char *what)
{
	if (!feed_in_head(r->head_len, v))
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
	const char *wrong = feed_fields_wrong(buf, r->head_len, r->fields, r->nfields);
	if (wrong != NULL)
		fail(wrong);
	for (unsigned i = 0; i < r->nfields; i++) {
		struct http1_view v = r->fields[i].value;
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
	const struct feed_parser *p = feed_http1_resp();
	const char *differs = feed_fuzz(p, &whole, &other, data, size);

	if (differs != NULL)
		fail(differs);

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
		feed_pattern(p, &other, data + off, size - off, NULL, 0, 1);
		if (other.verdict != HTTP1_RESP_DONE)
			break;
		check_done(&other, data + off, size - off);
		r = &other;
	}
	return 0;
}
