// SPDX-License-Identifier: GPL-2.0
/*
 * bench_model_ops.c: the model engine's inference against native C, built
 * in the same run with the same flags (bench/bench_model_ops.py).
 *
 * Two models, the shapes of the table:
 *  - MLP 17 -> 12 ReLU -> 2, int16 weights |w| <= 2048, inputs and hidden
 *    activations in -8192..8192 (forced_migration.rmt's predictor), so
 *    the load proves int32 sums exact;
 *  - a full depth-6 tree on 17 inputs, 1 output.
 * The engine runs under each of its engines (rmt_model_set_isa()); the
 * baselines are gcc C over the same arrays: the semantics as written (s64
 * sums, saturation), the int32 sums a programmer who knows the bound would
 * write, and AVX2 intrinsics with the shapes as compile-time constants.  All
 * outputs are checked equal before anything is timed.
 *
 * Prints "name value unit" lines: the median over TRIALS interleaved trials
 * of thread CPU time (other load on the machine inflates it less than wall time)
 * (each trial times every variant once, in turn) of ns per inference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>

#include "rmt_model.h"

#ifdef OLD_ENGINE
/* an rmt_model.c from before the engines could be chosen: one engine */
enum { RMT_MODEL_ISA_EXACT64, RMT_MODEL_ISA_INT32, RMT_MODEL_ISA_AVX2 };
static int rmt_model_set_isa(int isa)
{
	return isa <= 0 ? 0 : -1;
}
#endif

#define N_IN 17
#define N_HID 12
#define N_OUT 2
#define LO (-8192)
#define HI 8192
#define SHIFT1 8
#define SHIFT2 6
#define TREE_DEPTH 6
#define TREE_INNER ((1 << TREE_DEPTH) - 1)
#define NIN 1024
#define TRIALS 15

static u64 rng = 0x9e3779b97f4a7c15ull;

