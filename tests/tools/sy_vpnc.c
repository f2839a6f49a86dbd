/*
 * sy_vpnc: a VPN test client in the r-vpn CLIENT role (rvpn-protocol.md §3-§7), built on
 * proto/ws.c and proto/rvpn/ (client role) so the integration scenarios can drive
 * switchyard's VPN engine from C with exact control over every message: echo through
 * /ws and /mux, DNS through /dns, recorded and replayed Hellos, tampered frames, credit
 * given slowly or never. A test tool, not a product: one connection, one poll(2) loop,
 * every wait bounded by --timeout. Its command line and output are a contract with the
 * integration scenarios; extend, never rename.
 *
 *   sy_vpnc --connect IP:PORT --sni NAME [--cafile FILE | --plain] [--path PATH]
 *           --identity CLIENT.key --bundle SERVER-BUNDLE.json [--timeout SECONDS]
 *           [--seed N] [--record-hello FILE | --replay-hello FILE] [--tamper N]
 *           MODE [mode options]
 *
 *   hello-only                          the handshake only
 *   ws-echo  --target HOST:PORT --bytes N [--full-msg EXTRA]  (path default /api/v1/ws)
 *   mux-echo --target HOST:PORT --flows K --bytes N [--slow-credit] [--no-window-update]
 *            [--credit-after MS]
 *            [--zero-rtt BYTES] [--ping TS]        (path default /api/v1/ws/mux)
 *   dns      --name NAME [--type A|AAAA|NUMBER] [--repeat R]   (path default /api/v1/ws/dns)
 *   fetch    --target HOST:PORT --fetch URL-PATH   (over /ws, or one mux flow when the
 *            path ends in /mux; a plain HTTP/1.1 GET with Host: HOST, Connection: close)
 *   tun      [--tun-name NAME] [--ping TS [--early-ping]]   (path default /api/v1/ws/tun;
 *            see the tun block)
 *
 * Transport: TCP to --connect; TLS 1.3 with SNI NAME and ALPN http/1.1, the certificate
 * unchecked unless --cafile (then verified, with NAME as the host name); --plain for ws://
 * (kind: http routes). GET PATH with Host: NAME and the WebSocket headers of §3.2; the
 * answer must be 101 with the right Sec-WebSocket-Accept in at most 2048 bytes of head.
 * Handshake: Hello with a fresh ephemeral key and the --identity X25519 key; the answer
 * must be a ServerHello whose identity_key and signed_prekey are the --bundle's and whose
 * signature verifies (the bundle's own signature is checked at load). Then X3DH with the
 * bundle's identity_x25519_key and the ratchet.
 *
 * Modes in detail:
 *   ws-echo: message 1 is the target (§7.3); then N bytes of a seeded pseudo-random
 *     stream (--seed, default 1) in messages of at most 8190 bytes; it reads back what
 *     the target echoes until N bytes came.
 *   ws-echo --full-msg EXTRA: every data message carries 16382 bytes (the most padding
 *     allows), so it is padded to exactly 16384 and the sealed RatchetMessage is exactly
 *     WS_MSG_MAX (16462) bytes; EXTRA junk bytes are appended behind it (0: the largest
 *     valid message; 1: one byte over the server's limit). Such a message does not fit
 *     one of our frames (WS_OUT_MAX), so it goes in two fragments (binary without FIN,
 *     then a continuation), as RFC 6455 §5.4 allows.
 *   mux-echo: CreateFlow for flows 1..K, then N bytes per flow (stream seeded with seed
 *     and the flow id), at most 8190 per frame, one frame per message. Credit (§7.4):
 *     256 KiB each way per flow at the start; we never send beyond what the server
 *     granted; we grant back what we consumed in WindowUpdates of at least 16 KiB (at the
 *     end of a flow, the rest), or with --slow-credit at most one per flow every 200 ms,
 *     or never with --no-window-update, or with --credit-after MS none before MS ms
 *     after the client started (then as usual). Every byte the server sends beyond what we
 *     granted counts as a credit violation. Data waits for FlowCreated unless
 *     --zero-rtt BYTES allows that many bytes per flow before it. A flow ends with our
 *     CloseFlow once all N bytes came back. --ping TS sends a Ping with timestamp TS
 *     before the flows' data and waits for its Pong (printed as pong=TS).
 *   dns: R queries (ids 1..R, default 1) sent at once; waits for R answers.
 *   --tamper N: flips the lowest bit of the first ciphertext byte of the Nth message we
 *     send after the handshake (1 is the first); the server must then end the session.
 *   --record-hello FILE writes the Hello we send, byte for byte; --replay-hello FILE
 *     sends that file as the Hello (the server's replay cache must refuse it).
 *
 * Output on stdout: lines of space-separated key=value pairs (values never hold spaces;
 * strings from the server are written with %XX escapes). Diagnostics go to stderr.
 *   upgrade=ok | upgrade=failed status=NNN|reason=...
 *   handshake=ok | handshake=closed [close_code=N] | handshake=error code=N message=...
 *     | handshake=bad_server_hello reason=... | handshake=replay_accepted | handshake=timeout
 *   ws-echo:  sha256_sent=HEX sha256_recv=HEX bytes=N result=ok|mismatch
 *   mux-echo: flow=ID bytes=N sha256_sent=HEX sha256_recv=HEX result=ok|mismatch|failed|closed
 *             [error=...], then flows=K flows_ok=M credit_violations=V result=ok|fail
 *   dns:      query_id=ID success=true|false ttl=T ipv4=A,B ipv6=C error=...
 *             (one line per answer), then answers=R result=ok
 *   fetch:    status=NNN body_bytes=N body_sha256=HEX result=ok
 *   session=closed [close_code=N] when the server ends the session early;
 *   session_error=VERDICT when a server message does not authenticate;
 *   tampered=N when the bit was flipped, then tamper=session_ended | tamper=not_detected;
 *   result=timeout phase=... when --timeout passed.
 *
 * Exit codes:
 *   0  the mode's check passed (with --tamper: the server ended the session)
 *   1  usage, or a local file (identity, bundle, record/replay) unusable
 *   2  TCP connect or TLS failed
 *   3  the upgrade failed (not 101, bad Sec-WebSocket-Accept, head too long)
 *   4  handshake refused: the server closed without a ServerHello or Error
 *   5  the server sent an Error (code printed)
 *   6  the ServerHello does not match the bundle or its signature fails
 *   7  the session ended early or broke (close, EOF, a message that does not
 *      authenticate, a WebSocket protocol error)
 *   8  data check failed (echo mismatch, a credit violation, a failed flow, a DNS
 *      answer missing, tamper not detected)
 *   9  --timeout passed
 *  10  a --replay-hello Hello was answered with a ServerHello
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/rvpn/rvpn_ctl.h"
#include "proto/rvpn/rvpn_dns.h"
#include "proto/rvpn/rvpn_hello.h"
#include "proto/rvpn/rvpn_keys.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "proto/rvpn/rvpn_target.h"
#include "proto/rvpn/rvpn_vip.h"
#include "proto/rvpn/rvpn_wire.h"
#include "proto/rvpn/rvpn_x3dh.h"
#include "proto/ws.h"

enum {
	VC_EXIT_OK = 0,
	VC_EXIT_USAGE = 1,
	VC_EXIT_CONNECT = 2,
	VC_EXIT_UPGRADE = 3,
	VC_EXIT_REFUSED = 4,
	VC_EXIT_ERROR = 5,
	VC_EXIT_BAD_HELLO = 6,
	VC_EXIT_SESSION = 7,
	VC_EXIT_CHECK = 8,
	VC_EXIT_TIMEOUT = 9,
	VC_EXIT_REPLAYED = 10
};

#define VC_TIMEOUT_S      20
#define VC_HEAD_MAX       2048          /* response head we accept (the mobile limit, §3.2) */
#define VC_OUT_HIGH       (256 * 1024)  /* stop producing while more than this waits */
#define VC_READ_CHUNK     16384
#define VC_READ_BURST     (1024 * 1024) /* bytes read per loop turn before producing */
#define VC_POLL_MS        20            /* loop turn when idle (slow-credit timing) */
#define VC_CREDIT_INIT    (256 * 1024)  /* §7.4: initial credit each way per flow */
#define VC_GRANT_MIN      (16 * 1024)   /* we grant in WindowUpdates of at least this */
#define VC_SLOW_GRANT_MS  200           /* --slow-credit: one grant per flow per interval */
#define VC_MAX_FLOWS      2000          /* the reference's per-session flow cap */
#define VC_MAX_REPEAT     1024          /* dns --repeat */
#define VC_FETCH_MAX      (64u << 20)   /* response bytes fetch keeps */
#define VC_FILE_MAX       65536         /* identity, bundle and recorded Hello files */
#define VC_SEAL_CAP       (RVPN_WIRE_HDR_LEN + RVPN_PAD_MAX + RVPN_WIRE_TAG_LEN)

enum vc_mode { VC_HELLO_ONLY, VC_WS_ECHO, VC_MUX_ECHO, VC_DNS, VC_FETCH, VC_TUN };

/* Command-line options. */
static struct {
	const char *connect, *sni, *cafile, *path, *identity, *bundle, *record, *replay;
	const char *target, *name, *fetch;
	const char *tun_name;   /* tun mode: the local device (default syc0) */
	bool plain, slow_credit, no_wu;
	uint64_t credit_after, start_ms;
	enum vc_mode mode;
	uint64_t bytes, zero_rtt, seed, tamper, ping, full_extra;
	bool ping_set, full_msg;
	bool early_ping;        /* tun: the Ping goes in the Hello's write (see the tun block) */
	unsigned flows, repeat, timeout_s;
	uint16_t qtype;
} o;

