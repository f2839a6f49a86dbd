/*
 * The terminator's buffering write BIO (twbio.c): TLS records OpenSSL produces are collected
 * in one core/bufpool buffer and leave in one write(2) / sendmsg(2) per TWBIO_CAP bytes
 * instead of one write per 16 KiB record. Bounded (never more than TWBIO_CAP bytes held;
 * past that OpenSSL gets a retry, so SSL_write answers WANT_WRITE exactly when the kernel
 * and this buffer are both full); the buffer is taken only while bytes wait and given back
 * when it empties. The owner must call twbio_flush before it waits for anything (and before
 * closing): bytes held here are not on the wire yet.
 */
#ifndef SY_TERMINATOR_TWBIO_H
#define SY_TERMINATOR_TWBIO_H

#include <openssl/bio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bufpool.h"

#define TWBIO_CAP BUFPOOL_SIZE /* bytes held at most: four full TLS 1.3 records and more */

/* One connection's write buffer; embedded in its owner, zeroed, fd set. */
struct twbio {
	int      fd;
	uint8_t *buf;        /* core/bufpool, only while bytes wait */
	size_t   off, len;   /* unsent bytes are buf[off, len) */
	uint64_t sent;       /* bytes the kernel took */
	size_t   high;       /* most bytes ever held (tests: the bound) */
};

/* Makes the BIO method; once per process, before any worker runs. 0 or -1. */
int twbio_init_process(void);

/* A BIO writing through w (w must outlive it; the BIO never closes the fd); NULL: no memory. */
BIO *twbio_new(struct twbio *w);

/* Bytes held, not yet given to the kernel. */
size_t twbio_pending(const struct twbio *w);

/* Writes what is held: 1 all out (the buffer went back to the pool), 0 the kernel is full
 * (wait for writability; errno EAGAIN), -1 a socket error (errno set). */
int twbio_flush(struct twbio *w);

/* Drops what is held and gives the buffer back (the connection is closing). */
void twbio_discard(struct twbio *w);

#endif
