/*
 * The VPN's egress policy (DESIGN.md §3 `vpn.egress`, rvpn-protocol.md §12 #9): may a VPN
 * client make the server connect to this address? Named ranges (loopback, private,
 * link_local, cgnat, multicast, reserved, unspecified) and CIDRs are denied, `allow` CIDRs
 * win over every deny. An IPv6 address that carries an IPv4 one (IPv4-mapped ::ffff:0:0/96,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by that IPv4 address too, so a denied IPv4
 * range cannot be reached through its IPv6 spelling. Pure: no sockets, no allocation; the
 * engine calls it on IP literals and on every resolved address before it connects.
 */
#ifndef SY_CORE_EGRESS_H
#define SY_CORE_EGRESS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "core/conf-t.h"

/* The CONF_RANGE_* bits of the named ranges sa lies in (of the address itself; for an
 * IPv6 address that embeds an IPv4 one, also of that IPv4 address). 0 for other
 * families. */
unsigned egress_ranges(const struct sockaddr *sa);

/* True when eg lets a client reach sa (AF_INET or AF_INET6; other families: false). */
bool egress_permits(const struct conf_egress *eg, const struct sockaddr *sa);

#endif
