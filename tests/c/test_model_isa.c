// SPDX-License-Identifier: GPL-2.0
/*
 * test_model_isa.c: the MLP engines of vm_kernel/core/rmt_model_mlp.c agree bit for bit.
 *
 * rmt_model.c computes an MLP with 8/16-bit weights in exact s64 sums
 * (RMT_MODEL_ISA_EXACT64), or, where the load proved every sum fits in int32,
 * in int32 (RMT_MODEL_ISA_INT32) or with AVX2 (RMT_MODEL_ISA_AVX2, when the
 * CPU has it).  Random models of many shapes (1-3 dense layers, 1-70 inputs
 * and outputs: whole and partial blocks of 8, odd input counts), random
 * declared input ranges (within s16, wider, none), inputs inside the range,
 * at its ends and outside it, run under every engine and against an exact
 * reference written here; the outputs and the overflow counts must all be
 * equal.  Models whose bound is exactly INT32_MAX, and one over it (where the
 * extreme inputs saturate), check the edge of the load's proof.
 */
#include "check.h"
#include "blob.h"

#define MAXW 70
#define MAXL 3

static char err[256];
static struct blob b;

struct ref_layer {
	u32 n_in, n_out, shift, relu;
	s32 w[MAXW][MAXW], b[MAXW];
};

struct ref_model {
	u32 bits, nlayers, n_in, n_out;
	s32 lo, hi;
	struct ref_layer l[MAXL];
};

static struct ref_model m;

/* The semantics (docs/semantics.md, "Models (CALLM)"), with s64 sums. */
static u64 ref_infer(const s32 *in, s32 *out)
{
	s32 x[MAXW], y[MAXW];
	u64 ov = 0;
	u32 i, j, o;

	memcpy(x, in, m.n_in * sizeof(s32));
	for (j = 0; j < m.nlayers; j++) {
		const struct ref_layer *l = &m.l[j];

		for (o = 0; o < l->n_out; o++) {
			s64 acc = l->b[o];
			s32 v;

			for (i = 0; i < l->n_in; i++)
				acc += (s64)l->w[o][i] * x[i];
			if (acc > S32_MAX || acc < S32_MIN)
				ov++;
			v = acc > S32_MAX ? S32_MAX : acc < S32_MIN ? S32_MIN : (s32)acc;
			v >>= l->shift;
			if (l->relu && v < 0)
				v = 0;
			if (j + 1 < m.nlayers)
				v = v < m.lo ? m.lo : v > m.hi ? m.hi : v;
			y[o] = v;
		}
		memcpy(x, y, l->n_out * sizeof(s32));
	}
	memcpy(out, x, m.n_out * sizeof(s32));
	return ov;
}

static int load_model(struct rmt_model_slot *slot)
{
	struct rmt_model_sig sig;
	s32 flat[MAXW * MAXW];
	u32 i, j, o;

	memset(&sig, 0, sizeof(sig));
	sig.kind = RMT_MODEL_MLP;
	sig.weight_bits = m.bits;
	sig.n_in = m.n_in;
	sig.n_out = m.n_out;
	sig.nlayers = m.nlayers;
	sig.in_lo = m.lo;
	sig.in_hi = m.hi;
	blob_header(&b, RMT_MODEL_MLP, m.bits, m.n_in, m.n_out, m.nlayers, 0, 0, 0);
	for (j = 0; j < m.nlayers; j++) {
		const struct ref_layer *l = &m.l[j];

		sig.layers[j] = layer_sig(RMT_LAYER_DENSE, l->relu ? RMT_ACT_RELU : RMT_ACT_NONE,
					  l->n_in, l->n_out, 1, 1, 1);
		blob_layer(&b, RMT_LAYER_DENSE, l->relu ? RMT_ACT_RELU : RMT_ACT_NONE, l->shift,
			   l->n_in, l->n_out, 1, 1, 1);
		for (o = 0; o < l->n_out; o++)
			for (i = 0; i < l->n_in; i++)
				flat[o * l->n_in + i] = l->w[o][i];
		blob_weights(&b, m.bits, flat, l->n_in * l->n_out);
		blob_s32s(&b, l->b, l->n_out);
	}
	blob_finish(&b);
	err[0] = 0;
	return rmt_model_load(slot, &sig, b.buf, b.n, NULL, err, sizeof(err));
}

static s32 rand_between(s64 lo, s64 hi)
{
	return (s32)(lo + (s64)test_below((u64)(hi - lo + 1)));
}

/* Run @in under every engine the CPU has and the reference: all must agree. */
static void compare(struct rmt_model_slot *slot, const s32 *in, int nisa)
{
	s32 want[MAXW], got[MAXW];
	u64 want_ov = ref_infer(in, want), ov;
	int isa;
	u32 o;

	for (isa = 0; isa < nisa; isa++) {
		CHECK_EQ(rmt_model_set_isa(isa), 0);
		ov = 0;
		memset(got, 0x5a, sizeof(got));
		CHECK_EQ(rmt_model_infer(slot, in, got, &ov), 0);
		for (o = 0; o < m.n_out; o++)
			CHECK(got[o] == want[o], "isa %d output %u: %d, expected %d (%u layers, %u in)",
			      isa, o, got[o], want[o], m.nlayers, m.n_in);
		CHECK(ov == want_ov, "isa %d: %llu overflows, expected %llu", isa,
		      (unsigned long long)ov, (unsigned long long)want_ov);
	}
}

