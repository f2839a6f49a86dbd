/*
 * The shared half of `switchyard import`: the model the nginx and HAProxy parsers fill,
 * the checks that keep it loadable (names, patterns, addresses, as core/conf.c checks
 * them), the YAML writer, the real-filesystem I/O and the command line. The writer quotes
 * every string and turns every note into one printable comment line, so nothing read from
 * the source file can end a comment early or inject a key. No logging: this runs before
 * (and instead of) the daemon.
 */
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/confval.h"
#include "proto/hostname.h"
#include "router/import.h"

const char import_help[] =
"\n"
"Migrating from nginx or HAProxy:\n"
"  switchyard import nginx FILE\n"
"                     Read an nginx configuration whose stream {} block routes by SNI\n"
"                     (ssl_preread on; map $ssl_preread_server_name; upstream; proxy_pass;\n"
"                     proxy_protocol on; includes) and print the switchyard configuration\n"
"                     that does the same on stdout.\n"
"  switchyard import haproxy FILE\n"
"                     The same for a HAProxy `mode tcp` frontend/listen that routes with\n"
"                     req.ssl_sni / use_backend (send-proxy[-v2], accept-proxy, balance).\n"
"  Whatever cannot be carried over is listed in comments at the top, each with its\n"
"  file:line and why. Exit status: 0 written; 2 bad usage, unreadable file or a syntax\n"
"  error (printed as file:line: what).\n";

/* Grows *arr (of elements sz) to hold n + 1; false on overflow or out of memory. */
static bool
grow(void *arrp, size_t n, size_t sz)
{
	void **arr = arrp;
	if (n != 0 && (n & (n - 1)) != 0) /* capacity: n rounded up to a power of two */
		return true;
	size_t cap = n == 0 ? 1 : n * 2;
	if (cap > SIZE_MAX / sz)
		return false;
	void *p = realloc(*arr, cap * sz);
	if (p == NULL)
		return false;
	*arr = p;
	return true;
}

/* Appends a copy of s to the string list; false (and m->oom) on failure. */
static bool
push_str(struct imp *m, char ***list, size_t *n, const char *s)
{
	char *c = strdup(s);
	if (c == NULL || !grow(list, *n, sizeof **list)) {
		free(c);
		m->oom = true;
		return false;
	}
	(*list)[(*n)++] = c;
	return true;
}

