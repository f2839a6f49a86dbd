/*
 * Unit tests of the r-vpn JSON messages (proto/rvpn/rvpn_json.c, rvpn_hello.c,
 * rvpn_dns.c, rvpn_vip.c): the Hello in every member order with unknown members,
 * duplicates, wrong types, the verdict order, every truncation of each message (the
 * parsers are whole-message: the WebSocket layer delivers one message), the limits
 * RVPN_HELLO_MAX, RVPN_JSON_MAX_DEPTH and RVPN_HELLO_MAX_BYTES at N and N+1, string
 * escapes and UTF-8, and the client-role parsers.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "proto/rvpn/rvpn_dns.h"
#include "proto/rvpn/rvpn_hello.h"
#include "proto/rvpn/rvpn_json.h"
#include "proto/rvpn/rvpn_vip.h"

static uint8_t EK[32], IK[32];

/* Writes "[b0,...]" of n bytes starting at value v0 into out. */
static size_t
arr(char *out, size_t cap, size_t n, unsigned v0)
{
	size_t o = 0;
	o += (size_t)snprintf(out + o, cap - o, "[");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%u", i ? "," : "", (v0 + (unsigned)i) & 255);
	o += (size_t)snprintf(out + o, cap - o, "]");
	return o;
}

/* Parses a NUL-terminated text as a Hello. */
static enum rvpn_hello_verdict
hp(const char *s, struct rvpn_hello *h)
{
	return rvpn_hello_parse((const uint8_t *)s, strlen(s), h);
}

/* The six members of a Hello, to be permuted. */
static char member[6][512];

/* Builds {"Hello":{m[order[0]],...}} from the chosen members. */
static void
build(char *out, size_t cap, const int *order, int n)
{
	size_t o = (size_t)snprintf(out, cap, "{\"Hello\":{");
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", member[order[i]]);
	snprintf(out + o, cap - o, "}}");
}

/* Every permutation of the six members parses to the same Hello (720 orders). */
static void
test_orders(void)
{
	int order[6] = { 0, 1, 2, 3, 4, 5 }, c[6] = { 0 }, i = 0, count = 0, ok = 0;
	char text[4096];
	struct rvpn_hello h;

	/* Heap's algorithm, iterative. */
	build(text, sizeof text, order, 6);
	count++;
	ok += hp(text, &h) == RVPN_HELLO_OK && memcmp(h.ephemeral_key, EK, 32) == 0 &&
	    memcmp(h.identity_key, IK, 32) == 0;
	while (i < 6) {
		if (c[i] < i) {
			int j = i % 2 == 0 ? 0 : c[i], t = order[j];
			order[j] = order[i];
			order[i] = t;
			build(text, sizeof text, order, 6);
			count++;
			ok += hp(text, &h) == RVPN_HELLO_OK &&
			    memcmp(h.ephemeral_key, EK, 32) == 0 &&
			    memcmp(h.identity_key, IK, 32) == 0;
			c[i]++;
			i = 0;
		} else {
			c[i] = 0;
			i++;
		}
	}
	CHECKF(count == 720 && ok == 720, "%d of %d orders parsed", ok, count);
}

