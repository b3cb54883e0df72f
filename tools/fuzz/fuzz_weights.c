// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_weights.c: libFuzzer target for the model-weights blob parser and the
 * fixed-point inference of vm_kernel/core/rmt_model*.c.
 *
 * Input: a model signature (decode_sig(): the MODEL record's fields and its
 * layers), then a u32 length and a first blob, then a second blob (the rest).
 * Oracles, besides no sanitizer report:
 *   - the signature check and a failed load explain themselves;
 *   - a loaded model infers deterministically (same inputs, same outputs) on
 *     inputs inside and outside the declared range;
 *   - a failed load of the second blob leaves the first weights in place
 *     (same version, same outputs); a successful one sets the version to the
 *     blob's model_version, or the previous version + 1 when that is 0.
 */
#include "rmt_model.h"
#include "fuzz_common.h"

/* Keep one inference cheap: multiply-accumulates per call at most this. */
#define MAX_MACS (1u << 18)

static s32 in_buf[RMT_MAX_MODEL_IO], out_a[RMT_MAX_MODEL_IO], out_b[RMT_MAX_MODEL_IO];

static void decode_sig(struct fuzz_in *in, struct rmt_model_sig *s)
{
	u32 i;

	memset(s, 0, sizeof(*s));
	s->kind = fuzz_u8(in);
	s->weight_bits = fuzz_u8(in);
	s->nlayers = fuzz_u8(in);
	s->trees = fuzz_u16(in);
	s->depth = fuzz_u16(in);
	s->n_in = fuzz_u32(in);
	s->n_out = fuzz_u32(in);
	s->in_lo = fuzz_u32(in);
	s->in_hi = fuzz_u32(in);
	s->max_abs_weight = fuzz_u32(in);
	for (i = 0; i < s->nlayers && i < RMT_MAX_LAYERS; i++) {
		struct rmt_layer_sig *l = &s->layers[i];

		l->kind = fuzz_u8(in);
		l->act = fuzz_u8(in);
		l->in_ch = fuzz_u16(in);
		l->out_ch = fuzz_u16(in);
		l->kernel = fuzz_u16(in);
		l->n_in = fuzz_u32(in);
		l->n_out = fuzz_u32(in);
	}
}

static u64 macs(const struct rmt_model_sig *s)
{
	u64 n = 0;
	u32 i;

	if (s->kind != RMT_MODEL_MLP && s->kind != RMT_MODEL_LINEAR)
		return (u64)(s->trees + 1) * (s->depth + 1) + s->n_out * (s->trees + 1);
	for (i = 0; i < s->nlayers && i < RMT_MAX_LAYERS; i++)
		n += (u64)s->layers[i].n_in * s->layers[i].n_out;
	return n;
}

/* Inputs: in range, at its edges, or anything (hidden layers clamp). */
static void draw_inputs(const struct rmt_model_sig *s, u32 round)
{
	u64 r = 0x9E3779B97F4A7C15ull * (round + 1);
	u32 i;

	for (i = 0; i < s->n_in; i++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		switch ((r >> 32) % 4) {
		case 0:
			in_buf[i] = s->in_lo;
			break;
		case 1:
			in_buf[i] = s->in_hi;
			break;
		case 2:
			in_buf[i] = (s32)r;
			break;
		default:
			in_buf[i] = s->in_hi >= s->in_lo ?
				(s32)(s->in_lo + (s64)(r % ((u64)((s64)s->in_hi - s->in_lo) + 1))) : 0;
		}
	}
}

static void infer(struct rmt_model_slot *slot, s32 *out)
{
	u64 ovf = 0;

	FUZZ_CHECK(rmt_model_infer(slot, in_buf, out, &ovf) == 0, "no result although weights are loaded");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct rmt_model_sig sig;
	struct rmt_model_slot slot;
	char err[256] = "";
	u64 v1 = 0, v2 = 0;
	u32 len1, round;
	const u8 *blob1;
	int rc;

	decode_sig(&in, &sig);
	rc = rmt_model_sig_check(&sig, err, sizeof(err));
	fuzz_check_err(rc, err, sizeof(err));
	if (rc || macs(&sig) > MAX_MACS)
		return 0;
	len1 = fuzz_u32(&in);
	if (len1 > fuzz_left(&in))
		len1 = fuzz_left(&in);
	blob1 = in.p;
	in.p += len1;
	in.n -= len1;
	rmt_model_slot_init(&slot);
	FUZZ_CHECK(rmt_model_infer(&slot, in_buf, out_a, &v1) == -ENOENT, "empty slot infers");
	/* Private copies of exactly the blob's bytes: ASan sees any over-read. */
	{
		u8 *b = malloc(len1 ? len1 : 1);

		memcpy(b, blob1, len1);
		rc = rmt_model_load(&slot, &sig, b, len1, &v1, err, sizeof(err));
		free(b);
	}
	fuzz_check_err(rc, err, sizeof(err));
	if (rc) {
		FUZZ_CHECK(rmt_model_version(&slot) == 0, "failed first load set a version");
		goto out;
	}
	FUZZ_CHECK(v1 == rmt_model_version(&slot) && v1 > 0, "version %llu", v1);
	for (round = 0; round < 3; round++) {
		draw_inputs(&sig, round);
		infer(&slot, out_a);
		infer(&slot, out_b);
		FUZZ_CHECK(!memcmp(out_a, out_b, sig.n_out * 4), "inference not deterministic");
	}
	if (fuzz_left(&in)) {
		u8 *b = malloc(fuzz_left(&in));
		struct rmt_rec_weights_header h = { 0 };

		memcpy(b, in.p, fuzz_left(&in));
		memcpy(&h, b, fuzz_left(&in) < sizeof(h) ? fuzz_left(&in) : sizeof(h));
		draw_inputs(&sig, 0);
		infer(&slot, out_a);
		rc = rmt_model_load(&slot, &sig, b, fuzz_left(&in), &v2, err, sizeof(err));
		free(b);
		fuzz_check_err(rc, err, sizeof(err));
		if (rc) {
			FUZZ_CHECK(rmt_model_version(&slot) == v1, "failed load changed the version");
			infer(&slot, out_b);
			FUZZ_CHECK(!memcmp(out_a, out_b, sig.n_out * 4),
				   "failed load changed the weights");
		} else {
			FUZZ_CHECK(v2 == (h.model_version ? h.model_version : v1 + 1),
				   "version %llu after %llu (blob says %u)", v2, v1, h.model_version);
			infer(&slot, out_b);
		}
	}
out:
	rmt_model_slot_destroy(&slot);
	return 0;
}
