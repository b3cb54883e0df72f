/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /dev/rmt (rmt_kmod_dev.c) and what it needs from the hooks code.
 *
 * The hooks code (kprobes on kernel decision points, rmt_hooks_kern.c) is
 * written separately.  rmt_kmod_dev.c defines weak fallbacks of the functions
 * below, so rmt.ko builds and its control plane works without it; the hooks
 * code's strong definitions replace them at link time.
 */
#ifndef _RMT_KMOD_DEV_H
#define _RMT_KMOD_DEV_H

#include "rmt_vm.h"

#if __has_include("rmt_hooks_kern.h")
#include "rmt_hooks_kern.h"
#endif

/**
 * rmt_dev_init() - register /dev/rmt for a VM
 * @vm: the VM the device controls (outlives the device)
 *
 * Return: 0 or a negative errno.
 */
int rmt_dev_init(struct rmt_vm *vm);

/**
 * rmt_dev_exit() - unregister /dev/rmt
 *
 * No ioctl can be running afterwards (an open file pins the module).
 */
void rmt_dev_exit(void);

/*
 * The hooks code's entry points (weak fallbacks in rmt_kmod_dev.c):
 *
 * rmt_hooks_init()        at module load, after /dev/rmt exists; nonzero fails the load
 * rmt_hooks_exit()        at module unload, before the VM is destroyed; every
 *                         probe is unregistered and no handler runs afterwards
 * rmt_hooks_abi()         the hook ABI version (uapi/rmt_hooks.h), 0: no hooks
 * rmt_hooks_ioctl()       a command numbered RMT_IOC_HOOK_NR_FIRST..LAST,
 *                         called with the device mutex held (CAP_SYS_ADMIN
 *                         already checked); -ENOTTY for unknown commands
 * rmt_hooks_prog_unload() program @id is about to be unloaded: detach it
 *                         from every hook (device mutex held)
 */
int rmt_hooks_init(struct rmt_vm *vm);
void rmt_hooks_exit(void);
u32 rmt_hooks_abi(void);
long rmt_hooks_ioctl(struct rmt_vm *vm, unsigned int cmd, void __user *arg);
void rmt_hooks_prog_unload(struct rmt_vm *vm, int id);

#endif /* _RMT_KMOD_DEV_H */
