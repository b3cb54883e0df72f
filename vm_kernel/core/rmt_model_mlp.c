// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_model_mlp.c: MLP and linear models: dense and conv1d layers, their load
 * (parse, int32 proof, AVX2 layout) and their inference engines.
 */
#include "rmt_model_impl.h"
#if defined(__KERNEL__) && defined(RMT_MODEL_SIMD)
#include <linux/hardirq.h>
#include <linux/percpu.h>
#include <asm/cpufeature.h>
#include <asm/fpu/api.h>
#include <asm/fpu/xstate.h>
#endif

int rmt_read_layer(struct rmt_cursor *c, struct rmt_weights *w,
			  const struct rmt_model_sig *sig, u32 j)
{
	const struct rmt_layer_sig *ls = &sig->layers[j];
	struct rmt_wlayer *l = &w->layers[j];
	struct rmt_rec_weights_layer r;
	u32 bits = sig->weight_bits, i, n, nb;
	const u8 *p, *wp;
	s32 *wt, *bias;
	s16 *w16;
	bool narrow;
	char where[32];

	snprintf(where, sizeof(where), "layer %u", j);
	p = rmt_take(c, sizeof(r), where, "weights_layer record");
	if (!p)
		return -EINVAL;
	memcpy(&r, p, sizeof(r));
	if (r.pad || r.pad2) {
		rmt_werr(c, where, "padding bytes are not zero");
		return -EINVAL;
	}
	if (rmt_differs(c, where, "kind", r.kind, ls->kind, "the signature") ||
	    rmt_differs(c, where, "act", r.act, ls->act, "the signature") ||
	    rmt_differs(c, where, "n_in", r.n_in, ls->n_in, "the signature") ||
	    rmt_differs(c, where, "n_out", r.n_out, ls->n_out, "the signature") ||
	    rmt_differs(c, where, "in_ch", r.in_ch, ls->in_ch, "the signature") ||
	    rmt_differs(c, where, "out_ch", r.out_ch, ls->out_ch, "the signature") ||
	    rmt_differs(c, where, "kernel", r.kernel, ls->kernel, "the signature"))
		return -EINVAL;
	if (r.shift > RMT_MAX_LAYER_SHIFT) {
		rmt_werr(c, where, "shift %u is over %u", r.shift, RMT_MAX_LAYER_SHIFT);
		return -EINVAL;
	}
	l->kind = ls->kind;
	l->relu = ls->act == RMT_ACT_RELU;
	l->shift = r.shift;
	l->n_in = ls->n_in;
	l->n_out = ls->n_out;
	if (ls->kind == RMT_LAYER_CONV1D) {
		l->in_ch = ls->in_ch;
		l->out_ch = ls->out_ch;
		l->kernel = ls->kernel;
		l->steps = ls->n_in / ls->in_ch - ls->kernel + 1;
		n = ls->out_ch * ls->in_ch * ls->kernel;
		nb = ls->out_ch;
	} else {
		n = ls->n_out * ls->n_in;	/* <= 2^20: the signature was checked */
		nb = ls->n_out;
	}
	p = rmt_take(c, (size_t)n * bits / 8, where, "weights");
	if (!p)
		return -EINVAL;
	wp = p;
	narrow = ls->kind == RMT_LAYER_DENSE && bits <= 16;
	wt = narrow ? NULL : rmt_arena(c, (size_t)n * 4);
	w16 = narrow ? rmt_arena(c, (size_t)n * 2) : NULL;
	if (!wt && !w16)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		if (narrow)
			w16[i] = (s16)rmt_get_weight(p, i, bits);
		else
			wt[i] = rmt_get_weight(p, i, bits);
	}
	i = (u32)(-((size_t)n * bits / 8) & 3);
	p = rmt_take(c, i, where, "weight padding");
	if (!p)
		return -EINVAL;
	while (i--) {
		if (p[i]) {
			rmt_werr(c, where, "weight padding bytes are not zero");
			return -EINVAL;
		}
	}
	if (sig->max_abs_weight) {
		for (i = 0; i < n; i++) {
			s64 v = rmt_get_weight(wp, i, bits);

			if ((v < 0 ? -v : v) > sig->max_abs_weight) {
				rmt_werr(c, where, "weight %u is %d, over the declared bound |w| <= %d",
					 i, (s32)v, sig->max_abs_weight);
				return -EINVAL;
			}
		}
	}
	/* the bytes first, then the arena: a short blob never exhausts it */
	p = rmt_take(c, (size_t)nb * 4, where, "biases");
	if (!p)
		return -EINVAL;
	bias = rmt_arena(c, (size_t)nb * 4);
	if (!bias)
		return -E2BIG;
	memcpy(bias, p, (size_t)nb * 4);
	/*
	 * Biases are accumulator-scaled; the verifier's overflow proof assumes
	 * |b| <= 2^(weight_bits + 8) (no bound for 32-bit weights).
	 */
	if (sig->weight_bits < 32) {
		s64 bmax = 1LL << (sig->weight_bits + 8);

		for (i = 0; i < nb; i++) {
			s64 v = bias[i];

			if ((v < 0 ? -v : v) > bmax) {
				rmt_werr(c, where, "bias %u is %d, over the bound |b| <= %lld",
					 i, bias[i], (long long)bmax);
				return -EINVAL;
			}
		}
	}
	l->w = wt;
	l->w16 = w16;
	l->b = bias;
	return 0;
}

