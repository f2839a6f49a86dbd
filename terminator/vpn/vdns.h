/*
 * The `/dns` path's resolver (rvpn-protocol.md §7.6): DnsQuery messages in, DnsResponse
 * answers out, in whatever order the lookups finish. Every query is resolved with libevent's
 * evdns (never a blocking call on the loop), has its own deadline (`vpn.dns.timeout`) and
 * takes one of VDNS_INFLIGHT_MAX slots until its answer has been handed to the session; a
 * query beyond that is answered "server busy" at once. One vdns per /dns session, on the
 * worker's shared evdns base (vdns_res_take); the
 * session (vsess.c) seals and queues the answers, so the wire order is the seal order.
 * It never connects anywhere: answers are data, the egress policy applies to connects.
 */
#ifndef SY_TERMINATOR_VPN_VDNS_H
#define SY_TERMINATOR_VPN_VDNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h> /* struct evutil_addrinfo: a macro for struct addrinfo */

#include "core/conf-t.h"
#include "proto/rvpn/rvpn_dns.h"

#define VDNS_INFLIGHT_MAX 64   /* queries per session resolving or waiting to be sent (§7.6) */
#define VDNS_ERR_BUSY     "server busy" /* §7.6: the reference's overflow error, exactly */

/* How one query ended; also the `result` label of switchyard_vpn_dns_queries_total. */
enum vdns_result { VDNS_OK, VDNS_NXDOMAIN, VDNS_TIMEOUT, VDNS_BUSY, VDNS_ERROR,
	VDNS_RESULT_COUNT };

struct event_base;
struct evdns_base;
struct vdns;

/* Called when an answer becomes ready, from the loop (never from inside vdns_query). */
typedef void (*vdns_ready_fn)(void *arg);

/*
 * The worker's resolver: one evdns base per worker thread, shared by every /ws, /mux and
 * /dns session of that worker, made on first use and counted. It is configured from dv:
 * `servers` (when any) replace /etc/resolv.conf, /etc/hosts is honoured either way, the
 * per-attempt timeout is dv's. vdns_res_take gives a reference (NULL when evdns cannot
 * start); when dv differs from the worker's current one (a reload changed vpn.dns), a new
 * one is made for the new sessions and the old one lives on until its last session drops
 * it. vdns_res_drop gives a reference back (NULL is fine); vdns_worker_exit drops the
 * worker's own reference at thread exit, after its sessions are gone.
 */
struct vdns_res;
struct vdns_res *vdns_res_take(struct event_base *base, const struct conf_vpn_dns *dv);
struct evdns_base *vdns_res_evdns(const struct vdns_res *r);
void vdns_res_drop(struct vdns_res *r);
void vdns_worker_exit(void);

/* evdns bases made so far by this process (for the unit test: one per worker, not per
 * session). */
unsigned long vdns_res_made(void);

/* A resolver for one session; ready is called when answers wait. NULL when out of memory
 * or when evdns cannot start. */
struct vdns *vdns_new(struct event_base *base, const struct conf_vpn_dns *dv,
    vdns_ready_fn ready, void *arg);

/*
 * Takes one DnsQuery plaintext (untrusted). Returns -1 when it is not a DnsQuery (the
 * session ends); 1 when it is answered at once in *now and *res ("server busy" when
 * VDNS_INFLIGHT_MAX slots are taken; an empty success for types other than A and AAAA),
 * which takes no slot; else 0: the answer comes later through vdns_next (a name evdns
 * answers from /etc/hosts or a literal is READY on return).
 */
int vdns_query(struct vdns *d, const uint8_t *buf, size_t len, struct rvpn_dns_response *now,
    enum vdns_result *res);

/*
 * Takes the oldest waiting answer: fills r, returns true and frees its slot, and gives its
 * result in *res. False when none waits.
 */
bool vdns_next(struct vdns *d, struct rvpn_dns_response *r, enum vdns_result *res);

/* Queries resolving or waiting to be sent. */
unsigned vdns_inflight(const struct vdns *d);

/* Cancels every lookup and frees d (NULL is fine). */
void vdns_free(struct vdns *d);

/* The metric label of a result ("ok", "nxdomain", "timeout", "busy", "error"). */
const char *vdns_result_name(enum vdns_result r);

/*
 * Pure: the answer to query id/qtype from an evdns_getaddrinfo outcome (err an EVUTIL_EAI_*
 * code, res its list of both families, as the reference asks getaddrinfo). A keeps only
 * IPv4 and AAAA only IPv6, at most RVPN_DNS_MAX_ADDRS each, so a name with records of the
 * other family only is success with an empty list, as with the reference's filter. Other
 * types are success with empty lists (§7.6, v1.3.4+). Returns the result for the metric.
 */
enum vdns_result vdns_answer(struct rvpn_dns_response *r, uint64_t id, uint16_t qtype,
    int err, const struct evutil_addrinfo *res);

/* Pure: a failed answer (success false, ttl 0, error text) for id. */
void vdns_fail(struct rvpn_dns_response *r, uint64_t id, enum vdns_result res);

#endif
