// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_table_lpm.c: LPM tables: a hash over the exact fields finds a group, a path-compressed
 * binary trie over the lpm field finds the longest prefix.
 */
#include "rmt_table_impl.h"

struct rmt_trie_node {
	struct rmt_trie_node __rcu *child[2];
	struct rmt_entry __rcu *entry;
	u64 value;				/* masked to plen */
	u64 mask;				/* the top plen bits of the field */
	u32 plen;
	struct rcu_head rcu;
};

struct rmt_lpm_group {
	struct rmt_lpm_group __rcu *next;	/* hash chain */
	struct rmt_trie_node __rcu *root;
	u32 hash;
	u32 nentries;
	struct rcu_head rcu;
	u64 ex[];				/* the exact fields, in key order */
};

static void rmt_trie_node_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_trie_node, rcu));
}

static void rmt_group_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_lpm_group, rcu));
}

static void rmt_trie_free(struct rmt_trie_node *n)
{
	if (!n)
		return;
	rmt_trie_free(rcu_dereference_protected(n->child[0], 1));
	rmt_trie_free(rcu_dereference_protected(n->child[1], 1));
	rmt_kfree(n);
}

/* LPM: the hash of the exact fields only. */
static __always_inline u32 rmt_hash_group(const struct rmt_table *t, const u64 *v)
{
	u64 h = RMT_HASH_SEED;
	u32 i;

	for (i = 0; i < t->s.nkeys; i++)
		if (i != t->lpm_key)
			h = rmt_mix(h, v[i]);
	return rmt_fold(h);
}

static __always_inline bool rmt_group_eq(const struct rmt_table *t, const struct rmt_lpm_group *g,
					 const u64 *k)
{
	u32 i, j = 0;

	for (i = 0; i < t->s.nkeys; i++) {
		if (i == t->lpm_key)
			continue;
		if (g->ex[j++] != k[i])
			return false;
	}
	return true;
}

static __always_inline struct rmt_lpm_group *rmt_find_group(struct rmt_table *t, const u64 *k,
							    u32 h)
{
	struct rmt_lpm_group *g;

	for (g = rcu_dereference(t->buckets[h & (t->nbuckets - 1)]); g;
	     g = rcu_dereference(g->next))
		if (g->hash == h && rmt_group_eq(t, g, k))
			return g;
	return NULL;
}

struct rmt_entry *rmt_lookup_lpm(struct rmt_table *t, const u64 *k)
{
	u32 bits = t->s.keys[t->lpm_key].bits;
	u64 key = k[t->lpm_key];
	struct rmt_entry *best = NULL, *e;
	struct rmt_trie_node *n;
	struct rmt_lpm_group *g;

	g = rmt_find_group(t, k, rmt_hash_group(t, k));
	if (!g)
		return NULL;
	for (n = rcu_dereference(g->root); n; ) {
		if ((key & n->mask) != n->value)
			break;
		e = rcu_dereference(n->entry);
		if (e)
			best = e;
		if (n->plen >= bits)
			break;
		n = rcu_dereference(n->child[(key >> (bits - 1 - n->plen)) & 1]);
	}
	return best;
}

static struct rmt_trie_node *rmt_trie_find(struct rmt_lpm_group *g, u32 bits, u64 value, u32 plen)
{
	struct rmt_trie_node *n = rcu_dereference_protected(g->root, 1);

	while (n && n->plen <= plen) {
		if ((value & n->mask) != n->value)
			return NULL;
		if (n->plen == plen)
			return n;
		n = rcu_dereference_protected(n->child[(value >> (bits - 1 - n->plen)) & 1], 1);
	}
	return NULL;
}

void rmt_locate_lpm(struct rmt_table *t, const struct rmt_match_field *m, const u64 *v,
		    struct rmt_loc *loc)
{
	u32 bits = t->s.keys[t->lpm_key].bits;

	loc->hash = rmt_hash_group(t, v);
	loc->group = rmt_find_group(t, v, loc->hash);
	if (!loc->group)
		return;
	loc->node = rmt_trie_find(loc->group, bits, m[t->lpm_key].a, (u32)m[t->lpm_key].b);
	if (loc->node)
		loc->found = rcu_dereference_protected(loc->node->entry, 1);
}

static struct rmt_trie_node *rmt_trie_node_new(u32 bits, u64 value, u32 plen,
					       struct rmt_entry *e)
{
	struct rmt_trie_node *n = rmt_kzalloc(sizeof(*n), GFP_KERNEL);

	if (!n)
		return NULL;
	n->plen = plen;
	n->mask = rmt_prefix_mask(bits, plen);
	n->value = value & n->mask;
	RCU_INIT_POINTER(n->entry, e);
	return n;
}

/* The number of leading bits (of @bits) in which @x and @y agree. */
static u32 rmt_common_prefix(u32 bits, u64 x, u64 y)
{
	u64 d = (x ^ y) << (64 - bits);

	return d ? (u32)__builtin_clzll(d) : bits;
}

/*
 * Insert @e (prefix @value/@plen, no node holds it yet) into @g's trie.  The
 * new nodes are complete before the single rcu_assign_pointer() that links
 * them.  Returns -ENOMEM with the trie unchanged.
 */
static int rmt_trie_insert(struct rmt_lpm_group *g, u32 bits, u64 value, u32 plen,
			   struct rmt_entry *e)
{
	struct rmt_trie_node __rcu **slot = &g->root;
	struct rmt_trie_node *n, *leaf, *im;
	u32 c;

