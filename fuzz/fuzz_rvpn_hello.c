/*
 * Fuzz harness for the r-vpn JSON codecs (proto/rvpn/rvpn_hello.c, rvpn_dns.c, rvpn_vip.c,
 * rvpn_keys.c and the reader rvpn_json.c under them). The first input byte picks the
 * parser; the rest is one whole message (the handshake arrives as one WebSocket message,
 * so these parsers are whole-message by design). Every prefix of the input is parsed too
 * from an exact-size copy, so ASan sees any read past the end. Whatever parses is emitted
 * again and parsed back: any difference aborts. Silent on the happy path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rvpn/rvpn_dns.h"
#include "proto/rvpn/rvpn_hello.h"
#include "proto/rvpn/rvpn_keys.h"
#include "proto/rvpn/rvpn_vip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a reason. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_rvpn_hello: %s\n", why);
	abort();
}

/* An exact-size heap copy of buf[0 .. n) (freed by the caller). */
static uint8_t *
dup_exact(const uint8_t *buf, size_t n)
{
	uint8_t *c = calloc(1, n ? n : 1);
	if (c == NULL)
		fail("out of memory");
	if (n > 0)
		memcpy(c, buf, n);
	return c;
}

/* Hello: parse; on OK emit and parse back to the same keys. */
static void
run_hello(const uint8_t *buf, size_t n)
{
	struct rvpn_hello h, h2;
	char out[RVPN_HELLO_MAX];
	enum rvpn_hello_verdict v = rvpn_hello_parse(buf, n, &h);

	if ((unsigned)v >= RVPN_HELLO_VERDICT_COUNT)
		fail("hello verdict out of range");
	if (v != RVPN_HELLO_OK)
		return;
	if (h.major != 1 || h.auth != RVPN_AUTH_X3DH || h.ek_len != 32 || h.ik_len != 32)
		fail("hello OK with bad fields");
	int k = rvpn_hello_emit(out, sizeof out, h.ephemeral_key, h.identity_key);
	if (k <= 0 || rvpn_hello_parse((const uint8_t *)out, (size_t)k, &h2) != RVPN_HELLO_OK ||
	    memcmp(h.ephemeral_key, h2.ephemeral_key, 32) != 0 ||
	    memcmp(h.identity_key, h2.identity_key, 32) != 0)
		fail("hello round trip differs");
}

/* ServerHello / Error: parse; emit what we can and parse back. */
static void
run_server(const uint8_t *buf, size_t n)
{
	struct rvpn_server_msg m, m2;
	char out[RVPN_HELLO_MAX];
	int k;

	if (rvpn_server_msg_parse(buf, n, &m) != 0)
		return;
	if (m.kind == RVPN_SERVER_HELLO) {
		k = rvpn_server_hello_emit(out, sizeof out, m.signed_prekey, m.prekey_signature,
		    m.identity_key);
		if (k <= 0 || rvpn_server_msg_parse((const uint8_t *)out, (size_t)k, &m2) != 0 ||
		    memcmp(&m, &m2, sizeof m) != 0)
			fail("server hello round trip differs");
	} else {
		if (m.message_len > RVPN_HELLO_ERROR_MAX)
			fail("error message over its cap");
		k = rvpn_error_emit(out, sizeof out, m.code);
		if (k <= 0 || rvpn_server_msg_parse((const uint8_t *)out, (size_t)k, &m2) != 0 ||
		    m2.kind != RVPN_SERVER_ERROR || m2.code != m.code)
			fail("error round trip differs");
	}
}

/* DnsQuery: parse, emit, parse back equal. */
static void
run_dns_query(const uint8_t *buf, size_t n)
{
	struct rvpn_dns_query q, q2;
	char out[RVPN_DNS_MAX];

	if (rvpn_dns_query_parse(buf, n, &q) != 0)
		return;
	int k = rvpn_dns_query_emit(out, sizeof out, &q);
	if (k <= 0 || rvpn_dns_query_parse((const uint8_t *)out, (size_t)k, &q2) != 0 ||
	    memcmp(&q, &q2, sizeof q) != 0)
		fail("dns query round trip differs");
}

