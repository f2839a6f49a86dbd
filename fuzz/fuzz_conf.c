/*
 * Fuzz harness for the configuration loader (core/conf.c, conf_tree.c, confval.c). Each
 * input is loaded from memory three times: whole, 1 byte at a time and N bytes at a time
 * (N from the first input byte, 1..64, plus a fixed 7); success or failure and the error
 * message must agree. On success the dump must load back and dump identically, which
 * checks that every accepted value survives a round trip. Any disagreement aborts.
 * Never touches the filesystem: includes are refused in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"

#define FUZZ_INPUT_MAX 65536 /* byte-at-a-time parsing of larger inputs only slows the run */

/* Dumps c into a malloc'd string; aborts when memory runs out (a harness, not a product). */
static char *
dump(const struct conf *c, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (f == NULL)
		abort();
	conf_dump(c, f);
	fclose(f);
	return buf;
}

/* Loads with the given chunk size and checks it against the whole-input result. */
static void
compare(const uint8_t *data, size_t size, size_t chunk, const struct conf *whole,
    const struct conf_error *werr, const char *wdump, size_t wlen)
{
	struct conf_error err;
	struct conf *c = conf_load_mem("fuzz.yaml", data, size, chunk, &err);
	if ((c == NULL) != (whole == NULL)) {
		fprintf(stderr, "chunk %zu: success differs: [%s] vs [%s]\n", chunk,
		    whole ? "ok" : werr->msg, c ? "ok" : err.msg);
		abort();
	}
	if (c == NULL) {
		if (strcmp(err.msg, werr->msg) != 0) {
			fprintf(stderr, "chunk %zu: error differs:\n  %s\n  %s\n", chunk, werr->msg,
			    err.msg);
			abort();
		}
		return;
	}
	size_t len;
	char *d = dump(c, &len);
	if (len != wlen || memcmp(d, wdump, len) != 0) {
		fprintf(stderr, "chunk %zu: result differs\n", chunk);
		abort();
	}
	free(d);
	conf_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: whole vs chunked agreement, and the dump round trip on success. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_error err;
	if (size > FUZZ_INPUT_MAX)
		return 0;
	struct conf *c = conf_load_mem("fuzz.yaml", data, size, 0, &err);
	char *d = NULL;
	size_t len = 0;
	if (c != NULL) {
		d = dump(c, &len);
		/* The dump is YAML the loader must accept, and it must describe the same thing. */
		struct conf_error e2;
		struct conf *c2 = conf_load_mem("dump.yaml", (const uint8_t *)d, len, 0, &e2);
		if (c2 == NULL) {
			fprintf(stderr, "dump does not load back: %s\n%s", e2.msg, d);
			abort();
		}
		size_t len2;
		char *d2 = dump(c2, &len2);
		if (len2 != len || memcmp(d, d2, len) != 0) {
			fprintf(stderr, "dump changes after reload:\n%s\n---\n%s", d, d2);
			abort();
		}
		free(d2);
		conf_free(c2);
	}
	compare(data, size, 1, c, &err, d, len);
	compare(data, size, 7, c, &err, d, len);
	if (size > 0)
		compare(data, size, 1 + data[0] % 64, c, &err, d, len);
	free(d);
	conf_free(c);
	return 0;
}
