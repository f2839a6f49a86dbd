/*
 * Fuzz harness for the SOCKS5 parsers (proto/socks5.c) and the CONNECT authority parser
 * (proto/authority.c) of switchyard-client. The first input byte picks the target: the
 * greeting, the request, or the authority. Each parser is run whole and in the chunkings
 * of feed.h (one byte at a time, input-driven sizes, a split at an input-chosen offset);
 * any difference in verdict or results aborts, as does a DONE longer than its input or a
 * view outside it. It must never print anything on the happy path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_socks5.h"
#include "proto/authority.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a reason; libFuzzer and the replay driver both see the abort. */
static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_socks5: %s\n", why);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why;

	if (size < 1)
		return 0;
	uint8_t pick = data[0] % 3;
	data++;
	size--;
	if (pick == 0) {
		struct socks5_greet a, b;
		if ((why = feed_fuzz(&feed_socks5_greet, &a, &b, data, size)) != NULL)
			fail(why);
		if (a.verdict == SOCKS5_DONE && (a.len > size || a.len > SOCKS5_GREET_MAX))
			fail("greeting longer than its input");
	} else if (pick == 1) {
		struct socks5_req a, b;
		if ((why = feed_fuzz(&feed_socks5_req, &a, &b, data, size)) != NULL)
			fail(why);
		if (a.verdict == SOCKS5_DONE && (a.len > size || a.len > SOCKS5_REQ_MAX ||
		    (a.atyp == SOCKS5_ATYP_DOMAIN && (size_t)a.host_off + a.host_len > a.len)))
			fail("request view outside its input");
	} else {
		struct authority a;
		if (authority_parse(data, size, &a) == 0 && (a.host_off + a.host_len > size ||
		    a.host_len == 0 || a.host_len > AUTHORITY_HOST_MAX || a.port == 0))
			fail("authority view outside its input");
	}
	return 0;
}
