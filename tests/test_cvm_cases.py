"""Every VM case in tests/vmcases/ on the C VM (vm_kernel/ through cffi).

The same files and the same runner as tests/test_semantics_cases.py: the C
interpreter must give what the reference semantics give, errors included.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from casefile import load_case, run_case
from rmt.vm import CEngine

CASES = sorted((Path(__file__).parent / "vmcases").glob("*.case"))


def c_factory(obj: bytes, *, trace_capacity: int, seed: int) -> CEngine:
    # the interpreter explicitly: tests/test_jit_cases.py runs the same files on the JIT
    return CEngine(obj, trace_capacity=trace_capacity, seed=seed, jit=False)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    run_case(load_case(path), c_factory)


def test_cases_exist() -> None:
    assert CASES, "tests/vmcases/ has no cases"
