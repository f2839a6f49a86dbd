/*
 * Fuzz harness for the r-vpn inner payload codecs: mux frames (proto/rvpn/rvpn_mux.c),
 * ControlMessage bincode (rvpn_ctl.c), padding (rvpn_pad.c) and the /ws target
 * (rvpn_target.c). Mux frames live inside one decrypted message (they never span
 * messages), so instead of chunked feeding the harness checks every truncation: a
 * prefix must decode the same leading frames and then end or report SHORT. Everything
 * that decodes is encoded again and must give the same bytes (bincode fixint is
 * canonical). The first input byte picks: 0 mux walk of an unpadded buffer, 1 one control
 * message, 2 padding, 3 target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rvpn/rvpn_ctl.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUX_MAX_IN 20000

/* Stops the run with a reason. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_rvpn_mux: %s\n", why);
	abort();
}

/* Decodes one control payload; on OK re-encodes it and demands the same bytes. */
static void
ctl_roundtrip(const uint8_t *p, size_t n)
{
	uint8_t out[RVPN_CTL_MAX_LEN];
	struct rvpn_ctl c;
	enum rvpn_ctl_verdict v = rvpn_ctl_decode(p, n, &c);

	if ((unsigned)v >= RVPN_CTL_VERDICT_COUNT)
		fail("ctl verdict out of range");
	if (v != RVPN_CTL_OK)
		return;
	if (c.str_len > 0 && (c.str_off > n || c.str_len > n - c.str_off))
		fail("ctl string view outside the payload");
	int k = rvpn_ctl_encode(out, sizeof out, &c, p + c.str_off, c.str_len);
	if (k < 0 || (size_t)k != n || memcmp(out, p, n) != 0)
		fail("ctl round trip differs");
	/* Every strict prefix of a valid message is short. */
	for (size_t i = 0; i < n; i++)
		if (rvpn_ctl_decode(p, i, &c) != RVPN_CTL_ERR_SHORT)
			fail("ctl prefix not SHORT");
}

/* Walks buf[0 .. n) as mux frames; returns the verdict that ended it and the count. */
static enum rvpn_mux_verdict
mux_walk(const uint8_t *buf, size_t n, size_t *count, size_t *ends, size_t max)
{
	struct rvpn_mux_frame f;
	enum rvpn_mux_verdict v;
	size_t pos = 0;

	*count = 0;
	while ((v = rvpn_mux_next(buf, n, &pos, &f)) == RVPN_MUX_FRAME) {
		if (f.off < RVPN_MUX_HDR_LEN || f.off > n || f.len > n - f.off || pos != f.off + f.len)
			fail("frame view outside the buffer");
		if (ends != NULL && *count < max)
			ends[*count] = pos;
		(*count)++;
	}
	return v;
}

/* Mode 0: mux walk, frame re-encoding, and every truncation. */
static void
mode_mux(const uint8_t *buf, size_t n)
{
	static size_t ends[MUX_MAX_IN];
	static uint8_t re[MUX_MAX_IN];
	struct rvpn_mux_frame f;
	size_t count, pc, pos = 0, off = 0;
	enum rvpn_mux_verdict v = mux_walk(buf, n, &count, ends, MUX_MAX_IN);

	/* Re-encode every complete frame and compare with the input. */
	while (rvpn_mux_next(buf, n, &pos, &f) == RVPN_MUX_FRAME) {
		if (rvpn_mux_header(re + off, sizeof re - off, f.flow_id, f.len) != RVPN_MUX_HDR_LEN)
			fail("mux header encode failed");
		memcpy(re + off + RVPN_MUX_HDR_LEN, buf + f.off, f.len);
		off += RVPN_MUX_HDR_LEN + f.len;
		if (f.flow_id == RVPN_MUX_CONTROL)
			ctl_roundtrip(buf + f.off, f.len);
	}
	if (memcmp(re, buf, off) != 0)
		fail("mux re-encoding differs");
	/* Truncations: a prefix ending on a frame boundary is complete, otherwise SHORT. */
	size_t step = n / 256 + 1;
	for (size_t k = 0; k < n; k += step) {
		enum rvpn_mux_verdict pv = mux_walk(buf, k, &pc, NULL, 0);
		size_t want = 0;
		while (want < count && ends[want] <= k)
			want++;
		bool boundary = k == 0 || (want > 0 && ends[want - 1] == k);
		if (pc != want || (boundary ? pv != RVPN_MUX_END : pv != RVPN_MUX_ERR_SHORT))
			fail("mux truncation differs");
	}
	if (v == RVPN_MUX_END && rvpn_mux_check(buf, n, &pc) != (count > 0 ? 0 : -1))
		fail("mux_check disagrees with the walk");
}

/* Mode 2: pad the input in place and unpad it again; also unpad the raw input. */
static void
mode_pad(const uint8_t *buf, size_t n)
{
	static uint8_t p[RVPN_PAD_MAX + 16];
	size_t d;

	if (rvpn_unpad(buf, n, &d) == 0 && d > n - 2)
		fail("unpad longer than its input");
	if (n > RVPN_PAD_MAX_DATA) {
		if (rvpn_pad_len(n) != 0)
			fail("pad_len accepted too much");
		return;
	}
	memcpy(p, buf, n);
	int k = rvpn_pad(p, sizeof p, n, n % 2 ? RVPN_PAD_ZERO : RVPN_PAD_RANDOM);
	if (k <= 0 || (size_t)k != rvpn_pad_len(n) || k % RVPN_PAD_BLOCK != 0 || k > RVPN_PAD_MAX)
		fail("pad length wrong");
	if (rvpn_unpad(p, (size_t)k, &d) != 0 || d != n || memcmp(p, buf, n) != 0)
		fail("pad round trip differs");
}

/* Mode 3: target decode and re-encode. */
static void
mode_target(const uint8_t *buf, size_t n)
{
	uint8_t out[300];
	struct rvpn_target t;

	if (rvpn_target_decode(buf, n, &t) != 0)
		return;
	int k = rvpn_target_encode(out, sizeof out, (const char *)buf + t.host_off, t.host_len,
	    t.port);
	if (k < 0 || (size_t)k != n || memcmp(out, buf, n) != 0)
		fail("target round trip differs");
}

/* One input: mode byte, then the bytes. Each mode reads an exact-size copy. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t n = size - 1 > MUX_MAX_IN ? MUX_MAX_IN : size - 1;
	uint8_t *c = malloc(n ? n : 1);
	if (c == NULL)
		fail("out of memory");
	memcpy(c, data + 1, n);
	switch (data[0] % 4) {
	case 0: mode_mux(c, n); break;
	case 1: ctl_roundtrip(c, n); break;
	case 2: mode_pad(c, n); break;
	default: mode_target(c, n); break;
	}
	free(c);
	return 0;
}
