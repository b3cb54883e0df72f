// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_model.c: fixed-point models (docs/semantics.md, "Models (CALLM)").
 *
 * Loading parses the untrusted blob once, checking each field as it is read
 * (the checks and their order follow semantics/weights.py, so both engines
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
#include "rmt_model.h"
#include "rmt_alloc.h"

/*
 * Userspace x86-64 gets AVX2 kernels, chosen at run time; the kernel keeps
 * the scalar paths (no FPU state without kernel_fpu_begin()).
 */
#if !defined(__KERNEL__) && defined(__x86_64__)
#define RMT_MODEL_SIMD 1
#include <immintrin.h>
#endif

#ifndef S16_MAX
#define S16_MAX 32767
#define S16_MIN (-32768)
#endif

#define rmt_errf(err, errlen, ...) \
	do { \
		if ((err) && (errlen)) \
			snprintf((err), (errlen), __VA_ARGS__); \
	} while (0)

struct rmt_wlayer {
	u8 kind;
	u8 relu;
	u8 shift;
	u8 exact32;		/* inputs in [act_lo, act_hi]: no sum leaves int32 */
	u32 n_in, n_out, in_ch, out_ch, kernel, steps;
	const s32 *w;		/* 32-bit dense [n_out][n_in]; conv1d [out_ch][in_ch][kernel] */
	const s16 *w16;		/* 8/16-bit dense [n_out][n_in] (then @w is NULL) */
	const s32 *b;
#ifdef RMT_MODEL_SIMD
	const u8 *wp;		/* AVX2 layout in rmt_weights.pack, see rmt_mlp_pack() */
#endif
};

/* A tree node; a leaf has next[0] == next[1] == itself and feature 0. */
struct rmt_tnode {
	s32 feature;
	s32 threshold;
	u32 next[2];
};

/* A position of the implicit layout: x[feature] > threshold goes right. */
struct rmt_inode {
	s32 feature;
	s32 threshold;
};

/* What the implicit walk reads comes first: next to the header for trees[0]. */
struct rmt_wtree {
	u32 steps;		/* the deepest reachable node's depth */
	/* implicit layout (NULL when the tree keeps its node array) */
	u32 ninner;			/* 2^steps - 1 */
	const struct rmt_inode *inodes;	/* [ninner] */
	const s32 *ileaves;		/* [2^steps][n_out] */
	/* node array of the blob (NULL once the tree has an implicit layout) */
	const struct rmt_tnode *nodes;
	const u32 *leaf_off;	/* per node: its leaf's first value in @leaves */
	const s32 *leaves;	/* [nleaves][n_out] */
	u32 nnodes, nleaves;
};

#ifndef DECLARE_FLEX_ARRAY
/* As the kernel's <linux/stddef.h>: a flexible array member inside a union. */
#define DECLARE_FLEX_ARRAY(TYPE, NAME) \
	struct { \
		struct { } __empty_ ## NAME; \
		TYPE NAME[]; \
	}
#endif

struct rmt_weights {
	struct rcu_head rcu;
	u8 kind;
	u8 wide;		/* 32-bit weights: accumulate in s128 */
	u8 shift;		/* forest */
	u8 single_tree;		/* one tree, no shift, implicit layout: 1 + (n_out > 1) */
	u32 n_in, n_out, nlayers, ntrees;
	s32 act_lo, act_hi;	/* hidden outputs are clamped to the declared input range */
	u32 scratch_len;	/* s32 values of scratch an inference needs */
	u8 fast;		/* every layer dense, s16 weights, exact32 */
	u8 big;			/* at least RMT_FAST_MIN_MACS multiply-adds */
	u8 act16;		/* [act_lo, act_hi] fits in s16 */
#ifdef __KERNEL__
	s32 __percpu *scratch;
#endif
#ifdef RMT_MODEL_SIMD
	u8 *pack;		/* the layers' wp arrays; NULL: no AVX2 path */
#endif
	/* [ntrees] or [nlayers], sized for the model; then the arena */
	union {
		DECLARE_FLEX_ARRAY(struct rmt_wtree, trees);	/* first: near the fields above */
		DECLARE_FLEX_ARRAY(struct rmt_wlayer, layers);
	};
};

/* ------------------------------------------------------------------ signature */

int rmt_model_sig_check(const struct rmt_model_sig *sig, char *err, size_t errlen)
{
	u32 j, width;

	if (sig->n_in < 1 || sig->n_in > RMT_MAX_MODEL_IO ||
	    sig->n_out < 1 || sig->n_out > RMT_MAX_MODEL_IO) {
		rmt_errf(err, errlen, "signature: %u inputs and %u outputs, outside [1, %u]",
			 sig->n_in, sig->n_out, RMT_MAX_MODEL_IO);
		return -EINVAL;
	}
	if (sig->weight_bits != 8 && sig->weight_bits != 16 && sig->weight_bits != 32) {
		rmt_errf(err, errlen, "signature: weight width %u is not 8, 16 or 32",
			 sig->weight_bits);
		return -EINVAL;
	}
	if (sig->max_abs_weight < 0) {
		rmt_errf(err, errlen, "signature: negative weight bound %d", sig->max_abs_weight);
		return -EINVAL;
	}
	switch (sig->kind) {
	case RMT_MODEL_MLP:
	case RMT_MODEL_LINEAR:
		if (sig->nlayers < 1 || sig->nlayers > RMT_MAX_LAYERS) {
			rmt_errf(err, errlen, "signature: %u layers, outside [1, %u]", sig->nlayers,
				 RMT_MAX_LAYERS);
			return -EINVAL;
		}
		if (sig->kind == RMT_MODEL_LINEAR &&
		    (sig->nlayers != 1 || sig->layers[0].kind != RMT_LAYER_DENSE)) {
			rmt_errf(err, errlen, "signature: a linear model is exactly one dense layer");
			return -EINVAL;
		}
		width = sig->n_in;
		for (j = 0; j < sig->nlayers; j++) {
			const struct rmt_layer_sig *l = &sig->layers[j];

			if (l->kind != RMT_LAYER_DENSE && l->kind != RMT_LAYER_CONV1D) {
				rmt_errf(err, errlen, "signature: layer %u has unknown kind %u", j,
					 l->kind);
				return -EINVAL;
			}
			if (l->act != RMT_ACT_NONE && l->act != RMT_ACT_RELU) {
				rmt_errf(err, errlen, "signature: layer %u has unknown activation %u",
					 j, l->act);
				return -EINVAL;
			}
			if (l->n_in != width) {
				rmt_errf(err, errlen, "signature: layer %u takes %u inputs but receives %u",
					 j, l->n_in, width);
				return -EINVAL;
			}
			if (l->n_out < 1 || l->n_out > RMT_MAX_MODEL_IO) {
				rmt_errf(err, errlen, "signature: layer %u has %u outputs, outside [1, %u]",
					 j, l->n_out, RMT_MAX_MODEL_IO);
				return -EINVAL;
			}
			if (l->kind == RMT_LAYER_CONV1D) {
				if (!l->in_ch || !l->out_ch || !l->kernel || l->n_in % l->in_ch ||
				    l->n_in / l->in_ch < l->kernel ||
				    l->n_out != (l->n_in / l->in_ch - l->kernel + 1) * l->out_ch) {
					rmt_errf(err, errlen, "signature: conv1d layer %u: %u outputs do not match (%u/%u - %u + 1) x %u",
						 j, l->n_out, l->n_in, l->in_ch, l->kernel, l->out_ch);
					return -EINVAL;
				}
			}
			width = l->n_out;
		}
		if (width != sig->n_out) {
			rmt_errf(err, errlen, "signature: last layer gives %u outputs, the model declares %u",
				 width, sig->n_out);
			return -EINVAL;
		}
		return 0;
	case RMT_MODEL_TREE:
	case RMT_MODEL_FOREST:
		if (sig->nlayers) {
			rmt_errf(err, errlen, "signature: trees and forests have no layers");
			return -EINVAL;
		}
		if (sig->kind == RMT_MODEL_TREE ? sig->trees > 1 :
		    sig->trees < 1 || sig->trees > RMT_MAX_TREES) {
			rmt_errf(err, errlen, "signature: tree count %u outside [1, %u]", sig->trees,
				 RMT_MAX_TREES);
			return -EINVAL;
		}
		if (sig->depth < 1 || sig->depth > RMT_MAX_TREE_DEPTH) {
			rmt_errf(err, errlen, "signature: tree depth %u outside [1, %u]", sig->depth,
				 RMT_MAX_TREE_DEPTH);
			return -EINVAL;
		}
		return 0;
	default:
		rmt_errf(err, errlen, "signature: unknown model kind %u", sig->kind);
		return -EINVAL;
	}
}

/* ------------------------------------------------------------------ parsing */

struct rmt_cursor {
	const u8 *buf;
	size_t len, pos;
	char *err;
	size_t errlen;
	/* where the parsed arrays go: the tail of the weights object */
	u8 *arena;
	size_t arena_len, arena_used;
};

#define rmt_werr(c, where, ...) \
	do { \
		if ((c)->err && (c)->errlen) { \
			int __n = snprintf((c)->err, (c)->errlen, "weights %s: ", (where)); \
			if (__n >= 0 && (size_t)__n < (c)->errlen) \
				snprintf((c)->err + __n, (c)->errlen - __n, __VA_ARGS__); \
		} \
	} while (0)

/* Take @n bytes; on a short blob, say where and what it ended inside. */
static const u8 *rmt_take(struct rmt_cursor *c, size_t n, const char *where, const char *what)
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
static bool rmt_differs(struct rmt_cursor *c, const char *where, const char *name, u32 got,
			u32 want, const char *who)
{
	if (got == want)
		return false;
	rmt_werr(c, where, "%s is %u, %s declares %u", name, got, who, want);
	return true;
}

#define rmt_align4(n) (((n) + 3) & ~(size_t)3)
#define rmt_align8(n) (((n) + 7) & ~(size_t)7)

/*
 * Take @bytes of the arena.  Its size is a bound that the parse cannot
 * exceed (see rmt_model_load()): every array is taken after the blob bytes
 * it comes from, or after a check that the blob holds them.
 */
static void *rmt_arena(struct rmt_cursor *c, size_t bytes)
{
	void *p;

	if (bytes > c->arena_len - c->arena_used)
		return NULL;
	p = c->arena + c->arena_used;
	c->arena_used += rmt_align4(bytes);
	return p;
}

static s32 rmt_get_weight(const u8 *p, u32 i, u32 bits)
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

static int rmt_read_s32s(struct rmt_cursor *c, s32 *dst, size_t n, const char *where,
			 const char *what)
{
	const u8 *p = rmt_take(c, n * 4, where, what);

	if (!p)
		return -EINVAL;
	memcpy(dst, p, n * 4);
	return 0;
}

static int rmt_read_layer(struct rmt_cursor *c, struct rmt_weights *w,
			  const struct rmt_model_sig *sig, u32 j)
{
	const struct rmt_layer_sig *ls = &sig->layers[j];
	struct rmt_wlayer *l = &w->layers[j];
	struct rmt_rec_weights_layer r;
	u32 bits = sig->weight_bits, i, n, nb;
	const u8 *p, *wp;
	s32 *wt, *bias;
	s16 *w16;
	bool narrow;
	char where[32];

	snprintf(where, sizeof(where), "layer %u", j);
	p = rmt_take(c, sizeof(r), where, "weights_layer record");
	if (!p)
		return -EINVAL;
	memcpy(&r, p, sizeof(r));
	if (r.pad || r.pad2) {
		rmt_werr(c, where, "padding bytes are not zero");
		return -EINVAL;
	}
	if (rmt_differs(c, where, "kind", r.kind, ls->kind, "the signature") ||
	    rmt_differs(c, where, "act", r.act, ls->act, "the signature") ||
	    rmt_differs(c, where, "n_in", r.n_in, ls->n_in, "the signature") ||
	    rmt_differs(c, where, "n_out", r.n_out, ls->n_out, "the signature") ||
	    rmt_differs(c, where, "in_ch", r.in_ch, ls->in_ch, "the signature") ||
	    rmt_differs(c, where, "out_ch", r.out_ch, ls->out_ch, "the signature") ||
	    rmt_differs(c, where, "kernel", r.kernel, ls->kernel, "the signature"))
		return -EINVAL;
	if (r.shift > RMT_MAX_LAYER_SHIFT) {
		rmt_werr(c, where, "shift %u is over %u", r.shift, RMT_MAX_LAYER_SHIFT);
		return -EINVAL;
	}
	l->kind = ls->kind;
	l->relu = ls->act == RMT_ACT_RELU;
	l->shift = r.shift;
	l->n_in = ls->n_in;
	l->n_out = ls->n_out;
	if (ls->kind == RMT_LAYER_CONV1D) {
		l->in_ch = ls->in_ch;
		l->out_ch = ls->out_ch;
		l->kernel = ls->kernel;
		l->steps = ls->n_in / ls->in_ch - ls->kernel + 1;
		n = ls->out_ch * ls->in_ch * ls->kernel;
		nb = ls->out_ch;
	} else {
		n = ls->n_out * ls->n_in;	/* <= 2^20: the signature was checked */
		nb = ls->n_out;
	}
	p = rmt_take(c, (size_t)n * bits / 8, where, "weights");
	if (!p)
		return -EINVAL;
	wp = p;
	narrow = ls->kind == RMT_LAYER_DENSE && bits <= 16;
	wt = narrow ? NULL : rmt_arena(c, (size_t)n * 4);
	w16 = narrow ? rmt_arena(c, (size_t)n * 2) : NULL;
	if (!wt && !w16)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		if (narrow)
			w16[i] = (s16)rmt_get_weight(p, i, bits);
		else
			wt[i] = rmt_get_weight(p, i, bits);
	}
	i = (u32)(-((size_t)n * bits / 8) & 3);
	p = rmt_take(c, i, where, "weight padding");
	if (!p)
		return -EINVAL;
	while (i--) {
		if (p[i]) {
			rmt_werr(c, where, "weight padding bytes are not zero");
			return -EINVAL;
		}
	}
	if (sig->max_abs_weight) {
		for (i = 0; i < n; i++) {
			s64 v = rmt_get_weight(wp, i, bits);

			if ((v < 0 ? -v : v) > sig->max_abs_weight) {
				rmt_werr(c, where, "weight %u is %d, over the declared bound |w| <= %d",
					 i, (s32)v, sig->max_abs_weight);
				return -EINVAL;
			}
		}
	}
	/* the bytes first, then the arena: a short blob never exhausts it */
	p = rmt_take(c, (size_t)nb * 4, where, "biases");
	if (!p)
		return -EINVAL;
	bias = rmt_arena(c, (size_t)nb * 4);
	if (!bias)
		return -E2BIG;
	memcpy(bias, p, (size_t)nb * 4);
	/*
	 * Biases are accumulator-scaled; the verifier's overflow proof assumes
	 * |b| <= 2^(weight_bits + 8) (no bound for 32-bit weights).
	 */
	if (sig->weight_bits < 32) {
		s64 bmax = 1LL << (sig->weight_bits + 8);

		for (i = 0; i < nb; i++) {
			s64 v = bias[i];

			if ((v < 0 ? -v : v) > bmax) {
				rmt_werr(c, where, "bias %u is %d, over the bound |b| <= %lld",
					 i, bias[i], (long long)bmax);
				return -EINVAL;
			}
		}
	}
	l->w = wt;
	l->w16 = w16;
	l->b = bias;
	return 0;
}

