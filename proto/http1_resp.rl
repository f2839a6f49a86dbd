/*
 * HTTP/1.x response-head parser (see http1_resp.h): a Ragel machine that reads the head as
 * RFC 9112 writes its ABNF, and small C checks for the fields that decide framing and
 * connection reuse (Content-Length, Transfer-Encoding, Connection, Upgrade). The caller
 * hands the whole buffer on every call; all marks are offsets into it, so a field may span
 * any number of calls and is complete in the buffer when its leaving action runs. It must
 * never allocate, keep a pointer to the caller's bytes, or read past the head's last LF.
 *
 * Wire format (RFC 9112 §2.1, §4, §5; RFC 9110 §5.1, §5.5, §5.6.2, §15), at most
 * HTTP1_RESP_HEAD_MAX bytes in all:
 *
 *   HTTP-version SP status-code [ SP reason-phrase ] CRLF    SP may be missing (http1_resp.h)
 *   *( field-name ":" OWS field-value OWS CRLF )             at most HTTP1_RESP_HEADERS_MAX
 *   CRLF
 *
 *   HTTP-version   = "HTTP/" DIGIT "." DIGIT     case-sensitive; major must be 1
 *   status-code    = %x31-39 2DIGIT              100..999
 *   reason-phrase  = *( HTAB / SP / VCHAR / obs-text )
 *   field-name     = token
 *   token          = 1*tchar
 *   tchar          = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *                    "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
 *   field-value    = [ field-vchar *( field-vchar / SP / HTAB ) ]   trailing OWS trimmed
 *   field-vchar    = VCHAR / obs-text            %x21-7E / %x80-FF
 *   OWS            = *( SP / HTAB )
 *
 * A line starting with SP or HTAB (obs-fold, §5.2), whitespace before ":" (§5.1), a bare
 * CR or a bare LF all fail the grammar: ERR_BAD.
 *
 * Generated C lives in the build directory only (ragel -G2).
 */
#include <string.h>

#include "proto/http1_resp.h"

_Static_assert(HTTP1_RESP_HEAD_MAX < UINT32_MAX, "views are 32-bit offsets");

/* The offset of the byte the machine is on. */
#define OFF ((uint32_t)(p - buf))

static enum http1_resp_verdict resp_field(struct http1_resp *r, const uint8_t *buf,
    uint32_t cr);
static enum http1_resp_verdict resp_head_end(struct http1_resp *r);

