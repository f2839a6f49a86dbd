/*
 * r-vpn mux frames (rvpn-protocol.md §7.4): the inner plaintext of a /mux or /tun message
 * (after unpadding) is one or more frames u32_be flow_id || u16_be len || payload. Flow 0
 * carries a bincode ControlMessage (rvpn_ctl.h). Frames never span messages (one message
 * is one whole plaintext), so the decoder walks one buffer; it never reads past it.
 */
#ifndef SY_PROTO_RVPN_MUX_H
#define SY_PROTO_RVPN_MUX_H

#include <stddef.h>
#include <stdint.h>

#define RVPN_MUX_HDR_LEN   6
#define RVPN_MUX_MAX_DATA  8190 /* payload per data frame the peers read: the most we accept */
/*
 * Payload of the full data frames we send: the largest whose one-frame message pads to exactly
 * 8 KiB (6 + 8184 + 2 = 8192, §7.2). An 8190-byte frame needs 1018 bytes of padding to reach
 * 9216, so every bulk byte cost 12.4 % more to seal, to encrypt again in TLS and to send;
 * 6 bytes less payload per frame costs 2 bytes of padding instead. Checked in rvpn_mux.c.
 */
#define RVPN_MUX_SEND_DATA 8184
#define RVPN_MUX_CONTROL   0    /* flow id of control frames */

/* A frame: payload is buf[off .. off + len) of the buffer passed to rvpn_mux_next. */
struct rvpn_mux_frame {
	uint32_t flow_id;
	size_t   off;
	size_t   len;
};

/*
 * Verdicts of rvpn_mux_next:
 *
 *   RVPN_MUX_FRAME      one frame decoded, *pos moved past it
 *   RVPN_MUX_END        *pos is at the end of the buffer (no frames left)
 *   RVPN_MUX_ERR_SHORT  a frame header or payload runs past the end (a truncated
 *                       message: the whole message is refused, frames before it included)
 * The payload length is not capped on receive beyond the message itself: the mobile
 * clients batch and TUN packets may be larger than our send limit.
 */
enum rvpn_mux_verdict {
	RVPN_MUX_FRAME = 0,
	RVPN_MUX_END,
	RVPN_MUX_ERR_SHORT
};

/* Decodes the frame at *pos in buf[0 .. len) (untrusted). */
enum rvpn_mux_verdict rvpn_mux_next(const uint8_t *buf, size_t len, size_t *pos,
    struct rvpn_mux_frame *f);

/* Checks a whole plaintext: 0 when it is a sequence of complete frames (at least one). */
int rvpn_mux_check(const uint8_t *buf, size_t len, size_t *nframes);

/*
 * Writes one frame's header for a payload of len bytes; the caller puts the payload at
 * out + RVPN_MUX_HDR_LEN. Returns RVPN_MUX_HDR_LEN, or -1 when len is over 65535 or cap
 * is short.
 */
int rvpn_mux_header(uint8_t *out, size_t cap, uint32_t flow_id, size_t len);

#endif
