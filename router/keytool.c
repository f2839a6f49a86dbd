/*
 * `switchyard keygen | pubkey | prekey-bundle`: the VPN key tools (rvpn-protocol.md §4).
 * keygen draws a 32-byte seed from libsodium and writes the identity file; pubkey prints
 * the public forms of one; prekey-bundle draws a signed prekey and writes the bundle that
 * clients import plus its private sidecar. Every file is written atomically through
 * core/keyfile.c (shared with switchyard-client): either the old file or the complete
 * new one, never a truncated secret; an existing one is replaced only under --force.
 * Seeds are wiped on every path. Nothing here logs: these run before the daemon's logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/keyfile.h"
#include "proto/rvpn/rvpn_keys.h"
#include "router/keytool.h"

const char keytool_help[] =
"\n"
"VPN key tools (formats of the r-vpn clients, rvpn-protocol.md §4):\n"
"  switchyard keygen -o FILE [--force]\n"
"                     Make a new identity (a random 32-byte seed) and write it to FILE\n"
"                     (mode 0600). Prints its public forms (below).\n"
"  switchyard pubkey --identity FILE\n"
"                     Print the public forms of an identity file.\n"
"  switchyard prekey-bundle --identity FILE -o BUNDLE.json [--force]\n"
"                     Make a new signed prekey for the identity and write the bundle\n"
"                     that clients import (BUNDLE.json, mode 0644, one_time_prekey null)\n"
"                     and its secret sidecar BUNDLE.private.json (mode 0600).\n"
"  Public forms, one \"name: value\" per line: x25519_hex, x25519_base64, x25519_ik\n"
"  (the identity as vpn.clients lists it: 64 hex digits, base64 or ik:<hex>),\n"
"  ed25519_base64, and pin (ik:1:..., what a client pins).\n"
"  An existing file is never replaced without --force (exit 1, nothing written).\n"
"  Exit status: 0 done; 1 failure (file exists, I/O, bad identity file); 2 bad usage.\n";

int
keytool_write_identity(const char *path, const uint8_t seed[32], bool force, char *err,
    size_t errlen)
{
	return keyfile_write_identity(path, seed, force, err, errlen);
}

int
keytool_write_bundle(const char *path, const uint8_t seed[32], const uint8_t spk_priv[32],
    bool force, char *err, size_t errlen)
{
	struct rvpn_identity id;
	struct rvpn_bundle b;
	struct keyfile_stage sb = { .staged = false }, sp = { .staged = false };
	char btext[RVPN_BUNDLE_TEXT], ptext[RVPN_BUNDLE_TEXT], side[KEYFILE_PATH_MAX];
	uint8_t spk_pub[32];
	int bn, pn, rc = -1;

	if (rvpn_sidecar_name(side, sizeof side, path) < 0) {
		snprintf(err, errlen, "%s: path too long", path);
		goto out;
	}
	if (rvpn_identity_from_seed(&id, seed) != 0 || crypto_scalarmult_base(spk_pub, spk_priv) != 0 ||
	    rvpn_bundle_make(&b, &id, spk_pub) != 0 ||
	    (bn = rvpn_bundle_format(btext, sizeof btext, &b)) < 0 ||
	    (pn = rvpn_private_format(ptext, sizeof ptext, spk_priv)) < 0) {
		snprintf(err, errlen, "cannot make the bundle");
		goto out;
	}
	if (keyfile_stage(&sp, side, ptext, (size_t)pn, KEYFILE_MODE_SECRET, err, errlen) == -1 ||
	    keyfile_stage(&sb, path, btext, (size_t)bn, KEYFILE_MODE_PUBLIC, err, errlen) == -1)
		goto out;
	/* The bundle first: if it exists, nothing is written. If the sidecar then exists
	 * (the bundle did not), the bundle just made is taken back: neither or both. */
	if (keyfile_commit(&sb, path, force, err, errlen) == -1)
		goto out;
	if (keyfile_commit(&sp, side, force, err, errlen) == -1) {
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	keyfile_unstage(&sb);
	keyfile_unstage(&sp);
	rvpn_identity_wipe(&id);
	sodium_memzero(ptext, sizeof ptext);
	return rc;
}

void
keytool_print_forms(FILE *f, const uint8_t seed[32])
{
	keyfile_print_forms(f, seed);
}

/* Reads and parses an identity file into seed. Returns 0 or -1 with a message. */
static int
keytool_read_identity(const char *path, uint8_t seed[32], char *err, size_t errlen)
{
	return keyfile_read_identity("switchyard", path, seed, err, errlen);
}

bool
keytool_is_command(const char *word)
{
	return strcmp(word, "keygen") == 0 || strcmp(word, "pubkey") == 0 ||
	    strcmp(word, "prekey-bundle") == 0;
}

/* Prints the usage error and returns the usage status. */
static int
keytool_usage(const char *cmd, const char *why)
{
	fprintf(stderr, "switchyard %s: %s\nTry 'switchyard --help' for more information.\n", cmd,
	    why);
	return KEYTOOL_EXIT_USAGE;
}

int
keytool_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "identity", required_argument, NULL, 'i' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = argv[0], *out = NULL, *identity = NULL;
	char err[KEYFILE_PATH_MAX + 128], side[KEYFILE_PATH_MAX];
	uint8_t seed[32], spk[32];
	bool force = false;
	int ch, rc = KEYTOOL_EXIT_FAIL;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:i:fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'i': identity = optarg; break;
		case 'f': force = true; break;
		case 'h': fputs(keytool_help, stdout); return KEYTOOL_EXIT_OK;
		default: return keytool_usage(cmd, "bad option");
		}
	}
	if (optind < argc)
		return keytool_usage(cmd, "unexpected argument");
	if (strcmp(cmd, "keygen") == 0) {
		if (out == NULL || identity != NULL)
			return keytool_usage(cmd, "takes -o FILE [--force]");
		randombytes_buf(seed, sizeof seed);
		if (keytool_write_identity(out, seed, force, err, sizeof err) == -1)
			goto fail;
		printf("identity: %s\n", out);
	} else if (strcmp(cmd, "pubkey") == 0) {
		if (identity == NULL || out != NULL || force)
			return keytool_usage(cmd, "takes --identity FILE");
		if (keytool_read_identity(identity, seed, err, sizeof err) == -1)
			goto fail;
	} else {
		if (identity == NULL || out == NULL)
			return keytool_usage(cmd, "takes --identity FILE -o BUNDLE.json [--force]");
		if (keytool_read_identity(identity, seed, err, sizeof err) == -1)
			goto fail;
		randombytes_buf(spk, sizeof spk);
		if (keytool_write_bundle(out, seed, spk, force, err, sizeof err) == -1)
			goto fail;
		rvpn_sidecar_name(side, sizeof side, out);
		printf("bundle: %s\nprivate: %s\n", out, side);
	}
	keytool_print_forms(stdout, seed);
	rc = KEYTOOL_EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "switchyard %s: %s\n", cmd, err);
out:
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(spk, sizeof spk);
	return rc;
}
