/*
 * Writing and reading the VPN's small key files, shared by `switchyard keygen |
 * prekey-bundle` (router/keytool.c) and `switchyard-client keygen` / its known-hosts file
 * (client/): a file is written to a fresh temporary name beside it (mkstemp: 0600 from the
 * first byte), synced, then put in place with link(2), which refuses an existing name
 * atomically, or rename(2) when replacing is wanted. So a file is either the old one or
 * the complete new one, never a truncated secret. Seeds are wiped on every path. Nothing
 * here logs; errors come back as text for the caller to print.
 */
#ifndef SY_CORE_KEYFILE_H
#define SY_CORE_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define KEYFILE_PATH_MAX   4096 /* a path plus the temporary suffix */
#define KEYFILE_MODE_SECRET 0600 /* identity file, bundle sidecar, known hosts */
#define KEYFILE_MODE_PUBLIC 0644 /* the bundle (handed to every user) */

/* A file staged under a temporary name, waiting to be put in place. */
struct keyfile_stage {
	char tmp[KEYFILE_PATH_MAX];
	bool staged;
};

/* Writes text into a new temporary file next to path with mode. Returns 0 or -1 (err). */
int keyfile_stage(struct keyfile_stage *s, const char *path, const char *text, size_t len,
    mode_t mode, char *err, size_t errlen);
/* Drops a staged file that will not be put in place. */
void keyfile_unstage(struct keyfile_stage *s);
/* Puts a staged file at path: link(2) refuses an existing path (replace false), rename(2)
 * replaces it. Returns 0 or -1 (the temporary is gone either way; errno kept). */
int keyfile_commit(struct keyfile_stage *s, const char *path, bool replace, char *err,
    size_t errlen);
/* Stages and commits in one step. Returns 0 or -1 with a message in err. */
int keyfile_write(const char *path, const char *text, size_t len, mode_t mode, bool replace,
    char *err, size_t errlen);

/*
 * Writes the identity file (3-line form) for seed at path, mode 0600. Without force an
 * existing path is refused (errno EEXIST). Returns 0, or -1 with a message in err.
 */
int keyfile_write_identity(const char *path, const uint8_t seed[32], bool force, char *err,
    size_t errlen);

/* Reads and parses an identity file into seed (a warning on stderr, prefixed with prog,
 * when others may read it). Returns 0 or -1 with a message in err. */
int keyfile_read_identity(const char *prog, const char *path, uint8_t seed[32], char *err,
    size_t errlen);

/* Reads a whole small file into buf (at most cap - 1 bytes, NUL added). Returns its
 * length, or -1 (missing, unreadable) or -2 (cap - 1 bytes or more) with a message in err. */
long keyfile_read(const char *path, char *buf, size_t cap, char *err, size_t errlen);

/* Prints the public forms of an identity, one "name: value" a line: x25519_hex,
 * x25519_base64, x25519_ik (what vpn.clients lists), ed25519_base64, pin (ik:1:...). */
void keyfile_print_forms(FILE *f, const uint8_t seed[32]);

#endif
