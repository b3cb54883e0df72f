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


def test_staged_tree_imports_the_staged_modules(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of staging: with src/ first on sys.path (mutmut's setup_source_paths),
    `import rmt.verifier.taint` loads the staged copy, not the editable install's."""
    monkeypatch.setattr(mutate_py, "STAGE", tmp_path)
    ms = next(s for s in mutate_py.SETS if s.name == "taint")
    root = mutate_py.stage(ms)
    conf = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert conf["source_paths"] == ["src/rmt/verifier/taint.py"]
    assert (root / conf["source_paths"][0]).is_file()
    code = ("import sys; sys.path.insert(0, 'src'); import rmt.verifier.taint as t, "
            "rmt.semantics.validate as v; print(t.__file__); print(v.__file__)")
    got = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True).stdout.split()
    assert [Path(p).resolve() for p in got] == [
        (root / "src/rmt/verifier/taint.py").resolve(),
        (root / "src/rmt/semantics/validate.py").resolve()]
