/*
 * The VPN engine's per-generation state (DESIGN.md §8, `terminator.vpn`): the server's
 * identity and signed prekey (loaded at build, like certificates), the allow-list, the
 * process-wide replay cache, the path table and the metrics entries. Built by term_build on
 * the main thread, immutable afterwards and shared by every worker; sessions keep the
 * generation they started with, except that the allow-list is looked up in the newest
 * published one whenever it changes (revocation on SIGHUP).
 */
#ifndef SY_TERMINATOR_VPN_VPN_H
#define SY_TERMINATOR_VPN_VPN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf-t.h"
#include "proto/rvpn/rvpn_keys.h"
#include "terminator/vpn/vallow.h"

struct stats_entry;
struct vreplay;

/* What a request path names under vpn.path (rvpn-protocol.md §2). */
enum vpn_path { VPN_NONE = 0, VPN_WS, VPN_MUX, VPN_DNS, VPN_TUN, VPN_PATH_COUNT };

/* A published allow-list; counted so that a session looking a key up never sees it freed. */
struct vpn_list {
	unsigned      refs;    /* under vpn_list_mu */
	bool          open;    /* any key */
	struct vallow allow;
};

struct vpn {
	const struct conf_vpn *cv;
	struct rvpn_identity   id;
	uint8_t                spk_priv[32];
	uint8_t                spk_pub[32];
	uint8_t                spk_sig[64];
	struct vpn_list       *list;       /* this generation's (also published) */
	struct vreplay        *replay;     /* process-wide, not owned */
	struct stats_entry    *stats[VPN_PATH_COUNT];
	uint64_t               replay_window_s;
};

/* Loads keys and lists for cv and publishes the allow-list. NULL with err on failure. */
struct vpn *vpn_build(const struct conf_vpn *cv, char *err, size_t cap);

/* From now on vpn_build writes no state: the replay cache stays in memory (`-t`). */
void vpn_check_only(void);

/* Frees a generation's state (no session may still use it). */
void vpn_free(struct vpn *v);

/* Which VPN path a request-target (as sent, query included) names, or VPN_NONE. */
enum vpn_path vpn_match(const struct vpn *v, const uint8_t *target, size_t len);

/* The path's label for logs and metrics ("ws", "mux", "dns", "tun"). */
const char *vpn_path_name(enum vpn_path p);

/* Counter of the published allow-list's version: it changes on every publish. */
unsigned vpn_list_epoch(void);

/*
 * Looks key up in the newest published allow-list: true when it may still hold a session
 * (open, or listed); name gets its name (cap bytes). Takes a mutex: call on epoch changes
 * and at handshakes only.
 */
bool vpn_list_allows(const uint8_t key[32], char *name, size_t cap);

/* Sessions open over the whole process, for max_sessions. */
bool vpn_session_take(uint64_t max);
void vpn_session_give(void);

/* Frees the process-wide state (replay cache, published list) at exit. */
void vpn_fini_process(void);

#endif
