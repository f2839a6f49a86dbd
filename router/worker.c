/*
 * Worker threads (see worker.h): accepting, switching generations on reload, draining on
 * stop, and the per-worker pipe pool (buffers: core/bufpool). Runs only on its own thread except
 * worker_init and the two worker_post_* calls, which only set atomics and activate an event.
 */
#include "router/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/bufpool.h"
#include "core/deadline.h"
#include "core/log.h"
#include "router/conn.h"
#include "router/edge.h"
#include "router/hconn.h"
#include "router/relay.h"
#include "terminator/terminator.h"

uint32_t worker_conns_total;
uint32_t worker_exited;
struct event *worker_exit_ev;

/*
 * Asks a new pipe for w->pipe_size bytes, so that one splice moves that much. Any refusal
 * leaves the pipe as the kernel made it, and it works as well with fewer bytes per call:
 * EPERM when the user's pipes passed fs.pipe-user-pages-soft or -hard (an unprivileged
 * process.user; root is exempt), ENOMEM when memory is short.
 */
static void
worker_pipe_grow(struct worker *w, int p[2])
{
	if (w->pipe_size == 0 || w->npipes_big >= w->npipes_big_max)
		return;
	if (fcntl(p[1], F_SETPIPE_SZ, (int)w->pipe_size) == -1) {
		if (!w->pipe_warned)
			log_info("worker %u: splice pipes keep the default size (F_SETPIPE_SZ %zu: %s%s)",
			    w->id, w->pipe_size, strerror(errno),
			    errno == EPERM ? "; fs.pipe-user-pages-soft reached?" : "");
		w->pipe_warned = true;
		return;
	}
	w->npipes_big++;
}

int
worker_pipe_get(struct worker *w, int p[2])
{
	if (w->npipes > 0) {
		w->npipes--;
		p[0] = w->pipes[2 * w->npipes];
		p[1] = w->pipes[2 * w->npipes + 1];
		return 0;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	worker_pipe_grow(w, p);
	return 0;
}

void
worker_pipe_close(struct worker *w, int p[2])
{
	if (w->npipes_big > 0) {
		/* Only enlarged pipes are counted; the size tells them apart (one call, on the rare
		 * close of a pipe: a full pool or a connection closed with bytes in flight). */
		int sz = fcntl(p[1], F_GETPIPE_SZ);
		if (sz != -1 && (size_t)sz > w->pipe_def)
			w->npipes_big--;
	}
	close(p[0]);
	close(p[1]);
}

void
worker_pipe_put(struct worker *w, int p[2])
{
	if (w->npipes < WORKER_PIPES_KEEP) {
		w->pipes[2 * w->npipes] = p[0];
		w->pipes[2 * w->npipes + 1] = p[1];
		w->npipes++;
		return;
	}
	worker_pipe_close(w, p);
}

/* Reads one unsigned number from a /proc/sys file; -1 when it cannot. */
static int
worker_sysctl(const char *path, unsigned long *v)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	int rc = fscanf(f, "%lu", v) == 1 ? 0 : -1;
	fclose(f);
	return rc;
}

/*
 * The size to ask of new splice pipes: RELAY_PIPE_SIZE capped by fs.pipe-max-size (which root
 * could pass); how many may be that large: WORKER_PIPES_BIG_BYTES, and no more than an eighth
 * of fs.pipe-user-pages-soft when it is set. 0: ask nothing (no larger than the default).
 */
static void
worker_pipe_sizes(struct worker *w)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pg = page > 0 ? (size_t)page : 4096;
	w->pipe_def = 16 * pg; /* the kernel's PIPE_DEF_BUFFERS pages */
	size_t want = RELAY_PIPE_SIZE, budget = WORKER_PIPES_BIG_BYTES;
	unsigned long v;
	if (worker_sysctl("/proc/sys/fs/pipe-max-size", &v) == 0 && v < want)
		want = v;
	if (worker_sysctl("/proc/sys/fs/pipe-user-pages-soft", &v) == 0 && v > 0 &&
	    v / 8 < budget / pg)
		budget = v / 8 * pg;
	w->pipe_size = want > w->pipe_def ? want : 0;
	w->npipes_big_max = w->pipe_size > 0 ? budget / w->pipe_size : 0;
	if (w->npipes_big_max == 0)
		w->pipe_size = 0;
}

/* Stops or restarts every accept event (EMFILE backoff, drain). */
static void
worker_accepting(struct worker *w, bool on)
{
	for (size_t i = 0; i < w->nslots; i++) {
		if (on)
			event_add(w->slots[i].ev, NULL);
		else
			event_del(w->slots[i].ev);
	}
}

static void
worker_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;
	if (!w->draining)
		worker_accepting(w, true);
}

