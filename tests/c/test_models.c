// SPDX-License-Identifier: GPL-2.0
/*
 * test_models.c: unit tests of the model engine, vm_kernel/core/rmt_model*.c (userspace, ASan+UBSan).
 *
 * Inference on models small enough to compute by hand (the expected values
 * are worked out in the comments), saturation, each rejection of a hostile
 * blob (and that the old model survives it), every truncation of valid
 * blobs, and random byte corruption that must never crash the loader.
 */
#include "check.h"
#include "blob.h"

static char err[256];
static struct blob b;

/* ------------------------------------------------------------------ models */

/* 2 -> 2 relu (shift 1) -> 1, int16.  See test_mlp for the arithmetic. */
static void mlp_sig(struct rmt_model_sig *s)
{
	memset(s, 0, sizeof(*s));
	s->in_lo = S32_MIN;	/* no declared input range: no clamping */
	s->in_hi = S32_MAX;
	s->kind = RMT_MODEL_MLP;
	s->weight_bits = 16;
	s->n_in = 2;
	s->n_out = 1;
	s->nlayers = 2;
	s->layers[0] = layer_sig(RMT_LAYER_DENSE, RMT_ACT_RELU, 2, 2, 1, 1, 1);
	s->layers[1] = layer_sig(RMT_LAYER_DENSE, RMT_ACT_NONE, 2, 1, 1, 1, 1);
}

static void mlp_blob(u32 version)
{
	static const s32 w1[] = { 1, 2, 3, -4 }, b1[] = { 1, -2 };
	static const s32 w2[] = { 2, 3 }, b2[] = { -1 };

	blob_header(&b, RMT_MODEL_MLP, 16, 2, 1, 2, 0, version, 0);
	blob_layer(&b, RMT_LAYER_DENSE, RMT_ACT_RELU, 1, 2, 2, 1, 1, 1);
	blob_weights(&b, 16, w1, 4);
	blob_s32s(&b, b1, 2);
	blob_layer(&b, RMT_LAYER_DENSE, RMT_ACT_NONE, 0, 2, 1, 1, 1, 1);
	blob_weights(&b, 16, w2, 2);
	blob_s32s(&b, b2, 1);
	blob_finish(&b);
}

/*
 * Depth-2 tree, 2 outputs:
 *   node 0: x0 <= 10 ? node 1 : node 2
 *   node 1: leaf 0 -> (1, 2)
 *   node 2: x1 <= -5 ? node 3 : node 4
 *   node 3: leaf 1 -> (3, 4);  node 4: leaf 2 -> (5, 6)
 */
static void tree_sig(struct rmt_model_sig *s)
{
	memset(s, 0, sizeof(*s));
	s->in_lo = S32_MIN;	/* no declared input range: no clamping */
	s->in_hi = S32_MAX;
	s->kind = RMT_MODEL_TREE;
	s->weight_bits = 16;
	s->n_in = 2;
	s->n_out = 2;
	s->trees = 1;
	s->depth = 2;
}

static void tree_body(void)
{
	static const s32 leaves[] = { 1, 2, 3, 4, 5, 6 };

	blob_tree(&b, 5, 3);
	blob_node(&b, 0, 10, 1, 2, 0);
	blob_node(&b, -1, 0, 0, 0, 0);
	blob_node(&b, 1, -5, 3, 4, 0);
	blob_node(&b, -1, 0, 0, 0, 1);
	blob_node(&b, -1, 0, 0, 0, 2);
	blob_s32s(&b, leaves, 6);
}

static void tree_blob(void)
{
	blob_header(&b, RMT_MODEL_TREE, 16, 2, 2, 0, 1, 0, 0);
	tree_body();
	blob_finish(&b);
}

static int load(struct rmt_model_slot *slot, const struct rmt_model_sig *sig, u64 *version)
{
	err[0] = 0;
	return rmt_model_load(slot, sig, b.buf, b.n, version, err, sizeof(err));
}

static s32 infer1(struct rmt_model_slot *slot, s32 x0, s32 x1, u64 *ov)
{
	s32 in[2] = { x0, x1 }, out[2] = { 0x5a5a5a5a, 0x5a5a5a5a };

	CHECK_EQ(rmt_model_infer(slot, in, out, ov), 0);
	return out[0];
}

/* ------------------------------------------------------------------ tests */

