// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_model.c: fixed-point models (docs/semantics.md, "Models (CALLM)"):
 * the signature check, the blob's header, the load and the inference
 * dispatch; rmt_model_mlp.c (MLP, linear) and rmt_model_tree.c (tree,
 * forest) do each kind.
 *
 * Loading parses the untrusted blob once, checking each field as it is read
 * (the checks and their order follow contract/weights.py, so both engines
 * reject the same blobs for the same reason), and converts it into a form
 * that is quick to run:
 *
 *  - dense layers with 8/16-bit weights keep them as s16 (conv1d and 32-bit
 *    weights are widened to s32); where the load proves every sum of a layer
 *    fits in int32 for inputs in the declared range (rmt_layer_exact32()),
 *    inference sums in int32, with AVX2 in userspace when the CPU has it,
 *    else it sums exactly and saturates: with 8/16-bit weights an exact sum
 *    of at most RMT_MAX_MODEL_IO products of an int32 input fits in s64
 *    (2^15 * 2^31 * 2^10 < 2^63), 32-bit weights accumulate in s128;
 *  - a tree is laid out as an implicit complete binary tree of its depth D
 *    (the deepest reachable node's depth): the children of position i are
 *    2i+1 (x <= threshold) and 2i+2, a leaf above depth D is padded with
 *    pass-through nodes (threshold S32_MAX: always left) and its values are
 *    repeated in every leaf slot below it, so inference is exactly D
 *    branch-free steps i = 2i + 1 + (x[feature[i]] > threshold[i]) with no
 *    dependent pointer load, then one load from a flat leaf array.  A DAG
 *    (children shared between parents) unfolds into that tree too.  The
 *    layout has 2^D slots, so a sparse deep tree whose expansion would be
 *    much larger than its blob keeps the flat node array of the blob instead
 *    {feature, threshold, next[2]}, where a leaf loops to itself and the walk
 *    is D steps idx = next[x[feature] > threshold].
 *
 * The result is one allocation sized for the model: the header, one
 * struct rmt_wtree per tree or one struct rmt_wlayer per layer, then the
 * arrays (an arena).  An MLP's arena size follows from its signature, so an
 * MLP or linear model is parsed straight into it: one allocation per load.
 * A forest's size depends on its blob (node counts, then each tree's depth
 * and whether it gets an implicit layout), so it is parsed into a temporary
 * object whose arena is bounded by the blob's size, then copied into an
 * exactly sized one that keeps only what inference reads.  The weights are
 * swapped in with rcu_assign_pointer(); the previous weights are freed after
 * a grace period, so an inference runs entirely on the old or entirely on
 * the new model.
 *
 * Activations between layers need scratch space: a thread-local buffer in
 * userspace, a per-CPU buffer per model in the kernel (used with preemption
 * off; a model belongs to one program, attached to one hook, and no hook
 * nests inside itself on one CPU).
 */
#include "rmt_model_impl.h"

/* ------------------------------------------------------------------ signature */

