"""WireEngine: the half of rmt.contract.engine.Engine that every C VM shares.

The userspace library (CEngine, through cffi) and rmt.ko (rmt.ctl.kernel.KernelEngine, through
/dev/rmt) run the same C code behind two transports.  What the host does on top of either is the
same and lives here, once: the argument checks that give a clear error before the call, entries
translated to and from the wire (rmt.contract.codec), tables dumped and maps read in batches,
and the counters decoded from `struct rmt_stats`.  A subclass supplies only the transport: one
method per VM call, each taking and returning wire values.
"""
from __future__ import annotations

import errno
from typing import Any, NamedTuple, Sequence

from rmt.contract import codec
from rmt.contract.engine import EngineError, Entry, EntryState, Match, RunResult, Stats
from rmt.contract.objfile import Program, Table

U64 = 1 << 64
BATCH = 256
MAX_TABLE_BATCH = 1024       # RMT_IOC_MAX_BATCH: updates per table batch

# Table update operations, as the C VM numbers them (enum in vm_kernel/uapi/rmt.h).
TABLE_INSERT, TABLE_MODIFY, TABLE_DELETE = 0, 1, 2

Words = Sequence[tuple[int, int]]


class BatchError(EngineError):
    """A table batch was refused: update `index` failed, and nothing was applied."""

    def __init__(self, code: int, msg: str, index: int):
        super().__init__(code, msg)
        self.index = index


class WireOp(NamedTuple):
    """One update of a table batch, as the wire carries it."""
    op: int                   # TABLE_INSERT, TABLE_MODIFY, TABLE_DELETE
    words: Words
    action: int
    params: bytes
    priority: int


class Dumped(NamedTuple):
    """One `struct rmt_entry_dump` as plain values."""
    words: Words              # per key, the (a, b) wire words
    action: int
    priority: int
    params: bytes
    hits: int


