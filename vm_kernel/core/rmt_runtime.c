// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_runtime.c: VM instances, program load/unload, the hook entry point and
 * the control-plane API (rmt_vm.h); the engines it runs: rmt_engine.h.
 */
#include "rmt_vm.h"
#include "rmt_engine.h"
#include "rmt_alloc.h"

#define RMT_ERRLEN_TMP 200

static struct rmt_pcpu_stats *rmt_pstats(struct rmt_inst *in, u32 cpu)
{
	return (struct rmt_pcpu_stats *)(in->stats_mem + (size_t)cpu * in->stats_stride);
}

static void rmt_inst_free(struct rmt_inst *in)
{
	u32 i;

	if (!in)
		return;
	if (in->tables)
		for (i = 0; i < in->prog->ntables; i++)
			rmt_table_destroy(in->tables[i]);
	if (in->models)
		for (i = 0; i < in->prog->nmodels; i++)
			rmt_mif_destroy(&in->models[i]);
	if (in->maps)
		for (i = 0; i < in->prog->nmaps; i++)
			rmt_map_destroy(in->maps[i]);
	rmt_kfree(in->tables);
	rmt_kfree(in->models);
	rmt_kfree(in->maps);
	rmt_jit_free(in);
	rmt_ring_destroy(in->ring);
	rmt_kvfree(in->frame_block);
	rmt_kvfree(in->stats_block);
	rmt_prog_free(in->prog);
	rmt_kfree(in);
}

static void rmt_inst_free_rcu(struct rcu_head *head)
{
	rmt_inst_free(container_of(head, struct rmt_inst, rcu));
}

/* Fill a table schema from the TABLE/KEY/ACTION records. */
static void rmt_schema_from(const struct rmt_prog *p, u32 t, struct rmt_table_schema *s)
{
	const struct rmt_rec_table *tr = &p->tables[t];
	u32 i;

	memset(s, 0, sizeof(*s));
	s->max_entries = tr->max_entries;
	s->nkeys = tr->nkeys;
	s->nactions = tr->nactions;
	s->param_size = tr->param_size;
	s->default_action = tr->default_action;
	for (i = 0; i < tr->nkeys; i++) {
		s->keys[i].kind = p->keys[tr->key_first + i].kind;
		s->keys[i].bits = p->keys[tr->key_first + i].bits;
	}
	for (i = 0; i < tr->nactions; i++)
		s->action_param_size[i] = p->actions[tr->action_first + i].param_size;
	if (tr->param_size)
		memcpy(s->default_params, p->data + tr->default_params, tr->param_size);
}

/*
 * Zeroed memory starting on a cache line (kvzalloc() promises less, malloc()
 * 16 bytes): per-CPU blocks of whole lines then never share one.  *@block
 * gets what to free.
 */
static void *rmt_lines_zalloc(size_t size, void **block)
{
	uintptr_t p;

	*block = rmt_kvzalloc(size + RMT_CACHE_LINE - 1, GFP_KERNEL);
	if (!*block)
		return NULL;
	p = ((uintptr_t)*block + RMT_CACHE_LINE - 1) & ~(uintptr_t)(RMT_CACHE_LINE - 1);
	return (void *)p;
}

/*
 * Per-CPU frames: one block per CPU holding PARAMS pointers, MIN/MOUT
 * pointers, then the zeroed area (scratch, every MIN, every MOUT).
 */
static int rmt_frames_alloc(struct rmt_inst *in, char *err, size_t errlen)
{
	const struct rmt_prog *p = in->prog;
	size_t ptrs, zero, stride, cand = 0;
	u8 *mem;
	u32 c, m;

	ptrs = (p->ntables + 2 * p->nmodels) * sizeof(void *);
	zero = (p->hdr.scratch_size + 7) & ~7u;
	for (m = 0; m < p->nmodels; m++) {
		zero += 4 * ((size_t)p->models[m].n_in + p->models[m].n_out);
		cand = max_t(size_t, cand, 4 * (size_t)p->models[m].n_out);
	}
	/* after the zeroed area: a candidate's outputs, written before read */
	stride = (ptrs + zero + cand + 63) & ~(size_t)63;
	/* the frames, then each CPU's block: all whole lines, from a line */
	in->frames = rmt_lines_zalloc(in->ncpus * (sizeof(*in->frames) + stride),
				      &in->frame_block);
	if (!in->frames)
		return rmt_errf(err, errlen, -ENOMEM, "out of memory for run buffers");
	mem = (u8 *)(in->frames + in->ncpus);
	for (c = 0; c < in->ncpus; c++) {
		u8 *base = mem + c * stride;
		struct rmt_frame *fr = &in->frames[c];

		fr->params = (const u8 **)base;
		fr->min = (s32 **)(base + p->ntables * sizeof(void *));
		fr->mout = fr->min + p->nmodels;
		fr->scratch = base + ptrs;
		/* only what some path may read before writing it (rmt_prog_plan_zero()) */
		fr->zero_at = fr->scratch + p->zero_lo;
		fr->zero_len = p->zero_hi - p->zero_lo;
		fr->insns = p->insns;
		fr->zero_regs = p->zero_regs;
		fr->ntables = p->ntables;
		fr->cand_out = (s32 *)(fr->scratch + zero);
		fr->params_dirty = 1;		/* the first run sets every PARAMS(t) */
		fr->jc.scratch = fr->scratch;
		fr->jc.params = fr->params;
		fr->jc.min = fr->min;
		fr->jc.mout = fr->mout;
		fr->jc.in = in;
		fr->jc.cpu = c;
		fr->jc.abort_pc = -1;
		fr->ndecisions = in->ndecisions;
		fr->decision_lo = in->decision_lo;
		fr->stats = rmt_pstats(in, c);
		for (m = 0; m < p->nmodels; m++) {
			fr->min[m] = (s32 *)(fr->scratch + rmt_model_io_offset(p, m, false));
			fr->mout[m] = (s32 *)(fr->scratch + rmt_model_io_offset(p, m, true));
		}
	}
	return 0;
}

