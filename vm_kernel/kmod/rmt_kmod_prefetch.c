// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_kmod_prefetch.c: read the exact pages an mm.swap_fault program asks
 * for into the swap cache (docs/kernel-hooks.md, "Exact-page prefetch").
 *
 * The do_swap_page kprobe handler cannot sleep, take mmap_lock, allocate
 * with GFP_KERNEL or start I/O.  rmt_pf_queue() therefore only copies the
 * decision (the mm, the faulting address and up to RMT_PF_MAX_PAGES page
 * deltas) into this CPU's fixed queue, taking a reference on the mm_struct
 * (mmgrab: an atomic increment) so the worker can tell a live address space
 * from a freed one, and queues this CPU's work item.  A full queue, or one
 * the worker holds at that instant, drops the decision and counts it: the
 * handler never waits.
 *
 * The worker pins the address space (mmget_not_zero; an exited process's
 * requests are counted as mm_gone), classifies every page under
 * mmap_read_lock by its page-table entry (outside the faulting VMA, mapped,
 * no swap entry, already in the swap cache, or to be read), drops the lock,
 * and reads each page of the last kind with one of:
 *  - RMT_PF_MADVISE: do_madvise(mm, addr, PAGE_SIZE, MADV_WILLNEED), what
 *    process_madvise(2) runs for another process: read_swap_cache_async()
 *    for the swap entry, asynchronously, without mapping the page.  The
 *    symbol is not exported; it is found with kallsyms_lookup_name(), itself
 *    found through a kprobe's resolved address.
 *  - RMT_PF_GUP: get_user_pages_remote() (exported), which faults the page
 *    in and maps it, one page at a time, synchronously: little gain on 6.1,
 *    but it needs no private symbol.
 * The module parameter swap_prefetch (auto, madvise, gup, window) picks one
 * at attach; auto prefers madvise.  window keeps the readahead-window
 * steering of rmt_kmod_hook_swap.c.
 *
 * Accuracy, measured by the kernel: each page read is remembered in a fixed
 * table of tags (hash of mm and page; a collision overwrites, so hits are a
 * lower bound).  rmt_pf_fault(), called by the handler on every swap fault,
 * looks the faulting page up: found and still in the swap cache, the
 * prefetch saved a read (hits); found but gone, it was evicted before use
 * (refaults).
 *
 * Memory: the queues and the table are static, sized at build time
 * (queue_bytes in the statistics): a flood of faults from any number of
 * processes cannot grow it.
 */
#include <linux/hash.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/pgtable.h>
#include <linux/sched/mm.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include "rmt_prefetch.h"

#define RMT_PF_QLEN		32	/* requests per CPU */
#define RMT_PF_TRACK_BITS	12	/* prefetched pages remembered: 4096 */
/* mm/swap.h (private in 6.1): a swap type's cache is split every 1 << 14 pages */
#define RMT_SWAP_SPACE_SHIFT	14

/**
 * struct rmt_pf_req - one decision waiting for the worker
 * @mm: the faulting address space, mmgrab()bed by the handler
 * @addr: the faulting address
 * @n: deltas in @pf
 * @pf: page deltas relative to the faulting page
 */
struct rmt_pf_req {
	struct mm_struct *mm;
	unsigned long addr;
	u32 n;
	s32 pf[RMT_PF_MAX_PAGES];
};

/**
 * struct rmt_pf_queue - one CPU's requests
 * @lock: producer (the handler) trylocks, the worker locks
 * @head: next request to take (free-running)
 * @tail: next free slot (free-running); tail - head <= RMT_PF_QLEN
 * @req: the ring
 * @work: the worker draining this queue
 */
struct rmt_pf_queue {
	raw_spinlock_t lock;
	u32 head;
	u32 tail;
	struct rmt_pf_req req[RMT_PF_QLEN];
	struct work_struct work;
};

/* Per-CPU counters: struct rmt_swap_prefetch_stats without the header. */
struct rmt_pf_pcpu {
	u64 decisions;
	u64 requested;
	u64 over_cap;
	u64 dropped;
	u64 mm_gone;
	u64 dup;
	u64 outside_vma;
	u64 not_swap;
	u64 resident;
	u64 cached;
	u64 read;
	u64 errors;
	u64 hits;
	u64 refaults;
	u64 batches;
	u64 worker_ns;
	u64 handler_ns;
};

enum rmt_pf_class { RMT_PFC_NOT_SWAP, RMT_PFC_RESIDENT, RMT_PFC_CACHED, RMT_PFC_READ };

