/*
 * PROXY protocol helpers shared by both versions: which version starts a buffer, names for
 * logs and metrics, and endpoint comparison. Pure: bytes in, verdicts out; it must never
 * be used to decide whether a peer is allowed to send PROXY at all (configuration does).
 */
#include <string.h>

#include "proto/proxy.h"

const uint8_t proxy_v2_sig[PROXY_V2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* True when the first min(len, plen) bytes of buf equal those of prefix. */
static bool
proxy_prefix_match(const uint8_t *buf, size_t len, const uint8_t *prefix, size_t plen)
{
	size_t n = len < plen ? len : plen;

	return memcmp(buf, prefix, n) == 0;
}

/* Tells which version starts buf; the two prefixes differ in their first byte. */
enum proxy_detect
proxy_detect(const uint8_t *buf, size_t len)
{
	if (len == 0)
		return PROXY_DETECT_MORE;
	if (proxy_prefix_match(buf, len, (const uint8_t *)PROXY_V1_PREFIX,
	    PROXY_V1_PREFIX_LEN))
		return len >= PROXY_V1_PREFIX_LEN ? PROXY_DETECT_V1 : PROXY_DETECT_MORE;
	if (proxy_prefix_match(buf, len, proxy_v2_sig, PROXY_V2_SIG_LEN))
		return len >= PROXY_V2_SIG_LEN ? PROXY_DETECT_V2 : PROXY_DETECT_MORE;
	return PROXY_DETECT_NONE;
}

/* Stable names of detect verdicts. */
const char *
proxy_detect_str(enum proxy_detect d)
{
	switch (d) {
	case PROXY_DETECT_NONE:
		return "none";
	case PROXY_DETECT_MORE:
		return "more";
	case PROXY_DETECT_V1:
		return "v1";
	case PROXY_DETECT_V2:
		return "v2";
	}
	return "invalid";
}

/* Stable names of families. */
const char *
proxy_family_str(enum proxy_family f)
{
	switch (f) {
	case PROXY_FAM_UNSPEC:
		return "unspec";
	case PROXY_FAM_INET:
		return "inet";
	case PROXY_FAM_INET6:
		return "inet6";
	case PROXY_FAM_UNIX:
		return "unix";
	}
	return "invalid";
}

/* Compares only what the family carries, so unused bytes never make a difference. */
bool
proxy_addr_equal(const struct proxy_addr *a, const struct proxy_addr *b)
{
	if (a->family != b->family || a->transport != b->transport || a->local != b->local)
		return false;
	switch (a->family) {
	case PROXY_FAM_UNSPEC:
		return true;
	case PROXY_FAM_INET:
		return memcmp(a->src, b->src, 4) == 0 && memcmp(a->dst, b->dst, 4) == 0 &&
		    a->sport == b->sport && a->dport == b->dport;
	case PROXY_FAM_INET6:
		return memcmp(a->src, b->src, 16) == 0 && memcmp(a->dst, b->dst, 16) == 0 &&
		    a->sport == b->sport && a->dport == b->dport;
	case PROXY_FAM_UNIX:
		return memcmp(a->src_path, b->src_path, PROXY_UNIX_PATH_LEN) == 0 &&
		    memcmp(a->dst_path, b->dst_path, PROXY_UNIX_PATH_LEN) == 0;
	}
	return false;
}
