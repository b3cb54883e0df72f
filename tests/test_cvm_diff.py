"""Differential test: the C VM against the Python reference semantics.

Random valid programs from tests/progen.py (every opcode family, every
region, tables, a model, maps, trace, helpers, lots of run-time aborts) run
on semantics.reference.ReferenceEngine and on rmt_vm.CEngine; everything
observable must be equal: decision, abort reason and pc, the context after
the run, control-plane errors, table entries with hit counts and misses, map
contents, trace records and the statistics.  1000 seeded programs per run
plus hypothesis-driven ones (which shrink a failure to a small program).
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from progen import GenCase, gen_cases, seeded_case
from rmt.vm import CEngine
from rmt.contract.engine import EngineError
from rmt.semantics.reference import ReferenceEngine

N_SEEDED = 1000


def _try(fn, *args):
    try:
        fn(*args)
        return None
    except EngineError as e:
        return e.code


def compare(case: GenCase) -> None:
    obj = case.obj
    ref, c = ReferenceEngine(obj), CEngine(obj)
    for e in case.entries:
        assert _try(ref.table_insert, 0, e) == _try(c.table_insert, 0, e), e
    for m, k, v in case.map_values:
        assert _try(ref.map_write, m, k, v) == _try(c.map_write, m, k, v)
    if case.weights is not None:
        assert _try(ref.model_load, 0, case.weights) == _try(c.model_load, 0, case.weights)
    for i, (ctx, cpu, now) in enumerate(case.ctxs):
        a, b = ref.run(ctx, cpu=cpu, now=now), c.run(ctx, cpu=cpu, now=now)
        where = f"run {i} of\n{_listing(case)}"
        assert (b.decision, b.abort, b.abort_pc) == (a.decision, a.abort, a.abort_pc), where
        assert b.ctx == a.ctx, where
    for t in range(len(case.program.tables)):
        assert c.table_entries(t) == ref.table_entries(t)
        assert c.table_misses(t) == ref.table_misses(t)
    for m in range(len(case.program.maps)):
        assert c.map_read(m) == ref.map_read(m), f"map {m}"
    assert c.trace_drain() == ref.trace_drain()
    assert c.stats() == ref.stats()


def _listing(case: GenCase) -> str:
    from rmt.compiler.asm import disasm
    try:
        return disasm(case.program.code)
    except Exception:      # the listing is only for the failure message
        return repr(case.program.code)


def test_seeded_programs_agree():
    for seed in range(N_SEEDED):
        compare(seeded_case(seed))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(gen_cases())
def test_hypothesis_programs_agree(case: GenCase):
    compare(case)
