// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/rmt, the control plane of rmt.ko (ABI: uapi/rmt.h).
 *
 * Every ioctl copies its payload in, checks every field (ABI version, pads,
 * sizes capped before anything is allocated, counts times sizes checked for
 * overflow, ids and indexes) and only then calls the VM's public API
 * (rmt_vm.h), which checks the content again and changes nothing when
 * it refuses.  Control-plane calls are serialised by one mutex; the hook
 * path never takes it (it finds programs under RCU), so an ioctl that
 * replaces a table entry or a model never blocks a hook, and a hook sees the
 * old or the new version, never a mix.
 *
 * The mutex also pins programs: only this file loads and unloads them, so a
 * program found under the mutex stays valid until the mutex is released.
 */
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/uaccess.h>
#include <linux/capability.h>
#include <linux/cpumask.h>
#include <linux/log2.h>
#include "rmt_kmod_dev.h"
#include "uapi/rmt.h"
#include "rmt_alloc.h"

/* Trace records one read() moves at most (the rest wait for the next call). */
#define RMT_READ_BATCH 64
/* Largest trace ring a program may ask for. */
#define RMT_MAX_TRACE_CAPACITY 65536u

/* What the VM does not keep about a program and `rmtctl list` shows. */
struct rmt_dev_prog {
	u32 flags;
	u64 load_time_ns;
	u64 model_bytes[RMT_MAX_MODELS];
	u64 model_time_ns[RMT_MAX_MODELS];
	/* candidate models: sizes of the staged and the previous weights */
	u64 cand_bytes[RMT_MAX_MODELS];
	u64 prev_bytes[RMT_MAX_MODELS];
	u64 prev_time_ns[RMT_MAX_MODELS];
};

static struct {
	struct rmt_vm *vm;
	struct mutex lock;	/* every control-plane call */
	struct rmt_dev_prog progs[RMT_VM_MAX_PROGS];
} rmt_dev;

/* The uapi mirrors of VM structs must match them byte for byte. */
static void __init rmt_dev_layout_checks(void)
{
	BUILD_BUG_ON(RMT_IOC_MAX_KEYS != RMT_MAX_KEYS);
	BUILD_BUG_ON(RMT_IOC_MAX_PARAM_SIZE != RMT_MAX_PARAM_SIZE);
	BUILD_BUG_ON(RMT_IOC_MAX_TRACE_FIELDS != RMT_MAX_TRACE_FIELDS);
	BUILD_BUG_ON(RMT_IOC_NR_ABORTS != RMT_NR_ABORTS);
	BUILD_BUG_ON(RMT_IOC_MAX_DECISIONS != RMT_MAX_DECISIONS);
	BUILD_BUG_ON(RMT_IOC_MAX_PROGS != RMT_VM_MAX_PROGS);
	BUILD_BUG_ON(RMT_IOC_MAX_OBJ_SIZE != RMT_MAX_OBJ_SIZE);
	BUILD_BUG_ON(RMT_IOC_MAX_WEIGHTS_SIZE != RMT_MAX_WEIGHTS_SIZE);
	BUILD_BUG_ON(RMT_LOAD_F_JIT != RMT_LOAD_JIT);
	BUILD_BUG_ON(RMT_IOC_MODEL_HISTORY != RMT_MODEL_HISTORY);
	BUILD_BUG_ON(RMT_IOC_TRACE_FMT_CANDIDATE != RMT_TRACE_FMT_CANDIDATE);
	BUILD_BUG_ON(RMT_IOC_MODEL_OP_PROMOTE != RMT_MODEL_OP_PROMOTE);
	BUILD_BUG_ON(RMT_IOC_MODEL_OP_ROLLBACK != RMT_MODEL_OP_ROLLBACK);
	BUILD_BUG_ON(RMT_IOC_MODEL_OP_UNSTAGE != RMT_MODEL_OP_UNSTAGE);
	BUILD_BUG_ON(sizeof(struct rmt_ioc_entry) != sizeof(struct rmt_entry_spec));
	BUILD_BUG_ON(offsetof(struct rmt_ioc_entry, match) !=
		     offsetof(struct rmt_entry_spec, match));
	BUILD_BUG_ON(offsetof(struct rmt_ioc_entry, params) !=
		     offsetof(struct rmt_entry_spec, params));
	BUILD_BUG_ON(sizeof(struct rmt_ioc_entry_dump) != sizeof(struct rmt_entry_dump));
	BUILD_BUG_ON(offsetof(struct rmt_ioc_entry_dump, hits) !=
		     offsetof(struct rmt_entry_dump, hits));
	BUILD_BUG_ON(sizeof(struct rmt_ioc_counters) != sizeof(struct rmt_stats));
	BUILD_BUG_ON(offsetof(struct rmt_ioc_counters, decisions) !=
		     offsetof(struct rmt_stats, decisions));
	BUILD_BUG_ON(offsetof(struct rmt_ioc_counters, decision_lo) !=
		     offsetof(struct rmt_stats, decision_lo));
	BUILD_BUG_ON(sizeof(struct rmt_ioc_table_op) != sizeof(struct rmt_table_op));
	BUILD_BUG_ON(offsetof(struct rmt_ioc_table_op, entry) !=
		     offsetof(struct rmt_table_op, spec));
	BUILD_BUG_ON(RMT_TABLE_OP_INSERT != RMT_TABLE_INSERT ||
		     RMT_TABLE_OP_MODIFY != RMT_TABLE_MODIFY ||
		     RMT_TABLE_OP_DELETE != RMT_TABLE_DELETE);
}

