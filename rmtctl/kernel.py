"""The `kernel` target: rmt.ko in the running kernel, through /dev/rmt.

Same methods as rmtctl.sim.SimTarget, so `rmtctl --target kernel` runs every
command the sim target runs.  Three layers, each small:

- `RmtDevice`: the raw ioctls of vm_kernel/uapi/rmt.h (layouts in
  rmtctl/kernel_abi.py), an OSError turned into EngineError with the
  kernel's own message where the call has an error buffer;
- `KernelEngine`: rmt.contract.engine.Engine on one program loaded in the
  module, so the VM test cases run against rmt.ko like against every engine;
- `KernelTarget`: the control plane `rmtctl` drives.

The kernel is the state: unlike the sim target nothing is kept on disk.  The
module keeps the inserted object byte for byte, so `show`, `table` and
`trace` decode with the same schema the program was loaded with.  Trace
records come from read() on a file that selected the program
(RMT_IOC_TRACE_SELECT), and are drained as they are read.
"""
from __future__ import annotations

import ctypes
import dataclasses
import errno
import fcntl
import hashlib
import os
import struct
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from rmt.contract import objfile
from rmt.ctl import kernel_abi as A
from rmt.ctl.hook_abi import ABI_VERSION as HOOKS_ABI_VERSION
from rmt.ctl.candidates import StageRefused, check_stage_cost
from rmt.ctl.sim import ProgInfo, TargetError
from rmt.contract.engine import (MODEL_OPS, EngineError, Entry, EntryState, Match, ModelEvent,
                                 ModelState, RunResult, Stats, TraceRecord)
from rmt.vm.wire import (MAX_TABLE_BATCH, TABLE_DELETE, TABLE_INSERT, TABLE_MODIFY,
                         BatchError, Dumped, WireEngine, WireOp, Words)
from rmt.semantics.maps import check_readable

DEVICE = "/dev/rmt"
_U64 = 1 << 64
_VERDICT = {A.LOAD_F_VERIFIED: "accepted", A.LOAD_F_FORCED: "forced"}


def _addr(buf: Any) -> int:
    return ctypes.addressof(buf)


class RmtDevice:
    """An open /dev/rmt: one method per ioctl, ctypes payloads in and out."""

    def __init__(self, path: str = DEVICE):
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise TargetError(f"{path} does not exist: load the module first "
                              f"(insmod rmt.ko, or `make -C vm_kernel kmod`)") from None
        except PermissionError:
            raise TargetError(f"{path}: permission denied (CAP_SYS_ADMIN is needed)") from None
        v = A.Version()
        self.ioctl("RMT_IOC_VERSION", v)
        if v.abi != A.ABI_VERSION:
            os.close(self.fd)
            raise TargetError(f"{path} speaks ABI {v.abi}, this rmtctl speaks "
                              f"{A.ABI_VERSION}: rebuild one of them")
        self.version = v

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "RmtDevice":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ioctl(self, name: str, arg: ctypes.Structure, err: ctypes.Array | None = None,
              what: str = "") -> int:
        """Issue one command; failures raise EngineError(errno, message)."""
        if hasattr(arg, "abi") and name != "RMT_IOC_VERSION":
            arg.abi = A.ABI_VERSION
        try:
            return fcntl.ioctl(self.fd, A.IOC[name], arg, True)
        except OSError as e:
            msg = err.value.decode(errors="replace") if err is not None and err.value else ""
            where = f"{what}: " if what else ""
            raise EngineError(e.errno, where + (msg or os.strerror(e.errno))) from None

    def read_trace(self, prog_id: int) -> list[A.TraceRec]:
        """Drain program @prog_id's trace ring (read() on a file that selected it)."""
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sel = A.ProgId(A.ABI_VERSION, prog_id)
            try:
                fcntl.ioctl(fd, A.IOC["RMT_IOC_TRACE_SELECT"], sel, True)
            except OSError as e:
                raise EngineError(e.errno, f"program {prog_id}: {os.strerror(e.errno)}") from None
            size = ctypes.sizeof(A.TraceRec)
            out: list[A.TraceRec] = []
            while True:
                data = os.read(fd, size * 64)
                if not data:
                    return out
                out += [A.TraceRec.from_buffer_copy(data, i)
                        for i in range(0, len(data) - size + 1, size)]
        finally:
            os.close(fd)


