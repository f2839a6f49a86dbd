/*
 * From YAML bytes to one merged node tree: reads files, checks the encoding, runs libyaml's
 * event parser under our limits (file size, total size, nesting depth, node count), refuses
 * aliases, tags, several documents and duplicate keys, expands `include` with glob(3) and
 * merges the included trees (listeners and terminator.certificates append, upstreams must
 * not repeat a name, other maps merge, other values: the later file wins). It knows nothing
 * else of the schema; conf.c validates the result. Every error names file:line:column.
 */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/conf_int.h"
#include "core/privopen.h"

#define DOC_PATH "(document)" /* the key path of errors about a whole file */
#define SY_STR_(x) #x
#define SY_STR(x) SY_STR_(x)

/* Formats the one error of a load; the first caller wins because loading stops. */
int
conf_errorf(struct conf_error *err, const char *file, unsigned line, unsigned col,
    const char *path, const char *fmt, ...)
{
	if (err == NULL)
		return -1;
	char what[CONF_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	int w = snprintf(err->msg, sizeof err->msg, "%s:%u:%u: %s: %s", file, line, col,
	    path[0] != '\0' ? path : DOC_PATH, what);
	if (w < 0 || (size_t)w >= sizeof err->msg)
		memcpy(err->msg + sizeof err->msg - 4, "...", 4); /* show it was cut */
	return -1;
}

/* YAML 1.2 core-schema null: only plain scalars, so "null" in quotes is text. */
bool
cnode_is_null(const struct cnode *n)
{
	if (n == NULL)
		return true;
	if (n->kind != CNODE_SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	    strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

/* Names a node's kind for "expected X, got Y" messages. */
const char *
cnode_kind_name(const struct cnode *n)
{
	if (n == NULL || cnode_is_null(n))
		return "nothing (null)";
	switch (n->kind) {
	case CNODE_SCALAR:
		return "a string";
	case CNODE_SEQ:
		return "a list";
	case CNODE_MAP:
		return "a map";
	}
	return "?";
}

/* Finds a key in a map by exact text; linear, maps here are small. */
struct cnode *
cnode_map_key(const struct cnode *map, const char *key)
{
	if (map == NULL || map->kind != CNODE_MAP)
		return NULL;
	for (struct cnode *k = map->head; k != NULL; k = k->next)
		if (strcmp(k->str, key) == 0)
			return k;
	return NULL;
}

/* Edit distance (with transpositions) for "did you mean" suggestions. */
unsigned
conf_edit_distance(const char *a, const char *b, unsigned cap)
{
	/* Optimal string alignment over short keys; longer inputs are simply "far". */
	enum { N = 64 };
	size_t la = strlen(a), lb = strlen(b);
	if (la >= N || lb >= N)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	unsigned d[N + 1][N + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
			unsigned v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb] > cap ? cap + 1 : d[la][lb];
}

/* Line and column (1-based, columns in characters) of byte offset off in buf. */
static void
position_of(const uint8_t *buf, size_t off, unsigned *line, unsigned *col)
{
	unsigned l = 1, c = 1;
	for (size_t i = 0; i < off; i++) {
		if (buf[i] == '\n' || (buf[i] == '\r' && (i + 1 >= off || buf[i + 1] != '\n'))) {
			l++;
			c = 1;
		} else if ((buf[i] & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

/*
 * Checks the whole input is UTF-8 made of characters YAML allows, before libyaml sees it:
 * libyaml's own reader reports such faults whenever it happens to decode that far, which
 * would make the first error depend on how the input is fed. Returns 0 or -1 (err set).
 */
static int
check_encoding(struct cload *L, const char *name, const uint8_t *buf, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint32_t c = buf[i];
		size_t n;
		const char *why = NULL;
		if (c < 0x80)
			n = 1;
		else if ((c & 0xe0) == 0xc0)
			n = 2, c &= 0x1f;
		else if ((c & 0xf0) == 0xe0)
			n = 3, c &= 0x0f;
		else if ((c & 0xf8) == 0xf0)
			n = 4, c &= 0x07;
		else
			n = 0;
		if (n == 0 || i + n > len) {
			why = "invalid UTF-8";
		} else {
			for (size_t k = 1; k < n; k++) {
				if ((buf[i + k] & 0xc0) != 0x80) {
					why = "invalid UTF-8";
					break;
				}
				c = c << 6 | (buf[i + k] & 0x3f);
			}
			if (why == NULL && ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
			    (n == 4 && c < 0x10000) || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)))
				why = "invalid UTF-8";
		}
		if (why == NULL && !(c == 0x09 || c == 0x0a || c == 0x0d ||
		    (c >= 0x20 && c <= 0x7e) || c == 0x85 || (c >= 0xa0 && c <= 0xd7ff) ||
		    (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff)))
			why = "control characters are not allowed";
		if (why != NULL) {
			unsigned line, col;
			position_of(buf, i, &line, &col);
			return conf_errorf(L->err, name, line, col, "", "%s (byte %zu)", why, i);
		}
		i += n;
	}
	return 0;
}

/* Feeds libyaml `chunk` bytes per call, to prove the result does not depend on it. */
struct chunk_reader {
	const uint8_t *buf;
	size_t         len;
	size_t         off;
	size_t         chunk;
};

/* libyaml read handler over a chunk_reader. */
static int
chunk_read(void *data, unsigned char *out, size_t size, size_t *got)
{
	struct chunk_reader *r = data;
	size_t n = r->len - r->off;
	if (n > r->chunk)
		n = r->chunk;
	if (n > size)
		n = size;
	memcpy(out, r->buf + r->off, n);
	r->off += n;
	*got = n;
	return 1;
}

/* One open collection while parsing. */
struct frame {
	struct cnode *node;
	struct cnode *key;        /* maps: the last key seen */
	bool          want_value; /* maps: that key still waits for its value */
};

struct parse {
	struct cload       *L;
	const struct cfile *file;
	struct frame        stack[CONF_DEPTH_MAX + 1];
	size_t              depth;
	struct cnode       *root;
	bool                have_root;
	unsigned            docs;
};

/* Writes the key path of the parser's current position into buf. */
static void
parse_path(const struct parse *P, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < P->depth && used < len; i++) {
		const struct frame *f = &P->stack[i];
		bool top = i + 1 == P->depth;
		int w = 0;
		if (f->node->kind == CNODE_MAP && f->key != NULL && (!top || f->want_value))
			w = snprintf(buf + used, len - used, "%s%.64s", used ? "." : "", f->key->str);
		else if (f->node->kind == CNODE_SEQ)
			w = snprintf(buf + used, len - used, "[%zu]",
			    top ? f->node->count : f->node->count - 1);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used >= len)
		buf[len - 1] = '\0';
}

/* Reports an error at a mark of the current file with the current key path. */
static int
parse_error(struct parse *P, const yaml_mark_t *m, const char *msg)
{
	char path[CONF_PATH_MAX];
	parse_path(P, path, sizeof path);
	return conf_errorf(P->L->err, P->file->path, (unsigned)m->line + 1,
	    (unsigned)m->column + 1, path, "%s", msg);
}

/* Orders map keys by text, then by document order, to find duplicates in n log n. */
static int
key_cmp(const void *a, const void *b)
{
	const struct cnode *x = *(const struct cnode *const *)a;
	const struct cnode *y = *(const struct cnode *const *)b;
	int c = strcmp(x->str, y->str);
	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Refuses a map with a key given twice: reports the earliest repeat in the file. */
static int
check_duplicates(struct parse *P, struct cnode *map)
{
	if (map->count < 2)
		return 0;
	struct cnode **keys = malloc(map->count * sizeof *keys);
	if (keys == NULL)
		return conf_errorf(P->L->err, P->file->path, map->line, map->col, "",
		    "out of memory");
	size_t n = 0;
	for (struct cnode *k = map->head; k != NULL; k = k->next)
		keys[n++] = k;
	qsort(keys, n, sizeof *keys, key_cmp);
	const struct cnode *dup = NULL, *first = NULL;
	for (size_t i = 1; i < n; i++) {
		if (strcmp(keys[i]->str, keys[i - 1]->str) == 0 &&
		    (dup == NULL || keys[i]->index < dup->index)) {
			dup = keys[i];
			first = keys[i - 1];
		}
	}
	int rc = 0;
	if (dup != NULL) {
		/* The first of a run of equal keys is the one written first. */
		for (size_t i = 0; i < n; i++) {
			if (strcmp(keys[i]->str, dup->str) == 0) {
				first = keys[i];
				break;
			}
		}
		char path[CONF_PATH_MAX];
		parse_path(P, path, sizeof path);
		size_t used = strlen(path);
		snprintf(path + used, sizeof path - used, "%s%.64s", used ? "." : "", dup->str);
		rc = conf_errorf(P->L->err, P->file->path, dup->line, dup->col, path,
		    "duplicate key (first at %s:%u:%u)", first->file->path, first->line, first->col);
	}
	free(keys);
	return rc;
}

/* Creates a node at a mark and links it where the parser stands; NULL on error. */
static struct cnode *
parse_add(struct parse *P, enum cnode_kind kind, const yaml_mark_t *m)
{
	if (P->L->nodes >= CONF_NODES_MAX) {
		parse_error(P, m, "more than " SY_STR(CONF_NODES_MAX) " YAML nodes");
		return NULL;
	}
	struct cnode *n = conf_arena_alloc(P->L->arena, sizeof *n);
	if (n == NULL) {
		parse_error(P, m, "out of memory");
		return NULL;
	}
	P->L->nodes++;
	n->kind = kind;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	n->file = P->file;
	n->str = "";
	if (P->depth == 0) {
		if (P->have_root) {
			parse_error(P, m, "only one YAML document per file");
			return NULL;
		}
		P->root = n;
		P->have_root = true;
		return n;
	}
	struct frame *f = &P->stack[P->depth - 1];
	struct cnode *parent = f->node;
	if (parent->kind == CNODE_MAP && f->want_value) {
		f->key->val = n;
		f->want_value = false;
		return n;
	}
	if (parent->kind == CNODE_MAP && kind != CNODE_SCALAR) {
		parse_error(P, m, "a key must be a plain string, not a list or a map");
		return NULL;
	}
	n->index = (unsigned)parent->count;
	if (parent->tail != NULL)
		parent->tail->next = n;
	else
		parent->head = n;
	parent->tail = n;
	parent->count++;
	if (parent->kind == CNODE_MAP) {
		f->key = n;
		f->want_value = true;
	}
	return n;
}

/* Handles one libyaml event; returns 0, or -1 with the error set. */
static int
parse_event(struct parse *P, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct cnode *n;

	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_STREAM_END_EVENT:
	case YAML_DOCUMENT_END_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++P->docs > 1)
			return parse_error(P, m, "only one YAML document per file");
		return 0;
	case YAML_ALIAS_EVENT:
		return parse_error(P, m, "aliases are not supported");
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.tag != NULL)
			return parse_error(P, m, "tags are not supported");
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL)
			return parse_error(P, m, "a NUL byte is not allowed in a value");
		if ((n = parse_add(P, CNODE_SCALAR, m)) == NULL)
			return -1;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->len = ev->data.scalar.length;
		char *s = conf_arena_alloc(P->L->arena, n->len + 1);
		if (s == NULL)
			return parse_error(P, m, "out of memory");
		memcpy(s, ev->data.scalar.value, n->len);
		n->str = s;
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
		const yaml_char_t *tag = seq ? ev->data.sequence_start.tag :
		    ev->data.mapping_start.tag;
		if (tag != NULL)
			return parse_error(P, m, "tags are not supported");
		if (P->depth >= CONF_DEPTH_MAX)
			return parse_error(P, m, "nested deeper than " SY_STR(CONF_DEPTH_MAX) " levels");
		if ((n = parse_add(P, seq ? CNODE_SEQ : CNODE_MAP, m)) == NULL)
			return -1;
		P->stack[P->depth].node = n;
		P->stack[P->depth].key = NULL;
		P->stack[P->depth].want_value = false;
		P->depth++;
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
		P->depth--;
		return 0;
	case YAML_MAPPING_END_EVENT:
		if (check_duplicates(P, P->stack[P->depth - 1].node) == -1)
			return -1;
		P->depth--;
		return 0;
	}
	return 0;
}

