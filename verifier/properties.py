"""Proving a program's declared properties with the weights being loaded.

The program is executed symbolically once (verifier/symexec.py) with every
model whose weights are given replaced by its exact integer inference
(verifier/modelenc.py); a model without weights keeps a free output within
its signature's bounds, so a property proved then holds for any weights of
that model.  A property is one Z3 query over the whole declared input domain:
every context within the hook's field ranges, every table entry (the action a
table runs and its parameters are inputs), every value a map read may return.
`nondecreasing(e, ctx.f)` compares two runs that differ only in f (the
same table entries and map values), the second with the larger f.

Terms are evaluated on 192-bit signed bitvectors: exact for every value a
property can name (64-bit fields, decisions, model outputs) and for sums and
products of a few of them.

A satisfying assignment is a counterexample: the context, the table entries
and map values the run read, the models' outputs and the decision.  A query
that neither proves nor refutes within the time bound is reported as such
and counts as a failure.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import z3

from rmt.contract.hooks import DEFAULT_DECISION
from rmt.contract.isa import Region
from rmt.contract.objfile import Program
from rmt.contract.objformat import ModelKind
from rmt.contract.weights import ModelWeights
from rmt.verifier.inputs import Inputs
from rmt.verifier.modelenc import infer_terms, tree_regions
from rmt.verifier.symexec import Executor
from rmt.verifier.symstate import Memory, f_or, to_z3

W = 192       # width of property terms
# A property that names a single tree's outputs (`next[0] <= 16`) is proved leaf region by
# leaf region (tree_regions) when the query allows (one run, one call site): each region fixes
# those outputs to constants.  On the examples that is 2-3x faster than one query over nested
# Ifs, and 1.3-8x slower for properties that name only the decision, which keep nested Ifs
# (bench/bench_props.py measures both).
ENUMERATE_TREES = True


@dataclass
class PropResult:
    name: str
    file: str
    line: int
    col: int
    # "proved" | "violated" | "timeout" | "error" | "deferred" (violated only for some outputs
    # of models that have no weights yet: not charged to the weights being proved)
    status: str
    seconds: float
    message: str = ""
    counterexample: dict[str, Any] = field(default_factory=dict)
    free_models: list[str] = field(default_factory=list)   # outputs left free (no weights)

    @property
    def ok(self) -> bool:
        return self.status in ("proved", "deferred")


@dataclass
class _Run:
    path: Any
    outs: list[z3.BitVecRef]


@dataclass
class _Apply:
    path: Any
    action: z3.BitVecRef
    params: Memory


class _WeightsExecutor(Executor):
    """The symbolic executor with concrete models, recording model runs and table applies."""

    def __init__(self, prog: Program, inputs: Inputs, weights: dict[int, ModelWeights],
                 bounds: dict[int, tuple[int, int]], enumerate_trees: bool = False):
        super().__init__(prog, inputs, set(), bounds)
        self.weights = weights
        self.runs: dict[int, list[_Run]] = {}
        self.applies: dict[int, list[_Apply]] = {}
        # single trees left as fresh outputs, to be enumerated leaf region by leaf region:
        # model -> [(input terms, output variables)] per call site
        self.enumerate_trees = enumerate_trees
        self.sites: dict[int, list[tuple[list, list]]] = {}

    def callm(self, pc: int, i, path, st) -> None:
        m = self.prog.models[i.imm]
        w = self.weights.get(i.imm)
        if w is not None and self.enumerate_trees and w.kind == ModelKind.TREE:
            mem = st.mem((Region.MIN, i.imm))
            x = [mem.load(4 * e, 4)[0] for e in range(m.n_in)]
            ys = [self.inputs.new(f"model {m.name} out[{e}]@pc{pc}", 32, True)
                  for e in range(m.n_out)]
            self.sites.setdefault(i.imm, []).append((x, ys))
            outs = {4 * e + k: (y, k) for e, y in enumerate(ys) for k in range(4)}
            st.replace((Region.MOUT, i.imm), Memory(4 * m.n_out, outs.__getitem__))
        elif w is None:
            super().callm(pc, i, path, st)
        else:
            mem = st.mem((Region.MIN, i.imm))
            x = [mem.load(4 * e, 4)[0] for e in range(m.n_in)]
            ys = infer_terms(w, x, (m.in_lo, m.in_hi))
            outs = {4 * e + k: (y, k) for e, y in enumerate(ys) for k in range(4)}
            st.replace((Region.MOUT, i.imm), Memory(4 * m.n_out, outs.__getitem__))
        mo = st.mem((Region.MOUT, i.imm))
        self.runs.setdefault(i.imm, []).append(
            _Run(path, [mo.load(4 * e, 4)[0] for e in range(m.n_out)]))

    def apply(self, pc: int, i, path, st) -> None:
        super().apply(pc, i, path, st)
        self.applies.setdefault(i.imm, []).append(
            _Apply(path, st.regs[i.dst], st.mem((Region.PARAMS, i.imm))))


def _ext(e: z3.BitVecRef, signed: bool) -> z3.BitVecRef:
    if e.size() == W:
        return e
    return (z3.SignExt if signed else z3.ZeroExt)(W - e.size(), e)


def _ite(cases: list[tuple[Any, z3.BitVecRef]], default: z3.BitVecRef) -> z3.BitVecRef:
    out = default
    for c, v in reversed(cases):
        if c is True:
            out = v
        elif c is not False:
            out = z3.If(c, v, out)
    return out


class _Terms:
    """Property terms as Z3 over one symbolic run."""

    def __init__(self, prog: Program, ex: _WeightsExecutor):
        self.prog, self.ex = prog, ex
        self.side: list[z3.BoolRef] = []       # "model m ran" for each model output named
        self.tables = {t.name: k for k, t in enumerate(prog.tables)}
        self.models = {m.name: k for k, m in enumerate(prog.models)}
        exits = ex.exits
        self.decision = _ite([(e.path, _ext(e.value, True)) for e in exits[:-1]],
                             _ext(exits[-1].value, True)) if exits else \
            z3.BitVecVal(DEFAULT_DECISION, W)

    def ctx_var(self, name: str, index: int) -> z3.BitVecRef:
        key = f"ctx.{name}" if index < 0 else f"ctx.{name}[{index}]"
        return self.ex.inputs.by_name[key].var

    def term(self, t: list) -> Any:
        op = t[0]
        if op == "int":
            return z3.BitVecVal(t[1], W)
        if op == "ctx":
            f = self.prog.hook.field(t[1])
            return _ext(self.ctx_var(t[1], t[2]), f.type.signed)
        if op == "decision":
            return self.decision
        if op == "out":
            k = self.models[t[1]]
            runs = self.ex.runs.get(k, [])
            if not runs:
                self.side.append(z3.BoolVal(False))
                return z3.BitVecVal(0, W)
            self.side.append(to_z3(_any([r.path for r in runs])))
            return _ite([(r.path, _ext(r.outs[t[2]], True)) for r in runs[:-1]],
                        _ext(runs[-1].outs[t[2]], True))
        if op == "action":
            return self.action(*t[1:])
        if op == "not":
            return z3.Not(self.term(t[1]))
        if op == "neg":
            return -self.term(t[1])
        a, b = self.term(t[1]), self.term(t[2])
        return {"&&": lambda: z3.And(a, b), "||": lambda: z3.Or(a, b),
                "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,
                "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
                "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b}[op]()

    def action(self, table: str, action: str, args: list[int] | None) -> z3.BoolRef:
        k = self.tables[table]
        t = self.prog.tables[k]
        ai = next(j for j, a in enumerate(t.actions) if a.name == action)
        cases = []
        for ap in self.ex.applies.get(k, []):
            c = [to_z3(ap.path), z3.Extract(15, 0, ap.action) == ai]
            for p, v in zip(t.actions[ai].params, args or []):
                pv = ap.params.load(p.offset, p.bits // 8)[0]
                c.append(pv == z3.BitVecVal(v & ((1 << p.bits) - 1), p.bits))
            cases.append(z3.And(*c))
        return z3.Or(*cases) if cases else z3.BoolVal(False)


def _any(flags: list) -> Any:
    out: Any = False
    for f in flags:
        out = f_or(out, f)
    return out


def prove_properties(prog: Program, props: list[dict], weights: dict[int, ModelWeights],
                     bounds: dict[int, tuple[int, int]], timeout_ms: int,
                     first_free: frozenset[int] = frozenset()) -> list[PropResult]:
    """Prove each property (a resolved term from rmt.lang, see check_props.py).

    first_free: the models being loaded (`rmtctl model load` passes one).  A property
    proved with some models' outputs free holds for any of their weights, and such a query
    is much smaller, so each property is tried first with those models free (it does not
    depend on the new weights), then with only them concrete (it depends on nothing else),
    and only then with every given model's weights."""
    if not props:
        return []
    execs: dict[tuple[frozenset[int], bool], _WeightsExecutor] = {}

    def executor(keys: frozenset[int], enum: bool = False) -> _WeightsExecutor:
        if (keys, enum) not in execs:
            execs[keys, enum] = _executor(prog, {k: weights[k] for k in keys}, bounds, enum)
        return execs[keys, enum]

    def prove(keys: frozenset[int], p: dict, rescue: bool = True) -> PropResult:
        named = _named_models(p)
        trees = any(weights[k].kind == ModelKind.TREE and prog.models[k].name in named
                    for k in keys)
        if trees and ENUMERATE_TREES:
            try:
                return _prove_one(prog, executor(keys, True), p, timeout_ms, rescue)
            except _NotEnumerable:
                pass
        return _prove_one(prog, executor(keys), p, timeout_ms, rescue)

    every = frozenset(weights)
    tries = []
    if first_free & every:
        tries = [every - first_free, every & first_free]
    tries = [k for k in dict.fromkeys(tries) if k != every] + [every]
    full = executor(every)
    free = [m.name for k, m in enumerate(prog.models) if k not in weights and full.runs.get(k)]
    out = []
    for p in props:
        t0 = time.perf_counter()
        try:
            for keys in tries:
                # with the loaded models free, only a proof counts (it then holds for any of
                # their weights); otherwise a violation that no output of the free models can
                # repair is final
                independent = bool(first_free) and not (keys & first_free)
                r = prove(keys, p, rescue=not independent)
                if r.status == "proved" or (r.status == "violated" and not independent):
                    break
        except (KeyError, IndexError, StopIteration, TypeError, ValueError, AttributeError,
                z3.Z3Exception) as e:
            r = PropResult(p.get("name", "?"), p.get("file", "?"), p.get("line", 0),
                           p.get("col", 0), "error", 0.0,
                           f"the property does not fit this program ({type(e).__name__}: {e})")
        r.seconds = time.perf_counter() - t0
        r.free_models = [m.name for k, m in enumerate(prog.models)
                         if k not in keys and full.runs.get(k)] if r.status != "error" else free
        out.append(r)
    return out


