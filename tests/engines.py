"""The engines a program-level test runs on: the Python reference, and the C VM when it builds.

Tests that take an engine class parametrize over `available()`; the C VM is
left out (not failed) only where its library cannot be built, which the C VM's
own tests report.
"""
from __future__ import annotations

from rmt.semantics.reference import ReferenceEngine


def available() -> list[type]:
    out: list[type] = [ReferenceEngine]
    try:
        from rmt.vm import CEngine
        out.append(CEngine)
    except ImportError:
        pass
    return out
