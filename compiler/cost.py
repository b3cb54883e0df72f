"""Worst-case cost of instructions: the one cost model (docs/semantics.md, "Cost").

The verifier sums these along the longest path and compares the total with the
hook's budget; `rmtc dump` prints them per instruction.
"""
from __future__ import annotations

from rmt.contract.isa import BY_CODE, Fmt, Insn
from rmt.contract.objfile import Map, Model, Program, Table
from rmt.contract.objformat import MapKind, MatchKind, ModelKind

APPLY_BASE = 8
CALL_COST = 4
TRACE_BASE = 4


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
    """Cost of one instruction; ids out of range and unknown opcodes cost 0 (the validator
    rejects them; `rmtc dump` and the verifier still read such an object)."""
    if i.code not in BY_CODE:
        return 0
    f = i.op.fmt
    try:
        if f == Fmt.APPLY:
            return 1 + table_cost(prog.tables[i.imm])
        if f == Fmt.CALLM:
            return 1 + model_cost(prog.models[i.imm])
        if f in (Fmt.MAP_LD, Fmt.MAP_ST):
            return map_cost(prog.maps[i.imm])
        if f == Fmt.TRACE:
            return TRACE_BASE + len(prog.traces[i.imm].fields)
    except IndexError:
        return 0
    if f == Fmt.CALL:
        return CALL_COST
    return 1
