/*
 * One VPN session (see vsess.h). One driver, vsess_step, runs after every event of either
 * side and does, in order: write what is queued for the client, write what is queued for
 * the target, decode client bytes into messages and act on them (only while nothing waits
 * for the target: that is the client->target backpressure), read the target (only while
 * the client's queue is under VSESS_OUT_HIGH: the target->client backpressure). Memory per
 * session is bounded: one input buffer, one message, one output queue, one target queue;
 * nothing grows with traffic. Each is taken only while bytes wait in it and given back when
 * it empties (STYLE rule 12: an idle session holds none): in, msg and tq come from
 * core/bufpool, out (larger than a pool buffer) is malloc'd. out is given back only when
 * vsess_step returns with it flushed, never while vmux holds a slot (vsess_slot/_seal).
 *
 * Order of the handshake checks (rvpn-protocol.md §12 #1, #2): Hello parse, allow-list,
 * replay cache, then X3DH and the ServerHello. An unknown key and a replay get no answer
 * at all, only the close a decoy would give. Messages are sealed right before they are
 * queued, so the wire order is the seal order (§6.5).
 */
#include "terminator/vpn/vsess.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/bufpool.h"
#include "core/deadline.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/yield.h"
#include "proto/rvpn/rvpn_cctx.h"
#include "proto/rvpn/rvpn_hello.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "proto/rvpn/rvpn_target.h"
#include "proto/rvpn/rvpn_vip.h"
#include "proto/rvpn/rvpn_wire.h"
#include "proto/rvpn/rvpn_x3dh.h"
#include "proto/ws.h"
#include "terminator/term_int.h"
#include "terminator/terminator.h"
#include "terminator/vpn/vdns.h"
#include "terminator/vpn/vflow.h"
#include "terminator/vpn/vmux.h"
#include "terminator/vpn/vreplay.h"
#include "terminator/vpn/vtun.h"

#define VSESS_IN_CAP     16384
#define VSESS_FRAME_MAX  (4 + RVPN_WIRE_HDR_LEN + RVPN_PAD_MAX + RVPN_WIRE_TAG_LEN)
#define VSESS_OUT_CAP    (VSESS_OUT_HIGH + 2 * VSESS_FRAME_MAX)
_Static_assert(SV_DNS_ERROR - SV_DNS_OK == VDNS_ERROR && SV_DNS_BUSY - SV_DNS_OK == VDNS_BUSY,
    "the /dns counters follow enum vdns_result");
_Static_assert(RVPN_WIRE_HDR_LEN + RVPN_DNS_MAX + RVPN_WIRE_TAG_LEN + 4 < VSESS_FRAME_MAX,
    "a DNS answer fits the room kept above VSESS_OUT_HIGH");
_Static_assert(4 + RVPN_WIRE_HDR_LEN + 8192 + RVPN_WIRE_TAG_LEN <= WS_OUT_MAX + 4,
    "a relay message fits one frame we may send");
_Static_assert(VSESS_IN_CAP <= BUFPOOL_SIZE && WS_MSG_MAX <= BUFPOOL_SIZE &&
    RVPN_PAD_MAX <= BUFPOOL_SIZE, "in, msg and tq come from core/bufpool");

enum vsess_state { VS_HELLO, VS_TARGET, VS_FLOW, VS_RELAY, VS_MUX, VS_DNS, VS_CLOSING };

struct vsess {
	struct term_conn       *c;
	struct event_base      *base;
	const struct vpn       *v;
	struct stats_entry     *st;
	unsigned                worker;
	enum vpn_path           path;
	enum vsess_state        state;
	const char             *end;        /* set once: why it ended */
	bool                    done;       /* ended: close after out is flushed */
	struct ws_dec           dec;
	struct rvpn_ratchet     r;
	bool                    ratchet;    /* r initialised */
	uint8_t                 ik[32];     /* the client's identity key */
	char                    name[VALLOW_NAME_MAX + 1];
	struct sockaddr_storage peer;
	uint64_t                t0, deadline, last_io; /* monotonic ms */
	uint64_t                bytes_in, bytes_out;   /* payload: client->target, back */
	unsigned                flows;
	struct event            timer;      /* armed for the nearest deadline only */
	uint64_t                armed;      /* when it fires (monotonic ms), 0: not armed */
	bool                    in_step;    /* vsess_step is running */
	bool                    rerun;      /* run the step again on the next loop turn */
	struct vsess_worker    *w;          /* its worker (the thread it runs on) */
	LIST_ENTRY(vsess)       wl;         /* in w->live */
	/* client -> us */
	uint8_t                *in;        /* VSESS_IN_CAP used; pool, while bytes wait */
	size_t                  in_off, in_len;
	uint8_t                *msg;       /* WS_MSG_MAX used; pool, while a message builds */
	size_t                  msg_len;
	bool                    msg_bin;
	/* us -> client */
	uint8_t                *out;       /* VSESS_OUT_CAP; malloc'd while bytes wait */
	size_t                  out_off, out_len, out_try;
	/* us -> target */
	uint8_t                *tq;        /* RVPN_PAD_MAX used; pool, per message */
	size_t                  tq_off, tq_len;
	size_t                  tq_used;   /* plaintext bytes written into tq: wiped on return */
	/* the /ws target */
	struct vdns_res        *dns;       /* the worker's resolver, taken on the first name */
	struct vflow            f;
	bool                    t_eof;
	/* the /mux flows */
	struct vmux            *mux;
	bool                    mux_dirty;  /* a message came since vmux_step last ran */
	struct vdns            *vd;         /* /dns: the resolver (vdns.c) */
	struct vtun_port       *tun;        /* /tun: the lease and its packets (vtun.c) */
};

