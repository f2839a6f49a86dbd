/*
 * terminator/vpn/vlease: the /tun address pool. Leases from network + 3 upward, the
 * gateway skipped wherever it lies, sticky per key (reconnects and live takeovers), the
 * least recently used idle lease reclaimed only when no address is free, exhaustion when
 * every address is live (a /29 at N = 4 and N + 1 = 5 keys), the file format round trip,
 * malformed files refused whole, addresses outside a changed prefix skipped, and the
 * atomic save / load in a temporary directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "terminator/vpn/vlease.h"

#define A(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

/* A key filled with byte b. */
static const uint8_t *
key(uint8_t b)
{
	static uint8_t k[8][32];
	static unsigned next;
	uint8_t *p = k[next++ % 8];
	memset(p, b, 32);
	return p;
}

static void
test_take(void)
{
	struct vlease_pool p;
	bool ch;
	CHECK(vlease_init(&p, A(10, 200, 0, 1), 24) == 0 && p.n == 252);
	CHECK(vlease_take(&p, key(1), &ch) == A(10, 200, 0, 3) && ch);
	CHECK(vlease_take(&p, key(2), &ch) == A(10, 200, 0, 4) && ch);
	/* sticky: the same key, even while its first session lives (a takeover) */
	CHECK(vlease_take(&p, key(1), &ch) == A(10, 200, 0, 3) && !ch);
	CHECK(vlease_live(&p, A(10, 200, 0, 3)));
	vlease_give(&p, A(10, 200, 0, 3));
	CHECK(vlease_live(&p, A(10, 200, 0, 3)));
	vlease_give(&p, A(10, 200, 0, 3));
	CHECK(!vlease_live(&p, A(10, 200, 0, 3)));
	/* a reconnect after the session ended: the same address, not a new one */
	CHECK(vlease_take(&p, key(1), &ch) == A(10, 200, 0, 3) && !ch);
	CHECK(!vlease_live(&p, A(10, 200, 0, 1)) && !vlease_live(&p, A(10, 200, 0, 255)));
	vlease_free(&p);

	/* the gateway inside the pool range is never leased */
	CHECK(vlease_init(&p, A(10, 1, 0, 4), 24) == 0);
	CHECK(vlease_take(&p, key(1), &ch) == A(10, 1, 0, 3));
	CHECK(vlease_take(&p, key(2), &ch) == A(10, 1, 0, 5));
	vlease_free(&p);
	CHECK(vlease_init(&p, A(10, 1, 0, 1), 30) == -1);
	CHECK(vlease_init(&p, A(10, 1, 0, 1), 31) == -1);
}

static void
test_exhaust(void)
{
	struct vlease_pool p;
	bool ch;
	/* a /29: .3 .4 .5 .6 (N = 4) */
	CHECK(vlease_init(&p, A(10, 9, 0, 1), 29) == 0 && p.n == 4);
	for (uint8_t i = 1; i <= 4; i++)
		CHECK(vlease_take(&p, key(i), &ch) == A(10, 9, 0, 2 + i));
	CHECK(vlease_take(&p, key(5), &ch) == 0); /* N + 1 while all four live: exhausted */
	/* key 2 leaves, key 3 leaves later: key 5 gets the least recently used (key 2's) */
	vlease_give(&p, A(10, 9, 0, 4));
	vlease_give(&p, A(10, 9, 0, 5));
	CHECK(vlease_take(&p, key(5), &ch) == A(10, 9, 0, 4) && ch);
	/* key 2 lost its lease: it takes key 3's, the only idle one */
	CHECK(vlease_take(&p, key(2), &ch) == A(10, 9, 0, 5) && ch);
	CHECK(vlease_take(&p, key(3), &ch) == 0);
	vlease_free(&p);
}

