/*
 * Known-answer test of proto/rvpn against ../shared/rvpn-vectors.json (computed by an
 * independent implementation). Every vector is reproduced by our code in the role that
 * produces it, and decoded back in the role that consumes it; the test fails when any
 * leaf of the file was never checked (vecjson.h keeps the list). The file is read at run
 * time from SY_SOURCE_DIR/../shared, or from argv[1].
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "vecjson.h"
#include "proto/rvpn/rvpn_cctx.h"
#include "proto/rvpn/rvpn_ctl.h"
#include "proto/rvpn/rvpn_dns.h"
#include "proto/rvpn/rvpn_hello.h"
#include "proto/rvpn/rvpn_kdf.h"
#include "proto/rvpn/rvpn_keys.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "proto/rvpn/rvpn_target.h"
#include "proto/rvpn/rvpn_vip.h"
#include "proto/rvpn/rvpn_x3dh.h"

/* Decodes the hex leaf at path into out (exactly n bytes); exits when it is not hex. */
static void
in_hex(const char *path, uint8_t *out, size_t n)
{
	struct vj_leaf *l = vj_get(path);
	size_t got = 0;

	if (l->type != VJ_STRING || sodium_hex2bin(out, n, l->value, l->len, NULL, &got,
	    NULL) != 0 || got != n) {
		fprintf(stderr, "%s: not %zu bytes of hex\n", path, n);
		exit(2);
	}
}

/* Asserts that bytes p[0 .. n) equal the hex leaf at path. */
static void
chk_hex(const char *path, const uint8_t *p, size_t n)
{
	struct vj_leaf *l = vj_get(path);
	char hex[2 * 2048 + 1];

	CHECKF(n <= 2048, "%s too long", path);
	if (n > 2048)
		return;
	sodium_bin2hex(hex, sizeof hex, p, n);
	CHECKF(l->type == VJ_STRING && l->len == 2 * n && memcmp(l->value, hex, 2 * n) == 0,
	    "%s: got %s want %s", path, hex, l->value);
}

/* Asserts that the hex leaf at path is a prefix (of at least min bytes) of p[0 .. n). */
static void
chk_hex_prefix(const char *path, const uint8_t *p, size_t n, size_t min)
{
	struct vj_leaf *l = vj_get(path);
	char hex[2 * 2048 + 1];

	CHECKF(n <= 2048 && l->len % 2 == 0 && l->len / 2 >= min && l->len / 2 <= n,
	    "%s: length", path);
	if (n > 2048 || l->len / 2 > n)
		return;
	sodium_bin2hex(hex, sizeof hex, p, n);
	CHECKF(memcmp(l->value, hex, l->len) == 0, "%s: got %s want %s", path, hex, l->value);
}

/* Asserts that text s[0 .. n) equals the string leaf at path. */
static void
chk_str(const char *path, const char *s, size_t n)
{
	struct vj_leaf *l = vj_get(path);

	CHECKF(l->type == VJ_STRING && l->len == n && memcmp(l->value, s, n) == 0,
	    "%s: got %.*s want %s", path, (int)n, s, l->value);
}

/* Asserts that bytes p[0 .. n) base64-encode to the string leaf at path. */
static void
chk_b64(const char *path, const uint8_t *p, size_t n)
{
	char b64[RVPN_B64_64 + 1];

	CHECK(rvpn_b64_encode(b64, sizeof b64, p, n) == 0);
	chk_str(path, b64, strlen(b64));
}

/* Asserts that the leaf at path is a number equal to v. */
static void
chk_num(const char *path, unsigned long long v)
{
	struct vj_leaf *l = vj_get(path);
	char d[32];

	snprintf(d, sizeof d, "%llu", v);
	CHECKF(l->type == VJ_NUMBER && strcmp(l->value, d) == 0, "%s: got %s want %s", path, d,
	    l->value);
}

/* Asserts that the leaf at path is null. */
static void
chk_null(const char *path)
{
	CHECKF(vj_get(path)->type == VJ_NULL, "%s is not null", path);
}

