// SPDX-License-Identifier: GPL-2.0
/*
 * test_concurrency.c: lookups and inferences racing with updates (userspace RCU).
 *
 * Reader threads look up (or infer) without locks while a writer inserts,
 * modifies and deletes entries (or swaps model weights).  Every entry's
 * parameters carry its own match and a checksum over the match, the action
 * and a version number; a reader that ever sees a selected entry whose
 * parameters do not match the key, the action or the checksum has seen a
 * half-written or freed entry.  Under ASan a use-after-free is fatal too.
 */
#include <pthread.h>

#include "rmt_table.h"
#include "check.h"
#include "blob.h"

#define NREADERS 1	/* one per spare core: a preempted reader stalls synchronize_rcu() */

struct payload {		/* the 32 parameter bytes of every entry */
	u64 a, b;		/* the entry's match field */
	u64 version;
	u64 sum;		/* checksum of the above and the action */
};

static u64 payload_sum(const struct payload *p, u16 action)
{
	return (p->a * 0x9e3779b97f4a7c15ull) ^ (p->b * 0xc2b2ae3d27d4eb4full) ^
		(p->version * 0x165667b19e3779f9ull) ^ action;
}

static struct rmt_table *table;
static u8 table_kind;
static volatile int writer_done;
static unsigned long reader_hits[NREADERS], reader_lookups[NREADERS];
static const char *reader_error;

/* Keep writing until every reader has overlapped the writer for a while. */
/*
 * The writer keeps writing until every reader has seen what the final check asks of the
 * overlap (enough lookups, a hit, and with @need_miss a miss too), so a loaded machine that
 * schedules the readers late makes the test longer, never wrong.
 */
static bool readers_behind(bool need_miss)
{
	int i;

	for (i = 0; i < NREADERS; i++) {
		unsigned long n = __atomic_load_n(&reader_lookups[i], __ATOMIC_RELAXED);
		unsigned long h = __atomic_load_n(&reader_hits[i], __ATOMIC_RELAXED);

		if (n < 5000 || h == 0 || (need_miss && h == n))
			return true;
	}
	return false;
}

static bool field_matches(const struct payload *p, u64 k)
{
	switch (table_kind) {
	case RMT_MATCH_EXACT:
		return p->a == k;
	case RMT_MATCH_LPM:
		return p->b == 0 || ((k ^ p->a) >> (16 - p->b)) == 0;
	case RMT_MATCH_TERNARY:
		return (k & p->b) == p->a;
	default:
		return p->a <= k && k <= p->b;
	}
}

static void *table_reader(void *arg)
{
	long id = (long)arg;
	u64 x = 0x1234567 + id;

	while (!__atomic_load_n(&writer_done, __ATOMIC_ACQUIRE)) {
		struct payload p;
		const u8 *params;
		u16 action;
		u64 k;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = x & 0xffff;
		rcu_read_lock();
		if (rmt_table_lookup(table, &k, &action, &params)) {
			memcpy(&p, params, sizeof(p));
			if (action < 1 || action > 3 || payload_sum(&p, action) != p.sum ||
			    !field_matches(&p, k))
				reader_error = "a lookup returned a torn or wrong entry";
			reader_hits[id]++;
		} else if (action != 0 || memcmp(params, "defaultdefaultdefaultdefaultdef", 32)) {
			reader_error = "a miss returned something else than the default";
		}
		rcu_read_unlock();
		reader_lookups[id]++;
	}
	return NULL;
}

static void make_spec(struct rmt_entry_spec *e, u64 a, u64 b, u32 prio, u16 action, u64 version)
{
	struct payload p = { .a = a, .b = b, .version = version };

	memset(e, 0, sizeof(*e));
	e->nkeys = 1;
	e->priority = prio;
	e->action = action;
	e->match[0].a = a;
	e->match[0].b = table_kind == RMT_MATCH_EXACT ? 0 : b;
	p.sum = payload_sum(&p, action);
	memcpy(e->params, &p, sizeof(p));
}

