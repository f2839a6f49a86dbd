/*
 * RFC 6455 frames (see ws.h). The decoder gathers a frame header byte by byte and checks
 * each field as soon as its byte is there, so an error is found at the same stream offset
 * however the input was split; payload runs are unmasked in place in one step. It must
 * never read past the bytes given, never allocate, never log, and never take a byte after
 * the peer's Close.
 *
 * Wire format (§5.2; lengths big-endian):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-------+-+-------------+-------------------------------+
 *   |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *   |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *   |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *   | |1|2|3|       |K|             |                               |
 *   +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 *   |     Extended payload length continued, if payload len == 127  |
 *   + - - - - - - - - - - - - - - - +-------------------------------+
 *   |                               |Masking-key, if MASK set to 1  |
 *   +-------------------------------+-------------------------------+
 *   | Masking-key (continued)       |          Payload Data         |
 *   +-------------------------------- - - - - - - - - - - - - - - - +
 *
 *   len7 0..125: the length; 126: a u16 follows (126..65535); 127: a u64 follows
 *   (65536..2^63-1, MSB 0). Minimal form only. MASK: set on every client frame, never on
 *   a server frame. Opcodes: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, A pong.
 *   A message is one Text/Binary frame with FIN, or one without FIN, continuations
 *   without FIN, and a last continuation with FIN; control frames (FIN, <= 125 bytes)
 *   may come between the fragments.
 *
 *   Close payload: empty, or u16 status code then a UTF-8 reason (§5.5.1).
 */
#include <string.h>

#include <openssl/evp.h>

#include "proto/rd.h"
#include "proto/ws.h"

#define WS_FIN      0x80
#define WS_RSV      0x70
#define WS_MASK_BIT 0x80

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* §1.3 */

enum {
	S_HDR,     /* gathering the header: d->hdr_len of d->hdr_need bytes */
	S_PAYLOAD, /* d->left payload bytes to go */
	S_CLOSED   /* the peer's Close was reported */
};

/* UTF-8 state packed in a u32: bits 0-1 continuation bytes still needed, then the range
 * the next one must fall in (lo in bits 8-15, hi in bits 16-23). 0 is "between chars". */
#define U8_STATE(need, lo, hi) ((uint32_t)(need) | (uint32_t)(lo) << 8 | (uint32_t)(hi) << 16)

/* Advances the UTF-8 state by one byte (RFC 3629 §4 table); false on a byte that cannot
 * follow. */
static bool
utf8_step(uint32_t *st, uint8_t b)
{
	uint32_t need = *st & 3;
	if (need != 0) {
		uint8_t lo = (uint8_t)(*st >> 8), hi = (uint8_t)(*st >> 16);
		if (b < lo || b > hi)
			return false;
		*st = need == 1 ? 0 : U8_STATE(need - 1, 0x80, 0xbf);
		return true;
	}
	if (b < 0x80)
		return true;
	if (b >= 0xc2 && b <= 0xdf)
		*st = U8_STATE(1, 0x80, 0xbf);
	else if (b == 0xe0)
		*st = U8_STATE(2, 0xa0, 0xbf);   /* no overlong 3-byte forms */
	else if (b == 0xed)
		*st = U8_STATE(2, 0x80, 0x9f);   /* no surrogates */
	else if (b >= 0xe1 && b <= 0xef)
		*st = U8_STATE(2, 0x80, 0xbf);
	else if (b == 0xf0)
		*st = U8_STATE(3, 0x90, 0xbf);   /* no overlong 4-byte forms */
	else if (b >= 0xf1 && b <= 0xf3)
		*st = U8_STATE(3, 0x80, 0xbf);
	else if (b == 0xf4)
		*st = U8_STATE(3, 0x80, 0x8f);   /* nothing above U+10FFFF */
	else
		return false;
	return true;
}

bool
ws_utf8_valid(const uint8_t *buf, size_t len)
{
	uint32_t st = 0;
	for (size_t i = 0; i < len; i++)
		if (!utf8_step(&st, buf[i]))
			return false;
	return st == 0;
}

bool
ws_close_code_valid(uint16_t code)
{
	if (code >= 1000 && code <= 1003)
		return true;
	if (code >= 1007 && code <= 1014)
		return true;
	return code >= 3000 && code <= 4999;
}

void
ws_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t pos)
{
	for (size_t i = 0; i < len; i++)
		buf[i] ^= key[(pos + i) & 3];
}

void
ws_dec_init(struct ws_dec *d, enum ws_role role, size_t msg_max)
{
	*d = (struct ws_dec){
		.role = (uint8_t)role,
		.st = S_HDR,
		.verdict = WS_MORE,
		.pending = WS_MORE,
		.msg_max = msg_max,
		.hdr_need = WS_HDR_MIN,
	};
}

