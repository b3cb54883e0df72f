"""A cheap abstract interpretation of Z3 terms, to discharge easy goals without the solver.

Most goals in compiled code are easy (an index masked with `& 31`, a decision
that is one of a few constants, a divisor or-ed with 1), but a solver query
over a long program still bit-blasts every multiplication and division in
the cone.  This module evaluates a term bottom-up over a small domain -- a
set of at most SET_MAX values, or an unsigned interval [lo, hi] -- memoised
per term (Z3 hash-conses terms, so shared subterms are visited once), and
evaluates Booleans three-valued.  It is sound: when `truth(prop)` is True the
property holds for every input; None means "ask the solver".
"""
from __future__ import annotations

import z3

SET_MAX = 16


class AV:
    """Abstract value of a width-w bitvector: `vals` (exact small set) or [lo, hi] unsigned."""
    __slots__ = ("w", "lo", "hi", "vals")

    def __init__(self, w: int, lo: int, hi: int, vals: frozenset | None = None):
        self.w, self.lo, self.hi, self.vals = w, lo, hi, vals

    @staticmethod
    def of_set(w: int, vals) -> "AV":
        vals = frozenset(vals)
        if len(vals) > SET_MAX:
            return AV(w, min(vals), max(vals))
        return AV(w, min(vals), max(vals), vals)

    @staticmethod
    def mk(w: int, lo: int, hi: int) -> "AV":
        """[lo, hi], as an exact set when it is small."""
        if hi - lo < SET_MAX:
            return AV(w, lo, hi, frozenset(range(lo, hi + 1)))
        return AV(w, lo, hi)

    @staticmethod
    def top(w: int) -> "AV":
        return AV(w, 0, (1 << w) - 1)

    def signed(self) -> tuple[int, int] | None:
        """Signed interval, when it does not straddle the sign boundary."""
        half = 1 << (self.w - 1)
        if self.vals is not None:
            s = [v - (1 << self.w) if v >= half else v for v in self.vals]
            return min(s), max(s)
        if self.hi < half:
            return self.lo, self.hi
        if self.lo >= half:
            return self.lo - (1 << self.w), self.hi - (1 << self.w)
        return None


def _pair(f, a: AV, b: AV, w: int) -> AV | None:
    if a.vals is not None and b.vals is not None and len(a.vals) * len(b.vals) <= 4 * SET_MAX:
        m = (1 << w) - 1
        return AV.of_set(w, {f(x, y) & m for x in a.vals for y in b.vals})
    return None


def _bits(n: int) -> int:
    return (1 << n.bit_length()) - 1


