/*
 * Unit tests for core/confval.c: durations, sizes, integers, addresses, bare IPs, CIDRs,
 * interface addresses, CIDR matching and the formatters, valid and invalid, with
 * overflow and every limit at N and N+1. Reasons are compared as whole strings.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/confval.h"

static char why[CONFVAL_WHY_MAX];

/* Duration: success with the expected milliseconds. */
static void
dur_ok(const char *s, uint64_t want)
{
	uint64_t ms = 12345;
	int rc = confval_duration(s, &ms, why, sizeof why);
	CHECKF(rc == 0 && ms == want, "%s -> rc %d ms %llu (%s)", s, rc, (unsigned long long)ms,
	    rc ? why : "");
}

/* Duration: failure with exactly this reason. */
static void
dur_bad(const char *s, const char *reason)
{
	uint64_t ms = 0;
	why[0] = '\0';
	int rc = confval_duration(s, &ms, why, sizeof why);
	CHECKF(rc == -1 && strcmp(why, reason) == 0, "%s -> rc %d why [%s] want [%s]", s, rc, why,
	    reason);
}

/* Size: success. */
static void
size_ok(const char *s, uint64_t want)
{
	uint64_t v = 0;
	int rc = confval_size(s, &v, why, sizeof why);
	CHECKF(rc == 0 && v == want, "%s -> rc %d v %llu", s, rc, (unsigned long long)v);
}

/* Size: failure with exactly this reason. */
static void
size_bad(const char *s, const char *reason)
{
	uint64_t v = 0;
	why[0] = '\0';
	int rc = confval_size(s, &v, why, sizeof why);
	CHECKF(rc == -1 && strcmp(why, reason) == 0, "%s -> rc %d why [%s]", s, rc, why);
}

/* Address: success, and it formats back to canon. */
static void
addr_ok(const char *s, const char *canon)
{
	struct conf_addr a;
	char buf[80] = "";
	int rc = confval_addr(s, &a, why, sizeof why);
	if (rc == 0)
		confval_addr_format(&a, buf, sizeof buf);
	CHECKF(rc == 0 && strcmp(buf, canon) == 0, "%s -> rc %d [%s] (%s)", s, rc, buf,
	    rc ? why : "");
}

/* Address: failure with exactly this reason. */
static void
addr_bad(const char *s, const char *reason)
{
	struct conf_addr a;
	why[0] = '\0';
	int rc = confval_addr(s, &a, why, sizeof why);
	CHECKF(rc == -1 && strcmp(why, reason) == 0, "%s -> rc %d why [%s]", s, rc, why);
}

/* CIDR: success, and it formats back to canon. */
static void
cidr_ok(const char *s, const char *canon)
{
	struct conf_cidr c;
	char buf[80] = "";
	int rc = confval_cidr(s, &c, why, sizeof why);
	if (rc == 0)
		confval_cidr_format(&c, buf, sizeof buf);
	CHECKF(rc == 0 && strcmp(buf, canon) == 0, "%s -> rc %d [%s] (%s)", s, rc, buf,
	    rc ? why : "");
}

/* CIDR: failure with exactly this reason. */
static void
cidr_bad(const char *s, const char *reason)
{
	struct conf_cidr c;
	why[0] = '\0';
	int rc = confval_cidr(s, &c, why, sizeof why);
	CHECKF(rc == -1 && strcmp(why, reason) == 0, "%s -> rc %d why [%s]", s, rc, why);
}

/* Builds a sockaddr for an IP literal (test helper). */
static struct sockaddr_storage
sa_of(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &s4->sin_addr);
	}
	return ss;
}

/* True when ip falls in cidr (both as text). */
static bool
match(const char *cidr, const char *ip)
{
	struct conf_cidr c;
	if (confval_cidr(cidr, &c, NULL, 0) == -1)
		return false;
	struct sockaddr_storage ss = sa_of(ip);
	return confval_cidr_match(&c, (const struct sockaddr *)&ss);
}

