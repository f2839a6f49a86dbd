/*
 * Unit tests of proto/rvpn/rvpn_keys.c: the identity file in both forms (LF and CRLF),
 * every truncation, the size limits at N and N+1; the bundle and sidecar JSON in any
 * member order with optional members; the sidecar file name; the pin and allow-list key
 * forms. Known-answer values are in test_rvpn_vectors.c.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "proto/rvpn/rvpn_keys.h"

static struct rvpn_identity id;

/* Identity file forms. */
static void
test_identity(void)
{
	static char text[RVPN_IDENTITY_MAX + 16];
	char f3[RVPN_IDENTITY_TEXT], pub[RVPN_B64_32 + 1], seed[RVPN_B64_32 + 1], x[RVPN_B64_32 + 1];
	struct rvpn_identity p;
	int n;

	n = rvpn_identity_format(f3, sizeof f3, &id);
	CHECK(n == 18 + 45 + 45);
	CHECK(rvpn_identity_parse(&p, f3, (size_t)n) == 0 && memcmp(&p, &id, sizeof p) == 0);
	/* Without the final newline, with CRLF, with a trailing blank line. */
	CHECK(rvpn_identity_parse(&p, f3, (size_t)n - 1) == 0 && memcmp(&p, &id, sizeof p) == 0);
	rvpn_b64_encode(pub, sizeof pub, id.ed_pub, 32);
	rvpn_b64_encode(seed, sizeof seed, id.seed, 32);
	rvpn_b64_encode(x, sizeof x, id.x_pub, 32);
	n = snprintf(text, sizeof text, "R-VPN-IDENTITY-v1\r\n%s\r\n%s\r\n\r\n", pub, seed);
	CHECK(rvpn_identity_parse(&p, text, (size_t)n) == 0 && memcmp(&p, &id, sizeof p) == 0);
	/* The 4-line form. */
	n = snprintf(text, sizeof text, "R-VPN-IDENTITY-v1\ned25519: %s\nx25519: %s\n%s\n", pub, x,
	    seed);
	CHECK(rvpn_identity_parse(&p, text, (size_t)n) == 0 && memcmp(&p, &id, sizeof p) == 0);
	/* Only the seed matters: a stale public line still gives the derived keys. */
	n = snprintf(text, sizeof text, "R-VPN-IDENTITY-v1\n%s\n%s\n", x, seed);
	CHECK(rvpn_identity_parse(&p, text, (size_t)n) == 0 && memcmp(&p, &id, sizeof p) == 0);
	/* Refused: wrong magic, missing prefix, bad base64, extra lines, every truncation
	 * that cuts a line. */
	char bad[6][300];
	snprintf(bad[0], sizeof bad[0], "R-VPN-IDENTITY-v2\n%s\n%s\n", pub, seed);
	snprintf(bad[1], sizeof bad[1], "R-VPN-IDENTITY-v1\ned25519 %s\nx25519: %s\n%s\n", pub,
	    x, seed);
	snprintf(bad[2], sizeof bad[2], "R-VPN-IDENTITY-v1\n%s\n%s\nextra\n", pub, seed);
	snprintf(bad[3], sizeof bad[3], "R-VPN-IDENTITY-v1\n%s \n%s\n", pub, seed);
	snprintf(bad[4], sizeof bad[4], "R-VPN-IDENTITY-v1\n%s\n%s=\n", pub, seed);
	snprintf(bad[5], sizeof bad[5], "R-VPN-IDENTITY-v1\n\n%s\n%s\n", pub, seed);
	for (size_t i = 0; i < 6; i++)
		CHECKF(rvpn_identity_parse(&p, bad[i], strlen(bad[i])) == -1, "bad form %zu", i);
	n = rvpn_identity_format(f3, sizeof f3, &id);
	int refused = 0;
	for (int k = 0; k < n - 1; k++)
		refused += rvpn_identity_parse(&p, f3, (size_t)k) == -1;
	CHECKF(refused == n - 1, "%d of %d truncations refused", refused, n - 1);
	/* Size: RVPN_IDENTITY_MAX bytes (trailing line ends) parse, one more does not. */
	memcpy(text, f3, (size_t)n);
	memset(text + n, '\n', RVPN_IDENTITY_MAX - (size_t)n + 1);
	CHECK(rvpn_identity_parse(&p, text, RVPN_IDENTITY_MAX) == 0 &&
	    memcmp(&p, &id, sizeof p) == 0);
	CHECK(rvpn_identity_parse(&p, text, RVPN_IDENTITY_MAX + 1) == -1);
	CHECK(rvpn_identity_format(f3, 108, &id) == -1 && rvpn_identity_format(f3, 109, &id) == 108);
}

