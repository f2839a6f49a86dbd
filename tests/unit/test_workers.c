/*
 * Unit tests for what several workers share (issue 12 item 4): the per-worker slots of a
 * generation for two workers (connections on the generation, the round-robin cursor of an
 * upstream, the upstream servers every worker counts into) each start on their own 64-byte
 * cache line, and so does a worker (struct worker is aligned to one), so one worker's writes
 * never take a line its neighbour reads (false sharing); and the per-worker metric families
 * of /metrics: switchyard_worker_accepted_connections_total and
 * switchyard_worker_active_connections, one line per worker, summed over every listener
 * from that worker's copy only, the main thread's copy left out; and every worker's copy of
 * a stats entry starts on a cache line of its own.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/conf.h"
#include "core/stats.h"
#include "router/conn.h"
#include "router/gen.h"
#include "router/ipcap.h"
#include "router/worker.h"
#include "terminator/terminator.h"

#define LINE 64 /* the cache line the layout must respect (x86-64) */
#define NW   2  /* workers */

/* A port on 127.0.0.1 that was free a moment ago. */
static unsigned
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&a, sizeof a) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) == -1) {
		perror("free_port");
		exit(1);
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* Byte distance between two addresses. */
static size_t
dist(const void *a, const void *b)
{
	return (size_t)((const char *)b - (const char *)a);
}

/* The per-worker slots of a generation for NW workers each own a cache line. */
static void
test_gen_layout(void)
{
	char yaml[1024], err[256];
	int n = snprintf(yaml, sizeof yaml,
	    "log: {level: error, access: off}\n"
	    "listeners:\n"
	    "  - name: edge\n"
	    "    listen: [\"127.0.0.1:%u\"]\n"
	    "    kind: tls\n"
	    "    routes:\n"
	    "      - default: {upstream: app}\n"
	    "upstreams:\n"
	    "  app: {servers: [\"127.0.0.1:9\", \"127.0.0.2:9\", \"127.0.0.3:9\"]}\n", free_port());
	struct conf_error cerr;
	struct conf *c = conf_load_mem("t.yaml", (const uint8_t *)yaml, (size_t)n, 0, &cerr);
	CHECKF(c != NULL, "%s", cerr.msg);
	if (c == NULL)
		return;
	struct gen *g = gen_build(c, NULL, NW, 1, err, sizeof err);
	CHECKF(g != NULL, "%s", err);
	if (g == NULL)
		return;
	CHECKF((uintptr_t)&g->wconns[0] % LINE == 0, "wconns at %p", (void *)&g->wconns[0]);
	CHECKF(dist(&g->wconns[0], &g->wconns[1]) >= LINE, "wconns stride %zu",
	    dist(&g->wconns[0], &g->wconns[1]));
	CHECK(g->nupstreams == 1);
	struct upstream_rt *u = &g->upstreams[0];
	CHECKF((uintptr_t)&u->rr[0] % LINE == 0, "rr at %p", (void *)&u->rr[0]);
	CHECKF(dist(&u->rr[0], &u->rr[1]) >= LINE, "rr stride %zu", dist(&u->rr[0], &u->rr[1]));
	CHECK(u->nservers == 3);
	for (size_t i = 0; i < u->nservers; i++)
		CHECKF((uintptr_t)&u->servers[i] % LINE == 0, "server %zu at %p", i,
		    (void *)&u->servers[i]);
	gen_unref(g);
}

/* A worker starts on a cache line and spans whole lines, so array neighbours share none. */
static void
test_worker_layout(void)
{
	CHECKF(_Alignof(struct worker) >= LINE, "struct worker aligned to %zu",
	    (size_t)_Alignof(struct worker));
	CHECKF(sizeof(struct worker) % LINE == 0, "sizeof struct worker %zu",
	    sizeof(struct worker));
}

/* The value of the line "name{worker="w"} V" in text, or -1 when there is none. */
static long long
metric(const char *text, const char *name, unsigned w)
{
	char key[160];
	snprintf(key, sizeof key, "\n%s{worker=\"%u\"} ", name, w);
	const char *p = strstr(text, key);
	return p == NULL ? -1 : atoll(p + strlen(key));
}

/* Per-worker families: each worker's own copy, every listener, never the main thread's. */
static void
test_worker_metrics(void)
{
	struct stats_entry *a = stats_entry(STATS_LISTENER, "listener=\"a\"");
	struct stats_entry *b = stats_entry(STATS_LISTENER, "listener=\"b\"");
	stats_add(a, 0, SL_ACCEPTED, 3);
	stats_add(a, 1, SL_ACCEPTED, 5);
	stats_add(b, 1, SL_ACCEPTED, 2);
	stats_add(a, stats_main, SL_ACCEPTED, 100); /* the main thread accepts nothing: not a worker */
	stats_add(a, 0, SL_ACTIVE, 1);
	stats_add(b, 1, SL_ACTIVE, 4);
	stats_add(b, 1, SL_ACTIVE, -1);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	stats_render(f);
	fclose(f);
	const char *acc = "switchyard_worker_accepted_connections_total";
	const char *act = "switchyard_worker_active_connections";
	CHECKF(metric(text, acc, 0) == 3, "worker 0 accepted %lld", metric(text, acc, 0));
	CHECKF(metric(text, acc, 1) == 7, "worker 1 accepted %lld", metric(text, acc, 1));
	CHECKF(metric(text, acc, NW) == -1, "a line for worker %u (the main thread)", NW);
	CHECKF(metric(text, act, 0) == 1, "worker 0 active %lld", metric(text, act, 0));
	CHECKF(metric(text, act, 1) == 3, "worker 1 active %lld", metric(text, act, 1));
	CHECKF(metric(text, act, NW) == -1, "a line for worker %u (the main thread)", NW);
	CHECK(strstr(text, "# TYPE switchyard_worker_accepted_connections_total counter\n") != NULL);
	CHECK(strstr(text, "# TYPE switchyard_worker_active_connections gauge\n") != NULL);
	/* The listener families still sum every copy, the main thread's included. */
	CHECK(strstr(text, "switchyard_accepted_connections_total{listener=\"a\"} 108\n") != NULL);
	free(text);
	/* Every worker's copy of an entry starts on its own cache line. */
	for (unsigned w = 0; w <= NW; w++)
		CHECKF((uintptr_t)stats_w(a, w) % LINE == 0, "copy %u at %p", w, (void *)stats_w(a, w));
}

int
main(void)
{
	char err[256];
	if (sodium_init() == -1 || term_init_process(err, sizeof err) == -1 || stats_init(NW) == -1) {
		fprintf(stderr, "set-up failed\n");
		return 1;
	}
	ipcap_init();
	conn_init_process();
	test_gen_layout();
	test_worker_layout();
	test_worker_metrics();
	return check_summary();
}