/* Member-level rules: required, optional, unknown, duplicates, types. */
static void
test_members(void)
{
	char text[8192], a[400];
	struct rvpn_hello h;
	int four[4] = { 0, 1, 2, 3 };

	/* session_token / connection_nonce are optional. */
	build(text, sizeof text, four, 4);
	CHECK(hp(text, &h) == RVPN_HELLO_OK);
	/* Each required member missing: malformed. */
	for (int miss = 0; miss < 4; miss++) {
		int o[5], k = 0;
		for (int m = 0; m < 6; m++)
			if (m != miss)
				o[k++] = m;
		build(text, sizeof text, o, 5);
		CHECKF(hp(text, &h) == RVPN_HELLO_ERR_MALFORMED, "missing %d", miss);
	}
	/* A duplicate of any member: malformed (serde refuses duplicate fields). */
	for (int dup = 0; dup < 6; dup++) {
		int o[7] = { 0, 1, 2, 3, 4, 5, dup };
		build(text, sizeof text, o, 7);
		CHECKF(hp(text, &h) == RVPN_HELLO_ERR_MALFORMED, "duplicate %d", dup);
	}
	/* Unknown members of any JSON type are skipped, at both levels. */
	snprintf(text, sizeof text, "{\"Hello\":{\"zz\":{\"a\":[1,2.5e-3,-7,true,false,null,"
	    "\"\\u00e9\\n\"],\"b\":{}},%s,%s,%s,\"x\":[],%s,\"ephemeral_keyy\":3}}",
	    member[0], member[1], member[2], member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_OK);
	snprintf(text, sizeof text, "{\"Hello\":{\"version\":{\"major\":1,\"minor\":2,\"patch\":3,"
	    "\"pre\":\"x\"},%s,%s,%s}}", member[1], member[2], member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_OK && h.minor == 2 && h.patch == 3);
	/* Strict types. */
	static const char *const bad_versions[] = {
		"{\"major\":\"1\",\"minor\":0,\"patch\":0}", "{\"major\":1.0,\"minor\":0,\"patch\":0}",
		"{\"major\":-1,\"minor\":0,\"patch\":0}", "{\"major\":01,\"minor\":0,\"patch\":0}",
		"{\"major\":1e0,\"minor\":0,\"patch\":0}", "{\"major\":1,\"minor\":0}",
		"{\"major\":4294967296,\"minor\":0,\"patch\":0}", "[1,0,0]", "null",
	};
	for (size_t i = 0; i < sizeof bad_versions / sizeof *bad_versions; i++) {
		snprintf(text, sizeof text, "{\"Hello\":{\"version\":%s,%s,%s,%s}}", bad_versions[i],
		    member[1], member[2], member[3]);
		CHECKF(hp(text, &h) == RVPN_HELLO_ERR_MALFORMED, "version %s", bad_versions[i]);
	}
	snprintf(text, sizeof text, "{\"Hello\":{\"version\":{\"major\":4294967295,\"minor\":0,"
	    "\"patch\":0},%s,%s,%s}}", member[1], member[2], member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_ERR_VERSION && h.major == 4294967295u);
	static const char *const bad_auth[] = { "\"x3dh\"", "\"X3DH \"", "3", "null", "[\"X3DH\"]" };
	for (size_t i = 0; i < sizeof bad_auth / sizeof *bad_auth; i++) {
		snprintf(text, sizeof text, "{\"Hello\":{%s,\"auth_method\":%s,%s,%s}}", member[0],
		    bad_auth[i], member[2], member[3]);
		CHECKF(hp(text, &h) == RVPN_HELLO_ERR_MALFORMED, "auth %s", bad_auth[i]);
	}
	static const char *const bad_keys[] = { "[256]", "[-1]", "[1.5]", "\"abc\"", "null",
		"[1,]", "[,1]", "[\"1\"]", "{}" };
	for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
		snprintf(text, sizeof text, "{\"Hello\":{%s,%s,\"ephemeral_key\":%s,%s}}",
		    member[0], member[1], bad_keys[i], member[3]);
		CHECKF(hp(text, &h) == RVPN_HELLO_ERR_MALFORMED, "key %s", bad_keys[i]);
	}
	/* session_token: null or bytes; anything else is malformed. */
	snprintf(text, sizeof text, "{\"Hello\":{%s,%s,%s,%s,\"session_token\":[1,2,3]}}",
	    member[0], member[1], member[2], member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_OK);
	snprintf(text, sizeof text, "{\"Hello\":{%s,%s,%s,%s,\"session_token\":\"t\"}}",
	    member[0], member[1], member[2], member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_ERR_MALFORMED);
	/* Verdict order: malformed, then version, then auth, then key length. */
	arr(a, sizeof a, 31, 0);
	snprintf(text, sizeof text, "{\"Hello\":{\"version\":{\"major\":2,\"minor\":0,\"patch\":0},"
	    "\"auth_method\":\"Noise\",\"ephemeral_key\":%s,%s}}", a, member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_ERR_VERSION);
	snprintf(text, sizeof text, "{\"Hello\":{%s,\"auth_method\":\"Token\",\"ephemeral_key\":%s,"
	    "%s}}", member[0], a, member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_ERR_AUTH);
	snprintf(text, sizeof text, "{\"Hello\":{%s,%s,\"ephemeral_key\":%s,%s}}", member[0],
	    member[1], a, member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_ERR_KEY);
	arr(a, sizeof a, 33, 0);
	snprintf(text, sizeof text, "{\"Hello\":{%s,%s,%s,\"identity_key\":%s}}", member[0],
	    member[1], member[2], a);
	CHECK(hp(text, &h) == RVPN_HELLO_ERR_KEY);
	/* RVPN_HELLO_MAX_BYTES: 64 elements are read (then ERR_KEY), 65 are malformed. */
	arr(a, sizeof a, RVPN_HELLO_MAX_BYTES, 0);
	snprintf(text, sizeof text, "{\"Hello\":{%s,%s,\"ephemeral_key\":%s,%s}}", member[0],
	    member[1], a, member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_ERR_KEY);
	arr(a, sizeof a, RVPN_HELLO_MAX_BYTES + 1, 0);
	snprintf(text, sizeof text, "{\"Hello\":{%s,%s,\"ephemeral_key\":%s,%s}}", member[0],
	    member[1], a, member[3]);
	CHECK(hp(text, &h) == RVPN_HELLO_ERR_MALFORMED);
	/* The envelope: exactly one member named Hello, nothing after it. */
	build(text, sizeof text, four, 4);
	char t2[sizeof text + 64]; /* text and a few bytes more: no truncation */
	snprintf(t2, sizeof t2, "%s ", text);
	CHECK(hp(t2, &h) == RVPN_HELLO_OK);
	snprintf(t2, sizeof t2, "%sx", text);
	CHECK(hp(t2, &h) == RVPN_HELLO_ERR_MALFORMED);
	snprintf(t2, sizeof t2, "%s}", text);
	CHECK(hp(t2, &h) == RVPN_HELLO_ERR_MALFORMED);
	snprintf(t2, sizeof t2, "{\"Hello\":{%s,%s,%s,%s},\"x\":1}", member[0], member[1],
	    member[2], member[3]);
	CHECK(hp(t2, &h) == RVPN_HELLO_ERR_MALFORMED);
	snprintf(t2, sizeof t2, "{\"ServerHello\":{%s,%s,%s,%s}}", member[0], member[1], member[2],
	    member[3]);
	CHECK(hp(t2, &h) == RVPN_HELLO_ERR_MALFORMED);
	/* An escaped key names the same member; invalid UTF-8 or a raw control byte does not parse. */
	snprintf(t2, sizeof t2, "{\"\\u0048ello\":{%s,%s,%s,%s}}", member[0], member[1], member[2],
	    member[3]);
	CHECK(hp(t2, &h) == RVPN_HELLO_OK);
	snprintf(t2, sizeof t2, "{\"Hello\":{\"\xc3\x28\":1,%s,%s,%s,%s}}", member[0], member[1],
	    member[2], member[3]);
	CHECK(hp(t2, &h) == RVPN_HELLO_ERR_MALFORMED);
	snprintf(t2, sizeof t2, "{\"Hello\":{\"a\tb\":1,%s,%s,%s,%s}}", member[0], member[1],
	    member[2], member[3]);
	CHECK(hp(t2, &h) == RVPN_HELLO_ERR_MALFORMED);
	snprintf(t2, sizeof t2, "{\"Hello\":{\"\\ud800\":1,%s,%s,%s,%s}}", member[0], member[1],
	    member[2], member[3]);
	CHECK(hp(t2, &h) == RVPN_HELLO_ERR_MALFORMED);
	snprintf(t2, sizeof t2, "{\"Hello\":{\"\\ud83d\\ude00\\u00e9\xf0\x9f\x98\x80\":1,%s,%s,%s,"
	    "%s}}", member[0], member[1], member[2], member[3]);
	CHECK(hp(t2, &h) == RVPN_HELLO_OK);
}

