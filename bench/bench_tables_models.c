// SPDX-License-Identifier: GPL-2.0
/*
 * bench_tables_models.c: lookup and inference cost of the C VM's tables and
 * model engine (built by bench/bench_tables_models.py, which generates
 * bench_weights.h with the MLP and tree weights as static arrays).
 *
 * Prints one line per figure: "name value unit".  The native baselines run
 * the same models as straight-line C over the static arrays, compiled in the
 * same run with the same flags, and their outputs are checked equal to the
 * engine's before anything is timed.
 */
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <math.h>

#include "rmt_table.h"
#include "rmt_model.h"
#include "rmt_alloc.h"
#include "bench_weights.h"

static u64 rng = 0x9e3779b97f4a7c15ull;

static u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* CPU time of this thread: other load on the machine does not inflate it */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile u64 sink;

/* The cost of timing one call (two clock reads): subtracted from per-insert times. */
static double clock_pair_ns(void)
{
	double t0, t1 = 0, acc = 0;
	int i;

	for (i = 0; i < 10000; i++) {
		t0 = now_ns();
		t1 = now_ns();
		acc += t1 - t0;
	}
	return acc / 10000;
}

/* ------------------------------------------------------------------ allocations */

/*
 * The build links with -Wl,--wrap=malloc,--wrap=calloc,--wrap=free: the VM's
 * userspace allocators (rmt_compat.h) end in malloc()/calloc(), so these
 * wrappers see every byte a model load asks for.  While @mem_tracking is
 * set, each allocation is recorded with its size, in bytes requested and
 * rounded up as the kernel's allocator would (kmalloc caches up to 8 KiB,
 * whole pages in powers of two above: kvmalloc() of a larger size), so the
 * figures say what a load costs in rmt.ko, not in glibc.
 */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void __real_free(void *p);

#define MEM_SLOTS 1024
static int mem_tracking;
static struct { void *p; size_t n; } mem_live[MEM_SLOTS];
static u32 mem_nlive;
static u64 mem_bytes, mem_kbytes, mem_nallocs;

