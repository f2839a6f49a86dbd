/*
 * TLS session-ticket keys, rotated in memory (issue 4 item 2). One random master secret per
 * process; the keys of each time period are derived from it, so every worker and every
 * reloaded configuration agrees on them without sharing mutable state or taking a lock, and
 * no key is ever written to disk. A ticket stays valid for the period it was issued in and
 * TICKET_PERIODS_VALID - 1 periods after; tickets from older periods are refused (full
 * handshake), tickets from a past but still valid period are renewed.
 */
#ifndef SY_TERMINATOR_TICKET_H
#define SY_TERMINATOR_TICKET_H

#include <openssl/ssl.h>
#include <stdint.h>

#define TICKET_PERIOD_S      3600u  /* a new encryption key every hour */
#define TICKET_PERIODS_VALID 3u     /* accepted: this period and the two before it */

/* Makes the process master secret (once, main thread); -1 when libsodium fails. */
int ticket_init(void);

/* Wipes and frees the master secret. */
void ticket_fini(void);

/* Installs the ticket callback on ctx and the session lifetime matching the key window. */
void ticket_setup(SSL_CTX *ctx);

/*
 * Whether a ticket issued in period p opens at period now: 0 no (from the future, or
 * TICKET_PERIODS_VALID periods old or more: a full handshake), 1 yes, 2 yes but issue a
 * fresh ticket (p is a past period). OpenSSL's callback return values.
 */
int ticket_window(uint64_t p, uint64_t now);

/*
 * Derives the keys of period p into name (16 bytes), aes (32) and hmac (32). Exposed for
 * tests; callers wipe the outputs.
 */
void ticket_derive(uint64_t p, uint8_t name[16], uint8_t aes[32], uint8_t hmac[32]);

#endif
