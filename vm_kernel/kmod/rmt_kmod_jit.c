// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_kmod_jit.c: rmt.ko's JIT.  A validated RMT program is lowered to eBPF
 * and handed to the kernel's BPF JIT through the exported bpf_prog_alloc() /
 * bpf_prog_select_runtime() / bpf_prog_free(), then run as prog->bpf_func.
 *
 * Why eBPF and not rmt_jit.c's x86-64 code: Linux 6.1 exports no executable
 * allocator to modules (rmt_jit.h), but it exports the BPF program allocator
 * and JIT, whose images already honour retpolines, return thunks, IBT and
 * CFI, are charged to bpf_jit_limit and are freed by the kernel.  No BPF
 * verifier runs on this path: the RMT validator is the proof, and the
 * lowering emits exactly the run-time checks rmt_interp.c makes, each as a
 * compare-and-branch to an exit that stores the abort reason and pc.  The
 * lowering never emits BPF_PROBE_MEM (its exception table needs the program
 * in the BPF ksym tree, which a module cannot add to), nor BPF map or helper
 * calls: tables, models, maps, trace and the random/ilog2 helpers are
 * BPF_CALLs into this module's C (imm = fn - __bpf_call_base, checked to fit
 * in s32), which is the interpreter's C, so results and counters agree.
 *
 * Registers.  BPF R6 holds the struct rmt_jit_ctx pointer, R7 the scratch
 * base, R8 the context base, R9 the most used RMT register; the other RMT
 * registers live in the BPF stack (RMT register v at fp - 8 (v + 1)); R0..R5
 * are temporaries (and call arguments).  R6..R9 and the stack survive calls.
 *
 * The decision is 64-bit but a BPF program returns 32 bits: EXIT stores it
 * in jc->tmp, an abort stores the reason and pc in jc->abort / jc->abort_pc.
 *
 * bpf_jit_enable=0: bpf_prog_alloc() then leaves prog->jit_requested clear
 * and the kernel would run the lowered code on its BPF interpreter -- an
 * interpreter running code lowered from another interpreter's bytecode,
 * slower than rmt_interp.c and with nothing to gain.  So "not JITed" means
 * "the JIT is off": the program stays on rmt_interp.c, counted.
 */
#include <linux/filter.h>
#include <linux/moduleparam.h>
#include "rmt_engine.h"
#include "rmt_alloc.h"

/* rmt.jit: JIT programs loaded from now on (1, the default) or not (0). */
static bool jit = true;
module_param(jit, bool, 0644);
MODULE_PARM_DESC(jit, "run programs loaded from now on as native code (eBPF JIT)");

/* Why programs loaded so far run where they run (rmt.jit_stats). */
enum {
	KJ_JITED,	/* native code */
	KJ_OFF,		/* rmt.jit=0 */
	KJ_NOJIT,	/* bpf_jit_enable=0: no JIT requested */
	KJ_NOMEM,	/* bpf_prog_alloc() or the lowering's buffers failed */
	KJ_DECLINED,	/* the kernel's JIT did not compile it (bpf_jit_limit, ...) */
	KJ_TOO_BIG,	/* a jump or call does not fit eBPF's fields */
	KJ_NO_LOWERING,	/* an opcode this JIT leaves to the interpreter (kj_ops[]) */
	KJ_NR,
};

static atomic64_t rmt_kjit_counts[KJ_NR];
static const char * const rmt_kjit_names[KJ_NR] = {
	"jited", "off", "nojit", "nomem", "declined", "too_big", "interp_only",
};

static int rmt_kjit_stats_get(char *buf, const struct kernel_param *kp)
{
	int i, n = 0;

	for (i = 0; i < KJ_NR; i++)
		n += scnprintf(buf + n, PAGE_SIZE - n, "%s%s=%lld", i ? " " : "",
			       rmt_kjit_names[i], (s64)atomic64_read(&rmt_kjit_counts[i]));
	return n + scnprintf(buf + n, PAGE_SIZE - n, "\n");
}

static const struct kernel_param_ops rmt_kjit_stats_ops = {
	.get = rmt_kjit_stats_get,
};

module_param_cb(jit_stats, &rmt_kjit_stats_ops, NULL, 0444);
MODULE_PARM_DESC(jit_stats, "programs JITed, and those left on the interpreter, by reason");

#define KJ_CTXP BPF_REG_6
#define KJ_SCRATCH BPF_REG_7
#define KJ_CTX BPF_REG_8
#define KJ_MAPPED BPF_REG_9
#define KJ_STACK (8 * RMT_NUM_REGS)
/* Most eBPF instructions one RMT instruction becomes (a map update). */
#define KJ_MAX_INSN 12
#define KJ_STUB 4

struct kj_fix {
	u32 at;			/* the jump instruction */
	u32 target;		/* pc, or stub index when @stub */
	bool stub;
};

