/*
 * The body shared by the importer harnesses (fuzz_import_nginx.c, fuzz_import_haproxy.c):
 * the input is the configuration, and every include reads the input again, so the include
 * depth and file-count limits are reached. Whatever parses must give YAML that the
 * configuration loader accepts (the importer's promise that a successful import passes
 * `switchyard -t`); any other outcome must be a clean error with a message.
 */
#ifndef SY_FUZZ_IMPORT_H
#define SY_FUZZ_IMPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "import_mem.h"
#include "router/import.h"

#define FUZZ_INPUT_MAX 65536 /* larger inputs only slow the run */

/* The importer of one tool, as router/import.h declares them. */
typedef int import_fn(struct imp *m, const char *path, const struct imp_io *io, char *err,
    size_t errlen);

/* One input: import it with fn; on success the YAML must load. */
static int
import_fuzz_one(const uint8_t *data, size_t size, const char *tool, import_fn *fn)
{
	if (size > FUZZ_INPUT_MAX)
		return 0;
	struct mem_file self = { "input", (const char *)data, size };
	struct mem_fs fs = { NULL, 0, &self };
	struct imp_io io = { mem_read, mem_glob, &fs };
	struct imp m;
	char err[IMPORT_ERR_MAX];
	imp_init(&m, tool, "/fuzz/input.conf");
	if (size == 0) {
		imp_free(&m);
		return 0; /* the in-memory reader needs a length: an empty file has none */
	}
	int rc = fn(&m, "/fuzz/input.conf", &io, err, sizeof err);
	if (rc == 0)
		rc = imp_finish(&m, err, sizeof err);
	if (rc == 0) {
		char *y = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&y, &len);
		if (f == NULL)
			abort();
		imp_emit(&m, f);
		fclose(f);
		struct conf_error e;
		struct conf *c = conf_load_mem("imported.yaml", (const uint8_t *)y, len, 0, &e);
		if (c == NULL) {
			fprintf(stderr, "import gave YAML that does not load: %s\n%s", e.msg, y);
			abort();
		}
		conf_free(c);
		free(y);
	} else if (strlen(err) == 0) {
		fprintf(stderr, "failed without a message\n");
		abort();
	}
	imp_free(&m);
	return 0;
}

#endif
