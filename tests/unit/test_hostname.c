/*
 * Unit tests for proto/hostname.c: every verdict, every limit at N and N+1, normalisation,
 * Host header ports, and one-label wildcard matching.
 */
#include <string.h>

#include "check.h"
#include "proto/hostname.h"

/* Normalises s and checks the verdict and (when OK) the normalised text. */
static void
expect_name(const char *s, enum hostname_verdict want, const char *norm)
{
	char out[HOSTNAME_BUF];
	size_t n = 99;
	enum hostname_verdict v = hostname_normalize((const uint8_t *)s, strlen(s), out, &n);
	CHECKF(v == want, "'%s': got %s want %s", s, hostname_verdict_str(v), hostname_verdict_str(want));
	if (want == HOSTNAME_OK && v == HOSTNAME_OK)
		CHECKF(strcmp(out, norm) == 0 && n == strlen(norm), "'%s' -> '%s'", s, out);
	if (v != HOSTNAME_OK)
		CHECKF(out[0] == '\0' && n == 0, "'%s': output not cleared on error", s);
}

/* Same for route patterns. */
static void
expect_pattern(const char *s, enum hostname_verdict want, const char *norm)
{
	char out[HOSTNAME_BUF];
	size_t n;
	enum hostname_verdict v = hostname_pattern_normalize((const uint8_t *)s, strlen(s), out, &n);
	CHECKF(v == want, "pattern '%s': got %s want %s", s, hostname_verdict_str(v),
	    hostname_verdict_str(want));
	if (want == HOSTNAME_OK && v == HOSTNAME_OK)
		CHECKF(strcmp(out, norm) == 0, "pattern '%s' -> '%s'", s, out);
}

/* Checks a Host header split. */
static void
expect_host(const char *s, enum hostname_verdict want, const char *norm, uint16_t port)
{
	char out[HOSTNAME_BUF];
	size_t n;
	uint16_t p = 1234;
	enum hostname_verdict v = hostname_from_host_header((const uint8_t *)s, strlen(s), out, &n, &p);
	CHECKF(v == want, "host '%s': got %s want %s", s, hostname_verdict_str(v),
	    hostname_verdict_str(want));
	if (want == HOSTNAME_OK && v == HOSTNAME_OK)
		CHECKF(strcmp(out, norm) == 0 && p == port, "host '%s' -> '%s' %u", s, out, p);
}

/* Builds a name of total length len from labels of at most lab bytes ("aaa.aaa..."). */
static void
make_name(char *buf, size_t len, size_t lab)
{
	size_t i = 0, run = 0;
	while (i < len) {
		if (run == lab && i + 1 < len) {
			buf[i++] = '.';
			run = 0;
			continue;
		}
		buf[i++] = 'a';
		run++;
	}
	buf[len] = '\0';
}

static void
test_basic(void)
{
	expect_name("example.com", HOSTNAME_OK, "example.com");
	expect_name("WWW.Example.COM", HOSTNAME_OK, "www.example.com");
	expect_name("example.com.", HOSTNAME_OK, "example.com");
	expect_name("example.com..", HOSTNAME_ERR_LABEL_EMPTY, NULL);
	expect_name("_dmarc.example.com", HOSTNAME_OK, "_dmarc.example.com");
	expect_name("a-b.c-d.e", HOSTNAME_OK, "a-b.c-d.e");
	expect_name("localhost", HOSTNAME_OK, "localhost");
	expect_name("3com.com", HOSTNAME_OK, "3com.com");
	expect_name("", HOSTNAME_ERR_EMPTY, NULL);
	expect_name(".", HOSTNAME_ERR_EMPTY, NULL);
	expect_name(".example.com", HOSTNAME_ERR_LABEL_EMPTY, NULL);
	expect_name("a..b", HOSTNAME_ERR_LABEL_EMPTY, NULL);
	expect_name("-a.com", HOSTNAME_ERR_HYPHEN, NULL);
	expect_name("a-.com", HOSTNAME_ERR_HYPHEN, NULL);
	expect_name("a.com-", HOSTNAME_ERR_HYPHEN, NULL);
	expect_name("exa mple.com", HOSTNAME_ERR_BAD_CHAR, NULL);
	expect_name("exa/mple.com", HOSTNAME_ERR_BAD_CHAR, NULL);
	expect_name("*.example.com", HOSTNAME_ERR_BAD_CHAR, NULL);
	expect_name("caf\xc3\xa9.fr", HOSTNAME_ERR_BAD_CHAR, NULL);
	expect_name("127.0.0.1", HOSTNAME_ERR_IP_LITERAL, NULL);
	expect_name("10.1.2.3.", HOSTNAME_ERR_IP_LITERAL, NULL);
	expect_name("2130706433", HOSTNAME_ERR_IP_LITERAL, NULL);
	expect_name("::1", HOSTNAME_ERR_IP_LITERAL, NULL);
	expect_name("[::1]", HOSTNAME_ERR_IP_LITERAL, NULL);
	expect_name("fe80::1", HOSTNAME_ERR_IP_LITERAL, NULL);

	/* An embedded NUL is a bad byte, not the end of the name. */
	char out[HOSTNAME_BUF];
	size_t n;
	CHECK(hostname_normalize((const uint8_t *)"a\0b.com", 7, out, &n) == HOSTNAME_ERR_BAD_CHAR);
}

