/*
 * The configuration schema (DESIGN.md §3): walks the merged YAML tree that conf_tree.c
 * built and turns it into a struct conf, checking every key, type, range, name and
 * cross-reference on the way. The first problem found stops the load with
 * "file:line:column: key.path: what is wrong". It never checks that files named in the
 * configuration exist (the terminator does at start) and never keeps a pointer into the
 * tree, which is freed before conf_load returns.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/conf_int.h"
#include "core/confval.h"
#include "proto/hostname.h"

#define SUGGEST_MAX 2 /* edit distance for "did you mean" */

/* An upstream name and its index in conf->upstreams. */
struct upref {
	const char *name;
	size_t      index;
};

/* Validation state: the conf being filled, and the key path of the node being read. */
struct val {
	struct conf       *c;
	struct conf_arena *a;     /* the conf's arena */
	struct conf_arena *tmp;   /* the tree's arena, for scratch arrays */
	struct conf_error *err;
	const char        *name;  /* the main file, for errors about an empty document */
	char               path[CONF_PATH_MAX];
	size_t             plen;
	/* Upstream names sorted for lookups from routes. */
	struct upref      *uprefs;
	size_t             nuprefs;
};

/* Appends ".key" (or "key" at the top) to the key path; returns the length to pop to. */
static size_t
push_key(struct val *V, const char *key)
{
	size_t old = V->plen;
	int w = snprintf(V->path + old, sizeof V->path - old, "%s%.64s", old ? "." : "", key);
	if (w > 0)
		V->plen = old + (size_t)w < sizeof V->path ? old + (size_t)w : sizeof V->path - 1;
	return old;
}

/* Appends "[i]" to the key path; returns the length to pop to. */
static size_t
push_index(struct val *V, unsigned i)
{
	size_t old = V->plen;
	int w = snprintf(V->path + old, sizeof V->path - old, "[%u]", i);
	if (w > 0)
		V->plen = old + (size_t)w < sizeof V->path ? old + (size_t)w : sizeof V->path - 1;
	return old;
}

/* Cuts the key path back to a length push_* returned. */
static void
pop(struct val *V, size_t old)
{
	V->plen = old;
	V->path[old] = '\0';
}

