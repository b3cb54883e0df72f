"""A short libFuzzer run of /dev/rmt's ioctl parser in userspace, and its crash regressions.

tools/fuzz/fuzz_ioctl.c compiles the module's vm_kernel/kmod/rmt_kmod_dev.c against fake kernel
headers (tools/fuzz/kinclude/) with user memory modelled as an arena at a fixed address, and
runs sequences of ioctl() and read() calls under ASan + UBSan.  Its oracles: no sanitizer
report or leak, every call returns 0 or an errno its command documents, a refused call changes
nothing in the VM's state, RMT_IOC_VERSION always works.  Here it runs for a bounded time from
the seed sessions (tools/fuzz/seeds.py), every input that once crashed it is replayed
(tests/fuzz/regressions/fuzz_ioctl/), and the committed replay corpus
(tests/fuzz/ioctl_corpus/, which tests/kernel/test_kmod_ioctl_replay.py runs on rmt.ko) is
replayed too.  `tools/fuzz/run.py --targets fuzz_ioctl --seconds N --cov` runs it for long.

Needs clang with libFuzzer (tools/fuzz/setup.sh, as in tests/test_fuzz_c.py).
"""
from __future__ import annotations

import subprocess
from pathlib import Path
import run as fuzzrun    # tools/fuzz/run.py


ROOT = Path(__file__).resolve().parents[1]

TARGET = "fuzz_ioctl"
SECONDS = 20
RUNS = 30000
CORPUS = ROOT / "tests" / "fuzz" / "ioctl_corpus"


def test_regressions_stay_fixed(fuzz_seeds: Path) -> None:
    found = [p for p in (fuzzrun.REGRESSIONS / TARGET).glob("*") if p.suffix != ".md"]
    assert found, "no fuzz_ioctl regression inputs"
    failures = fuzzrun.replay(TARGET)
    assert not failures, "\n\n".join(f"{f}:\n{tail}" for f, tail in failures)


def test_replay_corpus_passes_every_oracle(fuzz_seeds: Path, tmp_path: Path) -> None:
    """The inputs the guest test replays on rmt.ko hold in userspace (-runs=0: each once)."""
    files = [p for p in CORPUS.iterdir() if p.is_file()]
    assert len(files) >= 100, f"{CORPUS}: {len(files)} inputs"
    proc = subprocess.run(["nice", "-n", "19", str(fuzzrun.OUT / TARGET),
                           *fuzzrun.OPTIONS[TARGET], "-runs=0",
                           f"-artifact_prefix={tmp_path}/", str(CORPUS)],
                          capture_output=True, text=True, errors="replace", timeout=300)
    assert proc.returncode == 0, "\n".join(proc.stderr.splitlines()[-30:])
    assert f"{len(files)} files found" in proc.stderr


def test_short_fuzz_run_finds_nothing(fuzz_seeds: Path, tmp_path: Path) -> None:
    st = fuzzrun.fuzz(TARGET, seconds=SECONDS, runs=RUNS, corpus=tmp_path / "corpus",
                      seed_dir=fuzz_seeds)
    assert not st.crashed, f"{TARGET} crashed:\n{st.tail}\ninputs: {st.crash_files}"
    # The seeds reach deep: well past the copy-in and ABI checks into the VM.
    assert st.executions > 0 and st.edges > 1000, st
