"""Benchmark a model load (a weights swap) of the C VM, old against new; print the figures.

Builds bench/bench_tables_models.c twice with the same flags: once with the
tree's vm_kernel/core/rmt_model.[ch] and once with those files as of a git
revision (--base, default HEAD), so a change to the model engine is measured
side by side in one run.  For a linear model 15 -> 1, the MLP 15 -> 10 -> 1
and a forest of 8 trees of depth 6 (int16) it prints, per load into a slot
that already holds weights: the allocations made, their bytes (requested,
and rounded to the kernel's kmalloc caches / pages as rmt.ko would get
them), the bytes the loaded weights keep, and ns per load.  With --infer it
also runs the inference benchmark of both builds, interleaved (--infer-runs
times), and prints each engine/native ratio's best and median.

    .venv/bin/python bench/bench_model_load.py [--base REV] [--infer] [--quick]

Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_tables_models as btm  # noqa: E402

ROOT = btm.ROOT


def _export(rev: str, dst: Path) -> None:
    """Write the model engine (rmt_model.[ch], rmt_model_*.[ch]) as of @rev into @dst."""
    btm.export_model(rev, dst)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="git revision of the old rmt_model.[ch]")
    ap.add_argument("--infer", action="store_true", help="inference figures of both, too")
    ap.add_argument("--infer-runs", type=int, default=3, help="interleaved inference runs")
    ap.add_argument("--quick", action="store_true", help="few rounds (a smoke run)")
    args = ap.parse_args()
    if shutil.which("gcc") is None:
        print("gcc is not installed", file=sys.stderr)
        return 1
    quick = ["quick"] if args.quick else []
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        (tmpd / "old").mkdir()
        (tmpd / "new").mkdir()
        (tmpd / "src").mkdir()
        _export(args.base, tmpd / "src")
        try:
            exes = {"old": btm.build(tmpd / "old", tmpd / "src"),
                    "new": btm.build(tmpd / "new")}
            load = {k: btm.run(exe, "load", *quick) for k, exe in exes.items()}
            ratios: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
            for _ in range(args.infer_runs if args.infer else 0):
                for k, exe in exes.items():
                    for name, value, _unit in btm.run(exe, "models", *quick):
                        if name.endswith("_ratio") or name.endswith("_engine"):
                            ratios[k].setdefault(name, []).append(float(value))
        except (RuntimeError, subprocess.CalledProcessError) as e:
            print(e, file=sys.stderr)
            return 1
    print(f"# gcc {' '.join(btm.CFLAGS)}; old: rmt_model.[ch] at {args.base}, new: the tree")
    print(f"{'figure':40s} {'old':>10s} {'new':>10s}  unit")
    for (name, old, unit), (_n, new, _u) in zip(load["old"], load["new"]):
        print(f"{name:40s} {old:>10s} {new:>10s}  {unit}")
    for name in ratios["old"]:
        o, n = ratios["old"][name], ratios["new"][name]
        unit = "x" if name.endswith("_ratio") else "ns/inference"
        print(f"{name + ' best':40s} {min(o):10.2f} {min(n):10.2f}  {unit}")
        print(f"{name + ' median':40s} {statistics.median(o):10.2f} "
              f"{statistics.median(n):10.2f}  {unit} ({len(o)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
