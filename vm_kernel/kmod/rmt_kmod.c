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
#include <linux/moduleparam.h>
#include "rmt_vm.h"
#include "rmt_kmod_dev.h"
#include "rmt_alloc.h"

static struct rmt_vm *rmt_global_vm;

/*
 * The allocation counters and the fault injector of rmt_alloc.c, under
 * /sys/module/rmt/parameters/ (docs/robustness.md, "Allocations").  The
 * counters are root-only (0400): allocation counts say when programs and
 * entries come and go.  The injector exists only in test builds
 * (RMT_TEST_BUILD=y defines RMT_FAULT_INJECT); a production rmt.ko has no way
 * to make its allocations fail.
 *
 *   alloc_live        allocations not yet freed (read-only)
 *   alloc_total       successful allocations since load (read-only)
 *   alloc_failed      allocations failed by injection (read-only)
 *   fail_alloc_nth    test builds: write n: the n-th allocation from now fails
 *                     (0 disarms); reads the allocations left before it
 *   fail_alloc_every  test builds: when set as fail_alloc_nth is written, the
 *                     n-th and every later allocation fail until 0 is written
 */
enum rmt_alloc_param { RMT_P_LIVE, RMT_P_TOTAL, RMT_P_FAILED, RMT_P_PENDING };

static enum rmt_alloc_param rmt_p_ids[] = {
	RMT_P_LIVE, RMT_P_TOTAL, RMT_P_FAILED, RMT_P_PENDING
};

static int rmt_alloc_param_get(char *buf, const struct kernel_param *kp)
{
	const enum rmt_alloc_param *id = kp->arg;
	struct rmt_alloc_stats s;

	rmt_alloc_get_stats(&s);
	switch (*id) {
	case RMT_P_LIVE:
		return scnprintf(buf, PAGE_SIZE, "%lld\n", s.live);
	case RMT_P_TOTAL:
		return scnprintf(buf, PAGE_SIZE, "%llu\n", s.total);
	case RMT_P_FAILED:
		return scnprintf(buf, PAGE_SIZE, "%llu\n", s.failed);
	default:
		return scnprintf(buf, PAGE_SIZE, "%llu\n", s.fail_pending);
	}
}

#ifdef RMT_FAULT_INJECT
static bool fail_alloc_every;
module_param(fail_alloc_every, bool, 0600);
MODULE_PARM_DESC(fail_alloc_every,
		 "Writing fail_alloc_nth also fails every allocation after the n-th");

static int rmt_fail_nth_set(const char *val, const struct kernel_param *kp)
{
	u64 n;
	int rc = kstrtoull(val, 0, &n);

	if (rc)
		return rc;
	rmt_alloc_fail_nth(n, n && READ_ONCE(fail_alloc_every));
	return 0;
}

static const struct kernel_param_ops rmt_fail_nth_ops = {
	.set = rmt_fail_nth_set,
	.get = rmt_alloc_param_get,
};

module_param_cb(fail_alloc_nth, &rmt_fail_nth_ops, &rmt_p_ids[RMT_P_PENDING], 0600);
MODULE_PARM_DESC(fail_alloc_nth,
		 "Fault injection: fail the n-th VM allocation from now (0: off); reads what is left");
#endif /* RMT_FAULT_INJECT */

static const struct kernel_param_ops rmt_alloc_ro_ops = {
	.get = rmt_alloc_param_get,
};

module_param_cb(alloc_live, &rmt_alloc_ro_ops, &rmt_p_ids[RMT_P_LIVE], 0400);
MODULE_PARM_DESC(alloc_live, "VM allocations not yet freed");
module_param_cb(alloc_total, &rmt_alloc_ro_ops, &rmt_p_ids[RMT_P_TOTAL], 0400);
MODULE_PARM_DESC(alloc_total, "VM allocations made since load");
module_param_cb(alloc_failed, &rmt_alloc_ro_ops, &rmt_p_ids[RMT_P_FAILED], 0400);
MODULE_PARM_DESC(alloc_failed, "VM allocations failed by fault injection");

/* Everything the module allocated must be freed by now: say how much is left. */
static void rmt_alloc_report(const char *when)
{
	s64 live = rmt_alloc_live();

	pr_info("rmt: allocations live %s: %lld\n", when, live);
	WARN(live != 0, "rmt: %lld allocations leaked\n", live);
}

static int __init rmt_init(void)
{
	int rc;

	rmt_global_vm = rmt_vm_create();
	if (!rmt_global_vm) {
		rc = -ENOMEM;
		goto out;
	}
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
out:
	/* fail_alloc_nth=N on the insmod line reaches these failure paths. */
	rmt_alloc_report("after a failed load");
	return rc;
}

static void __exit rmt_exit(void)
{
	rmt_dev_exit();
	rmt_hooks_exit();
	rmt_vm_destroy(rmt_global_vm);
	/* Frees queued by the unloads above run from RCU callbacks: wait for them. */
	rcu_barrier();
	rmt_alloc_report("at unload");
	pr_info("rmt: unloaded\n");
}

module_init(rmt_init);
module_exit(rmt_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("RMT: a reconfigurable match-action VM for learned kernel decisions");
MODULE_VERSION("0.1");