int rmt_model_sig_check(const struct rmt_model_sig *sig, char *err, size_t errlen)
{
	u32 j, width;

	if (sig->n_in < 1 || sig->n_in > RMT_MAX_MODEL_IO ||
	    sig->n_out < 1 || sig->n_out > RMT_MAX_MODEL_IO) {
		rmt_seterr(err, errlen, "signature: %u inputs and %u outputs, outside [1, %u]",
			 sig->n_in, sig->n_out, RMT_MAX_MODEL_IO);
		return -EINVAL;
	}
	if (sig->weight_bits != 8 && sig->weight_bits != 16 && sig->weight_bits != 32) {
		rmt_seterr(err, errlen, "signature: weight width %u is not 8, 16 or 32",
			 sig->weight_bits);
		return -EINVAL;
	}
	if (sig->max_abs_weight < 0) {
		rmt_seterr(err, errlen, "signature: negative weight bound %d", sig->max_abs_weight);
		return -EINVAL;
	}
	switch (sig->kind) {
	case RMT_MODEL_MLP:
	case RMT_MODEL_LINEAR:
		if (sig->nlayers < 1 || sig->nlayers > RMT_MAX_LAYERS) {
			rmt_seterr(err, errlen, "signature: %u layers, outside [1, %u]", sig->nlayers,
				 RMT_MAX_LAYERS);
			return -EINVAL;
		}
		if (sig->kind == RMT_MODEL_LINEAR &&
		    (sig->nlayers != 1 || sig->layers[0].kind != RMT_LAYER_DENSE)) {
			rmt_seterr(err, errlen, "signature: a linear model is exactly one dense layer");
			return -EINVAL;
		}
		width = sig->n_in;
		for (j = 0; j < sig->nlayers; j++) {
			const struct rmt_layer_sig *l = &sig->layers[j];

			if (l->kind != RMT_LAYER_DENSE && l->kind != RMT_LAYER_CONV1D) {
				rmt_seterr(err, errlen, "signature: layer %u has unknown kind %u", j,
					 l->kind);
				return -EINVAL;
			}
			if (l->act != RMT_ACT_NONE && l->act != RMT_ACT_RELU) {
				rmt_seterr(err, errlen, "signature: layer %u has unknown activation %u",
					 j, l->act);
				return -EINVAL;
			}
			if (l->n_in != width) {
				rmt_seterr(err, errlen, "signature: layer %u takes %u inputs but receives %u",
					 j, l->n_in, width);
				return -EINVAL;
			}
			if (l->n_out < 1 || l->n_out > RMT_MAX_MODEL_IO) {
				rmt_seterr(err, errlen, "signature: layer %u has %u outputs, outside [1, %u]",
					 j, l->n_out, RMT_MAX_MODEL_IO);
				return -EINVAL;
			}
			if (l->kind == RMT_LAYER_CONV1D) {
				if (!l->in_ch || !l->out_ch || !l->kernel || l->n_in % l->in_ch ||
				    l->n_in / l->in_ch < l->kernel ||
				    l->n_out != (l->n_in / l->in_ch - l->kernel + 1) * l->out_ch) {
					rmt_seterr(err, errlen, "signature: conv1d layer %u: %u outputs do not match (%u/%u - %u + 1) x %u",
						 j, l->n_out, l->n_in, l->in_ch, l->kernel, l->out_ch);
					return -EINVAL;
				}
			}
			width = l->n_out;
		}
		if (width != sig->n_out) {
			rmt_seterr(err, errlen, "signature: last layer gives %u outputs, the model declares %u",
				 width, sig->n_out);
			return -EINVAL;
		}
		return 0;
	case RMT_MODEL_TREE:
	case RMT_MODEL_FOREST:
		if (sig->nlayers) {
			rmt_seterr(err, errlen, "signature: trees and forests have no layers");
			return -EINVAL;
		}
		if (sig->kind == RMT_MODEL_TREE ? sig->trees > 1 :
		    sig->trees < 1 || sig->trees > RMT_MAX_TREES) {
			rmt_seterr(err, errlen, "signature: tree count %u outside [1, %u]", sig->trees,
				 RMT_MAX_TREES);
			return -EINVAL;
		}
		if (sig->depth < 1 || sig->depth > RMT_MAX_TREE_DEPTH) {
			rmt_seterr(err, errlen, "signature: tree depth %u outside [1, %u]", sig->depth,
				 RMT_MAX_TREE_DEPTH);
			return -EINVAL;
		}
		return 0;
	default:
		rmt_seterr(err, errlen, "signature: unknown model kind %u", sig->kind);
		return -EINVAL;
	}
}

/* ------------------------------------------------------------------ parsing */

