// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_table.c: match-action tables (docs/semantics.md, "Tables (APPLY)").
 *
 * A table is in one of three classes, fixed by its keys:
 *
 *  EXACT  only exact keys.  One hash table over all fields; a lookup is one
 *         hash and one chain walk: O(1) expected.
 *  LPM    one lpm key and any exact keys.  A hash table over the exact fields
 *         finds a group; each group holds a path-compressed binary trie over
 *         the lpm field (like kernel/bpf/lpm_trie.c).  A lookup is one hash
 *         probe, then a walk down the trie remembering the last node with an
 *         entry: O(W) in the field width W, in practice O(log n) nodes.
 *  PRIO   any ternary or range key: selection by priority, ties to the entry
 *         inserted first.  Tuple-space search: the entries are grouped into
 *         tuples by their mask vector (exact: all ones, lpm: the prefix mask,
 *         ternary: the mask, range: none), and one hash over (tuple, key &
 *         mask) finds candidates.  The tuples are probed in order of the best
 *         priority each holds, and the search stops when the next tuple
 *         cannot beat the best match found.  Each hash chain is sorted by
 *         (priority desc, insertion asc), so the first candidate that matches
 *         is the best of its tuple.
 *  RANGE  any range key: priorities and tuples as in PRIO, but range fields
 *         are not hashed, so one hash probe per tuple finds a group: the
 *         entries of that tuple that agree on every other field (a table
 *         whose keys are all ranges has one group).  A group keeps its
 *         entries in a search tree ordered by the first range field's
 *         (lo, hi), each node carrying its subtree's largest hi and best
 *         (priority, insertion rank): a lookup descends only into subtrees
 *         that can hold a range containing the key and can beat the best
 *         match so far, O(log n) for disjoint ranges.  The tree is weight
 *         balanced with partial rebuilding (an insert rebuilds the highest
 *         subtree on its path that a child outweighs 2:1), so its height
 *         is at most log_1.5(n) + 1 and updates cost O(log n) amortized.
 *         Published nodes are immutable except for their entry pointer:
 *         an insert copies its path (and any rebuilt subtree) and publishes
 *         the new root with one rcu_assign_pointer(), the replaced nodes
 *         are freed after a grace period.  A delete cannot fail, so it only
 *         clears the node's entry pointer (a tombstone, which lookups skip);
 *         the next rebuild that covers the node drops it, and the group
 *         rebuilds itself when tombstones outnumber its entries.
 *
 * All classes share one bucket array sized from max_entries (no resizing, so
 * readers never see a rehash).  Entries are immutable once published except
 * for their action/parameter block, which modify replaces as a whole under
 * RCU; the hit counter lives in the entry, so it survives modify.  Updates
 * are serialised by t->lock; every new object is complete before one
 * rcu_assign_pointer() publishes it, and every unlinked object is freed with
 * call_rcu(), so a lookup sees an update entirely or not at all.  The writer
 * keeps the entries on a list in insertion order for the dump and, in PRIO
 * tables, on a per-tuple list to recompute the tuple's best priority.
 */
#include "rmt_table.h"
#include "rmt_alloc.h"

/*
 * Local fallback until rmt_compat.h maps this_cpu_inc() in userspace: there
 * every thread shares per-CPU slot 0, so the increment must be atomic.
 */
#ifndef this_cpu_inc
#define this_cpu_inc(var) __atomic_add_fetch(&(var), 1, __ATOMIC_RELAXED)
#define rmt_pcpu_counter(p) (*per_cpu_ptr((p), raw_smp_processor_id()))
#else
#define rmt_pcpu_counter(p) (*(p))
#endif

#define rmt_errf(err, errlen, ...) \
	do { \
		if ((err) && (errlen)) \
			snprintf((err), (errlen), __VA_ARGS__); \
	} while (0)

enum rmt_table_class {
	RMT_CLASS_EXACT,
	RMT_CLASS_LPM,
	RMT_CLASS_PRIO,
	RMT_CLASS_RANGE,
};

#define RMT_MAX_BUCKETS (1u << 18)
#define RMT_HASH_SEED 0x243f6a8885a308d3ull

/* The action and parameters of an entry: replaced as a whole by modify. */
struct rmt_action_data {
	struct rcu_head rcu;
	u16 action;
	u8 params[];
};

struct rmt_tuple;

struct rmt_entry {
	struct rmt_entry __rcu *next;		/* hash chain: EXACT and PRIO */
	struct rmt_action_data __rcu *data;
	atomic64_t hits;
	u32 hash;
	u32 priority;
	u64 seq;				/* insertion rank: ties go to the lower */
	const struct rmt_tuple *tuple;		/* PRIO: the tuple it belongs to */
	/* writer side, under t->lock */
	struct rmt_entry *prev_ins, *next_ins;	/* insertion order */
	struct rmt_entry *prev_tup, *next_tup;	/* PRIO: same tuple */
	struct rmt_lpm_group *group;		/* LPM: its group */
	struct rmt_rgroup *rgroup;		/* RANGE: its group */
	struct rcu_head rcu;
	struct rmt_match_field m[];		/* normal form, nkeys fields */
};

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

struct rmt_tuple {
	u64 mask[RMT_MAX_KEYS];			/* range fields: 0 (not hashed) */
	u32 max_prio;				/* writer: best priority held */
	u32 nentries;
	struct rmt_entry *first;		/* writer: its entries */
	struct rcu_head rcu;
};