/* ---------------------------------------------------------------- hooks */

/*
 * Fallbacks while rmt.ko is built without the hooks code: no hooks, hook
 * commands unknown.  The hooks code's definitions replace these.
 */
int __weak rmt_hooks_init(struct rmt_vm *vm)
{
	return 0;
}

void __weak rmt_hooks_exit(void)
{
}

u32 __weak rmt_hooks_abi(void)
{
	return 0;
}

long __weak rmt_hooks_ioctl(struct rmt_vm *vm, unsigned int cmd, void __user *arg)
{
	return -ENOTTY;
}

void __weak rmt_hooks_prog_unload(struct rmt_vm *vm, int id)
{
}

/* ---------------------------------------------------------------- helpers */

/*
 * Is program @id loaded?  With @info, also what it is.  The caller holds
 * rmt_dev.lock, which keeps it loaded (and @info->obj valid) until released.
 */
static bool rmt_dev_loaded(u32 id, struct rmt_prog_info *info)
{
	lockdep_assert_held(&rmt_dev.lock);
	return id >= 1 && id <= RMT_VM_MAX_PROGS && !rmt_vm_prog_info(rmt_dev.vm, id, info);
}

/*
 * An error buffer for the VM's message: allocated only when the caller gave
 * one, capped at RMT_IOC_MAX_ERR bytes, copied out (NUL-terminated) when a
 * call fails.  A bad buffer pointer loses the message, not the errno.
 */
struct rmt_errbuf {
	char *buf;
	size_t len;
	u64 uptr;
};

static int rmt_err_init(struct rmt_errbuf *e, u64 uptr, u32 len)
{
	e->buf = NULL;
	e->len = 0;
	e->uptr = uptr;
	if (!uptr || !len)
		return 0;
	e->len = min_t(u32, len, RMT_IOC_MAX_ERR);
	e->buf = rmt_kzalloc(e->len, GFP_KERNEL);
	return e->buf ? 0 : -ENOMEM;
}

static void rmt_err_done(struct rmt_errbuf *e, int rc)
{
	if (rc < 0 && e->buf)
		if (copy_to_user(u64_to_user_ptr(e->uptr), e->buf, strnlen(e->buf, e->len - 1) + 1))
			pr_debug("rmt: error buffer not writable\n");
	rmt_kfree(e->buf);
}

/* Copy a payload in and check its ABI version. */
static int rmt_copy_in(void *dst, const void __user *src, size_t size)
{
	if (copy_from_user(dst, src, size))
		return -EFAULT;
	return *(const u32 *)dst == RMT_ABI_VERSION ? 0 : -EPROTO;
}

/*
 * Copy user bytes into a new kernel buffer (the size is checked by the
 * caller).  The copy is the first allocation after the error buffer, and a
 * large one: say which copy failed (@e may be NULL or have no buffer).
 */
static void *rmt_dup_user(u64 uptr, u32 len, struct rmt_errbuf *e, const char *what)
{
	void *buf = rmt_kvmalloc(len, GFP_KERNEL);

	if (!buf) {
		if (e && e->buf)
			snprintf(e->buf, e->len, "no memory for a copy of the %u-byte %s",
				 len, what);
		return ERR_PTR(-ENOMEM);
	}
	if (copy_from_user(buf, u64_to_user_ptr(uptr), len)) {
		rmt_kvfree(buf);
		return ERR_PTR(-EFAULT);
	}
	return buf;
}

/* ---------------------------------------------------------------- programs */

