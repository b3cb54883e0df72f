"""bench/bench_kmod_jit.py's report: every example is either measured on both engines or listed
with the reason it is not (no silent skip), and its ratio is interpreter over JIT.

The guest side needs rmt.ko (make bench-kmod-jit); this checks the host's summary of a result
shaped as the guest writes it, and that the bench covers every example program."""
from __future__ import annotations

from pathlib import Path

import bench_kmod_jit as B

ROOT = Path(__file__).resolve().parents[1]
SCHED, SWAP = "sched.can_migrate_task", "mm.swap_fault"


def _counts(runs: int, total: int, vm: int) -> dict[str, int]:
    return {"runs": runs, "ns_total": total, "ns_vm": vm}


def test_every_example_is_benchmarked() -> None:
    got = {p.stem for p in B.examples()}
    want = {p.stem for p in (ROOT / "examples").rglob("*.rmt")}
    assert got == want


def test_report_names_what_was_not_measured() -> None:
    rounds = [{"guard/interp": _counts(10, 5000 * k, 3000 * k),
               "guard/jit": _counts(10, 3000, 1000),
               "forest/interp": _counts(0, 0, 0),
               "forest/jit": _counts(5, 500, 100)} for k in (1, 2, 3)]
    res = {"hooks": {"guard": SCHED, "forest": SWAP},
           "skipped": {"linear": "load on the jit engine: no space"}, "rounds": rounds}
    text = "\n".join(B.summarize(res))
    assert "| linear | not measured | load on the jit engine: no space |" in text
    assert "| forest (mm.swap_fault) | not measured | no runs on interp |" in text
    # VM ns/run: interpreter 300, 600, 900 against 100 each round: median 6x, spread 3..9
    assert "| guard | 6.00× (3.00–9.00) |" in text


def test_a_jit_median_of_zero_is_no_ratio() -> None:
    # a program so short the guest clock sees 0 ns on the JIT: said, not a ZeroDivisionError
    rounds = [{"tiny/interp": _counts(10, 5000, 3000), "tiny/jit": _counts(10, 0, 0)}]
    text = "\n".join(B.summarize({"hooks": {"tiny": SCHED}, "skipped": {}, "rounds": rounds}))
    assert "| tiny | n/a (JIT median 0 ns) | n/a (JIT median 0 ns) |" in text
