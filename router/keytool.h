/*
 * The VPN key tools of the command line: `switchyard keygen`, `pubkey` and
 * `prekey-bundle` (rvpn-protocol.md §4). They write the identity file, the prekey bundle
 * and its private sidecar in exactly the formats the stock r-vpn clients import, through
 * the codecs of proto/rvpn/rvpn_keys.h. The file writers take the seeds as arguments (the
 * command line draws them from libsodium) so the known-answer vectors can drive them.
 * A file is never overwritten without `--force`, and a secret file is never readable by
 * anyone but its owner, not even for an instant (it is created 0600, then renamed).
 */
#ifndef SY_ROUTER_KEYTOOL_H
#define SY_ROUTER_KEYTOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses of the subcommands, as main's: 0 ok, 1 failure (an existing file
 * without --force, I/O, a bad identity file), 2 bad usage. */
enum { KEYTOOL_EXIT_OK = 0, KEYTOOL_EXIT_FAIL = 1, KEYTOOL_EXIT_USAGE = 2 };

#define KEYTOOL_MODE_SECRET 0600 /* identity file and bundle sidecar */
#define KEYTOOL_MODE_PUBLIC 0644 /* the bundle (handed to every user) */

/* The --help text of the subcommands (main prints it after its own). */
extern const char keytool_help[];

/* True when word names a key-tool subcommand (argv[1] of the process). */
bool keytool_is_command(const char *word);

/* Runs a subcommand: argv[0] is its name. Returns a KEYTOOL_EXIT_* status. */
int keytool_main(int argc, char **argv);

/*
 * Writes the identity file (3-line form) for seed at path, mode 0600. Without force an
 * existing path is refused (errno EEXIST). Returns 0, or -1 with a message in err.
 */
int keytool_write_identity(const char *path, const uint8_t seed[32], bool force, char *err,
    size_t errlen);

/*
 * Writes the prekey bundle of the identity seed with the SPK private key spk_priv at
 * path (mode 0644) and its sidecar (rvpn_sidecar_name, mode 0600). Without force, when
 * either exists, neither is written. Returns 0, or -1 with a message in err.
 */
int keytool_write_bundle(const char *path, const uint8_t seed[32], const uint8_t spk_priv[32],
    bool force, char *err, size_t errlen);

/* Prints the public forms of an identity (X25519 hex, base64, ik:, Ed25519, the pin). */
void keytool_print_forms(FILE *f, const uint8_t seed[32]);

#endif
