// SPDX-License-Identifier: GPL-2.0
/*
 * Malformed ioctls on /dev/rmt from several threads at once.
 *
 *   rmt_ioctl_storm THREADS CALLS_PER_THREAD PROG_ID [PROG_ID...]
 *
 * Every call is built to be refused: truncated and oversized payloads
 * (command numbers of the wrong size), wrong ABI versions, ids that do not
 * exist, counts that overflow or exceed the caps, bad user pointers,
 * garbage objects and weight blobs, invalid table entries, set pad fields,
 * unknown commands, short read() buffers.  The loaded programs (PROG_ID...)
 * are targets: a call that succeeded would have changed them.  Prints one
 * JSON object: per kind, how many calls failed with which errno, and how
 * many unexpectedly succeeded (the test asserts 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "uapi/rmt.h"

#define NKINDS 24
#define MAXERR 140

static const char *const kind_names[NKINDS] = {
	"truncated_cmd", "oversized_cmd", "wrong_abi", "bad_prog_id", "dump_count_overflow",
	"map_count_overflow", "list_count_overflow", "obj_too_big", "obj_bad_pointer",
	"obj_garbage", "entry_too_many_keys", "entry_bad_action", "table_bad_op",
	"table_bad_index", "pad_set", "weights_too_big", "weights_garbage", "model_bad_index",
	"run_bad_ctx_len", "run_bad_cpu", "unknown_cmd", "read_short_buffer",
	"info_bad_pointer", "map_bad_index",
};

static int devfd;
static uint32_t prog_ids[RMT_IOC_MAX_PROGS];
static int nprogs;
static unsigned long counts[NKINDS][MAXERR];	/* [kind][errno]; errno 0: succeeded */
static pthread_mutex_t counts_lock = PTHREAD_MUTEX_INITIALIZER;

struct worker {
	int calls;
	uint64_t rng;
	unsigned long local[NKINDS][MAXERR];
};

static uint64_t next_rand(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static uint32_t some_prog(struct worker *w)
{
	return prog_ids[next_rand(w) % nprogs];
}

/* A command number with a different payload size than the real one. */
static unsigned long resized(unsigned long cmd, long delta)
{
	unsigned long size = _IOC_SIZE(cmd) + delta;

	return _IOC(_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), size & _IOC_SIZEMASK);
}

