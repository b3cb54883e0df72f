/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_table_impl.h: what the files of the table code share (not an API).
 *
 * rmt_table.c creates tables, checks entries and dispatches each call on the
 * table's class; rmt_table_exact.c, rmt_table_lpm.c, rmt_table_ternary.c and
 * rmt_table_range.c implement the classes (rmt_table.c's comment describes
 * them).
 */
#ifndef _RMT_TABLE_IMPL_H
#define _RMT_TABLE_IMPL_H

#include "rmt_table.h"
#include "rmt_alloc.h"

/* A message into the caller's buffer (the table's calls return the errno themselves). */
#define rmt_seterr(err, errlen, ...) \
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

#define RMT_HASH_SEED 0x243f6a8885a308d3ull

/* The action and parameters of an entry: replaced as a whole by modify. */
struct rmt_action_data {
	struct rcu_head rcu;
	u16 action;
	u8 params[];
};

struct rmt_tuple;
struct rmt_lpm_group;
struct rmt_rgroup;
struct rmt_trie_node;
struct rmt_rnode;

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
	const struct rmt_entry *origin;		/* rmt_table_clone(): the entry it copies */
	struct rcu_head rcu;
	struct rmt_match_field m[];		/* normal form, nkeys fields */
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
	bool borrowed;			/* @hits, @misses belong to the table it was cloned from */
	/* writer side, under lock */
	struct mutex lock;
	u32 count;
	u64 next_seq;
	struct rmt_entry *first, *last;
	u32 ntuples, tuple_cap;
	struct rmt_tuple **tuple_list;	/* PRIO: every tuple, any order */
};

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

static inline bool rmt_match_eq(const struct rmt_table *t, const struct rmt_match_field *x,
			 const struct rmt_match_field *y)
{
	u32 i;

	for (i = 0; i < t->s.nkeys; i++)
		if (x[i].a != y[i].a || x[i].b != y[i].b)
			return false;
	return true;
}

/*
 * Each class's part of a lookup, of rmt_locate() and of an insert or a
 * delete (under t->lock), called by rmt_table.c.
 */

/* EXACT: rmt_table_exact.c */
struct rmt_entry *rmt_lookup_exact(struct rmt_table *t, const u64 *k);
void rmt_locate_exact(struct rmt_table *t, const struct rmt_match_field *m, const u64 *v,
		      struct rmt_loc *loc);
void rmt_insert_exact(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e);
void rmt_delete_exact(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e);

/* LPM: rmt_table_lpm.c */
struct rmt_entry *rmt_lookup_lpm(struct rmt_table *t, const u64 *k);
void rmt_locate_lpm(struct rmt_table *t, const struct rmt_match_field *m, const u64 *v,
		    struct rmt_loc *loc);
int rmt_insert_lpm(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
		   char *err, size_t errlen);
void rmt_delete_lpm(struct rmt_table *t, struct rmt_entry *e);
void rmt_destroy_lpm(struct rmt_table *t);

/* PRIO, and the tuples RANGE shares: rmt_table_ternary.c */
struct rmt_entry *rmt_lookup_prio(struct rmt_table *t, const u64 *k);
bool rmt_locate_tuple(struct rmt_table *t, const struct rmt_match_field *m, const u64 *v,
		      struct rmt_loc *loc);
void rmt_locate_prio(struct rmt_table *t, const struct rmt_match_field *m, u32 priority,
		     struct rmt_loc *loc);
int rmt_insert_prio(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
		    char *err, size_t errlen);
void rmt_delete_prio(struct rmt_table *t, struct rmt_entry *e);
void rmt_destroy_tuples(struct rmt_table *t);

/* RANGE: rmt_table_range.c */
struct rmt_entry *rmt_lookup_range(struct rmt_table *t, const u64 *k);
void rmt_locate_range(struct rmt_table *t, const struct rmt_match_field *m, const u64 *v,
		      u32 priority, struct rmt_loc *loc);
int rmt_insert_range(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e,
		     char *err, size_t errlen);
void rmt_delete_range(struct rmt_table *t, struct rmt_loc *loc, struct rmt_entry *e);
void rmt_destroy_range(struct rmt_table *t);

#endif /* _RMT_TABLE_IMPL_H */
