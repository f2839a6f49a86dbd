/*
 * Key files and key text forms of rvpn_keys.h, written from rvpn-protocol.md §4. The one
 * trap (§4.1): the identity X25519 key is X25519(clamp(seed)), the raw seed as scalar,
 * NOT libsodium's Ed25519-to-Curve25519 conversion. Parsers read untrusted text with
 * explicit bounds; every scratch copy of a seed or private key is wiped through the exit
 * label of its function.
 */
#include "proto/rvpn/rvpn_keys.h"

#include <sodium.h>
#include <string.h>

#include "proto/rvpn/rvpn_json.h"

/* See rvpn_keys.h. */
int
rvpn_b64_encode(char *out, size_t cap, const uint8_t *in, size_t n)
{
	if (cap < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL))
		return -1;
	sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

/* See rvpn_keys.h. The whole string must be consumed: no trailing garbage. */
int
rvpn_b64_decode(uint8_t *out, size_t want, const char *s, size_t len)
{
	uint8_t tmp[128];
	const char *end = NULL;
	size_t n = 0;
	int rc = -1;

	if (want > sizeof tmp || len != sodium_base64_ENCODED_LEN(want,
	    sodium_base64_VARIANT_ORIGINAL) - 1)
		goto out;
	if (sodium_base642bin(tmp, sizeof tmp, s, len, NULL, &n, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != s + len || n != want)
		goto out;
	memcpy(out, tmp, want);
	rc = 0;
out:
	sodium_memzero(tmp, sizeof tmp);
	return rc;
}

/* See rvpn_keys.h. */
int
rvpn_identity_from_seed(struct rvpn_identity *id, const uint8_t seed[32])
{
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	int rc = -1;

	if (id->seed != seed)
		memcpy(id->seed, seed, 32);
	if (crypto_sign_seed_keypair(id->ed_pub, sk, id->seed) != 0)
		goto out;
	/* crypto_scalarmult_base clamps a copy of the raw seed: exactly §4.1. */
	if (crypto_scalarmult_base(id->x_pub, id->seed) != 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(sk, sizeof sk);
	return rc;
}

/* See rvpn_keys.h. */
int
rvpn_identity_generate(struct rvpn_identity *id)
{
	randombytes_buf(id->seed, sizeof id->seed);
	return rvpn_identity_from_seed(id, id->seed);
}

/* See rvpn_keys.h. */
void
rvpn_identity_wipe(struct rvpn_identity *id)
{
	sodium_memzero(id, sizeof *id);
}

/* Splits the next line off text at *off: start and length without CR/LF. */
static bool
next_line(const char *text, size_t len, size_t *off, const char **line, size_t *n)
{
	if (*off >= len)
		return false;
	const char *s = text + *off;
	const char *nl = memchr(s, '\n', len - *off);
	size_t k = nl != NULL ? (size_t)(nl - s) : len - *off;

	*off += k + (nl != NULL ? 1 : 0);
	if (k > 0 && s[k - 1] == '\r')
		k--;
	*line = s;
	*n = k;
	return true;
}

/* True when line starts with prefix; then moves line past it. */
static bool
strip_prefix(const char **line, size_t *n, const char *prefix)
{
	size_t k = strlen(prefix);

	if (*n < k || memcmp(*line, prefix, k) != 0)
		return false;
	*line += k;
	*n -= k;
	return true;
}

/* See rvpn_keys.h. */
int
rvpn_identity_parse(struct rvpn_identity *id, const char *text, size_t len)
{
	const char *l[5];
	size_t n[5], off = 0, count = 0;
	uint8_t pub[32], seed[32];
	const char *s;
	size_t sn;
	int rc = -1;

	memset(id, 0, sizeof *id);
	if (len > RVPN_IDENTITY_MAX)
		goto out;
	/* Line ends after the seed line (an editor's final newlines) are not lines. */
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	while (count < 5 && next_line(text, len, &off, &l[count], &n[count]))
		count++;
	if (off < len || count < 3 || count > 4)
		goto out;
	if (n[0] != strlen(RVPN_IDENTITY_MAGIC) || memcmp(l[0], RVPN_IDENTITY_MAGIC, n[0]) != 0)
		goto out;
	if (count == 3) {
		if (rvpn_b64_decode(pub, 32, l[1], n[1]) != 0)
			goto out;
	} else {
		s = l[1];
		sn = n[1];
		if (!strip_prefix(&s, &sn, "ed25519: ") || rvpn_b64_decode(pub, 32, s, sn) != 0)
			goto out;
		s = l[2];
		sn = n[2];
		if (!strip_prefix(&s, &sn, "x25519: ") || rvpn_b64_decode(pub, 32, s, sn) != 0)
			goto out;
	}
	if (rvpn_b64_decode(seed, 32, l[count - 1], n[count - 1]) != 0)
		goto out;
	rc = rvpn_identity_from_seed(id, seed);
out:
	sodium_memzero(seed, sizeof seed);
	if (rc != 0)
		rvpn_identity_wipe(id);
	return rc;
}

/* See rvpn_keys.h. */
int
rvpn_identity_format(char *out, size_t cap, const struct rvpn_identity *id)
{
	char pub[RVPN_B64_32 + 1], seed[RVPN_B64_32 + 1];
	struct rvpn_jw w;
	int rc;

	rvpn_b64_encode(pub, sizeof pub, id->ed_pub, 32);
	rvpn_b64_encode(seed, sizeof seed, id->seed, 32);
	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, RVPN_IDENTITY_MAGIC "\n");
	rvpn_jw_raw(&w, pub, RVPN_B64_32);
	rvpn_jw_raw(&w, "\n", 1);
	rvpn_jw_raw(&w, seed, RVPN_B64_32);
	rvpn_jw_raw(&w, "\n", 1);
	rc = rvpn_jw_done(&w);
	sodium_memzero(seed, sizeof seed);
	return rc;
}

/* See rvpn_keys.h. */
int
rvpn_spk_sign(uint8_t sig[64], const uint8_t seed[32], const uint8_t spk_pub[32])
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	int rc = -1;

	if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
		goto out;
	if (crypto_sign_detached(sig, NULL, spk_pub, 32, sk) != 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(sk, sizeof sk);
	return rc;
}

/* See rvpn_keys.h. */
bool
rvpn_spk_verify(const uint8_t sig[64], const uint8_t ed_pub[32], const uint8_t spk_pub[32])
{
	return crypto_sign_verify_detached(sig, spk_pub, 32, ed_pub) == 0;
}

/* See rvpn_keys.h. */
int
rvpn_bundle_make(struct rvpn_bundle *b, const struct rvpn_identity *id,
    const uint8_t spk_pub[32])
{
	memset(b, 0, sizeof *b);
	memcpy(b->identity_key, id->ed_pub, 32);
	memcpy(b->identity_x25519_key, id->x_pub, 32);
	memcpy(b->signed_prekey, spk_pub, 32);
	b->identity_key_version = 1;
	return rvpn_spk_sign(b->prekey_signature, id->seed, spk_pub);
}

/* Appends  "name": "<b64>" (or null when p is NULL) and the separator. */
static void
jw_b64_member(struct rvpn_jw *w, const char *name, const uint8_t *p, size_t n, bool last)
{
	char b64[RVPN_B64_64 + 1];

	rvpn_jw_lit(w, "  \"");
	rvpn_jw_lit(w, name);
	rvpn_jw_lit(w, "\": ");
	if (p == NULL) {
		rvpn_jw_lit(w, "null");
	} else {
		rvpn_b64_encode(b64, sizeof b64, p, n);
		rvpn_jw_raw(w, "\"", 1);
		rvpn_jw_lit(w, b64);
		rvpn_jw_raw(w, "\"", 1);
	}
	rvpn_jw_lit(w, last ? "\n" : ",\n");
}

/* See rvpn_keys.h. Layout as serde_json's to_string_pretty, in the struct's order. */
int
rvpn_bundle_format(char *out, size_t cap, const struct rvpn_bundle *b)
{
	struct rvpn_jw w;

	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, "{\n");
	jw_b64_member(&w, "identity_key", b->identity_key, 32, false);
	jw_b64_member(&w, "identity_x25519_key", b->identity_x25519_key, 32, false);
	jw_b64_member(&w, "signed_prekey", b->signed_prekey, 32, false);
	jw_b64_member(&w, "prekey_signature", b->prekey_signature, 64, false);
	jw_b64_member(&w, "one_time_prekey",
	    b->has_one_time_prekey ? b->one_time_prekey : NULL, 32, false);
	rvpn_jw_lit(&w, "  \"identity_key_version\": ");
	rvpn_jw_uint(&w, b->identity_key_version);
	rvpn_jw_lit(&w, ",\n");
	jw_b64_member(&w, "rotation_signature",
	    b->has_rotation_signature ? b->rotation_signature : NULL, 64, true);
	rvpn_jw_lit(&w, "}\n");
	return rvpn_jw_done(&w);
}