/* Durations: units, zero, overflow at the edge of uint64 milliseconds. */
static void
test_durations(void)
{
	dur_ok("500ms", 500);
	dur_ok("5s", 5000);
	dur_ok("10m", 600000);
	dur_ok("24h", 86400000);
	dur_ok("0s", 0);
	dur_ok("0ms", 0);
	dur_ok("007s", 7000);
	dur_ok("18446744073709551615ms", UINT64_MAX);       /* N */
	dur_bad("18446744073709551616ms", "`18446744073709551616ms`: duration is too large");
	dur_ok("18446744073709551s", 18446744073709551000ull);
	dur_bad("18446744073709552s", "`18446744073709552s`: duration is too large");
	dur_ok("5124095576030h", 5124095576030ull * 3600000);  /* N: largest whole hours */
	dur_bad("5124095576031h", "`5124095576031h`: duration is too large");
	dur_bad("5", "`5`: a duration needs a unit: ms, s, m or h");
	dur_bad("", "``: not a duration (e.g. 500ms, 5s, 10m, 24h)");
	dur_bad("s", "`s`: not a duration (e.g. 500ms, 5s, 10m, 24h)");
	dur_bad("-5s", "`-5s`: not a duration (e.g. 500ms, 5s, 10m, 24h)");
	dur_bad("+5s", "`+5s`: not a duration (e.g. 500ms, 5s, 10m, 24h)");
	dur_bad("1d", "`1d`: unknown duration unit (use ms, s, m or h)");
	dur_bad("5 s", "`5 s`: unknown duration unit (use ms, s, m or h)");
	dur_bad("5S", "`5S`: unknown duration unit (use ms, s, m or h)");
	dur_bad("1.5s", "`1.5s`: unknown duration unit (use ms, s, m or h)");
	dur_bad("5sec", "`5sec`: unknown duration unit (use ms, s, m or h)");
	dur_bad("5s ", "`5s `: unknown duration unit (use ms, s, m or h)");
	/* A long value is echoed cut to 48 bytes. */
	dur_bad("123456789012345678901234567890123456789012345678901234567890x",
	    "`123456789012345678901234567890123456789012345678...`: duration is too large");

	char b[32];
	confval_duration_format(0, b, sizeof b);
	CHECK(strcmp(b, "0ms") == 0);
	confval_duration_format(1500, b, sizeof b);
	CHECK(strcmp(b, "1500ms") == 0);
	confval_duration_format(3000, b, sizeof b);
	CHECK(strcmp(b, "3s") == 0);
	confval_duration_format(120000, b, sizeof b);
	CHECK(strcmp(b, "2m") == 0);
	confval_duration_format(7200000, b, sizeof b);
	CHECK(strcmp(b, "2h") == 0);
}

/* Sizes: bytes, k/m/g in powers of 1024, overflow at each unit's edge. */
static void
test_sizes(void)
{
	size_ok("4096", 4096);
	size_ok("0", 0);
	size_ok("16k", 16384);
	size_ok("16K", 16384);
	size_ok("1m", 1048576);
	size_ok("1M", 1048576);
	size_ok("2g", 2147483648ull);
	size_ok("18446744073709551615", UINT64_MAX);                     /* N */
	size_bad("18446744073709551616", "`18446744073709551616`: size is too large");
	size_ok("18014398509481983k", 18014398509481983ull << 10);        /* N */
	size_bad("18014398509481984k", "`18014398509481984k`: size is too large");
	size_ok("17179869183g", 17179869183ull << 30);
	size_bad("17179869184g", "`17179869184g`: size is too large");
	size_bad("k", "`k`: not a size (e.g. 4096, 16k, 1m)");
	size_bad("", "``: not a size (e.g. 4096, 16k, 1m)");
	size_bad("16kb", "`16kb`: unknown size unit (use k, m or g, or plain bytes)");
	size_bad("16t", "`16t`: unknown size unit (use k, m or g, or plain bytes)");
	size_bad("1.5k", "`1.5k`: unknown size unit (use k, m or g, or plain bytes)");
	size_bad("-1", "`-1`: not a size (e.g. 4096, 16k, 1m)");
}

