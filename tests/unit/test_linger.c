/*
 * Unit test of core/linger over a non-blocking socketpair: the half-close is seen by the
 * peer, a wake-up discards at most LINGER_WAKE_MAX bytes (N and N+1), an empty socket
 * waits, EOF and a reset end it, and the deadline is the earlier of the total time and the
 * quiet time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/linger.h"

/* Writes n bytes into fd (blocking in pieces until all are in). */
static void
fill(int fd, size_t n)
{
	static char junk[4096];
	while (n > 0) {
		ssize_t k = send(fd, junk, n < sizeof junk ? n : sizeof junk, MSG_NOSIGNAL);
		if (k <= 0) {
			CHECK(0);
			return;
		}
		n -= (size_t)k;
	}
}

int
main(void)
{
	int sv[2];
	uint64_t bytes = 0;
	char c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1) {
		CHECK(0);
		return check_summary();
	}
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);

	/* Nothing sent: wait. */
	CHECK(linger_drain(sv[0], &bytes) == LINGER_WAIT && bytes == 0);
	/* N bytes: one wake-up takes them all and yields (it cannot know nothing follows). */
	fill(sv[1], LINGER_WAKE_MAX);
	CHECK(linger_drain(sv[0], &bytes) == LINGER_YIELD && bytes == LINGER_WAKE_MAX);
	CHECK(linger_drain(sv[0], &bytes) == LINGER_WAIT && bytes == LINGER_WAKE_MAX);
	/* N + 1: the first wake-up stops at N, the next takes the last byte. */
	bytes = 0;
	fill(sv[1], LINGER_WAKE_MAX + 1);
	CHECK(linger_drain(sv[0], &bytes) == LINGER_YIELD && bytes == LINGER_WAKE_MAX);
	CHECK(linger_drain(sv[0], &bytes) == LINGER_WAIT && bytes == LINGER_WAKE_MAX + 1);
	/* The half-close: the peer reads EOF, and can still send. */
	CHECK(linger_start(sv[0]) == 0);
	CHECK(read(sv[1], &c, 1) == 0);
	fill(sv[1], 10);
	bytes = 0;
	CHECK(linger_drain(sv[0], &bytes) == LINGER_WAIT && bytes == 10);
	/* The peer closes: done, with what came before the EOF counted. */
	fill(sv[1], 3);
	close(sv[1]);
	CHECK(linger_drain(sv[0], &bytes) == LINGER_DONE && bytes == 13);
	close(sv[0]);
	/* A socket that is not connected cannot linger. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s != -1 && linger_start(s) == -1 && errno == ENOTCONN);
	close(s);

	/* The deadline: the quiet time from the last byte, never past the total. */
	CHECK(linger_due(1000, 1000) == 1000 + LINGER_READ_MS);
	CHECK(linger_due(1000, 3000) == 3000 + LINGER_READ_MS);
	CHECK(linger_due(1000, 1000 + LINGER_TOTAL_MS - LINGER_READ_MS) == 1000 + LINGER_TOTAL_MS);
	CHECK(linger_due(1000, 1000 + LINGER_TOTAL_MS - LINGER_READ_MS + 1) == 1000 + LINGER_TOTAL_MS);
	CHECK(linger_due(1000, 1000 + LINGER_TOTAL_MS + 50) == 1000 + LINGER_TOTAL_MS);
	return check_summary();
}
