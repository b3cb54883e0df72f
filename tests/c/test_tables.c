// SPDX-License-Identifier: GPL-2.0
/*
 * test_tables.c: unit tests of the tables, vm_kernel/core/rmt_table*.c (userspace, ASan+UBSan).
 *
 * Directed tests pin each selection rule and each control-plane error to a
 * hand-written expectation; randomized tests then run thousands of
 * insert/modify/delete/lookup operations on tables of every class against a
 * linear-scan model written straight from docs/semantics.md, comparing
 * return codes, selections, hit counters and dumps after every step.
 */
#include "rmt_table.h"
#include "check.h"

#include <stdarg.h>

static char err[256];

/* ------------------------------------------------------------------ helpers */

struct keydef {
	u8 kind, bits;
};

static struct rmt_table_schema schema(u32 max_entries, u32 nkeys, const struct keydef *keys)
{
	struct rmt_table_schema s;
	u32 i;

	memset(&s, 0, sizeof(s));
	s.max_entries = max_entries;
	s.nkeys = nkeys;
	for (i = 0; i < nkeys; i++) {
		s.keys[i].kind = keys[i].kind;
		s.keys[i].bits = keys[i].bits;
	}
	s.nactions = 3;
	s.param_size = 8;
	s.action_param_size[0] = 0;
	s.action_param_size[1] = 4;
	s.action_param_size[2] = 8;
	s.default_action = 0;
	memcpy(s.default_params, "DEFAULT!", 8);
	return s;
}

static struct rmt_table *mk(const struct rmt_table_schema *s)
{
	struct rmt_table *t = NULL;
	int ret = rmt_table_create(s, &t, err, sizeof(err));

	CHECK(ret == 0 && t, "create: %d %s", ret, err);
	return t;
}

static struct rmt_entry_spec spec(u32 prio, u16 action, u32 param, u32 nkeys, ...)
{
	struct rmt_entry_spec e;
	va_list ap;
	u32 i;

	memset(&e, 0, sizeof(e));
	e.priority = prio;
	e.action = action;
	e.nkeys = nkeys;
	if (action)
		memcpy(e.params, &param, 4);
	va_start(ap, nkeys);
	for (i = 0; i < nkeys; i++) {
		e.match[i].a = va_arg(ap, u64);
		e.match[i].b = va_arg(ap, u64);
	}
	va_end(ap);
	return e;
}

/* Look up; return the action, and the first 4 parameter bytes in *param. */
static int look(struct rmt_table *t, u32 *param, u32 nkeys, ...)
{
	u64 key[RMT_MAX_KEYS];
	const u8 *params;
	u16 action;
	va_list ap;
	bool hit;
	u32 i;

	va_start(ap, nkeys);
	for (i = 0; i < nkeys; i++)
		key[i] = va_arg(ap, u64);
	va_end(ap);
	rcu_read_lock();
	hit = rmt_table_lookup(t, key, &action, &params);
	if (param)
		memcpy(param, params, 4);
	rcu_read_unlock();
	return hit ? action : -1 - action;
}

static u32 dump_all(struct rmt_table *t, struct rmt_entry_dump *out, u32 max)
{
	return rmt_table_dump(t, 0, out, max);
}

static bool dumps_equal(struct rmt_table *t, const struct rmt_entry_dump *before, u32 n)
{
	static struct rmt_entry_dump now[512];
	u32 m = dump_all(t, now, 512);

	return m == n && !memcmp(now, before, n * sizeof(*now));
}

#define U(x) ((u64)(x))

/* ------------------------------------------------------------------ directed */

static void test_create_errors(void)
{
	struct keydef k[2] = { { RMT_MATCH_LPM, 8 }, { RMT_MATCH_LPM, 8 } };
	struct rmt_table_schema s = schema(10, 2, k);
	struct rmt_table *t = (void *)1;

	CHECK_EQ(rmt_table_create(&s, &t, err, sizeof(err)), -EINVAL);
	CHECK(t == NULL && strstr(err, "lpm"), "%s", err);
	s = schema(0, 1, k);
	CHECK_EQ(rmt_table_create(&s, &t, err, sizeof(err)), -EINVAL);
	s = schema(10, 1, k);
	s.keys[0].bits = 65;
	CHECK_EQ(rmt_table_create(&s, &t, err, sizeof(err)), -EINVAL);
	s = schema(10, 1, k);
	s.keys[0].kind = 7;
	CHECK_EQ(rmt_table_create(&s, &t, err, sizeof(err)), -EINVAL);
	s = schema(10, 1, k);
	s.default_action = 3;
	CHECK_EQ(rmt_table_create(&s, &t, err, sizeof(err)), -EINVAL);
	s = schema(10, 1, k);
	s.action_param_size[2] = 9;
	CHECK_EQ(rmt_table_create(&s, &t, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "action 2"), "%s", err);
	s = schema(10, 1, k);
	s.nkeys = RMT_MAX_KEYS + 1;
	CHECK_EQ(rmt_table_create(&s, &t, err, sizeof(err)), -EINVAL);
}

