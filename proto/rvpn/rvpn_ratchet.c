/*
 * Symmetric ratchet of rvpn_ratchet.h, written from rvpn-protocol.md §6.2-§6.5. The
 * receive path works on scratch copies (chain key and message key on the stack) and
 * writes the state only after the Poly1305 tag verifies: authenticate, then commit. All
 * chain and message keys on the stack are wiped through the one exit label of each
 * function. Nonces and the header key come from OpenSSL's DRBG (no system call per
 * message, as libsodium 1.0.18's randombytes would make). With a crypto context (the
 * *_cc forms, rvpn_cctx.h) the AEAD and the chain step run on OpenSSL and the nonce comes
 * from the context's keystream; without one, on libsodium. Both give the same bytes for
 * the same nonce (the vectors test checks both).
 */
#include "proto/rvpn/rvpn_ratchet.h"

#include <openssl/rand.h>
#include <sodium.h>
#include <string.h>

#include "proto/rvpn/rvpn_cctx.h"
#include "proto/rvpn/rvpn_kdf.h"
#include "proto/rvpn/rvpn_x3dh.h"

/* See rvpn_ratchet.h. */
int
rvpn_ratchet_init(struct rvpn_ratchet *r, enum rvpn_role role, const uint8_t sk[32],
    const uint8_t *dh_priv)
{
	uint8_t a[32], b[32], priv[32];
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (dh_priv != NULL)
		memcpy(priv, dh_priv, 32);
	else if (RAND_bytes(priv, sizeof priv) != 1)
		goto out;
	if (crypto_scalarmult_base(r->dhs_pub, priv) != 0)
		goto out;
	rvpn_x3dh_chains(a, b, sk);
	memcpy(r->cks, role == RVPN_ROLE_CLIENT ? a : b, 32);
	memcpy(r->ckr, role == RVPN_ROLE_CLIENT ? b : a, 32);
	r->role = (uint8_t)role;
	r->type_max = role == RVPN_ROLE_SERVER ? RVPN_TYPE_MAX_C2S : RVPN_TYPE_MAX_S2C;
	rc = 0;
out:
	sodium_memzero(a, sizeof a);
	sodium_memzero(b, sizeof b);
	sodium_memzero(priv, sizeof priv);
	if (rc != 0)
		rvpn_ratchet_wipe(r);
	return rc;
}

/* See rvpn_ratchet.h. */
void
rvpn_ratchet_wipe(struct rvpn_ratchet *r)
{
	sodium_memzero(r, sizeof *r);
}

/* See rvpn_ratchet.h. */
size_t
rvpn_ratchet_sealed_len(size_t pt_len)
{
	return RVPN_WIRE_HDR_LEN + pt_len + RVPN_WIRE_TAG_LEN;
}

/* KDF_CK on cc when there is one (OpenSSL's SHA-256), else on libsodium's; 0 or -1. */
static int
ratchet_kdf_ck(struct rvpn_cctx *cc, uint8_t mk[32], uint8_t next[32], const uint8_t ck[32])
{
	if (cc != NULL)
		return rvpn_cctx_kdf_ck(cc, mk, next, ck);
	rvpn_kdf_ck(mk, next, ck);
	return 0;
}

/* See rvpn_ratchet.h. */
int
rvpn_ratchet_seal(struct rvpn_ratchet *r, uint8_t type, const uint8_t *pt, size_t pt_len,
    const uint8_t *nonce, uint8_t *out, size_t cap)
{
	return rvpn_ratchet_seal_cc(r, NULL, type, pt, pt_len, nonce, out, cap);
}

/* See rvpn_ratchet.h. */
int
rvpn_ratchet_seal_cc(struct rvpn_ratchet *r, struct rvpn_cctx *cc, uint8_t type,
    const uint8_t *pt, size_t pt_len, const uint8_t *nonce, uint8_t *out, size_t cap)
{
	struct rvpn_wire_msg m;
	uint8_t mk[32], next[32];
	unsigned long long clen = 0;
	int rc = -1;

	if (pt_len > RVPN_WIRE_MAX_CT - RVPN_WIRE_TAG_LEN || r->send_n > UINT32_MAX ||
	    cap < rvpn_ratchet_sealed_len(pt_len))
		goto out;
	memset(&m, 0, sizeof m);
	m.dh_present = true;
	memcpy(m.dh_public, r->dhs_pub, 32);
	m.n = (uint32_t)r->send_n;
	m.pn = 0;
	m.payload_type = type;
	m.ct_len = pt_len + RVPN_WIRE_TAG_LEN;
	if (nonce != NULL)
		memcpy(m.nonce, nonce, RVPN_WIRE_NONCE_LEN);
	else if (cc != NULL ? rvpn_cctx_random(cc, m.nonce, RVPN_WIRE_NONCE_LEN) != 0 :
	    RAND_bytes(m.nonce, RVPN_WIRE_NONCE_LEN) != 1)
		goto out;
	if (ratchet_kdf_ck(cc, mk, next, r->cks) != 0)
		goto out;
	/* Encrypt first (pt may sit where the header goes only at out + 62: see the .h). */
	if (cc != NULL) {
		if (rvpn_cctx_seal(cc, mk, m.nonce, type, pt, pt_len, out + RVPN_WIRE_HDR_LEN,
		    out + RVPN_WIRE_HDR_LEN + pt_len) != 0)
			goto out;
	} else if (crypto_aead_chacha20poly1305_ietf_encrypt(out + RVPN_WIRE_HDR_LEN, &clen, pt,
	    pt_len, &type, 1, NULL, m.nonce, mk) != 0 || clen != m.ct_len) {
		goto out;
	}
	(void)rvpn_wire_encode_header(out, cap, &m);
	memcpy(r->cks, next, 32);
	r->send_n++;
	rc = (int)rvpn_ratchet_sealed_len(pt_len);
out:
	sodium_memzero(mk, sizeof mk);
	sodium_memzero(next, sizeof next);
	return rc;
}

