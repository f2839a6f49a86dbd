/*
 * A small, bounded JSON reader and writer for the fixed schemas of the r-vpn handshake,
 * DNS and key files (rvpn-protocol.md §4.2, §5.1, §7.5, §7.6). Not a general JSON
 * library: the reader is a cursor over one whole message (the handshake arrives in one
 * WebSocket message, so no resumable state is needed) that the schema parsers drive
 * field by field; it never allocates, never reads past len, and refuses nesting deeper
 * than RVPN_JSON_MAX_DEPTH. The writer appends to a caller buffer and remembers overflow.
 *
 * Reader functions return 0 on success and -1 on malformed or over-limit input; the
 * iteration helpers return 1 (an element follows), 0 (the container ended) or -1.
 */
#ifndef SY_PROTO_RVPN_JSON_H
#define SY_PROTO_RVPN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RVPN_JSON_MAX_DEPTH 8   /* objects/arrays open at once; the schemas need 3 */
#define RVPN_JSON_MAX_KEY   32  /* longer keys are read whole and treated as unknown */

/* A read cursor over p[0 .. len). */
struct rvpn_json {
	const uint8_t *p;
	size_t         len;
	size_t         off;
	unsigned       depth;
};

/* A writer over out[0 .. cap); len counts what would have been written. */
struct rvpn_jw {
	char  *out;
	size_t cap;
	size_t len;
};

/* Starts reading buf[0 .. len). */
void rvpn_json_init(struct rvpn_json *j, const uint8_t *buf, size_t len);
/* Consumes '{'. */
int rvpn_json_obj_begin(struct rvpn_json *j);
/* True when a key read by rvpn_json_obj_next (full length klen) is exactly name. */
bool rvpn_json_key_is(const char *key, size_t klen, const char *name);

/*
 * Next member of the object: 1 with the decoded key in key (NUL-terminated, *klen its full
 * length, which may exceed RVPN_JSON_MAX_KEY: then key holds a prefix) and ':' consumed;
 * 0 when '}' was consumed; -1 on error. *first is the caller's per-object flag, true at
 * the start.
 */
int rvpn_json_obj_next(struct rvpn_json *j, bool *first, char key[RVPN_JSON_MAX_KEY + 1],
    size_t *klen);
/* Consumes '['. */
int rvpn_json_arr_begin(struct rvpn_json *j);
/* Next element of the array: 1 when one follows, 0 when ']' was consumed, -1 on error. */
int rvpn_json_arr_next(struct rvpn_json *j, bool *first);
/*
 * A string: decodes escapes into buf (up to cap bytes, not terminated) and sets *len to
 * the full decoded length. Returns -1 when the string is malformed, holds a control byte
 * or invalid UTF-8, or is longer than cap.
 */
int rvpn_json_string(struct rvpn_json *j, uint8_t *buf, size_t cap, size_t *len);
/* An unsigned integer literal of at most max (no sign, fraction or exponent). */
int rvpn_json_uint(struct rvpn_json *j, uint64_t max, uint64_t *v);
/* true or false. */
int rvpn_json_bool(struct rvpn_json *j, bool *v);
/* Returns 1 and consumes null when the next value is null, 0 when it is something else. */
int rvpn_json_null(struct rvpn_json *j);
/* An array of integers 0..255 (serde_bytes): at most cap of them into out, count in *n. */
int rvpn_json_bytes(struct rvpn_json *j, uint8_t *out, size_t cap, size_t *n);
/* Skips any one value (unknown members), within the depth limit. */
int rvpn_json_skip(struct rvpn_json *j);
/* Succeeds when only whitespace remains. */
int rvpn_json_end(struct rvpn_json *j);

/* True when p[0 .. len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool rvpn_utf8_valid(const uint8_t *p, size_t len);

/* Starts writing into out[0 .. cap). */
void rvpn_jw_init(struct rvpn_jw *w, char *out, size_t cap);
/* Appends raw text of n bytes. */
void rvpn_jw_raw(struct rvpn_jw *w, const char *s, size_t n);
/* Appends a NUL-terminated literal. */
void rvpn_jw_lit(struct rvpn_jw *w, const char *s);
/* Appends an unsigned decimal. */
void rvpn_jw_uint(struct rvpn_jw *w, uint64_t v);
/* Appends bytes as a JSON array of integers, serde_bytes style: [1,2,3]. */
void rvpn_jw_bytes(struct rvpn_jw *w, const uint8_t *p, size_t n);
/* Appends a quoted string with serde_json's escapes (\" \\ \n \r \t \b \f, \u00XX). */
void rvpn_jw_str(struct rvpn_jw *w, const uint8_t *s, size_t n);
/* Finishes: NUL-terminates and returns the length, or -1 when it did not fit in cap - 1. */
int rvpn_jw_done(struct rvpn_jw *w);

#endif