static u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static s32 rnd_between(s32 lo, s32 hi)
{
	return lo + (s32)(rnd() % (u64)((s64)hi - lo + 1));
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static s16 W1[N_HID][N_IN], W2[N_OUT][N_HID];
static s32 B1[N_HID], B2[N_OUT];
static s32 TF[TREE_INNER], TT[TREE_INNER], TL[TREE_INNER + 1];
static s32 inputs[NIN][N_IN];
static volatile s64 sink;

/* ------------------------------------------------------------------ native MLPs */

static inline s32 sat(s64 acc)
{
	return acc > S32_MAX ? S32_MAX : acc < S32_MIN ? S32_MIN : (s32)acc;
}

/* The semantics as written: exact s64 sums, saturation, shift, ReLU, clamp. */
static noinline void native_mlp_s64(const s32 *x, s32 *y)
{
	s32 h[N_HID];
	int i, j;

	for (j = 0; j < N_HID; j++) {
		s64 acc = B1[j];

		for (i = 0; i < N_IN; i++)
			acc += (s64)W1[j][i] * x[i];
		h[j] = sat(acc) >> SHIFT1;
		h[j] = h[j] < 0 ? 0 : h[j];
		h[j] = h[j] < LO ? LO : h[j] > HI ? HI : h[j];
	}
	for (j = 0; j < N_OUT; j++) {
		s64 acc = B2[j];

		for (i = 0; i < N_HID; i++)
			acc += (s64)W2[j][i] * h[i];
		y[j] = sat(acc) >> SHIFT2;
	}
}

/* int32 sums: what a programmer who knows the bound writes. */
static noinline void native_mlp_s32(const s32 *x, s32 *y)
{
	s32 h[N_HID];
	int i, j;

	for (j = 0; j < N_HID; j++) {
		s32 acc = B1[j];

		for (i = 0; i < N_IN; i++)
			acc += W1[j][i] * x[i];
		acc >>= SHIFT1;
		acc = acc < 0 ? 0 : acc;
		h[j] = acc > HI ? HI : acc;
	}
	for (j = 0; j < N_OUT; j++) {
		s32 acc = B2[j];

		for (i = 0; i < N_HID; i++)
			acc += W2[j][i] * h[i];
		y[j] = acc >> SHIFT2;
	}
}

/*
 * AVX2 with compile-time shapes: weights interleaved by input pair
 * ([pair][output][2] s16), one vpmaddwd per pair and block of 8 outputs.
 */
#define P1 ((N_IN + 1) / 2)
#define P2 ((N_HID + 1) / 2)
static s16 A1[P1][16][2] __attribute__((aligned(32)));
static s16 A2[P2][8][2] __attribute__((aligned(32)));
static s32 AB1[16] __attribute__((aligned(32))), AB2[8] __attribute__((aligned(32)));

static void simd_pack(void)
{
	int p, o, k;

	for (p = 0; p < P1; p++)
		for (o = 0; o < N_HID; o++)
			for (k = 0; k < 2; k++)
				A1[p][o][k] = 2 * p + k < N_IN ? W1[o][2 * p + k] : 0;
	for (p = 0; p < P2; p++)
		for (o = 0; o < N_OUT; o++)
			for (k = 0; k < 2; k++)
				A2[p][o][k] = 2 * p + k < N_HID ? W2[o][2 * p + k] : 0;
	memcpy(AB1, B1, sizeof(B1));
	memcpy(AB2, B2, sizeof(B2));
}

__attribute__((target("avx2")))
static noinline void native_mlp_avx2(const s32 *x, s32 *y)
{
	s16 xs[2 * P1] __attribute__((aligned(32)));
	s16 hs[16] __attribute__((aligned(32)));
	s32 out[8] __attribute__((aligned(32)));
	__m256i a0 = _mm256_load_si256((const __m256i *)AB1);
	__m256i a1 = _mm256_load_si256((const __m256i *)(AB1 + 8));
	__m256i v, hi = _mm256_set1_epi32(HI), zero = _mm256_setzero_si256();
	int p, i;

	for (i = 0; i + 8 <= N_IN; i += 8) {
		v = _mm256_loadu_si256((const __m256i *)(x + i));
		v = _mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0x08);
		_mm_store_si128((__m128i *)(xs + i), _mm256_castsi256_si128(v));
	}
	for (; i < 2 * P1; i++)
		xs[i] = i < N_IN ? (s16)x[i] : 0;
	for (p = 0; p < P1; p++) {
		s32 pair;

		memcpy(&pair, xs + 2 * p, 4);
		v = _mm256_set1_epi32(pair);
		a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(
			_mm256_load_si256((const __m256i *)&A1[p][0][0]), v));
		a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(
			_mm256_load_si256((const __m256i *)&A1[p][8][0]), v));
	}
	a0 = _mm256_min_epi32(_mm256_max_epi32(_mm256_srai_epi32(a0, SHIFT1), zero), hi);
	a1 = _mm256_min_epi32(_mm256_max_epi32(_mm256_srai_epi32(a1, SHIFT1), zero), hi);
	v = _mm256_permute4x64_epi64(_mm256_packs_epi32(a0, a1), 0xD8);
	_mm256_store_si256((__m256i *)hs, v);
	a0 = _mm256_load_si256((const __m256i *)AB2);
	for (p = 0; p < P2; p++) {
		s32 pair;

		memcpy(&pair, hs + 2 * p, 4);
		a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(
			_mm256_load_si256((const __m256i *)&A2[p][0][0]), _mm256_set1_epi32(pair)));
	}
	_mm256_store_si256((__m256i *)out, _mm256_srai_epi32(a0, SHIFT2));
	y[0] = out[0];
	y[1] = out[1];
}

/* The full depth-6 tree in implicit layout, branch-free. */
static noinline void native_tree(const s32 *x, s32 *y)
{
	u32 idx = 0, d;

	for (d = 0; d < TREE_DEPTH; d++)
		idx = 2 * idx + 1 + (x[TF[idx]] > TT[idx]);
	y[0] = TL[idx - TREE_INNER];
}

/* ------------------------------------------------------------------ blobs */

static u8 blob[1 << 16];
static size_t blen;

static void put(const void *p, size_t n)
{
	memcpy(blob + blen, p, n);
	blen += n;
}

static void put_header(u8 kind, u32 n_out, u16 nlayers, u16 ntrees)
{
	struct rmt_rec_weights_header h = { 0 };

	h.magic = RMT_WEIGHTS_MAGIC;
	h.version = RMT_WEIGHTS_VERSION;
	h.kind = kind;
	h.weight_bits = 16;
	h.n_in = N_IN;
	h.n_out = n_out;
	h.nlayers = nlayers;
	h.ntrees = ntrees;
	blen = 0;
	put(&h, sizeof(h));
}