struct kj_stub {
	u32 reason;
	u32 pc;
	u32 at;			/* where its code starts, once emitted */
};

struct kj {
	struct bpf_insn *buf;
	u32 len;
	u32 cap;
	u32 *pc_at;		/* eBPF index of each pc */
	struct kj_fix *fix;
	u32 nfix;
	struct kj_stub *stubs;
	u32 nstubs;
	int mapped;		/* the RMT register in R9, or -1 */
	int err;
};

/* ------------------------------------------------------------ helpers */

/*
 * Called from the eBPF code.  Five u64 arguments in, one u64 out: the eBPF
 * calling convention, so that no caller relies on the upper half of a C int.
 */
static u64 rmt_kjit_sdiv(u64 a, u64 b)
{
	return (s64)b == -1 ? -a : (u64)((s64)a / (s64)b);
}

static u64 rmt_kjit_smod(u64 a, u64 b)
{
	return (s64)b == -1 ? 0 : (u64)((s64)a % (s64)b);
}

static u64 rmt_kjit_ilog2(u64 v)
{
	return 63 - __builtin_clzll(v);
}

static u64 rmt_kjit_apply(u64 jc, u64 table, u64 off)
{
	return rmt_jit_apply((struct rmt_jit_ctx *)(uintptr_t)jc, table, off);
}

static u64 rmt_kjit_callm(u64 jc, u64 model)
{
	return rmt_jit_callm((struct rmt_jit_ctx *)(uintptr_t)jc, model) ? 1 : 0;
}

static u64 rmt_kjit_map_ld(u64 jc, u64 map, u64 key)
{
	return rmt_jit_map_ld((struct rmt_jit_ctx *)(uintptr_t)jc, map, key) ? 1 : 0;
}

static u64 rmt_kjit_map_upd(u64 jc, u64 map, u64 key, u64 val, u64 add)
{
	return rmt_jit_map_upd((struct rmt_jit_ctx *)(uintptr_t)jc, map, key, val, add) ? 1 : 0;
}

static u64 rmt_kjit_trace(u64 jc, u64 fmt, u64 off)
{
	rmt_jit_trace((struct rmt_jit_ctx *)(uintptr_t)jc, fmt, off);
	return 0;
}

static u64 rmt_kjit_random(u64 jc, u64 n)
{
	return rmt_jit_random((struct rmt_jit_ctx *)(uintptr_t)jc, n);
}

/* ------------------------------------------------------------- emit */

static void kj_e(struct kj *j, struct bpf_insn insn)
{
	if (j->len < j->cap)
		j->buf[j->len] = insn;
	j->len++;
}

static s16 kj_slot(int v)
{
	return -8 * (v + 1);
}

/* RMT register @v into eBPF register @r. */
static void kj_ld(struct kj *j, int r, int v)
{
	if (v == j->mapped)
		kj_e(j, BPF_MOV64_REG(r, KJ_MAPPED));
	else
		kj_e(j, BPF_LDX_MEM(BPF_DW, r, BPF_REG_FP, kj_slot(v)));
}

/* RMT register @v as a source operand: R9, or loaded into @tmp. */
static int kj_src(struct kj *j, int v, int tmp)
{
	if (v == j->mapped)
		return KJ_MAPPED;
	kj_ld(j, tmp, v);
	return tmp;
}

/* eBPF register @r into RMT register @v. */
static void kj_st(struct kj *j, int v, int r)
{
	if (v == j->mapped) {
		if (r != KJ_MAPPED)
			kj_e(j, BPF_MOV64_REG(KJ_MAPPED, r));
	} else {
		kj_e(j, BPF_STX_MEM(BPF_DW, BPF_REG_FP, r, kj_slot(v)));
	}
}

/* A jump (@insn, its off patched at the end) to pc @target or abort stub. */
static void kj_jump(struct kj *j, struct bpf_insn insn, u32 target, bool stub)
{
	j->fix[j->nfix++] = (struct kj_fix){ .at = j->len, .target = target, .stub = stub };
	kj_e(j, insn);
}

/* A conditional exit (@insn) to an abort for @reason at @pc. */
static void kj_check(struct kj *j, struct bpf_insn insn, u32 reason, u32 pc)
{
	j->stubs[j->nstubs] = (struct kj_stub){ .reason = reason, .pc = pc };
	kj_jump(j, insn, j->nstubs++, true);
}

/* A call into this module; the displacement must fit eBPF's s32 imm. */
static void kj_call(struct kj *j, const void *fn)
{
	s64 d = (s64)((uintptr_t)fn - (uintptr_t)__bpf_call_base);

	if (d != (s32)d)
		j->err = -E2BIG;
	kj_e(j, BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, (s32)d));
}

/* ------------------------------------------------------ opcode table */