static void test_exact(void)
{
	struct keydef k[2] = { { RMT_MATCH_EXACT, 16 }, { RMT_MATCH_EXACT, 64 } };
	struct rmt_table_schema s = schema(4, 2, k);
	struct rmt_table *t = mk(&s);
	struct rmt_entry_spec e;
	struct rmt_entry_dump d[8], before[8];
	const u8 *params;
	u64 hits, misses, key[2];
	u16 action;
	u32 p, n;

	e = spec(0, 1, 111, 2, U(7), U(0), U(~0ull), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(0, 2, 222, 2, U(7), U(0), U(5), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(rmt_table_count(t), 2);
	CHECK_EQ(look(t, &p, 2, U(7), U(~0ull)), 1);
	CHECK_EQ(p, 111);
	CHECK_EQ(look(t, &p, 2, U(7), U(5)), 2);
	CHECK_EQ(p, 222);
	/* key fields are masked to the key width: bit 16 of key 0 is ignored */
	CHECK_EQ(look(t, &p, 2, U(7 | 1 << 16), U(5)), 2);
	/* a miss gives the default action and parameters */
	key[0] = 8;
	key[1] = 5;
	CHECK(!rmt_table_lookup(t, key, &action, &params), "miss expected");
	CHECK_EQ(action, 0);
	CHECK(!memcmp(params, "DEFAULT!", 8), "default params");
	rmt_table_stats(t, &hits, &misses);
	CHECK_EQ(hits, 3);
	CHECK_EQ(misses, 1);
	n = dump_all(t, d, 8);
	CHECK_EQ(n, 2);
	CHECK_EQ(d[0].hits, 1);
	CHECK_EQ(d[1].hits, 2);
	CHECK_EQ(d[0].spec.match[1].a, ~0ull);

	/* every error, and that a failed call changes nothing */
	memcpy(before, d, sizeof(d));
	e = spec(0, 1, 1, 2, U(7), U(0), U(5), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EEXIST);
	CHECK(strstr(err, "exists"), "%s", err);
	e = spec(0, 1, 1, 1, U(7), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "1 match fields") && strstr(err, "2 keys"), "%s", err);
	e = spec(0, 1, 1, 2, U(1 << 16), U(0), U(5), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "wider than the 16-bit key"), "%s", err);
	e = spec(0, 1, 1, 2, U(1), U(3), U(5), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	e = spec(0, 3, 1, 2, U(1), U(0), U(5), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "action index 3"), "%s", err);
	e = spec(0, 1, 1, 2, U(1), U(0), U(5), U(0));
	e.params[4] = 1;	/* action 1 takes 4 bytes */
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "parameter byte 4"), "%s", err);
	e = spec(1, 1, 1, 2, U(1), U(0), U(5), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "priority"), "%s", err);
	e = spec(0, 1, 1, 2, U(9), U(0), U(9), U(0));
	CHECK_EQ(rmt_table_modify(t, &e, err, sizeof(err)), -ENOENT);
	CHECK_EQ(rmt_table_delete(t, &e, err, sizeof(err)), -ENOENT);
	e = spec(0, 3, 1, 2, U(7), U(0), U(5), U(0));
	CHECK_EQ(rmt_table_modify(t, &e, err, sizeof(err)), -EINVAL);
	CHECK(dumps_equal(t, before, 2), "a failed call changed the table");

	/* ENOSPC at max_entries (4) */
	e = spec(0, 0, 0, 2, U(1), U(0), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(0, 0, 0, 2, U(2), U(0), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(0, 0, 0, 2, U(3), U(0), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -ENOSPC);
	CHECK(strstr(err, "full"), "%s", err);
	/* EEXIST is reported before ENOSPC, as in the reference */
	e = spec(0, 0, 0, 2, U(2), U(0), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EEXIST);

	/* modify keeps the hit counter and the position; delete frees a slot */
	e = spec(0, 2, 333, 2, U(7), U(0), U(5), U(0));
	CHECK_EQ(rmt_table_modify(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 2, U(7), U(5)), 2);
	CHECK_EQ(p, 333);
	n = dump_all(t, d, 8);
	CHECK_EQ(n, 4);
	CHECK_EQ(d[1].hits, 3);
	CHECK_EQ(d[1].spec.action, 2);
	e = spec(0, 0, 0, 2, U(7), U(0), U(~0ull), U(0));
	CHECK_EQ(rmt_table_delete(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, NULL, 2, U(7), U(~0ull)), -1);
	e = spec(0, 0, 0, 2, U(3), U(0), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	n = dump_all(t, d, 8);
	CHECK_EQ(n, 4);
	CHECK_EQ(d[3].spec.match[0].a, 3);	/* insertion order */
	CHECK_EQ(rmt_table_dump(t, 3, d, 8), 1);
	CHECK_EQ(d[0].spec.match[0].a, 3);
	rmt_table_destroy(t);
}

static void test_lpm(void)
{
	struct keydef k[1] = { { RMT_MATCH_LPM, 32 } };
	struct rmt_table_schema s = schema(64, 1, k);
	struct rmt_table *t = mk(&s);
	struct rmt_entry_spec e;
	struct rmt_entry_dump d[8];
	u32 p;

#define IP(a, b, c, d) U((u32)(a) << 24 | (b) << 16 | (c) << 8 | (d))
	e = spec(0, 1, 8, 1, IP(10, 0, 0, 0), U(8));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(0, 1, 24, 1, IP(10, 1, 2, 99), U(24));	/* stored as 10.1.2.0/24 */
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(0, 1, 16, 1, IP(10, 1, 0, 0), U(16));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(0, 1, 32, 1, IP(10, 1, 2, 3), U(32));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, IP(10, 1, 2, 3)), 1);
	CHECK_EQ(p, 32);
	CHECK_EQ(look(t, &p, 1, IP(10, 1, 2, 4)), 1);
	CHECK_EQ(p, 24);
	CHECK_EQ(look(t, &p, 1, IP(10, 1, 3, 4)), 1);
	CHECK_EQ(p, 16);
	CHECK_EQ(look(t, &p, 1, IP(10, 2, 3, 4)), 1);
	CHECK_EQ(p, 8);
	CHECK_EQ(look(t, &p, 1, IP(11, 2, 3, 4)), -1);
	/* the normal form: the same prefix with other host bits is the same entry */
	e = spec(0, 1, 0, 1, IP(10, 1, 2, 7), U(24));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EEXIST);
	CHECK_EQ(dump_all(t, d, 8), 4);
	CHECK_EQ(d[1].spec.match[0].a, IP(10, 1, 2, 0));
	e = spec(0, 1, 0, 1, IP(10, 1, 2, 7), U(33));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "prefix length 33"), "%s", err);
	/* the default route, then deletes fall back to the next shorter prefix */
	e = spec(0, 2, 0, 1, U(0), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, IP(11, 2, 3, 4)), 2);
	e = spec(0, 0, 0, 1, IP(10, 1, 0, 0), U(16));
	CHECK_EQ(rmt_table_delete(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, IP(10, 1, 3, 4)), 1);
	CHECK_EQ(p, 8);
	CHECK_EQ(look(t, &p, 1, IP(10, 1, 2, 3)), 1);
	CHECK_EQ(p, 32);
	e = spec(0, 0, 0, 1, IP(10, 1, 2, 3), U(32));
	CHECK_EQ(rmt_table_delete(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, IP(10, 1, 2, 3)), 1);
	CHECK_EQ(p, 24);
	e = spec(0, 0, 0, 1, IP(10, 0, 0, 0), U(8));
	CHECK_EQ(rmt_table_delete(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, IP(10, 1, 2, 3)), 1);
	CHECK_EQ(p, 24);
	CHECK_EQ(look(t, &p, 1, IP(10, 9, 2, 3)), 2);
	CHECK_EQ(rmt_table_count(t), 2);
	rmt_table_destroy(t);
