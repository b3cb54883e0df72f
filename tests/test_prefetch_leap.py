"""examples/leap_prefetch.rmt against swap_sim/leap.py on the same fault sequences.

The program keeps Leap's state (a 32-delta history, the window) in maps and
learns the deltas from the hook's 8-entry ctx.hist, so it decides exactly as
`Leap(fallback="page")` unless more than 8 faults happened since its last run
(readahead hits: deltas it never saw); after such a loss it may differ until
32 more deltas have been logged.  Against the patch's own fallback (swap slots,
`Leap()`), the decisions with a trend are the same; the fallback's are not.
"""
from __future__ import annotations

import numpy as np
import pytest

from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.swap_sim.experiment import ROOT, Split
from rmt.swap_sim.leap import HISTORY, Leap, find_trend
from rmt.swap_sim.metrics import figures
from rmt.swap_sim.prefetch import Fault, NoPrefetch, SwapView
from rmt.swap_sim.rmt_prefetcher import RmtPrefetcher
from rmt.swap_sim.simulator import SimConfig, Simulator
from rmt.swap_sim.trace import Trace, load_trace, random_uniform, sequential, strided

from engines import available

PROGRAM = ROOT / "examples" / "leap_prefetch.rmt"


def _prog():
    return compile_source(PROGRAM.read_text(), "leap_prefetch.rmt")


def _rmt_leap(engine=None) -> RmtPrefetcher:
    prog = _prog()
    if engine is None:
        from rmt.vm import CEngine as engine
    return RmtPrefetcher(engine(objfile.write(prog)), prog, name="leap-rmt")


class Lockstep:
    """Drives Leap (whose pages the simulator uses) and the program on the same faults,
    recording per major fault whether their page sets agree and whether the program
    could have known Leap's whole history (no more than 8 faults between its runs in
    the last 32 faults)."""

    name = "lockstep"

    def __init__(self, leap: Leap, rmt: RmtPrefetcher):
        self.leap, self.rmt = leap, rmt
        self.reset()

    def reset(self) -> None:
        self.leap.reset()
        self.rmt.reset()
        self.since = 0                 # faults since the last major fault
        self.blind = 0                 # faults until a lost delta leaves the history
        self.rows: list[tuple[bool, bool, bool]] = []   # (agree, history known, trend)

    def fault(self, f: Fault, swap: SwapView) -> list[int]:
        self.since += 1
        self.blind = max(self.blind - 1, 0)
        want = self.leap.fault(f, swap)
        got = self.rmt.fault(f, swap)
        if f.major:
            if self.since > 8 + 1 and self.rows:
                self.blind = HISTORY + 1
            self.since = 0
            trend, _ = find_trend(list(self.leap.hist))
            self.rows.append((sorted(want) == sorted(got), self.blind == 0, trend))
        return want


TRACES = {
    "seq": lambda: sequential(1500, 3),
    "strided": lambda: strided(300, 7, 3),
    "random": lambda: random_uniform(1500, 6000),
    "sqlite": lambda: _real("sqlite-query", 60000),
    "imagemagick": lambda: _real("imagemagick-resize", 60000),
}


def _real(name: str, n: int) -> Trace:
    tr = load_trace(ROOT / "traces" / f"{name}.npz")
    return Trace(name, tr.pages[-n:], 0, tr.source)


@pytest.mark.parametrize("workload", list(TRACES))
def test_program_decides_like_leap(workload):
    tr = TRACES[workload]()
    cfg = Split(0.5, 0.0).config(tr)
    lock = Lockstep(Leap(fallback="page"), _rmt_leap())
    Simulator(cfg, lock).run(tr.pages)
    rows = lock.rows
    assert len(rows) > 100, "too few swap faults to compare"
    known = [r for r in rows if r[1]]
    assert all(agree for agree, _, _ in known), \
        f"{sum(not a for a, _, _ in known)} of {len(known)} decisions differ with the " \
        f"whole history known"
    # the only allowed differences follow lost deltas, within 33 faults
    assert len(known) >= 0.5 * len(rows)


