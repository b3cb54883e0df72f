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
from typing import Sequence

from rmt.contract import objfile
from rmt.contract.objfile import ObjError, Program
from rmt.contract.engine import (MODEL_OPS, EngineError, ModelEvent, ModelState, RunResult,
                                 TraceRecord)
from rmt.contract.isa import DEFAULT_SEED
from rmt.vm.lib import load_lib
from rmt.vm.wire import BatchError, Dumped, WireEngine, WireOp, Words

_ERRLEN = 512
_U64 = 1 << 64
_BATCH = 256
_MAP_BATCH = 4096


class CEngine(WireEngine):
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
        self.param_capacity = len(self.ffi.new("struct rmt_entry_spec *").params)
        self.nr_aborts = self.lib.RMT_NR_ABORTS
        self.max_decisions = self.lib.RMT_MAX_DECISIONS

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

    # ------------------------------------------------------------ transport (rmt.vm.wire)

    def _nr_cpus(self) -> int:
        return self.lib.RMT_NR_CPUS

    def _wire_update(self, table: int, op: int, words: Words, action: int, params: bytes,
                     priority: int) -> None:
        spec = self.ffi.new("struct rmt_entry_spec *")
        spec.priority, spec.action, spec.nkeys = priority, action, len(words)
        for i, (a, b) in enumerate(words):
            spec.match[i].a, spec.match[i].b = a, b
        self.ffi.memmove(spec.params, params, len(params))
        err = self.ffi.new("char[]", _ERRLEN)
        self._check(self.lib.rmt_vm_table_update(self._vm, self.id, table, op, spec, err,
                                                 _ERRLEN), err)

    def _wire_batch(self, table: int, ops: Sequence[WireOp]) -> None:
        arr = self.ffi.new("struct rmt_table_op[]", max(1, len(ops)))
        for k, o in enumerate(ops):
            arr[k].op = o.op
            spec = arr[k].spec
            spec.priority, spec.action, spec.nkeys = o.priority, o.action, len(o.words)
            for i, (a, b) in enumerate(o.words):
                spec.match[i].a, spec.match[i].b = a, b
            self.ffi.memmove(spec.params, o.params, len(o.params))
        failed = self.ffi.new("uint32_t *")
        err = self.ffi.new("char[]", _ERRLEN)
        rc = self.lib.rmt_vm_table_batch(self._vm, self.id, table, arr, len(ops), failed, err,
                                         _ERRLEN)
        if rc < 0:
            raise BatchError(-rc, self.ffi.string(err).decode(errors="replace") or
                             errno.errorcode.get(-rc, str(-rc)), failed[0])

    def _wire_dump(self, table: int, start: int, count: int) -> tuple[list[Dumped], int]:
        out = self.ffi.new("struct rmt_entry_dump[]", count)
        misses = self.ffi.new("unsigned long long *")
        n = self._check(self.lib.rmt_vm_table_dump(self._vm, self.id, table, start, out,
                                                   count, misses))
        nkeys = len(self.prog.tables[table].keys)
        return [Dumped([(d.spec.match[i].a, d.spec.match[i].b) for i in range(nkeys)],
                       d.spec.action, d.spec.priority,
                       bytes(self.ffi.buffer(d.spec.params, len(d.spec.params))), d.hits)
                for d in out[0:n]], misses[0]

    def _wire_map_read(self, map_id: int, cursor: int) -> tuple[list[tuple[int, int]], int]:
        cur = self.ffi.new("unsigned long long *", cursor)
        keys = self.ffi.new("unsigned long long[]", _MAP_BATCH)
        vals = self.ffi.new("unsigned long long[]", _MAP_BATCH)
        n = self._check(self.lib.rmt_vm_map_read(self._vm, self.id, map_id, cur, keys, vals,
                                                 _MAP_BATCH))
        return list(zip(keys[0:n], vals[0:n])), cur[0]

    def _wire_map_write(self, map_id: int, key: int, value: int) -> None:
        err = self.ffi.new("char[]", _ERRLEN)
        self._check(self.lib.rmt_vm_map_write(self._vm, self.id, map_id, key, value, err,
                                              _ERRLEN), err)

    def _wire_run(self, ctx: bytes, cpu: int, now: int, **extra: object) -> RunResult:
        if extra:
            raise TypeError(f"run() got unexpected arguments {sorted(extra)}")
        buf = self.ffi.new("uint8_t[]", ctx or b"\0")
        res = self.ffi.new("struct rmt_run_result *")
        self._check(self.lib.rmt_vm_run(self._vm, self.id, buf, len(ctx), cpu, now, res))
        return RunResult(res.decision, bytes(self.ffi.buffer(buf, len(ctx))), res.abort,
                         res.abort_pc)

    def _wire_stats(self):
        s = self.ffi.new("struct rmt_stats *")
        self._check(self.lib.rmt_vm_stats(self._vm, self.id, s))
        return s

    # ------------------------------------------------------------ models, traces

    def model_load(self, model: int, blob: bytes) -> int:
        err = self.ffi.new("char[]", _ERRLEN)
        blob = bytes(blob)
        return self._check(self.lib.rmt_vm_model_load(self._vm, self.id, model, blob,
                                                      len(blob), err, _ERRLEN), err)

    def model_stage(self, model: int, blob: bytes) -> int:
        err = self.ffi.new("char[]", _ERRLEN)
        blob = bytes(blob)
        return self._check(self.lib.rmt_vm_model_stage(self._vm, self.id, model, blob,
                                                       len(blob), err, _ERRLEN), err)

    def _model_ctl(self, model: int, op: int) -> int:
        err = self.ffi.new("char[]", _ERRLEN)
        return self._check(self.lib.rmt_vm_model_ctl(self._vm, self.id, model, op, err,
                                                     _ERRLEN), err)

    def model_promote(self, model: int) -> int:
        return self._model_ctl(model, self.lib.RMT_MODEL_OP_PROMOTE)

    def model_rollback(self, model: int) -> int:
        return self._model_ctl(model, self.lib.RMT_MODEL_OP_ROLLBACK)

    def model_unstage(self, model: int) -> int:
        return self._model_ctl(model, self.lib.RMT_MODEL_OP_UNSTAGE)

    def model_state(self, model: int) -> ModelState:
        s = self.ffi.new("struct rmt_model_state *")
        rc = self.lib.rmt_vm_model_state(self._vm, self.id, model, s)
        if rc < 0:
            raise EngineError(-rc, f"no model {model} (the program has {len(self.prog.models)})")
        return ModelState(s.version, s.cand_version, s.prev_version, s.agree, s.disagree,
                          [ModelEvent(e.version, MODEL_OPS.get(e.op, str(e.op)), e.agree,
                                      e.disagree) for e in s.hist[0:s.nhist]])

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

    def trace_peek(self) -> tuple[int, list[TraceRecord]]:
        """Every record in the ring, none taken, and the position of the oldest (the
        rmt_vm_trace_peek() behind RMT_IOC_TRACE_PEEK)."""
        out = self.ffi.new("struct rmt_trace_rec[]", _BATCH)
        pos = self.ffi.new("unsigned long long *")
        recs: list[TraceRecord] = []
        while True:
            n = self._check(self.lib.rmt_vm_trace_peek(self._vm, self.id, len(recs), out,
                                                       _BATCH, pos))
            recs += [TraceRecord(r.fmt, r.cpu, r.ts, tuple(r.vals[0:r.nvals])) for r in out[0:n]]
            if n < _BATCH:
                return pos[0], recs

    def trace_ack(self, pos: int, count: int) -> None:
        """Take the `count` oldest records, peeked at `pos` (rmt_vm_trace_ack())."""
        self._check(self.lib.rmt_vm_trace_ack(self._vm, self.id, pos, count))

    # ------------------------------------------------------------ benchmarks

    def bench(self, ctx: bytes, iterations: int) -> int:
        """Nanoseconds for `iterations` runs timed by a C loop (rmt_bench_run)."""
        return self._check(self.lib.rmt_bench_run(self._vm, self.id, bytes(ctx), len(ctx),
                                                  iterations))
