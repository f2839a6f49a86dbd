/*
 * What workers share, measured with 1 and with 2 threads (issue 12 item 4; RESULTS.md,
 * "Scaling to 16 and 64 cores"). Built with the suite (bench_scale), never run as a test:
 * it prints figures and asserts nothing. Each case runs a fixed number of operations per
 * thread, alone and then on two threads started together, and prints the CPU time of a
 * thread per operation (CLOCK_THREAD_CPUTIME_ID, averaged over the threads: time spent
 * preempted by other processes is not counted, so 2 threads at no contention show the
 * same figure as 1):
 *   - per-worker slots written on every connection (generation wconns, round-robin cursor,
 *     stats copies): packed uint32_t slots (4 bytes apart, as before the padding) against
 *     struct pad_u32 slots (core/pad.h, one cache line each); relaxed load + store, as
 *     stats_add and `wconns[id]++` compile. Back to back, and "spaced": each write after
 *     about 100 ns of work on private data, as the daemon's writes come between system
 *     calls (a store buffer hides a tight loop's misses; spaced writes pay each one);
 *   - the one process-wide connection count (worker_conns_total): an atomic add on one
 *     shared line, against each thread adding to its own line;
 *   - the VPN replay cache (terminator/vpn/vreplay.c), one vreplay_check per handshake: in
 *     memory, and with a state file (one write(2) under its mutex per new key); the BLAKE2b
 *     alone for comparison (it runs outside the lock);
 *   - the access log: a 200-byte line per write(2), both threads to one O_APPEND file (as
 *     workers share log.access), against one file each.
 * Usage: bench_scale [-n OPS] [-d DIR]   (OPS: slot and counter operations per thread,
 * default 4e8; the replay and log cases do 2e5; DIR: where the temp files go, default /tmp).
 * Both threads must really run at once: on a busy machine the 2-thread figures read low.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/pad.h"
#include "terminator/vpn/vreplay.h"

#define SCALE_THREADS 2
#define SCALE_WINDOW  86400 /* replay window, seconds: nothing expires during a run */

/* One case: the work one thread does, with its index and the shared state. */
struct scale_case;
typedef void scale_fn(struct scale_case *c, unsigned t);

struct scale_case {
	const char        *name;
	scale_fn          *fn;
	unsigned long      ops;
	void              *shared;
	pthread_barrier_t  go;
	int                fds[SCALE_THREADS];
};

struct scale_arg {
	struct scale_case *c;
	unsigned           t;
	uint64_t           cpu_ns;  /* this thread's CPU time in the case */
	uint64_t           w0, w1;  /* its wall-clock start and end */
};

/* Of the last 2-thread run: the share of the shorter thread's CPU time during which both
 * must have run at once (CPU times summed minus the wall time they spanned; a lower bound). */
static double scale_overlap;

#define SCALE_WORK 64 /* rounds of private work between spaced writes (about 100 ns) */

/* Monotonic wall clock, nanoseconds. */
static uint64_t
wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This thread's CPU time, nanoseconds. */
static uint64_t
cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Thread body: wait for the others, then run the case on the thread's CPU clock. */
static void *
scale_thread(void *arg)
{
	struct scale_arg *a = arg;
	pthread_barrier_wait(&a->c->go);
	a->w0 = wall_ns();
	uint64_t t0 = cpu_ns();
	a->c->fn(a->c, a->t);
	a->cpu_ns = cpu_ns() - t0;
	a->w1 = wall_ns();
	return NULL;
}

/* About 100 ns of work that touches nothing shared (an xorshift the compiler must keep). */
static inline void
private_work(uint32_t *x)
{
	for (int k = 0; k < SCALE_WORK; k++) {
		*x ^= *x << 13;
		*x ^= *x >> 17;
		*x ^= *x << 5;
		__asm__ volatile("" : "+r"(*x));
	}
}

