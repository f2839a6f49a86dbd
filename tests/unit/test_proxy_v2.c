/*
 * Unit tests for the PROXY v2 decoder and encoder (proto/proxy_v2.c): headers built by
 * hand from the spec's byte layout (LOCAL/PROXY x every family and transport, with TLVs,
 * with CRC32C), every error class decided at the earliest byte, the 4096-byte header and
 * 128-byte UNIQUE_ID limits at N and N+1, every vector parsed at every prefix length of
 * the growing buffer (whole, byte by byte, every split) with identical results, the
 * exact header length with trailing bytes untouched, and encoder round trips. Never
 * touches the network or the file system.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/crc32c.h"
#include "proto/proxy_v2.h"
#include "proto/rd.h"

#define BUF_MAX 5000

/* A header under construction. */
struct hb {
	uint8_t b[BUF_MAX];
	size_t  n;
};

/* Starts a header with the signature, ver|cmd and fam bytes; len is fixed by hb_end. */
static void
hb_start(struct hb *h, uint8_t vercmd, uint8_t fam)
{
	memcpy(h->b, proxy_v2_sig, PROXY_V2_SIG_LEN);
	h->b[12] = vercmd;
	h->b[13] = fam;
	h->b[14] = h->b[15] = 0;
	h->n = PROXY_V2_HDR_LEN;
}

