/*
 * X3DH as r-vpn implements it (rvpn_x3dh.h). The three terms are computed into one
 * 96-byte buffer in the order DH1 || DH2 || DH3 (the HKDF IKM), which is wiped at the one
 * exit of each function. libsodium's crypto_scalarmult refuses an all-zero result; the
 * reference accepts it, but honest peers never produce one (§5.2), so we refuse.
 */
#include "proto/rvpn/rvpn_x3dh.h"

#include <sodium.h>
#include <string.h>

#include "proto/rvpn/rvpn_kdf.h"

/* SK = HKDF(salt "", ikm, "R-VPN-v1 X3DH", 32). */
static void
x3dh_sk(uint8_t sk[32], const uint8_t ikm[RVPN_X3DH_DH_LEN])
{
	static const char info[] = RVPN_INFO_X3DH;

	(void)rvpn_hkdf(sk, 32, NULL, 0, ikm, RVPN_X3DH_DH_LEN, (const uint8_t *)info,
	    sizeof info - 1);
}

/* Computes the three terms from (priv, pub) pairs, then SK; shared by both roles. */
static int
x3dh_run(uint8_t sk[32], uint8_t *dh_out, const uint8_t *a1, const uint8_t *b1,
    const uint8_t *a2, const uint8_t *b2, const uint8_t *a3, const uint8_t *b3)
{
	uint8_t dh[RVPN_X3DH_DH_LEN];
	int rc = -1;

	if (crypto_scalarmult(dh, a1, b1) != 0 || crypto_scalarmult(dh + 32, a2, b2) != 0 ||
	    crypto_scalarmult(dh + 64, a3, b3) != 0)
		goto out;
	x3dh_sk(sk, dh);
	if (dh_out != NULL)
		memcpy(dh_out, dh, sizeof dh);
	rc = 0;
out:
	sodium_memzero(dh, sizeof dh);
	if (rc != 0) {
		sodium_memzero(sk, 32);
		if (dh_out != NULL)
			sodium_memzero(dh_out, RVPN_X3DH_DH_LEN);
	}
	return rc;
}

/* See rvpn_x3dh.h. */
int
rvpn_x3dh_client(uint8_t sk[32], uint8_t *dh, const uint8_t ik_c_seed[32],
    const uint8_t ek_c_priv[32], const uint8_t ik_s_pub[32], const uint8_t spk_s_pub[32])
{
	return x3dh_run(sk, dh, ik_c_seed, spk_s_pub, ek_c_priv, ik_s_pub, ek_c_priv, spk_s_pub);
}

/* See rvpn_x3dh.h. */
int
rvpn_x3dh_server(uint8_t sk[32], uint8_t *dh, const uint8_t ik_s_seed[32],
    const uint8_t spk_s_priv[32], const uint8_t ik_c_pub[32], const uint8_t ek_c_pub[32])
{
	return x3dh_run(sk, dh, spk_s_priv, ik_c_pub, ik_s_seed, ek_c_pub, spk_s_priv, ek_c_pub);
}

/* See rvpn_x3dh.h. */
void
rvpn_x3dh_chains(uint8_t ck_c2s[32], uint8_t ck_s2c[32], const uint8_t sk[32])
{
	static const char info[] = RVPN_INFO_INIT;
	uint8_t out[64];

	(void)rvpn_hkdf(out, sizeof out, NULL, 0, sk, 32, (const uint8_t *)info, sizeof info - 1);
	memcpy(ck_c2s, out, 32);
	memcpy(ck_s2c, out + 32, 32);
	sodium_memzero(out, sizeof out);
}