/* DnsResponse: parse, emit, parse back equal. */
static void
run_dns_response(const uint8_t *buf, size_t n)
{
	static struct rvpn_dns_response r, r2;
	static char out[RVPN_DNS_MAX * 2];

	if (rvpn_dns_response_parse(buf, n, &r) != 0)
		return;
	int k = rvpn_dns_response_emit(out, sizeof out, &r);
	if (k <= 0 || rvpn_dns_response_parse((const uint8_t *)out, (size_t)k, &r2) != 0)
		fail("dns response re-parse failed");
	/* The error text is cut at its first NUL by design; compare the rest exactly. */
	if (r.query_id != r2.query_id || r.success != r2.success || r.n4 != r2.n4 ||
	    r.n6 != r2.n6 || r.ttl != r2.ttl || r.has_error != r2.has_error ||
	    memcmp(r.ipv4, r2.ipv4, sizeof r.ipv4) != 0 || memcmp(r.ipv6, r2.ipv6, sizeof r.ipv6))
		fail("dns response round trip differs");
}

/* VirtualIp: parse, emit, parse back equal. */
static void
run_vip(const uint8_t *buf, size_t n)
{
	struct rvpn_vip v, v2;
	char out[RVPN_VIP_MAX];

	if (rvpn_vip_parse(buf, n, &v) != 0)
		return;
	int k = rvpn_vip_emit(out, sizeof out, &v);
	if (k <= 0 || rvpn_vip_parse((const uint8_t *)out, (size_t)k, &v2) != 0 ||
	    memcmp(&v, &v2, sizeof v) != 0)
		fail("vip round trip differs");
}

/* Key files: bundle, sidecar, identity; each formatted again and parsed back equal. */
static void
run_keys(const uint8_t *buf, size_t n, unsigned which)
{
	char out[RVPN_BUNDLE_TEXT];
	int k;

	if (which == 0) {
		struct rvpn_bundle b, b2;
		if (rvpn_bundle_parse(&b, (const char *)buf, n) != 0)
			return;
		k = rvpn_bundle_format(out, sizeof out, &b);
		if (k <= 0 || rvpn_bundle_parse(&b2, out, (size_t)k) != 0 ||
		    memcmp(&b, &b2, sizeof b) != 0)
			fail("bundle round trip differs");
	} else if (which == 1) {
		uint8_t p[32], p2[32];
		if (rvpn_private_parse(p, (const char *)buf, n) != 0)
			return;
		k = rvpn_private_format(out, sizeof out, p);
		if (k <= 0 || rvpn_private_parse(p2, out, (size_t)k) != 0 || memcmp(p, p2, 32))
			fail("sidecar round trip differs");
	} else {
		struct rvpn_identity id, id2;
		if (rvpn_identity_parse(&id, (const char *)buf, n) != 0)
			return;
		k = rvpn_identity_format(out, sizeof out, &id);
		if (k <= 0 || rvpn_identity_parse(&id2, out, (size_t)k) != 0 ||
		    memcmp(&id, &id2, sizeof id) != 0)
			fail("identity round trip differs");
		uint8_t x[32];
		char ik[RVPN_IK_HEX_LEN + 1], pin[RVPN_PIN_LEN + 1];
		rvpn_ik_format(ik, id.x_pub);
		rvpn_pin_format(pin, id.ed_pub);
		if (rvpn_ik_parse(x, ik, strlen(ik)) != 0 || memcmp(x, id.x_pub, 32) != 0 ||
		    !rvpn_pin_match(pin, strlen(pin), id.ed_pub))
			fail("ik / pin round trip differs");
	}
}

/* Runs the selected parser on buf. */
static void
run(unsigned sel, const uint8_t *buf, size_t n)
{
	switch (sel) {
	case 0: run_hello(buf, n); break;
	case 1: run_server(buf, n); break;
	case 2: run_dns_query(buf, n); break;
	case 3: run_dns_response(buf, n); break;
	case 4: run_vip(buf, n); break;
	case 5: run_keys(buf, n, 0); break;
	case 6: run_keys(buf, n, 1); break;
	default: run_keys(buf, n, 2); break;
	}
}

/* One input: selector byte, then the message; also every prefix, from exact copies. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 8192)
		return 0;
	unsigned sel = data[0] % 8;
	const uint8_t *buf = data + 1;
	size_t n = size - 1;

	uint8_t *c = dup_exact(buf, n);
	run(sel, c, n);
	free(c);
	/* Prefixes: stride grows with size so the harness stays fast on big inputs. */
	size_t step = n / 64 + 1;
	for (size_t k = 0; k < n; k += step) {
		c = dup_exact(buf, k);
		run(sel, c, k);
		free(c);
	}
	return 0;
}
