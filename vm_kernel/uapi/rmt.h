/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The /dev/rmt ioctl ABI of rmt.ko.
 *
 * Rules every payload follows, so one header serves 32- and 64-bit callers
 * and Python's ctypes alike:
 *  - fixed-width fields only; user pointers travel as __u64;
 *  - no implicit padding: every struct is a multiple of 8 bytes with explicit
 *    pad fields, which must be zero (checked: a set pad is -EINVAL);
 *  - every payload starts with @abi, which must be RMT_ABI_VERSION (else
 *    -EPROTO), so an old rmtctl talking to a new module fails loudly;
 *  - the command number encodes the payload size (_IOW/_IOR/_IOWR): a
 *    command of the wrong size, direction or an unknown number is -ENOTTY.
 *
 * Every call needs CAP_SYS_ADMIN (-EPERM).  Every argument is checked before
 * anything changes: a failed call returns a negative errno and leaves the
 * loaded programs, entries, weights and maps as they were.  Calls that can
 * be refused for a reason worth reading (a program the validator rejects, a
 * bad entry, bad weights) take an error buffer (@err, @err_len) and get the
 * VM's message there, NUL-terminated.
 *
 * read() on /dev/rmt drains trace records (struct rmt_ioc_trace_rec), oldest
 * first per program, from every program's ring (or one program's, after
 * RMT_IOC_TRACE_SELECT on that file).  It never blocks: 0 means no records.
 * The buffer must hold at least one record (-EINVAL otherwise).
 *
 * Hook commands (attach, detach, hook statistics) use numbers
 * RMT_IOC_HOOK_NR_FIRST..RMT_IOC_HOOK_NR_LAST; their payloads are defined in
 * uapi/rmt_hooks.h and handled by the hooks code of rmt.ko.
 */
#ifndef _UAPI_RMT_H
#define _UAPI_RMT_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define RMT_ABI_VERSION 1
#define RMT_IOC_MAGIC 0xE7

/* Limits mirrored from the VM (vm_kernel/core/rmt_format.h; checked at build). */
#define RMT_IOC_MAX_KEYS 8
#define RMT_IOC_MAX_PARAM_SIZE 256
#define RMT_IOC_MAX_TRACE_FIELDS 16
#define RMT_IOC_NR_ABORTS 7
#define RMT_IOC_MAX_DECISIONS 258
#define RMT_IOC_MAX_PROGS 64
#define RMT_IOC_MAX_OBJ_SIZE (16u << 20)
#define RMT_IOC_MAX_WEIGHTS_SIZE (16u << 20)
/* Most items one TABLE_DUMP / MAP_READ call returns (larger counts: -EINVAL). */
#define RMT_IOC_MAX_BATCH 1024
/* Longest error buffer the module fills (longer buffers are fine, not used). */
#define RMT_IOC_MAX_ERR 4096
/* Largest hook context PROG_RUN takes. */
#define RMT_IOC_MAX_CTX 4096

/* rmt_ioc_prog_load.flags */
#define RMT_LOAD_F_JIT 0x1u		/* asked for the JIT (recorded: rmt.ko JITs every program
					 * unless rmt.jit=0; PROG_INFO says what runs it) */
#define RMT_LOAD_F_VERIFIED 0x2u	/* the RMT verifier accepted it (recorded, shown) */
#define RMT_LOAD_F_FORCED 0x4u		/* inserted although the verifier did not accept */
#define RMT_LOAD_F_ALL 0x7u

/* rmt_ioc_table_update.op */
#define RMT_TABLE_INSERT 0
#define RMT_TABLE_MODIFY 1
#define RMT_TABLE_DELETE 2

/* rmt_ioc_prog_info.engine */
#define RMT_PROG_ENGINE_INTERP 0u
#define RMT_PROG_ENGINE_JIT 1u

/* rmt_ioc_prog_run.flags */
#define RMT_RUN_F_SHADOW 0x1u		/* count agreement with @kernel_decision */