/* Take @n bytes; on a short blob, say where and what it ended inside. */
const u8 *rmt_take(struct rmt_cursor *c, size_t n, const char *where, const char *what)
{
	const u8 *p;

	if (n > c->len - c->pos) {
		rmt_werr(c, where, "blob ends inside the %s (needs %zu bytes at offset %zu, has %zu)",
			 what, n, c->pos, c->len - c->pos);
		return NULL;
	}
	p = c->buf + c->pos;
	c->pos += n;
	return p;
}

/* A blob field that must equal the declaration: say which, and both values. */
bool rmt_differs(struct rmt_cursor *c, const char *where, const char *name, u32 got,
			u32 want, const char *who)
{
	if (got == want)
		return false;
	rmt_werr(c, where, "%s is %u, %s declares %u", name, got, who, want);
	return true;
}

/*
 * Take @bytes of the arena.  Its size is a bound that the parse cannot
 * exceed (see rmt_model_load()): every array is taken after the blob bytes
 * it comes from, or after a check that the blob holds them.
 */
void *rmt_arena(struct rmt_cursor *c, size_t bytes)
{
	void *p;

	if (bytes > c->arena_len - c->arena_used)
		return NULL;
	p = c->arena + c->arena_used;
	c->arena_used += rmt_align4(bytes);
	return p;
}

s32 rmt_get_weight(const u8 *p, u32 i, u32 bits)
{
	s16 h;
	s32 v;

	if (bits == 8)
		return (s8)p[i];
	if (bits == 16) {
		memcpy(&h, p + 2 * (size_t)i, 2);
		return h;
	}
	memcpy(&v, p + 4 * (size_t)i, 4);
	return v;
}

int rmt_read_s32s(struct rmt_cursor *c, s32 *dst, size_t n, const char *where,
			 const char *what)
{
	const u8 *p = rmt_take(c, n * 4, where, what);

	if (!p)
		return -EINVAL;
	memcpy(dst, p, n * 4);
	return 0;
}

/* Bytes of the header and the per-tree or per-layer array: where the arena starts. */
size_t rmt_weights_head(u32 ntrees, u32 nlayers)
{
	return rmt_align8(offsetof(struct rmt_weights, trees) +
			  max_t(size_t, ntrees * sizeof(struct rmt_wtree),
				nlayers * sizeof(struct rmt_wlayer)));
}

/*
 * A weights object with @head bytes of header and arrays (zeroed) and an
 * arena of @arena bytes after them, in one allocation freed by
 * rmt_weights_free().
 */
struct rmt_weights *rmt_weights_alloc(size_t head, size_t arena)
{
	struct rmt_weights *w = rmt_kvmalloc(head + arena, GFP_KERNEL);

	if (w)
		memset(w, 0, head);
	return w;
}

static void rmt_weights_free(struct rmt_weights *w)
{
	if (!w)
		return;
#ifdef RMT_MODEL_SIMD
	rmt_kvfree(w->pack);
#endif
#ifdef __KERNEL__
	rmt_free_percpu(w->scratch);
#endif
	rmt_kvfree(w);
}

static void rmt_weights_free_rcu(struct rcu_head *head)
{
	rmt_weights_free(container_of(head, struct rmt_weights, rcu));
}

static int rmt_parse(struct rmt_weights *w, const struct rmt_model_sig *sig,
		     struct rmt_cursor *c)
{
	struct rmt_rec_weights_header h;
	u32 ntrees, j, limit;
	const u8 *p;
	int ret;

