// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_loader.c: parse a .rmtb object, treating every byte as hostile.
 *
 * The checks and their messages follow contract/objfile.py's read(), so a
 * malformed object is refused with the same "<where>: <why>" by the Python
 * reader and by the kernel.  All arithmetic on sizes read from the file is
 * done in 64 bits (the file is at most RMT_MAX_OBJ_SIZE bytes, so sums of a
 * few u32 fields cannot wrap) or with check_*_overflow().
 */
#define RMT_HOOKS_DEFINE_TABLES
#include "rmt_loader.h"
#include "rmt_alloc.h"

int rmt_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

const struct rmt_hook_desc *rmt_hook_find(u32 id)
{
	u32 i;

	for (i = 0; i < RMT_NR_HOOKS; i++)
		if (rmt_hook_descs[i].id == id)
			return &rmt_hook_descs[i];
	return NULL;
}

static const char * const rmt_section_names[RMT_SEC_MAX + 1] = {
#define RMT_X_SECNAME(name, unit) [RMT_SEC_##name] = #name,
	RMT_SECTIONS(RMT_X_SECNAME)
#undef RMT_X_SECNAME
};

static const u32 rmt_section_units[RMT_SEC_MAX + 1] = {
#define RMT_X_SECUNIT(name, unit) [RMT_SEC_##name] = unit,
	RMT_SECTIONS(RMT_X_SECUNIT)
#undef RMT_X_SECUNIT
};

struct rmt_sec {
	bool present;
	u32 count, offset, size;
};

struct rmt_parse {
	struct rmt_prog *p;
	struct rmt_sec sec[RMT_SEC_MAX + 1];
	char *err;
	size_t errlen;
	char where[64];
};

#define PERR(ps, fmt, ...) rmt_errf((ps)->err, (ps)->errlen, -EINVAL, fmt, ##__VA_ARGS__)

