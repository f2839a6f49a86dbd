/*
 * The service manager's readiness protocol (sd_notify(3), without libsystemd): a daemon
 * started with $NOTIFY_SOCKET sends newline-separated VAR=value assignments in one datagram
 * each to that AF_UNIX socket: READY=1 once it serves, RELOADING=1 + MONOTONIC_USEC= when a
 * reload starts (then READY=1 again), STOPPING=1 when it drains, STATUS= for
 * `systemctl status`. Without $NOTIFY_SOCKET every call is a no-op. It never blocks the
 * loop (non-blocking socket; a lost status line is better than a stalled daemon) and is
 * used from the main thread only.
 */
#ifndef SY_CORE_SDNOTIFY_H
#define SY_CORE_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define SDNOTIFY_MSG_MAX 512 /* bytes of one message; ours are a few lines */

/*
 * Turns a $NOTIFY_SOCKET value into an address: an absolute path, or "@name" for a name in
 * the abstract namespace (the '@' becomes the leading NUL). Fills *sun and *len; returns
 * false for an empty, relative or too long value (a path must fit sun_path with its NUL,
 * an abstract name sun_path minus the NUL that replaces '@').
 */
bool sdnotify_addr(const char *value, struct sockaddr_un *sun, socklen_t *len);

/*
 * Formats "STATUS=<state>: generation G, N connection(s)" into buf (cap bytes, at least 1);
 * returns the length, or 0 when it does not fit.
 */
size_t sdnotify_fmt_status(char *buf, size_t cap, const char *state, uint64_t generation,
    unsigned connections);

/*
 * Formats the message that opens a reload: "RELOADING=1\nMONOTONIC_USEC=U\n" then the
 * status line. Returns the length, or 0 when it does not fit.
 */
size_t sdnotify_fmt_reloading(char *buf, size_t cap, uint64_t mono_usec, uint64_t generation,
    unsigned connections);

/*
 * Connects to $NOTIFY_SOCKET when it is set, and unsets it so nothing this process starts
 * inherits it. Call before dropping privileges (the socket file may need them). Returns 1
 * when notifications are on, 0 when the variable is absent, -1 with a reason in err.
 */
int sdnotify_init(char *err, size_t cap);

/* True when sdnotify_init connected a socket. */
bool sdnotify_enabled(void);

/* Sends msg as one datagram; true when sent or when notifications are off. */
bool sdnotify_send(const char *msg);

/* Monotonic microseconds (CLOCK_MONOTONIC), the clock MONOTONIC_USEC is read against. */
uint64_t sdnotify_mono_usec(void);

#endif
