/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_run.h: what the runtime, its callers and the engines share -- the
 * result of one run and the number of programs a VM holds.
 *
 * Also the history record of a model's weights (struct rmt_model_event),
 * which the runtime keeps per model (rmt_modelif.h) and rmt_vm_model_state()
 * reports.
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

/* How many control-plane events on a model rmt_vm_model_state() reports. */
#define RMT_MODEL_HISTORY 16

/**
 * struct rmt_model_event - one change of a model's weights
 * @version: the version the change loaded, staged or put in use
 * @op: enum rmt_model_op
 * @pad: zero
 * @agree: the candidate's agreements counted until then (promote)
 * @disagree: its disagreements counted until then (promote)
 */
struct rmt_model_event {
	__u64 version;
	__u32 op;
	__u32 pad;
	__u64 agree;
	__u64 disagree;
};

/* enum rmt_model_op - what changed a model's weights (struct rmt_model_event) */
enum rmt_model_op {
	RMT_MODEL_OP_LOAD = 1,
	RMT_MODEL_OP_STAGE = 2,
	RMT_MODEL_OP_PROMOTE = 3,
	RMT_MODEL_OP_ROLLBACK = 4,
	RMT_MODEL_OP_UNSTAGE = 5,
};

#endif /* _RMT_RUN_H */
