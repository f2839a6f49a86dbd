/*
 * Fuzz harness for the PROXY protocol decoders and encoders (proto/proxy_v1.rl,
 * proto/proxy_v2.c, proto/proxy.c). The first input byte picks the target: v1, v2, or
 * detect-then-dispatch as the router does. Each decoder is run whole and in several
 * chunkings derived from the input (one byte at a time, input-driven sizes, a split at
 * an input-chosen offset); any difference in verdict, header length or results aborts.
 * On DONE the decoded endpoints (and v2 TLVs) are encoded again, with both encoders, and
 * decoded back: any difference aborts. It must never print anything on the happy path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proxy.h"
#include "proto/proxy_v1.h"
#include "proto/proxy_v2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a reason; libFuzzer and the replay driver both see the abort. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_proxy: %s\n", why);
	abort();
}

/* What one v1 run produced. */
struct v1_run {
	enum proxy_v1_verdict v;
	size_t                len;
	struct proxy_addr     addr;
};

/* Feeds buf to a fresh v1 parser in chunks: sizes from pat (cycled), 0 = whole. */
static struct v1_run
v1_feed_chunks(const uint8_t *buf, size_t n, const uint8_t *pat, size_t npat, unsigned mod)
{
	struct proxy_v1_parser p;
	struct v1_run r;
	size_t off = 0, i = 0;

	proxy_v1_init(&p);
	r.v = PROXY_V1_MORE;
	while (off < n) {
		size_t k = n - off;
		if (mod != 0 && npat > 0)
			k = 1 + pat[i++ % npat] % mod;
		if (k > n - off)
			k = n - off;
		r.v = proxy_v1_feed(&p, buf + off, k);
		off += k;
	}
	r.len = p.len;
	r.addr = p.addr;
	return r;
}

/* Feeds buf in two pieces cut at cut. */
static struct v1_run
v1_feed_split(const uint8_t *buf, size_t n, size_t cut)
{
	struct proxy_v1_parser p;
	struct v1_run r;

	proxy_v1_init(&p);
	r.v = proxy_v1_feed(&p, buf, cut);
	r.v = proxy_v1_feed(&p, buf + cut, n - cut);
	r.len = p.len;
	r.addr = p.addr;
	return r;
}

/* Aborts unless two v1 runs agree. */
static void
v1_same(const struct v1_run *a, const struct v1_run *b, const char *how)
{
	if (a->v != b->v)
		fail(how);
	if (a->v == PROXY_V1_DONE &&
	    (a->len != b->len || !proxy_addr_equal(&a->addr, &b->addr)))
		fail(how);
}

/* Defined below: v1 results are also checked through the v2 encoder. */
static void v2_roundtrip(const struct proxy_addr *a, const uint8_t *tbuf,
    const struct proxy_v2_result *tr);

/* Encodes a with v1, decodes the line again and compares. */
static void
v1_roundtrip(const struct proxy_addr *a)
{
	char line[PROXY_V1_MAX];
	struct proxy_addr want = *a;
	int n = proxy_v1_encode(line, sizeof line, a);

	if (n < 0 || n > PROXY_V1_MAX)
		fail("v1 encode failed");
	struct v1_run r = v1_feed_chunks((const uint8_t *)line, (size_t)n, NULL, 0, 0);
	if (r.v != PROXY_V1_DONE || r.len != (size_t)n)
		fail("v1 re-decode not DONE");
	/* v1 carries TCP over IPv4/IPv6 only; everything else becomes UNKNOWN. */
	if (a->local || a->transport != PROXY_TRANS_STREAM ||
	    (a->family != PROXY_FAM_INET && a->family != PROXY_FAM_INET6)) {
		memset(&want, 0, sizeof want);
		want.local = true;
	}
	if (!proxy_addr_equal(&r.addr, &want))
		fail("v1 round trip differs");
}

