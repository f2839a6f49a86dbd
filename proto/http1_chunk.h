/*
 * HTTP/1.1 chunked transfer coding framing (RFC 9112 §7.1): a resumable parser that finds
 * where a chunked message body ends, so a forwarder can pass the raw bytes on and know when
 * the next request head begins. It only frames: chunk data is never copied or decoded, and
 * a data run is skipped in one step (http1_chunk_data_left says how long it is). On request,
 * it stops after each trailer field line, so that a forwarder can drop the ones it owns
 * (http1_chunk_init_fields). Pure: no sockets, no allocation, no logging, no globals. It
 * never reads past the body's final CRLF, so a pipelined request after it stays untouched.
 */
#ifndef SY_PROTO_HTTP1_CHUNK_H
#define SY_PROTO_HTTP1_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP1_CHUNK_SIZE_DIGITS 16                /* hex digits of a chunk-size, leading 0s too */
#define HTTP1_CHUNK_SIZE_MAX    (1ull << 62)      /* largest chunk-size value accepted */
#define HTTP1_CHUNK_EXT_MAX     4096              /* bytes between chunk-size and its CRLF */
#define HTTP1_CHUNK_TRAILER_MAX 8192              /* trailer field lines with their CRLFs */

/*
 * Verdicts of http1_chunk_feed.
 *
 *   verdict                         when
 *   HTTP1_CHUNK_DONE                the body ended: *used bytes of this call belong to it,
 *                                   the last one being the final CRLF
 *   HTTP1_CHUNK_MORE                every byte given belongs to the body; feed more
 *   HTTP1_CHUNK_FIELD               (only after http1_chunk_init_fields) a trailer field
 *                                   line ended: *used bytes of this call belong to the body,
 *                                   the last field_len of all fed so far being that line
 *                                   with its CRLF (name_len of them its name); feed the rest
 *   HTTP1_CHUNK_ERR_SIZE            a chunk line does not start with a hex digit
 *   HTTP1_CHUNK_ERR_SIZE_TOO_LARGE  over HTTP1_CHUNK_SIZE_DIGITS digits, or a value over
 *                                   HTTP1_CHUNK_SIZE_MAX
 *   HTTP1_CHUNK_ERR_EXT             after the size, something other than BWS ";" ext or
 *                                   CRLF, or a control byte inside the extension
 *   HTTP1_CHUNK_ERR_EXT_TOO_LONG    more than HTTP1_CHUNK_EXT_MAX bytes after the size
 *   HTTP1_CHUNK_ERR_CRLF            a line or a chunk's data not followed by exactly CRLF
 *                                   (a bare LF or bare CR anywhere is this error)
 *   HTTP1_CHUNK_ERR_TRAILER         a trailer field line whose name is not a token
 *                                   (whitespace first is obs-fold, before ':' RFC 9112
 *                                   §5.1 forbids it), that has no ':' or holds a control
 *                                   byte
 *   HTTP1_CHUNK_ERR_TRAILER_TOO_LARGE  trailer field lines over HTTP1_CHUNK_TRAILER_MAX
 *
 * On an error *used is the offset of the offending byte in this call. Every verdict but
 * MORE and FIELD is final: later calls return it again and use no byte.
 *
 * Choices: line ends are CRLF only (as in proto/http1.h: a disagreement about line ends is
 * a smuggling vector). A chunk extension is checked only for its shape (starts with ';'
 * after optional whitespace, holds no control byte), not parsed into names and values:
 * nothing here uses them, and the forwarder passes them on byte-exact. A trailer field name
 * is checked to be a token (RFC 9110 §5.1), because a forwarder decides on it: a name that
 * a lenient upstream trims ("X-Forwarded-For :") must not pass for another.
 */
enum http1_chunk_verdict {
	HTTP1_CHUNK_DONE = 0,
	HTTP1_CHUNK_MORE,
	HTTP1_CHUNK_FIELD,
	HTTP1_CHUNK_ERR_SIZE,
	HTTP1_CHUNK_ERR_SIZE_TOO_LARGE,
	HTTP1_CHUNK_ERR_EXT,
	HTTP1_CHUNK_ERR_EXT_TOO_LONG,
	HTTP1_CHUNK_ERR_CRLF,
	HTTP1_CHUNK_ERR_TRAILER,
	HTTP1_CHUNK_ERR_TRAILER_TOO_LARGE,
	HTTP1_CHUNK_VERDICT_COUNT
};

/* Parser state; callers read only the results. Opaque until http1_chunk_init has run. */
struct http1_chunk {
	/* parser state */
	uint8_t                  st;        /* where in the grammar (private enum in .c) */
	enum http1_chunk_verdict verdict;   /* sticky once not MORE */
	uint8_t                  digits;    /* hex digits of the current size */
	bool                     fields;    /* stop after each trailer field line (FIELD) */
	uint32_t                 ext_len;   /* bytes after the size on the current line */
	uint32_t                 trailer_len;
	uint64_t                 left;      /* data bytes still to come of the current chunk */

	/* results */
	uint64_t                 size;      /* the size of the chunk being read */
	uint64_t                 data_total; /* chunk-data bytes so far (decoded body length) */
	uint64_t                 nchunks;   /* chunks with data so far */
	uint32_t                 line_len;  /* bytes of an unfinished trailer field line at the
	                                       end of what was fed (0: not inside one) */
	uint32_t                 field_len; /* on FIELD: the line that ended, with its CRLF */
	uint32_t                 name_len;  /* on FIELD: its name's bytes (before the ':') */
};

/* Prepares c for a new chunked body. */
void http1_chunk_init(struct http1_chunk *c);

/* Prepares c for a new chunked body whose trailer field lines are reported one by one:
 * http1_chunk_feed returns HTTP1_CHUNK_FIELD after each. */
void http1_chunk_init_fields(struct http1_chunk *c);

/*
 * Frames len untrusted bytes that follow what was fed before. Returns the verdict (see the
 * table) and in *used how many bytes of buf belong to the body (all of them on MORE).
 * Bytes may arrive in any split: the verdict and results do not depend on it.
 */
enum http1_chunk_verdict http1_chunk_feed(struct http1_chunk *c, const uint8_t *buf, size_t len,
    size_t *used);

/*
 * Chunk-data bytes that may be passed through without feeding them (the rest of the
 * current chunk's data; 0 when the parser is not inside data). A caller that passes n of
 * them on reports it with http1_chunk_skip.
 */
uint64_t http1_chunk_data_left(const struct http1_chunk *c);

/* Accounts n <= http1_chunk_data_left(c) data bytes passed on without feeding. */
void http1_chunk_skip(struct http1_chunk *c, uint64_t n);

/* A short, stable, lowercase id of a verdict for logs and metric labels. */
const char *http1_chunk_verdict_str(enum http1_chunk_verdict v);

#endif