static DEFINE_PER_CPU(struct rmt_pf_queue, rmt_pf_q);
static DEFINE_PER_CPU(struct rmt_pf_pcpu, rmt_pf_pc);
static u64 rmt_pf_track[1 << RMT_PF_TRACK_BITS];

static u32 rmt_pf_mech = RMT_PF_WINDOW;	/* chosen at attach */
static bool rmt_pf_live;			/* queues accept requests */

static int (*rmt_do_madvise)(struct mm_struct *mm, unsigned long start, size_t len,
			     int behavior);
static struct address_space **rmt_swapper_spaces;
static bool rmt_pf_syms_done;

/*
 * Default: window.  The exact-page modes hung a guest once in CI (a soft lockup of the
 * faulting task with khugepaged blocked on its mmap_lock; docs/kernel-hooks.md): opt in
 * until that is understood.
 */
static char rmt_pf_param[16] = "window";
module_param_string(swap_prefetch, rmt_pf_param, sizeof(rmt_pf_param), 0644);
MODULE_PARM_DESC(swap_prefetch,
		 "mm.swap_fault mechanism at attach: window (default), auto (madvise, else gup), madvise, gup");

#define rmt_pf_inc(f) this_cpu_inc(rmt_pf_pc.f)
#define rmt_pf_add(f, v) this_cpu_add(rmt_pf_pc.f, v)

/* kallsyms_lookup_name() is not exported since 5.7: a kprobe resolves its address. */
static unsigned long rmt_pf_kallsyms(const char *name)
{
	static unsigned long (*lookup)(const char *name);
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };

	if (!lookup) {
		if (register_kprobe(&kp))
			return 0;
		lookup = (unsigned long (*)(const char *))kp.addr;
		unregister_kprobe(&kp);
	}
	return lookup ? lookup(name) : 0;
}

/**
 * rmt_pf_choose() - pick the mechanism named by the swap_prefetch parameter
 * @err: out: why not, on failure
 * @len: size of @err
 *
 * Called at every attach of mm.swap_fault (sleeps; the device mutex is held).
 *
 * Return: 0, or -EINVAL for an unknown name or a mechanism this kernel lacks.
 */
int rmt_pf_choose(char *err, size_t len)
{
	char want[sizeof(rmt_pf_param)];
	u32 mech;

	if (!rmt_pf_syms_done) {
		rmt_do_madvise = (void *)rmt_pf_kallsyms("do_madvise");
		rmt_swapper_spaces = (void *)rmt_pf_kallsyms("swapper_spaces");
		rmt_pf_syms_done = true;
	}
	strscpy(want, rmt_pf_param, sizeof(want));
	strim(want);
	if (!strcmp(want, "window")) {
		mech = RMT_PF_WINDOW;
	} else if (!strcmp(want, "gup")) {
		mech = RMT_PF_GUP;
	} else if (!strcmp(want, "madvise")) {
		if (!rmt_do_madvise) {
			snprintf(err, len, "swap_prefetch=madvise: do_madvise not found in kallsyms");
			return -EINVAL;
		}
		mech = RMT_PF_MADVISE;
	} else if (!strcmp(want, "auto")) {
		mech = rmt_do_madvise ? RMT_PF_MADVISE : RMT_PF_GUP;
	} else {
		snprintf(err, len, "swap_prefetch=%s: want auto, madvise, gup or window", want);
		return -EINVAL;
	}
	WRITE_ONCE(rmt_pf_mech, mech);
	return 0;
}

/**
 * rmt_pf_mechanism() - the RMT_PF_* mechanism chosen at the last attach
 *
 * Return: RMT_PF_WINDOW, RMT_PF_MADVISE or RMT_PF_GUP.
 */
u32 rmt_pf_mechanism(void)
{
	return READ_ONCE(rmt_pf_mech);
}

static u64 rmt_pf_tag(struct mm_struct *mm, unsigned long page)
{
	u64 t = ((u64)(unsigned long)mm * 0x9e3779b97f4a7c15ull) ^
		((u64)page * 0xc2b2ae3d27d4eb4full);

	return t ? t : 1;	/* 0 marks a free slot */
}

static u64 *rmt_pf_slot(u64 tag)
{
	return &rmt_pf_track[hash_64(tag, RMT_PF_TRACK_BITS)];
}

