/*
 * vpnload: the load client of the VPN benchmark (tests/bench/vpn.py, issue 9 item 7). It
 * speaks the r-vpn CLIENT role (rvpn-protocol.md §3-§7) over TLS 1.3 to one address with
 * an explicit SNI, built on proto/ws.c and proto/rvpn/ like tests/tools/sy_vpnc.c, but
 * made for measuring: blocking sockets, threads, no per-byte checks beyond what the
 * protocol itself gives (every message is authenticated by the ratchet's AEAD), counters
 * instead of hashes. Modes:
 *   hs    each of -c threads loops until -d seconds pass: connect, full TLS 1.3 handshake
 *         (no resumption), WebSocket upgrade on -u PATH, Hello, ServerHello (checked
 *         against the bundle, signature verified, X3DH and ratchet derived, as a real
 *         client does), SSL_shutdown, close. Counts sessions.
 *   get   one session on -u PATH (a /mux path): -n downloads, one flow each (ids 1..n,
 *         one after the other), CreateFlow to -t HOST:PORT, whose server sends -b bytes and
 *         closes; data is counted (never kept) and credit granted back in WindowUpdates
 *         of VL_GRANT bytes. Every flow must end with CloseFlow after exactly -b bytes.
 *   idle  opens -c sessions (handshake done, no flow; VL_OPENERS threads open them in
 *         parallel, since a session can take a server tick to set up), prints
 *         "held=N" and waits until stdin reaches EOF (the driver measures the server's
 *         RSS meanwhile), then closes them all. With -k tls instead: plain TLS
 *         connections, one "GET -u PATH" each (reply read whole), then idle.
 *   source  (not a client) the download target of get: listens on 127.0.0.1:-p, sends
 *         -b bytes to every connection, closes it; one connection at a time.
 * It prints one line of key=value pairs (numbers only) on stdout: ok err secs rate bytes
 * mbs cpu_us (its own user+sys CPU, so a run can tell which side was the bound). It must
 * never count a failed exchange as done; it never verifies the TLS certificate (the
 * benchmark's is self-signed; the VPN layer is authenticated by the bundle).
 * Built by vpn.py: cc -O2 -pthread -I TOP vpnload.c libsy_proto.a -lssl -lcrypto -lsodium
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/rvpn/rvpn_ctl.h"
#include "proto/rvpn/rvpn_hello.h"
#include "proto/rvpn/rvpn_keys.h"
#include "proto/rvpn/rvpn_mux.h"
#include "proto/rvpn/rvpn_pad.h"
#include "proto/rvpn/rvpn_ratchet.h"
#include "proto/rvpn/rvpn_wire.h"
#include "proto/rvpn/rvpn_x3dh.h"
#include "proto/ws.h"

#define VL_THREADS_MAX 256             /* -c bound for hs */
#define VL_CONNS_MAX   20000           /* -c bound for idle */
#define VL_OPENERS     64              /* idle: threads opening sessions in parallel */
#define VL_HEAD_MAX    2048            /* upgrade answer head we accept */
#define VL_RBUF        16384           /* socket read chunk */
#define VL_GRANT       (64 * 1024)     /* get: WindowUpdate once this much was consumed */
#define VL_FILE_MAX    65536           /* identity and bundle files */
#define VL_SEAL_CAP    (RVPN_WIRE_HDR_LEN + RVPN_PAD_MAX + RVPN_WIRE_TAG_LEN)

enum vl_mode { VL_HS, VL_GET, VL_IDLE, VL_SOURCE };

/* Command-line options. */
static struct {
	enum vl_mode        mode;
	struct sockaddr_in  addr;
	const char         *sni, *path, *identity, *bundle, *thost, *kind;
	uint16_t            tport;
	int                 threads;
	double              secs;
	long                count;
	long long           bytes;
} o;

/* One client connection: TLS, then WebSocket, then the VPN session. */
struct vl_conn {
	int                 fd;
	SSL                *ssl;
	uint8_t             rbuf[VL_RBUF];   /* read but not yet fed to the decoder */
	size_t              roff, rlen;
	struct ws_dec       dec;
	struct rvpn_ratchet r;
};

static SSL_CTX *ctx;
static struct rvpn_identity ident;
static struct rvpn_bundle bundle;
static atomic_int stop_flag;

