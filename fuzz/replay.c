/*
 * Replay driver: runs a libFuzzer harness over every file in the directories (or files)
 * given on the command line, so the corpus and every crash ever found stay tests under
 * ctest in ordinary gcc builds. It must never skip a file silently: an unreadable file or
 * an empty set of inputs fails the run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (1u << 20) /* larger inputs are a corpus mistake, not a test */

/* Runs the harness on one file; returns 0 on success, -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	size_t n = fread(buf, 1, REPLAY_MAX_INPUT, f);
	int bad = ferror(f) || !feof(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: read error or over %u bytes\n", path, REPLAY_MAX_INPUT);
		free(buf);
		return -1;
	}
	/* A private copy of exactly n bytes so ASan sees reads past the end. */
	uint8_t *exact = malloc(n ? n : 1);
	if (exact == NULL) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

/* Replays a directory (non-recursive, dot files skipped) or one file; counts inputs run. */
static int
replay_path(const char *path, unsigned *count)
{
	struct stat st;
	if (stat(path, &st) == -1) {
		/* An absent repro/ directory just means no crash was ever found. */
		return errno == ENOENT ? 0 : -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (replay_file(path) == -1)
			return -1;
		(*count)++;
		return 0;
	}
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char full[4096];
		int w = snprintf(full, sizeof full, "%s/%s", path, de->d_name);
		if (w < 0 || (size_t)w >= sizeof full) {
			rc = -1;
			continue;
		}
		if (replay_file(full) == -1)
			rc = -1;
		else
			(*count)++;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	unsigned count = 0;
	int rc = 0;
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) == -1)
			rc = 1;
	if (count == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	printf("replayed %u inputs\n", count);
	return rc;
}