/* Reports libyaml's own error with its position and problem text. */
static int
parse_yaml_error(struct parse *P, const yaml_parser_t *yp, const uint8_t *buf, size_t len)
{
	char path[CONF_PATH_MAX];
	unsigned line, col;
	parse_path(P, path, sizeof path);
	if (yp->error == YAML_READER_ERROR) {
		position_of(buf, yp->problem_offset < len ? yp->problem_offset : len, &line, &col);
	} else {
		line = (unsigned)yp->problem_mark.line + 1;
		col = (unsigned)yp->problem_mark.column + 1;
	}
	if (yp->error == YAML_MEMORY_ERROR)
		return conf_errorf(P->L->err, P->file->path, line, col, path, "out of memory");
	const char *problem = yp->problem != NULL ? yp->problem : "YAML syntax error";
	if (yp->context != NULL)
		return conf_errorf(P->L->err, P->file->path, line, col, path, "%s %s", problem,
		    yp->context);
	return conf_errorf(P->L->err, P->file->path, line, col, path, "%s", problem);
}

/*
 * Parses one YAML document of file f into a tree. The root must be a map; an empty
 * document gives *root = NULL. Returns 0 or -1 (err set).
 */
static int
parse_doc(struct cload *L, const struct cfile *f, const uint8_t *buf, size_t len, size_t chunk,
    struct cnode **root)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	struct parse P;
	struct chunk_reader reader = { buf, len, 0, chunk };
	int rc = -1;

	*root = NULL;
	if (len > CONF_FILE_MAX)
		return conf_errorf(L->err, f->path, 1, 1, "", "file is larger than %u bytes",
		    CONF_FILE_MAX);
	if (L->bytes + len > CONF_TOTAL_MAX)
		return conf_errorf(L->err, f->path, 1, 1, "",
		    "more than %u bytes of configuration over all included files", CONF_TOTAL_MAX);
	L->bytes += len;
	if (check_encoding(L, f->path, buf, len) == -1)
		return -1;
	memset(&P, 0, sizeof P);
	P.L = L;
	P.file = f;
	if (!yaml_parser_initialize(&yp))
		return conf_errorf(L->err, f->path, 1, 1, "", "out of memory");
	yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);
	if (chunk > 0)
		yaml_parser_set_input(&yp, chunk_read, &reader);
	else
		yaml_parser_set_input_string(&yp, buf, len);
	for (;;) {
		if (!yaml_parser_parse(&yp, &ev)) {
			parse_yaml_error(&P, &yp, buf, len);
			goto out;
		}
		int done = ev.type == YAML_STREAM_END_EVENT;
		int bad = parse_event(&P, &ev);
		yaml_event_delete(&ev);
		if (bad == -1)
			goto out;
		if (done)
			break;
	}
	if (P.root != NULL && P.root->kind != CNODE_MAP && !cnode_is_null(P.root)) {
		conf_errorf(L->err, f->path, P.root->line, P.root->col, "",
		    "expected a map of keys at the top, got %s", cnode_kind_name(P.root));
		goto out;
	}
	if (P.root != NULL && P.root->kind == CNODE_MAP)
		*root = P.root;
	rc = 0;