/* Whole numbers in a range, at N and N+1 of both ends. */
static void
test_uint(void)
{
	uint64_t v = 0;
	CHECK(confval_uint("1", 1, 256, &v, why, sizeof why) == 0 && v == 1);
	CHECK(confval_uint("256", 1, 256, &v, why, sizeof why) == 0 && v == 256);
	CHECK(confval_uint("257", 1, 256, &v, why, sizeof why) == -1 &&
	    strcmp(why, "`257`: must be between 1 and 256") == 0);
	CHECK(confval_uint("0", 1, 256, &v, why, sizeof why) == -1 &&
	    strcmp(why, "`0`: must be between 1 and 256") == 0);
	CHECK(confval_uint("18446744073709551615", 0, UINT64_MAX, &v, why, sizeof why) == 0 &&
	    v == UINT64_MAX);
	CHECK(confval_uint("18446744073709551616", 0, UINT64_MAX, &v, why, sizeof why) == -1 &&
	    strcmp(why, "`18446744073709551616`: must be between 0 and 18446744073709551615") == 0);
	CHECK(confval_uint("12a", 0, 100, &v, why, sizeof why) == -1 &&
	    strcmp(why, "`12a`: not a whole number") == 0);
	CHECK(confval_uint("", 0, 100, &v, why, sizeof why) == -1 &&
	    strcmp(why, "``: not a whole number") == 0);
	CHECK(confval_uint("-1", 0, 100, &v, why, sizeof why) == -1);
	CHECK(confval_uint("0x10", 0, 100, &v, why, sizeof why) == -1);
	/* A NULL reason buffer is allowed. */
	CHECK(confval_uint("x", 0, 100, &v, NULL, 0) == -1);
}

