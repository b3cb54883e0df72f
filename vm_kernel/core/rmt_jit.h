/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_jit.h: native code for validated programs (the x86-64 JIT in
 * rmt_jit.c, and the ABI the userspace llvmlite backend also compiles to).
 *
 * Native code is one function `s64 fn(struct rmt_jit_ctx *jc)`: it returns
 * the EXIT value, or, after a failed run-time check, stores the reason and pc
 * in @jc and returns DEFAULT.  Everything but the program's own code -- the
 * per-run setup, tables, models, maps, trace and statistics -- is the same C
 * as the interpreter's: native code reaches it through the rmt_jit_*()
 * helpers below, whose addresses it embeds.
 *
 * Executable memory: userspace maps the code read-write, copies it in, then
 * makes it read-execute (never both).
 *
 * rmt.ko does not run this file's x86-64 code.  Linux 6.1 exports no
 * executable-memory allocator to modules (checked against Debian 6.1.0-50's
 * Module.symvers): module_alloc(), __vmalloc_node_range(), set_memory_x()
 * and the bpf_jit_binary_*() allocators are not exported (set_memory_rox()
 * only appears in 6.2), vmap() and vmap_pfn() force NX (mm/vmalloc.c:
 * pgprot_nx()), and apply_to_page_range() needs init_mm, which is not
 * exported either.  kallsyms_lookup_name() is not exported; a kprobe on it
 * yields its address and so all of the above, but that trick breaks with
 * IBT and is not an interface, so rmt.ko does not use it.  What 6.1 does
 * export (EXPORT_SYMBOL_GPL) is the BPF program allocator and JIT:
 * bpf_prog_alloc(), bpf_prog_select_runtime(), bpf_prog_free() and
 * __bpf_call_base.  So in the kernel, rmt_jit_compile() lowers the program to
 * eBPF instead (rmt_kmod_jit.c) and the kernel's BPF JIT makes the native
 * code -- with its retpolines, return thunks, IBT and CFI, and charged to
 * bpf_jit_limit -- running this struct rmt_jit_ctx ABI and these helpers.
 * When it cannot (rmt.jit=0, bpf_jit_enable=0, an allocation failure, the
 * JIT declining), the program runs on the interpreter, counted in the
 * rmt.jit_stats module parameter; a load never fails for want of a JIT.
 */
#ifndef _RMT_JIT_H
#define _RMT_JIT_H

#include "rmt_compat.h"

struct rmt_inst;

/**
 * struct rmt_jit_ctx - what native code sees of one invocation
 * @scratch: SCRATCH region (zeroed)
 * @ctx: CTX region
 * @params: PARAMS(t) pointers, one per table
 * @min: MIN(m) pointers, one per model
 * @mout: MOUT(m) pointers, one per model
 * @in: the program instance (for the helpers)
 * @now: the invocation's time (helper ktime_ns)
 * @cpu: the running CPU (helper cpu)
 * @abort: set by native code on a failed check (enum rmt_abort)
 * @abort_pc: pc of that check
 * @tmp: a value slot for helpers that return a value and a status (and, for
 *	rmt.ko's eBPF code, the decision: an eBPF program returns 32 bits)
 *
 * The offsets are ABI: the JIT emits them (RMT_JC_* below) and
 * rmt_vm/llvm_jit.py declares the same struct.
 */
struct rmt_jit_ctx {
	u8 *scratch;
	u8 *ctx;
	const u8 **params;
	s32 **min;
	s32 **mout;
	struct rmt_inst *in;
	u64 now;
	u32 cpu;
	u32 abort;
	s32 abort_pc;
	u32 pad;
	u64 tmp;
};

#define RMT_JC_SCRATCH 0
#define RMT_JC_CTX 8
#define RMT_JC_PARAMS 16
#define RMT_JC_MIN 24
#define RMT_JC_MOUT 32
#define RMT_JC_IN 40
#define RMT_JC_NOW 48
#define RMT_JC_CPU 56
#define RMT_JC_ABORT 60
#define RMT_JC_ABORT_PC 64
#define RMT_JC_TMP 72

typedef s64 (*rmt_jit_fn)(struct rmt_jit_ctx *jc);

/* Which code runs a program (struct rmt_inst.engine). */
enum rmt_engine_kind {
	RMT_ENGINE_INTERP = 0,
	RMT_ENGINE_JIT = 1,	/* rmt_jit.c's x86-64 code */
	RMT_ENGINE_NATIVE = 2,	/* code installed by the host (userspace: llvmlite) */
	RMT_ENGINE_KJIT = 3,	/* rmt.ko: lowered to eBPF, the kernel's JIT (rmt_kmod_jit.c) */
};

/**
 * rmt_jit_supported() - whether this build can run JIT code at all
 *
 * Return: true on x86-64 userspace; false in the kernel (which JITs through
 * eBPF instead: see the comment at the top of this file) and on other
 * architectures.
 */
bool rmt_jit_supported(void);

/*
 * Helpers called from native code, with the interpreter's semantics and
 * accounting.  Plain C ABI; all take @jc first.
 */
u64 rmt_jit_apply(struct rmt_jit_ctx *jc, u32 table, u32 off);
int rmt_jit_callm(struct rmt_jit_ctx *jc, u32 model);
/* After the x86-64 JIT's own model call: overflows in @jc->tmp, a staged candidate. */
void rmt_jit_callm_rest(struct rmt_jit_ctx *jc, u32 model);
int rmt_jit_map_ld(struct rmt_jit_ctx *jc, u32 map, u64 key);
int rmt_jit_map_upd(struct rmt_jit_ctx *jc, u32 map, u64 key, u64 val, u32 add);
void rmt_jit_trace(struct rmt_jit_ctx *jc, u32 fmt, u32 off);
u64 rmt_jit_random(struct rmt_jit_ctx *jc, u64 n);

#endif /* _RMT_JIT_H */
