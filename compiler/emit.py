"""Emission: physical-register IR -> bytecode, forward offsets and the source map."""
from __future__ import annotations

from rmt.compiler.ir import IrInsn
from rmt.contract.isa import BY_NAME, MAX_INSNS, Insn
from rmt.contract.objfile import SrcLoc


class EmitError(Exception):
    pass


def emit(insns: list[IrInsn]) -> tuple[list[Insn], list[SrcLoc]]:
    pcs: dict[int, int] = {}          # id(label) -> pc
    pc = 0
    for ins in insns:
        if ins.op == "LABEL":
            pcs[id(ins.target)] = pc
        else:
            pc += 1
    if pc > MAX_INSNS:
        raise EmitError(f"program has {pc} instructions, over the limit of {MAX_INSNS}")

    code: list[Insn] = []
    srcmap: list[SrcLoc] = []
    for ins in insns:
        if ins.op == "LABEL":
            continue
        off = ins.off
        if ins.target is not None:
            off = pcs[id(ins.target)] - len(code) - 1
            if off < 0:
                raise EmitError(f"internal error: backward jump to {ins.target.name}")
        loc = (ins.span.file, ins.span.line, ins.span.col)
        if ins.span.line and (not srcmap or (srcmap[-1].file, srcmap[-1].line,
                                             srcmap[-1].col) != loc):
            srcmap.append(SrcLoc(len(code), *loc))
        code.append(Insn(BY_NAME[ins.op].code, ins.dst or 0, ins.src or 0, off, ins.imm))
    return code, srcmap
