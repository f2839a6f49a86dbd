/*
 * terminator/vpn/vdns: the pure answer builder (A keeps IPv4 only, AAAA IPv6 only,
 * duplicates dropped, RVPN_DNS_MAX_ADDRS at N and N+1, NXDOMAIN and other failures, the
 * exact "server busy" DnsResponse), and the in-flight limit VDNS_INFLIGHT_MAX at N and N+1
 * on a real vdns whose lookups never run (the loop is not started); one evdns base per
 * worker, shared by every session, a new one after vpn.dns changes, freed by the last user.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "terminator/vpn/vdns.h"

#define NAI 40

static struct evutil_addrinfo ai[NAI];
static struct sockaddr_in6 sa[NAI]; /* big enough for either family */

/* Builds a list of n4 IPv4 and n6 IPv6 addresses, alternating while both last; address i
 * ends in i (or always 1 when dup). */
static struct evutil_addrinfo *
list(unsigned n4, unsigned n6, bool dup)
{
	unsigned n = n4 + n6, both = 2 * (n4 < n6 ? n4 : n6);
	memset(ai, 0, sizeof ai);
	memset(sa, 0, sizeof sa);
	for (unsigned i = 0; i < n && i < NAI; i++) {
		bool v4 = i < both ? i % 2 == 0 : n4 > n6;
		if (v4) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&sa[i];
			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = htonl(0xc0000200u + (dup ? 1 : i));
			ai[i].ai_family = AF_INET;
			ai[i].ai_addrlen = sizeof *s4;
		} else {
			sa[i].sin6_family = AF_INET6;
			sa[i].sin6_addr.s6_addr[0] = 0x20;
			sa[i].sin6_addr.s6_addr[1] = 0x01;
			sa[i].sin6_addr.s6_addr[15] = (uint8_t)(dup ? 1 : i);
			ai[i].ai_family = AF_INET6;
			ai[i].ai_addrlen = sizeof sa[i];
		}
		ai[i].ai_addr = (struct sockaddr *)&sa[i];
		ai[i].ai_next = i + 1 < n && i + 1 < NAI ? &ai[i + 1] : NULL;
	}
	return n > 0 ? ai : NULL;
}

/* Emits r and compares with want. */
static void
json_is(const struct rvpn_dns_response *r, const char *want)
{
	char out[RVPN_DNS_MAX];
	int n = rvpn_dns_response_emit(out, sizeof out, r);
	CHECKF(n > 0 && (size_t)n == strlen(want) && memcmp(out, want, (size_t)n) == 0,
	    "got [%.*s] want [%s]", n > 0 ? n : 0, out, want);
}

