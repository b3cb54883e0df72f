/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz_common.h: what the libFuzzer targets of tools/fuzz/ share.
 *
 * The targets link the userspace build of vm_kernel/ sources directly (no cffi)
 * and run under ASan + UBSan.  Besides "no sanitizer report", each target has
 * functional oracles; a violated oracle calls FUZZ_CHECK(), which prints what
 * differed and aborts, so libFuzzer records the input as a crash.
 */
#ifndef _FUZZ_COMMON_H
#define _FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's own mutator, for the custom mutator of fuzz_load.c */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#define FUZZ_CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "ORACLE %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

/*
 * A reader over the fuzzer's bytes: every take past the end yields zeros, so
 * any input decodes to some sequence of operations (the FuzzedDataProvider
 * idea, in C).
 */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline size_t fuzz_left(const struct fuzz_in *in)
{
	return in->n;
}

static inline void fuzz_bytes(struct fuzz_in *in, void *out, size_t len)
{
	size_t k = len < in->n ? len : in->n;

	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, len - k);
	in->p += k;
	in->n -= k;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	fuzz_bytes(in, &v, 1);
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v;

	fuzz_bytes(in, &v, 2);
	return v;
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v;

	fuzz_bytes(in, &v, 4);
	return v;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v;

	fuzz_bytes(in, &v, 8);
	return v;
}

/* A u64 that often is a boundary of a @bits-wide field, else any value. */
static inline uint64_t fuzz_key(struct fuzz_in *in, unsigned int bits)
{
	uint64_t top = bits >= 64 ? ~0ull : (1ull << bits) - 1;
	uint8_t c = fuzz_u8(in);

	switch (c & 7) {
	case 0: return 0;
	case 1: return top;
	case 2: return c >> 3;
	case 3: return top - (c >> 3);
	case 4: return fuzz_u8(in) & top;
	default: return fuzz_u64(in) & (c & 0x80 ? ~0ull : top);
	}
}

/* Message buffers are NUL-terminated and say something on every failure. */
static inline void fuzz_check_err(int rc, const char *err, size_t len)
{
	if (rc >= 0)
		return;
	FUZZ_CHECK(memchr(err, 0, len) != NULL, "error message not terminated");
	FUZZ_CHECK(err[0] != 0, "rc %d with an empty message", rc);
}

#endif /* _FUZZ_COMMON_H */
