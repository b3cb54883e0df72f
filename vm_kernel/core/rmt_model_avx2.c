// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_model_avx2.c: the AVX2 MLP kernel, and nothing else.
 *
 * The one file of the VM that uses vector registers, so that it alone can be
 * built with them: in rmt.ko this object is compiled with the vector flags
 * the kernel otherwise forbids (Kbuild), and its only entry point,
 * rmt_mlp_avx2(), is called only between kernel_fpu_begin_mask() and
 * kernel_fpu_end() (rmt_mlp_simd() in rmt_model_mlp.c).  Everything it calls
 * is inlined here, so no vector code runs outside that section.  In userspace
 * the same source is compiled with the rest of the library; the functions'
 * target("avx2") attribute enables AVX2 for them alone, and they are called
 * only when the CPU has it (rmt_model_isa_best()).
 */
#include "rmt_model_impl.h"

#ifdef RMT_MODEL_SIMD
#ifdef __KERNEL__
/*
 * gcc's <xmmintrin.h> includes <mm_malloc.h> for _mm_malloc(), which needs
 * libc's <stdlib.h>; nothing here allocates, so its include guard is set
 * and it is skipped.
 */
#define _MM_MALLOC_H_INCLUDED
#endif
#include <immintrin.h>

/*
 * Store the first @n (1..8) lanes of @v at @out.  Not vpmaskmovd: its stores
 * are slow on AMD (measured: +5 ns); and no aligned stack copy to read back
 * from, which made gcc realign the stack (the kernel's is 8-byte aligned).
 */
__attribute__((target("avx2")))
static __always_inline void rmt_avx2_store_first(s32 *out, __m256i v, u32 n)
{
	__m128i q = _mm256_castsi256_si128(v);

	if (n >= 4) {
		_mm_storeu_si128((__m128i *)out, q);
		q = _mm256_extracti128_si256(v, 1);
		out += 4;
		n -= 4;
		if (n == 4) {
			_mm_storeu_si128((__m128i *)out, q);
			return;
		}
	}
	if (n >= 2) {
		_mm_storel_epi64((__m128i *)out, q);
		q = _mm_srli_si128(q, 8);
		out += 2;
		n -= 2;
	}
	if (n)
		*out = _mm_cvtsi128_si32(q);
}

/*
 * Shift, ReLU; then a hidden block is clamped and stored as s16 at @y, the
 * output block's outputs that exist are stored as s32 at @out.
 */
__attribute__((target("avx2")))
static __always_inline void rmt_avx2_finish(__m256i acc, const struct rmt_wlayer *l, bool hidden,
					    __m256i vlo, __m256i vhi, u32 blk, s16 *y, s32 *out)
{
	acc = _mm256_sra_epi32(acc, _mm_cvtsi32_si128(l->shift));
	if (l->relu)
		acc = _mm256_max_epi32(acc, _mm256_setzero_si256());
	if (hidden) {
		acc = _mm256_min_epi32(_mm256_max_epi32(acc, vlo), vhi);
		acc = _mm256_permute4x64_epi64(_mm256_packs_epi32(acc, acc), 0x08);
		_mm_storeu_si128((__m128i *)(y + blk * 8), _mm256_castsi256_si128(acc));
	} else {
		rmt_avx2_store_first(out + blk * 8, acc, min_t(u32, 8, l->n_out - blk * 8));
	}
}

/* The pair (x[2p], x[2p+1]) broadcast to every 32-bit lane. */
__attribute__((target("avx2")))
static __always_inline __m256i rmt_avx2_pair(const s16 *x, u32 p)
{
	s32 pair;

	memcpy(&pair, x + 2 * p, 4);
	return _mm256_set1_epi32(pair);
}

/*
 * One dense layer on the s16 activations @x: a hidden layer writes s16 at @y
 * (and y[n_out] = 0, the odd count's pair partner), the last one s32 at @out.
 * Inlined once for each, so neither tests @hidden at run time.
 */