/**
 * struct rmt_ioc_version - RMT_IOC_VERSION: what this module speaks
 * @abi: out: RMT_ABI_VERSION of the module
 * @max_progs: out: program ids are 1..@max_progs
 * @nr_cpus: out: CPU numbers are below this (nr_cpu_ids)
 * @max_trace_fields: out: length of rmt_ioc_trace_rec.vals
 * @entry_size: out: sizeof(struct rmt_ioc_entry)
 * @trace_rec_size: out: sizeof(struct rmt_ioc_trace_rec)
 * @hooks: out: 1 when hook commands are available
 * @pad: zero
 */
struct rmt_ioc_version {
	__u32 abi;
	__u32 max_progs;
	__u32 nr_cpus;
	__u32 max_trace_fields;
	__u32 entry_size;
	__u32 trace_rec_size;
	__u32 hooks;
	__u32 pad;
};

/**
 * struct rmt_ioc_prog_load - RMT_IOC_PROG_LOAD: parse, validate, instantiate
 * @abi: RMT_ABI_VERSION
 * @flags: RMT_LOAD_F_*
 * @obj: user pointer to the .rmtb object
 * @obj_len: its size, 1..RMT_IOC_MAX_OBJ_SIZE
 * @trace_capacity: trace ring records (a power of two, 0: the default)
 * @seed: initial state of the random helper (0: the default)
 * @err: user pointer to a buffer for the validator's message (0: none)
 * @err_len: its size (0..; at most RMT_IOC_MAX_ERR bytes are written)
 * @id: out: the new program's id
 */
struct rmt_ioc_prog_load {
	__u32 abi;
	__u32 flags;
	__u64 obj;
	__u32 obj_len;
	__u32 trace_capacity;
	__u64 seed;
	__u64 err;
	__u32 err_len;
	__u32 id;
};

/**
 * struct rmt_ioc_prog_id - RMT_IOC_PROG_UNLOAD, RMT_IOC_TRACE_SELECT
 * @abi: RMT_ABI_VERSION
 * @id: the program (TRACE_SELECT: 0 selects every program)
 */
struct rmt_ioc_prog_id {
	__u32 abi;
	__u32 id;
};

/**
 * struct rmt_ioc_prog_list - RMT_IOC_PROG_LIST: ids of the loaded programs
 * @abi: RMT_ABI_VERSION
 * @count: in: capacity of @ids (0..RMT_IOC_MAX_PROGS); out: programs loaded
 *	(only the first min(in, out) are written)
 * @ids: user pointer to __u32[@count], ascending
 */
struct rmt_ioc_prog_list {
	__u32 abi;
	__u32 count;
	__u64 ids;
};

/**
 * struct rmt_ioc_prog_info - RMT_IOC_PROG_INFO: one program
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @obj: user pointer to a buffer for the object bytes as loaded (0: none)
 * @obj_cap: its size; the object is copied only if it fits
 * @obj_len: out: the object's size
 * @hook_id: out: the hook the program binds to
 * @engine: out: what runs it: RMT_PROG_ENGINE_INTERP (0) or
 *	RMT_PROG_ENGINE_JIT (1: native code; in rmt.ko lowered to eBPF and
 *	compiled by the kernel's BPF JIT, vm_kernel/kmod/rmt_kmod_jit.c)
 * @flags: out: the RMT_LOAD_F_* it was loaded with
 * @ninsns: out: instructions
 * @ntables: out: tables
 * @nmodels: out: models
 * @nmaps: out: maps
 * @ntraces: out: trace formats
 * @load_time_ns: out: wall-clock time of the load (ns since the epoch)
 */
struct rmt_ioc_prog_info {
	__u32 abi;
	__u32 id;
	__u64 obj;
	__u32 obj_cap;
	__u32 obj_len;
	__u32 hook_id;
	__u32 engine;
	__u32 flags;
	__u32 ninsns;
	__u32 ntables;
	__u32 nmodels;
	__u32 nmaps;
	__u32 ntraces;
	__u64 load_time_ns;
};

/**
 * struct rmt_ioc_match - one match field of an entry (vm_kernel/core/rmt_table.h)
 * @a: exact: value; lpm: value; ternary: value; range: lo
 * @b: exact: 0; lpm: prefix length; ternary: mask; range: hi (inclusive)
 */
struct rmt_ioc_match {
	__u64 a;
	__u64 b;
};