class KernelEngine(WireEngine):
    """rmt.contract.engine.Engine on program `id` of rmt.ko (loaded by `load()` or already)."""

    param_capacity = A.MAX_PARAM_SIZE
    nr_aborts = A.NR_ABORTS
    max_decisions = A.MAX_DECISIONS

    def __init__(self, dev: RmtDevice, prog_id: int, prog: objfile.Program | None = None):
        self.dev, self.id = dev, prog_id
        self.prog = prog if prog is not None else self._read_object()[0]
        self.ctx_size = self.prog.hook.ctx_size

    @classmethod
    def load(cls, dev: RmtDevice, blob: bytes, *, flags: int = 0, trace_capacity: int = 0,
             seed: int = 0) -> "KernelEngine":
        """Load an object into the module (the kernel's validator decides)."""
        obj = (ctypes.c_char * len(blob)).from_buffer_copy(blob) if blob else A.c_buffer(1)
        err = A.c_buffer(A.MAX_ERR)
        a = A.ProgLoad(flags=flags, obj=_addr(obj), obj_len=len(blob),
                       trace_capacity=trace_capacity, seed=seed & (_U64 - 1), err=_addr(err),
                       err_len=len(err))
        dev.ioctl("RMT_IOC_PROG_LOAD", a, err)
        try:
            prog = objfile.read(blob)
        except objfile.ObjError as e:    # the two readers disagree: do not keep it
            cls._unload(dev, a.id)
            raise EngineError(errno.EINVAL, f"object: {e}") from None
        return cls(dev, a.id, prog)

    @staticmethod
    def _unload(dev: RmtDevice, prog_id: int) -> None:
        dev.ioctl("RMT_IOC_PROG_UNLOAD", A.ProgId(id=prog_id), what=f"program {prog_id}")

    def unload(self) -> None:
        self._unload(self.dev, self.id)

    def info(self) -> A.ProgInfo:
        a = A.ProgInfo(id=self.id)
        self.dev.ioctl("RMT_IOC_PROG_INFO", a, what=f"program {self.id}")
        return a

    def _read_object(self) -> tuple[objfile.Program, bytes, A.ProgInfo]:
        a = self.info()
        buf = A.c_buffer(a.obj_len)
        a = A.ProgInfo(id=self.id, obj=_addr(buf), obj_cap=len(buf))
        self.dev.ioctl("RMT_IOC_PROG_INFO", a, what=f"program {self.id}")
        blob = bytes(buf)[:a.obj_len]
        return objfile.read(blob), blob, a

    # ------------------------------------------------------------ tables

    # ------------------------------------------------------------ transport (rmt.vm.wire)

    def _nr_cpus(self) -> int:
        return self.dev.version.nr_cpus

    def _wire_update(self, table: int, op: int, words: Words, action: int, params: bytes,
                     priority: int) -> None:
        spec = A.EntrySpec(priority=priority, action=action, nkeys=len(words))
        for i, (a, b) in enumerate(words):
            spec.match[i].a, spec.match[i].b = a, b
        ctypes.memmove(spec.params, params, len(params))
        err = A.c_buffer(512)
        arg = A.TableUpdate(id=self.id, table=table, op=op, err=_addr(err), err_len=len(err),
                            entry=spec)
        self.dev.ioctl("RMT_IOC_TABLE_UPDATE", arg, err)

    def _wire_batch(self, table: int, ops: Sequence[WireOp]) -> None:
        arr = (A.TableOp * max(1, len(ops)))()
        for k, o in enumerate(ops):
            spec = arr[k].entry
            arr[k].op, spec.priority, spec.action, spec.nkeys = o.op, o.priority, o.action, \
                len(o.words)
            for i, (a, b) in enumerate(o.words):
                spec.match[i].a, spec.match[i].b = a, b
            ctypes.memmove(spec.params, o.params, len(o.params))
        err = A.c_buffer(512)
        arg = A.TableBatch(id=self.id, table=table, count=len(ops), ops=_addr(arr),
                           err=_addr(err), err_len=len(err), failed=len(ops))
        try:
            self.dev.ioctl("RMT_IOC_TABLE_BATCH", arg, err)
        except EngineError as e:
            raise BatchError(e.code, str(e), arg.failed) from None

    def _wire_dump(self, table: int, start: int, count: int) -> tuple[list[Dumped], int]:
        out = (A.EntryDump * count)()
        a = A.TableDump(id=self.id, table=table, start=start, count=count, entries=_addr(out))
        self.dev.ioctl("RMT_IOC_TABLE_DUMP", a, what=f"table {self.prog.tables[table].name}")
        nkeys = len(self.prog.tables[table].keys)
        return [Dumped([(d.entry.match[i].a, d.entry.match[i].b) for i in range(nkeys)],
                       d.entry.action, d.entry.priority, bytes(d.entry.params), d.hits)
                for d in out[:a.count]], a.misses

    def _wire_map_read(self, map_id: int, cursor: int) -> tuple[list[tuple[int, int]], int]:
        keys, vals = (ctypes.c_uint64 * A.MAX_BATCH)(), (ctypes.c_uint64 * A.MAX_BATCH)()
        a = A.MapRead(id=self.id, map=map_id, count=A.MAX_BATCH, cursor=cursor,
                      keys=_addr(keys), vals=_addr(vals))
        try:
            self.dev.ioctl("RMT_IOC_MAP_READ", a, what=f"map {map_id}")
        except EngineError as e:
            if e.code == errno.EPERM:      # the module refuses private maps: say why
                check_readable(self.prog.maps[map_id])
            raise
        return list(zip(keys[:a.count], vals[:a.count])), a.cursor

    def _wire_map_write(self, map_id: int, key: int, value: int) -> None:
        err = A.c_buffer(512)
        a = A.MapWrite(id=self.id, map=map_id, key=key, val=value, err=_addr(err),
                       err_len=len(err))
        self.dev.ioctl("RMT_IOC_MAP_WRITE", a, err)

    def _wire_run(self, ctx: bytes, cpu: int, now: int,
                  kernel_decision: int | None = None) -> RunResult:
        """Run once on CPU `cpu` (the module runs it there, interrupts off, no hook);
        `kernel_decision` also counts shadow agreement, as the hook would."""
        buf = (ctypes.c_char * max(1, len(ctx))).from_buffer_copy(ctx or b"\0")
        a = A.ProgRun(id=self.id, cpu=cpu, ctx_len=len(ctx), ctx=_addr(buf), now=now)
        if kernel_decision is not None:
            a.flags, a.kernel_decision = A.RUN_F_SHADOW, kernel_decision
        self.dev.ioctl("RMT_IOC_PROG_RUN", a, what=f"program {self.id} on cpu {cpu}")
        return RunResult(a.decision, bytes(buf)[:len(ctx)], a.abort, a.abort_pc)

    def _wire_stats(self) -> Any:
        a = A.StatsArg(id=self.id)
        self.dev.ioctl("RMT_IOC_STATS", a, what=f"program {self.id}")
        return a.c

    # ------------------------------------------------------------ models, traces

    @staticmethod
    def _model_index(model: int) -> None:
        if not 0 <= model < 1 << 32:
            raise EngineError(errno.ENOENT, f"no model {model}")

    def _weights(self, cmd: str, model: int, blob: bytes) -> int:
        """MODEL_LOAD or MODEL_STAGE (one argument struct): the version it made."""
        self._model_index(model)
        data = (ctypes.c_char * max(1, len(blob))).from_buffer_copy(bytes(blob) or b"\0")
        err = A.c_buffer(512)
        a = A.ModelLoad(id=self.id, model=model, blob=_addr(data), blob_len=len(blob),
                        err=_addr(err), err_len=len(err))
        self.dev.ioctl(cmd, a, err)
        return a.version

    def model_load(self, model: int, blob: bytes) -> int:
        return self._weights("RMT_IOC_MODEL_LOAD", model, blob)

    def model_stage(self, model: int, blob: bytes) -> int:
        return self._weights("RMT_IOC_MODEL_STAGE", model, blob)

    def _model_ctl(self, model: int, op: int) -> int:
        self._model_index(model)
        err = A.c_buffer(512)
        a = A.ModelCtl(id=self.id, model=model, op=op, err=_addr(err), err_len=len(err))
        self.dev.ioctl("RMT_IOC_MODEL_CTL", a, err)
        return a.version

    def model_promote(self, model: int) -> int:
        return self._model_ctl(model, A.MODEL_OP_PROMOTE)

    def model_rollback(self, model: int) -> int:
        return self._model_ctl(model, A.MODEL_OP_ROLLBACK)

    def model_unstage(self, model: int) -> int:
        return self._model_ctl(model, A.MODEL_OP_UNSTAGE)

    def model_state(self, model: int) -> ModelState:
        self._model_index(model)
        a = A.ModelState(id=self.id, model=model)
        self.dev.ioctl("RMT_IOC_MODEL_STATE", a, what=f"model {model}")
        return ModelState(a.version, a.cand_version, a.prev_version, a.agree, a.disagree,
                          [ModelEvent(e.version, MODEL_OPS.get(e.op, str(e.op)), e.agree,
                                      e.disagree) for e in a.hist[:min(a.nhist, A.MODEL_HISTORY)]])

    def model_info(self, model: int) -> A.ModelInfo:
        a = A.ModelInfo(id=self.id, model=model)
        self.dev.ioctl("RMT_IOC_MODEL_INFO", a, what=f"model {model}")
        return a

    def shadow_account(self, program_decision: int, kernel_decision: int) -> None:
        """Not a separate call in the ABI: `run(..., kernel_decision=...)` counts it."""
        raise EngineError(errno.EOPNOTSUPP, "the kernel counts shadow agreement in the run "
                                            "itself: pass kernel_decision to run()")

    def trace_drain(self) -> list[TraceRecord]:
        return [_record(r) for r in self.dev.read_trace(self.id)]

    def trace_peek(self) -> tuple[int, list[TraceRecord]]:
        """Every record in the ring, none taken (RMT_IOC_TRACE_PEEK, paged), and the
        position of the oldest, for trace_ack()."""
        recs: list[TraceRecord] = []
        pos = None
        buf = (A.TraceRec * A.MAX_BATCH)()
        while True:
            a = A.TracePeek(id=self.id, count=A.MAX_BATCH, skip=len(recs), recs=_addr(buf))
            self.dev.ioctl("RMT_IOC_TRACE_PEEK", a, what=f"program {self.id}")
            if pos is None:
                pos = a.pos
            elif a.pos != pos:                 # another reader took records meanwhile
                raise EngineError(errno.ESTALE, f"program {self.id}: another reader took "
                                                f"trace records during this one")
            recs += [_record(r) for r in buf[:a.count]]
            if a.count < A.MAX_BATCH:
                return pos, recs

    def trace_ack(self, pos: int, count: int) -> None:
        """Take the `count` oldest records (RMT_IOC_TRACE_ACK), peeked at `pos`."""
        if count:
            self.dev.ioctl("RMT_IOC_TRACE_ACK", A.TraceAck(id=self.id, count=count, pos=pos),
                           what=f"program {self.id}")


