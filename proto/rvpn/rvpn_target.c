/*
 * Target codec of rvpn_target.h:
 *
 *   +-------------+------------------+----------------+
 *   | host_len u8 | host (host_len)  | port (u16 BE)  |
 *   +-------------+------------------+----------------+
 *
 * The reference falls back to reading a raw IP packet when this does not parse and
 * opens a UDP relay; switchyard does not (it would be an unauthenticated-intent UDP
 * relay): a message that is not a target ends the session.
 */
#include "proto/rvpn/rvpn_target.h"

#include <string.h>

#include "proto/rd.h"

/* True when host is 1..253 bytes of printable ASCII without spaces. */
static int
host_ok(const uint8_t *h, size_t n)
{
	if (n == 0 || n > RVPN_TARGET_MAX_HOST)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (h[i] < 0x21 || h[i] > 0x7e)
			return 0;
	return 1;
}

/* See rvpn_target.h. */
int
rvpn_target_decode(const uint8_t *buf, size_t len, struct rvpn_target *t)
{
	if (len < 1)
		return -1;
	size_t n = buf[0];
	if (len - 1 < n || len - 1 - n != 2 || !host_ok(buf + 1, n))
		return -1;
	t->host_off = 1;
	t->host_len = n;
	t->port = rd_u16be(buf + 1 + n);
	return 0;
}

/* See rvpn_target.h. */
int
rvpn_target_encode(uint8_t *out, size_t cap, const char *host, size_t host_len, uint16_t port)
{
	if (!host_ok((const uint8_t *)host, host_len) || cap < host_len + 3)
		return -1;
	out[0] = (uint8_t)host_len;
	memcpy(out + 1, host, host_len);
	wr_u16be(out + 1 + host_len, port);
	return (int)(host_len + 3);
}