static long rmt_ioc_version(void __user *arg)
{
	struct rmt_ioc_version v = {
		.abi = RMT_ABI_VERSION,
		.max_progs = RMT_VM_MAX_PROGS,
		.nr_cpus = nr_cpu_ids,
		.max_trace_fields = RMT_MAX_TRACE_FIELDS,
		.entry_size = sizeof(struct rmt_ioc_entry),
		.trace_rec_size = sizeof(struct rmt_ioc_trace_rec),
		.hooks = rmt_hooks_abi(),
	};

	return copy_to_user(arg, &v, sizeof(v)) ? -EFAULT : 0;
}

static long rmt_ioc_prog_load(void __user *arg)
{
	struct rmt_ioc_prog_load a;
	struct rmt_load_opts opts = {};
	struct rmt_errbuf e;
	void *obj;
	int rc, id;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.flags & ~RMT_LOAD_F_ALL || a.id)
		return -EINVAL;
	if (!a.obj_len)
		return -EINVAL;
	if (a.obj_len > RMT_IOC_MAX_OBJ_SIZE)
		return -E2BIG;
	if (a.trace_capacity && (!is_power_of_2(a.trace_capacity) ||
				 a.trace_capacity > RMT_MAX_TRACE_CAPACITY))
		return -EINVAL;
	rc = rmt_err_init(&e, a.err, a.err_len);
	if (rc)
		return rc;
	obj = rmt_dup_user(a.obj, a.obj_len, &e, "object");
	if (IS_ERR(obj)) {
		rc = PTR_ERR(obj);
		goto out_err;
	}
	opts.trace_capacity = a.trace_capacity;
	opts.seed = a.seed;
	opts.flags = RMT_LOAD_JIT;	/* rmt.jit decides (rmt_kmod_jit.c) */
	id = rmt_vm_load(rmt_dev.vm, obj, a.obj_len, &opts, e.buf, e.len);
	rmt_kvfree(obj);
	if (id < 0) {
		rc = id;
		goto out_err;
	}
	a.id = id;
	if (copy_to_user(arg, &a, sizeof(a))) {
		/* The caller cannot learn the id: undo, so the call changes nothing. */
		rmt_vm_unload(rmt_dev.vm, id);
		rc = -EFAULT;
		goto out_err;
	}
	memset(&rmt_dev.progs[id - 1], 0, sizeof(rmt_dev.progs[id - 1]));
	rmt_dev.progs[id - 1].flags = a.flags;
	rmt_dev.progs[id - 1].load_time_ns = ktime_get_real_ns();
	rc = 0;
out_err:
	rmt_err_done(&e, rc);
	return rc;
}

static long rmt_ioc_prog_unload(void __user *arg)
{
	struct rmt_ioc_prog_id a;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	rmt_hooks_prog_unload(rmt_dev.vm, a.id);
	return rmt_vm_unload(rmt_dev.vm, a.id);
}

static long rmt_ioc_prog_list(void __user *arg)
{
	struct rmt_ioc_prog_list a;
	u32 ids[RMT_VM_MAX_PROGS];
	u32 n = 0, id;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.count > RMT_VM_MAX_PROGS)
		return -EINVAL;
	for (id = 1; id <= RMT_VM_MAX_PROGS; id++)
		if (rmt_dev_loaded(id, NULL))
			ids[n++] = id;
	if (copy_to_user(u64_to_user_ptr(a.ids), ids, min(n, a.count) * sizeof(u32)))
		return -EFAULT;
	a.count = n;
	return copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
}

static long rmt_ioc_prog_info(void __user *arg)
{
	struct rmt_ioc_prog_info a;
	struct rmt_prog_info info;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (!rmt_dev_loaded(a.id, &info))
		return -ENOENT;
	a.obj_len = info.obj_len;
	a.hook_id = info.hook_id;
	a.engine = info.engine == RMT_ENGINE_INTERP ? RMT_PROG_ENGINE_INTERP : RMT_PROG_ENGINE_JIT;
	a.flags = rmt_dev.progs[a.id - 1].flags;
	a.ninsns = info.ninsns;
	a.ntables = info.ntables;
	a.nmodels = info.nmodels;
	a.nmaps = info.nmaps;
	a.ntraces = info.ntraces;
	a.load_time_ns = rmt_dev.progs[a.id - 1].load_time_ns;
	if (a.obj && a.obj_cap >= info.obj_len &&
	    copy_to_user(u64_to_user_ptr(a.obj), info.obj, info.obj_len))
		return -EFAULT;
	return copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
}

/* ---------------------------------------------------------------- tables */

