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
