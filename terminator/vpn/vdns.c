/*
 * The `/dns` resolver of one session (see vdns.h). A fixed table of VDNS_INFLIGHT_MAX
 * slots, allocated with the session: a slot is FREE, RESOLVING (an evdns request and a
 * deadline timer are live) or READY (its answer waits in the ready ring for the session to
 * seal it). The slot stays taken until the answer is handed over, so a client that stops
 * reading cannot make answers pile up: memory is fixed at the start.
 *
 * Why evdns_getaddrinfo with both families, then a filter: it is the only evdns call that
 * honours /etc/hosts, and it is what the reference does with the system getaddrinfo (a name
 * with only AAAA records answers an A query with success and an empty list). The deadline
 * is our own timer, not evdns's: evdns folds a timeout into EAI_FAIL, and the metric wants
 * timeouts apart.
 */
#include "terminator/vpn/vdns.h"

#include "core/deadline.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#define VDNS_ATTEMPTS "2" /* evdns tries per nameserver inside our deadline */

enum vdns_slot_state { VDNS_FREE, VDNS_RESOLVING, VDNS_READY };

struct vdns_slot {
	struct vdns                      *d;
	enum vdns_slot_state              state;
	uint64_t                          id;
	uint16_t                          qtype;
	struct evdns_getaddrinfo_request *req;   /* RESOLVING: live until its callback */
	struct event                      timer; /* RESOLVING: the query's deadline */
	enum vdns_result                  res;
	struct rvpn_dns_response          ans;   /* READY */
};

struct vdns {
	struct event_base  *base;
	struct vdns_res    *res;      /* the worker's resolver: one reference */
	uint64_t            timeout_ms;
	vdns_ready_fn       ready;
	void               *arg;
	struct event        kick;     /* runs ready() from the loop */
	unsigned            used;     /* slots not FREE */
	unsigned            ring[VDNS_INFLIGHT_MAX]; /* READY slots, oldest first */
	unsigned            ring_head, ring_len;
	struct vdns_slot    slot[VDNS_INFLIGHT_MAX];
};

/* The metric labels, in enum order. */
const char *
vdns_result_name(enum vdns_result r)
{
	static const char *const names[VDNS_RESULT_COUNT] = { "ok", "nxdomain", "timeout",
		"busy", "error" };
	return (unsigned)r < VDNS_RESULT_COUNT ? names[r] : "error";
}

/* A failed answer (see vdns.h); the texts are short and never hold the name. */
void
vdns_fail(struct rvpn_dns_response *r, uint64_t id, enum vdns_result res)
{
	static const char *const text[VDNS_RESULT_COUNT] = { "", "name not found", "timeout",
		VDNS_ERR_BUSY, "lookup failed" };
	memset(r, 0, sizeof *r);
	r->query_id = id;
	r->success = false;
	r->ttl = 0;
	r->has_error = true;
	const char *t = (unsigned)res < VDNS_RESULT_COUNT && res != VDNS_OK ? text[res] :
	    text[VDNS_ERROR];
	size_t n = strlen(t);
	memcpy(r->error, t, n + 1); /* every text is far below RVPN_DNS_MAX_ERROR */
}

/* The answer from an evdns_getaddrinfo outcome (see vdns.h). */
enum vdns_result
vdns_answer(struct rvpn_dns_response *r, uint64_t id, uint16_t qtype, int err,
    const struct evutil_addrinfo *res)
{
	if (err != 0) {
		enum vdns_result v = err == EVUTIL_EAI_NONAME ? VDNS_NXDOMAIN : VDNS_ERROR;
		vdns_fail(r, id, v);
		return v;
	}
	memset(r, 0, sizeof *r);
	r->query_id = id;
	r->success = true;
	r->ttl = RVPN_DNS_TTL;
	for (const struct evutil_addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if (qtype == RVPN_DNS_TYPE_A && ai->ai_family == AF_INET &&
		    ai->ai_addrlen >= sizeof(struct sockaddr_in) && r->n4 < RVPN_DNS_MAX_ADDRS) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)ai->ai_addr;
			char t[RVPN_DNS_ADDR_LEN];
			if (inet_ntop(AF_INET, &s4->sin_addr, t, sizeof t) == NULL)
				continue;
			bool dup = false; /* one address per socket type would repeat it */
			for (size_t i = 0; i < r->n4 && !dup; i++)
				dup = strcmp(r->ipv4[i], t) == 0;
			if (!dup)
				memcpy(r->ipv4[r->n4++], t, sizeof t);
		} else if (qtype == RVPN_DNS_TYPE_AAAA && ai->ai_family == AF_INET6 &&
		    ai->ai_addrlen >= sizeof(struct sockaddr_in6) && r->n6 < RVPN_DNS_MAX_ADDRS) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ai->ai_addr;
			char t[RVPN_DNS_ADDR_LEN];
			if (inet_ntop(AF_INET6, &s6->sin6_addr, t, sizeof t) == NULL)
				continue;
			bool dup = false;
			for (size_t i = 0; i < r->n6 && !dup; i++)
				dup = strcmp(r->ipv6[i], t) == 0;
			if (!dup)
				memcpy(r->ipv6[r->n6++], t, sizeof t);
		}
	}
	return VDNS_OK;
}

