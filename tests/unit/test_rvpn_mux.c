/*
 * Unit tests of the r-vpn inner payload codecs: mux frames (proto/rvpn/rvpn_mux.c),
 * ControlMessage bincode (rvpn_ctl.c), padding (rvpn_pad.c) and the /ws target
 * (rvpn_target.c). Mux frames never span messages, so besides the whole buffer every
 * truncation is fed (not byte-at-a-time streaming, which does not exist at this layer).
 * Limits at N and N+1: strings, padding data, frame payload length.
 */
#include <string.h>

#include "check.h"
#include "proto/rvpn/rvpn_ctl.h"
#include "proto/rvpn/rvpn_le.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_target.h"

/* Three frames back to back: control Ping, data on flow 7, an empty data frame. */
static void
test_mux(void)
{
	uint8_t buf[256], ctl[32];
	struct rvpn_ctl c = { .kind = RVPN_CTL_PING, .timestamp = 42 };
	struct rvpn_mux_frame f;
	size_t off = 0, pos, n, ends[3];
	int k;

	k = rvpn_ctl_encode(ctl, sizeof ctl, &c, NULL, 0);
	CHECK(k == 12);
	off += (size_t)rvpn_mux_header(buf + off, sizeof buf - off, 0, (size_t)k);
	memcpy(buf + off, ctl, (size_t)k);
	off += (size_t)k;
	ends[0] = off;
	off += (size_t)rvpn_mux_header(buf + off, sizeof buf - off, 7, 5);
	memcpy(buf + off, "hello", 5);
	off += 5;
	ends[1] = off;
	off += (size_t)rvpn_mux_header(buf + off, sizeof buf - off, 0xffffffffu, 0);
	ends[2] = off;
	CHECK(rvpn_mux_check(buf, off, &n) == 0 && n == 3);
	pos = 0;
	CHECK(rvpn_mux_next(buf, off, &pos, &f) == RVPN_MUX_FRAME && f.flow_id == 0 && f.len == 12);
	CHECK(rvpn_ctl_decode(buf + f.off, f.len, &c) == RVPN_CTL_OK && c.timestamp == 42);
	CHECK(rvpn_mux_next(buf, off, &pos, &f) == RVPN_MUX_FRAME && f.flow_id == 7 &&
	    memcmp(buf + f.off, "hello", 5) == 0);
	CHECK(rvpn_mux_next(buf, off, &pos, &f) == RVPN_MUX_FRAME && f.flow_id == 0xffffffffu &&
	    f.len == 0);
	CHECK(rvpn_mux_next(buf, off, &pos, &f) == RVPN_MUX_END);
	/* Every truncation: the complete frames before the cut, then END on a boundary and
	 * SHORT inside a frame; mux_check refuses everything but a boundary. */
	int good = 0;
	for (size_t cut = 0; cut < off; cut++) {
		size_t want = 0, count = 0;
		while (want < 3 && ends[want] <= cut)
			want++;
		bool boundary = cut == 0 || (want > 0 && ends[want - 1] == cut);
		enum rvpn_mux_verdict v;
		pos = 0;
		while ((v = rvpn_mux_next(buf, cut, &pos, &f)) == RVPN_MUX_FRAME)
			count++;
		int chk = rvpn_mux_check(buf, cut, &n);
		good += count == want && v == (boundary ? RVPN_MUX_END : RVPN_MUX_ERR_SHORT) &&
		    chk == (boundary && cut > 0 ? 0 : -1);
	}
	CHECKF(good == (int)off, "%d of %zu truncations", good, off);
	/* Header encoder: payload length at 65535 (N) and 65536 (N+1). */
	CHECK(rvpn_mux_header(buf, sizeof buf, 1, UINT16_MAX) == RVPN_MUX_HDR_LEN);
	CHECK(rvpn_mux_header(buf, sizeof buf, 1, (size_t)UINT16_MAX + 1) == -1);
	CHECK(rvpn_mux_header(buf, RVPN_MUX_HDR_LEN - 1, 1, 1) == -1);
	/* A length that claims more than the message holds. */
	CHECK(rvpn_mux_header(buf, sizeof buf, 1, 10) == RVPN_MUX_HDR_LEN);
	pos = 0;
	CHECK(rvpn_mux_next(buf, RVPN_MUX_HDR_LEN + 9, &pos, &f) == RVPN_MUX_ERR_SHORT);
	CHECK(rvpn_mux_next(buf, RVPN_MUX_HDR_LEN + 10, &pos, &f) == RVPN_MUX_FRAME);
}

