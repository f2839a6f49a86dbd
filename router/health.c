/*
 * Health probes (see health.h): one non-blocking connect per server per interval, bounded by
 * timeout. Must never block the main loop and never run two probes of one server at once.
 */
#include "router/health.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/deadline.h"
#include "core/dial.h"
#include "core/log.h"

struct probe {
	struct server_rt           *s;
	const struct conf_upstream *u;
	struct event               *timer;  /* next probe */
	struct event               *io;     /* connect in progress, with the timeout */
	int                         fd;
};

static struct probe *health_probes;
static size_t health_nprobes;
static struct event_base *health_base;

/* Records one result and flips the server when rise/fall is reached. */
static void
health_result(struct probe *p, bool ok, const char *why)
{
	struct server_rt *s = p->s;
	int up = __atomic_load_n(&s->hc_up, __ATOMIC_RELAXED);
	if (ok) {
		s->hc_fail = 0;
		if (!up && ++s->hc_ok >= p->u->health.rise) {
			__atomic_store_n(&s->hc_up, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&s->stats->gauge_up, 1, __ATOMIC_RELAXED);
			log_info("upstream %s server %s is up (%u checks passed)", p->u->name, s->label,
			    s->hc_ok);
		}
	} else {
		s->hc_ok = 0;
		if (up && ++s->hc_fail >= p->u->health.fall) {
			__atomic_store_n(&s->hc_up, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&s->stats->gauge_up, 0, __ATOMIC_RELAXED);
			log_warn("upstream %s server %s is down (%u checks failed, last: %s)",
			    p->u->name, s->label, s->hc_fail, why);
		}
	}
}

/* Counts a probe in the main thread's own copy of the counters. */
static void
health_counts(struct server_rt *s, bool ok)
{
	stats_add(s->stats, stats_main, SS_HEALTH_CHECKS, 1);
	if (!ok)
		stats_add(s->stats, stats_main, SS_HEALTH_FAILURES, 1);
}

static void
health_end_probe(struct probe *p, bool ok, const char *why)
{
	if (p->fd != -1) {
		event_del(p->io);
		close(p->fd);
		p->fd = -1;
	}
	health_counts(p->s, ok);
	health_result(p, ok, why);
	deadline_add(p->timer, p->u->health.interval_ms);
}

/* Connect finished, failed or timed out. */
static void
health_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	if (what & EV_TIMEOUT) {
		health_end_probe(p, false, "timeout");
		return;
	}
	int err = dial_result(fd);
	health_end_probe(p, err == 0, err == 0 ? "ok" : strerror(err));
}

/* Interval elapsed: start a connect. */
static void
health_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	(void)fd;
	(void)what;
	if (dial_start((const struct sockaddr *)&p->s->addr.ss, p->s->addr.len, &p->fd) !=
	    DIAL_PENDING) {
		health_end_probe(p, false, strerror(errno));
		return;
	}
	event_assign(p->io, health_base, p->fd, EV_WRITE, health_io_cb, p);
	deadline_add(p->io, p->u->health.timeout_ms);
}

void
health_start(struct event_base *base, struct gen *g)
{
	size_t n = 0;
	health_base = base;
	for (size_t i = 0; i < g->nupstreams; i++)
		if (g->upstreams[i].conf->health.enabled)
			n += g->upstreams[i].nservers;
	if (n == 0)
		return;
	health_probes = calloc(n, sizeof *health_probes);
	if (health_probes == NULL)
		abort();
	for (size_t i = 0; i < g->nupstreams; i++) {
		struct upstream_rt *u = &g->upstreams[i];
		if (!u->conf->health.enabled)
			continue;
		for (size_t j = 0; j < u->nservers; j++) {
			struct probe *p = &health_probes[health_nprobes++];
			p->s = &u->servers[j];
			p->u = u->conf;
			p->fd = -1;
			p->timer = evtimer_new(base, health_timer_cb, p);
			p->io = event_new(base, -1, 0, health_io_cb, p);
			if (p->timer == NULL || p->io == NULL)
				abort();
			/* First probe at once, so a dead server is found within fall * interval. */
			event_active(p->timer, EV_TIMEOUT, 0);
		}
	}
}

void
health_stop(void)
{
	for (size_t i = 0; i < health_nprobes; i++) {
		struct probe *p = &health_probes[i];
		if (p->fd != -1)
			close(p->fd);
		event_free(p->timer);
		event_free(p->io);
	}
	free(health_probes);
	health_probes = NULL;
	health_nprobes = 0;
}
