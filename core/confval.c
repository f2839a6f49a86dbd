/*
 * Typed scalar values of the configuration (see confval.h): durations, sizes, integers,
 * addresses and CIDRs. Input is untrusted text from a YAML file; every function checks
 * its whole input, overflow included, and either fills the result or explains why not.
 * Never resolves names (no DNS at load time), never allocates.
 */
#include "core/confval.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define QUOTE_MAX 48 /* bytes of the offending value echoed back in a reason */

/* Writes a reason "`value`: what" with the value cut to QUOTE_MAX bytes. */
static void
why_set(char *why, size_t whylen, const char *s, const char *what)
{
	if (why == NULL || whylen == 0)
		return;
	size_t n = strlen(s);
	snprintf(why, whylen, "`%.*s%s`: %s", (int)(n > QUOTE_MAX ? QUOTE_MAX : n), s,
	    n > QUOTE_MAX ? "..." : "", what);
}

/* Reads leading decimal digits into *v; returns how many, or -1 on overflow of UINT64. */
static int
read_digits(const char *s, uint64_t *v)
{
	uint64_t acc = 0;
	int n = 0;
	while (s[n] >= '0' && s[n] <= '9') {
		unsigned d = (unsigned)(s[n] - '0');
		if (acc > (UINT64_MAX - d) / 10)
			return -1;
		acc = acc * 10 + d;
		n++;
	}
	*v = acc;
	return n;
}

/* Parses a duration with a required unit into milliseconds, refusing overflow. */
int
confval_duration(const char *s, uint64_t *ms, char *why, size_t whylen)
{
	uint64_t v, mul;
	int n = read_digits(s, &v);
	if (n == -1) {
		why_set(why, whylen, s, "duration is too large");
		return -1;
	}
	if (n == 0) {
		why_set(why, whylen, s, "not a duration (e.g. 500ms, 5s, 10m, 24h)");
		return -1;
	}
	const char *u = s + n;
	if (*u == '\0') {
		why_set(why, whylen, s, "a duration needs a unit: ms, s, m or h");
		return -1;
	}
	if (strcmp(u, "ms") == 0)
		mul = 1;
	else if (strcmp(u, "s") == 0)
		mul = 1000;
	else if (strcmp(u, "m") == 0)
		mul = 60000;
	else if (strcmp(u, "h") == 0)
		mul = 3600000;
	else {
		why_set(why, whylen, s, "unknown duration unit (use ms, s, m or h)");
		return -1;
	}
	if (v > UINT64_MAX / mul) {
		why_set(why, whylen, s, "duration is too large");
		return -1;
	}
	*ms = v * mul;
	return 0;
}

/* Parses a byte count with an optional k/m/g suffix, refusing overflow. */
int
confval_size(const char *s, uint64_t *bytes, char *why, size_t whylen)
{
	uint64_t v;
	unsigned shift;
	int n = read_digits(s, &v);
	if (n == -1) {
		why_set(why, whylen, s, "size is too large");
		return -1;
	}
	if (n == 0) {
		why_set(why, whylen, s, "not a size (e.g. 4096, 16k, 1m)");
		return -1;
	}
	const char *u = s + n;
	if (u[0] == '\0')
		shift = 0;
	else if (u[1] != '\0')
		shift = 99;
	else if (u[0] == 'k' || u[0] == 'K')
		shift = 10;
	else if (u[0] == 'm' || u[0] == 'M')
		shift = 20;
	else if (u[0] == 'g' || u[0] == 'G')
		shift = 30;
	else
		shift = 99;
	if (shift == 99) {
		why_set(why, whylen, s, "unknown size unit (use k, m or g, or plain bytes)");
		return -1;
	}
	if (v > (UINT64_MAX >> shift)) {
		why_set(why, whylen, s, "size is too large");
		return -1;
	}
	*bytes = v << shift;
	return 0;
}