static void put_dense(u8 act, u8 shift, u32 n_in, u32 n_out, const s16 *w, const s32 *b)
{
	struct rmt_rec_weights_layer l = { 0 };

	l.kind = RMT_LAYER_DENSE;
	l.act = act;
	l.shift = shift;
	l.n_in = n_in;
	l.n_out = n_out;
	l.in_ch = l.out_ch = l.kernel = 1;
	put(&l, sizeof(l));
	put(w, 2 * (size_t)n_in * n_out);
	while (blen % 4)
		blob[blen++] = 0;
	put(b, 4 * (size_t)n_out);
}

static void finish(void)
{
	struct rmt_rec_weights_header h;

	memcpy(&h, blob, sizeof(h));
	h.total_size = (u32)blen;
	memcpy(blob, &h, sizeof(h));
}

static void load(struct rmt_model_slot *slot, const struct rmt_model_sig *sig)
{
	char err[256];

	rmt_model_slot_init(slot);
	if (rmt_model_load(slot, sig, blob, blen, NULL, err, sizeof(err))) {
		fprintf(stderr, "load: %s\n", err);
		exit(1);
	}
}

static void build_mlp(struct rmt_model_slot *slot)
{
	struct rmt_model_sig sig = { 0 };

	sig.kind = RMT_MODEL_MLP;
	sig.weight_bits = 16;
	sig.nlayers = 2;
	sig.n_in = N_IN;
	sig.n_out = N_OUT;
	sig.in_lo = LO;
	sig.in_hi = HI;
	sig.max_abs_weight = 2048;
	sig.layers[0] = (struct rmt_layer_sig){ RMT_LAYER_DENSE, RMT_ACT_RELU, 1, 1, 1,
						N_IN, N_HID };
	sig.layers[1] = (struct rmt_layer_sig){ RMT_LAYER_DENSE, RMT_ACT_NONE, 1, 1, 1,
						N_HID, N_OUT };
	put_header(RMT_MODEL_MLP, N_OUT, 2, 0);
	put_dense(RMT_ACT_RELU, SHIFT1, N_IN, N_HID, &W1[0][0], B1);
	put_dense(RMT_ACT_NONE, SHIFT2, N_HID, N_OUT, &W2[0][0], B2);
	finish();
	load(slot, &sig);
}

/* Nodes in implicit order: inner i has children 2i+1, 2i+2; then the leaves. */
static void build_tree(struct rmt_model_slot *slot)
{
	struct rmt_model_sig sig = { 0 };
	struct rmt_rec_weights_tree t = { .nnodes = 2 * TREE_INNER + 1,
					  .nleaves = TREE_INNER + 1 };
	u32 i;

	sig.kind = RMT_MODEL_TREE;
	sig.weight_bits = 16;
	sig.trees = 1;
	sig.depth = TREE_DEPTH;
	sig.n_in = N_IN;
	sig.n_out = 1;
	sig.in_lo = LO;
	sig.in_hi = HI;
	put_header(RMT_MODEL_TREE, 1, 0, 1);
	put(&t, sizeof(t));
	for (i = 0; i < 2 * TREE_INNER + 1; i++) {
		struct rmt_rec_weights_node n = { 0 };

		if (i < TREE_INNER) {
			n.feature = TF[i];
			n.threshold = TT[i];
			n.left = 2 * i + 1;
			n.right = 2 * i + 2;
		} else {
			n.feature = -1;
			n.leaf = i - TREE_INNER;
		}
		put(&n, sizeof(n));
	}
	put(TL, sizeof(TL));
	finish();
	load(slot, &sig);
}

/* ------------------------------------------------------------------ timing */

static struct rmt_model_slot *cur_slot;
static u64 overflows;

static noinline void engine(const s32 *x, s32 *y)
{
	rmt_model_infer(cur_slot, x, y, &overflows);
}

