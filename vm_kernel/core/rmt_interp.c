// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_interp.c: the bytecode interpreter (docs/semantics.md).
 *
 * One body.  Each opcode of the RMT_OPCODES X-macro list has a label OP_<NAME>
 * whose code ends with CONT; dispatch jumps to the label either through a
 * table of label addresses (GCC's computed goto, as in kernel/bpf/core.c and
 * Lua's lvm.c) or through a switch built from the same list.  A missing body
 * is a compile error, so the list and the interpreter cannot drift apart.
 *
 * The validator has already checked everything static (opcodes, registers,
 * jump targets, constant addresses, ids, immediates); what remains is checked
 * here at run time: indexed accesses (one compare), register divisors and
 * shift amounts, array-map indexes, missing model weights and ilog2(0).  A
 * failed check aborts with the pc.
 */
#include "rmt_engine.h"

const u8 rmt_zero_params[RMT_MAX_PARAM_SIZE];

static __always_inline struct rmt_pcpu_stats *rmt_stats_of(struct rmt_inst *in, u32 cpu)
{
	return (struct rmt_pcpu_stats *)(in->stats_mem + (size_t)cpu * in->stats_stride);
}

static noinline int rmt_do_trace(struct rmt_inst *in, const struct rmt_insn *insn,
				 const u8 *scratch, u32 cpu, u64 now)
{
	struct rmt_trace_rec rec;

	rmt_trace_rec_init(&rec, insn->imm, cpu, now, scratch + insn->off,
			   in->prog->traces[insn->imm].nfields);
	return rmt_ring_push(in->ring, &rec);
}

static noinline u16 rmt_do_apply(struct rmt_inst *in, struct rmt_frame *fr, u32 cpu,
				 const struct rmt_insn *insn)
{
	u64 key[RMT_MAX_KEYS];
	const u8 *params;
	u16 action;
	u32 t = insn->imm;

	memcpy(key, fr->scratch + insn->off, 8 * in->prog->tables[t].nkeys);
	/* a batch update replaces the whole table (rmt_vm_table_batch()) */
	rmt_table_lookup(rcu_dereference(in->tables[t]), key, &action, &params);
	rmt_frame_params_set(in, cpu, t, params);
	return action;
}

s64 rmt_interp_run(struct rmt_jit_ctx *jc)
{
#ifdef __GNUC__
	static const void * const jumptable[256] __annotate_jump_table = {
		[0 ... 255] = &&bad_insn,
#define RMT_X_LABEL(name, code, fmt, cost) [code] = &&OP_##name,
		RMT_OPCODES(RMT_X_LABEL)
#undef RMT_X_LABEL
	};
#endif
	struct rmt_frame *fr = container_of(jc, struct rmt_frame, jc);
	struct rmt_inst *in = jc->in;
	const struct rmt_insn *insn = fr->insns;
	u8 *scratch = fr->scratch, *ctx = jc->ctx;
	/*
	 * A memory operand's base is rbase[region][obj]: two loads and no
	 * branch.  CTX and SCRATCH point at one-element arrays (the validator
	 * rejects a nonzero object byte on them); PARAMS, MIN and MOUT at the
	 * frame's pointer arrays, whose object the validator checked against
	 * the program's tables and models, as it checked region < 5.  The
	 * kernel and the library build with -fno-strict-aliasing, which makes
	 * reading the s32 * and const u8 * arrays as u8 * well defined.
	 */
	u8 *const *const rbase[RMT_NR_REGIONS] = {
		[RMT_REGION_CTX] = &ctx,
		[RMT_REGION_SCRATCH] = &scratch,
		[RMT_REGION_PARAMS] = (u8 *const *)fr->params,
		[RMT_REGION_MIN] = (u8 *const *)fr->min,
		[RMT_REGION_MOUT] = (u8 *const *)fr->mout,
	};
	u32 cpu = jc->cpu;
	u64 now = jc->now;
	u64 regs[RMT_NUM_REGS];
	u32 reason, zr;
	u64 ov, v;
	int rc;

	/*
	 * Registers start at zero, but only those some path may read before
	 * writing them need it (rmt_prog_plan_zero()): usually one or none.
	 */
	for (zr = fr->zero_regs; zr; zr &= zr - 1)
		regs[__builtin_ctz(zr)] = 0;

#define DST regs[RMT_INSN_DST(insn)]
#define SRC regs[RMT_INSN_SRC(insn)]
#define IMM ((u64)(s64)insn->imm)
#define ABORT(r) do { reason = RMT_ABORT_##r; goto aborted; } while (0)

#ifdef __GNUC__
#define CONT ({ insn++; goto *jumptable[insn->code]; })
	goto *jumptable[insn->code];
#else
#define CONT ({ insn++; goto select_insn; })
select_insn:
	switch (insn->code) {
#define RMT_X_CASE(name, code, fmt, cost) case code: goto OP_##name;
	RMT_OPCODES(RMT_X_CASE)
#undef RMT_X_CASE
	default:
		goto bad_insn;
	}
#endif

	/* ALU: 64-bit, wrapping. */
#define ALU(name, op) \
	OP_##name##_R: DST = DST op SRC; CONT; \
	OP_##name##_I: DST = DST op IMM; CONT;
	ALU(ADD, +)
	ALU(SUB, -)
	ALU(MUL, *)
	ALU(AND, &)
	ALU(OR, |)
	ALU(XOR, ^)
#undef ALU
OP_MOV_R:
	DST = SRC;
	CONT;
OP_MOV_I:
	DST = IMM;
	CONT;
OP_DIV_R:
	if (unlikely(!SRC))
		ABORT(DIV_ZERO);
	DST = DST / SRC;
	CONT;
OP_DIV_I:
	DST = DST / IMM;
	CONT;
OP_MOD_R:
	if (unlikely(!SRC))
		ABORT(DIV_ZERO);
	DST = DST % SRC;
	CONT;
OP_MOD_I:
	DST = DST % IMM;
	CONT;
	/* Signed: toward zero; MIN / -1 = MIN and MIN % -1 = 0 (no trap). */
OP_SDIV_R:
	v = SRC;
	if (unlikely(!v))
		ABORT(DIV_ZERO);
	goto sdiv;
OP_SDIV_I:
	v = IMM;
sdiv:
	DST = (s64)v == -1 ? -DST : (u64)((s64)DST / (s64)v);
	CONT;
OP_SMOD_R:
	v = SRC;
	if (unlikely(!v))
		ABORT(DIV_ZERO);
	goto smod;
OP_SMOD_I:
	v = IMM;
smod:
	DST = (s64)v == -1 ? 0 : (u64)((s64)DST % (s64)v);
	CONT;
OP_SHL_R:
	if (unlikely(SRC >= 64))
		ABORT(SHIFT);
	DST = DST << SRC;
	CONT;
OP_SHL_I:
	DST = DST << insn->imm;
	CONT;
OP_SHR_R:
	if (unlikely(SRC >= 64))
		ABORT(SHIFT);
	DST = DST >> SRC;
	CONT;
OP_SHR_I:
	DST = DST >> insn->imm;
	CONT;
OP_SAR_R:
	if (unlikely(SRC >= 64))
		ABORT(SHIFT);
	DST = (u64)((s64)DST >> SRC);
	CONT;
OP_SAR_I:
	DST = (u64)((s64)DST >> insn->imm);
	CONT;
OP_NEG:
	DST = -DST;
	CONT;
OP_ZEXT:
	DST &= (1ull << insn->imm) - 1;
	CONT;
OP_SEXT:
	DST = (u64)((s64)(DST << (64 - insn->imm)) >> (64 - insn->imm));
	CONT;
OP_LDHI:
	DST = (DST & 0xffffffffull) | (u64)(u32)insn->imm << 32;
	CONT;

	/* Jumps: forward only, targets checked at load. */
OP_JA:
	insn += insn->off;
	CONT;
#define JMP(name, cmp, type) \
	OP_##name##_R: if ((type)DST cmp (type)SRC) insn += insn->off; CONT; \
	OP_##name##_I: if ((type)DST cmp (type)IMM) insn += insn->off; CONT;
	JMP(JEQ, ==, u64)
	JMP(JNE, !=, u64)
	JMP(JLT, <, u64)
	JMP(JLE, <=, u64)
	JMP(JGT, >, u64)
	JMP(JGE, >=, u64)
	JMP(JSLT, <, s64)
	JMP(JSLE, <=, s64)
	JMP(JSGT, >, s64)
	JMP(JSGE, >=, s64)
#undef JMP
OP_JSET_R:
	if (DST & SRC)
		insn += insn->off;
	CONT;
OP_JSET_I:
	if (DST & IMM)
		insn += insn->off;
	CONT;

	/*
	 * Memory.  The address is off (+ r[src] for an indexed access, after the
	 * one run-time compare); the validator proved off + max(size, limit) lies
	 * inside the region.  Memory is little-endian and unaligned.
	 */
#define MEM_ADDR(size) ({ \
	u64 __a = (u16)insn->off; \
	if ((u32)insn->imm > 0xffff) { \
		u64 __idx = SRC; \
		if (unlikely(__idx > RMT_MEM_LIMIT(insn->imm) - (size))) \
			ABORT(BOUNDS); \
		__a += __idx; \
	} \
	rbase[RMT_MEM_REGION(insn->imm)][RMT_MEM_OBJ(insn->imm)] + __a; \
})
#define LOAD(name, type, size) \
	OP_##name: { type __v; memcpy(&__v, MEM_ADDR(size), size); DST = (u64)__v; } CONT;
