/*
 * The mux ControlMessage (rvpn-protocol.md §7.4): bincode 1.x fixint little-endian of a
 * Rust enum, carried in mux flow 0. A u32 variant index, then the fields; String is a u64
 * length and UTF-8 bytes; Option<u16> a 0/1 tag and a u16. Both directions are encoded and
 * decoded (server and client roles). Strings are reported as views into the caller's
 * buffer. Pure: no allocation.
 */
#ifndef SY_PROTO_RVPN_CTL_H
#define SY_PROTO_RVPN_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RVPN_CTL_MAX_TARGET 255  /* CreateFlow target bytes: a name (253) or [IPv6] */
#define RVPN_CTL_MAX_ERROR  1024 /* FlowFailed error bytes */
#define RVPN_CTL_MAX_LEN    (4 + 4 + 8 + RVPN_CTL_MAX_ERROR) /* largest encoding */

enum rvpn_ctl_kind {
	RVPN_CTL_CREATE_FLOW = 0,  /* flow_id, target, port: C->S */
	RVPN_CTL_CLOSE_FLOW = 1,   /* flow_id: both ways */
	RVPN_CTL_FLOW_CREATED = 2, /* flow_id, local_port: S->C */
	RVPN_CTL_FLOW_FAILED = 3,  /* flow_id, error: S->C */
	RVPN_CTL_PING = 4,         /* timestamp ms: C->S */
	RVPN_CTL_PONG = 5,         /* timestamp echoed: S->C */
	RVPN_CTL_WINDOW_UPDATE = 6, /* flow_id, window_size (a credit delta): both ways */
	RVPN_CTL_KIND_COUNT
};

/* A control message; str_off/str_len view the target (CreateFlow) or error (FlowFailed). */
struct rvpn_ctl {
	enum rvpn_ctl_kind kind;
	uint32_t flow_id;
	uint16_t port;           /* CreateFlow */
	bool     has_local_port; /* FlowCreated */
	uint16_t local_port;
	uint64_t timestamp;      /* Ping, Pong */
	uint32_t window;         /* WindowUpdate */
	size_t   str_off, str_len;
};

/*
 * Verdicts of rvpn_ctl_decode (one whole frame payload):
 *
 *   RVPN_CTL_OK            one message, exactly len bytes
 *   RVPN_CTL_ERR_SHORT     the payload ends inside a field
 *   RVPN_CTL_ERR_VARIANT   variant index over 6
 *   RVPN_CTL_ERR_OPTION    the Option tag of local_port is neither 0 nor 1
 *   RVPN_CTL_ERR_STRING    a string over its limit, not UTF-8, or a CreateFlow target that
 *                          is empty or holds a byte outside printable ASCII (0x21-0x7e)
 *   RVPN_CTL_ERR_TRAILING  bytes after the message
 */
enum rvpn_ctl_verdict {
	RVPN_CTL_OK = 0,
	RVPN_CTL_ERR_SHORT,
	RVPN_CTL_ERR_VARIANT,
	RVPN_CTL_ERR_OPTION,
	RVPN_CTL_ERR_STRING,
	RVPN_CTL_ERR_TRAILING,
	RVPN_CTL_VERDICT_COUNT
};

/* Decodes a control payload (untrusted); see the verdict table. */
enum rvpn_ctl_verdict rvpn_ctl_decode(const uint8_t *buf, size_t len, struct rvpn_ctl *c);

/* A short, stable, lowercase name of a verdict. */
const char *rvpn_ctl_verdict_str(enum rvpn_ctl_verdict v);

/*
 * Encodes c; str/str_len give the target or error (ignored by other kinds). Returns the
 * length, or -1 when cap is short, the kind is unknown or the string breaks its limit.
 */
int rvpn_ctl_encode(uint8_t *out, size_t cap, const struct rvpn_ctl *c, const uint8_t *str,
    size_t str_len);

#endif
