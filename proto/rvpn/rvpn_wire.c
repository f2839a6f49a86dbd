/*
 * bincode RatchetMessage codec of rvpn_wire.h. Wire diagram (§6.4, all integers LE):
 *
 *   +------+--------------+------+------+------+-----------+----------+--------------+
 *   | tag  | dh_public    | n    | pn   | type | nonce     | ct_len   | ct || tag    |
 *   | 0/1  | 32 if tag=1  | u32  | u32  | u8   | 12        | u64      | ct_len bytes |
 *   +------+--------------+------+------+------+-----------+----------+--------------+
 *
 * Bounds are checked in the subtraction form before each read; nothing past len is read.
 */
#include "proto/rvpn/rvpn_wire.h"

#include <string.h>

#include "proto/rvpn/rvpn_le.h"

/* See rvpn_wire.h. */
enum rvpn_wire_verdict
rvpn_wire_decode(const uint8_t *buf, size_t len, struct rvpn_wire_msg *m)
{
	size_t off = 0;

	memset(m, 0, sizeof *m);
	if (len < 1)
		return RVPN_WIRE_ERR_SHORT;
	if (buf[0] > 1)
		return RVPN_WIRE_ERR_OPTION;
	m->dh_present = buf[0] == 1;
	off = 1;
	if (m->dh_present) {
		if (len - off < 32)
			return RVPN_WIRE_ERR_SHORT;
		memcpy(m->dh_public, buf + off, 32);
		off += 32;
	}
	if (len - off < 4 + 4 + 1 + RVPN_WIRE_NONCE_LEN + 8)
		return RVPN_WIRE_ERR_SHORT;
	m->n = rd_u32le(buf + off);
	m->pn = rd_u32le(buf + off + 4);
	m->payload_type = buf[off + 8];
	memcpy(m->nonce, buf + off + 9, RVPN_WIRE_NONCE_LEN);
	uint64_t ct_len = rd_u64le(buf + off + 21);
	off += 29;
	if (ct_len > RVPN_WIRE_MAX_CT)
		return RVPN_WIRE_ERR_TOO_LARGE;
	if (ct_len < RVPN_WIRE_TAG_LEN)
		return RVPN_WIRE_ERR_NO_TAG;
	if (len - off < ct_len)
		return RVPN_WIRE_ERR_SHORT;
	if (len - off > ct_len)
		return RVPN_WIRE_ERR_TRAILING;
	m->ct_off = off;
	m->ct_len = (size_t)ct_len;
	return RVPN_WIRE_OK;
}

/* See rvpn_wire.h. */
const char *
rvpn_wire_verdict_str(enum rvpn_wire_verdict v)
{
	static const char *const names[RVPN_WIRE_VERDICT_COUNT] = {
		[RVPN_WIRE_OK] = "ok",
		[RVPN_WIRE_ERR_SHORT] = "short",
		[RVPN_WIRE_ERR_OPTION] = "option",
		[RVPN_WIRE_ERR_TOO_LARGE] = "too_large",
		[RVPN_WIRE_ERR_NO_TAG] = "no_tag",
		[RVPN_WIRE_ERR_TRAILING] = "trailing",
	};
	return (unsigned)v < RVPN_WIRE_VERDICT_COUNT ? names[v] : "unknown";
}

/* See rvpn_wire.h. */
int
rvpn_wire_encode_header(uint8_t *out, size_t cap, const struct rvpn_wire_msg *m)
{
	size_t need = m->dh_present ? RVPN_WIRE_HDR_LEN : RVPN_WIRE_HDR_NODH, off = 1;

	if (cap < need)
		return -1;
	out[0] = m->dh_present ? 1 : 0;
	if (m->dh_present) {
		memcpy(out + 1, m->dh_public, 32);
		off += 32;
	}
	wr_u32le(out + off, m->n);
	wr_u32le(out + off + 4, m->pn);
	out[off + 8] = m->payload_type;
	memcpy(out + off + 9, m->nonce, RVPN_WIRE_NONCE_LEN);
	wr_u64le(out + off + 21, (uint64_t)m->ct_len);
	return (int)need;
}
