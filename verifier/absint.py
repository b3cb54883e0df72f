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
    """Abstract value of a width-w bitvector: `vals` (exact small set) or [lo, hi] unsigned,
    and, where known, `s`: a signed interval the value also lies in (a clamp to [-K, K]
    is a signed interval that straddles the unsigned wrap, so [lo, hi] alone loses it)."""
    __slots__ = ("w", "lo", "hi", "vals", "s")

    def __init__(self, w: int, lo: int, hi: int, vals: frozenset | None = None,
                 s: tuple[int, int] | None = None):
        self.w, self.lo, self.hi, self.vals, self.s = w, lo, hi, vals, s

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
    def sint(w: int, slo: int, shi: int) -> "AV":
        """The signed interval [slo, shi] of width w (inside the signed range)."""
        mod = 1 << w
        if shi - slo < SET_MAX:
            return AV.of_set(w, {v % mod for v in range(slo, shi + 1)})
        if slo >= 0:
            return AV.mk(w, slo, shi)
        if shi < 0:
            return AV.mk(w, slo + mod, shi + mod)
        return AV(w, 0, mod - 1, None, (slo, shi))

    @staticmethod
    def top(w: int) -> "AV":
        return AV(w, 0, (1 << w) - 1)

    def signed(self) -> tuple[int, int] | None:
        """Signed interval, when it does not straddle the sign boundary or `s` gives it."""
        half = 1 << (self.w - 1)
        if self.vals is not None:
            s = [v - (1 << self.w) if v >= half else v for v in self.vals]
            return min(s), max(s)
        if self.hi < half:
            return self.lo, self.hi
        if self.lo >= half:
            return self.lo - (1 << self.w), self.hi - (1 << self.w)
        return self.s


def _smin(w: int) -> int:
    return -(1 << (w - 1))


def _smax(w: int) -> int:
    return (1 << (w - 1)) - 1


def _with_signed(av: AV, s: tuple[int, int] | None) -> AV:
    """av met with the signed interval s (both sound for the same term)."""
    if s is None or s[0] < _smin(av.w) or s[1] > _smax(av.w) or s[0] > s[1]:
        return av
    own = av.signed()
    if own is not None and own[0] >= s[0] and own[1] <= s[1]:
        return av
    alt = AV.sint(av.w, *s)
    if alt.vals is not None:
        return alt
    if av.vals is not None:
        return av
    lo, hi = max(av.lo, alt.lo), min(av.hi, alt.hi)
    if lo > hi:
        return av
    out = AV.mk(av.w, lo, hi)
    if out.vals is None and out.signed() is None:
        out.s = s
    return out


# a comparison's negation, and its mirror (K op x as x op' K)
_NEG = {z3.Z3_OP_ULEQ: z3.Z3_OP_UGT, z3.Z3_OP_ULT: z3.Z3_OP_UGEQ, z3.Z3_OP_UGEQ: z3.Z3_OP_ULT,
        z3.Z3_OP_UGT: z3.Z3_OP_ULEQ, z3.Z3_OP_SLEQ: z3.Z3_OP_SGT, z3.Z3_OP_SLT: z3.Z3_OP_SGEQ,
        z3.Z3_OP_SGEQ: z3.Z3_OP_SLT, z3.Z3_OP_SGT: z3.Z3_OP_SLEQ, z3.Z3_OP_EQ: z3.Z3_OP_DISTINCT,
        z3.Z3_OP_DISTINCT: z3.Z3_OP_EQ}
_MIRROR = {z3.Z3_OP_ULEQ: z3.Z3_OP_UGEQ, z3.Z3_OP_ULT: z3.Z3_OP_UGT,
           z3.Z3_OP_UGEQ: z3.Z3_OP_ULEQ, z3.Z3_OP_UGT: z3.Z3_OP_ULT,
           z3.Z3_OP_SLEQ: z3.Z3_OP_SGEQ, z3.Z3_OP_SLT: z3.Z3_OP_SGT,
           z3.Z3_OP_SGEQ: z3.Z3_OP_SLEQ, z3.Z3_OP_SGT: z3.Z3_OP_SLT,
           z3.Z3_OP_EQ: z3.Z3_OP_EQ, z3.Z3_OP_DISTINCT: z3.Z3_OP_DISTINCT}


