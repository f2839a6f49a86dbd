/*
 * The r-vpn handshake messages (rvpn-protocol.md §5.1): serde-JSON of an externally tagged
 * enum, byte fields as arrays of integers. Both roles: the server parses Hello and emits
 * ServerHello or Error; the client emits Hello and parses ServerHello or Error. A
 * handshake message arrives as one whole WebSocket message, so these parsers take the
 * whole message (no resumable state); the WebSocket layer does the byte-at-a-time part.
 * Pure: no allocation, no I/O.
 */
#ifndef SY_PROTO_RVPN_HELLO_H
#define SY_PROTO_RVPN_HELLO_H

#include <stddef.h>
#include <stdint.h>

#define RVPN_HELLO_MAX       4096 /* bytes of one handshake message; real ones are ~420/~800 */
#define RVPN_HELLO_MAX_BYTES 64   /* elements of a byte array we read (keys are 32, sig 64) */
#define RVPN_HELLO_ERROR_MAX 256  /* bytes of an Error message (client role); longer is refused */
#define RVPN_SERVER_HELLO_LEN 1024 /* a buffer that always holds our ServerHello */

/* Error codes the server sends (§5.1). */
#define RVPN_ERROR_VERSION 1 /* major != 1 */
#define RVPN_ERROR_AUTH    2 /* auth_method != "X3DH" */
#define RVPN_ERROR_NO_KEY  3 /* no identity key loaded */

enum rvpn_auth {
	RVPN_AUTH_X3DH = 0,
	RVPN_AUTH_NOISE,
	RVPN_AUTH_TOKEN
};

/*
 * Verdicts of rvpn_hello_parse, in the order the reference checks them:
 *
 *   RVPN_HELLO_OK             version 1.x.x, X3DH, both keys 32 bytes
 *   RVPN_HELLO_ERR_TOO_LARGE  over RVPN_HELLO_MAX bytes: silent close
 *   RVPN_HELLO_ERR_MALFORMED  not JSON, not exactly {"Hello":{...}}, a required field
 *                             (version, auth_method, ephemeral_key, identity_key) missing
 *                             or twice (serde refuses duplicates), a wrong type, an
 *                             unknown auth_method, nesting over RVPN_JSON_MAX_DEPTH, an
 *                             array over RVPN_HELLO_MAX_BYTES: silent close
 *   RVPN_HELLO_ERR_VERSION    well-formed, major != 1: Error code 1
 *   RVPN_HELLO_ERR_AUTH       well-formed, auth_method Noise or Token: Error code 2
 *   RVPN_HELLO_ERR_KEY        a key is not 32 bytes: silent close
 */
enum rvpn_hello_verdict {
	RVPN_HELLO_OK = 0,
	RVPN_HELLO_ERR_TOO_LARGE,
	RVPN_HELLO_ERR_MALFORMED,
	RVPN_HELLO_ERR_VERSION,
	RVPN_HELLO_ERR_AUTH,
	RVPN_HELLO_ERR_KEY,
	RVPN_HELLO_VERDICT_COUNT
};

/* A parsed Hello. Unknown members and session_token/connection_nonce are ignored. */
struct rvpn_hello {
	uint32_t       major, minor, patch;
	enum rvpn_auth auth;
	uint8_t        ephemeral_key[32];
	uint8_t        identity_key[32];
	uint8_t        ek_len, ik_len;
};

/* What the server sent: a ServerHello or an Error. */
enum rvpn_server_kind {
	RVPN_SERVER_HELLO = 0,
	RVPN_SERVER_ERROR
};

struct rvpn_server_msg {
	enum rvpn_server_kind kind;
	uint8_t  signed_prekey[32];
	uint8_t  prekey_signature[64];
	uint8_t  identity_key[32];   /* the server's Ed25519 public key */
	uint32_t code;               /* Error */
	uint8_t  message[RVPN_HELLO_ERROR_MAX];
	size_t   message_len;
};

/* Parses a Hello (untrusted, the whole message); see the verdict table. */
enum rvpn_hello_verdict rvpn_hello_parse(const uint8_t *buf, size_t len, struct rvpn_hello *h);

/* A short, stable, lowercase name of a verdict (metric label). */
const char *rvpn_hello_verdict_str(enum rvpn_hello_verdict v);

/* Writes the client's Hello (version 1.0.0, X3DH) exactly as the Rust client does. */
int rvpn_hello_emit(char *out, size_t cap, const uint8_t ek[32], const uint8_t ik[32]);

/* Writes a ServerHello (empty ephemeral_key). Returns its length, or -1 if cap is short. */
int rvpn_server_hello_emit(char *out, size_t cap, const uint8_t spk[32], const uint8_t sig[64],
    const uint8_t ed_pub[32]);

/* Writes {"Error":{"code":N,"message":"..."}} with the stock message for code. */
int rvpn_error_emit(char *out, size_t cap, uint32_t code);

/*
 * Parses the server's answer (client role, untrusted): 0 for a ServerHello with a 32-byte
 * SPK, 64-byte signature and 32-byte identity key (ephemeral_key any array up to 32
 * bytes, ignored), or an Error with a code and a string message; -1 otherwise.
 */
int rvpn_server_msg_parse(const uint8_t *buf, size_t len, struct rvpn_server_msg *m);

#endif