static void
test_limits(void)
{
	char buf[HOSTNAME_MAX + 8];
	char label[HOSTNAME_LABEL_MAX + 8];

	/* Label length: 63 ok, 64 too long. */
	memset(label, 'x', HOSTNAME_LABEL_MAX);
	memcpy(label + HOSTNAME_LABEL_MAX, ".com", 5);
	expect_name(label, HOSTNAME_OK, label);
	memset(label, 'x', HOSTNAME_LABEL_MAX + 1);
	memcpy(label + HOSTNAME_LABEL_MAX + 1, ".com", 5);
	expect_name(label, HOSTNAME_ERR_LABEL_TOO_LONG, NULL);

	/* Name length: 253 ok, 254 too long; 253 plus a trailing dot is still ok. */
	make_name(buf, HOSTNAME_MAX, 60);
	CHECK(strlen(buf) == HOSTNAME_MAX);
	expect_name(buf, HOSTNAME_OK, buf);
	char dotted[HOSTNAME_MAX + 2];
	memcpy(dotted, buf, HOSTNAME_MAX);
	dotted[HOSTNAME_MAX] = '.';
	dotted[HOSTNAME_MAX + 1] = '\0';
	expect_name(dotted, HOSTNAME_OK, buf);
	make_name(buf, HOSTNAME_MAX + 1, 60);
	expect_name(buf, HOSTNAME_ERR_TOO_LONG, NULL);

	/* Patterns obey the same total limit, counting the "*.". */
	buf[0] = '*';
	buf[1] = '.';
	make_name(buf + 2, HOSTNAME_MAX - 2, 60);
	expect_pattern(buf, HOSTNAME_OK, buf);
	make_name(buf + 2, HOSTNAME_MAX - 1, 60);
	expect_pattern(buf, HOSTNAME_ERR_TOO_LONG, NULL);
}

static void
test_patterns(void)
{
	expect_pattern("*.Example.com", HOSTNAME_OK, "*.example.com");
	expect_pattern("example.com", HOSTNAME_OK, "example.com");
	expect_pattern("*", HOSTNAME_ERR_WILDCARD, NULL);
	expect_pattern("*.", HOSTNAME_ERR_WILDCARD, NULL);
	expect_pattern("**.example.com", HOSTNAME_ERR_WILDCARD, NULL);
	expect_pattern("a*.example.com", HOSTNAME_ERR_WILDCARD, NULL);
	expect_pattern("www.*.example.com", HOSTNAME_ERR_WILDCARD, NULL);
	expect_pattern("*.*.example.com", HOSTNAME_ERR_WILDCARD, NULL);
	expect_pattern("*.127.0.0.1", HOSTNAME_ERR_IP_LITERAL, NULL);

	CHECK(hostname_match("example.com", 11, "example.com", 11));
	CHECK(!hostname_match("example.com", 11, "www.example.com", 15));
	CHECK(hostname_match("*.example.com", 13, "www.example.com", 15));
	CHECK(hostname_match("*.example.com", 13, "_x.example.com", 14));
	CHECK(!hostname_match("*.example.com", 13, "example.com", 11));
	CHECK(!hostname_match("*.example.com", 13, "a.b.example.com", 15));
	CHECK(!hostname_match("*.example.com", 13, ".example.com", 12));
	CHECK(!hostname_match("*.example.com", 13, "wwwexample.com", 14));
	CHECK(!hostname_match("*.example.com", 13, "www.example.co", 14));
	CHECK(!hostname_match("*.example.com", 13, "www.example.comm", 16));
}

static void
test_host_header(void)
{
	expect_host("Example.com", HOSTNAME_OK, "example.com", 0);
	expect_host("example.com:8080", HOSTNAME_OK, "example.com", 8080);
	expect_host("example.com:", HOSTNAME_OK, "example.com", 0);
	expect_host("example.com:65535", HOSTNAME_OK, "example.com", 65535);
	expect_host("example.com:65536", HOSTNAME_ERR_PORT, NULL, 0);
	expect_host("example.com:0", HOSTNAME_ERR_PORT, NULL, 0);
	expect_host("example.com:123456", HOSTNAME_ERR_PORT, NULL, 0);
	expect_host("example.com:80a", HOSTNAME_ERR_PORT, NULL, 0);
	expect_host("example.com: 80", HOSTNAME_ERR_PORT, NULL, 0);
	expect_host("[::1]:443", HOSTNAME_ERR_IP_LITERAL, NULL, 0);
	expect_host("::1", HOSTNAME_ERR_IP_LITERAL, NULL, 0);
	expect_host("127.0.0.1:80", HOSTNAME_ERR_IP_LITERAL, NULL, 0);
	expect_host(":80", HOSTNAME_ERR_EMPTY, NULL, 0);
	expect_host("", HOSTNAME_ERR_EMPTY, NULL, 0);
}

int
main(void)
{
	test_basic();
	test_limits();
	test_patterns();
	test_host_header();
	CHECK(strcmp(hostname_verdict_str(HOSTNAME_OK), "ok") == 0);
	CHECK(strcmp(hostname_verdict_str(HOSTNAME_VERDICT_COUNT), "unknown") == 0);
	for (int v = 0; v < HOSTNAME_VERDICT_COUNT; v++)
		CHECKF(hostname_verdict_str((enum hostname_verdict)v) != NULL, "verdict %d has no name", v);
	return check_summary();
}
