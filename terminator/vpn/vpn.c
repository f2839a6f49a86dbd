/*
 * The VPN engine's per-generation state (see vpn.h). Keys come through core/privopen like
 * the certificates, so a reload after the privilege drop still reads root-only files. The
 * signed prekey is the bundle's (rvpn-protocol.md §11 #11): its private half comes from the
 * sidecar, and the pair and the signature are checked against the identity at load, so a
 * mismatched set of files is a start-up error rather than clients failing one by one.
 */
#include "terminator/vpn/vpn.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "core/privopen.h"
#include "core/stats.h"
#include "terminator/vpn/vreplay.h"
#include "terminator/vpn/vtun.h"

static pthread_mutex_t vpn_list_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vpn_list *vpn_list_cur;   /* the newest published list, one reference */
static unsigned vpn_list_gen;           /* atomic: bumped on every publish */
static struct vreplay *vpn_replay;      /* process-wide: survives reloads */
static uint64_t vpn_sessions;           /* atomic */

/* Drops a reference (under vpn_list_mu). */
static void
vpn_list_unref_locked(struct vpn_list *l)
{
	if (l != NULL && --l->refs == 0) {
		vallow_free(&l->allow);
		free(l);
	}
}

/* Reads a small key file through privopen into buf (NUL-terminated). */
static int
vpn_read_file(const char *key, const char *path, char *buf, size_t cap, size_t *len, char *err,
    size_t ecap)
{
	FILE *f = privopen_fopen(path);
	if (f == NULL) {
		snprintf(err, ecap, "terminator.vpn.%s: %s: %s", key, path, strerror(errno));
		return -1;
	}
	size_t n = fread(buf, 1, cap, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || n == cap) {
		sodium_memzero(buf, cap);
		snprintf(err, ecap, "terminator.vpn.%s: %s: %s", key, path,
		    bad ? "read error" : "file too large");
		return -1;
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* Loads the identity, the bundle and its sidecar, and checks they belong together. */
static int
vpn_load_keys(struct vpn *v, char *err, size_t cap)
{
	char buf[RVPN_BUNDLE_MAX + 1];
	size_t n;
	int rc = -1;
	if (vpn_read_file("identity_key", v->cv->identity_key, buf, RVPN_IDENTITY_MAX + 1, &n, err, cap) == -1)
		return -1;
	if (rvpn_identity_parse(&v->id, buf, n) == -1) {
		snprintf(err, cap, "%s: not an r-vpn identity key file", v->cv->identity_key);
		goto out;
	}
	struct rvpn_bundle b;
	if (vpn_read_file("prekey_bundle", v->cv->prekey_bundle, buf, sizeof buf, &n, err, cap) == -1)
		goto out;
	if (rvpn_bundle_parse(&b, buf, n) == -1) {
		snprintf(err, cap, "%s: not an r-vpn prekey bundle", v->cv->prekey_bundle);
		goto out;
	}
	char side[PATH_MAX];
	if (rvpn_sidecar_name(side, sizeof side, v->cv->prekey_bundle) == -1) {
		snprintf(err, cap, "%s: path too long", v->cv->prekey_bundle);
		goto out;
	}
	if (vpn_read_file("prekey_bundle", side, buf, sizeof buf, &n, err, cap) == -1)
		goto out;
	if (rvpn_private_parse(v->spk_priv, buf, n) == -1) {
		snprintf(err, cap, "%s: not an r-vpn prekey private file", side);
		goto out;
	}
	uint8_t pub[32];
	crypto_scalarmult_base(pub, v->spk_priv);
	if (memcmp(b.identity_key, v->id.ed_pub, 32) != 0 ||
	    memcmp(b.identity_x25519_key, v->id.x_pub, 32) != 0) {
		snprintf(err, cap, "%s: the bundle is not for the identity in %s",
		    v->cv->prekey_bundle, v->cv->identity_key);
		goto out;
	}
	if (memcmp(pub, b.signed_prekey, 32) != 0) {
		snprintf(err, cap, "%s: the signed prekey does not match its private key in %s",
		    v->cv->prekey_bundle, side);
		goto out;
	}
	if (!rvpn_spk_verify(b.prekey_signature, v->id.ed_pub, b.signed_prekey)) {
		snprintf(err, cap, "%s: bad prekey signature", v->cv->prekey_bundle);
		goto out;
	}
	memcpy(v->spk_pub, b.signed_prekey, 32);
	memcpy(v->spk_sig, b.prekey_signature, 64);
	rc = 0;
out:
	sodium_memzero(buf, sizeof buf);
	return rc;
}

/* Builds a generation's VPN state (see vpn.h). */
static bool vpn_no_state; /* -t: check, write nothing */

void
vpn_check_only(void)
{
	vpn_no_state = true;
}

/* -t: state_dir must be a directory; nothing is created in it. 0, or -1 with err. */
static int
vpn_check_state_dir(const char *dir, char *err, size_t cap)
{
	struct stat st;
	if (dir == NULL)
		return 0;
	if (stat(dir, &st) == -1) {
		snprintf(err, cap, "terminator.vpn.state_dir: %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, cap, "terminator.vpn.state_dir: %s: not a directory", dir);
		return -1;
	}
	return 0;
}

struct vpn *
vpn_build(const struct conf_vpn *cv, char *err, size_t cap)
{
	struct vpn *v = calloc(1, sizeof *v);
	if (v == NULL) {
		snprintf(err, cap, "vpn: out of memory");
		return NULL;
	}
	v->cv = cv;
	v->replay_window_s = (cv->replay_window_ms + 999) / 1000;
	if (vpn_load_keys(v, err, cap) == -1)
		goto fail;
	if ((v->list = calloc(1, sizeof *v->list)) == NULL) {
		snprintf(err, cap, "vpn: out of memory");
		goto fail;
	}
	v->list->refs = 1;
	v->list->open = cv->open;
	if (cv->clients != NULL) {
		char why[512];
		if (vallow_load(&v->list->allow, cv->clients, why, sizeof why) == -1) {
			snprintf(err, cap, "terminator.vpn.clients: %s", why);
			goto fail;
		}
	}
	pthread_mutex_lock(&vpn_list_mu);
	if (vpn_replay == NULL && vpn_no_state) {
		vpn_replay = vpn_check_state_dir(cv->state_dir, err, cap) == -1 ? NULL :
		    vreplay_open(VREPLAY_LIVE_DEFAULT, NULL, (uint64_t)time(NULL),
		    v->replay_window_s, err, cap);
	} else if (vpn_replay == NULL) {
		vpn_replay = vreplay_open(VREPLAY_LIVE_DEFAULT, cv->state_dir,
		    (uint64_t)time(NULL), v->replay_window_s, err, cap);
	} else if ((cv->state_dir == NULL) != (vreplay_dir(vpn_replay) == NULL) ||
	    (cv->state_dir != NULL && strcmp(cv->state_dir, vreplay_dir(vpn_replay)) != 0)) {
		log_write(LOG_LEVEL_WARN, "vpn: state_dir changes only at restart; the replay "
		    "cache stays in %s", vreplay_dir(vpn_replay) ? vreplay_dir(vpn_replay) :
		    "memory");
	}
	v->replay = vpn_replay;
	if (v->replay != NULL) {
		/* Publish: sessions of every generation now check keys against this list. */
		v->list->refs++;
		vpn_list_unref_locked(vpn_list_cur);
		vpn_list_cur = v->list;
		__atomic_add_fetch(&vpn_list_gen, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vpn_list_mu);
	if (v->replay == NULL)
		goto fail;
	for (unsigned p = VPN_WS; p < VPN_PATH_COUNT; p++) {
		char label[CONF_URL_PATH_MAX * 2 + 64], esc[CONF_URL_PATH_MAX * 2 + 32];
		char path[CONF_URL_PATH_MAX + 8];
		snprintf(path, sizeof path, "%s%s%s", cv->path, p == VPN_WS ? "" : "/",
		    p == VPN_WS ? "" : vpn_path_name(p));
		stats_escape(esc, sizeof esc, path);
		snprintf(label, sizeof label, "path=\"%s\"", esc);
		v->stats[p] = stats_entry(STATS_VPN, label);
	}
	/* /tun: the device and the leases, once per process (before the privilege drop:
	 * creating the device needs CAP_NET_ADMIN); `-t` only checks that it could. */
	if (cv->tun.enabled && vtun_open_process(cv, v->stats[VPN_TUN], vpn_no_state, err,
	    cap) == -1)
		goto fail;
	return v;
fail:
	vpn_free(v);
	return NULL;
}

/* Frees a generation's state. */
void
vpn_free(struct vpn *v)
{
	if (v == NULL)
		return;
	pthread_mutex_lock(&vpn_list_mu);
	vpn_list_unref_locked(v->list);
	pthread_mutex_unlock(&vpn_list_mu);
	rvpn_identity_wipe(&v->id);
	sodium_memzero(v->spk_priv, sizeof v->spk_priv);
	free(v);
}

/* Matches base, base/, base/<sub> and base/<sub>/... (query ignored). */
enum vpn_path
vpn_match(const struct vpn *v, const uint8_t *target, size_t len)
{
	const uint8_t *q = memchr(target, '?', len);
	if (q != NULL)
		len = (size_t)(q - target);
	size_t bl = strlen(v->cv->path);
	if (len < bl || memcmp(target, v->cv->path, bl) != 0)
		return VPN_NONE;
	const uint8_t *rest = target + bl;
	size_t rl = len - bl;
	if (rl == 0 || (rl == 1 && rest[0] == '/'))
		return VPN_WS;
	if (rest[0] != '/')
		return VPN_NONE;
	rest++;
	rl--;
	for (unsigned p = VPN_MUX; p < VPN_PATH_COUNT; p++) {
		const char *n = vpn_path_name(p);
		size_t nl = strlen(n);
		if (rl >= nl && memcmp(rest, n, nl) == 0 && (rl == nl || rest[nl] == '/'))
			return (enum vpn_path)p;
	}
	return VPN_NONE;
}

/* Path labels. */
const char *
vpn_path_name(enum vpn_path p)
{
	static const char *const names[VPN_PATH_COUNT] = { "none", "ws", "mux", "dns", "tun" };
	return (unsigned)p < VPN_PATH_COUNT ? names[p] : "none";
}

/* The publish counter. */
unsigned
vpn_list_epoch(void)
{
	return __atomic_load_n(&vpn_list_gen, __ATOMIC_ACQUIRE);
}

/* Looks a key up in the newest list (see vpn.h). */
bool
vpn_list_allows(const uint8_t key[32], char *name, size_t cap)
{
	bool ok = false;
	pthread_mutex_lock(&vpn_list_mu);
	if (vpn_list_cur != NULL) {
		const struct vallow_ent *e = vallow_find(&vpn_list_cur->allow, key);
		ok = e != NULL || vpn_list_cur->open;
		if (name != NULL && cap > 0)
			snprintf(name, cap, "%s", e != NULL ? e->name : "");
	}
	pthread_mutex_unlock(&vpn_list_mu);
	return ok;
}

/* Takes a session slot when fewer than max are open. */
bool
vpn_session_take(uint64_t max)
{
	uint64_t n = __atomic_add_fetch(&vpn_sessions, 1, __ATOMIC_ACQ_REL);
	if (n <= max)
		return true;
	__atomic_sub_fetch(&vpn_sessions, 1, __ATOMIC_ACQ_REL);
	return false;
}

/* Gives a session slot back. */
void
vpn_session_give(void)
{
	__atomic_sub_fetch(&vpn_sessions, 1, __ATOMIC_ACQ_REL);
}

/* Frees the process-wide state at exit. */
void
vpn_fini_process(void)
{
	pthread_mutex_lock(&vpn_list_mu);
	vpn_list_unref_locked(vpn_list_cur);
	vpn_list_cur = NULL;
	vreplay_free(vpn_replay);
	vpn_replay = NULL;
	pthread_mutex_unlock(&vpn_list_mu);
	vtun_fini_process(); /* the device goes with its descriptor */
}
