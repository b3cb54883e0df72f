"""The layer contract of pyproject.toml ([tool.rmt] layers; tools/check_layers.py): imports
between the rmt packages point down the layers and no modules import each other in a loop.
The last two tests plant an upward import and a cycle in a copy of the tree and show the check
names them."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import check_layers  # noqa: E402


def test_tree_keeps_the_layer_contract() -> None:
    assert check_layers.check() == []


def test_every_package_is_in_a_layer() -> None:
    c = check_layers.load_contract()
    assert {p for row in c.layers for p in row} == set(c.package_dir)


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """The Python sources of every mapped package and pyproject.toml, copied."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for folder in check_layers.load_contract().package_dir.values():
        (tmp_path / folder).mkdir(parents=True)
        for f in (ROOT / folder).glob("*.py"):
            shutil.copy(f, tmp_path / folder)
    assert check_layers.check(tmp_path) == []
    return tmp_path


def test_an_upward_import_is_named(tree: Path) -> None:
    isa = tree / "contract" / "isa.py"
    isa.write_text(isa.read_text() + "\n\ndef _late():\n    from rmt.verifier import verify\n")
    layer = [p for p in check_layers.check(tree) if not p.startswith("import cycle:")]
    assert len(layer) == 1, layer          # (it also closes a loop: the verifier imports isa)
    assert layer[0].startswith("contract/isa.py:")
    assert "rmt.contract.isa imports rmt.verifier" in layer[0] and "higher layer" in layer[0]


def test_an_import_cycle_is_named(tree: Path) -> None:
    a, b = tree / "compiler" / "fold.py", tree / "compiler" / "peephole.py"
    a.write_text(a.read_text() + "\nfrom rmt.compiler import peephole  # noqa\n")
    b.write_text(b.read_text() + "\nfrom rmt.compiler import fold  # noqa\n")
    problems = check_layers.check(tree)
    assert any(p.startswith("import cycle:") and "rmt.compiler.fold" in p
               and "rmt.compiler.peephole" in p for p in problems), problems


def test_command_exits_nonzero_on_violation(tree: Path) -> None:
    lang = tree / "rmt_lang" / "errors.py"
    lang.write_text(lang.read_text() + "\nfrom rmt.ctl import cli  # noqa\n")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "check_layers.py"), "--root",
                        str(tree)], capture_output=True, text=True)
    assert r.returncode == 1 and "rmt.lang.errors imports rmt.ctl.cli" in r.stdout


def test_a_folder_name_import_is_named(tree: Path) -> None:
    (tree / "tests").mkdir()
    (tree / "tests" / "test_x.py").write_text("import compiler.driver\n")
    assert check_layers.check(tree) == [
        "tests/test_x.py:1: imports compiler.driver by its folder name; use rmt.compiler"]