static size_t kmalloc_bucket(size_t n)
{
	static const size_t caches[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024,
					 2048, 4096, 8192 };
	size_t i, pages = 4096;

	for (i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
		if (n <= caches[i])
			return caches[i];
	while (pages < n)
		pages *= 2;
	return pages;
}

static void *mem_note(void *p, size_t n)
{
	if (!p || !mem_tracking || mem_nlive == MEM_SLOTS)
		return p;
	mem_live[mem_nlive].p = p;
	mem_live[mem_nlive++].n = n;
	mem_bytes += n;
	mem_kbytes += kmalloc_bucket(n);
	mem_nallocs++;
	return p;
}

void *__wrap_malloc(size_t n)
{
	return mem_note(__real_malloc(n), n);
}

void *__wrap_calloc(size_t n, size_t s)
{
	return mem_note(__real_calloc(n, s), n * s);
}

void __wrap_free(void *p)
{
	u32 i;

	for (i = 0; p && i < mem_nlive; i++) {
		if (mem_live[i].p == p) {
			mem_live[i] = mem_live[--mem_nlive];
			break;
		}
	}
	__real_free(p);
}

/* Kernel-bucket bytes of the recorded allocations still live. */
static u64 mem_held(void)
{
	u64 sum = 0;
	u32 i;

	for (i = 0; i < mem_nlive; i++)
		sum += kmalloc_bucket(mem_live[i].n);
	return sum;
}

/* ------------------------------------------------------------------ tables */

#define NKEYS_LOOKUP 4096
/* rounds of range lookups: -DRANGE_ROUNDS_64K=1 for a linear-scan build */
#ifndef RANGE_ROUNDS_1K
#define RANGE_ROUNDS_1K 200
#endif
#ifndef RANGE_ROUNDS_64K
#define RANGE_ROUNDS_64K 50
#endif

/*
 * @overlap (range only): ranges of random length (1/16 of them up to 1/64 of
 * the key space) at random places, random priorities, inserted in random
 * order; otherwise disjoint ranges inserted by rising lo and priority.
 */
static void bench_table(const char *kind_name, u8 kind, u32 n, u32 rounds, bool overlap)
{
	static u64 keys[NKEYS_LOOKUP];
	struct rmt_table_schema s;
	struct rmt_entry_spec e;
	struct rmt_table *t;
	static const u64 tmasks[8] = { 0xffffffff, 0xffffff00, 0xffff0000, 0xff000000,
				       0xff00ff00, 0x00ffff00, 0xfffff000, 0x0000ffff };
	u64 *vals, *masks;
	char err[128];
	double t0, t1;
	u64 acc = 0, hits = 0;
	u32 i, r, span = 0xffffffffu / n;
	double ins = 0;

	memset(&s, 0, sizeof(s));
	s.max_entries = n;
	s.nkeys = 1;
	s.keys[0].kind = kind;
	s.keys[0].bits = 32;
	s.nactions = 2;
	s.param_size = 8;
	s.action_param_size[1] = 8;
	if (rmt_table_create(&s, &t, err, sizeof(err))) {
		fprintf(stderr, "create: %s\n", err);
		exit(1);
	}
	vals = calloc(n, sizeof(u64));
	masks = calloc(n, sizeof(u64));
	for (i = 0; i < n; ) {
		memset(&e, 0, sizeof(e));
		e.nkeys = 1;
		e.action = 1;
		memcpy(e.params, &i, 4);
		switch (kind) {
		case RMT_MATCH_EXACT:
			e.match[0].a = rnd() & 0xffffffff;
			break;
		case RMT_MATCH_LPM:
			/* routing-table-like: mostly /24, then /16../23, a few /8../15 and /32 */
			r = (u32)(rnd() % 100);
			e.match[0].b = r < 60 ? 24 : r < 85 ? 16 + rnd() % 8 : r < 95 ? 8 + rnd() % 8 : 32;
			e.match[0].a = rnd() & 0xffffffff & (0xffffffffull << (32 - e.match[0].b));
			break;
		case RMT_MATCH_TERNARY:
			e.match[0].b = tmasks[rnd() % 8];
			e.match[0].a = rnd() & e.match[0].b;
			e.priority = (u32)(rnd() % 1000);
			break;
		default:
			if (overlap) {
				e.match[0].a = rnd() & 0xffffffff;
				e.match[0].b = e.match[0].a + (rnd() % 16 ? rnd() % span :
							       rnd() % (0xffffffffu / 64));
				if (e.match[0].b > 0xffffffff)
					e.match[0].b = 0xffffffff;
				e.priority = (u32)(rnd() % 1000);
				break;
			}
			/* disjoint ranges, inserted by rising lo and priority */
			e.match[0].a = (u64)i * span;
			e.match[0].b = (u64)i * span + span - 1;
			e.priority = i;
			break;
		}
		t0 = now_ns();
		r = rmt_table_insert(t, &e, err, sizeof(err));
		ins += now_ns() - t0;
		if (r)
			continue;	/* a duplicate: draw again */
		vals[i] = e.match[0].a;
		masks[i] = kind == RMT_MATCH_LPM ? 0xffffffffull << (32 - e.match[0].b) & 0xffffffff :
			kind == RMT_MATCH_TERNARY ? e.match[0].b : 0xffffffff;
		if (kind == RMT_MATCH_RANGE)
			masks[i] = e.match[0].b - e.match[0].a;	/* offset inside the range */
		i++;
	}
	/* keys that hit a random entry (lookups of a full-size table mostly hit) */
	for (i = 0; i < NKEYS_LOOKUP; i++) {
		u32 j = (u32)(rnd() % n);

		if (kind == RMT_MATCH_RANGE)
			keys[i] = vals[j] + rnd() % (masks[j] + 1);
		else
			keys[i] = vals[j] | (rnd() & ~masks[j] & 0xffffffff);
	}
	rcu_read_lock();
	t0 = now_ns();
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < NKEYS_LOOKUP; i++) {
			const u8 *params;
			u16 action;

			hits += rmt_table_lookup(t, &keys[i], &action, &params);
			acc += params[0];
		}
	}
	t1 = now_ns();
	rcu_read_unlock();
	sink = acc;
	printf("table_%s%s_%uk %.1f ns/lookup (hit rate %.2f)\n", kind_name,
	       overlap ? "_overlap" : "", n / 1024,
	       (t1 - t0) / ((double)rounds * NKEYS_LOOKUP),
	       (double)hits / ((double)rounds * NKEYS_LOOKUP));
	printf("table_%s%s_%uk_insert %.1f ns/insert (%u entries, one at a time)\n", kind_name,
	       overlap ? "_overlap" : "", n / 1024, ins / n - clock_pair_ns(), n);
	rmt_table_destroy(t);
	free(vals);
	free(masks);
}

