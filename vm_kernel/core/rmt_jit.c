// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_jit.c: x86-64 code for validated programs (see rmt_jit.h).
 *
 * One pass over the bytecode, one native instruction sequence per bytecode
 * instruction, forward jumps and abort exits patched at the end.  The
 * validator has already checked everything static, so the generator trusts
 * registers, jump targets, ids, constant addresses and immediates; it emits
 * exactly the run-time checks the interpreter makes (indexed accesses,
 * register divisors and shift amounts, ilog2(0)) and calls the same C for
 * tables, models, maps and trace (rmt_jit_*() below), so results, aborts and
 * counters are the interpreter's.
 *
 * Registers.  r12 holds the struct rmt_jit_ctx pointer, r13 the scratch base,
 * r14 the context base; rax, rcx and rdx are temporaries (div, shifts,
 * addresses).  The nine VM registers used most often live in rbx, rbp, r15,
 * rsi, rdi, r8..r11; the others in a 16-slot stack array (slot i is VM
 * register i; mapped registers use their slot only across calls, since
 * rsi..r11 are caller-saved).
 *
 * The prologue is what the program needs (j_plan()), since a short program's
 * fixed cost is mostly prologue: r12, r13 and r14 are set up (and saved)
 * only when the program uses the context pointer, scratch or the context; a
 * program that calls no C takes the caller-saved registers first, so it
 * saves nothing for them; the 16-slot array (plus 8 bytes that keep rsp
 * 16-byte aligned at helper calls) exists only when a VM register has no
 * x86 register or a call needs the slots.
 */
#include "rmt_engine.h"
#include "rmt_alloc.h"

#if defined(__x86_64__) && !defined(__KERNEL__)
#include <sys/mman.h>
#define RMT_JIT_HAVE_EXEC 1
#else
#define RMT_JIT_HAVE_EXEC 0
#endif

enum {
	RAX = 0, RCX, RDX, RBX, RSP, RBP, RSI, RDI,
	R8, R9, R10, R11, R12, R13, R14, R15,
};

#define J_CTXP R12
#define J_SCRATCH R13
#define J_CTX R14
#define J_SLOTS (8 * RMT_NUM_REGS)
#define J_NPHYS 9
/* Worst case bytes for one bytecode instruction (an inline map update and its call). */
#define J_MAX_INSN 256
#define J_STUB 24

/* VM registers' x86 registers, in the order they are handed out */
static const u8 rmt_jit_pool[J_NPHYS] = { RBX, RBP, R15, RSI, RDI, R8, R9, R10, R11 };
/* ... and for a program that calls no C: nothing to spill, nothing to save */
static const u8 rmt_jit_pool_leaf[J_NPHYS] = { RSI, RDI, R8, R9, R10, R11, RBX, RBP, R15 };

struct rmt_jit_fixup {
	u32 pos;		/* offset of the rel32 field */
	u32 target;		/* pc, or stub index when @stub */
	bool stub;
};

struct rmt_jit_stub {
	u32 reason;
	u32 pc;
};

struct rmt_jit {
	u8 *buf;
	u32 len;
	u32 cap;
	u32 *pc_off;		/* native offset of each pc */
	u32 *live;		/* VM registers live after each pc (j_liveness()) */
	struct rmt_jit_fixup *fix;
	u32 nfix;
	struct rmt_jit_stub *stubs;
	u32 nstubs;
	s8 phys[RMT_NUM_REGS];	/* x86 register of VM register i, or -1 */
	u32 epilogue;
	u32 frame;		/* bytes below the pushes: the slot array and alignment */
	u8 pushed[8];		/* callee-saved registers the prologue saves, in order */
	u8 npushed;
	const struct rmt_prog *prog;
	struct rmt_inst *in;
	bool has_ctxp;		/* r12 holds the context pointer (the plan's promise) */
	bool used_ctxp;		/* the code emitted reads r12 */
};

/* ------------------------------------------------------------------ emit */

static void j_b(struct rmt_jit *j, u8 b)
{
	if (j->len < j->cap)
		j->buf[j->len] = b;
	j->len++;
}

static void j_u32(struct rmt_jit *j, u32 v)
{
	j_b(j, v);
	j_b(j, v >> 8);
	j_b(j, v >> 16);
	j_b(j, v >> 24);
}

static void j_u64(struct rmt_jit *j, u64 v)
{
	j_u32(j, (u32)v);
	j_u32(j, (u32)(v >> 32));
}

/*
 * An operand in the ModRM r/m position: a register, or [base + index +
 * disp32] (index < 0: none).  VM register slots are [rsp + 8 i].
 */
struct rmt_rm {
	s8 reg;
	s8 base;
	s8 index;
	s32 disp;
};

static struct rmt_rm rm_reg(int r)
{
	return (struct rmt_rm){ .reg = r, .base = -1, .index = -1 };
}

static struct rmt_rm rm_mem(int base, int index, s32 disp)
{
	return (struct rmt_rm){ .reg = -1, .base = base, .index = index, .disp = disp };
}

/* VM register @v as an operand: its x86 register or its stack slot. */
static struct rmt_rm rm_vr(struct rmt_jit *j, int v)
{
	return j->phys[v] >= 0 ? rm_reg(j->phys[v]) : rm_mem(RSP, -1, 8 * v);
}

/*
 * prefix (0 or 0x66), REX (W, and forced for byte registers), opcode bytes
 * (1..3, big end first in @op), ModRM, SIB, displacement.
 */
static void j_op(struct rmt_jit *j, u8 prefix, bool w, bool rex_force, u32 op, int oplen,
		 int reg, struct rmt_rm rm)
{
	u8 rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0);
	int i;

	if (rm.reg >= 0) {
		rex |= (rm.reg & 8) ? 1 : 0;
	} else {
		rex |= (rm.base & 8) ? 1 : 0;
		rex |= (rm.index >= 0 && (rm.index & 8)) ? 2 : 0;
	}
	if (prefix)
		j_b(j, prefix);
	if (rex != 0x40 || rex_force)
		j_b(j, rex);
	for (i = oplen - 1; i >= 0; i--)
		j_b(j, op >> (8 * i));
	if (rm.reg >= 0) {
		j_b(j, 0xc0 | (reg & 7) << 3 | (rm.reg & 7));
		return;
	}
	if (rm.index < 0 && (rm.base & 7) != RSP) {
		j_b(j, 0x80 | (reg & 7) << 3 | (rm.base & 7));
	} else {
		j_b(j, 0x84 | (reg & 7) << 3);
		j_b(j, (rm.index < 0 ? 4 : (rm.index & 7)) << 3 | (rm.base & 7));
	}
	j_u32(j, (u32)rm.disp);
}

/* mov dst, src (64-bit) between any two operands, at most one in memory. */
static void j_mov_to(struct rmt_jit *j, int reg, struct rmt_rm rm)
{
	if (rm.reg == reg)
		return;
	j_op(j, 0, true, false, 0x8b, 1, reg, rm);
}

static void j_mov_from(struct rmt_jit *j, struct rmt_rm rm, int reg)
{
	if (rm.reg == reg)
		return;
	j_op(j, 0, true, false, 0x89, 1, reg, rm);
}

/* mov r64, imm (sign-extended imm32 or movabs). */
static void j_mov_imm(struct rmt_jit *j, int reg, u64 v)
{
	if ((s64)v == (s32)v) {
		j_op(j, 0, true, false, 0xc7, 1, 0, rm_reg(reg));
		j_u32(j, (u32)v);
	} else {
		j_b(j, 0x48 | ((reg & 8) ? 1 : 0));
		j_b(j, 0xb8 | (reg & 7));
		j_u64(j, v);
	}
}

/* VM register @v into x86 register @tmp unless it already has one. */
static int j_src(struct rmt_jit *j, int v, int tmp)
{
	if (j->phys[v] >= 0)
		return j->phys[v];
	j_mov_to(j, tmp, rm_vr(j, v));
	return tmp;
}

/* A jump (jcc when @cc, else jmp) to pc @target, patched at the end. */
static void j_jump(struct rmt_jit *j, int cc, u32 target, bool stub)
{
	if (cc) {
		j_b(j, 0x0f);
		j_b(j, cc);
	} else {
		j_b(j, 0xe9);
	}
	j->fix[j->nfix++] = (struct rmt_jit_fixup){ .pos = j->len, .target = target,
						    .stub = stub };
	j_u32(j, 0);
}

