"""Export taint: which non-exportable context fields can reach a trace record or a map the
control plane can read.

A forward data-flow pass over the DAG.  Every context byte of a field with
`export=False` carries that field's name; taint flows through registers
(ALU: union of operands), memory (stores copy the value's taint; indexed
accesses add the index's taint, since the address depends on it; an indexed
store may hit any byte in its range, so those bytes gain the taint and keep
their old one), table lookups (action index and parameters depend on the key
bytes), model inference (outputs depend on all inputs), helpers (random and
ilog2 results depend on their argument) and maps.  Maps outlive an
invocation, so a map's taint is the union of everything ever stored into it;
the pass is repeated until the map taints stop growing.  Values loaded from
a map carry the map's taint, not the key's (a lookup is an implicit flow).
Implicit flows through branches are not tracked (docs/verifier.md).

A TRACE whose record field carries any taint is a failure naming the fields.
So is a map that is not declared `private` whose stored keys or values carry
taint: `rmtctl map dump` would hand them to userspace.  (A private map's
contents stay in the kernel: the control plane refuses to read it.)
"""
from __future__ import annotations

from compiler.isa import BY_CODE, HELPER_BY_ID, LOAD_SIZE, Fmt, Region, mem_fields
from compiler.objfile import Program
from rmt_lang.hooks import Access
from verifier import obligations as O
from verifier.obligations import Counterexample, Proved, Result

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


def check_taint(prog: Program, bad_pcs: set[int]) -> list[Result]:
    hook = prog.hook
    secret = [f for f in hook.fields if not f.export and f.access != Access.NONE]
    traces = [pc for pc, i in enumerate(prog.code)
              if i.code in BY_CODE and BY_CODE[i.code].fmt == Fmt.TRACE and pc not in bad_pcs]
    public = [k for k, m in enumerate(prog.maps) if not m.private]
    if not traces and not public:
        return []
    ctx_base: dict[int, frozenset] = {}
    for f in secret:
        start = hook.layout[f.name]
        for b in range(start, start + f.size):
            ctx_base[b] = T([f.name])
    map_taint = [EMPTY] * len(prog.maps)
    while True:
        leaks, new_maps, key_taint, where = _pass(prog, bad_pcs, ctx_base, map_taint)
        if new_maps == map_taint:
            break
        map_taint = new_maps
    out = []
    for k in public:
        m, kt, vt = prog.maps[k], key_taint[k], map_taint[k]
        ob = O.MapExportable(where.get(k, -1), m.name, tuple(sorted(kt)), tuple(sorted(vt)))
        if not kt and not vt:
            out.append(Result(ob, Proved()))
            continue
        cex = {"map": m.name}
        if kt:
            cex["keys depend on"] = ", ".join(f"ctx.{n}" for n in sorted(kt))
        if vt:
            cex["values depend on"] = ", ".join(f"ctx.{n}" for n in sorted(vt))
        out.append(Result(ob, Counterexample(
            cex, "`rmtctl map dump` would export them; declare the map `private` to keep its "
                 "contents in the kernel")))
    for pc in traces:
        i = prog.code[pc]
        fmt = prog.traces[i.imm]
        for k, fld in enumerate(fmt.fields):
            got = leaks.get((pc, k), EMPTY)
            ob = O.TraceExportable(pc if got else -1, fmt.name, fld.name, tuple(sorted(got)))
            if got:
                out.append(Result(ob, Counterexample(
                    {"trace field": fld.name, "depends on": ", ".join(
                        f"ctx.{n}" for n in sorted(got))},
                    "data flows from a field the hook marks export=False")))
            else:
                out.append(Result(ob, Proved()))
    return out


