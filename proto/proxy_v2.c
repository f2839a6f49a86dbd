/*
 * PROXY protocol v2 decoder and encoder, written from proxy-protocol.txt §2.2. The decoder
 * runs over the caller's one contiguous buffer as it grows: it looks at no more than the
 * fixed 16 bytes until the whole header is there, then walks the address block and the
 * TLVs with explicit bounds. It must never read past 16 + len, never trust a length it
 * has not checked against what is present, never allocate and never log.
 *
 * Wire format (all integers big-endian):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +---------------------------------------------------------------+
 *   |         signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A         |
 *   |                          (12 bytes)                           |
 *   +-------+-------+-------+-------+-------------------------------+
 *   |  ver  |  cmd  |  fam  | proto |              len              |
 *   |  =2   | 0 / 1 | 0..3  | 0..2  |   bytes after these 16        |
 *   +-------+-------+-------+-------+-------------------------------+
 *   | address block: INET  src4 dst4 sport dport        (12 bytes)  |
 *   |                INET6 src16 dst16 sport dport      (36 bytes)  |
 *   |                UNIX  src108 dst108                (216 bytes) |
 *   |                UNSPEC nothing                                 |
 *   +---------------------------------------------------------------+
 *   | TLVs until 16 + len: type (1) | length (2) | value (length)   |
 *   |   0x01 ALPN  0x02 AUTHORITY  0x03 CRC32C (4 bytes)  0x04 NOOP  |
 *   |   0x05 UNIQUE_ID (<= 128)  0x20 SSL: client (1) verify (4)    |
 *   |        then sub-TLVs (0x21 version, 0x22 CN, ...)             |
 *   +---------------------------------------------------------------+
 *
 * CRC32C covers the whole 16 + len bytes with the 4 value bytes of the CRC TLV zeroed.
 */
#include <string.h>

#include "proto/crc32c.h"
#include "proto/proxy_v2.h"
#include "proto/rd.h"

#define V2_VERSION   0x2
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1

/*
 * Maps the family/transport byte to its address block size, family and transport.
 * Returns -1 for the bytes the spec says receivers must reject.
 */
static int
v2_family(uint8_t b, enum proxy_family *fam, enum proxy_transport *tr)
{
	unsigned f = b >> 4, t = b & 0x0f;

	if (b == 0x00) {
		*fam = PROXY_FAM_UNSPEC;
		*tr = PROXY_TRANS_UNSPEC;
		return 0;
	}
	if (t != 1 && t != 2)
		return -1;
	*tr = t == 1 ? PROXY_TRANS_STREAM : PROXY_TRANS_DGRAM;
	switch (f) {
	case 1:
		*fam = PROXY_FAM_INET;
		return PROXY_V2_ADDR_INET;
	case 2:
		*fam = PROXY_FAM_INET6;
		return PROXY_V2_ADDR_INET6;
	case 3:
		*fam = PROXY_FAM_UNIX;
		return PROXY_V2_ADDR_UNIX;
	default:
		return -1;
	}
}

/* Copies the address block (whose size the caller checked) into a. */
static void
v2_read_addr(const uint8_t *p, struct proxy_addr *a)
{
	switch (a->family) {
	case PROXY_FAM_INET:
		memcpy(a->src, p, 4);
		memcpy(a->dst, p + 4, 4);
		a->sport = rd_u16be(p + 8);
		a->dport = rd_u16be(p + 10);
		break;
	case PROXY_FAM_INET6:
		memcpy(a->src, p, 16);
		memcpy(a->dst, p + 16, 16);
		a->sport = rd_u16be(p + 32);
		a->dport = rd_u16be(p + 34);
		break;
	case PROXY_FAM_UNIX:
		memcpy(a->src_path, p, PROXY_UNIX_PATH_LEN);
		memcpy(a->dst_path, p + PROXY_UNIX_PATH_LEN, PROXY_UNIX_PATH_LEN);
		break;
	case PROXY_FAM_UNSPEC:
		break;
	}
}

