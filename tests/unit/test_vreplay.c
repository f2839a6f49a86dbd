/*
 * terminator/vpn/vreplay: a key is refused within the window and accepted again after it
 * (at window - 1 s and window s), the live-key limit at N and N+1 (and room again once old
 * keys expire), persistence across a close and re-open (expired keys dropped, the file
 * compacted), a torn last record, a foreign file refused, and the clock going back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "terminator/vpn/vreplay.h"

/* A distinct ephemeral key per i. */
static void
key(uint8_t k[32], unsigned i)
{
	memset(k, 0, 32);
	memcpy(k, &i, sizeof i);
	k[31] = 0x5a;
}

static void
test_window(void)
{
	char err[256];
	uint8_t k[32];
	struct vreplay *r = vreplay_open(16, NULL, 1000, 60, err, sizeof err);
	CHECK(r != NULL);
	if (r == NULL)
		return;
	key(k, 1);
	CHECK(vreplay_check(r, k, 1000, 60) == VREPLAY_NEW);
	CHECK(vreplay_check(r, k, 1000, 60) == VREPLAY_SEEN);
	CHECK(vreplay_check(r, k, 1059, 60) == VREPLAY_SEEN);   /* window - 1 s */
	CHECK(vreplay_check(r, k, 1060, 60) == VREPLAY_NEW);    /* the window has passed */
	CHECK(vreplay_check(r, k, 1061, 60) == VREPLAY_SEEN);   /* and it counts again */
	CHECK(vreplay_check(r, k, 900, 60) == VREPLAY_SEEN);    /* clock went back */
	key(k, 2);
	CHECK(vreplay_check(r, k, 1061, 60) == VREPLAY_NEW);
	vreplay_free(r);
}

static void
test_full(void)
{
	char err[256];
	uint8_t k[32];
	enum { N = 100 };
	struct vreplay *r = vreplay_open(N, NULL, 1000, 60, err, sizeof err);
	CHECK(r != NULL);
	if (r == NULL)
		return;
	unsigned ok = 0;
	for (unsigned i = 0; i < N; i++) {
		key(k, i);
		ok += vreplay_check(r, k, 1000 + i / 10, 60) == VREPLAY_NEW;
	}
	CHECK(ok == N && vreplay_count(r) == N);
	key(k, N);
	CHECK(vreplay_check(r, k, 1010, 60) == VREPLAY_FULL);   /* N + 1 live keys: refused */
	key(k, 5);
	CHECK(vreplay_check(r, k, 1010, 60) == VREPLAY_SEEN);   /* nothing was forgotten */
	/* Keys 0-9 (seen at 1000) expire at 1060: room for ten more, not eleven. */
	ok = 0;
	for (unsigned i = 0; i < 11; i++) {
		key(k, 1000 + i);
		ok += vreplay_check(r, k, 1060, 60) == VREPLAY_NEW;
	}
	CHECK(ok == 10);
	CHECK(vreplay_count(r) == N);
	vreplay_free(r);
	CHECK(vreplay_open(0, NULL, 1, 1, err, sizeof err) == NULL);
	CHECK(vreplay_open(VREPLAY_LIVE_MAX + 1, NULL, 1, 1, err, sizeof err) == NULL);
}

static void
test_persist(void)
{
	char dir[] = "/tmp/sy-vreplay-XXXXXX", path[64], err[256];
	uint8_t k[32];
	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof path, "%s/%s", dir, VREPLAY_FILE);
	struct vreplay *r = vreplay_open(16, dir, 1000, 60, err, sizeof err);
	CHECKF(r != NULL, "%s", err);
	if (r == NULL)
		return;
	for (unsigned i = 0; i < 5; i++) {
		key(k, i);
		CHECK(vreplay_check(r, k, 1000 + i * 20, 60) == VREPLAY_NEW);
	}
	vreplay_free(r);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size == 8 + 5 * VREPLAY_REC_LEN);
	/* Re-open at 1070: only the key seen at 1000 is past the 60 s window. */
	r = vreplay_open(16, dir, 1070, 60, err, sizeof err);
	CHECKF(r != NULL, "%s", err);
	if (r == NULL)
		return;
	CHECK(vreplay_count(r) == 4); /* seen at 1020, 1040, 1060, 1080 (later than now: kept) */
	CHECK(stat(path, &st) == 0 && st.st_size == 8 + 4 * VREPLAY_REC_LEN);
	key(k, 3);
	CHECK(vreplay_check(r, k, 1070, 60) == VREPLAY_SEEN);
	key(k, 0);
	CHECK(vreplay_check(r, k, 1070, 60) == VREPLAY_NEW);
	vreplay_free(r);
	/* A torn last record is ignored. */
	FILE *f = fopen(path, "ab");
	CHECK(f != NULL && fwrite("abc", 1, 3, f) == 3 && fclose(f) == 0);
	r = vreplay_open(16, dir, 1070, 60, err, sizeof err);
	CHECK(r != NULL && vreplay_count(r) == 5);
	vreplay_free(r);
	/* A foreign file is refused, not overwritten. */
	f = fopen(path, "wb");
	CHECK(f != NULL && fwrite("hello world\n", 1, 12, f) == 12 && fclose(f) == 0);
	r = vreplay_open(16, dir, 1070, 60, err, sizeof err);
	CHECK(r == NULL && strstr(err, "not a switchyard replay cache") != NULL);
	unlink(path);
	rmdir(dir);
	/* A directory that does not exist. */
	CHECK(vreplay_open(16, "/nonexistent/sy", 1, 1, err, sizeof err) == NULL);
}

int
main(void)
{
	test_window();
	test_full();
	test_persist();
	return check_summary();
}
