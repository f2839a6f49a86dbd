/*
 * Unit tests of the r-vpn session crypto (proto/rvpn/rvpn_ratchet.c) and its wire codec
 * (rvpn_wire.c): round trips both ways; authenticate-then-commit (every byte of a valid
 * message flipped in every bit: each is rejected and the state struct is byte-identical
 * afterwards); every truncation; replays; the limits RVPN_MAX_SKIP, RVPN_WIRE_MAX_CT, the
 * payload type ranges and the u32 message counters at N and N+1.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/rvpn/rvpn_cctx.h"
#include "proto/rvpn/rvpn_le.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "proto/rvpn/rvpn_wire.h"

static uint8_t SK[32];

/* The crypto context of the pass: NULL (libsodium) first, then an rvpn_cctx (OpenSSL,
 * what the engine uses); every test runs on both. */
static struct rvpn_cctx *cc;

/* rvpn_ratchet_seal on the pass's implementation. */
static int
seal_(struct rvpn_ratchet *r, uint8_t type, const uint8_t *pt, size_t len,
    const uint8_t *nonce, uint8_t *out, size_t cap)
{
	return rvpn_ratchet_seal_cc(r, cc, type, pt, len, nonce, out, cap);
}

/* rvpn_ratchet_open on the pass's implementation. */
static enum rvpn_open_verdict
open_(struct rvpn_ratchet *r, const uint8_t *w, size_t n, uint8_t *pt, size_t cap,
    size_t *plen, uint8_t *type)
{
	return rvpn_ratchet_open_cc(r, cc, w, n, pt, cap, plen, type);
}

/* A fresh pair of states on SK. */
static void
pair(struct rvpn_ratchet *c, struct rvpn_ratchet *s)
{
	CHECK(rvpn_ratchet_init(c, RVPN_ROLE_CLIENT, SK, NULL) == 0);
	CHECK(rvpn_ratchet_init(s, RVPN_ROLE_SERVER, SK, NULL) == 0);
}

/* Opens on s and, when rejected, checks that s is byte-identical to before. */
static enum rvpn_open_verdict
open_same(struct rvpn_ratchet *s, const uint8_t *w, size_t n, uint8_t *pt, size_t cap)
{
	struct rvpn_ratchet before = *s;
	size_t plen = 0;
	uint8_t type = 0xee;
	enum rvpn_open_verdict v = open_(s, w, n, pt, cap, &plen, &type);

	if (v != RVPN_OPEN_OK)
		CHECKF(memcmp(&before, s, sizeof before) == 0, "state changed on %s",
		    rvpn_open_verdict_str(v));
	return v;
}

/* Many messages both ways, with random sizes and types. */
static void
test_roundtrip(void)
{
	static uint8_t pt[20000], w[21000], back[20000];
	struct rvpn_ratchet c, s;
	size_t plen;
	uint8_t type;
	int good = 0;

	pair(&c, &s);
	for (int i = 0; i < 200; i++) {
		size_t n = randombytes_uniform(sizeof pt);
		uint8_t t = (uint8_t)randombytes_uniform(RVPN_TYPE_MAX_C2S + 1);
		randombytes_buf(pt, n);
		struct rvpn_ratchet *from = i % 2 ? &c : &s, *to = i % 2 ? &s : &c;
		if (!(i % 2))
			t = (uint8_t)randombytes_uniform(RVPN_TYPE_MAX_S2C + 1);
		int k = seal_(from, t, pt, n, NULL, w, sizeof w);
		good += k == (int)rvpn_ratchet_sealed_len(n) &&
		    open_(to, w, (size_t)k, back, sizeof back, &plen, &type) ==
		    RVPN_OPEN_OK && plen == n && type == t && memcmp(back, pt, n) == 0;
	}
	CHECKF(good == 200, "%d of 200 round trips", good);
	CHECK(c.send_n == 100 && s.recv_n == 100 && s.send_n == 100 && c.recv_n == 100);
	/* In place: pt at out + RVPN_WIRE_HDR_LEN. */
	memcpy(w + RVPN_WIRE_HDR_LEN, "in place", 8);
	int k = seal_(&c, 1, w + RVPN_WIRE_HDR_LEN, 8, NULL, w, sizeof w);
	CHECK(k == (int)rvpn_ratchet_sealed_len(8) &&
	    open_(&s, w, (size_t)k, back, sizeof back, &plen, &type) == RVPN_OPEN_OK &&
	    plen == 8 && memcmp(back, "in place", 8) == 0);
	rvpn_ratchet_wipe(&c);
	rvpn_ratchet_wipe(&s);
}