/* ------------------------------------------------------------------ models */

#define NIN 1024

/* The MLP as plain C over the static arrays, same arithmetic as the engine. */
static __always_inline s32 native_finish(s64 acc, int shift, int relu)
{
	s32 y;

	acc = acc > S32_MAX ? S32_MAX : acc;
	acc = acc < S32_MIN ? S32_MIN : acc;
	y = (s32)acc >> shift;
	return relu ? y & ~(y >> 31) : y;
}

static noinline s32 native_mlp(const s32 *x)
{
	s32 h[MLP_HID];
	s64 acc;
	int i, j;

	for (j = 0; j < MLP_HID; j++) {
		acc = MLP_B1[j];
		for (i = 0; i < MLP_IN; i++)
			acc += (s64)MLP_W1[j][i] * x[i];
		h[j] = native_finish(acc, MLP_SHIFT1, 1);
	}
	acc = MLP_B2[0];
	for (j = 0; j < MLP_HID; j++)
		acc += (s64)MLP_W2[0][j] * h[j];
	return native_finish(acc, MLP_SHIFT2, 0);
}

/* The full depth-8 tree in implicit layout (children of i: 2i+1, 2i+2), branch-free. */
static noinline s32 native_tree(const s32 *x)
{
	u32 idx = 0;
	int d;

	for (d = 0; d < TREE_DEPTH; d++)
		idx = 2 * idx + 1 + (x[TREE_F[idx]] > TREE_T[idx]);
	return TREE_LEAF[idx - TREE_INNER];
}

/* The forest the same way: exact s64 sum, shift, saturate (no saturation happens here). */
static noinline s32 native_forest(const s32 *x)
{
	s64 sum = 0;
	u32 t, idx;
	int d;

	for (t = 0; t < FOREST_TREES; t++) {
		idx = 0;
		for (d = 0; d < FOREST_DEPTH; d++)
			idx = 2 * idx + 1 + (x[FOREST_F[t][idx]] > FOREST_T[t][idx]);
		sum += FOREST_LEAF[t][idx - FOREST_INNER];
	}
	return native_finish(sum >> FOREST_SHIFT, 0, 0);
}

/* One dense layer: its record, n_out x n_in weights (row-major) and n_out biases. */
static size_t put_dense(u8 *buf, size_t n, u8 act, u8 shift, u32 n_in, u32 n_out,
			const s16 *w, const s32 *b)
{
	struct rmt_rec_weights_layer l = { 0 };

	l.kind = RMT_LAYER_DENSE;
	l.act = act;
	l.shift = shift;
	l.n_in = n_in;
	l.n_out = n_out;
	l.in_ch = l.out_ch = l.kernel = 1;
	memcpy(buf + n, &l, sizeof(l));
	n += sizeof(l);
	memcpy(buf + n, w, sizeof(*w) * n_in * n_out);
	n = (n + sizeof(*w) * n_in * n_out + 3) & ~3ul;
	memcpy(buf + n, b, sizeof(*b) * n_out);
	return n + sizeof(*b) * n_out;
}

/* The header of a blob of @n bytes with 16-bit weights, MLP_IN inputs and 1 output. */
static size_t put_header(u8 *buf, size_t n, u8 kind, u32 nlayers)
{
	struct rmt_rec_weights_header h = { 0 };

	h.magic = RMT_WEIGHTS_MAGIC;
	h.version = RMT_WEIGHTS_VERSION;
	h.kind = kind;
	h.weight_bits = 16;
	h.n_in = MLP_IN;
	h.n_out = 1;
	h.nlayers = nlayers;
	h.total_size = (u32)n;
	memcpy(buf, &h, sizeof(h));
	return n;
}

static size_t mlp_blob(u8 *buf)
{
	size_t n = sizeof(struct rmt_rec_weights_header);

	n = put_dense(buf, n, RMT_ACT_RELU, MLP_SHIFT1, MLP_IN, MLP_HID, &MLP_W1[0][0], MLP_B1);
	n = put_dense(buf, n, RMT_ACT_NONE, MLP_SHIFT2, MLP_HID, 1, MLP_W2[0], MLP_B2);
	return put_header(buf, n, RMT_MODEL_MLP, 2);
}

