"""`import rmt`: the documented Python entry point (rmt/__init__.py) compiles, verifies, loads
into each engine, writes weights and runs a decision, and the engines agree on it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import rmt

ROOT = Path(__file__).resolve().parents[1]


def test_import_rmt_loads_no_stage() -> None:
    """The facade is cheap to import: no stage (Z3, llvmlite, the C VM) until asked for."""
    code = ("import sys, rmt; print(sorted(m for m in sys.modules "
            "if m.startswith('rmt.') or m in ('z3', 'llvmlite', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_session_from_source_to_decision(tmp_path: Path) -> None:
    prog = rmt.compile_file(ROOT / "examples" / "forced_migration.rmt")
    assert rmt.verify(prog).accepted
    blob = rmt.write_object(prog, tmp_path / "fm.rmtb")
    assert (tmp_path / "fm.rmtb").read_bytes() == blob
    assert rmt.read_object(tmp_path / "fm.rmtb").name == prog.name
    ctx = {f.name: 0 for f in prog.hook.fields}
    results = {kind: rmt.run(rmt.engine(prog, kind), prog, ctx) for kind in ("ref", "c", "jit")}
    assert len({(r.decision, r.abort) for r in results.values()}) == 1, results


def test_compile_error_is_the_located_error() -> None:
    with pytest.raises(rmt.CompileError) as e:
        rmt.compile("hook sched.can_migrate_task;\naction a() { return NOPE; }\n", "bad.rmt")
    assert "bad.rmt:2:" in e.value.rendered


def test_unknown_names_say_what_exists() -> None:
    with pytest.raises(ValueError, match="engines: c, jit, ref, llvm"):
        rmt.engine(b"", "gpu")
    with pytest.raises(ValueError, match="targets: sim, kernel"):
        rmt.target("cloud")


def test_sim_target(tmp_path: Path) -> None:
    t = rmt.target("sim", state_dir=tmp_path)
    assert t.name == "sim"
