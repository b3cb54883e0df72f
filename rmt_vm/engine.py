"""CEngine: rmt.contract.engine.Engine on the C VM (vm_kernel/) through cffi.

One CEngine is one program loaded into its own C `struct rmt_vm`.  Every C
call returns 0 / a count or a negative errno with a message in an error
buffer; this class turns those into EngineError(errno, message), so callers
(test cases, rmtctl's sim target) see the same errors from every engine.
The Python side only translates values: every check that protects the VM is
done in C, the code the kernel module runs.
"""
from __future__ import annotations

import errno

from rmt.contract import objfile
from rmt.contract.objfile import ObjError, Program
from rmt.contract.engine import (EngineError, Entry, EntryState, Match, RunResult, Stats,
                              TraceRecord)
from rmt.vm.lib import load_lib
from rmt.contract import codec

DEFAULT_SEED = 0x9E3779B97F4A7C15
_ERRLEN = 512
_U64 = 1 << 64
_BATCH = 256


class CEngine:
    """One program in the C VM, with its tables, models, maps and trace ring."""

    def __init__(self, obj: bytes | Program, *, trace_capacity: int = 4096,
                 seed: int = DEFAULT_SEED, sanitize: bool | None = None,
                 jit: bool | None = None):
        """jit: compile to x86-64 (vm_kernel/core/rmt_jit.c); None means "where this
        build supports it" (the default), False forces the interpreter.  A
        program the JIT cannot take runs on the interpreter; `engine_kind`
        says which one runs it."""
        self._m = load_lib(sanitize)
        self.ffi, self.lib = self._m.ffi, self._m.lib
        data = objfile.write(obj) if isinstance(obj, Program) else bytes(obj)
        self._vm = self.ffi.gc(self.lib.rmt_vm_create(), self.lib.rmt_vm_destroy)
        if self._vm == self.ffi.NULL:
            raise EngineError(errno.ENOMEM, "cannot create a VM")
        opts = self.ffi.new("struct rmt_load_opts *")
        opts.trace_capacity = trace_capacity
        opts.seed = seed & (_U64 - 1)
        if jit is None:
            jit = bool(self.lib.rmt_jit_supported())
        opts.flags = self.lib.RMT_LOAD_JIT if jit else 0
        err = self.ffi.new("char[]", _ERRLEN)
        rc = self.lib.rmt_vm_load(self._vm, data, len(data), opts, err, _ERRLEN)
        self._check(rc, err)
        self.id = rc
        # The C VM accepted it, so the strict Python reader does too; it gives
        # the key kinds and sizes needed to translate entries both ways.
        try:
            self.prog = objfile.read(data)
        except ObjError as e:   # would mean the two readers disagree
            raise EngineError(errno.EINVAL, f"object: {e}") from None
        self.ctx_size = self.prog.hook.ctx_size

    def close(self) -> None:
        """Destroy the C VM now rather than when the object is collected (tests
        that compare the allocation counters need the frees to have happened).
        The engine cannot be used afterwards."""
        if self._vm is not None:
            self.ffi.release(self._vm)
            self._vm = None

    @property
    def engine_kind(self) -> str:
        """What runs the code: "interp", "jit" (x86-64) or "native" (host code)."""
        kind = self._check(self.lib.rmt_vm_prog_engine(self._vm, self.id))
        return ("interp", "jit", "native")[kind]

    # ------------------------------------------------------------ plumbing

    def _check(self, rc: int, err=None) -> int:
        if rc < 0:
            msg = self.ffi.string(err).decode(errors="replace") if err is not None else ""
            raise EngineError(-rc, msg or errno.errorcode.get(-rc, str(-rc)))
        return rc

    def _table(self, table: int):
        if not 0 <= table < len(self.prog.tables):
            raise EngineError(errno.ENOENT, f"no table {table} (the program has "
                                            f"{len(self.prog.tables)})")
        return self.prog.tables[table]

    def _spec(self, table: int, match: tuple[Match, ...], action: int, params: bytes,
              priority: int):
        spec = self.ffi.new("struct rmt_entry_spec *")
        words = codec.entry_wire(self._table(table), match, action, params, priority,
                                 len(spec.params))
        spec.priority, spec.action, spec.nkeys = priority, action, len(match)
        for i, (a, b) in enumerate(words):
            spec.match[i].a, spec.match[i].b = a, b
        self.ffi.memmove(spec.params, bytes(params), len(params))
        return spec

    def _update(self, table: int, op: int, spec) -> None:
        err = self.ffi.new("char[]", _ERRLEN)
        self._check(self.lib.rmt_vm_table_update(self._vm, self.id, table, op, spec, err,
                                                 _ERRLEN), err)

    # ------------------------------------------------------------ tables

    def table_insert(self, table: int, entry: Entry) -> None:
        self._update(table, 0, self._spec(table, entry.match, entry.action, entry.params,
                                          entry.priority))

    def table_modify(self, table: int, entry: Entry) -> None:
        self._update(table, 1, self._spec(table, entry.match, entry.action, entry.params,
                                          entry.priority))

    def table_delete(self, table: int, match: tuple[Match, ...], priority: int = 0) -> None:
        self._update(table, 2, self._spec(table, match, 0, b"", priority))

    def _dump(self, table: int) -> tuple[list[EntryState], int]:
        t = self._table(table)
        out = self.ffi.new("struct rmt_entry_dump[]", _BATCH)
        misses = self.ffi.new("unsigned long long *")
        entries: list[EntryState] = []
        while True:
            n = self._check(self.lib.rmt_vm_table_dump(self._vm, self.id, table, len(entries),
                                                       out, _BATCH, misses))
            for d in out[0:n]:
                s = d.spec
                match = [codec.match_from_wire(k.kind, s.match[i].a, s.match[i].b)
                         for i, k in enumerate(t.keys)]
                params = bytes(self.ffi.buffer(s.params, t.param_size))
                entries.append(EntryState(Entry(tuple(match), s.action, params, s.priority),
                                          d.hits))
            if n < _BATCH:
                return entries, misses[0]

    def table_entries(self, table: int) -> list[EntryState]:
        return self._dump(table)[0]

    def table_misses(self, table: int) -> int:
        return self._dump(table)[1]

    # ------------------------------------------------------------ models

    def model_load(self, model: int, blob: bytes) -> int:
        err = self.ffi.new("char[]", _ERRLEN)
        blob = bytes(blob)
        return self._check(self.lib.rmt_vm_model_load(self._vm, self.id, model, blob,
                                                      len(blob), err, _ERRLEN), err)

    # ------------------------------------------------------------ maps

    def map_read(self, map_id: int) -> dict[int, int]:
        if not 0 <= map_id < len(self.prog.maps):
            raise EngineError(errno.ENOENT, f"no map {map_id} (the program has "
                                            f"{len(self.prog.maps)})")
        cursor = self.ffi.new("unsigned long long *")
        keys = self.ffi.new("unsigned long long[]", 4096)
        vals = self.ffi.new("unsigned long long[]", 4096)
        out: dict[int, int] = {}
        while True:
            n = self._check(self.lib.rmt_vm_map_read(self._vm, self.id, map_id, cursor,
                                                     keys, vals, 4096))
            if n == 0:
                return dict(sorted(out.items()))
            out.update(zip(keys[0:n], vals[0:n]))

    def map_write(self, map_id: int, key: int, value: int) -> None:
        m = self.prog.maps[map_id] if 0 <= map_id < len(self.prog.maps) else None
        if m is not None and not (0 <= value < _U64 and 0 <= key < _U64):
            raise EngineError(errno.EINVAL, f"map {m.name}: key {key} or value {value} does "
                                            f"not fit 64 unsigned bits")
        err = self.ffi.new("char[]", _ERRLEN)
        self._check(self.lib.rmt_vm_map_write(self._vm, self.id, map_id, key, value, err,
                                              _ERRLEN), err)

    # ------------------------------------------------------------ runs

    def run(self, ctx: bytes, *, cpu: int = 0, now: int = 0) -> RunResult:
        if len(ctx) != self.ctx_size:
            raise EngineError(errno.EINVAL, f"context is {len(ctx)} bytes, hook "
                                            f"{self.prog.hook.name} takes {self.ctx_size}")
        ncpus = self.lib.RMT_NR_CPUS
        if not 0 <= cpu < ncpus:
            raise EngineError(errno.EINVAL, f"cpu {cpu} is outside 0..{ncpus - 1}")
        buf = self.ffi.new("uint8_t[]", bytes(ctx) or b"\0")
        res = self.ffi.new("struct rmt_run_result *")
        self._check(self.lib.rmt_vm_run(self._vm, self.id, buf, len(ctx), cpu,
                                        now & (_U64 - 1), res))
        return RunResult(res.decision, bytes(self.ffi.buffer(buf, len(ctx))), res.abort,
                         res.abort_pc)

    def shadow_account(self, program_decision: int, kernel_decision: int) -> None:
        self._check(self.lib.rmt_vm_shadow_account(self._vm, self.id, 0, program_decision,
                                                   kernel_decision))

    def trace_drain(self) -> list[TraceRecord]:
        out = self.ffi.new("struct rmt_trace_rec[]", _BATCH)
        recs: list[TraceRecord] = []
        while True:
            n = self._check(self.lib.rmt_vm_trace_drain(self._vm, self.id, out, _BATCH))
            recs += [TraceRecord(r.fmt, r.cpu, r.ts, tuple(r.vals[0:r.nvals])) for r in out[0:n]]
            if n < _BATCH:
                return recs

    def stats(self) -> Stats:
        s = self.ffi.new("struct rmt_stats *")
        self._check(self.lib.rmt_vm_stats(self._vm, self.id, s))
        aborts = {i: s.aborts[i] for i in range(1, self.lib.RMT_NR_ABORTS) if s.aborts[i]}
        decisions = {}
        for i in range(s.ndecisions):
            if s.decisions[i]:
                decisions[-1 if i == 0 else s.decision_lo + i - 1] = s.decisions[i]
        return Stats(s.runs, aborts, decisions, s.bad_decisions, s.shadow_agree,
                     s.shadow_disagree, s.trace_drops, s.model_overflows, s.map_drops)

    # ------------------------------------------------------------ benchmarks

    def bench(self, ctx: bytes, iterations: int) -> int:
        """Nanoseconds for `iterations` runs timed by a C loop (rmt_bench_run)."""
        return self._check(self.lib.rmt_bench_run(self._vm, self.id, bytes(ctx), len(ctx),
                                                  iterations))
