/*
 * PROXY protocol v1 decoder (Ragel) and encoder. The decoder is a resumable state machine
 * fed the connection's first bytes in any chunking; it is strict (exactly one space,
 * no leading zeros, CRLF only) because the line comes from a peer we trust to be exact,
 * and anything else is a misconfiguration or an attack. It must never read or consume a
 * byte past the line's LF, never allocate and never log.
 *
 * Wire format (proxy-protocol.txt §2.1), at most PROXY_V1_MAX = 107 bytes:
 *
 *   "PROXY" SP "TCP4" SP ipv4 SP ipv4 SP port SP port CRLF
 *   "PROXY" SP "TCP6" SP ipv6 SP ipv6 SP port SP port CRLF
 *   "PROXY" SP "UNKNOWN" [ SP *( any byte but CR and LF ) ] CRLF
 *
 *   source address, destination address, source port, destination port
 *   ipv4 = dec-octet "." dec-octet "." dec-octet "." dec-octet   (0..255, no leading zeros)
 *   ipv6 = RFC 4291 §2.2 text (the RFC 3986 IPv6address rule, hex digits in either case)
 *   port = "0" / %x31-39 0*4DIGIT                                 (0..65535)
 *
 * Generated C lives in the build directory only (ragel -G2).
 */
#include <arpa/inet.h>
#include <string.h>

#include "proto/proxy_v1.h"

/* Which part of the line the next byte belongs to; decides the error reason. */
enum {
	V1_F_SIG = 0, /* "PROXY " */
	V1_F_SYNTAX,  /* keywords, separators, line end */
	V1_F_ADDR,
	V1_F_PORT
};

static bool v1_addr_end(struct proxy_v1_parser *st, uint8_t *out);

%%{
	machine proxy_v1;
	alphtype unsigned char;
	variable cs st->cs;

	action sig_done    { st->field = V1_F_SYNTAX; }
	action fam_inet    { st->addr.family = PROXY_FAM_INET;
	                     st->addr.transport = PROXY_TRANS_STREAM; }
	action fam_inet6   { st->addr.family = PROXY_FAM_INET6;
	                     st->addr.transport = PROXY_TRANS_STREAM; }
	action fam_unknown { st->addr.family = PROXY_FAM_UNSPEC;
	                     st->addr.local = true; }

	# Entering a field only marks it; the leaving action converts and checks it.
	action begin_addr  { st->field = V1_F_ADDR; st->toklen = 0; }
	action addr_char   { if (st->toklen < PROXY_V1_TOKEN_MAX)
	                         st->tok[st->toklen++] = (char)fc; }
	action src_end     { if (!v1_addr_end(st, st->addr.src)) fbreak; }
	action dst_end     { if (!v1_addr_end(st, st->addr.dst)) fbreak; }

	action begin_port  { st->field = V1_F_PORT; st->toklen = 0; st->num = 0; }
	action port_digit  {
		st->toklen++;
		st->num = st->num * 10 + (uint32_t)(fc - '0');
		if (st->num > PROXY_V1_PORT_MAX) {
			st->verdict = PROXY_V1_ERR_BAD_PORT;
			fbreak;
		}
	}
	action sport_end   { st->addr.sport = (uint16_t)st->num; st->field = V1_F_SYNTAX; }
	action dport_end   { st->addr.dport = (uint16_t)st->num; st->field = V1_F_SYNTAX; }

	action done        { st->verdict = PROXY_V1_DONE; fbreak; }

	crlf      = "\r\n" @done;

	dec_octet = digit | [1-9] digit | "1" digit{2} | "2" [0-4] digit | "25" [0-5];
	ipv4      = dec_octet "." dec_octet "." dec_octet "." dec_octet;

	h16       = xdigit{1,4};
	ls32      = ( h16 ":" h16 ) | ipv4;
	ipv6      =                                     ( h16 ":" ){6} ls32
	          |                                "::" ( h16 ":" ){5} ls32
	          | (                      h16 )?  "::" ( h16 ":" ){4} ls32
	          | ( ( h16 ":" ){0,1} h16 )?  "::" ( h16 ":" ){3} ls32
	          | ( ( h16 ":" ){0,2} h16 )?  "::" ( h16 ":" ){2} ls32
	          | ( ( h16 ":" ){0,3} h16 )?  "::"   h16 ":"      ls32
	          | ( ( h16 ":" ){0,4} h16 )?  "::"                ls32
	          | ( ( h16 ":" ){0,5} h16 )?  "::"                h16
	          | ( ( h16 ":" ){0,6} h16 )?  "::";

	# Both forms are accepted here so that the wrong one is reported as a family
	# mismatch, not as a bad address.
	address   = ( ipv4 | ipv6 ) $addr_char;
	port      = ( "0" | [1-9] digit{0,4} ) $port_digit;

	inet      = ( "TCP4" @fam_inet | "TCP6" @fam_inet6 )
	            ( " " @begin_addr ) address %src_end
	            ( " " @begin_addr ) address %dst_end
	            ( " " @begin_port ) port %sport_end
	            ( " " @begin_port ) port %dport_end
	            crlf;

	unknown   = "UNKNOWN" @fam_unknown ( " " [^\r\n]* )? crlf;

	main     := "PROXY " @sig_done ( inet | unknown );

	write data;
}%%