/*
 * What this JIT emits for each opcode, named opcode by opcode.  kj_ops[] is
 * RMT_OPCODES (rmt_isa.h, generated from contract/isa.py) expanded with
 * KJ_OP_<NAME>, so an opcode added to the ISA does not build here
 * ("KJ_OP_FOO undeclared") until it has a line: a lowering, or
 * KJ_INTERP_ONLY, which leaves every program using it on the interpreter.
 * Nothing in this file depends on how opcodes are numbered or ordered.
 */
enum kj_kind {
	KJK_INTERP_ONLY,	/* no lowering: rmt_kjit_compile() declines the program */
	KJK_ALU,		/* a: BPF_ALU64 operation (BPF_ADD, ...) */
	KJK_MOV,
	KJK_SDIVMOD,		/* no signed division in 6.1's eBPF; a: 1 for the remainder */
	KJK_NEG,
	KJK_ZEXT,
	KJK_SEXT,
	KJK_LDHI,
	KJK_JA,
	KJK_JCC,		/* a: BPF_JMP operation (BPF_JEQ, ...) */
	KJK_LOAD,		/* a: access size in bytes, b: 1 to sign-extend */
	KJK_STORE,		/* a: access size in bytes */
	KJK_EXT,		/* tables, models, maps, trace, helpers: calls into C */
	KJK_EXIT,
};

/**
 * struct kj_op - how one opcode is lowered
 * @kind: enum kj_kind
 * @a: per @kind (see enum kj_kind)
 * @b: per @kind
 * @imm: the second operand is the immediate (format ALU_I or JMP_I), not a
 *	register
 */
struct kj_op {
	u8 kind;
	u8 a;
	u8 b;
	u8 imm;
};

#define KJ_INTERP_ONLY	.kind = KJK_INTERP_ONLY
#define KJ_OP_ADD_R	.kind = KJK_ALU, .a = BPF_ADD
#define KJ_OP_ADD_I	KJ_OP_ADD_R
#define KJ_OP_SUB_R	.kind = KJK_ALU, .a = BPF_SUB
#define KJ_OP_SUB_I	KJ_OP_SUB_R
#define KJ_OP_MUL_R	.kind = KJK_ALU, .a = BPF_MUL
#define KJ_OP_MUL_I	KJ_OP_MUL_R
#define KJ_OP_DIV_R	.kind = KJK_ALU, .a = BPF_DIV
#define KJ_OP_DIV_I	KJ_OP_DIV_R
#define KJ_OP_SDIV_R	.kind = KJK_SDIVMOD, .a = 0
#define KJ_OP_SDIV_I	KJ_OP_SDIV_R
#define KJ_OP_MOD_R	.kind = KJK_ALU, .a = BPF_MOD
#define KJ_OP_MOD_I	KJ_OP_MOD_R
#define KJ_OP_SMOD_R	.kind = KJK_SDIVMOD, .a = 1
#define KJ_OP_SMOD_I	KJ_OP_SMOD_R
#define KJ_OP_AND_R	.kind = KJK_ALU, .a = BPF_AND
#define KJ_OP_AND_I	KJ_OP_AND_R
#define KJ_OP_OR_R	.kind = KJK_ALU, .a = BPF_OR
#define KJ_OP_OR_I	KJ_OP_OR_R
#define KJ_OP_XOR_R	.kind = KJK_ALU, .a = BPF_XOR
#define KJ_OP_XOR_I	KJ_OP_XOR_R
#define KJ_OP_SHL_R	.kind = KJK_ALU, .a = BPF_LSH
#define KJ_OP_SHL_I	KJ_OP_SHL_R
#define KJ_OP_SHR_R	.kind = KJK_ALU, .a = BPF_RSH
#define KJ_OP_SHR_I	KJ_OP_SHR_R
#define KJ_OP_SAR_R	.kind = KJK_ALU, .a = BPF_ARSH
#define KJ_OP_SAR_I	KJ_OP_SAR_R
#define KJ_OP_MOV_R	.kind = KJK_MOV
#define KJ_OP_MOV_I	KJ_OP_MOV_R
#define KJ_OP_NEG	.kind = KJK_NEG
#define KJ_OP_ZEXT	.kind = KJK_ZEXT
#define KJ_OP_SEXT	.kind = KJK_SEXT
#define KJ_OP_LDHI	.kind = KJK_LDHI
#define KJ_OP_JA	.kind = KJK_JA
#define KJ_OP_JEQ_R	.kind = KJK_JCC, .a = BPF_JEQ
#define KJ_OP_JEQ_I	KJ_OP_JEQ_R
#define KJ_OP_JNE_R	.kind = KJK_JCC, .a = BPF_JNE
#define KJ_OP_JNE_I	KJ_OP_JNE_R
#define KJ_OP_JLT_R	.kind = KJK_JCC, .a = BPF_JLT
#define KJ_OP_JLT_I	KJ_OP_JLT_R
#define KJ_OP_JLE_R	.kind = KJK_JCC, .a = BPF_JLE
#define KJ_OP_JLE_I	KJ_OP_JLE_R
#define KJ_OP_JGT_R	.kind = KJK_JCC, .a = BPF_JGT
#define KJ_OP_JGT_I	KJ_OP_JGT_R
#define KJ_OP_JGE_R	.kind = KJK_JCC, .a = BPF_JGE
#define KJ_OP_JGE_I	KJ_OP_JGE_R
#define KJ_OP_JSLT_R	.kind = KJK_JCC, .a = BPF_JSLT
#define KJ_OP_JSLT_I	KJ_OP_JSLT_R
#define KJ_OP_JSLE_R	.kind = KJK_JCC, .a = BPF_JSLE
#define KJ_OP_JSLE_I	KJ_OP_JSLE_R
#define KJ_OP_JSGT_R	.kind = KJK_JCC, .a = BPF_JSGT
#define KJ_OP_JSGT_I	KJ_OP_JSGT_R
#define KJ_OP_JSGE_R	.kind = KJK_JCC, .a = BPF_JSGE
#define KJ_OP_JSGE_I	KJ_OP_JSGE_R
#define KJ_OP_JSET_R	.kind = KJK_JCC, .a = BPF_JSET
#define KJ_OP_JSET_I	KJ_OP_JSET_R
#define KJ_OP_LDU8	.kind = KJK_LOAD, .a = 1, .b = 0
#define KJ_OP_LDU16	.kind = KJK_LOAD, .a = 2, .b = 0
#define KJ_OP_LDU32	.kind = KJK_LOAD, .a = 4, .b = 0
#define KJ_OP_LD64	.kind = KJK_LOAD, .a = 8, .b = 0
#define KJ_OP_LDS8	.kind = KJK_LOAD, .a = 1, .b = 1
#define KJ_OP_LDS16	.kind = KJK_LOAD, .a = 2, .b = 1
#define KJ_OP_LDS32	.kind = KJK_LOAD, .a = 4, .b = 1
#define KJ_OP_ST8	.kind = KJK_STORE, .a = 1
#define KJ_OP_ST16	.kind = KJK_STORE, .a = 2
#define KJ_OP_ST32	.kind = KJK_STORE, .a = 4
#define KJ_OP_ST64	.kind = KJK_STORE, .a = 8
#define KJ_OP_APPLY	.kind = KJK_EXT
#define KJ_OP_CALLM	.kind = KJK_EXT
#define KJ_OP_MAP_LD	.kind = KJK_EXT
#define KJ_OP_MAP_ST	.kind = KJK_EXT
#define KJ_OP_MAP_ADD	.kind = KJK_EXT
#define KJ_OP_TRACE	.kind = KJK_EXT
#define KJ_OP_CALL	.kind = KJK_EXT
#define KJ_OP_EXIT	.kind = KJK_EXIT