static void test_mlp(void)
{
	struct rmt_model_slot slot;
	struct rmt_model_sig sig;
	s32 in[2] = { 5, 6 }, out[1] = { 99 };
	u64 ov = 0, v = 0;

	mlp_sig(&sig);
	rmt_model_slot_init(&slot);
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), -ENOENT);
	CHECK_EQ(out[0], 99);
	CHECK_EQ(rmt_model_version(&slot), 0);
	mlp_blob(0);
	CHECK(load(&slot, &sig, &v) == 0, "load: %s", err);
	CHECK_EQ(v, 1);
	/*
	 * x = (5, 6): h0 = (1 + 5 + 12) >> 1 = 9; h1 = (-2 + 15 - 24) >> 1 =
	 * floor(-11 / 2) = -6, relu 0; y = -1 + 2 * 9 + 3 * 0 = 17.
	 */
	CHECK_EQ(infer1(&slot, 5, 6, &ov), 17);
	/* x = (-3, 4): h0 = (1 - 3 + 8) >> 1 = 3; h1 = (-2 - 9 - 16) >> 1 = -14 -> 0; y = 5 */
	CHECK_EQ(infer1(&slot, -3, 4, &ov), 5);
	/* x = (0, 0): h0 = 1 >> 1 = 0; h1 = -2 >> 1 = -1 -> 0; y = -1 */
	CHECK_EQ(infer1(&slot, 0, 0, &ov), -1);
	CHECK_EQ(ov, 0);
	/* a blob version is taken as given; 0 means previous + 1 */
	mlp_blob(7);
	CHECK_EQ(load(&slot, &sig, &v), 0);
	CHECK_EQ(v, 7);
	mlp_blob(0);
	CHECK_EQ(load(&slot, &sig, &v), 0);
	CHECK_EQ(v, 8);
	CHECK_EQ(rmt_model_version(&slot), 8);
	rmt_model_slot_destroy(&slot);
}

static void test_linear_and_widths(void)
{
	struct rmt_model_slot slot;
	struct rmt_model_sig sig;
	s32 w[4], bias[1] = { 0 }, in[4], out[1];
	u64 ov = 0;
	u32 i;

	memset(&sig, 0, sizeof(sig));
	sig.in_lo = S32_MIN;	/* no declared input range: no clamping */
	sig.in_hi = S32_MAX;
	sig.kind = RMT_MODEL_LINEAR;
	sig.weight_bits = 16;
	sig.n_in = 2;
	sig.n_out = 1;
	sig.nlayers = 1;
	sig.layers[0] = layer_sig(RMT_LAYER_DENSE, RMT_ACT_NONE, 2, 1, 1, 1, 1);
	rmt_model_slot_init(&slot);
	/* (-3 + -4) >> 2 = floor(-1.75) = -2: the shift is arithmetic */
	w[0] = 1;
	w[1] = 1;
	blob_header(&b, RMT_MODEL_LINEAR, 16, 2, 1, 1, 0, 0, 0);
	blob_layer(&b, RMT_LAYER_DENSE, RMT_ACT_NONE, 2, 2, 1, 1, 1, 1);
	blob_weights(&b, 16, w, 2);
	blob_s32s(&b, bias, 1);
	blob_finish(&b);
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
	CHECK_EQ(infer1(&slot, -3, -4, &ov), -2);
	CHECK_EQ(infer1(&slot, 3, 4, &ov), 1);

	/* int8 weights, 3 of them: one byte of padding.  7 - 128 + 127 + 5 = 11 */
	sig.weight_bits = 8;
	sig.n_in = 3;
	sig.layers[0].n_in = 3;
	w[0] = -128;
	w[1] = 127;
	w[2] = 5;
	bias[0] = 7;
	blob_header(&b, RMT_MODEL_LINEAR, 8, 3, 1, 1, 0, 0, 0);
	blob_layer(&b, RMT_LAYER_DENSE, RMT_ACT_NONE, 0, 3, 1, 1, 1, 1);
	blob_weights(&b, 8, w, 3);
	blob_s32s(&b, bias, 1);
	blob_finish(&b);
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
	in[0] = in[1] = in[2] = 1;
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK_EQ(out[0], 11);
	/* nonzero padding is rejected */
	b.buf[sizeof(struct rmt_rec_weights_header) + sizeof(struct rmt_rec_weights_layer) + 3] = 1;
	CHECK_EQ(load(&slot, &sig, NULL), -EINVAL);
	CHECK(strstr(err, "weights layer 0: weight padding bytes are not zero"), "%s", err);

	/* saturation, int16: 4 * 32767 * (2^31 - 1) is far above int32 */
	sig.weight_bits = 16;
	sig.n_in = 4;
	sig.layers[0].n_in = 4;
	sig.layers[0].act = RMT_ACT_RELU;
	for (i = 0; i < 4; i++)
		w[i] = 32767;
	bias[0] = 0;
	blob_header(&b, RMT_MODEL_LINEAR, 16, 4, 1, 1, 0, 0, 0);
	blob_layer(&b, RMT_LAYER_DENSE, RMT_ACT_RELU, 1, 4, 1, 1, 1, 1);
	blob_weights(&b, 16, w, 4);
	blob_s32s(&b, bias, 1);
	blob_finish(&b);
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
	for (i = 0; i < 4; i++)
		in[i] = S32_MAX;
	ov = 0;
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK_EQ(out[0], S32_MAX >> 1);	/* saturate, then shift */
	CHECK_EQ(ov, 1);
	for (i = 0; i < 4; i++)
		in[i] = S32_MIN;
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK_EQ(out[0], 0);		/* S32_MIN >> 1, then relu */
	CHECK_EQ(ov, 2);
	in[0] = S32_MAX;
	in[1] = S32_MIN;
	in[2] = 5;
	in[3] = -3;		/* exact: 32767 * (-1 + 2) = 32767, >> 1 = 16383 */
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK_EQ(out[0], 16383);
	CHECK_EQ(ov, 2);

	/*
	 * 32-bit weights: three products of 2^62 sum to 3 * 2^62, beyond int64;
	 * an int64 accumulator would wrap negative and saturate the wrong way.
	 */
	sig.weight_bits = 32;
	sig.n_in = 3;
	sig.layers[0].n_in = 3;
	sig.layers[0].act = RMT_ACT_NONE;
	for (i = 0; i < 3; i++)
		w[i] = S32_MIN;
	blob_header(&b, RMT_MODEL_LINEAR, 32, 3, 1, 1, 0, 0, 0);
	blob_layer(&b, RMT_LAYER_DENSE, RMT_ACT_NONE, 0, 3, 1, 1, 1, 1);
	blob_weights(&b, 32, w, 3);
	blob_s32s(&b, bias, 1);
	blob_finish(&b);
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
	ov = 0;
	for (i = 0; i < 3; i++)
		in[i] = S32_MIN;
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK_EQ(out[0], S32_MAX);
	for (i = 0; i < 3; i++)
		in[i] = S32_MAX;	/* 3 * -2^31 * (2^31 - 1) */
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK_EQ(out[0], S32_MIN);
	CHECK_EQ(ov, 2);
	in[0] = 1;
	in[1] = -1;
	in[2] = 1;		/* -2^31 + 2^31 - 2^31 */
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK_EQ(out[0], S32_MIN);
	CHECK_EQ(ov, 2);
	rmt_model_slot_destroy(&slot);
}