/* Is @e's page in the swap cache?  Lockless (RCU), as the page cache lookup is. */
static bool rmt_pf_in_swap_cache(swp_entry_t e)
{
	struct address_space *spaces;
	void *p = NULL;

	if (!rmt_swapper_spaces || swp_type(e) >= MAX_SWAPFILES)
		return false;
	rcu_read_lock();
	spaces = READ_ONCE(rmt_swapper_spaces[swp_type(e)]);
	if (spaces)
		p = xa_load(&spaces[swp_offset(e) >> RMT_SWAP_SPACE_SHIFT].i_pages,
			    swp_offset(e));
	rcu_read_unlock();
	return p && !xa_is_value(p);
}

/**
 * rmt_pf_fault() - count a swap fault on a page the worker read
 * @mm: the faulting address space
 * @addr: the faulting address
 * @orig_pte: the swap entry do_swap_page() is about to resolve
 *
 * Called from the kprobe handler: lockless, never sleeps.
 *
 * Return: 1 if the page was read by the worker and is still in the swap cache.
 */
int rmt_pf_fault(struct mm_struct *mm, unsigned long addr, pte_t orig_pte)
{
	u64 tag = rmt_pf_tag(mm, addr >> PAGE_SHIFT);
	u64 *slot = rmt_pf_slot(tag);
	swp_entry_t e;

	if (READ_ONCE(*slot) != tag || cmpxchg64(slot, tag, 0) != tag)
		return 0;
	e = pte_to_swp_entry(orig_pte);
	if (is_swap_pte(orig_pte) && !non_swap_entry(e) && rmt_pf_in_swap_cache(e)) {
		rmt_pf_inc(hits);
		return 1;
	}
	rmt_pf_inc(refaults);
	return 0;
}

/**
 * rmt_pf_queue() - hand a decision to this CPU's worker
 * @mm: the faulting address space (alive: its task is faulting)
 * @addr: the faulting address
 * @n: the program's decision: pages in @pf
 * @pf: page deltas relative to the faulting page
 *
 * Called from the kprobe handler with preemption disabled; never waits.
 */
void rmt_pf_queue(struct mm_struct *mm, unsigned long addr, s64 n, const s32 *pf)
{
	struct rmt_pf_queue *q = this_cpu_ptr(&rmt_pf_q);
	u32 asked = n > RMT_PF_MAX_PAGES ? RMT_PF_MAX_PAGES : n;
	struct rmt_pf_req *r;
	u64 t0 = ktime_get_ns();

	if (n <= 0 || !mm)
		return;
	rmt_pf_inc(decisions);
	rmt_pf_add(requested, asked);
	if (n > asked)
		rmt_pf_add(over_cap, n - asked);
	if (!READ_ONCE(rmt_pf_live) || !raw_spin_trylock(&q->lock)) {
		rmt_pf_add(dropped, asked);
		return;
	}
	if (q->tail - q->head >= RMT_PF_QLEN) {
		raw_spin_unlock(&q->lock);
		rmt_pf_add(dropped, asked);
		return;
	}
	r = &q->req[q->tail % RMT_PF_QLEN];
	mmgrab(mm);
	r->mm = mm;
	r->addr = addr;
	r->n = asked;
	memcpy(r->pf, pf, asked * sizeof(*pf));
	q->tail++;
	raw_spin_unlock(&q->lock);
	queue_work_on(smp_processor_id(), system_wq, &q->work);
	rmt_pf_add(handler_ns, ktime_get_ns() - t0);
}

/*
 * What @addr's page-table entry says, read under mmap_read_lock (the page
 * tables cannot be freed meanwhile; the entry itself may change, and the
 * class is a snapshot).  *@e gets the swap entry of RMT_PFC_READ.
 */
