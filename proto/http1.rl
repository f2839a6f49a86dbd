/*
 * HTTP/1.x request-head parser (see http1.h): a Ragel machine that reads the head as RFC
 * 9112 writes its ABNF, and small C checks for the fields whose meaning the server needs
 * (Host, Content-Length, Transfer-Encoding, Connection, Upgrade, Expect). The caller hands
 * the whole buffer on every call; all marks are offsets into it, so a field may span any
 * number of calls and is complete in the buffer when its leaving action runs. It must
 * never allocate, keep a pointer to the caller's bytes, or read past the head's last LF.
 *
 * Wire format (RFC 9112 §2.1, §3, §5; RFC 9110 §5.1, §5.5, §5.6.2), at most
 * HTTP1_HEAD_MAX bytes in all:
 *
 *   *( CRLF )                                   ignored empty lines (§2.2)
 *   method SP request-target SP HTTP-version CRLF
 *   *( field-name ":" OWS field-value OWS CRLF )  at most HTTP1_HEADERS_MAX
 *   CRLF
 *
 *   method         = token                       at most HTTP1_METHOD_MAX bytes
 *   request-target = 1*( %x21-7E )               at most HTTP1_URI_MAX bytes; its four
 *                                                forms are the caller's business
 *   HTTP-version   = "HTTP/" DIGIT "." DIGIT     case-sensitive
 *   field-name     = token
 *   token          = 1*tchar
 *   tchar          = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *                    "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
 *   field-value    = [ field-vchar *( field-vchar / SP / HTAB ) ]   trailing OWS trimmed
 *   field-vchar    = VCHAR / obs-text            %x21-7E / %x80-FF
 *   OWS            = *( SP / HTAB )
 *
 * A line starting with SP or HTAB (obs-fold, §5.2), whitespace before ":" (§5.1), a bare
 * CR or a bare LF all fail the grammar: 400.
 *
 * Generated C lives in the build directory only (ragel -G2).
 */
#include <string.h>

#include "proto/http1.h"

_Static_assert(HTTP1_HEAD_MAX < UINT32_MAX, "views are 32-bit offsets");
_Static_assert(HTTP1_URI_MAX + HTTP1_METHOD_MAX + 2 < HTTP1_HEAD_MAX,
    "a request-target over HTTP1_URI_MAX must be seen before the head limit");

/* The offset of the byte the machine is on. */
#define OFF ((uint32_t)(p - buf))

static enum http1_verdict http1_field(struct http1_req *r, const uint8_t *buf,
    uint32_t cr);
static enum http1_verdict http1_head_end(struct http1_req *r);
static enum http1_method http1_method_of(const uint8_t *buf, struct http1_view v);

