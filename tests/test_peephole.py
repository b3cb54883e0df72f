"""compiler/peephole.py: each rewrite on hand-made IR, and no change in behaviour.

The behaviour test (tests/pass_equiv.py) runs every example compiled with and
without the pass on the reference semantics, with the same tables, weights
and contexts: everything observable must be equal.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rmt.compiler.ir import IrInsn, Label
from rmt.compiler.peephole import peephole
from pass_equiv import check_same_behaviour

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.rmt"))


def _ops(insns: list[IrInsn]) -> list[str]:
    return [f"{i.op} {i.imm}" if i.op != "LABEL" else "LABEL" for i in insns]


def test_identity_and_repeated_extensions_go() -> None:
    ir = [IrInsn("LDS32", 3, None, 64, 0), IrInsn("ZEXT", 3, imm=32),
          IrInsn("SHL_I", 3, imm=0), IrInsn("ZEXT", 3, imm=32), IrInsn("OR_R", 2, 3),
          IrInsn("EXIT", src=2)]
    assert _ops(peephole(ir)) == ["LDU32 0", "OR_R 0", "EXIT 0"]


def test_needed_extensions_stay() -> None:
    lab = Label("l")
    keep = [
        [IrInsn("LDS8", 1, None, 0, 0), IrInsn("ZEXT", 1, imm=32), IrInsn("EXIT", src=1)],
        [IrInsn("LDU32", 1, None, 0, 0), IrInsn("SEXT", 1, imm=32), IrInsn("EXIT", src=1)],
        [IrInsn("SHL_I", 1, imm=3), IrInsn("ZEXT", 1, imm=32), IrInsn("EXIT", src=1)],
        # another path reaches the second extension
        [IrInsn("ZEXT", 1, imm=16), IrInsn("LABEL", target=lab), IrInsn("ZEXT", 1, imm=16),
         IrInsn("EXIT", src=1)],
        # the register is read again after the store
        [IrInsn("SEXT", 1, imm=32), IrInsn("ST32", 1, None, 0, 0), IrInsn("EXIT", src=1)],
        # the store is wider than the extension
        [IrInsn("SEXT", 1, imm=32), IrInsn("ST64", 1, None, 0, 0), IrInsn("MOV_I", 1, imm=0),
         IrInsn("EXIT", src=1)],
    ]
    for ir in keep:
        assert _ops(peephole(ir)) == _ops(ir)


def test_extension_only_for_a_narrow_store_goes() -> None:
    ir = [IrInsn("MUL_I", 3, imm=256), IrInsn("SEXT", 3, imm=32),
          IrInsn("ST32", 3, None, 64, 0), IrInsn("LDS32", 3, None, 68, 0),
          IrInsn("EXIT", src=3)]
    assert _ops(peephole(ir)) == ["MUL_I 256", "ST32 0", "LDS32 0", "EXIT 0"]


@pytest.mark.parametrize("src", EXAMPLES, ids=lambda p: p.stem)
def test_same_behaviour(src, monkeypatch) -> None:
    before, after = check_same_behaviour(src.read_text(), str(src), "peephole", monkeypatch)
    assert after <= before