/* The worker's resolver (see vdns.h). */
struct vdns_res {
	struct evdns_base  *dns;
	struct event_base  *base;
	unsigned            refs;      /* the worker's own while current, plus one per user */
	size_t              nservers;  /* the configuration it was made from */
	struct conf_addr    servers[CONF_VPN_DNS_SERVERS_MAX];
	uint64_t            timeout_ms;
};

static _Thread_local struct vdns_res *vdns_mine; /* this worker's current one */
static unsigned long vdns_made;                   /* bases made, over every thread */

/* A configured evdns base for dv, or NULL. */
static struct evdns_base *
vdns_base_new(struct event_base *base, const struct conf_vpn_dns *dv)
{
	int flags = dv->nservers > 0 ? 0 : EVDNS_BASE_INITIALIZE_NAMESERVERS;
	struct evdns_base *dns = evdns_base_new(base, flags);
	if (dns == NULL)
		return NULL;
	for (size_t i = 0; i < dv->nservers; i++) {
		const struct conf_addr *a = &dv->servers[i];
		if (evdns_base_nameserver_sockaddr_add(dns, (const struct sockaddr *)&a->ss,
		    a->ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6), 0) != 0)
			goto fail;
	}
	/* resolv.conf parsing loads /etc/hosts itself; with our own servers it is not read. */
	if (dv->nservers > 0 && evdns_base_load_hosts(dns, NULL) != 0)
		goto fail;
	char tm[32];
	snprintf(tm, sizeof tm, "%.3f", (double)dv->timeout_ms / 1000.0);
	if (evdns_base_set_option(dns, "timeout:", tm) != 0 ||
	    evdns_base_set_option(dns, "attempts:", VDNS_ATTEMPTS) != 0)
		goto fail;
	__atomic_add_fetch(&vdns_made, 1, __ATOMIC_RELAXED);
	return dns;
fail:
	evdns_base_free(dns, 0);
	return NULL;
}

/* Whether r was made from the same vpn.dns as dv. */
static bool
vdns_res_same(const struct vdns_res *r, const struct event_base *base,
    const struct conf_vpn_dns *dv)
{
	if (r->base != base || r->timeout_ms != dv->timeout_ms || r->nservers != dv->nservers)
		return false;
	for (size_t i = 0; i < r->nservers; i++)
		if (r->servers[i].len != dv->servers[i].len ||
		    memcmp(&r->servers[i].ss, &dv->servers[i].ss, dv->servers[i].len) != 0)
			return false;
	return true;
}

/* A reference to the worker's resolver for dv (see vdns.h). */
struct vdns_res *
vdns_res_take(struct event_base *base, const struct conf_vpn_dns *dv)
{
	if (vdns_mine != NULL && !vdns_res_same(vdns_mine, base, dv)) {
		struct vdns_res *old = vdns_mine;
		vdns_mine = NULL;
		vdns_res_drop(old); /* its sessions keep it until they end */
	}
	if (vdns_mine == NULL) {
		if (dv->nservers > CONF_VPN_DNS_SERVERS_MAX)
			return NULL; /* the loader refuses more */
		struct vdns_res *r = calloc(1, sizeof *r);
		if (r == NULL)
			return NULL;
		if ((r->dns = vdns_base_new(base, dv)) == NULL) {
			free(r);
			return NULL;
		}
		r->base = base;
		r->refs = 1; /* the worker's */
		r->nservers = dv->nservers;
		if (dv->nservers > 0)
			memcpy(r->servers, dv->servers, dv->nservers * sizeof *dv->servers);
		r->timeout_ms = dv->timeout_ms;
		vdns_mine = r;
	}
	vdns_mine->refs++;
	return vdns_mine;
}

/* The evdns base of a resolver. */
struct evdns_base *
vdns_res_evdns(const struct vdns_res *r)
{
	return r->dns;
}

/* Gives back one reference (see vdns.h); the last frees the base, failing what waits. */
void
vdns_res_drop(struct vdns_res *r)
{
	if (r == NULL || --r->refs > 0)
		return;
	evdns_base_free(r->dns, 1);
	free(r);
}

/* The worker ends (see vdns.h). */
void
vdns_worker_exit(void)
{
	struct vdns_res *r = vdns_mine;
	vdns_mine = NULL;
	vdns_res_drop(r);
}

/* Bases made (see vdns.h). */
unsigned long
vdns_res_made(void)
{
	return __atomic_load_n(&vdns_made, __ATOMIC_RELAXED);
}

/* Puts slot i on the ready ring and wakes the session from the loop. */
static void
vdns_ready(struct vdns *d, struct vdns_slot *sl)
{
	sl->state = VDNS_READY;
	d->ring[(d->ring_head + d->ring_len) % VDNS_INFLIGHT_MAX] = (unsigned)(sl - d->slot);
	d->ring_len++;
	event_active(&d->kick, EV_TIMEOUT, 1);
}

