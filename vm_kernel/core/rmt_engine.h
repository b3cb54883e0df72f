/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_engine.h: the engines that run a loaded program, as the runtime
 * (rmt_runtime.c) calls them.
 *
 *   rmt_interp.c             the interpreter (every build)
 *   rmt_jit.c                x86-64 native code (userspace)
 *   kmod/rmt_kmod_jit.c      rmt.ko: lowered to eBPF, the kernel's BPF JIT
 *
 * Each sees a program through its instance (rmt_inst.h), which sits below
 * them: the engines include this header, the runtime includes it to call
 * them, and nothing here includes the runtime.
 */
#ifndef _RMT_ENGINE_H
#define _RMT_ENGINE_H

#include "rmt_inst.h"

/**
 * rmt_interp_run() - run a program once (the interpreter, rmt_interp.c)
 * @jc: the run, as native code sees it: the CPU's struct rmt_jit_ctx inside
 *	its struct rmt_frame, with @jc->ctx, @jc->now and @jc->abort set and the
 *	frame entered (rmt_jit_run() does both)
 *
 * The same entry as native code (rmt_jit_fn), so the hook path is one for
 * every engine and the interpreter reads what it needs from the frame the
 * load filled instead of taking it as arguments.  Call under
 * rcu_read_lock().  Counts map drops, trace drops and model overflows; the
 * caller counts runs, aborts and decisions.
 *
 * Return: the raw decision (EXIT's value), or DEFAULT after an abort, whose
 * reason and pc are then in @jc->abort and @jc->abort_pc.
 */
s64 rmt_interp_run(struct rmt_jit_ctx *jc);

/**
 * rmt_jit_compile() - translate @in's validated code into native code
 * @in: the instance; on success, userspace: @in->native is set and
 *	@in->engine is RMT_ENGINE_JIT; rmt.ko: @in->kjit is set and @in->engine
 *	is RMT_ENGINE_KJIT (rmt_kjit_compile())
 *
 * Return: 0, -EOPNOTSUPP (no executable memory in this build, or the JIT is
 * off), -E2BIG or -ENOMEM.  On failure @in is unchanged and keeps the
 * interpreter.
 */
int rmt_jit_compile(struct rmt_inst *in);

/**
 * rmt_jit_free() - release @in's native code (any engine kind)
 * @in: the instance
 */
void rmt_jit_free(struct rmt_inst *in);

/**
 * rmt_jit_run() - enter @fr and run @fn, native code or rmt_interp_run(), once
 * @fn: the program's native code (@fr->jc.in->native), or rmt_interp_run
 * @fr: the frame of the CPU it runs on
 * @ctx: the hook context
 * @now: the invocation's time
 * @res: receives the raw decision or the abort
 *
 * Inline in the hook path: the CPU's struct rmt_jit_ctx was filled at load
 * (rmt_frames_alloc()), so a run stores the three fields that change.
 * @res->abort_pc is read back only after an abort (native code stores it
 * with the reason).
 */
static __always_inline void rmt_jit_run(rmt_jit_fn fn, struct rmt_frame *fr, u8 *ctx, u64 now,
					struct rmt_run_result *res)
{
	struct rmt_jit_ctx *jc = &fr->jc;

	/* stored first: then the zeroing's memset() call has less live across it */
	jc->ctx = ctx;
	jc->now = now;
	jc->abort = RMT_ABORT_NONE;
	rmt_frame_enter(jc->in, fr);
	res->decision = fn(jc);
	res->abort = jc->abort;
	res->abort_pc = unlikely(jc->abort) ? jc->abort_pc : -1;
}

#ifdef __KERNEL__
/**
 * rmt_kjit_compile() - lower @in's validated code to eBPF and JIT it
 * @in: the instance; on success @in->kjit is set and @in->engine is
 *	RMT_ENGINE_KJIT
 *
 * Never fails the load: every reason not to run native code (the rmt.jit
 * parameter off, bpf_jit_enable=0, an allocation failure, the kernel's JIT
 * declining, a program too long for eBPF's 16-bit jumps) leaves @in on the
 * interpreter and is counted in the rmt.jit_stats parameter.
 *
 * Return: 0 when native code runs @in, else the reason (negative errno).
 */
int rmt_kjit_compile(struct rmt_inst *in);

/**
 * rmt_kjit_free() - release @in's eBPF program (none: no-op)
 * @in: the instance, no longer reachable by any run (after a grace period)
 */
void rmt_kjit_free(struct rmt_inst *in);

/**
 * rmt_kjit_run() - run @in's JIT code once; as rmt_interp_run()
 * @in: the program (with @in->kjit set)
 * @ctx: the hook context
 * @cpu: the CPU whose frame the run uses
 * @now: the invocation's time
 * @res: receives the raw decision or the abort
 */
void rmt_kjit_run(struct rmt_inst *in, u8 *ctx, u32 cpu, u64 now,
		  struct rmt_run_result *res);
#endif

/**
 * rmt_callm_cand() - evaluate model @model's staged candidate beside the live weights
 * @in: the instance
 * @model: the model CALLM just ran
 * @min: its inputs
 * @mout: the live weights' outputs (what the program acts on; not changed)
 * @cpu: the running CPU
 * @now: the invocation's time
 *
 * Every engine calls this after a successful CALLM when
 * rmt_model_has_cand() (docs/semantics.md, "Candidate models"): it runs the
 * candidate on the same inputs, counts agreement (every output on the same
 * side of 0 as the live one) or disagreement, and on a disagreement pushes
 * a record of both outputs to the trace ring (RMT_TRACE_FMT_CANDIDATE).
 */
void rmt_callm_cand(struct rmt_inst *in, u32 model, const s32 *min, const s32 *mout,
		    u32 cpu, u64 now);

#endif /* _RMT_ENGINE_H */
