/*
 * Unit tests for the terminator's build step (terminator/term.c, ticket.c): certificates
 * chosen by SNI from their SAN names (exact, one-label wildcard, case, the CN when there is no
 * SAN, the first certificate as default), an RSA and an ECDSA certificate for one name in one
 * context, the exact error messages for a missing file, a key that does not match and a file
 * that is not PEM, the ephemeral self-signed certificate (names, issuer, key type) when none is
 * configured, no TLS at all when nothing terminates, TERM_NAMES_MAX and TERM_CERTS_MAX at N
 * and N+1, and ticket key derivation per period with its acceptance window.
 * Certificates are made here with OpenSSL into a temporary directory.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "selfsign.h"
#include "core/conf.h"
#include "terminator/term_int.h"
#include "terminator/ticket.h"

static char dir[] = "/tmp/sy-term.XXXXXX";

/* Writes a self-signed certificate for cn with the comma-separated SANs (NULL: none). */
static void
make_cert(const char *name, const char *cn, const char *sans, bool rsa)
{
	EVP_PKEY *k;
	X509 *x;
	selfsign_make(cn, sans, rsa, &k, &x);
	char path[256];
	snprintf(path, sizeof path, "%s/%s.crt", dir, name);
	FILE *f = fopen(path, "w");
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(path, sizeof path, "%s/%s.key", dir, name);
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* Loads a configuration from text; aborts the test run when it does not load. */
static struct conf *
load(const char *yaml)
{
	struct conf_error err;
	struct conf *c = conf_load_mem("/tmp/t.yaml", (const uint8_t *)yaml, strlen(yaml), 0, &err);
	if (c == NULL) {
		fprintf(stderr, "config: %s\n", err.msg);
		abort();
	}
	return c;
}

/* The CNs of every certificate in ctx, sorted by how OpenSSL keeps them, comma-joined. */
static void
ctx_cns(SSL_CTX *ctx, char *out, size_t cap)
{
	out[0] = '\0';
	size_t used = 0;
	if (ctx == NULL)
		return;
	int rc = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
	while (rc == 1) {
		X509 *x = SSL_CTX_get0_certificate(ctx);
		char cn[64] = "";
		if (x != NULL)
			X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
		int n = snprintf(out + used, cap - used, "%s%s", used ? "," : "", cn);
		if (n > 0 && (size_t)n < cap - used)
			used += (size_t)n;
		rc = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT);
	}
}

#define L_TERM "listeners:\n  - name: a\n    listen: 127.0.0.1:1\n    kind: tls\n" \
	"    routes: [{sni: [v.test, \"*.w.test\"], terminate: true}, {default: {terminate: true}}]\n"

