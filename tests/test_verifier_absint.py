"""The verifier's abstract interpretation must over-approximate: every concrete value of a
term lies in its abstract value, and a property it calls True holds at every point."""
from __future__ import annotations

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from rmt.verifier.absint import Abs

X = z3.BitVec("x", 64)
Y = z3.BitVec("y", 64)
S = z3.BitVec("s", 64)          # a signed input in [-300, 300]
RANGES = {X.get_id(): (0, 1000), Y.get_id(): (3, 40)}
SRANGES = {S.get_id(): (-300, 300)}
_CMP = [z3.ULT, z3.ULE, z3.UGT, z3.UGE, lambda a, b: a < b, lambda a, b: a <= b,
        lambda a, b: a > b, lambda a, b: a >= b, lambda a, b: a == b, lambda a, b: a != b]

_BIN = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a & b,
        lambda a, b: a | b, lambda a, b: a ^ b, z3.UDiv, z3.URem, z3.LShR,
        lambda a, b: a << b, lambda a, b: a >> b, lambda a, b: a / b]


@st.composite
def terms(draw, depth: int = 3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from([X, Y, S, z3.BitVecVal(draw(st.integers(0, 70)), 64),
                                     z3.BitVecVal(-draw(st.integers(1, 5)), 64)]))
    k = draw(st.integers(0, len(_BIN) + 6))
    a = draw(terms(depth - 1))
    if k < len(_BIN):
        return _BIN[k](a, draw(terms(depth - 1)))
    if k == len(_BIN):
        return z3.ZeroExt(32, z3.Extract(31, 0, a))
    if k == len(_BIN) + 1:
        return z3.SignExt(56, z3.Extract(7, 0, a))
    if k == len(_BIN) + 2:
        # a comparison of two terms: the arm is narrowed by the other term's bounds
        b = draw(terms(depth - 1))
        c = draw(st.sampled_from(_CMP))(*((a, b) if draw(st.booleans()) else (b, a)))
        other = draw(terms(depth - 1))
        return z3.If(c, a, other) if draw(st.booleans()) else z3.If(c, other, a)
    if k == len(_BIN) + 3:
        return z3.Concat(z3.BitVecVal(0, 48), z3.Extract(15, 0, a))
    # an ITE on a comparison of one arm with a constant (clamps, and their negations and
    # conjunctions with other facts): the arms are narrowed by the condition
    cmp = draw(st.sampled_from(_CMP))
    c = cmp(a, z3.BitVecVal(draw(st.integers(-100, 100)), 64))
    if k == len(_BIN) + 5:
        c = z3.And(c, z3.ULT(Y, draw(st.integers(0, 50))))
    elif k == len(_BIN) + 6:
        c = z3.Not(z3.Or(z3.Not(c), S > draw(st.integers(-50, 50))))
    other = draw(terms(depth - 1))
    return z3.If(c, a, other) if draw(st.booleans()) else z3.If(c, other, a)


@settings(max_examples=300, deadline=None)
@given(terms(), st.lists(st.tuples(st.integers(0, 1000), st.integers(3, 40),
                                   st.sampled_from([-300, -1, 0, 1, 300]) | st.integers(-300, 300)),
                         min_size=4, max_size=8), st.integers(-200, 200))
def test_values_are_contained(t, points, c) -> None:
    ab = Abs(RANGES, SRANGES)
    av = ab.val(t)
    sv = av.signed()
    props = [z3.ULE(t, c), z3.UGT(t, c), t == c, t != c, t <= c, t > c,
             z3.Or(t == c, z3.And(t >= 0, t <= 16)), z3.And(t >= -8192, t <= 8192)]
    verdicts = [ab.truth(p) for p in props]
    for x, y, s_ in points:
        sub = [(X, z3.BitVecVal(x, 64)), (Y, z3.BitVecVal(y, 64)), (S, z3.BitVecVal(s_, 64))]
        v = z3.simplify(z3.substitute(t, *sub)).as_long()
        assert av.lo <= v <= av.hi
        if av.vals is not None:
            assert v in av.vals
        if sv is not None:
            assert sv[0] <= (v - (1 << 64) if v >> 63 else v) <= sv[1]
        for p, verdict in zip(props, verdicts):
            if verdict is None:
                continue
            holds = z3.is_true(z3.simplify(z3.substitute(p, *sub)))
            assert holds == verdict, (p, x, y, s_)