	if (c->len > RMT_MAX_WEIGHTS_SIZE) {
		rmt_werr(c, "header", "blob is %zu bytes, over the %u limit", c->len,
			 RMT_MAX_WEIGHTS_SIZE);
		return -EINVAL;
	}
	p = rmt_take(c, sizeof(h), "header", "weights_header record");
	if (!p)
		return -EINVAL;
	memcpy(&h, p, sizeof(h));
	if (h.magic != RMT_WEIGHTS_MAGIC) {
		rmt_werr(c, "header", "bad magic 0x%08x (not a weights blob)", h.magic);
		return -EINVAL;
	}
	if (h.version != RMT_WEIGHTS_VERSION) {
		rmt_werr(c, "header", "blob format version %u is not %u", h.version,
			 RMT_WEIGHTS_VERSION);
		return -EINVAL;
	}
	if (h.total_size != c->len) {
		rmt_werr(c, "header", "total_size says %u bytes, blob has %zu", h.total_size,
			 c->len);
		return -EINVAL;
	}
	if (h.pad || h.pad2) {
		rmt_werr(c, "header", "padding bytes are not zero");
		return -EINVAL;
	}
	if (rmt_differs(c, "header", "kind", h.kind, sig->kind, "the model") ||
	    rmt_differs(c, "header", "weight_bits", h.weight_bits, sig->weight_bits, "the model") ||
	    rmt_differs(c, "header", "n_in", h.n_in, sig->n_in, "the model") ||
	    rmt_differs(c, "header", "n_out", h.n_out, sig->n_out, "the model"))
		return -EINVAL;
	w->kind = sig->kind;
	w->wide = sig->weight_bits == 32;
	w->act_lo = sig->in_lo;
	w->act_hi = sig->in_hi;
	w->n_in = sig->n_in;
	w->n_out = sig->n_out;
	if (sig->kind == RMT_MODEL_MLP || sig->kind == RMT_MODEL_LINEAR) {
		if (h.nlayers != sig->nlayers || h.ntrees) {
			rmt_werr(c, "header", "%u layers and %u trees, the model declares %u layers",
				 h.nlayers, h.ntrees, sig->nlayers);
			return -EINVAL;
		}
		if (h.shift) {
			rmt_werr(c, "header", "shift must be 0 for an MLP or linear model (layers carry their own)");
			return -EINVAL;
		}
		w->nlayers = sig->nlayers;
		for (j = 0; j < sig->nlayers; j++) {
			ret = rmt_read_layer(c, w, sig, j);
			if (ret)
				return ret;
			/* two hidden vectors at once: the layer's input and output */
			if (j + 1 < sig->nlayers)
				w->scratch_len = max_t(u32, w->scratch_len, 2 * sig->layers[j].n_out);
		}
	} else {
		ntrees = sig->kind == RMT_MODEL_TREE ? 1 : sig->trees;
		if (h.nlayers || h.ntrees != ntrees) {
			rmt_werr(c, "header", "%u layers and %u trees, the model declares %u trees",
				 h.nlayers, h.ntrees, ntrees);
			return -EINVAL;
		}
		limit = sig->kind == RMT_MODEL_FOREST ? RMT_MAX_FOREST_SHIFT : 0;
		if (h.shift > limit) {
			rmt_werr(c, "header", "shift %u is over %u", h.shift, limit);
			return -EINVAL;
		}
		w->shift = h.shift;
		w->ntrees = ntrees;
		for (j = 0; j < ntrees; j++) {
			ret = rmt_read_tree(c, w, sig, j);
			if (ret)
				return ret;
		}
		w->scratch_len = 2 * sig->n_out;	/* n_out s64 sums */
	}
	if (c->pos != c->len) {
		rmt_werr(c, "end", "%zu bytes left after the last %s", c->len - c->pos,
			 w->nlayers ? "layer" : "tree");
		return -EINVAL;
	}
	return 0;
}

/*
 * Check @blob against @sig and build its in-memory weights in *@out; the
 * blob's own version (0: none) in *@blob_version.  Nothing is published.
 */
static int rmt_model_build(const struct rmt_model_sig *sig, const void *blob, size_t len,
			   struct rmt_weights **out, u64 *blob_version, char *err, size_t errlen)
{
	struct rmt_cursor c = { .buf = blob, .len = len, .err = err, .errlen = errlen };
	struct rmt_rec_weights_header h;
	struct rmt_weights *w;
	size_t head, blen = min_t(size_t, len, RMT_MAX_WEIGHTS_SIZE);
	int ret;