static void
check_selection(void)
{
	char y[4096], got[256], err[512];
	make_cert("a_ec", "a-ec", "DNS:a.test,DNS:*.w.test", false);
	make_cert("a_rsa", "a-rsa", "DNS:a.test", true);
	make_cert("b_ec", "b-ec", "DNS:b.test,DNS:Mixed.Test", false);
	make_cert("cn", "cn.test", NULL, false);
	snprintf(y, sizeof y, L_TERM "terminator:\n  certificates:\n"
	    "    - {cert: %s/a_ec.crt, key: %s/a_ec.key}\n"
	    "    - {cert: %s/a_rsa.crt, key: %s/a_rsa.key}\n"
	    "    - {cert: %s/b_ec.crt, key: %s/b_ec.key}\n"
	    "    - {cert: %s/cn.crt, key: %s/cn.key}\n", dir, dir, dir, dir, dir, dir, dir, dir);
	struct conf *c = load(y);
	struct term *t = term_build(c, err, sizeof err);
	CHECKF(t != NULL, "term_build: %s", err);
	if (t == NULL)
		return;
	CHECK(!t->ephemeral);
	ctx_cns(term_ctx_for(t, "a.test"), got, sizeof got);
	CHECKF(strstr(got, "a-ec") && strstr(got, "a-rsa") && !strstr(got, "b-ec"), "a.test: %s", got);
	ctx_cns(term_ctx_for(t, "x.w.test"), got, sizeof got);
	CHECKF(strcmp(got, "a-ec") == 0, "x.w.test: %s", got);
	ctx_cns(term_ctx_for(t, "y.x.w.test"), got, sizeof got); /* two labels: no wildcard */
	CHECKF(strstr(got, "a-ec") && strstr(got, "a-rsa"), "y.x.w.test (default): %s", got);
	ctx_cns(term_ctx_for(t, "w.test"), got, sizeof got); /* the wildcard needs one label */
	CHECKF(strstr(got, "a-rsa") != NULL, "w.test (default): %s", got);
	ctx_cns(term_ctx_for(t, "b.test"), got, sizeof got);
	CHECKF(strcmp(got, "b-ec") == 0, "b.test: %s", got);
	ctx_cns(term_ctx_for(t, "mixed.test"), got, sizeof got);
	CHECKF(strcmp(got, "b-ec") == 0, "mixed.test (SAN in mixed case): %s", got);
	ctx_cns(term_ctx_for(t, "cn.test"), got, sizeof got);
	CHECKF(strcmp(got, "cn.test") == 0, "cn.test (CN, no SAN): %s", got);
	ctx_cns(term_ctx_for(t, NULL), got, sizeof got);
	CHECKF(strstr(got, "a-ec") && strstr(got, "a-rsa"), "no SNI (default): %s", got);
	CHECK(term_ctx_for(t, "a.test") == term_ctx_for(t, NULL)); /* one context per set */
	CHECK(t->nctxs == 4); /* {a-ec,a-rsa}, {a-ec}, {b-ec}, {cn} */
	term_free(t);
	conf_free(c);
}

