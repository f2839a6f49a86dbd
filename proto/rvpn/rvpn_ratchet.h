/*
 * The r-vpn session crypto (rvpn-protocol.md §6): two HMAC hash chains with ChaCha20-
 * Poly1305 (IETF), one constant header DH key per session, as the stock peers actually
 * run it. Both roles. The receive side authenticates before it commits (§12 #4): a
 * message that fails its tag, changes dh_public, or has n out of range leaves the state
 * byte-for-byte unchanged. The engine should treat every non-OK verdict as fatal for the
 * session (a stock peer never sends one); the state stays usable for a final close.
 *
 * Skipped keys: the reference stores them under a lookup key that never matches, so
 * out-of-order delivery cannot work with stock peers; we skip forward up to
 * RVPN_MAX_SKIP message numbers and keep no skipped keys (bounded state, no key store).
 */
#ifndef SY_PROTO_RVPN_RATCHET_H
#define SY_PROTO_RVPN_RATCHET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/rvpn/rvpn_wire.h"

#define RVPN_MAX_SKIP       1000 /* §6.5 step 5: n may be at most recv_n + 1000 */
#define RVPN_TYPE_MAX_C2S   0x0c /* the server refuses payload types above this (§7.1) */
#define RVPN_TYPE_MAX_S2C   0x0d /* the client also takes VirtualIp */

/* Payload types (§7.1). */
#define RVPN_PT_LEGACY      0x00
#define RVPN_PT_DATA        0x01
#define RVPN_PT_ADMIN       0x02
#define RVPN_PT_DNS_QUERY   0x08
#define RVPN_PT_DNS_REPLY   0x09
#define RVPN_PT_VIRTUAL_IP  0x0d

enum rvpn_role {
	RVPN_ROLE_CLIENT = 0, /* Alice: sends on CK_a (the first 32 bytes of the init output) */
	RVPN_ROLE_SERVER      /* Bob: sends on CK_b */
};

/*
 * Verdicts of rvpn_ratchet_open:
 *
 *   RVPN_OPEN_OK           authentic; plaintext written; state advanced
 *   RVPN_OPEN_ERR_WIRE     not one well-formed RatchetMessage (rvpn_wire_decode failed)
 *   RVPN_OPEN_ERR_TYPE     payload type above what our role accepts
 *   RVPN_OPEN_ERR_PN       previous_chain_length is not 0: stock peers always send 0, and
 *                          the field is outside the AEAD, so a non-zero value can only be
 *                          tampering (refusing it keeps every header bit meaningful)
 *   RVPN_OPEN_ERR_DH       dh_public absent (every stock peer sends one) or different
 *                          from the one this session saw first (§6.5 step 3: we never
 *                          run the reference's DH step; a change is fatal)
 *   RVPN_OPEN_ERR_OLD      n below the next expected number (a replay or reorder)
 *   RVPN_OPEN_ERR_SKIP     n more than RVPN_MAX_SKIP ahead
 *   RVPN_OPEN_ERR_SPACE    the caller's plaintext buffer is too small
 *   RVPN_OPEN_ERR_TAG      the Poly1305 tag does not verify
 * Every ERR_* leaves the state unchanged.
 */
enum rvpn_open_verdict {
	RVPN_OPEN_OK = 0,
	RVPN_OPEN_ERR_WIRE,
	RVPN_OPEN_ERR_TYPE,
	RVPN_OPEN_ERR_PN,
	RVPN_OPEN_ERR_DH,
	RVPN_OPEN_ERR_OLD,
	RVPN_OPEN_ERR_SKIP,
	RVPN_OPEN_ERR_SPACE,
	RVPN_OPEN_ERR_TAG,
	RVPN_OPEN_VERDICT_COUNT
};

/*
 * One session's state: plain bytes (no pointers) so a test can memcmp it. The root key
 * is never used after the init (§6.5), so it is not kept; nor is the private half of our
 * header DH key, which no stock peer ever makes us use.
 */
struct rvpn_ratchet {
	uint8_t  cks[32];        /* send chain key (secret) */
	uint8_t  ckr[32];        /* receive chain key (secret) */
	uint8_t  dhs_pub[32];    /* our constant header DH key */
	uint8_t  remote_dh[32];  /* the peer's, once seen */
	uint64_t send_n;         /* next number to send; refuses past UINT32_MAX */
	uint64_t recv_n;         /* next number expected; 64 bits so n = UINT32_MAX ends it */
	uint8_t  role;
	uint8_t  remote_dh_set;
	uint8_t  type_max;       /* highest payload type we accept */
	uint8_t  pad_;           /* explicit, so memcmp of the struct compares only values */
	uint32_t pad2_;
};

/*
 * Starts a session from SK: derives both chains for role and makes the header DH key
 * from dh_priv (tests, vectors) or, when NULL, from fresh randomness (its private half is
 * wiped at once). Returns 0 or -1.
 */
int rvpn_ratchet_init(struct rvpn_ratchet *r, enum rvpn_role role, const uint8_t sk[32],
    const uint8_t *dh_priv);

/* Wipes the state. */
void rvpn_ratchet_wipe(struct rvpn_ratchet *r);

/* Wire length of a message carrying pt_len plaintext bytes. */
size_t rvpn_ratchet_sealed_len(size_t pt_len);

/*
 * Encrypts pt as the next message of type: writes the whole RatchetMessage into out and
 * returns its length, or -1 (state unchanged) when cap is short, the ciphertext would
 * exceed RVPN_WIRE_MAX_CT, the send counter is exhausted, or the RNG fails. pt may be
 * exactly out + RVPN_WIRE_HDR_LEN (in place). nonce NULL means 12 random bytes (tests
 * pass the vectors' nonces). Messages must go on the wire in the order they were sealed.
 */
int rvpn_ratchet_seal(struct rvpn_ratchet *r, uint8_t type, const uint8_t *pt, size_t pt_len,
    const uint8_t *nonce, uint8_t *out, size_t cap);

struct rvpn_cctx;

/*
 * The same with a crypto context (rvpn_cctx.h; NULL is the plain form): OpenSSL's AEAD
 * and SHA-256 with contexts set up once, the nonce (when NULL) from the context's
 * keystream. What the engine uses per message.
 */
int rvpn_ratchet_seal_cc(struct rvpn_ratchet *r, struct rvpn_cctx *cc, uint8_t type,
    const uint8_t *pt, size_t pt_len, const uint8_t *nonce, uint8_t *out, size_t cap);

/*
 * Authenticates and decrypts one whole message (untrusted) into pt (cap bytes); on OK
 * sets *pt_len and *type and advances the state. On any error the state is unchanged and
 * pt holds no plaintext. See the verdict table.
 */
enum rvpn_open_verdict rvpn_ratchet_open(struct rvpn_ratchet *r, const uint8_t *wire,
    size_t len, uint8_t *pt, size_t cap, size_t *pt_len, uint8_t *type);

/* The same with a crypto context (NULL is the plain form). pt must not overlap wire. */
enum rvpn_open_verdict rvpn_ratchet_open_cc(struct rvpn_ratchet *r, struct rvpn_cctx *cc,
    const uint8_t *wire, size_t len, uint8_t *pt, size_t cap, size_t *pt_len, uint8_t *type);

/* A short, stable, lowercase name of a verdict. */
const char *rvpn_open_verdict_str(enum rvpn_open_verdict v);

#endif
