/*
 * Types shared by the PROXY protocol v1 and v2 decoders and encoders (proxy_v1.h,
 * proxy_v2.h): the decoded connection endpoints and the version detector. Pure: this
 * module never touches a socket, never allocates and never logs. It must never guess
 * whether a PROXY header is expected: the listener's configuration decides that (spec §5);
 * proxy_detect only tells which version a trusted peer sent.
 */
#ifndef SY_PROTO_PROXY_H
#define SY_PROTO_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROXY_UNIX_PATH_LEN 108 /* v2 AF_UNIX address fields are exactly this long */
#define PROXY_V1_PREFIX     "PROXY " /* what every v1 line starts with */
#define PROXY_V1_PREFIX_LEN 6
#define PROXY_V2_SIG_LEN    12 /* \r\n\r\n\0\r\nQUIT\n */

/* The v2 signature; it holds a NUL, so it is compared by length, never as a string. */
extern const uint8_t proxy_v2_sig[PROXY_V2_SIG_LEN];

/* Address family of the proxied connection. */
enum proxy_family {
	PROXY_FAM_UNSPEC = 0, /* no address carried: use the real socket address */
	PROXY_FAM_INET,
	PROXY_FAM_INET6,
	PROXY_FAM_UNIX
};

/* Transport of the proxied connection; switchyard only relays STREAM. */
enum proxy_transport {
	PROXY_TRANS_UNSPEC = 0,
	PROXY_TRANS_STREAM,
	PROXY_TRANS_DGRAM
};

/*
 * Decoded endpoints. Binary addresses are in network byte order, ports in host order.
 * INET uses the first 4 bytes of src/dst, INET6 all 16; UNIX uses src_path/dst_path,
 * copied whole (108 bytes each, not necessarily NUL-terminated). Fields a family does
 * not use are zero.
 */
struct proxy_addr {
	enum proxy_family    family;
	enum proxy_transport transport;
	bool                 local;  /* v2 LOCAL or v1 UNKNOWN: use the real socket address */
	uint8_t              src[16];
	uint8_t              dst[16];
	uint16_t             sport;
	uint16_t             dport;
	uint8_t              src_path[PROXY_UNIX_PATH_LEN];
	uint8_t              dst_path[PROXY_UNIX_PATH_LEN];
};

/*
 * Verdicts of proxy_detect.
 *
 *   PROXY_DETECT_NONE  the bytes cannot start a PROXY header of either version
 *   PROXY_DETECT_MORE  every byte so far matches a prefix of "PROXY " or of the v2
 *                      signature; call again with more bytes
 *   PROXY_DETECT_V1    the buffer starts with "PROXY ": use proxy_v1_feed
 *   PROXY_DETECT_V2    the buffer starts with the 12-byte signature: use proxy_v2_parse
 */
enum proxy_detect {
	PROXY_DETECT_NONE = 0,
	PROXY_DETECT_MORE,
	PROXY_DETECT_V1,
	PROXY_DETECT_V2
};

/* Tells which PROXY version (if any) starts buf; examines at most 12 bytes. */
enum proxy_detect proxy_detect(const uint8_t *buf, size_t len);

/* A short, stable, lowercase name of a detect verdict ("none", "more", "v1", "v2"). */
const char *proxy_detect_str(enum proxy_detect d);

/* A short, stable, lowercase name of a family ("unspec", "inet", "inet6", "unix"). */
const char *proxy_family_str(enum proxy_family f);

/* True when a and b describe the same endpoints (only the fields their family uses). */
bool proxy_addr_equal(const struct proxy_addr *a, const struct proxy_addr *b);

#endif
