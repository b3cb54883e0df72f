"""Concrete witnesses for the decision report: which exit values some run really returns.

The summary's decision report (solve.Discharger.decisions / decision_bounds) asks the
solver whether each candidate decision is reachable.  Those queries are satisfiable
almost always, and a satisfiable query over a long path pays for bit-blasting every
division and product on it (forced_migration: three 0.5 s checks; generated-5,000: one
10 s check that gives up).  A concrete assignment of the inputs answers the same
question for the values it reaches: it is a model of the query if it satisfies every
input constraint and an exit's path, so the value that exit returns is reachable -- the
same fact a `sat` answer gives, found by evaluation instead of search.

Samples are drawn from a fixed seed (the report does not depend on the machine), each
input from its declared range, biased to the ends of the range and small values (where
branches of compiled code tend to switch).  Z3's model evaluator computes every term
of the shared DAG once per sample.  A value no sample reaches is left to the solver,
as before; a witness only ever adds a value the solver would also have found, so the
report is the one the solver alone gives, or more exact where the solver gave up.
"""
from __future__ import annotations

import random
import z3

from rmt.verifier.inputs import Input, Inputs
from rmt.verifier.symexec import Exit
from rmt.verifier.symstate import to_z3

SAMPLES = 48        # assignments tried per report (fixed: the report is deterministic)
SEED = 20           # issue 20


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


class Witnesses:
    """Reachable exit values, from concrete runs of the symbolic program."""

    def __init__(self, inputs: Inputs, seed: int = SEED):
        self.inputs = inputs
        self.rng = random.Random(seed)

    def _range(self, inp: Input) -> tuple[int, int, bool]:
        """(lo, hi, signed) of an input: its declared range, else its type's."""
        bits = inp.var.size()
        vid = inp.var.get_id()
        if vid in self.inputs.sranges:
            lo, hi = self.inputs.sranges[vid]
            return lo, hi, True
        if vid in self.inputs.ranges:
            lo, hi = self.inputs.ranges[vid]
            return lo, hi, False
        if inp.signed:
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1, True
        return 0, (1 << bits) - 1, False

    def _pick(self, lo: int, hi: int) -> int:
        r = self.rng.random()
        if r < 0.15:
            return lo
        if r < 0.30:
            return hi
        if r < 0.55:                         # small values: flags, counts, indexes
            a, b = max(lo, -2), min(hi, 16)
            if a <= b:
                return self.rng.randint(a, b)
        if r < 0.65:
            return self.rng.choice([min(lo + 1, hi), max(hi - 1, lo)])
        return self.rng.randint(lo, hi)

    def sample(self) -> z3.ModelRef:
        """One assignment of every input within its range (other constraints unchecked)."""
        m = z3.Model()
        for inp in self.inputs.by_name.values():
            lo, hi, _ = self._range(inp)
            bits = inp.var.size()
            m.update_value(inp.var, z3.BitVecVal(self._pick(lo, hi) % (1 << bits), bits))
        return m

    def reach(self, exits: list[Exit], want, samples: int = SAMPLES) -> dict[int, z3.ModelRef]:
        """Signed exit values reached by concrete runs: value -> the assignment reaching it.
        `want(found)` says whether to keep sampling; stops after `samples` assignments."""
        found: dict[int, z3.ModelRef] = {}
        if not exits:
            return found
        # one term per sample: the value of the exit whose path holds (the paths are
        # exclusive: a run ends at one EXIT), tagged by a 65th bit; 0 when no path holds or
        # an input constraint fails (e.g. random(n) >= n: not a run)
        ok = z3.And(*self.inputs.constraints) if self.inputs.constraints else z3.BoolVal(True)
        none = z3.BitVecVal(0, 65)
        term = none
        for e in reversed(exits):
            term = z3.If(to_z3(e.path), z3.Concat(z3.BitVecVal(1, 1), e.value), term)
        term = z3.If(ok, term, none)
        for _ in range(samples):
            if not want(found):
                break
            m = self.sample()
            v = m.eval(term, model_completion=True)
            if z3.is_bv_value(v) and v.as_long() >> 64:
                found.setdefault(_signed(v.as_long() & ((1 << 64) - 1), 64), m)
        return found
