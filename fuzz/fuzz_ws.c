/*
 * Fuzz harness for the WebSocket codec (proto/ws.c). The first input byte picks the role
 * (server: masked frames in; client: unmasked) and the message limit; the rest is the
 * byte stream from the peer. The decoder is run whole, one byte per call, in chunks whose
 * sizes come from the input and split in two at an input-chosen offset, each piece in a
 * fresh exact-size copy (so reads past it are caught); the events, joined per message,
 * the final verdict and where it stopped must agree. Each event's view must lie inside
 * the piece or the decoder, and its fields must obey the RFC. Then the input's bytes are
 * encoded as one frame of each kind we send, in both roles, and must decode back to
 * themselves in the other role; the handshake key helpers must agree with each other. It
 * must never print anything on the happy path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one run reported: a hash over the events with data joined per message. */
struct result {
	uint64_t        hash;
	enum ws_verdict last;
	size_t          consumed;
	unsigned        msgs;
	size_t          open;     /* data bytes of a message still open at the end */
};

/* Stops the run with a reason; libFuzzer and the replay driver both see the abort. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_ws: %s\n", why);
	abort();
}

/* Folds bytes into an FNV-1a hash: the result does not depend on how they were cut. */
static void
fold(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 0x100000001b3ull;
	}
}

/* Folds a record marker and a number. */
static void
fold_rec(uint64_t *h, char tag, uint64_t v)
{
	fold(h, &tag, 1);
	fold(h, &v, sizeof v);
}

/* Checks one event against the RFC and the piece it came from, then folds it in. */
static void
event(struct result *r, const struct ws_dec *d, enum ws_verdict v, const struct ws_event *ev,
    const uint8_t *piece, size_t piece_len)
{
	const uint8_t *p = ev->data;
	if (ev->len > 0 && p == NULL)
		fail("data NULL with a length");
	switch (v) {
	case WS_DATA:
		if (ev->opcode != WS_OP_TEXT && ev->opcode != WS_OP_BINARY)
			fail("data with a control opcode");
		if (ev->len > 0 && (p < piece || ev->len > piece_len || p > piece + piece_len - ev->len))
			fail("data view outside the piece");
		if (ev->len > d->msg_max)
			fail("data over the limit");
		fold(&r->hash, p, ev->len);
		r->open += ev->len;
		if (r->open > d->msg_max)
			fail("message over the limit");
		if (ev->fin) {
			fold_rec(&r->hash, 'D', ev->opcode);
			fold_rec(&r->hash, 'L', r->open);
			r->open = 0;
			r->msgs++;
		}
		break;
	case WS_PING:
	case WS_PONG:
	case WS_CLOSE:
		if (ev->len > WS_CONTROL_MAX)
			fail("control payload over 125");
		if (ev->len > 0 && (p < d->ctl || p + ev->len > d->ctl + WS_CONTROL_MAX))
			fail("control view outside the decoder");
		if (v == WS_CLOSE && ev->close_code != WS_CLOSE_NO_STATUS &&
		    !ws_close_code_valid(ev->close_code))
			fail("close with an invalid code");
		if (v == WS_CLOSE && !ws_utf8_valid(p, ev->len))
			fail("close reason not utf-8");
		fold_rec(&r->hash, v == WS_PING ? 'P' : v == WS_PONG ? 'O' : 'C',
		    v == WS_CLOSE ? ev->close_code : 0);
		fold_rec(&r->hash, 'L', ev->len);
		fold(&r->hash, p, ev->len);
		break;
	default:
		fail("unexpected verdict with an event");
	}
}

