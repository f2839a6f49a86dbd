/*
 * Fuzz harness for `switchyard import nginx` (router/import_nginx.c and the shared model and
 * writer, router/import.c). The input is the configuration; every include (nginx) reads the
 * input again, so the include depth and file-count limits are reached. Whatever parses
 * must give YAML that the configuration loader accepts: the importer's promise that a
 * successful import passes `switchyard -t`. Any other outcome is a clean error.
 */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input through the nginx importer (fuzz_import.h). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return import_fuzz_one(data, size, "nginx", import_nginx);
}