def _executor(prog: Program, weights: dict[int, ModelWeights],
              bounds: dict[int, tuple[int, int]], enum: bool = False) -> _WeightsExecutor:
    ex = _WeightsExecutor(prog, Inputs(), weights, bounds, enum)
    ex.run()
    return ex


def _prove_one(prog: Program, ex: _WeightsExecutor, p: dict, timeout_ms: int,
               rescue: bool = True) -> PropResult:
    T = _Terms(prog, ex)
    reached = to_z3(_any([e.path for e in ex.exits]))
    premise = T.term(p["premise"]) if p.get("premise") else z3.BoolVal(True)
    concl = p["conclusion"]
    assume: list[z3.BoolRef] = list(ex.inputs.constraints)
    extra: dict[str, z3.ExprRef] = {}
    if concl[0] == "mono":
        _, how, what, fname, index = concl
        e1 = T.term(what)
        v = T.ctx_var(fname, index)
        v2 = z3.BitVec(f"{v}'", v.size())
        # the second run: field f larger, every other context field the same; whatever else
        # the world hands a run (table entries, map values, free model outputs, helpers) is
        # its own, constrained only as any run's is (a premise may pin a table's action)
        sub = [(v, v2)] + [(i.var, z3.BitVec(f"{i.name}'", i.var.size()))
                           for i in ex.inputs.by_name.values() if not i.name.startswith("ctx.")]
        f = prog.hook.field(fname)
        assume += [c2 for c in ex.inputs.constraints
                   if not (c2 := z3.substitute(c, *sub)).eq(c)]
        e2 = z3.substitute(e1, *sub)
        base = z3.And(reached, premise, *T.side)
        assume += [base, z3.substitute(base, *sub),
                   _ext(v, f.type.signed) < _ext(v2, f.type.signed)]
        goal = e1 <= e2 if how == "nondecreasing" else e1 >= e2
        extra = {f"{v}": v, f"{v2}": v2, "value": e1, "value'": e2,
                 "decision": T.decision, "decision'": z3.substitute(T.decision, *sub)}
    else:
        goal = T.term(concl)
        assume += [reached, premise, *T.side]
        extra = {"decision": T.decision}
    at = (p["name"], str(p.get("file", "?")), p["line"], p["col"])
    if ex.sites and concl[0] == "mono":
        raise _NotEnumerable()
    s, res = _solve(ex, assume, z3.Not(goal), timeout_ms)
    if res == z3.unsat:
        return PropResult(*at, "proved", 0.0)
    if res == z3.unknown:
        why = s.reason_unknown()
        return PropResult(*at, "timeout", 0.0,
                          f"not proved within {timeout_ms / 1000:g} s ({why}): refused; "
                          "a larger --timeout may prove it")
    model = s.model()
    cx = _counterexample(prog, ex, model, extra)
    free = [k for k in range(len(prog.models)) if k not in ex.weights and ex.runs.get(k)]
    if free and rescue and _rescued(ex, model, assume, goal, free, timeout_ms):
        return PropResult(*at, "deferred", 0.0,
                          "violated only for some outputs of the models without weights "
                          "here; proved once they have weights", counterexample=cx)
    return PropResult(*at, "violated", 0.0, counterexample=cx)


