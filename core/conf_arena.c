/*
 * The loader's bump allocator: a loaded configuration and the temporary YAML tree are each
 * one arena, so freeing either is one call and no error path can leak a piece. Blocks are
 * plain malloc; an allocation larger than a block gets a block of its own. Never used for
 * anything that outlives its owner (a struct conf, or one conf_load call for the tree).
 */
#include <stdlib.h>
#include <string.h>

#include "core/conf_int.h"

#define ARENA_BLOCK (64u * 1024) /* bytes per ordinary block */
#define ARENA_ALIGN 16u

struct arena_block {
	struct arena_block *next;
	size_t              used;
	size_t              size;
	_Alignas(16) unsigned char data[];
};

struct conf_arena {
	struct arena_block *head;
};

/* Creates an empty arena; NULL when out of memory. */
struct conf_arena *
conf_arena_new(void)
{
	return calloc(1, sizeof(struct conf_arena));
}

/* Returns size zeroed bytes aligned to ARENA_ALIGN, or NULL when out of memory. */
void *
conf_arena_alloc(struct conf_arena *a, size_t size)
{
	size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (size == 0)
		size = ARENA_ALIGN;
	struct arena_block *b = a->head;
	if (b == NULL || b->size - b->used < size) {
		size_t bsize = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		b = malloc(sizeof *b + bsize);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->size = bsize;
		/* A big private block goes second so the current block keeps filling. */
		if (size > ARENA_BLOCK && a->head != NULL) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	void *p = b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

/* Zeroed array of n elements, refusing a size that overflows. */
void *
conf_arena_calloc(struct conf_arena *a, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	return conf_arena_alloc(a, n * size);
}

/* A copy of a NUL-terminated string in the arena. */
char *
conf_arena_strdup(struct conf_arena *a, const char *s)
{
	size_t n = strlen(s);
	char *p = conf_arena_alloc(a, n + 1);
	if (p != NULL)
		memcpy(p, s, n + 1);
	return p;
}

/* Frees every block and the arena itself; NULL is fine. */
void
conf_arena_free(struct conf_arena *a)
{
	if (a == NULL)
		return;
	struct arena_block *b = a->head;
	while (b != NULL) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	free(a);
}
