"""The learned prefetcher: training data, the tree, and the program running it in a VM.

The tree is trained on small synthetic fault streams whose right answer is
known (a constant stride), so the assertions follow from the data, not from
a particular training run's numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.learn.swap_tree import features, future_deltas, train
from rmt.contract import codec
from rmt.contract.engine import Entry, Exact
from rmt.swap_sim.experiment import ROOT, Split, evaluate, load_program, training_faults
from rmt.swap_sim.leap import Leap
from rmt.swap_sim.readahead import ClusterReadahead
from rmt.swap_sim.rmt_prefetcher import HOOK, RmtPrefetcher
from rmt.swap_sim.trace import Trace, strided

from engines import available


def _example_prog():
    """examples/swap_prefetch.rmt, compiled."""
    path = ROOT / "examples" / "swap_prefetch.rmt"
    return compile_source(path.read_text(), "swap_prefetch.rmt")


def test_features_and_future_deltas():
    x = features(np.array([10, 13, 16, 26, 20]))
    assert x[0].tolist() == [0] * 8
    assert x[1].tolist() == [3] + [0] * 7
    assert x[4].tolist() == [-6, 10, 3, 3, 0, 0, 0, 0]
    assert features(np.array([0, 10 ** 6]))[1, 0] == 65536          # clamped like the program
    assert future_deltas(np.array([10, 13, 10, 16]), 2) == [{3}, {-3, 3}, {6}, set()]


def stride_streams() -> list[np.ndarray]:
    """Two workloads: stride 5 upward, stride -3 downward (runs of 40 faults)."""
    up = np.concatenate([1000 * r + 5 * np.arange(40) for r in range(30)])
    down = np.concatenate([90000 - 1000 * r - 3 * np.arange(40) for r in range(30)])
    return [up, down]


@pytest.fixture(scope="module")
def tree():
    return train(stride_streams(), max_depth=4, min_leaf=5, max_samples=4000, log=lambda s: None)


def test_tree_learns_strides(tree):
    y = tree.predict(np.array([[5] * 8, [-3] * 8]))
    assert y[0, 0] >= 8 and y[0, 1:1 + 8].tolist() == [5 * k for k in range(1, 9)]
    assert y[1, 0] >= 8 and sorted(y[1, 1:1 + int(y[1, 0])].tolist(), reverse=True)[:3] == \
        [-3, -6, -9]
    w = tree.weights()
    assert w.n_in == 8 and w.n_out == 17 and all(n.feature < 8 for n in w.trees[0].nodes)


@pytest.mark.parametrize("engine", available(), ids=lambda e: e.__name__)
def test_program_runs_the_tree(engine, tree):
    prog = _example_prog()
    eng = engine(objfile.write(prog))
    t = prog.tables[0]
    a = next(i for i, ac in enumerate(t.actions) if ac.name == "learned")
    eng.table_insert(0, Entry((Exact(0),), a, codec.pack_params(t.actions[a], [16, 17, 0])))
    eng.model_load(0, tree.blob())
    rng = np.random.default_rng(0)
    x = np.concatenate([features(s)[::7] for s in stride_streams()])
    x = np.concatenate([x, rng.integers(-70000, 70000, size=(50, 8))])
    want = tree.predict(np.clip(x, -65536, 65536))
    for row, y in zip(x, want):
        r = eng.run(codec.ctx_encode(HOOK, {"hist_len": 8, "hist": row.tolist()}))
        pf = codec.ctx_decode(HOOK, r.ctx, ["pf"])["pf"]
        assert r.decision == min(y[0], 16) and pf[:r.decision] == y[1:1 + r.decision].tolist()


def test_rmt_prefetcher_beats_baselines_on_a_stride():
    """Column walk with a 7-page stride: the trained tree, loaded by rmtctl into the
    sim target, covers more faults than readahead and Leap, as accurately."""
    tr = strided(rows=300, row_pages=7, passes=4)
    split = Split(mem_frac=0.5, train_frac=0.5)
    t = train([training_faults(tr, split)], max_depth=6, min_leaf=5, log=lambda s: None)
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        eng, prog = load_program(t.blob(), Path(d)).engine_and_program()
        res = {r.prefetcher: r.figures for r in evaluate(
            tr, split, {"ra-cluster": ClusterReadahead, "leap": Leap,
                        "rmt": lambda: RmtPrefetcher(eng, prog)})}
    assert res["rmt"].coverage > max(res["leap"].coverage, res["ra-cluster"].coverage)
    assert res["rmt"].accuracy >= min(res["leap"].accuracy, res["ra-cluster"].accuracy) - 0.01
    assert res["rmt"].run_ms < res["none"].run_ms


class RecordingEngine:
    """An engine stub for the adapter: records the contexts it is given and answers
    `decision` with ctx.pf = `pf` (DEFAULT, -1, by default)."""

    def __init__(self, decision: int = -1, pf: list[int] | None = None):
        self.ctxs: list[dict] = []
        self.decision, self.pf = decision, pf

    def run(self, ctx, **kw):
        from rmt.contract.engine import RunResult
        self.ctxs.append(codec.ctx_decode(HOOK, ctx))
        out = ctx if self.pf is None else codec.ctx_encode(HOOK, {"pf": self.pf})
        return RunResult(self.decision, out)


class AllSwapped:
    """A swap view in which every page is swapped out."""

    def in_swap(self, p):
        return True


def test_rmt_prefetcher_context_and_defaults():
    from rmt.swap_sim.prefetch import Fault
    e = RecordingEngine()
    pf = RmtPrefetcher(e, _example_prog(), cgroup_id=5)
    for page, major, hit in [(100, True, False), (104, False, True), (101, True, False)]:
        assert pf.fault(Fault(page, 1, major, hit), AllSwapped()) == []
    assert len(e.ctxs) == 2 and pf.defaults == 2
    c = e.ctxs[1]
    assert c["hist"][:2] == [-3, 4] and c["hist_len"] == 2 and c["ra_hits"] == 1
    assert c["page"] == 101 and c["addr"] == 101 << 12 and c["cgroup_id"] == 5


def _stab_program(engine):
    """The example with a one-split tree (hist[0] > 0 -> deltas 2, 4, 6, 8) behind
    cgroup 7's learned action; returns (engine, program, run)."""
    from rmt.contract import weights as W
    prog = _example_prog()
    eng = engine(objfile.write(prog))
    t = prog.tables[0]
    a = next(i for i, ac in enumerate(t.actions) if ac.name == "learned")
    eng.table_insert(0, Entry((Exact(7),), a, codec.pack_params(t.actions[a], [16, 1, 50])))
    leaf = [4, 2, 4, 6, 8] + [0] * 12
    tree = W.Tree([[0, 0, 1, 2, 0], [-1, 0, 0, 0, 0], [-1, 0, 0, 0, 1]], [[0] * 17, leaf])
    eng.model_load(0, W.write_weights(W.ModelWeights(prog.models[0].kind, 8, 17, 16,
                                                     trees=[tree])))

    def run(page, hist, ra_hits=0, prev_window=0):
        r = eng.run(codec.ctx_encode(HOOK, {"cgroup_id": 7, "page": page, "hist_len": len(hist),
                                            "hist": hist + [0] * (8 - len(hist)),
                                            "ra_hits": ra_hits, "prev_window": prev_window}))
        return r.decision, codec.ctx_decode(HOOK, r.ctx, ["pf"])["pf"][:r.decision]
    stab = next(i for i, m in enumerate(prog.maps) if m.name == "stab")
    return eng, stab, run


