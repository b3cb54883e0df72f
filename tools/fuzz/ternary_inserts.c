// SPDX-License-Identifier: GPL-2.0
/*
 * ternary_inserts.c: time N inserts into a ternary table whose entries all
 * have distinct masks (a tuple each), the pattern that made
 * rmt_publish_tuples() cubic (docs/robustness.md).  Prints a figure; never
 * pass/fail.  Build: make -C tools/fuzz ternary-bench.
 */
#include "rmt_table.h"
#include <time.h>

int main(int argc, char **argv)
{
	struct rmt_table_schema s = { 0 };
	struct rmt_entry_spec e;
	struct timespec a, b;
	struct rmt_table *t;
	char err[200];
	int n = argc > 1 ? atoi(argv[1]) : 8000, i;

	s.max_entries = n;
	s.nkeys = 1;
	s.nactions = 1;
	s.keys[0].kind = RMT_MATCH_TERNARY;
	s.keys[0].bits = 32;
	if (rmt_table_create(&s, &t, err, sizeof(err)))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		e.nkeys = 1;
		e.priority = (i * 7919) % 1000;
		e.match[0].b = i + 1;	/* every mask distinct */
		if (rmt_table_insert(t, &e, err, sizeof(err))) {
			puts(err);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%d distinct-mask ternary inserts: %.3f s\n", n,
	       (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	rmt_table_destroy(t);
	return 0;
}
