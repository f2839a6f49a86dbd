/*
 * The first message on the legacy /api/v1/ws path (rvpn-protocol.md §7.3): the relay
 * target, u8 host_len || host || u16_be port, padded like any data message. Both roles:
 * the server decodes it, the VPN client encodes it. Pure; the host is a view.
 */
#ifndef SY_PROTO_RVPN_TARGET_H
#define SY_PROTO_RVPN_TARGET_H

#include <stddef.h>
#include <stdint.h>

#define RVPN_TARGET_MAX_HOST 253 /* §7.3: host is 1-253 bytes */

/* A decoded target: host is buf[host_off .. host_off + host_len). */
struct rvpn_target {
	size_t   host_off;
	size_t   host_len;
	uint16_t port;
};

/*
 * Decodes the unpadded data of message 0 (untrusted). Returns 0, or -1 when the host is
 * empty, over RVPN_TARGET_MAX_HOST, holds a byte outside printable ASCII, or the data is
 * not exactly 1 + host_len + 2 bytes.
 */
int rvpn_target_decode(const uint8_t *buf, size_t len, struct rvpn_target *t);

/* Encodes a target; returns its length or -1 (bad host, cap short). */
int rvpn_target_encode(uint8_t *out, size_t cap, const char *host, size_t host_len,
    uint16_t port);

#endif
