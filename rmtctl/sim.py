"""The `sim` target: the userspace VM, with its state in one SQLite database.

Each `rmtctl` invocation is a short-lived process, so the simulated kernel's
state lives on disk: STATE/state.db (stdlib sqlite3, WAL journal, mode 0600,
directory 0700).  The database is the source of truth; an engine is rebuilt
from it only by commands that run the program (`prog run`, `session`).

Why SQLite rather than a directory of JSON files: every command is one
transaction, so a command killed at any point leaves the state as it was
before or as it is after (the crash-point test checks every write of every
mutating command); writers queue on the database's own lock with a busy
timeout instead of an flock; and a control-plane change costs O(change): a
table entry is validated against the table's declaration by the reference
semantics (`semantics.tables`), checked for a duplicate by its identity key,
and written as one row, with no VM rebuilt.

Tables (schema version in `PRAGMA user_version`, see SCHEMA_VERSION)::

    meta(key, value)            next_id
    progs(id, info, blob, stats)          ProgInfo as JSON, the object, counters as JSON
    entries(seq, prog, tbl, ident, entry, hits)   seq is insertion order; ident the identity
    models(prog, model, version, bytes, loaded, blob)
    maps(prog, map, key, value)
    traces(seq, prog, rec)      records not yet drained, in emission order
  version 2 (candidate models; a version-1 database gains them in place):
    candidates(prog, model, version, bytes, staged, blob, agree, disagree)
                                a staged candidate (blob NULL once promoted or unstaged:
                                the row keeps the last candidate's agreement counts)
    prev_models(prog, model, version, bytes, loaded, blob)   what a rollback restores
    model_history(seq, prog, model, version, op, time, agree, disagree)

A state directory in the old layout (STATE/state.json, STATE/progs/ID/...) is
imported into a new state.db in one transaction the first time a command opens
it; the old files are left where they are.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import inspect
import json
import os
import sqlite3
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from rmt.contract import objfile
from rmt.contract.objformat import WHEADER
from rmt.ctl.candidates import StageRefused, check_stage_cost
from rmt.contract.hooks import DEFAULT_DECISION
from rmt.contract.engine import (Engine, EngineError, Entry, EntryState, Exact, Lpm, Match, Range,
                              RunResult, Stats, Ternary, TraceRecord)
from rmt.semantics.maps import check_readable
from rmt.semantics.tables import TableState, identity, is_priority_table

EngineFactory = Callable[[bytes], Engine]
SCHEMA_VERSION = 2
DB_NAME = "state.db"
BUSY_TIMEOUT_S = 60.0


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
        from rmt.vm import CEngine
        return CEngine
    except ImportError:
        from rmt.semantics.reference import ReferenceEngine
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


def _ident_key(table: objfile.Table, match: tuple[Match, ...], priority: int) -> str:
    """An entry's identity (semantics.tables.identity) as a text key for the database."""
    return _norm_key(table, identity(table, match, priority)[0], priority)


def _norm_key(table: objfile.Table, norm: tuple[Match, ...], priority: int) -> str:
    """The key of an already normalised match."""
    prio = [priority] if is_priority_table(table) else []
    return json.dumps([[match_to_json(m) for m in norm], *prio])


def _stats_from_json(j: dict[str, Any]) -> Stats:
    s = Stats(**{k: v for k, v in j.items() if k in Stats.__dataclass_fields__})
    s.aborts = {int(k): v for k, v in s.aborts.items()}
    s.decisions = {int(k): v for k, v in s.decisions.items()}
    return s


def _merge_stats(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in {*a, *b}:
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) or isinstance(y, dict):
            x = {str(i): n for i, n in (x or {}).items()}
            y = {str(i): n for i, n in (y or {}).items()}
            out[k] = {i: x.get(i, 0) + y.get(i, 0) for i in {*x, *y}}
        else:
            out[k] = (x or 0) + (y or 0)
    return out


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


