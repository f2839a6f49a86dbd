/*
 * The `/mux` multiplexer (see vmux.h).
 *
 * Flow ids (§7.4): the client allocates them; 0 is control. An id is in use from its
 * CreateFlow until the flow is gone on both sides: our CloseFlow or FlowFailed is out, or
 * the client's CloseFlow was taken. A CreateFlow for an id in use is a confused client: the
 * new one is refused and the old one failed with it ("flow id in use"). After that the id
 * may be used again. Data for an id not in use is dropped: it is the tail of a flow that
 * already ended on our side.
 *
 * Bounds. Towards the target, a flow holds what the client sent and the target has not
 * taken yet: at most its credit (VMUX_WINDOW; a client that sends more is over-sending and
 * its flow is closed with CloseFlow, as the reference does), and before the connect
 * completes at most VMUX_PENDING_MAX 0-RTT bytes (over it: FlowFailed "0-rtt limit"). All
 * flows of a session together hold at most VMUX_UP_SESSION_MAX: above it no further client
 * message is decoded until a target drains (the rest waits in the kernel). Towards the
 * client, a target is read only while its flow has credit and the session's queue is under
 * VSESS_OUT_HIGH, one read of up to VMUX_READ_FRAMES frames per flow per pass, the flow
 * read first rotating from step to step (fair). Flows are at most max_flows; failed
 * ones waiting for their FlowFailed to go out at most VMUX_FAILING_MAX more (above it the
 * client's messages wait). Control goes out before data: each pass sends what control is
 * due (Pong, FlowCreated, FlowFailed, WindowUpdate, CloseFlow) before reading targets.
 *
 * Credit stall (§3.4, §7.4). A flow's clock starts when its credit towards the client runs
 * out and stops at the next WindowUpdate. Once it has run vpn.flow_stall_timeout and the
 * target has bytes (or its end) waiting, the flow is closed with CloseFlow and counted
 * (SV_FLOW_STALLS); a flow at zero credit whose target has sent nothing more is left alone,
 * but from then on its target's readability wakes the session, so bytes that come later
 * close it at once. The session is woken for the deadlines by the multiplexer's own timer
 * (stall_ev), not by the session's tick.
 */
#include "terminator/vpn/vmux.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/deadline.h"
#include "core/stats.h"
#include "proto/rvpn/rvpn_ctl.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "terminator/vpn/vflow.h"
#include "terminator/vpn/vsess.h"

/* Bytes from the client waiting for the target. */
struct vmux_chunk {
	struct vmux_chunk *next;
	size_t             len, off;
	uint8_t            data[];
};

struct vmux_flow {
	uint32_t           id;
	struct vmux       *m;
	struct vflow       f;
	bool               created;      /* FlowCreated sent */
	bool               counted;      /* flows_total counted */
	bool               live;         /* counts against max_flows */
	bool               client_closed; /* the client's CloseFlow came: drain, then drop */
	bool               fail_due;     /* FlowFailed to send, then drop */
	bool               close_due;    /* CloseFlow to send, then drop */
	const char        *fail_why;
	int64_t            down_credit;  /* bytes we may still send the client */
	uint64_t           up_credit;    /* bytes the client may still send us */
	uint64_t           grant_due;    /* written to the target, not yet granted */
	uint64_t           stall_since;  /* ms when down_credit ran out; 0: has credit */
	struct vmux_chunk *head, *tail;
	size_t             queued;       /* bytes in the chunks */
};

struct vmux {
	struct vsess       *s;
	struct event_base  *base;
	const struct vpn   *v;
	struct vdns_res **dns;
	struct vmux_flow  **fl;          /* live flows, in no order */
	size_t              nfl, capfl;
	unsigned            live;        /* flows counted against max_flows */
	unsigned            created_total;
	size_t              up_bytes;    /* sum of queued over the flows */
	bool                pong_due;
	uint64_t            pong_ts;
	vmux_raw_fn        *raw;         /* /tun: frames of unknown flows (vmux_set_raw) */
	void               *raw_arg;
	struct event        stall_ev;    /* wakes the session at the first stall deadline */
	size_t              rr;          /* the flow read first in the next step (fairness) */
	uint64_t            stall_at;    /* when stall_ev fires; 0: not armed */
};