/* The string leaf at path (for inputs such as JSON texts). */
static const struct vj_leaf *
in_str(const char *path)
{
	struct vj_leaf *l = vj_get(path);
	if (l->type != VJ_STRING) {
		fprintf(stderr, "%s: not a string\n", path);
		exit(2);
	}
	return l;
}

static struct rvpn_identity srv, cli;
static uint8_t spk_priv[32], spk_pub[32], ek_priv[32], ek_pub[32], sig[64];
static uint8_t sk_c[32], sk_s[32], ck_c2s[32], ck_s2c[32];
static const uint8_t hdr_c_priv[32] = {
	0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce,
	0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd,
	0xde, 0xdf };
static const uint8_t hdr_s_priv[32] = {
	0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee,
	0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
	0xfe, 0xff };

/* Server keys: derivations, signature, pin, identity file, bundle and sidecar (§4). */
static void
test_server_keys(void)
{
	uint8_t seed[32], back[32];
	char text[RVPN_BUNDLE_TEXT], pin[RVPN_PIN_LEN + 1];
	struct rvpn_identity parsed;
	struct rvpn_bundle b, pb;
	int n;

	in_hex("server.ed25519_seed", seed, 32);
	CHECK(rvpn_identity_from_seed(&srv, seed) == 0);
	chk_hex("server.ed25519_pub", srv.ed_pub, 32);
	chk_hex("server.identity_x25519_pub", srv.x_pub, 32);
	in_hex("server.spk_priv", spk_priv, 32);
	CHECK(crypto_scalarmult_base(spk_pub, spk_priv) == 0);
	chk_hex("server.spk_pub", spk_pub, 32);

	/* The signature: reproduced (Ed25519 is deterministic) and verified; a flipped bit fails. */
	CHECK(rvpn_spk_sign(sig, srv.seed, spk_pub) == 0);
	chk_hex("server.spk_signature", sig, 64);
	CHECK(rvpn_spk_verify(sig, srv.ed_pub, spk_pub));
	sig[10] ^= 1;
	CHECK(!rvpn_spk_verify(sig, srv.ed_pub, spk_pub));
	sig[10] ^= 1;

	rvpn_pin_format(pin, srv.ed_pub);
	chk_str("server.pin", pin, strlen(pin));
	CHECK(rvpn_pin_match(pin, strlen(pin), srv.ed_pub));
	CHECK(!rvpn_pin_match(pin, strlen(pin), cli.ed_pub));

	/* Identity file: our text is the vector; the vector parses back to the seed. */
	n = rvpn_identity_format(text, sizeof text, &srv);
	CHECK(n > 0);
	chk_str("server.identity_file", text, n > 0 ? (size_t)n : 0);
	CHECK(rvpn_identity_parse(&parsed, text, (size_t)n) == 0);
	CHECK(memcmp(parsed.seed, seed, 32) == 0 && memcmp(parsed.x_pub, srv.x_pub, 32) == 0);

	/* Bundle: every member of ours equals the vector's; our text parses back equal. */
	CHECK(rvpn_bundle_make(&b, &srv, spk_pub) == 0);
	chk_b64("server.bundle_json.identity_key", b.identity_key, 32);
	chk_b64("server.bundle_json.identity_x25519_key", b.identity_x25519_key, 32);
	chk_b64("server.bundle_json.signed_prekey", b.signed_prekey, 32);
	chk_b64("server.bundle_json.prekey_signature", b.prekey_signature, 64);
	CHECK(!b.has_one_time_prekey);
	chk_null("server.bundle_json.one_time_prekey");
	chk_num("server.bundle_json.identity_key_version", b.identity_key_version);
	CHECK(!b.has_rotation_signature);
	chk_null("server.bundle_json.rotation_signature");
	n = rvpn_bundle_format(text, sizeof text, &b);
	CHECK(n > 0);
	CHECK(rvpn_bundle_parse(&pb, text, (size_t)n) == 0);
	CHECK(memcmp(&pb, &b, sizeof b) == 0);
	/* The vector's members, rebuilt in another order, parse to the same bundle. */
	n = snprintf(text, sizeof text,
	    "{\"rotation_signature\":null,\"prekey_signature\":\"%s\",\"signed_prekey\":\"%s\","
	    "\"identity_x25519_key\":\"%s\",\"one_time_prekey\":null,\"identity_key\":\"%s\","
	    "\"identity_key_version\":1}",
	    in_str("server.bundle_json.prekey_signature")->value,
	    in_str("server.bundle_json.signed_prekey")->value,
	    in_str("server.bundle_json.identity_x25519_key")->value,
	    in_str("server.bundle_json.identity_key")->value);
	CHECK(rvpn_bundle_parse(&pb, text, (size_t)n) == 0);
	CHECK(memcmp(&pb, &b, sizeof b) == 0);

	/* Private sidecar. */
	chk_b64("server.private_json.signed_prekey_private", spk_priv, 32);
	n = rvpn_private_format(text, sizeof text, spk_priv);
	CHECK(n > 0);
	CHECK(rvpn_private_parse(back, text, (size_t)n) == 0 && memcmp(back, spk_priv, 32) == 0);
	rvpn_identity_wipe(&parsed);
}