class HonestEngine:
    """An engine that also counts the shadow runs where the program did not decide.

    Every engine leaves a DEFAULT decision (an abort, a guard, or the program's own
    `return DEFAULT`) out of its agreement counts; the sim target reports how many
    there were, in `shadow_default`."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self.shadow_default = 0

    def shadow_account(self, program_decision: int, kernel_decision: int) -> None:
        if program_decision == DEFAULT_DECISION:
            self.shadow_default += 1
        else:
            self._engine.shadow_account(program_decision, kernel_decision)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


class Loaded:
    """One program rebuilt from the database, with its engine (`.engine`, `.prog`)."""

    def __init__(self, target: "SimTarget", info: ProgInfo, db: sqlite3.Connection | None = None):
        self.target, self.info = target, info
        own = db is None
        db = db or target._connect(create=False)
        try:
            self._load(db)
        finally:
            if own and db is not None:
                db.close()

    def _load(self, db: sqlite3.Connection | None) -> None:
        t, pid = self.target, self.info.id
        where = f"{t.db_path}: program {pid}"
        try:
            row = db.execute("SELECT blob FROM progs WHERE id=?", (pid,)).fetchone() if db else None
            if row is None:
                raise TargetError(f"no program with id {pid} (see `rmtctl list`)")
            self.blob = bytes(row[0])
            self.prog = objfile.read(self.blob)
            self.engine = HonestEngine(t.make_engine(self.blob, self.info.jit))
            self.seqs: dict[int, list[int]] = {}
            for seq, tbl, ej in db.execute(
                    "SELECT seq, tbl, entry FROM entries WHERE prog=? ORDER BY seq", (pid,)):
                e, _ = entry_from_json(json.loads(ej))
                self.engine.table_insert(tbl, e)
                self.seqs.setdefault(tbl, []).append(seq)
            for m, blob in db.execute("SELECT model, blob FROM models WHERE prog=?", (pid,)):
                self.engine.model_load(m, bytes(blob))
            self.staged = [m for m, blob in db.execute(
                "SELECT model, blob FROM candidates WHERE prog=? AND blob IS NOT NULL ORDER BY model",
                (pid,)) if self.engine.model_stage(m, bytes(blob))]
            for m, k, v in db.execute("SELECT map, key, value FROM maps WHERE prog=?", (pid,)):
                self.engine.map_write(m, k, v)
        except TargetError:
            raise
        except sqlite3.DatabaseError as e:
            raise t._db_error(e) from None
        except (objfile.ObjError, EngineError, ValueError, KeyError, TypeError, IndexError) as e:
            raise TargetError(f"{where}: the stored state is corrupt ({type(e).__name__}: {e}); "
                              f"`rmtctl remove --force {pid}` drops the program") from None

    def entries(self, table: int) -> list[EntryState]:
        """Entries with hits accumulated across invocations, this session's included;
        parameters trimmed to the action's own size (engines pad them to the table's)."""
        stored = self.target.table_dump(self.info.id, table)
        live = self.engine.table_entries(table)
        return [EntryState(s.entry, s.hits + e.hits) for s, e in zip(stored, live)]

    def save_after_runs(self, db: sqlite3.Connection) -> None:
        """Fold this engine's counters, hits, maps and trace records into the database
        (inside the caller's transaction)."""
        pid = self.info.id
        new = dataclasses.asdict(self.engine.stats())
        new["shadow_default"] = self.engine.shadow_default
        row = db.execute("SELECT stats FROM progs WHERE id=?", (pid,)).fetchone()
        old = json.loads(row[0]) if row and row[0] else {}
        db.execute("UPDATE progs SET stats=? WHERE id=?",
                   (json.dumps(_merge_stats(old, new), sort_keys=True), pid))
        for tbl in range(len(self.prog.tables)):
            seqs = self.seqs.get(tbl, [])
            for seq, s in zip(seqs, self.engine.table_entries(tbl)):
                if s.hits:
                    db.execute("UPDATE entries SET hits=hits+? WHERE seq=?", (s.hits, seq))
        for m in range(len(self.prog.maps)):
            db.execute("DELETE FROM maps WHERE prog=? AND map=?", (pid, m))
            db.executemany("INSERT INTO maps(prog, map, key, value) VALUES (?,?,?,?)",
                           [(pid, m, k, v) for k, v in self.engine.map_read(m).items()])
        for m in self.staged:          # a candidate's agreement counts, run by run
            st = self.engine.model_state(m)
            db.execute("UPDATE candidates SET agree=agree+?, disagree=disagree+? "
                       "WHERE prog=? AND model=?", (st.agree, st.disagree, pid, m))
        db.executemany("INSERT INTO traces(prog, rec) VALUES (?,?)",
                       [(pid, json.dumps(dataclasses.asdict(r)))
                        for r in self.engine.trace_drain()])


_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE progs(id INTEGER PRIMARY KEY, info TEXT NOT NULL, blob BLOB NOT NULL,
                   stats TEXT NOT NULL DEFAULT '{}');
CREATE TABLE entries(seq INTEGER PRIMARY KEY AUTOINCREMENT, prog INTEGER NOT NULL,
                     tbl INTEGER NOT NULL, ident TEXT NOT NULL, entry TEXT NOT NULL,
                     priority INTEGER NOT NULL DEFAULT 0, hits INTEGER NOT NULL DEFAULT 0,
                     UNIQUE(prog, tbl, ident));
CREATE INDEX entries_priority ON entries(prog, tbl, priority);
CREATE TABLE models(prog INTEGER NOT NULL, model INTEGER NOT NULL, version INTEGER NOT NULL,
                    bytes INTEGER NOT NULL, loaded REAL NOT NULL, blob BLOB NOT NULL,
                    PRIMARY KEY(prog, model));
CREATE TABLE maps(prog INTEGER NOT NULL, map INTEGER NOT NULL, key INTEGER NOT NULL,
                  value INTEGER NOT NULL, PRIMARY KEY(prog, map, key));
CREATE TABLE traces(seq INTEGER PRIMARY KEY AUTOINCREMENT, prog INTEGER NOT NULL,
                    rec TEXT NOT NULL);
INSERT INTO meta VALUES ('next_id', 1);
"""

# Version 2: candidate models (docs/rmtctl.md, "Candidate models").
_SCHEMA_V2 = """
CREATE TABLE candidates(prog INTEGER NOT NULL, model INTEGER NOT NULL, version INTEGER NOT NULL,
                        bytes INTEGER NOT NULL, staged REAL NOT NULL, blob BLOB,
                        agree INTEGER NOT NULL DEFAULT 0, disagree INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY(prog, model));
CREATE TABLE prev_models(prog INTEGER NOT NULL, model INTEGER NOT NULL,
                         version INTEGER NOT NULL, bytes INTEGER NOT NULL, loaded REAL NOT NULL,
                         blob BLOB NOT NULL, PRIMARY KEY(prog, model));
CREATE TABLE model_history(seq INTEGER PRIMARY KEY AUTOINCREMENT, prog INTEGER NOT NULL,
                           model INTEGER NOT NULL, version INTEGER NOT NULL, op TEXT NOT NULL,
                           time REAL NOT NULL, agree INTEGER NOT NULL DEFAULT 0,
                           disagree INTEGER NOT NULL DEFAULT 0);
CREATE INDEX model_history_by_model ON model_history(prog, model, seq);
"""


class SimTarget:
    """The control plane of the simulated kernel."""

    name = "sim"

    def __init__(self, state_dir: Path | None = None, factory: EngineFactory | None = None):
        self.dir = Path(state_dir) if state_dir else default_state_dir()
        self.db_path = self.dir / DB_NAME
        self.factory = factory or default_engine_factory()
        self._db: sqlite3.Connection | None = None      # the open transaction, if any
        self._write = False
        self._progs: dict[int, tuple[ProgInfo, objfile.Program]] = {}   # per transaction
        self._counts: dict[tuple[int, int], int] = {}                    # entries per table

    def make_engine(self, blob: bytes, jit: bool | None = None) -> Engine:
        """An engine for blob; `jit` picks the C VM's JIT or interpreter when it has both."""
        if jit is None or "jit" not in inspect.signature(self.factory).parameters:
            return self.factory(blob)
        return self.factory(blob, jit=jit)

    # ------------------------------------------------------------ the database

    def _db_error(self, e: Exception) -> TargetError:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            return TargetError(f"{self.db_path}: still locked by another writer after "
                               f"{BUSY_TIMEOUT_S:.0f} s; nothing was changed")
        if isinstance(e, sqlite3.OperationalError) and ("disk" in str(e) or "full" in str(e)):
            return TargetError(f"{self.db_path}: {e}; nothing was changed")
        return TargetError(f"{self.db_path}: the state database is damaged ({e}); move it "
                           f"aside (`mv {self.db_path} {self.db_path}.bad`) to start afresh")

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """A connection to the database; None when it does not exist and create is False
        (read-only commands never create state)."""
        legacy = (self.dir / "state.json").exists()
        if not self.db_path.exists():
            if not create and not legacy:
                return None
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.close(os.open(self.db_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                pass
            except OSError as e:
                raise TargetError(f"cannot create {self.db_path}: {e.strerror}") from None
        try:
            db = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                db.close()
                raise TargetError(f"{self.db_path}: schema version {version} was written by a "
                                  f"newer rmtctl (this one reads {SCHEMA_VERSION}); use that "
                                  f"rmtctl, or move the file aside to start afresh")
            if version < SCHEMA_VERSION:
                self._migrate(db, version, legacy)
        except sqlite3.DatabaseError as e:
            raise self._db_error(e) from None
        return db

    def _migrate(self, db: sqlite3.Connection, version: int, legacy: bool) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            now = db.execute("PRAGMA user_version").fetchone()[0]    # re-read under lock
            if now == 0:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
                if legacy:
                    n = self._import_legacy(db)
                    print(f"rmtctl: imported {n} program(s) from the old state layout in "
                          f"{self.dir} into {self.db_path} (the old files are kept; delete "
                          f"state.json and progs/ when done)", file=sys.stderr)
            if now < 2:
                for stmt in _SCHEMA_V2.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
            if now < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _import_legacy(self, db: sqlite3.Connection) -> int:
        """The pre-SQLite directory layout, read in full before anything is written."""
        where = self.dir / "state.json"
        try:
            state = json.loads(where.read_text())
            db.execute("UPDATE meta SET value=? WHERE key='next_id'", (int(state["next_id"]),))
            for sid, j in state["progs"].items():
                where = self.dir / "progs" / sid
                info = ProgInfo(**j)
                blob = (where / "prog.rmtb").read_bytes()
                prog = objfile.read(blob)

                def rd(name: str, default: Any) -> Any:
                    try:
                        return json.loads((where / name).read_text())
                    except FileNotFoundError:
                        return default
                db.execute("INSERT INTO progs(id, info, blob, stats) VALUES (?,?,?,?)",
                           (info.id, json.dumps(dataclasses.asdict(info)), blob,
                            json.dumps(rd("stats.json", {}))))
                for t, entries in rd("tables.json", {}).items():
                    for ej in entries:
                        e, hits = entry_from_json(ej)
                        db.execute("INSERT INTO entries(prog, tbl, ident, entry, priority, hits) "
                                   "VALUES (?,?,?,?,?,?)",
                                   (info.id, int(t), _ident_key(prog.tables[int(t)], e.match,
                                                                e.priority),
                                    json.dumps(entry_to_json(e)), e.priority, hits))
                for m, meta in rd("models.json", {}).items():
                    db.execute("INSERT INTO models VALUES (?,?,?,?,?,?)",
                               (info.id, int(m), meta["version"], meta["bytes"], meta["loaded"],
                                (where / "models" / f"{m}.bin").read_bytes()))
                for m, values in rd("maps.json", {}).items():
                    for k, v in values.items():
                        db.execute("INSERT INTO maps VALUES (?,?,?,?)",
                                   (info.id, int(m), int(k), v))
                tr = where / "trace.jsonl"
                if tr.exists():
                    for line in tr.read_text().splitlines():
                        try:
                            json.loads(line)
                        except ValueError:
                            continue                     # a half-written last line
                        db.execute("INSERT INTO traces(prog, rec) VALUES (?,?)", (info.id, line))
            return len(state["progs"])
        except (OSError, ValueError, KeyError, TypeError, IndexError, objfile.ObjError) as e:
            raise TargetError(f"{where}: cannot import the old state layout ({type(e).__name__}: "
                              f"{e}); move {self.dir} aside to start afresh") from None

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[sqlite3.Connection | None]:
        """One transaction; nested calls join the outermost (so `rmtctl batch` is all or
        nothing).  Yields None for a read when there is no database yet."""
        if self._db is not None:
            if write and not self._write:
                raise TargetError("internal: a write inside a read transaction")
            yield self._db
            return
        db = self._connect(create=write)
        if db is None:
            yield None
            return
        self._db, self._write = db, write
        self._progs, self._counts = {}, {}
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise self._db_error(e) from None
        finally:
            self._db = None
            self._progs, self._counts = {}, {}
            db.close()

    def _info(self, db: sqlite3.Connection | None, prog_id: int) -> ProgInfo:
        row = db.execute("SELECT info FROM progs WHERE id=?", (prog_id,)).fetchone() if db else None
        if row is None:
            where = "" if self.db_path.exists() else f" (no state in {self.dir})"
            raise TargetError(f"no program with id {prog_id}{where} (see `rmtctl list`)")
        try:
            return ProgInfo(**json.loads(row[0]))
        except (ValueError, TypeError) as e:
            raise TargetError(f"{self.db_path}: program {prog_id}: the stored record is corrupt "
                              f"({e}); `rmtctl remove --force {prog_id}` drops it") from None

    def _program(self, db: sqlite3.Connection | None, prog_id: int
                 ) -> tuple[ProgInfo, objfile.Program]:
        """A program's record and parsed object, parsed once per transaction."""
        if prog_id in self._progs:
            return self._progs[prog_id]
        info = self._info(db, prog_id)
        try:
            blob = db.execute("SELECT blob FROM progs WHERE id=?", (prog_id,)).fetchone()[0]
            self._progs[prog_id] = info, objfile.read(bytes(blob))
            return self._progs[prog_id]
        except (objfile.ObjError, TypeError, ValueError) as e:
            raise TargetError(f"{self.db_path}: program {prog_id}: the stored object is corrupt "
                              f"({e}); `rmtctl remove --force {prog_id}` drops it") from None

    @staticmethod
    def _engine_error(e: EngineError) -> TargetError:
        return TargetError(f"{e.code_name}: {e}")

    @contextmanager
    def session(self, prog_id: int) -> Iterator[Loaded]:
        """Run a program many times in one transaction: the engine is `.engine`; counters,
        hits, maps and trace records are folded into the state when the block ends
        (what `prog run` does for one batch; the simulators use it for long runs)."""
        with self.transaction() as db:
            p = Loaded(self, self._info(db, prog_id), db)
            try:
                yield p
            except EngineError as e:
                raise self._engine_error(e) from None
            p.save_after_runs(db)

    # ------------------------------------------------------------ programs

    def insert(self, blob: bytes, verdict: str, jit: bool | None = None) -> ProgInfo:
        try:
            prog = objfile.read(blob)
            self.make_engine(blob, jit)           # the engine's own loader must accept it too
        except objfile.ObjError as e:
            raise TargetError(f"malformed object: {e}") from None
        except EngineError as e:
            raise TargetError(f"the VM refused the program: {e.code_name}: {e}") from None
        with self.transaction() as db:
            pid = db.execute("SELECT value FROM meta WHERE key='next_id'").fetchone()[0]
            info = ProgInfo(pid, prog.name, prog.hook.name,
                            "shadow" if prog.mode else "enforce",
                            hashlib.sha256(blob).hexdigest()[:16], verdict, time.time(),
                            len(prog.code), jit)
            db.execute("INSERT INTO progs(id, info, blob) VALUES (?,?,?)",
                       (pid, json.dumps(dataclasses.asdict(info)), blob))
            db.execute("UPDATE meta SET value=? WHERE key='next_id'", (pid + 1,))
        return info

    def remove(self, prog_id: int, force: bool = False) -> None:
        """Drop a program and everything it owns; `force` skips reading its record (for a
        record that is corrupt)."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM progs WHERE id=?", (prog_id,)).fetchone() is None:
                raise TargetError(f"no program with id {prog_id} (see `rmtctl list`)")
            if not force:
                self._info(db, prog_id)
            for t in ("entries", "models", "maps", "traces", "candidates", "prev_models",
                      "model_history"):
                db.execute(f"DELETE FROM {t} WHERE prog=?", (prog_id,))
            db.execute("DELETE FROM progs WHERE id=?", (prog_id,))
            self._progs.pop(prog_id, None)
            self._counts = {k: v for k, v in self._counts.items() if k[0] != prog_id}

    def list(self) -> list[ProgInfo]:
        with self.transaction(write=False) as db:
            if db is None:
                return []
            return [self._info(db, i) for (i,) in db.execute("SELECT id FROM progs ORDER BY id")]

    def program(self, prog_id: int) -> tuple[ProgInfo, objfile.Program]:
        with self.transaction(write=False) as db:
            return self._program(db, prog_id)

    # ------------------------------------------------------------ tables

    def _table(self, prog: objfile.Program, prog_id: int, table: int) -> objfile.Table:
        if not 0 <= table < len(prog.tables):
            raise TargetError(f"program {prog_id} has no table {table}")
        return prog.tables[table]

    def table_write(self, prog_id: int, table: int, entry: Entry, modify: bool = False) -> None:
        """Add (or modify) one entry: validated by the reference semantics against the
        table's declaration, checked against the stored entries by identity; one row."""
        with self.transaction() as db:
            _, prog = self._program(db, prog_id)
            t = self._table(prog, prog_id, table)
            check = TableState(t)
            try:
                check.insert(entry)                 # every check but duplicates and capacity
            except EngineError as e:
                raise self._engine_error(e) from None
            stored = check.entries[0].entry
            act = t.actions[stored.action]
            stored = dataclasses.replace(stored, params=stored.params[:act.param_size])
            key = _norm_key(t, stored.match, stored.priority)
            ej = json.dumps(entry_to_json(stored))
            exists = db.execute("SELECT seq FROM entries WHERE prog=? AND tbl=? AND ident=?",
                                (prog_id, table, key)).fetchone()
            pri = " and priority" if is_priority_table(t) else ""
            if modify:
                if exists is None:
                    raise self._engine_error(EngineError(
                        errno.ENOENT, f"table {t.name}: no such entry to modify"))
                db.execute("UPDATE entries SET entry=? WHERE seq=?", (ej, exists[0]))
                return
            if exists is not None:
                raise self._engine_error(EngineError(
                    errno.EEXIST, f"table {t.name}: an entry with this match{pri} exists"))
            n = self._counts.get((prog_id, table))
            if n is None:
                n = db.execute("SELECT COUNT(*) FROM entries WHERE prog=? AND tbl=?",
                               (prog_id, table)).fetchone()[0]
            if n >= t.max_entries:
                raise self._engine_error(EngineError(
                    errno.ENOSPC, f"table {t.name}: full ({t.max_entries} entries)"))
            db.execute("INSERT INTO entries(prog, tbl, ident, entry, priority) VALUES (?,?,?,?,?)",
                       (prog_id, table, key, ej, stored.priority))
            self._counts[(prog_id, table)] = n + 1

    def table_delete(self, prog_id: int, table: int, match: tuple[Match, ...],
                     priority: int = 0) -> None:
        with self.transaction() as db:
            _, prog = self._program(db, prog_id)
            t = self._table(prog, prog_id, table)
            try:
                key = _ident_key(t, match, priority)
            except EngineError as e:
                raise self._engine_error(e) from None
            cur = db.execute("DELETE FROM entries WHERE prog=? AND tbl=? AND ident=?",
                             (prog_id, table, key))
            self._counts.pop((prog_id, table), None)
            if cur.rowcount == 0:
                raise self._engine_error(EngineError(
                    errno.ENOENT, f"table {t.name}: no such entry to delete"))

    def table_clear(self, prog_id: int, table: int) -> int:
        """Delete every entry of a table; returns how many there were."""
        with self.transaction() as db:
            _, prog = self._program(db, prog_id)
            self._table(prog, prog_id, table)
            self._counts.pop((prog_id, table), None)
            return db.execute("DELETE FROM entries WHERE prog=? AND tbl=?",
                              (prog_id, table)).rowcount

    def table_dump(self, prog_id: int, table: int) -> list[EntryState]:
        with self.transaction(write=False) as db:
            _, prog = self._program(db, prog_id)
            self._table(prog, prog_id, table)
            try:
                return [EntryState(entry_from_json(json.loads(ej))[0], hits) for ej, hits in
                        db.execute("SELECT entry, hits FROM entries WHERE prog=? AND tbl=? "
                                   "ORDER BY seq", (prog_id, table))]
            except (ValueError, KeyError, TypeError) as e:
                raise TargetError(f"{self.db_path}: program {prog_id}: a stored entry is corrupt "
                                  f"({e}); `rmtctl table clear {prog_id} {table}` drops the "
                                  f"table's entries") from None

    def table_entries_at(self, prog_id: int, table: int, priority: int) -> list[Entry]:
        """The entries of one priority (for the overlap warning), from the index."""
        with self.transaction(write=False) as db:
            if db is None:
                return []
            return [entry_from_json(json.loads(ej))[0] for (ej,) in db.execute(
                "SELECT entry FROM entries WHERE prog=? AND tbl=? AND priority=? ORDER BY seq",
                (prog_id, table, priority))]

    # ------------------------------------------------------------ models, maps

    def _check_weights(self, db: sqlite3.Connection, prog_id: int, model: int, blob: bytes
                       ) -> int:
        """Validate weights on a fresh engine of the program (no entries replayed), as
        `model load` and `model stage` both do; returns the blob's own version (0: none)."""
        info = self._info(db, prog_id)
        _, prog = self._program(db, prog_id)
        if not 0 <= model < len(prog.models):
            raise TargetError(f"ENOENT: program {prog_id} has no model {model}")
        pblob = bytes(db.execute("SELECT blob FROM progs WHERE id=?", (prog_id,)).fetchone()[0])
        try:
            self.make_engine(pblob, info.jit).model_load(model, blob)
        except EngineError as e:
            raise self._engine_error(e) from None
        return WHEADER.unpack(blob)["model_version"]         # the engine read it whole

    def _next_version(self, db: sqlite3.Connection, prog_id: int, model: int, own: int) -> int:
        """The blob's own version, else one above every version the model has had."""
        if own:
            return own
        top = db.execute("SELECT MAX(v) FROM (SELECT version AS v FROM models WHERE prog=? AND "
                         "model=? UNION ALL SELECT version FROM model_history WHERE prog=? AND "
                         "model=?)", (prog_id, model, prog_id, model)).fetchone()[0]
        return (top or 0) + 1

    def _event(self, db: sqlite3.Connection, prog_id: int, model: int, version: int, op: str,
               agree: int = 0, disagree: int = 0) -> None:
        db.execute("INSERT INTO model_history(prog, model, version, op, time, agree, disagree) "
                   "VALUES (?,?,?,?,?,?,?)", (prog_id, model, version, op, time.time(), agree,
                                              disagree))

    def _retire_live(self, db: sqlite3.Connection, prog_id: int, model: int) -> None:
        """The live weights become the ones a rollback restores."""
        db.execute("DELETE FROM prev_models WHERE prog=? AND model=?", (prog_id, model))
        db.execute("INSERT INTO prev_models SELECT prog, model, version, bytes, loaded, blob "
                   "FROM models WHERE prog=? AND model=?", (prog_id, model))

    def model_load(self, prog_id: int, model: int, blob: bytes) -> int:
        """Validate the weights and store them; versions count up across commands; the
        replaced weights are kept for `model rollback`."""
        with self.transaction() as db:
            own = self._check_weights(db, prog_id, model, blob)
            version = self._next_version(db, prog_id, model, own)
            self._retire_live(db, prog_id, model)
            db.execute("INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?)",
                       (prog_id, model, version, len(blob), time.time(), blob))
            self._event(db, prog_id, model, version, "load")
            return version

    def model_stage(self, prog_id: int, model: int, blob: bytes) -> int:
        """Stage a candidate beside the live weights: the same checks as a load, and the
        cost check (rmt.ctl.candidates); its agreement counts start from 0."""
        with self.transaction() as db:
            _, prog = self._program(db, prog_id)
            own = self._check_weights(db, prog_id, model, blob)
            try:
                check_stage_cost(prog, model)
            except StageRefused as e:
                raise TargetError(str(e)) from None
            version = self._next_version(db, prog_id, model, own)
            db.execute("INSERT OR REPLACE INTO candidates VALUES (?,?,?,?,?,?,0,0)",
                       (prog_id, model, version, len(blob), time.time(), blob))
            self._event(db, prog_id, model, version, "stage")
            return version

    def _candidate(self, db: sqlite3.Connection, prog_id: int, model: int
                   ) -> tuple[int, int, bytes, int, int]:
        _, prog = self._program(db, prog_id)
        if not 0 <= model < len(prog.models):
            raise TargetError(f"ENOENT: program {prog_id} has no model {model}")
        row = db.execute("SELECT version, bytes, blob, agree, disagree FROM candidates "
                         "WHERE prog=? AND model=? AND blob IS NOT NULL",
                         (prog_id, model)).fetchone()
        if row is None:
            raise TargetError(f"ENOENT: model {prog.models[model].name}: no candidate is "
                              f"staged (`rmtctl model stage` first)")
        return row[0], row[1], bytes(row[2]), row[3], row[4]

    def model_promote(self, prog_id: int, model: int) -> int:
        """The candidate becomes the live weights (the old ones kept for a rollback)."""
        with self.transaction() as db:
            version, n, blob, agree, disagree = self._candidate(db, prog_id, model)
            self._retire_live(db, prog_id, model)
            db.execute("INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?)",
                       (prog_id, model, version, n, time.time(), blob))
            db.execute("UPDATE candidates SET blob=NULL WHERE prog=? AND model=?",
                       (prog_id, model))
            self._event(db, prog_id, model, version, "promote", agree, disagree)
            return version

    def model_unstage(self, prog_id: int, model: int) -> int:
        with self.transaction() as db:
            version, _, _, agree, disagree = self._candidate(db, prog_id, model)
            db.execute("UPDATE candidates SET blob=NULL WHERE prog=? AND model=?",
                       (prog_id, model))
            self._event(db, prog_id, model, version, "unstage", agree, disagree)
            return version

    def model_rollback(self, prog_id: int, model: int) -> int:
        """Restore the weights the last load or promote replaced (one level)."""
        with self.transaction() as db:
            _, prog = self._program(db, prog_id)
            if not 0 <= model < len(prog.models):
                raise TargetError(f"ENOENT: program {prog_id} has no model {model}")
            row = db.execute("SELECT version, bytes, blob FROM prev_models WHERE prog=? AND "
                             "model=?", (prog_id, model)).fetchone()
            if row is None:
                raise TargetError(f"ENOENT: model {prog.models[model].name}: no previous "
                                  f"weights to roll back to")
            db.execute("INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?)",
                       (prog_id, model, row[0], row[1], time.time(), bytes(row[2])))
            db.execute("DELETE FROM prev_models WHERE prog=? AND model=?", (prog_id, model))
            self._event(db, prog_id, model, row[0], "rollback")
            return row[0]

    def model_info(self, prog_id: int) -> dict[int, dict[str, Any]]:
        """Per model with any weights: the live version, and the candidate and previous
        versions (0: none) with the candidate's agreement counts."""
        with self.transaction(write=False) as db:
            self._info(db, prog_id)
            out: dict[int, dict[str, Any]] = {
                m: {"version": v, "bytes": n, "loaded": t} for m, v, n, t in db.execute(
                    "SELECT model, version, bytes, loaded FROM models WHERE prog=?",
                    (prog_id,))}
            for m, v, blob_set, a, d in db.execute(
                    "SELECT model, version, blob IS NOT NULL, agree, disagree FROM candidates "
                    "WHERE prog=?", (prog_id,)):
                out.setdefault(m, {}).update(candidate=v if blob_set else 0, agree=a,
                                             disagree=d)
            for m, v in db.execute("SELECT model, version FROM prev_models WHERE prog=?",
                                   (prog_id,)):
                out.setdefault(m, {})["previous"] = v
            return out

    def model_history(self, prog_id: int, model: int) -> list[dict[str, Any]]:
        """Every load, stage, promote, unstage and rollback of the model, oldest first."""
        with self.transaction(write=False) as db:
            _, prog = self._program(db, prog_id)
            if not 0 <= model < len(prog.models):
                raise TargetError(f"ENOENT: program {prog_id} has no model {model}")
            return [{"version": v, "op": op, "time": t, "agree": a, "disagree": d}
                    for v, op, t, a, d in db.execute(
                        "SELECT version, op, time, agree, disagree FROM model_history "
                        "WHERE prog=? AND model=? ORDER BY seq", (prog_id, model))]

    def map_dump(self, prog_id: int, map_id: int) -> dict[int, int]:
        with self.transaction(write=False) as db:
            _, prog = self._program(db, prog_id)
            if not 0 <= map_id < len(prog.maps):
                raise TargetError(f"EINVAL: program {prog_id} has no map {map_id}")
            try:
                check_readable(prog.maps[map_id])          # as RMT_IOC_MAP_READ does
            except EngineError as e:
                raise self._engine_error(e) from None
            return dict(db.execute("SELECT key, value FROM maps WHERE prog=? AND map=?",
                                   (prog_id, map_id)).fetchall())

    # ------------------------------------------------------------ running, counters

    def run(self, prog_id: int, ctxs: list[tuple[bytes, int, int]],
            kernel_decision: int | None = None) -> list[RunResult]:
        """Run the program once per (ctx, cpu, now); the effects are one transaction."""
        with self.session(prog_id) as p:
            out = []
            for ctx, cpu, now in ctxs:
                r = p.engine.run(ctx, cpu=cpu, now=now)
                if p.prog.mode and kernel_decision is not None:
                    p.engine.shadow_account(r.decision, kernel_decision)
                out.append(r)
            return out

    def stats_json(self, prog_id: int) -> dict[str, Any]:
        """The stored counters, with the sim's own (`shadow_default`)."""
        with self.transaction(write=False) as db:
            self._info(db, prog_id)
            try:
                j = json.loads(db.execute("SELECT stats FROM progs WHERE id=?",
                                          (prog_id,)).fetchone()[0] or "{}")
                _stats_from_json(j)
            except (ValueError, TypeError) as e:
                raise TargetError(f"{self.db_path}: program {prog_id}: the stored counters are "
                                  f"corrupt ({e}); `rmtctl remove --force {prog_id}` drops "
                                  f"the program") from None
            return j

    def stats(self, prog_id: int) -> Stats:
        return _stats_from_json(self.stats_json(prog_id))

    def trace(self, prog_id: int, drain: bool = True,
              sink: Callable[[list[TraceRecord]], None] | None = None) -> list[TraceRecord]:
        """The records not yet drained.  With `sink`, they are handed to it first and
        deleted only when it returns (it makes them durable); a sink that raises leaves
        every record in place."""
        with self.transaction(write=drain) as db:
            self._info(db, prog_id)
            rows = db.execute("SELECT seq, rec FROM traces WHERE prog=? ORDER BY seq",
                              (prog_id,)).fetchall()
            recs = []
            for seq, line in rows:
                try:
                    j = json.loads(line)
                    recs.append(TraceRecord(j["fmt"], j["cpu"], j["ts"], tuple(j["values"])))
                except (ValueError, KeyError, TypeError) as e:
                    raise TargetError(f"{self.db_path}: program {prog_id}: trace record {seq} is "
                                      f"corrupt ({e}); `rmtctl remove --force {prog_id}` drops "
                                      f"the program") from None
            if sink is not None:
                sink(recs)
            if drain and rows:
                db.execute("DELETE FROM traces WHERE prog=? AND seq<=?", (prog_id, rows[-1][0]))
            return recs
