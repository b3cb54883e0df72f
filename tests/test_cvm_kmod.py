"""rmt.ko builds from the same VM sources as the userspace library.

Builds a copy of vm_kernel/ out of tree against Debian's 6.1 headers (Kbuild),
so every VM source file must keep compiling in the kernel world too.
"""
from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

from rmt.qemu import harness  # noqa: E402  (tools/qemu/harness.py, stdlib only: KBUILD_OUTPUTS)

VM = ROOT / "vm_kernel"
KDIRS = sorted(glob.glob("/usr/src/linux-headers-*-amd64"))


@pytest.mark.skipif(not KDIRS, reason="no kernel headers in /usr/src/linux-headers-*-amd64 "
                                      "(apt-get install linux-headers-amd64)")
def test_kmod_builds(tmp_path):
    src = tmp_path / "vm_kernel"           # the whole tree: rmt.ko includes uapi/
    shutil.copytree(VM, src, ignore=shutil.ignore_patterns(*harness.KBUILD_OUTPUTS))
    r = subprocess.run(["make", "-C", KDIRS[-1], f"M={src}", "modules"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (src / "rmt.ko").exists()
    warnings = [ln for ln in (r.stdout + r.stderr).splitlines()
                if "warning:" in ln and "BTF" not in ln]
    assert warnings == [], "\n".join(warnings)
    info = subprocess.run(["modinfo", str(src / "rmt.ko")], capture_output=True, text=True)
    if info.returncode == 0:
        assert "license:        GPL" in info.stdout