/* The tuples in probe order, published as a whole. */
struct rmt_tuple_vec {
	struct rcu_head rcu;
	u32 n;
	struct {
		const struct rmt_tuple *tuple;
		u32 max_prio;
	} v[];
};

struct rmt_table {
	struct rmt_table_schema s;
	enum rmt_table_class cls;
	u32 lpm_key;			/* LPM: index of the lpm field */
	u32 r0;				/* RANGE: index of the first range field */
	u32 range_fields;		/* PRIO: bit i set when key i is a range */
	u64 width[RMT_MAX_KEYS];	/* per key: the mask of its bits */
	u32 nbuckets;			/* a power of two */
	void __rcu **buckets;		/* entries (EXACT, PRIO) or groups (LPM) */
	struct rmt_tuple_vec __rcu *tuples;
	u64 __percpu *hits;
	u64 __percpu *misses;
	/* writer side, under lock */
	struct mutex lock;
	u32 count;
	u64 next_seq;
	struct rmt_entry *first, *last;
	u32 ntuples, tuple_cap;
	struct rmt_tuple **tuple_list;	/* PRIO: every tuple, any order */
};

/* ------------------------------------------------------------------ helpers */

static __always_inline u64 rmt_mix(u64 h, u64 v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static __always_inline u32 rmt_fold(u64 h)
{
	h *= 0xff51afd7ed558ccdull;
	return (u32)(h >> 32);
}

static inline u64 rmt_width_mask(u32 bits)
{
	return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

/* The top @plen bits of a @bits-wide field. */
static inline u64 rmt_prefix_mask(u32 bits, u32 plen)
{
	if (!plen)
		return 0;
	return (~0ull << (bits - plen)) & rmt_width_mask(bits);
}

static inline bool rmt_is_prio(const struct rmt_table *t)
{
	return t->cls == RMT_CLASS_PRIO || t->cls == RMT_CLASS_RANGE;
}

static size_t rmt_entry_size(const struct rmt_table *t)
{
	return sizeof(struct rmt_entry) + t->s.nkeys * sizeof(struct rmt_match_field);
}

static void rmt_action_data_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_action_data, rcu));
}

static void rmt_entry_free(struct rmt_entry *e)
{
	rmt_kfree(rcu_dereference_protected(e->data, 1));
	rmt_kfree(e);
}

static void rmt_entry_free_rcu(struct rcu_head *head)
{
	rmt_entry_free(container_of(head, struct rmt_entry, rcu));
}

static void rmt_trie_node_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_trie_node, rcu));
}

static void rmt_group_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_lpm_group, rcu));
}

static void rmt_tuple_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_tuple, rcu));
}

static void rmt_tuple_vec_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_tuple_vec, rcu));
}

/* ------------------------------------------------------------------ create */

static int rmt_schema_check(const struct rmt_table_schema *s, char *err, size_t errlen)
{
	u32 i, nlpm = 0, nprio = 0;

	if (s->nkeys > RMT_MAX_KEYS) {
		rmt_errf(err, errlen, "table has %u keys, the limit is %u", s->nkeys,
			 RMT_MAX_KEYS);
		return -EINVAL;
	}
	if (s->max_entries < 1 || s->max_entries > RMT_MAX_TABLE_ENTRIES) {
		rmt_errf(err, errlen, "max_entries %u is outside 1..%u", s->max_entries,
			 RMT_MAX_TABLE_ENTRIES);
		return -EINVAL;
	}
	if (s->nactions < 1 || s->nactions > RMT_MAX_ACTIONS) {
		rmt_errf(err, errlen, "table has %u actions, outside 1..%u", s->nactions,
			 RMT_MAX_ACTIONS);
		return -EINVAL;
	}
	if (s->default_action >= s->nactions) {
		rmt_errf(err, errlen, "default action %u is outside 0..%u", s->default_action,
			 s->nactions - 1);
		return -EINVAL;
	}
	if (s->param_size > RMT_MAX_PARAM_SIZE) {
		rmt_errf(err, errlen, "param_size %u is over %u", s->param_size,
			 RMT_MAX_PARAM_SIZE);
		return -EINVAL;
	}
	for (i = 0; i < s->nactions; i++) {
		if (s->action_param_size[i] > s->param_size) {
			rmt_errf(err, errlen, "action %u takes %u parameter bytes, over the table's %u",
				 i, s->action_param_size[i], s->param_size);
			return -EINVAL;
		}
	}
	for (i = 0; i < s->nkeys; i++) {
		if (s->keys[i].kind > RMT_MATCH_RANGE) {
			rmt_errf(err, errlen, "key %u has unknown match kind %u", i, s->keys[i].kind);
			return -EINVAL;
		}
		if (s->keys[i].bits < 1 || s->keys[i].bits > 64) {
			rmt_errf(err, errlen, "key %u is %u bits wide, outside 1..64", i,
				 s->keys[i].bits);
			return -EINVAL;
		}
		nlpm += s->keys[i].kind == RMT_MATCH_LPM;
		nprio += s->keys[i].kind == RMT_MATCH_TERNARY || s->keys[i].kind == RMT_MATCH_RANGE;
	}
	if (!nprio && nlpm > 1) {
		rmt_errf(err, errlen, "table has %u lpm keys and no ternary or range key; at most one lpm key is allowed",
			 nlpm);
		return -EINVAL;
	}
	return 0;
}