/* Runs c on n threads; returns ns per operation of one thread. */
static double
scale_run(struct scale_case *c, unsigned n)
{
	pthread_t th[SCALE_THREADS];
	struct scale_arg args[SCALE_THREADS];
	pthread_barrier_init(&c->go, NULL, n + 1);
	for (unsigned i = 0; i < n; i++) {
		args[i] = (struct scale_arg){ .c = c, .t = i, .cpu_ns = 0 };
		if (pthread_create(&th[i], NULL, scale_thread, &args[i]) != 0) {
			perror("pthread_create");
			exit(1);
		}
	}
	pthread_barrier_wait(&c->go);
	uint64_t sum = 0;
	for (unsigned i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		sum += args[i].cpu_ns;
	}
	pthread_barrier_destroy(&c->go);
	if (n == 2) {
		uint64_t lo = args[0].w0 < args[1].w0 ? args[0].w0 : args[1].w0;
		uint64_t hi = args[0].w1 > args[1].w1 ? args[0].w1 : args[1].w1;
		uint64_t shorter = args[0].cpu_ns < args[1].cpu_ns ? args[0].cpu_ns : args[1].cpu_ns;
		double both = (double)sum - (double)(hi - lo);
		scale_overlap = both > 0 && shorter > 0 ? 100.0 * both / (double)shorter : 0;
	}
	return (double)sum / n / (double)c->ops;
}

