/*
 * TLS ClientHello pre-reader (see tls_hello.h): a small record de-framer in C hands the
 * handshake-record payload bytes to a Ragel machine that reads the ClientHello body as
 * RFC 8446 §4.1.2 writes it. Fully resumable: the Ragel state, call stack, vector ends and
 * the partial integer live in struct tls_hello_state, and each fed chunk is one exec.
 * It must never allocate, keep a pointer to the caller's bytes, or read past the end of
 * the ClientHello message (trailing bytes belong to whoever gets the stream next).
 *
 * Length-prefixed vectors: every open vector is one entry of a stack of handshake offsets
 * (st.ends) paired with Ragel's fcall stack, so a vector is entered with fcall and left with
 * fret when the element that ends at its last byte is complete. Bytes that only need
 * skipping (random excepted) or copying are consumed in bulk by the `skip` machine.
 */
#include <string.h>

#include "proto/rd.h"
#include "proto/tls_hello.h"

/*
 * Record layer (RFC 8446 §5.1), read by tls_hello_feed:
 *
 *   +------+---------+---------+----------------------------+
 *   | type | version | length  | fragment (length bytes)    |  type 22 = handshake
 *   |  1   |    2    |    2    | 1 .. 2^14                  |  version major must be 3
 *   +------+---------+---------+----------------------------+
 *
 * The fragments of consecutive handshake records form the handshake stream; the hello may
 * be split over any number of records. An SSLv2 CLIENT-HELLO starts instead with a 2-byte
 * header (high bit set) followed by msg_type 1.
 *
 * Handshake stream (RFC 8446 §4, §4.1.2), read by the Ragel machine below:
 *
 *   msg_type(1)=1  length(3)
 *   ClientHello:
 *     legacy_version(2)  random(32)
 *     legacy_session_id<0..32>             u8 length
 *     cipher_suites<2..2^16-2>             u16 length
 *     legacy_compression_methods<1..2^8-1> u8 length
 *     extensions<8..2^16-1>                u16 length; may be absent (SSLv3-style hello)
 *   Extension: extension_type(2) extension_data<0..2^16-1>
 *     server_name (0)        ServerNameList<1..2^16-1>: name_type(1) HostName<1..2^16-1>
 *     ALPN (16)              ProtocolNameList<2..2^16-1>: ProtocolName<1..2^8-1>
 *     supported_versions (43) ProtocolVersion versions<2..254>
 *     key_share (51)         KeyShareEntry client_shares<0..2^16-1>:
 *                              group(2) key_exchange<1..2^16-1>
 *     encrypted_client_hello (0xfe0d): presence only
 */

#define EXT_SERVER_NAME		0x0000	/* RFC 6066 §3 */
#define EXT_ALPN		0x0010	/* RFC 7301 §3.1 */
#define EXT_SUPPORTED_VERSIONS	0x002b	/* RFC 8446 §4.2.1 */
#define EXT_KEY_SHARE		0x0033	/* RFC 8446 §4.2.8 */
#define EXT_ECH			0xfe0d	/* draft-ietf-tls-esni */
#define NAME_TYPE_HOST_NAME	0	/* RFC 6066 §3 */
#define CONTENT_HANDSHAKE	22
#define HS_HEADER_LEN		4	/* msg_type(1) length(3) */

/* Where the skip machine copies the bytes it passes over. */
enum copy_to {
	COPY_NONE,
	COPY_SNI,
	COPY_ALPN
};

/* What vec_close found after an element ended. */
enum close_result {
	CLOSE_STAY,	/* the innermost vector goes on */
	CLOSE_RET,	/* vectors were closed: the caller must fret */
	CLOSE_ERR	/* the element overran its vector: MALFORMED set */
};

/* Stops the parse with MALFORMED and a reason; the caller then breaks out of the machine. */
static void
fail(struct tls_hello *h, enum tls_hello_malformed why)
{
	h->malformed = why;
	h->st.verdict = TLS_HELLO_ERR_MALFORMED;
}

/* The reason for a length disagreement at the current depth: inside an extension body the
 * extension's own reason (BAD_SNI, BAD_ALPN), elsewhere TLS_MAL_LENGTH. */
