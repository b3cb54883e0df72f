"""Every VM case in tests/vmcases/ on the C VM's x86-64 JIT (vm_kernel/core/rmt_jit.c).

The same files and runner as tests/test_semantics_cases.py and
tests/test_cvm_cases.py (the interpreter): JIT code must give what the
reference semantics give, aborts, counters and errors included.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from casefile import load_case, run_case
from rmt.contract import objfile
from rmt.contract.isa import insn
from rmt.contract.objfile import Program
from rmt.contract.hooks import TEST_SANDBOX
from rmt.vm import CEngine, load_lib

CASES = sorted((Path(__file__).parent / "vmcases").glob("*.case"))

pytestmark = pytest.mark.skipif(not load_lib().lib.rmt_jit_supported(),
                                reason="this build of the C VM has no JIT (not x86-64)")


def jit_factory(obj: bytes, *, trace_capacity: int, seed: int) -> CEngine:
    eng = CEngine(obj, trace_capacity=trace_capacity, seed=seed, jit=True)
    assert eng.engine_kind == "jit", "the JIT refused a program the validator accepted"
    return eng


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    run_case(load_case(path), jit_factory)


def test_jit_flag_selects_the_engine() -> None:
    obj = objfile.write(Program("exit", TEST_SANDBOX, [insn("MOV_I", 1, imm=3),
                                                        insn("EXIT", src=1)], 0))
    assert CEngine(obj, jit=False).engine_kind == "interp"
    assert CEngine(obj, jit=True).engine_kind == "jit"
    assert CEngine(obj).engine_kind == "jit"          # on by default where supported
    ctx = bytes(TEST_SANDBOX.ctx_size)
    assert CEngine(obj, jit=True).run(ctx).decision == CEngine(obj, jit=False).run(ctx).decision
