// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_table_ternary.c: PRIO tables (any ternary key, or several lpm keys): tuple-space search
 * by priority; also the tuples that RANGE tables (rmt_table_range.c) group
 * their entries by.
 */
#include "rmt_table_impl.h"

static void rmt_tuple_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_tuple, rcu));
}

static void rmt_tuple_vec_free_rcu(struct rcu_head *head)
{
	rmt_kfree(container_of(head, struct rmt_tuple_vec, rcu));
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

struct rmt_entry *rmt_lookup_prio(struct rmt_table *t, const u64 *k)
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

/* PRIO, RANGE: the tuple of @m's mask vector and the hash in it; false: no such tuple. */
bool rmt_locate_tuple(struct rmt_table *t, const struct rmt_match_field *m, const u64 *v,
		      struct rmt_loc *loc)
{
	u32 i;

	rmt_tuple_mask(t, m, loc->mask);
	for (i = 0; i < t->ntuples; i++) {
		if (!memcmp(t->tuple_list[i]->mask, loc->mask, sizeof(loc->mask))) {
			loc->tuple = t->tuple_list[i];
			break;
		}
	}
	if (!loc->tuple)
		return false;
	loc->hash = rmt_hash_tuple(t, loc->tuple, v);
	return true;
}

void rmt_locate_prio(struct rmt_table *t, const struct rmt_match_field *m, u32 priority,
		     struct rmt_loc *loc)
{
	struct rmt_entry *e;

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

int rmt_insert_prio(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
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
	rmt_seterr(err, errlen, "out of memory");
	return -ENOMEM;
}

void rmt_delete_prio(struct rmt_table *t, struct rmt_entry *e)
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

/* Free every tuple and the published order now (the table is unreachable). */
void rmt_destroy_tuples(struct rmt_table *t)
{
	u32 i;

	for (i = 0; i < t->ntuples; i++)
		rmt_kfree(t->tuple_list[i]);
	rmt_kfree(t->tuple_list);
	rmt_kfree(rcu_dereference_protected(t->tuples, 1));
}
