/*
 * The buffering write BIO (see twbio.h). Why: OpenSSL's socket BIO writes each TLS record
 * on its own, so a bulk stream costs one write(2) per 16 KiB record (80-86k per GB through
 * the VPN) and, on loopback or a fast link, one small segment each. Here the records of one
 * round of SSL_write calls are copied into one pool buffer and leave together; a record that
 * does not fit goes out in the same sendmsg(2) as what is held. What it must never do: hold
 * more than TWBIO_CAP bytes, lose or reorder a byte, or claim to have written bytes it
 * neither sent nor holds. A write it cannot take is a retry (BIO_set_retry_write), so
 * OpenSSL keeps the record and SSL_write returns WANT_WRITE: backpressure stays exact.
 */
#include "terminator/twbio.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static BIO_METHOD *twbio_method; /* made once by twbio_init_process */

/* Bytes held. */
size_t
twbio_pending(const struct twbio *w)
{
	return w->len - w->off;
}

/* Gives the buffer back once it is empty (STYLE rule 12). */
static void
twbio_release(struct twbio *w)
{
	bufpool_put(w->buf);
	w->buf = NULL;
	w->off = w->len = 0;
}

/* Copies n bytes after what is held, moving the held bytes to the front when needed; the
 * caller has checked that they fit. 0, or -1 without a buffer. */
static int
twbio_hold(struct twbio *w, const uint8_t *p, size_t n)
{
	if (w->buf == NULL) {
		if ((w->buf = bufpool_get()) == NULL)
			return -1;
		w->off = w->len = 0;
	}
	if (w->len + n > TWBIO_CAP) {
		memmove(w->buf, w->buf + w->off, w->len - w->off);
		w->len -= w->off;
		w->off = 0;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	if (w->len - w->off > w->high)
		w->high = w->len - w->off;
	return 0;
}

/* sendmsg(2) of the held bytes followed by p[0, n): bytes sent, or -1 with errno. */
static ssize_t
twbio_send(struct twbio *w, const uint8_t *p, size_t n)
{
	struct iovec iov[2];
	int k = 0;
	if (w->len > w->off)
		iov[k++] = (struct iovec){ .iov_base = w->buf + w->off, .iov_len = w->len - w->off };
	if (n > 0)
		iov[k++] = (struct iovec){ .iov_base = (void *)p, .iov_len = n };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)k };
	ssize_t r;
	do
		r = sendmsg(w->fd, &m, MSG_NOSIGNAL);
	while (r == -1 && errno == EINTR);
	if (r > 0)
		w->sent += (uint64_t)r;
	return r;
}

/* Writes what is held (twbio.h). */
int
twbio_flush(struct twbio *w)
{
	while (w->len > w->off) {
		ssize_t r = twbio_send(w, NULL, 0);
		if (r == -1)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		w->off += (size_t)r;
	}
	twbio_release(w);
	return 1;
}

/* Drops what is held (twbio.h). */
void
twbio_discard(struct twbio *w)
{
	twbio_release(w);
}

/*
 * BIO write: held when it fits; otherwise the held bytes and the new ones leave in one
 * sendmsg and what the kernel did not take of the new bytes is held (or, when the held
 * bytes themselves did not all go, a retry: nothing of the new ones is taken). Returns 1
 * with *written = len, or 0 (retry flag set when the kernel is full; errno on an error).
 */
static int
twbio_write(BIO *b, const char *data, size_t len, size_t *written)
{
	struct twbio *w = BIO_get_data(b);
	const uint8_t *p = (const uint8_t *)data;
	BIO_clear_retry_flags(b);
	*written = 0;
	if (len == 0)
		return 1;
	if (twbio_pending(w) + len <= TWBIO_CAP) {
		if (twbio_hold(w, p, len) == -1) {
			errno = ENOMEM;
			return 0;
		}
		*written = len;
		return 1;
	}
	size_t held = twbio_pending(w);
	ssize_t r = twbio_send(w, p, len);
	if (r == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return 0;
	}
	if ((size_t)r < held) {
		w->off += (size_t)r;
		BIO_set_retry_write(b); /* the kernel is full; OpenSSL offers the record again */
		return 0;
	}
	size_t took = (size_t)r - held;
	w->off = w->len = 0; /* everything held went out; the buffer is kept for the rest */
	size_t rest = len - took;
	if (rest > TWBIO_CAP)
		rest = TWBIO_CAP; /* a write larger than the buffer: the remainder is retried */
	if (rest > 0 && twbio_hold(w, p + took, rest) == -1) {
		rest = 0;
		if (took == 0) {
			errno = ENOMEM;
			return 0;
		}
	}
	if (w->len == w->off)
		twbio_release(w);
	*written = took + rest;
	return 1;
}

/* BIO ctrl: flush writes what is held (a retry when the kernel is full); the pending
 * counts answer; nothing else is supported (so OpenSSL never turns kTLS on here). */
static long
twbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	struct twbio *w = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH: {
		BIO_clear_retry_flags(b);
		int r = twbio_flush(w);
		if (r == 0)
			BIO_set_retry_write(b);
		return r == 1 ? 1 : 0;
	}
	case BIO_CTRL_WPENDING:
		return (long)twbio_pending(w);
	case BIO_CTRL_PENDING:
		return 0;
	default:
		return 0;
	}
}

/* Makes the BIO method (twbio.h). */
int
twbio_init_process(void)
{
	if (twbio_method != NULL)
		return 0;
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sy-wbuf");
	if (m == NULL || BIO_meth_set_write_ex(m, twbio_write) != 1 ||
	    BIO_meth_set_ctrl(m, twbio_ctrl) != 1) {
		BIO_meth_free(m);
		return -1;
	}
	twbio_method = m;
	return 0;
}

/* A BIO over w (twbio.h). */
BIO *
twbio_new(struct twbio *w)
{
	BIO *b = BIO_new(twbio_method);
	if (b == NULL)
		return NULL;
	BIO_set_data(b, w);
	BIO_set_init(b, 1);
	return b;
}
