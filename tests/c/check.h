/* SPDX-License-Identifier: GPL-2.0 */
/*
 * check.h: the few assertion helpers the C unit tests share.
 *
 * A failed CHECK prints where and what, then exits 1 so the pytest wrapper
 * reports it; the last line of a passing run says how many checks ran.
 */
#ifndef _RMT_TEST_CHECK_H
#define _RMT_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static unsigned long checks_run;

#define CHECK(cond, ...) \
	do { \
		checks_run++; \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fprintf(stderr, "\n"); \
			exit(1); \
		} \
	} while (0)

#define CHECK_EQ(a, b) \
	CHECK((long long)(a) == (long long)(b), "%s = %lld, expected %lld", #a, \
	      (long long)(a), (long long)(b))

static inline void checks_done(const char *name)
{
	printf("%s: ok, %lu checks\n", name, checks_run);
}

/* xorshift64: reproducible randomness for the randomized tests */
static unsigned long long test_rng_state = 0x9E3779B97F4A7C15ull;

static inline unsigned long long test_rand(void)
{
	unsigned long long x = test_rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	test_rng_state = x;
	return x;
}

static inline unsigned long long test_below(unsigned long long n)
{
	return n ? test_rand() % n : 0;
}

#endif