/**
 * struct rmt_ioc_entry - a table entry (same layout as struct rmt_entry_spec)
 * @priority: ternary/range tables: higher wins; else 0
 * @action: action index
 * @nkeys: match fields, must equal the table's keys
 * @match: one per key
 * @params: the action's parameters, zero past the action's size
 */
struct rmt_ioc_entry {
	__u32 priority;
	__u16 action;
	__u16 nkeys;
	struct rmt_ioc_match match[RMT_IOC_MAX_KEYS];
	__u8 params[RMT_IOC_MAX_PARAM_SIZE];
};

/**
 * struct rmt_ioc_entry_dump - an entry and its hit counter
 * @entry: the entry in normal form (lpm and ternary values masked)
 * @hits: lookups that selected it
 */
struct rmt_ioc_entry_dump {
	struct rmt_ioc_entry entry;
	__u64 hits;
};

/**
 * struct rmt_ioc_table_update - RMT_IOC_TABLE_UPDATE: insert, modify, delete
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @table: table index
 * @op: RMT_TABLE_INSERT, _MODIFY or _DELETE
 * @err: user pointer to a buffer for the reason of a refusal (0: none)
 * @err_len: its size
 * @pad: zero
 * @entry: the entry (delete: its match and priority name it)
 */
struct rmt_ioc_table_update {
	__u32 abi;
	__u32 id;
	__u32 table;
	__u32 op;
	__u64 err;
	__u32 err_len;
	__u32 pad;
	struct rmt_ioc_entry entry;
};

/**
 * struct rmt_ioc_table_dump - RMT_IOC_TABLE_DUMP: entries in insertion order
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @table: table index
 * @start: index of the first entry to copy
 * @count: in: capacity of @entries (1..RMT_IOC_MAX_BATCH); out: copied
 * @pad: zero
 * @entries: user pointer to struct rmt_ioc_entry_dump[@count]
 * @misses: out: lookups that missed
 */
struct rmt_ioc_table_dump {
	__u32 abi;
	__u32 id;
	__u32 table;
	__u32 start;
	__u32 count;
	__u32 pad;
	__u64 entries;
	__u64 misses;
};

/**
 * struct rmt_ioc_model_load - RMT_IOC_MODEL_LOAD: check weights, swap them in
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @model: model index
 * @blob_len: size of the weights blob, 1..RMT_IOC_MAX_WEIGHTS_SIZE
 * @blob: user pointer to the blob
 * @err: user pointer to a buffer for the reason of a refusal (0: none)
 * @err_len: its size
 * @pad: zero
 * @version: out: the version now in use
 */
struct rmt_ioc_model_load {
	__u32 abi;
	__u32 id;
	__u32 model;
	__u32 blob_len;
	__u64 blob;
	__u64 err;
	__u32 err_len;
	__u32 pad;
	__u64 version;
};

/**
 * struct rmt_ioc_model_info - RMT_IOC_MODEL_INFO: the weights in use
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @model: model index
 * @pad: zero
 * @version: out: version in use (0: no weights loaded)
 * @bytes: out: size of the blob that was loaded
 * @load_time_ns: out: wall-clock time of the load (ns since the epoch)
 */
struct rmt_ioc_model_info {
	__u32 abi;
	__u32 id;
	__u32 model;
	__u32 pad;
	__u64 version;
	__u64 bytes;
	__u64 load_time_ns;
};

/**
 * struct rmt_ioc_map_read - RMT_IOC_MAP_READ: (key, value) pairs, per-CPU summed
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @map: map index
 * @count: in: capacity of @keys and @vals (1..RMT_IOC_MAX_BATCH); out: pairs
 *	copied, 0 at the end
 * @cursor: in/out position, 0 to start
 * @keys: user pointer to __u64[@count]
 * @vals: user pointer to __u64[@count]
 */
struct rmt_ioc_map_read {
	__u32 abi;
	__u32 id;
	__u32 map;
	__u32 count;
	__u64 cursor;
	__u64 keys;
	__u64 vals;
};

/**
 * struct rmt_ioc_map_write - RMT_IOC_MAP_WRITE: set one value
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @map: map index
 * @err_len: size of @err
 * @key: index or hash key
 * @val: the value
 * @err: user pointer to a buffer for the reason of a refusal (0: none)
 */