static enum tls_hello_malformed
length_reason(const struct tls_hello *h)
{
	return h->st.top >= 2 ? (enum tls_hello_malformed)h->st.ext_mal : TLS_MAL_LENGTH;
}

/* Opens a vector of len > 0 bytes starting at handshake offset start; it must fit in the
 * innermost open vector (or the message). Returns false with MALFORMED set otherwise. The
 * caller then fcalls the machine that reads the content (which pushes the return state). */
static bool
vec_push(struct tls_hello *h, uint32_t start, uint32_t len)
{
	struct tls_hello_state *st = &h->st;
	uint32_t limit = st->top > 0 ? st->ends[st->top - 1] : st->msg_end;

	if (len > limit || start > limit - len) {
		fail(h, length_reason(h));
		return false;
	}
	if (st->top >= TLS_HELLO_DEPTH) {
		/* The grammar nests at most TLS_HELLO_DEPTH deep; never reached. */
		fail(h, TLS_MAL_LENGTH);
		return false;
	}
	st->ends[st->top] = start + len;
	return true;
}

/* An element of the innermost open vector ended just before handshake offset next: close
 * that vector and every enclosing one that ends there too (each was the last part of its
 * element). On CLOSE_RET top is left one above the level to return to, for fret. */
static enum close_result
vec_close(struct tls_hello *h, uint32_t next)
{
	struct tls_hello_state *st = &h->st;
	int t = st->top;

	if (t == 0 || next < st->ends[t - 1])
		return CLOSE_STAY;
	if (next > st->ends[t - 1]) {
		fail(h, length_reason(h));
		return CLOSE_ERR;
	}
	while (t >= 2 && st->ends[t - 2] == next)
		t--;
	st->top = t;
	return CLOSE_RET;
}

/* Records an extension type; false with MALFORMED on a duplicate or one too many. The
 * sorted array makes the duplicate check exact in bounded memory. */
