/*
 * Unit tests for the PROXY v1 decoder and encoder (proto/proxy_v1.rl) and for
 * proxy_detect: the spec's example lines, every error class, the 107/108-byte limit,
 * every vector fed whole, one byte at a time and split at every offset with identical
 * verdicts, lengths and addresses, the exact header length with trailing bytes left
 * alone, encoder output and round trips, and agreement of the Ragel address grammar with
 * inet_pton on generated strings. Never touches the network or the file system.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/proxy_v1.h"

/* What one run of the decoder produced. */
struct outcome {
	enum proxy_v1_verdict v;
	size_t                len;
	struct proxy_addr     addr;
};

/* Feeds buf in chunks whose sizes come from cuts (0 ends the list, then the rest). */
static struct outcome
run_chunks(const uint8_t *buf, size_t n, const size_t *cuts, size_t ncuts)
{
	struct proxy_v1_parser p;
	struct outcome o;
	size_t off = 0;

	proxy_v1_init(&p);
	o.v = PROXY_V1_MORE;
	for (size_t i = 0; i < ncuts && off < n; i++) {
		size_t k = cuts[i] < n - off ? cuts[i] : n - off;
		o.v = proxy_v1_feed(&p, buf + off, k);
		off += k;
	}
	if (off < n)
		o.v = proxy_v1_feed(&p, buf + off, n - off);
	o.len = p.len;
	o.addr = p.addr;
	return o;
}

/* Feeds buf whole. */
static struct outcome
run_whole(const uint8_t *buf, size_t n)
{
	return run_chunks(buf, n, NULL, 0);
}

/* Feeds buf one byte at a time, the way a slow peer would send it. */
static struct outcome
run_bytes(const uint8_t *buf, size_t n)
{
	struct proxy_v1_parser p;
	struct outcome o;

	proxy_v1_init(&p);
	o.v = PROXY_V1_MORE;
	for (size_t i = 0; i < n; i++)
		o.v = proxy_v1_feed(&p, buf + i, 1);
	o.len = p.len;
	o.addr = p.addr;
	return o;
}

/* True when two outcomes agree on everything the verdict makes meaningful. */
static bool
same(const struct outcome *a, const struct outcome *b)
{
	if (a->v != b->v)
		return false;
	if (a->v != PROXY_V1_DONE)
		return true;
	return a->len == b->len && proxy_addr_equal(&a->addr, &b->addr);
}

/*
 * Checks one vector whole, byte by byte and split at every offset. exp_addr may be NULL
 * when only the verdict matters.
 */
static void
check_v1(const char *name, const void *data, size_t n, enum proxy_v1_verdict exp,
    size_t exp_len, const struct proxy_addr *exp_addr)
{
	const uint8_t *buf = data;
	struct outcome w = run_whole(buf, n), o;

	CHECKF(w.v == exp, "%s: verdict %s, expected %s", name, proxy_v1_verdict_str(w.v),
	    proxy_v1_verdict_str(exp));
	if (exp == PROXY_V1_DONE) {
		CHECKF(w.len == exp_len, "%s: length %zu, expected %zu", name, w.len, exp_len);
		if (exp_addr != NULL)
			CHECKF(proxy_addr_equal(&w.addr, exp_addr), "%s: addresses differ", name);
	}
	o = run_bytes(buf, n);
	CHECKF(same(&w, &o), "%s: byte-at-a-time gives %s", name, proxy_v1_verdict_str(o.v));
	for (size_t k = 1; k < n; k++) {
		size_t cut = k;
		o = run_chunks(buf, n, &cut, 1);
		CHECKF(same(&w, &o), "%s: split at %zu gives %s", name, k,
		    proxy_v1_verdict_str(o.v));
	}
	for (size_t k = 2; k < n; k += 3) {
		size_t cuts[3] = { k / 2, 1, k };
		o = run_chunks(buf, n, cuts, 3);
		CHECKF(same(&w, &o), "%s: three-way split at %zu gives %s", name, k,
		    proxy_v1_verdict_str(o.v));
	}
}

