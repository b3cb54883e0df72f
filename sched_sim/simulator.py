"""The time loop: 1 ms ticks, CFS-like run queues, wakeups, balancing, metrics.

Each tick: arrivals and wakeups are placed (select_task_rq, simplified:
previous CPU if idle, else an idle CPU of its node, else the previous CPU);
every CPU runs its tasks for 1 ms (smallest vruntime first, slices of
max(6 ms / nr_running, 0.75 ms), sub-millisecond stop times so `exec_start`
ages are continuous); a CPU that runs out of tasks does a newly-idle
balance on the spot; at the end of the tick each CPU runs its periodic
balance per domain when its interval has passed (idle CPUs as CPU_IDLE).

Modelled costs (docs/results.md, "Case study 1"):
* cache refill: a migrated task loses `cache_us * exp(-age / 5 ms)` of
  useful CPU time, scaled by how much cache the two CPUs share (SMT 0.1,
  MC 0.5, NUMA 1.0) and by 1.5 when it moves off the node its memory is on;
* load imbalance: per tick, max - min nr_running over CPUs, and CPU-ms left
  idle while another CPU had two or more runnable tasks.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from rmt.sched_sim.balance import load_balance, should_we_balance
from rmt.sched_sim.cfs import (CPU_IDLE, CPU_NEWLY_IDLE, CPU_NOT_IDLE, LbEnv, Sysctl,
                           can_migrate_task)
from rmt.sched_sim.hook import Hook
from rmt.sched_sim.task import IDLE_POLICY, NORMAL, PELT_Y, RunQueue, Task
from rmt.sched_sim.topology import BALANCE_INTERVAL_MS, BUSY_FACTOR, MC, NUMA, SMT, Topology
from rmt.sched_sim.workloads import Workload

SHARE_FACTOR = {SMT: 0.1, MC: 0.5, NUMA: 1.0}
SCHED_NR_LATENCY = 8                # sysctl_sched_latency / sysctl_sched_min_granularity
WAKEUP_GRAN_MS = 1.0                # sysctl_sched_wakeup_granularity before CPU scaling
SCHED_LATENCY_MS = 6.0              # sysctl_sched_latency before CPU scaling
CACHE_DECAY_NS = 5_000_000
NUMA_SCAN_MS = 64


@dataclass
class Call:
    """Ground truth for one can_migrate_task call."""
    reason: str
    kernel: bool
    hard_veto: bool
    hot: int
    forced: bool
    decided: bool


@dataclass
class Metrics:
    ticks: int = 0
    migrations: int = 0
    forced_migrations: int = 0          # forced migrations that happened
    vetoed_forced: int = 0              # forced migrations a program prevented
    refill_us: float = 0.0
    imbalance_sum: int = 0              # sum over ticks of max - min nr_running
    idle_overload_ms: int = 0           # idle CPU-ms while some CPU had >= 2 tasks
    work_ms: float = 0.0                # useful CPU time delivered to tasks
    balance_calls: int = 0
    calls: list[Call] = field(default_factory=list)

    @property
    def mean_imbalance(self) -> float:
        return self.imbalance_sum / max(self.ticks, 1)

    def summary(self) -> dict[str, float]:
        n = len(self.calls)
        return {"calls": n, "soft_calls": sum(not c.hard_veto for c in self.calls),
                "forced_calls": sum(c.forced for c in self.calls),
                "migrations": self.migrations, "forced_migrations": self.forced_migrations,
                "vetoed_forced": self.vetoed_forced, "refill_ms": self.refill_us / 1000,
                "mean_imbalance": self.mean_imbalance,
                "idle_overload_ms": self.idle_overload_ms, "work_ms": self.work_ms}


class Simulator:
    def __init__(self, wl: Workload, hook: Hook | None = None, sysctl: Sysctl | None = None,
                 keep_calls: bool = True):
        self.wl = wl
        self.topo = Topology(*wl.topology)
        self.rng = random.Random(wl.seed * 7919 + 17)
        self.hook = hook or Hook(None)
        self.sysctl = sysctl or Sysctl(migration_cost_ns=wl.migration_cost_ns,
                                       numa_balancing=self.topo.nodes > 1)
        self.rqs = [RunQueue(c, self.topo.node_of(c)) for c in range(self.topo.ncpus)]
        self.tasks: list[Task] = []
        self.arrivals = sorted(wl.arrivals, key=lambda a: a[0])
        self.metrics = Metrics()
        self.keep_calls = keep_calls
        self.now_ms = 0
        self._throttled: set[tuple[int, int]] = set()
        self._went_idle = [False] * self.topo.ncpus
        # update_sysctl(): the granularities scale by 1 + ilog2(min(ncpus, 8)) (the default
        # SCHED_TUNABLESCALING_LOG)
        factor = 1 + int(math.log2(min(self.topo.ncpus, 8)))
        self.wakeup_gran_ms = WAKEUP_GRAN_MS * factor
        self.sleeper_credit_ms = SCHED_LATENCY_MS * factor / 2
        for doms in self.topo.domains:                  # stagger periodic balancing
            for sd in doms:
                sd.last_balance_ms = -self.rng.randrange(BALANCE_INTERVAL_MS[sd.level])
        for t in wl.tasks:
            self._start(t, t.cpu)

    # ------------------------------------------------------------ hook plumbing

    def throttled(self, cgroup: int, cpu: int) -> bool:
        return (cgroup, cpu) in self._throttled

    def can_migrate(self, p: Task, env: LbEnv) -> bool:
        v = can_migrate_task(p, env)
        d = self.hook.decide(p, env, v)
        if self.keep_calls:
            self.metrics.calls.append(Call(v.reason, v.migrate, v.hard_veto, v.hot, v.forced, d))
        if v.forced:
            if d:
                self.metrics.forced_migrations += 1
            else:
                self.metrics.vetoed_forced += 1
        return d

    def migrate(self, p: Task, src: RunQueue, dst: RunQueue, now_ns: int) -> None:
        level = self.topo.domain_between(src.cpu, dst.cpu).level
        age = max(now_ns - p.exec_start_ns, 0)
        cost = p.cache_us * math.exp(-age / CACHE_DECAY_NS) * SHARE_FACTOR[level]
        if p.home_node >= 0 and src.node == p.home_node != dst.node:
            cost *= 1.5
        p.debt_ms += cost / 1000
        self.metrics.refill_us += cost
        self.metrics.migrations += 1
        p.migrations += 1
        p.vruntime += self._min_vruntime(dst) - self._min_vruntime(src)
        src.remove(p)
        dst.add(p)
        # attach_task() -> check_preempt_curr(): a migrated task far enough left of dst's
        # running task preempts it and becomes dst's next buddy, like a wakee
        self._check_preempt_wakeup(dst, p)

    # ------------------------------------------------------------ task life

    @staticmethod
    def _min_vruntime(rq: RunQueue) -> float:
        return min((t.vruntime for t in rq.tasks), default=0.0)

    def _start(self, t: Task, cpu: int) -> None:
        self.tasks.append(t)
        t.load_avg = float(t.weight)            # init_entity_runnable_average()
        t.burst_left_ms = self._draw_burst(t)
        t.exec_start_ns = self.now_ms * 1_000_000
        self._enqueue(t, cpu)

    def _draw_burst(self, t: Task) -> float:
        if math.isinf(t.mean_burst_ms):
            return math.inf
        return max(0.05, self.rng.expovariate(1 / t.mean_burst_ms))

    def _gran(self, t: Task) -> float:
        """wakeup_gran(): the wakeup granularity in ``t``'s virtual time."""
        return self.wakeup_gran_ms * 1024 / t.weight

    def _wakeup_preempt(self, curr: Task, t: Task) -> int:
        """6.1 wakeup_preempt_entity(curr, t): -1 if t is not left of curr, 1 if it is
        more than a wakeup granularity left of it, 0 in between."""
        vdiff = curr.vruntime - t.vruntime
        if vdiff <= 0:
            return -1
        return 1 if vdiff > self._gran(t) else 0

    def _enqueue(self, t: Task, cpu: int) -> None:
        rq = self.rqs[cpu]
        # place_entity(): a waking task gets at most sched_latency / 2 of sleeper credit
        # (GENTLE_FAIR_SLEEPERS); sched_latency is 6 ms scaled like the granularities
        t.vruntime = max(t.vruntime, self._min_vruntime(rq) - self.sleeper_credit_ms)
        rq.add(t)
        self._went_idle[cpu] = False
        self._check_preempt_wakeup(rq, t)

    def _check_preempt_wakeup(self, rq: RunQueue, t: Task) -> None:
        """6.1 check_preempt_wakeup() for a fair task woken (or forked) onto ``rq``: if it
        is far enough left of the running task it becomes cfs_rq->next and the running task
        is preempted; with sched_nr_latency or more tasks queued, the preempted task becomes
        cfs_rq->last. The buddies stay until that task is picked, dequeued or (curr) runs
        out its slice -- a wakee that preempted but is not picked next (another task is
        further left) stays `next` while it waits, which is what makes buddy-hot calls of
        tasks whose exec age is long past the migration cost."""
        curr = rq.curr
        if curr is None or curr is t or rq.slice_left_ms <= 1e-9:     # need_resched already
            return
        if curr.policy == IDLE_POLICY and t.policy != IDLE_POLICY:
            self._preempt(rq, curr, scale=rq.nr_running >= SCHED_NR_LATENCY)
            return
        if t.policy != NORMAL:
            return
        if self._wakeup_preempt(curr, t) == 1:
            rq.next_buddy = t.pid
            self._preempt(rq, curr, scale=rq.nr_running >= SCHED_NR_LATENCY)

    @staticmethod
    def _preempt(rq: RunQueue, curr: Task, scale: bool) -> None:
        rq.slice_left_ms = 0.0                     # resched_curr(): switch at once
        rq.preempted = True
        if scale:
            rq.last_buddy = curr.pid

    def _pick_next(self, rq: RunQueue) -> Task:
        """6.1 pick_next_entity(): the leftmost task, unless the next (else last) buddy is
        within a wakeup granularity of it; set_next_entity() then clears the buddy
        pointers that point at the picked task (only those)."""
        left = min(rq.tasks, key=lambda x: x.vruntime)
        se = left
        for pid in (rq.next_buddy, rq.last_buddy):
            b = rq.buddy_task(pid)
            if b is not None and self._wakeup_preempt(b, left) < 1:
                se = b
                break
        rq.clear_buddies(se)
        return se

    def _select_cpu(self, t: Task) -> int:
        prev = t.cpu
        if t.can_run_on(prev) and self.rqs[prev].nr_running == 0:
            return prev
        node = self.topo.node_of(prev)
        for c in self.topo.node_cpus(node):
            if t.can_run_on(c) and self.rqs[c].nr_running == 0:
                return c
        if t.can_run_on(prev):
            return prev
        return min(t.allowed)                      # type: ignore[arg-type]

    # ------------------------------------------------------------ the loop

    def run(self) -> Metrics:
        ai = 0
        for now in range(self.wl.duration_ms):
            self.now_ms = now
            t0 = now * 1_000_000
            while ai < len(self.arrivals) and self.arrivals[ai][0] <= now:
                _, t = self.arrivals[ai]
                self._start(t, t.cpu)
                ai += 1
            self._wake(now, late=False)
            if now % 5 == 0 and self.wl.throttle:
                self._throttled = {(g, c) for g, prob in self.wl.throttle.items()
                                   for c in range(self.topo.ncpus) if self.rng.random() < prob}
            for cpu in range(self.topo.ncpus):
                self._run_cpu(cpu, t0)
            self._wake(now, late=True)
            for cpu in range(self.topo.ncpus):
                self._rebalance(cpu, t0 + 1_000_000 + self.rng.randrange(100_000))
            self._account()
            self.tasks = [t for t in self.tasks if not t.exited]
        return self.metrics

    def _wake(self, now: int, late: bool) -> None:
        """Wake the tasks due in this tick: at its start those due in its first half, after
        the run phase (before the tick's balancing) those due in its second half. A late
        wakee waits on its queue for the next tick (as a wakee waits for the switch to it)
        -- still cfs_rq->next if it preempted -- so the balancer can meet it there."""
        for t in self.tasks:
            if t.exited or t.wake_at_ms < 0 or t.wake_at_ms > now:
                continue
            if t.wake_at_ms == now and t.wake_late != late:
                continue
            t.wake_at_ms = -1
            t.burst_left_ms = self._draw_burst(t)
            self._enqueue(t, self._select_cpu(t))

    def _run_cpu(self, cpu: int, t0: int) -> None:
        rq, t = self.rqs[cpu], 0.0
        while t < 1.0 - 1e-9:
            if rq.curr is None:
                if not rq.tasks:
                    if self._went_idle[cpu]:
                        self._went_idle[cpu] = False
                        self._newidle(cpu, t0 + int(t * 1e6))
                        continue
                    break
                p = self._pick_next(rq)
                rq.preempted = False
                rq.curr = p
                rq.tasks.remove(p)
                rq.tasks.insert(0, p)
                rq.slice_left_ms = max(6.0 / rq.nr_running, 0.75)
            p = rq.curr
            run = min(1.0 - t, p.burst_left_ms, rq.slice_left_ms, p.work_ms - p.done_ms + p.debt_ms)
            run = max(run, 1e-6)
            t += run
            pay = min(p.debt_ms, run)
            p.debt_ms -= pay
            p.done_ms += run - pay
            self.metrics.work_ms += run - pay
            p.vruntime += run * 1024 / p.weight
            p.burst_left_ms -= run
            rq.slice_left_ms -= run
            p.exec_start_ns = t0 + int(t * 1e6)
            self._numa_fault(p, rq.node, run)
            if p.done_ms >= p.work_ms - 1e-9:
                p.exited = True
                rq.remove(p)
            elif p.burst_left_ms <= 1e-9:
                sleep = self.rng.expovariate(1 / max(p.mean_sleep_ms, 1e-3))
                p.wake_at_ms = self.now_ms + 1 + int(sleep)
                p.wake_late = sleep - int(sleep) >= 0.5     # in the second half of its tick
                rq.remove(p)
            elif rq.slice_left_ms <= 1e-9:
                # check_preempt_tick(): a task that used up its slice must not be re-picked
                # for being a buddy; a wakeup preemption keeps the buddies it just set
                if not rq.preempted:
                    rq.clear_buddies(p)
                rq.preempted = False
                rq.curr = None
            if not rq.tasks:
                self._went_idle[cpu] = True

    def _numa_fault(self, p: Task, node: int, run: float) -> None:
        if p.numa_faults is None:
            return
        mem = p.home_node if p.home_node >= 0 else node
        p.numa_faults[mem] += int(3 * run + 0.5)
        p.numa_faults[node] += int(run + 0.5)

    def _newidle(self, cpu: int, now_ns: int) -> None:
        for sd in self.topo.domains[cpu]:
            self.metrics.balance_calls += 1
            if load_balance(self, cpu, sd, CPU_NEWLY_IDLE, now_ns):
                break

    def _rebalance(self, cpu: int, now_ns: int) -> None:
        idle = CPU_IDLE if self.rqs[cpu].nr_running == 0 else CPU_NOT_IDLE
        for sd in self.topo.domains[cpu]:
            interval = BALANCE_INTERVAL_MS[sd.level] * (1 if idle == CPU_IDLE else BUSY_FACTOR)
            if self.now_ms - sd.last_balance_ms < interval:
                continue
            sd.last_balance_ms = self.now_ms
            if should_we_balance(self, cpu, sd, idle):
                self.metrics.balance_calls += 1
                if load_balance(self, cpu, sd, idle, now_ns):
                    idle = CPU_NOT_IDLE

    def _account(self) -> None:
        m = self.metrics
        m.ticks += 1
        nrs = [rq.nr_running for rq in self.rqs]
        m.imbalance_sum += max(nrs) - min(nrs)
        if max(nrs) >= 2:
            m.idle_overload_ms += nrs.count(0)
        for t in self.tasks:
            runnable = t.wake_at_ms < 0 and not t.exited
            t.load_avg = t.load_avg * PELT_Y + (1 - PELT_Y) * t.weight * runnable
            if t.numa_faults is not None and self.now_ms % NUMA_SCAN_MS == 0:
                t.numa_faults = [f - f // 2 for f in t.numa_faults]   # as task_numa_placement()
                if sum(t.numa_faults):
                    t.numa_preferred_nid = max(range(len(t.numa_faults)),
                                               key=lambda n: t.numa_faults[n])
