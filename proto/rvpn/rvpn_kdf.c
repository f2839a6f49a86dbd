/*
 * HKDF-SHA256 (RFC 5869) and the chain steps of the r-vpn ratchet. HMAC comes from
 * libsodium's streaming API, which takes keys of any length (the empty salt is a zero-
 * length key, which HMAC pads to the same block as 32 zero bytes). Every PRK, T(i) block
 * and HMAC state is wiped through the one exit of each function.
 */
#include "proto/rvpn/rvpn_kdf.h"

#include <sodium.h>
#include <string.h>

/* HKDF extract then expand; see rvpn_kdf.h. */
int
rvpn_hkdf(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
    const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
	crypto_auth_hmacsha256_state st;
	uint8_t prk[crypto_auth_hmacsha256_BYTES], t[crypto_auth_hmacsha256_BYTES];
	size_t done = 0, tlen = 0;
	uint8_t ctr = 1;

	static const uint8_t none[1];

	if (out_len == 0 || out_len > RVPN_HKDF_MAX_OUT)
		return -1;
	/* libsodium declares its pointers non-null even for zero lengths. */
	if (salt == NULL)
		salt = none;
	if (info == NULL)
		info = none;
	if (ikm == NULL)
		ikm = none;
	crypto_auth_hmacsha256_init(&st, salt, salt_len);
	crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
	crypto_auth_hmacsha256_final(&st, prk);
	while (done < out_len) {
		/* T(i) = HMAC(PRK, T(i-1) | info | i) */
		crypto_auth_hmacsha256_init(&st, prk, sizeof prk);
		crypto_auth_hmacsha256_update(&st, t, tlen);
		crypto_auth_hmacsha256_update(&st, info, info_len);
		crypto_auth_hmacsha256_update(&st, &ctr, 1);
		crypto_auth_hmacsha256_final(&st, t);
		tlen = sizeof t;
		size_t k = out_len - done < tlen ? out_len - done : tlen;
		memcpy(out + done, t, k);
		done += k;
		ctr++;
	}
	sodium_memzero(&st, sizeof st);
	sodium_memzero(prk, sizeof prk);
	sodium_memzero(t, sizeof t);
	return 0;
}

/* KDF_CK; see rvpn_kdf.h. The input is copied first so next may alias ck. */
void
rvpn_kdf_ck(uint8_t mk[RVPN_KEY_LEN], uint8_t next[RVPN_KEY_LEN], const uint8_t ck[RVPN_KEY_LEN])
{
	static const uint8_t one = 0x01, two = 0x02;
	uint8_t k[RVPN_KEY_LEN];

	memcpy(k, ck, sizeof k);
	crypto_auth_hmacsha256(mk, &one, 1, k);
	crypto_auth_hmacsha256(next, &two, 1, k);
	sodium_memzero(k, sizeof k);
}

/* KDF_RK; see rvpn_kdf.h. */
void
rvpn_kdf_rk(uint8_t out[2 * RVPN_KEY_LEN], const uint8_t rk[RVPN_KEY_LEN],
    const uint8_t dh[RVPN_KEY_LEN])
{
	static const char info[] = RVPN_INFO_RATCHET;

	(void)rvpn_hkdf(out, 2 * RVPN_KEY_LEN, rk, RVPN_KEY_LEN, dh, RVPN_KEY_LEN,
	    (const uint8_t *)info, sizeof info - 1);
}
