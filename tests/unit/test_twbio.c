/*
 * Unit tests for the terminator's buffering write BIO (terminator/twbio.c) against a reader
 * that pauses: over a non-blocking socketpair with small kernel buffers, (1) raw BIO writes
 * of every size from 1 byte to more than a TLS record, offered again after each retry as
 * OpenSSL does, and (2) a whole TLS 1.3 connection (handshake, 6 MiB of SSL_write, then
 * close_notify) whose server writes only through the BIO. Each checks that every byte
 * arrives once and in order (the stream is compared byte for byte), that a write is either
 * taken whole or refused with a retry, that the BIO never holds more than TWBIO_CAP bytes
 * however long the reader stalls, that it held several records at once (it batches), and
 * that everything is out after the last flush (the buffer went back to the pool).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "selfsign.h"
#include "core/bufpool.h"
#include "terminator/twbio.h"

#define STREAM_RAW  (3u << 20)  /* raw test: bytes through the BIO */
#define STREAM_TLS  (6u << 20)  /* TLS test: application bytes */
#define SNDBUF      8192        /* the kernel's buffers: small, so the BIO must wait */
#define READ_STEP   5000        /* the reader takes at most this much per turn */

/* The byte at offset i of the test stream (not periodic at any record size). */
static uint8_t
stream_byte(uint64_t i)
{
	uint64_t x = i * 0x9E3779B97F4A7C15ull;
	return (uint8_t)((x >> 29) ^ (i >> 11));
}

/* A connected non-blocking socketpair with small buffers: sv[0] writes, sv[1] reads. */
static void
pair(int sv[2])
{
	int n = SNDBUF;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	for (int i = 0; i < 2; i++) {
		(void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &n, sizeof n);
		(void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
		CHECK(fcntl(sv[i], F_SETFL, O_NONBLOCK) == 0);
	}
}

/* The reader: takes up to max bytes (pausing when max is 0), checks them against the stream
 * at *got. Returns bytes read, 0 at EAGAIN, -1 at EOF or error. */
static ssize_t
reader(int fd, uint64_t *got, size_t max, unsigned *bad)
{
	uint8_t buf[READ_STEP];
	if (max > sizeof buf)
		max = sizeof buf;
	if (max == 0)
		return 0;
	ssize_t n = read(fd, buf, max);
	if (n == -1)
		return errno == EAGAIN ? 0 : -1;
	if (n == 0)
		return -1;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != stream_byte(*got + (uint64_t)i))
			(*bad)++;
	*got += (uint64_t)n;
	return n;
}

/* Raw BIO: chunks of 1..17000 bytes, each offered again after a retry. */
static void
test_raw(void)
{
	int sv[2];
	pair(sv);
	struct twbio w = { .fd = sv[0] };
	BIO *b = twbio_new(&w);
	CHECK(b != NULL);
	uint8_t chunk[17000];
	uint64_t off = 0, got = 0;
	unsigned bad = 0, retries = 0, partial = 0, turn = 0;
	size_t len = 1;
	while (off < STREAM_RAW) {
		size_t n = len < STREAM_RAW - off ? len : STREAM_RAW - off;
		for (size_t i = 0; i < n; i++)
			chunk[i] = stream_byte(off + i);
		size_t wrote = 0;
		int r = BIO_write_ex(b, chunk, n, &wrote);
		if (r == 1) {
			if (wrote != n)
				partial++;
			off += wrote;
			len = len * 7 % 17000 + 1;
		} else {
			CHECK(BIO_should_retry(b) && BIO_should_write(b));
			retries++;
		}
		CHECK(twbio_pending(&w) <= TWBIO_CAP);
		/* The reader stalls for long stretches: 40 turns of 80 read, then 40 of nothing. */
		turn++;
		if ((turn / 40) % 2 == 0 && reader(sv[1], &got, READ_STEP, &bad) < 0)
			break;
	}
	for (int i = 0; i < 100000 && twbio_flush(&w) != 1; i++)
		(void)reader(sv[1], &got, READ_STEP, &bad);
	CHECK(twbio_pending(&w) == 0 && w.buf == NULL);
	close(sv[0]);
	while (reader(sv[1], &got, READ_STEP, &bad) >= 0) {
	}
	close(sv[1]);
	CHECKF(got == STREAM_RAW && w.sent == STREAM_RAW, "got %llu sent %llu of %u",
	    (unsigned long long)got, (unsigned long long)w.sent, STREAM_RAW);
	CHECKF(bad == 0, "%u bytes differ from what was written", bad);
	CHECK(partial == 0);
	CHECKF(retries > 0, "the reader's pauses never filled the BIO");
	CHECKF(w.high <= TWBIO_CAP && w.high > 3 * 16384, "held at most %zu", w.high);
	BIO_free(b);
}

