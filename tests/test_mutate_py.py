"""tools/mutate_py.py (make mutate-py) stages the packages so that mutmut's mutants are what
the tests import; the mutation run itself is long and not part of `make test`."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import mutate_py

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("ms", mutate_py.SETS, ids=lambda s: s.name)
def test_set_names_real_modules_and_selects_tests(ms: mutate_py.MutSet) -> None:
    for m in ms.modules:
        pkg, _, mod = m.partition(".")
        folder = mutate_py._packages()[f"rmt.{pkg}"]
        assert (ROOT / folder / f"{mod}.py").is_file(), m
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", *ms.tests],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # -q twice (addopts and here): one "path: N" line per test file
    counts = [int(ln.rpartition(": ")[2]) for ln in out.stdout.splitlines() if ": " in ln]
    assert sum(counts) >= 20, out.stdout


def test_mutmut_copy_imports_the_mutants(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of staging: after mutmut's own copy into mutants/ and its sys.path setup,
    `rmt.verifier` is a whole package (its __init__ runs) and `rmt.verifier.taint` is the
    copy mutmut mutates, not the editable install's verifier/taint.py."""
    monkeypatch.setattr(mutate_py, "STAGE", tmp_path)
    ms = next(s for s in mutate_py.SETS if s.name == "taint")
    root = mutate_py.stage(ms)
    conf = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert conf["source_paths"] == ["src/rmt/verifier/taint.py"]
    code = ("from mutmut.utils.file_utils import copy_src_dir, copy_also_copy_files, "
            "setup_source_paths\n"
            "copy_src_dir(); copy_also_copy_files(); setup_source_paths()\n"
            "from rmt.verifier import VerifyOptions\n"
            "import rmt.verifier.taint as t, rmt.semantics.validate as v\n"
            "print(t.__file__); print(v.__file__)\n")
    got = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True).stdout.splitlines()[-2:]   # after "also copying"
    assert [Path(p).resolve() for p in got] == [
        (root / "mutants/src/rmt/verifier/taint.py").resolve(),
        (root / "mutants/src/rmt/semantics/validate.py").resolve()]


@pytest.mark.parametrize("argv", [["show", "rmt.verifier.taint.x_check__mutmut_1"],
                                  ["score"], ["score", "--set", "taint"]])
def test_reading_a_set_never_run_is_one_line(argv: list[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(mutate_py, "STAGE", tmp_path)
    assert mutate_py.main(argv) == 1
    cap = capsys.readouterr()
    assert cap.out == "" and len(cap.err.strip().splitlines()) == 1, cap
    assert "run it first" in cap.err and "taint" in cap.err


def test_score_reads_the_sets_that_have_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(mutate_py, "STAGE", tmp_path)
    (tmp_path / "taint" / "mutants").mkdir(parents=True)
    assert mutate_py.main(["score"]) == 0
    rows = [ln.split()[0] for ln in capsys.readouterr().out.splitlines()[1:]]
    assert rows == ["verifier.taint", "total"]


def test_one_list_of_default_sets() -> None:
    """`make mutate-py` runs the tool's DEFAULT_SETS unless MUTATE_PY_SETS is given."""
    names = {s.name for s in mutate_py.SETS}
    assert set(mutate_py.DEFAULT_SETS) <= names
    out = subprocess.run(["make", "-n", "mutate-py"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    run = next(ln for ln in out.splitlines() if "mutate_py.py run" in ln)
    assert "--set" not in run, run
