/*
 * WebSocket (RFC 6455) framing for the VPN engine: a resumable frame decoder for either
 * role, an encoder for the frames we send (unfragmented, at most WS_OUT_MAX payload bytes),
 * and the opening-handshake key helpers (Sec-WebSocket-Key check, Sec-WebSocket-Accept).
 * Pure: no sockets, no allocation, no logging, no globals. The decoder unmasks payload in
 * place in the caller's buffer and hands it back as a view, so data bytes are never copied;
 * only control-frame payloads (at most 125 bytes) are gathered into the decoder's own
 * buffer. It never reads past the bytes it is given, and bytes after a Close frame are left
 * untouched. SHA-1 and base64 come from OpenSSL's libcrypto (DESIGN.md §2).
 */
#ifndef SY_PROTO_WS_H
#define SY_PROTO_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_HDR_MIN      2     /* FIN|RSV|opcode, MASK|len7 */
#define WS_HDR_MAX      14    /* 2 + 8 (64-bit length) + 4 (masking key) */
#define WS_CONTROL_MAX  125   /* control frame payload (§5.5) */
#define WS_CLOSE_REASON_MAX (WS_CONTROL_MAX - 2) /* after the 2-byte status code */

/*
 * Largest message (all fragments' payload together) the decoder accepts by default. The
 * largest message a stock r-vpn client sends is a padded RatchetMessage: padding caps the
 * plaintext at 16384 bytes (rvpn-protocol.md §7.2; the iOS batcher pads without the cap but
 * its batches stay under 15 KiB), and a RatchetMessage adds 62 header bytes and a 16-byte
 * tag (§6.4: 1024 padded bytes give the 1102-byte vector message). The Hello and the DNS
 * queries are far smaller. So 16384 + 78 = 16462 refuses no honest client and nothing more.
 */
#define WS_RVPN_PADDED_MAX 16384
#define WS_RVPN_OVERHEAD   (62 + 16)
#define WS_MSG_MAX         (WS_RVPN_PADDED_MAX + WS_RVPN_OVERHEAD)

/* Largest payload of a frame we send: the mobile clients' read buffer (rvpn §3.3). */
#define WS_OUT_MAX 16384

#define WS_KEY_LEN    24 /* base64 of the 16-byte Sec-WebSocket-Key nonce */
#define WS_NONCE_LEN  16
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/* Opcodes (§5.2, §11.8). */
enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA
};

/* Close status codes we use (§7.4.1). */
#define WS_CLOSE_NORMAL      1000
#define WS_CLOSE_GOING_AWAY  1001
#define WS_CLOSE_PROTOCOL    1002
#define WS_CLOSE_NO_STATUS   1005 /* reported for an empty Close; never on the wire */
#define WS_CLOSE_BAD_DATA    1007
#define WS_CLOSE_POLICY      1008
#define WS_CLOSE_TOO_BIG     1009
#define WS_CLOSE_INTERNAL    1011

/* Which side we are: the server decodes masked frames, the client unmasked ones. */
enum ws_role {
	WS_ROLE_SERVER = 0,
	WS_ROLE_CLIENT
};