/* Reports an error at node n with the current key path; returns -1. */
static int __attribute__((format(printf, 3, 4)))
fail(struct val *V, const struct cnode *n, const char *fmt, ...)
{
	char what[CONF_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return conf_errorf(V->err, n->file->path, n->line, n->col, V->path, "%s", what);
}

/* Reports out of memory at node n. */
static int
oom(struct val *V, const struct cnode *n)
{
	return fail(V, n, "out of memory");
}

/* Echo of a user value in messages, cut to a sane length. */
#define VAL_FMT "`%.48s%s`"
#define VAL_ARG(n) (n)->str, (n)->len > 48 ? "..." : ""

/* The closest candidate within SUGGEST_MAX edits, or NULL. */
static const char *
suggest(const char *s, const char *const *cands)
{
	const char *best = NULL;
	unsigned bestd = SUGGEST_MAX + 1;
	for (size_t i = 0; cands[i] != NULL; i++) {
		unsigned d = conf_edit_distance(s, cands[i], SUGGEST_MAX);
		if (d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	return best;
}

/* True when s is one of the NULL-terminated cands. */
static bool
in_set(const char *s, const char *const *cands)
{
	for (size_t i = 0; cands[i] != NULL; i++)
		if (strcmp(s, cands[i]) == 0)
			return true;
	return false;
}

/* Refuses a map node that is not a map (null is fine: callers treat it as empty). */
static int
want_map(struct val *V, const struct cnode *v)
{
	if (v->kind != CNODE_MAP)
		return fail(V, v, "expected a map, got %s", cnode_kind_name(v));
	return 0;
}

static bool keyset_listed(const char *const *keys);

/* Refuses keys of map that are not in keys, with a suggestion when one is close. */
static int
check_keys(struct val *V, const struct cnode *map, const char *const *keys)
{
	if (!keyset_listed(keys)) {
		/* A programming error, not a configuration one: the set must be documented. */
		fprintf(stderr, "conf: a key set at %s is missing from keysets[]\n", V->path);
		abort();
	}
	for (const struct cnode *k = map->head; k != NULL; k = k->next) {
		if (in_set(k->str, keys))
			continue;
		const char *s = suggest(k->str, keys);
		push_key(V, k->str);
		if (s != NULL)
			return fail(V, k, "unknown key; did you mean `%s`?", s);
		return fail(V, k, "unknown key");
	}
	return 0;
}

/* The value of key in map, or NULL when absent or null; *kp gets the key node. */
static struct cnode *
lookup(const struct cnode *map, const char *key, struct cnode **kp)
{
	struct cnode *k = map != NULL ? cnode_map_key(map, key) : NULL;
	if (kp != NULL)
		*kp = k;
	if (k == NULL || cnode_is_null(k->val))
		return NULL;
	return k->val;
}

/* Reports a required key that is absent (at the map) or null (at the key). */
static int
missing(struct val *V, const struct cnode *map, const struct cnode *k, const char *key,
    const char *why)
{
	size_t old = push_key(V, key);
	int rc;
	if (k != NULL)
		rc = fail(V, k->val != NULL ? k->val : k, "has no value (%s)", why);
	else
		rc = fail(V, map, "missing (%s)", why);
	pop(V, old);
	return rc;
}

/* Refuses a value that is not a scalar. */
static int
want_scalar(struct val *V, const struct cnode *v)
{
	if (v->kind != CNODE_SCALAR)
		return fail(V, v, "expected a string, got %s", cnode_kind_name(v));
	return 0;
}

/* Reads an optional or required non-empty string; absent leaves *out alone. */
static int
get_str(struct val *V, const struct cnode *map, const char *key, bool required, char **out)
{
	struct cnode *k, *v = lookup(map, key, &k);
	if (v == NULL)
		return required ? missing(V, map, k, key, "required") : 0;
	size_t old = push_key(V, key);
	int rc = want_scalar(V, v);
	if (rc == 0 && v->len == 0)
		rc = fail(V, v, "must not be empty");
	if (rc == 0 && (*out = conf_arena_strdup(V->a, v->str)) == NULL)
		rc = oom(V, v);
	pop(V, old);
	return rc;
}

/* A path value resolved against the directory of the file that wrote it. */
static char *
resolve_path(struct val *V, const struct cnode *v)
{
	if (v->str[0] == '/' || v->file->dir == NULL)
		return conf_arena_strdup(V->a, v->str);
	size_t n = strlen(v->file->dir) + 1 + v->len + 1;
	char *p = conf_arena_alloc(V->a, n);
	if (p != NULL)
		snprintf(p, n, "%s%s%s", v->file->dir,
		    v->file->dir[strlen(v->file->dir) - 1] == '/' ? "" : "/", v->str);
	return p;
}

/* Checks and resolves a file path value already known to be a scalar. */
static int
path_value(struct val *V, const struct cnode *v, char **out)
{
	if (v->len == 0)
		return fail(V, v, "must not be empty");
	*out = resolve_path(V, v);
	if (*out == NULL)
		return oom(V, v);
	if (strlen(*out) >= PATH_MAX)
		return fail(V, v, "path is longer than %d bytes", PATH_MAX - 1);
	return 0;
}

/* Reads a file path; relative paths resolve against the writing file's directory. */
static int
get_path(struct val *V, const struct cnode *map, const char *key, bool required, char **out)
{
	struct cnode *k, *v = lookup(map, key, &k);
	if (v == NULL)
		return required ? missing(V, map, k, key, "required") : 0;
	size_t old = push_key(V, key);
	int rc = want_scalar(V, v);
	if (rc == 0)
		rc = path_value(V, v, out);
	pop(V, old);
	return rc;
}

/* Reads true/false (unquoted, YAML 1.2 core spellings) from a value node. */
static int
bool_value(struct val *V, const struct cnode *v, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", NULL };
	static const char *const no[] = { "false", "False", "FALSE", NULL };
	if (want_scalar(V, v) == -1)
		return -1;
	if (v->plain && in_set(v->str, yes))
		*out = true;
	else if (v->plain && in_set(v->str, no))
		*out = false;
	else
		return fail(V, v, VAL_FMT ": expected true or false", VAL_ARG(v));
	return 0;
}

/* Reads an optional boolean key; absent leaves *out alone. */
static int
get_bool(struct val *V, const struct cnode *map, const char *key, bool *out)
{
	struct cnode *v = lookup(map, key, NULL);
	if (v == NULL)
		return 0;
	size_t old = push_key(V, key);
	int rc = bool_value(V, v, out);
	pop(V, old);
	return rc;
}

/* Reads one of names (index into *out), suggesting the closest on a typo. */
static int
get_enum(struct val *V, const struct cnode *map, const char *key, const char *const *names,
    int *out)
{
	struct cnode *v = lookup(map, key, NULL);
	if (v == NULL)
		return 0;
	size_t old = push_key(V, key);
	int rc = want_scalar(V, v);
	if (rc == 0) {
		rc = -1;
		for (int i = 0; names[i] != NULL; i++) {
			if (strcmp(v->str, names[i]) == 0) {
				*out = i;
				rc = 0;
			}
		}
		if (rc == -1) {
			char list[256];
			size_t used = 0;
			list[0] = '\0';
			for (int i = 0; names[i] != NULL && used < sizeof list; i++) {
				int w = snprintf(list + used, sizeof list - used, "%s%s",
				    i ? ", " : "", names[i]);
				if (w > 0)
					used += (size_t)w;
			}
			const char *s = suggest(v->str, names);
			if (s != NULL)
				fail(V, v, VAL_FMT ": expected one of %s (did you mean `%s`?)",
				    VAL_ARG(v), list, s);
			else
				fail(V, v, VAL_FMT ": expected one of %s", VAL_ARG(v), list);
		}
	}
	pop(V, old);
	return rc;
}

/* Reads a duration in [min, max] milliseconds; absent leaves *out (the default). */
static int
get_duration(struct val *V, const struct cnode *map, const char *key, uint64_t min,
    uint64_t max, uint64_t *out)
{
	struct cnode *v = lookup(map, key, NULL);
	if (v == NULL)
		return 0;
	size_t old = push_key(V, key);
	char why[CONFVAL_WHY_MAX];
	uint64_t ms;
	int rc = want_scalar(V, v);
	if (rc == 0 && confval_duration(v->str, &ms, why, sizeof why) == -1)
		rc = fail(V, v, "%s", why);
	if (rc == 0 && (ms < min || ms > max)) {
		char a[32], b[32];
		confval_duration_format(min, a, sizeof a);
		confval_duration_format(max, b, sizeof b);
		rc = fail(V, v, VAL_FMT ": must be from %s to %s", VAL_ARG(v), a, b);
	}
	if (rc == 0)
		*out = ms;
	pop(V, old);
	return rc;
}

/* Reads a size in [min, max] bytes; absent leaves *out (the default). */
static int
get_size(struct val *V, const struct cnode *map, const char *key, uint64_t min, uint64_t max,
    uint32_t *out)
{
	struct cnode *v = lookup(map, key, NULL);
	if (v == NULL)
		return 0;
	size_t old = push_key(V, key);
	char why[CONFVAL_WHY_MAX];
	uint64_t bytes;
	int rc = want_scalar(V, v);
	if (rc == 0 && confval_size(v->str, &bytes, why, sizeof why) == -1)
		rc = fail(V, v, "%s", why);
	if (rc == 0 && (bytes < min || bytes > max))
		rc = fail(V, v, VAL_FMT ": must be from %llu to %llu bytes", VAL_ARG(v),
		    (unsigned long long)min, (unsigned long long)max);
	if (rc == 0)
		*out = (uint32_t)bytes;
	pop(V, old);
	return rc;
}

/* Reads a whole number in [min, max]; absent leaves *out (the default). */
static int
get_uint(struct val *V, const struct cnode *map, const char *key, uint64_t min, uint64_t max,
    uint64_t *out)
{
	struct cnode *v = lookup(map, key, NULL);
	if (v == NULL)
		return 0;
	size_t old = push_key(V, key);
	char why[CONFVAL_WHY_MAX];
	int rc = want_scalar(V, v);
	if (rc == 0 && confval_uint(v->str, min, max, out, why, sizeof why) == -1)
		rc = fail(V, v, "%s", why);
	pop(V, old);
	return rc;
}

/*
 * Collects the items of a value that may be one string or a list of strings. *items
 * (scratch memory) gets the scalar nodes; *single tells the path has no [i] part.
 */
static int
string_items(struct val *V, const struct cnode *v, bool allow_single, bool nonempty,
    const struct cnode ***items, size_t *n, bool *single)
{
	*single = false;
	if (v->kind == CNODE_SCALAR && allow_single) {
		*items = conf_arena_calloc(V->tmp, 1, sizeof **items);
		if (*items == NULL)
			return oom(V, v);
		(*items)[0] = v;
		*n = 1;
		*single = true;
		return 0;
	}
	if (v->kind != CNODE_SEQ)
		return fail(V, v, "expected %s, got %s",
		    allow_single ? "a string or a list of strings" : "a list of strings",
		    cnode_kind_name(v));
	if (nonempty && v->count == 0)
		return fail(V, v, "must not be empty");
	*items = conf_arena_calloc(V->tmp, v->count ? v->count : 1, sizeof **items);
	if (*items == NULL)
		return oom(V, v);
	size_t i = 0;
	for (const struct cnode *x = v->head; x != NULL; x = x->next) {
		if (x->kind != CNODE_SCALAR || cnode_is_null(x)) {
			size_t old = push_index(V, x->index);
			fail(V, x, "expected a string, got %s", cnode_kind_name(x));
			pop(V, old);
			return -1;
		}
		(*items)[i++] = x;
	}
	*n = i;
	return 0;
}

/* Pushes the path part of item i of a string_items result. */
static size_t
push_item(struct val *V, const struct cnode *x, bool single)
{
	return single ? V->plen : push_index(V, x->index);
}

/* Reads a list of CIDRs (a single string is accepted too). */
static int
get_cidrs(struct val *V, const struct cnode *map, const char *key, struct conf_cidr **out,
    size_t *nout)
{
	struct cnode *v = lookup(map, key, NULL);
	if (v == NULL)
		return 0;
	size_t old = push_key(V, key);
	const struct cnode **items;
	size_t n;
	bool single;
	int rc = string_items(V, v, true, false, &items, &n, &single);
	if (rc == 0 && n > 0 && (*out = conf_arena_calloc(V->a, n, sizeof **out)) == NULL)
		rc = oom(V, v);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char why[CONFVAL_WHY_MAX];
		size_t o2 = push_item(V, items[i], single);
		if (confval_cidr(items[i]->str, &(*out)[i], why, sizeof why) == -1)
			rc = fail(V, items[i], "%s", why);
		pop(V, o2);
	}
	if (rc == 0)
		*nout = n;
	pop(V, old);
	return rc;
}

/* One listen address seen anywhere in the file, for the "same address twice" check. */
struct seen_addr {
	const struct conf_addr *addr;
	const struct cnode     *node;
	size_t                  order;
	char                   *path;
};

/* Ordering of seen addresses: by family, address, port, then by order of appearance. */
static int
seen_cmp(const void *a, const void *b)
{
	const struct seen_addr *x = a, *y = b;
	int c = memcmp(&x->addr->ss, &y->addr->ss, sizeof x->addr->ss);
	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Reads a list of ip:port (a single string is accepted too); non-empty when required. */
static int
get_addrs(struct val *V, const struct cnode *map, const char *key, bool required,
    struct conf_addr **out, size_t *nout)
{
	struct cnode *k, *v = lookup(map, key, &k);
	if (v == NULL)
		return required ? missing(V, map, k, key, "required") : 0;
	size_t old = push_key(V, key);
	const struct cnode **items;
	size_t n;
	bool single;
	int rc = string_items(V, v, true, true, &items, &n, &single);
	if (rc == 0 && (*out = conf_arena_calloc(V->a, n, sizeof **out)) == NULL)
		rc = oom(V, v);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char why[CONFVAL_WHY_MAX];
		size_t o2 = push_item(V, items[i], single);
		if (confval_addr(items[i]->str, &(*out)[i], why, sizeof why) == -1)
			rc = fail(V, items[i], "%s", why);
		pop(V, o2);
	}
	if (rc == 0)
		*nout = n;
	pop(V, old);
	return rc;
}

static const char *const root_keys[] = {
	"include", "process", "log", "admin", "listeners", "upstreams", "terminator", NULL
};
static const char *const process_keys[] = {
	"workers", "user", "max_connections", "shutdown_timeout", NULL
};
static const char *const log_keys[] = { "level", "access", "format", "skip_from", NULL };
static const char *const admin_keys[] = { "listen", NULL };
static const char *const listener_keys[] = {
	"name", "listen", "kind", "proxy_protocol_from", "preread_timeout",
	"proxy_protocol_timeout", "max_hello", "idle_timeout", "max_preread_per_ip",
	"max_connections_per_ip", "https_port", "trusted_forwarders", "routes", NULL
};
static const char *const tls_route_keys[] = { "sni", "upstream", "terminate", "reject",
	"default", NULL };
static const char *const http_route_keys[] = { "host", "upstream", "redirect_https", "site",
	"default", NULL };
static const char *const tls_action_keys[] = { "upstream", "terminate", "reject", NULL };
static const char *const http_action_keys[] = { "upstream", "redirect_https", "site", NULL };
static const char *const upstream_keys[] = {
	"servers", "proxy_protocol", "balance", "connect_timeout", "fast_open", "health_check", NULL
};
static const char *const health_keys[] = { "interval", "rise", "fall", "timeout", NULL };
static const char *const terminator_keys[] = {
	"certificates", "tls_min_version", "alpn", "site", "vpn", NULL
};
static const char *const cert_keys[] = { "cert", "key", NULL };
static const char *const site_keys[] = { "root", "health_path", NULL };
static const char *const vpn_keys[] = {
	"path", "identity_key", "prekey_bundle", "clients", "open", "replay_window", "state_dir",
	"egress", "dns", "max_sessions", "max_flows", "flow_stall_timeout", "tun", NULL
};
static const char *const vpn_dns_keys[] = { "servers", "timeout", NULL };
static const char *const egress_keys[] = { "deny", "allow", NULL };
static const char *const tun_keys[] = { "enabled", "name", "address", "mtu", "dns",
	"client_to_client", NULL };

/*
 * Every key set above, under the dotted path a reader writes its keys with ("[]": any list
 * element, "*": any name). switchyard.yaml(5) documents exactly these keys (the unit test
 * test_confkeys compares them), and check_keys refuses to run with a set that is not
 * listed here, so a new set cannot escape that comparison.
 */
static const struct {
	const char        *at;
	const char *const *keys;
} keysets[] = {
	{ "", root_keys },
	{ "process", process_keys },
	{ "log", log_keys },
	{ "admin", admin_keys },
	{ "listeners[]", listener_keys },
	{ "listeners[].routes[]", tls_route_keys },
	{ "listeners[].routes[]", http_route_keys },
	{ "listeners[].routes[].default", tls_action_keys },
	{ "listeners[].routes[].default", http_action_keys },
	{ "upstreams.*", upstream_keys },
	{ "upstreams.*.health_check", health_keys },
	{ "terminator", terminator_keys },
	{ "terminator.certificates[]", cert_keys },
	{ "terminator.site", site_keys },
	{ "terminator.vpn", vpn_keys },
	{ "terminator.vpn.dns", vpn_dns_keys },
	{ "terminator.vpn.egress", egress_keys },
	{ "terminator.vpn.tun", tun_keys },
};

/* Calls fn with the full dotted name of every key the loader accepts (a name may come
 * twice when two sets share it, e.g. upstream in TLS and HTTP routes). */
void
conf_keys_each(void (*fn)(const char *key, void *arg), void *arg)
{
	char name[CONF_PATH_MAX];
	for (size_t i = 0; i < sizeof keysets / sizeof keysets[0]; i++) {
		for (const char *const *k = keysets[i].keys; *k != NULL; k++) {
			snprintf(name, sizeof name, "%s%s%s", keysets[i].at, keysets[i].at[0] ? "." : "",
			    *k);
			fn(name, arg);
		}
	}
}

/* True when keys is one of keysets (check_keys' guard). */
static bool
keyset_listed(const char *const *keys)
{
	for (size_t i = 0; i < sizeof keysets / sizeof keysets[0]; i++)
		if (keysets[i].keys == keys)
			return true;
	return false;
}

static const char *const level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const format_names[] = { "text", "json", NULL };
static const char *const pp_names[] = { "off", "v1", "v2", NULL };
static const char *const balance_names[] = { "round_robin", "random", "source", "least_conn",
	NULL };
static const char *const range_names[] = { "loopback", "private", "link_local", "cgnat",
	"multicast", "reserved", "unspecified", NULL };

/* process: workers, user, max_connections, shutdown_timeout. */
static int
do_process(struct val *V, const struct cnode *m)
{
	struct conf_process *p = &V->c->process;
	uint64_t v;
	if (check_keys(V, m, process_keys) == -1)
		return -1;
	struct cnode *w = lookup(m, "workers", NULL);
	if (w != NULL && !(w->kind == CNODE_SCALAR && strcmp(w->str, "auto") == 0)) {
		size_t old = push_key(V, "workers");
		int rc = want_scalar(V, w);
		if (rc == 0 && confval_uint(w->str, 1, CONF_WORKERS_MAX, &v, NULL, 0) == -1)
			rc = fail(V, w, VAL_FMT ": expected auto or a number from 1 to %d",
			    VAL_ARG(w), CONF_WORKERS_MAX);
		pop(V, old);
		if (rc == -1)
			return -1;
		p->workers = (unsigned)v;
	} else if (w != NULL) {
		p->workers = CONF_WORKERS_AUTO;
	}
	if (get_str(V, m, "user", false, &p->user) == -1)
		return -1;
	if (p->user != NULL) {
		const struct cnode *u = lookup(m, "user", NULL);
		char at[PATH_MAX + 48];
		snprintf(at, sizeof at, "%s:%u:%u", u->file->path, (unsigned)u->line, (unsigned)u->col);
		if ((p->user_at = conf_arena_strdup(V->a, at)) == NULL)
			return oom(V, u);
	}
	v = p->max_connections;
	if (get_uint(V, m, "max_connections", 1, CONF_MAX_CONNECTIONS_MAX, &v) == -1)
		return -1;
	p->max_connections = (uint32_t)v;
	return get_duration(V, m, "shutdown_timeout", 0, CONF_SHUTDOWN_TIMEOUT_MAX,
	    &p->shutdown_timeout_ms);
}

/* log: level, access (stderr | off | path), format, skip_from. */
static int
do_log(struct val *V, const struct cnode *m)
{
	struct conf_log *l = &V->c->log;
	int e;
	if (check_keys(V, m, log_keys) == -1)
		return -1;
	e = (int)l->level;
	if (get_enum(V, m, "level", level_names, &e) == -1)
		return -1;
	l->level = (enum conf_log_level)e;
	e = (int)l->format;
	if (get_enum(V, m, "format", format_names, &e) == -1)
		return -1;
	l->format = (enum conf_log_format)e;
	if (get_cidrs(V, m, "skip_from", &l->skip_from, &l->nskip_from) == -1)
		return -1;
	struct cnode *v = lookup(m, "access", NULL);
	if (v == NULL)
		return 0;
	size_t old = push_key(V, "access");
	int rc = want_scalar(V, v);
	if (rc == 0 && strcmp(v->str, "stderr") == 0) {
		l->access = CONF_ACCESS_STDERR;
	} else if (rc == 0 && strcmp(v->str, "off") == 0) {
		l->access = CONF_ACCESS_OFF;
	} else if (rc == 0) {
		l->access = CONF_ACCESS_FILE;
		rc = path_value(V, v, &l->access_path);
	}
	pop(V, old);
	return rc;
}

/* admin: listen. */
static int
do_admin(struct val *V, const struct cnode *m)
{
	if (check_keys(V, m, admin_keys) == -1)
		return -1;
	struct cnode *v = lookup(m, "listen", NULL);
	if (v == NULL)
		return 0;
	size_t old = push_key(V, "listen");
	char why[CONFVAL_WHY_MAX];
	int rc = want_scalar(V, v);
	if (rc == 0 && confval_addr(v->str, &V->c->admin.listen, why, sizeof why) == -1)
		rc = fail(V, v, "%s", why);
	if (rc == 0)
		V->c->admin.enabled = true;
	pop(V, old);
	return rc;
}

/* True when s is a usable listener or upstream name (metrics labels, logs). */
static bool
name_ok(const char *s, size_t len)
{
	if (len == 0 || len > CONF_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* health_check: {interval, rise, fall, timeout}. */
static int
do_health(struct val *V, const struct cnode *m, struct conf_health *h)
{
	uint64_t v;
	if (want_map(V, m) == -1 || check_keys(V, m, health_keys) == -1)
		return -1;
	h->enabled = true;
	if (get_duration(V, m, "interval", CONF_HC_INTERVAL_MIN, CONF_HC_INTERVAL_MAX,
	    &h->interval_ms) == -1)
		return -1;
	v = h->rise;
	if (get_uint(V, m, "rise", 1, CONF_HC_COUNT_MAX, &v) == -1)
		return -1;
	h->rise = (unsigned)v;
	v = h->fall;
	if (get_uint(V, m, "fall", 1, CONF_HC_COUNT_MAX, &v) == -1)
		return -1;
	h->fall = (unsigned)v;
	if (get_duration(V, m, "timeout", CONF_HC_TIMEOUT_MIN, CONF_HC_TIMEOUT_MAX,
	    &h->timeout_ms) == -1)
		return -1;
	if (h->timeout_ms > h->interval_ms) {
		char a[32], b[32];
		confval_duration_format(h->timeout_ms, a, sizeof a);
		confval_duration_format(h->interval_ms, b, sizeof b);
		return fail(V, m, "timeout (%s) must not exceed interval (%s)", a, b);
	}
	return 0;
}

/* One upstream: name -> {servers, proxy_protocol, balance, connect_timeout, fast_open,
 * health_check}. */
static int
do_upstream(struct val *V, const struct cnode *k, struct conf_upstream *u)
{
	const struct cnode *m = k->val;
	int e;
	if (!name_ok(k->str, k->len))
		return fail(V, k, "not a valid upstream name (letters, digits, `_`, `-`, `.`; "
		    "at most %d)", CONF_NAME_MAX);
	if ((u->name = conf_arena_strdup(V->a, k->str)) == NULL)
		return oom(V, k);
	u->proxy_protocol = CONF_PP_OFF;
	u->balance = CONF_BALANCE_ROUND_ROBIN;
	u->connect_timeout_ms = CONF_CONNECT_TIMEOUT_DEFAULT;
	u->health.interval_ms = CONF_HC_INTERVAL_DEFAULT;
	u->health.timeout_ms = CONF_HC_TIMEOUT_DEFAULT;
	u->health.rise = CONF_HC_RISE_DEFAULT;
	u->health.fall = CONF_HC_FALL_DEFAULT;
	if (cnode_is_null(m))
		return fail(V, k, "has no value (a map with `servers`)");
	if (want_map(V, m) == -1 || check_keys(V, m, upstream_keys) == -1)
		return -1;
	if (get_addrs(V, m, "servers", true, &u->servers, &u->nservers) == -1)
		return -1;
	if (u->nservers > CONF_UPSTREAM_SERVERS_MAX) {
		/* The balancer tracks the servers one connection has tried in a 64-bit mask:
		 * servers past it would never get traffic, so refuse them here. */
		const struct cnode *x = lookup(m, "servers", NULL)->head;
		for (size_t i = 0; i < CONF_UPSTREAM_SERVERS_MAX; i++)
			x = x->next;
		size_t o1 = push_key(V, "servers"), o2 = push_index(V, x->index);
		fail(V, x, "upstream `%s` has %zu servers; at most %d can be balanced", u->name,
		    u->nservers, CONF_UPSTREAM_SERVERS_MAX);
		pop(V, o2);
		pop(V, o1);
		return -1;
	}
	e = (int)u->proxy_protocol;
	if (get_enum(V, m, "proxy_protocol", pp_names, &e) == -1)
		return -1;
	u->proxy_protocol = (enum conf_proxy_protocol)e;
	e = (int)u->balance;
	if (get_enum(V, m, "balance", balance_names, &e) == -1)
		return -1;
	u->balance = (enum conf_balance)e;
	if (get_duration(V, m, "connect_timeout", CONF_CONNECT_TIMEOUT_MIN,
	    CONF_CONNECT_TIMEOUT_MAX, &u->connect_timeout_ms) == -1)
		return -1;
	if (get_bool(V, m, "fast_open", &u->fast_open) == -1)
		return -1;
	struct cnode *h = lookup(m, "health_check", NULL);
	if (h != NULL) {
		size_t old = push_key(V, "health_check");
		int rc = do_health(V, h, &u->health);
		pop(V, old);
		return rc;
	}
	return 0;
}

/* Orders upstream references by name, for bsearch from routes. */
static int
upref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct upref *)a)->name, ((const struct upref *)b)->name);
}

