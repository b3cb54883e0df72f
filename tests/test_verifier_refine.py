"""Interval proofs under a path's facts (verifier/refine.py): a goal the abstraction
proves only with the path's comparisons applied is settled without the solver, and an
index out of range on one path is still reported, with its counterexample."""
from __future__ import annotations

import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from rmt.compiler import compile_source
from rmt.verifier import verify
from rmt.verifier.absint import Abs
from rmt.verifier.inputs import Inputs
from rmt.verifier.refine import PathFacts, Under, _Infeasible, holds_under
from rmt.verifier.symexec import Executor
from test_verifier_absint import RANGES, SRANGES, S, X, Y, K, _CMP, terms

GUARDED = """hook test.sandbox;
map m: array<u64>[8] private;
apply {
    let k = ctx.a % 4;
    if k != 0 {
        m[2 * k - 1] += 1;
    }
    decide(0);
}"""

# the same index after the branches merge: k == 0 reaches it too (index 2 * 0 - 1)
MERGED = """hook test.sandbox;
map m: array<u64>[8] private;
apply {
    let k = ctx.a % 4;
    let j: u64 = 0;
    if k != 0 {
        j = 1;
    } else {
        j = 2;
    }
    m[2 * k - 1] += j;
    decide(0);
}"""


def _index_goal(src: str):
    prog = compile_source(src, "r.rmt")
    ex = Executor(prog, Inputs(), set())
    ex.run()
    [g] = [g for g in ex.goals if g.obligation.kind == "MapIndexInRange"]
    return prog, ex, g


def test_index_guarded_on_its_path_is_proved_without_the_solver() -> None:
    prog, ex, g = _index_goal(GUARDED)
    assert ex.abs.truth(g.prop) is None          # k may be 0 over all inputs
    assert holds_under(ex.abs, PathFacts(), g.path, g.prop)
    rep = verify(prog)
    assert rep.accepted and rep.queries == 0


def test_index_out_of_range_on_one_merged_path_is_reported() -> None:
    """The merged path is `k != 0 or k == 0`: only a fact of both disjuncts may be used
    (taking either disjunct's, or both, would call the path infeasible or k nonzero)."""
    prog, ex, g = _index_goal(MERGED)
    assert not holds_under(ex.abs, PathFacts(), g.path, g.prop)
    rep = verify(prog)
    assert not rep.accepted and rep.queries == 1
    [f] = rep.failures
    assert f.obligation.kind == "MapIndexInRange"
    cex = f.outcome.values
    assert cex["ctx.a"] % 4 == 0 and cex["index"] == 0xFFFFFFFF


def test_facts_of_a_disjunction_are_those_of_every_disjunct() -> None:
    pf = PathFacts()
    a, b = z3.ULT(X, 10), z3.ULT(Y, 5)
    got = {(op, x.get_id()) for op, x, _ in pf.of(z3.Or(z3.And(a, b), z3.And(a, z3.Not(b))))}
    assert got == {(z3.Z3_OP_ULT, X.get_id())}
    assert len(pf.of(z3.Not(z3.Or(a, b)))) == 2          # both comparisons fail
    assert pf.of(z3.Or(a, b)) == []


def _path(draw, t):
    """A path over comparisons of t (or of a term above it, or of the inputs) with
    constants, some on the left: And, Or, Not and a Boolean If of them."""
    atoms = []
    for _ in range(draw(st.integers(1, 3))):
        a, b = draw(st.sampled_from([t, X, Y, S, t + 1])), K(draw(st.integers(-40, 1100)))
        atoms.append(draw(st.sampled_from(_CMP))(*((a, b) if draw(st.booleans()) else (b, a))))
    f = atoms[0]
    for a in atoms[1:]:
        f = draw(st.sampled_from([z3.And, z3.Or]))(f, a if draw(st.booleans()) else z3.Not(a))
    if len(atoms) == 3 and draw(st.booleans()):       # a merged flag: If(c, a, b)
        f = z3.If(atoms[0], atoms[1], atoms[2])
    return z3.Not(f) if draw(st.booleans()) else f


_GRID = [(x, y, s_) for x in (0, 1, 9, 10, 11, 250, 999, 1000) for y in (3, 4, 5, 20, 40)
         for s_ in (-300, -41, -1, 0, 1, 5, 40, 300)]


@settings(max_examples=300, deadline=None)
@given(terms(), st.data(), st.integers(-40, 1100))
def test_values_under_a_path_are_contained(t, data, c) -> None:
    """Every value t takes where the path holds lies in t's value under the path's facts,
    a property called True holds there, and a path called infeasible holds nowhere."""
    path = _path(data.draw, t)
    facts = PathFacts().of(path)
    props = [z3.ULE(t, c), z3.UGT(t, c), t != c, t <= c, t > c]
    u = Under(Abs(RANGES, SRANGES), facts)
    try:
        av = u.val(t)
        verdicts = [u.truth(p) for p in props]
        infeasible = False
    except _Infeasible:
        infeasible = True
    for x, y, s_ in _GRID:
        sub = [(X, K(x)), (Y, K(y)), (S, K(s_))]
        if not z3.is_true(z3.simplify(z3.substitute(path, *sub))):
            continue
        assert not infeasible, (path, x, y, s_)
        v = z3.simplify(z3.substitute(t, *sub)).as_long()
        assert av.lo <= v <= av.hi and (av.vals is None or v in av.vals), (t, path, x, y, s_)
        for p, verdict in zip(props, verdicts):
            if verdict is not None:
                assert z3.is_true(z3.simplify(z3.substitute(p, *sub))) == verdict, \
                    (p, path, x, y, s_)