static long rmt_ioc_table_update(void __user *arg)
{
	struct rmt_ioc_table_update *a;
	struct rmt_entry_spec *spec;
	struct rmt_errbuf e;
	int rc;

	/* 424 bytes: too much for the stack of an ioctl. */
	a = rmt_kmalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	rc = rmt_copy_in(a, arg, sizeof(*a));
	if (rc)
		goto out;
	rc = -EINVAL;
	if (a->pad || a->op > RMT_TABLE_DELETE)
		goto out;
	rc = -ENOENT;
	if (!rmt_dev_loaded(a->id, NULL))
		goto out;
	rc = rmt_err_init(&e, a->err, a->err_len);
	if (rc)
		goto out;
	spec = (struct rmt_entry_spec *)&a->entry;	/* same layout, checked at build */
	rc = rmt_vm_table_update(rmt_dev.vm, a->id, a->table, a->op, spec, e.buf, e.len);
	rmt_err_done(&e, rc);
out:
	rmt_kfree(a);
	return rc;
}

static long rmt_ioc_table_batch(void __user *arg)
{
	struct rmt_ioc_table_batch a;
	struct rmt_table_op *ops = NULL;
	struct rmt_errbuf e;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.count > RMT_IOC_MAX_BATCH)
		return -EINVAL;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	/*
	 * Report "none failed" first: a payload that cannot be written back is
	 * refused before the table changes, not after.
	 */
	a.failed = a.count;
	if (copy_to_user(arg, &a, sizeof(a)))
		return -EFAULT;
	rc = rmt_err_init(&e, a.err, a.err_len);
	if (rc)
		return rc;
	if (a.count) {			/* at most 1024 x 400 bytes: the count is capped above */
		ops = rmt_dup_user(a.ops, a.count * sizeof(*ops), &e, "batch");
		if (IS_ERR(ops)) {
			rc = PTR_ERR(ops);
			ops = NULL;
			goto out;
		}
	}
	rc = rmt_vm_table_batch(rmt_dev.vm, a.id, a.table, ops, a.count, &a.failed,
				e.buf, e.len);
	/* a refusal: say which update; the table is unchanged whatever happens here */
	if (rc && copy_to_user(arg, &a, sizeof(a)))
		pr_debug("rmt: batch payload not writable\n");
out:
	rmt_err_done(&e, rc);
	rmt_kvfree(ops);
	return rc;
}

static long rmt_ioc_table_dump(void __user *arg)
{
	struct rmt_ioc_table_dump a;
	struct rmt_entry_dump *buf;
	u64 misses = 0;
	int rc, n;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.pad || !a.count || a.count > RMT_IOC_MAX_BATCH)
		return -EINVAL;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	buf = rmt_kvmalloc_array(a.count, sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	n = rmt_vm_table_dump(rmt_dev.vm, a.id, a.table, a.start, buf, a.count, &misses);
	if (n < 0) {
		rc = n;
		goto out;
	}
	rc = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(a.entries), buf, (size_t)n * sizeof(*buf)))
		goto out;
	a.count = n;
	a.misses = misses;
	rc = copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
out:
	rmt_kvfree(buf);
	return rc;
}

/* ---------------------------------------------------------------- models, maps */

/*
 * MODEL_LOAD (@stage false): check a weights blob and swap it in; MODEL_STAGE (@stage true):
 * the same checks, the blob staged beside the live weights as a candidate.  One argument
 * struct and one path for both, so a check added to one cannot be missed by the other.
 */
static long rmt_ioc_weights(void __user *arg, bool stage)
{
	struct rmt_ioc_model_load a;
	struct rmt_dev_prog *p;
	struct rmt_errbuf e;
	void *blob;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.pad || a.version || !a.blob_len)
		return -EINVAL;
	if (a.blob_len > RMT_IOC_MAX_WEIGHTS_SIZE)
		return -E2BIG;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	/* A swap cannot be undone: make sure the version can be reported first. */
	if (copy_to_user(arg, &a, sizeof(a)))
		return -EFAULT;
	rc = rmt_err_init(&e, a.err, a.err_len);
	if (rc)
		return rc;
	blob = rmt_dup_user(a.blob, a.blob_len, &e, "weights blob");
	if (IS_ERR(blob)) {
		rc = PTR_ERR(blob);
		goto out;
	}
	if (stage)
		rc = rmt_vm_model_stage(rmt_dev.vm, a.id, a.model, blob, a.blob_len, e.buf, e.len);
	else
		rc = rmt_vm_model_load(rmt_dev.vm, a.id, a.model, blob, a.blob_len, e.buf, e.len);
	rmt_kvfree(blob);
	if (rc < 0)
		goto out;
	/* rmt_vm_model_load/stage() checked a.model against the program's models. */
	p = &rmt_dev.progs[a.id - 1];
	if (stage) {
		p->cand_bytes[a.model] = a.blob_len;
	} else {
		p->prev_bytes[a.model] = p->model_bytes[a.model];
		p->prev_time_ns[a.model] = p->model_time_ns[a.model];
		p->model_bytes[a.model] = a.blob_len;
		p->model_time_ns[a.model] = ktime_get_real_ns();
	}
	a.version = rc;
	rc = copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