/* Limits: message size and nesting depth at N and N+1. */
static void
test_limits(void)
{
	static char text[RVPN_HELLO_MAX + 64];
	char base[4096];
	struct rvpn_hello h;
	int four[4] = { 0, 1, 2, 3 };

	build(base, sizeof base, four, 4);
	size_t n = strlen(base);
	/* Pad with trailing whitespace to exactly RVPN_HELLO_MAX, then one more. */
	memcpy(text, base, n);
	memset(text + n, ' ', RVPN_HELLO_MAX - n);
	CHECK(rvpn_hello_parse((const uint8_t *)text, RVPN_HELLO_MAX, &h) == RVPN_HELLO_OK);
	text[RVPN_HELLO_MAX] = ' ';
	CHECK(rvpn_hello_parse((const uint8_t *)text, RVPN_HELLO_MAX + 1, &h) ==
	    RVPN_HELLO_ERR_TOO_LARGE);

	/* Depth: the envelope and the body use 2 levels; an unknown member nested to a total
	 * of RVPN_JSON_MAX_DEPTH parses, one level more does not. */
	for (int extra = RVPN_JSON_MAX_DEPTH - 2; extra <= RVPN_JSON_MAX_DEPTH - 1; extra++) {
		char nest[64] = "", close[64] = "";
		for (int i = 0; i < extra; i++) {
			nest[i] = '[';
			close[i] = ']';
		}
		snprintf(text, sizeof text, "{\"Hello\":{\"u\":%s%s,%s,%s,%s,%s}}", nest, close,
		    member[0], member[1], member[2], member[3]);
		enum rvpn_hello_verdict v = hp(text, &h);
		if (extra == RVPN_JSON_MAX_DEPTH - 2)
			CHECKF(v == RVPN_HELLO_OK, "depth N: %d", v);
		else
			CHECKF(v == RVPN_HELLO_ERR_MALFORMED, "depth N+1: %d", v);
	}
	/* A deep hostile nest (far past the limit) is refused without recursion trouble. */
	memset(text, '[', RVPN_HELLO_MAX);
	memcpy(text, "{\"Hello\":{\"u\":", 14);
	CHECK(rvpn_hello_parse((const uint8_t *)text, RVPN_HELLO_MAX, &h) ==
	    RVPN_HELLO_ERR_MALFORMED);
}

