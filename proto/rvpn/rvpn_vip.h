/*
 * The VirtualIp message of /api/v1/ws/tun (rvpn-protocol.md §7.5): padded JSON, payload
 * type 0x0D, the server's first message. The server emits it; the VPN client (next
 * issue) parses it. Pure; addresses are fixed-size text copies.
 */
#ifndef SY_PROTO_RVPN_VIP_H
#define SY_PROTO_RVPN_VIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RVPN_VIP_MAX      2048 /* bytes of the JSON */
#define RVPN_VIP_MAX_DNS  4    /* dns_servers entries */
#define RVPN_VIP_ADDR_LEN 46   /* INET6_ADDRSTRLEN */

struct rvpn_vip {
	char     ipv4[RVPN_VIP_ADDR_LEN];
	bool     has_ipv6;            /* always false in the reference */
	char     ipv6[RVPN_VIP_ADDR_LEN];
	char     gateway_ip[RVPN_VIP_ADDR_LEN];
	size_t   ndns;
	char     dns_servers[RVPN_VIP_MAX_DNS][RVPN_VIP_ADDR_LEN];
	uint32_t mtu;
};

/* Emits the JSON in the reference's member order. Returns the length or -1. */
int rvpn_vip_emit(char *out, size_t cap, const struct rvpn_vip *v);
/* Parses it (untrusted, client role); all members required, ipv6 may be null. */
int rvpn_vip_parse(const uint8_t *buf, size_t len, struct rvpn_vip *v);

#endif