/*
 * rmt_calls_cpu() - whether the program calls the cpu() helper
 *
 * The verifier assumes cpu() < RMT_HELPER_CPU_LIMIT (generated from
 * contract/isa.py); a machine with more CPU ids would break that assumption,
 * so such a program is refused there rather than run outside its proof.
 */
static bool rmt_calls_cpu(const struct rmt_prog *p)
{
	u32 pc;

	for (pc = 0; pc < p->hdr.ninsns; pc++)
		if (p->insns[pc].code == RMT_OP_CALL && p->insns[pc].imm == RMT_HELPER_CPU)
			return true;
	return false;
}

static int rmt_inst_create(struct rmt_prog *p, const struct rmt_load_opts *opts,
			   struct rmt_inst **out, char *err, size_t errlen)
{
	struct rmt_inst *in;
	char tmp[RMT_ERRLEN_TMP];
	u32 i, cap;
	int rc;

	in = rmt_kzalloc(sizeof(*in), GFP_KERNEL);
	if (!in) {
		rmt_prog_free(p);
		return rmt_errf(err, errlen, -ENOMEM, "out of memory");
	}
	in->prog = p;
	in->ncpus = nr_cpu_ids;
	if (in->ncpus > RMT_HELPER_CPU_LIMIT && rmt_calls_cpu(p)) {
		rc = rmt_errf(err, errlen, -EINVAL,
			      "PROG: cpu() is verified below %u, this machine has %u CPU ids",
			      RMT_HELPER_CPU_LIMIT, in->ncpus);
		goto fail;
	}
	in->ctx_size = p->hook->ctx_size;	/* one load on the hook path, not three */
	in->rng = opts && opts->seed ? opts->seed : RMT_DEFAULT_SEED;
	in->decision_lo = p->hook->decision_lo;
	in->ndecisions = p->hook->decision_hi - p->hook->decision_lo + 2;
	if (p->hook->decision_hi < p->hook->decision_lo || in->ndecisions > RMT_MAX_DECISIONS) {
		rc = rmt_errf(err, errlen, -EINVAL, "PROG: hook %s has a decision range too wide",
			      p->hook->name);
		goto fail;
	}
	rc = -ENOMEM;
	in->stats_stride = (sizeof(struct rmt_pcpu_stats) +
			    (in->ndecisions + 2 * (size_t)p->nmodels) * sizeof(u64) +
			    RMT_CACHE_LINE - 1) & ~(RMT_CACHE_LINE - 1u);
	in->stats_mem = rmt_lines_zalloc((size_t)in->ncpus * in->stats_stride, &in->stats_block);
	cap = opts && opts->trace_capacity ? opts->trace_capacity : RMT_DEFAULT_TRACE_CAPACITY;
	if (!rmt_ring_capacity_ok(cap)) {
		rc = rmt_errf(err, errlen, -EINVAL,
			      "trace capacity %u is not a power of two in 1..%u", cap,
			      RMT_RING_MAX_CAPACITY);
		goto fail;
	}
	in->ring = rmt_ring_create(cap);
	in->tables = rmt_kcalloc(p->ntables, sizeof(*in->tables), GFP_KERNEL);
	in->models = rmt_kcalloc(p->nmodels, sizeof(*in->models), GFP_KERNEL);
	in->maps = rmt_kcalloc(p->nmaps, sizeof(*in->maps), GFP_KERNEL);
	if (!in->stats_mem || !in->tables || !in->models || !in->maps) {
		rmt_errf(err, errlen, rc, "out of memory");
		goto fail;
	}
	if (!in->ring) {
		rc = rmt_errf(err, errlen, -ENOMEM, "out of memory for a %u-record trace ring", cap);
		goto fail;
	}
	rc = rmt_frames_alloc(in, err, errlen);
	if (rc)
		goto fail;
	for (i = 0; i < p->ntables; i++) {
		struct rmt_table_schema *s = rmt_kmalloc(sizeof(*s), GFP_KERNEL);

		if (!s) {
			rc = rmt_errf(err, errlen, -ENOMEM, "out of memory");
			goto fail;
		}
		rmt_schema_from(p, i, s);
		rc = rmt_table_create(s, &in->tables[i], tmp, sizeof(tmp));
		rmt_kfree(s);
		if (rc) {
			rmt_errf(err, errlen, rc, "TABLES[%u]: %s", i, tmp);
			goto fail;
		}
	}
	for (i = 0; i < p->nmodels; i++) {
		rc = rmt_mif_init(&in->models[i], p, i, tmp, sizeof(tmp));
		if (rc) {
			rmt_errf(err, errlen, rc, "MODELS[%u]: %s", i, tmp);
			goto fail;
		}
	}
	for (i = 0; i < p->nmaps; i++) {
		rc = rmt_map_create(&p->maps[i], in->ncpus, &in->maps[i], tmp, sizeof(tmp));
		if (rc) {
			rmt_errf(err, errlen, rc, "MAPS[%u]: %s", i, tmp);
			goto fail;
		}
	}
	/* No JIT (unsupported build, or too big): the interpreter runs it. */
	if (opts && (opts->flags & RMT_LOAD_JIT))
		rmt_jit_compile(in);
	*out = in;
	return 0;
fail:
	rmt_inst_free(in);
	return rc;
}