__attribute__((target("avx2")))
static __always_inline void rmt_avx2_layer(const struct rmt_wlayer *l, bool hidden,
					   __m256i vlo, __m256i vhi, const s16 *x, s16 *y,
					   s32 *out)
{
	const u32 nblk = (l->n_out + 7) / 8, npair = (l->n_in + 1) / 2;
	const __m256i *pk = (const __m256i *)l->wp;
	u32 blk, p;

	/* two blocks at a time: each pair is broadcast once for both */
	for (blk = 0; blk + 2 <= nblk; blk += 2) {
		__m256i a0 = _mm256_loadu_si256(pk), a1 = _mm256_loadu_si256(pk + 1);

		pk += 2;
		/* unrolled: the loop's own bookkeeping was a fifth of the kernel's instructions */
#pragma GCC unroll 4
		for (p = 0; p < npair; p++, pk += 2) {
			__m256i v = rmt_avx2_pair(x, p);

			a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(pk), v));
			a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256(pk + 1), v));
		}
		rmt_avx2_finish(a0, l, hidden, vlo, vhi, blk, y, out);
		rmt_avx2_finish(a1, l, hidden, vlo, vhi, blk + 1, y, out);
	}
	if (blk < nblk) {
		__m256i a0 = _mm256_loadu_si256(pk++);

#pragma GCC unroll 4
		for (p = 0; p < npair; p++, pk++)
			a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(pk),
								     rmt_avx2_pair(x, p)));
		rmt_avx2_finish(a0, l, hidden, vlo, vhi, blk, y, out);
	}
	if (hidden)
		y[l->n_out] = 0;
}

/**
 * rmt_mlp_avx2() - the int32 MLP path with AVX2, on the layout of rmt_pack_layer()
 * @w: an MLP with @w->fast, @w->act16 and a pack
 * @in: its @w->n_in inputs
 * @out: receives its @w->n_out outputs
 * @buf: two s16 activation buffers of RMT_X16_LEN, one after the other,
 *	owned by the caller for the call (per thread in userspace, per CPU in
 *	the kernel)
 *
 * Activations are s16 (the declared range fits: @w->act16); vpmaddwd's pair
 * sums wrap modulo 2^32 like the int32 adds, and the exact sums fit in int32,
 * so the result is the exact one.  In the kernel: only inside a kernel FPU
 * section.
 *
 * Return: true; false, having written nothing to @out, when an input is
 * outside the declared range.
 */
__attribute__((target("avx2")))
bool rmt_mlp_avx2(const struct rmt_weights *w, const s32 *in, s32 *out, s16 *buf)
{
	const __m256i vlo = _mm256_set1_epi32(w->act_lo), vhi = _mm256_set1_epi32(w->act_hi);
	__m256i bad = _mm256_setzero_si256();
	const u32 n = w->n_in, last = w->nlayers - 1;
	s16 *x = buf;
	u32 i, j;

	/*
	 * Check and narrow the inputs, 8 at a time, then one by one (not a
	 * vpmaskmovd load: slow on AMD, measured).  x[n] = 0 for an odd @n's
	 * last pair.
	 */
	for (i = 0; i + 8 <= n; i += 8) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(in + i));

		bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi32(vlo, v),
							   _mm256_cmpgt_epi32(v, vhi)));
		v = _mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0x08);
		_mm_storeu_si128((__m128i *)(x + i), _mm256_castsi256_si128(v));
	}
	for (; i < n; i++) {
		if (in[i] < w->act_lo || in[i] > w->act_hi)
			return false;
		x[i] = (s16)in[i];
	}
	x[n] = 0;
	if (!_mm256_testz_si256(bad, bad))
		return false;
	/* the hidden layers alternate between the two buffers, the last writes @out */
	for (j = 0; j < last; j++) {
		s16 *y = buf + ((j + 1) & 1) * RMT_X16_LEN;

		rmt_avx2_layer(&w->layers[j], true, vlo, vhi, x, y, NULL);
		x = y;
	}
	rmt_avx2_layer(&w->layers[last], false, vlo, vhi, x, NULL, out);
	return true;
}
#endif /* RMT_MODEL_SIMD */
