// SPDX-License-Identifier: GPL-2.0
/*
 * Replay fuzz_ioctl inputs against the real rmt.ko.
 *
 *   rmt_ioctl_replay LIST OUT
 *
 * LIST names one input file per line (the committed corpus and the
 * regression inputs of tools/fuzz/fuzz_ioctl.c).  Each input is decoded
 * with the fuzzer's own decoder (tools/fuzz/fuzz_ioctl.h) and its calls are
 * issued as real ioctl() and read() system calls on two open files of
 * /dev/rmt, with the arena mapped at the user address the fuzzer models:
 * FUZZ_ARENA_SIZE bytes at FUZZ_ARENA_BASE, the last page read-only, and
 * unmapped guard pages on both sides, so a pointer the fuzzer considers bad
 * faults here too.  Calls an input makes without CAP_SYS_ADMIN drop it from
 * the effective set for the call.  The input's own writes to the read-only page go through
 * a temporary mprotect().
 *
 * For each input OUT gets the line the expectation recorder
 * (fuzz_ioctl_expect) prints for it in userspace:
 * "<name> <arena digest> <calls> <rc>..." (rc: the return value, or -errno).
 * Between inputs every program is unloaded and both files are reopened, so
 * each input starts on an empty device as in the fuzzer.  The first line is
 * "# nr_cpus N hooks H" (from RMT_IOC_VERSION), the last
 * "# ioctls N reads M refused R" (totals).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include "fuzz_ioctl.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static uint8_t *arena;
static int fds[FUZZ_IOCTL_FILES];
/* Totals over every input: system calls issued, and how many failed. */
static unsigned long nr_ioctls, nr_reads, nr_refused;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/*
 * CAP_SYS_ADMIN in the effective set or not (it stays permitted, so it can
 * be raised again): the calls an input makes without it.
 */
