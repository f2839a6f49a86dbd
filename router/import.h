/*
 * `switchyard import nginx|haproxy FILE`: the shared half of the importers. The two parsers
 * (router/import_nginx.c, router/import_haproxy.c) read another proxy's configuration and
 * fill the small model below (listeners with SNI routes, upstreams, and one note for every
 * directive that could not be carried over, with its file:line and why); imp_emit() then
 * writes that model as switchyard YAML using only the keys of DESIGN.md §3. The model
 * enforces what the loader will check (name charsets, one pattern once per listener, one
 * address once, IP literals only), so a successful import always passes `switchyard -t`.
 * The parsers read files only through struct imp_io, so the unit tests and fuzz harnesses
 * run them in memory. Input is hostile: every size below is a named limit, and nothing
 * here recurses except the include chain, bounded by IMPORT_INCLUDE_DEPTH_MAX.
 */
#ifndef SY_ROUTER_IMPORT_H
#define SY_ROUTER_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/conf-t.h"

#define IMPORT_FILE_MAX          (1u << 20) /* bytes per source file */
#define IMPORT_FILES_MAX         64         /* files read, the main file included */
#define IMPORT_INCLUDE_DEPTH_MAX 8          /* main file is depth 0; depth 9 is an error */
#define IMPORT_TOKEN_MAX         4096       /* bytes per word (nginx token, HAProxy word) */
#define IMPORT_ARGS_MAX          64         /* words per directive or line */
#define IMPORT_BLOCK_DEPTH_MAX   16         /* nested nginx blocks, over all includes */
#define IMPORT_DIRECTIVES_MAX    20000      /* directives (nginx) or lines (HAProxy) in all */
#define IMPORT_NOTES_MAX         1000       /* notes kept; more are counted, not listed */
#define IMPORT_NOTE_MAX          400        /* bytes per note */
#define IMPORT_ERR_MAX           512        /* bytes of the error message */

/* Exit statuses of `switchyard import`: 0 written, 2 bad usage or unreadable/bad input. */
enum { IMPORT_EXIT_OK = 0, IMPORT_EXIT_BAD = 2 };

enum imp_pp { IMP_PP_OFF = 0, IMP_PP_V1, IMP_PP_V2 };
enum imp_action { IMP_ACT_NONE = 0, IMP_ACT_UPSTREAM, IMP_ACT_REJECT };

/* One upstream: servers are normalised "ip:port" strings. */
struct imp_upstream {
	char        name[CONF_NAME_MAX + 1];
	char      **servers;
	size_t      nservers;
	enum imp_pp pp;
	const char *balance;        /* a switchyard balance word (static string) */
	uint64_t    connect_ms;     /* 0: switchyard's default */
	bool        health;         /* health_check: {interval, rise, fall} */
	uint64_t    hc_interval_ms;
	unsigned    hc_rise, hc_fall;
};

/* One route: several SNI patterns sharing one action. */
struct imp_route {
	char           **snis;
	size_t           nsnis;
	enum imp_action  act;
	char             upstream[CONF_NAME_MAX + 1];
};

/* One kind: tls listener. */
struct imp_listener {
	char              name[CONF_NAME_MAX + 1];
	char            **listen;      /* normalised "ip:port" */
	size_t            nlisten;
	char            **pp_from;     /* CIDRs */
	size_t            npp_from;
	uint64_t          idle_ms;     /* 0: default */
	uint64_t          preread_ms;  /* 0: default */
	struct imp_route *routes;
	size_t            nroutes;
	enum imp_action   def;
	char              def_upstream[CONF_NAME_MAX + 1];
};

/* The whole import. */
struct imp {
	const char          *tool;           /* "nginx" or "haproxy" */
	char                 source[1024];   /* the main file, as given */
	char                 workers[16];    /* "" or "auto" or a number */
	uint64_t             max_connections; /* 0: default */
	struct imp_listener *l;
	size_t               nl;
	struct imp_upstream *u;
	size_t               nu;
	char               **notes;
	size_t               nnotes;
	size_t               notes_dropped;
	bool                 oom;            /* an allocation failed: the import fails */
};

