// SPDX-License-Identifier: GPL-2.0
/*
 * The engine of the MLPs proved exact in int32, as module parameters under
 * /sys/module/rmt/parameters/ (docs/kernel-hooks.md, "Module parameters"):
 *
 *   model_isa        auto | scalar | avx2; at insmod or written at any time,
 *                    taking effect at the next inference (one boot can
 *                    interleave them: bench/bench_kmod_simd.py)
 *   model_isa_stats  read-only: what is in use, what auto means here, the
 *                    best this CPU can run, the AVX2 inferences made in a
 *                    kernel FPU section and those that found the FPU
 *                    unusable (and ran the scalar path)
 *
 * Models under 64 multiply-adds keep the exact s64 path whatever is chosen
 * (faster there), as in userspace.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include "rmt_model_isa.h"

static const char * const rmt_isa_names[] = {
	[RMT_MODEL_ISA_EXACT64] = "exact",
	[RMT_MODEL_ISA_INT32] = "scalar",
	[RMT_MODEL_ISA_AVX2] = "avx2",
};

static int rmt_isa_setting = -1;	/* -1: auto */

static int rmt_model_isa_set(const char *val, const struct kernel_param *kp)
{
	int isa, rc;

	if (sysfs_streq(val, "auto")) {
		isa = -1;
	} else if (sysfs_streq(val, "scalar")) {
		isa = RMT_MODEL_ISA_INT32;
	} else if (sysfs_streq(val, "avx2")) {
		isa = RMT_MODEL_ISA_AVX2;
	} else {
		/* as written to sysfs: without its newline, and not too long a line */
		pr_err("rmt: model_isa=%.*s: not one of auto, scalar, avx2\n",
		       (int)min_t(size_t, strcspn(val, "\n"), 32), val);
		return -EINVAL;
	}
	rc = rmt_model_pick_isa(isa, false);
	if (rc) {
		pr_err("rmt: model_isa=%s: this CPU or kernel has no usable AVX2 (needs AVX2 and the YMM state enabled in XCR0); keeping %s\n",
		       rmt_isa_names[isa],
		       rmt_isa_setting < 0 ? "auto" : rmt_isa_names[rmt_isa_setting]);
		return rc;
	}
	rmt_isa_setting = isa;
	return 0;
}

static int rmt_model_isa_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", rmt_isa_setting < 0 ? "auto" :
			  rmt_isa_names[rmt_isa_setting]);
}

static const struct kernel_param_ops rmt_model_isa_ops = {
	.set = rmt_model_isa_set,
	.get = rmt_model_isa_get,
};

module_param_cb(model_isa, &rmt_model_isa_ops, NULL, 0644);
MODULE_PARM_DESC(model_isa,
		 "engine of int32-exact MLPs: auto (default), scalar or avx2 (in a kernel FPU section)");

static int rmt_model_isa_stats_get(char *buf, const struct kernel_param *kp)
{
	int sel, autoisa, best;
	u64 runs, nofpu;

	rmt_model_isa_info(&sel, &autoisa, &best);
	rmt_model_simd_stats(&runs, &nofpu);
	return sysfs_emit(buf, "in_use=%s auto=%s best=%s avx2_runs=%llu nofpu=%llu\n",
			  rmt_isa_names[sel], rmt_isa_names[autoisa], rmt_isa_names[best],
			  runs, nofpu);
}

static const struct kernel_param_ops rmt_model_isa_stats_ops = {
	.get = rmt_model_isa_stats_get,
};

module_param_cb(model_isa_stats, &rmt_model_isa_stats_ops, NULL, 0444);
MODULE_PARM_DESC(model_isa_stats,
		 "MLP engine in use, what auto means, the best usable; AVX2 runs and FPU refusals");
