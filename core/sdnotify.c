/*
 * sd_notify(3)'s wire side, written from the systemd documentation (sd_notify(3),
 * systemd.service(5) Type=notify): one datagram per message to $NOTIFY_SOCKET. The
 * formatting is kept apart from the socket so a unit test checks it byte for byte. It must
 * never block the event loop nor fail the daemon: a notification that cannot be sent is
 * dropped (the caller may log it).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/sdnotify.h"

static int sdnotify_fd = -1; /* connected datagram socket, or -1: notifications off */

/* Parses a $NOTIFY_SOCKET value into an AF_UNIX address; see sdnotify.h. */
bool
sdnotify_addr(const char *value, struct sockaddr_un *sun, socklen_t *len)
{
	size_t n = value != NULL ? strlen(value) : 0;
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (n < 2 || (value[0] != '/' && value[0] != '@'))
		return false;
	if (value[0] == '@') {
		/* Abstract: no terminating NUL; the length says where the name ends. */
		if (n > sizeof sun->sun_path)
			return false;
		memcpy(sun->sun_path + 1, value + 1, n - 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
		return true;
	}
	if (n >= sizeof sun->sun_path)
		return false;
	memcpy(sun->sun_path, value, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return true;
}

/* Formats the STATUS= line; see sdnotify.h. */
size_t
sdnotify_fmt_status(char *buf, size_t cap, const char *state, uint64_t generation,
    unsigned connections)
{
	int w = snprintf(buf, cap, "STATUS=%s: generation %" PRIu64 ", %u connection%s", state,
	    generation, connections, connections == 1 ? "" : "s");
	return w > 0 && (size_t)w < cap ? (size_t)w : 0;
}

/* Formats the reload-start message; see sdnotify.h. */
size_t
sdnotify_fmt_reloading(char *buf, size_t cap, uint64_t mono_usec, uint64_t generation,
    unsigned connections)
{
	int w = snprintf(buf, cap, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\n", mono_usec);
	if (w <= 0 || (size_t)w >= cap)
		return 0;
	size_t s = sdnotify_fmt_status(buf + w, cap - (size_t)w, "reloading", generation,
	    connections);
	return s == 0 ? 0 : (size_t)w + s;
}

/* Connects to $NOTIFY_SOCKET; see sdnotify.h. */
int
sdnotify_init(char *err, size_t cap)
{
	struct sockaddr_un sun;
	socklen_t len;
	const char *v = getenv("NOTIFY_SOCKET");
	if (v == NULL)
		return 0;
	if (!sdnotify_addr(v, &sun, &len)) {
		snprintf(err, cap, "NOTIFY_SOCKET=%.200s: not an absolute path or @name that fits "
		    "a socket address", v);
		goto fail;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		snprintf(err, cap, "NOTIFY_SOCKET: socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, (const struct sockaddr *)&sun, len) == -1) {
		snprintf(err, cap, "NOTIFY_SOCKET=%.200s: connect: %s", v, strerror(errno));
		close(fd);
		goto fail;
	}
	sdnotify_fd = fd;
	unsetenv("NOTIFY_SOCKET");
	return 1;
fail:
	unsetenv("NOTIFY_SOCKET");
	return -1;
}

/* True when notifications are on. */
bool
sdnotify_enabled(void)
{
	return sdnotify_fd != -1;
}

/* Sends one message; see sdnotify.h. */
bool
sdnotify_send(const char *msg)
{
	if (sdnotify_fd == -1)
		return true;
	size_t n = strlen(msg);
	ssize_t w;
	do
		w = send(sdnotify_fd, msg, n, MSG_NOSIGNAL);
	while (w == -1 && errno == EINTR);
	return w == (ssize_t)n;
}

/* CLOCK_MONOTONIC in microseconds. */
uint64_t
sdnotify_mono_usec(void)
{
	struct timespec ts;
	/* Cannot fail for CLOCK_MONOTONIC with a valid pointer (clock_gettime(2)). */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
