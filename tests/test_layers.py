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
import check_layers

ROOT = Path(__file__).resolve().parents[1]


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


def test_a_folder_name_module_run_is_named(tree: Path) -> None:
    (tree / "docs").mkdir()
    m = "-" + "m"          # (spelled apart so this file does not trip the check itself)
    (tree / "docs" / "x.md").write_text(f"run `python {m} verifier prog.rmtb` or\n"
                                        f"`python {m} rmt.verifier prog.rmtb`\n")
    (tree / "t.py").write_text(f'cmd = [sys.executable, "{m}", "rmtctl.cli"]\n')
    assert check_layers.check(tree) == [
        f"docs/x.md:1: runs {m} verifier by its folder name; use {m} rmt.verifier",
        f"t.py:1: runs {m} rmtctl by its folder name; use {m} rmt.ctl"]


def test_wheel_installs_only_the_rmt_namespace(tmp_path: Path) -> None:
    """A built wheel puts nothing generic into site-packages: every module is under rmt/
    (the repo's folders are mapped there by pyproject.toml), plus the dist-info."""
    import zipfile
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = tmp_path.glob("rmt-*.whl")
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"rmt"}, tops
    names = set(zipfile.ZipFile(wheel).namelist())
    for mod in ("rmt/__init__.py", "rmt/contract/isa.py", "rmt/lang/grammar.lark",
                "rmt/compiler/driver.py", "rmt/ctl/cli.py", "rmt/casestudies/demo.py",
                "rmt/qemu/setup.sh"):
        assert mod in names, mod
    assert any(n.startswith("rmt/vm/_rmt_cffi") for n in names), "the C VM extension"


def test_vm_without_sources_uses_the_installed_build(monkeypatch, tmp_path: Path) -> None:
    """Installed from a wheel there is no vm_kernel/ to digest or rebuild from: load_lib uses
    the extension that was installed instead of failing on a digest of nothing."""
    from rmt.vm import _build, lib
    monkeypatch.setattr(_build, "CORE_DIR", tmp_path / "absent")
    mod = lib.load_lib.__wrapped__(False)
    assert mod.__name__ == _build.MODULE and mod.lib.rmt_vm_create


def test_a_sys_path_edit_is_named_outside_the_fuzz_corpus(tree: Path) -> None:
    (tree / "tests").mkdir()
    (tree / "tests" / "test_x.py").write_text(
        "import sys\nsys.path.insert(0, 'tools')\nsys.path[:0] = ['a']\nsys.path += ['b']\n"
        "print(sys.path)\n")
    (tree / "tools" / "fuzz").mkdir(parents=True)
    (tree / "tools" / "fuzz" / "drive.py").write_text("import sys\nsys.path.append('x')\n")
    assert [p.split(": ")[0] for p in check_layers.check(tree)] == [
        "tests/test_x.py:2", "tests/test_x.py:3", "tests/test_x.py:4"]


def test_a_module_that_does_not_parse_is_named_not_a_traceback(tree: Path) -> None:
    (tree / "compiler" / "fold.py").write_text("<<<<<<< HEAD\nx = 1\n")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "check_layers.py"), "--root",
                        str(tree)], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "compiler/fold.py:1: does not parse" in r.stdout