static void
test_answer(void)
{
	struct rvpn_dns_response r;
	/* Mixed: 2 IPv4, 2 IPv6, alternating. */
	CHECK(vdns_answer(&r, 7, RVPN_DNS_TYPE_A, 0, list(2, 2, false)) == VDNS_OK);
	CHECK(r.success && r.n4 == 2 && r.n6 == 0 && r.ttl == RVPN_DNS_TTL && !r.has_error);
	json_is(&r, "{\"query_id\":7,\"success\":true,\"ipv4_addrs\":[\"192.0.2.0\",\"192.0.2.2\"],"
	    "\"ipv6_addrs\":[],\"ttl\":900,\"error\":null}");
	CHECK(vdns_answer(&r, 8, RVPN_DNS_TYPE_AAAA, 0, list(2, 2, false)) == VDNS_OK);
	CHECK(r.success && r.n4 == 0 && r.n6 == 2);
	json_is(&r, "{\"query_id\":8,\"success\":true,\"ipv4_addrs\":[],"
	    "\"ipv6_addrs\":[\"2001::1\",\"2001::3\"],\"ttl\":900,\"error\":null}");
	/* Only IPv6 for an A query: success, empty (the reference's filter). */
	CHECK(vdns_answer(&r, 9, RVPN_DNS_TYPE_A, 0, list(0, 3, false)) == VDNS_OK);
	CHECK(r.success && r.n4 == 0 && r.n6 == 0);
	/* Duplicates (one per socket type) collapse. */
	CHECK(vdns_answer(&r, 1, RVPN_DNS_TYPE_A, 0, list(3, 0, true)) == VDNS_OK);
	CHECK(r.n4 == 1 && strcmp(r.ipv4[0], "192.0.2.1") == 0);
	/* RVPN_DNS_MAX_ADDRS at N and N+1. */
	CHECK(vdns_answer(&r, 1, RVPN_DNS_TYPE_A, 0, list(RVPN_DNS_MAX_ADDRS, 0, false)) == VDNS_OK);
	CHECK(r.n4 == RVPN_DNS_MAX_ADDRS);
	CHECK(vdns_answer(&r, 1, RVPN_DNS_TYPE_A, 0, list(RVPN_DNS_MAX_ADDRS + 1, 0, false)) ==
	    VDNS_OK);
	CHECK(r.n4 == RVPN_DNS_MAX_ADDRS);
	CHECK(vdns_answer(&r, 1, RVPN_DNS_TYPE_AAAA, 0, list(0, RVPN_DNS_MAX_ADDRS + 1, false)) ==
	    VDNS_OK);
	CHECK(r.n6 == RVPN_DNS_MAX_ADDRS);
	/* Another type: success, empty. */
	CHECK(vdns_answer(&r, 2, 15, 0, list(2, 2, false)) == VDNS_OK);
	CHECK(r.success && r.n4 == 0 && r.n6 == 0);
	/* Failures. */
	CHECK(vdns_answer(&r, 3, RVPN_DNS_TYPE_A, EVUTIL_EAI_NONAME, NULL) == VDNS_NXDOMAIN);
	json_is(&r, "{\"query_id\":3,\"success\":false,\"ipv4_addrs\":[],\"ipv6_addrs\":[],"
	    "\"ttl\":0,\"error\":\"name not found\"}");
	CHECK(vdns_answer(&r, 4, RVPN_DNS_TYPE_A, EVUTIL_EAI_FAIL, NULL) == VDNS_ERROR);
	CHECK(!r.success && r.has_error && strcmp(r.error, "lookup failed") == 0);
	vdns_fail(&r, 5, VDNS_BUSY);
	json_is(&r, "{\"query_id\":5,\"success\":false,\"ipv4_addrs\":[],\"ipv6_addrs\":[],"
	    "\"ttl\":0,\"error\":\"server busy\"}");
	vdns_fail(&r, 6, VDNS_TIMEOUT);
	CHECK(strcmp(r.error, "timeout") == 0);
	CHECK(strcmp(vdns_result_name(VDNS_OK), "ok") == 0 &&
	    strcmp(vdns_result_name(VDNS_NXDOMAIN), "nxdomain") == 0 &&
	    strcmp(vdns_result_name(VDNS_TIMEOUT), "timeout") == 0 &&
	    strcmp(vdns_result_name(VDNS_BUSY), "busy") == 0 &&
	    strcmp(vdns_result_name(VDNS_ERROR), "error") == 0);
}

/* Never called: the loop does not run. */
static void
ready(void *arg)
{
	(void)arg;
}

/* A query for a name nothing will answer (the loop never runs). */
static int
ask(struct vdns *d, unsigned id, const char *type_json, struct rvpn_dns_response *now,
    enum vdns_result *res)
{
	char q[128];
	int n = snprintf(q, sizeof q, "{\"query_id\":%u,\"domain\":\"a.test\",\"query_type\":%s}",
	    id, type_json);
	return vdns_query(d, (const uint8_t *)q, (size_t)n, now, res);
}

/* A vpn.dns of one server, 127.0.0.1:9 (discard: nothing answers, and the loop never
 * runs anyway), 5 s per query. */
