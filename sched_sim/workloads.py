"""Seeded workload mixes: the same (kind, seed, size) always gives the same tasks.

Kinds: cpu_bound (CPU hogs piled on a few CPUs), bursty (run/sleep cycles),
pinned (affinity masks, a throttled CFS-bandwidth group, per-CPU kthreads),
short (waves of short-lived tasks forked on one or two CPUs, like make -j),
numa (tasks whose memory lives on one node, many started on the other),
mixed (all of the above at once, with other parameters).  Every workload
also gets one per-CPU kthread per CPU.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from rmt.sched_sim.task import Task
from rmt.sched_sim.topology import Topology

KINDS = ("cpu_bound", "bursty", "pinned", "short", "numa", "mixed")


@dataclass
class Workload:
    name: str
    kind: str
    seed: int
    topology: tuple[int, int, int]                  # nodes, cores per node, threads per core
    duration_ms: int
    tasks: list[Task] = field(default_factory=list)
    arrivals: list[tuple[int, Task]] = field(default_factory=list)
    throttle: dict[int, float] = field(default_factory=dict)   # cgroup -> P(throttled)
    # sysctl_sched_migration_cost: 0.5 ms by default; tuned's throughput-performance
    # profile sets 5 ms, which makes cache-hot (and forced) migrations far more common
    migration_cost_ns: int = 500_000


class _Gen:
    """Task factory for one workload; pids are unique within it."""

    def __init__(self, topo: Topology, rng: random.Random):
        self.topo, self.rng, self.pid = topo, rng, 100

    def task(self, cpu: int, **kw) -> Task:
        self.pid += 1
        kw.setdefault("cache_us", self.rng.uniform(20, 300))
        return Task(self.pid, cpu, **kw)

    def hog(self, cpu: int, **kw) -> Task:
        return self.task(cpu, **kw)

    def bursty(self, cpu: int, **kw) -> Task:
        kw.setdefault("mean_burst_ms", self.rng.uniform(0.3, 4.0))
        kw.setdefault("mean_sleep_ms", self.rng.uniform(0.5, 12.0))
        return self.task(cpu, **kw)

    def numa_task(self, cpu: int, home: int, **kw) -> Task:
        kw.setdefault("numa_faults", [0] * self.topo.nodes)
        kw["numa_faults"][home] = self.rng.randrange(20, 200)
        kw.setdefault("numa_preferred_nid", home)
        return self.task(cpu, home_node=home, **kw)

    def kthreads(self) -> list[Task]:
        return [self.task(c, allowed=frozenset({c}), kthread_per_cpu=True, mean_burst_ms=0.1,
                          mean_sleep_ms=self.rng.uniform(4, 20), cache_us=5.0)
                for c in range(self.topo.ncpus)]


def make(kind: str, seed: int, *, topology: tuple[int, int, int] = (2, 4, 2),
         duration_ms: int = 3000, load: float = 1.5,
         migration_cost_ns: int | None = None) -> Workload:
    """A workload of `kind`; `load` scales the number of tasks per CPU; the
    migration cost is drawn from the seed unless given."""
    if kind not in KINDS:
        raise ValueError(f"unknown workload kind {kind!r} (have: {', '.join(KINDS)})")
    rng = random.Random(f"{kind}/{seed}")
    topo = Topology(*topology)
    g = _Gen(topo, rng)
    n = max(2, int(topo.ncpus * load))
    ncpu = topo.ncpus
    wl = Workload(f"{kind}-s{seed}-{'x'.join(map(str, topology))}", kind, seed, topology,
                  duration_ms)
    wl.migration_cost_ns = rng.choice((500_000, 500_000, 2_000_000, 5_000_000))
    if migration_cost_ns is not None:
        wl.migration_cost_ns = migration_cost_ns
    wl.tasks += g.kthreads()

    def some_cpus(k: int) -> list[int]:
        return rng.sample(range(ncpu), k=min(k, ncpu))

    if kind in ("cpu_bound", "mixed"):
        pile = some_cpus(max(1, ncpu // 4))
        for _ in range(n if kind == "cpu_bound" else n // 4):
            wl.tasks.append(g.hog(rng.choice(pile)))
    if kind in ("bursty", "mixed"):
        for _ in range(2 * n if kind == "bursty" else n // 2):
            wl.tasks.append(g.bursty(rng.randrange(ncpu)))
    if kind in ("pinned", "mixed"):
        for i in range(n if kind == "pinned" else n // 4):
            mask = None
            r = rng.random()
            if r < 0.2:
                mask = frozenset(topo.core_cpus(topo.core_of(rng.randrange(ncpu))))
            elif r < 0.4:
                mask = frozenset(topo.node_cpus(rng.randrange(topo.nodes)))
            elif r < 0.5:
                mask = frozenset(some_cpus(2))
            cpu = rng.choice(sorted(mask)) if mask else rng.randrange(ncpu)
            cg = 1 if rng.random() < 0.3 else 0
            mk = g.hog if rng.random() < 0.5 else g.bursty
            wl.tasks.append(mk(cpu, allowed=mask, cgroup=cg))
        wl.throttle = {1: 0.15}
    if kind in ("short", "mixed"):
        for _ in range(max(1, ncpu // 8)):
            wl.tasks.append(g.hog(rng.randrange(ncpu)))
        period = rng.randrange(15, 40)
        for t0 in range(0, duration_ms - 5, period):
            src = some_cpus(rng.choice((1, 2)))
            for _ in range(rng.randrange(ncpu // 2, ncpu + 1)):
                wl.arrivals.append((t0, g.task(rng.choice(src), work_ms=rng.uniform(1, 20),
                                               mean_burst_ms=rng.uniform(0.5, 3),
                                               mean_sleep_ms=rng.uniform(0.2, 2))))
    if kind in ("numa", "mixed") and topo.nodes > 1:
        for _ in range(n if kind == "numa" else n // 3):
            home = rng.randrange(topo.nodes)
            node = home if rng.random() < 0.5 else rng.randrange(topo.nodes)
            cpu = rng.choice(topo.node_cpus(node))
            if rng.random() < 0.5:
                wl.tasks.append(g.numa_task(cpu, home, cache_us=rng.uniform(100, 400)))
            else:
                wl.tasks.append(g.numa_task(cpu, home, mean_burst_ms=rng.uniform(1, 6),
                                            mean_sleep_ms=rng.uniform(1, 8)))
    return wl
