/*
 * The two HTTP/1 head parsers (proto/http1.rl for requests, proto/http1_resp.rl for
 * responses) described for feed.h, with the one comparison of two runs and the view
 * helpers that their unit tests and fuzz harnesses share: what "the same result" means
 * for a parser is written once, so a field added to a result struct is compared by every
 * feeding of every test. Header-only, for tests/ and fuzz/; never used by the daemon.
 */
#ifndef SY_TESTS_FEED_HTTP1_H
#define SY_TESTS_FEED_HTTP1_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "feed.h"
#include "proto/http1.h"
#include "proto/http1_resp.h"

/* True when two views are equal. */
static inline bool
feed_view_eq(struct http1_view a, struct http1_view b)
{
	return a.off == b.off && a.len == b.len;
}

/* True when the first n fields of two runs have equal name and value views. */
static inline bool
feed_fields_eq(const struct http1_field *a, const struct http1_field *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (!feed_view_eq(a[i].name, b[i].name) || !feed_view_eq(a[i].value, b[i].value))
			return false;
	}
	return true;
}

/* True when view v of the string s equals want exactly. */
static inline bool
feed_view_is(const char *s, struct http1_view v, const char *want)
{
	return v.len == strlen(want) && memcmp(s + v.off, want, v.len) == 0;
}

/* The value of the first of n fields named name (case-insensitive) in s, or a NULL view. */
static inline struct http1_view
feed_field(const char *s, const struct http1_field *f, unsigned n, const char *name)
{
	struct http1_view none = { UINT32_MAX, 0 };

	for (unsigned i = 0; i < n; i++) {
		if (http1_view_ieq((const uint8_t *)s, f[i].name, name))
			return f[i].value;
	}
	return none;
}

/* True when view v lies inside the first head_len bytes. */
static inline bool
feed_in_head(uint32_t head_len, struct http1_view v)
{
	return v.off <= head_len && v.len <= head_len - v.off;
}

/* The first thing wrong with the n fields of a DONE head of head_len bytes in buf (a view
 * outside the head, a name empty or not ended by ':', a value not trimmed), or NULL. */
static inline const char *
feed_fields_wrong(const uint8_t *buf, uint32_t head_len, const struct http1_field *f,
    unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct http1_view nm = f[i].name, v = f[i].value;

		if (!feed_in_head(head_len, nm))
			return "name view";
		if (!feed_in_head(head_len, v))
			return "value view";
		if (nm.len == 0 || buf[nm.off + nm.len] != ':')
			return "name";
		if (v.len > 0 && (buf[v.off] == ' ' || buf[v.off] == '\t' ||
		    buf[v.off + v.len - 1] == ' ' || buf[v.off + v.len - 1] == '\t'))
			return "value not trimmed";
	}
	return NULL;
}

/* feed_parser.init for requests. */
static inline void
feed_req_init(void *st)
{
	http1_req_init(st);
}

/* feed_parser.feed for requests. */
static inline int
feed_req_feed(void *st, const uint8_t *buf, size_t n)
{
	return (int)http1_req_feed(st, buf, n);
}

/* feed_parser.verdict for requests. */
static inline int
feed_req_verdict(const void *st)
{
	return (int)((const struct http1_req *)st)->verdict;
}

/* feed_parser.verdict_str for requests. */
static inline const char *
feed_req_verdict_str(int v)
{
	return http1_verdict_str((enum http1_verdict)v);
}

/* True when two request runs agree on everything the verdict makes meaningful. */
static inline bool
feed_req_same(const void *va, const void *vb)
{
	const struct http1_req *a = va, *b = vb;

	if (a->verdict != b->verdict)
		return false;
	if (a->verdict != HTTP1_DONE)
		return true;
	return a->head_len == b->head_len && a->method == b->method &&
	    feed_view_eq(a->method_name, b->method_name) && feed_view_eq(a->target, b->target) &&
	    a->version_minor == b->version_minor && a->nfields == b->nfields &&
	    a->has_host == b->has_host && feed_view_eq(a->host, b->host) &&
	    a->has_cl == b->has_cl && a->content_length == b->content_length &&
	    a->chunked == b->chunked && a->conn_close == b->conn_close &&
	    a->conn_keep_alive == b->conn_keep_alive && a->conn_upgrade == b->conn_upgrade &&
	    a->upgrade_websocket == b->upgrade_websocket &&
	    a->expect_continue == b->expect_continue && a->keep_alive == b->keep_alive &&
	    feed_fields_eq(a->fields, b->fields, a->nfields);
}

/* The request-head parser for feed.h. */
static inline const struct feed_parser *
feed_http1_req(void)
{
	static const struct feed_parser p = {
		feed_req_init, feed_req_feed, feed_req_verdict, feed_req_same,
		feed_req_verdict_str, HTTP1_MORE,
	};
	return &p;
}

/* feed_parser.init for responses. */
static inline void
feed_resp_init(void *st)
{
	http1_resp_init(st);
}

/* feed_parser.feed for responses. */
static inline int
feed_resp_feed(void *st, const uint8_t *buf, size_t n)
{
	return (int)http1_resp_feed(st, buf, n);
}

/* feed_parser.verdict for responses. */
static inline int
feed_resp_verdict(const void *st)
{
	return (int)((const struct http1_resp *)st)->verdict;
}

/* feed_parser.verdict_str for responses. */
static inline const char *
feed_resp_verdict_str(int v)
{
	return http1_resp_verdict_str((enum http1_resp_verdict)v);
}

/* True when two response runs agree on everything the verdict makes meaningful. */
static inline bool
feed_resp_same(const void *va, const void *vb)
{
	const struct http1_resp *a = va, *b = vb;

	if (a->verdict != b->verdict)
		return false;
	if (a->verdict != HTTP1_RESP_DONE)
		return true;
	return a->head_len == b->head_len && a->status == b->status &&
	    a->version_minor == b->version_minor && feed_view_eq(a->reason, b->reason) &&
	    a->nfields == b->nfields && a->has_cl == b->has_cl &&
	    a->content_length == b->content_length && a->chunked == b->chunked &&
	    a->te_present == b->te_present && a->conn_close == b->conn_close &&
	    a->conn_keep_alive == b->conn_keep_alive && a->conn_upgrade == b->conn_upgrade &&
	    a->has_upgrade == b->has_upgrade && a->upgrade_websocket == b->upgrade_websocket &&
	    a->keep_alive == b->keep_alive && feed_fields_eq(a->fields, b->fields, a->nfields);
}

/* The response-head parser for feed.h. */
static inline const struct feed_parser *
feed_http1_resp(void)
{
	static const struct feed_parser p = {
		feed_resp_init, feed_resp_feed, feed_resp_verdict, feed_resp_same,
		feed_resp_verdict_str, HTTP1_RESP_MORE,
	};
	return &p;
}

#endif