/* Client keys and the Hello / ServerHello JSON, both directions (§5.1). */
static void
test_hello(void)
{
	uint8_t seed[32];
	char out[RVPN_SERVER_HELLO_LEN];
	struct rvpn_hello h;
	struct rvpn_server_msg m;
	const struct vj_leaf *l;
	int n;

	in_hex("client.ed25519_seed", seed, 32);
	CHECK(rvpn_identity_from_seed(&cli, seed) == 0);
	chk_hex("client.identity_x25519_pub", cli.x_pub, 32);
	in_hex("client.ek_priv", ek_priv, 32);
	CHECK(crypto_scalarmult_base(ek_pub, ek_priv) == 0);
	chk_hex("client.ek_pub", ek_pub, 32);

	n = rvpn_hello_emit(out, sizeof out, ek_pub, cli.x_pub);
	CHECK(n > 0);
	chk_str("hello_json", out, n > 0 ? (size_t)n : 0);
	l = in_str("hello_json");
	CHECK(rvpn_hello_parse((const uint8_t *)l->value, l->len, &h) == RVPN_HELLO_OK);
	CHECK(memcmp(h.ephemeral_key, ek_pub, 32) == 0);
	CHECK(memcmp(h.identity_key, cli.x_pub, 32) == 0);
	CHECK(h.major == 1 && h.minor == 0 && h.patch == 0 && h.auth == RVPN_AUTH_X3DH);

	n = rvpn_server_hello_emit(out, sizeof out, spk_pub, sig, srv.ed_pub);
	CHECK(n > 0);
	chk_str("server_hello_json", out, n > 0 ? (size_t)n : 0);
	l = in_str("server_hello_json");
	CHECK(rvpn_server_msg_parse((const uint8_t *)l->value, l->len, &m) == 0);
	CHECK(m.kind == RVPN_SERVER_HELLO);
	CHECK(memcmp(m.signed_prekey, spk_pub, 32) == 0);
	CHECK(memcmp(m.identity_key, srv.ed_pub, 32) == 0);
	CHECK(rvpn_spk_verify(m.prekey_signature, m.identity_key, m.signed_prekey));
}

