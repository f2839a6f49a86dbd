/*
 * Unit tests for proto/http1_chunk: every vector whole, one byte at a time and split in two
 * at every offset, with the same verdict, body length and decoded length; every limit at N
 * and N + 1; the data pass-through API. Never touches the network.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/http1_chunk.h"

struct run {
	enum http1_chunk_verdict v;
	size_t                   used;  /* body bytes (on DONE), error offset (on ERR) */
	uint64_t                 data;
	uint64_t                 nchunks;
};

/* Feeds buf in pieces of the given sizes (0: the rest), stopping at a final verdict. */
static struct run
feed_pieces(const uint8_t *buf, size_t n, const size_t *sizes, size_t nsizes)
{
	struct http1_chunk c;
	struct run r = { HTTP1_CHUNK_MORE, 0, 0, 0 };
	size_t off = 0, k = 0;
	http1_chunk_init(&c);
	while (off < n) {
		size_t piece = k < nsizes && sizes[k] != 0 ? sizes[k] : n - off;
		if (piece > n - off)
			piece = n - off;
		k++;
		/* A fresh, exact-size copy: a read past the piece shows under ASan. */
		uint8_t *copy = malloc(piece);
		if (copy == NULL)
			abort();
		memcpy(copy, buf + off, piece);
		size_t used;
		r.v = http1_chunk_feed(&c, copy, piece, &used);
		free(copy);
		r.used = off + used;
		off += piece;
		if (r.v != HTTP1_CHUNK_MORE)
			break;
	}
	r.data = c.data_total;
	r.nchunks = c.nchunks;
	return r;
}

