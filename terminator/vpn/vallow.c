/*
 * The VPN client allow-list (see vallow.h): a line scanner over the whole file, key forms
 * decoded by proto/rvpn_keys, then a sort so lookups on the handshake path are a binary
 * search. A key listed twice is an error: two names for one key would make the access log
 * lie about who connected.
 */
#include "terminator/vpn/vallow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/privopen.h"
#include "proto/rvpn/rvpn_keys.h"

/* Orders entries by key. */
static int
vallow_cmp(const void *a, const void *b)
{
	return memcmp(((const struct vallow_ent *)a)->key, ((const struct vallow_ent *)b)->key, 32);
}

/* True for the blanks that separate a key from its name. */
static int
vallow_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Parses one allow-list (see vallow.h). */
int
vallow_parse(struct vallow *a, const char *text, size_t len, const char *file, char *err,
    size_t cap)
{
	a->e = NULL;
	a->n = 0;
	size_t room = 0;
	unsigned line = 0;
	size_t pos = 0;
	while (pos < len) {
		line++;
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - s) : len - pos;
		pos += ll + (nl != NULL);
		const char *hash = memchr(s, '#', ll);
		if (hash != NULL)
			ll = (size_t)(hash - s);
		size_t i = 0;
		while (i < ll && vallow_blank(s[i]))
			i++;
		if (i == ll)
			continue; /* blank or comment */
		size_t k0 = i;
		while (i < ll && !vallow_blank(s[i]))
			i++;
		size_t k1 = i;
		while (i < ll && vallow_blank(s[i]))
			i++;
		size_t n1 = ll;
		while (n1 > i && vallow_blank(s[n1 - 1]))
			n1--;
		if (memchr(s, '\0', ll) != NULL) {
			snprintf(err, cap, "%s:%u: a NUL byte", file, line);
			goto fail;
		}
		if (n1 - i > VALLOW_NAME_MAX) {
			snprintf(err, cap, "%s:%u: the name is longer than %d bytes", file, line,
			    VALLOW_NAME_MAX);
			goto fail;
		}
		if (a->n == VALLOW_KEYS_MAX) {
			snprintf(err, cap, "%s:%u: more than %d keys", file, line, VALLOW_KEYS_MAX);
			goto fail;
		}
		if (a->n == room) {
			size_t nr = room ? room * 2 : 16;
			struct vallow_ent *ne = realloc(a->e, nr * sizeof *ne);
			if (ne == NULL) {
				snprintf(err, cap, "%s: out of memory", file);
				goto fail;
			}
			a->e = ne;
			room = nr;
		}
		struct vallow_ent *e = &a->e[a->n];
		if (rvpn_ik_parse(e->key, s + k0, k1 - k0) == -1) {
			snprintf(err, cap, "%s:%u: not an X25519 identity key (64 hex digits, "
			    "base64 or ik:<hex>)", file, line);
			goto fail;
		}
		memcpy(e->name, s + i, n1 - i);
		e->name[n1 - i] = '\0';
		for (size_t j = 0; j < n1 - i; j++) {
			unsigned char c = (unsigned char)e->name[j];
			if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
				/* The name goes into log lines (text and JSON) verbatim. */
				snprintf(err, cap, "%s:%u: the name may not hold control characters, "
				    "`\"` or `\\`", file, line);
				goto fail;
			}
		}
		e->line = line; /* duplicates are found on the sorted array below */
		a->n++;
	}
	if (a->n > 0)
		qsort(a->e, a->n, sizeof *a->e, vallow_cmp); /* never qsort(NULL, 0): UB */
	for (size_t j = 1; j < a->n; j++) {
		if (memcmp(a->e[j - 1].key, a->e[j].key, 32) == 0) {
			unsigned l1 = a->e[j - 1].line, l2 = a->e[j].line;
			snprintf(err, cap, "%s:%u: this key is already listed on line %u", file,
			    l1 > l2 ? l1 : l2, l1 > l2 ? l2 : l1);
			goto fail;
		}
	}
	return 0;
fail:
	vallow_free(a);
	return -1;
}

/* Reads and parses a file (see vallow.h). */
int
vallow_load(struct vallow *a, const char *path, char *err, size_t cap)
{
	a->e = NULL;
	a->n = 0;
	FILE *f = privopen_fopen(path);
	if (f == NULL) {
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = malloc(VALLOW_FILE_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, cap, "%s: out of memory", path);
		return -1;
	}
	size_t n = fread(buf, 1, VALLOW_FILE_MAX + 1, f);
	int bad = ferror(f);
	fclose(f);
	int rc = -1;
	if (bad)
		snprintf(err, cap, "%s: read error", path);
	else if (n > VALLOW_FILE_MAX)
		snprintf(err, cap, "%s: larger than %u bytes", path, VALLOW_FILE_MAX);
	else
		rc = vallow_parse(a, buf, n, path, err, cap);
	free(buf);
	return rc;
}

/* Binary search by key. */
const struct vallow_ent *
vallow_find(const struct vallow *a, const uint8_t key[32])
{
	struct vallow_ent k;
	memcpy(k.key, key, 32);
	return a->n == 0 ? NULL : bsearch(&k, a->e, a->n, sizeof *a->e, vallow_cmp);
}

/* Frees the entries. */
void
vallow_free(struct vallow *a)
{
	free(a->e);
	a->e = NULL;
	a->n = 0;
}