/* One mux flow of mux-echo (or fetch over /mux). */
struct vc_flow {
	uint32_t id;
	bool created, failed, closed, close_sent;
	uint64_t sent, recv;
	int64_t send_credit;   /* what the server granted us and we did not use */
	int64_t grant_left;    /* what we granted the server and it did not use */
	uint64_t pending_grant; /* consumed, not yet granted back */
	uint64_t last_grant_ms;
	uint64_t prng;
	crypto_hash_sha256_state hs, hr;
	char error[RVPN_CTL_MAX_ERROR * 3 + 1];
};

/* The connection and session. */
static struct {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	bool ssl_want_write;
	uint64_t deadline_ms;
	const char *phase;
	/* output queue */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	/* input */
	bool in_head;                  /* still reading the upgrade answer */
	char head[VC_HEAD_MAX + 1];
	size_t head_len;
	struct ws_dec dec;
	uint8_t msg[WS_MSG_MAX];
	size_t msg_len;
	bool eof, closed, reset;
	uint16_t close_code;
	/* handshake */
	bool hs_have;
	uint8_t hs_msg[RVPN_HELLO_MAX];
	size_t hs_len;
	bool in_session;
	struct rvpn_ratchet r;
	uint64_t sent_msgs;
	bool tampered;
	/* modes */
	char thost[RVPN_TARGET_MAX_HOST + 1];
	uint16_t tport;
	bool target_sent, request_sent;
	uint64_t ws_sent, ws_recv, ws_prng;
	crypto_hash_sha256_state ws_hs, ws_hr;
	struct vc_flow *flows;
	bool flows_opened;
	bool pong_seen;
	uint64_t violations;
	unsigned dns_answers;
	bool dns_sent;
	uint8_t *resp;
	size_t resp_len;
	bool done;
} c = { .fd = -1 };

static uint8_t seal_buf[VC_SEAL_CAP];
static uint8_t open_buf[RVPN_WIRE_MAX_CT];

/* Milliseconds of the monotonic clock. */
static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Prints the usage and returns the usage exit code. */
static int
usage(const char *why)
{
	fprintf(stderr, "sy_vpnc: %s\nusage: sy_vpnc --connect IP:PORT --sni NAME --identity FILE "
	    "--bundle FILE [options] hello-only|ws-echo|mux-echo|dns|fetch (see the header of "
	    "tests/tools/sy_vpnc.c)\n", why);
	return VC_EXIT_USAGE;
}

/* Ends the process with code (after the last output line). */
static void
finish(int code)
{
	fflush(stdout);
	if (c.ssl != NULL)
		SSL_free(c.ssl);
	if (c.ctx != NULL)
		SSL_CTX_free(c.ctx);
	if (c.fd != -1)
		close(c.fd);
	rvpn_ratchet_wipe(&c.r);
	exit(code);
}

/* Writes s[0 .. n) with spaces, '=', '%' and non-printables as %XX (one key=value token). */
static void
put_escaped(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == '%' || ch == '=')
			fprintf(f, "%%%02X", ch);
		else
			fputc(ch, f);
	}
}

/* Reads a whole small file into buf; returns its length or -1 (message printed). */
static long
read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "sy_vpnc: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t n = fread(buf, 1, cap, f);
	bool big = n == cap;
	fclose(f);
	if (big) {
		fprintf(stderr, "sy_vpnc: %s: over %zu bytes\n", path, cap - 1);
		return -1;
	}
	return (long)n;
}

/* splitmix64: the seeded stream of echo data (the same on every run for a seed). */
static uint64_t
prng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fills buf with n bytes of the stream s. */
static void
prng_fill(uint64_t *s, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = prng_next(s);
		size_t k = n - i < 8 ? n - i : 8;
		memcpy(buf + i, &v, k);
	}
}

/* Prints the hex of a finished SHA-256 state. */
static void
sha_hex(crypto_hash_sha256_state *st, char out[65])
{
	uint8_t d[32];
	crypto_hash_sha256_final(st, d);
	sodium_bin2hex(out, 65, d, sizeof d);
}

/* ---- output queue and I/O ---- */

/* Appends bytes to the output queue (grows it; aborts when memory is gone). */
static void
out_put(const uint8_t *p, size_t n)
{
	if (c.out_off > 0 && c.out_off == c.out_len)
		c.out_off = c.out_len = 0;
	if (c.out_len + n > c.out_cap) {
		size_t cap = c.out_cap ? c.out_cap : 65536;
		while (cap < c.out_len + n)
			cap *= 2;
		uint8_t *nb = realloc(c.out, cap);
		if (nb == NULL) {
			fputs("sy_vpnc: out of memory\n", stderr);
			finish(VC_EXIT_USAGE);
		}
		c.out = nb;
		c.out_cap = cap;
	}
	memcpy(c.out + c.out_len, p, n);
	c.out_len += n;
}

/* Bytes waiting in the output queue. */
static size_t
out_pending(void)
{
	return c.out_len - c.out_off;
}

/* Reads what the socket has: >0 bytes, 0 EOF, -1 nothing now, -2 error. */
static ssize_t
io_read(uint8_t *buf, size_t cap)
{
	if (c.ssl == NULL) {
		ssize_t n = read(c.fd, buf, cap);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EINTR)
			return -1;
		if (errno == ECONNRESET) {
			c.reset = true;
			return 0;
		}
		return -2;
	}
	int n = SSL_read(c.ssl, buf, (int)cap);
	if (n > 0)
		return n;
	switch (SSL_get_error(c.ssl, n)) {
	case SSL_ERROR_WANT_READ:
		return -1;
	case SSL_ERROR_WANT_WRITE:
		c.ssl_want_write = true;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		c.reset = errno == ECONNRESET;
		return 0;
	default:
		ERR_print_errors_fp(stderr);
		return -2;
	}
}