/* Every truncation of a valid message fails (and never reads past it: ASan build). */
static void
test_truncations(void)
{
	char out[RVPN_SERVER_HELLO_LEN];
	uint8_t spk[32], sig[64];
	struct rvpn_hello h;
	struct rvpn_server_msg m;
	int n, bad = 0;

	memset(spk, 7, sizeof spk);
	memset(sig, 9, sizeof sig);
	n = rvpn_hello_emit(out, sizeof out, EK, IK);
	CHECK(n > 0 && rvpn_hello_parse((const uint8_t *)out, (size_t)n, &h) == RVPN_HELLO_OK);
	for (int k = 0; k < n; k++)
		bad += rvpn_hello_parse((const uint8_t *)out, (size_t)k, &h) == RVPN_HELLO_ERR_MALFORMED;
	CHECKF(bad == n, "%d of %d hello prefixes malformed", bad, n);

	n = rvpn_server_hello_emit(out, sizeof out, spk, sig, IK);
	CHECK(n > 0 && rvpn_server_msg_parse((const uint8_t *)out, (size_t)n, &m) == 0);
	CHECK(m.kind == RVPN_SERVER_HELLO && memcmp(m.signed_prekey, spk, 32) == 0 &&
	    memcmp(m.prekey_signature, sig, 64) == 0 && memcmp(m.identity_key, IK, 32) == 0);
	bad = 0;
	for (int k = 0; k < n; k++)
		bad += rvpn_server_msg_parse((const uint8_t *)out, (size_t)k, &m) == -1;
	CHECKF(bad == n, "%d of %d server hello prefixes refused", bad, n);

	for (uint32_t code = 1; code <= 3; code++) {
		n = rvpn_error_emit(out, sizeof out, code);
		CHECK(n > 0 && rvpn_server_msg_parse((const uint8_t *)out, (size_t)n, &m) == 0 &&
		    m.kind == RVPN_SERVER_ERROR && m.code == code);
		bad = 0;
		for (int k = 0; k < n; k++)
			bad += rvpn_server_msg_parse((const uint8_t *)out, (size_t)k, &m) == -1;
		CHECKF(bad == n, "%d of %d error prefixes refused", bad, n);
	}
	n = rvpn_error_emit(out, sizeof out, RVPN_ERROR_VERSION);
	CHECK(n > 0 && strcmp(out, "{\"Error\":{\"code\":1,\"message\":\"Protocol version mismatch\"}}")
	    == 0);
	/* Emitters refuse a short buffer instead of cutting. */
	CHECK(rvpn_hello_emit(out, 100, EK, IK) == -1);
	n = rvpn_hello_emit(out, sizeof out, EK, IK);
	CHECK(rvpn_hello_emit(out, (size_t)n, EK, IK) == -1);
	CHECK(rvpn_hello_emit(out, (size_t)n + 1, EK, IK) == n);
}

