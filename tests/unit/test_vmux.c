/*
 * terminator/vpn/vmux: the real /mux multiplexer driven without sockets. Its two seams are
 * stubbed here at link time: the session (vsess_slot/_seal/_stat/_account/_kick: every
 * message vmux seals is decoded back into control messages and data bytes per flow) and
 * the outbound flow (vflow_*: a scripted target per flow, keyed by the CreateFlow port,
 * with its connect state, bytes it has for the client, room it takes, and its end; the
 * clock vflow_ms is the test's). Covers: credit towards the client (never beyond it,
 * exactly what WindowUpdate adds), grants as bytes reach the target (none while the
 * target takes nothing, VMUX_GRANT_MIN at N-1 and N), the client's over-send at the
 * window N and N+1, 0-RTT bytes at VMUX_PENDING_MAX N and N+1, max_flows N and N+1, the
 * FlowFailed paths (connect failed, denied, flow id in use), the client's CloseFlow, a
 * target's end (CloseFlow), and the credit stall at vpn.flow_stall_timeout N-1 and N ms
 * (a WindowUpdate stops the clock; a target with nothing waiting is left alone), and
 * fairness: with room for one read per step, two flows take turns.
 */
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/stats.h"
#include "proto/rvpn/rvpn_ctl.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "terminator/vpn/vflow.h"
#include "terminator/vpn/vmux.h"
#include "terminator/vpn/vsess.h"

#define PORTS 64 /* scripted targets, by CreateFlow port */

/* ---- the session seam ---- */

/* Distance between two data slots of one vsess_slots call (any size a full frame fits). */
#define STRIDE (RVPN_PAD_MAX + 64)

struct vsess {
	uint8_t  buf[VMUX_READ_FRAMES * STRIDE];
	size_t   cur;                 /* where the next seal is (slot start in buf) */
	bool     room;                /* data may be queued */
	size_t   slots;               /* data slots one vsess_slots call grants */
	int      budget;              /* vsess_slots calls that still find room; -1: any */
	int64_t  stat[SV_FIELD_COUNT];
	unsigned kicks;
	/* what vmux sent, decoded */
	unsigned nctl[RVPN_CTL_KIND_COUNT];
	unsigned ctl_of[PORTS][RVPN_CTL_KIND_COUNT];
	char     why[PORTS][64];      /* the last FlowFailed text per flow */
	uint64_t data[PORTS];         /* bytes sent to the client per flow */
	uint64_t granted[PORTS];      /* WindowUpdate windows per flow */
	unsigned bad;                 /* messages that did not decode */
	size_t   padded_max;          /* the longest message once padded (§7.2) */
};

static struct vsess S;

/* Room for one message: always for control, for data while S.room. */
uint8_t *
vsess_slot(struct vsess *s, bool control)
{
	s->cur = 0;
	return control || s->room ? s->buf : NULL;
}

/* Room for up to S.slots data messages, STRIDE apart, while S.room. */
size_t
vsess_slots(struct vsess *s, size_t len, size_t max, uint8_t **first, size_t *stride)
{
	s->cur = 0;
	if (!s->room || len > STRIDE || s->budget == 0)
		return 0;
	if (s->budget > 0)
		s->budget--;
	*first = s->buf;
	*stride = STRIDE;
	return s->slots < max ? s->slots : max;
}

/* The next seal's place. */
const uint8_t *
vsess_next(const struct vsess *s)
{
	return s->buf + s->cur;
}

