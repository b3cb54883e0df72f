"""Model inference against native C and AVX2 C: the issue's MLP and tree rows.

Builds bench/bench_model_ops.c with vm_kernel/core/rmt_model.c (gcc, the same
flags for the engine and the baselines), checks every variant's outputs equal
on 1,024 inputs, then times interleaved trials and prints the median ns per
inference of each, and the ratios the targets are stated in:

- MLP 17 -> 12 ReLU -> 2, int16 (forced_migration.rmt's predictor shape):
  native C with s64 sums as the semantics are written, native C with int32
  sums, AVX2 C with compile-time shapes; the engine under each of its
  engines (exact s64, int32, AVX2; see enum rmt_model_isa).
- a full depth-6 tree: the engine against the branch-free native walk.

    .venv/bin/python bench/bench_model_ops.py [--quick] [--base COMMIT]

--base COMMIT also builds vm_kernel/core/rmt_model.[ch] as of COMMIT and times it
in the same way (the "before" column). Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from model_engine_src import CFLAGS, ROOT, VM, export_model, model_sources  # noqa: E402,F401


def build(tmpd: Path, model_dir: Path = VM, old: bool = False) -> Path:
    """Compile the benchmark into @tmpd with rmt_model.[ch] from @model_dir."""
    exe = tmpd / ("bench_old" if old else "bench")
    srcs = [ROOT / "bench" / "bench_model_ops.c", *model_sources(model_dir),
            VM / "rmt_alloc.c", VM / "rmt_compat.c"]
    incs = [f"-I{model_dir}"] if model_dir != VM else []
    # an engine from before rmt_model_set_isa() gets the bench's one-engine stand-in
    choosable = any("rmt_model_set_isa" in p.read_text()
                    for p in model_dir.glob("rmt_model*.h"))
    cmd = ["gcc", *CFLAGS, *([] if choosable else ["-DOLD_ENGINE"]), *incs, f"-I{VM}",
           *map(str, srcs), "-o", str(exe), "-lpthread"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(res.stderr)
    return exe


def run(exe: Path, quick: bool) -> dict[str, float]:
    res = subprocess.run([str(exe), *(["quick"] if quick else [])], capture_output=True,
                         text=True)
    if res.returncode:
        raise RuntimeError(res.stdout + res.stderr)
    out: dict[str, float] = {}
    for line in res.stdout.splitlines():
        name, value, _ = line.split(" ", 2)
        if value != "-":
            out[name] = float(value)
    return out


def old_model_dir(tmpd: Path, commit: str) -> Path:
    d = tmpd / "old"
    d.mkdir()
    export_model(commit, d)
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (a smoke run)")
    ap.add_argument("--base", help="also time rmt_model.[ch] as of this commit")
    args = ap.parse_args()
    if shutil.which("gcc") is None:
        print("gcc is not installed", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        try:
            fig = run(build(tmpd), args.quick)
            if args.base:
                old = run(build(tmpd, old_model_dir(tmpd, args.base), old=True), args.quick)
                # the base's best engine, as `best` below is this tree's
                fig["mlp_17_12_2_engine_before"] = next(
                    old[f"mlp_17_12_2_engine_{e}"] for e in ("avx2", "int32", "exact64")
                    if f"mlp_17_12_2_engine_{e}" in old)
                fig["tree_depth6_engine_before"] = old["tree_depth6_engine"]
        except (RuntimeError, subprocess.CalledProcessError) as e:
            print(e, file=sys.stderr)
            return 1
    print(f"# gcc {' '.join(CFLAGS)}; median ns per inference of interleaved trials")
    for name, value in fig.items():
        print(f"{name:36s} {value:8.1f} ns")
    avx = fig.get("mlp_17_12_2_native_avx2")
    best = fig.get("mlp_17_12_2_engine_avx2", fig.get("mlp_17_12_2_engine_int32"))
    if avx and best:
        print(f"MLP engine / AVX2 C                  {best / avx:8.2f} x (target <= 1.5)")
    print(f"MLP engine / gcc -O2 s64 C           "
          f"{best / fig['mlp_17_12_2_native_s64']:8.2f} x")
    print(f"MLP engine / gcc -O2 int32 C         "
          f"{best / fig['mlp_17_12_2_native_s32']:8.2f} x")
    print(f"tree engine / branch-free native     "
          f"{fig['tree_depth6_engine'] / fig['tree_depth6_native']:8.2f} x (target <= 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
