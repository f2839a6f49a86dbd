/*
 * core/egress: every named range at its first and last address and one address on each
 * side of it, the IPv6 spellings of IPv4 addresses (mapped, NAT64, 6to4, compatible), the
 * default policy, explicit deny CIDRs and allow CIDRs winning over every deny.
 */
#include <arpa/inet.h>
#include <string.h>

#include "check.h"
#include "core/confval.h"
#include "core/egress.h"

/* An address literal as a sockaddr. */
static struct sockaddr_storage
sa_of(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return ss;
}

/* The range bits of a literal. */
static unsigned
ranges(const char *ip)
{
	struct sockaddr_storage ss = sa_of(ip);
	return egress_ranges((struct sockaddr *)&ss);
}

/* Whether eg lets a client reach ip. */
static bool
permits(const struct conf_egress *eg, const char *ip)
{
	struct sockaddr_storage ss = sa_of(ip);
	return egress_permits(eg, (struct sockaddr *)&ss);
}

/* Checks one boundary: ip lies in exactly the ranges want. */
#define R(ip, want) CHECKF(ranges(ip) == (want), "%s: got %#x want %#x", ip, ranges(ip), \
	(unsigned)(want))

static void
test_ranges_v4(void)
{
	R("126.255.255.255", 0);
	R("127.0.0.0", CONF_RANGE_LOOPBACK);
	R("127.255.255.255", CONF_RANGE_LOOPBACK);
	R("128.0.0.0", 0);
	R("9.255.255.255", 0);
	R("10.0.0.0", CONF_RANGE_PRIVATE);
	R("10.255.255.255", CONF_RANGE_PRIVATE);
	R("11.0.0.0", 0);
	R("172.15.255.255", 0);
	R("172.16.0.0", CONF_RANGE_PRIVATE);
	R("172.31.255.255", CONF_RANGE_PRIVATE);
	R("172.32.0.0", 0);
	R("192.167.255.255", 0);
	R("192.168.0.0", CONF_RANGE_PRIVATE);
	R("192.168.255.255", CONF_RANGE_PRIVATE);
	R("192.169.0.0", 0);
	R("169.253.255.255", 0);
	R("169.254.0.0", CONF_RANGE_LINK_LOCAL);
	R("169.254.255.255", CONF_RANGE_LINK_LOCAL);
	R("169.255.0.0", 0);
	R("100.63.255.255", 0);
	R("100.64.0.0", CONF_RANGE_CGNAT);
	R("100.127.255.255", CONF_RANGE_CGNAT);
	R("100.128.0.0", 0);
	R("223.255.255.255", 0);
	R("224.0.0.0", CONF_RANGE_MULTICAST);
	R("239.255.255.255", CONF_RANGE_MULTICAST);
	R("240.0.0.0", CONF_RANGE_RESERVED);
	R("255.255.255.255", CONF_RANGE_RESERVED);
	R("0.0.0.0", CONF_RANGE_RESERVED | CONF_RANGE_UNSPECIFIED);
	R("0.0.0.1", CONF_RANGE_RESERVED);
	R("0.255.255.255", CONF_RANGE_RESERVED);
	R("1.0.0.0", 0);
	R("192.0.0.0", CONF_RANGE_RESERVED);
	R("192.0.0.255", CONF_RANGE_RESERVED);
	R("192.0.1.0", 0);
	R("192.0.2.0", CONF_RANGE_RESERVED);
	R("192.0.3.0", 0);
	R("198.17.255.255", 0);
	R("198.18.0.0", CONF_RANGE_RESERVED);
	R("198.19.255.255", CONF_RANGE_RESERVED);
	R("198.20.0.0", 0);
	R("198.51.100.255", CONF_RANGE_RESERVED);
	R("198.51.101.0", 0);
	R("203.0.113.0", CONF_RANGE_RESERVED);
	R("203.0.112.255", 0);
	R("1.1.1.1", 0);
	R("8.8.8.8", 0);
}

