"""Figures from counters: coverage, accuracy, pollution, and a modelled run time.

- coverage = major faults avoided / major faults without prefetching, both
  measured on the same accesses; negative when the memory a prefetch buffer
  takes costs more faults than its prefetches save.
- accuracy = prefetched pages used / pages prefetched; pollution = 1 - accuracy
  (pages read for nothing: evicted unused or still unused at the end).
- run time = compute (instructions x `ns_per_instr`) + zero-fill faults +
  major faults x device latency + minor faults (swap-cache hits) + one device
  transfer per prefetched page (prefetches are asynchronous, but they occupy
  the device that demand reads queue behind).  Defaults model a fast NVMe SSD.
"""
from __future__ import annotations

from dataclasses import dataclass

from rmt.swap_sim.simulator import Counters


@dataclass(frozen=True)
class CostModel:
    ns_per_instr: float = 0.4
    zero_fill_us: float = 1.0
    major_us: float = 25.0
    minor_us: float = 1.0
    transfer_us: float = 2.0

    def run_time_ms(self, c: Counters, instrs: float) -> float:
        us = (instrs * self.ns_per_instr / 1000 + c.first_touch * self.zero_fill_us
              + c.major * self.major_us + c.minor * self.minor_us
              + c.issued * self.transfer_us)
        return us / 1000


@dataclass(frozen=True)
class Figures:
    coverage: float
    accuracy: float
    pollution: float
    major: int
    minor: int
    issued: int
    used: int
    evicted_unused: int
    run_ms: float

    @property
    def as_row(self) -> dict:
        return {"coverage": self.coverage, "accuracy": self.accuracy,
                "pollution": self.pollution, "major": self.major, "minor": self.minor,
                "issued": self.issued, "used": self.used,
                "evicted_unused": self.evicted_unused, "run_ms": self.run_ms}


def figures(c: Counters, baseline: Counters, instrs: float,
            cost: CostModel = CostModel()) -> Figures:
    """Figures of one run against the no-prefetch run over the same accesses."""
    if baseline.accesses != c.accesses:
        raise ValueError(f"baseline measured {baseline.accesses} accesses, run {c.accesses}")
    cov = (baseline.major - c.major) / baseline.major if baseline.major else 0.0
    acc = c.used / c.issued if c.issued else 0.0
    return Figures(cov, acc, 1.0 - acc if c.issued else 0.0, c.major, c.minor, c.issued,
                   c.used, c.evicted_unused, cost.run_time_ms(c, instrs))