/* Appends raw bytes. */
static void
hb_raw(struct hb *h, const void *p, size_t n)
{
	if (h->n + n > sizeof h->b)
		abort();
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

/* Appends a TLV. */
static void
hb_tlv(struct hb *h, uint8_t type, const void *v, size_t n)
{
	uint8_t t[3] = { type, (uint8_t)(n >> 8), (uint8_t)n };

	hb_raw(h, t, 3);
	hb_raw(h, v, n);
}

/* Writes the len field from what was appended. */
static void
hb_end(struct hb *h)
{
	wr_u16be(h->b + 14, (uint16_t)(h->n - PROXY_V2_HDR_LEN));
}

/* Appends a CRC32C TLV and fills it in over the finished header. */
static void
hb_crc(struct hb *h)
{
	static const uint8_t zero[4];
	size_t at;

	hb_tlv(h, PROXY_V2_TYPE_CRC32C, zero, 4);
	at = h->n - 4;
	hb_end(h);
	wr_u32be(h->b + at, crc32c(h->b, h->n));
}

/* Appends an INET address block. */
static void
hb_inet(struct hb *h, const char *src, const char *dst, uint16_t sport, uint16_t dport)
{
	uint8_t a[12];

	if (inet_pton(AF_INET, src, a) != 1 || inet_pton(AF_INET, dst, a + 4) != 1)
		abort();
	wr_u16be(a + 8, sport);
	wr_u16be(a + 10, dport);
	hb_raw(h, a, sizeof a);
}

/* Appends an INET6 address block. */
static void
hb_inet6(struct hb *h, const char *src, const char *dst, uint16_t sport, uint16_t dport)
{
	uint8_t a[36];

	if (inet_pton(AF_INET6, src, a) != 1 || inet_pton(AF_INET6, dst, a + 16) != 1)
		abort();
	wr_u16be(a + 32, sport);
	wr_u16be(a + 34, dport);
	hb_raw(h, a, sizeof a);
}

/* Appends a UNIX address block. */
static void
hb_unix(struct hb *h, const char *src, const char *dst)
{
	uint8_t a[216];

	memset(a, 0, sizeof a);
	memcpy(a, src, strlen(src));
	memcpy(a + 108, dst, strlen(dst));
	hb_raw(h, a, sizeof a);
}

/* The endpoints a header is expected to carry. */
static struct proxy_addr
mk_addr(enum proxy_family fam, enum proxy_transport tr, const char *src, const char *dst,
    uint16_t sport, uint16_t dport)
{
	struct proxy_addr a;

	memset(&a, 0, sizeof a);
	a.family = fam;
	a.transport = tr;
	if (fam == PROXY_FAM_INET || fam == PROXY_FAM_INET6) {
		int af = fam == PROXY_FAM_INET ? AF_INET : AF_INET6;
		if (inet_pton(af, src, a.src) != 1 || inet_pton(af, dst, a.dst) != 1)
			abort();
		a.sport = sport;
		a.dport = dport;
	} else if (fam == PROXY_FAM_UNIX) {
		memcpy(a.src_path, src, strlen(src));
		memcpy(a.dst_path, dst, strlen(dst));
	}
	return a;
}

/* The result of a LOCAL header. */
static struct proxy_addr
mk_local(void)
{
	struct proxy_addr a;

	memset(&a, 0, sizeof a);
	a.local = true;
	return a;
}

/* True when two views are identical. */
static bool
view_eq(const struct proxy_v2_view *a, const struct proxy_v2_view *b)
{
	return a->present == b->present && a->off == b->off && a->len == b->len;
}

/* True when two results are identical in every field. */
static bool
result_eq(const struct proxy_v2_result *a, const struct proxy_v2_result *b)
{
	return a->hdr_len == b->hdr_len && proxy_addr_equal(&a->addr, &b->addr) &&
	    a->crc_checked == b->crc_checked && view_eq(&a->alpn, &b->alpn) &&
	    view_eq(&a->authority, &b->authority) && view_eq(&a->unique_id, &b->unique_id) &&
	    view_eq(&a->ssl, &b->ssl) && a->ssl_client == b->ssl_client &&
	    a->ssl_verify == b->ssl_verify && view_eq(&a->ssl_version, &b->ssl_version) &&
	    view_eq(&a->ssl_cn, &b->ssl_cn);
}

/*
 * Parses buf whole, then at every prefix length (the buffer growing one byte at a time,
 * which also covers every two-way split since the decoder keeps no state between
 * calls), and checks every prefix gives MORE up to one length and the whole verdict and
 * result from there on. Copies into an exact-size heap buffer so ASan sees overreads.
 * Returns the whole verdict; *out gets the whole result.
 */
static enum proxy_v2_verdict
check_v2(const char *name, const uint8_t *data, size_t n, enum proxy_v2_verdict exp,
    size_t exp_hdr_len, struct proxy_v2_result *out)
{
	uint8_t *buf = malloc(n ? n : 1);
	struct proxy_v2_result w, r;
	enum proxy_v2_verdict vw, v;
	bool decided = false;

	if (buf == NULL)
		abort();
	memcpy(buf, data, n);
	vw = proxy_v2_parse(buf, n, &w);
	CHECKF(vw == exp, "%s: verdict %s, expected %s", name, proxy_v2_verdict_str(vw),
	    proxy_v2_verdict_str(exp));
	if (exp == PROXY_V2_DONE)
		CHECKF(w.hdr_len == exp_hdr_len, "%s: header length %zu, expected %zu", name,
		    w.hdr_len, exp_hdr_len);
	for (size_t k = 0; k <= n; k++) {
		uint8_t *pre = malloc(k ? k : 1);
		if (pre == NULL)
			abort();
		memcpy(pre, buf, k);
		v = proxy_v2_parse(pre, k, &r);
		free(pre);
		if (v == PROXY_V2_MORE && !decided)
			continue;
		decided = true;
		CHECKF(v == vw, "%s: prefix %zu gives %s, whole gives %s", name, k,
		    proxy_v2_verdict_str(v), proxy_v2_verdict_str(vw));
		if (v == PROXY_V2_DONE)
			CHECKF(result_eq(&r, &w), "%s: prefix %zu result differs", name, k);
		if (v == PROXY_V2_DONE)
			CHECKF(k >= w.hdr_len, "%s: DONE at %zu before %zu bytes", name, k,
			    w.hdr_len);
	}
	CHECKF(decided || vw == PROXY_V2_MORE, "%s: never decided", name);
	free(buf);
	if (out != NULL)
		*out = w;
	return vw;
}

/* True when the view holds exactly the bytes s. */
static bool
view_is(const uint8_t *buf, const struct proxy_v2_view *v, const void *s, size_t n)
{
	return v->present && v->len == n && memcmp(buf + v->off, s, n) == 0;
}

/* Headers for every command, family and transport, without TLVs. */
static void
test_families(void)
{
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc };
	struct proxy_v2_result r;
	struct proxy_addr a;
	struct hb h;

	/* TCP over IPv4: the spec's v1 example endpoints, then a TLS record. */
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "192.168.0.1", "192.168.0.11", 56324, 443);
	hb_end(&h);
	CHECK(h.n == 28);
	static const uint8_t spec4[28] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21, 0x11, 0x00, 0x0c, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0x0b,
		0xdc, 0x04, 0x01, 0xbb,
	};
	CHECK(memcmp(h.b, spec4, sizeof spec4) == 0);
	hb_raw(&h, tls, sizeof tls);
	a = mk_addr(PROXY_FAM_INET, PROXY_TRANS_STREAM, "192.168.0.1", "192.168.0.11",
	    56324, 443);
	check_v2("tcp4 + tls", h.b, h.n, PROXY_V2_DONE, 28, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));
	CHECK(!r.alpn.present && !r.authority.present && !r.crc_checked);

	hb_start(&h, 0x21, 0x12);
	hb_inet(&h, "10.0.0.1", "10.0.0.2", 53, 5353);
	hb_end(&h);
	a = mk_addr(PROXY_FAM_INET, PROXY_TRANS_DGRAM, "10.0.0.1", "10.0.0.2", 53, 5353);
	check_v2("udp4", h.b, h.n, PROXY_V2_DONE, 28, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	hb_start(&h, 0x21, 0x21);
	hb_inet6(&h, "2001:db8::1", "2001:db8::2:1", 65535, 0);
	hb_end(&h);
	hb_raw(&h, tls, sizeof tls);
	a = mk_addr(PROXY_FAM_INET6, PROXY_TRANS_STREAM, "2001:db8::1", "2001:db8::2:1",
	    65535, 0);
	check_v2("tcp6 + tls", h.b, h.n, PROXY_V2_DONE, 52, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	hb_start(&h, 0x21, 0x22);
	hb_inet6(&h, "::1", "::ffff:1.2.3.4", 1, 2);
	hb_end(&h);
	a = mk_addr(PROXY_FAM_INET6, PROXY_TRANS_DGRAM, "::1", "::ffff:1.2.3.4", 1, 2);
	check_v2("udp6", h.b, h.n, PROXY_V2_DONE, 52, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	hb_start(&h, 0x21, 0x31);
	hb_unix(&h, "/run/haproxy/front.sock", "/run/switchyard.sock");
	hb_end(&h);
	a = mk_addr(PROXY_FAM_UNIX, PROXY_TRANS_STREAM, "/run/haproxy/front.sock",
	    "/run/switchyard.sock", 0, 0);
	check_v2("unix stream", h.b, h.n, PROXY_V2_DONE, 16 + 216, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	hb_start(&h, 0x21, 0x32);
	hb_unix(&h, "/a", "/b");
	hb_end(&h);
	a = mk_addr(PROXY_FAM_UNIX, PROXY_TRANS_DGRAM, "/a", "/b", 0, 0);
	check_v2("unix dgram", h.b, h.n, PROXY_V2_DONE, 16 + 216, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	/* PROXY with UNSPEC: no address; the router uses the socket's. */
	hb_start(&h, 0x21, 0x00);
	hb_end(&h);
	a = mk_addr(PROXY_FAM_UNSPEC, PROXY_TRANS_UNSPEC, NULL, NULL, 0, 0);
	check_v2("proxy unspec", h.b, h.n, PROXY_V2_DONE, 16, &r);
	CHECK(proxy_addr_equal(&r.addr, &a) && !r.addr.local);

	/* LOCAL (health checks): never any address, whatever the block holds. */
	a = mk_local();
	hb_start(&h, 0x20, 0x00);
	hb_end(&h);
	hb_raw(&h, tls, sizeof tls);
	check_v2("local", h.b, h.n, PROXY_V2_DONE, 16, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	hb_start(&h, 0x20, 0x11);
	hb_inet(&h, "192.168.0.1", "192.168.0.11", 56324, 443);
	hb_end(&h);
	check_v2("local with inet block", h.b, h.n, PROXY_V2_DONE, 28, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	hb_start(&h, 0x20, 0x21);
	hb_inet6(&h, "::1", "::2", 1, 2);
	hb_end(&h);
	check_v2("local with inet6 block", h.b, h.n, PROXY_V2_DONE, 52, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	hb_start(&h, 0x20, 0x31);
	hb_unix(&h, "/x", "/y");
	hb_end(&h);
	check_v2("local with unix block", h.b, h.n, PROXY_V2_DONE, 232, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	/* LOCAL must not assume len is zero, nor that the block is complete. */
	hb_start(&h, 0x20, 0x11);
	hb_raw(&h, "\x01\x02\x03\x04\x05\x06\x07", 7);
	hb_end(&h);
	hb_raw(&h, tls, sizeof tls);
	check_v2("local short block skipped", h.b, h.n, PROXY_V2_DONE, 23, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));

	hb_start(&h, 0x20, 0x22);
	hb_end(&h);
	check_v2("local dgram6 empty", h.b, h.n, PROXY_V2_DONE, 16, &r);
	CHECK(proxy_addr_equal(&r.addr, &a));
}

/* TLVs: every known type, skipping of the others, views into the buffer. */
static void
test_tlvs(void)
{
	struct proxy_v2_result r;
	struct hb h;
	uint8_t uid[PROXY_V2_UNIQUE_ID_MAX];
	uint8_t ssl[64];
	size_t sn = 0;

	for (size_t i = 0; i < sizeof uid; i++)
		uid[i] = (uint8_t)(i * 7 + 1);

	/* SSL TLV: client bits, verify, then version and CN sub-TLVs. */
	ssl[sn++] = 0x07;
	wr_u32be(ssl + sn, 0);
	sn += 4;
	ssl[sn++] = PROXY_V2_SUBTYPE_SSL_VERSION;
	wr_u16be(ssl + sn, 7);
	sn += 2;
	memcpy(ssl + sn, "TLSv1.3", 7);
	sn += 7;
	ssl[sn++] = 0x23; /* cipher */
	wr_u16be(ssl + sn, 4);
	sn += 2;
	memcpy(ssl + sn, "AES!", 4);
	sn += 4;
	ssl[sn++] = PROXY_V2_SUBTYPE_SSL_CN;
	wr_u16be(ssl + sn, 6);
	sn += 2;
	memcpy(ssl + sn, "client", 6);
	sn += 6;

	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1000, 443);
	hb_tlv(&h, PROXY_V2_TYPE_ALPN, "h2", 2);
	hb_tlv(&h, PROXY_V2_TYPE_AUTHORITY, "example.com", 11);
	hb_tlv(&h, PROXY_V2_TYPE_NOOP, "\0\0\0\0\0", 5);
	hb_tlv(&h, PROXY_V2_TYPE_UNIQUE_ID, uid, sizeof uid);
	hb_tlv(&h, PROXY_V2_TYPE_SSL, ssl, sn);
	hb_tlv(&h, PROXY_V2_TYPE_NETNS, "blue", 4);
	hb_tlv(&h, 0xe0, "custom", 6);
	hb_tlv(&h, 0xf8, "", 0);
	hb_tlv(&h, PROXY_V2_TYPE_NOOP, "", 0);
	hb_crc(&h);
	size_t hl = h.n;
	hb_raw(&h, "\x16\x03\x01", 3);
	check_v2("all tlvs + crc", h.b, h.n, PROXY_V2_DONE, hl, &r);
	CHECK(view_is(h.b, &r.alpn, "h2", 2));
	CHECK(view_is(h.b, &r.authority, "example.com", 11));
	CHECK(view_is(h.b, &r.unique_id, uid, sizeof uid));
	CHECK(view_is(h.b, &r.ssl, ssl, sn));
	CHECK(r.ssl_client == 0x07 && r.ssl_verify == 0);
	CHECK(view_is(h.b, &r.ssl_version, "TLSv1.3", 7));
	CHECK(view_is(h.b, &r.ssl_cn, "client", 6));
	CHECK(r.crc_checked);

	/* Without CRC; empty values are present, not absent. */
	hb_start(&h, 0x21, 0x21);
	hb_inet6(&h, "::1", "::2", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_AUTHORITY, "", 0);
	hb_tlv(&h, PROXY_V2_TYPE_UNIQUE_ID, "", 0);
	hb_end(&h);
	check_v2("empty tlvs", h.b, h.n, PROXY_V2_DONE, h.n, &r);
	CHECK(r.authority.present && r.authority.len == 0 && r.unique_id.present);
	CHECK(!r.alpn.present && !r.crc_checked && !r.ssl.present);

	/* CRC alone on PROXY UNSPEC and on LOCAL (TLVs after an empty block). */
	hb_start(&h, 0x21, 0x00);
	hb_crc(&h);
	check_v2("unspec + crc", h.b, h.n, PROXY_V2_DONE, h.n, &r);
	CHECK(r.crc_checked);
	hb_start(&h, 0x20, 0x00);
	hb_tlv(&h, PROXY_V2_TYPE_UNIQUE_ID, "id-1", 4);
	hb_crc(&h);
	check_v2("local + crc", h.b, h.n, PROXY_V2_DONE, h.n, &r);
	CHECK(r.crc_checked && r.addr.local && view_is(h.b, &r.unique_id, "id-1", 4));

	/* SSL TLV with no sub-TLVs, and the CRC placed first. */
	hb_start(&h, 0x21, 0x31);
	hb_unix(&h, "/s", "/d");
	hb_tlv(&h, PROXY_V2_TYPE_SSL, "\x00\x00\x00\x00\x01", 5);
	hb_end(&h);
	check_v2("ssl bare", h.b, h.n, PROXY_V2_DONE, h.n, &r);
	CHECK(r.ssl.present && r.ssl_client == 0 && r.ssl_verify == 1);
	CHECK(!r.ssl_version.present && !r.ssl_cn.present);

	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_CRC32C, "\0\0\0\0", 4);
	hb_tlv(&h, PROXY_V2_TYPE_ALPN, "http/1.1", 8);
	hb_end(&h);
	wr_u32be(h.b + 16 + 12 + 3, crc32c(h.b, h.n));
	check_v2("crc first", h.b, h.n, PROXY_V2_DONE, h.n, &r);
	CHECK(r.crc_checked && view_is(h.b, &r.alpn, "http/1.1", 8));
}

/* Errors in the fixed 16 bytes are decided as soon as the byte arrives. */
static void
test_errors_fixed(void)
{
	struct proxy_v2_result r;
	struct hb h;

	for (size_t i = 0; i < PROXY_V2_SIG_LEN; i++) {
		hb_start(&h, 0x21, 0x11);
		hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
		hb_end(&h);
		h.b[i] ^= 0x20;
		char name[32];
		snprintf(name, sizeof name, "signature byte %zu", i);
		check_v2(name, h.b, h.n, PROXY_V2_ERR_NOT_PROXY, 0, NULL);
		CHECKF(proxy_v2_parse(h.b, i + 1, &r) == PROXY_V2_ERR_NOT_PROXY,
		    "signature byte %zu not decided at once", i);
		if (i > 0)
			CHECK(proxy_v2_parse(h.b, i, &r) == PROXY_V2_MORE);
	}
	check_v2("v1 line", (const uint8_t *)"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 32,
	    PROXY_V2_ERR_NOT_PROXY, 0, NULL);
	check_v2("tls", (const uint8_t *)"\x16\x03\x01", 3, PROXY_V2_ERR_NOT_PROXY, 0, NULL);
	check_v2("empty", (const uint8_t *)"", 0, PROXY_V2_MORE, 0, NULL);

	static const uint8_t bad_ver[] = { 0x11, 0x31, 0x01, 0xf1, 0x10 };
	for (size_t i = 0; i < sizeof bad_ver; i++) {
		hb_start(&h, bad_ver[i], 0x11);
		hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
		hb_end(&h);
		check_v2("version", h.b, h.n, PROXY_V2_ERR_VERSION, 0, NULL);
		CHECK(proxy_v2_parse(h.b, 13, &r) == PROXY_V2_ERR_VERSION);
	}
	static const uint8_t bad_cmd[] = { 0x22, 0x2f, 0x23 };
	for (size_t i = 0; i < sizeof bad_cmd; i++) {
		hb_start(&h, bad_cmd[i], 0x11);
		hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
		hb_end(&h);
		check_v2("command", h.b, h.n, PROXY_V2_ERR_COMMAND, 0, NULL);
		CHECK(proxy_v2_parse(h.b, 13, &r) == PROXY_V2_ERR_COMMAND);
	}
	static const uint8_t bad_fam[] = { 0x01, 0x02, 0x10, 0x13, 0x20, 0x30, 0x41, 0x03,
		0xff, 0x33 };
	for (size_t i = 0; i < sizeof bad_fam; i++) {
		for (uint8_t cmd = 0x20; cmd <= 0x21; cmd++) {
			hb_start(&h, cmd, bad_fam[i]);
			hb_inet6(&h, "::1", "::2", 1, 2);
			hb_end(&h);
			check_v2("family", h.b, h.n, PROXY_V2_ERR_FAMILY, 0, NULL);
			CHECK(proxy_v2_parse(h.b, 14, &r) == PROXY_V2_ERR_FAMILY);
		}
	}

	/* Address block shorter than the family needs (PROXY only), at N-1 and N. */
	static const struct {
		uint8_t fam;
		size_t  need;
	} fams[] = { { 0x11, 12 }, { 0x12, 12 }, { 0x21, 36 }, { 0x22, 36 }, { 0x31, 216 },
		{ 0x32, 216 } };
	for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
		uint8_t zero[216];
		memset(zero, 0, sizeof zero);
		hb_start(&h, 0x21, fams[i].fam);
		hb_raw(&h, zero, fams[i].need - 1);
		hb_end(&h);
		check_v2("short address", h.b, h.n, PROXY_V2_ERR_SHORT_ADDRESS, 0, NULL);
		CHECK(proxy_v2_parse(h.b, 16, &r) == PROXY_V2_ERR_SHORT_ADDRESS);
		hb_start(&h, 0x21, fams[i].fam);
		hb_raw(&h, zero, fams[i].need);
		hb_end(&h);
		check_v2("exact address", h.b, h.n, PROXY_V2_DONE, 16 + fams[i].need, NULL);
		hb_start(&h, 0x21, fams[i].fam);
		hb_end(&h);
		check_v2("no address", h.b, h.n, PROXY_V2_ERR_SHORT_ADDRESS, 0, NULL);
	}
}

/* The 4096-byte header limit and the 128-byte UNIQUE_ID limit, at N and N+1. */
static void
test_limits(void)
{
	static uint8_t pad[PROXY_V2_MAX_HEADER];
	struct proxy_v2_result r;
	struct hb h;
	size_t fill;

	/* N: a TCP4 header padded with NOOP to exactly 4096 bytes, then a TLS byte. */
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	fill = PROXY_V2_MAX_HEADER - h.n - 3;
	hb_tlv(&h, PROXY_V2_TYPE_NOOP, pad, fill);
	hb_end(&h);
	CHECK(h.n == PROXY_V2_MAX_HEADER);
	hb_raw(&h, "\x16", 1);
	check_v2("header 4096", h.b, h.n, PROXY_V2_DONE, PROXY_V2_MAX_HEADER, &r);

	/* N + 1: refused from the 16 fixed bytes alone. */
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_NOOP, pad, fill + 1);
	hb_end(&h);
	CHECK(h.n == PROXY_V2_MAX_HEADER + 1);
	check_v2("header 4097", h.b, h.n, PROXY_V2_ERR_TOO_LARGE, 0, NULL);
	CHECK(proxy_v2_parse(h.b, 16, &r) == PROXY_V2_ERR_TOO_LARGE);

	/* The largest len field, LOCAL too. */
	hb_start(&h, 0x20, 0x00);
	h.b[14] = h.b[15] = 0xff;
	check_v2("len 65535", h.b, 16, PROXY_V2_ERR_TOO_LARGE, 0, NULL);

	/* MORE reports how much is needed once the 16 bytes are in. */
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_end(&h);
	CHECK(proxy_v2_parse(h.b, 16, &r) == PROXY_V2_MORE && r.hdr_len == 28);
	CHECK(proxy_v2_parse(h.b, 27, &r) == PROXY_V2_MORE && r.hdr_len == 28);
	CHECK(proxy_v2_parse(h.b, 15, &r) == PROXY_V2_MORE && r.hdr_len == 0);

	uint8_t uid[PROXY_V2_UNIQUE_ID_MAX + 1];
	memset(uid, 'u', sizeof uid);
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_UNIQUE_ID, uid, PROXY_V2_UNIQUE_ID_MAX);
	hb_end(&h);
	check_v2("unique id 128", h.b, h.n, PROXY_V2_DONE, h.n, &r);
	CHECK(r.unique_id.present && r.unique_id.len == PROXY_V2_UNIQUE_ID_MAX);
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_UNIQUE_ID, uid, PROXY_V2_UNIQUE_ID_MAX + 1);
	hb_end(&h);
	check_v2("unique id 129", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);
}

/* Malformed TLVs and checksum mismatches, found only once the header is whole. */
static void
test_errors_tlv(void)
{
	struct proxy_v2_result r;
	struct hb h;

	/* Leftover bytes too short for a TLV header. */
	for (size_t extra = 1; extra <= 2; extra++) {
		hb_start(&h, 0x21, 0x11);
		hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
		hb_raw(&h, "\x04\x00", extra);
		hb_end(&h);
		check_v2("truncated tlv header", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);
	}
	/* A TLV running one byte past len (the byte is there, but after the header). */
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_AUTHORITY, "example.co", 10);
	h.b[h.n - 10 - 1] = 11;
	hb_end(&h);
	hb_raw(&h, "m", 1);
	check_v2("tlv overrun", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);
	/* The same TLV inside the block of a LOCAL header. */
	h.b[12] = 0x20;
	check_v2("local tlv overrun", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);

	/* CRC32C value of the wrong size. */
	for (size_t n = 0; n <= 8; n++) {
		if (n == 4)
			continue;
		hb_start(&h, 0x21, 0x11);
		hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
		hb_tlv(&h, PROXY_V2_TYPE_CRC32C, "\0\0\0\0\0\0\0\0", n);
		hb_end(&h);
		check_v2("crc size", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);
	}
	/* Duplicates of the TLVs we expose. */
	static const uint8_t dup[] = { PROXY_V2_TYPE_ALPN, PROXY_V2_TYPE_AUTHORITY,
		PROXY_V2_TYPE_UNIQUE_ID };
	for (size_t i = 0; i < sizeof dup; i++) {
		hb_start(&h, 0x21, 0x11);
		hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
		hb_tlv(&h, dup[i], "a", 1);
		hb_tlv(&h, PROXY_V2_TYPE_NOOP, "", 0);
		hb_tlv(&h, dup[i], "b", 1);
		hb_end(&h);
		check_v2("duplicate tlv", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);
	}
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_crc(&h);
	hb_crc(&h);
	check_v2("duplicate crc", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_SSL, "\x01\0\0\0\0", 5);
	hb_tlv(&h, PROXY_V2_TYPE_SSL, "\x01\0\0\0\0", 5);
	hb_end(&h);
	check_v2("duplicate ssl", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);

	/* SSL TLV too short, and sub-TLVs overrunning it (though not the header). */
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_SSL, "\x01\0\0\0", 4);
	hb_end(&h);
	check_v2("ssl short", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_SSL, "\x01\0\0\0\0\x21\x00\x05TLS", 11);
	hb_tlv(&h, PROXY_V2_TYPE_NOOP, "vv", 2);
	hb_end(&h);
	check_v2("ssl sub-tlv overrun", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_SSL, "\x01\0\0\0\0\x21\x00", 7);
	hb_end(&h);
	check_v2("ssl sub-tlv header cut", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	hb_tlv(&h, PROXY_V2_TYPE_SSL, "\x01\0\0\0\0\x22\x00\x01" "a\x22\x00\x01" "b", 13);
	hb_end(&h);
	check_v2("ssl duplicate cn", h.b, h.n, PROXY_V2_ERR_TLV, 0, NULL);

	/* Checksum: any flipped bit anywhere in the header is caught. */
	hb_start(&h, 0x21, 0x21);
	hb_inet6(&h, "2001:db8::1", "2001:db8::2", 443, 8443);
	hb_tlv(&h, PROXY_V2_TYPE_AUTHORITY, "example.org", 11);
	hb_crc(&h);
	check_v2("crc ok", h.b, h.n, PROXY_V2_DONE, h.n, &r);
	CHECK(r.crc_checked);
	unsigned missed = 0;
	for (size_t i = 16; i < h.n; i++) {
		/* The CRC TLV's own type byte is the one thing a CRC cannot cover. */
		if (i == h.n - 7)
			continue;
		for (int bit = 0; bit < 8; bit++) {
			h.b[i] ^= (uint8_t)(1u << bit);
			enum proxy_v2_verdict v = proxy_v2_parse(h.b, h.n, &r);
			/* A flip in a TLV header may break the TLV walk first. */
			if (v != PROXY_V2_ERR_CRC && v != PROXY_V2_ERR_TLV)
				missed++;
			h.b[i] ^= (uint8_t)(1u << bit);
		}
	}
	CHECKF(missed == 0, "%u bit flips not caught", missed);
	h.b[20] ^= 1;
	check_v2("crc mismatch", h.b, h.n, PROXY_V2_ERR_CRC, 0, NULL);
	h.b[20] ^= 1;
	h.b[h.n - 1] ^= 0x80;
	check_v2("crc value wrong", h.b, h.n, PROXY_V2_ERR_CRC, 0, NULL);
	/* The refused header leaves nothing usable in the result. */
	CHECK(proxy_v2_parse(h.b, h.n, &r) == PROXY_V2_ERR_CRC);
	CHECK(!r.authority.present && r.addr.family == PROXY_FAM_UNSPEC);
}

