/*
 * Non-blocking TCP connects (see dial.h): the system calls and their error checks, once.
 */
#include "core/dial.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

/* socket(2), TCP_NODELAY, connect(2); EINPROGRESS is the normal non-blocking answer. */
enum dial_rc
dial_start(const struct sockaddr *sa, socklen_t len, int *fd)
{
	return dial_start_opt(sa, len, false, fd);
}

/* dial_start, plus TCP_FASTOPEN_CONNECT before the connect when asked. */
enum dial_rc
dial_start_opt(const struct sockaddr *sa, socklen_t len, bool fast_open, int *fd)
{
	*fd = -1;
	int s = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s == -1)
		return DIAL_NO_SOCKET;
	int one = 1;
	/* Best effort: a socket without it still works, only slower for small records. */
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* Best effort too: without it (ENOPROTOOPT before Linux 4.11) the connect is a plain one. */
	if (fast_open)
		(void)setsockopt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one);
	if (connect(s, sa, len) == -1 && errno != EINPROGRESS) {
		int e = errno;
		close(s);
		errno = e;
		return DIAL_REFUSED;
	}
	*fd = s;
	return DIAL_PENDING;
}

/* SO_ERROR holds the connect's outcome (connect(2), EINPROGRESS). */
int
dial_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

/* Stable in place: each step moves the next address of the wanted family forward. */
void
dial_order(struct sockaddr_storage *a, unsigned n)
{
	if (n == 0)
		return;
	sa_family_t want = a[0].ss_family;
	for (unsigned k = 0; k < n; k++) {
		unsigned i = k;
		while (i < n && a[i].ss_family != want)
			i++;
		if (i == n)
			return; /* the wanted family ran out: the rest stay in order */
		if (i > k) {
			struct sockaddr_storage t = a[i];
			memmove(&a[k + 1], &a[k], (size_t)(i - k) * sizeof *a);
			a[k] = t;
		}
		want = want == AF_INET ? AF_INET6 : AF_INET;
	}
}
