// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_kmod_hooks.c: attach RMT programs to kernel hooks; the hooks' control plane.
 *
 * A hook's probe is registered by the first attach and unregistered by the
 * detach, so a kernel with rmt.ko loaded but nothing attached pays nothing.
 * Attaching to an attached hook replaces the binding (program, mode,
 * offsets) with one pointer swap while the probe stays armed: handlers
 * firing meanwhile run the old binding or the new one.  The old binding is
 * freed after a grace period.
 *
 * Every control-plane entry point is called by rmt_kmod_dev.c with the device
 * mutex held, which serialises them.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "rmt_hooks_kern.h"
#include "rmt_alloc.h"
#include "rmt_prefetch.h"

struct rmt_vm *rmt_hooks_vm;

/* Generated from the hooks' specs (rmt_hooks.h). */
static struct rmt_hook *const rmt_hooks[] = RMT_KERNEL_HOOK_LIST;

static struct rmt_hook *rmt_hook_by_id(u32 id)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(rmt_hooks); i++)
		if (rmt_hooks[i]->id == id)
			return rmt_hooks[i];
	return NULL;
}

/* Unregister @h's probe and drop its binding; sleeps. */
static void rmt_hook_detach_locked(struct rmt_hook *h)
{
	struct rmt_hook_bind *old;

	old = rcu_replace_pointer(h->bind, NULL, true);
	if (h->registered) {
		h->unreg();
		h->registered = false;
	}
	synchronize_rcu();
	rmt_kfree(old);
}

/*
 * Is program @id loaded and built for @hook_id?  The device mutex keeps it
 * loaded until the attach is done (unloads go through the same mutex and
 * call rmt_hooks_prog_unload()).
 */
static int rmt_hook_prog_check(int id, u32 hook_id, u32 *flags, char *err, size_t len)
{
	struct rmt_prog_info info;

	if (id < 1 || id > RMT_VM_MAX_PROGS) {
		snprintf(err, len, "program id %d out of range 1..%d", id, RMT_VM_MAX_PROGS);
		return -ENOENT;
	}
	if (rmt_vm_prog_info(rmt_hooks_vm, id, &info)) {
		snprintf(err, len, "no program %d loaded", id);
		return -ENOENT;
	}
	if (info.hook_id != hook_id) {
		snprintf(err, len, "program %d is built for hook %s (id %u), not hook %u",
			 id, info.hook_name, info.hook_id, hook_id);
		return -EINVAL;
	}
	if (info.mode)
		*flags |= RMT_HOOK_F_SHADOW;
	return 0;
}

static int rmt_hook_attach(struct rmt_hook_attach *a)
{
	const size_t elen = sizeof(a->err);
	struct rmt_hook_bind *nb, *old;
	struct rmt_hook *h;
	u32 flags = a->flags;
	int cpu, rc;

	memset(a->err, 0, elen);
	if (a->abi != RMT_HOOKS_ABI_VERSION) {
		snprintf(a->err, elen, "hook ABI %u, rmt.ko speaks %u", a->abi,
			 RMT_HOOKS_ABI_VERSION);
		return -EPROTO;
	}
	h = rmt_hook_by_id(a->hook_id);
	if (!h) {
		snprintf(a->err, elen, "hook %u has no kernel probe", a->hook_id);
		return -EINVAL;
	}
	if (a->pad) {
		snprintf(a->err, elen, "pad must be 0");
		return -EINVAL;
	}
	if (a->offsets_len != h->offsets_size) {
		snprintf(a->err, elen, "hook %u takes %u bytes of offsets, not %u", a->hook_id,
			 h->offsets_size, a->offsets_len);
		return -EINVAL;
	}
	if (flags & ~(RMT_HOOK_F_SHADOW | RMT_HOOK_F_EMPTY)) {
		snprintf(a->err, elen, "unknown flags %#x", flags);
		return -EINVAL;
	}
	if (flags & RMT_HOOK_F_EMPTY) {
		if (a->prog_id) {
			snprintf(a->err, elen, "an empty probe takes program 0");
			return -EINVAL;
		}
	} else {
		rc = rmt_hook_prog_check(a->prog_id, a->hook_id, &flags, a->err, elen);
		if (rc)
			return rc;
	}
	nb = rmt_kzalloc(sizeof(*nb), GFP_KERNEL);
	if (!nb) {
		snprintf(a->err, elen, "no memory for the hook's binding");
		return -ENOMEM;
	}
	nb->prog_id = a->prog_id;
	nb->flags = flags;
	/* offsets_len is the hook's payload size: a member of the union */
	if (copy_from_user(nb->off.raw, u64_to_user_ptr(a->offsets), a->offsets_len)) {
		rmt_kfree(nb);
		snprintf(a->err, elen, "offsets: bad address");
		return -EFAULT;
	}
	rc = h->check(nb, a->err, elen);
	if (rc) {
		rmt_kfree(nb);
		return rc;
	}

	if (!h->registered)
		for_each_possible_cpu(cpu)
			memset(per_cpu_ptr(h->pc, cpu), 0, sizeof(struct rmt_hook_pcpu));
	old = rcu_replace_pointer(h->bind, nb, true);
	if (!h->registered) {
		rc = h->reg();
		if (rc) {
			rcu_replace_pointer(h->bind, old, true);
			synchronize_rcu();
			rmt_kfree(nb);
			snprintf(a->err, elen, "cannot probe %s: error %d", h->symbol, rc);
			return rc;
		}
		h->registered = true;
	}
	synchronize_rcu();
	rmt_kfree(old);
	return 0;
}

