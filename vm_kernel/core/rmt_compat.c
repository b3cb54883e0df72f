// SPDX-License-Identifier: GPL-2.0
/*
 * rmt_compat.c: the userspace halves of rmt_compat.h (RCU).
 *
 * Only built in userspace; in the kernel the real RCU is used.  The scheme
 * (two-phase reader counters, like SRCU) is described in rmt_compat.h.
 */
#include "rmt_compat.h"

#ifndef __KERNEL__

static long rmt_urcu_readers[2];
static int rmt_urcu_phase;
static pthread_mutex_t rmt_urcu_gp_lock = PTHREAD_MUTEX_INITIALIZER;
__thread int rmt_urcu_nest;
static __thread int rmt_urcu_my_phase;

/* Outermost rcu_read_lock() of this thread: join the current phase. */
void rmt_urcu_read_lock_slow(void)
{
	int ph;

	ph = __atomic_load_n(&rmt_urcu_phase, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&rmt_urcu_readers[ph], 1, __ATOMIC_SEQ_CST);
	rmt_urcu_my_phase = ph;
}

/* Outermost rcu_read_unlock(): leave the phase joined. */
void rmt_urcu_read_unlock_slow(void)
{
	__atomic_sub_fetch(&rmt_urcu_readers[rmt_urcu_my_phase], 1, __ATOMIC_SEQ_CST);
}

static void rmt_urcu_flip_and_wait(void)
{
	int old = __atomic_load_n(&rmt_urcu_phase, __ATOMIC_SEQ_CST);

	__atomic_store_n(&rmt_urcu_phase, !old, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&rmt_urcu_readers[old], __ATOMIC_SEQ_CST))
		sched_yield();
}

void rmt_urcu_synchronize(void)
{
	/*
	 * Two flips: a reader that loaded the phase just before the first flip
	 * may increment the old counter after we saw it drain; the second flip
	 * waits for it too.
	 */
	pthread_mutex_lock(&rmt_urcu_gp_lock);
	rmt_urcu_flip_and_wait();
	rmt_urcu_flip_and_wait();
	pthread_mutex_unlock(&rmt_urcu_gp_lock);
}

#endif /* !__KERNEL__ */
