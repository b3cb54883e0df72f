"""The C VM's allocation counters and fault injector (vm_kernel/core/rmt_alloc.h).

Every allocation the VM makes goes through rmt_alloc.c, which counts the live
ones and can fail the n-th one.  These are process-wide (every CEngine in the
process shares them), the userspace counterpart of rmt.ko's
/sys/module/rmt/parameters/{alloc_live,alloc_total,alloc_failed,fail_alloc_nth}.
Tests use them to prove that every failure path of a control-plane operation
returns ENOMEM, changes nothing, and leaks nothing.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from rmt.vm.lib import load_lib


@dataclass(frozen=True)
class AllocStats:
    """A snapshot of the counters (fields read one after the other)."""
    live: int           # allocations not yet freed
    total: int          # successful allocations so far
    failed: int         # allocations failed by injection so far
    fail_pending: int   # allocations left before the armed failure; 0: disarmed or fired


def alloc_stats(sanitize: bool | None = None) -> AllocStats:
    """The counters now."""
    m = load_lib(sanitize)
    out = m.ffi.new("struct rmt_alloc_stats *")
    m.lib.rmt_alloc_get_stats(out)
    return AllocStats(out.live, out.total, out.failed, out.fail_pending)


def fail_nth(n: int, every: bool = False, sanitize: bool | None = None) -> None:
    """Fail the n-th allocation from now (1: the next); with `every`, that one
    and all later ones until disarmed.  n = 0 disarms."""
    if n < 0:
        raise ValueError(f"fail_nth: n must be >= 0, not {n}")
    load_lib(sanitize).lib.rmt_alloc_fail_nth(n, every)


@contextmanager
def failing_nth(n: int, every: bool = False,
                sanitize: bool | None = None) -> Iterator[None]:
    """Armed for the body, disarmed after it whatever happens (so a failing
    test cannot leave the rest of the process failing allocations)."""
    fail_nth(n, every, sanitize)
    try:
        yield
    finally:
        fail_nth(0, False, sanitize)
