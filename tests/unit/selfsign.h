/*
 * A self-signed certificate for the unit tests that run TLS in memory or load certificate
 * files (test_term.c, test_twbio.c): one place that builds it, header-only like check.h.
 */
#ifndef SY_TESTS_SELFSIGN_H
#define SY_TESTS_SELFSIGN_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>

/* A new key (RSA 2048 or ECDSA P-256) and a certificate for cn, valid for a day, with the
 * comma-separated SANs in OpenSSL's config syntax ("DNS:a.test,DNS:b.test"; NULL: none). */
static inline void
selfsign_make(const char *cn, const char *sans, bool rsa, EVP_PKEY **kp, X509 **xp)
{
	EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	if (sans != NULL) {
		X509V3_CTX v3;
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, sans);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, k, EVP_sha256());
	*kp = k;
	*xp = x;
}

#endif
