"""Textual assembly for RMT bytecode: assembler and disassembler.

Both directions are driven by contract/isa.py; the mnemonic is the opcode name
in lower case without its _R/_I suffix (the operand picks the form).

    mov r1, 5                 add r1, r2              neg r1
    zext r1, 32               sext r1, 8              ldhi r1, 0x1
    ja L1                     jeq r1, 5, L1           jslt r1, r2, +3
    ldu32 r1, ctx[8]          lds32 r1, scratch[0 + r2, 32]     (indexed: base + reg, limit)
    st32 ctx[92], r1          st64 mout0[4], r3       ld64 r2, params1[8]
    apply r0, t0, 16          callm m0                trace 0, 24
    map_ld r1, map0, r2       map_st map0, r1, r2     map_add map0, r1, r2
    call r1, ilog2, r2        call r1, ktime_ns       exit r0

Regions: ctx, scratch, params<table>, min<model>, mout<model>.  `; comment`.
Labels are `NAME:` on their own line; jump targets are labels or `+N`.
"""
from __future__ import annotations

import re

from rmt.contract import isa
from rmt.contract.isa import BY_CODE, BY_NAME, HELPER_BY_ID, HELPER_BY_NAME, Fmt, Insn, Region

REGION_NAMES = {Region.CTX: "ctx", Region.SCRATCH: "scratch", Region.PARAMS: "params",
                Region.MIN: "min", Region.MOUT: "mout"}
_REGION_BY_NAME = {v: k for k, v in REGION_NAMES.items()}
_SUFFIXED = {op.name[:-2] for op in isa.OPCODES if op.name.endswith(("_R", "_I"))}


class AsmError(Exception):
    def __init__(self, line: int, msg: str):
        super().__init__(f"line {line}: {msg}")
        self.line = line


# ---------------------------------------------------------------- disassembler

def mem_operand(imm: int, off: int, src: int) -> str:
    region, obj, limit = isa.mem_fields(imm)
    try:
        name = REGION_NAMES[Region(region)]
    except ValueError:
        name = f"region{region}"
    if region in (Region.PARAMS, Region.MIN, Region.MOUT):
        name += str(obj)
    elif obj:
        name += f"/{obj}"
    return f"{name}[{off} + r{src}, {limit}]" if limit else f"{name}[{off}]"


def disasm_insn(i: Insn) -> str:
    op = BY_CODE.get(i.code)
    if op is None:
        return f".insn 0x{i.code:02x}, {i.dst}, {i.src}, {i.off}, {i.imm}"
    m = op.name[:-2].lower() if op.name[:-2] in _SUFFIXED and op.name[-2:] in ("_R", "_I") \
        else op.name.lower()
    f = op.fmt
    if f == Fmt.ALU_R:
        return f"{m} r{i.dst}, r{i.src}"
    if f in (Fmt.ALU_I, Fmt.EXT):
        return f"{m} r{i.dst}, {i.imm}"
    if f == Fmt.ALU_U:
        return f"{m} r{i.dst}"
    if f == Fmt.JA:
        return f"{m} +{i.off}"
    if f == Fmt.JMP_R:
        return f"{m} r{i.dst}, r{i.src}, +{i.off}"
    if f == Fmt.JMP_I:
        return f"{m} r{i.dst}, {i.imm}, +{i.off}"
    if f == Fmt.LOAD:
        return f"{m} r{i.dst}, {mem_operand(i.imm, i.off, i.src)}"
    if f == Fmt.STORE:
        return f"{m} {mem_operand(i.imm, i.off, i.src)}, r{i.dst}"
    if f == Fmt.APPLY:
        return f"{m} r{i.dst}, t{i.imm}, {i.off}"
    if f == Fmt.CALLM:
        return f"{m} m{i.imm}"
    if f == Fmt.MAP_LD:
        return f"{m} r{i.dst}, map{i.imm}, r{i.src}"
    if f == Fmt.MAP_ST:
        return f"{m} map{i.imm}, r{i.dst}, r{i.src}"
    if f == Fmt.TRACE:
        return f"{m} {i.imm}, {i.off}"
    if f == Fmt.CALL:
        h = HELPER_BY_ID.get(i.imm)
        name = h.name if h else str(i.imm)
        return f"{m} r{i.dst}, {name}, r{i.src}" if h is None or h.nargs else f"{m} r{i.dst}, {name}"
    if f == Fmt.EXIT:
        return f"{m} r{i.src}"
    raise AssertionError(f)


def disasm(code: list[Insn]) -> str:
    return "\n".join(disasm_insn(i) for i in code) + "\n"


# ---------------------------------------------------------------- assembler

_MEM_RE = re.compile(r"^([a-z]+)(\d*)(?:/(\d+))?\[\s*(-?\w+)\s*(?:\+\s*r(\d+)\s*,\s*(\w+)\s*)?\]$")


def _int(tok: str, line: int) -> int:
    try:
        return int(tok, 0)
    except ValueError:
        raise AsmError(line, f"expected a number, found {tok!r}") from None


def _reg(tok: str, line: int) -> int:
    m = re.fullmatch(r"r(\d+)", tok)
    if not m or int(m.group(1)) >= isa.NUM_REGS:
        raise AsmError(line, f"expected a register r0..r{isa.NUM_REGS - 1}, found {tok!r}")
    return int(m.group(1))


def _num_after(prefix: str, tok: str, line: int) -> int:
    if not tok.startswith(prefix):
        raise AsmError(line, f"expected {prefix}<n>, found {tok!r}")
    return _int(tok[len(prefix):], line)