/* The client-side parser of ServerHello: all four members required, in any order. */
static void
test_server_hello(void)
{
	char text[4096], a32[200], a64[400], a0[8];
	struct rvpn_server_msg m;

	arr(a32, sizeof a32, 32, 1);
	arr(a64, sizeof a64, 64, 2);
	arr(a0, sizeof a0, 0, 0);
	snprintf(text, sizeof text, "{\"ServerHello\":{\"identity_key\":%s,\"x\":null,"
	    "\"prekey_signature\":%s,\"signed_prekey\":%s,\"ephemeral_key\":%s}}", a32, a64, a32, a0);
	CHECK(rvpn_server_msg_parse((const uint8_t *)text, strlen(text), &m) == 0);
	snprintf(text, sizeof text, "{\"ServerHello\":{\"identity_key\":%s,"
	    "\"prekey_signature\":%s,\"signed_prekey\":%s}}", a32, a64, a32);
	CHECK(rvpn_server_msg_parse((const uint8_t *)text, strlen(text), &m) == -1);
	snprintf(text, sizeof text, "{\"ServerHello\":{\"identity_key\":%s,"
	    "\"prekey_signature\":%s,\"signed_prekey\":%s,\"ephemeral_key\":%s}}", a32, a32, a32, a0);
	CHECK(rvpn_server_msg_parse((const uint8_t *)text, strlen(text), &m) == -1);
	snprintf(text, sizeof text, "{\"Error\":{\"message\":\"no\",\"code\":3}}");
	CHECK(rvpn_server_msg_parse((const uint8_t *)text, strlen(text), &m) == 0 &&
	    m.kind == RVPN_SERVER_ERROR && m.code == 3 && m.message_len == 2);
	snprintf(text, sizeof text, "{\"Hello\":{}}");
	CHECK(rvpn_server_msg_parse((const uint8_t *)text, strlen(text), &m) == -1);
}

