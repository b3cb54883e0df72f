// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrent table updates and model swaps on /dev/rmt, with the final state
 * checked against every acknowledged write.
 *
 *   rmt_stress [-t SECONDS] [-T MAX_SECONDS] [-w WRITERS] [-m SWAPPERS]
 *              [-S MIN_SWAPS] [-k KEYSPACE] [-c] [-L] -o OLD_BLOB -n NEW_BLOB
 *              PROG_ID [PROG_ID...]
 *
 * Every program has table 0 with one exact key (0..KEYSPACE-1) and an action
 * 0 taking six u64 parameters (gen_lo, a, b, key, csum, gen_hi), and model 0
 * accepting both weight blobs (tests/kernel/stress_helpers/stress_*.rmt).
 *
 * WRITERS threads each own a disjoint key range of one program (writer i
 * works on PROG_ID[i % nprogs]) and insert, modify and delete entries as fast
 * as the ioctls return, every write with a fresh generation number and the
 * checksum the program recomputes in the hook.  A writer remembers, per key,
 * its last acknowledged write (or that the key was deleted).  SWAPPERS threads
 * load the old and the new weights alternately into model 0 of every program.
 * The run lasts SECONDS, longer if fewer than MIN_SWAPS swaps were done, but
 * never past MAX_SECONDS.
 *
 * Afterwards every table is dumped and compared with the writers' records:
 * an acknowledged entry missing or holding other parameters is a lost update;
 * an entry nobody wrote last (deleted, or a key no writer owns) is a phantom.
 * With -c every entry is then deleted (the table ends as it started: empty,
 * for the slab comparison).  -L checks the checker: after the run it makes
 * three writes on the first program behind the records' back (a modify and a
 * delete it does not record, an insert of a key no writer owns), so the
 * comparison must find exactly one stale, one lost and one phantom entry
 * there; the records are then repaired for the cleanup.  Prints one JSON object; exit status 0 unless the
 * device could not be used (the test asserts on the JSON).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "uapi/rmt.h"

#define MAX_WRITERS 64
#define MAX_SWAPPERS 16
#define MAX_KEYSPACE 1024
#define MAXERR 140
#define NOPS 4				/* insert, modify, delete, swap */
#define FNV_PRIME 0x100000001b3ull	/* the mix stress_*.rmt recomputes */
#define PARAM_WORDS 6

static const char *const op_names[NOPS] = { "insert", "modify", "delete", "swap" };

struct blob {
	void *data;
	size_t len;
};

/* What a writer knows about one of its keys: the last acknowledged write. */
struct key_state {
	int present;
	uint64_t params[PARAM_WORDS];
};

struct writer {
	pthread_t tid;
	int index;
	uint32_t prog;
	uint32_t key_lo, key_hi;		/* owned keys: [key_lo, key_hi) */
	uint64_t rng;
	uint64_t gen;
	unsigned long ops[NOPS];
	unsigned long errs[NOPS][MAXERR];
	struct key_state *keys;
};

struct swapper {
	pthread_t tid;
	int index;
	unsigned long swaps;
	unsigned long errs[MAXERR];
	int version_regressions;		/* a load returned a version <= the last one */
};

static int devfd;
static uint32_t progs[RMT_IOC_MAX_PROGS];
static int nprogs;
static struct blob blobs[2];
static int stop;				/* set once; read with __atomic_load_n */
static unsigned long swaps_total;		/* atomically updated */
static pthread_mutex_t swap_lock[RMT_IOC_MAX_PROGS];
static uint64_t last_version[RMT_IOC_MAX_PROGS];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The checksum the hook recomputes: FNV-style over gen, a, b, key. */
static uint64_t checksum(uint64_t gen, uint64_t a, uint64_t b, uint64_t key)
{
	uint64_t h = gen;

	h = (h ^ a) * FNV_PRIME;
	h = (h ^ b) * FNV_PRIME;
	h = (h ^ key) * FNV_PRIME;
	return h ^ (h >> 29);
}