struct rmt_vm *rmt_vm_create(void)
{
	struct rmt_vm *vm = rmt_kzalloc(sizeof(*vm), GFP_KERNEL);

	if (vm)
		mutex_init(&vm->lock);
	return vm;
}
EXPORT_SYMBOL_GPL(rmt_vm_create);

void rmt_vm_destroy(struct rmt_vm *vm)
{
	int id;

	if (!vm)
		return;
	for (id = 1; id <= RMT_VM_MAX_PROGS; id++)
		rmt_vm_unload(vm, id);
	mutex_destroy(&vm->lock);
	rmt_kfree(vm);
}
EXPORT_SYMBOL_GPL(rmt_vm_destroy);

int rmt_vm_load(struct rmt_vm *vm, const void *obj, size_t len,
		const struct rmt_load_opts *opts, char *err, size_t errlen)
{
	struct rmt_prog *p;
	struct rmt_inst *in = NULL;
	char tmp[RMT_ERRLEN_TMP];
	int rc, id;

	rc = rmt_prog_parse(obj, len, &p, tmp, sizeof(tmp));
	if (rc)
		return rmt_errf(err, errlen, rc, "object: %s", tmp);
	rc = rmt_prog_validate(p, err, errlen);
	if (rc) {
		rmt_prog_free(p);
		return rc;
	}
	rc = rmt_prog_plan_zero(p);
	if (rc) {
		rmt_prog_free(p);
		return rmt_errf(err, errlen, rc, "out of memory");
	}
	rc = rmt_inst_create(p, opts, &in, err, errlen);
	if (rc)
		return rc;
	mutex_lock(&vm->lock);
	for (id = 1; id <= RMT_VM_MAX_PROGS; id++) {
		if (!rcu_access_pointer(vm->progs[id - 1])) {
			rcu_assign_pointer(vm->progs[id - 1], in);
			mutex_unlock(&vm->lock);
			return id;
		}
	}
	mutex_unlock(&vm->lock);
	rmt_inst_free(in);
	return rmt_errf(err, errlen, -ENOSPC, "all %d program slots are in use",
			RMT_VM_MAX_PROGS);
}
EXPORT_SYMBOL_GPL(rmt_vm_load);

/* The program @id under the VM mutex (control plane), or NULL. */
static struct rmt_inst *rmt_vm_get_locked(struct rmt_vm *vm, int id)
{
	if (id < 1 || id > RMT_VM_MAX_PROGS)
		return NULL;
	return rcu_dereference_protected(vm->progs[id - 1], lockdep_is_held(&vm->lock));
}

int rmt_vm_unload(struct rmt_vm *vm, int id)
{
	struct rmt_inst *in;

	mutex_lock(&vm->lock);
	in = rmt_vm_get_locked(vm, id);
	if (!in) {
		mutex_unlock(&vm->lock);
		return -ENOENT;
	}
	rcu_assign_pointer(vm->progs[id - 1], NULL);
	mutex_unlock(&vm->lock);
	call_rcu(&in->rcu, rmt_inst_free_rcu);
	return 0;
}
EXPORT_SYMBOL_GPL(rmt_vm_unload);

