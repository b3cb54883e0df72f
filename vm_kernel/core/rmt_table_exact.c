// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_table_exact.c: EXACT tables: one hash table over all fields.
 */
#include "rmt_table_impl.h"

static __always_inline u32 rmt_hash_exact(const struct rmt_table *t, const u64 *v)
{
	u64 h = RMT_HASH_SEED;
	u32 i;

	for (i = 0; i < t->s.nkeys; i++)
		h = rmt_mix(h, v[i]);
	return rmt_fold(h);
}

struct rmt_entry *rmt_lookup_exact(struct rmt_table *t, const u64 *k)
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

void rmt_locate_exact(struct rmt_table *t, const struct rmt_match_field *m, const u64 *v,
		      struct rmt_loc *loc)
{
	struct rmt_entry *e;

	loc->hash = rmt_hash_exact(t, v);
	loc->slot = (struct rmt_entry __rcu **)&t->buckets[loc->hash & (t->nbuckets - 1)];
	for (; (e = rcu_dereference_protected(*loc->slot, 1)); loc->slot = &e->next) {
		if (e->hash == loc->hash && rmt_match_eq(t, e->m, m)) {
			loc->found = e;
			return;
		}
	}
}

void rmt_insert_exact(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e)
{
	e->hash = loc->hash;
	RCU_INIT_POINTER(e->next, NULL);
	/* loc->slot is the chain's NULL tail: append */
	rcu_assign_pointer(*loc->slot, e);
}

void rmt_delete_exact(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e)
{
	rcu_assign_pointer(*loc->slot, rcu_dereference_protected(e->next, 1));
}
