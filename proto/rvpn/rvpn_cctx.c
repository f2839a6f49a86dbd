/*
 * The reusable crypto context of rvpn_cctx.h. Why each part exists (issue 9 item 7, measured
 * in tests/bench/RESULTS.md): OpenSSL's ChaCha20-Poly1305 is about twice as fast as
 * libsodium 1.0.18's on AVX-512 CPUs; its SHA-256 uses the SHA extensions where libsodium's
 * is portable C; and a ChaCha20 keystream costs a fraction of a DRBG call per padding fill.
 * The cipher contexts are set up once with their algorithm; per message only the key and
 * nonce change. Secrets on the stack (HMAC pads, the inner hash) are wiped through the one
 * exit of each function.
 */
#include "proto/rvpn/rvpn_cctx.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define CCTX_HMAC_BLOCK 64 /* SHA-256 block: the HMAC pads */

struct rvpn_cctx {
	EVP_CIPHER_CTX *aead;                  /* ChaCha20-Poly1305, algorithm set */
	EVP_CIPHER_CTX *ks;                    /* ChaCha20 keystream (the CSPRNG) */
	EVP_MD         *sha;                   /* SHA-256, fetched once */
	EVP_MD_CTX     *hin, *hout, *hw;       /* HMAC inner, outer, working states */
	size_t          ks_made;               /* keystream bytes since the last key */
	size_t          pool_off;              /* first unused byte of pool */
	uint8_t         pool[RVPN_CCTX_CHUNK]; /* keystream made ahead */
};

/* Keys the keystream afresh from OpenSSL's DRBG; 0 or -1. */
static int
cctx_rekey(struct rvpn_cctx *cc)
{
	uint8_t key[32], iv[16] = { 0 };
	int rc = -1;

	if (RAND_bytes(key, sizeof key) != 1 ||
	    EVP_EncryptInit_ex(cc->ks, NULL, NULL, key, iv) != 1)
		goto out;
	cc->ks_made = 0;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	return rc;
}

/* Makes the next RVPN_CCTX_CHUNK keystream bytes into pool; 0 or -1. */
static int
cctx_refill(struct rvpn_cctx *cc)
{
	int ol = 0;

	if (cc->ks_made >= RVPN_CCTX_REKEY && cctx_rekey(cc) == -1)
		return -1;
	memset(cc->pool, 0, sizeof cc->pool);
	if (EVP_EncryptUpdate(cc->ks, cc->pool, &ol, cc->pool, (int)sizeof cc->pool) != 1 ||
	    (size_t)ol != sizeof cc->pool)
		return -1;
	cc->ks_made += sizeof cc->pool;
	cc->pool_off = 0;
	return 0;
}

/* See rvpn_cctx.h. */
struct rvpn_cctx *
rvpn_cctx_new(void)
{
	struct rvpn_cctx *cc = calloc(1, sizeof *cc);
	if (cc == NULL)
		return NULL;
	cc->aead = EVP_CIPHER_CTX_new();
	cc->ks = EVP_CIPHER_CTX_new();
	cc->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	cc->hin = EVP_MD_CTX_new();
	cc->hout = EVP_MD_CTX_new();
	cc->hw = EVP_MD_CTX_new();
	if (cc->aead == NULL || cc->ks == NULL || cc->sha == NULL || cc->hin == NULL ||
	    cc->hout == NULL || cc->hw == NULL ||
	    EVP_EncryptInit_ex(cc->aead, EVP_chacha20_poly1305(), NULL, NULL, NULL) != 1 ||
	    EVP_EncryptInit_ex(cc->ks, EVP_chacha20(), NULL, NULL, NULL) != 1 ||
	    cctx_rekey(cc) == -1)
		goto fail;
	cc->pool_off = sizeof cc->pool; /* empty: the first use makes keystream */
	return cc;
fail:
	rvpn_cctx_free(cc);
	return NULL;
}

/* See rvpn_cctx.h. */
void
rvpn_cctx_free(struct rvpn_cctx *cc)
{
	if (cc == NULL)
		return;
	EVP_CIPHER_CTX_free(cc->aead); /* frees wipe the key schedules */
	EVP_CIPHER_CTX_free(cc->ks);
	EVP_MD_CTX_free(cc->hin);
	EVP_MD_CTX_free(cc->hout);
	EVP_MD_CTX_free(cc->hw);
	EVP_MD_free(cc->sha);
	OPENSSL_cleanse(cc, sizeof *cc);
	free(cc);
}

/* See rvpn_cctx.h. */
int
rvpn_cctx_random(struct rvpn_cctx *cc, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		if (cc->pool_off == sizeof cc->pool && cctx_refill(cc) == -1) {
			memset(buf, 0, len);
			return -1;
		}
		size_t k = sizeof cc->pool - cc->pool_off;
		if (k > len - done)
			k = len - done;
		memcpy(buf + done, cc->pool + cc->pool_off, k);
		/* Used bytes leave the pool: no later caller sees the same ones. */
		memset(cc->pool + cc->pool_off, 0, k);
		cc->pool_off += k;
		done += k;
	}
	return 0;
}