/* "tree J node I": formatted only for an error, not for each of up to 2^17 nodes. */
#define rmt_node_where(where, j, i) snprintf((where), sizeof(where), "tree %u node %u", (j), (i))

#define rmt_nerr(c, where, j, i, ...) \
	do { \
		rmt_node_where(where, j, i); \
		rmt_werr(c, where, __VA_ARGS__); \
	} while (0)

static int rmt_read_tree(struct rmt_cursor *c, struct rmt_weights *w,
			 const struct rmt_model_sig *sig, u32 j)
{
	struct rmt_wtree *t = &w->trees[j];
	struct rmt_rec_weights_tree r;
	struct rmt_rec_weights_node nr;
	struct rmt_tnode *nodes;
	u32 *leaf_off;
	u32 *depth;		/* per node: depth + 1, 0 when unreachable so far */
	s32 *leaves;
	u32 i, k, steps = 0;
	u64 need;
	const u8 *p;
	char where[48];

	snprintf(where, sizeof(where), "tree %u", j);
	p = rmt_take(c, sizeof(r), where, "weights_tree record");
	if (!p)
		return -EINVAL;
	memcpy(&r, p, sizeof(r));
	if (r.nnodes < 1 || r.nleaves < 1) {
		rmt_werr(c, where, "%u nodes and %u leaves; a tree needs at least one of each",
			 r.nnodes, r.nleaves);
		return -EINVAL;
	}
	/* check the sizes first, so a hostile count cannot make us allocate much */
	need = (u64)r.nnodes * sizeof(nr) + (u64)r.nleaves * sig->n_out * 4;
	if (need > c->len - c->pos) {
		rmt_werr(c, where, "%u nodes and %u leaves need %llu bytes, the blob has %zu left",
			 r.nnodes, r.nleaves, (unsigned long long)need, c->len - c->pos);
		return -EINVAL;
	}
	nodes = rmt_arena(c, (size_t)r.nnodes * sizeof(*nodes));
	leaf_off = rmt_arena(c, (size_t)r.nnodes * 4);
	leaves = rmt_arena(c, (size_t)r.nleaves * sig->n_out * 4);
	if (!nodes || !leaf_off || !leaves)
		return -E2BIG;
	/*
	 * The depths live in @leaf_off: node i's depth is read before its
	 * leaf offset is written, and only nodes after i get a depth then.
	 * No temporary allocation per tree.
	 */
	depth = leaf_off;
	memset(depth, 0, (size_t)r.nnodes * sizeof(*depth));
	depth[0] = 1;
	for (i = 0; i < r.nnodes; i++) {
		if (sizeof(nr) > c->len - c->pos) {
			/* cannot happen: the size was checked */
			rmt_node_where(where, j, i);
			rmt_take(c, sizeof(nr), where, "weights_node record");
			return -EINVAL;
		}
		p = c->buf + c->pos;
		c->pos += sizeof(nr);
		memcpy(&nr, p, sizeof(nr));
		if (nr.feature == -1) {
			if (nr.threshold || nr.left || nr.right) {
				rmt_nerr(c, where, j, i, "a leaf has nonzero threshold, left or right");
				return -EINVAL;
			}
			if (nr.leaf >= r.nleaves) {
				rmt_nerr(c, where, j, i, "leaf index %u is outside 0..%u", nr.leaf,
					 r.nleaves - 1);
				return -EINVAL;
			}
			nodes[i].feature = 0;
			nodes[i].threshold = 0;
			nodes[i].next[0] = i;
			nodes[i].next[1] = i;
			leaf_off[i] = nr.leaf * sig->n_out;
			continue;
		}
		if (nr.feature < 0 || (u32)nr.feature >= sig->n_in) {
			rmt_nerr(c, where, j, i, "feature %d is outside 0..%u", nr.feature, sig->n_in - 1);
			return -EINVAL;
		}
		if (nr.leaf) {
			rmt_nerr(c, where, j, i, "an inner node has a nonzero leaf index");
			return -EINVAL;
		}
		for (k = 0; k < 2; k++) {
			u32 ch = k ? nr.right : nr.left;

			if (ch <= i || ch >= r.nnodes) {
				rmt_nerr(c, where, j, i, "%s child %u is not after the node and inside 0..%u",
					 k ? "right" : "left", ch, r.nnodes - 1);
				return -EINVAL;
			}
			if (depth[i])
				depth[ch] = max_t(u32, depth[ch], depth[i] + 1);
		}
		if (depth[i] && depth[i] > sig->depth) {
			/* depth[i] - 1 is the node's depth: its children are at depth[i] */
			rmt_nerr(c, where, j, i, "its children are at depth %u, deeper than the declared %u",
				 depth[i], sig->depth);
			return -EINVAL;
		}
		if (depth[i])
			steps = max_t(u32, steps, depth[i]);
		nodes[i].feature = nr.feature;
		nodes[i].threshold = nr.threshold;
		nodes[i].next[0] = nr.left;
		nodes[i].next[1] = nr.right;
		leaf_off[i] = 0;
	}
	if (rmt_read_s32s(c, leaves, (size_t)r.nleaves * sig->n_out, where, "leaf values"))
		return -EINVAL;
	t->nnodes = r.nnodes;
	t->nleaves = r.nleaves;
	t->steps = steps;
	t->nodes = nodes;
	t->leaf_off = leaf_off;
	t->leaves = leaves;
	return 0;
}