/* Monotonic time in microseconds. */
static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* This process's user+sys CPU in microseconds. */
static double
cpu_us(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
	    (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

/* Prints the usage and exits 2. */
static void
usage(void)
{
	fputs("usage: vpnload -m hs|get|idle|source -p PORT [-a IP] [-s SNI] [-u PATH] "
	    "[-i IDENTITY -B BUNDLE] [-c N] [-d SECS] [-n N] [-b BYTES] [-t HOST:PORT] [-k vpn|tls]\n"
	    "(see the header of tests/bench/vpnload.c)\n", stderr);
	exit(2);
}

/* Reads a whole small file into buf (NUL-terminated); its length, or exits. */
static size_t
slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		exit(2);
	}
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	if (n == cap - 1) {
		fprintf(stderr, "vpnload: %s too long\n", path);
		exit(2);
	}
	buf[n] = '\0';
	return n;
}

/* ---- transport ---- */

/* Closes a connection (TLS close_notify first when there is TLS). */
static void
vl_close(struct vl_conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

/* Writes all of p (TLS). 0 or -1. */
static int
vl_write(struct vl_conn *c, const void *p, size_t n)
{
	return SSL_write(c->ssl, p, (int)n) == (int)n ? 0 : -1;
}

/* Connects TCP and does a full TLS 1.3 handshake with our SNI. 0 or -1 (closed). */
static int
vl_tls(struct vl_conn *c)
{
	c->ssl = NULL;
	c->roff = c->rlen = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&o.addr, sizeof o.addr) == -1)
		goto fail;
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, o.sni) != 1 || SSL_connect(c->ssl) != 1)
		goto fail;
	if (SSL_session_reused(c->ssl)) {
		fputs("vpnload: a handshake resumed a session\n", stderr);
		goto fail;
	}
	return 0;
fail:
	ERR_clear_error();
	vl_close(c);
	return -1;
}

/* Reads more bytes into rbuf (which must be drained). 0 or -1 (EOF, error). */
static int
vl_fill(struct vl_conn *c)
{
	int n = SSL_read(c->ssl, c->rbuf, sizeof c->rbuf);
	if (n <= 0)
		return -1;
	c->roff = 0;
	c->rlen = (size_t)n;
	return 0;
}

/* Sends the upgrade on o.path and checks 101 + Sec-WebSocket-Accept. 0 or -1. */
static int
vl_upgrade(struct vl_conn *c)
{
	uint8_t nonce[WS_NONCE_LEN];
	char key[WS_KEY_LEN + 1], want[WS_ACCEPT_LEN + 1], req[1024], head[VL_HEAD_MAX + 1];
	size_t hl = 0;

	randombytes_buf(nonce, sizeof nonce);
	ws_key_encode(nonce, key);
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\n"
	    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n"
	    "User-Agent: vpnload\r\n\r\n", o.path, o.sni, key);
	if (n < 0 || (size_t)n >= sizeof req || vl_write(c, req, (size_t)n) != 0)
		return -1;
	char *e = NULL;
	while (e == NULL) {
		if (hl == VL_HEAD_MAX || vl_fill(c) != 0)
			return -1;
		size_t take = c->rlen < VL_HEAD_MAX - hl ? c->rlen : VL_HEAD_MAX - hl;
		memcpy(head + hl, c->rbuf, take);
		hl += take;
		head[hl] = '\0';
		e = strstr(head, "\r\n\r\n");
		if (e != NULL) {
			/* Bytes behind the head stay in rbuf for the decoder. */
			size_t end = (size_t)(e - head) + 4;
			c->roff = take - (hl - end);
		} else {
			c->roff = c->rlen;
		}
	}
	if (strncmp(head, "HTTP/1.1 101", 12) != 0 || ws_accept(key, strlen(key), want) != 0)
		return -1;
	for (char *l = strstr(head, "\r\n"); l != NULL && l < e; l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "Sec-WebSocket-Accept:", 21) == 0) {
			char *v = l + 23;
			while (*v == ' ')
				v++;
			if (strncmp(v, want, WS_ACCEPT_LEN) == 0) {
				ws_dec_init(&c->dec, WS_ROLE_CLIENT, WS_MSG_MAX);
				return 0;
			}
		}
	return -1;
}