out:
	yaml_parser_delete(&yp);
	return rc;
}

/* Reads a whole file, up to one byte past the limit so "too large" is detectable. */
static int
read_file(const char *path, uint8_t **out, size_t *outlen, int *error)
{
	FILE *fp = privopen_fopen(path); /* root-only files after the drop: privopen.h */
	if (fp == NULL) {
		*error = errno;
		return -1;
	}
	size_t cap = CONF_FILE_MAX + 1;
	uint8_t *buf = malloc(cap);
	if (buf == NULL) {
		fclose(fp);
		*error = ENOMEM;
		return -1;
	}
	size_t n = fread(buf, 1, cap, fp);
	if (ferror(fp)) {
		*error = errno != 0 ? errno : EIO;
		fclose(fp);
		free(buf);
		return -1;
	}
	fclose(fp);
	*out = buf;
	*outlen = n;
	return 0;
}

/* An absolute form of path (cwd prepended when relative), in the arena. */
static char *
absolute_path(struct cload *L, const char *path)
{
	if (path[0] == '/')
		return conf_arena_strdup(L->arena, path);
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof cwd) == NULL)
		return NULL;
	size_t n = strlen(cwd) + 1 + strlen(path) + 1;
	char *p = conf_arena_alloc(L->arena, n);
	if (p != NULL)
		snprintf(p, n, "%s/%s", cwd, path);
	return p;
}