/* Decodes buf in pieces of 1 + pat[i] % mod bytes (the whole when npat is 0). */
static struct result
run(enum ws_role role, size_t max, const uint8_t *buf, size_t n, const uint8_t *pat,
    size_t npat, unsigned mod)
{
	struct ws_dec d;
	struct result r = { 0xcbf29ce484222325ull, WS_MORE, 0, 0, 0 };
	size_t off = 0, i = 0;
	ws_dec_init(&d, role, max);
	while (off < n) {
		size_t k = npat > 0 ? 1 + pat[i++ % npat] % mod : n - off;
		if (k > n - off)
			k = n - off;
		uint8_t *copy = malloc(k);
		if (copy == NULL)
			fail("malloc");
		memcpy(copy, buf + off, k);
		size_t at = 0;
		for (unsigned guard = 0;; guard++) {
			struct ws_event ev;
			size_t used;
			if (guard > k + 16)
				fail("no progress");
			enum ws_verdict v = ws_dec_feed(&d, copy + at, k - at, &used, &ev);
			if (used > k - at)
				fail("used past the piece");
			if (v == WS_MORE && used != k - at)
				fail("MORE without using every byte");
			at += used;
			if (v == WS_MORE)
				break;
			if (ws_verdict_is_err(v)) {
				r.last = v;
				size_t again;
				if (ws_dec_feed(&d, copy, k, &again, &ev) != v || again != 0)
					fail("an error is not final");
				break;
			}
			event(&r, &d, v, &ev, copy + at - used, k - (at - used));
		}
		free(copy);
		r.consumed += at;
		off += k;
		if (r.last != WS_MORE)
			break;
	}
	fold_rec(&r.hash, 'E', (uint64_t)r.last << 32 | r.consumed);
	fold_rec(&r.hash, 'p', r.open);
	return r;
}

/* Aborts unless two runs agree. */
static void
same(struct result a, struct result b, const char *what)
{
	if (a.hash != b.hash || a.last != b.last || a.consumed != b.consumed || a.msgs != b.msgs ||
	    a.open != b.open)
		fail(what);
}

/* Decodes one whole frame and checks it carried op with payload p[0 .. n). */
static void
decode_back(enum ws_role role, const uint8_t *frame, size_t flen, enum ws_opcode op,
    const uint8_t *p, size_t n, uint16_t code)
{
	struct ws_dec d;
	struct ws_event ev;
	size_t used;
	uint8_t *copy = malloc(flen);
	if (copy == NULL)
		fail("malloc");
	memcpy(copy, frame, flen);
	ws_dec_init(&d, role, WS_MSG_MAX);
	enum ws_verdict v = ws_dec_feed(&d, copy, flen, &used, &ev);
	enum ws_verdict want = op == WS_OP_BINARY ? WS_DATA : op == WS_OP_PING ? WS_PING :
	    op == WS_OP_PONG ? WS_PONG : WS_CLOSE;
	if (v != want || used != flen || ev.len != n || (n > 0 && memcmp(ev.data, p, n) != 0))
		fail("round trip differs");
	if (op == WS_OP_BINARY && (!ev.fin || ev.opcode != WS_OP_BINARY))
		fail("round trip not one binary message");
	if (op == WS_OP_CLOSE && ev.close_code != code)
		fail("round trip close code differs");
	if (ws_dec_feed(&d, copy + used, 0, &used, &ev) != WS_MORE)
		fail("round trip left something");
	free(copy);
}