static int one_call(struct worker *w, int kind)
{
	union {
		struct rmt_ioc_prog_load load;
		struct rmt_ioc_prog_id pid;
		struct rmt_ioc_prog_list list;
		struct rmt_ioc_prog_info info;
		struct rmt_ioc_table_update upd;
		struct rmt_ioc_table_dump dump;
		struct rmt_ioc_model_load model;
		struct rmt_ioc_map_read mread;
		struct rmt_ioc_map_write mwrite;
		struct rmt_ioc_prog_run run;
		char raw[4096];
	} u;
	static const unsigned long cmds[] = {
		RMT_IOC_PROG_LOAD, RMT_IOC_PROG_UNLOAD, RMT_IOC_PROG_INFO, RMT_IOC_TABLE_UPDATE,
		RMT_IOC_TABLE_DUMP, RMT_IOC_MODEL_LOAD, RMT_IOC_MAP_WRITE, RMT_IOC_PROG_RUN,
	};
	uint8_t garbage[512];
	uint64_t ents[16 * 50];
	uint64_t keys[8], vals[8];
	char errbuf[256];
	size_t i;

	memset(&u, 0, sizeof(u));
	for (i = 0; i < sizeof(garbage); i++)
		garbage[i] = next_rand(w);
	switch (kind) {
	case 0:
		return ioctl(devfd, resized(cmds[next_rand(w) % 8], -(long)(1 + next_rand(w) % 8)),
			     &u);
	case 1:
		return ioctl(devfd, resized(cmds[next_rand(w) % 8], 1 + next_rand(w) % 64), &u);
	case 2: /* a well-formed unload of a loaded program, but the wrong ABI version */
		u.pid.abi = next_rand(w) % 2 ? 0 : RMT_ABI_VERSION + 1 + next_rand(w) % 1000;
		u.pid.id = some_prog(w);
		return ioctl(devfd, RMT_IOC_PROG_UNLOAD, &u.pid);
	case 3: {
		static const uint32_t bad[] = { 0, RMT_IOC_MAX_PROGS + 1, 0xffffffffu, 63 };

		u.info.abi = RMT_ABI_VERSION;
		u.info.id = bad[next_rand(w) % 4];
		return ioctl(devfd, next_rand(w) % 2 ? RMT_IOC_PROG_INFO : RMT_IOC_PROG_UNLOAD,
			     &u.info);
	}
	case 4:
		u.dump.abi = RMT_ABI_VERSION;
		u.dump.id = some_prog(w);
		u.dump.count = next_rand(w) % 2 ? 0xffffffffu : RMT_IOC_MAX_BATCH + 1;
		u.dump.entries = (uintptr_t)ents;
		return ioctl(devfd, RMT_IOC_TABLE_DUMP, &u.dump);
	case 5:
		u.mread.abi = RMT_ABI_VERSION;
		u.mread.id = some_prog(w);
		u.mread.count = 0x80000000u + next_rand(w) % 1000;
		u.mread.keys = (uintptr_t)keys;
		u.mread.vals = (uintptr_t)vals;
		return ioctl(devfd, RMT_IOC_MAP_READ, &u.mread);
	case 6:
		u.list.abi = RMT_ABI_VERSION;
		u.list.count = RMT_IOC_MAX_PROGS + 1 + next_rand(w) % 100000;
		u.list.ids = (uintptr_t)ents;
		return ioctl(devfd, RMT_IOC_PROG_LIST, &u.list);
	case 7:
		u.load.abi = RMT_ABI_VERSION;
		u.load.obj = (uintptr_t)garbage;
		u.load.obj_len = RMT_IOC_MAX_OBJ_SIZE + 1 + next_rand(w) % 0x7fffffff;
		return ioctl(devfd, RMT_IOC_PROG_LOAD, &u.load);
	case 8:
		u.load.abi = RMT_ABI_VERSION;
		u.load.obj = next_rand(w) % 2 ? 8 : 0xffff800000000000ull;
		u.load.obj_len = 64;
		return ioctl(devfd, RMT_IOC_PROG_LOAD, &u.load);
	case 9: /* random bytes, sometimes behind a real magic */
		u.load.abi = RMT_ABI_VERSION;
		if (next_rand(w) % 2)
			memcpy(garbage, "RMTB", 4);
		u.load.obj = (uintptr_t)garbage;
		u.load.obj_len = 1 + next_rand(w) % sizeof(garbage);
		u.load.err = (uintptr_t)errbuf;
		u.load.err_len = sizeof(errbuf);
		return ioctl(devfd, RMT_IOC_PROG_LOAD, &u.load);
	case 10:
	case 11:
	case 12:
	case 13:
		u.upd.abi = RMT_ABI_VERSION;
		u.upd.id = some_prog(w);
		u.upd.op = next_rand(w) % 3;
		u.upd.entry.nkeys = 1;
		u.upd.entry.match[0].a = next_rand(w);
		u.upd.err = (uintptr_t)errbuf;
		u.upd.err_len = sizeof(errbuf);
		if (kind == 10)
			u.upd.entry.nkeys = RMT_IOC_MAX_KEYS + 1 + next_rand(w) % 100;
		else if (kind == 11)
			u.upd.entry.action = 0xffff - next_rand(w) % 100;
		else if (kind == 12)
			u.upd.op = RMT_TABLE_DELETE + 1 + next_rand(w) % 1000;
		else
			u.upd.table = 64 + next_rand(w) % 100000;
		if (kind == 11 && u.upd.op == RMT_TABLE_DELETE)
			u.upd.op = RMT_TABLE_INSERT;	/* delete ignores the action */
		return ioctl(devfd, RMT_IOC_TABLE_UPDATE, &u.upd);
	case 14:
		u.dump.abi = RMT_ABI_VERSION;
		u.dump.id = some_prog(w);
		u.dump.count = 1;
		u.dump.pad = 1 + next_rand(w) % 1000;
		u.dump.entries = (uintptr_t)ents;
		return ioctl(devfd, RMT_IOC_TABLE_DUMP, &u.dump);
	case 15:
		u.model.abi = RMT_ABI_VERSION;
		u.model.id = some_prog(w);
		u.model.blob = (uintptr_t)garbage;
		u.model.blob_len = RMT_IOC_MAX_WEIGHTS_SIZE + 1 + next_rand(w) % 1000000;
		return ioctl(devfd, RMT_IOC_MODEL_LOAD, &u.model);
	case 16:
		u.model.abi = RMT_ABI_VERSION;
		u.model.id = some_prog(w);
		u.model.model = 0;
		u.model.blob = (uintptr_t)garbage;
		u.model.blob_len = 1 + next_rand(w) % sizeof(garbage);
		u.model.err = (uintptr_t)errbuf;
		u.model.err_len = sizeof(errbuf);
		return ioctl(devfd, RMT_IOC_MODEL_LOAD, &u.model);
	case 17:
		u.model.abi = RMT_ABI_VERSION;
		u.model.id = some_prog(w);
		u.model.model = 16 + next_rand(w) % 0xffff;
		u.model.blob = (uintptr_t)garbage;
		u.model.blob_len = sizeof(garbage);
		return ioctl(devfd, RMT_IOC_MODEL_LOAD, &u.model);
	case 18:
		u.run.abi = RMT_ABI_VERSION;
		u.run.id = some_prog(w);
		u.run.ctx = (uintptr_t)garbage;
		u.run.ctx_len = next_rand(w) % 2 ? 1 + next_rand(w) % 80 : 100000;
		return ioctl(devfd, RMT_IOC_PROG_RUN, &u.run);
	case 19:
		u.run.abi = RMT_ABI_VERSION;
		u.run.id = some_prog(w);
		u.run.ctx = (uintptr_t)garbage;
		u.run.ctx_len = 88;
		u.run.cpu = 4096 + next_rand(w) % 100000;
		return ioctl(devfd, RMT_IOC_PROG_RUN, &u.run);
	case 20:
		return ioctl(devfd, _IOWR(next_rand(w) % 2 ? RMT_IOC_MAGIC : 'x',
					  0x60 + next_rand(w) % 0x9f, struct rmt_ioc_prog_id), &u);
	case 21:
		return read(devfd, ents, 1 + next_rand(w) % (sizeof(struct rmt_ioc_trace_rec) - 1));
	case 22:
		u.info.abi = RMT_ABI_VERSION;
		u.info.id = some_prog(w);
		u.info.obj = 16;		/* an unmapped user address, big enough buffer */
		u.info.obj_cap = 1 << 24;
		return ioctl(devfd, RMT_IOC_PROG_INFO, &u.info);
	case 23:
		u.mwrite.abi = RMT_ABI_VERSION;
		u.mwrite.id = some_prog(w);
		u.mwrite.map = 64 + next_rand(w) % 1000;
		return ioctl(devfd, RMT_IOC_MAP_WRITE, &u.mwrite);
	}
	return 0;
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	int i, k, e, rc;

	for (i = 0; i < w->calls; i++) {
		k = next_rand(w) % NKINDS;
		errno = 0;
		rc = one_call(w, k);
		e = rc < 0 ? errno : 0;
		w->local[k][e < MAXERR ? e : MAXERR - 1]++;
	}
	pthread_mutex_lock(&counts_lock);
	for (k = 0; k < NKINDS; k++)
		for (e = 0; e < MAXERR; e++)
			counts[k][e] += w->local[k][e];
	pthread_mutex_unlock(&counts_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads, calls, i, k, e, first;
	unsigned long total = 0, ok = 0;
	pthread_t *tids;
	struct worker *ws;

	if (argc < 4) {
		fprintf(stderr, "usage: %s THREADS CALLS_PER_THREAD PROG_ID...\n", argv[0]);
		return 2;
	}
	nthreads = atoi(argv[1]);
	calls = atoi(argv[2]);
	for (i = 3; i < argc && nprogs < RMT_IOC_MAX_PROGS; i++)
		prog_ids[nprogs++] = strtoul(argv[i], NULL, 0);
	devfd = open("/dev/rmt", O_RDWR);
	if (devfd < 0) {
		perror("/dev/rmt");
		return 1;
	}
	tids = calloc(nthreads, sizeof(*tids));
	ws = calloc(nthreads, sizeof(*ws));
	for (i = 0; i < nthreads; i++) {
		ws[i].calls = calls;
		ws[i].rng = 0x9E3779B97F4A7C15ull * (i + 1);
		pthread_create(&tids[i], NULL, run_worker, &ws[i]);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	printf("{\"threads\": %d, \"kinds\": {", nthreads);
	for (k = 0; k < NKINDS; k++) {
		printf("%s\"%s\": {", k ? ", " : "", kind_names[k]);
		first = 1;
		for (e = 0; e < MAXERR; e++) {
			if (!counts[k][e])
				continue;
			printf("%s\"%s\": %lu", first ? "" : ", ", e ? strerrorname_np(e) : "OK",
			       counts[k][e]);
			first = 0;
			total += counts[k][e];
			if (!e)
				ok += counts[k][e];
		}
		printf("}");
	}
	printf("}, \"total\": %lu, \"succeeded\": %lu}\n", total, ok);
	close(devfd);
	return 0;
}