#undef IP
}

static void test_lpm_with_exact(void)
{
	struct keydef k[2] = { { RMT_MATCH_EXACT, 8 }, { RMT_MATCH_LPM, 64 } };
	struct rmt_table_schema s = schema(64, 2, k);
	struct rmt_table *t = mk(&s);
	struct rmt_entry_spec e;
	u32 p;

	e = spec(0, 1, 1, 2, U(1), U(0), U(0xff00000000000000ull), U(8));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(0, 1, 2, 2, U(2), U(0), U(0xff00000000000000ull), U(4));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(0, 1, 3, 2, U(1), U(0), U(0xffffffffffffffffull), U(64));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 2, U(1), U(0xff12000000000000ull)), 1);
	CHECK_EQ(p, 1);
	CHECK_EQ(look(t, &p, 2, U(2), U(0xff12000000000000ull)), 1);
	CHECK_EQ(p, 2);
	CHECK_EQ(look(t, &p, 2, U(1), U(~0ull)), 1);
	CHECK_EQ(p, 3);
	CHECK_EQ(look(t, &p, 2, U(3), U(~0ull)), -1);
	CHECK_EQ(look(t, &p, 2, U(2), U(0x0f00000000000000ull)), -1);
	rmt_table_destroy(t);
}

static void test_ternary_priority(void)
{
	struct keydef k[1] = { { RMT_MATCH_TERNARY, 8 } };
	struct rmt_table_schema s = schema(64, 1, k);
	struct rmt_table *t = mk(&s);
	struct rmt_entry_spec e;
	struct rmt_entry_dump d[8];
	u32 p;

	e = spec(5, 1, 100, 1, U(0x10), U(0xf0));	/* 0x1? */
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(5, 1, 200, 1, U(0x03), U(0x0f));	/* 0x?3, same priority, later */
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(1, 1, 300, 1, U(0x13), U(0xff));	/* exact 0x13, low priority */
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	/* 0x13 matches all three: priority 5 wins, tie goes to the first inserted */
	CHECK_EQ(look(t, &p, 1, U(0x13)), 1);
	CHECK_EQ(p, 100);
	CHECK_EQ(look(t, &p, 1, U(0x23)), 1);
	CHECK_EQ(p, 200);
	/* the same match with another priority is another entry */
	e = spec(9, 1, 400, 1, U(0x13), U(0xff));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, U(0x13)), 1);
	CHECK_EQ(p, 400);
	e = spec(9, 1, 0, 1, U(0x13), U(0xff));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EEXIST);
	/* value bits outside the mask are dropped: the same identity */
	e = spec(5, 1, 0, 1, U(0x1f), U(0xf0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EEXIST);
	/* priority range */
	e = spec(0x80000000u, 1, 0, 1, U(0x1f), U(0xf0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	e = spec(0, 1, 0, 1, U(0x1f), U(0x1f0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "mask"), "%s", err);
	/* delete needs the priority too */
	e = spec(8, 0, 0, 1, U(0x13), U(0xff));
	CHECK_EQ(rmt_table_delete(t, &e, err, sizeof(err)), -ENOENT);
	e = spec(9, 0, 0, 1, U(0x13), U(0xff));
	CHECK_EQ(rmt_table_delete(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, U(0x13)), 1);
	CHECK_EQ(p, 100);
	/* modify keeps the rank: the tie with the second entry still goes to it */
	e = spec(5, 2, 101, 1, U(0x10), U(0xf0));
	CHECK_EQ(rmt_table_modify(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, U(0x13)), 2);
	CHECK_EQ(p, 101);
	CHECK_EQ(dump_all(t, d, 8), 3);
	CHECK_EQ(d[0].hits, 3);
	CHECK_EQ(d[0].spec.priority, 5);
	/* delete and re-insert: now it ranks after the second entry */
	CHECK_EQ(rmt_table_delete(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, U(0x13)), 1);
	CHECK_EQ(p, 200);
	/* the wildcard catches everything else */
	CHECK_EQ(look(t, &p, 1, U(0x44)), -1);
	e = spec(0, 1, 7, 1, U(0), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 1, U(0x44)), 1);
	CHECK_EQ(p, 7);
	rmt_table_destroy(t);
}

static void test_range(void)
{
	struct keydef k[2] = { { RMT_MATCH_RANGE, 16 }, { RMT_MATCH_EXACT, 8 } };
	struct rmt_table_schema s = schema(64, 2, k);
	struct rmt_table *t = mk(&s);
	struct rmt_entry_spec e;
	u32 p;

	e = spec(1, 1, 1, 2, U(0), U(99), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(2, 1, 2, 2, U(50), U(60), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	e = spec(3, 1, 3, 2, U(60), U(0xffff), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), 0);
	CHECK_EQ(look(t, &p, 2, U(0), U(1)), 1);
	CHECK_EQ(p, 1);
	CHECK_EQ(look(t, &p, 2, U(50), U(1)), 1);
	CHECK_EQ(p, 2);
	CHECK_EQ(look(t, &p, 2, U(60), U(1)), 1);	/* bounds are inclusive */
	CHECK_EQ(p, 3);
	CHECK_EQ(look(t, &p, 2, U(0xffff), U(1)), 1);
	CHECK_EQ(p, 3);
	CHECK_EQ(look(t, &p, 2, U(50), U(2)), -1);
	e = spec(1, 1, 1, 2, U(5), U(4), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "lo > hi"), "%s", err);
	e = spec(1, 1, 1, 2, U(5), U(0x10000), U(1), U(0));
	CHECK_EQ(rmt_table_insert(t, &e, err, sizeof(err)), -EINVAL);
	rmt_table_destroy(t);
}

/* ------------------------------------------------------------------ randomized */

/* The reference: a list in insertion order, scanned on every lookup. */
struct ref_entry {
	struct rmt_entry_spec e;	/* normal form */
	u64 hits;
};

struct ref_table {
	struct rmt_table_schema s;
	struct ref_entry v[512];
	u32 n;
	bool prio;
	int nlpm;
};

static u64 wmask(u32 bits)
{
	return bits == 64 ? ~0ull : (1ull << bits) - 1;
}

static u64 pmask(u32 bits, u32 plen)
{
	return plen ? (~0ull << (bits - plen)) & wmask(bits) : 0;
}

static int ref_norm(const struct ref_table *r, const struct rmt_entry_spec *in,
		    struct rmt_entry_spec *out, bool full)
{
	u32 i;

	memset(out, 0, sizeof(*out));
	if (in->nkeys != r->s.nkeys)
		return -EINVAL;
	for (i = 0; i < r->s.nkeys; i++) {
		u64 a = in->match[i].a, b = in->match[i].b, w = wmask(r->s.keys[i].bits);

		if (a > w)
			return -EINVAL;
		switch (r->s.keys[i].kind) {
		case RMT_MATCH_EXACT:
			if (b)
				return -EINVAL;
			break;
		case RMT_MATCH_LPM:
			if (b > r->s.keys[i].bits)
				return -EINVAL;
			a &= pmask(r->s.keys[i].bits, (u32)b);
			break;
		case RMT_MATCH_TERNARY:
			if (b > w)
				return -EINVAL;
			a &= b;
			break;
		default:
			if (b > w || a > b)
				return -EINVAL;
		}
		out->match[i].a = a;
		out->match[i].b = b;
	}
	out->nkeys = in->nkeys;
	out->priority = r->prio ? in->priority : 0;
	if (!full)
		return 0;
	if (r->prio ? in->priority > 0x7fffffffu : in->priority != 0)
		return -EINVAL;
	if (in->action >= r->s.nactions)
		return -EINVAL;
	for (i = r->s.action_param_size[in->action]; i < RMT_MAX_PARAM_SIZE; i++)
		if (in->params[i])
			return -EINVAL;
	out->action = in->action;
	memcpy(out->params, in->params, RMT_MAX_PARAM_SIZE);
	return 0;
}

static int ref_find(const struct ref_table *r, const struct rmt_entry_spec *n)
{
	u32 i;

	for (i = 0; i < r->n; i++)
		if (!memcmp(r->v[i].e.match, n->match, sizeof(n->match)) &&
		    r->v[i].e.priority == n->priority)
			return (int)i;
	return -1;
}

static int ref_update(struct ref_table *r, int op, const struct rmt_entry_spec *in)
{
	struct rmt_entry_spec n;
	int ret = ref_norm(r, in, &n, op != 2), i;

	if (ret)
		return ret;
	i = ref_find(r, &n);
	if (op == 0) {
		if (i >= 0)
			return -EEXIST;
		if (r->n >= r->s.max_entries)
			return -ENOSPC;
		r->v[r->n].e = n;
		r->v[r->n++].hits = 0;
		return 0;
	}
	if (i < 0)
		return -ENOENT;
	if (op == 1) {
		r->v[i].e = n;
		return 0;
	}
	memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(r->v[0]));
	r->n--;
	return 0;
}

