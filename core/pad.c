/*
 * Cache-line aligned allocation for per-worker slots (see pad.h). Only allocation: what
 * goes in the slots is the caller's.
 */
#include "core/pad.h"

#include <stdlib.h>
#include <string.h>

/* aligned_alloc wants a size that is a multiple of the alignment: round up, zero it. */
void *
pad_calloc(size_t n, size_t size)
{
	if (n == 0)
		n = 1;
	if (size != 0 && n > (SIZE_MAX - PAD_LINE) / size)
		return NULL;
	size_t bytes = (n * size + PAD_LINE - 1) / PAD_LINE * PAD_LINE;
	void *p = aligned_alloc(PAD_LINE, bytes ? bytes : PAD_LINE);
	if (p != NULL)
		memset(p, 0, bytes ? bytes : PAD_LINE);
	return p;
}
