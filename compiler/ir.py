"""The compiler's IR: bytecode instructions over virtual registers and labels.

Lowering (compiler/lower.py) emits IR; register allocation (compiler/regalloc.py)
maps virtual registers to r0..r12, spilling to scratch; emission
(compiler/emit.py) resolves labels into forward offsets.  Because lowering
only produces structured if/else and unrolled loops, every label is placed
after every jump to it: the program is a DAG.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from rmt.contract.isa import BY_NAME, Fmt
from rmt.lang.ast import NOSPAN, Span


@dataclass(eq=False)
class Label:
    name: str
    placed: bool = False


@dataclass(eq=False)
class IrInsn:
    op: str                          # an opcode name from contract/isa.py, or "LABEL"
    dst: Optional[int] = None        # virtual register
    src: Optional[int] = None        # virtual register
    off: int = 0
    imm: int = 0
    target: Optional[Label] = None   # jumps; LABEL marks the label's position
    span: Span = NOSPAN

    @property
    def fmt(self) -> Optional[Fmt]:
        return None if self.op == "LABEL" else BY_NAME[self.op].fmt

    def uses(self) -> list[int]:
        """Virtual registers read by this instruction."""
        f, out = self.fmt, []
        if f in (Fmt.ALU_R, Fmt.JMP_R, Fmt.MAP_ST):
            out = [self.dst, self.src]
        elif f in (Fmt.ALU_I, Fmt.ALU_U, Fmt.EXT, Fmt.JMP_I):
            out = [self.dst]
            if self.op == "MOV_I":
                out = []
        elif f in (Fmt.LOAD, Fmt.MAP_LD, Fmt.CALL):
            out = [self.src]
        elif f == Fmt.STORE:
            out = [self.dst, self.src]
        elif f == Fmt.EXIT:
            out = [self.src]
        if self.op == "MOV_R":
            out = [self.src]
        return [r for r in out if r is not None]

    def defs(self) -> list[int]:
        f = self.fmt
        if f in (Fmt.ALU_R, Fmt.ALU_I, Fmt.ALU_U, Fmt.EXT, Fmt.LOAD, Fmt.APPLY, Fmt.MAP_LD,
                 Fmt.CALL):
            return [self.dst] if self.dst is not None else []
        return []


@dataclass
class IrProgram:
    insns: list[IrInsn] = field(default_factory=list)
    nvregs: int = 0
    scratch_used: int = 0            # bytes of scratch used by arrays and buffers
