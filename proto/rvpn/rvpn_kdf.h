/*
 * The key derivation functions of the r-vpn protocol (rvpn-protocol.md §5.2, §6.1, §6.2):
 * HKDF-SHA256 (RFC 5869) built on libsodium's HMAC-SHA256, because libsodium 1.0.18 has no
 * HKDF, and the symmetric-chain step KDF_CK. Pure functions over caller buffers; every
 * intermediate secret is wiped before return.
 */
#ifndef SY_PROTO_RVPN_KDF_H
#define SY_PROTO_RVPN_KDF_H

#include <stddef.h>
#include <stdint.h>

#define RVPN_KEY_LEN        32   /* every key, chain key and DH output */
#define RVPN_HKDF_MAX_OUT   (255 * 32) /* RFC 5869: L <= 255 * HashLen */

/* The HKDF info strings, exactly as the reference spells them (§11 gotcha 2). */
#define RVPN_INFO_X3DH      "R-VPN-v1 X3DH"
#define RVPN_INFO_INIT      "R-VPN-v1 DoubleRatchet Init"
#define RVPN_INFO_RATCHET   "R-VPN-v1 Ratchet"

/*
 * HKDF-SHA256: extract with salt (salt_len 0 means the empty salt, equal to 32 zero bytes),
 * then expand to out_len bytes with info. Returns 0, or -1 when out_len is 0 or over
 * RVPN_HKDF_MAX_OUT (out is then untouched).
 */
int rvpn_hkdf(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
    const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len);

/* KDF_CK (§6.2): mk = HMAC(ck, 0x01), next = HMAC(ck, 0x02). ck and next may alias. */
void rvpn_kdf_ck(uint8_t mk[RVPN_KEY_LEN], uint8_t next[RVPN_KEY_LEN],
    const uint8_t ck[RVPN_KEY_LEN]);

/*
 * KDF_RK (§6.5 step 3): HKDF(salt = rk, IKM = dh, info = "R-VPN-v1 Ratchet", 64) into
 * out (rk' then ck). Dead code between stock peers; kept so the vector is checked and the
 * client can mirror it if a peer ever needs it. The engine never calls it.
 */
void rvpn_kdf_rk(uint8_t out[2 * RVPN_KEY_LEN], const uint8_t rk[RVPN_KEY_LEN],
    const uint8_t dh[RVPN_KEY_LEN]);

#endif
