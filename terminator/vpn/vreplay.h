/*
 * The VPN replay cache (rvpn-protocol.md §12 #2): a Hello whose ephemeral key was seen
 * within the replay window is refused before any ServerHello. One cache per process,
 * shared by every worker thread behind a mutex (one lookup per handshake, never on the
 * data path), so it survives reloads; with a state file it also survives restarts: every
 * new key is appended to the file, which is read and compacted when the cache is opened.
 *
 * Bounded memory: the table has a fixed number of slots, allocated once. Keys older than
 * the window are forgotten; when the live keys (seen within the window) fill the table, a
 * new handshake is refused (VREPLAY_FULL) rather than a key inside the window forgotten,
 * since forgetting would re-open the replay this cache exists to stop.
 */
#ifndef SY_TERMINATOR_VPN_VREPLAY_H
#define SY_TERMINATOR_VPN_VREPLAY_H

#include <stddef.h>
#include <stdint.h>

#define VREPLAY_LIVE_DEFAULT 262144 /* live keys: about 3 handshakes a second over 24 h */
#define VREPLAY_LIVE_MAX     (1u << 24)
#define VREPLAY_HASH_LEN     12     /* bytes of BLAKE2b(ek) kept: 2^-96 false refusals */
#define VREPLAY_REC_LEN      (VREPLAY_HASH_LEN + 4) /* a slot and a file record */
#define VREPLAY_FILE         "replay.cache"

enum vreplay_rc {
	VREPLAY_NEW = 0,  /* not seen within the window: recorded now */
	VREPLAY_SEEN,     /* seen within the window: refuse */
	VREPLAY_FULL      /* the table holds live_max live keys: refuse */
};

struct vreplay;

/*
 * Makes a cache for up to live_max keys live at once. With dir (may be NULL) it reads
 * dir/replay.cache (keys older than window_s at now_s are dropped), rewrites it compacted,
 * and appends every new key. Returns NULL with err set on failure.
 */
struct vreplay *vreplay_open(size_t live_max, const char *dir, uint64_t now_s,
    uint64_t window_s, char *err, size_t cap);

/* Checks ek against the keys seen within window_s seconds of now_s (wall clock) and
 * records it when new. Thread-safe. */
enum vreplay_rc vreplay_check(struct vreplay *r, const uint8_t ek[32], uint64_t now_s,
    uint64_t window_s);

/* The number of keys held (live or not yet swept). */
size_t vreplay_count(struct vreplay *r);

/* The directory given to vreplay_open, or NULL. */
const char *vreplay_dir(const struct vreplay *r);

/* Closes the file and frees the table. */
void vreplay_free(struct vreplay *r);

#endif