/* "tree J node I": formatted only for an error, not for each of up to 2^17 nodes. */

/* The arena an MLP or linear model of @sig (checked) takes: s32 weights and biases. */
size_t rmt_mlp_arena_bytes(const struct rmt_model_sig *sig)
{
	size_t total = 0;
	u32 j;

	for (j = 0; j < sig->nlayers; j++) {
		const struct rmt_layer_sig *l = &sig->layers[j];
		bool conv = l->kind == RMT_LAYER_CONV1D;
		size_t n = conv ? (size_t)l->out_ch * l->in_ch * l->kernel :
				  (size_t)l->n_out * l->n_in;

		size_t wbytes = !conv && sig->weight_bits <= 16 ? 2 : 4;

		total += rmt_align4(n * wbytes) +
			 rmt_align4((size_t)(conv ? l->out_ch : l->n_out) * 4);
	}
	return total;
}

/*
 * Below this many multiply-adds per inference the exact s64 loop is as fast
 * as the int32 and AVX2 paths or faster (measured: a 4 -> 1 linear model,
 * 12.8 ns exact, 14.2 int32, 16.3 AVX2), so the default uses them only on
 * models at least this big.
 */
#define RMT_FAST_MIN_MACS 64

/*
 * Inference engines, best last.  Userspace tests and benchmarks pick one with
 * rmt_model_set_isa(), the kernel with the rmt.model_isa parameter
 * (kmod/rmt_kmod.c, rmt_model_pick_isa()).
 */
#ifdef RMT_MODEL_SIMD
static int rmt_model_isa_sel = -1;	/* -1: not yet chosen */
bool rmt_model_isa_forced;	/* on every model, small ones too (tests) */

#ifdef __KERNEL__
/*
 * What "auto" means in rmt.ko: the scalar int32 path.  At the hooks' call
 * sites under QEMU/TCG (bench/bench_kmod_simd.py, docs/benchmarks.md "Issue
 * 20 in the kernel") neither engine was measurably faster, and the scalar
 * path needs no FPU section.  AVX2 stays available as rmt.model_isa=avx2.
 */
#define RMT_MODEL_ISA_KERNEL_AUTO RMT_MODEL_ISA_INT32

/*
 * AVX2 in the kernel: the CPU has it and the kernel enabled the YMM state
 * (XCR0, via OSXSAVE), as the kernel's own AVX2 users check.
 */
