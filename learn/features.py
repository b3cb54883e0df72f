"""Forced-migration features: the 17 model inputs of examples/forced_migration.rmt.

The APSys 2020 set (Chen et al.) adapted to Linux 6.1, as Q8 fixed point
(value * 256, clamped to +-8192, the model's declared input range):

 0 src_non_pref   source rq runs tasks off their preferred node
 1 delta_hot      now - exec_start < sysctl_sched_migration_cost
 2-4 idle type    one-hot CPU_IDLE / CPU_NOT_IDLE / CPU_NEWLY_IDLE
 5 same_node      6 prefer_src      7 prefer_dst
 8 src_nr_running - 2     9 dst_nr_running
10 src load_avg / 1000   11 dst load_avg / 1000
12 NUMA-fault delta (dst - src) / total
13 nr_balance_failed > cache_nice_tries
14 buddy_hot
15 smt_domain     (new for 6.1: task_hot() returns 0 in SD_SHARE_CPUCAPACITY
                   domains since 5.x, so the same delta_hot means "cold" there)
16 has_numa_faults (new: migrate_degrades_locality() has an opinion only when
                   the task has NUMA fault statistics; APSys' delta is 0 both
                   for "no statistics" and "equal faults", which 6.1 treats
                   differently: the first falls back to task_hot(), the second
                   says "does not degrade locality" and lets the task move)

Changes from APSys and why: every feature is Q8 (APSys mixed 0/1 flags with
raw counts and loads; one power-of-two scale per layer cannot serve both, so
small features lost all precision in fixed point); `smt_domain` and
`has_numa_faults` are added (above); the one-bit features travel packed in the
trace's `flags` field (bit i = feature i for i < 8, bits 8-11 = features 13-16) because a trace
record holds at most 16 values and it also carries the labels and the
models' outputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NFEAT = 17
FIX = 256
FEAT_MAX = 8192
NAMES = ("src_non_pref", "delta_hot", "idle_idle", "idle_busy", "idle_newly", "same_node",
         "prefer_src", "prefer_dst", "src_nr_running-2", "dst_nr_running", "src_load/1000",
         "dst_load/1000", "numa_fault_delta", "balance_failed", "buddy_hot", "smt_domain",
         "has_numa_faults")
FLAG_BITS = {**{i: i for i in range(8)}, 13: 8, 14: 9, 15: 10, 16: 11}
NUMERIC = (8, 9, 10, 11, 12)


def _clamp(v: int) -> int:
    return max(min(v, FEAT_MAX), -FEAT_MAX)


def _div0(a: int, b: int) -> int:
    """C-style division (truncates toward zero), as the VM's signed divide."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def from_ctx(c: dict[str, int]) -> list[int]:
    """The features the program computes from a hook context (for tests and tools)."""
    x = [0] * NFEAT
    x[0] = c["src_non_pref"]
    x[1] = int(c["exec_age_ns"] < c["migration_cost_ns"])
    x[2], x[3], x[4] = (int(c["idle"] == k) for k in (0, 1, 2))
    x[5], x[6], x[7] = c["same_node"], c["prefer_src"], c["prefer_dst"]
    x[13] = int(c["nr_balance_failed"] > c["cache_nice_tries"])
    x[14] = c["buddy_hot"]
    x[15] = int(c["sd_level"] == 0)
    x[16] = int(c["numa_faults_total"] != 0)
    x = [v * FIX for v in x]
    x[8] = _clamp((c["src_nr_running"] - 2) * FIX)
    x[9] = min(c["dst_nr_running"] * FIX, FEAT_MAX)
    x[10] = min(c["src_load"] * FIX // 1000, FEAT_MAX)
    x[11] = min(c["dst_load"] * FIX // 1000, FEAT_MAX)
    delta = c["numa_faults_dst"] - c["numa_faults_src"]
    x[12] = _clamp(_div0(delta * FIX, max(c["numa_faults_total"], 1)))
    return x


@dataclass
class Dataset:
    """Integer model inputs and labels from trace records (one row per traced call)."""
    x: np.ndarray                  # [n, 17] int64, Q8
    verdict: np.ndarray            # kernel's can_migrate_task result
    forced: np.ndarray             # hot, migrated because nr_balance_failed > cache_nice_tries
    outputs: np.ndarray            # [n, 4] the VM's y[0], y[1], t[0], t[1] when traced

    def __len__(self) -> int:
        return len(self.x)

    @property
    def labels(self) -> np.ndarray:
        """[n, 2]: head 0 imitates can_migrate_task, head 1 predicts forced migrations."""
        return np.stack([self.verdict, self.forced], axis=1)

    @staticmethod
    def concat(parts: list["Dataset"]) -> "Dataset":
        if not parts:
            return Dataset(np.zeros((0, NFEAT), np.int64), *(np.zeros(0, np.int64),) * 2,
                           np.zeros((0, 4), np.int64))
        return Dataset(np.concatenate([p.x for p in parts]),
                       np.concatenate([p.verdict for p in parts]),
                       np.concatenate([p.forced for p in parts]),
                       np.concatenate([p.outputs for p in parts]))


def from_records(records: list[dict]) -> Dataset:
    """Decode `rmtctl trace` JSON records of the forced_migration program."""
    rows, verdict, forced, outs = [], [], [], []
    for r in records:
        f = r["fields"] if "fields" in r else r
        flags = f["flags"]
        x = [0] * NFEAT
        for i, bit in FLAG_BITS.items():
            x[i] = FIX * ((flags >> bit) & 1)
        for i in NUMERIC:
            x[i] = f[f"x_{i}"]
        rows.append(x)
        verdict.append(f["verdict"])
        forced.append(int(f["verdict"] == 1 and f["hot"] == 1 and x[13] > 0 and f["active"] == 0))
        outs.append([f["y_0"], f["y_1"], f["t_0"], f["t_1"]])
    n = len(rows)
    return Dataset(np.array(rows, dtype=np.int64).reshape(n, NFEAT),
                   np.array(verdict, dtype=np.int64), np.array(forced, dtype=np.int64),
                   np.array(outs, dtype=np.int64).reshape(n, 4))
