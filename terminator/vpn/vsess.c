/*
 * One VPN session (see vsess.h). One driver, vsess_step, runs after every event of either
 * side and does, in order: write what is queued for the client, write what is queued for
 * the target, decode client bytes into messages and act on them (only while nothing waits
 * for the target: that is the client->target backpressure), read the target (only while
 * the client's queue is under VSESS_OUT_HIGH: the target->client backpressure). Memory per
 * session is fixed at its start: one input buffer, one message, one output queue, one
 * target queue; nothing grows with traffic.
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
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/dial.h"
#include "core/egress.h"
#include "core/log.h"
#include "core/stats.h"
#include "proto/rvpn/rvpn_hello.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "proto/rvpn/rvpn_target.h"
#include "proto/rvpn/rvpn_wire.h"
#include "proto/rvpn/rvpn_x3dh.h"
#include "proto/ws.h"
#include "terminator/term_int.h"
#include "terminator/vpn/vdns.h"
#include "terminator/vpn/vreplay.h"

#define VSESS_IN_CAP     16384
#define VSESS_ADDRS_MAX  8  /* resolved addresses tried per target */
#define VSESS_FRAME_MAX  (4 + RVPN_WIRE_HDR_LEN + RVPN_PAD_MAX + RVPN_WIRE_TAG_LEN)
#define VSESS_OUT_CAP    (VSESS_OUT_HIGH + 2 * VSESS_FRAME_MAX)
_Static_assert(SV_DNS_ERROR - SV_DNS_OK == VDNS_ERROR && SV_DNS_BUSY - SV_DNS_OK == VDNS_BUSY,
    "the /dns counters follow enum vdns_result");
_Static_assert(RVPN_WIRE_HDR_LEN + RVPN_DNS_MAX + RVPN_WIRE_TAG_LEN + 4 < VSESS_FRAME_MAX,
    "a DNS answer fits the room kept above VSESS_OUT_HIGH");
_Static_assert(4 + RVPN_WIRE_HDR_LEN + 8192 + RVPN_WIRE_TAG_LEN <= WS_OUT_MAX + 4,
    "a relay message fits one frame we may send");

enum vsess_state { VS_HELLO, VS_TARGET, VS_RESOLVE, VS_CONNECT, VS_RELAY, VS_DNS, VS_CLOSING };

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
	unsigned                epoch;      /* allow-list version last checked */
	struct sockaddr_storage peer;
	uint64_t                t0, deadline, last_io; /* monotonic ms */
	uint64_t                bytes_in, bytes_out;   /* payload: client->target, back */
	unsigned                flows;
	struct event            tick;
	/* client -> us */
	uint8_t                 in[VSESS_IN_CAP];
	size_t                  in_off, in_len;
	uint8_t                 msg[WS_MSG_MAX];
	size_t                  msg_len;
	bool                    msg_bin;
	/* us -> client */
	uint8_t                *out;
	size_t                  out_off, out_len, out_try;
	/* us -> target */
	uint8_t                 tq[RVPN_PAD_MAX];
	size_t                  tq_off, tq_len;
	/* the target */
	char                    host[RVPN_TARGET_MAX_HOST + 1];
	uint16_t                port;
	struct evdns_base      *dns;
	struct evdns_getaddrinfo_request *dreq;
	struct sockaddr_storage addrs[VSESS_ADDRS_MAX];
	unsigned                naddrs, next_addr, denied;
	int                     tfd;
	struct event            trev, twev;
	bool                    tr_on, tw_on, t_eof;
	struct vdns            *vd;         /* /dns: the resolver (vdns.c) */
};

/* Monotonic milliseconds. */
static uint64_t
vsess_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Counts one event of the session's path. */
static void
vsess_count(struct vsess *s, unsigned field, int64_t n)
{
	stats_add(s->st, s->worker, field, n);
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
	if (code != 0 && s->out_len + 8 <= VSESS_OUT_CAP) {
		int n = ws_enc_close(s->out + s->out_len, VSESS_OUT_CAP - s->out_len, code, NULL, 0,
		    NULL);
		if (n > 0)
			s->out_len += (size_t)n;
	}
	if (s->tfd != -1) {
		event_del(&s->trev);
		event_del(&s->twev);
		close(s->tfd);
		s->tfd = -1;
	}
}