/*
 * Verdicts of ws_dec_feed. The first five come with an event in *ev; the errors are final
 * (later calls return them again and use no byte). The reply column is what
 * ws_verdict_close_code gives for the Close we send back.
 *
 *   verdict                 when                                              reply
 *   WS_MORE                 every byte given was used, nothing to report
 *   WS_DATA                 ev->data/len: payload bytes of the current data
 *                           message (ev->opcode TEXT or BINARY), unmasked in
 *                           place in buf; ev->fin: they end the message (an
 *                           empty final frame gives len 0, fin true)
 *   WS_PING, WS_PONG        a whole ping/pong; ev->data/len its payload in the
 *                           decoder's buffer (valid until the next call)
 *   WS_CLOSE                a whole Close: ev->close_code (WS_CLOSE_NO_STATUS
 *                           when empty), ev->data/len the UTF-8 reason. Any
 *                           byte after it is WS_ERR_AFTER_CLOSE
 *   WS_ERR_RSV              RSV1-3 set: no extension is ever negotiated        1002
 *                           (§5.2 "MUST _Fail_")
 *   WS_ERR_OPCODE           a reserved opcode 3-7 or B-F (§5.2 MUST fail)      1002
 *   WS_ERR_MASK             server role: an unmasked frame (§5.1 "MUST close") 1002
 *                           client role: a masked frame (§5.1 MUST close)
 *   WS_ERR_LENGTH           a 64-bit length with its MSB set (§5.2 "MUST be    1002
 *                           0"), or a length not in its minimal form (§5.2
 *                           "the minimal number of bytes MUST be used"; every
 *                           stock encoder is minimal, and one encoding per
 *                           length leaves no ambiguity to exploit)
 *   WS_ERR_CONTROL_LEN      a control frame over 125 bytes (§5.5 MUST)         1002
 *   WS_ERR_CONTROL_FRAG     a control frame without FIN (§5.5 "MUST NOT be     1002
 *                           fragmented")
 *   WS_ERR_FRAGMENT         a continuation with no message open, or a new      1002
 *                           Text/Binary inside a fragmented message (§5.4)
 *   WS_ERR_TOO_BIG          the message's payload would pass the decoder's     1009
 *                           msg_max (checked on each frame's length, before
 *                           its payload arrives)
 *   WS_ERR_CLOSE            a 1-byte Close payload (§5.5.1: a body starts      1002
 *                           with a 2-byte code) or a status code an endpoint
 *                           may not send (§7.4: < 1000, 1004-1006, 1015,
 *                           1016-2999 unassigned, >= 5000; 1012-1014 are
 *                           assigned by IANA and accepted)
 *   WS_ERR_UTF8             a Text message or a Close reason that is not       1007
 *                           UTF-8 (§5.6, §8.1 "MUST _Fail_"). Text messages
 *                           are validated as they stream; the valid bytes
 *                           before the bad one are still given as WS_DATA
 *   WS_ERR_AFTER_CLOSE      a byte after the peer's Close (§5.5.1: the Close   1002
 *                           is the last frame an endpoint sends)
 *
 * Text messages: validated, not refused. The VPN carries Binary only (rvpn §3.3) and the
 * engine closes on a Text message; the codec stays a faithful RFC 6455 decoder so the VPN
 * client and tests can reuse it. No extension and no subprotocol is ever negotiated.
 */
enum ws_verdict {
	WS_MORE = 0,
	WS_DATA,
	WS_PING,
	WS_PONG,
	WS_CLOSE,
	WS_ERR_RSV,
	WS_ERR_OPCODE,
	WS_ERR_MASK,
	WS_ERR_LENGTH,
	WS_ERR_CONTROL_LEN,
	WS_ERR_CONTROL_FRAG,
	WS_ERR_FRAGMENT,
	WS_ERR_TOO_BIG,
	WS_ERR_CLOSE,
	WS_ERR_UTF8,
	WS_ERR_AFTER_CLOSE,
	WS_VERDICT_COUNT
};

/* True for the error verdicts. */
static inline bool
ws_verdict_is_err(enum ws_verdict v)
{
	return v >= WS_ERR_RSV;
}

/* What a WS_DATA / WS_PING / WS_PONG / WS_CLOSE verdict reports. */
struct ws_event {
	enum ws_opcode opcode;     /* TEXT/BINARY (the message's) for DATA; PING/PONG/CLOSE */
	uint8_t       *data;       /* payload view; NULL when len is 0 */
	size_t         len;
	bool           fin;        /* DATA: these bytes end the message */
	uint16_t       close_code; /* CLOSE only */
};

/* Decoder state; callers read none of it. Valid once ws_dec_init has run. */
struct ws_dec {
	uint8_t         role;       /* enum ws_role */
	uint8_t         st;         /* private enum in ws.c */
	enum ws_verdict verdict;    /* sticky error, WS_MORE while fine */
	enum ws_verdict pending;    /* error to report on the next call (after a WS_DATA) */
	size_t          msg_max;
	uint8_t         hdr[WS_HDR_MAX];
	uint8_t         hdr_len;    /* header bytes gathered */
	uint8_t         hdr_need;   /* header bytes this frame has (known after byte 1) */
	uint8_t         opcode;     /* of the current frame */
	bool            fin;
	bool            masked;
	uint8_t         key[4];
	uint64_t        left;       /* payload bytes still to come in the current frame */
	uint64_t        pos;        /* payload bytes seen of the current frame (mask phase) */
	uint8_t         msg_op;     /* TEXT/BINARY of the data message open, 0 when none */
	size_t          msg_len;    /* payload announced so far for the open message */
	uint32_t        utf8;       /* streaming UTF-8 state of the open Text message */
	uint8_t         ctl_len;
	uint8_t         ctl[WS_CONTROL_MAX];
};