/* Writes from the queue: >=0 bytes written, -1 nothing now, -2 error. */
static ssize_t
io_write(const uint8_t *buf, size_t n)
{
	if (c.ssl == NULL) {
		ssize_t w = write(c.fd, buf, n);
		if (w >= 0)
			return w;
		return errno == EAGAIN || errno == EINTR ? -1 : -2;
	}
	int w = SSL_write(c.ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (w > 0)
		return w;
	switch (SSL_get_error(c.ssl, w)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -1;
	default:
		return -2;
	}
}

/* Queues one WebSocket frame (masked, as a client must, §5.1). */
static void
ws_send(enum ws_opcode op, const uint8_t *p, size_t n)
{
	uint8_t hdr[WS_HDR_MAX], key[4];
	static uint8_t body[WS_OUT_MAX];
	int h;

	randombytes_buf(key, sizeof key);
	h = ws_enc_header(hdr, sizeof hdr, op, n, key);
	if (h < 0 || n > sizeof body) {
		fprintf(stderr, "sy_vpnc: cannot frame %zu bytes\n", n);
		finish(VC_EXIT_USAGE);
	}
	memcpy(body, p, n);
	ws_mask(body, n, key, 0);
	out_put(hdr, (size_t)h);
	out_put(body, n);
}

/* Queues one message of up to 2 * WS_OUT_MAX bytes in two masked fragments (binary
 * without FIN, then a continuation with FIN): --full-msg's messages exceed one frame. */
static void
ws_send_fragments(const uint8_t *p, size_t n)
{
	static uint8_t body[WS_OUT_MAX];
	size_t first = n / 2;
	for (int i = 0; i < 2; i++) {
		size_t len = i == 0 ? first : n - first;
		const uint8_t *src = i == 0 ? p : p + first;
		uint8_t hdr[8], key[4];
		if (len > sizeof body || len <= 125) {
			fprintf(stderr, "sy_vpnc: cannot fragment %zu bytes\n", n);
			finish(VC_EXIT_USAGE);
		}
		randombytes_buf(key, sizeof key);
		hdr[0] = (uint8_t)(i == 0 ? WS_OP_BINARY : 0x80); /* FIN only on the continuation */
		hdr[1] = 0x80 | 126; /* masked, 16-bit length */
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		memcpy(hdr + 4, key, 4);
		memcpy(body, src, len);
		ws_mask(body, len, key, 0);
		out_put(hdr, sizeof hdr);
		out_put(body, len);
	}
}

/* Queues a masked Close (normal). */
static void
ws_send_close(void)
{
	uint8_t fr[WS_HDR_MAX + WS_CONTROL_MAX], key[4];
	randombytes_buf(key, sizeof key);
	int n = ws_enc_close(fr, sizeof fr, WS_CLOSE_NORMAL, NULL, 0, key);
	if (n > 0)
		out_put(fr, (size_t)n);
}

/* Reports a timeout in the current phase and exits. */
static void
timeout_exit(void)
{
	if (strcmp(c.phase, "handshake") == 0)
		printf("handshake=timeout\n");
	printf("result=timeout phase=%s\n", c.phase);
	finish(VC_EXIT_TIMEOUT);
}

static void on_ws_message(const uint8_t *m, size_t n);

/* Parses the upgrade answer once its head is complete; leftover bytes go to the decoder. */
static void on_head(size_t head_end);
static void feed_ws(uint8_t *buf, size_t n);

/* Takes bytes read from the socket: the response head first, then WebSocket frames. */
static void
on_bytes(uint8_t *buf, size_t n)
{
	if (c.in_head) {
		size_t take = n;
		if (take > VC_HEAD_MAX - c.head_len)
			take = VC_HEAD_MAX - c.head_len;
		memcpy(c.head + c.head_len, buf, take);
		size_t old = c.head_len;
		c.head_len += take;
		c.head[c.head_len] = '\0';
		char *e = strstr(c.head, "\r\n\r\n");
		if (e == NULL) {
			if (c.head_len >= VC_HEAD_MAX) {
				printf("upgrade=failed reason=head_too_long\n");
				finish(VC_EXIT_UPGRADE);
			}
			return;
		}
		size_t end = (size_t)(e - c.head) + 4;
		c.in_head = false;
		on_head(end);
		size_t used = end - old; /* bytes of buf that belonged to the head */
		if (n > used)
			feed_ws(buf + used, n - used);
		return;
	}
	feed_ws(buf, n);
}

/* Feeds WebSocket bytes to the decoder and acts on its events. */
static void
feed_ws(uint8_t *buf, size_t n)
{
	struct ws_event ev;
	size_t used;

	for (;;) {
		enum ws_verdict v = ws_dec_feed(&c.dec, buf, n, &used, &ev);
		buf += used;
		n -= used;
		switch (v) {
		case WS_MORE:
			return;
		case WS_DATA:
			if (ev.opcode != WS_OP_BINARY) {
				printf("session=closed reason=text_frame\n");
				finish(VC_EXIT_SESSION);
			}
			if (ev.len > 0)
				memcpy(c.msg + c.msg_len, ev.data, ev.len); /* msg_max bounds it */
			c.msg_len += ev.len;
			if (ev.fin) {
				size_t len = c.msg_len;
				c.msg_len = 0;
				on_ws_message(c.msg, len);
			}
			break;
		case WS_PING:
			ws_send(WS_OP_PONG, ev.data, ev.len);
			break;
		case WS_PONG:
			break;
		case WS_CLOSE:
			c.closed = true;
			c.close_code = ev.close_code;
			return;
		default:
			fprintf(stderr, "sy_vpnc: websocket error from the server: %s\n",
			    ws_verdict_str(v));
			printf("session=closed reason=ws_%s\n", ws_verdict_str(v));
			finish(VC_EXIT_SESSION);
		}
	}
}

/* One loop turn: waits up to wait_ms for the socket, writes what it can, reads a burst. */
static void
pump(int wait_ms)
{
	struct pollfd p = { .fd = c.fd, .events = POLLIN };
	uint8_t buf[VC_READ_CHUNK];
	uint64_t now = now_ms();

	if (now >= c.deadline_ms)
		timeout_exit();
	if ((uint64_t)wait_ms > c.deadline_ms - now)
		wait_ms = (int)(c.deadline_ms - now);
	if (out_pending() > 0 || c.ssl_want_write)
		p.events |= POLLOUT;
	if (c.ssl != NULL && SSL_pending(c.ssl) > 0)
		wait_ms = 0;
	if (c.eof || c.closed)
		p.events &= (short)~POLLIN;
	if (poll(&p, 1, wait_ms) == -1 && errno != EINTR) {
		perror("sy_vpnc: poll");
		finish(VC_EXIT_SESSION);
	}
	c.ssl_want_write = false;
	while (out_pending() > 0) {
		ssize_t w = io_write(c.out + c.out_off, out_pending());
		if (w == -1)
			break;
		if (w < 0) {
			if (!c.in_session || c.eof || c.closed)
				break; /* the server went away: the reader reports it */
			c.eof = true;
			break;
		}
		c.out_off += (size_t)w;
	}
	for (size_t got = 0; got < VC_READ_BURST && !c.eof && !c.closed;) {
		ssize_t n = io_read(buf, sizeof buf);
		if (n == -1)
			break;
		if (n <= 0) {
			c.eof = true;
			break;
		}
		got += (size_t)n;
		on_bytes(buf, (size_t)n);
	}
}

/* Writes out everything queued (bounded by the deadline; a gone peer ends it). */
static void
drain_out(void)
{
	while (out_pending() > 0 && !c.eof)
		pump(VC_POLL_MS);
}

/* ---- transport: TCP, TLS, upgrade ---- */

/* Connects TCP to --connect (IP:PORT or [IPv6]:PORT), non-blocking, within the deadline. */
static void
tcp_connect(void)
{
	char host[128], port[8];
	const char *s = o.connect, *colon = strrchr(s, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST |
	    AI_NUMERICSERV }, *ai = NULL;
	size_t hl;

	if (colon == NULL || strlen(colon + 1) >= sizeof port)
		finish(usage("--connect wants IP:PORT"));
	if (*s == '[') {
		s++;
		if (colon[-1] != ']')
			finish(usage("--connect wants [IPv6]:PORT"));
		hl = (size_t)(colon - 1 - s);
	} else {
		hl = (size_t)(colon - s);
	}
	if (hl >= sizeof host)
		finish(usage("--connect: address too long"));
	memcpy(host, s, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		finish(usage("--connect: not an IP:PORT"));
	c.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c.fd == -1) {
		perror("sy_vpnc: socket");
		finish(VC_EXIT_CONNECT);
	}
	int one = 1;
	setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c.fd, ai->ai_addr, ai->ai_addrlen) == -1 && errno != EINPROGRESS) {
		fprintf(stderr, "sy_vpnc: connect %s: %s\n", o.connect, strerror(errno));
		freeaddrinfo(ai);
		printf("connect=failed\n");
		finish(VC_EXIT_CONNECT);
	}
	freeaddrinfo(ai);
	struct pollfd p = { .fd = c.fd, .events = POLLOUT };
	uint64_t now = now_ms();
	int err = 0;
	socklen_t el = sizeof err;
	if (now >= c.deadline_ms || poll(&p, 1, (int)(c.deadline_ms - now)) != 1)
		timeout_exit();
	if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1 || err != 0) {
		fprintf(stderr, "sy_vpnc: connect %s: %s\n", o.connect, strerror(err));
		printf("connect=failed\n");
		finish(VC_EXIT_CONNECT);
	}
}

