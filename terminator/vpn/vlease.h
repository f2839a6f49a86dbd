/*
 * The full tunnel's address pool (rvpn-protocol.md §7.5 item 6, DESIGN.md §3 `vpn.tun`):
 * which IPv4 address each client identity gets. Leases are handed out from network + 3
 * upward (network + 1 is the usual gateway, + 2 is kept free as the reference does; the
 * configured gateway address is skipped wherever it lies), keyed by the client's X25519
 * identity (`ik:<hex>`), and sticky: a key gets its old address back on every reconnect,
 * and across restarts through the text file of vlease_save / vlease_load. A lease is taken
 * from another key only when no address was ever free: the least recently used one whose
 * key holds no live session. When every address is held by a live session the pool is
 * exhausted and the new session is refused.
 *
 * Pure bookkeeping apart from vlease_save / vlease_load: no locking (the caller's), no
 * logging. File format, one lease a line, in address order:
 *
 *     ik:<64 lowercase hex digits> <dotted IPv4 address>\n
 */
#ifndef SY_TERMINATOR_VPN_VLEASE_H
#define SY_TERMINATOR_VPN_VLEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VLEASE_FIRST      3u        /* the first lease is network + 3 */
#define VLEASE_LINE_MAX   (3 + 64 + 1 + 15 + 1) /* one line of the file, newline included */
#define VLEASE_FILE       "tun-leases"

struct vlease_ent {
	bool     used;      /* a key holds this address */
	unsigned live;      /* sessions holding it now */
	uint64_t stamp;     /* last taken (for the least recently used) */
	uint8_t  key[32];
};

struct vlease_pool {
	uint32_t           net;     /* network address, host byte order */
	uint32_t           gw;      /* the device's own address: never leased */
	uint32_t           n;       /* addresses from net + VLEASE_FIRST to broadcast - 1 */
	uint64_t           clock;   /* stamps */
	struct vlease_ent *ents;    /* n, index i is net + VLEASE_FIRST + i */
};

/* Sets up a pool for gw/prefix (prefix 1..30). 0, or -1 when out of memory or the prefix
 * leaves no address. */
int vlease_init(struct vlease_pool *p, uint32_t gw, unsigned prefix);

/* Frees the table. */
void vlease_free(struct vlease_pool *p);

/* Takes the key's address for one more live session (see the top of the file). Returns
 * the address (host byte order) and sets *changed when the table changed (a new lease: save
 * it), or 0 when the pool is exhausted. */
uint32_t vlease_take(struct vlease_pool *p, const uint8_t key[32], bool *changed);

/* A live session on addr ended. */
void vlease_give(struct vlease_pool *p, uint32_t addr);

/* True when addr is a lease held by a live session. */
bool vlease_live(const struct vlease_pool *p, uint32_t addr);

/* Writes the table in the file format; the length, or -1 when cap is too small. */
long vlease_format(const struct vlease_pool *p, char *out, size_t cap);

/* Reads the file format into an empty pool. Lines for addresses outside the pool (the
 * prefix changed) are skipped; a malformed line or a second lease of one key or one address
 * makes it -1 (the pool is then emptied). Returns the leases read. */
long vlease_parse(struct vlease_pool *p, const char *text, size_t len);

/* Saves the table to dir/VLEASE_FILE atomically (a temporary file, fsync, rename). 0, or
 * -1 with err. */
int vlease_save(const struct vlease_pool *p, const char *dir, char *err, size_t cap);

/* Loads dir/VLEASE_FILE into an empty pool (no file: nothing). Leases read, or -1 with
 * err. */
long vlease_load(struct vlease_pool *p, const char *dir, char *err, size_t cap);

#endif