/* Packed per-worker slots: thread t owns slots[t], 4 bytes from its neighbour. */
static void
packed_inc(struct scale_case *c, unsigned t)
{
	uint32_t *p = (uint32_t *)c->shared + t;
	for (unsigned long i = 0; i < c->ops; i++)
		__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* Padded per-worker slots: thread t owns its own cache line. */
static void
padded_inc(struct scale_case *c, unsigned t)
{
	uint32_t *p = &((struct pad_u32 *)c->shared)[t].v;
	for (unsigned long i = 0; i < c->ops; i++)
		__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* Spaced writes to packed slots: private work, then one write, as per connection. */
static void
packed_spaced(struct scale_case *c, unsigned t)
{
	uint32_t *p = (uint32_t *)c->shared + t, x = 2463534242u + t;
	for (unsigned long i = 0; i < c->ops; i++) {
		private_work(&x);
		__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
	}
}

/* Spaced writes to padded slots. */
static void
padded_spaced(struct scale_case *c, unsigned t)
{
	uint32_t *p = &((struct pad_u32 *)c->shared)[t].v, x = 2463534242u + t;
	for (unsigned long i = 0; i < c->ops; i++) {
		private_work(&x);
		__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
	}
}

/* Spaced atomic adds to one shared counter. */
static void
shared_spaced(struct scale_case *c, unsigned t)
{
	uint32_t *p = c->shared, x = 2463534242u + t;
	for (unsigned long i = 0; i < c->ops; i++) {
		private_work(&x);
		__atomic_add_fetch(p, 1, __ATOMIC_RELAXED);
	}
}

/* The private work alone: what the spaced cases cost without their write. */
static void
work_only(struct scale_case *c, unsigned t)
{
	uint32_t x = 2463534242u + t;
	for (unsigned long i = 0; i < c->ops; i++)
		private_work(&x);
	__asm__ volatile("" : : "r"(x));
}

/* One shared counter, atomic read-modify-write (worker_conns_total's +1 at accept). */
static void
shared_atomic(struct scale_case *c, unsigned t)
{
	(void)t;
	uint32_t *p = c->shared;
	for (unsigned long i = 0; i < c->ops; i++)
		__atomic_add_fetch(p, 1, __ATOMIC_RELAXED);
}

/* The same atomic, each thread on its own line: what a per-worker count would cost. */
static void
own_atomic(struct scale_case *c, unsigned t)
{
	uint32_t *p = &((struct pad_u32 *)c->shared)[t].v;
	for (unsigned long i = 0; i < c->ops; i++)
		__atomic_add_fetch(p, 1, __ATOMIC_RELAXED);
}

/* One vreplay_check per operation, every key new (as honest handshakes are). */
static void
replay_check(struct scale_case *c, unsigned t)
{
	uint8_t ek[32];
	randombytes_buf(ek, sizeof ek);
	ek[0] = (uint8_t)t;
	for (unsigned long i = 0; i < c->ops; i++) {
		memcpy(ek + 1, &i, sizeof i); /* distinct per thread and operation */
		if (vreplay_check(c->shared, ek, 1700000000, SCALE_WINDOW) != VREPLAY_NEW) {
			fprintf(stderr, "bench_scale: replay cache refused a new key\n");
			exit(1);
		}
	}
}

/* The hash vreplay_check computes before it takes the lock, alone. */
static void
replay_hash(struct scale_case *c, unsigned t)
{
	uint8_t ek[32], h[VREPLAY_HASH_LEN];
	randombytes_buf(ek, sizeof ek);
	ek[0] = (uint8_t)t;
	for (unsigned long i = 0; i < c->ops; i++) {
		memcpy(ek + 1, &i, sizeof i);
		crypto_generichash(h, sizeof h, ek, sizeof ek, NULL, 0);
		__asm__ volatile("" : : "r"(h) : "memory");
	}
	(void)c;
}

/* One 200-byte log line per write(2) to this thread's descriptor (shared or not). */
static void
log_write(struct scale_case *c, unsigned t)
{
	char line[200];
	memset(line, 'x', sizeof line);
	line[sizeof line - 1] = '\n';
	for (unsigned long i = 0; i < c->ops; i++)
		if (write(c->fds[t], line, sizeof line) != (ssize_t)sizeof line) {
			perror("bench_scale: write");
			exit(1);
		}
}

/* Prints one case: 1 thread, 2 threads, and the ratio. */
static void
scale_report(struct scale_case *c, double one, double two)
{
	printf("| %s | %.1f | %.1f | %.2f | %.0f |\n", c->name, one, two, two / one, scale_overlap);
	fflush(stdout);
}

/* A fresh replay cache for up to 2 * ops keys (dir may be NULL). */
static struct vreplay *
replay_new(unsigned long ops, const char *dir)
{
	char err[256];
	struct vreplay *r = vreplay_open(2 * ops + 16, dir, 1700000000, SCALE_WINDOW, err, sizeof err);
	if (r == NULL) {
		fprintf(stderr, "bench_scale: %s\n", err);
		exit(1);
	}
	return r;
}

/* Runs a replay case on a fresh cache for each thread count. */
static void
replay_case(const char *name, scale_fn *fn, unsigned long ops, const char *dir)
{
	struct scale_case c = { .name = name, .fn = fn, .ops = ops };
	c.shared = replay_new(ops, dir);
	double one = scale_run(&c, 1);
	vreplay_free(c.shared);
	if (dir != NULL) { /* the next cache starts empty, not with these keys */
		char rp[4200];
		snprintf(rp, sizeof rp, "%s/%s", dir, VREPLAY_FILE);
		unlink(rp);
	}
	c.shared = replay_new(ops, dir);
	double two = scale_run(&c, SCALE_THREADS);
	vreplay_free(c.shared);
	scale_report(&c, one, two);
}

/* Opens (truncating) path for appending, as the access log is opened. */
static int
open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd == -1) {
		perror(path);
		exit(1);
	}
	return fd;
}