/* TLS 1.3 with SNI and ALPN http/1.1, as the desktop client (§3.1). */
static void
tls_connect(void)
{
	static const unsigned char alpn[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };

	c.ctx = SSL_CTX_new(TLS_client_method());
	if (c.ctx == NULL || SSL_CTX_set_min_proto_version(c.ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_alpn_protos(c.ctx, alpn, sizeof alpn) != 0)
		goto fail;
	SSL_CTX_set_mode(c.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(c.ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (o.cafile != NULL) {
		if (SSL_CTX_load_verify_locations(c.ctx, o.cafile, NULL) != 1)
			goto fail;
		SSL_CTX_set_verify(c.ctx, SSL_VERIFY_PEER, NULL);
	}
	c.ssl = SSL_new(c.ctx);
	if (c.ssl == NULL || SSL_set_fd(c.ssl, c.fd) != 1 ||
	    SSL_set_tlsext_host_name(c.ssl, o.sni) != 1 ||
	    (o.cafile != NULL && SSL_set1_host(c.ssl, o.sni) != 1))
		goto fail;
	for (;;) {
		int rc = SSL_connect(c.ssl);
		if (rc == 1)
			break;
		struct pollfd p = { .fd = c.fd };
		int e = SSL_get_error(c.ssl, rc);
		if (e == SSL_ERROR_WANT_READ)
			p.events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			p.events = POLLOUT;
		else
			goto fail;
		uint64_t now = now_ms();
		if (now >= c.deadline_ms)
			timeout_exit();
		poll(&p, 1, (int)(c.deadline_ms - now));
	}
	return;
fail:
	ERR_print_errors_fp(stderr);
	printf("tls=failed\n");
	finish(VC_EXIT_CONNECT);
}

static char ws_key[WS_KEY_LEN + 1];

/* Sends the upgrade request (§3.2: no Origin, no subprotocol, no extensions). */
static void
send_upgrade(void)
{
	uint8_t nonce[WS_NONCE_LEN];
	char req[1024];

	randombytes_buf(nonce, sizeof nonce);
	ws_key_encode(nonce, ws_key);
	int n = snprintf(req, sizeof req,
	    "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Connection: Upgrade\r\n"
	    "Pragma: no-cache\r\n"
	    "Cache-Control: no-cache\r\n"
	    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
	    "Chrome/131.0.0.0 Safari/537.36\r\n"
	    "Upgrade: websocket\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
	    "Accept-Language: en-US,en;q=0.9\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "\r\n", o.path, o.sni, ws_key);
	if (n < 0 || (size_t)n >= sizeof req)
		finish(usage("--path or --sni too long"));
	out_put((const uint8_t *)req, (size_t)n);
}

/* Checks the upgrade answer: status 101 and the right Sec-WebSocket-Accept. */
static void
on_head(size_t end)
{
	char want[WS_ACCEPT_LEN + 1];
	int status = 0;
	bool accept_ok = false;

	c.head[end] = '\0';
	if (strncmp(c.head, "HTTP/1.1 ", 9) == 0 || strncmp(c.head, "HTTP/1.0 ", 9) == 0)
		status = atoi(c.head + 9);
	if (ws_accept(ws_key, strlen(ws_key), want) != 0)
		finish(VC_EXIT_USAGE);
	for (char *l = strstr(c.head, "\r\n"); l != NULL && l[2] != '\r';) {
		l += 2;
		char *e = strstr(l, "\r\n");
		if (e == NULL)
			break;
		if (strncasecmp(l, "Sec-WebSocket-Accept:", 21) == 0) {
			char *v = l + 21;
			while (*v == ' ' || *v == '\t')
				v++;
			char *ve = e;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			accept_ok = (size_t)(ve - v) == WS_ACCEPT_LEN && memcmp(v, want, WS_ACCEPT_LEN) == 0;
		}
		l = e;
	}
	if (status != 101) {
		printf("upgrade=failed status=%d\n", status);
		finish(VC_EXIT_UPGRADE);
	}
	if (!accept_ok) {
		printf("upgrade=failed status=101 reason=bad_accept\n");
		finish(VC_EXIT_UPGRADE);
	}
	printf("upgrade=ok\n");
}

/* ---- handshake and session ---- */

static struct rvpn_identity ident;
static struct rvpn_bundle bundle;

/* Loads --identity and --bundle and checks the bundle's own signature. */
static void
load_keys(void)
{
	static char text[VC_FILE_MAX];
	long n;

	if ((n = read_file(o.identity, text, sizeof text)) < 0)
		finish(VC_EXIT_USAGE);
	if (rvpn_identity_parse(&ident, text, (size_t)n) != 0) {
		fprintf(stderr, "sy_vpnc: %s: not an identity file\n", o.identity);
		finish(VC_EXIT_USAGE);
	}
	sodium_memzero(text, sizeof text);
	if ((n = read_file(o.bundle, text, sizeof text)) < 0)
		finish(VC_EXIT_USAGE);
	if (rvpn_bundle_parse(&bundle, text, (size_t)n) != 0) {
		fprintf(stderr, "sy_vpnc: %s: not a prekey bundle\n", o.bundle);
		finish(VC_EXIT_USAGE);
	}
	if (!rvpn_spk_verify(bundle.prekey_signature, bundle.identity_key, bundle.signed_prekey)) {
		fprintf(stderr, "sy_vpnc: %s: the prekey signature does not verify\n", o.bundle);
		finish(VC_EXIT_USAGE);
	}
}

/* Reports how the server ended the session and exits (after the handshake). */
static void
session_ended(void)
{
	if (o.tamper > 0 && c.tampered) {
		printf("tamper=session_ended\n");
		finish(VC_EXIT_OK);
	}
	printf("session=closed");
	if (c.closed)
		printf(" close_code=%u", c.close_code);
	printf("%s\n", c.reset ? " reset=1" : "");
	finish(VC_EXIT_SESSION);
}

/* Seals pt (already at seal_buf + RVPN_WIRE_HDR_LEN, padded or not) and queues it. */
static void
seal_send(uint8_t type, size_t pt_len)
{
	int n = rvpn_ratchet_seal(&c.r, type, seal_buf + RVPN_WIRE_HDR_LEN, pt_len, NULL,
	    seal_buf, sizeof seal_buf);
	if (n < 0) {
		fprintf(stderr, "sy_vpnc: cannot seal %zu bytes\n", pt_len);
		finish(VC_EXIT_USAGE);
	}
	c.sent_msgs++;
	if (o.tamper > 0 && c.sent_msgs == o.tamper) {
		seal_buf[RVPN_WIRE_HDR_LEN] ^= 1;
		c.tampered = true;
		printf("tampered=%llu\n", (unsigned long long)o.tamper);
	}
	ws_send(WS_OP_BINARY, seal_buf, (size_t)n);
}

/* --full-msg: seals RVPN_PAD_MAX_DATA data bytes (already at seal_buf + RVPN_WIRE_HDR_LEN)
 * padded to exactly RVPN_PAD_MAX, appends o.full_extra junk bytes, sends it fragmented. */
static void
send_full(void)
{
	static uint8_t msg[VC_SEAL_CAP + 16];
	int pl = rvpn_pad(seal_buf + RVPN_WIRE_HDR_LEN, RVPN_PAD_MAX, RVPN_PAD_MAX_DATA,
	    RVPN_PAD_RANDOM);
	int n = pl != RVPN_PAD_MAX ? -1 : rvpn_ratchet_seal(&c.r, RVPN_PT_DATA,
	    seal_buf + RVPN_WIRE_HDR_LEN, (size_t)pl, NULL, seal_buf, sizeof seal_buf);
	if (n != WS_MSG_MAX || o.full_extra > sizeof msg - (size_t)n) {
		fprintf(stderr, "sy_vpnc: --full-msg: sealed %d bytes, want %d\n", n, WS_MSG_MAX);
		finish(VC_EXIT_USAGE);
	}
	c.sent_msgs++;
	memcpy(msg, seal_buf, (size_t)n);
	randombytes_buf(msg + n, (size_t)o.full_extra);
	ws_send_fragments(msg, (size_t)n + (size_t)o.full_extra);
}

/* Pads data already at seal_buf + RVPN_WIRE_HDR_LEN (len bytes), seals and queues it. */
static void
send_padded(uint8_t type, size_t len)
{
	int n = rvpn_pad(seal_buf + RVPN_WIRE_HDR_LEN, RVPN_PAD_MAX, len, RVPN_PAD_RANDOM);
	if (n < 0)
		finish(VC_EXIT_USAGE);
	seal_send(type, (size_t)n);
}

/* Queues one mux frame (flow, payload) in its own message, as the desktop client does. */
static void
send_mux(uint32_t flow, uint8_t type, const uint8_t *p, size_t n)
{
	uint8_t *b = seal_buf + RVPN_WIRE_HDR_LEN;
	if (rvpn_mux_header(b, RVPN_PAD_MAX, flow, n) < 0)
		finish(VC_EXIT_USAGE);
	memcpy(b + RVPN_MUX_HDR_LEN, p, n);
	send_padded(type, RVPN_MUX_HDR_LEN + n);
}

/* Queues a control message on flow 0 (payload type Admin). */
static void
send_ctl(const struct rvpn_ctl *ctl, const char *str, size_t slen)
{
	uint8_t b[RVPN_CTL_MAX_LEN];
	int n = rvpn_ctl_encode(b, sizeof b, ctl, (const uint8_t *)str, slen);
	if (n < 0)
		finish(VC_EXIT_USAGE);
	send_mux(RVPN_MUX_CONTROL, RVPN_PT_ADMIN, b, (size_t)n);
}

static void mode_on_msg(uint8_t type, uint8_t *pt, size_t len);
static void tun_on_msg(uint8_t type, uint8_t *pt, size_t len);
static void tun_run(void);
static bool tun_stash(const uint8_t *m, size_t n);

/* A whole WebSocket message: the handshake answer, or a session message to open. */
static void
on_ws_message(const uint8_t *m, size_t n)
{
	if (!c.in_session) {
		if (c.hs_have && o.mode == VC_TUN && tun_stash(m, n))
			return; /* VirtualIp right behind the ServerHello: opened after it */
		if (c.hs_have || n > sizeof c.hs_msg) {
			printf("handshake=bad_server_hello reason=%s\n", c.hs_have ? "extra_message" :
			    "too_long");
			finish(VC_EXIT_BAD_HELLO);
		}
		memcpy(c.hs_msg, m, n);
		c.hs_len = n;
		c.hs_have = true;
		return;
	}
	size_t pt_len;
	uint8_t type;
	enum rvpn_open_verdict v = rvpn_ratchet_open(&c.r, m, n, open_buf, sizeof open_buf,
	    &pt_len, &type);
	if (v != RVPN_OPEN_OK) {
		printf("session_error=%s\n", rvpn_open_verdict_str(v));
		finish(VC_EXIT_SESSION);
	}
	mode_on_msg(type, open_buf, pt_len);
}

static void send_ctl(const struct rvpn_ctl *ctl, const char *str, size_t slen);

/* --early-ping: the session keys from the bundle's signed prekey (the ServerHello must
 * then carry the same one, which handshake checks) and a Ping queued right behind the
 * Hello, so both leave in one write and reach the server in one read. */
static void
early_ping(const uint8_t ek_priv[32])
{
	uint8_t sk[32];
	if (rvpn_x3dh_client(sk, NULL, ident.seed, ek_priv, bundle.identity_x25519_key,
	    bundle.signed_prekey) != 0 || rvpn_ratchet_init(&c.r, RVPN_ROLE_CLIENT, sk, NULL) != 0) {
		sodium_memzero(sk, sizeof sk);
		fprintf(stderr, "sy_vpnc: --early-ping: x3dh failed\n");
		finish(VC_EXIT_USAGE);
	}
	sodium_memzero(sk, sizeof sk);
	struct rvpn_ctl ctl = { .kind = RVPN_CTL_PING, .timestamp = o.ping };
	send_ctl(&ctl, NULL, 0);
}

/* Sends the Hello (fresh, or the recorded one) and completes the handshake. */
static void
handshake(void)
{
	static char text[VC_FILE_MAX];
	uint8_t ek_priv[32], ek_pub[32], sk[32];
	struct rvpn_server_msg sm;
	char hello[RVPN_HELLO_MAX];
	long n;

	c.phase = "handshake";
	randombytes_buf(ek_priv, sizeof ek_priv);
	if (crypto_scalarmult_base(ek_pub, ek_priv) != 0)
		finish(VC_EXIT_USAGE);
	if (o.replay != NULL) {
		if ((n = read_file(o.replay, text, sizeof text)) < 0)
			finish(VC_EXIT_USAGE);
		if ((size_t)n > WS_OUT_MAX)
			finish(usage("--replay-hello: file too long"));
		ws_send(WS_OP_BINARY, (const uint8_t *)text, (size_t)n);
	} else {
		n = rvpn_hello_emit(hello, sizeof hello, ek_pub, ident.x_pub);
		if (n < 0)
			finish(VC_EXIT_USAGE);
		ws_send(WS_OP_BINARY, (const uint8_t *)hello, (size_t)n);
		if (o.early_ping)
			early_ping(ek_priv);
		if (o.record != NULL) {
			FILE *f = fopen(o.record, "wb");
			if (f == NULL || fwrite(hello, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
				fprintf(stderr, "sy_vpnc: cannot write %s\n", o.record);
				finish(VC_EXIT_USAGE);
			}
		}
	}
	while (!c.hs_have && !c.eof && !c.closed)
		pump(VC_POLL_MS);
	if (!c.hs_have) {
		printf("handshake=closed");
		if (c.closed)
			printf(" close_code=%u", c.close_code);
		printf("\n");
		finish(VC_EXIT_REFUSED);
	}
	if (rvpn_server_msg_parse(c.hs_msg, c.hs_len, &sm) != 0) {
		printf("handshake=bad_server_hello reason=unparsable\n");
		finish(VC_EXIT_BAD_HELLO);
	}
	if (sm.kind == RVPN_SERVER_ERROR) {
		printf("handshake=error code=%u message=", sm.code);
		put_escaped(stdout, (const char *)sm.message, sm.message_len);
		printf("\n");
		finish(VC_EXIT_ERROR);
	}
	if (o.replay != NULL) {
		printf("handshake=replay_accepted\n");
		finish(VC_EXIT_REPLAYED);
	}
	const char *why = NULL;
	if (sodium_memcmp(sm.identity_key, bundle.identity_key, 32) != 0)
		why = "identity_key_not_bundle";
	else if (sodium_memcmp(sm.signed_prekey, bundle.signed_prekey, 32) != 0)
		why = "signed_prekey_not_bundle";
	else if (!rvpn_spk_verify(sm.prekey_signature, sm.identity_key, sm.signed_prekey))
		why = "bad_signature";
	if (why != NULL) {
		printf("handshake=bad_server_hello reason=%s\n", why);
		finish(VC_EXIT_BAD_HELLO);
	}
	if (!o.early_ping && (rvpn_x3dh_client(sk, NULL, ident.seed, ek_priv,
	    bundle.identity_x25519_key, sm.signed_prekey) != 0 ||
	    rvpn_ratchet_init(&c.r, RVPN_ROLE_CLIENT, sk, NULL) != 0)) {
		printf("handshake=bad_server_hello reason=x3dh\n");
		finish(VC_EXIT_BAD_HELLO);
	}
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(ek_priv, sizeof ek_priv);
	c.in_session = true;
	printf("handshake=ok\n");
	fflush(stdout);
}

/* ---- modes ---- */

/* ws-echo and fetch over /ws: message 1, the target (§7.3). */
static void
send_target(void)
{
	int n = rvpn_target_encode(seal_buf + RVPN_WIRE_HDR_LEN, RVPN_PAD_MAX, c.thost,
	    strlen(c.thost), c.tport);
	if (n < 0)
		finish(usage("--target: bad host"));
	send_padded(RVPN_PT_DATA, (size_t)n);
	c.target_sent = true;
}

/* The HTTP request of fetch. */
static size_t
fetch_request(char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sy_vpnc\r\n"
	    "Accept: */*\r\nConnection: close\r\n\r\n", o.fetch, c.thost);
	if (n < 0 || (size_t)n >= cap)
		finish(usage("--fetch: path too long"));
	return (size_t)n;
}

/* Keeps response bytes of fetch. */
static void
fetch_keep(const uint8_t *p, size_t n)
{
	if (c.resp_len + n > VC_FETCH_MAX) {
		printf("result=fail reason=response_too_long\n");
		finish(VC_EXIT_CHECK);
	}
	uint8_t *nb = realloc(c.resp, c.resp_len + n + 1);
	if (nb == NULL)
		finish(VC_EXIT_USAGE);
	c.resp = nb;
	memcpy(c.resp + c.resp_len, p, n);
	c.resp_len += n;
	c.resp[c.resp_len] = '\0';
}

/* True when the fetched response is complete by its own framing (Content-Length or the
 * last chunk); false when only the close can tell. */
static bool
fetch_complete(void)
{
	char *e = c.resp ? strstr((char *)c.resp, "\r\n\r\n") : NULL;
	if (e == NULL)
		return false;
	size_t hl = (size_t)(e - (char *)c.resp) + 4, body = c.resp_len - hl;
	for (char *l = (char *)c.resp; l < e; l = strstr(l, "\r\n") + 2) {
		if (strncasecmp(l, "Content-Length:", 15) == 0)
			return body >= strtoull(l + 15, NULL, 10);
		if (strncasecmp(l, "Transfer-Encoding:", 18) == 0 && strstr(l, "chunked") != NULL)
			return body >= 5 && memcmp(c.resp + c.resp_len - 5, "0\r\n\r\n", 5) == 0;
	}
	return false;
}

/* Prints the fetch result: status and the body's length and SHA-256 (chunked decoded). */
static void
fetch_report(void)
{
	crypto_hash_sha256_state st;
	char hex[65];
	int status = 0;
	size_t body_n = 0;

	char *e = c.resp ? strstr((char *)c.resp, "\r\n\r\n") : NULL;
	if (e == NULL || sscanf((char *)c.resp, "HTTP/1.%*d %d", &status) != 1) {
		printf("result=fail reason=no_response bytes=%zu\n", c.resp_len);
		finish(VC_EXIT_CHECK);
	}
	size_t hl = (size_t)(e - (char *)c.resp) + 4;
	bool chunked = false;
	for (char *l = (char *)c.resp; l < e; l = strstr(l, "\r\n") + 2)
		if (strncasecmp(l, "Transfer-Encoding:", 18) == 0 && strstr(l, "chunked") != NULL)
			chunked = true;
	crypto_hash_sha256_init(&st);
	if (!chunked) {
		body_n = c.resp_len - hl;
		crypto_hash_sha256_update(&st, c.resp + hl, body_n);
	} else {
		size_t p = hl;
		for (;;) {
			char *end;
			unsigned long long sz = strtoull((char *)c.resp + p, &end, 16);
			char *crlf = strstr((char *)c.resp + p, "\r\n");
			if (crlf == NULL || end == (char *)c.resp + p) {
				printf("result=fail reason=bad_chunk\n");
				finish(VC_EXIT_CHECK);
			}
			p = (size_t)(crlf - (char *)c.resp) + 2;
			if (sz == 0)
				break;
			if (sz > c.resp_len - p) {
				printf("result=fail reason=short_chunk\n");
				finish(VC_EXIT_CHECK);
			}
			crypto_hash_sha256_update(&st, c.resp + p, (size_t)sz);
			body_n += (size_t)sz;
			p += (size_t)sz + 2;
		}
	}
	sha_hex(&st, hex);
	printf("status=%d body_bytes=%zu body_sha256=%s result=ok\n", status, body_n, hex);
	finish(VC_EXIT_OK);
}

/* ws-echo / fetch over /ws: what the server sent (one unpadded data message). */
static void
ws_on_data(const uint8_t *d, size_t n)
{
	if (o.mode == VC_FETCH) {
		fetch_keep(d, n);
		if (fetch_complete())
			fetch_report();
		return;
	}
	crypto_hash_sha256_update(&c.ws_hr, d, n);
	c.ws_recv += n;
	if (c.ws_recv > o.bytes) {
		printf("result=mismatch reason=more_than_sent bytes=%llu\n",
		    (unsigned long long)c.ws_recv);
		finish(VC_EXIT_CHECK);
	}
}

/* ws-echo / fetch over /ws: what to send next. */
static void
ws_produce(void)
{
	uint8_t *b = seal_buf + RVPN_WIRE_HDR_LEN;
	if (!c.target_sent)
		send_target();
	if (o.mode == VC_FETCH) {
		if (!c.request_sent) {
			char req[2048];
			size_t n = fetch_request(req, sizeof req);
			memcpy(b, req, n);
			send_padded(RVPN_PT_DATA, n);
			c.request_sent = true;
		}
		return;
	}
	while (c.ws_sent < o.bytes && out_pending() < VC_OUT_HIGH) {
		size_t step = o.full_msg ? RVPN_PAD_MAX_DATA : RVPN_MUX_MAX_DATA;
		size_t k = o.bytes - c.ws_sent < step ? (size_t)(o.bytes - c.ws_sent) : step;
		prng_fill(&c.ws_prng, b, k);
		crypto_hash_sha256_update(&c.ws_hs, b, k);
		c.ws_sent += k;
		if (o.full_msg && k == RVPN_PAD_MAX_DATA)
			send_full();
		else
			send_padded(RVPN_PT_DATA, k);
	}
	if (c.ws_sent == o.bytes && c.ws_recv == o.bytes)
		c.done = true;
}

/* The flow with this id, or NULL. */
static struct vc_flow *
flow_of(uint32_t id)
{
	unsigned k = o.mode == VC_FETCH ? 1 : o.flows;
	return id >= 1 && id <= k ? &c.flows[id - 1] : NULL;
}

/* Grants the server what a flow consumed, by the credit policy of the options. */
static void
flow_grant(struct vc_flow *f, uint64_t now, bool all)
{
	if (o.no_wu || f->pending_grant == 0 || f->closed || f->failed ||
	    now - o.start_ms < o.credit_after)
		return;
	if (o.slow_credit ? now - f->last_grant_ms < VC_SLOW_GRANT_MS :
	    (f->pending_grant < VC_GRANT_MIN && !all))
		return;
	uint64_t g = f->pending_grant > UINT32_MAX ? UINT32_MAX : f->pending_grant;
	struct rvpn_ctl ctl = { .kind = RVPN_CTL_WINDOW_UPDATE, .flow_id = f->id, .window = (uint32_t)g };
	send_ctl(&ctl, NULL, 0);
	f->grant_left += (int64_t)g;
	f->pending_grant -= g;
	f->last_grant_ms = now;
}

/* mux-echo / fetch over /mux: creates the flows, sends data within credit, grants. */
static void
mux_produce(void)
{
	unsigned k = o.mode == VC_FETCH ? 1 : o.flows;
	uint64_t now = now_ms();
	uint8_t data[RVPN_MUX_MAX_DATA];

	if (!c.flows_opened) {
		for (unsigned i = 0; i < k; i++) {
			struct rvpn_ctl ctl = { .kind = RVPN_CTL_CREATE_FLOW, .flow_id = c.flows[i].id,
				.port = c.tport };
			send_ctl(&ctl, c.thost, strlen(c.thost));
		}
		if (o.ping_set) {
			struct rvpn_ctl ping = { .kind = RVPN_CTL_PING, .timestamp = o.ping };
			send_ctl(&ping, NULL, 0);
		}
		c.flows_opened = true;
	}
	bool progress = true, all_done = true;
	while (progress && out_pending() < VC_OUT_HIGH) {
		progress = false;
		for (unsigned i = 0; i < k && out_pending() < VC_OUT_HIGH; i++) {
			struct vc_flow *f = &c.flows[i];
			if (f->failed || f->closed)
				continue;
			if (o.mode == VC_FETCH) {
				if (!c.request_sent && (f->created || o.zero_rtt > 0)) {
					char req[2048];
					size_t n = fetch_request(req, sizeof req);
					if ((int64_t)n <= f->send_credit) {
						send_mux(f->id, RVPN_PT_DATA, (const uint8_t *)req, n);
						f->send_credit -= (int64_t)n;
						c.request_sent = true;
					}
				}
				continue;
			}
			uint64_t allow = f->created ? o.bytes : (o.zero_rtt < o.bytes ? o.zero_rtt : o.bytes);
			if (f->sent >= allow || f->send_credit <= 0)
				continue;
			uint64_t n = allow - f->sent;
			if (n > RVPN_MUX_MAX_DATA)
				n = RVPN_MUX_MAX_DATA;
			if ((int64_t)n > f->send_credit)
				n = (uint64_t)f->send_credit;
			prng_fill(&f->prng, data, (size_t)n);
			crypto_hash_sha256_update(&f->hs, data, (size_t)n);
			send_mux(f->id, RVPN_PT_DATA, data, (size_t)n);
			f->sent += n;
			f->send_credit -= (int64_t)n;
			progress = true;
		}
	}
	for (unsigned i = 0; i < k; i++) {
		struct vc_flow *f = &c.flows[i];
		bool complete = o.mode != VC_FETCH && f->sent == o.bytes && f->recv == o.bytes;
		flow_grant(f, now, complete);
		if (complete && !f->close_sent && !f->closed && !f->failed) {
			struct rvpn_ctl ctl = { .kind = RVPN_CTL_CLOSE_FLOW, .flow_id = f->id };
			send_ctl(&ctl, NULL, 0);
			f->close_sent = true;
		}
		if (!(f->close_sent || f->closed || f->failed))
			all_done = false;
	}
	if (o.mode != VC_FETCH && all_done && (!o.ping_set || c.pong_seen))
		c.done = true;
}

/* mux: one control message from the server. */
static void
mux_on_ctl(const uint8_t *p, size_t n)
{
	struct rvpn_ctl ctl;
	enum rvpn_ctl_verdict v = rvpn_ctl_decode(p, n, &ctl);
	if (v != RVPN_CTL_OK) {
		printf("session_error=control_%s\n", rvpn_ctl_verdict_str(v));
		finish(VC_EXIT_SESSION);
	}
	if (ctl.kind == RVPN_CTL_PONG) {
		printf("pong=%llu\n", (unsigned long long)ctl.timestamp);
		c.pong_seen = true;
		return;
	}
	struct vc_flow *f = flow_of(ctl.flow_id);
	if (f == NULL) {
		fprintf(stderr, "sy_vpnc: control %d for unknown flow %u\n", (int)ctl.kind,
		    ctl.flow_id);
		return;
	}
	switch (ctl.kind) {
	case RVPN_CTL_FLOW_CREATED:
		f->created = true;
		break;
	case RVPN_CTL_FLOW_FAILED: {
		f->failed = true;
		char *w = f->error;
		for (size_t i = 0; i < ctl.str_len && w + 4 < f->error + sizeof f->error; i++) {
			unsigned char ch = p[ctl.str_off + i];
			if (ch <= 0x20 || ch >= 0x7f || ch == '%' || ch == '=')
				w += snprintf(w, 4, "%%%02X", ch);
			else
				*w++ = (char)ch;
		}
		*w = '\0';
		break;
	}
	case RVPN_CTL_CLOSE_FLOW:
		f->closed = true;
		break;
	case RVPN_CTL_WINDOW_UPDATE:
		f->send_credit += ctl.window;
		break;
	default:
		fprintf(stderr, "sy_vpnc: unexpected control %d\n", (int)ctl.kind);
		break;
	}
	if (o.mode == VC_FETCH && (f->closed || f->failed)) {
		if (f->failed)
			printf("flow=1 result=failed error=%s\n", f->error);
		fetch_report();
	}
}

/* mux: one data frame from the server for a flow; checks it against our credit. */
static void
mux_on_data(uint32_t id, const uint8_t *p, size_t n)
{
	struct vc_flow *f = flow_of(id);
	if (f == NULL) {
		printf("session_error=data_for_unknown_flow flow=%u\n", id);
		finish(VC_EXIT_SESSION);
	}
	if ((int64_t)n > f->grant_left) {
		c.violations++;
		fprintf(stderr, "sy_vpnc: flow %u: %zu bytes with %lld credit left\n", id, n,
		    (long long)f->grant_left);
		f->grant_left = 0;
	} else {
		f->grant_left -= (int64_t)n;
	}
	f->recv += n;
	f->pending_grant += n;
	if (o.mode == VC_FETCH) {
		fetch_keep(p, n);
		if (fetch_complete())
			fetch_report();
		return;
	}
	crypto_hash_sha256_update(&f->hr, p, n);
	if (f->recv > o.bytes) {
		printf("flow=%u result=mismatch reason=more_than_sent\n", id);
		finish(VC_EXIT_CHECK);
	}
}

/* dns: the queries, all at once (unpadded JSON, type 0x08). */
static void
dns_produce(void)
{
	if (c.dns_sent)
		return;
	for (unsigned i = 1; i <= o.repeat; i++) {
		struct rvpn_dns_query q = { .query_id = i, .query_type = o.qtype };
		q.domain_len = strlen(o.name);
		memcpy(q.domain, o.name, q.domain_len + 1);
		int n = rvpn_dns_query_emit((char *)seal_buf + RVPN_WIRE_HDR_LEN, RVPN_DNS_MAX, &q);
		if (n < 0)
			finish(usage("--name: not a domain"));
		seal_send(RVPN_PT_DNS_QUERY, (size_t)n);
	}
	c.dns_sent = true;
}

/* dns: one answer. */
static void
dns_on_reply(const uint8_t *p, size_t n)
{
	static struct rvpn_dns_response r;
	if (rvpn_dns_response_parse(p, n, &r) != 0) {
		printf("session_error=bad_dns_response\n");
		finish(VC_EXIT_SESSION);
	}
	printf("query_id=%llu success=%s ttl=%u ipv4=", (unsigned long long)r.query_id,
	    r.success ? "true" : "false", r.ttl);
	for (size_t i = 0; i < r.n4; i++)
		printf("%s%s", i ? "," : "", r.ipv4[i]);
	printf(" ipv6=");
	for (size_t i = 0; i < r.n6; i++)
		printf("%s%s", i ? "," : "", r.ipv6[i]);
	printf(" error=");
	if (r.has_error)
		put_escaped(stdout, r.error, strlen(r.error));
	else
		printf("null");
	printf("\n");
	if (++c.dns_answers == o.repeat) {
		printf("answers=%u result=ok\n", c.dns_answers);
		c.done = true;
	}
}

static void
mode_on_msg(uint8_t type, uint8_t *pt, size_t len)
{
	size_t dl, pos = 0;
	struct rvpn_mux_frame fr;

	if (o.mode == VC_TUN) {
		tun_on_msg(type, pt, len);
		return;
	}
	if (o.mode == VC_DNS) {
		if (type != RVPN_PT_DNS_REPLY) {
			printf("session_error=unexpected_type type=%u\n", type);
			finish(VC_EXIT_SESSION);
		}
		dns_on_reply(pt, len);
		return;
	}
	if (rvpn_unpad(pt, len, &dl) != 0) {
		printf("session_error=bad_padding\n");
		finish(VC_EXIT_SESSION);
	}
	bool mux = o.mode == VC_MUX_ECHO || (o.mode == VC_FETCH && c.flows != NULL);
	if (!mux) {
		if (type != RVPN_PT_DATA) {
			printf("session_error=unexpected_type type=%u\n", type);
			finish(VC_EXIT_SESSION);
		}
		ws_on_data(pt, dl);
		return;
	}
	for (;;) {
		enum rvpn_mux_verdict v = rvpn_mux_next(pt, dl, &pos, &fr);
		if (v == RVPN_MUX_END)
			break;
		if (v != RVPN_MUX_FRAME) {
			printf("session_error=bad_mux_frame\n");
			finish(VC_EXIT_SESSION);
		}
		if (fr.flow_id == RVPN_MUX_CONTROL)
			mux_on_ctl(pt + fr.off, fr.len);
		else
			mux_on_data(fr.flow_id, pt + fr.off, fr.len);
	}
}

/* mux-echo: the per-flow lines and the summary; the exit code. */
static int
mux_report(void)
{
	unsigned ok = 0;
	char hs[65], hr[65];

	for (unsigned i = 0; i < o.flows; i++) {
		struct vc_flow *f = &c.flows[i];
		sha_hex(&f->hs, hs);
		sha_hex(&f->hr, hr);
		const char *res = f->failed ? "failed" : f->recv < o.bytes && f->closed ? "closed" :
		    f->recv == o.bytes && strcmp(hs, hr) == 0 ? "ok" : "mismatch";
		printf("flow=%u bytes=%llu sha256_sent=%s sha256_recv=%s result=%s", f->id,
		    (unsigned long long)f->recv, hs, hr, res);
		if (f->failed)
			printf(" error=%s", f->error);
		printf("\n");
		ok += strcmp(res, "ok") == 0;
	}
	bool pass = ok == o.flows && c.violations == 0;
	printf("flows=%u flows_ok=%u credit_violations=%llu result=%s\n", o.flows, ok,
	    (unsigned long long)c.violations, pass ? "ok" : "fail");
	return pass ? VC_EXIT_OK : VC_EXIT_CHECK;
}

/* Parses --target HOST:PORT (host may be [IPv6]). */
static void
parse_target(void)
{
	const char *colon = o.target ? strrchr(o.target, ':') : NULL;
	char *end;
	if (colon == NULL || colon == o.target)
		finish(usage("--target wants HOST:PORT"));
	size_t hl = (size_t)(colon - o.target);
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (hl > RVPN_TARGET_MAX_HOST || *end != '\0' || p == 0 || p > 65535)
		finish(usage("--target wants HOST:PORT"));
	memcpy(c.thost, o.target, hl);
	c.thost[hl] = '\0';
	c.tport = (uint16_t)p;
}

/* Parses an unsigned number option (sizes may end in k or m). */
static uint64_t
num_arg(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (errno != 0 || end == s || *end != '\0' || *s == '-') {
		fprintf(stderr, "sy_vpnc: %s: not a number: %s\n", what, s);
		finish(VC_EXIT_USAGE);
	}
	return v;
}

int
main(int argc, char **argv)
{
	enum { OPT_CONNECT = 256, OPT_SNI, OPT_CAFILE, OPT_PLAIN, OPT_PATH, OPT_IDENTITY, OPT_BUNDLE,
		OPT_TIMEOUT, OPT_SEED, OPT_RECORD, OPT_REPLAY, OPT_TAMPER, OPT_TARGET, OPT_BYTES, OPT_FLOWS,
		OPT_SLOW, OPT_NOWU, OPT_ZRTT, OPT_NAME, OPT_TYPE, OPT_REPEAT, OPT_FETCH, OPT_PING,
		OPT_FULL, OPT_TUN_NAME, OPT_CREDIT_AFTER, OPT_EARLY_PING };
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, OPT_CONNECT },
		{ "sni", required_argument, NULL, OPT_SNI },
		{ "cafile", required_argument, NULL, OPT_CAFILE },
		{ "plain", no_argument, NULL, OPT_PLAIN },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "identity", required_argument, NULL, OPT_IDENTITY },
		{ "bundle", required_argument, NULL, OPT_BUNDLE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "record-hello", required_argument, NULL, OPT_RECORD },
		{ "replay-hello", required_argument, NULL, OPT_REPLAY },
		{ "tamper", required_argument, NULL, OPT_TAMPER },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "bytes", required_argument, NULL, OPT_BYTES },
		{ "flows", required_argument, NULL, OPT_FLOWS },
		{ "slow-credit", no_argument, NULL, OPT_SLOW },
		{ "no-window-update", no_argument, NULL, OPT_NOWU },
		{ "credit-after", required_argument, NULL, OPT_CREDIT_AFTER },
		{ "zero-rtt", required_argument, NULL, OPT_ZRTT },
		{ "ping", required_argument, NULL, OPT_PING },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "repeat", required_argument, NULL, OPT_REPEAT },
		{ "fetch", required_argument, NULL, OPT_FETCH },
		{ "full-msg", required_argument, NULL, OPT_FULL },
		{ "tun-name", required_argument, NULL, OPT_TUN_NAME },
		{ "early-ping", no_argument, NULL, OPT_EARLY_PING },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = NULL;
	int ch;

	o.timeout_s = VC_TIMEOUT_S;
	o.start_ms = now_ms();
	o.seed = 1;
	o.flows = 1;
	o.repeat = 1;
	o.qtype = RVPN_DNS_TYPE_A;
	c.phase = "setup";
	c.deadline_ms = UINT64_MAX;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_CONNECT: o.connect = optarg; break;
		case OPT_SNI: o.sni = optarg; break;
		case OPT_CAFILE: o.cafile = optarg; break;
		case OPT_PLAIN: o.plain = true; break;
		case OPT_PATH: o.path = optarg; break;
		case OPT_IDENTITY: o.identity = optarg; break;
		case OPT_BUNDLE: o.bundle = optarg; break;
		case OPT_TIMEOUT: o.timeout_s = (unsigned)num_arg(optarg, "--timeout"); break;
		case OPT_SEED: o.seed = num_arg(optarg, "--seed"); break;
		case OPT_RECORD: o.record = optarg; break;
		case OPT_REPLAY: o.replay = optarg; break;
		case OPT_TAMPER: o.tamper = num_arg(optarg, "--tamper"); break;
		case OPT_TARGET: o.target = optarg; break;
		case OPT_BYTES: o.bytes = num_arg(optarg, "--bytes"); break;
		case OPT_FLOWS: o.flows = (unsigned)num_arg(optarg, "--flows"); break;
		case OPT_SLOW: o.slow_credit = true; break;
		case OPT_NOWU: o.no_wu = true; break;
		case OPT_CREDIT_AFTER: o.credit_after = num_arg(optarg, "--credit-after"); break;
		case OPT_ZRTT: o.zero_rtt = num_arg(optarg, "--zero-rtt"); break;
		case OPT_PING: o.ping = num_arg(optarg, "--ping"); o.ping_set = true; break;
		case OPT_NAME: o.name = optarg; break;
		case OPT_TYPE:
			o.qtype = strcasecmp(optarg, "A") == 0 ? RVPN_DNS_TYPE_A :
			    strcasecmp(optarg, "AAAA") == 0 ? RVPN_DNS_TYPE_AAAA :
			    (uint16_t)num_arg(optarg, "--type");
			break;
		case OPT_REPEAT: o.repeat = (unsigned)num_arg(optarg, "--repeat"); break;
		case OPT_FETCH: o.fetch = optarg; break;
		case OPT_TUN_NAME: o.tun_name = optarg; break;
		case OPT_EARLY_PING: o.early_ping = true; break;
		case OPT_FULL:
			o.full_msg = true;
			o.full_extra = num_arg(optarg, "--full-msg");
			if (o.full_extra > 16)
				return usage("--full-msg: at most 16 extra bytes");
			break;
		default: return usage("bad option");
		}
	}
	if (optind < argc)
		mode = argv[optind++];
	else if (o.fetch != NULL)
		mode = "fetch";
	if (mode == NULL || optind < argc)
		return usage(mode == NULL ? "no mode" : "one mode only");
	if (strcmp(mode, "hello-only") == 0) o.mode = VC_HELLO_ONLY;
	else if (strcmp(mode, "ws-echo") == 0) o.mode = VC_WS_ECHO;
	else if (strcmp(mode, "mux-echo") == 0) o.mode = VC_MUX_ECHO;
	else if (strcmp(mode, "dns") == 0) o.mode = VC_DNS;
	else if (strcmp(mode, "fetch") == 0) o.mode = VC_FETCH;
	else if (strcmp(mode, "tun") == 0) o.mode = VC_TUN;
	else return usage("unknown mode");
	if (o.connect == NULL || o.sni == NULL || o.identity == NULL || o.bundle == NULL)
		return usage("--connect, --sni, --identity and --bundle are required");
	if (o.plain && o.cafile != NULL)
		return usage("--plain and --cafile exclude each other");
	if (o.record != NULL && o.replay != NULL)
		return usage("--record-hello and --replay-hello exclude each other");
	if (o.timeout_s == 0 || o.flows == 0 || o.flows > VC_MAX_FLOWS || o.repeat == 0 ||
	    o.repeat > VC_MAX_REPEAT)
		return usage("--timeout, --flows or --repeat out of range");
	if ((o.mode == VC_WS_ECHO || o.mode == VC_MUX_ECHO || o.mode == VC_FETCH))
		parse_target();
	if (o.mode == VC_FETCH && (o.fetch == NULL || o.fetch[0] != '/'))
		return usage("fetch wants --fetch /PATH");
	if (o.early_ping && (o.mode != VC_TUN || !o.ping_set || o.replay != NULL))
		return usage("--early-ping wants tun mode and --ping, without --replay-hello");
	if (o.mode == VC_DNS && (o.name == NULL || strlen(o.name) > RVPN_DNS_MAX_DOMAIN))
		return usage("dns wants --name NAME");
	if (o.path == NULL)
		o.path = o.mode == VC_MUX_ECHO ? "/api/v1/ws/mux" : o.mode == VC_DNS ?
		    "/api/v1/ws/dns" : o.mode == VC_TUN ? "/api/v1/ws/tun" : "/api/v1/ws";
	if (sodium_init() == -1)
		return VC_EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	load_keys();

	c.deadline_ms = now_ms() + (uint64_t)o.timeout_s * 1000u;
	c.phase = "connect";
	tcp_connect();
	if (!o.plain) {
		c.phase = "tls";
		tls_connect();
	}
	c.phase = "upgrade";
	c.in_head = true;
	ws_dec_init(&c.dec, WS_ROLE_CLIENT, WS_MSG_MAX);
	send_upgrade();
	while (c.in_head && !c.eof)
		pump(VC_POLL_MS);
	if (c.in_head) {
		printf("upgrade=failed reason=closed\n");
		finish(VC_EXIT_UPGRADE);
	}
	handshake();

	c.phase = "session";
	bool mux_fetch = o.mode == VC_FETCH && strlen(o.path) >= 4 &&
	    strcmp(o.path + strlen(o.path) - 4, "/mux") == 0;
	if (o.mode == VC_MUX_ECHO || mux_fetch) {
		unsigned k = mux_fetch ? 1 : o.flows;
		c.flows = calloc(k, sizeof *c.flows);
		if (c.flows == NULL)
			finish(VC_EXIT_USAGE);
		for (unsigned i = 0; i < k; i++) {
			struct vc_flow *f = &c.flows[i];
			f->id = i + 1;
			f->send_credit = VC_CREDIT_INIT;
			f->grant_left = VC_CREDIT_INIT;
			f->prng = o.seed * 0x100000001b3ull + f->id;
			crypto_hash_sha256_init(&f->hs);
			crypto_hash_sha256_init(&f->hr);
		}
	}
	c.ws_prng = o.seed;
	crypto_hash_sha256_init(&c.ws_hs);
	crypto_hash_sha256_init(&c.ws_hr);
	if (o.mode == VC_HELLO_ONLY)
		c.done = true;
	if (o.mode == VC_TUN)
		tun_run(); /* never returns */
	while (!c.done) {
		if (c.eof || c.closed) {
			if (o.mode == VC_FETCH && c.flows == NULL)
				fetch_report(); /* /ws: the server closes when the target did */
			session_ended();
		}
		if (out_pending() < VC_OUT_HIGH) {
			if (o.mode == VC_DNS)
				dns_produce();
			else if (c.flows != NULL)
				mux_produce();
			else
				ws_produce();
		}
		if (c.done)
			break;
		pump(VC_POLL_MS);
	}
	if (o.tamper > 0 && c.tampered) {
		printf("tamper=not_detected\n");
		finish(VC_EXIT_CHECK);
	}
	int rc = VC_EXIT_OK;
	if (o.mode == VC_WS_ECHO) {
		char hs[65], hr[65];
		sha_hex(&c.ws_hs, hs);
		sha_hex(&c.ws_hr, hr);
		bool same = strcmp(hs, hr) == 0 && c.ws_recv == o.bytes;
		printf("sha256_sent=%s sha256_recv=%s bytes=%llu result=%s\n", hs, hr,
		    (unsigned long long)c.ws_recv, same ? "ok" : "mismatch");
		rc = same ? VC_EXIT_OK : VC_EXIT_CHECK;
	} else if (o.mode == VC_MUX_ECHO) {
		rc = mux_report();
	}
	c.phase = "close";
	ws_send_close();
	drain_out();
	finish(rc);
}

