/*
 * Handshake JSON of rvpn_hello.h. The Hello is read in any member order, unknown members
 * are skipped (bounded by the JSON reader's depth limit), duplicates of a member we read
 * are refused as serde does, and the verdict is decided in the reference's order:
 * well-formed first, then version, then auth method, then key lengths. The emitters write
 * the exact bytes serde_json produces (no spaces, Rust field order), checked against
 * rvpn-vectors.json. Key bytes copied out of the message are public keys: no wiping needed.
 *
 *   {"Hello":{"version":{"major":1,"minor":0,"patch":0},"auth_method":"X3DH",
 *             "ephemeral_key":[32 ints],"identity_key":[32 ints],
 *             "session_token":null,"connection_nonce":null}}
 *   {"ServerHello":{"ephemeral_key":[],"signed_prekey":[32 ints],
 *                   "prekey_signature":[64 ints],"identity_key":[32 ints]}}
 *   {"Error":{"code":1,"message":"Protocol version mismatch"}}
 */
#include "proto/rvpn/rvpn_hello.h"

#include <string.h>

#include "proto/rvpn/rvpn_json.h"


/* Marks bit in *seen; false when it was already set (a duplicate member). */
static bool
seen_once(unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return false;
	*seen |= bit;
	return true;
}

/* Reads {"major":u32,"minor":u32,"patch":u32} in any order. */
static int
hello_version(struct rvpn_json *j, struct rvpn_hello *h)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	bool first = true;
	unsigned seen = 0;
	size_t klen;
	uint64_t v;
	int r;

	if (rvpn_json_obj_begin(j) != 0)
		return -1;
	while ((r = rvpn_json_obj_next(j, &first, key, &klen)) == 1) {
		uint32_t *dst = NULL;
		unsigned bit = 0;
		if (rvpn_json_key_is(key, klen, "major")) {
			dst = &h->major;
			bit = 1;
		} else if (rvpn_json_key_is(key, klen, "minor")) {
			dst = &h->minor;
			bit = 2;
		} else if (rvpn_json_key_is(key, klen, "patch")) {
			dst = &h->patch;
			bit = 4;
		}
		if (dst == NULL) {
			if (rvpn_json_skip(j) != 0)
				return -1;
			continue;
		}
		if (!seen_once(&seen, bit) || rvpn_json_uint(j, UINT32_MAX, &v) != 0)
			return -1;
		*dst = (uint32_t)v;
	}
	return r == 0 && seen == 7 ? 0 : -1;
}

/* Reads the auth_method string: one of the three enum names. */
static int
hello_auth(struct rvpn_json *j, enum rvpn_auth *a)
{
	uint8_t s[8];
	size_t n;

	if (rvpn_json_string(j, s, sizeof s, &n) != 0)
		return -1;
	if (n == 4 && memcmp(s, "X3DH", 4) == 0)
		*a = RVPN_AUTH_X3DH;
	else if (n == 5 && memcmp(s, "Noise", 5) == 0)
		*a = RVPN_AUTH_NOISE;
	else if (n == 5 && memcmp(s, "Token", 5) == 0)
		*a = RVPN_AUTH_TOKEN;
	else
		return -1;
	return 0;
}

/* Reads a key array of up to RVPN_HELLO_MAX_BYTES; keeps it when it is 32 bytes. */
static int
hello_key(struct rvpn_json *j, uint8_t out[32], uint8_t *len)
{
	uint8_t tmp[RVPN_HELLO_MAX_BYTES];
	size_t n;

	if (rvpn_json_bytes(j, tmp, sizeof tmp, &n) != 0)
		return -1;
	if (n == 32)
		memcpy(out, tmp, 32);
	*len = (uint8_t)n;
	return 0;
}

/* An Option<bytes> we ignore: null or a byte array. */
static int
hello_ignored(struct rvpn_json *j)
{
	uint8_t tmp[RVPN_HELLO_MAX_BYTES];
	size_t n;

	if (rvpn_json_null(j) == 1)
		return 0;
	return rvpn_json_bytes(j, tmp, sizeof tmp, &n);
}

enum {
	HF_VERSION = 1, HF_AUTH = 2, HF_EK = 4, HF_IK = 8, HF_TOKEN = 16, HF_NONCE = 32,
	HF_REQUIRED = HF_VERSION | HF_AUTH | HF_EK | HF_IK
};