/* DNS messages: orders, limits, truncations, escapes. */
static void
test_dns(void)
{
	struct rvpn_dns_query q;
	struct rvpn_dns_response r, r2;
	char text[8192], dom[300];
	int n, bad = 0;

	const char *ok = "{\"query_type\":28,\"x\":[{}],\"domain\":\"a.example\",\"query_id\":18446744073709551615}";
	CHECK(rvpn_dns_query_parse((const uint8_t *)ok, strlen(ok), &q) == 0 &&
	    q.query_type == 28 && q.query_id == UINT64_MAX && strcmp(q.domain, "a.example") == 0);
	for (size_t k = 0; k < strlen(ok); k++)
		bad += rvpn_dns_query_parse((const uint8_t *)ok, k, &q) == -1;
	CHECK(bad == (int)strlen(ok));
	/* Domain length at N and N+1; empty, control and space refused; type is a u16. */
	memset(dom, 'a', sizeof dom);
	for (int len = RVPN_DNS_MAX_DOMAIN; len <= RVPN_DNS_MAX_DOMAIN + 1; len++) {
		snprintf(text, sizeof text, "{\"query_id\":1,\"domain\":\"%.*s\",\"query_type\":1}",
		    len, dom);
		CHECKF(rvpn_dns_query_parse((const uint8_t *)text, strlen(text), &q) ==
		    (len == RVPN_DNS_MAX_DOMAIN ? 0 : -1), "domain %d", len);
	}
	static const char *const bad_q[] = {
		"{\"query_id\":1,\"domain\":\"\",\"query_type\":1}",
		"{\"query_id\":1,\"domain\":\"a b\",\"query_type\":1}",
		"{\"query_id\":1,\"domain\":\"a\\u0000b\",\"query_type\":1}",
		"{\"query_id\":1,\"domain\":\"a\",\"query_type\":65536}",
		"{\"query_id\":1,\"domain\":\"a\"}",
		"{\"query_id\":1,\"domain\":\"a\",\"query_type\":1,\"domain\":\"b\"}",
		"{\"query_id\":18446744073709551616,\"domain\":\"a\",\"query_type\":1}",
	};
	for (size_t i = 0; i < sizeof bad_q / sizeof *bad_q; i++)
		CHECKF(rvpn_dns_query_parse((const uint8_t *)bad_q[i], strlen(bad_q[i]), &q) == -1,
		    "%s", bad_q[i]);
	/* Response: emit with escapes, parse back; addresses at N and N+1. */
	memset(&r, 0, sizeof r);
	r.query_id = 3;
	r.n6 = RVPN_DNS_MAX_ADDRS;
	for (int i = 0; i < RVPN_DNS_MAX_ADDRS; i++)
		snprintf(r.ipv6[i], sizeof r.ipv6[i], "2001:db8::%x", i);
	r.has_error = true;
	snprintf(r.error, sizeof r.error, "a \"quoted\"\\ \n\x01 text");
	r.ttl = 900;
	n = rvpn_dns_response_emit(text, sizeof text, &r);
	CHECK(n > 0 && strstr(text, "\\\"quoted\\\"\\\\ \\n\\u0001") != NULL);
	CHECK(rvpn_dns_response_parse((const uint8_t *)text, (size_t)n, &r2) == 0 &&
	    memcmp(&r, &r2, sizeof r) == 0);
	bad = 0;
	for (int k = 0; k < n; k++)
		bad += rvpn_dns_response_parse((const uint8_t *)text, (size_t)k, &r2) == -1;
	CHECK(bad == n);
	char *end = strstr(text, "],\"ttl\"");
	CHECK(end != NULL);
	if (end != NULL) {
		char t2[8192];
		snprintf(t2, sizeof t2, "%.*s,\"::1\"%s", (int)(end - text), text, end);
		CHECK(rvpn_dns_response_parse((const uint8_t *)t2, strlen(t2), &r2) == -1);
	}
	r.n6 = RVPN_DNS_MAX_ADDRS + 1;
	CHECK(rvpn_dns_response_emit(text, sizeof text, &r) == -1);
	const char *noerr = "{\"query_id\":7,\"success\":true,\"ipv4_addrs\":[\"1.2.3.4\"],"
	    "\"ipv6_addrs\":[],\"ttl\":900}";
	CHECK(rvpn_dns_response_parse((const uint8_t *)noerr, strlen(noerr), &r2) == 0 &&
	    !r2.has_error && r2.n4 == 1);
	const char *badaddr = "{\"query_id\":7,\"success\":true,\"ipv4_addrs\":[\"1.2.3.4 \"],"
	    "\"ipv6_addrs\":[],\"ttl\":900}";
	CHECK(rvpn_dns_response_parse((const uint8_t *)badaddr, strlen(badaddr), &r2) == -1);
}