/*
 * An implicit layout may take this many bytes, or twice the tree's share of
 * the blob if that is more: a full tree of any depth gets one, a long thin
 * tree (which would expand to 2^depth slots) keeps its node array.
 */
#define RMT_LAYOUT_MIN_BUDGET (64 * 1024)

static size_t rmt_layout_bytes(const struct rmt_wtree *t, u32 n_out)
{
	size_t slots = (size_t)1 << t->steps;

	return (slots - 1) * sizeof(struct rmt_inode) + slots * n_out * sizeof(s32);
}

static bool rmt_layout_fits(const struct rmt_wtree *t, u32 n_out)
{
	size_t blob = (size_t)t->nnodes * sizeof(struct rmt_rec_weights_node) +
		      (size_t)t->nleaves * n_out * sizeof(s32);

	return rmt_layout_bytes(t, n_out) <= max_t(size_t, RMT_LAYOUT_MIN_BUDGET, 2 * blob);
}

/*
 * Write the subtree of @node (checked by rmt_read_tree(): children after
 * their parent, every reachable node at most @steps deep) at position @pos,
 * depth @d.  A leaf above depth @steps becomes pass-through positions
 * (x <= S32_MAX always goes left) and fills every leaf slot below it.
 * Recursion depth is at most RMT_MAX_TREE_DEPTH + 1.
 */
