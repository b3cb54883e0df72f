"""Export taint: which non-exportable context fields can reach something the control
plane can observe (docs/verifier.md, "Export taint", lists every channel).

A forward data-flow pass over the DAG.  Every context byte of a field with
`export=False` carries that field's name; taint flows

* explicitly: through registers (ALU: union of operands), memory (stores copy
  the value's taint; indexed accesses add the index's taint, since the address
  depends on it; an indexed store may hit any byte in its range, so those bytes
  gain the taint and keep their old one), table lookups (action index and
  parameters depend on the key bytes), model inference (outputs depend on all
  inputs), helpers (random and ilog2 results depend on their argument) and maps;
* implicitly, through control dependence: the code is a DAG, so each
  instruction's controlling branches are exact (post-dominators, computed
  once).  An instruction that runs only when a branch goes one way carries the
  branch condition's taint (and that branch's own control taint): every
  register or byte it writes, every map entry it stores, every trace record it
  emits, table it applies and decision it returns.  A comparison materialised
  as a value (`mov 1; jcc; mov 0`) is covered by this rule: the `mov 0` is
  control dependent on the compare;
* through maps: maps outlive an invocation, so a map's content taint is the
  union of every key, value and control taint ever stored into it, iterated to
  a fixpoint.  A value loaded from a map carries the map's content taint and
  the load key's taint (which slot was read, and whether a key is present).
  So a `private` map keyed by pid, read back at a constant key, yields a value
  tainted by ctx.pid.

Channels checked (each a failure naming the fields): TRACE record fields and
the record's existence; keys and values of maps that are not `private`
(`rmtctl map dump`); table hit counters (`rmtctl table dump`: the key bytes
and the control taint of each APPLY); model overflow counters (the inputs and
control taint of each CALLM); and decision counters (`rmtctl stats`: the value
and control taint of each EXIT, and of each CALLM, which may abort), unless the
hook spec declares DECISIONS exportable.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rmt.contract.isa import BY_CODE, HELPER_BY_ID, LOAD_SIZE, Fmt, Region, mem_fields
from rmt.contract.objfile import Program
from rmt.contract.hooks import DECISIONS, Access
from rmt.verifier import obligations as O
from rmt.verifier.obligations import Counterexample, Proved, Result

T = frozenset
EMPTY: frozenset[str] = frozenset()


class TMem:
    """Per-byte taint over a uniform default (or the context's per-field taint)."""

    def __init__(self, uniform: frozenset = EMPTY, base: dict[int, frozenset] | None = None):
        self.uniform = uniform
        self.base = base
        self.bytes: dict[int, frozenset] = {}

    def copy(self) -> "TMem":
        m = TMem(self.uniform, self.base)
        m.bytes = dict(self.bytes)
        return m

    def at(self, b: int) -> frozenset:
        t = self.bytes.get(b)
        if t is not None:
            return t
        return self.base.get(b, EMPTY) if self.base is not None else self.uniform

    def span(self, lo: int, hi: int) -> frozenset:
        out = EMPTY
        for b in range(lo, hi):
            out = out | self.at(b)
        return out


def _merge_mem(ms: list[TMem]) -> TMem:
    if all(m is ms[0] for m in ms):
        return ms[0].copy()
    out = TMem(T().union(*(m.uniform for m in ms)), ms[0].base)
    keys: set[int] = set()
    for m in ms:
        keys |= m.bytes.keys()
    for b in keys:
        out.bytes[b] = T().union(*(m.at(b) for m in ms))
    return out


class _State:
    def __init__(self, regs: list[frozenset], mems: dict):
        self.regs = regs
        self.mems = mems

    def copy(self) -> "_State":
        return _State(list(self.regs), {k: m.copy() for k, m in self.mems.items()})


def _merge(states: list[_State]) -> _State:
    if len(states) == 1:
        return states[0]
    regs = [T().union(*(s.regs[r] for s in states)) for r in range(16)]
    return _State(regs, {k: _merge_mem([s.mems[k] for s in states]) for k in states[0].mems})


# ---------------------------------------------------------------- control dependence

def successors(prog: Program, pc: int, bad_pcs: set[int]) -> list[int]:
    """The pcs control may reach from pc; len(code) stands for "the run ends"."""
    n = len(prog.code)
    i = prog.code[pc]
    if pc in bad_pcs or i.code not in BY_CODE:
        return [n]
    f = BY_CODE[i.code].fmt
    if f == Fmt.EXIT:
        return [n]
    if f == Fmt.JA:
        out = [pc + 1 + i.off]
    elif f in (Fmt.JMP_R, Fmt.JMP_I):
        out = [pc + 1, pc + 1 + i.off]
    else:
        out = [pc + 1]
    return sorted({s if 0 <= s < n and s > pc else n for s in out})


def control_deps(prog: Program, bad_pcs: set[int]) -> list[list[int]]:
    """For each pc, the conditional branches it is control dependent on (Ferrante, Ottenstein
    and Warren): b controls x when one edge out of b always leads to x and the other may
    avoid it.  Jumps go forward, so immediate post-dominators come out in one backward
    sweep (each node's post-dominator has a larger pc; the run's end is len(code))."""
    n = len(prog.code)
    ipdom = list(range(n + 1))
    succ = [successors(prog, pc, bad_pcs) for pc in range(n)]

    def meet(a: int, b: int) -> int:
        while a != b:
            if a < b:
                a = ipdom[a]
            else:
                b = ipdom[b]
        return a

    for pc in range(n - 1, -1, -1):
        d = succ[pc][0]
        for s in succ[pc][1:]:
            d = meet(d, s)
        ipdom[pc] = d
    deps: list[list[int]] = [[] for _ in range(n)]
    for b in range(n):
        if len(succ[b]) < 2:
            continue
        for s in succ[b]:
            x = s
            while x != ipdom[b] and x < n:
                deps[x].append(b)
                x = ipdom[x]
    return deps


# ---------------------------------------------------------------- the pass

@dataclass
class _Flow:
    """What one pass found: per observable channel, the taint reaching it."""
    trace_fields: dict[tuple[int, int], frozenset] = field(default_factory=dict)
    trace_ctl: dict[int, frozenset] = field(default_factory=dict)
    map_content: list[frozenset] = field(default_factory=list)
    map_keys: list[frozenset] = field(default_factory=list)
    map_values: list[frozenset] = field(default_factory=list)
    map_when: list[frozenset] = field(default_factory=list)
    map_where: dict[int, int] = field(default_factory=dict)
    table_hits: dict[int, frozenset] = field(default_factory=dict)     # APPLY pc
    model_inputs: dict[int, frozenset] = field(default_factory=dict)   # CALLM pc
    decisions: dict[int, frozenset] = field(default_factory=dict)      # EXIT / CALLM pc


def check_taint(prog: Program, bad_pcs: set[int]) -> list[Result]:
    hook = prog.hook
    secret = [f for f in hook.fields if not f.export and f.access != Access.NONE]
    if not secret:
        return []
    ctx_base: dict[int, frozenset] = {}
    for f in secret:
        start = hook.layout[f.name]
        for b in range(start, start + f.size):
            ctx_base[b] = T([f.name])
    deps = control_deps(prog, bad_pcs)
    content = [EMPTY] * len(prog.maps)
    while True:
        flow = _pass(prog, bad_pcs, ctx_base, content, deps)
        if flow.map_content == content:
            break
        content = flow.map_content
    return _report(prog, flow)


def _names(t: frozenset) -> str:
    return ", ".join(f"ctx.{n}" for n in sorted(t))


def _report(prog: Program, flow: _Flow) -> list[Result]:
    out = []
    exported = DECISIONS in prog.hook.exports
    trips = prog.trips_map()
    for k, m in enumerate(prog.maps):
        if m.private:
            continue
        kt, vt, wt = flow.map_keys[k], flow.map_values[k], flow.map_when[k]
        if k == trips:
            # guard trips (`rmtctl stats`) are part of the decision channel: a guard only
            # replaces a decision, so they may depend on what the decision may depend on
            got = EMPTY if exported else kt | vt | wt
            out.append(_channel(flow.map_where.get(k, -1), "decision counters",
                                f"guard trips (map {m.name})", got,
                                f"`rmtctl stats` counts guard trips; hook {prog.hook.name} "
                                f"does not declare decisions exportable"))
            continue
        ob = O.MapExportable(flow.map_where.get(k, -1), m.name, tuple(sorted(kt)),
                             tuple(sorted(vt)), tuple(sorted(wt)))
        if not kt and not vt and not wt:
            out.append(Result(ob, Proved()))
            continue
        cex = {"map": m.name}
        if kt:
            cex["keys depend on"] = _names(kt)
        if vt:
            cex["values depend on"] = _names(vt)
        if wt:
            cex["stored only when"] = f"a branch on {_names(wt)} goes one way"
        out.append(Result(ob, Counterexample(
            cex, "`rmtctl map dump` would export them; declare the map `private` to keep its "
                 "contents in the kernel")))
    for pc, i in enumerate(prog.code):
        ctl = flow.trace_ctl.get(pc)
        if ctl is None:
            continue            # not a TRACE the pass reached (malformed ones never are)
        fmt = prog.traces[i.imm]
        fields = [f.name for f in fmt.fields] or ["(the record itself)"]
        for k, fname in enumerate(fields):
            got = flow.trace_fields.get((pc, k), EMPTY) | ctl
            ob = O.TraceExportable(pc if got else -1, fmt.name, fname, tuple(sorted(got)))
            if not got:
                out.append(Result(ob, Proved()))
                continue
            cex = {"trace field": fname, "depends on": _names(got)}
            note = "data flows from a field the hook marks export=False"
            if ctl:
                cex["record emitted only when"] = f"a branch on {_names(ctl)} goes one way"
                note = ("whether the record is emitted, or the value traced, depends on a "
                        "field the hook marks export=False")
            out.append(Result(ob, Counterexample(cex, note)))
    for pc, got in sorted(flow.table_hits.items()):
        name = prog.tables[prog.code[pc].imm].name
        out.append(_channel(pc, "hit counters", f"table {name}", got,
                            "`rmtctl table dump` shows per-entry hit counters: key the table "
                            "on exportable fields only"))
    for pc, got in sorted(flow.model_inputs.items()):
        name = prog.models[prog.code[pc].imm].name
        out.append(_channel(pc, "overflow counters", f"model {name}", got,
                            "`rmtctl stats` counts saturated inferences"))
    for pc, got in sorted(flow.decisions.items()):
        if exported:
            got = EMPTY
        what = "this exit" if BY_CODE[prog.code[pc].code].fmt == Fmt.EXIT else \
            "this model call (it aborts without weights)"
        out.append(_channel(pc, "decision counters", what, got,
                            f"`rmtctl stats` counts decisions and aborts; hook "
                            f"{prog.hook.name} does not declare them exportable"))
    return out



def _channel(pc: int, channel: str, what: str, got: frozenset, note: str) -> Result:
    ob = O.ChannelExportable(pc if got else -1, channel, what, tuple(sorted(got)))
    if not got:
        return Result(ob, Proved())
    return Result(ob, Counterexample({"channel": channel, "depends on": _names(got)}, note))


def _pass(prog: Program, bad_pcs: set[int], ctx_base: dict[int, frozenset],
          content: list[frozenset], deps: list[list[int]]) -> _Flow:
    """One pass over the code, reading map content taints from the previous pass."""
    mems = {(Region.CTX, 0): TMem(base=ctx_base), (Region.SCRATCH, 0): TMem()}
    for t in range(len(prog.tables)):
        mems[(Region.PARAMS, t)] = TMem()
    for m in range(len(prog.models)):
        mems[(Region.MIN, m)] = TMem()
        mems[(Region.MOUT, m)] = TMem()
    nmaps = len(prog.maps)
    fl = _Flow(map_content=list(content), map_keys=[EMPTY] * nmaps,
               map_values=[EMPTY] * nmaps, map_when=[EMPTY] * nmaps)
    branch: dict[int, frozenset] = {}      # conditional jump pc -> condition + control taint
    pending: dict[int, list[_State]] = {0: [_State([EMPTY] * 16, mems)]}
    n = len(prog.code)
    for pc, i in enumerate(prog.code):
        ins = pending.pop(pc, None)
        if not ins or pc in bad_pcs:
            continue
        ctl = T().union(*(branch.get(b, EMPTY) for b in deps[pc])) if deps[pc] else EMPTY
        st = _merge(ins)
        op = BY_CODE[i.code]
        f, name = op.fmt, op.name
        R = st.regs
        if f == Fmt.ALU_R:
            if name in ("XOR_R", "SUB_R") and i.dst == i.src:
                R[i.dst] = ctl
            elif name == "MOV_R":
                R[i.dst] = R[i.src] | ctl
            else:
                R[i.dst] = R[i.dst] | R[i.src] | ctl
        elif f == Fmt.ALU_I and name == "MOV_I":
            R[i.dst] = ctl
        elif f in (Fmt.ALU_I, Fmt.ALU_U, Fmt.EXT):
            R[i.dst] = R[i.dst] | ctl
        elif f in (Fmt.LOAD, Fmt.STORE):
            region, obj, limit = mem_fields(i.imm)
            size = LOAD_SIZE[name]
            mem = st.mems[(region, obj)]
            lo, hi = i.off, i.off + (max(limit, size) if limit else size)
            idx_t = R[i.src] if limit else EMPTY
            if f == Fmt.LOAD:
                R[i.dst] = mem.span(lo, hi) | idx_t | ctl
            else:
                val = R[i.dst] | idx_t | ctl
                for b in range(lo, hi if limit else lo + size):
                    mem.bytes[b] = (mem.at(b) | val) if limit else val
        elif f == Fmt.APPLY:
            t = prog.tables[i.imm]
            kt = st.mems[(Region.SCRATCH, 0)].span(i.off, i.off + 8 * len(t.keys)) | ctl
            R[i.dst] = kt
            st.mems[(Region.PARAMS, i.imm)] = TMem(kt)
            fl.table_hits[pc] = fl.table_hits.get(pc, EMPTY) | kt
        elif f == Fmt.CALLM:
            m = prog.models[i.imm]
            it = st.mems[(Region.MIN, i.imm)].span(0, 4 * m.n_in) | ctl
            st.mems[(Region.MOUT, i.imm)] = TMem(it)
            fl.model_inputs[pc] = fl.model_inputs.get(pc, EMPTY) | it
            fl.decisions[pc] = fl.decisions.get(pc, EMPTY) | ctl
        elif f == Fmt.MAP_LD:
            R[i.dst] = content[i.imm] | R[i.src] | ctl
        elif f == Fmt.MAP_ST:
            kt, vt = R[i.dst], R[i.src]
            fl.map_keys[i.imm] |= kt
            fl.map_values[i.imm] |= vt
            fl.map_when[i.imm] |= ctl
            fl.map_content[i.imm] = fl.map_content[i.imm] | kt | vt | ctl
            if (kt | vt | ctl) and i.imm not in fl.map_where:
                fl.map_where[i.imm] = pc
        elif f == Fmt.TRACE:
            scratch = st.mems[(Region.SCRATCH, 0)]
            fl.trace_ctl[pc] = fl.trace_ctl.get(pc, EMPTY) | ctl
            for k in range(len(prog.traces[i.imm].fields)):
                got = scratch.span(i.off + 8 * k, i.off + 8 * k + 8) | ctl
                if got:
                    fl.trace_fields[(pc, k)] = fl.trace_fields.get((pc, k), EMPTY) | got
        elif f == Fmt.CALL:
            h = HELPER_BY_ID[i.imm]
            R[i.dst] = (R[i.src] if h.nargs else EMPTY) | ctl
        elif f == Fmt.JMP_R:
            branch[pc] = R[i.dst] | R[i.src] | ctl
        elif f == Fmt.JMP_I:
            branch[pc] = R[i.dst] | ctl
        elif f == Fmt.EXIT:
            fl.decisions[pc] = fl.decisions.get(pc, EMPTY) | R[i.src] | ctl
        succ = [s for s in successors(prog, pc, bad_pcs) if s < n]
        for k, s in enumerate(succ):
            pending.setdefault(s, []).append(st if k == 0 else st.copy())
    return fl
