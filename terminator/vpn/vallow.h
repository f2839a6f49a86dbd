/*
 * The VPN client allow-list (`vpn.clients`, rvpn-protocol.md §12 #1): the X25519 identity
 * keys that may open a session, each with an optional name for the access log. One key per
 * line as 64 hex digits, padded base64 or ik:<64 hex>, then optionally whitespace and a
 * name; `#` starts a comment; blank lines are skipped. A bad line is an error naming
 * file:line. Built by the main thread at generation build (and on SIGHUP), immutable
 * afterwards, shared by every worker.
 */
#ifndef SY_TERMINATOR_VPN_VALLOW_H
#define SY_TERMINATOR_VPN_VALLOW_H

#include <stddef.h>
#include <stdint.h>

#define VALLOW_FILE_MAX (4u << 20) /* bytes of an allow-list file */
#define VALLOW_KEYS_MAX 100000     /* keys in one list */
#define VALLOW_NAME_MAX 64         /* bytes of a key's name */

struct vallow_ent {
	uint8_t key[32];
	char    name[VALLOW_NAME_MAX + 1]; /* "" when the line gives none */
	unsigned line;                     /* where it is listed */
};

struct vallow {
	struct vallow_ent *e;  /* sorted by key */
	size_t             n;
};

/*
 * Parses an allow-list (untrusted text of len bytes) into a; file names it in errors
 * ("file:line: why" in err). Returns 0, or -1 with a (left empty) and err set.
 */
int vallow_parse(struct vallow *a, const char *text, size_t len, const char *file, char *err,
    size_t cap);

/* Reads path (through core/privopen, so it works after the privilege drop) and parses it. */
int vallow_load(struct vallow *a, const char *path, char *err, size_t cap);

/* The entry of key, or NULL when it is not on the list. */
const struct vallow_ent *vallow_find(const struct vallow *a, const uint8_t key[32]);

/* Frees the entries (a itself belongs to the caller). */
void vallow_free(struct vallow *a);

#endif
