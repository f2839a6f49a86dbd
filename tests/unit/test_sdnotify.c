/*
 * Unit test of core/sdnotify: the NOTIFY_SOCKET address forms (absolute path, @abstract,
 * refused relative and empty values, the longest path and name that fit and one byte more),
 * the STATUS= and RELOADING= messages byte for byte and when they do not fit, and one
 * message sent through a real datagram socketpair-bound address.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/sdnotify.h"

/* A string of n copies of c after prefix (static buffer). */
static const char *
longname(char prefix, size_t n)
{
	static char b[256];
	b[0] = prefix;
	memset(b + 1, 'x', n - 1);
	b[n] = '\0';
	return b;
}

int
main(void)
{
	struct sockaddr_un sun;
	socklen_t len;
	char buf[SDNOTIFY_MSG_MAX];
	const size_t off = offsetof(struct sockaddr_un, sun_path);
	const size_t cap = sizeof sun.sun_path;

	/* Paths: absolute, with the NUL in the length. */
	CHECK(sdnotify_addr("/run/systemd/notify", &sun, &len));
	CHECK(len == off + strlen("/run/systemd/notify") + 1);
	CHECK(strcmp(sun.sun_path, "/run/systemd/notify") == 0 && sun.sun_family == AF_UNIX);
	/* Abstract: '@' becomes NUL, no terminator counted. */
	CHECK(sdnotify_addr("@sy/notify", &sun, &len));
	CHECK(len == off + strlen("@sy/notify") && sun.sun_path[0] == '\0');
	CHECK(memcmp(sun.sun_path + 1, "sy/notify", 9) == 0);
	/* Refused: NULL, empty, a lone '@' or '/', relative. */
	CHECK(!sdnotify_addr(NULL, &sun, &len));
	CHECK(!sdnotify_addr("", &sun, &len));
	CHECK(!sdnotify_addr("@", &sun, &len));
	CHECK(!sdnotify_addr("/", &sun, &len));
	CHECK(!sdnotify_addr("run/notify", &sun, &len));
	/* Limits: a path of cap-1 bytes fits (NUL last), cap does not; an abstract value of
	 * cap bytes ('@' + cap-1) fits, cap+1 does not. */
	CHECK(sdnotify_addr(longname('/', cap - 1), &sun, &len) && len == off + cap);
	CHECK(!sdnotify_addr(longname('/', cap), &sun, &len));
	CHECK(sdnotify_addr(longname('@', cap), &sun, &len) && len == off + cap);
	CHECK(!sdnotify_addr(longname('@', cap + 1), &sun, &len));

	/* Messages. */
	CHECK(sdnotify_fmt_status(buf, sizeof buf, "serving", 1, 0) > 0);
	CHECK(strcmp(buf, "STATUS=serving: generation 1, 0 connections") == 0);
	CHECK(sdnotify_fmt_status(buf, sizeof buf, "draining", 12, 1) > 0);
	CHECK(strcmp(buf, "STATUS=draining: generation 12, 1 connection") == 0);
	size_t n = sdnotify_fmt_reloading(buf, sizeof buf, 1234567890123ULL, 3, 42);
	const char *want = "RELOADING=1\nMONOTONIC_USEC=1234567890123\n"
	    "STATUS=reloading: generation 3, 42 connections";
	CHECKF(n == strlen(want) && strcmp(buf, want) == 0, "got '%s'", buf);
	/* Exactly fitting (length + NUL) and one byte short. */
	CHECK(sdnotify_fmt_reloading(buf, strlen(want) + 1, 1234567890123ULL, 3, 42) == strlen(want));
	CHECK(sdnotify_fmt_reloading(buf, strlen(want), 1234567890123ULL, 3, 42) == 0);
	CHECK(sdnotify_fmt_status(buf, 10, "serving", 1, 0) == 0);

	/* Off without NOTIFY_SOCKET: sending is a successful no-op. */
	unsetenv("NOTIFY_SOCKET");
	char err[256];
	CHECK(sdnotify_init(err, sizeof err) == 0 && !sdnotify_enabled());
	CHECK(sdnotify_send("READY=1"));
	/* A relative value is refused and unset. */
	setenv("NOTIFY_SOCKET", "notify.sock", 1);
	CHECK(sdnotify_init(err, sizeof err) == -1 && getenv("NOTIFY_SOCKET") == NULL);
	/* A real abstract socket: the datagram arrives whole, and the variable is gone. */
	int rfd = socket(AF_UNIX, SOCK_DGRAM, 0);
	char name[64];
	snprintf(name, sizeof name, "@sy-test-sdnotify-%ld", (long)getpid());
	CHECK(rfd != -1 && sdnotify_addr(name, &sun, &len));
	CHECK(bind(rfd, (struct sockaddr *)&sun, len) == 0);
	setenv("NOTIFY_SOCKET", name, 1);
	CHECK(sdnotify_init(err, sizeof err) == 1 && sdnotify_enabled());
	CHECK(getenv("NOTIFY_SOCKET") == NULL);
	CHECK(sdnotify_send("READY=1\nSTATUS=x"));
	ssize_t r = recv(rfd, buf, sizeof buf - 1, MSG_DONTWAIT);
	CHECK(r == (ssize_t)strlen("READY=1\nSTATUS=x"));
	if (r > 0) {
		buf[r] = '\0';
		CHECK(strcmp(buf, "READY=1\nSTATUS=x") == 0);
	}
	close(rfd);
	return check_summary();
}