out:
	rmt_err_done(&e, rc);
	return rc;
}

static long rmt_ioc_model_load(void __user *arg)
{
	return rmt_ioc_weights(arg, false);
}

static long rmt_ioc_model_info(void __user *arg)
{
	struct rmt_ioc_model_info a;
	s64 version;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.pad)
		return -EINVAL;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	version = rmt_vm_model_version(rmt_dev.vm, a.id, a.model);
	if (version < 0)
		return -ENOENT;
	a.version = version;
	a.bytes = a.version ? rmt_dev.progs[a.id - 1].model_bytes[a.model] : 0;
	a.load_time_ns = a.version ? rmt_dev.progs[a.id - 1].model_time_ns[a.model] : 0;
	return copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
}

/* ---------------------------------------------------------------- candidate models */

/* MODEL_STAGE: check a blob as MODEL_LOAD does; stage it beside the live weights. */
static long rmt_ioc_model_stage(void __user *arg)
{
	return rmt_ioc_weights(arg, true);
}

/* MODEL_CTL: promote, roll back or unstage; the sizes `model info` shows follow. */
static long rmt_ioc_model_ctl(void __user *arg)
{
	struct rmt_ioc_model_ctl a;
	struct rmt_dev_prog *p;
	struct rmt_errbuf e;
	u32 m;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.pad || a.version)
		return -EINVAL;
	if (a.op != RMT_IOC_MODEL_OP_PROMOTE && a.op != RMT_IOC_MODEL_OP_ROLLBACK &&
	    a.op != RMT_IOC_MODEL_OP_UNSTAGE)
		return -EINVAL;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	/* A promote cannot be undone by this call: make sure it can report first. */
	if (copy_to_user(arg, &a, sizeof(a)))
		return -EFAULT;
	rc = rmt_err_init(&e, a.err, a.err_len);
	if (rc)
		return rc;
	rc = rmt_vm_model_ctl(rmt_dev.vm, a.id, a.model, a.op, e.buf, e.len);
	if (rc < 0)
		goto out;
	/* rmt_vm_model_ctl() checked a.model against the program's models. */
	p = &rmt_dev.progs[a.id - 1];
	m = a.model;
	if (a.op == RMT_IOC_MODEL_OP_PROMOTE) {
		p->prev_bytes[m] = p->model_bytes[m];
		p->prev_time_ns[m] = p->model_time_ns[m];
		p->model_bytes[m] = p->cand_bytes[m];
		p->model_time_ns[m] = ktime_get_real_ns();
	} else if (a.op == RMT_IOC_MODEL_OP_ROLLBACK) {
		p->model_bytes[m] = p->prev_bytes[m];
		p->model_time_ns[m] = p->prev_time_ns[m];
	}
	a.version = rc;
	rc = copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
out:
	rmt_err_done(&e, rc);
	return rc;
}

static long rmt_ioc_model_state(void __user *arg)
{
	struct rmt_ioc_model_state *a;
	struct rmt_model_state *st;
	u32 i;
	int rc;

	a = rmt_kzalloc(sizeof(*a), GFP_KERNEL);
	st = rmt_kzalloc(sizeof(*st), GFP_KERNEL);
	rc = -ENOMEM;
	if (!a || !st)
		goto out;
	rc = rmt_copy_in(a, arg, sizeof(*a));
	if (rc)
		goto out;
	rc = -EINVAL;
	if (a->pad)
		goto out;
	rc = -ENOENT;
	if (!rmt_dev_loaded(a->id, NULL))
		goto out;
	rc = rmt_vm_model_state(rmt_dev.vm, a->id, a->model, st);
	if (rc)
		goto out;
	a->version = st->version;
	a->cand_version = st->cand_version;
	a->prev_version = st->prev_version;
	a->agree = st->agree;
	a->disagree = st->disagree;
	a->nevents = st->nevents;
	a->nhist = st->nhist;
	memset(a->hist, 0, sizeof(a->hist));
	for (i = 0; i < st->nhist && i < RMT_IOC_MODEL_HISTORY; i++) {
		a->hist[i].version = st->hist[i].version;
		a->hist[i].op = st->hist[i].op;
		a->hist[i].agree = st->hist[i].agree;
		a->hist[i].disagree = st->hist[i].disagree;
	}
	rc = copy_to_user(arg, a, sizeof(*a)) ? -EFAULT : 0;
out:
	rmt_kfree(st);
	rmt_kfree(a);
	return rc;
}

