/*
 * Fuzz harness for the chunked-body framing parser (proto/http1_chunk.c). The input is the
 * bytes after a request head that announced Transfer-Encoding: chunked. The parser is run
 * whole, one byte per call (each call on a fresh exact-size copy, so reads past the piece
 * are caught), in chunks whose sizes come from the input, split in two at an input-chosen
 * offset, and with data runs passed through by http1_chunk_skip as the forwarder does, and
 * in fields mode (http1_chunk_init_fields), where every trailer field line reported must be
 * a "name:" line ending in CRLF inside what was fed, and the lines must be the same however
 * the input is cut; any difference in verdict, body length, decoded length, chunk count or
 * trailer lines aborts. It must never print anything on the happy path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1_chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	enum http1_chunk_verdict v;
	size_t                   used;
	uint64_t                 data, nchunks;
	uint64_t                 nfields, fieldsum; /* fields mode: lines, and their offsets
	                                               and lengths mixed */
};

/* Stops the run with a reason; libFuzzer and the replay driver both see the abort. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_http1_chunk: %s\n", why);
	abort();
}

/* Checks the trailer field line just reported, which ends at buf[end]. */
static void
check_field(const struct http1_chunk *c, const uint8_t *buf, size_t end, struct result *r)
{
	size_t at = end - c->field_len;
	if (c->field_len > end || c->field_len < 4 || c->name_len == 0 ||
	    c->name_len + 3 > c->field_len)
		fail("FIELD with a bad length");
	if (buf[at + c->name_len] != ':' || buf[end - 2] != '\r' || buf[end - 1] != '\n')
		fail("FIELD is not a name: value CRLF line");
	r->nfields++;
	r->fieldsum = r->fieldsum * 31 + at * 7 + c->field_len * 3 + c->name_len;
}

/* Feeds buf in pieces of 1 + pat[i] % mod bytes (the whole when npat is 0); skip: pass
 * data runs through with http1_chunk_skip instead of feeding them; fields: in fields mode,
 * resuming after each line. */
static struct result
run(const uint8_t *buf, size_t n, const uint8_t *pat, size_t npat, unsigned mod, int skip,
    int fields)
{
	struct http1_chunk c;
	struct result r = { HTTP1_CHUNK_MORE, 0, 0, 0, 0, 0 };
	size_t off = 0, i = 0;
	if (fields)
		http1_chunk_init_fields(&c);
	else
		http1_chunk_init(&c);
	while (off < n) {
		size_t k = npat > 0 ? 1 + pat[i++ % npat] % mod : n - off;
		if (k > n - off)
			k = n - off;
		uint64_t left = skip ? http1_chunk_data_left(&c) : 0;
		if (left > 0) {
			size_t s = left < k ? (size_t)left : k;
			http1_chunk_skip(&c, s);
			off += s;
			r.used = off;
			continue;
		}
		uint8_t *copy = malloc(k);
		if (copy == NULL)
			fail("malloc");
		memcpy(copy, buf + off, k);
		size_t used = 0, k0 = 0;
		while ((r.v = http1_chunk_feed(&c, copy + k0, k - k0, &used)) == HTTP1_CHUNK_FIELD) {
			if (!fields)
				fail("FIELD outside fields mode");
			k0 += used;
			check_field(&c, buf, off + k0, &r);
		}
		free(copy);
		used += k0;
		if (used > k)
			fail("used past the piece");
		if (c.line_len > off + used)
			fail("an unfinished line longer than what was fed");
		if (r.v == HTTP1_CHUNK_MORE && used != k)
			fail("MORE without using every byte");
		r.used = off + used;
		off += k;
		if (r.v != HTTP1_CHUNK_MORE)
			break;
	}
	r.data = c.data_total;
	r.nchunks = c.nchunks;
	if (r.v == HTTP1_CHUNK_DONE) {
		if (r.used < 5 || buf[r.used - 1] != '\n' || buf[r.used - 2] != '\r')
			fail("DONE not after CRLF");
		if (r.data > r.used)
			fail("more data than bytes");
	}
	return r;
}

/* Aborts unless two runs agree. */
static void
same(struct result a, struct result b, const char *what)
{
	if (a.v != b.v || a.used != b.used || a.data != b.data || a.nchunks != b.nchunks)
		fail(what);
	if (a.nfields != b.nfields || a.fieldsum != b.fieldsum)
		fail(what);
}

/* One input: every feeding must agree. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t one = 0;
	struct result whole = run(data, size, NULL, 0, 1, 0, 0);
	same(whole, run(data, size, &one, 1, 1, 0, 0), "byte-at-a-time differs");
	same(whole, run(data, size, data, size < 8 ? size : 8, 13, 0, 0), "input chunks differ");
	same(whole, run(data, size, data, size < 8 ? size : 8, 13, 1, 0), "skipped data differs");
	same(whole, run(data, size, NULL, 0, 1, 1, 0), "whole with skip differs");
	size_t cut = size > 0 ? (size_t)data[size - 1] * 257 % (size + 1) : 0;
	uint8_t pat[2] = { (uint8_t)(cut > 0 ? cut - 1 : 0), 255 };
	if (cut > 0 && cut <= 256)
		same(whole, run(data, size, pat, 2, 256, 0, 0), "split differs");
	/* Fields mode: the same end, and the same lines however the input is cut. */
	struct result fw = run(data, size, NULL, 0, 1, 0, 1);
	struct result plain = fw;
	plain.nfields = plain.fieldsum = 0;
	same(whole, plain, "fields mode ends elsewhere");
	same(fw, run(data, size, &one, 1, 1, 0, 1), "fields mode byte-at-a-time differs");
	same(fw, run(data, size, data, size < 8 ? size : 8, 13, 1, 1), "fields mode in chunks differs");
	if (whole.v == HTTP1_CHUNK_MORE && whole.used != size)
		fail("MORE did not use the input");
	return 0;
}
