/*
 * The client's one VPN session (rvpn-protocol.md §3-§7.4, client role): TCP to the server
 * (--connect's address, or every address the URL's host resolves to with evdns, raced by
 * client/race.c), TLS 1.3 on the connection that won, with SNI and ALPN http/1.1 verified
 * against --cafile or the system store, the WebSocket upgrade on the /mux path, the X3DH
 * Hello, then the ratchet carrying padded mux frames, one frame per message as the
 * desktop client sends them.
 * It keeps the flow table (id -> local connection), answers the server's control messages,
 * sends an encrypted Ping every 3-7 s and declares the session dead after 21 s without a
 * server message; a dropped session is retried with exponential backoff and jitter.
 *
 * State: IDLE (backoff timer armed) -> [RESOLVING (evdns)] -> CONNECTING (the TCP race)
 * -> TLS (the handshake) -> UPGRADE (GET sent) ->
 * HELLO (Hello sent) -> [VIP (--tun: the /tun path, waiting at most 5 s for VirtualIp,
 * which must be the first session message, §7.5)] -> READY -> back to IDLE on any failure.
 * With --tun, flow 1 carries IP packets (client/ctun.c) and flows opened for local
 * connections start at 2. All I/O goes through one
 * bufferevent_openssl, so TLS never blocks; the output buffer's watermarks are the
 * backpressure the local connections obey. Messages are sealed just before they are
 * queued, so wire order is encryption order (§6.5).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "core/clock.h"
#include "core/conf-t.h"
#include "core/confval.h"
#include "core/deadline.h"
#include "core/log.h"
#include "proto/http1_resp.h"
#include "proto/rvpn/rvpn_ctl.h"
#include "proto/rvpn/rvpn_hello.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_cctx.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "proto/rvpn/rvpn_vip.h"
#include "proto/rvpn/rvpn_x3dh.h"
#include "proto/ws.h"

#define SESS_HEAD_MAX   2048  /* the upgrade answer's head (the mobile limit, rvpn §3.2) */
#define SESS_BUCKETS    1024  /* flow table buckets (a power of two) */
#define SESS_SEAL_CAP   (RVPN_WIRE_HDR_LEN + RVPN_PAD_MAX + RVPN_WIRE_TAG_LEN)
#define SESS_READ_CHUNK 16384

enum sess_state { SS_IDLE, SS_RESOLVING, SS_CONNECTING, SS_TLS, SS_UPGRADE, SS_HELLO,
	SS_VIP, SS_READY };

static const char *const sess_state_names[] = { "idle", "resolving", "connecting", "tls",
	"upgrade", "hello", "virtual_ip", "ready" };

#define SESS_TUN_FLOW 1u /* rvpn §7.5: IP packets */

/* One open flow: its id and the local connection it belongs to (borrowed). */
struct sess_flow {
	uint32_t          id;
	struct lconn     *c;
	struct sess_flow *next;
};

struct sess {
	struct event_base        *base;
	const struct ccfg        *cfg;
	const struct rvpn_identity *id;
	const struct rvpn_bundle *bundle;
	struct evdns_base        *dns;
	struct evdns_getaddrinfo_request *dreq;
	struct crace             *race;    /* CONNECTING: the TCP race (client/race.c) */
	SSL_CTX                  *ctx;
	struct rvpn_cctx         *cc;    /* the AEAD, chain step and padding fill (rvpn_cctx.h) */
	struct bufferevent       *bev;
	enum sess_state           st;
	struct event             *timer;   /* backoff, handshake deadline */
	struct event             *ping;    /* keepalive while READY */
	uint64_t                  backoff_ms;
	uint64_t                  last_try_ms;
	uint64_t                  last_rx_ms;
	char                      ws_key[WS_KEY_LEN + 1];
	struct http1_resp         resp;
	struct ws_dec             dec;
	uint8_t                   msg[WS_MSG_MAX];
	size_t                    msg_len;
	uint8_t                   ek_priv[32];
	struct rvpn_ratchet       r;
	uint32_t                  next_id;
	size_t                    nflows;
	struct sess_flow         *flows[SESS_BUCKETS];
	int                       fatal;
	bool                      pinned_logged;
};

static uint8_t sess_seal[SESS_SEAL_CAP];
static uint8_t sess_open[RVPN_PAD_MAX + 1024];

static void sess_start(struct sess *s);
static void sess_drop(struct sess *s, const char *why);

/* A random value in [lo, hi]. */
static uint64_t
sess_rand(uint64_t lo, uint64_t hi)
{
	return lo + randombytes_uniform((uint32_t)(hi - lo + 1));
}