/* A random match for the table's kind over a 16-bit key, in normal form. */
static void random_match(u64 *a, u64 *b)
{
	u64 lo, hi;

	switch (table_kind) {
	case RMT_MATCH_EXACT:
		*a = test_below(64) * 1021 & 0xffff;
		*b = 0;
		break;
	case RMT_MATCH_LPM:
		*b = test_below(17);
		*a = *b ? (test_rand() & 0xffff) & (0xffffull << (16 - *b)) & 0xffff : 0;
		break;
	case RMT_MATCH_TERNARY:
		*b = (0xffffull << test_below(16)) & 0xffff;
		*a = test_rand() & *b;
		break;
	default:
		lo = test_rand() & 0xffff;
		hi = lo + test_below(4096);
		*a = lo;
		*b = hi > 0xffff ? 0xffff : hi;
		break;
	}
}

static void run_table(u8 kind, const char *name)
{
	struct rmt_table_schema s;
	pthread_t th[NREADERS];
	struct {
		u64 a, b;
		u32 prio;
		bool live;
	} slots[64];
	char err[256];
	long i;
	int op;

	memset(&s, 0, sizeof(s));
	memset(slots, 0, sizeof(slots));
	s.max_entries = 48;
	s.nkeys = 1;
	s.keys[0].kind = kind;
	s.keys[0].bits = 16;
	s.nactions = 4;
	s.param_size = 32;
	for (i = 0; i < 4; i++)
		s.action_param_size[i] = 32;
	memcpy(s.default_params, "defaultdefaultdefaultdefaultdef", 32);
	table_kind = kind;
	CHECK_EQ(rmt_table_create(&s, &table, err, sizeof(err)), 0);
	writer_done = 0;
	reader_error = NULL;
	for (i = 0; i < NREADERS; i++) {
		reader_hits[i] = reader_lookups[i] = 0;
		CHECK_EQ(pthread_create(&th[i], NULL, table_reader, (void *)i), 0);
	}
	for (i = 0; i < 6000 || (readers_behind(false) && i < 10000000); i++) {
		u32 n = (u32)test_below(64);
		struct rmt_entry_spec e;
		bool prio = kind == RMT_MATCH_TERNARY || kind == RMT_MATCH_RANGE;

		if (!slots[n].live) {
			random_match(&slots[n].a, &slots[n].b);
			slots[n].prio = prio ? (u32)test_below(8) : 0;
			make_spec(&e, slots[n].a, slots[n].b, slots[n].prio, 1 + (u16)test_below(3), i);
			op = rmt_table_insert(table, &e, err, sizeof(err));
			CHECK(op == 0 || op == -EEXIST || op == -ENOSPC, "%s insert: %d %s", name, op,
			      err);
			slots[n].live = op == 0;
		} else if (test_below(2)) {
			make_spec(&e, slots[n].a, slots[n].b, slots[n].prio, 1 + (u16)test_below(3), i);
			CHECK(rmt_table_modify(table, &e, err, sizeof(err)) == 0, "%s modify: %s", name,
			      err);
		} else {
			make_spec(&e, slots[n].a, slots[n].b, slots[n].prio, 0, 0);
			CHECK(rmt_table_delete(table, &e, err, sizeof(err)) == 0, "%s delete: %s", name,
			      err);
			slots[n].live = false;
		}
	}
	__atomic_store_n(&writer_done, 1, __ATOMIC_RELEASE);
	for (i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);
	CHECK(!reader_error, "%s: %s", name, reader_error);
	for (i = 0; i < NREADERS; i++)
		CHECK(reader_lookups[i] >= 5000 && reader_hits[i] > 0,
		      "%s: reader %ld did %lu lookups, %lu hits: no real overlap", name, i,
		      reader_lookups[i], reader_hits[i]);
	rmt_table_destroy(table);
}

/* ------------------------------------------------------------------ models */

static struct rmt_model_slot slot;
static struct blob blobs[2];

/* Same shape, two weight sets: y(5, 6) is 17 with A and 100 with B. */
static void model_blob(struct blob *b, int which)
{
	static const s32 w1[] = { 1, 2, 3, -4 }, b1[] = { 1, -2 };
	static const s32 w2a[] = { 2, 3 }, b2a[] = { -1 };
	static const s32 w2b[] = { 4, 0 }, b2b[] = { 64 };

	blob_header(b, RMT_MODEL_MLP, 16, 2, 1, 2, 0, 0, 0);
	blob_layer(b, RMT_LAYER_DENSE, RMT_ACT_RELU, 1, 2, 2, 1, 1, 1);
	blob_weights(b, 16, w1, 4);
	blob_s32s(b, b1, 2);
	blob_layer(b, RMT_LAYER_DENSE, RMT_ACT_NONE, 0, 2, 1, 1, 1, 1);
	blob_weights(b, 16, which ? w2b : w2a, 2);
	blob_s32s(b, which ? b2b : b2a, 1);
	blob_finish(b);
}