/* Reads a JSON string holding base64 of exactly want bytes. */
static int
json_b64(struct rvpn_json *j, uint8_t *out, size_t want)
{
	uint8_t s[RVPN_B64_64];
	size_t n;
	int rc;

	if (rvpn_json_string(j, s, sizeof s, &n) != 0)
		return -1;
	rc = rvpn_b64_decode(out, want, (const char *)s, n);
	sodium_memzero(s, sizeof s);
	return rc;
}

/* Reads null (returns 0, *has false) or base64 of want bytes (*has true). */
static int
json_opt_b64(struct rvpn_json *j, uint8_t *out, size_t want, bool *has)
{
	*has = false;
	if (rvpn_json_null(j) == 1)
		return 0;
	*has = true;
	return json_b64(j, out, want);
}


/* See rvpn_keys.h. */
int
rvpn_bundle_parse(struct rvpn_bundle *b, const char *text, size_t len)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	struct rvpn_json j;
	bool first = true;
	unsigned seen = 0, bit;
	size_t klen;
	uint64_t v;
	int r, rc;

	memset(b, 0, sizeof *b);
	b->identity_key_version = 1;
	if (len > RVPN_BUNDLE_MAX)
		return -1;
	rvpn_json_init(&j, (const uint8_t *)text, len);
	if (rvpn_json_obj_begin(&j) != 0)
		return -1;
	while ((r = rvpn_json_obj_next(&j, &first, key, &klen)) == 1) {
		bit = 0;
		if (rvpn_json_key_is(key, klen, "identity_key")) {
			bit = 1;
			rc = json_b64(&j, b->identity_key, 32);
		} else if (rvpn_json_key_is(key, klen, "identity_x25519_key")) {
			bit = 2;
			rc = json_b64(&j, b->identity_x25519_key, 32);
		} else if (rvpn_json_key_is(key, klen, "signed_prekey")) {
			bit = 4;
			rc = json_b64(&j, b->signed_prekey, 32);
		} else if (rvpn_json_key_is(key, klen, "prekey_signature")) {
			bit = 8;
			rc = json_b64(&j, b->prekey_signature, 64);
		} else if (rvpn_json_key_is(key, klen, "one_time_prekey")) {
			bit = 16;
			rc = json_opt_b64(&j, b->one_time_prekey, 32, &b->has_one_time_prekey);
		} else if (rvpn_json_key_is(key, klen, "identity_key_version")) {
			bit = 32;
			rc = rvpn_json_uint(&j, UINT32_MAX, &v);
			b->identity_key_version = (uint32_t)v;
		} else if (rvpn_json_key_is(key, klen, "rotation_signature")) {
			bit = 64;
			rc = json_opt_b64(&j, b->rotation_signature, 64,
			    &b->has_rotation_signature);
		} else {
			rc = rvpn_json_skip(&j);
		}
		if (rc != 0 || (seen & bit) != 0)
			return -1;
		seen |= bit;
	}
	if (r != 0 || rvpn_json_end(&j) != 0 || (seen & 15) != 15)
		return -1;
	return 0;
}

