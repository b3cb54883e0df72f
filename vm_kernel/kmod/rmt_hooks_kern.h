/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_hooks_kern.h: the kprobes that run RMT programs at kernel decision
 * points (rmt.ko only).
 *
 * rmt_kmod_hooks.c keeps one struct rmt_hook per probed hook and implements the
 * control plane (attach, detach, statistics: uapi/rmt_hooks.h);
 * rmt_kmod_hook_sched.c and rmt_kmod_hook_swap.c are the probes.  What a handler needs
 * (program id, mode, BTF offsets) is one RCU-published struct rmt_hook_bind:
 * replacing the program swaps the pointer, so a handler sees the old binding
 * or the new one, never a mix.  Handlers run with preemption disabled, which
 * is an RCU read-side section (rcu_dereference_sched()).
 */
#ifndef _RMT_HOOKS_KERN_H
#define _RMT_HOOKS_KERN_H

#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include "rmt_vm.h"
#include "rmt_hooks.h"
#include "uapi/rmt_hooks.h"
/* the probes' part of the generated header: payloads, checks, the hook list */
#define RMT_KMOD_HOOKS
#include "rmt_hooks.h"

/* Per-CPU counters of a hook: struct rmt_hook_stats without the header. */
struct rmt_hook_pcpu {
	u64 hits;
	u64 runs;
	u64 no_prog;
	u64 ctx_errors;
	u64 aborts;
	u64 defaults;
	u64 overrides;
	u64 hard_wins;
	u64 same;
	u64 shadow_agree;
	u64 shadow_disagree;
	u64 kernel_yes;
	u64 kernel_no;
	u64 hard_veto;
	u64 ns_total;
	u64 hist_busy;
	u64 ns_vm;
};

/**
 * struct rmt_hook_bind - what the handlers of one hook run, published with RCU
 * @prog_id: program to run (0 with RMT_HOOK_F_EMPTY)
 * @flags: RMT_HOOK_F_* (SHADOW also when the object's mode is shadow)
 * @off: the hook's attach payload (@off.sched for hook sched, ...), checked
 *	by its generated rmt_<hook>_offsets_check()
 */
struct rmt_hook_bind {
	int prog_id;
	u32 flags;
	union rmt_hook_offsets off;
};

/**
 * struct rmt_hook - one probed hook
 * @id: RMT_HOOK_*_ID
 * @symbol: the probed kernel function
 * @offsets_size: bytes of its attach payload (struct rmt_<offsets>_offsets)
 * @bind: current binding, NULL when detached
 * @pc: per-CPU counters, zeroed when the probe is registered
 * @registered: the probe is armed
 * @check: validate a binding's offsets; fills @err on failure
 * @reg: register the probe
 * @unreg: unregister it; no handler runs after it returns
 * @nmissed: misses counted by the kprobes core
 */
struct rmt_hook {
	u32 id;
	const char *symbol;
	u32 offsets_size;
	struct rmt_hook_bind __rcu *bind;
	struct rmt_hook_pcpu __percpu *pc;
	bool registered;
	int (*check)(const struct rmt_hook_bind *b, char *err, size_t len);
	int (*reg)(void);
	void (*unreg)(void);
	u64 (*nmissed)(void);
};

/* The VM the hooks run programs of (set by rmt_hooks_init()). */
extern struct rmt_vm *rmt_hooks_vm;


#define rmt_hook_inc(h, field) this_cpu_inc((h)->pc->field)
#define rmt_hook_add(h, field, v) this_cpu_add((h)->pc->field, v)

#ifdef __KERNEL__	/* not in the userspace build of the ioctl layer (tools/fuzz) */
/**
 * rmt_hook_exec() - run the program bound to a handler of hook @h, and count it
 * @h: the hook
 * @id: the program (read from the binding)
 * @ctx: the context the handler built
 * @len: its size
 * @cpu: this CPU
 * @now: the handler's entry time (the program's ktime_ns())
 * @res: out: the run's result
 *
 * The VM's time goes to ns_vm (the handler's total, ns_total, is the caller's);
 * a run counts in runs (and aborts); a program unloaded or replaced since the
 * binding was read counts in no_prog.
 *
 * Return: true when the program ran.
 */
static inline bool rmt_hook_exec(struct rmt_hook *h, int id, void *ctx, size_t len, u32 cpu,
				 u64 now, struct rmt_run_result *res)
{
	u64 t = ktime_get_ns();
	int rc = rmt_vm_run_rcu(rmt_hooks_vm, id, ctx, len, cpu, now, res);

	rmt_hook_add(h, ns_vm, ktime_get_ns() - t);
	if (rc) {
		rmt_hook_inc(h, no_prog);
		return false;
	}
	rmt_hook_inc(h, runs);
	if (res->abort)
		rmt_hook_inc(h, aborts);
	return true;
}

/**
 * rmt_hook_verdict() - count a decision against the kernel's own: act on it?
 * @h: the hook
 * @flags: the binding's RMT_HOOK_F_*
 * @id: the program
 * @cpu: this CPU
 * @dec: the program's decision, in the terms the hook compares
 * @own: the kernel's own decision, in the same terms
 *
 * Shadow mode: the pair goes to the program's shadow statistics and to
 * shadow_agree (DEFAULT or equal) or shadow_disagree.  Enforce mode: DEFAULT
 * counts in defaults and the kernel's own decision in same.  Every hook
 * counts the same way; what acting means is the hook's.
 *
 * Return: true when the handler must apply @dec (enforce mode, not DEFAULT,
 * not the kernel's own); the handler then counts overrides (or hard_wins).
 */
static inline bool rmt_hook_verdict(struct rmt_hook *h, u32 flags, int id, u32 cpu, s64 dec,
				    s64 own)
{
	if (flags & RMT_HOOK_F_SHADOW) {
		rmt_vm_shadow_account(rmt_hooks_vm, id, cpu, dec, own);
		if (dec == RMT_DECISION_DEFAULT || dec == own)
			rmt_hook_inc(h, shadow_agree);
		else
			rmt_hook_inc(h, shadow_disagree);
		return false;
	}
	if (dec == RMT_DECISION_DEFAULT) {
		rmt_hook_inc(h, defaults);
		return false;
	}
	if (dec == own) {
		rmt_hook_inc(h, same);
		return false;
	}
	return true;
}
#endif /* __KERNEL__ */

/* Entry points used by rmt_kmod_dev.c (weak fallbacks there when built without hooks). */
int rmt_hooks_init(struct rmt_vm *vm);
void rmt_hooks_exit(void);
u32 rmt_hooks_abi(void);
long rmt_hooks_ioctl(struct rmt_vm *vm, unsigned int cmd, void __user *arg);
void rmt_hooks_prog_unload(struct rmt_vm *vm, int id);

#endif /* _RMT_HOOKS_KERN_H */
