/*
 * Unit tests of proto/rvpn/rvpn_kdf.c against public vectors: RFC 5869 appendix A.1-A.3
 * (A.3 is the empty salt and info that r-vpn uses), RFC 4231 test case 2 through
 * KDF_CK's HMAC, and the HKDF output limit at N and N+1.
 */
#include <sodium.h>
#include <string.h>

#include "check.h"
#include "proto/rvpn/rvpn_kdf.h"

/* Decodes hex into out; returns the length. */
static size_t
hex(uint8_t *out, size_t cap, const char *s)
{
	size_t n = 0;
	sodium_hex2bin(out, cap, s, strlen(s), NULL, &n, NULL);
	return n;
}

/* One RFC 5869 case. */
static void
hkdf_case(const char *ikm_h, const char *salt_h, const char *info_h, size_t L, const char *okm_h)
{
	uint8_t ikm[128], salt[128], info[128], okm[128], want[128];
	size_t ni = hex(ikm, sizeof ikm, ikm_h), ns = hex(salt, sizeof salt, salt_h);
	size_t nf = hex(info, sizeof info, info_h), nw = hex(want, sizeof want, okm_h);

	CHECK(nw == L);
	CHECK(rvpn_hkdf(okm, L, ns ? salt : NULL, ns, ikm, ni, info, nf) == 0);
	CHECKF(memcmp(okm, want, L) == 0, "okm differs for L=%zu", L);
}

int
main(void)
{
	uint8_t big[RVPN_HKDF_MAX_OUT + 1], ikm[22];

	if (sodium_init() < 0)
		return 2;
	/* A.1: basic. */
	hkdf_case("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
	    "f0f1f2f3f4f5f6f7f8f9", 42,
	    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	    "34007208d5b887185865");
	/* A.2: long inputs (80-byte salt, ikm and info; 82 bytes out: three T blocks). */
	hkdf_case("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	    "404142434445464748494a4b4c4d4e4f",
	    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
	    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	    "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", 82,
	    "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
	    "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
	    "cc30c58179ec3e87c14c01d5c1f3434f1d87");
	/* A.3: empty salt and info (r-vpn's case). */
	hkdf_case("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
	    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	    "9d201395faa4b61a96c8");

	/* Output limit: 255 * 32 bytes at most. */
	memset(ikm, 0x0b, sizeof ikm);
	CHECK(rvpn_hkdf(big, RVPN_HKDF_MAX_OUT, NULL, 0, ikm, sizeof ikm, NULL, 0) == 0);
	big[RVPN_HKDF_MAX_OUT] = 0x5a;
	CHECK(rvpn_hkdf(big, RVPN_HKDF_MAX_OUT + 1, NULL, 0, ikm, sizeof ikm, NULL, 0) == -1);
	CHECK(big[RVPN_HKDF_MAX_OUT] == 0x5a);
	CHECK(rvpn_hkdf(big, 0, NULL, 0, ikm, sizeof ikm, NULL, 0) == -1);

	/* KDF_CK is HMAC-SHA256 with one-byte messages: check against a direct HMAC, and the
	 * HMAC itself against RFC 4231 case 2 (key "Jefe"), through the same streaming API. */
	uint8_t ck[32], mk[32], next[32], want[32];
	crypto_auth_hmacsha256_state st;
	for (int i = 0; i < 32; i++)
		ck[i] = (uint8_t)i;
	rvpn_kdf_ck(mk, next, ck);
	crypto_auth_hmacsha256_init(&st, ck, 32);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"\x01", 1);
	crypto_auth_hmacsha256_final(&st, want);
	CHECK(memcmp(mk, want, 32) == 0);
	crypto_auth_hmacsha256_init(&st, ck, 32);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"\x02", 1);
	crypto_auth_hmacsha256_final(&st, want);
	CHECK(memcmp(next, want, 32) == 0);
	/* next may alias ck. */
	rvpn_kdf_ck(mk, ck, ck);
	CHECK(memcmp(ck, next, 32) == 0);
	uint8_t w4231[32];
	crypto_auth_hmacsha256_init(&st, (const uint8_t *)"Jefe", 4);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"what do ya want for nothing?", 28);
	crypto_auth_hmacsha256_final(&st, mk);
	hex(w4231, sizeof w4231,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	CHECK(memcmp(mk, w4231, 32) == 0);
	return check_summary();
}
