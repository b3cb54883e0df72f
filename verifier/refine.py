"""Interval proofs under a path's facts: the abstract interpretation, narrowed by the
comparisons the path condition implies, tried before a goal goes to the solver.

verifier/absint.py evaluates a term for every input.  A goal only has to hold on its
path, and compiled code guards its indexes there: `duel[db + 2 * k - 1]` under
`if k != 0`, a divisor under `if d >= 4`.  Over all inputs k may be 0 and the index
-1; on the path it may not.  `PathFacts` collects the comparisons a path implies
(through And, Or -- a fact of every disjunct --, Not and Boolean If), and `Under`
re-evaluates the goal's property with each compared term narrowed by its facts, and
everything above it recomputed from the narrowed values.

Sound for the path's inputs: every fact holds wherever the path holds, so narrowing a
term by it keeps every value the term takes on the path, and the transfer functions
are absint's (monotone over-approximations).  When a fact empties a term's value, no
input satisfies the path and the goal holds vacuously.  A property `Under` calls True
therefore holds on every input of the path: a proof, never a guess; anything else goes
to the solver as before.
"""
from __future__ import annotations

import z3

from rmt.verifier.absint import _MIRROR, _NEG, AV, Abs, _narrow, eval_postorder

Fact = tuple[int, z3.BitVecRef, z3.BitVecRef]       # (comparison kind, lhs, rhs)
_EMPTY: frozenset = frozenset()


class _Infeasible(Exception):
    """A term's facts leave it no value: no input satisfies the path."""


class PathFacts:
    """The comparisons a Boolean formula implies, memoised per subformula (the paths of
    one program share most of their structure)."""

    def __init__(self) -> None:
        self.memo: dict[tuple[int, bool], tuple[z3.ExprRef, frozenset]] = {}
        self.facts: dict[tuple[int, int, int], Fact] = {}    # key -> the terms, kept alive

    def of(self, f, pol: bool = True) -> list[Fact]:
        """The facts that hold wherever f has truth value pol."""
        if isinstance(f, bool):
            return []
        return [self.facts[k] for k in self._keys(f, pol)]

    def _keys(self, root: z3.BoolRef, pol: bool) -> frozenset:
        memo = self.memo
        stack = [(root, pol)]
        while stack:
            t, p = stack[-1]
            key = (t.get_id(), p)
            if key in memo:
                stack.pop()
                continue
            k = t.decl().kind()
            if k == z3.Z3_OP_NOT:
                subs = [(t.arg(0), not p)]
            elif k in (z3.Z3_OP_AND, z3.Z3_OP_OR):
                subs = [(x, p) for x in t.children()]
            elif k == z3.Z3_OP_ITE:
                c, a, b = t.children()
                subs = [(c, True), (c, False), (a, p), (b, p)]
            else:
                memo[key] = (t, self._leaf(t, k, p))
                stack.pop()
                continue
            todo = [s for s in subs if (s[0].get_id(), s[1]) not in memo]
            if todo:
                stack.extend(todo)
                continue
            got = [memo[(x.get_id(), q)][1] for x, q in subs]
            if k == z3.Z3_OP_NOT:
                out = got[0]
            elif k == z3.Z3_OP_ITE:          # (c and a) or (not c and b)
                out = (got[0] | got[2]) & (got[1] | got[3])
            elif (k == z3.Z3_OP_AND) == p:   # a conjunction: every part's facts hold
                out = frozenset().union(*got)
            else:                            # a disjunction: the facts of every disjunct
                out = frozenset.intersection(*got)
            memo[key] = (t, out)
            stack.pop()
        return memo[(root.get_id(), pol)][1]

    def _leaf(self, t: z3.BoolRef, k: int, pol: bool) -> frozenset:
        if k not in _NEG or t.num_args() != 2:
            return _EMPTY
        x, y = t.arg(0), t.arg(1)
        if not z3.is_bv(x):
            return _EMPTY
        op = k if pol else _NEG[k]
        key = (op, x.get_id(), y.get_id())
        self.facts.setdefault(key, (op, x, y))
        return frozenset([key])


class Under(Abs):
    """absint's evaluation where the facts hold: each term a fact compares is narrowed by
    it, and the terms above it are recomputed; every other term keeps `parent`'s value."""

    def __init__(self, parent: Abs, facts: list[Fact]):
        super().__init__(parent.ranges, parent.sranges)
        self.parent = parent
        self.about: dict[int, list[tuple[int, z3.BitVecRef]]] = {}
        for op, x, y in facts:
            self.about.setdefault(x.get_id(), []).append((op, y))
            self.about.setdefault(y.get_id(), []).append((_MIRROR[op], x))
        self.touched: dict[int, tuple[z3.ExprRef, bool]] = {}
        self.busy: set[int] = set()

    def _touches(self, e: z3.ExprRef) -> bool:
        """Whether a term a fact compares occurs in e (a memoised walk of e's DAG)."""
        memo = self.touched
        got = memo.get(e.get_id())
        if got is not None:
            return got[1]
        stack = [e]
        while stack:
            t = stack[-1]
            tid = t.get_id()
            if tid in memo:
                stack.pop()
                continue
            kids = t.children()
            todo = [x for x in kids if x.get_id() not in memo]
            if todo:
                stack.extend(todo)
                continue
            memo[tid] = (t, tid in self.about or any(memo[x.get_id()][1] for x in kids))
            stack.pop()
        return memo[e.get_id()][1]

    def val(self, e: z3.BitVecRef) -> AV:
        eid = e.get_id()
        if eid in self.busy or not self._touches(e):
            return self.parent.val(e)
        return eval_postorder(
            e, self.memo, lambda k: k.get_id() not in self.busy and self._touches(k),
            lambda t, kids: self._refine(t.get_id(), self._eval(t, kids)))

    def _refine(self, tid: int, av: AV) -> AV:
        """av narrowed by the facts about the term; while they are applied the term reads
        as its unnarrowed value (a fact comparing it with a term that contains it)."""
        facts = self.about.get(tid)
        if not facts or tid in self.busy:
            return av
        self.busy.add(tid)
        try:
            for op, other in facts:
                for k2, c in self._bounds_of(op, other):
                    got = _narrow(av, k2, c)
                    if got is None:
                        raise _Infeasible
                    av = got
        finally:
            self.busy.discard(tid)
        return av

    def truth(self, b, depth: int = 0) -> bool | None:
        if isinstance(b, bool):
            return b
        if not self._touches(b):
            return self.parent.truth(b, depth)
        return super().truth(b, depth)


def holds_under(abs_: Abs, pf: PathFacts, path, prop) -> bool:
    """Whether the interval proof shows prop on every input satisfying path (False: it
    cannot tell, not that prop fails)."""
    facts = pf.of(path)
    if not facts:
        return False
    try:
        return Under(abs_, facts).truth(prop) is True
    except _Infeasible:
        return True
