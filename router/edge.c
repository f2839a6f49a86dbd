/*
 * The connection core both listener kinds share (see edge.h). It owns the counts a
 * connection holds from accept to close and the order they are given back in; it never
 * parses a byte from the network and never looks into a kind's struct.
 */
#include "router/edge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/confval.h"
#include "core/dial.h"
#include "core/log.h"
#include "router/accesslog.h"
#include "router/upstream.h"
#include "router/worker.h"
#include "terminator/terminator.h"

const char *const edge_end_str[EDGE_END_COUNT] = {
	[EDGE_END_DONE] = "done", [EDGE_END_IDLE] = "idle_timeout",
	[EDGE_END_PREREAD_TIMEOUT] = "preread_timeout", [EDGE_END_PROXY_TIMEOUT] = "proxy_timeout",
	[EDGE_END_PROXY_MISSING] = "proxy_missing", [EDGE_END_PROXY_INVALID] = "proxy_invalid",
	[EDGE_END_PROXY_UNSUPPORTED] = "proxy_unsupported",
	[EDGE_END_PROXY_CLOSED] = "proxy_closed", [EDGE_END_REJECTED] = "rejected",
	[EDGE_END_NO_ROUTE] = "no_route", [EDGE_END_UPSTREAM_FAILED] = "upstream_failed",
	[EDGE_END_UPSTREAM_TIMEOUT] = "upstream_timeout", [EDGE_END_NO_SERVER] = "no_server",
	[EDGE_END_CLIENT_ERROR] = "client_error", [EDGE_END_UPSTREAM_ERROR] = "upstream_error",
	[EDGE_END_SHUTDOWN] = "shutdown", [EDGE_END_NO_MEMORY] = "no_memory",
	[EDGE_END_PROXY_ENCODE] = "proxy_encode_failed",
	[EDGE_END_TERMINATED] = "done", /* the terminator's word wins when it has one */
	[EDGE_END_TERMINATED_ERROR] = "error",
	[EDGE_END_PREREAD_PER_IP] = "max_preread_per_ip",
	[EDGE_END_CONNS_PER_IP] = "max_connections_per_ip",
	[EDGE_END_HELLO_CLOSED] = "hello_closed", [EDGE_END_BAD_HELLO] = "bad_hello",
	[EDGE_END_CLIENT_CLOSED] = "client_closed", [EDGE_END_BAD_REQUEST] = "bad_request",
	[EDGE_END_REDIRECT] = "redirect", [EDGE_END_BAD_BODY] = "bad_body",
	[EDGE_END_ROUTE_CHANGE] = "route_change", [EDGE_END_CLIENT_CHANGE] = "client_change",
	[EDGE_END_BAD_RESPONSE] = "bad_response",
};

