"""`can_migrate_task()` of Linux 6.1 (kernel/sched/fair.c), check for check.

The order and the side effects on env->flags follow the kernel
(REFERENCE.md); the one addition is the returned `Verdict`, which records
which branch decided, whether a hard constraint vetoed the move (the part a
program may never override), the cache-hot bit of step 6 and whether the
move is a *forced* migration (hot, but nr_balance_failed > cache_nice_tries),
the event the kernel counts in nr_forced_migrations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from rmt.sched_sim.task import IDLE_POLICY, NORMAL, RunQueue, Task
from rmt.sched_sim.topology import Domain

CPU_IDLE, CPU_NOT_IDLE, CPU_NEWLY_IDLE = 0, 1, 2

LBF_ALL_PINNED = 0x01
LBF_NEED_BREAK = 0x02
LBF_DST_PINNED = 0x04
LBF_SOME_PINNED = 0x08
LBF_ACTIVE_LB = 0x10

SYSCTL_MIGRATION_COST_NS = 500_000


@dataclass
class Sysctl:
    """The knobs can_migrate_task reads besides the task and env."""
    migration_cost_ns: int = SYSCTL_MIGRATION_COST_NS
    numa_balancing: bool = True
    cache_hot_buddy: bool = True              # sched_feat(CACHE_HOT_BUDDY)


@dataclass
class LbEnv:
    """The parts of struct lb_env that can_migrate_task reads or writes."""
    sd: Domain
    src_rq: RunQueue
    dst_rq: RunQueue
    idle: int
    now_ns: int
    dst_grpmask: tuple[int, ...] = ()
    cpus: frozenset[int] = frozenset()
    flags: int = 0
    new_dst_cpu: int = -1
    throttled: Callable[[int, int], bool] = field(default=lambda cgroup, cpu: False)
    sysctl: Sysctl = field(default_factory=Sysctl)

    @property
    def src_cpu(self) -> int:
        return self.src_rq.cpu

    @property
    def dst_cpu(self) -> int:
        return self.dst_rq.cpu


@dataclass(frozen=True)
class Verdict:
    migrate: bool
    hard_veto: bool           # steps 1-4: no program may change this
    hot: int                  # step 6 (migrate_degrades_locality, then task_hot); -1 not reached
    forced: bool              # hot, migrated only because balancing kept failing
    reason: str


def throttled_lb_pair(p: Task, env: LbEnv) -> bool:
    return p.cgroup != 0 and (env.throttled(p.cgroup, env.src_cpu)
                              or env.throttled(p.cgroup, env.dst_cpu))


def task_hot(p: Task, env: LbEnv) -> int:
    """6.1 task_hot(): 1 if moving p would throw away a warm cache."""
    if p.policy != NORMAL and p.policy != IDLE_POLICY:
        return 0                                   # not a fair task
    if p.policy == IDLE_POLICY:
        return 0
    if env.sd.is_smt:                              # SD_SHARE_CPUCAPACITY: siblings share cache
        return 0
    if (env.sysctl.cache_hot_buddy and env.dst_rq.nr_running
            and env.src_rq.is_buddy(p)):
        return 1
    if env.sysctl.migration_cost_ns == -1:
        return 1
    # sched_core_cookie_match(): no core scheduling in the simulator, always a match
    if env.sysctl.migration_cost_ns == 0:
        return 0
    delta = env.now_ns - p.exec_start_ns
    return int(delta < env.sysctl.migration_cost_ns)


def task_weight(p: Task, nid: int) -> int:
    """1000 * faults on nid / total faults (NUMA_DIRECT: no nearby-node score)."""
    total = p.total_faults
    return 1000 * p.numa_faults[nid] // total if total else 0


def migrate_degrades_locality(p: Task, env: LbEnv) -> int:
    """6.1: 1 degrades, 0 improves, -1 no opinion (then task_hot decides)."""
    if not env.sysctl.numa_balancing:
        return -1
    if not p.numa_faults or not env.sd.is_numa:
        return -1
    src_nid, dst_nid = env.src_rq.node, env.dst_rq.node
    if src_nid == dst_nid:
        return -1
    if src_nid == p.numa_preferred_nid:           # moving away from the preferred node
        if env.src_rq.nr_running > env.src_rq.nr_preferred_running:
            return 1
        return -1
    if dst_nid == p.numa_preferred_nid:           # encourage moving to the preferred node
        return 0
    if env.idle == CPU_IDLE:                       # leaving a core idle is worse
        return -1
    return int(task_weight(p, dst_nid) < task_weight(p, src_nid))


def hotness(p: Task, env: LbEnv) -> int:
    hot = migrate_degrades_locality(p, env)
    if hot == -1:
        hot = task_hot(p, env)
    return hot


def can_migrate_task(p: Task, env: LbEnv) -> Verdict:
    """Linux 6.1 can_migrate_task(), including its env->flags side effects."""
    if throttled_lb_pair(p, env):
        return Verdict(False, True, -1, False, "throttled")
    if p.kthread_per_cpu:
        return Verdict(False, True, -1, False, "kthread")
    if not p.can_run_on(env.dst_cpu):
        env.flags |= LBF_SOME_PINNED
        if not (env.idle == CPU_NEWLY_IDLE or env.flags & (LBF_DST_PINNED | LBF_ACTIVE_LB)):
            for cpu in env.dst_grpmask:
                if cpu in env.cpus and p.can_run_on(cpu):
                    env.flags |= LBF_DST_PINNED
                    env.new_dst_cpu = cpu
                    break
        return Verdict(False, True, -1, False, "affinity")
    env.flags &= ~LBF_ALL_PINNED
    if env.src_rq.curr is p:
        return Verdict(False, True, -1, False, "running")
    if env.flags & LBF_ACTIVE_LB:
        return Verdict(True, False, -1, False, "active")
    hot = hotness(p, env)
    if hot <= 0 or env.sd.nr_balance_failed > env.sd.cache_nice_tries:
        if hot == 1:
            return Verdict(True, False, 1, True, "forced")
        return Verdict(True, False, hot, False, "cold" if hot == 0 else "no-opinion")
    return Verdict(False, False, hot, False, "hot")