static bool ref_field(u8 kind, u32 bits, const struct rmt_match_field *m, u64 k)
{
	switch (kind) {
	case RMT_MATCH_EXACT:
		return k == m->a;
	case RMT_MATCH_LPM:
		return ((k ^ m->a) & pmask(bits, (u32)m->b)) == 0;
	case RMT_MATCH_TERNARY:
		return (k & m->b) == m->a;
	default:
		return m->a <= k && k <= m->b;
	}
}

static int ref_lookup(struct ref_table *r, const u64 *raw, const u8 **params)
{
	struct ref_entry *best = NULL;
	long long best_rank = -1, rank;
	u64 k[RMT_MAX_KEYS];
	u32 i, j;

	for (j = 0; j < r->s.nkeys; j++)
		k[j] = raw[j] & wmask(r->s.keys[j].bits);
	for (i = 0; i < r->n; i++) {
		struct ref_entry *x = &r->v[i];

		for (j = 0; j < r->s.nkeys; j++)
			if (!ref_field(r->s.keys[j].kind, r->s.keys[j].bits, &x->e.match[j], k[j]))
				break;
		if (j < r->s.nkeys)
			continue;
		rank = 0;
		if (r->prio)
			rank = x->e.priority;
		else
			for (j = 0; j < r->s.nkeys; j++)
				if (r->s.keys[j].kind == RMT_MATCH_LPM)
					rank = (long long)x->e.match[j].b;
		if (rank > best_rank) {
			best = x;
			best_rank = rank;
		}
	}
	if (!best) {
		*params = r->s.default_params;
		return -1 - r->s.default_action;
	}
	best->hits++;
	*params = best->e.params;
	return best->e.action;
}

