/*
 * Unit tests of proto/socks5.c (RFC 1928 greeting, request, replies, the FlowFailed
 * mapping) and proto/authority.c (HTTP CONNECT's host:port). Every parser vector is fed
 * whole, one byte at a time and split at every offset (feed_check.h); limits are tested at
 * N and N+1 (255 methods, a 255-byte name; port 65535 and 65536, host 255 and 256 bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "feed_check.h"
#include "feed_socks5.h"
#include "proto/authority.h"

/* Runs one greeting vector. */
static void
greet(const char *name, const void *b, size_t n, enum socks5_verdict want)
{
	struct socks5_greet a, o;
	feed_expect(&feed_socks5_greet, &a, &o, name, b, n, (int)want);
}

/* Runs one request vector; returns the whole run's state. */
static struct socks5_req
req(const char *name, const void *b, size_t n, enum socks5_verdict want)
{
	struct socks5_req a, o;
	feed_expect(&feed_socks5_req, &a, &o, name, b, n, (int)want);
	return a;
}

static void
test_greet(void)
{
	struct socks5_greet g;
	uint8_t big[2 + 255];

	greet("no auth", "\x05\x01\x00", 3, SOCKS5_DONE);
	greet("two methods", "\x05\x02\x02\x00", 4, SOCKS5_DONE);
	greet("prefix", "\x05\x02\x00", 3, SOCKS5_MORE);
	greet("empty", "", 0, SOCKS5_MORE);
	greet("version 4", "\x04\x01\x00", 3, SOCKS5_ERR_VERSION);
	greet("zero methods", "\x05\x00", 2, SOCKS5_ERR_METHODS);
	socks5_greet_init(&g);
	CHECK(socks5_greet_feed(&g, (const uint8_t *)"\x05\x01\x02", 3) == SOCKS5_DONE);
	CHECK(!g.no_auth && g.len == 3);
	socks5_greet_init(&g);
	CHECK(socks5_greet_feed(&g, (const uint8_t *)"\x05\x02\x02\x00\xAA", 5) == SOCKS5_DONE);
	CHECK(g.no_auth && g.len == 4); /* the byte after the greeting is not read */
	/* 255 methods: the most NMETHODS can say (N); a 256th byte is the next message. */
	big[0] = 5;
	big[1] = 255;
	memset(big + 2, 0x80, 255);
	big[256] = 0;
	greet("255 methods", big, sizeof big, SOCKS5_DONE);
	greet("254 of 255 methods", big, sizeof big - 1, SOCKS5_MORE);
}

