"""CPUs, NUMA nodes and the per-CPU sched_domain hierarchy (SMT -> MC -> NUMA).

Linux builds one `struct sched_domain` per CPU and level; each carries its
own `nr_balance_failed`, which is why `Domain` objects here are per CPU too.
`cache_nice_tries` follows 6.1's sd_init(): 0 for SMT, 1 for MC, 2 for NUMA.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SMT, MC, NUMA = 0, 1, 2
LEVEL_NAMES = {SMT: "SMT", MC: "MC", NUMA: "NUMA"}
CACHE_NICE_TRIES = {SMT: 0, MC: 1, NUMA: 2}
# balance interval in ms when the CPU is idle (sd weight in Linux) and the
# busy multiplier (Linux's busy_factor is 16; 4 keeps the sim short)
BALANCE_INTERVAL_MS = {SMT: 2, MC: 8, NUMA: 16}
BUSY_FACTOR = 4
IMBALANCE_PCT = {SMT: 110, MC: 117, NUMA: 125}


@dataclass
class Domain:
    """One CPU's sched_domain at one level: its span split into groups."""
    cpu: int
    level: int
    span: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...]      # groups[0] holds `cpu` (the local group)
    cache_nice_tries: int
    nr_balance_failed: int = 0
    last_balance_ms: int = 0

    @property
    def is_smt(self) -> bool:
        return self.level == SMT

    @property
    def is_numa(self) -> bool:
        return self.level == NUMA


@dataclass
class Topology:
    nodes: int
    cores_per_node: int
    threads_per_core: int
    domains: list[list[Domain]] = field(default_factory=list)   # [cpu] -> bottom-up

    def __post_init__(self) -> None:
        self.domains = [self._build(c) for c in range(self.ncpus)]

    @property
    def ncpus(self) -> int:
        return self.nodes * self.cores_per_node * self.threads_per_core

    def node_of(self, cpu: int) -> int:
        return cpu // (self.cores_per_node * self.threads_per_core)

    def core_of(self, cpu: int) -> int:
        return cpu // self.threads_per_core

    def node_cpus(self, node: int) -> tuple[int, ...]:
        n = self.cores_per_node * self.threads_per_core
        return tuple(range(node * n, (node + 1) * n))

    def core_cpus(self, core: int) -> tuple[int, ...]:
        t = self.threads_per_core
        return tuple(range(core * t, (core + 1) * t))

    def _build(self, cpu: int) -> list[Domain]:
        """Levels with a span of one group are degenerate and dropped, as in Linux."""
        out = []
        core, node = self.core_of(cpu), self.node_of(cpu)

        def local_first(groups: list[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
            return tuple(sorted(groups, key=lambda g: cpu not in g))

        if self.threads_per_core > 1:
            span = self.core_cpus(core)
            out.append(Domain(cpu, SMT, span, local_first([(c,) for c in span]),
                              CACHE_NICE_TRIES[SMT]))
        if self.cores_per_node > 1:
            cores = range(node * self.cores_per_node, (node + 1) * self.cores_per_node)
            out.append(Domain(cpu, MC, self.node_cpus(node),
                              local_first([self.core_cpus(k) for k in cores]),
                              CACHE_NICE_TRIES[MC]))
        if self.nodes > 1:
            out.append(Domain(cpu, NUMA, tuple(range(self.ncpus)),
                              local_first([self.node_cpus(n) for n in range(self.nodes)]),
                              CACHE_NICE_TRIES[NUMA]))
        return out

    def domain_between(self, a: int, b: int) -> Domain:
        """The lowest of a's domains whose span holds b."""
        return next(d for d in self.domains[a] if b in d.span)
