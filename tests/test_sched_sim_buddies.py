"""The simulator's CFS buddies against Linux 6.1 (kernel/sched/fair.c): where cfs_rq->next
and cfs_rq->last are set (check_preempt_wakeup) and cleared (set_next_entity ->
clear_buddies of the picked task only, check_preempt_tick of a task that used its slice,
dequeue), and that the hook's buddy_hot is task_hot()'s test (dst has tasks)."""
from __future__ import annotations

from rmt.sched_sim import workloads
from rmt.sched_sim.cfs import CPU_NOT_IDLE, LbEnv, Sysctl, can_migrate_task
from rmt.sched_sim.hook import ctx_fields
from rmt.sched_sim.simulator import Simulator
from rmt.sched_sim.task import Task
from rmt.sched_sim.topology import MC, Topology


def sim(ncpus_topology=(1, 2, 1)) -> Simulator:
    wl = workloads.Workload("t", "bursty", 0, ncpus_topology, duration_ms=10)
    return Simulator(wl, keep_calls=False)


def running(s: Simulator, cpu: int, vruntime: float, pid: int = 1) -> Task:
    t = Task(pid, cpu, vruntime=vruntime)
    rq = s.rqs[cpu]
    rq.add(t)
    rq.curr = t
    rq.slice_left_ms = 3.0
    s.tasks.append(t)
    return t


def test_gran_scales_with_cpus() -> None:
    # update_sysctl(): factor 1 + ilog2(min(ncpus, 8)): 2 CPUs -> 2 ms, 8 or more -> 4 ms
    assert sim((1, 2, 1)).wakeup_gran_ms == 2.0
    assert sim((2, 4, 2)).wakeup_gran_ms == 4.0
    assert sim((2, 4, 2)).sleeper_credit_ms == 12.0


def test_wakee_far_enough_left_preempts_and_becomes_next() -> None:
    s = sim()
    curr = running(s, 0, vruntime=100.0)
    w = Task(2, 0, vruntime=90.0)
    s._enqueue(w, 0)                      # min_vruntime 100 - credit 6 = 94: placed at 94
    rq = s.rqs[0]
    assert w.vruntime == 94.0
    assert rq.next_buddy == w.pid and rq.slice_left_ms == 0.0 and rq.preempted
    assert rq.last_buddy == -1            # fewer than sched_nr_latency tasks: no last buddy
    assert rq.curr is curr


def test_wakee_within_gran_neither_preempts_nor_becomes_buddy() -> None:
    s = sim()
    running(s, 0, vruntime=100.0)
    w = Task(2, 0, vruntime=99.0)         # 1 ms left of curr, gran 2 ms
    s._enqueue(w, 0)
    rq = s.rqs[0]
    assert rq.next_buddy == -1 and rq.slice_left_ms == 3.0 and not rq.preempted


def test_last_buddy_with_sched_nr_latency_tasks() -> None:
    s = sim()
    curr = running(s, 0, vruntime=100.0)
    for k in range(6):
        s.rqs[0].add(Task(10 + k, 0, vruntime=100.0 + k))
    s._enqueue(Task(2, 0, vruntime=0.0), 0)            # the 8th task on the queue
    assert s.rqs[0].last_buddy == curr.pid and s.rqs[0].next_buddy == 2


def test_pick_prefers_next_within_gran_and_clears_only_it() -> None:
    s = sim()
    rq = s.rqs[0]
    left, nxt, last = Task(1, 0, vruntime=10.0), Task(2, 0, vruntime=11.5), Task(3, 0,
                                                                                vruntime=11.0)
    for t in (left, nxt, last):
        rq.add(t)
    rq.next_buddy, rq.last_buddy = nxt.pid, last.pid
    assert s._pick_next(rq) is nxt
    assert rq.next_buddy == -1 and rq.last_buddy == last.pid     # last stays


def test_buddy_too_far_right_is_not_picked_and_stays_buddy() -> None:
    s = sim()
    rq = s.rqs[0]
    left, nxt = Task(1, 0, vruntime=10.0), Task(2, 0, vruntime=13.0)   # 3 ms > gran 2 ms
    rq.add(left)
    rq.add(nxt)
    rq.next_buddy = nxt.pid
    assert s._pick_next(rq) is left
    assert rq.next_buddy == nxt.pid       # a waiting buddy: what the balancer can meet


def test_slice_expiry_clears_curr_buddy_but_wakeup_preemption_keeps_it() -> None:
    s = sim()
    rq = s.rqs[0]
    a = running(s, 0, vruntime=100.0)
    a.burst_left_ms = a.work_ms = float("inf")
    rq.last_buddy = a.pid
    rq.slice_left_ms = 0.5
    s._run_cpu(0, 0)                       # a runs out its slice: check_preempt_tick
    assert rq.last_buddy == -1
    b = running(s, 1, vruntime=100.0, pid=5)
    b.burst_left_ms = b.work_ms = float("inf")
    w = Task(6, 1, vruntime=0.0)
    w.burst_left_ms = w.work_ms = float("inf")
    s.rqs[1].add(w)
    s.rqs[1].last_buddy = b.pid
    s._check_preempt_wakeup(s.rqs[1], w)
    assert s.rqs[1].next_buddy == w.pid
    s._run_cpu(1, 0)                       # b is switched out by the preemption, not its slice
    assert s.rqs[1].last_buddy == b.pid


def test_dequeue_clears_buddies() -> None:
    s = sim()
    rq = s.rqs[0]
    t = Task(4, 0)
    rq.add(t)
    rq.next_buddy = rq.last_buddy = t.pid
    rq.remove(t)
    assert rq.next_buddy == -1 and rq.last_buddy == -1


def test_ctx_buddy_hot_needs_a_busy_dst() -> None:
    topo = Topology(1, 2, 1)
    sd = topo.domains[0][0]
    assert sd.level == MC
    s = sim()
    src, dst = s.rqs[0], s.rqs[1]
    p = Task(9, 0, exec_start_ns=0)
    src.add(p)
    src.next_buddy = p.pid
    env = LbEnv(sd, src, dst, CPU_NOT_IDLE, 10_000_000, dst_grpmask=(1,),
                cpus=frozenset({0, 1}), sysctl=Sysctl(500_000))
    assert ctx_fields(p, env, can_migrate_task(p, env))["buddy_hot"] == 0
    dst.add(Task(10, 1))
    v = can_migrate_task(p, env)
    assert ctx_fields(p, env, v)["buddy_hot"] == 1 and v.hot == 1


def test_late_wakeups_leave_waiting_buddies_for_the_balancer() -> None:
    """A seeded run/sleep mix: some soft calls meet a wakee that preempted and still waits
    (cfs_rq->next) with an exec age past the migration cost -- 6.1 calls it hot; the kernel
    traces show ~3% such calls. Without the late wakeups this seed has none."""
    wl = workloads.make("bursty", 2, topology=(2, 2, 2), duration_ms=600)
    s = Simulator(wl, keep_calls=False)
    seen = {"soft": 0, "buddy": 0, "buddy_old": 0}
    orig = s.can_migrate

    def spy(p, env):
        v = can_migrate_task(p, env)
        if not v.hard_veto:
            seen["soft"] += 1
            if env.dst_rq.nr_running and env.src_rq.is_buddy(p):
                seen["buddy"] += 1
                seen["buddy_old"] += env.now_ns - p.exec_start_ns >= env.sysctl.migration_cost_ns
        return orig(p, env)

    s.can_migrate = spy
    s.run()
    assert seen["soft"] > 100
    assert seen["buddy_old"] > 0, seen
