// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_kmod_hook_swap.c: mm.swap_fault, a kprobe on do_swap_page(struct vm_fault *).
 *
 * Why there, and how the decision takes effect (docs/kernel-hooks.md): the
 * module parameter swap_prefetch picks a mechanism at attach
 * (rmt_kmod_prefetch.c).  In the exact-page modes (madvise, gup; auto picks
 * one) the handler queues the program's pf[0..n) for a worker that reads
 * those pages into the swap cache, and counts the faults that find them
 * there.  In window mode, what follows:
 * Debian's 6.1 build inlines swapin_nr_pages(), swap_ra_info() and
 * swap_vma_readahead() into swapin_readahead(), and exports no way for a
 * module to read pages into the swap cache, so neither the window function's
 * return value nor the prefetch set can be replaced.  What a module can
 * change is the state the VMA readahead computes its window from:
 * vma->swap_readahead_info (previous fault address, previous window, hits).
 * The handler runs before do_swap_page() looks at the swap cache; for a
 * decision of n extra pages it writes a state for which the kernel's own
 * __swapin_nr_pages() yields the window 1, 2, 4, 8, 16 or 32 that covers
 * n + 1 pages (capped by vm.page-cluster), placed after the fault when every
 * pf[] delta is positive, before it when every delta is negative, centred
 * otherwise.  The exact pf[] set is counted, not honoured.  The VMA path is
 * taken only when no rotational swap device is active, and only for faults
 * that miss the swap cache and do not take the synchronous no-readahead path
 * (zram and other SWP_SYNCHRONOUS_IO devices skip readahead for pages mapped
 * once): there the program runs and is counted, and its decision is moot.
 *
 * Per-task fault history: a small table hashed by pid; each slot has a raw
 * spinlock taken with trylock (a contended slot skips the history update and
 * counts hist_busy): the handler never spins.
 */
#include <linux/cgroup.h>
#include <linux/hardirq.h>
#include <linux/hash.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#define RMT_HOOK_OFFSETS_CHECK_SWAP
#include "rmt_hooks_kern.h"
#include "rmt_prefetch.h"

/* mm/swap_state.c's encoding of vma->swap_readahead_info (private there). */
#define RMT_RA_WIN_SHIFT	(PAGE_SHIFT / 2)
#define RMT_RA_HITS_MASK	((1UL << RMT_RA_WIN_SHIFT) - 1)
#define RMT_RA_WIN_MASK		(~PAGE_MASK & ~RMT_RA_HITS_MASK)
#define RMT_RA_HITS(v)		((v) & RMT_RA_HITS_MASK)
#define RMT_RA_WIN(v)		(((v) & RMT_RA_WIN_MASK) >> RMT_RA_WIN_SHIFT)
#define RMT_RA_ADDR(v)		((v) & PAGE_MASK)
#define RMT_RA_VAL(addr, win, hits)				\
	(((addr) & PAGE_MASK) |					\
	 (((win) << RMT_RA_WIN_SHIFT) & RMT_RA_WIN_MASK) |	\
	 ((hits) & RMT_RA_HITS_MASK))
/* SWAP_RA_ORDER_CEILING on 64-bit */
#define RMT_RA_MAX_WIN		32

#define RMT_HIST_BITS		8
#define RMT_HIST_LEN		8	/* the context's hist[] */

struct rmt_hist_slot {
	raw_spinlock_t lock;
	u32 pid;
	u32 pf_hits;	/* exact-page modes: prefetch hits since the last other swap fault */
	u8 len;
	unsigned long last_page;
	s64 hist[RMT_HIST_LEN];
};

static struct rmt_hist_slot rmt_hist[1 << RMT_HIST_BITS];
static struct kprobe rmt_swap_kp;

/* The window 6.1's __swapin_nr_pages() computes from a readahead state. */
static unsigned int rmt_kernel_window(unsigned long prev, unsigned long cur,
				      unsigned int hits, unsigned int max_win,
				      unsigned int prev_win)
{
	unsigned int pages = hits + 2, r = 4;

	if (pages == 2) {
		if (cur != prev + 1 && cur != prev - 1)
			pages = 1;
	} else {
		while (r < pages)
			r <<= 1;
		pages = r;
	}
	if (pages > max_win)
		pages = max_win;
	if (pages < prev_win / 2)
		pages = prev_win / 2;
	return pages;
}

/* The smallest window the kernel can be steered to that covers @n + 1 pages. */
static unsigned int rmt_window_for(s64 n, unsigned int max_win)
{
	unsigned int w = n <= 0 ? 1 : n == 1 ? 2 : roundup_pow_of_two(n + 1);

	return min(w, max_win);
}

/*
 * Append this fault to @pid's history and copy it (latest delta first) into @c.
 * @pf_hit: exact-page modes only (else < 0): whether the fault found a page
 * the worker had read; ctx.ra_hits then counts such hits since the last
 * fault that was not one, as the kernel's readahead hits count its own.
 */
