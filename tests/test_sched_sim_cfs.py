"""The simulator's can_migrate_task against Linux 6.1, one hand-built case per branch.

Each case sets up exactly the state a branch of 6.1's can_migrate_task /
migrate_degrades_locality / task_hot reads (REFERENCE.md) and asserts the
kernel's verdict, the hard/soft split, the hot bit and the forced label.
"""
from __future__ import annotations

import pytest

from rmt.sched_sim.cfs import (CPU_IDLE, CPU_NEWLY_IDLE, CPU_NOT_IDLE, LBF_ACTIVE_LB,
                           LBF_ALL_PINNED, LBF_DST_PINNED, LBF_SOME_PINNED, LbEnv, Sysctl,
                           can_migrate_task, migrate_degrades_locality, task_hot)
from rmt.sched_sim.task import IDLE_POLICY, RT, RunQueue, Task
from rmt.sched_sim.topology import MC, NUMA, SMT, Topology

NOW = 10_000_000
COST = 500_000


def domain(level: int, failed: int = 0):
    topo = Topology(2, 2, 2)
    sd = next(d for d in topo.domains[0] if d.level == level)
    sd.nr_balance_failed = failed
    return sd


def setup(level=MC, failed=0, idle=CPU_NOT_IDLE, age=2 * COST, src_node=0, dst_node=0,
          dst_running=1, **task):
    """A task queued (not running) on src, balancing toward dst at `level`."""
    src, dst = RunQueue(0, src_node), RunQueue(2 if level != NUMA else 4, dst_node)
    p = Task(7, 0, exec_start_ns=NOW - age, **task)
    src.add(p)
    src.add(Task(8, 0))
    src.curr = src.tasks[0] if src.tasks[0] is not p else src.tasks[1]
    for k in range(dst_running):
        dst.add(Task(100 + k, dst.cpu))
    env = LbEnv(domain(level, failed), src, dst, idle, NOW, dst_grpmask=(2, 3),
                cpus=frozenset(range(8)), sysctl=Sysctl(COST))
    return p, env


def test_throttled_pair_is_a_hard_no():
    p, env = setup(cgroup=3, age=10 * COST)
    env.throttled = lambda cg, cpu: cg == 3 and cpu == env.dst_cpu
    v = can_migrate_task(p, env)
    assert (v.migrate, v.hard_veto, v.reason) == (False, True, "throttled")


def test_per_cpu_kthread_is_a_hard_no():
    p, env = setup(kthread_per_cpu=True, age=10 * COST)
    v = can_migrate_task(p, env)
    assert (v.migrate, v.hard_veto, v.reason) == (False, True, "kthread")


def test_affinity_sets_some_pinned_and_finds_new_dst():
    p, env = setup(allowed=frozenset({0, 3}))
    env.flags = LBF_ALL_PINNED
    v = can_migrate_task(p, env)
    assert (v.migrate, v.hard_veto, v.reason) == (False, True, "affinity")
    assert env.flags & LBF_SOME_PINNED and env.flags & LBF_DST_PINNED
    assert env.new_dst_cpu == 3 and env.flags & LBF_ALL_PINNED     # still all pinned


@pytest.mark.parametrize("idle,flags", [(CPU_NEWLY_IDLE, 0), (CPU_NOT_IDLE, LBF_DST_PINNED)])
def test_affinity_does_not_look_for_new_dst_when_newly_idle_or_already_found(idle, flags):
    p, env = setup(allowed=frozenset({0, 3}), idle=idle)
    env.flags = flags
    can_migrate_task(p, env)
    assert env.new_dst_cpu == -1 and env.flags & LBF_SOME_PINNED


def test_running_task_is_a_hard_no_but_clears_all_pinned():
    p, env = setup(age=10 * COST)
    env.src_rq.curr = p
    env.flags = LBF_ALL_PINNED
    v = can_migrate_task(p, env)
    assert (v.migrate, v.hard_veto, v.reason) == (False, True, "running")
    assert not env.flags & LBF_ALL_PINNED


def test_active_balance_migrates_even_a_hot_task():
    p, env = setup(age=0)
    env.flags = LBF_ACTIVE_LB
    v = can_migrate_task(p, env)
    assert (v.migrate, v.hard_veto, v.forced, v.reason) == (True, False, False, "active")


@pytest.mark.parametrize("age,hot", [(COST - 1, 1), (COST, 0), (5 * COST, 0)])
def test_task_hot_by_exec_start(age, hot):
    p, env = setup(age=age)
    assert task_hot(p, env) == hot
    v = can_migrate_task(p, env)
    assert (v.migrate, v.hot, v.reason) == (not hot, hot, "hot" if hot else "cold")


