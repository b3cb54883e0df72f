/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_run.h: what the runtime, its callers and the engines share -- the
 * result of one run and the number of programs a VM holds.
 *
 * It sits below both the public API (rmt_vm.h) and the instance layout
 * (rmt_inst.h), so the engines, which fill struct rmt_run_result, need not
 * include the API of the runtime that calls them.
 */
#ifndef _RMT_RUN_H
#define _RMT_RUN_H

#include "rmt_compat.h"

/* Programs one VM holds, by id 1..RMT_VM_MAX_PROGS. */
#define RMT_VM_MAX_PROGS 64

/**
 * struct rmt_run_result - what one invocation returned
 * @decision: the decision the hook uses (-1 DEFAULT)
 * @abort: enum rmt_abort (0: none)
 * @abort_pc: pc of the failed check, or -1
 */
struct rmt_run_result {
	__s64 decision;
	__u32 abort;
	__s32 abort_pc;
};

#endif /* _RMT_RUN_H */