def _sv(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def K(v: int) -> z3.BitVecRef:
    return z3.BitVecVal(v, 64)


def _clamp(v, lo: int, hi: int):
    low = z3.If(v > hi, K(hi), v)                 # min(v, hi), then max(that, lo)
    return z3.If(low < lo, K(lo), low)


# Clamps as the compiler's merges select them (on the branch's own comparison), each with
# the signed interval the abstraction must find: exact, so a weaker narrowing fails too.
CLAMPS = [
    ("max(min(s*4, 500), -500)", _clamp(S * 4, -500, 500), (-500, 500)),
    ("min(s, 5) via its negation", z3.If(z3.Not(S < 5), K(5), S), (-300, 5)),
    ("x - 500 clamped below at -7", z3.If(X - 500 >= -7, X - 500, K(-7)), (-7, 500)),
    ("a strict bound: s if s < 5 else -1", z3.If(S < 5, S, K(-1)), (-300, 4)),
    ("a difference of two ranges", S - X, (-1300, 300)),
    ("unsigned min(x, 77)", z3.If(z3.UGT(X, 77), K(77), X), (0, 77)),
    ("fact in a conjunction", z3.If(z3.And(z3.ULT(Y, 9), S <= -10), S, K(-10)), (-300, -10)),
    ("fact in a negated disjunction",
     z3.If(z3.Not(z3.Or(S > 20, z3.ULT(Y, 9))), S, K(20)), (-300, 20)),
    ("min(s, x / 4): a cap that is a term", z3.If(S <= z3.UDiv(X, 4), S, z3.UDiv(X, 4)),
     (-300, 250)),
    ("max(s, x / 4) mirrored", z3.If(z3.UDiv(X, 4) < S, S, z3.UDiv(X, 4)), (0, 300)),
    ("the low 32 bits of a small signed value", z3.SignExt(32, z3.Extract(31, 0, S - 1000)),
     (-1300, -700)),
]


@pytest.mark.parametrize("name,t,want", CLAMPS, ids=[c[0] for c in CLAMPS])
def test_clamps_are_signed_intervals(name, t, want) -> None:
    ab = Abs(RANGES, SRANGES)
    assert ab.val(t).signed() == want
    lo, hi = want
    assert ab.truth(z3.And(t >= lo, t <= hi)) is True
    assert ab.truth(t < lo) is False
    seen = set()
    for s_ in [*range(-300, 301, 7), -10, -1, 0, 4, 5, 20, 21, 300]:
        for x in (0, 3, 77, 78, 493, 500, 1000):
            sub = [(X, K(x)), (Y, K(8 if x < 100 else 20)), (S, K(s_))]
            v = _sv(z3.simplify(z3.substitute(t, *sub)).as_long())
            assert lo <= v <= hi
            seen.add(v)
    assert lo in seen and hi in seen       # the interval is tight, not just sound


def test_one_small_set_term_is_split_by_value() -> None:
    """A decision in {-1, 0, 1} is allowed by `d == -1 or 0 <= d <= 16` for each value,
    although neither disjunct holds everywhere."""
    ab = Abs(RANGES, SRANGES)
    d = z3.If(z3.ULT(X, 10), K(-1), z3.If(z3.ULT(Y, 20), K(0), K(1)))
    assert ab.truth(z3.Or(d == -1, z3.And(d >= 0, d <= 16))) is True
    assert ab.truth(z3.Or(d == -1, z3.And(d >= 0, d <= 0))) is None
    assert ab.truth(z3.And(d != -1, d > 1)) is False


# terms for the relational narrowing: an ITE arm compared with another term
_REL_TERMS = [X, Y, S, z3.UDiv(X, 4), S * 2, X - 500, -S, K(40), K(-3)]
_GRID = [(x, y, s_) for x in (0, 3, 250, 1000) for y in (3, 20, 40)
         for s_ in (-300, -1, 0, 5, 300)]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_CMP), st.sampled_from(_REL_TERMS), st.sampled_from(_REL_TERMS),
       st.booleans(), st.sampled_from(_REL_TERMS))
def test_relational_narrowing_is_sound(cmp, a, b, then_arm, other) -> None:
    """An arm narrowed by its comparison with another term still holds every value the
    arm takes where the condition selects it."""
    c = cmp(a, b)
    for t in (z3.If(c, a, other), z3.If(z3.Not(c), other, a), z3.If(c, other, b)):
        ab = Abs(RANGES, SRANGES)
        av = ab.val(t)
        sv = av.signed()
        for x, y, s_ in _GRID:
            sub = [(X, K(x)), (Y, K(y)), (S, K(s_))]
            v = z3.simplify(z3.substitute(t, *sub)).as_long()
            assert av.lo <= v <= av.hi and (av.vals is None or v in av.vals), (t, x, y, s_)
            if sv is not None:
                assert sv[0] <= _sv(v) <= sv[1], (t, x, y, s_)
