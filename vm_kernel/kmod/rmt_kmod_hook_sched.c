// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_kmod_hook_sched.c: sched.can_migrate_task, a kretprobe on
 * can_migrate_task(struct task_struct *p, struct lb_env *env).
 *
 * The entry handler builds the context from @p and @env (x86-64: %rdi,
 * %rsi) into the kretprobe instance; the return handler adds the kernel's
 * verdict, runs the program and, unless it decided DEFAULT, replaces the
 * return value.  A hard constraint the kernel obeyed (throttled pair,
 * per-CPU kthread, affinity, running task: the checks before the cache-hot
 * test in Linux 6.1) always wins: the program only changes the soft part.
 *
 * Both handlers run under the source rq's lock with interrupts off, in
 * atomic context: nothing here sleeps.  struct lb_env, struct rq, struct
 * cfs_rq and struct task_group are private to kernel/sched/; their members
 * are read at BTF offsets checked against the BTF struct sizes at attach,
 * and every read through a pointer found in them uses
 * copy_from_kernel_nofault(), so offsets that do not match this kernel read
 * garbage values (clamped to the context's declared ranges) but cannot
 * fault.  task_struct and sched_domain are public: their offsets must equal
 * this build's offsetof(), which also proves the BTF is the running
 * kernel's.
 */
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/sched.h>
#include <linux/sched/topology.h>
#include <linux/topology.h>
#include <linux/uaccess.h>
#define RMT_HOOK_OFFSETS_CHECK_SCHED
#include "rmt_hooks_kern.h"

/*
 * The entry handler copies struct lb_env whole (6.1: 112 bytes) into a buffer
 * of RMT_SCHED_LB_ENV_MAX, the bound the spec gives and the attach checks.
 */

struct rmt_sched_data {
	struct rmt_ctx_sched_can_migrate_task ctx;
	u64 t0;
	int prog_id;
	u32 flags;
	bool hard;
};

static struct kretprobe rmt_sched_krp;

static __always_inline u64 rmt_clamp(u64 v, u64 hi)
{
	return v > hi ? hi : v;
}

/* Read @n bytes at @base + @off, or fail (absent member, bad pointer). */
static bool rmt_nf(const void *base, u32 off, void *dst, size_t n)
{
	if (!base || off == RMT_OFF_NONE)
		return false;
	return !copy_from_kernel_nofault(dst, (const u8 *)base + off, n);
}

static u64 rmt_nf_u64(const void *base, u32 off)
{
	u64 v;

	return rmt_nf(base, off, &v, sizeof(v)) ? v : 0;
}

static u32 rmt_nf_u32(const void *base, u32 off)
{
	u32 v;

	return rmt_nf(base, off, &v, sizeof(v)) ? v : 0;
}

static const void *rmt_nf_ptr(const void *base, u32 off)
{
	const void *v;

	return rmt_nf(base, off, &v, sizeof(v)) ? v : NULL;
}

#define RMT_TASK(p, off, type) (*(const type *)((const u8 *)(p) + (off)))
#define RMT_ENV(e, off, type) (*(const type *)((const u8 *)(e) + (off)))

/* NUMA hint faults of @p on node @nid (task_faults(): private + shared, NUMA_MEM). */
static u64 rmt_task_node_faults(const struct rmt_sched_offsets *o, const void *p, int nid)
{
	const unsigned long *faults;
	unsigned long f[2];

	if (o->task_numa_faults == RMT_OFF_NONE || nid < 0 || nid >= nr_node_ids)
		return 0;
	faults = RMT_TASK(p, o->task_numa_faults, const unsigned long *);
	if (!faults || copy_from_kernel_nofault(f, faults + 2 * nid, sizeof(f)))
		return 0;
	return f[0] + f[1];
}

/* throttled_lb_pair(task_group(p), src, dst): either CPU's cfs_rq of the group throttled. */
static bool rmt_throttled_pair(const struct rmt_sched_offsets *o, const void *p,
			       int src, int dst)
{
	const void *tg, *const *cfs, *rq_src, *rq_dst;

	if (o->task_sched_task_group == RMT_OFF_NONE || o->tg_cfs_rq == RMT_OFF_NONE ||
	    o->cfs_rq_throttle_count == RMT_OFF_NONE)
		return false;
	tg = RMT_TASK(p, o->task_sched_task_group, const void *);
	cfs = rmt_nf_ptr(tg, o->tg_cfs_rq);
	if (!cfs)
		return false;	/* the root group is never throttled */
	if (copy_from_kernel_nofault(&rq_src, cfs + src, sizeof(rq_src)) ||
	    copy_from_kernel_nofault(&rq_dst, cfs + dst, sizeof(rq_dst)))
		return false;
	return rmt_nf_u32(rq_src, o->cfs_rq_throttle_count) ||
	       rmt_nf_u32(rq_dst, o->cfs_rq_throttle_count);
}

/*
 * Build the context of can_migrate_task(@p, @env) and decide whether a hard
 * constraint applies.  Return: false when @env could not be read.
 */
static bool rmt_sched_build(const struct rmt_sched_offsets *o, const void *p,
			    const void *env_ptr, struct rmt_sched_data *d)
{
	struct rmt_ctx_sched_can_migrate_task *c = &d->ctx;
	u8 env[RMT_SCHED_LB_ENV_MAX];
	const void *sd, *src_rq, *dst_rq, *se_cfs, *se;
	const unsigned long *cpus;
	unsigned long word;
	int src, dst, src_nid, dst_nid, pref_nid;
	u32 policy, sd_flags, src_nr, dst_nr, cost32;
	u64 cost, now_task, exec_start;
	s64 age;
	bool buddy, hot;

	memset(c, 0, sizeof(*c));
	if (copy_from_kernel_nofault(env, env_ptr, o->lb_env_size))
		return false;
	sd = RMT_ENV(env, o->env_sd, const void *);
	src_rq = RMT_ENV(env, o->env_src_rq, const void *);
	dst_rq = RMT_ENV(env, o->env_dst_rq, const void *);
	src = RMT_ENV(env, o->env_src_cpu, int);
	dst = RMT_ENV(env, o->env_dst_cpu, int);
	if (src < 0 || src >= nr_cpu_ids || dst < 0 || dst >= nr_cpu_ids)
		return false;

	c->pid = rmt_clamp(max(RMT_TASK(p, o->task_pid, int), 0), 4194304);
	c->src_cpu = rmt_clamp(src, 4095);
	c->dst_cpu = rmt_clamp(dst, 4095);
	c->idle = rmt_clamp(RMT_ENV(env, o->env_idle, u32), 2);
	c->lb_flags = RMT_ENV(env, o->env_flags, u32);
	c->sd_level = rmt_clamp(max_t(int, (int)rmt_nf_u32(sd, o->sd_level), 0), 3);
	c->nr_balance_failed = rmt_clamp(rmt_nf_u32(sd, o->sd_nr_balance_failed), 1024);
	c->cache_nice_tries = rmt_clamp(rmt_nf_u32(sd, o->sd_cache_nice_tries), 8);
	sd_flags = rmt_nf_u32(sd, o->sd_flags);
	src_nr = rmt_nf_u32(src_rq, o->rq_nr_running);
	dst_nr = rmt_nf_u32(dst_rq, o->rq_nr_running);
	c->src_nr_running = rmt_clamp(src_nr, 65536);
	c->dst_nr_running = rmt_clamp(dst_nr, 65536);
	c->src_load = rmt_clamp(rmt_nf_u64(src_rq, o->rq_cfs_load_avg), 1ull << 32);
	c->dst_load = rmt_clamp(rmt_nf_u64(dst_rq, o->rq_cfs_load_avg), 1ull << 32);

	/* NUMA: nodes, preferred node, hint faults. */
	src_nid = cpu_to_node(src);
	dst_nid = cpu_to_node(dst);
	c->same_node = src_nid == dst_nid;
	pref_nid = o->task_numa_preferred_nid == RMT_OFF_NONE ? NUMA_NO_NODE :
		   RMT_TASK(p, o->task_numa_preferred_nid, int);
	c->prefer_src = pref_nid != NUMA_NO_NODE && pref_nid == src_nid;
	c->prefer_dst = pref_nid != NUMA_NO_NODE && pref_nid == dst_nid;
	c->src_non_pref = o->rq_nr_preferred_running != RMT_OFF_NONE &&
			  src_nr > rmt_nf_u32(src_rq, o->rq_nr_preferred_running);
	c->numa_faults_src = rmt_clamp(rmt_task_node_faults(o, p, src_nid), U32_MAX);
	c->numa_faults_dst = rmt_clamp(rmt_task_node_faults(o, p, dst_nid), U32_MAX);
	if (o->task_total_numa_faults != RMT_OFF_NONE)
		c->numa_faults_total =
			rmt_clamp(RMT_TASK(p, o->task_total_numa_faults, unsigned long), U32_MAX);

	/* task_hot() of 6.1, without the core-scheduling cookie test. */
	cost = o->migration_cost_ns;
	if (o->migration_cost_addr &&
	    !copy_from_kernel_nofault(&cost32, (const void *)(unsigned long)o->migration_cost_addr,
				      sizeof(cost32)))
		cost = cost32 == U32_MAX ? U64_MAX : cost32;
	c->migration_cost_ns = rmt_clamp(cost, NSEC_PER_SEC);
	now_task = rmt_nf_u64(src_rq, o->rq_clock_task);
	exec_start = RMT_TASK(p, o->task_se_exec_start, u64);
	age = (s64)(now_task - exec_start);
	c->exec_age_ns = age < 0 ? 0 : rmt_clamp(age, 1ull << 40);
	se = (const u8 *)p + o->task_se;
	se_cfs = RMT_TASK(p, o->task_se_cfs_rq, const void *);
	buddy = dst_nr && (rmt_nf_ptr(se_cfs, o->cfs_rq_next) == se ||
			   rmt_nf_ptr(se_cfs, o->cfs_rq_last) == se);
	c->buddy_hot = buddy;
	policy = RMT_TASK(p, o->task_policy, u32);
	if ((policy != SCHED_NORMAL && policy != SCHED_BATCH) || policy == o->sched_idle_policy ||
	    (sd_flags & o->sd_share_cpucapacity))
		hot = false;
	else if (buddy || cost == U64_MAX)
		hot = true;
	else
		hot = cost && age < (s64)cost;
	c->task_hot = hot;
	rmt_ctx_sched_can_migrate_task_clamp(c);	/* the spec's ranges, whatever came above */

	/* The hard constraints, checked in the kernel's order. */
	cpus = RMT_TASK(p, o->task_cpus_ptr, const unsigned long *);
	d->hard = rmt_throttled_pair(o, p, src, dst) ||
		  ((RMT_TASK(p, o->task_flags, u32) & o->pf_kthread) &&
		   RMT_TASK(p, o->task_nr_cpus_allowed, int) == 1) ||
		  !cpus || copy_from_kernel_nofault(&word, cpus + BIT_WORD(dst), sizeof(word)) ||
		  !(word & BIT_MASK(dst)) ||
		  RMT_TASK(p, o->task_on_cpu, int);
	return true;
}

static int rmt_sched_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct rmt_hook *h = &rmt_hook_sched;
	struct rmt_sched_data *d = (struct rmt_sched_data *)ri->data;
	const struct rmt_hook_bind *b;
	u64 t0 = ktime_get_ns();

	rmt_hook_inc(h, hits);
	b = rcu_dereference_sched(h->bind);
	if (!b) {
		rmt_hook_inc(h, no_prog);
		return 1;
	}
	if (b->flags & RMT_HOOK_F_EMPTY)
		return 1;	/* the overhead baseline: no return handler */
	if (!rmt_sched_build(&b->off.sched, (const void *)regs->di, (const void *)regs->si, d)) {
		rmt_hook_inc(h, ctx_errors);
		return 1;
	}
	d->t0 = t0;
	d->prog_id = b->prog_id;
	d->flags = b->flags;
	return 0;
}

