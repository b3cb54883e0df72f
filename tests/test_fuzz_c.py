"""Short libFuzzer runs of the C VM under ASan + UBSan (tools/fuzz/), and the crash regressions.

The targets (tools/fuzz/fuzz_*.c) carry their own oracles: interpreter and
JIT agree on every run and control-plane result (fuzz_load), tables select
what a brute-force model of docs/semantics.md selects (fuzz_table), a failed
weights load keeps the old weights (fuzz_weights); any sanitizer report or
oracle failure is a crash.  Here each target runs for a bounded time from
the seed corpora (tools/fuzz/seeds.py); `make fuzz` runs them for long.
Every input that once crashed is kept in tests/fuzz/regressions/<target>/
and replayed.

Needs clang with libFuzzer: the `fuzz_seeds` fixture (tests/conftest.py) builds the targets
once per session, installing clang when it can, and skips saying why when it cannot.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import run as fuzzrun    # tools/fuzz/run.py

ROOT = Path(__file__).resolve().parents[1]

# Each short run stops after RUNS executions (seeds included) or SECONDS, whichever is first.
SECONDS = 20
RUNS = {"fuzz_load": 40000, "fuzz_table": 4000, "fuzz_weights": 200000}


@pytest.mark.parametrize("target", fuzzrun.TARGETS)
def test_regressions_stay_fixed(fuzz_seeds: Path, target: str) -> None:
    failures = fuzzrun.replay(target)
    assert not failures, "\n\n".join(f"{f}:\n{tail}" for f, tail in failures)


def test_regressions_exist() -> None:
    """Every crash found so far has its input here (docs/robustness.md lists them)."""
    found = [p for p in (fuzzrun.REGRESSIONS).rglob("*") if p.is_file() and p.suffix != ".md"]
    assert found, "tests/fuzz/regressions/ is empty"
    for p in found:
        assert p.parent.name in fuzzrun.TARGETS, f"{p}: not under a target's directory"


# fuzz_ioctl has its own short run (tests/test_fuzz_ioctl.py).
@pytest.mark.parametrize("target", tuple(RUNS))
def test_short_fuzz_run_finds_nothing(fuzz_seeds: Path, target: str,
                                      tmp_path: Path) -> None:
    st = fuzzrun.fuzz(target, seconds=SECONDS, runs=RUNS[target], corpus=tmp_path / "corpus",
                      seed_dir=fuzz_seeds)
    assert not st.crashed, f"{target} crashed:\n{st.tail}\ninputs: {st.crash_files}"
    # The run really exercised the target (its seeds reach well past the input checks).
    assert st.executions > 0 and st.edges > 200, st