static void test_conv1d(void)
{
	struct rmt_model_slot slot;
	struct rmt_model_sig sig;
	static const s32 wc[] = { 1, 1, 1, -1 }, bc[] = { 0, 10 };
	static const s32 wd[] = { 1, 1, 1, 1, 1, 2 }, bd[] = { 0 };
	static const s32 w2[] = { 1, 2, 3, 4 }, b2[] = { 0 };
	s32 in[4] = { 1, 2, 3, 4 }, out[6];
	u64 ov = 0;

	/*
	 * conv1d over x = [1, 2, 3, 4] as [T=4][C=1], kernel 2, 2 output
	 * channels: W[0] = (1, 1), W[1] = (1, -1), b = (0, 10).  Steps s = 0..2:
	 * o0 = x[s] + x[s+1] = 3, 5, 7; o1 = 10 + x[s] - x[s+1] = 9, 9, 9;
	 * output [s*2 + o] = 3 9 5 9 7 9.  Then dense 6 -> 1 with weights
	 * (1, 1, 1, 1, 1, 2): 3 + 9 + 5 + 9 + 7 + 18 = 51.
	 */
	memset(&sig, 0, sizeof(sig));
	sig.in_lo = S32_MIN;	/* no declared input range: no clamping */
	sig.in_hi = S32_MAX;
	sig.kind = RMT_MODEL_MLP;
	sig.weight_bits = 16;
	sig.n_in = 4;
	sig.n_out = 6;
	sig.nlayers = 1;
	sig.layers[0] = layer_sig(RMT_LAYER_CONV1D, RMT_ACT_NONE, 4, 6, 1, 2, 2);
	rmt_model_slot_init(&slot);
	blob_header(&b, RMT_MODEL_MLP, 16, 4, 6, 1, 0, 0, 0);
	blob_layer(&b, RMT_LAYER_CONV1D, RMT_ACT_NONE, 0, 4, 6, 1, 2, 2);
	blob_weights(&b, 16, wc, 4);
	blob_s32s(&b, bc, 2);
	blob_finish(&b);
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK(out[0] == 3 && out[1] == 9 && out[2] == 5 && out[3] == 9 && out[4] == 7 &&
	      out[5] == 9, "conv1d: %d %d %d %d %d %d", out[0], out[1], out[2], out[3], out[4],
	      out[5]);

	sig.n_out = 1;
	sig.nlayers = 2;
	sig.layers[1] = layer_sig(RMT_LAYER_DENSE, RMT_ACT_NONE, 6, 1, 1, 1, 1);
	blob_header(&b, RMT_MODEL_MLP, 16, 4, 1, 2, 0, 0, 0);
	blob_layer(&b, RMT_LAYER_CONV1D, RMT_ACT_NONE, 0, 4, 6, 1, 2, 2);
	blob_weights(&b, 16, wc, 4);
	blob_s32s(&b, bc, 2);
	blob_layer(&b, RMT_LAYER_DENSE, RMT_ACT_NONE, 0, 6, 1, 1, 1, 1);
	blob_weights(&b, 16, wd, 6);
	blob_s32s(&b, bd, 1);
	blob_finish(&b);
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK_EQ(out[0], 51);

	/*
	 * Two input channels: x = [1, 10, 100, 1000] is [T=2][C=2], kernel 2,
	 * one output: W[0][c][k] = ((1, 2), (3, 4)) so
	 * acc = W00*x[0] + W10*x[1] + W01*x[2] + W11*x[3] = 1 + 30 + 200 + 4000.
	 */
	memset(&sig, 0, sizeof(sig));
	sig.in_lo = S32_MIN;	/* no declared input range: no clamping */
	sig.in_hi = S32_MAX;
	sig.kind = RMT_MODEL_MLP;
	sig.weight_bits = 16;
	sig.n_in = 4;
	sig.n_out = 1;
	sig.nlayers = 1;
	sig.layers[0] = layer_sig(RMT_LAYER_CONV1D, RMT_ACT_NONE, 4, 1, 2, 1, 2);
	blob_header(&b, RMT_MODEL_MLP, 16, 4, 1, 1, 0, 0, 0);
	blob_layer(&b, RMT_LAYER_CONV1D, RMT_ACT_NONE, 0, 4, 1, 2, 1, 2);
	blob_weights(&b, 16, w2, 4);
	blob_s32s(&b, b2, 1);
	blob_finish(&b);
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
	in[1] = 10;
	in[2] = 100;
	in[3] = 1000;
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK_EQ(out[0], 4231);
	CHECK_EQ(ov, 0);
	rmt_model_slot_destroy(&slot);
}