#define STORE(name, type, size) \
	OP_##name: { type __v = (type)DST; memcpy(MEM_ADDR(size), &__v, size); } CONT;
	LOAD(LDU8, u8, 1)
	LOAD(LDU16, u16, 2)
	LOAD(LDU32, u32, 4)
	LOAD(LD64, u64, 8)
	LOAD(LDS8, s8, 1)
	LOAD(LDS16, s16, 2)
	LOAD(LDS32, s32, 4)
	STORE(ST8, u8, 1)
	STORE(ST16, u16, 2)
	STORE(ST32, u32, 4)
	STORE(ST64, u64, 8)
#undef LOAD
#undef STORE

OP_APPLY:
	DST = rmt_do_apply(in, fr, cpu, insn);
	CONT;
OP_CALLM:
	ov = 0;
	rc = rmt_mif_infer(&in->models[insn->imm], fr->min[insn->imm], fr->mout[insn->imm], &ov);
	if (ov)
		rmt_stats_of(in, cpu)->model_overflows += ov;
	if (unlikely(rc))
		ABORT(MODEL_MISSING);
	if (unlikely(rmt_model_has_cand(&in->models[insn->imm].slot)))
		rmt_callm_cand(in, insn->imm, fr->min[insn->imm], fr->mout[insn->imm], cpu, now);
	CONT;