static void rmt_hook_stats_fill(struct rmt_hook *h, struct rmt_hook_stats *s)
{
	const struct rmt_hook_bind *b;
	struct rmt_hook_pcpu sum = {};
	int cpu;

	for_each_possible_cpu(cpu) {
		const struct rmt_hook_pcpu *p = per_cpu_ptr(h->pc, cpu);

		sum.hits += READ_ONCE(p->hits);
		sum.runs += READ_ONCE(p->runs);
		sum.no_prog += READ_ONCE(p->no_prog);
		sum.ctx_errors += READ_ONCE(p->ctx_errors);
		sum.aborts += READ_ONCE(p->aborts);
		sum.defaults += READ_ONCE(p->defaults);
		sum.overrides += READ_ONCE(p->overrides);
		sum.hard_wins += READ_ONCE(p->hard_wins);
		sum.same += READ_ONCE(p->same);
		sum.shadow_agree += READ_ONCE(p->shadow_agree);
		sum.shadow_disagree += READ_ONCE(p->shadow_disagree);
		sum.kernel_yes += READ_ONCE(p->kernel_yes);
		sum.kernel_no += READ_ONCE(p->kernel_no);
		sum.hard_veto += READ_ONCE(p->hard_veto);
		sum.ns_total += READ_ONCE(p->ns_total);
		sum.hist_busy += READ_ONCE(p->hist_busy);
		sum.ns_vm += READ_ONCE(p->ns_vm);
	}
	s->hits = sum.hits;
	s->runs = sum.runs;
	s->no_prog = sum.no_prog;
	s->ctx_errors = sum.ctx_errors;
	s->aborts = sum.aborts;
	s->defaults = sum.defaults;
	s->overrides = sum.overrides;
	s->hard_wins = sum.hard_wins;
	s->same = sum.same;
	s->shadow_agree = sum.shadow_agree;
	s->shadow_disagree = sum.shadow_disagree;
	s->kernel_yes = sum.kernel_yes;
	s->kernel_no = sum.kernel_no;
	s->hard_veto = sum.hard_veto;
	s->ns_total = sum.ns_total;
	s->hist_busy = sum.hist_busy;
	s->ns_vm = sum.ns_vm;
	s->nmissed = h->nmissed();

	b = rcu_dereference_protected(h->bind, true);
	s->prog_id = b ? b->prog_id : 0;
	s->state = (h->registered ? RMT_HOOK_S_REGISTERED : 0) |
		   (b && (b->flags & RMT_HOOK_F_SHADOW) ? RMT_HOOK_S_SHADOW : 0) |
		   (b && (b->flags & RMT_HOOK_F_EMPTY) ? RMT_HOOK_S_EMPTY : 0);
}

/**
 * rmt_hooks_ioctl() - RMT_IOC_HOOK_ATTACH, _DETACH, _STATS and _PREFETCH
 * @vm: the VM (the one rmt_hooks_init() was given)
 * @cmd: the command
 * @arg: its user payload
 *
 * Called by rmt_kmod_dev.c with the device mutex held and CAP_SYS_ADMIN checked.
 * A failed attach copies the payload back so its @err reaches the caller.
 *
 * Return: 0 or a negative errno (-ENOTTY for an unknown command).
 */
