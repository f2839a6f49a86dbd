/*
 * Atomic writes and bounded reads of the VPN key files (see keyfile.h): the staging in a
 * mkstemp file beside the target, link(2) or rename(2) into place, and the identity file's
 * writer and reader over the codecs of proto/rvpn/rvpn_keys.h. Shared by the server's key
 * tools and switchyard-client, which must never diverge on these formats.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/keyfile.h"
#include "proto/rvpn/rvpn_keys.h"

#define KEYFILE_TMP_SUFFIX ".tmpXXXXXX"

/* Writes all of buf to fd; returns 0 or -1 (errno set). */
static int
keyfile_write_all(int fd, const char *buf, size_t len)
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

int
keyfile_stage(struct keyfile_stage *s, const char *path, const char *text, size_t len,
    mode_t mode, char *err, size_t errlen)
{
	int fd, n;

	s->staged = false;
	n = snprintf(s->tmp, sizeof s->tmp, "%s%s", path, KEYFILE_TMP_SUFFIX);
	if (n < 0 || (size_t)n >= sizeof s->tmp) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = mkstemp(s->tmp); /* 0600, O_EXCL */
	if (fd == -1) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if ((mode != 0600 && fchmod(fd, mode) == -1) || keyfile_write_all(fd, text, len) == -1 ||
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

void
keyfile_unstage(struct keyfile_stage *s)
{
	if (s->staged)
		unlink(s->tmp);
	s->staged = false;
}

int
keyfile_commit(struct keyfile_stage *s, const char *path, bool replace, char *err,
    size_t errlen)
{
	int e;

	if (replace) {
		if (rename(s->tmp, path) == 0) {
			s->staged = false;
			return 0;
		}
	} else if (link(s->tmp, path) == 0) {
		keyfile_unstage(s);
		return 0;
	}
	e = errno;
	if (e == EEXIST)
		snprintf(err, errlen, "%s exists; use --force to replace it", path);
	else
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
	keyfile_unstage(s);
	errno = e;
	return -1;
}

int
keyfile_write(const char *path, const char *text, size_t len, mode_t mode, bool replace,
    char *err, size_t errlen)
{
	struct keyfile_stage s = { .staged = false };

	if (keyfile_stage(&s, path, text, len, mode, err, errlen) == -1)
		return -1;
	return keyfile_commit(&s, path, replace, err, errlen);
}

int
keyfile_write_identity(const char *path, const uint8_t seed[32], bool force, char *err,
    size_t errlen)
{
	struct rvpn_identity id;
	char text[RVPN_IDENTITY_TEXT];
	int n, rc = -1;

	if (rvpn_identity_from_seed(&id, seed) != 0 ||
	    (n = rvpn_identity_format(text, sizeof text, &id)) < 0) {
		snprintf(err, errlen, "cannot derive the identity");
		goto out;
	}
	rc = keyfile_write(path, text, (size_t)n, KEYFILE_MODE_SECRET, force, err, errlen);
out:
	rvpn_identity_wipe(&id);
	sodium_memzero(text, sizeof text);
	return rc;
}

long
keyfile_read(const char *path, char *buf, size_t cap, char *err, size_t errlen)
{
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len >= cap) {
		snprintf(err, errlen, "%s: over %zu bytes", path, cap - 1);
		return -2;
	}
	buf[len] = '\0';
	return (long)len;
}

int
keyfile_read_identity(const char *prog, const char *path, uint8_t seed[32], char *err,
    size_t errlen)
{
	char text[RVPN_IDENTITY_MAX + 2];
	struct rvpn_identity id;
	struct stat st;
	long len;
	int rc = -1;

	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		fprintf(stderr, "%s: warning: %s is readable by others (mode %03o); "
		    "chmod 600 it\n", prog, path, (unsigned)(st.st_mode & 0777));
	len = keyfile_read(path, text, sizeof text, err, errlen);
	if (len == -1)
		goto out;
	if (len == -2 || len > RVPN_IDENTITY_MAX) {
		snprintf(err, errlen, "%s: not an identity file (over %d bytes)", path,
		    RVPN_IDENTITY_MAX);
		goto out;
	}
	if (rvpn_identity_parse(&id, text, (size_t)len) != 0) {
		snprintf(err, errlen, "%s: not an identity file (%s, then the base64 lines)", path,
		    RVPN_IDENTITY_MAGIC);
		goto out;
	}
	memcpy(seed, id.seed, 32);
	rvpn_identity_wipe(&id);
	rc = 0;
out:
	sodium_memzero(text, sizeof text);
	return rc;
}

void
keyfile_print_forms(FILE *f, const uint8_t seed[32])
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