static void test_trees(void)
{
	struct rmt_model_slot slot;
	struct rmt_model_sig sig;
	static const s32 big[] = { S32_MAX, -7, S32_MAX, -8 };
	s32 in[2], out[2];
	u64 ov = 0;

	tree_sig(&sig);
	rmt_model_slot_init(&slot);
	tree_blob();
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
#define WALK(a, c, o0, o1) \
	do { \
		in[0] = (a); \
		in[1] = (c); \
		CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0); \
		CHECK(out[0] == (o0) && out[1] == (o1), "tree(%d, %d) = (%d, %d)", in[0], in[1], \
		      out[0], out[1]); \
	} while (0)
	WALK(10, 0, 1, 2);		/* <= goes left */
	WALK(S32_MIN, S32_MAX, 1, 2);
	WALK(11, -5, 3, 4);
	WALK(11, -4, 5, 6);
	WALK(S32_MAX, S32_MIN, 3, 4);	/* signed comparisons */

	/*
	 * Forest of 2 trees, shift 1: tree 0 is the tree above; tree 1 is a
	 * stump x1 <= 0 ? (S32_MAX, -7) : (S32_MAX, -8).  Sums are exact:
	 * x = (0, 0): (1 + S32_MAX) >> 1 = 2^30; (2 - 7) >> 1 = -3.
	 */
	sig.kind = RMT_MODEL_FOREST;
	sig.trees = 2;
	blob_header(&b, RMT_MODEL_FOREST, 16, 2, 2, 0, 2, 0, 1);
	tree_body();
	blob_tree(&b, 3, 2);
	blob_node(&b, 1, 0, 1, 2, 0);
	blob_node(&b, -1, 0, 0, 0, 0);
	blob_node(&b, -1, 0, 0, 0, 1);
	blob_s32s(&b, big, 4);
	blob_finish(&b);
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
	WALK(0, 0, 1 << 30, -3);
	/* x = (11, 7): (5 + S32_MAX) >> 1 = 2^30 + 2; (6 - 8) >> 1 = -1 */
	WALK(11, 7, (1 << 30) + 2, -1);
	CHECK_EQ(ov, 0);
	/* shift 0: 5 + S32_MAX saturates */
	b.buf[offsetof(struct rmt_rec_weights_header, shift)] = 0;
	CHECK(load(&slot, &sig, NULL) == 0, "%s", err);
	WALK(11, 7, S32_MAX, -2);
	CHECK_EQ(ov, 1);
	rmt_model_slot_destroy(&slot);
#undef WALK
}

/* ------------------------------------------------------------------ rejections */

struct reject_case {
	const char *name;
	const char *expect;		/* a piece of the error text */
};

