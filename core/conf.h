/*
 * The configuration loader (DESIGN.md §3): reads one YAML file and what it includes,
 * checks every key against the schema, and returns a struct conf (conf-t.h) whose values
 * are parsed and whose names are resolved. The first error stops the load and is reported
 * as "file:line:column: key.path: what is wrong". The loader never touches the network,
 * never checks that referenced files (certificates, keys, site root) exist, and never
 * keeps a pointer into libyaml's memory.
 */
#ifndef SY_CORE_CONF_H
#define SY_CORE_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/conf-t.h"

#define CONF_ERROR_MAX 512

/* "file:line:column: key: what is wrong"; line and column 1-based, of the offending node. */
struct conf_error {
	char msg[CONF_ERROR_MAX];
};

/*
 * Loads path and its includes. Relative paths inside (include, site.root, certificates,
 * vpn key files, log.access) are resolved against the directory of the file that names
 * them. Returns NULL with err filled on any error; the caller frees with conf_free.
 */
struct conf *conf_load(const char *path, struct conf_error *err);

/*
 * Loads one document from memory under the given name (used in messages; relative paths
 * resolve against its directory part when it has one). `include` is an error here.
 * chunk > 0 makes libyaml read chunk bytes at a time (the fuzz harness compares).
 */
struct conf *conf_load_mem(const char *name, const uint8_t *buf, size_t len, size_t chunk,
    struct conf_error *err);

/* Frees a configuration; NULL is fine. */
void conf_free(struct conf *c);

/* Prints the effective configuration, defaults included, as commented YAML. */
void conf_dump(const struct conf *c, FILE *out);

/*
 * Calls fn with the full dotted name of every key the loader accepts ("listeners[].kind",
 * "upstreams.*.servers"); the documentation test compares them with switchyard.yaml(5).
 */
void conf_keys_each(void (*fn)(const char *key, void *arg), void *arg);

/* Short lowercase names for enums, as written in the file. */
const char *conf_action_name(enum conf_action a);
const char *conf_balance_name(enum conf_balance b);
const char *conf_proxy_protocol_name(enum conf_proxy_protocol p);

#endif
