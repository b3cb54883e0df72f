"""The verifier's abstract interpretation must over-approximate: every concrete value of a
term lies in its abstract value, and a property it calls True holds at every point."""
from __future__ import annotations

import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from rmt.verifier.absint import Abs

X = z3.BitVec("x", 64)
Y = z3.BitVec("y", 64)
RANGES = {X.get_id(): (0, 1000), Y.get_id(): (3, 40)}

_BIN = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a & b,
        lambda a, b: a | b, lambda a, b: a ^ b, z3.UDiv, z3.URem, z3.LShR,
        lambda a, b: a << b, lambda a, b: a >> b, lambda a, b: a / b]


@st.composite
def terms(draw, depth: int = 3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from([X, Y, z3.BitVecVal(draw(st.integers(0, 70)), 64),
                                     z3.BitVecVal(-draw(st.integers(1, 5)), 64)]))
    k = draw(st.integers(0, len(_BIN) + 3))
    a = draw(terms(depth - 1))
    if k < len(_BIN):
        return _BIN[k](a, draw(terms(depth - 1)))
    if k == len(_BIN):
        return z3.ZeroExt(32, z3.Extract(31, 0, a))
    if k == len(_BIN) + 1:
        return z3.SignExt(56, z3.Extract(7, 0, a))
    if k == len(_BIN) + 2:
        return z3.If(z3.ULT(a, draw(terms(depth - 1))), a, draw(terms(depth - 1)))
    return z3.Concat(z3.BitVecVal(0, 48), z3.Extract(15, 0, a))


@settings(max_examples=150, deadline=None)
@given(terms(), st.lists(st.tuples(st.integers(0, 1000), st.integers(3, 40)), min_size=4,
                         max_size=8), st.integers(0, 200))
def test_values_are_contained(t, points, c) -> None:
    ab = Abs(RANGES)
    av = ab.val(t)
    props = [z3.ULE(t, c), z3.UGT(t, c), t == c, t != c, t <= c, t > c]
    verdicts = [ab.truth(p) for p in props]
    for x, y in points:
        v = z3.simplify(z3.substitute(t, (X, z3.BitVecVal(x, 64)),
                                      (Y, z3.BitVecVal(y, 64)))).as_long()
        assert av.lo <= v <= av.hi
        if av.vals is not None:
            assert v in av.vals
        for p, verdict in zip(props, verdicts):
            if verdict is None:
                continue
            holds = z3.is_true(z3.simplify(z3.substitute(
                p, (X, z3.BitVecVal(x, 64)), (Y, z3.BitVecVal(y, 64)))))
            assert holds == verdict, (p, x, y)