static void
test_format(void)
{
	struct vlease_pool p, q;
	bool ch;
	char buf[4096];
	CHECK(vlease_init(&p, A(10, 200, 0, 1), 24) == 0);
	(void)vlease_take(&p, key(0xab), &ch);
	(void)vlease_take(&p, key(0x01), &ch);
	long n = vlease_format(&p, buf, sizeof buf);
	const char *want =
	    "ik:abababababababababababababababababababababababababababababababab 10.200.0.3\n"
	    "ik:0101010101010101010101010101010101010101010101010101010101010101 10.200.0.4\n";
	CHECKF(n == (long)strlen(want) && memcmp(buf, want, (size_t)n) == 0, "[%.*s]", (int)n, buf);
	CHECK(vlease_format(&p, buf, strlen(want) - 1) == -1);
	CHECK(vlease_init(&q, A(10, 200, 0, 1), 24) == 0);
	CHECK(vlease_parse(&q, want, strlen(want)) == 2);
	CHECK(vlease_take(&q, key(0x01), &ch) == A(10, 200, 0, 4) && !ch);
	CHECK(vlease_take(&q, key(0x02), &ch) == A(10, 200, 0, 5) && ch);
	vlease_free(&q);

	/* a smaller prefix now: 10.200.0.4 is still in a /29, .3 too; both kept */
	CHECK(vlease_init(&q, A(10, 200, 0, 1), 29) == 0);
	CHECK(vlease_parse(&q, want, strlen(want)) == 2);
	vlease_free(&q);
	/* another network: both skipped */
	CHECK(vlease_init(&q, A(10, 201, 0, 1), 24) == 0);
	CHECK(vlease_parse(&q, want, strlen(want)) == 0);
	vlease_free(&q);

	static const char *const bad[] = {
		"ik:ab 10.200.0.3\n",
		"ik:abababababababababababababababababababababababababababababababab 10.200.0.3",
		"ik:ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB 10.200.0.3\n",
		"ik:abababababababababababababababababababababababababababababababab 10.200.0.256\n",
		"ik:abababababababababababababababababababababababababababababababab 10.200.0.3 \n",
		"ik:abababababababababababababababababababababababababababababababab 10.200.0.3\n"
		"ik:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd 10.200.0.3\n",
		"ik:abababababababababababababababababababababababababababababababab 10.200.0.3\n"
		"ik:abababababababababababababababababababababababababababababababab 10.200.0.4\n",
		"xx:abababababababababababababababababababababababababababababababab 10.200.0.3\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		CHECK(vlease_init(&q, A(10, 200, 0, 1), 24) == 0);
		CHECKF(vlease_parse(&q, bad[i], strlen(bad[i])) == -1, "bad[%zu]", i);
		CHECK(vlease_take(&q, key(0xab), &ch) == A(10, 200, 0, 3) && ch); /* emptied */
		vlease_free(&q);
	}
	vlease_free(&p);
}

static void
test_file(void)
{
	char dir[] = "/tmp/test_vlease.XXXXXX", err[256], path[64];
	struct vlease_pool p, q;
	bool ch;
	CHECK(mkdtemp(dir) != NULL);
	CHECK(vlease_init(&p, A(10, 200, 0, 1), 24) == 0);
	CHECK(vlease_init(&q, A(10, 200, 0, 1), 24) == 0);
	CHECK(vlease_load(&q, dir, err, sizeof err) == 0); /* no file yet */
	(void)vlease_take(&p, key(7), &ch);
	(void)vlease_take(&p, key(8), &ch);
	CHECK(vlease_save(&p, dir, err, sizeof err) == 0);
	CHECK(vlease_load(&q, dir, err, sizeof err) == 2);
	CHECK(vlease_take(&q, key(8), &ch) == A(10, 200, 0, 4) && !ch);
	snprintf(path, sizeof path, "%s/%s.tmp", dir, VLEASE_FILE);
	CHECK(access(path, F_OK) == -1); /* renamed away */
	CHECK(vlease_save(&p, "/nonexistent-dir", err, sizeof err) == -1 &&
	    strstr(err, "No such file") != NULL);
	snprintf(path, sizeof path, "%s/%s", dir, VLEASE_FILE);
	unlink(path);
	rmdir(dir);
	vlease_free(&p);
	vlease_free(&q);
}

int
main(void)
{
	test_take();
	test_exhaust();
	test_format();
	test_file();
	return check_summary();
}
