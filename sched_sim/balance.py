"""load_balance() and its helpers, shaped after Linux 6.1 where it matters for
can_migrate_task: which calls happen (detach_tasks walks cfs_tasks from the
tail, at most sched_nr_migrate = 32 of them, stops early for newly-idle
balancing), how `nr_balance_failed` grows (each failed balance that is not
newly idle) and resets (on success and when balanced), the LBF_DST_PINNED
retry, and active balancing once `nr_balance_failed > cache_nice_tries + 2`,
after which the kernel sets it to `cache_nice_tries + 1`.

Group statistics are simplified (group_overloaded / fully_busy / has_spare
by task counts, average load by PELT sums); their exact arithmetic changes
which queue is picked, not what can_migrate_task sees.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rmt.sched_sim.cfs import (CPU_IDLE, CPU_NEWLY_IDLE, CPU_NOT_IDLE, LBF_ACTIVE_LB,
                               LBF_ALL_PINNED, LBF_DST_PINNED, LbEnv, Sysctl)
from rmt.sched_sim.task import RunQueue, Task
from rmt.sched_sim.topology import NUMA, Domain, Topology


class Simulator(Protocol):
    """What load balancing needs of the machine it balances (sched_sim/simulator.py's
    Simulator provides it; balancing never reaches further into the simulation)."""
    rqs: list[RunQueue]
    sysctl: Sysctl
    topo: Topology

    def throttled(self, cgroup: int, cpu: int) -> bool: ...
    def can_migrate(self, p: Task, env: LbEnv) -> bool: ...
    def migrate(self, p: Task, src: RunQueue, dst: RunQueue, now_ns: int) -> None: ...

SCHED_NR_MIGRATE = 32
MIGRATE_TASK, MIGRATE_LOAD = "task", "load"
HAS_SPARE, FULLY_BUSY, OVERLOADED = 0, 1, 2


@dataclass
class GroupStats:
    cpus: tuple[int, ...]
    nr: int
    load: float
    idle_cpus: int

    @property
    def avg_load(self) -> float:
        return self.load / len(self.cpus)

    @property
    def type(self) -> int:
        if self.nr > len(self.cpus):
            return OVERLOADED
        return FULLY_BUSY if self.nr == len(self.cpus) else HAS_SPARE


def group_stats(sim: "Simulator", cpus: tuple[int, ...]) -> GroupStats:
    rqs = [sim.rqs[c] for c in cpus]
    return GroupStats(cpus, sum(r.nr_running for r in rqs), sum(r.load for r in rqs),
                      sum(1 for r in rqs if r.nr_running == 0))


def find_imbalance(sd: Domain, local: GroupStats, busiest: GroupStats) -> tuple[str, float] | None:
    """(migration type, imbalance) or None when balanced."""
    if busiest.nr == 0:
        return None
    if local.type == HAS_SPARE:
        if busiest.type == HAS_SPARE and busiest.nr - local.nr <= 1:
            return None
        diff = busiest.nr / len(busiest.cpus) - local.nr / len(local.cpus)
        n = max(1, int(diff * len(local.cpus) / 2 + 0.5))
        if sd.level == NUMA and busiest.nr <= max(2, len(busiest.cpus) // 4):
            return None          # 6.1 allows a small NUMA imbalance (imb_numa_nr)
        return (MIGRATE_TASK, n) if busiest.nr > 1 else None
    if busiest.type == OVERLOADED and busiest.avg_load * 100 > local.avg_load * sd_pct(sd):
        return MIGRATE_LOAD, (busiest.avg_load - local.avg_load) * len(local.cpus) / 2
    return None


def sd_pct(sd: Domain) -> int:
    from rmt.sched_sim.topology import IMBALANCE_PCT
    return IMBALANCE_PCT[sd.level]


def should_we_balance(sim: "Simulator", cpu: int, sd: Domain, idle: int) -> bool:
    """The first idle CPU of the local group balances for it, else its first CPU."""
    if idle == CPU_NEWLY_IDLE:
        return True
    local = sd.groups[0]
    idle_cpus = [c for c in local if sim.rqs[c].nr_running == 0]
    return cpu == (idle_cpus[0] if idle_cpus else local[0])


def load_balance(sim: "Simulator", cpu: int, sd: Domain, idle: int, now_ns: int) -> int:
    """One balance attempt of `cpu` at `sd`; returns the number of tasks pulled."""
    local = group_stats(sim, sd.groups[0])
    others = [group_stats(sim, g) for g in sd.groups[1:]]
    if not others:
        return 0
    busiest = max(others, key=lambda g: (g.type, g.avg_load, g.nr))
    imb = find_imbalance(sd, local, busiest)
    if imb is None:
        sd.nr_balance_failed = 0                     # out_balanced
        return 0
    mtype, imbalance = imb
    if mtype == MIGRATE_TASK:
        src = max((sim.rqs[c] for c in busiest.cpus), key=lambda r: r.nr_running)
    else:
        cands = [sim.rqs[c] for c in busiest.cpus
                 if not (sim.rqs[c].nr_running == 1 and sim.rqs[c].load > imbalance)]
        if not cands:
            sd.nr_balance_failed = 0
            return 0
        src = max(cands, key=lambda r: r.load)
    env = LbEnv(sd, src, sim.rqs[cpu], idle, now_ns, dst_grpmask=sd.groups[0],
                cpus=frozenset(sd.span), throttled=sim.throttled, sysctl=sim.sysctl)
    moved = 0
    if src.nr_running > 1:
        env.flags = LBF_ALL_PINNED
        moved, imbalance = detach_tasks(sim, env, mtype, imbalance)
        if env.flags & LBF_DST_PINNED and imbalance > 0 and env.new_dst_cpu >= 0:
            # more_balance: try the CPU of the local group the pinned task allows
            env.dst_rq = sim.rqs[env.new_dst_cpu]
            env.flags &= ~LBF_DST_PINNED
            more, imbalance = detach_tasks(sim, env, mtype, imbalance)
            moved += more
        if not moved and env.flags & LBF_ALL_PINNED:
            sd.nr_balance_failed = 0                 # out_all_pinned
            return 0
    if moved:
        sd.nr_balance_failed = 0
        return moved
    if idle != CPU_NEWLY_IDLE:
        sd.nr_balance_failed += 1
    if mtype == MIGRATE_TASK and sd.nr_balance_failed > sd.cache_nice_tries + 2:
        curr = src.curr
        if curr is not None and curr.can_run_on(cpu) and not src.active_balance:
            moved = active_balance(sim, cpu, src, now_ns)
            sd.nr_balance_failed = sd.cache_nice_tries + 1
    return moved


def detach_tasks(sim: "Simulator", env: LbEnv, mtype: str, imbalance: float) -> tuple[int, float]:
    src, moved, loop = env.src_rq, 0, 0
    loop_max = min(SCHED_NR_MIGRATE, src.nr_running)
    for p in list(reversed(src.tasks)):
        if env.idle != CPU_NOT_IDLE and src.nr_running <= 1:
            break
        loop += 1
        if loop > loop_max:
            break
        if not sim.can_migrate(p, env):
            src.tasks.remove(p)                      # list_move(): rotate to the head
            src.tasks.insert(0, p)
            continue
        if mtype == MIGRATE_LOAD:
            load = max(p.load_avg, 1.0)
            if load < 16 and not env.sd.nr_balance_failed:
                continue
            if int(load) >> min(env.sd.nr_balance_failed, 31) > imbalance:
                continue
            imbalance -= load
        else:
            imbalance -= 1
        sim.migrate(p, env.src_rq, env.dst_rq, env.now_ns)
        moved += 1
        if env.idle == CPU_NEWLY_IDLE or imbalance <= 0:
            break
    return moved, imbalance


def active_balance(sim: "Simulator", cpu: int, src, now_ns: int) -> int:
    """active_load_balance_cpu_stop(): the stopper preempts src's task, then pulls
    the first task can_migrate_task allows, with LBF_ACTIVE_LB set."""
    dst = sim.rqs[cpu]
    sd = sim.topo.domain_between(cpu, src.cpu)
    env = LbEnv(sd, src, dst, CPU_IDLE, now_ns, flags=LBF_ACTIVE_LB, throttled=sim.throttled,
                sysctl=sim.sysctl)
    src.active_balance = True
    src.curr = None                                  # the stopper is running now
    try:
        for p in list(reversed(src.tasks)):
            if sim.can_migrate(p, env):
                sim.migrate(p, src, dst, now_ns)
                return 1
        return 0
    finally:
        src.active_balance = False