struct rmt_ioc_map_write {
	__u32 abi;
	__u32 id;
	__u32 map;
	__u32 err_len;
	__u64 key;
	__u64 val;
	__u64 err;
};

/**
 * struct rmt_ioc_counters - a program's counters summed over CPUs
 *	(the same layout as struct rmt_stats in vm_kernel/core/rmt_vm.h)
 * @runs: invocations
 * @aborts: aborted invocations per abort kind (index 0 unused)
 * @bad_decisions: EXIT values outside the hook's range
 * @shadow_agree: shadow-mode agreements
 * @shadow_disagree: shadow-mode disagreements
 * @trace_drops: records dropped on a full ring
 * @model_overflows: accumulator saturations
 * @map_drops: hash-map updates dropped on a full map
 * @decision_lo: decision value of @decisions[1] (@decisions[0] is DEFAULT)
 * @ndecisions: valid entries of @decisions
 * @pad: zero
 * @decisions: how often each decision was returned
 */
struct rmt_ioc_counters {
	__u64 runs;
	__u64 aborts[RMT_IOC_NR_ABORTS];
	__u64 bad_decisions;
	__u64 shadow_agree;
	__u64 shadow_disagree;
	__u64 trace_drops;
	__u64 model_overflows;
	__u64 map_drops;
	__s64 decision_lo;
	__u32 ndecisions;
	__u32 pad;
	__u64 decisions[RMT_IOC_MAX_DECISIONS];
};

/**
 * struct rmt_ioc_stats - RMT_IOC_STATS: a program's counters
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @c: out: the counters
 */
struct rmt_ioc_stats {
	__u32 abi;
	__u32 id;
	struct rmt_ioc_counters c;
};

/**
 * struct rmt_ioc_prog_run - RMT_IOC_PROG_RUN: run a program once, no hook
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @cpu: the CPU to run on (online, < nr_cpus); the run happens there
 * @ctx_len: size of the context, the hook's context size
 * @ctx: user pointer to the context; writable fields are written back
 * @now: the invocation's time (ns) the program sees
 * @kernel_decision: with RMT_RUN_F_SHADOW: the decision to compare with
 * @flags: RMT_RUN_F_*
 * @pad: zero
 * @decision: out: the decision (-1 DEFAULT)
 * @abort: out: the abort kind (0: none)
 * @abort_pc: out: pc of the failed check, or -1
 */
struct rmt_ioc_prog_run {
	__u32 abi;
	__u32 id;
	__u32 cpu;
	__u32 ctx_len;
	__u64 ctx;
	__u64 now;
	__s64 kernel_decision;
	__u32 flags;
	__u32 pad;
	__s64 decision;
	__u32 abort;
	__s32 abort_pc;
};

/**
 * struct rmt_ioc_trace_rec - one trace record as read() returns it
 * @prog_id: the program that emitted it
 * @fmt: trace format index (the program's TRACE record)
 * @cpu: CPU of the invocation
 * @nvals: valid @vals
 * @ts: time of the invocation (ns)
 * @vals: the raw field values
 */
struct rmt_ioc_trace_rec {
	__u32 prog_id;
	__u32 fmt;
	__u32 cpu;
	__u32 nvals;
	__u64 ts;
	__u64 vals[RMT_IOC_MAX_TRACE_FIELDS];
};