/* Records a view once; a second TLV of the same type is refused (no smuggled values). */
static bool
v2_set_view(struct proxy_v2_view *v, size_t off, size_t len)
{
	if (v->present)
		return false;
	v->present = true;
	v->off = (uint16_t)off;
	v->len = (uint16_t)len;
	return true;
}

/* Walks the SSL TLV's sub-TLVs in buf[off .. end); returns false when one overruns. */
static bool
v2_walk_ssl(const uint8_t *buf, size_t off, size_t end, struct proxy_v2_result *r)
{
	r->ssl_client = buf[off];
	r->ssl_verify = rd_u32be(buf + off + 1);
	off += PROXY_V2_SSL_HDR;
	while (off < end) {
		if (end - off < PROXY_V2_TLV_HDR)
			return false;
		uint8_t type = buf[off];
		size_t vlen = rd_u16be(buf + off + 1);
		size_t voff = off + PROXY_V2_TLV_HDR;
		if (vlen > end - voff)
			return false;
		if (type == PROXY_V2_SUBTYPE_SSL_VERSION &&
		    !v2_set_view(&r->ssl_version, voff, vlen))
			return false;
		if (type == PROXY_V2_SUBTYPE_SSL_CN && !v2_set_view(&r->ssl_cn, voff, vlen))
			return false;
		off = voff + vlen;
	}
	return true;
}

/*
 * Walks the TLVs in buf[off .. end). Returns DONE, ERR_TLV or ERR_CRC; *crc_off is the
 * offset of the CRC32C value, or 0 when there is none.
 */
static enum proxy_v2_verdict
v2_walk_tlvs(const uint8_t *buf, size_t off, size_t end, struct proxy_v2_result *r,
    size_t *crc_off)
{
	*crc_off = 0;
	while (off < end) {
		if (end - off < PROXY_V2_TLV_HDR)
			return PROXY_V2_ERR_TLV;
		uint8_t type = buf[off];
		size_t vlen = rd_u16be(buf + off + 1);
		size_t voff = off + PROXY_V2_TLV_HDR;
		if (vlen > end - voff)
			return PROXY_V2_ERR_TLV;
		switch (type) {
		case PROXY_V2_TYPE_ALPN:
			if (!v2_set_view(&r->alpn, voff, vlen))
				return PROXY_V2_ERR_TLV;
			break;
		case PROXY_V2_TYPE_AUTHORITY:
			if (!v2_set_view(&r->authority, voff, vlen))
				return PROXY_V2_ERR_TLV;
			break;
		case PROXY_V2_TYPE_CRC32C:
			if (vlen != 4 || *crc_off != 0)
				return PROXY_V2_ERR_TLV;
			*crc_off = voff;
			break;
		case PROXY_V2_TYPE_UNIQUE_ID:
			if (vlen > PROXY_V2_UNIQUE_ID_MAX ||
			    !v2_set_view(&r->unique_id, voff, vlen))
				return PROXY_V2_ERR_TLV;
			break;
		case PROXY_V2_TYPE_SSL:
			if (vlen < PROXY_V2_SSL_HDR || !v2_set_view(&r->ssl, voff, vlen) ||
			    !v2_walk_ssl(buf, voff, voff + vlen, r))
				return PROXY_V2_ERR_TLV;
			break;
		default:
			/* NOOP, NETNS, custom and future types: skipped. */
			break;
		}
		off = voff + vlen;
	}
	return PROXY_V2_DONE;
}

/* Recomputes the CRC32C of buf[0 .. total) with the 4 bytes at crc_off taken as zero. */
static bool
v2_crc_ok(const uint8_t *buf, size_t total, size_t crc_off)
{
	static const uint8_t zero[4] = { 0, 0, 0, 0 };
	uint32_t crc;

	crc = crc32c_update(0, buf, crc_off);
	crc = crc32c_update(crc, zero, sizeof zero);
	crc = crc32c_update(crc, buf + crc_off + 4, total - crc_off - 4);
	return crc == rd_u32be(buf + crc_off);
}

