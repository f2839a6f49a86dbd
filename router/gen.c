/*
 * Building, sharing and freeing generations (see gen.h). Runs on the main thread except
 * gen_unref, which the last worker to leave a generation may call. Must never leave a
 * half-built generation reachable: on any failure everything built so far is undone.
 */
#include "router/gen.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/confval.h"
#include "core/log.h"
#include "terminator/terminator.h"

#define GEN_LISTEN_BACKLOG 4096
#define GEN_DEFER_ACCEPT_S 1

/* Monotonic clock in milliseconds. */
uint64_t
gen_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* FNV-1a over a name; names are short and already normalised. */
static size_t
gen_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

/* Sizes a table for n keys (load at most one half). */
static void
rtable_init(struct rtable *t, size_t n)
{
	size_t size = 4;
	while (size < 2 * n)
		size <<= 1;
	t->keys = calloc(size, sizeof *t->keys);
	t->lens = calloc(size, sizeof *t->lens);
	t->vals = calloc(size, sizeof *t->vals);
	if (t->keys == NULL || t->lens == NULL || t->vals == NULL)
		abort();
	t->mask = size - 1;
}

/* Inserts a key; duplicates were refused by the configuration loader. */
static void
rtable_put(struct rtable *t, const char *k, size_t n, struct route_rt *v)
{
	size_t i = gen_hash(k, n) & t->mask;
	while (t->keys[i] != NULL)
		i = (i + 1) & t->mask;
	t->keys[i] = k;
	t->lens[i] = n;
	t->vals[i] = v;
}

/* Looks a key up. */
static struct route_rt *
rtable_get(const struct rtable *t, const char *k, size_t n)
{
	if (t->keys == NULL)
		return NULL;
	size_t i = gen_hash(k, n) & t->mask;
	while (t->keys[i] != NULL) {
		if (t->lens[i] == n && memcmp(t->keys[i], k, n) == 0)
			return t->vals[i];
		i = (i + 1) & t->mask;
	}
	return NULL;
}

static void
rtable_free(struct rtable *t)
{
	free(t->keys);
	free(t->lens);
	free(t->vals);
}

/* Exact names beat wildcards; a wildcard covers exactly one more label. */
struct route_rt *
gen_route(struct listener_rt *l, const char *name, size_t len)
{
	struct route_rt *r = rtable_get(&l->exact, name, len);
	if (r != NULL)
		return r;
	const char *dot = memchr(name, '.', len);
	if (dot == NULL || dot == name)
		return NULL;
	size_t rest = len - (size_t)(dot + 1 - name);
	return rtable_get(&l->wild, dot + 1, rest);
}

/* Opens one listening socket; returns the fd or -1 with errno set. */
static int
gen_listen(const struct conf_addr *a)
{
	int one = 1;
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1)
		goto fail;
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1)
		goto fail;
	/* Clients speak first on both kinds of listener: wake accept when bytes are there, so
	 * the first read at accept usually succeeds. A hint, so its failure is ignored. */
	int defer = GEN_DEFER_ACCEPT_S;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
	/* Accepted sockets inherit TCP_NODELAY (Linux): without it Nagle holds the relayed
	 * tail of a server's TLS flight until the client's delayed ACK, ~40 ms a handshake. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1)
		goto fail;
	if (listen(fd, GEN_LISTEN_BACKLOG) == -1)
		goto fail;
	return fd;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Claims an address no generation of ours holds yet: binds a socket WITHOUT SO_REUSEPORT
 * (with SO_REUSEADDR, so connections in TIME_WAIT do not count). Linux refuses that bind
 * while any other socket listens on the address, SO_REUSEPORT or not, so another switchyard
 * (or anything else) already there makes it fail with EADDRINUSE, where our SO_REUSEPORT
 * sockets would have joined its group silently. The claim stays bound, not listening, until
 * our sockets listen, then is closed. Returns the fd or -1 with errno set.
 */
static int
gen_claim(const struct conf_addr *a)
{
	int one = 1;
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
		goto fail;
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1)
		goto fail;
	return fd;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Finds prev's socket for an address, or binds a new one (refs 0 until taken). */
