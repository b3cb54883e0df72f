"""Where the case studies find the project's data (rmt.contract.project): a source checkout
found from $RMT_HOME, the package's own checkout or the working directory; anything else is a
one-line error from the console scripts, never a traceback about a missing examples/ file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmt.contract import project

BIN = Path(sys.executable).parent


def _checkout(d: Path) -> Path:
    for m in project.MARKERS:
        (d / m).mkdir(parents=True)
    return d


@pytest.fixture
def no_package_checkout(monkeypatch, tmp_path: Path) -> Path:
    """As installed from a wheel: the package's parent folder is site-packages, not a checkout."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(project, "_package_checkout", lambda: site)
    monkeypatch.delenv(project.ENV, raising=False)
    return site


def test_rmt_home_wins_and_must_be_a_checkout(monkeypatch, tmp_path: Path) -> None:
    home = _checkout(tmp_path / "co")
    monkeypatch.setenv(project.ENV, str(home))
    assert project.root() == home.resolve()
    bad = tmp_path / "empty"
    (bad / "examples").mkdir(parents=True)
    monkeypatch.setenv(project.ENV, str(bad))
    with pytest.raises(project.ProjectNotFound, match=r"RMT_HOME=.*no vm_kernel/"):
        project.root()


def test_a_checkout_is_found_from_a_folder_inside_it(no_package_checkout, tmp_path: Path) -> None:
    co = _checkout(tmp_path / "co")
    sub = co / "results" / "x"
    sub.mkdir(parents=True)
    assert project.root(cwd=sub) == co.resolve()


def test_no_checkout_says_where_it_looked(no_package_checkout, monkeypatch,
                                         tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(project.ProjectNotFound, match="set RMT_HOME") as e:
        project.root()
    assert str(no_package_checkout) in str(e.value)
    # module-level defaults must not fail at import: guess() falls back to where a checkout
    # would be
    assert project.guess() == no_package_checkout


@pytest.mark.parametrize("script", ["rmt-prefetch-eval", "rmt-kernel-loop", "rmt-demo"])
def test_console_script_without_a_checkout_is_one_line(script: str, tmp_path: Path) -> None:
    env = dict(os.environ, RMT_HOME=str(tmp_path))
    r = subprocess.run([str(BIN / script)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not an RMT source checkout" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("script", ["rmt-prefetch-eval", "rmt-kernel-loop", "rmt-demo"])
def test_console_script_help_needs_no_checkout(script: str, tmp_path: Path) -> None:
    env = dict(os.environ, RMT_HOME=str(tmp_path))
    r = subprocess.run([str(BIN / script), "--help"], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and "usage:" in r.stdout, r.stderr
