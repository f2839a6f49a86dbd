/*
 * The `/tun` full tunnel (rvpn-protocol.md §7.5, DESIGN.md §3 `vpn.tun`): one kernel TUN
 * device for the whole process (core/tun.c), an address pool (vlease.c) and, per /tun
 * session, a port: the session's lease, its route in the device's address table and a
 * bounded queue of packets read from the device for it.
 *
 * Device -> client: every worker that holds a /tun session watches the device descriptor
 * in its own libevent loop and reads at most VTUN_BATCH packets per wake-up. A packet goes
 * to the port registered for its destination address (whatever worker it lives on: the
 * queue and the table are under one mutex, and the port's own event wakes its session on
 * its own thread), or is dropped when no session holds that address or the port's queue
 * is full (VTUN_QUEUE_PKTS / VTUN_QUEUE_BYTES: the queue never grows past them, drops are
 * counted). The session drains its queue only while its output queue has room
 * (vsess_slot), one packet per message (§7.5 item 4: the 1.3.1 desktop client reads only
 * the first frame of a message).
 *
 * Client -> device: flow-1 frames (any flow id the client did not create, as the reference
 * does) are IP packets. Hardening (§12 #6, #9): a malformed packet, a source address that
 * is not the session's lease, a packet for another client's lease (unless
 * tun.client_to_client, and then it goes straight to that client's queue, never to the
 * kernel), another address of the tunnel subnet, or a destination vpn.egress denies
 * (except the gateway, the device's own address) is dropped and counted.
 *
 * Never: run `ip`, block (the device is non-blocking; a full device drops the packet),
 * or hold the mutex across anything but table and queue updates and the lease file.
 */
#ifndef SY_TERMINATOR_VPN_VTUN_H
#define SY_TERMINATOR_VPN_VTUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf-t.h"

#define VTUN_BATCH        64u           /* packets read from the device per wake-up */
#define VTUN_QUEUE_PKTS   256u          /* packets queued for one session */
#define VTUN_QUEUE_BYTES  (512u * 1024) /* bytes queued for one session */
#define VTUN_FLOW         1u            /* §7.5: the flow id of packets */
#define VTUN_IP_MIN       20u           /* an IPv4 header */
#define VTUN_CLOSE_FULL   1013u         /* RFC 6455 close code "Try Again Later": no lease */

struct event_base;
struct stats_entry;
struct vsess;
struct vtun_port;

/* Opens the device and loads the leases (state_dir) once per process, at the first build
 * with tun.enabled; later builds only warn when the tun settings differ (they change at
 * restart). With check_only (`-t`) nothing is created: only tun_probe. stats counts what
 * happens outside any session. 0, or -1 with err. */
int vtun_open_process(const struct conf_vpn *cv, struct stats_entry *stats, bool check_only,
    char *err, size_t cap);

/* True when the device is open (the /tun path can be served). */
bool vtun_ready(void);

/* Closes the device (it disappears) and frees the pool, at exit. */
void vtun_fini_process(void);

/*
 * A port for session s on worker (its loop base) for client key: takes the key's lease,
 * routes its address to the port, watches the device in base. NULL when the pool is
 * exhausted (*exhausted set) or out of memory.
 */
struct vtun_port *vtun_attach(struct vsess *s, struct event_base *base, unsigned worker,
    struct stats_entry *st, const uint8_t key[32], bool *exhausted);

/* Frees the port: its route, its queue, the lease's live mark, and the device watch of its
 * worker when it was the last. NULL is fine. */
void vtun_detach(struct vtun_port *p);

/* The lease (dotted) and the VirtualIp JSON (§7.5 item 2) of the port: its length, or -1. */
const char *vtun_lease(const struct vtun_port *p);
int vtun_vip(const struct vtun_port *p, const struct conf_vpn *cv, char *out, size_t cap);

/* One IP packet from the client (see the top of the file); cv is the session's
 * generation (egress, client_to_client). */
void vtun_uplink(struct vtun_port *p, const struct conf_vpn *cv, const uint8_t *pkt,
    size_t len);

/* Moves queued packets into the session's output while it has room (one per message). */
void vtun_step(struct vtun_port *p);

#endif
