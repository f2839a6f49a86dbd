/*
 * The VPN replay cache (see vreplay.h): open addressing with linear probing over a table
 * with a quarter of its slots always free, keyed by a 12-byte BLAKE2b of the ephemeral
 * key, each slot holding the wall-clock second the key was seen. Expired slots are swept
 * by rebuilding the table when it reaches its live limit (linear probing cannot simply
 * empty a slot). The state file is a magic line, then 16-byte records (hash, u32 LE time),
 * appended as keys arrive and compacted at open.
 */
#include "terminator/vpn/vreplay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VREPLAY_MAGIC     "SYRPLY01"
#define VREPLAY_MAGIC_LEN 8

struct vreplay_slot {
	uint8_t  hash[VREPLAY_HASH_LEN];
	uint32_t t;      /* wall-clock second seen; 0: empty */
};

struct vreplay {
	pthread_mutex_t      mu;
	struct vreplay_slot *s;
	size_t               mask;     /* slots - 1 (a power of two) */
	size_t               count;    /* slots in use */
	size_t               live_max;
	int                  fd;       /* append-only state file, -1 when none */
	char                *dir;
};

/* True when a key seen at t is still inside the window at now. A clock that went back
 * (t > now) keeps the key: refusing an honest client's retry is better than a replay. */
static bool
vreplay_live(uint32_t t, uint64_t now, uint64_t window)
{
	return t > now || now - t < window;
}

/* The first slot to probe for a hash. */
static size_t
vreplay_home(const struct vreplay *r, const uint8_t *h)
{
	uint64_t v;
	memcpy(&v, h, sizeof v);
	return (size_t)v & r->mask;
}

/* Finds hash: its slot, or the empty slot where it would go. */
static struct vreplay_slot *
vreplay_probe(struct vreplay *r, const uint8_t *h)
{
	size_t i = vreplay_home(r, h);
	for (;;) {
		struct vreplay_slot *s = &r->s[i];
		if (s->t == 0 || memcmp(s->hash, h, VREPLAY_HASH_LEN) == 0)
			return s; /* a free slot always exists: count <= 3/4 of the slots */
		i = (i + 1) & r->mask;
	}
}

/* Rebuilds the table without the keys outside the window. Returns -1 when out of memory
 * (the table is then left as it was). */
static int
vreplay_sweep(struct vreplay *r, uint64_t now, uint64_t window)
{
	size_t slots = r->mask + 1, n = 0;
	struct vreplay_slot *keep = malloc((r->count ? r->count : 1) * sizeof *keep);
	if (keep == NULL)
		return -1;
	for (size_t i = 0; i < slots; i++)
		if (r->s[i].t != 0 && vreplay_live(r->s[i].t, now, window))
			keep[n++] = r->s[i];
	memset(r->s, 0, slots * sizeof *r->s);
	for (size_t i = 0; i < n; i++)
		*vreplay_probe(r, keep[i].hash) = keep[i];
	r->count = n;
	sodium_memzero(keep, n * sizeof *keep);
	free(keep);
	return 0;
}

/* Writes one record to the state file; a failing write is not fatal (memory still
 * holds the key) and is reported once. */
static void
vreplay_append(struct vreplay *r, const struct vreplay_slot *s)
{
	if (r->fd == -1)
		return;
	uint8_t rec[VREPLAY_REC_LEN];
	memcpy(rec, s->hash, VREPLAY_HASH_LEN);
	for (int i = 0; i < 4; i++)
		rec[VREPLAY_HASH_LEN + i] = (uint8_t)(s->t >> (8 * i));
	ssize_t n;
	do
		n = write(r->fd, rec, sizeof rec);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof rec) {
		fprintf(stderr, "switchyard: vpn: replay cache %s/%s: write failed (%s); keys are "
		    "kept in memory only from now on\n", r->dir, VREPLAY_FILE,
		    n == -1 ? strerror(errno) : "short write");
		close(r->fd);
		r->fd = -1;
	}
}

/* Inserts a record read from the file (at open, single-threaded). */
static void
vreplay_put(struct vreplay *r, const uint8_t *h, uint32_t t, uint64_t now, uint64_t window)
{
	if (t == 0 || !vreplay_live(t, now, window))
		return;
	struct vreplay_slot *s = vreplay_probe(r, h);
	if (s->t == 0) {
		if (r->count >= r->live_max)
			return;
		memcpy(s->hash, h, VREPLAY_HASH_LEN);
		r->count++;
	}
	if (t > s->t)
		s->t = t;
}

/* Reads dir/replay.cache into r; a missing file is an empty cache. */
static int
vreplay_read(struct vreplay *r, const char *path, uint64_t now, uint64_t window, char *err,
    size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	uint8_t magic[VREPLAY_MAGIC_LEN], rec[VREPLAY_REC_LEN];
	size_t n = fread(magic, 1, sizeof magic, f);
	if (n != 0 && (n != sizeof magic || memcmp(magic, VREPLAY_MAGIC, sizeof magic) != 0)) {
		fclose(f);
		snprintf(err, cap, "%s: not a switchyard replay cache", path);
		return -1;
	}
	while (fread(rec, 1, sizeof rec, f) == sizeof rec) {
		uint32_t t = 0;
		for (int i = 0; i < 4; i++)
			t |= (uint32_t)rec[VREPLAY_HASH_LEN + i] << (8 * i);
		vreplay_put(r, rec, t, now, window);
	} /* a torn last record (a crash mid-write) is ignored */
	fclose(f);
	return 0;
}