/* A conditional exit to an abort stub for @reason at @pc. */
static void j_check(struct rmt_jit *j, int cc, u32 reason, u32 pc)
{
	j->used_ctxp = true;		/* the stub stores the reason through r12 */
	j->stubs[j->nstubs] = (struct rmt_jit_stub){ .reason = reason, .pc = pc };
	j_jump(j, cc, j->nstubs++, true);
}

#define CC_E 0x84
#define CC_NE 0x85
#define CC_B 0x82
#define CC_BE 0x86
#define CC_A 0x87
#define CC_AE 0x83
#define CC_L 0x8c
#define CC_LE 0x8e
#define CC_G 0x8f
#define CC_GE 0x8d

/* Short forward jump (rel8); returns the position to patch with j_here8(). */
static u32 j_jmp8(struct rmt_jit *j, u8 op)
{
	j_b(j, op);
	j_b(j, 0);
	return j->len;
}

static void j_here8(struct rmt_jit *j, u32 at)
{
	if (at - 1 < j->cap)
		j->buf[at - 1] = (u8)(j->len - at);
}

/* Near forward jcc (@cc) or jmp (0), patched with j_here32(): code in between may be long. */
static u32 j_jmp32(struct rmt_jit *j, int cc)
{
	if (cc) {
		j_b(j, 0x0f);
		j_b(j, cc);
	} else {
		j_b(j, 0xe9);
	}
	j_u32(j, 0);
	return j->len;
}

static void j_here32(struct rmt_jit *j, u32 at)
{
	u32 rel = j->len - at;

	if (at <= j->cap)
		memcpy(j->buf + at - 4, &rel, 4);
}

/* ------------------------------------------------------------ helper calls */

static bool j_caller_saved(int r)
{
	return r == RSI || r == RDI || (r >= R8 && r <= R11);
}

/*
 * Spill (@save) or reload the VM registers held in caller-saved registers
 * that the call at @pc reads or that are live after it.
 */
static void j_saves(struct rmt_jit *j, bool save, u32 pc)
{
	u32 need = j->live[pc] | 1u << RMT_INSN_DST(&j->prog->insns[pc]) |
		   1u << RMT_INSN_SRC(&j->prog->insns[pc]);
	int v;

	for (v = 0; v < RMT_NUM_REGS; v++) {
		if (j->phys[v] < 0 || !j_caller_saved(j->phys[v]) || !(need & (1u << v)))
			continue;
		if (save)
			j_mov_from(j, rm_mem(RSP, -1, 8 * v), j->phys[v]);
		else
			j_mov_to(j, j->phys[v], rm_mem(RSP, -1, 8 * v));
	}
}

/* VM register @v as a call argument, after j_saves(true). */
static void j_arg_vr(struct rmt_jit *j, int reg, int v)
{
	if (j->phys[v] >= 0 && !j_caller_saved(j->phys[v]))
		j_mov_to(j, reg, rm_reg(j->phys[v]));
	else
		j_mov_to(j, reg, rm_mem(RSP, -1, 8 * v));
}

static void j_call(struct rmt_jit *j, const void *fn)
{
	j_mov_imm(j, RAX, (u64)(uintptr_t)fn);
	j_b(j, 0xff);		/* call *%rax */
	j_b(j, 0xd0);
}

/* ---------------------------------------------------------- opcode table */

/*
 * What this JIT emits for each opcode, named opcode by opcode.  j_ops[] below
 * is RMT_OPCODES (rmt_isa.h, generated from contract/isa.py) expanded with
 * J_OP_<NAME>, so an opcode added to the ISA does not compile here ("J_OP_FOO
 * undeclared") until it has a line: a translation, or J_INTERP_ONLY, which
 * leaves every program using it on the interpreter.  Nothing in this file
 * depends on how opcodes are numbered or ordered.
 */
enum j_kind {
	JK_INTERP_ONLY,	/* no native code: rmt_jit_compile() declines the program */
	JK_ALU,		/* a: "op r/m64, r64" opcode, b: /digit of "op r/m64, imm32" */
	JK_MOV,
	JK_MUL,
	JK_SHIFT,	/* b: /digit of d3 (by cl) and c1 (by imm8) */
	JK_DIVMOD,	/* a: J_DM_* */
	JK_NEG,
	JK_ZEXT,
	JK_SEXT,
	JK_LDHI,
	JK_JA,
	JK_JCC,		/* a: condition code (CC_*), b: 1 to test (JSET), else compare */
	JK_LOAD,	/* a: access size in bytes, b: 1 to sign-extend */
	JK_STORE,	/* a: access size in bytes */
	JK_EXT,		/* tables, models, maps, trace, helpers: through rmt_jit_*() */
	JK_EXIT,
};

#define J_DM_MOD	1	/* the remainder, not the quotient */
#define J_DM_SIGNED	2

/**
 * struct j_op - how one opcode is translated
 * @kind: enum j_kind
 * @a: per @kind (see enum j_kind)
 * @b: per @kind
 * @imm: the second operand is the immediate (format ALU_I or JMP_I), not a
 *	register
 */
struct j_op {
	u8 kind;
	u8 a;
	u8 b;
	u8 imm;
};

#define J_INTERP_ONLY	.kind = JK_INTERP_ONLY
#define J_OP_ADD_R	.kind = JK_ALU, .a = 0x01, .b = 0
#define J_OP_ADD_I	J_OP_ADD_R
#define J_OP_SUB_R	.kind = JK_ALU, .a = 0x29, .b = 5
#define J_OP_SUB_I	J_OP_SUB_R
#define J_OP_MUL_R	.kind = JK_MUL
#define J_OP_MUL_I	J_OP_MUL_R
#define J_OP_DIV_R	.kind = JK_DIVMOD, .a = 0
#define J_OP_DIV_I	J_OP_DIV_R
#define J_OP_SDIV_R	.kind = JK_DIVMOD, .a = J_DM_SIGNED
#define J_OP_SDIV_I	J_OP_SDIV_R
#define J_OP_MOD_R	.kind = JK_DIVMOD, .a = J_DM_MOD
#define J_OP_MOD_I	J_OP_MOD_R
#define J_OP_SMOD_R	.kind = JK_DIVMOD, .a = J_DM_MOD | J_DM_SIGNED
#define J_OP_SMOD_I	J_OP_SMOD_R
#define J_OP_AND_R	.kind = JK_ALU, .a = 0x21, .b = 4
#define J_OP_AND_I	J_OP_AND_R
#define J_OP_OR_R	.kind = JK_ALU, .a = 0x09, .b = 1
#define J_OP_OR_I	J_OP_OR_R
#define J_OP_XOR_R	.kind = JK_ALU, .a = 0x31, .b = 6
#define J_OP_XOR_I	J_OP_XOR_R
#define J_OP_SHL_R	.kind = JK_SHIFT, .b = 4
#define J_OP_SHL_I	J_OP_SHL_R
#define J_OP_SHR_R	.kind = JK_SHIFT, .b = 5
#define J_OP_SHR_I	J_OP_SHR_R
#define J_OP_SAR_R	.kind = JK_SHIFT, .b = 7
#define J_OP_SAR_I	J_OP_SAR_R
#define J_OP_MOV_R	.kind = JK_MOV
#define J_OP_MOV_I	J_OP_MOV_R
#define J_OP_NEG	.kind = JK_NEG
#define J_OP_ZEXT	.kind = JK_ZEXT
#define J_OP_SEXT	.kind = JK_SEXT
#define J_OP_LDHI	.kind = JK_LDHI
#define J_OP_JA		.kind = JK_JA
#define J_OP_JEQ_R	.kind = JK_JCC, .a = CC_E
#define J_OP_JEQ_I	J_OP_JEQ_R
#define J_OP_JNE_R	.kind = JK_JCC, .a = CC_NE
#define J_OP_JNE_I	J_OP_JNE_R
#define J_OP_JLT_R	.kind = JK_JCC, .a = CC_B
#define J_OP_JLT_I	J_OP_JLT_R
#define J_OP_JLE_R	.kind = JK_JCC, .a = CC_BE
#define J_OP_JLE_I	J_OP_JLE_R
#define J_OP_JGT_R	.kind = JK_JCC, .a = CC_A
#define J_OP_JGT_I	J_OP_JGT_R
#define J_OP_JGE_R	.kind = JK_JCC, .a = CC_AE
#define J_OP_JGE_I	J_OP_JGE_R
#define J_OP_JSLT_R	.kind = JK_JCC, .a = CC_L
#define J_OP_JSLT_I	J_OP_JSLT_R
#define J_OP_JSLE_R	.kind = JK_JCC, .a = CC_LE
#define J_OP_JSLE_I	J_OP_JSLE_R
#define J_OP_JSGT_R	.kind = JK_JCC, .a = CC_G
#define J_OP_JSGT_I	J_OP_JSGT_R
#define J_OP_JSGE_R	.kind = JK_JCC, .a = CC_GE
#define J_OP_JSGE_I	J_OP_JSGE_R
#define J_OP_JSET_R	.kind = JK_JCC, .a = CC_NE, .b = 1
#define J_OP_JSET_I	J_OP_JSET_R
#define J_OP_LDU8	.kind = JK_LOAD, .a = 1, .b = 0
#define J_OP_LDU16	.kind = JK_LOAD, .a = 2, .b = 0
#define J_OP_LDU32	.kind = JK_LOAD, .a = 4, .b = 0
#define J_OP_LD64	.kind = JK_LOAD, .a = 8, .b = 0
#define J_OP_LDS8	.kind = JK_LOAD, .a = 1, .b = 1
#define J_OP_LDS16	.kind = JK_LOAD, .a = 2, .b = 1
#define J_OP_LDS32	.kind = JK_LOAD, .a = 4, .b = 1
#define J_OP_ST8	.kind = JK_STORE, .a = 1
#define J_OP_ST16	.kind = JK_STORE, .a = 2
#define J_OP_ST32	.kind = JK_STORE, .a = 4
#define J_OP_ST64	.kind = JK_STORE, .a = 8
#define J_OP_APPLY	.kind = JK_EXT
#define J_OP_CALLM	.kind = JK_EXT
#define J_OP_MAP_LD	.kind = JK_EXT
#define J_OP_MAP_ST	.kind = JK_EXT
#define J_OP_MAP_ADD	.kind = JK_EXT
#define J_OP_TRACE	.kind = JK_EXT
#define J_OP_CALL	.kind = JK_EXT
#define J_OP_EXIT	.kind = JK_EXIT