/* Verdict ids are stable (they are metric labels). */
static void
test_strings(void)
{
	static const char *const ids[PROXY_V2_VERDICT_COUNT] = {
		"done", "more", "not_proxy", "version", "command", "family", "too_large",
		"short_address", "tlv", "crc",
	};
	for (int v = 0; v < PROXY_V2_VERDICT_COUNT; v++)
		CHECK(strcmp(proxy_v2_verdict_str((enum proxy_v2_verdict)v), ids[v]) == 0);
	CHECK(strcmp(proxy_v2_verdict_str(PROXY_V2_VERDICT_COUNT), "invalid") == 0);
}

/* Encodes a with t, decodes it back and compares endpoints and TLV bytes. */
static void
check_roundtrip(const char *name, const struct proxy_addr *a, const struct proxy_v2_tlvs *t)
{
	uint8_t out[PROXY_V2_MAX_HEADER + 8];
	struct proxy_v2_result r;
	struct proxy_addr want = *a;
	int n = proxy_v2_encode(out, sizeof out, a, t);

	CHECKF(n > 0, "%s: encode failed", name);
	if (n <= 0)
		return;
	/* Exactly the bytes needed: one less is refused. */
	CHECKF(proxy_v2_encode(out, (size_t)n - 1, a, t) == -1, "%s: cap - 1 accepted", name);
	memcpy(out + n, "\x16\x03\x01", 3);
	check_v2(name, out, (size_t)n + 3, PROXY_V2_DONE, (size_t)n, &r);
	if (a->local) {
		want = mk_local();
	}
	CHECKF(proxy_addr_equal(&r.addr, &want), "%s: addresses differ", name);
	bool has_auth = t != NULL && t->authority != NULL;
	bool has_alpn = t != NULL && t->alpn != NULL;
	bool has_uid = t != NULL && t->unique_id != NULL;
	bool has_crc = t != NULL && t->crc32c;
	CHECKF(r.authority.present == has_auth && r.alpn.present == has_alpn &&
	    r.unique_id.present == has_uid && r.crc_checked == has_crc, "%s: TLV set", name);
	if (has_auth)
		CHECK(view_is(out, &r.authority, t->authority, t->authority_len));
	if (has_alpn)
		CHECK(view_is(out, &r.alpn, t->alpn, t->alpn_len));
	if (has_uid)
		CHECK(view_is(out, &r.unique_id, t->unique_id, t->unique_id_len));
}