/* Copies the address token so far into out as a C string. */
static void
v1_tok_cstr(const struct proxy_v1_parser *st, char out[PROXY_V1_TOKEN_MAX + 1])
{
	memcpy(out, st->tok, st->toklen);
	out[st->toklen] = '\0';
}

/*
 * Converts the finished address token into out (4 or 16 bytes). The grammar has already
 * checked it; inet_pton only turns it into bytes. Sets the verdict and returns false on
 * a family mismatch or, should inet_pton disagree with the grammar, a bad address.
 */
static bool
v1_addr_end(struct proxy_v1_parser *st, uint8_t *out)
{
	char text[PROXY_V1_TOKEN_MAX + 1];
	bool v6 = memchr(st->tok, ':', st->toklen) != NULL;

	st->field = V1_F_SYNTAX;
	if (v6 != (st->addr.family == PROXY_FAM_INET6)) {
		st->verdict = PROXY_V1_ERR_FAMILY_MISMATCH;
		return false;
	}
	v1_tok_cstr(st, text);
	if (inet_pton(v6 ? AF_INET6 : AF_INET, text, out) != 1) {
		st->verdict = PROXY_V1_ERR_BAD_ADDRESS;
		return false;
	}
	return true;
}

/* True when the address token so far is already a whole address (only its end is wrong). */
static bool
v1_addr_complete(const struct proxy_v1_parser *st)
{
	char text[PROXY_V1_TOKEN_MAX + 1];
	uint8_t bin[16];
	bool v6 = memchr(st->tok, ':', st->toklen) != NULL;

	v1_tok_cstr(st, text);
	return inet_pton(v6 ? AF_INET6 : AF_INET, text, bin) == 1;
}

/*
 * Names the error the grammar hit at byte c. A wrong separator or line end after a
 * complete (or empty) field is a syntax error; a wrong byte inside a field is that
 * field's error.
 */
static enum proxy_v1_verdict
v1_classify(const struct proxy_v1_parser *st, uint8_t c)
{
	bool sep = c == ' ' || c == '\r' || c == '\n';

	switch (st->field) {
	case V1_F_SIG:
		return PROXY_V1_ERR_NOT_PROXY;
	case V1_F_ADDR:
		if (sep && (st->toklen == 0 || v1_addr_complete(st)))
			return PROXY_V1_ERR_SYNTAX;
		return PROXY_V1_ERR_BAD_ADDRESS;
	case V1_F_PORT:
		return sep ? PROXY_V1_ERR_SYNTAX : PROXY_V1_ERR_BAD_PORT;
	default:
		return PROXY_V1_ERR_SYNTAX;
	}
}

/* Prepares a parser for a new connection. */
void
proxy_v1_init(struct proxy_v1_parser *st)
{
	memset(st, 0, sizeof *st);
	st->verdict = PROXY_V1_MORE;
	st->field = V1_F_SIG;
	%% write init;
}

/*
 * Feeds untrusted bytes. The window is cut at PROXY_V1_MAX bytes from the start of the
 * line so that the limit is decided at the same byte whatever the chunking.
 */
enum proxy_v1_verdict
proxy_v1_feed(struct proxy_v1_parser *st, const uint8_t *buf, size_t len)
{
	const unsigned char *p, *pe;
	size_t room;

	if (st->verdict != PROXY_V1_MORE || len == 0)
		return st->verdict;
	room = PROXY_V1_MAX - st->len;
	p = buf;
	pe = buf + (len < room ? len : room);

	%% write exec;

	if (st->verdict == PROXY_V1_DONE) {
		st->len += (size_t)(p - buf);
		return st->verdict;
	}
	if (st->verdict != PROXY_V1_MORE)
		return st->verdict;
	if (st->cs == proxy_v1_error) {
		st->verdict = v1_classify(st, *p);
		return st->verdict;
	}
	st->len += (size_t)(pe - buf);
	if (st->len >= PROXY_V1_MAX)
		st->verdict = PROXY_V1_ERR_TOO_LONG;
	return st->verdict;
}

