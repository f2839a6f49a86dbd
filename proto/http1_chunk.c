/*
 * Chunked body framing (see http1_chunk.h). A byte-at-a-time state machine for the lines,
 * one step for each run of chunk data. It must never read past the final CRLF of the body,
 * never allocate, and never accept a line end other than CRLF.
 *
 * Wire format (RFC 9112 §7.1):
 *
 *   chunked-body   = *chunk last-chunk trailer-section CRLF
 *   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-size     = 1*HEXDIG                       ; <= 16 digits, value <= 2^62
 *   last-chunk     = 1*("0") [ chunk-ext ] CRLF
 *   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *                                                   ; shape only, <= HTTP1_CHUNK_EXT_MAX
 *   trailer-section = *( field-line CRLF )          ; <= HTTP1_CHUNK_TRAILER_MAX
 *   field-line     = field-name ":" *( VCHAR / obs-text / SP / HTAB )
 *   field-name     = token                          ; RFC 9110 §5.1, §5.6.2
 *
 *   "1a;x=y" CR LF <26 data bytes> CR LF  "0" CR LF  "Name: v" CR LF  CR LF
 *    \ size /\ext/       \ S_DATA /   \crlf/ \last/   \ trailer line /   \ end
 */
#include "proto/http1_chunk.h"

#include <string.h>

enum {
	S_SIZE0,    /* first hex digit of a chunk-size */
	S_SIZE,     /* more digits, BWS, ';' or CR */
	S_EXT_BWS,  /* whitespace after the size: ';' must follow */
	S_EXT,      /* inside the extension, up to CR */
	S_LINE_LF,  /* LF ending a chunk line */
	S_DATA,     /* chunk data, c->left bytes to go */
	S_DATA_CR,  /* CR after the data */
	S_DATA_LF,  /* LF after the data */
	S_TR_START, /* start of a trailer line, or CR of the final empty line */
	S_TR_NAME,  /* inside a trailer field name, up to its ':' */
	S_TR_LINE,  /* inside a trailer field value */
	S_TR_LF,    /* LF ending a trailer field line */
	S_END_LF    /* LF of the final empty line */
};

void
http1_chunk_init(struct http1_chunk *c)
{
	*c = (struct http1_chunk){ .st = S_SIZE0, .verdict = HTTP1_CHUNK_MORE };
}

void
http1_chunk_init_fields(struct http1_chunk *c)
{
	http1_chunk_init(c);
	c->fields = true;
}

