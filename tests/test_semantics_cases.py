"""Every VM case in tests/vmcases/ on the Python reference engine."""
from __future__ import annotations

from pathlib import Path

import pytest

from casefile import load_case, run_case
from rmt.semantics.reference import ReferenceEngine

CASES = sorted((Path(__file__).parent / "vmcases").glob("*.case"))


def reference_factory(obj: bytes, *, trace_capacity: int, seed: int) -> ReferenceEngine:
    return ReferenceEngine(obj, trace_capacity=trace_capacity, seed=seed)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    run_case(load_case(path), reference_factory)


def test_enough_cases() -> None:
    """The suite is meant to cover every opcode, region, match kind, map kind and check."""
    assert len(CASES) >= 60