/*
 * Count the run in its decisions[] slot, replacing a decision outside the
 * hook's range by DEFAULT.  A decision d in range has slot d - lo + 1 in
 * 1..ndecisions - 1, so slot - 1 < ndecisions - 1 as one unsigned compare;
 * everything else (DEFAULT, and lo - 1, whose slot is 0 although it is no
 * decision of a hook with lo > 0) goes to slot 0.
 */
static __always_inline void rmt_account(const struct rmt_frame *fr, struct rmt_run_result *res)
{
	struct rmt_pcpu_stats *st = fr->stats;
	s64 d = res->decision;
	u64 slot = (u64)d - (u64)fr->decision_lo + 1;

	if (unlikely(res->abort)) {
		st->aborts[res->abort]++;
		slot = 0;			/* an abort's decision is DEFAULT */
	} else if (unlikely(slot - 1 >= (u64)fr->ndecisions - 1)) {
		slot = 0;
		if (d != RMT_DECISION_DEFAULT) {
			st->bad_decisions++;
			res->decision = RMT_DECISION_DEFAULT;
		}
	}
	st->decisions[slot]++;
}

int rmt_vm_run_rcu(struct rmt_vm *vm, int id, void *ctx, size_t ctx_len, u32 cpu, u64 now,
		   struct rmt_run_result *res)
{
	struct rmt_frame *fr;
	struct rmt_inst *in;
#ifndef __KERNEL__
	rmt_jit_fn fn;
#endif

	if (unlikely((unsigned int)(id - 1) >= RMT_VM_MAX_PROGS))
		return -ENOENT;
	in = rcu_dereference(vm->progs[id - 1]);
	if (unlikely(!in))
		return -ENOENT;
	if (unlikely(ctx_len != in->ctx_size || cpu >= in->ncpus))
		return -EINVAL;
	/* after the call only @fr and @res are live: few registers to save */
	fr = &in->frames[cpu];
#ifdef __KERNEL__
	if (in->kjit)
		rmt_kjit_run(in, ctx, cpu, now, res);
	else
		rmt_jit_run(rmt_interp_run, fr, ctx, now, res);	/* a direct call */
#else
	/* one entry for both engines; the interpreter's call stays direct */
	fn = READ_ONCE(in->native);
	if (likely(fn))
		rmt_jit_run(fn, fr, ctx, now, res);
	else
		rmt_jit_run(rmt_interp_run, fr, ctx, now, res);
#endif
	rmt_account(fr, res);
	return 0;
}
EXPORT_SYMBOL_GPL(rmt_vm_run_rcu);

int rmt_vm_run(struct rmt_vm *vm, int id, void *ctx, size_t ctx_len, u32 cpu, u64 now,
	       struct rmt_run_result *res)
{
	int rc;

	rcu_read_lock();
	rc = rmt_vm_run_rcu(vm, id, ctx, ctx_len, cpu, now, res);
	rcu_read_unlock();
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_run);

int rmt_vm_shadow_account(struct rmt_vm *vm, int id, u32 cpu, s64 prog_decision,
			  s64 kernel_decision)
{
	struct rmt_inst *in;

	if (id < 1 || id > RMT_VM_MAX_PROGS)
		return -ENOENT;
	rcu_read_lock();
	in = rcu_dereference(vm->progs[id - 1]);
	if (!in || cpu >= in->ncpus) {
		rcu_read_unlock();
		return in ? -EINVAL : -ENOENT;
	}
	/*
	 * A DEFAULT (the program's own, an abort or a bad decision) is no
	 * opinion: counting it as agreement would show a program that never
	 * ran its model as 100% in agreement.  Its runs are in decisions[0].
	 */
	if (prog_decision == kernel_decision && prog_decision != RMT_DECISION_DEFAULT)
		rmt_pstats(in, cpu)->shadow_agree++;
	else if (prog_decision != RMT_DECISION_DEFAULT)
		rmt_pstats(in, cpu)->shadow_disagree++;
	rcu_read_unlock();
	return 0;
}
EXPORT_SYMBOL_GPL(rmt_vm_shadow_account);

#define RMT_CP_BEGIN(vm, id, in) do { \
	mutex_lock(&(vm)->lock); \
	(in) = rmt_vm_get_locked(vm, id); \
	if (!(in)) { \
		mutex_unlock(&(vm)->lock); \
		return rmt_errf(err, errlen, -ENOENT, "no program %d", id); \
	} \
} while (0)

int rmt_vm_prog_engine(struct rmt_vm *vm, int id)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;
	int rc;

	RMT_CP_BEGIN(vm, id, in);
	rc = in->engine;
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_prog_engine);