/* A random field value: mostly from a small domain so entries collide. */
static u64 rnd_val(u32 bits)
{
	u64 w = wmask(bits);

	switch (test_below(4)) {
	case 0:
		return test_rand() & w;
	case 1:
		return (test_rand() & w) & ~(w >> 2);	/* top bits only */
	default:
		return test_below(4) & w;
	}
}

/* Range fields: wide random ranges over the whole width instead of a small domain. */
static bool wide_ranges;

static void rnd_spec(struct ref_table *r, struct rmt_entry_spec *e)
{
	u32 i, psize;

	memset(e, 0, sizeof(*e));
	e->nkeys = r->s.nkeys;
	if (!test_below(100))
		e->nkeys = r->s.nkeys + 1 - 2 * (u32)test_below(2);
	for (i = 0; i < r->s.nkeys; i++) {
		u32 bits = r->s.keys[i].bits;
		u64 lo, hi;

		switch (r->s.keys[i].kind) {
		case RMT_MATCH_EXACT:
			e->match[i].a = rnd_val(bits);
			break;
		case RMT_MATCH_LPM:
			e->match[i].a = test_rand() & wmask(bits);
			e->match[i].b = test_below(bits + 1);
			if (!test_below(4))
				e->match[i].b = bits - test_below(2);
			break;
		case RMT_MATCH_TERNARY:
			e->match[i].a = rnd_val(bits);
			e->match[i].b = test_below(3) ? wmask(bits) & ~test_below(4) :
				(test_below(2) ? 0 : rnd_val(bits));
			break;
		default:
			lo = rnd_val(bits);
			hi = rnd_val(bits);
			if (wide_ranges) {
				lo = test_rand() & wmask(bits);
				hi = lo + (test_below(4) ? test_below(64) : test_rand() & wmask(bits));
				hi = hi < lo || hi > wmask(bits) ? wmask(bits) : hi;
			}
			e->match[i].a = lo < hi ? lo : hi;
			e->match[i].b = lo < hi ? hi : lo;
			break;
		}
		if (!test_below(150))
			e->match[i].a = ~0ull;	/* too wide, unless 64 bits */
	}
	e->priority = r->prio ? (u32)test_below(4) : 0;
	if (!test_below(100))
		e->priority = test_below(2) ? 1 : 0x80000000u;
	e->action = (u16)test_below(r->s.nactions + (test_below(50) ? 0 : 1));
	psize = e->action < r->s.nactions ? r->s.action_param_size[e->action] : 0;
	for (i = 0; i < psize; i++)
		e->params[i] = (u8)test_rand();
	if (!test_below(100))
		e->params[psize] = 1;
}

