/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_model_impl.h: what the files of the model engine share (not an API).
 *
 * rmt_model.c loads a blob (signature check, header, then the layers or
 * trees), swaps it in and dispatches inference; rmt_model_mlp.c does MLP and
 * linear models (dense and conv1d layers), rmt_model_tree.c trees and
 * forests.  rmt_model.c's comment describes the layouts.
 */
#ifndef _RMT_MODEL_IMPL_H
#define _RMT_MODEL_IMPL_H

#include "rmt_model.h"
#include "rmt_alloc.h"

/*
 * x86-64 gets an AVX2 MLP kernel (rmt_model_avx2.c), chosen at run time: in
 * userspace when the CPU has AVX2, in the kernel also only inside a kernel
 * FPU section (rmt_mlp_simd()) and as the rmt.model_isa parameter says.
 */
#ifdef __x86_64__
#define RMT_MODEL_SIMD 1
#endif

#ifndef S16_MAX
#define S16_MAX 32767
#define S16_MIN (-32768)
#endif

/* A message into the caller's buffer (the callers return the errno themselves). */
#define rmt_seterr(err, errlen, ...) \
	do { \
		if ((err) && (errlen)) \
			snprintf((err), (errlen), __VA_ARGS__); \
	} while (0)

struct rmt_wlayer {
	u8 kind;
	u8 relu;
	u8 shift;
	u8 exact32;		/* inputs in [act_lo, act_hi]: no sum leaves int32 */
	u32 n_in, n_out, in_ch, out_ch, kernel, steps;
	const s32 *w;		/* 32-bit dense [n_out][n_in]; conv1d [out_ch][in_ch][kernel] */
	const s16 *w16;		/* 8/16-bit dense [n_out][n_in] (then @w is NULL) */
	const s32 *b;
#ifdef RMT_MODEL_SIMD
	const u8 *wp;		/* AVX2 layout in rmt_weights.pack, see rmt_mlp_pack() */
#endif
};

/* A tree node; a leaf has next[0] == next[1] == itself and feature 0. */
struct rmt_tnode {
	s32 feature;
	s32 threshold;
	u32 next[2];
};

/* A position of the implicit layout: x[feature] > threshold goes right. */
struct rmt_inode {
	s32 feature;
	s32 threshold;
};

/* What the implicit walk reads comes first: next to the header for trees[0]. */
struct rmt_wtree {
	u32 steps;		/* the deepest reachable node's depth */
	/* implicit layout (NULL when the tree keeps its node array) */
	u32 ninner;			/* 2^steps - 1 */
	const struct rmt_inode *inodes;	/* [ninner] */
	const s32 *ileaves;		/* [2^steps][n_out] */
	/* node array of the blob (NULL once the tree has an implicit layout) */
	const struct rmt_tnode *nodes;
	const u32 *leaf_off;	/* per node: its leaf's first value in @leaves */
	const s32 *leaves;	/* [nleaves][n_out] */
	u32 nnodes, nleaves;
};

#ifndef DECLARE_FLEX_ARRAY
/* As the kernel's <linux/stddef.h>: a flexible array member inside a union. */
#define DECLARE_FLEX_ARRAY(TYPE, NAME) \
	struct { \
		struct { } __empty_ ## NAME; \
		TYPE NAME[]; \
	}
#endif

struct rmt_weights {
	struct rcu_head rcu;
	u8 kind;
	u8 wide;		/* 32-bit weights: accumulate in s128 */
	u8 shift;		/* forest */
	u8 single_tree;		/* one tree, no shift, implicit layout: 1 + (n_out > 1) */
	u32 n_in, n_out, nlayers, ntrees;
	s32 act_lo, act_hi;	/* hidden outputs are clamped to the declared input range */
	u32 scratch_len;	/* s32 values of scratch an inference needs */
	u8 fast;		/* every layer dense, s16 weights, exact32 */
	u8 big;			/* at least RMT_FAST_MIN_MACS multiply-adds */
	u8 act16;		/* [act_lo, act_hi] fits in s16 */
#ifdef __KERNEL__
	s32 __percpu *scratch;
#endif
#ifdef RMT_MODEL_SIMD
	u8 *pack;		/* the layers' wp arrays; NULL: no AVX2 path */
#endif
	/* [ntrees] or [nlayers], sized for the model; then the arena */
	union {
		DECLARE_FLEX_ARRAY(struct rmt_wtree, trees);	/* first: near the fields above */
		DECLARE_FLEX_ARRAY(struct rmt_wlayer, layers);
	};
};

struct rmt_cursor {
	const u8 *buf;
	size_t len, pos;
	char *err;
	size_t errlen;
	/* where the parsed arrays go: the tail of the weights object */
	u8 *arena;
	size_t arena_len, arena_used;
};

#define rmt_werr(c, where, ...) \
	do { \
		if ((c)->err && (c)->errlen) { \
			int __n = snprintf((c)->err, (c)->errlen, "weights %s: ", (where)); \
			if (__n >= 0 && (size_t)__n < (c)->errlen) \
				snprintf((c)->err + __n, (c)->errlen - __n, __VA_ARGS__); \
		} \
	} while (0)

#define rmt_align4(n) (((n) + 3) & ~(size_t)3)
#define rmt_align8(n) (((n) + 7) & ~(size_t)7)

