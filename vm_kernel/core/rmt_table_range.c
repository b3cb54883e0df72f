// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_table_range.c: RANGE tables (any range key): per tuple, groups of entries that
 * agree on every field but the ranges, each a weight-balanced search tree
 * over the first range field, copied on write and published under RCU.
 */
#include "rmt_table_impl.h"

/*
 * A search tree is at most log_1.5(nodes) + 1 high, nodes <= 2 * entries +
 * 1 (tombstones never outnumber entries for long: see rmt_rgroup_delete()),
 * so 48 levels is more than RMT_MAX_TABLE_ENTRIES needs (about 37).
 */
#define RMT_RTREE_MAX_HEIGHT 48

/*
 * RANGE: a node of a group's search tree, ordered by (lo, hi, priority,
 * seq) of its entry (unique: seq is).  @e is NULL once the entry is deleted.
 */
struct rmt_rnode {
	struct rmt_rnode __rcu *child[2];
	struct rmt_entry __rcu *e;
	u64 lo, hi;				/* the first range field of @e */
	u64 seq;
	u32 prio;
	u32 size;				/* writer: nodes in the subtree */
	u64 max_hi;				/* of the live entries in the subtree */
	u64 best_seq;				/* the subtree's best live entry, or */
	u32 best_prio;				/* (0, U64_MAX) when it has none */
	struct rmt_rnode *gc;			/* writer: garbage list */
	struct rcu_head rcu;
};

/* RANGE: the entries of one tuple that agree on every field but the ranges. */
struct rmt_rgroup {
	struct rmt_rgroup __rcu *next;		/* hash chain */
	struct rmt_rnode __rcu *root;
	const struct rmt_tuple *tuple;
	u32 hash;
	u32 nentries;				/* writer: live entries */
	u32 ntomb;				/* writer: tombstones in the tree */
	struct rcu_head rcu;
	u64 val[];				/* nkeys: the masked fields, ranges 0 */
};

/* Free a search tree now (no reader can reach it); recursion depth is its height. */
static void rmt_rtree_free(struct rmt_rnode *n)
{
	if (!n)
		return;
	rmt_rtree_free(rcu_dereference_protected(n->child[0], 1));
	rmt_rtree_free(rcu_dereference_protected(n->child[1], 1));
	rmt_kfree(n);
}

/* (prio a, seq a) beats (prio b, seq b): higher priority, then inserted first. */
static __always_inline bool rmt_beats(u32 pa, u64 sa, u32 pb, u64 sb)
{
	return pa > pb || (pa == pb && sa < sb);
}

/* The range fields other than the first (which the tree checked) contain @k. */
static __always_inline bool rmt_other_ranges(const struct rmt_table *t, const struct rmt_entry *e,
					     const u64 *k)
{
	u32 f = t->range_fields & ~(1u << t->r0), i;

	while (f) {
		i = __builtin_ctz(f);
		f &= f - 1;
		if (k[i] < e->m[i].a || k[i] > e->m[i].b)
			return false;
	}
	return true;
}

/*
 * The best entry of group @g containing @k that beats @best (which may be
 * NULL), or @best.  A depth-first walk that skips the subtrees whose ranges
 * all end below the key, whose best entry cannot beat the best so far, and
 * (the tree being ordered by lo) right subtrees of nodes starting above it.
 */
static struct rmt_entry *rmt_rtree_query(const struct rmt_table *t, const struct rmt_rgroup *g,
					 const u64 *k, struct rmt_entry *best)
{
	struct rmt_rnode *stack[RMT_RTREE_MAX_HEIGHT + 1], *n, *c;
	const u64 x = k[t->r0];
	const bool more = t->range_fields & (t->range_fields - 1);
	u32 sp = 0, bp = best ? best->priority : 0;
	u64 bs = best ? best->seq : U64_MAX;

	n = rcu_dereference(g->root);
	if (n)
		stack[sp++] = n;
	while (sp) {
		n = stack[--sp];
		if (n->max_hi < x || !rmt_beats(n->best_prio, n->best_seq, bp, bs))
			continue;
		if (n->lo <= x) {
			struct rmt_entry *e = rcu_dereference(n->e);

			if (e && x <= n->hi && rmt_beats(n->prio, n->seq, bp, bs) &&
			    (!more || rmt_other_ranges(t, e, k))) {
				best = e;
				bp = n->prio;
				bs = n->seq;
			}
			c = rcu_dereference(n->child[1]);
			/* a preorder walk holds at most one node per level and the next */
			if (c && sp < ARRAY_SIZE(stack))
				stack[sp++] = c;
		}
		c = rcu_dereference(n->child[0]);
		if (c && sp < ARRAY_SIZE(stack))
			stack[sp++] = c;
	}
	return best;
}

