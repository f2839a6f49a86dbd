/*
 * DnsQuery / DnsResponse JSON of rvpn_dns.h:
 *
 *   {"query_id":7,"domain":"example.com","query_type":1}
 *   {"query_id":7,"success":true,"ipv4_addrs":["93.184.215.14"],"ipv6_addrs":[],
 *    "ttl":900,"error":null}
 *
 * Address strings are copied into fixed arrays, bounded by RVPN_DNS_MAX_ADDRS; they are
 * checked to be address-looking text (hex digits, '.', ':') so nothing else reaches a
 * resolver or a log.
 */
#include "proto/rvpn/rvpn_dns.h"

#include <string.h>

#include "proto/rvpn/rvpn_json.h"


/* True when s[0 .. n) is 1..n bytes of printable ASCII without spaces. */
static bool
printable(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)s[i] < 0x21 || (uint8_t)s[i] > 0x7e)
			return false;
	return true;
}

/* See rvpn_dns.h. */
int
rvpn_dns_query_parse(const uint8_t *buf, size_t len, struct rvpn_dns_query *q)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	struct rvpn_json j;
	bool first = true;
	unsigned seen = 0, bit;
	size_t klen;
	uint64_t v;
	int r, rc;

	memset(q, 0, sizeof *q);
	if (len > RVPN_DNS_MAX)
		return -1;
	rvpn_json_init(&j, buf, len);
	if (rvpn_json_obj_begin(&j) != 0)
		return -1;
	while ((r = rvpn_json_obj_next(&j, &first, key, &klen)) == 1) {
		bit = 0;
		if (rvpn_json_key_is(key, klen, "query_id")) {
			bit = 1;
			rc = rvpn_json_uint(&j, UINT64_MAX, &q->query_id);
		} else if (rvpn_json_key_is(key, klen, "domain")) {
			bit = 2;
			rc = rvpn_json_string(&j, (uint8_t *)q->domain, RVPN_DNS_MAX_DOMAIN,
			    &q->domain_len);
			if (rc == 0 && !printable(q->domain, q->domain_len))
				rc = -1;
		} else if (rvpn_json_key_is(key, klen, "query_type")) {
			bit = 4;
			rc = rvpn_json_uint(&j, UINT16_MAX, &v);
			q->query_type = (uint16_t)v;
		} else {
			rc = rvpn_json_skip(&j);
		}
		if (rc != 0 || (seen & bit) != 0)
			return -1;
		seen |= bit;
	}
	if (r != 0 || seen != 7 || rvpn_json_end(&j) != 0)
		return -1;
	q->domain[q->domain_len] = '\0';
	return 0;
}

/* See rvpn_dns.h. */
int
rvpn_dns_query_emit(char *out, size_t cap, const struct rvpn_dns_query *q)
{
	struct rvpn_jw w;

	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, "{\"query_id\":");
	rvpn_jw_uint(&w, q->query_id);
	rvpn_jw_lit(&w, ",\"domain\":");
	rvpn_jw_str(&w, (const uint8_t *)q->domain, q->domain_len);
	rvpn_jw_lit(&w, ",\"query_type\":");
	rvpn_jw_uint(&w, q->query_type);
	rvpn_jw_lit(&w, "}");
	return rvpn_jw_done(&w);
}

/* Appends a JSON array of address strings. */
static void
jw_addrs(struct rvpn_jw *w, const char a[][RVPN_DNS_ADDR_LEN], size_t n)
{
	rvpn_jw_raw(w, "[", 1);
	for (size_t i = 0; i < n && i < RVPN_DNS_MAX_ADDRS; i++) {
		if (i > 0)
			rvpn_jw_raw(w, ",", 1);
		rvpn_jw_str(w, (const uint8_t *)a[i], strnlen(a[i], RVPN_DNS_ADDR_LEN - 1));
	}
	rvpn_jw_raw(w, "]", 1);
}

