/*
 * PROXY protocol in (see pp_in.h). It must never trust a byte past what the parsers
 * validated and never read past the header: what follows belongs to the next layer.
 */
#include "router/pp_in.h"

#include <netinet/in.h>
#include <string.h>

#include "proto/proxy_v2.h"

void
pp_in_init(struct pp_in *p)
{
	proxy_v1_init(&p->v1);
}

/* Writes one end of a decoded header as a socket address. */
static void
pp_in_sockaddr(struct sockaddr_storage *ss, enum proxy_family fam, const uint8_t *ip, uint16_t port)
{
	memset(ss, 0, sizeof *ss);
	if (fam == PROXY_FAM_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, ip, 4);
		s->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, ip, 16);
		s->sin6_port = htons(port);
	}
}

/* Takes the addresses from a decoded header; false for a transport we do not relay. */
static bool
pp_in_apply(const struct proxy_addr *a, struct sockaddr_storage *src, struct sockaddr_storage *dst,
    bool *proxied)
{
	*proxied = false;
	if (a->local || a->family == PROXY_FAM_UNSPEC || a->family == PROXY_FAM_UNIX)
		return true; /* health checks and local traffic: keep the socket's addresses */
	if (a->transport == PROXY_TRANS_DGRAM)
		return false;
	pp_in_sockaddr(src, a->family, a->src, a->sport);
	pp_in_sockaddr(dst, a->family, a->dst, a->dport);
	*proxied = true;
	return true;
}

enum pp_in_rc
pp_in_step(struct pp_in *p, const uint8_t *buf, size_t len, size_t *hdr_len,
    struct sockaddr_storage *src, struct sockaddr_storage *dst, bool *proxied)
{
	enum proxy_detect d = proxy_detect(buf, len);
	if (d == PROXY_DETECT_MORE)
		return PP_IN_MORE;
	if (d == PROXY_DETECT_NONE)
		return PP_IN_MISSING;
	if (d == PROXY_DETECT_V1) {
		size_t done = p->v1.len;
		enum proxy_v1_verdict v = proxy_v1_feed(&p->v1, buf + done, len - done);
		if (v == PROXY_V1_MORE)
			return PP_IN_MORE;
		if (v != PROXY_V1_DONE)
			return PP_IN_INVALID;
		*hdr_len = p->v1.len;
		return pp_in_apply(&p->v1.addr, src, dst, proxied) ? PP_IN_DONE : PP_IN_UNSUPPORTED;
	}
	struct proxy_v2_result r;
	enum proxy_v2_verdict v = proxy_v2_parse(buf, len, &r);
	if (v == PROXY_V2_MORE)
		return PP_IN_MORE;
	if (v != PROXY_V2_DONE)
		return PP_IN_INVALID;
	*hdr_len = r.hdr_len;
	return pp_in_apply(&r.addr, src, dst, proxied) ? PP_IN_DONE : PP_IN_UNSUPPORTED;
}