static void
check_errors(void)
{
	char y[4096], err[512], want[1024];
	struct conf *c;
	snprintf(y, sizeof y, L_TERM "terminator:\n  certificates: [{cert: %s/none.crt, key: %s/a_ec.key}]\n",
	    dir, dir);
	c = load(y);
	CHECK(term_build(c, err, sizeof err) == NULL);
	snprintf(want, sizeof want, "terminator.certificates[0].cert: %s/none.crt: No such file or directory", dir);
	CHECKF(strcmp(err, want) == 0, "missing cert: %s", err);
	conf_free(c);

	snprintf(y, sizeof y, L_TERM "terminator:\n  certificates: [{cert: %s/a_ec.crt, key: %s/none.key}]\n",
	    dir, dir);
	c = load(y);
	CHECK(term_build(c, err, sizeof err) == NULL);
	snprintf(want, sizeof want, "terminator.certificates[0].key: %s/none.key: No such file or directory", dir);
	CHECKF(strcmp(err, want) == 0, "missing key: %s", err);
	conf_free(c);

	snprintf(y, sizeof y, L_TERM "terminator:\n  certificates: [{cert: %s/a_ec.crt, key: %s/b_ec.key}]\n",
	    dir, dir);
	c = load(y);
	CHECK(term_build(c, err, sizeof err) == NULL);
	snprintf(want, sizeof want, "terminator.certificates[0]: the key %s/b_ec.key does not match "
	    "the certificate %s/a_ec.crt", dir, dir);
	CHECKF(strcmp(err, want) == 0, "mismatch: %s", err);
	conf_free(c);

	char junk[300];
	snprintf(junk, sizeof junk, "%s/junk.crt", dir);
	FILE *f = fopen(junk, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	snprintf(y, sizeof y, L_TERM "terminator:\n  certificates: [{cert: %s, key: %s/a_ec.key}]\n",
	    junk, dir);
	c = load(y);
	CHECK(term_build(c, err, sizeof err) == NULL);
	snprintf(want, sizeof want, "terminator.certificates[0].cert: %s: ", junk);
	CHECKF(strncmp(err, want, strlen(want)) == 0, "not PEM: %s", err);
	conf_free(c);

	snprintf(y, sizeof y, L_TERM "terminator:\n  site: {root: %s/nowhere}\n", dir);
	c = load(y);
	CHECK(term_build(c, err, sizeof err) == NULL);
	CHECKF(strstr(err, "terminator.site.root") != NULL, "missing root: %s", err);
	conf_free(c);
}

/* True when the certificate's SAN list holds name. */
static bool
san_has(X509 *x, const char *name)
{
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	bool found = false;
	for (int i = 0; g != NULL && i < sk_GENERAL_NAME_num(g); i++) {
		GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
		if (n->type == GEN_DNS && (size_t)ASN1_STRING_length(n->d.dNSName) == strlen(name) &&
		    memcmp(ASN1_STRING_get0_data(n->d.dNSName), name, strlen(name)) == 0)
			found = true;
	}
	GENERAL_NAMES_free(g);
	return found;
}

static void
check_ephemeral(void)
{
	char err[512];
	struct conf *c = load(L_TERM);
	struct term *t = term_build(c, err, sizeof err);
	CHECKF(t != NULL, "ephemeral: %s", err);
	if (t != NULL) {
		CHECK(t->ephemeral && t->nctxs == 1);
		SSL_CTX *ctx = term_ctx_for(t, "v.test");
		CHECK(ctx != NULL && ctx == term_ctx_for(t, NULL));
		X509 *x = ctx != NULL ? SSL_CTX_get0_certificate(ctx) : NULL;
		CHECK(x != NULL);
		if (x != NULL) {
			CHECK(san_has(x, "v.test") && san_has(x, "*.w.test") && !san_has(x, "localhost"));
			CHECK(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0);
			CHECK(EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_EC);
			CHECK(X509_verify(x, X509_get0_pubkey(x)) == 1);
		}
		term_free(t);
	}
	conf_free(c);

	/* Only a default route terminates: no name to use, so localhost. */
	c = load("listeners:\n  - name: a\n    listen: 127.0.0.1:1\n    kind: tls\n"
	    "    routes: [{default: {terminate: true}}]\n");
	t = term_build(c, err, sizeof err);
	CHECK(t != NULL);
	if (t != NULL) {
		X509 *x = SSL_CTX_get0_certificate(term_ctx_for(t, NULL));
		CHECK(x != NULL && san_has(x, "localhost"));
		term_free(t);
	}
	conf_free(c);

	/* Nothing terminates and no certificate: no TLS context at all. */
	c = load("listeners:\n  - name: a\n    listen: 127.0.0.1:1\n    kind: tls\n"
	    "    routes: [{default: {reject: true}}]\n");
	t = term_build(c, err, sizeof err);
	CHECK(t != NULL && t->nctxs == 0 && term_ctx_for(t, "x.test") == NULL);
	term_free(t);
	conf_free(c);
}

/* A certificate with n SAN names nNNNNN.t. */
static void
make_many(const char *name, size_t n)
{
	size_t cap = n * 16 + 1, used = 0;
	char *sans = malloc(cap);
	if (sans == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(sans + used, cap - used, "%sDNS:n%zu.t", i ? "," : "", i);
	make_cert(name, "many", sans, false);
	free(sans);
}

/* TERM_NAMES_MAX and TERM_CERTS_MAX at N and N+1. */
static void
check_limits(void)
{
	char y[512], err[512];
	struct conf *c;
	struct term *t;

	make_many("names_n", TERM_NAMES_MAX);
	snprintf(y, sizeof y, L_TERM "terminator:\n  certificates: [{cert: %s/names_n.crt, key: %s/names_n.key}]\n",
	    dir, dir);
	c = load(y);
	t = term_build(c, err, sizeof err);
	CHECKF(t != NULL && t->nnames == TERM_NAMES_MAX, "%u names: %s", TERM_NAMES_MAX, t ? "" : err);
	if (t != NULL) {
		char want[32];
		snprintf(want, sizeof want, "n%u.t", TERM_NAMES_MAX - 1);
		CHECK(term_ctx_for(t, want) == t->ctxs[0]);
	}
	term_free(t);
	conf_free(c);

	make_many("names_n1", TERM_NAMES_MAX + 1);
	snprintf(y, sizeof y, L_TERM "terminator:\n  certificates: [{cert: %s/names_n1.crt, key: %s/names_n1.key}]\n",
	    dir, dir);
	c = load(y);
	CHECK(term_build(c, err, sizeof err) == NULL);
	char want[128];
	snprintf(want, sizeof want, "terminator.certificates: more than %u certificate names in all",
	    TERM_NAMES_MAX);
	CHECKF(strcmp(err, want) == 0, "%u names: %s", TERM_NAMES_MAX + 1, err);
	conf_free(c);

	/* Certificates: N entries get as far as opening the first file (missing here); N+1
	 * are refused before any file is opened. */
	for (size_t n = TERM_CERTS_MAX; n <= TERM_CERTS_MAX + 1; n++) {
		size_t cap = 200 + n * 64, used;
		char *big = malloc(cap);
		if (big == NULL)
			abort();
		used = (size_t)snprintf(big, cap, L_TERM "terminator:\n  certificates:\n");
		for (size_t i = 0; i < n; i++)
			used += (size_t)snprintf(big + used, cap - used,
			    "    - {cert: /nonexistent/c%zu.pem, key: /nonexistent/k.pem}\n", i);
		c = load(big);
		CHECK(term_build(c, err, sizeof err) == NULL);
		if (n == TERM_CERTS_MAX)
			CHECKF(strcmp(err, "terminator.certificates[0].cert: /nonexistent/c0.pem: "
			    "No such file or directory") == 0, "%zu certificates: %s", n, err);
		else
			CHECKF(strncmp(err, "terminator.certificates: more than ", 35) == 0 &&
			    (size_t)atoi(err + 35) == TERM_CERTS_MAX,
			    "%zu certificates: %s", n, err);
		conf_free(c);
		free(big);
	}
}

static void
check_tickets(void)
{
	uint8_t n1[16], a1[32], h1[32], n2[16], a2[32], h2[32], n3[16], a3[32], h3[32];
	ticket_derive(12345, n1, a1, h1);
	ticket_derive(12345, n2, a2, h2);
	ticket_derive(12346, n3, a3, h3);
	CHECK(memcmp(n1, n2, 16) == 0 && memcmp(a1, a2, 32) == 0 && memcmp(h1, h2, 32) == 0);
	CHECK(memcmp(n1, n3, 16) != 0 && memcmp(a1, a3, 32) != 0 && memcmp(h1, h3, 32) != 0);
	CHECK(memcmp(a1, h1, 32) != 0);
	/* The name starts with the period, big-endian, so a ticket names its keys. */
	static const uint8_t p[8] = { 0, 0, 0, 0, 0, 0, 0x30, 0x39 };
	CHECK(memcmp(n1, p, 8) == 0);
	sodium_memzero(a1, sizeof a1);

	/* The acceptance window at N and N+1 periods of age, and a period from the future. */
	uint64_t now = 500000;
	CHECK(ticket_window(now, now) == 1);
	CHECK(ticket_window(now - 1, now) == 2);
	CHECK(ticket_window(now - (TICKET_PERIODS_VALID - 1), now) == 2);
	CHECK(ticket_window(now - TICKET_PERIODS_VALID, now) == 0);
	CHECK(ticket_window(now + 1, now) == 0);
	CHECK(ticket_window(0, now) == 0);
}

int
main(void)
{
	char err[256];
	if (sodium_init() == -1 || mkdtemp(dir) == NULL || term_init_process(err, sizeof err) == -1) {
		fprintf(stderr, "set-up failed\n");
		return 1;
	}
	check_selection();
	check_errors();
	check_ephemeral();
	check_limits();
	check_tickets();
	term_fini_process();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_summary();
}
