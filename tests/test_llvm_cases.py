"""Every VM case in tests/vmcases/ on the llvmlite backend (rmt_vm/llvm_engine.py).

The same files and runner as the reference, interpreter and JIT case tests:
LLVM-compiled code must give what the reference semantics give.  A second
pass compiles each case with the verifier's proofs (trust_verifier=True): a
case whose check the verifier proved never fires must still agree, and one
whose check fires cannot have had it proved.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from casefile import load_case, run_case
from rmt.contract.isa import insn
from rmt.vm.llvm_engine import LlvmEngine
from rmt.vm.llvm_jit import program_ir
from rmt.contract.objfile import Program
from rmt.contract.hooks import TEST_SANDBOX

CASES = sorted((Path(__file__).parent / "vmcases").glob("*.case"))


def llvm_factory(obj: bytes, *, trace_capacity: int, seed: int) -> LlvmEngine:
    eng = LlvmEngine(obj, trace_capacity=trace_capacity, seed=seed)
    assert eng.engine_kind == "native"
    return eng


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    run_case(load_case(path), llvm_factory)


def test_ir_keeps_every_check_unless_proven() -> None:
    """The IR has one abort exit per run-time check, and none for a proven pc."""
    code = [insn("MOV_I", 1, imm=3), insn("MOV_I", 2, imm=0), insn("DIV_R", 1, 2),
            insn("SHL_R", 1, 2), insn("EXIT", src=1)]
    prog = Program("chk", TEST_SANDBOX, code, 0)
    assert program_ir(prog).count("ret i64 -1") == 2
    assert program_ir(prog, frozenset({2})).count("ret i64 -1") == 1
    assert program_ir(prog, frozenset({2, 3})).count("ret i64 -1") == 0