#define EDGE_UNROUTED 0xff /* refused at accept by a limit: no route, counted by the limit */
/* The route result each end counts under. */
static const uint8_t edge_end_result[EDGE_END_COUNT] = {
	[EDGE_END_DONE] = SR_CONN_OK, [EDGE_END_IDLE] = SR_CONN_IDLE_TIMEOUT,
	[EDGE_END_PREREAD_TIMEOUT] = SR_CONN_ERROR, [EDGE_END_PROXY_TIMEOUT] = SR_CONN_ERROR,
	[EDGE_END_PROXY_MISSING] = SR_CONN_REJECTED, [EDGE_END_PROXY_INVALID] = SR_CONN_REJECTED,
	[EDGE_END_PROXY_UNSUPPORTED] = SR_CONN_REJECTED, [EDGE_END_PROXY_CLOSED] = SR_CONN_ERROR,
	[EDGE_END_REJECTED] = SR_CONN_REJECTED, [EDGE_END_NO_ROUTE] = SR_CONN_REJECTED,
	[EDGE_END_UPSTREAM_FAILED] = SR_CONN_UPSTREAM_FAILED,
	[EDGE_END_UPSTREAM_TIMEOUT] = SR_CONN_UPSTREAM_FAILED,
	[EDGE_END_NO_SERVER] = SR_CONN_UPSTREAM_FAILED, [EDGE_END_CLIENT_ERROR] = SR_CONN_ERROR,
	[EDGE_END_UPSTREAM_ERROR] = SR_CONN_ERROR, [EDGE_END_SHUTDOWN] = SR_CONN_SHUTDOWN,
	[EDGE_END_NO_MEMORY] = SR_CONN_ERROR, [EDGE_END_PROXY_ENCODE] = SR_CONN_ERROR,
	[EDGE_END_TERMINATED] = SR_CONN_OK, [EDGE_END_TERMINATED_ERROR] = SR_CONN_ERROR,
	[EDGE_END_PREREAD_PER_IP] = EDGE_UNROUTED, [EDGE_END_CONNS_PER_IP] = EDGE_UNROUTED,
	[EDGE_END_HELLO_CLOSED] = SR_CONN_ERROR, [EDGE_END_BAD_HELLO] = SR_CONN_REJECTED,
	[EDGE_END_CLIENT_CLOSED] = SR_CONN_ERROR, [EDGE_END_BAD_REQUEST] = SR_CONN_REJECTED,
	[EDGE_END_REDIRECT] = SR_CONN_OK, [EDGE_END_BAD_BODY] = SR_CONN_ERROR,
	[EDGE_END_ROUTE_CHANGE] = SR_CONN_OK, [EDGE_END_CLIENT_CHANGE] = SR_CONN_OK,
	[EDGE_END_BAD_RESPONSE] = SR_CONN_ERROR,
};

/* The access log's names of what went upstream (enum conf_proxy_protocol). */
static const char *const edge_pp_str[] = { "off", "v1", "v2" };

/* ---- life cycle ---- */

void
edge_refuse(int fd)
{
	close(fd);
	__atomic_sub_fetch(&worker_conns_total, 1, __ATOMIC_RELAXED);
}

struct edge *
edge_new(size_t size, struct worker *w, struct listener_rt *l, int fd,
    const struct edge_kind *kind, event_callback_fn cb)
{
	/* Room in the timer queue for every open connection, so arming never fails. */
	struct edge *e = timerq_reserve(&w->tq, (uint32_t)w->nconns + 1) == 0 ? calloc(1, size) : NULL;
	if (e == NULL) {
		edge_refuse(fd);
		return NULL;
	}
	e->kind = kind;
	e->w = w;
	e->gen = w->gen;
	e->l = l;
	e->cfd = fd;
	e->ufd = -1;
	e->start_ms = e->last_ms = clock_mono_ms();

	TAILQ_INSERT_TAIL(&w->edges, e, link);
	w->nconns++;
	e->gen->wconns[w->id].v++;
	stats_add(l->stats, w->id, SL_ACCEPTED, 1);
	stats_add(l->stats, w->id, SL_ACTIVE, 1);
	stats_add(l->stats, w->id, SL_PREREAD, 1);
	e->preread_counted = true;

	event_assign(&e->cev, w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST, cb, e);
	event_add(&e->cev, NULL);
	return e;
}

int
edge_start(struct edge *e, const struct sockaddr_storage *peer)
{
	const struct conf_listener *cl = e->l->conf;
	if (cl->nproxy_from > 0 &&
	    confval_cidrs_match(cl->proxy_from, cl->nproxy_from, (const struct sockaddr *)peer)) {
		edge_timer(e, cl->proxy_protocol_timeout_ms);
		return 1;
	}
	if (!edge_admit(e, peer))
		return -1;
	edge_timer(e, cl->preread_timeout_ms);
	return 0;
}

bool
edge_admit(struct edge *e, const struct sockaddr_storage *client)
{
	switch (ipcap_admit(&e->ipcap, e->l->conf, client)) {
	case IPCAP_OK:
		return true;
	case IPCAP_OVER_CONNECTIONS:
		edge_count(e, SL_REJECT_CONN_PER_IP);
		e->kind->close(e, EDGE_END_CONNS_PER_IP);
		return false;
	case IPCAP_OVER_PREREAD:
		break;
	}
	edge_count(e, SL_REJECT_PER_IP);
	e->kind->close(e, EDGE_END_PREREAD_PER_IP);
	return false;
}

