/*
 * `switchyard import nginx`: reads an nginx configuration and carries its stream {} SNI
 * routing over into the import model (router/import.h). Two steps:
 *
 *   1. Lexer and tree builder, after nginx's lexical rules as its documentation states
 *      them: words separated by white space; `;` ends a directive, `{` `}` open and close
 *      a block; `#` at the start of a word comments to the end of the line; "..." and '...'
 *      quote (with \" \' \\ \n \r \t escapes, also outside quotes); `${name}` stays one
 *      word. `include` is expanded in place: a relative path is taken from the directory
 *      of the main file (nginx's configuration prefix), a pattern with * ? [ is a sorted
 *      glob that may match nothing, a plain name must exist. Blocks are kept on an explicit
 *      stack; only the include chain recurses, at most IMPORT_INCLUDE_DEPTH_MAX deep.
 *   2. The walk: `stream { map $ssl_preread_server_name $v {...} upstream U {...}
 *      server { listen ...; proxy_pass $v | U | ip:port; proxy_protocol on; ... } }`.
 *      Every directive that does not carry over becomes a note with its file:line.
 *
 * A syntax error fails the import ("file:line: what"); an unsupported directive never does.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/import.h"

/* One directive: its words, and its children when it opened a block. */
struct ndir {
	char        **args;
	size_t        nargs;
	struct ndir  *child, *last, *next;
	const char   *file;
	unsigned      line;
	bool          block;
};

/* Parser state shared across the include chain. */
struct nparse {
	const struct imp_io *io;
	char               **files;   /* every file name read (the directives point here) */
	size_t               nfiles;
	size_t               ndirs;
	char                 prefix[PATH_MAX];
	char                *err;
	size_t               errlen;
	struct ndir          root;
};

/* Lexer over one file's bytes. */
struct nlex {
	const char *file;
	const char *p, *end;
	unsigned    line;
	char        tok[IMPORT_TOKEN_MAX + 1];
	size_t      len;
};

enum ntok { NT_WORD, NT_SEMI, NT_OPEN, NT_CLOSE, NT_EOF, NT_ERR };

