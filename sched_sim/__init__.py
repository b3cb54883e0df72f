"""A multicore CFS load-balancing simulator that drives `sched.can_migrate_task`.

The simulator models what Linux 6.1's load balancer needs to reach
`can_migrate_task` with realistic arguments: CPUs in SMT / MC / NUMA
domains (per-CPU `sched_domain`s with their own `nr_balance_failed` and
`cache_nice_tries`), run queues with PELT-like load, tasks with
`exec_start`, affinity, NUMA preferences and faults, and periodic, idle and
newly-idle balancing.  Every `can_migrate_task` call is decided by a
faithful port of 6.1 (`sched_sim.cfs`) and, when a program is attached, is
also handed to an RMT engine through the hook context (`sched_sim.hook`).

Modules: topology (CPUs and domains), task (tasks and their behaviour), cfs
(can_migrate_task and its helpers), balance (load_balance and friends),
hook (context building, shadow/enforce semantics, trace collection),
workloads (seeded workload mixes), simulator (the time loop and metrics).
"""
