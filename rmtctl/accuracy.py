"""A candidate's accuracy and the live weights' accuracy, on the same labelled runs.

`rmtctl model refresh --label FIELD --score FIELD [--output K]` judges a staged
candidate by accuracy against labels carried in the program's own trace records:

- a *labelled run* is a run whose trace record (any of the program's formats) has
  both fields; its label is `FIELD != 0`;
- the live weights' prediction is `score > 0`, where `score` is the traced value
  of the live model's output K (the program traces it, e.g. `trace(..., y[0])`);
  "> 0" is the side of 0 the candidate mechanism compares (docs/semantics.md);
- the candidate's prediction is the live one, except on a run where the candidate
  disagreed: its disagreement record (format 0xffffffff: live and candidate
  outputs) is then on the same CPU, with the same timestamp, just before the
  run's own record, and the candidate's prediction is `candidate[K] > 0`.  A
  disagreement record is paired only when its `live[K]` equals the run's traced
  score, so a record of another run is never taken for this one.

So both accuracies are measured on the same runs, with the same labels, with no
replay on the host.  Disagreement records that pair with no labelled run are
counted (`unpaired`): the run they belong to traced no label or another score
than `--score`, or its record was drained in another step.  A run whose
disagreement did not pair is credited with the live prediction, so its candidate
accuracy is not known: the refresh step does not promote while any record is
unpaired.  (One drain's batches share their pending records: a batch boundary
between a disagreement and its run is not a reason.)  When the trace ring
dropped records while the window was open (the program's `trace_drops` grew: a
disagreement record, or a run's own), the window's accuracies would be wrong,
and the refresh step does not promote either.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

from rmt.contract.engine import CANDIDATE_TRACE_FMT, TraceRecord


@dataclass
class Window:
    """What one candidate's evaluation has seen so far (kept between refresh steps)."""
    candidate: int = 0        # the candidate version these counts belong to
    runs: int = 0             # labelled runs
    live_ok: int = 0          # ... the live weights predicted right
    cand_ok: int = 0          # ... the candidate predicted right
    paired: int = 0           # disagreement records paired with a labelled run
    records: int = 0          # disagreement records of this model seen (paired or not)
    drops_base: int = 0       # the program's trace_drops when the window opened

    @property
    def unpaired(self) -> int:
        return self.records - self.paired

    def live_accuracy(self) -> float | None:
        return self.live_ok / self.runs if self.runs else None

    def cand_accuracy(self) -> float | None:
        return self.cand_ok / self.runs if self.runs else None

    def add(self, other: "Window") -> None:
        """Add the counts of `other` (a later part of the same window) to these."""
        for k in ("runs", "live_ok", "cand_ok", "paired", "records"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(j: dict[str, Any]) -> "Window":
        fields = Window.__dataclass_fields__
        if not isinstance(j, dict) or any(not isinstance(j.get(k, 0), int) for k in fields):
            raise ValueError("not a window record")
        if any(j.get(k, 0) < 0 for k in fields):
            raise ValueError("a window's counts are never negative")
        return Window(**{k: j[k] for k in fields if k in j})


@dataclass
class Labels:
    label: str        # trace field holding the label (positive when nonzero)
    score: str        # trace field holding the live model's output `output`
    output: int = 0   # which output of the model the label is for


# per CPU, the disagreement record waiting for its run's record: (timestamp, fields)
Pending = dict[int, tuple[int, dict[str, Any]]]


def score(recs: list[TraceRecord], to_json: Callable[[TraceRecord], dict[str, Any]],
          model_name: str, labels: Labels, w: Window, pending: Pending | None = None
          ) -> Window:
    """Add the labelled runs in `recs` (in the order the target returned them) to `w`;
    returns the counts of these records alone (for a per-step report).  `pending` carries
    the disagreement records still waiting for their run from one batch of a drain to the
    next (give the same dict to every batch of one drain)."""
    step = Window(w.candidate)
    if pending is None:
        pending = {}
    for r in recs:
        j = to_json(r)
        f = j["fields"]
        if r.fmt == CANDIDATE_TRACE_FMT:
            if f["model"] == model_name:
                step.records += 1
                pending[r.cpu] = (r.ts, f)
            continue
        dis = pending.pop(r.cpu, None)
        if labels.label not in f or labels.score not in f:
            continue
        y = f[labels.label] != 0
        s = f[labels.score]
        live = s > 0
        cand = live
        if dis is not None and dis[0] == r.ts and len(dis[1]["live"]) > labels.output \
                and dis[1]["live"][labels.output] == s:
            cand = dis[1]["candidate"][labels.output] > 0
            step.paired += 1
        step.runs += 1
        step.live_ok += live == y
        step.cand_ok += cand == y
    w.add(step)
    return step