	ret = rmt_model_sig_check(sig, err, errlen);
	if (ret)
		return ret;
	if (sig->kind == RMT_MODEL_MLP || sig->kind == RMT_MODEL_LINEAR) {
		head = rmt_weights_head(0, sig->nlayers);
		/*
		 * Exactly the widened weights and biases the signature
		 * declares; a blob too short for them takes at most 4 arena
		 * bytes per blob byte (an int8 weight becomes an s32) before
		 * the parse stops at its end.
		 */
		c.arena_len = min_t(size_t, rmt_mlp_arena_bytes(sig), 4 * blen);
	} else {
		head = rmt_weights_head(sig->kind == RMT_MODEL_TREE ? 1 : sig->trees, 0);
		/*
		 * A tree's arrays take as many bytes as its nodes and leaves
		 * in the blob (a 20-byte node becomes a 16-byte node and a
		 * 4-byte leaf offset) and are taken once the blob is known to
		 * hold them: the blob after the header and one tree record.
		 */
		c.arena_len = blen - min_t(size_t, blen, sizeof(h) +
					    sizeof(struct rmt_rec_weights_tree));
	}
	w = rmt_weights_alloc(head, c.arena_len);
	if (!w)
		goto nomem;
	c.arena = (u8 *)w + head;
	ret = rmt_parse(w, sig, &c);
	if (ret == -E2BIG) {
		rmt_seterr(err, errlen, "weights: internal error: arena too small");
		ret = -EINVAL;
	}
	if (ret == -ENOMEM)
		goto nomem;
	if (ret) {
		rmt_weights_free(w);
		return ret;
	}
	if (w->ntrees && rmt_tree_compact(&w, head))
		goto nomem;
	if (w->nlayers && rmt_mlp_prepare(w))
		goto nomem;
#ifdef __KERNEL__
	if (w->scratch_len) {
		w->scratch = rmt_alloc_percpu_bytes(w->scratch_len * sizeof(s32), sizeof(s64));
		if (!w->scratch)
			goto nomem;
	}
#endif
	memcpy(&h, blob, sizeof(h));
	*blob_version = h.model_version;
	*out = w;
	return 0;
nomem:
	rmt_weights_free(w);
	rmt_seterr(err, errlen, "weights: out of memory");
	return -ENOMEM;
}

/* Free @w after a grace period: an inference may still be using it. */
static void rmt_weights_retire(struct rmt_weights *w)
{
	if (w)
		call_rcu(&w->rcu, rmt_weights_free_rcu);
}

/* The version weights get: their own, else one above any this slot has held. */
static u64 rmt_slot_next_version(struct rmt_model_slot *slot, u64 blob_version)
{
	u64 v = blob_version ? blob_version : slot->top + 1;

	if (v > slot->top)
		slot->top = v;
	return v;
}

int rmt_model_load(struct rmt_model_slot *slot, const struct rmt_model_sig *sig,
		   const void *blob, size_t len, u64 *version_out, char *err, size_t errlen)
{
	struct rmt_weights *w, *old, *drop;
	u64 version, bv;
	int ret;

	ret = rmt_model_build(sig, blob, len, &w, &bv, err, errlen);
	if (ret)
		return ret;
	mutex_lock(&slot->lock);
	version = rmt_slot_next_version(slot, bv);
	old = rcu_dereference_protected(slot->w, 1);
	rcu_assign_pointer(slot->w, w);
	drop = slot->prev;
	/* the replaced weights stay for a rollback (they were live: no reader issue) */
	slot->prev = old;
	slot->prev_version = old ? slot->version : 0;
	WRITE_ONCE(slot->version, version);
	mutex_unlock(&slot->lock);
	rmt_weights_retire(drop);
	if (version_out)
		*version_out = version;
	return 0;
}