#define KJ_IMM_FORM(fmt) (RMT_FMT_##fmt == RMT_FMT_ALU_I || RMT_FMT_##fmt == RMT_FMT_JMP_I)
#define KJ_X(name, code, fmt, cost) \
	[RMT_OP_##name] = { KJ_OP_##name, .imm = KJ_IMM_FORM(fmt) },
static const struct kj_op kj_ops[256] = {
	RMT_OPCODES(KJ_X)
};

#undef KJ_X
#undef KJ_IMM_FORM

/* ------------------------------------------------------ instructions */

static void kj_alu(struct kj *j, const struct rmt_insn *i, const struct kj_op *op, u32 pc)
{
	int dst = RMT_INSN_DST(i), src = RMT_INSN_SRC(i);
	bool reg = !op->imm;
	u8 alu = op->a;
	int d = dst == j->mapped ? KJ_MAPPED : BPF_REG_0;
	int s;

	if (op->kind == KJK_SDIVMOD) {
		if (reg) {
			kj_ld(j, BPF_REG_2, src);
			kj_check(j, BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), RMT_ABORT_DIV_ZERO, pc);
		} else {
			kj_e(j, BPF_MOV64_IMM(BPF_REG_2, i->imm));
		}
		kj_ld(j, BPF_REG_1, dst);
		kj_call(j, op->a ? (void *)rmt_kjit_smod : (void *)rmt_kjit_sdiv);
		kj_st(j, dst, BPF_REG_0);
		return;
	}
	if (op->kind == KJK_MOV) {
		if (reg) {
			s = kj_src(j, src, BPF_REG_0);
			kj_st(j, dst, s);
		} else {
			kj_e(j, BPF_MOV64_IMM(d, i->imm));
			kj_st(j, dst, d);
		}
		return;
	}
	/* Register divisors and shift amounts are checked; immediates were at load. */
	if (reg) {
		s = kj_src(j, src, BPF_REG_1);
		if (alu == BPF_DIV || alu == BPF_MOD)
			kj_check(j, BPF_JMP_IMM(BPF_JEQ, s, 0, 0), RMT_ABORT_DIV_ZERO, pc);
		else if (alu == BPF_LSH || alu == BPF_RSH || alu == BPF_ARSH)
			kj_check(j, BPF_JMP_IMM(BPF_JGT, s, 63, 0), RMT_ABORT_SHIFT, pc);
	} else if (alu == BPF_DIV || alu == BPF_MOD) {
		/* Unsigned division by the sign-extended imm, as IMM in the interpreter. */
		kj_e(j, BPF_MOV64_IMM(BPF_REG_1, i->imm));
		s = BPF_REG_1;
		reg = true;
	} else {
		s = -1;
	}
	if (d != KJ_MAPPED)
		kj_ld(j, d, dst);
	if (reg)
		kj_e(j, BPF_ALU64_REG(alu, d, s));
	else
		kj_e(j, BPF_ALU64_IMM(alu, d, i->imm));
	kj_st(j, dst, d);
}

