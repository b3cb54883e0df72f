// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel module's entry points.
 *
 * Load: one VM instance, then /dev/rmt (rmt_kmod_dev.c) to control it, then the
 * hooks (rmt_hooks_init(), the hooks code; a no-op when rmt.ko is built
 * without it).  Unload in the reverse order: no new control-plane call, no
 * hook handler left running, then every program unloaded.  Programs are
 * freed through call_rcu(), so the exit waits for those callbacks
 * (rcu_barrier()) before the module's code goes away; unloading the module
 * with programs loaded and attached is therefore safe.
 */
#include <linux/module.h>
#include "rmt_runtime.h"
#include "rmt_kmod_dev.h"

static struct rmt_vm *rmt_global_vm;

static int __init rmt_init(void)
{
	int rc;

	rmt_global_vm = rmt_vm_create();
	if (!rmt_global_vm)
		return -ENOMEM;
	rc = rmt_dev_init(rmt_global_vm);
	if (rc)
		goto out_vm;
	rc = rmt_hooks_init(rmt_global_vm);
	if (rc)
		goto out_dev;
	pr_info("rmt: VM loaded, /dev/rmt ready (%d hooks known)\n", RMT_NR_HOOKS);
	return 0;
out_dev:
	rmt_dev_exit();
out_vm:
	rmt_vm_destroy(rmt_global_vm);
	return rc;
}

static void __exit rmt_exit(void)
{
	rmt_dev_exit();
	rmt_hooks_exit();
	rmt_vm_destroy(rmt_global_vm);
	/* Frees queued by the unloads above run from RCU callbacks: wait for them. */
	rcu_barrier();
	pr_info("rmt: unloaded\n");
}

module_init(rmt_init);
module_exit(rmt_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("RMT: a reconfigurable match-action VM for learned kernel decisions");
MODULE_VERSION("0.1");