static int rmt_model_isa_best(void)
{
	return boot_cpu_has(X86_FEATURE_AVX) && boot_cpu_has(X86_FEATURE_AVX2) &&
	       boot_cpu_has(X86_FEATURE_OSXSAVE) &&
	       cpu_has_xfeatures(XFEATURE_MASK_SSE | XFEATURE_MASK_YMM, NULL) ?
	       RMT_MODEL_ISA_AVX2 : RMT_MODEL_ISA_INT32;
}

static int rmt_model_isa_auto(void)
{
	return min_t(int, rmt_model_isa_best(), RMT_MODEL_ISA_KERNEL_AUTO);
}
#else
static int rmt_model_isa_best(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") ? RMT_MODEL_ISA_AVX2 : RMT_MODEL_ISA_INT32;
}

static int rmt_model_isa_auto(void)
{
	return rmt_model_isa_best();
}
#endif

int rmt_model_isa(void)
{
	int isa = READ_ONCE(rmt_model_isa_sel);

	if (unlikely(isa < 0)) {
		/* only if still unset: a choice made meanwhile (rmt.model_isa) wins */
		int a = rmt_model_isa_auto();

		isa = cmpxchg(&rmt_model_isa_sel, -1, a);
		if (isa < 0)
			isa = a;
	}
	return isa;
}

/**
 * rmt_model_pick_isa() - choose the engine of MLPs proved exact in int32
 * @isa: an enum rmt_model_isa, or -1 for the default ("auto")
 * @every_model: use @isa on small models (under 64 multiply-adds) too, which
 *	otherwise keep the exact path
 *
 * Models loaded before keep working: each has the AVX2 layout whenever the
 * CPU has AVX2, whatever the choice at its load.
 *
 * Return: 0, or -EOPNOTSUPP when the CPU (or, in the kernel, the FPU state
 * the kernel enabled) lacks @isa.
 */
int rmt_model_pick_isa(int isa, bool every_model)
{
	if (isa > rmt_model_isa_best())
		return -EOPNOTSUPP;
	WRITE_ONCE(rmt_model_isa_forced, every_model && isa >= 0);
	WRITE_ONCE(rmt_model_isa_sel, isa < 0 ? rmt_model_isa_auto() : isa);
	return 0;
}

/**
 * rmt_model_isa_info() - the engine chosen, what "auto" means, the best usable
 * @sel: receives the engine in use for models of 64 multiply-adds or more
 * @autoisa: receives the engine "auto" stands for here
 * @best: receives the best engine this CPU can run
 */
void rmt_model_isa_info(int *sel, int *autoisa, int *best)
{
	*sel = rmt_model_isa();
	*autoisa = rmt_model_isa_auto();
	*best = rmt_model_isa_best();
}

#ifndef __KERNEL__
int rmt_model_set_isa(int isa)
{
	return rmt_model_pick_isa(isa, isa >= 0);
}
#endif
#else /* !RMT_MODEL_SIMD */
int rmt_model_pick_isa(int isa, bool every_model)
{
	return isa > RMT_MODEL_ISA_INT32 ? -EOPNOTSUPP : 0;
}

void rmt_model_isa_info(int *sel, int *autoisa, int *best)
{
	*sel = RMT_MODEL_ISA_INT32;
	*autoisa = RMT_MODEL_ISA_INT32;
	*best = RMT_MODEL_ISA_INT32;
}

#ifdef __KERNEL__
void rmt_model_simd_stats(u64 *runs, u64 *nofpu)
{
	*runs = 0;
	*nofpu = 0;
}
#endif
#endif

/*
 * Is every accumulator of layer @l provably an int32 when its inputs lie in
 * [-@x, @x]?  |b| + x * sum |w| over each row bounds every partial sum, in
 * any order (sum |w| <= 2^10 * 2^15 and x <= 2^31: no s64 overflow), so an
 * int32 sum is exact and never saturates: the same result as the s64 path.
 */