/* ==== tun mode (issue 10: the /tun path's test client) =================================
 *
 *   tun [--tun-name NAME] [--ping TS]
 *
 * The first session message must be VirtualIp (payload type 0x0D, padded JSON, §7.5);
 * anything else first, or nothing within 5 s, ends with exit 7 (session_error=...). It
 * prints `vip=IP gateway=IP mtu=N dns=A,B`, creates the TUN device NAME (default syc0)
 * in the namespace it runs in, with the lease as its address and the gateway as its
 * point-to-point peer, prints `tun=up name=NAME`, then relays until killed or --timeout:
 * each packet read from the device goes out as one flow-1 frame in its own message, and
 * every flow-1 frame from the server is written to the device (other flows are ignored).
 * --ping TS sends one Ping and prints pong=TS when the Pong comes; with --early-ping the
 * Ping goes right behind the Hello, in the same write, sealed with keys from the bundle's
 * signed prekey before the ServerHello came (the server must still answer VirtualIp
 * first: a Pong before it is exit 7). At --timeout it prints
 * `tun=done packets_up=N packets_down=M` and exits 0 (the relay has no end of its own).
 * Needs CAP_NET_ADMIN and /dev/net/tun (exit 1 with a message otherwise). Linux only.
 */
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#define VC_TUN_VIP_MS   5000   /* §7.5: mobile clients give up after 5 s */
#define VC_TUN_BURST    64     /* packets read from the device per turn */
#define VC_TUN_STASH    4      /* messages kept when they come with the ServerHello */