/* ---- the worker: crypto context, live sessions, revocation watch ---- */

/*
 * One per worker thread (a session never leaves its worker's loop), made on its first
 * session and freed when the thread exits: the rvpn_cctx, so no per-message or per-session
 * set-up of OpenSSL contexts is paid (rvpn_cctx.h); and the worker's live sessions with
 * one timer that, while any live, notices a new allow-list (SIGHUP) every VSESS_WATCH_MS
 * and ends the sessions of removed keys. The sessions themselves arm a timer only for
 * their nearest real deadline (vsess_arm): an idle session costs no wake-ups.
 */
struct vsess_worker {
	struct rvpn_cctx  *cc;
	struct event_base *base;
	struct event       watch;
	bool               watching;
	unsigned           epoch;   /* allow-list version the live sessions were checked at */
	LIST_HEAD(, vsess) live;
	unsigned           n;
};

static pthread_once_t vsess_w_once = PTHREAD_ONCE_INIT;
static pthread_key_t  vsess_w_key;
static bool           vsess_w_keyed;

/* The thread-exit destructor of the key. A worker that still has sessions (it did not
 * close them) keeps its memory: its watch event may still sit in its base. */
static void
vsess_w_drop(void *arg)
{
	struct vsess_worker *w = arg;
	if (w->n > 0)
		return;
	rvpn_cctx_free(w->cc);
	free(w);
}

/* Makes the key, once per process. */
static void
vsess_w_init(void)
{
	vsess_w_keyed = pthread_key_create(&vsess_w_key, vsess_w_drop) == 0;
}

/* The calling thread's worker; NULL when it cannot be made. */
static struct vsess_worker *
vsess_w(void)
{
	if (pthread_once(&vsess_w_once, vsess_w_init) != 0 || !vsess_w_keyed)
		return NULL;
	struct vsess_worker *w = pthread_getspecific(vsess_w_key);
	if (w != NULL)
		return w;
	if ((w = calloc(1, sizeof *w)) == NULL)
		return NULL;
	LIST_INIT(&w->live);
	if ((w->cc = rvpn_cctx_new()) == NULL || pthread_setspecific(vsess_w_key, w) != 0) {
		rvpn_cctx_free(w->cc);
		free(w);
		return NULL;
	}
	return w;
}

/* The calling thread's crypto context; NULL when it cannot be made (the caller ends). */
static struct rvpn_cctx *
vsess_cc(void)
{
	struct vsess_worker *w = vsess_w();
	return w != NULL ? w->cc : NULL;
}

/* Counts one event of the session's path. */
static void
vsess_count(struct vsess *s, unsigned field, int64_t n)
{
	stats_add(s->st, s->worker, field, n);
}

/* Takes the output queue if the session holds none; false when out of memory. */
static bool
vsess_out_take(struct vsess *s)
{
	if (s->out == NULL && (s->out = malloc(VSESS_OUT_CAP)) == NULL)
		return false;
	return true;
}

/* Gives back the buffers that hold nothing (see the top of the file). Only where no slot
 * is held: vsess_step's returns. */
static void
vsess_trim(struct vsess *s)
{
	if (s->out != NULL && s->out_len == 0 && s->out_try == 0) {
		free(s->out);
		s->out = NULL;
		s->out_off = 0;
	}
	if (s->in != NULL && s->in_off == s->in_len) {
		bufpool_put(s->in);
		s->in = NULL;
		s->in_off = s->in_len = 0;
	}
	if (s->msg != NULL && s->msg_len == 0) {
		bufpool_put(s->msg);
		s->msg = NULL;
	}
	if (s->tq != NULL && s->tq_len == 0) {
		sodium_memzero(s->tq, s->tq_used); /* decrypted plaintext */
		bufpool_put(s->tq);
		s->tq = NULL;
		s->tq_used = 0;
	}
}

/* Ends the session: what is queued still goes out, then the connection closes. A close
 * code of 0 sends no Close frame (the silent close of the decoy). */
static void
vsess_end(struct vsess *s, const char *why, uint16_t code)
{
	if (s->done)
		return;
	s->done = true;
	s->end = why;
	s->state = VS_CLOSING;
	if (code != 0 && vsess_out_take(s) && s->out_len + 8 <= VSESS_OUT_CAP) {
		int n = ws_enc_close(s->out + s->out_len, VSESS_OUT_CAP - s->out_len, code, NULL, 0,
		    NULL);
		if (n > 0)
			s->out_len += (size_t)n;
	}
	vflow_close(&s->f);
	if (s->mux != NULL)
		vmux_close_all(s->mux);
}

/* Queues one unmasked frame for the client. */
static int
vsess_queue(struct vsess *s, enum ws_opcode op, const uint8_t *p, size_t len)
{
	if (!vsess_out_take(s)) {
		vsess_end(s, "no_memory", WS_CLOSE_INTERNAL);
		return -1;
	}
	if (s->out_try == 0 && s->out_off > 0) {
		memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
		s->out_len -= s->out_off;
		s->out_off = 0;
	}
	int n = ws_enc_frame(s->out + s->out_len, VSESS_OUT_CAP - s->out_len, op, p, len, NULL);
	if (n < 0)
		return -1;
	s->out_len += (size_t)n;
	return 0;
}

/* Pads and seals data already placed at out + out_len + 4 + RVPN_WIRE_HDR_LEN, then writes
 * the frame header in front of it. */
