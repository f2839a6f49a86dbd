/*
 * Authority-form parsing for HTTP CONNECT (see authority.h). The port is the text after
 * the last ':'; an IPv6 literal must be bracketed, so a ':' left in an unbracketed host is
 * refused rather than guessed at. Never reads past len.
 */
#include <stdbool.h>

#include "proto/authority.h"

/* True for a byte of an unbracketed host. */
static bool
authority_name_ch(uint8_t c)
{
	return c >= 0x21 && c <= 0x7e && c != ':' && c != '[' && c != ']' && c != '/' && c != '@';
}

/* True for a byte inside brackets. */
static bool
authority_v6_ch(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	    c == ':' || c == '.';
}

int
authority_parse(const uint8_t *s, size_t len, struct authority *a)
{
	size_t colon = len, i;
	uint32_t port = 0;

	for (i = len; i > 0; i--) {
		if (s[i - 1] == ':') {
			colon = i - 1;
			break;
		}
	}
	if (colon == len || colon == 0 || len - colon - 1 < 1 || len - colon - 1 > 5)
		return -1;
	for (i = colon + 1; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (uint32_t)(s[i] - '0');
	}
	if (port == 0 || port > 65535 || colon > AUTHORITY_HOST_MAX)
		return -1;
	if (s[0] == '[') {
		if (colon < 3 || s[colon - 1] != ']')
			return -1;
		for (i = 1; i < colon - 1; i++) {
			if (!authority_v6_ch(s[i]))
				return -1;
		}
	} else {
		for (i = 0; i < colon; i++) {
			if (!authority_name_ch(s[i]))
				return -1;
		}
	}
	a->host_off = 0;
	a->host_len = colon;
	a->port = (uint16_t)port;
	return 0;
}
