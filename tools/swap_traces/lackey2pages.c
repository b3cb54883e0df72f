// SPDX-License-Identifier: GPL-2.0
/*
 * lackey2pages - reduce a valgrind lackey memory trace to page accesses.
 *
 * Reads "valgrind --tool=lackey --trace-mem=yes" output on stdin and writes
 * the data accesses (loads, stores, modifies) as little-endian u64 page
 * numbers on stdout.  Two reductions keep the output small while keeping
 * the misses of any LRU memory of FILTER_PAGES pages or more:
 *   - accesses within a page collapse into one page access;
 *   - an access that hits in a FILTER_PAGES-entry LRU filter is dropped
 *     (trace stripping: such a page is resident in every larger LRU).
 * Instruction lines are only counted, to model compute time; the counts
 * are printed on stderr as "instrs N data N pages N".  An optional
 * argument caps the pages written: the reducer then exits, and the traced
 * program dies of SIGPIPE, which bounds the capture time.
 *
 * Python would take minutes per 10^8 lines; this keeps capture I/O-bound.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_PAGES 32
#define PAGE_SHIFT 12
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t filter[FILTER_PAGES];
static int filter_len;

/*
 * filter_touch - move @page to the front of the LRU filter.
 * Returns 1 when the page was already there (a hit), 0 on a miss.
 */
static int filter_touch(uint64_t page)
{
	int i, hit = 0;

	for (i = 0; i < filter_len; i++) {
		if (filter[i] == page) {
			hit = 1;
			break;
		}
	}
	if (!hit) {
		if (filter_len < FILTER_PAGES)
			filter_len++;
		i = filter_len - 1;
	}
	memmove(&filter[1], &filter[0], (size_t)i * sizeof(filter[0]));
	filter[0] = page;
	return hit;
}

int main(int argc, char **argv)
{
	static char line[4096];
	static uint64_t out[4096];
	unsigned long long instrs = 0, data = 0, pages = 0;
	uint64_t last = UINT64_MAX;
	size_t nout = 0;
	unsigned long long limit = argc > 1 ? strtoull(argv[1], NULL, 10) : 0;

	while (fgets(line, sizeof(line), stdin)) {
		uint64_t addr, page;
		char *end;

		if (line[0] == 'I') {
			instrs++;
			continue;
		}
		if (line[0] != ' ' || !strchr("LSM", line[1]) || line[2] != ' ')
			continue;
		addr = strtoull(line + 3, &end, 16);
		if (end == line + 3)
			continue;
		data++;
		page = addr >> PAGE_SHIFT;
		if (page == last)
			continue;
		last = page;
		if (filter_touch(page))
			continue;
		out[nout++] = page;
		if (++pages == limit)
			break;
		if (nout == ARRAY_SIZE(out)) {
			fwrite(out, sizeof(out[0]), nout, stdout);
			nout = 0;
		}
	}
	fwrite(out, sizeof(out[0]), nout, stdout);
	fprintf(stderr, "instrs %llu data %llu pages %llu\n", instrs, data, pages);
	return 0;
}