int rmt_table_create(const struct rmt_table_schema *schema, struct rmt_table **out,
		     char *err, size_t errlen)
{
	struct rmt_table *t;
	u32 i, nb;
	int ret;

	*out = NULL;
	ret = rmt_schema_check(schema, err, errlen);
	if (ret)
		return ret;
	t = rmt_kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		goto nomem;
	t->s = *schema;
	memset(t->s.default_params + t->s.param_size, 0,
	       RMT_MAX_PARAM_SIZE - t->s.param_size);
	t->cls = RMT_CLASS_EXACT;
	for (i = 0; i < schema->nkeys; i++) {
		u8 kind = schema->keys[i].kind;

		t->width[i] = rmt_width_mask(schema->keys[i].bits);
		if (kind == RMT_MATCH_LPM && t->cls == RMT_CLASS_EXACT) {
			t->cls = RMT_CLASS_LPM;
			t->lpm_key = i;
		}
		if (kind == RMT_MATCH_RANGE)
			t->range_fields |= 1u << i;
	}
	for (i = 0; i < schema->nkeys; i++)
		if (schema->keys[i].kind == RMT_MATCH_TERNARY)
			t->cls = RMT_CLASS_PRIO;
	if (t->range_fields) {
		t->cls = RMT_CLASS_RANGE;
		t->r0 = __builtin_ctz(t->range_fields);
	}

	for (nb = 16; nb < schema->max_entries && nb < RMT_MAX_BUCKETS; nb <<= 1)
		;
	t->nbuckets = nb;
	t->buckets = rmt_kvcalloc(nb, sizeof(*t->buckets), GFP_KERNEL);
	t->hits = rmt_alloc_percpu(u64);
	t->misses = rmt_alloc_percpu(u64);
	if (!t->buckets || !t->hits || !t->misses)
		goto nomem;
	mutex_init(&t->lock);
	*out = t;
	return 0;
nomem:
	if (t) {
		rmt_kvfree(t->buckets);
		rmt_free_percpu(t->hits);
		rmt_free_percpu(t->misses);
		rmt_kfree(t);
	}
	rmt_errf(err, errlen, "out of memory creating the table");
	return -ENOMEM;
}

static void rmt_trie_free(struct rmt_trie_node *n)
{
	if (!n)
		return;
	rmt_trie_free(rcu_dereference_protected(n->child[0], 1));
	rmt_trie_free(rcu_dereference_protected(n->child[1], 1));
	rmt_kfree(n);
}

/* Free a search tree now (no reader can reach it); recursion depth is its height. */
static void rmt_rtree_free(struct rmt_rnode *n)
{
	if (!n)
		return;
	rmt_rtree_free(rcu_dereference_protected(n->child[0], 1));
	rmt_rtree_free(rcu_dereference_protected(n->child[1], 1));
	rmt_kfree(n);
}

void rmt_table_destroy(struct rmt_table *t)
{
	struct rmt_entry *e, *next;
	u32 i;

	if (!t)
		return;
	for (e = t->first; e; e = next) {
		next = e->next_ins;
		rmt_entry_free(e);
	}
	if (t->cls == RMT_CLASS_LPM) {
		for (i = 0; i < t->nbuckets; i++) {
			struct rmt_lpm_group *g, *gn;

			for (g = rcu_dereference_protected(t->buckets[i], 1); g; g = gn) {
				gn = rcu_dereference_protected(g->next, 1);
				rmt_trie_free(rcu_dereference_protected(g->root, 1));
				rmt_kfree(g);
			}
		}
	}
	if (t->cls == RMT_CLASS_RANGE) {
		for (i = 0; i < t->nbuckets; i++) {
			struct rmt_rgroup *g, *gn;

			for (g = rcu_dereference_protected(t->buckets[i], 1); g; g = gn) {
				gn = rcu_dereference_protected(g->next, 1);
				rmt_rtree_free(rcu_dereference_protected(g->root, 1));
				rmt_kfree(g);
			}
		}
	}
	for (i = 0; i < t->ntuples; i++)
		rmt_kfree(t->tuple_list[i]);
	rmt_kfree(t->tuple_list);
	rmt_kfree(rcu_dereference_protected(t->tuples, 1));
	mutex_destroy(&t->lock);
	rmt_kvfree(t->buckets);
	rmt_free_percpu(t->hits);
	rmt_free_percpu(t->misses);
	rmt_kfree(t);
}

const struct rmt_table_schema *rmt_table_schema_of(const struct rmt_table *t)
{
	return &t->s;
}

/* ------------------------------------------------------------------ hashing */

