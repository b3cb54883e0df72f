// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_kmod_prefetch.c: read the exact pages an mm.swap_fault program asks
 * for into the swap cache (docs/kernel-hooks.md, "Exact-page prefetch").
 *
 * The do_swap_page kprobe handler cannot sleep, take mmap_lock, allocate
 * with GFP_KERNEL or start I/O.  rmt_pf_queue() therefore does only what the
 * faulting VMA (stable while the fault holds mmap_lock) tells it: it drops the
 * faulting page, pages repeated in the decision and pages outside the VMA
 * (counted), and copies the rest, as page numbers, into this CPU's fixed
 * queue.  A decision for the same VMA as the newest request still queued is
 * merged into it (pages already there are duplicates), so a program that
 * names a dozen pages per fault, most of them the previous fault's, fills one
 * request rather than one per fault.  A new request takes a reference on the
 * mm_struct (mmgrab: an atomic increment) so the worker can tell a live
 * address space from a freed one.  A full queue drops the pages and counts
 * them: the handler never waits for the worker.
 *
 * The worker runs on an unbound workqueue of its own, not on the faulting
 * CPU: it takes mmap_lock and allocates (the reads are charged to the
 * faulting task's memory cgroup, so it may reclaim), and it must not depend
 * on a CPU whose faulting task does not yield (PREEMPT_VOLUNTARY) nor hold
 * up the per-CPU pool other kernel work items wait on.  It pins the address
 * space (mmget_not_zero; an exited process's pages are counted as mm_gone),
 * classifies every page under mmap_read_lock by its page-table entry (the
 * VMA gone or changed, mapped, no swap entry, already in the swap cache, or
 * to be read), drops the lock, and reads the pages of the last kind, each
 * run of consecutive pages at once, with one of:
 *  - RMT_PF_MADVISE: do_madvise(mm, addr, len, MADV_WILLNEED), what
 *    process_madvise(2) runs for another process: read_swap_cache_async()
 *    for each swap entry, asynchronously, without mapping the page.  The
 *    symbol is not exported; it is found with kallsyms_lookup_name(), itself
 *    found through a kprobe's resolved address.
 *  - RMT_PF_GUP: get_user_pages_remote() (exported), which faults the page
 *    in and maps it, one page at a time, synchronously: little gain on 6.1,
 *    but it needs no private symbol.
 * The module parameter swap_prefetch (auto, madvise, gup, window) picks one
 * at attach; auto, the default, prefers madvise.  window keeps the
 * readahead-window steering of rmt_kmod_hook_swap.c.
 *
 * Accuracy, measured by the kernel: each page read is remembered in a fixed
 * table of tags (hash of mm and page; a collision overwrites, so hits are a
 * lower bound).  rmt_pf_fault(), called by the handler on every swap fault,
 * looks the faulting page up: found and still in the swap cache, the
 * prefetch saved a read (hits); found but gone, it was evicted before use
 * (refaults).
 *
 * Memory: the queues (per-CPU, allocated at attach) and the table (static)
 * have sizes fixed at build time (queue_bytes in the statistics): a flood of
 * faults from any number of processes cannot grow them.
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

#define RMT_PF_QLEN		64	/* requests per CPU */
#define RMT_PF_REQ_PAGES	32	/* pages one request holds: merged decisions */
#define RMT_PF_TRACK_BITS	12	/* prefetched pages remembered: 4096 */
/* mm/swap.h (private in 6.1): a swap type's cache is split every 1 << 14 pages */
#define RMT_SWAP_SPACE_SHIFT	14

/**
 * struct rmt_pf_req - pages of one VMA waiting for the worker
 * @mm: the faulting address space, mmgrab()bed by the handler
 * @vm_start: the faulting VMA's start when queued
 * @vm_end: its end then; every page in @page lies in [@vm_start, @vm_end)
 * @n: pages in @page
 * @page: page numbers (address >> PAGE_SHIFT), distinct
 */
struct rmt_pf_req {
	struct mm_struct *mm;
	unsigned long vm_start;
	unsigned long vm_end;
	u32 n;
	unsigned long page[RMT_PF_REQ_PAGES];
};

/**
 * struct rmt_pf_queue - one CPU's requests
 * @lock: the handler of this CPU and the worker; neither runs in interrupt
 *	context and both hold it for a copy only, with preemption disabled
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
	u64 merged;
};

enum rmt_pf_class { RMT_PFC_NOT_SWAP, RMT_PFC_RESIDENT, RMT_PFC_CACHED, RMT_PFC_READ };

/* Allocated at attach: larger than a module's static per-CPU area allows. */
static struct rmt_pf_queue __percpu *rmt_pf_q;
static DEFINE_PER_CPU(struct rmt_pf_pcpu, rmt_pf_pc);
static u64 rmt_pf_track[1 << RMT_PF_TRACK_BITS];

static u32 rmt_pf_mech = RMT_PF_WINDOW;	/* chosen at attach */
static bool rmt_pf_live;			/* queues accept requests */
static struct workqueue_struct *rmt_pf_wq;	/* from rmt_pf_start() to rmt_pf_stop() */

static int (*rmt_do_madvise)(struct mm_struct *mm, unsigned long start, size_t len,
			     int behavior);
static struct address_space **rmt_swapper_spaces;
static bool rmt_pf_syms_done;

static char rmt_pf_param[16] = "auto";
module_param_string(swap_prefetch, rmt_pf_param, sizeof(rmt_pf_param), 0644);
MODULE_PARM_DESC(swap_prefetch,
		 "mm.swap_fault mechanism at attach: auto (default: madvise, else gup), madvise, gup, window");

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

/* Is @page among the first @n of @pages? */
static bool rmt_pf_has(const unsigned long *pages, u32 n, unsigned long page)
{
	u32 i;

	for (i = 0; i < n; i++)
		if (pages[i] == page)
			return true;
	return false;
}

/**
 * rmt_pf_queue() - hand a decision to the worker through this CPU's queue
 * @vma: the faulting VMA (its task holds mmap_lock: stable here)
 * @addr: the faulting address
 * @n: the program's decision: pages in @pf
 * @pf: page deltas relative to the faulting page
 *
 * Called from the kprobe handler with preemption disabled; never waits for
 * the worker (the lock is held only for copies, by the handler and the
 * worker, with preemption disabled).
 */
void rmt_pf_queue(struct vm_area_struct *vma, unsigned long addr, s64 n, const s32 *pf)
{
	struct rmt_pf_queue *q = this_cpu_ptr(rmt_pf_q);
	u32 asked = n > RMT_PF_MAX_PAGES ? RMT_PF_MAX_PAGES : n;
	s64 fpage = addr >> PAGE_SHIFT;
	s64 lo = vma->vm_start >> PAGE_SHIFT, hi = vma->vm_end >> PAGE_SHIFT;
	struct mm_struct *mm = vma->vm_mm;
	unsigned long cand[RMT_PF_MAX_PAGES];
	u32 i, m = 0, ndup = 0, nout = 0, nmerged = 0;
	struct rmt_pf_req *r;
	u64 t0 = ktime_get_ns();

	if (n <= 0 || !mm)
		return;
	rmt_pf_inc(decisions);
	rmt_pf_add(requested, asked);
	if (n > asked)
		rmt_pf_add(over_cap, n - asked);
	for (i = 0; i < asked; i++) {
		s64 page = fpage + pf[i];

		if (page < lo || page >= hi)
			nout++;
		else if (!pf[i] || rmt_pf_has(cand, m, page))
			ndup++;
		else
			cand[m++] = page;
	}
	if (!READ_ONCE(rmt_pf_live)) {
		rmt_pf_add(dropped, m);
		goto out;
	}
	raw_spin_lock(&q->lock);
	i = 0;
	/* The newest request, if the worker has not taken it and it is this VMA's: merge. */
	if (q->tail != q->head) {
		r = &q->req[(q->tail - 1) % RMT_PF_QLEN];
		if (r->mm == mm && r->vm_start == vma->vm_start && r->vm_end == vma->vm_end) {
			for (; i < m && r->n < RMT_PF_REQ_PAGES; i++) {
				if (rmt_pf_has(r->page, r->n, cand[i]))
					ndup++;
				else
					r->page[r->n++] = cand[i];
			}
			nmerged = m && i == m;
		}
	}
	if (i < m) {
		if (q->tail - q->head >= RMT_PF_QLEN) {
			raw_spin_unlock(&q->lock);
			rmt_pf_add(dropped, m - i);
			goto out;
		}
		r = &q->req[q->tail % RMT_PF_QLEN];
		mmgrab(mm);
		r->mm = mm;
		r->vm_start = vma->vm_start;
		r->vm_end = vma->vm_end;
		r->n = m - i;
		memcpy(r->page, cand + i, (m - i) * sizeof(cand[0]));
		q->tail++;
	}
	raw_spin_unlock(&q->lock);
	if (m)
		queue_work(rmt_pf_wq, &q->work);
out:
	rmt_pf_add(dup, ndup);
	rmt_pf_add(outside_vma, nout);
	rmt_pf_add(merged, nmerged);
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

/* Read @npages pages from @addr (all to be read, consecutive) and remember them. */
static void rmt_pf_read(struct mm_struct *mm, unsigned long addr, u32 npages, u32 mech)
{
	long rc;
	u32 i;

	if (mech == RMT_PF_MADVISE) {
		rc = rmt_do_madvise(mm, addr, (size_t)npages << PAGE_SHIFT, MADV_WILLNEED);
	} else {
		mmap_read_lock(mm);
		rc = get_user_pages_remote(mm, addr, npages, 0, NULL, NULL, NULL);
		mmap_read_unlock(mm);
		rc = rc == npages ? 0 : rc < 0 ? rc : -EFAULT;
	}
	if (rc) {
		rmt_pf_add(errors, npages);
		return;
	}
	rmt_pf_add(read, npages);
	for (i = 0; i < npages; i++) {
		u64 tag = rmt_pf_tag(mm, (addr >> PAGE_SHIFT) + i);

		WRITE_ONCE(*rmt_pf_slot(tag), tag);
	}
}

/* One request: classify every page, then read the ones that need it, by runs. */
static void rmt_pf_do(const struct rmt_pf_req *r, u32 mech)
{
	struct mm_struct *mm = r->mm;
	unsigned long todo[RMT_PF_REQ_PAGES];
	struct vm_area_struct *vma;
	u32 i, j, nread = 0;
	swp_entry_t e;

	if (!mmget_not_zero(mm)) {
		rmt_pf_add(mm_gone, r->n);
		return;
	}
	mmap_read_lock(mm);
	vma = vma_lookup(mm, r->vm_start);
	for (i = 0; i < r->n; i++) {
		unsigned long addr = r->page[i] << PAGE_SHIFT;

		/* unmapped or remapped since the fault */
		if (!vma || addr < vma->vm_start || addr >= vma->vm_end) {
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
			/* insertion sort: runs of consecutive pages become one read */
			for (j = nread++; j > 0 && todo[j - 1] > addr; j--)
				todo[j] = todo[j - 1];
			todo[j] = addr;
			break;
		}
	}
	mmap_read_unlock(mm);
	/* do_madvise() and GUP take mmap_lock themselves. */
	for (i = 0; i < nread; i = j) {
		for (j = i + 1; j < nread && todo[j] == todo[j - 1] + PAGE_SIZE; j++)
			;
		/* GUP reads one page at a time anyway; madvise a run at once */
		if (mech != RMT_PF_MADVISE)
			j = i + 1;
		rmt_pf_read(mm, todo[i], j - i, mech);
		cond_resched();
	}
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
 * rmt_pf_start() - empty queues, zeroed counters and a workqueue, before the probe is armed
 *
 * Sleeps (the attach ioctl).
 *
 * Return: 0, or -ENOMEM without the queues or the workqueue.
 */
int rmt_pf_start(void)
{
	int cpu;

	rmt_pf_q = alloc_percpu(struct rmt_pf_queue);
	if (!rmt_pf_q)
		return -ENOMEM;
	/* Unbound: the worker runs where there is CPU time, not on the faulting CPU. */
	rmt_pf_wq = alloc_workqueue("rmt_prefetch", WQ_UNBOUND, 0);
	if (!rmt_pf_wq) {
		free_percpu(rmt_pf_q);
		rmt_pf_q = NULL;
		return -ENOMEM;
	}
	for_each_possible_cpu(cpu) {
		struct rmt_pf_queue *q = per_cpu_ptr(rmt_pf_q, cpu);

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
 * any more.  destroy_workqueue() runs every queued work item to its end;
 * after this the module may go.  Sleeps.
 */
void rmt_pf_stop(void)
{
	int cpu;

	WRITE_ONCE(rmt_pf_live, false);
	if (rmt_pf_wq) {
		destroy_workqueue(rmt_pf_wq);
		rmt_pf_wq = NULL;
	}
	if (!rmt_pf_q)
		return;
	/* Nothing is left; should a request be, its mm reference must not leak. */
	for_each_possible_cpu(cpu) {
		struct rmt_pf_queue *q = per_cpu_ptr(rmt_pf_q, cpu);

		while (q->head != q->tail) {
			struct rmt_pf_req *r = &q->req[q->head++ % RMT_PF_QLEN];

			this_cpu_add(rmt_pf_pc.mm_gone, r->n);
			mmdrop(r->mm);
		}
	}
	free_percpu(rmt_pf_q);
	rmt_pf_q = NULL;
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
		sum.merged += READ_ONCE(p->merged);
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
	s->merged = sum.merged;
}
