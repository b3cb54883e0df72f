"""The symbolic inputs of one invocation: what the world may hand a program.

Each input is a fresh Z3 bitvector named for the user (`ctx.a`,
`ctx.arr[3]`, `table policy action@pc12`, `model m out[0]@pc30`, ...), as
narrow as its declared type so that most ranges hold by construction; the
few that need more (context fields with a declared [lo, hi], random(n), table
action indexes) carry a side constraint that every query assumes.  The names
are what counterexamples print.
"""
from __future__ import annotations

from dataclasses import dataclass

import z3


@dataclass
class Input:
    name: str
    var: z3.BitVecRef
    signed: bool
    order: int


class Inputs:
    """Registry of inputs and the constraints on them."""

    def __init__(self) -> None:
        self.by_name: dict[str, Input] = {}
        self.by_var: dict[int, Input] = {}      # z3 ast id -> input
        self.constraints: list[z3.BoolRef] = []
        self.ranges: dict[int, tuple[int, int]] = {}   # z3 ast id -> unsigned [lo, hi]
        self.sranges: dict[int, tuple[int, int]] = {}  # z3 ast id -> signed [lo, hi], lo < 0

    def new(self, name: str, bits: int, signed: bool = False) -> z3.BitVecRef:
        """A fresh input (or the existing one of that name)."""
        got = self.by_name.get(name)
        if got is not None:
            return got.var
        var = z3.BitVec(name, bits)
        inp = Input(name, var, signed, len(self.by_name))
        self.by_name[name] = inp
        self.by_var[var.get_id()] = inp
        return var

    def assume(self, c: z3.BoolRef) -> None:
        self.constraints.append(c)

    def ranged(self, name: str, bits: int, signed: bool, lo: int, hi: int) -> z3.BitVecRef:
        """An input of `bits` bits constrained to [lo, hi] (signed or unsigned compare)."""
        fresh = name not in self.by_name
        v = self.new(name, bits, signed)
        if fresh:
            if lo >= 0:
                self.ranges[v.get_id()] = (lo, hi)
            elif signed:
                self.sranges[v.get_id()] = (lo, hi)
            tmin = -(1 << (bits - 1)) if signed else 0
            tmax = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
            if signed:
                if lo > tmin:
                    self.assume(v >= lo)
                if hi < tmax:
                    self.assume(v <= hi)
            else:
                if lo > tmin:
                    self.assume(z3.UGE(v, lo))
                if hi < tmax:
                    self.assume(z3.ULE(v, hi))
        return v

    def value(self, model: z3.ModelRef, inp: Input) -> int:
        raw = model.eval(inp.var, model_completion=True).as_long()
        bits = inp.var.size()
        if inp.signed and raw >> (bits - 1):
            raw -= 1 << bits
        return raw

    def mentioned(self, exprs: list[z3.ExprRef]) -> list[Input]:
        """The inputs occurring in exprs (a memoised walk over the shared DAG)."""
        seen: set[int] = set()
        found: dict[str, Input] = {}
        stack = list(exprs)
        while stack:
            e = stack.pop()
            eid = e.get_id()
            if eid in seen:
                continue
            seen.add(eid)
            if z3.is_const(e):
                inp = self.by_var.get(eid)
                if inp is not None:
                    found[inp.name] = inp
                continue
            stack.extend(e.children())
        return sorted(found.values(), key=lambda i: i.order)