/* The directory part of an absolute path, in the arena ("/" for a file at the root). */
static char *
dir_of(struct cload *L, const char *abs)
{
	const char *slash = strrchr(abs, '/');
	size_t n = slash == abs ? 1 : (size_t)(slash - abs);
	char *d = conf_arena_alloc(L->arena, n + 1);
	if (d != NULL)
		memcpy(d, abs, n);
	return d;
}

static int load_one(struct cload *L, const char *path, const struct cnode *from,
    const char *frompath, size_t depth, struct cnode **root);

/* Type error raised while merging, in the validator's words. */
static int
merge_type_error(struct cload *L, const struct cnode *n, const char *path, const char *want)
{
	return conf_errorf(L->err, n->file->path, n->line, n->col, path, "expected %s, got %s",
	    want, cnode_kind_name(n));
}

/* Appends the items of list src to list dst (both already checked to be lists). */
static void
seq_append(struct cnode *dst, struct cnode *src)
{
	if (src->head == NULL)
		return;
	if (dst->tail != NULL)
		dst->tail->next = src->head;
	else
		dst->head = src->head;
	dst->tail = src->tail;
	dst->count += src->count;
}

/* Appends key node k (and its value) to map dst. */
static void
map_append(struct cnode *dst, struct cnode *k)
{
	k->next = NULL;
	if (dst->tail != NULL)
		dst->tail->next = k;
	else
		dst->head = k;
	dst->tail = k;
	dst->count++;
}