/* Authenticate, then commit: every bit of a valid message 1 flipped is rejected unchanged. */
static void
test_tamper(void)
{
	static uint8_t w0[2000], w1[2000], bad[2000], pt[2000];
	struct rvpn_ratchet c, s, first;
	size_t plen;
	uint8_t type;
	int k0, k1, rejected = 0, total = 0;
	unsigned seen[RVPN_OPEN_VERDICT_COUNT] = { 0 };

	pair(&c, &s);
	memset(pt, 0x41, 100);
	k0 = seal_(&c, RVPN_PT_ADMIN, pt, 100, NULL, w0, sizeof w0);
	k1 = seal_(&c, RVPN_PT_ADMIN, pt, 100, NULL, w1, sizeof w1);
	first = s;
	CHECK(open_(&s, w0, (size_t)k0, pt, sizeof pt, &plen, &type) == RVPN_OPEN_OK);
	for (int i = 0; i < k1; i++) {
		for (int b = 0; b < 8; b++) {
			memcpy(bad, w1, (size_t)k1);
			bad[i] ^= (uint8_t)(1u << b);
			enum rvpn_open_verdict v = open_same(&s, bad, (size_t)k1, pt, sizeof pt);
			total++;
			rejected += v != RVPN_OPEN_OK;
			seen[v]++;
		}
	}
	CHECKF(rejected == total, "%d of %d tampered messages rejected", rejected, total);
	/* Each header field is covered by some check. */
	CHECK(seen[RVPN_OPEN_ERR_WIRE] > 0 && seen[RVPN_OPEN_ERR_DH] == 256 &&
	    seen[RVPN_OPEN_ERR_PN] == 32 && seen[RVPN_OPEN_ERR_TAG] > 0 &&
	    seen[RVPN_OPEN_ERR_OLD] > 0 && seen[RVPN_OPEN_ERR_SKIP] > 0 &&
	    seen[RVPN_OPEN_ERR_TYPE] > 0);
	/* The genuine message still opens after all that, once. */
	CHECK(open_(&s, w1, (size_t)k1, pt, sizeof pt, &plen, &type) == RVPN_OPEN_OK);
	CHECK(open_same(&s, w1, (size_t)k1, pt, sizeof pt) == RVPN_OPEN_ERR_OLD);
	CHECK(open_same(&s, w0, (size_t)k0, pt, sizeof pt) == RVPN_OPEN_ERR_OLD);

	/* Every truncation of a valid message, and one byte more, is refused unchanged. */
	s = first;
	int trunc = 0;
	for (int n = 0; n < k0; n++)
		trunc += open_same(&s, w0, (size_t)n, pt, sizeof pt) == RVPN_OPEN_ERR_WIRE;
	CHECK(trunc == k0);
	w0[k0] = 0;
	CHECK(open_same(&s, w0, (size_t)k0 + 1, pt, sizeof pt) == RVPN_OPEN_ERR_WIRE);
	/* A short plaintext buffer is refused before anything is derived. */
	CHECK(open_same(&s, w0, (size_t)k0, pt, 99) == RVPN_OPEN_ERR_SPACE);
	CHECK(open_same(&s, w0, (size_t)k0, pt, 100) == RVPN_OPEN_OK);

	/* §12 #4, the limit we cannot remove: dh_public is outside the AEAD, so on the FIRST
	 * message of a session a changed key is accepted and pinned; the genuine peer's next
	 * message is then refused as ERR_DH (a denial of service only an on-path attacker
	 * inside TLS can mount). */
	s = first;
	memcpy(bad, w0, (size_t)k0);
	bad[5] ^= 1;
	CHECK(open_same(&s, bad, (size_t)k0, pt, sizeof pt) == RVPN_OPEN_OK);
	CHECK(open_same(&s, w1, (size_t)k1, pt, sizeof pt) == RVPN_OPEN_ERR_DH);
	/* An absent dh_public is refused (stock peers always send one). */
	s = first;
	memcpy(bad, w0, 1);
	bad[0] = 0;
	memcpy(bad + 1, w0 + 33, (size_t)k0 - 33);
	CHECK(open_same(&s, bad, (size_t)k0 - 32, pt, sizeof pt) == RVPN_OPEN_ERR_DH);
	rvpn_ratchet_wipe(&c);
	rvpn_ratchet_wipe(&s);
}

