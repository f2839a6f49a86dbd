/*
 * The terminator of one configuration: OpenSSL server contexts and the certificate-name table
 * that picks one by SNI, plus the decoy site. Built once per generation by the main thread
 * (so SIGHUP reloads certificates: a new generation loads them again, and a file that no
 * longer loads keeps the old generation in force), then only read by workers.
 *
 * Certificates: each is read once to learn its names (SAN dNSNames, else the subject CN) and
 * key type. For every name, the context holds the first RSA, the first ECDSA and the first
 * other-type certificate carrying that name, so OpenSSL can serve ECDSA to clients that
 * support it and RSA to the rest. Contexts are shared between names with the same set.
 * Without configured certificates but with routes that terminate, an ephemeral P-256
 * self-signed certificate for the terminated names is made in memory and the log says so.
 */
#include "terminator/term_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/privopen.h"
#include "terminator/vpn/vdns.h"
#include "terminator/vpn/vpn.h"
#include "proto/hostname.h"
#include "terminator/site.h"
#include "terminator/ticket.h"

#define TERM_EPHEMERAL_DAYS 30
#define TERM_SID_CTX "switchyard"

enum { KT_RSA, KT_EC, KT_OTHER, KT_COUNT };

/* The kernel offers kTLS (probed once at start): without it, asking OpenSSL for kTLS costs
 * two failing setsockopt calls on every connection. */
static bool term_ktls;

/* One loaded certificate (build time only). */
struct term_cert {
	X509      *x;          /* leaf */
	EVP_PKEY  *key;        /* its private key (loaded with it) */
	STACK_OF(X509) *chain; /* the rest of the file */
	int        kt;
};

/* A certificate set: index per key type, -1 when absent. */
struct term_set {
	int c[KT_COUNT];
};

/* Puts the last OpenSSL error (or errno) after prefix into err. */
static void
term_ssl_err(char *err, size_t cap, const char *prefix)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];
	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof buf);
		snprintf(err, cap, "%s: %s", prefix, buf);
	} else {
		snprintf(err, cap, "%s: %s", prefix, errno != 0 ? strerror(errno) : "failed");
	}
	ERR_clear_error();
}

/* Key type slot of a certificate. */
static int
term_key_type(X509 *x)
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	if (k == NULL)
		return KT_OTHER;
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		return KT_RSA;
	case EVP_PKEY_EC:
		return KT_EC;
	default:
		return KT_OTHER;
	}
}

/* Loads a PEM chain file (leaf first) and its key; checks they belong together. Files are
 * opened through core/privopen.h: root-only keys stay readable after the privilege drop. */
