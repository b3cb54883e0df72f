"""Every allocation failure of a control-plane operation leaves the C VM as it was.

Issue 9 (hardening).  The VM allocates only through vm_kernel/core/rmt_alloc.c, which
counts live allocations and can fail the n-th one (rmt_vm/alloc.py).  For each
control-plane operation (program load, with and without the JIT; table insert,
modify and delete on every table kind; model weight load; map write; trace
drain; unload) the sweep fails allocation n = 1, 2, ... until the operation
runs with no injected failure.  Each failed run must

  - raise ENOMEM with a message that says so,
  - leave the state exactly as before: table dumps (entries and hit counts),
    map contents, the loaded programs, and the behaviour (decisions, model
    outputs and which entries match, seen through trace records),
  - leak nothing (the live-allocation counter is back where it was).

And after everything is unloaded the live counter is back to its baseline.
The sweep count (allocations per operation) is printed with -s.

The program below has one table per lookup structure (exact: hash chains; lpm:
tries in groups; ternary: tuples; range: search trees), a model with a hidden
layer, a hash, an array and a per-CPU map, and traces.  Contexts used to probe
behaviour match seeded entries, so a failed update that broke a lookup
structure (not only the insertion list the dump walks) is caught.
"""
from __future__ import annotations

import errno
import gc
from typing import Callable, Iterator

import pytest

from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.vm import CEngine, load_lib
from rmt.vm.alloc import alloc_stats, fail_nth, failing_nth
from rmt.contract import codec
from rmt.contract.engine import EngineError, Entry, Exact, Lpm, Range, Ternary

from alloc_program import EX, HOOK, LP, PROBES, RA, SEED, SOURCE, TE, tag, weights

MAX_SWEEP = 1000          # far above any operation's allocation count


@pytest.fixture(scope="module")
def obj() -> bytes:
    return objfile.write(compile_source(SOURCE, "alloc_faults.rmt"))