/* Addresses: IPv4, bracketed IPv6, ports 1 and 65535, and every refusal. */
static void
test_addrs(void)
{
	addr_ok("127.0.0.1:8443", "127.0.0.1:8443");
	addr_ok("0.0.0.0:1", "0.0.0.0:1");
	addr_ok("1.2.3.4:65535", "1.2.3.4:65535");
	addr_ok("[::]:443", "[::]:443");
	addr_ok("[::1]:80", "[::1]:80");
	addr_ok("[2001:DB8::1]:443", "[2001:db8::1]:443");
	addr_ok("[::ffff:192.0.2.1]:443", "[::ffff:192.0.2.1]:443");
	addr_ok("1.2.3.4:00080", "1.2.3.4:80");
	addr_bad("1.2.3.4:65536", "`1.2.3.4:65536`: the port must be from 1 to 65535");
	addr_bad("1.2.3.4:0", "`1.2.3.4:0`: the port must be from 1 to 65535");
	addr_bad("1.2.3.4:000000", "`1.2.3.4:000000`: the port is not a number from 1 to 65535");
	addr_bad("1.2.3.4:99999999999999999999999",
	    "`1.2.3.4:99999999999999999999999`: the port is not a number from 1 to 65535");
	addr_bad("1.2.3.4:", "`1.2.3.4:`: missing port number");
	addr_bad("1.2.3.4:x", "`1.2.3.4:x`: the port is not a number from 1 to 65535");
	addr_bad("1.2.3.4:80 ", "`1.2.3.4:80 `: the port is not a number from 1 to 65535");
	addr_bad("1.2.3.4", "`1.2.3.4`: missing port (write ip:port)");
	addr_bad("localhost:80",
	    "`localhost:80`: host names are not accepted, only IP literals (e.g. 192.0.2.1:443)");
	addr_bad("example.com:443",
	    "`example.com:443`: host names are not accepted, only IP literals (e.g. 192.0.2.1:443)");
	addr_bad("1.2.3:80", "`1.2.3:80`: not an IPv4 address");
	addr_bad("1.2.3.256:80", "`1.2.3.256:80`: not an IPv4 address");
	addr_bad("01.2.3.4:80", "`01.2.3.4:80`: not an IPv4 address");
	addr_bad(":80", "`:80`: not an IPv4 address");
	addr_bad("::1:80", "`::1:80`: an IPv6 address needs brackets: [addr]:port");
	addr_bad("[::1]", "`[::1]`: missing port (write [addr]:port)");
	addr_bad("[::1]80", "`[::1]80`: missing port (write [addr]:port)");
	addr_bad("[::1:80", "`[::1:80`: missing `]` after the IPv6 address");
	addr_bad("[1.2.3.4]:80", "`[1.2.3.4]:80`: not an IPv6 address inside [ ]");
	addr_bad("[fe80::1%eth0]:80", "`[fe80::1%eth0]:80`: not an IPv6 address inside [ ]");
	addr_bad("", "``: missing port (write ip:port)");

	struct conf_addr a, b;
	CHECK(confval_addr("1.2.3.4:80", &a, NULL, 0) == 0);
	CHECK(a.len == sizeof(struct sockaddr_in) && a.ss.ss_family == AF_INET);
	CHECK(confval_addr("[::1]:80", &b, NULL, 0) == 0);
	CHECK(b.len == sizeof(struct sockaddr_in6) && b.ss.ss_family == AF_INET6);
	CHECK(!confval_addr_equal(&a, &b));
	CHECK(confval_addr("1.2.3.4:80", &b, NULL, 0) == 0 && confval_addr_equal(&a, &b));
	CHECK(confval_addr("1.2.3.4:81", &b, NULL, 0) == 0 && !confval_addr_equal(&a, &b));

	/* Bare IPs (DNS servers). */
	char buf[80];
	CHECK(confval_ip("1.1.1.1", 53, &a, why, sizeof why) == 0);
	confval_addr_format(&a, buf, sizeof buf);
	CHECK(strcmp(buf, "1.1.1.1:53") == 0);
	CHECK(confval_ip("2606:4700::1111", 53, &a, why, sizeof why) == 0);
	confval_addr_format(&a, buf, sizeof buf);
	CHECK(strcmp(buf, "[2606:4700::1111]:53") == 0);
	CHECK(confval_ip("dns.google", 53, &a, why, sizeof why) == -1 &&
	    strcmp(why, "`dns.google`: host names are not accepted, only IP literals") == 0);
	CHECK(confval_ip("1.1.1.1:53", 53, &a, why, sizeof why) == -1 &&
	    strcmp(why, "`1.1.1.1:53`: not an IP address") == 0);
}

