"""Tasks and per-CPU run queues, with only the state can_migrate_task and the
balancer read (plus what the workloads need to move tasks between states)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

NICE_0_LOAD = 1024
PELT_Y = 0.5 ** (1 / 32)          # PELT: a contribution halves every 32 ms

NORMAL, IDLE_POLICY, RT = "normal", "idle", "rt"


@dataclass
class Task:
    pid: int
    cpu: int
    weight: int = NICE_0_LOAD
    policy: str = NORMAL                      # NORMAL (fair), IDLE_POLICY (SCHED_IDLE), RT
    allowed: frozenset[int] | None = None     # cpus_ptr; None: every CPU
    kthread_per_cpu: bool = False
    cgroup: int = 0                           # CFS bandwidth group (0: none)
    numa_faults: list[int] | None = None      # per node; None: NUMA balancing has no data
    numa_preferred_nid: int = -1
    home_node: int = -1                       # where its memory lives (NUMA workloads)
    cache_us: float = 50.0                    # modelled cost to refill its cache footprint
    # behaviour: run `burst_ms` then sleep `sleep_ms` (means of exponentials; burst inf
    # = CPU-bound); exits after `work_ms` of CPU time when finite
    mean_burst_ms: float = math.inf
    mean_sleep_ms: float = 0.0
    work_ms: float = math.inf
    # state
    load_avg: float = 0.0
    exec_start_ns: int = 0                    # p->se.exec_start: when it last ran
    burst_left_ms: float = math.inf
    wake_at_ms: int = -1                      # >= 0 while sleeping
    wake_late: bool = False                   # wakes in the second half of that tick
    done_ms: float = 0.0
    exited: bool = False
    migrations: int = 0
    vruntime: float = 0.0
    debt_ms: float = 0.0                      # cache refill still to pay (lost CPU time)

    def can_run_on(self, cpu: int) -> bool:
        return self.allowed is None or cpu in self.allowed

    @property
    def total_faults(self) -> int:
        return sum(self.numa_faults) if self.numa_faults else 0


@dataclass
class RunQueue:
    """A CPU's CFS run queue; `tasks` is rq->cfs_tasks, head first (the balancer
    walks it from the tail, like detach_tasks())."""
    cpu: int
    node: int
    tasks: list[Task] = field(default_factory=list)
    curr: Task | None = None
    last_buddy: int = -1                      # pid of cfs_rq->last (-1: none)
    next_buddy: int = -1
    slice_left_ms: float = 0.0
    preempted: bool = False                   # curr was preempted by a wakeup (resched_curr)
    active_balance: bool = False

    @property
    def nr_running(self) -> int:
        return len(self.tasks)

    @property
    def load(self) -> float:
        return sum(t.load_avg for t in self.tasks)

    @property
    def nr_preferred_running(self) -> int:
        return sum(1 for t in self.tasks if t.numa_preferred_nid == self.node)

    def is_buddy(self, t: Task) -> bool:
        return t.pid in (self.last_buddy, self.next_buddy)

    def clear_buddies(self, t: Task) -> None:
        """6.1 clear_buddies(): forget only the buddy pointers that point at ``t``."""
        if self.last_buddy == t.pid:
            self.last_buddy = -1
        if self.next_buddy == t.pid:
            self.next_buddy = -1

    def buddy_task(self, pid: int) -> Task | None:
        return next((t for t in self.tasks if t.pid == pid), None) if pid >= 0 else None

    def add(self, t: Task) -> None:
        """Enqueue at the head of cfs_tasks, as account_entity_enqueue() does."""
        t.cpu = self.cpu
        self.tasks.insert(0, t)

    def remove(self, t: Task) -> None:
        self.tasks.remove(t)
        if self.curr is t:
            self.curr = None
        self.clear_buddies(t)                 # dequeue_entity() -> clear_buddies()
