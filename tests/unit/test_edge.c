/*
 * Unit tests for the connection core (router/edge.c) through the harness seam
 * (router/solo.h): a worker and a generation from a YAML string on this thread, a socketpair
 * handed to a `kind: http` listener, one request forwarded to an upstream that is a socket
 * of this test (exactly one request arrives, with the forwarding fields of the peer given at
 * hand-over), its response relayed back; the connection counts at accept and close; and the
 * deferred free (STYLE rule 11): a connection closed from inside the loop's callback stack
 * stays readable, marked closed, on the worker's dead list until the loop's next turn frees
 * it (ASan turns a read after an immediate free into a failure). Also core/dial's answers
 * for a refused and a pending connect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/bufpool.h"
#include "core/dial.h"
#include "router/edge.h"
#include "router/solo.h"

#define ROUNDS_MAX 200 /* loop rounds a step may take; each waits at most 10 ms */

/* A listening TCP socket on 127.0.0.1 with a free port (written to *port). */
static int
listen_any(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&a, sizeof a) == -1 || listen(fd, 8) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) == -1) {
		perror("listen_any");
		exit(1);
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* Runs the worker's loop until fd is readable (or ROUNDS_MAX rounds); true when it is. */
static bool
run_until_readable(struct solo *s, int fd)
{
	for (int i = 0; i < ROUNDS_MAX; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 0) == 1)
			return true;
		struct timeval tv = { 0, 10000 };
		event_base_loopexit(s->w.base, &tv);
		solo_run(s, true);
	}
	return false;
}

/* Reads what fd has now into buf (NUL-terminated); the byte count. */
static size_t
read_now(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t k = recv(fd, buf + n, cap - 1 - n, MSG_DONTWAIT);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	return n;
}

/* Counts occurrences of needle in hay. */
static unsigned
count_of(const char *hay, const char *needle)
{
	unsigned n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* core/dial: a refused connect and a pending one that connects. */
static void
test_dial(void)
{
	uint16_t port;
	int l = listen_any(&port);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons(port) };
	int fd = -1;
	CHECK(dial_start((struct sockaddr *)&a, sizeof a, &fd) == DIAL_PENDING);
	CHECK(fd != -1);
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	CHECK(poll(&p, 1, 1000) == 1);
	CHECK(dial_result(fd) == 0);
	close(fd);
	close(l); /* nothing listens on port any more: refused (at once or on the edge) */
	enum dial_rc rc = dial_start((struct sockaddr *)&a, sizeof a, &fd);
	if (rc == DIAL_PENDING) {
		p.fd = fd;
		CHECK(poll(&p, 1, 1000) == 1);
		CHECK(dial_result(fd) == ECONNREFUSED);
		close(fd);
	} else {
		CHECK(rc == DIAL_REFUSED);
		CHECK(errno == ECONNREFUSED);
		CHECK(fd == -1);
	}
}

/* One request through kind: http over a socketpair, then the deferred free. */
static void
test_http_socketpair(void)
{
	uint16_t lport, uport;
	int tmp = listen_any(&lport); /* a free port for the listener, given back at once */
	close(tmp);
	int up = listen_any(&uport);
	char yaml[1024], err[256];
	int n = snprintf(yaml, sizeof yaml,
	    "log: {level: error, access: off}\n"
	    "listeners:\n"
	    "  - name: web\n"
	    "    listen: [\"127.0.0.1:%u\"]\n"
	    "    kind: http\n"
	    "    routes:\n"
	    "      - default: {upstream: app}\n"
	    "upstreams:\n"
	    "  app: {servers: [\"127.0.0.1:%u\"]}\n", lport, uport);
	struct solo s;
	if (solo_start(&s, yaml, (size_t)n, err, sizeof err) == -1) {
		CHECKF(false, "solo_start: %s", err);
		close(up);
		return;
	}
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	struct sockaddr_storage peer;
	memset(&peer, 0, sizeof peer);
	struct sockaddr_in *p4 = (struct sockaddr_in *)&peer;
	p4->sin_family = AF_INET;
	p4->sin_port = htons(40000);
	inet_pton(AF_INET, "192.0.2.7", &p4->sin_addr);
	uint32_t total0 = worker_conns_total;
	CHECK(solo_accept(&s, "web", sv[0], &peer));
	CHECK(s.w.nconns == 1);
	CHECK(worker_conns_total == total0 + 1);
	CHECK(!solo_accept(&s, "nosuch", dup(sv[1]), &peer)); /* closes the dup */

	static const char req[] = "GET /a HTTP/1.1\r\nHost: x.example\r\n\r\n";
	CHECK(send(sv[1], req, sizeof req - 1, 0) == (ssize_t)(sizeof req - 1));
	CHECK(run_until_readable(&s, up));
	int u = accept4(up, NULL, NULL, SOCK_CLOEXEC);
	CHECK(u != -1);
	char buf[4096] = "";
	CHECK(run_until_readable(&s, u));
	read_now(u, buf, sizeof buf);
	CHECKF(count_of(buf, "GET /a HTTP/1.1\r\n") == 1, "upstream got: %s", buf);
	CHECKF(strstr(buf, "X-Forwarded-For: 192.0.2.7\r\n") != NULL, "upstream got: %s", buf);

	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	CHECK(send(u, resp, sizeof resp - 1, 0) == (ssize_t)(sizeof resp - 1));
	CHECK(run_until_readable(&s, sv[1]));
	read_now(sv[1], buf, sizeof buf);
	CHECKF(strcmp(buf, resp) == 0, "client got: %s", buf);

	/* A close from inside the loop (the client's FIN): the struct outlives the callback. */
	struct edge *e = TAILQ_FIRST(&s.w.edges);
	CHECK(e != NULL && !e->closed);
	close(sv[1]);
	for (int i = 0; i < ROUNDS_MAX && s.w.nconns > 0; i++) {
		struct timeval tv = { 0, 10000 };
		event_base_loopexit(s.w.base, &tv);
		solo_run(&s, true);
	}
	CHECK(s.w.nconns == 0);
	CHECK(worker_conns_total == total0);
	CHECK(TAILQ_EMPTY(&s.w.dead)); /* the loop's deferred free ran */

	/* A close by a caller that then reads the connection: still there, marked, queued. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(solo_accept(&s, "web", sv[0], &peer));
	e = TAILQ_FIRST(&s.w.edges);
	CHECK(e != NULL);
	if (e != NULL) {
		e->kind->close(e, EDGE_END_SHUTDOWN);
		CHECK(e->closed);                   /* a read after close: no use-after-free */
		CHECK(e->end == EDGE_END_SHUTDOWN);
		CHECK(e->cfd == -1);
		CHECK(TAILQ_FIRST(&s.w.dead) == e);
		e->kind->close(e, EDGE_END_DONE);         /* a second close changes nothing */
		CHECK(e->end == EDGE_END_SHUTDOWN);
		CHECK(s.w.nconns == 0);
		CHECK(worker_conns_total == total0);
		solo_run(&s, false);                /* the deferred event frees it */
		CHECK(TAILQ_EMPTY(&s.w.dead));
	}
	close(sv[1]);
	close(u);
	close(up);
	solo_stop(&s);
}

int
main(void)
{
	char err[256];
	if (solo_init_process(err, sizeof err) == -1) {
		fprintf(stderr, "solo_init_process: %s\n", err);
		return 1;
	}
	test_dial();
	test_http_socketpair();
	bufpool_drain();
	return check_summary();
}
