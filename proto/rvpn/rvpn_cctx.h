/*
 * A reusable crypto context for the ratchet's per-message work (rvpn-protocol.md §6.3,
 * §7.2), so that a busy engine does not pay set-up costs on every message: one OpenSSL
 * ChaCha20-Poly1305 (RFC 8439) cipher context, re-keyed per message (the ratchet's message
 * key changes every message anyway), an HMAC-SHA256 digest context for the chain step, and
 * a ChaCha20 keystream keyed from the OS RNG (OpenSSL's DRBG) that supplies the random
 * padding fill and nonces. It holds no session state: one context may serve any number of
 * sessions, but only from one thread at a time (the engine keeps one per worker).
 *
 * This is the one object in proto/rvpn that allocates (OpenSSL contexts are opaque), and
 * only in rvpn_cctx_new; the parsers and the ratchet never allocate. The keystream key is
 * wiped on free and replaced after RVPN_CCTX_REKEY output bytes.
 */
#ifndef SY_PROTO_RVPN_CCTX_H
#define SY_PROTO_RVPN_CCTX_H

#include <stddef.h>
#include <stdint.h>

#define RVPN_CCTX_REKEY  (1u << 30) /* keystream bytes before a fresh key from the DRBG */
#define RVPN_CCTX_CHUNK  4096u      /* keystream bytes made at once and kept for later */

struct rvpn_cctx;

/* A new context with a fresh keystream key; NULL when out of memory or the RNG fails. */
struct rvpn_cctx *rvpn_cctx_new(void);

/* Frees a context (NULL is fine); its keystream state is wiped first. */
void rvpn_cctx_free(struct rvpn_cctx *cc);

/* Fills buf with len CSPRNG bytes from the keystream. Returns 0, or -1 when the RNG fails
 * at a re-key (buf is then zeroed). */
int rvpn_cctx_random(struct rvpn_cctx *cc, uint8_t *buf, size_t len);

/* ChaCha20-Poly1305 (IETF): seals pt (len bytes) with one byte of AAD into ct (len bytes)
 * and tag (16). ct may equal pt. Returns 0 or -1. */
int rvpn_cctx_seal(struct rvpn_cctx *cc, const uint8_t key[32], const uint8_t nonce[12],
    uint8_t aad, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16]);

/* Opens ct (len bytes, then the 16-byte tag at ct + len) into pt. Returns 0, or -1 when
 * the tag does not verify; then pt[0 .. len) is zeroed, so no unauthenticated plaintext is
 * left behind. pt must not overlap ct. */
int rvpn_cctx_open(struct rvpn_cctx *cc, const uint8_t key[32], const uint8_t nonce[12],
    uint8_t aad, const uint8_t *ct, size_t len, uint8_t *pt);

/* KDF_CK (§6.2) on OpenSSL's SHA-256: mk = HMAC(ck, 0x01), next = HMAC(ck, 0x02), the key
 * block hashed once for both. ck and next may alias. Returns 0 or -1 (outputs zeroed). */
int rvpn_cctx_kdf_ck(struct rvpn_cctx *cc, uint8_t mk[32], uint8_t next[32],
    const uint8_t ck[32]);

#endif
