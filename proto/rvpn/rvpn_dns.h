/*
 * The /api/v1/ws/dns messages (rvpn-protocol.md §7.6): unpadded JSON DnsQuery (type 0x08,
 * client to server) and DnsResponse (type 0x09, server to client). Both roles: the server
 * parses queries and emits responses; the client emits queries and parses responses.
 * Whole-message parsers over the JSON reader (rvpn_json.h); any member order, unknown
 * members ignored, duplicates refused. Pure: no allocation.
 */
#ifndef SY_PROTO_RVPN_DNS_H
#define SY_PROTO_RVPN_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RVPN_DNS_MAX         4096 /* bytes of one DNS message */
#define RVPN_DNS_MAX_DOMAIN  253
#define RVPN_DNS_MAX_ADDRS   16   /* addresses per family in one response */
#define RVPN_DNS_ADDR_LEN    46   /* INET6_ADDRSTRLEN: text of one address with its NUL */
#define RVPN_DNS_MAX_ERROR   128
#define RVPN_DNS_TTL         900  /* v1.3.3+ */
#define RVPN_DNS_TYPE_A      1
#define RVPN_DNS_TYPE_AAAA   28

struct rvpn_dns_query {
	uint64_t query_id;
	uint16_t query_type;
	size_t   domain_len;
	char     domain[RVPN_DNS_MAX_DOMAIN + 1]; /* NUL-terminated copy */
};

struct rvpn_dns_response {
	uint64_t query_id;
	bool     success;
	size_t   n4, n6;
	char     ipv4[RVPN_DNS_MAX_ADDRS][RVPN_DNS_ADDR_LEN];
	char     ipv6[RVPN_DNS_MAX_ADDRS][RVPN_DNS_ADDR_LEN];
	uint32_t ttl;
	bool     has_error;
	char     error[RVPN_DNS_MAX_ERROR + 1];
};

/*
 * Parses a DnsQuery (untrusted). Returns 0, or -1 when it is not one object with query_id
 * (u64), domain (1-253 bytes of printable ASCII) and query_type (u16).
 */
int rvpn_dns_query_parse(const uint8_t *buf, size_t len, struct rvpn_dns_query *q);
/* Emits {"query_id":..,"domain":"..","query_type":..}. Returns the length or -1. */
int rvpn_dns_query_emit(char *out, size_t cap, const struct rvpn_dns_query *q);

/* Emits a DnsResponse exactly as serde_json orders it. Returns the length or -1. */
int rvpn_dns_response_emit(char *out, size_t cap, const struct rvpn_dns_response *r);
/* Parses a DnsResponse (untrusted, client role). Returns 0 or -1. */
int rvpn_dns_response_parse(const uint8_t *buf, size_t len, struct rvpn_dns_response *r);

#endif