enum edge_end
edge_proxy_refused(struct edge *e, enum pp_in_rc rc)
{
	switch (rc) {
	case PP_IN_MISSING:
		edge_count(e, SL_PROXY_MISSING);
		return EDGE_END_PROXY_MISSING;
	case PP_IN_UNSUPPORTED:
		edge_count(e, SL_PROXY_UNSUPPORTED);
		return EDGE_END_PROXY_UNSUPPORTED;
	default:
		edge_count(e, SL_PROXY_INVALID);
		return EDGE_END_PROXY_INVALID;
	}
}

void
edge_preread_timer(struct edge *e)
{
	uint64_t spent = clock_mono_ms() - e->start_ms;
	uint64_t limit = e->l->conf->preread_timeout_ms;
	edge_timer(e, limit > spent ? limit - spent : 1);
}

void
edge_preread_done(struct edge *e)
{
	ipcap_preread_done(&e->ipcap);
	if (e->preread_counted) {
		stats_add(e->l->stats, e->w->id, SL_PREREAD, -1);
		e->preread_counted = false;
	}
}

void
edge_timer(struct edge *e, uint64_t ms)
{
	if (e->closed)
		return; /* its memory is about to go: the queue must never hold it */
	timerq_add(&e->w->tq, &e->tent, ms);
}

void
edge_timer_stop(struct edge *e)
{
	timerq_del(&e->w->tq, &e->tent);
}

/* The worker's timer queue fired e's entry: the kind's timer. */
static void
edge_timer_fire(struct timerq *q, struct timerq_entry *ent, void *arg)
{
	struct edge *e = (struct edge *)(void *)((char *)ent - offsetof(struct edge, tent));
	(void)q;
	(void)arg;
	e->kind->timer(e);
}

void
edge_count(struct edge *e, unsigned field)
{
	stats_add(e->l->stats, e->w->id, field, 1);
}

bool
edge_ready(struct edge *e, short what, bool client)
{
	bool *rd = client ? &e->c_rd : &e->u_rd, *wr = client ? &e->c_wr : &e->u_wr;
	if (what & EV_READ)
		*rd = true;
	if (what & EV_WRITE)
		*wr = true;
	if (what & EV_CLOSED)
		*rd = true;
	return (what & EV_CLOSED) != 0;
}

const char *
edge_proxy_sent(const struct edge *e)
{
	return edge_pp_str[e->pp_sent];
}

bool
edge_logged(const struct edge *e, const struct sockaddr_storage *client)
{
	return accesslog_enabled() && !accesslog_skip(&e->gen->conf->log, client);
}

/* Writes the connection's access-log line. */
static void
edge_log_line(struct edge *e, enum edge_end end, const struct sockaddr_storage *client,
    const struct edge_log *x)
{
	char addr[64];
	edge_addr_str(client, addr, sizeof addr);
	struct accesslog_rec r = {
		.client = addr,
		.listener = e->l->conf->name,
		.sni = x->sni,
		.alpn = x->alpn,
		.route = e->route != NULL ? e->route->label : NULL,
		.upstream = e->up != NULL ? e->up->conf->name : NULL,
		.server = e->server != NULL ? e->server->label : NULL,
		.proxy = edge_pp_str[e->pp_sent], /* what went out, not what is configured */
		.bytes_in = x->bytes_in,
		.bytes_out = x->bytes_out,
		.duration_ms = clock_mono_ms() - e->start_ms,
		.end = x->term_end != NULL ? x->term_end : edge_end_str[end],
		.alpn_offered = x->alpn_offered,
		.vpn = x->vpn,
	};
	accesslog_write(&r);
}

