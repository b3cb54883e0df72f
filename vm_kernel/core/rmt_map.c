// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_map.c: array, counter and hash maps; see rmt_map.h for the design.
 */
#include "rmt_map.h"
#include "rmt_loader.h"
#include "rmt_alloc.h"

enum { SLOT_EMPTY = 0, SLOT_BUSY = 1, SLOT_FULL = 2, SLOT_DELETED = 3 };

struct rmt_hslot {
	u64 key;
	atomic64_t val;
	u32 state;
	u32 pad;
};

struct rmt_map {
	struct rmt_rec_map rec;
	u32 ncopies;
	u64 vmask, kmask;
	/* array/counter: ncopies * max_entries values */
	atomic64_t *vals;
	/* hash: ncopies tables of nslots slots, and their key counts */
	struct rmt_hslot *slots;
	atomic64_t *counts;
	u32 nslots, shift;
	struct mutex lock;
};

static u64 rmt_mask(u32 bits)
{
	return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

int rmt_map_create(const struct rmt_rec_map *rec, u32 ncpus, struct rmt_map **out,
		   char *err, size_t errlen)
{
	struct rmt_map *m;
	u64 bytes, n;

	*out = NULL;
	m = rmt_kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		goto nomem;
	m->rec = *rec;
	m->ncopies = (rec->flags & RMT_MAP_PERCPU) ? ncpus : 1;
	m->vmask = rmt_mask(rec->value_bits);
	m->kmask = rmt_mask(rec->key_bits);
	mutex_init(&m->lock);
	if (rec->kind == RMT_MAP_HASH) {
		m->nslots = 2;
		m->shift = 63;
		while (m->nslots < 2ull * rec->max_entries) {
			m->nslots <<= 1;
			m->shift--;
		}
		n = (u64)m->nslots * m->ncopies;
		bytes = n * sizeof(struct rmt_hslot);
	} else {
		n = (u64)rec->max_entries * m->ncopies;
		bytes = n * sizeof(atomic64_t);
	}
	if (bytes > RMT_MAP_MAX_BYTES) {
		rmt_kfree(m);
		return rmt_errf(err, errlen, -E2BIG, "needs %llu bytes, over the %u-byte limit",
				    (unsigned long long)bytes, RMT_MAP_MAX_BYTES);
	}
	if (rec->kind == RMT_MAP_HASH) {
		m->slots = rmt_kvzalloc(bytes, GFP_KERNEL);
		m->counts = rmt_kvzalloc(m->ncopies * sizeof(atomic64_t), GFP_KERNEL);
		if (!m->slots || !m->counts)
			goto nomem;
	} else {
		m->vals = rmt_kvzalloc(bytes, GFP_KERNEL);
		if (!m->vals)
			goto nomem;
	}
	*out = m;
	return 0;
nomem:
	rmt_map_destroy(m);
	return rmt_errf(err, errlen, -ENOMEM, "out of memory");
}

void rmt_map_destroy(struct rmt_map *m)
{
	if (!m)
		return;
	rmt_kvfree(m->vals);
	rmt_kvfree(m->slots);
	rmt_kvfree(m->counts);
	mutex_destroy(&m->lock);
	rmt_kfree(m);
}

u32 rmt_map_kind(const struct rmt_map *m)
{
	return m->rec.kind;
}

atomic64_t *rmt_map_values(struct rmt_map *m, u32 *ncopies)
{
	*ncopies = m->ncopies;
	return m->vals;
}

_Static_assert(sizeof(struct rmt_hslot) == RMT_HSLOT_SIZE &&
	       offsetof(struct rmt_hslot, key) == RMT_HSLOT_KEY &&
	       offsetof(struct rmt_hslot, val) == RMT_HSLOT_VAL &&
	       offsetof(struct rmt_hslot, state) == RMT_HSLOT_STATE &&
	       SLOT_EMPTY == RMT_HSLOT_EMPTY && SLOT_FULL == RMT_HSLOT_FULL,
	       "rmt_map.h's RMT_HSLOT_* describe struct rmt_hslot");

bool rmt_map_hash_view(struct rmt_map *m, struct rmt_map_hview *v)
{
	if (m->rec.kind != RMT_MAP_HASH)
		return false;
	v->slots = (u8 *)m->slots;
	v->kmask = m->kmask;
	v->nslots = m->nslots;
	v->shift = m->shift;
	v->ncopies = m->ncopies;
	return true;
}

static inline u32 rmt_copy(const struct rmt_map *m, u32 cpu)
{
	return m->ncopies == 1 ? 0 : cpu % m->ncopies;
}

static inline u32 rmt_hash(const struct rmt_map *m, u64 key)
{
	return (u32)((key * RMT_HASH_MUL) >> m->shift) & (m->nslots - 1);
}

/* The slot holding @key in copy @c, or NULL; with @claim, insert it if absent. */
static struct rmt_hslot *rmt_hfind(struct rmt_map *m, u32 c, u64 key, bool claim,
				   bool *full)
{
	struct rmt_hslot *tab = m->slots + (size_t)c * m->nslots;
	u32 i = rmt_hash(m, key), n;

	for (n = 0; n < m->nslots; n++, i = (i + 1) & (m->nslots - 1)) {
		struct rmt_hslot *s = &tab[i];
		u32 st = smp_load_acquire(&s->state);

		if (st == SLOT_EMPTY) {
			u32 old;

			if (!claim)
				return NULL;
			if (atomic64_inc_return(&m->counts[c]) > m->rec.max_entries) {
				atomic64_add(-1, &m->counts[c]);
				*full = true;
				return NULL;
			}
			old = cmpxchg(&s->state, SLOT_EMPTY, SLOT_BUSY);
			if (old == SLOT_EMPTY) {
				s->key = key;
				atomic64_set(&s->val, 0);
				smp_store_release(&s->state, SLOT_FULL);
				return s;
			}
			/* Lost the race for this slot: look at what the winner put there. */
			atomic64_add(-1, &m->counts[c]);
			st = old;
		}
		while (st == SLOT_BUSY) {
			cpu_relax();
			st = smp_load_acquire(&s->state);
		}
		if (st == SLOT_FULL && READ_ONCE(s->key) == key)
			return s;
	}
	if (claim)
		*full = true;
	return NULL;
}

int rmt_map_load(struct rmt_map *m, u64 key, u32 cpu, u64 *val)
{
	u32 c = rmt_copy(m, cpu);
	struct rmt_hslot *s;
	bool full = false;

	if (m->rec.kind != RMT_MAP_HASH) {
		if (unlikely(key >= m->rec.max_entries))
			return -ERANGE;
		*val = (u64)atomic64_read(&m->vals[(size_t)c * m->rec.max_entries + key]) &
		       m->vmask;
		return 0;
	}
	s = rmt_hfind(m, c, key & m->kmask, false, &full);
	*val = s ? (u64)atomic64_read(&s->val) & m->vmask : 0;
	return 0;
}

int rmt_map_update(struct rmt_map *m, u64 key, u64 val, u32 cpu, bool add)
{
	u32 c = rmt_copy(m, cpu);
	struct rmt_hslot *s;
	atomic64_t *v;
	bool full = false;

	if (m->rec.kind != RMT_MAP_HASH) {
		if (unlikely(key >= m->rec.max_entries))
			return -ERANGE;
		v = &m->vals[(size_t)c * m->rec.max_entries + key];
	} else {
		s = rmt_hfind(m, c, key & m->kmask, true, &full);
		if (!s)
			return -ENOSPC;
		v = &s->val;
	}
	if (add)
		atomic64_add((s64)val, v);
	else
		atomic64_set(v, (s64)val);
	return 0;
}

int rmt_map_write(struct rmt_map *m, u64 key, u64 val, char *err, size_t errlen)
{
	struct rmt_hslot *s;
	bool full = false;
	u32 c;

	if (val & ~m->vmask)
		return rmt_errf(err, errlen, -EINVAL, "value %llu does not fit %u unsigned bits",
				    (unsigned long long)val, m->rec.value_bits);
	mutex_lock(&m->lock);
	if (m->rec.kind != RMT_MAP_HASH) {
		if (key >= m->rec.max_entries) {
			mutex_unlock(&m->lock);
			return rmt_errf(err, errlen, -E2BIG, "index %llu is outside 0..%u",
					    (unsigned long long)key, m->rec.max_entries - 1);
		}
		for (c = 0; c < m->ncopies; c++)
			atomic64_set(&m->vals[(size_t)c * m->rec.max_entries + key],
				     c ? 0 : (s64)val);
		mutex_unlock(&m->lock);
		return 0;
	}
	if (key & ~m->kmask) {
		mutex_unlock(&m->lock);
		return rmt_errf(err, errlen, -EINVAL, "key %llu does not fit %u bits",
				    (unsigned long long)key, m->rec.key_bits);
	}
	s = rmt_hfind(m, 0, key, true, &full);
	if (!s) {
		mutex_unlock(&m->lock);
		return rmt_errf(err, errlen, -ENOSPC, "full (%u keys)", m->rec.max_entries);
	}
	atomic64_set(&s->val, (s64)val);
	for (c = 1; c < m->ncopies; c++) {
		s = rmt_hfind(m, c, key, false, &full);
		if (s) {
			smp_store_release(&s->state, SLOT_DELETED);
			atomic64_add(-1, &m->counts[c]);
		}
	}
	mutex_unlock(&m->lock);
	return 0;
}

u32 rmt_map_read(struct rmt_map *m, u64 *cursor, u64 *keys, u64 *vals, u32 max)
{
	u32 n = 0, c, d;
	u64 i, total;
	bool full;

	if (m->rec.kind != RMT_MAP_HASH) {
		for (i = *cursor; i < m->rec.max_entries && n < max; i++, n++) {
			total = 0;
			for (c = 0; c < m->ncopies; c++)
				total += (u64)atomic64_read(&m->vals[(size_t)c * m->rec.max_entries + i]);
			keys[n] = i;
			vals[n] = total & m->vmask;
		}
		*cursor = i;
		return n;
	}
	total = (u64)m->nslots * m->ncopies;
	for (i = *cursor; i < total && n < max; i++) {
		struct rmt_hslot *s = &m->slots[i];
		bool seen = false;
		u64 key, sum;

		if (smp_load_acquire(&s->state) != SLOT_FULL)
			continue;
		key = READ_ONCE(s->key);
		c = i / m->nslots;
		/* Report each key once: from the first copy that holds it. */
		for (d = 0; d < c && !seen; d++)
			seen = rmt_hfind(m, d, key, false, &full) != NULL;
		if (seen)
			continue;
		sum = (u64)atomic64_read(&s->val);
		for (d = c + 1; d < m->ncopies; d++) {
			struct rmt_hslot *o = rmt_hfind(m, d, key, false, &full);

			if (o)
				sum += (u64)atomic64_read(&o->val);
		}
		keys[n] = key;
		vals[n] = sum & m->vmask;
		n++;
	}
	*cursor = i;
	return n;
}
