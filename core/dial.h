/*
 * Outbound TCP connects that never block the loop: the router's upstream connections (with
 * failover, router/edge.c), its health checks, and the VPN's outbound flows. A connect is
 * started here and finishes on the socket's first writability, when dial_result says how it
 * went; the caller owns the timer (the timeout) and the choice of the next address to try,
 * in the order dial_order gives (shared by the VPN's flows, terminator/vpn/vflow.c, and
 * switchyard-client's connect to its server, client/race.c). No event loop, no logging, no
 * allocation.
 */
#ifndef SY_CORE_DIAL_H
#define SY_CORE_DIAL_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * Results of dial_start.
 *
 *   DIAL_PENDING    *fd is a non-blocking socket whose connect is in progress (or done):
 *                   wait until it is writable, then ask dial_result
 *   DIAL_REFUSED    the connect failed at once (errno says why: ECONNREFUSED on loopback,
 *                   ENETUNREACH...): this address cannot be used now, another may
 *   DIAL_NO_SOCKET  no socket could be made (errno: EMFILE, ENOBUFS...): no address can
 */
enum dial_rc { DIAL_PENDING, DIAL_REFUSED, DIAL_NO_SOCKET };

/* Starts a connect to sa (len bytes) from a non-blocking, close-on-exec TCP socket with
 * TCP_NODELAY (relayed small records must not wait for Nagle). *fd is -1 unless PENDING. */
enum dial_rc dial_start(const struct sockaddr *sa, socklen_t len, int *fd);

/* dial_start with TCP_FASTOPEN_CONNECT when fast_open (tcp(7)): connect() then sends
 * nothing and returns at once; the first write carries the SYN, with the data in it when the
 * kernel holds a Fast Open cookie for the server, and a plain SYN otherwise (the write then
 * fails with EINPROGRESS and the data goes after the handshake: wait for writability as for
 * any pending connect). A kernel without the option makes this a plain dial_start. */
enum dial_rc dial_start_opt(const struct sockaddr *sa, socklen_t len, bool fast_open, int *fd);

/* How a pending connect ended, once fd is writable: 0 connected, else the errno. */
int dial_result(int fd);

/* Pure: puts n resolved addresses in race order (RFC 8305 §4), in place: the first
 * address's family first, then the families alternate, each family in the resolver's
 * order; when one family runs out the rest keep their order. Any n. */
void dial_order(struct sockaddr_storage *a, unsigned n);

#endif