/* See rvpn_ratchet.h. */
enum rvpn_open_verdict
rvpn_ratchet_open(struct rvpn_ratchet *r, const uint8_t *wire, size_t len, uint8_t *pt,
    size_t cap, size_t *pt_len, uint8_t *type)
{
	return rvpn_ratchet_open_cc(r, NULL, wire, len, pt, cap, pt_len, type);
}

/* See rvpn_ratchet.h. */
enum rvpn_open_verdict
rvpn_ratchet_open_cc(struct rvpn_ratchet *r, struct rvpn_cctx *cc, const uint8_t *wire,
    size_t len, uint8_t *pt, size_t cap, size_t *pt_len, uint8_t *type)
{
	struct rvpn_wire_msg m;
	uint8_t ck[32], mk[32], next[32];
	enum rvpn_open_verdict v;
	unsigned long long plen = 0;

	*pt_len = 0;
	memcpy(ck, r->ckr, sizeof ck);
	if (rvpn_wire_decode(wire, len, &m) != RVPN_WIRE_OK) {
		v = RVPN_OPEN_ERR_WIRE;
		goto out;
	}
	if (m.payload_type > r->type_max) {
		v = RVPN_OPEN_ERR_TYPE;
		goto out;
	}
	if (m.pn != 0) {
		v = RVPN_OPEN_ERR_PN;
		goto out;
	}
	if (!m.dh_present || (r->remote_dh_set &&
	    sodium_memcmp(m.dh_public, r->remote_dh, 32) != 0)) {
		v = RVPN_OPEN_ERR_DH;
		goto out;
	}
	if (m.n < r->recv_n) {
		v = RVPN_OPEN_ERR_OLD;
		goto out;
	}
	if (m.n - r->recv_n > RVPN_MAX_SKIP) {
		v = RVPN_OPEN_ERR_SKIP;
		goto out;
	}
	if (cap < m.ct_len - RVPN_WIRE_TAG_LEN) {
		v = RVPN_OPEN_ERR_SPACE;
		goto out;
	}
	/* Skip forward on the scratch chain; the skipped keys are of no use (see the .h). */
	for (uint64_t i = r->recv_n; i < m.n; i++)
		rvpn_kdf_ck(mk, ck, ck); /* rare (stock peers never skip): libsodium is enough */
	if (ratchet_kdf_ck(cc, mk, next, ck) != 0) {
		v = RVPN_OPEN_ERR_TAG; /* an OpenSSL failure: refuse, change nothing */
		goto out;
	}
	if (cc != NULL) {
		/* OpenSSL decrypts before it checks the tag; rvpn_cctx_open erases pt on failure. */
		if (rvpn_cctx_open(cc, mk, m.nonce, m.payload_type, wire + m.ct_off,
		    m.ct_len - RVPN_WIRE_TAG_LEN, pt) != 0) {
			v = RVPN_OPEN_ERR_TAG;
			goto out;
		}
		plen = m.ct_len - RVPN_WIRE_TAG_LEN;
	} else if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &plen, NULL, wire + m.ct_off,
	    m.ct_len, &m.payload_type, 1, m.nonce, mk) != 0) {
		v = RVPN_OPEN_ERR_TAG;
		goto out;
	}
	/* Authentic: commit. */
	memcpy(r->ckr, next, 32);
	r->recv_n = (uint64_t)m.n + 1;
	if (!r->remote_dh_set) {
		memcpy(r->remote_dh, m.dh_public, 32);
		r->remote_dh_set = 1;
	}
	*pt_len = (size_t)plen;
	*type = m.payload_type;
	v = RVPN_OPEN_OK;
out:
	sodium_memzero(ck, sizeof ck);
	sodium_memzero(mk, sizeof mk);
	sodium_memzero(next, sizeof next);
	return v;
}

/* See rvpn_ratchet.h. */
const char *
rvpn_open_verdict_str(enum rvpn_open_verdict v)
{
	static const char *const names[RVPN_OPEN_VERDICT_COUNT] = {
		[RVPN_OPEN_OK] = "ok",
		[RVPN_OPEN_ERR_WIRE] = "wire",
		[RVPN_OPEN_ERR_TYPE] = "type",
		[RVPN_OPEN_ERR_PN] = "pn",
		[RVPN_OPEN_ERR_DH] = "dh_changed",
		[RVPN_OPEN_ERR_OLD] = "old",
		[RVPN_OPEN_ERR_SKIP] = "skip",
		[RVPN_OPEN_ERR_SPACE] = "space",
		[RVPN_OPEN_ERR_TAG] = "tag",
	};
	return (unsigned)v < RVPN_OPEN_VERDICT_COUNT ? names[v] : "unknown";
}

/* The state has no implicit padding, so tests and the fuzzer can memcmp it. */
_Static_assert(sizeof(struct rvpn_ratchet) == 4 * 32 + 2 * 8 + 4 + 4,
    "struct rvpn_ratchet must have no padding");