@pytest.fixture(autouse=True)
def quiet_gc() -> Iterator[None]:
    """The live counter is process-wide: no engine of another test may be
    collected (and freed) while one of these tests compares it."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        fail_nth(0)
        gc.enable()


def live() -> int:
    return alloc_stats().live


def seeded(obj: bytes, jit: bool | None = None) -> CEngine:
    eng = CEngine(obj, jit=jit)
    for t, entries in SEED.items():
        for e in entries:
            eng.table_insert(t, e)
    eng.model_load(0, weights(2))
    eng.map_write(0, 7, 70)
    eng.map_write(1, 3, 33)
    behaviour(eng)          # hits and counters are nonzero from here on
    return eng


def snapshot(eng: CEngine) -> tuple:
    """Everything a control-plane reader sees, without running the program."""
    tables = tuple((tuple(eng.table_entries(t)), eng.table_misses(t)) for t in range(4))
    maps = tuple(tuple(eng.map_read(m).items()) for m in range(3))
    return tables, maps


def behaviour(eng: CEngine) -> list:
    """Decisions, model outputs and matched entries (trace records) on the probes."""
    out = []
    for p in PROBES:
        r = eng.run(codec.ctx_encode(HOOK, p))
        recs = [(t.fmt, t.values) for t in eng.trace_drain()]
        out.append((r.decision, r.abort, recs))
    return out


def sweep(make: Callable[[], CEngine], op: Callable[[CEngine], object], what: str,
          absorbable: bool = False) -> int:
    """Fail allocation n = 1, 2, ... of `op` until it runs with no injected
    failure; each n on a fresh engine from `make()` (so every failure point is
    reached from the same state).  After a failure (see the module docstring)
    the operation is retried without faults and must give exactly what it gives
    on an engine that never saw a fault: a failure leaves nothing half done for
    the retry to trip on.  `absorbable`: the operation may succeed in spite of
    an injected failure (it has a fallback); its result must then be the
    fault-free one.  Every engine is destroyed with no allocation left over.
    Returns the number of allocations `op` made (the failures injected)."""
    base = live()

    def reference(probe_first: bool) -> tuple:
        eng = make()
        if probe_first:
            behaviour(eng)
        got = op(eng)
        out = (got, snapshot(eng), behaviour(eng))
        eng.close()
        return out

    clean, retried = reference(False), reference(True)
    eng = make()
    state0, beh0 = snapshot(eng), behaviour(eng)
    eng.close()
    absorbed = 0
    for n in range(1, MAX_SWEEP):
        eng = make()
        before = alloc_stats()
        with failing_nth(n):
            try:
                got, err = op(eng), None
            except EngineError as e:
                got, err = None, e
        after = alloc_stats()
        injected = after.failed - before.failed
        if err is None:
            assert injected == 0 or absorbable, (
                f"{what}: allocation {n} failed but the operation succeeded")
            assert (got, snapshot(eng), behaviour(eng)) == clean, (
                f"{what}: allocation {n} failed and was absorbed, with another result")
            absorbed += injected
        else:
            assert injected == 1, f"{what}: failed with {err} but no allocation was failed"
            assert err.code == errno.ENOMEM, f"{what}, allocation {n} failed: {err}"
            assert "memory" in str(err), f"{what}, allocation {n}: message {str(err)!r}"
            assert after.live == before.live, (
                f"{what}, allocation {n}: {after.live - before.live} allocations leaked")
            assert snapshot(eng) == state0, f"{what}, allocation {n}: the state changed"
            assert behaviour(eng) == beh0, f"{what}, allocation {n}: the behaviour changed"
            assert (op(eng), snapshot(eng), behaviour(eng)) == retried, (
                f"{what}, allocation {n}: the retry without faults gave another result")
        eng.close()
        assert live() == base, f"{what}, allocation {n}: the engine leaked"
        if not injected:
            print(f"{what}: {n - 1} allocations" + (", each failed once" if n > 1 else "")
                  + (f" ({absorbed} failure absorbed)" if absorbed else ""))
            return n - 1
    raise AssertionError(f"{what}: still failing after {MAX_SWEEP} allocations")


# ---------------------------------------------------------------- tables

TABLE_OPS = {
    # (table, op, entry): inserts that need new structure, modifies, deletes
    "exact insert": (EX, "insert", Entry((Exact(5),), 0, tag(105))),
    "exact modify": (EX, "modify", Entry((Exact(17),), 0, tag(117))),
    "exact delete": (EX, "delete", Entry((Exact(1),), 0)),
    "lpm insert (new branch)": (LP, "insert", Entry((Lpm(0x0A00, 7),), 0, tag(205))),
    "lpm insert (split node)": (LP, "insert", Entry((Lpm(0x0844, 14),), 0, tag(206))),
    "lpm modify": (LP, "modify", Entry((Lpm(0x0840, 10),), 0, tag(212))),
    "lpm delete": (LP, "delete", Entry((Lpm(0x0840, 10),), 0)),
    "ternary insert (new mask)": (TE, "insert", Entry((Ternary(0x40, 0x40), Exact(1)), 0,
                                                      tag(304), 9)),
    "ternary insert (same mask)": (TE, "insert", Entry((Ternary(0x0, 0x1), Exact(1)), 0,
                                                       tag(305), 2)),
    "ternary modify": (TE, "modify", Entry((Ternary(0x10, 0xF0), Exact(1)), 0, tag(312), 7)),
    "ternary delete": (TE, "delete", Entry((Ternary(0x1, 0x1), Exact(1)), 0, b"", 5)),
    "range insert": (RA, "insert", Entry((Range(12, 150),), 0, tag(404), 6)),
    "range insert (disjoint)": (RA, "insert", Entry((Range(50, 70),), 0, tag(405), 2)),
    "range modify": (RA, "modify", Entry((Range(15, 40),), 0, tag(412), 4)),
    "range delete": (RA, "delete", Entry((Range(10, 20),), 0, b"", 3)),
}


@pytest.mark.parametrize("name", sorted(TABLE_OPS))
def test_table_update_failures(obj: bytes, name: str) -> None:
    table, kind, entry = TABLE_OPS[name]
    base = live()

    def op(eng: CEngine) -> None:
        if kind == "insert":
            eng.table_insert(table, entry)
        elif kind == "modify":
            eng.table_modify(table, entry)
        else:
            eng.table_delete(table, entry.match, entry.priority)

    # Deletes cannot fail: a ternary/range delete whose re-sort cannot be
    # allocated keeps the old (still correct) probe order (rmt_delete_prio).
    n = sweep(lambda: seeded(obj), op, name, absorbable=kind == "delete")
    eng = seeded(obj)
    before = [s.entry for s in eng.table_entries(table)]
    op(eng)
    now = [s.entry for s in eng.table_entries(table)]
    eng.close()
    # The dump pads parameters to the table's parameter size.
    entry = Entry(entry.match, entry.action, entry.params.ljust(len(now[0].params), b"\0"),
                  entry.priority)
    if kind == "insert":
        assert now == before + [entry] and n > 0, "an insert allocates its entry"
    elif kind == "modify":
        assert len(now) == len(before) and entry in now and n > 0
    else:
        assert (entry.match, entry.priority) not in [(e.match, e.priority) for e in now]
        assert len(now) == len(before) - 1
    assert live() == base, "allocations leaked by the table operations"


def test_model_load_failures(obj: bytes) -> None:
    """Failed loads keep the old weights and do not use up a version number
    (the retry in sweep() returns the same version as a fault-free load)."""
    base = live()
    n = sweep(lambda: seeded(obj), lambda eng: eng.model_load(0, weights(5)), "model load")
    assert n > 0, "a model load allocates its arena: the sweep must have failed it"
    eng = seeded(obj)
    before = behaviour(eng)
    v = eng.model_load(0, weights(5))
    assert behaviour(eng) != before, "the new weights give other outputs"
    assert eng.model_load(0, weights(2)) == v + 1
    eng.close()
    assert live() == base


@pytest.mark.parametrize("map_id,key", [(0, 9), (0, 7), (1, 5), (2, 0)])
def test_map_write_failures(obj: bytes, map_id: int, key: int) -> None:
    base = live()

    def op(eng: CEngine) -> None:
        eng.map_write(map_id, key, 1234)
        assert eng.map_read(map_id)[key] == 1234

    sweep(lambda: seeded(obj), op, f"map {map_id} write")
    assert live() == base


def test_trace_drain_and_run_do_not_allocate(obj: bytes) -> None:
    """The hook path and the trace ring work in memory allocated at load."""
    eng = seeded(obj)
    stats = alloc_stats()
    with failing_nth(1, every=True):
        got = behaviour(eng)
        assert eng.trace_drain() == []
    assert alloc_stats().failed == stats.failed and alloc_stats().total == stats.total
    assert got == behaviour(eng)
    eng.close()


# ---------------------------------------------------------------- program load / unload

class Vm:
    """A bare C VM driven through the cffi library (the program list is state here)."""

    def __init__(self) -> None:
        self.m = load_lib()
        self.ffi, self.lib = self.m.ffi, self.m.lib
        self.vm = self.lib.rmt_vm_create()
        assert self.vm != self.ffi.NULL

    def load(self, obj: bytes, jit: bool) -> int:
        opts = self.ffi.new("struct rmt_load_opts *")
        opts.trace_capacity = 256
        opts.flags = self.lib.RMT_LOAD_JIT if jit else 0
        err = self.ffi.new("char[]", 512)
        rc = self.lib.rmt_vm_load(self.vm, obj, len(obj), opts, err, 512)
        if rc < 0:
            raise EngineError(-rc, self.ffi.string(err).decode())
        return rc

    def progs(self) -> list[tuple[int, int]]:
        """(id, engine) of every loaded program."""
        out = []
        for pid in range(1, 65):
            rc = self.lib.rmt_vm_prog_engine(self.vm, pid)
            if rc >= 0:
                out.append((pid, rc))
        return out

    def run(self, pid: int) -> list[int]:
        res = self.ffi.new("struct rmt_run_result *")
        out = []
        for p in PROBES:
            ctx = codec.ctx_encode(HOOK, p)
            buf = self.ffi.new("uint8_t[]", ctx)
            assert self.lib.rmt_vm_run(self.vm, pid, buf, len(ctx), 0, 0, res) == 0
            out.append(res.decision)
        return out

    def destroy(self) -> None:
        self.lib.rmt_vm_destroy(self.vm)


@pytest.mark.parametrize("jit", [False, True], ids=["interp", "jit"])
def test_program_load_failures(obj: bytes, jit: bool) -> None:
    """Loading a second program: every failure leaves the first one (and the
    program list) as it was; unload frees exactly what load allocated."""
    base = live()
    vm = Vm()
    first = vm.load(obj, jit=False)
    first_runs = vm.run(first)
    live_one = live()
    fallbacks = 0
    for n in range(1, MAX_SWEEP):
        progs, before = vm.progs(), alloc_stats()
        with failing_nth(n):
            try:
                pid, err = vm.load(obj, jit), None
            except EngineError as e:
                pid, err = None, e
        after = alloc_stats()
        injected = after.failed - before.failed
        if err is None and injected and jit:
            # The JIT's own allocations failing is not an error: the program
            # runs on the interpreter (rmt_inst_create: "No JIT ...").
            assert dict(vm.progs())[pid] == 0, "a failed JIT must leave the interpreter"
            assert vm.run(pid) == first_runs
            assert vm.lib.rmt_vm_unload(vm.vm, pid) == 0
            assert live() == live_one, f"JIT fallback at allocation {n} leaked"
            fallbacks += 1
            continue
        if err is None:
            assert injected == 0
            break
        assert injected == 1 and err.code == errno.ENOMEM, f"allocation {n}: {err}"
        assert "memory" in str(err), str(err)
        assert after.live == before.live == live_one, f"allocation {n}: load leaked"
        assert vm.progs() == progs and vm.run(first) == first_runs
    else:
        raise AssertionError("the load never succeeded")
    print(f"program load ({'jit' if jit else 'interp'}): {n - 1} allocations, "
          f"{fallbacks} of them JIT-only (fall back to the interpreter)")
    assert dict(vm.progs())[pid] == (1 if jit and vm.lib.rmt_jit_supported() else 0)
    assert fallbacks == (4 + 1 if jit and vm.lib.rmt_jit_supported() else 0)
    assert vm.run(pid) == first_runs
    # Unload allocates nothing and frees everything the load allocated.
    with failing_nth(1, every=True):
        assert vm.lib.rmt_vm_unload(vm.vm, pid) == 0
    assert live() == live_one
    vm.destroy()
    assert live() == base


def test_vm_create_failure_and_unload_all(obj: bytes) -> None:
    base = live()
    m = load_lib()
    with failing_nth(1):
        assert m.lib.rmt_vm_create() == m.ffi.NULL
    assert live() == base and alloc_stats().fail_pending == 0
    eng = seeded(obj)
    assert live() > base
    eng.close()
    assert live() == base


def test_fail_nth_modes() -> None:
    """The injector's own contract: n-th only, once; 'every' until disarmed."""
    m = load_lib()
    fail_nth(3)
    assert alloc_stats().fail_pending == 3
    vms = [m.lib.rmt_vm_create() for _ in range(4)]
    assert [v == m.ffi.NULL for v in vms] == [False, False, True, False]
    assert alloc_stats().fail_pending == 0
    with failing_nth(2, every=True):
        more = [m.lib.rmt_vm_create() for _ in range(4)]
    assert [v == m.ffi.NULL for v in more] == [False, True, True, True]
    for v in vms + more:
        if v != m.ffi.NULL:
            m.lib.rmt_vm_destroy(v)
    with pytest.raises(ValueError):
        fail_nth(-1)