static void kj_unary(struct kj *j, const struct rmt_insn *i, const struct kj_op *op)
{
	int dst = RMT_INSN_DST(i);
	int d = dst == j->mapped ? KJ_MAPPED : BPF_REG_0;

	if (d != KJ_MAPPED)
		kj_ld(j, d, dst);
	switch (op->kind) {
	case KJK_NEG:
		kj_e(j, BPF_RAW_INSN(BPF_ALU64 | BPF_NEG | BPF_K, d, 0, 0, 0));
		break;
	case KJK_ZEXT:
		if (i->imm == 32) {
			kj_e(j, BPF_ALU64_IMM(BPF_LSH, d, 32));
			kj_e(j, BPF_ALU64_IMM(BPF_RSH, d, 32));
		} else {
			kj_e(j, BPF_ALU64_IMM(BPF_AND, d, (1 << i->imm) - 1));
		}
		break;
	case KJK_SEXT:
		kj_e(j, BPF_ALU64_IMM(BPF_LSH, d, 64 - i->imm));
		kj_e(j, BPF_ALU64_IMM(BPF_ARSH, d, 64 - i->imm));
		break;
	default:	/* KJK_LDHI */
		kj_e(j, BPF_ALU64_IMM(BPF_LSH, d, 32));
		kj_e(j, BPF_ALU64_IMM(BPF_RSH, d, 32));
		if (i->imm) {
			/* ALU32 mov zero-extends: R1 = (u32)imm << 32. */
			kj_e(j, BPF_MOV32_IMM(BPF_REG_1, i->imm));
			kj_e(j, BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 32));
			kj_e(j, BPF_ALU64_REG(BPF_OR, d, BPF_REG_1));
		}
		break;
	}
	kj_st(j, dst, d);
}

static void kj_branch(struct kj *j, const struct rmt_insn *i, const struct kj_op *op, u32 pc)
{
	int dst = RMT_INSN_DST(i), src = RMT_INSN_SRC(i), d, s;
	u32 target = pc + 1 + i->off;

	if (op->kind == KJK_JA) {
		kj_jump(j, BPF_JMP_A(0), target, false);
		return;
	}
	d = kj_src(j, dst, BPF_REG_0);
	if (!op->imm) {
		s = kj_src(j, src, BPF_REG_1);
		kj_jump(j, BPF_JMP_REG(op->a, d, s, 0), target, false);
	} else {
		kj_jump(j, BPF_JMP_IMM(op->a, d, i->imm, 0), target, false);
	}
}

/*
 * The address of a LD/ST as (base register, s16 offset): the region's base,
 * plus the checked index, plus off (folded into the base past S16_MAX).
 */
static int kj_addr(struct kj *j, const struct rmt_insn *i, u32 pc, u32 size, s16 *off)
{
	u32 region = RMT_MEM_REGION(i->imm), obj = RMT_MEM_OBJ(i->imm);
	u32 limit = RMT_MEM_LIMIT(i->imm), o = (u16)i->off;
	int base, idx;

	if (region == RMT_REGION_SCRATCH) {
		base = KJ_SCRATCH;
	} else if (region == RMT_REGION_CTX) {
		base = KJ_CTX;
	} else {
		s16 at = region == RMT_REGION_PARAMS ? RMT_JC_PARAMS :
			 region == RMT_REGION_MIN ? RMT_JC_MIN : RMT_JC_MOUT;

		kj_e(j, BPF_LDX_MEM(BPF_DW, BPF_REG_1, KJ_CTXP, at));
		kj_e(j, BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_1, 8 * obj));
		base = BPF_REG_1;
	}
	if (limit) {
		idx = kj_src(j, RMT_INSN_SRC(i), BPF_REG_3);
		kj_check(j, BPF_JMP_IMM(BPF_JGT, idx, limit - size, 0), RMT_ABORT_BOUNDS, pc);
		if (base != BPF_REG_1)
			kj_e(j, BPF_MOV64_REG(BPF_REG_1, base));
		kj_e(j, BPF_ALU64_REG(BPF_ADD, BPF_REG_1, idx));
		base = BPF_REG_1;
	}
	if (o > S16_MAX) {
		if (base != BPF_REG_1)
			kj_e(j, BPF_MOV64_REG(BPF_REG_1, base));
		kj_e(j, BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, o));
		base = BPF_REG_1;
		o = 0;
	}
	*off = o;
	return base;
}

