// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_validate.c: the load-time checks that make a parsed program safe to run.
 *
 * Mirrors semantics/validate.py check for check and in the same order, with
 * the same "pc N: <reason>: <detail>" messages; the reason keywords are the
 * contract with the Python validator and the VM test cases.  Together with
 * the interpreter's run-time checks (indexed accesses, register divisors and
 * shifts, map indexes) this keeps the kernel safe whatever userspace sends.
 */
#include "rmt_loader.h"
#include "rmt_alloc.h"

/* Per opcode: format, or 0xff for an unknown opcode (the whitelist). */
static const u8 rmt_op_fmt[256] = {
	[0 ... 255] = 0xff,
#define RMT_X_FMT(name, code, fmt, cost) [code] = RMT_FMT_##fmt,
	RMT_OPCODES(RMT_X_FMT)
#undef RMT_X_FMT
};

static const char * const rmt_op_names[256] = {
#define RMT_X_NAME(name, code, fmt, cost) [code] = #name,
	RMT_OPCODES(RMT_X_NAME)
#undef RMT_X_NAME
};

/* Access size of memory opcodes. */
static const u8 rmt_op_memsize[256] = {
#define RMT_X_MEMSIZE(name, size, sgn, st) [RMT_OP_##name] = size,
	RMT_MEMOPS(RMT_X_MEMSIZE)
#undef RMT_X_MEMSIZE
};

static const u8 rmt_helper_nargs[RMT_HELPER_MAX + 1] = {
#define RMT_X_HNARGS(name, id, nargs, cost) [id] = nargs,
	RMT_HELPERS(RMT_X_HNARGS)
#undef RMT_X_HNARGS
};

static const char * const rmt_helper_names[RMT_HELPER_MAX + 1] = {
#define RMT_X_HNAME(name, id, nargs, cost) [id] = #name,
	RMT_HELPERS(RMT_X_HNAME)
#undef RMT_X_HNAME
};

static const char * const rmt_region_names[RMT_NR_REGIONS] = {
	"CTX", "SCRATCH", "PARAMS", "MIN", "MOUT",
};

/* Fields each format uses (generated from contract/isa.py FMT_USES). */
static const u8 rmt_fmt_uses[] = RMT_FMT_USES_INIT;

struct rmt_vctx {
	const struct rmt_prog *p;
	char *err;
	size_t errlen;
	u32 pc;
};