/* Decodes a v2 header; see proxy_v2.h for the verdicts. */
enum proxy_v2_verdict
proxy_v2_parse(const uint8_t *buf, size_t len, struct proxy_v2_result *r)
{
	enum proxy_v2_verdict v = PROXY_V2_MORE;
	enum proxy_family fam;
	enum proxy_transport tr;
	size_t n, total, crc_off;
	unsigned cmd;
	int asize;

	memset(r, 0, sizeof *r);
	n = len < PROXY_V2_SIG_LEN ? len : PROXY_V2_SIG_LEN;
	for (size_t i = 0; i < n; i++)
		if (buf[i] != proxy_v2_sig[i])
			return PROXY_V2_ERR_NOT_PROXY;
	if (len <= PROXY_V2_SIG_LEN)
		return PROXY_V2_MORE;
	if (buf[12] >> 4 != V2_VERSION)
		return PROXY_V2_ERR_VERSION;
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return PROXY_V2_ERR_COMMAND;
	if (len < 14)
		return PROXY_V2_MORE;
	if ((asize = v2_family(buf[13], &fam, &tr)) == -1)
		return PROXY_V2_ERR_FAMILY;
	if (len < PROXY_V2_HDR_LEN)
		return PROXY_V2_MORE;
	total = PROXY_V2_HDR_LEN + (size_t)rd_u16be(buf + 14);
	if (total > PROXY_V2_MAX_HEADER)
		return PROXY_V2_ERR_TOO_LARGE;
	if (cmd == V2_CMD_PROXY && total - PROXY_V2_HDR_LEN < (size_t)asize)
		return PROXY_V2_ERR_SHORT_ADDRESS;
	r->hdr_len = total;
	if (len < total)
		return PROXY_V2_MORE;

	if (cmd == V2_CMD_LOCAL) {
		/* Use the real endpoints; the block is only checked when it is well formed. */
		r->addr.local = true;
		if (total - PROXY_V2_HDR_LEN < (size_t)asize)
			return PROXY_V2_DONE;
	} else {
		r->addr.family = fam;
		r->addr.transport = tr;
		v2_read_addr(buf + PROXY_V2_HDR_LEN, &r->addr);
	}
	v = v2_walk_tlvs(buf, PROXY_V2_HDR_LEN + (size_t)asize, total, r, &crc_off);
	if (v != PROXY_V2_DONE)
		goto fail;
	if (crc_off != 0) {
		if (!v2_crc_ok(buf, total, crc_off)) {
			v = PROXY_V2_ERR_CRC;
			goto fail;
		}
		r->crc_checked = true;
	}
	return PROXY_V2_DONE;

fail:
	/* Nothing from a refused header may be used: keep only its length. */
	memset(r, 0, sizeof *r);
	r->hdr_len = total;
	return v;
}

/* Stable ids of verdicts, used as metric labels. */
const char *
proxy_v2_verdict_str(enum proxy_v2_verdict v)
{
	switch (v) {
	case PROXY_V2_DONE:
		return "done";
	case PROXY_V2_MORE:
		return "more";
	case PROXY_V2_ERR_NOT_PROXY:
		return "not_proxy";
	case PROXY_V2_ERR_VERSION:
		return "version";
	case PROXY_V2_ERR_COMMAND:
		return "command";
	case PROXY_V2_ERR_FAMILY:
		return "family";
	case PROXY_V2_ERR_TOO_LARGE:
		return "too_large";
	case PROXY_V2_ERR_SHORT_ADDRESS:
		return "short_address";
	case PROXY_V2_ERR_TLV:
		return "tlv";
	case PROXY_V2_ERR_CRC:
		return "crc";
	case PROXY_V2_VERDICT_COUNT:
		break;
	}
	return "invalid";
}

/* Writes one TLV at out and returns the bytes written. */
static size_t
v2_put_tlv(uint8_t *out, uint8_t type, const uint8_t *val, size_t len)
{
	out[0] = type;
	wr_u16be(out + 1, (uint16_t)len);
	if (len > 0)
		memcpy(out + PROXY_V2_TLV_HDR, val, len);
	return PROXY_V2_TLV_HDR + len;
}