static void fill_params(uint64_t *p, uint64_t gen, uint64_t key)
{
	uint64_t a = gen * 0x9E3779B97F4A7C15ull ^ key;
	uint64_t b = ~gen + (key << 40);

	p[0] = gen;
	p[1] = a;
	p[2] = b;
	p[3] = key;
	p[4] = checksum(gen, a, b, key);
	p[5] = gen;
}

static int table_update(uint32_t prog, uint32_t op, uint64_t key, const uint64_t *params)
{
	struct rmt_ioc_table_update u;

	memset(&u, 0, sizeof(u));
	u.abi = RMT_ABI_VERSION;
	u.id = prog;
	u.op = op;
	u.entry.nkeys = 1;
	u.entry.match[0].a = key;
	if (params)
		memcpy(u.entry.params, params, PARAM_WORDS * sizeof(uint64_t));
	return ioctl(devfd, RMT_IOC_TABLE_UPDATE, &u);
}

static void count_err(unsigned long *errs, int e)
{
	errs[e > 0 && e < MAXERR ? e : MAXERR - 1]++;
}

static void *run_writer(void *arg)
{
	struct writer *w = arg;
	uint64_t params[PARAM_WORDS];

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint32_t key = w->key_lo + next_rand(&w->rng) % (w->key_hi - w->key_lo);
		struct key_state *ks = &w->keys[key - w->key_lo];
		int op;

		if (!ks->present)
			op = RMT_TABLE_INSERT;
		else
			op = next_rand(&w->rng) % 10 < 7 ? RMT_TABLE_MODIFY : RMT_TABLE_DELETE;
		if (op != RMT_TABLE_DELETE)
			fill_params(params, ((uint64_t)(w->index + 1) << 48) | ++w->gen, key);
		if (table_update(w->prog, op, key, op == RMT_TABLE_DELETE ? NULL : params)) {
			count_err(w->errs[op], errno);
			continue;
		}
		w->ops[op]++;
		ks->present = op != RMT_TABLE_DELETE;
		if (ks->present)
			memcpy(ks->params, params, sizeof(params));
	}
	return NULL;
}

static int model_load(uint32_t prog, const struct blob *b, uint64_t *version)
{
	struct rmt_ioc_model_load m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.abi = RMT_ABI_VERSION;
	m.id = prog;
	m.blob = (uintptr_t)b->data;
	m.blob_len = b->len;
	rc = ioctl(devfd, RMT_IOC_MODEL_LOAD, &m);
	*version = m.version;
	return rc;
}

static void *run_swapper(void *arg)
{
	struct swapper *s = arg;
	unsigned long n = s->index;
	uint64_t version;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		int p = n % nprogs;

		/* per program: the version a load returns is compared with the one before it */
		pthread_mutex_lock(&swap_lock[p]);
		if (model_load(progs[p], &blobs[(n / nprogs) % 2], &version)) {
			count_err(s->errs, errno);
		} else {
			s->swaps++;
			__atomic_add_fetch(&swaps_total, 1, __ATOMIC_RELAXED);
			if (version <= last_version[p])
				s->version_regressions++;
			last_version[p] = version;
		}
		pthread_mutex_unlock(&swap_lock[p]);
		n++;
	}
	return NULL;
}