def _facts(c, pol: bool, out: list, depth: int = 0) -> list:
    """Comparisons that hold whenever c has truth value pol: (op, lhs, rhs) triples."""
    if depth > 40 or isinstance(c, bool):
        return out
    k = c.decl().kind()
    if k == z3.Z3_OP_NOT:
        return _facts(c.arg(0), not pol, out, depth + 1)
    if (k == z3.Z3_OP_AND and pol) or (k == z3.Z3_OP_OR and not pol):
        for x in c.children():
            _facts(x, pol, out, depth + 1)
        return out
    if k in _NEG and c.num_args() == 2 and z3.is_bv(c.arg(0)):
        out.append((k if pol else _NEG[k], c.arg(0), c.arg(1)))
    return out


# a comparison as (signed?, relation); DISTINCT is "ne"
_REL = {z3.Z3_OP_ULEQ: (False, "le"), z3.Z3_OP_ULT: (False, "lt"), z3.Z3_OP_UGEQ: (False, "ge"),
        z3.Z3_OP_UGT: (False, "gt"), z3.Z3_OP_SLEQ: (True, "le"), z3.Z3_OP_SLT: (True, "lt"),
        z3.Z3_OP_SGEQ: (True, "ge"), z3.Z3_OP_SGT: (True, "gt"), z3.Z3_OP_EQ: (False, "eq"),
        z3.Z3_OP_DISTINCT: (False, "ne")}


def _as_signed(v: int, w: int) -> int:
    return v - (1 << w) if v >> (w - 1) else v


def _holds(op: int, a: int, c: int, w: int) -> bool:
    """`a op c` for two width-w values."""
    signed, rel = _REL[op]
    x, y = (_as_signed(a, w), _as_signed(c, w)) if signed else (a, c)
    return {"le": x <= y, "lt": x < y, "ge": x >= y, "gt": x > y, "eq": x == y,
            "ne": x != y}[rel]


def _clip(lo: int, hi: int, rel: str, c: int) -> tuple[int, int]:
    """[lo, hi] intersected with the values x having `x rel c` (not "ne")."""
    if rel in ("le", "eq"):
        hi = min(hi, c)
    if rel in ("ge", "eq"):
        lo = max(lo, c)
    if rel == "lt":
        hi = min(hi, c - 1)
    if rel == "gt":
        lo = max(lo, c + 1)
    return lo, hi


def _narrow(av: AV, op: int, c: int) -> AV | None:
    """av restricted to the values v with `v op c`; None when there are none."""
    w = av.w
    if av.vals is not None:
        vals = {v for v in av.vals if _holds(op, v, c, w)}
        return AV.of_set(w, vals) if vals else None
    signed, rel = _REL[op]
    if rel == "ne":
        return av
    if not signed:
        lo, hi = _clip(av.lo, av.hi, rel, c)
        return None if lo > hi else _with_signed(AV.mk(w, lo, hi), av.s)
    slo, shi = _clip(*(av.signed() or (_smin(w), _smax(w))), rel, _as_signed(c, w))
    return None if slo > shi else _with_signed(av, (slo, shi))


def _pair(f, a: AV, b: AV, w: int) -> AV | None:
    if a.vals is not None and b.vals is not None and len(a.vals) * len(b.vals) <= 4 * SET_MAX:
        m = (1 << w) - 1
        return AV.of_set(w, {f(x, y) & m for x in a.vals for y in b.vals})
    return None


def _bits(n: int) -> int:
    return (1 << n.bit_length()) - 1