static long rmt_ioc_map_read(void __user *arg)
{
	struct rmt_ioc_map_read a;
	u64 *keys, *vals, cursor;
	int rc, n;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (!a.count || a.count > RMT_IOC_MAX_BATCH)
		return -EINVAL;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	/*
	 * A private map's contents stay in the kernel: the verifier lets a
	 * program keep data from non-exportable context fields (pids, page
	 * addresses) only in maps declared private.
	 */
	rc = rmt_vm_map_flags(rmt_dev.vm, a.id, a.map);	/* no such map: MAP_READ says so */
	if (rc > 0 && (rc & RMT_MAP_PRIVATE))
		return -EPERM;
	keys = rmt_kvmalloc_array(a.count, sizeof(u64), GFP_KERNEL);
	vals = rmt_kvmalloc_array(a.count, sizeof(u64), GFP_KERNEL);
	rc = -ENOMEM;
	if (!keys || !vals)
		goto out;
	cursor = a.cursor;
	n = rmt_vm_map_read(rmt_dev.vm, a.id, a.map, &cursor, keys, vals, a.count);
	if (n < 0) {
		rc = n;
		goto out;
	}
	rc = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(a.keys), keys, (size_t)n * sizeof(u64)) ||
	    copy_to_user(u64_to_user_ptr(a.vals), vals, (size_t)n * sizeof(u64)))
		goto out;
	a.count = n;
	a.cursor = cursor;
	rc = copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
out:
	rmt_kvfree(keys);
	rmt_kvfree(vals);
	return rc;
}

static long rmt_ioc_map_write(void __user *arg)
{
	struct rmt_ioc_map_write a;
	struct rmt_errbuf e;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	rc = rmt_err_init(&e, a.err, a.err_len);
	if (rc)
		return rc;
	rc = rmt_vm_map_write(rmt_dev.vm, a.id, a.map, a.key, a.val, e.buf, e.len);
	rmt_err_done(&e, rc);
	return rc;
}

/* ---------------------------------------------------------------- counters, runs */

static long rmt_ioc_stats(void __user *arg)
{
	struct rmt_ioc_stats *a;
	int rc;

	a = rmt_kmalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	rc = rmt_copy_in(a, arg, sizeof(u32) * 2);
	if (rc)
		goto out;
	/* Same layout as struct rmt_stats, checked at build. */
	rc = rmt_vm_stats(rmt_dev.vm, a->id, (struct rmt_stats *)&a->c);
	if (rc)
		goto out;
	rc = copy_to_user(arg, a, sizeof(*a)) ? -EFAULT : 0;
out:
	rmt_kfree(a);
	return rc;
}

struct rmt_run_args {
	u32 id;
	u8 *ctx;
	u32 ctx_len;
	u64 now;
	bool shadow;
	s64 kernel_decision;
	struct rmt_run_result res;
	int rc;
};

/*
 * Runs on the requested CPU with interrupts off (an IPI, or a direct call
 * with interrupts disabled on the local CPU), so no hook can run on that CPU
 * meanwhile and use the same per-CPU buffers of the program.
 */
static void rmt_run_on_cpu(void *data)
{
	struct rmt_run_args *r = data;
	u32 cpu = smp_processor_id();

	r->rc = rmt_vm_run(rmt_dev.vm, r->id, r->ctx, r->ctx_len, cpu, r->now, &r->res);
	if (!r->rc && r->shadow)
		rmt_vm_shadow_account(rmt_dev.vm, r->id, cpu, r->res.decision,
				      r->kernel_decision);
}

