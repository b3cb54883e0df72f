// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_model_tree.c: decision trees and forests: their load (parse, implicit layout)
 * and their walk.
 */
#include "rmt_model_impl.h"

#define rmt_node_where(where, j, i) snprintf((where), sizeof(where), "tree %u node %u", (j), (i))

#define rmt_nerr(c, where, j, i, ...) \
	do { \
		rmt_node_where(where, j, i); \
		rmt_werr(c, where, __VA_ARGS__); \
	} while (0)

int rmt_read_tree(struct rmt_cursor *c, struct rmt_weights *w,
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
int rmt_tree_compact(struct rmt_weights **wp, size_t head)
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

/* ------------------------------------------------------------------ inference */

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

u64 rmt_run_forest(const struct rmt_weights *w, const s32 *in, s32 *out,
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