/* The flow's events run the session. */
static void
vmux_kick_cb(void *arg)
{
	struct vmux_flow *f = arg;
	vsess_kick(f->m->s);
}

/* The live flow with this id, or NULL. */
static struct vmux_flow *
vmux_find(const struct vmux *m, uint32_t id)
{
	for (size_t i = 0; i < m->nfl; i++)
		if (m->fl[i]->id == id && !m->fl[i]->fail_due && !m->fl[i]->close_due)
			return m->fl[i];
	return NULL;
}

/* Drops the queued uplink bytes of a flow. */
static void
vmux_drop_queue(struct vmux_flow *f)
{
	while (f->head != NULL) {
		struct vmux_chunk *c = f->head;
		f->head = c->next;
		free(c);
	}
	f->tail = NULL;
	f->m->up_bytes -= f->queued;
	f->queued = 0;
}

/* Counts a flow's outcome once. */
static void
vmux_count(struct vmux_flow *f, unsigned field)
{
	if (f->counted)
		return;
	f->counted = true;
	vsess_stat(f->m->s, field, 1);
}

/* Ends a flow on our side: the target closes, a FlowFailed (not yet created) or a
 * CloseFlow is due, and the id stays in use until it is out. */
static void
vmux_fail(struct vmux_flow *f, const char *why)
{
	vflow_close(&f->f);
	vmux_drop_queue(f);
	if (f->live) {
		f->live = false;
		f->m->live--;
	}
	if (f->client_closed) {
		f->close_due = true; /* nothing to tell: dropped without a word */
		f->fail_why = NULL;
		return;
	}
	if (f->created) {
		f->close_due = true;
	} else {
		f->fail_due = true;
		f->fail_why = why;
	}
}

/* Removes flow i (swapped with the last). */
static void
vmux_remove(struct vmux *m, size_t i)
{
	struct vmux_flow *f = m->fl[i];
	vflow_close(&f->f);
	vmux_drop_queue(f);
	if (f->live)
		m->live--;
	m->fl[i] = m->fl[--m->nfl];
	free(f);
}

/* A new flow record (not yet started); NULL when out of memory. */
static struct vmux_flow *
vmux_add(struct vmux *m, uint32_t id)
{
	if (m->nfl == m->capfl) {
		size_t cap = m->capfl ? m->capfl * 2 : 8;
		struct vmux_flow **n = realloc(m->fl, cap * sizeof *n);
		if (n == NULL)
			return NULL;
		m->fl = n;
		m->capfl = cap;
	}
	struct vmux_flow *f = calloc(1, sizeof *f);
	if (f == NULL)
		return NULL;
	f->id = id;
	f->m = m;
	f->down_credit = VMUX_WINDOW;
	f->up_credit = VMUX_WINDOW;
	vflow_init(&f->f, m->base, m->v->cv, vmux_kick_cb, f);
	m->fl[m->nfl++] = f;
	f->live = true;
	m->live++;
	return f;
}

/* ---- client messages ---- */

/* CreateFlow: the limits, then the flow starts (vflow.c). */
static void
vmux_create(struct vmux *m, const struct rvpn_ctl *c, const uint8_t *p)
{
	m->created_total++;
	struct vmux_flow *old = vmux_find(m, c->flow_id);
	if (old != NULL) {
		/* A confused client: the live flow ends with one FlowFailed (or CloseFlow). */
		vsess_stat(m->s, SV_FLOWS_FAILED, 1);
		vmux_fail(old, "flow id in use");
		return;
	}
	struct vmux_flow *f = vmux_add(m, c->flow_id);
	if (f == NULL) {
		vsess_stat(m->s, SV_FLOWS_FAILED, 1);
		return; /* out of memory: the client times the flow out */
	}
	if (m->live > m->v->cv->max_flows) {
		vmux_count(f, SV_FLOWS_LIMIT);
		vmux_fail(f, "too many flows");
		return;
	}
	vflow_start(&f->f, m->dns, (const char *)p + c->str_off, c->str_len, c->port);
}

