/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz_kernel.h: the kernel API of vm_kernel/kmod/rmt_kmod_dev.c, in userspace.
 *
 * tools/fuzz/fuzz_ioctl.c compiles the real /dev/rmt code (it #includes
 * rmt_kmod_dev.c) against these definitions, which sit on top of
 * rmt_compat.h's userspace shims and add what the device layer needs beyond
 * the VM: a file, file_operations, a misc device (registration records the
 * fops), capable(), cpu_online(), smp_call_function_single() run inline on
 * the requested CPU, and the user-copy functions over a modelled user
 * address space.
 *
 * The user address space (fuzz_user_*): one arena of FUZZ_ARENA_SIZE bytes at
 * user address FUZZ_ARENA_BASE, mapped read-write but for its last page,
 * which is read-only (from FUZZ_RO_OFF on); everything else is unmapped.  Copies behave as on x86-64 Linux 6.1: access_ok() fails for
 * ranges past TASK_SIZE_MAX (nothing is copied), otherwise bytes are copied
 * up to the first unmapped byte and the number not copied is returned;
 * copy_from_user() zeroes the part of the destination it could not fill.
 * So a pointer that is out of range or unmapped faults with -EFAULT where
 * the module would.  The guest replayer (tests/kernel/replay_helpers/)
 * places a real arena at the same address with unmapped guard pages around
 * it, so both see the same faults.
 *
 * The linux/<name>.h files next to this one only include it: each kernel
 * header rmt_kmod_dev.c names resolves here (-I tools/fuzz/kinclude comes
 * first) instead of to the system's uapi headers of the same name.
 */
#ifndef _FUZZ_KERNEL_H
#define _FUZZ_KERNEL_H

#include <sys/types.h>
#include <stdint.h>
#include <stdbool.h>
#include "rmt_compat.h"

#define __user
#define __init
#define __exit
#define __force
#define __weak __attribute__((__weak__))
#ifndef __printf
#define __printf(a, b) __attribute__((__format__(printf, a, b)))
#endif

/* ---------------------------------------------------------------- modules, files */

struct module;
#define THIS_MODULE ((struct module *)0)
#define MODULE_LICENSE(x)
#define MODULE_DESCRIPTION(x)
#define MODULE_AUTHOR(x)

typedef unsigned short umode_t;

struct inode {
	int i_dummy;
};

struct file {
	void *private_data;
	unsigned int f_mode;
};

struct file_operations {
	struct module *owner;
	int (*open)(struct inode *inode, struct file *f);
	ssize_t (*read)(struct file *f, char __user *buf, size_t count, loff_t *ppos);
	long (*unlocked_ioctl)(struct file *f, unsigned int cmd, unsigned long arg);
	long (*compat_ioctl)(struct file *f, unsigned int cmd, unsigned long arg);
	loff_t (*llseek)(struct file *f, loff_t off, int whence);
};

#define compat_ptr_ioctl NULL
#define no_llseek NULL

static inline int stream_open(struct inode *inode, struct file *f)
{
	(void)inode;
	(void)f;
	return 0;
}

/* ---------------------------------------------------------------- misc device */

#define MISC_DYNAMIC_MINOR 255

struct miscdevice {
	int minor;
	const char *name;
	const struct file_operations *fops;
	umode_t mode;
};

/* The fops of the registered device (NULL when none is registered). */
extern const struct file_operations *fuzz_misc_fops;

static inline int misc_register(struct miscdevice *m)
{
	if (fuzz_misc_fops)
		return -EBUSY;
	fuzz_misc_fops = m->fops;
	return 0;
}

static inline void misc_deregister(struct miscdevice *m)
{
	(void)m;
	fuzz_misc_fops = NULL;
}

/* ---------------------------------------------------------------- errors, misc */

#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) ((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }

#ifndef min
#define min(a, b) ({ __typeof__(a) __a = (a); __typeof__(b) __b = (b); __a < __b ? __a : __b; })
#endif
#ifndef max
#define max(a, b) ({ __typeof__(a) __a = (a); __typeof__(b) __b = (b); __a > __b ? __a : __b; })
#endif