struct variant {
	const char *name;
	void (*fn)(const s32 *x, s32 *y);
	int isa;		/* engine variants: the isa; else -2 */
	double t[TRIALS];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void run(const char *model, struct variant *v, int nv, u32 n_out, u32 rounds)
{
	s32 want[N_OUT], got[N_OUT];
	double t0, med;
	s64 acc = 0;
	int k, j;
	u32 r, i, o;

	for (j = 0; j < nv; j++) {
		if (v[j].isa != -2 && rmt_model_set_isa(v[j].isa)) {
			v[j].fn = NULL;		/* not on this CPU */
			continue;
		}
		for (i = 0; i < NIN; i++) {
			v[0].fn(inputs[i], want);
			v[j].fn(inputs[i], got);
			for (o = 0; o < n_out; o++) {
				if (got[o] != want[o]) {
					fprintf(stderr, "%s %s: output %u is %d, %s gives %d\n",
						model, v[j].name, o, got[o], v[0].name, want[o]);
					exit(1);
				}
			}
		}
	}
	for (k = 0; k < TRIALS; k++) {
		for (j = 0; j < nv; j++) {
			if (!v[j].fn)
				continue;
			if (v[j].isa != -2)
				rmt_model_set_isa(v[j].isa);
			rcu_read_lock();
			t0 = now_ns();
			for (r = 0; r < rounds; r++)
				for (i = 0; i < NIN; i++) {
					v[j].fn(inputs[i], got);
					acc += got[0];
				}
			v[j].t[k] = (now_ns() - t0) / ((double)rounds * NIN);
			rcu_read_unlock();
		}
	}
	sink = acc;
	for (j = 0; j < nv; j++) {
		if (!v[j].fn) {
			printf("%s_%s - ns/inference (not on this CPU)\n", model, v[j].name);
			continue;
		}
		qsort(v[j].t, TRIALS, sizeof(double), cmp_double);
		med = v[j].t[TRIALS / 2];
		printf("%s_%s %.1f ns/inference (min %.1f, max %.1f)\n", model, v[j].name, med,
		       v[j].t[0], v[j].t[TRIALS - 1]);
	}
	rmt_model_set_isa(-1);
}

int main(int argc, char **argv)
{
	struct rmt_model_slot mlp, tree;
	u32 rounds = argc > 1 && !strcmp(argv[1], "quick") ? 5 : 200;
	u32 i, j;

	for (j = 0; j < N_HID; j++) {
		B1[j] = rnd_between(-(1 << 16), 1 << 16);
		for (i = 0; i < N_IN; i++)
			W1[j][i] = (s16)rnd_between(-2048, 2048);
	}
	for (j = 0; j < N_OUT; j++) {
		B2[j] = rnd_between(-(1 << 16), 1 << 16);
		for (i = 0; i < N_HID; i++)
			W2[j][i] = (s16)rnd_between(-2048, 2048);
	}
	for (i = 0; i < TREE_INNER; i++) {
		TF[i] = (s32)(rnd() % N_IN);
		TT[i] = rnd_between(-4096, 4096);
	}
	for (i = 0; i <= TREE_INNER; i++)
		TL[i] = rnd_between(-1000, 1000);
	for (i = 0; i < NIN; i++)
		for (j = 0; j < N_IN; j++)
			inputs[i][j] = rnd_between(LO, HI);
	simd_pack();
	build_mlp(&mlp);
	build_tree(&tree);

	{
		struct variant v[] = {
			{ "native_s64", native_mlp_s64, -2 },
			{ "native_s32", native_mlp_s32, -2 },
			{ "native_avx2", native_mlp_avx2, -2 },
			{ "engine_exact64", engine, RMT_MODEL_ISA_EXACT64 },
			{ "engine_int32", engine, RMT_MODEL_ISA_INT32 },
			{ "engine_avx2", engine, RMT_MODEL_ISA_AVX2 },
		};

		cur_slot = &mlp;
		run("mlp_17_12_2", v, 6, N_OUT, rounds);
	}
	{
		struct variant v[] = {
			{ "native", native_tree, -2 },
			{ "engine", engine, -1 },
		};

		cur_slot = &tree;
		run("tree_depth6", v, 2, 1, rounds * 4);
	}
	rmt_model_slot_destroy(&mlp);
	rmt_model_slot_destroy(&tree);
	return 0;
}