static long rmt_ioc_prog_run(void __user *arg)
{
	struct rmt_ioc_prog_run a;
	struct rmt_run_args r = {};
	struct rmt_prog_info info;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.pad || a.flags & ~RMT_RUN_F_SHADOW || !a.ctx_len || a.ctx_len > RMT_IOC_MAX_CTX)
		return -EINVAL;
	if (!rmt_dev_loaded(a.id, &info))
		return -ENOENT;
	if (a.ctx_len != info.ctx_size || a.cpu >= nr_cpu_ids || !cpu_online(a.cpu))
		return -EINVAL;
	r.ctx = rmt_dup_user(a.ctx, a.ctx_len, NULL, "context");
	if (IS_ERR(r.ctx))
		return PTR_ERR(r.ctx);
	/*
	 * A run cannot be undone (counters, maps, trace): make sure both results
	 * can be written back before it happens (fuzz_ioctl found read-only
	 * buffers failing the call after the run had changed the counters).
	 */
	rc = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(a.ctx), r.ctx, a.ctx_len) ||
	    copy_to_user(arg, &a, sizeof(a)))
		goto out;
	r.id = a.id;
	r.ctx_len = a.ctx_len;
	r.now = a.now;
	r.shadow = a.flags & RMT_RUN_F_SHADOW;
	r.kernel_decision = a.kernel_decision;
	rc = smp_call_function_single(a.cpu, rmt_run_on_cpu, &r, 1);
	if (!rc)
		rc = r.rc;
	if (rc)
		goto out;
	a.decision = r.res.decision;
	a.abort = r.res.abort;
	a.abort_pc = r.res.abort_pc;
	rc = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(a.ctx), r.ctx, a.ctx_len) ||
	    copy_to_user(arg, &a, sizeof(a)))
		goto out;
	rc = 0;
out:
	rmt_kvfree(r.ctx);
	return rc;
}

/* TRACE_SELECT: read() on this file returns only program @id's records. */
static long rmt_ioc_trace_select(struct file *f, void __user *arg)
{
	struct rmt_ioc_prog_id a;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.id && !rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	f->private_data = (void *)(uintptr_t)a.id;
	return 0;
}

/* The uapi record from the VM's (which zeroed what is past nvals). */
static void rmt_dev_trace_rec(struct rmt_ioc_trace_rec *out, u32 id,
			      const struct rmt_trace_rec *r)
{
	out->prog_id = id;
	out->fmt = r->fmt;
	out->cpu = r->cpu;
	out->nvals = r->nvals;
	out->ts = r->ts;
	memcpy(out->vals, r->vals, sizeof(out->vals));
}

static long rmt_ioc_trace_peek(void __user *arg)
{
	struct rmt_ioc_trace_peek a;
	struct rmt_ioc_trace_rec *out;
	struct rmt_trace_rec *tmp;
	int rc, n, i;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.pad || !a.count || a.count > RMT_IOC_MAX_BATCH)
		return -EINVAL;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	out = rmt_kvmalloc_array(a.count, sizeof(*out), GFP_KERNEL);
	tmp = rmt_kvmalloc_array(a.count, sizeof(*tmp), GFP_KERNEL);
	rc = -ENOMEM;
	if (!out || !tmp)
		goto out;
	n = rmt_vm_trace_peek(rmt_dev.vm, a.id, a.skip, tmp, a.count, &a.pos);
	if (n < 0) {
		rc = n;
		goto out;
	}
	for (i = 0; i < n; i++)
		rmt_dev_trace_rec(&out[i], a.id, &tmp[i]);
	a.count = n;
	rc = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(a.recs), out, (size_t)n * sizeof(*out)) ||
	    copy_to_user(arg, &a, sizeof(a)))
		goto out;
	rc = 0;
out:
	rmt_kvfree(out);
	rmt_kvfree(tmp);
	return rc;
}

static long rmt_ioc_trace_ack(void __user *arg)
{
	struct rmt_ioc_trace_ack a;
	int rc;

	rc = rmt_copy_in(&a, arg, sizeof(a));
	if (rc)
		return rc;
	if (a.pad)
		return -EINVAL;
	if (!rmt_dev_loaded(a.id, NULL))
		return -ENOENT;
	return rmt_vm_trace_ack(rmt_dev.vm, a.id, a.pos, a.count);
}

/* ---------------------------------------------------------------- file ops */

