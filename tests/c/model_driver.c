// SPDX-License-Identifier: GPL-2.0
/*
 * model_driver.c: load a blob and run inputs through the C model engine, for
 * the Python cross-check (tests/test_c_tables_models.py).
 *
 * stdin: kind weight_bits nlayers trees depth n_in n_out max_abs_weight,
 * per layer: kind act in_ch out_ch kernel n_in n_out; the blob length and the
 * blob in hex; the number of input vectors and their n_in values each.
 * stdout: "load <ret>" and the error text, then per input vector its outputs
 * and the overflow count.
 */
#include "rmt_model.h"

static u8 blob[RMT_MAX_WEIGHTS_SIZE];

int main(void)
{
	unsigned int kind, bits, nl, trees, depth, n_in, n_out, i, j, len, ninputs, v[7];
	struct rmt_model_sig sig;
	struct rmt_model_slot slot;
	static s32 in[RMT_MAX_MODEL_IO], out[RMT_MAX_MODEL_IO];
	char err[256] = "";
	int mabs, in_lo, in_hi, ret;

	if (scanf("%u %u %u %u %u %u %u %d %d %d", &kind, &bits, &nl, &trees, &depth, &n_in,
		  &n_out, &mabs, &in_lo, &in_hi) != 10)
		return 2;
	memset(&sig, 0, sizeof(sig));
	sig.kind = kind;
	sig.weight_bits = bits;
	sig.nlayers = nl;
	sig.trees = trees;
	sig.depth = depth;
	sig.n_in = n_in;
	sig.n_out = n_out;
	sig.max_abs_weight = mabs;
	sig.in_lo = in_lo;
	sig.in_hi = in_hi;
	for (i = 0; i < nl && i < RMT_MAX_LAYERS; i++) {
		for (j = 0; j < 7; j++)
			if (scanf("%u", &v[j]) != 1)
				return 2;
		sig.layers[i] = (struct rmt_layer_sig){ v[0], v[1], v[2], v[3], v[4], v[5], v[6] };
	}
	if (scanf("%u", &len) != 1 || len > sizeof(blob))
		return 2;
	for (i = 0; i < len; i++)
		if (scanf("%2hhx", &blob[i]) != 1)
			return 2;
	rmt_model_slot_init(&slot);
	ret = rmt_model_load(&slot, &sig, blob, len, NULL, err, sizeof(err));
	printf("load %d\n%s\n", ret, err);
	if (scanf("%u", &ninputs) != 1)
		return 2;
	for (i = 0; i < ninputs; i++) {
		u64 ov = 0;

		for (j = 0; j < n_in; j++)
			if (scanf("%d", &in[j]) != 1)
				return 2;
		if (ret)
			continue;
		rmt_model_infer(&slot, in, out, &ov);
		for (j = 0; j < n_out; j++)
			printf("%d ", out[j]);
		printf("%llu\n", (unsigned long long)ov);
	}
	rmt_model_slot_destroy(&slot);
	return 0;
}