/* VirtualIp: dns_servers at N and N+1, ipv6 present, truncations. */
static void
test_vip(void)
{
	struct rvpn_vip v, v2;
	char text[RVPN_VIP_MAX];
	int n, bad = 0;

	memset(&v, 0, sizeof v);
	snprintf(v.ipv4, sizeof v.ipv4, "10.200.0.9");
	v.has_ipv6 = true;
	snprintf(v.ipv6, sizeof v.ipv6, "fd00::9");
	snprintf(v.gateway_ip, sizeof v.gateway_ip, "10.200.0.1");
	v.ndns = RVPN_VIP_MAX_DNS;
	for (int i = 0; i < RVPN_VIP_MAX_DNS; i++)
		snprintf(v.dns_servers[i], sizeof v.dns_servers[i], "9.9.9.%d", i);
	v.mtu = 1280;
	n = rvpn_vip_emit(text, sizeof text, &v);
	CHECK(n > 0 && rvpn_vip_parse((const uint8_t *)text, (size_t)n, &v2) == 0 &&
	    memcmp(&v, &v2, sizeof v) == 0);
	for (int k = 0; k < n; k++)
		bad += rvpn_vip_parse((const uint8_t *)text, (size_t)k, &v2) == -1;
	CHECK(bad == n);
	v.ndns = RVPN_VIP_MAX_DNS + 1;
	CHECK(rvpn_vip_emit(text, sizeof text, &v) == -1);
	const char *five = "{\"ipv4\":\"1.1.1.1\",\"ipv6\":null,\"gateway_ip\":\"1.1.1.2\","
	    "\"dns_servers\":[\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\"],\"mtu\":1}";
	CHECK(rvpn_vip_parse((const uint8_t *)five, strlen(five), &v2) == -1);
}