static bool rmt_layer_exact32(const struct rmt_wlayer *l, s64 x)
{
	const s16 *w = l->w16;
	u32 i, o;

	for (o = 0; o < l->n_out; o++, w += l->n_in) {
		s64 sum = 0, b = l->b[o];

		for (i = 0; i < l->n_in; i++)
			sum += w[i] < 0 ? -(s64)w[i] : w[i];
		if ((b < 0 ? -b : b) + x * sum > S32_MAX)
			return false;
	}
	return true;
}

#ifdef RMT_MODEL_SIMD
/* Bytes of a layer's AVX2 layout: per block of 8 outputs, 8 biases and one 32-byte row per input pair. */
static size_t rmt_pack_bytes(const struct rmt_wlayer *l)
{
	return (size_t)((l->n_out + 7) / 8) * (1 + (l->n_in + 1) / 2) * 32;
}

/*
 * The AVX2 layout of a dense layer.  Outputs go in blocks of 8 and blocks in
 * groups of two (the last group may hold one).  A group of nb blocks holds
 * its nb x 8 s32 biases, then for each input pair p, nb rows of the 8
 * outputs' weights for inputs 2p and 2p+1 interleaved (s16 [8][2]); zero
 * where there is no such output or input.  One vpmaddwd of a row with the
 * broadcast pair (x[2p], x[2p+1]) gives 8 outputs' partial sums for the pair.
 */
static void rmt_pack_layer(const struct rmt_wlayer *l, u8 *dst)
{
	u32 nblk = (l->n_out + 7) / 8, npair = (l->n_in + 1) / 2, g, nb, blk, p, o, k, out;
	s32 *bias;
	s16 *row;

	memset(dst, 0, rmt_pack_bytes(l));
	for (g = 0; g < nblk; g += 2) {
		nb = min_t(u32, 2, nblk - g);
		for (blk = g; blk < g + nb; blk++, dst += 32) {
			bias = (s32 *)dst;
			for (o = 0; o < 8 && blk * 8 + o < l->n_out; o++)
				bias[o] = l->b[blk * 8 + o];
		}
		for (p = 0; p < npair; p++) {
			for (blk = g; blk < g + nb; blk++, dst += 32) {
				row = (s16 *)dst;
				for (o = 0; o < 8 && blk * 8 + o < l->n_out; o++) {
					out = blk * 8 + o;
					for (k = 0; k < 2 && 2 * p + k < l->n_in; k++)
						row[2 * o + k] =
							l->w16[(size_t)out * l->n_in + 2 * p + k];
				}
			}
		}
	}
}
#endif

/*
 * After an MLP's parse: can inference accumulate in int32 (@w->fast), and
 * with AVX2 (the pack)?  Hidden layers see clamped inputs, so their bound
 * holds always; the first layer's holds when its inputs are in the declared
 * range, which inference checks before it takes the fast path.
 */
int rmt_mlp_prepare(struct rmt_weights *w)
{
	s64 x = max_t(s64, -(s64)w->act_lo, w->act_hi);
	u64 macs = 0;
	u32 j;

	x = max_t(s64, x, -x);
	w->act16 = w->act_lo >= S16_MIN && w->act_hi <= S16_MAX;
	w->fast = 1;
	for (j = 0; j < w->nlayers; j++) {
		struct rmt_wlayer *l = &w->layers[j];

		macs += (u64)l->n_in * l->n_out;

		l->exact32 = l->w16 && rmt_layer_exact32(l, x);
		w->fast &= l->exact32;
	}
	w->big = macs >= RMT_FAST_MIN_MACS;
#ifdef RMT_MODEL_SIMD
	if (w->fast && w->act16 && rmt_model_isa_best() >= RMT_MODEL_ISA_AVX2) {
		size_t total = 0;
		u8 *p;

		for (j = 0; j < w->nlayers; j++)
			total += rmt_pack_bytes(&w->layers[j]);
		w->pack = rmt_kvmalloc(total, GFP_KERNEL);
		if (!w->pack)
			return -ENOMEM;
		p = w->pack;
		for (j = 0; j < w->nlayers; j++) {
			rmt_pack_layer(&w->layers[j], p);
			w->layers[j].wp = p;
			p += rmt_pack_bytes(&w->layers[j]);
		}
	}
#endif
	return 0;
}

