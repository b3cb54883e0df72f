/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_kmod_jit.h: rmt.ko's JIT -- RMT bytecode lowered to eBPF, compiled by
 * the kernel's own BPF JIT (rmt_kmod_jit.c).  Kernel build only.
 */
#ifndef _RMT_KMOD_JIT_H
#define _RMT_KMOD_JIT_H

#include "rmt_compat.h"

struct rmt_inst;
struct rmt_run_result;

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

#endif /* _RMT_KMOD_JIT_H */