/* Decodes the one frame vmux wrote into the slot and records it. */
int
vsess_seal(struct vsess *s, uint8_t type, size_t len)
{
	size_t pos = 0;
	struct rvpn_mux_frame fr;
	const uint8_t *buf = s->buf + s->cur;
	if (rvpn_pad_len(len) > s->padded_max)
		s->padded_max = rvpn_pad_len(len);
	if (s->cur + STRIDE < sizeof s->buf)
		s->cur += STRIDE; /* the next message of a vsess_slots batch */
	if (rvpn_mux_next(buf, len, &pos, &fr) != RVPN_MUX_FRAME || pos != len) {
		s->bad++;
		return 0;
	}
	if (fr.flow_id == RVPN_MUX_CONTROL) {
		struct rvpn_ctl c;
		if (type != RVPN_PT_ADMIN || rvpn_ctl_decode(buf + fr.off, fr.len, &c) != RVPN_CTL_OK ||
		    (c.kind != RVPN_CTL_PONG && c.flow_id >= PORTS)) {
			s->bad++;
			return 0;
		}
		s->nctl[c.kind]++;
		if (c.kind == RVPN_CTL_PONG)
			return 0;
		s->ctl_of[c.flow_id][c.kind]++;
		if (c.kind == RVPN_CTL_WINDOW_UPDATE)
			s->granted[c.flow_id] += c.window;
		if (c.kind == RVPN_CTL_FLOW_FAILED) {
			size_t n = c.str_len < 63 ? c.str_len : 63;
			memcpy(s->why[c.flow_id], buf + fr.off + c.str_off, n);
			s->why[c.flow_id][n] = '\0';
		}
		return 0;
	}
	if (type != RVPN_PT_DATA || fr.flow_id >= PORTS) {
		s->bad++;
		return 0;
	}
	s->data[fr.flow_id] += fr.len;
	return 0;
}

/* Payload counters: not checked here. */
void
vsess_account(struct vsess *s, uint64_t in, uint64_t out)
{
	(void)s;
	(void)in;
	(void)out;
}

/* Counts one metric event. */
void
vsess_stat(struct vsess *s, unsigned field, int64_t n)
{
	s->stat[field] += n;
}

/* Counts a request to run the driver. */
void
vsess_kick(struct vsess *s)
{
	s->kicks++;
}

/* ---- the flow seam: scripted targets ---- */

static struct {
	enum vflow_state state;  /* what vflow_poll reports */
	const char      *why;
	uint64_t         down;   /* bytes the target has for the client */
	bool             eof;    /* then its end */
	uint64_t         take;   /* bytes the target still accepts */
	uint64_t         up;     /* bytes written to the target */
	bool             closed;
	bool             want_read;
} tgt[PORTS];
static uint64_t now_ms;
static bool ticking; /* the clock moves 1 ms at every reading, as a real one may in a step */

/* The test's clock. */
uint64_t
vflow_ms(void)
{
	return ticking ? now_ms++ : now_ms;
}

/* Prepares a flow record: no target yet (the stub needs no loop, policy or owner). */
void
vflow_init(struct vflow *f, struct event_base *base, const struct conf_vpn *cv,
    void (*kick)(void *arg), void *arg)
{
	(void)base;
	(void)cv;
	(void)kick;
	(void)arg;
	memset(f, 0, sizeof *f);
	f->fd = -1;
}

/* Starts: the flow's target is tgt[port]. */
void
vflow_start(struct vflow *f, struct vdns_res **dns, const char *host, size_t hl,
    uint16_t port)
{
	(void)dns;
	(void)host;
	(void)hl;
	f->port = port;
	f->fd = port;
	f->state = tgt[port].state;
	f->why = tgt[port].why;
}

/* Reports the scripted state. */
void
vflow_poll(struct vflow *f, uint64_t now)
{
	(void)now;
	f->state = tgt[f->port].state;
	f->why = tgt[f->port].why;
}

/* Writes what the target takes. */
ssize_t
vflow_send(struct vflow *f, const uint8_t *p, size_t len)
{
	(void)p;
	uint64_t n = len < tgt[f->port].take ? len : tgt[f->port].take;
	if (n == 0)
		return VFLOW_AGAIN;
	tgt[f->port].take -= n;
	tgt[f->port].up += n;
	return (ssize_t)n;
}

/* Reads what the target has, then its end. */
ssize_t
vflow_recv(struct vflow *f, uint8_t *buf, size_t cap)
{
	uint64_t n = cap < tgt[f->port].down ? cap : tgt[f->port].down;
	if (n == 0)
		return tgt[f->port].eof ? 0 : VFLOW_AGAIN;
	memset(buf, 'x', (size_t)n);
	tgt[f->port].down -= n;
	return (ssize_t)n;
}