/* Runs the v1 decoder every way and checks the round trips. */
static void
fuzz_v1(const uint8_t *buf, size_t n)
{
	struct v1_run w = v1_feed_chunks(buf, n, NULL, 0, 0), o;

	o = v1_feed_chunks(buf, n, buf, n, 1);
	v1_same(&w, &o, "v1 one byte at a time differs");
	o = v1_feed_chunks(buf, n, buf, n, 16);
	v1_same(&w, &o, "v1 input-sized chunks differ");
	o = v1_feed_chunks(buf, n, buf + n / 2, n - n / 2, 7);
	v1_same(&w, &o, "v1 second input-sized chunks differ");
	if (n > 0) {
		o = v1_feed_split(buf, n, buf[n - 1] % (n + 1));
		v1_same(&w, &o, "v1 two-way split differs");
	}
	if (w.v != PROXY_V1_DONE)
		return;
	if (w.len > PROXY_V1_MAX || w.len > n || w.len < 15 || buf[w.len - 2] != '\r' ||
	    buf[w.len - 1] != '\n')
		fail("v1 DONE with an impossible length");
	v1_roundtrip(&w.addr);
	v2_roundtrip(&w.addr, NULL, NULL);
}

/* True when two views are identical. */
static bool
view_eq(const struct proxy_v2_view *a, const struct proxy_v2_view *b)
{
	return a->present == b->present && a->off == b->off && a->len == b->len;
}

/* True when two v2 results are identical. */
static bool
v2_result_eq(const struct proxy_v2_result *a, const struct proxy_v2_result *b)
{
	return a->hdr_len == b->hdr_len && proxy_addr_equal(&a->addr, &b->addr) &&
	    a->crc_checked == b->crc_checked && view_eq(&a->alpn, &b->alpn) &&
	    view_eq(&a->authority, &b->authority) && view_eq(&a->unique_id, &b->unique_id) &&
	    view_eq(&a->ssl, &b->ssl) && a->ssl_client == b->ssl_client &&
	    a->ssl_verify == b->ssl_verify && view_eq(&a->ssl_version, &b->ssl_version) &&
	    view_eq(&a->ssl_cn, &b->ssl_cn);
}

/* True when view a over abuf holds the same bytes as view b over bbuf. */
static bool
view_bytes_eq(const uint8_t *abuf, const struct proxy_v2_view *a, const uint8_t *bbuf,
    const struct proxy_v2_view *b)
{
	if (a->present != b->present)
		return false;
	if (!a->present)
		return true;
	return a->len == b->len && memcmp(abuf + a->off, bbuf + b->off, a->len) == 0;
}

/* Parses the first k bytes from an exact-size copy, so ASan sees any overread. */
static enum proxy_v2_verdict
v2_parse_copy(const uint8_t *buf, size_t k, struct proxy_v2_result *r)
{
	uint8_t *copy = malloc(k ? k : 1);
	enum proxy_v2_verdict v;

	if (copy == NULL)
		fail("out of memory");
	memcpy(copy, buf, k);
	v = proxy_v2_parse(copy, k, r);
	free(copy);
	return v;
}

/*
 * Encodes a (with the TLVs of result tr over tbuf, when given) with v2, decodes it and
 * compares endpoints and TLV bytes.
 */
static void
v2_roundtrip(const struct proxy_addr *a, const uint8_t *tbuf, const struct proxy_v2_result *tr)
{
	uint8_t out[PROXY_V2_MAX_HEADER];
	struct proxy_v2_tlvs t;
	struct proxy_v2_result r;
	struct proxy_addr want = *a;

	memset(&t, 0, sizeof t);
	if (tr != NULL) {
		if (tr->authority.present) {
			t.authority = tbuf + tr->authority.off;
			t.authority_len = tr->authority.len;
		}
		if (tr->alpn.present) {
			t.alpn = tbuf + tr->alpn.off;
			t.alpn_len = tr->alpn.len;
		}
		if (tr->unique_id.present) {
			t.unique_id = tbuf + tr->unique_id.off;
			t.unique_id_len = tr->unique_id.len;
		}
		t.crc32c = tr->crc_checked;
	}
	int n = proxy_v2_encode(out, sizeof out, a, &t);
	if (n < PROXY_V2_HDR_LEN)
		fail("v2 encode failed");
	if (proxy_v2_parse(out, (size_t)n, &r) != PROXY_V2_DONE || r.hdr_len != (size_t)n)
		fail("v2 re-decode not DONE");
	if (a->local) {
		memset(&want, 0, sizeof want);
		want.local = true;
	}
	if (!proxy_addr_equal(&r.addr, &want))
		fail("v2 round trip endpoints differ");
	if (tr != NULL && (!view_bytes_eq(tbuf, &tr->authority, out, &r.authority) ||
	    !view_bytes_eq(tbuf, &tr->alpn, out, &r.alpn) ||
	    !view_bytes_eq(tbuf, &tr->unique_id, out, &r.unique_id) ||
	    r.crc_checked != tr->crc_checked))
		fail("v2 round trip TLVs differ");
}