/* A full tree of @depth in implicit order, as WTREE/WNODE records and leaf values. */
static size_t put_tree(u8 *buf, size_t n, u32 depth, const s32 *f, const s32 *thr,
		       const s32 *leaf)
{
	u32 inner = (1u << depth) - 1, i;
	struct rmt_rec_weights_tree t = { .nnodes = 2 * inner + 1, .nleaves = inner + 1 };

	memcpy(buf + n, &t, sizeof(t));
	n += sizeof(t);
	for (i = 0; i < 2 * inner + 1; i++, n += sizeof(struct rmt_rec_weights_node)) {
		struct rmt_rec_weights_node nd = { 0 };

		if (i < inner) {
			nd.feature = f[i];
			nd.threshold = thr[i];
			nd.left = 2 * i + 1;
			nd.right = 2 * i + 2;
		} else {
			nd.feature = -1;
			nd.leaf = i - inner;
		}
		memcpy(buf + n, &nd, sizeof(nd));
	}
	for (i = 0; i <= inner; i++, n += 4)
		memcpy(buf + n, &leaf[i], 4);
	return n;
}

static size_t tree_blob(u8 *buf, u8 kind)
{
	struct rmt_rec_weights_header h = { 0 };
	size_t n = sizeof(h);
	u32 t;

	h.magic = RMT_WEIGHTS_MAGIC;
	h.version = RMT_WEIGHTS_VERSION;
	h.kind = kind;
	h.weight_bits = 16;
	h.n_in = MLP_IN;
	h.n_out = 1;
	if (kind == RMT_MODEL_TREE) {
		h.ntrees = 1;
		n = put_tree(buf, n, TREE_DEPTH, TREE_F, TREE_T, TREE_LEAF);
	} else {
		h.ntrees = FOREST_TREES;
		h.shift = FOREST_SHIFT;
		for (t = 0; t < FOREST_TREES; t++)
			n = put_tree(buf, n, FOREST_DEPTH, FOREST_F[t], FOREST_T[t],
				     FOREST_LEAF[t]);
	}
	h.total_size = (u32)n;
	memcpy(buf, &h, sizeof(h));
	return n;
}

/* The MLP's first hidden unit alone, as a linear model (for the load figures). */
static size_t linear_blob(u8 *buf)
{
	size_t n = sizeof(struct rmt_rec_weights_header);

	n = put_dense(buf, n, RMT_ACT_NONE, MLP_SHIFT2, MLP_IN, 1, MLP_W1[0], MLP_B2);
	return put_header(buf, n, RMT_MODEL_LINEAR, 1);
}

/*
 * Engine (inside the caller's rcu_read_lock(), as CALLM runs), engine taking
 * its own RCU lock, and native, interleaved over several trials; the minimum
 * of each is printed, so a burst of other load on the machine does not land
 * on one side only.
 */
#define TRIALS 7

static void bench_model(const char *name, struct rmt_model_slot *slot, s32 (*native)(const s32 *),
			s32 (*inputs)[MLP_IN], u32 rounds)
{
	double t0, t1, t2, t3, engine = 1e300, engine_nolock = 1e300, nat = 1e300, per;
	u64 ov = 0, acc = 0;
	u32 r, i, k;
	s32 out;

	for (i = 0; i < NIN; i++) {
		rmt_model_infer(slot, inputs[i], &out, &ov);
		if (out != native(inputs[i])) {
			fprintf(stderr, "%s: engine %d != native %d on input %u\n", name, out,
				native(inputs[i]), i);
			exit(1);
		}
	}
	per = (double)rounds * NIN;
	for (k = 0; k < TRIALS; k++) {
		rcu_read_lock();
		t0 = now_ns();
		for (r = 0; r < rounds; r++)
			for (i = 0; i < NIN; i++) {
				rmt_model_infer(slot, inputs[i], &out, &ov);
				acc += out;
			}
		t1 = now_ns();
		rcu_read_unlock();
		for (r = 0; r < rounds; r++)
			for (i = 0; i < NIN; i++) {
				rmt_model_infer(slot, inputs[i], &out, &ov);
				acc += out;
			}
		t2 = now_ns();
		for (r = 0; r < rounds; r++)
			for (i = 0; i < NIN; i++)
				acc += native(inputs[i]);
		t3 = now_ns();
		engine = fmin(engine, (t1 - t0) / per);
		engine_nolock = fmin(engine_nolock, (t2 - t1) / per);
		nat = fmin(nat, (t3 - t2) / per);
	}
	sink = acc;
	printf("%s_engine %.1f ns/inference\n", name, engine);
	printf("%s_engine_own_rcu_lock %.1f ns/inference\n", name, engine_nolock);
	printf("%s_native %.1f ns/inference\n", name, nat);
	printf("%s_ratio %.2f x\n", name, engine / nat);
}

