// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_load.c: libFuzzer target for the loader, validator, interpreter, JIT,
 * tables, maps, models and trace ring, through the public API of
 * vm_kernel/core/rmt_vm.h.
 *
 * Input: a .rmtb object (its header's file_size says where it ends),
 * optionally followed by a script of control-plane operations and runs (the
 * "tail", see run_script()).  A raw object with no tail is a valid input: it
 * gets a default script.  The object is loaded twice, once for the
 * interpreter and once with RMT_LOAD_JIT, and every operation is applied to
 * both.  Oracles:
 *   - no sanitizer report (ASan, UBSan), no timeout;
 *   - both loads succeed or fail alike, with the same message; a failure
 *     always explains itself;
 *   - interpreter and JIT agree on every run (decision, abort, abort pc, the
 *     context after the run) and every control-plane result; at the end on
 *     counters, trace records, map contents and table entries.
 *
 * LLVMFuzzerCustomMutator keeps the container well formed (header, section
 * table, counts, sizes, 8-byte alignment) while it mutates one section's
 * records, so most mutants reach the validator and the engines instead of
 * dying at "file_size says ...".
 */
#include "rmt_vm.h"
#include "rmt_inst.h"		/* the oracle compares the two instances */
#include "fuzz_common.h"

#define ERRLEN 256
#define MAX_OPS 48
#define TRACE_CAP 16
#define DUMP_MAX 64

struct pair {
	struct rmt_vm *vm;
	int id[2];		/* [0] interpreter, [1] JIT */
	struct rmt_inst *in[2];
};

/* Split @data into the object and the tail at the header's file_size. */
static size_t obj_len(const uint8_t *data, size_t size)
{
	struct rmt_rec_obj_header h;

	if (size < sizeof(h))
		return size;
	memcpy(&h, data, sizeof(h));
	if (h.magic != RMT_OBJ_MAGIC || h.file_size < sizeof(h) || h.file_size > size)
		return size;
	return h.file_size;
}

static void same_rc(int a, int b, const char *ea, const char *eb, const char *what)
{
	FUZZ_CHECK(a == b, "%s: interpreter rc %d (%s), JIT rc %d (%s)", what, a, ea, b, eb);
	if (a < 0)
		FUZZ_CHECK(!strcmp(ea, eb), "%s: messages differ: '%s' vs '%s'", what, ea, eb);
}

static void op_table(struct pair *pr, struct fuzz_in *in)
{
	const struct rmt_prog *p = pr->in[0]->prog;
	struct rmt_entry_spec spec;
	char e0[ERRLEN] = "", e1[ERRLEN] = "";
	u32 t = fuzz_u8(in), op = fuzz_u8(in) % 3, i, nk, psize = 0;
	int r0, r1;

	/* Mostly an existing table with a well-shaped entry; sometimes not. */
	if (p->ntables && !(t & 0x80))
		t %= p->ntables;
	memset(&spec, 0, sizeof(spec));
	spec.priority = fuzz_u8(in) & 0x40 ? fuzz_u32(in) : fuzz_u8(in) & 7;
	spec.action = fuzz_u8(in);
	nk = t < p->ntables ? p->tables[t].nkeys : 1;
	spec.nkeys = fuzz_u8(in) == 0xff ? fuzz_u8(in) : nk;
	if (t < p->ntables) {
		const struct rmt_rec_table *tr = &p->tables[t];

		if (!(spec.action & 0x80))
			spec.action %= tr->nactions;
		if (spec.action < tr->nactions)
			psize = p->actions[tr->action_first + spec.action].param_size;
		if (!(spec.priority & 0x80000000u) && !(spec.action & 0x40)) {
			/* priority only where a ternary/range key allows one */
			for (i = 0; i < nk; i++)
				if (p->keys[tr->key_first + i].kind >= RMT_MATCH_TERNARY)
					break;
			if (i == nk)
				spec.priority = 0;
		}
	}
	for (i = 0; i < RMT_MAX_KEYS && i < nk; i++) {
		u32 bits = t < p->ntables ? p->keys[p->tables[t].key_first + i].bits : 64;

		spec.match[i].a = fuzz_key(in, bits);
		spec.match[i].b = fuzz_key(in, bits);
	}
	if (fuzz_u8(in) & 1)
		psize = RMT_MAX_PARAM_SIZE;	/* bytes past the action's: must be refused */
	fuzz_bytes(in, spec.params, psize < 32 ? psize : 32);
	r0 = rmt_vm_table_update(pr->vm, pr->id[0], t, op, &spec, e0, sizeof(e0));
	r1 = rmt_vm_table_update(pr->vm, pr->id[1], t, op, &spec, e1, sizeof(e1));
	fuzz_check_err(r0, e0, sizeof(e0));
	same_rc(r0, r1, e0, e1, "table update");
}

static void op_model(struct pair *pr, struct fuzz_in *in)
{
	char e0[ERRLEN] = "", e1[ERRLEN] = "";
	u32 m = fuzz_u8(in), len = fuzz_u16(in);
	const u8 *blob = in->p;
	int r0, r1;

	if (len > fuzz_left(in))
		len = fuzz_left(in);
	in->p += len;
	in->n -= len;
	if (pr->in[0]->prog->nmodels && !(m & 0x80))
		m %= pr->in[0]->prog->nmodels;
	r0 = rmt_vm_model_load(pr->vm, pr->id[0], m, blob, len, e0, sizeof(e0));
	r1 = rmt_vm_model_load(pr->vm, pr->id[1], m, blob, len, e1, sizeof(e1));
	fuzz_check_err(r0, e0, sizeof(e0));
	same_rc(r0, r1, e0, e1, "model load");
}

static void op_map(struct pair *pr, struct fuzz_in *in)
{
	char e0[ERRLEN] = "", e1[ERRLEN] = "";
	u32 m = fuzz_u8(in);
	u64 key = fuzz_key(in, 8), val = fuzz_key(in, 32);
	int r0, r1;

	if (pr->in[0]->prog->nmaps && !(m & 0x80))
		m %= pr->in[0]->prog->nmaps;
	r0 = rmt_vm_map_write(pr->vm, pr->id[0], m, key, val, e0, sizeof(e0));
	r1 = rmt_vm_map_write(pr->vm, pr->id[1], m, key, val, e1, sizeof(e1));
	fuzz_check_err(r0, e0, sizeof(e0));
	same_rc(r0, r1, e0, e1, "map write");
}

static void run_both(struct pair *pr, const u8 *ctx, u32 cpu, u64 now)
{
	u32 n = pr->in[0]->ctx_size;
	u8 c0[512], c1[512];
	struct rmt_run_result a, b;
	int r0, r1;

	FUZZ_CHECK(n <= sizeof(c0), "context of %u bytes", n);
	memcpy(c0, ctx, n);
	memcpy(c1, ctx, n);
	r0 = rmt_vm_run(pr->vm, pr->id[0], c0, n, cpu, now, &a);
	r1 = rmt_vm_run(pr->vm, pr->id[1], c1, n, cpu, now, &b);
	FUZZ_CHECK(r0 == 0 && r1 == 0, "run rc %d / %d", r0, r1);
	FUZZ_CHECK(a.decision == b.decision && a.abort == b.abort && a.abort_pc == b.abort_pc,
		   "interpreter (decision %lld, abort %u at %d) vs JIT (%lld, %u at %d)",
		   (long long)a.decision, a.abort, a.abort_pc, (long long)b.decision,
		   b.abort, b.abort_pc);
	FUZZ_CHECK(a.abort < RMT_NR_ABORTS, "abort %u", a.abort);
	FUZZ_CHECK(!a.abort || a.abort_pc >= 0, "abort %u without a pc", a.abort);
	FUZZ_CHECK(!memcmp(c0, c1, n), "contexts differ after the run");
}

static void op_run(struct pair *pr, struct fuzz_in *in)
{
	u8 ctx[512];
	u32 cpu = fuzz_u8(in) % RMT_NR_CPUS;
	u64 now = fuzz_u64(in);

	fuzz_bytes(in, ctx, pr->in[0]->ctx_size);
	run_both(pr, ctx, cpu, now);
}

/* The default script of a raw object: all-zero, all-ones and patterned contexts. */
static void default_runs(struct pair *pr)
{
	u8 ctx[512];
	u32 i;

	memset(ctx, 0, sizeof(ctx));
	run_both(pr, ctx, 0, 0);
	memset(ctx, 0xff, sizeof(ctx));
	run_both(pr, ctx, 1, ~0ull);
	for (i = 0; i < sizeof(ctx); i++)
		ctx[i] = (u8)(i * 37 + 1);
	run_both(pr, ctx, RMT_NR_CPUS - 1, 1000000007ull);
}

static void compare_state(struct pair *pr)
{
	static struct rmt_stats s0, s1;
	static struct rmt_trace_rec t0[TRACE_CAP], t1[TRACE_CAP];
	static struct rmt_entry_dump d0[DUMP_MAX], d1[DUMP_MAX];
	const struct rmt_prog *p = pr->in[0]->prog;
	u64 k0[32], v0[32], k1[32], v1[32], c0 = 0, c1 = 0, m0, m1;
	int n0, n1;
	u32 i;

	FUZZ_CHECK(!rmt_vm_stats(pr->vm, pr->id[0], &s0) && !rmt_vm_stats(pr->vm, pr->id[1], &s1),
		   "stats");
	FUZZ_CHECK(!memcmp(&s0, &s1, sizeof(s0)), "statistics differ (runs %llu/%llu)",
		   s0.runs, s1.runs);
	n0 = rmt_vm_trace_drain(pr->vm, pr->id[0], t0, TRACE_CAP);
	n1 = rmt_vm_trace_drain(pr->vm, pr->id[1], t1, TRACE_CAP);
	FUZZ_CHECK(n0 == n1 && n0 >= 0, "trace records %d vs %d", n0, n1);
	for (i = 0; i < (u32)n0; i++) {
		FUZZ_CHECK(t0[i].fmt == t1[i].fmt && t0[i].cpu == t1[i].cpu &&
			   t0[i].ts == t1[i].ts && t0[i].nvals == t1[i].nvals &&
			   t0[i].nvals <= RMT_MAX_TRACE_FIELDS &&
			   !memcmp(t0[i].vals, t1[i].vals, t0[i].nvals * sizeof(u64)),
			   "trace record %u differs", i);
	}
	for (i = 0; i < p->nmaps; i++) {
		c0 = c1 = 0;
		for (;;) {
			n0 = rmt_vm_map_read(pr->vm, pr->id[0], i, &c0, k0, v0, 32);
			n1 = rmt_vm_map_read(pr->vm, pr->id[1], i, &c1, k1, v1, 32);
			FUZZ_CHECK(n0 == n1 && c0 == c1, "map %u read %d vs %d", i, n0, n1);
			if (n0 <= 0)
				break;
			FUZZ_CHECK(!memcmp(k0, k1, n0 * 8) && !memcmp(v0, v1, n0 * 8),
				   "map %u contents differ", i);
		}
	}
	for (i = 0; i < p->ntables; i++) {
		n0 = rmt_vm_table_dump(pr->vm, pr->id[0], i, 0, d0, DUMP_MAX, &m0);
		n1 = rmt_vm_table_dump(pr->vm, pr->id[1], i, 0, d1, DUMP_MAX, &m1);
		FUZZ_CHECK(n0 == n1 && m0 == m1, "table %u: %d/%d entries, %llu/%llu misses",
			   i, n0, n1, m0, m1);
		FUZZ_CHECK(!memcmp(d0, d1, n0 * sizeof(d0[0])), "table %u entries differ", i);
	}
}

/*
 * The tail: a sequence of operations, each one opcode byte then its operands
 * (missing bytes read as zero): 0 table update, 1 model load (u16 length and
 * the blob), 2 map write, 3 run (cpu, now, the context), 4 shadow account.
 */
static void run_script(struct pair *pr, struct fuzz_in *in)
{
	int ops = 0;

	if (!fuzz_left(in)) {
		default_runs(pr);
		return;
	}
	while (fuzz_left(in) && ops++ < MAX_OPS) {
		switch (fuzz_u8(in) % 5) {
		case 0:
			op_table(pr, in);
			break;
		case 1:
			op_model(pr, in);
			break;
		case 2:
			op_map(pr, in);
			break;
		case 3:
			op_run(pr, in);
			break;
		default: {
			s64 d = (s8)fuzz_u8(in), k = (s8)fuzz_u8(in);
			u32 cpu = fuzz_u8(in);

			FUZZ_CHECK(rmt_vm_shadow_account(pr->vm, pr->id[0], cpu, d, k) ==
				   rmt_vm_shadow_account(pr->vm, pr->id[1], cpu, d, k), "shadow");
		}
		}
	}
}

static struct rmt_vm *the_vm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rmt_load_opts o0 = { TRACE_CAP, 0, 0 }, o1 = { TRACE_CAP, RMT_LOAD_JIT, 0 };
	char e0[ERRLEN] = "", e1[ERRLEN] = "";
	size_t olen = obj_len(data, size);
	struct fuzz_in tail = { data + olen, size - olen };
	struct pair pr;
	u8 *obj;

	if (!the_vm)
		the_vm = rmt_vm_create();
	/* A private copy of exactly the object's bytes: ASan sees any over-read. */
	obj = malloc(olen ? olen : 1);
	memcpy(obj, data, olen);
	pr.vm = the_vm;
	pr.id[0] = rmt_vm_load(the_vm, obj, olen, &o0, e0, sizeof(e0));
	pr.id[1] = rmt_vm_load(the_vm, obj, olen, &o1, e1, sizeof(e1));
	free(obj);
	fuzz_check_err(pr.id[0], e0, sizeof(e0));
	same_rc(pr.id[0] > 0 ? 1 : pr.id[0], pr.id[1] > 0 ? 1 : pr.id[1], e0, e1, "load");
	if (pr.id[0] > 0) {
		pr.in[0] = rcu_access_pointer(the_vm->progs[pr.id[0] - 1]);
		pr.in[1] = rcu_access_pointer(the_vm->progs[pr.id[1] - 1]);
		run_script(&pr, &tail);
		compare_state(&pr);
		rmt_vm_unload(the_vm, pr.id[0]);
		rmt_vm_unload(the_vm, pr.id[1]);
	}
	return 0;
}