def _named_models(p: dict) -> set[str]:
    """Models whose outputs a property names (`m[i]`)."""
    out: set[str] = set()
    stack = [p.get("premise"), p.get("conclusion")]
    while stack:
        t = stack.pop()
        if isinstance(t, list) and t:
            if t[0] == "out" and len(t) > 1:
                out.add(str(t[1]))
            stack.extend(x for x in t[1:] if isinstance(x, list))
    return out


class _NotEnumerable(Exception):
    """The query cannot be split by tree leaves (two runs, several call sites)."""


def _solve(ex: _WeightsExecutor, assume: list, negated: z3.BoolRef,
           timeout_ms: int) -> tuple[z3.Solver, z3.CheckSatResult]:
    """One query; with enumerated trees, one per leaf region of the (single) tree, the
    tree's outputs fixed to the region's leaf vector: unsat in every region is a proof,
    sat in one a counterexample.  The regions partition the tree's inputs, so together
    they cover every run."""
    deadline = time.monotonic() + timeout_ms / 1000
    if not ex.sites:
        s = z3.Solver()
        s.set("timeout", timeout_ms)
        s.add(*assume, negated)
        return s, s.check()
    if len(ex.sites) != 1 or len(next(iter(ex.sites.values()))) != 1:
        raise _NotEnumerable()
    (k, [(x, ys)]), = ex.sites.items()
    s = z3.Solver()
    s.add(*assume, negated)
    for cond, vec in tree_regions(ex.weights[k].trees[0], x):
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            return s, z3.unknown
        s.set("timeout", left)
        s.push()
        s.add(cond, *[y == v for y, v in zip(ys, vec)])
        res = s.check()
        if res != z3.unsat:
            return s, res            # the model (or reason) is read before any pop
        s.pop()
    return s, z3.unsat