#define REJECT(v, reason, fmt, ...) \
	rmt_errf((v)->err, (v)->errlen, -EINVAL, "pc %u: " reason ": " fmt, (v)->pc, \
		 ##__VA_ARGS__)

/* The context field holding all of [off, off + extent), or NULL. */
static const struct rmt_ctx_field *rmt_ctx_field_at(const struct rmt_hook_desc *h,
						    s64 off, s64 extent)
{
	u32 i;

	for (i = 0; i < h->nfields; i++) {
		const struct rmt_ctx_field *f = &h->fields[i];

		if (f->offset <= off && off + extent <= (s64)f->offset + f->size)
			return f;
	}
	return NULL;
}

static int rmt_check_mem(struct rmt_vctx *v, const struct rmt_insn *i, bool store)
{
	const struct rmt_prog *p = v->p;
	u32 region = RMT_MEM_REGION(i->imm), obj = RMT_MEM_OBJ(i->imm);
	u32 limit = RMT_MEM_LIMIT(i->imm), size = rmt_op_memsize[i->code];
	const struct rmt_ctx_field *f;
	s64 extent, rsize;

	if (region >= RMT_NR_REGIONS)
		return REJECT(v, "unknown region", "region %u", region);
	if ((region == RMT_REGION_CTX || region == RMT_REGION_SCRATCH) && obj)
		return REJECT(v, "reserved field", "object byte %u on a %s operand", obj,
			      rmt_region_names[region]);
	if (!limit && RMT_INSN_SRC(i))
		return REJECT(v, "reserved field", "src set on a constant-address access");
	if (limit && limit < size)
		return REJECT(v, "limit smaller than size", "limit %u < size %u", limit, size);
	extent = limit > size ? limit : size;
	rsize = rmt_prog_region_size(p, region, obj);
	if (rsize < 0) {
		if (region == RMT_REGION_PARAMS)
			return REJECT(v, "bad table", "PARAMS of table %u, the program has %u",
				      obj, p->ntables);
		return REJECT(v, "bad model", "%s of model %u, the program has %u",
			      rmt_region_names[region], obj, p->nmodels);
	}
	if (i->off < 0 || i->off + extent > rsize)
		return REJECT(v, "out of bounds", "[%d, %lld) outside the %lld-byte %s region",
			      i->off, (long long)(i->off + extent), (long long)rsize,
			      rmt_region_names[region]);
	if (store && region == RMT_REGION_PARAMS)
		return REJECT(v, "read-only region", "stores to PARAMS are not allowed");
	if (region == RMT_REGION_CTX) {
		f = rmt_ctx_field_at(p->hook, i->off, extent);
		if (!f)
			return REJECT(v, "ctx field", "[%d, %lld) is not inside one context field",
				      i->off, (long long)(i->off + extent));
		if (!(f->access == RMT_ACCESS_RW || (!store && f->access == RMT_ACCESS_R)))
			return REJECT(v, "ctx permission", "%s field '%s' (access %s)",
				      store ? "write to" : "read of", f->name,
				      f->access == RMT_ACCESS_RW ? "rw" :
				      f->access == RMT_ACCESS_R ? "r" : "none");
	}
	return 0;
}

static int rmt_check_insn(struct rmt_vctx *v, const struct rmt_insn *i)
{
	const struct rmt_prog *p = v->p;
	u32 n = p->hdr.ninsns, fmt = rmt_op_fmt[i->code], uses;
	const char *name = rmt_op_names[i->code];
	s64 end;

	if (fmt == 0xff)
		return REJECT(v, "unknown opcode", "0x%02x", i->code);
	uses = rmt_fmt_uses[fmt];
	if (fmt == RMT_FMT_CALL && i->imm > 0 && i->imm <= RMT_HELPER_MAX &&
	    rmt_helper_names[i->imm] && rmt_helper_nargs[i->imm] == 0)
		uses = RMT_CALL0_USES;
	if (!(uses & RMT_USES_DST) && RMT_INSN_DST(i))
		return REJECT(v, "reserved field", "dst is %u in %s", RMT_INSN_DST(i), name);
	if (!(uses & RMT_USES_SRC) && RMT_INSN_SRC(i))
		return REJECT(v, "reserved field", "src is %u in %s", RMT_INSN_SRC(i), name);
	if (!(uses & RMT_USES_OFF) && i->off)
		return REJECT(v, "reserved field", "off is %d in %s", i->off, name);
	if (!(uses & RMT_USES_IMM) && i->imm)
		return REJECT(v, "reserved field", "imm is %d in %s", i->imm, name);

	switch (fmt) {
	case RMT_FMT_JA:
	case RMT_FMT_JMP_R:
	case RMT_FMT_JMP_I:
		if (i->off < 0)
			return REJECT(v, "backward jump", "offset %d", i->off);
		if ((u64)v->pc + 1 + i->off >= n)
			return REJECT(v, "jump out of range", "target %u, the program has %u instructions",
				      v->pc + 1 + i->off, n);
		return 0;
	case RMT_FMT_ALU_I:
		if ((i->code == RMT_OP_SHL_I || i->code == RMT_OP_SHR_I || i->code == RMT_OP_SAR_I) &&
		    (i->imm < 0 || i->imm > 63))
			return REJECT(v, "bad shift", "%s by %d", name, i->imm);
		if ((i->code == RMT_OP_DIV_I || i->code == RMT_OP_SDIV_I ||
		     i->code == RMT_OP_MOD_I || i->code == RMT_OP_SMOD_I) && !i->imm)
			return REJECT(v, "division by zero", "%s by immediate 0", name);
		return 0;
	case RMT_FMT_EXT:
		if (i->imm != 8 && i->imm != 16 && i->imm != 32)
			return REJECT(v, "bad extension width", "%s %d", name, i->imm);
		return 0;
	case RMT_FMT_LOAD:
	case RMT_FMT_STORE:
		return rmt_check_mem(v, i, fmt == RMT_FMT_STORE);
	case RMT_FMT_APPLY:
		if (i->imm < 0 || (u32)i->imm >= p->ntables)
			return REJECT(v, "bad table", "table %d, the program has %u", i->imm,
				      p->ntables);
		end = (s64)i->off + 8 * p->tables[i->imm].nkeys;
		if (i->off < 0 || end > p->hdr.scratch_size)
			return REJECT(v, "key outside scratch", "key [%d, %lld) outside the %u-byte scratch",
				      i->off, (long long)end, p->hdr.scratch_size);
		return 0;
	case RMT_FMT_CALLM:
		if (i->imm < 0 || (u32)i->imm >= p->nmodels)
			return REJECT(v, "bad model", "model %d, the program has %u", i->imm,
				      p->nmodels);
		return 0;
	case RMT_FMT_MAP_LD:
	case RMT_FMT_MAP_ST:
		if (i->imm < 0 || (u32)i->imm >= p->nmaps)
			return REJECT(v, "bad map", "map %d, the program has %u", i->imm, p->nmaps);
		return 0;
	case RMT_FMT_TRACE:
		if (i->imm < 0 || (u32)i->imm >= p->ntraces)
			return REJECT(v, "bad trace format", "format %d, the program has %u", i->imm,
				      p->ntraces);
		end = (s64)i->off + 8 * p->traces[i->imm].nfields;
		if (i->off < 0 || end > p->hdr.scratch_size)
			return REJECT(v, "record outside scratch", "record [%d, %lld) outside the %u-byte scratch",
				      i->off, (long long)end, p->hdr.scratch_size);
		return 0;
	case RMT_FMT_CALL:
		if (i->imm <= 0 || i->imm > RMT_HELPER_MAX || !rmt_helper_names[i->imm])
			return REJECT(v, "unknown helper", "helper id %d", i->imm);
		if (!(p->hook->helper_mask & (1u << i->imm)))
			return REJECT(v, "helper not allowed", "%s at hook %s",
				      rmt_helper_names[i->imm], p->hook->name);
		return 0;
	}
	return 0;
}

int rmt_prog_validate(const struct rmt_prog *p, char *err, size_t errlen)
{
	struct rmt_vctx v = { .p = p, .err = err, .errlen = errlen };
	u32 n = p->hdr.ninsns, t, k, nlpm;
	int rc;

	if (n < 1 || n > RMT_MAX_INSNS || p->hdr.scratch_size > RMT_MAX_SCRATCH)
		return rmt_errf(err, errlen, -EINVAL,
				"program: program size: %u instructions, scratch %u bytes", n,
				p->hdr.scratch_size);
	for (v.pc = 0; v.pc < n; v.pc++) {
		rc = rmt_check_insn(&v, &p->insns[v.pc]);
		if (rc)
			return rc;
	}
	for (t = 0; t < p->ntables; t++) {
		const struct rmt_rec_table *tb = &p->tables[t];

		for (k = 0, nlpm = 0; k < tb->nkeys; k++)
			nlpm += p->keys[tb->key_first + k].kind == RMT_MATCH_LPM;
		if (nlpm > 1)
			return rmt_errf(err, errlen, -EINVAL, "table %s: lpm keys: more than one lpm key",
					rmt_prog_string(p, tb->name));
	}
	if (rmt_op_fmt[p->insns[n - 1].code] != RMT_FMT_EXIT)
		return rmt_errf(err, errlen, -EINVAL, "pc %u: no exit at end: last instruction is %s",
				n - 1, rmt_op_names[p->insns[n - 1].code]);
	return 0;
}

/*
 * ---------------------------------------------------------------- zero plan
 *
 * The semantics promise a run zeroed scratch, MIN, MOUT and registers.  A
 * byte the code always writes before it reads it needs no zeroing: no path
 * can see what an earlier run (or another task on this CPU) left there.
 * rmt_prog_plan_zero() finds, for the validated code, the bytes and
 * registers some path may read first; the run zeroes only those.
 *
 * The state at a pc is what every path to it has written: a bitmap of the
 * zeroed area (one bit per byte) and a register mask.  Jumps go forward only,
 * so one pass in pc order meets every edge into a pc before the pc itself; a
 * jump target's state is the intersection over its incoming edges, kept in a
 * pool slot from the first jump to it until the pass reaches it.
 *
 * Conservative where the code is not exact: an indexed (variable-offset)
 * read reads its whole bounded range, an indexed write writes nothing, and
 * contexts and PARAMS are never zeroed (they are not part of the area).
 */

/* Pool limit: past it the plan is "zero everything", as before the analysis. */
#define RMT_ZPLAN_MAX_BYTES (4u << 20)
#define RMT_ZPLAN_REACHED (1ull << 32)

struct rmt_zplan {
	const struct rmt_prog *p;
	u32 words;		/* bitmap words of the zeroed area */
	u64 *cur;		/* word 0: reached flag and registers; then the bitmap */
	u64 *need;		/* word 0: registers; then the bytes to zero */
};

/* Set [@lo, @hi) in @dst, or only the bits of it clear in @cur when @cur. */
static void rmt_zplan_range(u64 *dst, const u64 *cur, u32 lo, u32 hi)
{
	u32 w;
	u64 m;

	for (w = lo / 64; w * 64 < hi; w++) {
		m = ~0ull;
		if (w == lo / 64)
			m &= ~0ull << (lo % 64);
		if ((w + 1) * 64 > hi)
			m &= ~0ull >> (64 - hi % 64);
		dst[w] |= cur ? m & ~cur[w] : m;
	}
}

/* The area offset of region @region's object @obj, or -1 if it is not zeroed. */
static s64 rmt_zplan_base(const struct rmt_prog *p, u32 region, u32 obj)
{
	if (region == RMT_REGION_SCRATCH)
		return 0;
	if (region == RMT_REGION_MIN || region == RMT_REGION_MOUT)
		return rmt_model_io_offset(p, obj, region == RMT_REGION_MOUT);
	return -1;
}

static void rmt_zplan_read(struct rmt_zplan *z, s64 base, u32 off, u32 len)
{
	if (base >= 0 && len)
		rmt_zplan_range(z->need + 1, z->cur + 1, base + off, base + off + len);
}

static void rmt_zplan_write(struct rmt_zplan *z, s64 base, u32 off, u32 len)
{
	if (base >= 0 && len)
		rmt_zplan_range(z->cur + 1, NULL, base + off, base + off + len);
}

/* One validated instruction: its reads against the state, then its writes. */
static void rmt_zplan_insn(struct rmt_zplan *z, const struct rmt_insn *i)
{
	const struct rmt_prog *p = z->p;
	u32 fmt = rmt_op_fmt[i->code], limit = RMT_MEM_LIMIT(i->imm);
	u32 dst = 1u << RMT_INSN_DST(i), src = 1u << RMT_INSN_SRC(i), rd = 0, wr = 0;
	s64 base;

	switch (fmt) {
	case RMT_FMT_ALU_R:
		rd = src | (i->code == RMT_OP_MOV_R ? 0 : dst);
		wr = dst;
		break;
	case RMT_FMT_ALU_I:
		rd = i->code == RMT_OP_MOV_I ? 0 : dst;
		wr = dst;
		break;
	case RMT_FMT_ALU_U:
	case RMT_FMT_EXT:
		rd = dst;
		wr = dst;
		break;
	case RMT_FMT_JMP_R:
		rd = dst | src;
		break;
	case RMT_FMT_JMP_I:
		rd = dst;
		break;
	case RMT_FMT_LOAD:
	case RMT_FMT_STORE:
		base = rmt_zplan_base(p, RMT_MEM_REGION(i->imm), RMT_MEM_OBJ(i->imm));
		if (limit)
			rd = src;
		if (fmt == RMT_FMT_LOAD) {
			wr = dst;
			rmt_zplan_read(z, base, i->off, limit ? limit : rmt_op_memsize[i->code]);
		} else {
			rd |= dst;
			if (!limit)	/* an indexed store may write anywhere in its range */
				rmt_zplan_write(z, base, i->off, rmt_op_memsize[i->code]);
		}
		break;
	case RMT_FMT_APPLY:
		rmt_zplan_read(z, 0, i->off, 8 * p->tables[i->imm].nkeys);
		wr = dst;
		break;
	case RMT_FMT_CALLM:
		/*
		 * The model reads all its inputs and, when it succeeds, writes all
		 * its outputs (weights are checked to the signature's n_out at
		 * load); when it fails the run aborts and reads nothing more.
		 */
		rmt_zplan_read(z, rmt_model_io_offset(p, i->imm, false), 0,
			       4 * p->models[i->imm].n_in);
		rmt_zplan_write(z, rmt_model_io_offset(p, i->imm, true), 0,
				4 * p->models[i->imm].n_out);
		break;
	case RMT_FMT_MAP_LD:
		rd = src;
		wr = dst;
		break;
	case RMT_FMT_MAP_ST:
		rd = dst | src;
		break;
	case RMT_FMT_TRACE:
		rmt_zplan_read(z, 0, i->off, 8 * p->traces[i->imm].nfields);
		break;
	case RMT_FMT_CALL:
		rd = rmt_helper_nargs[i->imm] ? src : 0;
		wr = dst;
		break;
	case RMT_FMT_EXIT:
		rd = src;
		break;
	}
	z->need[0] |= rd & ~z->cur[0];
	z->cur[0] |= wr;
}

/* The state at a jump target: the first edge's, then the intersection. */
static void rmt_zplan_join(u64 *slot, const u64 *cur, u32 stride)
{
	u32 w;

	if (!(slot[0] & RMT_ZPLAN_REACHED)) {
		memcpy(slot, cur, stride * sizeof(u64));
		return;
	}
	for (w = 0; w < stride; w++)
		slot[w] &= cur[w];
}

/* Size of the zeroed area: rmt_frames_alloc()'s layout. */
static u32 rmt_zplan_area(const struct rmt_prog *p)
{
	return p->nmodels ? rmt_model_io_offset(p, p->nmodels - 1, true) +
			    4 * p->models[p->nmodels - 1].n_out :
			    (p->hdr.scratch_size + 7) & ~7u;
}

int rmt_prog_plan_zero(struct rmt_prog *p)
{
	u32 n = p->hdr.ninsns, area = rmt_zplan_area(p), pc, t, w, cap, nfree;
	u32 words = (area + 63) / 64, stride = words + 1;
	u32 *slot_of = NULL, *free_slots = NULL;
	struct rmt_zplan z = { .p = p, .words = words };
	u64 *pool = NULL, *s;
	bool live = true;
	int rc = -ENOMEM;

	/* the plan if the analysis gives up: everything, as the semantics say */
	p->zero_lo = 0;
	p->zero_hi = area;
	p->zero_regs = (1u << RMT_NUM_REGS) - 1;

	for (pc = 0, cap = 0; pc < n; pc++)
		cap += rmt_op_fmt[p->insns[pc].code] >= RMT_FMT_JA &&
		       rmt_op_fmt[p->insns[pc].code] <= RMT_FMT_JMP_I;
	cap = min_t(u64, cap, RMT_ZPLAN_MAX_BYTES / (stride * sizeof(u64)));
	slot_of = rmt_kvcalloc(n, sizeof(*slot_of), GFP_KERNEL);
	free_slots = rmt_kvcalloc(cap + 1, sizeof(*free_slots), GFP_KERNEL);
	pool = rmt_kvcalloc((size_t)(cap + 2) * stride, sizeof(u64), GFP_KERNEL);
	if (!slot_of || !free_slots || !pool)
		goto out;
	rc = 0;
	z.cur = pool + (size_t)cap * stride;
	z.need = z.cur + stride;
	z.cur[0] = RMT_ZPLAN_REACHED;
	for (nfree = 0; nfree < cap; nfree++)
		free_slots[nfree] = cap - nfree;	/* slot numbers 1..cap */

	for (pc = 0; pc < n; pc++) {
		const struct rmt_insn *i = &p->insns[pc];
		u32 fmt = rmt_op_fmt[i->code];

		if (slot_of[pc]) {
			s = pool + (size_t)(slot_of[pc] - 1) * stride;
			if (live)
				rmt_zplan_join(s, z.cur, stride);
			memcpy(z.cur, s, stride * sizeof(u64));
			free_slots[nfree++] = slot_of[pc];
			live = true;
		}
		if (!live)
			continue;	/* unreachable: reads nothing at run time */
		rmt_zplan_insn(&z, i);
		if (fmt == RMT_FMT_JA || fmt == RMT_FMT_JMP_R || fmt == RMT_FMT_JMP_I) {
			t = pc + 1 + i->off;
			if (!slot_of[t]) {
				if (!nfree)
					goto out;	/* too many pending targets */
				slot_of[t] = free_slots[--nfree];
				pool[(size_t)(slot_of[t] - 1) * stride] = 0;
			}
			rmt_zplan_join(pool + (size_t)(slot_of[t] - 1) * stride, z.cur, stride);
		}
		if (fmt == RMT_FMT_JA || fmt == RMT_FMT_EXIT)
			live = false;
	}

	p->zero_regs = z.need[0] & ((1u << RMT_NUM_REGS) - 1);
	p->zero_lo = area;
	p->zero_hi = 0;
	for (w = 0; w < words; w++) {
		if (!z.need[1 + w])
			continue;
		p->zero_lo = min_t(u32, p->zero_lo, w * 64 + __builtin_ctzll(z.need[1 + w]));
		p->zero_hi = w * 64 + 64 - (u32)__builtin_clzll(z.need[1 + w]);
	}
	if (p->zero_hi <= p->zero_lo)
		p->zero_lo = p->zero_hi = 0;
out:
	rmt_kvfree(pool);
	rmt_kvfree(free_slots);
	rmt_kvfree(slot_of);
	return rc;
}