/* X3DH from both sides, SK and both chains (§5.2, §6.1), and KDF_RK. */
static void
test_x3dh(void)
{
	uint8_t dh_c[RVPN_X3DH_DH_LEN], dh_s[RVPN_X3DH_DH_LEN], rk[64], hdr_s_pub[32], d[32];
	struct rvpn_ratchet rc, rs;

	CHECK(rvpn_x3dh_client(sk_c, dh_c, cli.seed, ek_priv, srv.x_pub, spk_pub) == 0);
	CHECK(rvpn_x3dh_server(sk_s, dh_s, srv.seed, spk_priv, cli.x_pub, ek_pub) == 0);
	chk_hex("x3dh.dh1", dh_c, 32);
	chk_hex("x3dh.dh2", dh_c + 32, 32);
	chk_hex("x3dh.dh3", dh_c + 64, 32);
	CHECK(memcmp(dh_c, dh_s, sizeof dh_c) == 0);
	chk_hex("x3dh.sk", sk_c, 32);
	CHECK(memcmp(sk_c, sk_s, 32) == 0);
	rvpn_x3dh_chains(ck_c2s, ck_s2c, sk_c);
	chk_hex("x3dh.ck_client_to_server", ck_c2s, 32);
	chk_hex("x3dh.ck_server_to_client", ck_s2c, 32);
	/* The roles pick the right halves. */
	CHECK(rvpn_ratchet_init(&rc, RVPN_ROLE_CLIENT, sk_c, hdr_c_priv) == 0);
	CHECK(rvpn_ratchet_init(&rs, RVPN_ROLE_SERVER, sk_s, hdr_s_priv) == 0);
	CHECK(memcmp(rc.cks, ck_c2s, 32) == 0 && memcmp(rc.ckr, ck_s2c, 32) == 0);
	CHECK(memcmp(rs.cks, ck_s2c, 32) == 0 && memcmp(rs.ckr, ck_c2s, 32) == 0);
	/* KDF_RK(SK, DH(client header key, server header key)): the dead-code step's KDF. */
	CHECK(crypto_scalarmult_base(hdr_s_pub, hdr_s_priv) == 0);
	CHECK(crypto_scalarmult(d, hdr_c_priv, hdr_s_pub) == 0);
	rvpn_kdf_rk(rk, sk_c, d);
	chk_hex("kdf_rk_example", rk, 64);
	rvpn_ratchet_wipe(&rc);
	rvpn_ratchet_wipe(&rs);
}

/* The crypto context the ratchet tests run on: NULL (libsodium) in the first pass, an
 * rvpn_cctx (OpenSSL, what the engine uses) in the second; both must give every vector. */
static struct rvpn_cctx *use_cc;

/* KDF_CK on the pass's implementation. */
static void
kdf_ck(uint8_t mk[32], uint8_t next[32], const uint8_t ck[32])
{
	if (use_cc == NULL)
		rvpn_kdf_ck(mk, next, ck);
	else
		CHECK(rvpn_cctx_kdf_ck(use_cc, mk, next, ck) == 0);
}

/* The first three message keys of each chain (§6.2). */
static void
test_chain_keys(void)
{
	uint8_t ck[32], mk[32];
	char path[64];

	memcpy(ck, ck_c2s, 32);
	for (int i = 0; i < 3; i++) {
		kdf_ck(mk, ck, ck);
		snprintf(path, sizeof path, "message_keys_first3.c2s[%d]", i);
		chk_hex(path, mk, 32);
	}
	memcpy(ck, ck_s2c, 32);
	for (int i = 0; i < 3; i++) {
		kdf_ck(mk, ck, ck);
		snprintf(path, sizeof path, "message_keys_first3.s2c[%d]", i);
		chk_hex(path, mk, 32);
	}
}

