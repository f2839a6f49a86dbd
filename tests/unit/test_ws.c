/*
 * Unit tests for proto/ws: the RFC 6455 §5.7 examples byte for byte (decoded and encoded),
 * every vector whole, one byte at a time and split in two at every offset with the same
 * events, every limit at N and N + 1 (control 125/126, message size, the 7/16/64-bit
 * length forms), the masking rule of each role, fragmentation with control frames between
 * the fragments, Close payloads, UTF-8, and the handshake key helpers (RFC 6455 §1.3).
 * Never touches the network.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/ws.h"

#define TRACE_MAX (1u << 18)

/*
 * What a run of the decoder reported, in a form that does not depend on how the input
 * was split: data pieces are joined per message. Records: 'D' op len bytes (a message),
 * 'P'/'O' len bytes (ping/pong), 'C' code len bytes (close), 'p' len bytes (a message
 * still open at the end), 'E' verdict offset (an error and where the decoder stopped).
 */
struct trace {
	uint8_t         log[TRACE_MAX];
	size_t          n;
	uint8_t         msg[TRACE_MAX];  /* data of the open message */
	size_t          msg_len;
	enum ws_verdict last;            /* WS_MORE, or the error */
	size_t          consumed;        /* bytes used in total */
	unsigned        events;
};

static struct trace ta, tb; /* big: static, and two for comparisons */

/* Appends bytes to the trace log (aborts on overflow: a test bug). */
static void
put(struct trace *t, const void *p, size_t n)
{
	if (n > TRACE_MAX - t->n)
		abort();
	if (n > 0)
		memcpy(t->log + t->n, p, n);
	t->n += n;
}

/* Appends a record head: tag byte and a 64-bit number. */
static void
put_rec(struct trace *t, char tag, uint64_t v)
{
	put(t, &tag, 1);
	put(t, &v, sizeof v);
}

/* Adds one event to the trace. */
static void
trace_event(struct trace *t, enum ws_verdict v, const struct ws_event *ev)
{
	t->events++;
	switch (v) {
	case WS_DATA:
		if (ev->len > TRACE_MAX - t->msg_len)
			abort();
		if (ev->len > 0)
			memcpy(t->msg + t->msg_len, ev->data, ev->len);
		t->msg_len += ev->len;
		if (ev->fin) {
			put_rec(t, 'D', ev->opcode);
			put_rec(t, 'L', t->msg_len);
			put(t, t->msg, t->msg_len);
			t->msg_len = 0;
		}
		break;
	case WS_PING:
	case WS_PONG:
		put_rec(t, v == WS_PING ? 'P' : 'O', ev->len);
		put(t, ev->data, ev->len);
		break;
	case WS_CLOSE:
		put_rec(t, 'C', ev->close_code);
		put_rec(t, 'L', ev->len);
		put(t, ev->data, ev->len);
		break;
	default:
		abort();
	}
}

/*
 * Decodes buf in pieces of the given sizes (0 or past the list: the rest), each in a
 * fresh exact-size copy so a read past a piece shows under ASan.
 */
static void
run(struct trace *t, enum ws_role role, size_t max, const uint8_t *buf, size_t n,
    const size_t *sizes, size_t nsizes)
{
	struct ws_dec d;
	size_t off = 0, k = 0;
	ws_dec_init(&d, role, max);
	t->n = t->msg_len = t->consumed = 0;
	t->events = 0;
	t->last = WS_MORE;
	while (off < n) {
		size_t piece = k < nsizes && sizes[k] != 0 ? sizes[k] : n - off;
		if (piece > n - off)
			piece = n - off;
		k++;
		uint8_t *copy = malloc(piece);
		if (copy == NULL)
			abort();
		memcpy(copy, buf + off, piece);
		size_t at = 0;
		for (;;) {
			struct ws_event ev;
			size_t used;
			enum ws_verdict v = ws_dec_feed(&d, copy + at, piece - at, &used, &ev);
			if (used > piece - at)
				abort();
			at += used;
			if (v == WS_MORE) {
				if (at != piece)
					abort();
				break;
			}
			if (ws_verdict_is_err(v)) {
				t->last = v;
				break;
			}
			trace_event(t, v, &ev);
		}
		free(copy);
		t->consumed += at;
		off += piece;
		if (t->last != WS_MORE)
			break;
	}
	if (t->last != WS_MORE)
		put_rec(t, 'E', (uint64_t)t->last << 32 | t->consumed);
	put_rec(t, 'p', t->msg_len);
	put(t, t->msg, t->msg_len);
}

/* True when two traces agree. */
static bool
same(const struct trace *a, const struct trace *b)
{
	return a->n == b->n && memcmp(a->log, b->log, a->n) == 0 && a->last == b->last &&
	    a->consumed == b->consumed;
}

/*
 * Checks one vector: whole, then one byte at a time, then split in two at every offset
 * (above 4096 bytes: the first and last 64 offsets and every 509th, to keep the run
 * short), all with the same trace. Leaves the whole run in ta.
 */
