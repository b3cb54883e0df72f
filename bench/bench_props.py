"""Property proofs on the examples with their trained weights: nested Ifs vs leaf regions.

Prints, per property of examples/forced_migration.rmt and examples/swap_prefetch.rmt, the
proof time with every model encoded as terms (a tree as nested Ifs) and with single trees
enumerated leaf region by leaf region for every property (verifier/properties.py uses regions
only for properties that name a tree's outputs), and their ratio (the first property of each
run includes the program's symbolic execution); also a deliberately bad tree of each example (a violation to find).  Each figure is
the best of --repeat runs in this process.  Figures only, never pass/fail:

    python bench/bench_props.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from rmt.compiler.driver import compile_full
from rmt.contract import weights as W
from rmt.verifier import properties as P
from rmt.verifier.modelcheck import check_models

ROOT = Path(__file__).resolve().parent.parent
TRAINED = ROOT / "tests" / "props" / "weights"
NAMED = P._named_models     # the verifier's choice; the bench forces leaf regions everywhere


def _setups():
    fm = compile_full((ROOT / "examples/forced_migration.rmt").read_text(),
                      "examples/forced_migration.rmt")
    sp = compile_full((ROOT / "examples/swap_prefetch.rmt").read_text(),
                      "examples/swap_prefetch.rmt")
    fw = {i: W.read_weights((TRAINED / f"{m.name}.bin").read_bytes(), m)
          for i, m in enumerate(fm.program.models)}
    sw = {0: W.read_weights((TRAINED / "next.bin").read_bytes(), sp.program.models[0])}
    bad_fm = dict(fw)
    bad_fm[1] = W.read_weights((TRAINED / "tree_predictor.bin").read_bytes(),
                               fm.program.models[1])
    for t in bad_fm[1].trees:
        t.leaves = [[leaf[0], 1024] for leaf in t.leaves]
    bad_sp = {0: W.read_weights((TRAINED / "next.bin").read_bytes(), sp.program.models[0])}
    bad_sp[0].trees[0].leaves[-1] = [40, *bad_sp[0].trees[0].leaves[-1][1:]]
    return [("forced_migration", fm, fw), ("forced_migration, bad tree", fm, bad_fm),
            ("swap_prefetch", sp, sw), ("swap_prefetch, bad tree", sp, bad_sp)]


def _time(c, weights, enum: bool, repeat: int) -> dict[str, tuple[float, str]]:
    P.ENUMERATE_TREES = enum
    P._named_models = (lambda p: {m.name for m in c.program.models}) if enum else NAMED
    _, bounds = check_models(c.program, c.program.hook.budget, weights)
    best: dict[str, tuple[float, str]] = {}
    for _ in range(repeat):
        for r in P.prove_properties(c.program, c.properties, weights, bounds, 120_000):
            if r.name not in best or r.seconds < best[r.name][0]:
                best[r.name] = (r.seconds, r.status)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(f"{'program / property':58} {'nested Ifs':>14} {'leaf regions':>14} {'ratio':>6}")
    t0 = time.perf_counter()
    for label, c, weights in _setups():
        ite = _time(c, weights, False, a.repeat)
        enum = _time(c, weights, True, a.repeat)
        for name in ite:
            (ti, si), (te, se) = ite[name], enum[name]
            assert si == se, (name, si, se)          # both procedures agree
            print(f"{label + ' / ' + name:58} {ti:8.3f} s {si[:4]:>4} {te:8.3f} s {se[:4]:>4}"
                  f" {ti / max(te, 1e-6):6.1f}")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