static int
vsess_seal_in_place(struct vsess *s, uint8_t type, size_t len)
{
	uint8_t *slot = s->out + s->out_len;
	uint8_t *pt = slot + 4 + RVPN_WIRE_HDR_LEN;
	size_t room = VSESS_OUT_CAP - s->out_len - 4 - RVPN_WIRE_HDR_LEN;
	struct rvpn_cctx *cc = vsess_cc();
	if (cc == NULL)
		return -1;
	int pl = rvpn_pad_cc(pt, room, len, cc);
	if (pl < 0)
		return -1;
	int wl = rvpn_ratchet_seal_cc(&s->r, cc, type, pt, (size_t)pl, NULL, slot + 4,
	    VSESS_OUT_CAP - s->out_len - 4);
	if (wl < 0 || ws_enc_header(slot, 4, WS_OP_BINARY, (size_t)wl, NULL) != 4)
		return -1;
	s->out_len += 4 + (size_t)wl;
	return 0;
}

/* ---- for the multiplexer (vsess.h) ---- */

/* Room for one more message (see vsess.h). */
uint8_t *
vsess_slot(struct vsess *s, bool control)
{
	if (s->done || (!control && s->out_len - s->out_off >= VSESS_OUT_HIGH))
		return NULL;
	if (!vsess_out_take(s)) {
		vsess_end(s, "no_memory", WS_CLOSE_INTERNAL);
		return NULL;
	}
	if (s->out_try == 0 && s->out_off > 0) {
		memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
		s->out_len -= s->out_off;
		s->out_off = 0;
	}
	if (s->out_len + VSESS_FRAME_MAX > VSESS_OUT_CAP)
		return NULL;
	return s->out + s->out_len + 4 + RVPN_WIRE_HDR_LEN;
}

/* Room for several data messages (see vsess.h). */
size_t
vsess_slots(struct vsess *s, size_t len, size_t max, uint8_t **first, size_t *stride)
{
	uint8_t *p = vsess_slot(s, false); /* the checks, the take and the compaction */
	size_t pl = rvpn_pad_len(len);
	if (p == NULL || pl == 0)
		return 0;
	size_t st = 4 + RVPN_WIRE_HDR_LEN + pl + RVPN_WIRE_TAG_LEN, n = 1;
	/* Message n fits when message n - 1 left the queue under VSESS_OUT_HIGH and one more
	 * frame of any size fits in the buffer: vsess_slot's two checks, n seals ahead. */
	while (n < max && s->out_len + n * st - s->out_off < VSESS_OUT_HIGH &&
	    s->out_len + n * st + VSESS_FRAME_MAX <= VSESS_OUT_CAP)
		n++;
	*first = p;
	*stride = st;
	return n;
}

/* Where the next message would be sealed (see vsess.h). */
const uint8_t *
vsess_next(const struct vsess *s)
{
	return s->out != NULL ? s->out + s->out_len + 4 + RVPN_WIRE_HDR_LEN : NULL;
}

/* Seals the slot's payload (see vsess.h). */
int
vsess_seal(struct vsess *s, uint8_t type, size_t len)
{
	if (vsess_seal_in_place(s, type, len) == -1) {
		vsess_end(s, "seal_failed", WS_CLOSE_INTERNAL);
		return -1;
	}
	return 0;
}

/* Payload bytes of the session (see vsess.h). */
void
vsess_account(struct vsess *s, uint64_t in, uint64_t out)
{
	s->bytes_in += in;
	s->bytes_out += out;
	if (in > 0)
		vsess_count(s, SV_BYTES_IN, (int64_t)in);
	if (out > 0)
		vsess_count(s, SV_BYTES_OUT, (int64_t)out);
}

/* One metric event (see vsess.h). */
void
vsess_stat(struct vsess *s, unsigned field, int64_t n)
{
	vsess_count(s, field, n);
}

/* Runs the driver soon (see vsess.h). Inside the step a kick of the connection's read
 * event would be undone by tconn_arm (event_del drops an active event too), so it waits
 * for the step's end (vsess_step). */
void
vsess_kick(struct vsess *s)
{
	if (s->in_step)
		s->rerun = true;
	else
		tconn_vpn_kick(s->c);
}

/* ---- the /ws target ---- */

/* The flow's events run the session. */
static void
vsess_kick_cb(void *arg)
{
	struct vsess *s = arg;
	tconn_vpn_kick(s->c);
}

/* The /ws target message: checks, then resolves or connects (vflow.c). */
static void
vsess_target(struct vsess *s, const uint8_t *p, size_t len)
{
	struct rvpn_target t;
	if (rvpn_target_decode(p, len, &t) == -1) {
		vsess_end(s, "bad_target", WS_CLOSE_POLICY);
		return;
	}
	s->flows++;
	s->state = VS_FLOW;
	s->deadline = 0; /* the flow keeps its own */
	vflow_start(&s->f, &s->dns, (const char *)p + t.host_off, t.host_len, t.port);
}

/* FLOW: how the resolve and connect went. */
static void
vsess_flow_check(struct vsess *s)
{
	vflow_poll(&s->f, vflow_ms());
	switch (s->f.state) {
	case VF_OPEN:
		vsess_count(s, SV_FLOWS_OK, 1);
		s->state = VS_RELAY;
		s->last_io = vflow_ms();
		break;
	case VF_DENIED:
		vsess_count(s, SV_FLOWS_DENIED, 1);
		vsess_end(s, "egress_denied", WS_CLOSE_POLICY);
		break;
	case VF_FAILED:
		vsess_count(s, SV_FLOWS_FAILED, 1);
		vsess_end(s, strcmp(s->f.why, "resolve failed") == 0 ? "resolve_failed" :
		    strcmp(s->f.why, "resolve timeout") == 0 ? "resolve_timeout" :
		    "connect_failed", WS_CLOSE_GOING_AWAY);
		break;
	default:
		break;
	}
}