/* Data for a flow: credit and 0-RTT checks, then queued for the target. */
static void
vmux_data(struct vmux *m, uint32_t id, const uint8_t *p, size_t len)
{
	struct vmux_flow *f = vmux_find(m, id);
	if (f == NULL && m->raw != NULL) {
		vsess_account(m->s, len, 0);
		m->raw(m->raw_arg, p, len); /* /tun: an IP packet */
		return;
	}
	if (f == NULL || f->client_closed || len == 0)
		return; /* the tail of a flow that ended here */
	vsess_account(m->s, len, 0);
	if (len > f->up_credit) {
		vmux_fail(f, "over credit"); /* §7.4: the reference closes it too */
		return;
	}
	f->up_credit -= len;
	if (f->f.state != VF_OPEN && f->queued + len > VMUX_PENDING_MAX) {
		vmux_count(f, SV_FLOWS_FAILED);
		vmux_fail(f, "0-rtt limit");
		return;
	}
	struct vmux_chunk *c = malloc(sizeof *c + len);
	if (c == NULL) {
		vmux_count(f, SV_FLOWS_FAILED);
		vmux_fail(f, "out of memory");
		return;
	}
	c->next = NULL;
	c->len = len;
	c->off = 0;
	memcpy(c->data, p, len);
	if (f->tail != NULL)
		f->tail->next = c;
	else
		f->head = c;
	f->tail = c;
	f->queued += len;
	m->up_bytes += len;
}

/* One control frame from the client. */
static bool
vmux_control(struct vmux *m, const uint8_t *p, size_t len, const char **why)
{
	struct rvpn_ctl c;
	if (rvpn_ctl_decode(p, len, &c) != RVPN_CTL_OK) {
		*why = "bad_control";
		return false;
	}
	struct vmux_flow *f;
	switch (c.kind) {
	case RVPN_CTL_CREATE_FLOW:
		if (c.flow_id == RVPN_MUX_CONTROL) {
			*why = "bad_control";
			return false;
		}
		vmux_create(m, &c, p);
		break;
	case RVPN_CTL_CLOSE_FLOW:
		if ((f = vmux_find(m, c.flow_id)) != NULL)
			f->client_closed = true; /* its queued bytes still go to the target */
		break;
	case RVPN_CTL_PING:
		m->pong_due = true; /* several before one Pong fits: the newest is echoed */
		m->pong_ts = c.timestamp;
		break;
	case RVPN_CTL_WINDOW_UPDATE:
		if ((f = vmux_find(m, c.flow_id)) != NULL && f->down_credit < INT64_C(1) << 40) {
			f->down_credit += c.window;
			if (f->down_credit > 0)
				f->stall_since = 0; /* credit again: the stall clock stops */
		}
		break;
	default:
		break; /* FlowCreated, FlowFailed, Pong: not for a server */
	}
	return true;
}

/* One client message (see vmux.h). */
bool
vmux_message(struct vmux *m, const uint8_t *p, size_t len, const char **why)
{
	size_t n;
	if (rvpn_mux_check(p, len, &n) != 0) {
		*why = "bad_mux_frame";
		return false; /* refused whole: no frame of it was acted on */
	}
	size_t pos = 0;
	struct rvpn_mux_frame fr;
	while (rvpn_mux_next(p, len, &pos, &fr) == RVPN_MUX_FRAME) {
		if (fr.flow_id == RVPN_MUX_CONTROL) {
			if (!vmux_control(m, p + fr.off, fr.len, why))
				return false;
		} else {
			vmux_data(m, fr.flow_id, p + fr.off, fr.len);
		}
	}
	return true;
}