/* vflow_recv over several buffers, in order. */
ssize_t
vflow_recvv(struct vflow *f, const struct iovec *iov, int n)
{
	ssize_t got = 0;
	for (int i = 0; i < n; i++) {
		ssize_t k = vflow_recv(f, iov[i].iov_base, iov[i].iov_len);
		if (k <= 0)
			return got > 0 ? got : k;
		got += k;
		if ((size_t)k < iov[i].iov_len)
			break;
	}
	return got;
}

/* Whether the target has bytes or its end waiting. */
bool
vflow_readable(struct vflow *f)
{
	return tgt[f->port].down > 0 || tgt[f->port].eof;
}

/* Records the read interest. */
void
vflow_want_read(struct vflow *f, bool on)
{
	tgt[f->port].want_read = on;
}

/* Closes the target. */
void
vflow_close(struct vflow *f)
{
	if (f->fd != -1)
		tgt[f->port].closed = true;
	f->fd = -1;
}

/* ---- the client side ---- */

static struct conf_vpn CV;
static struct vpn V;
static struct event_base *B;
static struct vdns_res *DNS;
static uint8_t msg[RVPN_PAD_MAX];

/* Feeds one control message to m; false when vmux refused it. */
static bool
ctl(struct vmux *m, enum rvpn_ctl_kind kind, uint32_t id, uint32_t window)
{
	struct rvpn_ctl c = { .kind = kind, .flow_id = id, .port = (uint16_t)id,
		.window = window };
	const char *host = "target.test";
	int n = rvpn_ctl_encode(msg + RVPN_MUX_HDR_LEN, sizeof msg - RVPN_MUX_HDR_LEN, &c,
	    (const uint8_t *)host, strlen(host));
	if (n < 0 || rvpn_mux_header(msg, RVPN_MUX_HDR_LEN, RVPN_MUX_CONTROL, (size_t)n) < 0)
		return false;
	const char *why = NULL;
	return vmux_message(m, msg, RVPN_MUX_HDR_LEN + (size_t)n, &why);
}

/* Feeds len data bytes for flow id, in frames of at most 8190 bytes (one per message). */
static bool
data(struct vmux *m, uint32_t id, size_t len)
{
	while (len > 0) {
		size_t n = len < RVPN_MUX_MAX_DATA ? len : RVPN_MUX_MAX_DATA;
		if (rvpn_mux_header(msg, RVPN_MUX_HDR_LEN, id, n) < 0)
			return false;
		memset(msg + RVPN_MUX_HDR_LEN, 'u', n);
		const char *why = NULL;
		if (!vmux_message(m, msg, RVPN_MUX_HDR_LEN + n, &why))
			return false;
		len -= n;
	}
	return true;
}

/* Runs the driver until nothing changes (bounded). */
static void
run(struct vmux *m)
{
	for (int i = 0; i < 200; i++)
		vmux_step(m);
}

/* A fresh multiplexer with every target scripted as open, silent and taking anything. */
static struct vmux *
fresh(uint64_t max_flows)
{
	memset(&S, 0, sizeof S);
	S.room = true;
	S.slots = 3; /* several frames per target read (vsess_slots) */
	S.budget = -1;
	memset(tgt, 0, sizeof tgt);
	for (unsigned i = 0; i < PORTS; i++) {
		tgt[i].state = VF_OPEN;
		tgt[i].take = UINT64_MAX;
	}
	CV.max_flows = max_flows;
	CV.flow_stall_ms = 5000;
	V.cv = &CV;
	return vmux_new(&S, B, &V, &DNS);
}