/* Round trip of one control message plus all its truncations and one trailing byte. */
static void
ctl_rt(const struct rvpn_ctl *c, const char *s)
{
	uint8_t out[RVPN_CTL_MAX_LEN + 1];
	struct rvpn_ctl d;
	size_t sl = s ? strlen(s) : 0;
	int k = rvpn_ctl_encode(out, sizeof out, c, (const uint8_t *)s, sl);

	CHECKF(k > 0, "encode kind %d", c->kind);
	if (k <= 0)
		return;
	CHECK(rvpn_ctl_decode(out, (size_t)k, &d) == RVPN_CTL_OK && d.kind == c->kind &&
	    d.flow_id == c->flow_id && d.port == c->port && d.window == c->window &&
	    d.timestamp == c->timestamp && d.has_local_port == c->has_local_port &&
	    d.local_port == c->local_port && d.str_len == sl &&
	    (sl == 0 || memcmp(out + d.str_off, s, sl) == 0));
	int shorts = 0;
	for (int i = 0; i < k; i++)
		shorts += rvpn_ctl_decode(out, (size_t)i, &d) == RVPN_CTL_ERR_SHORT;
	CHECKF(shorts == k, "kind %d: %d of %d prefixes short", c->kind, shorts, k);
	out[k] = 0;
	CHECK(rvpn_ctl_decode(out, (size_t)k + 1, &d) == RVPN_CTL_ERR_TRAILING);
}

