// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_kmod_hook_fs.c: hook fs.readahead, a file's page-cache readahead.
 *
 * Two kretprobes, on page_cache_sync_ra() (a read missed the page cache) and
 * page_cache_async_ra() (a read reached a readahead marker), both exported in
 * 6.1 and both calling the static ondemand_readahead(), which sizes the
 * window from struct file_ra_state and caps it at ra->ra_pages.  The entry
 * handler builds the context from the readahead_control the caller holds
 * (its file, mapping and ra stay valid for the whole call) and runs the
 * program.  An enforced decision caps this call's window: the handler writes
 * it to ra->ra_pages and the return handler puts the file's own value back.
 *
 * One cap at a time per file_ra_state: readers sharing one struct file
 * (threads on one fd) would otherwise save each other's caps as "the file's
 * own" and leave one behind for good.  A small table of slots, hashed by the
 * ra pointer, holds the ra being capped and its own value; a call that finds
 * its slot taken is left to the kernel (counted in hard_wins) and reports the
 * saved value as the kernel's own.  Detaching waits for the capped calls in
 * flight: unregistering a kretprobe skips their pending return handlers,
 * which would leave those files capped.  What a concurrent fadvise() sets
 * while a call is capped wins unless it equals the cap.
 *
 * A cap of 0 makes the kernel read only the requested pages, as with
 * read_ahead_kb = 0.  All four structs are in public headers: the attach
 * payload only proves the BTF is this kernel's (its check is generated from
 * the spec), and the handler reads the members directly.
 */
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/hash.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#define RMT_HOOK_OFFSETS_CHECK_FS
#include "rmt_hooks_kern.h"

#define RMT_FS_SLOT_BITS	6
#define RMT_FS_DETACH_WAIT_MS	10000

/* The ra being capped in each slot (NULL: free) and its own ra_pages. */
static struct file_ra_state *rmt_fs_slot[1 << RMT_FS_SLOT_BITS];
static unsigned int rmt_fs_saved[1 << RMT_FS_SLOT_BITS];
/* Capped calls whose return handler has not run yet. */
static atomic_t rmt_fs_inflight = ATOMIC_INIT(0);

/* One kretprobe instance: what the return handler needs to undo a cap. */
struct rmt_fs_data {
	struct file_ra_state *ra;
	unsigned int slot;
	unsigned int set;
};

static struct kretprobe rmt_fs_sync_krp, rmt_fs_async_krp;

static void rmt_fs_build(struct rmt_ctx_fs_readahead *c, const struct readahead_control *rac,
			 const struct file_ra_state *ra, unsigned long req, bool async,
			 unsigned int own)
{
	memset(c, 0, sizeof(*c));
	c->pid = max(current->pid, 0);
	c->ino = rac->mapping->host->i_ino;
	c->index = rac->_index;
	c->req_pages = min_t(unsigned long, req, U32_MAX);
	c->is_async = async;
	c->ra_start = ra->start;
	c->ra_size = READ_ONCE(ra->size);
	c->ra_async_size = READ_ONCE(ra->async_size);
	c->ra_pages = own;
	/* before the first read prev_pos is -1: the clamp makes it the spec's maximum */
	c->prev_index = (u64)READ_ONCE(ra->prev_pos) >> PAGE_SHIFT;
	c->mmap_miss = READ_ONCE(ra->mmap_miss);
	rmt_ctx_fs_readahead_clamp(c);	/* the spec's ranges */
}

/*
 * Return: 0 when the return handler must restore ra->ra_pages, 1 otherwise
 * (the kretprobe core then skips it).
 */
static int rmt_fs_entry(struct kretprobe_instance *ri, struct pt_regs *regs, bool async)
{
	struct rmt_hook *h = &rmt_hook_fs;
	struct rmt_fs_data *d = (struct rmt_fs_data *)ri->data;
	const struct readahead_control *rac = (const void *)regs->di;
	unsigned long req = async ? regs->dx : regs->si;
	const struct rmt_hook_bind *b;
	struct rmt_ctx_fs_readahead c;
	struct rmt_run_result res;
	struct file_ra_state *ra;
	u32 cpu = smp_processor_id();
	unsigned int own, slot;
	u64 t0 = ktime_get_ns();
	int keep = 1;

	rmt_hook_inc(h, hits);
	b = rcu_dereference_sched(h->bind);
	if (!b) {
		rmt_hook_inc(h, no_prog);
		return 1;
	}
	if (b->flags & RMT_HOOK_F_EMPTY)
		return 1;
	ra = rac ? rac->ra : NULL;
	if (!ra || !rac->mapping || !rac->mapping->host) {
		rmt_hook_inc(h, ctx_errors);
		return 1;
	}
	slot = hash_ptr(ra, RMT_FS_SLOT_BITS);
	/* another reader of this file has its call capped: its own value is saved */
	own = READ_ONCE(rmt_fs_slot[slot]) == ra ? READ_ONCE(rmt_fs_saved[slot]) :
						       READ_ONCE(ra->ra_pages);
	rmt_fs_build(&c, rac, ra, req, async, own);
	own = c.ra_pages;
	if (own)
		rmt_hook_inc(h, kernel_yes);
	else
		rmt_hook_inc(h, kernel_no);

	if (rmt_hook_exec(h, b->prog_id, &c, sizeof(c), cpu, t0, &res) &&
	    rmt_hook_verdict(h, b->flags, b->prog_id, cpu, res.decision, own)) {
		if (cmpxchg(&rmt_fs_slot[slot], NULL, ra)) {
			/* a cap on this file (or one hashed alike) is in flight */
			rmt_hook_inc(h, hard_wins);
		} else {
			WRITE_ONCE(rmt_fs_saved[slot], READ_ONCE(ra->ra_pages));
			atomic_inc(&rmt_fs_inflight);
			/* the VM returns only decisions the spec allows (0..256) */
			d->ra = ra;
			d->slot = slot;
			d->set = res.decision;
			WRITE_ONCE(ra->ra_pages, d->set);
			rmt_hook_inc(h, overrides);
			keep = 0;
		}
	}
	rmt_hook_add(h, ns_total, ktime_get_ns() - t0);
	return keep;
}