/* RVPN_MAX_SKIP at N (opens) and N+1 (refused, unchanged). */
static void
test_skip(void)
{
	static uint8_t w[200], pt[200];
	struct rvpn_ratchet c, s, c2, s2;
	size_t plen;
	uint8_t type;
	int k = 0;

	pair(&c, &s);
	c2 = c;
	s2 = s;
	for (int i = 0; i < RVPN_MAX_SKIP; i++)
		k = seal_(&c, 1, pt, 4, NULL, w, sizeof w); /* dropped */
	k = seal_(&c, 1, pt, 4, NULL, w, sizeof w);     /* n = 1000 */
	CHECK(open_(&s, w, (size_t)k, pt, sizeof pt, &plen, &type) == RVPN_OPEN_OK);
	CHECK(s.recv_n == RVPN_MAX_SKIP + 1);

	for (int i = 0; i < RVPN_MAX_SKIP + 1; i++)
		k = seal_(&c2, 1, pt, 4, NULL, w, sizeof w);
	k = seal_(&c2, 1, pt, 4, NULL, w, sizeof w);    /* n = 1001 */
	CHECK(open_same(&s2, w, (size_t)k, pt, sizeof pt) == RVPN_OPEN_ERR_SKIP);
	CHECK(s2.recv_n == 0);
	rvpn_ratchet_wipe(&c);
	rvpn_ratchet_wipe(&s);
	rvpn_ratchet_wipe(&c2);
	rvpn_ratchet_wipe(&s2);
}