static bool
ext_seen(struct tls_hello *h, uint16_t type)
{
	struct tls_hello_state *st = &h->st;
	size_t lo = 0, hi = st->n_ext;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (st->ext_types[mid] == type) {
			fail(h, TLS_MAL_DUPLICATE_EXT);
			return false;
		}
		if (st->ext_types[mid] < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (st->n_ext >= TLS_HELLO_EXT_MAX) {
		fail(h, TLS_MAL_TOO_MANY_EXT);
		return false;
	}
	memmove(&st->ext_types[lo + 1], &st->ext_types[lo],
	    (st->n_ext - lo) * sizeof st->ext_types[0]);
	st->ext_types[lo] = type;
	st->n_ext++;
	return true;
}

/* Copies the n fed bytes at handshake offset pos into sni or alpn, up to their size. */
static void
copy_bytes(struct tls_hello *h, uint32_t pos, const uint8_t *src, size_t n)
{
	uint8_t *dst;
	size_t cap, off = pos - h->st.copy_base;

	switch (h->st.copy) {
	case COPY_SNI:
		dst = h->sni;
		cap = sizeof h->sni;
		break;
	case COPY_ALPN:
		dst = h->alpn;
		cap = sizeof h->alpn;
		break;
	default:
		return;
	}
	if (off >= cap)
		return;
	if (n > cap - off)
		n = cap - off;
	memcpy(dst + off, src, n);
}

%%{
	machine tls_hello;
	alphtype unsigned char;
	access h->st.;

	# Position of byte q in the handshake stream (p, buf and base belong to body_exec).
	# Every action that fails calls fail() and then fbreak.

	# Integers, big-endian, accumulated in st.acc so they may straddle chunks.
	action hi { h->st.acc = fc; }
	action lo { h->st.acc = (h->st.acc << 8) | fc; }
	u8  = any @hi;
	u16 = any @hi any @lo;
	u24 = any @hi any @lo any @lo;

	# --- skip: consume the rest of the innermost vector in bulk, copying if asked. ---
	action skip_run {
		uint32_t here = POS(p);
		size_t n = (size_t)(h->st.ends[h->st.top - 1] - here);
		if (n > (size_t)(pe - p))
			n = (size_t)(pe - p);
		if (h->st.copy != COPY_NONE)
			copy_bytes(h, here, p, n);
		fexec p + n;
		/* p now points at the last byte taken. */
		if (here + n == h->st.ends[h->st.top - 1]) {
			vec_close(h, here + (uint32_t)n);
			fret;
		}
	}
	skip := ( any @skip_run )*;

	# --- Element ends: close the vectors that end here, or fail on an overrun. ---
	action element_end {
		switch (vec_close(h, POS(p) + 1)) {
		case CLOSE_ERR: fbreak;
		case CLOSE_RET: fret;
		case CLOSE_STAY: break;
		}
	}

	# --- server_name (RFC 6066 §3) ---
	action server_name_list_open {
		if (h->st.acc == 0) {
			fail(h, TLS_MAL_BAD_SNI);
			fbreak;
		}
		if (!vec_push(h, POS(p) + 1, h->st.acc))
			fbreak;
		fcall server_name_list;
	}
	action name_type { h->st.name_type = (uint8_t)h->st.acc; }
	action server_name_open {
		uint32_t len = h->st.acc;
		if (h->st.name_type == NAME_TYPE_HOST_NAME) {
			if (len == 0 || h->has_sni) {
				fail(h, TLS_MAL_BAD_SNI);
				fbreak;
			}
			if (!vec_push(h, POS(p) + 1, len))
				fbreak;
			h->has_sni = true;
			h->sni_len = (uint16_t)len;
			h->st.copy = COPY_SNI;
			h->st.copy_base = POS(p) + 1;
			fcall skip;
		}
		/* Future name types start with a u16 length too (RFC 6066 §3). */
		h->st.copy = COPY_NONE;
		if (len > 0) {
			if (!vec_push(h, POS(p) + 1, len))
				fbreak;
			fcall skip;
		}
		switch (vec_close(h, POS(p) + 1)) {
		case CLOSE_ERR: fbreak;
		case CLOSE_RET: fret;
		case CLOSE_STAY: break;
		}
	}
	server_name_ext := u16 @server_name_list_open;
	server_name_list := ( u8 @name_type u16 @server_name_open )*;

	# --- application_layer_protocol_negotiation (RFC 7301 §3.1) ---
	action protocol_name_list_open {
		if (h->st.acc < 2) {
			fail(h, TLS_MAL_BAD_ALPN);
			fbreak;
		}
		if (!vec_push(h, POS(p) + 1, h->st.acc))
			fbreak;
		h->has_alpn = true;
		h->alpn_len = (uint16_t)h->st.acc;
		h->st.copy = COPY_ALPN;
		h->st.copy_base = POS(p) + 1;
		fcall protocol_name_list;
	}
	action protocol_name_open {
		uint8_t b = (uint8_t)h->st.acc;
		copy_bytes(h, POS(p), &b, 1);
		if (h->st.acc == 0) {
			fail(h, TLS_MAL_BAD_ALPN);
			fbreak;
		}
		if (!vec_push(h, POS(p) + 1, h->st.acc))
			fbreak;
		fcall skip;
	}
	alpn_ext := u16 @protocol_name_list_open;
	protocol_name_list := ( u8 @protocol_name_open )*;

	# --- supported_versions, ClientHello form (RFC 8446 §4.2.1) ---
	action versions_open {
		if (h->st.acc < 2) {
			fail(h, TLS_MAL_TRUNCATED);
			fbreak;
		}
		if ((h->st.acc & 1) != 0) {
			fail(h, TLS_MAL_LENGTH);
			fbreak;
		}
		if (!vec_push(h, POS(p) + 1, h->st.acc))
			fbreak;
		fcall versions;
	}
	action version {
		if (h->n_versions < TLS_HELLO_VERSIONS_MAX)
			h->versions[h->n_versions++] = (uint16_t)h->st.acc;
		h->versions_total++;
	}
	supported_versions_ext := u8 @versions_open;
	versions := ( u16 @version @element_end )*;

	# --- key_share, ClientHello form (RFC 8446 §4.2.8) ---
	action client_shares_open {
		if (h->st.acc == 0) {
			/* An empty list is legal (the client waits for a HelloRetryRequest). */
			switch (vec_close(h, POS(p) + 1)) {
			case CLOSE_ERR: fbreak;
			case CLOSE_RET: fret;
			case CLOSE_STAY: break;
			}
		} else {
			if (!vec_push(h, POS(p) + 1, h->st.acc))
				fbreak;
			fcall client_shares;
		}
	}
	action group {
		if (h->n_groups < TLS_HELLO_GROUPS_MAX)
			h->groups[h->n_groups++] = (uint16_t)h->st.acc;
		h->groups_total++;
	}
	action key_exchange_open {
		if (h->st.acc == 0) {
			fail(h, TLS_MAL_TRUNCATED);
			fbreak;
		}
		if (!vec_push(h, POS(p) + 1, h->st.acc))
			fbreak;
		fcall skip;
	}
	key_share_ext := u16 @client_shares_open;
	client_shares := ( u16 @group u16 @key_exchange_open )*;

	# --- Extension (RFC 8446 §4.2) ---
	action ext_type {
		if (!ext_seen(h, (uint16_t)h->st.acc))
			fbreak;
		h->st.ext_type = (uint16_t)h->st.acc;
	}
	action ext_open {
		uint32_t len = h->st.acc;
		uint16_t type = h->st.ext_type;

		h->st.copy = COPY_NONE;
		h->st.ext_mal = type == EXT_SERVER_NAME ? TLS_MAL_BAD_SNI :
		    type == EXT_ALPN ? TLS_MAL_BAD_ALPN : TLS_MAL_LENGTH;
		if (type == EXT_ECH)
			h->has_ech = true;
		if (len == 0) {
			if (type == EXT_SERVER_NAME || type == EXT_ALPN) {
				fail(h, (enum tls_hello_malformed)h->st.ext_mal);
				fbreak;
			}
			if (type == EXT_SUPPORTED_VERSIONS || type == EXT_KEY_SHARE) {
				fail(h, TLS_MAL_TRUNCATED);
				fbreak;
			}
			switch (vec_close(h, POS(p) + 1)) {
			case CLOSE_ERR: fbreak;
			case CLOSE_RET: fret;
			case CLOSE_STAY: break;
			}
		} else {
			if (!vec_push(h, POS(p) + 1, len))
				fbreak;
			switch (type) {
			case EXT_SERVER_NAME: fcall server_name_ext;
			case EXT_ALPN: fcall alpn_ext;
			case EXT_SUPPORTED_VERSIONS: fcall supported_versions_ext;
			case EXT_KEY_SHARE: fcall key_share_ext;
			default: fcall skip;
			}
		}
	}
	extension_list := ( u16 @ext_type u16 @ext_open )*;

	# --- ClientHello (RFC 8446 §4.1.2) ---
	action not_client_hello {
		fail(h, TLS_MAL_NOT_CLIENT_HELLO);
		fbreak;
	}
	action hs_length {
		if (h->st.acc > h->st.max_hello) {
			h->st.verdict = TLS_HELLO_ERR_TOO_LARGE;
			fbreak;
		}
		h->st.msg_end = POS(p) + 1 + h->st.acc;
	}
	action legacy_version { h->legacy_version = (uint16_t)h->st.acc; }
	action session_id_open {
		if (h->st.acc > TLS_HELLO_SESSION_ID_MAX) {
			fail(h, TLS_MAL_LENGTH);
			fbreak;
		}
		if (h->st.acc > 0) {
			if (!vec_push(h, POS(p) + 1, h->st.acc))
				fbreak;
			fcall skip;
		}
	}
	action cipher_suites_open {
		if (h->st.acc < 2) {
			fail(h, TLS_MAL_TRUNCATED);
			fbreak;
		}
		if ((h->st.acc & 1) != 0) {
			fail(h, TLS_MAL_LENGTH);
			fbreak;
		}
		if (!vec_push(h, POS(p) + 1, h->st.acc))
			fbreak;
		fcall skip;
	}
	action compression_methods_open {
		if (h->st.acc < 1) {
			fail(h, TLS_MAL_TRUNCATED);
			fbreak;
		}
		if (!vec_push(h, POS(p) + 1, h->st.acc))
			fbreak;
		fcall skip;
	}
	action extensions_open {
		/* extensions<8..2^16-1> in TLS 1.3; TLS 1.2 allows an empty block. */
		if (h->st.acc > 0) {
			if (!vec_push(h, POS(p) + 1, h->st.acc))
				fbreak;
			fcall extension_list;
		}
	}

	hs_type = 0x01 | (any - 0x01) @not_client_hello;

	client_hello =
		u16 @legacy_version
		any{32}				# random
		u8  @session_id_open
		u16 @cipher_suites_open
		u8  @compression_methods_open
		( u16 @extensions_open )?;	# absent in an SSLv3-style hello

	main := hs_type u24 @hs_length client_hello;

	write data;
}%%

#define POS(q) (base + (uint32_t)((q) - buf))

/* Runs the ClientHello machine over buflen handshake-stream bytes; sets st.verdict on error. */
static void
body_exec(struct tls_hello *h, const uint8_t *buf, size_t buflen)
{
	const uint8_t *p = buf, *pe = buf + buflen;
	const uint32_t base = h->st.hs_pos;

	%% write exec;

	h->st.hs_pos = base + (uint32_t)buflen;
	if (h->st.verdict == TLS_HELLO_MORE && h->st.cs == tls_hello_error) {
		/* A byte where the grammar expects none: a vector ended before its enclosing one. */
		fail(h, length_reason(h));
	}
}

/* Decides the verdict once the last byte of the handshake message was read. */
static void
message_end(struct tls_hello *h)
{
	if (h->st.top == 0 && h->st.cs >= tls_hello_first_final)
		h->st.verdict = TLS_HELLO_DONE;
	else if (h->st.top > 0)
		fail(h, length_reason(h));
	else
		fail(h, TLS_MAL_TRUNCATED);
}

/* Zeroes results and state; clamps max_hello to what a 24-bit length can say. */
void
tls_hello_init(struct tls_hello *h, uint32_t max_hello)
{
	memset(h, 0, sizeof *h);
	if (max_hello == 0)
		max_hello = TLS_HELLO_MAX_DEFAULT;
	if (max_hello > TLS_HELLO_MAX_LIMIT)
		max_hello = TLS_HELLO_MAX_LIMIT;
	h->st.max_hello = max_hello;
	h->st.verdict = TLS_HELLO_MORE;
	h->st.cs = tls_hello_start;
}

/* Reads one record-header byte (the 5-byte TLSPlaintext header, or the first three bytes
 * of an SSLv2 hello); decides NOT_TLS, SSLV2 and RECORD errors as early as possible. */
static void
record_header_byte(struct tls_hello *h, uint8_t b)
{
	struct tls_hello_state *st = &h->st;
	bool first = st->records == 0;

	switch (st->rec_n) {
	case 0:
		if (b == CONTENT_HANDSHAKE)
			break;
		if (first && (b & 0x80) != 0) {
			/* Maybe an SSLv2 2-byte header; its third byte tells. */
			st->sslv2 = 1;
			break;
		}
		if (first)
			st->verdict = TLS_HELLO_ERR_NOT_TLS;
		else
			fail(h, TLS_MAL_RECORD);
		return;
	case 1:
		if (st->sslv2)
			break;
		if (b != 3) {
			if (first)
				st->verdict = TLS_HELLO_ERR_NOT_TLS;
			else
				fail(h, TLS_MAL_RECORD);
			return;
		}
		if (first)
			h->record_version = (uint16_t)(b << 8);
		break;
	case 2:
		if (st->sslv2) {
			st->verdict = b == 0x01 ? TLS_HELLO_ERR_SSLV2 : TLS_HELLO_ERR_NOT_TLS;
			return;
		}
		if (first)
			h->record_version |= b;
		break;
	case 3:
		st->rec_len = (uint16_t)(b << 8);
		break;
	case 4:
		st->rec_len |= b;
		if (st->rec_len == 0 || st->rec_len > TLS_HELLO_RECORD_MAX) {
			fail(h, TLS_MAL_RECORD);
			return;
		}
		st->rec_left = st->rec_len;
		if (st->records < UINT8_MAX)
			st->records++;
		break;
	}
	st->rec_n++;
}

/* De-frames records and hands handshake bytes to the machine, never past the message. */
enum tls_hello_verdict
tls_hello_feed(struct tls_hello *h, const uint8_t *buf, size_t len)
{
	struct tls_hello_state *st = &h->st;
	size_t i = 0;

	while (i < len && st->verdict == TLS_HELLO_MORE) {
		if (st->rec_n < 5) {
			record_header_byte(h, buf[i++]);
			continue;
		}
		/* Record payload: hand the machine at most the rest of the record, of the
		 * 4-byte handshake header (so msg_end is known before the body), and of the
		 * message (so trailing bytes are never read). */
		size_t n = len - i;
		if (n > st->rec_left)
			n = st->rec_left;
		uint32_t stop = st->hs_pos < HS_HEADER_LEN ? HS_HEADER_LEN : st->msg_end;
		if (n > stop - st->hs_pos)
			n = stop - st->hs_pos;
		body_exec(h, buf + i, n);
		i += n;
		st->rec_left -= (uint16_t)n;
		if (st->rec_left == 0)
			st->rec_n = 0;
		if (st->verdict == TLS_HELLO_MORE && st->hs_pos >= HS_HEADER_LEN &&
		    st->hs_pos == st->msg_end) {
			message_end(h);
			if (st->verdict == TLS_HELLO_DONE)
				h->hello_end = st->stream_off + (uint32_t)i;
		}
	}
	st->stream_off += (uint32_t)i;
	return (enum tls_hello_verdict)st->verdict;
}

/* Metric-label names of the verdicts; "unknown" outside the enum. */
const char *
tls_hello_verdict_str(enum tls_hello_verdict v)
{
	static const char *const names[TLS_HELLO_VERDICT_COUNT] = {
		[TLS_HELLO_DONE] = "done",
		[TLS_HELLO_MORE] = "more",
		[TLS_HELLO_ERR_NOT_TLS] = "not_tls",
		[TLS_HELLO_ERR_SSLV2] = "sslv2",
		[TLS_HELLO_ERR_TOO_LARGE] = "too_large",
		[TLS_HELLO_ERR_MALFORMED] = "malformed",
	};

	if ((unsigned)v >= TLS_HELLO_VERDICT_COUNT)
		return "unknown";
	return names[v];
}

/* Metric-label names of the malformed reasons; "unknown" outside the enum. */
const char *
tls_hello_malformed_str(enum tls_hello_malformed m)
{
	static const char *const names[TLS_MAL_COUNT] = {
		[TLS_MAL_NONE] = "none",
		[TLS_MAL_RECORD] = "record",
		[TLS_MAL_NOT_CLIENT_HELLO] = "not_client_hello",
		[TLS_MAL_LENGTH] = "length",
		[TLS_MAL_TRUNCATED] = "truncated",
		[TLS_MAL_DUPLICATE_EXT] = "duplicate_ext",
		[TLS_MAL_TOO_MANY_EXT] = "too_many_ext",
		[TLS_MAL_BAD_SNI] = "bad_sni",
		[TLS_MAL_BAD_ALPN] = "bad_alpn",
	};

	if ((unsigned)m >= TLS_MAL_COUNT)
		return "unknown";
	return names[m];
}

/* Walks the copied ProtocolNameList; a name cut by ALPN_MAX is not returned. */
bool
tls_hello_alpn_next(const struct tls_hello *h, size_t *off, const uint8_t **name, size_t *len)
{
	size_t have = h->alpn_len < TLS_HELLO_ALPN_MAX ? h->alpn_len : TLS_HELLO_ALPN_MAX;
	size_t at = *off;

	if (!h->has_alpn || at >= have)
		return false;
	size_t l = h->alpn[at];
	if (l == 0 || l > have - at - 1)
		return false;
	*name = &h->alpn[at + 1];
	*len = l;
	*off = at + 1 + l;
	return true;
}
