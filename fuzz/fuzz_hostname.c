/*
 * Fuzz harness for proto/hostname.c. Names are not fed in chunks, so instead of a
 * whole-versus-chunked check this asserts the properties every caller relies on: an
 * accepted name is lowercase LDH(+_) within the limits, normalising it again is the
 * identity, it matches itself, a reference checker written differently agrees on
 * accept/reject, and the Host-header path agrees with the plain path. Any breach aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/hostname.h"

/* Independent restatement of the acceptance rule, kept deliberately simple and slow. */
static int
ref_accepts(const uint8_t *p, size_t n)
{
	if (n > 0 && p[n - 1] == '.')
		n--;
	if (n == 0 || n > HOSTNAME_MAX)
		return 0;
	size_t start = 0;
	int digits_only = 1;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '.') {
			int ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
			    (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '_';
			if (!ok)
				return 0;
			if (!(p[i] >= '0' && p[i] <= '9'))
				digits_only = 0;
			continue;
		}
		size_t l = i - start;
		if (l == 0 || l > HOSTNAME_LABEL_MAX || p[start] == '-' || p[i - 1] == '-')
			return 0;
		if (i == n && digits_only)
			return 0;
		start = i + 1;
		digits_only = 1;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[HOSTNAME_BUF], again[HOSTNAME_BUF];
	size_t n, n2;

	enum hostname_verdict v = hostname_normalize(data, size, out, &n);
	if ((v == HOSTNAME_OK) != ref_accepts(data, size))
		abort();
	if (v == HOSTNAME_OK) {
		if (n == 0 || n > HOSTNAME_MAX || strlen(out) != n)
			abort();
		for (size_t i = 0; i < n; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				abort();
		if (hostname_normalize((const uint8_t *)out, n, again, &n2) != HOSTNAME_OK ||
		    n2 != n || memcmp(out, again, n) != 0)
			abort();
		if (!hostname_match(out, n, out, n))
			abort();
		/* Without a ':' the Host header path must agree exactly. */
		uint16_t port;
		if (memchr(data, ':', size) == NULL && (size == 0 || data[0] != '[')) {
			if (hostname_from_host_header(data, size, again, &n2, &port) != HOSTNAME_OK ||
			    n2 != n || memcmp(out, again, n) != 0 || port != 0)
				abort();
		}
		/* "*." + the name minus its first label must match it, when it has two labels. */
		const char *dot = memchr(out, '.', n);
		if (dot != NULL) {
			char pat[HOSTNAME_BUF + 2];
			size_t rest = n - (size_t)(dot - out);
			pat[0] = '*';
			memcpy(pat + 1, dot, rest);
			if (!hostname_match(pat, rest + 1, out, n))
				abort();
		}
	} else if (out[0] != '\0' || n != 0) {
		abort();
	}

	/* Patterns: an accepted pattern is stable under renormalisation. */
	if (hostname_pattern_normalize(data, size, out, &n) == HOSTNAME_OK) {
		if (hostname_pattern_normalize((const uint8_t *)out, n, again, &n2) != HOSTNAME_OK ||
		    n2 != n || memcmp(out, again, n) != 0)
			abort();
	}
	return 0;
}
