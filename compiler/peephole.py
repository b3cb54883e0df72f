"""Peephole clean-up of redundant extensions and identity ALU ops, before emission.

Lowering canonicalises every value to its type after each operation (a SEXT
or ZEXT to the type's width), which leaves extensions nothing needs:

- an ALU op with an identity immediate (SHL/SHR/SAR/ADD/SUB/OR/XOR by 0,
  MUL/DIV by 1) changes nothing: dropped;
- an extension of a value the previous instruction already extended, or
  loaded, to that width or narrower, changes nothing: dropped
  (LDU32 + ZEXT 32, LDS16 + SEXT 32, ZEXT 32 + ZEXT 32, ...);
- a signed load zero-extended at its own width is the unsigned load:
  LDS32 + ZEXT 32 becomes LDU32 (and the same for 8 and 16 bits);
- an extension to k bits whose register is then only stored with a width of
  k bits or less and redefined before any other use in the same block is
  dropped: the store keeps the low bits the extension did not touch.

Only adjacent instructions with no label between them are combined, so no
other path can reach the second one; every rewrite leaves every register and
memory byte a later instruction reads unchanged.  Works on the allocated IR
(physical registers), before compiler/jumpthread.py and compiler/emit.py.
"""
from __future__ import annotations

from rmt.compiler.ir import IrInsn
from rmt.contract.isa import LOAD_SIZE, LOAD_SIGNED

_IDENTITY = {"SHL_I": 0, "SHR_I": 0, "SAR_I": 0, "ADD_I": 0, "SUB_I": 0, "OR_I": 0,
             "XOR_I": 0, "MUL_I": 1, "DIV_I": 1, "SDIV_I": 1}
_EXT = ("ZEXT", "SEXT")
_STORES = {"ST8": 8, "ST16": 16, "ST32": 32, "ST64": 64}
_UNSIGNED_LOAD = {"LDS8": "LDU8", "LDS16": "LDU16", "LDS32": "LDU32"}


def _width_of(prev: IrInsn, reg: int) -> tuple[int, bool] | None:
    """(bits, signed) that @prev leaves register @reg extended from, if it sets it."""
    if prev.op in _EXT and prev.dst == reg:
        return prev.imm, prev.op == "SEXT"
    if prev.op in LOAD_SIZE and not prev.op.startswith("ST") and prev.dst == reg:
        bits = 8 * LOAD_SIZE[prev.op]
        if bits < 64:
            return bits, prev.op in LOAD_SIGNED
    return None


def _redundant_ext(prev: IrInsn, ins: IrInsn) -> bool:
    """Is extension @ins a no-op after @prev?"""
    w = _width_of(prev, ins.dst)
    if w is None:
        return False
    bits, signed = w
    if ins.op == "ZEXT":
        return not signed and bits <= ins.imm
    return bits < ins.imm if not signed else bits <= ins.imm


def _dead_after_store(insns: list[IrInsn], i: int) -> bool:
    """Is the extension insns[i] needed only by the narrow store right after it?"""
    ext, st = insns[i], insns[i + 1] if i + 1 < len(insns) else None
    if st is None or st.op not in _STORES or st.dst != ext.dst or st.src == ext.dst:
        return False
    if _STORES[st.op] > ext.imm:
        return False
    for ins in insns[i + 2:]:
        if ins.op == "LABEL" or ins.target is not None or ins.op == "EXIT":
            return False
        if ext.dst in ins.uses():
            return False
        if ext.dst in ins.defs():
            return True
    return False


def peephole(insns: list[IrInsn]) -> list[IrInsn]:
    """The IR with identity ops and redundant extensions removed."""
    out: list[IrInsn] = []
    for i, ins in enumerate(insns):
        if ins.op in _IDENTITY and ins.imm == _IDENTITY[ins.op]:
            continue
        prev = out[-1] if out else None
        if ins.op in _EXT and prev is not None and prev.op != "LABEL":
            if _redundant_ext(prev, ins):
                continue
            if (ins.op == "ZEXT" and prev.op in _UNSIGNED_LOAD and prev.dst == ins.dst
                    and 8 * LOAD_SIZE[prev.op] == ins.imm):
                out[-1] = IrInsn(_UNSIGNED_LOAD[prev.op], prev.dst, prev.src, prev.off,
                                 prev.imm, prev.target, prev.span)
                continue
        if ins.op in _EXT and _dead_after_store(insns, i):
            continue
        out.append(ins)
    return out
