/*
 * The per-thread buffer pool (see bufpool.h): a stack of free buffers in thread-local
 * storage. No locks, no system call on a hit; a miss is one malloc.
 */
#include "core/bufpool.h"

#include <stddef.h>
#include <stdlib.h>

/* This thread's free buffers; [0, bufpool_n) are valid. */
static _Thread_local uint8_t *bufpool_free[BUFPOOL_KEEP];
static _Thread_local size_t bufpool_n;

/* Pops a free buffer, or allocates one. */
uint8_t *
bufpool_get(void)
{
	if (bufpool_n > 0)
		return bufpool_free[--bufpool_n];
	return malloc(BUFPOOL_SIZE);
}

/* Pushes b back, or frees it when BUFPOOL_KEEP are already kept. */
void
bufpool_put(uint8_t *b)
{
	if (b == NULL)
		return;
	if (bufpool_n < BUFPOOL_KEEP) {
		bufpool_free[bufpool_n++] = b;
		return;
	}
	free(b);
}

/* Frees every kept buffer (thread-local storage vanishes with the thread). */
void
bufpool_drain(void)
{
	while (bufpool_n > 0)
		free(bufpool_free[--bufpool_n]);
}