def _pass(prog: Program, bad_pcs: set[int], ctx_base: dict[int, frozenset],
          map_taint: list[frozenset]) -> tuple[dict, list[frozenset], list[frozenset],
                                               dict[int, int]]:
    """One pass over the code: trace leaks, map value and key taints, and per map the
    first pc that stores tainted data into it."""
    mems = {(Region.CTX, 0): TMem(base=ctx_base), (Region.SCRATCH, 0): TMem()}
    for t in range(len(prog.tables)):
        mems[(Region.PARAMS, t)] = TMem()
    for m in range(len(prog.models)):
        mems[(Region.MIN, m)] = TMem()
        mems[(Region.MOUT, m)] = TMem()
    new_maps = list(map_taint)
    key_taint = [EMPTY] * len(prog.maps)
    where: dict[int, int] = {}
    leaks: dict[tuple[int, int], frozenset] = {}
    pending: dict[int, list[_State]] = {0: [_State([EMPTY] * 16, mems)]}
    n = len(prog.code)
    for pc, i in enumerate(prog.code):
        ins = pending.pop(pc, None)
        if not ins or pc in bad_pcs:
            continue
        st = _merge(ins)
        op = BY_CODE[i.code]
        f, name = op.fmt, op.name
        R = st.regs
        succ = [pc + 1]
        if f == Fmt.ALU_R:
            if name in ("XOR_R", "SUB_R") and i.dst == i.src:
                R[i.dst] = EMPTY
            elif name == "MOV_R":
                R[i.dst] = R[i.src]
            else:
                R[i.dst] = R[i.dst] | R[i.src]
        elif f == Fmt.ALU_I and name == "MOV_I":
            R[i.dst] = EMPTY
        elif f in (Fmt.LOAD, Fmt.STORE):
            region, obj, limit = mem_fields(i.imm)
            size = LOAD_SIZE[name]
            mem = st.mems[(region, obj)]
            lo, hi = i.off, i.off + (max(limit, size) if limit else size)
            idx_t = R[i.src] if limit else EMPTY
            if f == Fmt.LOAD:
                R[i.dst] = mem.span(lo, hi) | idx_t
            else:
                val = R[i.dst] | idx_t
                for b in range(lo, hi if limit else lo + size):
                    mem.bytes[b] = (mem.at(b) | val) if limit else val
        elif f == Fmt.APPLY:
            t = prog.tables[i.imm]
            kt = st.mems[(Region.SCRATCH, 0)].span(i.off, i.off + 8 * len(t.keys))
            R[i.dst] = kt
            st.mems[(Region.PARAMS, i.imm)] = TMem(kt)
        elif f == Fmt.CALLM:
            m = prog.models[i.imm]
            st.mems[(Region.MOUT, i.imm)] = TMem(st.mems[(Region.MIN, i.imm)].span(0, 4 * m.n_in))
        elif f == Fmt.MAP_LD:
            R[i.dst] = map_taint[i.imm]
        elif f == Fmt.MAP_ST:
            new_maps[i.imm] = new_maps[i.imm] | R[i.src]
            key_taint[i.imm] = key_taint[i.imm] | R[i.dst]
            if (R[i.src] | R[i.dst]) and i.imm not in where:
                where[i.imm] = pc
        elif f == Fmt.TRACE:
            scratch = st.mems[(Region.SCRATCH, 0)]
            for k in range(len(prog.traces[i.imm].fields)):
                got = scratch.span(i.off + 8 * k, i.off + 8 * k + 8)
                if got:
                    leaks[(pc, k)] = leaks.get((pc, k), EMPTY) | got
        elif f == Fmt.CALL:
            h = HELPER_BY_ID[i.imm]
            R[i.dst] = R[i.src] if h.nargs else EMPTY
        elif f == Fmt.JA:
            succ = [pc + 1 + i.off]
        elif f in (Fmt.JMP_R, Fmt.JMP_I):
            succ.append(pc + 1 + i.off)
        elif f == Fmt.EXIT:
            succ = []
        for k, s in enumerate(succ):
            if 0 <= s < n:
                pending.setdefault(s, []).append(st if k == 0 else st.copy())
    return leaks, new_maps, key_taint, where
