"""validate.py: rejections the case files cannot express, and coverage of CHECKS."""
from __future__ import annotations

import dataclasses
import errno
import re
from pathlib import Path

import pytest

from rmt.compiler import asm
from rmt.contract.objfile import Key, Program, Table, Action
from rmt.contract.objformat import MatchKind
from rmt.contract.hooks import TEST_SANDBOX
from rmt.contract.engine import EngineError
from rmt.semantics.reference import ReferenceEngine
from rmt.semantics.validate import CHECKS, validate

CASES = Path(__file__).parent / "vmcases"


def prog(text: str, hook=TEST_SANDBOX, **kw) -> Program:
    return Program("p", hook, asm.assemble(text), kw.pop("scratch", 64), **kw)


def reason(p: Program) -> str:
    with pytest.raises(EngineError) as ei:
        validate(p)
    assert ei.value.code == errno.EINVAL
    return str(ei.value)


def test_helper_not_allowed_at_hook() -> None:
    hook = dataclasses.replace(TEST_SANDBOX, helpers=("cpu",))
    assert "helper not allowed: random" in reason(prog("mov r1, 3\ncall r2, random, r1\nexit r2",
                                                       hook=hook))
    validate(prog("call r2, cpu\nexit r2", hook=hook))


def test_second_lpm_key_rejected() -> None:
    t = Table("two", [Key("a", MatchKind.LPM, 8), Key("b", MatchKind.LPM, 8)], [Action("x")], 4)
    assert reason(prog("exit r0", tables=[t])).startswith("table two: lpm keys")


def test_program_size() -> None:
    assert "program size" in reason(Program("p", TEST_SANDBOX, [], 8))
    assert "program size" in reason(prog("exit r0", scratch=8192))


def test_messages_name_the_pc() -> None:
    assert reason(prog("mov r0, 0\nmov r1, 0\nshl r1, 70\nexit r0")).startswith("pc 2: bad shift")


def test_first_failure_in_pc_order_and_exit_checked_last() -> None:
    msg = reason(prog("shl r1, 70\nldu32 r1, ctx[88]\nmov r0, 0"))
    assert msg.startswith("pc 0: bad shift")


def test_valid_edges_accepted() -> None:
    validate(prog("""
        ldu32 r1, ctx[92]          ; rw field readable
        st32 ctx[108], r1          ; last element of outs
        ldu16 r2, ctx[36 + r1, 32] ; indexed inside arr
        ld64 r3, scratch[56]
        ldu8 r4, scratch[0 + r1, 64]
        shl r1, 63
        sdiv r1, -1
        ja +0
        exit r0"""))


def test_bytes_go_through_the_object_reader() -> None:
    with pytest.raises(EngineError) as ei:
        ReferenceEngine(b"RMTB" + b"\0" * 28)
    assert ei.value.code == errno.EINVAL and ei.value.args[0].startswith("object:")


def test_every_check_is_exercised() -> None:
    """Each reason keyword has a case file or a test here, so the C side inherits them all."""
    used = set()
    for path in CASES.glob("*.case"):
        m = re.search(r"^-- error\n(E\w+): (.+)$", path.read_text(), re.M)
        if m:
            used.add(m.group(2).strip())
    used |= {"helper not allowed", "lpm keys", "program size"}     # tested above
    assert set(CHECKS) <= used, sorted(set(CHECKS) - used)
