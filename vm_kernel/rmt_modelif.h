/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_modelif.h: how the runtime reaches the model engine (rmt_model.[ch]).
 *
 * The model engine is written separately; this thin adapter is the only
 * place the runtime depends on its API, so a change there touches one file
 * (rmt_modelif.c).  Until vm_kernel/rmt_model.h exists, a clearly-marked
 * stub in rmt_modelif.c stands in: every model reports "no weights loaded"
 * (CALLM aborts with MODEL_MISSING) and loading weights fails with
 * -EOPNOTSUPP.
 */
#ifndef _RMT_MODELIF_H
#define _RMT_MODELIF_H

#include "rmt_compat.h"

#if defined(__has_include)
#if __has_include("rmt_model.h")
#define RMT_HAVE_MODEL_ENGINE 1
#endif
#endif

#ifdef RMT_HAVE_MODEL_ENGINE
#include "rmt_model.h"
#else
/* STUB until rmt_model.h lands: a slot that never has weights. */
struct rmt_model_slot {
	u32 version;
};
#endif

struct rmt_prog;

/* Prepare slot @slot for model @idx of @p (its signature). */
int rmt_mif_init(struct rmt_model_slot *slot, const struct rmt_prog *p, u32 idx,
		 char *err, size_t errlen);
/* Free what the slot holds; no run may still use it. */
void rmt_mif_destroy(struct rmt_model_slot *slot);
/* Check @blob against the signature and publish it; returns the version or -errno. */
int rmt_mif_load(struct rmt_model_slot *slot, const void *blob, size_t len,
		 char *err, size_t errlen);
/* CALLM: 0, or -ENOENT when no weights are loaded. */
int rmt_mif_infer(struct rmt_model_slot *slot, const s32 *in, s32 *out, u64 *overflows);

#endif /* _RMT_MODELIF_H */
