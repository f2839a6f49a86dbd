/*
 * ControlMessage codec of rvpn_ctl.h. Layouts (integers little-endian, §7.4):
 *
 *   0 CreateFlow    u32 0 | u32 flow_id | u64 n | target[n] | u16 port
 *   1 CloseFlow     u32 1 | u32 flow_id
 *   2 FlowCreated   u32 2 | u32 flow_id | u8 tag (0/1) | [u16 local_port]
 *   3 FlowFailed    u32 3 | u32 flow_id | u64 n | error[n]
 *   4 Ping          u32 4 | u64 timestamp
 *   5 Pong          u32 5 | u64 timestamp
 *   6 WindowUpdate  u32 6 | u32 flow_id | u32 window_size
 *
 * The reader is a cursor with a bounds check before each field; a string length is
 * compared with what remains before it is used, so a u64 length cannot overflow.
 */
#include "proto/rvpn/rvpn_ctl.h"

#include <string.h>

#include "proto/rvpn/rvpn_json.h"
#include "proto/rvpn/rvpn_le.h"

/* Reads n bytes' worth at *off if they are there. */
static bool
have(size_t len, size_t off, size_t n)
{
	return off <= len && len - off >= n;
}

/* Reads a String: u64 length then bytes, at most max. */
static enum rvpn_ctl_verdict
ctl_string(const uint8_t *buf, size_t len, size_t *off, size_t max, struct rvpn_ctl *c)
{
	if (!have(len, *off, 8))
		return RVPN_CTL_ERR_SHORT;
	uint64_t n = rd_u64le(buf + *off);
	*off += 8;
	if (n > max)
		return RVPN_CTL_ERR_STRING;
	if (!have(len, *off, (size_t)n))
		return RVPN_CTL_ERR_SHORT;
	if (!rvpn_utf8_valid(buf + *off, (size_t)n))
		return RVPN_CTL_ERR_STRING;
	c->str_off = *off;
	c->str_len = (size_t)n;
	*off += (size_t)n;
	return RVPN_CTL_OK;
}

