"""Fixtures for tests that boot Debian 12's 6.1 kernel under QEMU (tools/qemu/harness.py).

    def test_x(run_guest):
        r = run_guest("uname -r", timeout=90)
        r.check()                       # exit 0, no BUG/WARNING/Oops/RCU stall in dmesg

``run_guest`` is ``harness.run_in_guest`` with the per-test share ``tmp_path / "share"`` (the
guest sees it at the same path, as $RMT_OUT). ``qemu_env`` has the resolved kernel paths;
``build_kmod(src_dir)`` builds an out-of-tree module against the guest kernel's headers;
``rmt_ko`` is rmt.ko, built once per session.

If the harness is not set up, the session fixture runs tools/qemu/setup.sh once when it can
(root + apt-get: CI), otherwise the tests are skipped with the reason. RMT_SKIP_QEMU=1 skips
them outright.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
QEMU_TOOLS = REPO_ROOT / "tools" / "qemu"

from rmt.qemu import harness  # noqa: E402  (tools/qemu/harness.py, stdlib only)

SETUP_TIMEOUT_S = 1200  # first run downloads ~70 MB and may install qemu


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "qemu: boots a QEMU guest with Debian's 6.1 kernel")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qemu)


def _setup_or_reason() -> str | None:
    """Run setup.sh if possible; return None on success or the reason it was not possible."""
    if os.geteuid() != 0:
        return f"QEMU harness not set up and not root: run `sudo {QEMU_TOOLS / 'setup.sh'}`"
    if shutil.which("apt-get") is None:
        return "QEMU harness not set up and apt-get is missing (needs a Debian 12 host)"
    try:
        proc = subprocess.run([str(QEMU_TOOLS / "setup.sh")], capture_output=True, text=True,
                              timeout=SETUP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"tools/qemu/setup.sh did not finish within {SETUP_TIMEOUT_S} s"
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        return f"tools/qemu/setup.sh failed (status {proc.returncode}):\n{tail}"
    return None


@pytest.fixture(scope="session")
def qemu_env() -> harness.HarnessEnv:
    if os.environ.get("RMT_SKIP_QEMU") == "1":
        pytest.skip("RMT_SKIP_QEMU=1")
    try:
        return harness.HarnessEnv.load()
    except harness.HarnessNotReady as first:
        # setup.sh is idempotent; running it also refreshes a stale cache after an ABI bump.
        reason = _setup_or_reason()
        if reason is not None:
            pytest.skip(f"{first}; {reason}")
        try:
            return harness.HarnessEnv.load()
        except harness.HarnessNotReady as e:
            pytest.fail(f"setup.sh succeeded but the harness is still not ready: {e}")


@pytest.fixture
def run_guest(qemu_env: harness.HarnessEnv, tmp_path: Path) -> Callable[..., harness.GuestResult]:
    share = tmp_path / "share"
    share.mkdir()

    @functools.wraps(harness.run_in_guest)
    def run(script: str, **kwargs: object) -> harness.GuestResult:
        kwargs.setdefault("out_dir", share)
        kwargs.setdefault("harness_env", qemu_env)
        return harness.run_in_guest(script, **kwargs)  # type: ignore[arg-type]

    return run


@pytest.fixture(scope="session")
def rmt_ko(qemu_env: harness.HarnessEnv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rmt.ko built once per session from the working tree's vm_kernel/, as a test build
    (with the allocation fault injector the alloc and stress tests drive)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build rmt.ko")
    try:
        return harness.build_rmt_ko(tmp_path_factory.mktemp("rmt-kbuild") / "kbuild",
                                    harness_env=qemu_env, test_build=True)
    except RuntimeError as e:
        pytest.fail(str(e)[-6000:])


@pytest.fixture
def build_kmod(qemu_env: harness.HarnessEnv, tmp_path: Path) -> Callable[[Path], list[Path]]:
    """build_kmod(src_dir) -> built .ko paths (under tmp_path, visible in the guest)."""

    def build(src_dir: Path) -> list[Path]:
        return harness.build_module(src_dir, tmp_path / f"kbuild-{Path(src_dir).name}",
                                    harness_env=qemu_env)

    return build