@pytest.mark.parametrize("failed,migrate", [(0, False), (1, False), (2, True), (9, True)])
def test_hot_task_is_forced_once_failures_exceed_cache_nice_tries(failed, migrate):
    p, env = setup(level=MC, failed=failed, age=0)       # MC: cache_nice_tries 1
    assert env.sd.cache_nice_tries == 1
    v = can_migrate_task(p, env)
    assert (v.migrate, v.forced, v.hot) == (migrate, migrate, 1)


def test_smt_domain_is_never_hot():
    p, env = setup(level=SMT, age=0)
    assert env.sd.cache_nice_tries == 0
    v = can_migrate_task(p, env)
    assert (v.migrate, v.hot, v.forced) == (True, 0, False)


@pytest.mark.parametrize("policy", [IDLE_POLICY, RT])
def test_idle_policy_and_non_fair_tasks_are_never_hot(policy):
    p, env = setup(age=0, policy=policy)
    assert task_hot(p, env) == 0


def test_buddy_is_hot_only_when_dst_has_tasks():
    p, env = setup(age=10 * COST)
    env.src_rq.last_buddy = p.pid
    assert task_hot(p, env) == 1
    p, env = setup(age=10 * COST, dst_running=0)
    env.src_rq.last_buddy = p.pid
    assert task_hot(p, env) == 0
    env.sysctl.cache_hot_buddy = False
    p, env = setup(age=10 * COST)
    env.src_rq.last_buddy = p.pid
    env.sysctl.cache_hot_buddy = False
    assert task_hot(p, env) == 0


@pytest.mark.parametrize("cost,hot", [(-1, 1), (0, 0)])
def test_migration_cost_extremes(cost, hot):
    p, env = setup(age=10 * COST)
    env.sysctl.migration_cost_ns = cost
    assert task_hot(p, env) == hot


def numa(age=10 * COST, faults=(50, 50), pref=0, idle=CPU_NOT_IDLE, failed=0, src_pref_tasks=0):
    p, env = setup(level=NUMA, src_node=0, dst_node=1, age=age, idle=idle, failed=failed,
                   numa_faults=list(faults), numa_preferred_nid=pref)
    for t in env.src_rq.tasks:
        if t is not p:
            t.numa_preferred_nid = 0 if src_pref_tasks else -1
    return p, env


def test_numa_leaving_the_preferred_node_degrades_locality():
    p, env = numa(pref=0)                  # src has a task off its preferred node
    assert migrate_degrades_locality(p, env) == 1
    v = can_migrate_task(p, env)
    assert (v.migrate, v.hot, v.reason) == (False, 1, "hot")     # cold by age, kept by NUMA
    p, env = numa(pref=0, failed=3)        # NUMA cache_nice_tries is 2
    v = can_migrate_task(p, env)
    assert (v.migrate, v.forced) == (True, True)


def test_numa_preferred_src_without_non_preferred_tasks_has_no_opinion():
    p, env = numa(pref=0, src_pref_tasks=1, age=0)
    assert env.src_rq.nr_running == env.src_rq.nr_preferred_running
    assert migrate_degrades_locality(p, env) == -1
    assert can_migrate_task(p, env).hot == 1           # task_hot decides: recent


def test_numa_moving_to_the_preferred_node_is_encouraged_even_when_recent():
    p, env = numa(pref=1, age=0)
    assert migrate_degrades_locality(p, env) == 0
    v = can_migrate_task(p, env)
    assert (v.migrate, v.hot, v.forced) == (True, 0, False)


def test_numa_idle_destination_falls_back_to_task_hot():
    p, env = numa(pref=-1, faults=(90, 10), idle=CPU_IDLE, age=10 * COST)
    assert migrate_degrades_locality(p, env) == -1
    assert can_migrate_task(p, env).migrate


@pytest.mark.parametrize("faults,degrades", [((90, 10), 1), ((10, 90), 0), ((50, 50), 0)])
def test_numa_fault_weights_decide(faults, degrades):
    p, env = numa(pref=-1, faults=faults, age=0)
    assert migrate_degrades_locality(p, env) == degrades
    assert can_migrate_task(p, env).migrate == (not degrades)


def test_numa_no_opinion_without_faults_or_outside_numa_domains():
    p, env = numa(pref=-1, faults=(90, 10), age=0)
    p.numa_faults = None
    assert migrate_degrades_locality(p, env) == -1
    p, env = setup(level=MC, numa_faults=[90, 10], age=0)
    assert migrate_degrades_locality(p, env) == -1
    p, env = numa(pref=-1, faults=(90, 10))
    env.sysctl.numa_balancing = False
    assert migrate_degrades_locality(p, env) == -1


def test_cache_nice_tries_per_level():
    topo = Topology(2, 2, 2)
    assert {d.level: d.cache_nice_tries for d in topo.domains[0]} == {SMT: 0, MC: 1, NUMA: 2}
    assert [len(d.groups) for d in topo.domains[5]] == [2, 2, 2]
    assert all(5 in d.groups[0] for d in topo.domains[5])