/* Payload types, ciphertext size and counter limits. */
static void
test_limits(void)
{
	static uint8_t w[RVPN_WIRE_MAX_CT + 200], pt[RVPN_WIRE_MAX_CT];
	struct rvpn_ratchet c, s, c0, s0;
	struct rvpn_wire_msg m;
	size_t plen;
	uint8_t type;
	int k;

	pair(&c, &s);
	c0 = c;
	s0 = s;
	/* The server accepts up to 0x0C, refuses 0x0D (§7.1); the client also takes 0x0D. */
	k = seal_(&c, RVPN_TYPE_MAX_C2S, pt, 1, NULL, w, sizeof w);
	CHECK(open_same(&s, w, (size_t)k, pt, sizeof pt) == RVPN_OPEN_OK);
	k = seal_(&c, RVPN_TYPE_MAX_C2S + 1, pt, 1, NULL, w, sizeof w);
	CHECK(open_same(&s, w, (size_t)k, pt, sizeof pt) == RVPN_OPEN_ERR_TYPE);
	k = seal_(&s, RVPN_TYPE_MAX_S2C, pt, 1, NULL, w, sizeof w);
	CHECK(open_same(&c, w, (size_t)k, pt, sizeof pt) == RVPN_OPEN_OK);
	k = seal_(&s, RVPN_TYPE_MAX_S2C + 1, pt, 1, NULL, w, sizeof w);
	CHECK(open_same(&c, w, (size_t)k, pt, sizeof pt) == RVPN_OPEN_ERR_TYPE);

	/* Ciphertext of exactly 1 MiB opens; the seal of one byte more is refused. */
	c = c0;
	s = s0;
	memset(pt, 0x33, sizeof pt);
	k = seal_(&c, 1, pt, RVPN_WIRE_MAX_CT - RVPN_WIRE_TAG_LEN, NULL, w, sizeof w);
	CHECK(k == (int)(RVPN_WIRE_HDR_LEN + RVPN_WIRE_MAX_CT));
	CHECK(open_(&s, w, (size_t)k, pt, sizeof pt, &plen, &type) == RVPN_OPEN_OK &&
	    plen == RVPN_WIRE_MAX_CT - RVPN_WIRE_TAG_LEN);
	struct rvpn_ratchet cb = c;
	CHECK(seal_(&c, 1, pt, RVPN_WIRE_MAX_CT - RVPN_WIRE_TAG_LEN + 1, NULL, w,
	    sizeof w) == -1);
	CHECK(memcmp(&cb, &c, sizeof c) == 0);
	/* The decoder: ct_len of 1 MiB + 1 is refused from the header alone. */
	memset(&m, 0, sizeof m);
	m.dh_present = true;
	m.ct_len = RVPN_WIRE_MAX_CT + 1;
	CHECK(rvpn_wire_encode_header(w, sizeof w, &m) == RVPN_WIRE_HDR_LEN);
	CHECK(rvpn_wire_decode(w, RVPN_WIRE_HDR_LEN, &m) == RVPN_WIRE_ERR_TOO_LARGE);
	wr_u64le(w + RVPN_WIRE_HDR_LEN - 8, RVPN_WIRE_MAX_CT);
	CHECK(rvpn_wire_decode(w, RVPN_WIRE_HDR_LEN, &m) == RVPN_WIRE_ERR_SHORT);
	wr_u64le(w + RVPN_WIRE_HDR_LEN - 8, UINT64_MAX);
	CHECK(rvpn_wire_decode(w, RVPN_WIRE_HDR_LEN, &m) == RVPN_WIRE_ERR_TOO_LARGE);
	wr_u64le(w + RVPN_WIRE_HDR_LEN - 8, RVPN_WIRE_TAG_LEN - 1);
	CHECK(rvpn_wire_decode(w, RVPN_WIRE_HDR_LEN + 15, &m) == RVPN_WIRE_ERR_NO_TAG);
	w[0] = 2;
	CHECK(rvpn_wire_decode(w, RVPN_WIRE_HDR_LEN, &m) == RVPN_WIRE_ERR_OPTION);
	/* Without dh_public: the 30-byte header form decodes. */
	memset(&m, 0, sizeof m);
	m.ct_len = 16;
	m.n = 0x01020304;
	CHECK(rvpn_wire_encode_header(w, sizeof w, &m) == RVPN_WIRE_HDR_NODH);
	CHECK(rvpn_wire_decode(w, RVPN_WIRE_HDR_NODH + 16, &m) == RVPN_WIRE_OK && !m.dh_present &&
	    m.n == 0x01020304 && m.ct_off == RVPN_WIRE_HDR_NODH);
	CHECK(rvpn_wire_encode_header(w, RVPN_WIRE_HDR_NODH - 1, &m) == -1);

	/* Counters: message number UINT32_MAX is the last one either side handles. */
	c = c0;
	s = s0;
	c.send_n = UINT32_MAX;
	s.recv_n = UINT32_MAX;
	k = seal_(&c, 1, pt, 1, NULL, w, sizeof w);
	CHECK(k > 0 && open_(&s, w, (size_t)k, pt, sizeof pt, &plen, &type) ==
	    RVPN_OPEN_OK);
	CHECK(s.recv_n == (uint64_t)UINT32_MAX + 1);
	cb = c;
	CHECK(seal_(&c, 1, pt, 1, NULL, w, sizeof w) == -1);
	CHECK(memcmp(&cb, &c, sizeof c) == 0);
	/* A replayed UINT32_MAX (the 32-bit wrap) is old, not new. */
	c.send_n = UINT32_MAX;
	k = seal_(&c, 1, pt, 1, NULL, w, sizeof w);
	CHECK(open_same(&s, w, (size_t)k, pt, sizeof pt) == RVPN_OPEN_ERR_OLD);
	/* A short output buffer is refused with the state unchanged. */
	cb = c0;
	CHECK(seal_(&cb, 1, pt, 10, NULL, w, rvpn_ratchet_sealed_len(10) - 1) == -1);
	CHECK(memcmp(&cb, &c0, sizeof cb) == 0);
	rvpn_ratchet_wipe(&c);
	rvpn_ratchet_wipe(&s);
}

/* The context path: a bad tag leaves no plaintext in pt and does not spoil the context
 * for the next message; both implementations interoperate both ways. */