/* See rvpn_keys.h. */
int
rvpn_private_format(char *out, size_t cap, const uint8_t spk_priv[32])
{
	char b64[RVPN_B64_32 + 1];
	struct rvpn_jw w;
	int rc;

	rvpn_b64_encode(b64, sizeof b64, spk_priv, 32);
	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, "{\n  \"signed_prekey_private\": \"");
	rvpn_jw_raw(&w, b64, RVPN_B64_32);
	rvpn_jw_lit(&w, "\"\n}\n");
	rc = rvpn_jw_done(&w);
	sodium_memzero(b64, sizeof b64);
	return rc;
}

/* See rvpn_keys.h. */
int
rvpn_private_parse(uint8_t spk_priv[32], const char *text, size_t len)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	struct rvpn_json j;
	bool first = true, seen = false;
	size_t klen;
	int r, rc = -1;

	if (len > RVPN_BUNDLE_MAX)
		goto out;
	rvpn_json_init(&j, (const uint8_t *)text, len);
	if (rvpn_json_obj_begin(&j) != 0)
		goto out;
	while ((r = rvpn_json_obj_next(&j, &first, key, &klen)) == 1) {
		if (rvpn_json_key_is(key, klen, "signed_prekey_private")) {
			if (seen || json_b64(&j, spk_priv, 32) != 0)
				goto out;
			seen = true;
		} else if (rvpn_json_skip(&j) != 0) {
			goto out;
		}
	}
	if (r != 0 || !seen || rvpn_json_end(&j) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		sodium_memzero(spk_priv, 32);
	return rc;
}

