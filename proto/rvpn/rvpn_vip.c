/*
 * VirtualIp JSON of rvpn_vip.h:
 *
 *   {"ipv4":"10.200.0.3","ipv6":null,"gateway_ip":"10.200.0.1","dns_servers":["8.8.8.8"],
 *    "mtu":1420}
 *
 * Address members are copied as text after a character check (hex digits, '.', ':').
 */
#include "proto/rvpn/rvpn_vip.h"

#include <string.h>

#include "proto/rvpn/rvpn_json.h"

/* Appends "text" of a NUL-terminated address. */
static void
jw_addr(struct rvpn_jw *w, const char *a)
{
	rvpn_jw_str(w, (const uint8_t *)a, strnlen(a, RVPN_VIP_ADDR_LEN - 1));
}

/* See rvpn_vip.h. */
int
rvpn_vip_emit(char *out, size_t cap, const struct rvpn_vip *v)
{
	struct rvpn_jw w;

	if (v->ndns > RVPN_VIP_MAX_DNS)
		return -1;
	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, "{\"ipv4\":");
	jw_addr(&w, v->ipv4);
	rvpn_jw_lit(&w, ",\"ipv6\":");
	if (v->has_ipv6)
		jw_addr(&w, v->ipv6);
	else
		rvpn_jw_lit(&w, "null");
	rvpn_jw_lit(&w, ",\"gateway_ip\":");
	jw_addr(&w, v->gateway_ip);
	rvpn_jw_lit(&w, ",\"dns_servers\":[");
	for (size_t i = 0; i < v->ndns; i++) {
		if (i > 0)
			rvpn_jw_raw(&w, ",", 1);
		jw_addr(&w, v->dns_servers[i]);
	}
	rvpn_jw_lit(&w, "],\"mtu\":");
	rvpn_jw_uint(&w, v->mtu);
	rvpn_jw_lit(&w, "}");
	return rvpn_jw_done(&w);
}


/* Reads one address string into a (NUL-terminated). */
static int
json_addr(struct rvpn_json *j, char a[RVPN_VIP_ADDR_LEN])
{
	size_t n;

	if (rvpn_json_string(j, (uint8_t *)a, RVPN_VIP_ADDR_LEN - 1, &n) != 0 || n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = a[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		    c == '.' || c == ':'))
			return -1;
	}
	a[n] = '\0';
	return 0;
}

/* See rvpn_vip.h. */
int
rvpn_vip_parse(const uint8_t *buf, size_t len, struct rvpn_vip *v)
{
	char key[RVPN_JSON_MAX_KEY + 1];
	struct rvpn_json j;
	bool first = true, afirst;
	unsigned seen = 0, bit;
	size_t klen;
	uint64_t x;
	int r, rc;

	memset(v, 0, sizeof *v);
	if (len > RVPN_VIP_MAX)
		return -1;
	rvpn_json_init(&j, buf, len);
	if (rvpn_json_obj_begin(&j) != 0)
		return -1;
	while ((r = rvpn_json_obj_next(&j, &first, key, &klen)) == 1) {
		bit = 0;
		if (rvpn_json_key_is(key, klen, "ipv4")) {
			bit = 1;
			rc = json_addr(&j, v->ipv4);
		} else if (rvpn_json_key_is(key, klen, "ipv6")) {
			bit = 2;
			rc = 0;
			if (rvpn_json_null(&j) != 1) {
				v->has_ipv6 = true;
				rc = json_addr(&j, v->ipv6);
			}
		} else if (rvpn_json_key_is(key, klen, "gateway_ip")) {
			bit = 4;
			rc = json_addr(&j, v->gateway_ip);
		} else if (rvpn_json_key_is(key, klen, "dns_servers")) {
			bit = 8;
			afirst = true;
			rc = rvpn_json_arr_begin(&j);
			while (rc == 0 && (rc = rvpn_json_arr_next(&j, &afirst)) == 1) {
				rc = v->ndns < RVPN_VIP_MAX_DNS ?
				    json_addr(&j, v->dns_servers[v->ndns]) : -1;
				v->ndns++;
			}
		} else if (rvpn_json_key_is(key, klen, "mtu")) {
			bit = 16;
			rc = rvpn_json_uint(&j, UINT32_MAX, &x);
			v->mtu = (uint32_t)x;
		} else {
			rc = rvpn_json_skip(&j);
		}
		if (rc != 0 || (seen & bit) != 0)
			return -1;
		seen |= bit;
	}
	if (r != 0 || seen != 31 || rvpn_json_end(&j) != 0)
		return -1;
	return 0;
}