static void rnd_key(struct ref_table *r, u64 *k)
{
	const struct ref_entry *x = r->n ? &r->v[test_below(r->n)] : NULL;
	u32 i;

	for (i = 0; i < r->s.nkeys; i++) {
		const struct rmt_match_field *m = x ? &x->e.match[i] : NULL;
		u32 bits = r->s.keys[i].bits;

		if (!m || !test_below(8)) {
			k[i] = rnd_val(bits);
			continue;
		}
		switch (r->s.keys[i].kind) {
		case RMT_MATCH_EXACT:
			k[i] = m->a;
			break;
		case RMT_MATCH_LPM:
			k[i] = m->a | (test_rand() & ~pmask(bits, (u32)m->b) & wmask(bits));
			break;
		case RMT_MATCH_TERNARY:
			k[i] = m->a | (test_rand() & ~m->b & wmask(bits));
			break;
		default:
			k[i] = m->a + test_below(m->b - m->a + 1);
			break;
		}
		if (!test_below(16))
			k[i] |= ~wmask(bits);	/* bits above the width are ignored */
	}
}

static void compare_dump(struct rmt_table *t, struct ref_table *r, const char *name)
{
	static struct rmt_entry_dump d[512];
	u32 n = dump_all(t, d, 512), i;

	CHECK(n == r->n, "%s: dump has %u entries, reference %u", name, n, r->n);
	for (i = 0; i < n; i++) {
		const struct rmt_entry_spec *a = &d[i].spec, *b = &r->v[i].e;

		CHECK(!memcmp(a->match, b->match, r->s.nkeys * sizeof(a->match[0])) &&
		      a->priority == b->priority && a->action == b->action &&
		      !memcmp(a->params, b->params, r->s.param_size) && d[i].hits == r->v[i].hits,
		      "%s: entry %u differs (hits %llu vs %llu)", name, i,
		      (unsigned long long)d[i].hits, (unsigned long long)r->v[i].hits);
	}
}