static enum rmt_pf_class rmt_pf_classify(struct mm_struct *mm, unsigned long addr,
					  swp_entry_t *e)
{
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud, pudv;
	pmd_t *pmd, pmdv;
	pte_t *ptep, pte;

	pgd = pgd_offset(mm, addr);
	if (pgd_none(READ_ONCE(*pgd)) || pgd_bad(READ_ONCE(*pgd)))
		return RMT_PFC_NOT_SWAP;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(READ_ONCE(*p4d)) || p4d_bad(READ_ONCE(*p4d)))
		return RMT_PFC_NOT_SWAP;
	pud = pud_offset(p4d, addr);
	pudv = READ_ONCE(*pud);
	if (pud_none(pudv))
		return RMT_PFC_NOT_SWAP;
	if (pud_large(pudv))
		return RMT_PFC_RESIDENT;
	if (pud_bad(pudv))
		return RMT_PFC_NOT_SWAP;
	pmd = pmd_offset(pud, addr);
	pmdv = READ_ONCE(*pmd);
	if (pmd_none(pmdv))
		return RMT_PFC_NOT_SWAP;
	if (pmd_trans_huge(pmdv) || pmd_devmap(pmdv))
		return RMT_PFC_RESIDENT;
	if (!pmd_present(pmdv) || pmd_bad(pmdv))
		return RMT_PFC_NOT_SWAP;
	ptep = pte_offset_map(pmd, addr);
	pte = ptep_get(ptep);
	pte_unmap(ptep);
	if (pte_present(pte))
		return RMT_PFC_RESIDENT;
	if (!is_swap_pte(pte))
		return RMT_PFC_NOT_SWAP;
	*e = pte_to_swp_entry(pte);
	if (non_swap_entry(*e))
		return RMT_PFC_NOT_SWAP;
	return rmt_pf_in_swap_cache(*e) ? RMT_PFC_CACHED : RMT_PFC_READ;
}

static void rmt_pf_read_one(struct mm_struct *mm, unsigned long addr, u32 mech)
{
	u64 tag = rmt_pf_tag(mm, addr >> PAGE_SHIFT);
	long rc;

	if (mech == RMT_PF_MADVISE) {
		rc = rmt_do_madvise(mm, addr, PAGE_SIZE, MADV_WILLNEED);
	} else {
		mmap_read_lock(mm);
		rc = get_user_pages_remote(mm, addr, 1, 0, NULL, NULL, NULL);
		mmap_read_unlock(mm);
		rc = rc == 1 ? 0 : rc < 0 ? rc : -EFAULT;
	}
	if (rc) {
		rmt_pf_inc(errors);
		return;
	}
	rmt_pf_inc(read);
	WRITE_ONCE(*rmt_pf_slot(tag), tag);
}

/* One decision: classify every page, then read the ones that need it. */
static void rmt_pf_do(const struct rmt_pf_req *r, u32 mech)
{
	struct mm_struct *mm = r->mm;
	unsigned long todo[RMT_PF_MAX_PAGES];
	unsigned long fpage = r->addr >> PAGE_SHIFT;
	struct vm_area_struct *vma;
	unsigned int i, j, nread = 0;
	swp_entry_t e;

	if (!mmget_not_zero(mm)) {
		rmt_pf_add(mm_gone, r->n);
		return;
	}
	mmap_read_lock(mm);
	vma = vma_lookup(mm, r->addr);
	for (i = 0; i < r->n; i++) {
		s64 page = (s64)fpage + r->pf[i];
		unsigned long addr = (unsigned long)page << PAGE_SHIFT;

		for (j = 0; j < i && r->pf[j] != r->pf[i]; j++)
			;
		if (!r->pf[i] || j < i) {
			rmt_pf_inc(dup);
			continue;
		}
		if (!vma || page < (s64)(vma->vm_start >> PAGE_SHIFT) ||
		    page >= (s64)(vma->vm_end >> PAGE_SHIFT)) {
			rmt_pf_inc(outside_vma);
			continue;
		}
		switch (rmt_pf_classify(mm, addr, &e)) {
		case RMT_PFC_NOT_SWAP:
			rmt_pf_inc(not_swap);
			break;
		case RMT_PFC_RESIDENT:
			rmt_pf_inc(resident);
			break;
		case RMT_PFC_CACHED:
			rmt_pf_inc(cached);
			break;
		case RMT_PFC_READ:
			todo[nread++] = addr;
			break;
		}
	}
	mmap_read_unlock(mm);
	/* do_madvise() and GUP take mmap_lock themselves. */
	for (i = 0; i < nread; i++)
		rmt_pf_read_one(mm, todo[i], mech);
	mmput(mm);
}

static void rmt_pf_work(struct work_struct *w)
{
	struct rmt_pf_queue *q = container_of(w, struct rmt_pf_queue, work);
	u32 mech = READ_ONCE(rmt_pf_mech);
	struct rmt_pf_req r;
	u64 t0 = ktime_get_ns();

	if (mech == RMT_PF_WINDOW)	/* replaced by a window-mode attach: drain only */
		mech = rmt_do_madvise ? RMT_PF_MADVISE : RMT_PF_GUP;
	for (;;) {
		raw_spin_lock(&q->lock);
		if (q->head == q->tail) {
			raw_spin_unlock(&q->lock);
			break;
		}
		r = q->req[q->head % RMT_PF_QLEN];
		q->head++;
		raw_spin_unlock(&q->lock);
		rmt_pf_do(&r, mech);
		mmdrop(r.mm);
		cond_resched();
	}
	rmt_pf_inc(batches);
	rmt_pf_add(worker_ns, ktime_get_ns() - t0);
}