int
main(int argc, char **argv)
{
	/* Enough slot and counter operations that both threads overlap for most of a run (a
	 * thread alone takes about 0.2 s at 0.5 ns an operation). */
	unsigned long ops = 400000000, rops = 200000, lops = 200000;
	const char *dir = "/tmp";
	int opt;
	while ((opt = getopt(argc, argv, "n:d:")) != -1) {
		if (opt == 'n') {
			ops = strtoul(optarg, NULL, 10);
		} else if (opt == 'd') {
			dir = optarg;
		} else {
			fprintf(stderr, "usage: bench_scale [-n OPS] [-d DIR]\n");
			return 2;
		}
	}
	if (sodium_init() == -1)
		return 1;
	printf("| case (CPU ns per operation of one thread) | 1 thread | 2 threads | 2 / 1 | "
	    "both ran at once (%% of the run, at least) |\n|---|---|---|---|---|\n");

	struct pad_u32 *slots = pad_calloc(SCALE_THREADS, sizeof *slots);
	uint32_t *packed = pad_calloc(1, PAD_LINE);
	if (slots == NULL || packed == NULL)
		return 1;
	struct scale_case c = { .name = "per-worker slot, packed (4 bytes apart): load+store",
		.fn = packed_inc, .ops = ops, .shared = packed };
	scale_report(&c, scale_run(&c, 1), scale_run(&c, SCALE_THREADS));
	c = (struct scale_case){ .name = "per-worker slot, padded (struct pad_u32): load+store",
		.fn = padded_inc, .ops = ops, .shared = slots };
	scale_report(&c, scale_run(&c, 1), scale_run(&c, SCALE_THREADS));
	c = (struct scale_case){ .name = "one shared counter: atomic add (worker_conns_total)",
		.fn = shared_atomic, .ops = ops, .shared = packed };
	double one = scale_run(&c, 1), two = scale_run(&c, SCALE_THREADS);
	scale_report(&c, one, two);
	c = (struct scale_case){ .name = "a counter per thread, own line: atomic add",
		.fn = own_atomic, .ops = ops, .shared = slots };
	scale_report(&c, scale_run(&c, 1), scale_run(&c, SCALE_THREADS));
	unsigned long sops = ops / 100 ? ops / 100 : 1;
	c = (struct scale_case){ .name = "private work alone (the spacing, ~100 ns)",
		.fn = work_only, .ops = sops };
	scale_report(&c, scale_run(&c, 1), scale_run(&c, SCALE_THREADS));
	c = (struct scale_case){ .name = "spaced: work + write to a packed slot",
		.fn = packed_spaced, .ops = sops, .shared = packed };
	scale_report(&c, scale_run(&c, 1), scale_run(&c, SCALE_THREADS));
	c = (struct scale_case){ .name = "spaced: work + write to a padded slot",
		.fn = padded_spaced, .ops = sops, .shared = slots };
	scale_report(&c, scale_run(&c, 1), scale_run(&c, SCALE_THREADS));
	c = (struct scale_case){ .name = "spaced: work + atomic add to one shared counter",
		.fn = shared_spaced, .ops = sops, .shared = packed };
	scale_report(&c, scale_run(&c, 1), scale_run(&c, SCALE_THREADS));
	free(slots);
	free(packed);

	c = (struct scale_case){ .name = "BLAKE2b of the key alone (outside the lock)",
		.fn = replay_hash, .ops = rops };
	scale_report(&c, scale_run(&c, 1), scale_run(&c, SCALE_THREADS));
	replay_case("replay cache: vreplay_check, in memory", replay_check, rops, NULL);
	char sdir[4096];
	snprintf(sdir, sizeof sdir, "%s/bench_scale.XXXXXX", dir);
	if (mkdtemp(sdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	replay_case("replay cache: vreplay_check, with state_dir (write(2) under the lock)",
	    replay_check, rops / 4, sdir);

	char p0[4200], p1[4200];
	snprintf(p0, sizeof p0, "%s/log0", sdir);
	snprintf(p1, sizeof p1, "%s/log1", sdir);
	c = (struct scale_case){ .name = "access log line: one O_APPEND file for both threads",
		.fn = log_write, .ops = lops };
	c.fds[0] = c.fds[1] = open_log(p0);
	one = scale_run(&c, 1);
	if (ftruncate(c.fds[0], 0) == -1) {
		perror("ftruncate");
		return 1;
	}
	two = scale_run(&c, SCALE_THREADS);
	scale_report(&c, one, two);
	close(c.fds[0]);
	c.name = "access log line: one file per thread";
	c.fds[0] = open_log(p0);
	c.fds[1] = open_log(p1);
	one = scale_run(&c, 1);
	two = scale_run(&c, SCALE_THREADS);
	scale_report(&c, one, two);
	close(c.fds[0]);
	close(c.fds[1]);

	char rp[4200];
	snprintf(rp, sizeof rp, "%s/%s", sdir, VREPLAY_FILE);
	unlink(rp);
	unlink(p0);
	unlink(p1);
	rmdir(sdir);
	return 0;
}
