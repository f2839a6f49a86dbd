/*
 * The primitive-level public vectors rvpn-protocol.md §10 asks for in CI, run through the
 * same libsodium calls proto/rvpn uses: X25519 (RFC 7748 §5.2 test 1 and §6.1), Ed25519
 * seed-to-public and signature (RFC 8032 §7.1 TEST 1) and ChaCha20-Poly1305 IETF
 * (RFC 8439 §2.8.2). Plus gotcha 1 of §11: the identity X25519 key is NOT libsodium's
 * Ed25519-to-Curve25519 conversion. HKDF and HMAC are in test_rvpn_kdf.c.
 */
#include <sodium.h>
#include <string.h>

#include "check.h"
#include "proto/rvpn/rvpn_keys.h"

/* Decodes hex into out; returns the length. */
static size_t
hex(uint8_t *out, size_t cap, const char *s)
{
	size_t n = 0;
	sodium_hex2bin(out, cap, s, strlen(s), NULL, &n, NULL);
	return n;
}

int
main(void)
{
	uint8_t a[32], b[32], u[32], want[64], out[64], pk[32], sk[64];
	struct rvpn_identity id;

	if (sodium_init() < 0)
		return 2;
	/* RFC 7748 §5.2, first test vector. */
	hex(a, 32, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
	hex(u, 32, "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
	hex(want, 32, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
	CHECK(crypto_scalarmult(out, a, u) == 0 && memcmp(out, want, 32) == 0);
	/* RFC 7748 §6.1: both public keys and the shared secret. */
	hex(a, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	hex(b, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	hex(want, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	CHECK(crypto_scalarmult_base(out, a) == 0 && memcmp(out, want, 32) == 0);
	hex(want, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	CHECK(crypto_scalarmult_base(u, b) == 0 && memcmp(u, want, 32) == 0);
	hex(want, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	CHECK(crypto_scalarmult(out, a, u) == 0 && memcmp(out, want, 32) == 0);
	/* A low-order point gives all zeros, which libsodium (and so our X3DH) refuses. */
	memset(u, 0, 32);
	CHECK(crypto_scalarmult(out, a, u) == -1);

	/* RFC 8032 §7.1 TEST 1: seed to public key, and the signature of the empty message. */
	hex(a, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
	hex(want, 32, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
	CHECK(rvpn_identity_from_seed(&id, a) == 0 && memcmp(id.ed_pub, want, 32) == 0);
	CHECK(crypto_sign_seed_keypair(pk, sk, a) == 0);
	hex(want, 64, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590"
	    "a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
	CHECK(crypto_sign_detached(out, NULL, (const uint8_t *)"", 0, sk) == 0 &&
	    memcmp(out, want, 64) == 0);
	/* §11 gotcha 1: X25519(clamp(seed)) differs from the Ed25519-to-Curve25519 conversion. */
	CHECK(crypto_sign_ed25519_sk_to_curve25519(b, sk) == 0 && crypto_scalarmult_base(u, b) == 0);
	CHECK(memcmp(u, id.x_pub, 32) != 0);
	CHECK(crypto_scalarmult_base(u, a) == 0 && memcmp(u, id.x_pub, 32) == 0);
	sodium_memzero(sk, sizeof sk);
	rvpn_identity_wipe(&id);

	/* RFC 8439 §2.8.2. */
	static const char pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
	    "only one tip for the future, sunscreen would be it.";
	uint8_t key[32], nonce[12], aad[12], ct[sizeof pt - 1 + 16], back[sizeof pt];
	unsigned long long clen, plen;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	hex(nonce, 12, "070000004041424344454647");
	hex(aad, 12, "50515253c0c1c2c3c4c5c6c7");
	CHECK(crypto_aead_chacha20poly1305_ietf_encrypt(ct, &clen, (const uint8_t *)pt,
	    sizeof pt - 1, aad, 12, NULL, nonce, key) == 0 && clen == sizeof ct);
	hex(want, 16, "d31a8d34648e60db7b86afbc53ef7ec2");
	CHECK(memcmp(ct, want, 16) == 0);
	hex(want, 16, "1ae10b594f09e26a7e902ecbd0600691");
	CHECK(memcmp(ct + sizeof ct - 16, want, 16) == 0);
	CHECK(crypto_aead_chacha20poly1305_ietf_decrypt(back, &plen, NULL, ct, sizeof ct, aad, 12,
	    nonce, key) == 0 && plen == sizeof pt - 1 && memcmp(back, pt, plen) == 0);
	ct[0] ^= 1;
	CHECK(crypto_aead_chacha20poly1305_ietf_decrypt(back, &plen, NULL, ct, sizeof ct, aad, 12,
	    nonce, key) == -1);
	return check_summary();
}