static void *model_reader(void *arg)
{
	long id = (long)arg;
	s32 in[2] = { 5, 6 }, out[1];
	u64 ov = 0;

	while (!__atomic_load_n(&writer_done, __ATOMIC_ACQUIRE)) {
		if (rmt_model_infer(&slot, in, out, &ov) != 0 || (out[0] != 17 && out[0] != 100))
			reader_error = "an inference mixed two models";
		if (out[0] == 100)
			reader_hits[id]++;
		reader_lookups[id]++;
	}
	return NULL;
}

static void run_models(void)
{
	struct rmt_model_sig sig;
	pthread_t th[NREADERS];
	char err[256];
	long i, loads;

	memset(&sig, 0, sizeof(sig));
	sig.in_lo = S32_MIN;	/* no declared input range: no clamping */
	sig.in_hi = S32_MAX;
	sig.kind = RMT_MODEL_MLP;
	sig.weight_bits = 16;
	sig.n_in = 2;
	sig.n_out = 1;
	sig.nlayers = 2;
	sig.layers[0] = layer_sig(RMT_LAYER_DENSE, RMT_ACT_RELU, 2, 2, 1, 1, 1);
	sig.layers[1] = layer_sig(RMT_LAYER_DENSE, RMT_ACT_NONE, 2, 1, 1, 1, 1);
	model_blob(&blobs[0], 0);
	model_blob(&blobs[1], 1);
	rmt_model_slot_init(&slot);
	CHECK_EQ(rmt_model_load(&slot, &sig, blobs[0].buf, blobs[0].n, NULL, err, sizeof(err)), 0);
	writer_done = 0;
	reader_error = NULL;
	for (i = 0; i < NREADERS; i++) {
		reader_hits[i] = reader_lookups[i] = 0;
		CHECK_EQ(pthread_create(&th[i], NULL, model_reader, (void *)i), 0);
	}
	/*
	 * B, then A, each followed by a failed load (which must not disturb the readers): the
	 * two weight sets are live for windows of the same length, so a reader preempted at
	 * any point is as likely to come back under either (with the failed load after B only,
	 * A's window was a few instructions and a loaded host ran a reader on B alone).
	 */
	for (i = 0; i < 3000 || (readers_behind(true) && i < 10000000); i += 2) {
		int k;

		for (k = 1; k >= 0; k--) {
			const struct blob *b = &blobs[k];

			CHECK_EQ(rmt_model_load(&slot, &sig, b->buf, b->n, NULL, err, sizeof(err)), 0);
			CHECK_EQ(rmt_model_load(&slot, &sig, b->buf, b->n - 1, NULL, err,
						sizeof(err)), -EINVAL);
		}
	}
	loads = i;
	__atomic_store_n(&writer_done, 1, __ATOMIC_RELEASE);
	for (i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);
	CHECK(!reader_error, "%s", reader_error);
	for (i = 0; i < NREADERS; i++)
		CHECK(reader_lookups[i] >= 5000 && reader_hits[i] > 0 &&
		      reader_hits[i] < reader_lookups[i],
		      "model reader %ld: %lu inferences, %lu on B: no real overlap", i,
		      reader_lookups[i], reader_hits[i]);
	CHECK_EQ(rmt_model_version(&slot), 1 + loads);
	rmt_model_slot_destroy(&slot);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void)
{
	double t0 = now();

	run_table(RMT_MATCH_EXACT, "exact");
	printf("exact: %.2fs\n", now() - t0);
	run_table(RMT_MATCH_LPM, "lpm");
	printf("lpm: %.2fs\n", now() - t0);
	run_table(RMT_MATCH_TERNARY, "ternary");
	printf("ternary: %.2fs\n", now() - t0);
	run_table(RMT_MATCH_RANGE, "range");
	printf("range: %.2fs\n", now() - t0);
	run_models();
	printf("models: %.2fs\n", now() - t0);
	checks_done("test_concurrency");
	return 0;
}