/* Writes the target queue; false when the target failed. */
static bool
vsess_target_write(struct vsess *s)
{
	while (s->tq_off < s->tq_len) {
		ssize_t n = vflow_send(&s->f, s->tq + s->tq_off, s->tq_len - s->tq_off);
		if (n > 0) {
			s->tq_off += (size_t)n;
			continue;
		}
		if (n == VFLOW_AGAIN)
			return true; /* vflow watches writability */
		return false;
	}
	s->tq_off = s->tq_len = 0;
	return true;
}

/* Reads the target into sealed messages while the client's queue has room. */
static void
vsess_target_read(struct vsess *s)
{
	bool want = !s->t_eof;
	while (want && s->out_len - s->out_off < VSESS_OUT_HIGH) {
		if (!vsess_out_take(s)) {
			vsess_end(s, "no_memory", WS_CLOSE_INTERNAL);
			return;
		}
		if (s->out_try == 0 && s->out_off > 0) {
			memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
			s->out_len -= s->out_off;
			s->out_off = 0;
		}
		if (s->out_len + VSESS_FRAME_MAX > VSESS_OUT_CAP)
			break;
		uint8_t *p = s->out + s->out_len + 4 + RVPN_WIRE_HDR_LEN;
		ssize_t n = vflow_recv(&s->f, p, VSESS_RELAY_MAX);
		if (n > 0) {
			if (vsess_seal_in_place(s, RVPN_PT_DATA, (size_t)n) == -1) {
				vsess_end(s, "seal_failed", WS_CLOSE_INTERNAL);
				return;
			}
			s->bytes_out += (uint64_t)n;
			vsess_count(s, SV_BYTES_OUT, n);
			s->last_io = vflow_ms();
			continue;
		}
		if (n == VFLOW_AGAIN)
			break;
		/* §7.3: no half-close; the target's end is the session's end. */
		s->t_eof = true;
		vsess_end(s, n == 0 ? "target_closed" : "target_error", WS_CLOSE_NORMAL);
		return;
	}
	bool on = s->out_len - s->out_off < VSESS_OUT_HIGH && !s->t_eof;
	vflow_want_read(&s->f, on);
}

/* ---- /dns (the resolver is vdns.c; here only sealing and the queue) ---- */

/* True while the client's queue can take one more DNS answer. */
static bool
vsess_dns_room(const struct vsess *s)
{
	return s->out_len - s->out_off < VSESS_OUT_HIGH;
}

/* Seals one DnsResponse (type 0x09, unpadded: §7.2) and queues it; counts its result. */
static void
vsess_dns_send(struct vsess *s, const struct rvpn_dns_response *r, enum vdns_result res)
{
	uint8_t buf[RVPN_WIRE_HDR_LEN + RVPN_DNS_MAX + RVPN_WIRE_TAG_LEN];
	int n = rvpn_dns_response_emit((char *)buf + RVPN_WIRE_HDR_LEN, RVPN_DNS_MAX, r);
	struct rvpn_cctx *cc = vsess_cc();
	int wl = n < 0 || cc == NULL ? -1 : rvpn_ratchet_seal_cc(&s->r, cc, RVPN_PT_DNS_REPLY,
	    buf + RVPN_WIRE_HDR_LEN, (size_t)n, NULL, buf, sizeof buf);
	if (wl < 0 || vsess_queue(s, WS_OP_BINARY, buf, (size_t)wl) == -1) {
		vsess_end(s, "seal_failed", WS_CLOSE_INTERNAL);
		return;
	}
	vsess_count(s, SV_DNS_OK + (unsigned)res, 1);
	s->bytes_out += (uint64_t)n;
	vsess_count(s, SV_BYTES_OUT, n);
	s->last_io = vflow_ms();
}

/* Queues the answers that wait, while the client's queue has room. */
static void
vsess_dns_drain(struct vsess *s)
{
	struct rvpn_dns_response r;
	enum vdns_result res;
	while (!s->done && vsess_dns_room(s) && vdns_next(s->vd, &r, &res))
		vsess_dns_send(s, &r, res);
}

/* vdns has answers: run the session. */
static void
vsess_dns_ready(void *arg)
{
	struct vsess *s = arg;
	tconn_vpn_kick(s->c);
}

/* After the ServerHello on /dns: no target, queries until the client leaves. */
static void
vsess_dns_start(struct vsess *s)
{
	s->vd = vdns_new(s->base, &s->v->cv->dns, vsess_dns_ready, s);
	if (s->vd == NULL) {
		vsess_end(s, "internal", WS_CLOSE_INTERNAL);
		return;
	}
	s->state = VS_DNS;
	s->deadline = 0;
	s->last_io = vflow_ms();
}

/* One opened /dns message (plaintext in s->tq): a DnsQuery, never padded. */
static void
vsess_dns_query(struct vsess *s, uint8_t type, size_t len)
{
	struct rvpn_dns_response now;
	enum vdns_result res;
	int rc = type == RVPN_PT_DNS_QUERY ? vdns_query(s->vd, s->tq, len, &now, &res) : -1;
	if (rc == -1) {
		vsess_end(s, "bad_message", WS_CLOSE_POLICY);
		return;
	}
	s->flows++; /* a query is the /dns path's flow in the session line */
	s->bytes_in += len;
	vsess_count(s, SV_BYTES_IN, (int64_t)len);
	s->last_io = vflow_ms();
	if (rc == 1)
		vsess_dns_send(s, &now, res); /* room: decode runs only below VSESS_OUT_HIGH */
}

/* ---- /tun (the device, the leases and the packet checks are vtun.c) ---- */

