/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_table.h: match-action tables of the RMT VM (docs/semantics.md, "Tables (APPLY)").
 *
 * The loader fills a struct rmt_table_schema from the object's TABLE/KEY/ACTION
 * records and calls rmt_table_create(); the interpreter's APPLY calls
 * rmt_table_lookup() under rcu_read_lock(); the control plane (ioctl, cffi)
 * calls insert/modify/delete/dump with struct rmt_entry_spec.
 *
 * Concurrency: lookups take no lock and never allocate.  Updates are
 * serialised by a per-table mutex, build every new node completely, publish
 * it with one rcu_assign_pointer() and free what it replaced after a grace
 * period, so a lookup sees each update entirely or not at all.
 */
#ifndef _RMT_TABLE_H
#define _RMT_TABLE_H

#include "rmt_compat.h"
#include "rmt_format.h"

/* Priorities of ternary/range tables: 0 .. RMT_PRIORITY_MAX, higher wins. */
#define RMT_PRIORITY_MAX 0x7fffffffu

/**
 * struct rmt_key_schema - one key field of a table
 * @kind: enum rmt_match_kind (RMT_MATCH_EXACT, _LPM, _TERNARY, _RANGE)
 * @bits: width of the field, 1..64; the key is the low @bits of a u64
 */
struct rmt_key_schema {
	u8 kind;
	u8 bits;
};

/**
 * struct rmt_table_schema - the shape of a table, from the object file
 * @max_entries: capacity, 1..RMT_MAX_TABLE_ENTRIES
 * @nkeys: number of key fields, 1..RMT_MAX_KEYS
 * @nactions: number of actions, 1..RMT_MAX_ACTIONS
 * @param_size: size of the PARAMS region, 0..RMT_MAX_PARAM_SIZE
 * @default_action: action selected on a miss, < @nactions
 * @keys: the key fields
 * @action_param_size: parameter bytes each action takes, <= @param_size
 * @default_params: parameters selected on a miss (first @param_size bytes)
 */
struct rmt_table_schema {
	u32 max_entries;
	u16 nkeys;
	u16 nactions;
	u32 param_size;
	u16 default_action;
	struct rmt_key_schema keys[RMT_MAX_KEYS];
	u32 action_param_size[RMT_MAX_ACTIONS];
	u8 default_params[RMT_MAX_PARAM_SIZE];
};

/**
 * struct rmt_match_field - one field of an entry's match
 * @a: exact: value; lpm: value; ternary: value; range: lo
 * @b: exact: 0; lpm: prefix length; ternary: mask; range: hi (inclusive)
 */
struct rmt_match_field {
	__u64 a;
	__u64 b;
};

/**
 * struct rmt_entry_spec - a table entry as the control plane passes it
 * @priority: ternary/range tables: 0..RMT_PRIORITY_MAX, higher wins; else 0
 * @action: action index
 * @nkeys: number of match fields, must equal the table's
 * @match: one field per key
 * @params: the action's parameters; bytes past the action's size must be 0
 *
 * Fixed size with no implicit padding: it is also the ioctl payload.
 */
struct rmt_entry_spec {
	__u32 priority;
	__u16 action;
	__u16 nkeys;
	struct rmt_match_field match[RMT_MAX_KEYS];
	__u8 params[RMT_MAX_PARAM_SIZE];
};

/**
 * struct rmt_entry_dump - an entry and its hit counter, as the dump returns it
 * @spec: the entry in normal form (lpm and ternary values masked)
 * @hits: lookups that selected this entry (kept across modify)
 */
struct rmt_entry_dump {
	struct rmt_entry_spec spec;
	__u64 hits;
};

_Static_assert(sizeof(struct rmt_entry_spec) ==
	       8 + 16 * RMT_MAX_KEYS + RMT_MAX_PARAM_SIZE, "rmt_entry_spec has padding");
_Static_assert(sizeof(struct rmt_entry_dump) == sizeof(struct rmt_entry_spec) + 8,
	       "rmt_entry_dump has padding");

struct rmt_table;

/**
 * rmt_table_create() - allocate an empty table
 * @schema: its shape (copied)
 * @out: set to the new table on success
 * @err: buffer for the reason on failure (may be NULL)
 * @errlen: size of @err
 *
 * Return: 0, -EINVAL for a bad schema, -ENOMEM.
 */
int rmt_table_create(const struct rmt_table_schema *schema, struct rmt_table **out,
		     char *err, size_t errlen);

/**
 * rmt_table_destroy() - free a table and all its entries
 * @t: the table (NULL is allowed)
 *
 * The caller guarantees no lookup can still reach @t (it waited for a grace
 * period after unpublishing it).
 */
void rmt_table_destroy(struct rmt_table *t);

/**
 * rmt_table_insert() - add an entry
 * @t: the table
 * @spec: the entry
 * @err: buffer for the reason on failure (may be NULL)
 * @errlen: size of @err
 *
 * Return: 0; -EINVAL (bad entry), -EEXIST (same identity present), -ENOSPC
 * (table full), -ENOMEM.  On failure the table is unchanged.
 */
