/*
 * tlsload: the load client of the side-by-side benchmark (tests/bench/bench.py). It speaks
 * HTTPS/1.1 to one address with an explicit SNI (so the proxies really route by name
 * without touching /etc/hosts), in one of three modes:
 *   new  each thread loops: connect, full TLS handshake (no session reuse), one GET, read
 *        the whole reply, close. Counts connections.
 *   ka   each thread holds one keep-alive connection and sends GETs back to back.
 *   lat  one connection, N sequential GETs, each timed (for p50/p99).
 *   big  N downloads in all, shared by the threads, each thread on one keep-alive
 *        connection; the body is counted while it streams (any size), never buffered whole.
 *        Reports bytes and MB/s (10^6 bytes per second of wall time).
 * -b BYTES makes every reply whose body is not exactly BYTES long an error, -3 allows only
 * TLS 1.3 (a server that cannot do it fails every handshake, counted as errors). The CPU
 * time the client itself used (cpu_us) is printed so a run can show the client was not
 * the bottleneck. The first handshake's version, cipher and group go to stderr.
 * It prints one line of key=value pairs (numbers only) on stdout. It is a measuring tool: it must never pretend a
 * failed exchange succeeded (errors are counted and printed), and it never verifies
 * certificates (the benchmark backend is self-signed; nothing here is secret).
 * Built by bench.py and term.py with: cc -O2 -pthread tlsload.c -o tlsload -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TL_THREADS_MAX 256      /* -c bound */
#define TL_RESP_MAX    (64 * 1024) /* response head + body we accept for one request */
#define TL_SAMPLES_MAX 2000000  /* latency samples kept per run */

enum tl_mode { TL_NEW, TL_KA, TL_LAT, TL_BIG };

struct tl_opts {
	enum tl_mode        mode;
	struct sockaddr_in  addr;
	const char         *sni;
	const char         *path;
	int                 threads;
	double              secs;
	long                count;    /* lat: requests; big: downloads in all */
	long long           expect;   /* body length every reply must have; -1: any */
	int                 tls13;    /* only TLS 1.3 */
};

struct tl_thread {
	pthread_t  tid;
	long       ok, err;
	long       resumed;  /* handshakes that resumed a session: must stay 0 */
	uint64_t   bytes;    /* body bytes received in replies that were ok */
	uint64_t  *lat;  /* microseconds, per op */
	long       nlat, cap;
};

static struct tl_opts opt;
static SSL_CTX *ctx;
static atomic_int stop_flag;
static char request[512];
static size_t request_len;
static atomic_long big_left;    /* big: downloads not yet started */
static atomic_int described;    /* the first handshake was described on stderr */

/* Monotonic time in microseconds. */
static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A connected blocking TCP socket with TCP_NODELAY, or -1. */
static int
tl_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&opt.addr, sizeof opt.addr) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A TLS session over fd with our SNI, handshake done; NULL on failure (fd untouched). */
static SSL *
tl_handshake(int fd)
{
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL)
		return NULL;
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, opt.sni);
	if (SSL_connect(ssl) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	if (atomic_exchange(&described, 1) == 0) {
		/* One line, so a report can say what both servers really negotiated. */
		int nid = SSL_get_negotiated_group(ssl);
		const char *g = nid != NID_undef ? OBJ_nid2sn(nid & ~TLSEXT_nid_unknown) : NULL;
		fprintf(stderr, "tlsload: %s %s group %s\n", SSL_get_version(ssl),
		    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), g != NULL ? g : "?");
	}
	return ssl;
}

/* Finds Content-Length in a response head (case-insensitive); -1 when absent. */
static long long
tl_content_length(const char *head, size_t len)
{
	static const char key[] = "\r\ncontent-length:";
	size_t klen = sizeof key - 1;
	for (size_t i = 0; i + klen <= len; i++) {
		if (strncasecmp(head + i, key, klen) == 0) {
			const char *p = head + i + klen;
			while (*p == ' ')
				p++;
			return strtoll(p, NULL, 10);
		}
	}
	return -1;
}

/* Sends one GET and reads the whole reply (head + Content-Length body). 0 or -1. */
static int
tl_exchange(SSL *ssl, char *buf, uint64_t *body)
{
	if (SSL_write(ssl, request, (int)request_len) != (int)request_len)
		return -1;
	size_t have = 0, head_end = 0;
	long clen = -1;
	for (;;) {
		if (head_end != 0 && have >= head_end + (size_t)clen)
			return have == head_end + (size_t)clen ? 0 : -1; /* no pipelining: exact */
		if (have == TL_RESP_MAX)
			return -1;
		int n = SSL_read(ssl, buf + have, (int)(TL_RESP_MAX - have));
		if (n <= 0)
			return -1;
		have += (size_t)n;
		if (head_end == 0) {
			char *e = memmem(buf, have, "\r\n\r\n", 4);
			if (e == NULL)
				continue;
			head_end = (size_t)(e - buf) + 4;
			if (memcmp(buf, "HTTP/1.1 200", 12) != 0)
				return -1;
			clen = tl_content_length(buf, head_end);
			if (clen < 0 || clen > TL_RESP_MAX || (opt.expect >= 0 && clen != opt.expect))
				return -1;
			*body = (uint64_t)clen;
		}
	}
}