#define RMT_IOC_VERSION		_IOR(RMT_IOC_MAGIC, 0x00, struct rmt_ioc_version)
#define RMT_IOC_PROG_LOAD	_IOWR(RMT_IOC_MAGIC, 0x01, struct rmt_ioc_prog_load)
#define RMT_IOC_PROG_UNLOAD	_IOW(RMT_IOC_MAGIC, 0x02, struct rmt_ioc_prog_id)
#define RMT_IOC_PROG_LIST	_IOWR(RMT_IOC_MAGIC, 0x03, struct rmt_ioc_prog_list)
#define RMT_IOC_PROG_INFO	_IOWR(RMT_IOC_MAGIC, 0x04, struct rmt_ioc_prog_info)
#define RMT_IOC_TABLE_UPDATE	_IOW(RMT_IOC_MAGIC, 0x10, struct rmt_ioc_table_update)
#define RMT_IOC_TABLE_DUMP	_IOWR(RMT_IOC_MAGIC, 0x11, struct rmt_ioc_table_dump)
#define RMT_IOC_MODEL_LOAD	_IOWR(RMT_IOC_MAGIC, 0x20, struct rmt_ioc_model_load)
#define RMT_IOC_MODEL_INFO	_IOWR(RMT_IOC_MAGIC, 0x21, struct rmt_ioc_model_info)
#define RMT_IOC_MAP_READ	_IOWR(RMT_IOC_MAGIC, 0x28, struct rmt_ioc_map_read)
#define RMT_IOC_MAP_WRITE	_IOW(RMT_IOC_MAGIC, 0x29, struct rmt_ioc_map_write)
#define RMT_IOC_STATS		_IOWR(RMT_IOC_MAGIC, 0x30, struct rmt_ioc_stats)
#define RMT_IOC_PROG_RUN	_IOWR(RMT_IOC_MAGIC, 0x31, struct rmt_ioc_prog_run)
#define RMT_IOC_TRACE_SELECT	_IOW(RMT_IOC_MAGIC, 0x32, struct rmt_ioc_prog_id)

/*
 * RMT_IOC_TABLE_BATCH: a table's updates, all or none.
 */

/**
 * struct rmt_ioc_table_op - one update of a batch
 * @op: RMT_TABLE_INSERT, RMT_TABLE_MODIFY or RMT_TABLE_DELETE
 * @pad: zero
 * @entry: the entry (delete: its match and priority)
 */
struct rmt_ioc_table_op {
	__u32 op;
	__u32 pad;
	struct rmt_ioc_entry entry;
};

/**
 * struct rmt_ioc_table_batch - RMT_IOC_TABLE_BATCH: apply updates to one table,
 *	every one or none (the table is replaced as a whole, atomically for lookups)
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @table: table index
 * @count: number of @ops, 0..RMT_IOC_MAX_BATCH
 * @ops: user pointer to struct rmt_ioc_table_op[@count], applied in order
 * @err: user pointer to a buffer for the reason of a refusal (0: none)
 * @err_len: size of @err
 * @failed: out: index of the update that was refused, @count when none was
 */
struct rmt_ioc_table_batch {
	__u32 abi;
	__u32 id;
	__u32 table;
	__u32 count;
	__u64 ops;
	__u64 err;
	__u32 err_len;
	__u32 failed;
};

#define RMT_IOC_TABLE_BATCH	_IOWR(RMT_IOC_MAGIC, 0x12, struct rmt_ioc_table_batch)

/*
 * RMT_IOC_TRACE_PEEK, RMT_IOC_TRACE_ACK: a drain that loses nothing.  A reader
 * peeks at records (they stay in the ring and keep their slots), makes them
 * durable, then acknowledges them; a reader that fails or dies before the
 * ack leaves every record for the next one.  (read() still drains at once.)
 */

/**
 * struct rmt_ioc_trace_peek - RMT_IOC_TRACE_PEEK: copy records, take none
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @count: in: capacity of @recs (1..RMT_IOC_MAX_BATCH); out: records copied
 * @pad: zero
 * @skip: records to pass over, from the oldest (to page through the ring)
 * @pos: out: position of the oldest record, for RMT_IOC_TRACE_ACK
 * @recs: user pointer to struct rmt_ioc_trace_rec[@count]
 */
struct rmt_ioc_trace_peek {
	__u32 abi;
	__u32 id;
	__u32 count;
	__u32 pad;
	__u64 skip;
	__u64 pos;
	__u64 recs;
};

/**
 * struct rmt_ioc_trace_ack - RMT_IOC_TRACE_ACK: take the oldest records
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @count: how many records to take (they were peeked)
 * @pad: zero
 * @pos: the @pos the peek returned: -ESTALE (nothing taken) if another
 *	reader took records since
 */
struct rmt_ioc_trace_ack {
	__u32 abi;
	__u32 id;
	__u32 count;
	__u32 pad;
	__u64 pos;
};

