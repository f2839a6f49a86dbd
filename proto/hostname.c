/*
 * Hostname validation, normalisation and wildcard matching for SNI and HTTP Host
 * (DESIGN.md §5). Names are untrusted bytes from the network; nothing here allocates or
 * reads past the given length, and no name reaches a route lookup without passing here.
 * It must never accept bytes outside letters, digits, '-' and '_' in a name.
 */
#include "proto/hostname.h"

#include <string.h>

/* Letters, digits, '-' and '_' (underscore: seen in real service names). */
static const uint8_t hostname_ldh[256] = {
	['-'] = 1, ['_'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

static const char *const hostname_verdict_names[HOSTNAME_VERDICT_COUNT] = {
	[HOSTNAME_OK] = "ok",
	[HOSTNAME_ERR_EMPTY] = "empty",
	[HOSTNAME_ERR_TOO_LONG] = "too_long",
	[HOSTNAME_ERR_LABEL_EMPTY] = "label_empty",
	[HOSTNAME_ERR_LABEL_TOO_LONG] = "label_too_long",
	[HOSTNAME_ERR_BAD_CHAR] = "bad_char",
	[HOSTNAME_ERR_HYPHEN] = "hyphen",
	[HOSTNAME_ERR_IP_LITERAL] = "ip_literal",
	[HOSTNAME_ERR_WILDCARD] = "wildcard",
	[HOSTNAME_ERR_PORT] = "port",
};

/* Returns the stable name of a verdict ("unknown" for out-of-range values). */
const char *
hostname_verdict_str(enum hostname_verdict v)
{
	if ((unsigned)v >= HOSTNAME_VERDICT_COUNT)
		return "unknown";
	return hostname_verdict_names[v];
}

/*
 * Checks and lowercases the labels of in[0..len) (trailing dot already stripped) into out.
 * Accepts only LDH(+_) labels of 1..63 bytes that neither start nor end with '-'; a last
 * label made only of digits means an IPv4 literal (or a bare number that inet_aton would
 * take as one) and is refused.
 */
static enum hostname_verdict
hostname_labels(const uint8_t *in, size_t len, char *out)
{
	size_t label_start = 0;
	int all_digits = 1;

	for (size_t i = 0; i <= len; i++) {
		if (i == len || in[i] == '.') {
			size_t llen = i - label_start;
			if (llen == 0)
				return HOSTNAME_ERR_LABEL_EMPTY;
			if (llen > HOSTNAME_LABEL_MAX)
				return HOSTNAME_ERR_LABEL_TOO_LONG;
			if (in[label_start] == '-' || in[i - 1] == '-')
				return HOSTNAME_ERR_HYPHEN;
			if (i == len && all_digits)
				return HOSTNAME_ERR_IP_LITERAL;
			if (i < len)
				out[i] = '.';
			label_start = i + 1;
			all_digits = 1;
			continue;
		}
		uint8_t c = in[i];
		if (!hostname_ldh[c])
			return c == ':' || c == '[' ? HOSTNAME_ERR_IP_LITERAL : HOSTNAME_ERR_BAD_CHAR;
		if (c < '0' || c > '9')
			all_digits = 0;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	return HOSTNAME_OK;
}

/* Shared body of the two normalisers; wildcard says whether "*." may lead. */
static enum hostname_verdict
hostname_normalize_any(const uint8_t *in, size_t len, char *out, size_t *outlen, int wildcard)
{
	enum hostname_verdict v;
	size_t skip = 0;

	out[0] = '\0';
	*outlen = 0;
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return HOSTNAME_ERR_EMPTY;
	if (len > HOSTNAME_MAX)
		return HOSTNAME_ERR_TOO_LONG;
	if (wildcard && len >= 2 && in[0] == '*' && in[1] == '.') {
		out[0] = '*';
		out[1] = '.';
		skip = 2;
	}
	/* Any other '*' (bare, mid-label, later label) is a wildcard we do not support. */
	if (memchr(in + skip, '*', len - skip) != NULL || (len == 1 && in[0] == '*'))
		return wildcard ? HOSTNAME_ERR_WILDCARD : HOSTNAME_ERR_BAD_CHAR;
	if (skip == len)
		return HOSTNAME_ERR_WILDCARD;
	v = hostname_labels(in + skip, len - skip, out + skip);
	if (v != HOSTNAME_OK) {
		out[0] = '\0';
		return v;
	}
	out[len] = '\0';
	*outlen = len;
	return HOSTNAME_OK;
}

/* Validates and normalises an SNI or Host name; see hostname.h. */
enum hostname_verdict
hostname_normalize(const uint8_t *in, size_t len, char *out, size_t *outlen)
{
	return hostname_normalize_any(in, len, out, outlen, 0);
}

/* Validates and normalises a route or certificate pattern ("*.example.com" allowed). */
enum hostname_verdict
hostname_pattern_normalize(const uint8_t *in, size_t len, char *out, size_t *outlen)
{
	return hostname_normalize_any(in, len, out, outlen, 1);
}

#define HOSTNAME_PORT_DIGITS 5 /* "65535" */

/*
 * Splits a Host header value into name and optional port (RFC 9110 §7.2: uri-host
 * [ ":" port ]). An empty port ("name:") counts as none, as RFC 3986 allows.
 */
enum hostname_verdict
hostname_from_host_header(const uint8_t *in, size_t len, char *out, size_t *outlen,
    uint16_t *port)
{
	*port = 0;
	out[0] = '\0';
	*outlen = 0;
	if (len > 0 && in[0] == '[')
		return HOSTNAME_ERR_IP_LITERAL;
	const uint8_t *colon = memchr(in, ':', len);
	if (colon == NULL)
		return hostname_normalize(in, len, out, outlen);
	size_t name_len = (size_t)(colon - in);
	size_t digits = len - name_len - 1;
	if (memchr(colon + 1, ':', digits) != NULL)
		return HOSTNAME_ERR_IP_LITERAL; /* an unbracketed IPv6 literal */
	if (digits > HOSTNAME_PORT_DIGITS)
		return HOSTNAME_ERR_PORT;
	uint32_t p = 0;
	for (size_t i = 0; i < digits; i++) {
		uint8_t c = colon[1 + i];
		if (c < '0' || c > '9')
			return HOSTNAME_ERR_PORT;
		p = p * 10 + (uint32_t)(c - '0');
	}
	if (p > 65535 || (digits > 0 && p == 0))
		return HOSTNAME_ERR_PORT;
	enum hostname_verdict v = hostname_normalize(in, name_len, out, outlen);
	if (v == HOSTNAME_OK)
		*port = (uint16_t)p;
	return v;
}

/* Exact match, or "*.rest" matching exactly one non-empty label before ".rest". */
bool
hostname_match(const char *pattern, size_t plen, const char *name, size_t nlen)
{
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		const char *dot = memchr(name, '.', nlen);
		if (dot == NULL || dot == name)
			return false;
		size_t rest = nlen - (size_t)(dot + 1 - name);
		return rest == plen - 2 && memcmp(dot + 1, pattern + 2, rest) == 0;
	}
	return plen == nlen && memcmp(pattern, name, nlen) == 0;
}