/* Sends one GET and streams the reply: the head is parsed, the body only counted. 0 or -1. */
static int
tl_download(SSL *ssl, char *buf, uint64_t *body)
{
	if (SSL_write(ssl, request, (int)request_len) != (int)request_len)
		return -1;
	size_t have = 0;
	char *e = NULL;
	while (e == NULL) {
		if (have == TL_RESP_MAX)
			return -1;
		int n = SSL_read(ssl, buf + have, (int)(TL_RESP_MAX - have));
		if (n <= 0)
			return -1;
		have += (size_t)n;
		e = memmem(buf, have, "\r\n\r\n", 4);
	}
	size_t head_end = (size_t)(e - buf) + 4;
	if (memcmp(buf, "HTTP/1.1 200", 12) != 0)
		return -1;
	long long clen = tl_content_length(buf, head_end);
	if (clen < 0 || (opt.expect >= 0 && clen != opt.expect))
		return -1;
	uint64_t got = have - head_end;
	while (got < (uint64_t)clen) {
		int n = SSL_read(ssl, buf, TL_RESP_MAX);
		if (n <= 0)
			return -1;
		got += (uint64_t)n;
	}
	if (got != (uint64_t)clen)
		return -1; /* no pipelining: more than the body is a broken reply */
	*body = got;
	return 0;
}

/* Records one latency sample when there is room. */
static void
tl_sample(struct tl_thread *t, uint64_t us)
{
	if (t->nlat < t->cap)
		t->lat[t->nlat++] = us;
}

/* Mode new: whole connections, one request each, until stopped. */
static void
tl_run_new(struct tl_thread *t, char *buf)
{
	while (!atomic_load(&stop_flag)) {
		uint64_t t0 = now_us();
		int fd = tl_connect();
		if (fd == -1) {
			t->err++;
			usleep(1000);
			continue;
		}
		SSL *ssl = tl_handshake(fd);
		if (ssl == NULL) {
			t->err++;
			close(fd);
			continue;
		}
		if (SSL_session_reused(ssl))
			t->resumed++;
		uint64_t body = 0;
		int rc = tl_exchange(ssl, buf, &body);
		SSL_shutdown(ssl); /* close_notify, as browsers and curl send */
		SSL_free(ssl);
		close(fd);
		if (rc == 0) {
			t->ok++;
			t->bytes += body;
			tl_sample(t, now_us() - t0);
		} else {
			t->err++;
		}
	}
}

/* Modes ka, lat and big: one connection, requests back to back (reconnects after an error). */
static void
tl_run_ka(struct tl_thread *t, char *buf)
{
	int fd = -1;
	SSL *ssl = NULL;
	while (!atomic_load(&stop_flag)) {
		if (opt.mode == TL_LAT && t->ok + t->err >= opt.count)
			break;
		if (opt.mode == TL_BIG && atomic_fetch_sub(&big_left, 1) <= 0)
			break;
		if (ssl == NULL) {
			if ((fd = tl_connect()) == -1) {
				t->err++;
				usleep(1000);
				continue;
			}
			if ((ssl = tl_handshake(fd)) == NULL) {
				t->err++;
				close(fd);
				fd = -1;
				continue;
			}
			if (SSL_session_reused(ssl))
				t->resumed++;
		}
		uint64_t t0 = now_us(), body = 0;
		int rc = opt.mode == TL_BIG ? tl_download(ssl, buf, &body) : tl_exchange(ssl, buf, &body);
		if (rc == 0) {
			t->ok++;
			t->bytes += body;
			tl_sample(t, now_us() - t0);
			continue;
		}
		t->err++;
		SSL_free(ssl);
		close(fd);
		ssl = NULL;
		fd = -1;
	}
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fd);
	}
}

/* Thread body. */
static void *
tl_thread_main(void *arg)
{
	struct tl_thread *t = arg;
	char *buf = malloc(TL_RESP_MAX);
	if (buf == NULL)
		return NULL;
	if (opt.mode == TL_NEW)
		tl_run_new(t, buf);
	else
		tl_run_ka(t, buf);
	free(buf);
	return NULL;
}

/* qsort order for latency samples. */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Prints usage and exits 2. */
static void
usage(void)
{
	fprintf(stderr, "usage: tlsload -m new|ka|lat|big -a IP -p PORT -s SNI [-u PATH] [-c THREADS]"
	    " [-d SECONDS] [-n REQUESTS] [-b BODY_BYTES] [-3]\n");
	exit(2);
}

