// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_table.c: libFuzzer target for the tables (vm_kernel/core/rmt_table*.c) against a
 * brute-force model of docs/semantics.md, "Tables (APPLY)".
 *
 * Input: a table schema (decode_schema()), then up to MAX_OPS operations:
 * insert, modify, delete with random struct rmt_entry_spec (values biased to
 * key boundaries and to matches of existing entries), lookups, and bulk
 * inserts that grow a table past the range trees' rebuild thresholds.
 * Oracles, besides no sanitizer report:
 *   - each update returns what the model says (EINVAL per the documented
 *     list, then EEXIST, then ENOSPC; ENOENT), and a failure leaves the
 *     table unchanged;
 *   - each lookup selects the entry the model selects (highest priority,
 *     ties to the first inserted; longest prefix; the one exact match) or
 *     the default, with that entry's parameters;
 *   - the dump lists the model's entries in insertion order, normalised,
 *     with the model's hit counts; hit and miss counters agree.
 */
#include "rmt_table.h"
#include "fuzz_common.h"

#define MAX_OPS 256
#define MAX_MODEL 1024

struct ment {
	struct rmt_match_field m[RMT_MAX_KEYS];	/* normalised */
	u32 priority;
	u16 action;
	u8 params[RMT_MAX_PARAM_SIZE];
	u64 hits;
};

struct model {
	struct rmt_table_schema s;
	bool prio;
	u32 n;
	u64 hits, misses;
	struct ment e[MAX_MODEL];	/* last: only @n of them are reset per input */
};

static struct model M;
static struct rmt_entry_dump dump[MAX_MODEL];

