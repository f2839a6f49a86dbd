/*
 * Private to the configuration loader (conf.c, conf_tree.c, conf_arena.c): the arena that
 * owns a loaded configuration, and the small YAML node tree the loader builds from libyaml
 * events, merges across includes and then validates. Nothing outside core/conf*.c may
 * include this header: the rest of the program sees only struct conf (conf-t.h).
 */
#ifndef SY_CORE_CONF_INT_H
#define SY_CORE_CONF_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"

#define CONF_PATH_MAX 256 /* bytes of a key path in an error message */

/* Bump allocator: everything it hands out is freed at once by conf_arena_free. */
struct conf_arena *conf_arena_new(void);
void *conf_arena_alloc(struct conf_arena *a, size_t size);   /* zeroed; NULL on failure */
void *conf_arena_calloc(struct conf_arena *a, size_t n, size_t size);
char *conf_arena_strdup(struct conf_arena *a, const char *s);
void conf_arena_free(struct conf_arena *a);

/* One loaded file: its name for messages and the directory relative paths resolve in. */
struct cfile {
	const char *path;  /* as the user or the include pattern gave it */
	const char *dir;   /* absolute directory; NULL: leave relative paths as they are */
};

enum cnode_kind { CNODE_SCALAR, CNODE_SEQ, CNODE_MAP };

/*
 * A YAML node. Maps hold their keys as children (scalars), each key's value in ->val.
 * Scalars keep their text NUL-terminated (an embedded NUL is refused at parse time).
 */
struct cnode {
	enum cnode_kind     kind;
	bool                plain;   /* scalar written without quotes: may be null or a bool */
	unsigned            line;    /* 1-based */
	unsigned            col;     /* 1-based */
	unsigned            index;   /* position in its list, counted in its own file */
	const struct cfile *file;
	const char         *str;     /* scalars */
	size_t              len;
	struct cnode       *val;     /* map keys: the value */
	struct cnode       *next;    /* next item or next key */
	struct cnode       *head;    /* first child */
	struct cnode       *tail;
	size_t              count;
};

/* State shared by the whole load: limits are counted over all files. */
struct cload {
	struct conf_arena *arena;      /* the tree; freed after validation */
	struct conf_error *err;
	bool               from_mem;   /* includes refused */
	size_t             nodes;
	size_t             files;
	size_t             bytes;
	char              *chain[CONF_INCLUDE_DEPTH_MAX + 1]; /* canonical paths being loaded */
	size_t             nchain;
};

/* Writes "file:line:col: path: message" into err (when not NULL); returns -1. */
int conf_errorf(struct conf_error *err, const char *file, unsigned line, unsigned col,
    const char *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Loads path and everything it includes into one merged tree (*root may be NULL: empty). */
int ctree_load_file(struct cload *L, const char *path, struct cnode **root);

/* Parses one in-memory document (includes are an error); chunk > 0 feeds libyaml slowly. */
int ctree_load_mem(struct cload *L, const char *name, const uint8_t *buf, size_t len,
    size_t chunk, struct cnode **root);

/* True for a plain null scalar ("", "~", "null", "Null", "NULL"). */
bool cnode_is_null(const struct cnode *n);

/* "a string", "a list" or "a map", for type errors. */
const char *cnode_kind_name(const struct cnode *n);

/* The key node named key in map, or NULL. */
struct cnode *cnode_map_key(const struct cnode *map, const char *key);

/* Optimal string alignment distance, capped: returns cap + 1 when over cap. */
unsigned conf_edit_distance(const char *a, const char *b, unsigned cap);

#endif