/* See rvpn_dns.h. */
int
rvpn_dns_response_emit(char *out, size_t cap, const struct rvpn_dns_response *r)
{
	struct rvpn_jw w;

	if (r->n4 > RVPN_DNS_MAX_ADDRS || r->n6 > RVPN_DNS_MAX_ADDRS)
		return -1;
	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, "{\"query_id\":");
	rvpn_jw_uint(&w, r->query_id);
	rvpn_jw_lit(&w, r->success ? ",\"success\":true" : ",\"success\":false");
	rvpn_jw_lit(&w, ",\"ipv4_addrs\":");
	jw_addrs(&w, r->ipv4, r->n4);
	rvpn_jw_lit(&w, ",\"ipv6_addrs\":");
	jw_addrs(&w, r->ipv6, r->n6);
	rvpn_jw_lit(&w, ",\"ttl\":");
	rvpn_jw_uint(&w, r->ttl);
	rvpn_jw_lit(&w, ",\"error\":");
	if (r->has_error)
		rvpn_jw_str(&w, (const uint8_t *)r->error, strnlen(r->error, RVPN_DNS_MAX_ERROR));
	else
		rvpn_jw_lit(&w, "null");
	rvpn_jw_lit(&w, "}");
	return rvpn_jw_done(&w);
}

/* True when s looks like an IPv4 or IPv6 address text (hex digits, '.', ':'). */
static bool
addr_text(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		    c == '.' || c == ':'))
			return false;
	}
	return true;
}

/* Reads an array of address strings into a (at most RVPN_DNS_MAX_ADDRS). */
static int
json_addrs(struct rvpn_json *j, char a[][RVPN_DNS_ADDR_LEN], size_t *n)
{
	bool first = true;
	size_t k;
	int r;

	*n = 0;
	if (rvpn_json_arr_begin(j) != 0)
		return -1;
	while ((r = rvpn_json_arr_next(j, &first)) == 1) {
		if (*n >= RVPN_DNS_MAX_ADDRS ||
		    rvpn_json_string(j, (uint8_t *)a[*n], RVPN_DNS_ADDR_LEN - 1, &k) != 0 ||
		    !addr_text(a[*n], k))
			return -1;
		a[(*n)++][k] = '\0';
	}
	return r;
}

/* See rvpn_dns.h. */
int
rvpn_dns_response_parse(const uint8_t *buf, size_t len, struct rvpn_dns_response *r)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	struct rvpn_json j;
	bool first = true;
	unsigned seen = 0, bit;
	size_t klen, k;
	uint64_t v;
	int rr, rc;

	memset(r, 0, sizeof *r);
	if (len > RVPN_DNS_MAX)
		return -1;
	rvpn_json_init(&j, buf, len);
	if (rvpn_json_obj_begin(&j) != 0)
		return -1;
	while ((rr = rvpn_json_obj_next(&j, &first, key, &klen)) == 1) {
		bit = 0;
		if (rvpn_json_key_is(key, klen, "query_id")) {
			bit = 1;
			rc = rvpn_json_uint(&j, UINT64_MAX, &r->query_id);
		} else if (rvpn_json_key_is(key, klen, "success")) {
			bit = 2;
			rc = rvpn_json_bool(&j, &r->success);
		} else if (rvpn_json_key_is(key, klen, "ipv4_addrs")) {
			bit = 4;
			rc = json_addrs(&j, r->ipv4, &r->n4);
		} else if (rvpn_json_key_is(key, klen, "ipv6_addrs")) {
			bit = 8;
			rc = json_addrs(&j, r->ipv6, &r->n6);
		} else if (rvpn_json_key_is(key, klen, "ttl")) {
			bit = 16;
			rc = rvpn_json_uint(&j, UINT32_MAX, &v);
			r->ttl = (uint32_t)v;
		} else if (rvpn_json_key_is(key, klen, "error")) {
			bit = 32;
			rc = 0;
			if (rvpn_json_null(&j) != 1) {
				r->has_error = true;
				rc = rvpn_json_string(&j, (uint8_t *)r->error, RVPN_DNS_MAX_ERROR, &k);
				if (rc == 0)
					r->error[k] = '\0';
			}
		} else {
			rc = rvpn_json_skip(&j);
		}
		if (rc != 0 || (seen & bit) != 0)
			return -1;
		seen |= bit;
	}
	/* error is an Option: serde takes a missing one as None. */
	if (rr != 0 || (seen & 31) != 31 || rvpn_json_end(&j) != 0)
		return -1;
	return 0;
}