static int
term_cert_load(const struct conf_cert *cc, size_t i, struct term_cert *out, char *err, size_t cap)
{
	char what[128];
	FILE *f = NULL;
	memset(out, 0, sizeof *out);
	snprintf(what, sizeof what, "terminator.certificates[%zu].cert: %s", i, cc->cert);
	errno = 0;
	if ((f = privopen_fopen(cc->cert)) == NULL) {
		snprintf(err, cap, "%s: %s", what, strerror(errno));
		return -1;
	}
	out->x = PEM_read_X509(f, NULL, NULL, NULL);
	if (out->x == NULL) {
		term_ssl_err(err, cap, what);
		fclose(f);
		return -1;
	}
	out->chain = sk_X509_new_null();
	X509 *c;
	while (out->chain != NULL && (c = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		sk_X509_push(out->chain, c);
	ERR_clear_error(); /* the end of the file reads as an error */
	fclose(f);
	snprintf(what, sizeof what, "terminator.certificates[%zu].key: %s", i, cc->key);
	errno = 0;
	if ((f = privopen_fopen(cc->key)) == NULL) {
		snprintf(err, cap, "%s: %s", what, strerror(errno));
		return -1;
	}
	out->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (out->key == NULL) {
		term_ssl_err(err, cap, what);
		return -1;
	}
	if (X509_check_private_key(out->x, out->key) != 1) {
		ERR_clear_error();
		snprintf(err, cap, "terminator.certificates[%zu]: the key %s does not match the "
		    "certificate %s", i, cc->key, cc->cert);
		return -1;
	}
	out->kt = term_key_type(out->x);
	return 0;
}

static void
term_cert_free(struct term_cert *c)
{
	X509_free(c->x);
	EVP_PKEY_free(c->key);
	if (c->chain != NULL)
		sk_X509_pop_free(c->chain, X509_free);
}

/* Appends a name (lowercased) to a growing list: 0, -1 out of memory, -2 too many names. */
static int
term_names_add(struct term_name **v, size_t *n, size_t *cap, const char *name, size_t len,
    unsigned ctx)
{
	if (len == 0 || len > HOSTNAME_MAX)
		return 0; /* nothing a client could name: skip */
	if (*n >= TERM_NAMES_MAX)
		return -2;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct term_name *nv = realloc(*v, nc * sizeof *nv);
		if (nv == NULL)
			return -1;
		*v = nv;
		*cap = nc;
	}
	char *s = strndup(name, len);
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	(*v)[*n] = (struct term_name){ .name = s, .len = len, .ctx = ctx };
	(*n)++;
	return 0;
}

/* Calls fn for each DNS name of x: SAN dNSNames, or the subject CN when there are none. */
static int
term_x509_names(X509 *x, int (*fn)(void *, const char *, size_t), void *arg)
{
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int found = 0, rc = 0;
	for (int i = 0; g != NULL && i < sk_GENERAL_NAME_num(g) && rc == 0; i++) {
		GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
		if (n->type != GEN_DNS)
			continue;
		found = 1;
		rc = fn(arg, (const char *)ASN1_STRING_get0_data(n->d.dNSName),
		    (size_t)ASN1_STRING_length(n->d.dNSName));
	}
	GENERAL_NAMES_free(g);
	if (found || rc != 0)
		return rc;
	X509_NAME *sn = X509_get_subject_name(x);
	int idx = X509_NAME_get_index_by_NID(sn, NID_commonName, -1);
	if (idx < 0)
		return 0;
	ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sn, idx));
	return fn(arg, (const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
}

/* By name, then by certificate index (build time, when ctx holds that index). */
static int
term_name_cmp(const void *a, const void *b)
{
	const struct term_name *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c != 0 ? c : (x->ctx > y->ctx) - (x->ctx < y->ctx);
}

/* ALPN: http/1.1 when the client offers it and it is enabled; never h2 (not served). */
static int
term_alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
    unsigned int inlen, void *arg)
{
	(void)s;
	const struct term *t = arg;
	if (!t->conf->terminator.alpn_http11)
		return SSL_TLSEXT_ERR_NOACK;
	for (unsigned i = 0; i < inlen;) {
		unsigned n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	/* No protocol in common: carry on without ALPN, as an ordinary HTTP/1.1 server does. */
	return SSL_TLSEXT_ERR_NOACK;
}

/*
 * TLS 1.3 suites, in our order of preference. AES-128-GCM first, as a default nginx ends up
 * with for browsers (it follows the client's order, and browsers list AES-128-GCM first), so
 * the decoy negotiates what an ordinary web server does; it is also 14 % cheaper per byte than
 * AES-256-GCM (openssl speed here: 4.92 against 4.24 GB/s), which every byte of a VPN session
 * pays on top of its own AEAD. OpenSSL's default order would put AES-256-GCM first.
 */
#define TERM_TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"

/* A server context with our settings and no certificate yet. */
static SSL_CTX *
term_ctx_new(struct term *t, char *err, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		term_ssl_err(err, cap, "terminator: SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, t->conf->terminator.tls_min_version);
	/* SSL_OP_PRIORITIZE_CHACHA: a client that lists ChaCha20 first (no AES hardware) gets it
	 * although our own order (TERM_TLS13_SUITES) puts AES-128-GCM first. */
	uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF; /* a client gone without close_notify is just gone */
#ifdef SSL_OP_ENABLE_KTLS
	if (term_ktls)
		opts |= SSL_OP_ENABLE_KTLS; /* SSL_sendfile; asked only where the kernel has it */
#endif
	SSL_CTX_set_options(ctx, opts);
	/* Idle keep-alive connections give their record buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read whole records (and what follows) in one read(2) instead of header, then body.
	 * tconn always asks SSL_read before waiting for the socket, so bytes OpenSSL holds
	 * already are never left waiting for an event. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* TLS 1.2: forward-secret AEAD suites only; TLS 1.3 suites are all fine. */
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
	if (SSL_CTX_set_ciphersuites(ctx, TERM_TLS13_SUITES) != 1) {
		term_ssl_err(err, cap, "terminator: SSL_CTX_set_ciphersuites");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Tickets carry resumption; no server-side cache (it would take a lock per handshake). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TERM_SID_CTX,
	    sizeof TERM_SID_CTX - 1);
	ticket_setup(ctx);
	SSL_CTX_set_alpn_select_cb(ctx, term_alpn_cb, t);
	return ctx;
}

/* Adds a certificate with its chain to ctx. */
static int
term_ctx_add(SSL_CTX *ctx, struct term_cert *c, char *err, size_t cap)
{
	if (SSL_CTX_use_cert_and_key(ctx, c->x, c->key, c->chain, 1) != 1) {
		term_ssl_err(err, cap, "terminator: certificate");
		return -1;
	}
	return 0;
}

struct term_collect {
	struct term_name **v;
	size_t *n, *cap;
	unsigned ctx;
};

static int
term_collect_cb(void *arg, const char *name, size_t len)
{
	struct term_collect *c = arg;
	return term_names_add(c->v, c->n, c->cap, name, len, c->ctx);
}

/* Adds a name to the ephemeral certificate's SAN list (duplicates are harmless). */
static int
term_eph_add(GENERAL_NAMES *g, const char *name)
{
	GENERAL_NAME *n = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	if (n == NULL || s == NULL || ASN1_STRING_set(s, name, (int)strlen(name)) != 1) {
		GENERAL_NAME_free(n);
		ASN1_IA5STRING_free(s);
		return -1;
	}
	GENERAL_NAME_set0_value(n, GEN_DNS, s);
	if (sk_GENERAL_NAME_push(g, n) == 0) {
		GENERAL_NAME_free(n);
		return -1;
	}
	return 0;
}

/* Makes the ephemeral self-signed P-256 certificate for every terminated name. */
static int
term_ephemeral(const struct conf *conf, struct term_cert *out, char *names, size_t ncap,
    char *err, size_t cap)
{
	memset(out, 0, sizeof *out);
	GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
	X509_EXTENSION *ext = NULL;
	BIGNUM *bn = NULL;
	int rc = -1;
	size_t used = 0;
	names[0] = '\0';
	if (g == NULL)
		goto out;
	for (size_t i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener *l = &conf->listeners[i];
		for (size_t r = 0; l->kind == CONF_LISTENER_TLS && r < l->nroutes; r++) {
			if (l->routes[r].action != CONF_ACTION_TERMINATE)
				continue;
			for (size_t p = 0; p < l->routes[r].npatterns; p++) {
				const char *nm = l->routes[r].patterns[p].name;
				if (term_eph_add(g, nm) == -1)
					goto out;
				int k = snprintf(names + used, ncap - used, "%s%s", used ? ", " : "", nm);
				if (k > 0 && (size_t)k < ncap - used)
					used += (size_t)k;
			}
		}
	}
	if (sk_GENERAL_NAME_num(g) == 0) {
		/* Only a default route terminates: no name to put in, so localhost. */
		if (term_eph_add(g, "localhost") == -1)
			goto out;
		snprintf(names, ncap, "localhost");
	}
	out->key = EVP_EC_gen("P-256");
	out->x = X509_new();
	if (out->key == NULL || out->x == NULL)
		goto out;
	uint8_t serial[16];
	randombytes_buf(serial, sizeof serial);
	serial[0] &= 0x7f; /* a positive INTEGER */
	bn = BN_bin2bn(serial, sizeof serial, NULL);
	X509_NAME *sn = X509_get_subject_name(out->x);
	const GENERAL_NAME *first = sk_GENERAL_NAME_value(g, 0);
	const ASN1_STRING *cn = first->d.dNSName;
	if (bn == NULL || X509_set_version(out->x, 2) != 1 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(out->x)) == NULL ||
	    X509_gmtime_adj(X509_getm_notBefore(out->x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(out->x), 86400L * TERM_EPHEMERAL_DAYS) == NULL ||
	    X509_NAME_add_entry_by_txt(sn, "CN", MBSTRING_ASC, ASN1_STRING_get0_data(cn),
		ASN1_STRING_length(cn), -1, 0) != 1 ||
	    X509_set_issuer_name(out->x, sn) != 1 ||
	    X509_set_pubkey(out->x, out->key) != 1)
		goto out;
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, g);
	if (ext == NULL || X509_add_ext(out->x, ext, -1) != 1 ||
	    X509_sign(out->x, out->key, EVP_sha256()) == 0)
		goto out;
	out->kt = KT_EC;
	rc = 0;
out:
	if (rc == -1) {
		term_ssl_err(err, cap, "terminator: making the ephemeral certificate");
		term_cert_free(out);
		memset(out, 0, sizeof *out);
	}
	BN_free(bn);
	X509_EXTENSION_free(ext);
	GENERAL_NAMES_free(g);
	return rc;
}

/* True when some tls listener route (or default) terminates. */
static bool
term_needed(const struct conf *conf)
{
	for (size_t i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener *l = &conf->listeners[i];
		if (l->kind != CONF_LISTENER_TLS)
			continue;
		if (l->has_default && l->default_route.action == CONF_ACTION_TERMINATE)
			return true;
		for (size_t r = 0; r < l->nroutes; r++)
			if (l->routes[r].action == CONF_ACTION_TERMINATE)
				return true;
	}
	return false;
}

/* Finds (or makes) the context for a certificate set. */
static int
term_ctx_of_set(struct term *t, struct term_set *sets, const struct term_set *want,
    struct term_cert *certs, unsigned *out, char *err, size_t cap)
{
	for (size_t i = 0; i < t->nctxs; i++)
		if (memcmp(&sets[i], want, sizeof *want) == 0) {
			*out = (unsigned)i;
			return 0;
		}
	SSL_CTX *ctx = term_ctx_new(t, err, cap);
	if (ctx == NULL)
		return -1;
	for (int k = 0; k < KT_COUNT; k++)
		if (want->c[k] >= 0 && term_ctx_add(ctx, &certs[want->c[k]], err, cap) == -1) {
			SSL_CTX_free(ctx);
			return -1;
		}
	sets[t->nctxs] = *want;
	t->ctxs[t->nctxs] = ctx;
	*out = (unsigned)t->nctxs++;
	return 0;
}

/* Builds contexts and the name table from loaded certificates. */
static int
term_tls_build(struct term *t, struct term_cert *certs, size_t ncerts, char *err, size_t cap)
{
	struct term_name *raw = NULL;
	size_t nraw = 0, rawcap = 0;
	struct term_set *sets = NULL;
	int rc = -1;

	/* 1. Every (name, certificate) pair; ctx temporarily holds the certificate index. */
	for (size_t i = 0; i < ncerts; i++) {
		struct term_collect col = { &raw, &nraw, &rawcap, (unsigned)i };
		int k = term_x509_names(certs[i].x, term_collect_cb, &col);
		if (k == -2) {
			snprintf(err, cap, "terminator.certificates: more than %u certificate names "
			    "in all", TERM_NAMES_MAX);
			goto out;
		}
		if (k == -1)
			goto oom;
	}
	/* The default is the set of the first certificate's first name: remember it before
	 * the sort. */
	char *defname = nraw > 0 && raw[0].ctx == 0 ? raw[0].name : NULL;
	/* 2. Sorted by name then certificate, each run of one name gives its set: the first
	 * certificate of each key type. One context per distinct set. */
	qsort(raw, nraw, sizeof *raw, term_name_cmp);
	t->ctxs = calloc(nraw + 1, sizeof *t->ctxs);
	sets = calloc(nraw + 1, sizeof *sets);
	t->names = calloc(nraw + 1, sizeof *t->names);
	if (t->ctxs == NULL || sets == NULL || t->names == NULL)
		goto oom;
	for (size_t i = 0, j; i < nraw; i = j) {
		struct term_set want = { { -1, -1, -1 } };
		for (j = i; j < nraw && strcmp(raw[j].name, raw[i].name) == 0; j++) {
			int kt = certs[raw[j].ctx].kt;
			if (want.c[kt] < 0)
				want.c[kt] = (int)raw[j].ctx;
		}
		unsigned ci;
		if (term_ctx_of_set(t, sets, &want, certs, &ci, err, cap) == -1)
			goto out;
		if (defname != NULL && strcmp(defname, raw[i].name) == 0)
			t->def = ci;
		t->names[t->nnames] = raw[i];
		t->names[t->nnames].ctx = ci;
		raw[i].name = NULL; /* moved; the rest of the run is freed below */
		t->nnames++;
	}
	/* 3. Without a name, the default is the first certificate alone. */
	if (defname == NULL) {
		struct term_set def = { { -1, -1, -1 } };
		def.c[certs[0].kt] = 0;
		if (term_ctx_of_set(t, sets, &def, certs, &t->def, err, cap) == -1)
			goto out;
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, cap, "terminator: out of memory");
out:
	for (size_t i = 0; i < nraw; i++)
		free(raw[i].name);
	free(raw);
	free(sets);
	return rc;
}

/* Builds the terminator of conf. */
struct term *
term_build(const struct conf *conf, char *err, size_t cap)
{
	const struct conf_terminator *tc = &conf->terminator;
	struct term *t = calloc(1, sizeof *t);
	struct term_cert *certs = NULL;
	size_t ncerts = 0;
	if (t == NULL) {
		snprintf(err, cap, "terminator: out of memory");
		return NULL;
	}
	t->conf = conf;
	t->site = site_open(&tc->site, err, cap);
	if (t->site == NULL)
		goto fail;
	if (tc->vpn.enabled) {
		if ((t->vpn = vpn_build(&tc->vpn, err, cap)) == NULL)
			goto fail;
		if (tc->vpn.open)
			log_warn("terminator.vpn: open: true: any client key is accepted (no "
			    "allow-list)");
	}
	if (tc->ncertificates > TERM_CERTS_MAX) {
		snprintf(err, cap, "terminator.certificates: more than %u", TERM_CERTS_MAX);
		goto fail;
	}
	if (tc->ncertificates == 0 && !term_needed(conf))
		return t; /* no TLS to terminate: the site serves plain-HTTP listeners only */
	certs = calloc(tc->ncertificates ? tc->ncertificates : 1, sizeof *certs);
	if (certs == NULL) {
		snprintf(err, cap, "terminator: out of memory");
		goto fail;
	}
	if (tc->ncertificates == 0) {
		char names[512];
		if (term_ephemeral(conf, &certs[0], names, sizeof names, err, cap) == -1)
			goto fail;
		ncerts = 1;
		t->ephemeral = true;
		log_warn("terminator: no terminator.certificates configured; serving an ephemeral "
		    "self-signed P-256 certificate for %s, made at start and valid %d days "
		    "(clients will not trust it)", names, TERM_EPHEMERAL_DAYS);
	} else {
		for (; ncerts < tc->ncertificates; ncerts++)
			if (term_cert_load(&tc->certificates[ncerts], ncerts, &certs[ncerts], err,
			    cap) == -1) {
				term_cert_free(&certs[ncerts]);
				goto fail;
			}
	}
	if (term_tls_build(t, certs, ncerts, err, cap) == -1)
		goto fail;
	for (size_t i = 0; i < ncerts; i++)
		term_cert_free(&certs[i]);
	free(certs);
	return t;
fail:
	for (size_t i = 0; i < ncerts; i++)
		term_cert_free(&certs[i]);
	free(certs);
	term_free(t);
	return NULL;
}

void
term_check_only(void)
{
	vpn_check_only();
}

/* Frees a terminator. */
void
term_free(struct term *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nctxs; i++)
		SSL_CTX_free(t->ctxs[i]);
	free(t->ctxs);
	for (size_t i = 0; i < t->nnames; i++)
		free(t->names[i].name);
	free(t->names);
	if (t->site != NULL)
		site_free(t->site);
	vpn_free(t->vpn);
	free(t);
}

