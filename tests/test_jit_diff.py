"""Differential test of every execution engine on random programs.

The reference semantics (semantics.reference), the C interpreter, the C
VM's x86-64 JIT and the llvmlite backend each run the same random valid
programs from tests/progen.py (every opcode family, every region, tables, a
model, maps, trace, helpers, many run-time aborts); everything observable
must be identical: decision, abort reason and pc, the context after each
run, control-plane errors, table entries, hit and miss counters, map
contents, trace records and statistics.  1000 seeded programs per run plus
hypothesis-driven ones (which shrink a failure to a small program).
"""
from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings

from rmt.vm.llvm_engine import LlvmEngine
from progen import GenCase, gen_cases, seeded_case
from rmt.vm import CEngine, load_lib
from rmt.contract.engine import Engine, EngineError
from rmt.semantics.reference import ReferenceEngine

N_SEEDED = 1000

ENGINES: dict[str, Callable[[bytes], Engine]] = {
    "interp": lambda obj: CEngine(obj, jit=False),
    "llvm": LlvmEngine,
}
if load_lib().lib.rmt_jit_supported():
    ENGINES["jit"] = lambda obj: CEngine(obj, jit=True)


def _try(fn, *args):
    try:
        fn(*args)
        return None
    except EngineError as e:
        return e.code


def _listing(case: GenCase) -> str:
    from rmt.compiler.asm import disasm
    try:
        return disasm(case.program.code)
    except Exception:      # the listing is only for the failure message
        return repr(case.program.code)


def compare(case: GenCase) -> None:
    obj = case.obj
    ref = ReferenceEngine(obj)
    engines = {name: make(obj) for name, make in ENGINES.items()}
    for e in case.entries:
        want = _try(ref.table_insert, 0, e)
        for name, eng in engines.items():
            assert _try(eng.table_insert, 0, e) == want, (name, e)
    for m, k, v in case.map_values:
        want = _try(ref.map_write, m, k, v)
        for name, eng in engines.items():
            assert _try(eng.map_write, m, k, v) == want, name
    if case.weights is not None:
        want = _try(ref.model_load, 0, case.weights)
        for name, eng in engines.items():
            assert _try(eng.model_load, 0, case.weights) == want, name
    for i, (ctx, cpu, now) in enumerate(case.ctxs):
        a = ref.run(ctx, cpu=cpu, now=now)
        for name, eng in engines.items():
            b = eng.run(ctx, cpu=cpu, now=now)
            where = f"{name}, run {i} of\n{_listing(case)}"
            assert (b.decision, b.abort, b.abort_pc) == (a.decision, a.abort, a.abort_pc), where
            assert b.ctx == a.ctx, where
    trace = ref.trace_drain()
    for name, eng in engines.items():
        for t in range(len(case.program.tables)):
            assert eng.table_entries(t) == ref.table_entries(t), name
            assert eng.table_misses(t) == ref.table_misses(t), name
        for m in range(len(case.program.maps)):
            assert eng.map_read(m) == ref.map_read(m), (name, m)
        assert eng.trace_drain() == trace, name
        assert eng.stats() == ref.stats(), name


def test_engines_are_what_they_say() -> None:
    obj = seeded_case(0).obj
    kinds = {name: make(obj).engine_kind for name, make in ENGINES.items()}
    assert kinds["interp"] == "interp" and kinds["llvm"] == "native"
    assert kinds.get("jit", "jit") == "jit"


@pytest.mark.parametrize("chunk", range(10))
def test_seeded_programs_agree(chunk: int) -> None:
    for seed in range(chunk * N_SEEDED // 10, (chunk + 1) * N_SEEDED // 10):
        compare(seeded_case(seed))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(gen_cases())
def test_hypothesis_programs_agree(case: GenCase) -> None:
    compare(case)