static inline bool is_power_of_2(unsigned long n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

/* Wall-clock times only reach the caller as output: a constant keeps runs repeatable. */
static inline u64 ktime_get_real_ns(void)
{
	return 1700000000000000000ull;
}

/* ---------------------------------------------------------------- CPUs, capabilities */

#define CAP_SYS_ADMIN 21

/* Whether the caller has CAP_SYS_ADMIN (the harness may drop it). */
extern bool fuzz_capable;

static inline bool capable(int cap)
{
	(void)cap;
	return fuzz_capable;
}

/*
 * Online CPUs: 0..fuzz_nr_online-1 (the guest of the replay test boots with
 * the same number).  The CPU a cross-CPU call runs on is fuzz_cur_cpu, which
 * smp_processor_id() returns (rmt_compat.h's says 0).
 */
extern unsigned int fuzz_nr_online;
extern unsigned int fuzz_cur_cpu;

#undef smp_processor_id
#define smp_processor_id() fuzz_cur_cpu
#define cpu_online(c) ((unsigned int)(c) < fuzz_nr_online)

typedef void (*smp_call_func_t)(void *info);

static inline int smp_call_function_single(int cpu, smp_call_func_t func, void *info, int wait)
{
	unsigned int prev = fuzz_cur_cpu;

	(void)wait;
	if (!cpu_online(cpu))
		return -ENXIO;
	fuzz_cur_cpu = cpu;
	func(info);
	fuzz_cur_cpu = prev;
	return 0;
}

static inline void on_each_cpu(smp_call_func_t func, void *info, int wait)
{
	unsigned int c;

	for (c = 0; c < fuzz_nr_online; c++)
		smp_call_function_single(c, func, info, wait);
}

/* ---------------------------------------------------------------- user memory */

/* FUZZ_ARENA_BASE, FUZZ_ARENA_SIZE, FUZZ_TASK_SIZE_MAX: the input format's. */
#include "../fuzz_ioctl.h"

/* The arena's bytes (FUZZ_ARENA_SIZE of them), owned by the harness. */
extern u8 *fuzz_user_arena;
/*
 * A second mapped range the harness's own oracle calls use (never visible to
 * the input: mapped only while fuzz_user_private is non-NULL).
 */
#define FUZZ_PRIVATE_BASE 0x20000000ull
#define FUZZ_PRIVATE_SIZE 4096u
extern u8 *fuzz_user_private;

static inline bool access_ok(const void __user *p, unsigned long n)
{
	unsigned long a = (unsigned long)p;

	return n <= FUZZ_TASK_SIZE_MAX && a <= FUZZ_TASK_SIZE_MAX - n;
}

/* The host bytes behind user address @a and how many are mapped from there on. */
static inline u8 *fuzz_user_map(unsigned long a, unsigned long *avail)
{
	if (a >= FUZZ_ARENA_BASE && a < FUZZ_ARENA_BASE + FUZZ_ARENA_SIZE) {
		*avail = FUZZ_ARENA_BASE + FUZZ_ARENA_SIZE - a;
		return fuzz_user_arena + (a - FUZZ_ARENA_BASE);
	}
	if (fuzz_user_private && a >= FUZZ_PRIVATE_BASE &&
	    a < FUZZ_PRIVATE_BASE + FUZZ_PRIVATE_SIZE) {
		*avail = FUZZ_PRIVATE_BASE + FUZZ_PRIVATE_SIZE - a;
		return fuzz_user_private + (a - FUZZ_PRIVATE_BASE);
	}
	*avail = 0;
	return NULL;
}

/* Bytes not copied, as the kernel's raw copy returns them. */
static inline unsigned long fuzz_user_copy(void *k, unsigned long a, unsigned long n, bool out)
{
	unsigned long avail, done;
	u8 *u;

	if (!n)
		return 0;
	if (!access_ok((const void __user *)a, n))
		return n;
	u = fuzz_user_map(a, &avail);
	if (!u)
		return n;
	/* The arena's last page is mapped read-only: writes stop before it. */
	if (out && u >= fuzz_user_arena && u < fuzz_user_arena + FUZZ_ARENA_SIZE) {
		if (u >= fuzz_user_arena + FUZZ_RO_OFF)
			return n;
		if (avail > (unsigned long)(fuzz_user_arena + FUZZ_RO_OFF - u))
			avail = fuzz_user_arena + FUZZ_RO_OFF - u;
	}
	done = n < avail ? n : avail;
	if (out)
		memcpy(u, k, done);
	else
		memcpy(k, u, done);
	return n - done;
}

static inline unsigned long copy_from_user(void *to, const void __user *from, unsigned long n)
{
	unsigned long res = fuzz_user_copy(to, (unsigned long)from, n, false);

	if (res)
		memset((u8 *)to + (n - res), 0, res);
	return res;
}

static inline unsigned long copy_to_user(void __user *to, const void *from, unsigned long n)
{
	return fuzz_user_copy((void *)from, (unsigned long)to, n, true);
}

#define get_user(x, ptr) ({ \
	__typeof__(*(ptr)) __v; \
	int __rc = copy_from_user(&__v, (ptr), sizeof(__v)) ? -EFAULT : 0; \
	(x) = __rc ? (__typeof__(*(ptr)))0 : __v; \
	__rc; \
})

#define put_user(x, ptr) ({ \
	__typeof__(*(ptr)) __v = (x); \
	copy_to_user((ptr), &__v, sizeof(__v)) ? -EFAULT : 0; \
})

static inline void __user *u64_to_user_ptr(u64 v)
{
	return (void __user *)(uintptr_t)v;
}

#endif /* _FUZZ_KERNEL_H */
