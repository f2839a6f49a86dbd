/*
 * The authority-form request-target of an HTTP CONNECT (RFC 9110 §9.3.6, RFC 9112 §3.2.3):
 * "host:port" or "[IPv6]:port", as switchyard-client's HTTP CONNECT listener reads it
 * before it asks the VPN for a flow. Pure: a view into the caller's bytes, no allocation.
 */
#ifndef SY_PROTO_AUTHORITY_H
#define SY_PROTO_AUTHORITY_H

#include <stddef.h>
#include <stdint.h>

#define AUTHORITY_HOST_MAX 255 /* the VPN's CreateFlow target limit (rvpn_ctl.h), brackets included */

/* A parsed authority: host is s[host_off .. +host_len), brackets kept for IPv6. */
struct authority {
	size_t   host_off;
	size_t   host_len;
	uint16_t port;
};

/*
 * Parses s[0 .. len) (untrusted). Accepts host ":" port where port is 1 to 5 digits with a
 * value 1..65535, and host is either a name or IPv4 literal of bytes 0x21-0x7e without
 * ':', '[', ']', '/', '@' (1..AUTHORITY_HOST_MAX), or "[" hex digits, ':' and '.' "]".
 * Returns 0, or -1 for anything else (no port, userinfo, a path, empty host, port 0).
 */
int authority_parse(const uint8_t *s, size_t len, struct authority *a);

#endif
