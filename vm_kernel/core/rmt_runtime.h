/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_runtime.h: the VM instance, its loaded programs and the public API.
 *
 * One API for both callers: the cffi binding (rmt_vm/, the simulator target)
 * and, later, the /dev/rmt ioctl layer.  A struct rmt_vm holds up to
 * RMT_VM_MAX_PROGS programs by id (1..RMT_VM_MAX_PROGS).  The hook path,
 * rmt_vm_run(), takes no lock and allocates nothing: it finds the program
 * under rcu_read_lock() and runs on per-CPU buffers allocated at load time.
 * Control-plane calls are serialised by the VM's mutex; a failed call changes
 * nothing and explains itself in the caller's error buffer.
 *
 * Per-CPU buffers: the kernel runs a hook with preemption disabled, so a
 * CPU's buffers have one user at a time.  Userspace callers must likewise not
 * run the same program concurrently with the same @cpu argument.
 */
#ifndef _RMT_RUNTIME_H
#define _RMT_RUNTIME_H

#include "rmt_compat.h"
#include "rmt_loader.h"
#include "rmt_table.h"
#include "rmt_map.h"
#include "rmt_ring.h"
#include "rmt_modelif.h"
#include "rmt_jit.h"

#define RMT_VM_MAX_PROGS 64
#define RMT_DEFAULT_SEED 0x9E3779B97F4A7C15ull
#define RMT_DEFAULT_TRACE_CAPACITY 4096
/* Decision histogram slots: DEFAULT plus the hook's range (at most this many). */
#define RMT_MAX_DECISIONS 258

/* rmt_load_opts.flags */
#define RMT_LOAD_JIT 1u		/* compile to native code where supported */

/**
 * struct rmt_load_opts - options of rmt_vm_load()
 * @trace_capacity: records the trace ring holds (a power of two; 0: default)
 * @flags: RMT_LOAD_* (RMT_LOAD_JIT: run JIT code when this build can; the
 *	interpreter otherwise, which is not an error)
 * @seed: initial xorshift64 state of the random helper (0: the default seed)
 */
struct rmt_load_opts {
	__u32 trace_capacity;
	__u32 flags;
	__u64 seed;
};

/**
 * struct rmt_run_result - what one invocation returned
 * @decision: the decision the hook uses (-1 DEFAULT)
 * @abort: enum rmt_abort (0: none)
 * @abort_pc: pc of the failed check, or -1
 */
struct rmt_run_result {
	__s64 decision;
	__u32 abort;
	__s32 abort_pc;
};

/**
 * struct rmt_stats - a program's counters, summed over CPUs
 * @runs: invocations
 * @aborts: invocations aborted, per enum rmt_abort
 * @bad_decisions: EXIT values outside the hook's range (DEFAULT used)
 * @shadow_agree: shadow_account() calls where the program decided as the kernel did
 * @shadow_disagree: calls where it decided otherwise (a DEFAULT counts in neither)
 * @trace_drops: records dropped because the ring was full
 * @model_overflows: accumulator saturations in model inference
 * @map_drops: hash-map updates dropped because the map was full
 * @decision_lo: decision value of @decisions[1] (@decisions[0] is DEFAULT)
 * @ndecisions: valid entries of @decisions
 * @decisions: how often each decision was returned
 */
struct rmt_stats {
	__u64 runs;
	__u64 aborts[RMT_NR_ABORTS];
	__u64 bad_decisions;
	__u64 shadow_agree;
	__u64 shadow_disagree;
	__u64 trace_drops;
	__u64 model_overflows;
	__u64 map_drops;
	__s64 decision_lo;
	__u32 ndecisions;
	__u32 pad;
	__u64 decisions[RMT_MAX_DECISIONS];
};

/* Per-CPU counters of one program; decisions[] follows, ndecisions long. */
struct rmt_pcpu_stats {
	u64 runs;
	u64 aborts[RMT_NR_ABORTS];
	u64 bad_decisions;
	u64 shadow_agree;
	u64 shadow_disagree;
	u64 trace_drops;
	u64 model_overflows;
	u64 map_drops;
	u64 decisions[];
};