#define J_IMM_FORM(fmt) (RMT_FMT_##fmt == RMT_FMT_ALU_I || RMT_FMT_##fmt == RMT_FMT_JMP_I)
#define J_X(name, code, fmt, cost) \
	[RMT_OP_##name] = { J_OP_##name, .imm = J_IMM_FORM(fmt) },
static const struct j_op j_ops[256] = {
	RMT_OPCODES(J_X)
};

#undef J_X
#undef J_IMM_FORM

/* ---------------------------------------------------------- instructions */

/* floor(log2(@d)), as the ILOG2 helper computes it; 0 for 0 (the loader refuses /0) */
static int j_log2(u64 d)
{
	return d ? 63 - __builtin_clzll(d) : 0;
}

/*
 * floor(2^(64 + @k) / @d) and its remainder, for 2^@k < @d (the quotient
 * fits 64 bits): long division a bit at a time, as not every build of this
 * file has a 128-bit type.
 */
static u64 j_div128(int k, u64 d, u64 *rem)
{
	u64 q = 0, r = 1ull << k;
	bool carry;
	int b;

	for (b = 0; b < 64; b++) {
		carry = r >> 63;
		r <<= 1;
		q <<= 1;
		if (carry || r >= d) {
			r -= d;
			q |= 1;
		}
	}
	*rem = r;
	return q;
}

/*
 * The multiplier and shift that divide by @d (3 <= @d < 2^63, not a power of
 * two) with a 64x64->128 multiply (Granlund and Montgomery; the construction
 * is libdivide's).  @sgn: for signed division by +-@d, where the product is
 * taken 2^63 smaller.  *@add: the multiplier needs 65 bits; its top bit is
 * made up by adding the dividend (see j_divmod_imm()).
 */
static u64 j_magic(u64 d, bool sgn, int *shift, bool *add)
{
	int l = j_log2(d);
	u64 rem, m = j_div128(sgn ? l - 1 : l, d, &rem), twice;

	*add = d - rem >= 1ull << l;
	*shift = sgn && !*add ? l - 1 : l;
	if (*add) {
		twice = rem + rem;
		m += m;
		if (twice >= d || twice < rem)
			m++;
	}
	return m + 1;
}

#define J_SHR 5		/* /digit of shr and sar */
#define J_SAR 7

static void j_shift_ri(struct rmt_jit *j, int digit, int reg, int n)
{
	if (!n)
		return;
	j_op(j, 0, true, false, 0xc1, 1, digit, rm_reg(reg));
	j_b(j, n);
}

/*
 * DIV/SDIV/MOD/SMOD by an immediate (never 0: the validator refuses it):
 * no divide instruction, which costs tens of cycles, but the shifts and
 * multiply by a reciprocal a C compiler emits, picked at compile time.
 * x / 1 = x and x / -1 = -x (so INT64_MIN / -1 = INT64_MIN), remainders 0;
 * an unsigned divisor >= 2^63 (a negative immediate, sign-extended) divides
 * into 0 or 1; a power of two is a shift (signed: the dividend biased by
 * 2^k - 1 when negative, so the quotient truncates toward zero); anything
 * else is the high half of dividend * j_magic(), shifted (signed: rounded
 * toward zero by adding the sign bit).  A remainder is dividend - q * d.
 */
static void j_divmod_imm(struct rmt_jit *j, const struct rmt_insn *i, bool mod, bool sgn)
{
	struct rmt_rm x = rm_vr(j, RMT_INSN_DST(i));
	s64 sd = (s32)i->imm;
	u64 d = (u64)sd, ad = sd < 0 ? 0 - d : d, m;
	int q = RAX, k = j_log2(ad), shift;
	bool add;

	if (d == 1 || (sgn && sd == -1)) {
		if (mod) {
			j_op(j, 0, true, false, 0xc7, 1, 0, x);		/* mov x, 0 */
			j_u32(j, 0);
		} else if (sd == -1) {
			j_op(j, 0, true, false, 0xf7, 1, 3, x);		/* neg x */
		}
		return;
	}
	if (!sgn && !(d & (d - 1)) && mod) {
		j_op(j, 0, true, false, 0x81, 1, 4, x);			/* and x, d - 1 */
		j_u32(j, (u32)(d - 1));
		return;
	}
	if (!sgn && sd < 0) {
		j_op(j, 0, false, false, 0x31, 1, RAX, rm_reg(RAX));	/* xor eax, eax */
		j_op(j, 0, true, false, 0x81, 1, 7, x);			/* cmp x, imm */
		j_u32(j, (u32)sd);
		j_op(j, 0, false, false, 0x0f93, 2, 0, rm_reg(RAX));	/* setae al */
	} else if (!(ad & (ad - 1))) {
		j_mov_to(j, RAX, x);
		if (sgn) {
			j_mov_to(j, RDX, x);
			j_shift_ri(j, J_SAR, RDX, 63);
			j_shift_ri(j, J_SHR, RDX, 64 - k);
			j_op(j, 0, true, false, 0x01, 1, RDX, rm_reg(RAX));	/* add rax, rdx */
		}
		j_shift_ri(j, sgn ? J_SAR : J_SHR, RAX, k);
		if (sd < 0)
			j_op(j, 0, true, false, 0xf7, 1, 3, rm_reg(RAX));	/* neg rax */
	} else {
		m = j_magic(ad, sgn, &shift, &add);
		if (sgn && sd < 0)
			m = 0 - m;
		j_mov_imm(j, RAX, m);
		j_op(j, 0, true, false, 0xf7, 1, sgn ? 5 : 4, x);	/* imul / mul x */
		q = RDX;
		if (sgn) {
			if (add)	/* add / sub rdx, x: the multiplier's 65th bit */
				j_op(j, 0, true, false, sd < 0 ? 0x2b : 0x03, 1, RDX, x);
			j_shift_ri(j, J_SAR, RDX, shift);
			j_mov_to(j, RAX, rm_reg(RDX));
			j_shift_ri(j, J_SHR, RAX, 63);
			j_op(j, 0, true, false, 0x01, 1, RAX, rm_reg(RDX));	/* add rdx, rax */
		} else if (add) {
			/* (((x - hi) >> 1) + hi) >> shift: the 65-bit sum x + hi, halved */
			j_mov_to(j, RAX, x);
			j_op(j, 0, true, false, 0x29, 1, RDX, rm_reg(RAX));	/* sub rax, rdx */
			j_shift_ri(j, J_SHR, RAX, 1);
			j_op(j, 0, true, false, 0x01, 1, RDX, rm_reg(RAX));	/* add rax, rdx */
			j_shift_ri(j, J_SHR, RAX, shift);
			q = RAX;
		} else {
			j_shift_ri(j, J_SHR, RDX, shift);
		}
	}
	if (mod) {
		j_op(j, 0, true, false, 0x69, 1, q, rm_reg(q));		/* imul q, q, d */
		j_u32(j, (u32)sd);
		j_mov_to(j, RCX, x);
		j_op(j, 0, true, false, 0x29, 1, q, rm_reg(RCX));	/* sub rcx, q */
		q = RCX;
	}
	j_mov_from(j, x, q);
}

static void j_divmod(struct rmt_jit *j, const struct rmt_insn *i, const struct j_op *op,
		     u32 pc)
{
	int dst = RMT_INSN_DST(i), src = RMT_INSN_SRC(i);
	bool mod = op->a & J_DM_MOD;
	bool sgn = op->a & J_DM_SIGNED;
	u32 l1 = 0, l2 = 0;

	if (op->imm) {
		j_divmod_imm(j, i, mod, sgn);
		return;
	}
	j_mov_to(j, RCX, rm_vr(j, src));
	j_op(j, 0, true, false, 0x85, 1, RCX, rm_reg(RCX));	/* test rcx, rcx */
	j_check(j, CC_E, RMT_ABORT_DIV_ZERO, pc);
	j_mov_to(j, RAX, rm_vr(j, dst));
	if (sgn) {
		/* MIN / -1 would trap: the result is -dst (div) or 0 (mod). */
		j_op(j, 0, true, false, 0x83, 1, 7, rm_reg(RCX));	/* cmp rcx, -1 */
		j_b(j, 0xff);
		l1 = j_jmp8(j, 0x75);					/* jne */
		if (mod)
			j_op(j, 0, false, false, 0x31, 1, RDX, rm_reg(RDX));
		else
			j_op(j, 0, true, false, 0xf7, 1, 3, rm_reg(RAX));	/* neg */
		l2 = j_jmp8(j, 0xeb);
		j_here8(j, l1);
		j_b(j, 0x48);						/* cqo */
		j_b(j, 0x99);
		j_op(j, 0, true, false, 0xf7, 1, 7, rm_reg(RCX));	/* idiv rcx */
		j_here8(j, l2);
	} else {
		j_op(j, 0, false, false, 0x31, 1, RDX, rm_reg(RDX));	/* xor edx, edx */
		j_op(j, 0, true, false, 0xf7, 1, 6, rm_reg(RCX));	/* div rcx */
	}
	j_mov_from(j, rm_vr(j, dst), mod ? RDX : RAX);
}

static void j_alu(struct rmt_jit *j, const struct rmt_insn *i, const struct j_op *op, u32 pc)
{
	int dst = RMT_INSN_DST(i), src = RMT_INSN_SRC(i), d;

	switch (op->kind) {
	case JK_ALU:
		if (!op->imm) {
			j_op(j, 0, true, false, op->a, 1, j_src(j, src, RDX), rm_vr(j, dst));
		} else {
			j_op(j, 0, true, false, 0x81, 1, op->b, rm_vr(j, dst));
			j_u32(j, (u32)i->imm);
		}
		return;
	case JK_MOV:
		if (!op->imm) {
			d = j_src(j, src, RDX);
			j_mov_from(j, rm_vr(j, dst), d);
		} else {
			j_op(j, 0, true, false, 0xc7, 1, 0, rm_vr(j, dst));
			j_u32(j, (u32)i->imm);
		}
		return;
	case JK_MUL:
		d = j_src(j, dst, RAX);
		if (!op->imm) {
			j_op(j, 0, true, false, 0x0faf, 2, d, rm_vr(j, src));
		} else {
			j_op(j, 0, true, false, 0x69, 1, d, rm_reg(d));
			j_u32(j, (u32)i->imm);
		}
		j_mov_from(j, rm_vr(j, dst), d);
		return;
	case JK_SHIFT:
		if (!op->imm) {
			j_mov_to(j, RCX, rm_vr(j, src));
			j_op(j, 0, true, false, 0x83, 1, 7, rm_reg(RCX));	/* cmp rcx, 63 */
			j_b(j, 63);
			j_check(j, CC_A, RMT_ABORT_SHIFT, pc);
			j_op(j, 0, true, false, 0xd3, 1, op->b, rm_vr(j, dst));
		} else {
			j_op(j, 0, true, false, 0xc1, 1, op->b, rm_vr(j, dst));
			j_b(j, (u8)i->imm);
		}
		return;
	default:	/* JK_DIVMOD */
		j_divmod(j, i, op, pc);
	}
}

/* NEG, ZEXT, SEXT, LDHI: through rax, which needs no REX for its low byte. */
static void j_unary(struct rmt_jit *j, const struct rmt_insn *i, const struct j_op *op)
{
	int dst = RMT_INSN_DST(i);

	if (op->kind == JK_NEG) {
		j_op(j, 0, true, false, 0xf7, 1, 3, rm_vr(j, dst));
		return;
	}
	j_mov_to(j, RAX, rm_vr(j, dst));
	if (op->kind == JK_LDHI) {
		j_op(j, 0, false, false, 0x89, 1, RAX, rm_reg(RAX));	/* mov eax, eax */
		if (i->imm) {
			j_mov_imm(j, RCX, (u64)(u32)i->imm << 32);
			j_op(j, 0, true, false, 0x09, 1, RCX, rm_reg(RAX));
		}
	} else if (op->kind == JK_ZEXT) {
		if (i->imm == 8)
			j_op(j, 0, false, false, 0x0fb6, 2, RAX, rm_reg(RAX));
		else if (i->imm == 16)
			j_op(j, 0, false, false, 0x0fb7, 2, RAX, rm_reg(RAX));
		else
			j_op(j, 0, false, false, 0x89, 1, RAX, rm_reg(RAX));
	} else {
		if (i->imm == 8)
			j_op(j, 0, true, false, 0x0fbe, 2, RAX, rm_reg(RAX));
		else if (i->imm == 16)
			j_op(j, 0, true, false, 0x0fbf, 2, RAX, rm_reg(RAX));
		else
			j_op(j, 0, true, false, 0x63, 1, RAX, rm_reg(RAX));
	}
	j_mov_from(j, rm_vr(j, dst), RAX);
}

static void j_branch(struct rmt_jit *j, const struct rmt_insn *i, const struct j_op *op,
		     u32 pc)
{
	int dst = RMT_INSN_DST(i), src = RMT_INSN_SRC(i);
	bool set = op->b;
	u32 target = pc + 1 + i->off;

	if (op->kind == JK_JA) {
		j_jump(j, 0, target, false);
		return;
	}
	if (!op->imm) {
		j_op(j, 0, true, false, set ? 0x85 : 0x39, 1, j_src(j, src, RDX), rm_vr(j, dst));
	} else {
		j_op(j, 0, true, false, set ? 0xf7 : 0x81, 1, set ? 0 : 7, rm_vr(j, dst));
		j_u32(j, (u32)i->imm);
	}
	j_jump(j, op->a, target, false);
}

/* The operand of a LD/ST: base register by region, index checked into rax. */
static struct rmt_rm j_addr(struct rmt_jit *j, const struct rmt_insn *i, u32 pc, u32 size)
{
	u32 region = RMT_MEM_REGION(i->imm), obj = RMT_MEM_OBJ(i->imm);
	u32 limit = RMT_MEM_LIMIT(i->imm);
	int base, index = -1;

	if (limit) {
		j_mov_to(j, RAX, rm_vr(j, RMT_INSN_SRC(i)));
		j_op(j, 0, true, false, 0x81, 1, 7, rm_reg(RAX));	/* cmp rax, imm32 */
		j_u32(j, limit - size);
		j_check(j, CC_A, RMT_ABORT_BOUNDS, pc);
		index = RAX;
	}
	if (region == RMT_REGION_SCRATCH) {
		base = J_SCRATCH;
	} else if (region == RMT_REGION_CTX) {
		base = J_CTX;
	} else if (region != RMT_REGION_PARAMS) {
		/* MIN and MOUT sit at fixed offsets from scratch on every CPU */
		return rm_mem(J_SCRATCH, index, rmt_model_io_offset(j->prog, obj,
								    region == RMT_REGION_MOUT) +
			      (u16)i->off);
	} else {
		s32 at = region == RMT_REGION_PARAMS ? RMT_JC_PARAMS :
			 region == RMT_REGION_MIN ? RMT_JC_MIN : RMT_JC_MOUT;

		j->used_ctxp = true;
		j_mov_to(j, RDX, rm_mem(J_CTXP, -1, at));
		j_mov_to(j, RDX, rm_mem(RDX, -1, 8 * obj));
		base = RDX;
	}
	return rm_mem(base, index, (u16)i->off);
}

static void j_mem(struct rmt_jit *j, const struct rmt_insn *i, const struct j_op *op, u32 pc)
{
	int dst = RMT_INSN_DST(i), v;
	u32 size = op->a;
	struct rmt_rm m;

	m = j_addr(j, i, pc, size);
	if (op->kind == JK_STORE) {
		v = j_src(j, dst, RCX);
		if (size == 1)
			j_op(j, 0, false, true, 0x88, 1, v, m);
		else
			j_op(j, size == 2 ? 0x66 : 0, size == 8, false, 0x89, 1, v, m);
		return;
	}
	v = j->phys[dst] >= 0 ? j->phys[dst] : RCX;
	if (size == 8)
		j_op(j, 0, true, false, 0x8b, 1, v, m);			/* mov */
	else if (size == 4)
		j_op(j, 0, op->b, false, op->b ? 0x63 : 0x8b, 1, v, m);	/* movsxd / mov */
	else
		j_op(j, 0, op->b, false, (op->b ? 0x0fbe : 0x0fb6) + (size == 2), 2, v, m);
	j_mov_from(j, rm_vr(j, dst), v);
}

/* Jumps from inline code to the helper call, and the one over it (struct j_slow.done). */
struct j_slow {
	u32 at[4];
	u32 n;
	u32 done;
};

/* The copy of a per-CPU map: rax = cpu * @stride; a CPU without a copy takes the call. */
static void j_map_copy(struct rmt_jit *j, u32 ncopies, u32 stride, struct j_slow *sl)
{
	j_op(j, 0, false, false, 0x8b, 1, RAX, rm_mem(J_CTXP, -1, RMT_JC_CPU));
	j_op(j, 0, false, false, 0x81, 1, 7, rm_reg(RAX));		/* cmp eax, ncopies */
	j_u32(j, ncopies);
	sl->at[sl->n++] = j_jmp32(j, CC_AE);
	j_op(j, 0, true, false, 0x69, 1, RAX, rm_reg(RAX));		/* imul rax, rax, stride */
	j_u32(j, stride);
}

/*
 * The value's address into rax, for an array or counter map: the map's
 * values + 8 (cpu * max_entries + key) (rmt_map_values()); an index out of
 * range takes the call.  False: not such a map, or too big for 32-bit offsets.
 */
static bool j_map_array_addr(struct rmt_jit *j, const struct rmt_insn *i, int key,
			     struct j_slow *sl)
{
	const struct rmt_rec_map *rec = &j->prog->maps[i->imm];
	atomic64_t *vals;
	u32 ncopies;

	vals = rmt_map_values(j->in->maps[i->imm], &ncopies);
	if (!vals || rec->max_entries > S32_MAX / 8 || ncopies > S32_MAX / 8 / rec->max_entries)
		return false;
	j_mov_to(j, RCX, rm_vr(j, key));
	j_op(j, 0, true, false, 0x81, 1, 7, rm_reg(RCX));		/* cmp rcx, max_entries */
	j_u32(j, rec->max_entries);
	sl->at[sl->n++] = j_jmp32(j, CC_AE);
	j_shift_ri(j, 4, RCX, 3);					/* shl rcx, 3 */
	if (ncopies > 1) {
		j_map_copy(j, ncopies, 8 * rec->max_entries, sl);
		j_op(j, 0, true, false, 0x01, 1, RAX, rm_reg(RCX));	/* add rcx, rax */
	}
	j_mov_imm(j, RAX, (u64)(uintptr_t)vals);
	j_op(j, 0, true, false, 0x01, 1, RCX, rm_reg(RAX));		/* add rax, rcx */
	return true;
}

/*
 * The value's address into rax, for a hash map whose key sits in its first
 * slot, the usual case; rmt_map.c's rmt_hfind() does the rest (a key further
 * along the probe sequence, an insert, a slot being filled) in the call.  A
 * MAP_LD of a key whose first slot is empty is 0 (rax = 0, *@empty: the
 * jump taken then).  False: not a hash map, or too big for 32-bit offsets.
 */
static bool j_map_hash_addr(struct rmt_jit *j, const struct rmt_insn *i, int key,
			    struct j_slow *sl, u32 *empty)
{
	struct rmt_map_hview h;
	u32 full;

	if (!rmt_map_hash_view(j->in->maps[i->imm], &h) ||
	    h.nslots > S32_MAX / RMT_HSLOT_SIZE / h.ncopies)
		return false;
	j_mov_to(j, RCX, rm_vr(j, key));
	if (h.kmask != ~0ull) {
		j_mov_imm(j, RAX, h.kmask);
		j_op(j, 0, true, false, 0x21, 1, RAX, rm_reg(RCX));	/* and rcx, rax */
	}
	j_mov_imm(j, RAX, RMT_HASH_MUL);
	j_op(j, 0, true, false, 0x0faf, 2, RAX, rm_reg(RCX));	/* imul rax, rcx */
	j_shift_ri(j, J_SHR, RAX, h.shift);
	j_op(j, 0, true, false, 0x81, 1, 4, rm_reg(RAX));		/* and rax, nslots - 1 */
	j_u32(j, h.nslots - 1);
	j_op(j, 0, true, false, 0x69, 1, RDX, rm_reg(RAX));		/* imul rdx, rax, 24 */
	j_u32(j, RMT_HSLOT_SIZE);
	if (h.ncopies > 1) {
		j_map_copy(j, h.ncopies, h.nslots * RMT_HSLOT_SIZE, sl);
		j_op(j, 0, true, false, 0x01, 1, RAX, rm_reg(RDX));	/* add rdx, rax */
	}
	j_mov_imm(j, RAX, (u64)(uintptr_t)h.slots);
	j_op(j, 0, true, false, 0x01, 1, RDX, rm_reg(RAX));		/* add rax, rdx */
	/* state, then key: x86 keeps loads in order, as smp_load_acquire() asks */
	j_op(j, 0, false, false, 0x8b, 1, RDX, rm_mem(RAX, -1, RMT_HSLOT_STATE));
	j_op(j, 0, false, false, 0x83, 1, 7, rm_reg(RDX));		/* cmp edx, FULL */
	j_b(j, RMT_HSLOT_FULL);
	full = j_jmp8(j, 0x74);						/* je */
	if (i->code == RMT_OP_MAP_LD) {
		j_op(j, 0, false, false, 0x85, 1, RDX, rm_reg(RDX));	/* test edx, edx */
		sl->at[sl->n++] = j_jmp32(j, CC_NE);
		j_op(j, 0, false, false, 0x31, 1, RAX, rm_reg(RAX));	/* xor eax, eax */
		*empty = j_jmp32(j, 0);
	} else {
		sl->at[sl->n++] = j_jmp32(j, 0);
	}
	j_here8(j, full);
	j_op(j, 0, true, false, 0x39, 1, RCX, rm_mem(RAX, -1, RMT_HSLOT_KEY));	/* cmp [rax], rcx */
	sl->at[sl->n++] = j_jmp32(j, CC_NE);
	j_op(j, 0, true, false, 0x83, 1, 0, rm_reg(RAX));		/* add rax, VAL */
	j_b(j, RMT_HSLOT_VAL);
	return true;
}

/*
 * MAP_LD, MAP_ST and MAP_ADD without a call when the value's address is
 * quick to find (j_map_array_addr(), j_map_hash_addr()): loaded and masked
 * to value_bits, stored, or added to with lock add, as rmt_map_load() and
 * rmt_map_update() do.  Everything else jumps to the helper call j_ext()
 * emits next (@sl: those jumps, and the one over the call).  False: no
 * inline code at all.
 */
static bool j_map_inline(struct rmt_jit *j, const struct rmt_insn *i, struct j_slow *sl)
{
	const struct rmt_rec_map *rec = &j->prog->maps[i->imm];
	int key = i->code == RMT_OP_MAP_LD ? RMT_INSN_SRC(i) : RMT_INSN_DST(i);
	struct rmt_rm at = rm_mem(RAX, -1, 0);
	u32 empty = 0;
	int v;

	if (!j->in || (!j_map_array_addr(j, i, key, sl) &&
		       !j_map_hash_addr(j, i, key, sl, &empty)))
		return false;
	if (i->code == RMT_OP_MAP_LD) {
		j_mov_to(j, RAX, at);
		if (rec->value_bits < 64) {
			j_mov_imm(j, RDX, (1ull << rec->value_bits) - 1);
			j_op(j, 0, true, false, 0x21, 1, RDX, rm_reg(RAX));	/* and rax, rdx */
		}
		if (empty)
			j_here32(j, empty);
		j_mov_from(j, rm_vr(j, RMT_INSN_DST(i)), RAX);
	} else {
		v = j_src(j, RMT_INSN_SRC(i), RDX);
		/* lock add [rax], v (atomic64_add()) or mov [rax], v (atomic64_set()) */
		j_op(j, i->code == RMT_OP_MAP_ADD ? 0xf0 : 0, true, false,
		     i->code == RMT_OP_MAP_ADD ? 0x01 : 0x89, 1, v, at);
	}
	sl->done = j_jmp32(j, 0);
	return true;
}

/*
 * CALLM: rmt_model_infer_rcu() called directly, as rmt_jit_callm() calls it,
 * with MIN and MOUT at their fixed offsets from scratch and the overflow
 * count in jc->tmp; rmt_jit_callm_rest() only when there are overflows to
 * count or a candidate is staged (rmt_model_has_cand(): the slot's cand
 * pointer, read as rcu_access_pointer() does).  The model slot never moves
 * while the program is loaded.
 */
static void j_callm(struct rmt_jit *j, const struct rmt_insn *i, u32 pc)
{
	struct rmt_model_slot *slot = &j->in->models[i->imm].slot;
	u32 rest, done;

	j_saves(j, true, pc);
	j_op(j, 0, true, false, 0xc7, 1, 0, rm_mem(J_CTXP, -1, RMT_JC_TMP));	/* tmp = 0 */
	j_u32(j, 0);
	j_mov_imm(j, RDI, (u64)(uintptr_t)slot);
	j_op(j, 0, true, false, 0x8d, 1, RSI,					/* lea */
	     rm_mem(J_SCRATCH, -1, rmt_model_io_offset(j->prog, i->imm, false)));
	j_op(j, 0, true, false, 0x8d, 1, RDX,
	     rm_mem(J_SCRATCH, -1, rmt_model_io_offset(j->prog, i->imm, true)));
	j_op(j, 0, true, false, 0x8d, 1, RCX, rm_mem(J_CTXP, -1, RMT_JC_TMP));
	j_call(j, rmt_model_infer_rcu);
	j_op(j, 0, false, false, 0x85, 1, RAX, rm_reg(RAX));		/* test eax, eax */
	j_check(j, CC_NE, RMT_ABORT_MODEL_MISSING, pc);
	j_op(j, 0, true, false, 0x83, 1, 7, rm_mem(J_CTXP, -1, RMT_JC_TMP));	/* cmp tmp, 0 */
	j_b(j, 0);
	rest = j_jmp8(j, 0x75);						/* jne */
	j_mov_imm(j, RAX, (u64)(uintptr_t)&slot->cand);
	j_op(j, 0, true, false, 0x83, 1, 7, rm_mem(RAX, -1, 0));		/* cmp cand, 0 */
	j_b(j, 0);
	done = j_jmp8(j, 0x74);						/* je */
	j_here8(j, rest);
	j_mov_to(j, RDI, rm_reg(J_CTXP));
	j_mov_imm(j, RSI, (u32)i->imm);
	j_call(j, rmt_jit_callm_rest);
	j_here8(j, done);
	j_saves(j, false, pc);
}

/* APPLY, CALLM, MAP_*, TRACE, CALL: the interpreter's C, through helpers. */
static void j_ext(struct rmt_jit *j, const struct rmt_insn *i, u32 pc)
{
	int dst = RMT_INSN_DST(i), src = RMT_INSN_SRC(i);
	struct j_slow sl = { .n = 0 };
	u32 reason = 0, k;

	j->used_ctxp = true;
	if (i->code == RMT_OP_CALL && i->imm != RMT_HELPER_RANDOM) {
		if (i->imm == RMT_HELPER_KTIME_NS) {
			j_mov_to(j, RAX, rm_mem(J_CTXP, -1, RMT_JC_NOW));
		} else if (i->imm == RMT_HELPER_CPU) {
			j_op(j, 0, false, false, 0x8b, 1, RAX, rm_mem(J_CTXP, -1, RMT_JC_CPU));
		} else {	/* ILOG2 */
			j_mov_to(j, RAX, rm_vr(j, src));
			j_op(j, 0, true, false, 0x85, 1, RAX, rm_reg(RAX));
			j_check(j, CC_E, RMT_ABORT_HELPER, pc);
			j_op(j, 0, true, false, 0x0fbd, 2, RAX, rm_reg(RAX));	/* bsr */
		}
		j_mov_from(j, rm_vr(j, dst), RAX);
		return;
	}
	if (i->code == RMT_OP_CALLM && j->in) {
		j_callm(j, i, pc);
		return;
	}
	if (i->code == RMT_OP_MAP_LD || i->code == RMT_OP_MAP_ST || i->code == RMT_OP_MAP_ADD)
		j_map_inline(j, i, &sl);
	for (k = 0; k < sl.n; k++)
		j_here32(j, sl.at[k]);
	j_saves(j, true, pc);
	j_mov_to(j, RDI, rm_reg(J_CTXP));
	switch (i->code) {
	case RMT_OP_APPLY:
		j_mov_imm(j, RSI, (u32)i->imm);
		j_mov_imm(j, RDX, (u16)i->off);
		j_call(j, rmt_jit_apply);
		break;
	case RMT_OP_CALLM:
		j_mov_imm(j, RSI, (u32)i->imm);
		j_call(j, rmt_jit_callm);
		reason = RMT_ABORT_MODEL_MISSING;
		break;
	case RMT_OP_MAP_LD:
		j_arg_vr(j, RDX, src);
		j_mov_imm(j, RSI, (u32)i->imm);
		j_call(j, rmt_jit_map_ld);
		reason = RMT_ABORT_MAP_INDEX;
		break;
	case RMT_OP_MAP_ST:
	case RMT_OP_MAP_ADD:
		j_arg_vr(j, RDX, dst);
		j_arg_vr(j, RCX, src);
		j_mov_imm(j, RSI, (u32)i->imm);
		j_mov_imm(j, R8, i->code == RMT_OP_MAP_ADD);
		j_call(j, rmt_jit_map_upd);
		reason = RMT_ABORT_MAP_INDEX;
		break;
	case RMT_OP_TRACE:
		j_mov_imm(j, RSI, (u32)i->imm);
		j_mov_imm(j, RDX, (u16)i->off);
		j_call(j, rmt_jit_trace);
		break;
	default:	/* CALL random */
		j_arg_vr(j, RSI, src);
		j_call(j, rmt_jit_random);
		break;
	}
	j_saves(j, false, pc);
	if (reason) {
		j_op(j, 0, false, false, 0x85, 1, RAX, rm_reg(RAX));	/* test eax, eax */
		j_check(j, CC_NE, reason, pc);
	}
	if (i->code == RMT_OP_MAP_LD)
		j_mov_to(j, RAX, rm_mem(J_CTXP, -1, RMT_JC_TMP));
	if (i->code == RMT_OP_APPLY || i->code == RMT_OP_MAP_LD || i->code == RMT_OP_CALL)
		j_mov_from(j, rm_vr(j, dst), RAX);
	if (sl.done)
		j_here32(j, sl.done);
}

/* ------------------------------------------------------------------ driver */

static void j_push(struct rmt_jit *j, int r, bool pop)
{
	if (r & 8)
		j_b(j, 0x41);
	j_b(j, (pop ? 0x58 : 0x50) | (r & 7));
}

/* Does instruction @i call C (through j_ext()'s helper calls)? */
static bool j_calls_c(const struct rmt_insn *i)
{
	if (j_ops[i->code].kind != JK_EXT)
		return false;
	return i->code != RMT_OP_CALL || i->imm == RMT_HELPER_RANDOM;
}

/* Does instruction @i need r12, the context pointer (see j_check(), j_addr(), j_ext())? */
static bool j_needs_ctxp(const struct rmt_insn *i)
{
	const struct j_op *op = &j_ops[i->code];
	u32 region = RMT_MEM_REGION(i->imm);

	switch (op->kind) {
	case JK_EXT:
		return true;
	case JK_DIVMOD:
	case JK_SHIFT:
		return !op->imm;		/* a register operand is checked at run time */
	case JK_LOAD:
	case JK_STORE:
		return RMT_MEM_LIMIT(i->imm) || region == RMT_REGION_PARAMS;
	default:
		return false;
	}
}

static bool j_callee_saved(int r)
{
	return r == RBX || r == RBP || (r >= R12 && r <= R15);
}

/*
 * Plan the frame: map the most used VM registers to x86 registers, decide
 * which of r12..r14 the program needs and which callee-saved registers to
 * save.  Returns the set of VM registers the program names.
 */
static u32 j_plan(struct rmt_jit *j, const struct rmt_prog *p)
{
	u32 uses[RMT_NUM_REGS] = { 0 }, used = 0, pc;
	bool calls = false, scratch = false, ctx = false, slots = false;
	const u8 *pool;
	int v, k, best;

	j->has_ctxp = false;
	for (pc = 0; pc < p->hdr.ninsns; pc++) {
		const struct rmt_insn *i = &p->insns[pc];
		u32 kind = j_ops[i->code].kind;

		uses[RMT_INSN_DST(i)]++;
		uses[RMT_INSN_SRC(i)]++;
		calls |= j_calls_c(i);
		j->has_ctxp |= j_needs_ctxp(i);
		if (kind == JK_LOAD || kind == JK_STORE) {
			/* MIN and MOUT are addressed from the scratch base too */
			scratch |= RMT_MEM_REGION(i->imm) != RMT_REGION_CTX &&
				   RMT_MEM_REGION(i->imm) != RMT_REGION_PARAMS;
			ctx |= RMT_MEM_REGION(i->imm) == RMT_REGION_CTX;
		}
		/* APPLY and TRACE read scratch through the context pointer, not r13 */
		scratch |= i->code == RMT_OP_CALLM;	/* j_callm(): MIN and MOUT */
	}
	pool = calls ? rmt_jit_pool : rmt_jit_pool_leaf;
	for (v = 0; v < RMT_NUM_REGS; v++) {
		j->phys[v] = -1;
		if (uses[v])
			used |= 1u << v;
	}
	for (k = 0; k < J_NPHYS; k++) {
		best = -1;
		for (v = 0; v < RMT_NUM_REGS; v++)
			if (j->phys[v] < 0 && uses[v] && (best < 0 || uses[v] > uses[best]))
				best = v;
		if (best < 0)
			break;
		j->phys[best] = pool[k];
	}
	j->npushed = 0;
	for (k = 0; k < J_NPHYS; k++) {
		for (v = 0; v < RMT_NUM_REGS; v++)
			if (j->phys[v] == pool[k] && j_callee_saved(pool[k]))
				j->pushed[j->npushed++] = pool[k];
	}
	if (j->has_ctxp)
		j->pushed[j->npushed++] = J_CTXP;
	if (scratch)
		j->pushed[j->npushed++] = J_SCRATCH;
	if (ctx)
		j->pushed[j->npushed++] = J_CTX;
	for (v = 0; v < RMT_NUM_REGS; v++)
		slots |= uses[v] && j->phys[v] < 0;
	j->frame = 0;
	if (slots || calls) {
		/* at a call rsp is 16-byte aligned: return address + pushes + frame */
		j->frame = J_SLOTS;
		if ((8 + 8 * j->npushed + j->frame) % 16)
			j->frame += 8;
	}
	return used;
}

static void j_prologue(struct rmt_jit *j, u32 used)
{
	int k, v;

	j_u32(j, 0xfa1e0ff3);		/* endbr64: a valid indirect-call target */
	for (k = 0; k < j->npushed; k++)
		j_push(j, j->pushed[k], false);
	if (j->frame) {
		j_op(j, 0, true, false, 0x81, 1, 5, rm_reg(RSP));	/* sub rsp, frame */
		j_u32(j, j->frame);
	}
	/* through rdi, which the leaf pool may hand to a VM register below */
	for (k = 0; k < j->npushed; k++) {
		if (j->pushed[k] == J_CTXP)
			j_mov_to(j, J_CTXP, rm_reg(RDI));
		else if (j->pushed[k] == J_SCRATCH)
			j_mov_to(j, J_SCRATCH, rm_mem(RDI, -1, RMT_JC_SCRATCH));
		else if (j->pushed[k] == J_CTX)
			j_mov_to(j, J_CTX, rm_mem(RDI, -1, RMT_JC_CTX));
	}
	/* Registers start at 0 (only those the program names). */
	for (v = 0; v < RMT_NUM_REGS; v++) {
		if (!(used & (1u << v)))
			continue;
		if (j->phys[v] >= 0) {
			j_op(j, 0, false, false, 0x31, 1, j->phys[v], rm_reg(j->phys[v]));
		} else {
			j_op(j, 0, true, false, 0xc7, 1, 0, rm_vr(j, v));
			j_u32(j, 0);
		}
	}
}

static void j_epilogue(struct rmt_jit *j)
{
	int k;

	j->epilogue = j->len;
	if (j->frame) {
		j_op(j, 0, true, false, 0x81, 1, 0, rm_reg(RSP));	/* add rsp, frame */
		j_u32(j, j->frame);
	}
	for (k = j->npushed - 1; k >= 0; k--)
		j_push(j, j->pushed[k], true);
	j_b(j, 0xc3);
}

static void j_insn(struct rmt_jit *j, const struct rmt_insn *i, u32 pc)
{
	const struct j_op *op = &j_ops[i->code];

	switch (op->kind) {
	case JK_ALU:
	case JK_MOV:
	case JK_MUL:
	case JK_SHIFT:
	case JK_DIVMOD:
		j_alu(j, i, op, pc);
		return;
	case JK_NEG:
	case JK_ZEXT:
	case JK_SEXT:
	case JK_LDHI:
		j_unary(j, i, op);
		return;
	case JK_JA:
	case JK_JCC:
		j_branch(j, i, op, pc);
		return;
	case JK_LOAD:
	case JK_STORE:
		j_mem(j, i, op, pc);
		return;
	case JK_EXT:
		j_ext(j, i, pc);
		return;
	case JK_EXIT:
		j_mov_to(j, RAX, rm_vr(j, RMT_INSN_SRC(i)));
		j_b(j, 0xe9);
		j_u32(j, j->epilogue - (j->len + 4));
		return;
	}
}

/*
 * Instructions that write r[dst] without reading it: a register that one of
 * these writes before anything reads it is dead until then.  Every other
 * instruction counts as reading both registers it names (never wrong: a
 * register thought live is only saved around a call for nothing).
 */
static bool j_only_writes_dst(const struct rmt_insn *i)
{
	u32 kind = j_ops[i->code].kind;

	return kind == JK_MOV || kind == JK_LOAD || i->code == RMT_OP_APPLY ||
	       i->code == RMT_OP_MAP_LD || i->code == RMT_OP_CALL;
}

/* The VM registers live before instruction @i, from @out, those live after it. */
static u32 j_live_in(const struct rmt_insn *i, u32 out)
{
	u32 dst = 1u << RMT_INSN_DST(i), src = 1u << RMT_INSN_SRC(i);

	if (j_only_writes_dst(i))
		return (out & ~dst) | src;
	return out | dst | src;
}

/*
 * j->live[pc]: the VM registers that may be read after instruction pc before
 * being written (backward dataflow to a fixed point), so that a helper call
 * saves and reloads only those (j_saves()).  An abort reads none.
 */
static void j_liveness(struct rmt_jit *j, const struct rmt_prog *p)
{
	u32 n = p->hdr.ninsns, pc, out, t;
	bool changed = true;

	for (pc = 0; pc < n; pc++)
		j->live[pc] = 0;
	while (changed) {
		changed = false;
		for (pc = n; pc-- > 0;) {
			const struct rmt_insn *i = &p->insns[pc];
			u32 kind = j_ops[i->code].kind;

			out = 0;
			if (kind == JK_JA || kind == JK_JCC) {
				t = pc + 1 + i->off;
				if (t < n)
					out |= j_live_in(&p->insns[t], j->live[t]);
			}
			if (kind != JK_JA && kind != JK_EXIT && pc + 1 < n)
				out |= j_live_in(&p->insns[pc + 1], j->live[pc + 1]);
			if (out != j->live[pc]) {
				j->live[pc] = out;
				changed = true;
			}
		}
	}
}

/* Does every instruction of @p have a translation?  (Not so: the interpreter runs it.) */
static bool j_translatable(const struct rmt_prog *p)
{
	u32 pc;

	for (pc = 0; pc < p->hdr.ninsns; pc++)
		if (j_ops[p->insns[pc].code].kind == JK_INTERP_ONLY)
			return false;
	return true;
}

/* Emit the whole program into @j->buf; 0, or -E2BIG if it did not fit. */
static int j_emit(struct rmt_jit *j, const struct rmt_prog *p)
{
	u32 n = p->hdr.ninsns, pc, k, abort_common;

	j->prog = p;
	j_liveness(j, p);
	j_prologue(j, j_plan(j, p));
	/* The epilogue goes first so that EXIT can jump back to it. */
	k = j_jmp8(j, 0xeb);
	j_epilogue(j);
	j_here8(j, k);
	for (pc = 0; pc < n; pc++) {
		j->pc_off[pc] = j->len;
		j_insn(j, &p->insns[pc], pc);
		if (j->len > j->cap)
			return -E2BIG;
	}
	abort_common = j->len;
	j_mov_imm(j, RAX, (u64)RMT_DECISION_DEFAULT);
	j_b(j, 0xe9);
	j_u32(j, j->epilogue - (j->len + 4));
	for (k = 0; k < j->nstubs; k++) {
		u32 at = j->len;

		j_op(j, 0, false, false, 0xc7, 1, 0, rm_mem(J_CTXP, -1, RMT_JC_ABORT));
		j_u32(j, j->stubs[k].reason);
		j_op(j, 0, false, false, 0xc7, 1, 0, rm_mem(J_CTXP, -1, RMT_JC_ABORT_PC));
		j_u32(j, j->stubs[k].pc);
		j_b(j, 0xe9);
		j_u32(j, abort_common - (j->len + 4));
		j->stubs[k].pc = at;	/* from now on: where the stub starts */
	}
	if (j->len > j->cap)
		return -E2BIG;
	/* j_plan() and the code disagree: a bug here, never wrong code (the interpreter runs it) */
	if (WARN_ON_ONCE(j->used_ctxp && !j->has_ctxp))
		return -EINVAL;
	for (k = 0; k < j->nfix; k++) {
		const struct rmt_jit_fixup *f = &j->fix[k];
		u32 to = f->stub ? j->stubs[f->target].pc : j->pc_off[f->target];
		u32 rel = to - (f->pos + 4);

		memcpy(j->buf + f->pos, &rel, 4);
	}
	return 0;
}

/* ------------------------------------------------------- executable memory */

bool rmt_jit_supported(void)
{
	return RMT_JIT_HAVE_EXEC;
}

#if RMT_JIT_HAVE_EXEC
/* Map RW, copy, then RX: the code is never writable and executable at once. */
static void *rmt_jit_exec_alloc(const u8 *code, size_t len, size_t *size)
{
	size_t sz = (len + 4095) & ~(size_t)4095;
	void *mem;

	/* Counted like any allocation, so fault injection reaches this path too. */
	if (rmt_alloc_inject())
		return NULL;
	mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	memcpy(mem, code, len);
	if (mprotect(mem, sz, PROT_READ | PROT_EXEC)) {
		munmap(mem, sz);
		return NULL;
	}
	rmt_alloc_track(mem);
	*size = sz;
	return mem;
}

static void rmt_jit_exec_free(void *mem, size_t size)
{
	rmt_alloc_untrack(mem);
	munmap(mem, size);
}
#else
static void *rmt_jit_exec_alloc(const u8 *code, size_t len, size_t *size)
{
	return NULL;
}

static void rmt_jit_exec_free(void *mem, size_t size)
{
}
#endif

int rmt_jit_compile(struct rmt_inst *in)
{
	const struct rmt_prog *p = in->prog;
	struct rmt_jit j = { .in = in };
	u32 n = p->hdr.ninsns;
	void *mem = NULL;
	size_t size = 0;
	int rc = -ENOMEM;

#ifdef __KERNEL__
	/* rmt.ko: the kernel's BPF JIT compiles it (rmt_kmod_jit.c). */
	return rmt_kjit_compile(in);
#endif
	if (!rmt_jit_supported() || !j_translatable(p))
		return -EOPNOTSUPP;
	j.cap = 512 + n * (J_MAX_INSN + J_STUB);
	j.buf = rmt_kvmalloc(j.cap, GFP_KERNEL);
	/* n <= RMT_ISA_MAX_INSNS (validated): these products cannot overflow. */
	/* pc_off and live: one allocation, as the allocation-failure tests count them */
	j.pc_off = rmt_kvmalloc(2 * (n + 1) * sizeof(*j.pc_off), GFP_KERNEL);
	j.live = j.pc_off ? j.pc_off + n + 1 : NULL;
	j.fix = rmt_kvmalloc((n + 1) * sizeof(*j.fix), GFP_KERNEL);
	j.stubs = rmt_kvmalloc((n + 1) * sizeof(*j.stubs), GFP_KERNEL);
	if (j.buf && j.pc_off && j.fix && j.stubs) {
		rc = j_emit(&j, p);
		if (!rc) {
			mem = rmt_jit_exec_alloc(j.buf, j.len, &size);
			rc = mem ? 0 : -ENOMEM;
		}
	}
	rmt_kvfree(j.buf);
	rmt_kvfree(j.pc_off);
	rmt_kvfree(j.fix);
	rmt_kvfree(j.stubs);
	if (rc)
		return rc;
	in->native_mem = mem;
	in->native_size = size;
	in->native = (rmt_jit_fn)mem;
	in->engine = RMT_ENGINE_JIT;
	return 0;
}

void rmt_jit_free(struct rmt_inst *in)
{
#ifdef __KERNEL__
	rmt_kjit_free(in);
#endif
	if (in->native_mem)
		rmt_jit_exec_free(in->native_mem, in->native_size);
	in->native_mem = NULL;
	in->native = NULL;
	in->engine = RMT_ENGINE_INTERP;
}

/* ------------------------------------------------------------- run, helpers */

static struct rmt_pcpu_stats *rmt_jit_stats(struct rmt_jit_ctx *jc)
{
	struct rmt_inst *in = jc->in;

	return (struct rmt_pcpu_stats *)(in->stats_mem + (size_t)jc->cpu * in->stats_stride);
}

u64 rmt_jit_apply(struct rmt_jit_ctx *jc, u32 table, u32 off)
{
	struct rmt_inst *in = jc->in;
	u64 key[RMT_MAX_KEYS];
	const u8 *params;
	u16 action;

	memcpy(key, jc->scratch + off, 8 * in->prog->tables[table].nkeys);
	rmt_table_lookup(rcu_dereference(in->tables[table]), key, &action, &params);
	rmt_frame_params_set(in, jc->cpu, table, params);
	return action;
}

int rmt_jit_callm(struct rmt_jit_ctx *jc, u32 model)
{
	struct rmt_inst *in = jc->in;
	u64 ov = 0;
	int rc;

	rc = rmt_mif_infer(&in->models[model], jc->min[model], jc->mout[model], &ov);
	if (ov)
		rmt_jit_stats(jc)->model_overflows += ov;
	if (rc)
		return 1;
	if (unlikely(rmt_model_has_cand(&in->models[model].slot)))
		rmt_callm_cand(in, model, jc->min[model], jc->mout[model], jc->cpu, jc->now);
	return 0;
}

void rmt_jit_callm_rest(struct rmt_jit_ctx *jc, u32 model)
{
	struct rmt_inst *in = jc->in;

	if (jc->tmp)
		rmt_jit_stats(jc)->model_overflows += jc->tmp;
	if (unlikely(rmt_model_has_cand(&in->models[model].slot)))
		rmt_callm_cand(in, model, jc->min[model], jc->mout[model], jc->cpu, jc->now);
}

int rmt_jit_map_ld(struct rmt_jit_ctx *jc, u32 map, u64 key)
{
	return rmt_map_load(jc->in->maps[map], key, jc->cpu, &jc->tmp) ? 1 : 0;
}

int rmt_jit_map_upd(struct rmt_jit_ctx *jc, u32 map, u64 key, u64 val, u32 add)
{
	int rc = rmt_map_update(jc->in->maps[map], key, val, jc->cpu, add);

	if (rc == -ERANGE)
		return 1;
	if (rc)
		rmt_jit_stats(jc)->map_drops++;
	return 0;
}

void rmt_jit_trace(struct rmt_jit_ctx *jc, u32 fmt, u32 off)
{
	struct rmt_inst *in = jc->in;

	if (rmt_ring_push_vals(in->ring, fmt, jc->cpu, jc->now, jc->scratch + off,
			       in->prog->traces[fmt].nfields))
		rmt_jit_stats(jc)->trace_drops++;
}

u64 rmt_jit_random(struct rmt_jit_ctx *jc, u64 n)
{
	return n ? rmt_xorshift(&jc->in->rng) % n : 0;
}