/* Sends one masked binary frame. 0 or -1. */
static int
vl_ws_send(struct vl_conn *c, const uint8_t *p, size_t n)
{
	uint8_t fr[WS_HDR_MAX + WS_OUT_MAX], key[4];
	randombytes_buf(key, sizeof key);
	int h = ws_enc_header(fr, sizeof fr, WS_OP_BINARY, n, key);
	if (h < 0 || n > WS_OUT_MAX)
		return -1;
	memcpy(fr + h, p, n);
	ws_mask(fr + h, n, key, 0);
	return vl_write(c, fr, (size_t)h + n);
}

/* Reads one whole binary message into msg (cap WS_MSG_MAX). Its length, or -1 (close,
 * EOF, protocol error). Pings are answered. */
static long
vl_ws_recv(struct vl_conn *c, uint8_t *msg)
{
	size_t len = 0, used;
	struct ws_event ev;

	for (;;) {
		if (c->roff == c->rlen && vl_fill(c) != 0)
			return -1;
		enum ws_verdict v = ws_dec_feed(&c->dec, c->rbuf + c->roff, c->rlen - c->roff, &used, &ev);
		c->roff += used;
		switch (v) {
		case WS_MORE:
			break;
		case WS_DATA:
			if (ev.len > 0)
				memcpy(msg + len, ev.data, ev.len); /* the decoder bounds it */
			len += ev.len;
			if (ev.fin)
				return (long)len;
			break;
		case WS_PING: {
			uint8_t fr[WS_HDR_MAX + WS_CONTROL_MAX], key[4];
			randombytes_buf(key, sizeof key);
			int h = ws_enc_frame(fr, sizeof fr, WS_OP_PONG, ev.data, ev.len, key);
			if (h < 0 || vl_write(c, fr, (size_t)h) != 0)
				return -1;
			break;
		}
		case WS_PONG:
			break;
		default:
			return -1;
		}
	}
}

/* Hello, ServerHello (checked against the bundle), X3DH, ratchet. 0 or -1. */
static int
vl_hello(struct vl_conn *c)
{
	static _Thread_local uint8_t msg[WS_MSG_MAX];
	uint8_t ek_priv[32], ek_pub[32], sk[32];
	char hello[RVPN_HELLO_MAX];
	struct rvpn_server_msg sm;

	randombytes_buf(ek_priv, sizeof ek_priv);
	if (crypto_scalarmult_base(ek_pub, ek_priv) != 0)
		return -1;
	int n = rvpn_hello_emit(hello, sizeof hello, ek_pub, ident.x_pub);
	if (n < 0 || vl_ws_send(c, (const uint8_t *)hello, (size_t)n) != 0)
		return -1;
	long m = vl_ws_recv(c, msg);
	if (m < 0 || rvpn_server_msg_parse(msg, (size_t)m, &sm) != 0 || sm.kind == RVPN_SERVER_ERROR)
		return -1;
	if (sodium_memcmp(sm.identity_key, bundle.identity_key, 32) != 0 ||
	    sodium_memcmp(sm.signed_prekey, bundle.signed_prekey, 32) != 0 ||
	    !rvpn_spk_verify(sm.prekey_signature, sm.identity_key, sm.signed_prekey))
		return -1;
	if (rvpn_x3dh_client(sk, NULL, ident.seed, ek_priv, bundle.identity_x25519_key,
	    sm.signed_prekey) != 0 || rvpn_ratchet_init(&c->r, RVPN_ROLE_CLIENT, sk, NULL) != 0)
		return -1;
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(ek_priv, sizeof ek_priv);
	return 0;
}

/* A whole VPN session: TLS, upgrade, handshake. 0 or -1 (closed). */
static int
vl_session(struct vl_conn *c)
{
	if (vl_tls(c) != 0)
		return -1;
	if (vl_upgrade(c) != 0 || vl_hello(c) != 0) {
		vl_close(c);
		return -1;
	}
	return 0;
}