/* Strict UTF-8, as Python's bytes.decode() accepts it. */
static bool rmt_utf8_ok(const u8 *s)
{
	while (*s) {
		u32 c = *s, n, cp, i;

		if (c < 0x80) {
			s++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

static int rmt_string(struct rmt_parse *ps, u32 off, const char *where)
{
	const struct rmt_prog *p = ps->p;

	if (!p->strings_len || p->strings[p->strings_len - 1])
		return PERR(ps, "STRINGS: string table is empty or not NUL-terminated");
	if (off >= p->strings_len)
		return PERR(ps, "%s: string offset %u is outside the string table", where, off);
	if (!rmt_utf8_ok((const u8 *)p->strings + off))
		return PERR(ps, "%s: string at offset %u is not UTF-8", where, off);
	return 0;
}

static int rmt_limit(struct rmt_parse *ps, const char *where, const char *what,
		     u64 value, u64 low, u64 lim)
{
	if (value < low || value > lim)
		return PERR(ps, "%s: %s %llu is outside [%llu, %llu]", where, what,
			    (unsigned long long)value, (unsigned long long)low,
			    (unsigned long long)lim);
	return 0;
}

static int rmt_slice(struct rmt_parse *ps, u32 kind, u32 count, u64 first, u64 n,
		     const char *where)
{
	if (first + n > count)
		return PERR(ps, "%s: refers to %s[%llu..%llu) but the section has %u records",
			    where, rmt_section_names[kind], (unsigned long long)first,
			    (unsigned long long)(first + n), count);
	return 0;
}

static int rmt_parse_header(struct rmt_parse *ps, const u8 *buf, size_t len)
{
	struct rmt_rec_obj_header h;
	u64 table_end;
	u32 i;

	if (len < sizeof(h))
		return PERR(ps, "header: file is %zu bytes, shorter than the %zu-byte header",
			    len, sizeof(h));
	if (len > RMT_MAX_OBJ_SIZE)
		return rmt_errf(ps->err, ps->errlen, -E2BIG,
				"header: file is %zu bytes, over the %d limit", len,
				RMT_MAX_OBJ_SIZE);
	memcpy(&h, buf, sizeof(h));
	if (h.magic != RMT_OBJ_MAGIC)
		return PERR(ps, "header: bad magic 0x%08x (not an .rmtb object)", h.magic);
	if (h.version_major != RMT_OBJ_VERSION_MAJOR)
		return PERR(ps, "header: object format version %u.%u is not supported (this reader handles %d.x)",
			    h.version_major, h.version_minor, RMT_OBJ_VERSION_MAJOR);
	if (h.file_size != len)
		return PERR(ps, "header: file_size says %u bytes, file has %zu", h.file_size, len);
	if (h.flags || h.pad)
		return PERR(ps, "header: reserved fields are not zero");
	if (h.nsections > RMT_MAX_SECTIONS)
		return PERR(ps, "header: %u sections, over the limit of %d", h.nsections,
			    RMT_MAX_SECTIONS);
	table_end = sizeof(h) + (u64)h.nsections * sizeof(struct rmt_rec_section);
	if (table_end > len)
		return PERR(ps, "section table: %u entries run past the end of the file",
			    h.nsections);
	for (i = 0; i < h.nsections; i++) {
		struct rmt_rec_section s;
		struct rmt_sec *sec;
		const char *name;

		memcpy(&s, buf + sizeof(h) + i * sizeof(s), sizeof(s));
		if (s.kind == 0 || s.kind > RMT_SEC_MAX || !rmt_section_names[s.kind])
			return PERR(ps, "section table entry %u: unknown section kind %u", i, s.kind);
		name = rmt_section_names[s.kind];
		sec = &ps->sec[s.kind];
		if (sec->present)
			return PERR(ps, "section table entry %u: section %s appears twice", i, name);
		if (s.offset < table_end || s.offset % 8 || (u64)s.offset + s.size > len)
			return PERR(ps, "%s: offset %u size %u is outside the file or not 8-byte aligned",
				    name, s.offset, s.size);
		if ((u64)s.count * rmt_section_units[s.kind] != s.size)
			return PERR(ps, "%s: count %u x %u bytes != size %u", name, s.count,
				    rmt_section_units[s.kind], s.size);
		sec->present = true;
		sec->count = s.count;
		sec->offset = s.offset;
		sec->size = s.size;
	}
	if (!ps->sec[RMT_SEC_PROG].present)
		return PERR(ps, "header: required section PROG is missing");
	if (!ps->sec[RMT_SEC_CODE].present)
		return PERR(ps, "header: required section CODE is missing");
	if (!ps->sec[RMT_SEC_STRINGS].present)
		return PERR(ps, "header: required section STRINGS is missing");
	return 0;
}

/* Point @ptr/@count at section @kind inside the private image. */
#define RMT_BIND(ps, kind, ptr, cnt) do { \
	struct rmt_sec *__s = &(ps)->sec[kind]; \
	(cnt) = __s->present ? __s->count : 0; \
	(ptr) = __s->present && __s->count ? \
		(__typeof__(ptr))((ps)->p->image + __s->offset) : NULL; \
} while (0)

static bool rmt_pads_zero_u(u64 a, u64 b)
{
	return !a && !b;
}

static int rmt_parse_tables(struct rmt_parse *ps)
{
	struct rmt_prog *p = ps->p;
	char w[48], kw[80], aw[80];
	u32 i, j, q;
	int rc;

	for (i = 0; i < p->ntables; i++) {
		const struct rmt_rec_table *t = &p->tables[i];
		u32 rounded, maxp = 0;

		snprintf(w, sizeof(w), "TABLES[%u]", i);
		if (t->pad)
			return PERR(ps, "%s: padding bytes are not zero", w);
		rc = rmt_limit(ps, w, "key count", t->nkeys, 1, RMT_MAX_KEYS);
		rc = rc ?: rmt_limit(ps, w, "action count", t->nactions, 1, RMT_MAX_ACTIONS);
		rc = rc ?: rmt_limit(ps, w, "max_entries", t->max_entries, 1,
				     RMT_MAX_TABLE_ENTRIES);
		rc = rc ?: rmt_limit(ps, w, "param_size", t->param_size, 0, RMT_MAX_PARAM_SIZE);
		rc = rc ?: rmt_slice(ps, RMT_SEC_KEYS, p->nkeys, t->key_first, t->nkeys, w);
		if (rc)
			return rc;
		for (j = 0; j < t->nkeys; j++) {
			const struct rmt_rec_key *k = &p->keys[t->key_first + j];

			snprintf(kw, sizeof(kw), "%s key %u", w, j);
			if (k->pad)
				return PERR(ps, "%s: padding bytes are not zero", kw);
			if (k->kind > RMT_MATCH_RANGE || k->bits < 1 || k->bits > 64)
				return PERR(ps, "%s: bad match kind %u or width %u", kw, k->kind,
					    k->bits);
			rc = rmt_string(ps, k->name, kw);
			if (rc)
				return rc;
		}
		rc = rmt_slice(ps, RMT_SEC_ACTIONS, p->nactions, t->action_first, t->nactions, w);
		if (rc)
			return rc;
		for (j = 0; j < t->nactions; j++) {
			const struct rmt_rec_action *a = &p->actions[t->action_first + j];
			u32 psize = 0;

			snprintf(aw, sizeof(aw), "%s action %u", w, j);
			if (a->pad)
				return PERR(ps, "%s: padding bytes are not zero", aw);
			rc = rmt_limit(ps, aw, "parameter count", a->nparams, 0, RMT_MAX_PARAMS);
			rc = rc ?: rmt_slice(ps, RMT_SEC_PARAMS, p->nparams, a->param_first,
					     a->nparams, aw);
			if (rc)
				return rc;
			for (q = 0; q < a->nparams; q++) {
				const struct rmt_rec_param *pr = &p->params[a->param_first + q];
				u32 bits = RMT_TYPE_BITS(pr->type), bytes = bits / 8;

				if ((bits != 8 && bits != 16 && bits != 32 && bits != 64) ||
				    pr->offset % bytes || pr->offset + bytes > t->param_size)
					return PERR(ps, "%s param %u: bad type, misaligned, or outside the table's parameter block",
						    aw, q);
				rc = rmt_string(ps, pr->name, aw);
				if (rc)
					return rc;
				if (pr->offset + bytes > psize)
					psize = pr->offset + bytes;
			}
			rc = rmt_string(ps, a->name, aw);
			if (rc)
				return rc;
			if (psize != a->param_size)
				return PERR(ps, "%s: param_size %u does not match its parameters", aw,
					    a->param_size);
			if (psize > maxp)
				maxp = psize;
		}
		if (t->default_action >= t->nactions)
			return PERR(ps, "%s: default action %u does not exist", w, t->default_action);
		if ((u64)t->default_params + t->param_size > p->data_len)
			return PERR(ps, "%s: default parameters lie outside the DATA section", w);
		rc = rmt_string(ps, t->name, w);
		if (rc)
			return rc;
		rounded = (maxp + 7) / 8 * 8;
		if (rounded != t->param_size)
			return PERR(ps, "%s: param_size %u != %u from its actions", w, t->param_size,
				    rounded);
	}
	return rmt_limit(ps, "TABLES", "table count", p->ntables, 0, RMT_MAX_TABLES);
}

/* contract/objfile.py check_model_shape(). */
static int rmt_model_shape(struct rmt_parse *ps, const struct rmt_rec_model *m,
			   const struct rmt_rec_layer *ly, const char *w)
{
	u32 j, width, trees;

	if (m->kind == RMT_MODEL_MLP || m->kind == RMT_MODEL_LINEAR) {
		if (!m->nlayers)
			return PERR(ps, "%s: an MLP or linear model needs at least one layer", w);
		if (m->kind == RMT_MODEL_LINEAR && (m->nlayers != 1 || ly[0].kind != RMT_LAYER_DENSE))
			return PERR(ps, "%s: a linear model is exactly one dense layer", w);
		width = m->n_in;
		for (j = 0; j < m->nlayers; j++) {
			const struct rmt_rec_layer *l = &ly[j];

			if (l->n_in != width)
				return PERR(ps, "%s: layer %u takes %u inputs but receives %u", w, j,
					    l->n_in, width);
			if (l->n_out < 1 || l->n_out > RMT_MAX_MODEL_IO)
				return PERR(ps, "%s: layer %u has %u outputs, outside [1, %d]", w, j,
					    l->n_out, RMT_MAX_MODEL_IO);
			if (l->kind == RMT_LAYER_CONV1D) {
				s64 steps;

				if (l->in_ch < 1 || l->out_ch < 1 || l->kernel < 1 ||
				    l->n_in % l->in_ch)
					return PERR(ps, "%s: conv1d layer %u: bad channels or kernel", w, j);
				steps = (s64)(l->n_in / l->in_ch) - l->kernel + 1;
				if (steps < 1 || l->n_out != (u64)steps * l->out_ch)
					return PERR(ps, "%s: conv1d layer %u: %u outputs do not match (%u/%u - %u + 1) x %u",
						    w, j, l->n_out, l->n_in, l->in_ch, l->kernel,
						    l->out_ch);
			}
			width = l->n_out;
		}
		if (width != m->n_out)
			return PERR(ps, "%s: last layer gives %u outputs, the model declares %u", w,
				    width, m->n_out);
	} else {
		if (m->nlayers)
			return PERR(ps, "%s: trees and forests have no layers", w);
		trees = m->kind == RMT_MODEL_TREE ? 1 : m->trees;
		if (trees < 1 || trees > RMT_MAX_TREES ||
		    (m->kind == RMT_MODEL_TREE && m->trees > 1))
			return PERR(ps, "%s: tree count %u outside [1, %d]", w, m->trees,
				    RMT_MAX_TREES);
		if (m->depth < 1 || m->depth > RMT_MAX_TREE_DEPTH)
			return PERR(ps, "%s: tree depth %u outside [1, %d]", w, m->depth,
				    RMT_MAX_TREE_DEPTH);
	}
	if (m->in_lo > m->in_hi)
		return PERR(ps, "%s: input range [%d, %d] is empty", w, m->in_lo, m->in_hi);
	return 0;
}

static int rmt_parse_models(struct rmt_parse *ps)
{
	struct rmt_prog *p = ps->p;
	char w[48], lw[80];
	u32 i, j;
	int rc;

	for (i = 0; i < p->nmodels; i++) {
		const struct rmt_rec_model *m = &p->models[i];

		snprintf(w, sizeof(w), "MODELS[%u]", i);
		if (m->pad || m->pad2)
			return PERR(ps, "%s: padding bytes are not zero", w);
		if (m->kind < RMT_MODEL_MLP || m->kind > RMT_MODEL_LINEAR)
			return PERR(ps, "%s: unknown model kind %u", w, m->kind);
		rc = rmt_limit(ps, w, "input size", m->n_in, 1, RMT_MAX_MODEL_IO);
		rc = rc ?: rmt_limit(ps, w, "output size", m->n_out, 1, RMT_MAX_MODEL_IO);
		if (rc)
			return rc;
		if (m->weight_bits != 8 && m->weight_bits != 16 && m->weight_bits != 32)
			return PERR(ps, "%s: weight width %u is not 8, 16 or 32", w, m->weight_bits);
		rc = rmt_limit(ps, w, "layer count", m->nlayers, 0, RMT_MAX_LAYERS);
		rc = rc ?: rmt_slice(ps, RMT_SEC_LAYERS, p->nlayers, m->layer_first, m->nlayers, w);
		if (rc)
			return rc;
		for (j = 0; j < m->nlayers; j++) {
			const struct rmt_rec_layer *ly = &p->layers[m->layer_first + j];

			snprintf(lw, sizeof(lw), "%s layer %u", w, j);
			if (ly->pad || ly->pad2)
				return PERR(ps, "%s: padding bytes are not zero", lw);
			if (ly->kind < RMT_LAYER_DENSE || ly->kind > RMT_LAYER_CONV1D ||
			    ly->act > RMT_ACT_RELU)
				return PERR(ps, "%s: unknown layer kind or activation", lw);
		}
		rc = rmt_string(ps, m->name, w);
		rc = rc ?: rmt_model_shape(ps, m, m->nlayers ? &p->layers[m->layer_first] : NULL, w);
		if (rc)
			return rc;
	}
	return rmt_limit(ps, "MODELS", "model count", p->nmodels, 0, RMT_MAX_MODELS);
}

static int rmt_parse_rest(struct rmt_parse *ps)
{
	struct rmt_prog *p = ps->p;
	char w[48];
	u32 i, j;
	s64 last_pc = -1;
	int rc;

	for (i = 0; i < p->nmaps; i++) {
		const struct rmt_rec_map *m = &p->maps[i];
		u32 vb = m->value_bits;

		snprintf(w, sizeof(w), "MAPS[%u]", i);
		if (m->kind < RMT_MAP_ARRAY || m->kind > RMT_MAP_COUNTER ||
		    (m->flags & ~(RMT_MAP_PERCPU | RMT_MAP_PRIVATE)))
			return PERR(ps, "%s: unknown map kind %u or flags %u", w, m->kind, m->flags);
		if ((vb != 8 && vb != 16 && vb != 32 && vb != 64) || m->key_bits < 1 ||
		    m->key_bits > 64)
			return PERR(ps, "%s: bad key width %u or value width %u", w, m->key_bits, vb);
		rc = rmt_limit(ps, w, "max_entries", m->max_entries, 1, RMT_MAX_MAP_ENTRIES);
		rc = rc ?: rmt_string(ps, m->name, w);
		if (rc)
			return rc;
	}
	rc = rmt_limit(ps, "MAPS", "map count", p->nmaps, 0, RMT_MAX_MAPS);
	if (rc)
		return rc;

	for (i = 0; i < p->ntraces; i++) {
		const struct rmt_rec_trace *t = &p->traces[i];

		snprintf(w, sizeof(w), "TRACES[%u]", i);
		if (t->pad)
			return PERR(ps, "%s: padding bytes are not zero", w);
		rc = rmt_limit(ps, w, "field count", t->nfields, 1, RMT_MAX_TRACE_FIELDS);
		rc = rc ?: rmt_slice(ps, RMT_SEC_TRACE_FIELDS, p->ntrace_fields, t->field_first,
				     t->nfields, w);
		if (rc)
			return rc;
		for (j = 0; j < t->nfields; j++) {
			const struct rmt_rec_trace_field *f = &p->trace_fields[t->field_first + j];
			u32 bits = RMT_TYPE_BITS(f->type);

			if (!rmt_pads_zero_u(f->pad, f->pad2))
				return PERR(ps, "%s: padding bytes are not zero", w);
			if (bits != 8 && bits != 16 && bits != 32 && bits != 64)
				return PERR(ps, "%s: bad field width %u", w, bits);
			rc = rmt_string(ps, f->name, w);
			if (rc)
				return rc;
		}
		rc = rmt_string(ps, t->name, w);
		if (rc)
			return rc;
	}
	rc = rmt_limit(ps, "TRACES", "trace format count", p->ntraces, 0, RMT_MAX_TRACES);
	if (rc)
		return rc;

	for (i = 0; i < p->nguards; i++)
		if (p->guards[i].kind < RMT_GUARD_ALLOW || p->guards[i].kind > RMT_GUARD_TRIPS)
			return PERR(ps, "GUARDS[%u]: unknown guard kind %u", i, p->guards[i].kind);
	rc = rmt_limit(ps, "GUARDS", "guard count", p->nguards, 0, RMT_MAX_GUARDS);
	if (rc)
		return rc;

	for (i = 0; i < p->nsrc; i++) {
		const struct rmt_rec_src *s = &p->srcmap[i];

		if ((s64)s->pc <= last_pc || s->pc >= p->hdr.ninsns)
			return PERR(ps, "SRCMAP[%u]: pc %u is out of order or past the code", i, s->pc);
		last_pc = s->pc;
		rc = rmt_string(ps, s->file, "SRCMAP");
		if (rc)
			return rc;
	}
	for (i = 0; i < p->nsyms; i++) {
		const struct rmt_rec_sym *s = &p->syms[i];

		if (s->pad || s->pad2)
			return PERR(ps, "SYMBOLS[%u]: padding bytes are not zero", i);
		if ((u64)s->offset + s->size > p->hdr.scratch_size)
			return PERR(ps, "SYMBOLS[%u]: symbol lies outside scratch", i);
		rc = rmt_string(ps, s->name, "SYMBOLS");
		if (rc)
			return rc;
	}
	return 0;
}

static int rmt_parse_prog(struct rmt_parse *ps)
{
	struct rmt_prog *p = ps->p;
	struct rmt_sec *s = &ps->sec[RMT_SEC_PROG];
	struct rmt_sec *code = &ps->sec[RMT_SEC_CODE];
	const struct rmt_hook_desc *hook;
	int rc;

	if (s->count != 1)
		return PERR(ps, "PROG: expected 1 record, found %u", s->count);
	memcpy(&p->hdr, p->image + s->offset, sizeof(p->hdr));
	if (p->hdr.pad)
		return PERR(ps, "PROG: padding bytes are not zero");
	hook = rmt_hook_find(p->hdr.hook_id);
	if (!hook)
		return PERR(ps, "PROG: unknown hook id %u", p->hdr.hook_id);
	if (p->hdr.hook_hash != hook->hash || p->hdr.ctx_size != hook->ctx_size)
		return PERR(ps, "PROG: built for another layout of hook %s (hash 0x%08x, expected 0x%08x)",
			    hook->name, p->hdr.hook_hash, hook->hash);
	p->hook = hook;
	rc = rmt_limit(ps, "PROG", "scratch size", p->hdr.scratch_size, 0, RMT_MAX_SCRATCH);
	if (rc)
		return rc;
	if (p->hdr.mode != RMT_MODE_ENFORCE && p->hdr.mode != RMT_MODE_SHADOW)
		return PERR(ps, "PROG: unknown mode %u", p->hdr.mode);
	if (p->hdr.ninsns != code->count)
		return PERR(ps, "PROG: ninsns %u != CODE count %u", p->hdr.ninsns, code->count);
	return rmt_limit(ps, "CODE", "instruction count", code->count, 1, RMT_MAX_INSNS);
}

int rmt_prog_parse(const void *buf, size_t len, struct rmt_prog **out,
		   char *err, size_t errlen)
{
	struct rmt_parse *ps;
	struct rmt_prog *p;
	u32 dummy;
	int rc;

	BUILD_BUG_ON(sizeof(struct rmt_insn) != RMT_INSN_SIZE);
	*out = NULL;
	ps = rmt_kzalloc(sizeof(*ps), GFP_KERNEL);
	if (!ps)
		return rmt_errf(err, errlen, -ENOMEM, "out of memory");
	ps->err = err;
	ps->errlen = errlen;
	rc = rmt_parse_header(ps, buf, len);
	if (rc)
		goto out_ps;
	rc = -ENOMEM;
	p = rmt_kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p) {
		rmt_errf(err, errlen, rc, "out of memory");
		goto out_ps;
	}
	p->image = rmt_kvmalloc(len, GFP_KERNEL);
	if (!p->image) {
		rmt_errf(err, errlen, rc, "out of memory for a %zu-byte object", len);
		goto out_prog;
	}
	memcpy(p->image, buf, len);
	p->size = len;
	ps->p = p;

	RMT_BIND(ps, RMT_SEC_CODE, p->insns, dummy);
	RMT_BIND(ps, RMT_SEC_TABLES, p->tables, p->ntables);
	RMT_BIND(ps, RMT_SEC_KEYS, p->keys, p->nkeys);
	RMT_BIND(ps, RMT_SEC_ACTIONS, p->actions, p->nactions);
	RMT_BIND(ps, RMT_SEC_PARAMS, p->params, p->nparams);
	RMT_BIND(ps, RMT_SEC_MODELS, p->models, p->nmodels);
	RMT_BIND(ps, RMT_SEC_LAYERS, p->layers, p->nlayers);
	RMT_BIND(ps, RMT_SEC_MAPS, p->maps, p->nmaps);
	RMT_BIND(ps, RMT_SEC_TRACES, p->traces, p->ntraces);
	RMT_BIND(ps, RMT_SEC_TRACE_FIELDS, p->trace_fields, p->ntrace_fields);
	RMT_BIND(ps, RMT_SEC_GUARDS, p->guards, p->nguards);
	RMT_BIND(ps, RMT_SEC_SRCMAP, p->srcmap, p->nsrc);
	RMT_BIND(ps, RMT_SEC_SYMBOLS, p->syms, p->nsyms);
	RMT_BIND(ps, RMT_SEC_STRINGS, p->strings, p->strings_len);
	RMT_BIND(ps, RMT_SEC_DATA, p->data, p->data_len);
	(void)dummy;

	rc = rmt_parse_prog(ps);
	rc = rc ?: rmt_parse_tables(ps);
	rc = rc ?: rmt_parse_models(ps);
	rc = rc ?: rmt_parse_rest(ps);
	rc = rc ?: rmt_string(ps, p->hdr.name, "PROG");
	if (rc)
		goto out_prog;
	rmt_kfree(ps);
	*out = p;
	return 0;

out_prog:
	rmt_prog_free(p);
out_ps:
	rmt_kfree(ps);
	return rc;
}

void rmt_prog_free(struct rmt_prog *p)
{
	if (!p)
		return;
	rmt_kvfree(p->image);
	rmt_kfree(p);
}

s64 rmt_prog_region_size(const struct rmt_prog *p, u32 region, u32 obj)
{
	switch (region) {
	case RMT_REGION_CTX:
		return p->hook->ctx_size;
	case RMT_REGION_SCRATCH:
		return p->hdr.scratch_size;
	case RMT_REGION_PARAMS:
		return obj < p->ntables ? (s64)p->tables[obj].param_size : -1;
	case RMT_REGION_MIN:
		return obj < p->nmodels ? 4 * (s64)p->models[obj].n_in : -1;
	case RMT_REGION_MOUT:
		return obj < p->nmodels ? 4 * (s64)p->models[obj].n_out : -1;
	}
	return -1;
}
