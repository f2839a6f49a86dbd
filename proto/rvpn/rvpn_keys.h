/*
 * The r-vpn key material and its files (rvpn-protocol.md §4): the identity file, the
 * prekey bundle JSON and its private sidecar, the SPK signature, and the textual forms of
 * keys (the TOFU pin ik:1:<base32>, the allow-list forms hex / base64 / ik:<hex>). Pure
 * codecs over caller buffers, shared by the `switchyard keygen / pubkey / prekey-bundle`
 * tools, the VPN engine and the VPN client. Secrets (seeds, SPK private keys) that pass
 * through a parser's scratch are wiped before it returns; the caller wipes its structs
 * with rvpn_identity_wipe / sodium_memzero.
 */
#ifndef SY_PROTO_RVPN_KEYS_H
#define SY_PROTO_RVPN_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RVPN_IDENTITY_MAGIC   "R-VPN-IDENTITY-v1"
#define RVPN_IDENTITY_MAX     1024 /* bytes of an identity file we read */
#define RVPN_IDENTITY_TEXT    128  /* a buffer that holds the 3-line form */
#define RVPN_B64_32           44   /* base64 of 32 bytes, padded */
#define RVPN_B64_64           88   /* base64 of 64 bytes, padded */
#define RVPN_PIN_LEN          57   /* "ik:1:" + 52 base32 characters */
#define RVPN_IK_HEX_LEN       67   /* "ik:" + 64 hex digits */
#define RVPN_BUNDLE_MAX       4096 /* bytes of a bundle or sidecar file we read */
#define RVPN_BUNDLE_TEXT      1024 /* a buffer that holds our bundle JSON */
#define RVPN_SIDECAR_SUFFIX   "private.json"

/* An identity: the seed (secret) and the two public keys derived from it (§4.1). */
struct rvpn_identity {
	uint8_t seed[32];
	uint8_t ed_pub[32];  /* Ed25519_pub(seed) */
	uint8_t x_pub[32];   /* X25519(clamp(seed), 9): the real server-auth anchor */
};

/* The public prekey bundle (§4.2). */
struct rvpn_bundle {
	uint8_t  identity_key[32];        /* Ed25519 */
	uint8_t  identity_x25519_key[32];
	uint8_t  signed_prekey[32];
	uint8_t  prekey_signature[64];
	bool     has_one_time_prekey;     /* always false in ours; parsed for completeness */
	uint8_t  one_time_prekey[32];
	uint32_t identity_key_version;
	bool     has_rotation_signature;
	uint8_t  rotation_signature[64];
};

/* Derives both public keys from seed into id (seed copied). Returns 0 or -1. */
int rvpn_identity_from_seed(struct rvpn_identity *id, const uint8_t seed[32]);
/* Makes a fresh identity from the system CSPRNG. */
int rvpn_identity_generate(struct rvpn_identity *id);
/* Wipes the identity (the seed is the secret). */
void rvpn_identity_wipe(struct rvpn_identity *id);

/*
 * Parses an identity file (untrusted text): the magic line, then either the 3-line form
 * (base64 ed25519 public, base64 seed) or the 4-line form ("ed25519: <b64>",
 * "x25519: <b64>", base64 seed). Only the seed is used; the public keys are derived again.
 * LF or CRLF line ends; trailing line ends are ignored. Returns 0 or -1.
 */
int rvpn_identity_parse(struct rvpn_identity *id, const char *text, size_t len);
/* Writes the 3-line form that keygen writes. Returns its length or -1. */
int rvpn_identity_format(char *out, size_t cap, const struct rvpn_identity *id);

/* Signs the 32 raw SPK bytes with the identity seed (Ed25519, deterministic). */
int rvpn_spk_sign(uint8_t sig[64], const uint8_t seed[32], const uint8_t spk_pub[32]);
/* True when sig is ed_pub's Ed25519 signature of the 32 SPK bytes. */
bool rvpn_spk_verify(const uint8_t sig[64], const uint8_t ed_pub[32], const uint8_t spk_pub[32]);

/* Fills a bundle for id and the SPK (public half spk_pub), version 1, no OPK/rotation. */
int rvpn_bundle_make(struct rvpn_bundle *b, const struct rvpn_identity *id,
    const uint8_t spk_pub[32]);
/* Writes the bundle JSON (pretty, the reference's field order). Returns length or -1. */
int rvpn_bundle_format(char *out, size_t cap, const struct rvpn_bundle *b);
/*
 * Parses a bundle (untrusted): members in any order, unknown ones ignored; the four key
 * members required; one_time_prekey / rotation_signature null or base64;
 * identity_key_version defaults to 1. Returns 0 or -1.
 */
int rvpn_bundle_parse(struct rvpn_bundle *b, const char *text, size_t len);

/* Writes {"signed_prekey_private": "<b64>"}. Returns its length or -1. */
int rvpn_private_format(char *out, size_t cap, const uint8_t spk_priv[32]);
/* Parses the sidecar into spk_priv (wiped on failure). Returns 0 or -1. */
int rvpn_private_parse(uint8_t spk_priv[32], const char *text, size_t len);
/*
 * The sidecar's name for a bundle path: the extension of the last component replaced by
 * "private.json" (Rust's Path::with_extension), or appended when there is none.
 * Returns the length or -1 when cap is short.
 */
int rvpn_sidecar_name(char *out, size_t cap, const char *bundle_path);

/* Writes the canonical pin ik:1:<base32(SHA-256(ed_pub))> and a NUL (RVPN_PIN_LEN + 1). */
void rvpn_pin_format(char out[RVPN_PIN_LEN + 1], const uint8_t ed_pub[32]);
/*
 * True when pin (untrusted, len bytes) names ed_pub: the canonical ik:1: form, 64 hex
 * digits of SHA-256(ed_pub), or 32 hex digits of ed_pub's first 16 bytes. Case-insensitive.
 */
bool rvpn_pin_match(const char *pin, size_t len, const uint8_t ed_pub[32]);

/* Writes "ik:" + lowercase hex of an X25519 identity and a NUL. */
void rvpn_ik_format(char out[RVPN_IK_HEX_LEN + 1], const uint8_t x_pub[32]);
/*
 * Parses an X25519 identity written as 64 hex digits, ik:<64 hex> or standard padded
 * base64 (allow-list lines, §12 #1). Returns 0 or -1.
 */
int rvpn_ik_parse(uint8_t x_pub[32], const char *s, size_t len);

/* Standard padded base64 of n bytes into out (NUL-terminated; cap >= 4*ceil(n/3)+1). */
int rvpn_b64_encode(char *out, size_t cap, const uint8_t *in, size_t n);
/* Decodes exactly want bytes of standard padded base64 from s[0 .. len). Returns 0 or -1. */
int rvpn_b64_decode(uint8_t *out, size_t want, const char *s, size_t len);

#endif