/* Sends one control message (flow 0, Admin), padded and sealed. 0 or -1. */
static int
vl_ctl(struct vl_conn *c, const struct rvpn_ctl *ctl, const char *str, size_t slen)
{
	uint8_t b[RVPN_CTL_MAX_LEN], seal[VL_SEAL_CAP];
	uint8_t *pt = seal + RVPN_WIRE_HDR_LEN;
	int n = rvpn_ctl_encode(b, sizeof b, ctl, (const uint8_t *)str, slen);
	if (n < 0 || rvpn_mux_header(pt, RVPN_PAD_MAX, RVPN_MUX_CONTROL, (size_t)n) < 0)
		return -1;
	memcpy(pt + RVPN_MUX_HDR_LEN, b, (size_t)n);
	int p = rvpn_pad(pt, RVPN_PAD_MAX, RVPN_MUX_HDR_LEN + (size_t)n, RVPN_PAD_RANDOM);
	if (p < 0)
		return -1;
	int w = rvpn_ratchet_seal(&c->r, RVPN_PT_ADMIN, pt, (size_t)p, NULL, seal, sizeof seal);
	return w < 0 ? -1 : vl_ws_send(c, seal, (size_t)w);
}

/* ---- modes ---- */

/* hs: one thread's loop of whole sessions; counts into ok/err (longs at arg). */
static void *
hs_thread(void *arg)
{
	long *cnt = arg;
	struct vl_conn c = { .fd = -1 };
	while (!atomic_load(&stop_flag)) {
		if (vl_session(&c) == 0) {
			cnt[0]++;
			vl_close(&c);
		} else {
			cnt[1]++;
		}
	}
	return NULL;
}

/* get: the downloads on one session. Prints the result line; the exit code. */
static int
run_get(void)
{
	static uint8_t msg[WS_MSG_MAX], pt[WS_MSG_MAX];
	struct vl_conn c = { .fd = -1 };
	long ok = 0, err = 0;
	uint64_t bytes = 0;

	if (vl_session(&c) != 0) {
		fputs("vpnload: no session\n", stderr);
		return 1;
	}
	uint64_t t0 = now_us();
	double c0 = cpu_us();
	for (long i = 1; i <= o.count; i++) {
		struct rvpn_ctl cf = { .kind = RVPN_CTL_CREATE_FLOW, .flow_id = (uint32_t)i,
			.port = o.tport };
		if (vl_ctl(&c, &cf, o.thost, strlen(o.thost)) != 0)
			goto broken;
		uint64_t got = 0, due = 0;
		bool end = false, failed = false;
		while (!end) {
			long m = vl_ws_recv(&c, msg);
			size_t len, dl, pos = 0;
			uint8_t type;
			struct rvpn_mux_frame fr;
			if (m < 0 || rvpn_ratchet_open(&c.r, msg, (size_t)m, pt, sizeof pt, &len, &type) !=
			    RVPN_OPEN_OK || rvpn_unpad(pt, len, &dl) != 0)
				goto broken;
			for (;;) {
				enum rvpn_mux_verdict v = rvpn_mux_next(pt, dl, &pos, &fr);
				if (v == RVPN_MUX_END)
					break;
				if (v != RVPN_MUX_FRAME)
					goto broken;
				if (fr.flow_id == (uint32_t)i) {
					got += fr.len;
					due += fr.len;
					continue;
				}
				struct rvpn_ctl ctl;
				if (fr.flow_id != RVPN_MUX_CONTROL ||
				    rvpn_ctl_decode(pt + fr.off, fr.len, &ctl) != RVPN_CTL_OK)
					goto broken;
				if (ctl.flow_id == (uint32_t)i && (ctl.kind == RVPN_CTL_CLOSE_FLOW ||
				    ctl.kind == RVPN_CTL_FLOW_FAILED)) {
					end = true;
					failed = ctl.kind == RVPN_CTL_FLOW_FAILED;
				}
			}
			if (due >= VL_GRANT && !end) {
				struct rvpn_ctl wu = { .kind = RVPN_CTL_WINDOW_UPDATE,
					.flow_id = (uint32_t)i, .window = (uint32_t)due };
				if (vl_ctl(&c, &wu, NULL, 0) != 0)
					goto broken;
				due = 0;
			}
		}
		bytes += got;
		if (!failed && got == (uint64_t)o.bytes) {
			ok++;
		} else {
			err++;
			fprintf(stderr, "vpnload: flow %ld: %s after %llu bytes\n", i,
			    failed ? "FlowFailed" : "CloseFlow", (unsigned long long)got);
		}
	}
	goto done;
broken:
	err++;
	fputs("vpnload: the session broke\n", stderr);
done:;
	double secs = (double)(now_us() - t0) / 1e6;
	printf("ok=%ld err=%ld secs=%.3f rate=%.2f bytes=%llu mbs=%.1f cpu_us=%.0f\n", ok, err,
	    secs, (double)ok / secs, (unsigned long long)bytes, (double)bytes / secs / 1e6,
	    cpu_us() - c0);
	vl_close(&c);
	rvpn_ratchet_wipe(&c.r);
	return err == 0 ? 0 : 1;
}