/* Every variant, the Option, the string limits and the variant range. */
static void
test_ctl(void)
{
	char big[RVPN_CTL_MAX_ERROR + 2];
	uint8_t out[RVPN_CTL_MAX_LEN + 16];
	struct rvpn_ctl c, d;

	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_CREATE_FLOW;
	c.flow_id = 9;
	c.port = 8443;
	ctl_rt(&c, "[2001:db8::1]");
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_CLOSE_FLOW;
	c.flow_id = 3;
	ctl_rt(&c, NULL);
	c.kind = RVPN_CTL_FLOW_CREATED;
	ctl_rt(&c, NULL);
	c.has_local_port = true;
	c.local_port = 5555;
	ctl_rt(&c, NULL);
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_FLOW_FAILED;
	c.flow_id = 4;
	ctl_rt(&c, "connection refused \xc3\xa9");
	ctl_rt(&c, "");
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_PING;
	c.timestamp = UINT64_MAX;
	ctl_rt(&c, NULL);
	c.kind = RVPN_CTL_PONG;
	ctl_rt(&c, NULL);
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_WINDOW_UPDATE;
	c.flow_id = 1;
	c.window = UINT32_MAX;
	ctl_rt(&c, NULL);

	/* Variant index 6 is the last; 7 is refused. */
	wr_u32le(out, 7);
	CHECK(rvpn_ctl_decode(out, 16, &d) == RVPN_CTL_ERR_VARIANT);
	c.kind = (enum rvpn_ctl_kind)7;
	CHECK(rvpn_ctl_encode(out, sizeof out, &c, NULL, 0) == -1);
	/* Option tag 2. */
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_FLOW_CREATED;
	int k = rvpn_ctl_encode(out, sizeof out, &c, NULL, 0);
	out[8] = 2;
	CHECK(rvpn_ctl_decode(out, (size_t)k, &d) == RVPN_CTL_ERR_OPTION);
	/* Target: 255 bytes (N) ok, 256 (N+1) refused both ways; empty, space, bad UTF-8. */
	memset(big, 'a', sizeof big);
	c.kind = RVPN_CTL_CREATE_FLOW;
	k = rvpn_ctl_encode(out, sizeof out, &c, (const uint8_t *)big, RVPN_CTL_MAX_TARGET);
	CHECK(k > 0 && rvpn_ctl_decode(out, (size_t)k, &d) == RVPN_CTL_OK);
	CHECK(rvpn_ctl_encode(out, sizeof out, &c, (const uint8_t *)big,
	    RVPN_CTL_MAX_TARGET + 1) == -1);
	wr_u64le(out + 8, RVPN_CTL_MAX_TARGET + 1);
	out[k] = 'a';
	CHECK(rvpn_ctl_decode(out, (size_t)k + 1, &d) == RVPN_CTL_ERR_STRING);
	CHECK(rvpn_ctl_encode(out, sizeof out, &c, (const uint8_t *)"", 0) == -1);
	CHECK(rvpn_ctl_encode(out, sizeof out, &c, (const uint8_t *)"a b", 3) == -1);
	k = rvpn_ctl_encode(out, sizeof out, &c, (const uint8_t *)"abc", 3);
	out[17] = ' ';
	CHECK(rvpn_ctl_decode(out, (size_t)k, &d) == RVPN_CTL_ERR_STRING);
	/* A huge u64 length cannot overflow the bounds check. */
	wr_u64le(out + 8, UINT64_MAX);
	CHECK(rvpn_ctl_decode(out, (size_t)k, &d) == RVPN_CTL_ERR_STRING);
	/* Error string: 1024 (N) ok, 1025 (N+1) refused; invalid UTF-8 refused. */
	c.kind = RVPN_CTL_FLOW_FAILED;
	k = rvpn_ctl_encode(out, sizeof out, &c, (const uint8_t *)big, RVPN_CTL_MAX_ERROR);
	CHECK(k == RVPN_CTL_MAX_LEN && rvpn_ctl_decode(out, (size_t)k, &d) == RVPN_CTL_OK);
	CHECK(rvpn_ctl_encode(out, sizeof out, &c, (const uint8_t *)big,
	    RVPN_CTL_MAX_ERROR + 1) == -1);
	k = rvpn_ctl_encode(out, sizeof out, &c, (const uint8_t *)"ok", 2);
	out[16] = 0xc3;
	out[17] = 0x28;
	CHECK(rvpn_ctl_decode(out, (size_t)k, &d) == RVPN_CTL_ERR_STRING);
	CHECK(rvpn_ctl_encode(out, sizeof out, &c, (const uint8_t *)"\xc3\x28", 2) == -1);
}