int rmt_vm_prog_info(struct rmt_vm *vm, int id, struct rmt_prog_info *out)
{
	const struct rmt_prog *p;
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;

	RMT_CP_BEGIN(vm, id, in);
	p = in->prog;
	if (out) {
		out->obj = p->image;
		out->obj_len = p->size;
		out->hook_id = p->hook->id;
		out->hook_name = p->hook->name;
		out->mode = p->hdr.mode;
		out->engine = in->engine;
		out->ctx_size = in->ctx_size;
		out->ninsns = p->hdr.ninsns;
		out->ntables = p->ntables;
		out->nmodels = p->nmodels;
		out->nmaps = p->nmaps;
		out->ntraces = p->ntraces;
	}
	mutex_unlock(&vm->lock);
	return 0;
}
EXPORT_SYMBOL_GPL(rmt_vm_prog_info);

s64 rmt_vm_model_version(struct rmt_vm *vm, int id, u32 model)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;
	s64 rc = -ENOENT;

	RMT_CP_BEGIN(vm, id, in);
	if (model < in->prog->nmodels)
		rc = rmt_model_version(&in->models[model].slot);
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_model_version);

int rmt_vm_map_flags(struct rmt_vm *vm, int id, u32 map)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;
	int rc = -ENOENT;

	RMT_CP_BEGIN(vm, id, in);
	if (map < in->prog->nmaps)
		rc = in->prog->maps[map].flags;
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_map_flags);

#ifndef __KERNEL__
int rmt_vm_set_native(struct rmt_vm *vm, int id, rmt_jit_fn fn)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;

	RMT_CP_BEGIN(vm, id, in);
	/*
	 * Runs may be in flight on the old code: unpublish it, wait, then free.
	 * (The userspace library's callers do not run while they reconfigure,
	 * but the order is the safe one anyway.)
	 */
	WRITE_ONCE(in->native, NULL);
	synchronize_rcu();
	rmt_jit_free(in);
	if (fn) {
		in->engine = RMT_ENGINE_NATIVE;
		WRITE_ONCE(in->native, fn);
	}
	mutex_unlock(&vm->lock);
	return 0;
}
#endif

int rmt_vm_table_update(struct rmt_vm *vm, int id, u32 table, u32 op,
			const struct rmt_entry_spec *spec, char *err, size_t errlen)
{
	struct rmt_inst *in;
	int rc;

	RMT_CP_BEGIN(vm, id, in);
	if (table >= in->prog->ntables) {
		rc = rmt_errf(err, errlen, -ENOENT, "no table %u (the program has %u)", table,
			      in->prog->ntables);
	} else if (op == 0) {
		rc = rmt_table_insert(in->tables[table], spec, err, errlen);
	} else if (op == 1) {
		rc = rmt_table_modify(in->tables[table], spec, err, errlen);
	} else if (op == 2) {
		rc = rmt_table_delete(in->tables[table], spec, err, errlen);
	} else {
		rc = rmt_errf(err, errlen, -EINVAL, "unknown table operation %u", op);
	}
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_table_update);

int rmt_vm_table_batch(struct rmt_vm *vm, int id, u32 table, const struct rmt_table_op *ops,
		       u32 n, u32 *failed, char *err, size_t errlen)
{
	struct rmt_table *old, *c;
	struct rmt_inst *in;
	u32 i;
	int rc;

	*failed = n;
	RMT_CP_BEGIN(vm, id, in);
	if (table >= in->prog->ntables) {
		rc = rmt_errf(err, errlen, -ENOENT, "no table %u (the program has %u)", table,
			      in->prog->ntables);
		goto out;
	}
	/*
	 * All or nothing: apply the batch to a private copy with the usual
	 * checks, then publish the copy with one pointer store.  A lookup sees
	 * the table before the batch or after it, never part of it; a failed
	 * batch leaves the published table untouched.
	 */
	old = in->tables[table];
	rc = rmt_table_clone(old, &c, err, errlen);
	if (rc)
		goto out;
	for (i = 0; i < n && !rc; i++) {
		if (ops[i].pad)
			rc = rmt_errf(err, errlen, -EINVAL, "nonzero padding");
		else if (ops[i].op == RMT_TABLE_OP_INSERT)
			rc = rmt_table_insert(c, &ops[i].spec, err, errlen);
		else if (ops[i].op == RMT_TABLE_OP_MODIFY)
			rc = rmt_table_modify(c, &ops[i].spec, err, errlen);
		else if (ops[i].op == RMT_TABLE_OP_DELETE)
			rc = rmt_table_delete(c, &ops[i].spec, err, errlen);
		else
			rc = rmt_errf(err, errlen, -EINVAL, "unknown table operation %u",
				      ops[i].op);
		if (rc)
			*failed = i;
	}
	if (rc) {
		rmt_table_destroy(c);		/* never published */
		goto out;
	}
	rcu_assign_pointer(in->tables[table], c);
	synchronize_rcu();			/* no lookup is still in @old */
	rmt_table_absorb(c, old);
	rmt_table_destroy(old);
out:
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_table_batch);

