/*
 * The `/mux` path (rvpn-protocol.md §7.4): many TCP flows inside one VPN session. The
 * client names flows (CreateFlow with its own ids, counting up from 1); each flow is an
 * outbound vflow (resolve, egress check, connect) answered with FlowCreated or FlowFailed;
 * data frames carry bytes each way under credit: 256 KiB per direction per flow at the
 * start, more only by WindowUpdate. We never send the client more than it granted, and
 * grant it credit only as its bytes reach the target, so what a flow buffers towards its
 * target is bounded by the credit. A flow whose client grants no credit for
 * vpn.flow_stall_timeout (60 s, §3.4) while its target's bytes wait is closed with
 * CloseFlow and counted (switchyard_vpn_flow_stalls_total). Ping is answered with Pong, a target's end is a
 * CloseFlow, the client's CloseFlow closes the target once its bytes are written.
 */
#ifndef SY_TERMINATOR_VPN_VMUX_H
#define SY_TERMINATOR_VPN_VMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "terminator/vpn/vpn.h"

#define VMUX_WINDOW          (256u * 1024)     /* §7.4: initial credit each way per flow */
#define VMUX_PENDING_MAX     (64u * 1024)      /* 0-RTT bytes a flow holds before it connects */
#define VMUX_READ_FRAMES     8u /* data frames one target read may fill (8 x 8184 B) */
#define VMUX_GRANT_MIN       (16u * 1024)      /* we grant credit in steps of at least this */
#define VMUX_UP_SESSION_MAX  (4u * 1024 * 1024) /* uplink bytes held per session: above it the
                                                 * client's messages wait in the kernel */
#define VMUX_FAILING_MAX     64u               /* flows whose FlowFailed/CloseFlow is not yet
                                                 * out, beyond max_flows */

struct event_base;
struct vdns_res;
struct vsess;
struct vmux;

/* A multiplexer for session s; *dns is the session's reference to the worker's resolver
 * (taken on the first name).
 * NULL when out of memory. */
struct vmux *vmux_new(struct vsess *s, struct event_base *base, const struct vpn *v,
    struct vdns_res **dns);

/* One decrypted, unpadded client message (one or more mux frames). false when it breaks
 * the protocol (*why: a stable lowercase reason); the session then ends. */
bool vmux_message(struct vmux *m, const uint8_t *p, size_t len, const char **why);

/* Whether the session may decode another client message (the uplink bounds). */
bool vmux_can_take(const struct vmux *m);

/* Drives the flows: connects, writes to targets, grants credit, answers, reads targets
 * into the session's queue while the client has credit and the queue has room. */
void vmux_step(struct vmux *m);

/* Closes every target (the session is ending). */
void vmux_close_all(struct vmux *m);

/* Flows created over the session's life (for its log line). */
unsigned vmux_flows(const struct vmux *m);

/* /tun (vtun.c): data frames for a flow id the client did not create are handed to fn
 * (one IP packet each, §7.4 "data for an unknown flow") instead of being dropped. */
typedef void vmux_raw_fn(void *arg, const uint8_t *p, size_t len);
void vmux_set_raw(struct vmux *m, vmux_raw_fn *fn, void *arg);

/* Frees the multiplexer and its flows; NULL is fine. */
void vmux_free(struct vmux *m);

#endif