/* Arms the session's one-shot timer for ms. */
static void
sess_timer(struct sess *s, uint64_t ms)
{
	deadline_add(s->timer, ms);
}

/* ---- flow table ---- */

/* The bucket of a flow id. */
static struct sess_flow **
sess_bucket(struct sess *s, uint32_t id)
{
	return &s->flows[id & (SESS_BUCKETS - 1)];
}

/* The flow with this id, or NULL. */
static struct sess_flow *
sess_find(struct sess *s, uint32_t id)
{
	for (struct sess_flow *f = *sess_bucket(s, id); f != NULL; f = f->next)
		if (f->id == id)
			return f;
	return NULL;
}

/* Unlinks and frees flow id; returns its lconn (or NULL). */
static struct lconn *
sess_unlink(struct sess *s, uint32_t id)
{
	for (struct sess_flow **pp = sess_bucket(s, id); *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct sess_flow *f = *pp;
			struct lconn *c = f->c;
			*pp = f->next;
			free(f);
			s->nflows--;
			return c;
		}
	}
	return NULL;
}

/* ---- sending ---- */

/* Queues one masked Binary (or control) frame of payload p (masked in place). */
static void
sess_ws_send(struct sess *s, enum ws_opcode op, uint8_t *p, size_t n)
{
	uint8_t hdr[WS_HDR_MAX], key[4];
	int h;

	randombytes_buf(key, sizeof key);
	h = ws_enc_header(hdr, sizeof hdr, op, n, key);
	if (h < 0) {
		log_error("client: cannot frame %zu bytes", n);
		abort(); /* our own sizes are bounded below WS_OUT_MAX: a bug */
	}
	ws_mask(p, n, key, 0);
	/* One contiguous extent for the whole frame: bufferevent_openssl makes one SSL_write,
	 * so one TLS record and one write(2), per extent of the output buffer. Two evbuffer_adds
	 * could straddle a chain boundary and split one small message (a WindowUpdate) into two
	 * records and two writes, each a read for the server; this way the frames queued in
	 * one loop iteration share records. */
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)((size_t)h + n), &v, 1) != 1 ||
	    v.iov_len < (size_t)h + n) {
		evbuffer_add(out, hdr, (size_t)h); /* no memory for one extent: as before */
		evbuffer_add(out, p, n);
		return;
	}
	memcpy(v.iov_base, hdr, (size_t)h);
	memcpy((uint8_t *)v.iov_base + h, p, n);
	v.iov_len = (size_t)h + n;
	if (evbuffer_commit_space(out, &v, 1) == -1) {
		log_error("client: cannot queue a %zu-byte frame", n);
		abort(); /* committing what was just reserved cannot fail: a bug */
	}
}

/* Pads, seals and queues len bytes already at sess_seal + RVPN_WIRE_HDR_LEN. */
static void
sess_send_padded(struct sess *s, uint8_t type, size_t len)
{
	int n = rvpn_pad_cc(sess_seal + RVPN_WIRE_HDR_LEN, RVPN_PAD_MAX, len, s->cc);
	if (n < 0 || (n = rvpn_ratchet_seal_cc(&s->r, s->cc, type, sess_seal + RVPN_WIRE_HDR_LEN,
	    (size_t)n, NULL, sess_seal, sizeof sess_seal)) < 0) {
		sess_drop(s, "cannot seal");
		return;
	}
	sess_ws_send(s, WS_OP_BINARY, sess_seal, (size_t)n);
}

/* Queues one mux frame in its own message. */
static void
sess_send_mux(struct sess *s, uint32_t flow, uint8_t type, const uint8_t *p, size_t n)
{
	uint8_t *b = sess_seal + RVPN_WIRE_HDR_LEN;
	if (s->st != SS_READY || rvpn_mux_header(b, RVPN_PAD_MAX, flow, n) < 0)
		return;
	memcpy(b + RVPN_MUX_HDR_LEN, p, n);
	sess_send_padded(s, type, RVPN_MUX_HDR_LEN + n);
}

/* Queues a control message. */
static void
sess_send_ctl(struct sess *s, const struct rvpn_ctl *ctl, const char *str, size_t slen)
{
	uint8_t b[RVPN_CTL_MAX_LEN];
	int n = rvpn_ctl_encode(b, sizeof b, ctl, (const uint8_t *)str, slen);
	if (n >= 0)
		sess_send_mux(s, RVPN_MUX_CONTROL, RVPN_PT_ADMIN, b, (size_t)n);
}

/* ---- teardown and reconnect ---- */

/* Ends the transport and every flow, logged at lvl; schedules the next attempt (unless
 * fatal). */