static long rmt_dev_dispatch(struct file *f, unsigned int cmd, void __user *arg)
{
	switch (cmd) {
	case RMT_IOC_VERSION:
		return rmt_ioc_version(arg);
	case RMT_IOC_PROG_LOAD:
		return rmt_ioc_prog_load(arg);
	case RMT_IOC_PROG_UNLOAD:
		return rmt_ioc_prog_unload(arg);
	case RMT_IOC_PROG_LIST:
		return rmt_ioc_prog_list(arg);
	case RMT_IOC_PROG_INFO:
		return rmt_ioc_prog_info(arg);
	case RMT_IOC_TABLE_UPDATE:
		return rmt_ioc_table_update(arg);
	case RMT_IOC_TABLE_DUMP:
		return rmt_ioc_table_dump(arg);
	case RMT_IOC_MODEL_LOAD:
		return rmt_ioc_model_load(arg);
	case RMT_IOC_MODEL_INFO:
		return rmt_ioc_model_info(arg);
	case RMT_IOC_MAP_READ:
		return rmt_ioc_map_read(arg);
	case RMT_IOC_MAP_WRITE:
		return rmt_ioc_map_write(arg);
	case RMT_IOC_STATS:
		return rmt_ioc_stats(arg);
	case RMT_IOC_PROG_RUN:
		return rmt_ioc_prog_run(arg);
	case RMT_IOC_TRACE_SELECT:
		return rmt_ioc_trace_select(f, arg);
	/* candidate models */
	case RMT_IOC_MODEL_STAGE:
		return rmt_ioc_model_stage(arg);
	case RMT_IOC_MODEL_CTL:
		return rmt_ioc_model_ctl(arg);
	case RMT_IOC_MODEL_STATE:
		return rmt_ioc_model_state(arg);
	case RMT_IOC_TABLE_BATCH:
		return rmt_ioc_table_batch(arg);
	case RMT_IOC_TRACE_PEEK:
		return rmt_ioc_trace_peek(arg);
	case RMT_IOC_TRACE_ACK:
		return rmt_ioc_trace_ack(arg);
	}
	if (_IOC_TYPE(cmd) == RMT_IOC_MAGIC && _IOC_NR(cmd) >= RMT_IOC_HOOK_NR_FIRST &&
	    _IOC_NR(cmd) <= RMT_IOC_HOOK_NR_LAST)
		return rmt_hooks_ioctl(rmt_dev.vm, cmd, arg);
	return -ENOTTY;
}

static long rmt_dev_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	long rc;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	mutex_lock(&rmt_dev.lock);
	rc = rmt_dev_dispatch(f, cmd, (void __user *)arg);
	mutex_unlock(&rmt_dev.lock);
	return rc;
}

/*
 * read(): trace records, whole records only.  Records taken from a ring are
 * gone; if the copy to the caller's buffer then faults they are lost and the
 * call returns -EFAULT (a buffer that passes access_ok() but is not mapped).
 */
static ssize_t rmt_dev_read(struct file *f, char __user *buf, size_t count, loff_t *ppos)
{
	u32 only = (u32)(uintptr_t)f->private_data;
	struct rmt_ioc_trace_rec *out;
	struct rmt_trace_rec *tmp;
	size_t max = count / sizeof(*out);
	ssize_t rc;
	u32 id, n = 0, i;
	int got;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (!max)
		return -EINVAL;
	if (!access_ok(buf, count))
		return -EFAULT;
	max = min_t(size_t, max, RMT_READ_BATCH);
	out = rmt_kmalloc_array(max, sizeof(*out), GFP_KERNEL);
	tmp = rmt_kmalloc_array(max, sizeof(*tmp), GFP_KERNEL);
	rc = -ENOMEM;
	if (!out || !tmp)
		goto out;
	mutex_lock(&rmt_dev.lock);
	for (id = only ? only : 1; id <= RMT_VM_MAX_PROGS && n < max; id++) {
		if (rmt_dev_loaded(id, NULL)) {
			got = rmt_vm_trace_drain(rmt_dev.vm, id, tmp, max - n);
			for (i = 0; got > 0 && i < got; i++, n++)
				rmt_dev_trace_rec(&out[n], id, &tmp[i]);
		}
		if (only)
			break;
	}
	mutex_unlock(&rmt_dev.lock);
	rc = copy_to_user(buf, out, n * sizeof(*out)) ? -EFAULT : n * sizeof(*out);
out:
	rmt_kfree(out);
	rmt_kfree(tmp);
	return rc;
}

static int rmt_dev_open(struct inode *inode, struct file *f)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	f->private_data = NULL;	/* read(): every program's records */
	return stream_open(inode, f);
}

static const struct file_operations rmt_dev_fops = {
	.owner = THIS_MODULE,
	.open = rmt_dev_open,
	.read = rmt_dev_read,
	.unlocked_ioctl = rmt_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
};

static struct miscdevice rmt_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rmt",
	.fops = &rmt_dev_fops,
	.mode = 0600,
};

int __init rmt_dev_init(struct rmt_vm *vm)
{
	rmt_dev_layout_checks();
	rmt_dev.vm = vm;
	mutex_init(&rmt_dev.lock);
	return misc_register(&rmt_miscdev);
}

void rmt_dev_exit(void)
{
	misc_deregister(&rmt_miscdev);
	mutex_destroy(&rmt_dev.lock);
}