static bool rmt_hist_update(u32 pid, unsigned long page, struct rmt_ctx_mm_swap_fault *c,
			    int pf_hit)
{
	struct rmt_hist_slot *s = &rmt_hist[hash_32(pid, RMT_HIST_BITS)];
	int i;

	if (!raw_spin_trylock(&s->lock))
		return false;
	if (s->pid != pid) {
		s->pid = pid;
		s->len = 0;
		s->pf_hits = 0;
	} else {
		memmove(&s->hist[1], &s->hist[0], sizeof(s->hist[0]) * (RMT_HIST_LEN - 1));
		s->hist[0] = clamp_t(s64, (s64)(page - s->last_page), -(1ll << 35), 1ll << 35);
		if (s->len < RMT_HIST_LEN)
			s->len++;
	}
	s->last_page = page;
	if (pf_hit >= 0) {
		c->ra_hits = s->pf_hits;
		s->pf_hits = pf_hit > 0 ? s->pf_hits + 1 : 0;
	}
	c->hist_len = s->len;
	for (i = 0; i < s->len; i++)
		c->hist[i] = s->hist[i];
	raw_spin_unlock(&s->lock);
	return true;
}

static int rmt_swap_pre(struct kprobe *kp, struct pt_regs *regs)
{
	struct rmt_hook *h = &rmt_hook_swap;
	const struct rmt_hook_bind *b;
	const struct rmt_swap_offsets *o;
	struct rmt_ctx_mm_swap_fault c;
	struct rmt_run_result res;
	const u8 *vmf = (const u8 *)regs->di;
	struct vm_area_struct *vma;
	atomic_long_t *info;
	unsigned long addr, fpfn, ra, prev, target_prev;
	unsigned int max_win, kwin, win, hits;
	u32 cpu = smp_processor_id();
	bool fwd = true, back = true, exact;
	u32 mech = rmt_pf_mechanism();
	int pf_hit = -1;
	u64 t0;
	s64 dec;
	int i;

	/*
	 * The probe sits on do_swap_page's ftrace call site, so it is entered
	 * from the ftrace trampoline.  While that site is re-patched (this
	 * probe, or any other ftrace user of do_swap_page, registered or
	 * unregistered) a CPU can meet the transient int3 there; when
	 * poke_int3_handler() does not claim it, kprobe_int3_handler() finds
	 * this probe and, after this handler, single-steps its copied
	 * instruction, which an ftrace-based probe does not have: a jump to
	 * address 0 with mmap_lock held (seen in the guest at rmmod under
	 * load).  That entry is in NMI context (int3 from the kernel), where
	 * nothing below may run either: resume at the probe address instead,
	 * where the instruction is whole again, and tell the core that the
	 * handler moved the instruction pointer.
	 */
	if (unlikely(in_nmi())) {
		if (kprobe_ftrace(kp))
			instruction_pointer_set(regs, (unsigned long)kp->addr);
		rmt_hook_inc(h, hits);
		rmt_hook_inc(h, ctx_errors);
		/* printk is NMI-safe since 5.15 (lockless ring buffer) */
		pr_info_once("rmt: mm.swap_fault probe entered in NMI context (int3 while %s is patched): resumed, nothing run\n",
			     rmt_hook_swap.symbol);
		return kprobe_ftrace(kp);
	}
	/*
	 * Kernel threads' swap-ins (the GUP prefetcher's own faults,
	 * khugepaged) are not the program's to predict: counting them would
	 * let a prefetch trigger further prefetches.
	 */
	if (mech != RMT_PF_WINDOW && (current->flags & PF_KTHREAD))
		return 0;
	t0 = ktime_get_ns();
	rmt_hook_inc(h, hits);
	b = rcu_dereference_sched(h->bind);
	if (!b) {
		rmt_hook_inc(h, no_prog);
		return 0;
	}
	if (b->flags & RMT_HOOK_F_EMPTY)
		return 0;
	o = &b->off.swap;
	addr = *(const unsigned long *)(vmf + o->vmf_address);
	vma = *(struct vm_area_struct *const *)(vmf + o->vmf_vma);
	if (!vma) {
		rmt_hook_inc(h, ctx_errors);
		return 0;
	}
	if (mech != RMT_PF_WINDOW)
		pf_hit = rmt_pf_fault(vma->vm_mm, addr, ((const struct vm_fault *)vmf)->orig_pte);
	info = (atomic_long_t *)((u8 *)vma + o->vma_swap_readahead_info);
	ra = atomic_long_read(info);
	fpfn = addr >> PAGE_SHIFT;
	prev = RMT_RA_ADDR(ra) >> PAGE_SHIFT;
	max_win = 1u << min_t(u32, o->page_cluster, 5);
	kwin = max_win <= 1 ? 1 : rmt_kernel_window(prev, fpfn, RMT_RA_HITS(ra), max_win,
						    RMT_RA_WIN(ra));

	memset(&c, 0, sizeof(c));
	c.pid = min_t(u32, max(current->pid, 0), 4194304);
	c.cgroup_id = cgroup_id(task_dfl_cgroup(current));
	c.addr = min_t(u64, addr, (1ull << 47) - 1);
	c.page = c.addr >> PAGE_SHIFT;
	c.ra_hits = RMT_RA_HITS(ra);
	c.prev_window = min_t(u32, RMT_RA_WIN(ra), 64);
	if (!rmt_hist_update(c.pid, fpfn, &c, pf_hit))
		rmt_hook_inc(h, hist_busy);
	rmt_ctx_mm_swap_fault_clamp(&c);	/* the spec's ranges, whatever came above */
	if (kwin > 1)
		rmt_hook_inc(h, kernel_yes);
	else
		rmt_hook_inc(h, kernel_no);

	if (!rmt_hook_exec(h, b->prog_id, &c, sizeof(c), cpu, t0, &res))
		goto out;
	dec = res.decision;
	/*
	 * Compared with the kernel's own decision: the pages its window reads
	 * beyond the faulting one (shadow mode, window mode); in exact-page mode
	 * a list of none is the kernel's "same".
	 */
	exact = mech != RMT_PF_WINDOW && !(b->flags & RMT_HOOK_F_SHADOW);
	if (!rmt_hook_verdict(h, b->flags, b->prog_id, cpu,
			      dec == RMT_DECISION_DEFAULT || exact ? dec :
			      rmt_window_for(dec, max_win) - 1, exact ? 0 : kwin - 1))
		goto out;
	if (exact) {
		rmt_pf_queue(vma, addr, dec, c.pf);
		rmt_hook_inc(h, overrides);
		goto out;
	}
	win = rmt_window_for(dec, max_win);
	for (i = 0; i < dec && i < ARRAY_SIZE(c.pf); i++) {
		fwd &= c.pf[i] > 0;
		back &= c.pf[i] < 0;
	}
	/*
	 * A state for which __swapin_nr_pages(prev, fpfn, hits, max, 0) == win:
	 * hits = win - 2 for win >= 4 (a power of two is its own round-up);
	 * no hits and an adjacent previous fault for 2; no hits and the fault
	 * itself as "previous" (not adjacent) for 1.  swap_ra_info() then
	 * places the window after the fault if the previous fault is just
	 * before it, before the fault if just after, centred otherwise.
	 */
	if (win == 1) {
		target_prev = fpfn;
		hits = 0;
	} else {
		hits = win >= 4 ? win - 2 : 0;
		target_prev = back && !fwd ? fpfn + 1 : fwd || win == 2 ? fpfn - 1 : fpfn;
	}
	atomic_long_set(info, RMT_RA_VAL(target_prev << PAGE_SHIFT, 0, hits));
	rmt_hook_inc(h, overrides);
out:
	rmt_hook_add(h, ns_total, ktime_get_ns() - t0);
	return 0;
}

