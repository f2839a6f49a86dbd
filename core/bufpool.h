/*
 * The buffer pool: fixed-size byte buffers for everything that reads or writes a socket on a
 * worker's loop (the router's pre-read, copy relay and HTTP framing, the terminator's
 * responses). One pool per thread, so the data path takes no lock and keeps no pointer to a
 * worker; a buffer must go back on the thread that took it. A connection holds a buffer only
 * while bytes wait in it (STYLE rule 12), so an idle connection holds none; the pool keeps
 * BUFPOOL_KEEP free ones for the next burst and frees the rest.
 */
#ifndef SY_CORE_BUFPOOL_H
#define SY_CORE_BUFPOOL_H

#include <stdint.h>

#define BUFPOOL_SIZE (64u * 1024 + 2048) /* fits max_hello (64k cap) plus record slack */
#define BUFPOOL_KEEP 64                  /* free buffers kept per thread */

/* A BUFPOOL_SIZE buffer (contents undefined), or NULL when out of memory. */
uint8_t *bufpool_get(void);

/* Gives b back to this thread's pool (or frees it when the pool is full); NULL is ignored. */
void bufpool_put(uint8_t *b);

/* Frees the free buffers this thread keeps: call before the thread ends, or they leak. */
void bufpool_drain(void);

#endif