/* Per-CPU memory regions of one program: zeroed (or reset) at each run. */
struct rmt_frame {
	u8 *scratch;		/* scratch, then every model's MIN and MOUT: zeroed */
	u32 zero_len;		/* bytes to zero from @scratch */
	u32 ntables;		/* PARAMS pointers to reset (a copy: one load less per run) */
	const u8 **params;	/* PARAMS(t): the selected entry's parameters */
	s32 **min;
	s32 **mout;
};

/**
 * struct rmt_inst - a loaded program and its run-time state
 * @prog: the checked object
 * @tables: one table per TABLE record
 * @models: one weight slot per MODEL record
 * @maps: one map per MAP record
 * @ring: the trace ring
 * @rng: xorshift64 state of the random helper
 * @frames: per-CPU regions, @ncpus of them
 * @stats: per-CPU counters, @stats_stride bytes apart
 * @engine: what runs the code (enum rmt_engine_kind)
 * @native: the native code when @engine is not RMT_ENGINE_INTERP
 * @native_mem: its executable mapping (JIT only), @native_size bytes
 * @kjit: rmt.ko's eBPF program (rmt_kmod_jit.c) when @engine is
 *	RMT_ENGINE_KJIT; always NULL in userspace
 * @rcu: for freeing after a grace period
 */
struct bpf_prog;

struct rmt_inst {
	struct rmt_prog *prog;
	struct rmt_table **tables;
	struct rmt_mif *models;
	struct rmt_map **maps;
	struct rmt_ring *ring;
	u64 rng;
	u32 ctx_size;
	u32 ncpus;
	u32 ndecisions;
	s64 decision_lo;
	struct rmt_frame *frames;
	u8 *frame_mem;
	u8 *stats_mem;
	u32 stats_stride;
	u32 engine;
	rmt_jit_fn native;
	void *native_mem;
	size_t native_size;
	struct bpf_prog *kjit;
	struct rcu_head rcu;
};

/**
 * struct rmt_vm - a VM instance: loaded programs by id
 * @progs: program @id is @progs[@id - 1]; RCU-protected
 * @lock: serialises the control plane
 */
struct rmt_vm {
	struct rmt_inst __rcu *progs[RMT_VM_MAX_PROGS];
	struct mutex lock;
};

/* The zeroed PARAMS block every table shows before its first APPLY. */
extern const u8 rmt_zero_params[RMT_MAX_PARAM_SIZE];

static __always_inline u64 rmt_xorshift(u64 *state)
{
	u64 x = READ_ONCE(*state);

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	WRITE_ONCE(*state, x);
	return x;
}

/*
 * The per-run setup every engine shares (docs/semantics.md, "An
 * invocation"): scratch, MIN and MOUT zeroed, PARAMS(t) showing zeros.  Only
 * the declared sizes are touched (zero_len is 0 for a program with no
 * scratch and no models, ntables 0 without tables), so a small program pays
 * for what it declares and nothing else.
 */
static __always_inline void rmt_frame_enter(struct rmt_inst *in, struct rmt_frame *fr)
{
	u32 t;

	if (fr->zero_len)
		memset(fr->scratch, 0, fr->zero_len);
	for (t = 0; t < fr->ntables; t++)
		fr->params[t] = rmt_zero_params;
}

/**
 * rmt_interp_run() - run a program once (the interpreter, rmt_interp.c)
 * @in: the program
 * @ctx: the hook context (writable fields may be written)
 * @cpu: the CPU it runs on, < @in->ncpus
 * @now: the invocation's time
 * @res: receives the raw decision (EXIT's value) or the abort
 *
 * Call under rcu_read_lock().  Counts map drops, trace drops and model
 * overflows; the caller counts runs, aborts and decisions.
 */
void rmt_interp_run(struct rmt_inst *in, u8 *ctx, u32 cpu, u64 now,
		    struct rmt_run_result *res);

/**
 * rmt_vm_prog_engine() - what runs program @id
 * @vm: the VM
 * @id: the program
 *
 * Return: enum rmt_engine_kind, or -ENOENT.
 */
int rmt_vm_prog_engine(struct rmt_vm *vm, int id);