static __always_inline bool rmt_rgroup_eq(const struct rmt_table *t, const struct rmt_rgroup *g,
					  const struct rmt_tuple *tp, const u64 *k)
{
	u32 i;

	for (i = 0; i < t->s.nkeys; i++)
		if (!(t->range_fields & (1u << i)) && (k[i] & tp->mask[i]) != g->val[i])
			return false;
	return true;
}

static struct rmt_rgroup *rmt_find_rgroup(struct rmt_table *t, const struct rmt_tuple *tp,
					  const u64 *k, u32 h)
{
	struct rmt_rgroup *g;

	for (g = rcu_dereference(t->buckets[h & (t->nbuckets - 1)]); g;
	     g = rcu_dereference(g->next))
		if (g->hash == h && g->tuple == tp && rmt_rgroup_eq(t, g, tp, k))
			return g;
	return NULL;
}

struct rmt_entry *rmt_lookup_range(struct rmt_table *t, const u64 *k)
{
	struct rmt_tuple_vec *vec = rcu_dereference(t->tuples);
	struct rmt_entry *best = NULL;
	struct rmt_rgroup *g;
	u32 i;

	if (!vec)
		return NULL;
	for (i = 0; i < vec->n; i++) {
		const struct rmt_tuple *tp = vec->v[i].tuple;

		if (best && vec->v[i].max_prio < best->priority)
			break;
		g = rmt_find_rgroup(t, tp, k, rmt_hash_tuple(t, tp, k));
		if (g)
			best = rmt_rtree_query(t, g, k, best);
	}
	return best;
}

/* Order of (lo, hi, prio) against node @n, ignoring seq. */
static int rmt_rkey_cmp(u64 lo, u64 hi, u32 prio, const struct rmt_rnode *n)
{
	if (lo != n->lo)
		return lo < n->lo ? -1 : 1;
	if (hi != n->hi)
		return hi < n->hi ? -1 : 1;
	if (prio != n->prio)
		return prio < n->prio ? -1 : 1;
	return 0;
}

/*
 * The node of the live entry with match @m and priority @prio.  Entries with
 * equal (lo, hi, prio) differ in their other range fields and may sit on
 * both sides of each other: search both.  Recursion depth: the height.
 */
static struct rmt_rnode *rmt_rtree_find(const struct rmt_table *t, struct rmt_rnode *n,
					const struct rmt_match_field *m, u32 prio)
{
	const struct rmt_match_field *r = &m[t->r0];
	struct rmt_rnode *x;
	struct rmt_entry *e;
	int c;

	while (n) {
		c = rmt_rkey_cmp(r->a, r->b, prio, n);
		if (!c)
			break;
		n = rcu_dereference_protected(n->child[c > 0], 1);
	}
	if (!n)
		return NULL;
	e = rcu_dereference_protected(n->e, 1);
	if (e && rmt_match_eq(t, e->m, m))
		return n;
	x = rmt_rtree_find(t, rcu_dereference_protected(n->child[0], 1), m, prio);
	return x ? x : rmt_rtree_find(t, rcu_dereference_protected(n->child[1], 1), m, prio);
}

void rmt_locate_range(struct rmt_table *t, const struct rmt_match_field *m, const u64 *v,
		      u32 priority, struct rmt_loc *loc)
{
	loc->rgroup = rmt_find_rgroup(t, loc->tuple, v, loc->hash);
	if (loc->rgroup)
		loc->rnode = rmt_rtree_find(t, rcu_dereference_protected(loc->rgroup->root, 1),
					    m, priority);
	if (loc->rnode)
		loc->found = rcu_dereference_protected(loc->rnode->e, 1);
}

