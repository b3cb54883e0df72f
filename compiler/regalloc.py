"""Linear-scan register allocation over the DAG-shaped IR.

Jumps go forward only, so every path from a definition to a use runs forward
in instruction order: the interval [first mention, last mention] of a virtual
register covers every point where it may be live.  That makes plain linear
scan (Poletto & Sarkar) exact enough and always sound here.  Registers
r0..r12 hold values; when more are live at once, the interval that ends last
is spilled to an 8-byte scratch slot and r13..r15 carry it around each use.
"""
from __future__ import annotations

from dataclasses import dataclass

from rmt.compiler.ir import IrInsn, IrProgram
from rmt.contract.isa import Region, mem_imm

ALLOCATABLE = list(range(13))
SPILL_TEMPS = (13, 14, 15)


@dataclass
class Allocation:
    reg: dict[int, int]          # vreg -> physical register
    slot: dict[int, int]         # vreg -> scratch offset of its spill slot
    scratch_end: int             # scratch bytes used including spill slots


def _intervals(insns: list[IrInsn]) -> dict[int, tuple[int, int]]:
    iv: dict[int, tuple[int, int]] = {}
    for pos, ins in enumerate(insns):
        for v in ins.uses() + ins.defs():
            lo, hi = iv.get(v, (pos, pos))
            iv[v] = (min(lo, pos), max(hi, pos))
    return iv


def allocate(prog: IrProgram) -> Allocation:
    iv = _intervals(prog.insns)
    order = sorted(iv, key=lambda v: iv[v][0])
    free = list(ALLOCATABLE)
    active: list[int] = []       # vregs holding a register, by end
    reg: dict[int, int] = {}
    slot: dict[int, int] = {}
    next_slot = (prog.scratch_used + 7) // 8 * 8

    def spill(v: int) -> None:
        nonlocal next_slot
        slot[v] = next_slot
        next_slot += 8

    for v in order:
        start, end = iv[v]
        for a in list(active):
            if iv[a][1] < start:
                active.remove(a)
                free.append(reg[a])
        if free:
            free.sort()
            reg[v] = free.pop(0)
            active.append(v)
        else:
            victim = max(active, key=lambda a: iv[a][1])
            if iv[victim][1] > end:
                reg[v] = reg.pop(victim)
                active.remove(victim)
                spill(victim)
                active.append(v)
            else:
                spill(v)
    return Allocation(reg, slot, next_slot)


def rewrite(prog: IrProgram, alloc: Allocation) -> list[IrInsn]:
    """Replace virtual registers by physical ones, adding spill loads and stores."""
    out: list[IrInsn] = []
    for ins in prog.insns:
        if ins.op == "LABEL":
            out.append(ins)
            continue
        temps = iter(SPILL_TEMPS)
        mapping: dict[int, int] = {}
        spilled_defs: list[tuple[int, int]] = []
        for v in dict.fromkeys(ins.uses() + ins.defs()):
            if v in alloc.reg:
                mapping[v] = alloc.reg[v]
            else:
                t = next(temps)
                mapping[v] = t
                if v in ins.uses():
                    out.append(IrInsn("LD64", t, None, alloc.slot[v],
                                      mem_imm(Region.SCRATCH), span=ins.span))
                if v in ins.defs():
                    spilled_defs.append((v, t))
        new = IrInsn(ins.op, mapping.get(ins.dst, ins.dst) if ins.dst is not None else None,
                     mapping.get(ins.src, ins.src) if ins.src is not None else None,
                     ins.off, ins.imm, ins.target, ins.span)
        out.append(new)
        for v, t in spilled_defs:
            out.append(IrInsn("ST64", t, None, alloc.slot[v], mem_imm(Region.SCRATCH),
                              span=ins.span))
    return out