/* check_v1 on a C string. */
static void
check_str(const char *s, enum proxy_v1_verdict exp)
{
	check_v1(s, s, strlen(s), exp, strlen(s), NULL);
}

/* Builds an INET/INET6 TCP address from text. */
static struct proxy_addr
mk_addr(int af, const char *src, const char *dst, uint16_t sport, uint16_t dport)
{
	struct proxy_addr a;

	memset(&a, 0, sizeof a);
	a.family = af == AF_INET ? PROXY_FAM_INET : PROXY_FAM_INET6;
	a.transport = PROXY_TRANS_STREAM;
	if (inet_pton(af, src, a.src) != 1 || inet_pton(af, dst, a.dst) != 1)
		abort();
	a.sport = sport;
	a.dport = dport;
	return a;
}

/* The UNKNOWN result. */
static struct proxy_addr
mk_unknown(void)
{
	struct proxy_addr a;

	memset(&a, 0, sizeof a);
	a.family = PROXY_FAM_UNSPEC;
	a.local = true;
	return a;
}

/* Valid lines, including the spec's examples and its maximum-length lines. */
static void
test_valid(void)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00 };
	const char *line;
	char buf[256];
	struct proxy_addr a;
	size_t n;

	/* The spec's example line, followed by the request it precedes. */
	line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
	n = strlen(line);
	memcpy(buf, line, n);
	memcpy(buf + n, http, sizeof http - 1);
	a = mk_addr(AF_INET, "192.168.0.1", "192.168.0.11", 56324, 443);
	check_v1("spec example + http", buf, n + sizeof http - 1, PROXY_V1_DONE, n, &a);

	/* The same line before a TLS record: the record must not be consumed. */
	memcpy(buf + n, tls, sizeof tls);
	check_v1("spec example + tls", buf, n + sizeof tls, PROXY_V1_DONE, n, &a);

	line = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
	CHECK(strlen(line) == 56);
	a = mk_addr(AF_INET, "255.255.255.255", "255.255.255.255", 65535, 65535);
	check_v1("tcp4 max", line, strlen(line), PROXY_V1_DONE, 56, &a);

	line = "PROXY TCP4 0.0.0.0 10.0.0.1 0 1\r\n";
	a = mk_addr(AF_INET, "0.0.0.0", "10.0.0.1", 0, 1);
	check_v1("tcp4 zeros", line, strlen(line), PROXY_V1_DONE, strlen(line), &a);

	line = "PROXY TCP4 1.22.199.250 249.200.100.9 9 10\r\n";
	a = mk_addr(AF_INET, "1.22.199.250", "249.200.100.9", 9, 10);
	check_v1("tcp4 octet forms", line, strlen(line), PROXY_V1_DONE, strlen(line), &a);

	line = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	CHECK(strlen(line) == 104);
	a = mk_addr(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535);
	check_v1("tcp6 max", line, strlen(line), PROXY_V1_DONE, 104, &a);

	line = "PROXY TCP6 2001:db8::1 ::1 443 8443\r\n";
	a = mk_addr(AF_INET6, "2001:db8::1", "::1", 443, 8443);
	check_v1("tcp6 compressed", line, strlen(line), PROXY_V1_DONE, strlen(line), &a);

	line = "PROXY TCP6 :: 2001:DB8:0:0:0:0:0:AbCd 1 65535\r\n";
	a = mk_addr(AF_INET6, "::", "2001:db8::abcd", 1, 65535);
	check_v1("tcp6 unspecified, upper case", line, strlen(line), PROXY_V1_DONE,
	    strlen(line), &a);

	line = "PROXY TCP6 ::ffff:192.0.2.1 1:2:3:4:5:6:7.8.9.10 80 81\r\n";
	a = mk_addr(AF_INET6, "::ffff:192.0.2.1", "1:2:3:4:5:6:7.8.9.10", 80, 81);
	check_v1("tcp6 mixed", line, strlen(line), PROXY_V1_DONE, strlen(line), &a);

	line = "PROXY TCP6 1::2:3:4:5:6:7 1:2:3:4:5:6:7:: 0 0\r\n";
	a = mk_addr(AF_INET6, "1::2:3:4:5:6:7", "1:2:3:4:5:6:7::", 0, 0);
	check_v1("tcp6 one-group ::", line, strlen(line), PROXY_V1_DONE, strlen(line), &a);

	line = "PROXY TCP6 0001:0db8::0000:0001 ::2:3:4:5:6:7:8 1 2\r\n";
	a = mk_addr(AF_INET6, "1:db8::1", "0:2:3:4:5:6:7:8", 1, 2);
	check_v1("tcp6 padded groups", line, strlen(line), PROXY_V1_DONE, strlen(line), &a);

	memcpy(buf, "PROXY TCP6 ::1 ::1 1 2\r\n", 24);
	memcpy(buf + 24, tls, sizeof tls);
	a = mk_addr(AF_INET6, "::1", "::1", 1, 2);
	check_v1("tcp6 + tls", buf, 24 + sizeof tls, PROXY_V1_DONE, 24, &a);

	a = mk_unknown();
	check_v1("unknown short", "PROXY UNKNOWN\r\n", 15, PROXY_V1_DONE, 15, &a);
	line = "PROXY UNKNOWN whatever \x01\xff goes here\r\n";
	check_v1("unknown junk", line, strlen(line), PROXY_V1_DONE, strlen(line), &a);
	line = "PROXY UNKNOWN \r\n";
	check_v1("unknown space", line, strlen(line), PROXY_V1_DONE, strlen(line), &a);
	memcpy(buf, "PROXY UNKNOWN\r\nPROXY TCP4", 25);
	check_v1("unknown + more", buf, 25, PROXY_V1_DONE, 15, &a);
}