/* Load b (expected to fail with @expect), and check the old MLP is intact. */
static void expect_reject(struct rmt_model_slot *slot, const struct rmt_model_sig *sig,
			  const char *name, const char *expect)
{
	u64 v = rmt_model_version(slot);
	int ret = load(slot, sig, NULL);

	CHECK(ret == -EINVAL, "%s: load returned %d (%s)", name, ret, err);
	CHECK(strstr(err, expect), "%s: error \"%s\" does not say \"%s\"", name, err, expect);
	CHECK(rmt_model_version(slot) == v, "%s: version changed", name);
}

static void test_mlp_rejections(void)
{
	struct rmt_model_slot slot;
	struct rmt_model_sig sig, bad;
	const size_t h = sizeof(struct rmt_rec_weights_header);
	const size_t l0 = h;	/* first layer record */
	u64 ov = 0;
	size_t n;

	mlp_sig(&sig);
	rmt_model_slot_init(&slot);
	mlp_blob(3);
	CHECK_EQ(load(&slot, &sig, NULL), 0);

#define MUTATE(off, type, val, name, expect) \
	do { \
		type __v = (val); \
		mlp_blob(5); \
		memcpy(b.buf + (off), &__v, sizeof(__v)); \
		expect_reject(&slot, &sig, name, expect); \
		CHECK_EQ(infer1(&slot, 5, 6, &ov), 17); \
	} while (0)
	MUTATE(0, u32, 0x12345678, "magic", "weights header: bad magic 0x12345678");
	MUTATE(4, u16, 2, "version", "blob format version 2");
	MUTATE(6, u8, RMT_MODEL_FOREST, "kind", "kind is 3, the model declares 1");
	MUTATE(7, u8, 8, "weight_bits", "weight_bits is 8");
	MUTATE(8, u32, 3, "n_in", "n_in is 3");
	MUTATE(12, u32, 2, "n_out", "n_out is 2");
	MUTATE(16, u16, 1, "nlayers", "1 layers and 0 trees");
	MUTATE(18, u16, 1, "ntrees", "2 layers and 1 trees");
	MUTATE(24, u32, 1000, "total_size", "total_size says 1000");
	MUTATE(28, u8, 1, "header shift", "shift must be 0");
	MUTATE(29, u8, 1, "header pad", "header: padding bytes");
	MUTATE(l0 + 0, u8, RMT_LAYER_CONV1D, "layer kind", "layer 0: kind is 2");
	MUTATE(l0 + 1, u8, RMT_ACT_NONE, "layer act", "layer 0: act is 0");
	MUTATE(l0 + 2, u8, 32, "layer shift", "layer 0: shift 32 is over 31");
	MUTATE(l0 + 3, u8, 1, "layer pad", "layer 0: padding bytes");
	MUTATE(l0 + 4, u32, 3, "layer n_in", "layer 0: n_in is 3");
	MUTATE(l0 + 8, u32, 1, "layer n_out", "layer 0: n_out is 1");
	MUTATE(l0 + 12, u16, 2, "layer in_ch", "in_ch is 2");
	MUTATE(l0 + 16, u16, 2, "layer kernel", "kernel is 2");
	/* the second layer record: after 20 + 8 weight bytes + 8 bias bytes */
	MUTATE(l0 + 36 + 8, u32, 3, "layer 1 n_out", "layer 1: n_out is 3");
#undef MUTATE

	/* trailing bytes */
	mlp_blob(5);
	b.n += 4;
	blob_finish(&b);
	expect_reject(&slot, &sig, "trailing", "weights end: 4 bytes left after the last layer");
	/* weight bound */
	bad = sig;
	bad.max_abs_weight = 3;
	mlp_blob(5);
	expect_reject(&slot, &bad, "bound", "layer 0: weight 3 is -4, over the declared bound");
	bad.max_abs_weight = 4;
	CHECK_EQ(load(&slot, &bad, NULL), 0);
	mlp_blob(3);
	CHECK_EQ(load(&slot, &sig, NULL), 0);
	/* a signature that does not hold together */
	bad = sig;
	bad.layers[1].n_in = 3;
	expect_reject(&slot, &bad, "sig chain", "layer 1 takes 3 inputs but receives 2");
	bad = sig;
	bad.weight_bits = 12;
	expect_reject(&slot, &bad, "sig bits", "weight width 12");
	bad = sig;
	bad.kind = RMT_MODEL_LINEAR;
	expect_reject(&slot, &bad, "sig linear", "exactly one dense layer");
	bad = sig;
	bad.layers[0] = layer_sig(RMT_LAYER_CONV1D, RMT_ACT_RELU, 2, 2, 1, 1, 2);
	expect_reject(&slot, &bad, "sig conv", "conv1d layer 0");

	/* every truncation */
	mlp_blob(5);
	for (n = 0; n < b.n; n++) {
		u64 v = rmt_model_version(&slot);

		CHECK(rmt_model_load(&slot, &sig, b.buf, n, NULL, err, sizeof(err)) == -EINVAL,
		      "truncated to %zu bytes: accepted", n);
		CHECK(v == rmt_model_version(&slot), "version changed");
	}
	CHECK(strstr(err, "total_size says"), "%s", err);
	/* truncations that keep total_size consistent hit "blob ends inside" */
	for (n = h; n < b.n; n++) {
		struct rmt_rec_weights_header hd;

		mlp_blob(5);
		memcpy(&hd, b.buf, sizeof(hd));
		hd.total_size = (u32)n;
		memcpy(b.buf, &hd, sizeof(hd));
		CHECK(rmt_model_load(&slot, &sig, b.buf, n, NULL, err, sizeof(err)) == -EINVAL,
		      "truncated to %zu bytes: accepted", n);
		CHECK(strstr(err, "blob ends inside"), "at %zu: %s", n, err);
	}
	CHECK_EQ(infer1(&slot, 5, 6, &ov), 17);
	CHECK_EQ(rmt_model_version(&slot), 3);
	rmt_model_slot_destroy(&slot);
}