static void
sess_drop_at(struct sess *s, enum log_level lvl, const char *why)
{
	bool was_ready = s->st == SS_READY;

	if (s->st == SS_IDLE)
		return;
	log_at(lvl, "client: session %s: %s; reconnecting in %llu ms", sess_state_names[s->st],
	    why, (unsigned long long)s->backoff_ms);
	if (s->dreq != NULL) {
		evdns_getaddrinfo_cancel(s->dreq); /* its callback runs with CANCEL */
		s->dreq = NULL;
	}
	crace_free(s->race);
	s->race = NULL;
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	s->st = SS_IDLE;
	event_del(s->ping);
	rvpn_ratchet_wipe(&s->r);
	sodium_memzero(s->ek_priv, sizeof s->ek_priv);
	for (size_t b = 0; b < SESS_BUCKETS; b++) {
		while (s->flows[b] != NULL) {
			struct lconn *c = sess_unlink(s, s->flows[b]->id);
			if (c != NULL)
				lconn_on_session_lost(c);
		}
	}
	if (s->cfg->tun)
		ctun_on_session_lost();
	if (s->fatal >= 0) {
		event_base_loopbreak(s->base);
		return;
	}
	uint64_t wait = s->backoff_ms;
	wait = wait / 2 + sess_rand(0, wait / 2); /* jitter: half to the whole step */
	if (!was_ready) {
		s->backoff_ms *= 2;
		if (s->backoff_ms > CLIENT_BACKOFF_MAX_MS)
			s->backoff_ms = CLIENT_BACKOFF_MAX_MS;
	}
	event_del(s->timer);
	sess_timer(s, wait);
}

/* sess_drop_at at warn: the session failed in a way that a retry may mend. */
static void
sess_drop(struct sess *s, const char *why)
{
	sess_drop_at(s, LOG_LEVEL_WARN, why);
}

/* The one timer: backoff over (connect), or the handshake took too long. */
static void
sess_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	(void)fd;
	(void)what;
	if (s->st == SS_IDLE)
		sess_start(s);
	else if (s->st == SS_VIP)
		sess_drop(s, "no VirtualIp within 5 s of the ServerHello");
	else if (s->st != SS_READY)
		sess_drop(s, "handshake timed out");
}

/* Keepalive: an encrypted Ping, and the receive timeout. */
static void
sess_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sess *s = arg;
	uint64_t now = clock_mono_ms();
	(void)fd;
	(void)what;
	if (s->st != SS_READY)
		return;
	if (now - s->last_rx_ms > CLIENT_RX_TIMEOUT_MS) {
		sess_drop(s, "no message from the server for 21 s");
		return;
	}
	struct rvpn_ctl ping = { .kind = RVPN_CTL_PING, .timestamp = now };
	sess_send_ctl(s, &ping, NULL, 0);
	uint64_t ms = sess_rand(CLIENT_PING_MIN_MS, CLIENT_PING_MAX_MS);
	deadline_add(s->ping, ms);
}

/* ---- the session's messages ---- */

/* One control message from the server. */
static void
sess_on_ctl(struct sess *s, const uint8_t *p, size_t n)
{
	struct rvpn_ctl ctl;
	enum rvpn_ctl_verdict v = rvpn_ctl_decode(p, n, &ctl);
	struct sess_flow *f;

	if (v != RVPN_CTL_OK) {
		sess_drop(s, rvpn_ctl_verdict_str(v));
		return;
	}
	if (ctl.kind == RVPN_CTL_PONG || ctl.kind == RVPN_CTL_PING)
		return;
	f = sess_find(s, ctl.flow_id);
	if (f == NULL)
		return; /* a flow we closed already: its late messages mean nothing */
	switch (ctl.kind) {
	case RVPN_CTL_FLOW_CREATED:
		lconn_on_created(f->c);
		break;
	case RVPN_CTL_FLOW_FAILED: {
		struct lconn *c = sess_unlink(s, ctl.flow_id);
		lconn_on_failed(c, p + ctl.str_off, ctl.str_len);
		break;
	}
	case RVPN_CTL_CLOSE_FLOW: {
		struct lconn *c = sess_unlink(s, ctl.flow_id);
		lconn_on_closed(c);
		break;
	}
	case RVPN_CTL_WINDOW_UPDATE:
		lconn_on_window(f->c, ctl.window);
		break;
	default:
		break;
	}
}

static void sess_up(struct sess *s);