/* Reads the Hello body object. */
static int
hello_body(struct rvpn_json *j, struct rvpn_hello *h)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	bool first = true;
	unsigned seen = 0;
	size_t klen;
	int r, rc;

	if (rvpn_json_obj_begin(j) != 0)
		return -1;
	while ((r = rvpn_json_obj_next(j, &first, key, &klen)) == 1) {
		if (rvpn_json_key_is(key, klen, "version"))
			rc = seen_once(&seen, HF_VERSION) ? hello_version(j, h) : -1;
		else if (rvpn_json_key_is(key, klen, "auth_method"))
			rc = seen_once(&seen, HF_AUTH) ? hello_auth(j, &h->auth) : -1;
		else if (rvpn_json_key_is(key, klen, "ephemeral_key"))
			rc = seen_once(&seen, HF_EK) ? hello_key(j, h->ephemeral_key, &h->ek_len) : -1;
		else if (rvpn_json_key_is(key, klen, "identity_key"))
			rc = seen_once(&seen, HF_IK) ? hello_key(j, h->identity_key, &h->ik_len) : -1;
		else if (rvpn_json_key_is(key, klen, "session_token"))
			rc = seen_once(&seen, HF_TOKEN) ? hello_ignored(j) : -1;
		else if (rvpn_json_key_is(key, klen, "connection_nonce"))
			rc = seen_once(&seen, HF_NONCE) ? hello_ignored(j) : -1;
		else
			rc = rvpn_json_skip(j);
		if (rc != 0)
			return -1;
	}
	return r == 0 && (seen & HF_REQUIRED) == HF_REQUIRED ? 0 : -1;
}

/* Opens {"<tag>": and reports the tag; the caller reads the body and calls tag_close. */
static int
tag_open(struct rvpn_json *j, char key[RVPN_JSON_MAX_KEY + 1], size_t *klen)
{
	bool first = true;

	if (rvpn_json_obj_begin(j) != 0)
		return -1;
	return rvpn_json_obj_next(j, &first, key, klen) == 1 ? 0 : -1;
}

/* Closes the one-member tag object and checks nothing follows. */
static int
tag_close(struct rvpn_json *j)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	bool first = true;
	size_t klen;

	/* Exactly one member: the next token must be '}' (first = true: no ',' allowed). */
	if (rvpn_json_obj_next(j, &first, key, &klen) != 0)
		return -1;
	return rvpn_json_end(j);
}

/* See rvpn_hello.h. */
enum rvpn_hello_verdict
rvpn_hello_parse(const uint8_t *buf, size_t len, struct rvpn_hello *h)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	struct rvpn_json j;
	size_t klen;

	memset(h, 0, sizeof *h);
	if (len > RVPN_HELLO_MAX)
		return RVPN_HELLO_ERR_TOO_LARGE;
	rvpn_json_init(&j, buf, len);
	if (tag_open(&j, key, &klen) != 0 || !rvpn_json_key_is(key, klen, "Hello") ||
	    hello_body(&j, h) != 0 || tag_close(&j) != 0)
		return RVPN_HELLO_ERR_MALFORMED;
	if (h->major != 1)
		return RVPN_HELLO_ERR_VERSION;
	if (h->auth != RVPN_AUTH_X3DH)
		return RVPN_HELLO_ERR_AUTH;
	if (h->ek_len != 32 || h->ik_len != 32)
		return RVPN_HELLO_ERR_KEY;
	return RVPN_HELLO_OK;
}

/* See rvpn_hello.h. */
const char *
rvpn_hello_verdict_str(enum rvpn_hello_verdict v)
{
	static const char *const names[RVPN_HELLO_VERDICT_COUNT] = {
		[RVPN_HELLO_OK] = "ok",
		[RVPN_HELLO_ERR_TOO_LARGE] = "too_large",
		[RVPN_HELLO_ERR_MALFORMED] = "bad_hello",
		[RVPN_HELLO_ERR_VERSION] = "version",
		[RVPN_HELLO_ERR_AUTH] = "auth",
		[RVPN_HELLO_ERR_KEY] = "bad_key",
	};
	return (unsigned)v < RVPN_HELLO_VERDICT_COUNT ? names[v] : "unknown";
}

/* See rvpn_hello.h. */
int
rvpn_hello_emit(char *out, size_t cap, const uint8_t ek[32], const uint8_t ik[32])
{
	struct rvpn_jw w;

	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, "{\"Hello\":{\"version\":{\"major\":1,\"minor\":0,\"patch\":0},"
	    "\"auth_method\":\"X3DH\",\"ephemeral_key\":");
	rvpn_jw_bytes(&w, ek, 32);
	rvpn_jw_lit(&w, ",\"identity_key\":");
	rvpn_jw_bytes(&w, ik, 32);
	rvpn_jw_lit(&w, ",\"session_token\":null,\"connection_nonce\":null}}");
	return rvpn_jw_done(&w);
}

/* See rvpn_hello.h. */
int
rvpn_server_hello_emit(char *out, size_t cap, const uint8_t spk[32], const uint8_t sig[64],
    const uint8_t ed_pub[32])
{
	struct rvpn_jw w;

	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, "{\"ServerHello\":{\"ephemeral_key\":[],\"signed_prekey\":");
	rvpn_jw_bytes(&w, spk, 32);
	rvpn_jw_lit(&w, ",\"prekey_signature\":");
	rvpn_jw_bytes(&w, sig, 64);
	rvpn_jw_lit(&w, ",\"identity_key\":");
	rvpn_jw_bytes(&w, ed_pub, 32);
	rvpn_jw_lit(&w, "}}");
	return rvpn_jw_done(&w);
}

