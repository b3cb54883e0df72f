"""Jump threading on the allocated IR, before emission.

Lowering produces structured control flow: an `if` ends its then-branch with a
JA to the end, a table's actions each jump to the table's end, and nested
constructs put those ends next to each other, so a jump often lands on
another JA (a chain), on an EXIT, or right after itself.  This pass

- retargets every jump whose target starts with a JA to that JA's target
  (following the chain; targets stay forward, so the program stays a DAG);
- replaces a JA that lands on an EXIT by a copy of the EXIT (no instruction
  runs in between, so the register it returns holds the same value);
- drops jumps to the instruction that follows them anyway, then code no path
  reaches (after a JA or EXIT, up to the next label a jump still uses), and
  labels no jump uses, repeating until nothing changes.

Jumps have no side effects, so every path computes the same values with fewer
instructions.  Works on physical registers (after compiler/regalloc.py) and
labels (before compiler/emit.py resolves them into offsets).
"""
from __future__ import annotations

from rmt.compiler.ir import IrInsn, Label

_ENDS = ("JA", "EXIT")           # no fall-through past these


def _first_real(insns: list[IrInsn]) -> dict[int, int]:
    """id(label) -> index of the first instruction at or after the label (len: the end)."""
    at: dict[int, int] = {}
    pending: list[Label] = []
    for i, ins in enumerate(insns):
        if ins.op == "LABEL":
            pending.append(ins.target)
        else:
            for lab in pending:
                at[id(lab)] = i
            pending = []
    for lab in pending:
        at[id(lab)] = len(insns)
    return at


def _retarget(insns: list[IrInsn]) -> list[IrInsn]:
    at = _first_real(insns)
    out: list[IrInsn] = []
    for ins in insns:
        if ins.op != "LABEL" and ins.target is not None:
            target, seen = ins.target, set()
            while id(target) not in seen:
                seen.add(id(target))
                i = at[id(target)]
                if i < len(insns) and insns[i].op == "JA":
                    target = insns[i].target
                else:
                    break
            i = at[id(target)]
            if ins.op == "JA" and i < len(insns) and insns[i].op == "EXIT":
                ex = insns[i]
                ins = IrInsn("EXIT", ex.dst, ex.src, ex.off, ex.imm, None, ins.span)
            elif target is not ins.target:
                ins = IrInsn(ins.op, ins.dst, ins.src, ins.off, ins.imm, target, ins.span)
        out.append(ins)
    return out


def _prune(insns: list[IrInsn]) -> tuple[list[IrInsn], bool]:
    """One round of dropping jumps to the next instruction, dead code and unused labels."""
    changed = False
    # jumps whose target is reached by falling through (only labels in between)
    kept: list[IrInsn] = []
    for i, ins in enumerate(insns):
        if ins.op != "LABEL" and ins.target is not None:
            j = i + 1
            while j < len(insns) and insns[j].op == "LABEL" and insns[j].target is not ins.target:
                j += 1
            if j < len(insns) and insns[j].op == "LABEL":
                changed = True
                continue
        kept.append(ins)
    used = {id(ins.target) for ins in kept if ins.op != "LABEL" and ins.target is not None}
    out: list[IrInsn] = []
    live = True
    for ins in kept:
        if ins.op == "LABEL":
            if id(ins.target) in used:
                live = True
                out.append(ins)
            else:
                changed = True
            continue
        if not live:
            changed = True
            continue
        out.append(ins)
        if ins.op in _ENDS:
            live = False
    return out, changed


def thread_jumps(insns: list[IrInsn]) -> list[IrInsn]:
    """The IR with jump chains threaded and dead jumps, code and labels removed."""
    out = _retarget(insns)
    changed = True
    while changed:
        out, changed = _prune(out)
        if changed:
            out = _retarget(out)
    return out
