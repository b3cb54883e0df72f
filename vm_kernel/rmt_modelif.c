// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_modelif.c: the runtime's adapter to the model engine; see rmt_modelif.h.
 */
#include "rmt_modelif.h"
#include "rmt_loader.h"

#ifndef RMT_HAVE_MODEL_ENGINE

/* STUB: replaced by calls into rmt_model.c once it lands. */
int rmt_mif_init(struct rmt_model_slot *slot, const struct rmt_prog *p, u32 idx,
		 char *err, size_t errlen)
{
	slot->version = 0;
	return 0;
}

void rmt_mif_destroy(struct rmt_model_slot *slot)
{
}

int rmt_mif_load(struct rmt_model_slot *slot, const void *blob, size_t len,
		 char *err, size_t errlen)
{
	return rmt_errf(err, errlen, -EOPNOTSUPP,
			"weights: the model engine is not built into this VM yet");
}

int rmt_mif_infer(struct rmt_model_slot *slot, const s32 *in, s32 *out, u64 *overflows)
{
	return -ENOENT;
}

#endif /* !RMT_HAVE_MODEL_ENGINE */