/* See rvpn_keys.h. */
int
rvpn_sidecar_name(char *out, size_t cap, const char *bundle_path)
{
	size_t len = strlen(bundle_path), base = len;
	const char *slash = strrchr(bundle_path, '/');
	const char *name = slash != NULL ? slash + 1 : bundle_path;
	const char *dot = strrchr(name, '.');
	size_t need;

	/* Path::with_extension: a leading dot ("/x/.hidden") is a name, not an extension. */
	if (dot != NULL && dot != name)
		base = (size_t)(dot - bundle_path);
	if (*name == '\0')
		return -1;
	need = base + 1 + strlen(RVPN_SIDECAR_SUFFIX);
	if (need + 1 > cap)
		return -1;
	memcpy(out, bundle_path, base);
	out[base] = '.';
	memcpy(out + base + 1, RVPN_SIDECAR_SUFFIX, strlen(RVPN_SIDECAR_SUFFIX) + 1);
	return (int)need;
}

/* See rvpn_keys.h. RFC 4648 base32, lowercase, unpadded: 32 bytes make 52 characters. */
void
rvpn_pin_format(char out[RVPN_PIN_LEN + 1], const uint8_t ed_pub[32])
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t h[crypto_hash_sha256_BYTES];
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 5;

	crypto_hash_sha256(h, ed_pub, 32);
	memcpy(out, "ik:1:", 5);
	for (size_t i = 0; i < sizeof h; i++) {
		acc = acc << 8 | h[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = alpha[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = alpha[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

/* Decodes 2*n hex digits (either case) into out. */
static int
hex_decode(uint8_t *out, size_t n, const char *s, size_t len)
{
	if (len != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + (size_t)k];
			int d;
			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				return -1;
			v = v << 4 | d;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* See rvpn_keys.h. */
bool
rvpn_pin_match(const char *pin, size_t len, const uint8_t ed_pub[32])
{
	char canon[RVPN_PIN_LEN + 1];
	uint8_t h[crypto_hash_sha256_BYTES], want[32];

	if (len == RVPN_PIN_LEN) {
		rvpn_pin_format(canon, ed_pub);
		for (size_t i = 0; i < len; i++) {
			char c = pin[i];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (c != canon[i])
				return false;
		}
		return true;
	}
	if (len == 64) {
		crypto_hash_sha256(h, ed_pub, 32);
		return hex_decode(want, 32, pin, len) == 0 && sodium_memcmp(want, h, 32) == 0;
	}
	if (len == 32)
		return hex_decode(want, 16, pin, len) == 0 && sodium_memcmp(want, ed_pub, 16) == 0;
	return false;
}

/* See rvpn_keys.h. */
void
rvpn_ik_format(char out[RVPN_IK_HEX_LEN + 1], const uint8_t x_pub[32])
{
	memcpy(out, "ik:", 3);
	sodium_bin2hex(out + 3, 65, x_pub, 32);
}

/* See rvpn_keys.h. */
int
rvpn_ik_parse(uint8_t x_pub[32], const char *s, size_t len)
{
	if (len == RVPN_IK_HEX_LEN && memcmp(s, "ik:", 3) == 0)
		return hex_decode(x_pub, 32, s + 3, len - 3);
	if (len == 64)
		return hex_decode(x_pub, 32, s, len);
	if (len == RVPN_B64_32)
		return rvpn_b64_decode(x_pub, 32, s, len);
	return -1;
}
