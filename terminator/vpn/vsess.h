/*
 * One VPN session (rvpn-protocol.md §5-§7): a WebSocket after the 101, carrying the Hello,
 * the ServerHello, then ratchet messages. The `/ws` path: the first message names a target,
 * the egress policy is checked, the name resolved (evdns, never blocking), the target
 * connected (terminator/vpn/vflow.c), and bytes relayed both ways with bounded buffers. The
 * `/mux` path hands every message to the multiplexer (vmux.c), which sends through the
 * session's queue (vsess_slot / vsess_seal below). The HTTP connection
 * (terminator/tconn.c) owns the socket and TLS; the session reads and writes through it
 * (term_int.h) and owns the target socket.
 */
#ifndef SY_TERMINATOR_VPN_VSESS_H
#define SY_TERMINATOR_VPN_VSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "terminator/vpn/vpn.h"

#define VSESS_HELLO_MS    5000u   /* Hello after the 101 (§3.4: the reference's 5 s) */
#define VSESS_TARGET_MS   5000u   /* /ws: the target message after the ServerHello */
#define VSESS_CONNECT_MS  5000u   /* per target address */
#define VSESS_IDLE_MS     300000u /* /ws relay without data either way (§3.4) */
#define VSESS_WATCH_MS    250u    /* a worker looks for a new allow-list this often */
#define VSESS_RELAY_MAX   8190u   /* target bytes per message (§7.3: peers read 8190) */
#define VSESS_OUT_HIGH    (64u * 1024) /* stop reading the target above this many queued */

struct term_conn;
struct event_base;
struct vsess;

/* Starts a session on c after the 101 was queued; NULL when out of memory. */
struct vsess *vsess_new(struct term_conn *c, struct event_base *base, const struct vpn *v,
    enum vpn_path path, const struct sockaddr_storage *peer, unsigned worker);

/* Runs the session after any readiness of the client connection. Returns false when the
 * session has ended (the caller then closes c with vsess_end_reason). */
bool vsess_step(struct vsess *s);

/* Hands over bytes the client sent behind its upgrade request (at most 16 KiB). */
void vsess_preload(struct vsess *s, const uint8_t *buf, size_t len);

/* Why the session ended (a stable lowercase id). */
const char *vsess_end_reason(const struct vsess *s);

struct term_vpn;

/* Fills out the session's access-log fields (strings live as long as s). */
void vsess_report(const struct vsess *s, struct term_vpn *out);

/* Frees the session (logs its line, gives back its slot). */
void vsess_free(struct vsess *s);

/*
 * For the /mux multiplexer (vmux.c), which sends through the session's one queue so that
 * the wire order is the seal order. vsess_slot gives where to write a payload of up to
 * RVPN_PAD_MAX - 2 bytes (padding goes behind it), or NULL when the queue is full: data
 * (control false) waits while VSESS_OUT_HIGH bytes are queued, control may use the slack
 * above it. vsess_seal pads and seals len bytes written there as one message of the given
 * payload type (-1: the session ended). vsess_account adds payload bytes each way to the
 * counters, vsess_stat counts one SV_* event, vsess_kick runs the driver soon.
 */
uint8_t *vsess_slot(struct vsess *s, bool control);
/*
 * Room for up to max data messages of len payload bytes each, back to back, so one read
 * of the target can fill several (fewer syscalls per GB). Returns how many fit, exactly as
 * many as that many vsess_slot (data) and vsess_seal calls in a row would grant (the same
 * VSESS_OUT_HIGH bound), with *first the first slot and *stride the distance between two
 * slots: a message of len bytes always seals to the same size (§7.2 pads to a multiple
 * of 1 KiB). Between the call and the seals nothing else may take a slot; a message of
 * fewer bytes may only be the last one sealed.
 */
size_t vsess_slots(struct vsess *s, size_t len, size_t max, uint8_t **first, size_t *stride);
/* Where the next message would be sealed (vsess_slot without its checks): lets a caller of
 * vsess_slots confirm its slots before sealing. */
const uint8_t *vsess_next(const struct vsess *s);
int vsess_seal(struct vsess *s, uint8_t type, size_t len);
void vsess_account(struct vsess *s, uint64_t in, uint64_t out);
void vsess_stat(struct vsess *s, unsigned field, int64_t n);
void vsess_kick(struct vsess *s);

#endif