static void rmt_unfold(const struct rmt_wtree *t, u32 n_out, struct rmt_inode *in, s32 *lv,
		       u32 node, u32 pos, u32 d)
{
	const struct rmt_tnode *n = &t->nodes[node];
	bool leaf = n->next[0] == node;
	u32 o;

	if (d == t->steps) {
		/* a reachable node at the deepest depth is a leaf */
		s32 *dst = lv + (size_t)(pos - ((1u << t->steps) - 1)) * n_out;

		for (o = 0; o < n_out; o++)
			dst[o] = t->leaves[t->leaf_off[node] + o];
		return;
	}
	in[pos].feature = leaf ? 0 : n->feature;
	in[pos].threshold = leaf ? S32_MAX : n->threshold;
	rmt_unfold(t, n_out, in, lv, n->next[0], 2 * pos + 1, d + 1);
	rmt_unfold(t, n_out, in, lv, n->next[1], 2 * pos + 2, d + 1);
}

/* Bytes of the header and the per-tree or per-layer array: where the arena starts. */
static size_t rmt_weights_head(u32 ntrees, u32 nlayers)
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
static struct rmt_weights *rmt_weights_alloc(size_t head, size_t arena)
{
	struct rmt_weights *w = rmt_kvmalloc(head + arena, GFP_KERNEL);

	if (w)
		memset(w, 0, head);
	return w;
}

static size_t rmt_tree_bytes(const struct rmt_wtree *t, u32 n_out)
{
	if (rmt_layout_fits(t, n_out))
		return rmt_align8(rmt_layout_bytes(t, n_out));
	return rmt_align8((size_t)t->nnodes * sizeof(struct rmt_tnode)) +
	       rmt_align8((size_t)t->nnodes * sizeof(u32)) +
	       rmt_align8((size_t)t->nleaves * n_out * sizeof(s32));
}

/* Copy @bytes from @src to *@p and advance it past them (8-aligned). */
static void *rmt_put(u8 **p, const void *src, size_t bytes)
{
	void *dst = *p;

	memcpy(dst, src, bytes);
	*p += rmt_align8(bytes);
	return dst;
}

/*
 * Replace the parsed forest *@wp (its arena sized by the blob) by an object
 * sized for what inference reads: every tree whose expansion is small enough
 * gets its implicit layout and drops its node array, the others keep their
 * node array.  On failure *@wp is untouched.
 */
