"""x86-64 instructions per run of the C VM's hook path, counted by callgrind (deterministic,
unlike a timing on a loaded machine).

Counts the instructions inside rmt_bench_run() (its C loop, the 112-byte context copy, the hook
path, the engine) for N and 3N runs per context and prints the difference per run, so start-up
and the clock reads cancel.  PROGRAM is `exit` (the EXIT-only program of bench/bench_vm.py) or
an example's file name without .rmt (its inputs as bench/bench_jit.py makes them; the figure is
the mean over its contexts).

    .venv/bin/python bench/bench_insns.py exit forced_migration [--runs N]

Needs valgrind (apt-get install valgrind).
"""
from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_inputs import prepare, random_ctxs
from bench_vm import exit_program
from rmt.compiler import compile_source
from rmt.vm import CEngine

ROOT = Path(__file__).resolve().parent.parent


def program(name: str):
    if name == "exit":
        prog = exit_program()
        return prog, [bytes(prog.hook.ctx_size)]
    path = next((ROOT / "examples").rglob(f"{name}.rmt"), None)
    if path is None:
        sys.exit(f"bench_insns: no program {name!r} (exit, or an example under examples/)")
    prog = compile_source(path.read_text(), str(path.relative_to(ROOT)))
    return prog, random_ctxs(prog, random.Random(1))


def child(name: str, engine: str, runs: int) -> None:
    """Run the program `runs` times per context (the process callgrind counts)."""
    prog, ctxs = program(name)
    eng = CEngine(prog, jit=engine == "jit")
    if name != "exit":
        prepare(eng, prog, 1)
    for c in ctxs:
        eng.bench(c, runs)


def count(name: str, engine: str, runs: int, tmp: str) -> int:
    out = Path(tmp) / f"cg.{name}.{engine}.{runs}"
    subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=rmt_bench_run",
                    f"--callgrind-out-file={out}", sys.executable, __file__, "--child",
                    name, engine, str(runs)], check=True, capture_output=True)
    m = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if not m:
        sys.exit(f"bench_insns: no instruction total in {out}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("programs", nargs="*", default=["exit"])
    ap.add_argument("--runs", type=int, default=1000, help="runs per context (and 3x that)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    if not shutil.which("valgrind"):
        sys.exit("bench_insns: valgrind is not installed (apt-get install valgrind)")
    print("x86-64 instructions per run inside rmt_bench_run() (callgrind)")
    print(f"{'program':22}{'interp':>9}{'jit':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.programs:
            nctx = len(program(name)[1])
            per = {e: (count(name, e, 3 * args.runs, tmp) - count(name, e, args.runs, tmp))
                   / (2 * args.runs * nctx) for e in ("interp", "jit")}
            print(f"{name:22}{per['interp']:9.0f}{per['jit']:9.0f}")


if __name__ == "__main__":
    main()