/* @drain: the second half of the steps mostly deletes (tables shrink). */
static void random_table_ex(const char *name, u32 max_entries, u32 nkeys,
			    const struct keydef *keys, u32 steps, bool drain)
{
	static struct ref_table r;
	struct rmt_table *t;
	struct rmt_entry_spec e;
	u64 key[RMT_MAX_KEYS];
	u32 i, j;

	memset(&r, 0, sizeof(r));
	r.s = schema(max_entries, nkeys, keys);
	for (i = 0; i < nkeys; i++)
		r.prio |= keys[i].kind == RMT_MATCH_TERNARY || keys[i].kind == RMT_MATCH_RANGE;
	t = mk(&r.s);
	for (i = 0; i < steps; i++) {
		int op = (int)test_below(10), want, got;

		op = op < 5 ? 0 : op < 7 ? 1 : op < 9 ? 2 : 3;
		if (drain && i > steps / 2)
			op = op == 0 && test_below(3) ? 2 : op;
		if (op < 3) {
			rnd_spec(&r, &e);
			if (op && r.n && test_below(4)) {
				/* aim at an existing entry */
				struct rmt_entry_spec x = r.v[test_below(r.n)].e;

				memcpy(e.match, x.match, sizeof(e.match));
				e.priority = x.priority;
				e.nkeys = x.nkeys;
			}
			want = ref_update(&r, op, &e);
			got = op == 0 ? rmt_table_insert(t, &e, err, sizeof(err)) :
				op == 1 ? rmt_table_modify(t, &e, err, sizeof(err)) :
				rmt_table_delete(t, &e, err, sizeof(err));
			CHECK(want == got, "%s step %u op %d: got %d, reference %d (%s)", name, i, op,
			      got, want, err);
		}
		for (j = 0; j < 4; j++) {
			const u8 *p1, *p2;
			u16 action;
			bool hit;

			rnd_key(&r, key);
			want = ref_lookup(&r, key, &p1);
			rcu_read_lock();
			hit = rmt_table_lookup(t, key, &action, &p2);
			got = hit ? action : -1 - action;
			CHECK(want == got && !memcmp(p1, p2, r.s.param_size),
			      "%s step %u: lookup got %d, reference %d", name, i, got, want);
			rcu_read_unlock();
		}
		if (i % 64 == 0 || op == 3)
			compare_dump(t, &r, name);
	}
	compare_dump(t, &r, name);
	rmt_table_destroy(t);
}

static void random_table(const char *name, u32 max_entries, u32 nkeys, const struct keydef *keys,
			 u32 steps)
{
	random_table_ex(name, max_entries, nkeys, keys, steps, false);
}

/*
 * Range tables big enough for their search trees to rebuild subtrees on
 * insert and compact tombstones on delete, against the linear-scan reference.
 */
static void test_random_ranges(void)
{
	static const struct keydef r16[] = { { RMT_MATCH_RANGE, 16 } };
	static const struct keydef r64[] = { { RMT_MATCH_RANGE, 64 } };
	static const struct keydef xrr[] = { { RMT_MATCH_EXACT, 2 }, { RMT_MATCH_RANGE, 12 },
					     { RMT_MATCH_RANGE, 8 } };
	static const struct keydef trr[] = { { RMT_MATCH_RANGE, 10 }, { RMT_MATCH_TERNARY, 4 },
					     { RMT_MATCH_RANGE, 6 } };

	wide_ranges = true;
	random_table_ex("range16 wide", 500, 1, r16, 12000, true);
	random_table_ex("range64 wide", 300, 1, r64, 6000, true);
	random_table_ex("exact+range+range wide", 400, 3, xrr, 8000, true);
	random_table_ex("range+ternary+range wide", 300, 3, trr, 6000, true);
	wide_ranges = false;
	random_table_ex("range16 small domain", 200, 1, r16, 6000, true);
	random_table_ex("exact+range+range", 300, 3, xrr, 6000, true);
}