/*
 * Merges the value of src key into dst key under path: lists that append (want_list),
 * maps of unique names (unique), maps that merge, or the later value wins.
 */
static int
merge_into(struct cload *L, struct cnode *dk, struct cnode *sk, const char *path)
{
	struct cnode *dv = dk->val, *sv = sk->val;
	bool append = strcmp(path, "listeners") == 0 || strcmp(path, "terminator.certificates") == 0;
	bool unique = strcmp(path, "upstreams") == 0;

	if (append || unique) {
		const char *want = append ? "a list" : "a map";
		enum cnode_kind kind = append ? CNODE_SEQ : CNODE_MAP;
		if (!cnode_is_null(dv) && dv->kind != kind)
			return merge_type_error(L, dv, path, want);
		if (!cnode_is_null(sv) && sv->kind != kind)
			return merge_type_error(L, sv, path, want);
		if (cnode_is_null(sv))
			return 0;
		if (cnode_is_null(dv)) {
			dk->val = sv;
			return 0;
		}
		if (append) {
			seq_append(dv, sv);
			return 0;
		}
		struct cnode *k = sv->head;
		while (k != NULL) {
			struct cnode *next = k->next;
			struct cnode *old = cnode_map_key(dv, k->str);
			if (old != NULL) {
				char p[CONF_PATH_MAX];
				snprintf(p, sizeof p, "%s.%.64s", path, k->str);
				return conf_errorf(L->err, k->file->path, k->line, k->col, p,
				    "defined twice (first at %s:%u:%u)", old->file->path, old->line,
				    old->col);
			}
			map_append(dv, k);
			k = next;
		}
		return 0;
	}
	if (dv != NULL && sv != NULL && dv->kind == CNODE_MAP && sv->kind == CNODE_MAP) {
		struct cnode *k = sv->head;
		while (k != NULL) {
			struct cnode *next = k->next;
			struct cnode *old = cnode_map_key(dv, k->str);
			if (old == NULL) {
				map_append(dv, k);
			} else {
				char p[CONF_PATH_MAX];
				snprintf(p, sizeof p, "%s.%.64s", path, k->str);
				if (merge_into(L, old, k, p) == -1)
					return -1;
			}
			k = next;
		}
		return 0;
	}
	dk->val = sv; /* scalars, lists and mismatched kinds: the later file wins */
	return 0;
}

/* Merges the top-level map src (an included file) into dst. */
static int
merge_root(struct cload *L, struct cnode *dst, struct cnode *src)
{
	struct cnode *k = src->head;
	while (k != NULL) {
		struct cnode *next = k->next;
		struct cnode *old = cnode_map_key(dst, k->str);
		if (old == NULL)
			map_append(dst, k);
		else if (merge_into(L, old, k, k->str) == -1)
			return -1;
		k = next;
	}
	return 0;
}

/* Escapes glob metacharacters of a directory so only the user's pattern is a pattern. */
static int
glob_escape(const char *dir, char *out, size_t len)
{
	size_t j = 0;
	for (size_t i = 0; dir[i] != '\0'; i++) {
		if (strchr("*?[]\\", dir[i]) != NULL) {
			if (j + 1 >= len)
				return -1;
			out[j++] = '\\';
		}
		if (j + 1 >= len)
			return -1;
		out[j++] = dir[i];
	}
	out[j] = '\0';
	return 0;
}

