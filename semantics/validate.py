"""Load-time structural checks (DESIGN.md §5): the list the C validator mirrors.

Every rejection is EngineError(EINVAL, "pc N: <reason>: <detail>") or, for
checks on declarations, "<what>: <reason>: <detail>".  The <reason> strings
are the keys of CHECKS below; they are the contract shared with the C
validator (vm_kernel/) and the `-- error` sections of the VM test cases,
which match an error code plus one of these keywords (docs/test-cases.md).
Wording after the keyword is free.

The checks run in this order for each instruction, pc 0 upward, and the first
failure is reported; then the declaration checks; then "no exit at end".
"""
from __future__ import annotations

import errno

from rmt.contract import objformat as F
from rmt.contract.isa import (BY_CODE, CALL0_USES, FMT_USES, HELPER_BY_ID, INSN_FIELDS, LOAD_SIZE,
                              NUM_REGS, Fmt, Insn, Region, mem_fields)
from rmt.contract.objfile import Program
from rmt.contract.objformat import MatchKind
from rmt.contract.hooks import Access, HookSpec
from rmt.contract.engine import EngineError

# reason keyword -> what it means.  Keep this the single list of checks.
CHECKS: dict[str, str] = {
    "program size": "1 <= instruction count <= MAX_INSNS, scratch_size <= MAX_SCRATCH",
    "unknown opcode": "the opcode byte is not in contract/isa.py OPCODES",
    "reserved field": "a field the opcode's format does not use is not zero "
                      "(incl. src of a constant memory access, the object byte of "
                      "CTX/SCRATCH operands, src of a helper taking no argument)",
    "backward jump": "a jump offset is negative",
    "jump out of range": "pc + 1 + off is past the last instruction",
    "bad shift": "SHL_I/SHR_I/SAR_I immediate outside 0..63",
    "division by zero": "DIV_I/SDIV_I/MOD_I/SMOD_I immediate is 0",
    "bad extension width": "ZEXT/SEXT immediate not 8, 16 or 32",
    "unknown region": "memory operand region byte is not a Region",
    "bad table": "APPLY or PARAMS(t) names a table that does not exist",
    "bad model": "CALLM, MIN(m) or MOUT(m) names a model that does not exist",
    "bad map": "MAP_* names a map that does not exist",
    "bad trace format": "TRACE names a trace format that does not exist",
    "limit smaller than size": "an indexed access has limit < access size",
    "out of bounds": "off < 0 or off + max(size, limit) > region size",
    "read-only region": "a store to PARAMS(t)",
    "ctx field": "a context access not inside exactly one field",
    "ctx permission": "ctx read of a field without r/rw, or write of a field without rw",
    "key outside scratch": "APPLY off < 0 or off + 8 * nkeys > scratch_size",
    "record outside scratch": "TRACE off < 0 or off + 8 * nfields > scratch_size",
    "unknown helper": "CALL imm is not a helper id",
    "helper not allowed": "the helper is not allowed at the program's hook",
    "lpm keys": "a table has more than one lpm key",
    "no exit at end": "the last instruction is not EXIT",
}

_SHIFT_I = {"SHL_I", "SHR_I", "SAR_I"}
_DIV_I = {"DIV_I", "SDIV_I", "MOD_I", "SMOD_I"}


def reject(where: str, reason: str, detail: str) -> EngineError:
    assert reason in CHECKS, reason
    return EngineError(errno.EINVAL, f"{where}: {reason}: {detail}")


def ctx_field_at(hook: HookSpec, off: int, extent: int):
    """The context field that holds all of [off, off + extent), or None."""
    for f in hook.fields:
        start = hook.layout[f.name]
        if start <= off and off + extent <= start + f.size:
            return f
    return None


def region_size(prog: Program, region: int, obj: int, where: str) -> int:
    if region == Region.CTX:
        return prog.hook.ctx_size
    if region == Region.SCRATCH:
        return prog.scratch_size
    if region == Region.PARAMS:
        if obj >= len(prog.tables):
            raise reject(where, "bad table", f"PARAMS of table {obj}, the program has "
                                             f"{len(prog.tables)}")
        return prog.tables[obj].param_size
    if obj >= len(prog.models):
        raise reject(where, "bad model", f"{Region(region).name} of model {obj}, the program "
                                         f"has {len(prog.models)}")
    m = prog.models[obj]
    return 4 * (m.n_in if region == Region.MIN else m.n_out)


def _check_mem(prog: Program, i: Insn, name: str, store: bool, where: str) -> None:
    region, obj, limit = mem_fields(i.imm)
    if region not in Region.__members__.values():
        raise reject(where, "unknown region", f"region {region}")
    if region in (Region.CTX, Region.SCRATCH) and obj:
        raise reject(where, "reserved field", f"object byte {obj} on a {Region(region).name} "
                                              f"operand")
    if limit == 0 and i.src:
        raise reject(where, "reserved field", "src set on a constant-address access")
    size = LOAD_SIZE[name]
    if limit and limit < size:
        raise reject(where, "limit smaller than size", f"limit {limit} < size {size}")
    extent = max(size, limit)
    rsize = region_size(prog, region, obj, where)
    if i.off < 0 or i.off + extent > rsize:
        raise reject(where, "out of bounds", f"[{i.off}, {i.off + extent}) outside the "
                                             f"{rsize}-byte {Region(region).name} region")
    if store and region == Region.PARAMS:
        raise reject(where, "read-only region", "stores to PARAMS are not allowed")
    if region == Region.CTX:
        f = ctx_field_at(prog.hook, i.off, extent)
        if f is None:
            raise reject(where, "ctx field", f"[{i.off}, {i.off + extent}) is not inside one "
                                             f"context field")
        ok = f.access == Access.READ_WRITE or (not store and f.access == Access.READ)
        if not ok:
            raise reject(where, "ctx permission", f"{'write to' if store else 'read of'} "
                                                  f"field {f.name!r} (access "
                                                  f"{f.access.value})")