int rmt_vm_table_dump(struct rmt_vm *vm, int id, u32 table, u32 start,
		      struct rmt_entry_dump *out, u32 max, u64 *misses)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;
	int rc;

	RMT_CP_BEGIN(vm, id, in);
	if (table >= in->prog->ntables) {
		rc = -ENOENT;
	} else {
		rc = rmt_table_dump(in->tables[table], start, out, max);
		if (misses)
			rmt_table_stats(in->tables[table], NULL, misses);
	}
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_table_dump);

void rmt_callm_cand(struct rmt_inst *in, u32 model, const s32 *min, const s32 *mout,
		    u32 cpu, u64 now)
{
	struct rmt_trace_rec rec;
	s32 *c = in->frames[cpu].cand_out;
	u32 n = in->prog->models[model].n_out, k, o;
	u64 ov = 0, *ctr;

	if (rmt_model_infer_cand(&in->models[model].slot, min, c, &ov))
		return;			/* promoted or unstaged meanwhile */
	for (o = 0; o < n; o++)
		if ((mout[o] > 0) != (c[o] > 0))
			break;
	ctr = rmt_cand_ctr(in, cpu, model);
	if (o == n) {
		ctr[0]++;
		return;
	}
	ctr[1]++;
	/* model, outputs shown, then that many live outputs and candidate outputs */
	k = min_t(u32, n, RMT_CAND_TRACE_OUTPUTS);
	rec.fmt = RMT_TRACE_FMT_CANDIDATE;
	rec.cpu = cpu;
	rec.ts = now;
	rec.nvals = 2 + 2 * k;
	rec.pad = 0;
	rec.vals[0] = model;
	rec.vals[1] = k;
	for (o = 0; o < k; o++) {
		rec.vals[2 + o] = (u64)(s64)mout[o];
		rec.vals[2 + k + o] = (u64)(s64)c[o];
	}
	if (rmt_ring_push(in->ring, &rec))
		rmt_pstats(in, cpu)->trace_drops++;
}

/* Model @model's candidate counters summed over CPUs. */
static void rmt_cand_sum(struct rmt_inst *in, u32 model, u64 *agree, u64 *disagree)
{
	u32 c;

	*agree = 0;
	*disagree = 0;
	for (c = 0; c < in->ncpus; c++) {
		u64 *ctr = rmt_cand_ctr(in, c, model);

		*agree += READ_ONCE(ctr[0]);
		*disagree += READ_ONCE(ctr[1]);
	}
}

/* Append an event to model @model's history (under the VM mutex). */
static void rmt_model_event(struct rmt_inst *in, u32 model, u32 op, u64 version)
{
	struct rmt_mif *m = &in->models[model];
	struct rmt_model_event *e = &m->hist[m->nhist % RMT_MODEL_HISTORY];
	u64 a, d;

	rmt_cand_sum(in, model, &a, &d);
	memset(e, 0, sizeof(*e));
	e->version = version;
	e->op = op;
	if (op == RMT_MODEL_OP_PROMOTE || op == RMT_MODEL_OP_UNSTAGE) {
		e->agree = a - m->base_agree;
		e->disagree = d - m->base_disagree;
	}
	m->nhist++;
}

/* 0 when the program has model @model, else -ENOENT with the reason in @err. */
static int rmt_model_missing(const struct rmt_inst *in, u32 model, char *err, size_t errlen)
{
	if (model < in->prog->nmodels)
		return 0;
	return rmt_errf(err, errlen, -ENOENT, "no model %u (the program has %u)", model,
			in->prog->nmodels);
}

int rmt_vm_model_load(struct rmt_vm *vm, int id, u32 model, const void *blob, size_t len,
		      char *err, size_t errlen)
{
	struct rmt_inst *in;
	int rc;

	RMT_CP_BEGIN(vm, id, in);
	rc = rmt_model_missing(in, model, err, errlen);
	if (!rc)
		rc = rmt_mif_load(&in->models[model], blob, len, err, errlen);
	if (rc > 0)
		rmt_model_event(in, model, RMT_MODEL_OP_LOAD, rc);
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_model_load);

int rmt_vm_model_stage(struct rmt_vm *vm, int id, u32 model, const void *blob, size_t len,
		       char *err, size_t errlen)
{
	struct rmt_inst *in;
	struct rmt_mif *m;
	u64 version = 0;
	int rc;

	RMT_CP_BEGIN(vm, id, in);
	rc = rmt_model_missing(in, model, err, errlen);
	if (rc)
		goto out;
	m = &in->models[model];
	rc = rmt_model_stage(&m->slot, &m->sig, blob, len, &version, err, errlen);
	if (rc)
		goto out;
	/* agreement counts from here: this candidate's evidence only */
	rmt_cand_sum(in, model, &m->base_agree, &m->base_disagree);
	rmt_model_event(in, model, RMT_MODEL_OP_STAGE, version);
	rc = rmt_version_rc(version);
out:
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_model_stage);