/* Exact lookup in the sorted name table; -1 when absent. */
static int
term_lookup(const struct term *t, const char *name)
{
	size_t lo = 0, hi = t->nnames;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, t->names[mid].name);
		if (c == 0)
			return (int)t->names[mid].ctx;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Exact name first, then the one-label wildcard "*.rest", then the default. */
SSL_CTX *
term_ctx_for(const struct term *t, const char *sni)
{
	if (t->nctxs == 0)
		return NULL;
	if (sni != NULL) {
		int i = term_lookup(t, sni);
		if (i >= 0)
			return t->ctxs[i];
		const char *dot = strchr(sni, '.');
		if (dot != NULL && dot[1] != '\0') {
			char w[HOSTNAME_BUF + 1];
			int n = snprintf(w, sizeof w, "*%s", dot);
			if (n > 0 && (size_t)n < sizeof w && (i = term_lookup(t, w)) >= 0)
				return t->ctxs[i];
		}
	}
	return t->ctxs[t->def];
}

/*
 * True when a connected loopback TCP socket accepts the "tls" upper-layer protocol, as
 * OpenSSL will ask for on each connection (the kernel loads the module on demand, so
 * /proc/sys/net/ipv4/tcp_available_ulp alone could say no where kTLS works).
 */
static bool
term_probe_ktls(void)
{
	bool ok = false;
#ifdef TCP_ULP
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1;
	if (l == -1 || bind(l, (struct sockaddr *)&sa, sizeof sa) == -1 || listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) == -1)
		goto out;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c == -1 || connect(c, (struct sockaddr *)&sa, sizeof sa) == -1)
		goto out;
	ok = setsockopt(c, SOL_TCP, TCP_ULP, "tls", sizeof "tls") == 0;
out:
	if (c != -1)
		close(c);
	if (l != -1)
		close(l);
#endif
	return ok;
}

/* Process set-up: the ticket master secret, the BIO method, the kTLS probe. */
int
term_init_process(char *err, size_t cap)
{
	term_ktls = term_probe_ktls();
	log_debug("terminator: kTLS %s", term_ktls ? "available: files go out with SSL_sendfile" :
	    "not offered by this kernel: files go out with SSL_write");
	if (ticket_init() == -1 || tconn_init_process() == -1) {
		snprintf(err, cap, "terminator: cannot make the session-ticket secret");
		return -1;
	}
	return 0;
}

void
term_fini_process(void)
{
	ticket_fini();
	vpn_fini_process();
}

/* Frees the worker's own state (see terminator.h). */
void
term_worker_exit(void)
{
	vdns_worker_exit();
}