/* True for the opcodes §5.2 defines. */
static bool
op_known(uint8_t op)
{
	return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

/* True for close, ping and pong (opcodes with the high bit set, §5.5). */
static bool
op_control(uint8_t op)
{
	return (op & 0x8) != 0;
}

/* Records a final verdict; *used is where the decoder stopped in this call. */
static enum ws_verdict
stop(struct ws_dec *d, enum ws_verdict v, size_t i, size_t *used)
{
	d->verdict = v;
	*used = i;
	return v;
}

/*
 * Checks header byte hdr[hdr_len - 1] now that it has arrived. Returns WS_MORE when the
 * header is fine so far, an error otherwise; sets hdr_need once byte 1 is there.
 */
static enum ws_verdict
hdr_byte(struct ws_dec *d)
{
	const uint8_t *h = d->hdr;
	uint8_t n = d->hdr_len;

	if (n == 1) {
		uint8_t op = h[0] & 0x0f;
		if (h[0] & WS_RSV)
			return WS_ERR_RSV;
		if (!op_known(op))
			return WS_ERR_OPCODE;
		if (op_control(op)) {
			if (!(h[0] & WS_FIN))
				return WS_ERR_CONTROL_FRAG;
		} else if ((op == WS_OP_CONT) != (d->msg_op != 0)) {
			return WS_ERR_FRAGMENT;
		}
		return WS_MORE;
	}
	if (n == 2) {
		bool masked = (h[1] & WS_MASK_BIT) != 0;
		uint8_t len7 = h[1] & 0x7f;
		if (masked != (d->role == WS_ROLE_SERVER))
			return WS_ERR_MASK;
		if (op_control(h[0] & 0x0f) && len7 > WS_CONTROL_MAX)
			return WS_ERR_CONTROL_LEN;
		d->hdr_need = (uint8_t)(WS_HDR_MIN + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
		    (masked ? 4 : 0));
	} else if (n == 3 && (h[1] & 0x7f) == 127 && (h[2] & 0x80)) {
		return WS_ERR_LENGTH;
	}

	/* Once the length is whole: minimal form, then the message limit. */
	uint8_t len7 = h[1] & 0x7f;
	uint8_t len_end = WS_HDR_MIN + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
	if (n != len_end)
		return WS_MORE;
	uint64_t len = len7;
	if (len7 == 126) {
		len = rd_u16be(h + 2);
		if (len <= WS_CONTROL_MAX)
			return WS_ERR_LENGTH;
	} else if (len7 == 127) {
		len = (uint64_t)rd_u32be(h + 2) << 32 | rd_u32be(h + 6);
		if (len <= 0xffff)
			return WS_ERR_LENGTH;
	}
	uint8_t op = h[0] & 0x0f;
	size_t sofar = op == WS_OP_CONT ? d->msg_len : 0; /* Text/Binary start a message */
	if (!op_control(op) && (len > d->msg_max || sofar > d->msg_max - len))
		return WS_ERR_TOO_BIG;
	d->left = len;
	return WS_MORE;
}

/* Takes the finished header: frame fields, and a new message on Text/Binary. */
static void
hdr_done(struct ws_dec *d)
{
	d->opcode = d->hdr[0] & 0x0f;
	d->fin = (d->hdr[0] & WS_FIN) != 0;
	d->masked = (d->hdr[1] & WS_MASK_BIT) != 0;
	if (d->masked)
		memcpy(d->key, d->hdr + d->hdr_need - 4, 4);
	d->pos = 0;
	if (op_control(d->opcode)) {
		d->ctl_len = 0;
	} else {
		if (d->opcode != WS_OP_CONT) {
			d->msg_op = d->opcode;
			d->msg_len = 0;
			d->utf8 = 0;
		}
		d->msg_len += (size_t)d->left;
	}
	d->hdr_len = 0;
	d->hdr_need = WS_HDR_MIN;
	d->st = S_PAYLOAD;
}

/* Reports a whole control frame from d->ctl; a Close ends the stream. */
static enum ws_verdict
control_done(struct ws_dec *d, struct ws_event *ev)
{
	ev->opcode = (enum ws_opcode)d->opcode;
	ev->data = d->ctl_len > 0 ? d->ctl : NULL;
	ev->len = d->ctl_len;
	d->st = S_HDR;
	if (d->opcode == WS_OP_PING)
		return WS_PING;
	if (d->opcode == WS_OP_PONG)
		return WS_PONG;
	if (d->ctl_len == 0) {
		ev->close_code = WS_CLOSE_NO_STATUS;
	} else {
		if (d->ctl_len < 2)
			return WS_ERR_CLOSE;
		ev->close_code = rd_u16be(d->ctl);
		if (!ws_close_code_valid(ev->close_code))
			return WS_ERR_CLOSE;
		if (!ws_utf8_valid(d->ctl + 2, d->ctl_len - 2u))
			return WS_ERR_UTF8;
		ev->data = d->ctl_len > 2 ? d->ctl + 2 : NULL;
		ev->len = d->ctl_len - 2u;
	}
	d->st = S_CLOSED;
	return WS_CLOSE;
}

/*
 * Takes the data payload bytes p[0 .. n) (unmasking them, checking Text as UTF-8) and
 * fills ev. Returns WS_DATA, WS_MORE when there is nothing to report, or an error; *took
 * is how many bytes were taken (fewer than n only when a UTF-8 error stops the run).
 */
static enum ws_verdict
data_run(struct ws_dec *d, uint8_t *p, size_t n, size_t *took, struct ws_event *ev)
{
	size_t k = n;
	bool bad = false;

	if (d->masked)
		ws_mask(p, n, d->key, d->pos);
	if (d->msg_op == WS_OP_TEXT) {
		for (k = 0; k < n; k++)
			if (!utf8_step(&d->utf8, p[k])) {
				bad = true;
				break;
			}
	}
	*took = k;
	d->pos += k;
	d->left -= k;
	bool end = d->left == 0 && !bad;
	bool fin = end && d->fin;
	enum ws_verdict err = WS_MORE;
	if (bad)
		err = WS_ERR_UTF8;
	else if (fin && d->msg_op == WS_OP_TEXT && d->utf8 != 0)
		err = WS_ERR_UTF8; /* the message ends inside a character */
	if (err != WS_MORE) {
		if (k == 0)
			return err;
		d->pending = err; /* report the valid bytes first, as any other split would */
		fin = false;
	}
	if (end) {
		d->st = S_HDR;
		if (fin)
			d->msg_op = 0;
	}
	if (k == 0 && !fin)
		return WS_MORE;
	ev->data = k > 0 ? p : NULL;
	ev->len = k;
	ev->fin = fin;
	return WS_DATA;
}

enum ws_verdict
ws_dec_feed(struct ws_dec *d, uint8_t *buf, size_t len, size_t *used, struct ws_event *ev)
{
	size_t i = 0;
	*used = 0;
	*ev = (struct ws_event){ 0 };
	if (d->verdict != WS_MORE)
		return d->verdict;
	if (d->pending != WS_MORE)
		return stop(d, d->pending, 0, used);
	while (i < len || (d->st == S_PAYLOAD && d->left == 0)) {
		if (d->st == S_CLOSED)
			return stop(d, WS_ERR_AFTER_CLOSE, i, used);
		if (d->st == S_HDR) {
			d->hdr[d->hdr_len++] = buf[i];
			enum ws_verdict v = hdr_byte(d);
			if (v != WS_MORE)
				return stop(d, v, i, used);
			i++;
			if (d->hdr_len == d->hdr_need)
				hdr_done(d);
			continue;
		}
		/* S_PAYLOAD: a run of up to d->left bytes (possibly none: an empty frame). */
		size_t n = len - i < d->left ? len - i : (size_t)d->left;
		if (op_control(d->opcode)) {
			if (n > 0)
				memcpy(d->ctl + d->ctl_len, buf + i, n);
			if (d->masked)
				ws_mask(d->ctl + d->ctl_len, n, d->key, d->pos);
			d->ctl_len = (uint8_t)(d->ctl_len + n);
			d->pos += n;
			d->left -= n;
			i += n;
			if (d->left > 0)
				continue;
			enum ws_verdict v = control_done(d, ev);
			if (ws_verdict_is_err(v))
				return stop(d, v, i, used);
			*used = i;
			return v;
		}
		size_t took;
		uint8_t msg_op = d->msg_op;
		enum ws_verdict v = data_run(d, n > 0 ? buf + i : NULL, n, &took, ev);
		if (ws_verdict_is_err(v))
			return stop(d, v, i + took, used);
		i += took;
		if (v == WS_DATA) {
			ev->opcode = (enum ws_opcode)msg_op;
			*used = i;
			return v;
		}
	}
	*used = len;
	return WS_MORE;
}

const char *
ws_verdict_str(enum ws_verdict v)
{
	static const char *const s[WS_VERDICT_COUNT] = {
		[WS_MORE] = "more",
		[WS_DATA] = "data",
		[WS_PING] = "ping",
		[WS_PONG] = "pong",
		[WS_CLOSE] = "close",
		[WS_ERR_RSV] = "rsv",
		[WS_ERR_OPCODE] = "opcode",
		[WS_ERR_MASK] = "mask",
		[WS_ERR_LENGTH] = "length",
		[WS_ERR_CONTROL_LEN] = "control_len",
		[WS_ERR_CONTROL_FRAG] = "control_frag",
		[WS_ERR_FRAGMENT] = "fragment",
		[WS_ERR_TOO_BIG] = "too_big",
		[WS_ERR_CLOSE] = "close_payload",
		[WS_ERR_UTF8] = "utf8",
		[WS_ERR_AFTER_CLOSE] = "after_close",
	};
	return (unsigned)v < WS_VERDICT_COUNT ? s[v] : "unknown";
}

uint16_t
ws_verdict_close_code(enum ws_verdict v)
{
	if (v == WS_ERR_TOO_BIG)
		return WS_CLOSE_TOO_BIG;
	if (v == WS_ERR_UTF8)
		return WS_CLOSE_BAD_DATA;
	return WS_CLOSE_PROTOCOL;
}

int
ws_enc_header(uint8_t *out, size_t cap, enum ws_opcode op, size_t len, const uint8_t *key)
{
	size_t max = op == WS_OP_BINARY ? WS_OUT_MAX : WS_CONTROL_MAX;
	if (op != WS_OP_BINARY && !op_control(op))
		return -1;
	if (!op_known(op) || len > max)
		return -1;
	size_t n = (len <= WS_CONTROL_MAX ? 2 : 4) + (key != NULL ? 4 : 0);
	if (cap < n)
		return -1;
	out[0] = (uint8_t)(WS_FIN | op);
	uint8_t m = key != NULL ? WS_MASK_BIT : 0;
	size_t off = 2;
	if (len <= WS_CONTROL_MAX) {
		out[1] = (uint8_t)(m | len);
	} else {
		out[1] = (uint8_t)(m | 126); /* WS_OUT_MAX fits the 16-bit form */
		wr_u16be(out + 2, (uint16_t)len);
		off = 4;
	}
	if (key != NULL)
		memcpy(out + off, key, 4);
	return (int)n;
}

int
ws_enc_frame(uint8_t *out, size_t cap, enum ws_opcode op, const uint8_t *payload, size_t len,
    const uint8_t *key)
{
	int h = ws_enc_header(out, cap, op, len, key);
	if (h < 0 || len > cap - (size_t)h)
		return -1;
	if (len > 0)
		memcpy(out + h, payload, len);
	if (key != NULL)
		ws_mask(out + h, len, key, 0);
	return h + (int)len;
}

int
ws_enc_close(uint8_t *out, size_t cap, uint16_t code, const uint8_t *reason, size_t reason_len,
    const uint8_t *key)
{
	uint8_t body[WS_CONTROL_MAX];
	size_t n = 0;
	if (code != WS_CLOSE_NO_STATUS) {
		if (!ws_close_code_valid(code) || reason_len > WS_CLOSE_REASON_MAX ||
		    !ws_utf8_valid(reason, reason_len))
			return -1;
		wr_u16be(body, code);
		if (reason_len > 0)
			memcpy(body + 2, reason, reason_len);
		n = 2 + reason_len;
	} else if (reason_len > 0) {
		return -1; /* a reason needs a code */
	}
	return ws_enc_frame(out, cap, WS_OP_CLOSE, body, n, key);
}

/* The value of a base64 alphabet character (RFC 4648 §4), or -1. */
static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool
ws_key_valid(const char *key, size_t len)
{
	/* 16 bytes = 128 bits: 21 characters of 6 bits, one carrying the last 2 bits (its
	 * low 4 bits zero), then two '='. */
	if (len != WS_KEY_LEN || key[22] != '=' || key[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++) {
		int v = b64val(key[i]);
		if (v < 0 || (i == 21 && (v & 0x0f) != 0))
			return false;
	}
	return true;
}

void
ws_key_encode(const uint8_t nonce[WS_NONCE_LEN], char out[WS_KEY_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)out, nonce, WS_NONCE_LEN);
}

int
ws_accept(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1])
{
	uint8_t in[WS_KEY_LEN + sizeof ws_guid - 1];
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!ws_key_valid(key, len))
		return -1;
	memcpy(in, key, WS_KEY_LEN);
	memcpy(in + WS_KEY_LEN, ws_guid, sizeof ws_guid - 1);
	if (EVP_Digest(in, sizeof in, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)out, md, 20) != WS_ACCEPT_LEN)
		return -1;
	return 0;
}