/* Client message 0 on /ws: target, padding, keys, wire bytes; the server opens it. */
static void
test_msg0_target(void)
{
	static uint8_t buf[4096], wire[4096], pt[4096];
	uint8_t mk[32], next[32], nonce[12], h[32];
	struct rvpn_ratchet rc, rs;
	struct rvpn_target t;
	size_t ptlen, dlen;
	uint8_t type;
	int n, w;

	n = rvpn_target_encode(buf, sizeof buf, "example.com", 11, 443);
	CHECK(n == 14);
	chk_hex("msg0_client_target.target_plain", buf, 14);
	n = rvpn_pad(buf, sizeof buf, 14, RVPN_PAD_ZERO);
	chk_num("msg0_client_target.padded_len", (unsigned long long)n);
	kdf_ck(mk, next, ck_c2s);
	chk_hex("msg0_client_target.mk", mk, 32);
	chk_hex("msg0_client_target.next_ck", next, 32);
	in_hex("msg0_client_target.nonce", nonce, 12);

	CHECK(rvpn_ratchet_init(&rc, RVPN_ROLE_CLIENT, sk_c, hdr_c_priv) == 0);
	chk_hex("msg0_client_target.header_dh_pub", rc.dhs_pub, 32);
	w = rvpn_ratchet_seal_cc(&rc, use_cc, RVPN_PT_DATA, buf, (size_t)n, nonce, wire, sizeof wire);
	chk_num("msg0_client_target.wire_len", (unsigned long long)w);
	CHECK(memcmp(rc.cks, next, 32) == 0 && rc.send_n == 1);
	/* The vector's prefix runs from the Option tag into ct_len: nonce and header fields. */
	chk_hex_prefix("msg0_client_target.wire_prefix_hex", wire, (size_t)w, 50);
	crypto_hash_sha256(h, wire, (size_t)w);
	chk_hex("msg0_client_target.wire_sha256", h, 32);

	/* The server side opens our bytes and finds the target. */
	CHECK(rvpn_ratchet_init(&rs, RVPN_ROLE_SERVER, sk_s, hdr_s_priv) == 0);
	CHECK(rvpn_ratchet_open_cc(&rs, use_cc, wire, (size_t)w, pt, sizeof pt, &ptlen, &type) ==
	    RVPN_OPEN_OK);
	CHECK(type == RVPN_PT_DATA && ptlen == 1024);
	CHECK(rvpn_unpad(pt, ptlen, &dlen) == 0 && dlen == 14);
	CHECK(rvpn_target_decode(pt, dlen, &t) == 0 && t.port == 443 && t.host_len == 11 &&
	    memcmp(pt + t.host_off, "example.com", 11) == 0);
	CHECK(memcmp(rs.remote_dh, rc.dhs_pub, 32) == 0 && rs.recv_n == 1);
	rvpn_ratchet_wipe(&rc);
	rvpn_ratchet_wipe(&rs);
}

/* Server message 0 on /tun: VirtualIp JSON, padded, sealed; the client opens it. */
static void
test_msg0_vip(void)
{
	static uint8_t buf[4096], wire[4096], pt[4096];
	uint8_t mk[32], next[32], nonce[12], h[32];
	struct rvpn_ratchet rc, rs;
	struct rvpn_vip v, pv;
	size_t ptlen, dlen;
	uint8_t type;
	int n, w;

	memset(&v, 0, sizeof v);
	snprintf(v.ipv4, sizeof v.ipv4, "10.200.0.3");
	snprintf(v.gateway_ip, sizeof v.gateway_ip, "10.200.0.1");
	snprintf(v.dns_servers[0], sizeof v.dns_servers[0], "8.8.8.8");
	v.ndns = 1;
	v.mtu = 1420;
	n = rvpn_vip_emit((char *)buf, sizeof buf, &v);
	CHECK(n > 0);
	chk_str("msg0_server_virtualip.json", (const char *)buf, n > 0 ? (size_t)n : 0);
	CHECK(rvpn_vip_parse(buf, (size_t)n, &pv) == 0 && memcmp(&pv, &v, sizeof v) == 0);
	kdf_ck(mk, next, ck_s2c);
	chk_hex("msg0_server_virtualip.mk", mk, 32);
	in_hex("msg0_server_virtualip.nonce", nonce, 12);
	n = rvpn_pad(buf, sizeof buf, (size_t)n, RVPN_PAD_ZERO);
	CHECK(n == 1024);
	CHECK(rvpn_ratchet_init(&rs, RVPN_ROLE_SERVER, sk_s, hdr_s_priv) == 0);
	w = rvpn_ratchet_seal_cc(&rs, use_cc, RVPN_PT_VIRTUAL_IP, buf, (size_t)n, nonce, wire, sizeof wire);
	chk_num("msg0_server_virtualip.wire_len", (unsigned long long)w);
	CHECK(memcmp(wire + 1 + 32 + 8 + 1, nonce, 12) == 0);
	crypto_hash_sha256(h, wire, (size_t)w);
	chk_hex("msg0_server_virtualip.wire_sha256", h, 32);

	CHECK(rvpn_ratchet_init(&rc, RVPN_ROLE_CLIENT, sk_c, hdr_c_priv) == 0);
	CHECK(rvpn_ratchet_open_cc(&rc, use_cc, wire, (size_t)w, pt, sizeof pt, &ptlen, &type) ==
	    RVPN_OPEN_OK);
	CHECK(type == RVPN_PT_VIRTUAL_IP);
	CHECK(rvpn_unpad(pt, ptlen, &dlen) == 0);
	CHECK(rvpn_vip_parse(pt, dlen, &pv) == 0 && memcmp(&pv, &v, sizeof v) == 0);
	/* A server never accepts 0x0D from a client (§7.1). */
	rvpn_ratchet_wipe(&rs);
	rvpn_ratchet_wipe(&rc);
}