static struct {
	int fd;
	bool have_vip;
	struct rvpn_vip vip;
	uint64_t up, down;
	uint8_t stash[VC_TUN_STASH][WS_MSG_MAX]; /* session messages that came in the read of
	                                           the ServerHello (before handshake ended) */
	size_t stash_len[VC_TUN_STASH];
	unsigned nstash;
} tn = { .fd = -1 };

/* Keeps a message that came behind the ServerHello; false when the stash is full. */
static bool
tun_stash(const uint8_t *m, size_t n)
{
	if (tn.nstash == VC_TUN_STASH || n > sizeof tn.stash[0])
		return false;
	memcpy(tn.stash[tn.nstash], m, n);
	tn.stash_len[tn.nstash++] = n;
	return true;
}

/* Sets an IPv4 address ioctl on the device. */
static void
tun_ioctl_addr(int s, unsigned long req, const char *ip, const char *what)
{
	struct ifreq r;
	memset(&r, 0, sizeof r);
	snprintf(r.ifr_name, sizeof r.ifr_name, "%s", o.tun_name);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1) {
		fprintf(stderr, "sy_vpnc: tun: %s %s is not IPv4\n", what, ip);
		finish(VC_EXIT_SESSION);
	}
	memcpy(&r.ifr_addr, &sin, sizeof sin);
	if (ioctl(s, req, &r) == -1) {
		fprintf(stderr, "sy_vpnc: tun: setting the %s: %s\n", what, strerror(errno));
		finish(VC_EXIT_USAGE);
	}
}