int rmt_model_stage(struct rmt_model_slot *slot, const struct rmt_model_sig *sig,
		    const void *blob, size_t len, u64 *version_out, char *err, size_t errlen)
{
	struct rmt_weights *w, *old;
	u64 version, bv;
	int ret;

	ret = rmt_model_build(sig, blob, len, &w, &bv, err, errlen);
	if (ret)
		return ret;
	mutex_lock(&slot->lock);
	version = rmt_slot_next_version(slot, bv);
	old = rcu_dereference_protected(slot->cand, 1);
	rcu_assign_pointer(slot->cand, w);
	WRITE_ONCE(slot->cand_version, version);
	mutex_unlock(&slot->lock);
	rmt_weights_retire(old);
	if (version_out)
		*version_out = version;
	return 0;
}

int rmt_model_promote(struct rmt_model_slot *slot, u64 *version_out)
{
	struct rmt_weights *cand, *old, *drop;

	mutex_lock(&slot->lock);
	cand = rcu_dereference_protected(slot->cand, 1);
	if (!cand) {
		mutex_unlock(&slot->lock);
		return -ENOENT;
	}
	old = rcu_dereference_protected(slot->w, 1);
	/*
	 * Publish the candidate as the live weights first, then take it off the
	 * candidate pointer: a run in between evaluates it against itself, which
	 * only counts one agreement.
	 */
	rcu_assign_pointer(slot->w, cand);
	RCU_INIT_POINTER(slot->cand, NULL);
	drop = slot->prev;
	slot->prev = old;
	slot->prev_version = old ? slot->version : 0;
	WRITE_ONCE(slot->version, slot->cand_version);
	WRITE_ONCE(slot->cand_version, 0);
	if (version_out)
		*version_out = slot->version;
	mutex_unlock(&slot->lock);
	rmt_weights_retire(drop);
	return 0;
}

int rmt_model_rollback(struct rmt_model_slot *slot, u64 *version_out)
{
	struct rmt_weights *prev, *old;

	mutex_lock(&slot->lock);
	prev = slot->prev;
	if (!prev) {
		mutex_unlock(&slot->lock);
		return -ENOENT;
	}
	old = rcu_dereference_protected(slot->w, 1);
	rcu_assign_pointer(slot->w, prev);
	slot->prev = NULL;
	WRITE_ONCE(slot->version, slot->prev_version);
	slot->prev_version = 0;
	if (version_out)
		*version_out = slot->version;
	mutex_unlock(&slot->lock);
	rmt_weights_retire(old);
	return 0;
}

int rmt_model_unstage(struct rmt_model_slot *slot)
{
	struct rmt_weights *cand;

	mutex_lock(&slot->lock);
	cand = rcu_dereference_protected(slot->cand, 1);
	RCU_INIT_POINTER(slot->cand, NULL);
	WRITE_ONCE(slot->cand_version, 0);
	mutex_unlock(&slot->lock);
	if (!cand)
		return -ENOENT;
	rmt_weights_retire(cand);
	return 0;
}

void rmt_model_versions(struct rmt_model_slot *slot, u64 *live, u64 *cand, u64 *prev)
{
	mutex_lock(&slot->lock);
	*live = slot->version;
	*cand = slot->cand_version;
	*prev = slot->prev_version;
	mutex_unlock(&slot->lock);
}

void rmt_model_slot_init(struct rmt_model_slot *slot)
{
	RCU_INIT_POINTER(slot->w, NULL);
	RCU_INIT_POINTER(slot->cand, NULL);
	slot->prev = NULL;
	slot->version = 0;
	slot->cand_version = 0;
	slot->prev_version = 0;
	slot->top = 0;
	mutex_init(&slot->lock);
}