static __always_inline u32 rmt_hash_exact(const struct rmt_table *t, const u64 *v)
{
	u64 h = RMT_HASH_SEED;
	u32 i;

	for (i = 0; i < t->s.nkeys; i++)
		h = rmt_mix(h, v[i]);
	return rmt_fold(h);
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

/* PRIO: the hash of (tuple, key & mask) over the fields that are not ranges. */
static __always_inline u32 rmt_hash_tuple(const struct rmt_table *t, const struct rmt_tuple *tp,
					  const u64 *v)
{
	u64 h = RMT_HASH_SEED ^ (u64)(uintptr_t)tp;
	u32 i;

	for (i = 0; i < t->s.nkeys; i++)
		h = rmt_mix(h, v[i] & tp->mask[i]);
	return rmt_fold(h);
}

/* ------------------------------------------------------------------ lookup */

static __always_inline struct rmt_entry *rmt_lookup_exact(struct rmt_table *t, const u64 *k)
{
	u32 h = rmt_hash_exact(t, k), i;
	struct rmt_entry *e;

	for (e = rcu_dereference(t->buckets[h & (t->nbuckets - 1)]); e;
	     e = rcu_dereference(e->next)) {
		if (e->hash != h)
			continue;
		for (i = 0; i < t->s.nkeys; i++)
			if (e->m[i].a != k[i])
				break;
		if (i == t->s.nkeys)
			return e;
	}
	return NULL;
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

static __always_inline struct rmt_entry *rmt_lookup_lpm(struct rmt_table *t, const u64 *k)
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

static __always_inline bool rmt_prio_match(const struct rmt_table *t, const struct rmt_entry *e,
					   const struct rmt_tuple *tp, const u64 *k)
{
	u32 i;

	for (i = 0; i < t->s.nkeys; i++) {
		if (t->range_fields & (1u << i)) {
			if (k[i] < e->m[i].a || k[i] > e->m[i].b)
				return false;
		} else if ((k[i] & tp->mask[i]) != e->m[i].a) {
			return false;
		}
	}
	return true;
}

static struct rmt_entry *rmt_lookup_prio(struct rmt_table *t, const u64 *k)
{
	struct rmt_tuple_vec *vec = rcu_dereference(t->tuples);
	struct rmt_entry *best = NULL, *e;
	u32 i, h;

	if (!vec)
		return NULL;
	for (i = 0; i < vec->n; i++) {
		const struct rmt_tuple *tp = vec->v[i].tuple;

		if (best && vec->v[i].max_prio < best->priority)
			break;
		h = rmt_hash_tuple(t, tp, k);
		for (e = rcu_dereference(t->buckets[h & (t->nbuckets - 1)]); e;
		     e = rcu_dereference(e->next)) {
			/* chains are sorted by (priority desc, seq asc) */
			if (best && (e->priority < best->priority ||
				     (e->priority == best->priority && e->seq > best->seq)))
				break;
			if (e->tuple != tp || e->hash != h || !rmt_prio_match(t, e, tp, k))
				continue;
			best = e;
			break;
		}
	}
	return best;
}

/*
 * A search tree is at most log_1.5(nodes) + 1 high, nodes <= 2 * entries +
 * 1 (tombstones never outnumber entries for long: see rmt_rgroup_delete()),
 * so 48 levels is more than RMT_MAX_TABLE_ENTRIES needs (about 37).
 */
#define RMT_RTREE_MAX_HEIGHT 48

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

static struct rmt_entry *rmt_lookup_range(struct rmt_table *t, const u64 *k)
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

bool rmt_table_lookup(struct rmt_table *t, const u64 *key, u16 *action, const u8 **params)
{
	u64 k[RMT_MAX_KEYS] = { 0 };
	struct rmt_action_data *d;
	struct rmt_entry *e;
	u32 i;

	for (i = 0; i < t->s.nkeys; i++)
		k[i] = key[i] & t->width[i];
	switch (t->cls) {
	case RMT_CLASS_EXACT:
		e = rmt_lookup_exact(t, k);
		break;
	case RMT_CLASS_LPM:
		e = rmt_lookup_lpm(t, k);
		break;
	case RMT_CLASS_RANGE:
		e = rmt_lookup_range(t, k);
		break;
	default:
		e = rmt_lookup_prio(t, k);
		break;
	}
	if (!e) {
		this_cpu_inc(rmt_pcpu_counter(t->misses));
		*action = t->s.default_action;
		*params = t->s.default_params;
		return false;
	}
	atomic64_inc(&e->hits);
	this_cpu_inc(rmt_pcpu_counter(t->hits));
	d = rcu_dereference(e->data);
	*action = d->action;
	*params = d->params;
	return true;
}

/* ------------------------------------------------------------------ control plane */

/*
 * Check @spec against the schema and write its match in normal form to @m.
 * @full: also check priority, action and parameters (insert, modify); delete
 * names an entry by its match (and priority) only.
 */
static int rmt_spec_check(const struct rmt_table *t, const struct rmt_entry_spec *spec,
			  struct rmt_match_field *m, bool full, char *err, size_t errlen)
{
	u32 i, psize;

	if (spec->nkeys != t->s.nkeys) {
		rmt_errf(err, errlen, "entry has %u match fields, the table has %u keys",
			 spec->nkeys, t->s.nkeys);
		return -EINVAL;
	}
	for (i = 0; i < t->s.nkeys; i++) {
		u8 kind = t->s.keys[i].kind;
		u32 bits = t->s.keys[i].bits;
		u64 a = spec->match[i].a, b = spec->match[i].b, w = t->width[i];

		if (a > w) {
			rmt_errf(err, errlen, "match field %u: %s %llu is wider than the %u-bit key",
				 i, kind == RMT_MATCH_RANGE ? "lo" : "value",
				 (unsigned long long)a, bits);
			return -EINVAL;
		}
		switch (kind) {
		case RMT_MATCH_EXACT:
			if (b) {
				rmt_errf(err, errlen, "match field %u: exact match has nonzero second word %llu",
					 i, (unsigned long long)b);
				return -EINVAL;
			}
			m[i].a = a;
			m[i].b = 0;
			break;
		case RMT_MATCH_LPM:
			if (b > bits) {
				rmt_errf(err, errlen, "match field %u: prefix length %llu is outside 0..%u",
					 i, (unsigned long long)b, bits);
				return -EINVAL;
			}
			m[i].a = a & rmt_prefix_mask(bits, (u32)b);
			m[i].b = b;
			break;
		case RMT_MATCH_TERNARY:
			if (b > w) {
				rmt_errf(err, errlen, "match field %u: mask %llu is wider than the %u-bit key",
					 i, (unsigned long long)b, bits);
				return -EINVAL;
			}
			m[i].a = a & b;
			m[i].b = b;
			break;
		default:
			if (b > w) {
				rmt_errf(err, errlen, "match field %u: hi %llu is wider than the %u-bit key",
					 i, (unsigned long long)b, bits);
				return -EINVAL;
			}
			if (a > b) {
				rmt_errf(err, errlen, "match field %u: range %llu..%llu has lo > hi", i,
					 (unsigned long long)a, (unsigned long long)b);
				return -EINVAL;
			}
			m[i].a = a;
			m[i].b = b;
			break;
		}
	}
	if (!full)
		return 0;
	if (rmt_is_prio(t)) {
		if (spec->priority > RMT_PRIORITY_MAX) {
			rmt_errf(err, errlen, "priority %u is outside 0..%u", spec->priority,
				 RMT_PRIORITY_MAX);
			return -EINVAL;
		}
	} else if (spec->priority) {
		rmt_errf(err, errlen, "priority %u given, but the table has no ternary or range key",
			 spec->priority);
		return -EINVAL;
	}
	if (spec->action >= t->s.nactions) {
		rmt_errf(err, errlen, "action index %u is outside 0..%u", spec->action,
			 t->s.nactions - 1);
		return -EINVAL;
	}
	psize = t->s.action_param_size[spec->action];
	for (i = psize; i < RMT_MAX_PARAM_SIZE; i++) {
		if (spec->params[i]) {
			rmt_errf(err, errlen, "parameter byte %u is nonzero, action %u takes %u bytes",
				 i, spec->action, psize);
			return -EINVAL;
		}
	}
	return 0;
}

static bool rmt_match_eq(const struct rmt_table *t, const struct rmt_match_field *x,
			 const struct rmt_match_field *y)
{
	u32 i;

	for (i = 0; i < t->s.nkeys; i++)
		if (x[i].a != y[i].a || x[i].b != y[i].b)
			return false;
	return true;
}

/*
 * Where an entry with this identity lives, or would live.  Filled by
 * rmt_locate() under t->lock.
 */
struct rmt_loc {
	struct rmt_entry *found;
	u32 hash;
	/* EXACT, PRIO: the chain slot @found hangs from (or the insertion slot) */
	struct rmt_entry __rcu **slot;
	/* LPM */
	struct rmt_lpm_group *group;
	struct rmt_trie_node *node;		/* the node holding exactly the prefix */
	/* PRIO, RANGE */
	struct rmt_tuple *tuple;		/* NULL when no tuple has this mask */
	u64 mask[RMT_MAX_KEYS];
	/* RANGE */
	struct rmt_rgroup *rgroup;		/* NULL when no group has these fields */
	struct rmt_rnode *rnode;		/* the node of @found */
};

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

static void rmt_tuple_mask(const struct rmt_table *t, const struct rmt_match_field *m, u64 *mask)
{
	u32 i;

	for (i = 0; i < RMT_MAX_KEYS; i++) {
		mask[i] = 0;
		if (i >= t->s.nkeys)
			continue;
		switch (t->s.keys[i].kind) {
		case RMT_MATCH_EXACT:
			mask[i] = t->width[i];
			break;
		case RMT_MATCH_LPM:
			mask[i] = rmt_prefix_mask(t->s.keys[i].bits, (u32)m[i].b);
			break;
		case RMT_MATCH_TERNARY:
			mask[i] = m[i].b;
			break;
		default:
			break;
		}
	}
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

static void rmt_locate(struct rmt_table *t, const struct rmt_match_field *m, u32 priority,
		       struct rmt_loc *loc)
{
	u64 v[RMT_MAX_KEYS];
	struct rmt_entry *e;
	u32 i;

	memset(loc, 0, sizeof(*loc));
	for (i = 0; i < t->s.nkeys; i++)
		v[i] = m[i].a;
	if (t->cls == RMT_CLASS_EXACT) {
		loc->hash = rmt_hash_exact(t, v);
		loc->slot = (struct rmt_entry __rcu **)&t->buckets[loc->hash & (t->nbuckets - 1)];
		for (; (e = rcu_dereference_protected(*loc->slot, 1)); loc->slot = &e->next) {
			if (e->hash == loc->hash && rmt_match_eq(t, e->m, m)) {
				loc->found = e;
				return;
			}
		}
		return;
	}
	if (t->cls == RMT_CLASS_LPM) {
		u32 bits = t->s.keys[t->lpm_key].bits;

		loc->hash = rmt_hash_group(t, v);
		loc->group = rmt_find_group(t, v, loc->hash);
		if (!loc->group)
			return;
		loc->node = rmt_trie_find(loc->group, bits, m[t->lpm_key].a, (u32)m[t->lpm_key].b);
		if (loc->node)
			loc->found = rcu_dereference_protected(loc->node->entry, 1);
		return;
	}
	/* PRIO */
	rmt_tuple_mask(t, m, loc->mask);
	for (i = 0; i < t->ntuples; i++) {
		if (!memcmp(t->tuple_list[i]->mask, loc->mask, sizeof(loc->mask))) {
			loc->tuple = t->tuple_list[i];
			break;
		}
	}
	if (!loc->tuple)
		return;
	loc->hash = rmt_hash_tuple(t, loc->tuple, v);
	if (t->cls == RMT_CLASS_RANGE) {
		loc->rgroup = rmt_find_rgroup(t, loc->tuple, v, loc->hash);
		if (loc->rgroup)
			loc->rnode = rmt_rtree_find(t, rcu_dereference_protected(loc->rgroup->root, 1),
						    m, priority);
		if (loc->rnode)
			loc->found = rcu_dereference_protected(loc->rnode->e, 1);
		return;
	}
	/* the chain is sorted by priority: entries of this priority are together */
	for (e = rcu_dereference_protected(t->buckets[loc->hash & (t->nbuckets - 1)], 1);
	     e && e->priority >= priority; e = rcu_dereference_protected(e->next, 1)) {
		if (e->priority == priority && e->tuple == loc->tuple && e->hash == loc->hash &&
		    rmt_match_eq(t, e->m, m)) {
			loc->found = e;
			return;
		}
	}
}

static struct rmt_action_data *rmt_action_data_new(const struct rmt_table *t,
						    const struct rmt_entry_spec *spec)
{
	struct rmt_action_data *d = rmt_kzalloc(sizeof(*d) + t->s.param_size, GFP_KERNEL);

	if (!d)
		return NULL;
	d->action = spec->action;
	memcpy(d->params, spec->params, t->s.param_size);
	return d;
}

/*
 * Publish a new probe order in which @tp, just added or with a new max_prio,
 * sits at its place (@gone: from which @tp, just removed, is absent); free
 * the old order after a grace period.
 *
 * The published order is sorted by max_prio, descending, and only @tp has
 * changed since it was published, so one pass over it builds the new one:
 * copy it without @tp and put @tp back before the first tuple of a lower
 * max_prio.  O(n), where sorting was O(n log n): every insert into a
 * ternary/range table that adds a tuple or raises one's max_prio publishes,
 * and entries with distinct masks make a tuple each (an O(n^2) sort here
 * made 8000 inserts take minutes under the table mutex: found by
 * tools/fuzz/fuzz_table).  Ties may go in any order: lookups compare
 * entries' seq across tuples.
 *
 * The copied max_prio values are those of the tuples: every change of a
 * tuple's max_prio is published here or undone when this fails.
 */
static int rmt_publish_tuples(struct rmt_table *t, const struct rmt_tuple *tp, bool gone)
{
	struct rmt_tuple_vec *vec, *old = rcu_dereference_protected(t->tuples, 1);
	u32 i, n = 0, cap = (old ? old->n : 0) + 1;	/* at most the old order and @tp */
	bool placed = gone;

	vec = rmt_kzalloc(sizeof(*vec) + cap * sizeof(vec->v[0]), GFP_KERNEL);
	if (!vec)
		return -ENOMEM;
	for (i = 0; old && i < old->n; i++) {
		if (old->v[i].tuple == tp)
			continue;
		if (!placed && old->v[i].max_prio < tp->max_prio) {
			vec->v[n].tuple = tp;
			vec->v[n++].max_prio = tp->max_prio;
			placed = true;
		}
		vec->v[n++] = old->v[i];
	}
	if (!placed) {
		vec->v[n].tuple = tp;
		vec->v[n++].max_prio = tp->max_prio;
	}
	vec->n = n;
	rcu_assign_pointer(t->tuples, vec);
	if (old)
		call_rcu(&old->rcu, rmt_tuple_vec_free_rcu);
	return 0;
}

static void rmt_ins_list_add(struct rmt_table *t, struct rmt_entry *e)
{
	e->prev_ins = t->last;
	e->next_ins = NULL;
	if (t->last)
		t->last->next_ins = e;
	else
		t->first = e;
	t->last = e;
}

static void rmt_ins_list_del(struct rmt_table *t, struct rmt_entry *e)
{
	if (e->prev_ins)
		e->prev_ins->next_ins = e->next_ins;
	else
		t->first = e->next_ins;
	if (e->next_ins)
		e->next_ins->prev_ins = e->prev_ins;
	else
		t->last = e->prev_ins;
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

/* Insert into a chain sorted by (priority desc, seq asc): after every entry not worse. */
static void rmt_chain_insert_sorted(struct rmt_table *t, struct rmt_entry *e)
{
	struct rmt_entry __rcu **slot = (struct rmt_entry __rcu **)
		&t->buckets[e->hash & (t->nbuckets - 1)];
	struct rmt_entry *c;

	while ((c = rcu_dereference_protected(*slot, 1)) && c->priority >= e->priority)
		slot = &c->next;
	RCU_INIT_POINTER(e->next, c);
	rcu_assign_pointer(*slot, e);
}

static void rmt_chain_unlink(struct rmt_table *t, struct rmt_entry *e)
{
	struct rmt_entry __rcu **slot = (struct rmt_entry __rcu **)
		&t->buckets[e->hash & (t->nbuckets - 1)];
	struct rmt_entry *c;

	while ((c = rcu_dereference_protected(*slot, 1)) && c != e)
		slot = &c->next;
	if (c)
		rcu_assign_pointer(*slot, rcu_dereference_protected(e->next, 1));
}

/* ------------------------------------------------------------------ RANGE trees */

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

static int rmt_insert_prio(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
			   char *err, size_t errlen);

static int rmt_insert_range(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
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
		rmt_errf(err, errlen, "out of memory");
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

static int rmt_insert_prio(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
			   char *err, size_t errlen)
{
	struct rmt_tuple *tp = loc->tuple;
	bool new_tuple = !tp;
	u32 old_max = 0;
	u64 v[RMT_MAX_KEYS];
	u32 i;

	if (new_tuple) {
		if (t->ntuples == t->tuple_cap) {
			u32 cap = t->tuple_cap ? 2 * t->tuple_cap : 8;
			struct rmt_tuple **l = rmt_kmalloc_array(cap, sizeof(*l), GFP_KERNEL);

			if (!l)
				goto nomem;
			if (t->ntuples)
				memcpy(l, t->tuple_list, t->ntuples * sizeof(*l));
			rmt_kfree(t->tuple_list);
			t->tuple_list = l;
			t->tuple_cap = cap;
		}
		tp = rmt_kzalloc(sizeof(*tp), GFP_KERNEL);
		if (!tp)
			goto nomem;
		memcpy(tp->mask, loc->mask, sizeof(tp->mask));
		t->tuple_list[t->ntuples++] = tp;
	} else {
		old_max = tp->max_prio;
	}
	if (new_tuple || e->priority > tp->max_prio) {
		tp->max_prio = e->priority;
		if (rmt_publish_tuples(t, tp, false)) {
			tp->max_prio = old_max;
			if (new_tuple) {
				t->ntuples--;
				rmt_kfree(tp);
			}
			goto nomem;
		}
	}
	for (i = 0; i < t->s.nkeys; i++)
		v[i] = e->m[i].a;
	e->tuple = tp;
	e->hash = rmt_hash_tuple(t, tp, v);
	e->next_tup = tp->first;
	if (tp->first)
		tp->first->prev_tup = e;
	tp->first = e;
	tp->nentries++;
	if (t->cls == RMT_CLASS_PRIO)
		rmt_chain_insert_sorted(t, e);
	return 0;
nomem:
	rmt_errf(err, errlen, "out of memory");
	return -ENOMEM;
}

static int rmt_insert_lpm(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
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
	rmt_errf(err, errlen, "out of memory");
	return -ENOMEM;
}

int rmt_table_insert(struct rmt_table *t, const struct rmt_entry_spec *spec,
		     char *err, size_t errlen)
{
	struct rmt_match_field m[RMT_MAX_KEYS];
	struct rmt_action_data *d;
	struct rmt_entry *e;
	struct rmt_loc loc;
	int ret;

	ret = rmt_spec_check(t, spec, m, true, err, errlen);
	if (ret)
		return ret;
	mutex_lock(&t->lock);
	rmt_locate(t, m, spec->priority, &loc);
	if (loc.found) {
		rmt_errf(err, errlen, "an entry with this match%s exists",
			 rmt_is_prio(t) ? " and priority" : "");
		ret = -EEXIST;
		goto out;
	}
	if (t->count >= t->s.max_entries) {
		rmt_errf(err, errlen, "full (%u entries)", t->s.max_entries);
		ret = -ENOSPC;
		goto out;
	}
	e = rmt_kzalloc(rmt_entry_size(t), GFP_KERNEL);
	d = rmt_action_data_new(t, spec);
	if (!e || !d) {
		rmt_kfree(e);
		rmt_kfree(d);
		rmt_errf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	memcpy(e->m, m, t->s.nkeys * sizeof(m[0]));
	RCU_INIT_POINTER(e->data, d);
	atomic64_set(&e->hits, 0);
	e->priority = spec->priority;
	e->seq = t->next_seq;

	switch (t->cls) {
	case RMT_CLASS_EXACT:
		e->hash = loc.hash;
		RCU_INIT_POINTER(e->next, NULL);
		/* loc.slot is the chain's NULL tail: append */
		rcu_assign_pointer(*loc.slot, e);
		break;
	case RMT_CLASS_LPM:
		ret = rmt_insert_lpm(t, &loc, e, err, errlen);
		break;
	case RMT_CLASS_RANGE:
		ret = rmt_insert_range(t, &loc, e, err, errlen);
		break;
	default:
		ret = rmt_insert_prio(t, &loc, e, err, errlen);
		break;
	}
	if (ret) {
		rmt_entry_free(e);
		goto out;
	}
	t->next_seq++;
	t->count++;
	rmt_ins_list_add(t, e);
out:
	mutex_unlock(&t->lock);
	return ret;
}

int rmt_table_modify(struct rmt_table *t, const struct rmt_entry_spec *spec,
		     char *err, size_t errlen)
{
	struct rmt_match_field m[RMT_MAX_KEYS];
	struct rmt_action_data *d, *old;
	struct rmt_loc loc;
	int ret;

	ret = rmt_spec_check(t, spec, m, true, err, errlen);
	if (ret)
		return ret;
	mutex_lock(&t->lock);
	rmt_locate(t, m, spec->priority, &loc);
	if (!loc.found) {
		rmt_errf(err, errlen, "no such entry to modify");
		ret = -ENOENT;
		goto out;
	}
	d = rmt_action_data_new(t, spec);
	if (!d) {
		rmt_errf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	old = rcu_dereference_protected(loc.found->data, 1);
	rcu_assign_pointer(loc.found->data, d);
	call_rcu(&old->rcu, rmt_action_data_free_rcu);
out:
	mutex_unlock(&t->lock);
	return ret;
}

static void rmt_delete_prio(struct rmt_table *t, struct rmt_entry *e)
{
	struct rmt_tuple *tp = (struct rmt_tuple *)e->tuple;
	struct rmt_entry *x;
	u32 i, max = 0;

	if (t->cls == RMT_CLASS_PRIO)
		rmt_chain_unlink(t, e);
	if (e->prev_tup)
		e->prev_tup->next_tup = e->next_tup;
	else
		tp->first = e->next_tup;
	if (e->next_tup)
		e->next_tup->prev_tup = e->prev_tup;
	tp->nentries--;
	if (!tp->nentries) {
		for (i = 0; i < t->ntuples; i++)
			if (t->tuple_list[i] == tp)
				break;
		t->tuple_list[i] = t->tuple_list[--t->ntuples];
		/*
		 * If the new order cannot be allocated, the old one (which still
		 * lists this tuple) stays published: keep the empty tuple alive in
		 * it rather than free it under a reader.  It is harmless, only a
		 * wasted probe, and is retried on the next update.
		 */
		if (rmt_publish_tuples(t, tp, true)) {
			t->tuple_list[t->ntuples++] = tp;
			return;
		}
		call_rcu(&tp->rcu, rmt_tuple_free_rcu);
		return;
	}
	if (e->priority < tp->max_prio)
		return;
	for (x = tp->first; x; x = x->next_tup)
		max = max_t(u32, max, x->priority);
	if (max == tp->max_prio)
		return;
	tp->max_prio = max;
	/* a stale (higher) bound is still correct, only prunes less: ignore -ENOMEM */
	if (rmt_publish_tuples(t, tp, false))
		tp->max_prio = e->priority;
}

int rmt_table_delete(struct rmt_table *t, const struct rmt_entry_spec *spec,
		     char *err, size_t errlen)
{
	struct rmt_match_field m[RMT_MAX_KEYS];
	struct rmt_entry *e;
	struct rmt_loc loc;
	int ret;

	ret = rmt_spec_check(t, spec, m, false, err, errlen);
	if (ret)
		return ret;
	mutex_lock(&t->lock);
	rmt_locate(t, m, rmt_is_prio(t) ? spec->priority : 0, &loc);
	e = loc.found;
	if (!e) {
		rmt_errf(err, errlen, "no such entry to delete");
		ret = -ENOENT;
		goto out;
	}
	switch (t->cls) {
	case RMT_CLASS_EXACT:
		rcu_assign_pointer(*loc.slot, rcu_dereference_protected(e->next, 1));
		break;
	case RMT_CLASS_LPM: {
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
		break;
	}
	case RMT_CLASS_RANGE:
		rmt_rgroup_delete(t, loc.rgroup, loc.rnode);
		rmt_delete_prio(t, e);
		break;
	default:
		rmt_delete_prio(t, e);
		break;
	}
	rmt_ins_list_del(t, e);
	t->count--;
	call_rcu(&e->rcu, rmt_entry_free_rcu);
out:
	mutex_unlock(&t->lock);
	return ret;
}

/* ------------------------------------------------------------------ reading */

static void rmt_entry_to_dump(const struct rmt_table *t, const struct rmt_entry *e,
			      struct rmt_entry_dump *out)
{
	const struct rmt_action_data *d = rcu_dereference_protected(e->data, 1);

	memset(out, 0, sizeof(*out));
	out->spec.priority = e->priority;
	out->spec.action = d->action;
	out->spec.nkeys = t->s.nkeys;
	memcpy(out->spec.match, e->m, t->s.nkeys * sizeof(e->m[0]));
	memcpy(out->spec.params, d->params, t->s.param_size);
	out->hits = (u64)atomic64_read(&e->hits);
}

int rmt_table_for_each(struct rmt_table *t, rmt_table_dump_fn fn, void *arg)
{
	struct rmt_entry_dump rec;
	struct rmt_entry *e;
	int ret = 0;

	mutex_lock(&t->lock);
	for (e = t->first; e && !ret; e = e->next_ins) {
		rmt_entry_to_dump(t, e, &rec);
		ret = fn(arg, &rec);
	}
	mutex_unlock(&t->lock);
	return ret;
}

u32 rmt_table_dump(struct rmt_table *t, u32 start, struct rmt_entry_dump *out, u32 max)
{
	struct rmt_entry *e;
	u32 i = 0, n = 0;

	mutex_lock(&t->lock);
	for (e = t->first; e && n < max; e = e->next_ins, i++)
		if (i >= start)
			rmt_entry_to_dump(t, e, &out[n++]);
	mutex_unlock(&t->lock);
	return n;
}

u32 rmt_table_count(struct rmt_table *t)
{
	u32 n;

	mutex_lock(&t->lock);
	n = t->count;
	mutex_unlock(&t->lock);
	return n;
}

void rmt_table_stats(struct rmt_table *t, u64 *hits, u64 *misses)
{
	u64 h = 0, m = 0;
	int cpu;

	for_each_possible_cpu(cpu) {
		h += READ_ONCE(*per_cpu_ptr(t->hits, cpu));
		m += READ_ONCE(*per_cpu_ptr(t->misses, cpu));
	}
	if (hits)
		*hits = h;
	if (misses)
		*misses = m;
}