/*
 * Range entries inserted in rising, falling and nested order (each grows
 * the tree along one spine, so it rebuilds again and again), then deleted in
 * random order, with lookups checked against the reference after each step.
 */
static void test_range_orders(void)
{
	static const struct keydef r32[] = { { RMT_MATCH_RANGE, 32 } };
	static struct ref_table r;
	struct rmt_entry_spec e;
	struct rmt_table *t;
	u32 order, i, j, n = 400;
	u64 key[RMT_MAX_KEYS];

	for (order = 0; order < 3; order++) {
		memset(&r, 0, sizeof(r));
		r.s = schema(n, 1, r32);
		r.prio = true;
		t = mk(&r.s);
		for (i = 0; i < n; i++) {
			u32 k = order == 1 ? n - 1 - i : i;

			memset(&e, 0, sizeof(e));
			e.nkeys = 1;
			e.action = 1;
			e.params[0] = (u8)i;
			e.priority = order == 2 ? (u32)test_below(5) : k % 7;
			e.match[0].a = order == 2 ? k : 100ull * k;
			e.match[0].b = order == 2 ? 100000 - k : 100ull * k + 99;
			CHECK_EQ(ref_update(&r, 0, &e), 0);
			CHECK(rmt_table_insert(t, &e, err, sizeof(err)) == 0, "order %u insert %u: %s",
			      order, i, err);
		}
		for (i = 0; i <= n; i++) {
			for (j = 0; j < 8; j++) {
				const u8 *p1, *p2;
				u16 action;
				int want, got;

				rnd_key(&r, key);
				if (test_below(2))
					key[0] = test_below(order == 2 ? 100001 : 100 * n);
				want = ref_lookup(&r, key, &p1);
				rcu_read_lock();
				got = rmt_table_lookup(t, key, &action, &p2) ? action : -1 - action;
				CHECK(want == got && !memcmp(p1, p2, r.s.param_size),
				      "order %u after %u deletes: lookup %llu got %d, reference %d",
				      order, i, (unsigned long long)key[0], got, want);
				rcu_read_unlock();
			}
			if (i == n)
				break;
			/* delete a random entry */
			e = r.v[test_below(r.n)].e;
			CHECK_EQ(ref_update(&r, 2, &e), 0);
			CHECK(rmt_table_delete(t, &e, err, sizeof(err)) == 0, "order %u delete: %s",
			      order, err);
		}
		CHECK_EQ(rmt_table_count(t), 0);
		rmt_table_destroy(t);
	}
}

static void test_random(void)
{
	static const struct keydef exact[] = { { RMT_MATCH_EXACT, 3 }, { RMT_MATCH_EXACT, 64 } };
	static const struct keydef lpm8[] = { { RMT_MATCH_LPM, 8 } };
	static const struct keydef lpm64x[] = { { RMT_MATCH_EXACT, 2 }, { RMT_MATCH_LPM, 64 } };
	static const struct keydef lpm5x[] = { { RMT_MATCH_LPM, 5 }, { RMT_MATCH_EXACT, 2 } };
	static const struct keydef tern[] = { { RMT_MATCH_TERNARY, 6 } };
	static const struct keydef ternx[] = { { RMT_MATCH_EXACT, 2 }, { RMT_MATCH_TERNARY, 64 } };
	static const struct keydef range[] = { { RMT_MATCH_RANGE, 5 } };
	static const struct keydef mixed[] = { { RMT_MATCH_EXACT, 2 }, { RMT_MATCH_LPM, 6 },
					       { RMT_MATCH_TERNARY, 4 }, { RMT_MATCH_RANGE, 4 } };
	static const struct keydef twolpm[] = { { RMT_MATCH_LPM, 4 }, { RMT_MATCH_LPM, 4 },
						{ RMT_MATCH_RANGE, 64 } };

	random_table("exact", 40, 2, exact, 3000);
	random_table("lpm8", 300, 1, lpm8, 4000);
	random_table("lpm64+exact", 200, 2, lpm64x, 4000);
	random_table("lpm5+exact", 60, 2, lpm5x, 3000);
	random_table("ternary", 100, 1, tern, 3000);
	random_table("exact+ternary64", 100, 2, ternx, 3000);
	random_table("range", 50, 1, range, 3000);
	random_table("mixed", 200, 4, mixed, 4000);
	random_table("lpm+lpm+range", 100, 3, twolpm, 3000);
}

int main(void)
{
	test_create_errors();
	test_exact();
	test_lpm();
	test_lpm_with_exact();
	test_ternary_priority();
	test_range();
	test_random();
	test_random_ranges();
	test_range_orders();
	checks_done("test_tables");
	return 0;
}