/* A flow-1 frame of a /tun session: one IP packet for the device. */
static void
vsess_tun_packet(void *arg, const uint8_t *p, size_t len)
{
	struct vsess *s = arg;
	vtun_uplink(s->tun, s->v->cv, p, len);
}

/* After the ServerHello on /tun: the lease, then VirtualIp as the first message (§7.5);
 * the rest is the /mux machinery with packets for unknown flows. false: the session ended
 * (pool exhausted, out of memory). */
static bool
vsess_tun_start(struct vsess *s)
{
	bool exhausted;
	s->tun = vtun_attach(s, s->base, s->worker, s->st, s->ik, &exhausted);
	if (s->tun == NULL) {
		if (exhausted)
			vsess_count(s, SV_TUN_POOL_EXHAUSTED, 1);
		vsess_end(s, exhausted ? "pool_exhausted" : "internal", exhausted ?
		    VTUN_CLOSE_FULL : WS_CLOSE_INTERNAL);
		return false;
	}
	vmux_set_raw(s->mux, vsess_tun_packet, s);
	uint8_t *slot = vsess_slot(s, true);
	int n = slot == NULL ? -1 : vtun_vip(s->tun, s->v->cv, (char *)slot, RVPN_VIP_MAX);
	if (n < 0 || vsess_seal(s, RVPN_PT_VIRTUAL_IP, (size_t)n) == -1) {
		vsess_end(s, "internal", WS_CLOSE_INTERNAL);
		return false;
	}
	return true;
}

/* ---- client messages ---- */

/* The Hello: checks in the order of §12, then the ServerHello. */
static void
vsess_hello(struct vsess *s, const uint8_t *p, size_t len)
{
	struct rvpn_hello h;
	enum rvpn_hello_verdict hv = rvpn_hello_parse(p, len, &h);
	if (hv != RVPN_HELLO_OK) {
		if (hv == RVPN_HELLO_ERR_VERSION || hv == RVPN_HELLO_ERR_AUTH) {
			char e[256];
			int n = rvpn_error_emit(e, sizeof e, hv == RVPN_HELLO_ERR_VERSION ?
			    RVPN_ERROR_VERSION : RVPN_ERROR_AUTH);
			if (n > 0)
				(void)vsess_queue(s, WS_OP_BINARY, (const uint8_t *)e, (size_t)n);
		}
		vsess_count(s, hv == RVPN_HELLO_ERR_VERSION ? SV_HS_VERSION : SV_HS_BAD_HELLO, 1);
		vsess_end(s, hv == RVPN_HELLO_ERR_VERSION ? "version" : "bad_hello", 0);
		return;
	}
	if (!vpn_list_allows(h.identity_key, s->name, sizeof s->name)) {
		vsess_count(s, SV_HS_UNKNOWN_CLIENT, 1);
		vsess_end(s, "unknown_client", 0);
		return;
	}
	enum vreplay_rc rr = vreplay_check(s->v->replay, h.ephemeral_key, (uint64_t)time(NULL),
	    s->v->replay_window_s);
	if (rr != VREPLAY_NEW) {
		vsess_count(s, rr == VREPLAY_SEEN ? SV_HS_REPLAY : SV_HS_REPLAY_FULL, 1);
		vsess_end(s, rr == VREPLAY_SEEN ? "replay" : "replay_full", 0);
		return;
	}
	uint8_t sk[32];
	if (rvpn_x3dh_server(sk, NULL, s->v->id.seed, s->v->spk_priv, h.identity_key,
	    h.ephemeral_key) == -1 || rvpn_ratchet_init(&s->r, RVPN_ROLE_SERVER, sk, NULL) == -1) {
		sodium_memzero(sk, sizeof sk);
		vsess_count(s, SV_HS_BAD_HELLO, 1);
		vsess_end(s, "bad_hello", 0);
		return;
	}
	sodium_memzero(sk, sizeof sk);
	s->ratchet = true;
	memcpy(s->ik, h.identity_key, 32);
	char sh[RVPN_SERVER_HELLO_LEN];
	int n = rvpn_server_hello_emit(sh, sizeof sh, s->v->spk_pub, s->v->spk_sig,
	    s->v->id.ed_pub);
	if (n < 0 || vsess_queue(s, WS_OP_BINARY, (const uint8_t *)sh, (size_t)n) == -1) {
		vsess_end(s, "internal", WS_CLOSE_INTERNAL);
		return;
	}
	vsess_count(s, SV_HS_OK, 1);
	if (s->path == VPN_DNS) {
		vsess_dns_start(s);
		return;
	}
	if (s->path == VPN_MUX || s->path == VPN_TUN) {
		if ((s->mux = vmux_new(s, s->base, s->v, &s->dns)) == NULL) {
			vsess_end(s, "internal", WS_CLOSE_INTERNAL);
			return;
		}
		if (s->path == VPN_TUN && !vsess_tun_start(s))
			return;
		s->state = VS_MUX;
		s->deadline = 0;
		s->last_io = vflow_ms();
		return;
	}
	s->state = VS_TARGET;
	s->deadline = vflow_ms() + VSESS_TARGET_MS;
}