int rmt_vm_model_ctl(struct rmt_vm *vm, int id, u32 model, u32 op, char *err, size_t errlen)
{
	struct rmt_inst *in;
	struct rmt_model_slot *slot;
	u64 version = 0;
	int rc;

	RMT_CP_BEGIN(vm, id, in);
	rc = rmt_model_missing(in, model, err, errlen);
	if (rc)
		goto out;
	slot = &in->models[model].slot;
	switch (op) {
	case RMT_MODEL_OP_PROMOTE:
		rc = rmt_model_promote(slot, &version);
		if (rc)
			rmt_errf(err, errlen, rc, "model %u: no candidate is staged", model);
		break;
	case RMT_MODEL_OP_ROLLBACK:
		rc = rmt_model_rollback(slot, &version);
		if (rc)
			rmt_errf(err, errlen, rc, "model %u: no previous weights to roll back to",
				 model);
		break;
	case RMT_MODEL_OP_UNSTAGE:
		version = READ_ONCE(slot->cand_version);
		rc = rmt_model_unstage(slot);
		if (rc)
			rmt_errf(err, errlen, rc, "model %u: no candidate is staged", model);
		break;
	default:
		rc = rmt_errf(err, errlen, -EINVAL, "unknown model operation %u", op);
	}
	if (rc)
		goto out;
	rmt_model_event(in, model, op, version);
	rc = rmt_version_rc(version);
out:
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_model_ctl);

int rmt_vm_model_state(struct rmt_vm *vm, int id, u32 model, struct rmt_model_state *out)
{
	struct rmt_inst *in;
	struct rmt_mif *m;
	char *err = NULL;
	size_t errlen = 0;
	u32 i, n;

	RMT_CP_BEGIN(vm, id, in);
	if (model >= in->prog->nmodels) {
		mutex_unlock(&vm->lock);
		return -ENOENT;
	}
	m = &in->models[model];
	memset(out, 0, sizeof(*out));
	rmt_model_versions(&m->slot, &out->version, &out->cand_version, &out->prev_version);
	rmt_cand_sum(in, model, &out->agree, &out->disagree);
	out->agree -= m->base_agree;
	out->disagree -= m->base_disagree;
	out->nevents = m->nhist;
	n = min_t(u32, m->nhist, RMT_MODEL_HISTORY);
	for (i = 0; i < n; i++)
		out->hist[i] = m->hist[(m->nhist - n + i) % RMT_MODEL_HISTORY];
	out->nhist = n;
	mutex_unlock(&vm->lock);
	return 0;
}
EXPORT_SYMBOL_GPL(rmt_vm_model_state);

int rmt_vm_map_read(struct rmt_vm *vm, int id, u32 map, u64 *cursor, u64 *keys, u64 *vals,
		    u32 max)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;
	int rc;

	RMT_CP_BEGIN(vm, id, in);
	if (map >= in->prog->nmaps)
		rc = -ENOENT;
	else
		rc = rmt_map_read(in->maps[map], cursor, keys, vals, max);
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_map_read);

int rmt_vm_map_write(struct rmt_vm *vm, int id, u32 map, u64 key, u64 val,
		     char *err, size_t errlen)
{
	struct rmt_inst *in;
	char tmp[RMT_ERRLEN_TMP];
	int rc;

	RMT_CP_BEGIN(vm, id, in);
	if (map >= in->prog->nmaps) {
		rc = rmt_errf(err, errlen, -ENOENT, "no map %u (the program has %u)", map,
			      in->prog->nmaps);
	} else {
		rc = rmt_map_write(in->maps[map], key, val, tmp, sizeof(tmp));
		if (rc)
			rmt_errf(err, errlen, rc, "map %s: %s",
				 rmt_prog_string(in->prog, in->prog->maps[map].name), tmp);
	}
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_map_write);

/* Values past nvals are the producer's stack (rmt_trace_rec_init()): never shown. */
static void rmt_trace_rec_clean(struct rmt_trace_rec *r)
{
	r->nvals = min_t(u32, r->nvals, RMT_MAX_TRACE_FIELDS);
	memset(r->vals + r->nvals, 0, 8 * (RMT_MAX_TRACE_FIELDS - r->nvals));
}

int rmt_vm_trace_drain(struct rmt_vm *vm, int id, struct rmt_trace_rec *out, u32 max)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;
	u32 n = 0;

	RMT_CP_BEGIN(vm, id, in);
	while (n < max && rmt_ring_pop(in->ring, &out[n])) {
		/*
		 * Producers copy only the valid values (the hook path stays
		 * short): what is past them is the producer's stack, which
		 * must not reach a reader (read() on /dev/rmt).
		 */
		rmt_trace_rec_clean(&out[n++]);
	}
	mutex_unlock(&vm->lock);
	return n;
}
EXPORT_SYMBOL_GPL(rmt_vm_trace_drain);