@pytest.mark.parametrize("workload", ["strided", "random", "sqlite"])
def test_trend_decisions_match_the_slot_fallback_patch(workload):
    """Against Leap with the patch's slot fallback: same pages whenever Leap found a
    trend (and the history was known); the fallback differs (pages vs slots)."""
    tr = TRACES[workload]()
    cfg = Split(0.5, 0.0).config(tr)
    lock = Lockstep(Leap(), _rmt_leap())
    Simulator(cfg, lock).run(tr.pages)
    trend_rows = [r for r in lock.rows if r[1] and r[2]]
    assert all(agree for agree, _, _ in trend_rows)


def test_program_coverage_bound_against_leap():
    """Run on its own (the program's pages drive the simulator): no deltas lost on these
    traces, so every counter equals Leap(fallback="page")'s."""
    for name in ("strided", "random", "seq"):
        tr = TRACES[name]()
        cfg = Split(0.5, 0.0).config(tr)
        base = Simulator(cfg, NoPrefetch()).run(tr.pages)
        rmt = _rmt_leap()
        c_rmt = Simulator(cfg, rmt).run(tr.pages)
        c_leap = Simulator(cfg, Leap(fallback="page")).run(tr.pages)
        f_rmt, f_leap = figures(c_rmt, base, 0), figures(c_leap, base, 0)
        assert _lost(rmt) == 0, name
        assert (c_rmt.major, c_rmt.minor, c_rmt.issued, c_rmt.used) == \
            (c_leap.major, c_leap.minor, c_leap.issued, c_leap.used), name
        assert (f_rmt.coverage, f_rmt.accuracy) == (f_leap.coverage, f_leap.accuracy)


def _lost(rmt: RmtPrefetcher) -> int:
    prog = rmt.prog
    idx = next(i for i, m in enumerate(prog.maps) if m.name == "stats")
    return int(rmt.engine.map_read(idx).get(1, 0))


@pytest.mark.parametrize("engine", available(), ids=lambda e: e.__name__)
def test_program_finds_trends_like_find_trend(engine):
    """Direct runs with a chosen history: a fresh task's first run logs delta 0; then
    each run logs the new deltas and votes like find_trend."""
    rng = np.random.default_rng(3)
    for trial in range(20):
        pf = _rmt_leap(engine)
        leap = Leap(fallback="page")
        page = 100000
        stride = int(rng.choice([1, -1, 3, 7, -12]))
        noise = float(rng.choice([0.0, 0.3, 0.6]))

        class View:
            max_slot = 1 << 30
            fault = -1

            def in_swap(self, p):          # everything but the faulting page is swapped out
                return p >= 0 and p != self.fault

            def slot_of(self, p):
                return p

            def page_at(self, s):
                return s
        v = View()
        for k in range(60):
            page += int(rng.integers(-50, 50)) if rng.random() < noise else stride
            f = Fault(page, page, True, False)
            v.fault = page
            assert sorted(pf.fault(f, v)) == sorted(leap.fault(f, v)), (trial, k)


class _View:
    """Every page but the faulting one is swapped out; slot = page."""
    max_slot = 1 << 30

    def __init__(self) -> None:
        self.fault = -1

    def in_swap(self, p: int) -> bool:
        return p >= 0 and p != self.fault

    def slot_of(self, p: int) -> int:
        return p

    def page_at(self, s: int) -> int:
        return s


def test_more_than_8_faults_between_runs_lose_deltas():
    """11 readahead hits between two runs: the hook shows 8 of the 12 new deltas and
    stats[1] counts the 4 not shown (Leap logs all 12); with a stride-4 majority in both
    histories the decisions still agree."""
    pf, leap, v = _rmt_leap(), Leap(fallback="page"), _View()
    page = 5000
    for k in range(12):                      # stride 1: a trend in both
        page += 1
        v.fault = page
        f = Fault(page, page, True, False)
        assert sorted(pf.fault(f, v)) == sorted(leap.fault(f, v))
    for k in range(11):                      # hits with stride 4: not seen by the hook
        page += 4
        f = Fault(page, page, False, True)
        pf.fault(f, v), leap.fault(f, v)
    assert _lost(pf) == 0
    page += 4
    v.fault = page
    f = Fault(page, page, True, False)
    got, want = pf.fault(f, v), leap.fault(f, v)
    assert _lost(pf) == 4                    # 12 new deltas, 8 in ctx.hist
    # Leap's latest 8, 16 deltas: 12 x 4 -> stride 4 both ways; the window from 11 hits
    assert sorted(want) == sorted(got) == [page + 4 * k for k in range(1, 8)]