int rmt_table_insert(struct rmt_table *t, const struct rmt_entry_spec *spec,
		     char *err, size_t errlen);

/**
 * rmt_table_modify() - replace the action and parameters of an entry
 * @t: the table
 * @spec: the entry; its match (and priority) name the entry to change
 * @err: buffer for the reason on failure (may be NULL)
 * @errlen: size of @err
 *
 * The entry keeps its hit counter and its insertion rank.
 *
 * Return: 0; -EINVAL, -ENOENT (no such entry), -ENOMEM.  On failure the
 * table is unchanged.
 */
int rmt_table_modify(struct rmt_table *t, const struct rmt_entry_spec *spec,
		     char *err, size_t errlen);

/**
 * rmt_table_delete() - remove an entry
 * @t: the table
 * @spec: its match, nkeys and priority name the entry; action/params ignored
 * @err: buffer for the reason on failure (may be NULL)
 * @errlen: size of @err
 *
 * Return: 0; -EINVAL, -ENOENT.  On failure the table is unchanged.
 */
int rmt_table_delete(struct rmt_table *t, const struct rmt_entry_spec *spec,
		     char *err, size_t errlen);

/**
 * rmt_table_lookup() - APPLY: select the entry matching @key
 * @t: the table
 * @key: nkeys u64 key fields (masked to the key widths here)
 * @action: set to the selected (or default) action
 * @params: set to the selected (or default) parameters, param_size bytes,
 *	valid until rcu_read_unlock()
 *
 * Hook path: call under rcu_read_lock(); takes no lock, never allocates.
 * Counts the entry's hits, or the table's misses.
 *
 * Return: true on a hit, false on a miss (default action).
 */
bool rmt_table_lookup(struct rmt_table *t, const u64 *key, u16 *action,
		      const u8 **params);

/**
 * typedef rmt_table_dump_fn - called once per entry by rmt_table_for_each()
 * @arg: the caller's argument
 * @entry: the entry in normal form with its hit count
 *
 * Return: 0 to continue, anything else stops the walk and is returned.
 */
typedef int (*rmt_table_dump_fn)(void *arg, const struct rmt_entry_dump *entry);

/**
 * rmt_table_for_each() - walk the entries in insertion order
 * @t: the table
 * @fn: called per entry, under the table's update mutex (it must not update @t)
 * @arg: passed to @fn
 *
 * Return: 0, or the first nonzero value @fn returned.
 */
int rmt_table_for_each(struct rmt_table *t, rmt_table_dump_fn fn, void *arg);

/**
 * rmt_table_dump() - copy entries @start .. @start+@max-1 (insertion order)
 * @t: the table
 * @start: index of the first entry to copy
 * @out: array of @max records
 * @max: capacity of @out
 *
 * Return: the number of records written (0 past the end).
 */
u32 rmt_table_dump(struct rmt_table *t, u32 start, struct rmt_entry_dump *out, u32 max);

/**
 * rmt_table_clone() - a private copy of a table, for a batch of updates
 * @t: the table
 * @out: set to the copy on success: same schema, same entries (hit counters
 *	0) in the same insertion order; it shares @t's table-level counters
 * @err: buffer for the reason on failure (may be NULL)
 * @errlen: size of @err
 *
 * Nothing reaches the copy until the caller publishes it; an unpublished copy
 * is freed with rmt_table_destroy() and leaves @t as it was.
 *
 * Return: 0, -ENOMEM.
 */
int rmt_table_clone(struct rmt_table *t, struct rmt_table **out, char *err, size_t errlen);

/**
 * rmt_table_absorb() - take over what a replaced table still owns
 * @t: the copy that replaced @old (rmt_table_clone())
 * @old: the table it replaced, which no lookup can reach any more (the
 *	caller waited for a grace period after publishing @t)
 *
 * Adds the hit counters of @old's entries to their copies in @t that the
 * batch kept (a deleted entry's count goes with it), and hands the
 * table-level counters to @t, so that rmt_table_destroy(@old) frees neither.
 */
void rmt_table_absorb(struct rmt_table *t, struct rmt_table *old);

/**
 * rmt_table_count() - number of entries
 * @t: the table
 *
 * Return: the entry count.
 */
u32 rmt_table_count(struct rmt_table *t);

/**
 * rmt_table_stats() - table-level counters
 * @t: the table
 * @hits: set to the number of lookups that hit (may be NULL)
 * @misses: set to the number of lookups that missed (may be NULL)
 */
void rmt_table_stats(struct rmt_table *t, u64 *hits, u64 *misses);

/**
 * rmt_table_schema_of() - the table's schema
 * @t: the table
 *
 * Return: the schema given at creation (read-only).
 */
const struct rmt_table_schema *rmt_table_schema_of(const struct rmt_table *t);

#endif /* _RMT_TABLE_H */
