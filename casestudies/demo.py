"""`make demo`: the main job on the simulator target, with the real tools.

1. Every example: `rmtc check`, `rmtc compile`, `rmtc verify`; `rmtc dump` of the
   forced-migration predictor.
2. Case study 1 on the sim target, short form (`rmt-forced-migration
   --quick`): `rmtctl insert` the predictor in shadow mode, run the CFS
   simulator through it, `rmtctl trace` the features, train an MLP and a tree,
   quantize, `rmtctl model load`, and evaluate the fixed-point models running
   in the C VM on workloads never seen in training.
3. Case study 2, short form (`casestudies/prefetch_eval.py --only ...`): every
   prefetcher (Linux readahead, Leap, the RMT program in the C VM) on three of
   the page-access traces.
4. The examples' properties proved with the trained weights (`rmtc verify --weights`; the
   time of each proof is printed).

The full runs are `make forced-migration` and `make prefetch-eval`.
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from rmt.contract import project

ROOT = project.guess()          # the source checkout (rmt.contract.project)
BIN = Path(sys.executable).parent


def sh(*argv: str, check: bool = True) -> int:
    print(f"$ {' '.join(shlex.quote(a) for a in argv)}", flush=True)
    exe = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
    rc = subprocess.run([exe, *argv[1:]], cwd=ROOT).returncode
    if check and rc != 0:
        print(f"demo: `{' '.join(argv)}` exited {rc}", file=sys.stderr)
        sys.exit(1)
    return rc


@project.cli
def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="rmt-demo", description=__doc__.split("\n")[0]).parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rmt-demo-"))
    print("== 1. compile, check and verify every example\n")
    for src in sorted((ROOT / "examples").rglob("*.rmt")):
        rel = str(src.relative_to(ROOT))
        obj = str(work / (src.stem + ".rmtb"))
        sh("rmtc", "check", rel)
        sh("rmtc", "compile", rel, "-o", obj, "-v")
        sh("rmtc", "verify", obj)
    sh("rmtc", "dump", str(work / "forced_migration.rmtb"))

    print("\n== 2. case study 1: learning forced migrations on the sim target\n")
    sh("rmt-forced-migration", "--quick", "--out",
       str(work / "forced_migration"))

    print("\n== 3. case study 2: a learned swap prefetcher (three of the eight workloads)\n")
    sh("rmt-prefetch-eval", "--only", "seq", "strided",
       "imagemagick-resize", "--no-plots", "--out", str(work / "prefetch"))

    print("\n== 4. the examples' properties, proved with the weights trained above\n")
    models = work / "forced_migration" / "models"
    sh("rmtc", "verify", str(work / "forced_migration.rmtb"),
       "--weights", f"predictor={models / 'predictor.bin'}",
       "--weights", f"tree_predictor={models / 'tree_predictor.bin'}")
    sh("rmtc", "verify", str(work / "swap_prefetch.rmtb"),
       "--weights", f"next={work / 'prefetch' / 'next.bin'}")
    print(f"\ndemo: ok (outputs in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