/* The signatures of the benchmark's models (no declared input range: no clamping). */
static void model_sig(struct rmt_model_sig *sig, u8 kind)
{
	memset(sig, 0, sizeof(*sig));
	sig->in_lo = S32_MIN;
	sig->in_hi = S32_MAX;
	sig->kind = kind;
	sig->weight_bits = 16;
	sig->n_in = MLP_IN;
	sig->n_out = 1;
	switch (kind) {
	case RMT_MODEL_LINEAR:
		sig->nlayers = 1;
		sig->layers[0] = (struct rmt_layer_sig){ RMT_LAYER_DENSE, RMT_ACT_NONE, 1, 1, 1,
							 MLP_IN, 1 };
		break;
	case RMT_MODEL_MLP:
		sig->nlayers = 2;
		sig->layers[0] = (struct rmt_layer_sig){ RMT_LAYER_DENSE, RMT_ACT_RELU, 1, 1, 1,
							 MLP_IN, MLP_HID };
		sig->layers[1] = (struct rmt_layer_sig){ RMT_LAYER_DENSE, RMT_ACT_NONE, 1, 1, 1,
							 MLP_HID, 1 };
		break;
	case RMT_MODEL_TREE:
		sig->trees = 1;
		sig->depth = TREE_DEPTH;
		break;
	default:
		sig->trees = FOREST_TREES;
		sig->depth = FOREST_DEPTH;
		break;
	}
}

static size_t model_blob(u8 *buf, u8 kind)
{
	if (kind == RMT_MODEL_LINEAR)
		return linear_blob(buf);
	if (kind == RMT_MODEL_MLP)
		return mlp_blob(buf);
	return tree_blob(buf, kind);
}

static void load_or_die(const char *name, struct rmt_model_slot *slot,
			const struct rmt_model_sig *sig, const u8 *blob, size_t n)
{
	char err[256];

	if (rmt_model_load(slot, sig, blob, n, NULL, err, sizeof(err))) {
		fprintf(stderr, "%s load: %s\n", name, err);
		exit(1);
	}
}

/*
 * One model swap (a load into a slot that holds weights, as `rmtctl model
 * load` does on a live program): the allocations it makes, in count and
 * bytes (all of them, temporaries included, and what stays held by the new
 * weights), then its time.  In userspace the old weights are freed inside
 * the load (call_rcu() waits for a grace period and runs the callback); in
 * the kernel that free happens later, in an RCU callback.
 */
static void bench_load(const char *name, u8 kind, u32 rounds)
{
	static u8 blob[1 << 16];
	struct rmt_alloc_stats a0, a1;
	struct rmt_model_sig sig;
	struct rmt_model_slot slot;
	double t0, best = 1e300;
	size_t n;
	u32 r, k;

	model_sig(&sig, kind);
	n = model_blob(blob, kind);
	rmt_model_slot_init(&slot);
	load_or_die(name, &slot, &sig, blob, n);
	mem_bytes = mem_kbytes = mem_nallocs = 0;
	mem_nlive = 0;
	rmt_alloc_get_stats(&a0);
	mem_tracking = 1;
	load_or_die(name, &slot, &sig, blob, n);
	mem_tracking = 0;
	rmt_alloc_get_stats(&a1);
	printf("load_%s_blob %zu bytes\n", name, n);
	printf("load_%s_allocs %llu allocations/load\n", name,
	       (unsigned long long)(a1.total - a0.total));
	printf("load_%s_bytes %llu bytes/load (requested, temporaries included)\n", name,
	       (unsigned long long)mem_bytes);
	printf("load_%s_kbytes %llu bytes/load (in kernel kmalloc/page sizes)\n", name,
	       (unsigned long long)mem_kbytes);
	printf("load_%s_held %llu bytes held by the loaded weights (kernel sizes)\n", name,
	       (unsigned long long)mem_held());
	for (k = 0; k < TRIALS; k++) {
		t0 = now_ns();
		for (r = 0; r < rounds; r++)
			load_or_die(name, &slot, &sig, blob, n);
		best = fmin(best, (now_ns() - t0) / rounds);
	}
	printf("load_%s %.0f ns/load (best of %d x %u swaps)\n", name, best, TRIALS, rounds);
	rmt_model_slot_destroy(&slot);
}

