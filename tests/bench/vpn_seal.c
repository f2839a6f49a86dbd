/*
 * vpn_seal: single-core cost of the VPN layer's per-message work, beside the AEADs it could
 * use (tests/bench/vpn.py runs it once and puts it in the report; issue 9 item 7). For one
 * /mux data message of the server (RVPN_MUX_MAX_DATA payload bytes behind a mux header) it
 * times, each for about -d seconds:
 *   seal      rvpn_pad_cc + rvpn_ratchet_seal_cc on one rvpn_cctx: what vsess does per
 *             message (OpenSSL AEAD and SHA-256, fill and nonce from a ChaCha20 keystream)
 *   pad       rvpn_pad_cc alone (the keystream fill)
 *   seal_na   rvpn_pad (DRBG fill) + rvpn_ratchet_seal (libsodium): the engine before the
 *             crypto context, and what the plain API still does
 *   pad_na    rvpn_pad alone (OpenSSL's DRBG fill)
 *   sodium    libsodium crypto_aead_chacha20poly1305_ietf_encrypt_detached of the padded
 *             length (the AEAD rvpn_ratchet_seal uses)
 *   ossl_cc   OpenSSL EVP ChaCha20-Poly1305 of the same length (same algorithm)
 *   ossl_gcm  OpenSSL EVP AES-256-GCM of a 16 KiB TLS record (what the TLS layer does)
 * and prints one line per case: name=ms_per_GB_of_payload (10^9 payload bytes; for
 * ossl_gcm the record is the payload). Numbers only mean something pinned to an idle CPU.
 * Built by vpn.py: cc -O2 -I TOP vpn_seal.c libsy_proto.a -lcrypto -lsodium
 */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/rvpn/rvpn_cctx.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "proto/rvpn/rvpn_wire.h"

#define VS_TLS_RECORD 16384

static uint8_t buf[RVPN_WIRE_HDR_LEN + RVPN_PAD_MAX + RVPN_WIRE_TAG_LEN + 64];
static uint8_t out[VS_TLS_RECORD + 64];
static struct rvpn_ratchet r;
static EVP_CIPHER_CTX *cc, *gcm;
static struct rvpn_cctx *rc;
static size_t padded;

/* Monotonic seconds. */
static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One message of case `which`. */
static void
one(int which)
{
	static const uint8_t key[32], nonce[12];
	uint8_t tag[16];
	unsigned long long tl;
	uint8_t *pt = buf + RVPN_WIRE_HDR_LEN;
	int n;

	switch (which) {
	case 0:
		n = rvpn_pad_cc(pt, RVPN_PAD_MAX, RVPN_MUX_HDR_LEN + RVPN_MUX_MAX_DATA, rc);
		if (n < 0 || rvpn_ratchet_seal_cc(&r, rc, RVPN_PT_DATA, pt, (size_t)n, NULL, buf,
		    sizeof buf) < 0)
			abort();
		break;
	case 1:
		if (rvpn_pad_cc(pt, RVPN_PAD_MAX, RVPN_MUX_HDR_LEN + RVPN_MUX_MAX_DATA, rc) < 0)
			abort();
		break;
	case 5:
		n = rvpn_pad(pt, RVPN_PAD_MAX, RVPN_MUX_HDR_LEN + RVPN_MUX_MAX_DATA, RVPN_PAD_RANDOM);
		if (n < 0 || rvpn_ratchet_seal(&r, RVPN_PT_DATA, pt, (size_t)n, NULL, buf, sizeof buf) < 0)
			abort();
		break;
	case 6:
		if (rvpn_pad(pt, RVPN_PAD_MAX, RVPN_MUX_HDR_LEN + RVPN_MUX_MAX_DATA, RVPN_PAD_RANDOM) < 0)
			abort();
		break;
	case 2:
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, tag, &tl, pt, padded, buf, 62,
		    NULL, nonce, key);
		break;
	case 3:
	case 4: {
		EVP_CIPHER_CTX *x = which == 3 ? cc : gcm;
		size_t len = which == 3 ? padded : VS_TLS_RECORD;
		int ol;
		if (EVP_EncryptInit_ex(x, NULL, NULL, NULL, nonce) != 1 ||
		    EVP_EncryptUpdate(x, NULL, &ol, buf, 13) != 1 ||
		    EVP_EncryptUpdate(x, out, &ol, pt, (int)len) != 1 ||
		    EVP_EncryptFinal_ex(x, out + ol, &ol) != 1 ||
		    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
			abort();
		break;
	}
	default:
		abort();
	}
}

int
main(int argc, char **argv)
{
	static const char *names[] = { "seal", "pad", "sodium", "ossl_cc", "ossl_gcm", "seal_na",
	    "pad_na" };
	static const uint8_t key[32], sk[32] = { 1 };
	double secs = argc > 2 && strcmp(argv[1], "-d") == 0 ? strtod(argv[2], NULL) : 1.0;

	if (sodium_init() < 0 || rvpn_ratchet_init(&r, RVPN_ROLE_SERVER, sk, NULL) != 0 ||
	    (rc = rvpn_cctx_new()) == NULL)
		return 1;
	padded = rvpn_pad_len(RVPN_MUX_HDR_LEN + RVPN_MUX_MAX_DATA);
	cc = EVP_CIPHER_CTX_new();
	gcm = EVP_CIPHER_CTX_new();
	if (cc == NULL || gcm == NULL ||
	    EVP_EncryptInit_ex(cc, EVP_chacha20_poly1305(), NULL, key, NULL) != 1 ||
	    EVP_EncryptInit_ex(gcm, EVP_aes_256_gcm(), NULL, key, NULL) != 1)
		return 1;
	printf("padded=%zu", padded);
	for (int w = 0; w < 7; w++) {
		long k = 0;
		double t0 = now_s(), t;
		do {
			for (int i = 0; i < 64; i++)
				one(w);
			k += 64;
		} while ((t = now_s() - t0) < secs);
		double payload = w == 4 ? VS_TLS_RECORD : RVPN_MUX_MAX_DATA;
		printf(" %s=%.1f", names[w], t * 1e3 / ((double)k * payload / 1e9));
	}
	printf("\n");
	return 0;
}