/* The remaining named limits at N and N+1: key length, message sizes, error strings. */
static void
test_more_limits(void)
{
	static char text[RVPN_DNS_MAX + 64], big[600];
	struct rvpn_hello h;
	struct rvpn_server_msg m;
	struct rvpn_dns_query q;
	struct rvpn_dns_response r;
	struct rvpn_vip v;
	size_t n;

	/* Keys of RVPN_JSON_MAX_KEY and one more characters are read whole and skipped; a long
	 * key whose prefix is a known name is not that name. */
	memset(big, 'k', sizeof big);
	for (int len = RVPN_JSON_MAX_KEY; len <= RVPN_JSON_MAX_KEY + 1; len++) {
		snprintf(text, sizeof text, "{\"Hello\":{\"%.*s\":1,\"version%.*s\":[],%s,%s,%s,%s}}",
		    len, big, len - 7, big, member[0], member[1], member[2], member[3]);
		CHECKF(hp(text, &h) == RVPN_HELLO_OK, "key length %d", len);
	}
	/* DnsQuery and VirtualIp size limits (trailing whitespace). */
	const char *dq = "{\"query_id\":1,\"domain\":\"a\",\"query_type\":1}";
	n = strlen(dq);
	memcpy(text, dq, n);
	memset(text + n, ' ', RVPN_DNS_MAX + 1 - n);
	CHECK(rvpn_dns_query_parse((const uint8_t *)text, RVPN_DNS_MAX, &q) == 0);
	CHECK(rvpn_dns_query_parse((const uint8_t *)text, RVPN_DNS_MAX + 1, &q) == -1);
	const char *dr = "{\"query_id\":1,\"success\":false,\"ipv4_addrs\":[],\"ipv6_addrs\":[],"
	    "\"ttl\":0,\"error\":null}";
	n = strlen(dr);
	memcpy(text, dr, n);
	memset(text + n, ' ', RVPN_DNS_MAX + 1 - n);
	CHECK(rvpn_dns_response_parse((const uint8_t *)text, RVPN_DNS_MAX, &r) == 0);
	CHECK(rvpn_dns_response_parse((const uint8_t *)text, RVPN_DNS_MAX + 1, &r) == -1);
	const char *vj = "{\"ipv4\":\"1.1.1.1\",\"ipv6\":null,\"gateway_ip\":\"1.1.1.2\","
	    "\"dns_servers\":[],\"mtu\":1}";
	n = strlen(vj);
	memcpy(text, vj, n);
	memset(text + n, ' ', RVPN_VIP_MAX + 1 - n);
	CHECK(rvpn_vip_parse((const uint8_t *)text, RVPN_VIP_MAX, &v) == 0);
	CHECK(rvpn_vip_parse((const uint8_t *)text, RVPN_VIP_MAX + 1, &v) == -1);
	/* A DNS error string of RVPN_DNS_MAX_ERROR bytes, then one more. */
	for (int len = RVPN_DNS_MAX_ERROR; len <= RVPN_DNS_MAX_ERROR + 1; len++) {
		snprintf(text, sizeof text, "{\"query_id\":1,\"success\":false,\"ipv4_addrs\":[],"
		    "\"ipv6_addrs\":[],\"ttl\":0,\"error\":\"%.*s\"}", len, big);
		CHECKF(rvpn_dns_response_parse((const uint8_t *)text, strlen(text), &r) ==
		    (len == RVPN_DNS_MAX_ERROR ? 0 : -1), "dns error %d", len);
	}
	/* A handshake Error message of RVPN_HELLO_ERROR_MAX bytes, then one more. */
	for (int len = RVPN_HELLO_ERROR_MAX; len <= RVPN_HELLO_ERROR_MAX + 1; len++) {
		snprintf(text, sizeof text, "{\"Error\":{\"code\":2,\"message\":\"%.*s\"}}", len,
		    big);
		CHECKF(rvpn_server_msg_parse((const uint8_t *)text, strlen(text), &m) ==
		    (len == RVPN_HELLO_ERROR_MAX ? 0 : -1), "error message %d", len);
	}
}

int
main(void)
{
	char a[400];

	for (int i = 0; i < 32; i++) {
		EK[i] = (uint8_t)(100 + i);
		IK[i] = (uint8_t)(200 + i);
	}
	snprintf(member[0], sizeof member[0], "\"version\":{\"major\":1,\"minor\":0,\"patch\":0}");
	snprintf(member[1], sizeof member[1], "\"auth_method\":\"X3DH\"");
	arr(a, sizeof a, 32, 100);
	snprintf(member[2], sizeof member[2], "\"ephemeral_key\":%s", a);
	arr(a, sizeof a, 32, 200);
	snprintf(member[3], sizeof member[3], "\"identity_key\" : \n%s", a);
	snprintf(member[4], sizeof member[4], "\"session_token\":null");
	snprintf(member[5], sizeof member[5], "\"connection_nonce\":null");
	test_orders();
	test_members();
	test_limits();
	test_truncations();
	test_server_hello();
	test_dns();
	test_vip();
	test_more_limits();
	return check_summary();
}