static int rmt_tree_compact(struct rmt_weights **wp, size_t head)
{
	struct rmt_weights *w = *wp, *nw;
	size_t total = 0;
	u32 j, n_out = w->n_out;
	u8 *p;

	for (j = 0; j < w->ntrees; j++)
		total += rmt_tree_bytes(&w->trees[j], n_out);
	nw = rmt_weights_alloc(head, total);
	if (!nw)
		return -ENOMEM;
	memcpy(nw, w, head);
	p = (u8 *)nw + head;
	for (j = 0; j < nw->ntrees; j++) {
		const struct rmt_wtree *src = &w->trees[j];
		struct rmt_wtree *t = &nw->trees[j];
		size_t ninner = ((size_t)1 << t->steps) - 1;
		struct rmt_inode *in;
		s32 *lv;

		if (!rmt_layout_fits(t, n_out)) {
			t->nodes = rmt_put(&p, src->nodes, (size_t)t->nnodes * sizeof(*t->nodes));
			t->leaf_off = rmt_put(&p, src->leaf_off, (size_t)t->nnodes * sizeof(u32));
			t->leaves = rmt_put(&p, src->leaves,
					    (size_t)t->nleaves * n_out * sizeof(s32));
			continue;
		}
		in = (struct rmt_inode *)p;
		lv = (s32 *)(in + ninner);
		rmt_unfold(src, n_out, in, lv, 0, 0, 0);
		t->ninner = (u32)ninner;
		t->inodes = in;
		t->ileaves = lv;
		t->nodes = NULL;
		t->leaf_off = NULL;
		t->leaves = NULL;
		p += rmt_align8(rmt_layout_bytes(t, n_out));
	}
	if (nw->ntrees == 1 && !nw->shift && nw->trees[0].inodes)
		nw->single_tree = 1 + (n_out > 1);
	rmt_kvfree(w);
	*wp = nw;
	return 0;
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

/* The arena an MLP or linear model of @sig (checked) takes: s32 weights and biases. */
static size_t rmt_mlp_arena_bytes(const struct rmt_model_sig *sig)
{
	size_t total = 0;
	u32 j;

	for (j = 0; j < sig->nlayers; j++) {
		const struct rmt_layer_sig *l = &sig->layers[j];
		bool conv = l->kind == RMT_LAYER_CONV1D;
		size_t n = conv ? (size_t)l->out_ch * l->in_ch * l->kernel :
				  (size_t)l->n_out * l->n_in;

		size_t wbytes = !conv && sig->weight_bits <= 16 ? 2 : 4;

		total += rmt_align4(n * wbytes) +
			 rmt_align4((size_t)(conv ? l->out_ch : l->n_out) * 4);
	}
	return total;
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
 * Below this many multiply-adds per inference the exact s64 loop is as fast
 * as the int32 and AVX2 paths or faster (measured: a 4 -> 1 linear model,
 * 12.8 ns exact, 14.2 int32, 16.3 AVX2), so the default uses them only on
 * models at least this big.
 */
#define RMT_FAST_MIN_MACS 64

/* Inference engines, best last; userspace tests and benchmarks may pick one. */
#ifdef RMT_MODEL_SIMD
static int rmt_model_isa_sel = -1;	/* -1: not yet chosen */
static bool rmt_model_isa_forced;	/* chosen by rmt_model_set_isa(): every model */

static int rmt_model_isa_best(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") ? RMT_MODEL_ISA_AVX2 : RMT_MODEL_ISA_INT32;
}

static int rmt_model_isa(void)
{
	int isa = READ_ONCE(rmt_model_isa_sel);

	if (unlikely(isa < 0)) {
		isa = rmt_model_isa_best();
		WRITE_ONCE(rmt_model_isa_sel, isa);
	}
	return isa;
}

int rmt_model_set_isa(int isa)
{
	int best = rmt_model_isa_best();

	if (isa > best)
		return -EOPNOTSUPP;
	WRITE_ONCE(rmt_model_isa_forced, isa >= 0);
	WRITE_ONCE(rmt_model_isa_sel, isa < 0 ? best : isa);
	return 0;
}

/* The engine for @w: small models keep the exact path unless a test forced one. */
static __always_inline int rmt_model_isa_for(const struct rmt_weights *w)
{
	return w->big || READ_ONCE(rmt_model_isa_forced) ? rmt_model_isa() :
							   RMT_MODEL_ISA_EXACT64;
}
#else
static __always_inline int rmt_model_isa_for(const struct rmt_weights *w)
{
	return w->big ? RMT_MODEL_ISA_INT32 : RMT_MODEL_ISA_EXACT64;
}
#endif

/*
 * Is every accumulator of layer @l provably an int32 when its inputs lie in
 * [-@x, @x]?  |b| + x * sum |w| over each row bounds every partial sum, in
 * any order (sum |w| <= 2^10 * 2^15 and x <= 2^31: no s64 overflow), so an
 * int32 sum is exact and never saturates: the same result as the s64 path.
 */
static bool rmt_layer_exact32(const struct rmt_wlayer *l, s64 x)
{
	const s16 *w = l->w16;
	u32 i, o;

	for (o = 0; o < l->n_out; o++, w += l->n_in) {
		s64 sum = 0, b = l->b[o];

		for (i = 0; i < l->n_in; i++)
			sum += w[i] < 0 ? -(s64)w[i] : w[i];
		if ((b < 0 ? -b : b) + x * sum > S32_MAX)
			return false;
	}
	return true;
}

#ifdef RMT_MODEL_SIMD
/* Bytes of a layer's AVX2 layout: per block of 8 outputs, 8 biases and one 32-byte row per input pair. */
static size_t rmt_pack_bytes(const struct rmt_wlayer *l)
{
	return (size_t)((l->n_out + 7) / 8) * (1 + (l->n_in + 1) / 2) * 32;
}

/*
 * The AVX2 layout of a dense layer.  Outputs go in blocks of 8 and blocks in
 * groups of two (the last group may hold one).  A group of nb blocks holds
 * its nb x 8 s32 biases, then for each input pair p, nb rows of the 8
 * outputs' weights for inputs 2p and 2p+1 interleaved (s16 [8][2]); zero
 * where there is no such output or input.  One vpmaddwd of a row with the
 * broadcast pair (x[2p], x[2p+1]) gives 8 outputs' partial sums for the pair.
 */
static void rmt_pack_layer(const struct rmt_wlayer *l, u8 *dst)
{
	u32 nblk = (l->n_out + 7) / 8, npair = (l->n_in + 1) / 2, g, nb, blk, p, o, k, out;
	s32 *bias;
	s16 *row;

	memset(dst, 0, rmt_pack_bytes(l));
	for (g = 0; g < nblk; g += 2) {
		nb = min_t(u32, 2, nblk - g);
		for (blk = g; blk < g + nb; blk++, dst += 32) {
			bias = (s32 *)dst;
			for (o = 0; o < 8 && blk * 8 + o < l->n_out; o++)
				bias[o] = l->b[blk * 8 + o];
		}
		for (p = 0; p < npair; p++) {
			for (blk = g; blk < g + nb; blk++, dst += 32) {
				row = (s16 *)dst;
				for (o = 0; o < 8 && blk * 8 + o < l->n_out; o++) {
					out = blk * 8 + o;
					for (k = 0; k < 2 && 2 * p + k < l->n_in; k++)
						row[2 * o + k] =
							l->w16[(size_t)out * l->n_in + 2 * p + k];
				}
			}
		}
	}
}
#endif

/*
 * After an MLP's parse: can inference accumulate in int32 (@w->fast), and
 * with AVX2 (the pack)?  Hidden layers see clamped inputs, so their bound
 * holds always; the first layer's holds when its inputs are in the declared
 * range, which inference checks before it takes the fast path.
 */
static int rmt_mlp_prepare(struct rmt_weights *w)
{
	s64 x = max_t(s64, -(s64)w->act_lo, w->act_hi);
	u64 macs = 0;
	u32 j;

	x = max_t(s64, x, -x);
	w->act16 = w->act_lo >= S16_MIN && w->act_hi <= S16_MAX;
	w->fast = 1;
	for (j = 0; j < w->nlayers; j++) {
		struct rmt_wlayer *l = &w->layers[j];

		macs += (u64)l->n_in * l->n_out;

		l->exact32 = l->w16 && rmt_layer_exact32(l, x);
		w->fast &= l->exact32;
	}
	w->big = macs >= RMT_FAST_MIN_MACS;
#ifdef RMT_MODEL_SIMD
	if (w->fast && w->act16 && rmt_model_isa_best() >= RMT_MODEL_ISA_AVX2) {
		size_t total = 0;
		u8 *p;

		for (j = 0; j < w->nlayers; j++)
			total += rmt_pack_bytes(&w->layers[j]);
		w->pack = rmt_kvmalloc(total, GFP_KERNEL);
		if (!w->pack)
			return -ENOMEM;
		p = w->pack;
		for (j = 0; j < w->nlayers; j++) {
			rmt_pack_layer(&w->layers[j], p);
			w->layers[j].wp = p;
			p += rmt_pack_bytes(&w->layers[j]);
		}
	}
#endif
	return 0;
}

int rmt_model_load(struct rmt_model_slot *slot, const struct rmt_model_sig *sig,
		   const void *blob, size_t len, u64 *version_out, char *err, size_t errlen)
{
	struct rmt_cursor c = { .buf = blob, .len = len, .err = err, .errlen = errlen };
	struct rmt_rec_weights_header h;
	struct rmt_weights *w, *old;
	size_t head, blen = min_t(size_t, len, RMT_MAX_WEIGHTS_SIZE);
	u64 version;
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
		rmt_errf(err, errlen, "weights: internal error: arena too small");
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
	mutex_lock(&slot->lock);
	version = h.model_version ? h.model_version : slot->version + 1;
	old = rcu_dereference_protected(slot->w, 1);
	rcu_assign_pointer(slot->w, w);
	WRITE_ONCE(slot->version, version);
	mutex_unlock(&slot->lock);
	if (old)
		call_rcu(&old->rcu, rmt_weights_free_rcu);
	if (version_out)
		*version_out = version;
	return 0;
nomem:
	rmt_weights_free(w);
	rmt_errf(err, errlen, "weights: out of memory");
	return -ENOMEM;
}

void rmt_model_slot_init(struct rmt_model_slot *slot)
{
	RCU_INIT_POINTER(slot->w, NULL);
	slot->version = 0;
	mutex_init(&slot->lock);
}

void rmt_model_slot_destroy(struct rmt_model_slot *slot)
{
	rmt_weights_free(rcu_dereference_protected(slot->w, 1));
	RCU_INIT_POINTER(slot->w, NULL);
	slot->version = 0;
	mutex_destroy(&slot->lock);
}

u64 rmt_model_version(struct rmt_model_slot *slot)
{
	return READ_ONCE(slot->version);
}

/* ------------------------------------------------------------------ inference */

/* Saturate to int32 (counting), shift arithmetically, apply ReLU: branch-free. */
static __always_inline s32 rmt_finish(s64 acc, u32 shift, u32 relu, u64 *ov)
{
	s64 c = acc;
	s32 y;

	*ov += (acc > S32_MAX) | (acc < S32_MIN);
	c = c > S32_MAX ? S32_MAX : c;
	c = c < S32_MIN ? S32_MIN : c;
	y = (s32)c >> shift;
	/* relu: y & ~(y >> 31) is max(0, y) */
	return relu ? y & ~(y >> 31) : y;
}

#ifdef __SIZEOF_INT128__
static __always_inline s64 rmt_clamp128(__int128 acc)
{
	/* only the int32 range matters: clamp to a value outside it */
	if (acc > S64_MAX)
		return S64_MAX;
	if (acc < S64_MIN)
		return S64_MIN;
	return (s64)acc;
}
#else
#error "the model engine needs __int128 for exact 32-bit weight accumulation"
#endif

static u64 rmt_dense(const struct rmt_wlayer *l, bool wide, const s32 *x, s32 *y)
{
	const u32 n_in = l->n_in, n_out = l->n_out, shift = l->shift, relu = l->relu;
	const s32 *w = l->w;
	u64 ov = 0;
	u32 i, j;

	if (unlikely(wide)) {
		for (j = 0; j < n_out; j++, w += n_in) {
			__int128 acc = l->b[j];

			for (i = 0; i < n_in; i++)
				acc += (s64)w[i] * x[i];
			y[j] = rmt_finish(rmt_clamp128(acc), shift, relu, &ov);
		}
		return ov;
	}
	if (l->w16) {
		const s16 *w16 = l->w16;

		for (j = 0; j < n_out; j++, w16 += n_in) {
			s64 acc = l->b[j];

			for (i = 0; i < n_in; i++)
				acc += (s64)w16[i] * x[i];
			y[j] = rmt_finish(acc, shift, relu, &ov);
		}
		return ov;
	}
	for (j = 0; j < n_out; j++, w += n_in) {
		s64 acc = l->b[j];

		for (i = 0; i < n_in; i++)
			acc += (s64)w[i] * x[i];
		y[j] = rmt_finish(acc, shift, relu, &ov);
	}
	return ov;
}

static u64 rmt_conv1d(const struct rmt_wlayer *l, bool wide, const s32 *x, s32 *y)
{
	const u32 cin = l->in_ch, k = l->kernel, cout = l->out_ch;
	u64 ov = 0;
	u32 s, o, kk, ch;

	for (s = 0; s < l->steps; s++) {
		const s32 *xs = x + (size_t)s * cin;

		for (o = 0; o < cout; o++) {
			const s32 *wo = l->w + (size_t)o * cin * k;
			__int128 wacc = l->b[o];
			s64 acc = l->b[o];

			for (kk = 0; kk < k; kk++) {
				for (ch = 0; ch < cin; ch++) {
					s64 p = (s64)wo[ch * k + kk] * xs[kk * cin + ch];

					if (wide)
						wacc += p;
					else
						acc += p;
				}
			}
			if (wide)
				acc = rmt_clamp128(wacc);
			y[(size_t)s * cout + o] = rmt_finish(acc, l->shift, l->relu, &ov);
		}
	}
	return ov;
}

/* Are the first layer's inputs in the range its exact32 bound assumed? */
static __always_inline bool rmt_in_range(const struct rmt_weights *w, const s32 *in)
{
	s32 lo = w->act_lo, hi = w->act_hi, bad = 0;
	u32 i;

	for (i = 0; i < w->n_in; i++)
		bad |= (in[i] < lo) | (in[i] > hi);
	return !bad;
}

/*
 * An MLP whose sums all fit in int32 (@w->fast, inputs in range): plain s32
 * multiply-adds (s16 weights), no saturation, the same results as
 * rmt_dense() since nothing saturates there either.
 */
static void rmt_mlp_int32(const struct rmt_weights *w, const s32 *in, s32 *out, s32 *scratch)
{
	const s32 *x = in;
	u32 i, j, o;

	for (j = 0; j < w->nlayers; j++) {
		const struct rmt_wlayer *l = &w->layers[j];
		const bool hidden = j + 1 < w->nlayers;
		s32 *y = hidden ? scratch + (j & 1) * (w->scratch_len / 2) : out;
		const s16 *wr = l->w16;

		for (o = 0; o < l->n_out; o++, wr += l->n_in) {
			s32 acc = l->b[o];

			for (i = 0; i < l->n_in; i++)
				acc += wr[i] * x[i];
			acc >>= l->shift;
			if (l->relu)
				acc = acc & ~(acc >> 31);
			if (hidden)
				acc = clamp_t(s32, acc, w->act_lo, w->act_hi);
			y[o] = acc;
		}
		x = y;
	}
}

#ifdef RMT_MODEL_SIMD
/* s16 activations of the AVX2 path (a pair past the end is read: +16) */
static __thread s16 rmt_x16[2][RMT_MAX_MODEL_IO + 16] __attribute__((aligned(32)));

/*
 * The int32 path with AVX2 on the layout of rmt_pack_layer(): per block of 8
 * outputs, one vpmaddwd + vpaddd per input pair.  Activations are s16 (the
 * declared range fits: @w->act16); vpmaddwd's pair sums wrap modulo 2^32
 * like the int32 adds, and the exact sums fit in int32, so the result is the
 * exact one.  Returns false, having written nothing to @out, when an input is
 * outside the declared range.
 */
/*
 * Shift, ReLU; then a hidden block is clamped and stored as s16 at @y, the
 * output block stored as s32 at @out (only the outputs that exist).
 */
__attribute__((target("avx2"), always_inline))
static inline void rmt_avx2_finish(__m256i acc, const struct rmt_wlayer *l, bool hidden,
				   __m256i vlo, __m256i vhi, u32 blk, s16 *y, s32 *out)
{
	acc = _mm256_sra_epi32(acc, _mm_cvtsi32_si128(l->shift));
	if (l->relu)
		acc = _mm256_max_epi32(acc, _mm256_setzero_si256());
	if (hidden) {
		acc = _mm256_min_epi32(_mm256_max_epi32(acc, vlo), vhi);
		acc = _mm256_permute4x64_epi64(_mm256_packs_epi32(acc, acc), 0x08);
		_mm_storeu_si128((__m128i *)(y + blk * 8), _mm256_castsi256_si128(acc));
	} else {
		/* not vpmaskmovd: its stores are slow on AMD (measured: +5 ns) */
		s32 v[8] __attribute__((aligned(32)));
		u32 o, left = min_t(u32, 8, l->n_out - blk * 8);

		_mm256_store_si256((__m256i *)v, acc);
		for (o = 0; o < left; o++)
			out[blk * 8 + o] = v[o];
	}
}

/* The pair (x[2p], x[2p+1]) broadcast to every 32-bit lane. */
__attribute__((target("avx2"), always_inline))
static inline __m256i rmt_avx2_pair(const s16 *x, u32 p)
{
	s32 pair;

	memcpy(&pair, x + 2 * p, 4);
	return _mm256_set1_epi32(pair);
}

/*
 * The int32 path with AVX2 on the layout of rmt_pack_layer().  Activations
 * are s16 (the declared range fits: @w->act16); vpmaddwd's pair sums wrap
 * modulo 2^32 like the int32 adds, and the exact sums fit in int32, so the
 * result is the exact one.  Returns false, having written nothing to @out,
 * when an input is outside the declared range.
 */
__attribute__((target("avx2")))
static bool rmt_mlp_avx2(const struct rmt_weights *w, const s32 *in, s32 *out)
{
	const __m256i vlo = _mm256_set1_epi32(w->act_lo), vhi = _mm256_set1_epi32(w->act_hi);
	__m256i bad = _mm256_setzero_si256();
	s16 *x = rmt_x16[0];
	u32 i, j, n = w->n_in;

	/*
	 * Check and narrow the inputs, 8 at a time, then one by one (not a
	 * vpmaskmovd load: slow on AMD, measured).  x[n] = 0 for an odd @n's
	 * last pair.
	 */
	for (i = 0; i + 8 <= n; i += 8) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(in + i));

		bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi32(vlo, v),
							   _mm256_cmpgt_epi32(v, vhi)));
		v = _mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0x08);
		_mm_storeu_si128((__m128i *)(x + i), _mm256_castsi256_si128(v));
	}
	for (; i < n; i++) {
		if (in[i] < w->act_lo || in[i] > w->act_hi)
			return false;
		x[i] = (s16)in[i];
	}
	x[n] = 0;
	if (!_mm256_testz_si256(bad, bad))
		return false;
	for (j = 0; j < w->nlayers; j++) {
		const struct rmt_wlayer *l = &w->layers[j];
		const bool hidden = j + 1 < w->nlayers;
		const u32 nblk = (l->n_out + 7) / 8, npair = (l->n_in + 1) / 2;
		const __m256i *pk = (const __m256i *)l->wp;
		s16 *y = rmt_x16[(j + 1) & 1];
		u32 blk, p;

		/* two blocks at a time: each pair is broadcast once for both */
		for (blk = 0; blk + 2 <= nblk; blk += 2) {
			__m256i a0 = _mm256_loadu_si256(pk), a1 = _mm256_loadu_si256(pk + 1);

			pk += 2;
			for (p = 0; p < npair; p++, pk += 2) {
				__m256i v = rmt_avx2_pair(x, p);

				a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(pk), v));
				a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256(pk + 1),
									     v));
			}
			rmt_avx2_finish(a0, l, hidden, vlo, vhi, blk, y, out);
			rmt_avx2_finish(a1, l, hidden, vlo, vhi, blk + 1, y, out);
		}
		if (blk < nblk) {
			__m256i a0 = _mm256_loadu_si256(pk++);

			for (p = 0; p < npair; p++, pk++)
				a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(pk),
									     rmt_avx2_pair(x, p)));
			rmt_avx2_finish(a0, l, hidden, vlo, vhi, blk, y, out);
		}
		if (hidden)
			y[l->n_out] = 0;
		x = y;
	}
	return true;
}
#endif