/* --tun: the first session message, which must be VirtualIp (§7.5 item 2). */
static void
sess_on_vip(struct sess *s, uint8_t type, uint8_t *pt, size_t len)
{
	struct rvpn_vip v;
	size_t dl;

	if (type != RVPN_PT_VIRTUAL_IP) {
		sess_drop(s, "the first message is not VirtualIp (is tun enabled on the server?)");
		return;
	}
	if (rvpn_unpad(pt, len, &dl) != 0 || rvpn_vip_parse(pt, dl, &v) != 0) {
		sess_drop(s, "bad VirtualIp");
		return;
	}
	if (ctun_on_vip(&v) != 0) {
		sess_drop(s, "the local TUN device failed");
		return;
	}
	sess_up(s);
}

/* One decrypted session message (padded mux frames). */
static void
sess_on_plain(struct sess *s, uint8_t type, uint8_t *pt, size_t len)
{
	struct rvpn_mux_frame fr;
	size_t dl, pos = 0;

	if (s->st == SS_VIP) {
		sess_on_vip(s, type, pt, len);
		return;
	}
	if (type != RVPN_PT_DATA && type != RVPN_PT_ADMIN) {
		sess_drop(s, "unexpected payload type");
		return;
	}
	if (rvpn_unpad(pt, len, &dl) != 0) {
		sess_drop(s, "bad padding");
		return;
	}
	while (s->st == SS_READY) {
		enum rvpn_mux_verdict v = rvpn_mux_next(pt, dl, &pos, &fr);
		if (v == RVPN_MUX_END)
			break;
		if (v != RVPN_MUX_FRAME) {
			sess_drop(s, "bad mux frame");
			return;
		}
		if (fr.flow_id == RVPN_MUX_CONTROL) {
			sess_on_ctl(s, pt + fr.off, fr.len);
		} else if (s->cfg->tun && fr.flow_id == SESS_TUN_FLOW) {
			ctun_on_packet(pt + fr.off, fr.len);
		} else {
			struct sess_flow *f = sess_find(s, fr.flow_id);
			if (f != NULL)
				lconn_on_data(f->c, pt + fr.off, fr.len);
		}
	}
}

/* Checks the server's identity against the bundle and the known-hosts pin; pins it on
 * first use. Returns 0, or -1 after setting s->fatal (a refusal ends the process). */
static int
sess_check_pin(struct sess *s, const uint8_t ed_pub[32])
{
	char have[RVPN_PIN_LEN + 1], want[RVPN_PIN_LEN + 1], pinned[128], err[512];
	int k;

	rvpn_pin_format(have, ed_pub);
	if (sodium_memcmp(ed_pub, s->bundle->identity_key, 32) != 0) {
		rvpn_pin_format(want, s->bundle->identity_key);
		log_error("client: %s presented identity %s but the bundle %s holds %s; refusing "
		    "(the server's key changed: get its new bundle)", s->cfg->hostport, have,
		    s->cfg->bundle, want);
		s->fatal = CLIENT_EXIT_PIN;
		return -1;
	}
	if (s->cfg->known_hosts == NULL)
		return 0;
	k = known_lookup(s->cfg->known_hosts, s->cfg->hostport, pinned, sizeof pinned, err,
	    sizeof err);
	if (k < 0) {
		log_error("client: %s", err);
		s->fatal = CLIENT_EXIT_FAIL;
		return -1;
	}
	if (k == 0) {
		if (known_add(s->cfg->known_hosts, s->cfg->hostport, have, err, sizeof err) != 0) {
			log_error("client: %s", err);
			s->fatal = CLIENT_EXIT_FAIL;
			return -1;
		}
		log_info("client: pinned %s as %s in %s", s->cfg->hostport, have, s->cfg->known_hosts);
		return 0;
	}
	if (!rvpn_pin_match(pinned, strlen(pinned), ed_pub)) {
		log_error("client: identity of %s changed: pinned %s (in %s), server presented %s; "
		    "refusing. If the change is expected, remove the entry from %s", s->cfg->hostport,
		    pinned, s->cfg->known_hosts, have, s->cfg->known_hosts);
		s->fatal = CLIENT_EXIT_PIN;
		return -1;
	}
	return 0;
}

/* The server's answer to the Hello: verify it, derive the session, go READY. */
static void
sess_on_server_hello(struct sess *s, const uint8_t *m, size_t n)
{
	struct rvpn_server_msg sm;
	uint8_t sk[32];

	if (rvpn_server_msg_parse(m, n, &sm) != 0) {
		sess_drop(s, "not a ServerHello");
		return;
	}
	if (sm.kind == RVPN_SERVER_ERROR) {
		log_error("client: the server refused the Hello: error %u", sm.code);
		sess_drop(s, "server error");
		return;
	}
	if (!rvpn_spk_verify(sm.prekey_signature, sm.identity_key, sm.signed_prekey)) {
		sess_drop(s, "the ServerHello's prekey signature does not verify");
		return;
	}
	if (sess_check_pin(s, sm.identity_key) != 0) {
		sess_drop(s, "identity refused");
		return;
	}
	if (rvpn_x3dh_client(sk, NULL, s->id->seed, s->ek_priv, s->bundle->identity_x25519_key,
	    sm.signed_prekey) != 0 || rvpn_ratchet_init(&s->r, RVPN_ROLE_CLIENT, sk, NULL) != 0) {
		sodium_memzero(sk, sizeof sk);
		sess_drop(s, "key agreement failed");
		return;
	}
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(s->ek_priv, sizeof s->ek_priv);
	if (s->cfg->tun) {
		s->st = SS_VIP;
		event_del(s->timer);
		sess_timer(s, CLIENT_VIP_MS);
		return;
	}
	sess_up(s);
}

