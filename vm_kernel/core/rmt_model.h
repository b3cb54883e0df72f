/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_model.h: the fixed-point model engine (docs/semantics.md, "Models (CALLM)").
 *
 * The loader fills a struct rmt_model_sig per MODEL record of the object and
 * initialises a struct rmt_model_slot for it.  `rmtctl model load` hands a
 * weights blob (layout: contract/objformat.py, WHEADER/WLAYER/WTREE/WNODE) to
 * rmt_model_load(), which checks every byte against the signature, builds the
 * in-memory model and swaps it in under RCU.  CALLM calls rmt_model_infer().
 * Integer arithmetic only: no FPU in the kernel.
 */
#ifndef _RMT_MODEL_H
#define _RMT_MODEL_H

#include "rmt_compat.h"
#include "rmt_format.h"
#include "rmt_model_isa.h"

/* Largest right shift a layer may apply (accumulators saturate to int32). */
#define RMT_MAX_LAYER_SHIFT 31
/* Largest right shift a forest may apply to its exact int64 sum. */
#define RMT_MAX_FOREST_SHIFT 63

/**
 * struct rmt_layer_sig - one declared MLP layer (a LAYER record)
 * @kind: enum rmt_layer_kind (RMT_LAYER_DENSE, RMT_LAYER_CONV1D)
 * @act: enum rmt_activation (RMT_ACT_NONE, RMT_ACT_RELU)
 * @in_ch: conv1d: input channels (dense: 1)
 * @out_ch: conv1d: output channels (dense: 1)
 * @kernel: conv1d: kernel width (dense: 1)
 * @n_in: inputs
 * @n_out: outputs
 */
struct rmt_layer_sig {
	u8 kind;
	u8 act;
	u16 in_ch;
	u16 out_ch;
	u16 kernel;
	u32 n_in;
	u32 n_out;
};

/**
 * struct rmt_model_sig - a declared model (a MODEL record and its layers)
 * @kind: enum rmt_model_kind (RMT_MODEL_MLP, _TREE, _FOREST, _LINEAR)
 * @weight_bits: 8, 16 or 32
 * @nlayers: MLP/linear: number of layers in @layers
 * @trees: forest: number of trees (tree: 0 or 1)
 * @depth: tree/forest: the deepest node's depth (root is 0), 1..RMT_MAX_TREE_DEPTH
 * @n_in: inputs, 1..RMT_MAX_MODEL_IO
 * @n_out: outputs, 1..RMT_MAX_MODEL_IO
 * @in_lo: declared input range; hidden MLP layers clamp their outputs to it
 * @in_hi: declared input range
 * @max_abs_weight: when nonzero, every weight must satisfy |w| <= it
 * @layers: the layers
 */
struct rmt_model_sig {
	u8 kind;
	u8 weight_bits;
	u8 nlayers;
	u16 trees;
	u16 depth;
	u32 n_in;
	u32 n_out;
	s32 in_lo;
	s32 in_hi;
	s32 max_abs_weight;
	struct rmt_layer_sig layers[RMT_MAX_LAYERS];
};

struct rmt_weights;

/**
 * struct rmt_model_slot - where a model's weights live
 * @w: the weights in use, NULL before the first load; read under RCU
 * @cand: a staged candidate, evaluated beside @w but never acted on; NULL
 *	when none is staged; read under RCU
 * @prev: the weights @w replaced (by a load or a promote), kept so that a
 *	rollback can restore them; NULL when there is nothing to roll back to.
 *	Only the control plane reads it (under @lock).
 * @version: version of @w (0: none loaded)
 * @cand_version: version of @cand (0: none staged)
 * @prev_version: version of @prev (0: none)
 * @top: the highest version this slot has held; weights without a version
 *	of their own get @top + 1, so every version names one set of weights
 * @lock: serialises loads, stages, promotes and rollbacks
 */
struct rmt_model_slot {
	struct rmt_weights __rcu *w;
	struct rmt_weights __rcu *cand;
	struct rmt_weights *prev;
	u64 version;
	u64 cand_version;
	u64 prev_version;
	u64 top;
	struct mutex lock;
};

/**
 * rmt_model_slot_init() - make an empty slot (no weights: inference is -ENOENT)
 * @slot: the slot
 */
void rmt_model_slot_init(struct rmt_model_slot *slot);

/**
 * rmt_model_slot_destroy() - free the slot's weights
 * @slot: the slot; no inference may still be running on it
 */
void rmt_model_slot_destroy(struct rmt_model_slot *slot);

/**
 * rmt_model_sig_check() - check a signature is self-consistent
 * @sig: the signature
 * @err: buffer for the reason (may be NULL)
 * @errlen: size of @err
 *
 * The same shape rules as contract/objfile.py check_model_shape(), plus the
 * weight width.  rmt_model_load() calls it too; the loader may call it early.
 *
 * Return: 0 or -EINVAL.
 */
int rmt_model_sig_check(const struct rmt_model_sig *sig, char *err, size_t errlen);

/**
 * rmt_model_load() - check a weights blob and swap it in
 * @slot: the model's slot
 * @sig: the model's declared signature
 * @blob: the weights blob (untrusted)
 * @len: its length in bytes
 * @version_out: set to the new version (may be NULL)
 * @err: buffer for the reason on failure, naming the layer, tree or node (may be NULL)
 * @errlen: size of @err
 *
 * Every byte is checked: magic, format version, total size, kind and shapes
 * equal to @sig, zero padding, shifts, weight bounds, tree structure
 * (children after their parent and in range, features < n_in, leaf indexes
 * in range, no reachable node deeper than the declared depth), no bytes left
 * over.  The new weights are published with rcu_assign_pointer(); the old
 * ones become the slot's previous weights (for rmt_model_rollback()), and
 * the previous ones before them are freed after a grace period.  The
 * version is the blob's model_version, or the slot's highest version + 1
 * when that is 0.
 *
 * Return: 0; -EINVAL (bad blob or signature), -ENOMEM.  On failure the
 * slot keeps its old weights.
 */