/* Parses the command line into opt. */
static void
parse_args(int argc, char **argv)
{
	int ch;
	const char *ip = "127.0.0.1";
	long port = 0;
	opt.mode = TL_KA;
	opt.sni = "bench.test";
	opt.path = "/";
	opt.threads = 1;
	opt.secs = 5;
	opt.count = 1000;
	opt.expect = -1;
	while ((ch = getopt(argc, argv, "m:a:p:s:u:c:d:n:b:3")) != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "new") == 0)
				opt.mode = TL_NEW;
			else if (strcmp(optarg, "ka") == 0)
				opt.mode = TL_KA;
			else if (strcmp(optarg, "lat") == 0)
				opt.mode = TL_LAT;
			else if (strcmp(optarg, "big") == 0)
				opt.mode = TL_BIG;
			else
				usage();
			break;
		case 'a': ip = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 's': opt.sni = optarg; break;
		case 'u': opt.path = optarg; break;
		case 'c': opt.threads = (int)strtol(optarg, NULL, 10); break;
		case 'd': opt.secs = strtod(optarg, NULL); break;
		case 'n': opt.count = strtol(optarg, NULL, 10); break;
		case 'b': opt.expect = strtoll(optarg, NULL, 10); break;
		case '3': opt.tls13 = 1; break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535 || opt.threads < 1 || opt.threads > TL_THREADS_MAX ||
	    opt.secs <= 0 || opt.count < 1)
		usage();
	if (opt.mode == TL_LAT)
		opt.threads = 1;
	opt.addr.sin_family = AF_INET;
	opt.addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &opt.addr.sin_addr) != 1)
		usage();
	int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tlsload\r\n\r\n",
	    opt.path, opt.sni);
	if (n < 0 || (size_t)n >= sizeof request)
		usage();
	request_len = (size_t)n;
}

int
main(int argc, char **argv)
{
	static struct tl_thread th[TL_THREADS_MAX];
	parse_args(argc, argv);
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* every handshake is full */
	if (opt.tls13 && SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
		return 1;
	if (opt.mode == TL_BIG)
		atomic_store(&big_left, opt.count);
	long cap = opt.mode == TL_LAT || opt.mode == TL_BIG ? opt.count : TL_SAMPLES_MAX / opt.threads;
	for (int i = 0; i < opt.threads; i++) {
		th[i].cap = cap;
		th[i].lat = calloc((size_t)cap, sizeof *th[i].lat);
		if (th[i].lat == NULL)
			return 1;
	}
	uint64_t t0 = now_us();
	for (int i = 0; i < opt.threads; i++)
		if (pthread_create(&th[i].tid, NULL, tl_thread_main, &th[i]) != 0)
			return 1;
	if (opt.mode != TL_LAT && opt.mode != TL_BIG) {
		struct timespec ts = { .tv_sec = (time_t)opt.secs,
		    .tv_nsec = (long)((opt.secs - (double)(time_t)opt.secs) * 1e9) };
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		atomic_store(&stop_flag, 1);
	}
	long ok = 0, err = 0, nlat = 0, resumed = 0;
	uint64_t bytes = 0;
	for (int i = 0; i < opt.threads; i++) {
		pthread_join(th[i].tid, NULL);
		ok += th[i].ok;
		err += th[i].err;
		nlat += th[i].nlat;
		resumed += th[i].resumed;
		bytes += th[i].bytes;
	}
	double secs = (double)(now_us() - t0) / 1e6;
	struct rusage ru;
	double cpu_us = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu_us = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
		    (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
	uint64_t *all = calloc((size_t)(nlat ? nlat : 1), sizeof *all);
	if (all == NULL)
		return 1;
	long k = 0;
	for (int i = 0; i < opt.threads; i++) {
		memcpy(all + k, th[i].lat, (size_t)th[i].nlat * sizeof *all);
		k += th[i].nlat;
	}
	qsort(all, (size_t)nlat, sizeof *all, cmp_u64);
	uint64_t p50 = nlat ? all[(nlat - 1) * 50 / 100] : 0;
	uint64_t p99 = nlat ? all[(nlat - 1) * 99 / 100] : 0;
	printf("ok=%ld err=%ld secs=%.3f rate=%.1f p50_us=%llu p99_us=%llu resumed=%ld bytes=%llu"
	    " mbs=%.1f cpu_us=%.0f\n", ok, err, secs, (double)ok / secs, (unsigned long long)p50,
	    (unsigned long long)p99, resumed, (unsigned long long)bytes, (double)bytes / secs / 1e6,
	    cpu_us);
	return ok > 0 ? 0 : 1;
}
