/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmt_ring.h: the trace ring (docs/semantics.md, "Trace").
 *
 * A bounded multi-producer, single-consumer queue of fixed-size records
 * (Vyukov's bounded queue: each slot carries a sequence number).  Producers
 * (TRACE on any CPU) reserve a slot with one compare-and-swap on the head and
 * never wait: when the ring is full the record is dropped and the caller
 * counts it.  The single consumer (rmtctl trace; read() on /dev/rmt in the
 * kernel) drains in reservation order.  Capacity is a power of two.
 */
#ifndef _RMT_RING_H
#define _RMT_RING_H

#include "rmt_compat.h"
#include "rmt_format.h"

/**
 * struct rmt_trace_rec - one trace record as the consumer receives it
 * @fmt: trace format index
 * @cpu: CPU of the invocation
 * @ts: time of the invocation (ns)
 * @nvals: number of valid @vals
 * @pad: zero
 * @vals: the raw u64 field values
 */
struct rmt_trace_rec {
	__u32 fmt;
	__u32 cpu;
	__u64 ts;
	__u32 nvals;
	__u32 pad;
	__u64 vals[RMT_MAX_TRACE_FIELDS];
};

/**
 * rmt_trace_rec_init() - fill a record with @n values from @vals
 * @rec: the record (on the producer's stack)
 * @fmt: trace format index
 * @cpu: CPU of the invocation
 * @ts: time of the invocation (ns)
 * @vals: the @n raw u64 field values
 * @n: number of values, at most RMT_MAX_TRACE_FIELDS (the loader checks it)
 *
 * The values past @n are left as they are: this runs on the hook path, and
 * the control plane's drain (rmt_vm_trace_drain()) zeroes them instead.
 */
static inline void rmt_trace_rec_init(struct rmt_trace_rec *rec, u32 fmt, u32 cpu, u64 ts,
				      const void *vals, u32 n)
{
	rec->fmt = fmt;
	rec->cpu = cpu;
	rec->ts = ts;
	rec->nvals = n;
	rec->pad = 0;
	memcpy(rec->vals, vals, 8 * n);
}

struct rmt_ring;

#define RMT_RING_MAX_CAPACITY (1u << 20)

/**
 * rmt_ring_capacity_ok() - whether a ring can have @capacity records
 * @capacity: a power of two in 1..RMT_RING_MAX_CAPACITY
 *
 * Return: true if so; callers check before rmt_ring_create(), so that its
 * NULL means no memory.
 */
static inline bool rmt_ring_capacity_ok(u32 capacity)
{
	return capacity && !(capacity & (capacity - 1)) && capacity <= RMT_RING_MAX_CAPACITY;
}

/**
 * rmt_ring_create() - allocate a ring
 * @capacity: number of records (rmt_ring_capacity_ok())
 *
 * Return: the ring, or NULL (no memory, or a bad capacity).
 */
struct rmt_ring *rmt_ring_create(u32 capacity);

/**
 * rmt_ring_destroy() - free a ring
 * @r: the ring (NULL allowed)
 */
void rmt_ring_destroy(struct rmt_ring *r);

/**
 * rmt_ring_push() - append a record (hook path, any CPU, lock-free)
 * @r: the ring
 * @rec: the record
 *
 * Return: 0, or -ENOSPC when the ring is full (the record is dropped).
 */
int rmt_ring_push(struct rmt_ring *r, const struct rmt_trace_rec *rec);

/**
 * rmt_ring_push_vals() - rmt_ring_push() of the record rmt_trace_rec_init() would fill
 * @r: the ring
 * @fmt: trace format index
 * @cpu: CPU of the invocation
 * @ts: time of the invocation (ns)
 * @vals: the @n raw u64 field values
 * @n: number of values, at most RMT_MAX_TRACE_FIELDS
 *
 * Fills the claimed slot in place: no record on the stack copied in whole.
 * The slot's values past @n are left as they are (the drain zeroes them).
 *
 * Return: 0, or -ENOSPC when the ring is full (the record is dropped).
 */
int rmt_ring_push_vals(struct rmt_ring *r, u32 fmt, u32 cpu, u64 ts, const void *vals, u32 n);

/**
 * rmt_ring_pop() - take the oldest record (single consumer)
 * @r: the ring
 * @rec: receives the record
 *
 * Return: true if a record was taken.
 */
bool rmt_ring_pop(struct rmt_ring *r, struct rmt_trace_rec *rec);

/**
 * rmt_ring_peek() - copy a record without taking it (single consumer)
 * @r: the ring
 * @k: how many records past the oldest (0: the oldest)
 * @rec: receives the record
 *
 * The record stays in the ring, and keeps its slot from producers, until
 * rmt_ring_ack() releases it: a consumer reads, makes the records durable,
 * then acknowledges them, and a failure in between loses none.
 *
 * Return: true if there is such a record.
 */
bool rmt_ring_peek(struct rmt_ring *r, u64 k, struct rmt_trace_rec *rec);

/**
 * rmt_ring_tail() - position of the oldest record (records taken so far)
 * @r: the ring
 * Return: the position; rmt_ring_ack() and rmt_ring_pop() advance it.
 */
u64 rmt_ring_tail(const struct rmt_ring *r);

/**
 * rmt_ring_ack() - release the @n oldest records (single consumer)
 * @r: the ring
 * @n: how many
 * Return: @n, or 0 when fewer than @n records are there (none is released).
 */
u32 rmt_ring_ack(struct rmt_ring *r, u32 n);

#endif /* _RMT_RING_H */