/* One ControlMessage vector: our encoding equals it and it decodes to c. */
static void
ctl_vector(const char *name, const struct rvpn_ctl *c, const char *str)
{
	uint8_t out[RVPN_CTL_MAX_LEN], want[RVPN_CTL_MAX_LEN];
	char path[96];
	struct rvpn_ctl d;
	size_t slen = str != NULL ? strlen(str) : 0;
	int n;

	snprintf(path, sizeof path, "control.%s", name);
	n = rvpn_ctl_encode(out, sizeof out, c, (const uint8_t *)str, slen);
	CHECKF(n > 0, "%s encode", name);
	chk_hex(path, out, n > 0 ? (size_t)n : 0);
	struct vj_leaf *l = vj_get(path);
	size_t wn = 0;
	CHECK(sodium_hex2bin(want, sizeof want, l->value, l->len, NULL, &wn, NULL) == 0);
	CHECKF(rvpn_ctl_decode(want, wn, &d) == RVPN_CTL_OK, "%s decode", name);
	CHECK(d.kind == c->kind && d.flow_id == c->flow_id && d.port == c->port &&
	    d.has_local_port == c->has_local_port && d.timestamp == c->timestamp &&
	    d.window == c->window && d.str_len == slen &&
	    (slen == 0 || memcmp(want + d.str_off, str, slen) == 0));
}

/* All seven ControlMessage variants and the two mux frames (§7.4). */
static void
test_control_mux(void)
{
	struct rvpn_ctl c;
	uint8_t out[256], in[256];
	struct rvpn_mux_frame f;
	struct rvpn_ctl d;
	size_t pos, n;
	int k;

	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_CREATE_FLOW;
	c.flow_id = 1;
	c.port = 443;
	ctl_vector("CreateFlow(1,example.com,443)", &c, "example.com");
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_FLOW_CREATED;
	c.flow_id = 1;
	ctl_vector("FlowCreated(1,None)", &c, NULL);
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_FLOW_FAILED;
	c.flow_id = 1;
	ctl_vector("FlowFailed(1,'refused')", &c, "refused");
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_CLOSE_FLOW;
	c.flow_id = 1;
	ctl_vector("CloseFlow(1)", &c, NULL);
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_PING;
	c.timestamp = 1700000000000ull;
	ctl_vector("Ping(1700000000000)", &c, NULL);
	c.kind = RVPN_CTL_PONG;
	ctl_vector("Pong(1700000000000)", &c, NULL);
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_WINDOW_UPDATE;
	c.flow_id = 1;
	c.window = 8190;
	ctl_vector("WindowUpdate(1,8190)", &c, NULL);

	/* Control frame: header then CreateFlow. */
	memset(&c, 0, sizeof c);
	c.kind = RVPN_CTL_CREATE_FLOW;
	c.flow_id = 1;
	c.port = 443;
	k = rvpn_ctl_encode(out + RVPN_MUX_HDR_LEN, sizeof out - RVPN_MUX_HDR_LEN, &c,
	    (const uint8_t *)"example.com", 11);
	CHECK(k > 0 && rvpn_mux_header(out, sizeof out, 0, (size_t)k) == RVPN_MUX_HDR_LEN);
	chk_hex("mux_frame_create_flow", out, (size_t)k + RVPN_MUX_HDR_LEN);
	struct vj_leaf *l = vj_get("mux_frame_create_flow");
	CHECK(sodium_hex2bin(in, sizeof in, l->value, l->len, NULL, &n, NULL) == 0);
	pos = 0;
	CHECK(rvpn_mux_next(in, n, &pos, &f) == RVPN_MUX_FRAME && f.flow_id == 0);
	CHECK(rvpn_ctl_decode(in + f.off, f.len, &d) == RVPN_CTL_OK &&
	    d.kind == RVPN_CTL_CREATE_FLOW && d.port == 443);
	CHECK(rvpn_mux_next(in, n, &pos, &f) == RVPN_MUX_END);

	/* Data frame on flow 1. */
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	CHECK(rvpn_mux_header(out, sizeof out, 1, sizeof req - 1) == RVPN_MUX_HDR_LEN);
	memcpy(out + RVPN_MUX_HDR_LEN, req, sizeof req - 1);
	chk_hex("mux_frame_data", out, RVPN_MUX_HDR_LEN + sizeof req - 1);
	l = vj_get("mux_frame_data");
	CHECK(sodium_hex2bin(in, sizeof in, l->value, l->len, NULL, &n, NULL) == 0);
	pos = 0;
	CHECK(rvpn_mux_next(in, n, &pos, &f) == RVPN_MUX_FRAME && f.flow_id == 1 &&
	    f.len == sizeof req - 1 && memcmp(in + f.off, req, f.len) == 0);
}