/* ------------------------------------------------------------------ inference */

static u64 rmt_dense(const struct rmt_wlayer *l, bool wide, const s32 *x, s32 *y)
{
	const u32 n_in = l->n_in, n_out = l->n_out, shift = l->shift, relu = l->relu;
	const s32 *w = l->w;
	u64 ov = 0;
	u32 i, j;

	if (unlikely(wide)) {
		for (j = 0; j < n_out; j++, w += n_in) {
			__int128 acc = l->b[j];

			for (i = 0; i < n_in; i++)
				acc += (s64)w[i] * x[i];
			y[j] = rmt_finish(rmt_clamp128(acc), shift, relu, &ov);
		}
		return ov;
	}
	if (l->w16) {
		const s16 *w16 = l->w16;

		for (j = 0; j < n_out; j++, w16 += n_in) {
			s64 acc = l->b[j];

			for (i = 0; i < n_in; i++)
				acc += (s64)w16[i] * x[i];
			y[j] = rmt_finish(acc, shift, relu, &ov);
		}
		return ov;
	}
	for (j = 0; j < n_out; j++, w += n_in) {
		s64 acc = l->b[j];

		for (i = 0; i < n_in; i++)
			acc += (s64)w[i] * x[i];
		y[j] = rmt_finish(acc, shift, relu, &ov);
	}
	return ov;
}

static u64 rmt_conv1d(const struct rmt_wlayer *l, bool wide, const s32 *x, s32 *y)
{
	const u32 cin = l->in_ch, k = l->kernel, cout = l->out_ch;
	u64 ov = 0;
	u32 s, o, kk, ch;

	for (s = 0; s < l->steps; s++) {
		const s32 *xs = x + (size_t)s * cin;

		for (o = 0; o < cout; o++) {
			const s32 *wo = l->w + (size_t)o * cin * k;
			__int128 wacc = l->b[o];
			s64 acc = l->b[o];

			for (kk = 0; kk < k; kk++) {
				for (ch = 0; ch < cin; ch++) {
					s64 p = (s64)wo[ch * k + kk] * xs[kk * cin + ch];

					if (wide)
						wacc += p;
					else
						acc += p;
				}
			}
			if (wide)
				acc = rmt_clamp128(wacc);
			y[(size_t)s * cout + o] = rmt_finish(acc, l->shift, l->relu, &ov);
		}
	}
	return ov;
}

/* Are the first layer's inputs in the range its exact32 bound assumed? */
static __always_inline bool rmt_in_range(const struct rmt_weights *w, const s32 *in)
{
	s32 lo = w->act_lo, hi = w->act_hi, bad = 0;
	u32 i;

	for (i = 0; i < w->n_in; i++)
		bad |= (in[i] < lo) | (in[i] > hi);
	return !bad;
}

/*
 * An MLP whose sums all fit in int32 (@w->fast, inputs in range): plain s32
 * multiply-adds (s16 weights), no saturation, the same results as
 * rmt_dense() since nothing saturates there either.
 */
static void rmt_mlp_int32(const struct rmt_weights *w, const s32 *in, s32 *out, s32 *scratch)
{
	const s32 *x = in;
	u32 i, j, o;

	for (j = 0; j < w->nlayers; j++) {
		const struct rmt_wlayer *l = &w->layers[j];
		const bool hidden = j + 1 < w->nlayers;
		s32 *y = hidden ? scratch + (j & 1) * (w->scratch_len / 2) : out;
		const s16 *wr = l->w16;

		for (o = 0; o < l->n_out; o++, wr += l->n_in) {
			s32 acc = l->b[o];

			for (i = 0; i < l->n_in; i++)
				acc += wr[i] * x[i];
			acc >>= l->shift;
			if (l->relu)
				acc = acc & ~(acc >> 31);
			if (hidden)
				acc = clamp_t(s32, acc, w->act_lo, w->act_hi);
			y[o] = acc;
		}
		x = y;
	}
}