/* Whether another client message may be decoded (see vmux.h). */
bool
vmux_can_take(const struct vmux *m)
{
	return m->up_bytes < VMUX_UP_SESSION_MAX && m->nfl - m->live < VMUX_FAILING_MAX &&
	    m->nfl < (size_t)m->v->cv->max_flows + VMUX_FAILING_MAX;
}

/* ---- towards the client ---- */

/* Sends one control message; false when the queue has no room (try again later). */
static bool
vmux_send_ctl(struct vmux *m, const struct rvpn_ctl *c, const char *str)
{
	uint8_t *slot = vsess_slot(m->s, true);
	if (slot == NULL)
		return false;
	size_t sl = str != NULL ? strlen(str) : 0;
	int n = rvpn_ctl_encode(slot + RVPN_MUX_HDR_LEN, RVPN_CTL_MAX_LEN, c,
	    (const uint8_t *)str, sl);
	if (n < 0 || rvpn_mux_header(slot, RVPN_MUX_HDR_LEN, RVPN_MUX_CONTROL, (size_t)n) < 0)
		return false;
	return vsess_seal(m->s, RVPN_PT_ADMIN, RVPN_MUX_HDR_LEN + (size_t)n) == 0;
}

/* Writes a flow's queue to its target; grants what went. */
static void
vmux_flush(struct vmux_flow *f)
{
	while (f->head != NULL) {
		struct vmux_chunk *c = f->head;
		ssize_t n = vflow_send(&f->f, c->data + c->off, c->len - c->off);
		if (n == VFLOW_AGAIN)
			return;
		if (n < 0) {
			vmux_count(f, SV_FLOWS_FAILED);
			vmux_fail(f, "target error");
			return;
		}
		c->off += (size_t)n;
		f->queued -= (size_t)n;
		f->m->up_bytes -= (size_t)n;
		f->grant_due += (uint64_t)n;
		if (c->off == c->len) {
			f->head = c->next;
			if (f->head == NULL)
				f->tail = NULL;
			free(c);
		}
	}
}

/* Advances one flow's connect and uplink; control it owes goes out. false: the flow is
 * gone (removed from the table). */
static bool
vmux_flow_step(struct vmux *m, size_t i, uint64_t now)
{
	struct vmux_flow *f = m->fl[i];
	if (f->f.state == VF_RESOLVE || f->f.state == VF_CONNECT)
		vflow_poll(&f->f, now);
	if (!f->fail_due && !f->close_due) {
		if (f->f.state == VF_DENIED) {
			vmux_count(f, SV_FLOWS_DENIED);
			vmux_fail(f, "denied");
		} else if (f->f.state == VF_FAILED) {
			vmux_count(f, SV_FLOWS_FAILED);
			vmux_fail(f, f->f.why);
		} else if (f->f.state == VF_OPEN) {
			vmux_count(f, SV_FLOWS_OK);
			vmux_flush(f);
		}
	}
	struct rvpn_ctl c = { .flow_id = f->id };
	if (f->fail_due) {
		c.kind = RVPN_CTL_FLOW_FAILED;
		if (!vmux_send_ctl(m, &c, f->fail_why))
			return true;
		vmux_remove(m, i);
		return false;
	}
	if (f->close_due) {
		c.kind = RVPN_CTL_CLOSE_FLOW;
		if (f->fail_why == NULL && f->client_closed) {
			vmux_remove(m, i); /* the client closed it: nothing to say */
			return false;
		}
		if (!vmux_send_ctl(m, &c, NULL))
			return true;
		vmux_remove(m, i);
		return false;
	}
	if (f->f.state != VF_OPEN)
		return true;
	if (!f->created) {
		c.kind = RVPN_CTL_FLOW_CREATED;
		if (!vmux_send_ctl(m, &c, NULL))
			return true;
		f->created = true;
	}
	if (f->client_closed && f->head == NULL) {
		vmux_remove(m, i); /* its bytes are at the target: the full close (§7.4) */
		return false;
	}
	if (f->grant_due >= VMUX_GRANT_MIN && !f->client_closed) {
		uint64_t g = f->grant_due > UINT32_MAX ? UINT32_MAX : f->grant_due;
		c.kind = RVPN_CTL_WINDOW_UPDATE;
		c.window = (uint32_t)g;
		if (vmux_send_ctl(m, &c, NULL)) {
			f->grant_due -= g;
			f->up_credit += g;
		}
	}
	return true;
}