/* The session is usable: READY, keepalive on, waiting locals go. */
static void
sess_up(struct sess *s)
{
	s->st = SS_READY;
	s->next_id = s->cfg->tun ? SESS_TUN_FLOW + 1 : 1;
	s->backoff_ms = CLIENT_BACKOFF_MIN_MS;
	event_del(s->timer);
	log_info("client: session up to %s%s", s->cfg->hostport, s->cfg->path);
	deadline_add(s->ping, CLIENT_PING_MIN_MS);
	local_on_ready();
}

/* A whole WebSocket message. */
static void
sess_on_message(struct sess *s, const uint8_t *m, size_t n)
{
	size_t pt_len;
	uint8_t type;

	if (s->st == SS_HELLO) {
		sess_on_server_hello(s, m, n);
		return;
	}
	enum rvpn_open_verdict v = rvpn_ratchet_open_cc(&s->r, s->cc, m, n, sess_open,
	    sizeof sess_open, &pt_len, &type);
	if (v != RVPN_OPEN_OK) {
		sess_drop(s, rvpn_open_verdict_str(v));
		return;
	}
	sess_on_plain(s, type, sess_open, pt_len);
}

/* Feeds WebSocket bytes to the decoder. */
static void
sess_feed_ws(struct sess *s, uint8_t *buf, size_t n)
{
	struct ws_event ev;
	size_t used;

	while (s->st >= SS_HELLO) {
		enum ws_verdict v = ws_dec_feed(&s->dec, buf, n, &used, &ev);
		buf += used;
		n -= used;
		switch (v) {
		case WS_MORE:
			return;
		case WS_DATA:
			if (ev.opcode != WS_OP_BINARY) {
				sess_drop(s, "text frame");
				return;
			}
			if (ev.len > 0)
				memcpy(s->msg + s->msg_len, ev.data, ev.len); /* msg_max bounds it */
			s->msg_len += ev.len;
			if (ev.fin) {
				size_t len = s->msg_len;
				s->msg_len = 0;
				s->last_rx_ms = clock_mono_ms();
				sess_on_message(s, s->msg, len);
			}
			break;
		case WS_PING: {
			uint8_t pl[WS_CONTROL_MAX];
			memcpy(pl, ev.data, ev.len);
			sess_ws_send(s, WS_OP_PONG, pl, ev.len);
			break;
		}
		case WS_PONG:
			break;
		case WS_CLOSE:
			sess_drop(s, "the server closed the WebSocket");
			return;
		default:
			sess_drop(s, ws_verdict_str(v));
			return;
		}
	}
}

/* The upgrade answer: 101 with the right Sec-WebSocket-Accept, then the Hello goes out. */
static void
sess_on_head(struct sess *s, const uint8_t *h)
{
	char want[WS_ACCEPT_LEN + 1];
	uint8_t ek_pub[32];
	char hello[RVPN_HELLO_MAX];
	bool ok = false;

	if (s->resp.status != 101) {
		log_error("client: %s%s answered the upgrade with %u (is the path right?)",
		    s->cfg->hostport, s->cfg->path, s->resp.status);
		sess_drop(s, "upgrade refused");
		return;
	}
	if (ws_accept(s->ws_key, strlen(s->ws_key), want) != 0) {
		sess_drop(s, "accept");
		return;
	}
	for (unsigned i = 0; i < s->resp.nfields; i++) {
		const struct http1_field *f = &s->resp.fields[i];
		if (http1_view_ieq(h, f->name, "sec-websocket-accept"))
			ok = f->value.len == WS_ACCEPT_LEN &&
			    memcmp(h + f->value.off, want, WS_ACCEPT_LEN) == 0;
	}
	if (!ok) {
		sess_drop(s, "bad Sec-WebSocket-Accept");
		return;
	}
	randombytes_buf(s->ek_priv, sizeof s->ek_priv);
	int n = crypto_scalarmult_base(ek_pub, s->ek_priv) != 0 ? -1 :
	    rvpn_hello_emit(hello, sizeof hello, ek_pub, s->id->x_pub);
	if (n < 0) {
		sess_drop(s, "hello");
		return;
	}
	ws_dec_init(&s->dec, WS_ROLE_CLIENT, WS_MSG_MAX);
	s->msg_len = 0;
	s->st = SS_HELLO;
	sess_ws_send(s, WS_OP_BINARY, (uint8_t *)hello, (size_t)n);
}

