// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_alloc.c: the counted allocators of rmt_alloc.h and the fault injector.
 *
 * Fault injection (the userspace library always; rmt.ko only when built with
 * RMT_TEST_BUILD=y, which defines RMT_FAULT_INJECT -- never in production):
 * rmt_alloc_fail_nth(n, every) arms a countdown; the n-th
 * counted allocation after arming fails (returns NULL, as the real allocator
 * would under memory pressure) and the countdown disarms itself, unless
 * @every is set, in which case that allocation and every later one fail until
 * the next rmt_alloc_fail_nth(0, false).  Reading the countdown back tells a
 * test whether the operation it ran reached the n-th allocation at all.
 *
 * The counters are atomics updated with relaxed ordering: they are
 * statistics and a leak check made after every user is gone, not
 * synchronization.  The injector uses cmpxchg so that concurrent allocators
 * fail exactly one allocation per arming.
 */
#include "rmt_alloc.h"

#ifndef __KERNEL__
#define __force		/* sparse address-space casts: kernel only */
#endif

static atomic64_t rmt_alloc_nlive = ATOMIC64_INIT(0);
static atomic64_t rmt_alloc_ntotal = ATOMIC64_INIT(0);
static atomic64_t rmt_alloc_nfailed = ATOMIC64_INIT(0);
/* Allocations left until the injected failure, 0 when disarmed. */
static atomic64_t rmt_alloc_countdown = ATOMIC64_INIT(0);
/* Fail every allocation once the countdown reaches its end. */
static bool rmt_alloc_every;

/**
 * rmt_alloc_inject() - decide whether this allocation is the one to fail
 *
 * Context: any; called once per counted allocation, before the real
 * allocator.  Cheap when disarmed (one atomic read).
 *
 * Return: true when fault injection fails this allocation (it is counted in
 * the failed counter).
 */
bool rmt_alloc_inject(void)
{
#if defined(__KERNEL__) && !defined(RMT_FAULT_INJECT)
	return false;	/* a production rmt.ko: fault injection is compiled out */
#else
	s64 v, next;

	for (;;) {
		v = atomic64_read(&rmt_alloc_countdown);
		if (likely(v <= 0))
			return false;
		/* In "every" mode the countdown stays at 1: each later call fails too. */
		next = (v == 1 && READ_ONCE(rmt_alloc_every)) ? 1 : v - 1;
		if (next == v || atomic64_cmpxchg(&rmt_alloc_countdown, v, next) == v)
			break;
	}
	if (v != 1)
		return false;
	atomic64_inc(&rmt_alloc_nfailed);
	return true;
#endif
}

/**
 * rmt_alloc_track() - count a successful allocation
 * @p: what the allocator returned; NULL (a failed allocation) is not counted
 *
 * For allocations made outside the wrappers below (the JIT's executable
 * pages), paired with rmt_alloc_untrack().
 */
void rmt_alloc_track(const void *p)
{
	if (!p)
		return;
	atomic64_inc(&rmt_alloc_nlive);
	atomic64_inc(&rmt_alloc_ntotal);
}

/**
 * rmt_alloc_untrack() - count a free
 * @p: the pointer being freed; NULL is not counted (as kfree(NULL) frees nothing)
 */
void rmt_alloc_untrack(const void *p)
{
	if (p)
		atomic64_add(-1, &rmt_alloc_nlive);
}

/* The body of every counted allocator: inject, allocate, count. */
#define RMT_ALLOC_COUNTED(call) ({ \
	void *__p = rmt_alloc_inject() ? NULL : (call); \
	rmt_alloc_track(__p); \
	__p; \
})

/**
 * rmt_kmalloc() - kmalloc(), counted and subject to fault injection
 * @size: bytes
 * @flags: GFP flags
 *
 * Return: the memory, or NULL.
 */
void *rmt_kmalloc(size_t size, gfp_t flags)
{
	return RMT_ALLOC_COUNTED(kmalloc(size, flags));
}

/**
 * rmt_kzalloc() - kzalloc(), counted and subject to fault injection
 * @size: bytes
 * @flags: GFP flags
 *
 * Return: zeroed memory, or NULL.
 */
void *rmt_kzalloc(size_t size, gfp_t flags)
{
	return RMT_ALLOC_COUNTED(kzalloc(size, flags));
}

/**
 * rmt_kcalloc() - kcalloc(), counted and subject to fault injection
 * @n: elements
 * @size: bytes per element
 * @flags: GFP flags
 *
 * Return: zeroed memory, or NULL (also when @n * @size overflows).
 */
void *rmt_kcalloc(size_t n, size_t size, gfp_t flags)
{
	return RMT_ALLOC_COUNTED(kcalloc(n, size, flags));
}

/**
 * rmt_kmalloc_array() - kmalloc_array(), counted and subject to fault injection
 * @n: elements
 * @size: bytes per element
 * @flags: GFP flags
 *
 * Return: the memory, or NULL (also when @n * @size overflows).
 */
