"""examples/adaptive_prefetch.rmt: the per-process choice among the successor map's chain,
the learned tree and Leap's trend (issue 17).

Two synthetic processes share one memory and one program instance with opposite patterns:
- `zigzag` (pid 3) walks its array with stride 3, reversing direction every pass, so the
  link a page got in the previous pass points the wrong way: Leap's majority-vote trend is
  right and the successor map's chain is wrong;
- `shuffle` (pid 5) replays one fixed random permutation of its pages: no delta has a
  majority (no trend), and the chain replays the order exactly.
A chooser shared by both processes (one duel) would follow one predictor for both; the
program must follow the trend in the first and the chain in the second.  The tree is one
empty leaf (it proposes nothing), so it can never win.
"""
from __future__ import annotations

import numpy as np
import pytest

from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.contract import codec
from rmt.contract import weights as W
from rmt.contract.engine import Entry, Exact
from rmt.swap_sim.experiment import ROOT
from rmt.swap_sim.prefetch import Fault, SwapView
from rmt.swap_sim.rmt_prefetcher import RmtPrefetcher
from rmt.swap_sim.simulator import SimConfig, Simulator

from engines import available

ZIGZAG, SHUFFLE = 3, 5                    # pids (slots 3 and 5)
Z_BASE, S_BASE = 1 << 20, 1 << 24         # their pages, far apart
Z_PAGES, S_PAGES, PASSES = 400, 300, 12


def _program():
    path = ROOT / "examples" / "adaptive_prefetch.rmt"
    return compile_source(path.read_text(), path.name)


def _trace() -> tuple[list[int], np.ndarray]:
    """The two processes' accesses, interleaved one pass of each at a time, and the
    shuffle's permutation."""
    perm = np.random.default_rng(4).permutation(S_PAGES)
    out: list[int] = []
    fwd = Z_BASE + 3 * np.arange(Z_PAGES)
    for p in range(PASSES):
        out += (fwd if p % 2 == 0 else fwd[::-1]).tolist()
        out += (S_BASE + perm).tolist()
    return out, perm


class PerProcess:
    """One engine, one adapter per process (its own delta history and pid), dispatched by
    page range; records every decision's page list per process."""

    name = "adaptive"

    def __init__(self, eng, prog):
        self.by = {ZIGZAG: RmtPrefetcher(eng, prog, pid=ZIGZAG),
                   SHUFFLE: RmtPrefetcher(eng, prog, pid=SHUFFLE)}
        # per process: (page, the delta that led to it, pages proposed)
        self.decisions: dict[int, list[tuple[int, int, list[int]]]] = {ZIGZAG: [], SHUFFLE: []}

    def reset(self) -> None:
        for a in self.by.values():
            a.reset()

    def fault(self, f: Fault, swap: SwapView) -> list[int]:
        pid = ZIGZAG if f.page < S_BASE else SHUFFLE
        last = self.by[pid].last
        want = self.by[pid].fault(f, swap)
        if f.major:
            self.decisions[pid].append((f.page, 0 if last is None else f.page - last, want))
        return want


@pytest.mark.parametrize("engine", available(), ids=lambda e: e.__name__)
def test_each_process_follows_its_better_predictor(engine):
    prog = _program()
    eng = engine(objfile.write(prog))
    t = prog.tables[0]
    a = next(i for i, ac in enumerate(t.actions) if ac.name == "learned")
    eng.table_insert(0, Entry((Exact(0),), a, codec.pack_params(t.actions[a], [16, 1, 0])))
    empty = W.Tree([[-1, 0, 0, 0, 0]], [[0] * 17])
    eng.model_load(0, W.write_weights(W.ModelWeights(prog.models[0].kind, 8, 17, 16,
                                                     trees=[empty])))
    trace, perm = _trace()
    pf = PerProcess(eng, prog)
    Simulator(SimConfig((Z_PAGES + S_PAGES) // 2), pf).run(trace)

    # the duel's state per slot s: [8s + 2k - 1] leader k's decisions, [8s + 2k] its
    # pages used (k: 1 chain, 2 tree, 3 trend)
    duel = next(i for i, m in enumerate(prog.maps) if m.name == "duel")
    d = eng.map_read(duel)

    def used_per_decision(slot: int, k: int) -> float:
        return d.get(8 * slot + 2 * k, 0) / max(d.get(8 * slot + 2 * k - 1, 0), 1)
    assert d.get(8 * ZIGZAG + 5, 0) >= 4 and d.get(8 * SHUFFLE + 1, 0) >= 4   # evidence
    assert used_per_decision(ZIGZAG, 3) > used_per_decision(ZIGZAG, 1)   # trend beats chain
    assert used_per_decision(SHUFFLE, 1) > used_per_decision(SHUFFLE, 3)  # chain beats trend

    # what the followers did in the second half of the run (leaders: sets 0..2)
    def follower(page: int) -> bool:
        return (page // 8) % 64 >= 3
    def second_half(pid):
        ds = pf.decisions[pid]
        return [(p, dl, w) for p, dl, w in ds[len(ds) // 2:] if follower(p) and w]
    zig, shu = second_half(ZIGZAG), second_half(SHUFFLE)
    assert len(zig) >= 20 and len(shu) >= 20
    # zigzag: the proposals run ahead in this pass's direction (the trend); the chain's
    # links, learned in the previous pass, would point back
    ahead = sum(dl in (3, -3) and all((q - p) * dl > 0 and (q - p) % 3 == 0 for q in w)
                for p, dl, w in zig)
    assert ahead >= 0.9 * len(zig)
    # shuffle: the proposals are the next pages of the permutation (the chain)
    pos = {int(S_BASE + v): i for i, v in enumerate(perm)}
    replay = sum(all(q in pos and 1 <= (pos[q] - pos[p]) % S_PAGES <= 16 for q in w)
                 for p, _, w in shu)
    assert replay >= 0.9 * len(shu)
