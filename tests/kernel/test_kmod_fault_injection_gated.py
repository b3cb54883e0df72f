"""Fault injection is compiled into test builds of rmt.ko only, and the allocation counters
are root-only (docs/robustness.md, "Allocations"): read from the built modules' parameter
tables with modinfo, no boot needed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rmt.qemu import harness

INJECTOR = {"fail_alloc_nth", "fail_alloc_every"}
COUNTERS = {"alloc_live", "alloc_total", "alloc_failed"}


def _params(ko: Path) -> set[str]:
    out = subprocess.run(["modinfo", "-p", str(ko)], capture_output=True, text=True,
                         check=True).stdout
    return {line.split(":", 1)[0] for line in out.splitlines() if ":" in line}


@pytest.fixture(scope="module")
def production_ko(qemu_env: harness.HarnessEnv, tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build rmt.ko")
    return harness.build_rmt_ko(tmp_path_factory.mktemp("rmt-prod") / "kbuild",
                                harness_env=qemu_env)


def test_production_module_has_no_fault_injector(production_ko: Path) -> None:
    p = _params(production_ko)
    assert COUNTERS <= p
    assert not INJECTOR & p


def test_test_module_has_it(rmt_ko: Path) -> None:
    assert INJECTOR | COUNTERS <= _params(rmt_ko)