static void random_model(void)
{
	u32 j, i, o, width;
	s32 wmax;
	s64 bmax;

	m.bits = test_below(2) ? 16 : 8;
	m.nlayers = 1 + test_below(MAXL);
	m.n_in = 1 + test_below(test_below(4) ? 20 : MAXW);
	switch (test_below(4)) {
	case 0:		/* no declared range */
		m.lo = S32_MIN;
		m.hi = S32_MAX;
		break;
	case 1:		/* wider than s16: the int32 path without AVX2 */
		m.lo = -rand_between(0, 1 << 20);
		m.hi = rand_between(0, 1 << 20);
		break;
	default:	/* within s16, maybe not around 0 */
		m.lo = rand_between(-32768, 100);
		m.hi = rand_between(m.lo, 32767);
		break;
	}
	/* small weights mostly (the fast paths), sometimes the full width */
	wmax = test_below(5) ? (s32)test_below(test_below(2) ? 8 : 300) + 1 :
			       (1 << (m.bits - 1)) - 1;
	if (wmax > (1 << (m.bits - 1)) - 1)
		wmax = (1 << (m.bits - 1)) - 1;
	bmax = test_below(5) ? 5000 : (s64)1 << (m.bits + 8);
	width = m.n_in;
	for (j = 0; j < m.nlayers; j++) {
		struct ref_layer *l = &m.l[j];

		l->n_in = width;
		l->n_out = 1 + test_below(test_below(3) ? 17 : MAXW);
		l->shift = test_below(3) ? test_below(12) : test_below(32);
		l->relu = test_below(2);
		for (o = 0; o < l->n_out; o++) {
			l->b[o] = rand_between(-bmax, bmax);
			for (i = 0; i < l->n_in; i++)
				l->w[o][i] = test_below(8) ? rand_between(-wmax, wmax) :
					     (test_below(2) ? -wmax : wmax);
		}
		width = l->n_out;
	}
	m.n_out = width;
}

static void random_inputs(s32 *in)
{
	u32 i;
	s64 span = (s64)m.hi - m.lo;

	for (i = 0; i < m.n_in; i++) {
		switch (test_below(6)) {
		case 0:
			in[i] = m.lo;
			break;
		case 1:
			in[i] = m.hi;
			break;
		default:
			in[i] = (s32)(m.lo + (s64)test_below((u64)span + 1));
			break;
		}
	}
	if (test_below(6) == 0) {	/* one input outside the declared range */
		i = test_below(m.n_in);
		if (m.lo > S32_MIN && test_below(2))
			in[i] = rand_between(S32_MIN, (s64)m.lo - 1);
		else if (m.hi < S32_MAX)
			in[i] = rand_between((s64)m.hi + 1, S32_MAX);
	}
}

/*
 * One dense layer 3 -> 1 with |b| + 32767 * sum |w| = INT32_MAX + @over:
 * with @over = 0 the load may use int32 and the extreme inputs reach
 * INT32_MAX exactly; with @over = 1 they saturate (one overflow) and an
 * int32 sum would wrap, so the load must not use int32.
 */
static void test_bound_edge(int nisa)
{
	struct rmt_model_slot slot;
	s32 in[3];
	int over, sign;

	for (over = 0; over <= 1; over++) {
		for (sign = -1; sign <= 1; sign += 2) {
			memset(&m, 0, sizeof(m));
			m.bits = 16;
			m.nlayers = 1;
			m.n_in = 3;
			m.n_out = 1;
			m.lo = -32767;
			m.hi = 32767;
			m.l[0].n_in = 3;
			m.l[0].n_out = 1;
			/* sum |w| = 65538; 32767 * 65538 = INT32_MAX - 1 */
			m.l[0].w[0][0] = 32767;
			m.l[0].w[0][1] = -32767;
			m.l[0].w[0][2] = 4;
			m.l[0].b[0] = sign * (1 + over);
			rmt_model_slot_init(&slot);
			CHECK(load_model(&slot) == 0, "%s", err);
			in[0] = sign * 32767;
			in[1] = -sign * 32767;
			in[2] = sign * 32767;
			compare(&slot, in, nisa);
			in[2] = 0;
			compare(&slot, in, nisa);
			rmt_model_slot_destroy(&slot);
		}
	}
}

int main(void)
{
	struct rmt_model_slot slot;
	s32 in[MAXW];
	int nisa = rmt_model_set_isa(RMT_MODEL_ISA_AVX2) == 0 ? 3 : 2;
	u32 k, t;

	printf("engines compared: %d (AVX2 %s)\n", nisa, nisa == 3 ? "present" : "absent");
	test_bound_edge(nisa);
	for (k = 0; k < 3000; k++) {
		random_model();
		rmt_model_slot_init(&slot);
		CHECK(load_model(&slot) == 0, "model %u: %s", k, err);
		for (t = 0; t < 8; t++) {
			random_inputs(in);
			compare(&slot, in, nisa);
		}
		rmt_model_slot_destroy(&slot);
	}
	CHECK_EQ(rmt_model_set_isa(-1), 0);
	checks_done("test_model_isa");
	return 0;
}
