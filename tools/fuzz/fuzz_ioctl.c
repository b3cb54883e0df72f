// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_ioctl: libFuzzer target for the /dev/rmt ioctl argument parser.
 *
 * The real vm_kernel/kmod/rmt_kmod_dev.c is compiled here, in userspace, against
 * the fake kernel headers of tools/fuzz/kinclude/ (user memory is an arena
 * at a fixed user address, see fuzz_kernel.h) and linked with the userspace
 * VM.  An input is a sequence of ioctl() and read() calls on two open files
 * of the device, with the arena's bytes (fuzz_ioctl.h has the format).
 *
 * Oracles (any violation aborts, so libFuzzer keeps the input):
 *  - no ASan/UBSan report, no leak (LSan; and the VM's own allocation
 *    counter, rmt_alloc.h, is back to zero once the VM is destroyed);
 *  - every call returns 0 or a negative errno from the set the command
 *    documents (uapi/rmt.h, rmt_vm.h); read() returns whole records,
 *    at most the count asked for; a call without CAP_SYS_ADMIN fails with
 *    -EPERM (read(): or -EFAULT, which the VFS checks first);
 *  - a refused call changes nothing: a digest of the VM's state taken
 *    through its public API (programs, every table's entries, hits and
 *    misses, model versions, every map's contents, counters, the device's
 *    per-program records and each file's trace selection) is the same
 *    before and after every call that failed (read() is exempt for the
 *    trace rings only: records it took are lost when the copy-out faults,
 *    as documented, and rings are not in the digest);
 *  - RMT_IOC_VERSION works after every call;
 *  - the trace records read() returns name a loaded program and an online
 *    CPU, and have nothing but zeros past their valid values.
 *
 * Built with -DFUZZ_IOCTL_MAIN (and no libFuzzer) it is the expectation
 * recorder of the guest replay test: for each input file it prints the
 * return code of every call and a digest of the arena at the end, which
 * the replayer running the same inputs on rmt.ko must reproduce.
 */
#include "../../vm_kernel/kmod/rmt_kmod_dev.c"
#include "fuzz_common.h"
#if __has_include("rmt_alloc.h")
#include "rmt_alloc.h"
#define FUZZ_HAVE_ALLOC_COUNTERS 1
#endif

const struct file_operations *fuzz_misc_fops;
bool fuzz_capable = true;
/* Every possible CPU is online, as in the guest (tools/fuzz/Makefile: IOCTL_CPUS). */
unsigned int fuzz_nr_online = RMT_NR_CPUS;
unsigned int fuzz_cur_cpu;
u8 *fuzz_user_arena;
u8 *fuzz_user_private;

/* The return codes of the last input's calls (the expectation recorder prints them). */
static long fz_rcs[FUZZ_IOCTL_MAX_CALLS];
static int fz_ncalls;

/* ---------------------------------------------------------------- state digest */

#define FZ_BATCH 64

/*
 * Everything a call could change, read through the VM's public API (and the
 * device's own per-program records and per-file selection).
 */
static u64 fz_state(struct rmt_vm *vm, struct file *files)
{
	static struct rmt_entry_dump ents[FZ_BATCH];
	static u64 keys[FZ_BATCH], vals[FZ_BATCH];
	struct rmt_stats st;
	struct rmt_prog_info info;
	u64 h = FUZZ_IOCTL_HASH_INIT, misses, cursor, ver;
	u32 id, i, start;
	int n, guard;

	for (id = 1; id <= RMT_VM_MAX_PROGS; id++) {
		h = fuzz_ioctl_hash_add(h, &id, sizeof(id));
		if (rmt_vm_prog_info(vm, id, &info))
			continue;
		h = fuzz_ioctl_hash_add(h, info.obj, info.obj_len);
		h = fuzz_ioctl_hash_add(h, &rmt_dev.progs[id - 1], sizeof(rmt_dev.progs[id - 1]));
		for (i = 0; i < info.ntables; i++) {
			for (start = 0;; start += n) {
				memset(ents, 0, sizeof(ents));
				misses = 0;
				n = rmt_vm_table_dump(vm, id, i, start, ents, FZ_BATCH, &misses);
				FUZZ_CHECK(n >= 0, "dump of table %u: %d", i, n);
				h = fuzz_ioctl_hash_add(h, ents, n * sizeof(ents[0]));
				h = fuzz_ioctl_hash_add(h, &misses, sizeof(misses));
				if (n < FZ_BATCH)
					break;
			}
		}
		for (i = 0; i < info.nmodels; i++) {
			ver = rmt_vm_model_version(vm, id, i);
			h = fuzz_ioctl_hash_add(h, &ver, sizeof(ver));
		}
		for (i = 0; i < info.nmaps; i++) {
			cursor = 0;
			for (guard = 0; guard < 1 << 16; guard++) {
				n = rmt_vm_map_read(vm, id, i, &cursor, keys, vals, FZ_BATCH);
				FUZZ_CHECK(n >= 0, "read of map %u: %d", i, n);
				if (!n)
					break;
				h = fuzz_ioctl_hash_add(h, keys, n * sizeof(u64));
				h = fuzz_ioctl_hash_add(h, vals, n * sizeof(u64));
			}
		}
		memset(&st, 0, sizeof(st));
		FUZZ_CHECK(rmt_vm_stats(vm, id, &st) == 0, "stats of %u", id);
		h = fuzz_ioctl_hash_add(h, &st, sizeof(st));
	}
	for (i = 0; i < FUZZ_IOCTL_FILES; i++)
		h = fuzz_ioctl_hash_add(h, &files[i].private_data, sizeof(files[i].private_data));
	return h;
}

/* ---------------------------------------------------------------- the errno oracle */

/* errno values are below 128: a set of them fits 128 bits */
#define E(x) ((__uint128_t)1 << (x))

/* The errnos a command may return (bit n: -n), besides 0. */
static __uint128_t fz_allowed(u32 cmd)
{
	const __uint128_t base = E(EFAULT) | E(EPROTO) | E(EPERM);

	switch (cmd) {
	case RMT_IOC_VERSION:
		return E(EFAULT) | E(EPERM);
	case RMT_IOC_PROG_LOAD:
		return base | E(EINVAL) | E(E2BIG) | E(ENOSPC) | E(ENOMEM);
	case RMT_IOC_PROG_UNLOAD:
	case RMT_IOC_STATS:
	case RMT_IOC_TRACE_SELECT:
	case RMT_IOC_PROG_INFO:
		return base | E(ENOENT);
	case RMT_IOC_PROG_LIST:
		return base | E(EINVAL);
	case RMT_IOC_TABLE_UPDATE:
		return base | E(EINVAL) | E(ENOENT) | E(EEXIST) | E(ENOSPC) | E(ENOMEM);
	case RMT_IOC_TABLE_DUMP:
	case RMT_IOC_MAP_READ:
	case RMT_IOC_PROG_RUN:
		return base | E(EINVAL) | E(ENOENT) | E(ENOMEM);
	case RMT_IOC_MODEL_LOAD:
		return base | E(EINVAL) | E(E2BIG) | E(ENOENT) | E(ENOMEM);
	case RMT_IOC_MODEL_INFO:
		return base | E(EINVAL) | E(ENOENT);
	case RMT_IOC_MAP_WRITE:
		return base | E(EINVAL) | E(ENOENT) | E(E2BIG) | E(ENOSPC);
	case RMT_IOC_TABLE_BATCH:
		return base | E(EINVAL) | E(ENOENT) | E(EEXIST) | E(ENOSPC) | E(ENOMEM);
	case RMT_IOC_TRACE_PEEK:
		return base | E(EINVAL) | E(ENOENT) | E(ENOMEM);
	case RMT_IOC_TRACE_ACK:
		return base | E(EINVAL) | E(ENOENT) | E(ESTALE);
	}
	return E(ENOTTY) | E(EPERM);
}

/* ---------------------------------------------------------------- the syscalls */

#ifndef ENOIOCTLCMD
#define ENOIOCTLCMD 515		/* the kernel's "not my command", never seen by the caller */
#endif

/* ioctl(2) on a file of the device: vfs_ioctl()'s part. */
static long fz_ioctl(struct file *f, u32 cmd, u64 arg)
{
	long rc = fuzz_misc_fops->unlocked_ioctl(f, cmd, (unsigned long)arg);

	return rc == -ENOIOCTLCMD ? -ENOTTY : rc;
}

/* read(2): vfs_read()'s checks (Linux 6.1), then the device's read(). */
static long fz_read(struct file *f, u64 buf, u64 count)
{
	const u64 max_rw = 0x7ffff000ull;	/* MAX_RW_COUNT: INT_MAX & PAGE_MASK */

	if (!access_ok((void __user *)(uintptr_t)buf, count))
		return -EFAULT;
	if ((s64)count < 0)
		return -EINVAL;
	if (count > max_rw)
		count = max_rw;
	return fuzz_misc_fops->read(f, (char __user *)(uintptr_t)buf, count, NULL);
}

/* RMT_IOC_VERSION on a buffer the input cannot see: it must always work. */
static void fz_check_version(struct file *f)
{
	static u8 priv[FUZZ_PRIVATE_SIZE];
	struct rmt_ioc_version v;
	long rc;

	fuzz_user_private = priv;
	rc = fz_ioctl(f, RMT_IOC_VERSION, FUZZ_PRIVATE_BASE);
	fuzz_user_private = NULL;
	memcpy(&v, priv, sizeof(v));
	FUZZ_CHECK(rc == 0 && v.abi == RMT_ABI_VERSION && v.entry_size == sizeof(struct rmt_ioc_entry),
		   "VERSION: rc %ld abi %u", rc, v.abi);
}

/*
 * The records a read() returned: a loaded program's, and nothing past their
 * valid values (what is there would be kernel memory the caller must not see).
 */
static void fz_check_records(u64 buf, long bytes)
{
	struct rmt_ioc_trace_rec rec;
	long i;
	u32 v;

	for (i = 0; i < bytes / (long)sizeof(rec); i++) {
		FUZZ_CHECK(!copy_from_user(&rec, u64_to_user_ptr(buf + i * sizeof(rec)), sizeof(rec)),
			   "record %ld not readable back", i);
		FUZZ_CHECK(rec.prog_id >= 1 && rec.prog_id <= RMT_VM_MAX_PROGS &&
			   rec.nvals <= RMT_IOC_MAX_TRACE_FIELDS && rec.cpu < fuzz_nr_online,
			   "record %ld: prog %u, %u values, cpu %u", i, rec.prog_id, rec.nvals,
			   rec.cpu);
		for (v = rec.nvals; v < RMT_IOC_MAX_TRACE_FIELDS; v++)
			FUZZ_CHECK(rec.vals[v] == 0, "record %ld: value %u of %u is %#llx", i, v,
				   rec.nvals, (unsigned long long)rec.vals[v]);
	}
}

/* ---------------------------------------------------------------- one input */

/* Run the calls of one input on a fresh VM and device; returns the arena's digest. */
static u64 fz_run(const u8 *data, size_t size)
{
	static u8 arena[FUZZ_ARENA_SIZE];
	struct fuzz_ioctl_in in = { data, size };
	struct file files[FUZZ_IOCTL_FILES];
	struct inode inode = { 0 };
	struct fuzz_op op;
	struct rmt_vm *vm;
	u64 before, arg;
	u32 cmd;
	long rc;
	int i;

	memset(arena, 0, sizeof(arena));
	fuzz_user_arena = arena;
	fz_ncalls = 0;
	vm = rmt_vm_create();
	FUZZ_CHECK(vm != NULL, "rmt_vm_create");
	FUZZ_CHECK(rmt_dev_init(vm) == 0 && fuzz_misc_fops, "rmt_dev_init");
	memset(files, 0, sizeof(files));
	for (i = 0; i < FUZZ_IOCTL_FILES; i++)
		FUZZ_CHECK(fuzz_misc_fops->open(&inode, &files[i]) == 0, "open");

	while (fz_ncalls < FUZZ_IOCTL_MAX_CALLS && fuzz_ioctl_next(&in, &op)) {
		if (op.kind == FUZZ_OP_WRITE || op.kind == FUZZ_OP_FILL) {
			fuzz_ioctl_apply(arena, &op);
			continue;
		}
		arg = fuzz_ioctl_canon_ptr(op.ptr);
		cmd = fuzz_ioctl_canon_cmd(op.cmd);
		if (op.kind == FUZZ_OP_IOCTL)
			fuzz_ioctl_canon_payload(arena, cmd, arg);
		before = fz_state(vm, files);
		fuzz_capable = !op.nocap;
		if (op.kind == FUZZ_OP_IOCTL) {
			rc = fz_ioctl(&files[op.file], cmd, arg);
			FUZZ_CHECK(rc == 0 || (rc < 0 && rc > -128 && (fz_allowed(cmd) & E(-rc))),
				   "ioctl %#x returned %ld", cmd, rc);
			FUZZ_CHECK(!op.nocap || rc == -EPERM, "ioctl %#x without CAP_SYS_ADMIN: %ld",
				   cmd, rc);
			if (rc == 0)
				fuzz_ioctl_scrub(arena, cmd, arg);
		} else {
			rc = fz_read(&files[op.file], arg, fuzz_ioctl_canon_count(op.count));
			FUZZ_CHECK(rc >= 0 ? (rc % sizeof(struct rmt_ioc_trace_rec) == 0 &&
					      (u64)rc <= op.count) :
				   (rc == -EINVAL || rc == -EFAULT || rc == -ENOMEM || rc == -EPERM),
				   "read(%llu) returned %ld", (unsigned long long)op.count, rc);
			FUZZ_CHECK(!op.nocap || rc == -EPERM || rc == -EFAULT,
				   "read() without CAP_SYS_ADMIN: %ld", rc);
		}
		fuzz_capable = true;
		if (op.kind == FUZZ_OP_READ && rc > 0)
			fz_check_records(arg, rc);
		if (rc < 0)
			FUZZ_CHECK(fz_state(vm, files) == before,
				   "%s %#x failed with %ld but changed the VM's state",
				   op.kind == FUZZ_OP_IOCTL ? "ioctl" : "read", cmd, rc);
		fz_check_version(&files[0]);
		fz_rcs[fz_ncalls++] = rc;
	}

	rmt_dev_exit();
	rmt_vm_destroy(vm);
#ifdef FUZZ_HAVE_ALLOC_COUNTERS
	FUZZ_CHECK(rmt_alloc_live() == 0, "%lld allocations live after the VM was destroyed",
		   (long long)rmt_alloc_live());
#endif
	return fuzz_ioctl_hash(arena, sizeof(arena));
}

#ifndef FUZZ_IOCTL_MAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(data, size);
	return 0;
}

#else /* the expectation recorder */

/*
 * fuzz_ioctl_expect FILE...: one line per input,
 * "<file name> <arena digest> <calls> <rc>...", the format the guest replayer prints.
 */
int main(int argc, char **argv)
{
	static u8 buf[1 << 20];
	const char *name;
	size_t n;
	FILE *f;
	u64 h;
	int a, i;

	for (a = 1; a < argc; a++) {
		f = fopen(argv[a], "rb");
		if (!f) {
			perror(argv[a]);
			return 2;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		h = fz_run(buf, n);
		name = strrchr(argv[a], '/');
		printf("%s %016llx %d", name ? name + 1 : argv[a], (unsigned long long)h, fz_ncalls);
		for (i = 0; i < fz_ncalls; i++)
			printf(" %ld", fz_rcs[i]);
		putchar('\n');
	}
	return 0;
}

#endif