/* See rvpn_cctx.h. */
int
rvpn_cctx_seal(struct rvpn_cctx *cc, const uint8_t key[32], const uint8_t nonce[12],
    uint8_t aad, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16])
{
	int ol = 0, fl = 0;

	if (len > (size_t)0x7fffffff ||
	    EVP_EncryptInit_ex(cc->aead, NULL, NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(cc->aead, NULL, &ol, &aad, 1) != 1 ||
	    EVP_EncryptUpdate(cc->aead, ct, &ol, pt, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(cc->aead, ct + ol, &fl) != 1 || (size_t)ol + (size_t)fl != len ||
	    EVP_CIPHER_CTX_ctrl(cc->aead, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
		return -1;
	return 0;
}

/* See rvpn_cctx.h. */
int
rvpn_cctx_open(struct rvpn_cctx *cc, const uint8_t key[32], const uint8_t nonce[12],
    uint8_t aad, const uint8_t *ct, size_t len, uint8_t *pt)
{
	uint8_t tag[16];
	int ol = 0, fl = 0;

	memcpy(tag, ct + len, sizeof tag);
	if (len > (size_t)0x7fffffff ||
	    EVP_DecryptInit_ex(cc->aead, NULL, NULL, key, nonce) != 1 ||
	    EVP_DecryptUpdate(cc->aead, NULL, &ol, &aad, 1) != 1 ||
	    EVP_DecryptUpdate(cc->aead, pt, &ol, ct, (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cc->aead, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1 ||
	    EVP_DecryptFinal_ex(cc->aead, pt + ol, &fl) != 1 || (size_t)ol + (size_t)fl != len) {
		/* Decryption ran before the tag was known to be bad: erase what it wrote. */
		OPENSSL_cleanse(pt, len);
		return -1;
	}
	return 0;
}

/* One HMAC pad state: ctx = SHA-256 over (key ^ byte) padded to the block; 0 or -1. */
static int
cctx_hmac_pad(struct rvpn_cctx *cc, EVP_MD_CTX *ctx, const uint8_t key[32], uint8_t byte)
{
	uint8_t pad[CCTX_HMAC_BLOCK];
	int rc = -1;

	memset(pad, byte, sizeof pad);
	for (size_t i = 0; i < 32; i++)
		pad[i] ^= key[i];
	if (EVP_DigestInit_ex(ctx, cc->sha, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, pad, sizeof pad) != 1)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(pad, sizeof pad);
	return rc;
}

/* HMAC(key, one byte m) from the prepared pad states into out; 0 or -1. */
static int
cctx_hmac_byte(struct rvpn_cctx *cc, uint8_t m, uint8_t out[32])
{
	uint8_t inner[32];
	unsigned il = 0, ol = 0;
	int rc = -1;

	if (EVP_MD_CTX_copy_ex(cc->hw, cc->hin) != 1 || EVP_DigestUpdate(cc->hw, &m, 1) != 1 ||
	    EVP_DigestFinal_ex(cc->hw, inner, &il) != 1 || il != 32 ||
	    EVP_MD_CTX_copy_ex(cc->hw, cc->hout) != 1 ||
	    EVP_DigestUpdate(cc->hw, inner, sizeof inner) != 1 ||
	    EVP_DigestFinal_ex(cc->hw, out, &ol) != 1 || ol != 32)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(inner, sizeof inner);
	return rc;
}

/* See rvpn_cctx.h. HMAC per RFC 2104 with a 32-byte key (shorter than the block). */
int
rvpn_cctx_kdf_ck(struct rvpn_cctx *cc, uint8_t mk[32], uint8_t next[32], const uint8_t ck[32])
{
	uint8_t k[32], a[32], b[32];
	int rc = -1;

	memcpy(k, ck, sizeof k);
	if (cctx_hmac_pad(cc, cc->hin, k, 0x36) == -1 || cctx_hmac_pad(cc, cc->hout, k, 0x5c) == -1 ||
	    cctx_hmac_byte(cc, 0x01, a) == -1 || cctx_hmac_byte(cc, 0x02, b) == -1)
		goto out;
	memcpy(mk, a, 32);
	memcpy(next, b, 32);
	rc = 0;
out:
	if (rc != 0) {
		OPENSSL_cleanse(mk, 32);
		OPENSSL_cleanse(next, 32);
	}
	/* The pad and working states hold key-derived hash states: back to the IV. */
	(void)EVP_DigestInit_ex(cc->hin, cc->sha, NULL);
	(void)EVP_DigestInit_ex(cc->hout, cc->sha, NULL);
	(void)EVP_DigestInit_ex(cc->hw, cc->sha, NULL);
	OPENSSL_cleanse(k, sizeof k);
	OPENSSL_cleanse(a, sizeof a);
	OPENSSL_cleanse(b, sizeof b);
	return rc;
}
