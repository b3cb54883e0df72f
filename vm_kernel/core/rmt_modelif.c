// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_modelif.c: the runtime's adapter to the model engine; see rmt_modelif.h.
 */
#include "rmt_modelif.h"
#include "rmt_loader.h"

int rmt_mif_init(struct rmt_mif *m, const struct rmt_prog *p, u32 idx, char *err, size_t errlen)
{
	const struct rmt_rec_model *r = &p->models[idx];
	struct rmt_model_sig *s = &m->sig;
	u32 j;

	memset(s, 0, sizeof(*s));
	s->kind = r->kind;
	s->weight_bits = r->weight_bits;
	s->nlayers = r->nlayers;
	s->trees = r->trees;
	s->depth = r->depth;
	s->n_in = r->n_in;
	s->n_out = r->n_out;
	s->in_lo = r->in_lo;
	s->in_hi = r->in_hi;
	s->max_abs_weight = r->max_abs_weight;
	for (j = 0; j < r->nlayers && j < RMT_MAX_LAYERS; j++) {
		const struct rmt_rec_layer *l = &p->layers[r->layer_first + j];

		s->layers[j].kind = l->kind;
		s->layers[j].act = l->act;
		s->layers[j].in_ch = l->in_ch;
		s->layers[j].out_ch = l->out_ch;
		s->layers[j].kernel = l->kernel;
		s->layers[j].n_in = l->n_in;
		s->layers[j].n_out = l->n_out;
	}
	rmt_model_slot_init(&m->slot);
	/*
	 * The loader already checked the shape as contract/objfile.py does; the
	 * model engine's stricter rmt_model_sig_check() runs when weights load.
	 */
	return 0;
}

void rmt_mif_destroy(struct rmt_mif *m)
{
	rmt_model_slot_destroy(&m->slot);
}

int rmt_mif_load(struct rmt_mif *m, const void *blob, size_t len, char *err, size_t errlen)
{
	u64 version = 0;
	int rc;

	rc = rmt_model_load(&m->slot, &m->sig, blob, len, &version, err, errlen);
	if (rc)
		return rc;
	return rmt_version_rc(version);
}
