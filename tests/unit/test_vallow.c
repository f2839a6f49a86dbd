/*
 * terminator/vpn/vallow: the allow-list file format (the three key forms, names, comments,
 * blank and CRLF lines), each bad line reported with file:line, duplicates, the name
 * length and key count limits at N and N+1, and lookups.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/rvpn/rvpn_keys.h"
#include "terminator/vpn/vallow.h"

#define HEX_A "0101010101010101010101010101010101010101010101010101010101010101"
#define B64_B "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="  /* 32 x 0x02 */
#define IK_C  "ik:0303030303030303030303030303030303030303030303030303030303030303"

/* Parses text; returns 0/-1 and leaves the error in err. */
static int
parse(struct vallow *a, const char *text, char *err)
{
	err[0] = '\0';
	return vallow_parse(a, text, strlen(text), "clients.allow", err, 256);
}

/* Expects text to fail with exactly want. */
static void
bad(const char *text, const char *want)
{
	struct vallow a;
	char err[256];
	CHECKF(parse(&a, text, err) == -1 && strcmp(err, want) == 0, "got [%s] want [%s]", err,
	    want);
	CHECK(a.n == 0 && a.e == NULL);
}

static void
test_forms(void)
{
	struct vallow a;
	char err[256];
	uint8_t k[32];
	CHECK(parse(&a, "# clients\n\n" HEX_A "  alice laptop \r\n" B64_B "\tbob # phone\n"
	    "   " IK_C "\n# end", err) == 0);
	CHECK(a.n == 3);
	memset(k, 1, 32);
	const struct vallow_ent *e = vallow_find(&a, k);
	CHECK(e != NULL && strcmp(e->name, "alice laptop") == 0);
	memset(k, 2, 32);
	e = vallow_find(&a, k);
	CHECK(e != NULL && strcmp(e->name, "bob") == 0);
	memset(k, 3, 32);
	e = vallow_find(&a, k);
	CHECK(e != NULL && strcmp(e->name, "") == 0);
	memset(k, 4, 32);
	CHECK(vallow_find(&a, k) == NULL);
	vallow_free(&a);
	/* Upper-case hex, no final newline. */
	CHECK(parse(&a, "ik:ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB", err) == 0 &&
	    a.n == 1);
	vallow_free(&a);
	/* An empty list is valid (nobody gets in). */
	CHECK(parse(&a, "", err) == 0 && a.n == 0);
	memset(k, 1, 32);
	CHECK(vallow_find(&a, k) == NULL);
	vallow_free(&a);
}

static void
test_errors(void)
{
	bad("# ok\n" HEX_A "\nnot-a-key alice\n",
	    "clients.allow:3: not an X25519 identity key (64 hex digits, base64 or ik:<hex>)");
	bad(HEX_A "0\n", "clients.allow:1: not an X25519 identity key (64 hex digits, base64 or ik:<hex>)");
	bad("ik:" HEX_A "1\n", "clients.allow:1: not an X25519 identity key (64 hex digits, base64 or ik:<hex>)");
	bad(HEX_A " a\n\n" "ik:" HEX_A " b\n", "clients.allow:3: this key is already listed on line 1");
	bad(HEX_A " a\x01" "b\n", "clients.allow:1: the name may not hold control characters, `\"` or `\\`");
	bad(HEX_A " a\"b\n", "clients.allow:1: the name may not hold control characters, `\"` or `\\`");
	/* The name length at N and N+1. */
	char line[256];
	struct vallow a;
	char err[256];
	snprintf(line, sizeof line, "%s %.*s\n", HEX_A, VALLOW_NAME_MAX,
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn");
	CHECK(parse(&a, line, err) == 0 && a.n == 1 && strlen(a.e[0].name) == VALLOW_NAME_MAX);
	vallow_free(&a);
	snprintf(line, sizeof line, "%s %.*s\n", HEX_A, VALLOW_NAME_MAX + 1,
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn");
	bad(line, "clients.allow:1: the name is longer than 64 bytes");
	/* A NUL inside the text. */
	CHECK(vallow_parse(&a, HEX_A "\0x\n", 67, "f", err, sizeof err) == -1 &&
	    strcmp(err, "f:1: a NUL byte") == 0);
}

/* VALLOW_KEYS_MAX keys load; one more is refused on its line. */
static void
test_count(void)
{
	size_t n = VALLOW_KEYS_MAX + 1, ll = 65;
	char *text = malloc(n * ll + 1);
	if (text == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		uint8_t k[32] = { 0 };
		memcpy(k, &i, sizeof i);
		char ik[RVPN_IK_HEX_LEN + 1];
		rvpn_ik_format(ik, k);
		memcpy(text + i * ll, ik + 3, 64);
		text[i * ll + 64] = '\n';
	}
	struct vallow a;
	char err[256];
	CHECK(vallow_parse(&a, text, (n - 1) * ll, "f", err, sizeof err) == 0 &&
	    a.n == VALLOW_KEYS_MAX);
	vallow_free(&a);
	CHECK(vallow_parse(&a, text, n * ll, "f", err, sizeof err) == -1 &&
	    strcmp(err, "f:100001: more than 100000 keys") == 0);
	free(text);
}

/* Loading a file that is not there names it. */
static void
test_load(void)
{
	struct vallow a;
	char err[256];
	CHECK(vallow_load(&a, "/nonexistent/clients.allow", err, sizeof err) == -1 &&
	    strcmp(err, "/nonexistent/clients.allow: No such file or directory") == 0);
}

int
main(void)
{
	test_forms();
	test_errors();
	test_count();
	test_load();
	return check_summary();
}
