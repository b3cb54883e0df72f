"""Trace records leave the C VM whole: values past `nvals` are zero, never the producer's stack
(rmt_vm_trace_drain() zeroes them, off the hook path).

Readers get whole `struct rmt_trace_rec`s (read() on /dev/rmt copies them to userspace), so a
record with fewer than RMT_MAX_TRACE_FIELDS values must not carry what an earlier call left in
the same stack slot.  The program traces 16 non-zero values, then one: without the zeroing the
second record's tail holds the first record's values (same function, same frame).
"""
from __future__ import annotations

import pytest

from rmt.compiler.asm import assemble
from rmt.contract.objfile import Program, TraceField, TraceFmt
from rmt.contract.objformat import LIMITS
from rmt.contract.hooks import HOOKS
from rmt.vm import CEngine

N = LIMITS["MAX_TRACE_FIELDS"]


def program() -> Program:
    stores = "\n".join(f"  mov r1, {0x1111 * (k + 1)}\n  st64 scratch[{8 * k}], r1"
                       for k in range(N))
    src = f"{stores}\n  trace 0, 0\n  mov r1, 7\n  st64 scratch[0], r1\n  trace 1, 0\n" \
          "  mov r0, 0\n  exit r0\n"
    return Program("tails", HOOKS["test.sandbox"], assemble(src), 8 * N,
                   traces=[TraceFmt("all", [TraceField(f"f{k}", 64, False) for k in range(N)]),
                           TraceFmt("one", [TraceField("x", 64, False)])])


@pytest.mark.parametrize("jit", [False, True])
def test_values_past_nvals_are_zero(jit: bool) -> None:
    eng = CEngine(program(), jit=jit)
    ctx = bytes(HOOKS["test.sandbox"].ctx_size)
    for _ in range(3):
        eng.run(ctx)
    out = eng.ffi.new("struct rmt_trace_rec[]", 8)
    n = eng.lib.rmt_vm_trace_drain(eng._vm, eng.id, out, 8)
    assert n == 6
    assert [r.fmt for r in out[0:n]] == [0, 1] * 3
    for r in out[0:n]:
        vals = list(r.vals[0:N])
        if r.fmt == 0:
            assert r.nvals == N and vals == [0x1111 * (k + 1) for k in range(N)]
        else:
            assert r.nvals == 1 and vals == [7] + [0] * (N - 1), vals
