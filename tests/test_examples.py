"""The example programs compile, and run as their comments say on sample contexts.

Each flagship example runs on every available engine (the Python reference
semantics and the C VM) with hand-made table entries and model weights whose
effect is easy to compute, so the decisions asserted here follow from the
program's logic, not from a trained model.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.contract import codec
from rmt.contract.engine import Entry
from rmt.contract import weights as W

from engines import available

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.rmt"))


def compile_example(name: str) -> objfile.Program:
    path = ROOT / "examples" / name
    return compile_source(path.read_text(), str(path.relative_to(ROOT)))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_compiles_and_round_trips(path):
    prog = compile_source(path.read_text(), str(path))
    assert prog.code and prog.code[-1].op.name == "EXIT"
    assert objfile.read(objfile.write(prog)) == prog
    for engine in available():                      # every engine's loader accepts it
        engine(objfile.write(prog))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_accepted_by_the_verifier(path):
    """Every example verifies from its signatures alone (bounds, init, overflow, decisions,
    guards, cost, permissions, export), so `rmtctl insert` takes it without --force."""
    from rmt.verifier import verify
    from rmt.verifier.report import text
    report = verify(compile_source(path.read_text(), str(path)))
    assert report.accepted, text(report, str(path))


def entry(prog, table: str, matches: list[str], action: str, args: list[int], prio=0) -> tuple:
    t = next(i for i, tb in enumerate(prog.tables) if tb.name == table)
    tb = prog.tables[t]
    a = next(i for i, ac in enumerate(tb.actions) if ac.name == action)
    return t, Entry(codec.parse_matches(tb, matches), a, codec.pack_params(tb.actions[a], args),
                    prio)


def model_index(prog, name: str) -> int:
    return next(i for i, m in enumerate(prog.models) if m.name == name)


@pytest.mark.parametrize("engine", available(), ids=lambda e: e.__name__)
def test_forced_migration(engine):
    prog = compile_example("forced_migration.rmt")
    eng = engine(objfile.write(prog))
    eng.table_insert(*entry(prog, "policy", ["0", "0..1024"], "predict", [0, 0]))
    eng.table_insert(*entry(prog, "policy", ["2", "0..1024"], "deny", []))
    eng.table_insert(*entry(prog, "policy", ["1", "5..5"], "predict", [2, 0]))   # veto policy
    eng.table_insert(*entry(prog, "policy", ["1", "6..6"], "predict", [1, 0]))   # tree
    # features are Q8 (1.0 = 256).  Hidden unit 0 = relu(1000 * x[13]) (balance failed more
    # than cache_nice_tries), clamped to the input range 8192; output 0 = h0 - 500: positive
    # (ALLOW) exactly when balancing kept failing; output 1 ("forced") = h1 - 500 with
    # h1 = relu(x[1]) (delta_hot) + ... only positive when both are set.
    w1 = [[0] * 17 for _ in range(12)]
    w1[0][13] = 1000
    w1[1][1], w1[1][13] = 2, 2               # delta_hot + failed: 1024 when both, 512 one
    w2 = [[1] + [0] * 11, [0, 1] + [0] * 10]
    blob = W.write_weights(W.ModelWeights(
        prog.models[0].kind, 17, 2, 16,
        [W.DenseLayer(w1, [0] * 12, 0, True), W.DenseLayer(w2, [-500, -600], 0, False)]))
    eng.model_load(model_index(prog, "predictor"), blob)
    # the tree: x[1] (delta_hot) <= 128 -> leaf (ALLOW, not forced), else (DENY, not forced)
    tree = W.Tree([[1, 128, 1, 2, 0], [-1, 0, 0, 0, 0], [-1, 0, 0, 0, 1]], [[5, -1], [-5, -1]])
    eng.model_load(model_index(prog, "tree_predictor"), W.write_weights(
        W.forest([tree], 17, kind=prog.models[1].kind)))

    def run(**f):
        return eng.run(codec.ctx_encode(prog.hook, f)).decision

    base = dict(idle=0, cache_nice_tries=1, kernel_verdict=1)
    assert run(pid=1, nr_balance_failed=3, **base) == 1            # forced migration: ALLOW
    assert run(pid=2, nr_balance_failed=0, **base) == 0            # cache-hot, keep: DENY
    assert run(pid=3, nr_balance_failed=3, hard_veto=1, **base) == -1
    assert run(pid=4, nr_balance_failed=3, idle=1, cache_nice_tries=1) == 1  # default: predict
    assert run(pid=5, idle=2) == 0                                 # table says deny
    # veto policy: DENY what the forced head predicts (hot and failed), DEFAULT otherwise
    hot = dict(exec_age_ns=100, migration_cost_ns=500000)
    assert run(pid=6, idle=1, nr_balance_failed=5, cache_nice_tries=1, **hot) == 0
    assert run(pid=6, idle=1, nr_balance_failed=5, cache_nice_tries=1) == -1
    # tree policy: ALLOW when not delta_hot, DENY when delta_hot
    assert run(pid=7, idle=1, nr_balance_failed=6) == 1
    assert run(pid=7, idle=1, nr_balance_failed=6, **hot) == 0
    # the guard: at most 8 DENY in a row for one task, then the kernel decides
    got = [run(pid=42, nr_balance_failed=0, **base) for _ in range(9)]
    assert got == [0] * 8 + [-1]
    # the trace: packed one-bit features, the numeric ones, labels, both models' outputs
    recs = eng.trace_drain()
    fmt = prog.traces[recs[0].fmt]
    first = {f.name: codec.decode_value(v, f.bits, f.signed) for f, v in zip(fmt.fields,
                                                                           recs[0].values)}
    assert [f.name for f in fmt.fields] == ["flags", "x_8", "x_9", "x_10", "x_11", "x_12",
                                            "verdict", "hot", "active", "y_0", "y_1", "t_0",
                                            "t_1"]
    # idle 0, failed, sd_level 0 (SMT)
    assert first["verdict"] == 1 and first["flags"] == (1 << 2) | (1 << 8) | (1 << 10)
    assert first["y_0"] == 8192 - 500 and first["x_8"] == -512             # src_nr_running 0
    assert "pid" not in [f.name for f in fmt.fields]
    # DENY: pid 2, the veto, the tree's DENY, 8 of pid 42; ALLOW: pids 1, 4, 7
    assert eng.map_read(0) == {0: 1 + 1 + 1 + 9, 1: 3}


@pytest.mark.parametrize("engine", available(), ids=lambda e: e.__name__)
def test_swap_prefetch(engine):
    prog = compile_example("swap_prefetch.rmt")
    eng = engine(objfile.write(prog))
    eng.table_insert(*entry(prog, "policy", ["7"], "learned", [8, 1, 0]))
    eng.table_insert(*entry(prog, "policy", ["9"], "off", []))
    # one split: latest delta <= 0 -> window 0, else window 4 with deltas 2, 4, 6, 8
    # (and 12 more deltas the window leaves out)
    leaf = [4, 2, 4, 6, 8] + [99] * 12
    tree = W.Tree([[0, 0, 1, 2, 0], [-1, 0, 0, 0, 0], [-1, 0, 0, 0, 1]], [[0] * 17, leaf])
    eng.model_load(model_index(prog, "next"), W.write_weights(
        W.ModelWeights(prog.models[0].kind, 8, 17, 16, trees=[tree])))

    def run(**f):
        r = eng.run(codec.ctx_encode(prog.hook, f))
        return r.decision, codec.ctx_decode(prog.hook, r.ctx, ["pf"])["pf"][:r.decision]

    assert run(cgroup_id=7, hist_len=2, hist=[2, 2]) == (4, [2, 4, 6, 8])     # learned deltas
    assert run(cgroup_id=7, hist_len=2, hist=[-3, 2]) == (0, [])              # tree: none
    # the table's cap on the window: 2 of the leaf's 4 deltas
    eng.table_modify(*entry(prog, "policy", ["7"], "learned", [2, 1, 0]))
    assert run(cgroup_id=7, hist_len=1, hist=[5]) == (2, [2, 4])
    eng.table_modify(*entry(prog, "policy", ["7"], "learned", [16, 1, 0]))
    # online links: faults at 65, 85, 90, 100 teach succ[65] = 20, [85] = 5, [90] = 10 ...
    # (100 has no link yet: the tree answers)
    assert run(cgroup_id=7, page=100, hist_len=3, hist=[10, 5, 20]) == (4, [2, 4, 6, 8])
    succ = next(i for i, m in enumerate(prog.maps) if m.name == "succ")
    assert eng.map_read(succ) == {1: 2, 3: -3 & (2**64 - 1), 65: 20, 85: 5, 90: 10}  # raw bits
    # ... and a fault at 65 replays them (3 links >= MIN_CHAIN), whatever the tree says
    assert run(cgroup_id=7, page=65, hist_len=1, hist=[7]) == (3, [20, 25, 35])
    # the previous prefetch went unused (a window, no hits): probe with 2 pages
    assert run(cgroup_id=7, page=65, hist_len=1, hist=[7], prev_window=3) == (2, [20, 25])
    # min_chain 17 turns the map off: the tree answers (hist[0] = 7 > 0)
    eng.table_modify(*entry(prog, "policy", ["7"], "learned", [16, 17, 0]))
    assert run(cgroup_id=7, page=65, hist_len=1, hist=[7]) == (4, [2, 4, 6, 8])
    assert run(cgroup_id=9, hist_len=2, hist=[1, 1]) == (0, [])               # off
    # readahead (the default action) sized like Linux; Linux's window counts the faulting
    # page, the decision only the pages after it: a miss far away -> window 1, nothing more
    assert run(cgroup_id=1, hist_len=1, hist=[5]) == (0, [])
    assert run(cgroup_id=1, hist_len=1, hist=[1], ra_hits=3) == (7, list(range(1, 8)))
    assert run(cgroup_id=1, hist_len=1, hist=[1], ra_hits=0, prev_window=8) == (3, [1, 2, 3])
    assert run(cgroup_id=1, hist_len=1, hist=[-1]) == (1, [1])         # adjacent, no hits: 2
    assert run(cgroup_id=1, hist_len=0) == (0, [])
    issued = next(i for i, m in enumerate(prog.maps) if m.name == "issued")
    assert eng.map_read(issued) == {0: 4 + 2 + 4 + 3 + 2 + 4, 1: 0 + 7 + 3 + 1 + 0, 2: 2, 3: 5}