/* Encodes the input as frames of every kind we send and decodes them back. */
static void
round_trip(const uint8_t *data, size_t size)
{
	static uint8_t frame[WS_HDR_MAX + WS_OUT_MAX], split[WS_HDR_MAX + WS_OUT_MAX];
	const uint8_t *key = size >= 4 ? data : NULL;
	size_t n = size > WS_OUT_MAX ? WS_OUT_MAX : size;

	for (int masked = 0; masked < 2; masked++) {
		const uint8_t *k = masked ? (key != NULL ? key : (const uint8_t *)"\0\0\0\0") : NULL;
		enum ws_role peer = masked ? WS_ROLE_SERVER : WS_ROLE_CLIENT;
		/* Binary: the whole frame, and header + separately masked payload (writev). */
		int f = ws_enc_frame(frame, sizeof frame, WS_OP_BINARY, data, n, k);
		if (f < 0)
			fail("binary encode refused");
		decode_back(peer, frame, (size_t)f, WS_OP_BINARY, data, n, 0);
		int h = ws_enc_header(split, sizeof split, WS_OP_BINARY, n, k);
		if (h < 0 || (size_t)h + n != (size_t)f)
			fail("header length differs");
		if (n > 0)
			memcpy(split + h, data, n);
		if (k != NULL)
			ws_mask(split + h, n, k, 0);
		if (memcmp(split, frame, (size_t)f) != 0)
			fail("header + mask differs from the whole frame");
		/* Ping and pong: up to 125 bytes; one more is refused. */
		size_t c = n > WS_CONTROL_MAX ? WS_CONTROL_MAX : n;
		f = ws_enc_frame(frame, sizeof frame, WS_OP_PING, data, c, k);
		if (f < 0)
			fail("ping encode refused");
		decode_back(peer, frame, (size_t)f, WS_OP_PING, data, c, 0);
		f = ws_enc_frame(frame, sizeof frame, WS_OP_PONG, data, c, k);
		if (f < 0)
			fail("pong encode refused");
		decode_back(peer, frame, (size_t)f, WS_OP_PONG, data, c, 0);
		if (n > WS_CONTROL_MAX &&
		    ws_enc_frame(frame, sizeof frame, WS_OP_PING, data, WS_CONTROL_MAX + 1, k) != -1)
			fail("ping over 125 encoded");
		/* Close: the code from the first two bytes, the rest as the reason. */
		if (size >= 2) {
			uint16_t code = (uint16_t)(data[0] << 8 | data[1]);
			size_t rl = size - 2 > WS_CLOSE_REASON_MAX ? WS_CLOSE_REASON_MAX : size - 2;
			f = ws_enc_close(frame, sizeof frame, code, data + 2, rl, k);
			bool ok = code == WS_CLOSE_NO_STATUS ? rl == 0 :
			    ws_close_code_valid(code) && ws_utf8_valid(data + 2, rl);
			if ((f >= 0) != ok)
				fail("close encode verdict wrong");
			if (f >= 0)
				decode_back(peer, frame, (size_t)f, WS_OP_CLOSE, data + 2, rl, code);
		}
	}
}

/* The handshake helpers: a valid key gives an accept value, an invalid one none. */
static void
keys(const uint8_t *data, size_t size)
{
	char out[WS_ACCEPT_LEN + 1], key[WS_KEY_LEN + 1];
	size_t n = size > WS_KEY_LEN + 1 ? WS_KEY_LEN + 1 : size;
	bool valid = ws_key_valid((const char *)data, n);
	int rc = ws_accept((const char *)data, n, out);
	if (valid != (rc == 0) || (rc == 0 && strlen(out) != WS_ACCEPT_LEN))
		fail("accept disagrees with key validation");
	if (size >= WS_NONCE_LEN) {
		ws_key_encode(data, key);
		if (!ws_key_valid(key, strlen(key)))
			fail("an encoded nonce is not a valid key");
	}
}

/* One input: every feeding must agree, and what we encode must decode back. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t one = 0;
	static const size_t maxes[4] = { WS_MSG_MAX, 0, 200, 1u << 20 };
	if (size == 0)
		return 0;
	enum ws_role role = (data[0] & 1) ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
	size_t max = maxes[(data[0] >> 1) & 3];
	const uint8_t *s = data + 1;
	size_t n = size - 1;

	struct result whole = run(role, max, s, n, NULL, 0, 1);
	same(whole, run(role, max, s, n, &one, 1, 1), "byte-at-a-time differs");
	same(whole, run(role, max, s, n, s, n < 8 ? n : 8, 13), "input chunks differ");
	size_t cut = n > 0 ? (size_t)s[n - 1] * 257 % (n + 1) : 0;
	uint8_t pat[2] = { (uint8_t)(cut > 0 ? cut - 1 : 0), 255 };
	if (cut > 0 && cut <= 256)
		same(whole, run(role, max, s, n, pat, 2, 256), "split differs");
	if (whole.last == WS_MORE && whole.consumed != n)
		fail("MORE did not use the input");

	round_trip(s, n);
	keys(s, n);
	return 0;
}
