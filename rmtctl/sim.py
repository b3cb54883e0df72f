"""The `sim` target: the userspace VM, with its state kept in a directory.

Each `rmtctl` invocation is a short-lived process, so the simulated kernel's
state lives on disk and the engine is rebuilt from it for each command: the
state directory is the source of truth, the engine a cache.  Layout::

    STATE/state.json            next program id, and per id: name, hook, sha256, verdict
    STATE/progs/ID/prog.rmtb    the inserted object, byte for byte
    STATE/progs/ID/tables.json  entries per table, with their accumulated hit counts
    STATE/progs/ID/models/N.bin the last accepted weights blob of model N (+ models.json)
    STATE/progs/ID/maps.json    map contents
    STATE/progs/ID/stats.json   accumulated statistics
    STATE/progs/ID/trace.jsonl  trace records not yet drained

A command takes an exclusive lock on STATE/lock, rebuilds the engine (program,
entries, weights, maps), acts, and writes back only what changed, each file
replaced atomically (write to a temporary name, then rename).  A rejected
update (bad entry, bad weights) raises before anything is written, so the
state on disk never holds what the engine refused.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import inspect
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from compiler import objfile
from semantics.engine import (Engine, EngineError, Entry, EntryState, Exact, Lpm, Match, Range,
                              RunResult, Stats, Ternary, TraceRecord)
from semantics.maps import check_readable

EngineFactory = Callable[[bytes], Engine]


class TargetError(Exception):
    """A control-plane request failed; nothing was changed."""


def default_state_dir() -> Path:
    env = os.environ.get("RMT_SIM_STATE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return Path(base) / "rmt" / "sim"


def default_engine_factory() -> EngineFactory:
    """The C VM when its library is built, else the Python reference semantics."""
    try:
        from rmt_vm import CEngine
        return CEngine
    except ImportError:
        from semantics.reference import ReferenceEngine
        return ReferenceEngine


# ---------------------------------------------------------------- JSON forms

def match_to_json(m: Match) -> list:
    if isinstance(m, Exact):
        return ["exact", m.value]
    if isinstance(m, Lpm):
        return ["lpm", m.value, m.plen]
    if isinstance(m, Ternary):
        return ["ternary", m.value, m.mask]
    return ["range", m.lo, m.hi]


def match_from_json(j: list) -> Match:
    kind, *vals = j
    return {"exact": Exact, "lpm": Lpm, "ternary": Ternary, "range": Range}[kind](*vals)


def entry_to_json(e: Entry, hits: int = 0) -> dict[str, Any]:
    return {"match": [match_to_json(m) for m in e.match], "action": e.action,
            "params": e.params.hex(), "priority": e.priority, "hits": hits}


def entry_from_json(j: dict[str, Any]) -> tuple[Entry, int]:
    return (Entry(tuple(match_from_json(m) for m in j["match"]), j["action"],
                  bytes.fromhex(j["params"]), j["priority"]), j.get("hits", 0))


def _identity(e: Entry) -> tuple:
    return (e.match, e.priority)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


@dataclasses.dataclass
class ProgInfo:
    id: int
    name: str
    hook: str
    mode: str
    sha256: str
    verdict: str                 # "accepted", "forced", "unverified"
    inserted: float
    ninsns: int
    jit: bool | None = None      # None: the engine's default (the JIT where supported)


class Loaded:
    """One program rebuilt from the state directory, with its engine."""

    def __init__(self, target: "SimTarget", info: ProgInfo):
        self.target, self.info = target, info
        self.dir = target.dir / "progs" / str(info.id)
        blob = (self.dir / "prog.rmtb").read_bytes()
        self.prog = objfile.read(blob)
        self.engine = target.make_engine(blob, info.jit)
        self.tables: dict[str, list] = _read_json(self.dir / "tables.json", {})
        self.models: dict[str, Any] = _read_json(self.dir / "models.json", {})
        self.maps: dict[str, dict[str, int]] = _read_json(self.dir / "maps.json", {})
        self.base_hits: dict[int, dict[tuple, int]] = {}
        for t, entries in self.tables.items():
            for j in entries:
                e, hits = entry_from_json(j)
                self.engine.table_insert(int(t), e)
                self.base_hits.setdefault(int(t), {})[_identity(e)] = hits
        for m, meta in self.models.items():
            self.engine.model_load(int(m), (self.dir / "models" / f"{m}.bin").read_bytes())
        for m, values in self.maps.items():
            for k, v in values.items():
                self.engine.map_write(int(m), int(k), v)

    # persisted views -------------------------------------------------------

    def entries(self, table: int) -> list[EntryState]:
        """Entries with hits accumulated across invocations; parameters trimmed to the
        action's own size (engines pad them to the table's)."""
        base = self.base_hits.get(table, {})
        actions = self.prog.tables[table].actions
        out = []
        for s in self.engine.table_entries(table):
            e = dataclasses.replace(s.entry, params=s.entry.params[:actions[s.entry.action].param_size])
            out.append(EntryState(e, s.hits + base.get(_identity(e), 0)))
        return out

    def save_tables(self) -> None:
        self.tables = {str(t): [entry_to_json(s.entry, s.hits) for s in self.entries(t)]
                       for t in range(len(self.prog.tables))}
        _write_json(self.dir / "tables.json", self.tables)

    def save_maps(self) -> None:
        self.maps = {str(i): {str(k): v for k, v in self.engine.map_read(i).items()}
                     for i in range(len(self.prog.maps))}
        _write_json(self.dir / "maps.json", self.maps)

    def stats(self) -> Stats:
        saved = _read_json(self.dir / "stats.json", {})
        s = Stats(**{k: v for k, v in saved.items() if k in Stats.__dataclass_fields__})
        s.aborts = {int(k): v for k, v in s.aborts.items()}
        s.decisions = {int(k): v for k, v in s.decisions.items()}
        return s

    def save_after_runs(self) -> None:
        """Fold this invocation's counters, maps, hits and traces into the state."""
        old, new = self.stats(), self.engine.stats()
        merged = Stats()
        for f in dataclasses.fields(Stats):
            a, b = getattr(old, f.name), getattr(new, f.name)
            if isinstance(a, dict):
                setattr(merged, f.name, {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}})
            else:
                setattr(merged, f.name, a + b)
        _write_json(self.dir / "stats.json", dataclasses.asdict(merged))
        self.save_tables()
        self.save_maps()
        recs = self.engine.trace_drain()
        if recs:
            with open(self.dir / "trace.jsonl", "a") as f:
                for r in recs:
                    f.write(json.dumps(dataclasses.asdict(r)) + "\n")