static u64 width(u32 bits)
{
	return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

/* The top @p of @bits bits set. */
static u64 prefix_mask(u32 bits, u64 p)
{
	if (!p)
		return 0;
	return width(bits) & ~(p >= bits ? 0 : width(bits - p));
}

/* Normalise @spec's match into @m; -EINVAL per the documented list. */
static int model_norm(const struct rmt_entry_spec *spec, struct rmt_match_field *m, bool full)
{
	u32 i;

	if (spec->nkeys != M.s.nkeys)
		return -EINVAL;
	for (i = 0; i < M.s.nkeys; i++) {
		u32 bits = M.s.keys[i].bits;
		u64 a = spec->match[i].a, b = spec->match[i].b, w = width(bits);

		if (a & ~w)
			return -EINVAL;
		switch (M.s.keys[i].kind) {
		case RMT_MATCH_EXACT:
			if (b)
				return -EINVAL;
			m[i].a = a;
			m[i].b = 0;
			break;
		case RMT_MATCH_LPM:
			if (b > bits)
				return -EINVAL;
			m[i].a = a & prefix_mask(bits, b);
			m[i].b = b;
			break;
		case RMT_MATCH_TERNARY:
			if (b & ~w)
				return -EINVAL;
			m[i].a = a & b;
			m[i].b = b;
			break;
		default:
			if ((b & ~w) || a > b)
				return -EINVAL;
			m[i].a = a;
			m[i].b = b;
		}
	}
	if (!full)
		return 0;
	if (M.prio ? spec->priority > RMT_PRIORITY_MAX : spec->priority != 0)
		return -EINVAL;
	if (spec->action >= M.s.nactions)
		return -EINVAL;
	for (i = M.s.action_param_size[spec->action]; i < RMT_MAX_PARAM_SIZE; i++)
		if (spec->params[i])
			return -EINVAL;
	return 0;
}

static int model_find(const struct rmt_match_field *m, u32 priority)
{
	u32 i;

	for (i = 0; i < M.n; i++)
		if (!memcmp(M.e[i].m, m, M.s.nkeys * sizeof(*m)) &&
		    (!M.prio || M.e[i].priority == priority))
			return i;
	return -1;
}

static int model_update(u32 op, const struct rmt_entry_spec *spec)
{
	struct rmt_match_field m[RMT_MAX_KEYS] = { 0 };
	int rc = model_norm(spec, m, op != 2), at;

	if (rc)
		return rc;
	at = model_find(m, spec->priority);
	if (op == 0) {
		if (at >= 0)
			return -EEXIST;
		if (M.n >= M.s.max_entries)
			return -ENOSPC;
		FUZZ_CHECK(M.n < MAX_MODEL, "model full");
		at = M.n++;
		memset(&M.e[at], 0, sizeof(M.e[at]));
		memcpy(M.e[at].m, m, sizeof(m));
		M.e[at].priority = M.prio ? spec->priority : 0;
	} else if (at < 0) {
		return -ENOENT;
	}
	if (op == 2) {
		memmove(&M.e[at], &M.e[at + 1], (M.n - at - 1) * sizeof(M.e[0]));
		M.n--;
		return 0;
	}
	M.e[at].action = spec->action;
	memcpy(M.e[at].params, spec->params, sizeof(spec->params));
	return 0;
}

static bool field_matches(u32 i, const struct rmt_match_field *f, u64 k)
{
	u32 bits = M.s.keys[i].bits;

	switch (M.s.keys[i].kind) {
	case RMT_MATCH_EXACT:
		return k == f->a;
	case RMT_MATCH_LPM:
		return (k & prefix_mask(bits, f->b)) == f->a;
	case RMT_MATCH_TERNARY:
		return (k & f->b) == f->a;
	default:
		return f->a <= k && k <= f->b;
	}
}

/* The entry the semantics select for @key, or -1 for a miss. */
static int model_lookup(const u64 *key)
{
	int best = -1;
	u32 i, j, lpm = RMT_MAX_KEYS;
	u64 k[RMT_MAX_KEYS];

	for (j = 0; j < M.s.nkeys; j++) {
		k[j] = key[j] & width(M.s.keys[j].bits);
		if (M.s.keys[j].kind == RMT_MATCH_LPM)
			lpm = j;
	}
	for (i = 0; i < M.n; i++) {
		for (j = 0; j < M.s.nkeys; j++)
			if (!field_matches(j, &M.e[i].m[j], k[j]))
				break;
		if (j < M.s.nkeys)
			continue;
		if (best < 0)
			best = i;
		else if (M.prio && M.e[i].priority > M.e[best].priority)
			best = i;
		else if (!M.prio && lpm < RMT_MAX_KEYS && M.e[i].m[lpm].b > M.e[best].m[lpm].b)
			best = i;
		else if (!M.prio)
			FUZZ_CHECK(lpm < RMT_MAX_KEYS && M.e[i].m[lpm].b < M.e[best].m[lpm].b,
				   "two entries %d and %u of a non-priority table match", best, i);
	}
	return best;
}

/* A key that matches entry @e (field by field), perturbed by @r. */
static void key_for(const struct ment *e, u64 r, u64 *key)
{
	u32 i;

	for (i = 0; i < M.s.nkeys; i++) {
		u32 bits = M.s.keys[i].bits;
		const struct rmt_match_field *f = &e->m[i];

		r = r * 6364136223846793005ull + 1442695040888963407ull;
		switch (M.s.keys[i].kind) {
		case RMT_MATCH_EXACT:
			key[i] = f->a;
			break;
		case RMT_MATCH_LPM:
			key[i] = f->a | (r & ~prefix_mask(bits, f->b) & width(bits));
			break;
		case RMT_MATCH_TERNARY:
			key[i] = f->a | (r & ~f->b & width(bits));
			break;
		default:
			key[i] = f->b - f->a == ~0ull ? r : f->a + r % (f->b - f->a + 1);
		}
		if ((r >> 60) == 0)
			key[i] ^= 1;	/* sometimes just beside it */
	}
}

static void draw_spec(struct fuzz_in *in, struct rmt_entry_spec *spec)
{
	u32 i, flags = fuzz_u8(in), psize;

	memset(spec, 0, sizeof(*spec));
	spec->nkeys = flags == 0xff ? fuzz_u8(in) : M.s.nkeys;
	if (flags & 1 && M.n) {
		/* an existing entry's identity: EEXIST, modify, delete */
		const struct ment *e = &M.e[fuzz_u8(in) % M.n];

		memcpy(spec->match, e->m, sizeof(e->m));
		spec->priority = e->priority;
	} else {
		for (i = 0; i < M.s.nkeys; i++) {
			u32 bits = M.s.keys[i].bits;

			spec->match[i].a = fuzz_key(in, bits);
			switch (M.s.keys[i].kind) {
			case RMT_MATCH_EXACT:
				spec->match[i].b = flags & 0x80 ? fuzz_u8(in) : 0;
				break;
			case RMT_MATCH_LPM:
				spec->match[i].b = fuzz_u8(in) % (bits + 2);
				break;
			default:
				spec->match[i].b = fuzz_key(in, bits);
			}
		}
		spec->priority = M.prio ? fuzz_u8(in) % 8 : 0;
	}
	if (flags & 2)
		spec->priority = fuzz_u32(in);
	spec->action = fuzz_u8(in) % (M.s.nactions + (flags & 4 ? 2 : 0));
	psize = spec->action < M.s.nactions ? M.s.action_param_size[spec->action] : 8;
	if (flags & 8)
		psize += 1;
	fuzz_bytes(in, spec->params, psize < 24 ? psize : 24);
	if (psize > 24)
		spec->params[psize - 1] = fuzz_u8(in);
}

static int table_update(struct rmt_table *t, u32 op, const struct rmt_entry_spec *spec)
{
	char err[200] = "";
	int rc;

	if (op == 0)
		rc = rmt_table_insert(t, spec, err, sizeof(err));
	else if (op == 1)
		rc = rmt_table_modify(t, spec, err, sizeof(err));
	else
		rc = rmt_table_delete(t, spec, err, sizeof(err));
	fuzz_check_err(rc, err, sizeof(err));
	return rc;
}

static void do_update(struct rmt_table *t, u32 op, const struct rmt_entry_spec *spec)
{
	int want = model_update(op, spec), got = table_update(t, op, spec);

	FUZZ_CHECK(got == want, "op %u: table says %d, the semantics %d (%u entries)",
		   op, got, want, M.n);
}

static void do_lookup(struct rmt_table *t, const u64 *key)
{
	int want = model_lookup(key);
	const u8 *params = NULL;
	u16 action = 0xffff;
	bool hit = rmt_table_lookup(t, key, &action, &params);

	FUZZ_CHECK(hit == (want >= 0), "lookup: hit %d, the semantics select %d", hit, want);
	if (want >= 0) {
		FUZZ_CHECK(action == M.e[want].action, "lookup: action %u, want %u of entry %d",
			   action, M.e[want].action, want);
		FUZZ_CHECK(!M.s.param_size || !memcmp(params, M.e[want].params, M.s.param_size),
			   "lookup: parameters of entry %d differ", want);
		M.e[want].hits++;
		M.hits++;
	} else {
		FUZZ_CHECK(action == M.s.default_action, "miss: action %u", action);
		FUZZ_CHECK(!M.s.param_size || !memcmp(params, M.s.default_params, M.s.param_size),
			   "miss: default parameters differ");
		M.misses++;
	}
}

static void compare_dump(struct rmt_table *t)
{
	u64 hits, misses;
	u32 n = rmt_table_dump(t, 0, dump, MAX_MODEL), i, j;

	FUZZ_CHECK(n == M.n && rmt_table_count(t) == M.n, "dump has %u entries, want %u", n, M.n);
	for (i = 0; i < n; i++) {
		const struct rmt_entry_spec *s = &dump[i].spec;

		FUZZ_CHECK(s->nkeys == M.s.nkeys && s->action == M.e[i].action &&
			   s->priority == M.e[i].priority && dump[i].hits == M.e[i].hits,
			   "entry %u: action %u/%u priority %u/%u hits %llu/%llu", i, s->action,
			   M.e[i].action, s->priority, M.e[i].priority, dump[i].hits,
			   M.e[i].hits);
		for (j = 0; j < M.s.nkeys; j++)
			FUZZ_CHECK(s->match[j].a == M.e[i].m[j].a && s->match[j].b == M.e[i].m[j].b,
				   "entry %u field %u: %llx/%llx want %llx/%llx", i, j,
				   s->match[j].a, s->match[j].b, M.e[i].m[j].a, M.e[i].m[j].b);
		FUZZ_CHECK(!memcmp(s->params, M.e[i].params, sizeof(s->params)),
			   "entry %u parameters differ", i);
	}
	rmt_table_stats(t, &hits, &misses);
	FUZZ_CHECK(hits == M.hits && misses == M.misses, "hits %llu/%llu misses %llu/%llu",
		   hits, M.hits, misses, M.misses);
}

/*
 * Schema: nkeys, then per key kind and width, nactions, param_size, the
 * actions' sizes, max_entries, default action and parameters.
 */
static int decode_schema(struct fuzz_in *in, struct rmt_table_schema *s)
{
	u32 i, nlpm = 0, nprio = 0;
	u8 b;

	memset(s, 0, sizeof(*s));
	s->nkeys = 1 + fuzz_u8(in) % RMT_MAX_KEYS;
	for (i = 0; i < s->nkeys; i++) {
		b = fuzz_u8(in);
		s->keys[i].kind = b & 3;
		s->keys[i].bits = 1 + (b >> 2) % 64;
		nlpm += s->keys[i].kind == RMT_MATCH_LPM;
		nprio += s->keys[i].kind >= RMT_MATCH_TERNARY;
	}
	s->nactions = 1 + fuzz_u8(in) % 8;
	s->param_size = fuzz_u8(in) % (RMT_MAX_PARAM_SIZE + 1);
	for (i = 0; i < s->nactions; i++)
		s->action_param_size[i] = fuzz_u8(in) % (s->param_size + 1);
	b = fuzz_u8(in);
	s->max_entries = b & 0x80 ? 256 : 1 + b % 64;
	s->default_action = fuzz_u8(in) % s->nactions;
	fuzz_bytes(in, s->default_params, s->param_size < 16 ? s->param_size : 16);
	return !nprio && nlpm > 1 ? -EINVAL : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct rmt_entry_spec spec;
	struct rmt_table *t = NULL;
	char err[200] = "";
	int want, rc, ops = 0;
	u64 key[RMT_MAX_KEYS];
	u32 i;

	memset(&M, 0, offsetof(struct model, e));
	want = decode_schema(&in, &M.s);
	for (i = 0; i < M.s.nkeys; i++)
		M.prio |= M.s.keys[i].kind >= RMT_MATCH_TERNARY;
	rc = rmt_table_create(&M.s, &t, err, sizeof(err));
	fuzz_check_err(rc, err, sizeof(err));
	FUZZ_CHECK(rc == want, "create: %d (%s), want %d", rc, err, want);
	if (rc)
		return 0;
	while (fuzz_left(&in) && ops++ < MAX_OPS) {
		u8 op = fuzz_u8(&in);

		switch (op % 8) {
		case 0: case 1: case 2:
			draw_spec(&in, &spec);
			do_update(t, 0, &spec);
			break;
		case 3: case 4:
			draw_spec(&in, &spec);
			do_update(t, op % 8 == 3 ? 1 : 2, &spec);
			break;
		case 5: case 6:
			if (M.n && !(op & 0x80)) {
				key_for(&M.e[fuzz_u8(&in) % M.n], fuzz_u64(&in), key);
			} else {
				for (i = 0; i < M.s.nkeys; i++)
					key[i] = fuzz_key(&in, (op & 0x40) ? 64 : M.s.keys[i].bits);
			}
			do_lookup(t, key);
			break;
		default: {
			/* bulk: n generated entries (disjoint-ish ranges, spread values) */
			u32 n = fuzz_u8(&in), step = 1 + fuzz_u8(&in), j;
			u64 r = fuzz_u64(&in) | 1;

			for (j = 0; j < n && M.n < M.s.max_entries; j++) {
				memset(&spec, 0, sizeof(spec));
				spec.nkeys = M.s.nkeys;
				for (i = 0; i < M.s.nkeys; i++) {
					u64 w = width(M.s.keys[i].bits), lo = ((u64)j * step) & w;

					r ^= r << 13; r ^= r >> 7; r ^= r << 17;
					switch (M.s.keys[i].kind) {
					case RMT_MATCH_EXACT:
						spec.match[i].a = lo;
						break;
					case RMT_MATCH_LPM:
						spec.match[i].a = r & w;
						spec.match[i].b = r % (M.s.keys[i].bits + 1);
						break;
					case RMT_MATCH_TERNARY:
						spec.match[i].a = r & w;
						spec.match[i].b = (r >> 7) & w;
						break;
					default:
						spec.match[i].a = lo;
						spec.match[i].b = lo + (r % step) > w || lo + (r % step) < lo ?
							w : lo + r % step;
					}
				}
				spec.priority = M.prio ? r % 16 : 0;
				spec.action = r % M.s.nactions;
				do_update(t, 0, &spec);
			}
		}
		}
	}
	compare_dump(t);
	rmt_table_destroy(t);
	return 0;
}