#ifndef __KERNEL__
/**
 * rmt_vm_set_native() - run program @id on host-generated native code
 * @vm: the VM
 * @id: the program
 * @fn: code with the rmt_jit_fn ABI (rmt_jit.h), or NULL for the interpreter
 *
 * Userspace only (the llvmlite backend): the caller keeps @fn's code alive
 * while the program is loaded, and vouches that it implements the program.
 * Replaces (and frees) any JIT code.
 *
 * Return: 0 or -ENOENT.
 */
int rmt_vm_set_native(struct rmt_vm *vm, int id, rmt_jit_fn fn);
#endif

/**
 * rmt_vm_create() - a new VM with no programs
 *
 * Return: the VM or NULL.
 */
struct rmt_vm *rmt_vm_create(void);

/**
 * rmt_vm_destroy() - unload every program and free the VM
 * @vm: the VM (NULL allowed)
 */
void rmt_vm_destroy(struct rmt_vm *vm);

/**
 * rmt_vm_load() - parse, validate and instantiate an object
 * @vm: the VM
 * @obj: the .rmtb bytes (untrusted)
 * @len: their number
 * @opts: options (NULL for defaults)
 * @err: buffer for the reason on failure
 * @errlen: size of @err
 *
 * Return: the new program id (>= 1), or -EINVAL (malformed or unsafe object,
 * the message names the section or pc), -ENOSPC (no free id), -E2BIG, -ENOMEM.
 */
int rmt_vm_load(struct rmt_vm *vm, const void *obj, size_t len,
		const struct rmt_load_opts *opts, char *err, size_t errlen);

/**
 * rmt_vm_unload() - remove a program; frees it after a grace period
 * @vm: the VM
 * @id: the program
 *
 * Return: 0 or -ENOENT.
 */
int rmt_vm_unload(struct rmt_vm *vm, int id);

/**
 * rmt_vm_run() - the hook path: run program @id on @ctx
 * @vm: the VM
 * @id: the program
 * @ctx: the context, modified in place
 * @ctx_len: its size; must be the hook's context size
 * @cpu: the running CPU
 * @now: the invocation's time in ns
 * @res: receives the decision (DEFAULT after an abort or a bad decision)
 *
 * Lock-free and allocation-free.
 *
 * Return: 0, -ENOENT (no such program), -EINVAL (wrong context size).
 */
int rmt_vm_run(struct rmt_vm *vm, int id, void *ctx, size_t ctx_len, u32 cpu, u64 now,
	       struct rmt_run_result *res);

/**
 * rmt_vm_run_rcu() - rmt_vm_run() for callers already in an RCU read-side section
 * @vm: the VM
 * @id: the program
 * @ctx: the context, modified in place
 * @ctx_len: its size
 * @cpu: the running CPU
 * @now: the invocation's time in ns
 * @res: receives the decision
 *
 * Kprobe handlers run with preemption disabled, which already is a read-side
 * section; they (and rmt_bench_run()) call this directly.
 *
 * Return: as rmt_vm_run().
 */
int rmt_vm_run_rcu(struct rmt_vm *vm, int id, void *ctx, size_t ctx_len, u32 cpu, u64 now,
		   struct rmt_run_result *res);

/**
 * rmt_vm_shadow_account() - count agreement of a shadow-mode decision
 * @vm: the VM
 * @id: the program
 * @cpu: the running CPU (selects the counter)
 * @prog_decision: what the program decided
 * @kernel_decision: what the kernel's own heuristic decided
 *
 * A DEFAULT @prog_decision counts in neither shadow_agree nor shadow_disagree:
 * agreement is measured over the runs where the program decided.
 *
 * Return: 0 or -ENOENT.
 */
int rmt_vm_shadow_account(struct rmt_vm *vm, int id, u32 cpu, s64 prog_decision,
			  s64 kernel_decision);

/**
 * rmt_vm_table_update() - insert (op 0), modify (1) or delete (2) a table entry
 * @vm: the VM
 * @id: the program
 * @table: table index
 * @op: 0 insert, 1 modify, 2 delete
 * @spec: the entry
 * @err: buffer for the reason on failure
 * @errlen: size of @err
 *
 * Return: 0 or the table's error (-EINVAL, -EEXIST, -ENOENT, -ENOSPC, -ENOMEM).
 */