/* One whole client message after the handshake. */
static void
vsess_message(struct vsess *s)
{
	if (s->state == VS_HELLO) {
		vsess_hello(s, s->msg, s->msg_len);
		return;
	}
	size_t n;
	uint8_t type;
	if (s->tq == NULL && (s->tq = bufpool_get()) == NULL) {
		vsess_end(s, "no_memory", WS_CLOSE_INTERNAL);
		return;
	}
	struct rvpn_cctx *cc = vsess_cc();
	if (cc == NULL) {
		vsess_end(s, "no_memory", WS_CLOSE_INTERNAL);
		return;
	}
	enum rvpn_open_verdict ov = rvpn_ratchet_open_cc(&s->r, cc, s->msg, s->msg_len, s->tq,
	    RVPN_PAD_MAX, &n, &type);
	if (ov == RVPN_OPEN_OK && n > s->tq_used)
		s->tq_used = n;
	if (ov != RVPN_OPEN_OK) {
		vsess_end(s, "bad_message", WS_CLOSE_POLICY);
		return;
	}
	if (s->state == VS_DNS) {
		vsess_dns_query(s, type, n);
		return;
	}
	size_t dl;
	if (rvpn_unpad(s->tq, n, &dl) == -1) {
		vsess_end(s, "bad_message", WS_CLOSE_POLICY);
		return;
	}
	if (s->state == VS_MUX) {
		/* §7.4: control in Admin (0x02), data in Data (0x01); the flow id decides. */
		const char *why = NULL;
		if ((type != RVPN_PT_DATA && type != RVPN_PT_ADMIN && type != RVPN_PT_LEGACY) ||
		    !vmux_message(s->mux, s->tq, dl, &why))
			vsess_end(s, why != NULL ? why : "bad_message", WS_CLOSE_POLICY);
		s->mux_dirty = true;
		s->last_io = vflow_ms();
		return;
	}
	if (type != RVPN_PT_DATA && type != RVPN_PT_LEGACY) {
		vsess_end(s, "bad_message", WS_CLOSE_POLICY);
		return;
	}
	if (s->state == VS_TARGET) {
		vsess_target(s, s->tq, dl);
		return;
	}
	s->tq_off = 0;
	s->tq_len = dl;
	s->bytes_in += dl;
	vsess_count(s, SV_BYTES_IN, (int64_t)dl);
	s->last_io = vflow_ms();
}

/* What vsess_decode stopped on. */
enum vsess_dec { VD_READ, VD_AGAIN, VD_WAIT };

/* True while client messages may be decoded: nothing waits for a target (the
 * client->target backpressure). */
static bool
vsess_takes(const struct vsess *s)
{
	if (s->done)
		return false;
	if (s->state == VS_MUX)
		return vmux_can_take(s->mux);
	return s->tq_len == 0 && (s->state == VS_HELLO || s->state == VS_TARGET ||
	    s->state == VS_RELAY || (s->state == VS_DNS && vsess_dns_room(s)));
}

/* Decodes buffered client bytes until a message wants the target or more bytes are needed:
 * VD_READ when the bytes are exhausted (read more), VD_AGAIN after progress, VD_WAIT when
 * a target must move first (its events run the session again). */
static enum vsess_dec
vsess_decode(struct vsess *s)
{
	if (!vsess_takes(s))
		return s->done ? VD_AGAIN : VD_WAIT;
	while (vsess_takes(s)) {
		size_t used;
		struct ws_event ev;
		static uint8_t none[1]; /* never written: its length is 0 */
		uint8_t *ip = s->in != NULL ? s->in + s->in_off : none;
		enum ws_verdict wv = ws_dec_feed(&s->dec, ip, s->in_len - s->in_off, &used, &ev);
		s->in_off += used;
		switch (wv) {
		case WS_MORE:
			s->in_off = s->in_len = 0;
			return VD_READ;
		case WS_DATA:
			if (ev.opcode != WS_OP_BINARY) {
				vsess_end(s, "text_frame", WS_CLOSE_BAD_DATA);
				return VD_AGAIN;
			}
			if (s->msg == NULL && (s->msg = bufpool_get()) == NULL) {
				vsess_end(s, "no_memory", WS_CLOSE_INTERNAL);
				return VD_AGAIN;
			}
			memcpy(s->msg + s->msg_len, ev.data, ev.len); /* ws_dec bounds it by msg_max */
			s->msg_len += ev.len;
			if (ev.fin) {
				vsess_message(s);
				s->msg_len = 0;
			}
			break;
		case WS_PING:
			if (vsess_queue(s, WS_OP_PONG, ev.data, ev.len) == -1)
				vsess_end(s, "internal", WS_CLOSE_INTERNAL);
			break;
		case WS_PONG:
			break;
		case WS_CLOSE:
			vsess_end(s, "client_closed", WS_CLOSE_NORMAL);
			return VD_AGAIN;
		default:
			vsess_end(s, wv == WS_ERR_TOO_BIG ? "message_too_big" : "ws_error",
			    ws_verdict_close_code(wv));
			return VD_AGAIN;
		}
	}
	return VD_AGAIN;
}

/* ---- the driver ---- */

/* The nearest deadline of the session (monotonic ms), 0 for none: the Hello or /ws target
 * wait, the /ws flow's resolve or connect, a /mux flow's, and the idle limit. */
static uint64_t
vsess_due(const struct vsess *s)
{
	uint64_t due = 0;
	if (s->done)
		return 0; /* what is queued goes out or the connection fails: no deadline */
	switch (s->state) {
	case VS_HELLO:
	case VS_TARGET:
		due = s->deadline;
		break;
	case VS_FLOW:
		if (s->f.state == VF_RESOLVE || s->f.state == VF_CONNECT)
			due = s->f.deadline;
		break;
	case VS_MUX:
	case VS_RELAY:
	case VS_DNS:
		/* A /mux flow's resolve and connect deadlines need nothing here: its race timer
		 * (vflow.c) kicks the session when they come. */
		due = s->last_io + VSESS_IDLE_MS;
		break;
	default:
		break;
	}
	return due;
}

/* Arms the timer for the nearest deadline. Lazy: a timer already due no later is left as
 * it is (it finds nothing due, and the step it runs arms again), so traffic that moves
 * the idle deadline on costs no timer operation per message. */