static void cap_admin(int on)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, d))
		die("capget");
	if (on)
		d[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective |= CAP_TO_MASK(CAP_SYS_ADMIN);
	else
		d[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	if (syscall(SYS_capset, &h, d))
		die("capset");
}

/* The read-only page writable (for the harness's own writes) or not. */
static void ro_page(int writable)
{
	if (mprotect(arena + FUZZ_RO_OFF, FUZZ_PAGE, PROT_READ | (writable ? PROT_WRITE : 0)))
		die("mprotect");
}

static void map_arena(void)
{
	size_t span = FUZZ_ARENA_SIZE + 3 * FUZZ_PAGE;
	uint8_t *lo = (uint8_t *)(uintptr_t)(FUZZ_ARENA_BASE - FUZZ_PAGE);
	void *p;

	/* Guard page, arena, two guard pages: all reserved, none accessible yet. */
	p = mmap(lo, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || p != lo) {
		fprintf(stderr, "arena: cannot map %p (got %p)\n", (void *)lo, p);
		exit(2);
	}
	arena = lo + FUZZ_PAGE;
	if (mprotect(arena, FUZZ_ARENA_SIZE, PROT_READ | PROT_WRITE))
		die("mprotect");
}

static void open_files(void)
{
	int i;

	for (i = 0; i < FUZZ_IOCTL_FILES; i++) {
		fds[i] = open("/dev/rmt", O_RDWR);
		if (fds[i] < 0)
			die("/dev/rmt");
	}
}

/* Unload every program and reopen the files: the next input starts on an empty device. */
static void reset(void)
{
	struct rmt_ioc_prog_list l = { .abi = RMT_ABI_VERSION, .count = RMT_IOC_MAX_PROGS };
	struct rmt_ioc_prog_id u = { .abi = RMT_ABI_VERSION };
	uint32_t ids[RMT_IOC_MAX_PROGS];
	uint32_t i;

	l.ids = (uintptr_t)ids;
	if (ioctl(fds[0], RMT_IOC_PROG_LIST, &l))
		die("PROG_LIST");
	for (i = 0; i < l.count && i < RMT_IOC_MAX_PROGS; i++) {
		u.id = ids[i];
		if (ioctl(fds[0], RMT_IOC_PROG_UNLOAD, &u))
			die("PROG_UNLOAD");
	}
	for (i = 0; i < FUZZ_IOCTL_FILES; i++)
		close(fds[i]);
	open_files();
}

/* Run one input's calls; returns the arena's digest (taken before the reset). */
static uint64_t replay_one(const uint8_t *data, size_t size, long *rcs, int *ncalls)
{
	struct fuzz_ioctl_in in = { data, size };
	struct fuzz_op op;
	uint64_t arg;
	uint32_t cmd;
	uint64_t h;
	long rc;

	ro_page(1);
	memset(arena, 0, FUZZ_ARENA_SIZE);
	ro_page(0);
	*ncalls = 0;
	while (*ncalls < FUZZ_IOCTL_MAX_CALLS && fuzz_ioctl_next(&in, &op)) {
		if (op.kind == FUZZ_OP_WRITE || op.kind == FUZZ_OP_FILL) {
			ro_page(1);
			fuzz_ioctl_apply(arena, &op);
			ro_page(0);
			continue;
		}
		arg = fuzz_ioctl_canon_ptr(op.ptr);
		cmd = fuzz_ioctl_canon_cmd(op.cmd);
		if (op.kind == FUZZ_OP_IOCTL) {
			ro_page(1);
			fuzz_ioctl_canon_payload(arena, cmd, arg);
			ro_page(0);
			if (op.nocap)
				cap_admin(0);
			rc = ioctl(fds[op.file], cmd, (unsigned long)arg);
			rc = rc < 0 ? -errno : rc;
			if (op.nocap)
				cap_admin(1);
			nr_ioctls++;
			if (rc == 0) {
				ro_page(1);
				fuzz_ioctl_scrub(arena, cmd, arg);
				ro_page(0);
			}
		} else {
			if (op.nocap)
				cap_admin(0);
			rc = read(fds[op.file], (void *)(uintptr_t)arg,
				  fuzz_ioctl_canon_count(op.count));
			rc = rc < 0 ? -errno : rc;
			if (op.nocap)
				cap_admin(1);
			nr_reads++;
		}
		nr_refused += rc < 0;
		rcs[(*ncalls)++] = rc;
	}
	h = fuzz_ioctl_hash(arena, FUZZ_ARENA_SIZE);
	reset();
	return h;
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 20];
	struct rmt_ioc_version v = { .abi = RMT_ABI_VERSION };
	long rcs[FUZZ_IOCTL_MAX_CALLS];
	char path[4096], *nl;
	const char *name;
	FILE *list, *out, *f;
	int ncalls, i;
	uint64_t h;
	size_t n;

	if (argc != 3) {
		fprintf(stderr, "usage: rmt_ioctl_replay LIST OUT\n");
		return 2;
	}
	list = fopen(argv[1], "r");
	out = fopen(argv[2], "w");
	if (!list || !out)
		die("open");
	map_arena();
	open_files();
	if (ioctl(fds[0], RMT_IOC_VERSION, &v))
		die("VERSION");
	fprintf(out, "# nr_cpus %u hooks %u\n", v.nr_cpus, v.hooks);
	reset();
	while (fgets(path, sizeof(path), list)) {
		nl = strchr(path, '\n');
		if (nl)
			*nl = 0;
		if (!path[0])
			continue;
		f = fopen(path, "rb");
		if (!f)
			die(path);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		h = replay_one(buf, n, rcs, &ncalls);
		name = strrchr(path, '/');
		fprintf(out, "%s %016llx %d", name ? name + 1 : path, (unsigned long long)h, ncalls);
		for (i = 0; i < ncalls; i++)
			fprintf(out, " %ld", rcs[i]);
		fputc('\n', out);
		fflush(out);
	}
	fprintf(out, "# ioctls %lu reads %lu refused %lu\n", nr_ioctls, nr_reads, nr_refused);
	fclose(out);
	return 0;
}
