// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_kmod.c: the kernel module's entry points.
 *
 * For now a stub that links the VM objects into rmt.ko and checks at load
 * that a VM instance can be created; /dev/rmt and the hooks come later.
 */
#include <linux/module.h>
#include "rmt_runtime.h"

static struct rmt_vm *rmt_global_vm;

static int __init rmt_init(void)
{
	rmt_global_vm = rmt_vm_create();
	if (!rmt_global_vm)
		return -ENOMEM;
	pr_info("rmt: VM loaded (%d hooks known)\n", RMT_NR_HOOKS);
	return 0;
}

static void __exit rmt_exit(void)
{
	rmt_vm_destroy(rmt_global_vm);
	synchronize_rcu();
	rcu_barrier();
}

module_init(rmt_init);
module_exit(rmt_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("RMT: a reconfigurable match-action VM for learned kernel decisions");
