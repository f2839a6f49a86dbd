/*
 * Fuzz harness for the r-vpn session decrypt path (proto/rvpn/rvpn_ratchet.c over
 * rvpn_wire.c) with a fixed session: SK and header keys of rvpn-vectors.json. The first
 * input byte picks a mode:
 *   0  the rest is a RatchetMessage for a fresh server state; a rejected message must
 *      leave the state byte-for-byte unchanged; an accepted one is unpadded and walked
 *      as mux frames and control messages, as the engine would;
 *   1  the rest is a plaintext: the client seals it twice, the server opens the first,
 *      then a copy of the second with one input-chosen byte flipped must be rejected with
 *      the state unchanged, the untouched second must open, and a replay must not;
 *   2  the rest is a script of gaps: the client drops that many messages before each
 *      delivered one; every delivery within RVPN_MAX_SKIP opens, the state otherwise
 *      stays unchanged;
 *   3  the rest is decoded as a wire message and its header encoded back byte-exact.
 * Every open also runs on a copy of the state through the engine's crypto context
 * (rvpn_ratchet_open_cc, OpenSSL): same verdict, same state after, same plaintext.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rvpn/rvpn_cctx.h"
#include "proto/rvpn/rvpn_ctl.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "proto/rvpn/rvpn_target.h"
#include "proto/rvpn/rvpn_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MSG_MAX_IN 20000 /* larger inputs are cut: one WS message is at most 16 KiB */

/* x3dh.sk of rvpn-vectors.json. */
static const uint8_t SK[32] = {
	0xa7, 0x16, 0x9e, 0x8f, 0x3e, 0x4a, 0xf5, 0x58, 0x7b, 0x62, 0xda, 0x4f, 0x96, 0x8b,
	0x15, 0x7f, 0xfc, 0xec, 0x99, 0xfd, 0xb9, 0xe2, 0xc8, 0xd6, 0x2d, 0x64, 0x5b, 0x14,
	0xe7, 0x8d, 0x47, 0x37 };

/* Stops the run with a reason. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_rvpn_msg: %s\n", why);
	abort();
}

/* The fixed client and server states (header keys c0.. and e0..). */
static void
session(struct rvpn_ratchet *c, struct rvpn_ratchet *s)
{
	static struct rvpn_ratchet c0, s0;
	static int ready;

	if (!ready) {
		uint8_t hc[32], hs[32];
		for (int i = 0; i < 32; i++) {
			hc[i] = (uint8_t)(0xc0 + i);
			hs[i] = (uint8_t)(0xe0 + i);
		}
		if (rvpn_ratchet_init(&c0, RVPN_ROLE_CLIENT, SK, hc) != 0 ||
		    rvpn_ratchet_init(&s0, RVPN_ROLE_SERVER, SK, hs) != 0)
			fail("init");
		ready = 1;
	}
	*c = c0;
	*s = s0;
}

/* Opens wire on s; on rejection asserts that s did not change. */
static enum rvpn_open_verdict
open_checked(struct rvpn_ratchet *s, const uint8_t *wire, size_t len, uint8_t *pt, size_t cap,
    size_t *ptlen, uint8_t *type)
{
	static uint8_t pt2[MSG_MAX_IN];
	static struct rvpn_cctx *cc;
	struct rvpn_ratchet before = *s, alt = *s;
	size_t ptlen2 = 0;
	uint8_t type2 = 0;

	if (cc == NULL && (cc = rvpn_cctx_new()) == NULL)
		fail("cctx");
	enum rvpn_open_verdict v2 = rvpn_ratchet_open_cc(&alt, cc, wire, len, pt2,
	    cap < sizeof pt2 ? cap : sizeof pt2, &ptlen2, &type2);
	enum rvpn_open_verdict v = rvpn_ratchet_open(s, wire, len, pt, cap, ptlen, type);
	if (v != v2 || memcmp(&alt, s, sizeof alt) != 0)
		fail("the OpenSSL path disagrees with the libsodium path");
	if (v == RVPN_OPEN_OK && (ptlen2 != *ptlen || type2 != *type || memcmp(pt, pt2, ptlen2) != 0))
		fail("the OpenSSL path opened other bytes");

	if ((unsigned)v >= RVPN_OPEN_VERDICT_COUNT)
		fail("verdict out of range");
	if (v != RVPN_OPEN_OK && memcmp(&before, s, sizeof before) != 0)
		fail("a rejected message changed the state");
	if (v == RVPN_OPEN_OK && (s->recv_n <= before.recv_n || !s->remote_dh_set))
		fail("an accepted message did not advance the state");
	return v;
}

/* What the engine does with an authentic plaintext: unpad, walk frames, decode control. */
static void
consume(const uint8_t *pt, size_t n)
{
	struct rvpn_mux_frame f;
	struct rvpn_target t;
	struct rvpn_ctl c;
	size_t dlen, pos = 0;

	if (rvpn_unpad(pt, n, &dlen) != 0)
		return;
	if (dlen > n - 2)
		fail("unpad longer than the input");
	(void)rvpn_target_decode(pt, dlen, &t);
	while (rvpn_mux_next(pt, dlen, &pos, &f) == RVPN_MUX_FRAME) {
		if (f.off + f.len > dlen)
			fail("frame past the end");
		if (f.flow_id == RVPN_MUX_CONTROL)
			(void)rvpn_ctl_decode(pt + f.off, f.len, &c);
	}
}