static void
vsess_arm(struct vsess *s)
{
	uint64_t due = vsess_due(s);
	if (due == 0 || (s->armed != 0 && s->armed <= due))
		return;
	uint64_t now = vflow_ms(), ms = due > now ? due - now : 0;
	if (deadline_add(&s->timer, ms) == 0)
		s->armed = due;
}

/* The session's timer: the Hello / target wait and idle end here; flow deadlines in the
 * step it runs (vflow_poll, vmux_step). */
static void
vsess_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct vsess *s = arg;
	uint64_t now = vflow_ms();
	s->armed = 0;
	if (!s->done && s->deadline != 0 && now >= s->deadline &&
	    (s->state == VS_HELLO || s->state == VS_TARGET)) {
		if (s->state == VS_HELLO) {
			vsess_count(s, SV_HS_TIMEOUT, 1);
			vsess_end(s, "hello_timeout", 0);
		} else {
			vsess_end(s, "target_timeout", WS_CLOSE_POLICY);
		}
	}
	if (!s->done && (s->state == VS_RELAY || s->state == VS_MUX || s->state == VS_DNS) &&
	    now - s->last_io >= VSESS_IDLE_MS)
		vsess_end(s, "idle_timeout", WS_CLOSE_NORMAL);
	tconn_vpn_kick(s->c);
}

/* The worker's watch: a new allow-list ends the live sessions of keys no longer on it. */
static void
vsess_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct vsess_worker *w = arg;
	unsigned e = vpn_list_epoch();
	if (e == w->epoch)
		return;
	w->epoch = e;
	struct vsess *s;
	LIST_FOREACH(s, &w->live, wl) {
		if (!s->done && s->ratchet && !vpn_list_allows(s->ik, NULL, 0)) {
			vsess_end(s, "revoked", WS_CLOSE_POLICY);
			tconn_vpn_kick(s->c);
		}
	}
}

/* Puts s on its worker's live list; starts the watch with the first. */
static bool
vsess_join(struct vsess *s)
{
	struct vsess_worker *w = vsess_w();
	if (w == NULL)
		return false;
	if (w->n == 0) {
		w->base = s->base;
		w->epoch = vpn_list_epoch();
		event_assign(&w->watch, w->base, -1, EV_PERSIST, vsess_watch_cb, w);
		if (deadline_add(&w->watch, VSESS_WATCH_MS) != 0)
			return false;
		w->watching = true;
	}
	LIST_INSERT_HEAD(&w->live, s, wl);
	w->n++;
	s->w = w;
	return true;
}

/* Takes s off its worker's list; stops the watch with the last. */
static void
vsess_leave(struct vsess *s)
{
	struct vsess_worker *w = s->w;
	if (w == NULL)
		return;
	LIST_REMOVE(s, wl);
	s->w = NULL;
	if (--w->n == 0 && w->watching) {
		event_del(&w->watch);
		w->watching = false;
	}
}

static bool vsess_run(struct vsess *s);

/* Runs the session (see vsess.h), then arms its timer. */
bool
vsess_step(struct vsess *s)
{
	s->in_step = true;
	s->rerun = false;
	bool live = vsess_run(s);
	s->in_step = false;
	if (!live)
		return false;
	if (s->rerun) {
		/* Through the session's own event: the connection's read event would be
		 * deleted, active or not, by tconn_arm when the step wants no read. Its
		 * callback kicks the connection from outside the step; the step re-arms. */
		s->armed = 0;
		yield_event(&s->timer, EV_TIMEOUT); /* after the next poll: others first */
		return true;
	}
	vsess_arm(s);
	return true;
}

/* The driver of vsess_step: I/O, the target, the client's messages. */
static bool
vsess_run(struct vsess *s)
{
	for (int round = 0; round < 64; round++) {
		/* 1. The client's queue. */
		bool w_blocked = false;
		while (s->out_off < s->out_len) {
			if (s->out_try == 0) {
				size_t left = s->out_len - s->out_off;
				s->out_try = left < 16384 ? left : 16384;
			}
			ssize_t n = tconn_vpn_write(s->c, s->out + s->out_off, s->out_try);
			if (n == TCONN_IO_AGAIN) {
				w_blocked = true; /* the connection waits for writability */
				break;
			}
			if (n < 0) {
				if (!s->done)
					vsess_end(s, "client_error", 0);
				return false;
			}
			s->out_off += (size_t)n;
			s->out_try = 0;
		}
		if (s->out_off == s->out_len && s->out_try == 0)
			s->out_off = s->out_len = 0;
		bool flushed = s->out_len == 0;
		if (s->done) {
			vsess_trim(s);
			/* Ended: live until the last bytes (the Close frame) are in the kernel,
			 * including what the connection's write BIO holds. */
			return !flushed || tconn_vpn_flush(s->c) == TCONN_IO_AGAIN;
		}
		/* 2. The target. */
		if (s->state == VS_FLOW)
			vsess_flow_check(s);
		if (s->state == VS_RELAY) {
			if (!vsess_target_write(s)) {
				vsess_end(s, "target_error", WS_CLOSE_GOING_AWAY);
				continue;
			}
			vsess_target_read(s);
			if (s->done)
				continue;
		}
		if (s->state == VS_DNS) {
			vsess_dns_drain(s);
			if (s->done)
				continue;
		}
		if (s->state == VS_MUX) {
			s->mux_dirty = false;
			vmux_step(s->mux);
			if (s->tun != NULL && !s->done)
				vtun_step(s->tun); /* /tun: packets from the device */
			if (s->done)
				continue;
		}
		/* 3. The client's messages, while nothing waits for the target. */
		if (s->out_len - s->out_off >= VSESS_OUT_HIGH) {
			if (!w_blocked)
				continue; /* the target refilled the queue: flush it first */
			vsess_trim(s);
			return true; /* the client reads slowly: its bytes wait in the kernel */
		}
		/* Before waiting, what steps 2 and 3 queued goes out (a WindowUpdate or data the
		 * client waits for must not sit until the next tick), and what the last messages
		 * asked of the flows is done. */
		enum vsess_dec d = vsess_decode(s);
		/* Asked after decoding: a message just taken may have queued an answer (the
		 * ServerHello after the Hello), which must not wait for the tick either. */
		bool unsent = s->out_off < s->out_len && !w_blocked;
		if (d == VD_WAIT) {
			if (unsent || s->mux_dirty)
				continue;
			vsess_trim(s);
			return true;
		}
		if (d == VD_AGAIN)
			continue;
		if (s->in == NULL && (s->in = bufpool_get()) == NULL) {
			vsess_end(s, "no_memory", WS_CLOSE_INTERNAL);
			continue;
		}
		ssize_t n = tconn_vpn_read(s->c, s->in, VSESS_IN_CAP);
		if (n == TCONN_IO_AGAIN) {
			if (unsent || s->mux_dirty)
				continue;
			vsess_trim(s);
			return true;
		}
		if (n <= 0) {
			vsess_end(s, n == TCONN_IO_EOF ? "client_closed" : "client_error", 0);
			s->out_off = s->out_len = 0; /* nobody to send to */
			return false;
		}
		s->in_off = 0;
		s->in_len = (size_t)n;
	}
	s->rerun = true; /* fairness: continue on the next loop turn */
	vsess_trim(s);
	return true;
}