/**
 * rmt_pf_start() - empty queues and zeroed counters, before the probe is armed
 *
 * Return: 0.
 */
int rmt_pf_start(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct rmt_pf_queue *q = per_cpu_ptr(&rmt_pf_q, cpu);

		raw_spin_lock_init(&q->lock);
		q->head = 0;
		q->tail = 0;
		INIT_WORK(&q->work, rmt_pf_work);
		memset(per_cpu_ptr(&rmt_pf_pc, cpu), 0, sizeof(struct rmt_pf_pcpu));
	}
	memset(rmt_pf_track, 0, sizeof(rmt_pf_track));
	WRITE_ONCE(rmt_pf_live, true);
	return 0;
}

/**
 * rmt_pf_stop() - finish the queued work, after the probe is disarmed
 *
 * unregister_kprobe() has returned: no handler runs, so nothing is queued
 * any more.  Waits for each CPU's worker; a request it has not reached is
 * served by flush_work() too.  After this the module may go.  Sleeps.
 */
void rmt_pf_stop(void)
{
	int cpu;

	WRITE_ONCE(rmt_pf_live, false);
	for_each_possible_cpu(cpu)
		flush_work(&per_cpu_ptr(&rmt_pf_q, cpu)->work);
	/* A request queued after its worker had looked, whose wake-up came first. */
	for_each_possible_cpu(cpu) {
		struct rmt_pf_queue *q = per_cpu_ptr(&rmt_pf_q, cpu);

		while (q->head != q->tail) {
			struct rmt_pf_req *r = &q->req[q->head++ % RMT_PF_QLEN];

			this_cpu_add(rmt_pf_pc.mm_gone, r->n);
			mmdrop(r->mm);
		}
	}
}

/**
 * rmt_pf_stats() - fill the prefetch counters (RMT_IOC_HOOK_PREFETCH)
 * @s: out; @s->abi is left as it is
 */
void rmt_pf_stats(struct rmt_swap_prefetch_stats *s)
{
	struct rmt_pf_pcpu sum = {};
	int cpu;

	for_each_possible_cpu(cpu) {
		const struct rmt_pf_pcpu *p = per_cpu_ptr(&rmt_pf_pc, cpu);

		sum.decisions += READ_ONCE(p->decisions);
		sum.requested += READ_ONCE(p->requested);
		sum.over_cap += READ_ONCE(p->over_cap);
		sum.dropped += READ_ONCE(p->dropped);
		sum.mm_gone += READ_ONCE(p->mm_gone);
		sum.dup += READ_ONCE(p->dup);
		sum.outside_vma += READ_ONCE(p->outside_vma);
		sum.not_swap += READ_ONCE(p->not_swap);
		sum.resident += READ_ONCE(p->resident);
		sum.cached += READ_ONCE(p->cached);
		sum.read += READ_ONCE(p->read);
		sum.errors += READ_ONCE(p->errors);
		sum.hits += READ_ONCE(p->hits);
		sum.refaults += READ_ONCE(p->refaults);
		sum.batches += READ_ONCE(p->batches);
		sum.worker_ns += READ_ONCE(p->worker_ns);
		sum.handler_ns += READ_ONCE(p->handler_ns);
	}
	s->mechanism = READ_ONCE(rmt_pf_live) ? READ_ONCE(rmt_pf_mech) : RMT_PF_NONE;
	s->queue_len = RMT_PF_QLEN;
	s->ncpus = num_possible_cpus();
	s->queue_bytes = (u64)sizeof(struct rmt_pf_queue) * num_possible_cpus() +
			 sizeof(rmt_pf_track);
	s->decisions = sum.decisions;
	s->requested = sum.requested;
	s->over_cap = sum.over_cap;
	s->dropped = sum.dropped;
	s->mm_gone = sum.mm_gone;
	s->dup = sum.dup;
	s->outside_vma = sum.outside_vma;
	s->not_swap = sum.not_swap;
	s->resident = sum.resident;
	s->cached = sum.cached;
	s->read = sum.read;
	s->errors = sum.errors;
	s->hits = sum.hits;
	s->refaults = sum.refaults;
	s->batches = sum.batches;
	s->worker_ns = sum.worker_ns;
	s->handler_ns = sum.handler_ns;
}
