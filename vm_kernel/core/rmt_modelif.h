/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_modelif.h: how the runtime reaches the model engine (rmt_model.[ch]).
 *
 * The model engine is written separately; this thin adapter is the only
 * place the runtime depends on its API, so a change there touches one file
 * (rmt_modelif.c).  A struct rmt_mif keeps a model's declared signature
 * (filled from the MODEL/LAYER records) next to its weight slot.
 */
#ifndef _RMT_MODELIF_H
#define _RMT_MODELIF_H

#include "rmt_compat.h"
#include "rmt_model.h"
#include "rmt_run.h"

/**
 * struct rmt_mif - one model of a loaded program
 * @slot: its weights (live, candidate, previous)
 * @sig: its declared signature
 * @base_agree: the summed per-CPU agreement counter when the candidate was
 *	staged (the counters themselves are never reset: the hook path owns them)
 * @base_disagree: likewise for disagreements
 * @nhist: events recorded so far; the last RMT_MODEL_HISTORY are in @hist
 * @hist: a ring of the latest events (control plane, under the VM mutex)
 */
struct rmt_mif {
	struct rmt_model_slot slot;
	struct rmt_model_sig sig;
	u64 base_agree;
	u64 base_disagree;
	u32 nhist;
	struct rmt_model_event hist[RMT_MODEL_HISTORY];
};

struct rmt_prog;

/* Prepare @m for model @idx of @p: its signature, an empty slot. */
int rmt_mif_init(struct rmt_mif *m, const struct rmt_prog *p, u32 idx, char *err, size_t errlen);
/* Free the weights; no run may still use them. */
void rmt_mif_destroy(struct rmt_mif *m);
/* Check @blob against the signature and publish it; returns the version (> 0) or -errno. */
int rmt_mif_load(struct rmt_mif *m, const void *blob, size_t len, char *err, size_t errlen);

/* A model version as the control calls return it: positive, saturated to an int. */
static inline int rmt_version_rc(u64 version)
{
	return version > S32_MAX ? S32_MAX : (int)version;
}

/* CALLM (under the run's RCU read lock): 0, or -ENOENT when no weights are loaded. */
static inline int rmt_mif_infer(struct rmt_mif *m, const s32 *in, s32 *out, u64 *overflows)
{
	return rmt_model_infer_rcu(&m->slot, in, out, overflows);
}

#endif /* _RMT_MODELIF_H */