def _rescued(ex: _WeightsExecutor, model: z3.ModelRef, assume: list, goal: z3.BoolRef,
             free: list[int], timeout_ms: int) -> bool:
    """Could some outputs of the weightless models make the property hold in the
    counterexample's situation (its context, table entries, map values)?  If not, the
    violation is the given weights' own."""
    names = tuple(f"model {ex.prog.models[k].name} out[" for k in free)
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    s.add(*assume, goal)
    for name, inp in ex.inputs.by_name.items():
        if not name.startswith(names):
            s.add(inp.var == model.eval(inp.var, model_completion=True))
    for d in model.decls():          # the second run's inputs in a monotonicity query
        if d.name().endswith("'") and not d.name().startswith(names):
            s.add(d() == model[d])
    return s.check() != z3.unsat


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def _counterexample(prog: Program, ex: _WeightsExecutor, model: z3.ModelRef,
                    extra: dict[str, z3.ExprRef]) -> dict[str, Any]:
    ev = lambda e: model.eval(e, model_completion=True)    # noqa: E731
    ctx: dict[str, Any] = {}
    for f in prog.hook.fields:
        vals = []
        for e in range(f.count):
            key = f"ctx.{f.name}" if f.count == 1 else f"ctx.{f.name}[{e}]"
            inp = ex.inputs.by_name.get(key)
            vals.append(ex.inputs.value(model, inp) if inp else 0)
        ctx[f.name] = vals[0] if f.count == 1 else vals
    tables = {}
    for k, aps in ex.applies.items():
        t = prog.tables[k]
        for ap in aps:
            if ap.path is not True and not z3.is_true(ev(to_z3(ap.path))):
                continue
            ai = ev(ap.action).as_long() & 0xFFFF
            a = t.actions[ai] if ai < len(t.actions) else None
            params = {}
            for p in (a.params if a else []):
                raw = ev(ap.params.load(p.offset, p.bits // 8)[0]).as_long()
                params[p.name] = _signed(raw, p.bits) if p.signed else raw
            tables[t.name] = {"action": a.name if a else ai, "params": params}
    outs = {}
    for k, runs in ex.runs.items():
        for r in runs:
            if r.path is True or z3.is_true(ev(to_z3(r.path))):
                outs[prog.models[k].name] = [_signed(ev(o).as_long(), 32) for o in r.outs]
    maps = {name: ex.inputs.value(model, inp) for name, inp in ex.inputs.by_name.items()
            if name.startswith("map ")}
    values = {k: _signed(ev(e).as_long(), e.size()) for k, e in extra.items()}
    return {"ctx": ctx, "tables": tables, "models": outs, "maps": maps, "values": values}


def describe(r: PropResult, prog: Program) -> list[str]:
    """Text lines for one result: `file:line:col: property NAME: STATUS (time)` and,
    for a violation, the counterexample (the context as JSON, ready for
    `rmtctl prog run --ctx`)."""
    head = f"{r.file}:{r.line}:{r.col}: property {r.name}: "
    status = {"proved": "proved", "violated": "VIOLATED", "timeout": "TIMED OUT",
              "error": "ERROR", "deferred": "deferred"}[r.status]
    out = [f"{head}{status} ({r.seconds:.2f} s)"]
    if r.message:
        out.append(f"    {r.message}")
    if r.free_models and r.status == "violated":
        out.append("    (violated whatever " + ", ".join(r.free_models) + " output: their "
                   "outputs below are one choice)")
    elif r.free_models and r.status == "deferred":
        out.append("    (no weights for " + ", ".join(r.free_models) + " yet)")
    cx = r.counterexample
    if cx:
        names = {v: n for n, v in prog.hook.decision.names.items()}
        names[DEFAULT_DECISION] = "DEFAULT"
        out.append("    counterexample ctx: " + json.dumps(cx["ctx"], separators=(",", ":")))
        for t, a in cx["tables"].items():
            args = ", ".join(f"{k}={v}" for k, v in a["params"].items())
            out.append(f"    table {t}: {a['action']}({args})")
        for m, ys in cx["models"].items():
            out.append(f"    model {m}: outputs {ys}")
        for k, v in cx["maps"].items():
            out.append(f"    {k} = {v}")
        for k, v in cx["values"].items():
            shown = f"{names[v]} ({v})" if k.startswith("decision") and v in names else str(v)
            out.append(f"    {k} = {shown}")
    return out