/* Bundle and sidecar JSON. */
static void
test_bundle(void)
{
	static char text[RVPN_BUNDLE_MAX + 16];
	char out[RVPN_BUNDLE_TEXT], k32[RVPN_B64_32 + 1], k64[RVPN_B64_64 + 1], name[64];
	struct rvpn_bundle b, p;
	uint8_t spk[32], priv[32], back[32];
	int n;

	randombytes_buf(priv, sizeof priv);
	crypto_scalarmult_base(spk, priv);
	CHECK(rvpn_bundle_make(&b, &id, spk) == 0);
	CHECK(rvpn_spk_verify(b.prekey_signature, id.ed_pub, spk));
	n = rvpn_bundle_format(out, sizeof out, &b);
	CHECK(n > 0 && strstr(out, "\"one_time_prekey\": null") != NULL &&
	    strstr(out, "\"identity_key_version\": 1,") != NULL);
	CHECK(rvpn_bundle_parse(&p, out, (size_t)n) == 0 && memcmp(&p, &b, sizeof b) == 0);
	int refused = 0;
	for (int k = 0; k < n - 2; k++)
		refused += rvpn_bundle_parse(&p, out, (size_t)k) == -1;
	CHECKF(refused == n - 2, "%d of %d bundle truncations refused", refused, n - 2);
	/* Optional members absent: version defaults to 1; OPK and rotation present. */
	rvpn_b64_encode(k32, sizeof k32, spk, 32);
	rvpn_b64_encode(k64, sizeof k64, b.prekey_signature, 64);
	n = snprintf(text, sizeof text, "{\"signed_prekey\":\"%s\",\"identity_key\":\"%s\","
	    "\"prekey_signature\":\"%s\",\"identity_x25519_key\":\"%s\",\"one_time_prekey\":\"%s\","
	    "\"rotation_signature\":\"%s\",\"extra\":[1,{\"a\":null}]}", k32, k32, k64, k32, k32, k64);
	CHECK(rvpn_bundle_parse(&p, text, (size_t)n) == 0 && p.identity_key_version == 1 &&
	    p.has_one_time_prekey && p.has_rotation_signature &&
	    memcmp(p.one_time_prekey, spk, 32) == 0);
	/* A required member missing, a wrong size, a duplicate: refused. */
	n = snprintf(text, sizeof text, "{\"signed_prekey\":\"%s\",\"identity_key\":\"%s\","
	    "\"prekey_signature\":\"%s\"}", k32, k32, k64);
	CHECK(rvpn_bundle_parse(&p, text, (size_t)n) == -1);
	n = snprintf(text, sizeof text, "{\"signed_prekey\":\"%s\",\"identity_key\":\"%s\","
	    "\"prekey_signature\":\"%s\",\"identity_x25519_key\":\"%s\"}", k32, k32, k32, k32);
	CHECK(rvpn_bundle_parse(&p, text, (size_t)n) == -1);
	n = snprintf(text, sizeof text, "{\"signed_prekey\":\"%s\",\"identity_key\":\"%s\","
	    "\"prekey_signature\":\"%s\",\"identity_x25519_key\":\"%s\",\"identity_key\":\"%s\"}",
	    k32, k32, k64, k32, k32);
	CHECK(rvpn_bundle_parse(&p, text, (size_t)n) == -1);
	/* RVPN_BUNDLE_MAX at N (padded with whitespace) and N+1. */
	n = rvpn_bundle_format(out, sizeof out, &b);
	memcpy(text, out, (size_t)n);
	memset(text + n, ' ', RVPN_BUNDLE_MAX + 1 - (size_t)n);
	CHECK(rvpn_bundle_parse(&p, text, RVPN_BUNDLE_MAX) == 0);
	CHECK(rvpn_bundle_parse(&p, text, RVPN_BUNDLE_MAX + 1) == -1);

	/* Sidecar. */
	n = rvpn_private_format(out, sizeof out, priv);
	CHECK(n > 0 && rvpn_private_parse(back, out, (size_t)n) == 0 && memcmp(back, priv, 32) == 0);
	CHECK(rvpn_private_parse(back, out, (size_t)n - 3) == -1);
	static const char *const badp[] = { "{}", "{\"signed_prekey_private\":null}",
		"{\"signed_prekey_private\":\"AAAA\"}", "[]" };
	for (size_t i = 0; i < sizeof badp / sizeof *badp; i++) {
		memset(back, 0x77, sizeof back);
		CHECK(rvpn_private_parse(back, badp[i], strlen(badp[i])) == -1 && back[0] == 0 &&
		    back[31] == 0);
	}

	/* Sidecar names (Rust's with_extension). */
	static const char *const names[][2] = {
		{ "prekey-bundle.json", "prekey-bundle.private.json" },
		{ "/etc/sy/bundle.json", "/etc/sy/bundle.private.json" },
		{ "bundle", "bundle.private.json" },
		{ "/a.b/bundle", "/a.b/bundle.private.json" },
		{ "x.tar.gz", "x.tar.private.json" },
		{ "/d/.hidden", "/d/.hidden.private.json" },
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		n = rvpn_sidecar_name(name, sizeof name, names[i][0]);
		CHECKF(n == (int)strlen(names[i][1]) && strcmp(name, names[i][1]) == 0, "%s -> %s",
		    names[i][0], name);
	}
	CHECK(rvpn_sidecar_name(name, sizeof name, "/dir/") == -1);
	CHECK(rvpn_sidecar_name(name, 20, "bundle.json") == 19);
	CHECK(rvpn_sidecar_name(name, 19, "bundle.json") == -1);
}

