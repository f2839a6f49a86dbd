/*
 * Padding of rvpn_pad.h:
 *
 *   +----------------+-------------------------+------------------+
 *   | data (len)     | fill (padlen bytes)     | u16_be(padlen)   |
 *   +----------------+-------------------------+------------------+
 *   total = ceil((len + 2) / 1024) * 1024, at most 16384
 *
 * The unpadder accepts any total (the iOS batcher pads without the cap) as long as the
 * trailer fits; it never reads outside buf[0 .. len).
 */
#include "proto/rvpn/rvpn_pad.h"

#include <openssl/rand.h>
#include <string.h>

#include "proto/rd.h"
#include "proto/rvpn/rvpn_cctx.h"

/* See rvpn_pad.h. */
size_t
rvpn_pad_len(size_t len)
{
	if (len > RVPN_PAD_MAX_DATA)
		return 0;
	return (len + 2 + RVPN_PAD_BLOCK - 1) / RVPN_PAD_BLOCK * RVPN_PAD_BLOCK;
}

/* See rvpn_pad.h. */
int
rvpn_pad(uint8_t *buf, size_t cap, size_t len, enum rvpn_pad_fill fill)
{
	size_t total = rvpn_pad_len(len);

	if (total == 0 || cap < total)
		return -1;
	size_t padlen = total - len - 2;
	if (fill == RVPN_PAD_ZERO)
		memset(buf + len, 0, padlen);
	else if (padlen > 0 && RAND_bytes(buf + len, (int)padlen) != 1)
		return -1;
	wr_u16be(buf + total - 2, (uint16_t)padlen);
	return (int)total;
}

/* See rvpn_pad.h. */
int
rvpn_pad_cc(uint8_t *buf, size_t cap, size_t len, struct rvpn_cctx *cc)
{
	size_t total = rvpn_pad_len(len);

	if (total == 0 || cap < total)
		return -1;
	size_t padlen = total - len - 2;
	if (padlen > 0 && rvpn_cctx_random(cc, buf + len, padlen) != 0)
		return -1;
	wr_u16be(buf + total - 2, (uint16_t)padlen);
	return (int)total;
}

/* See rvpn_pad.h. */
int
rvpn_unpad(const uint8_t *buf, size_t len, size_t *data_len)
{
	if (len < 2)
		return -1;
	size_t padlen = rd_u16be(buf + len - 2);
	if (padlen > len - 2)
		return -1;
	*data_len = len - 2 - padlen;
	return 0;
}
