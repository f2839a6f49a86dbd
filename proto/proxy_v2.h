/*
 * PROXY protocol version 2 (the binary header, proxy-protocol.txt §2.2): a bounded decoder
 * over the caller's contiguous, growing buffer and the encoder switchyard uses towards
 * upstreams. Pure: no sockets, no allocation, no logging. TLV values are reported as
 * (offset, length) views into the caller's buffer; the decoder never reads past 16 + len
 * bytes, so whatever follows the header (the TLS ClientHello) stays untouched.
 */
#ifndef SY_PROTO_PROXY_V2_H
#define SY_PROTO_PROXY_V2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proxy.h"

#define PROXY_V2_HDR_LEN       16   /* signature, ver|cmd, fam|proto, u16 len */
#define PROXY_V2_MAX_HEADER    4096 /* 16 + len; larger headers are refused */
#define PROXY_V2_UNIQUE_ID_MAX 128  /* spec §2.2.5 */
#define PROXY_V2_ADDR_INET     12   /* 2 * 4 + 2 * 2 */
#define PROXY_V2_ADDR_INET6    36   /* 2 * 16 + 2 * 2 */
#define PROXY_V2_ADDR_UNIX     216  /* 2 * 108 */
#define PROXY_V2_TLV_HDR       3    /* u8 type, u16 length */
#define PROXY_V2_SSL_HDR       5    /* u8 client, u32 verify, then sub-TLVs */

/* TLV types (spec §2.2). */
#define PROXY_V2_TYPE_ALPN        0x01
#define PROXY_V2_TYPE_AUTHORITY   0x02
#define PROXY_V2_TYPE_CRC32C      0x03
#define PROXY_V2_TYPE_NOOP        0x04
#define PROXY_V2_TYPE_UNIQUE_ID   0x05
#define PROXY_V2_TYPE_SSL         0x20
#define PROXY_V2_SUBTYPE_SSL_VERSION 0x21
#define PROXY_V2_SUBTYPE_SSL_CN      0x22
#define PROXY_V2_TYPE_NETNS       0x30

/*
 * Verdicts of proxy_v2_parse.
 *
 *   PROXY_V2_DONE               a complete, valid header of r->hdr_len bytes
 *   PROXY_V2_MORE               valid so far; call again when the buffer has grown
 *                               (r->hdr_len says how many bytes are needed once 16 are in)
 *   PROXY_V2_ERR_NOT_PROXY      a byte of the 12-byte signature is wrong
 *   PROXY_V2_ERR_VERSION        the version nibble is not 2
 *   PROXY_V2_ERR_COMMAND        the command nibble is neither LOCAL (0) nor PROXY (1)
 *   PROXY_V2_ERR_FAMILY         the family/transport byte is not one of 00 11 12 21 22 31 32
 *   PROXY_V2_ERR_TOO_LARGE      16 + len is over PROXY_V2_MAX_HEADER
 *   PROXY_V2_ERR_SHORT_ADDRESS  PROXY command and len is smaller than the family's address
 *                               block (12, 36 or 216 bytes)
 *   PROXY_V2_ERR_TLV            a TLV or SSL sub-TLV runs past its end, a CRC32C TLV is not
 *                               4 bytes, UNIQUE_ID is over 128 bytes, an SSL TLV is under 5
 *                               bytes, or ALPN/AUTHORITY/CRC32C/UNIQUE_ID/SSL appears twice
 *   PROXY_V2_ERR_CRC            a CRC32C TLV does not match the header
 *
 * The first 16 bytes are checked as soon as they arrive (byte by byte for the signature);
 * the rest only when all 16 + len bytes are there, so a MORE call costs O(1).
 */
enum proxy_v2_verdict {
	PROXY_V2_DONE = 0,
	PROXY_V2_MORE,
	PROXY_V2_ERR_NOT_PROXY,
	PROXY_V2_ERR_VERSION,
	PROXY_V2_ERR_COMMAND,
	PROXY_V2_ERR_FAMILY,
	PROXY_V2_ERR_TOO_LARGE,
	PROXY_V2_ERR_SHORT_ADDRESS,
	PROXY_V2_ERR_TLV,
	PROXY_V2_ERR_CRC,
	PROXY_V2_VERDICT_COUNT
};

/* A TLV value inside the caller's buffer: buf[off .. off + len). */
struct proxy_v2_view {
	bool     present;
	uint16_t off;
	uint16_t len;
};

/* What a header carried. Views are offsets from the start of the buffer passed in. */
struct proxy_v2_result {
	size_t               hdr_len;    /* 16 + len: bytes the router skips */
	struct proxy_addr    addr;       /* LOCAL: family UNSPEC, local set */
	bool                 crc_checked; /* a CRC32C TLV was present and matched */
	struct proxy_v2_view alpn;
	struct proxy_v2_view authority;
	struct proxy_v2_view unique_id;
	struct proxy_v2_view ssl;        /* the whole SSL TLV value */
	uint8_t              ssl_client; /* PP2_CLIENT_* bits, when ssl.present */
	uint32_t             ssl_verify; /* 0 when a client certificate was verified */
	struct proxy_v2_view ssl_version;
	struct proxy_v2_view ssl_cn;
};

/*
 * Decodes the v2 header at the start of buf (len bytes so far, untrusted). Returns the
 * verdict (see the table) and fills r. LOCAL headers are skipped whole: their address
 * block is never decoded; their TLVs are checked when the family's block fits in len.
 * DGRAM addresses are decoded and reported with transport DGRAM (switchyard refuses them).
 * Unknown TLV types and NOOP are skipped.
 */
enum proxy_v2_verdict proxy_v2_parse(const uint8_t *buf, size_t len, struct proxy_v2_result *r);

/* A short, stable, lowercase id of a verdict (metric label): "done", "crc", ... */
const char *proxy_v2_verdict_str(enum proxy_v2_verdict v);

/* Optional TLVs for proxy_v2_encode; a NULL pointer means absent. */
struct proxy_v2_tlvs {
	const uint8_t *authority; /* the SNI */
	size_t         authority_len;
	const uint8_t *alpn;      /* one protocol id, e.g. "h2" */
	size_t         alpn_len;
	const uint8_t *unique_id; /* at most PROXY_V2_UNIQUE_ID_MAX bytes */
	size_t         unique_id_len;
	bool           crc32c;    /* append a CRC32C TLV computed over the finished header */
};

/*
 * Writes a v2 header for a (LOCAL with family UNSPEC when a->local) followed by the
 * TLVs of t (may be NULL). Returns its length or -1 when cap is too small, a TLV is too
 * big, or the header would exceed PROXY_V2_MAX_HEADER.
 */
int proxy_v2_encode(uint8_t *out, size_t cap, const struct proxy_addr *a,
    const struct proxy_v2_tlvs *t);

#endif