/* True for the bytes of a token (RFC 9110 §5.6.2: tchar). */
static bool
tchar(uint8_t b)
{
	if ((b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'))
		return true;
	return b != 0 && strchr("!#$%&'*+-.^_`|~", b) != NULL;
}

/* The value of a hex digit, or -1. */
static int
hexval(uint8_t b)
{
	if (b >= '0' && b <= '9')
		return b - '0';
	if (b >= 'a' && b <= 'f')
		return b - 'a' + 10;
	if (b >= 'A' && b <= 'F')
		return b - 'A' + 10;
	return -1;
}

/* True for the bytes a field value or extension may hold: HTAB, SP, VCHAR, obs-text. */
static bool
textbyte(uint8_t b)
{
	return b == '\t' || (b >= 0x20 && b != 0x7f);
}

/* Records a final verdict at offset i of this call. */
static enum http1_chunk_verdict
stop(struct http1_chunk *c, enum http1_chunk_verdict v, size_t i, size_t *used)
{
	c->verdict = v;
	*used = i;
	return v;
}

enum http1_chunk_verdict
http1_chunk_feed(struct http1_chunk *c, const uint8_t *buf, size_t len, size_t *used)
{
	size_t i = 0;
	*used = 0;
	if (c->verdict != HTTP1_CHUNK_MORE)
		return c->verdict;
	while (i < len) {
		if (c->st == S_DATA) {
			/* A data run: one step, however long. */
			uint64_t n = len - i < c->left ? len - i : c->left;
			c->left -= n;
			c->data_total += n;
			i += (size_t)n;
			if (c->left == 0)
				c->st = S_DATA_CR;
			continue;
		}
		uint8_t b = buf[i];
		int h;
		switch (c->st) {
		case S_SIZE0:
			if ((h = hexval(b)) < 0)
				return stop(c, HTTP1_CHUNK_ERR_SIZE, i, used);
			c->size = (uint64_t)h;
			c->digits = 1;
			c->ext_len = 0;
			c->st = S_SIZE;
			break;
		case S_SIZE:
			if ((h = hexval(b)) >= 0) {
				if (++c->digits > HTTP1_CHUNK_SIZE_DIGITS)
					return stop(c, HTTP1_CHUNK_ERR_SIZE_TOO_LARGE, i, used);
				c->size = c->size * 16 + (uint64_t)h;
				if (c->size > HTTP1_CHUNK_SIZE_MAX)
					return stop(c, HTTP1_CHUNK_ERR_SIZE_TOO_LARGE, i, used);
				break;
			}
			if (b == '\r') {
				c->st = S_LINE_LF;
				break;
			}
			if (b == '\n')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			if (b != ' ' && b != '\t' && b != ';')
				return stop(c, HTTP1_CHUNK_ERR_EXT, i, used);
			c->st = b == ';' ? S_EXT : S_EXT_BWS;
			c->ext_len = 1;
			break;
		case S_EXT_BWS:
		case S_EXT:
			if (b == '\r' && c->st == S_EXT) {
				c->st = S_LINE_LF;
				break;
			}
			if (b == '\n')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			if (c->st == S_EXT_BWS && b != ' ' && b != '\t' && b != ';')
				return stop(c, HTTP1_CHUNK_ERR_EXT, i, used);
			if (!textbyte(b))
				return stop(c, HTTP1_CHUNK_ERR_EXT, i, used);
			if (++c->ext_len > HTTP1_CHUNK_EXT_MAX)
				return stop(c, HTTP1_CHUNK_ERR_EXT_TOO_LONG, i, used);
			if (b == ';')
				c->st = S_EXT;
			break;
		case S_LINE_LF:
			if (b != '\n')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			if (c->size == 0) {
				c->st = S_TR_START;
			} else {
				c->left = c->size;
				c->nchunks++;
				c->st = S_DATA;
			}
			break;
		case S_DATA_CR:
			if (b != '\r')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			c->st = S_DATA_LF;
			break;
		case S_DATA_LF:
			if (b != '\n')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			c->st = S_SIZE0;
			break;
		case S_TR_START:
			if (b == '\r') {
				c->st = S_END_LF;
				break;
			}
			if (b == '\n')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			/* A field name is a token; whitespace here would be obs-fold. */
			if (!tchar(b))
				return stop(c, HTTP1_CHUNK_ERR_TRAILER, i, used);
			c->line_len = 0;
			c->st = S_TR_NAME;
			goto count;
		case S_TR_NAME:
			if (b == ':') {
				c->name_len = c->line_len;
				c->st = S_TR_LINE;
				goto count;
			}
			if (b == '\n')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			if (!tchar(b))
				return stop(c, HTTP1_CHUNK_ERR_TRAILER, i, used);
			goto count;
		case S_TR_LINE:
			if (b == '\r') {
				c->st = S_TR_LF;
				goto count;
			}
			if (b == '\n')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			if (!textbyte(b))
				return stop(c, HTTP1_CHUNK_ERR_TRAILER, i, used);
			goto count;
		case S_TR_LF:
			if (b != '\n')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			c->st = S_TR_START;
			if (++c->trailer_len > HTTP1_CHUNK_TRAILER_MAX)
				return stop(c, HTTP1_CHUNK_ERR_TRAILER_TOO_LARGE, i, used);
			c->field_len = c->line_len + 1;
			c->line_len = 0;
			i++;
			if (c->fields) {
				*used = i;
				return HTTP1_CHUNK_FIELD;
			}
			continue;
		case S_END_LF:
			if (b != '\n')
				return stop(c, HTTP1_CHUNK_ERR_CRLF, i, used);
			return stop(c, HTTP1_CHUNK_DONE, i + 1, used);
		}
		i++;
		continue;
count:
		if (++c->trailer_len > HTTP1_CHUNK_TRAILER_MAX)
			return stop(c, HTTP1_CHUNK_ERR_TRAILER_TOO_LARGE, i, used);
		c->line_len++;
		i++;
	}
	*used = len;
	return HTTP1_CHUNK_MORE;
}

uint64_t
http1_chunk_data_left(const struct http1_chunk *c)
{
	return c->verdict == HTTP1_CHUNK_MORE && c->st == S_DATA ? c->left : 0;
}

void
http1_chunk_skip(struct http1_chunk *c, uint64_t n)
{
	if (n > http1_chunk_data_left(c))
		n = http1_chunk_data_left(c); /* a caller bug; never run past the data */
	c->left -= n;
	c->data_total += n;
	if (c->st == S_DATA && c->left == 0)
		c->st = S_DATA_CR;
}

const char *
http1_chunk_verdict_str(enum http1_chunk_verdict v)
{
	static const char *const s[HTTP1_CHUNK_VERDICT_COUNT] = {
		[HTTP1_CHUNK_DONE] = "done",
		[HTTP1_CHUNK_MORE] = "more",
		[HTTP1_CHUNK_FIELD] = "field",
		[HTTP1_CHUNK_ERR_SIZE] = "bad_size",
		[HTTP1_CHUNK_ERR_SIZE_TOO_LARGE] = "size_too_large",
		[HTTP1_CHUNK_ERR_EXT] = "bad_ext",
		[HTTP1_CHUNK_ERR_EXT_TOO_LONG] = "ext_too_long",
		[HTTP1_CHUNK_ERR_CRLF] = "bad_crlf",
		[HTTP1_CHUNK_ERR_TRAILER] = "bad_trailer",
		[HTTP1_CHUNK_ERR_TRAILER_TOO_LARGE] = "trailer_too_large",
	};
	return (unsigned)v < HTTP1_CHUNK_VERDICT_COUNT ? s[v] : "unknown";
}