/* The 107-byte limit: the spec's worst case passes, one byte more fails. */
static void
test_limits(void)
{
	const char *max = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	char buf[256];
	struct proxy_addr a = mk_unknown();
	size_t n = strlen(max);

	CHECK(n == PROXY_V1_MAX);
	check_v1("unknown at 107", max, n, PROXY_V1_DONE, PROXY_V1_MAX, &a);

	memcpy(buf, max, n - 2);
	memcpy(buf + n - 2, "0\r\n", 3);
	check_v1("unknown at 108", buf, n + 1, PROXY_V1_ERR_TOO_LONG, 0, NULL);

	/* Far longer, with and without the CRLF ever coming. */
	memcpy(buf, "PROXY UNKNOWN ", 14);
	memset(buf + 14, 'x', 200);
	check_v1("unknown 214 no crlf", buf, 214, PROXY_V1_ERR_TOO_LONG, 0, NULL);
	memcpy(buf + 200, "\r\n", 2);
	check_v1("unknown 202", buf, 202, PROXY_V1_ERR_TOO_LONG, 0, NULL);

	/* TOO_LONG is decided at byte 107 itself, not later. */
	struct proxy_v1_parser p;
	proxy_v1_init(&p);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)buf, PROXY_V1_MAX - 1) == PROXY_V1_MORE);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)buf + PROXY_V1_MAX - 1, 1) ==
	    PROXY_V1_ERR_TOO_LONG);

	/* A TCP6 line in mixed notation can be valid text yet too long. */
	const char *mixed = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n";
	check_v1("tcp6 mixed 116", mixed, strlen(mixed), PROXY_V1_ERR_TOO_LONG, 0, NULL);

	/* Port limit: 65535 passes (above), 65536 fails at its last digit. */
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 65536 1\r\n", PROXY_V1_ERR_BAD_PORT);
	proxy_v1_init(&p);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)"PROXY TCP4 1.2.3.4 5.6.7.8 6553", 31) ==
	    PROXY_V1_MORE);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)"6", 1) == PROXY_V1_ERR_BAD_PORT);

	/* Octet limit: 255 passes (above), 256 fails. */
	check_str("PROXY TCP4 256.2.3.4 5.6.7.8 1 1\r\n", PROXY_V1_ERR_BAD_ADDRESS);
}