/* Credit towards the client: the window, then exactly what WindowUpdates add. */
static void
test_down_credit(void)
{
	struct vmux *m = fresh(8);
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 1, 0));
	tgt[1].down = 1u << 20;
	run(m);
	CHECK(S.ctl_of[1][RVPN_CTL_FLOW_CREATED] == 1);
	CHECKF(S.data[1] == VMUX_WINDOW, "sent %llu", (unsigned long long)S.data[1]);
	CHECK(!tgt[1].want_read); /* no credit: the target is not read */
	CHECK(ctl(m, RVPN_CTL_WINDOW_UPDATE, 1, 10000));
	run(m);
	CHECKF(S.data[1] == VMUX_WINDOW + 10000, "sent %llu", (unsigned long long)S.data[1]);
	CHECK(ctl(m, RVPN_CTL_WINDOW_UPDATE, 1, 1));
	run(m);
	CHECK(S.data[1] == VMUX_WINDOW + 10001);
	/* A full session queue stops the reads, credit or not. */
	S.room = false;
	CHECK(ctl(m, RVPN_CTL_WINDOW_UPDATE, 1, 5000));
	run(m);
	CHECK(S.data[1] == VMUX_WINDOW + 10001 && !tgt[1].want_read);
	S.room = true;
	run(m);
	CHECK(S.data[1] == VMUX_WINDOW + 15001);
	CHECK(S.bad == 0);
	vmux_free(m);
	CHECK(tgt[1].closed);
}

/* Fairness: when the queue has room for one read per step, the flows take turns. */
static void
test_fair(void)
{
	struct vmux *m = fresh(8);
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 1, 0));
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 2, 0));
	run(m);
	CHECK(S.ctl_of[1][RVPN_CTL_FLOW_CREATED] == 1 && S.ctl_of[2][RVPN_CTL_FLOW_CREATED] == 1);
	tgt[1].down = tgt[2].down = 1u << 20;
	for (int step = 0; step < 2; step++) {
		S.budget = 1; /* one read fills the queue */
		vmux_step(m);
	}
	CHECKF(S.data[1] == 3 * RVPN_MUX_SEND_DATA && S.data[2] == 3 * RVPN_MUX_SEND_DATA,
	    "sent %llu and %llu", (unsigned long long)S.data[1], (unsigned long long)S.data[2]);
	/* full frames fill 8 padding blocks exactly: none is spent on padding alone */
	CHECKF(S.padded_max == 8 * RVPN_PAD_BLOCK, "padded to %zu", S.padded_max);
	CHECK(S.bad == 0);
	vmux_free(m);
}

/* Grants as bytes reach the target, in steps of at least VMUX_GRANT_MIN. */
static void
test_up_grants(void)
{
	struct vmux *m = fresh(8);
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 1, 0));
	run(m);
	tgt[1].take = 0; /* the target takes nothing: nothing is granted */
	CHECK(data(m, 1, 40000));
	run(m);
	CHECK(S.granted[1] == 0 && tgt[1].up == 0);
	tgt[1].take = VMUX_GRANT_MIN - 1; /* N-1 bytes reach it: still no grant */
	run(m);
	CHECK(tgt[1].up == VMUX_GRANT_MIN - 1 && S.granted[1] == 0);
	tgt[1].take = 1; /* N: one WindowUpdate of N */
	run(m);
	CHECK(S.granted[1] == VMUX_GRANT_MIN && S.ctl_of[1][RVPN_CTL_WINDOW_UPDATE] == 1);
	tgt[1].take = UINT64_MAX;
	run(m);
	CHECK(tgt[1].up == 40000 && S.granted[1] == 40000);
	vmux_free(m);
}

/* The client's credit towards us: the window is taken whole (N), one more byte closes the
 * flow (N+1). */
static void
test_up_overcredit(void)
{
	struct vmux *m = fresh(8);
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 1, 0));
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 2, 0));
	run(m);
	tgt[1].take = tgt[2].take = 0;
	CHECK(data(m, 1, VMUX_WINDOW));
	CHECK(data(m, 2, VMUX_WINDOW + 1));
	run(m);
	CHECK(S.ctl_of[1][RVPN_CTL_CLOSE_FLOW] == 0 && !tgt[1].closed);
	CHECK(S.ctl_of[2][RVPN_CTL_CLOSE_FLOW] == 1 && tgt[2].closed);
	tgt[1].take = UINT64_MAX;
	run(m);
	CHECK(tgt[1].up == VMUX_WINDOW && tgt[2].up == 0);
	vmux_free(m);
}