/* The kick event: tells the session answers wait. */
static void
vdns_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct vdns *d = arg;
	d->ready(d->arg);
}

/* evdns finished a lookup (or it was cancelled: then the slot is already dealt with). */
static void
vdns_resolved_cb(int err, struct evutil_addrinfo *res, void *arg)
{
	struct vdns_slot *sl = arg;
	if (err == EVUTIL_EAI_CANCEL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	sl->req = NULL;
	event_del(&sl->timer);
	sl->res = vdns_answer(&sl->ans, sl->id, sl->qtype, err, res);
	if (res != NULL)
		evutil_freeaddrinfo(res);
	vdns_ready(sl->d, sl);
}

/* A query's deadline: cancel the lookup, answer "timeout". */
static void
vdns_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct vdns_slot *sl = arg;
	if (sl->state != VDNS_RESOLVING)
		return;
	struct evdns_getaddrinfo_request *req = sl->req;
	sl->req = NULL;
	sl->state = VDNS_READY; /* before the cancel: its callback must find nothing to do */
	if (req != NULL)
		evdns_getaddrinfo_cancel(req);
	sl->res = VDNS_TIMEOUT;
	vdns_fail(&sl->ans, sl->id, VDNS_TIMEOUT);
	vdns_ready(sl->d, sl);
}

/* Creates a session's resolver (see vdns.h). */
struct vdns *
vdns_new(struct event_base *base, const struct conf_vpn_dns *dv, vdns_ready_fn ready,
    void *arg)
{
	struct vdns *d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->base = base;
	d->timeout_ms = dv->timeout_ms;
	d->ready = ready;
	d->arg = arg;
	if ((d->res = vdns_res_take(base, dv)) == NULL) {
		free(d);
		return NULL;
	}
	event_assign(&d->kick, base, -1, 0, vdns_kick_cb, d);
	for (unsigned i = 0; i < VDNS_INFLIGHT_MAX; i++) {
		d->slot[i].d = d;
		evtimer_assign(&d->slot[i].timer, base, vdns_timeout_cb, &d->slot[i]);
	}
	return d;
}

/* Takes one query (see vdns.h). */
int
vdns_query(struct vdns *d, const uint8_t *buf, size_t len, struct rvpn_dns_response *now,
    enum vdns_result *res)
{
	struct rvpn_dns_query q;
	if (rvpn_dns_query_parse(buf, len, &q) != 0)
		return -1;
	if (q.query_type != RVPN_DNS_TYPE_A && q.query_type != RVPN_DNS_TYPE_AAAA) {
		*res = vdns_answer(now, q.query_id, q.query_type, 0, NULL); /* §7.6: empty */
		return 1;
	}
	if (d->used == VDNS_INFLIGHT_MAX) {
		*res = VDNS_BUSY;
		vdns_fail(now, q.query_id, VDNS_BUSY);
		return 1;
	}
	struct vdns_slot *sl = NULL;
	for (unsigned i = 0; i < VDNS_INFLIGHT_MAX && sl == NULL; i++)
		if (d->slot[i].state == VDNS_FREE)
			sl = &d->slot[i];
	if (sl == NULL)
		abort(); /* impossible: used counts the taken slots */
	d->used++;
	sl->state = VDNS_RESOLVING;
	sl->id = q.query_id;
	sl->qtype = q.query_type;
	sl->req = NULL;
	deadline_add(&sl->timer, d->timeout_ms);
	struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP };
	struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(d->res->dns, q.domain, NULL,
	    &hints, vdns_resolved_cb, sl);
	/* The callback may already have run (a literal, /etc/hosts): then the slot is READY
	 * and req is NULL. */
	if (sl->state == VDNS_RESOLVING)
		sl->req = req;
	return 0;
}

/* Hands over the oldest waiting answer (see vdns.h). */
bool
vdns_next(struct vdns *d, struct rvpn_dns_response *r, enum vdns_result *res)
{
	if (d->ring_len == 0)
		return false;
	struct vdns_slot *sl = &d->slot[d->ring[d->ring_head]];
	d->ring_head = (d->ring_head + 1) % VDNS_INFLIGHT_MAX;
	d->ring_len--;
	*r = sl->ans;
	*res = sl->res;
	sl->state = VDNS_FREE;
	d->used--;
	return true;
}

/* Slots taken. */
unsigned
vdns_inflight(const struct vdns *d)
{
	return d->used;
}

/* Cancels every lookup, then frees (see vdns.h). */
void
vdns_free(struct vdns *d)
{
	if (d == NULL)
		return;
	for (unsigned i = 0; i < VDNS_INFLIGHT_MAX; i++) {
		struct vdns_slot *sl = &d->slot[i];
		event_del(&sl->timer);
		if (sl->state == VDNS_RESOLVING && sl->req != NULL) {
			struct evdns_getaddrinfo_request *req = sl->req;
			sl->req = NULL;
			sl->state = VDNS_FREE;
			evdns_getaddrinfo_cancel(req);
		}
	}
	event_del(&d->kick);
	vdns_res_drop(d->res);
	free(d);
}
