/*
 * r-vpn padding (rvpn-protocol.md §7.2): data || fill || u16_be(fill_len), the total
 * rounded up to a multiple of 1024 and capped at 16384. Used on every path except /dns.
 * In place over the caller's buffer, so the engine writes data once, pads, then seals.
 */
#ifndef SY_PROTO_RVPN_PAD_H
#define SY_PROTO_RVPN_PAD_H

#include <stddef.h>
#include <stdint.h>

#define RVPN_PAD_BLOCK    1024
#define RVPN_PAD_MAX      16384                /* padded total never exceeds this */
#define RVPN_PAD_MAX_DATA (RVPN_PAD_MAX - 2)  /* 16382: longer data cannot be padded */

enum rvpn_pad_fill {
	RVPN_PAD_RANDOM = 0, /* CSPRNG bytes (what we send) */
	RVPN_PAD_ZERO        /* zeros (the reference's empty message; the vectors) */
};

/* The padded length of len data bytes, or 0 when len is over RVPN_PAD_MAX_DATA. */
size_t rvpn_pad_len(size_t len);

/*
 * Pads buf, which holds len data bytes and has room for cap: writes the fill and the
 * trailer. Returns the padded length, or -1 when len is over the limit, cap is short or
 * the RNG fails.
 */
int rvpn_pad(uint8_t *buf, size_t cap, size_t len, enum rvpn_pad_fill fill);

struct rvpn_cctx;

/* rvpn_pad with a random fill from cc's keystream (rvpn_cctx.h), the engine's form: a
 * fraction of the cost of a DRBG call per message. */
int rvpn_pad_cc(uint8_t *buf, size_t cap, size_t len, struct rvpn_cctx *cc);

/*
 * Unpads a received plaintext (untrusted): sets *data_len to the data length in front.
 * Returns 0, or -1 when len is under 2 or the trailer claims more fill than there is.
 */
int rvpn_unpad(const uint8_t *buf, size_t len, size_t *data_len);

#endif