/* How the parsers reach files: whole-file read and sorted glob (tests: in memory). */
struct imp_io {
	/* Reads path into a malloc'd buffer (at most IMPORT_FILE_MAX); 0, or -1 with why. */
	int (*read)(void *ctx, const char *path, char **buf, size_t *len, char *why, size_t whylen);
	/* Expands pattern into sorted malloc'd paths (at most max); 0 (n may be 0) or -1. */
	int (*glob)(void *ctx, const char *pattern, size_t max, char ***paths, size_t *n,
	    char *why, size_t whylen);
	void *ctx;
};

/* The real filesystem (fopen, glob(3)). */
extern const struct imp_io imp_io_files;

/* The --help text of the subcommand (main prints it after its own). */
extern const char import_help[];

/* True when word is "import" (argv[1] of the process). */
bool import_is_command(const char *word);

/* Runs `import nginx|haproxy FILE`: argv[0] is "import". Returns an IMPORT_EXIT_* status. */
int import_main(int argc, char **argv);

/* Starts an empty model for tool ("nginx"/"haproxy") and source file name. */
void imp_init(struct imp *m, const char *tool, const char *source);

/* Frees everything the model holds. */
void imp_free(struct imp *m);

/* Adds a "file:line: text" note (printf-style text; sanitised to one printable line). */
void imp_note(struct imp *m, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copies s into a valid, unused upstream or listener name (kind 'u' or 'l'). */
void imp_unique_name(const struct imp *m, char kind, const char *s, char out[CONF_NAME_MAX + 1]);

/* Adds an upstream named name (must be unique: imp_unique_name); its index, or -1 (oom). */
long imp_upstream_add(struct imp *m, const char *name);

/* The index of upstream name, or -1. */
long imp_upstream_find(const struct imp *m, const char *name);

/* Adds server "addr" (any form confval_addr reads) to upstream ui; 0, or -1 with why. */
int imp_server_add(struct imp *m, size_t ui, const char *addr, char *why, size_t whylen);

/* Adds a tls listener named after s; its index, or -1 (oom). */
long imp_listener_add(struct imp *m, const char *s);

/* Adds a listen address to listener li; 0, or -1 with why (bad, or used by another). */
int imp_listen_add(struct imp *m, size_t li, const char *addr, char *why, size_t whylen);

/* Adds a proxy_protocol_from CIDR to listener li; 0, or -1 with why. */
int imp_ppfrom_add(struct imp *m, size_t li, const char *cidr, char *why, size_t whylen);

/*
 * Routes SNI pattern sni ("name" or "*.name") of listener li to act (upstream name for
 * IMP_ACT_UPSTREAM). Returns 0; 1 when the pattern is already routed in li (the first
 * wins); -1 with why when it is not a name switchyard can match.
 */
int imp_route_add(struct imp *m, size_t li, const char *sni, enum imp_action act,
    const char *upstream, char *why, size_t whylen);

/* Drops what cannot load (routes to missing or empty upstreams, listeners without an
 * address), noting each; returns 0, or -1 with why when nothing is left to import. */
int imp_finish(struct imp *m, char *why, size_t whylen);

/* Writes the model as switchyard YAML with its header and notes. */
void imp_emit(const struct imp *m, FILE *out);

/* Parses a duration the way nginx/HAProxy write them ("10s", "1m30s", bare number in
 * unit_ms units) into ms; 0, or -1 when it is not one or it overflows. */
int imp_duration(const char *s, uint64_t unit_ms, uint64_t *ms);

/* Reads an nginx configuration (stream {} routing) into m; 0, or -1 with "file:line: why". */
int import_nginx(struct imp *m, const char *path, const struct imp_io *io, char *err,
    size_t errlen);

/* Reads a HAProxy configuration (mode tcp) into m; 0, or -1 with "file:line: why". */
int import_haproxy(struct imp *m, const char *path, const struct imp_io *io, char *err,
    size_t errlen);

#endif