/* 0-RTT: VMUX_PENDING_MAX bytes before the connect are kept (N), one more fails the flow
 * (N+1); the kept bytes reach the target once it connects. */
static void
test_zero_rtt(void)
{
	struct vmux *m = fresh(8);
	tgt[1].state = tgt[2].state = VF_CONNECT;
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 1, 0));
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 2, 0));
	CHECK(data(m, 1, VMUX_PENDING_MAX));
	CHECK(data(m, 2, VMUX_PENDING_MAX + 1));
	run(m);
	CHECK(S.ctl_of[1][RVPN_CTL_FLOW_FAILED] == 0);
	CHECK(S.ctl_of[2][RVPN_CTL_FLOW_FAILED] == 1 && strcmp(S.why[2], "0-rtt limit") == 0);
	CHECK(tgt[1].up == 0);
	tgt[1].state = VF_OPEN;
	run(m);
	CHECK(S.ctl_of[1][RVPN_CTL_FLOW_CREATED] == 1 && tgt[1].up == VMUX_PENDING_MAX);
	CHECK(S.stat[SV_FLOWS_OK] == 1 && S.stat[SV_FLOWS_FAILED] == 1);
	vmux_free(m);
}

/* max_flows: N flows are created, the N+1st fails with "too many flows" (limit). */
static void
test_max_flows(void)
{
	struct vmux *m = fresh(3);
	for (uint32_t id = 1; id <= 4; id++)
		CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, id, 0));
	run(m);
	for (uint32_t id = 1; id <= 3; id++)
		CHECK(S.ctl_of[id][RVPN_CTL_FLOW_CREATED] == 1);
	CHECK(S.ctl_of[4][RVPN_CTL_FLOW_FAILED] == 1 && strcmp(S.why[4], "too many flows") == 0);
	CHECK(S.stat[SV_FLOWS_LIMIT] == 1 && S.stat[SV_FLOWS_OK] == 3);
	/* One ends (the client's CloseFlow): its place is free again. */
	CHECK(ctl(m, RVPN_CTL_CLOSE_FLOW, 2, 0));
	run(m);
	CHECK(tgt[2].closed && S.ctl_of[2][RVPN_CTL_CLOSE_FLOW] == 0); /* nothing to say */
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 5, 0));
	run(m);
	CHECK(S.ctl_of[5][RVPN_CTL_FLOW_CREATED] == 1);
	CHECK(vmux_flows(m) == 5);
	vmux_free(m);
}

/* FlowFailed and CloseFlow paths. */
static void
test_fail_paths(void)
{
	struct vmux *m = fresh(8);
	tgt[1].state = VF_FAILED;
	tgt[1].why = "connect failed";
	tgt[2].state = VF_DENIED;
	tgt[2].why = "denied";
	for (uint32_t id = 1; id <= 4; id++)
		CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, id, 0));
	run(m);
	CHECK(S.ctl_of[1][RVPN_CTL_FLOW_FAILED] == 1 && strcmp(S.why[1], "connect failed") == 0);
	CHECK(S.ctl_of[2][RVPN_CTL_FLOW_FAILED] == 1 && strcmp(S.why[2], "denied") == 0);
	CHECK(S.stat[SV_FLOWS_FAILED] == 1 && S.stat[SV_FLOWS_DENIED] == 1);
	/* A target's end: what it sent goes first, then CloseFlow; no FlowFailed. */
	tgt[3].down = 1000;
	tgt[3].eof = true;
	run(m);
	CHECK(S.data[3] == 1000 && S.ctl_of[3][RVPN_CTL_CLOSE_FLOW] == 1 && tgt[3].closed);
	CHECK(S.ctl_of[3][RVPN_CTL_FLOW_FAILED] == 0);
	/* A CreateFlow for an id in use: the live flow ends (CloseFlow: it was created). */
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 4, 0));
	run(m);
	CHECK(S.ctl_of[4][RVPN_CTL_CLOSE_FLOW] == 1 && tgt[4].closed);
	/* Data for an id not in use is dropped; a Ping is answered. */
	CHECK(data(m, 9, 100));
	CHECK(ctl(m, RVPN_CTL_PING, 0, 0));
	run(m);
	CHECK(S.nctl[RVPN_CTL_PONG] == 1 && tgt[9].up == 0);
	/* CreateFlow with id 0 breaks the protocol. */
	CHECK(!ctl(m, RVPN_CTL_CREATE_FLOW, 0, 0));
	CHECK(S.bad == 0);
	vmux_free(m);
}

