/*
 * The VPN egress policy (see egress.h). The named ranges are tables of prefixes, one per
 * family, each tagged with its CONF_RANGE_* bit; an address is first judged as itself,
 * then, when it is an IPv6 spelling of an IPv4 address (mapped, NAT64, 6to4), as that IPv4
 * address as well. The tables follow the IANA special-purpose registries (RFC 6890 and
 * its updates); "reserved" gathers the ranges that no public host may use.
 */
#include "core/egress.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/confval.h"

/* One named prefix: address bytes (network order), prefix length, range bit. */
struct egress_net {
	uint8_t  addr[16];
	uint8_t  prefix;
	unsigned range;
};

static const struct egress_net egress_v4[] = {
	{ { 127 }, 8, CONF_RANGE_LOOPBACK },
	{ { 10 }, 8, CONF_RANGE_PRIVATE },
	{ { 172, 16 }, 12, CONF_RANGE_PRIVATE },
	{ { 192, 168 }, 16, CONF_RANGE_PRIVATE },
	{ { 169, 254 }, 16, CONF_RANGE_LINK_LOCAL },
	{ { 100, 64 }, 10, CONF_RANGE_CGNAT },
	{ { 224 }, 4, CONF_RANGE_MULTICAST },
	{ { 0 }, 8, CONF_RANGE_RESERVED },              /* "this network" */
	{ { 192, 0, 0 }, 24, CONF_RANGE_RESERVED },     /* IETF protocol assignments */
	{ { 192, 0, 2 }, 24, CONF_RANGE_RESERVED },     /* TEST-NET-1 */
	{ { 198, 18 }, 15, CONF_RANGE_RESERVED },       /* benchmarking */
	{ { 198, 51, 100 }, 24, CONF_RANGE_RESERVED },  /* TEST-NET-2 */
	{ { 203, 0, 113 }, 24, CONF_RANGE_RESERVED },   /* TEST-NET-3 */
	{ { 240 }, 4, CONF_RANGE_RESERVED },            /* future use and broadcast */
	{ { 0, 0, 0, 0 }, 32, CONF_RANGE_UNSPECIFIED },
};

static const struct egress_net egress_v6[] = {
	{ { [15] = 1 }, 128, CONF_RANGE_LOOPBACK },
	{ { 0xfc }, 7, CONF_RANGE_PRIVATE },                      /* unique local */
	{ { 0xfe, 0x80 }, 10, CONF_RANGE_LINK_LOCAL },
	{ { 0xff }, 8, CONF_RANGE_MULTICAST },
	{ { 0xfe, 0xc0 }, 10, CONF_RANGE_RESERVED },              /* site-local (deprecated) */
	{ { 0x01, 0x00 }, 64, CONF_RANGE_RESERVED },              /* discard-only */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, CONF_RANGE_RESERVED },  /* documentation */
	{ { 0x3f, 0xff }, 20, CONF_RANGE_RESERVED },              /* documentation (2024) */
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, CONF_RANGE_RESERVED }, /* local NAT64 */
	{ { 0 }, 128, CONF_RANGE_UNSPECIFIED },
};

/* True when the first prefix bits of a and b agree. */
static bool
egress_prefix(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

/* Range bits of addr in one table. */
static unsigned
egress_table(const struct egress_net *t, size_t n, const uint8_t *addr)
{
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++)
		if (egress_prefix(t[i].addr, addr, t[i].prefix))
			bits |= t[i].range;
	return bits;
}

/* The IPv4 address an IPv6 one carries (mapped, NAT64 well-known prefix, 6to4), if any. */
static bool
egress_embedded_v4(const uint8_t *a6, uint8_t v4[4])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	if (memcmp(a6, mapped, 12) == 0 || memcmp(a6, nat64, 12) == 0) {
		memcpy(v4, a6 + 12, 4);
		return true;
	}
	if (a6[0] == 0x20 && a6[1] == 0x02) {
		memcpy(v4, a6 + 2, 4);
		return true;
	}
	/* IPv4-compatible ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1), but not :: and ::1. */
	static const uint8_t zero[12];
	if (memcmp(a6, zero, 12) == 0 && ((a6[12] | a6[13] | a6[14]) != 0 || a6[15] > 1)) {
		memcpy(v4, a6 + 12, 4);
		return true;
	}
	return false;
}

/* Named ranges of an address (see egress.h). */
unsigned
egress_ranges(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		return egress_table(egress_v4, sizeof egress_v4 / sizeof egress_v4[0],
		    (const uint8_t *)&sin->sin_addr);
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	unsigned bits = egress_table(egress_v6, sizeof egress_v6 / sizeof egress_v6[0], a);
	uint8_t v4[4];
	if (egress_embedded_v4(a, v4))
		bits |= egress_table(egress_v4, sizeof egress_v4 / sizeof egress_v4[0], v4);
	return bits;
}

/* The policy (see egress.h). */
bool
egress_permits(const struct conf_egress *eg, const struct sockaddr *sa)
{
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return false;
	/* The IPv4 form of an IPv6 spelling, for the CIDR lists. */
	struct sockaddr_in alt = { .sin_family = AF_INET };
	bool has_alt = sa->sa_family == AF_INET6 &&
	    egress_embedded_v4(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr,
	    (uint8_t *)&alt.sin_addr);
	if (confval_cidrs_match(eg->allow, eg->nallow, sa) ||
	    (has_alt && confval_cidrs_match(eg->allow, eg->nallow, (struct sockaddr *)&alt)))
		return true;
	if ((egress_ranges(sa) & eg->deny_ranges) != 0)
		return false;
	if (confval_cidrs_match(eg->deny, eg->ndeny, sa) ||
	    (has_alt && confval_cidrs_match(eg->deny, eg->ndeny, (struct sockaddr *)&alt)))
		return false;
	return true;
}
