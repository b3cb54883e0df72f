/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_compat.h: the kernel APIs the VM uses, mapped to userspace when
 * !__KERNEL__.
 *
 * The VM sources are written against the kernel's API (kmalloc, RCU,
 * spinlocks, per-CPU data, atomic64_t, printk).  In the kernel this header
 * only includes the real headers; in userspace (the simulator library loaded
 * through cffi, the benchmarks, the sanitizer build) it provides small,
 * correct equivalents, so one set of sources builds in both worlds.
 *
 * Userspace RCU (the limits): a two-phase reader-counter scheme like SRCU.
 * rcu_read_lock() increments the counter of the current phase (once per
 * thread, nesting is counted in a thread-local), rcu_read_unlock() decrements
 * the counter it incremented.  synchronize_rcu() flips the phase and waits
 * for the old phase's counter to drain, twice, so every reader that could have
 * seen the old pointer has finished.  Writers are serialized by a mutex.  It
 * is correct for any number of threads, but synchronize_rcu() spins (with
 * sched_yield) and call_rcu() runs the callback synchronously after a grace
 * period, so call_rcu() must not be called inside a read-side section.
 */
#ifndef _RMT_COMPAT_H
#define _RMT_COMPAT_H

#ifdef __KERNEL__

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/mutex.h>
#include <linux/atomic.h>
#include <linux/percpu.h>
#include <linux/cpumask.h>
#include <linux/overflow.h>
#include <linux/printk.h>
#include <linux/errno.h>
#include <linux/ktime.h>
#include <linux/timekeeping.h>
#include <linux/random.h>
#include <linux/string.h>
#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <linux/compiler.h>
#include <linux/limits.h>
#include <linux/smp.h>
#include <linux/stdarg.h>

#else /* userspace */

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <errno.h>
#include <time.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>

/* As in the kernel: 64-bit types are long long, so one printk format fits both. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
#if defined(__has_include) && __has_include(<linux/types.h>)
#include <linux/types.h>	/* __u8 .. __s64, which Python.h may also pull in */
#else
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
#endif