OP_MAP_LD:
	if (unlikely(rmt_map_load(in->maps[insn->imm], SRC, cpu, &v)))
		ABORT(MAP_INDEX);
	DST = v;
	CONT;
OP_MAP_ST:
	rc = rmt_map_update(in->maps[insn->imm], DST, SRC, cpu, false);
	goto map_done;
OP_MAP_ADD:
	rc = rmt_map_update(in->maps[insn->imm], DST, SRC, cpu, true);
map_done:
	if (unlikely(rc == -ERANGE))
		ABORT(MAP_INDEX);
	if (unlikely(rc))
		rmt_stats_of(in, cpu)->map_drops++;
	CONT;
OP_TRACE:
	if (rmt_do_trace(in, insn, scratch, cpu, now))
		rmt_stats_of(in, cpu)->trace_drops++;
	CONT;
OP_CALL:
	switch (insn->imm) {
	case RMT_HELPER_KTIME_NS:
		DST = now;
		break;
	case RMT_HELPER_CPU:
		DST = cpu;
		break;
	case RMT_HELPER_RANDOM:
		v = SRC;
		DST = v ? rmt_xorshift(&in->rng) % v : 0;
		break;
	case RMT_HELPER_ILOG2:
		if (unlikely(!SRC))
			ABORT(HELPER);
		DST = 63 - __builtin_clzll(SRC);
		break;
	default:
		goto bad_insn;
	}
	CONT;
OP_EXIT:
	return (s64)SRC;

bad_insn:
	/* Unreachable for a validated program; fail safe rather than run on. */
	WARN_ON_ONCE(1);
	reason = RMT_ABORT_BOUNDS;
aborted:
	jc->abort = reason;
	jc->abort_pc = insn - fr->insns;
	return RMT_DECISION_DEFAULT;
#undef DST
#undef SRC
#undef IMM
#undef ABORT
#undef CONT
#undef MEM_ADDR
}
