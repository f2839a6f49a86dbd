/*
 * Parser benchmark: for every ClientHello vector in tests/vectors/tls_hello/ it times
 * tls_hello_init + tls_hello_feed of the whole file, calibrated to about 0.2 s per vector,
 * and prints one table row: verdict, bytes, ns per parse, ns per byte. Built with the suite
 * as bench_parse but never run by ctest: it asserts nothing about time (DESIGN.md §9).
 * Usage: bench_parse [substring]  -- only vectors whose name contains substring.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/tls_hello.h"

#define VEC_DIR SY_SOURCE_DIR "/tests/vectors/tls_hello"
#define BENCH_TARGET_NS 200000000.0	/* ~0.2 s per vector */
#define NAMES_MAX 256

/* Monotonic nanoseconds. */
static double
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keeps the compiler from dropping the parse. */
static volatile unsigned sink;

/* Parses buf iters times; returns the elapsed nanoseconds and the last verdict. */
static double
run(const uint8_t *buf, size_t len, unsigned long iters, enum tls_hello_verdict *v)
{
	static struct tls_hello h;
	double t0 = now_ns();
	for (unsigned long i = 0; i < iters; i++) {
		tls_hello_init(&h, 0);
		*v = tls_hello_feed(&h, buf, len);
		sink += h.sni_len;
	}
	return now_ns() - t0;
}

/* Orders file names for a stable table. */
static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	static uint8_t buf[1 << 20];
	char *names[NAMES_MAX];
	size_t n = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	DIR *d = opendir(VEC_DIR);
	if (d == NULL) {
		perror(VEC_DIR);
		return 1;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < NAMES_MAX) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".bin") != 0)
			continue;
		if (only != NULL && strstr(de->d_name, only) == NULL)
			continue;
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			return 1;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp_names);

	printf("%-42s %-10s %7s %10s %8s\n", "vector", "verdict", "bytes", "ns/parse", "ns/byte");
	for (size_t i = 0; i < n; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", VEC_DIR, names[i]);
		FILE *f = fopen(path, "rb");
		if (f == NULL) {
			perror(path);
			continue;
		}
		size_t len = fread(buf, 1, sizeof buf, f);
		fclose(f);

		/* Calibrate: grow the count until a run takes 20 ms, then scale to 0.2 s. */
		enum tls_hello_verdict v;
		unsigned long iters = 1;
		double t;
		while ((t = run(buf, len, iters, &v)) < BENCH_TARGET_NS / 10)
			iters *= 2;
		iters = (unsigned long)((double)iters * BENCH_TARGET_NS / t) + 1;
		t = run(buf, len, iters, &v);
		double per = t / (double)iters;
		printf("%-42s %-10s %7zu %10.1f %8.3f\n", names[i], tls_hello_verdict_str(v), len, per,
		    len ? per / (double)len : 0.0);
		free(names[i]);
	}
	return 0;
}
