/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_map.h: maps shared by a program and the control plane (docs/semantics.md, "Maps").
 *
 * array and counter maps are flat arrays of u64; hash maps are open-addressed
 * tables with a fixed number of slots (twice max_entries, a power of two).
 * A per-CPU map has one copy per possible CPU: the program uses its CPU's
 * copy, the control plane reads the sum.  Values are stored as full u64 and
 * masked to value_bits when read, so a wrapping MAP_ADD is one atomic add.
 *
 * Hook path: no lock, no allocation.  A hash insert claims an empty slot with
 * a compare-and-swap; inserters of the same key probe the same sequence and
 * wait for a slot being filled to show its key, so a key is never inserted
 * twice.  The control plane (writes) is serialised by a mutex; a write clears
 * the key in the other CPUs' copies by marking their slots deleted (deleted
 * slots are not reused, a documented limit: a per-CPU hash map whose keys
 * are rewritten from the control plane many times can run out of slots early).
 */
#ifndef _RMT_MAP_H
#define _RMT_MAP_H

#include "rmt_compat.h"
#include "rmt_format.h"

/* Over this many bytes of map memory (all copies) a map is refused at load. */
#define RMT_MAP_MAX_BYTES (256u << 20)

struct rmt_map;

/**
 * rmt_map_create() - allocate a map for a MAP record
 * @rec: the record (checked by the loader)
 * @ncpus: number of per-CPU copies if the map is per-CPU
 * @out: set to the map
 * @err: buffer for the reason on failure
 * @errlen: size of @err
 *
 * Return: 0, -E2BIG (needs more than RMT_MAP_MAX_BYTES), -ENOMEM.
 */
int rmt_map_create(const struct rmt_rec_map *rec, u32 ncpus, struct rmt_map **out,
		   char *err, size_t errlen);

/**
 * rmt_map_destroy() - free a map
 * @m: the map (NULL allowed); no run may still use it
 */
void rmt_map_destroy(struct rmt_map *m);

/**
 * rmt_map_load() - MAP_LD on the hook path
 * @m: the map
 * @key: r[src]
 * @cpu: the running CPU (selects the per-CPU copy)
 * @val: set to the value (0 for an absent hash key)
 *
 * Return: 0, or -ERANGE when an array/counter index is >= max_entries.
 */
int rmt_map_load(struct rmt_map *m, u64 key, u32 cpu, u64 *val);

/**
 * rmt_map_update() - MAP_ST / MAP_ADD on the hook path
 * @m: the map
 * @key: r[dst]
 * @val: r[src]
 * @cpu: the running CPU
 * @add: MAP_ADD (wrapping add) rather than MAP_ST
 *
 * Return: 0, -ERANGE (array index out of range: abort), -ENOSPC (hash map
 * full: the update was dropped and must be counted).
 */
int rmt_map_update(struct rmt_map *m, u64 key, u64 val, u32 cpu, bool add);

/**
 * rmt_map_write() - control-plane write (copy 0; other copies cleared)
 * @m: the map
 * @key: index or hash key
 * @val: the value, < 2^value_bits
 * @err: buffer for the reason on failure
 * @errlen: size of @err
 *
 * Return: 0, -EINVAL (value or key too wide), -E2BIG (index out of range),
 * -ENOSPC (hash map full).  On failure nothing changed.
 */
int rmt_map_write(struct rmt_map *m, u64 key, u64 val, char *err, size_t errlen);

/**
 * rmt_map_read() - control-plane read, per-CPU copies summed
 * @m: the map
 * @cursor: in: where to start (0 first); out: where to continue
 * @keys: receives up to @max keys
 * @vals: receives the values
 * @max: capacity of @keys and @vals
 *
 * Arrays and counters report every index; hash maps every present key,
 * once, with the sum over copies.  Call until it returns 0.
 *
 * Return: the number of pairs written.
 */
u32 rmt_map_read(struct rmt_map *m, u64 *cursor, u64 *keys, u64 *vals, u32 max);

/**
 * rmt_map_values() - an array or counter map's values, for code that indexes them itself
 * @m: the map
 * @ncopies: set to the number of copies (1, or one per CPU)
 *
 * Copy c's value at index k is [c * max_entries + k]; a run on CPU cpu uses
 * copy cpu % ncopies.  Loads mask the value to value_bits, MAP_ADD is an
 * atomic add (rmt_map_load(), rmt_map_update()).  The array lives as long as
 * the map and never moves, so the JIT embeds its address.
 *
 * Return: the values, or NULL for a hash map.
 */
atomic64_t *rmt_map_values(struct rmt_map *m, u32 *ncopies);

/*
 * A hash map slot as JIT code probes it (rmt_map.c's struct rmt_hslot, whose
 * layout it asserts): the key, the value, the state (RMT_HSLOT_*).
 */
#define RMT_HSLOT_SIZE 24
#define RMT_HSLOT_KEY 0
#define RMT_HSLOT_VAL 8
#define RMT_HSLOT_STATE 16
#define RMT_HSLOT_EMPTY 0
#define RMT_HSLOT_FULL 2
#define RMT_HASH_MUL 0x9E3779B97F4A7C15ull

/**
 * struct rmt_map_hview - where a hash map's slots are, for code that probes them itself
 * @slots: copy c's slots are @slots + c * @nslots slots
 * @kmask: keys are masked to key_bits first
 * @nslots: slots per copy, a power of two
 * @shift: a key's first slot is ((key * RMT_HASH_MUL) >> @shift) & (@nslots - 1)
 * @ncopies: number of copies (1, or one per CPU: copy cpu % @ncopies)
 */
struct rmt_map_hview {
	u8 *slots;
	u64 kmask;
	u32 nslots;
	u32 shift;
	u32 ncopies;
};

/**
 * rmt_map_hash_view() - a hash map's slots (they never move while the map lives)
 * @m: the map
 * @v: filled in for a hash map
 *
 * Return: true for a hash map, false (and @v untouched) otherwise.
 */
bool rmt_map_hash_view(struct rmt_map *m, struct rmt_map_hview *v);

/**
 * rmt_map_kind() - the map's kind
 * @m: the map
 *
 * Return: enum rmt_map_kind.
 */
u32 rmt_map_kind(const struct rmt_map *m);

#endif /* _RMT_MAP_H */
