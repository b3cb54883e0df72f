"""A table batch in the C VM (rmt_vm_table_batch, the code behind RMT_IOC_TABLE_BATCH):
every update or none, hit counters kept across the swap."""
from __future__ import annotations

import errno

import pytest

from rmt.contract import codec
from rmt.contract.engine import Entry, Exact, Range
from rmt.vm.engine import CEngine
from rmt.vm.wire import TABLE_DELETE, TABLE_INSERT, TABLE_MODIFY, BatchError
from test_rmtctl_sim import program


def entry(a: int, lo: int, hi: int, v: int, priority: int = 1) -> Entry:
    return Entry((Exact(a), Range(lo, hi)), 0, v.to_bytes(4, "little"), priority)


def state(eng: CEngine) -> list[tuple]:
    """(a, lo, hi, v, priority, hits) per entry, in insertion order."""
    return [(s.entry.match[0].value, s.entry.match[1].lo, s.entry.match[1].hi,
             int.from_bytes(s.entry.params[:4], "little"), s.entry.priority, s.hits)
            for s in eng.table_entries(0)]


@pytest.fixture
def eng() -> CEngine:
    e = CEngine(program())
    e.table_insert(0, entry(5, 10, 20, 42))
    e.table_insert(0, entry(6, 0, 9, 7))
    prog = e.prog
    for a, b in ((5, 15), (5, 15), (6, 3), (9, 9)):           # 3 hits, 1 miss
        e.run(codec.ctx_encode(prog.hook, {"a": a, "b": b}))
    return e


def test_a_refused_update_leaves_the_table_unchanged(eng):
    before, misses = state(eng), eng.table_misses(0)
    ops = [(TABLE_INSERT, entry(7, 1, 2, 1)), (TABLE_MODIFY, entry(5, 10, 20, 99)),
           (TABLE_DELETE, entry(6, 0, 9, 0)),
           (TABLE_INSERT, entry(5, 10, 20, 3))]                   # a duplicate: refused
    with pytest.raises(BatchError) as ei:
        eng.table_batch(0, ops)
    assert ei.value.code == errno.EEXIST and ei.value.index == 3
    assert state(eng) == before and eng.table_misses(0) == misses
    run = eng.run(codec.ctx_encode(eng.prog.hook, {"a": 5, "b": 15}))
    assert run.decision == 42                                   # the modify never landed


def test_a_full_table_refuses_the_whole_batch(eng):
    before = state(eng)
    ops = [(TABLE_INSERT, entry(100 + i, 0, 1, i)) for i in range(15)]   # 2 + 15 > 16
    with pytest.raises(BatchError) as ei:
        eng.table_batch(0, ops)
    assert ei.value.code == errno.ENOSPC and ei.value.index == 14
    assert state(eng) == before


def test_an_accepted_batch_applies_in_order_and_keeps_hits(eng):
    misses = eng.table_misses(0)
    eng.table_batch(0, [(TABLE_INSERT, entry(7, 1, 2, 1)),
                        (TABLE_MODIFY, entry(5, 10, 20, 99)),
                        (TABLE_DELETE, entry(6, 0, 9, 0)),
                        (TABLE_INSERT, entry(6, 0, 9, 8))])         # re-added: new, 0 hits
    got = state(eng)
    assert got == [(5, 10, 20, 99, 1, 2), (7, 1, 2, 1, 1, 0), (6, 0, 9, 8, 1, 0)]
    assert eng.table_misses(0) == misses
    assert eng.run(codec.ctx_encode(eng.prog.hook, {"a": 5, "b": 15})).decision == 99
    assert state(eng)[0][-1] == 3
    eng.table_batch(0, [])                                         # an empty batch is a no-op
    assert state(eng)[0][-1] == 3
