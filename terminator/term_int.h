/*
 * What term.c (contexts, certificates) and tconn.c (connections) share inside terminator/.
 * Not for router/: it reaches the terminator only through terminator.h.
 */
#ifndef SY_TERMINATOR_TERM_INT_H
#define SY_TERMINATOR_TERM_INT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "terminator/terminator.h"

#define TERM_CERTS_MAX 1024 /* certificates in one configuration */
#define TERM_NAMES_MAX 65536 /* certificate names over all certificates */

/* One certificate name (a SAN dNSName, or the CN when there is none) and its context. */
struct term_name {
	char    *name;   /* lowercase; "*.example.com" keeps the "*." */
	size_t   len;
	unsigned ctx;    /* index into term->ctxs */
};

struct term {
	SSL_CTX          **ctxs;     /* one per distinct (RSA, ECDSA, other) certificate set */
	size_t             nctxs;
	struct term_name  *names;    /* sorted by name for bsearch */
	size_t             nnames;
	unsigned           def;      /* the context for no SNI or an unknown name */
	struct site       *site;
	const struct conf *conf;     /* the generation's configuration (outlives the term) */
	bool               ephemeral;
};

/* Makes tconn.c's BIO method; once, before any worker runs. */
int tconn_init_process(void);

/* The context that serves sni (normalised; NULL: none); NULL when no TLS is configured. */
SSL_CTX *term_ctx_for(const struct term *t, const char *sni);

#endif