def check_insn(prog: Program, pc: int, i: Insn) -> None:
    """All checks on one instruction; raises EngineError(EINVAL)."""
    where = f"pc {pc}"
    op = BY_CODE.get(i.code)
    if op is None:
        raise reject(where, "unknown opcode", f"0x{i.code:02x}")
    uses = FMT_USES[op.fmt]
    if op.fmt == Fmt.CALL:
        h = HELPER_BY_ID.get(i.imm)
        if h is not None and h.nargs == 0:
            uses = CALL0_USES
    for fld in INSN_FIELDS:
        if fld not in uses and getattr(i, fld):
            raise reject(where, "reserved field", f"{fld} is {getattr(i, fld)} in "
                                                  f"{op.name}")
    assert i.dst < NUM_REGS and i.src < NUM_REGS   # 4-bit fields cannot say otherwise
    f, n = op.fmt, len(prog.code)
    if f in (Fmt.JA, Fmt.JMP_R, Fmt.JMP_I):
        if i.off < 0:
            raise reject(where, "backward jump", f"offset {i.off}")
        if pc + 1 + i.off >= n:
            raise reject(where, "jump out of range", f"target {pc + 1 + i.off}, the program "
                                                     f"has {n} instructions")
    elif op.name in _SHIFT_I and not 0 <= i.imm <= 63:
        raise reject(where, "bad shift", f"{op.name} by {i.imm}")
    elif op.name in _DIV_I and i.imm == 0:
        raise reject(where, "division by zero", f"{op.name} by immediate 0")
    elif f == Fmt.EXT and i.imm not in (8, 16, 32):
        raise reject(where, "bad extension width", f"{op.name} {i.imm}")
    elif f in (Fmt.LOAD, Fmt.STORE):
        _check_mem(prog, i, op.name, f == Fmt.STORE, where)
    elif f == Fmt.APPLY:
        if i.imm < 0 or i.imm >= len(prog.tables):
            raise reject(where, "bad table", f"table {i.imm}, the program has "
                                             f"{len(prog.tables)}")
        end = i.off + 8 * len(prog.tables[i.imm].keys)
        if i.off < 0 or end > prog.scratch_size:
            raise reject(where, "key outside scratch", f"key [{i.off}, {end}) outside the "
                                                       f"{prog.scratch_size}-byte scratch")
    elif f == Fmt.CALLM:
        if i.imm < 0 or i.imm >= len(prog.models):
            raise reject(where, "bad model", f"model {i.imm}, the program has "
                                             f"{len(prog.models)}")
    elif f in (Fmt.MAP_LD, Fmt.MAP_ST):
        if i.imm < 0 or i.imm >= len(prog.maps):
            raise reject(where, "bad map", f"map {i.imm}, the program has {len(prog.maps)}")
    elif f == Fmt.TRACE:
        if i.imm < 0 or i.imm >= len(prog.traces):
            raise reject(where, "bad trace format", f"format {i.imm}, the program has "
                                                    f"{len(prog.traces)}")
        end = i.off + 8 * len(prog.traces[i.imm].fields)
        if i.off < 0 or end > prog.scratch_size:
            raise reject(where, "record outside scratch", f"record [{i.off}, {end}) outside "
                                                          f"the {prog.scratch_size}-byte "
                                                          f"scratch")
    elif f == Fmt.CALL:
        h = HELPER_BY_ID.get(i.imm)
        if h is None:
            raise reject(where, "unknown helper", f"helper id {i.imm}")
        hook = prog.hook
        if h.name not in hook.helpers or (h.hooks and hook.name not in h.hooks):
            raise reject(where, "helper not allowed", f"{h.name} at hook {hook.name}")


def validate(prog: Program) -> None:
    """Run every load-time check on a program; raise EngineError(EINVAL) on the first failure."""
    n = len(prog.code)
    if not 1 <= n <= F.LIMITS["MAX_INSNS"] or prog.scratch_size > F.LIMITS["MAX_SCRATCH"]:
        raise reject("program", "program size", f"{n} instructions, scratch "
                                                f"{prog.scratch_size} bytes")
    for pc, i in enumerate(prog.code):
        check_insn(prog, pc, i)
    for t in prog.tables:
        if sum(k.kind == MatchKind.LPM for k in t.keys) > 1:
            raise reject(f"table {t.name}", "lpm keys", "more than one lpm key")
    last = prog.code[-1]
    if BY_CODE[last.code].fmt != Fmt.EXIT:
        raise reject(f"pc {n - 1}", "no exit at end", f"last instruction is "
                                                      f"{BY_CODE[last.code].name}")
