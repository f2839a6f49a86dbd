/*
 * TLS ClientHello pre-reader: the router feeds it whatever bytes arrived on a :443 socket
 * (any split, across TCP reads and TLS records) and it answers DONE / MORE / ERR_<reason>,
 * with the SNI, ALPN list, supported_versions, key_share groups and ECH presence copied
 * into the state struct. It must never allocate, never keep a pointer to the caller's
 * bytes, never do I/O, and never read a byte past the end of the ClientHello message: the
 * caller forwards every byte untouched, so anything reported is a small fixed copy here.
 * The parser itself is a Ragel 6 machine, proto/tls_hello.rl.
 */
#ifndef SY_PROTO_TLS_HELLO_H
#define SY_PROTO_TLS_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_HELLO_MAX_DEFAULT  16384 /* cap on the handshake message body length (config max_hello) */
#define TLS_HELLO_MAX_LIMIT    0xffffff /* a handshake length is 24 bits: larger caps are clamped */
#define TLS_HELLO_SNI_MAX      255   /* bytes of host_name copied; the true length is reported too */
#define TLS_HELLO_ALPN_MAX     256   /* bytes of the raw ALPN ProtocolNameList copied */
#define TLS_HELLO_VERSIONS_MAX 16    /* supported_versions entries kept */
#define TLS_HELLO_GROUPS_MAX   16    /* key_share group ids kept */
#define TLS_HELLO_EXT_MAX      32    /* extensions per hello; one more is TLS_MAL_TOO_MANY_EXT */
#define TLS_HELLO_RECORD_MAX   16384 /* TLSPlaintext.length limit, RFC 8446 §5.1 (2^14) */
#define TLS_HELLO_SESSION_ID_MAX 32  /* legacy_session_id<0..32> */
#define TLS_HELLO_DEPTH        4     /* nested open vectors: extensions, extension, list, item */

/*
 * Verdicts of tls_hello_feed (sticky once not MORE):
 *
 *   TLS_HELLO_DONE           the whole ClientHello message was read; results are valid and
 *                            hello_end is the stream offset just past it
 *   TLS_HELLO_MORE           every byte so far is a valid prefix; feed more
 *   TLS_HELLO_ERR_NOT_TLS    first byte neither 0x16 nor an SSLv2 header (decided on byte 1),
 *                            or the first record's version major is not 3 (byte 2)
 *   TLS_HELLO_ERR_SSLV2      a 2-byte-header SSLv2 CLIENT-HELLO (byte 1 high bit, byte 3 = 1)
 *   TLS_HELLO_ERR_TOO_LARGE  handshake length over max_hello (decided on its 4-byte header)
 *   TLS_HELLO_ERR_MALFORMED  TLS framing but a bad hello: the reason is in h->malformed
 */
enum tls_hello_verdict {
	TLS_HELLO_DONE,
	TLS_HELLO_MORE,
	TLS_HELLO_ERR_NOT_TLS,
	TLS_HELLO_ERR_SSLV2,
	TLS_HELLO_ERR_TOO_LARGE,
	TLS_HELLO_ERR_MALFORMED,
	TLS_HELLO_VERDICT_COUNT
};

/*
 * Reasons for TLS_HELLO_ERR_MALFORMED:
 *
 *   TLS_MAL_RECORD           a record before the hello ends that is not handshake (22), has
 *                            version major != 3, or length 0 or over TLS_HELLO_RECORD_MAX
 *   TLS_MAL_NOT_CLIENT_HELLO handshake type != 1
 *   TLS_MAL_LENGTH           lengths that disagree: a vector overrunning the one around it or
 *                            leaving bytes unread in it, an odd length for a list of u16,
 *                            legacy_session_id over 32 bytes
 *   TLS_MAL_TRUNCATED        a vector shorter than its fixed minimum (cipher_suites < 2,
 *                            compression methods < 1, versions < 2, empty key_exchange), or
 *                            the message ending inside the fixed ClientHello fields
 *   TLS_MAL_DUPLICATE_EXT    one extension type twice
 *   TLS_MAL_TOO_MANY_EXT     over TLS_HELLO_EXT_MAX extensions
 *   TLS_MAL_BAD_SNI          server_name: empty extension or list, zero-length host_name, two
 *                            host_names, any length inside it that disagrees
 *   TLS_MAL_BAD_ALPN         ALPN: list under 2 bytes, empty protocol name, lengths disagree
 */