void rmt_model_slot_destroy(struct rmt_model_slot *slot)
{
	rmt_weights_free(rcu_dereference_protected(slot->w, 1));
	rmt_weights_free(rcu_dereference_protected(slot->cand, 1));
	rmt_weights_free(slot->prev);
	RCU_INIT_POINTER(slot->w, NULL);
	RCU_INIT_POINTER(slot->cand, NULL);
	slot->prev = NULL;
	slot->version = 0;
	mutex_destroy(&slot->lock);
}

u64 rmt_model_version(struct rmt_model_slot *slot)
{
	return READ_ONCE(slot->version);
}

/* ------------------------------------------------------------------ inference */

#ifndef __KERNEL__
/* userspace scratch: hidden activations (s32) or forest sums (s64) */
static __thread union {
	s32 act[2 * RMT_MAX_MODEL_IO];
	s64 sum[RMT_MAX_MODEL_IO];
} rmt_model_tls;
#endif

/* Everything but the single-tree fast path: MLPs, linear models, forests. */
static noinline u64 rmt_infer_general(const struct rmt_weights *w, const s32 *in, s32 *out)
{
	s32 *act;
	s64 *sum;
	u64 ov;

#ifdef __KERNEL__
	/* the kernel builds with -fno-strict-aliasing: one buffer, either type */
	act = w->scratch ? per_cpu_ptr(w->scratch, get_cpu()) : NULL;
	sum = (s64 *)act;
#else
	act = rmt_model_tls.act;
	sum = rmt_model_tls.sum;
#endif
	if (w->kind == RMT_MODEL_MLP || w->kind == RMT_MODEL_LINEAR)
		ov = rmt_run_mlp(w, in, out, act);
	else
		ov = rmt_run_forest(w, in, out, sum);
#ifdef __KERNEL__
	if (w->scratch)
		put_cpu();
#endif
	return ov;
}

/* One inference on @w (NULL: -ENOENT); the caller holds the RCU read lock. */
static __always_inline int rmt_infer_w(const struct rmt_weights *w, const s32 *in, s32 *out,
				       u64 *overflows)
{
	int ret = 0;

	if (likely(w && w->single_tree)) {
		/*
		 * One tree with an implicit layout (the common case on a hook):
		 * no scratch and no overflow possible.  Everything else is out
		 * of line, which keeps this path's frame small.
		 */
		const struct rmt_wtree *t = &w->trees[0];
		u32 o, n_out = w->n_out;

		if (likely(w->single_tree == 1)) {
			out[0] = t->ileaves[rmt_implicit_walk(t, in)];
		} else {
			const s32 *leaf = t->ileaves + (size_t)rmt_implicit_walk(t, in) * n_out;

			for (o = 0; o < n_out; o++)
				out[o] = leaf[o];
		}
#ifdef RMT_MODEL_SIMD
	} else if (w && w->pack && rmt_model_isa_for(w) >= RMT_MODEL_ISA_AVX2 &&
		   rmt_mlp_simd(w, in, out)) {
		/* an MLP proved exact in int32, inputs in range: no overflow */
#endif
	} else if (w) {
		*overflows += rmt_infer_general(w, in, out);
	} else {
		ret = -ENOENT;
	}
	return ret;
}

int rmt_model_infer(struct rmt_model_slot *slot, const s32 *in, s32 *out, u64 *overflows)
{
	int ret;

	rcu_read_lock();
	ret = rmt_infer_w(rcu_dereference(slot->w), in, out, overflows);
	rcu_read_unlock();
	return ret;
}

int rmt_model_infer_rcu(struct rmt_model_slot *slot, const s32 *in, s32 *out, u64 *overflows)
{
	return rmt_infer_w(rcu_dereference(slot->w), in, out, overflows);
}

int rmt_model_infer_cand(struct rmt_model_slot *slot, const s32 *in, s32 *out, u64 *overflows)
{
	int ret;

	rcu_read_lock();
	ret = rmt_infer_w(rcu_dereference(slot->cand), in, out, overflows);
	rcu_read_unlock();
	return ret;
}