class WireEngine:
    """An Engine over a C VM; subclasses set `prog`, `ctx_size` and implement the `_wire_*`
    transport methods."""

    prog: Program
    ctx_size: int
    param_capacity: int          # bytes of `params` in the wire entry
    nr_aborts: int               # RMT_NR_ABORTS
    max_decisions: int           # RMT_MAX_DECISIONS

    # ------------------------------------------------------------ transport (subclasses)

    def _wire_update(self, table: int, op: int, words: Words, action: int, params: bytes,
                     priority: int) -> None:
        raise NotImplementedError

    def _wire_dump(self, table: int, start: int, count: int) -> tuple[list[Dumped], int]:
        """Up to count entries from start, and the table's miss count."""
        raise NotImplementedError

    def _wire_batch(self, table: int, ops: Sequence[WireOp]) -> None:
        """Apply ops to one table, every one or none (at most MAX_TABLE_BATCH); a refusal
        raises BatchError naming the op."""
        raise NotImplementedError

    def _wire_map_read(self, map_id: int, cursor: int) -> tuple[list[tuple[int, int]], int]:
        """The next batch of (key, value) pairs from cursor (empty: done) and the next cursor."""
        raise NotImplementedError

    def _wire_map_write(self, map_id: int, key: int, value: int) -> None:
        raise NotImplementedError

    def _wire_run(self, ctx: bytes, cpu: int, now: int, **extra: Any) -> RunResult:
        raise NotImplementedError

    def _wire_stats(self) -> Any:
        """A `struct rmt_stats`-like object (cffi or ctypes: the same field names)."""
        raise NotImplementedError

    def _nr_cpus(self) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------ tables

    def _table(self, table: int) -> Table:
        if not 0 <= table < len(self.prog.tables):
            raise EngineError(errno.ENOENT, f"no table {table} (the program has "
                                            f"{len(self.prog.tables)})")
        return self.prog.tables[table]

    def _write(self, table: int, op: int, match: tuple[Match, ...], action: int,
               params: bytes, priority: int) -> None:
        """entry_wire refuses what the fixed-width fields cannot hold; everything else is the
        VM's call, so the VM's own checks are the ones that protect it."""
        words = codec.entry_wire(self._table(table), match, action, params, priority,
                                 self.param_capacity)
        self._wire_update(table, op, words, action, bytes(params), priority)

    def table_insert(self, table: int, entry: Entry) -> None:
        self._write(table, TABLE_INSERT, entry.match, entry.action, entry.params,
                    entry.priority)

    def table_modify(self, table: int, entry: Entry) -> None:
        self._write(table, TABLE_MODIFY, entry.match, entry.action, entry.params,
                    entry.priority)

    def table_delete(self, table: int, match: tuple[Match, ...], priority: int = 0) -> None:
        self._write(table, TABLE_DELETE, match, 0, b"", priority)

    def table_batch(self, table: int, ops: Sequence[tuple[int, Entry]]) -> None:
        """Apply (op, entry) updates to one table in order, every one or none: the VM
        applies them to a copy of the table and publishes the copy only when all succeeded.
        A delete uses the entry's match and priority only.  At most MAX_TABLE_BATCH updates
        (the ioctl's cap); a refused update raises BatchError with its index."""
        t = self._table(table)
        if len(ops) > MAX_TABLE_BATCH:
            raise EngineError(errno.E2BIG, f"{len(ops)} updates: a batch holds at most "
                                           f"{MAX_TABLE_BATCH}")
        wire = []
        for i, (op, e) in enumerate(ops):
            action, params = (0, b"") if op == TABLE_DELETE else (e.action, bytes(e.params))
            try:
                words = codec.entry_wire(t, e.match, action, params, e.priority,
                                         self.param_capacity)
            except EngineError as err:
                raise BatchError(err.code, str(err), i) from None
            wire.append(WireOp(op, words, action, params, e.priority))
        self._wire_batch(table, wire)

    def _dump(self, table: int) -> tuple[list[EntryState], int]:
        t = self._table(table)
        entries: list[EntryState] = []
        while True:
            recs, misses = self._wire_dump(table, len(entries), BATCH)
            for d in recs:
                match = tuple(codec.match_from_wire(k.kind, *d.words[i])
                              for i, k in enumerate(t.keys))
                entries.append(EntryState(Entry(match, d.action, d.params[:t.param_size],
                                                d.priority), d.hits))
            if len(recs) < BATCH:
                return entries, misses

    def table_entries(self, table: int) -> list[EntryState]:
        return self._dump(table)[0]

    def table_misses(self, table: int) -> int:
        return self._dump(table)[1]

    # ------------------------------------------------------------ maps

    def _map_exists(self, map_id: int) -> None:
        if not 0 <= map_id < len(self.prog.maps):
            raise EngineError(errno.ENOENT, f"no map {map_id} (the program has "
                                            f"{len(self.prog.maps)})")

    def map_read(self, map_id: int) -> dict[int, int]:
        self._map_exists(map_id)
        out: dict[int, int] = {}
        cursor = 0
        while True:
            pairs, cursor = self._wire_map_read(map_id, cursor)
            if not pairs:
                return dict(sorted(out.items()))
            out.update(pairs)

    def map_write(self, map_id: int, key: int, value: int) -> None:
        """A missing map is the VM's to report; a key or value beyond 64 bits is refused here
        (the wire field would truncate it)."""
        if 0 <= map_id < len(self.prog.maps) and not (0 <= value < U64 and 0 <= key < U64):
            raise EngineError(errno.EINVAL, f"map {self.prog.maps[map_id].name}: key {key} or "
                                            f"value {value} does not fit 64 unsigned bits")
        self._wire_map_write(map_id, key, value)

    # ------------------------------------------------------------ runs, counters

    def run(self, ctx: bytes, *, cpu: int = 0, now: int = 0, **extra: Any) -> RunResult:
        if len(ctx) != self.ctx_size:
            raise EngineError(errno.EINVAL, f"context is {len(ctx)} bytes, hook "
                                            f"{self.prog.hook.name} takes {self.ctx_size}")
        ncpus = self._nr_cpus()
        if not 0 <= cpu < ncpus:
            raise EngineError(errno.EINVAL, f"cpu {cpu} is outside 0..{ncpus - 1}")
        return self._wire_run(bytes(ctx), cpu, now & (U64 - 1), **extra)

    def stats(self) -> Stats:
        c = self._wire_stats()
        aborts = {i: c.aborts[i] for i in range(1, self.nr_aborts) if c.aborts[i]}
        decisions = {}
        for i in range(min(c.ndecisions, self.max_decisions)):
            if c.decisions[i]:
                decisions[-1 if i == 0 else c.decision_lo + i - 1] = c.decisions[i]
        return Stats(c.runs, aborts, decisions, c.bad_decisions, c.shadow_agree,
                     c.shadow_disagree, c.trace_drops, c.model_overflows, c.map_drops)