/* Checks one vector whole, byte by byte and at every split. */
static void
vec(const char *name, const uint8_t *buf, size_t n, enum http1_chunk_verdict want, size_t want_used,
    uint64_t want_data)
{
	struct run whole = feed_pieces(buf, n, NULL, 0);
	CHECKF(whole.v == want, "%s: verdict %s, want %s", name, http1_chunk_verdict_str(whole.v),
	    http1_chunk_verdict_str(want));
	if (want != HTTP1_CHUNK_MORE)
		CHECKF(whole.used == want_used, "%s: used %zu, want %zu", name, whole.used, want_used);
	if (want == HTTP1_CHUNK_DONE)
		CHECKF(whole.data == want_data, "%s: data %llu, want %llu", name,
		    (unsigned long long)whole.data, (unsigned long long)want_data);

	size_t *ones = malloc((n ? n : 1) * sizeof *ones);
	if (ones == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		ones[i] = 1;
	struct run bytes = feed_pieces(buf, n, ones, n);
	free(ones);
	CHECKF(bytes.v == whole.v && bytes.used == whole.used && bytes.data == whole.data &&
	    bytes.nchunks == whole.nchunks, "%s: byte at a time differs", name);

	for (size_t cut = 1; cut < n; cut++) {
		size_t sizes[2] = { cut, 0 };
		struct run s = feed_pieces(buf, n, sizes, 2);
		CHECKF(s.v == whole.v && s.used == whole.used && s.data == whole.data &&
		    s.nchunks == whole.nchunks, "%s: split at %zu differs", name, cut);
	}
}

#define VEC(name, str, want, used, data) \
	vec(name, (const uint8_t *)(str), sizeof(str) - 1, want, used, data)

/* The vectors: valid bodies, then one per error. */
static void
test_vectors(void)
{
	VEC("empty body", "0\r\n\r\n", HTTP1_CHUNK_DONE, 5, 0);
	VEC("one chunk", "5\r\nhello\r\n0\r\n\r\n", HTTP1_CHUNK_DONE, 15, 5);
	VEC("rfc example", "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
	    HTTP1_CHUNK_DONE, 43, 23);
	VEC("hex upper lower", "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
	    HTTP1_CHUNK_DONE, 35, 20);
	VEC("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", HTTP1_CHUNK_DONE, 20, 5);
	VEC("extension", "5;name=value\r\nhello\r\n0;last\r\n\r\n", HTTP1_CHUNK_DONE, 31, 5);
	VEC("extension quoted", "5 ; a=\"b c\" ; d\r\nhello\r\n0\r\n\r\n", HTTP1_CHUNK_DONE, 29, 5);
	VEC("trailer", "1\r\nx\r\n0\r\nExpires: never\r\nX-A:b\r\n\r\n", HTTP1_CHUNK_DONE, 34, 1);
	VEC("pipelined after", "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", HTTP1_CHUNK_DONE, 11, 1);
	VEC("crlf in data", "4\r\n\r\n\r\n\r\n0\r\n\r\n", HTTP1_CHUNK_DONE, 14, 4);
	VEC("more in size", "12", HTTP1_CHUNK_MORE, 0, 0);
	VEC("more in data", "10\r\nabc", HTTP1_CHUNK_MORE, 0, 0);
	VEC("more in trailer", "0\r\nA: b\r\n", HTTP1_CHUNK_MORE, 0, 0);

	VEC("no size", "\r\n", HTTP1_CHUNK_ERR_SIZE, 0, 0);
	VEC("bad size char", "g\r\n", HTTP1_CHUNK_ERR_SIZE, 0, 0);
	VEC("negative", "-1\r\n", HTTP1_CHUNK_ERR_SIZE, 0, 0);
	VEC("space before size", " 1\r\n", HTTP1_CHUNK_ERR_SIZE, 0, 0);
	VEC("0x prefix", "0x1\r\n", HTTP1_CHUNK_ERR_EXT, 1, 0);
	VEC("bws no semicolon", "1 \r\nx\r\n", HTTP1_CHUNK_ERR_EXT, 2, 0);
	VEC("bws junk", "1 x\r\n", HTTP1_CHUNK_ERR_EXT, 2, 0);
	VEC("ctl in ext", "1;a\x01\r\n", HTTP1_CHUNK_ERR_EXT, 3, 0);
	VEC("bare lf after size", "1\nx\r\n", HTTP1_CHUNK_ERR_CRLF, 1, 0);
	VEC("bare lf in ext", "1;a\nx\r\n", HTTP1_CHUNK_ERR_CRLF, 3, 0);
	VEC("bare cr after size", "1\rx", HTTP1_CHUNK_ERR_CRLF, 2, 0);
	VEC("data too long", "1\r\nxy\r\n", HTTP1_CHUNK_ERR_CRLF, 4, 0);
	VEC("data lf only", "1\r\nx\n0\r\n\r\n", HTTP1_CHUNK_ERR_CRLF, 4, 0);
	VEC("data cr only", "1\r\nx\rz", HTTP1_CHUNK_ERR_CRLF, 5, 0);
	VEC("end lf only", "0\r\n\n", HTTP1_CHUNK_ERR_CRLF, 3, 0);
	VEC("end cr junk", "0\r\n\rx", HTTP1_CHUNK_ERR_CRLF, 4, 0);
	VEC("trailer obs-fold", "0\r\nA: b\r\n c\r\n\r\n", HTTP1_CHUNK_ERR_TRAILER, 9, 0);
	VEC("trailer no colon", "0\r\nAb\r\n\r\n", HTTP1_CHUNK_ERR_TRAILER, 5, 0);
	VEC("trailer empty name", "0\r\n: b\r\n\r\n", HTTP1_CHUNK_ERR_TRAILER, 3, 0);
	VEC("trailer ctl", "0\r\nA: \x7f\r\n\r\n", HTTP1_CHUNK_ERR_TRAILER, 6, 0);
	VEC("trailer bare lf", "0\r\nA: b\n\r\n", HTTP1_CHUNK_ERR_CRLF, 7, 0);
	VEC("trailer cr junk", "0\r\nA: b\rx", HTTP1_CHUNK_ERR_CRLF, 8, 0);
}

/* Chunk-size digits and value at the limits. */
static void
test_size_limits(void)
{
	char b[64];
	/* HTTP1_CHUNK_SIZE_DIGITS zeros then "1": N digits... */
	memset(b, '0', HTTP1_CHUNK_SIZE_DIGITS - 1);
	memcpy(b + HTTP1_CHUNK_SIZE_DIGITS - 1, "1\r\nx\r\n0\r\n\r\n", 11);
	vec("size digits N", (uint8_t *)b, HTTP1_CHUNK_SIZE_DIGITS + 10, HTTP1_CHUNK_DONE,
	    HTTP1_CHUNK_SIZE_DIGITS + 10, 1);
	/* ...and N + 1 digits, even when they are leading zeros. */
	memset(b, '0', HTTP1_CHUNK_SIZE_DIGITS);
	memcpy(b + HTTP1_CHUNK_SIZE_DIGITS, "1\r\nx\r\n0\r\n\r\n", 11);
	vec("size digits N+1", (uint8_t *)b, HTTP1_CHUNK_SIZE_DIGITS + 11,
	    HTTP1_CHUNK_ERR_SIZE_TOO_LARGE, HTTP1_CHUNK_SIZE_DIGITS, 0);

	/* The value: 2^62 is accepted (then waits for its data), 2^62 + 1 is not. */
	VEC("size max", "4000000000000000\r\nabc", HTTP1_CHUNK_MORE, 0, 0);
	VEC("size max+1", "4000000000000001\r\n", HTTP1_CHUNK_ERR_SIZE_TOO_LARGE, 15, 0);
	VEC("size 2^64-1", "ffffffffffffffff\r\n", HTTP1_CHUNK_ERR_SIZE_TOO_LARGE, 15, 0);
	struct http1_chunk c;
	size_t used;
	http1_chunk_init(&c);
	CHECK(http1_chunk_feed(&c, (const uint8_t *)"4000000000000000\r\n", 18, &used) ==
	    HTTP1_CHUNK_MORE);
	CHECK(c.size == HTTP1_CHUNK_SIZE_MAX);
	CHECK(http1_chunk_data_left(&c) == HTTP1_CHUNK_SIZE_MAX);
}

/* A body whose first chunk line carries ext bytes after the size "1". */
static size_t
ext_body(char *b, size_t ext)
{
	b[0] = '1';
	b[1] = ';';
	memset(b + 2, 'e', ext - 1);
	memcpy(b + 1 + ext, "\r\nx\r\n0\r\n\r\n", 10);
	return 1 + ext + 10;
}

/* Chunk-ext length at N and N + 1. */
static void
test_ext_limits(void)
{
	static char b[HTTP1_CHUNK_EXT_MAX + 64];
	size_t n = ext_body(b, HTTP1_CHUNK_EXT_MAX);
	vec("ext N", (uint8_t *)b, n, HTTP1_CHUNK_DONE, n, 1);
	n = ext_body(b, HTTP1_CHUNK_EXT_MAX + 1);
	vec("ext N+1", (uint8_t *)b, n, HTTP1_CHUNK_ERR_EXT_TOO_LONG, 1 + HTTP1_CHUNK_EXT_MAX, 0);
}

/* A last chunk with trailer lines totalling tlen bytes (CRLFs included). */
static size_t
trailer_body(char *b, size_t tlen)
{
	size_t n = 0;
	memcpy(b, "0\r\n", 3);
	n = 3;
	/* One line "X:vvvv...\r\n" of exactly tlen bytes (tlen >= 4). */
	b[n++] = 'X';
	b[n++] = ':';
	memset(b + n, 'v', tlen - 4);
	n += tlen - 4;
	b[n++] = '\r';
	b[n++] = '\n';
	b[n++] = '\r';
	b[n++] = '\n';
	return n;
}

/* Trailer section size at N and N + 1. */
static void
test_trailer_limits(void)
{
	static char b[HTTP1_CHUNK_TRAILER_MAX + 64];
	size_t n = trailer_body(b, HTTP1_CHUNK_TRAILER_MAX);
	vec("trailer N", (uint8_t *)b, n, HTTP1_CHUNK_DONE, n, 0);
	n = trailer_body(b, HTTP1_CHUNK_TRAILER_MAX + 1);
	/* The byte that goes over is the LF ending the line. */
	vec("trailer N+1", (uint8_t *)b, n, HTTP1_CHUNK_ERR_TRAILER_TOO_LARGE,
	    3 + HTTP1_CHUNK_TRAILER_MAX, 0);
}

/* Data passed through with http1_chunk_skip, as the forwarder does. */
static void
test_skip(void)
{
	struct http1_chunk c;
	size_t used;
	http1_chunk_init(&c);
	CHECK(http1_chunk_data_left(&c) == 0);
	CHECK(http1_chunk_feed(&c, (const uint8_t *)"a\r\n", 3, &used) == HTTP1_CHUNK_MORE);
	CHECK(used == 3);
	CHECK(http1_chunk_data_left(&c) == 10);
	http1_chunk_skip(&c, 4);
	CHECK(http1_chunk_data_left(&c) == 6);
	http1_chunk_skip(&c, 100); /* clamped */
	CHECK(http1_chunk_data_left(&c) == 0);
	CHECK(c.data_total == 10);
	CHECK(http1_chunk_feed(&c, (const uint8_t *)"\r\n0\r\n\r\nGET", 10, &used) ==
	    HTTP1_CHUNK_DONE);
	CHECK(used == 7);
	/* Final verdicts stick and use nothing. */
	CHECK(http1_chunk_feed(&c, (const uint8_t *)"0\r\n", 3, &used) == HTTP1_CHUNK_DONE);
	CHECK(used == 0);
	CHECK(http1_chunk_data_left(&c) == 0);
	CHECK(strcmp(http1_chunk_verdict_str(HTTP1_CHUNK_ERR_CRLF), "bad_crlf") == 0);
	CHECK(strcmp(http1_chunk_verdict_str(HTTP1_CHUNK_VERDICT_COUNT), "unknown") == 0);
}

int
main(void)
{
	test_vectors();
	test_size_limits();
	test_ext_limits();
	test_trailer_limits();
	test_skip();
	return check_summary();
}