/* ---- the structure-aware mutator ---- */

struct sec {
	u32 kind;
	u32 size;
	u8 *bytes;
};

/* Record size of section @kind (1 for an unknown kind). */
static u32 sec_unit(u32 kind)
{
	static const u32 units[][2] = {
#define X(name, unit) { RMT_SEC_##name, unit },
		RMT_SECTIONS(X)
#undef X
	};
	u32 i;

	for (i = 0; i < ARRAY_SIZE(units); i++)
		if (units[i][0] == kind)
			return units[i][1];
	return 1;
}

static u32 rnd(u32 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Decode the section table; 0 when @data is no well-formed container. */
static u32 split(const uint8_t *data, size_t size, struct sec *secs)
{
	struct rmt_rec_obj_header h;
	u32 i;

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	if (h.magic != RMT_OBJ_MAGIC || h.file_size > size || !h.nsections ||
	    h.nsections > RMT_MAX_SECTIONS ||
	    sizeof(h) + (u64)h.nsections * RMT_REC_SECTION_SIZE > h.file_size)
		return 0;
	for (i = 0; i < h.nsections; i++) {
		struct rmt_rec_section s;

		memcpy(&s, data + sizeof(h) + i * sizeof(s), sizeof(s));
		if ((u64)s.offset + s.size > h.file_size || s.kind > RMT_SEC_MAX)
			return 0;
		secs[i].kind = s.kind;
		secs[i].size = s.size;
		secs[i].bytes = (u8 *)data + s.offset;
	}
	return h.nsections;
}

/* Lay the sections out again (8-aligned, counts from sizes), then the tail. */
static size_t join(uint8_t *out, size_t max, const struct sec *secs, u32 n,
		   const u8 *tail, size_t tail_len)
{
	struct rmt_rec_obj_header h = { RMT_OBJ_MAGIC, RMT_OBJ_VERSION_MAJOR,
					RMT_OBJ_VERSION_MINOR, n, 0, 0, 0 };
	size_t off = sizeof(h) + n * RMT_REC_SECTION_SIZE;
	u32 i;

	for (i = 0; i < n; i++) {
		struct rmt_rec_section s;
		u32 unit = sec_unit(secs[i].kind);

		off = (off + 7) & ~(size_t)7;
		s.kind = secs[i].kind;
		s.size = secs[i].size / unit * unit;
		s.count = s.size / unit;
		s.offset = off;
		if (off + s.size > max)
			return 0;
		memmove(out + off, secs[i].bytes, s.size);
		memcpy(out + sizeof(h) + i * sizeof(s), &s, sizeof(s));
		off += s.size;
	}
	h.file_size = off;
	memcpy(out, &h, sizeof(h));
	if (off + tail_len > max)
		tail_len = max - off;
	memmove(out + off, tail, tail_len);
	return off + tail_len;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	static u8 scratch[2 << 20], work[1 << 20];
	struct sec secs[RMT_MAX_SECTIONS];
	u32 s = seed | 1, n, i, unit, olen;
	size_t used = 0, tail_len;
	struct sec *t;

	n = split(data, size, secs);
	if (!n || size > sizeof(work) / 2 || rnd(&s) % 8 == 0)
		return LLVMFuzzerMutate(data, size, max_size);
	olen = obj_len(data, size);
	tail_len = size - olen;
	/* Copy every section (and the tail) out, so they can grow independently. */
	for (i = 0; i < n; i++) {
		memcpy(scratch + used, secs[i].bytes, secs[i].size);
		secs[i].bytes = scratch + used;
		used += secs[i].size;
	}
	if (rnd(&s) % 4 == 0) {
		/* Mutate the script, the object unchanged. */
		memcpy(work, data + olen, tail_len);
		tail_len = LLVMFuzzerMutate(work, tail_len, sizeof(work) / 4);
		memcpy(scratch + used, work, tail_len);
		return join(data, max_size, secs, n, scratch + used, tail_len) ?: size;
	}
	t = &secs[rnd(&s) % n];
	unit = sec_unit(t->kind);
	memcpy(work, t->bytes, t->size);
	switch (rnd(&s) % 4) {
	case 0:		/* one record duplicated or removed */
		if (t->size >= unit && rnd(&s) % 2) {
			u32 r = rnd(&s) % (t->size / unit);

			memmove(work + r * unit, work + (r + 1) * unit, t->size - (r + 1) * unit);
			t->size -= unit;
		} else if (t->size >= unit && t->size + unit < sizeof(work)) {
			u32 r = rnd(&s) % (t->size / unit);

			memmove(work + (r + 1) * unit, work + r * unit, t->size - r * unit);
			t->size += unit;
		}
		break;
	case 1:		/* one field of one record set to a small or boundary value */
		if (t->size) {
			u32 at = rnd(&s) % t->size & ~3u, v = rnd(&s);
			static const u32 vals[] = { 0, 1, 2, 7, 8, 31, 32, 63, 64, 255, 256,
						    0xffff, 0x7fffffff, 0x80000000u, ~0u };

			v = rnd(&s) % 2 ? vals[v % ARRAY_SIZE(vals)] : v % 16;
			memcpy(work + at, &v, at + 4 <= t->size ? 4 : t->size - at);
		}
		break;
	default:	/* libFuzzer's own mutations, within the section */
		t->size = LLVMFuzzerMutate(work, t->size, t->size + 4 * unit + 64);
		break;
	}
	memcpy(scratch + used, work, t->size);
	t->bytes = scratch + used;
	used += t->size;
	memcpy(scratch + used, data + olen, tail_len);
	return join(data, max_size, secs, n, scratch + used, tail_len) ?: size;
}