/* Reads a target into the client's queue, up to VMUX_READ_FRAMES data frames in one
 * readv(2) straight into their slots (vsess_slots: the same queue bound as one slot at a
 * time), each then sealed in place; false when nothing came. */
static bool
vmux_read(struct vmux *m, struct vmux_flow *f)
{
	if (f->f.state != VF_OPEN || f->client_closed || f->close_due || f->fail_due ||
	    !f->created || f->down_credit <= 0)
		return false;
	uint8_t *slot;
	size_t stride;
	size_t nf = vsess_slots(m->s, RVPN_MUX_HDR_LEN + RVPN_MUX_SEND_DATA, VMUX_READ_FRAMES,
	    &slot, &stride);
	if (nf == 0)
		return false;
	struct iovec iov[VMUX_READ_FRAMES];
	uint64_t credit = (uint64_t)f->down_credit; /* never beyond the client's credit */
	int ni = 0;
	for (size_t i = 0; i < nf && credit > 0; i++) {
		size_t want = credit < RVPN_MUX_SEND_DATA ? (size_t)credit : RVPN_MUX_SEND_DATA;
		iov[ni].iov_base = slot + i * stride + RVPN_MUX_HDR_LEN;
		iov[ni].iov_len = want;
		ni++;
		credit -= want;
	}
	ssize_t n = vflow_recvv(&f->f, iov, ni);
	if (n == VFLOW_AGAIN)
		return false;
	if (n <= 0) {
		/* §7.4: no half-close; what was read is already queued ahead of the CloseFlow */
		vmux_fail(f, n == 0 ? "target closed" : "target error");
		return false;
	}
	size_t left = (size_t)n;
	for (int i = 0; i < ni && left > 0; i++) {
		size_t k = left < iov[i].iov_len ? left : iov[i].iov_len;
		uint8_t *p = (uint8_t *)iov[i].iov_base - RVPN_MUX_HDR_LEN;
		if (p != vsess_next(m->s) || rvpn_mux_header(p, RVPN_MUX_HDR_LEN, f->id, k) < 0 ||
		    vsess_seal(m->s, RVPN_PT_DATA, RVPN_MUX_HDR_LEN + k) == -1) {
			vmux_count(f, SV_FLOWS_FAILED); /* cannot happen: the sizes are fixed */
			vmux_fail(f, "internal");
			return false;
		}
		left -= k;
		if (k < iov[i].iov_len)
			break; /* a short frame is the last one */
	}
	f->down_credit -= n;
	if (f->down_credit <= 0 && f->stall_since == 0)
		f->stall_since = vflow_ms(); /* the stall clock starts */
	vsess_account(m->s, 0, (uint64_t)n);
	return true;
}

/* The multiplexer's timer: a stall deadline came; the driver checks it. */
static void
vmux_stall_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct vmux *m = arg;
	m->stall_at = 0;
	vsess_kick(m->s);
}

/* Whether flow f is past its stall deadline at now. */
static bool
vmux_stall_over(const struct vmux *m, const struct vmux_flow *f, uint64_t now)
{
	return f->stall_since != 0 && f->down_credit <= 0 && now >= f->stall_since &&
	    now - f->stall_since >= m->v->cv->flow_stall_ms; /* a clock read later in the step
	                                                    * may be ahead of now: no stall */
}

/* Closes the flows stalled past vpn.flow_stall_timeout with target bytes waiting, and arms
 * the timer for the next deadline. true when it closed one (its CloseFlow is due). */