int rmt_vm_trace_peek(struct rmt_vm *vm, int id, u64 skip, struct rmt_trace_rec *out, u32 max,
		      u64 *pos)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;
	u32 n = 0;

	RMT_CP_BEGIN(vm, id, in);
	*pos = rmt_ring_tail(in->ring);
	while (n < max && rmt_ring_peek(in->ring, skip + n, &out[n]))
		rmt_trace_rec_clean(&out[n++]);
	mutex_unlock(&vm->lock);
	return n;
}
EXPORT_SYMBOL_GPL(rmt_vm_trace_peek);

int rmt_vm_trace_ack(struct rmt_vm *vm, int id, u64 pos, u32 n)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;
	int rc;

	RMT_CP_BEGIN(vm, id, in);
	if (rmt_ring_tail(in->ring) != pos)
		rc = -ESTALE;		/* another reader took records since the peek */
	else
		rc = rmt_ring_ack(in->ring, n) == n ? 0 : -EINVAL;
	mutex_unlock(&vm->lock);
	return rc;
}
EXPORT_SYMBOL_GPL(rmt_vm_trace_ack);

int rmt_vm_stats(struct rmt_vm *vm, int id, struct rmt_stats *out)
{
	struct rmt_inst *in;
	char *err = NULL;
	size_t errlen = 0;
	u32 c, i;

	RMT_CP_BEGIN(vm, id, in);
	memset(out, 0, sizeof(*out));
	out->decision_lo = in->decision_lo;
	out->ndecisions = in->ndecisions;
	for (c = 0; c < in->ncpus; c++) {
		struct rmt_pcpu_stats *st = rmt_pstats(in, c);

		for (i = 0; i < RMT_NR_ABORTS; i++)
			out->aborts[i] += READ_ONCE(st->aborts[i]);
		out->bad_decisions += READ_ONCE(st->bad_decisions);
		out->shadow_agree += READ_ONCE(st->shadow_agree);
		out->shadow_disagree += READ_ONCE(st->shadow_disagree);
		out->trace_drops += READ_ONCE(st->trace_drops);
		out->model_overflows += READ_ONCE(st->model_overflows);
		out->map_drops += READ_ONCE(st->map_drops);
		for (i = 0; i < in->ndecisions; i++)
			out->decisions[i] += READ_ONCE(st->decisions[i]);
	}
	/* every run counts in exactly one decisions[] slot (rmt_account()) */
	for (i = 0; i < in->ndecisions; i++)
		out->runs += out->decisions[i];
	mutex_unlock(&vm->lock);
	return 0;
}
EXPORT_SYMBOL_GPL(rmt_vm_stats);

/*
 * The benchmark's clock.  In userspace it is the thread's CPU time: on a
 * machine shared with other jobs, time spent descheduled is not counted.
 */
static u64 rmt_bench_clock(void)
{
#ifdef __KERNEL__
	return ktime_get_ns();
#else
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
#endif
}

/* A context is copied as one block of the first of these sizes it fits (rmt_bench_run()). */
#define RMT_BENCH_CTX_BLOCK 128
#define RMT_BENCH_CTX_BLOCK2 256

s64 rmt_bench_run(struct rmt_vm *vm, int id, const void *ctx, size_t ctx_len, u64 iterations)
{
	u8 src[512], buf[512];
	struct rmt_run_result res;
	u64 t0, i;
	int rc = 0;

	if (ctx_len > sizeof(buf))
		return -EINVAL;
	/*
	 * Each run gets a fresh copy, as a hook builds its context each time.
	 * A small context is copied as a whole constant-size block from a
	 * zero-padded source, as the native baselines' loops copy theirs (an
	 * inline copy): a call to memcpy() with a run-time size would time the
	 * C library, not the VM.  The run still sees @ctx_len bytes.
	 */
	memset(src, 0, sizeof(src));
	memcpy(src, ctx, ctx_len);
	rcu_read_lock();
	t0 = rmt_bench_clock();
	for (i = 0; i < iterations && !rc; i++) {
		if (ctx_len <= RMT_BENCH_CTX_BLOCK)
			memcpy(buf, src, RMT_BENCH_CTX_BLOCK);
		else if (ctx_len <= RMT_BENCH_CTX_BLOCK2)
			memcpy(buf, src, RMT_BENCH_CTX_BLOCK2);
		else
			memcpy(buf, src, ctx_len);
		rc = rmt_vm_run_rcu(vm, id, buf, ctx_len, 0, i, &res);
	}
	t0 = rmt_bench_clock() - t0;
	rcu_read_unlock();
	return rc ? rc : (s64)t0;
}
EXPORT_SYMBOL_GPL(rmt_bench_run);