/* Every error class, several ways each. */
static void
test_errors(void)
{
	/* Not PROXY at all: decided at the first wrong byte. */
	check_str("GET / HTTP/1.1\r\n\r\n", PROXY_V1_ERR_NOT_PROXY);
	check_str("\x16\x03\x01\x02\x00\x01\x00\x01\xfc", PROXY_V1_ERR_NOT_PROXY);
	check_str("PROXX TCP4", PROXY_V1_ERR_NOT_PROXY);
	check_str("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_NOT_PROXY);
	check_str("PROXY\r\n", PROXY_V1_ERR_NOT_PROXY);
	check_str("\r\n\r\n\0\r\nQUIT\n", PROXY_V1_ERR_NOT_PROXY);
	struct proxy_v1_parser p;
	proxy_v1_init(&p);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)"G", 1) == PROXY_V1_ERR_NOT_PROXY);
	proxy_v1_init(&p);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)"PROXY", 5) == PROXY_V1_MORE);

	/* Syntax: keywords, separators, line ends. */
	check_str("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4 1.2.3.4\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY TCP4\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY \r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY UNKNOWN\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY UNKNOWNX\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY UNKNOWN x\ry\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY UNKNOWN x\ny\r\n", PROXY_V1_ERR_SYNTAX);
	check_str("PROXY UNKNOWN\r\r\n", PROXY_V1_ERR_SYNTAX);
	proxy_v1_init(&p);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)"PROXY X", 7) == PROXY_V1_ERR_SYNTAX);

	/* Bad addresses: decided at the first byte no address can contain. */
	check_str("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP4 1.2.3.00 5.6.7.8 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP4 1.2.3.4x 5.6.7.8 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP4 x.2.3.4 5.6.7.8 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP4 1.2.3.1000 5.6.7.8 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 12345:: ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 1::2::3 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 :::1 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 :1 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 1: ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 g::1 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 ::ffff:01.2.3.4 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 ::ffff:1.2.3 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 ::1%eth0 ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);
	check_str("PROXY TCP6 [::1] ::1 1 2\r\n", PROXY_V1_ERR_BAD_ADDRESS);

	/* Bad ports. */
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", PROXY_V1_ERR_BAD_PORT);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", PROXY_V1_ERR_BAD_PORT);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n", PROXY_V1_ERR_BAD_PORT);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n", PROXY_V1_ERR_BAD_PORT);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n", PROXY_V1_ERR_BAD_PORT);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n", PROXY_V1_ERR_BAD_PORT);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", PROXY_V1_ERR_BAD_PORT);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1x 2\r\n", PROXY_V1_ERR_BAD_PORT);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 0x50 2\r\n", PROXY_V1_ERR_BAD_PORT);
	check_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n", PROXY_V1_ERR_BAD_PORT);

	/* Family mismatches, decided when the address ends. */
	check_str("PROXY TCP4 ::1 ::1 1 2\r\n", PROXY_V1_ERR_FAMILY_MISMATCH);
	check_str("PROXY TCP4 1.2.3.4 ::1 1 2\r\n", PROXY_V1_ERR_FAMILY_MISMATCH);
	check_str("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", PROXY_V1_ERR_FAMILY_MISMATCH);
	check_str("PROXY TCP6 ::1 1.2.3.4 1 2\r\n", PROXY_V1_ERR_FAMILY_MISMATCH);
	check_str("PROXY TCP4 1:2:3:4:5:6:7:8 5.6.7.8 1 2\r\n", PROXY_V1_ERR_FAMILY_MISMATCH);
}