/* Saturate to int32 (counting), shift arithmetically, apply ReLU: branch-free. */
static __always_inline s32 rmt_finish(s64 acc, u32 shift, u32 relu, u64 *ov)
{
	s64 c = acc;
	s32 y;

	*ov += (acc > S32_MAX) | (acc < S32_MIN);
	c = c > S32_MAX ? S32_MAX : c;
	c = c < S32_MIN ? S32_MIN : c;
	y = (s32)c >> shift;
	/* relu: y & ~(y >> 31) is max(0, y) */
	return relu ? y & ~(y >> 31) : y;
}

#ifdef __SIZEOF_INT128__
static __always_inline s64 rmt_clamp128(__int128 acc)
{
	/* only the int32 range matters: clamp to a value outside it */
	if (acc > S64_MAX)
		return S64_MAX;
	if (acc < S64_MIN)
		return S64_MIN;
	return (s64)acc;
}
#else
#error "the model engine needs __int128 for exact 32-bit weight accumulation"
#endif

_Static_assert(RMT_MAX_TREE_DEPTH == 16, "rmt_implicit_walk() unrolls 16 levels");

/* One level of an implicit layout: 2i+1 when x[feature] <= threshold, else 2i+2. */
static __always_inline u32 rmt_level(const struct rmt_inode *in, const s32 *x, u32 idx)
{
	return 2 * idx + 1 + (x[in[idx].feature] > in[idx].threshold);
}

/* The leaf slot of @x in an implicit layout: exactly @t->steps levels. */
static __always_inline u32 rmt_implicit_walk(const struct rmt_wtree *t, const s32 *x)
{
	const struct rmt_inode *in = t->inodes;
	u32 idx = 0;

	/*
	 * Unrolled and entered by a jump on the depth: no loop counter and no
	 * data-dependent branch, the same instructions per level as a
	 * fixed-depth loop compiled for one tree.
	 */
	switch (t->steps) {
	case 16:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 15:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 14:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 13:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 12:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 11:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 10:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 9:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 8:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 7:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 6:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 5:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 4:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 3:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 2:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 1:
		idx = rmt_level(in, x, idx);
		fallthrough;
	case 0:
		break;
	default:
		/* the loader keeps steps <= RMT_MAX_TREE_DEPTH (16): no range check */
		__builtin_unreachable();
	}
	return idx - t->ninner;
}

/* rmt_model.c: reading the blob (each stops at the first bad field, message in @c) */
const u8 *rmt_take(struct rmt_cursor *c, size_t n, const char *where, const char *what);
bool rmt_differs(struct rmt_cursor *c, const char *where, const char *name, u32 got,
		 u32 want, const char *who);
void *rmt_arena(struct rmt_cursor *c, size_t bytes);
s32 rmt_get_weight(const u8 *p, u32 i, u32 bits);
int rmt_read_s32s(struct rmt_cursor *c, s32 *dst, size_t n, const char *where,
		  const char *what);
size_t rmt_weights_head(u32 ntrees, u32 nlayers);
struct rmt_weights *rmt_weights_alloc(size_t head, size_t arena);

/* rmt_model_mlp.c: MLP and linear models (dense and conv1d layers) */
int rmt_read_layer(struct rmt_cursor *c, struct rmt_weights *w,
		   const struct rmt_model_sig *sig, u32 j);
size_t rmt_mlp_arena_bytes(const struct rmt_model_sig *sig);
int rmt_mlp_prepare(struct rmt_weights *w);
u64 rmt_run_mlp(const struct rmt_weights *w, const s32 *in, s32 *out, s32 *scratch);
#ifdef RMT_MODEL_SIMD
/* s16 activations of the AVX2 path: up to RMT_MAX_MODEL_IO, and a pair past the end */
#define RMT_X16_LEN (RMT_MAX_MODEL_IO + 16)
/* rmt_model_avx2.c: vector code; in the kernel only inside a kernel FPU section */
bool rmt_mlp_avx2(const struct rmt_weights *w, const s32 *in, s32 *out, s16 *buf);
#ifdef __KERNEL__
bool rmt_mlp_simd(const struct rmt_weights *w, const s32 *in, s32 *out);
#else
extern __thread s16 rmt_x16[2][RMT_X16_LEN];

/*
 * rmt_mlp_avx2() on this thread's buffers.  Their address is taken here,
 * once: in the shared library each use of the TLS array is a
 * __tls_get_addr() call.
 */
static __always_inline bool rmt_mlp_simd(const struct rmt_weights *w, const s32 *in, s32 *out)
{
	return rmt_mlp_avx2(w, in, out, rmt_x16[0]);
}
#endif
extern bool rmt_model_isa_forced;
int rmt_model_isa(void);

/* The engine for @w: small models keep the exact path unless a test forced one. */
static __always_inline int rmt_model_isa_for(const struct rmt_weights *w)
{
	return w->big || READ_ONCE(rmt_model_isa_forced) ? rmt_model_isa() :
							   RMT_MODEL_ISA_EXACT64;
}
#else
static __always_inline int rmt_model_isa_for(const struct rmt_weights *w)
{
	return w->big ? RMT_MODEL_ISA_INT32 : RMT_MODEL_ISA_EXACT64;
}
#endif

/* rmt_model_tree.c: trees and forests */
int rmt_read_tree(struct rmt_cursor *c, struct rmt_weights *w,
		  const struct rmt_model_sig *sig, u32 j);
int rmt_tree_compact(struct rmt_weights **wp, size_t head);
u64 rmt_run_forest(const struct rmt_weights *w, const s32 *in, s32 *out, s64 *sum);

#endif /* _RMT_MODEL_IMPL_H */