/* Creates the local device with the lease (see the block's comment). */
static void
tun_create(void)
{
	if ((tn.fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1) {
		fprintf(stderr, "sy_vpnc: tun: /dev/net/tun: %s\n", strerror(errno));
		finish(VC_EXIT_USAGE);
	}
	struct ifreq r;
	memset(&r, 0, sizeof r);
	r.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(r.ifr_name, sizeof r.ifr_name, "%s", o.tun_name);
	if (ioctl(tn.fd, TUNSETIFF, &r) == -1) {
		fprintf(stderr, "sy_vpnc: tun: TUNSETIFF %s: %s\n", o.tun_name, strerror(errno));
		finish(VC_EXIT_USAGE);
	}
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s == -1) {
		perror("sy_vpnc: tun: socket");
		finish(VC_EXIT_USAGE);
	}
	tun_ioctl_addr(s, SIOCSIFADDR, tn.vip.ipv4, "address");
	tun_ioctl_addr(s, SIOCSIFDSTADDR, tn.vip.gateway_ip, "peer");
	memset(&r, 0, sizeof r);
	snprintf(r.ifr_name, sizeof r.ifr_name, "%s", o.tun_name);
	r.ifr_mtu = (int)tn.vip.mtu;
	if (ioctl(s, SIOCSIFMTU, &r) == -1 || ioctl(s, SIOCGIFFLAGS, &r) == -1) {
		fprintf(stderr, "sy_vpnc: tun: mtu/flags: %s\n", strerror(errno));
		finish(VC_EXIT_USAGE);
	}
	r.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &r) == -1) {
		fprintf(stderr, "sy_vpnc: tun: up: %s\n", strerror(errno));
		finish(VC_EXIT_USAGE);
	}
	close(s);
	printf("tun=up name=%s\n", o.tun_name);
}