static int rmt_sched_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct rmt_hook *h = &rmt_hook_sched;
	struct rmt_sched_data *d = (struct rmt_sched_data *)ri->data;
	u32 cpu = smp_processor_id();
	struct rmt_run_result res;
	u8 verdict = regs_return_value(regs) ? 1 : 0;

	d->ctx.kernel_verdict = verdict;
	d->ctx.hard_veto = d->hard && !verdict;
	if (verdict)
		rmt_hook_inc(h, kernel_yes);
	else
		rmt_hook_inc(h, kernel_no);
	if (d->ctx.hard_veto)
		rmt_hook_inc(h, hard_veto);

	if (!rmt_hook_exec(h, d->prog_id, &d->ctx, sizeof(d->ctx), cpu, d->t0, &res) ||
	    !rmt_hook_verdict(h, d->flags, d->prog_id, cpu, res.decision, verdict))
		goto out;
	if (d->ctx.hard_veto) {
		rmt_hook_inc(h, hard_wins);
	} else {
		regs_set_return_value(regs, res.decision ? 1 : 0);
		rmt_hook_inc(h, overrides);
	}
out:
	rmt_hook_add(h, ns_total, ktime_get_ns() - d->t0);
	return 0;
}

/* Every check of the payload is generated from the hook's spec (rmt_hooks.h). */
static int rmt_sched_check(const struct rmt_hook_bind *b, char *err, size_t len)
{
	return rmt_sched_offsets_check(&b->off.sched, err, len);
}