static void
vec_same(const char *name, enum ws_role role, size_t max, const uint8_t *buf, size_t n)
{
	run(&ta, role, max, buf, n, NULL, 0);
	size_t *ones = malloc((n ? n : 1) * sizeof *ones);
	if (ones == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		ones[i] = 1;
	run(&tb, role, max, buf, n, ones, n);
	free(ones);
	CHECKF(same(&ta, &tb), "%s: byte at a time differs", name);
	for (size_t cut = 1; cut < n; cut++) {
		if (n > 4096 && cut > 64 && cut < n - 64 && cut % 509 != 0)
			continue;
		size_t sizes[2] = { cut, 0 };
		run(&tb, role, max, buf, n, sizes, 2);
		CHECKF(same(&ta, &tb), "%s: split at %zu differs", name, cut);
		if (!same(&ta, &tb))
			break;
	}
}

/* Builds an expected trace from records, for comparison with ta. */
static struct trace want;

/* Starts an expected trace. */
static void
want_reset(void)
{
	want.n = want.msg_len = want.consumed = 0;
	want.last = WS_MORE;
}

/* Expects a whole data message. */
static void
want_msg(enum ws_opcode op, const void *p, size_t n)
{
	put_rec(&want, 'D', op);
	put_rec(&want, 'L', n);
	put(&want, p, n);
}

/* Expects a ping or pong. */
static void
want_ctl(enum ws_verdict v, const void *p, size_t n)
{
	put_rec(&want, v == WS_PING ? 'P' : 'O', n);
	put(&want, p, n);
}

/* Expects a close. */
static void
want_close(uint16_t code, const void *p, size_t n)
{
	put_rec(&want, 'C', code);
	put_rec(&want, 'L', n);
	put(&want, p, n);
}

/* Ends the expectation: an error at offset (or none: v WS_MORE), and the open message. */
static void
want_end(enum ws_verdict v, size_t off, const void *open, size_t open_len)
{
	if (v != WS_MORE)
		put_rec(&want, 'E', (uint64_t)v << 32 | off);
	put_rec(&want, 'p', open_len);
	put(&want, open, open_len);
}

/* Runs a vector every way and compares with the expectation built in want. */
static void
vec(const char *name, enum ws_role role, size_t max, const uint8_t *buf, size_t n)
{
	vec_same(name, role, max, buf, n);
	CHECKF(ta.n == want.n && memcmp(ta.log, want.log, want.n) == 0,
	    "%s: events differ from the expectation (verdict %s after %zu bytes)", name,
	    ws_verdict_str(ta.last), ta.consumed);
}

/*
 * Builds a frame: first byte b0, payload length len written in the given form (0: the
 * minimal one; 7, 16 or 64 to force one), masked with key when not NULL. payload may be
 * NULL for len bytes of 'a'+i%26. Returns the frame length.
 */
static size_t
mk(uint8_t *out, uint8_t b0, const uint8_t *key, uint64_t len, int form, const void *payload)
{
	size_t h = 2;
	if (form == 0)
		form = len <= 125 ? 7 : len <= 0xffff ? 16 : 64;
	out[0] = b0;
	uint8_t m = key != NULL ? 0x80 : 0;
	if (form == 7) {
		out[1] = (uint8_t)(m | len);
	} else if (form == 16) {
		out[1] = m | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		h = 4;
	} else {
		out[1] = m | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		h = 10;
	}
	if (key != NULL) {
		memcpy(out + h, key, 4);
		h += 4;
	}
	for (uint64_t i = 0; i < len; i++)
		out[h + i] = payload != NULL ? ((const uint8_t *)payload)[i] : (uint8_t)('a' + i % 26);
	if (key != NULL)
		ws_mask(out + h, (size_t)len, key, 0);
	return h + (size_t)len;
}

static const uint8_t key5[4] = { 0x37, 0xfa, 0x21, 0x3d }; /* the §5.7 masking key */
static uint8_t big[(1u << 17) + 64];
static uint8_t pay[(1u << 17)];

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })
#define NB(...) sizeof((const uint8_t[]){ __VA_ARGS__ })

