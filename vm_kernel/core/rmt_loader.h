/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_loader.h: a parsed, checked .rmtb object (struct rmt_prog).
 *
 * rmt_prog_parse() treats every byte of the object as hostile and checks the
 * same structure contract/objfile.py's read() does (same messages: "<where>:
 * <why>").  rmt_prog_validate() (rmt_validate.c) then checks the code the
 * way semantics/validate.py does.  Only a program that passed both is run.
 */
#ifndef _RMT_LOADER_H
#define _RMT_LOADER_H

#include "rmt_compat.h"
#include "rmt_isa.h"
#include "rmt_format.h"
#include "rmt_hooks.h"

/**
 * struct rmt_prog - a checked object, all records copied out of the input
 * @image: private copy of the object file; the record pointers point into it
 * @size: size of @image
 * @hook: the hook the program binds to
 * @hdr: the PROG record
 * @insns: @hdr.ninsns instructions
 *
 * @zero_lo: the run's zeroed area (scratch, then every model's MIN and MOUT,
 *	rmt_model_io_offset()) needs zeroing in [@zero_lo, @zero_hi) only
 * @zero_hi: see @zero_lo; equal when nothing is read before it is written
 * @zero_regs: the registers a run may read before writing them (bit r)
 *
 * Every other pointer/count pair is one record section (count 0, pointer
 * NULL when the section is absent); cross references between them have been
 * checked by rmt_prog_parse().  The zero_* fields are set by
 * rmt_prog_plan_zero().
 */
struct rmt_prog {
	u8 *image;
	u32 size;
	const struct rmt_hook_desc *hook;
	struct rmt_rec_prog hdr;
	const struct rmt_insn *insns;
	u32 ntables, nkeys, nactions, nparams, nmodels, nlayers, nmaps;
	u32 ntraces, ntrace_fields, nguards, nsrc, nsyms, strings_len, data_len;
	const struct rmt_rec_table *tables;
	const struct rmt_rec_key *keys;
	const struct rmt_rec_action *actions;
	const struct rmt_rec_param *params;
	const struct rmt_rec_model *models;
	const struct rmt_rec_layer *layers;
	const struct rmt_rec_map *maps;
	const struct rmt_rec_trace *traces;
	const struct rmt_rec_trace_field *trace_fields;
	const struct rmt_rec_guard *guards;
	const struct rmt_rec_src *srcmap;
	const struct rmt_rec_sym *syms;
	const char *strings;
	const u8 *data;
	u32 zero_lo;
	u32 zero_hi;
	u32 zero_regs;
};

/**
 * rmt_hook_find() - the generated description of a hook
 * @id: hook id
 *
 * Return: the descriptor, or NULL for an unknown id.
 */
const struct rmt_hook_desc *rmt_hook_find(u32 id);

/**
 * rmt_prog_parse() - parse and structurally check an object
 * @buf: the object bytes (untrusted; not kept)
 * @len: their number
 * @out: set to a new program on success
 * @err: buffer for "<where>: <why>" on failure
 * @errlen: size of @err
 *
 * Return: 0, -EINVAL (malformed), -E2BIG (over MAX_OBJ_SIZE), -ENOMEM.
 */
int rmt_prog_parse(const void *buf, size_t len, struct rmt_prog **out,
		   char *err, size_t errlen);

/**
 * rmt_prog_validate() - check the code against the program's declarations
 * @p: a parsed program
 * @err: buffer for "pc N: <reason>: <detail>" on failure
 * @errlen: size of @err
 *
 * Mirrors semantics/validate.py: the same checks in the same order and the
 * same reason keywords.
 *
 * Return: 0 or -EINVAL.
 */
int rmt_prog_validate(const struct rmt_prog *p, char *err, size_t errlen);

/**
 * rmt_prog_plan_zero() - find what a run must zero before the program starts
 * @p: a validated program; sets @p->zero_lo, @p->zero_hi and @p->zero_regs
 *
 * A forward must-write analysis over the code (rmt_validate.c): the bytes
 * of scratch, MIN and MOUT, and the registers, that some path may read
 * before writing them.  Only those need the zero the semantics promise; the
 * rest is overwritten before any read, so data of an earlier run cannot
 * leak.  A program whose jumps leave too many targets pending at once for
 * the analysis's memory bound gets the plan to zero everything.
 *
 * Return: 0, or -ENOMEM (the load then fails, as on any allocation failure).
 */
int rmt_prog_plan_zero(struct rmt_prog *p);

/**
 * rmt_prog_free() - free a program from rmt_prog_parse()
 * @p: the program (NULL is allowed)
 */
void rmt_prog_free(struct rmt_prog *p);

/**
 * rmt_prog_string() - a string of the program's string table
 * @p: the program
 * @off: offset checked by the parser
 *
 * Return: the NUL-terminated string.
 */
static inline const char *rmt_prog_string(const struct rmt_prog *p, u32 off)
{
	return off < p->strings_len ? p->strings + off : "";
}

/* Size in bytes of the region @region of object @obj, or -1 if no such object. */
s64 rmt_prog_region_size(const struct rmt_prog *p, u32 region, u32 obj);

/*
 * Byte offset of MIN(@model) (@out false) or MOUT(@model) from a frame's
 * scratch: the layout rmt_frames_alloc() makes on every CPU (scratch rounded
 * up to 8 bytes, then each model's inputs and outputs), so native code can
 * address them from the scratch base without loading a pointer.
 */
static inline u32 rmt_model_io_offset(const struct rmt_prog *p, u32 model, bool out)
{
	u32 off = (p->hdr.scratch_size + 7) & ~7u, m;

	for (m = 0; m < model; m++)
		off += 4 * (p->models[m].n_in + p->models[m].n_out);
	return out ? off + 4 * p->models[model].n_in : off;
}

#endif /* _RMT_LOADER_H */