/* Starts a session (see vsess.h). */
struct vsess *
vsess_new(struct term_conn *c, struct event_base *base, const struct vpn *v,
    enum vpn_path path, const struct sockaddr_storage *peer, unsigned worker)
{
	struct vsess *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->c = c;
	s->base = base;
	s->v = v;
	s->path = path;
	s->st = v->stats[path];
	s->worker = worker;
	vflow_init(&s->f, base, v->cv, vsess_kick_cb, s);
	if (peer != NULL)
		s->peer = *peer;
	s->t0 = vflow_ms();
	s->deadline = s->t0 + VSESS_HELLO_MS;
	ws_dec_init(&s->dec, WS_ROLE_SERVER, WS_MSG_MAX);
	event_assign(&s->timer, base, -1, 0, vsess_timer_cb, s);
	if (!vsess_join(s)) {
		free(s);
		return NULL;
	}
	vsess_arm(s);
	vsess_count(s, SV_SESSIONS_ACTIVE, 1);
	return s;
}

/* Bytes the client sent right behind its upgrade request (see vsess.h). */
void
vsess_preload(struct vsess *s, const uint8_t *buf, size_t len)
{
	if (len == 0)
		return;
	if (len > VSESS_IN_CAP)
		len = VSESS_IN_CAP; /* cannot happen: the head buffer is no larger */
	if (s->in == NULL && (s->in = bufpool_get()) == NULL) {
		vsess_end(s, "no_memory", WS_CLOSE_INTERNAL);
		return;
	}
	memcpy(s->in, buf, len);
	s->in_off = 0;
	s->in_len = len;
}

/* Why it ended. */
const char *
vsess_end_reason(const struct vsess *s)
{
	return s->end != NULL ? s->end : "client_closed";
}

/* The access-log fields (see vsess.h). */
void
vsess_report(const struct vsess *s, struct term_vpn *out)
{
	out->path = vpn_path_name(s->path);
	out->key = s->name[0] != '\0' ? s->name : NULL;
	out->flows = s->mux != NULL ? vmux_flows(s->mux) : s->flows;
	out->bytes_in = s->bytes_in;
	out->bytes_out = s->bytes_out;
	out->duration_ms = vflow_ms() - s->t0;
	out->lease = s->tun != NULL ? vtun_lease(s->tun) : NULL;
}

/* Frees the session and writes its log line (no key, no payload). */
void
vsess_free(struct vsess *s)
{
	if (s == NULL)
		return;
	char addr[INET6_ADDRSTRLEN + 8] = "-";
	if (s->peer.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&s->peer)->sin_addr, addr, sizeof addr);
	else if (s->peer.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&s->peer)->sin6_addr, addr, sizeof addr);
	log_write(LOG_LEVEL_INFO, "vpn session client=%s key=\"%s\" path=%s flows=%u "
	    "bytes_in=%llu bytes_out=%llu duration_ms=%llu end=%s%s%s", addr,
	    s->name[0] ? s->name : "-", vpn_path_name(s->path),
	    s->mux != NULL ? vmux_flows(s->mux) : s->flows,
	    (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
	    (unsigned long long)(vflow_ms() - s->t0), vsess_end_reason(s),
	    s->tun != NULL ? " lease=" : "", s->tun != NULL ? vtun_lease(s->tun) : "");
	vsess_count(s, SV_SESSIONS_ACTIVE, -1);
	vpn_session_give();
	vtun_detach(s->tun); /* first: no packet is queued for s after this */
	event_del(&s->timer);
	vsess_leave(s);
	vflow_close(&s->f);
	vmux_free(s->mux);
	vdns_res_drop(s->dns);
	vdns_free(s->vd);
	if (s->ratchet)
		rvpn_ratchet_wipe(&s->r);
	if (s->msg != NULL)
		sodium_memzero(s->msg, s->msg_len);
	bufpool_put(s->msg);
	if (s->tq != NULL)
		sodium_memzero(s->tq, s->tq_used);
	bufpool_put(s->tq);
	bufpool_put(s->in);
	free(s->out);
	free(s);
}