/* Pins and allow-list key forms. */
static void
test_forms(void)
{
	char pin[RVPN_PIN_LEN + 1], up[RVPN_PIN_LEN + 1], hex[65], ik[RVPN_IK_HEX_LEN + 1];
	char b64[RVPN_B64_32 + 1];
	uint8_t h[32], x[32];

	rvpn_pin_format(pin, id.ed_pub);
	CHECK(strlen(pin) == RVPN_PIN_LEN && strncmp(pin, "ik:1:", 5) == 0);
	CHECK(rvpn_pin_match(pin, RVPN_PIN_LEN, id.ed_pub));
	for (int i = 0; i <= RVPN_PIN_LEN; i++)
		up[i] = (char)(pin[i] >= 'a' && pin[i] <= 'z' ? pin[i] - 32 : pin[i]);
	CHECK(rvpn_pin_match(up, RVPN_PIN_LEN, id.ed_pub));
	CHECK(!rvpn_pin_match(pin, RVPN_PIN_LEN - 1, id.ed_pub));
	pin[10] = pin[10] == 'a' ? 'b' : 'a';
	CHECK(!rvpn_pin_match(pin, RVPN_PIN_LEN, id.ed_pub));
	crypto_hash_sha256(h, id.ed_pub, 32);
	sodium_bin2hex(hex, sizeof hex, h, 32);
	CHECK(rvpn_pin_match(hex, 64, id.ed_pub));
	hex[0] = hex[0] == '0' ? '1' : '0';
	CHECK(!rvpn_pin_match(hex, 64, id.ed_pub));
	sodium_bin2hex(hex, sizeof hex, id.ed_pub, 16);
	CHECK(rvpn_pin_match(hex, 32, id.ed_pub));
	hex[5] = 'x';
	CHECK(!rvpn_pin_match(hex, 32, id.ed_pub));

	rvpn_ik_format(ik, id.x_pub);
	CHECK(strlen(ik) == RVPN_IK_HEX_LEN && rvpn_ik_parse(x, ik, strlen(ik)) == 0 &&
	    memcmp(x, id.x_pub, 32) == 0);
	CHECK(rvpn_ik_parse(x, ik + 3, 64) == 0 && memcmp(x, id.x_pub, 32) == 0);
	rvpn_b64_encode(b64, sizeof b64, id.x_pub, 32);
	CHECK(rvpn_ik_parse(x, b64, strlen(b64)) == 0 && memcmp(x, id.x_pub, 32) == 0);
	CHECK(rvpn_ik_parse(x, ik, strlen(ik) - 1) == -1);
	CHECK(rvpn_ik_parse(x, ik + 3, 63) == -1);
	ik[10] = 'g';
	CHECK(rvpn_ik_parse(x, ik, strlen(ik)) == -1);
	b64[43] = 'A'; /* no padding */
	CHECK(rvpn_ik_parse(x, b64, strlen(b64)) == -1);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 2;
	CHECK(rvpn_identity_generate(&id) == 0);
	test_identity();
	test_bundle();
	test_forms();
	rvpn_identity_wipe(&id);
	return check_summary();
}