/* Writes "file:line: what" into the parser's error buffer; returns -1. */
static int __attribute__((format(printf, 4, 5)))
nfail(struct nparse *P, const char *file, unsigned line, const char *fmt, ...)
{
	int n = snprintf(P->err, P->errlen, "%s:%u: ", file, line);
	if (n < 0 || (size_t)n >= P->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(P->err + n, P->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Appends c to the current token; false when it would pass IMPORT_TOKEN_MAX. */
static bool
tok_put(struct nlex *L, char c)
{
	if (L->len >= IMPORT_TOKEN_MAX)
		return false;
	L->tok[L->len++] = c;
	return true;
}

/* The byte an escape `\c` stands for (nginx keeps the backslash for any other c). */
static int
unescape(char c)
{
	switch (c) {
	case '"': case '\'': case '\\': return c;
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	default: return -1;
	}
}

/* Reads the next token from untrusted bytes: a word (in L->tok), ; { } or the end. */
static enum ntok
nlex_next(struct nparse *P, struct nlex *L)
{
	L->len = 0;
	for (;;) {
		if (L->p == L->end)
			return NT_EOF;
		char c = *L->p;
		if (c == '\n')
			L->line++;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			L->p++;
			continue;
		}
		if (c == '#') {
			while (L->p < L->end && *L->p != '\n')
				L->p++;
			continue;
		}
		break;
	}
	char c = *L->p;
	if (c == ';' || c == '{' || c == '}') {
		L->p++;
		return c == ';' ? NT_SEMI : c == '{' ? NT_OPEN : NT_CLOSE;
	}
	if (c == '"' || c == '\'') {
		char q = c;
		unsigned start = L->line;
		L->p++;
		for (;;) {
			if (L->p == L->end) {
				nfail(P, L->file, start, "unexpected end of file, expecting %c", q);
				return NT_ERR;
			}
			c = *L->p++;
			if (c == q)
				break;
			if (c == '\0') {
				nfail(P, L->file, L->line, "NUL byte in a quoted string");
				return NT_ERR;
			}
			if (c == '\n')
				L->line++;
			if (c == '\\' && L->p < L->end) {
				int u = unescape(*L->p);
				if (u >= 0) {
					c = (char)u;
					L->p++;
				}
			}
			if (!tok_put(L, c))
				goto long_tok;
		}
		/* A closing quote must end the word, as in nginx. */
		if (L->p < L->end && !strchr(" \t\r\n;{}", *L->p)) {
			nfail(P, L->file, L->line, "unexpected \"%c\" after a quoted string", *L->p);
			return NT_ERR;
		}
		L->tok[L->len] = '\0';
		return NT_WORD;
	}
	while (L->p < L->end) {
		c = *L->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{' || c == '}')
			break;
		if (c == '\0') {
			nfail(P, L->file, L->line, "NUL byte in the file");
			return NT_ERR;
		}
		L->p++;
		if (c == '\\' && L->p < L->end) {
			int u = unescape(*L->p);
			if (u >= 0) {
				c = (char)u;
				L->p++;
			}
		} else if (c == '$' && L->p < L->end && *L->p == '{') {
			/* ${name}: the braces belong to the variable, not to a block. */
			if (!tok_put(L, '$'))
				goto long_tok;
			while (L->p < L->end && *L->p != '}' && *L->p != '\n' && *L->p != '\0')
				if (!tok_put(L, *L->p++))
					goto long_tok;
			if (L->p == L->end || *L->p != '}') {
				nfail(P, L->file, L->line, "unterminated ${ in a word");
				return NT_ERR;
			}
			c = *L->p++;
		}
		if (!tok_put(L, c))
			goto long_tok;
	}
	L->tok[L->len] = '\0';
	return NT_WORD;
long_tok:
	nfail(P, L->file, L->line, "a word longer than %d bytes", IMPORT_TOKEN_MAX);
	return NT_ERR;
}

/* Frees a directive list (iteratively over siblings; children are bounded in depth). */
static void
ndir_free_list(struct ndir *d, unsigned depth)
{
	while (d != NULL) {
		struct ndir *next = d->next;
		if (depth < IMPORT_BLOCK_DEPTH_MAX + 1)
			ndir_free_list(d->child, depth + 1);
		for (size_t i = 0; i < d->nargs; i++)
			free(d->args[i]);
		free(d->args);
		free(d);
		d = next;
	}
}

/* Appends a directive with the given words to parent; takes the words. NULL on oom. */
static struct ndir *
ndir_add(struct ndir *parent, char **args, size_t nargs, const char *file, unsigned line)
{
	struct ndir *d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->args = malloc(nargs * sizeof *d->args);
	if (d->args == NULL) {
		free(d);
		return NULL;
	}
	memcpy(d->args, args, nargs * sizeof *args);
	d->nargs = nargs;
	d->file = file;
	d->line = line;
	if (parent->last != NULL)
		parent->last->next = d;
	else
		parent->child = d;
	parent->last = d;
	return d;
}

static int parse_file(struct nparse *P, const char *path, unsigned depth, struct ndir *parent,
    unsigned blocks, const char *from, unsigned fromline);

/* True when s holds a glob character (nginx then treats include as a pattern). */
static bool
has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Expands `include ARG` at file:line into parent (depth: of the including file). */
static int
do_include(struct nparse *P, const char *arg, unsigned depth, struct ndir *parent,
    unsigned blocks, const char *file, unsigned line)
{
	char path[PATH_MAX], why[256];
	if (depth + 1 > IMPORT_INCLUDE_DEPTH_MAX)
		return nfail(P, file, line, "include: nested more than %d deep",
		    IMPORT_INCLUDE_DEPTH_MAX);
	int n = arg[0] == '/' ? snprintf(path, sizeof path, "%s", arg) :
	    snprintf(path, sizeof path, "%s/%s", P->prefix, arg);
	if (n < 0 || (size_t)n >= sizeof path)
		return nfail(P, file, line, "include: path too long");
	if (!has_glob(path))
		return parse_file(P, path, depth + 1, parent, blocks, file, line);
	char **paths;
	size_t np;
	if (P->io->glob(P->io->ctx, path, IMPORT_FILES_MAX, &paths, &np, why, sizeof why) == -1)
		return nfail(P, file, line, "include: %s", why);
	int rc = 0;
	for (size_t i = 0; i < np && rc == 0; i++)
		rc = parse_file(P, paths[i], depth + 1, parent, blocks, file, line);
	for (size_t i = 0; i < np; i++)
		free(paths[i]);
	free(paths);
	return rc;
}

/* Reads one file into parent's directive list; blocks: open blocks around it. */
static int
parse_file(struct nparse *P, const char *path, unsigned depth, struct ndir *parent,
    unsigned blocks, const char *from, unsigned fromline)
{
	char why[256];
	char *buf = NULL, *name = NULL;
	size_t len;
	char *args[IMPORT_ARGS_MAX];
	size_t nargs = 0;
	struct ndir *stack[IMPORT_BLOCK_DEPTH_MAX + 1];
	size_t sp = 0;
	int rc = -1;

	if (P->nfiles >= IMPORT_FILES_MAX)
		return nfail(P, from, fromline, "include: more than %d files", IMPORT_FILES_MAX);
	if ((name = strdup(path)) == NULL)
		return nfail(P, from, fromline, "out of memory");
	char **files = realloc(P->files, (P->nfiles + 1) * sizeof *files);
	if (files == NULL) {
		free(name);
		return nfail(P, from, fromline, "out of memory");
	}
	P->files = files;
	P->files[P->nfiles++] = name;
	if (P->io->read(P->io->ctx, path, &buf, &len, why, sizeof why) == -1) {
		if (from == NULL)
			snprintf(P->err, P->errlen, "%s", why);
		else
			nfail(P, from, fromline, "include: %s", why);
		return -1;
	}
	struct nlex L = { .file = name, .p = buf, .end = buf + len, .line = 1 };
	stack[0] = parent;
	unsigned dline = 0;
	for (;;) {
		enum ntok t = nlex_next(P, &L);
		if (t == NT_ERR)
			goto out;
		if (t == NT_WORD) {
			if (nargs == IMPORT_ARGS_MAX) {
				nfail(P, name, L.line, "more than %d words in a directive", IMPORT_ARGS_MAX);
				goto out;
			}
			if (nargs == 0)
				dline = L.line;
			if ((args[nargs] = strdup(L.tok)) == NULL) {
				nfail(P, name, L.line, "out of memory");
				goto out;
			}
			nargs++;
			continue;
		}
		if (t == NT_EOF) {
			if (nargs > 0)
				nfail(P, name, L.line, "unexpected end of file, expecting \";\" or \"{\"");
			else if (sp > 0)
				nfail(P, name, L.line, "unexpected end of file, expecting \"}\"");
			else
				rc = 0;
			goto out;
		}
		if (t == NT_CLOSE) {
			if (nargs > 0) {
				nfail(P, name, L.line, "unexpected \"}\" (a directive lacks its \";\")");
				goto out;
			}
			if (sp == 0) {
				nfail(P, name, L.line, "unexpected \"}\"");
				goto out;
			}
			sp--;
			continue;
		}
		if (nargs == 0) {
			nfail(P, name, L.line, "unexpected \"%c\"", t == NT_SEMI ? ';' : '{');
			goto out;
		}
		if (++P->ndirs > IMPORT_DIRECTIVES_MAX) {
			nfail(P, name, dline, "more than %d directives", IMPORT_DIRECTIVES_MAX);
			goto out;
		}
		if (t == NT_SEMI && strcmp(args[0], "include") == 0) {
			if (nargs != 2) {
				nfail(P, name, dline, "include takes one file name or pattern");
				goto out;
			}
			if (do_include(P, args[1], depth, stack[sp], blocks + (unsigned)sp, name,
			    dline) == -1)
				goto out;
			for (size_t i = 0; i < nargs; i++)
				free(args[i]);
			nargs = 0;
			continue;
		}
		if (t == NT_OPEN && blocks + sp + 1 > IMPORT_BLOCK_DEPTH_MAX) {
			nfail(P, name, dline, "blocks nested more than %d deep", IMPORT_BLOCK_DEPTH_MAX);
			goto out;
		}
		struct ndir *d = ndir_add(stack[sp], args, nargs, name, dline);
		if (d == NULL) {
			nfail(P, name, dline, "out of memory");
			goto out;
		}
		nargs = 0;
		if (t == NT_OPEN) {
			d->block = true;
			stack[++sp] = d;
		}
	}
out:
	for (size_t i = 0; i < nargs; i++)
		free(args[i]);
	free(buf);
	return rc;
}

/* ---- the walk ------------------------------------------------------------------------ */

/* An upstream name reached with one PROXY setting and connect timeout (switchyard sets
 * both per upstream, nginx per server block: one nginx upstream may need two). */
struct nvariant {
	const char *key;     /* upstream block name or address */
	bool        pp;
	uint64_t    connect_ms;
	char        name[CONF_NAME_MAX + 1];
};

/* Settings a server block inherits from stream {}. */
struct nset {
	int                pp;         /* -1 unset, 0, 1 */
	int                preread;    /* -1 unset, 0, 1 */
	uint64_t           idle_ms, connect_ms, preread_ms;
	const struct ndir *real_ip;    /* the first set_real_ip_from of the level that has any */
	const struct ndir *real_ip_parent;
};

/* The walk's state. */
struct nwalk {
	struct imp        *m;
	const struct ndir *stream;
	struct nvariant   *v;
	size_t             nv;
	const struct ndir **noted;     /* upstream blocks whose notes are written */
	size_t             nnoted;
};

#define NGX_PROXY_TIMEOUT_MS   600000u /* nginx's default proxy_timeout, 10m */
#define NGX_CONNECT_TIMEOUT_MS 60000u  /* nginx's default proxy_connect_timeout, 60s */
#define NGX_PREREAD_TIMEOUT_MS 30000u  /* nginx's default preread_timeout, 30s */

/* Notes directive d as not carried over, with why. */
static void __attribute__((format(printf, 3, 4)))
nnote(struct nwalk *W, const struct ndir *d, const char *fmt, ...)
{
	char why[IMPORT_NOTE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	char words[160];
	size_t n = 0;
	words[0] = '\0';
	for (size_t i = 0; i < d->nargs && n < sizeof words - 1; i++) {
		int k = snprintf(words + n, sizeof words - n, "%s%s", i ? " " : "", d->args[i]);
		if (k < 0)
			break;
		n = (size_t)k >= sizeof words - n ? sizeof words - 1 : n + (size_t)k;
	}
	imp_note(W->m, d->file, d->line, "`%s%s`: %s", words, d->block ? " {...}" : "", why);
}

/* Clamps ms into [lo, hi], noting d when it had to. */
static uint64_t
clamp_note(struct nwalk *W, const struct ndir *d, uint64_t ms, uint64_t lo, uint64_t hi)
{
	if (ms >= lo && ms <= hi)
		return ms;
	uint64_t c = ms < lo ? lo : hi;
	if (d != NULL)
		nnote(W, d, "switchyard takes %llums..%llums here; %llums is used",
		    (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)c);
	return c;
}

/* Reads a duration argument of d (nginx: bare numbers are seconds); false noted. */
static bool
ndur(struct nwalk *W, const struct ndir *d, uint64_t *ms)
{
	if (d->nargs != 2 || imp_duration(d->args[1], 1000, ms) == -1) {
		nnote(W, d, "not a duration this importer reads");
		return false;
	}
	return true;
}

/* Reads on|off of d into *v; noted when it is neither. */
static void
nflag(struct nwalk *W, const struct ndir *d, int *v)
{
	if (d->nargs == 2 && strcmp(d->args[1], "on") == 0)
		*v = 1;
	else if (d->nargs == 2 && strcmp(d->args[1], "off") == 0)
		*v = 0;
	else
		nnote(W, d, "expected on or off");
}

/* Applies a setting directive common to stream {} and server {}; false if d is not one. */
static bool
nsetting(struct nwalk *W, const struct ndir *d, struct nset *s, const struct ndir *level)
{
	const char *k = d->args[0];
	if (strcmp(k, "proxy_protocol") == 0)
		nflag(W, d, &s->pp);
	else if (strcmp(k, "ssl_preread") == 0)
		nflag(W, d, &s->preread);
	else if (strcmp(k, "proxy_timeout") == 0)
		ndur(W, d, &s->idle_ms);
	else if (strcmp(k, "proxy_connect_timeout") == 0)
		ndur(W, d, &s->connect_ms);
	else if (strcmp(k, "preread_timeout") == 0)
		ndur(W, d, &s->preread_ms);
	else if (strcmp(k, "set_real_ip_from") == 0) {
		/* nginx: a level that sets any replaces the inherited list. */
		if (s->real_ip_parent != level) {
			s->real_ip = d;
			s->real_ip_parent = level;
		}
	} else
		return false;
	return true;
}

/* True when upstream block u's notes have been written already (marks it). */
static bool
noted_once(struct nwalk *W, const struct ndir *u)
{
	for (size_t i = 0; i < W->nnoted; i++)
		if (W->noted[i] == u)
			return true;
	const struct ndir **n = realloc(W->noted, (W->nnoted + 1) * sizeof *n);
	if (n == NULL) {
		W->m->oom = true;
		return true;
	}
	W->noted = n;
	W->noted[W->nnoted++] = u;
	return false;
}

/* Fills imp upstream ui from `upstream NAME {}` block u. */
static void
fill_upstream(struct nwalk *W, const struct ndir *u, size_t ui)
{
	bool quiet = noted_once(W, u);
	char why[256];
#define UNOTE(d, ...) do { if (!quiet) nnote(W, d, __VA_ARGS__); } while (0)
	for (const struct ndir *d = u->child; d != NULL; d = d->next) {
		const char *k = d->args[0];
		if (strcmp(k, "server") == 0 && d->nargs >= 2 && !d->block) {
			bool skip = false;
			for (size_t i = 2; i < d->nargs; i++) {
				const char *p = d->args[i];
				if (strcmp(p, "backup") == 0) {
					UNOTE(d, "switchyard has no backup servers; this one is left out "
					    "(add it to servers to share the load)");
					skip = true;
				} else if (strcmp(p, "down") == 0) {
					UNOTE(d, "marked down; left out");
					skip = true;
				} else if (strcmp(p, "weight=1") != 0) {
					UNOTE(d, "`%s`: switchyard servers have no weights or failure counts; "
					    "health_check does active TCP checks instead", p);
				}
			}
			if (skip)
				continue;
			if (strncmp(d->args[1], "unix:", 5) == 0) {
				UNOTE(d, "a unix socket server: switchyard connects to ip:port only");
				continue;
			}
			if (imp_server_add(W->m, ui, d->args[1], why, sizeof why) == -1)
				UNOTE(d, "%s (host names are not resolved: write the IP)", why);
		} else if (strcmp(k, "least_conn") == 0 && d->nargs == 1) {
			W->m->u[ui].balance = "least_conn";
		} else if (strcmp(k, "hash") == 0 && d->nargs >= 2 &&
		    (strcmp(d->args[1], "$remote_addr") == 0 ||
		    strcmp(d->args[1], "$binary_remote_addr") == 0)) {
			W->m->u[ui].balance = "source";
			if (d->nargs > 2)
				UNOTE(d, "balance: source (switchyard's own hash of the client address; "
				    "`%s` is not kept)", d->args[2]);
		} else if (strcmp(k, "random") == 0) {
			W->m->u[ui].balance = "random";
			if (d->nargs > 1)
				UNOTE(d, "balance: random (plain: the two-choices variant is not kept)");
		} else {
			UNOTE(d, "no switchyard equivalent in an upstream (balance is round_robin, "
			    "least_conn, random or source)");
		}
	}
#undef UNOTE
}

/* The stream-level `upstream NAME {}` block, or NULL. */
static const struct ndir *
find_upstream(const struct nwalk *W, const char *name)
{
	for (const struct ndir *d = W->stream->child; d != NULL; d = d->next)
		if (d->block && strcmp(d->args[0], "upstream") == 0 && d->nargs == 2 &&
		    strcmp(d->args[1], name) == 0)
			return d;
	return NULL;
}

/*
 * Resolves a proxy_pass target (upstream block name or ip:port) reached by directive at
 * with PROXY setting pp and connect timeout into an imp upstream name in out.
 * Returns 0, or -1 after noting why it cannot be carried over.
 */
static int
ntarget(struct nwalk *W, const struct ndir *at, const char *target, bool pp, uint64_t connect_ms,
    char out[CONF_NAME_MAX + 1])
{
	char why[256];
	for (size_t i = 0; i < W->nv; i++)
		if (strcmp(W->v[i].key, target) == 0 && W->v[i].pp == pp &&
		    W->v[i].connect_ms == connect_ms) {
			memcpy(out, W->v[i].name, CONF_NAME_MAX + 1);
			return 0;
		}
	if (strchr(target, '$') != NULL) {
		nnote(W, at, "target `%s` is built from variables: switchyard routes to named "
		    "upstreams only", target);
		return -1;
	}
	const struct ndir *u = find_upstream(W, target);
	if (u == NULL && strncmp(target, "unix:", 5) == 0) {
		nnote(W, at, "target `%s` is a unix socket: switchyard connects to ip:port only",
		    target);
		return -1;
	}
	imp_unique_name(W->m, 'u', target, out);
	long ui = imp_upstream_add(W->m, out);
	if (ui < 0)
		return -1;
	if (u != NULL) {
		fill_upstream(W, u, (size_t)ui);
	} else if (imp_server_add(W->m, (size_t)ui, target, why, sizeof why) == -1) {
		nnote(W, at, "target `%s` is no upstream block and no ip:port (%s); host names "
		    "are not resolved", target, why);
		return -1;
	}
	W->m->u[ui].pp = pp ? IMP_PP_V1 : IMP_PP_OFF;
	W->m->u[ui].connect_ms = connect_ms;
	struct nvariant *v = realloc(W->v, (W->nv + 1) * sizeof *v);
	if (v == NULL) {
		W->m->oom = true;
		return -1;
	}
	W->v = v;
	W->v[W->nv].key = target;
	W->v[W->nv].pp = pp;
	W->v[W->nv].connect_ms = connect_ms;
	memcpy(W->v[W->nv].name, out, CONF_NAME_MAX + 1);
	W->nv++;
	return 0;
}

/* The `map $ssl_preread_server_name VAR {}` whose result is var, or NULL (noted). */
static const struct ndir *
find_map(struct nwalk *W, const struct ndir *at, const char *var)
{
	for (const struct ndir *d = W->stream->child; d != NULL; d = d->next) {
		if (!d->block || strcmp(d->args[0], "map") != 0 || d->nargs != 3 ||
		    strcmp(d->args[2], var) != 0)
			continue;
		if (strcmp(d->args[1], "$ssl_preread_server_name") != 0) {
			nnote(W, at, "its map is keyed by %s: switchyard routes by the server name "
			    "($ssl_preread_server_name) only", d->args[1]);
			return NULL;
		}
		return d;
	}
	nnote(W, at, "no `map $ssl_preread_server_name %s` in this stream block", var);
	return NULL;
}

/* Adds the routes of map block mp to listener li. */
static void
map_routes(struct nwalk *W, const struct ndir *mp, size_t li, bool pp, uint64_t connect_ms)
{
	char up[CONF_NAME_MAX + 1], why[256];
	bool hostnames = false, depth_noted = false;
	const struct ndir *def = NULL;
	for (const struct ndir *d = mp->child; d != NULL; d = d->next)
		if (strcmp(d->args[0], "hostnames") == 0 && d->nargs == 1)
			hostnames = true;
	for (const struct ndir *d = mp->child; d != NULL; d = d->next) {
		const char *k = d->args[0];
		if (d->nargs == 1 && (strcmp(k, "hostnames") == 0 || strcmp(k, "volatile") == 0))
			continue;
		if (d->block || d->nargs != 2) {
			nnote(W, d, "not a map entry (key value)");
			continue;
		}
		if (strcmp(k, "default") == 0) {
			def = d;
			continue;
		}
		if (k[0] == '~') {
			nnote(W, d, "regular expressions are not carried over: switchyard matches "
			    "exact names and one-label wildcards; list the names instead");
			continue;
		}
		if (k[0] == '\\')
			k++;
		char a[IMPORT_TOKEN_MAX + 3], b[IMPORT_TOKEN_MAX + 3];
		a[0] = b[0] = '\0';
		if (hostnames && k[0] == '.') {
			snprintf(a, sizeof a, "%s", k + 1);
			snprintf(b, sizeof b, "*%s", k);
			nnote(W, d, "carried over as %s and %s: nginx's .name also matches deeper "
			    "names, switchyard's wildcard one label", a, b);
		} else if (hostnames && k[0] == '*' && k[1] == '.') {
			snprintf(a, sizeof a, "%s", k);
			if (!depth_noted)
				nnote(W, d, "nginx's *.name also matches names several labels deeper; "
				    "switchyard's wildcards match one label (as in certificates)");
			depth_noted = true;
		} else if (hostnames && k[0] != '\0' && k[strlen(k) - 1] == '*') {
			nnote(W, d, "trailing wildcards (name.*) are not carried over");
			continue;
		} else {
			snprintf(a, sizeof a, "%s", k);
		}
		if (ntarget(W, d, d->args[1], pp, connect_ms, up) == -1)
			continue;
		const char *pats[2] = { a, b };
		for (size_t i = 0; i < 2; i++) {
			if (pats[i][0] == '\0')
				continue;
			int rc = imp_route_add(W->m, li, pats[i], IMP_ACT_UPSTREAM, up, why, sizeof why);
			if (rc == -1)
				nnote(W, d, "`%s`: %s", pats[i], why);
			else if (rc == 1)
				nnote(W, d, "`%s` is already routed above (the first one is kept)", pats[i]);
		}
	}
	struct imp_listener *l = &W->m->l[li];
	if (def == NULL) {
		nnote(W, mp, "no default: nginx passes other names to an empty target, which "
		    "fails; switchyard rejects them with a TLS alert");
		l->def = IMP_ACT_REJECT;
	} else if (ntarget(W, def, def->args[1], pp, connect_ms, l->def_upstream) == 0) {
		l->def = IMP_ACT_UPSTREAM;
	} else {
		l->def = IMP_ACT_REJECT;
	}
}

/* Turns `listen ARGS` of d into an address; false (noted) when it cannot be one.
 * *ppin is set when the listen expects PROXY headers. */
static bool
listen_addr(struct nwalk *W, const struct ndir *d, char *out, size_t outlen, bool *ppin,
    bool *skip)
{
	const char *a = d->args[1];
	for (size_t i = 2; i < d->nargs; i++) {
		const char *p = d->args[i];
		if (strcmp(p, "proxy_protocol") == 0)
			*ppin = true;
		else if (strcmp(p, "ssl") == 0 || strcmp(p, "udp") == 0) {
			nnote(W, d, "`%s`: the whole server is left out (switchyard passes TLS "
			    "through by SNI; it neither terminates TLS for a stream nor relays UDP)", p);
			*skip = true;
			return false;
		} else if (strcmp(p, "reuseport") != 0 && strncmp(p, "backlog=", 8) != 0 &&
		    strcmp(p, "ipv6only=on") != 0)
			nnote(W, d, "listen parameter `%s` is not carried over", p);
	}
	if (strncmp(a, "unix:", 5) == 0) {
		nnote(W, d, "unix sockets are not carried over");
		return false;
	}
	size_t n = strspn(a, "0123456789");
	int w;
	if (a[n] == '\0')
		w = snprintf(out, outlen, "0.0.0.0:%s", a);
	else if (a[0] == '*' && a[1] == ':')
		w = snprintf(out, outlen, "0.0.0.0:%s", a + 2);
	else if (a[0] == '[' && a[strlen(a) - 1] == ']')
		w = snprintf(out, outlen, "%s:80", a);
	else if (strchr(a, ':') == NULL)
		w = snprintf(out, outlen, "%s:80", a);
	else
		w = snprintf(out, outlen, "%s", a);
	/* A truncated address would lose its port (and do_server reads the port after the
	 * last ':'), so one that does not fit is left out, never cut. */
	if (w < 0 || (size_t)w >= outlen) {
		nnote(W, d, "listen address longer than %zu bytes: left out", outlen - 1);
		return false;
	}
	return true;
}

/* Carries one `server {}` of the stream block over as a listener. */
static void
do_server(struct nwalk *W, const struct ndir *srv, const struct nset *inherited)
{
	struct nset s = *inherited;
	const struct ndir *pass = NULL;
	char why[256];
	bool skip = false;
	for (const struct ndir *d = srv->child; d != NULL; d = d->next) {
		if (strcmp(d->args[0], "listen") == 0 || strcmp(d->args[0], "proxy_pass") == 0) {
			if (strcmp(d->args[0], "proxy_pass") == 0)
				pass = d;
			continue;
		}
		if (!nsetting(W, d, &s, srv))
			nnote(W, d, "not carried over (no switchyard equivalent)");
	}
	if (pass == NULL || pass->nargs != 2) {
		nnote(W, srv, "no proxy_pass with one target: the server is left out");
		return;
	}
	char addrs[8][96];
	size_t naddrs = 0;
	bool ppin = false;
	for (const struct ndir *d = srv->child; d != NULL && !skip; d = d->next) {
		if (strcmp(d->args[0], "listen") != 0)
			continue;
		if (d->nargs < 2) {
			nnote(W, d, "listen without an address");
			continue;
		}
		if (naddrs == 8) {
			nnote(W, d, "more than 8 listen addresses in one server: left out");
			continue;
		}
		if (listen_addr(W, d, addrs[naddrs], sizeof addrs[naddrs], &ppin, &skip))
			naddrs++;
	}
	if (skip)
		return;
	const char *colon = naddrs > 0 ? strrchr(addrs[0], ':') : NULL;
	const char *port = colon != NULL ? colon + 1 : "server";
	char lname[CONF_NAME_MAX + 1];
	snprintf(lname, sizeof lname, "nginx-%s", port);
	long li = imp_listener_add(W->m, lname);
	if (li < 0)
		return;
	for (size_t i = 0; i < naddrs; i++)
		if (imp_listen_add(W->m, (size_t)li, addrs[i], why, sizeof why) == -1)
			nnote(W, srv, "listen `%s`: %s", addrs[i], why);
	struct imp_listener *l = &W->m->l[li];
	l->idle_ms = clamp_note(W, NULL, s.idle_ms, CONF_IDLE_TIMEOUT_MIN, CONF_IDLE_TIMEOUT_MAX);
	l->preread_ms = clamp_note(W, NULL, s.preread_ms, CONF_PREREAD_TIMEOUT_MIN,
	    CONF_PREREAD_TIMEOUT_MAX);
	uint64_t connect = clamp_note(W, NULL, s.connect_ms, CONF_CONNECT_TIMEOUT_MIN,
	    CONF_CONNECT_TIMEOUT_MAX);
	if (ppin) {
		size_t n = 0;
		if (s.real_ip != NULL) {
			for (const struct ndir *d = s.real_ip; d != NULL; d = d->next) {
				if (strcmp(d->args[0], "set_real_ip_from") != 0)
					continue;
				if (d->nargs != 2 || strncmp(d->args[1], "unix:", 5) == 0) {
					nnote(W, d, "not a CIDR switchyard can trust");
					continue;
				}
				if (imp_ppfrom_add(W->m, (size_t)li, d->args[1], why, sizeof why) == -1)
					nnote(W, d, "%s", why);
				else
					n++;
			}
		}
		if (n == 0) {
			nnote(W, srv, "listen proxy_protocol without set_real_ip_from: every peer "
			    "must send PROXY (proxy_protocol_from: 0.0.0.0/0, ::/0), and switchyard "
			    "passes the address from that header on, where nginx would pass the "
			    "peer's own; narrow the list to your load balancers");
			imp_ppfrom_add(W->m, (size_t)li, "0.0.0.0/0", why, sizeof why);
			imp_ppfrom_add(W->m, (size_t)li, "::/0", why, sizeof why);
		}
	}
	const char *target = pass->args[1];
	bool pp = s.pp == 1;
	if (target[0] == '$') {
		const struct ndir *mp = find_map(W, pass, target);
		if (mp == NULL) {
			l->def = IMP_ACT_REJECT;
			return;
		}
		if (s.preread != 1) {
			nnote(W, pass, "ssl_preread is not on: nginx never sees a server name here, "
			    "so only the map's default is carried over");
			for (const struct ndir *d = mp->child; d != NULL; d = d->next)
				if (strcmp(d->args[0], "default") == 0 && d->nargs == 2 &&
				    ntarget(W, d, d->args[1], pp, connect, l->def_upstream) == 0)
					l->def = IMP_ACT_UPSTREAM;
			return;
		}
		map_routes(W, mp, (size_t)li, pp, connect);
		return;
	}
	if (ntarget(W, pass, target, pp, connect, W->m->l[li].def_upstream) == 0)
		W->m->l[li].def = IMP_ACT_UPSTREAM;
}

/* Carries a stream {} block over. */
static void
do_stream(struct nwalk *W, const struct ndir *st)
{
	struct nset s = { .pp = -1, .preread = -1, .idle_ms = NGX_PROXY_TIMEOUT_MS,
		.connect_ms = NGX_CONNECT_TIMEOUT_MS, .preread_ms = NGX_PREREAD_TIMEOUT_MS };
	W->stream = st;
	for (const struct ndir *d = st->child; d != NULL; d = d->next) {
		const char *k = d->args[0];
		if (d->block && (strcmp(k, "map") == 0 || strcmp(k, "upstream") == 0 ||
		    strcmp(k, "server") == 0))
			continue;
		if (!nsetting(W, d, &s, st))
			nnote(W, d, "not carried over (no switchyard equivalent)");
	}
	for (const struct ndir *d = st->child; d != NULL; d = d->next)
		if (d->block && strcmp(d->args[0], "server") == 0)
			do_server(W, d, &s);
	for (const struct ndir *d = st->child; d != NULL; d = d->next) {
		if (!d->block)
			continue;
		if (strcmp(d->args[0], "upstream") == 0 && !noted_once(W, d))
			nnote(W, d, "no proxy_pass reaches this upstream: left out");
		if (strcmp(d->args[0], "map") == 0 && (d->nargs != 3 ||
		    strcmp(d->args[1], "$ssl_preread_server_name") != 0))
			nnote(W, d, "only maps of $ssl_preread_server_name are carried over");
	}
}

/* Walks the top level: stream {} blocks and worker_processes; notes the rest. */
static void
walk(struct nwalk *W, const struct ndir *root)
{
	for (const struct ndir *d = root->child; d != NULL; d = d->next) {
		const char *k = d->args[0];
		if (d->block && strcmp(k, "stream") == 0 && d->nargs == 1) {
			do_stream(W, d);
		} else if (d->block && strcmp(k, "http") == 0) {
			nnote(W, d, "HTTP is not imported: write switchyard `kind: http` listeners "
			    "for it by hand (see conf.d/examples/yunohost-passthrough.yaml)");
		} else if (!d->block && strcmp(k, "worker_processes") == 0 && d->nargs == 2) {
			uint64_t n = 0;
			size_t digits = strspn(d->args[1], "0123456789");
			if (strcmp(d->args[1], "auto") == 0)
				snprintf(W->m->workers, sizeof W->m->workers, "auto");
			else if (digits > 0 && digits < 4 && d->args[1][digits] == '\0' &&
			    (n = strtoull(d->args[1], NULL, 10)) >= 1 && n <= CONF_WORKERS_MAX)
				snprintf(W->m->workers, sizeof W->m->workers, "%llu",
				    (unsigned long long)n);
			else
				nnote(W, d, "not a worker count switchyard takes (1..%d or auto)",
				    CONF_WORKERS_MAX);
		} else {
			nnote(W, d, "not carried over (no switchyard equivalent)");
		}
	}
}

int
import_nginx(struct imp *m, const char *path, const struct imp_io *io, char *err, size_t errlen)
{
	struct nparse P = { .io = io, .err = err, .errlen = errlen };
	err[0] = '\0';
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(P.prefix, sizeof P.prefix, ".");
	else
		snprintf(P.prefix, sizeof P.prefix, "%.*s", (int)(slash - path + (slash == path)),
		    path);
	int rc = parse_file(&P, path, 0, &P.root, 0, NULL, 0);
	if (rc == 0) {
		struct nwalk W = { .m = m };
		walk(&W, &P.root);
		free(W.v);
		free(W.noted);
		if (m->oom) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
		}
	}
	ndir_free_list(P.root.child, 0);
	for (size_t i = 0; i < P.nfiles; i++)
		free(P.files[i]);
	free(P.files);
	return rc;
}
