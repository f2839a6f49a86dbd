/*
 * A minimal unit-test harness: CHECK records a failure with file:line and goes on, so one
 * run reports every broken case. check_summary() prints the "N passed, N failed" line and
 * gives the exit status. Never used outside tests/.
 */
#ifndef SY_TESTS_CHECK_H
#define SY_TESTS_CHECK_H

#include <stdio.h>

static unsigned check_passed, check_failed;

#define CHECK(cond) \
	do { \
		if (cond) { \
			check_passed++; \
		} else { \
			check_failed++; \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		} \
	} while (0)

/* CHECKF: like CHECK, with a printf-style explanation on failure. */
#define CHECKF(cond, ...) \
	do { \
		if (cond) { \
			check_passed++; \
		} else { \
			check_failed++; \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

/* Prints the closing line and returns the process exit status. */
static inline int
check_summary(void)
{
	printf("%u passed, %u failed\n", check_passed, check_failed);
	return check_failed == 0 ? 0 : 1;
}

#endif