static void test_tree_rejections(void)
{
	struct rmt_model_slot slot;
	struct rmt_model_sig sig, bad;
	const size_t t0 = sizeof(struct rmt_rec_weights_header);
	const size_t n0 = t0 + sizeof(struct rmt_rec_weights_tree);
	const size_t ns = sizeof(struct rmt_rec_weights_node);
	s32 in[2] = { 11, -5 }, out[2];
	u64 ov = 0;
	size_t n;

	tree_sig(&sig);
	rmt_model_slot_init(&slot);
	tree_blob();
	CHECK_EQ(load(&slot, &sig, NULL), 0);

#define NODE(i, field) (n0 + (i) * ns + offsetof(struct rmt_rec_weights_node, field))
#define MUTATE(off, type, val, name, expect) \
	do { \
		type __v = (val); \
		tree_blob(); \
		memcpy(b.buf + (off), &__v, sizeof(__v)); \
		expect_reject(&slot, &sig, name, expect); \
		CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0); \
		CHECK(out[0] == 3 && out[1] == 4, "%s: old tree lost", name); \
	} while (0)
	MUTATE(NODE(2, left), u32, 1, "backward child", "tree 0 node 2: left child 1 is not after");
	MUTATE(NODE(2, right), u32, 2, "self loop", "tree 0 node 2: right child 2 is not after");
	MUTATE(NODE(0, left), u32, 0, "cycle to root", "tree 0 node 0: left child 0");
	MUTATE(NODE(2, right), u32, 5, "child out of range", "right child 5 is not after the node and inside 0..4");
	MUTATE(NODE(0, feature), s32, 2, "feature range", "tree 0 node 0: feature 2 is outside 0..1");
	MUTATE(NODE(2, feature), s32, -2, "negative feature", "feature -2 is outside");
	MUTATE(NODE(3, leaf), u32, 3, "leaf range", "tree 0 node 3: leaf index 3 is outside 0..2");
	MUTATE(NODE(1, left), u32, 4, "leaf with child", "a leaf has nonzero threshold, left or right");
	MUTATE(NODE(2, leaf), u32, 1, "inner with leaf", "an inner node has a nonzero leaf index");
	MUTATE(t0, u32, 0, "no nodes", "0 nodes and 3 leaves");
	MUTATE(t0 + 4, u32, 0, "no leaves", "5 nodes and 0 leaves");
	MUTATE(t0, u32, 0x10000000, "huge nnodes", "268435456 nodes and 3 leaves need");
	MUTATE(t0 + 4, u32, 0xffffffff, "huge nleaves", "leaves need");
	MUTATE(28, u8, 1, "tree shift", "shift 1 is over 0");
	MUTATE(18, u16, 2, "ntrees", "0 layers and 2 trees, the model declares 1 trees");
