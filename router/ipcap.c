/*
 * Per-source-IP pre-read counters (see ipcap.h). Lock-free: one atomic per bucket.
 */
#include "router/ipcap.h"

#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

static uint32_t ipcap_count[IPCAP_BUCKETS];
static uint8_t ipcap_key[crypto_shorthash_KEYBYTES];

void
ipcap_init(void)
{
	randombytes_buf(ipcap_key, sizeof ipcap_key);
}

uint32_t
ipcap_bucket(const struct sockaddr_storage *ss)
{
	uint8_t in[9], h[crypto_shorthash_BYTES];
	size_t n;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		in[0] = 4;
		memcpy(in + 1, &s->sin_addr, 4);
		n = 5;
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		in[0] = 6;
		memcpy(in + 1, &s->sin6_addr, 8);
		n = 9;
	}
	crypto_shorthash(h, in, n, ipcap_key);
	uint32_t b;
	memcpy(&b, h, sizeof b);
	return b & (IPCAP_BUCKETS - 1);
}

bool
ipcap_take(uint32_t bucket, uint32_t cap)
{
	uint32_t cur = __atomic_load_n(&ipcap_count[bucket], __ATOMIC_RELAXED);
	do {
		if (cur >= cap)
			return false;
	} while (!__atomic_compare_exchange_n(&ipcap_count[bucket], &cur, cur + 1, true,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

void
ipcap_release(uint32_t bucket)
{
	__atomic_sub_fetch(&ipcap_count[bucket], 1, __ATOMIC_RELAXED);
}
