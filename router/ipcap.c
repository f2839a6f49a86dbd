/*
 * Per-source-IP counters (see ipcap.h). Lock-free: one atomic per bucket.
 */
#include "router/ipcap.h"

#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

static uint32_t ipcap_count[IPCAP_TABLES][IPCAP_BUCKETS];
static uint8_t ipcap_key[crypto_shorthash_KEYBYTES];

void
ipcap_init(void)
{
	randombytes_buf(ipcap_key, sizeof ipcap_key);
}

uint32_t
ipcap_bucket(const char *listener, const struct sockaddr_storage *ss)
{
	/* The listener name (at most CONF_NAME_MAX bytes, NUL-terminated), then the address. */
	uint8_t in[CONF_NAME_MAX + 1 + 9], h[crypto_shorthash_BYTES];
	size_t n = strnlen(listener, CONF_NAME_MAX);
	memcpy(in, listener, n);
	in[n++] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		in[n++] = 4;
		memcpy(in + n, &s->sin_addr, 4);
		n += 4;
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		in[n++] = 6;
		memcpy(in + n, &s->sin6_addr, 8);
		n += 8;
	}
	crypto_shorthash(h, in, n, ipcap_key);
	uint32_t b;
	memcpy(&b, h, sizeof b);
	return b & (IPCAP_BUCKETS - 1);
}

bool
ipcap_take(enum ipcap_table t, uint32_t bucket, uint32_t cap)
{
	uint32_t *p = &ipcap_count[t][bucket];
	uint32_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
	do {
		if (cur >= cap)
			return false;
	} while (!__atomic_compare_exchange_n(p, &cur, cur + 1, true, __ATOMIC_RELAXED,
	    __ATOMIC_RELAXED));
	return true;
}

void
ipcap_release(enum ipcap_table t, uint32_t bucket)
{
	__atomic_sub_fetch(&ipcap_count[t][bucket], 1, __ATOMIC_RELAXED);
}

enum ipcap_verdict
ipcap_admit(struct ipcap_hold *h, const struct conf_listener *l,
    const struct sockaddr_storage *src)
{
	h->bucket = ipcap_bucket(l->name, src);
	if (l->max_connections_per_ip > 0) {
		if (!ipcap_take(IPCAP_CONNECTIONS, h->bucket, l->max_connections_per_ip))
			return IPCAP_OVER_CONNECTIONS;
		h->connection = true;
	}
	if (!ipcap_take(IPCAP_PREREAD, h->bucket, l->max_preread_per_ip)) {
		ipcap_close(h);
		return IPCAP_OVER_PREREAD;
	}
	h->preread = true;
	return IPCAP_OK;
}

void
ipcap_preread_done(struct ipcap_hold *h)
{
	if (h->preread) {
		ipcap_release(IPCAP_PREREAD, h->bucket);
		h->preread = false;
	}
}

void
ipcap_close(struct ipcap_hold *h)
{
	ipcap_preread_done(h);
	if (h->connection) {
		ipcap_release(IPCAP_CONNECTIONS, h->bucket);
		h->connection = false;
	}
}