long rmt_hooks_ioctl(struct rmt_vm *vm, unsigned int cmd, void __user *arg)
{
	struct rmt_hook_attach *a;
	struct rmt_hook_detach d;
	struct rmt_swap_prefetch_stats ps;
	struct rmt_hook_stats s;
	struct rmt_hook *h;
	long rc;

	switch (cmd) {
	case RMT_IOC_HOOK_ATTACH:
		a = rmt_kmalloc(sizeof(*a), GFP_KERNEL);
		if (!a)
			return -ENOMEM;
		if (copy_from_user(a, arg, sizeof(*a))) {
			rmt_kfree(a);
			return -EFAULT;
		}
		rc = rmt_hook_attach(a);
		if (rc && copy_to_user(arg, a, sizeof(*a)))
			rc = -EFAULT;
		rmt_kfree(a);
		return rc;
	case RMT_IOC_HOOK_DETACH:
		if (copy_from_user(&d, arg, sizeof(d)))
			return -EFAULT;
		if (d.abi != RMT_HOOKS_ABI_VERSION)
			return -EPROTO;
		h = rmt_hook_by_id(d.hook_id);
		if (!h)
			return -EINVAL;
		if (!h->registered && !rcu_access_pointer(h->bind))
			return -ENOENT;
		rmt_hook_detach_locked(h);
		return 0;
	case RMT_IOC_HOOK_STATS:
		if (copy_from_user(&s, arg, sizeof(s)))
			return -EFAULT;
		if (s.abi != RMT_HOOKS_ABI_VERSION)
			return -EPROTO;
		h = rmt_hook_by_id(s.hook_id);
		if (!h)
			return -EINVAL;
		memset(&s, 0, sizeof(s));
		s.abi = RMT_HOOKS_ABI_VERSION;
		s.hook_id = h->id;
		rmt_hook_stats_fill(h, &s);
		return copy_to_user(arg, &s, sizeof(s)) ? -EFAULT : 0;
	case RMT_IOC_HOOK_PREFETCH:
		if (copy_from_user(&ps, arg, sizeof(ps)))
			return -EFAULT;
		if (ps.abi != RMT_HOOKS_ABI_VERSION)
			return -EPROTO;
		memset(&ps, 0, sizeof(ps));
		ps.abi = RMT_HOOKS_ABI_VERSION;
		rmt_pf_stats(&ps);
		if (!rmt_hook_swap.registered)
			ps.mechanism = RMT_PF_NONE;
		return copy_to_user(arg, &ps, sizeof(ps)) ? -EFAULT : 0;
	}
	return -ENOTTY;
}

/**
 * rmt_hooks_prog_unload() - detach program @id from every hook before it goes
 * @vm: the VM
 * @id: the program about to be unloaded
 *
 * Without this a later program reusing @id would start running in the hook.
 */
void rmt_hooks_prog_unload(struct rmt_vm *vm, int id)
{
	const struct rmt_hook_bind *b;
	int i;

	for (i = 0; i < ARRAY_SIZE(rmt_hooks); i++) {
		b = rcu_dereference_protected(rmt_hooks[i]->bind, true);
		if (b && b->prog_id == id)
			rmt_hook_detach_locked(rmt_hooks[i]);
	}
}

/**
 * rmt_hooks_abi() - the hook ABI this module speaks
 *
 * Return: RMT_HOOKS_ABI_VERSION.
 */
u32 rmt_hooks_abi(void)
{
	return RMT_HOOKS_ABI_VERSION;
}

/**
 * rmt_hooks_init() - prepare the hooks of @vm; no probe is armed yet
 * @vm: the VM whose programs the hooks run
 *
 * Return: 0 or -ENOMEM.
 */
int rmt_hooks_init(struct rmt_vm *vm)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(rmt_hooks); i++) {
		rmt_hooks[i]->pc = rmt_alloc_percpu(struct rmt_hook_pcpu);
		if (!rmt_hooks[i]->pc) {
			while (i--) {
				rmt_free_percpu(rmt_hooks[i]->pc);
				rmt_hooks[i]->pc = NULL;
			}
			return -ENOMEM;
		}
	}
	rmt_hooks_vm = vm;
	return 0;
}

/**
 * rmt_hooks_exit() - unregister every probe
 *
 * After it returns no handler runs and none will: the VM may be freed.
 */
void rmt_hooks_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(rmt_hooks); i++) {
		if (!rmt_hooks[i]->pc)
			continue;
		rmt_hook_detach_locked(rmt_hooks[i]);
		rmt_free_percpu(rmt_hooks[i]->pc);
		rmt_hooks[i]->pc = NULL;
	}
	rmt_hooks_vm = NULL;
}
