/*
 * SOCKS5 greeting and request parsers, reply encoder and flow-error mapping (RFC 1928;
 * see socks5.h for the verdict table). The messages are small and fixed-shape, so each
 * call decides from the whole buffer so far; the verdict is sticky once it is not MORE,
 * which makes any split of the input give the same answer. Never reads past len or past
 * the message. No allocation, no I/O.
 *
 *   greeting   +-----+----------+----------+
 *              | VER | NMETHODS | METHODS  |     VER = 5, NMETHODS 1..255
 *              +-----+----------+----------+
 *              |  1  |    1     | 1 to 255 |
 *
 *   request    +-----+-----+-------+------+----------+----------+
 *              | VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
 *              +-----+-----+-------+------+----------+----------+
 *              |  1  |  1  | X'00' |  1   | Variable |    2     |
 *              DST.ADDR: 4 bytes (ATYP 1), len + name (ATYP 3), 16 bytes (ATYP 4);
 *              DST.PORT in network order.
 */
#include <string.h>

#include "proto/rd.h"
#include "proto/socks5.h"

void
socks5_greet_init(struct socks5_greet *g)
{
	memset(g, 0, sizeof *g);
	g->verdict = SOCKS5_MORE;
}

enum socks5_verdict
socks5_greet_feed(struct socks5_greet *g, const uint8_t *buf, size_t len)
{
	if (g->verdict != SOCKS5_MORE)
		return g->verdict;
	if (len < 1)
		return SOCKS5_MORE;
	if (buf[0] != SOCKS5_VERSION)
		return g->verdict = SOCKS5_ERR_VERSION;
	if (len < 2)
		return SOCKS5_MORE;
	size_t n = buf[1];
	if (n == 0)
		return g->verdict = SOCKS5_ERR_METHODS;
	if (len < 2 + n)
		return SOCKS5_MORE;
	g->no_auth = memchr(buf + 2, SOCKS5_METHOD_NONE, n) != NULL;
	g->len = (uint16_t)(2 + n);
	return g->verdict = SOCKS5_DONE;
}

void
socks5_req_init(struct socks5_req *r)
{
	memset(r, 0, sizeof *r);
	r->verdict = SOCKS5_MORE;
}

enum socks5_verdict
socks5_req_feed(struct socks5_req *r, const uint8_t *buf, size_t len)
{
	size_t alen;

	if (r->verdict != SOCKS5_MORE)
		return r->verdict;
	if (len < 1)
		return SOCKS5_MORE;
	if (buf[0] != SOCKS5_VERSION)
		return r->verdict = SOCKS5_ERR_VERSION;
	if (len < 2)
		return SOCKS5_MORE;
	r->cmd = buf[1];
	if (r->cmd != SOCKS5_CMD_CONNECT)
		return r->verdict = SOCKS5_ERR_COMMAND;
	if (len < 3)
		return SOCKS5_MORE;
	if (buf[2] != 0)
		return r->verdict = SOCKS5_ERR_RESERVED;
	if (len < 4)
		return SOCKS5_MORE;
	r->atyp = buf[3];
	switch (r->atyp) {
	case SOCKS5_ATYP_IPV4:
		alen = 4;
		break;
	case SOCKS5_ATYP_IPV6:
		alen = 16;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (len < 5)
			return SOCKS5_MORE;
		if (buf[4] == 0)
			return r->verdict = SOCKS5_ERR_HOST;
		/* Bytes of the name are checked as they come, so a bad one is seen early and
		 * at the same byte whatever the split. */
		for (size_t i = 5; i < len && i < 5 + (size_t)buf[4]; i++) {
			if (buf[i] < 0x21 || buf[i] > 0x7e)
				return r->verdict = SOCKS5_ERR_HOST;
		}
		alen = 1 + (size_t)buf[4];
		break;
	default:
		return r->verdict = SOCKS5_ERR_ATYP;
	}
	if (len < 4 + alen + 2)
		return SOCKS5_MORE;
	if (r->atyp == SOCKS5_ATYP_DOMAIN) {
		r->host_off = 5;
		r->host_len = buf[4];
	} else {
		memcpy(r->addr, buf + 4, alen);
	}
	r->port = rd_u16be(buf + 4 + alen);
	r->len = (uint16_t)(4 + alen + 2);
	return r->verdict = SOCKS5_DONE;
}

const char *
socks5_verdict_str(enum socks5_verdict v)
{
	static const char *const names[SOCKS5_VERDICT_COUNT] = {
		[SOCKS5_DONE] = "done",
		[SOCKS5_MORE] = "more",
		[SOCKS5_ERR_VERSION] = "version",
		[SOCKS5_ERR_METHODS] = "methods",
		[SOCKS5_ERR_COMMAND] = "command",
		[SOCKS5_ERR_RESERVED] = "reserved",
		[SOCKS5_ERR_ATYP] = "atyp",
		[SOCKS5_ERR_HOST] = "host",
	};
	return (unsigned)v < SOCKS5_VERDICT_COUNT ? names[v] : "unknown";
}

int
socks5_verdict_rep(enum socks5_verdict v)
{
	switch (v) {
	case SOCKS5_ERR_COMMAND: return SOCKS5_REP_COMMAND;
	case SOCKS5_ERR_ATYP: return SOCKS5_REP_ATYP;
	case SOCKS5_ERR_RESERVED:
	case SOCKS5_ERR_HOST: return SOCKS5_REP_GENERAL;
	default: return -1;
	}
}

void
socks5_reply(uint8_t out[SOCKS5_REPLY_LEN], enum socks5_rep rep)
{
	memset(out, 0, SOCKS5_REPLY_LEN);
	out[0] = SOCKS5_VERSION;
	out[1] = (uint8_t)rep;
	out[3] = SOCKS5_ATYP_IPV4;
}

/* True when needle (lowercase) occurs in s[0 .. len), ignoring ASCII case. */
static bool
socks5_has(const uint8_t *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; n <= len && i <= len - n; i++) {
		size_t k = 0;
		while (k < n) {
			uint8_t c = s[i + k];
			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c + 32);
			if (c != (uint8_t)needle[k])
				break;
			k++;
		}
		if (k == n)
			return true;
	}
	return false;
}

enum socks5_rep
socks5_rep_for_error(const uint8_t *err, size_t len)
{
	if (socks5_has(err, len, "denied") || socks5_has(err, len, "not allowed"))
		return SOCKS5_REP_NOT_ALLOWED;
	if (socks5_has(err, len, "refused") || socks5_has(err, len, "connect failed"))
		return SOCKS5_REP_REFUSED;
	if (socks5_has(err, len, "resolve") || socks5_has(err, len, "unreachable") ||
	    socks5_has(err, len, "timed out") || socks5_has(err, len, "timeout"))
		return SOCKS5_REP_HOST_UNREACH;
	return SOCKS5_REP_GENERAL;
}
