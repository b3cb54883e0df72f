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
 * it to ra->ra_pages and the return handler puts the file's own value back,
 * unless something else changed it meanwhile (fadvise, another reader of the
 * same struct file: ra state is updated without locks by the kernel too).
 * A cap of 0 makes the kernel read only the requested pages, as with
 * read_ahead_kb = 0.  All four structs are in public headers: the attach
 * payload only proves the BTF is this kernel's (its check is generated from
 * the spec), and the handler reads the members directly.
 */
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#define RMT_HOOK_OFFSETS_CHECK_FS
#include "rmt_hooks_kern.h"

#define RMT_FS_U16_MAX	(1u << 16)

/* One kretprobe instance: what the return handler needs to undo a cap. */
struct rmt_fs_data {
	struct file_ra_state *ra;
	unsigned int saved;
	unsigned int set;
};

static struct kretprobe rmt_fs_sync_krp, rmt_fs_async_krp;

static void rmt_fs_build(struct rmt_ctx_fs_readahead *c, const struct readahead_control *rac,
			 const struct file_ra_state *ra, unsigned long req, bool async)
{
	memset(c, 0, sizeof(*c));
	c->pid = max(current->pid, 0);
	c->ino = rac->mapping->host->i_ino;
	c->index = rac->_index;
	c->req_pages = min_t(unsigned long, req, RMT_FS_U16_MAX);
	c->is_async = async;
	c->ra_start = ra->start;
	c->ra_size = min_t(u32, READ_ONCE(ra->size), RMT_FS_U16_MAX);
	c->ra_async_size = min_t(u32, READ_ONCE(ra->async_size), RMT_FS_U16_MAX);
	c->ra_pages = min_t(u32, READ_ONCE(ra->ra_pages), RMT_FS_U16_MAX);
	c->prev_index = (u64)READ_ONCE(ra->prev_pos) >> PAGE_SHIFT;
	c->mmap_miss = min_t(u32, READ_ONCE(ra->mmap_miss), RMT_FS_U16_MAX);
	rmt_ctx_fs_readahead_clamp(c);	/* the spec's ranges, whatever came above */
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
	unsigned int own;
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
	rmt_fs_build(&c, rac, ra, req, async);
	own = c.ra_pages;
	if (own)
		rmt_hook_inc(h, kernel_yes);
	else
		rmt_hook_inc(h, kernel_no);

	if (rmt_hook_exec(h, b->prog_id, &c, sizeof(c), cpu, t0, &res) &&
	    rmt_hook_verdict(h, b->flags, b->prog_id, cpu, res.decision, own)) {
		/* the VM returns only decisions the spec allows: 0..RMT_HOOK_FS_READAHEAD_DECISION_HI */
		d->ra = ra;
		d->saved = READ_ONCE(ra->ra_pages);
		d->set = res.decision;
		WRITE_ONCE(ra->ra_pages, d->set);
		rmt_hook_inc(h, overrides);
		keep = 0;
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

/* Put the file's own cap back, unless it was changed while the call ran. */
static int rmt_fs_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct rmt_fs_data *d = (struct rmt_fs_data *)ri->data;

	cmpxchg(&d->ra->ra_pages, d->set, d->saved);
	return 0;
}

static int rmt_fs_reg(void)
{
	struct kretprobe *krps[] = { &rmt_fs_sync_krp, &rmt_fs_async_krp };

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

static void rmt_fs_unreg(void)
{
	struct kretprobe *krps[] = { &rmt_fs_sync_krp, &rmt_fs_async_krp };

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