/* Stable ids of verdicts, used as metric labels. */
const char *
proxy_v1_verdict_str(enum proxy_v1_verdict v)
{
	switch (v) {
	case PROXY_V1_DONE:
		return "done";
	case PROXY_V1_MORE:
		return "more";
	case PROXY_V1_ERR_NOT_PROXY:
		return "not_proxy";
	case PROXY_V1_ERR_TOO_LONG:
		return "too_long";
	case PROXY_V1_ERR_SYNTAX:
		return "syntax";
	case PROXY_V1_ERR_BAD_ADDRESS:
		return "bad_address";
	case PROXY_V1_ERR_BAD_PORT:
		return "bad_port";
	case PROXY_V1_ERR_FAMILY_MISMATCH:
		return "family_mismatch";
	case PROXY_V1_VERDICT_COUNT:
		break;
	}
	return "invalid";
}

/* A bounded output cursor for the encoder; overflow only sets a flag. */
struct v1_out {
	char   buf[PROXY_V1_MAX + 1];
	size_t len;
	bool   overflow;
};

/* Appends n bytes. */
static void
v1_put(struct v1_out *o, const char *s, size_t n)
{
	if (o->overflow || n > sizeof o->buf - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* Appends a decimal number without leading zeros. */
static void
v1_put_dec(struct v1_out *o, unsigned v)
{
	char tmp[10];
	size_t n = 0;

	do {
		tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && n < sizeof tmp);
	v1_put(o, tmp + sizeof tmp - n, n);
}

/* Appends a dotted quad. */
static void
v1_put_ipv4(struct v1_out *o, const uint8_t *a)
{
	for (int i = 0; i < 4; i++) {
		if (i > 0)
			v1_put(o, ".", 1);
		v1_put_dec(o, a[i]);
	}
}

/* Appends one 16-bit group in lowercase hex without leading zeros (RFC 5952 §4.1). */
static void
v1_put_h16(struct v1_out *o, unsigned v)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[4];
	size_t n = 0;

	do {
		tmp[sizeof tmp - 1 - n++] = hex[v & 0xf];
		v >>= 4;
	} while (v != 0 && n < sizeof tmp);
	v1_put(o, tmp + sizeof tmp - n, n);
}

/*
 * Appends an IPv6 address in RFC 5952 form: the longest run of two or more zero groups
 * (the first on a tie) becomes "::", and IPv4-mapped addresses end in a dotted quad.
 */
static void
v1_put_ipv6(struct v1_out *o, const uint8_t *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned g[8];
	int best = -1, bestlen = 0;

	if (memcmp(a, mapped, sizeof mapped) == 0) {
		v1_put(o, "::ffff:", 7);
		v1_put_ipv4(o, a + 12);
		return;
	}
	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	for (int i = 0; i < 8; i++) {
		int j = i;
		while (j < 8 && g[j] == 0)
			j++;
		if (j - i >= 2 && j - i > bestlen) {
			best = i;
			bestlen = j - i;
		}
		if (j > i)
			i = j - 1;
	}
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			v1_put(o, "::", 2);
			i += bestlen - 1;
			continue;
		}
		if (i > 0 && i != best + bestlen)
			v1_put(o, ":", 1);
		v1_put_h16(o, g[i]);
	}
}

/* Writes the v1 line for a; UNKNOWN for anything v1 cannot carry. */
int
proxy_v1_encode(char *out, size_t cap, const struct proxy_addr *a)
{
	struct v1_out o = { .len = 0, .overflow = false };
	bool inet = a->family == PROXY_FAM_INET, inet6 = a->family == PROXY_FAM_INET6;

	if (a->local || a->transport == PROXY_TRANS_DGRAM || (!inet && !inet6)) {
		v1_put(&o, "PROXY UNKNOWN\r\n", 15);
	} else {
		v1_put(&o, inet ? "PROXY TCP4 " : "PROXY TCP6 ", 11);
		if (inet) {
			v1_put_ipv4(&o, a->src);
			v1_put(&o, " ", 1);
			v1_put_ipv4(&o, a->dst);
		} else {
			v1_put_ipv6(&o, a->src);
			v1_put(&o, " ", 1);
			v1_put_ipv6(&o, a->dst);
		}
		v1_put(&o, " ", 1);
		v1_put_dec(&o, a->sport);
		v1_put(&o, " ", 1);
		v1_put_dec(&o, a->dport);
		v1_put(&o, "\r\n", 2);
	}
	if (o.overflow || o.len > PROXY_V1_MAX || o.len > cap)
		return -1;
	memcpy(out, o.buf, o.len);
	return (int)o.len;
}