/* The tree order: (lo, hi, prio, seq). */
static int rmt_rnode_cmp(const struct rmt_rnode *a, const struct rmt_rnode *b)
{
	int c = rmt_rkey_cmp(a->lo, a->hi, a->prio, b);

	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Recompute @n's subtree size, largest live hi and best live entry. */
static void rmt_rnode_update(struct rmt_rnode *n)
{
	bool live = rcu_dereference_protected(n->e, 1);
	struct rmt_rnode *c;
	u32 k;

	n->size = 1;
	n->max_hi = live ? n->hi : 0;
	n->best_prio = live ? n->prio : 0;
	n->best_seq = live ? n->seq : U64_MAX;
	for (k = 0; k < 2; k++) {
		c = rcu_dereference_protected(n->child[k], 1);
		if (!c)
			continue;
		n->size += c->size;
		n->max_hi = max_t(u64, n->max_hi, c->max_hi);
		if (rmt_beats(c->best_prio, c->best_seq, n->best_prio, n->best_seq)) {
			n->best_prio = c->best_prio;
			n->best_seq = c->best_seq;
		}
	}
}

static void rmt_rnode_chain_free_rcu(struct rcu_head *head)
{
	struct rmt_rnode *n = container_of(head, struct rmt_rnode, rcu), *next;

	for (; n; n = next) {
		next = n->gc;
		rmt_kfree(n);
	}
}

static void rmt_gc_add(struct rmt_rnode **gc, struct rmt_rnode *n)
{
	n->gc = *gc;
	*gc = n;
}

static void rmt_gc_subtree(struct rmt_rnode **gc, struct rmt_rnode *n)
{
	if (!n)
		return;
	rmt_gc_subtree(gc, rcu_dereference_protected(n->child[0], 1));
	rmt_gc_subtree(gc, rcu_dereference_protected(n->child[1], 1));
	rmt_gc_add(gc, n);
}

/* Free the unlinked nodes on @gc after a grace period (one callback for all). */
static void rmt_gc_commit(struct rmt_rnode *gc)
{
	if (gc)
		call_rcu(&gc->rcu, rmt_rnode_chain_free_rcu);
}

/* The live nodes of a subtree, in order. */
static void rmt_rcollect(struct rmt_rnode *n, struct rmt_rnode **out, u32 *cnt)
{
	if (!n)
		return;
	rmt_rcollect(rcu_dereference_protected(n->child[0], 1), out, cnt);
	if (rcu_dereference_protected(n->e, 1))
		out[(*cnt)++] = n;
	rmt_rcollect(rcu_dereference_protected(n->child[1], 1), out, cnt);
}

/* Nodes allocated before an update starts, so it cannot fail half done. */
struct rmt_rpool {
	struct rmt_rnode **v;
	u32 n, used;
};

static int rmt_rpool_fill(struct rmt_rpool *p, u32 n)
{
	p->used = 0;
	p->n = 0;
	p->v = rmt_kvcalloc(n, sizeof(*p->v), GFP_KERNEL);
	if (!p->v)
		return -ENOMEM;
	for (; p->n < n; p->n++) {
		p->v[p->n] = rmt_kzalloc(sizeof(struct rmt_rnode), GFP_KERNEL);
		if (!p->v[p->n])
			return -ENOMEM;		/* rmt_rpool_release() frees the rest */
	}
	return 0;
}

static void rmt_rpool_release(struct rmt_rpool *p)
{
	while (p->used < p->n)
		rmt_kfree(p->v[p->used++]);
	rmt_kvfree(p->v);
	p->v = NULL;
}

/* A node for the entry of @src (a node, or the template of a new entry). */
static struct rmt_rnode *rmt_rnode_from(struct rmt_rpool *p, const struct rmt_rnode *src)
{
	struct rmt_rnode *n = p->v[p->used++];

	n->lo = src->lo;
	n->hi = src->hi;
	n->seq = src->seq;
	n->prio = src->prio;
	RCU_INIT_POINTER(n->e, rcu_dereference_protected(src->e, 1));
	return n;
}

/* A perfectly balanced tree of @items (in order); recursion depth log2(@n). */
static struct rmt_rnode *rmt_rbuild(struct rmt_rnode *const *items, u32 n, struct rmt_rpool *p)
{
	struct rmt_rnode *nn;
	u32 mid = n / 2;

	if (!n)
		return NULL;
	nn = rmt_rnode_from(p, items[mid]);
	RCU_INIT_POINTER(nn->child[0], rmt_rbuild(items, mid, p));
	RCU_INIT_POINTER(nn->child[1], rmt_rbuild(items + mid + 1, n - mid - 1, p));
	rmt_rnode_update(nn);
	return nn;
}

/*
 * An insert, planned and allocated before anything changes: the path from
 * the root, the highest node on it that the insert would unbalance (@s,
 * rebuilt with everything below it; -1: none), the nodes it needs.
 */
struct rmt_rplan {
	struct rmt_rnode *path[RMT_RTREE_MAX_HEIGHT];
	u8 dir[RMT_RTREE_MAX_HEIGHT];
	u32 d;
	int s;
	struct rmt_rnode tmpl;		/* the new entry's key and entry */
	struct rmt_rnode **items;	/* the rebuild's nodes, in order */
	struct rmt_rpool pool;
};

/* A child outweighs its parent 2:1 (the weight balance the height bound rests on). */
static bool rmt_unbalanced(u32 size, u32 a, u32 b)
{
	return 3 * (u64)max_t(u32, a, b) > 2 * (u64)size;
}

static u32 rmt_rsize(struct rmt_rnode *n)
{
	return n ? n->size : 0;
}

static int rmt_rplan_insert(const struct rmt_table *t, struct rmt_rnode *root,
			    struct rmt_entry *e, struct rmt_rplan *pl)
{
	struct rmt_rnode *n = root;
	u32 i, need;

	memset(&pl->tmpl, 0, sizeof(pl->tmpl));
	pl->tmpl.lo = e->m[t->r0].a;
	pl->tmpl.hi = e->m[t->r0].b;
	pl->tmpl.seq = e->seq;
	pl->tmpl.prio = e->priority;
	RCU_INIT_POINTER(pl->tmpl.e, e);
	pl->items = NULL;
	pl->d = 0;
	pl->s = -1;
	while (n) {
		if (pl->d == RMT_RTREE_MAX_HEIGHT) {
			/* cannot happen (see RMT_RTREE_MAX_HEIGHT); if it did, rebuild all */
			pl->s = 0;
			pl->d = 1;
			break;
		}
		pl->path[pl->d] = n;
		pl->dir[pl->d] = rmt_rnode_cmp(&pl->tmpl, n) > 0;
		n = rcu_dereference_protected(n->child[pl->dir[pl->d]], 1);
		pl->d++;
	}
	for (i = 0; i < pl->d && pl->s < 0; i++) {
		struct rmt_rnode *p = pl->path[i];
		u32 on = i + 1 < pl->d ? pl->path[i + 1]->size + 1 : 1;
		u32 off = rmt_rsize(rcu_dereference_protected(p->child[!pl->dir[i]], 1));

		if (rmt_unbalanced(p->size + 1, on, off))
			pl->s = (int)i;
	}
	if (pl->s >= 0) {
		need = pl->path[pl->s]->size + 1;
		pl->items = rmt_kvcalloc(need, sizeof(*pl->items), GFP_KERNEL);
		if (!pl->items)
			return -ENOMEM;
		need += pl->s;
	} else {
		need = pl->d + 1;
	}
	if (rmt_rpool_fill(&pl->pool, need)) {
		rmt_rpool_release(&pl->pool);
		rmt_kvfree(pl->items);
		return -ENOMEM;
	}
	return 0;
}

static void rmt_rplan_abort(struct rmt_rplan *pl)
{
	rmt_rpool_release(&pl->pool);
	rmt_kvfree(pl->items);
}

/* Carry out a plan on @g: cannot fail.  Unlinked nodes go on @gc. */
static void rmt_rplan_commit(struct rmt_rgroup *g, struct rmt_rplan *pl, struct rmt_rnode **gc)
{
	struct rmt_rnode *cur, *nn, *p;
	u32 top, cnt = 0, lo, hi;
	int i;

	if (pl->s >= 0) {
		struct rmt_rnode *sub = pl->path[pl->s];

		rmt_rcollect(sub, pl->items, &cnt);
		/* binary search for the new entry's place: items are in order */
		for (lo = 0, hi = cnt; lo < hi; ) {
			u32 mid = (lo + hi) / 2;

			if (rmt_rnode_cmp(pl->items[mid], &pl->tmpl) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(&pl->items[lo + 1], &pl->items[lo], (cnt - lo) * sizeof(*pl->items));
		pl->items[lo] = &pl->tmpl;
		g->ntomb -= sub->size - cnt;	/* the rebuild drops the tombstones */
		cur = rmt_rbuild(pl->items, cnt + 1, &pl->pool);
		rmt_gc_subtree(gc, sub);
		top = pl->s;
	} else {
		cur = rmt_rnode_from(&pl->pool, &pl->tmpl);
		rmt_rnode_update(cur);
		top = pl->d;
	}
	for (i = (int)top - 1; i >= 0; i--) {
		p = pl->path[i];
		nn = rmt_rnode_from(&pl->pool, p);
		RCU_INIT_POINTER(nn->child[pl->dir[i]], cur);
		RCU_INIT_POINTER(nn->child[!pl->dir[i]],
				 rcu_dereference_protected(p->child[!pl->dir[i]], 1));
		rmt_rnode_update(nn);
		rmt_gc_add(gc, p);
		cur = nn;
	}
	rcu_assign_pointer(g->root, cur);
	rmt_rplan_abort(pl);	/* frees what the plan over-allocated */
}

/* Rebuild @g's whole tree without its tombstones; on -ENOMEM keep it as it is. */
static void rmt_rgroup_compact(struct rmt_rgroup *g, struct rmt_rnode **gc)
{
	struct rmt_rnode *root = rcu_dereference_protected(g->root, 1), **items;
	struct rmt_rpool pool;
	u32 cnt = 0;

	items = rmt_kvcalloc(g->nentries, sizeof(*items), GFP_KERNEL);
	if (!items)
		return;
	if (rmt_rpool_fill(&pool, g->nentries)) {
		rmt_rpool_release(&pool);
		rmt_kvfree(items);
		return;
	}
	rmt_rcollect(root, items, &cnt);
	rcu_assign_pointer(g->root, rmt_rbuild(items, cnt, &pool));
	g->ntomb = 0;
	rmt_gc_subtree(gc, root);
	rmt_rpool_release(&pool);
	rmt_kvfree(items);
}

static void rmt_rgroup_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_rgroup, rcu));
}