static void kj_mem(struct kj *j, const struct rmt_insn *i, const struct kj_op *op, u32 pc)
{
	int dst = RMT_INSN_DST(i), base, v;
	u32 size = op->a;
	u8 bsize = size == 1 ? BPF_B : size == 2 ? BPF_H : size == 4 ? BPF_W : BPF_DW;
	s16 off;

	base = kj_addr(j, i, pc, size, &off);
	if (op->kind == KJK_STORE) {
		v = kj_src(j, dst, BPF_REG_2);
		kj_e(j, BPF_STX_MEM(bsize, base, v, off));
		return;
	}
	v = dst == j->mapped ? KJ_MAPPED : BPF_REG_0;
	kj_e(j, BPF_LDX_MEM(bsize, v, base, off));	/* zero-extends */
	if (op->b) {
		kj_e(j, BPF_ALU64_IMM(BPF_LSH, v, 64 - 8 * size));
		kj_e(j, BPF_ALU64_IMM(BPF_ARSH, v, 64 - 8 * size));
	}
	kj_st(j, dst, v);
}

/* APPLY, CALLM, MAP_*, TRACE, CALL: the interpreter's C, through calls. */
static void kj_ext(struct kj *j, const struct rmt_insn *i, u32 pc)
{
	int dst = RMT_INSN_DST(i), src = RMT_INSN_SRC(i);
	u32 reason = 0;

	if (i->code == RMT_OP_CALL) {
		switch (i->imm) {
		case RMT_HELPER_KTIME_NS:
			kj_e(j, BPF_LDX_MEM(BPF_DW, BPF_REG_0, KJ_CTXP, RMT_JC_NOW));
			break;
		case RMT_HELPER_CPU:
			kj_e(j, BPF_LDX_MEM(BPF_W, BPF_REG_0, KJ_CTXP, RMT_JC_CPU));
			break;
		case RMT_HELPER_ILOG2:
			kj_ld(j, BPF_REG_1, src);
			kj_check(j, BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), RMT_ABORT_HELPER, pc);
			kj_call(j, rmt_kjit_ilog2);
			break;
		default:	/* RANDOM (the validator allows no other id) */
			kj_e(j, BPF_MOV64_REG(BPF_REG_1, KJ_CTXP));
			kj_ld(j, BPF_REG_2, src);
			kj_call(j, rmt_kjit_random);
			break;
		}
		kj_st(j, dst, BPF_REG_0);
		return;
	}
	kj_e(j, BPF_MOV64_REG(BPF_REG_1, KJ_CTXP));
	kj_e(j, BPF_MOV64_IMM(BPF_REG_2, i->imm));
	switch (i->code) {
	case RMT_OP_APPLY:
		kj_e(j, BPF_MOV64_IMM(BPF_REG_3, (u16)i->off));
		kj_call(j, rmt_kjit_apply);
		break;
	case RMT_OP_CALLM:
		kj_call(j, rmt_kjit_callm);
		reason = RMT_ABORT_MODEL_MISSING;
		break;
	case RMT_OP_MAP_LD:
		kj_ld(j, BPF_REG_3, src);
		kj_call(j, rmt_kjit_map_ld);
		reason = RMT_ABORT_MAP_INDEX;
		break;
	case RMT_OP_MAP_ST:
	case RMT_OP_MAP_ADD:
		kj_ld(j, BPF_REG_3, dst);
		kj_ld(j, BPF_REG_4, src);
		kj_e(j, BPF_MOV64_IMM(BPF_REG_5, i->code == RMT_OP_MAP_ADD));
		kj_call(j, rmt_kjit_map_upd);
		reason = RMT_ABORT_MAP_INDEX;
		break;
	default:	/* TRACE */
		kj_e(j, BPF_MOV64_IMM(BPF_REG_3, (u16)i->off));
		kj_call(j, rmt_kjit_trace);
		break;
	}
	if (reason)
		kj_check(j, BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), reason, pc);
	if (i->code == RMT_OP_MAP_LD)
		kj_e(j, BPF_LDX_MEM(BPF_DW, BPF_REG_0, KJ_CTXP, RMT_JC_TMP));
	if (i->code == RMT_OP_APPLY || i->code == RMT_OP_MAP_LD)
		kj_st(j, dst, BPF_REG_0);
}