/* Prepares d to decode the frames a peer sends to role; messages over msg_max bytes
 * (WS_MSG_MAX for the VPN) are refused. */
void ws_dec_init(struct ws_dec *d, enum ws_role role, size_t msg_max);

/*
 * Decodes len untrusted bytes that follow what was fed before. Returns one verdict (see
 * the table) and in *used how many bytes of buf it took; on an error *used is where the
 * decoder stopped. Masked payload bytes are unmasked in place in buf (header bytes are
 * left alone). Call again with the rest (buf + *used; possibly 0 bytes) until WS_MORE or
 * an error: a verdict can be due even when every byte was used. Events and the error do
 * not depend on how the bytes were split across calls (only how data is cut into WS_DATA
 * pieces does).
 */
enum ws_verdict ws_dec_feed(struct ws_dec *d, uint8_t *buf, size_t len, size_t *used,
    struct ws_event *ev);

/* A short, stable, lowercase id of a verdict for logs and metric labels. */
const char *ws_verdict_str(enum ws_verdict v);

/* The status code of the Close to send after an error verdict (1002, 1007 or 1009). */
uint16_t ws_verdict_close_code(enum ws_verdict v);

/* True for a status code an endpoint may put in a Close frame (§7.4; see WS_ERR_CLOSE). */
bool ws_close_code_valid(uint16_t code);

/* True when buf[0 .. len) is complete, well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool ws_utf8_valid(const uint8_t *buf, size_t len);

/* XORs buf[0 .. len) with key, the first byte being payload byte pos of its frame (§5.3).
 * Masking and unmasking are the same operation. */
void ws_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t pos);

/*
 * Writes the header of one unfragmented frame (FIN set) into out: opcode BINARY with at
 * most WS_OUT_MAX payload bytes, or PING/PONG/CLOSE with at most WS_CONTROL_MAX. key is
 * NULL in the server role (unmasked) and the caller's 4 random bytes in the client role;
 * the payload, sent after the header (writev), must then be masked with ws_mask(.., 0).
 * Returns the header length (2 to 8) or -1 for another opcode, a payload too long, or cap
 * too small.
 */
int ws_enc_header(uint8_t *out, size_t cap, enum ws_opcode op, size_t len, const uint8_t *key);

/* Writes a whole frame (header, then payload copied and masked when key is not NULL);
 * same rules as ws_enc_header. Returns its length or -1. */
int ws_enc_frame(uint8_t *out, size_t cap, enum ws_opcode op, const uint8_t *payload,
    size_t len, const uint8_t *key);

/*
 * Writes a whole Close frame: code (WS_CLOSE_NO_STATUS for an empty body) and a UTF-8
 * reason of at most WS_CLOSE_REASON_MAX bytes. Returns its length or -1 for a code
 * ws_close_code_valid refuses, a bad reason, or cap too small.
 */
int ws_enc_close(uint8_t *out, size_t cap, uint16_t code, const uint8_t *reason,
    size_t reason_len, const uint8_t *key);

/*
 * True when key[0 .. len) is a Sec-WebSocket-Key as §4.1 demands: the base64 of a 16-byte
 * nonce, i.e. 22 alphabet characters, the last of which leaves no stray bits, then "=="
 * (whitespace around it is the HTTP parser's job).
 */
bool ws_key_valid(const char *key, size_t len);

/* Encodes a 16-byte nonce (the caller's randomness) as a Sec-WebSocket-Key, NUL-terminated. */
void ws_key_encode(const uint8_t nonce[WS_NONCE_LEN], char out[WS_KEY_LEN + 1]);

/*
 * Computes Sec-WebSocket-Accept for a key (§4.2.2: base64(SHA-1(key ‖ GUID))) into out,
 * NUL-terminated. Returns 0, or -1 when ws_key_valid refuses the key or libcrypto fails.
 */
int ws_accept(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]);

#endif
