/*
 * One outbound TCP flow of the VPN engine, shared by the `/ws` path (one flow per session)
 * and the `/mux` path (many per session, terminator/vpn/vmux.c): the target string is
 * taken apart (an IP literal, bracketed IPv6 too, or a name resolved with the worker's
 * evdns base, never a blocking call on the loop), every address is checked against the
 * egress policy right before it is connected (a denied one is never connected), the
 * addresses race (RFC 8305 in spirit: families alternate, the next attempt starts
 * VFLOW_RACE_DELAY_MS after the last one or at once when one fails, at most
 * VFLOW_RACE_MAX in flight, the first to connect wins and the others are closed, all
 * within VFLOW_CONNECT_MS), and then the socket is read and written by the owner. The flow
 * never buffers payload: the owner keeps its own bounded queues and asks for readiness;
 * every readiness, the flow's own timer and the resolver's answer only "kick" the owner,
 * whose driver then calls vflow_poll.
 */
#ifndef SY_TERMINATOR_VPN_VFLOW_H
#define SY_TERMINATOR_VPN_VFLOW_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>

#include "core/conf-t.h"

#define VFLOW_ADDRS_MAX     8      /* resolved addresses tried per target */
#define VFLOW_CONNECT_MS    5000u  /* the whole race (§7.3: all in parallel, 5 s each) */
#define VFLOW_RACE_MAX      4      /* connects in flight at once per flow */
#define VFLOW_RACE_DELAY_MS 250u   /* RFC 8305 §5: the next attempt if none answered yet */
#define VFLOW_HOST_MAX    255    /* a name (253) or a bracketed IPv6 literal */

/* Where a flow is. FAILED and DENIED are final; the owner reports them and frees. */
enum vflow_state { VF_IDLE, VF_RESOLVE, VF_CONNECT, VF_OPEN, VF_FAILED, VF_DENIED };

/* Return values of vflow_send / vflow_recv besides byte counts. */
#define VFLOW_AGAIN  (-1)
#define VFLOW_ERROR  (-2)

struct evdns_getaddrinfo_request;
struct vdns_res;
struct vflow_q;
struct vflow_race;
struct event_base;

struct vflow {
	struct event_base      *base;
	const struct conf_vpn  *cv;
	void                  (*kick)(void *arg); /* readiness or an answer: run the owner */
	void                   *arg;
	enum vflow_state        state;
	const char             *why;       /* FAILED/DENIED: a stable lowercase reason */
	char                    host[VFLOW_HOST_MAX + 1];
	uint16_t                port;
	uint64_t                deadline;  /* RESOLVE, CONNECT: monotonic ms */
	struct evdns_getaddrinfo_request *dreq;
	struct vflow_q         *q;         /* the lookup's ticket (see vflow.c) */
	struct vflow_race      *race;      /* RESOLVE, CONNECT only: addresses, attempts, timer */
	int                     fd;        /* OPEN: the winner */
	struct event            rev, wev;
	bool                    r_on, w_on;
};

/* Monotonic milliseconds (coarse), the clock of every VPN deadline. */
uint64_t vflow_ms(void);

/* Prepares f (no socket yet); kick(arg) is called on every event of the flow. */
void vflow_init(struct vflow *f, struct event_base *base, const struct conf_vpn *cv,
    void (*kick)(void *arg), void *arg);

/*
 * Starts the flow to host (hl bytes, [v6] accepted) and port: an IP literal is checked and
 * connected at once; a name is resolved with the worker's resolver, taken into *dns on
 * first use (vdns_res_take, terminator/vpn/vdns.h: one evdns base per worker, so /ws,
 * /mux and /dns names see vpn.dns.servers and /etc/hosts alike; the owner drops it).
 * Afterwards the state is RESOLVE, CONNECT, or already FAILED/DENIED.
 */
void vflow_start(struct vflow *f, struct vdns_res **dns, const char *host, size_t hl,
    uint16_t port);

/* Advances a pending flow: finished connects, the next attempt, deadlines. Cheap when
 * OPEN. */
void vflow_poll(struct vflow *f, uint64_t now);

/* Writes to the target: bytes written, VFLOW_AGAIN (writability is then watched and
 * kicks), or VFLOW_ERROR. */
ssize_t vflow_send(struct vflow *f, const uint8_t *p, size_t len);

/* Reads from the target: bytes read, 0 at EOF, VFLOW_AGAIN or VFLOW_ERROR. */
ssize_t vflow_recv(struct vflow *f, uint8_t *buf, size_t cap);

/* vflow_recv into several buffers in one call (readv(2)), filled in order. */
ssize_t vflow_recvv(struct vflow *f, const struct iovec *iov, int n);

/* Whether an OPEN flow's target has bytes (or its end) waiting to be read, asked without
 * reading. */
bool vflow_readable(struct vflow *f);

/* Whether readability of an OPEN flow should kick the owner (its backpressure switch). */
void vflow_want_read(struct vflow *f, bool on);

/* Closes the socket and cancels a lookup; f can be started again or dropped. */
void vflow_close(struct vflow *f);

#endif