/* Parses a plain decimal number and checks it against [min, max]. */
int
confval_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v, char *why, size_t whylen)
{
	uint64_t x;
	int n = read_digits(s, &x);
	if (n == 0 || (n > 0 && s[n] != '\0')) {
		why_set(why, whylen, s, "not a whole number");
		return -1;
	}
	if (n == -1 || x < min || x > max) {
		char what[96];
		snprintf(what, sizeof what, "must be between %llu and %llu",
		    (unsigned long long)min, (unsigned long long)max);
		why_set(why, whylen, s, what);
		return -1;
	}
	*v = x;
	return 0;
}

/* True when the text looks like a host name attempt rather than a mangled IP literal. */
static bool
looks_like_name(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if ((c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '-' || c == '_')
			return true;
	}
	return false;
}

/* Parses an IPv4 (no ':') or IPv6 literal of len bytes into family/bytes; 0 or -1. */
static int
parse_ip(const char *s, size_t len, int *family, uint8_t addr[16])
{
	char tmp[INET6_ADDRSTRLEN + 1];
	if (len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(addr, 0, 16);
	if (memchr(tmp, ':', len) != NULL) {
		if (inet_pton(AF_INET6, tmp, addr) != 1)
			return -1;
		*family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, tmp, addr) != 1)
			return -1;
		*family = AF_INET;
	}
	return 0;
}

/* Fills a conf_addr from family, address bytes and port. */
static void
addr_fill(struct conf_addr *out, int family, const uint8_t addr[16], uint16_t port)
{
	memset(out, 0, sizeof *out);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr, 4);
		out->len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr, 16);
		out->len = sizeof *sin6;
	}
}

/* Parses "ip:port" or "[v6]:port"; host names are refused, never resolved. */
int
confval_addr(const char *s, struct conf_addr *out, char *why, size_t whylen)
{
	const char *host, *port;
	size_t hlen;
	int family;
	uint8_t addr[16];

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL) {
			why_set(why, whylen, s, "missing `]` after the IPv6 address");
			return -1;
		}
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close[1] != ':') {
			why_set(why, whylen, s, "missing port (write [addr]:port)");
			return -1;
		}
		port = close + 2;
		if (memchr(host, ':', hlen) == NULL || parse_ip(host, hlen, &family, addr) == -1) {
			why_set(why, whylen, s, "not an IPv6 address inside [ ]");
			return -1;
		}
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL) {
			why_set(why, whylen, s, "missing port (write ip:port)");
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			why_set(why, whylen, s, "an IPv6 address needs brackets: [addr]:port");
			return -1;
		}
		host = s;
		hlen = (size_t)(colon - s);
		port = colon + 1;
		if (parse_ip(host, hlen, &family, addr) == -1) {
			why_set(why, whylen, s, looks_like_name(host, hlen) ?
			    "host names are not accepted, only IP literals (e.g. 192.0.2.1:443)" :
			    "not an IPv4 address");
			return -1;
		}
	}
	uint64_t p;
	int n = read_digits(port, &p);
	if (n <= 0 || port[n] != '\0' || n > 5) {
		why_set(why, whylen, s, n == 0 && port[0] == '\0' ? "missing port number" :
		    "the port is not a number from 1 to 65535");
		return -1;
	}
	if (p == 0 || p > 65535) {
		why_set(why, whylen, s, "the port must be from 1 to 65535");
		return -1;
	}
	addr_fill(out, family, addr, (uint16_t)p);
	return 0;
}

/* Parses a bare IP literal and gives it the caller's port. */
int
confval_ip(const char *s, uint16_t port, struct conf_addr *out, char *why, size_t whylen)
{
	int family;
	uint8_t addr[16];
	size_t len = strlen(s);
	if (parse_ip(s, len, &family, addr) == -1) {
		why_set(why, whylen, s, looks_like_name(s, len) ?
		    "host names are not accepted, only IP literals" : "not an IP address");
		return -1;
	}
	addr_fill(out, family, addr, port);
	return 0;
}

