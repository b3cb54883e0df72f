"""Static well-formedness: the kernel validator's checks, all of them, not the first.

The verifier proves properties of programs the kernel would load, so it first
runs the same load-time checks (semantics/validate.py, the list the C
validator mirrors) on every instruction and collects every failure instead of
stopping at the first.  Those pcs end their path in the symbolic execution.
Guard declarations are checked here too (they have no run-time check).
"""
from __future__ import annotations

from rmt.contract import objformat as F
from rmt.contract.isa import BY_CODE, Fmt
from rmt.contract.objfile import Program
from rmt.contract.objformat import GuardKind, MapKind, MatchKind
from rmt.contract.hooks import DEFAULT_DECISION
from rmt.contract.engine import EngineError
from rmt.semantics.validate import CHECKS, check_insn
from rmt.verifier import obligations as O
from rmt.verifier.obligations import Counterexample, Result


# Rejections after which the instruction can still be executed symbolically,
# so that the verifier can say which index values reach which field.
EXECUTABLE = {"ctx field", "ctx permission"}


def _split(msg: str) -> tuple[str, str]:
    """'pc 3: out of bounds: [..]' -> ('out of bounds', '[..]')."""
    for reason in CHECKS:
        tag = f": {reason}: "
        if tag in msg:
            return reason, msg.split(tag, 1)[1]
    return "invalid", msg


def check(prog: Program) -> tuple[list[Result], set[int]]:
    """All static failures as results, and the set of pcs that failed."""
    out: list[Result] = []
    bad: set[int] = set()
    n = len(prog.code)
    if not 1 <= n <= F.LIMITS["MAX_INSNS"] or prog.scratch_size > F.LIMITS["MAX_SCRATCH"]:
        out.append(Result(O.WellFormed(-1, "program size", f"{n} instructions, scratch "
                                                            f"{prog.scratch_size} bytes"),
                          Counterexample()))
    for pc, i in enumerate(prog.code):
        try:
            check_insn(prog, pc, i)
        except EngineError as e:
            reason, detail = _split(str(e))
            out.append(Result(O.WellFormed(pc, reason, detail), Counterexample()))
            if reason not in EXECUTABLE:
                bad.add(pc)
    for t in prog.tables:
        if sum(k.kind == MatchKind.LPM for k in t.keys) > 1:
            out.append(Result(O.WellFormed(-1, "lpm keys", f"table {t.name} has more than "
                                                           f"one lpm key"), Counterexample()))
    if n and (prog.code[-1].code not in BY_CODE
              or BY_CODE[prog.code[-1].code].fmt != Fmt.EXIT):
        out.append(Result(O.WellFormed(n - 1, "no exit at end", "the last instruction is "
                                                                "not EXIT"), Counterexample()))
        bad.add(n - 1)
    out += _guards(prog)
    return out, bad


def _guards(prog: Program) -> list[Result]:
    out = []
    dec = prog.hook.decision
    for g in prog.guards:
        if g.kind == GuardKind.ALLOW and not dec.allowed(g.a):
            out.append(Result(O.GuardHolds(-1, f"allow {g.a}"), Counterexample(
                {"value": g.a}, f"{g.a} is not a decision of hook {prog.hook.name}")))
        if g.kind == GuardKind.MAX_STREAK:
            what = f"max_streak {g.a} {g.b} (map {g.c})"
            if g.b < 1:
                out.append(Result(O.GuardHolds(-1, what),
                                  Counterexample({"limit": g.b}, "the streak limit must be >= 1")))
            if not 0 <= g.c < len(prog.maps):
                out.append(Result(O.GuardHolds(-1, what), Counterexample(
                    {"map": g.c}, f"the streak map {g.c} does not exist")))
            if g.a == DEFAULT_DECISION or not dec.allowed(g.a):
                out.append(Result(O.GuardHolds(-1, what), Counterexample(
                    {"decision": g.a}, f"{g.a} is not a non-default decision of the hook")))
        if g.kind == GuardKind.TRIPS:
            m = prog.maps[g.c] if 0 <= g.c < len(prog.maps) else None
            if m is None or m.kind != MapKind.COUNTER or m.max_entries < 1 or m.private:
                out.append(Result(O.GuardHolds(-1, f"trips (map {g.c})"), Counterexample(
                    {"map": g.c}, "guard trips are counted in slot 0 of a counter map the "
                                  "control plane can read")))
    return out