/* Encoder: exact bytes, every family x transport x TLV combination, limits. */
static void
test_encode(void)
{
	uint8_t out[PROXY_V2_MAX_HEADER + 1];
	static uint8_t big[PROXY_V2_MAX_HEADER];
	struct proxy_addr addrs[9];
	uint8_t uid[PROXY_V2_UNIQUE_ID_MAX + 1];
	struct proxy_v2_tlvs t;
	struct proxy_addr a;
	struct hb h;
	int n;

	/* Exact bytes against the hand-built header. */
	a = mk_addr(PROXY_FAM_INET, PROXY_TRANS_STREAM, "192.168.0.1", "192.168.0.11", 56324,
	    443);
	hb_start(&h, 0x21, 0x11);
	hb_inet(&h, "192.168.0.1", "192.168.0.11", 56324, 443);
	hb_tlv(&h, PROXY_V2_TYPE_AUTHORITY, "example.com", 11);
	hb_tlv(&h, PROXY_V2_TYPE_ALPN, "h2", 2);
	hb_tlv(&h, PROXY_V2_TYPE_UNIQUE_ID, "abc", 3);
	hb_crc(&h);
	memset(&t, 0, sizeof t);
	t.authority = (const uint8_t *)"example.com";
	t.authority_len = 11;
	t.alpn = (const uint8_t *)"h2";
	t.alpn_len = 2;
	t.unique_id = (const uint8_t *)"abc";
	t.unique_id_len = 3;
	t.crc32c = true;
	n = proxy_v2_encode(out, sizeof out, &a, &t);
	CHECK(n == (int)h.n && memcmp(out, h.b, h.n) == 0);

	/* LOCAL: version 2, command 0, family UNSPEC, nothing else. */
	a.local = true;
	n = proxy_v2_encode(out, sizeof out, &a, NULL);
	CHECK(n == 16 && memcmp(out, proxy_v2_sig, 12) == 0 && out[12] == 0x20 &&
	    out[13] == 0x00 && out[14] == 0 && out[15] == 0);

	addrs[0] = mk_addr(PROXY_FAM_INET, PROXY_TRANS_STREAM, "10.1.2.3", "10.3.2.1", 4000,
	    443);
	addrs[1] = mk_addr(PROXY_FAM_INET, PROXY_TRANS_DGRAM, "0.0.0.0", "255.255.255.255",
	    0, 65535);
	addrs[2] = mk_addr(PROXY_FAM_INET6, PROXY_TRANS_STREAM, "2001:db8::1", "::1", 1, 2);
	addrs[3] = mk_addr(PROXY_FAM_INET6, PROXY_TRANS_DGRAM, "::", "ff02::1", 3, 4);
	addrs[4] = mk_addr(PROXY_FAM_UNIX, PROXY_TRANS_STREAM, "/run/a", "/run/b", 0, 0);
	addrs[5] = mk_addr(PROXY_FAM_UNIX, PROXY_TRANS_DGRAM, "/x", "", 0, 0);
	memset(addrs[5].src_path, 'p', PROXY_UNIX_PATH_LEN);
	addrs[6] = mk_addr(PROXY_FAM_UNSPEC, PROXY_TRANS_UNSPEC, NULL, NULL, 0, 0);
	addrs[7] = mk_local();
	addrs[8] = addrs[0];
	addrs[8].local = true;
	memset(uid, 0x5a, sizeof uid);
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		for (unsigned mask = 0; mask < 16; mask++) {
			char name[64];
			memset(&t, 0, sizeof t);
			if (mask & 1) {
				t.authority = (const uint8_t *)"vpn.example.com";
				t.authority_len = 15;
			}
			if (mask & 2) {
				t.alpn = (const uint8_t *)"http/1.1";
				t.alpn_len = 8;
			}
			if (mask & 4) {
				t.unique_id = uid;
				t.unique_id_len = PROXY_V2_UNIQUE_ID_MAX;
			}
			t.crc32c = (mask & 8) != 0;
			snprintf(name, sizeof name, "round trip %zu/%u", i, mask);
			check_roundtrip(name, &addrs[i], &t);
		}
		check_roundtrip("round trip, no tlvs", &addrs[i], NULL);
	}

	/* Too big: UNIQUE_ID over 128, a header over 4096, a tiny cap. */
	memset(&t, 0, sizeof t);
	t.unique_id = uid;
	t.unique_id_len = PROXY_V2_UNIQUE_ID_MAX + 1;
	CHECK(proxy_v2_encode(out, sizeof out, &addrs[0], &t) == -1);
	memset(&t, 0, sizeof t);
	memset(big, 'a', sizeof big);
	t.authority = big;
	t.authority_len = PROXY_V2_MAX_HEADER - 16 - 12 - 3; /* exactly 4096 */
	n = proxy_v2_encode(out, sizeof out, &addrs[0], &t);
	CHECK(n == PROXY_V2_MAX_HEADER);
	t.authority_len++;
	CHECK(proxy_v2_encode(out, sizeof out, &addrs[0], &t) == -1);
	t.authority_len = (size_t)-1;
	CHECK(proxy_v2_encode(out, sizeof out, &addrs[0], &t) == -1);
	CHECK(proxy_v2_encode(out, 15, &addrs[7], NULL) == -1);
	CHECK(proxy_v2_encode(out, 0, &addrs[7], NULL) == -1);
}

/* Runs every group; the exit status says whether all checks passed. */
int
main(void)
{
	test_families();
	test_tlvs();
	test_errors_fixed();
	test_limits();
	test_errors_tlv();
	test_strings();
	test_encode();
	return check_summary();
}