def _record(r: A.TraceRec) -> TraceRecord:
    return TraceRecord(r.fmt, r.cpu, r.ts, tuple(r.vals[:min(r.nvals, A.MAX_TRACE_FIELDS)]))


def kernel_engine_factory(dev: RmtDevice):
    """A tests/casefile.py factory: each case loads its object into rmt.ko."""
    def factory(blob: bytes, *, trace_capacity: int = 4096, seed: int = 0,
                **_: Any) -> KernelEngine:
        return KernelEngine.load(dev, blob, trace_capacity=trace_capacity, seed=seed)
    return factory


# struct rmt_ioc_prog_info.engine (uapi/rmt.h RMT_PROG_ENGINE_*): 0 the interpreter, 1 native
# code (in rmt.ko: lowered to eBPF, the kernel's BPF JIT; vm_kernel/kmod/rmt_kmod_jit.c)
ENGINE_JIT = 1


class KernelTarget:
    """The control plane of rmt.ko: what `rmtctl --target kernel` drives."""

    name = "kernel"

    def __init__(self, device: str = DEVICE):
        self.device = device
        self._dev: RmtDevice | None = None
        # inside transaction(): (prog, table) -> queued (op, entry, where) updates
        self._queue: dict[tuple[int, int], list[tuple[int, Entry, str]]] | None = None
        self.where = ""            # set by the caller per input line: names a refused update

    @property
    def dev(self) -> RmtDevice:
        if self._dev is None:
            self._dev = RmtDevice(self.device)
        return self._dev

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except EngineError as e:
            raise TargetError(f"{e.code_name}: {e}") from None

    def _engine(self, prog_id: int) -> KernelEngine:
        with self._errors():
            try:
                return KernelEngine(self.dev, prog_id)
            except EngineError as e:
                if e.code == errno.ENOENT:
                    raise TargetError(f"no program with id {prog_id} (see `rmtctl list`)") \
                        from None
                raise

    def _info(self, prog_id: int) -> tuple[ProgInfo, objfile.Program]:
        with self._errors():
            eng = KernelEngine.__new__(KernelEngine)
            eng.dev, eng.id = self.dev, prog_id
            try:
                prog, blob, a = eng._read_object()
            except EngineError as e:
                if e.code == errno.ENOENT:
                    raise TargetError(f"no program with id {prog_id} (see `rmtctl list`)") \
                        from None
                raise
        verdict = next((v for f, v in _VERDICT.items() if a.flags & f), "unverified")
        info = ProgInfo(prog_id, prog.name, prog.hook.name, "shadow" if prog.mode else "enforce",
                        hashlib.sha256(blob).hexdigest()[:16], verdict, a.load_time_ns / 1e9,
                        a.ninsns, a.engine == ENGINE_JIT)
        return info, prog

    def engine(self, prog_id: int) -> str:
        """What runs the program in rmt.ko: "jit" (lowered to eBPF, the kernel's BPF JIT) or
        "interpreter" (rmt.jit=0, bpf_jit_enable=0, or the JIT failed: see
        /sys/module/rmt/parameters/jit_stats)."""
        return "jit" if self._info(prog_id)[0].jit else "interpreter"

    # ------------------------------------------------------------ programs

    def insert(self, blob: bytes, verdict: str, jit: bool | None = None) -> ProgInfo:
        self._not_in_batch("inserting a program")
        try:
            objfile.read(blob)
        except objfile.ObjError as e:
            raise TargetError(f"malformed object: {e}") from None
        flags = {"accepted": A.LOAD_F_VERIFIED, "forced": A.LOAD_F_FORCED}.get(verdict, 0)
        if jit:
            flags |= A.LOAD_F_JIT
        try:
            eng = KernelEngine.load(self.dev, blob, flags=flags)
        except EngineError as e:
            raise TargetError(f"the kernel refused the program: {e.code_name}: {e}") from None
        try:
            self._attach(eng)
        except TargetError:
            eng.unload()            # a failed insert leaves nothing behind
            raise
        return self._info(eng.id)[0]

    def _attach(self, eng: KernelEngine) -> None:
        """Attach the new program to its kernel hook through the hooks code's ABI
        (uapi/rmt_hooks.h, offsets from BTF by rmtctl.hook_abi).  Without the hooks
        code the program is inserted unattached: `prog run` still runs it."""
        hook = eng.prog.hook
        if hook.name.startswith("test."):
            return
        try:
            from rmt.ctl import hook_abi
        except ImportError:
            hook_abi = None
        if not self.dev.version.hooks or hook_abi is None or not hasattr(hook_abi, "attach"):
            print(f"rmtctl: note: program {eng.id} is not attached to {hook.name}: this rmt.ko "
                  f"or rmtctl has no hook support", file=sys.stderr)
            return
        with self._errors():
            try:
                hook_abi.attach(self.dev, hook.id, eng.id)
            except (ValueError, OSError) as e:      # BTF unreadable, or lacks a member
                raise TargetError(f"cannot attach program {eng.id} to {hook.name}: {e}") \
                    from None

    def remove(self, prog_id: int) -> None:
        self._not_in_batch("removing a program")
        with self._errors():
            try:
                KernelEngine._unload(self.dev, prog_id)
            except EngineError as e:
                if e.code == errno.ENOENT:
                    raise TargetError(f"no program with id {prog_id} (see `rmtctl list`)") \
                        from None
                raise

    def ids(self) -> list[int]:
        ids = (ctypes.c_uint32 * A.MAX_PROGS)()
        a = A.ProgList(count=A.MAX_PROGS, ids=_addr(ids))
        with self._errors():
            self.dev.ioctl("RMT_IOC_PROG_LIST", a)
        return list(ids[:min(a.count, A.MAX_PROGS)])

    def list(self) -> list[ProgInfo]:
        out = []
        for i in self.ids():
            try:
                out.append(self._info(i)[0])
            except TargetError:
                pass            # removed meanwhile
        return out

    def program(self, prog_id: int) -> tuple[ProgInfo, objfile.Program]:
        return self._info(prog_id)

    # ------------------------------------------------------------ batches

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Table updates made inside are queued and applied at the end with one
        RMT_IOC_TABLE_BATCH per table: each table gets all of its updates or none (up to
        RMT_IOC_MAX_BATCH of them; a longer run goes in several batches, each all or none).
        An exception inside discards the queue.  Other changes are refused inside: the
        kernel has no transaction across tables, maps, models and programs."""
        if self._queue is not None:            # nested: the outer one applies
            yield
            return
        self._queue = {}
        try:
            yield
            queue = self._queue
        finally:
            self._queue = None
        self._apply(queue)

    def _apply(self, queue: dict[tuple[int, int], list[tuple[int, Entry, str]]]) -> None:
        done: list[str] = []
        for (pid, t), ops in queue.items():
            eng = self._engine(pid)
            name = eng.prog.tables[t].name
            for start in range(0, len(ops), MAX_TABLE_BATCH):
                chunk = ops[start:start + MAX_TABLE_BATCH]
                try:
                    eng.table_batch(t, [(op, e) for op, e, _ in chunk])
                except BatchError as e:
                    where = chunk[e.index][2] if 0 <= e.index < len(chunk) else ""
                    kept = (f"table {name} is unchanged" if start == 0 else
                            f"the first {start} updates of table {name} were applied (a kernel "
                            f"batch holds {MAX_TABLE_BATCH})")
                    if done:
                        kept += "; applied before it: " + ", ".join(done)
                    raise TargetError(f"{where + ': ' if where else ''}{e.code_name}: {e}; "
                                      f"{kept}") from None
                except EngineError as e:
                    raise TargetError(f"{e.code_name}: {e}") from None
            done.append(f"table {name} of program {pid}")

    def _queued(self, prog_id: int, table: int) -> list[tuple[int, Entry, str]] | None:
        if self._queue is None:
            return None
        eng = self._engine(prog_id)
        if not 0 <= table < len(eng.prog.tables):
            raise TargetError(f"program {prog_id} has no table {table}")
        return self._queue.setdefault((prog_id, table), [])

    def _not_in_batch(self, what: str) -> None:
        if self._queue is not None:
            raise TargetError(f"{what} cannot be part of a batch on the kernel target: only "
                              f"table updates are applied all or nothing (one ioctl per table)")

    # ------------------------------------------------------------ tables

    def table_write(self, prog_id: int, table: int, entry: Entry, modify: bool = False) -> None:
        op = TABLE_MODIFY if modify else TABLE_INSERT
        queued = self._queued(prog_id, table)
        if queued is not None:
            queued.append((op, entry, self.where))
            return
        eng = self._engine(prog_id)
        with self._errors():
            (eng.table_modify if modify else eng.table_insert)(table, entry)

    def table_delete(self, prog_id: int, table: int, match: tuple[Match, ...],
                     priority: int = 0) -> None:
        queued = self._queued(prog_id, table)
        if queued is not None:
            queued.append((TABLE_DELETE, Entry(match, 0, b"", priority), self.where))
            return
        eng = self._engine(prog_id)
        with self._errors():
            eng.table_delete(table, match, priority)

    def table_clear(self, prog_id: int, table: int) -> int:
        """Delete every entry: one batch (all or none, up to RMT_IOC_MAX_BATCH entries).
        Inside a transaction, updates queued earlier for the table are dropped: cleared
        after them, the table is empty either way."""
        states = self.table_dump(prog_id, table)
        with self.transaction():
            queued = self._queued(prog_id, table)
            assert queued is not None
            queued.clear()
            queued += [(TABLE_DELETE, Entry(s.entry.match, 0, b"", s.entry.priority),
                        self.where) for s in states]
        return len(states)

    def table_dump(self, prog_id: int, table: int) -> list[EntryState]:
        eng = self._engine(prog_id)
        if not 0 <= table < len(eng.prog.tables):
            raise TargetError(f"program {prog_id} has no table {table}")
        actions = eng.prog.tables[table].actions
        with self._errors():
            states = eng.table_entries(table)
        # Parameters trimmed to the action's own size, as the sim target shows them.
        return [EntryState(Entry(s.entry.match, s.entry.action,
                                 s.entry.params[:actions[s.entry.action].param_size]
                                 if s.entry.action < len(actions) else s.entry.params,
                                 s.entry.priority), s.hits) for s in states]

    # ------------------------------------------------------------ models, maps

    def model_load(self, prog_id: int, model: int, blob: bytes) -> int:
        self._not_in_batch("loading a model")
        eng = self._engine(prog_id)
        with self._errors():
            return eng.model_load(model, blob)

    def model_info(self, prog_id: int) -> dict[int, dict[str, Any]]:
        eng = self._engine(prog_id)
        out = {}
        with self._errors():
            for m in range(len(eng.prog.models)):
                a = eng.model_info(m)
                try:
                    st = eng.model_state(m)
                except EngineError as e:
                    if e.code != errno.ENOTTY:        # a module without candidate models
                        raise
                    st = ModelState()
                row: dict[str, Any] = {}
                if a.version:
                    row = {"version": a.version, "bytes": a.bytes,
                           "loaded": a.load_time_ns / 1e9}
                if st.cand_version or st.history:
                    row.update(candidate=st.cand_version, agree=st.agree,
                               disagree=st.disagree)
                if st.prev_version:
                    row["previous"] = st.prev_version
                if row:
                    out[m] = row
        return out

    # ---- candidate models: the module keeps the candidate, previous weights and history

    def _model(self, prog_id: int, model: int) -> "KernelEngine":
        eng = self._engine(prog_id)
        if not 0 <= model < len(eng.prog.models):
            raise TargetError(f"ENOENT: program {prog_id} has no model {model}")
        return eng

    def model_stage(self, prog_id: int, model: int, blob: bytes) -> int:
        eng = self._model(prog_id, model)
        try:
            check_stage_cost(eng.prog, model)
        except StageRefused as e:
            raise TargetError(str(e)) from None
        with self._errors():
            return eng.model_stage(model, blob)

    def _ctl(self, prog_id: int, model: int, op: str) -> int:
        eng = self._model(prog_id, model)
        name = eng.prog.models[model].name
        try:
            return getattr(eng, f"model_{op}")(model)
        except EngineError as e:
            if e.code == errno.ENOENT:
                why = ("no previous weights to roll back to" if op == "rollback"
                       else "no candidate is staged (`rmtctl model stage` first)")
                raise TargetError(f"ENOENT: model {name}: {why}") from None
            raise TargetError(f"{e.code_name}: {e}") from None

    def model_promote(self, prog_id: int, model: int) -> int:
        return self._ctl(prog_id, model, "promote")

    def model_rollback(self, prog_id: int, model: int) -> int:
        return self._ctl(prog_id, model, "rollback")

    def model_unstage(self, prog_id: int, model: int) -> int:
        return self._ctl(prog_id, model, "unstage")

    def model_history(self, prog_id: int, model: int) -> list[dict[str, Any]]:
        """The module's latest events (at most 16; no wall-clock times)."""
        eng = self._model(prog_id, model)
        with self._errors():
            return [{"version": h.version, "op": h.op, "time": None, "agree": h.agree,
                     "disagree": h.disagree} for h in eng.model_state(model).history]

    def map_dump(self, prog_id: int, map_id: int) -> dict[int, int]:
        eng = self._engine(prog_id)
        with self._errors():
            return eng.map_read(map_id)

    # ------------------------------------------------------------ running, counters

    def run(self, prog_id: int, ctxs: list[tuple[bytes, int, int]],
            kernel_decision: int | None = None) -> list[RunResult]:
        self._not_in_batch("running a program")
        eng = self._engine(prog_id)
        kd = kernel_decision if eng.prog.mode else None
        with self._errors():
            return [eng.run(ctx, cpu=cpu, now=now, kernel_decision=kd)
                    for ctx, cpu, now in ctxs]

    def stats(self, prog_id: int) -> Stats:
        eng = self._engine(prog_id)
        with self._errors():
            return eng.stats()

    def hook_stats(self, prog_id: int) -> dict | None:
        """The counters of the hook the program is attached to (hits, kretprobe nmissed,
        overrides, hard-constraint wins, fallbacks, shadow agreement), or None if it is not
        attached."""
        eng = self._engine(prog_id)
        try:
            from rmt.ctl import hook_abi
        except ImportError:
            return None
        with self._errors():
            st = hook_abi.stats(self.dev, eng.prog.hook.id)
            if st.prog_id != prog_id:
                return None
            out = st.to_json()
            if eng.prog.hook.id == hook_abi.HOOK_SWAP:
                out["prefetch"] = prefetch_stats(self.dev)
        return out

    def trace(self, prog_id: int, drain: bool = True,
              sink: Callable[[list[TraceRecord]], None] | None = None) -> list[TraceRecord]:
        """The records in the ring, as SimTarget.trace() gives them: peeked, handed to
        `sink` (which makes them durable), and only then taken from the ring (with `drain`).
        A sink that raises, or a process that dies before the acknowledgement, leaves every
        record in the ring.  Records that hooks add meanwhile stay for the next call."""
        eng = self._engine(prog_id)
        with self._errors():
            pos, recs = eng.trace_peek()
            if sink is not None:
                sink(recs)
            if drain:
                eng.trace_ack(pos, len(recs))
        return recs

    @contextmanager
    def session(self, prog_id: int) -> Iterator["Session"]:
        """The program's engine for many calls, as SimTarget.session() gives it (`.engine`,
        `.prog`); the kernel keeps counters, hits and traces itself."""
        eng = self._engine(prog_id)
        with self._errors():
            yield Session(eng, eng.prog)


