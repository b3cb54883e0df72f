// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_ring.c: the bounded MPSC trace ring; see rmt_ring.h.
 *
 * Slot i starts with seq == i.  A producer at position pos may fill the slot
 * when seq == pos; it then publishes seq = pos + 1.  The consumer at position
 * pos may take the slot when seq == pos + 1 and hands it back with
 * seq = pos + capacity.  seq < pos means the ring is full.
 */
#include "rmt_ring.h"
#include "rmt_alloc.h"

struct rmt_ring_slot {
	u64 seq;
	struct rmt_trace_rec rec;
};

struct rmt_ring {
	u64 head;	/* next position to reserve (producers) */
	u64 tail;	/* next position to take (consumer) */
	u32 mask;
	struct rmt_ring_slot slots[];
};

struct rmt_ring *rmt_ring_create(u32 capacity)
{
	struct rmt_ring *r;
	u32 i;

	if (!rmt_ring_capacity_ok(capacity))
		return NULL;
	r = rmt_kvzalloc(sizeof(*r) + (size_t)capacity * sizeof(r->slots[0]), GFP_KERNEL);
	if (!r)
		return NULL;
	r->mask = capacity - 1;
	for (i = 0; i < capacity; i++)
		r->slots[i].seq = i;
	return r;
}

void rmt_ring_destroy(struct rmt_ring *r)
{
	rmt_kvfree(r);
}

/*
 * Claim the next free slot for a producer (Vyukov's bounded MPMC queue): a
 * slot whose seq equals the head position is free.  Return it with its
 * position in @pos_out, or NULL when the ring is full.  The caller fills the
 * record and publishes it with rmt_ring_publish().
 */
static inline struct rmt_ring_slot *rmt_ring_claim(struct rmt_ring *r, u64 *pos_out)
{
	u64 pos = READ_ONCE(r->head);

	for (;;) {
		struct rmt_ring_slot *s = &r->slots[pos & r->mask];
		/* acquire: the consumer's read of the record is done before it freed the slot */
		u64 seq = smp_load_acquire(&s->seq);
		s64 dif = (s64)(seq - pos);
		u64 old;

		if (dif < 0)
			return NULL;			/* not consumed yet: the ring is full */
		if (dif > 0) {
			pos = READ_ONCE(r->head);	/* another producer took it */
			continue;
		}
		old = cmpxchg(&r->head, pos, pos + 1);
		if (old == pos) {
			*pos_out = pos;
			return s;
		}
		pos = old;
	}
}

static inline void rmt_ring_publish(struct rmt_ring_slot *s, u64 pos)
{
	/* release: the record is written before the consumer sees the slot full */
	smp_store_release(&s->seq, pos + 1);
}

int rmt_ring_push(struct rmt_ring *r, const struct rmt_trace_rec *rec)
{
	struct rmt_ring_slot *s;
	u64 pos;

	s = rmt_ring_claim(r, &pos);
	if (!s)
		return -ENOSPC;
	s->rec = *rec;
	rmt_ring_publish(s, pos);
	return 0;
}

int rmt_ring_push_vals(struct rmt_ring *r, u32 fmt, u32 cpu, u64 ts, const void *vals, u32 n)
{
	struct rmt_ring_slot *s;
	u64 pos;

	s = rmt_ring_claim(r, &pos);
	if (!s)
		return -ENOSPC;
	/* filled in place: no record built on the stack and copied in whole */
	rmt_trace_rec_init(&s->rec, fmt, cpu, ts, vals, n);
	rmt_ring_publish(s, pos);
	return 0;
}

bool rmt_ring_pop(struct rmt_ring *r, struct rmt_trace_rec *rec)
{
	u64 pos = r->tail;
	struct rmt_ring_slot *s = &r->slots[pos & r->mask];

	/* acquire: the producer's record is visible once its seq is */
	if (smp_load_acquire(&s->seq) != pos + 1)
		return false;
	*rec = s->rec;
	/* release: the record is read before a producer may reuse the slot */
	smp_store_release(&s->seq, pos + r->mask + 1);
	r->tail = pos + 1;
	return true;
}

bool rmt_ring_peek(struct rmt_ring *r, u64 k, struct rmt_trace_rec *rec)
{
	u64 pos = r->tail + k;
	struct rmt_ring_slot *s = &r->slots[pos & r->mask];

	/*
	 * Published and not handed back: producers cannot reuse the slot until
	 * rmt_ring_ack() releases it, so the copy is stable.  A @k past the
	 * capacity lands on a slot whose seq is not pos + 1.
	 */
	/* acquire: the producer's record is visible once its seq is */
	if (smp_load_acquire(&s->seq) != pos + 1)
		return false;
	*rec = s->rec;
	return true;
}

u64 rmt_ring_tail(const struct rmt_ring *r)
{
	return r->tail;
}

u32 rmt_ring_ack(struct rmt_ring *r, u32 n)
{
	u32 i;

	for (i = 0; i < n; i++)		/* all @n published, or none taken */
		if (smp_load_acquire(&r->slots[(r->tail + i) & r->mask].seq) != r->tail + i + 1)
			return 0;
	for (i = 0; i < n; i++) {
		u64 pos = r->tail;
		struct rmt_ring_slot *s = &r->slots[pos & r->mask];

		/* pairs with the producer's release of seq, as in rmt_ring_pop() */
		/* acquire: the producer's record is visible once its seq is */
	if (smp_load_acquire(&s->seq) != pos + 1)
			break;
		/* the slot back to producers, after our reads of it */
		/* release: the record is read before a producer may reuse the slot */
	smp_store_release(&s->seq, pos + r->mask + 1);
		r->tail = pos + 1;
	}
	return i;
}
