/*
 * An in-memory struct imp_io for the importer's unit tests and fuzz harnesses: files are
 * (name, text) pairs; a glob matches names with fnmatch(3) in table order. With `self`
 * set, every path reads as that one text (the fuzz harness: includes of the input itself,
 * so the include limits are exercised). Never used outside tests/ and fuzz/.
 */
#ifndef SY_TESTS_IMPORT_MEM_H
#define SY_TESTS_IMPORT_MEM_H

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "router/import.h"

struct mem_file {
	const char *name;
	const char *text;
	size_t      len; /* 0: strlen(text) */
};

struct mem_fs {
	const struct mem_file *files;
	size_t                 n;
	const struct mem_file *self;
};

/* Reads a file of the table (or the self text). */
static int
mem_read(void *ctx, const char *path, char **buf, size_t *len, char *why, size_t whylen)
{
	const struct mem_fs *fs = ctx;
	const struct mem_file *f = fs->self;
	for (size_t i = 0; f == NULL && i < fs->n; i++)
		if (strcmp(fs->files[i].name, path) == 0)
			f = &fs->files[i];
	if (f == NULL) {
		snprintf(why, whylen, "%s: No such file or directory", path);
		return -1;
	}
	size_t n = f->len ? f->len : strlen(f->text);
	if (n > IMPORT_FILE_MAX) {
		snprintf(why, whylen, "%s: larger than %u bytes", path, IMPORT_FILE_MAX);
		return -1;
	}
	if ((*buf = malloc(n + 1)) == NULL)
		return -1;
	memcpy(*buf, f->text, n);
	*len = n;
	return 0;
}

/* Globs over the table's names (the self text: the pattern itself, once). */
static int
mem_glob(void *ctx, const char *pattern, size_t max, char ***paths, size_t *n, char *why,
    size_t whylen)
{
	const struct mem_fs *fs = ctx;
	char **v = calloc(fs->n + 1, sizeof *v);
	size_t k = 0;
	if (v == NULL)
		return -1;
	if (fs->self != NULL)
		v[k++] = strdup(pattern);
	for (size_t i = 0; fs->self == NULL && i < fs->n; i++)
		if (fnmatch(pattern, fs->files[i].name, FNM_PATHNAME) == 0)
			v[k++] = strdup(fs->files[i].name);
	if (k > max) {
		for (size_t i = 0; i < k; i++)
			free(v[i]);
		free(v);
		snprintf(why, whylen, "%s: more than %zu files", pattern, max);
		return -1;
	}
	*paths = v;
	*n = k;
	return 0;
}

#endif