/* Orders glob matches bytewise, whatever the locale. */
static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Expands one include pattern node and loads and merges every file it names. */
static int
include_pattern(struct cload *L, struct cnode *root, const struct cfile *f,
    const struct cnode *p, const char *path, size_t depth)
{
	char full[PATH_MAX + 1], esc[2 * PATH_MAX];
	const char *pat = p->str;
	int n;

	if (p->kind != CNODE_SCALAR || cnode_is_null(p))
		return conf_errorf(L->err, p->file->path, p->line, p->col, path,
		    "expected a string (a file name or glob pattern), got %s", cnode_kind_name(p));
	if (p->len == 0)
		return conf_errorf(L->err, p->file->path, p->line, p->col, path,
		    "an empty include pattern");
	bool magic = strpbrk(pat, "*?[") != NULL;
	if (pat[0] == '/' || f->dir == NULL) {
		n = snprintf(full, sizeof full, "%s", pat);
	} else if (glob_escape(f->dir, esc, sizeof esc) == -1) {
		n = -1;
	} else {
		n = snprintf(full, sizeof full, "%s/%s", esc, pat);
	}
	if (n < 0 || (size_t)n >= sizeof full - 1)
		return conf_errorf(L->err, p->file->path, p->line, p->col, path, "path too long");

	glob_t g;
	memset(&g, 0, sizeof g);
	char **names;
	size_t count;
	char literal[PATH_MAX + 1];
	char *one[1];
	if (!magic) {
		/* A literal name: no glob, and it must exist. */
		if (pat[0] == '/' || f->dir == NULL)
			snprintf(literal, sizeof literal, "%s", pat);
		else
			snprintf(literal, sizeof literal, "%s/%s", f->dir, pat);
		struct stat st;
		if (stat(literal, &st) == -1)
			return conf_errorf(L->err, p->file->path, p->line, p->col, path,
			    "cannot include `%s`: %s", literal, strerror(errno));
		one[0] = literal;
		names = one;
		count = 1;
	} else {
		int rc = glob(full, GLOB_NOSORT, NULL, &g);
		if (rc == GLOB_NOMATCH)
			return 0; /* an empty drop-in folder is fine */
		if (rc != 0) {
			globfree(&g);
			return conf_errorf(L->err, p->file->path, p->line, p->col, path,
			    "cannot expand `%s`", pat);
		}
		qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, str_cmp);
		names = g.gl_pathv;
		count = g.gl_pathc;
	}
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct cnode *child = NULL;
		rc = load_one(L, names[i], p, path, depth + 1, &child);
		if (rc == 0 && child != NULL)
			rc = merge_root(L, root, child);
	}
	if (magic)
		globfree(&g);
	return rc;
}

/* Takes the `include` key out of root and loads what it names, in order. */
static int
process_includes(struct cload *L, struct cnode *root, const struct cfile *f, size_t depth)
{
	struct cnode *k = cnode_map_key(root, "include"), *prev = NULL;
	if (k == NULL)
		return 0;
	for (struct cnode *x = root->head; x != k; x = x->next)
		prev = x;
	if (prev != NULL)
		prev->next = k->next;
	else
		root->head = k->next;
	if (root->tail == k)
		root->tail = prev;
	root->count--;

	struct cnode *v = k->val;
	if (cnode_is_null(v))
		return 0;
	if (L->from_mem)
		return conf_errorf(L->err, k->file->path, k->line, k->col, "include",
		    "includes are not supported when loading from memory");
	if (v->kind == CNODE_SCALAR)
		return include_pattern(L, root, f, v, "include", depth);
	if (v->kind != CNODE_SEQ)
		return conf_errorf(L->err, v->file->path, v->line, v->col, "include",
		    "expected a string or a list of strings, got %s", cnode_kind_name(v));
	/* Detach the items first: merging may append to lists, never to this one. */
	size_t i = 0;
	for (struct cnode *p = v->head; p != NULL; p = p->next, i++) {
		char path[32];
		snprintf(path, sizeof path, "include[%zu]", i);
		if (include_pattern(L, root, f, p, path, depth) == -1)
			return -1;
	}
	return 0;
}