/* True when a CreateFlow target is 1..max bytes of printable ASCII without spaces. */
static bool
target_ok(const uint8_t *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/* See rvpn_ctl.h. */
enum rvpn_ctl_verdict
rvpn_ctl_decode(const uint8_t *buf, size_t len, struct rvpn_ctl *c)
{
	enum rvpn_ctl_verdict v;
	size_t off = 4;

	memset(c, 0, sizeof *c);
	if (!have(len, 0, 4))
		return RVPN_CTL_ERR_SHORT;
	uint32_t kind = rd_u32le(buf);
	if (kind >= RVPN_CTL_KIND_COUNT)
		return RVPN_CTL_ERR_VARIANT;
	c->kind = (enum rvpn_ctl_kind)kind;
	if (kind != RVPN_CTL_PING && kind != RVPN_CTL_PONG) {
		if (!have(len, off, 4))
			return RVPN_CTL_ERR_SHORT;
		c->flow_id = rd_u32le(buf + off);
		off += 4;
	}
	switch (c->kind) {
	case RVPN_CTL_CREATE_FLOW:
		if ((v = ctl_string(buf, len, &off, RVPN_CTL_MAX_TARGET, c)) != RVPN_CTL_OK)
			return v;
		if (!target_ok(buf + c->str_off, c->str_len))
			return RVPN_CTL_ERR_STRING;
		if (!have(len, off, 2))
			return RVPN_CTL_ERR_SHORT;
		c->port = rd_u16le(buf + off);
		off += 2;
		break;
	case RVPN_CTL_CLOSE_FLOW:
		break;
	case RVPN_CTL_FLOW_CREATED:
		if (!have(len, off, 1))
			return RVPN_CTL_ERR_SHORT;
		if (buf[off] > 1)
			return RVPN_CTL_ERR_OPTION;
		c->has_local_port = buf[off++] == 1;
		if (c->has_local_port) {
			if (!have(len, off, 2))
				return RVPN_CTL_ERR_SHORT;
			c->local_port = rd_u16le(buf + off);
			off += 2;
		}
		break;
	case RVPN_CTL_FLOW_FAILED:
		if ((v = ctl_string(buf, len, &off, RVPN_CTL_MAX_ERROR, c)) != RVPN_CTL_OK)
			return v;
		break;
	case RVPN_CTL_PING:
	case RVPN_CTL_PONG:
		if (!have(len, off, 8))
			return RVPN_CTL_ERR_SHORT;
		c->timestamp = rd_u64le(buf + off);
		off += 8;
		break;
	case RVPN_CTL_WINDOW_UPDATE:
		if (!have(len, off, 4))
			return RVPN_CTL_ERR_SHORT;
		c->window = rd_u32le(buf + off);
		off += 4;
		break;
	default:
		return RVPN_CTL_ERR_VARIANT;
	}
	return off == len ? RVPN_CTL_OK : RVPN_CTL_ERR_TRAILING;
}

/* See rvpn_ctl.h. */
const char *
rvpn_ctl_verdict_str(enum rvpn_ctl_verdict v)
{
	static const char *const names[RVPN_CTL_VERDICT_COUNT] = {
		[RVPN_CTL_OK] = "ok",
		[RVPN_CTL_ERR_SHORT] = "short",
		[RVPN_CTL_ERR_VARIANT] = "variant",
		[RVPN_CTL_ERR_OPTION] = "option",
		[RVPN_CTL_ERR_STRING] = "string",
		[RVPN_CTL_ERR_TRAILING] = "trailing",
	};
	return (unsigned)v < RVPN_CTL_VERDICT_COUNT ? names[v] : "unknown";
}

/* See rvpn_ctl.h. */
int
rvpn_ctl_encode(uint8_t *out, size_t cap, const struct rvpn_ctl *c, const uint8_t *str,
    size_t str_len)
{
	size_t need = 4;

	switch (c->kind) {
	case RVPN_CTL_CREATE_FLOW:
		if (!target_ok(str, str_len) || str_len > RVPN_CTL_MAX_TARGET)
			return -1;
		need += 4 + 8 + str_len + 2;
		break;
	case RVPN_CTL_CLOSE_FLOW:
		need += 4;
		break;
	case RVPN_CTL_FLOW_CREATED:
		need += 4 + 1 + (c->has_local_port ? 2 : 0);
		break;
	case RVPN_CTL_FLOW_FAILED:
		if (str_len > RVPN_CTL_MAX_ERROR || !rvpn_utf8_valid(str, str_len))
			return -1;
		need += 4 + 8 + str_len;
		break;
	case RVPN_CTL_PING:
	case RVPN_CTL_PONG:
		need += 8;
		break;
	case RVPN_CTL_WINDOW_UPDATE:
		need += 8;
		break;
	default:
		return -1;
	}
	if (cap < need)
		return -1;
	wr_u32le(out, (uint32_t)c->kind);
	size_t off = 4;
	if (c->kind != RVPN_CTL_PING && c->kind != RVPN_CTL_PONG) {
		wr_u32le(out + off, c->flow_id);
		off += 4;
	}
	switch (c->kind) {
	case RVPN_CTL_CREATE_FLOW:
	case RVPN_CTL_FLOW_FAILED:
		wr_u64le(out + off, str_len);
		off += 8;
		if (str_len > 0)
			memcpy(out + off, str, str_len);
		off += str_len;
		if (c->kind == RVPN_CTL_CREATE_FLOW) {
			wr_u16le(out + off, c->port);
			off += 2;
		}
		break;
	case RVPN_CTL_FLOW_CREATED:
		out[off++] = c->has_local_port ? 1 : 0;
		if (c->has_local_port) {
			wr_u16le(out + off, c->local_port);
			off += 2;
		}
		break;
	case RVPN_CTL_PING:
	case RVPN_CTL_PONG:
		wr_u64le(out + off, c->timestamp);
		off += 8;
		break;
	case RVPN_CTL_WINDOW_UPDATE:
		wr_u32le(out + off, c->window);
		off += 4;
		break;
	default:
		break;
	}
	return (int)off;
}