/* Bytes from the server. */
static void
sess_read_cb(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t buf[SESS_READ_CHUNK];

	if (s->st == SS_UPGRADE) {
		size_t have = evbuffer_get_length(in);
		size_t look = have < SESS_HEAD_MAX ? have : SESS_HEAD_MAX;
		uint8_t *h = evbuffer_pullup(in, (ssize_t)look);
		enum http1_resp_verdict v = http1_resp_feed(&s->resp, h, look);
		if (v == HTTP1_RESP_MORE) {
			if (look >= SESS_HEAD_MAX)
				sess_drop(s, "upgrade answer over 2048 bytes");
			return;
		}
		if (v != HTTP1_RESP_DONE) {
			sess_drop(s, "bad upgrade answer");
			return;
		}
		sess_on_head(s, h);
		if (s->st != SS_HELLO)
			return;
		evbuffer_drain(in, s->resp.head_len);
	}
	while (s->st >= SS_HELLO && evbuffer_get_length(in) > 0) {
		int n = evbuffer_remove(in, buf, sizeof buf);
		if (n <= 0)
			break;
		sess_feed_ws(s, buf, (size_t)n);
	}
}

/* The output went below the low watermark: the locals may send again. */
static void
sess_write_cb(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;
	(void)bev;
	if (s->st == SS_READY) {
		local_on_writable();
		if (s->cfg->tun)
			ctun_on_writable();
	}
}

/* Connected (TLS done), or an error / EOF. */
static void
sess_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sess *s = arg;
	(void)bev;

	if (what & BEV_EVENT_CONNECTED) {
		uint8_t nonce[WS_NONCE_LEN];
		char req[1024], hosthdr[CLIENT_HOST_MAX + 16];
		bool v6 = strchr(s->cfg->host, ':') != NULL;

		randombytes_buf(nonce, sizeof nonce);
		ws_key_encode(nonce, s->ws_key);
		snprintf(hosthdr, sizeof hosthdr, "%s%s%s", v6 ? "[" : "", s->cfg->host, v6 ? "]" : "");
		if (s->cfg->port != 443)
			snprintf(hosthdr + strlen(hosthdr), sizeof hosthdr - strlen(hosthdr), ":%u",
			    s->cfg->port);
		int n = snprintf(req, sizeof req,
		    "GET %s HTTP/1.1\r\n"
		    "Host: %s\r\n"
		    "Connection: Upgrade\r\n"
		    "Pragma: no-cache\r\n"
		    "Cache-Control: no-cache\r\n"
		    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
		    "Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"
		    "Upgrade: websocket\r\n"
		    "Sec-WebSocket-Version: 13\r\n"
		    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
		    "Accept-Language: en-US,en;q=0.9\r\n"
		    "Sec-WebSocket-Key: %s\r\n"
		    "\r\n", s->cfg->path, hosthdr, s->ws_key);
		if (n < 0 || (size_t)n >= sizeof req) {
			sess_drop(s, "request too long");
			return;
		}
		http1_resp_init(&s->resp);
		s->st = SS_UPGRADE;
		bufferevent_write(s->bev, req, (size_t)n);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF | BEV_EVENT_TIMEOUT)) {
		char why[256];
		unsigned long e = bufferevent_get_openssl_error(bev);
		if (e != 0)
			ERR_error_string_n(e, why, sizeof why);
		else if (what & BEV_EVENT_EOF)
			snprintf(why, sizeof why, "the server closed the connection");
		else
			snprintf(why, sizeof why, "%s", evutil_socket_error_to_string(
			    EVUTIL_SOCKET_ERROR()));
		sess_drop(s, why);
	}
}

