"""Worst-case cost of instructions: the one cost model (docs/semantics.md, "Cost").

An instruction costs its opcode's fixed cost (`Op.cost` in contract/isa.py, which the
generated docs/isa.md and C headers carry too) plus, for the instructions that name an object,
that object's cost: the table's lookup, the model's multiply-accumulates, the map's access, the
trace record's fields, the helper's `Helper.cost`.  The verifier sums these along the longest
path and compares the total with the hook's budget; `rmtc dump` prints them per instruction.
"""
from __future__ import annotations

from rmt.contract.isa import BY_CODE, HELPER_BY_ID, Fmt, Insn
from rmt.contract.objfile import Map, Model, Program, Table
from rmt.contract.objformat import MapKind, MatchKind, ModelKind

APPLY_BASE = 8           # a table lookup before its per-key costs
TRACE_FIELD = 1          # per field of a trace record


def table_cost(t: Table) -> int:
    cost = APPLY_BASE
    for k in t.keys:
        if k.kind == MatchKind.LPM:
            cost += k.bits
        elif k.kind in (MatchKind.TERNARY, MatchKind.RANGE):
            return APPLY_BASE + t.max_entries + sum(k.bits for k in t.keys if k.kind == MatchKind.LPM)
    return cost


def model_cost(m: Model) -> int:
    if m.kind in (ModelKind.MLP, ModelKind.LINEAR):
        return sum(ly.macs + ly.n_out for ly in m.layers)
    trees = 1 if m.kind == ModelKind.TREE else m.trees
    return trees * (2 * m.depth + m.n_out)


def map_cost(m: Map) -> int:
    return 8 if m.kind == MapKind.HASH else 2


def insn_cost(prog: Program, i: Insn) -> int:
    """Cost of one instruction; ids out of range and unknown opcodes cost their fixed part or 0
    (the validator rejects them; `rmtc dump` and the verifier still read such an object)."""
    op = BY_CODE.get(i.code)
    if op is None:
        return 0
    return op.cost + _object_cost(prog, op.fmt, i.imm)


def _object_cost(prog: Program, f: Fmt, imm: int) -> int:
    try:
        if f == Fmt.APPLY:
            return table_cost(prog.tables[imm])
        if f == Fmt.CALLM:
            return model_cost(prog.models[imm])
        if f in (Fmt.MAP_LD, Fmt.MAP_ST):
            return map_cost(prog.maps[imm])
        if f == Fmt.TRACE:
            return TRACE_FIELD * len(prog.traces[imm].fields)
    except IndexError:
        return 0
    if f == Fmt.CALL:
        h = HELPER_BY_ID.get(imm)
        return h.cost if h else 0
    return 0