/* Writes a v2 header; sizes are checked before the first byte is written. */
int
proxy_v2_encode(uint8_t *out, size_t cap, const struct proxy_addr *a,
    const struct proxy_v2_tlvs *t)
{
	static const uint8_t zero[4] = { 0, 0, 0, 0 };
	uint8_t fam = 0x00, cmd = V2_CMD_PROXY;
	size_t asize = 0, total, off, crc_off = 0;
	uint8_t proto = a->transport == PROXY_TRANS_DGRAM ? 0x2 : 0x1;

	if (a->local) {
		cmd = V2_CMD_LOCAL;
	} else {
		switch (a->family) {
		case PROXY_FAM_UNSPEC:
			break;
		case PROXY_FAM_INET:
			fam = (uint8_t)(0x10 | proto);
			asize = PROXY_V2_ADDR_INET;
			break;
		case PROXY_FAM_INET6:
			fam = (uint8_t)(0x20 | proto);
			asize = PROXY_V2_ADDR_INET6;
			break;
		case PROXY_FAM_UNIX:
			fam = (uint8_t)(0x30 | proto);
			asize = PROXY_V2_ADDR_UNIX;
			break;
		default:
			return -1;
		}
	}

	total = PROXY_V2_HDR_LEN + asize;
	if (t != NULL) {
		if ((t->authority != NULL && t->authority_len > PROXY_V2_MAX_HEADER) ||
		    (t->alpn != NULL && t->alpn_len > PROXY_V2_MAX_HEADER) ||
		    (t->unique_id != NULL && t->unique_id_len > PROXY_V2_UNIQUE_ID_MAX))
			return -1;
		if (t->authority != NULL)
			total += PROXY_V2_TLV_HDR + t->authority_len;
		if (t->alpn != NULL)
			total += PROXY_V2_TLV_HDR + t->alpn_len;
		if (t->unique_id != NULL)
			total += PROXY_V2_TLV_HDR + t->unique_id_len;
		if (t->crc32c)
			total += PROXY_V2_TLV_HDR + 4;
	}
	if (total > PROXY_V2_MAX_HEADER || total > cap)
		return -1;

	memcpy(out, proxy_v2_sig, PROXY_V2_SIG_LEN);
	out[12] = (uint8_t)(V2_VERSION << 4 | cmd);
	out[13] = fam;
	wr_u16be(out + 14, (uint16_t)(total - PROXY_V2_HDR_LEN));
	off = PROXY_V2_HDR_LEN;
	switch (fam >> 4) {
	case 1:
		memcpy(out + off, a->src, 4);
		memcpy(out + off + 4, a->dst, 4);
		wr_u16be(out + off + 8, a->sport);
		wr_u16be(out + off + 10, a->dport);
		break;
	case 2:
		memcpy(out + off, a->src, 16);
		memcpy(out + off + 16, a->dst, 16);
		wr_u16be(out + off + 32, a->sport);
		wr_u16be(out + off + 34, a->dport);
		break;
	case 3:
		memcpy(out + off, a->src_path, PROXY_UNIX_PATH_LEN);
		memcpy(out + off + PROXY_UNIX_PATH_LEN, a->dst_path, PROXY_UNIX_PATH_LEN);
		break;
	}
	off += asize;
	if (t != NULL) {
		if (t->authority != NULL)
			off += v2_put_tlv(out + off, PROXY_V2_TYPE_AUTHORITY, t->authority,
			    t->authority_len);
		if (t->alpn != NULL)
			off += v2_put_tlv(out + off, PROXY_V2_TYPE_ALPN, t->alpn, t->alpn_len);
		if (t->unique_id != NULL)
			off += v2_put_tlv(out + off, PROXY_V2_TYPE_UNIQUE_ID, t->unique_id,
			    t->unique_id_len);
		if (t->crc32c) {
			crc_off = off + PROXY_V2_TLV_HDR;
			off += v2_put_tlv(out + off, PROXY_V2_TYPE_CRC32C, zero, sizeof zero);
			/* Last, over the finished header with the field still zero. */
			wr_u32be(out + crc_off, crc32c(out, off));
		}
	}
	return (int)off;
}