class SimTarget:
    """The control plane of the simulated kernel."""

    name = "sim"

    def __init__(self, state_dir: Path | None = None, factory: EngineFactory | None = None):
        self.dir = Path(state_dir) if state_dir else default_state_dir()
        self.factory = factory or default_engine_factory()

    def make_engine(self, blob: bytes, jit: bool | None = None) -> Engine:
        """An engine for blob; `jit` picks the C VM's JIT or interpreter when it has both."""
        if jit is None or "jit" not in inspect.signature(self.factory).parameters:
            return self.factory(blob)
        return self.factory(blob, jit=jit)

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        (self.dir / "progs").mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = _read_json(self.dir / "state.json", {"next_id": 1, "progs": {}})
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                _write_json(self.dir / "state.json", state)

    def _info(self, state: dict, prog_id: int) -> ProgInfo:
        j = state["progs"].get(str(prog_id))
        if j is None:
            raise TargetError(f"no program with id {prog_id} (see `rmtctl list`)")
        return ProgInfo(**j)

    @contextmanager
    def session(self, prog_id: int) -> Iterator[Loaded]:
        """Run a program many times under one lock: the engine is `.engine`; counters,
        hits, maps and trace records are folded into the state when the block ends
        (what `prog run` does for one batch; the simulators use it for long runs)."""
        with self._prog(prog_id) as p:
            yield p
            p.save_after_runs()

    @contextmanager
    def _prog(self, prog_id: int) -> Iterator[Loaded]:
        with self._locked() as state:
            info = self._info(state, prog_id)
            try:
                yield Loaded(self, info)
            except EngineError as e:
                raise TargetError(f"{e.code_name}: {e}") from None

    # ------------------------------------------------------------ programs

    def insert(self, blob: bytes, verdict: str, jit: bool | None = None) -> ProgInfo:
        try:
            prog = objfile.read(blob)
            self.make_engine(blob, jit)           # the engine's own loader must accept it too
        except objfile.ObjError as e:
            raise TargetError(f"malformed object: {e}") from None
        except EngineError as e:
            raise TargetError(f"the VM refused the program: {e.code_name}: {e}") from None
        with self._locked() as state:
            pid = state["next_id"]
            d = self.dir / "progs" / str(pid)
            d.mkdir(parents=True, exist_ok=True)
            (d / "prog.rmtb").write_bytes(blob)
            info = ProgInfo(pid, prog.name, prog.hook.name,
                            "shadow" if prog.mode else "enforce",
                            hashlib.sha256(blob).hexdigest()[:16], verdict, time.time(),
                            len(prog.code), jit)
            state["progs"][str(pid)] = dataclasses.asdict(info)
            state["next_id"] = pid + 1
        return info

    def remove(self, prog_id: int) -> None:
        with self._locked() as state:
            self._info(state, prog_id)
            d = self.dir / "progs" / str(prog_id)
            for p in sorted(d.rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            d.rmdir()
            del state["progs"][str(prog_id)]

    def list(self) -> list[ProgInfo]:
        with self._locked() as state:
            return [ProgInfo(**j) for _, j in sorted(state["progs"].items(), key=lambda kv: int(kv[0]))]

    def program(self, prog_id: int) -> tuple[ProgInfo, objfile.Program]:
        with self._locked() as state:
            info = self._info(state, prog_id)
            blob = (self.dir / "progs" / str(prog_id) / "prog.rmtb").read_bytes()
            return info, objfile.read(blob)

    # ------------------------------------------------------------ tables

    def table_write(self, prog_id: int, table: int, entry: Entry, modify: bool = False) -> None:
        with self._prog(prog_id) as p:
            if modify:
                p.engine.table_modify(table, entry)
            else:
                p.engine.table_insert(table, entry)
            p.save_tables()

    def table_delete(self, prog_id: int, table: int, match: tuple[Match, ...],
                     priority: int = 0) -> None:
        with self._prog(prog_id) as p:
            p.engine.table_delete(table, match, priority)
            p.save_tables()

    def table_dump(self, prog_id: int, table: int) -> list[EntryState]:
        with self._prog(prog_id) as p:
            if not 0 <= table < len(p.prog.tables):
                raise TargetError(f"program {prog_id} has no table {table}")
            return p.entries(table)

    # ------------------------------------------------------------ models, maps

    def model_load(self, prog_id: int, model: int, blob: bytes) -> int:
        with self._prog(prog_id) as p:
            version = p.engine.model_load(model, blob)
            (p.dir / "models").mkdir(exist_ok=True)
            tmp = p.dir / "models" / f"{model}.bin.tmp"
            tmp.write_bytes(blob)
            os.replace(tmp, p.dir / "models" / f"{model}.bin")
            p.models[str(model)] = {"version": version, "bytes": len(blob),
                                    "loaded": time.time()}
            _write_json(p.dir / "models.json", p.models)
            return version

    def model_info(self, prog_id: int) -> dict[int, dict[str, Any]]:
        with self._prog(prog_id) as p:
            return {int(k): v for k, v in p.models.items()}

    def map_dump(self, prog_id: int, map_id: int) -> dict[int, int]:
        with self._prog(prog_id) as p:
            if 0 <= map_id < len(p.engine.prog.maps):
                check_readable(p.engine.prog.maps[map_id])   # as RMT_IOC_MAP_READ does
            return p.engine.map_read(map_id)

    # ------------------------------------------------------------ running, counters

    def run(self, prog_id: int, ctxs: list[tuple[bytes, int, int]],
            kernel_decision: int | None = None) -> list[RunResult]:
        """Run the program once per (ctx, cpu, now); counters persist."""
        with self._prog(prog_id) as p:
            out = []
            for ctx, cpu, now in ctxs:
                r = p.engine.run(ctx, cpu=cpu, now=now)
                if p.prog.mode and kernel_decision is not None:
                    p.engine.shadow_account(r.decision, kernel_decision)
                out.append(r)
            p.save_after_runs()
            return out

    def stats(self, prog_id: int) -> Stats:
        with self._prog(prog_id) as p:
            return p.stats()

    def trace(self, prog_id: int, drain: bool = True) -> list[TraceRecord]:
        with self._prog(prog_id) as p:
            path = p.dir / "trace.jsonl"
            recs = []
            if path.exists():
                for line in path.read_text().splitlines():
                    j = json.loads(line)
                    recs.append(TraceRecord(j["fmt"], j["cpu"], j["ts"], tuple(j["values"])))
                if drain:
                    path.unlink()
            return recs
