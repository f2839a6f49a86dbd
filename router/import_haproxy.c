/*
 * `switchyard import haproxy`: reads a HAProxy configuration and carries its TCP-mode SNI
 * routing over into the import model (router/import.h). Two steps:
 *
 *   1. Lines into words, after HAProxy's quoting rules as its manual states them: words
 *      are separated by blanks; `#` starts a comment; a backslash escapes the next byte;
 *      "..." quotes with escapes, '...' quotes without; quoted and bare parts glue into one
 *      word. A line that starts with a section keyword (global, defaults, frontend,
 *      backend, listen, ...) opens a section.
 *   2. The walk: each `mode tcp` frontend or listen section becomes a tls listener: `bind`
 *      (accept-proxy), `tcp-request inspect-delay`, `acl NAME req.ssl_sni ...`,
 *      `use_backend B if ...`, `default_backend`; each backend reached becomes an upstream:
 *      `server` (send-proxy, send-proxy-v2, check, inter, rise, fall), `balance`,
 *      `timeout connect`; `defaults` sections are inherited as HAProxy does. Every line
 *      that does not carry over becomes a note with its file:line.
 *
 * A syntax error fails the import ("file:line: what"); an unsupported keyword never does.
 * HAProxy has no include directive: one file is read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/import.h"

/* One non-empty line: its words. */
struct hline {
	char   **w;
	size_t   n;
	unsigned line;
};

enum hkind { HS_NONE, HS_GLOBAL, HS_DEFAULTS, HS_FRONTEND, HS_BACKEND, HS_LISTEN, HS_OTHER };

/* One section: lines [first, end) follow its header line. */
struct hsec {
	enum hkind  kind;
	size_t      head, first, end;
	long        defaults;   /* index of the defaults section in effect, or -1 */
};

/* Parse and walk state. */
struct hp {
	struct imp    *m;
	const char    *file;
	struct hline  *l;
	size_t         nl;
	struct hsec   *s;
	size_t         ns;
	char          *err;
	size_t         errlen;
};