/* Delete the entry of node @n from group @g.  Cannot fail. */
static void rmt_rgroup_delete(struct rmt_table *t, struct rmt_rgroup *g, struct rmt_rnode *n)
{
	struct rmt_rnode *gc = NULL;

	rcu_assign_pointer(n->e, NULL);
	g->nentries--;
	g->ntomb++;
	if (!g->nentries) {
		void __rcu **slot = &t->buckets[g->hash & (t->nbuckets - 1)];
		struct rmt_rgroup *c;

		while ((c = rcu_dereference_protected(*slot, 1)) != g)
			slot = (void __rcu **)&c->next;
		rcu_assign_pointer(*slot, rcu_dereference_protected(g->next, 1));
		rmt_gc_subtree(&gc, rcu_dereference_protected(g->root, 1));
		rmt_gc_commit(gc);
		call_rcu(&g->rcu, rmt_rgroup_free_rcu);
		return;
	}
	if (g->ntomb > g->nentries)
		rmt_rgroup_compact(g, &gc);
	rmt_gc_commit(gc);
}

int rmt_insert_range(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
			    char *err, size_t errlen)
{
	struct rmt_rgroup *g = loc->rgroup, *ng = NULL;
	struct rmt_rnode *gc = NULL;
	struct rmt_rplan *pl;
	u32 i;
	int ret;

	pl = rmt_kmalloc(sizeof(*pl), GFP_KERNEL);
	if (!g)
		ng = rmt_kzalloc(sizeof(*ng) + t->s.nkeys * sizeof(u64), GFP_KERNEL);
	if (!pl || (!g && !ng) ||
	    rmt_rplan_insert(t, g ? rcu_dereference_protected(g->root, 1) : NULL, e, pl)) {
		rmt_kfree(pl);
		rmt_kfree(ng);
		rmt_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* the tuple (new, or with a new best priority) is published first */
	ret = rmt_insert_prio(t, loc, e, err, errlen);
	if (ret) {
		rmt_rplan_abort(pl);
		rmt_kfree(pl);
		rmt_kfree(ng);
		return ret;
	}
	if (ng) {
		g = ng;
		g->tuple = e->tuple;
		g->hash = e->hash;
		for (i = 0; i < t->s.nkeys; i++)
			g->val[i] = t->range_fields & (1u << i) ? 0 : e->m[i].a;
	}
	rmt_rplan_commit(g, pl, &gc);
	rmt_kfree(pl);
	g->nentries++;
	e->rgroup = g;
	if (ng) {
		void __rcu **slot = &t->buckets[g->hash & (t->nbuckets - 1)];

		RCU_INIT_POINTER(g->next, rcu_dereference_protected(*slot, 1));
		rcu_assign_pointer(*slot, g);
	}
	rmt_gc_commit(gc);
	return 0;
}

void rmt_delete_range(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e)
{
	rmt_rgroup_delete(t, loc->rgroup, loc->rnode);
	rmt_delete_prio(t, e);
}

/* Free every group and its search tree now (the table is unreachable). */
void rmt_destroy_range(struct rmt_table *t)
{
	u32 i;

	for (i = 0; i < t->nbuckets; i++) {
		struct rmt_rgroup *g, *gn;

		for (g = rcu_dereference_protected(t->buckets[i], 1); g; g = gn) {
			gn = rcu_dereference_protected(g->next, 1);
			rmt_rtree_free(rcu_dereference_protected(g->root, 1));
			rmt_kfree(g);
		}
	}
}
