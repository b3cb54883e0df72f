// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_table.c: match-action tables (docs/semantics.md, "Tables (APPLY)"):
 * creation, entry checks and the calls, dispatched on the table's class to
 * rmt_table_exact.c, rmt_table_lpm.c, rmt_table_ternary.c (PRIO) and
 * rmt_table_range.c.
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
#include "rmt_table_impl.h"

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

#define RMT_MAX_BUCKETS (1u << 18)

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

static int rmt_schema_check(const struct rmt_table_schema *s, char *err, size_t errlen)
{
	u32 i, nlpm = 0, nprio = 0;

	if (s->nkeys > RMT_MAX_KEYS) {
		rmt_seterr(err, errlen, "table has %u keys, the limit is %u", s->nkeys,
			 RMT_MAX_KEYS);
		return -EINVAL;
	}
	if (s->max_entries < 1 || s->max_entries > RMT_MAX_TABLE_ENTRIES) {
		rmt_seterr(err, errlen, "max_entries %u is outside 1..%u", s->max_entries,
			 RMT_MAX_TABLE_ENTRIES);
		return -EINVAL;
	}
	if (s->nactions < 1 || s->nactions > RMT_MAX_ACTIONS) {
		rmt_seterr(err, errlen, "table has %u actions, outside 1..%u", s->nactions,
			 RMT_MAX_ACTIONS);
		return -EINVAL;
	}
	if (s->default_action >= s->nactions) {
		rmt_seterr(err, errlen, "default action %u is outside 0..%u", s->default_action,
			 s->nactions - 1);
		return -EINVAL;
	}
	if (s->param_size > RMT_MAX_PARAM_SIZE) {
		rmt_seterr(err, errlen, "param_size %u is over %u", s->param_size,
			 RMT_MAX_PARAM_SIZE);
		return -EINVAL;
	}
	for (i = 0; i < s->nactions; i++) {
		if (s->action_param_size[i] > s->param_size) {
			rmt_seterr(err, errlen, "action %u takes %u parameter bytes, over the table's %u",
				 i, s->action_param_size[i], s->param_size);
			return -EINVAL;
		}
	}
	for (i = 0; i < s->nkeys; i++) {
		if (s->keys[i].kind > RMT_MATCH_RANGE) {
			rmt_seterr(err, errlen, "key %u has unknown match kind %u", i, s->keys[i].kind);
			return -EINVAL;
		}
		if (s->keys[i].bits < 1 || s->keys[i].bits > 64) {
			rmt_seterr(err, errlen, "key %u is %u bits wide, outside 1..64", i,
				 s->keys[i].bits);
			return -EINVAL;
		}
		nlpm += s->keys[i].kind == RMT_MATCH_LPM;
		nprio += s->keys[i].kind == RMT_MATCH_TERNARY || s->keys[i].kind == RMT_MATCH_RANGE;
	}
	if (!nprio && nlpm > 1) {
		rmt_seterr(err, errlen, "table has %u lpm keys and no ternary or range key; at most one lpm key is allowed",
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
	rmt_seterr(err, errlen, "out of memory creating the table");
	return -ENOMEM;
}

void rmt_table_destroy(struct rmt_table *t)
{
	struct rmt_entry *e, *next;

	if (!t)
		return;
	for (e = t->first; e; e = next) {
		next = e->next_ins;
		rmt_entry_free(e);
	}
	if (t->cls == RMT_CLASS_LPM)
		rmt_destroy_lpm(t);
	if (t->cls == RMT_CLASS_RANGE)
		rmt_destroy_range(t);
	rmt_destroy_tuples(t);
	mutex_destroy(&t->lock);
	rmt_kvfree(t->buckets);
	if (!t->borrowed) {
		rmt_free_percpu(t->hits);
		rmt_free_percpu(t->misses);
	}
	rmt_kfree(t);
}

const struct rmt_table_schema *rmt_table_schema_of(const struct rmt_table *t)
{
	return &t->s;
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
		rmt_seterr(err, errlen, "entry has %u match fields, the table has %u keys",
			 spec->nkeys, t->s.nkeys);
		return -EINVAL;
	}
	for (i = 0; i < t->s.nkeys; i++) {
		u8 kind = t->s.keys[i].kind;
		u32 bits = t->s.keys[i].bits;
		u64 a = spec->match[i].a, b = spec->match[i].b, w = t->width[i];

		if (a > w) {
			rmt_seterr(err, errlen, "match field %u: %s %llu is wider than the %u-bit key",
				 i, kind == RMT_MATCH_RANGE ? "lo" : "value",
				 (unsigned long long)a, bits);
			return -EINVAL;
		}
		switch (kind) {
		case RMT_MATCH_EXACT:
			if (b) {
				rmt_seterr(err, errlen, "match field %u: exact match has nonzero second word %llu",
					 i, (unsigned long long)b);
				return -EINVAL;
			}
			m[i].a = a;
			m[i].b = 0;
			break;
		case RMT_MATCH_LPM:
			if (b > bits) {
				rmt_seterr(err, errlen, "match field %u: prefix length %llu is outside 0..%u",
					 i, (unsigned long long)b, bits);
				return -EINVAL;
			}
			m[i].a = a & rmt_prefix_mask(bits, (u32)b);
			m[i].b = b;
			break;
		case RMT_MATCH_TERNARY:
			if (b > w) {
				rmt_seterr(err, errlen, "match field %u: mask %llu is wider than the %u-bit key",
					 i, (unsigned long long)b, bits);
				return -EINVAL;
			}
			m[i].a = a & b;
			m[i].b = b;
			break;
		default:
			if (b > w) {
				rmt_seterr(err, errlen, "match field %u: hi %llu is wider than the %u-bit key",
					 i, (unsigned long long)b, bits);
				return -EINVAL;
			}
			if (a > b) {
				rmt_seterr(err, errlen, "match field %u: range %llu..%llu has lo > hi", i,
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
			rmt_seterr(err, errlen, "priority %u is outside 0..%u", spec->priority,
				 RMT_PRIORITY_MAX);
			return -EINVAL;
		}
	} else if (spec->priority) {
		rmt_seterr(err, errlen, "priority %u given, but the table has no ternary or range key",
			 spec->priority);
		return -EINVAL;
	}
	if (spec->action >= t->s.nactions) {
		rmt_seterr(err, errlen, "action index %u is outside 0..%u", spec->action,
			 t->s.nactions - 1);
		return -EINVAL;
	}
	psize = t->s.action_param_size[spec->action];
	for (i = psize; i < RMT_MAX_PARAM_SIZE; i++) {
		if (spec->params[i]) {
			rmt_seterr(err, errlen, "parameter byte %u is nonzero, action %u takes %u bytes",
				 i, spec->action, psize);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Where the entry with match @m (and @priority) lives, or would live.
 * Called under t->lock.
 */
static void rmt_locate(struct rmt_table *t, const struct rmt_match_field *m, u32 priority,
		       struct rmt_loc *loc)
{
	u64 v[RMT_MAX_KEYS];
	u32 i;

	memset(loc, 0, sizeof(*loc));
	for (i = 0; i < t->s.nkeys; i++)
		v[i] = m[i].a;
	switch (t->cls) {
	case RMT_CLASS_EXACT:
		rmt_locate_exact(t, m, v, loc);
		break;
	case RMT_CLASS_LPM:
		rmt_locate_lpm(t, m, v, loc);
		break;
	case RMT_CLASS_RANGE:
		if (rmt_locate_tuple(t, m, v, loc))
			rmt_locate_range(t, m, v, priority, loc);
		break;
	default:
		if (rmt_locate_tuple(t, m, v, loc))
			rmt_locate_prio(t, m, priority, loc);
		break;
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
		rmt_seterr(err, errlen, "an entry with this match%s exists",
			 rmt_is_prio(t) ? " and priority" : "");
		ret = -EEXIST;
		goto out;
	}
	if (t->count >= t->s.max_entries) {
		rmt_seterr(err, errlen, "full (%u entries)", t->s.max_entries);
		ret = -ENOSPC;
		goto out;
	}
	e = rmt_kzalloc(rmt_entry_size(t), GFP_KERNEL);
	d = rmt_action_data_new(t, spec);
	if (!e || !d) {
		rmt_kfree(e);
		rmt_kfree(d);
		rmt_seterr(err, errlen, "out of memory");
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
		rmt_insert_exact(t, &loc, e);
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
		rmt_seterr(err, errlen, "no such entry to modify");
		ret = -ENOENT;
		goto out;
	}
	d = rmt_action_data_new(t, spec);
	if (!d) {
		rmt_seterr(err, errlen, "out of memory");
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
		rmt_seterr(err, errlen, "no such entry to delete");
		ret = -ENOENT;
		goto out;
	}
	switch (t->cls) {
	case RMT_CLASS_EXACT:
		rmt_delete_exact(t, &loc, e);
		break;
	case RMT_CLASS_LPM:
		rmt_delete_lpm(t, e);
		break;
	case RMT_CLASS_RANGE:
		rmt_delete_range(t, &loc, e);
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

int rmt_table_clone(struct rmt_table *t, struct rmt_table **out, char *err, size_t errlen)
{
	struct rmt_entry_dump *rec;
	struct rmt_table *c;
	struct rmt_entry *e;
	int ret;

	*out = NULL;
	rec = rmt_kmalloc(sizeof(*rec), GFP_KERNEL);	/* 400 bytes: not on the stack */
	if (!rec) {
		rmt_seterr(err, errlen, "out of memory copying the table");
		return -ENOMEM;
	}
	ret = rmt_table_create(&t->s, &c, err, errlen);
	if (ret)
		goto out;
	/*
	 * The copy counts table-level hits and misses in @t's counters, so lookups
	 * still running on @t while the copy is published lose no count.
	 */
	rmt_free_percpu(c->hits);
	rmt_free_percpu(c->misses);
	c->hits = t->hits;
	c->misses = t->misses;
	c->borrowed = true;
	mutex_lock(&t->lock);
	for (e = t->first; e && !ret; e = e->next_ins) {
		rmt_entry_to_dump(t, e, rec);
		ret = rmt_table_insert(c, &rec->spec, err, errlen);
		if (!ret)
			c->last->origin = e;	/* appended to the insertion order */
	}
	mutex_unlock(&t->lock);
	if (ret)
		rmt_table_destroy(c);
	else
		*out = c;
out:
	rmt_kfree(rec);
	return ret;
}

void rmt_table_absorb(struct rmt_table *t, struct rmt_table *old)
{
	struct rmt_entry *e;

	/*
	 * Only entries that survived the batch (kept or modified) have an
	 * origin; one deleted and inserted again starts at 0 hits, as it would
	 * with separate updates.
	 */
	mutex_lock(&t->lock);
	for (e = t->first; e; e = e->next_ins) {
		if (e->origin)
			atomic64_add(atomic64_read(&e->origin->hits), &e->hits);
		e->origin = NULL;
	}
	mutex_unlock(&t->lock);
	t->borrowed = false;
	old->borrowed = true;
}