/* Verdicts are final: nothing more is consumed after DONE or an error. */
static void
test_sticky(void)
{
	struct proxy_v1_parser p;
	const char *line = "PROXY UNKNOWN\r\n";

	proxy_v1_init(&p);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)line, 15) == PROXY_V1_DONE);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)"PROXY", 5) == PROXY_V1_DONE);
	CHECK(p.len == 15);
	proxy_v1_init(&p);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)"X", 1) == PROXY_V1_ERR_NOT_PROXY);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)line, 15) == PROXY_V1_ERR_NOT_PROXY);
	/* Zero bytes change nothing. */
	proxy_v1_init(&p);
	CHECK(proxy_v1_feed(&p, (const uint8_t *)line, 0) == PROXY_V1_MORE);
	CHECK(p.len == 0);

	/* The router's pattern over one growing buffer. */
	char buf[64] = "PROXY TCP4 10.1.2.3 10.9.8.7 1000 443\r\n\x16\x03\x01";
	size_t total = strlen(buf), have = 0;
	enum proxy_v1_verdict v = PROXY_V1_MORE;
	proxy_v1_init(&p);
	while (v == PROXY_V1_MORE && have < total) {
		have += 5;
		if (have > total)
			have = total;
		v = proxy_v1_feed(&p, (const uint8_t *)buf + p.len, have - p.len);
	}
	CHECK(v == PROXY_V1_DONE);
	CHECK(p.len == total - 3);
}

/* Verdict ids are stable (they are metric labels). */
static void
test_strings(void)
{
	CHECK(strcmp(proxy_v1_verdict_str(PROXY_V1_DONE), "done") == 0);
	CHECK(strcmp(proxy_v1_verdict_str(PROXY_V1_MORE), "more") == 0);
	CHECK(strcmp(proxy_v1_verdict_str(PROXY_V1_ERR_NOT_PROXY), "not_proxy") == 0);
	CHECK(strcmp(proxy_v1_verdict_str(PROXY_V1_ERR_TOO_LONG), "too_long") == 0);
	CHECK(strcmp(proxy_v1_verdict_str(PROXY_V1_ERR_SYNTAX), "syntax") == 0);
	CHECK(strcmp(proxy_v1_verdict_str(PROXY_V1_ERR_BAD_ADDRESS), "bad_address") == 0);
	CHECK(strcmp(proxy_v1_verdict_str(PROXY_V1_ERR_BAD_PORT), "bad_port") == 0);
	CHECK(strcmp(proxy_v1_verdict_str(PROXY_V1_ERR_FAMILY_MISMATCH),
	    "family_mismatch") == 0);
	CHECK(strcmp(proxy_v1_verdict_str(PROXY_V1_VERDICT_COUNT), "invalid") == 0);
}

/* proxy_detect on every prefix of each kind of input. */
static void
test_detect(void)
{
	const char *v1 = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
	const uint8_t *sig = proxy_v2_sig;

	CHECK(proxy_detect((const uint8_t *)"", 0) == PROXY_DETECT_MORE);
	for (size_t k = 1; k < PROXY_V1_PREFIX_LEN; k++)
		CHECKF(proxy_detect((const uint8_t *)v1, k) == PROXY_DETECT_MORE, "v1 %zu", k);
	for (size_t k = PROXY_V1_PREFIX_LEN; k <= strlen(v1); k++)
		CHECKF(proxy_detect((const uint8_t *)v1, k) == PROXY_DETECT_V1, "v1 %zu", k);
	for (size_t k = 1; k < PROXY_V2_SIG_LEN; k++)
		CHECKF(proxy_detect(sig, k) == PROXY_DETECT_MORE, "v2 %zu", k);
	CHECK(proxy_detect(sig, PROXY_V2_SIG_LEN) == PROXY_DETECT_V2);
	CHECK(proxy_detect((const uint8_t *)"\x16\x03\x01", 3) == PROXY_DETECT_NONE);
	CHECK(proxy_detect((const uint8_t *)"G", 1) == PROXY_DETECT_NONE);
	CHECK(proxy_detect((const uint8_t *)"PROXX", 5) == PROXY_DETECT_NONE);
	CHECK(proxy_detect((const uint8_t *)"PROXY\r", 6) == PROXY_DETECT_NONE);
	CHECK(proxy_detect((const uint8_t *)"\r\n\r\n\0\r\nQUIX", 11) == PROXY_DETECT_NONE);
	CHECK(proxy_detect((const uint8_t *)"\r\n\r\n\1", 5) == PROXY_DETECT_NONE);
	CHECK(strcmp(proxy_detect_str(PROXY_DETECT_V2), "v2") == 0);
	CHECK(strcmp(proxy_detect_str(PROXY_DETECT_NONE), "none") == 0);
}

