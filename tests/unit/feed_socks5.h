/*
 * The SOCKS5 parsers (proto/socks5.c) as feed.h sees them, shared by tests/unit/test_socks5.c
 * and fuzz/fuzz_socks5.c: one struct feed_parser for the greeting and one for the request,
 * each with the comparison of two runs over everything its verdict means.
 */
#ifndef SY_TESTS_FEED_SOCKS5_H
#define SY_TESTS_FEED_SOCKS5_H

#include <string.h>

#include "feed.h"
#include "proto/socks5.h"

/* feed.h adapters for the greeting. */
static inline void
fs5_greet_init(void *st)
{
	socks5_greet_init(st);
}

static inline int
fs5_greet_feed(void *st, const uint8_t *buf, size_t n)
{
	return (int)socks5_greet_feed(st, buf, n);
}

static inline int
fs5_greet_verdict(const void *st)
{
	return (int)((const struct socks5_greet *)st)->verdict;
}

static inline bool
fs5_greet_same(const void *a, const void *b)
{
	const struct socks5_greet *x = a, *y = b;
	return x->verdict == y->verdict && (x->verdict != SOCKS5_DONE ||
	    (x->len == y->len && x->no_auth == y->no_auth));
}

/* feed.h adapters for the request. */
static inline void
fs5_req_init(void *st)
{
	socks5_req_init(st);
}

static inline int
fs5_req_feed(void *st, const uint8_t *buf, size_t n)
{
	return (int)socks5_req_feed(st, buf, n);
}

static inline int
fs5_req_verdict(const void *st)
{
	return (int)((const struct socks5_req *)st)->verdict;
}

static inline bool
fs5_req_same(const void *a, const void *b)
{
	const struct socks5_req *x = a, *y = b;
	return x->verdict == y->verdict && (x->verdict != SOCKS5_DONE ||
	    (x->len == y->len && x->cmd == y->cmd && x->atyp == y->atyp && x->port == y->port &&
	    x->host_off == y->host_off && x->host_len == y->host_len &&
	    memcmp(x->addr, y->addr, sizeof x->addr) == 0));
}

static inline const char *
fs5_verdict_str(int v)
{
	return socks5_verdict_str((enum socks5_verdict)v);
}

static const struct feed_parser feed_socks5_greet = { fs5_greet_init, fs5_greet_feed,
	fs5_greet_verdict, fs5_greet_same, fs5_verdict_str, SOCKS5_MORE };
static const struct feed_parser feed_socks5_req = { fs5_req_init, fs5_req_feed,
	fs5_req_verdict, fs5_req_same, fs5_verdict_str, SOCKS5_MORE };

#endif
