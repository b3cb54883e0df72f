/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_prefetch.h: mm.swap_fault's exact-page prefetcher (rmt.ko only).
 *
 * The do_swap_page kprobe handler (rmt_kmod_hook_swap.c) cannot sleep, take
 * mmap_lock or start I/O.  It hands the program's page list to
 * rmt_pf_queue(), which copies it into a fixed per-CPU queue and wakes a
 * worker; the worker (rmt_kmod_prefetch.c) reads the pages into the swap
 * cache of that mm.  docs/kernel-hooks.md has the design and the counters.
 */
#ifndef _RMT_PREFETCH_H
#define _RMT_PREFETCH_H

#include <linux/mm_types.h>
#include <linux/types.h>
#include "uapi/rmt_hooks.h"

/* Pages one decision may ask for: the context's pf[] */
#define RMT_PF_MAX_PAGES	16

int rmt_pf_choose(char *err, size_t len);
u32 rmt_pf_mechanism(void);
int rmt_pf_start(void);
void rmt_pf_stop(void);
void rmt_pf_queue(struct vm_area_struct *vma, unsigned long addr, s64 n, const s32 *pf);
int rmt_pf_fault(struct mm_struct *mm, unsigned long addr, pte_t orig_pte);
void rmt_pf_stats(struct rmt_swap_prefetch_stats *s);

#endif /* _RMT_PREFETCH_H */