static noinline u64 rmt_run_mlp(const struct rmt_weights *w, const s32 *in, s32 *out,
				s32 *scratch)
{
	const s32 *x = in;
	u64 ov = 0;
	u32 j;

	if (w->fast) {
		int isa = rmt_model_isa_for(w);

#ifdef RMT_MODEL_SIMD
		if (w->pack && isa >= RMT_MODEL_ISA_AVX2 && rmt_mlp_avx2(w, in, out))
			return 0;
#endif
		if (isa >= RMT_MODEL_ISA_INT32 && rmt_in_range(w, in)) {
			rmt_mlp_int32(w, in, out, scratch);
			return 0;
		}
	}

	for (j = 0; j < w->nlayers; j++) {
		const struct rmt_wlayer *l = &w->layers[j];
		s32 *y = j + 1 == w->nlayers ? out : scratch + (j & 1) * (w->scratch_len / 2);

		if (l->kind == RMT_LAYER_CONV1D)
			ov += rmt_conv1d(l, w->wide, x, y);
		else
			ov += rmt_dense(l, w->wide, x, y);
		/*
		 * Hidden activations stay in the declared input range, so every
		 * layer's accumulator bound is provable from the signature alone.
		 */
		if (j + 1 < w->nlayers) {
			u32 k, n = l->n_out;

			for (k = 0; k < n; k++)
				y[k] = clamp_t(s32, y[k], w->act_lo, w->act_hi);
		}
		x = y;
	}
	return ov;
}