/* Accepts until the queue is empty (bounded); hands each socket to conn_accept. */
static void
worker_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct worker_slot *slot = arg;
	struct worker *w = slot->w;
	struct listener_rt *l = slot->l;
	(void)what;

	/*
	 * One accept per wake-up: the listen event is level-triggered, so a backlog re-fires at
	 * once, and the common case (one new connection) costs no accept4 that says EAGAIN.
	 */
	for (int budget = WORKER_ACCEPTS_PER_WAKE; budget > 0; budget--) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			stats_add(l->stats, w->id, SL_ACCEPT_ERRORS, 1);
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warn("listener %s: accept: %s; pausing accepts for %d ms",
				    l->conf->name, strerror(errno), WORKER_BACKOFF_MS);
				stats_add(w->pstats, w->id, SP_EMFILE, 1);
				worker_accepting(w, false);
				deadline_add(w->backoff, WORKER_BACKOFF_MS);
			}
			return;
		}
		worker_adopt(w, l, fd, &peer);
	}
}

bool
worker_adopt(struct worker *w, struct listener_rt *l, int fd, const struct sockaddr_storage *peer)
{
	uint32_t total = __atomic_add_fetch(&worker_conns_total, 1, __ATOMIC_RELAXED);
	if (total > w->gen->conf->process.max_connections) {
		__atomic_sub_fetch(&worker_conns_total, 1, __ATOMIC_RELAXED);
		stats_add(l->stats, w->id, SL_REJECT_MAXCONN, 1);
		close(fd);
		return false;
	}
	if (l->conf->kind == CONF_LISTENER_HTTP)
		hconn_accept(w, l, fd, peer);
	else
		conn_accept(w, l, fd, peer);
	return true;
}

/* Creates (not adds) accept events for every socket of g. */
static void
worker_listen_on(struct worker *w, struct gen *g)
{
	size_t n = 0;
	for (size_t i = 0; i < g->nlisteners; i++)
		n += g->listeners[i].conf->nlisten;
	w->slots = calloc(n ? n : 1, sizeof *w->slots);
	if (w->slots == NULL)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < g->nlisteners; i++) {
		struct listener_rt *l = &g->listeners[i];
		for (size_t a = 0; a < l->conf->nlisten; a++) {
			if (l->socks[a] == NULL)
				continue; /* not bound */
			struct worker_slot *s = &w->slots[k++];
			s->w = w;
			s->l = l;
			s->fd = l->socks[a]->fd[w->id];
			s->ev = event_new(w->base, s->fd, EV_READ | EV_PERSIST, worker_accept_cb, s);
			if (s->ev == NULL)
				abort();
		}
	}
	w->nslots = k;
}

/* Deletes and frees the accept events. */
static void
worker_listen_off(struct worker *w)
{
	for (size_t i = 0; i < w->nslots; i++)
		event_free(w->slots[i].ev);
	free(w->slots);
	w->slots = NULL;
	w->nslots = 0;
}

/* True when fd is one of g's sockets for this worker. */
static bool
worker_gen_has_fd(const struct gen *g, unsigned id, int fd)
{
	for (size_t i = 0; i < g->nlisteners; i++)
		for (size_t a = 0; a < g->listeners[i].conf->nlisten; a++)
			if (g->listeners[i].socks[a] != NULL && g->listeners[i].socks[a]->fd[id] == fd)
				return true;
	return false;
}

/* Moves accepting to generation g; the old one lives on while its connections do. */
static void
worker_switch(struct worker *w, struct gen *g)
{
	struct gen *old = w->gen;
	for (size_t i = 0; i < w->nslots; i++) {
		/*
		 * A listen address the new configuration dropped: take it out of LISTEN now
		 * (Linux: shutdown on a listening socket), so clients get a refusal instead of
		 * waiting in a queue nobody accepts from while old connections drain.
		 */
		if (!worker_gen_has_fd(g, w->id, w->slots[i].fd))
			shutdown(w->slots[i].fd, SHUT_RDWR);
	}
	worker_listen_off(w);
	w->gen = g;
	worker_listen_on(w, g);
	if (!w->draining)
		worker_accepting(w, true);
	if (old->wconns[w->id].v == 0)
		gen_unref(old);
	/* else the last connection on old drops this worker's reference (edge_close) */
}

/* Drain deadline passed: close what is left and leave the loop. */
static void
worker_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;
	if (w->nconns > 0)
		log_info("worker %u: shutdown_timeout reached, closing %zu connections", w->id, w->nconns);
	edge_close_all(w);
	event_base_loopbreak(w->base);
}

void
worker_conn_closed(struct worker *w)
{
	if (w->draining && w->nconns == 0)
		event_base_loopbreak(w->base);
}