%%{
	machine http1_resp;
	alphtype unsigned char;
	variable cs r->cs;

	action major       { r->major = (uint8_t)(fc - '0'); }
	action minor       {
		if (r->major != 1) {
			r->verdict = HTTP1_RESP_ERR_BAD;
			fbreak;
		}
		r->version_minor = fc == '0' ? 0 : 1;
	}
	# The status is three digits, so it is built digit by digit; the reason starts
	# after the SP that follows it, or is empty at the CR when that SP is missing.
	action status_d1   { r->status = (uint16_t)(fc - '0'); }
	action status_dn   { r->status = (uint16_t)(r->status * 10 + (fc - '0')); }
	action status_end  { r->mark = OFF + 1; }
	action reason_mark { r->mark = OFF + 1; }
	action reason_end  { r->reason.off = r->mark; r->reason.len = OFF - r->mark; }

	action field_start {
		if (r->nfields >= HTTP1_RESP_HEADERS_MAX) {
			r->verdict = HTTP1_RESP_ERR_TOO_LARGE;
			fbreak;
		}
		r->mark = OFF;
		r->vmark = UINT32_MAX;
	}
	action name_end    {
		r->fields[r->nfields].name.off = r->mark;
		r->fields[r->nfields].name.len = OFF - r->mark;
	}
	action value_start { r->vmark = OFF; }
	action field_end   {
		if (resp_field(r, buf, OFF - 1) != HTTP1_RESP_MORE)
			fbreak;
	}
	action done        {
		r->head_len = OFF + 1;
		r->verdict = resp_head_end(r);
		fbreak;
	}

	tchar         = [!#$%&'*+\-.^_`|~] | digit | alpha;
	token         = tchar+;
	ows           = [ \t]*;
	field_vchar   = 0x21..0x7e | 0x80..0xff;

	version       = "HTTP/" digit @major "." digit @minor;
	status        = [1-9] @status_d1 digit @status_dn digit @status_dn @status_end;
	reason        = ( field_vchar | [ \t] )*;
	status_line   = version " " status ( " " @reason_mark reason )? "\r" @reason_end "\n";

	field_name    = token >field_start %name_end;
	field_value   = ( field_vchar >value_start ( field_vchar | [ \t] )* )?;
	field_line    = field_name ":" ows field_value "\r" "\n" @field_end;

	main := status_line field_line* "\r" "\n" @done;

	write data;
}%%

/*
 * Takes the next element of a comma list (RFC 9110 §5.6.1) from *rest, with OWS trimmed,
 * into *elem. Empty elements are returned too. Returns false when the list is used up.
 * (A copy of http1.rl's helper: the request parser stays as it is.)
 */
static bool
list_next(const uint8_t *buf, struct http1_view *rest, struct http1_view *elem)
{
	uint32_t i = rest->off, end = rest->off + rest->len, s, e;

	if (rest->len == 0 && rest->off == UINT32_MAX)
		return false;
	while (i < end && buf[i] != ',')
		i++;
	s = rest->off;
	e = i;
	while (s < e && (buf[s] == ' ' || buf[s] == '\t'))
		s++;
	while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t'))
		e--;
	elem->off = s;
	elem->len = e - s;
	if (i < end) {
		rest->off = i + 1;
		rest->len = end - i - 1;
	} else {
		rest->off = UINT32_MAX; /* used up */
		rest->len = 0;
	}
	return true;
}

/* Reads a Content-Length value: 1*HTTP1_RESP_CL_DIGITS DIGIT. Returns false otherwise. */
static bool
cl_parse(const uint8_t *buf, struct http1_view v, uint64_t *out)
{
	uint64_t n = 0;

	if (v.len == 0 || v.len > HTTP1_RESP_CL_DIGITS)
		return false;
	for (uint32_t i = 0; i < v.len; i++) {
		uint8_t c = buf[v.off + i];
		if (c < '0' || c > '9')
			return false;
		n = n * 10 + (uint64_t)(c - '0');
	}
	*out = n;
	return true;
}

/*
 * Records the field line that ends with the CR at offset cr: trims the value's trailing
 * OWS, stores the views, and reads the fields that decide framing and reuse. Returns MORE
 * to go on, or the error verdict (also stored in r->verdict).
 */
static enum http1_resp_verdict
resp_field(struct http1_resp *r, const uint8_t *buf, uint32_t cr)
{
	struct http1_field *f = &r->fields[r->nfields];
	struct http1_view rest, e;
	uint32_t s = r->vmark == UINT32_MAX ? cr : r->vmark, end = cr;
	uint64_t cl;

	while (end > s && (buf[end - 1] == ' ' || buf[end - 1] == '\t'))
		end--;
	f->value.off = s;
	f->value.len = end - s;
	r->nfields++;

	if (http1_view_ieq(buf, f->name, "content-length")) {
		if (!cl_parse(buf, f->value, &cl) || (r->has_cl && cl != r->content_length))
			return r->verdict = HTTP1_RESP_ERR_BAD;
		r->has_cl = true;
		r->content_length = cl;
	} else if (http1_view_ieq(buf, f->name, "transfer-encoding")) {
		r->te_present = true;
		rest = f->value;
		if (rest.len == 0)
			r->te_empty = true;
		while (list_next(buf, &rest, &e)) {
			if (e.len == 0) {
				r->te_empty = true;
			} else if (http1_view_ieq(buf, e, "chunked")) {
				r->te_last_chunked = true;
				if (r->te_chunked < UINT8_MAX)
					r->te_chunked++;
			} else {
				r->te_last_chunked = false;
			}
		}
	} else if (http1_view_ieq(buf, f->name, "connection")) {
		rest = f->value;
		while (list_next(buf, &rest, &e)) {
			if (http1_view_ieq(buf, e, "close"))
				r->conn_close = true;
			else if (http1_view_ieq(buf, e, "keep-alive"))
				r->conn_keep_alive = true;
			else if (http1_view_ieq(buf, e, "upgrade"))
				r->conn_upgrade = true;
		}
	} else if (http1_view_ieq(buf, f->name, "upgrade")) {
		r->has_upgrade = true;
		rest = f->value;
		while (list_next(buf, &rest, &e)) {
			if (http1_view_ieq(buf, e, "websocket"))
				r->upgrade_websocket = true;
		}
	}
	return HTTP1_RESP_MORE;
}

/*
 * The checks that need the whole head (RFC 9112 §6.1 and §6.3 framing), in a fixed order
 * so the verdict is the same for any head. Returns DONE or ERR_BAD.
 */
static enum http1_resp_verdict
resp_head_end(struct http1_resp *r)
{
	if (r->te_present) {
		/* §6.1: TE in 1.0 means faulty framing; §6.3 p. 3: TE with CL must not be
		 * forwarded as is; empty elements and a doubled chunked invite a client to
		 * frame the body differently from us. */
		if (r->version_minor == 0 || r->has_cl || r->te_empty || r->te_chunked > 1)
			return HTTP1_RESP_ERR_BAD;
		r->chunked = r->te_last_chunked;
	}
	if (r->version_minor >= 1)
		r->keep_alive = !r->conn_close;
	else
		r->keep_alive = r->conn_keep_alive && !r->conn_close;
	return HTTP1_RESP_DONE;
}

/* Prepares r for a new response head. */
void
http1_resp_init(struct http1_resp *r)
{
	memset(r, 0, sizeof *r);
	r->verdict = HTTP1_RESP_MORE;
	r->vmark = UINT32_MAX;
	%% write init;
}

/*
 * Parses the bytes of buf[0, len) not seen yet. The window is cut at HTTP1_RESP_HEAD_MAX
 * bytes so that the limit is decided at the same byte whatever the chunking.
 */
enum http1_resp_verdict
http1_resp_feed(struct http1_resp *r, const uint8_t *buf, size_t len)
{
	const unsigned char *p, *pe;

	if (r->verdict != HTTP1_RESP_MORE)
		return r->verdict;
	if (len > HTTP1_RESP_HEAD_MAX)
		len = HTTP1_RESP_HEAD_MAX;
	if (len <= r->pos)
		return r->verdict;
	p = buf + r->pos;
	pe = buf + len;

	%% write exec;

	if (r->verdict != HTTP1_RESP_MORE)
		return r->verdict;
	if (r->cs == http1_resp_error)
		return r->verdict = HTTP1_RESP_ERR_BAD;
	r->pos = (uint32_t)len;
	if (r->pos >= HTTP1_RESP_HEAD_MAX)
		r->verdict = HTTP1_RESP_ERR_TOO_LARGE;
	return r->verdict;
}

/* RFC 9112 §6.3 points 1, 2, 4, 6 and 8, in that order (point 3 is refused by the parser). */
enum http1_resp_body
http1_resp_body(const struct http1_resp *r, bool request_was_head, bool request_was_connect)
{
	if (r->status < 200 || r->status == 204 || r->status == 304 || request_was_head)
		return HTTP1_BODY_NONE;
	if (request_was_connect && r->status < 300)
		return HTTP1_BODY_NONE;
	if (r->te_present)
		return r->chunked ? HTTP1_BODY_CHUNKED : HTTP1_BODY_CLOSE;
	if (r->has_cl)
		return HTTP1_BODY_LENGTH;
	return HTTP1_BODY_CLOSE;
}

/* Stable ids of verdicts, used as metric labels. */
const char *
http1_resp_verdict_str(enum http1_resp_verdict v)
{
	switch (v) {
	case HTTP1_RESP_DONE:
		return "done";
	case HTTP1_RESP_MORE:
		return "more";
	case HTTP1_RESP_ERR_BAD:
		return "bad";
	case HTTP1_RESP_ERR_TOO_LARGE:
		return "too_large";
	case HTTP1_RESP_VERDICT_COUNT:
		break;
	}
	return "invalid";
}

/* Stable ids of body kinds, for logs. */
const char *
http1_resp_body_str(enum http1_resp_body b)
{
	switch (b) {
	case HTTP1_BODY_NONE:
		return "none";
	case HTTP1_BODY_LENGTH:
		return "length";
	case HTTP1_BODY_CHUNKED:
		return "chunked";
	case HTTP1_BODY_CLOSE:
		return "close";
	}
	return "invalid";
}
