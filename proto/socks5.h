/*
 * SOCKS version 5 (RFC 1928), the server side switchyard-client offers to local apps: a
 * parser for the client's method greeting, a parser for its request, the reply encoder,
 * and the reply code that fits a failed VPN flow. CONNECT without authentication is all we
 * serve; the parsers still read every request form whole so the reply is precise. Pure:
 * no sockets, no allocation, no logging. Both parsers take the WHOLE buffer so far (it may
 * move, it never shrinks) and give the same verdict however the bytes were split.
 */
#ifndef SY_PROTO_SOCKS5_H
#define SY_PROTO_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOCKS5_VERSION      0x05
#define SOCKS5_GREET_MAX    (2 + 255)         /* VER NMETHODS METHODS[255] */
#define SOCKS5_REQ_MAX      (4 + 1 + 255 + 2) /* VER CMD RSV ATYP, len, name, port */
#define SOCKS5_REPLY_LEN    10                /* with an IPv4 BND.ADDR */
#define SOCKS5_HOST_MAX     255               /* a DOMAINNAME's length octet */

/* Methods (RFC 1928 §3). */
#define SOCKS5_METHOD_NONE  0x00 /* NO AUTHENTICATION REQUIRED */
#define SOCKS5_METHOD_NOPE  0xff /* NO ACCEPTABLE METHODS */

/* Commands and address types (§4). */
#define SOCKS5_CMD_CONNECT  0x01
#define SOCKS5_ATYP_IPV4    0x01
#define SOCKS5_ATYP_DOMAIN  0x03
#define SOCKS5_ATYP_IPV6    0x04

/* Reply codes (§6). */
enum socks5_rep {
	SOCKS5_REP_OK = 0x00,
	SOCKS5_REP_GENERAL = 0x01,
	SOCKS5_REP_NOT_ALLOWED = 0x02,
	SOCKS5_REP_NET_UNREACH = 0x03,
	SOCKS5_REP_HOST_UNREACH = 0x04,
	SOCKS5_REP_REFUSED = 0x05,
	SOCKS5_REP_TTL = 0x06,
	SOCKS5_REP_COMMAND = 0x07,
	SOCKS5_REP_ATYP = 0x08
};

/*
 * Verdicts of both parsers:
 *
 *   verdict              when                                            we answer
 *   SOCKS5_DONE          greeting: VER, NMETHODS >= 1 and that many      05 00, or 05 FF and
 *                        methods (no_auth says whether 00 was offered)   close without 00
 *                        request: a CONNECT whose address is whole       after the flow
 *   SOCKS5_MORE          a prefix of a valid message
 *   SOCKS5_ERR_VERSION   VER is not 5 (§3, §4: only version 5 here)      close, no reply
 *   SOCKS5_ERR_METHODS   NMETHODS is 0 (§3: 1 to 255)                    05 FF, close
 *   SOCKS5_ERR_COMMAND   CMD is BIND, UDP ASSOCIATE or unknown: known    reply 07, close
 *                        as soon as the CMD byte arrives
 *   SOCKS5_ERR_RESERVED  RSV is not 0 (§4 "X'00'")                       reply 01, close
 *   SOCKS5_ERR_ATYP      ATYP is not 1, 3 or 4                           reply 08, close
 *   SOCKS5_ERR_HOST      a DOMAINNAME of length 0, or with a byte        reply 01, close
 *                        outside printable ASCII 0x21-0x7e (the VPN's
 *                        CreateFlow target refuses those)
 * Errors are sticky; nothing past the message is read (pipelined data stays the caller's).
 */
enum socks5_verdict {
	SOCKS5_DONE = 0,
	SOCKS5_MORE,
	SOCKS5_ERR_VERSION,
	SOCKS5_ERR_METHODS,
	SOCKS5_ERR_COMMAND,
	SOCKS5_ERR_RESERVED,
	SOCKS5_ERR_ATYP,
	SOCKS5_ERR_HOST,
	SOCKS5_VERDICT_COUNT
};

/* The method greeting. Results valid on DONE. */
struct socks5_greet {
	enum socks5_verdict verdict;
	uint16_t            len;     /* on DONE: bytes of the greeting */
	bool                no_auth; /* method 00 offered */
};

/* The request. Results valid on DONE (cmd as soon as it is read). */
struct socks5_req {
	enum socks5_verdict verdict;
	uint16_t            len;      /* on DONE: bytes of the request */
	uint8_t             cmd;
	uint8_t             atyp;
	uint8_t             addr[16]; /* IPv4 (4 bytes) or IPv6 (16), network order */
	uint16_t            host_off; /* DOMAINNAME: buf[host_off .. +host_len) */
	uint8_t             host_len;
	uint16_t            port;
};

/* Prepares g for a greeting. */
void socks5_greet_init(struct socks5_greet *g);
/* Parses buf[0, len), the whole greeting so far (untrusted); see the verdict table. */
enum socks5_verdict socks5_greet_feed(struct socks5_greet *g, const uint8_t *buf, size_t len);

/* Prepares r for a request. */
void socks5_req_init(struct socks5_req *r);
/* Parses buf[0, len), the whole request so far (untrusted); see the verdict table. */
enum socks5_verdict socks5_req_feed(struct socks5_req *r, const uint8_t *buf, size_t len);

/* A short, stable, lowercase id of a verdict. */
const char *socks5_verdict_str(enum socks5_verdict v);
/* The reply code an error verdict is answered with; -1 for one answered by closing only. */
int socks5_verdict_rep(enum socks5_verdict v);

/* Writes the reply VER REP RSV ATYP=1 BND 0.0.0.0:0 (SOCKS5_REPLY_LEN bytes). */
void socks5_reply(uint8_t out[SOCKS5_REPLY_LEN], enum socks5_rep rep);

/*
 * The reply code for a VPN FlowFailed error string (untrusted, len bytes): "denied" or
 * "not allowed" -> 02; "refused" or a failed connect -> 05; a failed or timed out lookup,
 * "unreachable" -> 04; anything else -> 01. Case-insensitive substrings, so the stock
 * server's wordings fit too.
 */
enum socks5_rep socks5_rep_for_error(const uint8_t *err, size_t len);

#endif