/* DnsQuery and DnsResponse JSON both ways (§7.6). */
static void
test_dns(void)
{
	struct rvpn_dns_query q, pq;
	struct rvpn_dns_response r, pr;
	char out[RVPN_DNS_MAX];
	const struct vj_leaf *l;
	int n;

	memset(&q, 0, sizeof q);
	q.query_id = 7;
	q.query_type = RVPN_DNS_TYPE_A;
	q.domain_len = 11;
	memcpy(q.domain, "example.com", 12);
	n = rvpn_dns_query_emit(out, sizeof out, &q);
	CHECK(n > 0);
	chk_str("dns_query_json", out, n > 0 ? (size_t)n : 0);
	l = in_str("dns_query_json");
	CHECK(rvpn_dns_query_parse((const uint8_t *)l->value, l->len, &pq) == 0);
	CHECK(memcmp(&pq, &q, sizeof q) == 0);

	memset(&r, 0, sizeof r);
	r.query_id = 7;
	r.success = true;
	r.n4 = 1;
	snprintf(r.ipv4[0], sizeof r.ipv4[0], "93.184.215.14");
	r.ttl = RVPN_DNS_TTL;
	n = rvpn_dns_response_emit(out, sizeof out, &r);
	CHECK(n > 0);
	chk_str("dns_response_json", out, n > 0 ? (size_t)n : 0);
	l = in_str("dns_response_json");
	CHECK(rvpn_dns_response_parse((const uint8_t *)l->value, l->len, &pr) == 0);
	CHECK(memcmp(&pr, &r, sizeof r) == 0);
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : SY_SOURCE_DIR "/../shared/rvpn-vectors.json";

	if (sodium_init() < 0)
		return 2;
	vj_load(path);
	CHECK(vj_count > 50); /* the file was read, not an empty stand-in */
	test_server_keys();
	test_hello();
	test_x3dh();
	test_chain_keys();
	test_msg0_target();
	test_msg0_vip();
	/* The same vectors through the engine's crypto context. */
	use_cc = rvpn_cctx_new();
	CHECK(use_cc != NULL);
	if (use_cc != NULL) {
		test_chain_keys();
		test_msg0_target();
		test_msg0_vip();
		rvpn_cctx_free(use_cc);
		use_cc = NULL;
	}
	test_control_mux();
	test_dns();
	unsigned left = vj_unchecked();
	CHECKF(left == 0, "%u vectors left unchecked", left);
	printf("%zu vector leaves in the file, %u unchecked\n", vj_count, left);
	return check_summary();
}
