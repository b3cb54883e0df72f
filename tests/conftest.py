"""Fixtures shared by test modules in this directory (tests/kernel/ has its own)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fuzz_seeds() -> Path:
    """The libFuzzer targets of tools/fuzz/ built under ASan + UBSan, once per session, and
    the directory of their seed corpora.  tools/fuzz/setup.sh installs clang (as root, the way
    CI runs); without it and without root the tests that use this are skipped, saying so."""
    import run as fuzzrun    # tools/fuzz/run.py
    try:
        fuzzrun.setup()
    except subprocess.CalledProcessError:
        if shutil.which("clang-14") is None and shutil.which("clang") is None:
            pytest.skip("clang/libFuzzer is not installed and tools/fuzz/setup.sh could not "
                        "install it (not root, or no apt)")
        raise
    fuzzrun.build()
    return fuzzrun.seeds()