int rmt_model_load(struct rmt_model_slot *slot, const struct rmt_model_sig *sig,
		   const void *blob, size_t len, u64 *version_out, char *err, size_t errlen);

/**
 * rmt_model_infer() - run the model on int32 inputs
 * @slot: the model's slot
 * @in: n_in inputs
 * @out: n_out outputs
 * @overflows: incremented by the number of accumulator saturations
 *
 * Hook path: takes no lock, never allocates, uses one set of weights from
 * start to end even if a load swaps them meanwhile.
 *
 * Return: 0, or -ENOENT when no weights are loaded (@out untouched).
 */
int rmt_model_infer(struct rmt_model_slot *slot, const s32 *in, s32 *out, u64 *overflows);

/**
 * rmt_model_infer_rcu() - rmt_model_infer() for a caller inside an RCU read-side section
 * @slot: the model
 * @in: n_in inputs
 * @out: receives n_out outputs
 * @overflows: incremented by the number of saturations
 *
 * The hook path (CALLM) runs under rcu_read_lock() already; in the userspace
 * build another, nested, lock costs two calls to reach its per-thread
 * counter, per inference.
 *
 * Return: as rmt_model_infer().
 */
int rmt_model_infer_rcu(struct rmt_model_slot *slot, const s32 *in, s32 *out, u64 *overflows);

/**
 * rmt_model_stage() - check a weights blob and stage it as the candidate
 * @slot: the model's slot
 * @sig: the model's declared signature
 * @blob: the weights blob (untrusted)
 * @len: its length in bytes
 * @version_out: set to the candidate's version (may be NULL)
 * @err: buffer for the reason on failure (may be NULL)
 * @errlen: size of @err
 *
 * The same checks as rmt_model_load().  The candidate is published beside
 * the weights in use (replacing any candidate staged before, which is freed
 * after a grace period); rmt_model_infer_cand() runs it, nothing acts on it.
 *
 * Return: 0; -EINVAL, -ENOMEM.  On failure the slot is unchanged.
 */
int rmt_model_stage(struct rmt_model_slot *slot, const struct rmt_model_sig *sig,
		    const void *blob, size_t len, u64 *version_out, char *err, size_t errlen);

/**
 * rmt_model_promote() - make the staged candidate the weights in use
 * @slot: the model's slot
 * @version_out: set to the version now in use (may be NULL)
 *
 * One rcu_assign_pointer(): an inference uses the old weights or the
 * candidate, entirely.  The replaced weights become the previous ones.
 *
 * Return: 0, or -ENOENT when no candidate is staged (nothing changes).
 */
int rmt_model_promote(struct rmt_model_slot *slot, u64 *version_out);

/**
 * rmt_model_rollback() - restore the weights the last load or promote replaced
 * @slot: the model's slot
 * @version_out: set to the version now in use (may be NULL)
 *
 * The weights in use are dropped (freed after a grace period); a staged
 * candidate stays staged.  One level: a second rollback has nothing to
 * restore until another load or promote.
 *
 * Return: 0, or -ENOENT when there are no previous weights (nothing changes).
 */
int rmt_model_rollback(struct rmt_model_slot *slot, u64 *version_out);

/**
 * rmt_model_unstage() - drop the staged candidate
 * @slot: the model's slot
 *
 * Return: 0, or -ENOENT when none is staged.
 */
int rmt_model_unstage(struct rmt_model_slot *slot);

/**
 * rmt_model_infer_cand() - run the staged candidate on int32 inputs
 * @slot: the model's slot
 * @in: n_in inputs
 * @out: n_out outputs
 * @overflows: incremented by the number of accumulator saturations
 *
 * Hook path, as rmt_model_infer().
 *
 * Return: 0, or -ENOENT when no candidate is staged (@out untouched).
 */
int rmt_model_infer_cand(struct rmt_model_slot *slot, const s32 *in, s32 *out, u64 *overflows);

/**
 * rmt_model_has_cand() - whether a candidate is staged (hook path, no lock)
 * @slot: the model's slot
 *
 * Return: true if so.
 */
static inline bool rmt_model_has_cand(struct rmt_model_slot *slot)
{
	return rcu_access_pointer(slot->cand) != NULL;
}

/**
 * rmt_model_versions() - versions of the live, candidate and previous weights
 * @slot: the model's slot
 * @live: receives the version in use (0: none)
 * @cand: receives the candidate's (0: none staged)
 * @prev: receives the previous weights' (0: nothing to roll back to)
 */
void rmt_model_versions(struct rmt_model_slot *slot, u64 *live, u64 *cand, u64 *prev);

#ifndef __KERNEL__
/**
 * rmt_model_set_isa() - choose the inference engine (userspace tests, benchmarks)
 * @isa: an enum rmt_model_isa, used for every model from then on; or -1 for
 *	the default: the best the CPU supports, on models of at least 64
 *	multiply-adds (smaller ones run the exact path, which is faster there)
 *
 * Return: 0, or -EOPNOTSUPP when the CPU lacks @isa.
 */
int rmt_model_set_isa(int isa);
#endif

/**
 * rmt_model_version() - version of the weights in use
 * @slot: the slot
 *
 * Return: the version, 0 when none are loaded.
 */
u64 rmt_model_version(struct rmt_model_slot *slot);

#endif /* _RMT_MODEL_H */