static bool
vmux_stalls(struct vmux *m, uint64_t now)
{
	uint64_t next = 0;
	bool closed = false;
	for (size_t i = 0; i < m->nfl; i++) {
		struct vmux_flow *f = m->fl[i];
		if (f->stall_since == 0 || f->down_credit > 0 || f->f.state != VF_OPEN ||
		    f->close_due || f->fail_due || f->client_closed)
			continue;
		if (vmux_stall_over(m, f, now)) {
			if (vflow_readable(&f->f)) {
				vsess_stat(m->s, SV_FLOW_STALLS, 1);
				vmux_fail(f, "credit stall"); /* CloseFlow: it was created */
				closed = true;
			}
			continue; /* else its readability wakes the session (vmux_step) */
		}
		uint64_t at = f->stall_since + m->v->cv->flow_stall_ms;
		if (next == 0 || at < next)
			next = at;
	}
	if (next != 0 && (m->stall_at == 0 || next < m->stall_at)) {
		uint64_t ms = next > now ? next - now : 0;
		deadline_add(&m->stall_ev, ms);
		m->stall_at = next;
	}
	return closed;
}

/* Drives the flows (see vmux.h). */
void
vmux_step(struct vmux *m)
{
	uint64_t now = vflow_ms();
	if (m->pong_due) {
		struct rvpn_ctl c = { .kind = RVPN_CTL_PONG, .timestamp = m->pong_ts };
		if (vmux_send_ctl(m, &c, NULL))
			m->pong_due = false;
	}
	(void)vmux_stalls(m, now);
	for (size_t i = m->nfl; i-- > 0;)
		(void)vmux_flow_step(m, i, now);
	/* Data: one read (up to VMUX_READ_FRAMES frames) per flow per pass while the queue
	 * has room; the flow read first moves on every step, so one flow that fills the queue
	 * in one read does not starve the others. */
	bool more = true;
	size_t start = m->nfl > 0 ? m->rr++ % m->nfl : 0;
	for (int pass = 0; more && pass < 8; pass++) {
		more = false;
		for (size_t k = 0; k < m->nfl; k++)
			more |= vmux_read(m, m->fl[(start + k) % m->nfl]);
	}
	/* Read interest only where a read could go somewhere. */
	bool room = vsess_slot(m->s, false) != NULL;
	for (size_t i = 0; i < m->nfl; i++) {
		struct vmux_flow *f = m->fl[i];
		bool live = f->f.state == VF_OPEN && f->created && !f->client_closed &&
		    !f->close_due && !f->fail_due;
		vflow_want_read(&f->f, live && ((room && f->down_credit > 0) ||
		    vmux_stall_over(m, f, now)));
	}
	/* A flow whose credit ran out in this pass: its deadline is armed now. */
	if (vmux_stalls(m, vflow_ms()))
		vsess_kick(m->s);
}

/* Closes every target (see vmux.h). */
void
vmux_close_all(struct vmux *m)
{
	for (size_t i = 0; i < m->nfl; i++)
		vflow_close(&m->fl[i]->f);
}

/* Flows created (see vmux.h). */
unsigned
vmux_flows(const struct vmux *m)
{
	return m->created_total;
}

/* A multiplexer (see vmux.h). */
struct vmux *
vmux_new(struct vsess *s, struct event_base *base, const struct vpn *v,
    struct vdns_res **dns)
{
	struct vmux *m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	m->s = s;
	m->base = base;
	m->v = v;
	m->dns = dns;
	evtimer_assign(&m->stall_ev, base, vmux_stall_cb, m);
	return m;
}

/* The /tun hook (see vmux.h). */
void
vmux_set_raw(struct vmux *m, vmux_raw_fn *fn, void *arg)
{
	m->raw = fn;
	m->raw_arg = arg;
}

/* Frees (see vmux.h). */
void
vmux_free(struct vmux *m)
{
	if (m == NULL)
		return;
	while (m->nfl > 0)
		vmux_remove(m, m->nfl - 1);
	event_del(&m->stall_ev);
	free(m->fl);
	free(m);
}