	while ((n = rcu_dereference_protected(*slot, 1))) {
		c = rmt_common_prefix(bits, value, n->value);
		c = min_t(u32, c, min_t(u32, n->plen, plen));
		if (c == n->plen && c == plen) {
			/* an intermediate node already has this prefix */
			rcu_assign_pointer(n->entry, e);
			return 0;
		}
		if (c == n->plen) {
			slot = &n->child[(value >> (bits - 1 - n->plen)) & 1];
			continue;
		}
		leaf = rmt_trie_node_new(bits, value, plen, e);
		if (!leaf)
			return -ENOMEM;
		if (c == plen) {
			/* the new prefix sits above n */
			RCU_INIT_POINTER(leaf->child[(n->value >> (bits - 1 - plen)) & 1], n);
			rcu_assign_pointer(*slot, leaf);
			return 0;
		}
		/* they diverge at bit c: a new intermediate node holds both */
		im = rmt_trie_node_new(bits, value, c, NULL);
		if (!im) {
			rmt_kfree(leaf);
			return -ENOMEM;
		}
		RCU_INIT_POINTER(im->child[(value >> (bits - 1 - c)) & 1], leaf);
		RCU_INIT_POINTER(im->child[(n->value >> (bits - 1 - c)) & 1], n);
		rcu_assign_pointer(*slot, im);
		return 0;
	}
	leaf = rmt_trie_node_new(bits, value, plen, e);
	if (!leaf)
		return -ENOMEM;
	rcu_assign_pointer(*slot, leaf);
	return 0;
}

/*
 * Remove the entry of prefix @value/@plen from @g's trie and drop the nodes
 * that no longer hold an entry or a branch.  Cannot fail.
 */
static void rmt_trie_delete(struct rmt_lpm_group *g, u32 bits, u64 value, u32 plen)
{
	struct rmt_trie_node __rcu **slot = &g->root, **pslot = NULL;
	struct rmt_trie_node *n, *parent = NULL, *c0, *c1, *other;

	while ((n = rcu_dereference_protected(*slot, 1)) && n->plen < plen) {
		pslot = slot;
		parent = n;
		slot = &n->child[(value >> (bits - 1 - n->plen)) & 1];
	}
	if (!n)
		return;
	rcu_assign_pointer(n->entry, NULL);
	c0 = rcu_dereference_protected(n->child[0], 1);
	c1 = rcu_dereference_protected(n->child[1], 1);
	if (c0 && c1)
		return;		/* still a branch point */
	rcu_assign_pointer(*slot, c0 ? c0 : c1);
	call_rcu(&n->rcu, rmt_trie_node_free_rcu);
	if (c0 || c1 || !parent || rcu_dereference_protected(parent->entry, 1))
		return;
	/* the parent is now an intermediate node with a single child: splice it out */
	other = rcu_dereference_protected(parent->child[0], 1);
	if (!other)
		other = rcu_dereference_protected(parent->child[1], 1);
	rcu_assign_pointer(*pslot, other);
	call_rcu(&parent->rcu, rmt_trie_node_free_rcu);
}

int rmt_insert_lpm(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
			  char *err, size_t errlen)
{
	u32 bits = t->s.keys[t->lpm_key].bits, i, j = 0;
	struct rmt_lpm_group *g = loc->group;
	bool new_group = !g;
	int ret;

	if (new_group) {
		g = rmt_kzalloc(sizeof(*g) + t->s.nkeys * sizeof(u64), GFP_KERNEL);
		if (!g)
			goto nomem;
		g->hash = loc->hash;
		for (i = 0; i < t->s.nkeys; i++)
			if (i != t->lpm_key)
				g->ex[j++] = e->m[i].a;
	}
	ret = rmt_trie_insert(g, bits, e->m[t->lpm_key].a, (u32)e->m[t->lpm_key].b, e);
	if (ret) {
		if (new_group)
			rmt_kfree(g);
		goto nomem;
	}
	g->nentries++;
	e->group = g;
	if (new_group) {
		void __rcu **slot = &t->buckets[g->hash & (t->nbuckets - 1)];

		RCU_INIT_POINTER(g->next, rcu_dereference_protected(*slot, 1));
		rcu_assign_pointer(*slot, g);
	}
	return 0;
nomem:
	rmt_seterr(err, errlen, "out of memory");
	return -ENOMEM;
}

void rmt_delete_lpm(struct rmt_table *t, struct rmt_entry *e)
{
	struct rmt_lpm_group *g = e->group;

	rmt_trie_delete(g, t->s.keys[t->lpm_key].bits, e->m[t->lpm_key].a,
			(u32)e->m[t->lpm_key].b);
	if (!--g->nentries) {
		void __rcu **slot = &t->buckets[g->hash & (t->nbuckets - 1)];
		struct rmt_lpm_group *c;

		while ((c = rcu_dereference_protected(*slot, 1)) != g)
			slot = (void __rcu **)&c->next;
		rcu_assign_pointer(*slot, rcu_dereference_protected(g->next, 1));
		call_rcu(&g->rcu, rmt_group_free_rcu);
	}
}

/* Free every group and its trie now (the table is unreachable). */
void rmt_destroy_lpm(struct rmt_table *t)
{
	u32 i;

	for (i = 0; i < t->nbuckets; i++) {
		struct rmt_lpm_group *g, *gn;

		for (g = rcu_dereference_protected(t->buckets[i], 1); g; g = gn) {
			gn = rcu_dereference_protected(g->next, 1);
			rmt_trie_free(rcu_dereference_protected(g->root, 1));
			rmt_kfree(g);
		}
	}
}
