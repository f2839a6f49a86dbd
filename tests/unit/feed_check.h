/*
 * The unit tests' side of feed.h: one vector run whole, growing one byte at a time and
 * split at every offset, with a CHECK that every run agrees and that the verdict is the
 * one wanted. Two CHECKs per vector when all is well, one more on the first split that
 * differs. Only for tests/unit (it counts through check.h); never used by the daemon.
 */
#ifndef SY_TESTS_FEED_CHECK_H
#define SY_TESTS_FEED_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "feed.h"

/*
 * Runs the n bytes of text through p into whole (in one call), then into other byte by
 * byte and split at every offset, always from a private exact-size copy; checks that all
 * agree with whole and that whole's verdict is want. name tells the failing vector.
 */
static inline void
feed_expect(const struct feed_parser *p, void *whole, void *other, const char *name,
    const void *text, size_t n, int want)
{
	uint8_t *exact = malloc(n ? n : 1);

	if (exact == NULL)
		feed_oom();
	memcpy(exact, text, n);
	feed_whole(p, whole, exact, n);
	CHECKF(p->verdict(whole) == want, "%s: verdict %s, want %s", name,
	    p->verdict_str(p->verdict(whole)), p->verdict_str(want));
	feed_bytes(p, other, exact, n);
	CHECKF(p->same(whole, other), "%s: byte-at-a-time differs (%s)", name,
	    p->verdict_str(p->verdict(other)));
	for (size_t k = 0; k <= n; k++) {
		feed_split(p, other, exact, n, k);
		if (!p->same(whole, other)) {
			CHECKF(0, "%s: split at %zu differs (%s)", name, k,
			    p->verdict_str(p->verdict(other)));
			break;
		}
	}
	free(exact);
}

#endif
