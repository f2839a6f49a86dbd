/*
 * What an idle passthrough connection costs besides switchyard's own struct (issue 12, RSS
 * per idle connection ≤ 0.5 KiB): libevent's per-descriptor map entries and descriptor
 * array for its two sockets, the size of a libevent struct event, and glibc malloc's chunk
 * for a request size. Measured, not guessed: heap in use (mallinfo2) and VmRSS before and
 * after N connections' worth of sockets are added to an epoll event base configured like a
 * worker's. Never a test; build and run by hand:
 *
 *   cc -O2 -o /tmp/idle_floor tests/bench/idle_floor.c -levent && /tmp/idle_floor 9000 512
 *
 * Arguments: N (connections, two sockets each; default 9000 as bench.py's idle test) and
 * the struct size to allocate per connection with its two events inside (default 512, the
 * _Static_assert bound of struct conn; 0: the events in one array, libevent's share alone).
 */
#include <event2/event.h>
#include <event2/event_struct.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* This process's VmRSS in KiB (0 when unreadable). */
static long
rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = atol(line + 6);
	fclose(f);
	return v;
}

/* Never called: the loop does not run. */
static void
nop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Heap bytes in use, the main arena's and the mmap'd chunks'. */
static size_t
heap_used(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 9000;
	size_t size = argc > 2 ? (size_t)atol(argv[2]) : 512;
	struct rlimit r;
	if (n <= 0 || (size != 0 && size < 2 * sizeof(struct event)) ||
	    getrlimit(RLIMIT_NOFILE, &r) == -1)
		return 2;
	r.rlim_cur = r.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &r) == -1 || r.rlim_max < (rlim_t)(2 * n + 16)) {
		fprintf(stderr, "idle_floor: need %d descriptors\n", 2 * n + 16);
		return 2;
	}
	struct event_config *cfg = event_config_new();
	event_config_require_features(cfg, EV_FEATURE_ET | EV_FEATURE_O1 | EV_FEATURE_EARLY_CLOSE);
	struct event_base *base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	int (*fds)[2] = malloc(sizeof *fds * (size_t)n);
	struct event *arr = size == 0 ? calloc((size_t)n * 2, sizeof *arr) : NULL;
	if (base == NULL || fds == NULL || (size == 0 && arr == NULL))
		return 1;
	printf("backend %s; sizeof(struct event) %zu\n", event_base_get_method(base),
	    sizeof(struct event));
	if (size > 0) {
		void *p = malloc(size);
		printf("malloc(%zu): usable %zu, chunk %zu\n", size, malloc_usable_size(p),
		    malloc_usable_size(p) + sizeof(size_t));
		free(p);
	}
	for (int i = 0; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds[i]) == -1) {
			perror("socketpair");
			return 1;
		}
	}
	size_t h0 = heap_used();
	long r0 = rss_kib();
	for (int i = 0; i < n; i++) {
		struct event *ev = size == 0 ? &arr[2 * i] : calloc(1, size);
		if (ev == NULL)
			return 1;
		for (int k = 0; k < 2; k++) {
			event_assign(&ev[k], base, fds[i][k],
			    EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST, nop_cb, NULL);
			if (event_add(&ev[k], NULL) == -1)
				return 1;
		}
	}
	size_t h1 = heap_used();
	long r1 = rss_kib();
	printf("%d connections (2 sockets each), struct %zu: heap +%.1f B, RSS +%.1f B per "
	    "connection%s\n", n, size, (double)(h1 - h0) / n, (double)(r1 - r0) * 1024 / n,
	    size == 0 ? " (RSS includes the 256 B of events in the array; heap does not)" : "");
	return 0;
}
