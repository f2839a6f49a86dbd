/*
 * The incoming PROXY protocol step shared by the router's connection kinds: a trusted peer
 * must start with a PROXY v1 or v2 header; this decides, over the pre-read buffer so far,
 * whether it is complete and valid and what client address it carries. It only wraps the
 * proto/ parsers: no I/O, no logging, no allocation; the caller counts and closes.
 */
#ifndef SY_ROUTER_PP_IN_H
#define SY_ROUTER_PP_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/proxy_v1.h"

/*
 * Results of pp_in_step.
 *
 *   PP_IN_MORE         valid so far: call again when the buffer has grown
 *   PP_IN_DONE         a header of *hdr_len bytes; *src / *dst set when *proxied
 *   PP_IN_MISSING      the bytes cannot start a PROXY header
 *   PP_IN_INVALID      a malformed v1 or v2 header
 *   PP_IN_UNSUPPORTED  a well-formed header for a transport we do not relay (DGRAM)
 */
enum pp_in_rc { PP_IN_MORE, PP_IN_DONE, PP_IN_MISSING, PP_IN_INVALID, PP_IN_UNSUPPORTED };

/* The step's state: the resumable v1 parser (v2 is re-parsed whole, it is bounded). */
struct pp_in {
	struct proxy_v1_parser v1;
};

/* Prepares p for a new connection. */
void pp_in_init(struct pp_in *p);

/*
 * Looks at buf[0, len), the whole pre-read buffer so far (untrusted; len never shrinks).
 * On DONE: *hdr_len is the header length; *proxied is true and *src / *dst hold the
 * client and the address it connected to when the header carries TCP over IPv4/IPv6,
 * false for LOCAL / UNKNOWN / UNSPEC / UNIX (keep the socket's addresses).
 */
enum pp_in_rc pp_in_step(struct pp_in *p, const uint8_t *buf, size_t len, size_t *hdr_len,
    struct sockaddr_storage *src, struct sockaddr_storage *dst, bool *proxied);

#endif