/* idle -k tls: one GET on a fresh TLS connection, the reply read whole. 0 or -1. */
static int
tls_get(struct vl_conn *c)
{
	char req[512], buf[VL_RBUF];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", o.path, o.sni);
	if (n < 0 || (size_t)n >= sizeof req || vl_write(c, req, (size_t)n) != 0)
		return -1;
	size_t have = 0;
	for (;;) {
		int r = SSL_read(c->ssl, buf + have, (int)(sizeof buf - 1 - have));
		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = '\0';
		char *e = strstr(buf, "\r\n\r\n");
		char *cl = strcasestr(buf, "\r\ncontent-length:");
		if (e != NULL && cl != NULL && cl < e &&
		    have >= (size_t)(e - buf) + 4 + strtoull(cl + 17, NULL, 10))
			return 0;
		if (have == sizeof buf - 1)
			return -1;
	}
}

/* idle: the opener threads' shared state. */
static struct {
	struct vl_conn *cs;
	bool            tls;
	atomic_long     next, ok, err;
} idl;

/* idle: one opener thread: takes the next index until all are tried. */
static void *
idle_thread(void *arg)
{
	(void)arg;
	for (long i; (i = atomic_fetch_add(&idl.next, 1)) < o.threads;) {
		struct vl_conn *c = &idl.cs[i];
		int r = idl.tls ? vl_tls(c) : vl_session(c);
		if (r == 0 && idl.tls && tls_get(c) != 0) {
			vl_close(c);
			r = -1;
		}
		atomic_fetch_add(r == 0 ? &idl.ok : &idl.err, 1);
	}
	return NULL;
}

/* idle: holds o.threads sessions (or TLS connections), opened by VL_OPENERS threads in
 * parallel, until stdin ends. The exit code. */
static int
run_idle(void)
{
	static pthread_t tid[VL_OPENERS];
	char line[16];
	int nt = o.threads < VL_OPENERS ? o.threads : VL_OPENERS;

	idl.cs = calloc((size_t)o.threads, sizeof *idl.cs);
	idl.tls = strcmp(o.kind, "tls") == 0;
	if (idl.cs == NULL)
		return 1;
	for (int i = 0; i < o.threads; i++)
		idl.cs[i].fd = -1;
	uint64_t t0 = now_us();
	for (int i = 0; i < nt; i++)
		if (pthread_create(&tid[i], NULL, idle_thread, NULL) != 0)
			return 1;
	for (int i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	double secs = (double)(now_us() - t0) / 1e6;
	printf("held=%ld err=%ld secs=%.3f\n", atomic_load(&idl.ok), atomic_load(&idl.err), secs);
	fflush(stdout);
	while (fgets(line, sizeof line, stdin) != NULL)
		;
	for (int i = 0; i < o.threads; i++)
		if (idl.cs[i].fd != -1)
			vl_close(&idl.cs[i]);
	free(idl.cs);
	return atomic_load(&idl.err) == 0 ? 0 : 1;
}

/* source: sends o.bytes to every connection on 127.0.0.1:port, one at a time. */
static int
run_source(void)
{
	static uint8_t buf[1 << 20];
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (l == -1 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(l, (struct sockaddr *)&o.addr, sizeof o.addr) != 0 || listen(l, 64) != 0) {
		perror("vpnload: source");
		return 1;
	}
	memset(buf, 'v', sizeof buf);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = accept(l, NULL, NULL);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("vpnload: accept");
			return 1;
		}
		for (long long left = o.bytes; left > 0;) {
			size_t k = left < (long long)sizeof buf ? (size_t)left : sizeof buf;
			ssize_t w = write(fd, buf, k);
			if (w <= 0) {
				if (w == -1 && errno == EINTR)
					continue;
				break;
			}
			left -= w;
		}
		close(fd);
	}
}