#ifdef RMT_MODEL_SIMD
#ifdef __KERNEL__
/* The AVX2 path's activations: per CPU, used only inside the FPU section. */
struct rmt_x16_buf {
	s16 x[2][RMT_X16_LEN];
};

static DEFINE_PER_CPU(struct rmt_x16_buf, rmt_x16);
static DEFINE_PER_CPU(u64, rmt_simd_runs);
static DEFINE_PER_CPU(u64, rmt_simd_nofpu);

/**
 * rmt_mlp_simd() - rmt_mlp_avx2() inside a kernel FPU section, where allowed
 * @w: as rmt_mlp_avx2()
 * @in: as rmt_mlp_avx2()
 * @out: as rmt_mlp_avx2()
 *
 * Vector registers may be used only between kernel_fpu_begin_mask() and
 * kernel_fpu_end(), and only where irq_fpu_usable() says so: not in NMI
 * (checked first: irq_fpu_usable() warns there), not in a hard interrupt
 * that interrupted a section or the FPU state's owner.  Elsewhere the caller
 * falls back to the scalar int32 path.  The section disables preemption and
 * an interrupt on this CPU cannot open another one, so the per-CPU buffers
 * are this call's alone.  The mask is 0: the path is integer-only, so
 * neither the x87 state nor MXCSR needs initialising.
 *
 * Return: as rmt_mlp_avx2(); false also when the FPU is not usable here.
 */
bool rmt_mlp_simd(const struct rmt_weights *w, const s32 *in, s32 *out)
{
	bool ok;

	if (in_nmi() || !irq_fpu_usable()) {
		this_cpu_inc(rmt_simd_nofpu);
		return false;
	}
	kernel_fpu_begin_mask(0);
	ok = rmt_mlp_avx2(w, in, out, this_cpu_ptr(&rmt_x16)->x[0]);
	kernel_fpu_end();
	this_cpu_inc(rmt_simd_runs);
	return ok;
}

void rmt_model_simd_stats(u64 *runs, u64 *nofpu)
{
	int cpu;

	*runs = 0;
	*nofpu = 0;
	for_each_possible_cpu(cpu) {
		*runs += per_cpu(rmt_simd_runs, cpu);
		*nofpu += per_cpu(rmt_simd_nofpu, cpu);
	}
}
#else
__thread s16 rmt_x16[2][RMT_X16_LEN] __aligned(32);
#endif
#endif


u64 rmt_run_mlp(const struct rmt_weights *w, const s32 *in, s32 *out,
				s32 *scratch)
{
	const s32 *x = in;
	u64 ov = 0;
	u32 j;

	if (w->fast) {
		int isa = rmt_model_isa_for(w);

		/* AVX2, when chosen, was tried first (rmt_infer_w()) */
		if (isa >= RMT_MODEL_ISA_INT32 && rmt_in_range(w, in)) {
			rmt_mlp_int32(w, in, out, scratch);
			return 0;
		}
	}

	for (j = 0; j < w->nlayers; j++) {
		const struct rmt_wlayer *l = &w->layers[j];
		s32 *y = j + 1 == w->nlayers ? out : scratch + (j & 1) * (w->scratch_len / 2);

		if (l->kind == RMT_LAYER_CONV1D)
			ov += rmt_conv1d(l, w->wide, x, y);
		else
			ov += rmt_dense(l, w->wide, x, y);
		/*
		 * Hidden activations stay in the declared input range, so every
		 * layer's accumulator bound is provable from the signature alone.
		 */
		if (j + 1 < w->nlayers) {
			u32 k, n = l->n_out;

			for (k = 0; k < n; k++)
				y[k] = clamp_t(s32, y[k], w->act_lo, w->act_hi);
		}
		x = y;
	}
	return ov;
}