/* TLS on the connected socket fd (owned from here on: closed on every failure). */
static void
sess_tls(struct sess *s, int fd)
{
	SSL *ssl = SSL_new(s->ctx);
	bool ip = false;
	unsigned char tmp[16];

	s->st = SS_TLS;
	if (ssl == NULL)
		goto fail;
	ip = inet_pton(AF_INET, s->cfg->host, tmp) == 1 || inet_pton(AF_INET6, s->cfg->host, tmp) == 1;
	if ((!ip && SSL_set_tlsext_host_name(ssl, s->cfg->host) != 1) ||
	    (!ip && SSL_set1_host(ssl, s->cfg->host) != 1) ||
	    (ip && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), s->cfg->host) != 1))
		goto fail_ssl;
	s->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (s->bev == NULL)
		goto fail_ssl;
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_setcb(s->bev, sess_read_cb, sess_write_cb, sess_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, CLIENT_SESS_OUT_LOW, 0);
	bufferevent_setwatermark(s->bev, EV_READ, 0, 4 * SESS_READ_CHUNK);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return;
fail_ssl:
	SSL_free(ssl);
fail:
	close(fd);
	sess_drop(s, "TLS setup failed");
}

/* The race ended: TLS on the winner, or the one error that lists every address tried. */
static void
sess_race_done(void *arg, int fd, const char *why)
{
	struct sess *s = arg;

	s->race = NULL; /* it freed itself */
	if (fd == -1) {
		sess_drop_at(s, LOG_LEVEL_ERROR, why);
		return;
	}
	sess_tls(s, fd);
}

/* Starts the TCP race over n addresses (skipped: more the resolver gave). */
static void
sess_race(struct sess *s, const char *label, const struct sockaddr_storage *a, unsigned n,
    unsigned skipped)
{
	s->st = SS_CONNECTING;
	s->race = crace_new(s->base, label, a, n, skipped, sess_race_done, s);
	if (s->race == NULL)
		sess_drop(s, "out of memory");
}

/* The server's name resolved: every IPv4 and IPv6 address races (the first
 * CLIENT_ADDRS_MAX). */
static void
sess_dns_cb(int err, struct evutil_addrinfo *res, void *arg)
{
	struct sess *s = arg;
	struct sockaddr_storage a[CLIENT_ADDRS_MAX];
	unsigned n = 0, skipped = 0;

	if (err == EVUTIL_EAI_CANCEL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return; /* the session let go of the lookup (and may be gone) */
	}
	s->dreq = NULL;
	if (err != 0 || res == NULL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		sess_drop(s, evutil_gai_strerror(err));
		return;
	}
	for (struct evutil_addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof a[0])
			continue;
		if (n == CLIENT_ADDRS_MAX) {
			skipped++;
			continue;
		}
		memset(&a[n], 0, sizeof a[n]);
		memcpy(&a[n++], ai->ai_addr, ai->ai_addrlen);
	}
	evutil_freeaddrinfo(res);
	if (n == 0) {
		sess_drop(s, "the name has no IPv4 or IPv6 address");
		return;
	}
	sess_race(s, s->cfg->hostport, a, n, skipped);
}

/* Begins an attempt: --connect's address, the URL's IP, or the URL's host resolved. */
static void
sess_start(struct sess *s)
{
	struct sockaddr_storage sa;
	socklen_t len;

	s->last_try_ms = clock_mono_ms();
	event_del(s->timer);
	sess_timer(s, CLIENT_HELLO_MS);
	if (s->cfg->connect != NULL && ccfg_addr(s->cfg->connect, &sa, &len) == 0) {
		sess_race(s, s->cfg->connect, &sa, 1, 0);
		return;
	}
	struct conf_addr ip;
	char why[128];
	if (confval_ip(s->cfg->host, s->cfg->port, &ip, why, sizeof why) != 0) {
		char port[8];
		struct evutil_addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC,
			.ai_protocol = IPPROTO_TCP };
		snprintf(port, sizeof port, "%u", s->cfg->port);
		s->st = SS_RESOLVING;
		struct evdns_getaddrinfo_request *q = evdns_getaddrinfo(s->dns, s->cfg->host, port,
		    &hints, sess_dns_cb, s);
		if (s->st == SS_RESOLVING)
			s->dreq = q;
		return;
	}
	sess_race(s, s->cfg->hostport, &ip.ss, 1, 0);
}

