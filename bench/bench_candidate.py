"""What a staged candidate model costs per run, in the userspace C VM (interpreter and JIT).

    .venv/bin/python bench/bench_candidate.py [--iterations N] [--rounds R]

forced_migration.rmt with weights of its declared shape, one context that reaches predict():
ns per run with no candidate, then with a candidate of the MLP (`predictor`) staged, then of
both models, interleaved round by round (rmt_bench_run's C loop, thread CPU time).  Prints the
median of each and its ratio to the no-candidate baseline measured in the same run; asserts
nothing about time.
"""
from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path

import rmt
from rmt.contract import codec
from rmt.contract.engine import Entry, Exact, Range
from rmt.contract.weights import blob_for, tree_from_arrays

ROOT = Path(__file__).resolve().parent.parent


def weights(prog, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    mlp, tree = prog.models
    layers = [([[rng.randrange(-64, 64) for _ in range(ly.n_in)] for _ in range(ly.n_out)],
               [rng.randrange(-256, 256) for _ in range(ly.n_out)]) for ly in mlp.layers]
    t = tree_from_arrays([8, -1, -1], [0, 0, 0], [1, -1, -1], [2, -1, -1],
                         [[0, 0], [5, -1], [-5, 1]])
    return [blob_for(mlp, layers=layers), blob_for(tree, trees=[t])]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    prog = rmt.compile_file(ROOT / "examples/forced_migration.rmt")
    blob = rmt.write_object(prog)
    live, cand = weights(prog, 1), weights(prog, 2)
    ctx = codec.ctx_encode(prog.hook, {"idle": 0, "src_nr_running": 4, "dst_nr_running": 1})
    for jit in (False, True):
        engines = {}
        for conf, staged in (("none", ()), ("mlp", (0,)), ("both", (0, 1))):
            e = rmt.engine(blob, "jit" if jit else "c")
            e.table_insert(0, Entry((Exact(0), Range(0, 1023)), 0, bytes(8)))
            for m in (0, 1):
                e.model_load(m, live[m])
            for m in staged:
                e.model_stage(m, cand[m])
            engines[conf] = e
        times: dict[str, list[float]] = {k: [] for k in engines}
        for _ in range(a.rounds):
            for conf, e in engines.items():
                times[conf].append(e.bench(ctx, a.iterations) / a.iterations)
        base = statistics.median(times["none"])
        evals = engines["both"].model_state(0)
        print(f"{'JIT' if jit else 'interpreter'}: " + ", ".join(
            f"{k} {statistics.median(v):.1f} ns ({statistics.median(v) / base:.2f}x)"
            for k, v in times.items()) + f"  [predictor candidate evaluated "
            f"{evals.agree + evals.disagree} times]")


if __name__ == "__main__":
    main()
