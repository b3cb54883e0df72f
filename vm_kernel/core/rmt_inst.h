/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_inst.h: the layout of a VM instance and of its loaded programs.
 *
 * For the VM itself: the runtime (rmt_runtime.c) and the engines that run a
 * program (rmt_engine.h).  Callers of the VM use rmt_vm.h, never this; and
 * this does not include rmt_vm.h, so an engine sees only what a run needs.
 *
 * Per-CPU buffers: the kernel runs a hook with preemption disabled, so a
 * CPU's buffers have one user at a time.  Userspace callers must likewise not
 * run the same program concurrently with the same @cpu argument.
 */
#ifndef _RMT_INST_H
#define _RMT_INST_H

#include "rmt_compat.h"
#include "rmt_run.h"
#include "rmt_loader.h"
#include "rmt_table.h"
#include "rmt_map.h"
#include "rmt_ring.h"
#include "rmt_modelif.h"
#include "rmt_jit.h"

/* per-CPU blocks start on their own line, so CPUs never write one line */
#define RMT_CACHE_LINE 64

/*
 * Per-CPU counters of one program; decisions[] follows, ndecisions long,
 * then two counters per model: a staged candidate's agreements and
 * disagreements with the live weights (rmt_cand_ctr()).
 *
 * A run writes one counter: its decisions[] slot (plus aborts[] or
 * bad_decisions when it failed).  Every run lands in exactly one slot, so
 * the number of runs is their sum (rmt_vm_stats()) and needs no counter of
 * its own: one cache line per run, not two.
 */
struct rmt_pcpu_stats {
	u64 aborts[RMT_NR_ABORTS];
	u64 bad_decisions;
	u64 shadow_agree;
	u64 shadow_disagree;
	u64 trace_drops;
	u64 model_overflows;
	u64 map_drops;
	u64 decisions[];
};

/*
 * Per-CPU memory regions of one program: zeroed (or reset) at each run.
 *
 * @jc is the native code's view of this CPU's run (rmt_jit.h), filled at
 * load: a run stores only what changes (context, time, abort) instead of
 * building the whole struct on the stack each time.  Frames are whole cache
 * lines apart (and the array starts on one, rmt_frames_alloc()): every run
 * writes @jc, which must not share a line that another CPU's runs read.
 */
struct rmt_frame {
	struct rmt_jit_ctx jc;	/* first: the run's entry argument is the frame itself */
	/* what every run reads, next to @jc: two cache lines, not three */
	u32 zero_len;		/* bytes to zero from @zero_at */
	u32 params_dirty;	/* an APPLY ran since the last reset of @params */
	u32 ndecisions;		/* copies of the instance's, for rmt_account() */
	u32 zero_regs;		/* copies for the interpreter: two dependent loads */
	const struct rmt_insn *insns;	/* less than through @jc.in->prog */
	s64 decision_lo;
	struct rmt_pcpu_stats *stats;	/* this CPU's counters */
	u8 *scratch;		/* scratch, then every model's MIN and MOUT */
	u8 *zero_at;		/* the part of it a run zeroes (rmt_prog_plan_zero()) */
	u32 ntables;		/* PARAMS pointers to reset (a copy: one load less per run) */
	const u8 **params;	/* PARAMS(t): the selected entry's parameters */
	s32 **min;
	s32 **mout;
	s32 *cand_out;		/* a staged candidate's outputs (the largest n_out) */
} __aligned(RMT_CACHE_LINE);

/**
 * struct rmt_inst - a loaded program and its run-time state
 * @prog: the checked object
 * @tables: one table per TABLE record
 * @models: one weight slot per MODEL record
 * @maps: one map per MAP record
 * @ring: the trace ring
 * @rng: xorshift64 state of the random helper
 * @frames: per-CPU regions, @ncpus of them
 * @frame_block: the allocation holding @frames and their memory
 * @stats_mem: per-CPU counters, @stats_stride bytes apart, line-aligned
 * @stats_block: the allocation holding @stats_mem
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
	void *frame_block;
	u8 *stats_mem;
	void *stats_block;
	u32 stats_stride;
	u32 engine;
	rmt_jit_fn native;
	void *native_mem;
	size_t native_size;
	struct bpf_prog *kjit;
	struct rcu_head rcu;
};

/* Model @model's candidate counters on @cpu: [0] agreements, [1] disagreements. */
static __always_inline u64 *rmt_cand_ctr(struct rmt_inst *in, u32 cpu, u32 model)
{
	struct rmt_pcpu_stats *st = (struct rmt_pcpu_stats *)(in->stats_mem +
							       (size_t)cpu * in->stats_stride);

	return st->decisions + in->ndecisions + 2 * (size_t)model;
}

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
 * the bytes some path may read before writing them are zeroed (the load-time
 * analysis rmt_prog_plan_zero(); none for most programs): the others are
 * overwritten before any read, so the program cannot tell.  PARAMS pointers
 * are reset only after a run that applied a table.
 */
static __always_inline void rmt_frame_enter(struct rmt_inst *in, struct rmt_frame *fr)
{
	u32 t;

	if (fr->zero_len)
		memset(fr->zero_at, 0, fr->zero_len);
	/* only an APPLY changes PARAMS pointers: a run without one resets nothing */
	if (unlikely(fr->params_dirty)) {
		for (t = 0; t < fr->ntables; t++)
			fr->params[t] = rmt_zero_params;
		fr->params_dirty = 0;
	}
}

/* Record that APPLY set a PARAMS pointer of @cpu's frame (rmt_frame_enter() resets it). */
static __always_inline void rmt_frame_params_set(struct rmt_inst *in, u32 cpu, u32 table,
						 const u8 *params)
{
	struct rmt_frame *fr = &in->frames[cpu];

	fr->params[table] = params;
	fr->params_dirty = 1;
}

/**
 * struct rmt_vm - a VM instance: loaded programs by id
 * @progs: program @id is @progs[@id - 1]; RCU-protected
 * @lock: serialises the control plane
 */
struct rmt_vm {
	struct rmt_inst __rcu *progs[RMT_VM_MAX_PROGS];
	struct mutex lock;
};

#endif /* _RMT_INST_H */
