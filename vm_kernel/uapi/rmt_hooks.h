/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rmt_hooks.h: ioctl payloads that attach RMT programs to kernel hooks.
 *
 * Included by uapi/rmt.h, which owns the ioctl numbers.  Every struct is
 * fixed-width and explicitly padded: the same bytes on every ABI, and
 * tools/rmtctl (rmtctl/kernel.py, rmtctl/btf.py) packs them with the Python
 * struct module.
 *
 * Why offsets travel in the ioctl: struct lb_env and struct rq are private to
 * kernel/sched/ and appear in no header a module can include, and
 * task_struct's layout depends on the kernel's configuration.  rmtctl reads
 * the running kernel's BTF (/sys/kernel/btf/vmlinux), resolves every member
 * the hooks read, and hands the byte offsets to the module at attach time.
 * The module checks each against the struct size (also from BTF) and, for
 * structs in public headers, against its own offsetof(): a mismatch means
 * the BTF is not the running kernel's, and the attach fails.
 */
#ifndef _UAPI_RMT_HOOKS_H
#define _UAPI_RMT_HOOKS_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define RMT_HOOKS_ABI_VERSION	2

/* Numbers inside RMT_IOC_HOOK_NR_FIRST..LAST of uapi/rmt.h (magic 0xE7). */
#define RMT_IOC_HOOK_ATTACH	_IOWR(0xE7, 0x40, struct rmt_hook_attach)
#define RMT_IOC_HOOK_DETACH	_IOW(0xE7, 0x41, struct rmt_hook_detach)
#define RMT_IOC_HOOK_STATS	_IOWR(0xE7, 0x42, struct rmt_hook_stats)
#define RMT_IOC_HOOK_PREFETCH	_IOWR(0xE7, 0x43, struct rmt_swap_prefetch_stats)

/* An offset rmtctl could not resolve: the hook treats the feature as 0. */
#define RMT_OFF_NONE		0xffffffffu

/* rmt_hook_attach.flags */
#define RMT_HOOK_F_SHADOW	0x1u	/* shadow mode whatever the object says */
#define RMT_HOOK_F_EMPTY	0x2u	/* register the probe, run nothing (overhead baseline) */

#define RMT_HOOK_ERR_LEN	128

/**
 * struct rmt_hook_attach - RMT_IOC_HOOK_ATTACH payload
 * @abi: RMT_HOOKS_ABI_VERSION
 * @hook_id: the hook (RMT_HOOK_*_ID of rmt_hooks.h; 1 sched, 2 swap)
 * @prog_id: the loaded program; its object must be built for @hook_id.
 *	0 only with RMT_HOOK_F_EMPTY
 * @flags: RMT_HOOK_F_*
 * @offsets: user pointer to the hook's payload: the struct sizes, member
 *	offsets and values its probe reads, laid out as the hook's spec says
 *	(contract/hooks.py KernelSide; generated C: the rmt.ko part of core/rmt_hooks.h)
 * @offsets_len: its length in bytes: exactly the hook's payload size
 * @pad: must be 0
 * @err: out: why the attach failed
 *
 * Attaching to a hook that already has a program replaces it atomically
 * (hooks firing meanwhile run either the old or the new one).  The payload
 * travels by pointer and length, so adding a hook changes no struct here.
 */
struct rmt_hook_attach {
	__u32 abi;
	__u32 hook_id;
	__u32 prog_id;
	__u32 flags;
	__u64 offsets;
	__u32 offsets_len;
	__u32 pad;
	char err[RMT_HOOK_ERR_LEN];
};

/**
 * struct rmt_hook_detach - RMT_IOC_HOOK_DETACH payload
 * @abi: RMT_HOOKS_ABI_VERSION
 * @hook_id: the hook; its probes are unregistered (waits for running handlers)
 */
struct rmt_hook_detach {
	__u32 abi;
	__u32 hook_id;
};

/* rmt_hook_stats.state */
#define RMT_HOOK_S_REGISTERED	0x1u
#define RMT_HOOK_S_SHADOW	0x2u
#define RMT_HOOK_S_EMPTY	0x4u

/**
 * struct rmt_hook_stats - RMT_IOC_HOOK_STATS payload (in: @hook_id; out: the rest)
 * @abi: RMT_HOOKS_ABI_VERSION
 * @hook_id: the hook
 * @prog_id: out: the attached program (0: none)
 * @state: out: RMT_HOOK_S_*
 * @hits: entry handlers run (kernel calls the kretprobe did not miss)
 * @nmissed: kretprobe/kprobe misses (no free instance, or recursion)
 * @runs: program runs
 * @no_prog: hits with nothing (or an unloaded program) to run
 * @ctx_errors: hits whose context could not be read (a pointer faulted)
 * @aborts: runs that aborted (the kernel's decision was used)
 * @defaults: runs that returned DEFAULT, aborts included
 * @overrides: kernel decisions changed (sched: return value; swap: window)
 * @hard_wins: a non-DEFAULT program decision a hard constraint overrode
 * @same: non-DEFAULT decisions equal to the kernel's
 * @shadow_agree: shadow runs that agreed with the kernel (DEFAULT agrees)
 * @shadow_disagree: shadow runs that did not
 * @kernel_yes: sched: the kernel returned 1; swap: the kernel's window would be > 1
 * @kernel_no: sched: the kernel returned 0; swap: the kernel's window would be 1
 * @hard_veto: sched: hits whose kernel 0 was a hard constraint
 * @ns_total: time spent in the handlers, ns (summed over CPUs)
 * @hist_busy: swap: history slot contended, history not updated
 * @ns_vm: of @ns_total, the time in the VM (rmt_vm_run_rcu(): the program on
 *	its engine, and its accounting); the rest builds the context and applies
 *	the decision (and, for sched, is the probed function between entry and
 *	return).  Zero from modules before this field existed.
 * @reserved: zero
 *
 * Counters start at zero when the probes are registered (an attach to a
 * detached hook); replacing the program keeps them.  With RMT_HOOK_F_EMPTY
 * the handler only counts @hits.
 * Invariants (per attachment): hits == runs + no_prog + ctx_errors for an
 * attached program; shadow_agree + shadow_disagree == runs in shadow mode;
 * runs == defaults + overrides + hard_wins + same in enforce mode.
 */
