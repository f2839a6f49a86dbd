/*
 * Feeding one input to an incremental parser in the ways STYLE rule 9 asks for (whole,
 * growing one byte at a time from a fresh exact-size copy, split in two at an offset, in
 * chunks whose sizes come from a pattern) so that the unit tests and the fuzz harnesses
 * of every parser that answers DONE / MORE / ERR_<reason> share one copy of the
 * machinery. A parser is described once by a struct feed_parser (see feed_http1.h); the
 * comparison of two runs is the parser's own. Header-only, for tests/ and fuzz/: never
 * used by the daemon, never touches the network or the file system.
 */
#ifndef SY_TESTS_FEED_H
#define SY_TESTS_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One parser as the feeders see it; st is the parser's own state struct. */
struct feed_parser {
	void        (*init)(void *st);
	int         (*feed)(void *st, const uint8_t *buf, size_t n); /* returns the verdict */
	int         (*verdict)(const void *st);
	bool        (*same)(const void *a, const void *b); /* agree on all the verdict means */
	const char *(*verdict_str)(int verdict);
	int           more; /* the verdict that asks for more bytes */
};

/* Stops the run: a test without memory cannot say anything true. */
static inline void
feed_oom(void)
{
	fprintf(stderr, "feed: out of memory\n");
	abort();
}

/* Feeds buf whole, in one call. */
static inline void
feed_whole(const struct feed_parser *p, void *st, const uint8_t *buf, size_t n)
{
	p->init(st);
	p->feed(st, buf, n);
}

/* Feeds buf as it would grow one byte per read, each time from a fresh exact-size copy
 * (the buffer moves, so ASan sees any read past len). */
static inline void
feed_bytes(const struct feed_parser *p, void *st, const uint8_t *buf, size_t n)
{
	p->init(st);
	for (size_t k = 1; k <= n; k++) {
		uint8_t *copy = malloc(k);
		if (copy == NULL)
			feed_oom();
		memcpy(copy, buf, k);
		int v = p->feed(st, copy, k);
		free(copy);
		if (v != p->more)
			break;
	}
}

/* Feeds buf in two calls: the first k bytes, then all n. */
static inline void
feed_split(const struct feed_parser *p, void *st, const uint8_t *buf, size_t n, size_t k)
{
	p->init(st);
	p->feed(st, buf, k);
	p->feed(st, buf, n);
}

/* Feeds buf growing by sizes taken from pat in turn (1..mod each); all n at once when npat
 * is 0, and no call at all when n is 0. */
static inline void
feed_pattern(const struct feed_parser *p, void *st, const uint8_t *buf, size_t n,
    const uint8_t *pat, size_t npat, unsigned mod)
{
	size_t len = 0, i = 0;

	p->init(st);
	while (len < n) {
		size_t k = npat > 0 ? 1 + pat[i++ % npat] % mod : n;
		len = k > n - len ? n : len + k;
		if (p->feed(st, buf, len) != p->more)
			break;
	}
}

/*
 * The fuzz harnesses' feedings of one input: whole into whole, then into other one byte
 * at a time, in chunks of 1..17 and 1..257 bytes whose sizes come from the input, and split
 * in two where data[0] says. Returns NULL when every run agrees with whole, else what
 * differed first.
 */
static inline const char *
feed_fuzz(const struct feed_parser *p, void *whole, void *other, const uint8_t *data,
    size_t size)
{
	size_t cut = size > 0 ? (size_t)data[0] * 131 % (size + 1) : 0;

	feed_pattern(p, whole, data, size, NULL, 0, 1);
	feed_bytes(p, other, data, size);
	if (!p->same(whole, other))
		return "byte-at-a-time differs";
	feed_pattern(p, other, data, size, data, size < 8 ? size : 8, 17);
	if (!p->same(whole, other))
		return "input-pattern chunks differ";
	feed_pattern(p, other, data + size / 2, 0, NULL, 0, 1); /* empty feed is harmless */
	feed_pattern(p, other, data, size, data + size / 2, size - size / 2 < 4 ?
	    size - size / 2 : 4, 257);
	if (!p->same(whole, other))
		return "large chunks differ";
	feed_split(p, other, data, size, cut);
	if (!p->same(whole, other))
		return "split differs";
	return NULL;
}

#endif
