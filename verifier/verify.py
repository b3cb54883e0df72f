"""The verifier's entry points: a Program (or .rmtb bytes) in, a Report out.

Runs the checks in order: static well-formedness (the kernel validator's
list), model signatures and accumulator bounds, worst-case cost, export
taint, then symbolic execution whose goals are discharged one query each.
Every failure is kept; the program is accepted only when every obligation is
proved (an Unknown is not a proof).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from rmt.contract import objfile
from rmt.contract.objfile import ObjError, Program
from rmt.contract.objformat import GuardKind, MapKind
from rmt.verifier import obligations as O
from rmt.verifier.costcheck import check_cost
from rmt.verifier.inputs import Inputs
from rmt.verifier.modelcheck import check_models
from rmt.verifier.obligations import Counterexample, Proved, Result
from rmt.verifier.properties import PropResult, prove_properties
from rmt.verifier.solve import Discharger, SolverOptions
from rmt.verifier.symexec import Executor
from rmt.verifier.taint import check_taint
from rmt.verifier.wellformed import check as check_wellformed


@dataclass
class VerifyOptions:
    rlimit: int = SolverOptions.rlimit          # Z3 resource units per query: the bound
    timeout_ms: int = SolverOptions.timeout_ms  # wall-clock backstop per query
    smt2_dir: str | None = None       # dump every query here
    budget: int | None = None         # override the hook's budget
    weights: dict[str, bytes] = field(default_factory=dict)   # model name -> weights blob
    # declared properties (contract/propfile.py) to prove with `weights`; None: none
    properties: list[dict] | None = None


@dataclass
class Report:
    program: str
    hook: str
    results: list[Result]
    cost: int = 0
    budget: int = 0
    decisions: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    queries: int = 0
    prog: Program | None = None
    properties: list[PropResult] = field(default_factory=list)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def accepted(self) -> bool:
        return not self.failures and all(p.ok for p in self.properties)


def _order(r: Result) -> tuple:
    pc = r.obligation.pc
    return (pc < 0, pc, r.obligation.kind)


def verify(prog: Program, opts: VerifyOptions | None = None) -> Report:
    opts = opts or VerifyOptions()
    t0 = time.perf_counter()
    budget = opts.budget if opts.budget is not None else prog.hook.budget
    results, bad = check_wellformed(prog)

    weights, wres = _load_weights(prog, opts.weights)
    results += wres
    mres, bounds = check_models(prog, budget, weights)
    results += mres
    cres, cost = check_cost(prog, budget, bad)
    results.append(cres)
    results += check_taint(prog, bad)

    inputs = Inputs()
    ex = Executor(prog, inputs, bad, bounds)
    ex.run()
    dis = Discharger(inputs, SolverOptions(opts.rlimit, opts.timeout_ms, opts.smt2_dir),
                     ex.abs)
    results += [dis.discharge(g) for g in ex.goals]
    decisions = dis.decisions(ex.exits)
    if "values" not in decisions and not any(
            r.obligation.kind == "DecisionAllowed" and not r.ok for r in results):
        dec = prog.hook.decision
        decisions = dis.decision_bounds(ex.exits, dec.lo, dec.hi)

    notes = _streak_notes(prog, decisions)
    results.sort(key=_order)
    props = []
    if opts.properties and all(r.ok for r in wres):
        props = prove_properties(prog, opts.properties, weights, bounds, opts.timeout_ms)
    return Report(prog.name, prog.hook.name, results, cost, budget, decisions, notes,
                  time.perf_counter() - t0, dis.queries, prog, props)


def verify_bytes(buf: bytes, opts: VerifyOptions | None = None, name: str = "") -> Report:
    """Verify .rmtb bytes; a malformed object is one ObjectFormat failure."""
    try:
        prog = objfile.read(buf)
    except ObjError as e:
        return Report(name, "?", [Result(O.ObjectFormat(-1, str(e)), Counterexample())])
    return verify(prog, opts)


def _load_weights(prog: Program, blobs: dict[str, bytes]) -> tuple[dict[int, object],
                                                                   list[Result]]:
    out: dict[int, object] = {}
    res: list[Result] = []
    if not blobs:
        return out, res
    from rmt.contract.weights import read_weights
    names = {m.name: i for i, m in enumerate(prog.models)}
    for name, blob in blobs.items():
        ob = O.ModelSignature(-1, name, "weights may not match the signature")
        if name not in names:
            res.append(Result(ob, Counterexample({}, f"the program has no model {name!r}")))
            continue
        try:
            out[names[name]] = read_weights(blob, prog.models[names[name]])
            res.append(Result(ob, Proved()))
        except Exception as e:      # WeightsError and friends: report, keep going
            res.append(Result(ob, Counterexample({}, str(e))))
    return out, res


def _streak_notes(prog: Program, decisions: dict) -> list[str]:
    """What the max_streak proof assumes (docs/verifier.md)."""
    notes = []
    names = {v: n for n, v in prog.hook.decision.names.items()}
    for g in prog.guards:
        if g.kind != GuardKind.MAX_STREAK or not 0 <= g.c < len(prog.maps):
            continue
        m = prog.maps[g.c]
        what = f"max_streak {names.get(g.a, g.a)} {g.b}"
        note = (f"{what}: proved per invocation (inductive on map {m.name}); assumes the "
                f"control plane does not write {m.name}")
        if m.kind == MapKind.HASH:
            note += f" and that it never drops an update (hash map of {m.max_entries} keys)"
        notes.append(note)
    return notes
