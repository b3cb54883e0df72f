"""The trace ring's peek/ack protocol in the C VM (rmt_vm_trace_peek / rmt_vm_trace_ack, the
code behind RMT_IOC_TRACE_PEEK / RMT_IOC_TRACE_ACK): records stay in the ring until they are
acknowledged, keep their slots from producers, and a stale acknowledgement takes nothing."""
from __future__ import annotations

import errno

import pytest

from rmt.contract import codec
from rmt.contract.engine import EngineError, Entry, Exact, Range
from rmt.vm.engine import CEngine
from test_rmtctl_sim import program


def run(eng: CEngine, b: int) -> None:
    eng.run(codec.ctx_encode(eng.prog.hook, {"a": 5, "b": b}))   # traces b when it hits


@pytest.fixture
def eng() -> CEngine:
    e = CEngine(program(), trace_capacity=4)
    e.table_insert(0, Entry((Exact(5), Range(0, 1000)), 0, (1).to_bytes(4, "little")))
    return e


def bs(recs) -> list[int]:
    return [r.values[0] for r in recs]


def test_peek_takes_nothing_and_ack_takes_what_was_peeked(eng):
    for b in (10, 11, 12):
        run(eng, b)
    pos, recs = eng.trace_peek()
    assert bs(recs) == [10, 11, 12]
    assert bs(eng.trace_peek()[1]) == [10, 11, 12]          # still there: not taken
    run(eng, 13)                                              # a record after the peek
    eng.trace_ack(pos, len(recs))
    pos2, rest = eng.trace_peek()
    assert bs(rest) == [13] and pos2 == pos + 3               # only the peeked ones went


def test_unacknowledged_records_keep_their_slots(eng):
    for b in range(10, 16):                                   # 6 records, capacity 4
        run(eng, b)
    pos, recs = eng.trace_peek()
    assert bs(recs) == [10, 11, 12, 13]                       # the newest were dropped,
    assert eng.stats().trace_drops == 2                       # the peeked ones kept
    eng.trace_ack(pos, 4)
    run(eng, 20)
    assert bs(eng.trace_peek()[1]) == [20]


def test_a_stale_or_excess_ack_takes_nothing(eng):
    for b in (10, 11):
        run(eng, b)
    pos, recs = eng.trace_peek()
    assert len(eng.trace_drain()) == 2                         # another reader took them
    run(eng, 12)
    with pytest.raises(EngineError) as ei:
        eng.trace_ack(pos, 2)
    assert ei.value.code == errno.ESTALE
    pos, recs = eng.trace_peek()
    assert bs(recs) == [12]
    with pytest.raises(EngineError) as ei:
        eng.trace_ack(pos, 2)                                  # more than the ring holds
    assert ei.value.code == errno.EINVAL
    assert bs(eng.trace_peek()[1]) == [12]