class Abs:
    """Evaluator with a memo table; `ranges` gives each input variable's unsigned range."""

    def __init__(self, ranges: dict[int, tuple[int, int]]):
        self.ranges = ranges
        self.memo: dict[int, tuple[z3.ExprRef, AV]] = {}       # id -> (term kept alive, value)
        self.bmemo: dict[int, tuple[z3.ExprRef, bool | None]] = {}

    # ------------------------------------------------------------ values

    def val(self, e: z3.BitVecRef) -> AV:
        eid = e.get_id()
        got = self.memo.get(eid)
        if got is not None:
            return got[1]
        # iterative post-order to survive deep terms; each node expanded once
        stack = [(e, None)]
        expanded: set[int] = set()
        while stack:
            t, kids = stack.pop()
            tid = t.get_id()
            if tid in self.memo:
                continue
            if kids is None:
                if tid in expanded:
                    continue
                expanded.add(tid)
                kids = t.children()
                stack.append((t, kids))
                for k in kids:
                    if z3.is_bv(k) and k.get_id() not in self.memo:
                        stack.append((k, None))
                continue
            self.memo[tid] = (t, self._eval(t, kids))
        return self.memo[eid][1]

    def _eval(self, e: z3.ExprRef, kids: list) -> AV:
        w = e.size()
        k = e.decl().kind()
        full = AV.top(w)
        if k == z3.Z3_OP_BNUM:
            v = e.as_long()
            return AV(w, v, v, frozenset([v]))
        if k == z3.Z3_OP_UNINTERPRETED:
            lo, hi = self.ranges.get(e.get_id(), (0, (1 << w) - 1))
            return AV.mk(w, lo, hi)
        if k == z3.Z3_OP_ITE:
            a, b = self.val(kids[1]), self.val(kids[2])
            c = self.truth(kids[0])
            if c is True:
                return a
            if c is False:
                return b
            if a.vals is not None and b.vals is not None:
                return AV.of_set(w, a.vals | b.vals)
            return AV(w, min(a.lo, b.lo), max(a.hi, b.hi))
        vs = [self.val(x) for x in kids if z3.is_bv(x)]
        m = (1 << w) - 1
        if k == z3.Z3_OP_EXTRACT:
            hi_bit, lo_bit = e.params()
            a = vs[0]
            if a.vals is not None:
                return AV.of_set(w, {(v >> lo_bit) & m for v in a.vals})
            if a.hi < (1 << (hi_bit + 1)):
                return AV.mk(w, a.lo >> lo_bit, a.hi >> lo_bit)
            return full
        if k == z3.Z3_OP_ZERO_EXT:
            a = vs[0]
            return AV(w, a.lo, a.hi, a.vals)
        if k == z3.Z3_OP_SIGN_EXT:
            a = vs[0]
            half = 1 << (a.w - 1)
            if a.vals is not None:
                return AV.of_set(w, {v if v < half else v + (m + 1) - (1 << a.w)
                                     for v in a.vals})
            if a.hi < half:
                return AV(w, a.lo, a.hi)
            if a.lo >= half:
                ext = (m + 1) - (1 << a.w)
                return AV(w, a.lo + ext, a.hi + ext)
            return full
        if k == z3.Z3_OP_CONCAT:
            lo = hi = 0
            sets: frozenset | None = frozenset([0])
            for x, av in zip(kids, vs):
                xw = x.size()
                lo, hi = (lo << xw) | av.lo, (hi << xw) | av.hi
                if sets is not None and av.vals is not None and \
                        len(sets) * len(av.vals) <= SET_MAX:
                    sets = frozenset((s << xw) | v for s in sets for v in av.vals)
                else:
                    sets = None
            return AV(w, lo, hi, sets) if sets is not None else AV(w, lo, hi)
        if len(vs) == 1 and k == z3.Z3_OP_BNEG:
            a = vs[0]
            return AV.of_set(w, {(-v) & m for v in a.vals}) if a.vals is not None else full
        if len(vs) != 2:
            if k in (z3.Z3_OP_BADD, z3.Z3_OP_BMUL, z3.Z3_OP_BAND, z3.Z3_OP_BOR,
                     z3.Z3_OP_BXOR) and len(vs) > 2:
                acc = vs[0]
                for b in vs[1:]:
                    acc = self._bin(k, acc, b, w)
                return acc
            return full
        return self._bin(k, vs[0], vs[1], w)

    def _bin(self, k: int, a: AV, b: AV, w: int) -> AV:
        m = (1 << w) - 1
        full = AV.top(w)
        if k == z3.Z3_OP_BADD:
            return _pair(lambda x, y: x + y, a, b, w) or (
                AV.mk(w, a.lo + b.lo, a.hi + b.hi) if a.hi + b.hi <= m else full)
        if k == z3.Z3_OP_BSUB:
            return _pair(lambda x, y: x - y, a, b, w) or (
                AV.mk(w, a.lo - b.hi, a.hi - b.lo) if a.lo >= b.hi else full)
        if k == z3.Z3_OP_BMUL:
            return _pair(lambda x, y: x * y, a, b, w) or (
                AV.mk(w, a.lo * b.lo, a.hi * b.hi) if a.hi * b.hi <= m else full)
        if k == z3.Z3_OP_BAND:
            return _pair(lambda x, y: x & y, a, b, w) or AV.mk(w, 0, min(a.hi, b.hi))
        if k == z3.Z3_OP_BOR:
            return _pair(lambda x, y: x | y, a, b, w) or \
                AV.mk(w, max(a.lo, b.lo), _bits(max(a.hi, b.hi)))
        if k == z3.Z3_OP_BXOR:
            return _pair(lambda x, y: x ^ y, a, b, w) or AV.mk(w, 0, _bits(max(a.hi, b.hi)))
        if k in (z3.Z3_OP_BUDIV, z3.Z3_OP_BUDIV_I):
            if b.lo >= 1:
                return _pair(lambda x, y: x // y, a, b, w) or AV.mk(w, a.lo // b.hi, a.hi // b.lo)
            return full
        if k in (z3.Z3_OP_BUREM, z3.Z3_OP_BUREM_I):
            if b.lo >= 1:
                return _pair(lambda x, y: x % y, a, b, w) or AV.mk(w, 0, min(a.hi, b.hi - 1))
            return AV.mk(w, 0, a.hi)
        if k in (z3.Z3_OP_BLSHR, z3.Z3_OP_BSHL):
            got = _pair((lambda x, y: x >> y if y < w else 0) if k == z3.Z3_OP_BLSHR
                        else (lambda x, y: x << y if y < w else 0), a, b, w)
            if got is not None:
                return got
        if k == z3.Z3_OP_BLSHR:
            if b.vals is not None and len(b.vals) == 1:
                s = next(iter(b.vals))
                return AV.mk(w, a.lo >> s, a.hi >> s) if s < w else AV.mk(w, 0, 0)
            return AV.mk(w, 0, a.hi)
        if k == z3.Z3_OP_BSHL:
            if b.vals is not None and len(b.vals) == 1:
                s = next(iter(b.vals))
                if s < w and a.hi << s <= m:
                    return AV.mk(w, a.lo << s, a.hi << s)
            return full
        return full

    # ------------------------------------------------------------ booleans

    def truth(self, b, depth: int = 0) -> bool | None:
        """True / False when the abstraction decides it for all inputs, else None."""
        if isinstance(b, bool):
            return b
        if depth > 40:              # deep path conditions: not worth it
            return None
        bid = b.get_id()
        got = self.bmemo.get(bid)
        if got is not None:
            return got[1]
        t = self._truth(b, depth)
        self.bmemo[bid] = (b, t)
        return t

    def _truth(self, b, depth: int) -> bool | None:
        k = b.decl().kind()
        if k == z3.Z3_OP_TRUE:
            return True
        if k == z3.Z3_OP_FALSE:
            return False
        kids = b.children()
        if k == z3.Z3_OP_NOT:
            t = self.truth(kids[0], depth + 1)
            return None if t is None else not t
        if k == z3.Z3_OP_AND:
            ts = [self.truth(x, depth + 1) for x in kids]
            return False if False in ts else (True if all(t is True for t in ts) else None)
        if k == z3.Z3_OP_OR:
            ts = [self.truth(x, depth + 1) for x in kids]
            return True if True in ts else (False if all(t is False for t in ts) else None)
        if len(kids) != 2 or not z3.is_bv(kids[0]):
            return None
        a, c = self.val(kids[0]), self.val(kids[1])
        if k == z3.Z3_OP_EQ:
            if a.vals is not None and c.vals is not None:
                if not a.vals & c.vals:
                    return False
                if len(a.vals) == 1 and a.vals == c.vals:
                    return True
                return None
            return False if a.hi < c.lo or c.hi < a.lo else None
        if k == z3.Z3_OP_DISTINCT:
            t = self.truth(kids[0] == kids[1], depth + 1)
            return None if t is None else not t
        unsigned = {z3.Z3_OP_ULEQ: (a, c, True), z3.Z3_OP_ULT: (a, c, False),
                    z3.Z3_OP_UGEQ: (c, a, True), z3.Z3_OP_UGT: (c, a, False)}
        if k in unsigned:
            x, y, eq = unsigned[k]
            return _le((x.lo, x.hi), (y.lo, y.hi), eq)
        signed = {z3.Z3_OP_SLEQ: (a, c, True), z3.Z3_OP_SLT: (a, c, False),
                  z3.Z3_OP_SGEQ: (c, a, True), z3.Z3_OP_SGT: (c, a, False)}
        if k in signed:
            x, y, eq = signed[k]
            sx, sy = x.signed(), y.signed()
            if sx is None or sy is None:
                return None
            return _le(sx, sy, eq)
        return None


def _le(x: tuple[int, int], y: tuple[int, int], eq: bool) -> bool | None:
    """x <= y (eq) or x < y for all values of the intervals: True, False or None."""
    if (x[1] <= y[0]) if eq else (x[1] < y[0]):
        return True
    if (x[0] > y[1]) if eq else (x[0] >= y[1]):
        return False
    return None