static int rmt_fs_sync_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return rmt_fs_entry(ri, regs, false);
}

static int rmt_fs_async_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return rmt_fs_entry(ri, regs, true);
}

/* Put the file's own cap back (unless it was changed while the call ran); free the slot. */
static int rmt_fs_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct rmt_fs_data *d = (struct rmt_fs_data *)ri->data;

	cmpxchg(&d->ra->ra_pages, d->set, READ_ONCE(rmt_fs_saved[d->slot]));
	/* the restore is visible before the slot is free for the next cap */
	smp_store_release(&rmt_fs_slot[d->slot], NULL);
	atomic_dec(&rmt_fs_inflight);
	return 0;
}

static int rmt_fs_reg(void)
{
	struct kretprobe *krps[] = { &rmt_fs_sync_krp, &rmt_fs_async_krp };

	/* a call that outlived a detach's wait left its slot taken: start clean */
	memset(rmt_fs_slot, 0, sizeof(rmt_fs_slot));
	atomic_set(&rmt_fs_inflight, 0);
	memset(&rmt_fs_sync_krp, 0, sizeof(rmt_fs_sync_krp));
	memset(&rmt_fs_async_krp, 0, sizeof(rmt_fs_async_krp));
	rmt_fs_sync_krp.kp.symbol_name = "page_cache_sync_ra";
	rmt_fs_sync_krp.entry_handler = rmt_fs_sync_entry;
	rmt_fs_async_krp.kp.symbol_name = "page_cache_async_ra";
	rmt_fs_async_krp.entry_handler = rmt_fs_async_entry;
	rmt_fs_sync_krp.handler = rmt_fs_ret;
	rmt_fs_async_krp.handler = rmt_fs_ret;
	rmt_fs_sync_krp.data_size = sizeof(struct rmt_fs_data);
	rmt_fs_async_krp.data_size = sizeof(struct rmt_fs_data);
	/* Readers may sleep inside the call (the I/O): room for many in flight. */
	rmt_fs_sync_krp.maxactive = 4 * num_possible_cpus() + 16;
	rmt_fs_async_krp.maxactive = 4 * num_possible_cpus() + 16;
	return register_kretprobes(krps, ARRAY_SIZE(krps));
}

/*
 * Called after the detach has dropped the binding: once the entry handlers
 * running now are done no call is capped any more, and those capped before
 * are waited for (bounded: a read stuck in I/O must not hang rmmod), since
 * unregistering skips their return handlers.
 */
static void rmt_fs_unreg(void)
{
	struct kretprobe *krps[] = { &rmt_fs_sync_krp, &rmt_fs_async_krp };
	int waited = 0;

	synchronize_rcu();
	while (atomic_read(&rmt_fs_inflight) && waited < RMT_FS_DETACH_WAIT_MS) {
		msleep(20);
		waited += 20;
	}
	if (atomic_read(&rmt_fs_inflight))
		pr_warn("rmt: fs.readahead detached with %d capped calls in flight: their files keep the cap until reopened\n",
			atomic_read(&rmt_fs_inflight));
	unregister_kretprobes(krps, ARRAY_SIZE(krps));
}

static u64 rmt_fs_nmissed(void)
{
	return (u64)rmt_fs_sync_krp.nmissed + rmt_fs_sync_krp.kp.nmissed +
	       rmt_fs_async_krp.nmissed + rmt_fs_async_krp.kp.nmissed;
}

static int rmt_fs_check(const struct rmt_hook_bind *b, char *err, size_t len)
{
	return rmt_fs_offsets_check(&b->off.fs, err, len);
}

struct rmt_hook rmt_hook_fs = {
	.id = RMT_HOOK_FS_READAHEAD_ID,
	.symbol = "page_cache_sync_ra",
	.offsets_size = sizeof(struct rmt_fs_offsets),
	.check = rmt_fs_check,
	.reg = rmt_fs_reg,
	.unreg = rmt_fs_unreg,
	.nmissed = rmt_fs_nmissed,
};