/*
 * Loads one file at include depth `depth` (0 for the main file). from/frompath name the
 * include node that asked for it, for errors; NULL for the main file.
 */
static int
load_one(struct cload *L, const char *path, const struct cnode *from, const char *frompath,
    size_t depth, struct cnode **root)
{
	const char *efile = from != NULL ? from->file->path : path;
	unsigned eline = from != NULL ? from->line : 1, ecol = from != NULL ? from->col : 1;
	const char *epath = from != NULL ? frompath : "";
	uint8_t *buf = NULL;
	size_t len;
	int error = 0, rc = -1;
	char canon[PATH_MAX];

	*root = NULL;
	if (depth > CONF_INCLUDE_DEPTH_MAX)
		return conf_errorf(L->err, efile, eline, ecol, epath,
		    "includes nested deeper than %u files", CONF_INCLUDE_DEPTH_MAX);
	if (++L->files > CONF_FILES_MAX)
		return conf_errorf(L->err, efile, eline, ecol, epath,
		    "more than %u configuration files", CONF_FILES_MAX);
	if (realpath(path, canon) == NULL) {
		if (from != NULL)
			return conf_errorf(L->err, efile, eline, ecol, epath,
			    "cannot include `%s`: %s", path, strerror(errno));
		return conf_errorf(L->err, efile, eline, ecol, epath, "cannot open: %s",
		    strerror(errno));
	}
	for (size_t i = 0; i < L->nchain; i++)
		if (strcmp(L->chain[i], canon) == 0)
			return conf_errorf(L->err, efile, eline, ecol, epath,
			    "include loop: `%s` is already being loaded", path);
	if (read_file(path, &buf, &len, &error) == -1) {
		if (from != NULL)
			return conf_errorf(L->err, efile, eline, ecol, epath,
			    "cannot include `%s`: %s", path, strerror(error));
		return conf_errorf(L->err, efile, eline, ecol, epath, "cannot read: %s",
		    strerror(error));
	}
	struct cfile *f = conf_arena_alloc(L->arena, sizeof *f);
	char *abs = absolute_path(L, path);
	char *cpath = conf_arena_strdup(L->arena, path);
	char *ccanon = conf_arena_strdup(L->arena, canon);
	if (f == NULL || abs == NULL || cpath == NULL || ccanon == NULL) {
		conf_errorf(L->err, efile, eline, ecol, epath, "out of memory");
		goto out;
	}
	f->path = cpath;
	f->dir = dir_of(L, abs);
	if (f->dir == NULL) {
		conf_errorf(L->err, efile, eline, ecol, epath, "out of memory");
		goto out;
	}
	if (parse_doc(L, f, buf, len, 0, root) == -1)
		goto out;
	free(buf);
	buf = NULL;
	if (*root == NULL) {
		rc = 0;
		goto out;
	}
	L->chain[L->nchain++] = ccanon;
	rc = process_includes(L, *root, f, depth);
	L->nchain--;
out:
	free(buf);
	return rc;
}

/* Entry point for files: the main file is include depth 0. */
int
ctree_load_file(struct cload *L, const char *path, struct cnode **root)
{
	return load_one(L, path, NULL, NULL, 0, root);
}

/* Entry point for memory: one document, relative paths kept or resolved by name. */
int
ctree_load_mem(struct cload *L, const char *name, const uint8_t *buf, size_t len, size_t chunk,
    struct cnode **root)
{
	struct cfile *f = conf_arena_alloc(L->arena, sizeof *f);
	char *cname = conf_arena_strdup(L->arena, name);
	if (f == NULL || cname == NULL)
		return conf_errorf(L->err, name, 1, 1, "", "out of memory");
	f->path = cname;
	f->dir = NULL;
	const char *slash = strrchr(name, '/');
	if (slash != NULL) {
		char *d = conf_arena_alloc(L->arena, (size_t)(slash - name) + 2);
		if (d == NULL)
			return conf_errorf(L->err, name, 1, 1, "", "out of memory");
		memcpy(d, name, slash == name ? 1 : (size_t)(slash - name));
		f->dir = d;
	}
	L->files = 1;
	if (parse_doc(L, f, buf, len, chunk, root) == -1)
		return -1;
	if (*root != NULL)
		return process_includes(L, *root, f, 0);
	return 0;
}