struct rmt_hook_stats {
	__u32 abi;
	__u32 hook_id;
	__u32 prog_id;
	__u32 state;
	__u64 hits;
	__u64 nmissed;
	__u64 runs;
	__u64 no_prog;
	__u64 ctx_errors;
	__u64 aborts;
	__u64 defaults;
	__u64 overrides;
	__u64 hard_wins;
	__u64 same;
	__u64 shadow_agree;
	__u64 shadow_disagree;
	__u64 kernel_yes;
	__u64 kernel_no;
	__u64 hard_veto;
	__u64 ns_total;
	__u64 hist_busy;
	__u64 ns_vm;
	__u64 reserved[6];
};

/* rmt_swap_prefetch_stats.mechanism: how mm.swap_fault's decisions take effect */
#define RMT_PF_NONE		0	/* the hook is not attached */
#define RMT_PF_WINDOW		1	/* steer the kernel's VMA readahead window */
#define RMT_PF_MADVISE		2	/* exact pages: do_madvise(MADV_WILLNEED) per run of pages */
#define RMT_PF_GUP		3	/* exact pages: get_user_pages_remote() per page */

/**
 * struct rmt_swap_prefetch_stats - RMT_IOC_HOOK_PREFETCH payload (in: @abi; out: the rest)
 * @abi: RMT_HOOKS_ABI_VERSION
 * @mechanism: RMT_PF_*, chosen at attach (module parameter swap_prefetch)
 * @queue_len: requests each CPU's queue holds
 * @ncpus: possible CPUs (one queue each)
 * @queue_bytes: kernel memory of the queues and of the prefetched-page table,
 *	fixed at build time: the bound on what a flood of faults can use
 * @decisions: program decisions of n > 0 pages (queued or dropped)
 * @requested: pages those decisions asked for, up to the cap (16)
 * @over_cap: pages asked beyond the cap (not in @requested)
 * @dropped: requested pages dropped because this CPU's queue was full
 *	(the handler never waits for the worker)
 * @mm_gone: requested pages whose process had exited when the worker ran
 * @dup: the faulting page itself, a page repeated in one decision, or one
 *	already in the queued request the decision was merged into
 * @outside_vma: pages outside the faulting VMA (or the address space), or
 *	in a VMA unmapped or changed before the worker ran
 * @not_swap: pages with no swap entry (never touched, file, migration)
 * @resident: pages mapped in memory
 * @cached: pages already in the swap cache (a read in flight included)
 * @read: pages handed to the read mechanism (not in the swap cache then)
 * @errors: pages the mechanism refused (its error)
 * @hits: faults on a page @read put in the swap cache, found still there
 * @refaults: faults on a page @read put there, no longer in the swap cache
 * @batches: worker runs
 * @worker_ns: time in the worker, ns
 * @handler_ns: time the fault handler spent queueing, ns
 * @merged: decisions whose pages all went into a request already queued for
 *	the same VMA (pages already there counted in @dup)
 * @reserved: zero
 *
 * Counters start at zero when the probe is registered.  Once the queues are
 * empty, @requested == @dropped + @mm_gone + @dup + @outside_vma + @not_swap
 * + @resident + @cached + @read + @errors.
 */
struct rmt_swap_prefetch_stats {
	__u32 abi;
	__u32 mechanism;
	__u32 queue_len;
	__u32 ncpus;
	__u64 queue_bytes;
	__u64 decisions;
	__u64 requested;
	__u64 over_cap;
	__u64 dropped;
	__u64 mm_gone;
	__u64 dup;
	__u64 outside_vma;
	__u64 not_swap;
	__u64 resident;
	__u64 cached;
	__u64 read;
	__u64 errors;
	__u64 hits;
	__u64 refaults;
	__u64 batches;
	__u64 worker_ns;
	__u64 handler_ns;
	__u64 merged;
	__u64 reserved[6];
};

_Static_assert(sizeof(struct rmt_hook_attach) == 32 + RMT_HOOK_ERR_LEN,
	       "rmt_hook_attach");
_Static_assert(sizeof(struct rmt_hook_detach) == 8, "rmt_hook_detach");
_Static_assert(sizeof(struct rmt_hook_stats) == 16 + 8 * 24, "rmt_hook_stats");
_Static_assert(sizeof(struct rmt_swap_prefetch_stats) == 24 + 8 * 24, "rmt_swap_prefetch_stats");

#endif /* _UAPI_RMT_HOOKS_H */