/* Writes "file:line: what" into the error buffer; returns -1. */
static int __attribute__((format(printf, 3, 4)))
hfail(struct hp *H, unsigned line, const char *fmt, ...)
{
	int n = snprintf(H->err, H->errlen, "%s:%u: ", H->file, line);
	if (n < 0 || (size_t)n >= H->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(H->err + n, H->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Splits one line of untrusted bytes [p, e) into words; appends it when not empty. */
static int
split_line(struct hp *H, const char *p, const char *e, unsigned line)
{
	char *w[IMPORT_ARGS_MAX];
	size_t n = 0;
	char tok[IMPORT_TOKEN_MAX + 1];
	int rc = -1;
	while (p < e) {
		while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p == e || *p == '#')
			break;
		size_t len = 0;
		while (p < e && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#') {
			char c = *p++;
			if (c == '\0') {
				hfail(H, line, "NUL byte in the file");
				goto out;
			}
			if (c == '\\' && p < e) {
				c = *p++;
			} else if (c == '"' || c == '\'') {
				char q = c;
				for (;;) {
					if (p == e) {
						hfail(H, line, "unterminated %c quote", q);
						goto out;
					}
					c = *p++;
					if (c == q)
						break;
					if (c == '\0') {
						hfail(H, line, "NUL byte in the file");
						goto out;
					}
					if (q == '"' && c == '\\' && p < e)
						c = *p++;
					if (len >= IMPORT_TOKEN_MAX)
						goto long_tok;
					tok[len++] = c;
				}
				continue;
			}
			if (len >= IMPORT_TOKEN_MAX)
				goto long_tok;
			tok[len++] = c;
		}
		if (n == IMPORT_ARGS_MAX) {
			hfail(H, line, "more than %d words on a line", IMPORT_ARGS_MAX);
			goto out;
		}
		tok[len] = '\0';
		if ((w[n] = strdup(tok)) == NULL) {
			hfail(H, line, "out of memory");
			goto out;
		}
		n++;
	}
	if (n == 0)
		return 0;
	if (H->nl >= IMPORT_DIRECTIVES_MAX) {
		hfail(H, line, "more than %d lines", IMPORT_DIRECTIVES_MAX);
		goto out;
	}
	struct hline *nl = realloc(H->l, (H->nl + 1) * sizeof *nl);
	char **copy = malloc(n * sizeof *copy);
	if (nl != NULL)
		H->l = nl;
	if (nl == NULL || copy == NULL) {
		free(copy);
		hfail(H, line, "out of memory");
		goto out;
	}
	memcpy(copy, w, n * sizeof *w);
	H->l[H->nl++] = (struct hline){ copy, n, line };
	return 0;
long_tok:
	hfail(H, line, "a word longer than %d bytes", IMPORT_TOKEN_MAX);
out:
	for (size_t i = 0; i < n; i++)
		free(w[i]);
	return rc;
}

/* The section kind a line's first word opens, or HS_NONE. */
static enum hkind
section_kind(const char *w)
{
	static const char *const other[] = { "resolvers", "peers", "userlist", "mailers",
		"program", "http-errors", "ring", "cache", "crt-store", "log-forward", "traces",
		"fcgi-app", NULL };
	if (strcmp(w, "global") == 0)
		return HS_GLOBAL;
	if (strcmp(w, "defaults") == 0)
		return HS_DEFAULTS;
	if (strcmp(w, "frontend") == 0)
		return HS_FRONTEND;
	if (strcmp(w, "backend") == 0)
		return HS_BACKEND;
	if (strcmp(w, "listen") == 0)
		return HS_LISTEN;
	for (size_t i = 0; other[i] != NULL; i++)
		if (strcmp(w, other[i]) == 0)
			return HS_OTHER;
	return HS_NONE;
}

/* Notes line L as not carried over, with why. */
static void __attribute__((format(printf, 3, 4)))
hnote(struct hp *H, const struct hline *L, const char *fmt, ...)
{
	char why[IMPORT_NOTE_MAX], words[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	size_t n = 0;
	words[0] = '\0';
	for (size_t i = 0; i < L->n && n < sizeof words - 1; i++) {
		int k = snprintf(words + n, sizeof words - n, "%s%s", i ? " " : "", L->w[i]);
		if (k < 0)
			break;
		n = (size_t)k >= sizeof words - n ? sizeof words - 1 : n + (size_t)k;
	}
	imp_note(H->m, H->file, L->line, "`%s`: %s", words, why);
}

/* The value of `KEY` lines in section si, falling back to its defaults: the last line whose
 * words start with k1 [k2]; NULL when none. */
static const struct hline *
hfind(const struct hp *H, size_t si, const char *k1, const char *k2)
{
	for (int pass = 0; pass < 2; pass++) {
		const struct hsec *s = &H->s[si];
		const struct hline *found = NULL;
		for (size_t i = s->first; i < s->end; i++) {
			const struct hline *L = &H->l[i];
			if (strcmp(L->w[0], k1) == 0 && (k2 == NULL || (L->n > 1 &&
			    strcmp(L->w[1], k2) == 0)))
				found = L;
		}
		if (found != NULL || s->defaults < 0)
			return found;
		si = (size_t)s->defaults;
	}
	return NULL;
}

/* A timeout of section si (or its defaults) in ms; 0 when unset or unreadable (noted). */
static uint64_t
htimeout(struct hp *H, size_t si, const char *which)
{
	const struct hline *L = hfind(H, si, "timeout", which);
	uint64_t ms;
	if (L == NULL)
		return 0;
	if (L->n != 3 || imp_duration(L->w[2], 1, &ms) == -1) {
		hnote(H, L, "not a timeout this importer reads");
		return 0;
	}
	return ms;
}

/* Clamps ms into [lo, hi], noting L when it had to. */
static uint64_t
hclamp(struct hp *H, const struct hline *L, uint64_t ms, uint64_t lo, uint64_t hi)
{
	if (ms >= lo && ms <= hi)
		return ms;
	uint64_t c = ms < lo ? lo : hi;
	hnote(H, L, "switchyard takes %llums..%llums here; %llums is used",
	    (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)c);
	return c;
}

/* Turns a HAProxy address (":443", "*:443", "ipv4@1.2.3.4:5", ":::443") into "ip:port"
 * in out; false when it is not one switchyard can use (why says so). */
static bool
haddr(const char *a, char *out, size_t outlen, const char **why)
{
	if (strncmp(a, "ipv4@", 5) == 0 || strncmp(a, "ipv6@", 5) == 0 || strncmp(a, "tcp@", 4) == 0
	    || strncmp(a, "tcp4@", 5) == 0 || strncmp(a, "tcp6@", 5) == 0)
		a = strchr(a, '@') + 1;
	if (strchr(a, '@') != NULL || a[0] == '/') {
		*why = "not a TCP address";
		return false;
	}
	const char *colon = strrchr(a, ':');
	if (colon == NULL) {
		*why = "no port (HAProxy then keeps the client's port; switchyard needs one)";
		return false;
	}
	const char *port = colon + 1;
	if (port[0] == '\0' || strspn(port, "0123456789") != strlen(port)) {
		*why = "not a single port";
		return false;
	}
	int hl = (int)(colon - a);
	int w;
	if (hl == 0 || (hl == 1 && a[0] == '*'))
		w = snprintf(out, outlen, "0.0.0.0:%s", port);
	else if (a[0] != '[' && memchr(a, ':', (size_t)hl) != NULL)
		w = snprintf(out, outlen, "[%.*s]:%s", hl, a, port);
	else
		w = snprintf(out, outlen, "%s", a);
	if (w < 0 || (size_t)w >= outlen) { /* cut, it would lose its port: left out */
		*why = "address too long";
		return false;
	}
	return true;
}

/* Server settings read from `server` or `default-server` words. */
struct hsrv {
	enum imp_pp pp;
	bool        check, skip;
	uint64_t    inter_ms;
	unsigned    rise, fall;
};

/* Reads server parameters w[from..n) of line L into v; notes what it cannot carry. */
static void
server_params(struct hp *H, const struct hline *L, size_t from, struct hsrv *v, bool quiet)
{
	static const char *const ignore_arg[] = { "maxconn", "minconn", "id", "cookie", "slowstart",
		"observe", "on-error", NULL };
	for (size_t i = from; i < L->n; i++) {
		const char *p = L->w[i];
		const char *arg = i + 1 < L->n ? L->w[i + 1] : NULL;
		uint64_t x;
		if (strcmp(p, "send-proxy") == 0) {
			v->pp = IMP_PP_V1;
		} else if (strcmp(p, "send-proxy-v2") == 0) {
			v->pp = IMP_PP_V2;
		} else if (strcmp(p, "no-send-proxy") == 0 || strcmp(p, "no-send-proxy-v2") == 0) {
			v->pp = IMP_PP_OFF;
		} else if (strcmp(p, "check") == 0) {
			v->check = true;
		} else if (strcmp(p, "no-check") == 0) {
			v->check = false;
		} else if (strcmp(p, "inter") == 0 && arg != NULL && imp_duration(arg, 1, &x) == 0) {
			v->inter_ms = x;
			i++;
		} else if ((strcmp(p, "rise") == 0 || strcmp(p, "fall") == 0) && arg != NULL &&
		    imp_duration(arg, 1, &x) == 0 && x >= 1 && x <= CONF_HC_COUNT_MAX) {
			*(p[0] == 'r' ? &v->rise : &v->fall) = (unsigned)x;
			i++;
		} else if (strcmp(p, "weight") == 0 && arg != NULL) {
			if (!quiet)
				hnote(H, L, "weight %s: switchyard servers have no weights", arg);
			i++;
		} else if (strcmp(p, "backup") == 0 || strcmp(p, "disabled") == 0) {
			if (!quiet)
				hnote(H, L, "%s: left out (switchyard has no backup or disabled servers; "
				    "add it to servers to share the load)", p);
			v->skip = true;
		} else if (strcmp(p, "ssl") == 0) {
			if (!quiet)
				hnote(H, L, "ssl: switchyard passes TLS through and never re-encrypts; "
				    "the server is left out");
			v->skip = true;
		} else {
			bool known = false;
			for (size_t k = 0; ignore_arg[k] != NULL; k++)
				known = known || strcmp(p, ignore_arg[k]) == 0;
			if (!quiet)
				hnote(H, L, "from `%s` on: not carried over (no switchyard equivalent)", p);
			if (!known)
				return; /* its arguments are unknown: the rest of the line is noted */
			i++;
		}
	}
}

/* Fills a new upstream for backend (or listen) section si; its name in out, or -1. */
static int
hbackend(struct hp *H, size_t si, char out[CONF_NAME_MAX + 1])
{
	const struct hsec *s = &H->s[si];
	const char *name = H->l[s->head].w[1];
	long ui = imp_upstream_find(H->m, name);
	if (ui >= 0) {
		snprintf(out, CONF_NAME_MAX + 1, "%s", name);
		return 0;
	}
	imp_unique_name(H->m, 'u', name, out);
	if ((ui = imp_upstream_add(H->m, out)) < 0)
		return -1;
	struct imp_upstream *u = &H->m->u[ui];
	struct hsrv dflt = { .pp = IMP_PP_OFF, .inter_ms = 2000, .rise = 2, .fall = 3 };
	const struct hline *ds = hfind(H, si, "default-server", NULL);
	if (ds != NULL)
		server_params(H, ds, 1, &dflt, false);
	bool first = true, mixed = false;
	char addr[96], why[256];
	for (size_t i = s->first; i < s->end; i++) {
		const struct hline *L = &H->l[i];
		if (strcmp(L->w[0], "server") != 0 || s->kind == HS_DEFAULTS)
			continue;
		if (L->n < 3) {
			hnote(H, L, "server without an address");
			continue;
		}
		struct hsrv v = dflt;
		server_params(H, L, 3, &v, false);
		if (v.skip)
			continue;
		const char *bad;
		if (!haddr(L->w[2], addr, sizeof addr, &bad)) {
			hnote(H, L, "%s: left out", bad);
			continue;
		}
		if (imp_server_add(H->m, (size_t)ui, addr, why, sizeof why) == -1) {
			hnote(H, L, "%s (host names are not resolved: write the IP)", why);
			continue;
		}
		u = &H->m->u[ui];
		if (first) {
			u->pp = v.pp;
			u->health = v.check;
			u->hc_interval_ms = v.inter_ms < CONF_HC_INTERVAL_MIN ? CONF_HC_INTERVAL_MIN :
			    v.inter_ms > CONF_HC_INTERVAL_MAX ? CONF_HC_INTERVAL_MAX : v.inter_ms;
			u->hc_rise = v.rise;
			u->hc_fall = v.fall;
			first = false;
		} else if (!mixed && (u->pp != v.pp || u->health != v.check)) {
			hnote(H, L, "its PROXY or check setting differs from the first server's; "
			    "switchyard sets them per upstream: the first server's are used");
			mixed = true;
		}
	}
	const struct hline *b = hfind(H, si, "balance", NULL);
	if (b != NULL) {
		const char *a = b->n > 1 ? b->w[1] : "";
		if (strcmp(a, "roundrobin") == 0 || strcmp(a, "static-rr") == 0)
			u->balance = "round_robin";
		else if (strcmp(a, "leastconn") == 0)
			u->balance = "least_conn";
		else if (strcmp(a, "source") == 0)
			u->balance = "source";
		else if (strcmp(a, "random") == 0)
			u->balance = "random";
		else
			hnote(H, b, "no such balance in switchyard (round_robin, least_conn, random, "
			    "source): round_robin is used");
		if (b->n > 2)
			hnote(H, b, "balance arguments are not carried over");
	}
	uint64_t c = htimeout(H, si, "connect");
	if (c != 0)
		u->connect_ms = hclamp(H, hfind(H, si, "timeout", "connect"), c,
		    CONF_CONNECT_TIMEOUT_MIN, CONF_CONNECT_TIMEOUT_MAX);
	for (size_t i = s->first; i < s->end; i++) {
		const struct hline *L = &H->l[i];
		const char *k = L->w[0];
		if (strcmp(k, "server") == 0 || strcmp(k, "default-server") == 0 ||
		    strcmp(k, "balance") == 0 || strcmp(k, "mode") == 0 ||
		    (strcmp(k, "timeout") == 0 && L->n > 1 && strcmp(L->w[1], "connect") == 0))
			continue;
		if (s->kind == HS_LISTEN && (strcmp(k, "bind") == 0 || strcmp(k, "acl") == 0 ||
		    strcmp(k, "use_backend") == 0 || strcmp(k, "default_backend") == 0 ||
		    strcmp(k, "tcp-request") == 0 || strcmp(k, "timeout") == 0))
			continue; /* the frontend half: read by hfrontend */
		hnote(H, L, "not carried over (no switchyard equivalent)");
	}
	return 0;
}

/* The backend or listen section named name, or -1. */
static long
hsection(const struct hp *H, const char *name)
{
	for (size_t i = 0; i < H->ns; i++)
		if ((H->s[i].kind == HS_BACKEND || H->s[i].kind == HS_LISTEN) &&
		    H->l[H->s[i].head].n > 1 && strcmp(H->l[H->s[i].head].w[1], name) == 0)
			return (long)i;
	return -1;
}

/* Resolves backend name for line L into an upstream name in out; -1 (noted) if it cannot. */
static int
htarget(struct hp *H, const struct hline *L, const char *name, char out[CONF_NAME_MAX + 1])
{
	if (strchr(name, '%') != NULL) {
		hnote(H, L, "a backend name built at run time: switchyard routes to named upstreams");
		return -1;
	}
	long si = hsection(H, name);
	if (si < 0) {
		hnote(H, L, "no backend named %s", name);
		return -1;
	}
	out[0] = '\0';
	return hbackend(H, (size_t)si, out);
}

/* True when words [i, n) of L start an SNI criterion (req.ssl_sni / req_ssl_sni). */
static bool
is_sni(const char *w)
{
	return strcmp(w, "req.ssl_sni") == 0 || strcmp(w, "req_ssl_sni") == 0;
}

/* True when w is a TLS-hello-type criterion (always true once a ClientHello is read). */
static bool
is_hello(const char *w)
{
	return strcmp(w, "req.ssl_hello_type") == 0 || strcmp(w, "req_ssl_hello_type") == 0;
}

/*
 * Routes the SNI criterion words w[0..n) (criterion, flags, values) of line L to upstream up
 * on listener li. Returns 0, or -1 (noted) when the match method is not carried over.
 */
static int
sni_routes(struct hp *H, const struct hline *L, char **w, size_t n, size_t li, const char *up)
{
	const char *method = "str";
	size_t i = 1;
	for (; i < n && w[i][0] == '-'; i++) {
		if (strcmp(w[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(w[i], "-m") == 0 && i + 1 < n)
			method = w[++i];
		else if (strcmp(w[i], "-i") != 0) {
			hnote(H, L, "the flag %s is not carried over: the rule is left out", w[i]);
			return -1;
		}
	}
	bool end = strcmp(method, "end") == 0, dom = strcmp(method, "dom") == 0;
	if (strcmp(method, "str") != 0 && !end && !dom) {
		hnote(H, L, "-m %s is not carried over: switchyard matches exact names and "
		    "one-label wildcards; the rule is left out", method);
		return -1;
	}
	if (i == n) {
		hnote(H, L, "no names to match: the rule is left out");
		return -1;
	}
	char why[256], pat[IMPORT_TOKEN_MAX + 3];
	for (; i < n; i++) {
		const char *v = w[i];
		const char *pats[2] = { NULL, NULL };
		if (end && v[0] == '.') {
			snprintf(pat, sizeof pat, "*%s", v);
			pats[0] = pat;
			hnote(H, L, "-m end %s carried over as %s: switchyard's wildcard matches one "
			    "label, HAProxy's suffix any number", v, pat);
		} else if (end || dom) {
			snprintf(pat, sizeof pat, "*.%s", v);
			pats[0] = v;
			pats[1] = pat;
			hnote(H, L, "-m %s %s carried over as %s and %s (one label deep)", method, v, v,
			    pat);
		} else {
			pats[0] = v;
		}
		for (size_t k = 0; k < 2 && pats[k] != NULL; k++) {
			int rc = imp_route_add(H->m, li, pats[k], IMP_ACT_UPSTREAM, up, why, sizeof why);
			if (rc == -1)
				hnote(H, L, "`%s`: %s", pats[k], why);
			else if (rc == 1)
				hnote(H, L, "`%s` is already routed by an earlier rule (the first wins)",
				    pats[k]);
		}
	}
	return 0;
}

/* Routes named ACL acl of section si (all its `acl` lines: HAProxy ORs them). */
static int
acl_routes(struct hp *H, size_t si, const struct hline *at, const char *acl, size_t li,
    const char *up)
{
	const struct hsec *s = &H->s[si];
	bool any = false;
	for (size_t i = s->first; i < s->end; i++) {
		const struct hline *L = &H->l[i];
		if (strcmp(L->w[0], "acl") != 0 || L->n < 3 || strcmp(L->w[1], acl) != 0)
			continue;
		if (!is_sni(L->w[2])) {
			hnote(H, at, "ACL %s does not test req.ssl_sni: the rule is left out", acl);
			return -1;
		}
		any = true;
	}
	if (!any) {
		hnote(H, at, "no ACL named %s in this section: the rule is left out", acl);
		return -1;
	}
	for (size_t i = s->first; i < s->end; i++) {
		const struct hline *L = &H->l[i];
		if (strcmp(L->w[0], "acl") == 0 && L->n >= 3 && strcmp(L->w[1], acl) == 0)
			sni_routes(H, L, L->w + 2, L->n - 2, li, up);
	}
	return 0;
}

/* Carries `use_backend B if COND` over: COND must be an OR of SNI tests (named ACLs or
 * anonymous { req.ssl_sni ... }), each optionally ANDed with a hello-type test. */
static void
use_backend(struct hp *H, size_t si, const struct hline *L, size_t li)
{
	char up[CONF_NAME_MAX + 1];
	if (L->n < 4 || strcmp(L->w[2], "if") != 0) {
		hnote(H, L, "only `use_backend B if <SNI tests>` is carried over: left out");
		return;
	}
	/* First a check of the whole condition, so that nothing half-carries. */
	for (size_t i = 3; i < L->n; i++) {
		const char *w = L->w[i];
		if (strcmp(w, "{") == 0) {
			size_t j = i + 1;
			while (j < L->n && strcmp(L->w[j], "}") != 0)
				j++;
			if (j == L->n || j == i + 1 || !(is_sni(L->w[i + 1]) || is_hello(L->w[i + 1]))) {
				hnote(H, L, "a condition other than SNI tests: left out");
				return;
			}
			i = j;
		} else if (w[0] == '!' || strcmp(w, "}") == 0) {
			hnote(H, L, "negated or malformed conditions are not carried over: left out");
			return;
		}
	}
	if (htarget(H, L, L->w[1], up) == -1)
		return;
	for (size_t i = 3; i < L->n; i++) {
		const char *w = L->w[i];
		if (strcmp(w, "||") == 0 || strcmp(w, "or") == 0)
			continue;
		if (strcmp(w, "{") == 0) {
			size_t j = i + 1;
			while (strcmp(L->w[j], "}") != 0)
				j++;
			if (is_sni(L->w[i + 1]))
				sni_routes(H, L, L->w + i + 1, j - i - 1, li, up);
			i = j;
			continue;
		}
		acl_routes(H, si, L, w, li, up);
	}
}

/* Carries a mode tcp frontend or listen section si over as a listener. */
static void
hfrontend(struct hp *H, size_t si)
{
	const struct hsec *s = &H->s[si];
	const struct hline *head = &H->l[s->head];
	const struct hline *mode = hfind(H, si, "mode", NULL);
	char addr[96], why[256];
	if (mode != NULL && (mode->n != 2 || strcmp(mode->w[1], "tcp") != 0)) {
		hnote(H, head, "not mode tcp: the section is left out (write switchyard `kind: "
		    "http` listeners for HTTP by hand)");
		return;
	}
	long li = imp_listener_add(H->m, head->n > 1 ? head->w[1] : "frontend");
	if (li < 0)
		return;
	bool ppin = false, def = false;
	for (size_t i = s->first; i < s->end; i++) {
		const struct hline *L = &H->l[i];
		const char *k = L->w[0];
		if (strcmp(k, "bind") == 0 && L->n >= 2) {
			bool skip = false;
			for (size_t j = 2; j < L->n; j++) {
				if (strcmp(L->w[j], "accept-proxy") == 0) {
					ppin = true;
				} else if (strcmp(L->w[j], "ssl") == 0) {
					hnote(H, L, "ssl: HAProxy terminates TLS here; switchyard passes it "
					    "through by SNI: this bind is left out");
					skip = true;
				} else {
					hnote(H, L, "bind parameter `%s` and what follows: not carried over",
					    L->w[j]);
					break;
				}
			}
			if (skip)
				continue;
			char list[IMPORT_TOKEN_MAX + 1];
			snprintf(list, sizeof list, "%s", L->w[1]);
			for (char *a = list, *comma; a != NULL; a = comma) {
				if ((comma = strchr(a, ',')) != NULL)
					*comma++ = '\0';
				const char *bad;
				if (!haddr(a, addr, sizeof addr, &bad))
					hnote(H, L, "%s: %s", a, bad);
				else if (imp_listen_add(H->m, (size_t)li, addr, why, sizeof why) == -1)
					hnote(H, L, "%s: %s", a, why);
			}
		} else if (strcmp(k, "tcp-request") == 0 && L->n == 3 &&
		    strcmp(L->w[1], "inspect-delay") == 0) {
			uint64_t ms;
			if (imp_duration(L->w[2], 1, &ms) == -1)
				hnote(H, L, "not a duration");
			else
				H->m->l[li].preread_ms = hclamp(H, L, ms, CONF_PREREAD_TIMEOUT_MIN,
				    CONF_PREREAD_TIMEOUT_MAX);
		} else if (strcmp(k, "tcp-request") == 0 && L->n >= 7 &&
		    strcmp(L->w[1], "content") == 0 && strcmp(L->w[2], "accept") == 0 &&
		    strcmp(L->w[3], "if") == 0 && strcmp(L->w[4], "{") == 0 && is_hello(L->w[5]) &&
		    strcmp(L->w[L->n - 1], "}") == 0) {
			continue; /* switchyard always waits for the whole ClientHello */
		} else if (strcmp(k, "use_backend") == 0 && L->n >= 2) {
			use_backend(H, si, L, (size_t)li);
		} else if (strcmp(k, "default_backend") == 0 && L->n == 2) {
			if (htarget(H, L, L->w[1], H->m->l[li].def_upstream) == 0) {
				H->m->l[li].def = IMP_ACT_UPSTREAM;
				def = true;
			}
		} else if (strcmp(k, "acl") == 0 || strcmp(k, "mode") == 0 ||
		    (strcmp(k, "timeout") == 0 && L->n > 1 && (strcmp(L->w[1], "client") == 0 ||
		    strcmp(L->w[1], "server") == 0 || strcmp(L->w[1], "tunnel") == 0 ||
		    strcmp(L->w[1], "connect") == 0))) {
			continue; /* read where they are used */
		} else if (s->kind == HS_LISTEN && (strcmp(k, "server") == 0 ||
		    strcmp(k, "default-server") == 0 || strcmp(k, "balance") == 0)) {
			continue; /* the backend half: read by hbackend */
		} else if (s->kind != HS_LISTEN) {
			hnote(H, L, "not carried over (no switchyard equivalent)");
		}
	}
	if (!def && s->kind == HS_LISTEN &&
	    htarget(H, head, head->w[1], H->m->l[li].def_upstream) == 0) {
		H->m->l[li].def = IMP_ACT_UPSTREAM;
		def = true;
	}
	if (!def)
		hnote(H, head, "no default_backend: HAProxy closes other connections; switchyard "
		    "rejects them with a TLS alert");
	if (ppin) {
		hnote(H, head, "accept-proxy: every peer must send PROXY (proxy_protocol_from: "
		    "0.0.0.0/0, ::/0); narrow the list to your load balancers");
		imp_ppfrom_add(H->m, (size_t)li, "0.0.0.0/0", why, sizeof why);
		imp_ppfrom_add(H->m, (size_t)li, "::/0", why, sizeof why);
	}
	/* Idle: the tunnel timeout once established, else the smaller of client and server. */
	uint64_t t = htimeout(H, si, "tunnel"), c = htimeout(H, si, "client"),
	    sv = htimeout(H, si, "server");
	if (t == 0)
		t = c != 0 && sv != 0 ? (c < sv ? c : sv) : c != 0 ? c : sv;
	if (t != 0)
		H->m->l[li].idle_ms = hclamp(H, head, t, CONF_IDLE_TIMEOUT_MIN, CONF_IDLE_TIMEOUT_MAX);
}

/* Reads global and defaults sections (what switchyard keeps: maxconn, nbthread). */
static void
hglobal(struct hp *H, size_t si)
{
	const struct hsec *s = &H->s[si];
	for (size_t i = s->first; i < s->end; i++) {
		const struct hline *L = &H->l[i];
		uint64_t v;
		if (s->kind == HS_GLOBAL && strcmp(L->w[0], "maxconn") == 0 && L->n == 2 &&
		    imp_duration(L->w[1], 1, &v) == 0 && v >= 1 && v <= CONF_MAX_CONNECTIONS_MAX)
			H->m->max_connections = v;
		else if (s->kind == HS_GLOBAL && strcmp(L->w[0], "nbthread") == 0 && L->n == 2 &&
		    imp_duration(L->w[1], 1, &v) == 0 && v >= 1 && v <= CONF_WORKERS_MAX)
			snprintf(H->m->workers, sizeof H->m->workers, "%llu", (unsigned long long)v);
		else if (s->kind == HS_DEFAULTS && (strcmp(L->w[0], "mode") == 0 ||
		    strcmp(L->w[0], "balance") == 0 || strcmp(L->w[0], "timeout") == 0 ||
		    strcmp(L->w[0], "default-server") == 0))
			continue; /* inherited by the sections that follow */
		else
			hnote(H, L, "not carried over (no switchyard equivalent)");
	}
}

int
import_haproxy(struct imp *m, const char *path, const struct imp_io *io, char *err,
    size_t errlen)
{
	struct hp H = { .m = m, .file = path, .err = err, .errlen = errlen };
	char *buf = NULL;
	size_t len;
	int rc = -1;
	err[0] = '\0';
	if (io->read(io->ctx, path, &buf, &len, err, errlen) == -1)
		return -1;
	unsigned line = 1;
	for (const char *p = buf, *e = buf + len; p < e; line++) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl != NULL ? nl : e;
		if (split_line(&H, p, le, line) == -1)
			goto out;
		p = nl != NULL ? nl + 1 : e;
	}
	/* Sections: each line either opens one or belongs to the one open. */
	long defaults = -1;
	for (size_t i = 0; i < H.nl; i++) {
		enum hkind k = section_kind(H.l[i].w[0]);
		if (k == HS_NONE) {
			if (H.ns == 0) {
				hfail(&H, H.l[i].line, "`%s` outside of any section", H.l[i].w[0]);
				goto out;
			}
			continue;
		}
		if ((k == HS_FRONTEND || k == HS_BACKEND || k == HS_LISTEN) && H.l[i].n < 2) {
			hfail(&H, H.l[i].line, "%s needs a name", H.l[i].w[0]);
			goto out;
		}
		struct hsec *s = realloc(H.s, (H.ns + 1) * sizeof *s);
		if (s == NULL) {
			hfail(&H, H.l[i].line, "out of memory");
			goto out;
		}
		H.s = s;
		if (H.ns > 0)
			H.s[H.ns - 1].end = i;
		H.s[H.ns] = (struct hsec){ k, i, i + 1, H.nl, k == HS_DEFAULTS ? -1 : defaults };
		if (k == HS_DEFAULTS)
			defaults = (long)H.ns;
		H.ns++;
	}
	for (size_t i = 0; i < H.ns; i++) {
		const struct hline *head = &H.l[H.s[i].head];
		switch (H.s[i].kind) {
		case HS_GLOBAL:
		case HS_DEFAULTS:
			hglobal(&H, i);
			break;
		case HS_FRONTEND:
		case HS_LISTEN:
			hfrontend(&H, i);
			break;
		case HS_BACKEND:
			break;
		default:
			hnote(&H, head, "this section is not carried over");
		}
	}
	for (size_t i = 0; i < H.ns; i++)
		if (H.s[i].kind == HS_BACKEND && imp_upstream_find(m, H.l[H.s[i].head].w[1]) < 0)
			hnote(&H, &H.l[H.s[i].head], "no frontend uses this backend: left out");
	rc = m->oom ? -1 : 0;
	if (m->oom)
		snprintf(err, errlen, "out of memory");
out:
	for (size_t i = 0; i < H.nl; i++) {
		for (size_t j = 0; j < H.l[i].n; j++)
			free(H.l[i].w[j]);
		free(H.l[i].w);
	}
	free(H.l);
	free(H.s);
	free(buf);
	return rc;
}