/* Whether an SSL result asks to be retried later. */
static bool
ssl_again(SSL *s, int rc)
{
	int e = SSL_get_error(s, rc);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* TLS: the server writes only through the BIO; the client reads with long pauses. */
static void
test_tls(void)
{
	EVP_PKEY *k;
	X509 *x;
	selfsign_make("twbio.test", NULL, false, &k, &x);
	SSL_CTX *sc = SSL_CTX_new(TLS_server_method()), *cc = SSL_CTX_new(TLS_client_method());
	CHECK(sc != NULL && cc != NULL);
	SSL_CTX_set_min_proto_version(sc, TLS1_3_VERSION);
	CHECK(SSL_CTX_use_certificate(sc, x) == 1 && SSL_CTX_use_PrivateKey(sc, k) == 1);
	SSL_CTX_set_num_tickets(sc, 0);
	int sv[2];
	pair(sv);
	SSL *s = SSL_new(sc), *c = SSL_new(cc);
	struct twbio w = { .fd = sv[0] };
	BIO *wb = twbio_new(&w), *rb = BIO_new_socket(sv[0], BIO_NOCLOSE);
	SSL_set0_rbio(s, rb);
	SSL_set0_wbio(s, wb);
	SSL_set_accept_state(s);
	SSL_set_fd(c, sv[1]);
	SSL_set_connect_state(c);

	/* The handshake through the BIO: its flights leave by BIO_flush. */
	bool sdone = false, cdone = false;
	for (int i = 0; i < 1000 && !(sdone && cdone); i++) {
		if (!sdone) {
			int rc = SSL_do_handshake(s);
			sdone = rc == 1;
			CHECK(sdone || ssl_again(s, rc));
		}
		if (!cdone) {
			int rc = SSL_do_handshake(c);
			cdone = rc == 1;
			CHECK(cdone || ssl_again(c, rc));
		}
	}
	CHECK(sdone && cdone);

	uint8_t chunk[16384], rbuf[READ_STEP];
	uint64_t off = 0, got = 0;
	unsigned bad = 0, wants = 0, turn = 0;
	size_t len = 0;
	while (got < STREAM_TLS && turn < 10000000) {
		if (off < STREAM_TLS) {
			if (len == 0) { /* a new chunk; after a retry the same one is offered again */
				len = STREAM_TLS - off < sizeof chunk ? STREAM_TLS - off : sizeof chunk;
				for (size_t i = 0; i < len; i++)
					chunk[i] = stream_byte(off + i);
			}
			size_t n;
			int rc = SSL_write_ex(s, chunk, len, &n);
			if (rc == 1) {
				CHECK(n == len);
				off += n;
				len = 0;
			} else {
				CHECK(SSL_get_error(s, rc) == SSL_ERROR_WANT_WRITE);
				wants++;
			}
		} else {
			(void)twbio_flush(&w);
		}
		CHECK(twbio_pending(&w) <= TWBIO_CAP);
		turn++;
		if ((turn / 60) % 3 != 0)
			continue; /* the reader pauses two turns in three */
		size_t n;
		int rc;
		while ((rc = SSL_read_ex(c, rbuf, sizeof rbuf, &n)) == 1) {
			for (size_t i = 0; i < n; i++)
				if (rbuf[i] != stream_byte(got + i))
					bad++;
			got += n;
		}
		bool stuck = SSL_get_error(c, rc) != SSL_ERROR_WANT_READ;
		ERR_clear_error();
		if (stuck)
			break; /* a record that does not decrypt: bytes were lost or reordered */
	}
	CHECK(SSL_shutdown(s) == 0); /* close_notify goes out through the BIO's flush */
	CHECK(twbio_pending(&w) == 0);
	size_t n;
	int rc = SSL_read_ex(c, rbuf, sizeof rbuf, &n);
	CHECK(rc == 0 && SSL_get_error(c, rc) == SSL_ERROR_ZERO_RETURN);
	CHECKF(got == STREAM_TLS, "got %llu of %u", (unsigned long long)got, STREAM_TLS);
	CHECKF(bad == 0, "%u bytes differ from what was written", bad);
	CHECKF(wants > 0, "the reader's pauses never made SSL_write wait");
	CHECKF(w.high <= TWBIO_CAP && w.high > 3 * 16384, "held at most %zu", w.high);
	CHECK(w.buf == NULL);
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sc);
	SSL_CTX_free(cc);
	EVP_PKEY_free(k);
	X509_free(x);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	CHECK(twbio_init_process() == 0);
	test_raw();
	test_tls();
	bufpool_drain();
	return check_summary();
}