struct sess *
sess_new(struct event_base *base, const struct ccfg *cfg, const struct rvpn_identity *id,
    const struct rvpn_bundle *bundle)
{
	static const unsigned char alpn[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
	struct sess *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	s->base = base;
	s->cfg = cfg;
	s->id = id;
	s->bundle = bundle;
	s->fatal = -1;
	s->backoff_ms = CLIENT_BACKOFF_MIN_MS;
	s->ctx = SSL_CTX_new(TLS_client_method());
	if (s->ctx == NULL || SSL_CTX_set_min_proto_version(s->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_alpn_protos(s->ctx, alpn, sizeof alpn) != 0)
		goto fail;
	if (cfg->cafile != NULL) {
		if (SSL_CTX_load_verify_locations(s->ctx, cfg->cafile, NULL) != 1) {
			log_error("client: --cafile %s: not a PEM CA file", cfg->cafile);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(s->ctx) != 1) {
		goto fail;
	}
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
	/* TLS 1.3 suites in the order Chrome and Firefox offer them (OpenSSL's default puts
	 * AES-256-GCM first): a ClientHello closer to a browser's is better cover for the VPN,
	 * and a server that follows the client's order picks AES-128-GCM, which costs less per
	 * GB (openssl speed -evp here: 4.9 GB/s against 4.2 for AES-256-GCM). switchyard
	 * itself uses its own order, which also starts with AES-128-GCM (terminator/term.c). */
	if (SSL_CTX_set_ciphersuites(s->ctx, CLIENT_TLS13_SUITES) != 1)
		goto fail;
	/* The engine's crypto context, as the server's workers use it: OpenSSL's
	 * ChaCha20-Poly1305 set up once, not libsodium's per call (which was 43 % of this
	 * process's CPU in a 1 GiB download); the vectors and the ratchet tests hold both
	 * paths to identical results. */
	if ((s->cc = rvpn_cctx_new()) == NULL)
		goto fail;
	s->timer = evtimer_new(base, sess_timer_cb, s);
	s->ping = evtimer_new(base, sess_ping_cb, s);
	s->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (s->timer == NULL || s->ping == NULL)
		goto fail;
	sess_start(s);
	return s;
fail:
	sess_free(s);
	return NULL;
}

void
sess_free(struct sess *s)
{
	if (s == NULL)
		return;
	if (s->dreq != NULL)
		evdns_getaddrinfo_cancel(s->dreq);
	crace_free(s->race);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	for (size_t b = 0; b < SESS_BUCKETS; b++)
		while (s->flows[b] != NULL)
			sess_unlink(s, s->flows[b]->id);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->ping != NULL)
		event_free(s->ping);
	if (s->dns != NULL)
		evdns_base_free(s->dns, 0);
	if (s->ctx != NULL)
		SSL_CTX_free(s->ctx);
	rvpn_ratchet_wipe(&s->r);
	rvpn_cctx_free(s->cc);
	sodium_memzero(s->ek_priv, sizeof s->ek_priv);
	free(s);
}

/* True with --tun. */
bool
sess_is_tun(const struct sess *s)
{
	return s->cfg->tun;
}

/* One IP packet to the server (see client.h). */
void
sess_tun_packet(struct sess *s, const uint8_t *p, size_t n)
{
	sess_send_mux(s, SESS_TUN_FLOW, RVPN_PT_DATA, p, n);
}

/* True when flows can be opened now. */
bool
sess_ready(const struct sess *s)
{
	return s->st == SS_READY;
}

void
sess_kick(struct sess *s)
{
	if (s->st == SS_IDLE && s->fatal < 0 && clock_mono_ms() - s->last_try_ms >= CLIENT_KICK_MS)
		sess_start(s);
}

bool
sess_writable(const struct sess *s)
{
	return s->st == SS_READY &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) < CLIENT_SESS_OUT_HIGH;
}

uint32_t
sess_flow_open(struct sess *s, struct lconn *c, const char *host, uint16_t port)
{
	struct sess_flow *f;

	if (s->st != SS_READY || s->next_id == 0)
		return 0;
	f = malloc(sizeof *f);
	if (f == NULL)
		return 0;
	f->id = s->next_id++;
	f->c = c;
	f->next = *sess_bucket(s, f->id);
	*sess_bucket(s, f->id) = f;
	s->nflows++;
	struct rvpn_ctl ctl = { .kind = RVPN_CTL_CREATE_FLOW, .flow_id = f->id, .port = port };
	sess_send_ctl(s, &ctl, host, strlen(host));
	return f->id;
}

void
sess_flow_data(struct sess *s, uint32_t id, const uint8_t *p, size_t n)
{
	sess_send_mux(s, id, RVPN_PT_DATA, p, n);
}

void
sess_flow_grant(struct sess *s, uint32_t id, uint32_t n)
{
	struct rvpn_ctl ctl = { .kind = RVPN_CTL_WINDOW_UPDATE, .flow_id = id, .window = n };
	sess_send_ctl(s, &ctl, NULL, 0);
}

void
sess_flow_close(struct sess *s, uint32_t id, bool tell)
{
	if (sess_unlink(s, id) == NULL)
		return;
	if (tell) {
		struct rvpn_ctl ctl = { .kind = RVPN_CTL_CLOSE_FLOW, .flow_id = id };
		sess_send_ctl(s, &ctl, NULL, 0);
	}
}

int
sess_fatal(const struct sess *s)
{
	return s->fatal;
}
