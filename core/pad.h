/*
 * Per-worker slots that share no cache line. A value that one worker writes on every
 * connection (its connection count on a generation, its round-robin cursor of an upstream)
 * lives in an array indexed by worker; packed, neighbouring workers' slots share a 64-byte
 * line, and every write by one worker takes the line away from the others' caches (false
 * sharing: the cost of a contended atomic for a value nobody else writes). Padded slots
 * cost 64 bytes per worker instead of 4. Must never be used for data that is truly shared:
 * padding does not make a shared counter cheaper.
 */
#ifndef SY_CORE_PAD_H
#define SY_CORE_PAD_H

#include <stddef.h>
#include <stdint.h>

#define PAD_LINE 64 /* bytes of a cache line (x86-64; most arm64 cores) */

/* One uint32_t alone on its cache line. */
struct pad_u32 {
	_Alignas(PAD_LINE) uint32_t v;
};

/* calloc for n objects of size bytes starting on a cache line (size should be a multiple
 * of PAD_LINE, as the sizeof of a type aligned to it is). NULL when out of memory or when
 * n * size overflows; free() releases it. */
void *pad_calloc(size_t n, size_t size);

#endif