%%{
	machine http1;
	alphtype unsigned char;
	variable cs r->cs;

	# Entering a token only marks it; leaving it records the view.
	action mark        { r->mark = OFF; }
	action method_ch   {
		if (OFF + 1 - r->mark > HTTP1_METHOD_MAX) {
			r->verdict = HTTP1_ERR_NOT_IMPLEMENTED;
			fbreak;
		}
	}
	action method_end  {
		r->method_name.off = r->mark;
		r->method_name.len = OFF - r->mark;
		r->method = http1_method_of(buf, r->method_name);
	}
	action target_ch   {
		if (OFF + 1 - r->mark > HTTP1_URI_MAX) {
			r->verdict = HTTP1_ERR_URI_TOO_LONG;
			fbreak;
		}
	}
	action target_end  { r->target.off = r->mark; r->target.len = OFF - r->mark; }
	action major       { r->major = (uint8_t)(fc - '0'); }
	action minor       {
		if (r->major != 1) {
			r->verdict = HTTP1_ERR_VERSION;
			fbreak;
		}
		r->version_minor = fc == '0' ? 0 : 1;
	}

	action field_start {
		if (r->nfields >= HTTP1_HEADERS_MAX) {
			r->verdict = HTTP1_ERR_HEADERS_TOO_LARGE;
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
		if (http1_field(r, buf, OFF - 1) != HTTP1_MORE)
			fbreak;
	}
	action done        {
		r->head_len = OFF + 1;
		r->verdict = http1_head_end(r);
		fbreak;
	}

	crlf          = "\r\n";
	tchar         = [!#$%&'*+\-.^_`|~] | digit | alpha;
	token         = tchar+;
	ows           = [ \t]*;
	field_vchar   = 0x21..0x7e | 0x80..0xff;

	method        = token >mark $method_ch %method_end;
	target        = ( 0x21..0x7e )+ >mark $target_ch %target_end;
	version       = "HTTP/" digit @major "." digit @minor;
	request_line  = method " " target " " version crlf;

	field_name    = token >field_start %name_end;
	field_value   = ( field_vchar >value_start ( field_vchar | [ \t] )* )?;
	field_line    = field_name ":" ows field_value "\r" "\n" @field_end;

	main := crlf* request_line field_line* "\r" "\n" @done;

	write data;
}%%

/* Maps a method token to its enum; methods are case-sensitive (RFC 9110 §9.1). */
static enum http1_method
http1_method_of(const uint8_t *buf, struct http1_view v)
{
	static const struct {
		const char        *name;
		enum http1_method  m;
	} known[] = {
		{ "GET", HTTP1_M_GET },         { "HEAD", HTTP1_M_HEAD },
		{ "POST", HTTP1_M_POST },       { "PUT", HTTP1_M_PUT },
		{ "DELETE", HTTP1_M_DELETE },   { "OPTIONS", HTTP1_M_OPTIONS },
		{ "CONNECT", HTTP1_M_CONNECT }, { "TRACE", HTTP1_M_TRACE },
		{ "PATCH", HTTP1_M_PATCH },
	};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (strlen(known[i].name) == v.len &&
		    memcmp(buf + v.off, known[i].name, v.len) == 0)
			return known[i].m;
	}
	return HTTP1_M_OTHER;
}

/* ASCII lowercase; field names and these tokens are case-insensitive (RFC 9110 §5.1). */
static uint8_t
lc(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Compares a view with a lowercase string, ignoring ASCII case. */
bool
http1_view_ieq(const uint8_t *buf, struct http1_view v, const char *s)
{
	size_t n = strlen(s);

	if (v.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (lc(buf[v.off + i]) != (uint8_t)s[i])
			return false;
	}
	return true;
}

/*
 * Takes the next element of a comma list (RFC 9110 §5.6.1) from *rest, with OWS trimmed,
 * into *elem. Empty elements are returned too (the caller skips them). Returns false when
 * the list is used up.
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

/* unreserved / sub-delims of RFC 3986 §2.2, §2.3: what a reg-name may hold besides %XX. */
static bool
host_char(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL;
}

/* True for a hex digit. */
static bool
hex_char(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Checks a Host value against RFC 9110 §7.2: uri-host [ ":" port ], uri-host being an
 * IP-literal in brackets, or a reg-name (which covers IPv4address). Empty is valid. The
 * name itself (LDH, length) is judged later by hostname.c, not here.
 */
static bool
host_valid(const uint8_t *buf, struct http1_view v)
{
	const uint8_t *s = buf + v.off;
	uint32_t i = 0, n = v.len;

	if (n > 0 && s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++) {
			if (!host_char(s[i]) && s[i] != ':')
				return false;
		}
		if (i >= n || i == 1)
			return false;
		i++;
	} else {
		while (i < n && s[i] != ':') {
			if (s[i] == '%') {
				if (n - i < 3 || !hex_char(s[i + 1]) || !hex_char(s[i + 2]))
					return false;
				i += 3;
				continue;
			}
			if (!host_char(s[i]))
				return false;
			i++;
		}
	}
	if (i == n)
		return true;
	if (s[i] != ':')
		return false;
	for (i++; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

/* Reads a Content-Length value: 1*HTTP1_CL_DIGITS DIGIT. Returns false otherwise. */
static bool
cl_parse(const uint8_t *buf, struct http1_view v, uint64_t *out)
{
	uint64_t n = 0;

	if (v.len == 0 || v.len > HTTP1_CL_DIGITS)
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
 * OWS, stores the views, and reads the fields the server acts on. Returns MORE to go on,
 * or the error verdict (also stored in r->verdict).
 */
static enum http1_verdict
http1_field(struct http1_req *r, const uint8_t *buf, uint32_t cr)
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

	if (http1_view_ieq(buf, f->name, "host")) {
		if (r->has_host || !host_valid(buf, f->value))
			return r->verdict = HTTP1_ERR_BAD_REQUEST;
		r->has_host = true;
		r->host = f->value;
	} else if (http1_view_ieq(buf, f->name, "content-length")) {
		if (!cl_parse(buf, f->value, &cl) || (r->has_cl && cl != r->content_length))
			return r->verdict = HTTP1_ERR_BAD_REQUEST;
		r->has_cl = true;
		r->content_length = cl;
	} else if (http1_view_ieq(buf, f->name, "transfer-encoding")) {
		r->te_seen = true;
		rest = f->value;
		while (list_next(buf, &rest, &e)) {
			if (e.len == 0)
				continue;
			if (http1_view_ieq(buf, e, "chunked")) {
				r->te_last_chunked = true;
				if (r->te_chunked < UINT8_MAX)
					r->te_chunked++;
			} else {
				r->te_last_chunked = false;
				r->te_other = true;
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
		rest = f->value;
		while (list_next(buf, &rest, &e)) {
			if (http1_view_ieq(buf, e, "websocket"))
				r->upgrade_websocket = true;
		}
	} else if (http1_view_ieq(buf, f->name, "expect")) {
		rest = f->value;
		while (list_next(buf, &rest, &e)) {
			if (http1_view_ieq(buf, e, "100-continue"))
				r->expect_continue = true;
		}
	}
	return HTTP1_MORE;
}

/*
 * The checks that need the whole head (RFC 9112 §3.2 Host, §6.1 and §6.3 framing), in a
 * fixed order so the verdict is the same for any head. Returns DONE or the error.
 */
static enum http1_verdict
http1_head_end(struct http1_req *r)
{
	if (r->version_minor >= 1 && !r->has_host)
		return HTTP1_ERR_BAD_REQUEST;
	if (r->te_seen) {
		/* §6.1: TE in 1.0 means faulty framing; TE with CL is a smuggling attempt;
		 * a final coding other than chunked leaves the length unknown. */
		if (r->version_minor == 0 || r->has_cl || !r->te_last_chunked ||
		    r->te_chunked > 1)
			return HTTP1_ERR_BAD_REQUEST;
		if (r->te_other)
			return HTTP1_ERR_NOT_IMPLEMENTED;
		r->chunked = true;
	}
	if (r->version_minor >= 1)
		r->keep_alive = !r->conn_close;
	else
		r->keep_alive = r->conn_keep_alive && !r->conn_close;
	return HTTP1_DONE;
}

/* Prepares r for a new request head. */
void
http1_req_init(struct http1_req *r)
{
	memset(r, 0, sizeof *r);
	r->verdict = HTTP1_MORE;
	r->vmark = UINT32_MAX;
	%% write init;
}

/*
 * Parses the bytes of buf[0, len) not seen yet. The window is cut at HTTP1_HEAD_MAX
 * bytes so that the limit is decided at the same byte whatever the chunking.
 */
enum http1_verdict
http1_req_feed(struct http1_req *r, const uint8_t *buf, size_t len)
{
	const unsigned char *p, *pe;

	if (r->verdict != HTTP1_MORE)
		return r->verdict;
	if (len > HTTP1_HEAD_MAX)
		len = HTTP1_HEAD_MAX;
	if (len <= r->pos)
		return r->verdict;
	p = buf + r->pos;
	pe = buf + len;

	%% write exec;

	if (r->verdict != HTTP1_MORE)
		return r->verdict;
	if (r->cs == http1_error)
		return r->verdict = HTTP1_ERR_BAD_REQUEST;
	r->pos = (uint32_t)len;
	if (r->pos >= HTTP1_HEAD_MAX)
		r->verdict = HTTP1_ERR_HEADERS_TOO_LARGE;
	return r->verdict;
}

/* The status a server answers with (RFC 9110 §15, RFC 6585 §5 for 431). */
int
http1_verdict_status(enum http1_verdict v)
{
	switch (v) {
	case HTTP1_ERR_BAD_REQUEST:
		return 400;
	case HTTP1_ERR_URI_TOO_LONG:
		return 414;
	case HTTP1_ERR_HEADERS_TOO_LARGE:
		return 431;
	case HTTP1_ERR_NOT_IMPLEMENTED:
		return 501;
	case HTTP1_ERR_VERSION:
		return 505;
	case HTTP1_DONE:
	case HTTP1_MORE:
	case HTTP1_VERDICT_COUNT:
		break;
	}
	return 0;
}

/* Stable ids of verdicts, used as metric labels. */
const char *
http1_verdict_str(enum http1_verdict v)
{
	switch (v) {
	case HTTP1_DONE:
		return "done";
	case HTTP1_MORE:
		return "more";
	case HTTP1_ERR_BAD_REQUEST:
		return "bad_request";
	case HTTP1_ERR_URI_TOO_LONG:
		return "uri_too_long";
	case HTTP1_ERR_HEADERS_TOO_LARGE:
		return "headers_too_large";
	case HTTP1_ERR_NOT_IMPLEMENTED:
		return "not_implemented";
	case HTTP1_ERR_VERSION:
		return "version";
	case HTTP1_VERDICT_COUNT:
		break;
	}
	return "invalid";
}