int rmt_vm_table_update(struct rmt_vm *vm, int id, u32 table, u32 op,
			const struct rmt_entry_spec *spec, char *err, size_t errlen);

/**
 * rmt_vm_table_dump() - copy entries of a table, in insertion order
 * @vm: the VM
 * @id: the program
 * @table: table index
 * @start: first entry to copy
 * @out: receives up to @max entries
 * @max: capacity of @out
 * @misses: receives the table's miss counter (may be NULL)
 *
 * Return: number of entries copied, or -ENOENT.
 */
int rmt_vm_table_dump(struct rmt_vm *vm, int id, u32 table, u32 start,
		      struct rmt_entry_dump *out, u32 max, u64 *misses);

/**
 * rmt_vm_model_load() - check a weights blob against model @model and swap it in
 * @vm: the VM
 * @id: the program
 * @model: model index
 * @blob: the weights blob (untrusted)
 * @len: its size
 * @err: buffer for the reason on failure
 * @errlen: size of @err
 *
 * Return: the new version (> 0), or -ENOENT, -EINVAL, -ENOMEM; on failure
 * the previous weights stay.
 */
int rmt_vm_model_load(struct rmt_vm *vm, int id, u32 model, const void *blob, size_t len,
		      char *err, size_t errlen);

/**
 * rmt_vm_map_read() - read a map (per-CPU copies summed); see rmt_map_read()
 * @vm: the VM
 * @id: the program
 * @map: map index
 * @cursor: in/out position, 0 to start
 * @keys: receives keys
 * @vals: receives values
 * @max: capacity
 *
 * Return: number of pairs, 0 at the end, or -ENOENT.
 */
int rmt_vm_map_read(struct rmt_vm *vm, int id, u32 map, u64 *cursor, u64 *keys, u64 *vals,
		    u32 max);

/**
 * rmt_vm_map_write() - write one map value from the control plane
 * @vm: the VM
 * @id: the program
 * @map: map index
 * @key: key or index
 * @val: value
 * @err: buffer for the reason on failure
 * @errlen: size of @err
 *
 * Return: 0 or -ENOENT, -EINVAL, -E2BIG, -ENOSPC.
 */
int rmt_vm_map_write(struct rmt_vm *vm, int id, u32 map, u64 key, u64 val,
		     char *err, size_t errlen);

/**
 * rmt_vm_trace_drain() - take up to @max trace records, oldest first
 * @vm: the VM
 * @id: the program
 * @out: receives the records; values past each record's @nvals are zero
 * @max: capacity of @out
 *
 * Single consumer: callers serialise (the VM mutex does).
 *
 * Return: number of records, or -ENOENT.
 */
int rmt_vm_trace_drain(struct rmt_vm *vm, int id, struct rmt_trace_rec *out, u32 max);

/**
 * rmt_vm_stats() - a program's counters summed over CPUs
 * @vm: the VM
 * @id: the program
 * @out: receives the counters
 *
 * Return: 0 or -ENOENT.
 */
int rmt_vm_stats(struct rmt_vm *vm, int id, struct rmt_stats *out);

/**
 * rmt_bench_run() - run program @id @iterations times on copies of @ctx
 * @vm: the VM
 * @id: the program
 * @ctx: the context (not modified: each run gets a fresh copy)
 * @ctx_len: its size
 * @iterations: number of runs
 *
 * For benchmarks: the timing loop is in C, inside one RCU read-side section,
 * calling rmt_vm_run_rcu() as a kprobe handler would (the userspace
 * rcu_read_lock() is an atomic operation on a shared counter, which the
 * kernel's is not).
 *
 * Return: elapsed nanoseconds (in userspace, of the calling thread's CPU
 * time, so a shared machine's other jobs count less), or a negative errno.
 */
s64 rmt_bench_run(struct rmt_vm *vm, int id, const void *ctx, size_t ctx_len, u64 iterations);

#endif /* _RMT_RUNTIME_H */
