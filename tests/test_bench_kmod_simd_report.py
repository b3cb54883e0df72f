"""bench/bench_kmod_simd.py's report (the guest side needs rmt.ko: make bench-kmod-simd): the
ratio is scalar over AVX2 with its per-round range, an engine with no runs is shown as such,
and every example with an MLP is benchmarked."""
from __future__ import annotations

from pathlib import Path

import bench_kmod_simd as B
from rmt.compiler import compile_source
from rmt.contract.objformat import ModelKind

ROOT = Path(__file__).resolve().parents[1]


def _c(runs: int, vm: int, total: int, avx2: int = 0) -> dict[str, int]:
    return {"runs": runs, "ns_vm": vm, "ns_total": total, "avx2_runs": avx2, "nofpu": 0}


def test_every_example_with_an_mlp_is_benchmarked() -> None:
    want = set()
    for src in (ROOT / "examples").rglob("*.rmt"):
        prog = compile_source(src.read_text(), str(src))
        if any(m.kind == ModelKind.MLP for m in prog.models):
            want.add(src.stem)
    assert want and want <= set(B.PROGRAMS)
    for name in B.VARIANTS:             # a variant still applies to its example
        B._source(name)


def test_ratio_and_spread() -> None:
    rounds = [{"fm/scalar": _c(10, 3000 * k, 9000), "fm/avx2": _c(10, 1000, 9000, 10),
               "cm/scalar": _c(4, 400, 800), "cm/avx2": _c(0, 0, 0)} for k in (1, 2, 3)]
    text = "\n".join(B.summarize({"hooks": {"fm": "sched.can_migrate_task",
                                            "cm": "mm.swap_fault"}, "rounds": rounds}))
    # VM ns/run: scalar 300, 600, 900 against 100 each round: median 6x, spread 3..9
    # 10 runs with 10 AVX2 inferences each round: (600 - 100) / 1 per run
    assert "| fm | 6.00× (3.00–9.00) | 1.00× | 500 (1.00 per run) |" in text
    assert "| fm (sched.can_migrate_task) | avx2 | 30 | 30 | 0 | 100 (100–100) |" in text
    assert "| cm (mm.swap_fault) | avx2 | 0 |" in text
    assert "| cm |" not in text