/* upstreams: a map of name -> upstream. */
static int
do_upstreams(struct val *V, const struct cnode *m)
{
	if (want_map(V, m) == -1)
		return -1;
	V->c->nupstreams = m->count;
	if (m->count == 0)
		return 0;
	V->c->upstreams = conf_arena_calloc(V->a, m->count, sizeof *V->c->upstreams);
	V->uprefs = conf_arena_calloc(V->tmp, m->count, sizeof *V->uprefs);
	if (V->c->upstreams == NULL || V->uprefs == NULL)
		return oom(V, m);
	size_t i = 0;
	for (const struct cnode *k = m->head; k != NULL; k = k->next, i++) {
		size_t old = push_key(V, k->str);
		int rc = do_upstream(V, k, &V->c->upstreams[i]);
		pop(V, old);
		if (rc == -1)
			return -1;
		V->uprefs[i].name = V->c->upstreams[i].name;
		V->uprefs[i].index = i;
	}
	V->nuprefs = i;
	qsort(V->uprefs, V->nuprefs, sizeof *V->uprefs, upref_cmp);
	return 0;
}

/* The index of upstream name in conf->upstreams, or -1. */
static long
upstream_find(const struct val *V, const char *name)
{
	size_t lo = 0, hi = V->nuprefs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, V->uprefs[mid].name);
		if (c == 0)
			return (long)V->uprefs[mid].index;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* A URL path for the VPN endpoint or the health check: '/' then unreserved characters. */
static int
url_path_value(struct val *V, const struct cnode *v, bool trailing_slash_ok, char **out)
{
	if (v->len == 0 || v->str[0] != '/')
		return fail(V, v, VAL_FMT ": must start with `/`", VAL_ARG(v));
	if (v->len > CONF_URL_PATH_MAX)
		return fail(V, v, "longer than %d bytes", CONF_URL_PATH_MAX);
	for (size_t i = 0; i < v->len; i++) {
		char c = v->str[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '/' || c == '-' || c == '_' || c == '.' || c == '~'))
			return fail(V, v, VAL_FMT ": only letters, digits, `/`, `-`, `_`, `.` and `~` "
			    "are allowed", VAL_ARG(v));
	}
	if (!trailing_slash_ok && v->len > 1 && v->str[v->len - 1] == '/')
		return fail(V, v, VAL_FMT ": must not end with `/`", VAL_ARG(v));
	if (!trailing_slash_ok && v->len == 1)
		return fail(V, v, VAL_FMT ": must not be just `/`", VAL_ARG(v));
	if ((*out = conf_arena_strdup(V->a, v->str)) == NULL)
		return oom(V, v);
	return 0;
}

