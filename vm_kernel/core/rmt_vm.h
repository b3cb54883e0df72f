/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_vm.h: the VM's public API -- everything a caller of the VM may use.
 *
 * One API for every caller: the cffi binding (rmt_vm/, the simulator target)
 * and rmt.ko's /dev/rmt and hooks (vm_kernel/kmod/), which include this
 * header and never the instance layout (rmt_inst.h, for the engines).
 *
 * A struct rmt_vm holds up to RMT_VM_MAX_PROGS programs by id
 * (1..RMT_VM_MAX_PROGS).  The hook path,
 * rmt_vm_run(), takes no lock and allocates nothing: it finds the program
 * under rcu_read_lock() and runs on per-CPU buffers allocated at load time.
 * Control-plane calls are serialised by the VM's mutex; a failed call changes
 * nothing and explains itself in the caller's error buffer.
 *
 * Per-CPU buffers: the kernel runs a hook with preemption disabled, so a
 * CPU's buffers have one user at a time.  Userspace callers must likewise not
 * run the same program concurrently with the same @cpu argument.
 */
#ifndef _RMT_VM_H
#define _RMT_VM_H

#include "rmt_compat.h"
#include "rmt_isa.h"
#include "rmt_format.h"
#include "rmt_table.h"
#include "rmt_ring.h"
#include "rmt_jit.h"
#include "rmt_run.h"

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

/* A VM instance (its layout: rmt_inst.h). */
struct rmt_vm;

/**
 * struct rmt_prog_info - what a loaded program is (rmt_vm_prog_info())
 * @obj: the object it was loaded from (@obj_len bytes); valid while the
 *	program stays loaded
 * @obj_len: its size
 * @hook_id: the hook it is built for
 * @hook_name: that hook's name (static)
 * @mode: the object's mode (0 enforce, else shadow)
 * @engine: what runs it (enum rmt_engine_kind)
 * @ctx_size: the size of its hook's context
 * @ninsns: instructions
 * @ntables: tables
 * @nmodels: models
 * @nmaps: maps
 * @ntraces: trace formats
 */
struct rmt_prog_info {
	const void *obj;
	u32 obj_len;
	u32 hook_id;
	const char *hook_name;
	u32 mode;
	u32 engine;
	u32 ctx_size;
	u32 ninsns;
	u32 ntables;
	u32 nmodels;
	u32 nmaps;
	u32 ntraces;
};

/**
 * rmt_vm_prog_info() - describe program @id
 * @vm: the VM
 * @id: the program
 * @out: receives the description (may be NULL: is @id loaded?)
 *
 * Return: 0 or -ENOENT.
 */
int rmt_vm_prog_info(struct rmt_vm *vm, int id, struct rmt_prog_info *out);

/**
 * rmt_vm_model_version() - the weights version of model @model of program @id
 * @vm: the VM
 * @id: the program
 * @model: model index
 *
 * Return: the version (0: no weights loaded yet), or -ENOENT.
 */
s64 rmt_vm_model_version(struct rmt_vm *vm, int id, u32 model);

/**
 * rmt_vm_map_flags() - the declared flags of map @map of program @id
 * @vm: the VM
 * @id: the program
 * @map: map index
 *
 * Return: RMT_MAP_* flags (RMT_MAP_PRIVATE: its contents stay in the VM), or
 * -ENOENT.
 */
int rmt_vm_map_flags(struct rmt_vm *vm, int id, u32 map);

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

/* rmt_table_op.op (the ops of rmt_vm_table_update() too) */
#define RMT_TABLE_OP_INSERT 0
#define RMT_TABLE_OP_MODIFY 1
#define RMT_TABLE_OP_DELETE 2

/**
 * struct rmt_table_op - one update of a batch (same layout as struct rmt_ioc_table_op)
 * @op: RMT_TABLE_OP_*
 * @pad: zero
 * @spec: the entry
 */
struct rmt_table_op {
	u32 op;
	u32 pad;
	struct rmt_entry_spec spec;
};

/**
 * rmt_vm_table_batch() - apply updates to one table, all or none
 * @vm: the VM
 * @id: the program
 * @table: table index
 * @ops: the updates, applied in order
 * @n: number of @ops (0 is allowed)
 * @failed: out: index of the update that failed, @n when none did
 * @err: buffer for the reason on failure
 * @errlen: size of @err
 *
 * The updates are applied to a copy of the table, which replaces it only when
 * every one succeeded (and lookups see one or the other, never a mix).  Costs
 * a copy of the table and a grace period.
 *
 * Return: 0 or the first failing update's error (as rmt_vm_table_update()),
 * with the table unchanged.
 */