/*
 * The payload's checks are generated from the hook's spec (rmt_hooks.h);
 * then the prefetch mechanism is chosen (and checked) for this attach.
 */
static int rmt_swap_check(const struct rmt_hook_bind *b, char *err, size_t len)
{
	int rc = rmt_swap_offsets_check(&b->off.swap, err, len);

	return rc ? rc : rmt_pf_choose(err, len);
}

static int rmt_swap_reg(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(rmt_hist); i++) {
		raw_spin_lock_init(&rmt_hist[i].lock);
		rmt_hist[i].pid = 0;
		rmt_hist[i].len = 0;
	}
	memset(&rmt_swap_kp, 0, sizeof(rmt_swap_kp));
	rmt_swap_kp.symbol_name = "do_swap_page";
	rmt_swap_kp.pre_handler = rmt_swap_pre;
	i = rmt_pf_start();
	if (i)
		return i;
	i = register_kprobe(&rmt_swap_kp);
	if (i)
		rmt_pf_stop();
	return i;
}

static void rmt_swap_unreg(void)
{
	unregister_kprobe(&rmt_swap_kp);
	/* No handler runs now: finish (or count) the prefetches it queued. */
	rmt_pf_stop();
}

static u64 rmt_swap_nmissed(void)
{
	return rmt_swap_kp.nmissed;
}

struct rmt_hook rmt_hook_swap = {
	.id = RMT_HOOK_MM_SWAP_FAULT_ID,
	.symbol = "do_swap_page",
	.offsets_size = sizeof(struct rmt_swap_offsets),
	.check = rmt_swap_check,
	.reg = rmt_swap_reg,
	.unreg = rmt_swap_unreg,
	.nmissed = rmt_swap_nmissed,
};
