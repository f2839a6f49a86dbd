/*
 * Test-only JSON reader for tests/unit/test_rvpn_vectors.c: parses the known-answer file
 * into a flat list of leaves named by path ("server.ed25519_seed", "message_keys_first3.
 * c2s[1]"), and remembers which leaves a test looked up, so the test can fail when a
 * vector was never checked. Deliberately independent of proto/rvpn/rvpn_json.c, which it
 * helps to test. Not for untrusted input: it aborts on anything unexpected.
 */
#ifndef SY_TESTS_VECJSON_H
#define SY_TESTS_VECJSON_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VJ_MAX_LEAVES 256
#define VJ_MAX_PATH   128
#define VJ_MAX_KEY    96  /* a member name; key + path stays under VJ_MAX_PATH * 2 */
#define VJ_MAX_VALUE  2048

enum vj_type { VJ_STRING, VJ_NUMBER, VJ_NULL, VJ_BOOL };

struct vj_leaf {
	char         path[VJ_MAX_PATH];
	enum vj_type type;
	char         value[VJ_MAX_VALUE]; /* decoded string, or the literal text */
	size_t       len;
	bool         checked;
};

static struct vj_leaf vj_leaves[VJ_MAX_LEAVES];
static size_t vj_count;
static const char *vj_p;

/* Stops the test: the vectors file is not what this reader expects. */
static void
vj_die(const char *why)
{
	fprintf(stderr, "vecjson: %s near \"%.20s\"\n", why, vj_p);
	exit(2);
}

/* Skips whitespace. */
static void
vj_ws(void)
{
	while (*vj_p == ' ' || *vj_p == '\n' || *vj_p == '\r' || *vj_p == '\t')
		vj_p++;
}

/* Reads a string into out (decoded). */
static size_t
vj_string(char *out, size_t cap)
{
	size_t n = 0;

	if (*vj_p++ != '"')
		vj_die("expected a string");
	while (*vj_p != '"') {
		char c = *vj_p++;
		if (c == '\0')
			vj_die("unterminated string");
		if (c == '\\') {
			c = *vj_p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case '"': case '\\': case '/': break;
			default: vj_die("unsupported escape");
			}
		}
		if (n + 1 >= cap)
			vj_die("string too long");
		out[n++] = c;
	}
	vj_p++;
	out[n] = '\0';
	return n;
}

/* Adds a leaf. */
static struct vj_leaf *
vj_add(const char *path, enum vj_type t)
{
	if (vj_count >= VJ_MAX_LEAVES)
		vj_die("too many leaves");
	struct vj_leaf *l = &vj_leaves[vj_count++];
	if (strlen(path) >= sizeof l->path)
		vj_die("path too long");
	memcpy(l->path, path, strlen(path) + 1);
	l->type = t;
	return l;
}

/* Parses one value at path. */
static void
vj_value(const char *path)
{
	char sub[2 * VJ_MAX_PATH + 16], key[VJ_MAX_KEY];
	struct vj_leaf *l;

	vj_ws();
	if (*vj_p == '{') {
		vj_p++;
		vj_ws();
		if (*vj_p == '}') {
			vj_p++;
			return;
		}
		for (;;) {
			vj_ws();
			vj_string(key, sizeof key);
			vj_ws();
			if (*vj_p++ != ':')
				vj_die("expected ':'");
			snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
			if (strlen(sub) >= VJ_MAX_PATH)
				vj_die("path too long");
			vj_value(sub);
			vj_ws();
			if (*vj_p == ',') {
				vj_p++;
				continue;
			}
			if (*vj_p++ != '}')
				vj_die("expected '}'");
			return;
		}
	}
	if (*vj_p == '[') {
		vj_p++;
		vj_ws();
		if (*vj_p == ']') {
			vj_p++;
			return;
		}
		for (int i = 0;; i++) {
			snprintf(sub, sizeof sub, "%s[%d]", path, i);
			vj_value(sub);
			vj_ws();
			if (*vj_p == ',') {
				vj_p++;
				continue;
			}
			if (*vj_p++ != ']')
				vj_die("expected ']'");
			return;
		}
	}
	if (*vj_p == '"') {
		l = vj_add(path, VJ_STRING);
		l->len = vj_string(l->value, sizeof l->value);
		return;
	}
	if (strncmp(vj_p, "null", 4) == 0) {
		vj_add(path, VJ_NULL);
		vj_p += 4;
		return;
	}
	if (strncmp(vj_p, "true", 4) == 0 || strncmp(vj_p, "false", 5) == 0) {
		l = vj_add(path, VJ_BOOL);
		l->len = *vj_p == 't' ? 4 : 5;
		memcpy(l->value, vj_p, l->len);
		vj_p += l->len;
		return;
	}
	l = vj_add(path, VJ_NUMBER);
	while ((*vj_p >= '0' && *vj_p <= '9') || *vj_p == '-' || *vj_p == '.' || *vj_p == 'e' ||
	    *vj_p == 'E' || *vj_p == '+') {
		if (l->len + 1 >= sizeof l->value)
			vj_die("number too long");
		l->value[l->len++] = *vj_p++;
	}
	if (l->len == 0)
		vj_die("unexpected value");
}

/* Loads and parses the file; exits when it cannot. */
static void
vj_load(const char *path)
{
	static char text[1 << 16];
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "vecjson: cannot open %s\n", path);
		exit(2);
	}
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	vj_p = text;
	vj_value("");
	vj_ws();
	if (*vj_p != '\0')
		vj_die("trailing text");
}

/* Finds a leaf by path and marks it checked; exits when there is none. */
static struct vj_leaf *
vj_get(const char *path)
{
	for (size_t i = 0; i < vj_count; i++) {
		if (strcmp(vj_leaves[i].path, path) == 0) {
			vj_leaves[i].checked = true;
			return &vj_leaves[i];
		}
	}
	fprintf(stderr, "vecjson: no leaf %s\n", path);
	exit(2);
}

/* Prints every leaf never looked up; returns how many. */
static unsigned
vj_unchecked(void)
{
	unsigned n = 0;
	for (size_t i = 0; i < vj_count; i++) {
		if (!vj_leaves[i].checked) {
			fprintf(stderr, "vector not checked: %s\n", vj_leaves[i].path);
			n++;
		}
	}
	return n;
}

#endif