static void
discard_dns(struct conf_addr *srv, struct conf_vpn_dns *dv)
{
	memset(srv, 0, sizeof *srv);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&srv->ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(9);
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv->len = sizeof *s4;
	memset(dv, 0, sizeof *dv);
	dv->servers = srv;
	dv->nservers = 1;
	dv->timeout_ms = 5000;
}

static void
test_inflight(void)
{
	struct event_base *base = event_base_new();
	CHECK(base != NULL);
	struct conf_addr srv;
	struct conf_vpn_dns dv;
	discard_dns(&srv, &dv);
	struct vdns *d = vdns_new(base, &dv, ready, NULL);
	CHECK(d != NULL);
	if (d == NULL)
		return;
	struct rvpn_dns_response now;
	enum vdns_result res;
	CHECK(vdns_query(d, (const uint8_t *)"{}", 2, &now, &res) == -1);
	CHECK(ask(d, 1, "1", &now, &res) == 0);
	for (unsigned i = 2; i <= VDNS_INFLIGHT_MAX; i++)
		CHECK(ask(d, i, i % 2 ? "1" : "28", &now, &res) == 0);
	CHECK(vdns_inflight(d) == VDNS_INFLIGHT_MAX);
	CHECK(!vdns_next(d, &now, &res));
	/* N+1: busy at once, no slot taken. */
	CHECK(ask(d, 65, "1", &now, &res) == 1);
	CHECK(res == VDNS_BUSY && now.query_id == 65 && !now.success &&
	    strcmp(now.error, VDNS_ERR_BUSY) == 0);
	CHECK(vdns_inflight(d) == VDNS_INFLIGHT_MAX);
	/* Other types are answered without a slot, even when full. */
	CHECK(ask(d, 66, "15", &now, &res) == 1 && res == VDNS_OK && now.success);
	vdns_free(d);
	/* evdns finishes cancelled requests in deferred callbacks: one loop turn runs them, as
	 * the worker's loop does after a session ends. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}

/* One evdns base per worker (issue 9 item 2): every session of a thread with the same
 * vpn.dns shares one; a changed vpn.dns (a reload) gets a new one while the old one lives
 * until its last user drops it; the worker's exit drops its own reference. */
static void
test_worker_base(void)
{
	struct event_base *base = event_base_new();
	CHECK(base != NULL);
	struct conf_addr srv;
	struct conf_vpn_dns dv;
	discard_dns(&srv, &dv);
	unsigned long made = vdns_res_made();
	struct vdns *d1 = vdns_new(base, &dv, ready, NULL);
	struct vdns *d2 = vdns_new(base, &dv, ready, NULL);
	struct vdns_res *r1 = vdns_res_take(base, &dv); /* a /ws or /mux session's */
	struct vdns_res *r2 = vdns_res_take(base, &dv);
	CHECK(d1 != NULL && d2 != NULL && r1 != NULL && r1 == r2);
	CHECKF(vdns_res_made() == made + 1, "%lu bases for four sessions", vdns_res_made() - made);
	struct conf_vpn_dns dv2 = dv;
	dv2.timeout_ms = 2000; /* a reload changed vpn.dns */
	struct vdns_res *r3 = vdns_res_take(base, &dv2);
	CHECK(r3 != NULL && r3 != r1 && vdns_res_made() == made + 2);
	CHECK(vdns_res_evdns(r1) != vdns_res_evdns(r3));
	vdns_res_drop(r1);
	vdns_res_drop(r2);
	vdns_free(d1);
	vdns_free(d2); /* the old base's last user: it is freed here (ASan sees a leak if not) */
	vdns_res_drop(r3);
	vdns_worker_exit(); /* and the new one with the worker's reference */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}

int
main(void)
{
	test_answer();
	test_inflight();
	vdns_worker_exit(); /* the thread's base of test_inflight */
	test_worker_base();
	return check_summary();
}