/* Queues one unmasked frame for the client. */
static int
vsess_queue(struct vsess *s, enum ws_opcode op, const uint8_t *p, size_t len)
{
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
vsess_seal_in_place(struct vsess *s, size_t len)
{
	uint8_t *slot = s->out + s->out_len;
	uint8_t *pt = slot + 4 + RVPN_WIRE_HDR_LEN;
	size_t room = VSESS_OUT_CAP - s->out_len - 4 - RVPN_WIRE_HDR_LEN;
	int pl = rvpn_pad(pt, room, len, RVPN_PAD_RANDOM);
	if (pl < 0)
		return -1;
	int wl = rvpn_ratchet_seal(&s->r, RVPN_PT_DATA, pt, (size_t)pl, NULL, slot + 4,
	    VSESS_OUT_CAP - s->out_len - 4);
	if (wl < 0 || ws_enc_header(slot, 4, WS_OP_BINARY, (size_t)wl, NULL) != 4)
		return -1;
	s->out_len += 4 + (size_t)wl;
	return 0;
}

/* ---- the target ---- */

static void vsess_target_cb(evutil_socket_t fd, short what, void *arg);

/* Tries the next resolved address the egress policy permits; ends the session when none
 * is left. */
static void
vsess_connect_next(struct vsess *s)
{
	while (s->next_addr < s->naddrs) {
		struct sockaddr_storage *a = &s->addrs[s->next_addr++];
		if (!egress_permits(&s->v->cv->egress, (struct sockaddr *)a)) {
			s->denied++;
			continue;
		}
		socklen_t al = a->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6);
		int fd;
		if (dial_start((struct sockaddr *)a, al, &fd) != DIAL_PENDING)
			continue;
		s->tfd = fd;
		event_assign(&s->trev, s->base, fd, EV_READ | EV_PERSIST, vsess_target_cb, s);
		event_assign(&s->twev, s->base, fd, EV_WRITE | EV_PERSIST, vsess_target_cb, s);
		event_add(&s->twev, NULL);
		s->tw_on = true;
		s->tr_on = false;
		s->state = VS_CONNECT;
		s->deadline = vsess_ms() + VSESS_CONNECT_MS;
		return;
	}
	if (s->denied > 0 && s->denied == s->naddrs) {
		vsess_count(s, SV_FLOWS_DENIED, 1);
		vsess_end(s, "egress_denied", WS_CLOSE_POLICY);
	} else {
		vsess_count(s, SV_FLOWS_FAILED, 1);
		vsess_end(s, "connect_failed", WS_CLOSE_GOING_AWAY);
	}
}

/* evdns answered. */
static void
vsess_dns_cb(int err, struct evutil_addrinfo *res, void *arg)
{
	struct vsess *s = arg;
	s->dreq = NULL;
	if (err == EVUTIL_EAI_CANCEL)
		return; /* the session is being freed */
	s->naddrs = 0;
	for (struct evutil_addrinfo *ai = res; ai != NULL && s->naddrs < VSESS_ADDRS_MAX;
	    ai = ai->ai_next) {
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    ai->ai_addrlen <= sizeof s->addrs[0])
			memcpy(&s->addrs[s->naddrs++], ai->ai_addr, ai->ai_addrlen);
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (err != 0 || s->naddrs == 0) {
		vsess_count(s, SV_FLOWS_FAILED, 1);
		vsess_end(s, "resolve_failed", WS_CLOSE_GOING_AWAY);
	} else {
		vsess_connect_next(s);
	}
	tconn_vpn_kick(s->c);
}