void *rmt_kmalloc_array(size_t n, size_t size, gfp_t flags)
{
	return RMT_ALLOC_COUNTED(kmalloc_array(n, size, flags));
}

/**
 * rmt_kvmalloc() - kvmalloc(), counted and subject to fault injection
 * @size: bytes
 * @flags: GFP flags
 *
 * Return: the memory (free with rmt_kvfree()), or NULL.
 */
void *rmt_kvmalloc(size_t size, gfp_t flags)
{
	return RMT_ALLOC_COUNTED(kvmalloc(size, flags));
}

/**
 * rmt_kvzalloc() - kvzalloc(), counted and subject to fault injection
 * @size: bytes
 * @flags: GFP flags
 *
 * Return: zeroed memory (free with rmt_kvfree()), or NULL.
 */
void *rmt_kvzalloc(size_t size, gfp_t flags)
{
	return RMT_ALLOC_COUNTED(kvzalloc(size, flags));
}

/**
 * rmt_kvcalloc() - kvcalloc(), counted and subject to fault injection
 * @n: elements
 * @size: bytes per element
 * @flags: GFP flags
 *
 * Return: zeroed memory (free with rmt_kvfree()), or NULL.
 */
void *rmt_kvcalloc(size_t n, size_t size, gfp_t flags)
{
	return RMT_ALLOC_COUNTED(kvcalloc(n, size, flags));
}

/**
 * rmt_kvmalloc_array() - kvmalloc_array(), counted and subject to fault injection
 * @n: elements
 * @size: bytes per element
 * @flags: GFP flags
 *
 * Return: the memory (free with rmt_kvfree()), or NULL (also when @n * @size
 * overflows).
 */
void *rmt_kvmalloc_array(size_t n, size_t size, gfp_t flags)
{
	return RMT_ALLOC_COUNTED(kvmalloc_array(n, size, flags));
}

/**
 * rmt_kfree() - kfree() of memory from rmt_kmalloc() and friends
 * @p: the memory, or NULL
 */
void rmt_kfree(const void *p)
{
	rmt_alloc_untrack(p);
	kfree(p);
}

/**
 * rmt_kvfree() - kvfree() of memory from rmt_kvmalloc() and friends
 * @p: the memory, or NULL
 */
void rmt_kvfree(const void *p)
{
	rmt_alloc_untrack(p);
	kvfree(p);
}

/**
 * rmt_alloc_percpu_bytes() - __alloc_percpu(), counted and subject to fault injection
 * @size: bytes per CPU
 * @align: alignment
 *
 * Use through rmt_alloc_percpu(type).  One per-CPU allocation counts once.
 *
 * Return: the per-CPU pointer (free with rmt_free_percpu()), or NULL.
 */
void __percpu *rmt_alloc_percpu_bytes(size_t size, size_t align)
{
	void __percpu *p = NULL;

	if (!rmt_alloc_inject())
		p = __alloc_percpu(size, align);
	rmt_alloc_track((const void __force *)p);
	return p;
}

/**
 * rmt_free_percpu() - free_percpu() of memory from rmt_alloc_percpu()
 * @p: the per-CPU pointer, or NULL
 */
void rmt_free_percpu(void __percpu *p)
{
	rmt_alloc_untrack((const void __force *)p);
	free_percpu(p);
}

/**
 * rmt_alloc_live() - the number of counted allocations not yet freed
 *
 * Return: live allocations (objects); 0 when nothing the VM allocated is left.
 */
s64 rmt_alloc_live(void)
{
	return atomic64_read(&rmt_alloc_nlive);
}

/**
 * rmt_alloc_get_stats() - a snapshot of every counter
 * @out: filled in; the fields are read one after the other, not atomically
 */
void rmt_alloc_get_stats(struct rmt_alloc_stats *out)
{
	s64 v = atomic64_read(&rmt_alloc_countdown);

	out->live = atomic64_read(&rmt_alloc_nlive);
	out->total = atomic64_read(&rmt_alloc_ntotal);
	out->failed = atomic64_read(&rmt_alloc_nfailed);
	out->fail_pending = v > 0 ? v : 0;
}

/**
 * rmt_alloc_fail_nth() - arm (or disarm) fault injection
 * @n: fail the n-th counted allocation from now (1: the next one); 0 disarms
 * @every: also fail every allocation after the n-th, until disarmed
 */
void rmt_alloc_fail_nth(u64 n, bool every)
{
	/* Disarm first so no allocation sees the new mode with the old countdown. */
	atomic64_set(&rmt_alloc_countdown, 0);
	WRITE_ONCE(rmt_alloc_every, every);
	/* The mode is visible before the countdown that enables it. */
	smp_wmb();
	atomic64_set(&rmt_alloc_countdown, (s64)min_t(u64, n, S64_MAX));
}