int rmt_vm_table_batch(struct rmt_vm *vm, int id, u32 table, const struct rmt_table_op *ops,
		       u32 n, u32 *failed, char *err, size_t errlen);

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
 * rmt_vm_trace_peek() - copy up to @max trace records without taking them
 * @vm: the VM
 * @id: the program
 * @skip: records to pass over, from the oldest
 * @out: receives the records; values past each record's @nvals are zero
 * @max: capacity of @out
 * @pos: out: position of the oldest record, for rmt_vm_trace_ack()
 *
 * Return: number of records, or -ENOENT.
 */
int rmt_vm_trace_peek(struct rmt_vm *vm, int id, u64 skip, struct rmt_trace_rec *out, u32 max,
		      u64 *pos);

/**
 * rmt_vm_trace_ack() - take the @n oldest records, once they are safe elsewhere
 * @vm: the VM
 * @id: the program
 * @pos: the position rmt_vm_trace_peek() returned
 * @n: how many records to take
 *
 * Return: 0; -ESTALE when records were taken since the peek (nothing is
 * taken then); -EINVAL when fewer than @n records are there; -ENOENT.
 */
int rmt_vm_trace_ack(struct rmt_vm *vm, int id, u64 pos, u32 n);

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

/* ---- candidate models (stage, promote, rollback) ---- */

/* The trace format of a candidate's disagreement record (rmt_callm_cand()). */
#define RMT_TRACE_FMT_CANDIDATE 0xffffffffu
/* Outputs of each side a disagreement record shows: 2 + 2 * 7 = 16 values. */
#define RMT_CAND_TRACE_OUTPUTS 7

/**
 * struct rmt_model_state - a model's weights, candidate, evidence and history
 * @version: version in use (0: none)
 * @cand_version: staged candidate's (0: none)
 * @prev_version: the weights a rollback restores (0: none)
 * @agree: runs where the candidate agreed with the live weights, since it
 *	was staged (after a promote: the promoted candidate's evidence)
 * @disagree: runs where it disagreed
 * @nevents: events ever recorded
 * @nhist: valid entries of @hist, oldest first (the last RMT_MODEL_HISTORY)
 * @hist: the latest events
 */
struct rmt_model_state {
	__u64 version;
	__u64 cand_version;
	__u64 prev_version;
	__u64 agree;
	__u64 disagree;
	__u32 nevents;
	__u32 nhist;
	struct rmt_model_event hist[RMT_MODEL_HISTORY];
};

/**
 * rmt_vm_model_stage() - check a weights blob and stage it beside the live weights
 * @vm: the VM
 * @id: the program
 * @model: model index
 * @blob: the weights blob (untrusted)
 * @len: its size
 * @err: buffer for the reason on failure
 * @errlen: size of @err
 *
 * The checks of rmt_vm_model_load().  From then on every CALLM of the model
 * also runs the candidate and counts agreement (rmt_callm_cand()); the
 * program acts on the live weights only.  The caller accounts for the cost
 * (rmtctl refuses to stage when the program's worst case with the model's
 * inference counted twice exceeds the hook's budget).
 *
 * Return: the candidate's version (> 0), or -ENOENT, -EINVAL, -ENOMEM; on
 * failure nothing changes.
 */
int rmt_vm_model_stage(struct rmt_vm *vm, int id, u32 model, const void *blob, size_t len,
		       char *err, size_t errlen);

/**
 * rmt_vm_model_ctl() - promote, roll back or unstage model @model's weights
 * @vm: the VM
 * @id: the program
 * @model: model index
 * @op: RMT_MODEL_OP_PROMOTE (the candidate goes live, atomically),
 *	RMT_MODEL_OP_ROLLBACK (the previous weights go live again) or
 *	RMT_MODEL_OP_UNSTAGE (the candidate is dropped)
 * @err: buffer for the reason on failure
 * @errlen: size of @err
 *
 * Return: the version now in use (unstage: the dropped candidate's), or
 * -ENOENT (no such program or model, no candidate, nothing to roll back
 * to), -EINVAL (unknown @op); on failure nothing changes.
 */
int rmt_vm_model_ctl(struct rmt_vm *vm, int id, u32 model, u32 op, char *err, size_t errlen);

/**
 * rmt_vm_model_state() - versions, candidate agreement and history of a model
 * @vm: the VM
 * @id: the program
 * @model: model index
 * @out: receives the state
 *
 * Return: 0 or -ENOENT.
 */
int rmt_vm_model_state(struct rmt_vm *vm, int id, u32 model, struct rmt_model_state *out);

#endif /* _RMT_VM_H */