static void
test_ranges_v6(void)
{
	R("::1", CONF_RANGE_LOOPBACK);
	R("::2", CONF_RANGE_RESERVED); /* IPv4-compatible 0.0.0.2 */
	R("::", CONF_RANGE_UNSPECIFIED);
	R("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0);
	R("fc00::", CONF_RANGE_PRIVATE);
	R("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", CONF_RANGE_PRIVATE);
	R("fe00::", 0);
	R("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0);
	R("fe80::", CONF_RANGE_LINK_LOCAL);
	R("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", CONF_RANGE_LINK_LOCAL);
	R("fec0::", CONF_RANGE_RESERVED);
	R("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", CONF_RANGE_RESERVED);
	R("ff00::", CONF_RANGE_MULTICAST);
	R("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", CONF_RANGE_MULTICAST);
	R("2001:db8::", CONF_RANGE_RESERVED);
	R("2001:db9::", 0);
	R("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 0);
	R("100::", CONF_RANGE_RESERVED);
	R("100::ffff:ffff:ffff:ffff", CONF_RANGE_RESERVED);
	R("100:0:0:1::", 0);
	R("2606:4700::1111", 0);
	/* IPv6 spellings of IPv4 addresses carry the IPv4 ranges. */
	R("::ffff:127.0.0.1", CONF_RANGE_LOOPBACK);
	R("::ffff:10.1.2.3", CONF_RANGE_PRIVATE);
	R("::ffff:1.1.1.1", 0);
	R("64:ff9b::7f00:1", CONF_RANGE_LOOPBACK);
	R("64:ff9b::a9fe:a9fe", CONF_RANGE_LINK_LOCAL);
	R("64:ff9b::101:101", 0);
	R("64:ff9b:1::1", CONF_RANGE_RESERVED);
	R("2002:c0a8:0101::1", CONF_RANGE_PRIVATE);   /* 6to4 of 192.168.1.1 */
	R("2002:0808:0808::1", 0);
	R("::127.0.0.1", CONF_RANGE_LOOPBACK);       /* IPv4-compatible */
}

static void
test_policy(void)
{
	char why[CONFVAL_WHY_MAX];
	struct conf_cidr allow[2], deny[2];
	struct conf_egress eg = { .deny_ranges = CONF_RANGE_ALL };
	/* The default: every named range. */
	CHECK(!permits(&eg, "127.0.0.1"));
	CHECK(!permits(&eg, "::1"));
	CHECK(!permits(&eg, "::ffff:127.0.0.1"));
	CHECK(!permits(&eg, "64:ff9b::7f00:1"));
	CHECK(!permits(&eg, "10.0.0.1"));
	CHECK(!permits(&eg, "100.64.0.1"));
	CHECK(!permits(&eg, "0.0.0.0"));
	CHECK(!permits(&eg, "::"));
	CHECK(!permits(&eg, "224.0.0.1"));
	CHECK(permits(&eg, "1.1.1.1"));
	CHECK(permits(&eg, "2606:4700::1111"));
	CHECK(permits(&eg, "100.128.0.0"));
	/* Nothing named: everything goes. */
	eg.deny_ranges = 0;
	CHECK(permits(&eg, "127.0.0.1"));
	/* Only unspecified. */
	eg.deny_ranges = CONF_RANGE_UNSPECIFIED;
	CHECK(!permits(&eg, "0.0.0.0") && !permits(&eg, "::") && permits(&eg, "0.0.0.1"));
	/* Explicit deny CIDRs, also through the IPv6 spellings. */
	eg.deny_ranges = 0;
	CHECK(confval_cidr("93.184.216.0/24", &deny[0], why, sizeof why) == 0);
	CHECK(confval_cidr("2001:4860::/32", &deny[1], why, sizeof why) == 0);
	eg.deny = deny;
	eg.ndeny = 2;
	CHECK(!permits(&eg, "93.184.216.34"));
	CHECK(!permits(&eg, "93.184.216.255"));
	CHECK(permits(&eg, "93.184.217.0"));
	CHECK(!permits(&eg, "::ffff:93.184.216.34"));
	CHECK(!permits(&eg, "64:ff9b::5db8:d822"));
	CHECK(!permits(&eg, "2001:4860::8888"));
	CHECK(permits(&eg, "2001:4861::"));
	/* allow wins over named ranges and deny CIDRs, at its own boundary only. */
	eg.deny_ranges = CONF_RANGE_ALL;
	CHECK(confval_cidr("127.0.0.1/32", &allow[0], why, sizeof why) == 0);
	CHECK(confval_cidr("93.184.216.34", &allow[1], why, sizeof why) == 0);
	eg.allow = allow;
	eg.nallow = 2;
	CHECK(permits(&eg, "127.0.0.1"));
	CHECK(!permits(&eg, "127.0.0.2"));
	CHECK(permits(&eg, "::ffff:127.0.0.1"));
	CHECK(!permits(&eg, "::1"));
	CHECK(permits(&eg, "93.184.216.34"));
	CHECK(!permits(&eg, "93.184.216.35"));
	/* Another family is never reached. */
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	CHECK(!egress_permits(&eg, (struct sockaddr *)&un));
}

int
main(void)
{
	test_ranges_v4();
	test_ranges_v6();
	test_policy();
	return check_summary();
}
