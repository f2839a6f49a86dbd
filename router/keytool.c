/*
 * `switchyard keygen | pubkey | prekey-bundle`: the VPN key tools (rvpn-protocol.md §4).
 * keygen draws a 32-byte seed from libsodium and writes the identity file; pubkey prints
 * the public forms of one; prekey-bundle draws a signed prekey and writes the bundle that
 * clients import plus its private sidecar. Every file is written to a fresh temporary
 * name in the same directory (mkstemp: 0600 from the first byte) and then put in place
 * with link(2), which refuses an existing name atomically, or rename(2) under --force, so
 * a file is either the old one or the complete new one, never a truncated secret. Seeds
 * are wiped on every path. Nothing here logs: these run before the daemon's logging.
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

#include "proto/rvpn/rvpn_keys.h"
#include "router/keytool.h"

#define KEYTOOL_PATH_MAX 4096 /* a path plus the temporary suffix */
#define KEYTOOL_TMP_SUFFIX ".tmpXXXXXX"

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

/* A file staged under a temporary name, waiting to be put in place. */
struct keytool_stage {
	char tmp[KEYTOOL_PATH_MAX];
	bool staged;
};

/* Writes all of buf to fd; returns 0 or -1 (errno set). */
static int
keytool_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes text into a new temporary file next to path with mode. Returns 0 or -1. */
static int
keytool_stage(struct keytool_stage *s, const char *path, const char *text, size_t len,
    mode_t mode, char *err, size_t errlen)
{
	int fd, n;

	s->staged = false;
	n = snprintf(s->tmp, sizeof s->tmp, "%s%s", path, KEYTOOL_TMP_SUFFIX);
	if (n < 0 || (size_t)n >= sizeof s->tmp) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = mkstemp(s->tmp); /* 0600, O_EXCL */
	if (fd == -1) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if ((mode != 0600 && fchmod(fd, mode) == -1) || keytool_write_all(fd, text, len) == -1 ||
	    fsync(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	s->staged = true;
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(s->tmp);
	return -1;
}

/* Drops a staged file that will not be put in place. */
static void
keytool_unstage(struct keytool_stage *s)
{
	if (s->staged)
		unlink(s->tmp);
	s->staged = false;
}

/* Puts a staged file at path: link(2) refuses an existing path (no --force), rename(2)
 * replaces it. Returns 0 or -1 (the temporary is gone either way; errno kept). */
static int
keytool_commit(struct keytool_stage *s, const char *path, bool force, char *err, size_t errlen)
{
	int e;

	if (force) {
		if (rename(s->tmp, path) == 0) {
			s->staged = false;
			return 0;
		}
	} else if (link(s->tmp, path) == 0) {
		keytool_unstage(s);
		return 0;
	}
	e = errno;
	if (e == EEXIST)
		snprintf(err, errlen, "%s exists; use --force to replace it", path);
	else
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
	keytool_unstage(s);
	errno = e;
	return -1;
}

int
keytool_write_identity(const char *path, const uint8_t seed[32], bool force, char *err,
    size_t errlen)
{
	struct rvpn_identity id;
	struct keytool_stage s = { .staged = false };
	char text[RVPN_IDENTITY_TEXT];
	int n, rc = -1;

	if (rvpn_identity_from_seed(&id, seed) != 0 ||
	    (n = rvpn_identity_format(text, sizeof text, &id)) < 0) {
		snprintf(err, errlen, "cannot derive the identity");
		goto out;
	}
	if (keytool_stage(&s, path, text, (size_t)n, KEYTOOL_MODE_SECRET, err, errlen) == -1)
		goto out;
	rc = keytool_commit(&s, path, force, err, errlen);
out:
	rvpn_identity_wipe(&id);
	sodium_memzero(text, sizeof text);
	return rc;
}

int
keytool_write_bundle(const char *path, const uint8_t seed[32], const uint8_t spk_priv[32],
    bool force, char *err, size_t errlen)
{
	struct rvpn_identity id;
	struct rvpn_bundle b;
	struct keytool_stage sb = { .staged = false }, sp = { .staged = false };
	char btext[RVPN_BUNDLE_TEXT], ptext[RVPN_BUNDLE_TEXT], side[KEYTOOL_PATH_MAX];
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
	if (keytool_stage(&sp, side, ptext, (size_t)pn, KEYTOOL_MODE_SECRET, err, errlen) == -1 ||
	    keytool_stage(&sb, path, btext, (size_t)bn, KEYTOOL_MODE_PUBLIC, err, errlen) == -1)
		goto out;
	/* The bundle first: if it exists, nothing is written. If the sidecar then exists
	 * (the bundle did not), the bundle just made is taken back: neither or both. */
	if (keytool_commit(&sb, path, force, err, errlen) == -1)
		goto out;
	if (keytool_commit(&sp, side, force, err, errlen) == -1) {
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	keytool_unstage(&sb);
	keytool_unstage(&sp);
	rvpn_identity_wipe(&id);
	sodium_memzero(ptext, sizeof ptext);
	return rc;
}

void
keytool_print_forms(FILE *f, const uint8_t seed[32])
{
	struct rvpn_identity id;
	char hex[65], b64[RVPN_B64_32 + 1], ik[RVPN_IK_HEX_LEN + 1], pin[RVPN_PIN_LEN + 1];

	if (rvpn_identity_from_seed(&id, seed) != 0)
		return;
	sodium_bin2hex(hex, sizeof hex, id.x_pub, 32);
	rvpn_b64_encode(b64, sizeof b64, id.x_pub, 32);
	rvpn_ik_format(ik, id.x_pub);
	fprintf(f, "x25519_hex: %s\nx25519_base64: %s\nx25519_ik: %s\n", hex, b64, ik);
	rvpn_b64_encode(b64, sizeof b64, id.ed_pub, 32);
	rvpn_pin_format(pin, id.ed_pub);
	fprintf(f, "ed25519_base64: %s\npin: %s\n", b64, pin);
	rvpn_identity_wipe(&id);
}

/* Reads and parses an identity file into seed. Returns 0 or -1 with a message. */
static int
keytool_read_identity(const char *path, uint8_t seed[32], char *err, size_t errlen)
{
	char text[RVPN_IDENTITY_MAX + 1];
	struct rvpn_identity id;
	struct stat st;
	size_t len = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		fprintf(stderr, "switchyard: warning: %s is readable by others (mode %03o); "
		    "chmod 600 it\n", path, (unsigned)(st.st_mode & 0777));
	while (len < sizeof text) {
		ssize_t n = read(fd, text + len, sizeof text - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > RVPN_IDENTITY_MAX) {
		snprintf(err, errlen, "%s: not an identity file (over %d bytes)", path,
		    RVPN_IDENTITY_MAX);
		goto out;
	}
	if (rvpn_identity_parse(&id, text, len) != 0) {
		snprintf(err, errlen, "%s: not an identity file (%s, then the base64 lines)", path,
		    RVPN_IDENTITY_MAGIC);
		goto out;
	}
	memcpy(seed, id.seed, 32);
	rvpn_identity_wipe(&id);
	rc = 0;
out:
	close(fd);
	sodium_memzero(text, sizeof text);
	return rc;
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
	char err[KEYTOOL_PATH_MAX + 128], side[KEYTOOL_PATH_MAX];
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
