/*
 * Fuzz harness for the HTTP/1.x request-head parser (proto/http1.rl). The input is one
 * connection's first bytes. The parser is run whole, growing one byte per call (each call
 * on a fresh exact-size copy, so the buffer moves and reads past len are caught), in
 * chunks whose sizes come from the input, and split in two at an input-chosen offset; any
 * difference in verdict or in a result view aborts. On DONE the views are checked to lie
 * inside the head and the head to end in CRLF CRLF, and the bytes after it are parsed as
 * a pipelined request. The feedings and the comparison are tests/unit/feed_http1.h,
 * shared with the unit tests. It must never print anything on the happy path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_http1.h"
#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a reason; libFuzzer and the replay driver both see the abort. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_http1: %s\n", why);
	abort();
}

/* Aborts unless v lies inside the head. */
static void
in_head(const struct http1_req *r, struct http1_view v, const char *what)
{
	if (!feed_in_head(r->head_len, v))
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
	const char *wrong = feed_fields_wrong(buf, r->head_len, r->fields, r->nfields);
	if (wrong != NULL)
		fail(wrong);
}

/* One input: every feeding must agree; DONE results must be sane; then the next head. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http1_req whole, other;
	const struct feed_parser *p = feed_http1_req();
	const char *differs = feed_fuzz(p, &whole, &other, data, size);

	if (differs != NULL)
		fail(differs);

	if (whole.verdict == HTTP1_MORE && size >= HTTP1_HEAD_MAX)
		fail("MORE past the head limit");
	if (whole.verdict == HTTP1_DONE) {
		size_t off = whole.head_len;
		check_done(&whole, data, size);
		/* The pipelined next head, from head_len as the caller would. */
		feed_pattern(p, &other, data + off, size - off, NULL, 0, 1);
		if (other.verdict == HTTP1_DONE)
			check_done(&other, data + off, size - off);
	}
	return 0;
}
