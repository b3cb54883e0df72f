"""The walk for index scalings (`verifier/symexec.py` `_scalings`): linear in the index's
DAG, each scaling under the disjunction of the If-arm guards it is reached by, and the
verifier refusing an index whose DAG is larger than the walk's limit."""
from __future__ import annotations

from pathlib import Path

import z3

from rmt.verifier import symexec

CASES = Path(__file__).parent / "verifier" / "scaled_index"


def _joins(n: int) -> z3.BitVecRef:
    """n merges, each adding 1 on one path: the shapes symexec builds for such code."""
    x, c = z3.BitVec("x", 64), z3.BitVec("c", 64)
    v = x * 4
    for i in range(n):
        v = z3.If(c == i, v + 1, v)
    return v


def test_walk_is_linear_in_joins() -> None:
    got = symexec._scalings(_joins(60))            # 2**60 paths, about 180 nodes
    assert got is not None and len(got) == 1
    x, factor, _, guard = got[0]
    assert factor == 4 and str(x) == "x"
    # the scaled node is reached on every path: the guard is valid
    s = z3.Solver()
    s.add(z3.Not(guard))
    assert s.check() == z3.unsat


def test_scaling_under_one_arm_keeps_that_arms_guard() -> None:
    x, c = z3.BitVec("x", 64), z3.BitVec("c", 64)
    got = symexec._scalings(z3.If(c == 3, x << 2, x) + 1)
    assert got is not None and len(got) == 1
    s = z3.Solver()
    s.add(got[0][3], c != 3)
    assert s.check() == z3.unsat                    # only where c == 3


def test_index_larger_than_the_walk_limit_is_refused(monkeypatch) -> None:
    """The refusal path: with the limit below the 40-join case's DAG the same program is
    rejected for ScaleNoWrap (too large to check); at the real limit it is accepted."""
    from test_verifier_corpus import load_vcase, run_vcase   # the corpus's own runner
    case = load_vcase(CASES / "many_joins.ok.case")
    assert run_vcase(case).accepted
    monkeypatch.setattr(symexec, "_SCALE_WALK_LIMIT", 50)
    rep = run_vcase(case)
    assert not rep.accepted
    assert any(r.obligation.kind == "ScaleNoWrap" and "too large" in str(r.outcome)
               for r in rep.failures)