@pytest.mark.parametrize("engine", available(), ids=lambda e: e.__name__)
def test_stability_gate(engine):
    """Links relearned with the successor they had count as stable; below min_stable
    (50% here) the chain reaches 1 page (16 after hits) and the tree is not used."""
    eng, stab, run = _stab_program(engine)
    # faults at 65, 85, 90, 100 (all since the last run: ra_hits 7): three new links
    assert run(100, [10, 5, 20], ra_hits=7) == (4, [2, 4, 6, 8])        # no chain at 100: tree
    assert eng.map_read(stab) == {0: 0, 1: 0}                            # nothing relearned yet
    run(100, [10, 5, 20], ra_hits=7)                                     # the same three again
    assert eng.map_read(stab) == {0: 3, 1: 3}
    # 90 is now followed by 101, not 100: relearned, not the same; only hist[0..ra_hits] count
    run(101, [11, 5, 20], ra_hits=0)
    assert eng.map_read(stab) == {0: 4, 1: 3}
    assert run(85, [3], ra_hits=0) == (2, [5, 16])                       # 75% stable: full reach
    # unstable: 1 of 4 links repeated
    eng.map_write(stab, 0, 4)
    eng.map_write(stab, 1, 1)
    assert run(85, [3]) == (0, [])                 # 85 -> 90 is 5 pages away; no tree either
    run(300, [1, 1, 1], ra_hits=7)                 # links 297 -> 298 -> 299 -> 300
    eng.map_write(stab, 0, 4)
    eng.map_write(stab, 1, 1)
    assert run(297, [50]) == (1, [1])                                    # reach 1
    eng.map_write(stab, 0, 4)
    eng.map_write(stab, 1, 1)
    assert run(297, [50], ra_hits=1) == (3, [1, 2, 3])                   # reach 16 after hits
    # the estimate is a moving window: both counts halve past 256
    eng.map_write(stab, 0, 257)
    eng.map_write(stab, 1, 200)
    run(400, [7])
    assert eng.map_read(stab) == {0: 128, 1: 100}