static void kj_insn(struct kj *j, const struct rmt_insn *i, u32 pc)
{
	const struct kj_op *op = &kj_ops[i->code];

	switch (op->kind) {
	case KJK_ALU:
	case KJK_MOV:
	case KJK_SDIVMOD:
		kj_alu(j, i, op, pc);
		return;
	case KJK_NEG:
	case KJK_ZEXT:
	case KJK_SEXT:
	case KJK_LDHI:
		kj_unary(j, i, op);
		return;
	case KJK_JA:
	case KJK_JCC:
		kj_branch(j, i, op, pc);
		return;
	case KJK_LOAD:
	case KJK_STORE:
		kj_mem(j, i, op, pc);
		return;
	case KJK_EXT:
		kj_ext(j, i, pc);
		return;
	case KJK_EXIT:
		kj_ld(j, BPF_REG_0, RMT_INSN_SRC(i));
		kj_e(j, BPF_STX_MEM(BPF_DW, KJ_CTXP, BPF_REG_0, RMT_JC_TMP));
		kj_e(j, BPF_MOV64_IMM(BPF_REG_0, 0));
		kj_e(j, BPF_EXIT_INSN());
		return;
	}
}

/* Does every instruction of @p have a lowering?  (Not so: the interpreter runs it.) */
static bool kj_lowerable(const struct rmt_prog *p)
{
	u32 pc;

	for (pc = 0; pc < p->hdr.ninsns; pc++)
		if (kj_ops[p->insns[pc].code].kind == KJK_INTERP_ONLY)
			return false;
	return true;
}

/* --------------------------------------------------------------- driver */

/* The most used RMT register goes to R9; returns the set of used registers. */
static u32 kj_assign(struct kj *j, const struct rmt_prog *p)
{
	u32 uses[RMT_NUM_REGS] = { 0 }, used = 0, pc;
	int v;

	for (pc = 0; pc < p->hdr.ninsns; pc++) {
		uses[RMT_INSN_DST(&p->insns[pc])]++;
		uses[RMT_INSN_SRC(&p->insns[pc])]++;
	}
	j->mapped = -1;
	for (v = 0; v < RMT_NUM_REGS; v++) {
		if (!uses[v])
			continue;
		used |= 1u << v;
		if (j->mapped < 0 || uses[v] > uses[j->mapped])
			j->mapped = v;
	}
	return used;
}

static int kj_emit(struct kj *j, const struct rmt_prog *p)
{
	u32 n = p->hdr.ninsns, pc, k, used;
	int v;

	used = kj_assign(j, p);
	kj_e(j, BPF_MOV64_REG(KJ_CTXP, BPF_REG_1));
	kj_e(j, BPF_LDX_MEM(BPF_DW, KJ_SCRATCH, KJ_CTXP, RMT_JC_SCRATCH));
	kj_e(j, BPF_LDX_MEM(BPF_DW, KJ_CTX, KJ_CTXP, RMT_JC_CTX));
	/* Registers start at 0 (those the program names). */
	for (v = 0; v < RMT_NUM_REGS; v++) {
		if (!(used & (1u << v)))
			continue;
		if (v == j->mapped)
			kj_e(j, BPF_MOV64_IMM(KJ_MAPPED, 0));
		else
			kj_e(j, BPF_ST_MEM(BPF_DW, BPF_REG_FP, kj_slot(v), 0));
	}
	for (pc = 0; pc < n; pc++) {
		j->pc_at[pc] = j->len;
		kj_insn(j, &p->insns[pc], pc);
		if (j->len > j->cap)
			return -E2BIG;
	}
	/* Unreachable for a validated program (it ends in EXIT or JA); fail safe. */
	j->pc_at[n] = j->len;
	kj_check(j, BPF_JMP_A(0), RMT_ABORT_BOUNDS, n ? n - 1 : 0);
	for (k = 0; k < j->nstubs; k++) {
		j->stubs[k].at = j->len;
		kj_e(j, BPF_ST_MEM(BPF_W, KJ_CTXP, RMT_JC_ABORT, j->stubs[k].reason));
		kj_e(j, BPF_ST_MEM(BPF_W, KJ_CTXP, RMT_JC_ABORT_PC, j->stubs[k].pc));
		kj_e(j, BPF_MOV64_IMM(BPF_REG_0, 0));
		kj_e(j, BPF_EXIT_INSN());
	}
	if (j->len > j->cap)
		return -E2BIG;
	for (k = 0; k < j->nfix; k++) {
		const struct kj_fix *f = &j->fix[k];
		s64 to = f->stub ? j->stubs[f->target].at : j->pc_at[f->target];
		s64 rel = to - ((s64)f->at + 1);

		if (rel != (s16)rel)
			return -E2BIG;
		j->buf[f->at].off = rel;
	}
	return j->err;
}

