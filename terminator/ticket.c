/*
 * Session-ticket keys derived per period from one process secret (see ticket.h). The key
 * name carries the period in clear (8 bytes) and 8 bytes derived from the secret, so a
 * ticket names the keys that can open it and a forged name is refused before any
 * decryption. Derived keys live on the stack of the callback and are wiped before it
 * returns; the master secret sits in sodium_malloc'd memory, wiped by ticket_fini.
 */
#include "terminator/ticket.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "proto/rd.h"

#define TICKET_KDF_CTX "syticket" /* libsodium KDF context: exactly 8 bytes */

static uint8_t *ticket_master; /* crypto_kdf_KEYBYTES, sodium_malloc'd */
static EVP_CIPHER *ticket_cipher; /* AES-256-CBC, fetched once: no implicit fetch per ticket */

/* Makes the master secret. */
int
ticket_init(void)
{
	if (ticket_master != NULL)
		return 0;
	ticket_master = sodium_malloc(crypto_kdf_KEYBYTES);
	if (ticket_master == NULL)
		return -1;
	crypto_kdf_keygen(ticket_master);
	sodium_mprotect_readonly(ticket_master);
	ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	return ticket_cipher != NULL ? 0 : -1;
}

/* Wipes the master secret (sodium_free wipes before freeing). */
void
ticket_fini(void)
{
	if (ticket_master != NULL)
		sodium_free(ticket_master);
	ticket_master = NULL;
	EVP_CIPHER_free(ticket_cipher);
	ticket_cipher = NULL;
}

/* Derives the keys of period p: two subkeys, ids 2p and 2p+1. */
void
ticket_derive(uint64_t p, uint8_t name[16], uint8_t aes[32], uint8_t hmac[32])
{
	uint8_t k[64];
	crypto_kdf_derive_from_key(k, sizeof k, 2 * p, TICKET_KDF_CTX, ticket_master);
	memcpy(aes, k, 32);
	memcpy(hmac, k + 32, 32);
	crypto_kdf_derive_from_key(k, 16, 2 * p + 1, TICKET_KDF_CTX, ticket_master);
	wr_u32be(name, (uint32_t)(p >> 32));
	wr_u32be(name + 4, (uint32_t)p);
	memcpy(name + 8, k, 8);
	sodium_memzero(k, sizeof k);
}

/* See ticket.h. */
int
ticket_window(uint64_t p, uint64_t now)
{
	if (p > now || now - p >= TICKET_PERIODS_VALID)
		return 0;
	return p == now ? 1 : 2;
}

/* The current period. */
static uint64_t
ticket_period(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec / TICKET_PERIOD_S;
}

/*
 * OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb). enc = 1: fill
 * key_name and iv, set up AES-256-CBC and HMAC-SHA256 with this period's keys, return 1.
 * enc = 0: key_name comes from the client's ticket (untrusted); return 0 when no key fits
 * (full handshake), 1 to accept, 2 to accept and issue a fresh ticket.
 */
static int
ticket_cb(SSL *s, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	(void)s;
	uint8_t name[16], aes[32], hmac[32];
	uint64_t now = ticket_period(), p;
	int rc = -1;

	if (enc) {
		p = now;
		ticket_derive(p, name, aes, hmac);
		memcpy(key_name, name, 16);
		/* OpenSSL's DRBG: no system call per ticket, as libsodium's getrandom would be. */
		if (RAND_bytes(iv, 16) != 1)
			goto out;
	} else {
		p = (uint64_t)rd_u32be(key_name) << 32 | rd_u32be(key_name + 4);
		if (ticket_window(p, now) == 0) {
			rc = 0; /* unknown or expired: a full handshake, not an error */
			goto out;
		}
		ticket_derive(p, name, aes, hmac);
		if (sodium_memcmp(name, key_name, 16) != 0) {
			rc = 0;
			goto out;
		}
	}
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_CipherInit_ex(cctx, ticket_cipher, NULL, aes, iv, enc) != 1 ||
	    EVP_MAC_init(hctx, hmac, sizeof hmac, params) != 1)
		goto out; /* -1: OpenSSL treats it as an internal error */
	rc = enc ? 1 : ticket_window(p, now);
out:
	sodium_memzero(aes, sizeof aes);
	sodium_memzero(hmac, sizeof hmac);
	sodium_memzero(name, sizeof name);
	return rc;
}

/* Installs the callback; a session outlives no key that could open its ticket. */
void
ticket_setup(SSL_CTX *ctx)
{
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	SSL_CTX_set_timeout(ctx, (long)(TICKET_PERIOD_S * (TICKET_PERIODS_VALID - 1)));
	SSL_CTX_set_num_tickets(ctx, 1);
}