/* Encodes a and checks the exact text. */
static void
check_encode(const struct proxy_addr *a, const char *exp)
{
	char out[PROXY_V1_MAX];
	int n = proxy_v1_encode(out, sizeof out, a);

	CHECKF(n == (int)strlen(exp) && memcmp(out, exp, (size_t)n) == 0,
	    "encode: got %.*s, expected %s", n < 0 ? 0 : n, out, exp);
	if (n > 0) {
		CHECK(proxy_v1_encode(out, (size_t)n, a) == n);
		CHECK(proxy_v1_encode(out, (size_t)n - 1, a) == -1);
	}
}

/* Encoder output, RFC 5952 text, UNKNOWN cases, round trips. */
static void
test_encode(void)
{
	struct proxy_addr a;

	a = mk_addr(AF_INET, "192.168.0.1", "192.168.0.11", 56324, 443);
	check_encode(&a, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
	a = mk_addr(AF_INET, "0.0.0.0", "255.255.255.255", 0, 65535);
	check_encode(&a, "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
	a = mk_addr(AF_INET6, "2001:db8::1", "::", 1, 2);
	check_encode(&a, "PROXY TCP6 2001:db8::1 :: 1 2\r\n");
	a = mk_addr(AF_INET6, "::1", "1::", 1, 2);
	check_encode(&a, "PROXY TCP6 ::1 1:: 1 2\r\n");
	a = mk_addr(AF_INET6, "2001:db8:0:1:1:1:1:1", "2001:0:0:1:0:0:0:1", 1, 2);
	check_encode(&a, "PROXY TCP6 2001:db8:0:1:1:1:1:1 2001:0:0:1::1 1 2\r\n");
	a = mk_addr(AF_INET6, "2001:db8:0:0:1:0:0:1", "::ffff:192.0.2.1", 1, 2);
	check_encode(&a, "PROXY TCP6 2001:db8::1:0:0:1 ::ffff:192.0.2.1 1 2\r\n");
	a = mk_addr(AF_INET6, "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789", "::a:0:0:0:0", 1, 2);
	check_encode(&a, "PROXY TCP6 abcd:ef01:2345:6789:abcd:ef01:2345:6789 0:0:0:a:: 1 2\r\n");
	a = mk_addr(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535);
	check_encode(&a, "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");

	a = mk_unknown();
	check_encode(&a, "PROXY UNKNOWN\r\n");
	a = mk_addr(AF_INET, "1.2.3.4", "5.6.7.8", 1, 2);
	a.local = true;
	check_encode(&a, "PROXY UNKNOWN\r\n");
	a.local = false;
	a.transport = PROXY_TRANS_DGRAM;
	check_encode(&a, "PROXY UNKNOWN\r\n");
	memset(&a, 0, sizeof a);
	a.family = PROXY_FAM_UNIX;
	a.transport = PROXY_TRANS_STREAM;
	check_encode(&a, "PROXY UNKNOWN\r\n");
	a.family = PROXY_FAM_UNSPEC;
	check_encode(&a, "PROXY UNKNOWN\r\n");
}

/* A small deterministic generator. */
static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Encode then decode random addresses (many zero groups) gives them back. */
static void
test_roundtrip(void)
{
	uint32_t seed = 7;
	unsigned bad = 0, runs = 0;

	for (int i = 0; i < 20000; i++) {
		struct proxy_addr a;
		char line[PROXY_V1_MAX];
		memset(&a, 0, sizeof a);
		a.family = (i & 1) ? PROXY_FAM_INET6 : PROXY_FAM_INET;
		a.transport = PROXY_TRANS_STREAM;
		for (int k = 0; k < 16; k++) {
			uint32_t r = lcg(&seed);
			a.src[k] = (r & 3) ? 0 : (uint8_t)(r >> 4);
			a.dst[k] = (r & 0x300) ? 0 : (uint8_t)(r >> 12);
		}
		if (a.family == PROXY_FAM_INET) {
			memset(a.src + 4, 0, 12);
			memset(a.dst + 4, 0, 12);
		}
		if (i % 7 == 0)
			memcpy(a.dst, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
		a.sport = (uint16_t)lcg(&seed);
		a.dport = (uint16_t)lcg(&seed);
		int n = proxy_v1_encode(line, sizeof line, &a);
		if (n < 0 || n > PROXY_V1_MAX) {
			bad++;
			continue;
		}
		struct outcome o = run_whole((const uint8_t *)line, (size_t)n);
		runs++;
		if (o.v != PROXY_V1_DONE || o.len != (size_t)n || !proxy_addr_equal(&o.addr, &a)) {
			if (bad++ < 5)
				fprintf(stderr, "round trip failed: %.*s", n, line);
		}
	}
	CHECKF(bad == 0, "%u round trips of %u failed", bad, runs);

	/* UNKNOWN round-trips to itself. */
	struct proxy_addr u = mk_unknown();
	char line[PROXY_V1_MAX];
	int n = proxy_v1_encode(line, sizeof line, &u);
	struct outcome o = run_whole((const uint8_t *)line, (size_t)n);
	CHECK(o.v == PROXY_V1_DONE && proxy_addr_equal(&o.addr, &u));
}

/*
 * The Ragel address grammar and inet_pton agree on generated strings: every string
 * either both accept (and give the same bytes) or both refuse. This is what lets the
 * decoder rely on inet_pton only for conversion.
 */
static void
test_grammar_vs_inet_pton(void)
{
	static const char alpha6[] = "0123456789abcdefABCDEF::::::...";
	static const char alpha4[] = "0123456789012345...";
	uint32_t seed = 99;
	unsigned disagree = 0, accepted6 = 0, accepted4 = 0;

	for (int i = 0; i < 200000; i++) {
		char tok[48], line[128];
		uint8_t bin[16];
		bool v6 = i & 1;
		size_t n = 1 + lcg(&seed) % (v6 ? 42 : 16);
		for (size_t k = 0; k < n; k++)
			tok[k] = v6 ? alpha6[lcg(&seed) % (sizeof alpha6 - 1)] :
			    alpha4[lcg(&seed) % (sizeof alpha4 - 1)];
		tok[n] = '\0';
		/* Only the family's own form: the other is a family mismatch by design. */
		if (v6 != (strchr(tok, ':') != NULL))
			continue;
		int want = inet_pton(v6 ? AF_INET6 : AF_INET, tok, bin) == 1;
		int len = snprintf(line, sizeof line, "PROXY %s %s %s 1 2\r\n",
		    v6 ? "TCP6" : "TCP4", tok, tok);
		struct outcome o = run_whole((const uint8_t *)line, (size_t)len);
		int got = o.v == PROXY_V1_DONE;
		if (got && v6)
			accepted6++;
		else if (got)
			accepted4++;
		if (got != want || (got && memcmp(o.addr.src, bin, v6 ? 16 : 4) != 0)) {
			if (disagree++ < 5)
				fprintf(stderr, "grammar %d, inet_pton %d: %s (%s)\n", got, want,
				    tok, proxy_v1_verdict_str(o.v));
		}
		if (!got && o.v != PROXY_V1_ERR_BAD_ADDRESS && o.v != PROXY_V1_ERR_SYNTAX &&
		    o.v != PROXY_V1_ERR_TOO_LONG) {
			if (disagree++ < 5)
				fprintf(stderr, "unexpected verdict %s for %s\n",
				    proxy_v1_verdict_str(o.v), tok);
		}
	}
	CHECKF(disagree == 0, "%u disagreements", disagree);
	/* The generator must actually reach valid addresses of both kinds. */
	CHECKF(accepted6 > 100 && accepted4 > 100, "accepted v6 %u v4 %u", accepted6,
	    accepted4);
}

/* Runs every group; the exit status says whether all checks passed. */
int
main(void)
{
	test_valid();
	test_limits();
	test_errors();
	test_sticky();
	test_strings();
	test_detect();
	test_encode();
	test_roundtrip();
	test_grammar_vs_inet_pton();
	return check_summary();
}