@pytest.mark.parametrize("engine", available(), ids=lambda e: e.__name__)
def test_set_dueling_credits_leaders_and_followers_take_the_better(engine):
    """Faults in pages 0..15 (mod 2048) always take the chain first, in 16..31 the tree;
    a leader's pages that are hit later credit it once; the other pages follow the leader
    with more pages used per decision (ties: the chain)."""
    eng, _, run = _stab_program(engine)
    duel = next(i for i, m in enumerate(eng.prog.maps) if m.name == "duel")
    # chain leader at 4, no chain yet: falls back to the tree, pages 6, 8, 10, 12 stamped
    assert run(4, [50]) == (4, [2, 4, 6, 8])
    # faults since: 6 and 8 (hits), then 100: the chain leader used 2 pages
    run(100, [92, 2, 2], ra_hits=2)
    assert eng.map_read(duel) == {0: 1, 1: 1, 2: 2, 3: 0, 4: 0}     # [0]: leader decisions
    run(120, [12, 8], ra_hits=1)                   # 8 again: its stamp was used up
    assert eng.map_read(duel)[2] == 2
    # tree leader at 20, then 22, 24, 26 hit: 3 pages used
    assert run(20, [3]) == (4, [2, 4, 6, 8])
    run(200, [174, 2, 2, 2], ra_hits=3)
    assert eng.map_read(duel) == {0: 2, 1: 1, 2: 2, 3: 1, 4: 3}
    # a follower (297) with a chain 297 -> 298 -> 299 -> 300 takes the tree: 3 > 2 per decision
    run(300, [1, 1, 1], ra_hits=7)
    assert run(297, [50]) == (4, [2, 4, 6, 8])
    for used_by_chain, want in [(3, (3, [1, 2, 3])), (4, (3, [1, 2, 3])), (2, (4, [2, 4, 6, 8]))]:
        eng.map_write(duel, 2, used_by_chain)
        assert run(297, [50]) == want, used_by_chain
    # followers only read the duel: no leader clock tick, no counts
    before = eng.map_read(duel)
    run(297, [50])
    assert eng.map_read(duel) == before
    # each leader's counts are a moving window: halved past 64 decisions
    eng.map_write(duel, 1, 64)
    eng.map_write(duel, 2, 11)
    run(4100, [50])                                  # chain leader (4100 mod 2048 = 4)
    d = eng.map_read(duel)
    assert (d[1], d[2]) == (32, 5)
    # a stamp older than 16 leader decisions earns nothing
    assert run(2052, [50]) == (4, [2, 4, 6, 8])     # chain leader (2052 mod 2048 = 4)
    before = eng.map_read(duel)
    eng.map_write(duel, 0, before[0] + 20)
    run(2100, [44, 2, 2], ra_hits=2)
    assert eng.map_read(duel)[2] == before[2]


def test_adapter_prev_window_counts_the_fault():
    """The adapter reports the previous window as the kernel does: decision + 1 pages."""
    from rmt.swap_sim.prefetch import Fault
    e = RecordingEngine(3, [1, 2, 3] + [0] * 13)
    pf = RmtPrefetcher(e, _example_prog())
    assert pf.fault(Fault(10, 1, True, False), AllSwapped()) == [11, 12, 13]
    assert pf.fault(Fault(20, 2, True, False), AllSwapped()) == [21, 22, 23]
    assert [c["prev_window"] for c in e.ctxs] == [0, 4]


def test_min_stable_choice_rule():
    """prefetch-eval's rule: most targets against readahead, then against Leap, then the
    least modelled run time, then the smallest threshold (the most prefetching)."""
    from rmt.casestudies import prefetch_eval as pe

    def c(ra: int, leap: int) -> list:
        return ([("w: rmt coverage > ra-cluster", i < ra, "") for i in range(3)]
                + [("w: rmt coverage > leap", i < leap, "") for i in range(2)])
    assert pe.choose_min_stable({0: c(2, 2), 10: c(2, 1), 20: c(3, 1), 30: c(3, 1)}) == 20
    assert pe.choose_min_stable({0: c(3, 1), 10: c(3, 2), 20: c(3, 2)}) == 10
    assert pe.choose_min_stable({0: c(3, 2), 50: c(3, 2)}) == 0
    assert pe.choose_min_stable({0: c(3, 2), 50: c(3, 2)}, {0: 9.2, 50: 8.7}) == 50
    assert pe.choose_min_stable({0: c(3, 2), 50: c(3, 1)}, {0: 9.2, 50: 8.7}) == 0
    assert pe.choose_min_stable({0: c(3, 2), 50: c(3, 2)}, {0: 8.7, 50: 8.7}) == 0