#undef MUTATE
#undef NODE

	/* too deep: the signature says depth 1, node 2 is at depth 1 with children */
	bad = sig;
	bad.depth = 1;
	tree_blob();
	expect_reject(&slot, &bad, "too deep",
		      "tree 0 node 2: its children are at depth 2, deeper than the declared 1");
	/* an unreachable deep chain does not count: node 1 is a leaf, 2.. unused */
	bad.depth = 1;
	blob_header(&b, RMT_MODEL_TREE, 16, 2, 2, 0, 1, 0, 0);
	blob_tree(&b, 5, 1);
	blob_node(&b, 0, 0, 1, 1, 0);
	blob_node(&b, -1, 0, 0, 0, 0);
	blob_node(&b, 0, 0, 3, 4, 0);	/* unreachable */
	blob_node(&b, 0, 0, 4, 4, 0);	/* unreachable */
	blob_node(&b, -1, 0, 0, 0, 0);
	blob_s32s(&b, in, 2);
	blob_finish(&b);
	CHECK(load(&slot, &bad, NULL) == 0, "%s", err);
	tree_blob();
	CHECK_EQ(load(&slot, &sig, NULL), 0);
	/* a forest shift over 63 */
	bad = sig;
	bad.kind = RMT_MODEL_FOREST;
	bad.trees = 1;
	blob_header(&b, RMT_MODEL_FOREST, 16, 2, 2, 0, 1, 0, 64);
	tree_body();
	blob_finish(&b);
	expect_reject(&slot, &bad, "forest shift", "shift 64 is over 63");
	/* every truncation */
	tree_blob();
	for (n = sizeof(struct rmt_rec_weights_header); n < b.n; n++) {
		struct rmt_rec_weights_header hd;

		tree_blob();
		memcpy(&hd, b.buf, sizeof(hd));
		hd.total_size = (u32)n;
		memcpy(b.buf, &hd, sizeof(hd));
		CHECK(rmt_model_load(&slot, &sig, b.buf, n, NULL, err, sizeof(err)) == -EINVAL,
		      "truncated to %zu bytes: accepted", n);
	}
	CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
	CHECK(out[0] == 3 && out[1] == 4, "old tree lost");
	rmt_model_slot_destroy(&slot);
}

/* Random corruption: the loader may accept or reject, but never misbehave. */
static void test_fuzz(void)
{
	struct rmt_model_slot slot;
	struct rmt_model_sig msig, tsig;
	static struct blob good[2];
	s32 in[2], out[2];
	u64 ov = 0;
	u32 i, j, accepted = 0;

	mlp_sig(&msig);
	tree_sig(&tsig);
	tsig.depth = 3;
	mlp_blob(0);
	good[0] = b;
	tree_blob();
	good[1] = b;
	rmt_model_slot_init(&slot);
	for (i = 0; i < 20000; i++) {
		u32 which = i & 1, flips = 1 + (u32)test_below(3);

		b = good[which];
		for (j = 0; j < flips; j++) {
			size_t off = test_below(b.n);

			b.buf[off] = test_below(2) ? (u8)test_rand() : b.buf[off] ^ (1u << test_below(8));
		}
		if (!test_below(20))
			b.n = test_below(b.n + 8);
		if (load(&slot, which ? &tsig : &msig, NULL) == 0) {
			accepted++;
			in[0] = (s32)test_rand();
			in[1] = (s32)test_rand();
			CHECK_EQ(rmt_model_infer(&slot, in, out, &ov), 0);
			/* leave the slot holding a well-formed model of the other kind */
			rmt_model_slot_destroy(&slot);
			rmt_model_slot_init(&slot);
		} else {
			CHECK(err[0], "rejection without a reason");
		}
	}
	CHECK(accepted > 100, "only %u mutants accepted: the fuzz is not reaching inference",
	      accepted);
	rmt_model_slot_destroy(&slot);
}

/* ------------------------------------------------------------------ tree layouts */

#define RT_MAX_NODES 200
#define RT_MAX_TREES 4

struct rt_tree {
	u32 nnodes, nleaves;
	struct rmt_rec_weights_node n[RT_MAX_NODES];
	s32 leaf[RT_MAX_NODES * 3];
};

/*
 * A random valid tree: children after their parent (so shared children, a
 * DAG, and unreachable nodes happen), leaves at any depth.  @chain makes a
 * long thin tree (a path @depth deep), whose implicit expansion is too big,
 * so the engine keeps the node array for it.  Returns the deepest reachable
 * node's depth.
 */
static u32 rt_gen(struct rt_tree *t, u32 n_in, u32 n_out, bool chain, u32 depth)
{
	u8 d[RT_MAX_NODES];
	u32 i, k, maxd = 0;

	memset(d, 0, sizeof(d));
	t->nnodes = chain ? 2 * depth + 1 : 1 + (u32)test_below(RT_MAX_NODES - 1);
	t->nleaves = 1 + (u32)test_below(8);
	d[0] = 1;
	for (i = 0; i < t->nnodes; i++) {
		struct rmt_rec_weights_node *n = &t->n[i];
		bool leaf = chain ? i % 2 == 1 || i == 2 * depth :
			i + 2 >= t->nnodes || !test_below(4) || d[i] > 15;

		memset(n, 0, sizeof(*n));
		if (leaf) {
			n->feature = -1;
			n->leaf = (u32)test_below(t->nleaves);
			continue;
		}
		n->feature = (s32)test_below(n_in);
		n->threshold = (s32)test_below(9) - 4;
		if (!test_below(10))
			n->threshold = test_below(2) ? S32_MAX : S32_MIN;
		if (chain) {
			n->left = i + 1;
			n->right = i + 2;
		} else {
			n->left = i + 1 + (u32)test_below(t->nnodes - i - 1);
			n->right = i + 1 + (u32)test_below(t->nnodes - i - 1);
		}
		/* keep every reachable node within the deepest allowed depth */
		for (k = 0; k < 2; k++) {
			u32 c = k ? n->right : n->left;

			if (d[i] && d[i] + 1 > 17) {
				n->feature = -1;
				n->threshold = 0;
				n->left = n->right = 0;
				n->leaf = 0;
				break;
			}
			if (d[i] && d[c] < d[i] + 1)
				d[c] = d[i] + 1;
		}
	}
	for (i = 0; i < t->nnodes; i++)
		if (d[i] && t->n[i].feature != -1 && d[i] > maxd)
			maxd = d[i];
	for (i = 0; i < t->nleaves * n_out; i++)
		t->leaf[i] = (s32)test_below(2001) - 1000;
	return maxd;	/* inner node depth + 1 is its children's depth */
}

