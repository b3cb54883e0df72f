/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz_ioctl.h: the input format of the /dev/rmt ioctl fuzzer, shared by the
 * libFuzzer target (tools/fuzz/fuzz_ioctl.c, the module's code in userspace)
 * and the guest replayer (tests/kernel/replay_helpers/rmt_ioctl_replay.c,
 * the real rmt.ko), so both run the same calls on the same bytes.
 *
 * An input is a sequence of operations, each a kind byte and its operands
 * (little-endian; an input that ends inside an operation gets zeros):
 *
 *   kind % 4 == 0  WRITE  u16 off, u16 len, bytes   copy into the arena at off
 *   kind % 4 == 1  IOCTL  u8 file, u32 cmd, u64 arg ioctl(files[file & 1], cmd, arg)
 *   kind % 4 == 2  READ   u8 file, u64 buf, u64 n   read(files[file & 1], buf, n)
 *
 * (IOCTL and READ: bit 7 of @file set makes the call without CAP_SYS_ADMIN.)
 *   kind % 4 == 3  FILL   u16 off, u16 len, u8 val  memset the arena
 *
 * The arena is FUZZ_ARENA_SIZE bytes of user memory at user address
 * FUZZ_ARENA_BASE, zeroed at the start of each input, its last page
 * read-only to the kernel (copy_to_user() faults there); payloads, objects,
 * weights and output buffers live there and point at each other with
 * absolute user addresses.  Two files are open on /dev/rmt (TRACE_SELECT is
 * per file).  At most FUZZ_IOCTL_MAX_CALLS calls (IOCTL or READ) run.
 *
 * What both sides do to the input before each call, so that they agree on
 * every call (fuzz_ioctl_canon_*()):
 *  - a command's type byte becomes RMT_IOC_MAGIC (other types reach the
 *    kernel's generic ioctls, FIONBIO and co., not rmt.ko), and hook
 *    command numbers (RMT_IOC_HOOK_NR_FIRST..LAST) move out of that range
 *    (the hooks code is not in the userspace build, and attached probes
 *    would run programs behind the replay's back);
 *  - a user pointer (the ioctl argument, the read buffer and the pointer
 *    fields of a known command's payload, rewritten in the arena) that is
 *    not NULL and not inside the arena becomes FUZZ_BAD_USER (an unmapped
 *    user page right after the arena) or, with its top bit set,
 *    FUZZ_BAD_KERNEL (a kernel address, which access_ok() refuses) - so a
 *    bad pointer stays bad in the guest, whatever else is mapped there;
 *  - a read() count of 2^32 or more gets its top bit set, so access_ok()
 *    refuses it on every machine: whether buffer + count is a user range
 *    depends on the paging levels (2^47 or 2^56 bytes of user space; the
 *    guest's -cpu max has 5-level paging), which is no property of rmt.ko;
 *  - after a call that succeeded, output fields that legitimately differ
 *    between the builds are zeroed in the arena: wall-clock load times,
 *    the CPU count and the hooks ABI of RMT_IOC_VERSION, and the engine
 *    PROG_INFO reports (the JIT or the interpreter: the machine decides,
 *    e.g. net.core.bpf_jit_enable in the guest).
 */
#ifndef _FUZZ_IOCTL_H
#define _FUZZ_IOCTL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "uapi/rmt.h"

#define FUZZ_ARENA_BASE 0x10000000ull
#define FUZZ_ARENA_SIZE 65536u
#define FUZZ_PAGE 4096u
/* The arena's last page is mapped read-only (the input's WRITE and FILL still fill it). */
#define FUZZ_RO_OFF (FUZZ_ARENA_SIZE - FUZZ_PAGE)
/* An unmapped user page (the guard page after the arena). */
#define FUZZ_BAD_USER (FUZZ_ARENA_BASE + FUZZ_ARENA_SIZE)
/* A kernel address: access_ok() fails, nothing is touched. */
#define FUZZ_BAD_KERNEL 0xffffffff81000000ull
/* x86-64, 4-level paging: the highest user address + 1 (access_ok()'s limit). */
#define FUZZ_TASK_SIZE_MAX 0x7ffffffff000ull
#define FUZZ_IOCTL_MAX_CALLS 64
#define FUZZ_IOCTL_FILES 2
#define FUZZ_FILE_NOCAP 0x80u

enum fuzz_op_kind { FUZZ_OP_WRITE, FUZZ_OP_IOCTL, FUZZ_OP_READ, FUZZ_OP_FILL };

/**
 * struct fuzz_op - one decoded operation
 * @kind: enum fuzz_op_kind
 * @file: which open file (IOCTL, READ)
 * @nocap: the call is made without CAP_SYS_ADMIN (IOCTL, READ)
 * @cmd: the raw command (IOCTL)
 * @ptr: the raw argument (IOCTL) or buffer (READ)
 * @count: read()'s count
 * @off: arena offset (WRITE, FILL)
 * @len: bytes (WRITE: as many as the input still has, at most this)
 * @val: the fill byte
 * @data: the bytes to write (WRITE)
 */
struct fuzz_op {
	unsigned int kind;
	unsigned int file;
	unsigned int nocap;
	uint32_t cmd;
	uint64_t ptr;
	uint64_t count;
	uint32_t off;
	uint32_t len;
	uint8_t val;
	const uint8_t *data;
};

/* A cursor over the input; reads past the end give zeros. */
struct fuzz_ioctl_in {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fuzz_ioctl_take(struct fuzz_ioctl_in *in, unsigned int bytes)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < bytes; i++) {
		if (in->n) {
			v |= (uint64_t)in->p[0] << (8 * i);
			in->p++;
			in->n--;
		}
	}
	return v;
}

/* The next operation; 0 at the end of the input. */
static inline int fuzz_ioctl_next(struct fuzz_ioctl_in *in, struct fuzz_op *op)
{
	if (!in->n)
		return 0;
	memset(op, 0, sizeof(*op));
	op->kind = fuzz_ioctl_take(in, 1) % 4;
	switch (op->kind) {
	case FUZZ_OP_WRITE:
		op->off = fuzz_ioctl_take(in, 2);
		op->len = fuzz_ioctl_take(in, 2);
		if (op->len > in->n)
			op->len = in->n;
		op->data = in->p;
		in->p += op->len;
		in->n -= op->len;
		break;
	case FUZZ_OP_IOCTL:
		op->file = fuzz_ioctl_take(in, 1);
		op->nocap = !!(op->file & FUZZ_FILE_NOCAP);
		op->file %= FUZZ_IOCTL_FILES;
		op->cmd = fuzz_ioctl_take(in, 4);
		op->ptr = fuzz_ioctl_take(in, 8);
		break;
	case FUZZ_OP_READ:
		op->file = fuzz_ioctl_take(in, 1);
		op->nocap = !!(op->file & FUZZ_FILE_NOCAP);
		op->file %= FUZZ_IOCTL_FILES;
		op->ptr = fuzz_ioctl_take(in, 8);
		op->count = fuzz_ioctl_take(in, 8);
		break;
	default:
		op->off = fuzz_ioctl_take(in, 2);
		op->len = fuzz_ioctl_take(in, 2);
		op->val = fuzz_ioctl_take(in, 1);
		break;
	}
	return 1;
}

/* WRITE and FILL: clipped at the end of the arena. */
static inline void fuzz_ioctl_apply(uint8_t *arena, const struct fuzz_op *op)
{
	uint32_t len = op->len;

	if (op->off >= FUZZ_ARENA_SIZE)
		return;
	if (len > FUZZ_ARENA_SIZE - op->off)
		len = FUZZ_ARENA_SIZE - op->off;
	if (op->kind == FUZZ_OP_WRITE)
		memcpy(arena + op->off, op->data, len);
	else
		memset(arena + op->off, op->val, len);
}

static inline uint32_t fuzz_ioctl_canon_cmd(uint32_t cmd)
{
	uint32_t nr;

	cmd = (cmd & ~(0xffu << _IOC_TYPESHIFT)) | ((uint32_t)RMT_IOC_MAGIC << _IOC_TYPESHIFT);
	nr = _IOC_NR(cmd);
	if (nr >= RMT_IOC_HOOK_NR_FIRST && nr <= RMT_IOC_HOOK_NR_LAST)
		cmd |= 0x80u << _IOC_NRSHIFT;
	return cmd;
}

static inline uint64_t fuzz_ioctl_canon_ptr(uint64_t p)
{
	if (!p || (p >= FUZZ_ARENA_BASE && p < FUZZ_ARENA_BASE + FUZZ_ARENA_SIZE))
		return p;
	return p >> 63 ? FUZZ_BAD_KERNEL : FUZZ_BAD_USER;
}

static inline uint64_t fuzz_ioctl_canon_count(uint64_t n)
{
	return n >> 32 ? n | 1ull << 63 : n;
}

/* Offsets of the user-pointer fields of a command's payload; returns how many. */
static inline int fuzz_ioctl_ptr_fields(uint32_t cmd, size_t off[2])
{
	switch (cmd) {
	case RMT_IOC_PROG_LOAD:
		off[0] = offsetof(struct rmt_ioc_prog_load, obj);
		off[1] = offsetof(struct rmt_ioc_prog_load, err);
		return 2;
	case RMT_IOC_PROG_LIST:
		off[0] = offsetof(struct rmt_ioc_prog_list, ids);
		return 1;
	case RMT_IOC_PROG_INFO:
		off[0] = offsetof(struct rmt_ioc_prog_info, obj);
		return 1;
	case RMT_IOC_TABLE_UPDATE:
		off[0] = offsetof(struct rmt_ioc_table_update, err);
		return 1;
	case RMT_IOC_TABLE_DUMP:
		off[0] = offsetof(struct rmt_ioc_table_dump, entries);
		return 1;
	case RMT_IOC_MODEL_LOAD:
		off[0] = offsetof(struct rmt_ioc_model_load, blob);
		off[1] = offsetof(struct rmt_ioc_model_load, err);
		return 2;
	case RMT_IOC_MAP_READ:
		off[0] = offsetof(struct rmt_ioc_map_read, keys);
		off[1] = offsetof(struct rmt_ioc_map_read, vals);
		return 2;
	case RMT_IOC_MAP_WRITE:
		off[0] = offsetof(struct rmt_ioc_map_write, err);
		return 1;
	case RMT_IOC_PROG_RUN:
		off[0] = offsetof(struct rmt_ioc_prog_run, ctx);
		return 1;
	case RMT_IOC_TABLE_BATCH:
		off[0] = offsetof(struct rmt_ioc_table_batch, ops);
		off[1] = offsetof(struct rmt_ioc_table_batch, err);
		return 2;
	case RMT_IOC_TRACE_PEEK:
		off[0] = offsetof(struct rmt_ioc_trace_peek, recs);
		return 1;
	}
	return 0;
}

/* The arena offset of a u64 field at user address @arg + @off, or -1 if not all inside. */
static inline long fuzz_ioctl_field(uint64_t arg, size_t off, size_t width)
{
	if (arg < FUZZ_ARENA_BASE || arg >= FUZZ_ARENA_BASE + FUZZ_ARENA_SIZE)
		return -1;
	if (arg - FUZZ_ARENA_BASE + off + width > FUZZ_ARENA_SIZE)
		return -1;
	return (long)(arg - FUZZ_ARENA_BASE + off);
}

/* Before the call: the payload's pointer fields (those inside the arena) made canonical. */
static inline void fuzz_ioctl_canon_payload(uint8_t *arena, uint32_t cmd, uint64_t arg)
{
	size_t off[2];
	int n = fuzz_ioctl_ptr_fields(cmd, off), i;
	uint64_t v;
	long at;

	for (i = 0; i < n; i++) {
		at = fuzz_ioctl_field(arg, off[i], 8);
		if (at < 0)
			continue;
		memcpy(&v, arena + at, 8);
		v = fuzz_ioctl_canon_ptr(v);
		memcpy(arena + at, &v, 8);
	}
}

static inline void fuzz_ioctl_zero(uint8_t *arena, uint64_t arg, size_t off, size_t width)
{
	long at = fuzz_ioctl_field(arg, off, width);

	if (at >= 0)
		memset(arena + at, 0, width);
}

/* After a call that returned 0: build-specific outputs zeroed. */
static inline void fuzz_ioctl_scrub(uint8_t *arena, uint32_t cmd, uint64_t arg)
{
	switch (cmd) {
	case RMT_IOC_VERSION:
		fuzz_ioctl_zero(arena, arg, offsetof(struct rmt_ioc_version, nr_cpus), 4);
		fuzz_ioctl_zero(arena, arg, offsetof(struct rmt_ioc_version, hooks), 4);
		break;
	case RMT_IOC_PROG_INFO:
		fuzz_ioctl_zero(arena, arg, offsetof(struct rmt_ioc_prog_info, load_time_ns), 8);
		fuzz_ioctl_zero(arena, arg, offsetof(struct rmt_ioc_prog_info, engine), 4);
		break;
	case RMT_IOC_MODEL_INFO:
		fuzz_ioctl_zero(arena, arg, offsetof(struct rmt_ioc_model_info, load_time_ns), 8);
		break;
	}
}

/* FNV-1a: the offset basis, and @n more bytes at @p hashed into @h. */
#define FUZZ_IOCTL_HASH_INIT 0xcbf29ce484222325ull

static inline uint64_t fuzz_ioctl_hash_add(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* FNV-1a over the arena: both sides print it after each input. */
static inline uint64_t fuzz_ioctl_hash(const uint8_t *p, size_t n)
{
	return fuzz_ioctl_hash_add(FUZZ_IOCTL_HASH_INIT, p, n);
}

#endif /* _FUZZ_IOCTL_H */