void
edge_close(struct edge *e, enum edge_end end, const struct sockaddr_storage *client,
    const struct edge_log *x)
{
	struct worker *w = e->w;
	if (e->closed)
		return;
	e->end = (uint8_t)end;
	edge_preread_done(e);
	ipcap_close(&e->ipcap);
	if (edge_logged(e, client))
		edge_log_line(e, end, client, x);
	if (edge_end_result[end] != EDGE_UNROUTED) {
		struct route_rt *rt = e->route != NULL ? e->route : &e->l->def;
		stats_add(rt->stats, w->id, edge_end_result[end], 1);
		stats_add(rt->stats, w->id, SR_BYTES_IN, (int64_t)x->bytes_in);
		stats_add(rt->stats, w->id, SR_BYTES_OUT, (int64_t)x->bytes_out);
	}
	stats_add(e->l->stats, w->id, SL_ACTIVE, -1);

	timerq_del(&w->tq, &e->tent); /* never fired once closed */
	event_del(&e->cev);
	if (e->tc != NULL) {
		term_abort(e->tc); /* drain deadline: the terminator gives the socket back by closing it */
		e->tc = NULL;
	}
	if (e->cfd != -1) {
		close(e->cfd);
		e->cfd = -1;
	}
	edge_up_drop(e);
	e->c_rd = e->c_wr = false;
	e->closed = true;

	TAILQ_REMOVE(&w->edges, e, link);
	if (TAILQ_EMPTY(&w->dead))
		event_active(w->reap, 0, 0);
	TAILQ_INSERT_TAIL(&w->dead, e, link);
	w->nconns--;
	(void)timerq_reserve(&w->tq, (uint32_t)w->nconns); /* may shrink; a shrink cannot fail */
	e->gen->wconns[w->id].v--;
	if (e->gen != w->gen && e->gen->wconns[w->id].v == 0)
		gen_unref(e->gen); /* this worker's last connection on an old generation */
	__atomic_sub_fetch(&worker_conns_total, 1, __ATOMIC_RELAXED);
	worker_conn_closed(w);
}

/* ---- the worker's connections ---- */

/* The deferred free: every callback that could still hold a closed connection has returned. */
static void
edge_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	edge_reap(arg);
}

int
edge_worker_init(struct worker *w)
{
	TAILQ_INIT(&w->edges);
	TAILQ_INIT(&w->dead);
	w->reap = event_new(w->base, -1, 0, edge_reap_cb, w);
	if (w->reap == NULL)
		return -1;
	return timerq_init(&w->tq, w->base, edge_timer_fire, w);
}

void
edge_worker_fini(struct worker *w)
{
	timerq_fini(&w->tq);
	if (w->reap != NULL)
		event_free(w->reap);
	w->reap = NULL;
}

void
edge_drain_all(struct worker *w)
{
	struct edge *e;
	TAILQ_FOREACH(e, &w->edges, link)
		if (e->tc != NULL)
			term_drain(e->tc);
}

void
edge_close_all(struct worker *w)
{
	struct edge *e;
	while ((e = TAILQ_FIRST(&w->edges)) != NULL)
		e->kind->close(e, EDGE_END_SHUTDOWN);
}

void
edge_reap(struct worker *w)
{
	struct edge *e;
	while ((e = TAILQ_FIRST(&w->dead)) != NULL) {
		TAILQ_REMOVE(&w->dead, e, link);
		free(e); /* the kind's struct: struct edge is its first member */
	}
}

/* ---- the upstream connect with failover ---- */

