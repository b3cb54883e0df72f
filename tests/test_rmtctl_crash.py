"""Kill `rmtctl` at every filesystem write of every mutating sim-target command.

Each command is first run to completion from a prepared state ("old") to learn
its result ("new") and how many times it calls each mutating syscall (write,
pwrite64, fsync, fdatasync, ftruncate, rename*, unlink*, mkdir*).  Then, for
every (syscall, n), the command is rerun from a fresh copy of the old state
under `strace --inject=SYSCALL:signal=KILL:when=n`, which kills it as it
enters its n-th call of that syscall.  The state afterwards must read back as
exactly the old or exactly the new one (0 mixed), and rmtctl must keep working
on it (0 broken).  A trace drain to a file must never lose a record: when the
state says drained, the file holds them all.

`make test` kills each command at its first and its last write only (QEMU-free
but slow under load: ~3 s a run); `make test-crash` (RMT_CRASH_FULL=1) runs
every crash point and prints the totals.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from rmt.contract import objfile
from rmt.ctl.sim import Loaded, SimTarget, TargetError
from test_rmtctl_sim import program

ROOT = Path(__file__).resolve().parent.parent
STRACE = shutil.which("strace")
SYSCALLS = ("write,pwrite64,fsync,fdatasync,ftruncate,rename,renameat,renameat2,unlink,"
            "unlinkat,mkdir,mkdirat")
FULL = os.environ.get("RMT_CRASH_FULL") == "1"
pytestmark = pytest.mark.skipif(STRACE is None, reason="strace is not installed "
                                "(apt-get install strace): it injects the kills")


def rmtctl_argv(state: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "rmt.ctl.cli", "--state", str(state), "--engine", "ref", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def run(state: Path, *args: str, inject: str | None = None, log: Path | None = None
        ) -> subprocess.CompletedProcess:
    argv = rmtctl_argv(state, *args)
    if inject or log:
        pre = [STRACE, "-f", "-qq", "-e", f"trace={SYSCALLS}", "-o", str(log or os.devnull)]
        if inject:
            pre += ["-e", f"inject={inject}"]
        argv = pre + argv
    return subprocess.run(argv, cwd=state.parent, env=env(), capture_output=True, text=True,
                          timeout=120)


def snapshot(state: Path) -> object:
    """The state as data (timestamps dropped), read straight from the database."""
    db = state / "state.db"
    if not db.exists():
        return "empty"
    con = sqlite3.connect(db)
    try:
        if con.execute("PRAGMA user_version").fetchone()[0] == 0:
            return "empty"
        progs = []
        for pid, info, blob, stats in con.execute("SELECT id, info, blob, stats FROM progs "
                                                  "ORDER BY id"):
            info = json.loads(info)
            info.pop("inserted")
            progs.append((pid, info, bytes(blob).hex()[:64], json.loads(stats)))
        return {
            "meta": con.execute("SELECT * FROM meta").fetchall(),
            "progs": progs,
            "entries": con.execute("SELECT prog, tbl, entry, hits FROM entries ORDER BY seq"
                                   ).fetchall(),
            "models": con.execute("SELECT prog, model, version, bytes, blob FROM models "
                                  "ORDER BY prog, model").fetchall(),
            "maps": con.execute("SELECT * FROM maps ORDER BY prog, map, key").fetchall(),
            "traces": con.execute("SELECT prog, rec FROM traces ORDER BY seq").fetchall(),
            "candidates": con.execute("SELECT prog, model, version, blob, agree, disagree "
                                      "FROM candidates ORDER BY prog, model").fetchall(),
            "prev_models": con.execute("SELECT prog, model, version, blob FROM prev_models "
                                       "ORDER BY prog, model").fetchall(),
            "model_history": con.execute("SELECT prog, model, version, op, agree, disagree "
                                         "FROM model_history ORDER BY seq").fetchall(),
        }
    finally:
        con.close()


def usable(state: Path, where: str) -> None:
    """Not broken: every program still loads into an engine with its entries, weights and
    maps, and its tables and traces read back (what any next command needs)."""
    from rmt.semantics.reference import ReferenceEngine
    t = SimTarget(state, ReferenceEngine)
    try:
        for info in t.list():
            Loaded(t, info)
            _, prog = t.program(info.id)
            for i in range(len(prog.tables)):
                t.table_dump(info.id, i)
            t.trace(info.id, drain=False)
            t.stats(info.id)
    except TargetError as e:
        raise AssertionError(f"{where}: the state is broken: {e}") from None


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The old state: two programs, entries, map values, hits and pending trace records,
    a model with weights, previous weights and a staged candidate; plus the input files the
    commands read."""
    d = tmp_path_factory.mktemp("crash")
    (d / "demo.rmtb").write_bytes(objfile.write(program()))
    subprocess.run([str(ROOT / ".venv/bin/rmtc"), "compile", str(ROOT / "examples/"
                   "forced_migration.rmt"), "-o", str(d / "fm.rmtb")], check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "rmt.casestudies.example_weights", str(d / "fm.rmtb"),
                    "-o", str(d)], check=True, capture_output=True)
    (d / "ctx.json").write_text(json.dumps({"a": 5, "b": 15}))
    (d / "entries.txt").write_text("".join(f"{i} {i}..{i + 1} action set {i}\n"
                                           for i in range(100, 108)))
    (d / "batch.txt").write_text("table add 1 policy 7 0..1 action set 7\n"
                                 "table del 1 policy 5 10..20\n"
                                 "model load 2 predictor ../predictor.bin\n"
                                 "table add name forced_migration policy 0 0..1024 action "
                                 "predict 0 0\n")
    state = d / "old"
    from rmt.semantics.reference import ReferenceEngine
    t = SimTarget(state, ReferenceEngine)        # no verifier: the state is what matters here
    for name in ("demo.rmtb", "fm.rmtb"):
        t.insert((d / name).read_bytes(), "forced")
    for argv in (("table", "add", "1", "policy", "5", "10..20", "action", "set", "42"),
                 ("table", "add", "1", "policy", "6", "10..20", "action", "nop"),
                 ("prog", "run", "1", "--ctx", "ctx.json", "--repeat", "3"),
                 ("model", "load", "2", "predictor", "predictor.bin"),
                 ("model", "load", "2", "predictor", "predictor.bin"),   # one to roll back to
                 ("model", "stage", "2", "predictor", "predictor.bin")):
        r = run(state, *argv)
        assert r.returncode == 0, (argv, r.stderr)
    return d