enum tls_hello_malformed {
	TLS_MAL_NONE,
	TLS_MAL_RECORD,
	TLS_MAL_NOT_CLIENT_HELLO,
	TLS_MAL_LENGTH,
	TLS_MAL_TRUNCATED,
	TLS_MAL_DUPLICATE_EXT,
	TLS_MAL_TOO_MANY_EXT,
	TLS_MAL_BAD_SNI,
	TLS_MAL_BAD_ALPN,
	TLS_MAL_COUNT
};

/* Private parse state: the Ragel machine, the record de-framer and open vectors. */
struct tls_hello_state {
	int		 cs;		/* Ragel current state */
	int		 top;		/* Ragel call-stack depth = open vectors */
	int		 stack[TLS_HELLO_DEPTH]; /* Ragel return states, one per open vector */
	uint32_t	 ends[TLS_HELLO_DEPTH];  /* handshake offset just past each open vector */
	uint32_t	 acc;		/* the integer field being read (u8/u16/u24) */
	uint32_t	 hs_pos;	/* handshake-stream offset of the next byte */
	uint32_t	 msg_end;	/* handshake offset just past the message (0: header unread) */
	uint32_t	 copy_base;	/* handshake offset copied to index 0 of sni/alpn */
	uint32_t	 stream_off;	/* stream bytes consumed by earlier feeds */
	uint32_t	 max_hello;
	uint16_t	 rec_left;	/* payload bytes left in the current record */
	uint16_t	 rec_len;	/* record length being read */
	uint16_t	 ext_type;	/* type of the extension being read */
	uint16_t	 ext_types[TLS_HELLO_EXT_MAX]; /* types seen, sorted (duplicate check) */
	uint8_t		 n_ext;
	uint8_t		 rec_n;		/* record header bytes read, 0..5 */
	uint8_t		 records;	/* records started (saturating) */
	uint8_t		 copy;		/* where the skip machine copies to */
	uint8_t		 ext_mal;	/* reason for length errors inside this extension */
	uint8_t		 name_type;	/* ServerName.name_type being read */
	uint8_t		 sslv2;		/* first byte had the SSLv2 header bit */
	uint8_t		 verdict;
};

/* One ClientHello pre-read: results first, then the private state. */
struct tls_hello {
	/* Results, valid after DONE. */
	uint16_t	 record_version;	/* first record's legacy_record_version */
	uint16_t	 legacy_version;	/* ClientHello.legacy_version */
	bool		 has_sni;
	bool		 has_alpn;
	bool		 has_ech;		/* extension 0xfe0d present */
	uint8_t		 n_versions;		/* kept: min(versions_total, VERSIONS_MAX) */
	uint8_t		 n_groups;		/* kept: min(groups_total, GROUPS_MAX) */
	uint16_t	 versions_total;	/* true count of supported_versions entries */
	uint16_t	 groups_total;		/* true count of key_share entries */
	uint16_t	 sni_len;		/* true host_name length */
	uint16_t	 alpn_len;		/* true ProtocolNameList length */
	uint16_t	 versions[TLS_HELLO_VERSIONS_MAX];
	uint16_t	 groups[TLS_HELLO_GROUPS_MAX];
	uint32_t	 hello_end;		/* stream offset just past the ClientHello message */
	enum tls_hello_malformed malformed;	/* reason when MALFORMED */
	uint8_t		 sni[TLS_HELLO_SNI_MAX];	/* min(sni_len, SNI_MAX) bytes, not validated */
	uint8_t		 alpn[TLS_HELLO_ALPN_MAX];	/* min(alpn_len, ALPN_MAX) bytes of the list: each
						   name with its u8 length, no u16 list length */

	struct tls_hello_state st;		/* private */
};

/* Resets h for a new connection; max_hello 0 means TLS_HELLO_MAX_DEFAULT. */
void tls_hello_init(struct tls_hello *h, uint32_t max_hello);

/*
 * Feeds the next len bytes of the stream (untrusted, any split). Reads nothing once a
 * verdict other than MORE was returned and returns that verdict again.
 */
enum tls_hello_verdict tls_hello_feed(struct tls_hello *h, const uint8_t *buf, size_t len);

/* Stable lowercase ids, used as metric labels: "done", "more", "not_tls", ... */
const char *tls_hello_verdict_str(enum tls_hello_verdict v);

/* Stable lowercase ids for the malformed reasons: "none", "record", "length", ... */
const char *tls_hello_malformed_str(enum tls_hello_malformed m);

/*
 * Iterates the ALPN protocol names in the copied list: start with *off = 0; each call
 * returns true with the next name, false at the end (or at a name cut by ALPN_MAX).
 */
bool tls_hello_alpn_next(const struct tls_hello *h, size_t *off, const uint8_t **name,
    size_t *len);

#endif