static const s32 *rt_walk(const struct rt_tree *t, u32 n_out, const s32 *x)
{
	u32 i = 0;

	while (t->n[i].feature != -1)
		i = x[t->n[i].feature] > t->n[i].threshold ? t->n[i].right : t->n[i].left;
	return &t->leaf[t->n[i].leaf * n_out];
}

/*
 * The implicit layout (and the node-array fallback for thin deep trees)
 * against a plain walk of the blob's records, on random trees and forests
 * with leaves at every depth, shared children, unreachable nodes, and
 * inputs on and around the thresholds.
 */
static void test_tree_layouts(void)
{
	static struct rt_tree trees[RT_MAX_TREES];
	struct rmt_model_slot slot;
	struct rmt_model_sig sig;
	u32 round, j, i, k, o;

	for (round = 0; round < 300; round++) {
		u32 ntrees = round % 3 ? 1 : 1 + (u32)test_below(RT_MAX_TREES);
		u32 n_in = 1 + (u32)test_below(4), n_out = 1 + (u32)test_below(3);
		u32 shift = ntrees > 1 ? (u32)test_below(3) : 0, depth = 0;
		bool forest = ntrees > 1 || test_below(4) == 0;

		for (j = 0; j < ntrees; j++) {
			bool chain = !test_below(8);
			u32 dj = rt_gen(&trees[j], n_in, n_out, chain, 12 + (u32)test_below(5));

			depth = dj > depth ? dj : depth;
		}
		memset(&sig, 0, sizeof(sig));
		sig.in_lo = S32_MIN;
		sig.in_hi = S32_MAX;
		sig.kind = forest ? RMT_MODEL_FOREST : RMT_MODEL_TREE;
		sig.weight_bits = 16;
		sig.n_in = n_in;
		sig.n_out = n_out;
		sig.trees = ntrees;
		sig.depth = depth ? depth : 1;
		blob_header(&b, sig.kind, 16, n_in, n_out, 0, ntrees, 0, shift);
		for (j = 0; j < ntrees; j++) {
			blob_tree(&b, trees[j].nnodes, trees[j].nleaves);
			for (i = 0; i < trees[j].nnodes; i++)
				blob_put(&b, &trees[j].n[i], sizeof(trees[j].n[i]));
			blob_s32s(&b, trees[j].leaf, trees[j].nleaves * n_out);
		}
		blob_finish(&b);
		rmt_model_slot_init(&slot);
		CHECK(load(&slot, &sig, NULL) == 0, "round %u: load: %s", round, err);
		for (k = 0; k < 200; k++) {
			s32 x[4], out[3], want[3];
			s64 sum[3] = { 0, 0, 0 };
			u64 ov = 0;

			for (i = 0; i < n_in; i++) {
				x[i] = (s32)test_below(11) - 5;
				if (!test_below(10))
					x[i] = test_below(2) ? S32_MAX : S32_MIN;
			}
			for (j = 0; j < ntrees; j++)
				for (o = 0; o < n_out; o++)
					sum[o] += rt_walk(&trees[j], n_out, x)[o];
			for (o = 0; o < n_out; o++)
				want[o] = (s32)(sum[o] >> shift);	/* small: no saturation */
			CHECK_EQ(rmt_model_infer(&slot, x, out, &ov), 0);
			for (o = 0; o < n_out; o++)
				CHECK(out[o] == want[o], "round %u input %u output %u: %d, walk %d",
				      round, k, o, out[o], want[o]);
			CHECK_EQ(ov, 0);
		}
		rmt_model_slot_destroy(&slot);
	}
}

int main(void)
{
	test_mlp();
	test_linear_and_widths();
	test_conv1d();
	test_trees();
	test_tree_layouts();
	test_mlp_rejections();
	test_tree_rejections();
	test_fuzz();
	checks_done("test_models");
	return 0;
}
