"""ReferenceEngine's control plane and bookkeeping (the data path is in the case files)."""
from __future__ import annotations

import errno

import pytest

import engines

from rmt.compiler import asm
from rmt.contract import objfile
from rmt.contract.objfile import Map, Program
from rmt.contract.objformat import MapKind
from rmt.contract.hooks import TEST_SANDBOX
from rmt.contract.engine import EngineError, Entry, Exact
from rmt.semantics.reference import ReferenceEngine


def engine(text: str = "exit r0", **kw) -> ReferenceEngine:
    return ReferenceEngine(objfile.write(Program("p", TEST_SANDBOX, asm.assemble(text), 16, **kw)))


def code(fn) -> int:
    with pytest.raises(EngineError) as ei:
        fn()
    return ei.value.code


def test_missing_ids_are_enoent() -> None:
    e = engine()
    assert code(lambda: e.table_insert(0, Entry((Exact(1),), 0))) == errno.ENOENT
    assert code(lambda: e.table_entries(3)) == errno.ENOENT
    assert code(lambda: e.model_load(0, b"")) == errno.ENOENT
    assert code(lambda: e.map_read(0)) == errno.ENOENT


def test_ctx_size_checked() -> None:
    e = engine()
    assert code(lambda: e.run(b"\0" * 8)) == errno.EINVAL
    assert e.stats().runs == 0


def test_map_write_errors_and_percpu_read() -> None:
    e = engine(maps=[Map("a", MapKind.ARRAY, 32, 8, 2), Map("h", MapKind.HASH, 4, 16, 1),
                     Map("p", MapKind.COUNTER, 32, 64, 1, percpu=True)])
    assert code(lambda: e.map_write(0, 2, 1)) == errno.E2BIG
    assert code(lambda: e.map_write(0, 0, 256)) == errno.EINVAL
    assert code(lambda: e.map_write(1, 16, 1)) == errno.EINVAL
    e.map_write(1, 3, 9)
    assert code(lambda: e.map_write(1, 4, 1)) == errno.ENOSPC
    e.map_write(1, 3, 10)                      # a present key in a full map is fine
    assert e.map_read(0) == {0: 0, 1: 0}
    assert e.map_read(1) == {3: 10}


def test_percpu_sum_and_write() -> None:
    e = engine("mov r1, 0\nmov r2, 5\nmap_add map0, r1, r2\nexit r0",
               maps=[Map("p", MapKind.COUNTER, 32, 64, 1, percpu=True)])
    for cpu in (0, 1, 2, 2):
        e.run(bytes(TEST_SANDBOX.ctx_size), cpu=cpu)
    assert e.map_read(0) == {0: 20}
    e.map_write(0, 0, 3)
    e.run(bytes(TEST_SANDBOX.ctx_size), cpu=2)
    assert e.map_read(0) == {0: 8}


@pytest.mark.parametrize("cls", engines.available(), ids=lambda c: c.__name__)
def test_shadow_accounting(cls) -> None:
    e = cls(objfile.write(Program("p", TEST_SANDBOX, asm.assemble("exit r0"), 16)))
    e.shadow_account(1, 1)
    e.shadow_account(-1, 0)        # DEFAULT: no opinion, counted in neither
    e.shadow_account(-1, -1)
    e.shadow_account(0, 1)
    st = e.stats()
    assert (st.shadow_agree, st.shadow_disagree) == (1, 1)


def test_stats_is_a_snapshot() -> None:
    e = engine("mov r0, 7\nexit r0")
    st = e.stats()
    e.run(bytes(TEST_SANDBOX.ctx_size))
    assert st.runs == 0 and st.decisions == {}
    assert e.stats().decisions == {7: 1}


def test_program_object_accepted_directly() -> None:
    p = Program("p", TEST_SANDBOX, asm.assemble("mov r0, 3\nexit r0"), 0)
    assert ReferenceEngine(p).run(bytes(TEST_SANDBOX.ctx_size)).decision == 3