static struct lsock *
gen_lsock(const struct conf_addr *a, const struct gen *prev, unsigned workers, char *err,
    size_t cap)
{
	if (prev != NULL) {
		for (size_t i = 0; i < prev->nlisteners; i++) {
			struct listener_rt *l = &prev->listeners[i];
			for (size_t j = 0; j < l->conf->nlisten; j++)
				if (l->socks[j] != NULL && confval_addr_equal(&l->socks[j]->addr, a))
					return l->socks[j];
		}
	}
	char label[64];
	confval_addr_format(a, label, sizeof label);
	int claim = gen_claim(a);
	if (claim == -1) {
		if (errno == EADDRINUSE)
			snprintf(err, cap, "cannot listen on %s: another process listens on it "
			    "(bind: %s)", label, strerror(errno));
		else
			snprintf(err, cap, "cannot listen on %s: bind: %s", label, strerror(errno));
		return NULL;
	}
	struct lsock *s = calloc(1, sizeof *s);
	if (s == NULL || (s->fd = calloc(workers, sizeof *s->fd)) == NULL)
		abort();
	s->addr = *a;
	for (unsigned w = 0; w < workers; w++)
		s->fd[w] = -1;
	for (unsigned w = 0; w < workers; w++) {
		s->fd[w] = gen_listen(a);
		if (s->fd[w] == -1) {
			snprintf(err, cap, "cannot listen on %s: %s", label, strerror(errno));
			for (unsigned k = 0; k < w; k++)
				close(s->fd[k]);
			free(s->fd);
			free(s);
			close(claim);
			return NULL;
		}
	}
	close(claim);
	return s;
}

/* Releases a socket reference; the last closes every worker's fd. */
static void
lsock_unref(struct lsock *s, unsigned workers)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (unsigned w = 0; w < workers; w++)
		if (s->fd[w] != -1)
			close(s->fd[w]);
	free(s->fd);
	free(s);
}

/* Copies health and passive marks from the same upstream+server in prev. */
static void
gen_carry_health(struct server_rt *s, const char *upname, const struct gen *prev)
{
	if (prev == NULL)
		return;
	for (size_t i = 0; i < prev->nupstreams; i++) {
		const struct upstream_rt *u = &prev->upstreams[i];
		if (strcmp(u->conf->name, upname) != 0)
			continue;
		for (size_t j = 0; j < u->nservers; j++) {
			if (!confval_addr_equal(&u->servers[j].addr, &s->addr))
				continue;
			s->hc_up = __atomic_load_n(&u->servers[j].hc_up, __ATOMIC_RELAXED);
			s->down_until = __atomic_load_n(&u->servers[j].down_until, __ATOMIC_RELAXED);
			s->hc_ok = u->servers[j].hc_ok;
			s->hc_fail = u->servers[j].hc_fail;
			return;
		}
	}
}

/* Frees what gen_build allocated; sockets are released by the caller's path. */
static void
gen_free_parts(struct gen *g)
{
	for (size_t i = 0; i < g->nlisteners; i++) {
		struct listener_rt *l = &g->listeners[i];
		rtable_free(&l->exact);
		rtable_free(&l->wild);
		free(l->routes);
		free(l->socks);
	}
	for (size_t i = 0; i < g->nupstreams; i++) {
		free(g->upstreams[i].servers);
		free(g->upstreams[i].rr);
	}
	free(g->listeners);
	free(g->upstreams);
	free(g->wconns);
	term_free(g->term);
}

/* Fills a route's runtime: its upstream, label and metric entry. */
static void
gen_route_rt(struct gen *g, struct route_rt *r, const struct conf_route *cr,
    const struct conf_listener *cl)
{
	char labels[STATS_LABEL_MAX], el[CONF_NAME_MAX * 2], er[sizeof r->label * 2];
	r->conf = cr;
	r->up = cr->action == CONF_ACTION_UPSTREAM ? &g->upstreams[cr->upstream_index] : NULL;
	snprintf(r->label, sizeof r->label, "%s", cr->npatterns > 0 ? cr->patterns[0].name : "default");
	stats_escape(el, sizeof el, cl->name);
	stats_escape(er, sizeof er, r->label);
	snprintf(labels, sizeof labels, "listener=\"%s\",route=\"%s\"", el, er);
	r->stats = stats_entry(STATS_ROUTE, labels);
}