static int rmt_kjit_count(int why, int rc)
{
	atomic64_inc(&rmt_kjit_counts[why]);
	return rc;
}

int rmt_kjit_compile(struct rmt_inst *in)
{
	const struct rmt_prog *p = in->prog;
	u32 n = p->hdr.ninsns;
	struct kj j = { 0 };
	struct bpf_prog *fp = NULL;
	int rc = -ENOMEM, err = 0;

	if (!READ_ONCE(jit))
		return rmt_kjit_count(KJ_OFF, -EOPNOTSUPP);
	if (!kj_lowerable(p))
		return rmt_kjit_count(KJ_NO_LOWERING, -EOPNOTSUPP);
	/* n <= RMT_ISA_MAX_INSNS (validated): these products cannot overflow. */
	j.cap = 8 + RMT_NUM_REGS + n * KJ_MAX_INSN + (2 * n + 1) * KJ_STUB;
	j.buf = rmt_kvmalloc(j.cap * sizeof(*j.buf), GFP_KERNEL);
	j.pc_at = rmt_kvmalloc((n + 1) * sizeof(*j.pc_at), GFP_KERNEL);
	/* At most two checks and one jump per instruction, plus the tail. */
	j.fix = rmt_kvmalloc((3 * n + 1) * sizeof(*j.fix), GFP_KERNEL);
	j.stubs = rmt_kvmalloc((2 * n + 1) * sizeof(*j.stubs), GFP_KERNEL);
	if (!j.buf || !j.pc_at || !j.fix || !j.stubs) {
		rmt_kjit_count(KJ_NOMEM, 0);
		goto out;
	}
	rc = kj_emit(&j, p);
	if (rc) {
		rmt_kjit_count(rc == -E2BIG ? KJ_TOO_BIG : KJ_NOMEM, 0);
		goto out;
	}
	/* The allocation a test's fault injection can fail, like any other. */
	fp = rmt_alloc_inject() ? NULL : bpf_prog_alloc(bpf_prog_size(j.len), 0);
	if (!fp) {
		rc = rmt_kjit_count(KJ_NOMEM, -ENOMEM);
		goto out;
	}
	if (!fp->jit_requested) {
		rc = rmt_kjit_count(KJ_NOJIT, -EOPNOTSUPP);
		goto out;
	}
	fp->len = j.len;
	fp->aux->stack_depth = KJ_STACK;
	memcpy(fp->insnsi, j.buf, j.len * sizeof(*j.buf));
	fp = bpf_prog_select_runtime(fp, &err);
	if (err || !fp->jited) {
		rc = rmt_kjit_count(KJ_DECLINED, err ? err : -EOPNOTSUPP);
		goto out;
	}
	rmt_kjit_count(KJ_JITED, 0);
	in->kjit = fp;
	in->engine = RMT_ENGINE_KJIT;
	fp = NULL;
	rc = 0;
out:
	if (fp)
		bpf_prog_free(fp);
	rmt_kvfree(j.buf);
	rmt_kvfree(j.pc_at);
	rmt_kvfree(j.fix);
	rmt_kvfree(j.stubs);
	return rc;
}

void rmt_kjit_free(struct rmt_inst *in)
{
	if (in->kjit)
		bpf_prog_free(in->kjit);	/* frees the image from a workqueue */
	in->kjit = NULL;
	in->engine = RMT_ENGINE_INTERP;
}

void rmt_kjit_run(struct rmt_inst *in, u8 *ctx, u32 cpu, u64 now,
		  struct rmt_run_result *res)
{
	struct rmt_frame *fr = &in->frames[cpu];
	const struct bpf_prog *fp = in->kjit;
	struct rmt_jit_ctx jc;

	rmt_frame_enter(in, fr);
	jc.scratch = fr->scratch;
	jc.ctx = ctx;
	jc.params = fr->params;
	jc.min = fr->min;
	jc.mout = fr->mout;
	jc.in = in;
	jc.now = now;
	jc.cpu = cpu;
	jc.abort = RMT_ABORT_NONE;
	jc.abort_pc = -1;
	jc.tmp = 0;
	/*
	 * As bpf_prog_run() without its statistics: the image touches only
	 * @jc and @cpu's frame, so it needs no migrate_disable() of its own.
	 */
	fp->bpf_func(&jc, fp->insnsi);
	res->decision = jc.abort ? RMT_DECISION_DEFAULT : (s64)jc.tmp;
	res->abort = jc.abort;
	res->abort_pc = jc.abort_pc;
}