#define RMT_IOC_TRACE_PEEK	_IOWR(RMT_IOC_MAGIC, 0x33, struct rmt_ioc_trace_peek)
#define RMT_IOC_TRACE_ACK	_IOW(RMT_IOC_MAGIC, 0x34, struct rmt_ioc_trace_ack)

/* Numbers of the hook commands (uapi/rmt_hooks.h). */
#define RMT_IOC_HOOK_NR_FIRST 0x40
#define RMT_IOC_HOOK_NR_LAST 0x5f

/*
 * Sizes are part of the ABI.  (A C11 _Static_assert, valid in userspace and
 * in the kernel alike.)
 */
_Static_assert(sizeof(struct rmt_ioc_version) == 32, "rmt_ioc_version");
_Static_assert(sizeof(struct rmt_ioc_prog_load) == 48, "rmt_ioc_prog_load");
_Static_assert(sizeof(struct rmt_ioc_prog_id) == 8, "rmt_ioc_prog_id");
_Static_assert(sizeof(struct rmt_ioc_prog_list) == 16, "rmt_ioc_prog_list");
_Static_assert(sizeof(struct rmt_ioc_prog_info) == 64, "rmt_ioc_prog_info");
_Static_assert(sizeof(struct rmt_ioc_entry) == 8 + 16 * RMT_IOC_MAX_KEYS +
	       RMT_IOC_MAX_PARAM_SIZE, "rmt_ioc_entry");
_Static_assert(sizeof(struct rmt_ioc_entry_dump) == sizeof(struct rmt_ioc_entry) + 8,
	       "rmt_ioc_entry_dump");
_Static_assert(sizeof(struct rmt_ioc_table_update) == 32 + sizeof(struct rmt_ioc_entry),
	       "rmt_ioc_table_update");
_Static_assert(sizeof(struct rmt_ioc_table_dump) == 40, "rmt_ioc_table_dump");
_Static_assert(sizeof(struct rmt_ioc_model_load) == 48, "rmt_ioc_model_load");
_Static_assert(sizeof(struct rmt_ioc_model_info) == 40, "rmt_ioc_model_info");
_Static_assert(sizeof(struct rmt_ioc_map_read) == 40, "rmt_ioc_map_read");
_Static_assert(sizeof(struct rmt_ioc_map_write) == 40, "rmt_ioc_map_write");
_Static_assert(sizeof(struct rmt_ioc_counters) ==
	       8 * (9 + RMT_IOC_NR_ABORTS + RMT_IOC_MAX_DECISIONS), "rmt_ioc_counters");
_Static_assert(sizeof(struct rmt_ioc_stats) == 8 + sizeof(struct rmt_ioc_counters),
	       "rmt_ioc_stats");
_Static_assert(sizeof(struct rmt_ioc_prog_run) == 64, "rmt_ioc_prog_run");
_Static_assert(sizeof(struct rmt_ioc_trace_rec) == 24 + 8 * RMT_IOC_MAX_TRACE_FIELDS,
	       "rmt_ioc_trace_rec");

/*
 * ---- Candidate models (stage, promote, roll back) ----
 *
 * RMT_IOC_MODEL_STAGE takes struct rmt_ioc_model_load: the blob is checked as
 * RMT_IOC_MODEL_LOAD checks it and staged beside the live weights; @version
 * is the candidate's.  While staged, every CALLM of the model also runs the
 * candidate on the same inputs, counts agreement (every output on the same
 * side of 0) and pushes a trace record of fmt RMT_IOC_TRACE_FMT_CANDIDATE on
 * a disagreement: vals[0] model, vals[1] k, then k live and k candidate
 * outputs (s32 sign-extended).  The program acts on the live outputs only.
 * RMT_IOC_MODEL_CTL promotes (the candidate goes live in one RCU pointer
 * swap; the replaced weights are kept), rolls back (the weights the last
 * load or promote replaced go live again; one level) or unstages.
 * RMT_IOC_MODEL_STATE reports versions, agreement and the latest events.
 * The cost of the second inference is the caller's to check (rmtctl refuses
 * to stage when the program's worst case with it exceeds the hook budget).
 */
