/*
 * Unit test of the key tools' file writers (router/keytool.c) against the known-answer
 * vectors: given the vectors' server seed, the identity file written is the vector's text
 * byte for byte and parses back to the same keys; given the seed and the vectors' SPK
 * private key, the bundle written holds exactly the vector's bundle_json members (read
 * back with the test's own JSON reader, field for field, no member more or less) and the
 * sidecar the vector's private_json. Also: modes 0600 / 0644, no overwrite without force
 * (the old file stays), and a bundle whose sidecar exists writes nothing.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vecjson.h"
#include "proto/rvpn/rvpn_keys.h"
#include "router/keytool.h"

static char dir[] = "/tmp/sy-keytool.XXXXXX";

/* Reads a whole small file into buf (NUL-terminated); returns its length or -1. */
static long
slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (long)n;
}

/* The permission bits of path, or -1. */
static int
mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* Decodes the hex vector leaf at path into out (n bytes). */
static void
in_hex(const char *path, uint8_t *out, size_t n)
{
	struct vj_leaf *l = vj_get(path);
	size_t got = 0;
	if (sodium_hex2bin(out, n, l->value, l->len, NULL, &got, NULL) != 0 || got != n) {
		fprintf(stderr, "%s: not %zu bytes of hex\n", path, n);
		exit(2);
	}
}

/* Leaves loaded from the file under test carry no prefix; checks one against the vector. */
static void
same_leaf(const char *ours, const char *vec)
{
	struct vj_leaf *a = vj_get(ours), *b = vj_get(vec);
	CHECKF(a->type == b->type && a->len == b->len && memcmp(a->value, b->value, a->len) == 0,
	    "%s: got %s want %s", ours, a->value, b->value);
}

/* The identity file: the vector text, mode 0600, parses back, refuses to be replaced. */
static void
test_identity(const uint8_t seed[32])
{
	char path[256], text[2048], err[512];
	struct rvpn_identity id;
	uint8_t other[32];
	long n;

	snprintf(path, sizeof path, "%s/id.key", dir);
	CHECK(keytool_write_identity(path, seed, false, err, sizeof err) == 0);
	CHECK(mode_of(path) == KEYTOOL_MODE_SECRET);
	n = slurp(path, text, sizeof text);
	struct vj_leaf *want = vj_get("server.identity_file");
	CHECKF(n == (long)want->len && memcmp(text, want->value, want->len) == 0,
	    "identity file: got %s", text);
	CHECK(rvpn_identity_parse(&id, text, (size_t)n) == 0);
	CHECK(memcmp(id.seed, seed, 32) == 0);
	rvpn_identity_wipe(&id);

	/* No --force: refused with EEXIST and a message; the file is untouched. */
	memset(other, 0x55, sizeof other);
	errno = 0;
	CHECK(keytool_write_identity(path, other, false, err, sizeof err) == -1);
	CHECK(errno == EEXIST);
	CHECK(strstr(err, "--force") != NULL);
	CHECK(slurp(path, text, sizeof text) == n && memcmp(text, want->value, want->len) == 0);
	/* --force replaces it, still 0600, and leaves no temporary behind. */
	CHECK(keytool_write_identity(path, other, true, err, sizeof err) == 0);
	CHECK(mode_of(path) == KEYTOOL_MODE_SECRET);
	n = slurp(path, text, sizeof text);
	CHECK(n > 0 && rvpn_identity_parse(&id, text, (size_t)n) == 0 &&
	    memcmp(id.seed, other, 32) == 0);
	rvpn_identity_wipe(&id);
	CHECK(unlink(path) == 0);
}

/* The bundle and its sidecar: the vector's members, modes, no half-written pair. */
static void
test_bundle(const uint8_t seed[32], const uint8_t spk_priv[32])
{
	static const char *const members[] = { "identity_key", "identity_x25519_key",
		"signed_prekey", "prekey_signature", "one_time_prekey", "identity_key_version",
		"rotation_signature" };
	char path[256], side[256], vec[128], text[4096], err[512];
	size_t before = vj_count;

	snprintf(path, sizeof path, "%s/bundle.json", dir);
	snprintf(side, sizeof side, "%s/bundle.private.json", dir);
	CHECK(keytool_write_bundle(path, seed, spk_priv, false, err, sizeof err) == 0);
	CHECK(mode_of(path) == KEYTOOL_MODE_PUBLIC);
	CHECK(mode_of(side) == KEYTOOL_MODE_SECRET);

	vj_load(path);
	CHECKF(vj_count - before == 7, "bundle has %zu members, want 7", vj_count - before);
	for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
		snprintf(vec, sizeof vec, "server.bundle_json.%s", members[i]);
		same_leaf(members[i], vec);
	}
	before = vj_count;
	vj_load(side);
	CHECK(vj_count - before == 1);
	same_leaf("signed_prekey_private", "server.private_json.signed_prekey_private");

	/* Both exist: refused, both unchanged. */
	long bn = slurp(path, text, sizeof text);
	uint8_t other[32];
	memset(other, 0x66, sizeof other);
	CHECK(keytool_write_bundle(path, other, other, false, err, sizeof err) == -1);
	char again[4096];
	CHECK(slurp(path, again, sizeof again) == bn && memcmp(text, again, (size_t)bn) == 0);

	/* Only the sidecar exists: refused, and no bundle is left behind. */
	CHECK(unlink(path) == 0);
	CHECK(keytool_write_bundle(path, other, other, false, err, sizeof err) == -1);
	CHECK(access(path, F_OK) == -1 && errno == ENOENT);
	CHECK(strstr(err, "private.json exists") != NULL);

	/* --force replaces both. */
	CHECK(keytool_write_bundle(path, seed, other, true, err, sizeof err) == 0);
	CHECK(mode_of(side) == KEYTOOL_MODE_SECRET && mode_of(path) == KEYTOOL_MODE_PUBLIC);
	CHECK(slurp(path, again, sizeof again) > 0 && strstr(again, "\"signed_prekey\"") != NULL);
	CHECK(unlink(path) == 0 && unlink(side) == 0);

	/* A directory that does not exist: an error with the path, nothing written. */
	snprintf(path, sizeof path, "%s/no/such/bundle.json", dir);
	CHECK(keytool_write_bundle(path, seed, spk_priv, false, err, sizeof err) == -1);
	CHECK(strstr(err, "no/such") != NULL);
}

int
main(int argc, char **argv)
{
	const char *vectors = argc > 1 ? argv[1] : SY_SOURCE_DIR "/../shared/rvpn-vectors.json";
	uint8_t seed[32], spk_priv[32];

	if (sodium_init() == -1 || mkdtemp(dir) == NULL)
		return 2;
	vj_load(vectors);
	in_hex("server.ed25519_seed", seed, 32);
	in_hex("server.spk_priv", spk_priv, 32);
	test_identity(seed);
	test_bundle(seed, spk_priv);
	rmdir(dir);
	(void)vj_unchecked; /* only the vectors test demands every leaf */
	return check_summary();
}
