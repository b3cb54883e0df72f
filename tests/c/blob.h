/* SPDX-License-Identifier: GPL-2.0 */
/*
 * blob.h: build model-weights blobs in C tests (layout: contract/objformat.py).
 */
#ifndef _RMT_TEST_BLOB_H
#define _RMT_TEST_BLOB_H

#include "rmt_model.h"

struct blob {
	u8 buf[1 << 16];
	size_t n;
};

static inline void blob_put(struct blob *b, const void *p, size_t n)
{
	memcpy(b->buf + b->n, p, n);
	b->n += n;
}

static inline void blob_header(struct blob *b, u8 kind, u8 bits, u32 n_in, u32 n_out,
			       u16 nlayers, u16 ntrees, u32 version, u8 shift)
{
	struct rmt_rec_weights_header h;

	memset(&h, 0, sizeof(h));
	h.magic = RMT_WEIGHTS_MAGIC;
	h.version = RMT_WEIGHTS_VERSION;
	h.kind = kind;
	h.weight_bits = bits;
	h.n_in = n_in;
	h.n_out = n_out;
	h.nlayers = nlayers;
	h.ntrees = ntrees;
	h.model_version = version;
	h.shift = shift;
	b->n = 0;
	blob_put(b, &h, sizeof(h));
}

/* Set total_size to the length so far. */
static inline void blob_finish(struct blob *b)
{
	struct rmt_rec_weights_header h;

	memcpy(&h, b->buf, sizeof(h));
	h.total_size = (u32)b->n;
	memcpy(b->buf, &h, sizeof(h));
}

static inline void blob_layer(struct blob *b, u8 kind, u8 act, u8 shift, u32 n_in, u32 n_out,
			      u16 in_ch, u16 out_ch, u16 kernel)
{
	struct rmt_rec_weights_layer l;

	memset(&l, 0, sizeof(l));
	l.kind = kind;
	l.act = act;
	l.shift = shift;
	l.n_in = n_in;
	l.n_out = n_out;
	l.in_ch = in_ch;
	l.out_ch = out_ch;
	l.kernel = kernel;
	blob_put(b, &l, sizeof(l));
}

/* Weights of @bits each, then zero padding to 4 bytes. */
static inline void blob_weights(struct blob *b, u32 bits, const s32 *w, u32 n)
{
	u32 i;

	for (i = 0; i < n; i++) {
		s8 c = (s8)w[i];
		s16 h = (s16)w[i];

		if (bits == 8)
			blob_put(b, &c, 1);
		else if (bits == 16)
			blob_put(b, &h, 2);
		else
			blob_put(b, &w[i], 4);
	}
	while (b->n % 4)
		b->buf[b->n++] = 0;
}

static inline void blob_s32s(struct blob *b, const s32 *v, u32 n)
{
	blob_put(b, v, 4 * (size_t)n);
}

static inline void blob_tree(struct blob *b, u32 nnodes, u32 nleaves)
{
	struct rmt_rec_weights_tree t = { .nnodes = nnodes, .nleaves = nleaves };

	blob_put(b, &t, sizeof(t));
}

static inline void blob_node(struct blob *b, s32 feature, s32 threshold, u32 left, u32 right,
			     u32 leaf)
{
	struct rmt_rec_weights_node n = { .feature = feature, .threshold = threshold,
					  .left = left, .right = right, .leaf = leaf };

	blob_put(b, &n, sizeof(n));
}

static inline struct rmt_layer_sig layer_sig(u8 kind, u8 act, u32 n_in, u32 n_out, u16 in_ch,
					     u16 out_ch, u16 kernel)
{
	struct rmt_layer_sig l = { .kind = kind, .act = act, .n_in = n_in, .n_out = n_out,
				   .in_ch = in_ch, .out_ch = out_ch, .kernel = kernel };
	return l;
}

#endif
