/*
 * What term.c (contexts, certificates) and tconn.c (connections) share inside terminator/.
 * Not for router/: it reaches the terminator only through terminator.h.
 */
#ifndef SY_TERMINATOR_TERM_INT_H
#define SY_TERMINATOR_TERM_INT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
	struct vpn        *vpn;      /* NULL: no terminator.vpn (the paths are the decoy's) */
	const struct conf *conf;     /* the generation's configuration (outlives the term) */
	bool               ephemeral;
};

/* Results of the connection I/O the VPN session uses (tconn.c's own values). */
enum { TCONN_IO_RESET = -3, TCONN_IO_AGAIN = -2, TCONN_IO_ERR = -1, TCONN_IO_EOF = 0 };

/* The client side of a VPN session (terminator/vpn/vsess.c): reads decrypted bytes, writes
 * bytes (TLS: a retry repeats the same bytes), and schedules the connection's driver from
 * the loop (never runs it inside the call). */
ssize_t tconn_vpn_read(struct term_conn *c, uint8_t *buf, size_t cap);
ssize_t tconn_vpn_write(struct term_conn *c, const uint8_t *buf, size_t len);
void tconn_vpn_kick(struct term_conn *c);
/* Gives the kernel the bytes written so far (they may be held to share one system call):
 * 1 all out, TCONN_IO_AGAIN (the connection waits for writability), TCONN_IO_ERR. */
int tconn_vpn_flush(struct term_conn *c);

/* Makes tconn.c's BIO methods; once, before any worker runs. */
int tconn_init_process(void);

/* The context that serves sni (normalised; NULL: none); NULL when no TLS is configured. */
SSL_CTX *term_ctx_for(const struct term *t, const char *sni);

#endif