def eval_postorder(e: z3.ExprRef, memo: dict, descend, compute):
    """The value of @e from its children's, computed bottom-up and memoised in @memo
    (id -> (term kept alive, value)), iteratively so deep terms do not exhaust the stack;
    each node is expanded once.  Only bit-vector children not in @memo for which @descend
    (None: all) holds are computed first; compute(term, children) reads the others' values
    itself."""
    eid = e.get_id()
    got = memo.get(eid)
    if got is not None:
        return got[1]
    stack = [(e, None)]
    expanded: set[int] = set()
    while stack:
        t, kids = stack.pop()
        tid = t.get_id()
        if tid in memo:
            continue
        if kids is None:
            if tid in expanded:
                continue
            expanded.add(tid)
            kids = t.children()
            stack.append((t, kids))
            for k in kids:
                if z3.is_bv(k) and k.get_id() not in memo and (descend is None or descend(k)):
                    stack.append((k, None))
            continue
        memo[tid] = (t, compute(t, kids))
    return memo[eid][1]


class Abs:
    """Evaluator with a memo table; `ranges` gives each input variable's unsigned range."""

    def __init__(self, ranges: dict[int, tuple[int, int]],
                 sranges: dict[int, tuple[int, int]] | None = None):
        self.ranges = ranges
        self.sranges = sranges or {}          # id -> signed [lo, hi] of signed inputs
        self.memo: dict[int, tuple[z3.ExprRef, AV]] = {}       # id -> (term kept alive, value)
        self.bmemo: dict[int, tuple[z3.ExprRef, bool | None]] = {}
        self.smemo: dict[int, tuple[z3.ExprRef, z3.ExprRef]] = {}  # id -> (term, simplified)

    # ------------------------------------------------------------ values

    def val(self, e: z3.BitVecRef) -> AV:
        return eval_postorder(e, self.memo, None, self._eval)

    def _eval(self, e: z3.ExprRef, kids: list) -> AV:
        w = e.size()
        k = e.decl().kind()
        full = AV.top(w)
        if k == z3.Z3_OP_BNUM:
            v = e.as_long()
            return AV(w, v, v, frozenset([v]))
        if k == z3.Z3_OP_UNINTERPRETED:
            sr = self.sranges.get(e.get_id())
            if sr is not None:
                return AV.sint(w, *sr)
            lo, hi = self.ranges.get(e.get_id(), (0, (1 << w) - 1))
            return AV.mk(w, lo, hi)
        if k == z3.Z3_OP_ITE:
            c = self.truth(kids[0])
            if c is True:
                return self.val(kids[1])
            if c is False:
                return self.val(kids[2])
            a = self.under(kids[1], kids[0], True)
            b = self.under(kids[2], kids[0], False)
            if a is None or b is None:           # one side's condition cannot hold
                if a is None and b is None:      # (not both: keep the plain union)
                    a, b = self.val(kids[1]), self.val(kids[2])
                else:
                    return b if a is None else a
            if a.vals is not None and b.vals is not None:
                return AV.of_set(w, a.vals | b.vals)
            sa, sb = a.signed(), b.signed()
            s_ = (min(sa[0], sb[0]), max(sa[1], sb[1])) if sa and sb else None
            return _with_signed(AV(w, min(a.lo, b.lo), max(a.hi, b.hi)), s_)
        vs = [self.val(x) for x in kids if z3.is_bv(x)]
        m = (1 << w) - 1
        if k == z3.Z3_OP_EXTRACT:
            hi_bit, lo_bit = e.params()
            a = vs[0]
            if a.vals is not None:
                return AV.of_set(w, {(v >> lo_bit) & m for v in a.vals})
            if a.hi < (1 << (hi_bit + 1)):
                return AV.mk(w, a.lo >> lo_bit, a.hi >> lo_bit)
            sa = a.signed()
            if lo_bit == 0 and sa is not None and sa[0] >= _smin(w) and sa[1] <= _smax(w):
                return AV.sint(w, *sa)           # the low bits of a small signed value
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
            sa = a.signed()
            return AV.sint(w, *sa) if sa is not None else full
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
        r = self._ubin(k, a, b, w)
        if r.vals is None and k in (z3.Z3_OP_BADD, z3.Z3_OP_BSUB, z3.Z3_OP_BMUL):
            sa, sb = a.signed(), b.signed()
            if sa is not None and sb is not None:
                if k == z3.Z3_OP_BADD:
                    lo, hi = sa[0] + sb[0], sa[1] + sb[1]
                elif k == z3.Z3_OP_BSUB:
                    lo, hi = sa[0] - sb[1], sa[1] - sb[0]
                else:
                    corners = [x * y for x in sa for y in sb]
                    lo, hi = min(corners), max(corners)
                if _smin(w) <= lo and hi <= _smax(w):      # no signed wrap
                    return _with_signed(r, (lo, hi))
        return r

    def _ubin(self, k: int, a: AV, b: AV, w: int) -> AV:
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

    def under(self, e: z3.BitVecRef, c, pol: bool) -> AV | None:
        """The value of e wherever condition c has truth value pol, from the comparisons
        of e with constants that c implies (an ITE's condition narrows its own arms: a
        clamp `If(x > K, K, x)` is at most K).  None: c never has that value."""
        av = self.val(e)
        eid = e.get_id()
        for op, x, y in _facts(c, pol, []):
            if x.get_id() == eid:
                k, other = op, y
            elif y.get_id() == eid:
                k, other = _MIRROR[op], x
            else:
                continue
            for k2, const in self._bounds_of(k, other):
                got = _narrow(av, k2, const)
                if got is None:
                    return None
                av = got
        return av

    def _bounds_of(self, op: int, t: z3.BitVecRef) -> list[tuple[int, int]]:
        """Comparisons with constants implied by `e op t`: t itself when it is a numeral,
        else the end of t's abstract value on the side that bounds e (a clamp to a
        variable cap, `If(y <= cap, y, cap)`, puts y under cap's upper end).  Sound
        because every value t takes lies in val(t): e < t <= T_hi gives e < T_hi,
        e >= t >= T_lo gives e >= T_lo, e == t gives both ends, and e != t nothing."""
        if z3.is_bv_value(t):
            return [(op, t.as_long())]
        signed, rel = _REL[op]
        if rel == "ne":
            return []
        tv = self.val(t)
        if signed:
            s = tv.signed()
            if s is None:
                return []
            lo, hi = s[0] % (1 << tv.w), s[1] % (1 << tv.w)
            le, ge = z3.Z3_OP_SLEQ, z3.Z3_OP_SGEQ
        else:
            lo, hi, le, ge = tv.lo, tv.hi, z3.Z3_OP_ULEQ, z3.Z3_OP_UGEQ
        if rel in ("le", "lt"):
            return [(op, hi)]
        if rel in ("ge", "gt"):
            return [(op, lo)]
        return [(le, hi), (ge, lo)]            # eq

    def simplify(self, e):
        """e with every Boolean subformula the abstraction decides replaced by its value.

        Sound for every input, like truth(); a query then bit-blasts only what is left
        (a path's comparisons of a clamped division against its clamp, say, go).  Only
        the Boolean skeleton (And, Or, Not) is rebuilt, memoised per term across calls:
        the paths of one program share most of their conjuncts."""
        memo = self.smemo
        stack = [e]
        while stack:
            t = stack[-1]
            tid = t.get_id()
            if tid in memo:
                stack.pop()
                continue
            k = t.decl().kind()
            if k in (z3.Z3_OP_AND, z3.Z3_OP_OR, z3.Z3_OP_NOT):
                kids = t.children()
                todo = [x for x in kids if x.get_id() not in memo]
                if todo:
                    stack.extend(todo)
                    continue
                v = self.truth(t)
                if v is not None:
                    out = z3.BoolVal(v)
                else:
                    new = [memo[x.get_id()][1] for x in kids]
                    if all(n.eq(x) for n, x in zip(new, kids)):
                        out = t
                    elif k == z3.Z3_OP_NOT:
                        out = z3.Not(new[0])
                    else:
                        out = _bool_op(k, new)
            else:
                v = self.truth(t) if z3.is_bool(t) else None
                out = t if v is None else z3.BoolVal(v)
            memo[tid] = (t, out)
            stack.pop()
        return memo[e.get_id()][1]

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
            if False in ts:
                return False
            return True if all(t is True for t in ts) else (
                self._by_value(b) if depth <= 1 else None)
        if k == z3.Z3_OP_OR:
            ts = [self.truth(x, depth + 1) for x in kids]
            if True in ts:
                return True
            return False if all(t is False for t in ts) else (
                self._by_value(b) if depth <= 1 else None)
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

    def _by_value(self, b) -> bool | None:
        """A formula whose comparisons all test one term against constants, decided for
        each of the term's few values (`d == DEFAULT or lo <= d <= hi` holds for every
        d in {-1, 0, 1} though neither disjunct does)."""
        term: list = []
        budget = [64]                       # nodes: the formulas worth splitting are small

        def atoms_ok(f, depth: int = 0) -> bool:
            budget[0] -= 1 + f.num_args()
            if depth > 20 or budget[0] < 0:
                return False
            k = f.decl().kind()
            if k in (z3.Z3_OP_AND, z3.Z3_OP_OR, z3.Z3_OP_NOT):
                return all(atoms_ok(x, depth + 1) for x in f.children())
            if k not in _NEG or f.num_args() != 2 or not z3.is_bv(f.arg(0)):
                return False
            x, y = f.arg(0), f.arg(1)
            t = y if z3.is_bv_value(x) else x if z3.is_bv_value(y) else None
            if t is None:
                return False
            if not term:
                term.append(t)
            return term[0].get_id() == t.get_id()
        if not atoms_ok(b):
            return None
        t = term[0]
        av = self.val(t)
        if av.vals is None:
            return None
        w = av.w

        def ev(f, v: int) -> bool:
            k = f.decl().kind()
            if k == z3.Z3_OP_AND:
                return all(ev(x, v) for x in f.children())
            if k == z3.Z3_OP_OR:
                return any(ev(x, v) for x in f.children())
            if k == z3.Z3_OP_NOT:
                return not ev(f.arg(0), v)
            x, y = f.arg(0), f.arg(1)
            a = v if x.get_id() == t.get_id() else x.as_long()
            c = v if y.get_id() == t.get_id() else y.as_long()
            return _holds(k, a, c, w)
        got = {ev(b, v) for v in av.vals}
        return got.pop() if len(got) == 1 else None


def _bool_op(k: int, kids: list):
    """And / Or of kids, folding the constants simplify() put in."""
    unit, zero = (True, False) if k == z3.Z3_OP_AND else (False, True)
    rest = []
    for x in kids:
        if z3.is_true(x) or z3.is_false(x):
            if z3.is_true(x) == zero:
                return z3.BoolVal(zero)
            continue
        rest.append(x)
    if not rest:
        return z3.BoolVal(unit)
    if len(rest) == 1:
        return rest[0]
    return z3.And(*rest) if k == z3.Z3_OP_AND else z3.Or(*rest)


def _le(x: tuple[int, int], y: tuple[int, int], eq: bool) -> bool | None:
    """x <= y (eq) or x < y for all values of the intervals: True, False or None."""
    if (x[1] <= y[0]) if eq else (x[1] < y[0]):
        return True
    if (x[0] > y[1]) if eq else (x[0] >= y[1]):
        return False
    return None