_Static_assert(RMT_MAX_TREE_DEPTH == 16, "rmt_implicit_walk() unrolls 16 levels");

/* One level of an implicit layout: 2i+1 when x[feature] <= threshold, else 2i+2. */
static __always_inline u32 rmt_level(const struct rmt_inode *in, const s32 *x, u32 idx)
{
	return 2 * idx + 1 + (x[in[idx].feature] > in[idx].threshold);
}

/* The leaf slot of @x in an implicit layout: exactly @t->steps levels. */
static __always_inline u32 rmt_implicit_walk(const struct rmt_wtree *t, const s32 *x)
{
	const struct rmt_inode *in = t->inodes;
	u32 idx = 0;

	/*
	 * Unrolled and entered by a jump on the depth: no loop counter and no
	 * data-dependent branch, the same instructions per level as a
	 * fixed-depth loop compiled for one tree.
	 */
	switch (t->steps) {
	case 16:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 15:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 14:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 13:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 12:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 11:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 10:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 9:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 8:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 7:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 6:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 5:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 4:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 3:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 2:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 1:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 0:
		break;
	default:
		/* the loader keeps steps <= RMT_MAX_TREE_DEPTH (16): no range check */
		__builtin_unreachable();
	}
	return idx - t->ninner;
}

static __always_inline const s32 *rmt_tree_walk(const struct rmt_wtree *t, const s32 *x,
						u32 n_out)
{
	const struct rmt_tnode *nodes = t->nodes;
	u32 idx = 0, s;

	if (likely(t->inodes))
		return t->ileaves + (size_t)rmt_implicit_walk(t, x) * n_out;
	for (s = 0; s < t->steps; s++) {
		const struct rmt_tnode *n = &nodes[idx];

		idx = n->next[x[n->feature] > n->threshold];
	}
	return t->leaves + t->leaf_off[idx];
}

