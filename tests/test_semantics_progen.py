"""Random valid programs (tests/progen.py) on the reference engine: invariants hold."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from progen import HOOK, GenCase, gen_cases, seeded_case
from rmt.contract.hooks import Access
from rmt.semantics.reference import ReferenceEngine

_RW = [(HOOK.layout[f.name], HOOK.layout[f.name] + f.size)
       for f in HOOK.fields if f.access == Access.READ_WRITE]


def _writable(i: int) -> bool:
    return any(lo <= i < hi for lo, hi in _RW)


def check_invariants(case: GenCase) -> dict[str, int]:
    eng = ReferenceEngine(case.obj)          # a validator rejection is a generator bug
    case.setup(eng)
    seen = {"aborts": 0, "runs": 0}
    for ctx, cpu, now in case.ctxs:
        r = eng.run(ctx, cpu=cpu, now=now)
        seen["runs"] += 1
        assert r.decision == -1 or HOOK.decision.lo <= r.decision <= HOOK.decision.hi
        if r.abort:
            seen["aborts"] += 1
            assert r.decision == -1 and r.abort_pc >= 0
        assert len(r.ctx) == len(ctx)
        changed = [i for i in range(len(ctx)) if r.ctx[i] != ctx[i]]
        assert all(_writable(i) for i in changed), f"read-only ctx bytes changed: {changed}"
    st = eng.stats()
    assert st.runs == len(case.ctxs)
    assert sum(st.decisions.values()) == st.runs
    assert sum(st.aborts.values()) == seen["aborts"]
    for rec in eng.trace_drain():
        assert rec.fmt == 0 and len(rec.values) == 2
    return seen


def test_thousand_seeded_programs() -> None:
    """1000 programs: no Python exception, decisions in range, aborts give DEFAULT."""
    runs = aborts = 0
    for seed in range(1000):
        seen = check_invariants(seeded_case(seed))
        runs += seen["runs"]
        aborts += seen["aborts"]
    # The generator must exercise both outcomes, or it tests little.
    assert 0 < aborts < runs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gen_cases())
def test_hypothesis_programs(case: GenCase) -> None:
    check_invariants(case)