/* The /ws target message: checks, then resolves or connects. */
static void
vsess_target(struct vsess *s, const uint8_t *p, size_t len)
{
	struct rvpn_target t;
	if (rvpn_target_decode(p, len, &t) == -1) {
		vsess_end(s, "bad_target", WS_CLOSE_POLICY);
		return;
	}
	const char *h = (const char *)p + t.host_off;
	size_t hl = t.host_len;
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2; /* §7.3: an HTTP-CONNECT front end may pass [v6] */
	}
	memcpy(s->host, h, hl);
	s->host[hl] = '\0';
	s->port = t.port;
	s->flows++;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&s->addrs[0];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&s->addrs[0];
	memset(&s->addrs[0], 0, sizeof s->addrs[0]);
	if (inet_pton(AF_INET, s->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(t.port);
	} else if (inet_pton(AF_INET6, s->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(t.port);
	} else {
		s->state = VS_RESOLVE;
		s->deadline = vsess_ms() + s->v->cv->dns.timeout_ms + 1000;
		int flags = s->v->cv->dns.nservers > 0 ? 0 : EVDNS_BASE_INITIALIZE_NAMESERVERS;
		s->dns = evdns_base_new(s->base, flags);
		if (s->dns == NULL) {
			vsess_count(s, SV_FLOWS_FAILED, 1);
			vsess_end(s, "resolve_failed", WS_CLOSE_INTERNAL);
			return;
		}
		for (size_t i = 0; i < s->v->cv->dns.nservers; i++) {
			const struct conf_addr *a = &s->v->cv->dns.servers[i];
			evdns_base_nameserver_sockaddr_add(s->dns, (const struct sockaddr *)&a->ss,
			    a->ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
			    sizeof(struct sockaddr_in6), 0);
		}
		if (s->v->cv->dns.nservers > 0)
			evdns_base_load_hosts(s->dns, NULL);
		char tm[32];
		snprintf(tm, sizeof tm, "%.3f", (double)s->v->cv->dns.timeout_ms / 1000.0);
		evdns_base_set_option(s->dns, "timeout:", tm);
		evdns_base_set_option(s->dns, "attempts:", "2");
		char port[8];
		snprintf(port, sizeof port, "%u", (unsigned)t.port);
		struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
			.ai_protocol = IPPROTO_TCP };
		s->dreq = evdns_getaddrinfo(s->dns, s->host, port, &hints, vsess_dns_cb, s);
		return; /* the callback may already have run (hosts, cache) */
	}
	s->naddrs = 1;
	s->next_addr = 0;
	vsess_connect_next(s);
}

/* Readiness of the target socket. */
static void
vsess_target_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct vsess *s = arg;
	tconn_vpn_kick(s->c);
}

/* CONNECT: how the connect ended. */
static void
vsess_connect_check(struct vsess *s)
{
	int e = dial_result(s->tfd);
	if (e == EINPROGRESS || e == EALREADY)
		return;
	if (e != 0) {
		event_del(&s->twev);
		close(s->tfd);
		s->tfd = -1;
		s->tw_on = false;
		vsess_connect_next(s);
		return;
	}
	vsess_count(s, SV_FLOWS_OK, 1);
	event_del(&s->twev);
	s->tw_on = false;
	s->state = VS_RELAY;
	s->deadline = 0;
	s->last_io = vsess_ms();
}

/* Writes the target queue; false when the target failed. */
static bool
vsess_target_write(struct vsess *s)
{
	while (s->tq_off < s->tq_len) {
		ssize_t n = send(s->tfd, s->tq + s->tq_off, s->tq_len - s->tq_off, MSG_NOSIGNAL);
		if (n > 0) {
			s->tq_off += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (!s->tw_on) {
				event_add(&s->twev, NULL);
				s->tw_on = true;
			}
			return true;
		}
		return false;
	}
	s->tq_off = s->tq_len = 0;
	if (s->tw_on) {
		event_del(&s->twev);
		s->tw_on = false;
	}
	return true;
}

