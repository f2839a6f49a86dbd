/*
 * Unit tests for proto/http1_chunk: every vector whole, one byte at a time and split in two
 * at every offset, with the same verdict, body length and decoded length; every limit at N
 * and N + 1; the data pass-through API; trailer field lines reported one by one
 * (http1_chunk_init_fields), the same however the bytes arrive. Never touches the network.
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
	/* A field name is a token (RFC 9110 §5.1): no space before ':' (RFC 9112 §5.1). */
	VEC("trailer space before colon", "0\r\nX-Forwarded-For : 1\r\n\r\n",
	    HTTP1_CHUNK_ERR_TRAILER, 18, 0);
	VEC("trailer tab before colon", "0\r\nA\t: b\r\n\r\n", HTTP1_CHUNK_ERR_TRAILER, 4, 0);
	VEC("trailer quote in name", "0\r\nA\"B: c\r\n\r\n", HTTP1_CHUNK_ERR_TRAILER, 4, 0);
	VEC("trailer obs-text in name", "0\r\nA\xe9: c\r\n\r\n", HTTP1_CHUNK_ERR_TRAILER, 4, 0);
	VEC("trailer cr in name", "0\r\nAb\r\n\r\n", HTTP1_CHUNK_ERR_TRAILER, 5, 0);
	VEC("trailer tchars", "0\r\n!#$%&'*+-.^_`|~09az: v: w\r\n\r\n", HTTP1_CHUNK_DONE, 32, 0);
	VEC("trailer empty value", "0\r\nA:\r\n\r\n", HTTP1_CHUNK_DONE, 9, 0);
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

#define FIELDS_MAX 8

/* What a fields-mode run reports: each trailer field line (its offset in the body, length
 * with CRLF, name length), then the final verdict. */
struct fields_run {
	enum http1_chunk_verdict v;
	size_t                   used;
	unsigned                 n;
	size_t                   at[FIELDS_MAX], len[FIELDS_MAX], name[FIELDS_MAX];
	bool                     held_ok; /* after every MORE, line_len fit in what was fed */
};

/* Feeds buf in fields mode, in pieces of size step (0: whole), resuming after each FIELD. */
static struct fields_run
feed_fields(const uint8_t *buf, size_t n, size_t step)
{
	struct http1_chunk c;
	struct fields_run r;
	memset(&r, 0, sizeof r);
	r.v = HTTP1_CHUNK_MORE;
	r.held_ok = true;
	http1_chunk_init_fields(&c);
	size_t off = 0, end = 0;
	while (off < n || r.v == HTTP1_CHUNK_FIELD) {
		if (off == end)
			end = step == 0 || n - off < step ? n : off + step;
		size_t used;
		r.v = http1_chunk_feed(&c, buf + off, end - off, &used);
		off += used;
		r.used = off;
		if (r.v == HTTP1_CHUNK_FIELD) {
			if (r.n < FIELDS_MAX) {
				r.at[r.n] = off - c.field_len;
				r.len[r.n] = c.field_len;
				r.name[r.n] = c.name_len;
			}
			r.n++;
			continue;
		}
		if (r.v != HTTP1_CHUNK_MORE)
			break;
		if (c.line_len > off)
			r.held_ok = false;
	}
	return r;
}

/* One fields-mode vector: the same lines and end whole, byte by byte and in every step. */
static void
fields_vec(const char *name, const char *str, enum http1_chunk_verdict want, size_t want_used,
    unsigned nlines, const char *const *lines)
{
	const uint8_t *buf = (const uint8_t *)str;
	size_t n = strlen(str);
	struct fields_run whole = feed_fields(buf, n, 0);
	CHECKF(whole.v == want && whole.used == want_used, "%s: %s at %zu", name,
	    http1_chunk_verdict_str(whole.v), whole.used);
	CHECKF(whole.n == nlines, "%s: %u lines, want %u", name, whole.n, nlines);
	for (unsigned i = 0; i < nlines && i < whole.n; i++) {
		size_t ll = strlen(lines[i]);
		CHECKF(whole.len[i] == ll && memcmp(buf + whole.at[i], lines[i], ll) == 0 &&
		    whole.name[i] == (size_t)(strchr(lines[i], ':') - lines[i]),
		    "%s: line %u is not \"%s\"", name, i, lines[i]);
	}
	/* Without fields mode: the same end. */
	struct run plain = feed_pieces(buf, n, NULL, 0);
	CHECKF(plain.v == want && (want == HTTP1_CHUNK_MORE || plain.used == want_used),
	    "%s: plain mode differs", name);
	for (size_t step = 1; step < n; step++) {
		struct fields_run s = feed_fields(buf, n, step);
		bool same = s.v == whole.v && s.used == whole.used && s.n == whole.n && s.held_ok;
		for (unsigned i = 0; same && i < whole.n && i < FIELDS_MAX; i++)
			same = s.at[i] == whole.at[i] && s.len[i] == whole.len[i] &&
			    s.name[i] == whole.name[i];
		CHECKF(same, "%s: in steps of %zu differs", name, step);
	}
}

/* Trailer field lines one by one, as a forwarder that drops some of them needs. */
static void
test_fields(void)
{
	static const char *const two[] = { "X-Forwarded-For: 6.6.6.6\r\n", "X-T:a:b\r\n" };
	fields_vec("fields two", "3;x\r\nabc\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nX-T:a:b\r\n\r\nGET",
	    HTTP1_CHUNK_DONE, 50, 2, two);
	fields_vec("fields none", "1\r\nx\r\n0\r\n\r\n", HTTP1_CHUNK_DONE, 11, 0, NULL);
	static const char *const one[] = { "A: b\r\n" };
	fields_vec("fields unfinished", "0\r\nA: b\r\nB: c", HTTP1_CHUNK_MORE, 13, 1, one);
	fields_vec("fields bad second", "0\r\nA: b\r\nB : c\r\n\r\n", HTTP1_CHUNK_ERR_TRAILER, 10, 1,
	    one);

	/* line_len: the bytes of the unfinished line at the end, 0 once it ended. */
	struct http1_chunk c;
	size_t used;
	http1_chunk_init_fields(&c);
	CHECK(http1_chunk_feed(&c, (const uint8_t *)"0\r\nX-F", 6, &used) == HTTP1_CHUNK_MORE);
	CHECK(used == 6 && c.line_len == 3);
	CHECK(http1_chunk_feed(&c, (const uint8_t *)"F: 1\r\n\r", 7, &used) == HTTP1_CHUNK_FIELD);
	CHECK(used == 6 && c.field_len == 9 && c.name_len == 4 && c.line_len == 0);
	CHECK(http1_chunk_feed(&c, (const uint8_t *)"\r", 1, &used) == HTTP1_CHUNK_MORE);
	CHECK(c.line_len == 0);
	CHECK(http1_chunk_feed(&c, (const uint8_t *)"\n", 1, &used) == HTTP1_CHUNK_DONE);
	CHECK(strcmp(http1_chunk_verdict_str(HTTP1_CHUNK_FIELD), "field") == 0);
	/* Plain mode never stops at a line. */
	http1_chunk_init(&c);
	CHECK(http1_chunk_feed(&c, (const uint8_t *)"0\r\nA: b\r\n\r\n", 11, &used) == HTTP1_CHUNK_DONE);
	CHECK(used == 11);
}

int
main(void)
{
	test_vectors();
	test_size_limits();
	test_ext_limits();
	test_trailer_limits();
	test_skip();
	test_fields();
	return check_summary();
}
