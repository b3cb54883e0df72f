"""Benchmark the C VM's tables and model engine against native C; print the figures.

Generates the weights of the forced-migration MLP shape (15 -> 10 ReLU -> 1,
int16) and of a full depth-8 decision tree and an 8-tree depth-6 forest as static C
arrays
(bench_weights.h), compiles bench/bench_tables_models.c with the VM sources
(the same -O2 for the engine and for the native baselines), checks that the
engine and the native code agree on every input, and prints ns per lookup for
exact/lpm/ternary/range tables of 1K and 64K entries and ns per inference.

    .venv/bin/python bench/bench_tables_models.py [--quick]

Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from model_engine_src import CFLAGS, ROOT, VM, export_model, model_sources  # noqa: E402,F401

MLP_IN, MLP_HID, TREE_DEPTH = 15, 10, 8
FOREST_TREES, FOREST_DEPTH = 8, 6


def _array(name: str, ctype: str, values: list) -> str:
    if values and isinstance(values[0], list):
        rows = ",\n\t".join("{ " + ", ".join(map(str, r)) + " }" for r in values)
        return f"static const {ctype} {name}[{len(values)}][{len(values[0])}] = {{\n\t{rows}\n}};\n"
    return f"static const {ctype} {name}[{len(values)}] = {{ {', '.join(map(str, values))} }};\n"


def weights_header(seed: int = 1) -> str:
    """The models as C arrays; small weights so the int16 model does not saturate."""
    rnd = random.Random(seed)
    inner = (1 << TREE_DEPTH) - 1
    out = [f"#define MLP_IN {MLP_IN}\n#define MLP_HID {MLP_HID}\n",
           "#define MLP_SHIFT1 6\n#define MLP_SHIFT2 4\n",
           f"#define TREE_DEPTH {TREE_DEPTH}\n#define TREE_INNER {inner}\n",
           f"#define TREE_LEAVES {inner + 1}\n",
           _array("MLP_W1", "s16", [[rnd.randint(-300, 300) for _ in range(MLP_IN)]
                                    for _ in range(MLP_HID)]),
           _array("MLP_B1", "s32", [rnd.randint(-5000, 5000) for _ in range(MLP_HID)]),
           _array("MLP_W2", "s16", [[rnd.randint(-300, 300) for _ in range(MLP_HID)]]),
           _array("MLP_B2", "s32", [rnd.randint(-5000, 5000)]),
           _array("TREE_F", "s32", [rnd.randrange(MLP_IN) for _ in range(inner)]),
           _array("TREE_T", "s32", [rnd.randint(-1500, 1500) for _ in range(inner)]),
           _array("TREE_LEAF", "s32", [rnd.randint(-1000, 1000) for _ in range(inner + 1)])]
    finner = (1 << FOREST_DEPTH) - 1
    out += [f"#define FOREST_TREES {FOREST_TREES}\n#define FOREST_DEPTH {FOREST_DEPTH}\n",
            f"#define FOREST_INNER {finner}\n#define FOREST_LEAVES {finner + 1}\n",
            "#define FOREST_SHIFT 3\n",
            _array("FOREST_F", "s32", [[rnd.randrange(MLP_IN) for _ in range(finner)]
                                       for _ in range(FOREST_TREES)]),
            _array("FOREST_T", "s32", [[rnd.randint(-1500, 1500) for _ in range(finner)]
                                       for _ in range(FOREST_TREES)]),
            _array("FOREST_LEAF", "s32", [[rnd.randint(-1000, 1000) for _ in range(finner + 1)]
                                          for _ in range(FOREST_TREES)])]
    return "".join(out)


# the C file counts the bytes a model load allocates by wrapping glibc's allocator
LDFLAGS = ["-Wl,--wrap=malloc,--wrap=calloc,--wrap=free"]


def build(tmpd: Path, model_dir: Path = VM) -> Path:
    """Compile the benchmark into @tmpd; rmt_model.[ch] come from @model_dir.

    bench_model_load.py passes a directory holding an older rmt_model.[ch]
    to measure it side by side with the tree's (same C file, same flags).
    Raises RuntimeError with the compiler's output on failure.
    """
    (tmpd / "bench_weights.h").write_text(weights_header())
    exe = tmpd / "bench"
    srcs = [ROOT / "bench" / "bench_tables_models.c", *sorted(VM.glob("rmt_table*.c")),
            *model_sources(model_dir), VM / "rmt_alloc.c", VM / "rmt_compat.c"]
    incs = [f"-I{model_dir}"] if model_dir != VM else []
    cmd = ["gcc", *CFLAGS, *incs, f"-I{VM}", f"-I{tmpd}", *map(str, srcs), "-o", str(exe),
           *LDFLAGS, "-lpthread", "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(res.stderr)
    return exe


def run(exe: Path, *parts: str) -> list[tuple[str, str, str]]:
    """Run the benchmark's @parts; its figures as (name, value, unit)."""
    res = subprocess.run([str(exe), *parts], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(res.stdout + res.stderr)
    return [tuple(line.split(" ", 2)) for line in res.stdout.splitlines()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (a smoke run)")
    args = ap.parse_args()
    if shutil.which("gcc") is None:
        print("gcc is not installed", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        try:
            figures = run(build(Path(tmp)), *(["quick"] if args.quick else []))
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return 1
    print(f"# gcc {' '.join(CFLAGS)}; tables: one 32-bit key, lookups of present keys")
    for name, value, unit in figures:
        print(f"{name:40s} {value:>10s} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
