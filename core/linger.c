/*
 * Lingering close (see linger.h): the half-close and the bounded discarding reads. No state
 * of its own: the connection keeps the start and last-read times and its timer.
 */
#include "core/linger.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

#define LINGER_SCRATCH 16384 /* one read's bytes; discarded */

/* Half-closes fd (see linger.h). */
int
linger_start(int fd)
{
	return shutdown(fd, SHUT_WR);
}

/* Discards what the client still sends (see linger.h). */
enum linger_rc
linger_drain(int fd, uint64_t *bytes)
{
	static _Thread_local char scratch[LINGER_SCRATCH];
	uint32_t got = 0;

	while (got < LINGER_WAKE_MAX) {
		ssize_t n = recv(fd, scratch, sizeof scratch, 0);
		if (n > 0) {
			got += (uint32_t)n;
			*bytes += (uint64_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return LINGER_WAIT;
		return LINGER_DONE; /* 0: the client closed; any other error ends it too */
	}
	return LINGER_YIELD;
}

/* The end of a linger (see linger.h). */
uint64_t
linger_due(uint64_t start, uint64_t last)
{
	uint64_t total = start + LINGER_TOTAL_MS, quiet = last + LINGER_READ_MS;
	return total < quiet ? total : quiet;
}