/* The credit stall: zero credit with target bytes waiting for flow_stall_ms closes the
 * flow, at N ms and not at N-1. */
static void
test_stall(void)
{
	struct vmux *m = fresh(8);
	now_ms = 100000;
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 1, 0));
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 2, 0));
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 3, 0));
	tgt[1].down = tgt[2].down = 1u << 20;
	tgt[3].down = VMUX_WINDOW; /* exactly the credit: nothing waits afterwards */
	run(m); /* credit runs out now, for all three */
	CHECK(S.data[1] == VMUX_WINDOW && S.data[2] == VMUX_WINDOW && S.data[3] == VMUX_WINDOW);
	now_ms = 100000 + 3000;
	CHECK(ctl(m, RVPN_CTL_WINDOW_UPDATE, 2, 1)); /* flow 2's clock starts again */
	run(m);
	CHECK(S.data[2] == VMUX_WINDOW + 1);
	now_ms = 100000 + CV.flow_stall_ms - 1; /* N-1 */
	run(m);
	CHECK(S.ctl_of[1][RVPN_CTL_CLOSE_FLOW] == 0 && S.stat[SV_FLOW_STALLS] == 0);
	now_ms = 100000 + CV.flow_stall_ms; /* N */
	run(m);
	CHECK(S.ctl_of[1][RVPN_CTL_CLOSE_FLOW] == 1 && tgt[1].closed);
	CHECK(S.ctl_of[2][RVPN_CTL_CLOSE_FLOW] == 0 && !tgt[2].closed);
	CHECK(S.ctl_of[3][RVPN_CTL_CLOSE_FLOW] == 0 && !tgt[3].closed); /* nothing waits */
	CHECK(tgt[3].want_read); /* but its next bytes wake the session */
	CHECK(S.stat[SV_FLOW_STALLS] == 1);
	now_ms = 100000 + 3000 + CV.flow_stall_ms - 1;
	run(m);
	CHECK(S.ctl_of[2][RVPN_CTL_CLOSE_FLOW] == 0);
	now_ms = 100000 + 3000 + CV.flow_stall_ms;
	run(m);
	CHECK(S.ctl_of[2][RVPN_CTL_CLOSE_FLOW] == 1 && S.stat[SV_FLOW_STALLS] == 2);
	tgt[3].down = 1; /* bytes come to the flow that waited past its deadline */
	run(m);
	CHECK(S.ctl_of[3][RVPN_CTL_CLOSE_FLOW] == 1 && S.stat[SV_FLOW_STALLS] == 3);
	CHECK(S.bad == 0);
	vmux_free(m);
	/* A clock that moves inside a step: the credit running out at a later millisecond
	 * than the step's start is no stall (the stall clock never reads backwards). */
	m = fresh(8);
	now_ms = 200000;
	ticking = true;
	CHECK(ctl(m, RVPN_CTL_CREATE_FLOW, 1, 0));
	tgt[1].down = 1u << 20;
	run(m);
	ticking = false;
	CHECK(S.data[1] == VMUX_WINDOW && now_ms - 200000 < CV.flow_stall_ms);
	CHECK(S.ctl_of[1][RVPN_CTL_CLOSE_FLOW] == 0 && S.stat[SV_FLOW_STALLS] == 0);
	vmux_free(m);
}

int
main(void)
{
	B = event_base_new();
	if (B == NULL)
		return 1;
	test_down_credit();
	test_fair();
	test_up_grants();
	test_up_overcredit();
	test_zero_rtt();
	test_max_flows();
	test_fail_paths();
	test_stall();
	event_base_free(B);
	return check_summary();
}