/* Parses the command line into o. */
static void
parse_args(int argc, char **argv)
{
	const char *ip = "127.0.0.1", *m = "hs", *t = NULL;
	long port = 0;
	int ch;

	o.sni = "bench.test";
	o.path = "/api/v1/ws/mux";
	o.kind = "vpn";
	o.threads = 1;
	o.secs = 5;
	o.count = 1;
	o.bytes = 0;
	while ((ch = getopt(argc, argv, "m:a:p:s:u:i:B:c:d:n:b:t:k:")) != -1) {
		switch (ch) {
		case 'm': m = optarg; break;
		case 'a': ip = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 's': o.sni = optarg; break;
		case 'u': o.path = optarg; break;
		case 'i': o.identity = optarg; break;
		case 'B': o.bundle = optarg; break;
		case 'c': o.threads = (int)strtol(optarg, NULL, 10); break;
		case 'd': o.secs = strtod(optarg, NULL); break;
		case 'n': o.count = strtol(optarg, NULL, 10); break;
		case 'b': o.bytes = strtoll(optarg, NULL, 10); break;
		case 't': t = optarg; break;
		case 'k': o.kind = optarg; break;
		default: usage();
		}
	}
	if (strcmp(m, "hs") == 0)
		o.mode = VL_HS;
	else if (strcmp(m, "get") == 0)
		o.mode = VL_GET;
	else if (strcmp(m, "idle") == 0)
		o.mode = VL_IDLE;
	else if (strcmp(m, "source") == 0)
		o.mode = VL_SOURCE;
	else
		usage();
	if (port <= 0 || port > 65535 || o.threads < 1 || o.secs <= 0 || o.count < 1 ||
	    (o.mode == VL_HS && o.threads > VL_THREADS_MAX) || o.threads > VL_CONNS_MAX)
		usage();
	if (o.mode == VL_GET) {
		const char *colon = t != NULL ? strrchr(t, ':') : NULL;
		static char host[256];
		if (colon == NULL || (size_t)(colon - t) >= sizeof host || o.bytes <= 0)
			usage();
		memcpy(host, t, (size_t)(colon - t));
		host[colon - t] = '\0';
		o.thost = host;
		o.tport = (uint16_t)strtol(colon + 1, NULL, 10);
	}
	o.addr.sin_family = AF_INET;
	o.addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &o.addr.sin_addr) != 1)
		usage();
}

int
main(int argc, char **argv)
{
	static pthread_t tid[VL_THREADS_MAX];
	static long cnt[VL_THREADS_MAX][2];
	static char text[VL_FILE_MAX];

	parse_args(argc, argv);
	if (sodium_init() < 0)
		return 1;
	if (o.mode == VL_SOURCE)
		return run_source();
	signal(SIGPIPE, SIG_IGN);
	if (!(o.mode == VL_IDLE && strcmp(o.kind, "tls") == 0)) {
		if (o.identity == NULL || o.bundle == NULL)
			usage();
		size_t n = slurp(o.identity, text, sizeof text);
		if (rvpn_identity_parse(&ident, text, n) != 0)
			return fputs("vpnload: bad identity file\n", stderr), 2;
		n = slurp(o.bundle, text, sizeof text);
		if (rvpn_bundle_parse(&bundle, text, n) != 0)
			return fputs("vpnload: bad bundle\n", stderr), 2;
	}
	static const unsigned char alpn[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
		return 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* every handshake is full */
	if (strcmp(o.kind, "tls") != 0 && SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn) != 0)
		return 1;
	if (o.mode == VL_GET)
		return run_get();
	if (o.mode == VL_IDLE)
		return run_idle();
	uint64_t t0 = now_us();
	for (int i = 0; i < o.threads; i++)
		if (pthread_create(&tid[i], NULL, hs_thread, cnt[i]) != 0)
			return 1;
	struct timespec ts = { .tv_sec = (time_t)o.secs,
	    .tv_nsec = (long)((o.secs - (double)(time_t)o.secs) * 1e9) };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	atomic_store(&stop_flag, 1);
	long ok = 0, err = 0;
	for (int i = 0; i < o.threads; i++) {
		pthread_join(tid[i], NULL);
		ok += cnt[i][0];
		err += cnt[i][1];
	}
	double secs = (double)(now_us() - t0) / 1e6;
	printf("ok=%ld err=%ld secs=%.3f rate=%.1f resumed=0 bytes=0 mbs=0 cpu_us=%.0f\n", ok, err,
	    secs, (double)ok / secs, cpu_us());
	return ok > 0 && err == 0 ? 0 : 1;
}
