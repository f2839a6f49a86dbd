/*
 * Hostname validation and normalisation for SNI and the HTTP Host header (DESIGN.md §5),
 * and one-label wildcard matching for routes and certificates. Pure: bytes in, verdict
 * out, no allocation. Every name is checked here before any route lookup sees it.
 */
#ifndef SY_PROTO_HOSTNAME_H
#define SY_PROTO_HOSTNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOSTNAME_MAX       253 /* bytes, without the one trailing dot we strip */
#define HOSTNAME_LABEL_MAX 63  /* bytes per label */

/*
 * Verdicts of hostname_normalize / hostname_pattern_normalize.
 *
 *   HOSTNAME_OK                 name is valid; out holds it lowercased, no trailing dot
 *   HOSTNAME_ERR_EMPTY          zero bytes, or only "."
 *   HOSTNAME_ERR_TOO_LONG       over HOSTNAME_MAX bytes after stripping one trailing dot
 *   HOSTNAME_ERR_LABEL_EMPTY    ".." or a leading dot
 *   HOSTNAME_ERR_LABEL_TOO_LONG a label over HOSTNAME_LABEL_MAX bytes
 *   HOSTNAME_ERR_BAD_CHAR       a byte outside letters, digits, '-' and '_'
 *   HOSTNAME_ERR_HYPHEN         a label starting or ending with '-'
 *   HOSTNAME_ERR_IP_LITERAL     an IPv4 or IPv6 literal (SNI never carries one: RFC 6066 §3)
 *   HOSTNAME_ERR_WILDCARD       a '*' anywhere but a whole first label of a pattern
 *   HOSTNAME_ERR_PORT           Host header with a bad ":port"
 */
enum hostname_verdict {
	HOSTNAME_OK = 0,
	HOSTNAME_ERR_EMPTY,
	HOSTNAME_ERR_TOO_LONG,
	HOSTNAME_ERR_LABEL_EMPTY,
	HOSTNAME_ERR_LABEL_TOO_LONG,
	HOSTNAME_ERR_BAD_CHAR,
	HOSTNAME_ERR_HYPHEN,
	HOSTNAME_ERR_IP_LITERAL,
	HOSTNAME_ERR_WILDCARD,
	HOSTNAME_ERR_PORT,
	HOSTNAME_VERDICT_COUNT
};

/* A buffer that holds any normalised name plus a NUL. */
#define HOSTNAME_BUF (HOSTNAME_MAX + 1)

/*
 * Validates len untrusted bytes as a hostname; on HOSTNAME_OK writes the lowercased name
 * without its trailing dot, NUL-terminated, to out (HOSTNAME_BUF bytes) and its length to
 * *outlen. On error out is left an empty string.
 */
enum hostname_verdict hostname_normalize(const uint8_t *in, size_t len, char *out, size_t *outlen);

/*
 * Like hostname_normalize, but also accepts a route/certificate pattern whose first label
 * is exactly "*" ("*.example.com"). A bare "*" is rejected.
 */
enum hostname_verdict hostname_pattern_normalize(const uint8_t *in, size_t len, char *out,
    size_t *outlen);

/*
 * Parses an HTTP Host header value: "name" or "name:port" (a "[v6]:port" literal is
 * reported as HOSTNAME_ERR_IP_LITERAL). On success out holds the normalised name and
 * *port the port, or 0 when none was given.
 */
enum hostname_verdict hostname_from_host_header(const uint8_t *in, size_t len, char *out,
    size_t *outlen, uint16_t *port);

/*
 * True when the normalised name matches the normalised pattern: exact, or "*.rest" where
 * name is exactly one label followed by ".rest" (as in certificates, RFC 6125 §6.4.3).
 */
bool hostname_match(const char *pattern, size_t plen, const char *name, size_t nlen);

/* A short, stable, lowercase description of a verdict for logs and error messages. */
const char *hostname_verdict_str(enum hostname_verdict v);

#endif
