/*
 * The configuration keys and their manual agree: every key the loader accepts
 * (conf_keys_each, from the key sets core/conf.c checks against) is documented in
 * conf.d/man/switchyard.yaml.5, and every key that page documents is one the loader
 * accepts. A key is documented by an ".It Cm full.key.path" line (nothing else on it) in
 * the page's KEYS section. `test_confkeys --list` prints the loader's keys.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/conf.h"

#define KEYS_MAX 512
#define KEY_LEN  128

/* A set of key names, without duplicates. */
struct keys {
	char   name[KEYS_MAX][KEY_LEN];
	size_t n;
};

/* Adds key to the set (once); false when the set is full or the key too long. */
static bool
keys_add(struct keys *k, const char *key)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->name[i], key) == 0)
			return true;
	if (k->n == KEYS_MAX || strlen(key) >= KEY_LEN)
		return false;
	snprintf(k->name[k->n++], KEY_LEN, "%s", key);
	return true;
}

/* True when key is in the set. */
static bool
keys_has(const struct keys *k, const char *key)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->name[i], key) == 0)
			return true;
	return false;
}

/* conf_keys_each callback: collects into a struct keys. */
static void
collect(const char *key, void *arg)
{
	CHECKF(keys_add(arg, key), "cannot hold key %s", key);
}

/* Reads the ".It Cm KEY" lines of the KEYS section of the page at path. */
static bool
read_manual(const char *path, struct keys *doc)
{
	char line[1024];
	bool in_keys = false, seen_section = false;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		perror(path);
		return false;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, ".Sh ", 4) == 0) {
			in_keys = strcmp(line + 4, "KEYS") == 0;
			seen_section |= in_keys;
			continue;
		}
		if (!in_keys || strncmp(line, ".It Cm ", 7) != 0)
			continue;
		const char *key = line + 7;
		CHECKF(key[0] != '\0' && strchr(key, ' ') == NULL,
		    "%s: \".It Cm\" with more than one key name: '%s'", path, line);
		CHECKF(keys_add(doc, key), "cannot hold documented key %s", key);
	}
	fclose(f);
	CHECKF(seen_section, "%s has no KEYS section", path);
	return true;
}

int
main(int argc, char **argv)
{
	static struct keys loader, doc;
	conf_keys_each(collect, &loader);
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < loader.n; i++)
			puts(loader.name[i]);
		return 0;
	}
	const char *page = SY_SOURCE_DIR "/conf.d/man/switchyard.yaml.5";
	CHECK(read_manual(page, &doc));
	/* The loader's own sets: a sanity floor, so an empty list cannot pass. */
	CHECKF(loader.n > 50, "only %zu loader keys", loader.n);
	for (size_t i = 0; i < loader.n; i++)
		CHECKF(keys_has(&doc, loader.name[i]),
		    "the loader accepts `%s` but switchyard.yaml(5) does not document it "
		    "(add \".It Cm %s\" to its KEYS section)", loader.name[i], loader.name[i]);
	for (size_t i = 0; i < doc.n; i++)
		CHECKF(keys_has(&loader, doc.name[i]),
		    "switchyard.yaml(5) documents `%s` but the loader does not accept it",
		    doc.name[i]);
	printf("%zu keys in the loader, %zu documented\n", loader.n, doc.n);
	return check_summary();
}