/* A session message in tun mode: VirtualIp first, then flow-1 packets and Pongs. */
static void
tun_on_msg(uint8_t type, uint8_t *pt, size_t len)
{
	size_t dl, pos = 0;
	if (rvpn_unpad(pt, len, &dl) != 0) {
		printf("session_error=bad_padding\n");
		finish(VC_EXIT_SESSION);
	}
	if (!tn.have_vip) {
		if (type != RVPN_PT_VIRTUAL_IP || rvpn_vip_parse(pt, dl, &tn.vip) != 0) {
			printf("session_error=first_message_not_virtual_ip type=%u\n", type);
			finish(VC_EXIT_SESSION);
		}
		tn.have_vip = true;
		printf("vip=%s gateway=%s mtu=%u dns=", tn.vip.ipv4, tn.vip.gateway_ip,
		    (unsigned)tn.vip.mtu);
		for (size_t i = 0; i < tn.vip.ndns; i++)
			printf("%s%s", i ? "," : "", tn.vip.dns_servers[i]);
		printf("%s\n", tn.vip.ndns ? "" : "-");
		return;
	}
	struct rvpn_mux_frame fr;
	for (;;) {
		enum rvpn_mux_verdict v = rvpn_mux_next(pt, dl, &pos, &fr);
		if (v == RVPN_MUX_END)
			break;
		if (v != RVPN_MUX_FRAME) {
			printf("session_error=bad_mux_frame\n");
			finish(VC_EXIT_SESSION);
		}
		if (fr.flow_id == RVPN_MUX_CONTROL) {
			struct rvpn_ctl ctl;
			if (rvpn_ctl_decode(pt + fr.off, fr.len, &ctl) == RVPN_CTL_OK &&
			    ctl.kind == RVPN_CTL_PONG)
				printf("pong=%llu\n", (unsigned long long)ctl.timestamp);
		} else if (fr.flow_id == 1 && tn.fd != -1) {
			if (write(tn.fd, pt + fr.off, fr.len) == (ssize_t)fr.len)
				tn.down++;
		}
	}
}

/* The tun relay (see the block's comment); exits. */
static void
tun_run(void)
{
	uint64_t vip_deadline = now_ms() + VC_TUN_VIP_MS;
	if (o.tun_name == NULL)
		o.tun_name = "syc0";
	for (unsigned i = 0; i < tn.nstash; i++)
		on_ws_message(tn.stash[i], tn.stash_len[i]); /* in order: the session exists now */
	while (!tn.have_vip) {
		if (c.eof || c.closed)
			session_ended();
		if (now_ms() >= vip_deadline) {
			printf("session_error=no_virtual_ip_in_5s\n");
			finish(VC_EXIT_SESSION);
		}
		pump(VC_POLL_MS);
	}
	tun_create();
	if (o.ping_set && !o.early_ping) {
		struct rvpn_ctl ctl = { .kind = RVPN_CTL_PING, .timestamp = o.ping };
		send_ctl(&ctl, NULL, 0);
	}
	c.deadline_ms = UINT64_MAX; /* the relay ends at --timeout below, not as a failure */
	uint64_t end = now_ms() + (uint64_t)o.timeout_s * 1000u;
	static uint8_t pkt[65536];
	while (now_ms() < end) {
		if (c.eof || c.closed)
			session_ended();
		for (int i = 0; i < VC_TUN_BURST && out_pending() < VC_OUT_HIGH; i++) {
			ssize_t n = read(tn.fd, pkt, sizeof pkt);
			if (n <= 0)
				break;
			if ((size_t)n > RVPN_MUX_MAX_DATA)
				continue;
			send_mux(1, RVPN_PT_DATA, pkt, (size_t)n);
			tn.up++;
		}
		pump(5);
	}
	printf("tun=done packets_up=%llu packets_down=%llu\n", (unsigned long long)tn.up,
	    (unsigned long long)tn.down);
	close(tn.fd);
	finish(VC_EXIT_OK);
}
