"""The interface every execution engine offers.

The Python reference interpreter (semantics/), the C VM through cffi, its JIT
and the kernel module behind /dev/rmt all implement Engine, so one test case
or one `rmtctl` command runs the same way on each.  Errors are EngineError with
an errno-like code and a message that names what is wrong; a failed call
changes nothing.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Protocol, Union


class EngineError(Exception):
    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code = code          # errno value: EINVAL, EEXIST, ENOENT, ENOSPC, E2BIG, ...

    @property
    def code_name(self) -> str:
        return errno.errorcode.get(self.code, str(self.code))


@dataclass(frozen=True)
class Exact:
    value: int


@dataclass(frozen=True)
class Lpm:
    value: int
    plen: int                 # prefix length in bits, 0..key bits


@dataclass(frozen=True)
class Ternary:
    value: int
    mask: int


@dataclass(frozen=True)
class Range:
    lo: int
    hi: int                   # inclusive, unsigned


Match = Union[Exact, Lpm, Ternary, Range]


@dataclass(frozen=True)
class Entry:
    """A table entry: one match per key field, then the action and its parameters."""
    match: tuple[Match, ...]
    action: int
    params: bytes = b""       # the action's parameter bytes; zero-padded to the table's size
    priority: int = 0         # used by tables with a ternary or range key; higher wins


@dataclass
class EntryState:
    entry: Entry
    hits: int


@dataclass
class RunResult:
    decision: int                      # -1 is DEFAULT
    ctx: bytes                         # the context after the run (writable fields may change)
    abort: int = 0                     # rmt.contract.isa.Abort value; nonzero means decision == -1
    abort_pc: int = -1


@dataclass
class TraceRecord:
    fmt: int
    cpu: int
    ts: int
    values: tuple[int, ...]           # raw u64 values


@dataclass
class Stats:
    runs: int = 0
    aborts: dict[int, int] = field(default_factory=dict)   # Abort value -> count
    decisions: dict[int, int] = field(default_factory=dict)  # decision value -> count
    bad_decisions: int = 0             # EXIT with a value outside the hook's set: DEFAULT used
    shadow_agree: int = 0
    shadow_disagree: int = 0
    trace_drops: int = 0
    model_overflows: int = 0           # accumulator saturations in model inference
    map_drops: int = 0                 # hash-map updates dropped because the map was full


# ---- candidate models (docs/semantics.md, "Candidate models")

CANDIDATE_TRACE_FMT = 0xFFFFFFFF   # trace format of a candidate's disagreement record
CANDIDATE_TRACE_OUTPUTS = 7        # outputs of each side such a record shows
MODEL_HISTORY = 16                 # events an engine keeps per model
MODEL_OPS = {1: "load", 2: "stage", 3: "promote", 4: "rollback", 5: "unstage"}


@dataclass
class ModelEvent:
    version: int
    op: str                            # MODEL_OPS value
    agree: int = 0                     # promote, unstage: the candidate's evidence
    disagree: int = 0


@dataclass
class ModelState:
    version: int = 0                   # in use (0: none)
    cand_version: int = 0              # staged candidate (0: none)
    prev_version: int = 0              # what a rollback restores (0: nothing)
    agree: int = 0                     # candidate runs agreeing with the live weights
    disagree: int = 0
    history: list[ModelEvent] = field(default_factory=list)   # oldest first, at most 16


def outputs_agree(live: list[int], cand: list[int]) -> bool:
    """A candidate agrees when every output is on the same side of 0 as the live one."""
    return all((a > 0) == (b > 0) for a, b in zip(live, cand))


def candidate_record(model: int, live: list[int], cand: list[int], cpu: int, ts: int
                     ) -> "TraceRecord":
    """The trace record of a disagreement: model, k, k live outputs, k candidate outputs."""
    k = min(len(live), CANDIDATE_TRACE_OUTPUTS)
    m64 = (1 << 64) - 1
    return TraceRecord(CANDIDATE_TRACE_FMT, cpu, ts,
                       (model, k, *(v & m64 for v in live[:k]), *(v & m64 for v in cand[:k])))


class Engine(Protocol):
    """One loaded program and its run-time state (tables, models, maps, trace ring)."""

    def table_insert(self, table: int, entry: Entry) -> None: ...
    def table_modify(self, table: int, entry: Entry) -> None: ...
    def table_delete(self, table: int, match: tuple[Match, ...], priority: int = 0) -> None: ...
    def table_entries(self, table: int) -> list[EntryState]: ...       # insertion order
    def table_misses(self, table: int) -> int: ...                      # lookups that missed
    def model_load(self, model: int, blob: bytes) -> int: ...          # returns the new version
    def model_stage(self, model: int, blob: bytes) -> int: ...         # the candidate's version
    def model_promote(self, model: int) -> int: ...                    # the version now in use
    def model_rollback(self, model: int) -> int: ...                   # the version now in use
    def model_unstage(self, model: int) -> int: ...                    # the dropped version
    def model_state(self, model: int) -> ModelState: ...
    def map_read(self, map_id: int) -> dict[int, int]: ...             # percpu maps summed
    def map_write(self, map_id: int, key: int, value: int) -> None: ...
    def run(self, ctx: bytes, *, cpu: int = 0, now: int = 0) -> RunResult: ...
    def shadow_account(self, program_decision: int, kernel_decision: int) -> None: ...
    def trace_drain(self) -> list[TraceRecord]: ...
    def stats(self) -> Stats: ...