static noinline u64 rmt_run_forest(const struct rmt_weights *w, const s32 *in, s32 *out,
				   s64 *sum)
{
	const u32 n_out = w->n_out;
	u64 ov = 0;
	u32 j, o;

	if (w->ntrees == 1 && !w->shift) {
		/* a tree: its leaf values are int32 already */
		const s32 *leaf = rmt_tree_walk(&w->trees[0], in, n_out);

		for (o = 0; o < n_out; o++)
			out[o] = leaf[o];
		return 0;
	}
	if (n_out == 1) {
		/* one output: the sum stays in a register */
		s64 acc = 0;

		for (j = 0; j < w->ntrees; j++)
			acc += *rmt_tree_walk(&w->trees[j], in, 1);
		out[0] = rmt_finish(acc >> w->shift, 0, 0, &ov);
		return ov;
	}
	for (o = 0; o < n_out; o++)
		sum[o] = 0;
	for (j = 0; j < w->ntrees; j++) {
		const s32 *leaf = rmt_tree_walk(&w->trees[j], in, n_out);

		for (o = 0; o < n_out; o++)
			sum[o] += leaf[o];
	}
	for (o = 0; o < n_out; o++)
		out[o] = rmt_finish(sum[o] >> w->shift, 0, 0, &ov);
	return ov;
}

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

int rmt_model_infer(struct rmt_model_slot *slot, const s32 *in, s32 *out, u64 *overflows)
{
	const struct rmt_weights *w;
	int ret = 0;

	rcu_read_lock();
	w = rcu_dereference(slot->w);
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
		   rmt_mlp_avx2(w, in, out)) {
		/* an MLP proved exact in int32, inputs in range: no overflow */
#endif
	} else if (w) {
		*overflows += rmt_infer_general(w, in, out);
	} else {
		ret = -ENOENT;
	}
	rcu_read_unlock();
	return ret;
}