static void
test_cc_tag_wipes(void)
{
	static uint8_t pt[3000], w[3100], bad[3100], back[3000];
	struct rvpn_ratchet c, s;
	size_t plen;
	uint8_t type;

	CHECK(rvpn_ratchet_init(&c, RVPN_ROLE_CLIENT, SK, NULL) == 0);
	CHECK(rvpn_ratchet_init(&s, RVPN_ROLE_SERVER, SK, NULL) == 0);
	memset(pt, 0x5a, sizeof pt);
	int k = rvpn_ratchet_seal(&c, RVPN_PT_DATA, pt, sizeof pt, NULL, w, sizeof w); /* libsodium */
	CHECK(k > 0);
	memcpy(bad, w, (size_t)k);
	bad[k - 1] ^= 0x80; /* the tag's last byte */
	memset(back, 0xee, sizeof back);
	struct rvpn_ratchet before = s;
	CHECK(rvpn_ratchet_open_cc(&s, cc, bad, (size_t)k, back, sizeof back, &plen, &type) ==
	    RVPN_OPEN_ERR_TAG);
	CHECK(memcmp(&before, &s, sizeof s) == 0);
	size_t nz = 0;
	for (size_t i = 0; i < sizeof pt; i++)
		nz += back[i] != 0;
	CHECKF(nz == 0, "%zu bytes left in pt after a bad tag", nz);
	/* The genuine message opens on the same context afterwards. */
	CHECK(rvpn_ratchet_open_cc(&s, cc, w, (size_t)k, back, sizeof back, &plen, &type) ==
	    RVPN_OPEN_OK && plen == sizeof pt && memcmp(back, pt, sizeof pt) == 0);
	/* OpenSSL seals, libsodium opens. */
	k = rvpn_ratchet_seal_cc(&s, cc, RVPN_PT_DATA, pt, 100, NULL, w, sizeof w);
	CHECK(k > 0 && rvpn_ratchet_open(&c, w, (size_t)k, back, sizeof back, &plen, &type) ==
	    RVPN_OPEN_OK && plen == 100 && memcmp(back, pt, 100) == 0);
	rvpn_ratchet_wipe(&c);
	rvpn_ratchet_wipe(&s);
}

/* The keystream: no two draws alike (across the pool's refills too), padding filled from
 * it, not zeros; the pad layout is the same as rvpn_pad's. */
static void
test_cc_random(void)
{
	static uint8_t a[RVPN_CCTX_CHUNK + 100], b[RVPN_CCTX_CHUNK + 100], p1[2048], p2[2048];
	size_t dl;

	CHECK(rvpn_cctx_random(cc, a, sizeof a) == 0 && rvpn_cctx_random(cc, b, sizeof b) == 0);
	CHECK(memcmp(a, b, sizeof a) != 0);
	CHECK(memcmp(a, a + RVPN_CCTX_CHUNK, 100) != 0); /* the refill moved the stream on */
	memset(p1, 0, sizeof p1);
	memset(p2, 0, sizeof p2);
	CHECK(rvpn_pad_cc(p1, sizeof p1, 10, cc) == 1024 && rvpn_pad_cc(p2, sizeof p2, 10, cc) == 1024);
	CHECK(memcmp(p1 + 10, p2 + 10, 1012) != 0);
	CHECK(rvpn_unpad(p1, 1024, &dl) == 0 && dl == 10);
	CHECK(rvpn_pad_cc(p1, 1023, 10, cc) == -1 && rvpn_pad_cc(p1, sizeof p1, RVPN_PAD_MAX_DATA + 1,
	    cc) == -1);
	/* A pad of exactly one block's data: 1022 bytes, no fill. */
	CHECK(rvpn_pad_cc(p1, sizeof p1, 1022, cc) == 1024 && rvpn_unpad(p1, 1024, &dl) == 0 &&
	    dl == 1022);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 2;
	randombytes_buf(SK, sizeof SK);
	for (int pass = 0; pass < 2; pass++) {
		test_roundtrip();
		test_tamper();
		test_skip();
		test_limits();
		if (pass == 0) {
			cc = rvpn_cctx_new();
			CHECK(cc != NULL);
			if (cc == NULL)
				break;
		}
	}
	test_cc_tag_wipes();
	test_cc_random();
	rvpn_cctx_free(cc);
	return check_summary();
}