static int read_blob(const char *path, struct blob *b)
{
	FILE *f = fopen(path, "rb");
	long len;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	b->data = malloc(len > 0 ? len : 1);
	b->len = len;
	if (len <= 0 || fread(b->data, 1, len, f) != (size_t)len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

/* Final-state comparison of one program's table with the writers' records. */
struct verdict {
	unsigned long entries, expected, matched, lost, stale, phantom, dump_errors;
};

static struct key_state *owner_state(struct writer *ws, int nw, uint32_t prog, uint64_t key)
{
	int i;

	for (i = 0; i < nw; i++)
		if (ws[i].prog == prog && key >= ws[i].key_lo && key < ws[i].key_hi)
			return &ws[i].keys[key - ws[i].key_lo];
	return NULL;
}

static void check_table(int p, struct writer *ws, int nw, struct verdict *v)
{
	static struct rmt_ioc_entry_dump ents[RMT_IOC_MAX_BATCH];
	static unsigned char seen[MAX_KEYSPACE];
	struct rmt_ioc_table_dump d;
	uint32_t start = 0;
	int i;
	uint64_t k;

	memset(seen, 0, sizeof(seen));
	for (;;) {
		memset(&d, 0, sizeof(d));
		d.abi = RMT_ABI_VERSION;
		d.id = progs[p];
		d.start = start;
		d.count = RMT_IOC_MAX_BATCH;
		d.entries = (uintptr_t)ents;
		if (ioctl(devfd, RMT_IOC_TABLE_DUMP, &d)) {
			v->dump_errors++;
			break;
		}
		for (i = 0; i < (int)d.count; i++) {
			struct rmt_ioc_entry *e = &ents[i].entry;
			struct key_state *ks = owner_state(ws, nw, progs[p], e->match[0].a);

			v->entries++;
			if (!ks || !ks->present) {
				v->phantom++;
				continue;
			}
			if (e->match[0].a < MAX_KEYSPACE)
				seen[e->match[0].a] = 1;
			if (e->action != 0 ||
			    memcmp(e->params, ks->params, sizeof(ks->params)))
				v->stale++;
			else
				v->matched++;
		}
		if (d.count < RMT_IOC_MAX_BATCH)
			break;
		start += d.count;
	}
	/* acknowledged entries the dump did not show */
	for (k = 0; k < MAX_KEYSPACE; k++) {
		struct key_state *ks = owner_state(ws, nw, progs[p], k);

		if (ks && ks->present) {
			v->expected++;
			if (!seen[k])
				v->lost++;
		}
	}
}

static unsigned long cleanup(int p, struct writer *ws, int nw, unsigned long *errs)
{
	unsigned long n = 0;
	int i;
	uint32_t k;

	for (i = 0; i < nw; i++) {
		if (ws[i].prog != progs[p])
			continue;
		for (k = ws[i].key_lo; k < ws[i].key_hi; k++) {
			if (!ws[i].keys[k - ws[i].key_lo].present)
				continue;
			if (table_update(progs[p], RMT_TABLE_DELETE, k, NULL))
				count_err(errs, errno);
			else
				n++;
		}
	}
	return n;
}

/*
 * -L: writes the records do not know about, on writer 0's program.  Returns
 * the number of writes that failed (0 expected).
 */
static int inject(struct writer *w0, uint32_t keyspace, uint64_t *stale_key, uint64_t *lost_key,
		  uint64_t *phantom_key)
{
	uint64_t params[PARAM_WORDS];
	uint32_t k, n = w0->key_hi - w0->key_lo;
	int found = 0, failed = 0;

	*stale_key = *lost_key = UINT64_MAX;
	*phantom_key = keyspace;
	for (k = 0; k < n && found < 2; k++) {
		if (!w0->keys[k].present)
			continue;
		if (!found++) {
			*stale_key = w0->key_lo + k;
			fill_params(params, 0xfffe000000000000ull | k, *stale_key);
			failed += !!table_update(w0->prog, RMT_TABLE_MODIFY, *stale_key, params);
		} else {
			*lost_key = w0->key_lo + k;
			failed += !!table_update(w0->prog, RMT_TABLE_DELETE, *lost_key, NULL);
		}
	}
	fill_params(params, 0xffff000000000000ull, *phantom_key);
	failed += !!table_update(w0->prog, RMT_TABLE_INSERT, *phantom_key, params);
	return failed + (found < 2);
}

static void print_errs(const unsigned long *errs, int *first)
{
	int e;

	for (e = 0; e < MAXERR; e++) {
		if (!errs[e])
			continue;
		printf("%s\"%s\": %lu", *first ? "" : ", ", strerrorname_np(e) ?: "?", errs[e]);
		*first = 0;
	}
}

static void die_usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-t SECONDS] [-T MAX_SECONDS] [-w WRITERS]", argv0);
	fprintf(stderr, " [-m SWAPPERS] [-S MIN_SWAPS] [-k KEYSPACE] [-c] [-L]");
	fprintf(stderr, " -o OLD_BLOB -n NEW_BLOB PROG_ID...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double seconds = 10, max_seconds = 0, t0, elapsed;
	int nwriters = 4, nswappers = 1, keyspace = 64, do_cleanup = 0, opt, i, p, op, first;
	int do_inject = 0, inject_failed = 0;
	uint64_t stale_key = 0, lost_key = 0, phantom_key = 0;
	unsigned long min_swaps = 0, ops[NOPS] = { 0 }, errs[NOPS][MAXERR] = { { 0 } };
	unsigned long cleanup_errs[MAXERR] = { 0 }, cleaned = 0, updates;
	const char *old_path = NULL, *new_path = NULL;
	static struct writer ws[MAX_WRITERS];
	static struct swapper ss[MAX_SWAPPERS];
	struct verdict v[RMT_IOC_MAX_PROGS];
	int regressions = 0;

	while ((opt = getopt(argc, argv, "t:T:w:m:S:k:cLo:n:")) != -1) {
		switch (opt) {
		case 't':
			seconds = atof(optarg);
			break;
		case 'T':
			max_seconds = atof(optarg);
			break;
		case 'w':
			nwriters = atoi(optarg);
			break;
		case 'm':
			nswappers = atoi(optarg);
			break;
		case 'S':
			min_swaps = strtoul(optarg, NULL, 0);
			break;
		case 'k':
			keyspace = atoi(optarg);
			break;
		case 'c':
			do_cleanup = 1;
			break;
		case 'L':
			do_inject = 1;
			break;
		case 'o':
			old_path = optarg;
			break;
		case 'n':
			new_path = optarg;
			break;
		default:
			die_usage(argv[0]);
		}
	}
	for (i = optind; i < argc && nprogs < RMT_IOC_MAX_PROGS; i++)
		progs[nprogs++] = strtoul(argv[i], NULL, 0);
	if (!nprogs || !old_path || !new_path || nwriters < nprogs || nwriters > MAX_WRITERS ||
	    nswappers < 0 || nswappers > MAX_SWAPPERS || keyspace < 1 ||
	    keyspace > MAX_KEYSPACE || keyspace * nprogs < nwriters)
		die_usage(argv[0]);
	if (max_seconds < seconds)
		max_seconds = seconds * 4;
	if (read_blob(old_path, &blobs[0]) || read_blob(new_path, &blobs[1])) {
		perror("weights blob");
		return 1;
	}
	devfd = open("/dev/rmt", O_RDWR);
	if (devfd < 0) {
		perror("/dev/rmt");
		return 1;
	}
	for (p = 0; p < nprogs; p++)
		pthread_mutex_init(&swap_lock[p], NULL);

	/* writer i: program i % nprogs, the (i / nprogs)-th slice of its keyspace */
	for (i = 0; i < nwriters; i++) {
		int on_prog = (nwriters - i % nprogs + nprogs - 1) / nprogs;	/* writers of it */
		int slot = i / nprogs;

		ws[i].index = i;
		ws[i].prog = progs[i % nprogs];
		ws[i].key_lo = keyspace * slot / on_prog;
		ws[i].key_hi = keyspace * (slot + 1) / on_prog;
		ws[i].rng = 0x9E3779B97F4A7C15ull * (i + 1);
		ws[i].keys = calloc(ws[i].key_hi - ws[i].key_lo, sizeof(*ws[i].keys));
	}
	t0 = now_s();
	for (i = 0; i < nwriters; i++)
		pthread_create(&ws[i].tid, NULL, run_writer, &ws[i]);
	for (i = 0; i < nswappers; i++) {
		ss[i].index = i;
		pthread_create(&ss[i].tid, NULL, run_swapper, &ss[i]);
	}
	for (;;) {
		usleep(20000);
		elapsed = now_s() - t0;
		if (elapsed >= max_seconds ||
		    (elapsed >= seconds &&
		     __atomic_load_n(&swaps_total, __ATOMIC_RELAXED) >= min_swaps))
			break;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < nwriters; i++)
		pthread_join(ws[i].tid, NULL);
	for (i = 0; i < nswappers; i++)
		pthread_join(ss[i].tid, NULL);
	elapsed = now_s() - t0;

	for (i = 0; i < nwriters; i++)
		for (op = 0; op < NOPS; op++) {
			int e;

			ops[op] += ws[i].ops[op];
			for (e = 0; e < MAXERR; e++)
				errs[op][e] += ws[i].errs[op][e];
		}
	for (i = 0; i < nswappers; i++) {
		int e;

		ops[3] += ss[i].swaps;
		regressions += ss[i].version_regressions;
		for (e = 0; e < MAXERR; e++)
			errs[3][e] += ss[i].errs[e];
	}
	if (do_inject)
		inject_failed = inject(&ws[0], keyspace, &stale_key, &lost_key, &phantom_key);
	memset(v, 0, sizeof(v));
	for (p = 0; p < nprogs; p++)
		check_table(p, ws, nwriters, &v[p]);
	if (do_inject) {
		/* the records learn what was done behind their back */
		if (lost_key != UINT64_MAX)
			ws[0].keys[lost_key - ws[0].key_lo].present = 0;
		if (do_cleanup && table_update(ws[0].prog, RMT_TABLE_DELETE, phantom_key, NULL))
			count_err(cleanup_errs, errno);
	}
	for (p = 0; p < nprogs && do_cleanup; p++)
		cleaned += cleanup(p, ws, nwriters, cleanup_errs);
	updates = ops[0] + ops[1] + ops[2];

	printf("{\"seconds\": %.3f, \"writers\": %d, ", elapsed, nwriters);
	printf("\"swappers\": %d, \"keyspace\": %d, \"progs\": [", nswappers, keyspace);
	for (p = 0; p < nprogs; p++)
		printf("%s%u", p ? ", " : "", progs[p]);
	printf("], \"ops\": {");
	for (op = 0; op < NOPS; op++)
		printf("%s\"%s\": %lu", op ? ", " : "", op_names[op], ops[op]);
	printf("}, \"updates\": %lu, \"updates_per_s\": %.1f, ", updates, updates / elapsed);
	printf("\"swaps\": %lu, \"swaps_per_s\": %.1f, ", ops[3], ops[3] / elapsed);
	printf("\"version_regressions\": %d, \"errors\": {", regressions);
	for (op = 0; op < NOPS; op++) {
		printf("%s\"%s\": {", op ? ", " : "", op_names[op]);
		first = 1;
		print_errs(errs[op], &first);
		printf("}");
	}
	printf("}, \"final\": [");
	for (p = 0; p < nprogs; p++) {
		printf("%s{\"prog\": %u, \"entries\": %lu, ", p ? ", " : "", progs[p],
		       v[p].entries);
		printf("\"expected\": %lu, \"matched\": %lu, ", v[p].expected, v[p].matched);
		printf("\"lost\": %lu, \"stale\": %lu, ", v[p].lost, v[p].stale);
		printf("\"phantom\": %lu, \"dump_errors\": %lu, ", v[p].phantom, v[p].dump_errors);
		printf("\"last_version\": %llu}", (unsigned long long)last_version[p]);
	}
	if (do_inject) {
		printf("], \"injected\": {\"failed\": %d, \"stale_key\": %lld, ", inject_failed,
		       (long long)stale_key);
		printf("\"lost_key\": %lld, \"phantom_key\": %lld}", (long long)lost_key,
		       (long long)phantom_key);
	} else {
		printf("]");
	}
	printf(", \"cleanup\": {\"deleted\": %lu, \"errors\": {", cleaned);
	first = 1;
	print_errs(cleanup_errs, &first);
	printf("}}}\n");
	close(devfd);
	return 0;
}