/* CIDRs: prefixes at their limits, host bits, bare addresses, and matching. */
static void
test_cidrs(void)
{
	cidr_ok("10.0.0.0/8", "10.0.0.0/8");
	cidr_ok("10.0.0.1", "10.0.0.1/32");
	cidr_ok("0.0.0.0/0", "0.0.0.0/0");
	cidr_ok("10.1.2.3/32", "10.1.2.3/32");                  /* N */
	cidr_bad("10.1.2.3/33", "`10.1.2.3/33`: the prefix length must be from 0 to 32");
	cidr_ok("::1/128", "::1/128");                          /* N */
	cidr_bad("::1/129", "`::1/129`: the prefix length must be from 0 to 128");
	cidr_ok("::1", "::1/128");
	cidr_ok("::/0", "::/0");
	cidr_ok("fd00::/8", "fd00::/8");
	cidr_ok("172.16.0.0/12", "172.16.0.0/12");
	cidr_bad("172.17.0.0/12",
	    "`172.17.0.0/12`: host bits set beyond the prefix (did you mean 172.16.0.0/12?)");
	cidr_bad("10.0.0.1/8",
	    "`10.0.0.1/8`: host bits set beyond the prefix (did you mean 10.0.0.0/8?)");
	cidr_bad("fd00::1/64", "`fd00::1/64`: host bits set beyond the prefix (did you mean fd00::/64?)");
	cidr_bad("10.0.0.0/", "`10.0.0.0/`: the prefix length must be from 0 to 32");
	cidr_bad("10.0.0.0/0008", "`10.0.0.0/0008`: the prefix length must be from 0 to 32");
	cidr_bad("10.0.0.0/8x", "`10.0.0.0/8x`: the prefix length must be from 0 to 32");
	cidr_bad("10.0.0.0/-1", "`10.0.0.0/-1`: the prefix length must be from 0 to 32");
	cidr_bad("private", "`private`: host names are not accepted, only IP literals");
	cidr_bad("10.0.0/8", "`10.0.0/8`: not an IP address or CIDR");
	cidr_bad("", "``: not an IP address or CIDR");
	cidr_bad("[::1]/128", "`[::1]/128`: not an IP address or CIDR");

	struct conf_cidr c;
	char buf[80];
	CHECK(confval_ifaddr("10.200.0.1/24", &c, why, sizeof why) == 0);
	confval_cidr_format(&c, buf, sizeof buf);
	CHECK(strcmp(buf, "10.200.0.1/24") == 0);
	CHECK(confval_ifaddr("fd00::1/64", &c, why, sizeof why) == 0 && c.family == AF_INET6 &&
	    c.prefix == 64);
	CHECK(confval_ifaddr("10.200.0.1", &c, why, sizeof why) == -1 &&
	    strcmp(why, "`10.200.0.1`: missing prefix length (write addr/len)") == 0);
	CHECK(confval_ifaddr("10.200.0.1/33", &c, why, sizeof why) == -1);

	CHECK(match("10.0.0.0/8", "10.255.1.2"));
	CHECK(!match("10.0.0.0/8", "11.0.0.1"));
	CHECK(match("10.0.0.0/9", "10.127.255.255"));
	CHECK(!match("10.0.0.0/9", "10.128.0.0"));
	CHECK(match("0.0.0.0/0", "203.0.113.9"));
	CHECK(match("192.0.2.7", "192.0.2.7"));
	CHECK(!match("192.0.2.7", "192.0.2.8"));
	CHECK(match("fd00::/8", "fd12:3456::1"));
	CHECK(!match("fd00::/8", "fe80::1"));
	CHECK(!match("10.0.0.0/8", "::1"));
	CHECK(!match("::/0", "10.0.0.1"));
	/* A dual-stack socket sees IPv4 peers as ::ffff:a.b.c.d: IPv4 CIDRs still match. */
	CHECK(match("10.0.0.0/8", "::ffff:10.1.2.3"));
	CHECK(!match("10.0.0.0/8", "::ffff:11.1.2.3"));
	CHECK(!match("10.0.0.0/8", "::10.1.2.3"));
}

/* A list of CIDRs: none matches, the last matches, the empty list never matches. */
static void
test_cidr_lists(void)
{
	struct conf_cidr l[3];
	CHECK(confval_cidr("10.0.0.0/8", &l[0], NULL, 0) == 0);
	CHECK(confval_cidr("::1/128", &l[1], NULL, 0) == 0);
	CHECK(confval_cidr("127.0.0.8", &l[2], NULL, 0) == 0);
	struct sockaddr_storage a = sa_of("127.0.0.8"), b = sa_of("127.0.0.7"), c = sa_of("::1");
	CHECK(confval_cidrs_match(l, 3, (const struct sockaddr *)&a));
	CHECK(!confval_cidrs_match(l, 3, (const struct sockaddr *)&b));
	CHECK(confval_cidrs_match(l, 3, (const struct sockaddr *)&c));
	CHECK(!confval_cidrs_match(l, 0, (const struct sockaddr *)&a));
	CHECK(!confval_cidrs_match(l, 2, (const struct sockaddr *)&a));
}

/* Runs every group; the exit status says whether all checks passed. */
int
main(void)
{
	test_durations();
	test_sizes();
	test_uint();
	test_addrs();
	test_cidrs();
	test_cidr_lists();
	return check_summary();
}