/* Mode 0: an arbitrary message against a fresh server state. */
static void
mode_raw(const uint8_t *buf, size_t n)
{
	static uint8_t pt[MSG_MAX_IN];
	struct rvpn_ratchet c, s;
	size_t ptlen;
	uint8_t type;

	session(&c, &s);
	if (open_checked(&s, buf, n, pt, sizeof pt, &ptlen, &type) == RVPN_OPEN_OK)
		consume(pt, ptlen);
	rvpn_ratchet_wipe(&c);
	rvpn_ratchet_wipe(&s);
}

/* Mode 1: seal, open, tamper one byte of the next message, replay. */
static void
mode_tamper(const uint8_t *buf, size_t n)
{
	static uint8_t w1[MSG_MAX_IN + 128], w2[MSG_MAX_IN + 128], bad[MSG_MAX_IN + 128];
	static uint8_t pt[MSG_MAX_IN];
	struct rvpn_ratchet c, s;
	size_t ptlen;
	uint8_t type, ptype;
	int l1, l2;

	if (n < 3)
		return;
	ptype = buf[0] % (RVPN_TYPE_MAX_C2S + 1);
	size_t at = (size_t)buf[1] << 8 | buf[2];
	buf += 3;
	n -= 3;
	session(&c, &s);
	l1 = rvpn_ratchet_seal(&c, ptype, buf, n, NULL, w1, sizeof w1);
	l2 = rvpn_ratchet_seal(&c, ptype, buf, n, NULL, w2, sizeof w2);
	if (l1 < 0 || l2 < 0)
		fail("seal failed");
	if (open_checked(&s, w1, (size_t)l1, pt, sizeof pt, &ptlen, &type) != RVPN_OPEN_OK ||
	    ptlen != n || type != ptype || (n > 0 && memcmp(pt, buf, n) != 0))
		fail("own message 1 did not open to its plaintext");
	memcpy(bad, w2, (size_t)l2);
	bad[at % (size_t)l2] ^= (uint8_t)(1u << (at >> 13));
	if (open_checked(&s, bad, (size_t)l2, pt, sizeof pt, &ptlen, &type) == RVPN_OPEN_OK)
		fail("a tampered message was accepted");
	if (open_checked(&s, w2, (size_t)l2, pt, sizeof pt, &ptlen, &type) != RVPN_OPEN_OK)
		fail("own message 2 did not open after a rejected tamper");
	if (open_checked(&s, w2, (size_t)l2, pt, sizeof pt, &ptlen, &type) != RVPN_OPEN_ERR_OLD)
		fail("a replay was not refused as old");
	rvpn_ratchet_wipe(&c);
	rvpn_ratchet_wipe(&s);
}

/* Mode 2: gaps between delivered messages. */
static void
mode_gaps(const uint8_t *buf, size_t n)
{
	static uint8_t w[256], pt[256];
	struct rvpn_ratchet c, s;
	size_t ptlen;
	uint8_t type;
	int l;

	session(&c, &s);
	for (size_t i = 0; i < n && i < 16; i++) {
		unsigned gap = buf[i] == 0xff ? RVPN_MAX_SKIP + 1 : buf[i] == 0xfe ? RVPN_MAX_SKIP :
		    buf[i] % 8;
		for (unsigned k = 0; k < gap; k++)
			if (rvpn_ratchet_seal(&c, RVPN_PT_DATA, buf, 1, NULL, w, sizeof w) < 0)
				fail("seal failed");
		l = rvpn_ratchet_seal(&c, RVPN_PT_DATA, buf + i, 1, NULL, w, sizeof w);
		if (l < 0)
			fail("seal failed");
		enum rvpn_open_verdict v = open_checked(&s, w, (size_t)l, pt, sizeof pt, &ptlen,
		    &type);
		if (gap <= RVPN_MAX_SKIP && v != RVPN_OPEN_OK)
			fail("a message within the skip limit did not open");
		if (gap > RVPN_MAX_SKIP) {
			if (v != RVPN_OPEN_ERR_SKIP)
				fail("a message past the skip limit was not refused");
			break;
		}
	}
	rvpn_ratchet_wipe(&c);
	rvpn_ratchet_wipe(&s);
}

/* Mode 3: wire header round trip. */
static void
mode_wire(const uint8_t *buf, size_t n)
{
	struct rvpn_wire_msg m;
	uint8_t hdr[RVPN_WIRE_HDR_LEN];

	if (rvpn_wire_decode(buf, n, &m) != RVPN_WIRE_OK)
		return;
	int k = rvpn_wire_encode_header(hdr, sizeof hdr, &m);
	if (k < 0 || (size_t)k != m.ct_off || m.ct_off + m.ct_len != n ||
	    memcmp(hdr, buf, (size_t)k) != 0)
		fail("wire header round trip differs");
}

/* One input: mode byte, then the mode's bytes. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t n = size - 1 > MSG_MAX_IN ? MSG_MAX_IN : size - 1;
	switch (data[0] % 4) {
	case 0: mode_raw(data + 1, n); break;
	case 1: mode_tamper(data + 1, n); break;
	case 2: mode_gaps(data + 1, n); break;
	default: mode_wire(data + 1, n); break;
	}
	return 0;
}
