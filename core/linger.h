/*
 * Lingering close (linger.c), shared by the terminator's HTTP server and the plain-HTTP
 * listeners. After an answer that ends the connection while the client may still be sending
 * (400, 413, 414, 431, 501, 505, a redirect of a request with a body ...), closing at once
 * would make the kernel answer the unread bytes with a reset, and a reset makes the
 * client's stack drop our answer before the client read it. So we stop writing, half-close
 * (after TLS's close_notify), and read and discard what still comes, until the client
 * closes or a deadline passes, and only then close. The reads are bounded per wake-up so
 * that one sender cannot hold the event loop, and none of it is a request.
 */
#ifndef SY_CORE_LINGER_H
#define SY_CORE_LINGER_H

#include <stdint.h>

#define LINGER_TOTAL_MS  30000u       /* lingering lasts at most this long (nginx lingering_time) */
#define LINGER_READ_MS   5000u        /* ... and ends after this long without a byte (lingering_timeout) */
#define LINGER_WAKE_MAX  (64u * 1024) /* bytes discarded per wake-up before yielding to the loop */

enum linger_rc {
	LINGER_WAIT,   /* nothing more to read now: wait for readability */
	LINGER_YIELD,  /* LINGER_WAKE_MAX read: come back after the loop has run others */
	LINGER_DONE,   /* the client closed (or reset, or the socket failed): close now */
};

/* Half-closes fd for writing (SHUT_WR); -1 when the socket cannot linger (close at once). */
int linger_start(int fd);

/* Reads and discards up to LINGER_WAKE_MAX bytes from fd, adding them to *bytes. */
enum linger_rc linger_drain(int fd, uint64_t *bytes);

/* The monotonic ms at which a linger begun at start, last read from at last, ends. */
uint64_t linger_due(uint64_t start, uint64_t last);

#endif