#define U8_MAX ((u8)~0U)
#define U16_MAX ((u16)~0U)
#define U32_MAX ((u32)~0U)
#define U64_MAX ((u64)~0ULL)
#define S32_MAX ((s32)(U32_MAX >> 1))
#define S32_MIN ((s32)(-S32_MAX - 1))
#define S64_MAX ((s64)(U64_MAX >> 1))
#define S64_MIN ((s64)(-S64_MAX - 1))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#ifndef __always_inline
#define __always_inline inline __attribute__((__always_inline__))
#endif
#define noinline __attribute__((__noinline__))
#ifndef __aligned
#define __aligned(x) __attribute__((__aligned__(x)))
#endif
#define __maybe_unused __attribute__((__unused__))
#define fallthrough __attribute__((__fallthrough__))
#define __rcu
#define __annotate_jump_table
#define __percpu
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define min_t(t, a, b) ((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define max_t(t, a, b) ((t)(a) > (t)(b) ? (t)(a) : (t)(b))
#define clamp_t(t, v, lo, hi) min_t(t, max_t(t, v, lo), hi)
#define BUILD_BUG_ON(c) ((void)sizeof(char[1 - 2 * !!(c)]))
#define EXPORT_SYMBOL_GPL(sym)
#define EXPORT_SYMBOL(sym)

#define check_add_overflow(a, b, d) __builtin_add_overflow(a, b, d)
#define check_sub_overflow(a, b, d) __builtin_sub_overflow(a, b, d)
#define check_mul_overflow(a, b, d) __builtin_mul_overflow(a, b, d)

/* Memory: the GFP flags only matter in the kernel. */
typedef unsigned int gfp_t;
#define GFP_KERNEL 0u
#define GFP_ATOMIC 1u
#define __GFP_NOWARN 0u

static inline void *kmalloc(size_t n, gfp_t f) { (void)f; return malloc(n ? n : 1); }
static inline void *kzalloc(size_t n, gfp_t f) { (void)f; return calloc(1, n ? n : 1); }
static inline void *kvmalloc(size_t n, gfp_t f) { return kmalloc(n, f); }
static inline void *kvzalloc(size_t n, gfp_t f) { return kzalloc(n, f); }
static inline void *kcalloc(size_t n, size_t s, gfp_t f)
{
	(void)f;
	return calloc(n ? n : 1, s ? s : 1);
}

static inline void *kmalloc_array(size_t n, size_t s, gfp_t f)
{
	size_t bytes;

	if (check_mul_overflow(n, s, &bytes))
		return NULL;
	return kmalloc(bytes, f);
}

/* As the kernel's: NULL when @n * @s overflows, else kvmalloc(@n * @s). */
static inline void *kvmalloc_array(size_t n, size_t s, gfp_t f)
{
	size_t bytes;

	if (check_mul_overflow(n, s, &bytes))
		return NULL;
	return kvmalloc(bytes, f);
}

static inline void *kvcalloc(size_t n, size_t s, gfp_t f) { return kcalloc(n, s, f); }
static inline void kfree(const void *p) { free((void *)p); }
static inline void kvfree(const void *p) { free((void *)p); }

/* Plain once-accesses and the barriers the VM relies on. */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define smp_load_acquire(p) __atomic_load_n(p, __ATOMIC_ACQUIRE)
#define smp_store_release(p, v) __atomic_store_n(p, v, __ATOMIC_RELEASE)
#define smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define barrier() __asm__ __volatile__("" ::: "memory")

/* atomic64_t and atomic_t */
typedef struct {
	s64 counter;
} atomic64_t;
typedef struct {
	int counter;
} atomic_t;

#define ATOMIC64_INIT(i) { (i) }
#define ATOMIC_INIT(i) { (i) }
#define atomic64_read(v) __atomic_load_n(&(v)->counter, __ATOMIC_RELAXED)
#define atomic64_set(v, i) __atomic_store_n(&(v)->counter, (i), __ATOMIC_RELAXED)
#define atomic64_add(i, v) ((void)__atomic_add_fetch(&(v)->counter, (i), __ATOMIC_RELAXED))
#define atomic64_inc(v) atomic64_add(1, v)
#define atomic64_add_return(i, v) __atomic_add_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic64_inc_return(v) atomic64_add_return(1, v)
#define atomic_read(v) __atomic_load_n(&(v)->counter, __ATOMIC_RELAXED)
#define atomic_set(v, i) __atomic_store_n(&(v)->counter, (i), __ATOMIC_RELAXED)
#define atomic_inc(v) ((void)__atomic_add_fetch(&(v)->counter, 1, __ATOMIC_SEQ_CST))
#define atomic_dec(v) ((void)__atomic_sub_fetch(&(v)->counter, 1, __ATOMIC_SEQ_CST))

/* cmpxchg(): store @new at @p if it holds @old; return what it held. */
#define cmpxchg(p, old, new) ({ \
	__typeof__(*(p)) __old = (old); \
	__atomic_compare_exchange_n(p, &__old, (new), false, \
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
	__old; \
})

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __asm__ __volatile__("pause" ::: "memory")
#else
#define cpu_relax() barrier()
#endif

static inline s64 atomic64_cmpxchg(atomic64_t *v, s64 old, s64 new)
{
	__atomic_compare_exchange_n(&v->counter, &old, new, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return old;
}

/* Locks: mutexes for the control plane; spinlocks never taken on the hook path. */
typedef pthread_mutex_t spinlock_t;
struct mutex {
	pthread_mutex_t m;
};

#define DEFINE_SPINLOCK(x) spinlock_t x = PTHREAD_MUTEX_INITIALIZER
#define DEFINE_MUTEX(x) struct mutex x = { PTHREAD_MUTEX_INITIALIZER }
#define spin_lock_init(l) pthread_mutex_init(l, NULL)
#define spin_lock(l) pthread_mutex_lock(l)
#define spin_unlock(l) pthread_mutex_unlock(l)
#define spin_lock_irqsave(l, flags) ((void)(flags), pthread_mutex_lock(l))
#define spin_unlock_irqrestore(l, flags) ((void)(flags), pthread_mutex_unlock(l))
#define spin_lock_bh(l) pthread_mutex_lock(l)
#define spin_unlock_bh(l) pthread_mutex_unlock(l)
#define mutex_init(x) pthread_mutex_init(&(x)->m, NULL)
#define mutex_destroy(x) pthread_mutex_destroy(&(x)->m)
#define mutex_lock(x) pthread_mutex_lock(&(x)->m)
#define mutex_unlock(x) pthread_mutex_unlock(&(x)->m)

/* RCU: see the comment at the top of this file for the scheme and its limits. */
struct rcu_head {
	struct rcu_head *next;
	void (*func)(struct rcu_head *head);
};

void rmt_urcu_read_lock_slow(void);
void rmt_urcu_read_unlock_slow(void);
void rmt_urcu_synchronize(void);
/* Per-thread nesting depth: only the outermost lock/unlock touches shared counters. */
extern __thread int rmt_urcu_nest;

static inline void rcu_read_lock(void)
{
	if (rmt_urcu_nest++ == 0)
		rmt_urcu_read_lock_slow();
}

static inline void rcu_read_unlock(void)
{
	if (--rmt_urcu_nest == 0)
		rmt_urcu_read_unlock_slow();
}

#define synchronize_rcu() rmt_urcu_synchronize()
#define rcu_barrier() do { } while (0)
#define rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define rcu_dereference_protected(p, c) (p)
#define rcu_dereference_raw(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define rcu_access_pointer(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define RCU_INIT_POINTER(p, v) ((p) = (v))

static inline void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *))
{
	synchronize_rcu();
	func(head);
}

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/*
 * Per-CPU data: a fixed number of slots, indexed by the caller's cpu.  A
 * build may set another number (tools/fuzz/fuzz_ioctl uses the CPU count of
 * the guest it is compared with: per-CPU sizes limit what a program may ask).
 */