/* The stock text of an error code. */
static const char *
error_text(uint32_t code)
{
	switch (code) {
	case RVPN_ERROR_VERSION:
		return "Protocol version mismatch";
	case RVPN_ERROR_AUTH:
		return "Unsupported authentication method";
	case RVPN_ERROR_NO_KEY:
		return "Server identity key not loaded";
	default:
		return "Error";
	}
}

/* See rvpn_hello.h. */
int
rvpn_error_emit(char *out, size_t cap, uint32_t code)
{
	const char *t = error_text(code);
	struct rvpn_jw w;

	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, "{\"Error\":{\"code\":");
	rvpn_jw_uint(&w, code);
	rvpn_jw_lit(&w, ",\"message\":");
	rvpn_jw_str(&w, (const uint8_t *)t, strlen(t));
	rvpn_jw_lit(&w, "}}");
	return rvpn_jw_done(&w);
}

/* Reads an exact-length byte array into out. */
static int
exact_bytes(struct rvpn_json *j, uint8_t *out, size_t want)
{
	uint8_t tmp[RVPN_HELLO_MAX_BYTES];
	size_t n;

	if (rvpn_json_bytes(j, tmp, sizeof tmp, &n) != 0 || n != want)
		return -1;
	memcpy(out, tmp, n);
	return 0;
}

/* Reads the ServerHello body: all four members required. */
static int
server_hello_body(struct rvpn_json *j, struct rvpn_server_msg *m)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	uint8_t tmp[32];
	bool first = true;
	unsigned seen = 0;
	size_t klen, n;
	int r, rc;

	if (rvpn_json_obj_begin(j) != 0)
		return -1;
	while ((r = rvpn_json_obj_next(j, &first, key, &klen)) == 1) {
		if (rvpn_json_key_is(key, klen, "ephemeral_key"))
			rc = seen_once(&seen, 1) ? rvpn_json_bytes(j, tmp, sizeof tmp, &n) : -1;
		else if (rvpn_json_key_is(key, klen, "signed_prekey"))
			rc = seen_once(&seen, 2) ? exact_bytes(j, m->signed_prekey, 32) : -1;
		else if (rvpn_json_key_is(key, klen, "prekey_signature"))
			rc = seen_once(&seen, 4) ? exact_bytes(j, m->prekey_signature, 64) : -1;
		else if (rvpn_json_key_is(key, klen, "identity_key"))
			rc = seen_once(&seen, 8) ? exact_bytes(j, m->identity_key, 32) : -1;
		else
			rc = rvpn_json_skip(j);
		if (rc != 0)
			return -1;
	}
	return r == 0 && seen == 15 ? 0 : -1;
}

/* Reads the Error body: code and message required. */
static int
error_body(struct rvpn_json *j, struct rvpn_server_msg *m)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	bool first = true;
	unsigned seen = 0;
	size_t klen;
	uint64_t v;
	int r, rc;

	if (rvpn_json_obj_begin(j) != 0)
		return -1;
	while ((r = rvpn_json_obj_next(j, &first, key, &klen)) == 1) {
		if (rvpn_json_key_is(key, klen, "code")) {
			rc = seen_once(&seen, 1) ? rvpn_json_uint(j, UINT32_MAX, &v) : -1;
			m->code = (uint32_t)v;
		} else if (rvpn_json_key_is(key, klen, "message")) {
			rc = seen_once(&seen, 2) ? rvpn_json_string(j, m->message,
			    sizeof m->message, &m->message_len) : -1;
		} else {
			rc = rvpn_json_skip(j);
		}
		if (rc != 0)
			return -1;
	}
	return r == 0 && seen == 3 ? 0 : -1;
}

/* See rvpn_hello.h. */
int
rvpn_server_msg_parse(const uint8_t *buf, size_t len, struct rvpn_server_msg *m)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	struct rvpn_json j;
	size_t klen;
	int rc;

	memset(m, 0, sizeof *m);
	if (len > RVPN_HELLO_MAX)
		return -1;
	rvpn_json_init(&j, buf, len);
	if (tag_open(&j, key, &klen) != 0)
		return -1;
	if (rvpn_json_key_is(key, klen, "ServerHello")) {
		m->kind = RVPN_SERVER_HELLO;
		rc = server_hello_body(&j, m);
	} else if (rvpn_json_key_is(key, klen, "Error")) {
		m->kind = RVPN_SERVER_ERROR;
		rc = error_body(&j, m);
	} else {
		rc = -1;
	}
	if (rc != 0 || tag_close(&j) != 0)
		return -1;
	return 0;
}