/* Frees a string list. */
static void
free_strs(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void
imp_init(struct imp *m, const char *tool, const char *source)
{
	memset(m, 0, sizeof *m);
	m->tool = tool;
	snprintf(m->source, sizeof m->source, "%s", source);
}

void
imp_free(struct imp *m)
{
	for (size_t i = 0; i < m->nl; i++) {
		struct imp_listener *l = &m->l[i];
		free_strs(l->listen, l->nlisten);
		free_strs(l->pp_from, l->npp_from);
		for (size_t j = 0; j < l->nroutes; j++)
			free_strs(l->routes[j].snis, l->routes[j].nsnis);
		free(l->routes);
	}
	free(m->l);
	for (size_t i = 0; i < m->nu; i++)
		free_strs(m->u[i].servers, m->u[i].nservers);
	free(m->u);
	free_strs(m->notes, m->nnotes);
	memset(m, 0, sizeof *m);
}

void
imp_note(struct imp *m, const char *file, unsigned line, const char *fmt, ...)
{
	char text[IMPORT_NOTE_MAX];
	int n = snprintf(text, sizeof text, "%s:%u: ", file, line);
	if (n < 0 || (size_t)n >= sizeof text)
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
	va_end(ap);
	/* One printable line: a newline from the source would end the comment. */
	for (char *p = text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	for (size_t i = 0; i < m->nnotes; i++)
		if (strcmp(m->notes[i], text) == 0)
			return; /* one map or upstream used by two servers: said once */
	if (m->nnotes >= IMPORT_NOTES_MAX) {
		m->notes_dropped++;
		return;
	}
	push_str(m, &m->notes, &m->nnotes, text);
}

/* True when s is a name the loader takes for a listener or an upstream. */
static bool
name_ok(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > CONF_NAME_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

/* True when name is taken by an upstream (kind 'u') or a listener (kind 'l'). */
static bool
name_taken(const struct imp *m, char kind, const char *name)
{
	if (kind == 'u') {
		for (size_t i = 0; i < m->nu; i++)
			if (strcmp(m->u[i].name, name) == 0)
				return true;
	} else {
		for (size_t i = 0; i < m->nl; i++)
			if (strcmp(m->l[i].name, name) == 0)
				return true;
	}
	return false;
}

void
imp_unique_name(const struct imp *m, char kind, const char *s, char out[CONF_NAME_MAX + 1])
{
	char base[CONF_NAME_MAX + 1], cand[CONF_NAME_MAX + 16];
	size_t n = 0;
	for (; *s != '\0' && n < CONF_NAME_MAX - 6; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.';
		base[n++] = ok ? c : '_';
	}
	if (n == 0)
		base[n++] = kind;
	base[n] = '\0';
	snprintf(out, CONF_NAME_MAX + 1, "%s", base);
	/* At most IMPORT_DIRECTIVES_MAX names exist, so a free suffix is always found. */
	for (unsigned k = 2; name_taken(m, kind, out) && k < 100000; k++) {
		snprintf(cand, sizeof cand, "%s-%u", base, k);
		memcpy(out, cand, CONF_NAME_MAX);
		out[CONF_NAME_MAX] = '\0';
	}
}

long
imp_upstream_add(struct imp *m, const char *name)
{
	if (!name_ok(name) || name_taken(m, 'u', name))
		return -1;
	if (!grow(&m->u, m->nu, sizeof *m->u)) {
		m->oom = true;
		return -1;
	}
	struct imp_upstream *u = &m->u[m->nu];
	memset(u, 0, sizeof *u);
	snprintf(u->name, sizeof u->name, "%s", name);
	u->balance = "round_robin";
	return (long)m->nu++;
}

long
imp_upstream_find(const struct imp *m, const char *name)
{
	for (size_t i = 0; i < m->nu; i++)
		if (strcmp(m->u[i].name, name) == 0)
			return (long)i;
	return -1;
}

int
imp_server_add(struct imp *m, size_t ui, const char *addr, char *why, size_t whylen)
{
	struct conf_addr a;
	char norm[64];
	if (confval_addr(addr, &a, why, whylen) == -1)
		return -1;
	confval_addr_format(&a, norm, sizeof norm);
	struct imp_upstream *u = &m->u[ui];
	if (u->nservers >= CONF_UPSTREAM_SERVERS_MAX) {
		snprintf(why, whylen, "an upstream holds at most %d servers", CONF_UPSTREAM_SERVERS_MAX);
		return -1;
	}
	if (!push_str(m, &u->servers, &u->nservers, norm)) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

long
imp_listener_add(struct imp *m, const char *s)
{
	char name[CONF_NAME_MAX + 1];
	imp_unique_name(m, 'l', s, name);
	if (!grow(&m->l, m->nl, sizeof *m->l)) {
		m->oom = true;
		return -1;
	}
	struct imp_listener *l = &m->l[m->nl];
	memset(l, 0, sizeof *l);
	snprintf(l->name, sizeof l->name, "%s", name);
	return (long)m->nl++;
}

int
imp_listen_add(struct imp *m, size_t li, const char *addr, char *why, size_t whylen)
{
	struct conf_addr a;
	char norm[64];
	if (confval_addr(addr, &a, why, whylen) == -1)
		return -1;
	confval_addr_format(&a, norm, sizeof norm);
	for (size_t i = 0; i < m->nl; i++)
		for (size_t j = 0; j < m->l[i].nlisten; j++)
			if (strcmp(m->l[i].listen[j], norm) == 0) {
				snprintf(why, whylen, "%s is already listened on by %s", norm,
				    m->l[i].name);
				return -1;
			}
	if (!push_str(m, &m->l[li].listen, &m->l[li].nlisten, norm)) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

int
imp_ppfrom_add(struct imp *m, size_t li, const char *cidr, char *why, size_t whylen)
{
	struct conf_cidr c;
	char norm[64];
	if (confval_cidr(cidr, &c, why, whylen) == -1)
		return -1;
	confval_cidr_format(&c, norm, sizeof norm);
	struct imp_listener *l = &m->l[li];
	for (size_t i = 0; i < l->npp_from; i++)
		if (strcmp(l->pp_from[i], norm) == 0)
			return 0;
	if (!push_str(m, &l->pp_from, &l->npp_from, norm)) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

int
imp_route_add(struct imp *m, size_t li, const char *sni, enum imp_action act,
    const char *upstream, char *why, size_t whylen)
{
	char norm[HOSTNAME_BUF];
	size_t len;
	enum hostname_verdict hv = hostname_pattern_normalize((const uint8_t *)sni, strlen(sni),
	    norm, &len);
	if (hv != HOSTNAME_OK) {
		snprintf(why, whylen, "not a name switchyard matches (%s)", hostname_verdict_str(hv));
		return -1;
	}
	struct imp_listener *l = &m->l[li];
	struct imp_route *same = NULL;
	for (size_t i = 0; i < l->nroutes; i++) {
		struct imp_route *r = &l->routes[i];
		for (size_t j = 0; j < r->nsnis; j++)
			if (strcmp(r->snis[j], norm) == 0)
				return 1;
		if (r->act == act && (act != IMP_ACT_UPSTREAM || strcmp(r->upstream, upstream) == 0))
			same = r;
	}
	if (same == NULL) {
		if (!grow(&l->routes, l->nroutes, sizeof *l->routes)) {
			m->oom = true;
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		same = &l->routes[l->nroutes++];
		memset(same, 0, sizeof *same);
		same->act = act;
		if (act == IMP_ACT_UPSTREAM)
			snprintf(same->upstream, sizeof same->upstream, "%s", upstream);
	}
	if (!push_str(m, &same->snis, &same->nsnis, norm)) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

/* True when upstream name exists with at least one server. */
static bool
upstream_usable(const struct imp *m, const char *name)
{
	long i = imp_upstream_find(m, name);
	return i >= 0 && m->u[i].nservers > 0;
}

int
imp_finish(struct imp *m, char *why, size_t whylen)
{
	if (m->oom) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	size_t keep = 0;
	for (size_t i = 0; i < m->nl; i++) {
		struct imp_listener *l = &m->l[i];
		size_t rk = 0;
		for (size_t j = 0; j < l->nroutes; j++) {
			struct imp_route *r = &l->routes[j];
			if (r->act == IMP_ACT_UPSTREAM && !upstream_usable(m, r->upstream)) {
				imp_note(m, m->source, 0, "listener %s: the route of %s... to upstream "
				    "%s is left out: that upstream has no server switchyard can reach",
				    l->name, r->snis[0], r->upstream);
				free_strs(r->snis, r->nsnis);
				continue;
			}
			l->routes[rk++] = *r;
		}
		l->nroutes = rk;
		if (l->def == IMP_ACT_UPSTREAM && !upstream_usable(m, l->def_upstream)) {
			imp_note(m, m->source, 0, "listener %s: its default upstream %s has no server "
			    "switchyard can reach; the default rejects instead", l->name,
			    l->def_upstream);
			l->def = IMP_ACT_REJECT;
		}
		if (l->def == IMP_ACT_NONE)
			l->def = IMP_ACT_REJECT;
		if (l->nlisten == 0) {
			imp_note(m, m->source, 0, "listener %s has no address switchyard can listen "
			    "on; left out", l->name);
			free_strs(l->listen, l->nlisten);
			free_strs(l->pp_from, l->npp_from);
			for (size_t j = 0; j < l->nroutes; j++)
				free_strs(l->routes[j].snis, l->routes[j].nsnis);
			free(l->routes);
			continue;
		}
		m->l[keep++] = *l;
	}
	m->nl = keep;
	/* An upstream without servers would not load; nothing refers to one any more. */
	size_t uk = 0;
	for (size_t i = 0; i < m->nu; i++) {
		if (m->u[i].nservers == 0) {
			free_strs(m->u[i].servers, 0);
			continue;
		}
		m->u[uk++] = m->u[i];
	}
	m->nu = uk;
	if (m->oom) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (m->nl == 0) {
		snprintf(why, whylen, "%s: nothing to import: no %s that switchyard can carry over",
		    m->source, strcmp(m->tool, "nginx") == 0 ?
		    "stream server with a listen address and proxy_pass" :
		    "mode tcp frontend or listen section with a bind address");
		return -1;
	}
	return 0;
}

/* Writes s as a double-quoted YAML scalar (control and non-ASCII bytes escaped). */
static void
emit_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* Writes a flow list of quoted strings. */
static void
emit_list(FILE *out, char *const *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", out);
		emit_str(out, v[i]);
	}
	fputc(']', out);
}

/* Writes "key: <duration>\n" at indent. */
static void
emit_duration(FILE *out, const char *indent, const char *key, uint64_t ms)
{
	char d[32];
	confval_duration_format(ms, d, sizeof d);
	fprintf(out, "%s%s: %s\n", indent, key, d);
}

/* Writes the comment header: where it came from and the notes. */
static void
emit_header(const struct imp *m, FILE *out)
{
	fputs("# switchyard configuration imported by `switchyard import ", out);
	fputs(m->tool, out);
	fputs("` from\n#   ", out);
	for (const char *p = m->source; *p != '\0'; p++)
		fputc((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f ? '?' : *p, out);
	fputs("\n# Check it with `switchyard -t -c FILE` and read switchyard.yaml(5). Every\n"
	    "# directive that was not carried over is listed below with why.\n", out);
	if (m->nnotes == 0) {
		fputs("#\n# Not carried over: nothing.\n\n", out);
		return;
	}
	fputs("#\n# Not carried over:\n", out);
	for (size_t i = 0; i < m->nnotes; i++)
		fprintf(out, "#   %s\n", m->notes[i]);
	if (m->notes_dropped > 0)
		fprintf(out, "#   ... and %zu more notes (at most %d are listed)\n", m->notes_dropped,
		    IMPORT_NOTES_MAX);
	fputc('\n', out);
}

/* Writes one route action as a flow map body. */
static void
emit_action(FILE *out, enum imp_action act, const char *upstream)
{
	if (act == IMP_ACT_UPSTREAM) {
		fputs("upstream: ", out);
		emit_str(out, upstream);
	} else {
		fputs("reject: true", out);
	}
}

void
imp_emit(const struct imp *m, FILE *out)
{
	static const char *const pp[] = { "\"off\"", "v1", "v2" };
	emit_header(m, out);
	if (m->workers[0] != '\0' || m->max_connections != 0) {
		fputs("process:\n", out);
		if (m->workers[0] != '\0')
			fprintf(out, "  workers: %s\n", m->workers);
		if (m->max_connections != 0)
			fprintf(out, "  max_connections: %llu\n", (unsigned long long)m->max_connections);
		fputc('\n', out);
	}
	fputs("listeners:\n", out);
	for (size_t i = 0; i < m->nl; i++) {
		const struct imp_listener *l = &m->l[i];
		fputs("  - name: ", out);
		emit_str(out, l->name);
		fputs("\n    listen: ", out);
		emit_list(out, l->listen, l->nlisten);
		fputs("\n    kind: tls\n", out);
		if (l->npp_from > 0) {
			fputs("    proxy_protocol_from: ", out);
			emit_list(out, l->pp_from, l->npp_from);
			fputc('\n', out);
		}
		if (l->preread_ms != 0)
			emit_duration(out, "    ", "preread_timeout", l->preread_ms);
		if (l->idle_ms != 0)
			emit_duration(out, "    ", "idle_timeout", l->idle_ms);
		fputs("    routes:\n", out);
		for (size_t j = 0; j < l->nroutes; j++) {
			const struct imp_route *r = &l->routes[j];
			fputs("      - sni: ", out);
			emit_list(out, r->snis, r->nsnis);
			fputs("\n        ", out);
			emit_action(out, r->act, r->upstream);
			fputc('\n', out);
		}
		fputs("      - default: {", out);
		emit_action(out, l->def, l->def_upstream);
		fputs("}\n", out);
	}
	if (m->nu > 0)
		fputs("\nupstreams:\n", out);
	for (size_t i = 0; i < m->nu; i++) {
		const struct imp_upstream *u = &m->u[i];
		fputs("  ", out);
		emit_str(out, u->name);
		fputs(":\n    servers: ", out);
		emit_list(out, u->servers, u->nservers);
		fprintf(out, "\n    proxy_protocol: %s\n    balance: %s\n", pp[u->pp], u->balance);
		if (u->connect_ms != 0)
			emit_duration(out, "    ", "connect_timeout", u->connect_ms);
		if (u->health) {
			char iv[32];
			confval_duration_format(u->hc_interval_ms, iv, sizeof iv);
			fprintf(out, "    health_check: {interval: %s, rise: %u, fall: %u", iv,
			    u->hc_rise, u->hc_fall);
			/* The default check timeout may not exceed a shorter interval. */
			if (u->hc_interval_ms < CONF_HC_TIMEOUT_DEFAULT)
				fprintf(out, ", timeout: %s", iv);
			fputs("}\n", out);
		}
	}
}

int
imp_duration(const char *s, uint64_t unit_ms, uint64_t *ms)
{
	static const struct { const char *u; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
		{ "w", 604800000 }, { "M", 2592000000ull }, { "y", 31536000000ull },
	};
	uint64_t total = 0;
	bool any = false;
	const char *p = s;
	while (*p != '\0') {
		uint64_t v = 0;
		const char *d = p;
		while (*p >= '0' && *p <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				return -1;
			v = v * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (p == d)
			return -1;
		uint64_t mul = 0;
		if (*p == '\0') {
			if (any)
				return -1; /* "1m30" */
			mul = unit_ms;
		} else if (p[0] == 'u' && p[1] == 's') {
			/* microseconds: rounded up to whole milliseconds */
			p += 2;
			v = v / 1000 + (v % 1000 != 0);
			mul = 1;
		} else {
			for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
				size_t n = strlen(units[i].u);
				if (strncmp(p, units[i].u, n) == 0 && !(n == 1 && p[0] == 'm' && p[1] == 's')) {
					mul = units[i].ms;
					p += n;
					break;
				}
			}
			if (mul == 0)
				return -1;
		}
		if (v != 0 && mul > UINT64_MAX / v)
			return -1;
		if (total > UINT64_MAX - v * mul)
			return -1;
		total += v * mul;
		any = true;
	}
	if (!any)
		return -1;
	*ms = total;
	return 0;
}

/* Real filesystem: reads a regular file of at most IMPORT_FILE_MAX bytes. */
static int
files_read(void *ctx, const char *path, char **buf, size_t *len, char *why, size_t whylen)
{
	(void)ctx;
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	if (f == NULL) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", path);
		goto fail;
	}
	if ((b = malloc(IMPORT_FILE_MAX + 1)) == NULL) {
		snprintf(why, whylen, "%s: out of memory", path);
		goto fail;
	}
	size_t n = fread(b, 1, IMPORT_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(why, whylen, "%s: read error", path);
		goto fail;
	}
	if (n > IMPORT_FILE_MAX) {
		snprintf(why, whylen, "%s: larger than %u bytes", path, IMPORT_FILE_MAX);
		goto fail;
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
fail:
	free(b);
	fclose(f);
	return -1;
}

/* Real filesystem: glob(3), sorted; no match is an empty list. */
static int
files_glob(void *ctx, const char *pattern, size_t max, char ***paths, size_t *n, char *why,
    size_t whylen)
{
	(void)ctx;
	glob_t g;
	*paths = NULL;
	*n = 0;
	int rc = glob(pattern, GLOB_ERR, NULL, &g);
	if (rc == GLOB_NOMATCH) {
		globfree(&g);
		return 0;
	}
	if (rc != 0) {
		snprintf(why, whylen, "%s: cannot expand the pattern", pattern);
		globfree(&g);
		return -1;
	}
	if (g.gl_pathc > max) {
		snprintf(why, whylen, "%s: more than %zu files", pattern, max);
		globfree(&g);
		return -1;
	}
	char **v = calloc(g.gl_pathc + 1, sizeof *v);
	if (v == NULL)
		goto oom;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if ((v[i] = strdup(g.gl_pathv[i])) == NULL) {
			free_strs(v, i);
			goto oom;
		}
	}
	*paths = v;
	*n = g.gl_pathc;
	globfree(&g);
	return 0;
oom:
	snprintf(why, whylen, "out of memory");
	globfree(&g);
	return -1;
}

const struct imp_io imp_io_files = { files_read, files_glob, NULL };

bool
import_is_command(const char *word)
{
	return strcmp(word, "import") == 0;
}

int
import_main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "nginx") != 0 && strcmp(argv[1], "haproxy") != 0)) {
		fputs("Usage: switchyard import nginx|haproxy FILE\n", stderr);
		return IMPORT_EXIT_BAD;
	}
	struct imp m;
	char err[IMPORT_ERR_MAX];
	bool nginx = strcmp(argv[1], "nginx") == 0;
	imp_init(&m, nginx ? "nginx" : "haproxy", argv[2]);
	int rc = nginx ? import_nginx(&m, argv[2], &imp_io_files, err, sizeof err) :
	    import_haproxy(&m, argv[2], &imp_io_files, err, sizeof err);
	if (rc == 0)
		rc = imp_finish(&m, err, sizeof err);
	if (rc == -1) {
		fprintf(stderr, "switchyard import: %s\n", err);
		imp_free(&m);
		return IMPORT_EXIT_BAD;
	}
	imp_emit(&m, stdout);
	imp_free(&m);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "switchyard import: stdout: %s\n", strerror(errno));
		return IMPORT_EXIT_BAD;
	}
	return IMPORT_EXIT_OK;
}
