/*
 * Mux frame codec of rvpn_mux.h:
 *
 *   +-------------------+-------------+-----------------+
 *   | flow_id (u32 BE)  | len (u16 BE)| payload (len)   |
 *   +-------------------+-------------+-----------------+   repeated to the end
 *
 * Big-endian, unlike the bincode inside flow 0 (§11 gotcha 6).
 */
#include "proto/rvpn/rvpn_mux.h"

#include "proto/rd.h"
#include "proto/rvpn/rvpn_pad.h"

/* A full frame we send, its header and the pad's 2-byte length fill 8 padding blocks. */
_Static_assert(RVPN_MUX_HDR_LEN + RVPN_MUX_SEND_DATA + 2 == 8 * RVPN_PAD_BLOCK,
    "RVPN_MUX_SEND_DATA must pad to a whole number of blocks");
_Static_assert(RVPN_MUX_SEND_DATA <= RVPN_MUX_MAX_DATA, "the peers read at most 8190");

/* See rvpn_mux.h. */
enum rvpn_mux_verdict
rvpn_mux_next(const uint8_t *buf, size_t len, size_t *pos, struct rvpn_mux_frame *f)
{
	size_t off = *pos;

	if (off >= len)
		return RVPN_MUX_END;
	if (len - off < RVPN_MUX_HDR_LEN)
		return RVPN_MUX_ERR_SHORT;
	size_t n = rd_u16be(buf + off + 4);
	if (len - off - RVPN_MUX_HDR_LEN < n)
		return RVPN_MUX_ERR_SHORT;
	f->flow_id = rd_u32be(buf + off);
	f->off = off + RVPN_MUX_HDR_LEN;
	f->len = n;
	*pos = f->off + n;
	return RVPN_MUX_FRAME;
}

/* See rvpn_mux.h. */
int
rvpn_mux_check(const uint8_t *buf, size_t len, size_t *nframes)
{
	struct rvpn_mux_frame f;
	enum rvpn_mux_verdict v;
	size_t pos = 0;

	*nframes = 0;
	while ((v = rvpn_mux_next(buf, len, &pos, &f)) == RVPN_MUX_FRAME)
		(*nframes)++;
	return v == RVPN_MUX_END && *nframes > 0 ? 0 : -1;
}

/* See rvpn_mux.h. */
int
rvpn_mux_header(uint8_t *out, size_t cap, uint32_t flow_id, size_t len)
{
	if (len > UINT16_MAX || cap < RVPN_MUX_HDR_LEN)
		return -1;
	wr_u32be(out, flow_id);
	wr_u16be(out + 4, (uint16_t)len);
	return RVPN_MUX_HDR_LEN;
}