/*
 * Runs the v2 decoder over the buffer as it grows: every prefix must say MORE until the
 * first one that decides, and that one must give the whole buffer's verdict and result.
 */
static void
fuzz_v2(const uint8_t *buf, size_t n)
{
	struct proxy_v2_result w, r;
	enum proxy_v2_verdict vw = proxy_v2_parse(buf, n, &w), v;
	size_t k;

	/* Growing one byte at a time; cheap, since MORE only looks at 16 bytes. */
	for (k = 0; k <= n; k++) {
		v = proxy_v2_parse(buf, k, &r);
		if (v == PROXY_V2_MORE)
			continue;
		if (v != vw || (v == PROXY_V2_DONE && !v2_result_eq(&r, &w)))
			fail("v2 byte-at-a-time differs");
		break;
	}
	if (k > n && vw != PROXY_V2_MORE)
		fail("v2 whole decided, prefixes never did");

	/* Input-sized steps, each prefix an exact-size copy. */
	size_t off = 0, i = 0;
	while (off < n) {
		off += 1 + (size_t)buf[i++ % n] * 8;
		if (off > n)
			off = n;
		v = v2_parse_copy(buf, off, &r);
		if (v == PROXY_V2_MORE)
			continue;
		if (v != vw || (v == PROXY_V2_DONE && !v2_result_eq(&r, &w)))
			fail("v2 input-sized steps differ");
		break;
	}
	if (w.hdr_len > PROXY_V2_MAX_HEADER)
		fail("v2 header length over the limit");
	if (vw != PROXY_V2_DONE)
		return;
	if (w.hdr_len > n || w.hdr_len < PROXY_V2_HDR_LEN)
		fail("v2 DONE with an impossible length");
	if (v2_parse_copy(buf, w.hdr_len, &r) != PROXY_V2_DONE || !v2_result_eq(&r, &w))
		fail("v2 exact-length parse differs");
	v2_roundtrip(&w.addr, buf, &w);
	v1_roundtrip(&w.addr);
}

/* Detects the version as the router does, checks it is consistent, then decodes. */
static void
fuzz_detect(const uint8_t *buf, size_t n)
{
	enum proxy_detect d = proxy_detect(buf, n);
	struct proxy_v2_result r;
	struct v1_run o;
	enum proxy_v2_verdict v2;

	/* Shorter prefixes say MORE or the same thing. */
	for (size_t k = 0; k < n && k <= PROXY_V2_SIG_LEN; k++) {
		enum proxy_detect dk = proxy_detect(buf, k);
		if (dk != PROXY_DETECT_MORE && dk != d)
			fail("detect not monotonic");
	}
	o = v1_feed_chunks(buf, n, NULL, 0, 0);
	v2 = proxy_v2_parse(buf, n, &r);
	switch (d) {
	case PROXY_DETECT_NONE:
		if (o.v != PROXY_V1_ERR_NOT_PROXY || v2 != PROXY_V2_ERR_NOT_PROXY)
			fail("detect NONE but a decoder accepts the start");
		break;
	case PROXY_DETECT_MORE:
		if (o.v != PROXY_V1_MORE && v2 != PROXY_V2_MORE)
			fail("detect MORE but both decoders decided");
		break;
	case PROXY_DETECT_V1:
		if (v2 != PROXY_V2_ERR_NOT_PROXY || o.v == PROXY_V1_ERR_NOT_PROXY)
			fail("detect V1 disagrees with the decoders");
		fuzz_v1(buf, n);
		break;
	case PROXY_DETECT_V2:
		if (o.v != PROXY_V1_ERR_NOT_PROXY || v2 == PROXY_V2_ERR_NOT_PROXY)
			fail("detect V2 disagrees with the decoders");
		fuzz_v2(buf, n);
		break;
	}
}

/* One input: the first byte picks v1, v2 or detect; the rest is the connection's start. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_v1(data + 1, size - 1);
		break;
	case 1:
		fuzz_v2(data + 1, size - 1);
		break;
	default:
		fuzz_detect(data + 1, size - 1);
		break;
	}
	return 0;
}