/* terminator.certificates: list of {cert, key}. */
static int
do_certificates(struct val *V, const struct cnode *v, struct conf_terminator *t)
{
	if (v->kind != CNODE_SEQ)
		return fail(V, v, "expected a list, got %s", cnode_kind_name(v));
	if (v->count == 0)
		return 0;
	t->certificates = conf_arena_calloc(V->a, v->count, sizeof *t->certificates);
	if (t->certificates == NULL)
		return oom(V, v);
	size_t i = 0;
	for (const struct cnode *x = v->head; x != NULL; x = x->next, i++) {
		size_t old = push_index(V, x->index);
		int rc = want_map(V, x);
		if (rc == 0)
			rc = check_keys(V, x, cert_keys);
		if (rc == 0)
			rc = get_path(V, x, "cert", true, &t->certificates[i].cert);
		if (rc == 0)
			rc = get_path(V, x, "key", true, &t->certificates[i].key);
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	t->ncertificates = i;
	return 0;
}

/* terminator.alpn: only http/1.1 is served. */
static int
do_alpn(struct val *V, const struct cnode *v, struct conf_terminator *t)
{
	const struct cnode **items;
	size_t n;
	bool single;
	if (string_items(V, v, true, false, &items, &n, &single) == -1)
		return -1;
	t->alpn_http11 = false;
	for (size_t i = 0; i < n; i++) {
		const struct cnode *x = items[i];
		if (strcmp(x->str, "http/1.1") == 0) {
			t->alpn_http11 = true;
			continue;
		}
		size_t old = push_item(V, x, single);
		if (strcmp(x->str, "h2") == 0)
			fail(V, x, "`h2`: HTTP/2 is not served; use http/1.1");
		else
			fail(V, x, VAL_FMT ": unknown protocol; only http/1.1 is served", VAL_ARG(x));
		pop(V, old);
		return -1;
	}
	return 0;
}

/* terminator.vpn.egress: {deny: [range names or CIDRs], allow: [CIDRs]}. */
static int
do_egress(struct val *V, const struct cnode *m, struct conf_egress *eg)
{
	if (want_map(V, m) == -1 || check_keys(V, m, egress_keys) == -1)
		return -1;
	struct cnode *k, *v = lookup(m, "deny", &k);
	if (k != NULL) {
		/* Given (even empty or null): it replaces the default deny-all-ranges. */
		eg->deny_ranges = 0;
	}
	if (v != NULL) {
		size_t old = push_key(V, "deny");
		const struct cnode **items;
		size_t n;
		bool single;
		int rc = string_items(V, v, true, false, &items, &n, &single);
		if (rc == 0 && n > 0 && (eg->deny = conf_arena_calloc(V->a, n, sizeof *eg->deny)) ==
		    NULL)
			rc = oom(V, v);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const struct cnode *x = items[i];
			size_t o2 = push_item(V, x, single);
			bool named = false;
			for (unsigned r = 0; range_names[r] != NULL; r++) {
				if (strcmp(x->str, range_names[r]) == 0) {
					eg->deny_ranges |= 1u << r;
					named = true;
				}
			}
			char why[CONFVAL_WHY_MAX];
			if (!named && strpbrk(x->str, ".:/") == NULL) {
				const char *s = suggest(x->str, range_names);
				if (s != NULL)
					rc = fail(V, x, VAL_FMT ": unknown range; did you mean `%s`?",
					    VAL_ARG(x), s);
				else
					rc = fail(V, x, VAL_FMT ": unknown range (loopback, private, "
					    "link_local, cgnat, multicast, reserved, unspecified, or a CIDR)", VAL_ARG(x));
			} else if (!named) {
				if (confval_cidr(x->str, &eg->deny[eg->ndeny], why, sizeof why) == -1)
					rc = fail(V, x, "%s", why);
				else
					eg->ndeny++;
			}
			pop(V, o2);
		}
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	return get_cidrs(V, m, "allow", &eg->allow, &eg->nallow);
}

/* True when s is a usable network interface name. */
static bool
ifname_ok(const char *s, size_t len)
{
	if (len == 0 || len > CONF_TUN_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

#define CONF_STR_(x) #x
#define CONF_STR(x)  CONF_STR_(x)

/* An enabled TUN's address: IPv4 (leases are IPv4 only, rvpn-protocol.md §7.5), a prefix
 * between CONF_TUN_PREFIX_MIN and _MAX (room for the .3 lease, a bounded pool), and a host
 * address that is neither the network nor the broadcast address. */
static int
tun_check_address(struct val *V, const struct cnode *m, const struct conf_tun *t)
{
	const struct cnode *x = lookup(m, "address", NULL);
	const struct cnode *at = x != NULL ? x : lookup(m, "enabled", NULL);
	size_t old = push_key(V, x != NULL ? "address" : "enabled");
	const char *why = NULL;
	if (t->address.family != AF_INET) {
		why = "the TUN address must be IPv4 (leases are IPv4 only)";
	} else if (t->address.prefix < CONF_TUN_PREFIX_MIN ||
	    t->address.prefix > CONF_TUN_PREFIX_MAX) {
		why = "the TUN prefix must be between /" CONF_STR(CONF_TUN_PREFIX_MIN) " and /"
		    CONF_STR(CONF_TUN_PREFIX_MAX);
	} else {
		uint32_t a = (uint32_t)t->address.addr[0] << 24 | (uint32_t)t->address.addr[1] << 16 |
		    (uint32_t)t->address.addr[2] << 8 | t->address.addr[3];
		uint32_t host = a & (UINT32_MAX >> t->address.prefix);
		if (host == 0 || host == UINT32_MAX >> t->address.prefix)
			why = "the TUN address is the network or broadcast address";
	}
	int rc = why == NULL ? 0 : x != NULL ? fail(V, x, VAL_FMT ": %s", VAL_ARG(x), why) :
	    fail(V, at, "%s (the default address)", why);
	pop(V, old);
	return rc;
}

/* terminator.vpn.tun: {enabled, name, address, mtu, dns, client_to_client}. */
static int
do_tun(struct val *V, const struct cnode *m, struct conf_tun *t)
{
	uint64_t v;
	char why[CONFVAL_WHY_MAX];
	if (want_map(V, m) == -1 || check_keys(V, m, tun_keys) == -1)
		return -1;
	if (get_bool(V, m, "enabled", &t->enabled) == -1 ||
	    get_bool(V, m, "client_to_client", &t->client_to_client) == -1)
		return -1;
	struct cnode *x = lookup(m, "name", NULL);
	if (x != NULL) {
		size_t old = push_key(V, "name");
		int rc = want_scalar(V, x);
		if (rc == 0 && !ifname_ok(x->str, x->len))
			rc = fail(V, x, VAL_FMT ": an interface name is 1 to %d letters, digits, "
			    "`_`, `-` or `.`", VAL_ARG(x), CONF_TUN_NAME_MAX);
		if (rc == 0)
			memcpy(t->name, x->str, x->len + 1);
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	x = lookup(m, "address", NULL);
	if (x != NULL) {
		size_t old = push_key(V, "address");
		int rc = want_scalar(V, x);
		if (rc == 0 && confval_ifaddr(x->str, &t->address, why, sizeof why) == -1)
			rc = fail(V, x, "%s", why);
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	v = t->mtu;
	if (get_uint(V, m, "mtu", CONF_TUN_MTU_MIN, CONF_TUN_MTU_MAX, &v) == -1)
		return -1;
	t->mtu = (uint32_t)v;
	x = lookup(m, "dns", NULL);
	if (x != NULL) {
		size_t old = push_key(V, "dns");
		const struct cnode **items;
		size_t n;
		bool single;
		int rc = string_items(V, x, true, false, &items, &n, &single);
		if (rc == 0 && n > 0 && (t->dns = conf_arena_calloc(V->a, n, sizeof *t->dns)) == NULL)
			rc = oom(V, x);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			size_t o2 = push_item(V, items[i], single);
			if (confval_ip(items[i]->str, 53, &t->dns[i], why, sizeof why) == -1)
				rc = fail(V, items[i], "%s", why);
			pop(V, o2);
		}
		if (rc == 0 && n > CONF_TUN_DNS_MAX)
			rc = fail(V, x, "at most %d servers (the VirtualIp message's limit)",
			    CONF_TUN_DNS_MAX);
		if (rc == 0)
			t->ndns = n;
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	if (t->enabled && t->mtu > CONF_TUN_MTU_FRAME_MAX) {
		x = lookup(m, "mtu", NULL);
		size_t old = push_key(V, "mtu");
		fail(V, x, VAL_FMT ": with the TUN enabled, at most %u (one packet per mux frame)",
		    VAL_ARG(x), CONF_TUN_MTU_FRAME_MAX);
		pop(V, old);
		return -1;
	}
	if (t->enabled)
		return tun_check_address(V, m, t);
	return 0;
}

/* terminator.vpn.dns: {servers: ["IP[:port]", ...], timeout}. */
static int
do_vpn_dns(struct val *V, const struct cnode *m, struct conf_vpn_dns *d)
{
	char why[CONFVAL_WHY_MAX];
	if (want_map(V, m) == -1 || check_keys(V, m, vpn_dns_keys) == -1)
		return -1;
	if (get_duration(V, m, "timeout", CONF_VPN_DNS_TIMEOUT_MIN, CONF_VPN_DNS_TIMEOUT_MAX,
	    &d->timeout_ms) == -1)
		return -1;
	struct cnode *x = lookup(m, "servers", NULL);
	if (x == NULL)
		return 0;
	size_t old = push_key(V, "servers");
	const struct cnode **items;
	size_t n;
	bool single;
	int rc = string_items(V, x, true, false, &items, &n, &single);
	if (rc == 0 && n > CONF_VPN_DNS_SERVERS_MAX)
		rc = fail(V, x, "%zu servers: at most %d", n, CONF_VPN_DNS_SERVERS_MAX);
	if (rc == 0 && n > 0 && (d->servers = conf_arena_calloc(V->a, n, sizeof *d->servers)) ==
	    NULL)
		rc = oom(V, x);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t o2 = push_item(V, items[i], single);
		/* "IP" (port 53) or "IP:port" / "[v6]:port"; a bare IPv6 parses as an IP. */
		char why2[CONFVAL_WHY_MAX];
		if (confval_ip(items[i]->str, 53, &d->servers[i], why, sizeof why) == -1 &&
		    confval_addr(items[i]->str, &d->servers[i], why2, sizeof why2) == -1)
			rc = fail(V, items[i], "%s", strchr(items[i]->str, ':') != NULL ? why2 : why);
		pop(V, o2);
	}
	if (rc == 0)
		d->nservers = n;
	pop(V, old);
	return rc;
}

/* terminator.vpn. */
static int
do_vpn(struct val *V, const struct cnode *m, struct conf_vpn *vpn)
{
	if (want_map(V, m) == -1 || check_keys(V, m, vpn_keys) == -1)
		return -1;
	vpn->enabled = true;
	struct cnode *x = lookup(m, "path", NULL);
	if (x != NULL) {
		size_t old = push_key(V, "path");
		int rc = want_scalar(V, x);
		if (rc == 0)
			rc = url_path_value(V, x, false, &vpn->path);
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	if (get_path(V, m, "identity_key", true, &vpn->identity_key) == -1 ||
	    get_path(V, m, "prekey_bundle", true, &vpn->prekey_bundle) == -1 ||
	    get_bool(V, m, "open", &vpn->open) == -1 ||
	    get_path(V, m, "clients", false, &vpn->clients) == -1)
		return -1;
	if (!vpn->open && vpn->clients == NULL) {
		struct cnode *k;
		lookup(m, "clients", &k);
		return missing(V, m, k, "clients", "required unless `open: true`");
	}
	if ((x = lookup(m, "egress", NULL)) != NULL) {
		size_t old = push_key(V, "egress");
		int rc = do_egress(V, x, &vpn->egress);
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	if (get_duration(V, m, "replay_window", CONF_VPN_REPLAY_MIN, CONF_VPN_REPLAY_MAX,
	    &vpn->replay_window_ms) == -1 ||
	    get_path(V, m, "state_dir", false, &vpn->state_dir) == -1 ||
	    get_uint(V, m, "max_sessions", 1, CONF_VPN_SESSIONS_MAX, &vpn->max_sessions) == -1 ||
	    get_uint(V, m, "max_flows", 1, CONF_VPN_FLOWS_MAX, &vpn->max_flows) == -1 ||
	    get_duration(V, m, "flow_stall_timeout", CONF_VPN_STALL_MIN, CONF_VPN_STALL_MAX,
	    &vpn->flow_stall_ms) == -1)
		return -1;
	if ((x = lookup(m, "dns", NULL)) != NULL) {
		size_t old = push_key(V, "dns");
		int rc = do_vpn_dns(V, x, &vpn->dns);
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	if ((x = lookup(m, "tun", NULL)) != NULL) {
		size_t old = push_key(V, "tun");
		int rc = do_tun(V, x, &vpn->tun);
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* terminator: certificates, tls_min_version, alpn, site, vpn. */
static int
do_terminator(struct val *V, const struct cnode *m)
{
	struct conf_terminator *t = &V->c->terminator;
	struct cnode *x;
	size_t old;
	int rc = 0;
	if (check_keys(V, m, terminator_keys) == -1)
		return -1;
	if ((x = lookup(m, "certificates", NULL)) != NULL) {
		old = push_key(V, "certificates");
		rc = do_certificates(V, x, t);
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	if ((x = lookup(m, "tls_min_version", NULL)) != NULL) {
		old = push_key(V, "tls_min_version");
		rc = want_scalar(V, x);
		/* Unquoted 1.2 is a YAML float; its text is the same, so both spellings work. */
		if (rc == 0 && strcmp(x->str, "1.2") == 0)
			t->tls_min_version = 0x0303;
		else if (rc == 0 && strcmp(x->str, "1.3") == 0)
			t->tls_min_version = 0x0304;
		else if (rc == 0)
			rc = fail(V, x, VAL_FMT ": expected \"1.2\" or \"1.3\"", VAL_ARG(x));
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	if ((x = lookup(m, "alpn", NULL)) != NULL) {
		old = push_key(V, "alpn");
		rc = do_alpn(V, x, t);
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	if ((x = lookup(m, "site", NULL)) != NULL) {
		old = push_key(V, "site");
		rc = want_map(V, x);
		if (rc == 0)
			rc = check_keys(V, x, site_keys);
		if (rc == 0)
			rc = get_path(V, x, "root", false, &t->site.root);
		struct cnode *h = rc == 0 ? lookup(x, "health_path", NULL) : NULL;
		if (h != NULL) {
			size_t o2 = push_key(V, "health_path");
			rc = want_scalar(V, h);
			if (rc == 0)
				rc = url_path_value(V, h, true, &t->site.health_path);
			pop(V, o2);
		}
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	if ((x = lookup(m, "vpn", NULL)) != NULL) {
		old = push_key(V, "vpn");
		rc = do_vpn(V, x, &t->vpn);
		pop(V, old);
	}
	return rc;
}

/* One normalised route pattern seen in a listener, for the "pattern twice" check. */
struct seen_pat {
	const char         *name;
	const struct cnode *node;
	size_t              order;
	unsigned            route;  /* route item index in its file */
	bool                single; /* written as one string, not a list */
};

/* Ordering of seen patterns: by name, then by order of appearance. */
static int
seen_pat_cmp(const void *a, const void *b)
{
	const struct seen_pat *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Per-listener state while reading its routes. */
struct lctx {
	struct conf_listener *l;
	const char           *pat_key;    /* "sni" or "host" */
	const char *const    *action_keys;
	struct seen_pat      *pats;
	size_t                npats;
	size_t                cappats;
	const struct cnode   *default_node;
};

/* Reads exactly one action from map m (a route item or a default) into r. */
static int
route_action(struct val *V, struct lctx *X, const struct cnode *m, struct conf_route *r)
{
	const struct cnode *first = NULL;
	bool tls = X->l->kind == CONF_LISTENER_TLS;
	for (const struct cnode *k = m->head; k != NULL; k = k->next) {
		if (!in_set(k->str, X->action_keys))
			continue;
		size_t old = push_key(V, k->str);
		const struct cnode *v = k->val;
		int rc = 0;
		bool set = true;
		if (strcmp(k->str, "upstream") == 0) {
			if (cnode_is_null(v))
				rc = fail(V, k, "has no value (an upstream name)");
			else
				rc = want_scalar(V, v);
			if (rc == 0 && first == NULL) {
				long i = upstream_find(V, v->str);
				if (i < 0) {
					const char **names = conf_arena_calloc(V->tmp, V->nuprefs + 1,
					    sizeof *names);
					const char *s = NULL;
					if (names != NULL) {
						for (size_t j = 0; j < V->c->nupstreams; j++)
							names[j] = V->c->upstreams[j].name;
						s = suggest(v->str, names);
					}
					if (s != NULL)
						rc = fail(V, v, "unknown upstream " VAL_FMT
						    "; did you mean `%s`?", VAL_ARG(v), s);
					else
						rc = fail(V, v, "unknown upstream " VAL_FMT, VAL_ARG(v));
				} else {
					r->action = CONF_ACTION_UPSTREAM;
					r->upstream_index = (size_t)i;
					r->upstream = &V->c->upstreams[i];
				}
			}
		} else {
			bool b = false;
			if (cnode_is_null(v))
				rc = fail(V, k, "has no value (true)");
			else
				rc = bool_value(V, v, &b);
			set = b;
			if (rc == 0 && b && first == NULL) {
				if (strcmp(k->str, "terminate") == 0)
					r->action = CONF_ACTION_TERMINATE;
				else if (strcmp(k->str, "reject") == 0)
					r->action = CONF_ACTION_REJECT;
				else if (strcmp(k->str, "redirect_https") == 0)
					r->action = CONF_ACTION_REDIRECT_HTTPS;
				else
					r->action = CONF_ACTION_SITE;
			}
			/* terminate without terminator.certificates is fine: the terminator then
			 * makes an ephemeral self-signed certificate at start and logs so. */
		}
		if (rc == 0 && set && first != NULL)
			rc = fail(V, k, "only one action per route (`%s` is already given)",
			    first->str);
		pop(V, old);
		if (rc == -1)
			return -1;
		if (set)
			first = k;
	}
	if (first == NULL)
		return fail(V, m, tls ?
		    "needs one action: `upstream: NAME`, `terminate: true` or `reject: true`" :
		    "needs one action: `upstream: NAME`, `redirect_https: true` or `site: true`");
	return 0;
}

/* Reads the names of one route and records them for the duplicate check. */
static int
route_patterns(struct val *V, struct lctx *X, const struct cnode *m, const struct cnode *item,
    struct conf_route *r)
{
	struct cnode *k, *v = lookup(m, X->pat_key, &k);
	if (v == NULL)
		return missing(V, m, k, X->pat_key, "required");
	size_t old = push_key(V, X->pat_key);
	const struct cnode **items;
	size_t n;
	bool single;
	int rc = string_items(V, v, true, true, &items, &n, &single);
	if (rc == 0 && (r->patterns = conf_arena_calloc(V->a, n, sizeof *r->patterns)) == NULL)
		rc = oom(V, v);
	if (rc == 0 && X->npats + n > X->cappats) {
		size_t cap = (X->npats + n) * 2;
		struct seen_pat *p = conf_arena_calloc(V->tmp, cap, sizeof *p);
		if (p == NULL) {
			rc = oom(V, v);
		} else {
			if (X->npats > 0)
				memcpy(p, X->pats, X->npats * sizeof *p);
			X->pats = p;
			X->cappats = cap;
		}
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct cnode *x = items[i];
		char buf[HOSTNAME_BUF];
		size_t len;
		size_t o2 = push_item(V, x, single);
		enum hostname_verdict hv = hostname_pattern_normalize((const uint8_t *)x->str, x->len,
		    buf, &len);
		if (hv != HOSTNAME_OK) {
			rc = fail(V, x, VAL_FMT ": not a valid name pattern (%s)", VAL_ARG(x),
			    hostname_verdict_str(hv));
		} else if ((r->patterns[i].name = conf_arena_strdup(V->a, buf)) == NULL) {
			rc = oom(V, x);
		} else {
			r->patterns[i].len = len;
			r->patterns[i].wildcard = buf[0] == '*';
			struct seen_pat *sp = &X->pats[X->npats];
			sp->name = r->patterns[i].name;
			sp->node = x;
			sp->order = X->npats;
			sp->route = item->index;
			sp->single = single;
			X->npats++;
		}
		pop(V, o2);
	}
	if (rc == 0)
		r->npatterns = n;
	pop(V, old);
	return rc;
}

/* Refuses a pattern written twice in one listener, naming the first place. */
static int
check_pattern_dups(struct val *V, struct lctx *X)
{
	if (X->npats < 2)
		return 0;
	qsort(X->pats, X->npats, sizeof *X->pats, seen_pat_cmp);
	const struct seen_pat *dup = NULL, *first = NULL, *runstart = &X->pats[0];
	for (size_t i = 1; i < X->npats; i++) {
		if (strcmp(X->pats[i].name, X->pats[i - 1].name) != 0) {
			runstart = &X->pats[i];
			continue;
		}
		if (dup == NULL || X->pats[i].order < dup->order) {
			dup = &X->pats[i];
			first = runstart;
		}
	}
	if (dup == NULL)
		return 0;
	size_t old = push_index(V, dup->route);
	push_key(V, X->pat_key);
	if (!dup->single)
		push_index(V, dup->node->index);
	fail(V, dup->node, "`%s` is already routed (first at %s:%u:%u)", dup->name,
	    first->node->file->path, first->node->line, first->node->col);
	pop(V, old);
	return -1;
}

/* Refuses keys that belong to the other kind of listener, saying what to use instead. */
static int
route_wrong_kind(struct val *V, const struct lctx *X, const struct cnode *m)
{
	bool tls = X->l->kind == CONF_LISTENER_TLS;
	for (const struct cnode *k = m->head; k != NULL; k = k->next) {
		const char *msg = NULL;
		if (tls && strcmp(k->str, "host") == 0)
			msg = "`host` is for http listeners; a tls listener routes by `sni`";
		else if (!tls && strcmp(k->str, "sni") == 0)
			msg = "`sni` is for tls listeners; an http listener routes by `host`";
		else if (tls && (strcmp(k->str, "redirect_https") == 0 ||
		    strcmp(k->str, "site") == 0))
			msg = "is an http listener action; a tls route takes `upstream`, `terminate` "
			    "or `reject`";
		else if (!tls && (strcmp(k->str, "terminate") == 0 ||
		    strcmp(k->str, "reject") == 0))
			msg = "is a tls listener action; an http route takes `upstream`, "
			    "`redirect_https` or `site`";
		if (msg != NULL) {
			size_t old = push_key(V, k->str);
			fail(V, k, "%s", msg);
			pop(V, old);
			return -1;
		}
	}
	return 0;
}

/* listeners[i].routes: route items and at most one default. */
static int
do_routes(struct val *V, struct lctx *X, const struct cnode *v)
{
	struct conf_listener *l = X->l;
	bool tls = l->kind == CONF_LISTENER_TLS;
	if (v->kind != CNODE_SEQ)
		return fail(V, v, "expected a list, got %s", cnode_kind_name(v));
	if (v->count == 0)
		return fail(V, v, "must not be empty");
	l->routes = conf_arena_calloc(V->a, v->count, sizeof *l->routes);
	if (l->routes == NULL)
		return oom(V, v);
	for (const struct cnode *x = v->head; x != NULL; x = x->next) {
		size_t old = push_index(V, x->index);
		int rc = want_map(V, x);
		if (rc == 0)
			rc = route_wrong_kind(V, X, x);
		if (rc == 0)
			rc = check_keys(V, x, tls ? tls_route_keys : http_route_keys);
		struct cnode *dk = rc == 0 ? cnode_map_key(x, "default") : NULL;
		if (rc == 0 && dk != NULL) {
			for (const struct cnode *k = x->head; rc == 0 && k != NULL; k = k->next) {
				if (k == dk)
					continue;
				size_t o2 = push_key(V, k->str);
				rc = fail(V, k, "a route item with `default` holds nothing else");
				pop(V, o2);
			}
			size_t o2 = push_key(V, "default");
			if (rc == 0 && X->default_node != NULL)
				rc = fail(V, dk, "a second default (first at %s:%u:%u)",
				    X->default_node->file->path, X->default_node->line,
				    X->default_node->col);
			if (rc == 0 && cnode_is_null(dk->val))
				rc = fail(V, dk, "has no value (a map with one action)");
			if (rc == 0)
				rc = want_map(V, dk->val);
			if (rc == 0)
				rc = route_wrong_kind(V, X, dk->val);
			if (rc == 0)
				rc = check_keys(V, dk->val, tls ? tls_action_keys : http_action_keys);
			if (rc == 0)
				rc = route_action(V, X, dk->val, &l->default_route);
			if (rc == 0) {
				l->has_default = true;
				X->default_node = dk;
			}
			pop(V, o2);
		} else if (rc == 0) {
			struct conf_route *r = &l->routes[l->nroutes];
			rc = route_patterns(V, X, x, x, r);
			if (rc == 0)
				rc = route_action(V, X, x, r);
			if (rc == 0)
				l->nroutes++;
		}
		pop(V, old);
		if (rc == -1)
			return -1;
	}
	return check_pattern_dups(V, X);
}

/* Reads one listener. */
static int
do_listener(struct val *V, const struct cnode *m, struct conf_listener *l)
{
	static const char *const kinds[] = { "tls", "http", NULL };
	uint64_t v;
	int e = -1;
	struct cnode *k, *x;

	if (want_map(V, m) == -1 || check_keys(V, m, listener_keys) == -1)
		return -1;
	if (get_str(V, m, "name", true, &l->name) == -1)
		return -1;
	if (!name_ok(l->name, strlen(l->name))) {
		size_t old = push_key(V, "name");
		fail(V, lookup(m, "name", NULL), "not a valid listener name (letters, digits, `_`, "
		    "`-`, `.`; at most %d)", CONF_NAME_MAX);
		pop(V, old);
		return -1;
	}
	if (get_addrs(V, m, "listen", true, &l->listen, &l->nlisten) == -1)
		return -1;
	if (lookup(m, "kind", &k) == NULL)
		return missing(V, m, k, "kind", "required: tls or http");
	if (get_enum(V, m, "kind", kinds, &e) == -1)
		return -1;
	l->kind = e == 0 ? CONF_LISTENER_TLS : CONF_LISTENER_HTTP;
	bool tls = l->kind == CONF_LISTENER_TLS;

	static const char *const tls_only[] = { "max_hello", NULL };
	static const char *const http_only[] = { "https_port", "trusted_forwarders", NULL };
	for (const struct cnode *kk = m->head; kk != NULL; kk = kk->next) {
		if (in_set(kk->str, tls ? http_only : tls_only)) {
			size_t old = push_key(V, kk->str);
			fail(V, kk, "applies to %s listeners only", tls ? "http" : "tls");
			pop(V, old);
			return -1;
		}
	}

	l->preread_timeout_ms = CONF_PREREAD_TIMEOUT_DEFAULT;
	l->proxy_protocol_timeout_ms = CONF_PP_TIMEOUT_DEFAULT;
	l->idle_timeout_ms = CONF_IDLE_TIMEOUT_DEFAULT;
	l->max_hello = CONF_MAX_HELLO_DEFAULT;
	l->max_preread_per_ip = CONF_PREREAD_PER_IP_DEFAULT;
	l->max_connections_per_ip = CONF_CONNS_PER_IP_DEFAULT;
	l->https_port = CONF_HTTPS_PORT_DEFAULT;
	l->default_route.action = CONF_ACTION_REJECT;
	if (get_cidrs(V, m, "proxy_protocol_from", &l->proxy_from, &l->nproxy_from) == -1 ||
	    get_duration(V, m, "preread_timeout", CONF_PREREAD_TIMEOUT_MIN,
	    CONF_PREREAD_TIMEOUT_MAX, &l->preread_timeout_ms) == -1 ||
	    get_duration(V, m, "proxy_protocol_timeout", CONF_PP_TIMEOUT_MIN, CONF_PP_TIMEOUT_MAX,
	    &l->proxy_protocol_timeout_ms) == -1 ||
	    get_size(V, m, "max_hello", CONF_MAX_HELLO_MIN, CONF_MAX_HELLO_MAX, &l->max_hello) == -1 ||
	    get_duration(V, m, "idle_timeout", CONF_IDLE_TIMEOUT_MIN, CONF_IDLE_TIMEOUT_MAX,
	    &l->idle_timeout_ms) == -1)
		return -1;
	v = l->max_preread_per_ip;
	if (get_uint(V, m, "max_preread_per_ip", 1, CONF_PREREAD_PER_IP_MAX, &v) == -1)
		return -1;
	l->max_preread_per_ip = (uint32_t)v;
	v = l->max_connections_per_ip;
	if (get_uint(V, m, "max_connections_per_ip", 0, CONF_CONNS_PER_IP_MAX, &v) == -1)
		return -1;
	l->max_connections_per_ip = (uint32_t)v;
	v = l->https_port;
	if (get_uint(V, m, "https_port", 1, 65535, &v) == -1)
		return -1;
	l->https_port = (uint16_t)v;
	if (get_cidrs(V, m, "trusted_forwarders", &l->trusted_forwarders,
	    &l->ntrusted_forwarders) == -1)
		return -1;

	if ((x = lookup(m, "routes", &k)) == NULL)
		return missing(V, m, k, "routes", "required");
	struct lctx X;
	memset(&X, 0, sizeof X);
	X.l = l;
	X.pat_key = tls ? "sni" : "host";
	X.action_keys = tls ? tls_action_keys : http_action_keys;
	size_t old = push_key(V, "routes");
	int rc = do_routes(V, &X, x);
	/* do_routes reports duplicates with their own path: restore ours either way. */
	pop(V, old);
	return rc;
}

/* A listener's name node and its position in the list, for the "name twice" check. */
struct seen_name {
	const struct cnode *node;
	size_t              order;
	unsigned            index; /* listener item index in its file */
};

/* Ordering of seen names: by text, then by order of appearance. */
static int
seen_name_cmp(const void *a, const void *b)
{
	const struct seen_name *x = a, *y = b;
	int c = strcmp(x->node->str, y->node->str);
	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Refuses a listener name used twice, naming the first place (n log n). */
static int
check_listener_names(struct val *V, const struct cnode *v)
{
	size_t n = V->c->nlisteners;
	if (n < 2)
		return 0;
	struct seen_name *s = conf_arena_calloc(V->tmp, n, sizeof *s);
	if (s == NULL)
		return oom(V, v);
	size_t i = 0;
	for (const struct cnode *x = v->head; x != NULL && i < n; x = x->next, i++) {
		s[i].node = lookup(x, "name", NULL);
		s[i].order = i;
		s[i].index = x->index;
	}
	qsort(s, n, sizeof *s, seen_name_cmp);
	const struct seen_name *dup = NULL, *first = NULL, *runstart = &s[0];
	for (i = 1; i < n; i++) {
		if (strcmp(s[i].node->str, s[i - 1].node->str) != 0) {
			runstart = &s[i];
			continue;
		}
		if (dup == NULL || s[i].order < dup->order) {
			dup = &s[i];
			first = runstart;
		}
	}
	if (dup == NULL)
		return 0;
	size_t old = push_index(V, dup->index);
	push_key(V, "name");
	fail(V, dup->node, "listener name `%s` is used twice (first at %s:%u:%u)", dup->node->str,
	    first->node->file->path, first->node->line, first->node->col);
	pop(V, old);
	return -1;
}

/* Refuses the same ip:port twice in the whole configuration (listeners and admin). */
static int
check_addresses(struct val *V, const struct cnode *lv, const struct cnode *admin)
{
	size_t n = V->c->admin.enabled ? 1 : 0;
	for (size_t i = 0; i < V->c->nlisteners; i++)
		n += V->c->listeners[i].nlisten;
	if (n < 2)
		return 0;
	struct seen_addr *s = conf_arena_calloc(V->tmp, n, sizeof *s);
	if (s == NULL)
		return oom(V, lv);
	size_t k = 0;
	const struct cnode *x = lv->head;
	for (size_t i = 0; i < V->c->nlisteners; i++, x = x->next) {
		const struct cnode *lval = lookup(x, "listen", NULL);
		bool single = lval->kind == CNODE_SCALAR;
		const struct cnode *item = single ? lval : lval->head;
		for (size_t j = 0; j < V->c->listeners[i].nlisten; j++, k++) {
			char path[CONF_PATH_MAX];
			if (single)
				snprintf(path, sizeof path, "listeners[%u].listen", x->index);
			else
				snprintf(path, sizeof path, "listeners[%u].listen[%u]", x->index,
				    item->index);
			s[k].addr = &V->c->listeners[i].listen[j];
			s[k].node = item;
			s[k].order = k;
			s[k].path = conf_arena_strdup(V->tmp, path);
			if (s[k].path == NULL)
				return oom(V, item);
			if (!single)
				item = item->next;
		}
	}
	if (V->c->admin.enabled) {
		s[k].addr = &V->c->admin.listen;
		s[k].node = lookup(admin, "listen", NULL);
		s[k].order = k;
		s[k].path = "admin.listen";
		k++;
	}
	qsort(s, k, sizeof *s, seen_cmp);
	const struct seen_addr *dup = NULL, *first = NULL, *runstart = &s[0];
	for (size_t i = 1; i < k; i++) {
		if (!confval_addr_equal(s[i].addr, s[i - 1].addr)) {
			runstart = &s[i];
			continue;
		}
		if (dup == NULL || s[i].order < dup->order) {
			dup = &s[i];
			first = runstart;
		}
	}
	if (dup == NULL)
		return 0;
	char a[64];
	confval_addr_format(dup->addr, a, sizeof a);
	size_t old = V->plen;
	snprintf(V->path, sizeof V->path, "%s", dup->path);
	V->plen = strlen(V->path);
	fail(V, dup->node, "address %s is used twice (first at %s:%u:%u)", a,
	    first->node->file->path, first->node->line, first->node->col);
	pop(V, old);
	return -1;
}

/* listeners: a non-empty list. */
static int
do_listeners(struct val *V, const struct cnode *v)
{
	if (v->kind != CNODE_SEQ)
		return fail(V, v, "expected a list, got %s", cnode_kind_name(v));
	if (v->count == 0)
		return fail(V, v, "must not be empty (a file with no listeners is an error)");
	V->c->listeners = conf_arena_calloc(V->a, v->count, sizeof *V->c->listeners);
	if (V->c->listeners == NULL)
		return oom(V, v);
	for (const struct cnode *x = v->head; x != NULL; x = x->next) {
		size_t old = push_index(V, x->index);
		int rc = do_listener(V, x, &V->c->listeners[V->c->nlisteners]);
		pop(V, old);
		if (rc == -1)
			return -1;
		V->c->nlisteners++;
	}
	return check_listener_names(V, v);
}

/* Sets every default that is not zero. */
static void
set_defaults(struct conf *c)
{
	c->process.workers = 1;
	c->process.max_connections = CONF_MAX_CONNECTIONS_DEFAULT;
	c->process.shutdown_timeout_ms = CONF_SHUTDOWN_TIMEOUT_DEFAULT;
	c->log.level = CONF_LOG_INFO;
	c->log.access = CONF_ACCESS_STDERR;
	c->log.format = CONF_LOG_TEXT;
	c->terminator.tls_min_version = 0x0303;
	c->terminator.alpn_http11 = true;
	c->terminator.vpn.egress.deny_ranges = CONF_RANGE_ALL;
	c->terminator.vpn.replay_window_ms = CONF_VPN_REPLAY_DEFAULT;
	c->terminator.vpn.dns.timeout_ms = CONF_VPN_DNS_TIMEOUT_DEFAULT;
	c->terminator.vpn.max_sessions = CONF_VPN_SESSIONS_DEFAULT;
	c->terminator.vpn.max_flows = CONF_VPN_FLOWS_DEFAULT;
	c->terminator.vpn.flow_stall_ms = CONF_VPN_STALL_DEFAULT;
	c->terminator.vpn.tun.mtu = CONF_TUN_MTU_DEFAULT;
	memcpy(c->terminator.vpn.tun.name, CONF_TUN_NAME_DEFAULT, sizeof CONF_TUN_NAME_DEFAULT);
	confval_ifaddr(CONF_TUN_ADDRESS_DEFAULT, &c->terminator.vpn.tun.address, NULL, 0);
}

/* Runs a section reader under its key, when the section is present and not null. */
static int
section(struct val *V, const struct cnode *root, const char *key,
    int (*fn)(struct val *, const struct cnode *), bool map)
{
	struct cnode *v = lookup(root, key, NULL);
	if (v == NULL)
		return 0;
	size_t old = push_key(V, key);
	int rc = map ? want_map(V, v) : 0;
	if (rc == 0)
		rc = fn(V, v);
	pop(V, old);
	return rc;
}

/* Validates the merged tree into V->c. */
static int
validate(struct val *V, const struct cnode *root)
{
	set_defaults(V->c);
	if (root != NULL && check_keys(V, root, root_keys) == -1)
		return -1;
	if (section(V, root, "process", do_process, true) == -1 ||
	    section(V, root, "log", do_log, true) == -1 ||
	    section(V, root, "admin", do_admin, true) == -1 ||
	    section(V, root, "upstreams", do_upstreams, false) == -1 ||
	    section(V, root, "terminator", do_terminator, true) == -1)
		return -1;
	if (V->c->terminator.vpn.enabled && V->c->terminator.vpn.path == NULL &&
	    (V->c->terminator.vpn.path = conf_arena_strdup(V->a, CONF_VPN_PATH_DEFAULT)) == NULL)
		return oom(V, root);
	struct cnode *k, *lv = lookup(root, "listeners", &k);
	if (lv == NULL) {
		if (root == NULL)
			return conf_errorf(V->err, V->name, 1, 1, "listeners",
			    "missing (a file with no listeners is an error)");
		return missing(V, root, k, "listeners", "a file with no listeners is an error");
	}
	if (section(V, root, "listeners", do_listeners, false) == -1)
		return -1;
	return check_addresses(V, lv, lookup(root, "admin", NULL));
}

/* Shared tail of conf_load and conf_load_mem: validate the tree, free it. */
static struct conf *
finish(struct cload *L, const char *name, struct cnode *root, int rc)
{
	struct conf *c = NULL;
	struct conf_arena *a = NULL;
	if (rc == -1)
		goto out;
	if ((a = conf_arena_new()) == NULL || (c = conf_arena_alloc(a, sizeof *c)) == NULL) {
		conf_errorf(L->err, name, 1, 1, "", "out of memory");
		goto out;
	}
	c->arena = a;
	struct val V;
	memset(&V, 0, sizeof V);
	V.c = c;
	V.a = a;
	V.tmp = L->arena;
	V.err = L->err;
	V.name = name;
	if (validate(&V, root) == -1)
		goto out;
	conf_arena_free(L->arena);
	return c;
out:
	conf_arena_free(a);
	conf_arena_free(L->arena);
	return NULL;
}

/* Loads a file and its includes, then validates; NULL and err on failure. */
struct conf *
conf_load(const char *path, struct conf_error *err)
{
	struct cload L;
	struct cnode *root = NULL;
	memset(&L, 0, sizeof L);
	L.err = err;
	if (err != NULL)
		err->msg[0] = '\0';
	if ((L.arena = conf_arena_new()) == NULL) {
		conf_errorf(err, path, 1, 1, "", "out of memory");
		return NULL;
	}
	int rc = ctree_load_file(&L, path, &root);
	return finish(&L, path, root, rc);
}

/* Loads one in-memory document; include is refused here. */
struct conf *
conf_load_mem(const char *name, const uint8_t *buf, size_t len, size_t chunk,
    struct conf_error *err)
{
	struct cload L;
	struct cnode *root = NULL;
	memset(&L, 0, sizeof L);
	L.err = err;
	L.from_mem = true;
	if (err != NULL)
		err->msg[0] = '\0';
	if ((L.arena = conf_arena_new()) == NULL) {
		conf_errorf(err, name, 1, 1, "", "out of memory");
		return NULL;
	}
	int rc = ctree_load_mem(&L, name, buf, len, chunk, &root);
	return finish(&L, name, root, rc);
}

/* Frees a configuration with everything it owns. */
void
conf_free(struct conf *c)
{
	if (c != NULL)
		conf_arena_free(c->arena);
}

/* Names a route action as the file writes it. */
const char *
conf_action_name(enum conf_action a)
{
	switch (a) {
	case CONF_ACTION_UPSTREAM:
		return "upstream";
	case CONF_ACTION_TERMINATE:
		return "terminate";
	case CONF_ACTION_REJECT:
		return "reject";
	case CONF_ACTION_REDIRECT_HTTPS:
		return "redirect_https";
	case CONF_ACTION_SITE:
		return "site";
	}
	return "?";
}

/* Names a balance method as the file writes it. */
const char *
conf_balance_name(enum conf_balance b)
{
	return (unsigned)b < 4 ? balance_names[b] : "?";
}

/* Names a PROXY protocol setting as the file writes it. */
const char *
conf_proxy_protocol_name(enum conf_proxy_protocol p)
{
	return (unsigned)p < 3 ? pp_names[p] : "?";
}

/* Prints s as a YAML double-quoted string, so any value reads back as the same string. */
static void
dump_str(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', out);
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			fprintf(out, "\\%c", *p);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\x%02x", *p);
		} else if (p[0] == 0xc2 && p[1] == 0x85) {
			fputs("\\N", out); /* line breaks YAML would fold */
			p++;
		} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
			fputs(p[2] == 0xa8 ? "\\L" : "\\P", out);
			p += 2;
		} else if (*p >= 0xc0) {
			/*
			 * A value may hold, through a YAML escape, a character that YAML does not
			 * allow written raw (C1 controls, surrogates, U+FFFE/U+FFFF): escape those
			 * again, so the dump loads back as the same value.
			 */
			size_t n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
			uint32_t c = *p & (0x3f >> (n - 1));
			size_t k = 1;
			for (; k < n && (p[k] & 0xc0) == 0x80; k++)
				c = c << 6 | (p[k] & 0x3f);
			if (k < n) { /* cut sequence (never from libyaml): escape the lead byte */
				fprintf(out, "\\x%02x", *p);
				continue;
			}
			if ((c >= 0x80 && c <= 0x9f) || (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe ||
			    c == 0xffff)
				fprintf(out, "\\u%04x", (unsigned)c);
			else
				fwrite(p, 1, n, out);
			p += n - 1;
		} else {
			fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* Prints "indent key: "value"" and a newline. */
static void
dump_kv(FILE *out, const char *indent, const char *key, const char *s)
{
	fprintf(out, "%s%s: ", indent, key);
	dump_str(out, s);
	fputc('\n', out);
}

/* Prints a duration key line. */
static void
dump_ms(FILE *out, const char *indent, const char *key, uint64_t ms)
{
	char b[32];
	confval_duration_format(ms, b, sizeof b);
	fprintf(out, "%s%s: %s\n", indent, key, b);
}

/* Prints a CIDR list as a flow sequence. */
static void
dump_cidrs(FILE *out, const char *indent, const char *key, const struct conf_cidr *c, size_t n)
{
	char b[64];
	fprintf(out, "%s%s: [", indent, key);
	for (size_t i = 0; i < n; i++) {
		confval_cidr_format(&c[i], b, sizeof b);
		fprintf(out, "%s\"%s\"", i ? ", " : "", b);
	}
	fprintf(out, "]\n");
}

/* Prints an address list as a flow sequence; bare IPs when ip_only. */
static void
dump_addrs(FILE *out, const struct conf_addr *a, size_t n, bool ip_only)
{
	char b[64];
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		confval_addr_format(&a[i], b, sizeof b);
		if (ip_only) {
			/* Cut ":port" and the brackets of "[v6]". */
			char *colon = strrchr(b, ':');
			if (colon != NULL)
				*colon = '\0';
			if (b[0] == '[') {
				b[strlen(b) - 1] = '\0';
				memmove(b, b + 1, strlen(b));
			}
		}
		fprintf(out, "%s\"%s\"", i ? ", " : "", b);
	}
	fputs("]\n", out);
}

/* Prints one route's action as a flow map body. */
static void
dump_action(FILE *out, const struct conf_route *r)
{
	if (r->action == CONF_ACTION_UPSTREAM) {
		fputs("upstream: ", out);
		dump_str(out, r->upstream->name);
	} else {
		fprintf(out, "%s: true", conf_action_name(r->action));
	}
}

/* Prints a size with the largest exact unit. */
static void
dump_size(FILE *out, const char *indent, const char *key, uint64_t v)
{
	if (v != 0 && v % (1u << 20) == 0)
		fprintf(out, "%s%s: %llum\n", indent, key, (unsigned long long)(v >> 20));
	else if (v != 0 && v % 1024 == 0)
		fprintf(out, "%s%s: %lluk\n", indent, key, (unsigned long long)(v >> 10));
	else
		fprintf(out, "%s%s: %llu\n", indent, key, (unsigned long long)v);
}

/* Prints the effective configuration as YAML that loads back to the same values. */
void
conf_dump(const struct conf *c, FILE *out)
{
	static const char *const access_names[] = { "stderr", "off", "file" };
	char b[64];

	fprintf(out, "# effective configuration (defaults included, paths resolved)\n");
	fprintf(out, "process:\n");
	if (c->process.workers == CONF_WORKERS_AUTO)
		fprintf(out, "  workers: auto\n");
	else
		fprintf(out, "  workers: %u\n", c->process.workers);
	if (c->process.user != NULL)
		dump_kv(out, "  ", "user", c->process.user);
	fprintf(out, "  max_connections: %u\n", (unsigned)c->process.max_connections);
	dump_ms(out, "  ", "shutdown_timeout", c->process.shutdown_timeout_ms);
	fprintf(out, "log:\n  level: %s\n", level_names[c->log.level]);
	dump_kv(out, "  ", "access", c->log.access == CONF_ACCESS_FILE ? c->log.access_path :
	    access_names[c->log.access]);
	fprintf(out, "  format: %s\n", format_names[c->log.format]);
	dump_cidrs(out, "  ", "skip_from", c->log.skip_from, c->log.nskip_from);
	if (c->admin.enabled) {
		confval_addr_format(&c->admin.listen, b, sizeof b);
		fprintf(out, "admin:\n  listen: \"%s\"\n", b);
	}
	fprintf(out, "listeners:\n");
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		bool tls = l->kind == CONF_LISTENER_TLS;
		dump_kv(out, "  - ", "name", l->name);
		fprintf(out, "    listen: ");
		dump_addrs(out, l->listen, l->nlisten, false);
		fprintf(out, "    kind: %s\n", tls ? "tls" : "http");
		dump_cidrs(out, "    ", "proxy_protocol_from", l->proxy_from, l->nproxy_from);
		dump_ms(out, "    ", "preread_timeout", l->preread_timeout_ms);
		dump_ms(out, "    ", "proxy_protocol_timeout", l->proxy_protocol_timeout_ms);
		dump_ms(out, "    ", "idle_timeout", l->idle_timeout_ms);
		if (tls)
			dump_size(out, "    ", "max_hello", l->max_hello);
		fprintf(out, "    max_preread_per_ip: %u\n", (unsigned)l->max_preread_per_ip);
		fprintf(out, "    max_connections_per_ip: %u\n", (unsigned)l->max_connections_per_ip);
		if (!tls) {
			fprintf(out, "    https_port: %u\n", (unsigned)l->https_port);
			dump_cidrs(out, "    ", "trusted_forwarders", l->trusted_forwarders,
			    l->ntrusted_forwarders);
		}
		fprintf(out, "    routes:\n");
		for (size_t j = 0; j < l->nroutes; j++) {
			const struct conf_route *r = &l->routes[j];
			fprintf(out, "      - %s: [", tls ? "sni" : "host");
			for (size_t p = 0; p < r->npatterns; p++)
				fprintf(out, "%s\"%s\"", p ? ", " : "", r->patterns[p].name);
			fprintf(out, "]\n        ");
			dump_action(out, r);
			fprintf(out, "\n");
		}
		if (l->has_default) {
			fprintf(out, "      - default: {");
			dump_action(out, &l->default_route);
			fprintf(out, "}\n");
		} else {
			fprintf(out, "      # no default: unmatched connections are refused\n");
		}
	}
	fprintf(out, "upstreams:%s\n", c->nupstreams ? "" : " {}");
	for (size_t i = 0; i < c->nupstreams; i++) {
		const struct conf_upstream *u = &c->upstreams[i];
		fputs("  ", out);
		dump_str(out, u->name);
		fprintf(out, ":\n    servers: ");
		dump_addrs(out, u->servers, u->nservers, false);
		fprintf(out, "    proxy_protocol: %s\n    balance: %s\n",
		    conf_proxy_protocol_name(u->proxy_protocol), conf_balance_name(u->balance));
		dump_ms(out, "    ", "connect_timeout", u->connect_timeout_ms);
		if (u->fast_open)
			fprintf(out, "    fast_open: true\n");
		if (u->health.enabled) {
			fprintf(out, "    health_check:\n");
			dump_ms(out, "      ", "interval", u->health.interval_ms);
			dump_ms(out, "      ", "timeout", u->health.timeout_ms);
			fprintf(out, "      rise: %u\n      fall: %u\n", u->health.rise, u->health.fall);
		}
	}
	const struct conf_terminator *t = &c->terminator;
	fprintf(out, "terminator:\n  certificates:%s\n", t->ncertificates ? "" : " []");
	for (size_t i = 0; i < t->ncertificates; i++) {
		dump_kv(out, "    - ", "cert", t->certificates[i].cert);
		dump_kv(out, "      ", "key", t->certificates[i].key);
	}
	fprintf(out, "  tls_min_version: \"%s\"\n  alpn: [%s]\n",
	    t->tls_min_version == 0x0304 ? "1.3" : "1.2", t->alpn_http11 ? "http/1.1" : "");
	fprintf(out, "  site:\n");
	if (t->site.root != NULL)
		dump_kv(out, "    ", "root", t->site.root);
	if (t->site.health_path != NULL)
		dump_kv(out, "    ", "health_path", t->site.health_path);
	else
		fprintf(out, "    health_path: null\n");
	const struct conf_vpn *v = &t->vpn;
	if (!v->enabled)
		return;
	fprintf(out, "  vpn:\n");
	dump_kv(out, "    ", "path", v->path);
	dump_kv(out, "    ", "identity_key", v->identity_key);
	dump_kv(out, "    ", "prekey_bundle", v->prekey_bundle);
	if (v->clients != NULL)
		dump_kv(out, "    ", "clients", v->clients);
	fprintf(out, "    open: %s\n", v->open ? "true" : "false");
	dump_ms(out, "    ", "replay_window", v->replay_window_ms);
	if (v->state_dir != NULL)
		dump_kv(out, "    ", "state_dir", v->state_dir);
	fprintf(out, "    max_sessions: %llu\n    max_flows: %llu\n    dns:\n      servers: ",
	    (unsigned long long)v->max_sessions, (unsigned long long)v->max_flows);
	dump_addrs(out, v->dns.servers, v->dns.nservers, false);
	dump_ms(out, "      ", "timeout", v->dns.timeout_ms);
	dump_ms(out, "    ", "flow_stall_timeout", v->flow_stall_ms);
	fprintf(out, "    egress:\n      deny: [");
	bool any = false;
	for (unsigned r = 0; range_names[r] != NULL; r++) {
		if (v->egress.deny_ranges & (1u << r)) {
			fprintf(out, "%s%s", any ? ", " : "", range_names[r]);
			any = true;
		}
	}
	for (size_t i = 0; i < v->egress.ndeny; i++) {
		confval_cidr_format(&v->egress.deny[i], b, sizeof b);
		fprintf(out, "%s\"%s\"", any ? ", " : "", b);
		any = true;
	}
	fprintf(out, "]\n");
	dump_cidrs(out, "      ", "allow", v->egress.allow, v->egress.nallow);
	confval_cidr_format(&v->tun.address, b, sizeof b);
	fprintf(out, "    tun:\n      enabled: %s\n", v->tun.enabled ? "true" : "false");
	dump_kv(out, "      ", "name", v->tun.name);
	fprintf(out, "      address: \"%s\"\n      mtu: %u\n      dns: ", b, (unsigned)v->tun.mtu);
	dump_addrs(out, v->tun.dns, v->tun.ndns, true);
	fprintf(out, "      client_to_client: %s\n", v->tun.client_to_client ? "true" : "false");
}