def _mem(tok: str, line: int) -> tuple[int, int, int]:
    """Parse a memory operand; returns (imm, off, src)."""
    m = _MEM_RE.match(tok.replace(" ", ""))
    if not m:
        raise AsmError(line, f"bad memory operand {tok!r}")
    name, objs, objx, off, src, limit = m.groups()
    if name not in _REGION_BY_NAME:
        raise AsmError(line, f"unknown region {name!r}")
    obj = int(objs or objx or 0)
    lim = _int(limit, line) if limit else 0
    if src is not None and lim == 0:
        raise AsmError(line, "an indexed access needs a nonzero limit")
    return isa.mem_imm(_REGION_BY_NAME[name], obj, lim), _int(off, line), int(src or 0)


def _split(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def assemble(text: str) -> list[Insn]:
    """Assemble text into instructions; raises AsmError with the line number."""
    lines: list[tuple[int, str, list[str]]] = []
    labels: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.split(";", 1)[0].strip()
        if not s:
            continue
        if s.endswith(":") and re.fullmatch(r"[A-Za-z_.]\w*:", s):
            if s[:-1] in labels:
                raise AsmError(n, f"label {s[:-1]!r} defined twice")
            labels[s[:-1]] = len(lines)
            continue
        mn, _, rest = s.partition(" ")
        lines.append((n, mn.lower(), _split(rest)))

    out = []
    for pc, (n, mn, ops) in enumerate(lines):
        out.append(_assemble_one(pc, n, mn, ops, labels))
    return out


def _target(tok: str, pc: int, line: int, labels: dict[str, int]) -> int:
    if tok.startswith("+"):
        return _int(tok[1:], line)
    if tok not in labels:
        raise AsmError(line, f"unknown label {tok!r}")
    off = labels[tok] - pc - 1
    if off < 0:
        raise AsmError(line, f"jump to {tok!r} goes backward; jumps are forward only")
    return off


def _assemble_one(pc: int, n: int, mn: str, ops: list[str], labels: dict[str, int]) -> Insn:
    if mn == ".insn":
        vals = [_int(o, n) for o in ops]
        if len(vals) != 5:
            raise AsmError(n, ".insn takes code, dst, src, off, imm")
        return Insn(*vals)
    upper = mn.upper()
    if upper in _SUFFIXED:
        if not ops:
            raise AsmError(n, f"{mn} needs operands")
        is_reg = re.fullmatch(r"r\d+", ops[1] if len(ops) > 1 else "") is not None
        op = BY_NAME[upper + ("_R" if is_reg else "_I")]
    elif upper in BY_NAME:
        op = BY_NAME[upper]
    else:
        raise AsmError(n, f"unknown mnemonic {mn!r}")

    def need(k: int) -> None:
        if len(ops) != k:
            raise AsmError(n, f"{mn} takes {k} operands, found {len(ops)}")

    f, c = op.fmt, op.code
    if f == Fmt.ALU_R:
        need(2)
        return Insn(c, _reg(ops[0], n), _reg(ops[1], n))
    if f in (Fmt.ALU_I, Fmt.EXT):
        need(2)
        return Insn(c, _reg(ops[0], n), imm=_int(ops[1], n))
    if f == Fmt.ALU_U:
        need(1)
        return Insn(c, _reg(ops[0], n))
    if f == Fmt.JA:
        need(1)
        return Insn(c, off=_target(ops[0], pc, n, labels))
    if f == Fmt.JMP_R:
        need(3)
        return Insn(c, _reg(ops[0], n), _reg(ops[1], n), _target(ops[2], pc, n, labels))
    if f == Fmt.JMP_I:
        need(3)
        return Insn(c, _reg(ops[0], n), off=_target(ops[2], pc, n, labels), imm=_int(ops[1], n))
    if f == Fmt.LOAD:
        need(2)
        imm, off, src = _mem(ops[1], n)
        return Insn(c, _reg(ops[0], n), src, off, imm)
    if f == Fmt.STORE:
        need(2)
        imm, off, src = _mem(ops[0], n)
        return Insn(c, _reg(ops[1], n), src, off, imm)
    if f == Fmt.APPLY:
        need(3)
        return Insn(c, _reg(ops[0], n), off=_int(ops[2], n), imm=_num_after("t", ops[1], n))
    if f == Fmt.CALLM:
        need(1)
        return Insn(c, imm=_num_after("m", ops[0], n))
    if f == Fmt.MAP_LD:
        need(3)
        return Insn(c, _reg(ops[0], n), _reg(ops[2], n), imm=_num_after("map", ops[1], n))
    if f == Fmt.MAP_ST:
        need(3)
        return Insn(c, _reg(ops[1], n), _reg(ops[2], n), imm=_num_after("map", ops[0], n))
    if f == Fmt.TRACE:
        need(2)
        return Insn(c, imm=_int(ops[0], n), off=_int(ops[1], n))
    if f == Fmt.CALL:
        if len(ops) not in (2, 3):
            raise AsmError(n, "call takes dst, helper[, arg]")
        h = HELPER_BY_NAME.get(ops[1])
        hid = h.id if h else _int(ops[1], n)
        return Insn(c, _reg(ops[0], n), _reg(ops[2], n) if len(ops) == 3 else 0, imm=hid)
    if f == Fmt.EXIT:
        need(1)
        return Insn(c, src=_reg(ops[0], n))
    raise AssertionError(f)
