/*
 * A worker: one thread, one libevent loop, its own SO_REUSEPORT accept sockets, its own
 * connections, pipe pool and counters (buffers come from core/bufpool, per thread). Nothing
 * on its data path takes a lock; the main thread talks to it only through the atomics below
 * and one event it activates.
 */
#ifndef SY_ROUTER_WORKER_H
#define SY_ROUTER_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "core/pad.h"
#include "core/timerq.h"
#include "router/gen.h"

#define WORKER_PIPES_KEEP 64  /* empty splice pipes kept for reuse per worker */
/*
 * Capacity of the enlarged pipes (RELAY_PIPE_SIZE) alive per worker, pooled or in use; more
 * pipes get the default size. An unprivileged user's pipes share fs.pipe-user-pages-soft
 * (16384 pages by default; past it every new pipe gets 2 pages): the budget is at most an
 * eighth of it, 8 MiB = 2048 pages = 8 pipes of 1 MiB, so the default pipes keep theirs.
 */
#define WORKER_PIPES_BIG_BYTES (8u * 1024 * 1024)
#define WORKER_ACCEPTS_PER_WAKE 1
#define WORKER_BACKOFF_MS 100 /* accept pause after EMFILE/ENFILE */

struct edge;
struct event;
struct event_base;

/* One accept event and what it accepts for. */
struct worker_slot {
	struct event       *ev;
	struct worker      *w;
	struct listener_rt *l;
	int                 fd;
};

/*
 * Aligned to a cache line (so is its size): the workers sit in one array (worker_array), and
 * what one writes on every connection (nconns, npipes, rnd) must not share a line with what
 * its neighbour reads on every connection (id, base, gen).
 */
struct worker {
	_Alignas(PAD_LINE) unsigned id;
	pthread_t           thread;
	struct event_base  *base;
	struct event       *msg;        /* activated by the main thread */
	struct gen         *gen;        /* accepting on this one; holds a reference */
	struct gen         *pending;    /* atomic: next generation from the main thread */
	int                 stop;       /* atomic: stop accepting and drain */
	struct worker_slot *slots;      /* accept events, one per socket of gen */
	size_t              nslots;
	struct event       *backoff;    /* accepting paused after EMFILE */
	struct event       *drain;      /* shutdown deadline */
	bool                draining;
	TAILQ_HEAD(, edge)  edges;      /* open connections of both kinds (router/edge.h) */
	TAILQ_HEAD(, edge)  dead;       /* closed ones whose memory reap frees */
	struct event       *reap;       /* deferred free: active while dead is not empty */
	struct timerq       tq;         /* every connection's one timer, on one event */
	size_t              nconns;     /* in edges */
	int                *pipes;      /* free pipe pairs: [2 * npipes] */
	size_t              npipes;
	size_t              pipe_size;  /* asked of new pipes; 0: keep the default size */
	size_t              pipe_def;   /* the kernel's default pipe size (16 pages) */
	size_t              npipes_big; /* enlarged pipes alive (pooled or in use) */
	size_t              npipes_big_max; /* WORKER_PIPES_BIG_BYTES / pipe_size, or less */
	bool                pipe_warned; /* the fallback to the default size was logged */
	bool                splice;     /* false: read/write copy relay */
	uint32_t            rnd;        /* xorshift state for balance: random */
	struct stats_entry *pstats;     /* process entry */
};

/* Process-wide connection count against process.max_connections (atomic). */
extern uint32_t worker_conns_total;

/* Workers whose loop has ended (atomic); each then activates worker_exit_ev. */
extern uint32_t worker_exited;

/* An event of the main loop (set by main before the workers start, may stay NULL) that a
 * worker activates when its loop has ended: main keeps serving the admin listener while
 * the workers drain, and leaves its loop once they all have. */
extern struct event *worker_exit_ev;

/* n zeroed workers in one array, each on its own cache lines; NULL when out of memory.
 * free() releases it. */
struct worker *worker_array(unsigned n);

/* Sets up a worker's loop and accept events on g (main thread, before the thread starts). */
int worker_init(struct worker *w, unsigned id, struct gen *g, struct stats_entry *pstats);

/*
 * Hands fd (a connected, non-blocking socket) to l's connection kind as if the worker had
 * accepted it from peer: process.max_connections applies. False when refused (fd closed).
 * The accept path, and the seam for harnesses that bring their own socket (socketpair).
 */
bool worker_adopt(struct worker *w, struct listener_rt *l, int fd,
    const struct sockaddr_storage *peer);

/*
 * Tears a worker down on its own thread once its loop no longer runs: closes its
 * connections, frees them, its pooled buffers and pipes, its events and loop, and drops
 * its generation references. For tests and harnesses (the daemon exits instead).
 */
void worker_fini(struct worker *w);

/* Thread body: runs the loop until drained. */
void *worker_main(void *arg);

/* From the main thread: switch to g (takes a reference for the worker). */
void worker_post_gen(struct worker *w, struct gen *g);

/* From the main thread: stop accepting, drain for shutdown_ms, then leave the loop. */
void worker_post_stop(struct worker *w);

/* Pipe pool for splice: fills p[2]; -1 when none can be made. */
int worker_pipe_get(struct worker *w, int p[2]);
/* Returns an EMPTY pipe to the pool (or closes it). */
void worker_pipe_put(struct worker *w, int p[2]);
/* Closes a pipe taken with worker_pipe_get (full or not) and forgets its size. */
void worker_pipe_close(struct worker *w, int p[2]);

/* Called by edge_close when a connection closes: drain bookkeeping. */
void worker_conn_closed(struct worker *w);

#endif
