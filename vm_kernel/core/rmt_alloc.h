/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_alloc.h: every allocation the VM makes, counted, with fault injection.
 *
 * The VM's sources allocate only through these wrappers (never kmalloc() and
 * friends directly), so that
 *
 *   - the module can assert at unload that nothing it allocated is still
 *     live (rmt_kmod.c prints "allocations live at unload: N" and warns when
 *     N != 0), and the userspace tests can assert zero leaks after a program
 *     is unloaded;
 *   - a test can make the n-th allocation fail (rmt_alloc_fail_nth()) and
 *     check that every failure path returns -ENOMEM and leaves the state as
 *     it was.
 *
 * The wrappers sit on the kernel's allocators in rmt.ko and on rmt_compat.h's
 * malloc shims in userspace: one set of code for both builds.  A pointer from
 * an rmt_k*alloc*() must be freed with the matching rmt_k*free() (and per-CPU
 * data with rmt_free_percpu()), or the live count goes wrong.  Frees done in
 * RCU callbacks decrement when the callback runs; rmt_exit() waits for them
 * (rcu_barrier()) before it reads the count.
 *
 * Counters are global (one module, one process), not per VM instance.
 */
#ifndef _RMT_ALLOC_H
#define _RMT_ALLOC_H

#include "rmt_compat.h"

/**
 * struct rmt_alloc_stats - a snapshot of the allocation counters
 * @live: allocations not yet freed (objects, not bytes)
 * @total: successful allocations since load
 * @failed: allocations failed by fault injection
 * @fail_pending: the countdown to the next injected failure (0: disarmed)
 */
struct rmt_alloc_stats {
	s64 live;
	u64 total;
	u64 failed;
	u64 fail_pending;
};

void *rmt_kmalloc(size_t size, gfp_t flags);
void *rmt_kzalloc(size_t size, gfp_t flags);
void *rmt_kcalloc(size_t n, size_t size, gfp_t flags);
void *rmt_kmalloc_array(size_t n, size_t size, gfp_t flags);
void *rmt_kvmalloc(size_t size, gfp_t flags);
void *rmt_kvzalloc(size_t size, gfp_t flags);
void *rmt_kvcalloc(size_t n, size_t size, gfp_t flags);
void *rmt_kvmalloc_array(size_t n, size_t size, gfp_t flags);
void rmt_kfree(const void *p);
void rmt_kvfree(const void *p);
void __percpu *rmt_alloc_percpu_bytes(size_t size, size_t align);
void rmt_free_percpu(void __percpu *p);

/* alloc_percpu(type), counted. */
#define rmt_alloc_percpu(type) \
	((type __percpu *)rmt_alloc_percpu_bytes(sizeof(type), __alignof__(type)))

bool rmt_alloc_inject(void);
void rmt_alloc_track(const void *p);
void rmt_alloc_untrack(const void *p);

s64 rmt_alloc_live(void);
void rmt_alloc_get_stats(struct rmt_alloc_stats *out);
void rmt_alloc_fail_nth(u64 n, bool every);

#endif /* _RMT_ALLOC_H */