/* The examples of RFC 6455 §5.7, decoded. */
static void
test_rfc_examples(void)
{
	static const uint8_t hello_un[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	static const uint8_t hello_m[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
		0x4d, 0x51, 0x58 };
	static const uint8_t frag[] = { 0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f };
	static const uint8_t ping_un[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	static const uint8_t pong_m[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
		0x4d, 0x51, 0x58 };

	want_reset();
	want_msg(WS_OP_TEXT, "Hello", 5);
	want_end(WS_MORE, 0, NULL, 0);
	vec("5.7 unmasked text", WS_ROLE_CLIENT, WS_MSG_MAX, hello_un, sizeof hello_un);
	vec("5.7 masked text", WS_ROLE_SERVER, WS_MSG_MAX, hello_m, sizeof hello_m);
	vec("5.7 fragmented text", WS_ROLE_CLIENT, WS_MSG_MAX, frag, sizeof frag);

	want_reset();
	want_ctl(WS_PING, "Hello", 5);
	want_end(WS_MORE, 0, NULL, 0);
	vec("5.7 unmasked ping", WS_ROLE_CLIENT, WS_MSG_MAX, ping_un, sizeof ping_un);
	want_reset();
	want_ctl(WS_PONG, "Hello", 5);
	want_end(WS_MORE, 0, NULL, 0);
	vec("5.7 masked pong", WS_ROLE_SERVER, WS_MSG_MAX, pong_m, sizeof pong_m);

	/* 256 bytes and 64 KiB of binary in one unmasked frame (the 16- and 64-bit forms). */
	size_t n = mk(big, 0x82, NULL, 256, 0, NULL);
	CHECK(n == 260 && big[1] == 0x7e && big[2] == 0x01 && big[3] == 0x00);
	want_reset();
	want_msg(WS_OP_BINARY, big + 4, 256);
	want_end(WS_MORE, 0, NULL, 0);
	vec("5.7 256 bytes", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);
	n = mk(big, 0x82, NULL, 65536, 0, NULL);
	CHECK(n == 65546 && big[1] == 0x7f && memcmp(big + 2, B(0, 0, 0, 0, 0, 1, 0, 0), 8) == 0);
	want_reset();
	want_msg(WS_OP_BINARY, big + 10, 65536);
	want_end(WS_MORE, 0, NULL, 0);
	vec("5.7 64 KiB", WS_ROLE_CLIENT, 65536, big, n);

	/* Zero copy: the masked payload is unmasked in place and handed back as a view. */
	uint8_t b[sizeof hello_m];
	memcpy(b, hello_m, sizeof b);
	struct ws_dec d;
	struct ws_event ev;
	size_t used;
	ws_dec_init(&d, WS_ROLE_SERVER, WS_MSG_MAX);
	CHECK(ws_dec_feed(&d, b, sizeof b, &used, &ev) == WS_DATA);
	CHECK(used == sizeof b && ev.data == b + 6 && ev.len == 5 && ev.fin &&
	    ev.opcode == WS_OP_TEXT && memcmp(b + 6, "Hello", 5) == 0);
	CHECK(memcmp(b, hello_m, 6) == 0); /* header untouched */
	CHECK(ws_dec_feed(&d, b + used, 0, &used, &ev) == WS_MORE && used == 0);
}

/* The encoder against the §5.7 bytes, its limits, and encode -> decode round trips. */
static void
test_encoder(void)
{
	uint8_t out[WS_OUT_MAX + WS_HDR_MAX];
	static const uint8_t ping_un[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	static const uint8_t pong_m[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
		0x4d, 0x51, 0x58 };

	int n = ws_enc_frame(out, sizeof out, WS_OP_PING, (const uint8_t *)"Hello", 5, NULL);
	CHECK(n == (int)sizeof ping_un && memcmp(out, ping_un, sizeof ping_un) == 0);
	n = ws_enc_frame(out, sizeof out, WS_OP_PONG, (const uint8_t *)"Hello", 5, key5);
	CHECK(n == (int)sizeof pong_m && memcmp(out, pong_m, sizeof pong_m) == 0);
	n = ws_enc_frame(out, sizeof out, WS_OP_BINARY, (const uint8_t *)"Hello", 5, key5);
	CHECK(n == 11 && out[0] == 0x82 && memcmp(out + 1, pong_m + 1, 10) == 0);

	/* Header only (writev), the 7/16-bit forms at their boundaries. */
	CHECK(ws_enc_header(out, sizeof out, WS_OP_BINARY, 0, NULL) == 2 && out[0] == 0x82 &&
	    out[1] == 0);
	CHECK(ws_enc_header(out, sizeof out, WS_OP_BINARY, 125, NULL) == 2 && out[1] == 125);
	CHECK(ws_enc_header(out, sizeof out, WS_OP_BINARY, 126, NULL) == 4 && out[1] == 126 &&
	    out[2] == 0 && out[3] == 126);
	CHECK(ws_enc_header(out, sizeof out, WS_OP_BINARY, 256, NULL) == 4 &&
	    memcmp(out, B(0x82, 0x7e, 0x01, 0x00), 4) == 0);
	CHECK(ws_enc_header(out, sizeof out, WS_OP_BINARY, WS_OUT_MAX, key5) == 8 &&
	    memcmp(out, B(0x82, 0xfe, 0x40, 0x00, 0x37, 0xfa, 0x21, 0x3d), 8) == 0);
	/* Limits: WS_OUT_MAX / + 1, control 125 / 126, opcodes we never send, cap. */
	CHECK(ws_enc_header(out, sizeof out, WS_OP_BINARY, WS_OUT_MAX + 1, NULL) == -1);
	CHECK(ws_enc_header(out, sizeof out, WS_OP_PING, WS_CONTROL_MAX, NULL) == 2);
	CHECK(ws_enc_header(out, sizeof out, WS_OP_PING, WS_CONTROL_MAX + 1, NULL) == -1);
	CHECK(ws_enc_header(out, sizeof out, WS_OP_CLOSE, WS_CONTROL_MAX + 1, NULL) == -1);
	CHECK(ws_enc_header(out, sizeof out, WS_OP_TEXT, 1, NULL) == -1);
	CHECK(ws_enc_header(out, sizeof out, WS_OP_CONT, 1, NULL) == -1);
	CHECK(ws_enc_header(out, sizeof out, (enum ws_opcode)0xb, 1, NULL) == -1);
	CHECK(ws_enc_header(out, 3, WS_OP_BINARY, 126, NULL) == -1);
	CHECK(ws_enc_header(out, 4, WS_OP_BINARY, 126, NULL) == 4);
	CHECK(ws_enc_header(out, 7, WS_OP_BINARY, 126, key5) == -1);
	CHECK(ws_enc_frame(out, 6, WS_OP_BINARY, (const uint8_t *)"Hello", 5, NULL) == -1);
	CHECK(ws_enc_frame(out, 7, WS_OP_BINARY, (const uint8_t *)"Hello", 5, NULL) == 7);

	/* Close frames: code + reason, the empty body, codes never sent, reason 123 / 124. */
	n = ws_enc_close(out, sizeof out, WS_CLOSE_NORMAL, (const uint8_t *)"bye", 3, NULL);
	CHECK(n == 7 && memcmp(out, B(0x88, 0x05, 0x03, 0xe8, 'b', 'y', 'e'), 7) == 0);
	n = ws_enc_close(out, sizeof out, WS_CLOSE_NO_STATUS, NULL, 0, NULL);
	CHECK(n == 2 && out[0] == 0x88 && out[1] == 0);
	CHECK(ws_enc_close(out, sizeof out, WS_CLOSE_NO_STATUS, (const uint8_t *)"x", 1, NULL) == -1);
	CHECK(ws_enc_close(out, sizeof out, 1006, NULL, 0, NULL) == -1);
	CHECK(ws_enc_close(out, sizeof out, 1015, NULL, 0, NULL) == -1);
	CHECK(ws_enc_close(out, sizeof out, 1000, B(0xc0, 0x80), 2, NULL) == -1);
	memset(pay, 'r', WS_CLOSE_REASON_MAX + 1);
	CHECK(ws_enc_close(out, sizeof out, 1000, pay, WS_CLOSE_REASON_MAX, key5) ==
	    2 + 4 + WS_CONTROL_MAX);
	CHECK(ws_enc_close(out, sizeof out, 1000, pay, WS_CLOSE_REASON_MAX + 1, key5) == -1);

	/* Round trips: what we encode in one role, the other role decodes back. */
	static const size_t lens[] = { 0, 1, 125, 126, 1024, 8192, WS_OUT_MAX };
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		for (int masked = 0; masked < 2; masked++) {
			for (size_t j = 0; j < lens[i]; j++)
				pay[j] = (uint8_t)(j * 7 + i);
			const uint8_t *k = masked ? key5 : NULL;
			n = ws_enc_frame(big, sizeof big, WS_OP_BINARY, pay, lens[i], k);
			CHECKF(n > 0, "encode %zu", lens[i]);
			if (n <= 0)
				continue;
			want_reset();
			want_msg(WS_OP_BINARY, pay, lens[i]);
			want_end(WS_MORE, 0, NULL, 0);
			char name[64];
			snprintf(name, sizeof name, "round trip %zu %s", lens[i],
			    masked ? "masked" : "unmasked");
			vec(name, masked ? WS_ROLE_SERVER : WS_ROLE_CLIENT, WS_MSG_MAX, big,
			    (size_t)n);
		}
	}
	n = ws_enc_close(big, sizeof big, 4999, (const uint8_t *)"\xc3\xa9t\xc3\xa9", 6, key5);
	want_reset();
	want_close(4999, "\xc3\xa9t\xc3\xa9", 6);
	want_end(WS_MORE, 0, NULL, 0);
	vec("round trip close", WS_ROLE_SERVER, WS_MSG_MAX, big, (size_t)n);
}

/* Length forms at 125 / 126 / 65535 / 65536, non-minimal forms, the 64-bit MSB. */
static void
test_length_forms(void)
{
	static const struct {
		uint64_t len;
		int      form;
		bool     ok;
	} cases[] = {
		{ 0, 7, true }, { 125, 7, true }, { 126, 16, true }, { 65535, 16, true },
		{ 65536, 64, true },
		{ 0, 16, false }, { 125, 16, false }, { 126, 64, false }, { 65535, 64, false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int role = 0; role < 2; role++) {
			const uint8_t *k = role == WS_ROLE_SERVER ? key5 : NULL;
			size_t n = mk(big, 0x82, k, cases[i].len, cases[i].form, NULL);
			char name[80];
			snprintf(name, sizeof name, "length %llu in %d bits, %s",
			    (unsigned long long)cases[i].len, cases[i].form,
			    role == WS_ROLE_SERVER ? "server" : "client");
			want_reset();
			if (cases[i].ok) {
				for (uint64_t j = 0; j < cases[i].len; j++)
					pay[j] = (uint8_t)('a' + j % 26);
				want_msg(WS_OP_BINARY, pay, (size_t)cases[i].len);
				want_end(WS_MORE, 0, NULL, 0);
			} else {
				/* Refused on the last length byte. */
				want_end(WS_ERR_LENGTH, cases[i].form == 16 ? 3 : 9, NULL, 0);
			}
			vec(name, (enum ws_role)role, 1u << 17, big, n);
		}
	}
	/* The 64-bit length's MSB: refused as soon as that byte arrives. */
	uint8_t msb[] = { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1 };
	want_reset();
	want_end(WS_ERR_LENGTH, 2, NULL, 0);
	vec("64-bit msb", WS_ROLE_CLIENT, WS_MSG_MAX, msb, sizeof msb);
	/* 2^63 - 1: well-formed, but over any message limit. */
	uint8_t huge[] = { 0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	want_reset();
	want_end(WS_ERR_TOO_BIG, 9, NULL, 0);
	vec("64-bit max", WS_ROLE_CLIENT, WS_MSG_MAX, huge, sizeof huge);
	/* A long frame whose payload has not all arrived: its bytes are reported as they come. */
	mk(big, 0x82, key5, 300, 0, NULL);
	want_reset();
	want_end(WS_MORE, 0, "abcdefghijklmnopqrstuvwxyz", 10);
	vec("partial payload", WS_ROLE_SERVER, WS_MSG_MAX, big, 8 + 10);
}

/* Message size at N and N + 1: one frame, and the sum of fragments. */
static void
test_msg_max(void)
{
	for (size_t j = 0; j < WS_MSG_MAX + 1; j++)
		pay[j] = (uint8_t)('a' + j % 26);
	size_t n = mk(big, 0x82, key5, WS_MSG_MAX, 0, NULL);
	want_reset();
	want_msg(WS_OP_BINARY, pay, WS_MSG_MAX);
	want_end(WS_MORE, 0, NULL, 0);
	vec("message N", WS_ROLE_SERVER, WS_MSG_MAX, big, n);
	n = mk(big, 0x82, key5, WS_MSG_MAX + 1, 0, NULL);
	want_reset();
	want_end(WS_ERR_TOO_BIG, 3, NULL, 0);
	vec("message N+1", WS_ROLE_SERVER, WS_MSG_MAX, big, n);

	/* Fragments: 100 + (N - 100) is fine, 100 + (N - 99) is refused at its length. */
	n = mk(big, 0x02, key5, 100, 0, NULL);
	size_t n2 = mk(big + n, 0x80, key5, WS_MSG_MAX - 100, 0, pay + 100);
	want_reset();
	want_msg(WS_OP_BINARY, pay, WS_MSG_MAX);
	want_end(WS_MORE, 0, NULL, 0);
	vec("fragments N", WS_ROLE_SERVER, WS_MSG_MAX, big, n + n2);
	n2 = mk(big + n, 0x80, key5, WS_MSG_MAX - 99, 0, pay + 100);
	want_reset();
	want_end(WS_ERR_TOO_BIG, n + 3, pay, 100);
	vec("fragments N+1", WS_ROLE_SERVER, WS_MSG_MAX, big, n + n2);

	/* Each message is counted alone: two messages of N each are fine. */
	n = mk(big, 0x82, key5, WS_MSG_MAX, 0, NULL);
	n2 = mk(big + n, 0x82, key5, WS_MSG_MAX, 0, NULL);
	want_reset();
	want_msg(WS_OP_BINARY, pay, WS_MSG_MAX);
	want_msg(WS_OP_BINARY, pay, WS_MSG_MAX);
	want_end(WS_MORE, 0, NULL, 0);
	vec("two messages N", WS_ROLE_SERVER, WS_MSG_MAX, big, n + n2);

	/* Control frames do not count towards a message; a tiny limit still passes pings. */
	n = mk(big, 0x89, key5, 125, 0, NULL);
	want_reset();
	want_ctl(WS_PING, pay, 125);
	want_end(WS_MORE, 0, NULL, 0);
	vec("ping under msg_max 0", WS_ROLE_SERVER, 0, big, n);

	/* The limit honours the largest honest client message (rvpn §6.4, §7.2). */
	CHECK(WS_MSG_MAX == 16384 + 78);
}

/* Control frames: 125 / 126, fragmented, and interleaved between fragments. */
static void
test_control(void)
{
	size_t n = mk(big, 0x89, key5, WS_CONTROL_MAX, 0, NULL);
	want_reset();
	want_ctl(WS_PING, pay, WS_CONTROL_MAX);
	want_end(WS_MORE, 0, NULL, 0);
	for (size_t j = 0; j < 200; j++)
		pay[j] = (uint8_t)('a' + j % 26);
	vec("ping 125", WS_ROLE_SERVER, WS_MSG_MAX, big, n);
	n = mk(big, 0x89, key5, WS_CONTROL_MAX + 1, 0, NULL);
	want_reset();
	want_end(WS_ERR_CONTROL_LEN, 1, NULL, 0);
	vec("ping 126", WS_ROLE_SERVER, WS_MSG_MAX, big, n);
	n = mk(big, 0x8a, NULL, WS_CONTROL_MAX + 1, 0, NULL);
	vec("pong 126", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);
	n = mk(big, 0x88, NULL, 0xffff, 0, NULL);
	vec("close 65535", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);

	/* Empty ping and pong. */
	uint8_t e[] = { 0x89, 0x80, 1, 2, 3, 4, 0x8a, 0x80, 1, 2, 3, 4 };
	want_reset();
	want_ctl(WS_PING, NULL, 0);
	want_ctl(WS_PONG, NULL, 0);
	want_end(WS_MORE, 0, NULL, 0);
	vec("empty ping pong", WS_ROLE_SERVER, WS_MSG_MAX, e, sizeof e);

	/* A control frame without FIN. */
	uint8_t f[] = { 0x09, 0x80, 1, 2, 3, 4 };
	want_reset();
	want_end(WS_ERR_CONTROL_FRAG, 0, NULL, 0);
	vec("ping without fin", WS_ROLE_SERVER, WS_MSG_MAX, f, sizeof f);

	/* Text "Hel" + ping + pong + "lo" (masked, server role): the control frames come out
	 * first, the message whole after them. */
	n = mk(big, 0x01, key5, 3, 0, "Hel");
	n += mk(big + n, 0x89, key5, 4, 0, "ping");
	n += mk(big + n, 0x8a, key5, 0, 0, NULL);
	n += mk(big + n, 0x00, key5, 0, 0, NULL); /* an empty middle fragment */
	n += mk(big + n, 0x80, key5, 2, 0, "lo");
	want_reset();
	want_ctl(WS_PING, "ping", 4);
	want_ctl(WS_PONG, NULL, 0);
	want_msg(WS_OP_TEXT, "Hello", 5);
	want_end(WS_MORE, 0, NULL, 0);
	vec("fragments with ping", WS_ROLE_SERVER, WS_MSG_MAX, big, n);

	/* Binary in three fragments, a ping between each, then a second message. */
	n = mk(big, 0x02, NULL, 2, 0, "ab");
	n += mk(big + n, 0x89, NULL, 1, 0, "1");
	n += mk(big + n, 0x00, NULL, 2, 0, "cd");
	n += mk(big + n, 0x89, NULL, 1, 0, "2");
	n += mk(big + n, 0x80, NULL, 0, 0, NULL); /* empty final fragment */
	n += mk(big + n, 0x82, NULL, 1, 0, "z");
	want_reset();
	want_ctl(WS_PING, "1", 1);
	want_ctl(WS_PING, "2", 1);
	want_msg(WS_OP_BINARY, "abcd", 4);
	want_msg(WS_OP_BINARY, "z", 1);
	want_end(WS_MORE, 0, NULL, 0);
	vec("binary fragments", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);

	/* An empty binary message. */
	uint8_t z[] = { 0x82, 0x00 };
	want_reset();
	want_msg(WS_OP_BINARY, NULL, 0);
	want_end(WS_MORE, 0, NULL, 0);
	vec("empty message", WS_ROLE_CLIENT, WS_MSG_MAX, z, sizeof z);
}

/* Masking per role: the server refuses unmasked frames, the client masked ones. */
static void
test_mask_rule(void)
{
	size_t n = mk(big, 0x82, NULL, 3, 0, "abc");
	want_reset();
	want_end(WS_ERR_MASK, 1, NULL, 0);
	vec("server, unmasked", WS_ROLE_SERVER, WS_MSG_MAX, big, n);
	n = mk(big, 0x89, NULL, 0, 0, NULL);
	vec("server, unmasked ping", WS_ROLE_SERVER, WS_MSG_MAX, big, n);
	n = mk(big, 0x82, key5, 3, 0, "abc");
	vec("client, masked", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);
	want_reset();
	want_msg(WS_OP_BINARY, "abc", 3);
	want_end(WS_MORE, 0, NULL, 0);
	vec("server, masked", WS_ROLE_SERVER, WS_MSG_MAX, big, n);
	/* An all-zero key is still a masked frame. */
	static const uint8_t zero[4] = { 0 };
	n = mk(big, 0x82, zero, 3, 0, "abc");
	vec("server, zero key", WS_ROLE_SERVER, WS_MSG_MAX, big, n);
	/* A masked frame after a good one: the error is at its second byte. */
	n = mk(big, 0x82, NULL, 3, 0, "abc");
	size_t n2 = mk(big + n, 0x82, key5, 3, 0, "def");
	want_reset();
	want_msg(WS_OP_BINARY, "abc", 3);
	want_end(WS_ERR_MASK, n + 1, NULL, 0);
	vec("client, second masked", WS_ROLE_CLIENT, WS_MSG_MAX, big, n + n2);
}

/* Reserved bits and opcodes, fragmentation order. */
static void
test_header_errors(void)
{
	for (unsigned rsv = 1; rsv < 8; rsv++) {
		uint8_t f[] = { (uint8_t)(0x82 | rsv << 4), 0x80, 1, 2, 3, 4 };
		want_reset();
		want_end(WS_ERR_RSV, 0, NULL, 0);
		vec("rsv", WS_ROLE_SERVER, WS_MSG_MAX, f, sizeof f);
	}
	for (unsigned op = 0; op < 16; op++) {
		if (op <= 2 || (op >= 8 && op <= 0xa))
			continue;
		uint8_t f[] = { (uint8_t)(0x80 | op), 0x80, 1, 2, 3, 4 };
		want_reset();
		want_end(WS_ERR_OPCODE, 0, NULL, 0);
		vec("reserved opcode", WS_ROLE_SERVER, WS_MSG_MAX, f, sizeof f);
	}
	/* A continuation with no message open. */
	uint8_t c[] = { 0x80, 0x01, 'x' };
	want_reset();
	want_end(WS_ERR_FRAGMENT, 0, NULL, 0);
	vec("lone continuation", WS_ROLE_CLIENT, WS_MSG_MAX, c, sizeof c);
	/* A continuation after a finished message. */
	uint8_t c2[] = { 0x82, 0x01, 'a', 0x80, 0x01, 'x' };
	want_reset();
	want_msg(WS_OP_BINARY, "a", 1);
	want_end(WS_ERR_FRAGMENT, 3, NULL, 0);
	vec("continuation after fin", WS_ROLE_CLIENT, WS_MSG_MAX, c2, sizeof c2);
	/* A new message inside a fragmented one. */
	uint8_t c3[] = { 0x02, 0x01, 'a', 0x82, 0x01, 'x' };
	want_reset();
	want_end(WS_ERR_FRAGMENT, 3, "a", 1);
	vec("binary inside fragments", WS_ROLE_CLIENT, WS_MSG_MAX, c3, sizeof c3);
	uint8_t c4[] = { 0x01, 0x01, 'a', 0x01, 0x01, 'x' };
	want_reset();
	want_end(WS_ERR_FRAGMENT, 3, "a", 1);
	vec("text inside fragments", WS_ROLE_CLIENT, WS_MSG_MAX, c4, sizeof c4);
	/* Errors are final. */
	struct ws_dec d;
	struct ws_event ev;
	size_t used;
	ws_dec_init(&d, WS_ROLE_CLIENT, WS_MSG_MAX);
	CHECK(ws_dec_feed(&d, c, sizeof c, &used, &ev) == WS_ERR_FRAGMENT && used == 0);
	CHECK(ws_dec_feed(&d, c2, sizeof c2, &used, &ev) == WS_ERR_FRAGMENT && used == 0);
}

/* Close payloads: empty, 1 byte, each class of status code, the reason's UTF-8. */
static void
test_close(void)
{
	uint8_t f[WS_HDR_MAX + WS_CONTROL_MAX];
	size_t n = mk(f, 0x88, key5, 0, 0, NULL);
	want_reset();
	want_close(WS_CLOSE_NO_STATUS, NULL, 0);
	want_end(WS_MORE, 0, NULL, 0);
	vec("close empty", WS_ROLE_SERVER, WS_MSG_MAX, f, n);
	n = mk(f, 0x88, key5, 1, 0, "\x03");
	want_reset();
	want_end(WS_ERR_CLOSE, n, NULL, 0);
	vec("close 1 byte", WS_ROLE_SERVER, WS_MSG_MAX, f, n);

	static const struct {
		uint16_t code;
		bool     ok;
	} codes[] = {
		{ 0, false }, { 999, false }, { 1000, true }, { 1001, true }, { 1003, true },
		{ 1004, false }, { 1005, false }, { 1006, false }, { 1007, true }, { 1011, true },
		{ 1012, true }, { 1014, true }, { 1015, false }, { 1016, false }, { 2999, false },
		{ 3000, true }, { 4999, true }, { 5000, false }, { 65535, false },
	};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		uint8_t body[] = { (uint8_t)(codes[i].code >> 8), (uint8_t)codes[i].code, 'o', 'k' };
		n = mk(f, 0x88, NULL, sizeof body, 0, body);
		want_reset();
		if (codes[i].ok) {
			want_close(codes[i].code, "ok", 2);
			want_end(WS_MORE, 0, NULL, 0);
		} else {
			want_end(WS_ERR_CLOSE, n, NULL, 0);
		}
		char name[32];
		snprintf(name, sizeof name, "close code %u", codes[i].code);
		vec(name, WS_ROLE_CLIENT, WS_MSG_MAX, f, n);
		CHECK(ws_close_code_valid(codes[i].code) == codes[i].ok);
	}
	/* Reason: 123 bytes is the most that fits; not UTF-8 is refused. */
	uint8_t body[WS_CONTROL_MAX];
	body[0] = 0x03;
	body[1] = 0xe8;
	memset(body + 2, 'r', WS_CLOSE_REASON_MAX);
	n = mk(f, 0x88, key5, WS_CONTROL_MAX, 0, body);
	want_reset();
	want_close(1000, body + 2, WS_CLOSE_REASON_MAX);
	want_end(WS_MORE, 0, NULL, 0);
	vec("close reason 123", WS_ROLE_SERVER, WS_MSG_MAX, f, n);
	memcpy(body + 2, "\xed\xa0\x80", 3); /* a surrogate */
	n = mk(f, 0x88, key5, 5, 0, body);
	want_reset();
	want_end(WS_ERR_UTF8, n, NULL, 0);
	vec("close reason bad utf-8", WS_ROLE_SERVER, WS_MSG_MAX, f, n);
	memcpy(body + 2, "\xe2\x82", 2); /* cut short */
	n = mk(f, 0x88, key5, 4, 0, body);
	want_reset();
	want_end(WS_ERR_UTF8, n, NULL, 0);
	vec("close reason cut utf-8", WS_ROLE_SERVER, WS_MSG_MAX, f, n);

	/* A close between fragments is reported; anything after a close is refused. */
	n = mk(big, 0x02, key5, 2, 0, "ab");
	n += mk(big + n, 0x88, key5, 2, 0, "\x03\xe8");
	size_t after = n;
	n += mk(big + n, 0x80, key5, 2, 0, "cd");
	want_reset();
	want_close(1000, NULL, 0);
	want_end(WS_ERR_AFTER_CLOSE, after, "ab", 2);
	vec("data after close", WS_ROLE_SERVER, WS_MSG_MAX, big, n);
	want_reset();
	want_close(1000, NULL, 0);
	want_end(WS_MORE, 0, "ab", 2);
	vec("close ends the stream", WS_ROLE_SERVER, WS_MSG_MAX, big, after);
}

/* UTF-8 in Text messages: valid across fragment splits, bad bytes, cut characters. */
static void
test_utf8(void)
{
	/* "é€😀" split inside characters across three fragments. */
	static const char s[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	size_t n = mk(big, 0x01, key5, 1, 0, s);
	n += mk(big + n, 0x00, key5, 3, 0, s + 1);
	n += mk(big + n, 0x80, key5, 5, 0, s + 4);
	want_reset();
	want_msg(WS_OP_TEXT, s, 9);
	want_end(WS_MORE, 0, NULL, 0);
	vec("utf-8 across fragments", WS_ROLE_SERVER, WS_MSG_MAX, big, n);

	/* A bad byte in the middle: the bytes before it are data, then the error at it. */
	n = mk(big, 0x81, key5, 6, 0, "ab\xc0\x80" "cd");
	want_reset();
	want_end(WS_ERR_UTF8, 6 + 2, "ab", 2);
	vec("utf-8 overlong", WS_ROLE_SERVER, WS_MSG_MAX, big, n);
	n = mk(big, 0x81, NULL, 3, 0, "\xed\xa0\x80");
	want_reset();
	want_end(WS_ERR_UTF8, 2 + 1, "\xed", 1);
	vec("utf-8 surrogate", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);
	n = mk(big, 0x81, NULL, 4, 0, "\xf4\x90\x80\x80");
	want_reset();
	want_end(WS_ERR_UTF8, 2 + 1, "\xf4", 1);
	vec("utf-8 above U+10FFFF", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);
	n = mk(big, 0x81, NULL, 1, 0, "\xff");
	want_reset();
	want_end(WS_ERR_UTF8, 2, NULL, 0);
	vec("utf-8 ff", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);
	/* A message ending inside a character: refused at its end. */
	n = mk(big, 0x81, NULL, 3, 0, "a\xe2\x82");
	want_reset();
	want_end(WS_ERR_UTF8, n, "a\xe2\x82", 3);
	vec("utf-8 cut at fin", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);
	n = mk(big, 0x01, NULL, 2, 0, "\xe2\x82");
	size_t n2 = mk(big + n, 0x80, NULL, 0, 0, NULL);
	want_reset();
	want_end(WS_ERR_UTF8, n + n2, "\xe2\x82", 2);
	vec("utf-8 cut, empty fin", WS_ROLE_CLIENT, WS_MSG_MAX, big, n + n2);
	/* Binary is never checked. */
	n = mk(big, 0x82, NULL, 2, 0, "\xff\xfe");
	want_reset();
	want_msg(WS_OP_BINARY, "\xff\xfe", 2);
	want_end(WS_MORE, 0, NULL, 0);
	vec("binary not utf-8", WS_ROLE_CLIENT, WS_MSG_MAX, big, n);

	CHECK(ws_utf8_valid((const uint8_t *)"", 0));
	CHECK(ws_utf8_valid((const uint8_t *)s, 9));
	CHECK(ws_utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));
	CHECK(ws_utf8_valid((const uint8_t *)"\xed\x9f\xbf", 3));
	CHECK(!ws_utf8_valid((const uint8_t *)"\xe0\x9f\xbf", 3));
	CHECK(!ws_utf8_valid((const uint8_t *)"\xf0\x8f\xbf\xbf", 4));
	CHECK(!ws_utf8_valid((const uint8_t *)"\xc1\xbf", 2));
	CHECK(!ws_utf8_valid((const uint8_t *)"\x80", 1));
	CHECK(!ws_utf8_valid((const uint8_t *)"\xf5\x80\x80\x80", 4));
}

/* Sec-WebSocket-Key validation and Sec-WebSocket-Accept (RFC 6455 §1.3, §4.1, §4.2.2). */
static void
test_handshake_keys(void)
{
	char out[WS_ACCEPT_LEN + 1];
	static const char k[] = "dGhlIHNhbXBsZSBub25jZQ==";
	CHECK(ws_key_valid(k, 24));
	CHECK(ws_accept(k, 24, out) == 0 && strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);

	CHECK(!ws_key_valid(k, 23));
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ===", 25));
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZR==", 24)); /* stray bits in the last char */
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=A", 24));
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25j-Q==", 24)); /* base64url is not base64 */
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQAA", 24));
	CHECK(!ws_key_valid("dGhl IHNhbXBsZSBub25jZQ=", 24));
	CHECK(ws_key_valid("/+9zAAAAAAAAAAAAAAAAAA==", 24));
	CHECK(ws_key_valid("AAAAAAAAAAAAAAAAAAAAAw==", 24));
	CHECK(ws_accept("dGhlIHNhbXBsZSBub25jZR==", 24, out) == -1);

	/* The client role: the nonce "the sample nonce" encodes to the §1.3 key. */
	char key[WS_KEY_LEN + 1];
	ws_key_encode((const uint8_t *)"the sample nonce", key);
	CHECK(strcmp(key, k) == 0);
	uint8_t nonce[WS_NONCE_LEN];
	for (unsigned i = 0; i < 256; i++) {
		memset(nonce, (int)i, sizeof nonce);
		nonce[15] = (uint8_t)(i * 31);
		ws_key_encode(nonce, key);
		CHECKF(ws_key_valid(key, strlen(key)), "encoded key %u", i);
	}
}

/* Verdict names and the Close codes sent back. */
static void
test_verdict_names(void)
{
	for (int i = 0; i < WS_VERDICT_COUNT; i++) {
		CHECK(strcmp(ws_verdict_str((enum ws_verdict)i), "unknown") != 0);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(ws_verdict_str((enum ws_verdict)i),
			    ws_verdict_str((enum ws_verdict)j)) != 0);
	}
	CHECK(strcmp(ws_verdict_str(WS_VERDICT_COUNT), "unknown") == 0);
	CHECK(ws_verdict_close_code(WS_ERR_TOO_BIG) == 1009);
	CHECK(ws_verdict_close_code(WS_ERR_UTF8) == 1007);
	CHECK(ws_verdict_close_code(WS_ERR_MASK) == 1002);
	CHECK(ws_verdict_is_err(WS_ERR_RSV) && !ws_verdict_is_err(WS_CLOSE));
}

int
main(void)
{
	test_rfc_examples();
	test_encoder();
	test_length_forms();
	test_msg_max();
	test_control();
	test_mask_rule();
	test_header_errors();
	test_close();
	test_utf8();
	test_handshake_keys();
	test_verdict_names();
	return check_summary();
}