COMMANDS = {
    "insert": ("insert", "../demo.rmtb", "--force"),
    "remove": ("remove", "1"),
    "table add": ("table", "add", "1", "policy", "9", "1..2", "action", "set", "9"),
    "table mod": ("table", "mod", "1", "policy", "5", "10..20", "action", "set", "43"),
    "table del": ("table", "del", "1", "policy", "5", "10..20"),
    "table clear": ("table", "clear", "1", "policy"),
    "table add -f": ("table", "add", "1", "policy", "-f", "../entries.txt"),
    "batch": ("batch", "../batch.txt"),
    "model load": ("model", "load", "2", "predictor", "../predictor.bin"),
    "model stage": ("model", "stage", "2", "predictor", "../predictor.bin"),
    "model promote": ("model", "promote", "2", "predictor"),
    "model rollback": ("model", "rollback", "2", "predictor"),
    "model unstage": ("model", "unstage", "2", "predictor"),
    "prog run": ("prog", "run", "1", "--ctx", "../ctx.json", "--repeat", "5"),
    "trace -o": ("trace", "1", "-o", "out.jsonl"),      # in the run's own directory
    "trace": ("trace", "1"),
}


def _fresh(base: Path, name: str) -> Path:
    work = base / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    shutil.copytree(base / "old", work / "state")
    return work / "state"


@pytest.mark.parametrize("name", list(COMMANDS), ids=lambda n: n.replace(" ", "_"))
def test_kill_at_every_write_leaves_old_or_new_state(base, name):
    argv = COMMANDS[name]
    old = snapshot(base / "old")
    state = _fresh(base, "ref")
    log = base / "ref.strace"
    r = run(state, *argv, log=log)
    assert r.returncode == 0, r.stderr
    new = snapshot(state)
    assert new != old, f"{name} changed nothing: the test would prove nothing"
    calls = Counter(m.group(1) for m in re.finditer(r"^\d+\s+(\w+)\(", log.read_text(), re.M))
    points = [(sc, n) for sc, k in sorted(calls.items()) for n in range(1, k + 1)]
    assert points, "no mutating syscall seen"
    if not FULL:                      # the first and the last write (the commit's end)
        points = sorted({points[0], points[-1]})
    outcome = Counter()
    for sc, n in points:
        state = _fresh(base, "crash")
        out = state.parent / "out.jsonl"
        r = run(state, *argv, inject=f"{sc}:signal=KILL:when={n}")
        got = snapshot(state)
        kind = "old" if got == old else "new" if got == new else "mixed"
        outcome[kind] += 1
        assert kind != "mixed", f"{name}: killed at {sc} #{n}: state is neither old nor new"
        usable(state, f"{name}: killed at {sc} #{n}")
        if name == "trace -o" and kind == "new":            # drained: the file holds them all
            lines = out.read_text().splitlines() if out.exists() else []
            assert len(lines) == len(old["traces"]), (sc, n, lines)
    print(f"{name}: {len(points)} crash points: {dict(outcome)}")