static int rmt_sched_reg(void)
{
	memset(&rmt_sched_krp, 0, sizeof(rmt_sched_krp));
	rmt_sched_krp.kp.symbol_name = "can_migrate_task";
	rmt_sched_krp.entry_handler = rmt_sched_entry;
	rmt_sched_krp.handler = rmt_sched_ret;
	rmt_sched_krp.data_size = sizeof(struct rmt_sched_data);
	/* Called under the rq lock, never nested: two per CPU is plenty. */
	rmt_sched_krp.maxactive = 2 * num_possible_cpus() + 4;
	return register_kretprobe(&rmt_sched_krp);
}

static void rmt_sched_unreg(void)
{
	unregister_kretprobe(&rmt_sched_krp);
}

static u64 rmt_sched_nmissed(void)
{
	return (u64)rmt_sched_krp.nmissed + rmt_sched_krp.kp.nmissed;
}

struct rmt_hook rmt_hook_sched = {
	.id = RMT_HOOK_SCHED_CAN_MIGRATE_TASK_ID,
	.symbol = "can_migrate_task",
	.offsets_size = sizeof(struct rmt_sched_offsets),
	.check = rmt_sched_check,
	.reg = rmt_sched_reg,
	.unreg = rmt_sched_unreg,
	.nmissed = rmt_sched_nmissed,
};
