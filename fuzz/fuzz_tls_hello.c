/*
 * Fuzz harness for proto/tls_hello.rl. The input is the byte stream a client sends. It is
 * parsed whole, one byte at a time, in chunks whose sizes come from the input itself, and
 * split in two at an input-derived offset, with the default and an input-derived small
 * max_hello; any difference in verdict or in any result field aborts, as does a broken
 * invariant (a reason without MALFORMED, counts over their caps, hello_end past the input,
 * or a DONE hello that needs bytes past hello_end). It must never pass silently on a
 * difference: every check ends in abort().
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "proto/tls_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds data whole; returns the verdict. */
static enum tls_hello_verdict
feed_whole(struct tls_hello *h, uint32_t max, const uint8_t *data, size_t size)
{
	tls_hello_init(h, max);
	return tls_hello_feed(h, data, size);
}

/* Feeds data in chunks of 1 + pattern byte % mod (mod 1: one byte at a time). */
static enum tls_hello_verdict
feed_chunks(struct tls_hello *h, uint32_t max, const uint8_t *data, size_t size, unsigned mod)
{
	enum tls_hello_verdict v = TLS_HELLO_MORE;
	size_t i = 0, k = 0;

	tls_hello_init(h, max);
	if (size == 0)
		return tls_hello_feed(h, data, 0);
	while (i < size) {
		size_t n = 1 + data[k++ % size] % mod;
		if (n > size - i)
			n = size - i;
		v = tls_hello_feed(h, data + i, n);
		i += n;
	}
	return v;
}

/* Feeds data in two chunks cut at cut. */
static enum tls_hello_verdict
feed_split(struct tls_hello *h, uint32_t max, const uint8_t *data, size_t size, size_t cut)
{
	tls_hello_init(h, max);
	tls_hello_feed(h, data, cut);
	return tls_hello_feed(h, data + cut, size - cut);
}

/* Aborts unless the verdicts and every public result byte agree. */
static void
same(enum tls_hello_verdict va, const struct tls_hello *a, enum tls_hello_verdict vb,
    const struct tls_hello *b)
{
	if (va != vb)
		abort();
	if (memcmp(a, b, offsetof(struct tls_hello, st)) != 0)
		abort();
}

/* Aborts on a broken invariant of one parse's results. */
static void
invariants(enum tls_hello_verdict v, const struct tls_hello *h, size_t size)
{
	if ((unsigned)v >= TLS_HELLO_VERDICT_COUNT)
		abort();
	if ((v == TLS_HELLO_ERR_MALFORMED) != (h->malformed != TLS_MAL_NONE))
		abort();
	if ((unsigned)h->malformed >= TLS_MAL_COUNT)
		abort();
	if (h->n_versions > TLS_HELLO_VERSIONS_MAX || h->n_groups > TLS_HELLO_GROUPS_MAX)
		abort();
	if (h->n_versions > h->versions_total || h->n_groups > h->groups_total)
		abort();
	if (v == TLS_HELLO_DONE && (h->hello_end == 0 || h->hello_end > size))
		abort();
	if (v != TLS_HELLO_DONE && h->hello_end != 0)
		abort();
	if (tls_hello_verdict_str(v) == NULL || tls_hello_malformed_str(h->malformed) == NULL)
		abort();
	/* The ALPN iterator stays inside the copy. */
	size_t off = 0, len, names = 0;
	const uint8_t *name;
	while (tls_hello_alpn_next(h, &off, &name, &len)) {
		if (name < h->alpn || name + len > h->alpn + TLS_HELLO_ALPN_MAX || len == 0)
			abort();
		if (++names > TLS_HELLO_ALPN_MAX)
			abort();
	}
}

/* Runs every feeding mode at one max_hello and compares them. */
static void
run(const uint8_t *data, size_t size, uint32_t max)
{
	static struct tls_hello whole, h;

	enum tls_hello_verdict vw = feed_whole(&whole, max, data, size);
	invariants(vw, &whole, size);

	same(vw, &whole, feed_chunks(&h, max, data, size, 1), &h);
	same(vw, &whole, feed_chunks(&h, max, data, size, 7), &h);
	same(vw, &whole, feed_chunks(&h, max, data, size, 251), &h);
	if (size > 0) {
		size_t cut = (size_t)(data[size - 1] * 131u + data[size / 2]) % (size + 1);
		same(vw, &whole, feed_split(&h, max, data, size, cut), &h);
	}
	/* A finished hello must not depend on any byte after hello_end. */
	if (vw == TLS_HELLO_DONE)
		same(vw, &whole, feed_whole(&h, max, data, whole.hello_end), &h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, 0);
	/* A small cap derived from the input reaches TOO_LARGE on short inputs. */
	uint32_t small = 1 + (size > 0 ? (uint32_t)data[0] * 3u : 0);
	run(data, size, small);
	return 0;
}
