/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The engine of MLPs proved exact in int32: the choice and its counters, as
 * the module's parameters see them (kmod/rmt_kmod_model_isa.c).  Part of the
 * VM's public API, apart from rmt_model.h's internals.
 */
#ifndef _RMT_MODEL_ISA_H
#define _RMT_MODEL_ISA_H

#include "rmt_compat.h"

/**
 * enum rmt_model_isa - how MLP layers with 8/16-bit weights are computed
 * @RMT_MODEL_ISA_EXACT64: exact s64 sums saturated to int32 (always correct)
 * @RMT_MODEL_ISA_INT32: int32 sums where the load proved they cannot leave
 *	int32 (see rmt_layer_exact32()); the kernel's default
 * @RMT_MODEL_ISA_AVX2: the int32 sums with AVX2 (x86-64; in the kernel inside a
 *	kernel FPU section, where one may be opened, else the int32 path)
 *
 * Every choice gives bit-identical outputs and overflow counts: a faster one
 * is used only where the load proved it exact, else the next one down.
 */
enum rmt_model_isa {
	RMT_MODEL_ISA_EXACT64,
	RMT_MODEL_ISA_INT32,
	RMT_MODEL_ISA_AVX2,
};

int rmt_model_pick_isa(int isa, bool every_model);
void rmt_model_isa_info(int *sel, int *autoisa, int *best);
#ifdef __KERNEL__
/**
 * rmt_model_simd_stats() - AVX2 inferences since load, and those refused the FPU
 * @runs: receives the inferences run inside a kernel FPU section
 * @nofpu: receives those that found the FPU unusable (irq_fpu_usable(),
 *	NMI) and ran the int32 path instead
 */
void rmt_model_simd_stats(u64 *runs, u64 *nofpu);
#endif

#endif /* _RMT_MODEL_ISA_H */