#define RMT_IOC_MODEL_OP_LOAD 1		/* history only */
#define RMT_IOC_MODEL_OP_STAGE 2	/* history only */
#define RMT_IOC_MODEL_OP_PROMOTE 3
#define RMT_IOC_MODEL_OP_ROLLBACK 4
#define RMT_IOC_MODEL_OP_UNSTAGE 5
#define RMT_IOC_MODEL_HISTORY 16
#define RMT_IOC_TRACE_FMT_CANDIDATE 0xffffffffu

/**
 * struct rmt_ioc_model_ctl - RMT_IOC_MODEL_CTL: promote, roll back, unstage
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @model: model index
 * @op: RMT_IOC_MODEL_OP_PROMOTE, _ROLLBACK or _UNSTAGE
 * @err: user pointer to a buffer for the reason of a refusal (0: none)
 * @err_len: its size
 * @pad: zero
 * @version: out: the version now in use (unstage: the dropped candidate's)
 *
 * -ENOENT when there is no candidate to promote or unstage, or nothing to
 * roll back to; nothing changes then.
 */
struct rmt_ioc_model_ctl {
	__u32 abi;
	__u32 id;
	__u32 model;
	__u32 op;
	__u64 err;
	__u32 err_len;
	__u32 pad;
	__u64 version;
};

/**
 * struct rmt_ioc_model_event - one change of a model's weights
 * @version: the version loaded, staged or put in use
 * @op: RMT_IOC_MODEL_OP_*
 * @pad: zero
 * @agree: promote, unstage: the candidate's agreements until then
 * @disagree: its disagreements until then
 */
struct rmt_ioc_model_event {
	__u64 version;
	__u32 op;
	__u32 pad;
	__u64 agree;
	__u64 disagree;
};

/**
 * struct rmt_ioc_model_state - RMT_IOC_MODEL_STATE: versions, agreement, history
 * @abi: RMT_ABI_VERSION
 * @id: the program
 * @model: model index
 * @pad: zero
 * @version: out: version in use (0: none)
 * @cand_version: out: the staged candidate's (0: none)
 * @prev_version: out: what a rollback restores (0: nothing)
 * @agree: out: the candidate's agreements since it was staged
 * @disagree: out: its disagreements
 * @nevents: out: events recorded since the program was loaded
 * @nhist: out: valid entries of @hist, oldest first
 * @hist: out: the latest events
 */
struct rmt_ioc_model_state {
	__u32 abi;
	__u32 id;
	__u32 model;
	__u32 pad;
	__u64 version;
	__u64 cand_version;
	__u64 prev_version;
	__u64 agree;
	__u64 disagree;
	__u32 nevents;
	__u32 nhist;
	struct rmt_ioc_model_event hist[RMT_IOC_MODEL_HISTORY];
};

#define RMT_IOC_MODEL_STAGE	_IOWR(RMT_IOC_MAGIC, 0x22, struct rmt_ioc_model_load)
#define RMT_IOC_MODEL_CTL	_IOWR(RMT_IOC_MAGIC, 0x23, struct rmt_ioc_model_ctl)
#define RMT_IOC_MODEL_STATE	_IOWR(RMT_IOC_MAGIC, 0x24, struct rmt_ioc_model_state)

_Static_assert(sizeof(struct rmt_ioc_model_ctl) == 40, "rmt_ioc_model_ctl");
_Static_assert(sizeof(struct rmt_ioc_model_event) == 32, "rmt_ioc_model_event");
_Static_assert(sizeof(struct rmt_ioc_model_state) == 64 + 32 * RMT_IOC_MODEL_HISTORY,
	       "rmt_ioc_model_state");
/* ---- end of candidate models ---- */
_Static_assert(sizeof(struct rmt_ioc_table_op) == 8 + sizeof(struct rmt_ioc_entry),
	       "rmt_ioc_table_op");
_Static_assert(sizeof(struct rmt_ioc_table_batch) == 40, "rmt_ioc_table_batch");
_Static_assert(sizeof(struct rmt_ioc_trace_peek) == 40, "rmt_ioc_trace_peek");
_Static_assert(sizeof(struct rmt_ioc_trace_ack) == 24, "rmt_ioc_trace_ack");

/* The hook commands' payloads (owned by the hooks code). */
#include "rmt_hooks.h"

#endif /* _UAPI_RMT_H */