#ifndef RMT_NR_CPUS
#define RMT_NR_CPUS 64
#endif
#define num_possible_cpus() RMT_NR_CPUS
#define nr_cpu_ids RMT_NR_CPUS
#define for_each_possible_cpu(c) for ((c) = 0; (c) < RMT_NR_CPUS; (c)++)
#define alloc_percpu(type) ((type *)calloc(RMT_NR_CPUS, sizeof(type)))
#define alloc_percpu_gfp(type, gfp) alloc_percpu(type)
#define __alloc_percpu(size, align) calloc(RMT_NR_CPUS, (size))
#define free_percpu(p) free(p)
#define per_cpu_ptr(p, cpu) (&(p)[(cpu)])
#define raw_smp_processor_id() 0
#define smp_processor_id() 0

/* printk */
#define KERN_ERR ""
#define pr_err(fmt, ...) fprintf(stderr, "rmt: " fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) fprintf(stderr, "rmt: " fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) do { } while (0)
#define pr_debug(fmt, ...) do { } while (0)

static inline u64 ktime_get_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

static inline u32 get_random_u32(void)
{
	static __thread u64 s = 0x2545F4914F6CDD1Dull;

	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (u32)(s >> 16);
}

#define cond_resched() do { } while (0)
#define lockdep_is_held(l) 1
#define lockdep_assert_held(l) do { } while (0)
#ifndef __printf
#define __printf(a, b) __attribute__((format(printf, a, b)))
#endif
#define WARN_ON_ONCE(c) ({ bool __c = !!(c); if (__c) fprintf(stderr, "rmt: WARN at %s:%d\n", __FILE__, __LINE__); __c; })

#endif /* __KERNEL__ */

/**
 * rmt_errf() - format an error message into a caller's buffer
 * @err: the buffer (NULL: no message)
 * @errlen: its size (0: no message)
 * @code: what to return
 * @fmt: printf format of the message
 *
 * Every layer reports refusals this way (rmt_loader.c defines it).
 *
 * Return: @code, so that `return rmt_errf(err, len, -EINVAL, ...);` reads.
 */
__printf(4, 5)
int rmt_errf(char *err, size_t errlen, int code, const char *fmt, ...);

#endif /* _RMT_COMPAT_H */
