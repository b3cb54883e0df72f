"""Figures for programs a prefetcher was not trained on (issue 17).

Two evaluations next to the per-workload time split of `casestudies/prefetch_eval.py`:

- **leave-one-program-out**: for each workload W, the tree is trained on the
  training faults of every *other* workload and the stability threshold is
  picked by the same rule on the other workloads' selection rows; W's
  held-out part is then measured exactly as in the time split (same memory
  limit, same warm-up), so the only difference is that W was never seen.
- **--eval-traces DIR**: every trace in DIR, measured the same way against
  the model trained on the project's own traces only.

The targets for unseen programs (`unseen_targets`), per workload:
- run time: the program's modelled run time at most 1% above the best of
  Linux cluster readahead, VMA readahead and Leap;
- coverage: where Leap's coverage exceeds 0.1, the program's coverage at
  least Leap's at an accuracy at least Leap's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from rmt.swap_sim.experiment import Result

RUN_SLACK = 0.01               # run time may exceed the best baseline's by 1%
LEAP_MIN_COVERAGE = 0.1        # the coverage target applies where Leap covers more
BASELINES = ("ra-cluster", "ra-vma", "leap")


@dataclass(frozen=True)
class Target:
    workload: str
    kind: str                  # "run-time" or "coverage"
    met: bool
    applies: bool
    figures: str

    def as_dict(self) -> dict:
        return {"workload": self.workload, "target": self.kind, "met": self.met,
                "applies": self.applies, "figures": self.figures}


def unseen_targets(results: Iterable[Result], prefetcher: str) -> list[Target]:
    """Both targets for every workload that has `prefetcher` and the three baselines."""
    by = {(r.workload, r.prefetcher): r.figures for r in results}
    out = []
    for w in dict.fromkeys(w for w, _ in by):
        if (w, prefetcher) not in by or any((w, b) not in by for b in BASELINES):
            continue
        f = by[(w, prefetcher)]
        best_name = min(BASELINES, key=lambda b: by[(w, b)].run_ms)
        best = by[(w, best_name)].run_ms
        out.append(Target(w, "run-time", f.run_ms <= best * (1 + RUN_SLACK) + 1e-9, True,
                          f"{f.run_ms:.1f} ms vs {best:.1f} ({best_name}); "
                          f"{f.run_ms / best if best else 0:.3f}x"))
        leap = by[(w, "leap")]
        applies = leap.coverage > LEAP_MIN_COVERAGE
        ok = f.coverage >= leap.coverage - 1e-9 and f.accuracy >= leap.accuracy - 1e-9
        out.append(Target(w, "coverage", ok or not applies, applies,
                          f"coverage {f.coverage:.3f} vs Leap {leap.coverage:.3f}, "
                          f"accuracy {f.accuracy:.4f} vs {leap.accuracy:.4f}"))
    return out


def fold_choice(rows: list[tuple[int, Result]], held_out: str,
                choose: Callable[[dict, dict], int], claims: Callable[[list], list]) -> int:
    """The stability threshold for the fold that leaves `held_out` out: the selection rule
    `choose` (prefetch_eval.choose_min_stable) over the other workloads' selection rows
    ((threshold, Result) pairs, the program's rows named "rmt")."""
    rest = [(t, r) for t, r in rows if r.workload != held_out]
    none_ms = {r.workload: r.figures.run_ms for _, r in rest if r.prefetcher == "none"}
    grid = sorted({t for t, _ in rest})
    run_time = {t: sum(r.figures.run_ms / none_ms[r.workload] for tt, r in rest
                       if tt == t and r.prefetcher == "rmt" and none_ms.get(r.workload))
                for t in grid}
    return choose({t: claims([r for tt, r in rest if tt == t]) for t in grid}, run_time)


def targets_table(targets: list[Target]) -> str:
    lines = ["| workload | target | met | figures |", "|---|---|---|---|"]
    for t in targets:
        met = "yes" if t.met and t.applies else ("n/a" if not t.applies else "**no**")
        lines.append(f"| {t.workload} | {t.kind} | {met} | {t.figures} |")
    return "\n".join(lines)