static void
test_req(void)
{
	struct socks5_req r;
	uint8_t name[4 + 1 + 256 + 2];

	r = req("ipv4", "\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50", 10, SOCKS5_DONE);
	CHECK(r.atyp == SOCKS5_ATYP_IPV4 && r.port == 80 && r.len == 10 &&
	    memcmp(r.addr, "\x7f\x00\x00\x01", 4) == 0);
	r = req("ipv6", "\x05\x01\x00\x04" "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	    "\x01\xbb", 22, SOCKS5_DONE);
	CHECK(r.atyp == SOCKS5_ATYP_IPV6 && r.port == 443 && r.len == 22 && r.addr[15] == 1);
	r = req("domain", "\x05\x01\x00\x03\x0b" "example.com\x1f\x90", 18, SOCKS5_DONE);
	CHECK(r.atyp == SOCKS5_ATYP_DOMAIN && r.host_off == 5 && r.host_len == 11 && r.port == 8080);
	req("domain prefix", "\x05\x01\x00\x03\x0b" "example.com\x1f", 17, SOCKS5_MORE);
	req("version", "\x04\x01\x00\x01", 4, SOCKS5_ERR_VERSION);
	req("bind", "\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50", 10, SOCKS5_ERR_COMMAND);
	req("udp associate", "\x05\x03", 2, SOCKS5_ERR_COMMAND);
	req("reserved", "\x05\x01\x01\x01", 4, SOCKS5_ERR_RESERVED);
	req("atyp 2", "\x05\x01\x00\x02\x00", 5, SOCKS5_ERR_ATYP);
	req("empty name", "\x05\x01\x00\x03\x00\x00\x50", 7, SOCKS5_ERR_HOST);
	req("space in name", "\x05\x01\x00\x03\x03" "a b\x00\x50", 10, SOCKS5_ERR_HOST);
	req("control in name, early", "\x05\x01\x00\x03\x05" "a\x01", 7, SOCKS5_ERR_HOST);
	/* A 255-byte name: the limit (N); the length octet cannot say 256 (N+1 is the next
	 * message's first byte, left unread). */
	memcpy(name, "\x05\x01\x00\x03\xff", 5);
	memset(name + 5, 'a', 255);
	name[260] = 0;
	name[261] = 80;
	name[262] = 0x05;
	r = req("255-byte name", name, 262, SOCKS5_DONE);
	CHECK(r.host_len == 255 && r.len == SOCKS5_REQ_MAX && r.port == 80);
	r = req("255-byte name and one more byte", name, 263, SOCKS5_DONE);
	CHECK(r.len == SOCKS5_REQ_MAX);
	CHECK(socks5_verdict_rep(SOCKS5_ERR_COMMAND) == SOCKS5_REP_COMMAND);
	CHECK(socks5_verdict_rep(SOCKS5_ERR_ATYP) == SOCKS5_REP_ATYP);
	CHECK(socks5_verdict_rep(SOCKS5_ERR_VERSION) == -1);
}

static void
test_reply(void)
{
	uint8_t out[SOCKS5_REPLY_LEN];

	socks5_reply(out, SOCKS5_REP_REFUSED);
	CHECK(memcmp(out, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 10) == 0);
#define REP(s) socks5_rep_for_error((const uint8_t *)(s), strlen(s))
	CHECK(REP("denied") == SOCKS5_REP_NOT_ALLOWED);
	CHECK(REP("connect failed") == SOCKS5_REP_REFUSED);
	CHECK(REP("Connection refused (os error 111)") == SOCKS5_REP_REFUSED);
	CHECK(REP("resolve failed") == SOCKS5_REP_HOST_UNREACH);
	CHECK(REP("resolve timeout") == SOCKS5_REP_HOST_UNREACH);
	CHECK(REP("Host Unreachable") == SOCKS5_REP_HOST_UNREACH);
	CHECK(REP("too many flows") == SOCKS5_REP_GENERAL);
	CHECK(REP("") == SOCKS5_REP_GENERAL);
#undef REP
}

/* Parses an authority; returns 0/-1 and the host as a string. */
static int
auth(const char *s, char *host, uint16_t *port)
{
	struct authority a;
	if (authority_parse((const uint8_t *)s, strlen(s), &a) != 0)
		return -1;
	memcpy(host, s + a.host_off, a.host_len);
	host[a.host_len] = '\0';
	*port = a.port;
	return 0;
}

static void
test_authority(void)
{
	char host[300], s[300];
	uint16_t port;

	CHECK(auth("example.com:443", host, &port) == 0 && strcmp(host, "example.com") == 0 &&
	    port == 443);
	CHECK(auth("127.0.0.1:80", host, &port) == 0 && strcmp(host, "127.0.0.1") == 0);
	CHECK(auth("[::1]:8443", host, &port) == 0 && strcmp(host, "[::1]") == 0 && port == 8443);
	CHECK(auth("h:65535", host, &port) == 0 && port == 65535);
	CHECK(auth("h:65536", host, &port) == -1);
	CHECK(auth("h:0", host, &port) == -1);
	CHECK(auth("h:000443", host, &port) == -1); /* over 5 digits */
	CHECK(auth("h", host, &port) == -1);
	CHECK(auth("h:", host, &port) == -1);
	CHECK(auth(":80", host, &port) == -1);
	CHECK(auth("::1:80", host, &port) == -1);
	CHECK(auth("user@h:80", host, &port) == -1);
	CHECK(auth("h/x:80", host, &port) == -1);
	CHECK(auth("[]:80", host, &port) == -1);
	CHECK(auth("[::g]:80", host, &port) == -1);
	CHECK(auth("h:8a", host, &port) == -1);
	memset(s, 'a', AUTHORITY_HOST_MAX);
	memcpy(s + AUTHORITY_HOST_MAX, ":1", 3);
	CHECK(auth(s, host, &port) == 0 && strlen(host) == AUTHORITY_HOST_MAX); /* N */
	memset(s, 'a', AUTHORITY_HOST_MAX + 1);
	memcpy(s + AUTHORITY_HOST_MAX + 1, ":1", 3);
	CHECK(auth(s, host, &port) == -1); /* N+1 */
}

int
main(void)
{
	test_greet();
	test_req();
	test_reply();
	test_authority();
	return check_summary();
}
