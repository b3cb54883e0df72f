"""Compile time of every example, per stage (a benchmark: prints figures, asserts nothing).

    .venv/bin/python bench/bench_compile.py [--repeat N]

Stages: parse (lark LALR), check (names, types), lower + allocate + emit (the
compiler proper), write (.rmtb bytes). Each figure is the median of N runs in
this process, after one warm-up run (the first parse also builds the lark
parser, which is reported on its own line).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from rmt import lang as rmt_lang  # noqa: E402
from rmt.contract import objfile  # noqa: E402
from rmt.compiler.driver import compile_full  # noqa: E402
from rmt.compiler.emit import emit  # noqa: E402
from rmt.compiler.lower import Lowerer  # noqa: E402
from rmt.compiler.regalloc import allocate, rewrite  # noqa: E402
from rmt.contract.hooks import HOOKS  # noqa: E402


def stages(text: str, name: str) -> tuple[dict[str, float], int]:
    """One compilation, timed stage by stage (seconds)."""
    t = {}
    t0 = time.perf_counter()
    prog = rmt_lang.parse(text, name)
    t1 = time.perf_counter()
    rmt_lang.check(prog)
    t2 = time.perf_counter()
    ir = Lowerer(prog, HOOKS[prog.hook.name], text).run()
    code, srcmap = emit(rewrite(ir, allocate(ir)))
    t3 = time.perf_counter()
    t.update(parse=t1 - t0, check=t2 - t1, compile=t3 - t2)
    return t, len(code)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rmt_lang.parse("hook test.sandbox;\napply { }\n", "warmup.rmt")
    first = (time.perf_counter() - t0) * 1e3
    print(f"machine: {platform.machine()} {platform.processor() or ''} python "
          f"{platform.python_version()}; first parse (builds the LALR tables) {first:.1f} ms")
    print(f"{'example':32} {'lines':>5} {'insns':>5} {'parse':>8} {'check':>8} "
          f"{'compile':>8} {'write':>8} {'total':>8}   (ms, median of {args.repeat})")
    for path in sorted((ROOT / "examples").rglob("*.rmt")):
        text, name = path.read_text(), str(path.relative_to(ROOT))
        obj = compile_full(text, name).program                  # warm-up
        runs = [stages(text, name) for _ in range(args.repeat)]
        med = {k: statistics.median(r[0][k] for r in runs) * 1e3 for k in runs[0][0]}
        w = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            objfile.write(obj)
            w.append(time.perf_counter() - t0)
        med["write"] = statistics.median(w) * 1e3
        print(f"{name:32} {len(text.splitlines()):5} {runs[0][1]:5} {med['parse']:8.2f} "
              f"{med['check']:8.2f} {med['compile']:8.2f} {med['write']:8.2f} "
              f"{sum(med.values()):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