@dataclasses.dataclass
class Session:
    engine: KernelEngine
    prog: objfile.Program


# ---------------------------------------------------------------- mm.swap_fault's prefetcher
# RMT_IOC_HOOK_PREFETCH (vm_kernel/uapi/rmt_hooks.h, struct rmt_swap_prefetch_stats).

PF_MECHANISMS = {0: "none", 1: "window", 2: "madvise", 3: "gup"}
PF_COUNTERS = ("decisions", "requested", "over_cap", "dropped", "mm_gone", "dup", "outside_vma",
               "not_swap", "resident", "cached", "read", "errors", "hits", "refaults", "batches",
               "worker_ns", "handler_ns", "merged")
PF_FMT = "<4IQ" + "Q" * (len(PF_COUNTERS) + 6)
PF_SIZE = struct.calcsize(PF_FMT)
IOC_HOOK_PREFETCH = (3 << 30) | (PF_SIZE << 16) | (0xE7 << 8) | 0x43
# requested == the sum of these once the queues are empty (each page ends in one)
PF_OUTCOMES = ("dropped", "mm_gone", "dup", "outside_vma", "not_swap", "resident", "cached",
               "read", "errors")


def prefetch_stats(dev: RmtDevice) -> dict[str, Any]:
    """mm.swap_fault's prefetch counters and mechanism; {} when this rmt.ko predates them."""
    buf = bytearray(PF_SIZE)
    struct.pack_into("<I", buf, 0, HOOKS_ABI_VERSION)
    try:
        fcntl.ioctl(dev.fd, IOC_HOOK_PREFETCH, buf, True)
    except OSError as e:
        if e.errno == errno.ENOTTY:
            return {}
        raise EngineError(e.errno, f"prefetch stats: {os.strerror(e.errno)}") from None
    vals = struct.unpack(PF_FMT, bytes(buf))
    _abi, mech, qlen, ncpus, qbytes = vals[:5]
    out: dict[str, Any] = {"mechanism": PF_MECHANISMS.get(mech, str(mech)), "queue_len": qlen,
                           "ncpus": ncpus, "queue_bytes": qbytes}
    out.update(zip(PF_COUNTERS, vals[5:5 + len(PF_COUNTERS)]))
    return out