enum edge_dial
edge_up_connect(struct edge *e, sa_family_t fam, const uint8_t ip[16], event_callback_fn cb)
{
	struct upstream_rt *u = e->up;
	edge_up_drop(e);
	for (;;) {
		struct server_rt *s = upstream_pick(u, e->w, fam, ip, &e->tried);
		if (s == NULL) {
			if (e->attempts > 0)
				log_warn("listener %s route %s: every server of upstream %s failed",
				    e->l->conf->name, e->route->label, u->conf->name);
			return EDGE_DIAL_NONE_LEFT;
		}
		e->attempts++;
		e->server = s;
		int fd;
		bool fo = e->fast_open && u->conf->fast_open;
		switch (dial_start_opt((const struct sockaddr *)&s->addr.ss, s->addr.len, fo, &fd)) {
		case DIAL_NO_SOCKET:
			return EDGE_DIAL_NO_SOCKET;
		case DIAL_REFUSED:
			log_debug("upstream %s server %s: connect: %s", u->conf->name, s->label,
			    strerror(errno));
			stats_add(s->stats, e->w->id, SS_CONNECT_FAILURES, 1);
			upstream_mark_failed(s);
			e->last_timeout = false;
			continue;
		case DIAL_PENDING:
			break;
		}
		e->ufd = fd;
		event_assign(&e->uev, e->w->base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
		    cb, e);
		event_add(&e->uev, NULL);
		edge_timer(e, u->conf->connect_timeout_ms);
		return EDGE_DIAL_PENDING;
	}
}

void
edge_up_failed(struct edge *e, int err)
{
	log_debug("upstream %s server %s: connect: %s", e->up->conf->name, e->server->label,
	    strerror(err));
	stats_add(e->server->stats, e->w->id, SS_CONNECT_FAILURES, 1);
	upstream_mark_failed(e->server);
	e->last_timeout = false;
}

int
edge_up_connected(struct edge *e)
{
	int err = dial_result(e->ufd);
	if (err != 0) {
		edge_up_failed(e, err);
		return -1;
	}
	stats_add(e->server->stats, e->w->id, SS_CONNECTS, 1);
	stats_add(e->server->stats, e->w->id, SS_ACTIVE, 1);
	__atomic_add_fetch(&e->server->active, 1, __ATOMIC_RELAXED);
	e->counted_active = true;
	return 0;
}

void
edge_up_timed_out(struct edge *e)
{
	log_debug("upstream %s server %s: connect timed out", e->up->conf->name, e->server->label);
	stats_add(e->server->stats, e->w->id, SS_CONNECT_TIMEOUTS, 1);
	upstream_mark_failed(e->server);
	e->last_timeout = true;
}

enum edge_end
edge_up_failure(const struct edge *e)
{
	if (e->attempts == 0)
		return EDGE_END_NO_SERVER;
	return e->last_timeout ? EDGE_END_UPSTREAM_TIMEOUT : EDGE_END_UPSTREAM_FAILED;
}

void
edge_up_drop(struct edge *e)
{
	if (e->ufd == -1)
		return;
	event_del(&e->uev);
	close(e->ufd);
	e->ufd = -1;
	e->u_rd = e->u_wr = false;
	if (e->counted_active) {
		__atomic_sub_fetch(&e->server->active, 1, __ATOMIC_RELAXED);
		stats_add(e->server->stats, e->w->id, SS_ACTIVE, -1);
		e->counted_active = false;
	}
}

/* ---- addresses ---- */

void
edge_ip_str(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	const void *ip = ss->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6) {
		snprintf(out, cap, "-");
		return;
	}
	if (inet_ntop(ss->ss_family, ip, out, (socklen_t)cap) == NULL)
		snprintf(out, cap, "-");
}

void
edge_addr_str(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	edge_ip_str(ss, ip, sizeof ip);
	if (ss->ss_family == AF_INET)
		snprintf(out, cap, "%s:%u", ip, ntohs(((const struct sockaddr_in *)ss)->sin_port));
	else if (ss->ss_family == AF_INET6)
		snprintf(out, cap, "[%s]:%u", ip, ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
	else
		snprintf(out, cap, "-");
}

sa_family_t
edge_ip_bytes(const struct sockaddr_storage *ss, uint8_t ip[16])
{
	memset(ip, 0, 16);
	if (ss->ss_family == AF_INET)
		memcpy(ip, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (ss->ss_family == AF_INET6)
		memcpy(ip, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	return ss->ss_family;
}
