/*
 * The known-hosts pin store of switchyard-client (rvpn-protocol.md §4.3): a JSON object
 * {"host:port": "ik:1:<base32>", ...}, read with the bounded JSON cursor of
 * proto/rvpn/rvpn_json.c and rewritten whole (core/keyfile.c: a temporary file, then
 * rename, mode 0600) when a host is pinned for the first time. Entries we do not touch are
 * kept as they were. A file that is not such an object is an error, never overwritten.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "core/keyfile.h"
#include "proto/rvpn/rvpn_json.h"

#define KNOWN_KEY_MAX 300 /* "host:port" with a 255-byte host, bracketed */
#define KNOWN_PIN_MAX 128 /* a pin value: ik:1: (57 bytes) or the legacy hex forms */

/* One entry. */
struct known_entry {
	char   key[KNOWN_KEY_MAX + 1];
	char   pin[KNOWN_PIN_MAX + 1];
};

/* Reads the file into e (up to KNOWN_MAX_HOSTS). Returns the count, 0 when the file does
 * not exist, or -1 with err. */
static int
known_read(const char *path, struct known_entry *e, char *err, size_t errlen)
{
	char *text = malloc(KNOWN_MAX_FILE + 1);
	struct rvpn_json j;
	char key[RVPN_JSON_MAX_KEY + 1];
	bool first = true;
	int n = 0, rc = -1;
	long len;

	if (text == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	len = keyfile_read(path, text, KNOWN_MAX_FILE + 1, err, errlen);
	if (len == -1 && errno == ENOENT) {
		rc = 0;
		goto out;
	}
	if (len < 0)
		goto out;
	rvpn_json_init(&j, (const uint8_t *)text, (size_t)len);
	if (rvpn_json_obj_begin(&j) != 0)
		goto bad;
	for (;;) {
		size_t klen, plen;
		int more = rvpn_json_obj_next(&j, &first, key, &klen);
		if (more < 0)
			goto bad;
		if (more == 0)
			break;
		if (n >= KNOWN_MAX_HOSTS) {
			snprintf(err, errlen, "%s: over %d hosts", path, KNOWN_MAX_HOSTS);
			goto out;
		}
		/* The cursor keeps only RVPN_JSON_MAX_KEY bytes of a key: re-read the string
		 * whole from where it began. */
		if (klen > KNOWN_KEY_MAX)
			goto bad;
		if (klen > RVPN_JSON_MAX_KEY) {
			/* find the opening quote of this key, searching back from the ':' */
			size_t q = j.off;
			while (q > 0 && text[q - 1] != ':')
				q--;
			while (q > 0 && text[q - 1] != '"')
				q--; /* closing quote */
			q--;
			while (q > 0 && text[q - 1] != '"')
				q--; /* opening quote (keys of host:port hold no quote) */
			memcpy(e[n].key, text + q, klen);
		} else {
			memcpy(e[n].key, key, klen);
		}
		e[n].key[klen] = '\0';
		if (rvpn_json_string(&j, (uint8_t *)e[n].pin, KNOWN_PIN_MAX, &plen) != 0)
			goto bad;
		e[n].pin[plen] = '\0';
		n++;
	}
	if (rvpn_json_end(&j) != 0)
		goto bad;
	rc = n;
	goto out;
bad:
	snprintf(err, errlen, "%s: not a known-hosts file ({\"host:port\": \"ik:1:...\"})", path);
out:
	free(text);
	return rc;
}

int
known_lookup(const char *path, const char *host_port, char *pin, size_t cap, char *err,
    size_t errlen)
{
	struct known_entry *e = calloc(KNOWN_MAX_HOSTS, sizeof *e);
	int n, rc = 0;

	if (e == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	n = known_read(path, e, err, errlen);
	if (n < 0)
		rc = -1;
	for (int i = 0; i < n; i++) {
		if (strcmp(e[i].key, host_port) == 0 && strlen(e[i].pin) < cap) {
			memcpy(pin, e[i].pin, strlen(e[i].pin) + 1);
			rc = 1;
		}
	}
	free(e);
	return rc;
}

/* Appends s as a JSON string (keys and pins are printable ASCII without quotes). */
static void
known_put_str(struct rvpn_jw *w, const char *s)
{
	rvpn_jw_lit(w, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			rvpn_jw_lit(w, "\\");
		rvpn_jw_raw(w, s, 1);
	}
	rvpn_jw_lit(w, "\"");
}

int
known_add(const char *path, const char *host_port, const char *pin, char *err, size_t errlen)
{
	struct known_entry *e = calloc(KNOWN_MAX_HOSTS, sizeof *e);
	size_t cap = (size_t)KNOWN_MAX_HOSTS * (KNOWN_KEY_MAX + KNOWN_PIN_MAX + 16) + 16;
	char *out = malloc(cap);
	struct rvpn_jw w;
	int n, rc = -1;

	if (e == NULL || out == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	n = known_read(path, e, err, errlen);
	if (n < 0)
		goto out;
	if (n >= KNOWN_MAX_HOSTS) {
		snprintf(err, errlen, "%s: over %d hosts", path, KNOWN_MAX_HOSTS);
		goto out;
	}
	rvpn_jw_init(&w, out, cap);
	rvpn_jw_lit(&w, "{\n");
	for (int i = 0; i < n; i++) {
		if (strcmp(e[i].key, host_port) == 0)
			continue;
		rvpn_jw_lit(&w, "  ");
		known_put_str(&w, e[i].key);
		rvpn_jw_lit(&w, ": ");
		known_put_str(&w, e[i].pin);
		rvpn_jw_lit(&w, ",\n");
	}
	rvpn_jw_lit(&w, "  ");
	known_put_str(&w, host_port);
	rvpn_jw_lit(&w, ": ");
	known_put_str(&w, pin);
	rvpn_jw_lit(&w, "\n}\n");
	if (w.len >= cap) {
		snprintf(err, errlen, "%s: too large", path);
		goto out;
	}
	rc = keyfile_write(path, out, w.len, KEYFILE_MODE_SECRET, true, err, errlen);
out:
	free(e);
	free(out);
	return rc;
}
