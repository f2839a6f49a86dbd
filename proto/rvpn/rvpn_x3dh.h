/*
 * The r-vpn key agreement (rvpn-protocol.md §5.2, §6.1): three X25519 terms, no OPK, no
 * F prefix, no AD, then HKDF into SK and SK into the two chain keys. Both roles, so the
 * server engine and the VPN client share it. Every DH output and HKDF input is wiped.
 */
#ifndef SY_PROTO_RVPN_X3DH_H
#define SY_PROTO_RVPN_X3DH_H

#include <stdint.h>

#define RVPN_X3DH_DH_LEN 96 /* DH1 || DH2 || DH3 */

/*
 * Client side: DH1 = DH(IK_c, SPK_s), DH2 = DH(EK_c, IK_s), DH3 = DH(EK_c, SPK_s), where
 * IK_c is the client seed used as raw scalar, ik_s the server's identity_x25519_key from
 * the bundle and spk_s the SPK from the (signature-checked) ServerHello. Writes SK; when
 * dh is not NULL (tests) also the three terms. Returns -1 (sk and dh zeroed) when a term
 * is all zeros (a low-order peer key).
 */
int rvpn_x3dh_client(uint8_t sk[32], uint8_t *dh, const uint8_t ik_c_seed[32],
    const uint8_t ek_c_priv[32], const uint8_t ik_s_pub[32], const uint8_t spk_s_pub[32]);

/*
 * Server side: DH1 = DH(SPK_s, IK_c), DH2 = DH(IK_s, EK_c), DH3 = DH(SPK_s, EK_c), with
 * ik_c and ek_c from the client's Hello (untrusted). Same outputs and failure as above.
 */
int rvpn_x3dh_server(uint8_t sk[32], uint8_t *dh, const uint8_t ik_s_seed[32],
    const uint8_t spk_s_priv[32], const uint8_t ik_c_pub[32], const uint8_t ek_c_pub[32]);

/* (CK_c2s, CK_s2c) = HKDF(salt "", SK, "R-VPN-v1 DoubleRatchet Init", 64) split 32/32. */
void rvpn_x3dh_chains(uint8_t ck_c2s[32], uint8_t ck_s2c[32], const uint8_t sk[32]);

#endif
