"""Discharging goals with Z3, and turning models into printable counterexamples.

Each goal is one query: the input constraints, the path condition and the
negated property.  UNSAT is a proof; SAT gives concrete inputs (only those
the query mentions, so counterexamples name the fields that matter); UNKNOWN
keeps the solver's reason.  Every query can be dumped as SMT-LIB 2 for
replay.

Queries are bounded by Z3's resource limit (``rlimit``, a count of solver
steps), not by wall-clock time, so a verdict and its counterexamples do not
depend on how loaded the machine is: a program gets the same report on a quiet
workstation, a shared CI box and a TCG guest.  The default limit is about
30 s of CPU on this project's 2-core EPYC machines.  A wall-clock timeout stays
as a backstop against a query that stops counting; it is generous on purpose.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import z3

from rmt.verifier.absint import Abs
from rmt.verifier.inputs import Inputs
from rmt.verifier.obligations import Counterexample, Outcome, Proved, Result, Unknown
from rmt.verifier.refine import PathFacts, holds_under
from rmt.verifier.symexec import Exit, Goal
from rmt.verifier.symstate import to_z3
from rmt.verifier.witness import Witnesses


# Resource limits of the auxiliary queries, as fractions of the main one: minimising a
# counterexample and enumerating decision values are best-effort (an UNKNOWN there keeps an
# input or a value, which is sound), so they get a small share.
RLIMIT_MINIMISE = 50       # per query of relevant(): rlimit / 50
RLIMIT_DECISIONS = 100     # per value check in decisions()
# decision_bounds(): whether DEFAULT and any in-range decision are reachable (two checks at
# rlimit / 200, 1M units: about 1 s of bit-blasted search here, the wall-clock bound these
# checks had before rlimit), then each step of the binary search for the least and greatest
# decision (rlimit / 2000; the search stops at its first UNKNOWN, keeping the sound end).
# Shares of rlimit / 25 cost ~8 s for each UNKNOWN step: generated 1,000-instruction
# programs took 31 s to verify instead of 6 (bench/bench_verifier.py).
RLIMIT_BOUNDS = 200
RLIMIT_SEARCH = 2000


@dataclass
class SolverOptions:
    rlimit: int = 200_000_000        # Z3 resource units per query (deterministic bound)
    timeout_ms: int = 300_000        # wall-clock backstop per query
    smt2_dir: str | None = None


def _signed(v: int, bits: int = 64) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


class Discharger:
    def __init__(self, inputs: Inputs, opts: SolverOptions, abs_: Abs | None = None):
        self.inputs = inputs
        self.opts = opts
        self.queries = 0
        self.abs = abs_ or Abs(inputs.ranges, inputs.sranges)
        self.facts = PathFacts()          # the comparisons each path implies (refine.py)
        if opts.smt2_dir:
            os.makedirs(opts.smt2_dir, exist_ok=True)

    def solver(self, share: int = 1) -> z3.Solver:
        """A QF_BV solver holding the input constraints, limited to 1/share of the budget."""
        s = z3.SolverFor("QF_BV")
        s.set("rlimit", max(1, self.opts.rlimit // share))
        s.set("timeout", self.opts.timeout_ms)
        s.add(*self.inputs.constraints)
        return s

    def dump(self, s: z3.Solver, label: str) -> None:
        if self.opts.smt2_dir:
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
            path = os.path.join(self.opts.smt2_dir, f"q{self.queries:05d}_{safe}.smt2")
            with open(path, "w") as fh:
                fh.write(s.to_smt2())

    def discharge(self, g: Goal) -> Result:
        ob = g.obligation
        if g.prop is True or g.path is False:
            return Result(ob, Proved())
        if self.abs.truth(g.prop) is True or self.abs.truth(g.path) is False:
            return Result(ob, Proved())
        if holds_under(self.abs, self.facts, g.path, g.prop):     # an interval proof
            return Result(ob, Proved())
        self.queries += 1
        path, neg = self.abs.simplify(to_z3(g.path)), z3.Not(to_z3(g.prop))
        if self.opts.smt2_dir:
            s = self.solver()
            s.add(path, neg)
            self.dump(s, f"{ob.kind}_pc{ob.pc}")
        s = self.solver()
        s.add(path, neg)
        r = s.check()
        if r == z3.unsat:
            return Result(ob, Proved())
        if r == z3.unknown:
            return Result(ob, Unknown(s.reason_unknown()))
        return Result(ob, self.counterexample(s.model(), [path, neg], g))

    def relevant(self, model: z3.ModelRef, exprs: list, cands: list) -> list:
        """Drop inputs the failure does not depend on, greedily (CrossHair-style
        minimal counterexamples): input v is dropped when, with the inputs kept so
        far fixed to the model's values, no value of v (and of the dropped ones)
        avoids the failure."""
        if len(cands) <= 1 or len(cands) > 48:
            return cands
        bad = z3.And(*exprs)
        fixed = {inp.name: inp.var == model.eval(inp.var, model_completion=True)
                 for inp in cands}
        keep = list(cands)
        for inp in cands:
            trial = [fixed[k.name] for k in keep if k is not inp]
            s = self.solver(RLIMIT_MINIMISE)
            s.add(*trial)
            s.add(z3.Not(bad))
            if s.check() == z3.unsat:
                keep.remove(inp)
        return keep

    def counterexample(self, model: z3.ModelRef, exprs: list, g: Goal) -> Outcome:
        values: dict[str, object] = {}
        for inp in self.relevant(model, exprs, self.inputs.mentioned(exprs)):
            values[inp.name] = self.inputs.value(model, inp)
        shown: dict[str, int] = {}
        for name, e in g.show.items():
            v = model.eval(e, model_completion=True).as_long()
            shown[name] = _signed(v, e.size())
        values.update(shown)
        note = g.explain(shown) if g.explain else ""
        return Counterexample(values, note)

    # -------------------------------------------------------- decision range

    def decisions(self, exits: list[Exit]) -> dict:
        """What EXIT can return: {"values": [...]} when the abstraction finds a small set
        (each value then confirmed feasible by the solver, or kept when it cannot tell),
        else the signed hull {"min", "max"}, or {} when nothing useful is known."""
        live = [e for e in exits if e.path is not False and self.abs.truth(e.path) is not False]
        if not live:
            return {"values": []}
        avs = [self.abs.val(e.value) for e in live]
        if all(a.vals is not None for a in avs):
            cand = sorted({_signed(v) for a in avs for v in a.vals})
            if len(cand) <= 16:
                d = z3.BitVec("__decision", 64)
                link = self.abs.simplify(
                    z3.Or(*[z3.And(to_z3(e.path), d == e.value) for e in live]))
                if len(cand) == 1:
                    return {"values": cand}
                # a value some concrete run returns is reachable (verifier/witness.py);
                # the others get a fresh solver each; unknown keeps the value.  (One
                # solver checked under assumptions runs Z3's incremental core, which was
                # 2-3x slower on these paths than the bit-blasting tactic a fresh one gets.)
                seen = Witnesses(self.inputs).reach(live, lambda f: not set(cand) <= f.keys())
                vals = []
                for v in cand:
                    if v in seen:
                        vals.append(v)
                        continue
                    s = self.solver(RLIMIT_DECISIONS)
                    s.add(link, d == v)
                    if s.check() != z3.unsat:
                        vals.append(v)
                return {"values": vals}
        hulls = [a.signed() for a in avs]
        if all(h is not None for h in hulls):
            return {"min": min(h[0] for h in hulls), "max": max(h[1] for h in hulls)}
        return {}

    def decision_bounds(self, exits: list[Exit], lo: int, hi: int) -> dict:
        """Exact bounds by binary search, once the decisions are proved to lie in
        {DEFAULT} u [lo, hi]: whether DEFAULT is reachable, and the least and
        greatest other decision (a few queries).  The search starts from the
        abstraction's hull of the exit values, and every satisfiable step moves its
        end to the decision the solver's model took, not just to the midpoint."""
        live = [e for e in exits if e.path is not False]
        if not live:
            return {"values": []}
        d = z3.BitVec("__decision", 64)
        link = self.abs.simplify(z3.Or(*[z3.And(to_z3(e.path), d == e.value) for e in live]))

        def check(share: int, *extra) -> tuple[z3.CheckSatResult, int | None]:
            # a fresh solver per check: under assumptions Z3 runs its incremental core,
            # 2-3x slower on these paths than the bit-blasting tactic a fresh one gets
            s = self.solver(share)
            s.add(link, *extra)
            r = s.check()
            if r != z3.sat:
                return r, None
            return r, _signed(s.model().eval(d, model_completion=True).as_long())

        avs = [self.abs.val(e.value) for e in live]
        may_default = any(a.vals is None or (1 << 64) - 1 in a.vals for a in avs) and \
            any(a.lo <= (1 << 64) - 1 <= a.hi for a in avs)
        hulls = [a.signed() for a in avs]
        if all(h is not None for h in hulls):
            lo = max(lo, min(h[0] for h in hulls))
            hi = min(hi, max(h[1] for h in hulls))
        # concrete runs (verifier/witness.py) settle what they reach without a query:
        # DEFAULT, and the ends of the range when a run returns the hull's end
        found = Witnesses(self.inputs).reach(
            live, lambda f: (may_default and -1 not in f) or lo not in f or hi not in f)
        out: dict = {"default": may_default and (
            -1 in found or check(RLIMIT_BOUNDS, d == -1)[0] != z3.unsat)}
        inside = [v for v in found if lo <= v <= hi]
        if inside:
            r, least, most = z3.sat, min(inside), max(inside)
        else:
            r, least = check(RLIMIT_BOUNDS, d >= lo, d <= hi) if lo <= hi else (z3.unsat, None)
            most = least
        if r == z3.unsat:
            return {"values": [-1] if out["default"] else []}

        def search(lowest: bool) -> int:
            # the answer lies in [a, b]; a reached decision (when one is known) is in it
            a, b = lo, hi
            if least is not None:
                a, b = (lo, least) if lowest else (most, hi)
            while a < b:
                mid = (a + b) // 2 if lowest else (a + b + 1) // 2
                r, w = (check(RLIMIT_SEARCH, d >= a, d <= mid) if lowest
                        else check(RLIMIT_SEARCH, d >= mid, d <= b))
                if r == z3.unknown:
                    return lo if lowest else hi        # keep the sound end
                if lowest:
                    a, b = (a, w) if r == z3.sat else (mid + 1, b)
                else:
                    a, b = (w, b) if r == z3.sat else (a, mid - 1)
            return a
        out["min"], out["max"] = search(True), search(False)
        return out