/* Writes the live keys to a new file, renames it over the old one, and keeps it open for
 * appending. */
static int
vreplay_compact(struct vreplay *r, const char *path, char *err, size_t cap)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
		snprintf(err, cap, "%s: path too long", path);
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(err, cap, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "wb");
	if (f == NULL) {
		close(fd);
		snprintf(err, cap, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	bool ok = fwrite(VREPLAY_MAGIC, 1, VREPLAY_MAGIC_LEN, f) == VREPLAY_MAGIC_LEN;
	for (size_t i = 0; ok && i <= r->mask; i++) {
		const struct vreplay_slot *s = &r->s[i];
		if (s->t == 0)
			continue;
		uint8_t rec[VREPLAY_REC_LEN];
		memcpy(rec, s->hash, VREPLAY_HASH_LEN);
		for (int k = 0; k < 4; k++)
			rec[VREPLAY_HASH_LEN + k] = (uint8_t)(s->t >> (8 * k));
		ok = fwrite(rec, 1, sizeof rec, f) == sizeof rec;
	}
	ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) == -1) {
		snprintf(err, cap, "%s: %s", ok ? path : tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	r->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (r->fd == -1) {
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Makes the cache (see vreplay.h). */
struct vreplay *
vreplay_open(size_t live_max, const char *dir, uint64_t now_s, uint64_t window_s, char *err,
    size_t cap)
{
	if (live_max == 0 || live_max > VREPLAY_LIVE_MAX) {
		snprintf(err, cap, "replay cache: %zu keys: must be from 1 to %u", live_max,
		    VREPLAY_LIVE_MAX);
		return NULL;
	}
	struct vreplay *r = calloc(1, sizeof *r);
	if (r == NULL)
		goto oom;
	r->fd = -1;
	r->live_max = live_max;
	size_t slots = 4;
	while (slots / 4 * 3 < live_max + 1)
		slots *= 2; /* at least a quarter free, so every probe ends */
	r->mask = slots - 1;
	if ((r->s = calloc(slots, sizeof *r->s)) == NULL)
		goto oom;
	if (pthread_mutex_init(&r->mu, NULL) != 0)
		goto oom;
	if (dir != NULL) {
		char path[PATH_MAX];
		if ((r->dir = strdup(dir)) == NULL)
			goto oom_mu;
		if (snprintf(path, sizeof path, "%s/%s", dir, VREPLAY_FILE) >= (int)sizeof path) {
			snprintf(err, cap, "%s: path too long", dir);
			goto fail;
		}
		if (vreplay_read(r, path, now_s, window_s, err, cap) == -1 ||
		    vreplay_compact(r, path, err, cap) == -1)
			goto fail;
	}
	return r;
oom_mu:
	snprintf(err, cap, "replay cache: out of memory");
fail:
	vreplay_free(r);
	return NULL;
oom:
	snprintf(err, cap, "replay cache: out of memory");
	if (r != NULL) {
		free(r->s);
		free(r);
	}
	return NULL;
}

/* The check (see vreplay.h). */
enum vreplay_rc
vreplay_check(struct vreplay *r, const uint8_t ek[32], uint64_t now_s, uint64_t window_s)
{
	uint8_t h[VREPLAY_HASH_LEN];
	crypto_generichash(h, sizeof h, ek, 32, NULL, 0);
	uint32_t now = now_s > UINT32_MAX ? UINT32_MAX : (uint32_t)(now_s ? now_s : 1);
	enum vreplay_rc rc = VREPLAY_NEW;
	pthread_mutex_lock(&r->mu);
	struct vreplay_slot *s = vreplay_probe(r, h);
	if (s->t != 0) {
		if (vreplay_live(s->t, now, window_s)) {
			rc = VREPLAY_SEEN;
			goto out;
		}
		s->t = now; /* seen before the window: a fresh sighting */
		vreplay_append(r, s);
		goto out;
	}
	if (r->count >= r->live_max) {
		if (vreplay_sweep(r, now, window_s) == -1 || r->count >= r->live_max) {
			rc = VREPLAY_FULL;
			goto out;
		}
		s = vreplay_probe(r, h); /* the sweep moved the slots */
	}
	memcpy(s->hash, h, sizeof h);
	s->t = now;
	r->count++;
	vreplay_append(r, s);
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* Slots in use. */
size_t
vreplay_count(struct vreplay *r)
{
	pthread_mutex_lock(&r->mu);
	size_t n = r->count;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* The state directory. */
const char *
vreplay_dir(const struct vreplay *r)
{
	return r->dir;
}

/* Frees everything. */
void
vreplay_free(struct vreplay *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	pthread_mutex_destroy(&r->mu);
	free(r->s);
	free(r->dir);
	free(r);
}