/* Shared by CIDR and interface address parsing; strict rejects host bits. */
static int
parse_prefixed(const char *s, struct conf_cidr *out, bool strict, bool need_prefix, char *why,
    size_t whylen)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int family;
	uint8_t addr[16];

	if (parse_ip(s, alen, &family, addr) == -1) {
		why_set(why, whylen, s, looks_like_name(s, alen) ?
		    "host names are not accepted, only IP literals" : "not an IP address or CIDR");
		return -1;
	}
	unsigned max = family == AF_INET ? 32 : 128;
	uint64_t prefix = max;
	if (slash != NULL) {
		int n = read_digits(slash + 1, &prefix);
		if (n <= 0 || n > 3 || slash[1 + n] != '\0' || prefix > max) {
			char what[64];
			snprintf(what, sizeof what, "the prefix length must be from 0 to %u", max);
			why_set(why, whylen, s, what);
			return -1;
		}
	} else if (need_prefix) {
		why_set(why, whylen, s, "missing prefix length (write addr/len)");
		return -1;
	}
	memset(out, 0, sizeof *out);
	out->family = family;
	out->prefix = (uint8_t)prefix;
	memcpy(out->addr, addr, 16);
	if (strict) {
		uint8_t net[16];
		memcpy(net, addr, 16);
		for (unsigned bit = (unsigned)prefix; bit < max; bit++)
			net[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
		if (memcmp(net, addr, 16) != 0) {
			char netstr[INET6_ADDRSTRLEN], what[128];
			inet_ntop(family, net, netstr, sizeof netstr);
			snprintf(what, sizeof what, "host bits set beyond the prefix (did you mean %s/%u?)",
			    netstr, (unsigned)prefix);
			why_set(why, whylen, s, what);
			return -1;
		}
	}
	return 0;
}

/* Parses a network in CIDR form; a bare address is a host route. */
int
confval_cidr(const char *s, struct conf_cidr *out, char *why, size_t whylen)
{
	return parse_prefixed(s, out, true, false, why, whylen);
}

/* Parses an interface address: a CIDR whose host bits are kept. */
int
confval_ifaddr(const char *s, struct conf_cidr *out, char *why, size_t whylen)
{
	return parse_prefixed(s, out, false, true, why, whylen);
}

/* True when the first prefix bits of a and b agree. */
static bool
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

/* Tests a peer address against a CIDR (IPv4-mapped IPv6 included). */
bool
confval_cidr_match(const struct conf_cidr *c, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		if (c->family != AF_INET)
			return false;
		return prefix_equal(c->addr, (const uint8_t *)&sin->sin_addr, c->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a = sin6->sin6_addr.s6_addr;
		if (c->family == AF_INET6)
			return prefix_equal(c->addr, a, c->prefix);
		if (c->family == AF_INET && memcmp(a, mapped, sizeof mapped) == 0)
			return prefix_equal(c->addr, a + 12, c->prefix);
	}
	return false;
}

/* Any of n CIDRs. */
bool
confval_cidrs_match(const struct conf_cidr *c, size_t n, const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (confval_cidr_match(&c[i], sa))
			return true;
	return false;
}

/* Formats an address the way the configuration writes it. */
void
confval_addr_format(const struct conf_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "(none)");
	}
}

/* Formats a CIDR as "net/prefix". */
void
confval_cidr_format(const struct conf_cidr *c, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (inet_ntop(c->family, c->addr, ip, sizeof ip) == NULL)
		snprintf(ip, sizeof ip, "?");
	snprintf(buf, len, "%s/%u", ip, (unsigned)c->prefix);
}

/* Formats milliseconds with the largest unit that divides them. */
void
confval_duration_format(uint64_t ms, char *buf, size_t len)
{
	unsigned long long v = (unsigned long long)ms;
	if (v != 0 && v % 3600000 == 0)
		snprintf(buf, len, "%lluh", v / 3600000);
	else if (v != 0 && v % 60000 == 0)
		snprintf(buf, len, "%llum", v / 60000);
	else if (v != 0 && v % 1000 == 0)
		snprintf(buf, len, "%llus", v / 1000);
	else
		snprintf(buf, len, "%llums", v);
}

/* Compares family, address and port (the rest of a sockaddr is noise). */
bool
confval_addr_equal(const struct conf_addr *a, const struct conf_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)&a->ss;
		const struct sockaddr_in *y = (const struct sockaddr_in *)&b->ss;
		return x->sin_port == y->sin_port &&
		    memcmp(&x->sin_addr, &y->sin_addr, sizeof x->sin_addr) == 0;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->ss;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
	}
	return false;
}