struct gen *
gen_build(struct conf *conf, const struct gen *prev, unsigned workers, uint64_t id, char *err,
    size_t cap)
{
	char labels[STATS_LABEL_MAX], e1[CONF_NAME_MAX * 2], e2[128];
	struct gen *g = calloc(1, sizeof *g);
	if (g == NULL)
		abort();
	g->id = id;
	g->workers = workers;
	g->conf = conf;
	g->refs = 1;
	g->wconns = pad_calloc(workers, sizeof *g->wconns);
	g->upstreams = calloc(conf->nupstreams ? conf->nupstreams : 1, sizeof *g->upstreams);
	g->listeners = calloc(conf->nlisteners ? conf->nlisteners : 1, sizeof *g->listeners);
	if (g->wconns == NULL || g->upstreams == NULL || g->listeners == NULL)
		abort();

	g->nupstreams = conf->nupstreams;
	for (size_t i = 0; i < conf->nupstreams; i++) {
		const struct conf_upstream *cu = &conf->upstreams[i];
		struct upstream_rt *u = &g->upstreams[i];
		u->conf = cu;
		u->nservers = cu->nservers;
		u->servers = pad_calloc(cu->nservers, sizeof *u->servers);
		u->rr = pad_calloc(workers, sizeof *u->rr);
		if (u->servers == NULL || u->rr == NULL)
			abort();
		for (size_t j = 0; j < cu->nservers; j++) {
			struct server_rt *s = &u->servers[j];
			s->addr = cu->servers[j];
			s->hc_up = 1;
			confval_addr_format(&s->addr, s->label, sizeof s->label);
			gen_carry_health(s, cu->name, prev);
			stats_escape(e1, sizeof e1, cu->name);
			stats_escape(e2, sizeof e2, s->label);
			snprintf(labels, sizeof labels, "upstream=\"%s\",server=\"%s\"", e1, e2);
			s->stats = stats_entry(STATS_SERVER, labels);
			__atomic_store_n(&s->stats->gauge_up, s->hc_up, __ATOMIC_RELAXED);
		}
	}

	/* Certificates load before any socket is bound: a bad one refuses the whole file. */
	g->term = term_build(conf, err, cap);
	if (g->term == NULL)
		goto fail;

	for (size_t i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener *cl = &conf->listeners[i];
		struct listener_rt *l = &g->listeners[i];
		g->nlisteners = i + 1;
		l->conf = cl;
		l->routes = calloc(cl->nroutes ? cl->nroutes : 1, sizeof *l->routes);
		l->socks = calloc(cl->nlisten, sizeof *l->socks);
		if (l->routes == NULL || l->socks == NULL)
			abort();
		size_t nexact = 0, nwild = 0;
		for (size_t r = 0; r < cl->nroutes; r++) {
			gen_route_rt(g, &l->routes[r], &cl->routes[r], cl);
			for (size_t p = 0; p < cl->routes[r].npatterns; p++) {
				if (cl->routes[r].patterns[p].wildcard)
					nwild++;
				else
					nexact++;
			}
		}
		gen_route_rt(g, &l->def, &cl->default_route, cl);
		rtable_init(&l->exact, nexact);
		rtable_init(&l->wild, nwild);
		for (size_t r = 0; r < cl->nroutes; r++) {
			for (size_t p = 0; p < cl->routes[r].npatterns; p++) {
				const struct conf_pattern *pt = &cl->routes[r].patterns[p];
				if (pt->wildcard)
					rtable_put(&l->wild, pt->name + 2, pt->len - 2, &l->routes[r]);
				else
					rtable_put(&l->exact, pt->name, pt->len, &l->routes[r]);
			}
		}
		stats_escape(e1, sizeof e1, cl->name);
		snprintf(labels, sizeof labels, "listener=\"%s\"", e1);
		l->stats = stats_entry(STATS_LISTENER, labels);
		l->hstats = stats_entry(STATS_HTTP, labels);
		for (size_t a = 0; a < cl->nlisten; a++) {
			l->socks[a] = gen_lsock(&cl->listen[a], prev, workers, err, cap);
			if (l->socks[a] == NULL)
				goto fail;
			__atomic_add_fetch(&l->socks[a]->refs, 1, __ATOMIC_ACQ_REL);
		}
	}
	return g;
fail:
	for (size_t i = 0; i < g->nlisteners; i++)
		for (size_t a = 0; a < g->listeners[i].conf->nlisten; a++)
			if (g->listeners[i].socks[a] != NULL)
				lsock_unref(g->listeners[i].socks[a], workers);
	g->conf = NULL; /* the caller still owns conf on failure */
	gen_free_parts(g);
	free(g);
	return NULL;
}

void
gen_ref(struct gen *g)
{
	__atomic_add_fetch(&g->refs, 1, __ATOMIC_ACQ_REL);
}

void
gen_unref(struct gen *g)
{
	if (__atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < g->nlisteners; i++)
		for (size_t a = 0; a < g->listeners[i].conf->nlisten; a++)
			if (g->listeners[i].socks[a] != NULL)
				lsock_unref(g->listeners[i].socks[a], g->workers);
	conf_free(g->conf);
	gen_free_parts(g);
	free(g);
}
