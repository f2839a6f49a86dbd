/*
 * The post-handshake message of r-vpn (rvpn-protocol.md §6.4): bincode 1.x (fixint,
 * little-endian) of RatchetMessage. One WebSocket message carries exactly one, so the
 * decoder takes a whole message; it reports the ciphertext as a view into the caller's
 * buffer. Pure: no allocation, no crypto (rvpn_ratchet.c does that).
 */
#ifndef SY_PROTO_RVPN_WIRE_H
#define SY_PROTO_RVPN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RVPN_WIRE_HDR_LEN   62         /* 1 + 32 + 4 + 4 + 1 + 12 + 8, dh present */
#define RVPN_WIRE_HDR_NODH  30         /* the same without dh_public */
#define RVPN_WIRE_TAG_LEN   16         /* Poly1305 */
#define RVPN_WIRE_NONCE_LEN 12
#define RVPN_WIRE_MAX_CT    (1u << 20) /* §6.3: ciphertext of at most 1 MiB */

/*
 * Verdicts of rvpn_wire_decode (the message is whole: there is no "need more"):
 *
 *   RVPN_WIRE_OK             one RatchetMessage, exactly len bytes
 *   RVPN_WIRE_ERR_SHORT      the message ends inside the header or the ciphertext
 *   RVPN_WIRE_ERR_OPTION     the Option tag of dh_public is neither 0 nor 1 (bincode)
 *   RVPN_WIRE_ERR_TOO_LARGE  ct_len over RVPN_WIRE_MAX_CT (§6.5 step 1)
 *   RVPN_WIRE_ERR_NO_TAG     ct_len under the 16-byte tag: cannot be authentic
 *   RVPN_WIRE_ERR_TRAILING   bytes after the ciphertext (honest peers never send them;
 *                            refused so one message has one meaning)
 */
enum rvpn_wire_verdict {
	RVPN_WIRE_OK = 0,
	RVPN_WIRE_ERR_SHORT,
	RVPN_WIRE_ERR_OPTION,
	RVPN_WIRE_ERR_TOO_LARGE,
	RVPN_WIRE_ERR_NO_TAG,
	RVPN_WIRE_ERR_TRAILING,
	RVPN_WIRE_VERDICT_COUNT
};

/* A decoded header; the ciphertext is buf[ct_off .. ct_off + ct_len). */
struct rvpn_wire_msg {
	bool     dh_present;
	uint8_t  dh_public[32];
	uint32_t n;            /* message_number */
	uint32_t pn;           /* previous_chain_length, always 0 */
	uint8_t  payload_type; /* also the AEAD's one byte of AAD */
	uint8_t  nonce[RVPN_WIRE_NONCE_LEN];
	size_t   ct_off;
	size_t   ct_len;       /* ciphertext including the tag */
};

/* Decodes one whole message (untrusted); see the verdict table. */
enum rvpn_wire_verdict rvpn_wire_decode(const uint8_t *buf, size_t len, struct rvpn_wire_msg *m);

/* A short, stable, lowercase name of a verdict. */
const char *rvpn_wire_verdict_str(enum rvpn_wire_verdict v);

/*
 * Writes the header of m (ct_len included, ct_off ignored) into out; the caller puts the
 * ciphertext right after it. Returns the header length (62 or 30) or -1 when cap is short.
 */
int rvpn_wire_encode_header(uint8_t *out, size_t cap, const struct rvpn_wire_msg *m);

#endif