static void bench_models(int quick)
{
	static s32 inputs[NIN][MLP_IN];
	static u8 buf[1 << 16];
	struct rmt_model_slot mlp, tree, forest;
	struct rmt_model_sig sig;
	u32 i, j;

	for (i = 0; i < NIN; i++)
		for (j = 0; j < MLP_IN; j++)
			inputs[i][j] = (s32)(rnd() % 4096) - 2048;

	model_sig(&sig, RMT_MODEL_MLP);
	rmt_model_slot_init(&mlp);
	load_or_die("mlp", &mlp, &sig, buf, mlp_blob(buf));
	bench_model("mlp_15_10_1_int16", &mlp, native_mlp, inputs, quick ? 20 : 300);

	model_sig(&sig, RMT_MODEL_TREE);
	rmt_model_slot_init(&tree);
	load_or_die("tree", &tree, &sig, buf, tree_blob(buf, RMT_MODEL_TREE));
	bench_model("tree_depth8", &tree, native_tree, inputs, quick ? 20 : 1000);

	model_sig(&sig, RMT_MODEL_FOREST);
	rmt_model_slot_init(&forest);
	load_or_die("forest", &forest, &sig, buf, tree_blob(buf, RMT_MODEL_FOREST));
	bench_model("forest_8x_depth6", &forest, native_forest, inputs, quick ? 5 : 200);
	rmt_model_slot_destroy(&forest);
	rmt_model_slot_destroy(&mlp);
	rmt_model_slot_destroy(&tree);
}

/*
 * Arguments, in any order: "quick" (few rounds), "tables", "models", "load"
 * (run only those parts; none named: tables and models).
 */
int main(int argc, char **argv)
{
	int quick = 0, tables = 0, models = 0, load = 0, i;

	for (i = 1; i < argc; i++) {
		quick |= !strcmp(argv[i], "quick");
		tables |= !strcmp(argv[i], "tables");
		models |= !strcmp(argv[i], "models");
		load |= !strcmp(argv[i], "load");
	}
	if (!tables && !models && !load)
		tables = models = 1;
	if (tables) {
		bench_table("exact", RMT_MATCH_EXACT, 1024, quick ? 20 : 400, false);
		bench_table("exact", RMT_MATCH_EXACT, 65536, quick ? 5 : 100, false);
		bench_table("lpm", RMT_MATCH_LPM, 1024, quick ? 20 : 400, false);
		bench_table("lpm", RMT_MATCH_LPM, 65536, quick ? 5 : 100, false);
		bench_table("ternary", RMT_MATCH_TERNARY, 1024, quick ? 20 : 200, false);
		bench_table("ternary", RMT_MATCH_TERNARY, 65536, quick ? 5 : 50, false);
		bench_table("range", RMT_MATCH_RANGE, 1024, quick ? 2 : RANGE_ROUNDS_1K, false);
		bench_table("range", RMT_MATCH_RANGE, 65536, quick ? 1 : RANGE_ROUNDS_64K, false);
		bench_table("range", RMT_MATCH_RANGE, 1024, quick ? 2 : RANGE_ROUNDS_1K, true);
		bench_table("range", RMT_MATCH_RANGE, 65536, quick ? 1 : RANGE_ROUNDS_64K, true);
	}
	if (models)
		bench_models(quick);
	if (load) {
		bench_load("linear_15_1", RMT_MODEL_LINEAR, quick ? 200 : 20000);
		bench_load("mlp_15_10_1", RMT_MODEL_MLP, quick ? 200 : 20000);
		bench_load("forest_8x_depth6", RMT_MODEL_FOREST, quick ? 50 : 5000);
	}
	return 0;
}