/* Reads the target into sealed messages while the client's queue has room. */
static void
vsess_target_read(struct vsess *s)
{
	bool want = !s->t_eof;
	while (want && s->out_len - s->out_off < VSESS_OUT_HIGH) {
		if (s->out_try == 0 && s->out_off > 0) {
			memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
			s->out_len -= s->out_off;
			s->out_off = 0;
		}
		if (s->out_len + VSESS_FRAME_MAX > VSESS_OUT_CAP)
			break;
		uint8_t *p = s->out + s->out_len + 4 + RVPN_WIRE_HDR_LEN;
		ssize_t n = recv(s->tfd, p, VSESS_RELAY_MAX, 0);
		if (n > 0) {
			if (vsess_seal_in_place(s, (size_t)n) == -1) {
				vsess_end(s, "seal_failed", WS_CLOSE_INTERNAL);
				return;
			}
			s->bytes_out += (uint64_t)n;
			vsess_count(s, SV_BYTES_OUT, n);
			s->last_io = vsess_ms();
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		/* §7.3: no half-close; the target's end is the session's end. */
		s->t_eof = true;
		vsess_end(s, n == 0 ? "target_closed" : "target_error", WS_CLOSE_NORMAL);
		return;
	}
	bool on = s->out_len - s->out_off < VSESS_OUT_HIGH && !s->t_eof;
	if (on != s->tr_on) {
		if (on)
			event_add(&s->trev, NULL);
		else
			event_del(&s->trev);
		s->tr_on = on;
	}
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
	int wl = n < 0 ? -1 : rvpn_ratchet_seal(&s->r, RVPN_PT_DNS_REPLY, buf + RVPN_WIRE_HDR_LEN,
	    (size_t)n, NULL, buf, sizeof buf);
	if (wl < 0 || vsess_queue(s, WS_OP_BINARY, buf, (size_t)wl) == -1) {
		vsess_end(s, "seal_failed", WS_CLOSE_INTERNAL);
		return;
	}
	vsess_count(s, SV_DNS_OK + (unsigned)res, 1);
	s->bytes_out += (uint64_t)n;
	vsess_count(s, SV_BYTES_OUT, n);
	s->last_io = vsess_ms();
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
	s->last_io = vsess_ms();
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
	s->last_io = vsess_ms();
	if (rc == 1)
		vsess_dns_send(s, &now, res); /* room: decode runs only below VSESS_OUT_HIGH */
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
	s->epoch = vpn_list_epoch();
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
	s->state = VS_TARGET;
	s->deadline = vsess_ms() + VSESS_TARGET_MS;
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
	enum rvpn_open_verdict ov = rvpn_ratchet_open(&s->r, s->msg, s->msg_len, s->tq,
	    sizeof s->tq, &n, &type);
	if (ov != RVPN_OPEN_OK) {
		vsess_end(s, "bad_message", WS_CLOSE_POLICY);
		return;
	}
	if (s->state == VS_DNS) {
		vsess_dns_query(s, type, n);
		return;
	}
	size_t dl;
	if (rvpn_unpad(s->tq, n, &dl) == -1 || (type != RVPN_PT_DATA && type != RVPN_PT_LEGACY)) {
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
	s->last_io = vsess_ms();
}

/* Decodes buffered client bytes until a message wants the target or more bytes are needed.
 * Returns false when the client's bytes are exhausted (read more). */
static bool
vsess_decode(struct vsess *s)
{
	while (!s->done && s->tq_len == 0 && (s->state == VS_HELLO || s->state == VS_TARGET ||
	    s->state == VS_RELAY || (s->state == VS_DNS && vsess_dns_room(s)))) {
		size_t used;
		struct ws_event ev;
		enum ws_verdict wv = ws_dec_feed(&s->dec, s->in + s->in_off, s->in_len - s->in_off,
		    &used, &ev);
		s->in_off += used;
		switch (wv) {
		case WS_MORE:
			s->in_off = s->in_len = 0;
			return false;
		case WS_DATA:
			if (ev.opcode != WS_OP_BINARY) {
				vsess_end(s, "text_frame", WS_CLOSE_BAD_DATA);
				return true;
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
			return true;
		default:
			vsess_end(s, wv == WS_ERR_TOO_BIG ? "message_too_big" : "ws_error",
			    ws_verdict_close_code(wv));
			return true;
		}
	}
	return true;
}

/* ---- the driver ---- */

/* The periodic tick: deadlines, idle, revocation. */
static void
vsess_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct vsess *s = arg;
	uint64_t now = vsess_ms();
	if (!s->done && s->deadline != 0 && now >= s->deadline) {
		if (s->state == VS_HELLO) {
			vsess_count(s, SV_HS_TIMEOUT, 1);
			vsess_end(s, "hello_timeout", 0);
		} else if (s->state == VS_CONNECT) {
			event_del(&s->twev);
			close(s->tfd);
			s->tfd = -1;
			s->tw_on = false;
			vsess_connect_next(s);
		} else if (s->state == VS_RESOLVE) {
			vsess_count(s, SV_FLOWS_FAILED, 1);
			vsess_end(s, "resolve_timeout", WS_CLOSE_GOING_AWAY);
		} else {
			vsess_end(s, "target_timeout", WS_CLOSE_POLICY);
		}
	}
	if (!s->done && (s->state == VS_RELAY || s->state == VS_DNS) &&
	    now - s->last_io >= VSESS_IDLE_MS)
		vsess_end(s, "idle_timeout", WS_CLOSE_NORMAL);
	if (!s->done && s->ratchet && vpn_list_epoch() != s->epoch) {
		s->epoch = vpn_list_epoch();
		if (!vpn_list_allows(s->ik, NULL, 0))
			vsess_end(s, "revoked", WS_CLOSE_POLICY);
	}
	tconn_vpn_kick(s->c);
}

/* Runs the session (see vsess.h). */
bool
vsess_step(struct vsess *s)
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
		if (s->done)
			return !flushed;
		/* 2. The target. */
		if (s->state == VS_CONNECT && s->tfd != -1)
			vsess_connect_check(s);
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
		/* 3. The client's messages, while nothing waits for the target. */
		if (s->out_len - s->out_off >= VSESS_OUT_HIGH) {
			if (!w_blocked)
				continue; /* the target refilled the queue: flush it first */
			return true; /* the client reads slowly: its bytes wait in the kernel */
		}
		if (vsess_decode(s))
			continue;
		ssize_t n = tconn_vpn_read(s->c, s->in, sizeof s->in);
		if (n == TCONN_IO_AGAIN)
			return true;
		if (n <= 0) {
			vsess_end(s, n == TCONN_IO_EOF ? "client_closed" : "client_error", 0);
			s->out_off = s->out_len = 0; /* nobody to send to */
			return false;
		}
		s->in_off = 0;
		s->in_len = (size_t)n;
	}
	event_active(&s->tick, EV_TIMEOUT, 1); /* fairness: continue on the next loop turn */
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
	if ((s->out = malloc(VSESS_OUT_CAP)) == NULL) {
		free(s);
		return NULL;
	}
	s->c = c;
	s->base = base;
	s->v = v;
	s->path = path;
	s->st = v->stats[path];
	s->worker = worker;
	s->tfd = -1;
	if (peer != NULL)
		s->peer = *peer;
	s->t0 = vsess_ms();
	s->deadline = s->t0 + VSESS_HELLO_MS;
	ws_dec_init(&s->dec, WS_ROLE_SERVER, WS_MSG_MAX);
	event_assign(&s->tick, base, -1, EV_PERSIST, vsess_tick_cb, s);
	struct timeval tv = { .tv_sec = 0, .tv_usec = VSESS_TICK_MS * 1000 };
	event_add(&s->tick, &tv);
	vsess_count(s, SV_SESSIONS_ACTIVE, 1);
	return s;
}

/* Bytes the client sent right behind its upgrade request (see vsess.h). */
void
vsess_preload(struct vsess *s, const uint8_t *buf, size_t len)
{
	if (len > sizeof s->in)
		len = sizeof s->in; /* cannot happen: the head buffer is no larger */
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
	    "bytes_in=%llu bytes_out=%llu duration_ms=%llu end=%s", addr,
	    s->name[0] ? s->name : "-", vpn_path_name(s->path), s->flows,
	    (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
	    (unsigned long long)(vsess_ms() - s->t0), vsess_end_reason(s));
	vsess_count(s, SV_SESSIONS_ACTIVE, -1);
	vpn_session_give();
	event_del(&s->tick);
	if (s->tfd != -1) {
		event_del(&s->trev);
		event_del(&s->twev);
		close(s->tfd);
	}
	if (s->dreq != NULL)
		evdns_getaddrinfo_cancel(s->dreq);
	if (s->dns != NULL)
		evdns_base_free(s->dns, 1);
	vdns_free(s->vd);
	if (s->ratchet)
		rvpn_ratchet_wipe(&s->r);
	sodium_memzero(s->msg, sizeof s->msg);
	sodium_memzero(s->tq, sizeof s->tq);
	free(s->out);
	free(s);
}