/* Messages from the main thread: a new generation, or stop. */
static void
worker_msg_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;
	struct gen *g = __atomic_exchange_n(&w->pending, NULL, __ATOMIC_ACQ_REL);
	if (g != NULL)
		worker_switch(w, g);
	if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) && !w->draining) {
		w->draining = true;
		worker_accepting(w, false);
		/* Refuse new connections now rather than let them queue until exit. */
		for (size_t i = 0; i < w->nslots; i++)
			shutdown(w->slots[i].fd, SHUT_RDWR);
		if (w->nconns == 0) {
			event_base_loopbreak(w->base);
			return;
		}
		uint64_t ms = w->gen->conf->process.shutdown_timeout_ms;
		deadline_add(w->drain, ms);
		edge_drain_all(w); /* idle keep-alive connections need not wait for the deadline */
	}
}

struct worker *
worker_array(unsigned n)
{
	return pad_calloc(n, sizeof(struct worker));
}

int
worker_init(struct worker *w, unsigned id, struct gen *g, struct stats_entry *pstats)
{
	memset(w, 0, sizeof *w);
	w->id = id;
	w->pstats = pstats;
	w->rnd = 2463534242u ^ (id * 2654435761u);
	w->splice = getenv("SWITCHYARD_RELAY") == NULL || strcmp(getenv("SWITCHYARD_RELAY"), "copy") != 0;
	w->pipes = calloc(2 * WORKER_PIPES_KEEP, sizeof *w->pipes);
	worker_pipe_sizes(w);
	struct event_config *cfg = event_config_new();
	if (cfg == NULL || w->pipes == NULL)
		return -1;
	event_config_require_features(cfg, EV_FEATURE_ET | EV_FEATURE_O1 | EV_FEATURE_EARLY_CLOSE);
	/* No EVENT_BASE_FLAG_PRECISE_TIMER: with it libevent re-arms a timerfd before every
	 * epoll_wait (one system call per wake-up). libevent's default coarse clock could
	 * expire a timeout a tick early; every timeout here is armed through core/deadline.h,
	 * which lengthens it by the coarse clock's lag at that instant, so "at least" holds. */
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->base == NULL)
		return -1;
	w->msg = event_new(w->base, -1, 0, worker_msg_cb, w);
	w->backoff = evtimer_new(w->base, worker_backoff_cb, w);
	w->drain = evtimer_new(w->base, worker_drain_cb, w);
	if (w->msg == NULL || w->backoff == NULL || w->drain == NULL || edge_worker_init(w) == -1)
		return -1;
	gen_ref(g);
	w->gen = g;
	worker_listen_on(w, g);
	worker_accepting(w, true);
	return 0;
}

void
worker_fini(struct worker *w)
{
	worker_accepting(w, false);
	worker_listen_off(w);
	edge_close_all(w);
	edge_reap(w); /* the loop that would run the deferred free has ended */
	term_worker_exit(); /* after its connections: the VPN resolver they shared */
	bufpool_drain(); /* the pool is this thread's: its storage ends with the thread */
	event_free(w->msg);
	event_free(w->backoff);
	event_free(w->drain);
	edge_worker_fini(w);
	event_base_free(w->base);
	w->base = NULL;
	for (size_t i = 0; i < w->npipes; i++) {
		close(w->pipes[2 * i]);
		close(w->pipes[2 * i + 1]);
	}
	free(w->pipes);
	w->pipes = NULL;
	w->npipes = 0;
	struct gen *g = __atomic_exchange_n(&w->pending, NULL, __ATOMIC_ACQ_REL);
	if (g != NULL)
		gen_unref(g);
	gen_unref(w->gen);
	w->gen = NULL;
}

void *
worker_main(void *arg)
{
	struct worker *w = arg;
	/* The msg event has no fd: keep the loop alive even with nothing else pending. */
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	worker_accepting(w, false);
	worker_listen_off(w);
	edge_close_all(w);
	edge_reap(w); /* the loop that would run the deferred free has ended */
	term_worker_exit(); /* after its connections: the VPN resolver they shared */
	bufpool_drain(); /* the pool is this thread's: its storage ends with the thread */
	__atomic_add_fetch(&worker_exited, 1, __ATOMIC_ACQ_REL);
	if (worker_exit_ev != NULL)
		event_active(worker_exit_ev, 0, 0); /* thread-safe: evthread_use_pthreads */
	return NULL;
}

void
worker_post_gen(struct worker *w, struct gen *g)
{
	gen_ref(g);
	struct gen *prev = __atomic_exchange_n(&w->pending, g, __ATOMIC_ACQ_REL);
	if (prev != NULL)
		gen_unref(prev); /* two reloads before the worker woke: skip the middle one */
	event_active(w->msg, 0, 0);
}

void
worker_post_stop(struct worker *w)
{
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	event_active(w->msg, 0, 0);
}