/* Padding: sizes, the 16382 limit at N and N+1, the trailer checks. */
static void
test_pad(void)
{
	static uint8_t buf[RVPN_PAD_MAX + 8];
	size_t d;

	CHECK(rvpn_pad_len(0) == 1024 && rvpn_pad_len(1022) == 1024 && rvpn_pad_len(1023) == 2048);
	CHECK(rvpn_pad_len(RVPN_PAD_MAX_DATA) == RVPN_PAD_MAX);
	CHECK(rvpn_pad_len(RVPN_PAD_MAX_DATA + 1) == 0);
	/* A full data frame we send fills 8 blocks exactly (N); one byte more needs a 9th (N+1). */
	CHECK(rvpn_pad_len(RVPN_MUX_HDR_LEN + RVPN_MUX_SEND_DATA) == 8192);
	CHECK(rvpn_pad_len(RVPN_MUX_HDR_LEN + RVPN_MUX_SEND_DATA + 1) == 9216);
	CHECK(rvpn_pad(buf, sizeof buf, RVPN_PAD_MAX_DATA, RVPN_PAD_RANDOM) == RVPN_PAD_MAX);
	CHECK(rvpn_pad(buf, sizeof buf, RVPN_PAD_MAX_DATA + 1, RVPN_PAD_RANDOM) == -1);
	/* The empty message of the reference: 1022 zeros and 0x03FE. */
	CHECK(rvpn_pad(buf, sizeof buf, 0, RVPN_PAD_ZERO) == 1024 && buf[1022] == 0x03 &&
	    buf[1023] == 0xfe && buf[0] == 0 && buf[1021] == 0);
	CHECK(rvpn_unpad(buf, 1024, &d) == 0 && d == 0);
	memcpy(buf, "abc", 3);
	CHECK(rvpn_pad(buf, 1023, 3, RVPN_PAD_RANDOM) == -1);
	CHECK(rvpn_pad(buf, 1024, 3, RVPN_PAD_RANDOM) == 1024);
	CHECK(rvpn_unpad(buf, 1024, &d) == 0 && d == 3 && memcmp(buf, "abc", 3) == 0);
	/* Trailer: padlen = len - 2 (N) is fine, len - 1 (N+1) is refused; under 2 bytes too. */
	buf[0] = 0;
	buf[1] = 0;
	buf[2] = 1;
	CHECK(rvpn_unpad(buf, 3, &d) == 0 && d == 0);
	buf[2] = 2;
	CHECK(rvpn_unpad(buf, 3, &d) == -1);
	CHECK(rvpn_unpad(buf, 1, &d) == -1 && rvpn_unpad(buf, 0, &d) == -1);
	buf[0] = 0;
	buf[1] = 0;
	CHECK(rvpn_unpad(buf, 2, &d) == 0 && d == 0);
}

/* The /ws target: 253 (N) and 254 (N+1) bytes, exact length, every truncation. */
static void
test_target(void)
{
	uint8_t buf[300];
	char host[260];
	struct rvpn_target t;
	int k;

	memset(host, 'h', sizeof host);
	k = rvpn_target_encode(buf, sizeof buf, host, RVPN_TARGET_MAX_HOST, 80);
	CHECK(k == RVPN_TARGET_MAX_HOST + 3 && rvpn_target_decode(buf, (size_t)k, &t) == 0 &&
	    t.host_len == RVPN_TARGET_MAX_HOST && t.port == 80);
	CHECK(rvpn_target_encode(buf, sizeof buf, host, RVPN_TARGET_MAX_HOST + 1, 80) == -1);
	buf[0] = RVPN_TARGET_MAX_HOST + 1;
	buf[RVPN_TARGET_MAX_HOST + 1] = 'h';
	buf[RVPN_TARGET_MAX_HOST + 2] = 0;
	buf[RVPN_TARGET_MAX_HOST + 3] = 80;
	CHECK(rvpn_target_decode(buf, RVPN_TARGET_MAX_HOST + 4, &t) == -1);
	k = rvpn_target_encode(buf, sizeof buf, "10.0.0.1", 8, 22);
	int bad = 0;
	for (int i = 0; i < k; i++)
		bad += rvpn_target_decode(buf, (size_t)i, &t) == -1;
	CHECK(bad == k);
	CHECK(rvpn_target_decode(buf, (size_t)k + 1, &t) == -1);
	CHECK(rvpn_target_encode(buf, sizeof buf, "", 0, 1) == -1);
	CHECK(rvpn_target_encode(buf, sizeof buf, "a\nb", 3, 1) == -1);
	CHECK(rvpn_target_encode(buf, 5, "abc", 3, 1) == -1);
	CHECK(rvpn_target_encode(buf, 6, "abc", 3, 1) == 6);
}

int
main(void)
{
	test_mux();
	test_ctl();
	test_pad();
	test_target();
	return check_summary();
}
